"""Volume3D / Volume4D: F3548 validity rules, the closed 1 cm intersection rule, and the JSON converters."""

import math
from datetime import datetime

import numpy as np
import pytest
import shapely
from pyproj import Geod

from airspace.errors import InvalidVolume
from airspace.frames import LocalFrame
from airspace.volumes import Volume3D, Volume4D, vertex_total
from tests.airspace.support import CM, T0, box, in_time

GEOD = Geod(ellps="WGS84")
FRAME = LocalFrame(22.53, 113.93, 0.0)


class TestValidation:
    @pytest.mark.parametrize(
        ("vertices", "reason"),
        [
            ([(0, 0), (1, 0)], "at least 3 vertices"),
            ([(0, 0), (1, 0), (1, 1), (0, 0)], "polygons are open"),
            ([(0, 0), (1, 0), (1, 0), (0, 1)], "may not repeat"),
            ([(0, 0), (1, 1), (1, 0), (0, 1)], "edges may not cross"),
            ([(0, 0), (1, 1), (2, 2)], "no area"),
            ([(0, 0), (math.nan, 0), (1, 1)], "finite"),
        ],
    )
    def test_bad_polygons_name_the_field_and_reason(self, vertices, reason):
        with pytest.raises(InvalidVolume, match=reason) as err:
            Volume3D.polygon(vertices, z_lower_m=0.0, z_upper_m=10.0)
        assert err.value.field == "volume.outline_polygon.vertices"
        assert isinstance(err.value, ValueError)

    @pytest.mark.parametrize(("lo", "hi"), [(10.0, 10.0), (20.0, 10.0)])
    def test_altitude_lower_must_be_below_upper(self, lo, hi):
        with pytest.raises(InvalidVolume, match=r"volume\.altitude_lower: must be below altitude_upper"):
            box(0, 0, 1, 1, lo, hi)

    def test_negative_radius_is_refused(self):
        with pytest.raises(InvalidVolume, match=r"outline_circle\.radius: must be finite and >= 0"):
            Volume3D.circle(0.0, 0.0, -1.0, z_lower_m=0.0, z_upper_m=1.0)

    def test_time_start_must_precede_time_end(self):
        with pytest.raises(InvalidVolume, match="time_end: must be after time_start"):
            Volume4D(box(0, 0, 1, 1), T0, T0)

    def test_naive_datetimes_are_refused(self):
        with pytest.raises(InvalidVolume, match="time_start: must be timezone-aware"):
            Volume4D(box(0, 0, 1, 1), datetime(2026, 1, 1), None)


