"""Parameter sweeps: every (grid point, seed) of a scenario as one independent run, on a process pool or Dask.

sim/sweep_plan.py turns a grid into picklable :class:`~sim.sweep_plan.Task` values. :func:`run_task` runs
one into ``OUT/runs/<run id>/`` (its log, ``metrics.json`` and ``run.json``, written in a temporary folder
renamed when complete) and returns its ``runs.parquet`` row; :func:`sweep` skips the runs already complete
(resumable), runs the others on a process pool or on Dask, retries a failed run once, records what still
fails, and writes ``OUT/runs.parquet``. A run is a pure function of (scenario, overrides, seed), so every
executor gives the same metrics. Dask workers must see the scenario, its region files and OUT at the same
paths (a shared file system). Dask is the optional ``dask`` extra, imported only when asked for.

Layer: sim.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import multiprocessing
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sim.metrics import flatten_metrics
from sim.run import simulate, software_version
from sim.sweep_plan import SweepError, Task, yaml_text

__all__ = [
    "ATTEMPTS",
    "RUNS_DIR",
    "RUNS_FILE",
    "RUN_FILE",
    "ProgressBar",
    "SweepProgress",
    "SweepResult",
    "progress_bar",
    "run_task",
    "sweep",
]

RUNS_DIR = "runs"
"""Each run's folder is ``OUT/runs/<run id>/``."""
RUNS_FILE = "runs.parquet"
"""One row per run, in ``OUT``."""
RUN_FILE = "run.json"
"""A complete run's record in its folder (written last: a folder without it is not a finished run)."""
ATTEMPTS = 2
"""A failed run is tried this many times in all before it is recorded as failed."""
SWEEP_FORMAT = "utm6g-sweep/1"

_TMP_DIR = ".tmp"
_BASE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("run", pa.string()),
    ("status", pa.string()),
    ("error", pa.string()),
    ("attempts", pa.int64()),
    ("seed", pa.int64()),
    ("wall_s", pa.float64()),
    ("software_version", pa.string()),
    ("overrides", pa.string()),
)


