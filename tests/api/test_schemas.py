"""api.schemas: F3548 wire models, their converters to and from the domain, and the field paths of errors.

Oracles: hand-written F3548 JSON, pyproj Geod for where a lat/lng lands in local metres (the frame's
azimuthal equidistant projection keeps distance and azimuth from the origin), closed-form velocities.
"""

import gc
import json
import math
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

import numpy as np
import pytest
from pydantic import ValidationError
from pyproj import Geod

from airspace import volumes as domain
from airspace.errors import InvalidVolume
from airspace.frames import LocalFrame
from api.schemas import (
    ErrorResponse,
    IntentResponse,
    NotificationsResponse,
    OperationalIntent,
    PutOperationalIntentRequest,
    QueryRequest,
    QueryResponse,
    RejectionResponse,
    Volume4D,
)
from api.telemetry_schemas import TelemetryRequest
from tests.api.support import with_value
from utm.decisions import Advisory, Alternative, Conflict, Decision, Notification
from utm.errors import PlanRejected
from utm.intents import OperationalIntent as DomainIntent
from utm.intents import State

GEOD = Geod(ellps="WGS84")
FRAME = LocalFrame(22.53, 113.93, 12.0)
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SQUARE = [(22.530, 113.930), (22.530, 113.935), (22.535, 113.935), (22.535, 113.930)]  # (lat, lng)
BOWTIE = [(22.530, 113.930), (22.535, 113.935), (22.530, 113.935), (22.535, 113.930)]
ID = UUID("2f8343be-6482-4d1b-a474-16847e01af1e")


def t_doc(value: str) -> dict:
    return {"value": value, "format": "RFC3339"}


def alt_doc(value_m: float) -> dict:
    return {"value": value_m, "reference": "W84", "units": "M"}


def polygon_doc(points=SQUARE, lo=20.0, hi=120.0, start="2026-11-27T12:00:00Z", end="2026-11-27T12:10:00Z"):
    return {
        "volume": {
            "outline_polygon": {"vertices": [{"lat": a, "lng": b} for a, b in points]},
            "altitude_lower": alt_doc(lo),
            "altitude_upper": alt_doc(hi),
        },
        "time_start": t_doc(start),
        "time_end": t_doc(end),
    }


def circle_doc(lat=22.531, lng=113.931, radius_m=150.0):
    doc = polygon_doc()
    del doc["volume"]["outline_polygon"]
    doc["volume"]["outline_circle"] = {
        "center": {"lat": lat, "lng": lng},
        "radius": {"value": radius_m, "units": "M"},
    }
    return doc


def put_doc(n: int = 3, **extra) -> dict:
    return {"state": "Accepted", "priority": 10, "volumes": [polygon_doc() for _ in range(n)], **extra}


def in_time(volume: domain.Volume3D, start_min: float = 0.0, end_min: float = 10.0) -> domain.Volume4D:
    return domain.Volume4D(volume, T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min))


def box_m(x0: float, y0: float, size_m: float = 200.0) -> domain.Volume3D:
    xy = [(x0, y0), (x0 + size_m, y0), (x0 + size_m, y0 + size_m), (x0, y0 + size_m)]
    return domain.Volume3D.polygon(xy, z_lower_m=10.0, z_upper_m=90.0)


def intent(manager: str = "uss1", **changes) -> DomainIntent:
    fields = {
        "id": ID,
        "manager": manager,
        "version": 3,
        "ovn": "a" * 32,
        "state": State.ACTIVATED,
        "priority": 10,
        "volumes": (in_time(box_m(0, 0), 0, 10), in_time(box_m(100, 0), 5, 30)),
        "off_nominal_volumes": (),
        "uss_base_url": "https://uss1.example",
        "authorisation": None,
        "time_created": T0,
        "time_updated": T0,
    }
    return DomainIntent(**(fields | changes))


