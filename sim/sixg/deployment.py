"""Network deployment: base-station sites, their sector antennas, and the nearest sites of each vehicle.

Sites sit on a hexagonal grid over the region (or at given positions) in the local ENU frame, metres.
Angles are radians; azimuth counter-clockwise from east (ENU x), elevation up from the horizontal.
Antenna element: TR 38.901 Table 7.3-1. Scenario defaults: SIXG-MODEL.md §2.6. Layer: sim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numba
import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from sim.errors import ScenarioError
from sim.sixg.channel import BS_HEIGHT_M, SCENARIOS

__all__ = [
    "DEFAULT_DOWNTILT_RAD",
    "ISD_M",
    "SECTOR_BORESIGHT_RAD",
    "NearestSites",
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
_TWO_PI = 2.0 * np.pi


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


class NearestSites:
    """The ``k`` nearest sites of moving vehicles as :func:`nearest_sites` finds them, mostly with no search.

    Each vehicle keeps the ``k + spare`` nearest sites of the point where it was last searched, ``p0``. At
    ``p`` they still hold its ``k`` nearest, in order, when their ``k + 1`` nearest at ``p`` come in a clear
    order before the others and the ``k``-th is nearer than ``d_(k+spare)(p0) - |p - p0|``, which no site
    outside them can be (triangle inequality). Rows where that fails are searched again, in a grid of cells
    over the sites (one compiled pass, where a KD-tree query costs more to call than to run on a few rows);
    "clear" leaves a relative gap of 1e-9, and a row whose order is not clear takes the KD-tree's order, as
    :func:`nearest_sites` gives it. Kept by vehicle id, and only a hint that is checked: nothing needs
    forgetting.

    >>> sites = Sites.from_arrays([[0.0, 0.0], [500.0, 0.0], [0.0, 900.0], [900.0, 900.0]], 25.0)
    >>> near = NearestSites(sites, 2, spare=1)
    >>> near.query([7], [[400.0, 0.0]]).tolist()
    [[1, 0]]
    >>> near.query([7], [[100.0, 0.0]]).tolist()  # 300 m on: from the three sites it kept
    [[0, 1]]
    """

    def __init__(self, sites: Sites, k: int, *, spare: int = 4) -> None:
        if not (1 <= k <= sites.n_sites):
            raise ScenarioError("k", f"must be in 1..{sites.n_sites}, the number of sites ({k})")
        self.sites, self.k = sites, k
        self._m = min(k + max(spare, 1), sites.n_sites)  # candidates kept per vehicle
        self._sx, self._sy = sites.xy_m[:, 0].copy(), sites.xy_m[:, 1].copy()
        self._at = np.full((0, 2), np.nan)  # by vehicle id: where it was last searched
        self._cand = np.zeros((0, self._m), np.int64)  # its m nearest sites there, nearest first
        self._reach = np.zeros(0)  # the distance of the m-th of them (inf: they are all the sites)
        self._grid = _Grid.of(sites.xy_m)

    def query(self, vehicle_id: ArrayLike, xy_m: ArrayLike) -> np.ndarray:
        """``(n, k)`` int64: the nearest sites of each vehicle at ``xy_m`` (n, 2), nearest first."""
        vid = np.asarray(vehicle_id, np.int64)
        xy = np.asarray(xy_m, dtype=float).reshape(-1, 2)
        if vid.size and vid.max() >= len(self._reach):
            self._grow(int(vid.max()) + 1)
        k = self.k
        cand, tied = _nearest(self._cand, self._at, self._reach, self._sx, self._sy, self._grid, vid, xy, k)
        if len(tied):  # the KD-tree's own order of a tie, as asked
            cand[tied, :k] = nearest_sites(self.sites, xy.take(tied, axis=0), k)[0]
        return cand[:, :k]

    def _grow(self, needed: int) -> None:
        size = max(needed, 2 * len(self._reach), 1024)
        for name, fill in (("_at", np.nan), ("_cand", 0), ("_reach", -np.inf)):
            old = getattr(self, name)
            new = np.full((size, *old.shape[1:]), fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)


_GAP2 = (1.0 + 1e-9) ** 2  # squared, 1 + the relative gap between distances whose order is clear


@numba.njit(cache=True, inline="always")
def _clear_row(d2: np.ndarray) -> bool:
    """Whether ascending squared distances ``d2`` (j,) come in a clear order."""
    j = 0
    while j < d2.size - 1 and d2[j] * _GAP2 < d2[j + 1]:
        j += 1
    return j >= d2.size - 1


@numba.njit(cache=True, nogil=True)
def _kept_nearest(
    cand_of: np.ndarray,
    at: np.ndarray,
    reach: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    vid: np.ndarray,
    xy: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each vehicle's kept candidates (n, m), nearest first at ``xy`` (re-sorted rows are stored back), and
    whether they give its ``k`` nearest sites in their order: a clear order up to the ``k + 1``-th, before
    the other candidates and within ``reach - |xy - at|`` (NaN where never searched: not held)."""
    n, m = vid.size, cand_of.shape[1]
    cand, ok = np.empty((n, m), np.int64), np.empty(n, np.bool_)
    d2 = np.empty(m)
    for i in range(n):
        v = vid[i]
        x, y = xy[i, 0], xy[i, 1]
        for j in range(m):  # insertion sort by squared distance, as the KD-tree measures: stable
            c = cand_of[v, j]
            e = (x - sx[c]) ** 2 + (y - sy[c]) ** 2
            q = j
            while q > 0 and d2[q - 1] > e:
                cand[i, q], d2[q] = cand[i, q - 1], d2[q - 1]
                q -= 1
            cand[i, q], d2[q] = c, e
        cand_of[v] = cand[i]
        bound_m = reach[v] - math.sqrt((x - at[v, 0]) ** 2 + (y - at[v, 1]) ** 2)
        held = _clear_row(d2[: k + 1]) and d2[k - 1] * _GAP2 < bound_m * bound_m and bound_m > 0.0
        if k + 1 < m:
            held = held and d2[k] * _GAP2 < d2[k + 1 :].min()
        ok[i] = held
    return cand, ok