def run_task(task: Task, out_root: str | Path, attempt: int = 1) -> dict[str, Any]:
    """Run one task into ``out_root/runs/<run id>/`` (no report) and return its ``runs.parquet`` row.

    The run is written in ``out_root/.tmp/`` and renamed into place once complete, so a crash never leaves a
    folder that counts as done. If the folder is already complete (another attempt of the same task finished
    first), that run's row is returned. Exceptions of the run propagate (the caller retries and records).
    """
    out_root = Path(out_root)
    final = out_root / RUNS_DIR / task.run
    if (row := _finished_row(task, out_root)) is not None:
        return row
    tmp = out_root / _TMP_DIR / f"{task.run}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        result = simulate(task.load(), tmp, report=False)
        record = {
            "run": task.run,
            "seed": task.seed,
            "point": dict(task.point),
            "fingerprint": task.fingerprint,
            "attempts": attempt,
            "wall_s": time.perf_counter() - started,
            "software_version": software_version(),
        }
        (tmp / RUN_FILE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp.rename(final)
        except OSError:  # the folder exists: complete (another attempt won) or a stray one to replace
            if (row := _finished_row(task, out_root)) is not None:
                return row
            shutil.rmtree(final)
            tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _row(task, record, result.metrics)


def _finished_row(task: Task, out_root: Path) -> dict[str, Any] | None:
    """The row of the task's finished run in ``out_root``; None when its folder holds no finished run.
    A run made by another sweep raises: results of different settings are never mixed."""
    folder = out_root / RUNS_DIR / task.run
    try:
        record = json.loads((folder / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or "fingerprint" not in record:
        return None
    if record["fingerprint"] != task.fingerprint:
        raise SweepError(
            f"--out {out_root}",
            f"{RUNS_DIR}/{task.run} was made by another sweep (a different scenario file, overrides, seed or "
            "duration); sweep into a new folder",
        )
    return _row(task, record, json.loads((folder / "metrics.json").read_text()))


def _row(task: Task, record: Mapping[str, Any], metrics: Mapping[str, Any]) -> dict[str, Any]:
    row = _task_columns(task) | {
        "status": "ok",
        "error": "",
        "attempts": int(record["attempts"]),
        "wall_s": float(record["wall_s"]),
        "software_version": str(record["software_version"]),
    }
    return row | {f"m.{key}": value for key, value in flatten_metrics(metrics).items()}


def _failed_row(task: Task, attempts: int, err: BaseException) -> dict[str, Any]:
    lines = str(err).strip().splitlines()
    error = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
    return _task_columns(task) | {
        "status": "failed",
        "error": error,
        "attempts": attempts,
        "wall_s": math.nan,
        "software_version": software_version(),
    }


def _task_columns(task: Task) -> dict[str, Any]:
    return {
        "run": task.run,
        "seed": task.seed,
        "overrides": json.dumps(dict(task.point)),
        **{f"grid.{key}": value for key, value in task.point},
    }


# --- the sweep --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SweepProgress:
    """Where a sweep stands: ``done`` runs complete (the ``skipped`` ones, already there, included),
    ``failed`` after their retry, ``running`` in flight (at most the executor's slots), of ``total``."""

    done: int
    failed: int
    running: int
    total: int
    skipped: int


@dataclass(frozen=True, slots=True)
class SweepResult:
    """A finished sweep: its folder, ``runs.parquet`` and rows (sorted by run id)."""

    out_root: Path
    table: Path
    rows: tuple[dict[str, Any], ...]
    skipped: int

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["status"] == "failed"]


def sweep(
    tasks: Sequence[Task],
    out_root: str | Path,
    *,
    workers: int | None = None,
    dask: str | None = None,
    on_progress: Callable[[SweepProgress], None] | None = None,
) -> SweepResult:
    """Run the tasks whose folder in ``out_root/runs/`` is not complete and write ``out_root/runs.parquet``.

    ``dask=None``: a local process pool of ``workers`` processes (default: the CPU count). ``dask="local"``:
    a ``distributed.LocalCluster`` of ``workers`` one-thread processes; any other value is the address of a
    running Dask scheduler (``tcp://host:8786``). A run that raises is retried once; if it fails again its
    row records the error and the sweep goes on. A Dask worker that dies mid-run has its runs rescheduled by
    the scheduler (up to ``distributed.scheduler.allowed-failures`` times, then our retry). A folder made by
    another sweep (different scenario file, overrides, seed or duration) is refused, never mixed in.
    """
    tasks = list(tasks)
    out_root = Path(out_root)
    if len({t.run for t in tasks}) != len(tasks):
        raise SweepError("tasks", "two tasks share a run id")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SweepError("--workers", f"must be an integer >= 1 (got {workers!r})")
    if dask is not None:
        _distributed()
        if dask != "local" and workers is not None:
            raise SweepError("--workers", "sizes the process pool or --dask local; a scheduler has its own")
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for task in tasks:
        if (row := _finished_row(task, out_root)) is None:
            todo.append(task)
        else:
            rows[task.run] = row
    skipped = len(rows)
    report = on_progress or (lambda progress: None)

    def progress(done: int, failed: int, running: int) -> None:
        report(SweepProgress(skipped + done, failed, running, len(tasks), skipped))

    progress(0, 0, 0)
    if todo:
        runner = (
            _Dask(dask, workers) if dask is not None else _Pool(workers or os.cpu_count() or 1, len(todo))
        )
        try:
            rows |= _run_all(runner, todo, out_root, progress)
        finally:
            runner.close()
        shutil.rmtree(out_root / _TMP_DIR, ignore_errors=True)
    ordered = tuple(rows[run] for run in sorted(rows))
    out_root.mkdir(parents=True, exist_ok=True)
    table = out_root / RUNS_FILE
    tmp = out_root / f".{RUNS_FILE}.{os.getpid()}.tmp"
    pq.write_table(_table(ordered, tasks), tmp)
    tmp.replace(table)
    return SweepResult(out_root, table, ordered, skipped)


def _run_all(
    runner: _Pool | _Dask, todo: list[Task], out_root: Path, progress: Callable[[int, int, int], None]
) -> dict[str, dict[str, Any]]:
    """Submit every task, retry each failure once, and collect one row per task."""
    rows: dict[str, dict[str, Any]] = {}
    pending = {runner.submit(task, out_root, 1): (task, 1) for task in todo}
    failed = 0
    last = None
    while pending:
        done, _ = cf.wait(pending, timeout=1.0, return_when=cf.FIRST_COMPLETED)
        for future in done:
            task, attempt = pending.pop(future)
            try:
                rows[task.run] = future.result()
            except Exception as err:  # a run's failure is its row, never the sweep's: the others go on
                if attempt < ATTEMPTS:
                    pending[runner.submit(task, out_root, attempt + 1)] = (task, attempt + 1)
                else:
                    rows[task.run] = _failed_row(task, attempt, err)
                    failed += 1
        now = (len(rows) - failed, failed, min(len(pending), runner.slots()))
        if now != last:
            progress(*now)
            last = now
    return rows


class _Pool:
    """A process pool (spawned: fresh interpreters, like Dask workers); rebuilt if a worker process dies."""

    def __init__(self, workers: int, tasks: int) -> None:
        self._workers = max(1, min(workers, tasks))
        self._pool = self._new()

    def _new(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, task: Task, out_root: Path, attempt: int) -> cf.Future:
        try:
            return self._pool.submit(run_task, task, str(out_root), attempt)
        except cf.process.BrokenProcessPool:  # a worker died (killed, out of memory): a fresh pool
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new()
            return self._pool.submit(run_task, task, str(out_root), attempt)

    def slots(self) -> int:
        return self._workers

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Dask:
    """A Dask client (and its LocalCluster for ``"local"``) behind a concurrent.futures executor."""

    def __init__(self, address: str, workers: int | None) -> None:
        distributed = _distributed()
        self._cluster = None
        if address == "local":
            self._cluster = distributed.LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            self._client = distributed.Client(self._cluster)
        else:
            try:
                self._client = distributed.Client(address, timeout="10s")
            except (OSError, ValueError) as err:
                raise SweepError("--dask", f"cannot reach a Dask scheduler at {address} ({err})") from None
        self._executor = self._client.get_executor(pure=False)  # each attempt its own key

    def submit(self, task: Task, out_root: Path, attempt: int) -> cf.Future:
        return self._executor.submit(run_task, task, str(out_root), attempt)

    def slots(self) -> int:
        return max(1, sum(self._client.nthreads().values()))

    def close(self) -> None:
        self._executor.shutdown(wait=False)
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise SweepError("--dask", "needs the dask extra: pip install 'utm6g[dask]'") from None
    return distributed


def _table(rows: Sequence[dict[str, Any]], tasks: Sequence[Task]) -> pa.Table:
    """``runs.parquet``: the base columns, ``grid.<key>`` per grid key, ``m.<metric>`` (float64, NaN where
    a run lacks it or it is null) per metric that is a number in some run; the plan in the schema metadata."""
    grid: dict[str, list[Any]] = {}
    for task in tasks:
        for key, value in task.point:
            if value not in grid.setdefault(key, []):
                grid[key].append(value)
    columns = {name: pa.array([row[name] for row in rows], kind) for name, kind in _BASE_COLUMNS}
    for key in grid:
        columns[f"grid.{key}"] = _grid_column([row.get(f"grid.{key}") for row in rows])
    # a metric null in every run is left out: it may be a section when present ("network" of ideal runs)
    numeric = {name for row in rows for name, value in row.items() if name[:2] == "m." and value is not None}
    for name in sorted(numeric):
        values = [row.get(name) for row in rows]
        columns[name] = pa.array([math.nan if v is None else v for v in values], pa.float64())
    names = {t.scenario_name for t in tasks}
    durations = {t.duration_s for t in tasks}
    metadata = {
        "format": SWEEP_FORMAT,
        "scenario": names.pop() if len(names) == 1 else sorted(names),
        "scenario_file": str(tasks[0].scenario) if tasks else None,
        "duration_s": durations.pop() if len(durations) == 1 else None,
        "grid": grid,
        "seeds": sorted({t.seed for t in tasks}),
    }
    table = pa.table(columns)
    return table.replace_schema_metadata({key: json.dumps(value) for key, value in metadata.items()})


def _grid_column(values: list[Any]) -> pa.Array:
    """float64 when every value is a number, bool when every one is true/false, else text (YAML)."""
    given = [v for v in values if v is not None]
    if given and all(isinstance(v, int | float) and not isinstance(v, bool) for v in given):
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    if given and all(isinstance(v, bool) for v in given):
        return pa.array(values, pa.bool_())
    if all(isinstance(v, str) for v in given):
        return pa.array(values, pa.string())
    return pa.array([None if v is None else yaml_text(v) for v in values], pa.string())


# --- progress bar -----------------------------------------------------------------------------------------


class ProgressBar:
    """A tqdm bar for ``sweep(on_progress=...)``: runs finished of the total with tqdm's ETA, and
    completed / failed / running in its postfix. Use it as a context manager, or call :meth:`close`."""

    def __init__(self, *, desc: str = "sweep", **tqdm_options: Any) -> None:
        self._desc = desc
        self._options = tqdm_options
        self._bar: Any = None

    def __call__(self, progress: SweepProgress) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(
                total=progress.total, initial=progress.skipped, desc=self._desc, unit="run", **self._options
            )
        self._bar.set_postfix(
            completed=progress.done, failed=progress.failed, running=progress.running, refresh=False
        )
        step = progress.done + progress.failed - self._bar.n
        if step > 0:
            self._bar.update(step)
        else:
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(*, desc: str = "sweep", **tqdm_options: Any) -> ProgressBar:
    """A :class:`ProgressBar` (tqdm options such as ``file`` or ``disable`` pass through)."""
    return ProgressBar(desc=desc, **tqdm_options)
