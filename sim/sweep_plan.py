"""Planning a sweep: a ``--grid`` into the cartesian product of its values times the seeds, every point
checked by loading the scenario (no run) so a bad key fails before anything runs; each run a picklable
:class:`Task` with a stable, readable id. sim/sweep.py runs them.

Layer: sim.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from sim.errors import FieldError, ScenarioError
from sim.scenario import LoadedScenario, load_scenario, parse_override

__all__ = ["SweepError", "Task", "parse_grid", "plan_sweep", "yaml_text"]

_RUN_ID_MAX = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


class SweepError(FieldError):
    """A sweep that cannot be planned or run; the message reads ``"<field>: <reason>"``.

    >>> str(SweepError("--grid demand.scale", "empty value in '0.5,,1'"))
    "--grid demand.scale: empty value in '0.5,,1'"
    """


# --- planning ---------------------------------------------------------------------------------------------


def parse_grid(items: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """``["demand.scale=0.5,1,2"]`` -> ``{"demand.scale": (0.5, 1, 2)}``: each value read as a YAML scalar
    (an RFC 3339 time stays text, as a scenario file has it).

    >>> parse_grid(["demand.scale=0.5,1,2", "comms.profile=5g-fr1,6g-isac-fr1"])
    {'demand.scale': (0.5, 1, 2), 'comms.profile': ('5g-fr1', '6g-isac-fr1')}
    >>> parse_grid(["demand.scale=1,1.0"])
    Traceback (most recent call last):
    ...
    sim.sweep_plan.SweepError: --grid demand.scale: value 1.0 given twice
    """
    grid: dict[str, tuple[Any, ...]] = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise SweepError(
                f"--grid {item!r}", "expected <dotted.key>=<value>,<value>,... e.g. demand.scale=0.5,1"
            )
        field = f"--grid {key}"
        try:
            parse_override(f"{key}=0")
        except ScenarioError:
            raise SweepError(field, "not a dotted key such as cdr.lookahead_s") from None
        if key in grid:
            raise SweepError(field, "given twice; list all its values in one --grid")
        if key == "seed":
            raise SweepError(field, "seeds come from --seeds, not from the grid")
        values: list[Any] = []
        seen: set[tuple[str, Any]] = set()
        for part in (p.strip() for p in text.split(",")):
            if not part:
                raise SweepError(field, f"empty value in {text!r}")
            value = _scalar(field, part)
            same = _same_key(value)
            if same in seen:
                raise SweepError(field, f"value {part} given twice")
            seen.add(same)
            values.append(value)
        grid[key] = tuple(values)
    return grid


def _scalar(field: str, text: str) -> Any:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise SweepError(field, f"value {text!r} is not valid YAML") from None
    if isinstance(value, date):  # a time or date: the scenario reads it from text
        return text
    if not (value is None or isinstance(value, str | int | float | bool)):
        raise SweepError(field, f"value {text!r} must be a scalar (number, text, true/false, null)")
    return value


def _same_key(value: Any) -> tuple[str, Any]:
    """Equal values compare equal (1 and 1.0); true stays apart from 1."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return type(value).__name__, value
    return "number", float(value)


@dataclass(frozen=True, slots=True)
class Task:
    """One run of a sweep: a pure function of (scenario, overrides, grid point, seed, duration)."""

    run: str  # the run id, also its folder name under OUT/runs/
    scenario: Path  # absolute
    scenario_name: str
    scenario_sha256: str  # of the scenario file when planned: a resumed sweep checks it did not change
    point: tuple[tuple[str, Any], ...]  # the grid point, in grid order
    seed: int
    duration_s: float
    overrides: tuple[str, ...] = ()  # applied before the grid point's

    @property
    def settings(self) -> list[str]:
        """Every override of the run: the sweep's, then the grid point's."""
        return [*self.overrides, *(f"{key}={yaml_text(value)}" for key, value in self.point)]

    @property
    def fingerprint(self) -> str:
        """What the run's results depend on, hashed (recorded in its ``run.json``)."""
        what = [str(self.scenario), self.scenario_sha256, self.settings, self.seed, self.duration_s]
        return hashlib.sha256(json.dumps(what).encode()).hexdigest()

    def load(self) -> LoadedScenario:
        return load_scenario(self.scenario, self.settings, seed=self.seed, duration_s=self.duration_s)


