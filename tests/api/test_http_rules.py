"""The whole app (create_app: real service, real SQLite store, real auth) through HTTP in-process.

Bad input is 400 naming the field (never 422, never 500); stale ovn 409, unknown 404, too large 413; a
hypothesis run over random and mutated bodies finds no 5xx; and F3548 rules (priority, the 1 cm rule,
closed intervals) with lat/lng built by pyproj.Geod, independently of the service's local frame.
The service clock is fixed at T0; each test plans in its own spot of the open centre of the region.
"""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.settings import Settings
from tests.api.support import json_paths

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
URL = "/utm/v1/operational_intents"
QUERY = f"{URL}/query"
LAYER_D60_90_W84_M = (62.0, 92.0)  # 60-90 m AGL: terrain 5 m AMSL, geoid -3 m
SPOTS = itertools.count()


@pytest.fixture(scope="module")
def client(dev_keys, tmp_path_factory):
    settings_ = Settings(
        db_path=tmp_path_factory.mktemp("rules") / "utm6g.sqlite",
        audience="localhost",
        jwt_public_key=dev_keys[1],
    )
    with TestClient(create_app(settings_, clock=lambda: T0)) as test_client:  # re-raises any 500
        yield test_client


@pytest.fixture(scope="module")
def alice(mint, wire):
    return wire.bearer(mint("alice"))


@pytest.fixture(scope="module")
def bob(mint, wire):
    return wire.bearer(mint("bob"))