def nulls(doc) -> list:
    """Every null anywhere in a JSON document (F3548 omits absent fields rather than sending null)."""
    if isinstance(doc, dict):
        return [k for k, v in doc.items() if v is None] + [n for v in doc.values() for n in nulls(v)]
    if isinstance(doc, list):
        return [n for v in doc for n in nulls(v)]
    return []


class TestRoundTrip:
    @pytest.mark.parametrize("doc", [polygon_doc(), circle_doc()], ids=["polygon", "circle"])
    def test_wire_domain_wire_keeps_lat_lng_within_1e9_deg(self, doc):
        back = Volume4D.of(Volume4D.model_validate(doc).to_domain(FRAME), FRAME).model_dump()
        outline = "outline_polygon" if "outline_polygon" in doc["volume"] else "outline_circle"
        points = lambda d: (  # noqa: E731
            d["volume"][outline]["vertices"]
            if outline == "outline_polygon"
            else [d["volume"][outline]["center"]]
        )
        for want, got in zip(points(doc), points(back), strict=True):
            assert got["lat"] == pytest.approx(want["lat"], abs=1e-9)
            assert got["lng"] == pytest.approx(want["lng"], abs=1e-9)
        for side in ("altitude_lower", "altitude_upper"):
            assert back["volume"][side]["value"] == pytest.approx(doc["volume"][side]["value"], abs=1e-9)
        assert (back["time_start"], back["time_end"]) == (doc["time_start"], doc["time_end"])
        if outline == "outline_circle":
            assert back["volume"][outline]["radius"] == doc["volume"][outline]["radius"]

    @pytest.mark.parametrize(
        "volume",
        [box_m(-1500.0, 800.0), domain.Volume3D.circle(-300.0, 2500.0, 75.0, z_lower_m=0.0, z_upper_m=60.0)],
        ids=["polygon", "circle"],
    )
    def test_domain_wire_json_domain_keeps_local_metres(self, volume):
        original = in_time(volume, 3, 17)
        text = Volume4D.of(original, FRAME).model_dump_json()
        back = Volume4D.model_validate_json(text).to_domain(FRAME)
        assert np.allclose(back.box, original.box, rtol=0, atol=1e-6)
        assert (back.time_start, back.time_end) == (original.time_start, original.time_end)
        assert type(back.volume.outline) is type(original.volume.outline)

    def test_vertices_land_where_pyproj_geod_says(self):
        v = Volume4D.model_validate(polygon_doc()).to_domain(FRAME)
        xy = np.asarray(v.volume.outline.exterior.coords)[:-1]
        for (lat, lng), (x, y) in zip(SQUARE, xy, strict=True):
            az_deg, _, dist_m = GEOD.inv(FRAME.lon0_deg, FRAME.lat0_deg, lng, lat)
            assert math.hypot(x, y) == pytest.approx(dist_m, abs=1e-3)
            if dist_m > 1.0:
                assert math.degrees(math.atan2(x, y)) == pytest.approx(az_deg, abs=1e-6)
        assert (v.volume.z_lower_m, v.volume.z_upper_m) == (20.0 - 12.0, 120.0 - 12.0)

    def test_unbounded_area_of_interest(self):
        doc = {"area_of_interest": {"volume": {"outline_circle": circle_doc()["volume"]["outline_circle"]}}}
        area = QueryRequest.model_validate(doc).to_domain(FRAME)
        assert area.box[2:4] == (-math.inf, -math.inf) and area.box[6:] == (math.inf, math.inf)


