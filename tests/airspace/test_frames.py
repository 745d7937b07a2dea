"""LocalFrame against independent oracles: its own inverse, and pyproj's geodesic on the ellipsoid."""

import numpy as np
import pytest
from pyproj import Geod

from airspace.frames import LocalFrame, VerticalDatum

GEOD = Geod(ellps="WGS84")
ORIGIN = (22.53, 113.93, 4.0)  # Shenzhen-Nanshan, the bundled region


def _points_within(frame: LocalFrame, radius_m: float, n: int, seed: int) -> tuple[np.ndarray, ...]:
    """n geodetic points up to radius_m from the origin, placed with Geod.fwd (independent of the frame)."""
    rng = np.random.default_rng(seed)
    az = rng.uniform(-180.0, 180.0, n)
    dist = radius_m * np.sqrt(rng.uniform(0.0, 1.0, n))
    lon, lat, _ = GEOD.fwd(np.full(n, frame.lon0_deg), np.full(n, frame.lat0_deg), az, dist)
    return lon, lat, rng.uniform(-50.0, 2000.0, n)


def test_round_trip_is_below_one_millimetre_within_50_km():
    frame = LocalFrame(*ORIGIN)
    lon, lat, h = _points_within(frame, 50_000.0, 5000, seed=1)
    x, y, z = frame.to_local(lon, lat, h)
    lon2, lat2, h2 = frame.to_geodetic(x, y, z)
    _, _, err_m = GEOD.inv(lon, lat, lon2, lat2)
    assert np.max(err_m) < 1e-3
    assert np.max(np.abs(h2 - h)) < 1e-3


def test_horizontal_distances_match_the_geodesic_to_0_1_percent_within_50_km():
    """Oracle: pyproj.Geod.inv between random pairs, against the Euclidean distance in the frame."""
    frame = LocalFrame(*ORIGIN)
    lon_a, lat_a, _ = _points_within(frame, 50_000.0, 3000, seed=2)
    lon_b, lat_b, _ = _points_within(frame, 50_000.0, 3000, seed=3)
    _, _, geodesic_m = GEOD.inv(lon_a, lat_a, lon_b, lat_b)
    xa, ya, _ = frame.to_local(lon_a, lat_a)
    xb, yb, _ = frame.to_local(lon_b, lat_b)
    local_m = np.hypot(xb - xa, yb - ya)
    keep = geodesic_m > 1.0
    rel = np.abs(local_m[keep] - geodesic_m[keep]) / geodesic_m[keep]
    assert rel.max() < 1e-3


def test_axes_point_east_and_north_and_z_is_height_above_origin():
    frame = LocalFrame(*ORIGIN)
    lon_e, lat_e, _ = GEOD.fwd(ORIGIN[1], ORIGIN[0], 90.0, 1000.0)
    lon_n, lat_n, _ = GEOD.fwd(ORIGIN[1], ORIGIN[0], 0.0, 1000.0)
    x, y, z = frame.to_local([lon_e, lon_n], [lat_e, lat_n], [ORIGIN[2] + 100.0, ORIGIN[2]])
    np.testing.assert_allclose(x, [1000.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(y, [0.0, 1000.0], atol=0.05)  # a 1 km east geodesic curves ~ 0.03 m south
    np.testing.assert_allclose(z, [100.0, 0.0])


def test_scalars_and_arrays_broadcast():
    frame = LocalFrame(*ORIGIN)
    x, y, z = frame.to_local(113.93, [22.53, 22.54], 10.0)
    assert x.shape == y.shape == z.shape == (2,)


@pytest.mark.parametrize(("lat0", "lon0", "field"), [(90.0, 0.0, "lat0_deg"), (0.0, 181.0, "lon0_deg")])
def test_bad_origin_is_refused_naming_the_field(lat0, lon0, field):
    with pytest.raises(ValueError, match=field):
        LocalFrame(lat0, lon0)


def test_vertical_datum_converts_each_reference():
    datum = VerticalDatum(terrain_amsl_m=10.0, geoid_undulation_m=-3.0)
    assert datum.to_w84(100.0, "W84") == 100.0
    assert datum.to_w84(100.0, "AMSL") == 97.0
    assert datum.to_w84(100.0, "agl") == 107.0
    with pytest.raises(ValueError, match="reference: must be one of"):
        datum.to_w84(1.0, "QNH")
