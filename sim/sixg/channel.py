"""Air-to-ground channel of aerial UEs: LOS probability, path loss and shadow fading, per link and batched.

TR 36.777 Annex B (Tables B-1, B-2, B-3) above the aerial height band, the TR 38.901 terrestrial formulas
(Tables 7.4.1-1, 7.4.2-1) below it, as written out in SIXG-MODEL.md §2. :class:`LargeScale` keeps each
(vehicle, site) link's LOS state and shadow fading spatially consistent along the vehicle's track.
Distances and heights in metres (UE height above ground), carrier in GHz, losses in dB. Layer: sim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
from numpy.typing import ArrayLike

from sim.errors import ScenarioError

__all__ = [
    "BS_HEIGHT_M",
    "SCENARIOS",
    "LargeScale",
    "extrapolated",
    "p_los",
    "path_loss_db",
    "path_loss_rows_db",
    "sigma_sf_db",
]

SCENARIOS: tuple[str, ...] = ("UMa-AV", "UMi-AV", "RMa-AV")
"""The TR 36.777 aerial scenarios the model covers."""

BS_HEIGHT_M: dict[str, float] = {"UMa-AV": 25.0, "UMi-AV": 10.0, "RMa-AV": 35.0}
"""BS antenna heights the LOS-probability fits assume (TR 36.777 Table B-1 Note 1)."""

H_MIN_M, H_MAX_M = 1.5, 300.0  # TR 36.777 aerial-UE height range; heights are clamped into it
D3D_MIN_M = 1.0  # log10 needs d_3D > 0; 1 m is the free-space reference distance of every formula
_C_MPS = 299_792_458.0  # free-space loss, SIXG-MODEL.md §2.1: 32.45 + 20 log f_c + 20 log d
_C_BP_MPS = 3.0e8  # breakpoint distances: TR 38.901 Table 7.4.1-1 notes fix c = 3.0e8 m/s
_FSPL_1M_GHZ_DB = 20.0 * math.log10(4.0 * math.pi * 1e9 / _C_MPS)
_RMA_BLDG_M, _RMA_STREET_M = 5.0, 20.0  # TR 38.901 RMa defaults: building height h, street width W


_UMA, _UMI, _RMA = 0, 1, 2  # scenario codes of the numba formulas
_AERIAL_ABOVE_M = (22.5, 22.5, 10.0)  # by code: h above it takes TR 36.777 aerial formulas, else TR 38.901
_RMA_HB172 = _RMA_BLDG_M**1.72
_RMA_PL1_SLOPE = min(0.03 * _RMA_HB172, 10.0)
_RMA_PL1_OFFSET_DB = min(0.044 * _RMA_HB172, 14.77)
_RMA_PL1_PER_M = 0.002 * math.log10(_RMA_BLDG_M)
_RMA_NLOS_DB = 161.04 - 7.1 * math.log10(_RMA_STREET_M) + 7.5 * math.log10(_RMA_BLDG_M)


@dataclass(frozen=True, slots=True)
class _Scenario:
    """Constants of one scenario (SIXG-MODEL.md §2); ``code`` selects its branch of the numba formulas."""

    code: int
    max_d2d_m: float  # SIXG-MODEL.md §2.5 validity limit
    sf_corr_m: tuple[float, float]  # (LOS, NLOS) SF decorrelation distance, TR 38.901 Table 7.5-6
    los_corr_m: float  # LOS-state correlation distance, TR 38.901 Table 7.6.3.1-2 [R]

    @property
    def aerial_above_m(self) -> float:
        return _AERIAL_ABOVE_M[self.code]


# The formulas, one scalar function each, compiled with numba: the public functions below apply them as
# ufuncs, LargeScale's kernel per link. Heights come clamped into [1.5, 300] m and d_3D raised to 1 m.


@numba.njit(cache=True, nogil=True)
def _two_term(d2d: float, d1: float, p1: float) -> float:
    """``d1/d + exp(-d/p1)(1 - d1/d)`` for ``d > d1``, else 1 (TR 36.777 Table B-1 and 38.901 UMi/UMa).

    Writing ``r = d1 / max(d, d1)`` gives exactly 1 at ``d <= d1`` with no branch and no division by 0.
    """
    r = d1 / max(d2d, d1)
    return r + math.exp(-d2d / p1) * (1.0 - r)


@numba.njit(cache=True, nogil=True)
def _p_los_at(code: int, d2d: float, h: float, lh: float) -> float:
    """:func:`_p_los_one` given ``lh = log10(h)``, computed once per vehicle by callers with many links."""
    aerial = h > _AERIAL_ABOVE_M[code]
    if code == _UMA:
        if not aerial:
            c = (max(h - 13.0, 0.0) / 10.0) ** 1.5  # C'(h_UT), 0 at or below 13 m
            x = d2d / 100.0
            p = _two_term(d2d, 18.0, 63.0) * (1.0 + c * 1.25 * (x * x * x) * math.exp(-d2d / 150.0))
            return 1.0 if d2d <= 18.0 else p
        if h > 100.0:
            return 1.0
        return _two_term(d2d, max(460.0 * lh - 700.0, 18.0), 4300.0 * lh - 3800.0)
    if code == _UMI:
        if not aerial:
            return _two_term(d2d, 18.0, 36.0)
        return _two_term(d2d, max(294.05 * lh - 432.94, 18.0), 233.98 * lh - 0.95)  # never clamped to 1
    if not aerial:
        return math.exp(-max(d2d - 10.0, 0.0) / 1000.0)
    if h > 40.0:
        return 1.0
    return _two_term(d2d, max(1350.8 * lh - 1602.0, 18.0), max(15021.0 * lh - 16053.0, 1000.0))


def _p_los_one(code: int, d2d: float, h: float) -> float:
    """LOS probability: TR 38.901 Table 7.4.2-1 at or below the aerial band, TR 36.777 Table B-1 above."""
    return _p_los_at(code, d2d, h, math.log10(h))


@numba.njit(cache=True, nogil=True)
def _rma_pl1(d3d: float, fc: float) -> float:
    """TR 38.901 RMa LOS PL1 with the default building height h = 5 m."""
    return (
        20.0 * math.log10(40.0 * math.pi * d3d * fc / 3.0)
        + _RMA_PL1_SLOPE * math.log10(d3d)
        - _RMA_PL1_OFFSET_DB
        + _RMA_PL1_PER_M * d3d
    )


@numba.njit(cache=True, nogil=True)
def _rma_d_bp(h: float, fc: float, h_bs: float) -> float:
    """TR 38.901 RMa breakpoint distance ``2 pi h_BS h_UT f_c / c``."""
    return 2.0 * math.pi * h_bs * min(h, 10.0) * fc * 1e9 / _C_BP_MPS


@numba.njit(cache=True, nogil=True)
def _path_loss_at(
    code: int,
    los: bool,
    d2d: float,
    d3d: float,
    h: float,
    fc: float,
    h_bs: float,
    logs: tuple[float, float, float],
) -> float:
    """:func:`_path_loss_one` given ``logs``, :func:`_carrier_logs` and ``log10(h)``, which a caller with many
    links works out once per carrier and vehicle."""
    lf, l1m, lh = logs
    ld, lfc = math.log10(d3d), 20.0 * lf
    aerial = h > _AERIAL_ABOVE_M[code]
    if code == _UMA:
        if aerial:
            if los:
                return 28.0 + 22.0 * ld + lfc  # Table B-2 Note 1: no breakpoint observed
            return -17.5 + (46.0 - 7.0 * lh) * ld + l1m  # no max() in B-2
        d_bp = 4.0 * (h_bs - 1.0) * (h - 1.0) * fc * 1e9 / _C_BP_MPS
        if d2d <= d_bp:
            pl_los = 28.0 + 22.0 * ld + lfc
        else:
            pl_los = 28.0 + 40.0 * ld + lfc - 9.0 * math.log10(d_bp**2 + (h_bs - h) ** 2)
        return pl_los if los else max(pl_los, 13.54 + 39.08 * ld + lfc - 0.6 * (h - 1.5))
    if code == _UMI:
        if aerial:
            fspl = _FSPL_1M_GHZ_DB + lfc + 20.0 * ld
            pl_los = max(fspl, 30.9 + (22.25 - 0.5 * lh) * ld + lfc)
            return pl_los if los else max(pl_los, 32.4 + (43.2 - 7.6 * lh) * ld + lfc)
        d_bp = 4.0 * (h_bs - 1.0) * (h - 1.0) * fc * 1e9 / _C_BP_MPS
        if d2d <= d_bp:
            pl_los = 32.4 + 21.0 * ld + lfc
        else:
            pl_los = 32.4 + 40.0 * ld + lfc - 9.5 * math.log10(d_bp**2 + (h_bs - h) ** 2)
        pl_nlos = 35.3 * ld + 22.4 + 21.3 * lf - 0.3 * (h - 1.5)
        return pl_los if los else max(pl_los, pl_nlos)
    if aerial:
        pl_los = max(23.9 - 1.8 * lh, 20.0) * ld + l1m
        return pl_los if los else max(pl_los, -12.0 + (35.0 - 5.3 * lh) * ld + l1m)
    d_bp = _rma_d_bp(h, fc, h_bs)
    pl_los = _rma_pl1(d3d, fc) if d2d <= d_bp else _rma_pl1(d_bp, fc) + 40.0 * math.log10(d3d / d_bp)
    if los:
        return pl_los
    lbs = math.log10(h_bs)
    pl_nlos = (
        _RMA_NLOS_DB
        - (24.37 - 3.7 * (_RMA_BLDG_M / h_bs) ** 2) * lbs
        + (43.42 - 3.1 * lbs) * (ld - 3.0)
        + 20.0 * lf
        - (3.2 * math.log10(11.75 * h) ** 2 - 4.97)
    )
    return max(pl_los, pl_nlos)


@numba.njit(cache=True, nogil=True)
def _carrier_logs(fc: float) -> tuple[float, float]:
    """``log10(f_c)`` and the free-space loss at 1 m, ``20 log10(40 pi f_c / 3)`` (B-2 and RMa-AV's form)."""
    return math.log10(fc), 20.0 * math.log10(40.0 * math.pi * fc / 3.0)


def _path_loss_one(code: int, los: bool, d2d: float, d3d: float, h: float, fc: float, h_bs: float) -> float:
    """Path loss: TR 38.901 Table 7.4.1-1 at or below the aerial band (h_E = 1 m), TR 36.777 B-2 above."""
    lf, l1m = _carrier_logs(fc)
    return _path_loss_at(code, los, d2d, d3d, h, fc, h_bs, (lf, l1m, math.log10(h)))


@numba.njit(cache=True, nogil=True)
def _sigma_sf_of_height(code: int, h: float, fc: float, h_bs: float) -> tuple[float, float, float, float]:
    """Shadow-fading sigmas at height ``h``: LOS up to the breakpoint, LOS beyond it, NLOS, and the breakpoint
    distance (inf but for RMa below the aerial band, the only sigma that reads ``d2d``)."""
    aerial = h > _AERIAL_ABOVE_M[code]
    if code == _UMA:
        los = (4.64 * math.exp(-0.0066 * h)) if aerial else 4.0
        return los, los, 6.0, math.inf
    if code == _UMI:
        los = max(5.0 * math.exp(-0.01 * h), 2.0) if aerial else 4.0
        return los, los, 8.0 if aerial else 7.82, math.inf
    if aerial:
        los = 4.2 * math.exp(-0.0046 * h)
        return los, los, 6.0, math.inf
    return 4.0, 6.0, 8.0, _rma_d_bp(h, fc, h_bs)


@numba.njit(cache=True, nogil=True)
def _sigma_sf_at(sigmas: tuple[float, float, float, float], los: bool, d2d: float) -> float:
    """The sigma of a link in state ``los`` at ``d2d`` from :func:`_sigma_sf_of_height`'s ``sigmas``."""
    near, far, nlos, d_bp = sigmas
    if not los:
        return nlos
    return near if d2d <= d_bp else far


def _sigma_sf_one(code: int, los: bool, h: float, d2d: float, fc: float, h_bs: float) -> float:
    """Shadow-fading sigma: TR 38.901 Table 7.4.1-1 at or below the aerial band, TR 36.777 Table B-3 above;
    only RMa LOS below it reads ``d2d`` (4 dB before the breakpoint, 6 dB after)."""
    return _sigma_sf_at(_sigma_sf_of_height(code, h, fc, h_bs), los, d2d)


_p_los_ufunc = numba.vectorize(cache=True)(_p_los_one)
_path_loss_ufunc = numba.vectorize(cache=True)(_path_loss_one)
_sigma_sf_ufunc = numba.vectorize(cache=True)(_sigma_sf_one)
_p_los_one, _path_loss_one, _sigma_sf_one = (
    numba.njit(cache=True)(f) for f in (_p_los_one, _path_loss_one, _sigma_sf_one)
)


class _Corr(NamedTuple):
    """The latents' correlation distances ``m`` as :func:`_move_links` takes them: ``first[f]`` is the first
    latent with distance ``m[f]`` (its rho serves all of them), ``rho`` and ``gain`` (``sqrt(1 - rho^2)``)
    scratch, by latent."""

    m: np.ndarray
    first: np.ndarray
    rho: np.ndarray
    gain: np.ndarray

    @classmethod
    def of(cls, corr_m: list[float]) -> _Corr:
        first = np.array([corr_m.index(c) for c in corr_m], np.int64)
        return cls(np.array(corr_m, float), first, np.zeros(len(corr_m)), np.zeros(len(corr_m)))


_SCENARIO: dict[str, _Scenario] = {
    "UMa-AV": _Scenario(_UMA, 4000.0, (37.0, 50.0), 50.0),
    "UMi-AV": _Scenario(_UMI, 4000.0, (10.0, 13.0), 50.0),
    "RMa-AV": _Scenario(_RMA, 10000.0, (37.0, 120.0), 60.0),
}


def _scenario(name: str) -> _Scenario:
    try:
        return _SCENARIO[name]
    except (KeyError, TypeError):
        raise ScenarioError(
            "scenario", f"unknown channel scenario {name!r}; valid: {', '.join(SCENARIOS)}"
        ) from None


def _height(h_m: ArrayLike) -> np.ndarray:
    """UE height clamped to the model's 1.5-300 m (SIXG-MODEL.md §2.5; :func:`extrapolated` flags it)."""
    return np.clip(np.asarray(h_m, dtype=float), H_MIN_M, H_MAX_M)


def p_los(scenario: str, d2d_m: ArrayLike, h_m: ArrayLike) -> np.ndarray:
    """LOS probability of a site-UE link; shape broadcast(d2d_m, h_m).

    TR 36.777 Table B-1 above the aerial band (UMa/UMi-AV: h > 22.5 m, RMa-AV: h > 10 m), TR 38.901
    Table 7.4.2-1 at or below it; 1 above 100 m (UMa-AV) and 40 m (RMa-AV), never saturated in UMi-AV.

    Parameters
    ----------
    scenario : "UMa-AV", "UMi-AV" or "RMa-AV".
    d2d_m : horizontal site-UE distance, m.
    h_m : UE height above ground, m; clamped to [1.5, 300].

    >>> p_los("UMa-AV", [10.0, 200.0, 200.0], [50.0, 50.0, 150.0]).round(5)
    array([1.     , 0.96715, 1.     ])
    >>> p_los("UMi-AV", 1000.0, 300.0).round(6)
    np.float64(0.420591)
    """
    return _p_los_ufunc(_scenario(scenario).code, np.asarray(d2d_m, dtype=float), _height(h_m))


def path_loss_db(
    scenario: str,
    los: ArrayLike,
    d2d_m: ArrayLike,
    d3d_m: ArrayLike,
    h_m: ArrayLike,
    fc_ghz: ArrayLike,
    *,
    h_bs_m: float | None = None,
) -> np.ndarray:
    """Basic path loss of a site-UE link in dB; shape broadcast of all array arguments.

    TR 36.777 Table B-2 above the aerial band, TR 38.901 Table 7.4.1-1 at or below it (the UMa-AV NLOS row
    of B-2 starts at 10 m, but the terrestrial formula is kept up to 22.5 m to match Table B-1's bands).
    Breakpoints use h_E = 1 m. An NLOS loss asked where P_LOS = 1 (UMa-AV above 100 m, RMa-AV above
    40 m) extrapolates the aerial NLOS formula.

    Parameters
    ----------
    scenario : "UMa-AV", "UMi-AV" or "RMa-AV".
    los : bool, LOS (True) or NLOS state of the link.
    d2d_m, d3d_m : horizontal and 3D site-UE distances, m; d3d_m is raised to at least 1 m.
    h_m : UE height above ground, m; clamped to [1.5, 300].
    fc_ghz : carrier frequency, GHz.
    h_bs_m : BS antenna height for the terrestrial formulas; default :data:`BS_HEIGHT_M` of the scenario.

    >>> path_loss_db("UMa-AV", True, 995.0, 1000.0, 100.0, 3.5).round(3)
    np.float64(104.881)
    >>> path_loss_db("UMi-AV", [True, False], 300.0, 302.0, 60.0, 2.0).round(2)
    array([ 89.9 , 112.04])
    """
    code = _scenario(scenario).code
    h_bs = BS_HEIGHT_M[scenario] if h_bs_m is None else float(h_bs_m)
    d3d = np.maximum(np.asarray(d3d_m, dtype=float), D3D_MIN_M)
    los_b, d2d, fc = np.asarray(los, dtype=bool), np.asarray(d2d_m, dtype=float), np.asarray(fc_ghz, float)
    return _path_loss_ufunc(code, los_b, d2d, d3d, _height(h_m), fc, h_bs)


def path_loss_rows_db(
    scenario: str,
    los: np.ndarray,
    d2d_m: np.ndarray,
    d3d_m: np.ndarray,
    h_m: np.ndarray,
    fc_ghz: float,
    h_bs_m: float,
) -> np.ndarray:
    """:func:`path_loss_db` of the (n, K) links of n vehicles at heights ``h_m`` (n,), the same numbers: the
    terms of the carrier and of each vehicle's height are worked out once, not per link.

    >>> los, d2d, d3d = np.array([[True, False]]), np.array([[300.0, 500.0]]), np.array([[302.0, 501.0]])
    >>> want = path_loss_db("UMa-AV", los, d2d, d3d, 60.0, 4.0, h_bs_m=25.0)
    >>> bool((path_loss_rows_db("UMa-AV", los, d2d, d3d, np.array([60.0]), 4.0, 25.0) == want).all())
    True
    """
    return _path_loss_rows(_scenario(scenario).code, los, d2d_m, d3d_m, h_m, float(fc_ghz), float(h_bs_m))


@numba.njit(cache=True, nogil=True)
def _path_loss_rows(
    code: int, los: np.ndarray, d2d: np.ndarray, d3d: np.ndarray, h_m: np.ndarray, fc: float, h_bs: float
) -> np.ndarray:
    """:func:`path_loss_rows_db`, with :func:`path_loss_db`'s clamps of the height and of d_3D."""
    lf, l1m = _carrier_logs(fc)
    out = np.empty(d2d.shape)
    for i in range(d2d.shape[0]):
        h = min(max(h_m[i], H_MIN_M), H_MAX_M)
        logs = (lf, l1m, math.log10(h))
        for j in range(d2d.shape[1]):
            out[i, j] = _path_loss_at(
                code, los[i, j], d2d[i, j], max(d3d[i, j], D3D_MIN_M), h, fc, h_bs, logs
            )
    return out


def sigma_sf_db(
    scenario: str,
    los: ArrayLike,
    h_m: ArrayLike,
    *,
    d2d_m: ArrayLike | None = None,
    fc_ghz: ArrayLike | None = None,
    h_bs_m: float | None = None,
) -> np.ndarray:
    """Shadow-fading standard deviation in dB; shape broadcast of the array arguments.

    TR 36.777 Table B-3 above the aerial band, TR 38.901 Table 7.4.1-1 at or below it. Only RMa-AV LOS
    below 10 m depends on distance (4 dB before the breakpoint, 6 dB after): give ``d2d_m`` and
    ``fc_ghz`` for it, otherwise the 4 dB before the breakpoint is used.

    >>> sigma_sf_db("UMi-AV", [True, True, False], [10.0, 200.0, 200.0])
    array([4., 2., 8.])
    """
    code = _scenario(scenario).code
    h_bs = BS_HEIGHT_M[scenario] if h_bs_m is None else float(h_bs_m)
    d2d, fc = 0.0, 1.0  # at 0 m every link is before the breakpoint
    if d2d_m is not None and fc_ghz is not None:
        d2d, fc = np.asarray(d2d_m, dtype=float), np.asarray(fc_ghz, dtype=float)
    return _sigma_sf_ufunc(code, np.asarray(los, dtype=bool), _height(h_m), d2d, fc, h_bs)


def extrapolated(scenario: str, d2d_m: ArrayLike, h_m: ArrayLike) -> np.ndarray:
    """Where the model is used outside its validity range; bool, shape broadcast(d2d_m, h_m).

    True for a height outside 1.5-300 m (the functions clamp it), a horizontal distance beyond 4 km
    (UMa/UMi-AV) or 10 km (RMa-AV), or below 10 m in the terrestrial band (SIXG-MODEL.md §2.5).

    >>> extrapolated("UMa-AV", [100.0, 5000.0, 100.0, 5.0], [50.0, 50.0, 400.0, 10.0])
    array([False,  True,  True,  True])
    """
    scn = _scenario(scenario)
    d2d, h = np.broadcast_arrays(np.asarray(d2d_m, dtype=float), np.asarray(h_m, dtype=float))
    out_h = (h < H_MIN_M) | (h > H_MAX_M)
    return out_h | (d2d > scn.max_d2d_m) | ((h <= scn.aerial_above_m) & (d2d < 10.0))


class LargeScale:
    """LOS state and shadow fading of every (vehicle, site) link, spatially consistent along each track.

    Each link keeps an anchor position and three standard-normal latents: one decides the LOS state (LOS
    where ``Phi(z) < P_LOS``, a correlated uniform in the manner of TR 38.901 §7.6.3.1, so the LOS fraction
    is exactly P_LOS), two are the shadow-fading fields of the LOS and NLOS states (``SF = sigma_SF * z``).
    Once the vehicle is ``step_m`` or more from a link's anchor, each latent takes one Gudmundson AR(1)
    step over the displacement ``d``: ``z <- rho z + sqrt(1 - rho^2) eps``, ``rho = exp(-d / d_corr)``
    (SF: TR 38.901 Table 7.5-6 per state; LOS: Table 7.6.3.1-2), and the anchor moves to the vehicle.
    Smaller moves change no latent, so a hovering vehicle keeps its LOS state instead of chattering at
    the P_LOS threshold. A link not asked for a while resumes from its old anchor, which is the right
    correlation when the vehicle comes back.

    Storage: per vehicle, a block of ``links_per_vehicle`` links (float32) that stay in their columns, each
    with a recency stamp. A call stamps the links it asks for as the most recent, in ascending site order,
    and keeps their columns, so the next call asking the same set of sites, in any order, finds them with
    one comparison per site. A new link takes the column of the least recently used one (an empty column
    first): links are forgotten oldest first. Call :meth:`forget` when a vehicle leaves the simulation.

    Parameters
    ----------
    scenario : "UMa-AV", "UMi-AV" or "RMa-AV".
    site_xy_m : (S, 2) site positions in the local ENU frame, m.
    rng : the generator every draw comes from (``sim.rng.rng_for(seed, "sixg.channel")``).
    fc_ghz : carrier, GHz (needed for the RMa breakpoint of the shadow-fading sigma).
    step_m : smallest displacement that moves the latents, m.
    links_per_vehicle : links remembered per vehicle; at least the K of every call.

    >>> from sim.rng import rng_for
    >>> ls = LargeScale("UMa-AV", [[0.0, 0.0], [500.0, 0.0]], rng_for(1, "sixg.channel"), fc_ghz=3.5)
    >>> los, sf_db = ls.draw([7], [[100.0, 0.0, 150.0]], [[0, 1]])
    >>> los.tolist(), sf_db.shape
    ([[True, True]], (1, 2))
    >>> again = ls.draw([7], [[100.2, 0.0, 150.0]], [[0, 1]])  # 20 cm later: nothing moves
    >>> bool((again[1] == sf_db).all())
    True
    """

    _F = 6  # state columns: anchor x, y, z; latent of the LOS state; SF latents of LOS and NLOS

    def __init__(
        self,
        scenario: str,
        site_xy_m: ArrayLike,
        rng: np.random.Generator,
        *,
        fc_ghz: float,
        step_m: float = 1.0,
        links_per_vehicle: int = 40,
    ) -> None:
        scn = _scenario(scenario)
        xy = np.asarray(site_xy_m, dtype=float)
        if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) == 0 or not np.isfinite(xy).all():
            raise ScenarioError("site_xy_m", f"must be a non-empty finite (S, 2) array (shape {xy.shape})")
        for name, value in (("fc_ghz", fc_ghz), ("step_m", step_m)):
            if not (math.isfinite(value) and value > 0.0):
                raise ScenarioError(name, f"must be finite and > 0 ({value})")
        if int(links_per_vehicle) < 1:
            raise ScenarioError("links_per_vehicle", f"must be >= 1 ({links_per_vehicle})")
        self.scenario = scenario
        self.fc_ghz = float(fc_ghz)
        self.step_m = float(step_m)
        self._rng = rng
        self._sx, self._sy = xy[:, 0].copy(), xy[:, 1].copy()
        self._col_of = np.full(len(xy), -1, np.int64)  # scratch of _place_links, by site
        self._corr = _Corr.of([scn.los_corr_m, *scn.sf_corr_m])
        self._code, self._h_bs_m = scn.code, BS_HEIGHT_M[scenario]
        self._links = int(links_per_vehicle)
        self._slot_of = np.full(0, -1, dtype=np.int64)  # by vehicle id: its slot, -1 = none
        self._free = np.empty(0, dtype=np.int64)  # released slots, sorted
        self._used = 0  # slots ever handed out
        self._site = np.full((0, self._links), -1, dtype=np.int32)  # (slots, L) site per link, -1 = none
        self._stamp = np.zeros((0, self._links), dtype=np.int64)  # (slots, L) recency, larger = more recent
        self._last = np.full((0, self._links), -1, dtype=np.int32)  # (slots, L) columns the last call placed
        self._clock = 0  # stamps handed out so far
        self._state = np.zeros((0, self._F, self._links), dtype=np.float32)  # (slots, F, L)

    def draw(self, vehicle_id: ArrayLike, pos_m: ArrayLike, site: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """LOS state and shadow fading of the links ``(vehicle_id[i], site[i, j])`` at ``pos_m[i]``.

        Parameters
        ----------
        vehicle_id : (n,) distinct non-negative integer ids.
        pos_m : (n, 3) vehicle positions in the local ENU frame, m; z is the height above ground.
        site : (n, K) indices into ``site_xy_m``, distinct within a row (e.g. the K nearest sites).

        Returns
        -------
        los : (n, K) bool.
        sf_db : (n, K) shadow fading in dB, to add to the path loss.
        """
        vid, pos, asked = self._checked(vehicle_id, pos_m, site)
        n, k = asked.shape
        if n == 0:
            return np.zeros((0, k), dtype=bool), np.zeros((0, k))
        # Work in ascending site order per row: the nearest-first order changes far more often than the set.
        sites, col, distinct = _sorted_rows(asked)
        if not distinct:
            raise ScenarioError("site", "indices must be distinct within each row")
        slot = self._slots_for(vid)
        link, new_row, new_col = _place_links(
            self._site, self._stamp, self._last, slot, sites, self._col_of, self._clock
        )
        self._clock += k
        return _move_links(
            self._state, slot, sites, col, link, pos, new_row, new_col, self._rng, self._corr, self.step_m,
            self._sx, self._sy, self._code, self.fc_ghz, self._h_bs_m,
        )  # fmt: skip

    def forget(self, vehicle_id: ArrayLike) -> None:
        """Drop every link of these vehicles (e.g. landed); ids with no links are ignored."""
        vid = np.asarray(vehicle_id, dtype=np.int64).ravel()
        vid = vid.compress((vid >= 0) & (vid < self._slot_of.size))
        slots = np.unique(self._slot_of.take(vid))
        slots = slots.compress(slots >= 0)
        self._site[slots] = -1
        self._free = np.union1d(self._free, slots)
        self._slot_of[vid] = -1

    def _checked(
        self, vehicle_id: ArrayLike, pos_m: ArrayLike, site: ArrayLike
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The batch as (int64 ids, float positions, integer sites), or a ScenarioError naming the field."""
        vid, pos, sites = np.asarray(vehicle_id), np.asarray(pos_m, dtype=float), np.asarray(site)
        if vid.ndim != 1 or not (vid.dtype.kind in "iu" or vid.size == 0):
            raise ScenarioError("vehicle_id", f"must be a 1-D array of non-negative integers ({vid.dtype})")
        n = vid.size
        if pos.shape != (n, 3):
            raise ScenarioError("pos_m", f"must be finite with shape ({n}, 3) (shape {pos.shape})")
        if sites.ndim != 2 or len(sites) != n or not (sites.dtype.kind in "iu" or sites.size == 0):
            raise ScenarioError("site", f"must be an integer array of shape ({n}, K) (shape {sites.shape})")
        vid_ok, pos_ok, sites_ok = _batch_ok(vid, pos, sites, self._sx.size)
        if not vid_ok:
            raise ScenarioError("vehicle_id", f"must be a 1-D array of non-negative integers ({vid.dtype})")
        if not pos_ok:
            raise ScenarioError("pos_m", f"must be finite with shape ({n}, 3) (shape {pos.shape})")
        if not sites_ok:
            raise ScenarioError(
                "site", f"indices must be in [0, {self._sx.size}) (got {sites.min()}..{sites.max()})"
            )
        if sites.shape[1] > self._links:
            raise ScenarioError(
                "site", f"K = {sites.shape[1]} sites per vehicle exceeds links_per_vehicle = {self._links}"
            )
        return vid.astype(np.int64, copy=False), pos, sites

    def _slots_for(self, vid: np.ndarray) -> np.ndarray:
        """Slot of each vehicle id; unknown ids get a slot (a released one first). Refuses repeated ids."""
        if vid.max() >= self._slot_of.size:
            grown = np.full(max(int(vid.max()) + 1, 2 * self._slot_of.size, 1024), -1, dtype=np.int64)
            grown[: self._slot_of.size] = self._slot_of
            self._slot_of = grown
        slot, new, distinct = _slots_of(self._slot_of, vid)
        if not distinct:
            _, first, repeats = np.unique(vid, return_index=True, return_counts=True)
            raise ScenarioError("vehicle_id", f"ids must be distinct ({vid[first[repeats > 1][0]]} repeats)")
        if new.size:
            slot[new] = self._allocate(new.size)
            self._slot_of[vid.take(new)] = slot.take(new)
        return slot

    def _allocate(self, count: int) -> np.ndarray:
        reused, self._free = self._free[:count], self._free[count:]
        fresh = np.arange(self._used, self._used + count - reused.size)
        self._used += fresh.size
        if self._used > len(self._site):
            grow = max(self._used, 2 * len(self._site), 1024) - len(self._site)
            self._site = np.concatenate([self._site, np.full((grow, self._links), -1, dtype=np.int32)])
            self._stamp = np.concatenate([self._stamp, np.zeros((grow, self._links), np.int64)])
            self._last = np.concatenate([self._last, np.full((grow, self._links), -1, dtype=np.int32)])
            self._state = np.concatenate([self._state, np.zeros((grow, self._F, self._links), np.float32)])
        return np.concatenate([reused, fresh])


@numba.njit(cache=True, nogil=True)
def _batch_ok(vid: np.ndarray, pos: np.ndarray, sites: np.ndarray, n_sites: int) -> tuple[bool, bool, bool]:
    """Whether the ids are non-negative, the positions finite and the sites in ``[0, n_sites)``, one pass."""
    vid_ok, pos_ok, sites_ok = True, True, True
    for i in range(vid.size):
        vid_ok &= vid[i] >= 0
        for a in range(3):
            pos_ok &= math.isfinite(pos[i, a])
        for j in range(sites.shape[1]):
            sites_ok &= 0 <= sites[i, j] < n_sites
    return vid_ok, pos_ok, sites_ok


@numba.njit(cache=True, nogil=True)
def _slots_of(slot_of: np.ndarray, vid: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """The slot of each id (-1: none yet), the rows of those with none, and whether no id repeats."""
    seen = np.zeros(slot_of.size, np.bool_)
    slot, new = np.empty(vid.size, np.int64), np.empty(vid.size, np.int64)
    count, distinct = 0, True
    for i in range(vid.size):
        distinct &= not seen[vid[i]]
        seen[vid[i]] = True
        slot[i] = slot_of[vid[i]]
        if slot[i] < 0:
            new[count] = i
            count += 1
    return slot, new[:count], distinct


@numba.njit(cache=True, nogil=True)
def _sorted_rows(asked: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Each row of ``asked`` (n, K) in ascending order, the column each entry came from, and whether no row
    repeats an entry (insertion sort: K is a handful)."""
    n, k = asked.shape
    sites, col = np.empty((n, k), np.int32), np.empty((n, k), np.int64)
    distinct = True
    for i in range(n):
        for j in range(k):
            s, m = asked[i, j], j
            while m > 0 and sites[i, m - 1] > s:
                sites[i, m], col[i, m] = sites[i, m - 1], col[i, m - 1]
                m -= 1
            sites[i, m], col[i, m] = s, j
            distinct &= m == 0 or sites[i, m - 1] != s
    return sites, col, distinct


@numba.njit(cache=True, inline="always")
def _same_as_last(blk: np.ndarray, last: np.ndarray, sites: np.ndarray, link: np.ndarray) -> bool:
    """Whether the last call's links, ``last`` (columns, -1 ends them), start with these sites; then ``link``
    holds their columns. Those links are the most recent, in this order: the call changes no stamp."""
    for j in range(sites.size):
        if last[j] < 0 or blk[last[j]] != sites[j]:
            return False
        link[j] = last[j]
    return True


@numba.njit(cache=True, inline="always")
def _oldest_free(blk: np.ndarray, stamp: np.ndarray, taken: np.ndarray) -> int:
    """The untaken column with the least recently used link, an empty one first."""
    oldest = -1
    for c in range(blk.size):
        if taken[c]:
            continue
        if blk[c] < 0:
            return c
        if oldest < 0 or stamp[c] < stamp[oldest]:
            oldest = c
    return oldest


@numba.njit(cache=True, nogil=True)
def _place_links(
    site_of: np.ndarray,
    stamp: np.ndarray,
    last: np.ndarray,
    slot: np.ndarray,
    sites: np.ndarray,
    col_of: np.ndarray,
    clock: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The column of each asked (sorted) link (n, K), and the new links' (row, column), row by row, for the
    caller to draw. A new link takes the column of the least recently used untaken link (an empty first);
    the asked links are stamped ``clock + K - j``, the most recent, in ascending site order. ``col_of`` (S,)
    is scratch, all -1 between calls."""
    n, k = sites.shape
    links = site_of.shape[1]
    link = np.empty((n, k), np.int64)
    new_row, new_col = np.empty(n * k, np.int64), np.empty(n * k, np.int64)
    count = 0
    taken = np.empty(links, np.bool_)
    for i in range(n):
        blk, blk_stamp = site_of[slot[i]], stamp[slot[i]]
        if _same_as_last(blk, last[slot[i]], sites[i], link[i]):
            continue
        taken[:] = False
        for c in range(links):  # each held site's column, by a lookup over the sites
            if blk[c] >= 0:
                col_of[blk[c]] = c
        for j in range(k):
            link[i, j] = col_of[sites[i, j]]
            if link[i, j] >= 0:
                taken[link[i, j]] = True
        for c in range(links):
            if blk[c] >= 0:
                col_of[blk[c]] = -1
        for j in range(k):
            if link[i, j] < 0:
                link[i, j] = _oldest_free(blk, blk_stamp, taken)
                taken[link[i, j]] = True
                blk[link[i, j]] = sites[i, j]
                new_row[count], new_col[count] = i, link[i, j]
                count += 1
        for j in range(k):
            blk_stamp[link[i, j]] = clock + k - j
            last[slot[i], j] = link[i, j]
        if k < links:
            last[slot[i], k] = -1
    return link, new_row[:count], new_col[:count]


@numba.njit(cache=True, nogil=True)
def _move_links(
    state: np.ndarray,
    slot: np.ndarray,
    sites: np.ndarray,
    col: np.ndarray,
    link: np.ndarray,
    pos: np.ndarray,
    new_row: np.ndarray,
    new_col: np.ndarray,
    rng: np.random.Generator,
    corr: _Corr,
    step_m: float,
    sx: np.ndarray,
    sy: np.ndarray,
    code: int,
    fc_ghz: float,
    h_bs_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Anchor the new links at ``pos`` with standard normal latents, take one AR(1) step on the links the
    vehicle moved ``step_m`` or more from, anchor those at ``pos``: the LOS states and shadow fadings (n, K)
    of :meth:`LargeScale.draw`, in the caller's column order ``col``; ``link`` (n, K) is each one's column in
    the block. The height terms are worked out once per vehicle. ``rng`` gives the new latents (new links,
    3), then the steps' innovations (3, n, K), drawn even where no latent moves so the stream stays put
    (numba's draws are numpy's, at half the cost)."""
    init = rng.standard_normal((new_row.size, 3))
    eps = rng.standard_normal((3, *sites.shape))
    for m in range(new_row.size):
        new_link = state[slot[new_row[m]], :, new_col[m]]
        new_link[:3], new_link[3:] = pos[new_row[m]], init[m]
    n, k = sites.shape
    los, sf_db = np.empty((n, k), np.bool_), np.empty((n, k))
    for i in range(n):
        h_m = min(max(pos[i, 2], H_MIN_M), H_MAX_M)
        lh, sigmas = math.log10(h_m), _sigma_sf_of_height(code, h_m, fc_ghz, h_bs_m)
        blk = state[slot[i]]
        for j in range(k):
            b = link[i, j]
            _step_latents(blk, b, pos[i], eps[:, i, j], corr, step_m)
            c, s = col[i, j], sites[i, j]
            ex, ey = pos[i, 0] - sx[s], pos[i, 1] - sy[s]
            d2d_m = math.sqrt(ex * ex + ey * ey)
            p = _p_los_at(code, d2d_m, h_m, lh)
            is_los = (
                p >= 1.0 or 0.5 * math.erfc(-np.float64(blk[3, b]) / math.sqrt(2.0)) < p
            )  # Phi(z) < P_LOS
            z_sf = np.float64(blk[4, b] if is_los else blk[5, b])
            los[i, c], sf_db[i, c] = is_los, _sigma_sf_at(sigmas, is_los, d2d_m) * z_sf
    return los, sf_db


@numba.njit(cache=True, inline="always")
def _step_latents(
    blk: np.ndarray, j: int, pos: np.ndarray, eps: np.ndarray, corr: _Corr, step_m: float
) -> None:
    """One AR(1) step of link ``j``'s latents in ``blk`` (F, L), and its anchor moved to ``pos``, if that is
    ``step_m`` or more from the anchor."""
    dx, dy, dz = (
        pos[0] - np.float64(blk[0, j]),
        pos[1] - np.float64(blk[1, j]),
        pos[2] - np.float64(blk[2, j]),
    )
    dist_m = math.sqrt(dx * dx + dy * dy + dz * dz)
    if not dist_m >= step_m:
        return
    for f in range(3):
        if corr.first[f] == f:  # else an earlier latent's rho, the same number
            corr.rho[f] = math.exp(-dist_m / corr.m[f])
            corr.gain[f] = math.sqrt(1.0 - corr.rho[f] * corr.rho[f])
        g = corr.first[f]
        blk[3 + f, j] = corr.rho[g] * np.float64(blk[3 + f, j]) + corr.gain[g] * eps[f]
    blk[0, j], blk[1, j], blk[2, j] = pos[0], pos[1], pos[2]