class TestPutRequest:
    def test_to_domain(self):
        body = put_doc(
            2, off_nominal_volumes=[circle_doc()], authorisation="permit-7", uss_base_url="https://u"
        )
        request = PutOperationalIntentRequest.model_validate(body).to_domain(FRAME)
        assert request.state is State.ACCEPTED and request.priority == 10
        assert len(request.volumes) == 2 and len(request.off_nominal_volumes) == 1
        assert request.volumes[0].time_start == T0 and request.volumes[0].time_end == T0 + timedelta(
            minutes=10
        )
        assert (request.authorisation, request.uss_base_url) == ("permit-7", "https://u")

    def test_defaults_and_unknown_keys_ignored(self):
        body = {"state": "Activated", "volumes": [polygon_doc()], "key": ["x" * 16], "future_field": {"a": 1}}
        body["volumes"][0]["volume"]["future"] = 1
        request = PutOperationalIntentRequest.model_validate(body).to_domain(FRAME)
        assert (request.priority, request.off_nominal_volumes, request.authorisation) == (0, (), None)
        assert request.uss_base_url == ""

    @pytest.mark.parametrize(
        ("where", "doc", "field", "reason"),
        [
            (
                "volumes",
                polygon_doc(BOWTIE),
                "volumes[2].volume.outline_polygon.vertices",
                "edges may not cross",
            ),
            (
                "volumes",
                polygon_doc(SQUARE + SQUARE[:1]),
                "volumes[2].volume.outline_polygon.vertices",
                "open",
            ),
            ("volumes", polygon_doc(lo=120.0), "volumes[2].volume.altitude_lower", "must be below"),
            ("volumes", polygon_doc(lo=121.0), "volumes[2].volume.altitude_lower", "must be below"),
            ("volumes", polygon_doc(end="2026-11-27T11:00:00Z"), "volumes[2].time_end", "must be after"),
            ("volumes", polygon_doc(end="2026-11-27T12:00:00Z"), "volumes[2].time_end", "must be after"),
            (
                "off_nominal_volumes",
                polygon_doc(BOWTIE),
                "off_nominal_volumes[2].volume.outline_polygon",
                "cross",
            ),
        ],
        ids=[
            "self-intersecting",
            "closed-ring",
            "lower=upper",
            "lower>upper",
            "end<start",
            "end=start",
            "offnom",
        ],
    )
    def test_geometry_errors_name_the_field(self, where, doc, field, reason):
        body = put_doc(3) | {where: [polygon_doc(), polygon_doc(), doc]}
        with pytest.raises(InvalidVolume, match=reason) as err:
            PutOperationalIntentRequest.model_validate(body).to_domain(FRAME)
        assert err.value.field.startswith(field)
        assert str(err.value).startswith(f"{err.value.field}: ")

    @pytest.mark.parametrize("outlines", [(), ("outline_polygon", "outline_circle")], ids=["none", "both"])
    def test_exactly_one_outline(self, outlines):
        doc = polygon_doc()
        del doc["volume"]["outline_polygon"]
        for name in outlines:
            doc["volume"][name] = (circle_doc() if name == "outline_circle" else polygon_doc())["volume"][
                name
            ]
        with pytest.raises(InvalidVolume, match="exactly one") as err:
            PutOperationalIntentRequest.model_validate(put_doc(1) | {"volumes": [doc]}).to_domain(FRAME)
        assert err.value.field == "volumes[0].volume"


VERTEX = ("volumes", 2, "volume", "outline_polygon", "vertices", 3)
ALT = ("volumes", 1, "volume", "altitude_lower")


