"""The store's JSON codec: exact round trips in local metres, standard JSON only, every decode error path.

Oracle: dataclass ``==`` against the value encoded (shapely compares coordinates exactly), and ``json.loads``
with a ``parse_constant`` that refuses ``Infinity``/``NaN`` (the text must be standard JSON).
"""

import json
import math
from datetime import UTC, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon

from airspace.errors import InvalidGeozone, InvalidVolume
from airspace.geofences import Applicability, Geofence, Restriction, WeeklySchedule
from airspace.volumes import Volume3D, Volume4D
from utm.codec import (
    StoreError,
    dumps,
    geofence_from_json,
    geofence_to_json,
    time_from_json,
    time_from_stored,
    time_to_json,
    volume3d_from_json,
    volume3d_to_json,
    volume4d_from_json,
    volume4d_lists_from_stored,
    volume4d_to_json,
)

T0 = datetime(2026, 3, 2, 8, 30, 0, 123456, tzinfo=UTC)
BOX = [[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]]


def strict_loads(text: str):
    """json.loads that refuses the non-standard constants Python would otherwise accept."""

    def refuse(name: str):
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def round_trip_4d(v: Volume4D) -> Volume4D:
    return volume4d_from_json(strict_loads(dumps(volume4d_to_json(v))))


@pytest.mark.parametrize(
    ("z_lower_m", "z_upper_m"), [(0.0, 120.0), (-math.inf, 60.5), (30.0, math.inf), (-math.inf, math.inf)]
)
@pytest.mark.parametrize(
    ("start", "end"), [(T0, T0 + timedelta(minutes=5)), (None, T0), (T0, None), (None, None)]
)
def test_volume4d_round_trips_exactly_with_unbounded_sides(z_lower_m, z_upper_m, start, end):
    for volume in (
        Volume3D.polygon(BOX, z_lower_m=z_lower_m, z_upper_m=z_upper_m),
        Volume3D.circle(12.5, -0.1, 33.3, z_lower_m=z_lower_m, z_upper_m=z_upper_m),
    ):
        v = Volume4D(volume, start, end)
        assert round_trip_4d(v) == v


def test_unbounded_heights_are_null_and_the_text_is_standard_json():
    doc = volume3d_to_json(Volume3D.circle(0.0, 0.0, 1.0, z_lower_m=-math.inf, z_upper_m=math.inf))
    assert doc == {"circle": [0.0, 0.0, 1.0], "z_lower_m": None, "z_upper_m": None}
    assert "Infinity" not in dumps(doc)


def test_polygon_keeps_vertex_order_and_is_open():
    doc = volume3d_to_json(Volume3D.polygon(BOX[::-1], z_lower_m=0.0, z_upper_m=1.0))
    assert doc["polygon"] == BOX[::-1]


def test_dumps_refuses_nan():
    with pytest.raises(ValueError, match="JSON compliant"):
        dumps({"x_m": math.nan})


finite = st.floats(min_value=-5e4, max_value=5e4, allow_nan=False, allow_infinity=False)
instants = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))]
    ),
)


@st.composite
def polygons(draw):
    """Star-shaped (hence simple) polygons: strictly increasing angles, radii > 0, arbitrary float centre."""
    n = draw(st.integers(3, 12))
    cx, cy = draw(finite), draw(finite)
    angles = sorted(
        draw(st.lists(st.floats(0.0, 2 * math.pi, exclude_max=True), min_size=n, max_size=n, unique=True))
    )
    radii = draw(st.lists(st.floats(1.0, 1e4), min_size=n, max_size=n))
    return [[cx + r * math.cos(a), cy + r * math.sin(a)] for a, r in zip(angles, radii, strict=True)]


@st.composite
def volumes4d(draw):
    lo = draw(st.one_of(st.just(-math.inf), finite))
    hi = draw(st.one_of(st.just(math.inf), st.floats(min_value=lo, max_value=1e5, exclude_min=True)))
    if draw(st.booleans()):
        try:
            volume = Volume3D.polygon(draw(polygons()), z_lower_m=lo, z_upper_m=hi)
        except InvalidVolume:  # rounding made two angles' vertices coincide or cross; not what we test
            volume = Volume3D.polygon(BOX, z_lower_m=lo, z_upper_m=hi)
    else:
        volume = Volume3D.circle(
            draw(finite), draw(finite), draw(st.floats(0.0, 1e5)), z_lower_m=lo, z_upper_m=hi
        )
    start = draw(st.one_of(st.none(), instants))
    end = draw(st.one_of(st.none(), instants))
    if start is not None and end is not None and not start < end:
        start, end = None, end
    return Volume4D(volume, start, end)