def spot(wire) -> tuple[float, float]:
    """A fresh (lat, lng) in the open centre, about 330 m from every other spot handed out."""
    n = next(SPOTS)
    return wire.OPEN_LAT - 0.012 + 0.003 * (n % 10), wire.OPEN_LNG - 0.018 + 0.003 * (n // 10)


def _put(client, headers, body, intent_id=None):
    return client.put(f"{URL}/{intent_id or uuid4()}", json=body, headers=headers)


def _raw(client, headers, url, text: str | bytes, method: str = "PUT"):
    return client.request(method, url, content=text, headers=headers | {"content-type": "application/json"})


def _ref(answer) -> dict:
    return answer.json()["operational_intent"]["reference"]


# --- bad input: 400 naming the field -------------------------------------------------------------


VERTICES = "volumes[0].volume.outline_polygon.vertices"
LOWER = "volumes[0].volume.altitude_lower"


def _edit(change):
    """A bad-body maker: ``change(doc, volume, vertices)`` edits a copy of the valid body in place."""

    def make(base: dict) -> dict:
        doc = copy.deepcopy(base)
        vol = doc["volumes"][0]
        change(doc, vol, vol["volume"]["outline_polygon"]["vertices"])
        return doc

    return make


def _literal(which, literal: str):
    """A bad-body maker: the JSON text with the number ``which(base)`` replaced by a bare literal."""
    return lambda base: json.dumps(base).replace(json.dumps(which(base)), literal, 1).encode()


def _verts(base: dict) -> list[dict]:
    return base["volumes"][0]["volume"]["outline_polygon"]["vertices"]


def _swap(seq: list, i: int, j: int) -> None:
    seq[i], seq[j] = seq[j], seq[i]


def _setitem(node: dict, key: str, value) -> None:
    node[key] = value


def _lower_at_upper(plus_m: float):
    def change(doc: dict, vol: dict, vertices: list) -> None:
        vol["volume"]["altitude_lower"]["value"] = vol["volume"]["altitude_upper"]["value"] + plus_m

    return _edit(change)


BAD = {  # kind: (maker, field, reason substring)
    "malformed-json": (lambda base: json.dumps(base)[:-7].encode(), "body", "not valid JSON"),
    "empty-body": (lambda base: b"", "body", "required"),
    "priority-string": (_edit(lambda d, v, p: _setitem(d, "priority", "0")), "priority", "valid integer"),
    "volumes-not-a-list": (_edit(lambda d, v, p: _setitem(d, "volumes", v)), "volumes", "valid list"),
    "lat-string": (_edit(lambda d, v, p: _setitem(p[0], "lat", str(p[0]["lat"]))), f"{VERTICES}[0].lat",
                   "valid number"),
    "self-intersecting": (_edit(lambda d, v, p: _swap(p, 1, 2)), VERTICES, "edges may not cross"),
    "nan": (_literal(lambda b: b["volumes"][0]["volume"]["altitude_lower"]["value"], "NaN"), f"{LOWER}.value",
            "finite"),
    "infinity": (_literal(lambda b: _verts(b)[2]["lng"], "Infinity"), f"{VERTICES}[2].lng", "finite"),
    "-infinity": (_literal(lambda b: _verts(b)[1]["lat"], "-Infinity"), f"{VERTICES}[1].lat", "finite"),
    "lat>90": (_edit(lambda d, v, p: _setitem(p[3], "lat", 90.5)), f"{VERTICES}[3].lat", "or equal to 90"),
    "lower=upper": (_lower_at_upper(0.0), LOWER, "must be below altitude_upper"),
    "lower>upper": (_lower_at_upper(1.0), LOWER, "must be below altitude_upper"),
    "end=start": (_edit(lambda d, v, p: _setitem(v, "time_end", v["time_start"])), "volumes[0].time_end",
                  "must be after time_start"),
    "end<start": (_edit(lambda d, v, p: _setitem(v, "time_start", v["time_end"] | {})), "volumes[0].time_end",
                  "must be after time_start"),
}  # fmt: skip


@pytest.mark.parametrize(("make", "field", "reason"), BAD.values(), ids=BAD.keys())
def test_bad_plan_is_400_naming_the_field(client, alice, wire, make, field, reason):
    body = make(wire.plan_body(wire.square(*spot(wire), 100.0), T0 + timedelta(hours=1)))
    text = body if isinstance(body, bytes) else json.dumps(body)
    answer = _raw(client, alice, f"{URL}/{uuid4()}", text)
    assert answer.status_code == 400, answer.text
    doc = answer.json()
    assert (doc["field"], doc["message"]) == (field, f"{field}: {doc['reason']}")
    assert reason in doc["reason"]


def test_10001_vertices_are_400_from_the_service(client, alice, wire):
    lat, lng = spot(wire)
    angles = np.linspace(0.0, 2 * np.pi, 10_001, endpoint=False)
    ring = list(zip(lat + 0.001 * np.sin(angles), lng + 0.001 * np.cos(angles), strict=True))
    answer = _put(client, alice, wire.plan_body(ring, T0 + timedelta(hours=1)))
    assert (answer.status_code, answer.json()["field"]) == (400, "volumes"), answer.text
    assert "10001 vertices" in answer.json()["reason"]
    assert _put(client, alice, wire.plan_body(ring[:-1], T0 + timedelta(hours=1))).status_code == 201


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"priority": 101}, "priority", "]-1, 100]"),
        ({"priority": -1}, "priority", "]-1, 100]"),
        ({"priority": 2**31}, "priority", "less than or equal to 2147483647"),
        ({"state": "Ended"}, "state", "'Accepted'"),
        ({"volumes": []}, "volumes", "at least one volume"),
        ({"start_h": 24 * 31}, "volumes[0].time_start", "30 days"),
        ({"start_h": -2}, "volumes[0].time_end", "in the past"),
        ({"state": "Activated"}, "volumes", "active now"),
        ({"off_nominal": True}, "off_nominal_volumes", "must be empty when Accepted"),
        ({"state": "Contingent"}, "volumes", "must be empty when Contingent"),
    ],
    ids=["priority>100", "priority<0", "priority>int32", "state", "no-volumes", "too-far", "past",
         "activated-not-now", "off-nominal", "contingent-create"],
)  # fmt: skip
def test_request_the_service_refuses_is_400_naming_the_field(client, alice, wire, change, field, reason):
    change = dict(change)
    square = wire.square(*spot(wire), 100.0)
    body = wire.plan_body(square, T0 + timedelta(hours=change.pop("start_h", 1)))
    if change.pop("off_nominal", False):
        body["off_nominal_volumes"] = body["volumes"]
    body |= change
    answer = _put(client, alice, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field
    assert reason in answer.json()["reason"]


def test_stale_ovn_is_409_and_an_existing_id_cannot_be_created_again(client, alice, wire):
    body = wire.plan_body(wire.square(*spot(wire), 100.0), T0 + timedelta(hours=1))
    intent_id = str(uuid4())
    created = _put(client, alice, body, intent_id)
    assert created.status_code == 201, created.text
    old = _ref(created)["ovn"]
    wrong = client.put(f"{URL}/{intent_id}/{'x' * 32}", json=body, headers=alice)
    assert (wrong.status_code, wrong.json()["reason"]) == (409, "stale_ovn")
    again = _put(client, alice, body, intent_id)
    assert (again.status_code, again.json()["reason"]) == (409, "stale_ovn")
    updated = client.put(f"{URL}/{intent_id}/{old}", json=body | {"priority": 5}, headers=alice)
    assert updated.status_code == 200, updated.text
    assert _ref(updated)["version"] == 2 and _ref(updated)["ovn"] != old
    for stale in (
        client.put(f"{URL}/{intent_id}/{old}", json=body, headers=alice),
        client.delete(f"{URL}/{intent_id}/{old}", headers=alice),
    ):
        assert (stale.status_code, stale.json()["reason"]) == (409, "stale_ovn")
    ended = client.delete(f"{URL}/{intent_id}/{_ref(updated)['ovn']}", headers=alice)
    assert ended.status_code == 200
    assert client.get(f"{URL}/{intent_id}", headers=alice).status_code == 404


def test_unknown_id_is_404(client, alice, wire):
    body = wire.plan_body(wire.square(*spot(wire), 100.0), T0 + timedelta(hours=1))
    unknown = uuid4()
    for answer in (
        client.get(f"{URL}/{unknown}", headers=alice),
        client.put(f"{URL}/{unknown}/{'x' * 32}", json=body, headers=alice),
        client.delete(f"{URL}/{unknown}/{'x' * 32}", headers=alice),
        client.get(f"/uss/v1/operational_intents/{unknown}", headers=alice),
    ):
        assert answer.status_code == 404, answer.text
        assert str(unknown) in answer.json()["message"]


def test_area_over_2500_km2_is_413(client, alice, wire):
    big = wire.square(wire.OPEN_LAT, wire.OPEN_LNG, 51_000.0)  # 2,601 km2
    window = (T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    answer = client.post(QUERY, json={"area_of_interest": wire.volume(big, *window)}, headers=alice)
    assert (answer.status_code, answer.json()["field"]) == (413, "area_of_interest"), answer.text
    assert "over the maximum 2500 km²" in answer.json()["reason"]
    planned = _put(client, alice, wire.plan_body(big, window[0]))
    assert (planned.status_code, planned.json()["field"]) == (413, "volumes")
    fits = wire.square(wire.OPEN_LAT, wire.OPEN_LNG, 49_000.0)  # 2,401 km2
    answer = client.post(QUERY, json={"area_of_interest": wire.volume(fits, *window)}, headers=alice)
    assert answer.status_code == 200, answer.text


def test_bad_query_is_400_naming_the_field(client, alice, wire):
    for text, field in ((b"", "body"), (b"{}", "area_of_interest"), (b'{"area_of_interest": 1', "body")):
        answer = _raw(client, alice, QUERY, text, method="POST")
        assert (answer.status_code, answer.json()["field"]) == (400, field), answer.text


def test_radius_too_large_to_square_is_413_not_500(client, alice, wire):
    """A circle radius of 1e300 m is a finite float that passes the schema; its area must be 413, not 500."""
    volume = wire.volume(
        [(wire.OPEN_LAT, wire.OPEN_LNG)] * 3, T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    )
    volume["volume"]["outline_circle"] = {
        "center": {"lat": wire.OPEN_LAT, "lng": wire.OPEN_LNG},
        "radius": {"value": 1e300, "units": "M"},
    }
    del volume["volume"]["outline_polygon"]
    lenient = TestClient(client.app, raise_server_exceptions=False)
    query = lenient.post(QUERY, json={"area_of_interest": volume}, headers=alice)
    plan = lenient.put(f"{URL}/{uuid4()}", json={"state": "Accepted", "volumes": [volume]}, headers=alice)
    assert (query.status_code, plan.status_code) == (413, 413), (query.text, plan.text)


# --- property-based: no 5xx, ever ---------------------------------------------------------------


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.sampled_from([0.0, -0.0, 90.0, -90.0, 180.0, 1e-12, 1e300, 2.5e6, 2**31, "W84", "M", "RFC3339"])
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
KEYS = [
    *("state", "priority", "volumes", "off_nominal_volumes", "area_of_interest", "volume", "time_start"),
    *("time_end", "outline_polygon", "outline_circle", "vertices", "lat", "lng", "value", "format"),
]


def _mutate(doc, path: tuple, value, *, delete: bool):
    doc = copy.deepcopy(doc)
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


def _circle_body(body: dict) -> dict:
    body = copy.deepcopy(body)
    volume = body["volumes"][0]["volume"]
    first = volume.pop("outline_polygon")["vertices"][0]
    volume["outline_circle"] = {"center": first, "radius": {"value": 50.0, "units": "M"}}
    return body


def _assert_answer(answer, allowed: set[int]) -> None:
    assert answer.status_code in allowed, answer.text
    if answer.status_code in (400, 413):
        doc = answer.json()
        assert doc["field"] and doc["message"] == f"{doc['field']}: {doc['reason']}"


@pytest.fixture(scope="module")
def bases(wire) -> dict[str, dict]:
    """Valid bodies to mutate, each in its own spot: a polygon plan, a circle plan, a query."""
    plan = wire.plan_body(
        wire.square(*spot(wire), 80.0), T0 + timedelta(hours=1), altitude_m=LAYER_D60_90_W84_M
    )
    circle = _circle_body(wire.plan_body(wire.square(*spot(wire), 80.0), T0 + timedelta(hours=1)))
    return {"plan": plan, "circle": circle, "query": {"area_of_interest": plan["volumes"][0]}}


def _leaf(doc, path: tuple):
    for key in path:
        doc = doc[key]
    return doc


def _nudged(leaf, data):
    """A number moved by a random amount at a random scale, or an RFC 3339 time moved by minutes."""
    if isinstance(leaf, str):
        minutes = data.draw(st.integers(-24 * 60 * 40, 24 * 60 * 40), label="minutes")
        moved = datetime.fromisoformat(leaf.replace("Z", "+00:00")) + timedelta(minutes=minutes)
        return moved.isoformat().replace("+00:00", "Z")
    scale = data.draw(st.sampled_from([1e-7, 1e-4, 1.0, 100.0, 1e5]), label="scale")
    return leaf + scale * data.draw(st.floats(-1.0, 1.0), label="step")


def _nudgeable(doc) -> list[tuple]:
    """Paths of numbers (not bools) and of time values."""
    return [
        p
        for p in json_paths(doc)
        if (isinstance(leaf := _leaf(doc, p), int | float) and not isinstance(leaf, bool))
        or (p and p[-1] == "value" and isinstance(leaf, str))
    ]


@settings(
    max_examples=140, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data(), mode=st.sampled_from(["replace", "delete", "nudge"]), value=JSON)
def test_mutated_bodies_never_5xx(client, alice, bases, data, mode, value):
    """One field of a valid plan or query replaced by any JSON value, deleted, or nudged: never 422 or 5xx."""
    which = data.draw(st.sampled_from(sorted(bases)), label="base")
    base = bases[which]
    if mode == "nudge":
        path = data.draw(st.sampled_from(_nudgeable(base)), label="path")
        doc = _mutate(base, path, _nudged(_leaf(base, path), data), delete=False)
    else:
        paths = list(json_paths(base))
        path = data.draw(st.sampled_from(paths[1:] if mode == "delete" else paths), label="path")
        doc = _mutate(base, path, value, delete=mode == "delete")
    text = json.dumps(doc)  # NaN and Infinity come out as the bare JSON literals
    if which == "query":
        _assert_answer(_raw(client, alice, QUERY, text, method="POST"), {200, 400, 413})
    else:
        _assert_answer(_raw(client, alice, f"{URL}/{uuid4()}", text), {201, 400, 409, 413})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), JSON, max_size=5) | JSON)