@pytest.mark.parametrize(
    ("path", "value", "loc", "type_"),
    [
        ((*VERTEX, "lat"), 90.5, None, "less_than_equal"),
        ((*VERTEX, "lng"), -180.1, None, "greater_than_equal"),
        ((*VERTEX, "lat"), "22.5", None, "float_type"),
        ((*VERTEX, "lat"), True, None, "float_type"),
        ((*VERTEX, "lat"), -math.inf, None, "finite_number"),
        ((*ALT, "value"), math.nan, None, "finite_number"),
        ((*ALT, "value"), math.inf, None, "finite_number"),
        ((*ALT, "value"), 100_001, None, "less_than_equal"),
        ((*ALT, "reference"), "AMSL", None, "literal_error"),
        ((*ALT, "units"), "FT", None, "literal_error"),
        (("volumes", 0, "time_start", "format"), "ISO8601", None, "literal_error"),
        (("volumes", 0, "time_start", "value"), "yesterday", None, "value_error"),
        (("volumes", 0, "time_start", "value"), "2026-11-27T12:00:00", None, "value_error"),
        (("volumes", 0, "time_end", "value"), "0001-01-01T00:30:00+01:00", None, "value_error"),
        (
            ("volumes", 0, "volume", "outline_polygon", "vertices"),
            [{"lat": 1, "lng": 1}] * 2,
            None,
            "too_short",
        ),
        (("volumes", 0, "volume"), None, None, "model_type"),
        (("volumes", 0), {"time_start": t_doc("2026-11-27T12:00:00Z")}, ("volumes", 0, "volume"), "missing"),
        (("volumes",), {}, None, "list_type"),
        (("priority",), 1.5, None, "int_type"),
        (("priority",), "1", None, "int_type"),
        (("priority",), 2**31, None, "less_than_equal"),
        (("state",), "Ended", None, "literal_error"),
        (("authorisation",), 7, None, "string_type"),
    ],
)
def test_wrong_types_and_ranges_are_refused_at_their_path(path, value, loc, type_):
    with pytest.raises(ValidationError) as err:
        PutOperationalIntentRequest.model_validate(with_value(put_doc(3), path, value))
    first = err.value.errors()[0]
    assert (first["loc"], first["type"]) == (loc or path, type_)


def test_radius_must_be_a_non_negative_number():
    doc = with_value(circle_doc(), ("volume", "outline_circle", "radius", "value"), -1.0)
    with pytest.raises(ValidationError) as err:
        Volume4D.model_validate(doc)
    assert err.value.errors()[0]["loc"] == ("volume", "outline_circle", "radius", "value")


def test_10001_vertices_parse_fast():
    """The 10,000-vertex limit is deconfliction's; here a 10,001-vertex body must parse in well under 1 s.

    Timed as the best of three parses after a full collection (0.13 s each here): late in the suite one
    parse once took 1.003 s, a pause of the process (its collector walking what earlier tests left, or
    the VM), not of the parser."""
    angles = np.linspace(0.0, 2 * np.pi, 10_001, endpoint=False)
    ring = list(zip(22.53 + 0.01 * np.sin(angles), 113.93 + 0.01 * np.cos(angles), strict=True))
    text = json.dumps(put_doc(1) | {"volumes": [polygon_doc(ring)]})
    gc.collect()
    elapsed_s = []
    for _ in range(3):
        started = time.perf_counter()
        request = PutOperationalIntentRequest.model_validate_json(text).to_domain(FRAME)
        elapsed_s.append(time.perf_counter() - started)
        assert request.volumes[0].volume.vertex_count == 10_001
    assert min(elapsed_s) < 1.0, f"{elapsed_s} s"