@settings(max_examples=150, deadline=None)
@given(volumes4d())
def test_random_volumes_round_trip_bit_for_bit(v):
    back = round_trip_4d(v)
    assert back == v
    assert back.box == v.box


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(volumes4d(), max_size=4), max_size=6))
def test_trusted_bulk_decoding_gives_what_the_validating_decoder_gives(lists):
    """The store's bulk read of its own rows (no geometry re-validation, polygons built in one call per vertex
    count) returns the volumes written, bit for bit. Oracle: the validating decoder and dataclass ==."""
    texts = [dumps([volume4d_to_json(v) for v in vs]) for vs in lists]
    fields = [f"rows[{n}]" for n in range(len(texts))]
    got = volume4d_lists_from_stored(texts, fields)
    assert got == [tuple(vs) for vs in lists]
    validated = [tuple(volume4d_from_json(d) for d in strict_loads(t)) for t in texts]
    assert got == validated
    for v, w in zip((v for vs in got for v in vs), (w for ws in validated for w in ws), strict=True):
        assert v.volume.bounds_xy_m == w.volume.bounds_xy_m  # the bounds given with a polygon are shapely's
        for t in (v.time_start, v.time_end):
            assert t is None or t.tzinfo is UTC


def test_trusted_bulk_decoding_skips_the_validating_decoder_for_rows_as_written(monkeypatch):
    """What makes a restart fast: the geometry rules ran before the write, so rows read as written are built
    directly; the validating decoder is kept for rows that are not."""
    volumes = [
        Volume4D(Volume3D.polygon(BOX, z_lower_m=0.0, z_upper_m=1.0), T0, T0 + timedelta(seconds=1)),
        Volume4D(Volume3D.circle(1.0, 2.0, 3.0, z_lower_m=-math.inf, z_upper_m=math.inf), None, None),
    ]
    monkeypatch.setattr("utm.codec.volume4d_from_json", lambda *a, **k: pytest.fail("validated again"))
    assert volume4d_lists_from_stored([dumps([volume4d_to_json(v) for v in volumes])], ["r"]) == [
        tuple(volumes)
    ]


def stored(volume: dict | None = None, **doc) -> str:
    """The text of one stored volume list; the volume defaults to a unit circle between 0 and 1 m."""
    volume = {"circle": [0.0, 0.0, 1.0], "z_lower_m": 0.0, "z_upper_m": 1.0} if volume is None else volume
    return json.dumps([{"volume": volume, **doc}])  # json.dumps writes NaN as Python would read it


BAD_STORED = [
    ("[{", StoreError, r"^rows\[0\]: is not valid JSON"),
    ('{"volume": 1}', StoreError, r"^rows\[0\]: must be a list"),
    (
        stored({"polygon": [[0.0, 0.0], [1.0, 0.0]], "z_lower_m": 0.0, "z_upper_m": 1.0}),
        InvalidVolume,
        r"^rows\[0\]\[0\]\.volume\.outline_polygon\.vertices: needs at least 3",
    ),
    (
        stored({"polygon": [[0.0, 0.0], [1.0, "a"], [1.0, 1.0]], "z_lower_m": 0.0, "z_upper_m": 1.0}),
        StoreError,
        r"^rows\[0\]\[0\]\.volume\.polygon: must be a list",
    ),
    (
        stored({"circle": [0.0, 0.0, -1.0], "z_lower_m": 0.0, "z_upper_m": 1.0}),
        InvalidVolume,
        r"^rows\[0\]\[0\]\.volume\.outline_circle\.radius",
    ),
    (stored({"circle": [0.0, 0.0, 1.0], "z_lower_m": 2.0, "z_upper_m": 1.0}), InvalidVolume, "must be below"),
    (stored({"circle": [0.0, 0.0, 1.0], "z_lower_m": math.nan, "z_upper_m": 1.0}), InvalidVolume, "a number"),
    (
        stored({"circle": [0.0, 0.0, 1.0], "z_upper_m": 1.0}),
        StoreError,
        r"^rows\[0\]\[0\]\.volume\.z_lower_m: is required",
    ),
    (
        stored(time_start="2026-01-01T00:00:00.000000Z", time_end="2025-01-01T00:00:00.000000Z"),
        InvalidVolume,
        "time_end: must be after time_start",
    ),
    (
        stored(time_start="2026-13-01T00:00:00.000000Z", time_end=None),
        StoreError,
        r"^rows\[0\]\[0\]\.time_start: is not an RFC 3339",
    ),
]


