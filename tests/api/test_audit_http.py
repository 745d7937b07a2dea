"""/audit/v1/decisions on a real ``utm6g serve``: the audit trail as regulators read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

AUDIT = "utm6g.audit.read"
FIRST, SECOND = "5d1f0a52-7c1e-4d3b-8f00-00000000a001", "5d1f0a52-7c1e-4d3b-8f00-00000000a002"


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_decisions_are_read_back_with_their_reasons(server, mint, wire):
    start = datetime.now(UTC) + timedelta(hours=3)
    body = wire.plan_body(wire.square(wire.OPEN_LAT + 0.01, wire.OPEN_LNG, 300.0), start)
    plans = f"{server.url}/utm/v1/operational_intents"
    assert httpx.put(f"{plans}/{FIRST}", json=body, headers=_h(mint("alpha")), timeout=30).status_code == 201
    assert httpx.put(f"{plans}/{SECOND}", json=body, headers=_h(mint("bravo")), timeout=30).status_code == 409
    audit = httpx.get(f"{server.url}/audit/v1/decisions", headers=_h(mint("caa", scopes=AUDIT)), timeout=30)
    assert audit.status_code == 200
    rows = {r["entity_id"]: r for r in audit.json()["decisions"] if r["entity_id"] in (FIRST, SECOND)}
    assert (rows[FIRST]["actor"], rows[FIRST]["action"], rows[FIRST]["result"]) == (
        "alpha",
        "create",
        "accepted",
    )
    assert (rows[SECOND]["actor"], rows[SECOND]["result"], rows[SECOND]["reason"]) == (
        "bravo",
        "rejected",
        "conflict",
    )
    assert rows[SECOND]["conflicting_ids"] == [FIRST]
    one = httpx.get(
        f"{server.url}/audit/v1/decisions",
        params={"entity_id": SECOND, "limit": 5},
        headers=_h(mint("caa", scopes=AUDIT)),
        timeout=30,
    ).json()["decisions"]
    assert [r["entity_id"] for r in one] == [SECOND]


def test_the_audit_trail_needs_its_scope_and_a_sane_limit(server, mint):
    url = f"{server.url}/audit/v1/decisions"
    assert httpx.get(url, headers=_h(mint("alpha")), timeout=30).status_code == 403
    assert httpx.get(url, timeout=30).status_code == 401
    bad = httpx.get(url, params={"limit": 0}, headers=_h(mint("caa", scopes=AUDIT)), timeout=30)
    assert bad.status_code == 400 and "limit" in bad.json()["message"]