class TestAnswers:
    def test_intent_response_is_the_f3548_shape(self):
        decision = Decision(intent(), (Advisory("geofence_condition", "ZONE-1", "stay below 60 m"),))
        doc = json.loads(IntentResponse.of(decision, FRAME).model_dump_json())
        ref = doc["operational_intent"]["reference"]
        assert ref == {
            "id": str(ID),
            "manager": "uss1",
            "uss_availability": "Normal",
            "version": 3,
            "state": "Activated",
            "ovn": "a" * 32,
            "time_start": t_doc("2026-11-27T12:00:00Z"),
            "time_end": t_doc("2026-11-27T12:30:00Z"),
            "uss_base_url": "https://uss1.example",
        }
        details = doc["operational_intent"]["details"]
        assert (details["priority"], len(details["volumes"]), details["off_nominal_volumes"]) == (10, 2, [])
        assert doc["advisories"] == [
            {"kind": "geofence_condition", "ref": "ZONE-1", "message": "stay below 60 m"}
        ]
        assert nulls(doc) == []

    def test_details_round_trip_to_the_same_volumes(self):
        wire = OperationalIntent.model_validate_json(OperationalIntent.of(intent(), FRAME).model_dump_json())
        for original, sent in zip(intent().volumes, wire.details.volumes, strict=True):
            assert np.allclose(sent.to_domain(FRAME).box, original.box, rtol=0, atol=1e-6)

    def test_ovn_only_for_the_manager(self):
        mine, theirs = intent("uss1"), intent("uss2", id=UUID(int=7))
        without = json.loads(OperationalIntent.of(theirs, FRAME, with_ovn=False).model_dump_json())
        assert "ovn" not in without["reference"]
        doc = json.loads(QueryResponse.of([mine, theirs], FRAME, caller="uss1").model_dump_json())
        assert ["ovn" in oi["reference"] for oi in doc["operational_intents"]] == [True, False]

    def test_rejection_response(self):
        rejected = PlanRejected(
            "conflict",
            "overlaps 1 intent",
            [
                Conflict("intent", str(ID), T0, T0 + timedelta(minutes=5), "1 cm"),
                Conflict("capacity", "c", None, None, ""),
            ],
            [Alternative("time_shift", (in_time(box_m(0, 0), 20, 30),), "start 20 min later")],
        )
        doc = json.loads(RejectionResponse.of(rejected, FRAME).model_dump_json())
        assert (doc["reason"], doc["message"]) == ("conflict", "overlaps 1 intent")
        assert doc["conflicts"][0]["time_end"] == t_doc("2026-11-27T12:05:00Z")
        assert doc["conflicts"][1] == {"kind": "capacity", "ref": "c", "detail": ""}
        alt = doc["alternatives"][0]
        assert (alt["kind"], alt["description"]) == ("time_shift", "start 20 min later")
        assert alt["volumes"][0]["time_start"] == t_doc("2026-11-27T12:20:00Z")

    def test_notifications_and_error_shapes(self):
        note = Notification(T0, "uss1", str(ID), "nonconforming", "left its volumes")
        doc = json.loads(NotificationsResponse.of([note]).model_dump_json())
        assert doc == {
            "notifications": [
                {"time": t_doc("2026-11-27T12:00:00Z"), "operational_intent_id": str(ID),
                 "kind": "nonconforming", "message": "left its volumes"}
            ]
        }  # fmt: skip
        assert ErrorResponse(message="gone").model_dump() == {"message": "gone"}


def telemetry_doc(**position) -> dict:
    return {
        "time_measured": t_doc("2026-11-27T12:00:01.5Z"),
        "position": {"lat": 22.54, "lng": 113.94, "altitude": alt_doc(62.0)} | position,
    }


