"""Network deployment: base-station sites, their sector antennas, and the nearest sites of each vehicle.

Sites sit on a hexagonal grid over the region (or at given positions) in the local ENU frame, metres.
Angles are radians; azimuth counter-clockwise from east (ENU x), elevation up from the horizontal.
Antenna element: TR 38.901 Table 7.3-1. Scenario defaults: SIXG-MODEL.md §2.6. Layer: sim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from sim.errors import ScenarioError
from sim.sixg.channel import BS_HEIGHT_M, SCENARIOS

__all__ = [
    "DEFAULT_DOWNTILT_RAD",
    "ISD_M",
    "SECTOR_BORESIGHT_RAD",
    "Sites",
    "antenna_gain_dbi",
    "best_sector",
    "hex_sites",
    "link_geometry",
    "nearest_sites",
    "scenario_sites",
]

ISD_M: dict[str, float] = {"UMa-AV": 500.0, "UMi-AV": 200.0, "RMa-AV": 1732.0}
"""Inter-site distance per scenario (SIXG-MODEL.md §2.6; heights are channel.BS_HEIGHT_M)."""

SECTOR_BORESIGHT_RAD = np.deg2rad([30.0, 150.0, 270.0])
"""Boresight azimuths of the three sectors of a site (TR 38.901 hexagonal layout)."""
SECTOR_BORESIGHT_RAD.flags.writeable = False

DEFAULT_DOWNTILT_RAD = math.radians(12.0)
"""Electrical downtilt below the horizon: the 102 deg zenith tilt of TR 38.901 Table 7.8-1 (UMa/UMi) [R]."""

ELEMENT_GAIN_DBI = 8.0  # TR 38.901 Table 7.3-1: G_E,max
_HPBW_RAD = math.radians(65.0)  # vertical and horizontal 3 dB beamwidths
_SLA_V_DB = 30.0  # side-lobe level limit (vertical)
_A_MAX_DB = 30.0  # front-to-back ratio (and horizontal floor)


@dataclass(frozen=True, slots=True, eq=False)
class Sites:
    """Base-station sites as a struct of arrays; build with :func:`hex_sites` or :meth:`from_arrays`.

    ``boresight_rad`` holds the sector azimuths every site shares; empty means one omnidirectional
    isotropic (0 dBi) antenna per site, as in the ISAC calibration's single 360 deg sector.
    """

    xy_m: np.ndarray  # (S, 2) local ENU
    height_m: np.ndarray  # (S,) antenna height above ground
    boresight_rad: np.ndarray  # (n_sectors,)
    downtilt_rad: float
    tree: cKDTree = field(init=False, repr=False)  # over xy_m, built once: nearest_sites queries it

    def __post_init__(self) -> None:
        xy = np.array(self.xy_m, dtype=float)
        height = np.array(self.height_m, dtype=float)
        boresight = np.array(self.boresight_rad, dtype=float).reshape(-1)
        if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) == 0 or not np.isfinite(xy).all():
            raise ScenarioError("sites.xy_m", f"must be a non-empty finite (S, 2) array (shape {xy.shape})")
        if height.shape != (len(xy),) or not (np.isfinite(height).all() and (height > 0.0).all()):
            raise ScenarioError(
                "sites.height_m", f"must be ({len(xy)},) finite and > 0 (shape {height.shape})"
            )
        if not (np.isfinite(boresight).all() and math.isfinite(self.downtilt_rad)):
            raise ScenarioError("sites.boresight_rad", "boresights and downtilt must be finite")
        for name, value in (("xy_m", xy), ("height_m", height), ("boresight_rad", boresight)):
            value.flags.writeable = False
            object.__setattr__(self, name, value)
        object.__setattr__(self, "downtilt_rad", float(self.downtilt_rad))
        object.__setattr__(self, "tree", cKDTree(xy))

    @classmethod
    def from_arrays(
        cls,
        xy_m: ArrayLike,
        height_m: ArrayLike,
        *,
        sectored: bool = True,
        downtilt_rad: float = DEFAULT_DOWNTILT_RAD,
    ) -> Sites:
        """Sites at given positions; ``height_m`` is one height for all or one per site.

        >>> Sites.from_arrays([[0.0, 0.0], [500.0, 0.0]], 25.0).n_sites
        2
        """
        xy = np.asarray(xy_m, dtype=float)
        height = np.asarray(height_m, dtype=float)
        if height.ndim == 0:
            height = np.full(xy.shape[:1], float(height))
        boresight = SECTOR_BORESIGHT_RAD if sectored else np.empty(0)
        return cls(xy, height, boresight, downtilt_rad)

    @property
    def n_sites(self) -> int:
        return len(self.xy_m)

    @property
    def n_sectors(self) -> int:
        """Sectors per site; 0 for omnidirectional sites."""
        return len(self.boresight_rad)


def hex_sites(
    bounds_xy_m: tuple[float, float, float, float],
    isd_m: float,
    height_m: float,
    *,
    sectored: bool = True,
    downtilt_rad: float = DEFAULT_DOWNTILT_RAD,
) -> Sites:
    """Hexagonal grid of sites, ``isd_m`` apart, covering ``(x_min, y_min, x_max, y_max)`` plus one ISD.

    The grid is anchored at the frame origin (the region origin is a site) with rows along x; every
    grid point within the bounds grown by ``isd_m`` is a site, so each point of the region has its
    serving site and the first tier of interferers. Sites are ordered by row (y), then x.

    >>> sites = hex_sites((0.0, 0.0, 1000.0, 1000.0), 500.0, 25.0)
    >>> sites.n_sites, sites.xy_m[0].tolist(), sites.n_sectors
    (22, [-250.0, -433.0127018922193], 3)
    """
    x_min, y_min, x_max, y_max = (float(v) for v in bounds_xy_m)
    if not all(math.isfinite(v) for v in (x_min, y_min, x_max, y_max)) or x_min > x_max or y_min > y_max:
        raise ScenarioError(
            "bounds_xy_m", f"must be finite (x_min, y_min, x_max, y_max) with min <= max {bounds_xy_m}"
        )
    if not (math.isfinite(isd_m) and isd_m > 0.0):
        raise ScenarioError("isd_m", f"must be finite and > 0 ({isd_m})")
    row_m = isd_m * math.sqrt(3.0) / 2.0
    j = np.arange(math.ceil((y_min - isd_m) / row_m), math.floor((y_max + isd_m) / row_m) + 1)
    i = np.arange(math.floor((x_min - isd_m) / isd_m) - 1, math.ceil((x_max + isd_m) / isd_m) + 1)
    jj, ii = np.meshgrid(j, i, indexing="ij")
    x = (ii + (jj % 2) / 2.0) * isd_m
    keep = (x >= x_min - isd_m) & (x <= x_max + isd_m)
    xy = np.column_stack([x[keep], (jj * row_m)[keep]])
    return Sites.from_arrays(xy, height_m, sectored=sectored, downtilt_rad=downtilt_rad)


def scenario_sites(
    scenario: str,
    bounds_xy_m: tuple[float, float, float, float],
    *,
    sectored: bool = True,
    downtilt_rad: float = DEFAULT_DOWNTILT_RAD,
) -> Sites:
    """:func:`hex_sites` with the scenario ISD and BS height: UMa-AV 500/25 m, UMi-AV 200/10, RMa-AV 1732/35.

    >>> scenario_sites("RMa-AV", (0.0, 0.0, 100.0, 100.0)).height_m[:2].tolist()
    [35.0, 35.0]
    """
    if scenario not in ISD_M:
        raise ScenarioError(
            "scenario", f"unknown channel scenario {scenario!r}; valid: {', '.join(SCENARIOS)}"
        )
    return hex_sites(
        bounds_xy_m, ISD_M[scenario], BS_HEIGHT_M[scenario], sectored=sectored, downtilt_rad=downtilt_rad
    )


def nearest_sites(sites: Sites, xy_m: ArrayLike, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` sites nearest to each point, nearest first: ``(site (n, k) int64, d2d_m (n, k))``.

    >>> sites = Sites.from_arrays([[0.0, 0.0], [500.0, 0.0], [0.0, 900.0]], 25.0)
    >>> idx, d2d_m = nearest_sites(sites, [[400.0, 0.0]], 2)
    >>> idx.tolist(), d2d_m.tolist()
    ([[1, 0]], [[100.0, 400.0]])
    """
    xy = np.asarray(xy_m, dtype=float).reshape(-1, 2)
    if not (1 <= k <= sites.n_sites):
        raise ScenarioError("k", f"must be in 1..{sites.n_sites}, the number of sites ({k})")
    d2d_m, idx = sites.tree.query(xy, k=k)
    return np.asarray(idx, dtype=np.int64).reshape(-1, k), np.asarray(d2d_m).reshape(-1, k)


