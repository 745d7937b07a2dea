"""The worker threads: calls in submission order, failures raised to the caller, and a run that
is byte for byte the run without them."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from sim.engine import Simulation
from sim.eventlog import EventLog
from sim.pipeline import Pipeline
from sim.run import LOG_DIR, run_header
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "scenarios" / "shenzhen-nanshan" / "tiny.yaml"
FREE = ROOT / "scenarios" / "bench" / "free-flight-10km.yaml"


def test_calls_run_on_the_worker_one_at_a_time_in_submission_order():
    jobs = Pipeline(threaded=True)
    gate, seen = threading.Event(), []
    first = jobs.submit(lambda: (gate.wait(5.0), seen.append(("first", threading.current_thread().name))))
    second = jobs.submit(lambda: seen.append(("second", threading.current_thread().name)))
    assert not second.done()  # the first holds the worker
    gate.set()
    second.result(timeout=5.0)
    assert first.done() and [name for name, _ in seen] == ["first", "second"]
    assert all(thread.startswith("utm6g-worker") for _, thread in seen)
    jobs.close()


def test_a_failed_call_raises_where_its_result_is_taken_and_at_the_next_submit_or_drain():
    jobs = Pipeline(threaded=True)
    failed = jobs.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failed.result(timeout=5.0)
    with pytest.raises(ZeroDivisionError):
        jobs.submit(sum, [1])
    assert jobs.submit(sum, [1, 2]).result(timeout=5.0) == 3  # raised once; the worker goes on
    jobs.submit(lambda: [].pop())
    with pytest.raises(IndexError):
        jobs.drain()
    jobs.drain()
    jobs.close()
    jobs.close()  # idempotent


def test_inline_calls_run_at_once_and_raise_in_the_caller():
    jobs = Pipeline(threaded=False)
    assert not jobs.threaded
    assert jobs.submit(sum, [1, 2]).result() == 3
    with pytest.raises(ZeroDivisionError):
        jobs.submit(lambda: 1 / 0)


def test_an_inline_call_on_a_threaded_pipeline_runs_after_the_queued_ones():
    jobs = Pipeline(threaded=True)
    gate, seen = threading.Event(), []
    jobs.submit(lambda: (gate.wait(5.0), seen.append("queued")))
    threading.Timer(0.05, gate.set).start()
    jobs.submit(seen.append, "inline", inline=True)
    assert seen == ["queued", "inline"]
    jobs.close()


@pytest.mark.parametrize(
    ("scenario", "overrides", "duration_s", "happened", "thread_min"),
    [
        # filed flights, take-offs and landings (links and tracks forgotten), a few non-cooperative drones;
        # the tracker on its worker while fewer than 6 fly, the network on its own once more do
        (TINY, ["comms.profile=6g-isac-fr1"], 240.0, ("flights", "landed"), 6),
        # scans five times a tick (taken after the tick), a fifth non-cooperative, advisories
        (
            FREE,
            [
                "comms.profile=6g-isac-fr3",
                "traffic.count=120",
                "traffic.box_m=3000",
                "traffic.noncooperative_share=0.2",
            ],
            30.0,
            ("advisories", "issued"),
            0,
        ),
        # the tracker on its worker all along
        (
            FREE,
            [
                "comms.profile=6g-isac-fr1",
                "traffic.count=120",
                "traffic.box_m=3000",
                "traffic.noncooperative_share=0.2",
            ],
            60.0,
            ("advisories", "issued"),
            math.inf,
        ),
    ],
)
def test_a_run_with_worker_threads_is_the_run_without_them(
    tmp_path, scenario, overrides, duration_s, happened, thread_min
):
    """Oracle: the same run with every network call and tracker update made in the engine's thread."""
    loaded = load_scenario(scenario, overrides, duration_s=duration_s)
    threaded_dir = tmp_path / "threaded" / LOG_DIR
    with EventLog(threaded_dir, run_header(loaded)) as log:
        threaded = Simulation(loaded, log, network_thread_min=thread_min).run()
    inline_dir = tmp_path / "inline" / LOG_DIR
    with EventLog(inline_dir, run_header(loaded)) as log:
        metrics = Simulation(loaded, log, network_thread_min=None).run()
    assert json.dumps(metrics, sort_keys=True) == json.dumps(threaded, sort_keys=True)
    section, key = happened
    assert metrics[section][key] > 0 and metrics["network"]["reports"]["sent"] > 0
    for name in ("events", "states", "messages", "flights"):
        mine = (threaded_dir / f"{name}.parquet").read_bytes()
        assert mine == (inline_dir / f"{name}.parquet").read_bytes(), name