def test_random_bodies_never_5xx(client, alice, doc):
    text = json.dumps(doc)
    _assert_answer(_raw(client, alice, f"{URL}/{uuid4()}", text), {201, 400, 409, 413})
    _assert_answer(_raw(client, alice, QUERY, text, method="POST"), {200, 400, 413})


# --- F3548 rules through HTTP, with pyproj.Geod as the oracle ------------------------------------


def _neighbour(wire, square: list[tuple[float, float]], gap_m: float) -> list[tuple[float, float]]:
    """A 100 m wide square west of ``square`` (NE, SE, SW, NW) whose east edge is ``gap_m`` from its west
    edge, measured along geodesics (negative: it reaches that far into ``square``)."""
    (_, _), (_, _), sw, nw = square
    az = 270.0 if gap_m >= 0 else 90.0
    lng_e, lat_e, _ = wire.GEOD.fwd([nw[1], sw[1]], [nw[0], sw[0]], [az, az], [abs(gap_m)] * 2)
    lng_w, lat_w, _ = wire.GEOD.fwd(lng_e, lat_e, [270.0, 270.0], [100.0, 100.0])
    return [(lat_e[0], lng_e[0]), (lat_e[1], lng_e[1]), (lat_w[1], lng_w[1]), (lat_w[0], lng_w[0])]