def plan_sweep(
    scenario: str | Path,
    grid: Mapping[str, Sequence[Any]],
    seeds: int,
    *,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    duration_s: float | None = None,
) -> list[Task]:
    """The runs of the grid's cartesian product times ``seeds`` seeds, grid order then seed order.

    The seeds are ``first, first + 1, ..., first + seeds - 1`` where ``first`` is ``seed`` or else the
    scenario's own seed, so ``seeds=1`` repeats the scenario's run. Every grid value and every grid point is
    loaded first (no run), so a bad key or value fails here, naming it: ``--grid <key>: <reason>``. A bad
    ``overrides`` item raises the loader's own ScenarioError.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise SweepError("--seeds", f"must be an integer >= 1 (got {seeds!r})")
    if duration_s is not None and "duration_s" in grid:
        raise SweepError("--grid duration_s", "conflicts with the sweep's duration; give only one")
    path = Path(scenario).resolve()
    base = load_scenario(path, overrides, seed=seed, duration_s=duration_s)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    first = base.spec.seed
    for key, values in grid.items():
        if not values:
            raise SweepError(f"--grid {key}", "needs at least one value")
        for value in values:
            try:
                load_scenario(path, [*overrides, f"{key}={yaml_text(value)}"], duration_s=duration_s)
            except ScenarioError as err:
                named = err.field and err.field != key
                raise SweepError(
                    f"--grid {key}", f"{err.field}: {err.reason}" if named else err.reason
                ) from None
    tasks = []
    for point in itertools.product(*([(key, v) for v in values] for key, values in grid.items())):
        settings = [*overrides, *(f"{k}={yaml_text(v)}" for k, v in point)]
        try:
            loaded = load_scenario(path, settings, seed=first, duration_s=duration_s)
        except ScenarioError as err:
            reason = f"{err.field}: {err.reason}" if err.field else err.reason
            raise SweepError(f"--grid {_point_text(point)}", reason) from None
        for k in range(seeds):
            run = _run_id(point, first + k)
            spec = loaded.spec
            tasks.append(
                Task(run, path, spec.name, sha, tuple(point), first + k, spec.duration_s, tuple(overrides))
            )
    if len({t.run for t in tasks}) != len(tasks):  # only a sha256 collision could do it
        raise SweepError("--grid", "two grid points give the same run id")
    return tasks


def yaml_text(value: Any) -> str:
    """A scalar as YAML that reads back the same (``'1'`` stays text, ``1`` a number).

    >>> [yaml_text(v) for v in (0.5, 2, True, None, "5g-fr1", "1")]
    ['0.5', '2', 'true', 'null', '5g-fr1', "'1'"]
    """
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30)
    return text.removesuffix("\n...\n").strip()


def _point_text(point: Iterable[tuple[str, Any]]) -> str:
    return ",".join(f"{key}={yaml_text(value)}" for key, value in point)


def _run_id(point: Sequence[tuple[str, Any]], seed: int) -> str:
    """The run's folder name: the grid point and seed, readable; a short hash is added when characters had
    to be replaced or the name is long, so two points never share a folder.

    >>> _run_id((("demand.scale", 2), ("comms.profile", "5g-fr1")), 3)
    'demand.scale=2,comms.profile=5g-fr1,seed=3'
    >>> _run_id((("traffic.vehicle", "a b"),), 0)
    'traffic.vehicle=a_b,seed=0~23d963b4'
    """
    text = ",".join([*(f"{key}={yaml_text(value)}" for key, value in point), f"seed={seed}"])
    safe = _UNSAFE.sub("_", text)
    if safe == text and len(text) <= _RUN_ID_MAX:
        return text
    return f"{safe[: _RUN_ID_MAX - 9]}~{hashlib.sha256(text.encode()).hexdigest()[:8]}"


# --- one run ----------------------------------------------------------------------------------------------
