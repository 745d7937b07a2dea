"""Air-to-ground channel of aerial UEs: LOS probability, path loss and shadow fading, per link and batched.

TR 36.777 Annex B (Tables B-1, B-2, B-3) above the aerial height band, the TR 38.901 terrestrial formulas
(Tables 7.4.1-1, 7.4.2-1) below it, as written out in SIXG-MODEL.md §2. :class:`LargeScale` keeps each
(vehicle, site) link's LOS state and shadow fading spatially consistent along the vehicle's track.
Distances and heights in metres (UE height above ground), carrier in GHz, losses in dB. Layer: sim.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

from sim.errors import ScenarioError

__all__ = [
    "BS_HEIGHT_M",
    "SCENARIOS",
    "LargeScale",
    "extrapolated",
    "p_los",
    "path_loss_db",
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


@dataclass(frozen=True, slots=True)
class _Scenario:
    """Constants of one scenario and its formulas below and above the aerial band (SIXG-MODEL.md §2)."""

    aerial_above_m: float  # h above this: TR 36.777 aerial formulas; at or below: TR 38.901 terrestrial
    max_d2d_m: float  # SIXG-MODEL.md §2.5 validity limit
    sf_corr_m: tuple[float, float]  # (LOS, NLOS) SF decorrelation distance, TR 38.901 Table 7.5-6
    los_corr_m: float  # LOS-state correlation distance, TR 38.901 Table 7.6.3.1-2 [R]
    p_los: tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]  # (terrestrial, aerial)
    path_loss: tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]
    sigma: tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]


def _by_band(h: np.ndarray, edge_m: float, formulas: tuple, *args) -> np.ndarray:
    """``formulas[0](*args)`` where ``h <= edge_m``, ``formulas[1](*args)`` above, in the broadcast shape.

    A band no element falls in is not computed: a fleet at cruise height skips the terrestrial formulas.
    """
    low = h <= edge_m
    if low.all():
        out = formulas[0](*args)
    elif not low.any():
        out = formulas[1](*args)
    else:
        out = np.where(low, formulas[0](*args), formulas[1](*args))
    shape = np.broadcast(*(a for a in args if a is not None)).shape
    return out if np.shape(out) == shape else np.broadcast_to(out, shape).copy()


def _two_term(d2d: np.ndarray, d1: ArrayLike, p1: ArrayLike) -> np.ndarray:
    """``d1/d + exp(-d/p1)(1 - d1/d)`` for ``d > d1``, else 1 (TR 36.777 Table B-1 and 38.901 UMi/UMa).

    Writing ``r = d1 / max(d, d1)`` gives exactly 1 at ``d <= d1`` with no branch and no division by 0.
    """
    r = d1 / np.maximum(d2d, d1)
    return r + np.exp(-d2d / p1) * (1.0 - r)


# LOS probability: (d2d, h) -> P_LOS. Heights are clipped into each formula's band so that evaluating a
# band's formula on heights outside it (before np.where picks) stays finite.


def _p_los_uma_terrestrial(d2d, h):
    c = (np.maximum(np.minimum(h, 22.5) - 13.0, 0.0) / 10.0) ** 1.5  # C'(h_UT), 0 at or below 13 m
    x = d2d / 100.0
    p = _two_term(d2d, 18.0, 63.0) * (1.0 + c * 1.25 * (x * x * x) * np.exp(-d2d / 150.0))
    return np.where(d2d <= 18.0, 1.0, p)


def _p_los_uma_aerial(d2d, h):
    lh = np.log10(np.clip(h, 22.5, 100.0))
    p = _two_term(d2d, np.maximum(460.0 * lh - 700.0, 18.0), 4300.0 * lh - 3800.0)
    return np.where(h <= 100.0, p, 1.0)


def _p_los_umi_terrestrial(d2d, h):
    return _two_term(d2d, 18.0, 36.0)


def _p_los_umi_aerial(d2d, h):
    lh = np.log10(np.maximum(h, 22.5))
    return _two_term(d2d, np.maximum(294.05 * lh - 432.94, 18.0), 233.98 * lh - 0.95)  # never clamped to 1


def _p_los_rma_terrestrial(d2d, h):
    return np.exp(-np.maximum(d2d - 10.0, 0.0) / 1000.0)


def _p_los_rma_aerial(d2d, h):
    lh = np.log10(np.clip(h, 10.0, 40.0))
    d1 = np.maximum(1350.8 * lh - 1602.0, 18.0)
    p = _two_term(d2d, d1, np.maximum(15021.0 * lh - 16053.0, 1000.0))
    return np.where(h <= 40.0, p, 1.0)


# Path loss: (los, d2d, d3d, h, fc, h_bs) -> dB.


def _pl_uma_terrestrial(los, d2d, d3d, h, fc, h_bs):
    ld, lfc = np.log10(d3d), 20.0 * np.log10(fc)
    ht = np.minimum(h, 22.5)
    d_bp = 4.0 * (h_bs - 1.0) * (ht - 1.0) * fc * 1e9 / _C_BP_MPS  # h_E fixed at 1 m (SIXG-MODEL.md §2.3)
    pl1 = 28.0 + 22.0 * ld + lfc
    pl2 = 28.0 + 40.0 * ld + lfc - 9.0 * np.log10(d_bp**2 + (h_bs - ht) ** 2)
    pl_los = np.where(d2d <= d_bp, pl1, pl2)
    return np.where(los, pl_los, np.maximum(pl_los, 13.54 + 39.08 * ld + lfc - 0.6 * (ht - 1.5)))


def _pl_uma_aerial(los, d2d, d3d, h, fc, h_bs):
    ld = np.log10(d3d)
    pl_los = 28.0 + 22.0 * ld + 20.0 * np.log10(fc)  # Table B-2 Note 1: no breakpoint observed
    lh = np.log10(np.maximum(h, 22.5))
    pl_nlos = -17.5 + (46.0 - 7.0 * lh) * ld + 20.0 * np.log10(40.0 * np.pi * fc / 3.0)  # no max() in B-2
    return np.where(los, pl_los, pl_nlos)


def _pl_umi_terrestrial(los, d2d, d3d, h, fc, h_bs):
    ld, lfc = np.log10(d3d), 20.0 * np.log10(fc)
    ht = np.minimum(h, 22.5)
    d_bp = 4.0 * (h_bs - 1.0) * (ht - 1.0) * fc * 1e9 / _C_BP_MPS
    pl1 = 32.4 + 21.0 * ld + lfc
    pl2 = 32.4 + 40.0 * ld + lfc - 9.5 * np.log10(d_bp**2 + (h_bs - ht) ** 2)
    pl_los = np.where(d2d <= d_bp, pl1, pl2)
    pl_nlos = 35.3 * ld + 22.4 + 21.3 * np.log10(fc) - 0.3 * (ht - 1.5)
    return np.where(los, pl_los, np.maximum(pl_los, pl_nlos))


def _pl_umi_aerial(los, d2d, d3d, h, fc, h_bs):
    ld, lfc = np.log10(d3d), 20.0 * np.log10(fc)
    lh = np.log10(np.maximum(h, 22.5))
    fspl = _FSPL_1M_GHZ_DB + lfc + 20.0 * ld
    pl_los = np.maximum(fspl, 30.9 + (22.25 - 0.5 * lh) * ld + lfc)
    return np.where(los, pl_los, np.maximum(pl_los, 32.4 + (43.2 - 7.6 * lh) * ld + lfc))


def _rma_pl1(d3d: np.ndarray, fc: np.ndarray) -> np.ndarray:
    """TR 38.901 RMa LOS PL1 with the default building height h = 5 m."""
    hb172 = _RMA_BLDG_M**1.72
    return (
        20.0 * np.log10(40.0 * np.pi * d3d * fc / 3.0)
        + min(0.03 * hb172, 10.0) * np.log10(d3d)
        - min(0.044 * hb172, 14.77)
        + 0.002 * math.log10(_RMA_BLDG_M) * d3d
    )


def _rma_d_bp(h, fc, h_bs):
    return 2.0 * np.pi * h_bs * np.minimum(h, 10.0) * fc * 1e9 / _C_BP_MPS


def _pl_rma_terrestrial(los, d2d, d3d, h, fc, h_bs):
    ht = np.minimum(h, 10.0)
    d_bp = _rma_d_bp(h, fc, h_bs)
    pl_los = np.where(d2d <= d_bp, _rma_pl1(d3d, fc), _rma_pl1(d_bp, fc) + 40.0 * np.log10(d3d / d_bp))
    hb, w = _RMA_BLDG_M, _RMA_STREET_M
    pl_nlos = (
        161.04
        - 7.1 * math.log10(w)
        + 7.5 * math.log10(hb)
        - (24.37 - 3.7 * (hb / h_bs) ** 2) * np.log10(h_bs)
        + (43.42 - 3.1 * np.log10(h_bs)) * (np.log10(d3d) - 3.0)
        + 20.0 * np.log10(fc)
        - (3.2 * np.log10(11.75 * ht) ** 2 - 4.97)
    )
    return np.where(los, pl_los, np.maximum(pl_los, pl_nlos))


def _pl_rma_aerial(los, d2d, d3d, h, fc, h_bs):
    ld = np.log10(d3d)
    lh = np.log10(np.maximum(h, 10.0))
    l1m = 20.0 * np.log10(40.0 * np.pi * fc / 3.0)  # free-space loss at 1 m (40 pi, not 4 pi)
    pl_los = np.maximum(23.9 - 1.8 * lh, 20.0) * ld + l1m
    return np.where(los, pl_los, np.maximum(pl_los, -12.0 + (35.0 - 5.3 * lh) * ld + l1m))


# Shadow-fading sigma: (los, h, d2d, fc, h_bs) -> dB; d2d and fc may be None (only RMa uses them).


def _sigma_uma_terrestrial(los, h, d2d, fc, h_bs):
    return np.where(los, 4.0, 6.0)


def _sigma_uma_aerial(los, h, d2d, fc, h_bs):
    return np.where(los, 4.64 * np.exp(-0.0066 * h), 6.0)


def _sigma_umi_terrestrial(los, h, d2d, fc, h_bs):
    return np.where(los, 4.0, 7.82)


def _sigma_umi_aerial(los, h, d2d, fc, h_bs):
    return np.where(los, np.maximum(5.0 * np.exp(-0.01 * h), 2.0), 8.0)


def _sigma_rma_terrestrial(los, h, d2d, fc, h_bs):
    sigma_los = 4.0 if d2d is None else np.where(d2d <= _rma_d_bp(h, fc, h_bs), 4.0, 6.0)
    return np.where(los, sigma_los, 8.0)


def _sigma_rma_aerial(los, h, d2d, fc, h_bs):
    return np.where(los, 4.2 * np.exp(-0.0046 * h), 6.0)


_SCENARIO: dict[str, _Scenario] = {
    "UMa-AV": _Scenario(
        22.5,
        4000.0,
        (37.0, 50.0),
        50.0,
        (_p_los_uma_terrestrial, _p_los_uma_aerial),
        (_pl_uma_terrestrial, _pl_uma_aerial),
        (_sigma_uma_terrestrial, _sigma_uma_aerial),
    ),
    "UMi-AV": _Scenario(
        22.5,
        4000.0,
        (10.0, 13.0),
        50.0,
        (_p_los_umi_terrestrial, _p_los_umi_aerial),
        (_pl_umi_terrestrial, _pl_umi_aerial),
        (_sigma_umi_terrestrial, _sigma_umi_aerial),
    ),
    "RMa-AV": _Scenario(
        10.0,
        10000.0,
        (37.0, 120.0),
        60.0,
        (_p_los_rma_terrestrial, _p_los_rma_aerial),
        (_pl_rma_terrestrial, _pl_rma_aerial),
        (_sigma_rma_terrestrial, _sigma_rma_aerial),
    ),
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
    scn = _scenario(scenario)
    h = _height(h_m)
    return _by_band(h, scn.aerial_above_m, scn.p_los, np.asarray(d2d_m, dtype=float), h)


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
    scn = _scenario(scenario)
    h_bs = BS_HEIGHT_M[scenario] if h_bs_m is None else float(h_bs_m)
    d3d = np.maximum(np.asarray(d3d_m, dtype=float), D3D_MIN_M)
    los_b, d2d, fc = np.asarray(los, dtype=bool), np.asarray(d2d_m, dtype=float), np.asarray(fc_ghz, float)
    h = _height(h_m)
    return _by_band(h, scn.aerial_above_m, scn.path_loss, los_b, d2d, d3d, h, fc, h_bs)


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
    scn = _scenario(scenario)
    h_bs = BS_HEIGHT_M[scenario] if h_bs_m is None else float(h_bs_m)
    d2d = fc = None
    if d2d_m is not None and fc_ghz is not None:
        d2d, fc = np.asarray(d2d_m, dtype=float), np.asarray(fc_ghz, dtype=float)
    h = _height(h_m)
    return _by_band(h, scn.aerial_above_m, scn.sigma, np.asarray(los, dtype=bool), h, d2d, fc, h_bs)


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

    Storage: per vehicle, a block of ``links_per_vehicle`` links (float32), most recently used first.
    Each call puts the links it asks for first, in ascending site order, so the next call asking the
    same set of sites, in any order, finds them with one comparison. Links pushed out of the block are
    forgotten (oldest first); call :meth:`forget` when a vehicle leaves the simulation.

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
        self._corr_m = np.array([scn.los_corr_m, *scn.sf_corr_m])
        self._links = int(links_per_vehicle)
        self._slot_of = np.full(0, -1, dtype=np.int64)  # by vehicle id: its slot, -1 = none
        self._free = np.empty(0, dtype=np.int64)  # released slots, sorted
        self._used = 0  # slots ever handed out
        self._site = np.full((0, self._links), -1, dtype=np.int32)  # (slots, L) site per link, -1 = none
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
        back = (np.argsort(asked, axis=1, kind="stable") + k * np.arange(n)[:, None]).ravel()
        sites = asked.ravel()[back].reshape(n, k)
        if (sites[:, 1:] == sites[:, :-1]).any():
            raise ScenarioError("site", "indices must be distinct within each row")
        slot = self._slots_for(vid)
        changed = np.flatnonzero(~(self._site[slot, :k] == sites).all(axis=1))
        if changed.size:
            slots = slot.take(changed)
            self._arrange(slots, sites[changed], self._site[slots], pos[changed])
        eps = self._rng.standard_normal((3, n, k))  # drawn even when no latent moves: the stream stays put
        los, sf_db = self._evaluate(slot, sites, pos, eps)
        los_out, sf_out = np.empty((n, k), dtype=bool), np.empty((n, k))
        los_out.ravel()[back], sf_out.ravel()[back] = los.ravel(), sf_db.ravel()
        return los_out, sf_out

    def _evaluate(
        self, slot: np.ndarray, sites: np.ndarray, pos: np.ndarray, eps: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Move the latents of the links ``(slot, sites)`` to ``pos`` and evaluate them: (n, K) LOS and SF."""
        k = sites.shape[1]
        state = self._state[slot, :, :k]  # (n, F, K)
        px_m, py_m, pz_m = pos[:, 0:1], pos[:, 1:2], pos[:, 2:3]
        dist_m = np.sqrt((px_m - state[:, 0]) ** 2 + (py_m - state[:, 1]) ** 2 + (pz_m - state[:, 2]) ** 2)
        moved = dist_m >= self.step_m
        if moved.any():  # else rho = 1 everywhere: the latents stay
            step_m = np.where(moved, dist_m, 0.0)
            for i, corr_m in enumerate(self._corr_m):  # the three latents, each over the whole batch
                rho = np.exp(-step_m / corr_m)
                state[:, 3 + i] = rho * state[:, 3 + i] + np.sqrt(1.0 - rho * rho) * eps[i]
            for j, p_m in enumerate((px_m, py_m, pz_m)):
                np.copyto(state[:, j], p_m, where=moved)
            self._state[slot, :, :k] = state
        d2d_m = np.sqrt((px_m - self._sx[sites]) ** 2 + (py_m - self._sy[sites]) ** 2)
        p = p_los(self.scenario, d2d_m, pz_m)
        los = (ndtr(state[:, 3].astype(float)) < p) | (p >= 1.0)
        sigma = sigma_sf_db(self.scenario, los, pz_m, d2d_m=d2d_m, fc_ghz=self.fc_ghz)
        return los, sigma * np.where(los, state[:, 4], state[:, 5])

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
        """The batch as (int64 ids, float positions, int32 sites), or a ScenarioError naming the field."""
        vid, pos, sites = np.asarray(vehicle_id), np.asarray(pos_m, dtype=float), np.asarray(site)
        if vid.ndim != 1 or not (vid.dtype.kind in "iu" or vid.size == 0) or (vid < 0).any():
            raise ScenarioError("vehicle_id", f"must be a 1-D array of non-negative integers ({vid.dtype})")
        n = vid.size
        if pos.shape != (n, 3) or not np.isfinite(pos).all():
            raise ScenarioError("pos_m", f"must be finite with shape ({n}, 3) (shape {pos.shape})")
        if sites.ndim != 2 or len(sites) != n or not (sites.dtype.kind in "iu" or sites.size == 0):
            raise ScenarioError("site", f"must be an integer array of shape ({n}, K) (shape {sites.shape})")
        if sites.size and (sites.min() < 0 or sites.max() >= self._sx.size):
            raise ScenarioError(
                "site", f"indices must be in [0, {self._sx.size}) (got {sites.min()}..{sites.max()})"
            )
        if sites.shape[1] > self._links:
            raise ScenarioError(
                "site", f"K = {sites.shape[1]} sites per vehicle exceeds links_per_vehicle = {self._links}"
            )
        return vid.astype(np.int64), pos, sites.astype(np.int32)

    def _slots_for(self, vid: np.ndarray) -> np.ndarray:
        """Slot of each vehicle id; unknown ids get a slot (a released one first). Refuses repeated ids."""
        if vid.max() >= self._slot_of.size:
            grown = np.full(max(int(vid.max()) + 1, 2 * self._slot_of.size, 1024), -1, dtype=np.int64)
            grown[: self._slot_of.size] = self._slot_of
            self._slot_of = grown
        slot = self._slot_of.take(vid)
        new = (slot < 0).nonzero()[0]
        known = slot if not new.size else np.delete(slot, new)
        if (new.size and np.unique(vid.take(new)).size < new.size) or np.bincount(known).max(initial=0) > 1:
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
            self._state = np.concatenate([self._state, np.zeros((grow, self._F, self._links), np.float32)])
        return np.concatenate([reused, fresh])

    def _arrange(self, slots: np.ndarray, sites: np.ndarray, blk: np.ndarray, pos: np.ndarray) -> None:
        """Reorder these vehicles' blocks so the asked (sorted) sites come first, in order; draw new links.

        Kept links follow, most recent first; a new link takes the place of the oldest ones (or an empty).
        """
        n, k = sites.shape
        eq = sites[:, :, None] == blk[:, None, :]  # (n, K, L)
        hit, col, taken = eq.any(axis=2), eq.argmax(axis=2), eq.any(axis=1)  # taken: (n, L) columns asked
        free_first = np.argsort(taken, axis=1, kind="stable")  # untaken columns in recency order, then taken
        new = ~hit
        rank = np.maximum(np.cumsum(new, axis=1) - 1, 0)  # new links take the untaken columns not kept
        row0 = (np.arange(n) * self._links)[:, None]  # (n, L) arrays gathered through their flat index
        victim = free_first.ravel()[row0 + (self._links - k) + rank]
        perm = np.concatenate([np.where(hit, col, victim), free_first[:, : self._links - k]], axis=1)
        self._site[slots] = blk.ravel()[row0 + perm]
        flat = (row0 * self._F + perm)[:, None, :] + (np.arange(self._F) * self._links)[:, None]
        self._state[slots] = self._state[slots].ravel()[flat]
        ri, ji = np.nonzero(new)
        self._site[slots[ri], ji] = sites[ri, ji]
        init = np.concatenate([pos[ri], self._rng.standard_normal((ri.size, 3))], axis=1)
        self._state[slots[ri], :, ji] = init