@pytest.mark.parametrize(
    ("gap_m", "status"), [(-0.01, 409), (0.0, 409), (0.01, 201)], ids=["1cm-overlap", "touching", "1cm-apart"]
)
def test_one_centimetre_rule(client, alice, bob, wire, gap_m, status):
    start = T0 + timedelta(hours=1)
    square = wire.square(*spot(wire), 100.0)
    first = _put(client, alice, wire.plan_body(square, start, altitude_m=LAYER_D60_90_W84_M))
    assert first.status_code == 201, first.text
    other = _neighbour(wire, square, gap_m)
    _, _, distance_m = wire.GEOD.inv(square[3][1], square[3][0], other[0][1], other[0][0])
    assert distance_m == pytest.approx(abs(gap_m), abs=1e-6)  # the oracle: a geodesic, not the frame
    answer = _put(client, bob, wire.plan_body(other, start, altitude_m=LAYER_D60_90_W84_M))
    assert answer.status_code == status, answer.text
    if status == 409:
        assert answer.json()["reason"] == "conflict"
        assert [c["ref"] for c in answer.json()["conflicts"]] == [_ref(first)["id"]]


@pytest.mark.parametrize(
    ("start_min", "altitude_m", "status"),
    [(10.0, LAYER_D60_90_W84_M, 409), (10.0 + 1 / 60, LAYER_D60_90_W84_M, 201), (0.0, (92.0, 110.0), 409),
     (0.0, (92.01, 110.0), 201)],
    ids=["touching-in-time", "1s-later", "touching-in-height", "1cm-higher"],
)  # fmt: skip
def test_closed_intervals_in_time_and_height(client, alice, bob, wire, start_min, altitude_m, status):
    start = T0 + timedelta(hours=1)
    square = wire.square(*spot(wire), 100.0)
    first = _put(client, alice, wire.plan_body(square, start, altitude_m=LAYER_D60_90_W84_M))
    assert first.status_code == 201, first.text
    body = wire.plan_body(square, start + timedelta(minutes=start_min), altitude_m=altitude_m)
    assert _put(client, bob, body).status_code == status