def link_geometry(
    sites: Sites, site: ArrayLike, pos_m: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(d2d_m, d3d_m, az_rad, el_rad)`` from each site to each vehicle; shapes those of ``site``.

    ``site`` is ``(n, K)`` site indices and ``pos_m`` is ``(n, 3)``; angles are seen from the site antenna.

    >>> sites = Sites.from_arrays([[0.0, 0.0]], 25.0)
    >>> [v.round(4).tolist() for v in link_geometry(sites, [[0]], [[0.0, 100.0, 125.0]])]
    [[[100.0]], [[141.4214]], [[1.5708]], [[0.7854]]]
    """
    idx = np.asarray(site, dtype=np.int64)
    pos = np.asarray(pos_m, dtype=float)
    dx = pos[:, None, 0] - sites.xy_m[idx, 0]
    dy = pos[:, None, 1] - sites.xy_m[idx, 1]
    dz = pos[:, None, 2] - sites.height_m[idx]
    d2d_m = np.hypot(dx, dy)
    return d2d_m, np.hypot(d2d_m, dz), np.arctan2(dy, dx), np.arctan2(dz, d2d_m)


def _wrap(angle_rad: np.ndarray) -> np.ndarray:
    """Angle brought into [-pi, pi)."""
    return (angle_rad + np.pi) % (2.0 * np.pi) - np.pi


def antenna_gain_dbi(sites: Sites, sector: ArrayLike, az_rad: ArrayLike, el_rad: ArrayLike) -> np.ndarray:
    """Gain of sector ``sector`` towards ``(az_rad, el_rad)`` in dBi; shape broadcast of the three.

    TR 38.901 Table 7.3-1 element: ``A_V = -min(12 ((el + tilt) / 65 deg)^2, 30)``,
    ``A_H = -min(12 (phi / 65 deg)^2, 30)`` with ``phi`` the azimuth off boresight,
    ``G = 8 - min(-(A_V + A_H), 30)``: 8 dBi on boresight (``el = -tilt``), 3 dB down 32.5 deg off it,
    -22 dBi floor. Omnidirectional sites are isotropic: 0 dBi everywhere, ``sector`` ignored.

    >>> sites = Sites.from_arrays([[0.0, 0.0]], 25.0, downtilt_rad=0.0)
    >>> antenna_gain_dbi(sites, [0, 0, 0], np.deg2rad([30.0, 62.5, 210.0]), 0.0).round(3)
    array([  8.,   5., -22.])
    """
    sector = np.asarray(sector)
    az, el = np.asarray(az_rad, dtype=float), np.asarray(el_rad, dtype=float)
    if sites.n_sectors == 0:
        return np.zeros(np.broadcast_shapes(sector.shape, az.shape, el.shape))
    if sector.size and (sector.min() < 0 or sector.max() >= sites.n_sectors):
        raise ScenarioError(
            "sector", f"must be in 0..{sites.n_sectors - 1} (got {sector.min()}..{sector.max()})"
        )
    phi = _wrap(az - sites.boresight_rad[sector])
    a_v = -np.minimum(12.0 * ((el + sites.downtilt_rad) / _HPBW_RAD) ** 2, _SLA_V_DB)
    a_h = -np.minimum(12.0 * (phi / _HPBW_RAD) ** 2, _A_MAX_DB)
    return ELEMENT_GAIN_DBI - np.minimum(-(a_v + a_h), _A_MAX_DB)


def best_sector(sites: Sites, az_rad: ArrayLike, el_rad: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The sector with the highest gain towards each direction, and that gain: ``(sector, gain_dbi)``.

    All sectors share the element and its tilt, and the gain falls with the azimuth off boresight, so
    the best sector is the one whose boresight is nearest in azimuth (the lower index on a tie).
    Omnidirectional sites give sector 0 at 0 dBi.

    >>> sites = Sites.from_arrays([[0.0, 0.0]], 25.0)
    >>> sector, gain = best_sector(sites, np.deg2rad([0.0, 140.0, -80.0]), 0.0)
    >>> sector.tolist(), gain.round(2).tolist()
    ([0, 1, 2], [5.03, 7.31, 7.31])
    """
    az, el = np.broadcast_arrays(np.asarray(az_rad, dtype=float), np.asarray(el_rad, dtype=float))
    best = np.zeros(az.shape, dtype=np.int64)
    if sites.n_sectors == 0:
        return best, np.zeros(az.shape)
    best_off = np.full(az.shape, np.inf)
    for sector, boresight in enumerate(sites.boresight_rad):
        off = np.abs(_wrap(az - boresight))
        nearer = off < best_off
        best, best_off = np.where(nearer, sector, best), np.where(nearer, off, best_off)
    return best, antenna_gain_dbi(sites, best, az, el)
