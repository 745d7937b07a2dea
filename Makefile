# Two commands for a newcomer: `make demo` runs the main job, `make test` runs the checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REGION := scenarios/shenzhen-nanshan/region.yaml

.PHONY: demo test install install-dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The web map's browser tests drive Debian's Chromium through playwright (a dev extra).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null

# The main job: the region's summary and map, a scripted operator session against a local server, then
# an hour of Nanshan traffic through the same service in the simulator (it prints where its report is).
demo: install
	$(BIN)/utm6g airspace $(REGION) --out out
	$(BIN)/utm6g demo --region $(REGION)
	$(BIN)/utm6g simulate scenarios/shenzhen-nanshan/demo.yaml --out out/demo --overwrite

test: install-dev $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

bench: install-dev
	$(BIN)/python bench/frame_bench.py
	$(BIN)/python bench/index_bench.py
	$(BIN)/python bench/route_bench.py
	$(BIN)/python bench/map_bench.py
	$(BIN)/python bench/service_bench.py
	$(BIN)/python bench/tactical_bench.py
	$(BIN)/python bench/sim_bench.py

clean:
	rm -rf $(VENV) out .pytest_cache
