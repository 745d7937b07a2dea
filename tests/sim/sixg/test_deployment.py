"""Site layout, nearest sites, link geometry and the TR 38.901 sector antenna (sim.sixg.deployment)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from sim.sixg.deployment import (
    DEFAULT_DOWNTILT_RAD,
    ISD_M,
    SECTOR_BORESIGHT_RAD,
    NearestSites,
    Sites,
    _wrap,
    antenna_gain_dbi,
    best_sector,
    hex_sites,
    link_geometry,
    nearest_sites,
    scenario_sites,
)

BOUNDS = (-730.0, 120.0, 2600.0, 1900.0)


def _brute_lattice(bounds, isd_m):
    """Every point a*(i + j/2, j*sqrt(3)/2) inside the bounds grown by one ISD, from a wide index range."""
    x_min, y_min, x_max, y_max = bounds
    pts = []
    for j in range(-200, 200):
        for i in range(-200, 200):
            x, y = (i + j / 2.0) * isd_m, j * isd_m * math.sqrt(3.0) / 2.0
            if x_min - isd_m <= x <= x_max + isd_m and y_min - isd_m <= y <= y_max + isd_m:
                pts.append((round(x, 6), round(y, 6)))
    return sorted(pts)


@pytest.mark.parametrize("isd_m", [200.0, 500.0, 1732.0])
def test_hex_grid_has_every_lattice_point_of_the_region_plus_one_isd(isd_m):
    sites = hex_sites(BOUNDS, isd_m, 25.0)
    got = sorted((round(x, 6), round(y, 6)) for x, y in sites.xy_m.tolist())
    assert got == _brute_lattice(BOUNDS, isd_m)


@pytest.mark.parametrize("isd_m", [200.0, 500.0])
def test_hex_neighbours_are_one_isd_apart(isd_m):
    sites = hex_sites(BOUNDS, isd_m, 25.0)
    d_m, _ = cKDTree(sites.xy_m).query(sites.xy_m, k=2)
    np.testing.assert_allclose(d_m[:, 1], isd_m, rtol=1e-9)
    # interior sites have exactly six neighbours at one ISD
    counts = np.array([len(n) - 1 for n in cKDTree(sites.xy_m).query_ball_point(sites.xy_m, isd_m * 1.001)])
    assert counts.max() == 6 and (counts == 6).sum() > sites.n_sites / 3


@pytest.mark.parametrize("isd_m", [200.0, 500.0, 1732.0])
def test_hex_grid_covers_the_bounds_and_their_neighbourhood(isd_m):
    """Every point of the region, grown by ISD - ISD/sqrt(3), is within the hexagon circumradius
    ISD/sqrt(3) of a site: a vehicle at the edge of the region still has its first tier of sites."""
    sites = hex_sites(BOUNDS, isd_m, 25.0)
    grow = isd_m - isd_m / math.sqrt(3.0)
    x_min, y_min, x_max, y_max = BOUNDS
    gx, gy = np.meshgrid(
        np.linspace(x_min - grow, x_max + grow, 150), np.linspace(y_min - grow, y_max + grow, 150)
    )
    d_m, _ = sites.tree.query(np.column_stack([gx.ravel(), gy.ravel()]))
    assert d_m.max() <= isd_m / math.sqrt(3.0) + 1e-9


def test_hex_grid_is_anchored_at_the_region_origin_and_ordered_by_row():
    sites = hex_sites((0.0, 0.0, 1000.0, 1000.0), 500.0, 25.0)
    assert [0.0, 0.0] in sites.xy_m.tolist()
    order = np.lexsort((sites.xy_m[:, 0], sites.xy_m[:, 1]))
    assert (order == np.arange(sites.n_sites)).all()


@pytest.mark.parametrize(
    ("scenario", "isd_m", "height_m"),
    [("UMa-AV", 500.0, 25.0), ("UMi-AV", 200.0, 10.0), ("RMa-AV", 1732.0, 35.0)],
)
def test_scenario_defaults_are_sixg_model_section_2_6(scenario, isd_m, height_m):
    sites = scenario_sites(scenario, (0.0, 0.0, 3000.0, 3000.0))
    assert ISD_M[scenario] == isd_m
    assert (sites.height_m == height_m).all()
    d_m, _ = sites.tree.query(sites.xy_m, k=2)
    np.testing.assert_allclose(d_m[:, 1], isd_m)
    assert sites.n_sectors == 3 and sites.downtilt_rad == DEFAULT_DOWNTILT_RAD


def test_explicit_site_lists_are_accepted_and_checked():
    sites = Sites.from_arrays([[0.0, 0.0], [10.0, 5.0]], [20.0, 30.0], sectored=False, downtilt_rad=0.1)
    assert sites.n_sites == 2 and sites.n_sectors == 0 and sites.height_m.tolist() == [20.0, 30.0]
    with pytest.raises(ValueError, match=r"^sites.xy_m: "):
        Sites.from_arrays([[0.0, np.nan]], 25.0)
    with pytest.raises(ValueError, match=r"^sites.height_m: "):
        Sites.from_arrays([[0.0, 0.0], [1.0, 1.0]], [25.0, -1.0])
    with pytest.raises(ValueError, match=r"^sites.xy_m: "):
        Sites.from_arrays(np.empty((0, 2)), 25.0)
    with pytest.raises(ValueError, match=r"^sites.height_m: "):
        Sites.from_arrays([[0.0, 0.0], [1.0, 1.0]], [25.0, 25.0, 25.0])
    with pytest.raises(ValueError):
        sites.xy_m[0, 0] = 1.0  # read-only: a layout does not change under a running simulation


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: hex_sites((0.0, 0.0, -1.0, 10.0), 500.0, 25.0), "bounds_xy_m"),
        (lambda: hex_sites((0.0, 0.0, 10.0, 10.0), 0.0, 25.0), "isd_m"),
        (lambda: scenario_sites("UMa", (0.0, 0.0, 10.0, 10.0)), "scenario"),
    ],
)
def test_bad_layouts_are_refused_naming_the_field(call, field):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        call()


def test_nearest_sites_match_brute_force_and_come_nearest_first():
    sites = hex_sites(BOUNDS, 500.0, 25.0)
    xy = np.random.default_rng(1).uniform(-800.0, 2700.0, (300, 2))
    idx, d2d_m = nearest_sites(sites, xy, 7)
    all_d = np.linalg.norm(xy[:, None, :] - sites.xy_m[None, :, :], axis=2)
    np.testing.assert_allclose(d2d_m, np.sort(all_d, axis=1)[:, :7])
    np.testing.assert_allclose(np.take_along_axis(all_d, idx, axis=1), d2d_m)
    assert idx.shape == (300, 7) and idx.dtype == np.int64
    assert nearest_sites(sites, [10.0, 10.0], 1)[0].shape == (1, 1)
    with pytest.raises(ValueError, match=r"^k: "):
        nearest_sites(sites, xy, sites.n_sites + 1)


@pytest.mark.parametrize(("k", "spare"), [(4, 4), (3, 0), (19, 4), (21, 4), (22, 4)])
def test_nearest_sites_of_moving_vehicles_are_exactly_the_searched_ones(k, spare):
    """Oracle: ``nearest_sites`` at every step, to the last index and in the same order. Vehicles walk,
    hover, jump, leave the grid, swap ids, and stand on a site or on the bisector of two (ties)."""
    sites = hex_sites((0.0, 0.0, 1000.0, 800.0), 500.0, 25.0)  # 22 sites
    near = NearestSites(sites, k, spare=spare)
    rng = np.random.default_rng(7)
    n = 200
    xy = rng.uniform(-900.0, 1900.0, (n, 2))
    ids = np.arange(n)
    for step in range(60):
        xy += rng.normal(0.0, rng.choice([0.0, 2.0, 15.0, 400.0]), (n, 2))
        xy[:3] = sites.xy_m[0]  # on a site: its neighbours tie
        xy[3:6] = (sites.xy_m[0] + sites.xy_m[1]) / 2.0  # midway between two sites
        if step % 10 == 9:
            ids = rng.permutation(n) + step  # other vehicles, some ids new, some reused
        rows = rng.permutation(n)[: rng.integers(1, n + 1)]
        assert (near.query(ids[rows], xy[rows]) == nearest_sites(sites, xy[rows], k)[0]).all(), step


@pytest.mark.parametrize(
    "xy_m",
    [
        np.random.default_rng(3).uniform(-5000.0, 5000.0, (300, 2)),  # irregular, some cells empty
        np.column_stack([np.arange(40) * 250.0, np.zeros(40)]),  # on a line: a flat grid of cells
        np.array([[10.0, 20.0]]),  # one site
        np.repeat([[0.0, 0.0], [700.0, 0.0]], 3, axis=0),  # coincident sites: exact ties
    ],
)
def test_nearest_sites_searched_in_the_grid_of_any_layout_are_the_kd_tree_ones(xy_m):
    """Oracle: ``nearest_sites``, for searches from scratch (new ids every step) inside, around and far
    outside the sites."""
    sites = Sites.from_arrays(xy_m, 25.0)
    k = min(4, sites.n_sites)
    near = NearestSites(sites, k)
    rng = np.random.default_rng(11)
    for step in range(20):
        xy = rng.uniform(-3.0, 3.0, (50, 2)) * np.ptp(xy_m, axis=0).max(initial=1.0) + xy_m.mean(axis=0)
        xy[:5] = xy_m[rng.integers(0, len(xy_m), 5)]  # on sites
        got = near.query(np.arange(50) + 50 * step, xy)
        assert (got == nearest_sites(sites, xy, k)[0]).all(), step


def test_wrap_is_the_float_modulo_to_the_last_bit():
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [
            rng.uniform(-3.0 * np.pi, 3.0 * np.pi, 200_000),
            rng.uniform(-1e3, 1e3, 20_000),
            [-3 * np.pi, -np.pi, 0.0, -0.0, np.pi, 3 * np.pi, 1e300, -1e-300, np.nextafter(-np.pi, 0.0)],
        ]
    )
    want = (x + np.pi) % (2.0 * np.pi) - np.pi
    assert (_wrap(x).view(np.int64) == want.view(np.int64)).all()
    with np.errstate(invalid="ignore"):
        assert np.isnan(_wrap(np.array([np.nan, np.inf, -np.inf]))).all()


def test_link_geometry_matches_scalar_trigonometry():
    sites = Sites.from_arrays([[0.0, 0.0], [300.0, -400.0]], [25.0, 10.0])
    pos = np.array([[100.0, 100.0, 125.0], [-50.0, 20.0, 5.0]])
    d2d, d3d, az, el = link_geometry(sites, [[0, 1], [1, 0]], pos)
    for r, row in enumerate([[0, 1], [1, 0]]):
        for j, s in enumerate(row):
            dx, dy = pos[r, 0] - sites.xy_m[s, 0], pos[r, 1] - sites.xy_m[s, 1]
            dz = pos[r, 2] - sites.height_m[s]
            assert d2d[r, j] == pytest.approx(math.hypot(dx, dy))
            assert d3d[r, j] == pytest.approx(math.sqrt(dx * dx + dy * dy + dz * dz))
            assert az[r, j] == pytest.approx(math.atan2(dy, dx))
            assert el[r, j] == pytest.approx(math.asin(dz / d3d[r, j]))


def _gain(az_deg, el_deg, *, sector=0, tilt_deg=12.0):
    sites = Sites.from_arrays([[0.0, 0.0]], 25.0, downtilt_rad=math.radians(tilt_deg))
    return antenna_gain_dbi(sites, sector, np.deg2rad(az_deg), np.deg2rad(el_deg))


@pytest.mark.parametrize("sector", [0, 1, 2])
def test_boresight_is_the_maximum_gain_of_8_dbi(sector):
    """TR 38.901 Table 7.3-1: G_E,max = 8 dBi on boresight (azimuth of the sector, el = -downtilt)."""
    bore_deg = math.degrees(SECTOR_BORESIGHT_RAD[sector])
    assert _gain(bore_deg, -12.0, sector=sector) == pytest.approx(8.0)
    az, el = np.meshgrid(np.linspace(-180.0, 180.0, 721), np.linspace(-90.0, 90.0, 361))
    grid = _gain(az, el, sector=sector)
    assert grid.max() == pytest.approx(8.0)
    r, c = np.unravel_index(grid.argmax(), grid.shape)
    assert el[r, c] == pytest.approx(-12.0)
    assert (az[r, c] - bore_deg + 180.0) % 360.0 - 180.0 == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("off_deg", [-32.5, 32.5])
def test_half_power_is_at_32_5_degrees_either_side(off_deg):
    """65 deg 3 dB beamwidths, horizontally and vertically."""
    assert _gain(30.0 + off_deg, -12.0) == pytest.approx(5.0)
    assert _gain(30.0, -12.0 + off_deg) == pytest.approx(5.0)


def test_front_to_back_and_side_lobe_floors():
    """A_max = 30 dB: -22 dBi behind and the floor everywhere; SLA_V = 30 dB caps the vertical cut alone."""
    assert _gain(210.0, -12.0) == pytest.approx(-22.0)
    assert _gain(30.0, 90.0, tilt_deg=20.0) == pytest.approx(8.0 - 30.0)  # 110 deg off: SLA_V caps it
    az, el = np.meshgrid(np.linspace(-180.0, 180.0, 361), np.linspace(-90.0, 90.0, 181))
    assert _gain(az, el).min() == pytest.approx(-22.0)
    # downtilt lowers the gain towards an aerial UE above the horizon (TR 36.777: side-lobe service)
    assert _gain(30.0, 60.0, tilt_deg=12.0) < _gain(30.0, 60.0, tilt_deg=0.0) - 4.0


def test_azimuth_wraps_and_matches_the_formula():
    az_deg = np.array([30.0, 390.0, -330.0, 95.0])
    g = _gain(az_deg, 5.0)
    assert g[0] == pytest.approx(g[1]) == pytest.approx(g[2])
    a_v = -min(12.0 * ((5.0 + 12.0) / 65.0) ** 2, 30.0)
    a_h = -min(12.0 * (65.0 / 65.0) ** 2, 30.0)
    assert g[3] == pytest.approx(8.0 - min(-(a_v + a_h), 30.0))


def test_omni_sites_are_isotropic_and_bad_sectors_are_refused():
    omni = Sites.from_arrays([[0.0, 0.0]], 25.0, sectored=False)
    assert (antenna_gain_dbi(omni, 0, np.linspace(-3.0, 3.0, 5), 0.3) == 0.0).all()
    sector, gain = best_sector(omni, [0.0, 1.0], 0.0)
    assert sector.tolist() == [0, 0] and gain.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"^sector: "):
        antenna_gain_dbi(Sites.from_arrays([[0.0, 0.0]], 25.0), 3, 0.0, 0.0)


def test_best_sector_is_the_brute_force_maximum():
    sites = Sites.from_arrays([[0.0, 0.0]], 25.0)
    rng = np.random.default_rng(2)
    az, el = rng.uniform(-np.pi, np.pi, (40, 3)), rng.uniform(-1.5, 1.5, (40, 3))
    sector, gain = best_sector(sites, az, el)
    each = np.stack([antenna_gain_dbi(sites, s, az, el) for s in range(3)])
    assert np.allclose(gain, each.max(axis=0), rtol=0.0, atol=1e-12)
    assert (np.take_along_axis(each, sector[None], axis=0)[0] == gain).all()
    assert (sector[gain > -22.0] == each.argmax(axis=0)[gain > -22.0]).all()  # no tie above the floor
    assert sector.shape == az.shape
