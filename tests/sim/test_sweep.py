"""sim.sweep: a grid of the tiny scenario under the process pool and under a real Dask cluster (a scheduler
and two workers started as separate processes on loopback) gives the same runs; a killed worker, a failing run
and a resumed sweep still end with one row per run. Real processes throughout, no mocks."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sim.sweep import RUNS_DIR, SweepProgress, progress_bar, sweep
from sim.sweep_plan import SweepError, parse_grid, plan_sweep

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "scenarios" / "shenzhen-nanshan" / "tiny.yaml"
GRID = ("cdr.lookahead_s=20,40", "strategic.enabled=true,false")
DURATION_S = 120.0
DASK = Path(sys.executable).parent / "dask"


def _plan(**options):
    return plan_sweep(TINY, parse_grid(GRID), 2, duration_s=DURATION_S, **options)


def _canon(path: Path, prefix: str = "") -> list[dict]:
    """The rows of a runs.parquet (columns starting with ``prefix``), NaN made comparable."""
    table = pq.read_table(path)
    names = [n for n in table.column_names if n.startswith(prefix)]
    nan = "NaN"
    return [
        {k: nan if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in table.select(names).to_pylist()
    ]


@pytest.fixture(scope="module")
def pool_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("pool")
    return sweep(_plan(), out, workers=2)


@contextmanager
def dask_cluster(tmp: Path, workers: int = 2) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """``dask scheduler`` and ``workers`` x ``dask worker`` (one process, one thread each) on loopback."""
    import distributed

    scheduler_file = tmp / "scheduler.json"
    procs: list[subprocess.Popen] = []

    def start(*args: str, log: str) -> subprocess.Popen:
        with open(tmp / log, "wb") as out:
            proc = subprocess.Popen([str(DASK), *args], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        procs.append(proc)
        return proc

    try:
        listen = ("--host", "127.0.0.1", "--port", "0", "--no-dashboard")
        scheduler = start("scheduler", *listen, "--scheduler-file", str(scheduler_file), log="scheduler.log")
        address = None
        deadline = time.monotonic() + 30
        while address is None:
            assert scheduler.poll() is None, (tmp / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler wrote no scheduler file in 30 s"
            time.sleep(0.05)
            with suppress(OSError, ValueError):  # not written yet, or half written
                address = json.loads(scheduler_file.read_text())["address"]
        one = ("--scheduler-file", str(scheduler_file), "--nworkers", "1", "--nthreads", "1", "--no-nanny")
        worker_procs = [
            start("worker", *one, "--no-dashboard", "--local-directory", str(tmp / f"w{k}"), log=f"w{k}.log")
            for k in range(workers)
        ]
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=60)
        yield address, worker_procs
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- planning -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["demand.scale"], "--grid 'demand.scale': expected <dotted.key>=<value>,<value>,..."),
        (["demand.scale="], "--grid demand.scale: empty value in ''"),
        (["demand.scale=0.5,,1"], "--grid demand.scale: empty value in '0.5,,1'"),
        (["demand.scale=1", "demand.scale=2"], "--grid demand.scale: given twice; list all its values"),
        (["demand.scale=1,2,1.0"], "--grid demand.scale: value 1.0 given twice"),
        (["seed=1,2"], "--grid seed: seeds come from --seeds"),
        (["comms.profile=[a,b]"], "--grid comms.profile: value '[a' is not valid YAML"),
        (["cdr..lookahead_s=1"], "--grid cdr..lookahead_s: not a dotted key"),
    ],
)
def test_parse_grid_refuses_with_the_key_and_the_reason(items, message):
    with pytest.raises(SweepError) as refused:
        parse_grid(items)
    assert str(refused.value).startswith(message)


def test_parse_grid_reads_yaml_scalars():
    grid = parse_grid(["demand.scale=0.5,1", "strategic.enabled=true,false", "start=2026-12-01T02:00:00Z"])
    assert grid == {
        "demand.scale": (0.5, 1),
        "strategic.enabled": (True, False),
        "start": ("2026-12-01T02:00:00Z",),
    }
    assert isinstance(grid["demand.scale"][1], int)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (
            ["cdr.lookahed_s=20,40"],
            "--grid cdr.lookahed_s: unknown key (known: enabled, hold_s, interval_s, ",
        ),
        (["cdr.lookahead_s=20,-1"], "--grid cdr.lookahead_s: must be > 0 (got -1)"),
        (
            ["comms.profile=5g-fr1,6g-bogus"],
            "--grid comms.profile: unknown profile '6g-bogus' (known: ideal, ",
        ),
        (  # each value alone is valid; the combination is not
            ["separation.horizontal_m=50,40", "separation.nmac_horizontal_m=30.48,45"],
            "--grid separation.horizontal_m=40,separation.nmac_horizontal_m=45: "
            "separation.nmac_horizontal_m: must be <= horizontal_m (45 m > 40 m)",
        ),
    ],
)
def test_plan_names_a_bad_grid_key_or_value_before_any_run(grid, message, tmp_path):
    with pytest.raises(SweepError) as refused:
        plan_sweep(TINY, parse_grid(grid), 2, duration_s=DURATION_S)
    assert str(refused.value).startswith(message)


def test_plan_is_the_product_times_seeds_with_stable_picklable_run_ids():
    tasks = _plan()
    assert [t.run for t in tasks][:3] == [
        "cdr.lookahead_s=20,strategic.enabled=true,seed=7",  # tiny.yaml's seed is 7: seeds 7 and 8
        "cdr.lookahead_s=20,strategic.enabled=true,seed=8",
        "cdr.lookahead_s=20,strategic.enabled=false,seed=7",
    ]
    assert len({t.run for t in tasks}) == 8
    assert _plan() == tasks
    assert pickle.loads(pickle.dumps(tasks)) == tasks
    assert [t.seed for t in plan_sweep(TINY, {}, 3, seed=100)] == [100, 101, 102]
    with pytest.raises(SweepError, match=r"^--seeds: must be an integer >= 1"):
        plan_sweep(TINY, {}, 0)


def test_sweep_error_survives_pickling_and_rebuilding_from_args():
    error = SweepError("--grid demand.scale", "empty value in '0.5,,1'")
    for copy in (type(error)(*error.args), pickle.loads(pickle.dumps(error))):
        assert str(copy) == str(error) == "--grid demand.scale: empty value in '0.5,,1'"
        assert vars(copy) == vars(error)


def test_dask_without_the_extra_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what `import distributed` sees without the extra
    with pytest.raises(SweepError) as refused:
        sweep([], tmp_path, dask="local")
    assert str(refused.value) == "--dask: needs the dask extra: pip install 'utm6g[dask]'"


def test_executor_options_are_checked_before_any_run(tmp_path):
    with pytest.raises(SweepError, match=r"^--workers: must be an integer >= 1 \(got 0\)"):
        sweep(_plan(), tmp_path, workers=0)
    with pytest.raises(SweepError, match=r"^--workers: sizes the process pool or --dask local"):
        sweep(_plan(), tmp_path, dask="tcp://127.0.0.1:8786", workers=2)
    assert not list(tmp_path.iterdir())


def test_progress_bar_shows_completed_failed_running(tmp_path):
    text = io.StringIO()
    with progress_bar(file=text) as bar:
        for progress in [
            SweepProgress(1, 0, 0, 4, 1),
            SweepProgress(2, 1, 1, 4, 1),
            SweepProgress(3, 1, 0, 4, 1),
        ]:
            bar(progress)
    last = text.getvalue().split("\r")[-1]
    assert "4/4" in last and "completed=3, failed=1, running=0" in last


# --- running ------------------------------------------------------------------------------------------------


def test_pool_sweep_writes_one_ok_row_and_one_run_folder_per_task(pool_sweep):
    table = pq.read_table(pool_sweep.table)
    rows = table.to_pylist()
    assert [r["run"] for r in rows] == sorted(t.run for t in _plan())
    assert {r["status"] for r in rows} == {"ok"} and {r["attempts"] for r in rows} == {1}
    assert {r["error"] for r in rows} == {""} and all(r["wall_s"] > 0 for r in rows)
    assert table.schema.field("grid.cdr.lookahead_s").type == "double"
    assert table.schema.field("grid.strategic.enabled").type == "bool"
    for name in (
        "m.los.per_flight_hour",
        "m.strategic.rejection_rate",
        "m.flight_hours",
        "m.airborne_peak.count",
    ):
        assert table.schema.field(name).type == "double"
    assert json.loads(rows[0]["overrides"]) == {"cdr.lookahead_s": 20, "strategic.enabled": False}
    meta = {k.decode(): json.loads(v) for k, v in table.schema.metadata.items()}
    assert meta["scenario"] == "shenzhen-nanshan-tiny" and meta["duration_s"] == DURATION_S
    assert meta["grid"] == {"cdr.lookahead_s": [20, 40], "strategic.enabled": [True, False]}
    for row in rows:
        folder = pool_sweep.out_root / RUNS_DIR / row["run"]
        assert (folder / "log" / "manifest.json").is_file() and (folder / "metrics.json").is_file()
    assert sorted(os.listdir(pool_sweep.out_root)) == ["runs", "runs.parquet"]  # no temp folder left


def test_dask_cluster_gives_the_same_runs_and_metrics_as_the_pool(pool_sweep, tmp_path):
    with dask_cluster(tmp_path) as (address, _):
        result = sweep(_plan(), tmp_path / "out", dask=address)
    assert _canon(result.table, "m.") == _canon(pool_sweep.table, "m.")
    assert _canon(result.table, "run") == _canon(pool_sweep.table, "run")
    assert {r["status"] for r in result.rows} == {"ok"}


def test_dask_local_cluster_gives_the_same_metrics_as_the_pool(pool_sweep, tmp_path):
    result = sweep(_plan(), tmp_path / "out", dask="local", workers=2)
    assert _canon(result.table, "m.") == _canon(pool_sweep.table, "m.")


def test_killing_a_dask_worker_mid_run_still_completes_the_sweep(pool_sweep, tmp_path):
    """Once two runs are done, worker 0 is SIGKILLed while its run's temporary folder exists (mid-run): the
    scheduler reruns that run on the other worker, and every row ends ok with the pool's metrics."""
    out = tmp_path / "out"
    killed: list[SweepProgress] = []
    with dask_cluster(tmp_path) as (address, workers):
        victim = workers[0]

        def kill_mid_run(progress: SweepProgress) -> None:
            if progress.done < 2 or killed:
                return
            deadline = time.monotonic() + 10
            while not any(p.name.split(".")[-2] == str(victim.pid) for p in (out / ".tmp").iterdir()):
                assert time.monotonic() < deadline, "worker 0 started no run in 10 s"
                time.sleep(0.005)
            victim.send_signal(signal.SIGKILL)
            killed.append(progress)

        result = sweep(_plan(), out, dask=address, on_progress=kill_mid_run)
        assert victim.wait(timeout=10) == -signal.SIGKILL
    assert killed and killed[0].done < 8
    assert [r["status"] for r in result.rows] == ["ok"] * 8
    assert _canon(result.table, "m.") == _canon(pool_sweep.table, "m.")
    assert not (out / ".tmp").exists()  # the killed run's temporary folder is cleared at the end


