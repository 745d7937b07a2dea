"""The planners' sub-commands: ``sweep`` (many runs on a process pool or a Dask cluster) and ``capacity``
(the capacity report of a sweep); thin wrappers over sim/sweep.py and sim/capacity.py.

Layer: api.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from api.cli_common import add_set_argument

__all__ = ["add_planner_commands"]


def add_planner_commands(commands: argparse._SubParsersAction) -> None:
    """Register the planners' sub-commands."""
    _add_sweep(commands)
    _add_capacity(commands)


def _add_sweep(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="run a scenario over a grid of overrides and seeds, in a process pool or on Dask",
        description="Each (grid point, seed) is one independent run, a pure function of the scenario, its "
        "overrides and the seed. Writes DIR/runs/<run>/ (each run's log and metrics) and DIR/runs.parquet "
        "(one row per run: grid values, seed, every metric, wall time, software version). Runs already in "
        "DIR are skipped; a failed run is retried once, then recorded with its error.",
    )
    sweep.add_argument("scenario", type=Path, help="the scenario YAML file")
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="a scenario key and its values, e.g. --grid demand.scale=0.5,1,2 (repeatable: the product)",
    )
    sweep.add_argument("--seeds", type=int, default=1, help="seeds per grid point (default 1)")
    sweep.add_argument("--seed", type=int, help="the first seed (default: the scenario's)")
    sweep.add_argument("--duration", type=float, metavar="S", help="override the duration (s)")
    add_set_argument(sweep)
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="process-pool size (default: the CPU count)")
    where.add_argument(
        "--dask", metavar="ADDRESS", help="run on Dask: a scheduler address (tcp://host:8786) or 'local'"
    )
    sweep.add_argument("--out", type=Path, help="output folder (default: out/<scenario>-sweep)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(run=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from sim.sweep import progress_bar, sweep
    from sim.sweep_plan import parse_grid, plan_sweep

    tasks = plan_sweep(
        args.scenario,
        parse_grid(args.grid),
        args.seeds,
        overrides=args.set,
        seed=args.seed,
        duration_s=args.duration,
    )
    out = args.out or Path("out") / f"{args.scenario.stem}-sweep"
    with progress_bar(disable=args.quiet, file=sys.stderr) as bar:
        result = sweep(tasks, out, workers=args.workers, dask=args.dask, on_progress=bar)
    failed = result.failed
    print(f"{len(result.rows)} runs ({result.skipped} already done, {len(failed)} failed): {result.table}")
    for row in failed:
        print(f"  failed {row['run']}: {row['error']}")
    return 1 if failed else 0


def _add_capacity(commands: argparse._SubParsersAction) -> None:
    capacity = commands.add_parser(
        "capacity",
        help="the capacity report of a sweep: safety and service figures against demand",
        description="Read DIR/runs.parquet and write DIR/capacity.html with PNGs: LoS and NMAC per "
        "flight-hour, conflicts, strategic rejection rate, mean delay and report latency p99 against "
        "demand, one line per design with 95 %% confidence bands across seeds; the capacity of each design "
        "(the highest demand meeting the safety target, interpolated, with its range); and the fit of "
        "conflict rate against density (quadratic in unstructured airspace).",
    )
    capacity.add_argument("sweep_dir", type=Path, help="the sweep's output folder")
    capacity.add_argument(
        "--safety",
        default="los_per_flight_hour<=0.01",
        help="the target level of safety, e.g. 'los_per_flight_hour<=0.01' (default)",
    )
    capacity.add_argument(
        "--demand-key", default="demand.scale", help="the grid key of demand (demand.scale)"
    )
    capacity.add_argument("--out", type=Path, help="the page to write (default: DIR/capacity.html)")
    capacity.set_defaults(run=_capacity)


def _capacity(args: argparse.Namespace) -> int:
    from sim.capacity_page import format_capacity, write_capacity_report

    report = write_capacity_report(args.sweep_dir, args.safety, out=args.out, demand_key=args.demand_key)
    print(format_capacity(report))
    return 0
