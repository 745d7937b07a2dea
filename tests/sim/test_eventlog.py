"""The event log: every table round-trips, output is byte-identical, row groups stream, windows read."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sim.eventlog import (
    EVENT_KINDS,
    FLIGHT_COLUMNS,
    HEADER_KEY,
    LOG_FORMAT,
    MODES,
    EventLog,
    EventLogError,
    read_log,
)
from sim.fleet import MODE

HEADER = {
    "software_version": "0.1.0",
    "seed": 42,
    "scenario": {"name": "unit", "duration_s": 10.0, "region": {"cells": [4, 3]}},
    "note": "données",  # non-ASCII survives
}


def _write_run(directory: Path, *, row_group_rows: int = 262_144, ticks: int = 5, n: int = 4) -> dict:
    """A small but complete run; returns what was written, for comparison."""
    rng = np.random.default_rng(3)
    written = {"states": [], "events": []}
    with EventLog(directory, HEADER, row_group_rows=row_group_rows) as log:
        log.flight(2, vehicle="quad", kind="delivery", operator="op-a", origin="A", destination="B")
        log.flight(0, intent_id="i-0", priority=10, cooperative=False, requested_s=0.0)
        log.event(0.0, "request", flight=0)
        written["events"].append((0.0, "request", 0, -1, math.nan, ""))
        log.event(0.0, "decision", flight=0, value=12.5, detail="accepted")
        written["events"].append((0.0, "decision", 0, -1, 12.5, "accepted"))
        for t in range(ticks):
            ids = np.arange(n, dtype=np.int64)
            pos = rng.uniform(-1000, 1000, (n, 3))
            vel = rng.normal(0, 10, (n, 3))
            mode = (np.arange(n) % len(MODES)).astype(np.int8)
            log.states(float(t), ids, pos, vel, mode)
            written["states"].append((float(t), ids, pos, vel, mode))
            log.messages("report", ids, float(t), np.where(ids % 2, np.nan, t + 0.05), pos)
        log.events(3.0, "conflict_start", np.array([0, 1]), other=np.array([1, 0]), detail="pair")
        written["events"] += [(3.0, "conflict_start", 0, 1, math.nan, "pair")]
        written["events"] += [(3.0, "conflict_start", 1, 0, math.nan, "pair")]
        log.event(4.0, "landing", flight=0, value=7.0)
        written["events"].append((4.0, "landing", 0, -1, 7.0, ""))
        log.flight(0, takeoff_s=1.0, landing_s=4.0)
        written["counts"] = log.counts
    return written


def _event_rows(table) -> list[tuple]:
    cols = [table.column(c).to_pylist() for c in ("t_s", "kind", "flight", "other", "value", "detail")]
    return list(zip(*cols, strict=True))


def _same_rows(got: list[tuple], want: list[tuple]) -> bool:
    return len(got) == len(want) and all(
        all(
            a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
            for a, b in zip(g, w, strict=True)
        )
        for g, w in zip(got, want, strict=True)
    )


def test_every_table_round_trips(tmp_path: Path):
    written = _write_run(tmp_path / "run")
    log = read_log(tmp_path / "run")

    assert _same_rows(_event_rows(log.events), written["events"])
    assert written["counts"] == {"request": 1, "decision": 1, "conflict_start": 2, "landing": 1}

    states = log.states
    assert states.schema.names == ["t_s", "flight", "x_m", "y_m", "z_m", "vx_mps", "vy_mps", "vz_mps", "mode"]
    want_pos = np.concatenate([w[2] for w in written["states"]]).astype(np.float32)
    want_vel = np.concatenate([w[3] for w in written["states"]]).astype(np.float32)
    got_pos = np.stack([states.column(c).to_numpy() for c in ("x_m", "y_m", "z_m")], axis=1)
    got_vel = np.stack([states.column(c).to_numpy() for c in ("vx_mps", "vy_mps", "vz_mps")], axis=1)
    np.testing.assert_array_equal(got_pos, want_pos)
    np.testing.assert_array_equal(got_vel, want_vel)
    np.testing.assert_array_equal(states["t_s"].to_numpy(), np.repeat(np.arange(5.0), 4))
    np.testing.assert_array_equal(states["flight"].to_numpy(), np.tile(np.arange(4), 5))
    np.testing.assert_array_equal(states["mode"].to_numpy(), np.tile([0, 1, 2, 3], 5))
    assert str(states.schema.field("x_m").type) == "float"  # float32
    assert str(states.schema.field("mode").type) == "int8"

    msgs = log.messages
    assert msgs.schema.names == ["kind", "flight", "t_sent_s", "t_received_s", "x_m", "y_m", "z_m", "value"]
    assert set(msgs["kind"].to_pylist()) == {"report"}
    received = msgs["t_received_s"].to_numpy()
    assert np.isnan(received[1::2]).all() and np.allclose(
        received[::2], msgs["t_sent_s"].to_numpy()[::2] + 0.05
    )
    np.testing.assert_array_equal(msgs["x_m"].to_numpy(), states["x_m"].to_numpy())
    assert np.isnan(msgs["value"].to_numpy()).all()

    flights = log.flights.to_pylist()
    assert [f["flight"] for f in flights] == [0, 2]  # sorted by id, not by registration order
    assert flights[0]["intent_id"] == "i-0" and flights[0]["priority"] == 10
    assert flights[0]["cooperative"] is False and flights[0]["takeoff_s"] == 1.0
    assert flights[0]["landing_s"] == 4.0 and flights[0]["vehicle"] == ""
    assert flights[1]["vehicle"] == "quad" and flights[1]["cooperative"] is True
    assert math.isnan(flights[1]["requested_s"]) and math.isnan(flights[1]["landing_s"])
    assert log.flights.schema.names == ["flight", *FLIGHT_COLUMNS]
    assert str(log.flights.schema.field("priority").type) == "int16"


def test_kinds_are_dictionary_encoded(tmp_path: Path):
    _write_run(tmp_path / "run")
    log = read_log(tmp_path / "run")
    assert str(log.events.schema.field("kind").type).startswith("dictionary<values=string")
    assert str(log.messages.schema.field("kind").type).startswith("dictionary<values=string")


def test_header_round_trips_in_every_file(tmp_path: Path):
    _write_run(tmp_path / "run")
    log = read_log(tmp_path / "run")
    assert log.header == {**HEADER, "format": LOG_FORMAT}
    raw = {
        pq.read_schema(tmp_path / "run" / f"{name}.parquet").metadata[b"utm6g"]
        for name in ("events", "states", "messages", "flights")
    }
    assert len(raw) == 1
    text = raw.pop().decode()
    assert text.startswith('{"format":') and ": " not in text and ", " not in text  # canonical JSON


def test_identical_calls_write_identical_bytes(tmp_path: Path):
    _write_run(tmp_path / "a", row_group_rows=7)
    _write_run(tmp_path / "b", row_group_rows=7)
    for name in ("events", "states", "messages", "flights"):
        a = (tmp_path / "a" / f"{name}.parquet").read_bytes()
        b = (tmp_path / "b" / f"{name}.parquet").read_bytes()
        assert a == b, name


def test_created_by_holds_no_time(tmp_path: Path):
    _write_run(tmp_path / "run")
    created_by = pq.ParquetFile(tmp_path / "run" / "states.parquet").metadata.created_by
    assert created_by.startswith("parquet-cpp-arrow version")
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}", created_by)


def test_a_non_empty_directory_is_refused(tmp_path: Path):
    _write_run(tmp_path / "run")
    with pytest.raises(EventLogError, match=r"^directory: is not empty"):
        EventLog(tmp_path / "run", HEADER)
    (tmp_path / "empty").mkdir()
    EventLog(tmp_path / "empty", HEADER).close()  # an existing empty directory is fine
    (tmp_path / "file").write_text("x")
    with pytest.raises(EventLogError, match=r"^directory: is a file"):
        EventLog(tmp_path / "file", HEADER)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ({"seed": 1, "scenario": {}}, "header.software_version"),
        ({**HEADER, "format": "other/9"}, "header.format"),
        ({**HEADER, "seed": np.int64(1)}, "header"),
        ({**HEADER, "scenario": {"x": math.nan}}, "header"),
    ],
)
def test_a_bad_header_is_refused_before_anything_is_created(tmp_path: Path, header: dict, field: str):
    with pytest.raises(EventLogError) as err:
        EventLog(tmp_path / "run", header)
    assert err.value.field == field
    assert not (tmp_path / "run").exists()


def test_batch_and_single_events_interleave_in_call_order(tmp_path: Path):
    with EventLog(tmp_path / "run", HEADER, row_group_rows=3) as log:
        log.event(5.0, "los_start", flight=1, other=2)
        log.events(5.0, "advisory_issued", np.array([1, 2]), value=np.array([0.5, 1.5]))
        log.event(5.0, "los_end", flight=1, other=2)
        log.events(5.0, "advisory_cleared", np.array([2, 1, 0]), value=3.0)
        log.events(5.0, "nmac", np.array([], np.int64))  # an empty batch writes nothing
    rows = _event_rows(read_log(tmp_path / "run").events)
    assert [(r[1], r[2]) for r in rows] == [
        ("los_start", 1),
        ("advisory_issued", 1),
        ("advisory_issued", 2),
        ("los_end", 1),
        ("advisory_cleared", 2),
        ("advisory_cleared", 1),
        ("advisory_cleared", 0),
    ]
    assert [r[4] for r in rows] == [
        pytest.approx(v, nan_ok=True) for v in (math.nan, 0.5, 1.5, math.nan, 3, 3, 3)
    ]
    assert [r[3] for r in rows] == [2, -1, -1, 2, -1, -1, -1]


def test_repeated_scalars_and_texts_keep_every_bit_across_row_groups(tmp_path: Path):
    """Oracle: the values given, bit for bit. Scalars repeated over consecutive calls are written as runs
    at flush time, so signed zeros, NaNs, texts and row-group boundaries (3 rows) must all survive it."""
    values = [0.0, -0.0, -0.0, 0.0, math.nan, math.nan, 1.5, np.float64(-0.0), 2, 2]
    details = ["", "", "a", "a", "é", "", "", "b", "b", ""]
    with EventLog(tmp_path / "run", HEADER, row_group_rows=3) as log:
        for k, (value, detail) in enumerate(zip(values, details, strict=True)):
            log.events(float(k // 2), "advisory_issued", np.array([k, k + 1]), value=value, detail=detail)
            log.event(float(k // 2), "request", flight=k, other=-1, value=value, detail=detail)
    events = read_log(tmp_path / "run").events
    want = np.repeat(np.array(values, float), 3)
    assert events["value"].to_numpy().tobytes() == want.tobytes()
    assert events["detail"].to_pylist() == [d for d in details for _ in range(3)]
    assert events["t_s"].to_pylist() == [float(k // 2) for k in range(10) for _ in range(3)]
    assert events["other"].to_pylist() == [-1] * 30


def test_small_row_groups_flush_and_read_back_in_order(tmp_path: Path):
    written = _write_run(tmp_path / "run", row_group_rows=3, ticks=10, n=7)
    meta = pq.ParquetFile(tmp_path / "run" / "states.parquet").metadata
    assert meta.num_row_groups == math.ceil(70 / 3)
    assert all(meta.row_group(i).num_rows == 3 for i in range(meta.num_row_groups - 1))
    states = read_log(tmp_path / "run").states
    np.testing.assert_array_equal(states["t_s"].to_numpy(), np.repeat(np.arange(10.0), 7))
    want_x = np.concatenate([w[2][:, 0] for w in written["states"]]).astype(np.float32)
    np.testing.assert_array_equal(states["x_m"].to_numpy(), want_x)


def test_a_time_window_of_states_reads_only_that_window(tmp_path: Path):
    _write_run(tmp_path / "run", row_group_rows=8, ticks=20, n=4)
    log = read_log(tmp_path / "run", columns=["t_s", "flight"], window_s=(5.0, 7.0))
    assert log.states.schema.names == ["t_s", "flight"]
    np.testing.assert_array_equal(log.states["t_s"].to_numpy(), np.repeat([5.0, 6.0, 7.0], 4))
    both = read_log(tmp_path / "run", filters=[("flight", "=", 2)], window_s=(5.0, 7.0))
    assert both.states["t_s"].to_pylist() == [5.0, 6.0, 7.0]
    none = read_log(tmp_path / "run", columns=[])
    assert none.states.num_columns == 0 and none.events.num_rows == 5


def test_iter_states_streams_row_groups(tmp_path: Path):
    _write_run(tmp_path / "run", row_group_rows=5, ticks=6, n=3)
    log = read_log(tmp_path / "run", columns=[])
    batches = list(log.iter_states(["t_s"], batch_rows=4))
    assert all(b.num_rows <= 5 for b in batches)
    assert (
        np.concatenate([b["t_s"].to_numpy() for b in batches]).tolist()
        == np.repeat(np.arange(6.0), 3).tolist()
    )


def test_modes_match_the_fleet():
    assert tuple(sorted(MODE, key=MODE.get)) == MODES
    assert "conflict_start" in EVENT_KINDS and len(set(EVENT_KINDS)) == len(EVENT_KINDS)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (
            lambda log: log.states(
                0.0, np.arange(2), np.zeros((3, 3)), np.zeros((2, 3)), np.zeros(2, np.int8)
            ),
            "states.pos_m",
        ),
        (
            lambda log: log.states(
                0.0, np.arange(2.0), np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(2, np.int8)
            ),
            "states.flight",
        ),
        (
            lambda log: log.states(
                math.nan, np.arange(1), np.zeros((1, 3)), np.zeros((1, 3)), np.zeros(1, np.int8)
            ),
            "states.t_s",
        ),
        (
            lambda log: log.states(
                0.0, np.array([2**40]), np.zeros((1, 3)), np.zeros((1, 3)), np.zeros(1, np.int8)
            ),
            "states.flight",
        ),
        (lambda log: log.event(0.0, ""), "event.kind"),
        (lambda log: log.event(0.0, "nmac", flight=-2), "event.flight"),
        (lambda log: log.event(0.0, "nmac", value="big"), "event.value"),
        (lambda log: log.events(0.0, "nmac", np.arange(2), other=np.arange(3)), "events.other"),
        (lambda log: log.events(0.0, "nmac", np.arange(2), other=-5), "events.other"),
        (lambda log: log.flight(1, colour="red"), "flight.colour"),
        (lambda log: log.flight(1, priority=1.5), "flight.priority"),
        (lambda log: log.flight(1, landing_s="soon"), "flight.landing_s"),
        (
            lambda log: log.messages("report", np.arange(2), np.zeros(3), 0.0, np.zeros((2, 3))),
            "messages.t_sent_s",
        ),
    ],
)
def test_bad_calls_name_the_field(tmp_path: Path, call, field: str):
    with EventLog(tmp_path / "run", HEADER) as log:
        with pytest.raises(EventLogError) as err:
            call(log)
        assert err.value.field == field


def test_a_closed_log_refuses_writes_and_closes_once(tmp_path: Path):
    log = EventLog(tmp_path / "run", HEADER)
    log.close()
    log.close()
    with pytest.raises(EventLogError, match="closed"):
        log.event(0.0, "request")


def test_reading_something_that_is_not_a_log_fails_clearly(tmp_path: Path):
    with pytest.raises(EventLogError, match=r"has no events\.parquet"):
        read_log(tmp_path)


def test_a_version_1_log_still_reads_with_empty_plans(tmp_path):
    """Logs written before flights gained ``plan`` (format 1) stay readable: incidents of old runs."""
    with EventLog(tmp_path / "run", HEADER) as log:
        log.flight(3, vehicle="quad", plan='{"layer":"d30-60"}')
    for name in ("events", "states", "messages", "flights"):
        path = tmp_path / "run" / f"{name}.parquet"
        table = pq.read_table(path)
        if name == "flights":
            table = table.drop_columns(["plan"])
        old = table.schema.metadata[HEADER_KEY].replace(b"utm6g-eventlog/2", b"utm6g-eventlog/1")
        pq.write_table(table.replace_schema_metadata({HEADER_KEY: old}), path)
    run = read_log(tmp_path / "run")
    assert run.header["format"] == "utm6g-eventlog/1"
    assert run.flights["plan"].to_pylist() == [""] and run.flights["vehicle"].to_pylist() == ["quad"]
