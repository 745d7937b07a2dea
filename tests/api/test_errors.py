"""api.errors: every bad input is a 400 naming the field and the reason (never 422, never 500), and each
domain or auth exception maps to its status and body.

The client re-raises any exception that reaches the 500 handler, so a bad-input case that crashed would
fail here rather than answer 500; the 500 mapping itself is tested with a client that does not re-raise.
"""

import copy
import json
import logging
import math
from datetime import UTC, datetime, timedelta
from uuid import UUID

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airspace.errors import InvalidVolume
from airspace.frames import LocalFrame
from airspace.volumes import Volume3D
from airspace.volumes import Volume4D as DomainVolume4D
from api.auth import Forbidden, Unauthorized
from api.errors import field_path, install_error_handlers
from api.schemas import ErrorResponse, PutOperationalIntentRequest, QueryRequest, Volume4D
from api.telemetry_schemas import TelemetryRequest
from tests.api.support import json_paths, with_value
from utm.decisions import Alternative, Conflict
from utm.errors import (
    AreaTooLarge,
    InvalidRequest,
    InvalidTransition,
    NotFound,
    NotManager,
    PlanRejected,
    StaleOvn,
)

FRAME = LocalFrame(22.53, 113.93, 0.0)
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
URL = "/utm/v1/operational_intents/2f8343be-6482-4d1b-a474-16847e01af1e"
QUERY = "/utm/v1/operational_intents/query"


def _volume(x0_m: float = 0.0, start_min: float = 0.0) -> DomainVolume4D:
    square = [(x0_m, 0.0), (x0_m + 100.0, 0.0), (x0_m + 100.0, 100.0), (x0_m, 100.0)]
    volume = Volume3D.polygon(square, z_lower_m=10.0, z_upper_m=60.0)
    return DomainVolume4D(volume, T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=start_min + 10))


def put_body() -> dict:
    return {"state": "Accepted", "priority": 0, "volumes": [Volume4D.of(_volume(), FRAME).model_dump()]}


EXCEPTIONS = {
    "invalid": InvalidRequest("priority", "must be in ]-1, 100] (101)"),
    "transition": InvalidTransition("state", "cannot go from Contingent to Activated"),
    "volume": InvalidVolume("volumes[0].volume.altitude_lower", "must be below altitude_upper"),
    "area": AreaTooLarge("area_of_interest", "3100 km2 is over the 2500 km2 maximum"),
    "not_found": NotFound("operational intent 7 not found"),
    "not_manager": NotManager("managed by uss2"),
    "forbidden": Forbidden("missing scope utm.strategic_coordination"),
    "unauthorized": Unauthorized("token expired"),
    "stale": StaleOvn("ovn abc is not the current one"),
    "rejected": PlanRejected(
        "conflict",
        "overlaps 1 intent",
        [Conflict("intent", "7", T0, T0 + timedelta(minutes=10), "higher priority")],
        [Alternative("time_shift", (_volume(start_min=30),), "start 30 min later")],
    ),
    "bug": RuntimeError("secret internal detail"),
}


def make_app() -> FastAPI:
    app = FastAPI()
    app.state.frame = FRAME
    install_error_handlers(app)

    @app.put("/utm/v1/operational_intents/{entity_id}")
    def put_intent(entity_id: UUID, body: PutOperationalIntentRequest) -> dict:
        request = body.to_domain(app.state.frame)
        return {
            "volumes": len(request.volumes),
            "vertices": sum(v.volume.vertex_count for v in request.volumes),
        }

    @app.post("/utm/v1/operational_intents/query")
    def query(body: QueryRequest) -> dict:
        return {"box": [str(b) for b in body.to_domain(app.state.frame).box]}

    @app.post("/utm/v1/operational_intents/{entity_id}/telemetry")
    def telemetry(entity_id: UUID, body: TelemetryRequest) -> dict:
        return {"z_m": body.to_domain(app.state.frame, intent_id=entity_id).z_m}

    @app.get("/raise/{name}")
    def raise_(name: str) -> dict:
        raise EXCEPTIONS[name]

    @app.get("/pydantic")
    def pydantic_error() -> dict:
        ErrorResponse.model_validate({"message": 5})
        return {}

    return app


APP = make_app()
CLIENT = TestClient(APP)  # re-raises whatever reaches the 500 handler


def _swap_vertices(doc: dict) -> dict:
    """Square a-b-c-d becomes a-c-b-d: a bow tie whose edges cross."""
    doc = copy.deepcopy(doc)
    vertices = doc["volumes"][0]["volume"]["outline_polygon"]["vertices"]
    vertices[1], vertices[2] = vertices[2], vertices[1]
    return doc


POLY = ("volumes", 0, "volume", "outline_polygon", "vertices")
VERTICES = "volumes[0].volume.outline_polygon.vertices"
LOWER, UPPER = ("volumes", 0, "volume", "altitude_lower"), ("volumes", 0, "volume", "altitude_upper")
START, END = ("volumes", 0, "time_start", "value"), ("volumes", 0, "time_end", "value")


