"""One simulation run into a directory: the event log, ``metrics.json`` and ``report.html``.

Layer: sim.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sim.airspace_record import AIRSPACE_KEY
from sim.engine import Progress, Simulation
from sim.eventlog import LOG_FORMAT, EventLog, StateObserver, read_log
from sim.report import write_report
from sim.scenario import LoadedScenario

__all__ = ["LOG_DIR", "RunResult", "find_log_dir", "run_header", "simulate", "software_version"]

LOG_DIR = "log"


def software_version() -> str:
    """The installed utm6g version ("unknown" when run from a tree that was never installed)."""
    try:
        return version("utm6g")
    except PackageNotFoundError:
        return "unknown"


def run_header(loaded: LoadedScenario) -> dict[str, Any]:
    """What a log must carry to be re-run: the resolved scenario, its seed, the software version."""
    return {
        "format": LOG_FORMAT,  # the event log's: the header is written with the files it describes
        "software_version": software_version(),
        "seed": loaded.spec.seed,
        "scenario_file": loaded.source.name,
        "scenario": loaded.resolved,
        AIRSPACE_KEY: loaded.airspace.to_json(),  # the log re-runs and draws without the files at their paths
    }


@dataclass(frozen=True, slots=True)
class RunResult:
    """Where a run's outputs are, and its metrics."""

    out_dir: Path
    log_dir: Path
    metrics: dict[str, Any]
    report: Path | None


def simulate(
    loaded: LoadedScenario,
    out_dir: str | Path,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    report: bool = True,
    on_states: StateObserver | None = None,
) -> RunResult:
    """Run the scenario; write ``out_dir/log/``, ``out_dir/metrics.json`` and (unless ``report=False``)
    ``out_dir/report.html``. ``on_states`` sees every recorded states batch as it is logged."""
    out = Path(out_dir)
    log_dir = out / LOG_DIR
    with EventLog(log_dir, run_header(loaded)) as log:
        if on_states is not None:
            log.observe_states(on_states)
        metrics = Simulation(loaded, log, on_progress=on_progress).run()
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    page = write_report(out, read_log(log_dir), metrics) if report else None
    return RunResult(out, log_dir, metrics, page)


def find_log_dir(path: str | Path) -> Path | None:
    """A run's log folder: ``path/log/`` for a run folder, ``path`` for the log itself; None for neither."""
    path = Path(path)
    for candidate in (path / LOG_DIR, path):
        if (candidate / "events.parquet").is_file():
            return candidate
    return None
