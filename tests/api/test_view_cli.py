"""``utm6g view RUN_DIR``: a real server on the run, its URL and read-only token printed, no other runs."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api.cli import main

ROOT = Path(__file__).resolve().parents[2]
ENCOUNTER = ROOT / "scenarios" / "shenzhen-nanshan" / "encounter.yaml"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("view") / "head on"  # a name the URL cannot carry as it is
    assert main(["simulate", str(ENCOUNTER), "--out", str(folder), "--quiet"]) == 0
    return folder


@pytest.mark.parametrize("which", ["run folder", "log folder"])
def test_view_serves_the_run_and_prints_a_working_url(run_dir, which):
    target = run_dir if which == "run folder" else run_dir / "log"
    cmd = [sys.executable, "-m", "api.cli", "view", str(target), "--no-browser"]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline()
        found = re.fullmatch(r"web map: (http://127\.0\.0\.1:\d+)/#run=([\w.-]+)&token=(\S+)\n", line)
        assert found, line
        base, run, token = found.groups()
        assert run == "head-on"
        headers = {"Authorization": f"Bearer {token}"}
        answer = _when_up(lambda: httpx.get(f"{base}/replay/v1/runs", headers=headers, timeout=5.0))
        assert [r["run"] for r in answer.json()["runs"]] == ["head-on"]
        assert httpx.get(f"{base}/replay/v1/runs/head-on/map", headers=headers, timeout=30).status_code == 200
        assert httpx.get(f"{base}/", timeout=5.0).status_code == 200
        # the token reads; it cannot plan
        plan = httpx.put(
            f"{base}/utm/v1/operational_intents/{'0' * 8}-0000-4000-8000-{'0' * 12}", json={}, headers=headers
        )
        assert plan.status_code in (400, 403) and plan.status_code != 201
    finally:
        process.kill()
        process.wait(10)


def _when_up(request, timeout_s: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return request()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_view_refuses_a_folder_without_a_log(tmp_path, capsys):
    assert main(["view", str(tmp_path), "--no-browser"]) == 2
    assert f"RUN_DIR: no event log in {tmp_path}" in capsys.readouterr().err


def test_view_refuses_a_bad_tile_template(run_dir, capsys):
    assert main(["view", str(run_dir), "--no-browser", "--tiles", "https://tiles.example.org/x.png"]) == 2
    assert "--tiles: Value error, must contain {z}, {x}, {y}" in capsys.readouterr().err
