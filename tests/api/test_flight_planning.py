"""InterUSS flight_planning v1 adapter (api/routes/flight_planning.py) through create_app: STANDARDS.md §2.1.

Each test gets its own app, temporary database and fixed clock (``T0``). The oracle of each answer is the
(planning_result, flight_plan_status) table of STANDARDS.md §2.1, and of each effect the operator API's
``GET /utm/v1/operational_intents/{id}``. Plans sit in open airspace above every layer (no cell capacity),
except where a test needs a zone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import mint_token
from api.routes.flight_planning import RequestLedger
from api.settings import Settings

AUD = "localhost"
PLAN = "interuss.flight_planning.plan"
TEST = "interuss.flight_planning.direct_automated_test"
OPERATOR = "utm.strategic_coordination"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
OPEN = (22.545, 113.96)  # centre of Shenzhen-Nanshan: no geozone
FTMANG = (22.521, 114.01)  # inside the CONDITIONAL Futian Mangrove zone (0-120 m AGL)
HIGH_W84_M = (502.0, 540.0)  # above every layer of the region
BASE = "/flight_planning/v1"


@pytest.fixture(scope="module")
def keys(dev_keys) -> Path:
    """The folder of the session's dev key pair (private.pem, public.pem)."""
    return dev_keys[0].parent


@pytest.fixture(scope="module")
def token(keys):
    """``token(sub, scopes)``: bearer headers, minted once per (sub, scopes)."""
    cache: dict[tuple[str, str], dict[str, str]] = {}

    def headers(sub: str = "uss1", scopes: str = PLAN) -> dict[str, str]:
        if (sub, scopes) not in cache:
            jwt = mint_token(keys / "private.pem", sub=sub, scopes=scopes, audience=AUD)
            cache[sub, scopes] = {"Authorization": f"Bearer {jwt}"}
        return cache[sub, scopes]

    return headers


@pytest.fixture
def clock() -> list[datetime]:
    return [T0]


@pytest.fixture
def app(keys, tmp_path, clock, monkeypatch):
    for name in [n for n in os.environ if n.upper().startswith("UTM6G_")]:
        monkeypatch.delenv(name)
    settings = Settings(db_path=tmp_path / "utm6g.sqlite", audience=AUD, jwt_public_key=keys / "public.pem")
    return create_app(settings, clock=lambda: clock[0])


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    yield TestClient(app)  # no lifespan: no conformance ticker runs behind the fixed clock


def area(
    center: tuple[float, float] = OPEN,
    *,
    half_deg: float = 0.001,
    start: datetime = T0 - timedelta(minutes=1),
    minutes: float = 20.0,
    altitude_m: tuple[float, float] = HIGH_W84_M,
    reference: str = "W84",
) -> dict[str, Any]:
    """A flight_planning Volume4D: a lat/lng square around ``center``."""
    lat, lng = center
    corners = [(lat - half_deg, lng - half_deg), (lat - half_deg, lng + half_deg)]
    corners += [(lat + half_deg, lng + half_deg), (lat + half_deg, lng - half_deg)]
    return {
        "volume": {
            "outline_polygon": {"vertices": [{"lat": a, "lng": b} for a, b in corners]},
            "altitude_lower": {"value": altitude_m[0], "reference": reference, "units": "M"},
            "altitude_upper": {"value": altitude_m[1], "reference": reference, "units": "M"},
        },
        "time_start": {"value": _z(start), "format": "RFC3339"},
        "time_end": {"value": _z(start + timedelta(minutes=minutes)), "format": "RFC3339"},
    }


