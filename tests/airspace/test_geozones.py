"""Geozone importers: ED-269 / ED-318 / GeoJSON on the public samples, sample schedules, errors.

Oracles: pyproj Geod for polygon areas and hand-computed datum arithmetic for heights.
"""

import json
import math
import os
from datetime import UTC, datetime, time
from pathlib import Path

import numpy as np
import pytest
from pyproj import Geod

from airspace.errors import InvalidGeozone
from airspace.frames import LocalFrame, VerticalDatum
from airspace.geofences import Geofence, Restriction, WeeklySchedule
from airspace.geozones import load_geozones
from airspace.volumes import Circle

GEOZONES = Path(__file__).parents[3] / "shared" / "data" / "geozones"
# The samples live in shared/ beside the checkout (CI lays it there); only a bare clone may skip them.
needs_samples = pytest.mark.skipif(
    not GEOZONES.is_dir() and not os.environ.get("CI"), reason=f"sample geozones not found at {GEOZONES}"
)
GEOD = Geod(ellps="WGS84")
DATUM = VerticalDatum(terrain_amsl_m=540.0, geoid_undulation_m=49.5)
H0_M = 500.0
BERN = LocalFrame(46.95, 7.47, H0_M)
GENEVA = LocalFrame(46.215, 6.168, H0_M)
PARIS_NE = LocalFrame(49.02, 2.65, H0_M)
CIRCLE_CENTRE = LocalFrame(50.122901, 2.636866, H0_M)


def z_of(value_m: float, reference: str) -> float:
    """Frame z by hand: AGL adds terrain and undulation, AMSL the undulation, W84 nothing."""
    extra = {"AGL": 540.0 + 49.5, "AMSL": 49.5, "W84": 0.0}[reference]
    return value_m + extra - H0_M


