"""Expected uplink and downlink SINR over a region at one altitude: the coverage maps of the run report.

The chain is :class:`sim.sixg.network.Network`'s, on a grid of points instead of vehicles: the same site
grid (``settings.channel.sites``), the K nearest sites, the 36.777 path loss, the best sector's gain and the
link's SINR (:meth:`sim.sixg.link.Link.uplink_sinr_db` and ``downlink_sinr_db``). The random large-scale
parts are taken at their median: no shadow fading, and the LOS state enters as the P_LOS-weighted mean of
the LOS and NLOS path losses in dB. Weighting, rather than taking the more probable state, keeps the map
smooth (thresholding P_LOS at 1/2 draws a sharp ring around every site where the state flips) and equals
the LOS loss wherever LOS is certain (UMa-AV above 100 m, RMa-AV above 40 m). Layer: sim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.errors import ScenarioError
from sim.sixg.channel import p_los, path_loss_db
from sim.sixg.deployment import Sites, best_sector, link_geometry, nearest_sites
from sim.sixg.link import Link
from sim.sixg.profiles import NetworkSettings

__all__ = ["ExpectedLink", "expected_coupling_db", "expected_link", "sinr_map"]


def expected_coupling_db(
    settings: NetworkSettings, sites: Sites, pos_m: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest sites of each point, nearest first, and the median coupling loss to each (path
    loss - best sector gain, dB): two ``(n, k)`` arrays. No shadow fading; LOS and NLOS losses weighted by
    P_LOS."""
    ch = settings.channel
    site, _ = nearest_sites(sites, pos_m[:, :2], k)
    d2d, d3d, az, el = link_geometry(sites, site, pos_m)
    h = pos_m[:, 2:3]
    p = p_los(ch.scenario, d2d, h)
    pl_los = path_loss_db(ch.scenario, True, d2d, d3d, h, ch.fc_ghz, h_bs_m=ch.bs_height_m)
    pl_nlos = path_loss_db(ch.scenario, False, d2d, d3d, h, ch.fc_ghz, h_bs_m=ch.bs_height_m)
    _, gain_dbi = best_sector(sites, az, el)
    return site, p * pl_los + (1.0 - p) * pl_nlos - gain_dbi


@dataclass(frozen=True, slots=True)
class ExpectedLink:
    """Median uplink and downlink of points: serving site (index into the deployment) and SINR, dB."""

    ul_site: np.ndarray
    ul_sinr_db: np.ndarray
    dl_site: np.ndarray
    dl_sinr_db: np.ndarray


def expected_link(settings: NetworkSettings, sites: Sites, pos_m: np.ndarray) -> ExpectedLink:
    """The median links of points ``(n, 3)``: the uplink's best of the ``uplink_sites`` nearest sites against
    noise and IoT, the downlink's best of the ``downlink_sites`` nearest with the others interfering."""
    ch = settings.channel
    site, loss_db = expected_coupling_db(settings, sites, pos_m, max(ch.uplink_sites, ch.downlink_sites))
    link = Link(settings.link)
    ul_col, ul = link.uplink_sinr_db(loss_db[:, : ch.uplink_sites])
    dl_col, dl = link.downlink_sinr_db(loss_db[:, : ch.downlink_sites])
    rows = np.arange(len(site))
    return ExpectedLink(site[rows, ul_col], ul, site[rows, dl_col], dl)


def sinr_map(
    settings: NetworkSettings,
    bounds_xy_m: tuple[float, float, float, float],
    altitude_m: float,
    *,
    step_m: float = 100.0,
    sites: Sites | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Expected SINR at ``altitude_m`` on square cells of ``step_m`` over ``(x_min, y_min, x_max, y_max)``.

    Returns ``(x_edges, y_edges, ul_sinr_db, dl_sinr_db)``, the SINRs ``(ny, nx)`` at the cell centres
    (rows along y, as ``pcolormesh`` takes them). Uplink: the best of the ``uplink_sites`` nearest sites
    against noise and IoT; downlink: the best of the ``downlink_sites`` nearest, the others interfering.
    Both take their sites from one nearest-site query, so a point equidistant from two sites may keep a
    different one of them than the Network would (same distance, only the sector gain can differ).

    ``sites`` is the deployment, by default the one a Network over these bounds has; to map a window of a
    larger region, pass the region's (``settings.channel.sites``), so that points near the window's edge keep
    their interferers beyond it.

    >>> from sim.scenario import Comms
    >>> settings = Comms(profile="6g-isac-fr1").network()
    >>> x, y, ul, dl = sinr_map(settings, (0.0, 0.0, 2000.0, 1000.0), 120.0, step_m=100.0)
    >>> x.shape, y.shape, ul.shape, bool((ul > dl).all())
    ((21,), (11,), (10, 20), True)
    """
    x_min, y_min, x_max, y_max = (float(v) for v in bounds_xy_m)
    if not all(map(math.isfinite, (x_min, y_min, x_max, y_max))) or x_min > x_max or y_min > y_max:
        raise ScenarioError(
            "bounds_xy_m", f"must be finite (x_min, y_min, x_max, y_max), min <= max {bounds_xy_m}"
        )
    if not (math.isfinite(step_m) and step_m > 0.0):
        raise ScenarioError("step_m", f"must be finite and > 0 ({step_m})")
    if not math.isfinite(altitude_m):
        raise ScenarioError("altitude_m", f"must be finite ({altitude_m})")
    if sites is None:
        sites = settings.channel.sites(bounds_xy_m)
    x_edges = x_min + step_m * np.arange(max(1, math.ceil((x_max - x_min) / step_m)) + 1)
    y_edges = y_min + step_m * np.arange(max(1, math.ceil((y_max - y_min) / step_m)) + 1)
    xc, yc = np.meshgrid(x_edges[:-1] + step_m / 2.0, y_edges[:-1] + step_m / 2.0)
    pos = np.column_stack([xc.ravel(), yc.ravel(), np.full(xc.size, float(altitude_m))])
    link = expected_link(settings, sites, pos)
    return x_edges, y_edges, link.ul_sinr_db.reshape(xc.shape), link.dl_sinr_db.reshape(xc.shape)