class TestIntersection:
    """F3548 GEN0500: an overlap of 1 cm or more is detected; closed intervals, so touching counts."""

    def test_polygons_overlapping_by_1_cm_intersect_and_1_cm_apart_do_not(self):
        a = in_time(box(0, 0, 100, 100))
        assert a.intersects(in_time(box(100 - CM, 0, 200, 100)))
        assert not a.intersects(in_time(box(100 + CM, 0, 200, 100)))
        assert a.intersects(in_time(box(100, 0, 200, 100)))  # touching edge

    def test_polygon_1_cm_inside_a_circle_intersects_and_1_cm_outside_does_not(self):
        """Oracle: exact distance to the centre; a 64-gon buffer would miss the 1 cm overlap by ~12 cm."""
        circle = in_time(Volume3D.circle(0.0, 0.0, 100.0, z_lower_m=0.0, z_upper_m=100.0))
        # A thin wedge pointing at the centre, halfway between two vertices of a 64-gon buffer.
        c, s = math.cos(math.radians(5.625 / 2)), math.sin(math.radians(5.625 / 2))  # mid-edge of a 64-gon

        def sliver(tip_m: float) -> Volume4D:
            ux, uy = c, s
            pts = [
                (tip_m * ux, tip_m * uy),
                (300 * ux - 5 * uy, 300 * uy + 5 * ux),
                (300 * ux + 5 * uy, 300 * uy - 5 * ux),
            ]
            return in_time(Volume3D.polygon(pts, z_lower_m=0.0, z_upper_m=100.0))

        assert circle.intersects(sliver(100.0 - CM))
        assert sliver(100.0 - CM).intersects(circle)
        assert not circle.intersects(sliver(100.0 + CM))
        ring = list(circle.volume.footprint(quad_segs=16).exterior.coords)[:-1]  # a 64-gon
        polygonised = in_time(Volume3D.polygon(ring, z_lower_m=0.0, z_upper_m=100.0))
        assert not polygonised.intersects(sliver(100.0 - CM)), (
            "the buffered circle is the trap this test guards"
        )

    def test_circles_touch_at_the_sum_of_radii(self):
        a = in_time(Volume3D.circle(0.0, 0.0, 50.0, z_lower_m=0.0, z_upper_m=10.0))
        assert a.intersects(in_time(Volume3D.circle(100.0 - CM, 0.0, 50.0, z_lower_m=0.0, z_upper_m=10.0)))
        assert not a.intersects(
            in_time(Volume3D.circle(100.0 + CM, 0.0, 50.0, z_lower_m=0.0, z_upper_m=10.0))
        )

    def test_altitudes_are_closed_intervals(self):
        a = in_time(box(0, 0, 10, 10, 0.0, 60.0))
        assert a.intersects(in_time(box(0, 0, 10, 10, 60.0, 90.0)))
        assert not a.intersects(in_time(box(0, 0, 10, 10, 60.0 + CM, 90.0)))

    def test_times_are_closed_intervals(self):
        a = in_time(box(0, 0, 10, 10), 0.0, 10.0)
        assert a.intersects(in_time(box(0, 0, 10, 10), 10.0, 20.0))
        assert not a.intersects(in_time(box(0, 0, 10, 10), 10.001, 20.0))

    def test_unbounded_times_and_heights(self):
        forever = Volume4D(Volume3D.circle(0.0, 0.0, 10.0, z_lower_m=-math.inf, z_upper_m=math.inf))
        assert forever.intersects(in_time(box(5, 5, 20, 20, 1000.0, 2000.0), 1e6, 1e6 + 1))
        assert forever.box[2:4] == (-math.inf, -math.inf)

    def test_box_holds_space_and_posix_time(self):
        v = in_time(box(-5, 1, 7, 9, 30.0, 60.0), 0.0, 1.0)
        assert v.box == (-5.0, 1.0, 30.0, T0.timestamp(), 7.0, 9.0, 60.0, T0.timestamp() + 60.0)


def _f3548_circle(lat: float, lng: float, radius_m: float) -> dict:
    return {
        "volume": {
            "outline_circle": {
                "center": {"lat": lat, "lng": lng},
                "radius": {"value": radius_m, "units": "M"},
            },
            "altitude_lower": {"value": 50.0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 120.0, "reference": "W84", "units": "M"},
        },
        "time_start": {"value": "2026-11-27T12:00:00Z", "format": "RFC3339"},
        "time_end": {"value": "2026-11-27T12:30:00+00:00", "format": "RFC3339"},
    }


