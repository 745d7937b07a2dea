"""``utm6g simulate`` on a terminal: load, run with a progress bar, print the summary table.

The wall clock appears here only (speed relative to real time); the simulation never reads it. Layer: api.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from sim.engine import Progress
from sim.run import LOG_DIR, RunResult, simulate
from sim.scenario import LoadedScenario, load_scenario

__all__ = ["prepare_out_dir", "run_loaded", "run_with_progress", "summary_lines"]

RUN_FILES = (LOG_DIR, "metrics.json", "report.html")


def run_with_progress(
    scenario: Path,
    *,
    overrides: Sequence[str],
    seed: int | None,
    duration_s: float | None,
    out: Path | None,
    overwrite: bool,
    quiet: bool,
) -> int:
    """Run one scenario from the command line; 0 on success (errors raise and become one line)."""
    loaded = load_scenario(scenario, overrides, seed=seed, duration_s=duration_s)
    run_loaded(loaded, out or Path("out") / f"{scenario.stem}-seed{loaded.spec.seed}", overwrite, quiet)
    return 0


def prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Make room for a run in ``out_dir``: refuse to replace a previous run unless ``overwrite``."""
    from api.cli_common import CommandError

    if (out_dir / LOG_DIR).exists():
        if not overwrite:
            raise CommandError(f"--out: {out_dir} already holds a run (pass --overwrite to replace it)")
        for name in RUN_FILES:
            path = out_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def run_loaded(loaded: LoadedScenario, out_dir: Path, overwrite: bool, quiet: bool) -> RunResult:
    """Run a loaded scenario into ``out_dir`` with a progress bar, then print the summary and the paths."""
    prepare_out_dir(out_dir, overwrite)
    started = time.perf_counter()
    with tqdm(
        total=loaded.spec.duration_s, unit="sim s", disable=quiet, file=sys.stderr, dynamic_ncols=True
    ) as bar:

        def show(p: Progress) -> None:
            bar.update(p.t_s - bar.n)
            wall_s = time.perf_counter() - started
            bar.set_postfix(
                airborne=p.airborne,
                conflicts=p.conflicts,
                los=p.los,
                speed=_times_real_time(p.t_s, wall_s),
            )

        result = simulate(loaded, out_dir, on_progress=show)
        bar.update(loaded.spec.duration_s - bar.n)
    wall_s = time.perf_counter() - started
    print("\n".join(summary_lines(loaded.spec.name, result.metrics, loaded.spec.duration_s, wall_s)))
    print(f"log:     {result.log_dir}")
    print(f"metrics: {out_dir / 'metrics.json'}")
    print(f"report:  {result.report}")
    return result


def _times_real_time(sim_s: float, wall_s: float) -> str:
    """Simulated over wall time, ``25x`` or ``0.43x``: a city run slower than real time must not read 0x.

    >>> _times_real_time(3600.0, 140.0), _times_real_time(1200.0, 2790.0)
    ('26x', '0.43x')
    """
    ratio = sim_s / max(wall_s, 1e-9)
    return f"{ratio:.0f}x" if ratio >= 10.0 else f"{ratio:.2g}x"


def summary_lines(name: str, m: dict[str, Any], duration_s: float, wall_s: float) -> list[str]:
    """The end-of-run table: traffic, strategic outcomes, safety figures, speed."""

    def rate(x: float | None) -> str:
        return "-" if x is None else f"{x:.3g}"

    delay = m["strategic"]["delay_s"]
    rows = [
        ("scenario", name),
        (
            "simulated / wall",
            f"{duration_s:.0f} s / {wall_s:.1f} s ({_times_real_time(duration_s, wall_s)} real time)",
        ),
        (
            "flights requested / flown / landed",
            f"{m['flights']['requested']} / {m['flights']['took_off']} / {m['flights']['landed']}",
        ),
        ("airborne peak", f"{m['airborne_peak']['count']} at t={m['airborne_peak']['t_s']:.0f} s"),
        ("flight hours", f"{m['flight_hours']:.1f}"),
        ("strategic rejection rate", rate(m["strategic"]["rejection_rate"])),
        ("strategic delay mean / p95 (s)", f"{rate(delay['mean'])} / {rate(delay['p95'])}"),
        (
            "conflicts (episodes, per flight-hour)",
            f"{m['conflicts']['episodes']}, {rate(m['conflicts']['per_flight_hour'])}",
        ),
        (
            "losses of separation (per flight-hour)",
            f"{m['los']['count']}, {rate(m['los']['per_flight_hour'])}",
        ),
        ("NMACs (per flight-hour)", f"{m['nmac']['count']}, {rate(m['nmac']['per_flight_hour'])}"),
        ("advisories issued / lost", f"{m['advisories']['issued']} / {m['advisories']['lost']}"),
        (
            "peak cell occupancy",
            f"{m['cell_occupancy_peak']['count']} in {m['cell_occupancy_peak']['cell'] or '-'}",
        ),
    ]
    net, sensing = m.get("network"), m.get("sensing")
    if net is not None:
        for name, d in (("reports", net["reports"]), ("advisories", net["advisories"])):
            latency = d["latency_ms"]
            rows.append(
                (
                    f"{name}: latency p50 / p99 (ms), loss",
                    f"{rate(latency['p50'])} / {rate(latency['p99'])}, {rate(d['loss_rate'])}",
                )
            )
    if sensing is not None:
        first = sensing["time_to_first_detection_s"]["mean"]
        rows.append(
            (
                "non-cooperative: detected per scan, first seen (s)",
                f"{rate(sensing['noncooperative_detection_rate'])}, {rate(first)}",
            )
        )
    width = max(len(k) for k, _ in rows)
    return [f"{k:<{width}}  {v}" for k, v in rows]