class _Grid(NamedTuple):
    """Sites bucketed in square cells of ``cell_m`` from ``(x0, y0)``, ``nx`` by ``ny``: ``order`` lists the
    sites cell by cell, row-major, cell ``c``'s from ``start[c]`` to ``start[c + 1]``."""

    x0: float
    y0: float
    cell_m: float
    nx: int
    ny: int
    start: np.ndarray
    order: np.ndarray

    @classmethod
    def of(cls, xy_m: np.ndarray) -> _Grid:
        """About one site per cell."""
        lo, span = xy_m.min(axis=0), np.ptp(xy_m, axis=0)
        cell_m = max(math.sqrt(span[0] * span[1] / len(xy_m)), span.max() / len(xy_m), 1.0)
        nx, ny = (int(v // cell_m) + 1 for v in span)
        ix, iy = ((xy_m[:, a] - lo[a]) // cell_m for a in (0, 1))
        cell = np.minimum(iy, ny - 1).astype(np.int64) * nx + np.minimum(ix, nx - 1).astype(np.int64)
        start = np.searchsorted(np.sort(cell), np.arange(nx * ny + 1))
        return cls(float(lo[0]), float(lo[1]), cell_m, nx, ny, start, np.argsort(cell, kind="stable"))


@numba.njit(cache=True, nogil=True)
def _grid_nearest(
    grid: _Grid, sx: np.ndarray, sy: np.ndarray, x: float, y: float, site: np.ndarray, d2: np.ndarray
) -> None:
    """The ``m = site.size`` sites nearest to ``(x, y)`` into ``site``, their squared distances into ``d2``,
    nearest first: rings of cells around the point's, until the m-th is clearly nearer than any cell left."""
    m, count = site.size, 0
    cx, cy = math.floor((x - grid.x0) / grid.cell_m), math.floor((y - grid.y0) / grid.cell_m)
    r = 0
    while True:
        for iy in range(max(cy - r, 0), min(cy + r, grid.ny - 1) + 1):
            edge = iy == cy - r or iy == cy + r
            for ix in range(max(cx - r, 0), min(cx + r, grid.nx - 1) + 1):
                if not edge and ix != cx - r and ix != cx + r:
                    continue  # inside the ring: seen
                c = iy * grid.nx + ix
                for p in range(grid.start[c], grid.start[c + 1]):
                    s = grid.order[p]
                    count = _insert(site, d2, count, s, (x - sx[s]) ** 2 + (y - sy[s]) ** 2)
        if cx - r <= 0 and cy - r <= 0 and cx + r >= grid.nx - 1 and cy + r >= grid.ny - 1:
            return  # every cell seen
        lo_x, lo_y = grid.x0 + (cx - r) * grid.cell_m, grid.y0 + (cy - r) * grid.cell_m
        step = (2 * r + 1) * grid.cell_m
        bound = min(x - lo_x, lo_x + step - x, y - lo_y, lo_y + step - y)  # to the cells not seen
        if count == m and bound > 0.0 and d2[m - 1] * _GAP2 < bound * bound:
            return
        r += 1


@numba.njit(cache=True, inline="always")
def _insert(site: np.ndarray, d2: np.ndarray, count: int, s: int, e: float) -> int:
    """Put site ``s`` at squared distance ``e`` into the ascending ``d2`` of the ``count`` kept so far (after
    equal ones), the last falling off when all ``site.size`` are taken; the new count."""
    m = site.size
    if count == m and e >= d2[m - 1]:
        return count
    q = min(count, m - 1)
    while q > 0 and d2[q - 1] > e:
        site[q], d2[q] = site[q - 1], d2[q - 1]
        q -= 1
    site[q], d2[q] = s, e
    return min(count + 1, m)


@numba.njit(cache=True, nogil=True)
def _nearest(
    cand_of: np.ndarray,
    at: np.ndarray,
    reach: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    grid: _Grid,
    vid: np.ndarray,
    xy: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`NearestSites.query`: each vehicle's candidates (n, m), nearest first, its ``k`` nearest sites
    in front; the kept ones where they hold (:func:`_kept_nearest`), else searched in the grid and kept
    (where, the sites, the m-th one's distance, as the KD-tree measures it). Also the rows whose ``k + 1``
    nearest come in no clear order."""
    cand, ok = _kept_nearest(cand_of, at, reach, sx, sy, vid, xy, k)
    m = cand.shape[1]
    d2, d = np.empty(m), np.empty(k + 1)
    tied = np.empty(vid.size, np.int64)
    n_tied = 0
    for i in range(vid.size):
        if ok[i]:
            continue
        v = vid[i]
        _grid_nearest(grid, sx, sy, xy[i, 0], xy[i, 1], cand[i], d2)
        cand_of[v], at[v] = cand[i], xy[i]
        reach[v] = math.sqrt(d2[m - 1]) if m < sx.size else np.inf
        for j in range(min(k + 1, m)):
            d[j] = math.sqrt(d2[j]) ** 2  # as the KD-tree's distances squared
        if not _clear_row(d[: min(k + 1, m)]):
            tied[n_tied] = i
            n_tied += 1
    return cand, tied[:n_tied]


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
    d2d_m, d3d_m, dx, dy, dz = _offsets(sites.xy_m, sites.height_m, idx, pos)
    return d2d_m, d3d_m, np.arctan2(dy, dx), np.arctan2(dz, d2d_m)  # numpy's arctan2, not libm's: its bits


@numba.njit(cache=True, nogil=True)
def _offsets(
    xy_m: np.ndarray, height_m: np.ndarray, site: np.ndarray, pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`link_geometry`'s ``(d2d, d3d, dx, dy, dz)`` of each (vehicle, site) link, one pass."""
    n, k = site.shape
    d2d, d3d = np.empty((n, k)), np.empty((n, k))
    dx, dy, dz = np.empty((n, k)), np.empty((n, k)), np.empty((n, k))
    for i in range(n):
        for j in range(k):
            s = site[i, j]
            x, y, z = pos[i, 0] - xy_m[s, 0], pos[i, 1] - xy_m[s, 1], pos[i, 2] - height_m[s]
            d2d[i, j] = math.sqrt(x * x + y * y)
            d3d[i, j] = math.sqrt(d2d[i, j] * d2d[i, j] + z * z)
            dx[i, j], dy[i, j], dz[i, j] = x, y, z
    return d2d, d3d, dx, dy, dz


def _wrap_one(angle_rad: float) -> float:
    """Angle brought into [-pi, pi): ``(angle + pi) % 2 pi - pi`` to the last bit.

    With ``angle + pi`` less than a period outside [0, 2 pi) (every angle here), the float modulo comes down
    to one exact subtraction or to the one rounded addition it makes itself: the same bits, several times
    cheaper.
    """
    a = angle_rad + np.pi
    if a < -_TWO_PI or a >= 2.0 * _TWO_PI:
        return a % _TWO_PI - np.pi
    if a < 0.0:
        a += _TWO_PI
    elif a >= _TWO_PI:
        a -= _TWO_PI
    return a - np.pi


def _gain_one(phi_rad: float, el_rad: float, downtilt_rad: float) -> float:
    """TR 38.901 Table 7.3-1 element gain at azimuth ``phi_rad`` off boresight and elevation ``el_rad``."""
    a_v = -min(12.0 * ((el_rad + downtilt_rad) / _HPBW_RAD) ** 2, _SLA_V_DB)
    a_h = -min(12.0 * (phi_rad / _HPBW_RAD) ** 2, _A_MAX_DB)
    return ELEMENT_GAIN_DBI - min(-(a_v + a_h), _A_MAX_DB)


_wrap = numba.vectorize(["float64(float64)"], cache=True)(_wrap_one)
_gain_dbi = numba.vectorize(["float64(float64, float64, float64)"], cache=True)(_gain_one)
_wrap_one, _gain_one = numba.njit(cache=True)(_wrap_one), numba.njit(cache=True)(_gain_one)


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
    return _gain_dbi(_wrap(az - sites.boresight_rad[sector]), el, sites.downtilt_rad)


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
    if sites.n_sectors == 0:
        return np.zeros(az.shape, dtype=np.int64), np.zeros(az.shape)
    sector, gain = _best_sector(sites.boresight_rad, sites.downtilt_rad, az.ravel(), el.ravel())
    return sector.reshape(az.shape), gain.reshape(az.shape)


@numba.njit(cache=True, nogil=True)
def _best_sector(
    boresight_rad: np.ndarray, downtilt_rad: float, az_rad: np.ndarray, el_rad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`best_sector` of flat directions: the nearest boresight in azimuth (the first on a tie) and the
    gain at that azimuth off it (the gain is even in it)."""
    sector, gain = np.zeros(az_rad.size, np.int64), np.empty(az_rad.size)
    for i in range(az_rad.size):
        off_min = np.inf
        for b in range(boresight_rad.size):
            off = abs(_wrap_one(az_rad[i] - boresight_rad[b]))
            if off < off_min:
                sector[i], off_min = b, off
        gain[i] = _gain_one(off_min, el_rad[i], downtilt_rad)
    return sector, gain