class TestF3548Json:
    def test_circle_1_cm_rule_holds_through_geodetic_coordinates(self):
        """Oracle: pyproj Geod.fwd puts the polygon tip 1 cm inside / outside the circle on the ellipsoid."""
        lat_c, lng_c = 22.55, 113.95  # about 3 km from the frame origin
        circle = Volume4D.from_f3548(_f3548_circle(lat_c, lng_c, 100.0), FRAME)

        def wedge(tip_m: float) -> Volume4D:
            pts = [
                GEOD.fwd(lng_c, lat_c, az, d)[:2] for az, d in ((80.0, tip_m), (79.0, 400.0), (81.0, 400.0))
            ]
            doc = _f3548_circle(lat_c, lng_c, 1.0)
            del doc["volume"]["outline_circle"]
            doc["volume"]["outline_polygon"] = {"vertices": [{"lat": la, "lng": lo} for lo, la in pts]}
            return Volume4D.from_f3548(doc, FRAME)

        assert circle.intersects(wedge(100.0 - CM))
        assert not circle.intersects(wedge(100.0 + CM))

    def test_round_trip_keeps_coordinates_altitudes_and_times(self):
        doc = _f3548_circle(22.6, 113.9, 250.0)
        v = Volume4D.from_f3548(doc, FRAME)
        back = v.to_f3548(FRAME)
        centre = back["volume"]["outline_circle"]["center"]
        assert centre["lat"] == pytest.approx(22.6, abs=1e-9)
        assert centre["lng"] == pytest.approx(113.9, abs=1e-9)
        assert back["volume"]["altitude_upper"] == {"value": 120.0, "reference": "W84", "units": "M"}
        assert back["time_start"] == {"value": "2026-11-27T12:00:00Z", "format": "RFC3339"}
        again = Volume4D.from_f3548(back, FRAME)
        assert again.box == pytest.approx(v.box, abs=1e-6)

    def test_polygon_round_trip_and_altitude_uses_the_frame_height(self):
        frame = LocalFrame(22.53, 113.93, 4.0)
        doc = _f3548_circle(0, 0, 1)
        del doc["volume"]["outline_circle"]
        verts = [{"lat": 22.53, "lng": 113.93}, {"lat": 22.53, "lng": 113.94}, {"lat": 22.54, "lng": 113.935}]
        doc["volume"]["outline_polygon"] = {"vertices": verts}
        v = Volume4D.from_f3548(doc, frame)
        assert (v.volume.z_lower_m, v.volume.z_upper_m) == (46.0, 116.0)
        out = v.to_f3548(frame)["volume"]["outline_polygon"]["vertices"]
        for got, want in zip(out, verts, strict=True):
            assert got["lat"] == pytest.approx(want["lat"], abs=1e-9)
            assert got["lng"] == pytest.approx(want["lng"], abs=1e-9)

    @pytest.mark.parametrize(
        ("mutate", "field", "reason"),
        [
            (lambda d: d.pop("volume"), "volume4d.volume", "is required"),
            (lambda d: d["volume"].pop("outline_circle"), "volume4d.volume", "exactly one of"),
            (
                lambda d: d["volume"].__setitem__("outline_polygon", {"vertices": []}),
                "volume4d.volume",
                "exactly one of",
            ),
            (
                lambda d: d["volume"]["outline_circle"]["center"].__setitem__("lat", 91),
                "center.lat",
                "[-90, 90]",
            ),
            (
                lambda d: d["volume"]["outline_circle"]["radius"].__setitem__("units", "FT"),
                "radius.units",
                "be M",
            ),
            (lambda d: d["volume"]["altitude_lower"].__setitem__("reference", "AMSL"), "reference", "be W84"),
            (
                lambda d: d["volume"]["altitude_upper"].__setitem__("units", "FT"),
                "altitude_upper.units",
                "be M",
            ),
            (
                lambda d: d["volume"]["altitude_upper"].__setitem__("value", 10.0),
                "altitude_lower",
                "must be below",
            ),
            (
                lambda d: d["time_start"].__setitem__("value", "yesterday"),
                "time_start.value",
                "not an RFC 3339",
            ),
            (
                lambda d: d["time_end"].__setitem__("value", "2026-11-27T12:30:00"),
                "time_end.value",
                "UTC offset",
            ),
            (
                lambda d: d["time_end"].__setitem__("value", "2026-11-27T11:00:00Z"),
                "volume4d.time_end",
                "after time_start",
            ),
            (
                lambda d: d["time_start"].__setitem__("value", "0001-01-01T00:00:00+01:00"),
                "time_start.value",
                "out of range in UTC",
            ),
        ],
    )
    def test_bad_documents_name_the_field(self, mutate, field, reason):
        doc = _f3548_circle(22.6, 113.9, 250.0)
        mutate(doc)
        with pytest.raises(InvalidVolume) as err:
            Volume4D.from_f3548(doc, FRAME)
        assert field in str(err.value)
        assert reason in str(err.value)

    def test_polygon_vertex_errors_carry_the_index(self):
        doc = {
            "volume": {
                "outline_polygon": {"vertices": [{"lat": 0, "lng": 0}, {"lat": 0}, {"lat": 1, "lng": 1}]}
            }
        }
        with pytest.raises(InvalidVolume, match=r"outline_polygon\.vertices\[1\]\.lng"):
            Volume4D.from_f3548(doc, FRAME)

    def test_vertex_count_counts_a_circle_as_one(self):
        assert Volume3D.circle(0, 0, 1, z_lower_m=0, z_upper_m=1).vertex_count == 1
        assert box(0, 0, 1, 1).vertex_count == 4

    def test_vertex_total_is_the_sum_of_each_vertex_count(self):
        """Oracle: the per-volume count, over circles, polygons (a buffered leg: 67 ring points) and none."""
        leg = Volume3D.trusted(shapely.LineString([(0, 0), (400, 300)]).buffer(50.0), 0.0, 10.0)
        disc = Volume3D.circle(0, 0, 1, z_lower_m=0, z_upper_m=1)
        triangle = Volume3D.polygon([(0, 0), (5, 0), (0, 5)], z_lower_m=0, z_upper_m=1)
        for volumes in ([], [disc], [leg], [disc, box(0, 0, 1, 1), leg, disc, triangle], [leg, leg]):
            assert vertex_total(volumes) == sum(v.vertex_count for v in volumes)


