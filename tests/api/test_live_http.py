"""/live/v1 on real servers: the operator service's intents and telemetry as they are committed, and a
simulation's frames under ``utm6g simulate --live``, each read off the Server-Sent Events stream."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from airspace.region import load_region
from sim.eventlog import read_log

ROOT = Path(__file__).resolve().parents[2]
ENCOUNTER = ROOT / "scenarios" / "shenzhen-nanshan" / "encounter.yaml"
LIVE = "utm6g.live.read"


class Stream:
    """Events of one SSE stream, read on a thread: ``next(name)`` waits for the next event of that name."""

    def __init__(self, url: str, token: str) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(url, token), daemon=True)
        self._thread.start()

    def _read(self, url: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        try:
            with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(60.0, read=None)) as answer:
                self.events.put(("status", answer.status_code))
                name = None
                for line in answer.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        self.events.put((name, json.loads(line[6:])))
        except httpx.TransportError as err:  # the server went away (the test stops it)
            self.events.put(("closed", str(err)))

    def next(self, name: str, timeout_s: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            got, data = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if got == name:
                return data


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_service_streams_intents_and_telemetry_as_committed(server, mint, wire):
    stream = Stream(f"{server.url}/live/v1/stream", mint("ops-room", scopes=LIVE))
    assert stream.next("status") == 200 and stream.next("hello")["source"] == "service"
    operator = mint("skyport")
    start = datetime.now(UTC) + timedelta(seconds=30)
    body = wire.plan_body(wire.square(wire.OPEN_LAT, wire.OPEN_LNG, 200.0), start, minutes=20)
    url = f"{server.url}/utm/v1/operational_intents/{'8a3c4f3e-4b5a-4e1f-9c2d-000000000001'}"
    created = httpx.put(url, json=body, headers=_h(operator), timeout=30.0)
    assert created.status_code == 201, created.text
    intent = stream.next("intent")
    assert intent["id"].endswith("000000000001") and intent["state"] == "Accepted"
    assert intent["manager"] == "skyport" and len(intent["volumes"]) == 1
    outline = np.array(intent["volumes"][0]["outline_m"])
    assert np.ptp(outline[:, 0]) == pytest.approx(200.0, abs=1.0)  # a 200 m square, in local metres

    ovn = created.json()["operational_intent"]["reference"]["ovn"]
    active = {
        **body,
        "state": "Activated",
        "volumes": [
            wire.volume(
                wire.square(wire.OPEN_LAT, wire.OPEN_LNG, 200.0),
                datetime.now(UTC) - timedelta(seconds=5),
                start + timedelta(minutes=20),
            )
        ],
    }
    assert httpx.put(f"{url}/{ovn}", json=active, headers=_h(operator), timeout=30.0).status_code == 200
    assert stream.next("intent")["state"] == "Activated"
    frame = load_region(ROOT / "scenarios" / "shenzhen-nanshan" / "region.yaml").frame
    x, y, _ = frame.to_local(wire.OPEN_LNG, wire.OPEN_LAT)
    lon, lat, h = frame.to_geodetic(x + 20.0, y, 520.0)
    report = {
        "time_measured": wire.time(datetime.now(UTC)),
        "position": {
            "lat": float(lat),
            "lng": float(lon),
            "altitude": {"value": float(h), "reference": "W84", "units": "M"},
        },
        "velocity": {"speed": 10.0, "track": 90.0},
    }
    assert httpx.post(f"{url}/telemetry", json=report, headers=_h(operator), timeout=30.0).status_code == 200
    seen = stream.next("telemetry")
    assert seen["x_m"] == pytest.approx(float(x) + 20.0, abs=0.05) and seen["vx_mps"] == pytest.approx(10.0)
    assert seen["state"] == "Activated"

    late = Stream(f"{server.url}/live/v1/stream", mint("ops-room", scopes=LIVE))  # joins after: a snapshot
    assert late.next("intent")["id"] == intent["id"] and late.next("telemetry")["x_m"] == seen["x_m"]
    ovn = httpx.get(url, headers=_h(operator), timeout=30.0).json()["operational_intent"]["reference"]["ovn"]
    assert httpx.delete(f"{url}/{ovn}", headers=_h(operator), timeout=30.0).status_code == 200
    assert stream.next("intent_ended") == {"id": intent["id"]}


def test_the_live_stream_needs_its_scope(server, mint):
    answer = httpx.get(
        f"{server.url}/live/v1/stream", headers=_h(mint("ops-room", scopes="utm6g.replay.read"))
    )
    assert answer.status_code == 403


def test_a_live_simulation_streams_the_states_it_logs(tmp_path):
    cmd = [sys.executable, "-m", "api.cli", "simulate", str(ENCOUNTER), "--out", str(tmp_path / "run")]
    cmd += ["--live", "--no-browser", "--pace", "40"]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline()
        url = re.search(r"(http://\S+)/#live&token=(\S+)", line)
        assert url is not None, line + process.stdout.read(2000)
        stream = Stream(f"{url[1]}/live/v1/stream", url[2])
        assert stream.next("hello")["source"] == "simulation"
        layers = httpx.get(f"{url[1]}/live/v1/map", headers=_h(url[2]), timeout=30.0).json()
        assert layers["region"] == "Shenzhen-Nanshan" and layers["t_max_s"] == 240.0  # the duration
        frames = []
        while True:
            name, data = stream.events.get(timeout=60.0)
            if name == "end":
                break
            if name == "frame":
                frames.append(data)
        assert len(frames) > 50  # joined within the first seconds of a 5 s paced run
        states = read_log(tmp_path / "run" / "log").states
        for frame in frames[:: max(1, len(frames) // 10)]:
            at = states.filter(np.equal(states["t_s"].to_numpy(), frame["t_s"])).sort_by("flight")
            assert frame["flight"] == sorted(frame["flight"]) == at["flight"].to_pylist()
            assert frame["x_m"] == np.round(at["x_m"].to_numpy().astype(float), 1).tolist()
    finally:
        process.kill()
        process.wait(10)


def test_live_flags_need_live(capsys):
    from api.cli import main

    assert main(["simulate", str(ENCOUNTER), "--port", "8123"]) == 2
    assert "--port: only with --live" in capsys.readouterr().err
