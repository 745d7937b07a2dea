"""``utm6g incidents | whatif | verify`` on the head-on encounter (closest approach: closed form)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main

ENCOUNTER = Path(__file__).resolve().parents[2] / "scenarios" / "shenzhen-nanshan" / "encounter.yaml"
# encounter.yaml: relative position (2005, 20, 0) m at t = 0, closing at 20 m/s along x.
CPA_S, CPA_M = 2005.0 / 20.0, 20.0


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("encounter") / "run"
    assert main(["simulate", str(ENCOUNTER), "--out", str(out), "--quiet"]) == 0
    return out


def test_incidents_lists_the_encounter_with_its_closed_form_closest_approach(run_dir, capsys):
    capsys.readouterr()
    assert main(["incidents", str(run_dir)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["id", "start_s", "end_s"]
    assert table[1].split()[:5] == ["I0001", "98.0", "103.0", "0", "1"] and "NMAC" in table[1]
    assert table[-1].startswith("1 incidents: 1 NMAC, 0 LoS; 0 detected beforehand")
    assert main(["incidents", str(run_dir / "log"), "--json"]) == 0
    (incident,) = json.loads(capsys.readouterr().out)
    assert incident["closest_s"] == pytest.approx(CPA_S, abs=1e-3)
    assert incident["min_horizontal_m"] == pytest.approx(CPA_M, abs=1e-3)
    assert incident["min_normalized"] == pytest.approx(CPA_M / 50.0, abs=1e-5)
    assert (incident["min_vertical_m"], incident["warning_s"], incident["advisories_delivered"]) == (
        0.0,
        None,
        0,
    )


def test_whatif_with_cdr_on_removes_the_incident(run_dir, tmp_path, capsys):
    out = tmp_path / "cdr-on"
    capsys.readouterr()
    assert (
        main(["whatif", str(run_dir), "I0001", "--set", "cdr.enabled=true", "--out", str(out), "--quiet"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "re-run: no longer happens; the pair's closest approach in 38.0-133.0 s:" in printed
    closest = float(printed.split("closest approach in 38.0-133.0 s: ")[1].split(" m horizontal")[0])
    assert closest > 50.0  # outside the protected zone
    assert "log: differs from the original" in printed
    assert "  los.count: 1 -> 0 (-1)" in printed and "  nmac.count: 1 -> 0 (-1)" in printed


def test_whatif_without_overrides_reproduces_the_log_and_says_so(run_dir, tmp_path, capsys):
    out = tmp_path / "same"
    capsys.readouterr()
    assert main(["whatif", str(run_dir / "log"), "I0001", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "re-run: still happens (I0001: NMAC between flights 0 and 1, 98.0-103.0 s" in printed
    assert "log: reproduces the original log byte for byte" in printed and "metrics changed: 0" in printed
    for name in ("events", "states", "messages", "flights"):
        assert (out / "log" / f"{name}.parquet").read_bytes() == (
            run_dir / "log" / f"{name}.parquet"
        ).read_bytes()
    assert main(["whatif", str(run_dir), "I0001", "--out", str(out), "--quiet"]) == 2
    assert "already holds a run (pass --overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["whatif", "{run}", "I0002"], "utm6g whatif: error: incident: no incident 'I0002' in"),
        (["whatif", "{run}", "I0001", "--set", "cdr.lookahed_s=5"], "cdr.lookahed_s: unknown key"),
        (["incidents", "{empty}"], "utm6g incidents: error: LOG: "),
        (["verify", "{empty}"], "utm6g verify: error: "),
        (["incident", "{run}", "I0009"], "utm6g incident: error: incident: no incident 'I0009' in"),
        (
            ["incident", "{run}", "I0001", "--before", "-5"],
            "--before: must be a finite number of seconds >= 0",
        ),
        (
            ["incident", "{run}", "I0001", "--after", "nan"],
            "--after: must be a finite number of seconds >= 0",
        ),
        (
            ["replay", "{run}", "--at", "100", "--radius", "30"],
            "--radius: needs --around FLIGHT and a distance > 0",
        ),
        (["replay", "{run}", "--at", "100", "--limit", "0"], "--limit: must be >= 1 (got 0)"),
        (["replay", "{run}", "--at", "5000"], "utm6g replay: error: --at: no vehicle was airborne at 5000 s"),
    ],
    ids=[
        "unknown-id",
        "bad-override",
        "incidents-not-a-log",
        "verify-not-a-log",
        "report-unknown-id",
        "report-negative-window",
        "report-nan-window",
        "replay-radius-alone",
        "replay-limit",
        "replay-empty",
    ],
)
def test_mistakes_are_one_line_with_status_2(run_dir, tmp_path, capsys, args, message):
    capsys.readouterr()
    given = [a.format(run=run_dir, empty=tmp_path) for a in args]
    assert main(given) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_verify_reports_an_intact_log_then_the_altered_row_group(run_dir, tmp_path, capsys):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in (run_dir / "log").iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    capsys.readouterr()
    assert main(["verify", str(copy)]) == 0
    head = capsys.readouterr().out.split("head ")[1].strip()
    assert len(head) == 64 and main(["verify", str(copy), "--expect", head]) == 0
    states = copy / "states.parquet"
    data = bytearray(states.read_bytes())
    data[100] ^= 0xFF  # one byte inside the only row group (the magic is 4 bytes, its chunks follow)
    states.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["verify", str(copy)]) == 1
    assert capsys.readouterr().out.startswith("ALTERED: states.parquet: row group 0 of 1")


def test_incident_writes_the_report_beside_the_run(run_dir, capsys):
    capsys.readouterr()
    assert main(["incident", str(run_dir), "I0001", "--before", "10"]) == 0
    page = run_dir / "incident-I0001" / "incident.html"
    assert capsys.readouterr().out.strip() == f"report: {page}"
    summary = json.loads((page.parent / "incident.json").read_text())
    assert summary["window_s"] == [88.0, 133.0]


def test_replay_prints_the_scene_and_draws_it(run_dir, capsys):
    capsys.readouterr()
    assert main(["replay", str(run_dir), "--at", "100", "--around", "1", "--radius", "25"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["0", "1"]
    assert lines[-1] == f"picture: {run_dir / 'replay-100.png'}"
    assert (run_dir / "replay-100.png").is_file()


def test_import_tracks_then_incidents_on_the_recorded_run(tmp_path, capsys):
    from airspace.region import load_region

    region_file = ENCOUNTER.parent / "region.yaml"
    frame = load_region(region_file).frame
    rows = ["id,time,lat,lon,alt"]
    for t in range(0, 201, 2):
        for track, x, y in (("A", -1000.0 + 10.0 * t, 0.0), ("B", 1005.0 - 10.0 * t, 20.0)):
            lon, lat, _ = frame.to_geodetic(x, y)
            rows.append(f"{track},{t},{float(lat)!r},{float(lon)!r},60")
    rows.append("C,5,north,113.9,60")
    csv = tmp_path / "fixes.csv"
    csv.write_text("\n".join(rows) + "\n")
    out = tmp_path / "rec"
    capsys.readouterr()
    assert main(["import-tracks", str(csv), "--region", str(region_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:2] == [
        "imported 202 fixes in 2 tracks; skipped 1 bad rows",
        "  line 204: lat: is not a number ('north')",
    ]
    assert printed[2].endswith("losses of separation 1, NMACs 1")
    assert main(["incidents", str(out), "--json"]) == 0
    (incident,) = json.loads(capsys.readouterr().out)
    assert incident["min_horizontal_m"] == pytest.approx(CPA_M, abs=0.01)
    assert main(["import-tracks", str(csv), "--region", str(region_file), "--out", str(out), "--strict"]) == 2
    assert "fixes.csv: 1 bad rows, the first line 204: lat: is not a number" in capsys.readouterr().err


def test_serve_names_a_missing_runs_folder(tmp_path, dev_keys, capsys):
    args = [
        "serve",
        "--runs",
        str(tmp_path / "absent"),
        "--jwt-public-key",
        str(dev_keys[1]),
        "--audience",
        "x",
    ]
    assert main(args) == 2
    assert "utm6g serve: error: --runs: Value error, no such directory" in capsys.readouterr().err


def test_serve_names_a_bad_tile_template(tmp_path, dev_keys, capsys):
    args = [
        "serve",
        "--tiles",
        "ftp://tiles/{z}/{x}/{y}",
        "--jwt-public-key",
        str(dev_keys[1]),
        "--audience",
        "x",
    ]
    assert main(args) == 2
    assert "utm6g serve: error: --tiles: Value error, must be an http(s) URL" in capsys.readouterr().err
