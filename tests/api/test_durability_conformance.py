"""Conformance clocks survive SIGKILL of a real ``utm6g serve``: the 60 s excursion limit still fires on the
clock it started, not on the restarted server's.

The server runs on the wall clock, so the reports carry their own times: the excursion is stamped
``LEAD_S`` seconds in the past, which brings its 60 s deadline to a few seconds after the restart.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx

URL = "/utm/v1/operational_intents"
AUDIT = "utm6g.audit.read"
LIMIT_S = 60.0  # F3548 MaxRecoverableTimeInNonconformingStateSeconds
LEAD_S = 52.0  # how far back the excursion began when the server is killed
TIMEOUT_S = 30.0


def _report(wire, t: datetime, lat: float, lng: float) -> dict:
    """F3548 VehicleTelemetry at (lat, lng), 520 m W84 (inside the plan's heights), hovering."""
    altitude = {"value": 520.0, "reference": "W84", "units": "M"}
    return {"time_measured": wire.time(t), "position": {"lat": lat, "lng": lng, "altitude": altitude}}


def _state(client: httpx.Client, intent_id: str, headers: dict[str, str]) -> str:
    got = client.get(f"{URL}/{intent_id}", headers=headers)
    assert got.status_code == 200, got.text
    return got.json()["operational_intent"]["reference"]["state"]


def test_a_nonconforming_flight_becomes_contingent_60_s_after_its_excursion_began_across_sigkill(
    start_server, mint, wire, tmp_path
):
    """Issue 3 + ARCHITECTURE.md (an acknowledged write survives a crash): out for more than 60 s ->
    Contingent, counted from the report that went out, although the server was SIGKILLed in between.

    Oracle: the audit row of the Contingent transition, written by the restarted server, names an
    excursion of just over 60 s from the report's own time; a clock that restarted with the server could
    not fire before 60 s after the restart, and one that was lost would never fire.
    """
    db = tmp_path / "timers.sqlite"
    first = start_server(db)
    flyer = wire.bearer(mint("flyer"))
    now = datetime.now(UTC)
    square = wire.square(wire.OPEN_LAT + 0.008, wire.OPEN_LNG, 200.0)
    body = wire.plan_body(square, now - timedelta(minutes=2), minutes=15.0, state="Activated")
    intent_id = str(uuid4())
    plans = httpx.Client(base_url=first.url, timeout=TIMEOUT_S)
    created = plans.put(f"{URL}/{intent_id}", json=body, headers=flyer)
    assert created.status_code == 201, created.text
    out_lat = wire.OPEN_LAT + 0.008 + 0.005  # ~550 m north of the square
    went_out = now - timedelta(seconds=LEAD_S)
    for t in (went_out, now):  # out, then still out (inside its off-nominal circle): no silence either
        sent = plans.post(
            f"{URL}/{intent_id}/telemetry", json=_report(wire, t, out_lat, wire.OPEN_LNG), headers=flyer
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["operational_intent"]["reference"]["state"] == "Nonconforming"
    plans.close()
    first.kill()  # SIGKILL: no shutdown handler runs

    second = start_server(db)
    ready = datetime.now(UTC)
    due = went_out + timedelta(seconds=LIMIT_S)
    with httpx.Client(base_url=second.url, timeout=TIMEOUT_S) as client:
        state = _state(client, intent_id, flyer)
        if datetime.now(UTC) < due - timedelta(seconds=1):  # back before the deadline: nothing fired early
            assert state == "Nonconforming"
        deadline = time.monotonic() + max(0.0, (due - datetime.now(UTC)).total_seconds()) + 10.0
        while state != "Contingent" and time.monotonic() < deadline:
            time.sleep(0.2)
            state = _state(client, intent_id, flyer)
        assert state == "Contingent"
        audit = client.get(
            "/audit/v1/decisions",
            params={"entity_id": intent_id},
            headers=wire.bearer(mint("caa", scopes=AUDIT)),
        )
    last = audit.json()["decisions"][-1]
    assert (last["actor"], last["action"]) == ("conformance-monitor", "conformance")
    elapsed_s = float(last["reason"].removeprefix("nonconforming for ").split(" s ")[0])
    latest_s = max(LIMIT_S, (ready - went_out).total_seconds()) + 2.5  # ticks run once a second
    assert LIMIT_S <= elapsed_s <= latest_s, last["reason"]  # printed to 0.1 s; strictly later: below
    assert datetime.fromisoformat(last["time"]) > due