@pytest.mark.parametrize(("text", "error", "message"), BAD_STORED)
def test_a_damaged_stored_row_fails_loudly_naming_the_field(text, error, message):
    """Trusted is not blind: what the fast path cannot read as written goes through the validating decoder."""
    good = dumps([volume4d_to_json(Volume4D(Volume3D.polygon(BOX, z_lower_m=0.0, z_upper_m=1.0), T0, None))])
    with pytest.raises(error, match=message):
        volume4d_lists_from_stored([text, good], ["rows[0]", "rows[1]"])


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.none(), instants))
def test_stored_time_reads_like_the_validating_decoder(t):
    assert time_from_stored(time_to_json(t)) == time_from_json(time_to_json(t))
    assert time_from_stored("2026-01-01T08:00:00+08:00") == time_from_json("2026-01-01T08:00:00+08:00")


@settings(max_examples=200, deadline=None)
@given(instants, instants)
def test_time_text_is_fixed_width_utc_and_sorts_as_time(a, b):
    ta, tb = time_to_json(a), time_to_json(b)
    assert len(ta) == len(tb) == len("2026-01-01T00:00:00.000000Z") and ta.endswith("Z")
    assert (ta < tb) == (a < b) and (ta == tb) == (a == b)
    back = time_from_json(ta)
    assert back == a and back.utcoffset() == timedelta(0)


def test_none_times_stay_none():
    assert time_to_json(None) is None and time_from_json(None) is None


def test_naive_time_is_refused_on_encode():
    with pytest.raises(StoreError, match="time: must be timezone-aware"):
        time_to_json(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (12, "must be an RFC 3339 string"),
        ("yesterday", "is not an RFC 3339"),
        ("2026-01-01T00:00:00", "must carry a UTC offset"),
    ],
)
def test_bad_time_text_is_refused_naming_the_field(text, message):
    with pytest.raises(StoreError, match=f"^when: {message}"):
        time_from_json(text, field="when")


def full_geofence() -> Geofence:
    return Geofence(
        identifier="ZSZ-001",
        restriction=Restriction.CONDITIONAL,
        volumes=(
            Volume3D.polygon(BOX, z_lower_m=-math.inf, z_upper_m=120.0),
            Volume3D.circle(500.0, 500.0, 250.25, z_lower_m=0.0, z_upper_m=math.inf),
        ),
        applicability=(
            Applicability(
                T0, T0 + timedelta(days=30), (WeeklySchedule(frozenset({4, 0}), time(22), time(2)),)
            ),
            Applicability(
                None, None, (WeeklySchedule(frozenset({6}), time(6, 30, 0, 5, tzinfo=UTC), time(7)),)
            ),
            Applicability(start=T0),
        ),
        name="Nanshan stadium",
        country="CHN",
        authority="CAAC South",
        message="Events: call the stadium first. 体育场",
    )


def test_geofence_round_trips_exactly():
    g = full_geofence()
    text = dumps(geofence_to_json(g))
    assert geofence_from_json(strict_loads(text)) == g
    assert strict_loads(text)["applicability"][0]["schedules"][0]["days"] == [0, 4]


def test_permanent_geofence_round_trips():
    g = Geofence(
        "P", Restriction.PROHIBITED, (Volume3D.circle(0.0, 0.0, 10.0, z_lower_m=0.0, z_upper_m=1.0),)
    )
    assert geofence_from_json(strict_loads(dumps(geofence_to_json(g)))) == g


def test_polygon_with_a_hole_cannot_be_stored():
    shell = [(0, 0), (10, 0), (10, 10), (0, 10)]
    holed = Volume3D(Polygon(shell, [[(2, 2), (3, 2), (3, 3)]]), 0.0, 1.0)
    with pytest.raises(StoreError, match=r"^volume\.outline: polygons with holes"):
        volume3d_to_json(holed)


