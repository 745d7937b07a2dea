"""Expected SINR maps: against a hand computation at chosen points, and their behaviour with altitude."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from sim.errors import ScenarioError
from sim.scenario import Comms
from sim.sixg.coverage import sinr_map
from sim.sixg.network import Network
from sim.sixg.profiles import NetworkSettings

ISAC = Comms(profile="6g-isac-fr1").network()
ISD_M, ROW_M, BS_M, FC_GHZ = 500.0, 500.0 * math.sqrt(3.0) / 2.0, 25.0, 4.0
UL_NOISE_DBM = -174.0 + 10 * math.log10(25 * 12 * 30e3) + 5.0 + 3.0  # 25 PRB at 30 kHz, NF 5, IoT 3
DL_NOISE_DBM = -174.0 + 10 * math.log10(100e6) + 9.0  # the 100 MHz carrier, NF 9
BOUNDS = (-1525.0, -1525.0, 1525.0, 1525.0)  # 50 m cells centred on multiples of 50 m: (0, 0) is a site


def _settings(*, sectored: bool, ul: int, dl: int) -> NetworkSettings:
    channel = replace(ISAC.channel, sectored=sectored, uplink_sites=ul, downlink_sites=dl)
    return replace(ISAC, channel=channel)


def _by_hand(x_m: float, y_m: float, h_m: float, settings: NetworkSettings) -> tuple[float, float]:
    """(UL, DL) SINR at one point written out from TR 36.777 B-1/B-2 (UMa-AV above 22.5 m) and TR 38.901
    Table 7.3-1, on a hex lattice of its own: the K nearest sites, P_LOS-weighted path loss, no SF."""
    j, i = np.meshgrid(np.arange(-9, 10), np.arange(-9, 10), indexing="ij")
    sx, sy = ((i + (j % 2) / 2.0) * ISD_M).ravel(), (j * ROW_M).ravel()
    d2d = np.hypot(x_m - sx, y_m - sy)
    near = np.argsort(d2d, kind="stable")
    d3d = np.hypot(d2d, h_m - BS_M)
    lh = math.log10(h_m)
    d1, p1 = max(460.0 * lh - 700.0, 18.0), 4300.0 * lh - 3800.0
    r = d1 / np.maximum(d2d, d1)  # 1 within d1 of the site
    p = 1.0 if h_m > 100.0 else r + np.exp(-d2d / p1) * (1.0 - r)
    pl_los = 28.0 + 22.0 * np.log10(d3d) + 20.0 * math.log10(FC_GHZ)
    pl_nlos = -17.5 + (46.0 - 7.0 * lh) * np.log10(d3d) + 20.0 * math.log10(40.0 * math.pi * FC_GHZ / 3.0)
    gain = np.zeros_like(d2d)
    if settings.channel.sectored:
        az, el = np.arctan2(y_m - sy, x_m - sx), np.arctan2(h_m - BS_M, d2d)
        off = np.min(
            [np.abs((az - math.radians(b) + np.pi) % (2 * np.pi) - np.pi) for b in (30, 150, 270)], 0
        )
        hpbw = math.radians(65.0)
        a_v = np.minimum(12.0 * ((el + math.radians(12.0)) / hpbw) ** 2, 30.0)
        gain = 8.0 - np.minimum(a_v + np.minimum(12.0 * (off / hpbw) ** 2, 30.0), 30.0)
    coupling = p * pl_los + (1 - p) * pl_nlos - gain
    ul = (23.0 - coupling[near[: settings.channel.uplink_sites]]).max() - UL_NOISE_DBM
    rx_mw = 10 ** ((53.0 - coupling[near[: settings.channel.downlink_sites]]) / 10)
    dl = 10 * math.log10(rx_mw.max() / (10 ** (DL_NOISE_DBM / 10) + rx_mw.sum() - rx_mw.max()))
    return ul, dl


def _at(x_m: float, y_m: float, h_m: float, settings: NetworkSettings) -> tuple[float, float]:
    x_edges, y_edges, ul, dl = sinr_map(settings, BOUNDS, h_m, step_m=50.0)
    col = int(np.flatnonzero(np.isclose((x_edges[:-1] + x_edges[1:]) / 2, x_m))[0])
    row = int(np.flatnonzero(np.isclose((y_edges[:-1] + y_edges[1:]) / 2, y_m))[0])
    return float(ul[row, col]), float(dl[row, col])


def test_above_an_omni_site_at_120_m_the_numbers_are_the_hand_ones():
    """All LOS at 120 m (P_LOS = 1 above 100 m): UL is the site below over noise; DL adds the three rings
    of six sites at 500, 866 and 1000 m as interferers."""
    settings = _settings(sectored=False, ul=1, dl=19)
    ul, dl = _at(0.0, 0.0, 120.0, settings)

    def pl(d2d_m: float) -> float:
        return 28.0 + 22.0 * math.log10(math.hypot(d2d_m, 95.0)) + 20.0 * math.log10(4.0)

    assert ul == pytest.approx(23.0 - pl(0.0) - UL_NOISE_DBM, abs=1e-9)  # 35.91 dB
    interference_mw = sum(6 * 10 ** ((53.0 - pl(d)) / 10) for d in (500.0, 500.0 * math.sqrt(3.0), 1000.0))
    s_mw = 10 ** ((53.0 - pl(0.0)) / 10)
    assert dl == pytest.approx(
        10 * math.log10(s_mw / (10 ** (DL_NOISE_DBM / 10) + interference_mw)), abs=1e-9
    )
    assert (ul, dl) == pytest.approx(_by_hand(0.0, 0.0, 120.0, settings), abs=1e-9)


@pytest.mark.parametrize("h_m", [60.0, 120.0])
@pytest.mark.parametrize("sectored", [False, True])
@pytest.mark.parametrize(
    ("x_m", "y_m", "ul", "dl"),
    [(0.0, 0.0, 7, 19), (250.0, 0.0, 4, 18)],  # K without a distance tie at the K-th site
    ids=["above-a-site", "midway-between-two"],
)
def test_sinr_matches_the_hand_computation(x_m, y_m, ul, dl, sectored, h_m):
    settings = _settings(sectored=sectored, ul=ul, dl=dl)
    assert _at(x_m, y_m, h_m, settings) == pytest.approx(_by_hand(x_m, y_m, h_m, settings), abs=1e-9)


def test_above_a_sectored_site_a_neighbour_serves():
    """Straight up from a site is its sectors' -22 dBi floor: a neighbour 500 m away, seen near its main
    lobe, couples about 10 dB better, so the uplink picks it when it is a candidate."""
    below_only, _ = _at(0.0, 0.0, 120.0, _settings(sectored=True, ul=1, dl=19))
    with_ring, _ = _at(0.0, 0.0, 120.0, _settings(sectored=True, ul=7, dl=19))
    pl_db = 28.0 + 22.0 * math.log10(95.0) + 20.0 * math.log10(4.0)
    assert below_only == pytest.approx(23.0 - (pl_db + 22.0) - UL_NOISE_DBM, abs=1e-9)
    assert with_ring > below_only + 8.0


def test_aerial_downlink_sinr_drops_with_height_while_the_uplink_keeps_coverage():
    """Over the 20 km bundled region: higher up, more sites are in LOS, so the downlink interference
    grows and the DL SINR falls (to about -8 dB at 300 m); the uplink, with no other-site interference,
    stays well above 10 dB."""
    region = (-10_000.0, -10_000.0, 10_000.0, 10_000.0)
    dl_median, dl_spread = [], []
    for h_m in (30.0, 60.0, 120.0, 300.0):
        x_edges, y_edges, ul, dl = sinr_map(ISAC, region, h_m, step_m=100.0)
        assert ul.shape == dl.shape == (200, 200) and x_edges[-1] == y_edges[-1] == 10_000.0
        assert np.isfinite(ul).all() and np.isfinite(dl).all()
        assert np.percentile(ul, 5) > 15.0
        p5, p50, p95 = np.percentile(dl, [5, 50, 95])
        dl_median.append(p50)
        dl_spread.append(p95 - p5)
    assert np.all(np.diff(dl_median) < 0) and dl_median[-1] < -5.0
    assert dl_spread[-1] < dl_spread[0]  # all LOS: every point sees about the same interference


def test_the_sites_are_the_networks():
    settings = replace(ISAC, channel=replace(ISAC.channel, isd_m=400.0, sectored=False))
    bounds = (-3000.0, -1000.0, 2000.0, 1500.0)
    net = Network(settings, bounds, seed=1)
    sites = settings.channel.sites(bounds)
    np.testing.assert_array_equal(sites.xy_m, net.sites.xy_m)
    np.testing.assert_array_equal(sites.height_m, net.sites.height_m)
    assert sites.n_sectors == net.sites.n_sectors == 0


def test_a_window_with_the_regions_sites_is_the_regions_map_cut_out():
    """Without the region's sites, the window's edge loses the interferers beyond it: SINR too high."""
    region, window = (-5000.0, -5000.0, 5000.0, 5000.0), (-1000.0, -500.0, 1000.0, 1500.0)
    sites = ISAC.channel.sites(region)
    _, _, ul, dl = sinr_map(ISAC, region, 60.0, step_m=100.0)
    x_edges, y_edges, ul_w, dl_w = sinr_map(ISAC, window, 60.0, step_m=100.0, sites=sites)
    assert x_edges[0] == -1000.0 and y_edges[0] == -500.0 and dl_w.shape == (20, 20)
    np.testing.assert_array_equal(dl_w, dl[45:65, 40:60])
    np.testing.assert_array_equal(ul_w, ul[45:65, 40:60])
    _, _, _, dl_alone = sinr_map(ISAC, window, 60.0, step_m=100.0)
    assert dl_alone[0, 0] > dl_w[0, 0] and dl_alone[10, 10] == pytest.approx(dl_w[10, 10])


def test_the_grid_covers_the_bounds_with_whole_cells_and_refuses_a_bad_step():
    x_edges, y_edges, ul, _ = sinr_map(ISAC, (0.0, 0.0, 1050.0, 1000.0), 60.0, step_m=100.0)
    assert x_edges.tolist() == [100.0 * k for k in range(12)] and y_edges.tolist() == [
        100.0 * k for k in range(11)
    ]
    assert ul.shape == (10, 11)
    with pytest.raises(ScenarioError, match="step_m"):
        sinr_map(ISAC, (0.0, 0.0, 100.0, 100.0), 60.0, step_m=0.0)
    with pytest.raises(ScenarioError, match="bounds_xy_m"):
        sinr_map(ISAC, (0.0, 0.0, -100.0, 100.0), 60.0, sites=ISAC.channel.sites((0.0, 0.0, 1e3, 1e3)))