class TestTelemetry:
    KEYS = frozenset(
        {"time", "x_m", "y_m", "z_m", "vx_mps", "vy_mps", "vz_mps", "accuracy_h_m", "accuracy_v_m"}
    )

    def test_position_time_and_defaults(self):
        report = TelemetryRequest.model_validate(telemetry_doc()).to_domain(FRAME, intent_id=ID)
        assert report.intent_id == ID
        az_deg, _, dist_m = GEOD.inv(113.93, 22.53, 113.94, 22.54)
        assert math.hypot(report.x_m, report.y_m) == pytest.approx(dist_m, abs=1e-3)
        assert math.degrees(math.atan2(report.x_m, report.y_m)) == pytest.approx(az_deg, abs=1e-6)
        assert report.z_m == 62.0 - 12.0
        assert report.time == T0 + timedelta(seconds=1.5)
        assert (report.vx_mps, report.vy_mps, report.vz_mps) == (0.0, 0.0, 0.0)
        assert (report.accuracy_h_m, report.accuracy_v_m) == (0.0, 0.0)

    def test_f3548_names_equal_short_names(self):
        doc = telemetry_doc()
        position = doc["position"]
        doc["position"] = {
            "latitude": position["lat"],
            "longitude": position["lng"],
            "altitude": position["altitude"],
        }
        spec = TelemetryRequest.model_validate(doc).to_domain(FRAME, intent_id=ID)
        assert spec == TelemetryRequest.model_validate(telemetry_doc()).to_domain(FRAME, intent_id=ID)

    @pytest.mark.parametrize(
        ("velocity", "expected"),
        [
            ({"speed": 10.0, "units_speed": "MetersPerSecond", "track": 90.0}, (10.0, 0.0, 0.0)),
            ({"speed": 10.0, "track": 0.0, "speed_vertical": -2.0}, (0.0, 10.0, -2.0)),
            ({"speed": 4.0, "track": 225.0}, (-4 / math.sqrt(2), -4 / math.sqrt(2), 0.0)),
            ({"speed": 10.0, "track": 360.0, "speed_vertical": 1.0}, (0.0, 0.0, 1.0)),
        ],
        ids=["east", "north-descending", "south-west", "track-unknown"],
    )
    def test_velocity_from_speed_and_track(self, velocity, expected):
        report = TelemetryRequest.model_validate(telemetry_doc() | {"velocity": velocity}).to_domain(
            FRAME, intent_id=ID
        )
        assert (report.vx_mps, report.vy_mps, report.vz_mps) == pytest.approx(expected, abs=1e-12)

    @pytest.mark.parametrize(
        ("accuracy_h", "accuracy_v", "expected"),
        [("HA3m", "VA10m", (3.0, 10.0)), ("HA05NM", "VA150mPlus", (926.0, 150.0)),
         ("HAUnknown", "VAUnknown", (0.0, 0.0)), (4.5, 0, (4.5, 0.0))],
    )  # fmt: skip
    def test_accuracy_enums_or_metres(self, accuracy_h, accuracy_v, expected):
        doc = telemetry_doc(accuracy_h=accuracy_h, accuracy_v=accuracy_v)
        report = TelemetryRequest.model_validate(doc).to_domain(FRAME, intent_id=ID)
        assert (report.accuracy_h_m, report.accuracy_v_m) == pytest.approx(expected)

    @pytest.mark.parametrize(
        ("doc", "loc"),
        [
            (telemetry_doc(accuracy_h="HA2m"), ("position", "accuracy_h")),
            (telemetry_doc(accuracy_v=-1.0), ("position", "accuracy_v")),
            (telemetry_doc(accuracy_h=math.nan), ("position", "accuracy_h")),
            (telemetry_doc(lat=91.0), ("position", "lat")),  # the name the client used
            (telemetry_doc(extrapolated="yes"), ("position", "extrapolated")),
            (telemetry_doc() | {"velocity": {"speed": -1.0}}, ("velocity", "speed")),
            (telemetry_doc() | {"velocity": {"speed": 1.0, "track": 361.0}}, ("velocity", "track")),
            (
                telemetry_doc() | {"velocity": {"speed": 1.0, "units_speed": "Knots"}},
                ("velocity", "units_speed"),
            ),
            ({"position": telemetry_doc()["position"]}, ("time_measured",)),
        ],
    )
    def test_bad_telemetry_is_refused_at_its_path(self, doc, loc):
        with pytest.raises(ValidationError) as err:
            TelemetryRequest.model_validate(doc)
        assert err.value.errors()[0]["loc"] == loc


@pytest.mark.parametrize("model", [IntentResponse, RejectionResponse, QueryResponse, NotificationsResponse])
def test_answers_keep_their_json_schema_for_openapi(model):
    """Leaving None fields out of answers must not blank the serialization schema /openapi.json shows."""
    schema = model.model_json_schema(mode="serialization")
    assert schema["properties"] and schema["$defs"]["Time"]["required"] == ["value", "format"]
