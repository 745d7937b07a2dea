"""/replay/v1 on a real ``utm6g serve --runs``: a simulated and a recorded run, read with the replay scope."""

from __future__ import annotations

from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from api.cli import main

ROOT = Path(__file__).resolve().parents[2]
ENCOUNTER = ROOT / "scenarios" / "shenzhen-nanshan" / "encounter.yaml"
REPLAY = "utm6g.replay.read"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """runs/encounter (the head-on encounter simulated) and runs/empty-folder (not a run)."""
    root = tmp_path_factory.mktemp("runs")
    assert main(["simulate", str(ENCOUNTER), "--out", str(root / "encounter"), "--quiet"]) == 0
    (root / "empty-folder").mkdir()
    return root


def test_runs_are_listed_and_described(replay):
    listed = replay("/replay/v1/runs")
    assert listed.status_code == 200
    assert listed.json()["runs"] == [
        {
            "run": "encounter",
            "scenario": "shenzhen-nanshan-encounter",
            "comms_profile": "ideal",
            "seed": 11,
            "flights": 2,
            "los": 1,
            "sealed": True,
        }
    ]
    detail = replay("/replay/v1/runs/encounter").json()
    assert (detail["t_min_s"], detail["t_max_s"]) == (0.0, 198.0)
    assert detail["separation"]["horizontal_m"] == 50.0 and len(detail["manifest_head"]) == 64
    assert detail["metrics"]["nmac"]["count"] == 1


def test_frames_are_columnar_and_match_the_closed_form(replay):
    frames = replay("/replay/v1/runs/encounter/frames", t0=100, t1=101).json()
    assert frames["t_s"] == [100.0, 100.0, 101.0, 101.0] and frames["flight"] == [0, 1, 0, 1]
    assert frames["x_m"] == [0.0, 5.0, 10.0, -5.0]  # -1000 + 10 t and 1005 - 10 t
    assert frames["y_m"] == [0.0, 20.0, 0.0, 20.0] and frames["z_m"] == [60.0] * 4
    assert frames["heading_deg"] == [90.0, 270.0, 90.0, 270.0] and frames["speed_mps"] == [10.0] * 4
    assert frames["modes"][frames["mode"][0]] == "nominal"


def test_frames_as_an_arrow_stream(replay):
    answer = replay("/replay/v1/runs/encounter/frames", t0=0, t1=600, format="arrow")
    assert answer.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(answer.content).read_all()
    assert table.num_rows == 2 * 199 and table.column_names[:2] == ["t_s", "flight"]


def test_incidents_of_a_run(replay):
    body = replay("/replay/v1/runs/encounter/incidents").json()
    (incident,) = body["incidents"]
    assert incident["id"] == "I0001" and incident["closest_s"] == pytest.approx(100.25, abs=1e-3)


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/replay/v1/runs/encounter/frames", {"t0": 10, "t1": 5}, 400, "t1: must be >= t0 (got t0=10, t1=5)"),
        (
            "/replay/v1/runs/encounter/frames",
            {"t0": 0, "t1": 700},
            400,
            "t1: the window may span at most 600 s",
        ),
        ("/replay/v1/runs/encounter/frames", {"t0": "nan", "t1": 5}, 400, "t0: must be a finite number"),
        ("/replay/v1/runs/encounter/frames", {"t1": 5}, 400, "t0"),
        ("/replay/v1/runs/nope", {}, 404, "run 'nope': no such run"),
        ("/replay/v1/runs/empty-folder/incidents", {}, 404, "run 'empty-folder': no such run"),
        ("/replay/v1/runs/..%2F..%2Fetc", {}, 404, ""),
    ],
    ids=["reversed", "too-wide", "nan", "missing-t0", "unknown-run", "not-a-run", "traversal"],
)
def test_bad_requests_are_named(replay, path, params, status, message):
    answer = replay(path, **params)
    assert answer.status_code == status
    assert message in answer.text


def test_the_replay_scope_is_required(replay, runs_server):
    assert httpx.get(f"{runs_server.url}/replay/v1/runs", timeout=10.0).status_code == 401
    answer = replay("/replay/v1/runs", scope="utm.strategic_coordination")
    assert answer.status_code == 403 and "missing scope: this needs utm6g.replay.read" in answer.text


def test_a_server_without_runs_says_how_to_serve_them(server, mint):
    answer = httpx.get(
        f"{server.url}/replay/v1/runs", headers={"Authorization": f"Bearer {mint('r', scopes=REPLAY)}"}
    )
    assert answer.status_code == 404 and "utm6g serve --runs DIR" in answer.text
