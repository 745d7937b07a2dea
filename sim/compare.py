"""Side-by-side runs of one scenario under several comms profiles: the planner's "what does the network
change?" question in one command (``utm6g compare``).

Each profile is a full run (its own log, metrics and report in ``DIR/<profile>/``) with the same scenario,
seed and overrides, so traffic and demand are identical and only the network differs (random streams are
per component). Runs go to a process pool. Layer: sim.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.run import simulate
from sim.scenario import load_scenario

__all__ = ["ProfileRun", "compare_profiles", "comparison_rows"]


@dataclass(frozen=True, slots=True)
class ProfileRun:
    """One profile's run: its folder, metrics and wall time."""

    profile: str
    out_dir: Path
    metrics: dict[str, Any]
    wall_s: float


def compare_profiles(
    scenario: Path,
    profiles: Sequence[str],
    *,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    duration_s: float | None = None,
    out_dir: Path,
    workers: int = 2,
) -> list[ProfileRun]:
    """Run ``scenario`` once per profile (every scenario is loaded first, so a bad one fails before any
    run starts); the runs in the order of ``profiles``."""
    jobs = []
    for profile in profiles:
        settings = [*overrides, f"comms.profile={profile}"]
        load_scenario(scenario, settings, seed=seed, duration_s=duration_s)
        jobs.append((scenario, settings, seed, duration_s, out_dir / profile))
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
        done = list(pool.map(_run, *zip(*jobs, strict=True)))
    runs = [ProfileRun(p, d, m, w) for p, (d, m, w) in zip(profiles, done, strict=True)]
    table = comparison_rows(runs)
    (out_dir / "comparison.json").write_text(json.dumps({r.profile: r.metrics for r in runs}, indent=1))
    (out_dir / "comparison.md").write_text(_markdown(table) + "\n")
    return runs


def _run(
    scenario: Path, overrides: list[str], seed: int | None, duration_s: float | None, out: Path
) -> tuple[Path, dict[str, Any], float]:
    started = time.perf_counter()
    result = simulate(load_scenario(scenario, overrides, seed=seed, duration_s=duration_s), out)
    return out, result.metrics, time.perf_counter() - started


def comparison_rows(runs: Sequence[ProfileRun]) -> list[list[str]]:
    """A header row (``""`` then the profiles) and one row per figure."""
    columns = [dict(_figures(r.metrics)) | {"wall time (s)": f"{r.wall_s:.0f}"} for r in runs]
    rows = [["", *(r.profile for r in runs)]]
    return rows + [[name, *(c[name] for c in columns)] for name in columns[0]] if runs else rows


def _figures(m: dict[str, Any]) -> list[tuple[str, str]]:
    """The compared figures of one run; an ideal run's network figures are its zeros."""
    net, sensing = m["network"], m["sensing"] or {}
    reports = net["reports"] if net else {"latency_ms": {"p50": 0.0, "p99": 0.0}, "loss_rate": 0.0}
    advisories = net["advisories"] if net else {"latency_ms": {"p50": 0.0}}
    latency = reports["latency_ms"]
    return [
        ("flights flown", str(m["flights"]["took_off"])),
        ("conflicts (episodes)", str(m["conflicts"]["episodes"])),
        ("losses of separation", str(m["los"]["count"])),
        ("NMACs", str(m["nmac"]["count"])),
        ("LoS per flight-hour", _fmt(m["los"]["per_flight_hour"])),
        ("report latency p50 / p99 (ms)", f"{_fmt(latency['p50'], '.1f')} / {_fmt(latency['p99'], '.1f')}"),
        ("report loss rate", _fmt(reports["loss_rate"])),
        ("advisory latency p50 (ms)", _fmt(advisories["latency_ms"]["p50"], ".1f")),
        ("non-cooperative detection rate", _fmt(sensing.get("noncooperative_detection_rate"))),
    ]


def _fmt(value: Any, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def _markdown(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])
