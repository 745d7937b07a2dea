"""The web map's data on a real ``utm6g serve --runs``: layers, flights, binary frames, links, one vehicle,
coverage, and the page's own headers; each checked against the log or the region read independently."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import httpx
import numpy as np
import pyarrow.compute as pc
import pytest

from airspace.region import load_region
from api.cli import main
from api.frames_bin import SENSED_WINDOW_S, decode_frames
from api.routes.web import content_security_policy
from sim.eventlog import EventLog, read_log
from sim.incidents import find_incidents
from sim.scenario import load_scenario
from sim.sixg.coverage import sinr_map

ROOT = Path(__file__).resolve().parents[2]
ENCOUNTER = ROOT / "scenarios" / "shenzhen-nanshan" / "encounter.yaml"
REGION = ENCOUNTER.parent / "region.yaml"
REPLAY = "utm6g.replay.read"
SIXG = ("--set", "comms.profile=6g-isac-fr1")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """runs/encounter (ideal comms), runs/encounter-6g (the same over 6G with ISAC), runs/recorded (the pass
    imported from CSV fixes) and runs/moved (simulated on a copy of the region that was then deleted)."""
    root = tmp_path_factory.mktemp("map-runs")
    assert main(["simulate", str(ENCOUNTER), "--out", str(root / "encounter"), "--quiet"]) == 0
    assert main(["simulate", str(ENCOUNTER), "--out", str(root / "encounter-6g"), "--quiet", *SIXG]) == 0
    region = load_region(REGION)
    rows = ["id,time,lat,lon,alt"]
    for t in range(0, 61, 2):
        lon, lat, _ = region.frame.to_geodetic(10.0 * t, 0.0)
        rows.append(f"A,{t},{float(lat)!r},{float(lon)!r},60")
    fixes = root.parent / "fixes.csv"
    fixes.write_text("\n".join(rows) + "\n")
    assert main(["import-tracks", str(fixes), "--region", str(REGION), "--out", str(root / "recorded")]) == 0
    copy = shutil.copytree(ENCOUNTER.parent, root.parent / "copied-scenarios")
    assert main(["simulate", str(copy / ENCOUNTER.name), "--out", str(root / "moved"), "--quiet"]) == 0
    shutil.rmtree(copy)
    resolved = load_scenario(ENCOUNTER).resolved | {"region": str(root.parent / "gone" / "region.yaml")}
    with EventLog(root / "old" / "log", {"software_version": "0", "seed": 1, "scenario": resolved}):
        pass  # a log from before headers carried the airspace files, its region moved away
    return root


def test_map_layers_are_the_region_in_local_metres(replay):
    layers = replay("/replay/v1/runs/encounter/map").json()
    region = load_region(REGION)
    nx, ny, nk = region.grid.shape
    assert len(layers["grid"]["x_edges_m"]) == nx + 1 and len(layers["grid"]["y_edges_m"]) == ny + 1
    assert np.array(layers["grid"]["capacity"]).shape == (nx, ny, nk)
    assert [layer["name"] for layer in layers["grid"]["layers"]] == [
        layer.name for layer in region.grid.layers
    ]
    assert {h["id"] for h in layers["hubs"]} >= {h.id for h in region.hubs}
    fences = {f.identifier: f for f in region.geofences}
    for drawn in layers["geofences"]:
        if drawn["id"] in fences:  # the scenario may add its own
            outline = fences[drawn["id"]].volumes[0].footprint()
            assert abs(outline.area - _area(drawn["outline_m"])) <= 1e-3 * outline.area + 1.0
    assert layers["sites"] == [] and layers["comms_profile"] == "ideal" and layers["sensing"] is False
    assert layers["origin"]["lat_deg"] == region.frame.lat0_deg and layers["tile_url"] is None
    assert (layers["t_min_s"], layers["t_max_s"]) == (0.0, 198.0)


def _area(ring: list[list[float]]) -> float:
    x, y = np.array(ring).T
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def test_a_recorded_run_is_drawn_in_its_region(replay):
    layers = replay("/replay/v1/runs/recorded/map").json()
    assert layers["region"] == load_region(REGION).name and layers["sites"] == []
    _, col = decode_frames(replay("/replay/v1/runs/recorded/frames", t0=10, t1=10, format="bin").content)
    assert col["flight"].tolist() == [0] and col["x_m"].tolist() == [100.0]


def test_a_run_is_drawn_from_the_airspace_files_in_its_header(replay):
    """runs/moved was simulated on a copy of the scenarios folder that is gone since."""
    moved = replay("/replay/v1/runs/moved/map").json()
    here = replay("/replay/v1/runs/encounter/map").json()
    assert moved["geofences"] == here["geofences"] and moved["hubs"] == here["hubs"]


def test_an_old_run_whose_region_is_gone_says_so(replay):
    answer = replay("/replay/v1/runs/old/map")
    assert answer.status_code == 404
    assert (
        "run 'old' cannot be drawn: its airspace does not load" in answer.text
        and "no such file" in answer.text
    )


def test_a_6g_run_shows_its_sites(replay):
    layers = replay("/replay/v1/runs/encounter-6g/map").json()
    loaded = load_scenario(ENCOUNTER, list(SIXG[1::2]))
    sites = loaded.spec.comms.network().channel.sites(loaded.region.grid.bounds_xy_m)
    assert len(layers["sites"]) == sites.n_sites and layers["sensing"] is True
    assert layers["sites"][0] == {"x_m": round(sites.xy_m[0, 0], 1), "y_m": round(sites.xy_m[0, 1], 1)}


def test_flights_carry_their_plans(replay, runs):
    flights = replay("/replay/v1/runs/encounter/flights").json()["flights"]
    table = read_log(runs / "encounter" / "log", columns=[]).flights
    assert [f["flight"] for f in flights] == table["flight"].to_pylist() == [0, 1]
    for flight, plan, takeoff in zip(
        flights, table["plan"].to_pylist(), table["takeoff_s"].to_pylist(), strict=True
    ):
        assert flight["path_m"] == (json.loads(plan)["path_m"] if plan else None)  # scripted: no plan
        assert flight["takeoff_s"] == takeoff


def test_binary_frames_are_the_logged_states(replay, runs):
    answer = replay("/replay/v1/runs/encounter/frames", t0=90, t1=110, format="bin")
    assert answer.headers["content-type"] == "application/octet-stream"
    header, col = decode_frames(answer.content)
    states = read_log(runs / "encounter" / "log", window_s=(90, 110)).states.sort_by([("t_s", "ascending")])
    assert header["times"] == 21 and header["rows"] == states.num_rows == 42
    assert all(c["offset"] % 8 == 0 for c in header["columns"])
    assert col["time_s"].tolist() == list(np.arange(90.0, 111.0))
    assert col["slice_start"].tolist() == list(range(0, 43, 2))
    assert col["flight"].tolist() == [0, 1] * 21
    assert col["x_m"][:4].tolist() == [-100.0, 105.0, -90.0, 95.0]  # -1000 + 10 t and 1005 - 10 t
    assert col["vx_mps"][:2].tolist() == [10.0, -10.0] and set(col["mode"].tolist()) == {0}
    assert not col["sensed"].any()  # an ideal run has no network sensing
    _, strided = decode_frames(
        replay("/replay/v1/runs/encounter/frames", t0=90, t1=110, format="bin", stride=5).content
    )
    assert strided["time_s"].tolist() == [90.0, 95.0, 100.0, 105.0, 110.0]
    assert strided["x_m"][::2].tolist() == [-100.0, -50.0, 0.0, 50.0, 100.0]


def test_sensed_marks_vehicles_with_a_recent_delivered_detection(replay, runs):
    _, col = decode_frames(replay("/replay/v1/runs/encounter-6g/frames", t0=0, t1=198, format="bin").content)
    messages = read_log(runs / "encounter-6g" / "log", columns=[]).messages
    det = messages.filter(pc.equal(messages["kind"].cast("string"), "detection"))
    flight, received = det["flight"].to_numpy(), det["t_received_s"].to_numpy()
    times = np.repeat(col["time_s"], np.diff(col["slice_start"].astype(np.int64)))
    expected = [
        bool(np.any((flight == f) & (received >= t - SENSED_WINDOW_S) & (received <= t)))
        for f, t in zip(col["flight"], times, strict=True)
    ]
    assert col["sensed"].astype(bool).tolist() == expected and sum(expected) > 100


def test_links_are_the_logged_episodes(replay, runs):
    links = replay("/replay/v1/runs/encounter/links", t0=0, t1=198).json()["links"]
    (incident,) = find_incidents(read_log(runs / "encounter" / "log", columns=[]))
    los = [link for link in links if link["kind"] == "los"]
    assert los == [
        {"kind": "los", "a": 0, "b": 1, "start_s": incident.start_s, "end_s": incident.end_s, "nmac": True}
    ]
    assert replay("/replay/v1/runs/encounter/links", t0=0, t1=50).json()["links"] == []


def test_one_vehicle_at_a_time(replay, runs):
    detail = replay("/replay/v1/runs/encounter/flights/0", t=100).json()
    assert detail["state"] == {
        "t_s": 100.0,
        "x_m": 0.0,
        "y_m": 0.0,
        "z_m": 60.0,
        "speed_mps": 10.0,
        "heading_deg": 90.0,
        "vertical_speed_mps": 0.0,
        "mode": "nominal",
    }
    messages = read_log(runs / "encounter" / "log", columns=[]).messages
    mine = messages.filter(
        pc.and_(pc.equal(messages["flight"], 0), pc.equal(messages["kind"].cast("string"), "report"))
    )
    sent = mine["t_sent_s"].to_numpy()
    assert detail["reports"]["sent"] == int(np.count_nonzero(sent <= 100)) > 0
    assert detail["last_report"]["latency_s"] == 0.0 and detail["link"] is None  # ideal comms
    assert replay("/replay/v1/runs/encounter/flights/0", t=500).json()["state"] is None


def test_a_6g_vehicle_names_its_serving_site(replay):
    detail = replay("/replay/v1/runs/encounter-6g/flights/1", t=100).json()
    link, state = detail["link"], detail["state"]
    assert link["distance_m"] == pytest.approx(
        math.hypot(link["x_m"] - state["x_m"], link["y_m"] - state["y_m"]), abs=0.2
    )
    assert math.isfinite(link["dl_sinr_db"]) and math.isfinite(link["ul_sinr_db"])
    latency = detail["last_report"]["latency_s"]
    assert latency is None or 0.0 < latency < 0.1  # a modelled link takes time


def test_coverage_is_the_median_sinr_map(replay):
    cov = replay("/replay/v1/runs/encounter-6g/coverage", altitude_m=90, step_m=500).json()
    loaded = load_scenario(ENCOUNTER, list(SIXG[1::2]))
    network = loaded.spec.comms.network()
    bounds = loaded.region.grid.bounds_xy_m
    x, _, ul, dl = sinr_map(network, bounds, 90.0, step_m=500.0, sites=network.channel.sites(bounds))
    assert cov["x_edges_m"] == x.round(1).tolist()
    assert np.allclose(cov["dl_sinr_db"], dl, atol=0.051) and np.allclose(cov["ul_sinr_db"], ul, atol=0.051)


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/replay/v1/runs/encounter/coverage", {}, 404, "no radio network"),
        ("/replay/v1/runs/encounter-6g/coverage", {"altitude_m": -5}, 400, "altitude_m"),
        ("/replay/v1/runs/encounter-6g/coverage", {"step_m": 1}, 400, "step_m"),
        ("/replay/v1/runs/encounter/flights/99", {"t": 10}, 404, "no flight 99"),
        ("/replay/v1/runs/encounter/flights/0", {"t": "nan"}, 400, "t: must be a finite"),
        ("/replay/v1/runs/encounter/links", {"t0": 0, "t1": 5000}, 400, "at most 600 s"),
        ("/replay/v1/runs/encounter/frames", {"t0": 10, "t1": 5, "format": "bin"}, 400, "t1: must be >= t0"),
        ("/replay/v1/runs/encounter/frames", {"t0": 0, "t1": 5, "format": "bin", "stride": 0}, 400, "stride"),
        ("/replay/v1/runs/nothing/map", {}, 404, "no such run"),
    ],
)
def test_bad_map_requests_are_refused_by_name(replay, path, params, status, says):
    answer = replay(path, **params)
    assert answer.status_code == status and says in answer.text


def test_map_routes_need_their_scopes(replay, runs_server):
    assert replay("/replay/v1/runs/encounter/map", scope="utm6g.live.read").status_code == 403
    assert replay("/live/v1/map", scope=REPLAY).status_code == 403
    assert httpx.get(f"{runs_server.url}/replay/v1/runs/encounter/map").status_code == 401


def test_the_page_is_served_without_a_token_and_kept_on_its_origin(runs_server):
    page = httpx.get(f"{runs_server.url}/", timeout=10.0)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy and "http" not in policy
    script = httpx.get(f"{runs_server.url}/web/js/main.js", timeout=10.0)
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def test_a_tile_server_is_the_only_other_origin_allowed():
    policy = content_security_policy("https://tiles.example.org/{z}/{x}/{y}.png")
    assert "img-src 'self' data: blob: https://tiles.example.org;" in policy
    assert policy.count("https://") == 1
