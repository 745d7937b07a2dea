"""The region loader on the bundled Shenzhen-Nanshan region, and its errors."""

from pathlib import Path

import numpy as np
import pytest
from pyproj import Geod

from airspace.errors import InvalidRegion
from airspace.geofences import Restriction
from airspace.region import load_region

ROOT = Path(__file__).resolve().parents[2]
REGION = ROOT / "scenarios" / "shenzhen-nanshan" / "region.yaml"
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def region():
    return load_region(REGION)


def test_bundled_region_has_its_grid_layers_zones_and_hubs(region):
    assert region.grid.shape == (40, 40, 5)
    assert [layer.name for layer in region.grid.layers] == [
        "d30-60",
        "d60-90",
        "d90-120",
        "e150-300",
        "e300-450",
    ]
    by_kind = {r: sorted(f.identifier for f in region.geofences if f.restriction is r) for r in Restriction}
    assert by_kind[Restriction.PROHIBITED] == ["HKSARBD", "SZBAYFW", "ZGSZCTR"]
    assert len(by_kind[Restriction.REQ_AUTHORISATION]) == 2
    assert len(by_kind[Restriction.CONDITIONAL]) == 2
    assert 6 <= len(region.hubs) <= 10


def test_frame_z_is_height_above_the_region_ground(region):
    """Datum: terrain 5 m AMSL, geoid -3 m, so ground is 2 m W84 and layers read as heights AGL."""
    assert region.frame.h0_m == pytest.approx(2.0)
    assert region.grid.layers[0].z_lower_m == pytest.approx(30.0)


def test_hub_positions_match_the_geodesic_from_the_origin(region):
    """Oracle: pyproj Geod.inv from the origin gives each hub's distance."""
    for hub in region.hubs:
        lon, lat, _ = region.frame.to_geodetic(hub.x_m, hub.y_m)
        _, _, dist_m = GEOD.inv(region.frame.lon0_deg, region.frame.lat0_deg, float(lon), float(lat))
        assert np.hypot(hub.x_m, hub.y_m) == pytest.approx(dist_m, rel=1e-4)


def test_no_hub_lies_in_a_prohibited_zone(region):
    """A hub inside a no-fly zone could never be served; check every volume exactly."""
    from shapely.geometry import Point

    for fence in region.geofences:
        if fence.restriction is Restriction.PROHIBITED:
            for volume in fence.volumes:
                for hub in region.hubs:
                    assert not volume.outline_intersects(Point(hub.x_m, hub.y_m)), (hub.id, fence.identifier)


def test_capacity_overrides_per_layer_and_per_cell(region):
    grid, hub = region.grid, region.hub("hitech-park")
    i, j, k = (int(v) for v in grid.cell_of(hub.x_m, hub.y_m, 45.0))
    assert k == 0
    assert int(grid.capacity(i, j, 0)) == 20
    assert int(grid.capacity(i, j, 1)) == 10
    assert int(grid.capacity(i, j, 3)) == 4


def test_unknown_hub_lists_the_known_ones(region):
    with pytest.raises(KeyError, match="hitech-park"):
        region.hub("nowhere")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "region.yaml"
    path.write_text(text)
    return path


BASE = """
name: T
origin: {lat_deg: 22.53, lon_deg: 113.93}
grid: {cell_size_m: 500, x_min_m: -1000, y_min_m: -1000, x_max_m: 1000, y_max_m: 1000}
layers: [{name: low, lower_agl_m: 30, upper_agl_m: 60}]
"""


@pytest.mark.parametrize(
    ("extra", "field", "reason"),
    [
        ("colour: red\n", "colour", "Extra inputs are not permitted"),
        (
            "hubs: [{id: h, name: H, kind: helipad, lat_deg: 22.53, lon_deg: 113.93}]\n",
            "hubs[0].kind",
            "'vertiport'",
        ),
        (
            "hubs: [{id: far, name: F, kind: vertiport, lat_deg: 23.0, lon_deg: 113.93}]\n",
            "hubs[0](far)",
            "outside",
        ),
        (
            "hubs: [{id: a, name: A, kind: vertiport, lat_deg: 22.53, lon_deg: 113.93},"
            " {id: a, name: B, kind: vertiport, lat_deg: 22.531, lon_deg: 113.93}]\n",
            "hubs[1]",
            "duplicate",
        ),
        (
            "capacity: {cells: [{lat_deg: 22.53, lon_deg: 113.93, layer: top, capacity: 3}]}\n",
            "layer",
            "unknown",
        ),
        ("geozones: [missing.json]\n", "geozones", "file not found"),
    ],
)
def test_bad_region_files_name_the_field(tmp_path, extra, field, reason):
    with pytest.raises(InvalidRegion) as err:
        load_region(_write(tmp_path, BASE + extra))
    assert field in str(err.value)
    assert reason in str(err.value)
    assert str(tmp_path) in str(err.value)


def test_grid_span_must_be_whole_cells(tmp_path):
    with pytest.raises(InvalidRegion, match="multiple of cell_size_m"):
        load_region(_write(tmp_path, BASE.replace("x_max_m: 1000", "x_max_m: 1100")))


def test_duplicate_layer_names_are_refused(tmp_path):
    doubled = BASE.replace(
        "upper_agl_m: 60}]", "upper_agl_m: 60}, {name: low, lower_agl_m: 60, upper_agl_m: 90}]"
    )
    with pytest.raises(InvalidRegion, match=r"layers\[1\]: duplicate name 'low'"):
        load_region(_write(tmp_path, doubled))


@pytest.mark.parametrize(
    ("text", "reason"), [("name: [unclosed\n", "not valid YAML"), ("- a list\n", "must be a mapping")]
)
def test_unreadable_files_say_why(tmp_path, text, reason):
    with pytest.raises(InvalidRegion, match=reason):
        load_region(_write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(InvalidRegion, match="cannot be read"):
        load_region(tmp_path / "nope.yaml")
