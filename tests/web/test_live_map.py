"""The web map in live mode (``/#live``): an intent an operator files through the HTTP API, and the telemetry
sent for it, appear on the page within seconds, read off /live/v1/stream with fetch.

Oracle: the intent id the test chose and the local position of the telemetry it sent (the region's frame).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import httpx

from airspace.region import load_region

REGION = Path(__file__).resolve().parents[2] / "scenarios" / "shenzhen-nanshan" / "region.yaml"
LIVE = "utm6g.live.read"
OPERATOR = "utm.strategic_coordination"
OPEN_X_M, OPEN_Y_M = 3085.9, 1661.4  # 22.545 N 113.96 E, open airspace of Shenzhen-Nanshan (tests/api)
ALTITUDE_W84_M = (502.0, 540.0)  # above every cell layer: no capacity rule applies


def rfc3339(t: datetime) -> dict[str, str]:
    return {"value": t.astimezone(UTC).isoformat().replace("+00:00", "Z"), "format": "RFC3339"}


def square_volume(frame, start: datetime, end: datetime, side_m: float = 200.0) -> dict:
    """An F3548 Volume4D: a square around the open point, W84 heights."""
    half = side_m / 2
    xs = [OPEN_X_M - half, OPEN_X_M + half, OPEN_X_M + half, OPEN_X_M - half]
    ys = [OPEN_Y_M - half, OPEN_Y_M - half, OPEN_Y_M + half, OPEN_Y_M + half]
    lon, lat, _ = frame.to_geodetic(xs, ys)
    altitude = [{"value": v, "reference": "W84", "units": "M"} for v in ALTITUDE_W84_M]
    return {
        "volume": {
            "outline_polygon": {
                "vertices": [{"lat": float(a), "lng": float(o)} for a, o in zip(lat, lon, strict=True)]
            },
            "altitude_lower": altitude[0],
            "altitude_upper": altitude[1],
        },
        "time_start": rfc3339(start),
        "time_end": rfc3339(end),
    }


def test_the_live_map_shows_a_filed_intent_and_its_reporting_vehicle(map_page, server, mint):
    """An intent created, activated and reporting after the page opened is drawn, with its vehicle at the
    reported position and the intent's state in the panel."""
    map_page.open(f"{server.url}/#live&token={mint('ops-room', LIVE)}")
    assert map_page.js("utm6g.mode") == "live"
    assert map_page.js("document.getElementById('time-controls').hidden")

    frame = load_region(REGION).frame
    operator = {"Authorization": f"Bearer {mint('skyport', OPERATOR)}"}
    intent_id = str(uuid4())
    url = f"{server.url}/utm/v1/operational_intents/{intent_id}"
    now = datetime.now(UTC)
    body = {
        "state": "Accepted",
        "priority": 0,
        "volumes": [square_volume(frame, now + timedelta(seconds=30), now + timedelta(minutes=20))],
    }
    created = httpx.put(url, json=body, headers=operator, timeout=30.0)
    assert created.status_code == 201, created.text
    map_page.wait(f"utm6g.drawnIntents.includes('{intent_id}')", timeout_s=10.0)

    ovn = created.json()["operational_intent"]["reference"]["ovn"]
    active = body | {
        "state": "Activated",
        "volumes": [square_volume(frame, now - timedelta(seconds=5), now + timedelta(minutes=20))],
    }
    assert httpx.put(f"{url}/{ovn}", json=active, headers=operator, timeout=30.0).status_code == 200
    lon, lat, h = frame.to_geodetic(OPEN_X_M + 20.0, OPEN_Y_M, 520.0)
    report = {
        "time_measured": rfc3339(datetime.now(UTC)),
        "position": {
            "lat": float(lat),
            "lng": float(lon),
            "altitude": {"value": float(h), "reference": "W84", "units": "M"},
        },
        "velocity": {"speed": 0.0, "track": 90.0},
    }
    sent = httpx.post(f"{url}/telemetry", json=report, headers=operator, timeout=30.0)
    assert sent.status_code == 200, sent.text
    map_page.wait(f"utm6g.drawnFlights.includes('{intent_id}')", timeout_s=10.0)

    x, y = map_page.js(f"utm6g.project({OPEN_X_M + 20.0}, {OPEN_Y_M})")
    map_page.page.mouse.click(x, y)
    map_page.wait(f"utm6g.selected === '{intent_id}'")
    map_page.wait("document.getElementById('panel-state').textContent === 'Activated'", timeout_s=5.0)
    assert map_page.text("#panel-intent") == intent_id
    assert map_page.text("#panel-operator") == "skyport"
    assert abs(float(map_page.text("#panel-altitude").removesuffix(" m")) - 520.0) <= 0.5
    assert not map_page.errors