def test_higher_priority_may_overlap_and_the_lower_manager_is_notified(client, alice, bob, mint, wire):
    start = T0 + timedelta(hours=1)
    square = wire.square(*spot(wire), 100.0)
    low = _put(client, alice, wire.plan_body(square, start, priority=0, altitude_m=LAYER_D60_90_W84_M))
    assert low.status_code == 201, low.text
    low_id = _ref(low)["id"]
    high = _put(client, bob, wire.plan_body(square, start, priority=10, altitude_m=LAYER_D60_90_W84_M))
    assert high.status_code == 201, high.text
    assert [(a["kind"], a["ref"]) for a in high.json()["advisories"]] == [("conflict_created", low_id)]
    notes = client.get("/utm/v1/notifications", headers=alice).json()["notifications"]
    mine = [n for n in notes if n["operational_intent_id"] == low_id]
    assert [n["kind"] for n in mine] == ["conflict_created"]
    assert _ref(high)["id"] in mine[0]["message"]
    # a third operator at priority 10 may overlap alice's (lower) but not bob's (equal)
    carol = wire.bearer(mint("carol"))
    again = _put(client, carol, wire.plan_body(square, start, priority=10, altitude_m=LAYER_D60_90_W84_M))
    assert (again.status_code, again.json()["reason"]) == (409, "conflict")
    assert {c["ref"] for c in again.json()["conflicts"]} == {_ref(high)["id"]}
    area = wire.volume(square, start, start + timedelta(minutes=1), altitude_m=(0.0, 1000.0))
    found = client.post(QUERY, json={"area_of_interest": area}, headers=carol)
    assert {i["reference"]["id"] for i in found.json()["operational_intents"]} == {low_id, _ref(high)["id"]}
    assert all("ovn" not in i["reference"] for i in found.json()["operational_intents"])