CIRCLE_DOC = {"circle": [0.0, 0.0, 1.0], "z_lower_m": 0.0, "z_upper_m": 1.0}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], "v"),
        ({"z_lower_m": 0.0, "z_upper_m": 1.0}, "v"),
        ({**CIRCLE_DOC, "polygon": BOX}, "v"),
        ({**CIRCLE_DOC, "circle": [0.0, 1.0]}, "v.circle"),
        ({**CIRCLE_DOC, "circle": [0.0, True, 1.0]}, "v.circle"),
        ({"polygon": "box", "z_lower_m": 0.0, "z_upper_m": 1.0}, "v.polygon"),
        ({"polygon": [[0.0, 0.0], [1.0, "a"], [1.0, 1.0]], "z_lower_m": 0.0, "z_upper_m": 1.0}, "v.polygon"),
        ({"circle": [0.0, 0.0, 1.0], "z_upper_m": 1.0}, "v.z_lower_m"),
        ({**CIRCLE_DOC, "z_upper_m": "high"}, "v.z_upper_m"),
    ],
)
def test_malformed_volume_documents_name_the_field(doc, field):
    with pytest.raises(StoreError) as err:
        volume3d_from_json(doc, field="v")
    assert err.value.field == field


@pytest.mark.parametrize(
    "doc",
    [
        {"polygon": [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]], "z_lower_m": 0.0, "z_upper_m": 1.0},
        {**CIRCLE_DOC, "circle": [0.0, 0.0, -1.0]},
        {**CIRCLE_DOC, "z_lower_m": 2.0},
    ],
    ids=["self-intersecting", "negative-radius", "lower-above-upper"],
)
def test_decoding_validates_geometry_with_the_airspace_constructors(doc):
    with pytest.raises(InvalidVolume, match=r"^v"):
        volume3d_from_json(doc, field="v")


def test_volume4d_decoding_checks_object_and_times():
    with pytest.raises(StoreError, match=r"^w: must be an object"):
        volume4d_from_json("x", field="w")
    with pytest.raises(StoreError, match=r"^w\.time_start: is not an RFC 3339"):
        volume4d_from_json({"volume": CIRCLE_DOC, "time_start": "soon", "time_end": None}, field="w")
    with pytest.raises(InvalidVolume, match="time_end: must be after time_start"):
        volume4d_from_json(
            {"volume": CIRCLE_DOC, "time_start": time_to_json(T0), "time_end": time_to_json(T0)}
        )


def geofence_doc(**changes):
    doc = strict_loads(dumps(geofence_to_json(full_geofence())))
    return {**doc, **changes}


SCHEDULE = {"days": [1], "start": "00:00:00", "end": "01:00:00"}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (geofence_doc(restriction="FORBIDDEN"), "g.restriction"),
        (geofence_doc(identifier=7), "g.identifier"),
        (geofence_doc(volumes={}), "g.volumes"),
        (geofence_doc(volumes=[[]]), "g.volumes[0]"),
        (geofence_doc(message=None), "g.message"),
        (geofence_doc(applicability=[{"start": None, "end": None}]), "g.applicability[0].schedules"),
        (
            geofence_doc(applicability=[{"start": 5, "end": None, "schedules": []}]),
            "g.applicability[0].start",
        ),
        (
            geofence_doc(
                applicability=[{"start": None, "end": None, "schedules": [{**SCHEDULE, "days": ["Mon"]}]}]
            ),
            "g.applicability[0].schedules[0].days",
        ),
        (
            geofence_doc(
                applicability=[{"start": None, "end": None, "schedules": [{**SCHEDULE, "end": "25:00"}]}]
            ),
            "g.applicability[0].schedules[0].end",
        ),
        (
            geofence_doc(
                applicability=[{"start": None, "end": None, "schedules": [{**SCHEDULE, "start": None}]}]
            ),
            "g.applicability[0].schedules[0].start",
        ),
    ],
)
def test_malformed_geofence_documents_name_the_field(doc, field):
    with pytest.raises(StoreError) as err:
        geofence_from_json(doc, field="g")
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")


def test_geofence_decoding_runs_the_model_checks():
    with pytest.raises(InvalidGeozone, match="needs at least one volume"):
        geofence_from_json(geofence_doc(volumes=[]))
    with pytest.raises(InvalidGeozone, match="days: must be a non-empty set"):
        geofence_from_json(
            geofence_doc(
                applicability=[{"start": None, "end": None, "schedules": [{**SCHEDULE, "days": [7]}]}]
            )
        )