def test_a_resumed_sweep_skips_finished_runs_and_reruns_a_missing_one(pool_sweep, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(pool_sweep.out_root, out)
    seen: list[SweepProgress] = []
    again = sweep(_plan(), out, workers=2, on_progress=seen.append)
    assert again.skipped == 8 and {p.running for p in seen} == {0}
    assert _canon(again.table) == _canon(pool_sweep.table)  # wall times included: read back, not rerun

    victim = out / RUNS_DIR / again.rows[3]["run"]
    shutil.rmtree(victim)
    third = sweep(_plan(), out, workers=2)
    assert third.skipped == 7 and (victim / "metrics.json").is_file()
    assert _canon(third.table, "m.") == _canon(pool_sweep.table, "m.")

    with pytest.raises(SweepError, match=r"^--out .*: runs/.* was made by another sweep"):
        plan = plan_sweep(TINY, parse_grid(GRID), 2, duration_s=DURATION_S / 2)
        sweep(plan, out, workers=2)


def test_a_failing_run_is_tried_twice_then_recorded_and_the_sweep_finishes(tmp_path):
    """The region file of one grid point exists when planned and is gone when run: a run-time failure."""
    folder = tmp_path / "scenario"
    shutil.copytree(TINY.parent, folder)
    shutil.copy(folder / "region.yaml", folder / "gone.yaml")
    tasks = plan_sweep(folder / TINY.name, parse_grid(["region=region.yaml,gone.yaml"]), 1, duration_s=60.0)
    (folder / "gone.yaml").unlink()
    result = sweep(tasks, tmp_path / "out", workers=2)
    failed, ok = result.rows  # sorted by run id: region=gone.yaml first
    assert ok["status"] == "ok" and ok["attempts"] == 1
    assert failed["status"] == "failed" and failed["attempts"] == 2
    assert failed["error"].startswith("ScenarioError: tiny.yaml: region: no such file (")
    table = pq.read_table(result.table).to_pylist()
    assert [r["status"] for r in table] == ["failed", "ok"] and math.isnan(table[0]["m.flight_hours"])
    assert os.listdir(tmp_path / "out" / RUNS_DIR) == [ok["run"]]