def test_bounds_are_computed_once_and_invisible_to_equality_hash_repr_and_pickle():
    """The bounds cache is not state: a volume equals, hashes and prints as one that never computed it."""
    import pickle

    fresh, used = box(0, 0, 10, 20), box(0, 0, 10, 20)
    assert used.bounds_xy_m == (0.0, 0.0, 10.0, 20.0) and used.bounds_xy_m is used.bounds_xy_m
    assert used == fresh and hash(used) == hash(fresh) and repr(used) == repr(fresh)
    assert pickle.loads(pickle.dumps(used)) == fresh
    disc = Volume3D.circle(1.0, 2.0, 3.0, z_lower_m=0.0, z_upper_m=1.0)
    assert disc.bounds_xy_m == (-2.0, -1.0, 4.0, 5.0)


def test_a_trusted_volume_equals_the_validated_one_and_keeps_the_bounds_it_is_given():
    """Volume3D.trusted skips the checks (a store's own rows); its bounds, when given, are taken as is."""
    checked = box(0, 0, 10, 20, 30.0, 60.0)
    trusted = Volume3D.trusted(checked.outline, 30.0, 60.0, (0.0, 0.0, 10.0, 20.0))
    assert trusted == checked and trusted.bounds_xy_m == checked.bounds_xy_m
    assert Volume3D.trusted(checked.outline, 30.0, 60.0).bounds_xy_m == (0.0, 0.0, 10.0, 20.0)


def test_intersects_agrees_with_shapely_on_random_near_misses_and_touches():
    """Oracle: shapely's exact distance between the outlines (0 = they meet). Outlines are placed to
    touch exactly or to miss by a few mm, so the bounding-box shortcut is tried at its edge."""
    rng = np.random.default_rng(7)
    for _ in range(400):
        x, y, r = rng.uniform(-5000, 5000), rng.uniform(-5000, 5000), rng.uniform(1, 300)
        a = Volume3D.circle(x, y, r, z_lower_m=0.0, z_upper_m=60.0)
        gap = rng.choice([0.0, 0.0, 0.003, 2.0])
        left = x + r + gap
        b = box(left, y - 5.0, left + 50.0, y + 5.0)
        exact = shapely.distance(shapely.Point(x, y), b.outline) <= r
        assert a.intersects(b) == exact == b.intersects(a)
        c = box(left + 50.0 + gap, y - 5.0, left + 90.0, y + 5.0)
        assert b.intersects(c) == (gap == 0.0) == c.intersects(b)


def test_between_keeps_the_outline_and_its_bounds_at_new_heights():
    """Oracle: the constructor with the same outline; the bounds come along without being computed again."""
    square = Volume3D.polygon([(0, 0), (10, 0), (10, 4), (0, 4)], z_lower_m=0.0, z_upper_m=5.0)
    fresh = square.between(30.5, 59.5)
    assert fresh == Volume3D(square.outline, 30.5, 59.5) and fresh.outline is square.outline
    assert fresh.bounds_xy_m == (0.0, 0.0, 10.0, 4.0)
    assert square.bounds_xy_m == (0.0, 0.0, 10.0, 4.0)  # now computed: handed on
    assert square.between(60.5, 89.5)._bounds_xy_m == (0.0, 0.0, 10.0, 4.0)
    disc = Volume3D.circle(5.0, 5.0, 2.0, z_lower_m=0.0, z_upper_m=1.0).between(2.0, 3.0)
    assert (disc.z_lower_m, disc.z_upper_m, disc.bounds_xy_m) == (2.0, 3.0, (3.0, 3.0, 7.0, 7.0))