def at(path: tuple, value) -> dict:
    return with_value(BASE, path, value)


def _raw(old: str, new: str) -> bytes:
    """The body as JSON text with one literal replaced (NaN, Infinity, 1e999 cannot come from json.dumps)."""
    text = json.dumps(BASE)
    assert old in text
    return text.replace(old, new, 1).encode()


BASE = put_body()
SQUARE = BASE["volumes"][0]["volume"]["outline_polygon"]["vertices"]
LAT3 = json.dumps(SQUARE[3]["lat"])
BAD_BODIES = {
    "malformed-json": (b'{"state": "Accepted", "volumes": [', "body", "not valid JSON"),
    "truncated-object": (b"{", "body", "not valid JSON"),
    "empty-body": (b"", "body", "required"),
    "not-an-object": (b"[1, 2]", "body", "valid dictionary"),
    "null-body": (b"null", "body", "valid dictionary"),
    "priority-string": (at(("priority",), "high"), "priority", "valid integer ('high')"),
    "priority-float": (at(("priority",), 1.5), "priority", "valid integer (1.5)"),
    "state-unknown": (at(("state",), "Ended"), "state", "'Accepted', 'Activated'"),
    "state-missing": ({"volumes": BASE["volumes"]}, "state", "required"),
    "volumes-object": (at(("volumes",), {"a": 1}), "volumes", "valid list"),
    "lat-string": (at((*POLY, 1, "lat"), "22.5"), f"{VERTICES}[1].lat", "valid number"),
    "self-intersecting": (_swap_vertices(BASE), VERTICES, "edges may not cross"),
    "closed-ring": (at((*POLY, 3), SQUARE[0]), VERTICES, "polygons are open"),
    "two-vertices": (at(POLY, SQUARE[:2]), VERTICES, "at least 3"),
    "nan": (_raw('"value": 10.0', '"value": NaN'), "volumes[0].volume.altitude_lower.value", "finite number"),
    "infinity": (_raw(LAT3, "Infinity"), f"{VERTICES}[3].lat", "finite number"),
    "-infinity": (_raw(LAT3, "-Infinity"), f"{VERTICES}[3].lat", "finite number"),
    "1e999": (_raw('"value": 60.0', '"value": 1e999'), "volumes[0].volume.altitude_upper.value", "finite"),
    "lat>90": (at((*POLY, 3, "lat"), 90.000001), f"{VERTICES}[3].lat", "less than or equal to 90"),
    "lng<-180": (at((*POLY, 2, "lng"), -181), f"{VERTICES}[2].lng", "greater than or equal to -180"),
    "lower=upper": (
        at((*LOWER, "value"), 60.0),
        "volumes[0].volume.altitude_lower",
        "must be below altitude_upper",
    ),
    "lower>upper": (
        at((*LOWER, "value"), 61.0),
        "volumes[0].volume.altitude_lower",
        "must be below altitude_upper",
    ),
    "end=start": (at(END, "2026-11-27T12:00:00Z"), "volumes[0].time_end", "must be after time_start"),
    "end<start": (at(END, "2026-11-27T11:00:00Z"), "volumes[0].time_end", "must be after time_start"),
    "time-not-rfc3339": (at(START, "noon"), "volumes[0].time_start.value", "RFC 3339"),
    "time-no-offset": (at(START, "2026-11-27T12:00:00"), "volumes[0].time_start.value", "UTC offset"),
    "time-out-of-range": (
        at(START, "0001-01-01T00:00:00+01:00"),
        "volumes[0].time_start.value",
        "out of range",
    ),
    "reference-amsl": (
        at((*UPPER, "reference"), "AMSL"),
        "volumes[0].volume.altitude_upper.reference",
        "'W84'",
    ),
}


@pytest.mark.parametrize(("body", "field", "reason"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_input_is_400_with_field_and_reason(body, field, reason):
    if isinstance(body, bytes):
        answer = CLIENT.put(URL, content=body, headers={"content-type": "application/json"})
    else:
        answer = CLIENT.put(URL, json=body)
    assert answer.status_code == 400, answer.text
    doc = answer.json()
    assert doc["field"] == field
    assert reason in doc["reason"]
    assert doc["message"] == f"{field}: {doc['reason']}"


def test_the_valid_body_is_accepted():
    assert CLIENT.put(URL, json=BASE).json() == {"volumes": 1, "vertices": 4}


def test_10001_vertices_reach_the_service():
    """The 10,000-vertex limit is deconfliction's (a 400 from InvalidRequest); the body itself parses."""
    angles = np.linspace(0.0, 2 * np.pi, 10_001, endpoint=False)
    ring = [{"lat": 22.53 + 0.01 * math.sin(a), "lng": 113.93 + 0.01 * math.cos(a)} for a in angles]
    answer = CLIENT.put(URL, json=with_value(BASE, POLY, ring))
    assert answer.json() == {"volumes": 1, "vertices": 10_001}


TIME = {"value": "2026-11-27T12:00:00Z", "format": "RFC3339"}
POSITION = {"lat": 95, "lng": 113.9, "altitude": {"value": 1, "reference": "W84", "units": "M"}}
EARLY_END = {"value": "2026-11-27T11:00:00Z", "format": "RFC3339"}


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/utm/v1/operational_intents/not-a-uuid", BASE, "path.entity_id"),
        (
            QUERY,
            {"area_of_interest": BASE["volumes"][0] | {"time_end": EARLY_END}},
            "area_of_interest.time_end",
        ),
        (QUERY, {}, "area_of_interest"),
        (f"{URL}/telemetry", {"time_measured": TIME, "position": POSITION}, "position.lat"),
        (f"{URL}/telemetry", {"time_measured": TIME}, "position"),
    ],
)
def test_other_routes_and_path_parameters_are_400(url, body, field):
    answer = CLIENT.request("PUT" if url.endswith("uuid") else "POST", url, json=body)
    assert (answer.status_code, answer.json()["field"]) == (400, field)


