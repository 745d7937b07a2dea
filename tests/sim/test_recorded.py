"""Recorded tracks from CSV: a known close pass is found as the simulator would; every bad row is reported."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from airspace.region import load_region
from sim.eventlog import read_log
from sim.incidents import find_incidents
from sim.recorded import RowProblem, TracksError, import_tracks, parse_columns

ROOT = Path(__file__).resolve().parents[2]
REGION = load_region(ROOT / "scenarios" / "shenzhen-nanshan" / "region.yaml")
START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
HEADER = "id,time,lat,lon,alt,operator"


def _fix(track: str, t_s: float, x_m: float, y_m: float, alt_m: float = 60.0, operator: str = "acme") -> str:
    """A CSV row at local (x, y), its time as RFC 3339 from START (pyproj gives the lat/lon)."""
    lon, lat, _ = REGION.frame.to_geodetic(x_m, y_m)
    stamp = (START + timedelta(seconds=t_s)).isoformat().replace("+00:00", "Z")
    return f"{track},{stamp},{float(lat)!r},{float(lon)!r},{alt_m},{operator}"


def _head_on(step_s: float = 2.0) -> list[str]:
    """Two drones head-on, 20 m apart laterally: closest approach 20 m at t = 2005 / 20 = 100.25 s."""
    times = np.arange(0.0, 200.0 + step_s, step_s)
    rows = [_fix("A1", t, -1000.0 + 10.0 * t, 0.0) for t in times]
    return rows + [_fix("B2", t, 1005.0 - 10.0 * t, 20.0, operator="zeta") for t in times]


def _write(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "tracks.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_a_recorded_close_pass_is_the_closed_form_loss_of_separation(tmp_path):
    run = import_tracks(_write(tmp_path, _head_on()), REGION, tmp_path / "run")
    assert (run.fixes, run.tracks, run.problems) == (202, 2, ())
    log = read_log(run.log_dir, columns=[])
    (incident,) = find_incidents(log)
    assert incident.severity == "NMAC" and incident.operator == ("acme", "zeta")
    assert incident.closest_s == pytest.approx(100.25, abs=1e-3)
    assert incident.min_horizontal_m == pytest.approx(20.0, abs=0.01)
    assert incident.min_vertical_m == pytest.approx(0.0, abs=1e-3)
    assert (incident.start_s, incident.end_s) == (98.0, 103.0)  # on the 1 s grid, as the simulator samples
    assert run.metrics["los"]["count"] == 1 and run.metrics["nmac"]["count"] == 1
    assert log.header["recorded"]["track_ids"] == ["A1", "B2"]
    states = read_log(run.log_dir).states
    assert states.num_rows == 2 * 201
    first = states.slice(0, 1).to_pylist()[0]
    assert (first["x_m"], first["y_m"], first["vx_mps"]) == pytest.approx((-1000.0, 0.0, 10.0), abs=0.01)
    kinds = log.events["kind"].cast("string").to_pylist()
    assert kinds.count("takeoff") == 2 and kinds.count("landing") == 2
    reports = log.messages.to_pydict()
    assert len(reports["flight"]) == 202 and reports["t_sent_s"] == reports["t_received_s"]


def test_every_bad_row_is_reported_with_its_line_and_the_good_ones_are_kept(tmp_path):
    good = _head_on(step_s=50.0)  # lines 2-11
    bad = [
        "C,2026-12-01T02:00:00Z,abc,113.93,60,x",
        "C,2026-12-01T02:00:00Z,95.0,113.93,60,x",
        "C,2026-12-01T02:00:00Z,22.5,113.93,,x",
        ",2026-12-01T02:00:00Z,22.5,113.93,60,x",
        "C,yesterday,22.5,113.93,60,x",
        "C,2026-12-01T02:00:00,22.5,113.93,60,x",
        "C,12.5,22.5,113.93,60,x",
        good[0],
        "C,2026-12-01T02:00:00Z,22.5,113.93,60,x,surplus",
        "C,2026-12-01T02:00:00Z,22.5,113.93,inf,x",
    ]
    run = import_tracks(_write(tmp_path, good + bad), REGION, tmp_path / "run")
    assert [str(p) for p in run.problems] == [
        "line 12: lat: is not a number ('abc')",
        "line 13: lat: must be within [-90, 90] degrees (got 95)",
        "line 14: alt: is empty",
        "line 15: id: is empty",
        "line 16: time: is neither seconds nor an RFC 3339 time ('yesterday')",
        "line 17: time: must carry a UTC offset or Z ('2026-12-01T02:00:00')",
        "line 18: time: is seconds, but the file's first fix used rfc3339",
        "line 19: time: a second fix of track 'A1' at this time (first: line 2)",
        "line 20: row: has more cells than the header (7)",
        "line 21: alt: must be finite ('inf')",
    ]
    assert (run.fixes, run.tracks) == (10, 2)
    assert run.metrics["import"] == {"fixes": 10, "tracks": 2, "rows_skipped": 10}


def test_strict_refuses_the_file_and_writes_nothing(tmp_path):
    path = _write(tmp_path, [*_head_on(step_s=50.0), "C,2026-12-01T02:00:00Z,abc,113.93,60,x"])
    with pytest.raises(TracksError, match=r"tracks.csv: 1 bad rows, the first line 12: lat: is not a number"):
        import_tracks(path, REGION, tmp_path / "run", strict=True)
    assert not (tmp_path / "run").exists()


def test_a_column_mapping_reads_another_layout_the_same_way(tmp_path):
    rows = _head_on(step_s=50.0)
    plain = import_tracks(_write(tmp_path, rows), REGION, tmp_path / "plain")
    other = tmp_path / "other"
    other.mkdir()
    renamed = _write(other, rows, header="icao24,ts,latitude,longitude,height_m,owner")
    mapping = parse_columns("id=icao24, time=ts,lat=latitude,lon=longitude,alt=height_m,operator=owner")
    mapped = import_tracks(renamed, REGION, tmp_path / "mapped", columns=mapping)
    for name in ("events", "states", "messages", "flights"):  # the same header too: byte-identical files
        assert (mapped.log_dir / f"{name}.parquet").read_bytes() == (
            plain.log_dir / f"{name}.parquet"
        ).read_bytes()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id=icao24,speed=v", "--columns: unknown field 'speed' (fields: id, time, lat"),
        ("id", "--columns: expected FIELD=COLUMN pairs"),
        ("id=", "--columns: expected FIELD=COLUMN pairs"),
    ],
)
def test_a_bad_column_mapping_is_named(text, message):
    with pytest.raises(TracksError) as caught:
        parse_columns(text)
    assert message in str(caught.value)


def test_a_missing_column_or_an_empty_file_is_refused(tmp_path):
    with pytest.raises(TracksError, match=r"tracks.csv: has no column for alt \(column 'alt'\)"):
        import_tracks(_write(tmp_path, [], header="id,time,lat,lon"), REGION, tmp_path / "a")
    with pytest.raises(TracksError, match=r"tracks.csv: holds no valid fix \(the first problem: line 2: lat"):
        import_tracks(_write(tmp_path, ["A,0,north,113.9,60,x"]), REGION, tmp_path / "b")
    with pytest.raises(TracksError, match=r"max_gap_s: must be a finite number of seconds > 0"):
        import_tracks(_write(tmp_path, _head_on()), REGION, tmp_path / "c", max_gap_s=0.0)
    with pytest.raises(TracksError, match=r"altitude_ref: must be AGL, AMSL or W84"):
        import_tracks(_write(tmp_path, _head_on()), REGION, tmp_path / "d", altitude_ref="QNH")


def test_gaps_are_not_bridged_and_velocity_columns_win_over_the_slope(tmp_path):
    header = "id,time,lat,lon,alt,vx,vy,vz"
    rows = []
    for t in (0.0, 1.0, 2.0, 30.0, 31.0):  # a 28 s gap between 2 s and 30 s
        lon, lat, _ = REGION.frame.to_geodetic(5.0 * t, 0.0)
        rows.append(f"A,{t},{float(lat)!r},{float(lon)!r},50,3.0,0,0")
    run = import_tracks(_write(tmp_path, rows, header=header), REGION, tmp_path / "run")
    states = read_log(run.log_dir).states.to_pydict()
    assert states["t_s"] == [0.0, 1.0, 2.0, 30.0, 31.0]
    assert states["vx_mps"] == pytest.approx([3.0] * 5)  # the file's velocity, not the 5 m/s slope
    events = read_log(run.log_dir, columns=[]).events.to_pylist()
    assert [(e["t_s"], e["kind"]) for e in events] == [
        (0.0, "takeoff"),
        (2.0, "landing"),
        (30.0, "takeoff"),
        (31.0, "landing"),
    ]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["flight_hours"] == pytest.approx(
        5 / 3600
    )


def test_row_problem_reads_as_one_line():
    assert str(RowProblem(7, "lat", "is empty")) == "line 7: lat: is empty"