def _z(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def body(
    volumes: list[dict] | None = None,
    *,
    usage: str = "Planned",
    uas: str | None = None,
    priority: int = 0,
    style: str = "IfAllowed",
    request_id: str | None = None,
) -> dict[str, Any]:
    """A v0.7.0 UpsertFlightPlanRequest (``uas_state`` left out unless given)."""
    basic: dict[str, Any] = {"usage_state": usage, "area": [area()] if volumes is None else volumes}
    if uas is not None:
        basic["uas_state"] = uas
    return {
        "flight_plan": {"basic_information": basic, "astm_f3548_21": {"priority": priority}},
        "execution_style": style,
        "request_id": request_id or str(uuid4()),
    }


def put(client, plan_id, payload, headers) -> dict[str, Any]:
    response = client.put(f"{BASE}/flight_plans/{plan_id}", json=payload, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def outcome(answer: dict[str, Any]) -> tuple[str, str]:
    return answer["planning_result"], answer["flight_plan_status"]


def intent(client, plan_id, token) -> dict[str, Any] | None:
    """The operational intent the operator API shows for ``plan_id`` (None when not live)."""
    response = client.get(f"/utm/v1/operational_intents/{plan_id}", headers=token("reader", OPERATOR))
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return response.json()["operational_intent"]


# --- status and scopes -------------------------------------------------------------------------------


def test_status_is_ready_for_the_test_director(client, token):
    response = client.get(f"{BASE}/status", headers=token(scopes=TEST))
    assert response.status_code == 200
    assert response.json() == {
        "status": "Ready",
        "api_name": "Flight Planning Automated Testing Interface",
        "api_version": "v0.7.0",
    }


def test_status_needs_the_direct_automated_test_scope(client, token):
    assert client.get(f"{BASE}/status").status_code == 401
    assert client.get(f"{BASE}/status", headers=token(scopes=PLAN)).status_code == 403


def test_upsert_needs_the_plan_scope(client, token):
    plan_id = uuid4()
    response = client.put(f"{BASE}/flight_plans/{plan_id}", json=body(), headers=token(scopes=TEST))
    assert response.status_code == 403
    assert intent(client, plan_id, token) is None


# --- the (planning_result, flight_plan_status) pairs of STANDARDS.md §2.1 ----------------------------------


def test_plan_ok_is_completed_planned_and_the_intent_carries_the_plan_id(client, token):
    plan_id = uuid4()
    answer = put(client, plan_id, body(priority=7), token())
    assert outcome(answer) == ("Completed", "Planned")
    assert answer["includes_advisories"] == "NoAdvisoriesOrConditions"
    oi = intent(client, plan_id, token)
    assert oi["reference"]["id"] == str(plan_id)
    assert oi["reference"]["state"] == "Accepted"
    assert oi["reference"]["manager"] == "uss1"  # the token's sub manages what it plans
    assert oi["details"]["priority"] == 7
    assert oi["reference"]["uss_base_url"] == "http://testserver"


def test_activate_ok_is_completed_oktofly(client, token):
    plan_id = uuid4()
    put(client, plan_id, body(), token())
    answer = put(client, plan_id, body(usage="InUse", uas="Nominal"), token())
    assert outcome(answer) == ("Completed", "OkToFly")
    oi = intent(client, plan_id, token)
    assert (oi["reference"]["state"], oi["reference"]["version"]) == ("Activated", 2)


def test_modify_planned_is_completed_planned_and_modify_activated_completed_oktofly(client, token):
    planned, flying = uuid4(), uuid4()
    put(client, planned, body(), token())
    answer = put(client, planned, body([area(minutes=30)]), token())
    assert outcome(answer) == ("Completed", "Planned")
    assert intent(client, planned, token)["reference"]["version"] == 2

    put(client, flying, body([area((22.55, 113.96))], usage="InUse", uas="Nominal"), token())
    answer = put(client, flying, body([area((22.55, 113.96), minutes=40)], usage="InUse"), token())
    assert outcome(answer) == ("Completed", "OkToFly")
    assert intent(client, flying, token)["reference"]["version"] == 2


def test_plan_into_conflict_is_rejected_notplanned(client, token):
    """F3548 SCD0015 via the interface: a lower priority may not plan over a higher one."""
    put(client, uuid4(), body(priority=100), token("uss2"))
    plan_id = uuid4()
    answer = put(client, plan_id, body(priority=0), token())
    assert outcome(answer) == ("Rejected", "NotPlanned")
    assert "conflict" in answer["notes"]
    assert intent(client, plan_id, token) is None


def test_equal_priority_plan_into_conflict_is_rejected_notplanned(client, token):
    """F3548 SCD0035: equal priority may not conflict (default policy)."""
    put(client, uuid4(), body(usage="InUse"), token("uss2"))
    assert outcome(put(client, uuid4(), body(), token())) == ("Rejected", "NotPlanned")


def test_modify_planned_into_conflict_is_rejected_planned_and_keeps_the_old_plan(client, token):
    plan_id = uuid4()
    put(client, plan_id, body(), token())
    put(client, uuid4(), body([area((22.56, 113.96))], priority=100), token("uss2"))
    answer = put(client, plan_id, body([area((22.56, 113.96))]), token())
    assert outcome(answer) == ("Rejected", "Planned")
    oi = intent(client, plan_id, token)
    assert oi["reference"]["version"] == 1
    assert oi["details"]["volumes"][0]["volume"]["outline_polygon"]["vertices"][0]["lat"] == pytest.approx(
        22.544
    )


def test_activate_into_conflict_is_rejected_with_the_status_of_the_plan_it_had(client, token):
    """A planned flight stays Planned; one never planned stays NotPlanned (STANDARDS.md §2.1)."""
    plan_id = uuid4()
    put(client, plan_id, body(), token())
    put(client, uuid4(), body(priority=100), token("uss2"))  # a higher priority may overlap it
    answer = put(client, plan_id, body(usage="InUse", uas="Nominal"), token())
    assert outcome(answer) == ("Rejected", "Planned")
    assert intent(client, plan_id, token)["reference"]["state"] == "Accepted"

    never_planned = uuid4()
    answer = put(client, never_planned, body(usage="InUse", uas="Nominal"), token())
    assert outcome(answer) == ("Rejected", "NotPlanned")
    assert intent(client, never_planned, token) is None


def test_modify_activated_into_conflict_is_rejected_oktofly_and_it_flies_on_its_old_plan(client, token):
    """F3548 SCD0025/SCD0045: the flight must keep flying on its old version."""
    plan_id = uuid4()
    put(client, plan_id, body(usage="InUse", uas="Nominal"), token())
    before = intent(client, plan_id, token)
    put(client, uuid4(), body([area((22.56, 113.96))], usage="InUse", priority=100), token("uss2"))
    answer = put(client, plan_id, body([area((22.56, 113.96))], usage="InUse", uas="Nominal"), token())
    assert outcome(answer) == ("Rejected", "OkToFly")
    assert intent(client, plan_id, token) == before


def test_activated_flight_with_a_pre_existing_conflict_may_be_modified(client, token):
    """F3548 SCD0030: a conflict an Activated flight already had does not block its modification."""
    plan_id = uuid4()
    put(client, plan_id, body(usage="InUse"), token())
    put(client, uuid4(), body(usage="InUse", priority=100), token("uss2"))
    answer = put(client, plan_id, body([area(minutes=25)], usage="InUse"), token())
    assert outcome(answer) == ("Completed", "OkToFly")


@pytest.mark.parametrize(
    ("name", "start", "needle"),
    [
        ("invalid_too_far_away", T0 + timedelta(days=31), "OPIN0030"),
        ("invalid_recently_ended", T0 - timedelta(hours=1), "OPIN0040"),
    ],
)
def test_invalid_plans_are_rejected_not_failed(client, token, name, start, needle):
    """uss_qualifier FlightIntentValidation: the USS rejects them; notes name the field and the rule."""
    plan_id = uuid4()
    answer = put(client, plan_id, body([area(start=start, minutes=20)]), token())
    assert outcome(answer) == ("Rejected", "NotPlanned")
    assert needle in answer["notes"]
    assert answer["notes"].startswith("flight_plan.basic_information.area[0].time_")
    assert intent(client, plan_id, token) is None


def test_an_invalid_modification_is_rejected_with_the_current_status(client, token):
    plan_id = uuid4()
    put(client, plan_id, body(), token())
    answer = put(client, plan_id, body(priority=101), token())  # policy bounds ]-1, 100]
    assert outcome(answer) == ("Rejected", "Planned")
    assert answer["notes"].startswith("flight_plan.astm_f3548_21.priority: ")


def test_conditional_zone_gives_an_advisory(client, token):
    """A plan in a CONDITIONAL zone is accepted with at least one advisory; open airspace has none."""
    answer = put(client, uuid4(), body([area(FTMANG, altitude_m=(52.0, 82.0))]), token())
    assert outcome(answer) == ("Completed", "Planned")
    assert answer["includes_advisories"] == "AtLeastOneAdvisoryOrCondition"
    assert answer["notes"].startswith("geofence_condition FTMANG: ")


# --- usage_state / uas_state mapping -----------------------------------------------------------------------


def test_off_nominal_and_contingent_map_to_nonconforming_and_contingent(client, token):
    plan_id = uuid4()
    put(client, plan_id, body(usage="InUse", uas="Nominal"), token())
    nominal = intent(client, plan_id, token)["details"]["volumes"]
    wider = area(half_deg=0.002)
    answer = put(client, plan_id, body([wider], usage="InUse", uas="OffNominal"), token())
    assert outcome(answer) == ("Completed", "OffNominal")
    oi = intent(client, plan_id, token)
    assert oi["reference"]["state"] == "Nonconforming"
    assert oi["details"]["volumes"] == nominal  # the plan it had; the area is where it is now
    assert len(oi["details"]["off_nominal_volumes"]) == 1

    answer = put(client, plan_id, body([wider], usage="InUse", uas="Contingent"), token())
    assert outcome(answer) == ("Completed", "OffNominal")
    oi = intent(client, plan_id, token)
    assert (oi["reference"]["state"], oi["details"]["volumes"]) == ("Contingent", [])


def test_off_nominal_without_a_flight_is_rejected_notplanned(client, token):
    """F3548 transitions: nothing -> Nonconforming is not allowed."""
    answer = put(client, uuid4(), body(usage="InUse", uas="OffNominal"), token())
    assert outcome(answer) == ("Rejected", "NotPlanned")
    assert "Nonconforming" in answer["notes"]


def test_closed_usage_state_ends_the_intent(client, token):
    plan_id = uuid4()
    put(client, plan_id, body(), token())
    assert outcome(put(client, plan_id, body(usage="Closed"), token())) == ("Completed", "Closed")
    assert intent(client, plan_id, token) is None
    assert outcome(put(client, uuid4(), body(usage="Closed"), token())) == ("Completed", "Closed")


def test_a_plan_id_another_user_manages_is_rejected_and_untouched(client, token):
    plan_id = uuid4()
    put(client, plan_id, body(), token("uss2"))
    answer = put(client, plan_id, body([area(minutes=30)]), token())
    assert outcome(answer) == ("Rejected", "NotPlanned")
    assert intent(client, plan_id, token)["reference"]["version"] == 1


def test_hypothetical_execution_is_not_supported_and_changes_nothing(client, token):
    plan_id = uuid4()
    answer = put(client, plan_id, body(style="Hypothetical"), token())
    assert outcome(answer) == ("NotSupported", "NotPlanned")
    assert intent(client, plan_id, token) is None


def test_v050_and_v070_bodies_are_accepted(client, token):
    """v0.5.0: uas_state required, uspace data; v0.7.0: uas_state optional, uas/operator/description."""
    v050 = body(uas="Nominal")
    v050["flight_plan"]["uspace_flight_authorisation"] = {"uas_serial_number": "1AF49UL5CC5J6K"}
    assert outcome(put(client, uuid4(), v050, token())) == ("Completed", "Planned")
    v070 = body([area((22.55, 113.96))], usage="InUse")
    v070["flight_plan"]["basic_information"] |= {
        "description": "delivery",
        "utm_id": "",
        "specific_session_id": "",
    }
    v070["flight_plan"] |= {"uas": {"flight_rules": "VFR"}, "operator": {"operator_id": "OP-1"}}
    plan_id = uuid4()
    assert outcome(put(client, plan_id, v070, token())) == ("Completed", "OkToFly")
    assert intent(client, plan_id, token)["reference"]["state"] == "Activated"


def test_sfc_heights_use_the_region_ground_and_takeoff_is_refused(client, token, app):
    plan_id = uuid4()
    put(client, plan_id, body([area(altitude_m=(500.0, 538.0), reference="SFC")]), token())
    volume = intent(client, plan_id, token)["details"]["volumes"][0]["volume"]
    ground_w84_m = app.state.frame.h0_m  # 5 m AMSL terrain, -3 m geoid undulation
    assert ground_w84_m == pytest.approx(2.0)
    assert volume["altitude_lower"]["value"] == pytest.approx(500.0 + ground_w84_m)
    assert volume["altitude_upper"] == {
        "value": pytest.approx(538.0 + ground_w84_m),
        "reference": "W84",
        "units": "M",
    }
    response = client.put(
        f"{BASE}/flight_plans/{uuid4()}", json=body([area(reference="Takeoff")]), headers=token()
    )
    assert response.status_code == 400
    assert response.json()["field"] == "flight_plan.basic_information.area[0].volume.altitude_lower.reference"
    assert "Takeoff" in response.json()["message"]
    too_high = body([area(altitude_m=(500.0, 99999.0), reference="SFC")])
    response = client.put(f"{BASE}/flight_plans/{uuid4()}", json=too_high, headers=token())
    assert response.status_code == 400
    assert response.json()["field"] == "flight_plan.basic_information.area[0].volume.altitude_upper.value"


# --- request_id --------------------------------------------------------------------------------------------


def test_an_identical_retry_gets_the_same_answer_and_plans_once(client, token):
    plan_id, payload = uuid4(), body(request_id="req-1")
    first = put(client, plan_id, payload, token())
    assert put(client, plan_id, payload, token()) == first
    assert intent(client, plan_id, token)["reference"]["version"] == 1


def test_a_request_id_reused_for_another_request_is_409(client, token):
    plan_id = uuid4()
    put(client, plan_id, body(request_id="req-2"), token())
    response = client.put(
        f"{BASE}/flight_plans/{plan_id}", json=body([area(minutes=30)], request_id="req-2"), headers=token()
    )
    assert response.status_code == 409
    assert "req-2" in response.json()["message"]
    other = client.put(f"{BASE}/flight_plans/{uuid4()}", json=body(request_id="req-2"), headers=token())
    assert other.status_code == 409


def test_a_request_that_failed_with_an_http_error_may_be_retried(client, token):
    plan_id, bad = uuid4(), body([area(reference="Takeoff")], request_id="req-3")
    assert client.put(f"{BASE}/flight_plans/{plan_id}", json=bad, headers=token()).status_code == 400
    assert outcome(put(client, plan_id, body(request_id="req-3"), token())) == ("Completed", "Planned")


def test_the_ledger_refuses_a_request_id_still_running_and_forgets_the_oldest():
    ledger = RequestLedger(capacity=2)
    assert ledger.begin(("u", "a"), 1) is None
    with pytest.raises(HTTPException) as running:
        ledger.begin(("u", "a"), 1)
    assert running.value.status_code == 409
    ledger.begin(("u", "b"), 1)
    ledger.begin(("u", "c"), 1)
    assert ledger.begin(("u", "a"), 2) is None  # "a" was forgotten: a new request


# --- DELETE ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", [PLAN, TEST])
def test_delete_accepts_either_scope_and_closes(client, token, scope):
    plan_id = uuid4()
    put(client, plan_id, body(), token())
    response = client.delete(f"{BASE}/flight_plans/{plan_id}", headers=token(scopes=scope))
    assert response.status_code == 200
    assert outcome(response.json()) == ("Completed", "Closed")
    assert intent(client, plan_id, token) is None
    assert client.delete(f"{BASE}/flight_plans/{plan_id}", headers=token(scopes=scope)).status_code == 404


def test_delete_of_an_unknown_plan_is_404_and_of_someone_elses_403(client, token):
    assert client.delete(f"{BASE}/flight_plans/{uuid4()}", headers=token()).status_code == 404
    plan_id = uuid4()
    put(client, plan_id, body(), token("uss2"))
    assert client.delete(f"{BASE}/flight_plans/{plan_id}", headers=token()).status_code == 403
    assert client.delete(f"{BASE}/flight_plans/{plan_id}", headers=token(scopes=OPERATOR)).status_code == 403
    assert intent(client, plan_id, token) is not None


# --- clear area --------------------------------------------------------------------------------------------


def test_clear_area_ends_every_intent_in_the_extent_whoever_manages_it(client, token, app):
    mine, theirs, outside = uuid4(), uuid4(), uuid4()
    put(client, mine, body([area((22.545, 113.96))]), token())
    put(client, theirs, body([area((22.545, 113.965))]), token("uss2"))
    put(client, outside, body([area((22.58, 113.96))]), token())
    extent = area((22.545, 113.9625), half_deg=0.005, minutes=60, altitude_m=(0.0, 1000.0))
    payload = {"request_id": "clear-1", "extent": extent}
    assert client.post(f"{BASE}/clear_area_requests", json=payload, headers=token()).status_code == 403
    response = client.post(f"{BASE}/clear_area_requests", json=payload, headers=token("director", TEST))
    assert response.status_code == 200
    result = response.json()["outcome"]
    assert result["success"] is True
    assert sorted(result["details"]["flight_plans_closed"]) == sorted([str(mine), str(theirs)])
    assert intent(client, mine, token) is None and intent(client, theirs, token) is None
    assert intent(client, outside, token) is not None
    audit = app.state.service.decisions(entity_id=str(theirs))
    assert (audit[-1].actor, audit[-1].action, audit[-1].reason) == ("director", "delete", "clear_area")


# --- user notifications ------------------------------------------------------------------------------------


def test_a_higher_priority_plan_over_mine_notifies_me_of_one_conflict(client, token, clock):
    """F3548 SCD0090/SCD0095 as uss_qualifier reads them through /user_notifications."""
    put(client, uuid4(), body(), token())
    clock[0] = T0 + timedelta(seconds=10)
    put(client, uuid4(), body(priority=100), token("uss2"))
    response = client.get(
        f"{BASE}/user_notifications", params={"after": _z(T0 + timedelta(seconds=5))}, headers=token()
    )
    assert response.status_code == 200
    notes = response.json()["user_notifications"]
    assert [(n["observed_at"]["value"], n["conflicts"]) for n in notes] == [(_z(clock[0]), "Single")]
    later = {"after": _z(T0 + timedelta(seconds=11)), "before": _z(T0 + timedelta(minutes=1))}
    assert client.get(f"{BASE}/user_notifications", params=later, headers=token()).json() == {
        "user_notifications": []
    }


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"after": "yesterday"},
        {"after": "2026-03-02T08:00:00"},
        {"after": _z(T0), "before": _z(T0 - timedelta(seconds=1))},
    ],
    ids=["no-after", "not-a-time", "no-offset", "before-after"],
)
def test_bad_notification_queries_are_400(client, token, params):
    response = client.get(f"{BASE}/user_notifications", params=params, headers=token())
    assert response.status_code == 400, response.text
    assert response.json()["message"]