def test_field_path():
    assert field_path(("body", "volumes", 2, "volume", "outline_polygon", "vertices", 3, "lat")) == (
        "volumes[2].volume.outline_polygon.vertices[3].lat"
    )
    assert (field_path(()), field_path(("body",)), field_path(("query", "after"))) == (
        "body",
        "body",
        "query.after",
    )


@pytest.mark.parametrize(
    ("name", "status"), [("invalid", 400), ("transition", 400), ("volume", 400), ("area", 413)]
)
def test_field_errors_map_to_their_status_with_field_and_reason(name, status):
    exc = EXCEPTIONS[name]
    answer = CLIENT.get(f"/raise/{name}")
    expected = {"message": f"{exc.field}: {exc.reason}", "field": exc.field, "reason": exc.reason}
    assert (answer.status_code, answer.json()) == (status, expected)


@pytest.mark.parametrize(
    ("name", "status", "body"),
    [
        ("not_found", 404, {"message": "operational intent 7 not found"}),
        ("not_manager", 403, {"message": "managed by uss2"}),
        ("forbidden", 403, {"message": "missing scope utm.strategic_coordination"}),
        ("unauthorized", 401, {"message": "token expired"}),
        ("stale", 409, {"message": "ovn abc is not the current one", "reason": "stale_ovn"}),
    ],
)
def test_each_exception_maps_to_its_status_and_body(name, status, body):
    answer = CLIENT.get(f"/raise/{name}")
    assert (answer.status_code, answer.json()) == (status, body)
    assert (answer.headers.get("www-authenticate") == "Bearer") is (status == 401)


def test_plan_rejected_is_409_with_conflicts_and_alternatives():
    answer = CLIENT.get("/raise/rejected")
    assert answer.status_code == 409
    doc = answer.json()
    assert (doc["reason"], doc["message"]) == ("conflict", "overlaps 1 intent")
    assert doc["conflicts"] == [
        {"kind": "intent", "ref": "7", "detail": "higher priority",
         "time_start": {"value": "2026-11-27T12:00:00Z", "format": "RFC3339"},
         "time_end": {"value": "2026-11-27T12:10:00Z", "format": "RFC3339"}},
    ]  # fmt: skip
    (alternative,) = doc["alternatives"]
    sent = Volume4D.model_validate(alternative["volumes"][0]).to_domain(FRAME)
    assert np.allclose(sent.box, _volume(start_min=30).box, rtol=0, atol=1e-6)


def test_a_pydantic_error_raised_in_a_route_is_400():
    answer = CLIENT.get("/pydantic")
    assert (answer.status_code, answer.json()["field"]) == (400, "message")


def test_starlette_errors_use_the_same_shape():
    assert (CLIENT.get("/nowhere").status_code, CLIENT.get("/nowhere").json()) == (
        404,
        {"message": "Not Found"},
    )
    assert CLIENT.get(URL).status_code == 405


def test_a_bug_is_500_generic_and_logged(caplog):
    client = TestClient(APP, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        answer = client.get("/raise/bug")
    assert answer.status_code == 500
    assert "secret" not in answer.text and "Traceback" not in answer.text
    assert answer.json() == {"message": "internal error; the server log has the details"}
    (record,) = [r for r in caplog.records if r.name == "api.errors"]
    assert "RuntimeError" in record.getMessage() and record.exc_info[1] is EXCEPTIONS["bug"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


PATHS = list(json_paths(BASE))[1:]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, len(PATHS) - 1), value=JSON)
def test_no_mutation_of_a_valid_body_gets_past_400(which, value):
    """Hypothesis: any one field replaced by any JSON value is 200 or 400; never 422, never 5xx."""
    text = json.dumps(with_value(BASE, PATHS[which], value))
    answer = CLIENT.put(URL, content=text, headers={"content-type": "application/json"})
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert answer.json()["message"].startswith(answer.json()["field"] + ": ")