def sample(name: str) -> dict:
    return json.loads((GEOZONES / name).read_text(encoding="utf-8"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ed269_doc(**overrides) -> dict:
    """A small ED-269 document with the uas_standards ``features`` root."""
    zone = {
        "identifier": "TST01",
        "country": "CHE",
        "name": "Test zone",
        "type": "COMMON",
        "restriction": "PROHIBITED",
        "message": "keep out",
        "applicability": [{"permanent": "YES"}],
        "zoneAuthority": [{"name": "Authority A"}, {"name": "Authority B"}],
        "geometry": [
            {
                "uomDimensions": "FT",
                "lowerLimit": "400",
                "lowerVerticalReference": "AMSL",
                "upperLimit": 1000,
                "upperVerticalReference": "AMSL",
                "horizontalProjection": {"type": "Circle", "center": [7.47, 46.95], "radius": 1000},
            },
            {
                "uomDimensions": "M",
                "lowerLimit": 0,
                "lowerVerticalReference": "AGL",
                "upperLimit": 120,
                "upperVerticalReference": "AGL",
                "horizontalProjection": {
                    "type": "Polygon",
                    "coordinates": [[[7.46, 46.94], [7.48, 46.94], [7.48, 46.96], [7.46, 46.94]]],
                },
            },
        ],
    }
    zone.update(overrides)
    return {"title": "test", "description": "features root", "features": [zone]}


def geojson_doc(**properties) -> dict:
    props = {"identifier": "GJ1", "restriction": "CONDITIONAL", **properties}
    square = [[7.46, 46.94], [7.48, 46.94], [7.48, 46.96], [7.46, 46.96], [7.46, 46.94]]
    shifted = [[x + 0.1, y] for x, y in square]
    geometry = {"type": "MultiPolygon", "coordinates": [[square], [shifted]]}
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": geometry, "properties": props}],
    }


@needs_samples
class TestSamples:
    @pytest.mark.parametrize("path", sorted(GEOZONES.glob("*.json")), ids=lambda p: p.name)
    def test_every_sample_file_imports(self, path):
        fences = load_geozones(path, BERN, DATUM)
        assert fences
        assert all(isinstance(f, Geofence) and f.volumes and f.identifier for f in fences)

    def test_ed269_swiss_sample(self):
        (fence,) = load_geozones(GEOZONES / "cis_source_sample_ed269.json", GENEVA, DATUM)
        assert (fence.identifier, fence.restriction, fence.country) == (
            "LSXX",
            Restriction.REQ_AUTHORISATION,
            "CHE",
        )
        assert (fence.name, fence.authority, fence.message) == (
            "LSXX City Sample",
            "LSXX City Sample",
            "MSG01",
        )
        (volume,) = fence.volumes
        assert volume.vertex_count == 4  # the repeated closing vertex is dropped
        assert volume.z_lower_m == pytest.approx(z_of(0.0, "AGL"))  # "0" is a string in the sample
        assert volume.z_upper_m == math.inf  # upperLimit null = unbounded
        assert fence.applicability == ()  # permanent YES, empty day list, null times = always
        assert fence.active_at(utc(2031, 5, 4, 3, 0))

    def test_ed318_swiss_sample(self):
        fences = load_geozones(GEOZONES / "cis_source_sample_ed318.json", BERN, DATUM)
        assert [f.identifier for f in fences] == ["LSZB003", "BLns058", "LSTB002"]
        assert {f.restriction for f in fences} == {
            Restriction.REQ_AUTHORISATION
        }  # REQ_AUTHORIZATION in ED-318
        bern = fences[0]
        assert (bern.name, bern.authority, bern.country) == ("LSZB Bern-Belp 2", "Skyguide", "CHE")
        (volume,) = bern.volumes
        assert volume.z_lower_m == pytest.approx(z_of(60.0, "AGL"))
        assert volume.z_upper_m == pytest.approx(z_of(99999.0, "AGL"))  # just a large number
        assert fences[1].name == "Protected natural object Langmatt"  # en-GB preferred over de-CH

    @pytest.mark.parametrize(
        ("name", "index"),
        [
            ("cis_source_sample_ed269.json", 0),
            ("cis_source_sample_ed318.json", 0),
            ("cis_source_sample_ed318.json", 1),
            ("cis_source_sample_ed318.json", 2),
        ],
    )
    def test_swiss_polygon_area_matches_geodesic_area(self, name, index):
        """Oracle: pyproj Geod.polygon_area_perimeter on the raw lon/lat ring, within 0.1 %."""
        doc = sample(name)
        zone = (doc.get("UASZoneList") or doc["features"])[index]
        geometry = zone["geometry"][0]["horizontalProjection"] if "UASZoneList" in doc else zone["geometry"]
        lons, lats = np.array(geometry["coordinates"][0]).T
        frame = LocalFrame(float(lats.mean()), float(lons.mean()), 0.0)
        fence = load_geozones(doc, frame, DATUM)[index]
        area_geod_m2 = abs(GEOD.polygon_area_perimeter(lons, lats)[0])
        assert fence.volumes[0].outline.area == pytest.approx(area_geod_m2, rel=1e-3)

    def test_ed318_circle_is_point_plus_extent(self):
        (fence,) = load_geozones(GEOZONES / "ed318_Example_GeoZone_Circle.json", CIRCLE_CENTRE, DATUM)
        assert (fence.identifier, fence.restriction, fence.country) == (
            "ABC1234",
            Restriction.PROHIBITED,
            "FRA",
        )
        (volume,) = fence.volumes
        assert isinstance(volume.outline, Circle)
        assert volume.outline.radius_m == 3500.0
        assert (volume.outline.center_x_m, volume.outline.center_y_m) == pytest.approx((0.0, 0.0), abs=1e-6)
        assert (volume.z_lower_m, volume.z_upper_m) == pytest.approx((z_of(50.0, "AGL"), z_of(150.0, "AGL")))
        assert fence.applicability == ()

    def test_ed318_two_layers_give_two_volumes(self):
        (fence,) = load_geozones(GEOZONES / "ed318_Example_GeoZone_2_Layers.json", PARIS_NE, DATUM)
        assert (fence.identifier, fence.restriction) == ("NFZ6547", Restriction.REQ_AUTHORISATION)
        assert [v.vertex_count for v in fence.volumes] == [4, 3]
        heights = [z for v in fence.volumes for z in (v.z_lower_m, v.z_upper_m)]
        expected = [z_of(50.0, "AGL"), z_of(150.0, "AGL"), z_of(0.0, "AGL"), z_of(50.0, "AGL")]
        assert heights == pytest.approx(expected)
        assert fence.authority == "LFPG-UASZoneManager"

    def test_ed318_collection_holds_both_zones(self):
        fences = load_geozones(GEOZONES / "ed318_Example_Collection.json", PARIS_NE, DATUM)
        assert [(f.identifier, f.restriction, len(f.volumes)) for f in fences] == [
            ("NFZ6547", Restriction.REQ_AUTHORISATION, 2),
            ("ABC1234", Restriction.PROHIBITED, 1),
        ]


@pytest.fixture(scope="module")
def fence() -> Geofence:
    """NFZ6547 of the ED-318 example collection, the sample with a schedule."""
    return load_geozones(GEOZONES / "ed318_Example_Collection.json", PARIS_NE, DATUM)[0]


@needs_samples
class TestSampleSchedule:
    """NFZ6547: 2018-12-31T15:59:59Z .. 2019-12-31T15:59:59Z, ANY 16:00-17:00 and SUN 10:00-12:00 (UTC)."""

    def test_parsed_schedule(self, fence):
        (period,) = fence.applicability
        assert (period.start, period.end) == (utc(2018, 12, 31, 15, 59, 59), utc(2019, 12, 31, 15, 59, 59))
        assert period.schedules == (
            WeeklySchedule(frozenset(range(7)), time(16), time(17)),
            WeeklySchedule(frozenset({6}), time(10), time(12)),
        )

    @pytest.mark.parametrize(
        ("t", "active"),
        [
            (utc(2019, 3, 5, 16, 30), True),  # a Tuesday, inside ANY 16-17
            (utc(2019, 3, 5, 15, 30), False),
            (utc(2019, 3, 5, 17, 0), True),  # closed interval
            (utc(2019, 3, 5, 17, 0, 1), False),
            (utc(2019, 3, 10, 11, 0), True),  # a Sunday, inside SUN 10-12
            (utc(2019, 3, 9, 11, 0), False),  # the Saturday before
            (utc(2020, 3, 5, 16, 30), False),  # after endDateTime
            (utc(2018, 12, 30, 16, 30), False),  # before startDateTime
        ],
    )
    def test_active_at(self, fence, t, active):
        assert fence.active_at(t) is active

    @pytest.mark.parametrize(
        ("start", "end", "active"),
        [
            (utc(2019, 3, 5, 15, 58), utc(2019, 3, 5, 16, 1), True),  # straddles 16:00
            (utc(2019, 3, 5, 15, 55), utc(2019, 3, 5, 16, 0), True),  # touches 16:00
            (utc(2019, 3, 5, 15, 55), utc(2019, 3, 5, 15, 59, 59), False),
            (utc(2019, 3, 5, 17, 0, 0, 1), utc(2019, 3, 6, 9, 0), False),
            (utc(2019, 3, 9, 17, 30), utc(2019, 3, 10, 10, 1), True),  # runs into Sunday 10:00
            (utc(2019, 12, 31, 15, 59, 59), utc(2020, 6, 1), False),  # ends at the window end, off schedule
            (utc(2019, 12, 30, 16, 30), utc(2020, 6, 1), True),  # clipped to the window end, still on
            (utc(2010, 1, 1), utc(2030, 1, 1), True),  # long window, no time stepping
            (utc(2020, 1, 1), utc(2030, 1, 1), False),
        ],
    )
    def test_active_during(self, fence, start, end, active):
        assert fence.active_during(start, end) is active

    def test_active_during_unbounded(self, fence):
        assert fence.active_during(None, None)
        assert fence.active_during(None, utc(2019, 1, 1))  # 2018-12-31 16:00 is on schedule
        assert not fence.active_during(utc(2020, 1, 1), None)


class TestFeaturesRootAndUnits:
    def test_ed269_features_root_with_circle_and_feet(self):
        (fence,) = load_geozones(ed269_doc(), BERN, DATUM)
        assert (fence.identifier, fence.restriction, fence.message) == (
            "TST01",
            Restriction.PROHIBITED,
            "keep out",
        )
        assert fence.authority == "Authority A; Authority B"
        circle, triangle = fence.volumes
        assert isinstance(circle.outline, Circle)
        assert circle.outline.radius_m == pytest.approx(1000 * 0.3048)  # radius in uomDimensions
        assert circle.z_lower_m == pytest.approx(z_of(400 * 0.3048, "AMSL"))
        assert circle.z_upper_m == pytest.approx(z_of(1000 * 0.3048, "AMSL"))
        assert (triangle.z_lower_m, triangle.z_upper_m) == pytest.approx((z_of(0, "AGL"), z_of(120, "AGL")))
        assert fence.applicability == ()

    def test_schedule_with_offset_and_day_names(self):
        period = {
            "permanent": "NO",
            "startDateTime": "2026-01-01T00:00:00Z",
            "schedule": [{"day": ["MON", "WED"], "startTime": "00:30:00+01:00", "endTime": "24:00+01:00"}],
        }
        (fence,) = load_geozones(ed269_doc(applicability=[period]), BERN, DATUM)
        (applicability,) = fence.applicability
        # MON/WED 00:30 local (+01:00) is SUN/TUE 23:30 UTC; 24:00 local is 23:00 UTC the same local day
        assert applicability.schedules == (WeeklySchedule(frozenset({6, 1}), time(23, 30), time(23)),)
        assert applicability.end is None
        assert fence.active_at(utc(2026, 1, 5, 12))  # Monday noon
        assert not fence.active_at(utc(2026, 1, 6, 23, 15))  # Tuesday 23:15 UTC = Wednesday 00:15 local
        assert not fence.active_at(utc(2025, 12, 29, 12))  # before the start date

    def test_plain_geojson_properties(self):
        doc = geojson_doc(
            lower_m=10,
            upper_m=90,
            altitude_reference="AGL",
            authority="City",
            time_start="2026-01-01T00:00:00Z",
            time_end="2026-01-02T00:00:00+01:00",
        )
        (fence,) = load_geozones(doc, BERN, DATUM)
        assert (fence.identifier, fence.restriction, fence.authority) == (
            "GJ1",
            Restriction.CONDITIONAL,
            "City",
        )
        assert len(fence.volumes) == 2
        assert (fence.volumes[1].z_lower_m, fence.volumes[1].z_upper_m) == pytest.approx(
            (z_of(10, "AGL"), z_of(90, "AGL"))
        )
        assert fence.active_at(utc(2026, 1, 1, 22, 59))
        assert not fence.active_at(utc(2026, 1, 1, 23, 1))

    def test_plain_geojson_without_limits_is_unbounded(self):
        (fence,) = load_geozones(geojson_doc(restriction="NO_RESTRICTION"), BERN, DATUM)
        assert (fence.volumes[0].z_lower_m, fence.volumes[0].z_upper_m) == (-math.inf, math.inf)
        assert fence.applicability == ()

    @pytest.mark.parametrize(
        ("value", "restriction"),
        [("USPACE", Restriction.NO_RESTRICTION), ("REQ_AUTHORIZATION", Restriction.REQ_AUTHORISATION)],
    )
    def test_ed318_restriction_spellings(self, value, restriction):
        doc = geojson_doc()
        props = doc["features"][0]["properties"]
        props.update(type=value, name=[{"text": "Zone", "lang": "de-CH"}])
        doc["features"][0]["geometry"]["layer"] = {
            "lower": 0,
            "lowerReference": "WGS84",
            "upper": 1,
            "upperReference": "W84",
            "uom": "ft",
        }
        (fence,) = load_geozones(doc, BERN, DATUM)
        assert fence.restriction is restriction
        assert fence.name == "Zone"  # no English text: the first
        assert fence.volumes[0].z_upper_m == pytest.approx(0.3048 - H0_M)


class TestErrors:
    @pytest.mark.parametrize(
        ("edit", "field", "reason"),
        [
            (lambda z: z.pop("geometry"), "features[0](TST01).geometry", "is required"),
            (lambda z: z.update(geometry=[]), "features[0](TST01).geometry", "at least 1"),
            (lambda z: z.update(restriction="FORBIDDEN"), "features[0](TST01).restriction", "must be one of"),
            (lambda z: z.pop("identifier"), "features[0].identifier", "is required"),
            (
                lambda z: z["geometry"][0].update(lowerLimit="abc"),
                "features[0](TST01).geometry[0].lowerLimit",
                "finite number",
            ),
            (
                lambda z: z["geometry"][0].update(lowerLimit=2000),
                "features[0](TST01).geometry[0].lowerLimit",
                "must be below upperLimit",
            ),
            (
                lambda z: z["geometry"][0].update(uomDimensions="NM"),
                "features[0](TST01).geometry[0].uomDimensions",
                "M or FT",
            ),
            (
                lambda z: z["geometry"][0].update(lowerVerticalReference="SFC"),
                "features[0](TST01).geometry[0].lowerVerticalReference",
                "AGL",
            ),
            (
                lambda z: z["geometry"][0]["horizontalProjection"].update(radius=0),
                "features[0](TST01).geometry[0].horizontalProjection.radius",
                "> 0",
            ),
            (
                lambda z: z["geometry"][0]["horizontalProjection"].update(center=[7.4, 95.0]),
                "features[0](TST01).geometry[0].horizontalProjection.center",
                "lat in",
            ),
            (
                lambda z: z["geometry"][0]["horizontalProjection"].update(type="Ellipse"),
                "features[0](TST01).geometry[0].horizontalProjection.type",
                "Polygon or Circle",
            ),
            (
                lambda z: z["geometry"][1]["horizontalProjection"].update(
                    coordinates=[[[7.46, 46.94], [7.48, 46.96], [7.48, 46.94], [7.46, 46.96], [7.46, 46.94]]]
                ),
                "features[0](TST01).geometry[1].horizontalProjection.coordinates.outline_polygon.vertices",
                "edges may not cross",
            ),
            (
                lambda z: z["geometry"][1]["horizontalProjection"]["coordinates"].append(
                    [[7.47, 46.945], [7.475, 46.945], [7.475, 46.95], [7.47, 46.945]]
                ),
                "features[0](TST01).geometry[1].horizontalProjection.coordinates",
                "holes are not supported",
            ),
            (
                lambda z: z["geometry"][1]["horizontalProjection"]["coordinates"][0].pop(),
                "features[0](TST01).geometry[1].horizontalProjection.coordinates[0]",
                "at least 4",
            ),
            (
                lambda z: z["geometry"][1]["horizontalProjection"]["coordinates"][0].__setitem__(
                    -1, [7.465, 46.945]
                ),
                "features[0](TST01).geometry[1].horizontalProjection.coordinates[0]",
                "must be closed",
            ),
            (
                lambda z: z.update(applicability=[{"permanent": "MAYBE"}]),
                "features[0](TST01).applicability[0].permanent",
                "YES or NO",
            ),
            (
                lambda z: z.update(
                    applicability=[
                        {"startDateTime": "2026-02-01T00:00:00Z", "endDateTime": "2026-01-01T00:00:00Z"}
                    ]
                ),
                "features[0](TST01).applicability[0].end",
                "after start",
            ),
            (
                lambda z: z.update(applicability=[{"startDateTime": "2026-02-01"}]),
                "features[0](TST01).applicability[0].startDateTime",
                "UTC offset",
            ),
            (
                lambda z: z.update(applicability=[{"schedule": [{"day": ["FUN"]}]}]),
                "features[0](TST01).applicability[0].schedule[0].day[0]",
                "MON",
            ),
            (
                lambda z: z.update(applicability=[{"schedule": [{"day": ["MON"], "startTime": "25:61"}]}]),
                "features[0](TST01).applicability[0].schedule[0].startTime",
                "time of day",
            ),
            (
                lambda z: z.update(applicability=[{"schedule": [{"day": ["MON"], "startEvent": "SR"}]}]),
                "features[0](TST01).applicability[0].schedule[0].startEvent",
                "sunrise",
            ),
        ],
    )
    def test_broken_ed269_zone(self, edit, field, reason):
        doc = ed269_doc()
        edit(doc["features"][0])
        with pytest.raises(InvalidGeozone, match=reason) as err:
            load_geozones(doc, BERN, DATUM)
        assert err.value.field == field
        assert str(err.value).startswith(f"{field}: ")

    @pytest.mark.parametrize(
        ("edit", "field", "reason"),
        [
            (
                lambda f: f["geometry"]["layer"].pop("upperReference"),
                "features[0](GJ1).geometry.layer.upperReference",
                "must be one of",
            ),
            (lambda f: f["geometry"].update(layer=None), "features[0](GJ1).geometry.layer", "is required"),
            (
                lambda f: f["geometry"].pop("layer"),
                "features[0](GJ1).properties.restriction",
                "no geometry has an ED-318 layer",
            ),
            (
                lambda f: f["properties"].update(type="NO_FLY"),
                "features[0](GJ1).properties.type",
                "must be one of",
            ),
            (
                lambda f: f["geometry"]["layer"].update(uom="km"),
                "features[0](GJ1).geometry.layer.uom",
                "M or FT",
            ),
            (
                lambda f: f.update(geometry={"type": "Point", "coordinates": [7.4, 46.9], "layer": {}}),
                "features[0](GJ1).geometry.extent",
                "is required",
            ),
            (
                lambda f: f.update(
                    geometry={"type": "LineString", "coordinates": [[7.4, 46.9], [7.5, 46.9]], "layer": {}}
                ),
                "features[0](GJ1).geometry.type",
                "must be Polygon",
            ),
            (
                lambda f: f.update(geometry={"type": "GeometryCollection", "geometries": [], "layer": {}}),
                "features[0](GJ1).geometry.geometries",
                "at least 1",
            ),
            (
                lambda f: f["properties"].update(
                    limitedApplicability=[
                        {"schedule": [{"day": ["SUN"], "endTime": "12:00", "endEvent": "SS"}]}
                    ]
                ),
                "features[0](GJ1).properties.limitedApplicability[0].schedule[0].endEvent",
                "sunrise",
            ),
        ],
    )
    def test_broken_ed318_feature(self, edit, field, reason):
        doc = geojson_doc()
        feature = doc["features"][0]
        feature["properties"]["type"] = feature["properties"].pop("restriction")
        feature["geometry"] = {"type": "Polygon", "coordinates": feature["geometry"]["coordinates"][0]}
        feature["geometry"]["layer"] = {
            "lower": 0,
            "lowerReference": "AGL",
            "upper": 120,
            "upperReference": "AGL",
            "uom": "m",
        }
        load_geozones(doc, BERN, DATUM)  # valid before the edit
        edit(feature)
        with pytest.raises(InvalidGeozone, match=reason) as err:
            load_geozones(doc, BERN, DATUM)
        assert err.value.field == field

    @pytest.mark.parametrize(
        ("properties", "field", "reason"),
        [
            ({"restriction": None}, "features[0](GJ1).properties.restriction", "must be one of"),
            ({"upper_m": 100}, "features[0](GJ1).properties.altitude_reference", "must be one of"),
            ({"time_end": "tomorrow"}, "features[0](GJ1).properties.time_end", "RFC 3339"),
            (
                {"time_start": "2026-01-02T00:00:00Z", "time_end": "2026-01-01T00:00:00Z"},
                "features[0](GJ1).properties.time_end",
                "after start",
            ),
        ],
    )
    def test_broken_geojson_feature(self, properties, field, reason):
        with pytest.raises(InvalidGeozone, match=reason) as err:
            load_geozones(geojson_doc(**properties), BERN, DATUM)
        assert err.value.field == field

    @pytest.mark.parametrize(
        ("doc", "field", "reason"),
        [
            (
                {"zones": []},
                "document",
                r"unknown geozone format: looked for UASZoneList.*found keys \['zones'\]",
            ),
            ([], "document", "must be a JSON object"),
            ({"UASZoneList": None}, "UASZoneList", "must be a list"),
            ({"type": "FeatureCollection"}, "features", "must be a list"),
            (
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "geometry": None,
                            "properties": {"identifier": "X", "restriction": "PROHIBITED"},
                        }
                    ],
                },
                "features[0](X).geometry",
                "is required",
            ),
        ],
    )
    def test_broken_documents(self, doc, field, reason):
        with pytest.raises(InvalidGeozone, match=reason) as err:
            load_geozones(doc, BERN, DATUM)
        assert err.value.field == field

    def test_missing_file(self, tmp_path):
        with pytest.raises(InvalidGeozone, match="no such file") as err:
            load_geozones(tmp_path / "nope.json", BERN)
        assert err.value.field.endswith("nope.json")

    def test_file_that_is_not_json(self, tmp_path):
        path = tmp_path / "zones.json"
        path.write_text("{not json", encoding="utf-8")
        with pytest.raises(InvalidGeozone, match="is not JSON") as err:
            load_geozones(str(path), BERN)
        assert err.value.field == str(path)

    def test_broken_file_names_file_zone_and_field(self, tmp_path):
        doc = ed269_doc()
        doc["features"][0]["geometry"][0]["upperLimit"] = "high"
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        with pytest.raises(InvalidGeozone) as err:
            load_geozones(path, BERN)
        assert (
            str(err.value)
            == "bad.json:features[0](TST01).geometry[0].upperLimit: must be a finite number ('high')"
        )