# --- bad bodies --------------------------------------------------------------------------------------------


def _without(key: str) -> dict:
    payload = body()
    del payload[key]
    return payload


def _with_basic(**changes) -> dict:
    payload = body()
    payload["flight_plan"]["basic_information"] |= changes
    return payload


_BOWTIE = area()
_BOWTIE["volume"]["outline_polygon"]["vertices"][1:3] = _BOWTIE["volume"]["outline_polygon"]["vertices"][
    2:0:-1
]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_without("request_id"), "request_id"),
        (_without("flight_plan"), "flight_plan"),
        ({**body(), "execution_style": "Sometimes"}, "execution_style"),
        (_with_basic(usage_state="Flying"), "flight_plan.basic_information.usage_state"),
        (_with_basic(uas_state="Sleepy"), "flight_plan.basic_information.uas_state"),
        ({**body(), "flight_plan": {"basic_information": {}}}, "flight_plan.basic_information.usage_state"),
        (
            _with_basic(area=[_BOWTIE]),
            "flight_plan.basic_information.area[0].volume.outline_polygon.vertices",
        ),
        (_with_basic(area=[area(altitude_m=(540.0, 502.0))]), "flight_plan.basic_information.area[0]"),
        (_with_basic(area=[area(minutes=-5)]), "flight_plan.basic_information.area[0]"),
        (
            {**body(), "flight_plan": {**body()["flight_plan"], "astm_f3548_21": {"priority": "1"}}},
            "priority",
        ),
        (None, "body"),
        ([], "body"),
    ],
    ids=[
        "no-request-id",
        "no-flight-plan",
        "execution-style",
        "usage-state",
        "uas-state",
        "no-usage-state",
        "bowtie",
        "lower-above-upper",
        "end-before-start",
        "priority-string",
        "empty",
        "array",
    ],
)
def test_bad_bodies_are_400_with_the_field(client, token, payload, field):
    response = client.put(f"{BASE}/flight_plans/{uuid4()}", json=payload, headers=token())
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]


def test_malformed_json_nan_and_bad_ids_are_400(client, token):
    url = f"{BASE}/flight_plans/{uuid4()}"
    headers = token() | {"Content-Type": "application/json"}
    assert client.put(url, content=b"{not json", headers=headers).status_code == 400
    nan = json.dumps(_with_basic(area=[area(altitude_m=(float("nan"), 540.0))]))  # Python writes NaN
    assert "NaN" in nan
    assert client.put(url, content=nan, headers=headers).status_code == 400
    assert client.put(f"{BASE}/flight_plans/not-a-uuid", json=body(), headers=token()).status_code == 400
    assert client.delete(f"{BASE}/flight_plans/not-a-uuid", headers=token()).status_code == 400
    bad_extent = {"request_id": "x", "extent": _BOWTIE}
    response = client.post(f"{BASE}/clear_area_requests", json=bad_extent, headers=token(scopes=TEST))
    assert response.status_code == 400
    assert response.json()["field"].startswith("extent.volume.outline_polygon")
