"""Tactical conflict detection and resolution (CD&R) over the fleet's struct of arrays.

State-based detection (linear extrapolation, as BlueSky's ``statebased.py``) without N x N matrices, and
Modified Voltage Potential resolution (Eby 1994; Hoekstra et al. 2002, as BlueSky's ``mvp.py``). Local
ENU metres, z up, velocities in m/s; rows are the caller's rows. Layer: utm; imports numpy, scipy and
utm.errors only; no sim, no api.

Protected zone and strictness
    A pair is in loss of separation (LoS) when its horizontal distance is ``< radius_m`` *and* its
    ``|dz| < half_height_m``: both strict, so touching the cylinder is not LoS. A conflict is LoS at
    some time in ``[0, lookahead_s]`` of the straight-line extrapolation; a pair that would just graze
    the zone (closest distance exactly ``radius_m``) or first enter it exactly at ``lookahead_s`` is not
    a conflict. Relative speeds below ``1e-12`` m/s (horizontal or vertical) count as zero.

Inputs
    Finite, ``|pos_m| <= 1e8`` m, ``|vel_mps| <= 1e5`` m/s, ``0 <= lookahead_s <= 1e6`` s and
    ``0 < radius_m, half_height_m <= 1e6`` m, else :class:`~utm.errors.InvalidRequest` naming the field
    (``pos_m[3, 1]``). Callers pass active rows only (inactive fleet rows may hold anything).

Broad phase (:func:`candidate_pairs`), a superset of the conflicts
    The look-ahead ``T`` is cut into ``K`` equal windows of ``tau = T / K`` (``K`` from a cost model
    per call; it changes the speed, never the answer). Within a window, vehicle ``i`` stays within
    ``|v_h,i| tau / 2`` horizontally and ``|v_z,i| tau / 2`` vertically of its window midpoint ``m_i``.
    If ``(i, j)`` is in LoS at some ``t`` of the window, the triangle inequality gives
    ``|m_i - m_j|_h < R + (|v_h,i| + |v_h,j|) tau / 2 <= R + max|v_h| tau = r_h`` and
    ``|m_z,i - m_z,j| < H + max|v_z| tau = r_v``. Midpoints are binned in cells of
    ``r_h x r_h / _MY x r_v / _MZ`` (or coarser, to bound the grid), so such a pair lies in cells at most
    ``(1, _MY, _MZ)`` apart; sorted cell lists enumerate every such cell pair once (y is the contiguous
    axis, so each (x, z) column offset is one range of rows). Candidates then pass the horizontal
    midpoint bound and the exact per-window test (closest horizontal distance within the window
    ``< R``, vertical range within the window meeting ``(-H, H)``), and are merged over windows. The
    bounds carry a ``1e-6`` relative slack and the two filters, which run in float32 on coordinates
    relative to the fleet's corner, a slack of ``1e-5`` of the fleet's extent (10 cm over 10 km; float32
    errors stay below ``1e-6`` of it), so rounding can add candidates but never drop a conflict;
    :func:`detect` then decides in float64 with :func:`conflict_intervals` alone. Nothing is N x N:
    O(N) per window plus O(candidates), in batches of ~32k candidates. (One cKDTree ``query_pairs`` on
    the benchmark's 10,000 look-ahead midpoints, Chebyshev metric, took 25-35 ms here on its own, two
    to three times this whole path; cKDTree serves :func:`los_pairs`.)

Resolution (:func:`mvp`): see its docstring for the choices (direction, head-on side, vertical rule,
priority, accumulation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from utm.errors import InvalidRequest

__all__ = ["Conflicts", "candidate_pairs", "conflict_intervals", "detect", "los_pairs", "mvp"]

_SLACK = 1e-6  # relative slack of every broad-phase bound (rounding may add candidates, never drop)
_V_MIN_MPS = 1e-12  # relative speeds below this count as zero (horizontal and vertical)
_MY = 4  # y-cells per r_h: y is the contiguous axis, so finer y trims candidates at no cost
_MZ = 1  # z-cells per r_v: each z offset is one more row of candidates per vehicle
_MAX_SLICES = 6
_CHUNK_PAIRS = 32768  # candidate pairs per batch (plus one vehicle's worth)
_CELLS_PER_VEHICLE = 64  # dense cell grid budget; larger extents get coarser (still exact) cells
# Input bounds: far beyond any airspace, yet small enough that the float32 filters cannot overflow.
_MAX_POS_M, _MAX_VEL_MPS, _MAX_SCALAR = 1e8, 1e5, 1e6
_T_FLOOR_S = 1.0  # MVP: a change is spread over at least this long (no division by ~0 at CPA now)
_HEAD_ON = 1e-3  # MVP: miss distance below this fraction of radius_m counts as head-on (fixed side)


@dataclass(frozen=True, slots=True)
class Conflicts:
    """Predicted conflicts: pairs (i < j, rows into the caller's arrays) sorted by (i, j)."""

    i: np.ndarray  # (k,) int64
    j: np.ndarray  # (k,) int64
    t_in_s: np.ndarray  # (k,) from now until both zones are first entered; 0 if already in LoS
    t_out_s: np.ndarray  # (k,) until LoS ends; may exceed the look-ahead; inf if never
    t_cpa_s: np.ndarray  # (k,) horizontal closest point of approach, clipped to [0, lookahead_s]
    d_cpa_m: np.ndarray  # (k,) horizontal distance at t_cpa_s

    def __len__(self) -> int:
        return len(self.i)


def candidate_pairs(
    pos_m: ArrayLike, vel_mps: ArrayLike, *, lookahead_s: float, radius_m: float, half_height_m: float
) -> np.ndarray:
    """Pairs that may conflict within ``[0, lookahead_s]``: a superset of :func:`detect`'s pairs.

    Parameters
    ----------
    pos_m, vel_mps : (n, 3) positions (m) and velocities (m/s), local ENU.
    lookahead_s, radius_m, half_height_m : look-ahead (s, >= 0) and the protected cylinder (m, > 0).

    Returns
    -------
    (k, 2) int64 rows ``(i, j)``, ``i < j``, sorted by ``(i, j)``. The module docstring proves the
    superset property; the pairs have also passed the exact per-window distance test.

    Examples
    --------
    >>> pos = [[0.0, 0.0, 50.0], [1000.0, 0.0, 50.0], [0.0, 5000.0, 50.0]]
    >>> vel = [[15.0, 0.0, 0.0], [-15.0, 0.0, 0.0], [15.0, 0.0, 0.0]]
    >>> candidate_pairs(pos, vel, lookahead_s=60.0, radius_m=50.0, half_height_m=15.0)
    array([[0, 1]])
    >>> candidate_pairs(np.empty((0, 3)), np.empty((0, 3)), lookahead_s=60.0, radius_m=50.0,
    ...                 half_height_m=15.0).shape
    (0, 2)
    """
    cols = _columns(pos_m, vel_mps)
    lookahead_s, radius_m, half_height_m = _zone(lookahead_s, radius_m, half_height_m)
    keys = _candidate_keys(cols, lookahead_s, radius_m, half_height_m)
    n = len(cols[0])
    return np.stack([keys // max(n, 1), keys % max(n, 1)], axis=1)


def conflict_intervals(
    dpos_m: ArrayLike,
    dvel_mps: ArrayLike,
    *,
    lookahead_s: float,
    radius_m: float,
    half_height_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form LoS interval of each pair from relative state ``dpos = pos_j - pos_i``, ``dvel``.

    Parameters
    ----------
    dpos_m, dvel_mps : (k, 3) relative position (m) and velocity (m/s).
    lookahead_s, radius_m, half_height_m : as :func:`detect`.

    Returns
    -------
    t_in_s, t_out_s : (k,) LoS interval ``(t_in, t_out)`` (open; ``t_in`` clipped at 0; ``t_out`` may
        pass the look-ahead or be inf); nan where there is no conflict.
    t_cpa_s, d_cpa_m : (k,) horizontal closest approach time clipped to ``[0, lookahead_s]`` and the
        horizontal distance then (for every pair).
    in_conflict : (k,) bool, the horizontal and vertical in-zone intervals overlap within
        ``[0, lookahead_s]``.

    Examples
    --------
    Head-on, 1000 m apart, closing at 30 m/s: enters at (1000 - 50) / 30 s, CPA at 33.3 s, 0 m.
    An exact graze at 50 m is no conflict (strict zone).

    >>> t_in, t_out, t_cpa, d_cpa, hit = conflict_intervals(
    ...     [[1000.0, 0.0, 0.0], [1000.0, 50.0, 0.0]], [[-30.0, 0.0, 0.0], [-30.0, 0.0, 0.0]],
    ...     lookahead_s=60.0, radius_m=50.0, half_height_m=15.0)
    >>> t_in.round(3), t_out.round(3), hit
    (array([31.667,    nan]), array([35., nan]), array([ True, False]))
    >>> t_cpa.round(3), d_cpa
    (array([33.333, 33.333]), array([ 0., 50.]))
    """
    dpos = _array3("dpos_m", dpos_m)
    dvel = _array3("dvel_mps", dvel_mps, len(dpos))
    lookahead_s, radius_m, half_height_m = _zone(lookahead_s, radius_m, half_height_m)
    rel = [np.ascontiguousarray(a[:, c]) for a in (dpos, dvel) for c in range(3)]
    return _intervals(*rel, lookahead_s, radius_m, half_height_m)


def detect(
    pos_m: ArrayLike, vel_mps: ArrayLike, *, lookahead_s: float, radius_m: float, half_height_m: float
) -> Conflicts:
    """Conflicts within ``[0, lookahead_s]``: :func:`candidate_pairs`, then :func:`conflict_intervals`.

    A conflict is a pair whose horizontal-in and vertical-in intervals overlap within the look-ahead
    (state-based, straight lines, as BlueSky's statebased detection). Exactly the pairs an all-pairs
    loop over :func:`conflict_intervals` finds, without its O(n^2) cost.

    Examples
    --------
    >>> c = detect([[0.0, 0.0, 50.0], [1000.0, 0.0, 50.0], [0.0, 20.0, 55.0]],
    ...            [[15.0, 0.0, 0.0], [-15.0, 0.0, 0.0], [15.0, 0.0, 0.0]],
    ...            lookahead_s=60.0, radius_m=50.0, half_height_m=15.0)
    >>> len(c), c.i, c.j, c.t_out_s.round(3).tolist()
    (3, array([0, 0, 1]), array([1, 2, 2]), [35.0, inf, 34.861])
    """
    cols = _columns(pos_m, vel_mps)
    lookahead_s, radius_m, half_height_m = _zone(lookahead_s, radius_m, half_height_m)
    keys = _candidate_keys(cols, lookahead_s, radius_m, half_height_m)
    n = len(cols[0])
    i, j = keys // max(n, 1), keys % max(n, 1)
    rel = [np.take(c, j) - np.take(c, i) for c in cols]
    t_in, t_out, t_cpa, d_cpa, hit = _intervals(*rel, lookahead_s, radius_m, half_height_m)
    k = np.flatnonzero(hit)
    return Conflicts(i[k], j[k], t_in[k], t_out[k], t_cpa[k], d_cpa[k])


def los_pairs(pos_m: ArrayLike, *, radius_m: float, half_height_m: float) -> np.ndarray:
    """Pairs in LoS now (horizontal distance < radius_m and |dz| < half_height_m), for ground truth.

    Parameters
    ----------
    pos_m : (n, 3) positions (m).
    radius_m, half_height_m : the protected cylinder (m, > 0).

    Returns
    -------
    (k, 2) int64 rows ``(i, j)``, ``i < j``, sorted. cKDTree ``query_pairs`` (z scaled by
    ``radius_m / half_height_m``, Euclidean radius ``sqrt(2) radius_m``, a ball holding the cylinder)
    gives candidates; the strict cylinder test decides.

    Examples
    --------
    >>> los_pairs([[0.0, 0.0, 50.0], [49.0, 0.0, 64.0], [50.0, 0.0, 50.0]], radius_m=50.0,
    ...           half_height_m=15.0)
    array([[0, 1],
           [1, 2]])
    """
    pos = _array3("pos_m", pos_m, limit=_MAX_POS_M)
    _, radius_m, half_height_m = _zone(0.0, radius_m, half_height_m)
    if len(pos) < 2:
        return np.empty((0, 2), np.int64)
    scaled = pos * np.array([1.0, 1.0, radius_m / half_height_m])
    reach_m = math.sqrt(2.0) * radius_m * (1.0 + _SLACK)
    pairs = cKDTree(scaled).query_pairs(reach_m, output_type="ndarray").astype(np.int64, copy=False)
    d = pos[pairs[:, 1]] - pos[pairs[:, 0]]
    inside = (np.hypot(d[:, 0], d[:, 1]) < radius_m) & (np.abs(d[:, 2]) < half_height_m)
    pairs = pairs[inside]
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def mvp(
    pos_m: ArrayLike,
    vel_mps: ArrayLike,
    conflicts: Conflicts,
    *,
    radius_m: float,
    half_height_m: float,
    lookahead_s: float,
    priority: ArrayLike,
    margin: float = 1.1,
    vertical: bool = True,
) -> np.ndarray:
    """Modified Voltage Potential: each vehicle's velocity change (n, 3), summed over its conflicts.

    Per conflict, with relative state ``j - i`` and the horizontal CPA at ``t = max(t_cpa, 0)``
    (unclipped by the look-ahead, so the miss vector is perpendicular to the relative velocity):

    * Horizontal: the relative velocity changes by ``shift / t_eff`` along the miss vector, where
      ``shift`` moves the CPA to ``margin * radius_m`` (BlueSky's correction for the rotation of the
      relative track when the pair is still outside the enlarged zone) and
      ``t_eff = max(min(t, lookahead_s), 1 s)`` (a floor against division by ~0 when the CPA is now; the
      cap makes slow-closing pairs resolve within the horizon). A miss distance below
      ``1e-3 radius_m`` is head-on: the change is to the right of the relative velocity, so both
      vehicles turn right; with no relative velocity either, j moves east and i west.
    * Vertical (``vertical=True``), instead of horizontal, only when the pair is inside the zone
      vertically at the CPA (``|dz| < half_height_m``) and climbing or descending apart to
      ``margin * half_height_m`` needs less speed change than the horizontal escape; j climbs when it
      is level with or above i.
    * Right of way: a vehicle of strictly higher ``priority`` does not move and the other takes the
      whole change; equal priorities take half each.

    Parameters
    ----------
    pos_m, vel_mps : (n, 3) the state :func:`detect` saw.
    conflicts : :func:`detect`'s result for that state.
    radius_m, half_height_m, lookahead_s : as :func:`detect`.
    priority : (n,) larger has right of way.
    margin : zone enlargement factor (>= 1).
    vertical : allow vertical resolutions.

    Returns
    -------
    (n, 3) velocity change (m/s), zero for vehicles in no conflict. Sums use ``np.bincount`` (fixed
    order, so deterministic); no limits of speed or climb rate are applied.

    Examples
    --------
    Level head-on, equal priority: climbing apart 16.5 m is cheaper than 55 m sideways, so j climbs
    and i descends; horizontally only, each turns right by the same amount.

    >>> pos = np.array([[0.0, 0.0, 50.0], [900.0, 0.0, 50.0]])
    >>> vel = np.array([[15.0, 0.0, 0.0], [-15.0, 0.0, 0.0]])
    >>> c = detect(pos, vel, lookahead_s=60.0, radius_m=50.0, half_height_m=15.0)
    >>> zone = {"radius_m": 50.0, "half_height_m": 15.0, "lookahead_s": 60.0}
    >>> mvp(pos, vel, c, **zone, priority=[0, 0]).round(3)
    array([[ 0.   ,  0.   , -0.275],
           [ 0.   ,  0.   ,  0.275]])
    >>> mvp(pos, vel, c, **zone, priority=[0, 0], vertical=False).round(3)
    array([[ 0.   , -0.918,  0.   ],
           [ 0.   ,  0.918,  0.   ]])
    """
    cols = _columns(pos_m, vel_mps)
    lookahead_s, radius_m, half_height_m = _zone(lookahead_s, radius_m, half_height_m)
    n = len(cols[0])
    prio = np.asarray(priority, dtype=float)
    if prio.shape != (n,) or not np.isfinite(prio).all():
        raise InvalidRequest("priority", f"must be {n} finite numbers (shape {prio.shape})")
    if not (math.isfinite(margin) and margin >= 1.0):
        raise InvalidRequest("margin", f"must be a finite number >= 1 ({margin})")
    i, j = np.asarray(conflicts.i, np.int64), np.asarray(conflicts.j, np.int64)
    if len(i) and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n):
        raise InvalidRequest("conflicts", f"rows must index the {n} vehicles given")
    dx, dy, dz, du, dv, dw = (np.take(c, j) - np.take(c, i) for c in cols)
    a = du * du + dv * dv
    moving = a > _V_MIN_MPS**2
    t = np.where(moving, np.maximum(-(dx * du + dy * dv) / np.where(moving, a, 1.0), 0.0), 0.0)
    ex, ey, ez = dx + du * t, dy + dv * t, dz + dw * t
    miss_m, dist_m = np.hypot(ex, ey), np.hypot(dx, dy)
    reach_m, t_eff = margin * radius_m, np.maximum(np.minimum(t, lookahead_s), _T_FLOOR_S)
    # direction: along the miss vector; head-on: right of the relative velocity; neither: east
    head_on = miss_m < _HEAD_ON * radius_m
    speed = np.sqrt(a)
    right = np.where(moving, 1.0 / np.where(moving, speed, 1.0), 0.0)
    ux = np.where(head_on, np.where(moving, dv * right, 1.0), ex / np.where(head_on, 1.0, miss_m))
    uy = np.where(head_on, -du * right, ey / np.where(head_on, 1.0, miss_m))
    # shift of the CPA, with the rotation correction while outside the enlarged zone (BlueSky mvp.py)
    outside = (dist_m > reach_m) & (miss_m < dist_m)
    safe_dist = np.where(outside, dist_m, 1.0)
    turn = np.arcsin(np.where(outside, reach_m / safe_dist, 0.0)) - np.arcsin(
        np.where(outside, miss_m / safe_dist, 0.0)
    )
    shift_m = np.maximum(reach_m / np.cos(turn) - miss_m, 0.0)
    climb_m = margin * half_height_m - np.abs(ez)
    up = vertical & (np.abs(ez) < half_height_m) & (climb_m < shift_m)
    h_mps = np.where(up, 0.0, shift_m / t_eff)
    delta = (h_mps * ux, h_mps * uy, np.where(up, np.where(ez >= 0.0, climb_m, -climb_m) / t_eff, 0.0))
    pi, pj = np.take(prio, i), np.take(prio, j)
    share_i = np.where(pi > pj, 0.0, np.where(pi < pj, 1.0, 0.5))
    out = np.zeros((n, 3))
    for c in range(3):
        out[:, c] = np.bincount(j, delta[c] * (1.0 - share_i), minlength=n) - np.bincount(
            i, delta[c] * share_i, minlength=n
        )
    return out


# --- internals ------------------------------------------------------------------------------------


def _array3(field: str, value: ArrayLike, rows: int | None = None, limit: float = math.inf) -> np.ndarray:
    """``value`` as a finite (rows, 3) float64 array within ``+-limit``, else InvalidRequest naming it."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 3)
    if arr.ndim != 2 or arr.shape[1] != 3 or (rows is not None and len(arr) != rows):
        want = "(n, 3)" if rows is None else f"({rows}, 3)"
        raise InvalidRequest(field, f"must have shape {want} (got {arr.shape})")
    bad = np.argwhere(~(np.abs(arr) <= limit))  # also catches nan
    if len(bad):
        r, c = bad[0]
        what = "finite" if not np.isfinite(arr[r, c]) else f"within +-{limit:g}"
        raise InvalidRequest(f"{field}[{r}, {c}]", f"must be {what} ({arr[r, c]})")
    return arr


def _zone(lookahead_s: float, radius_m: float, half_height_m: float) -> tuple[float, float, float]:
    """The scalar options as floats, else InvalidRequest naming the first bad one."""
    for name, value, low in (
        ("lookahead_s", lookahead_s, 0.0),
        ("radius_m", radius_m, None),
        ("half_height_m", half_height_m, None),
    ):
        if not ((value >= low if low is not None else value > 0.0) and value <= _MAX_SCALAR):
            bound = ">= 0" if low is not None else "> 0"
            raise InvalidRequest(name, f"must be a number {bound} and <= {_MAX_SCALAR:g} ({value})")
    return float(lookahead_s), float(radius_m), float(half_height_m)


def _columns(pos_m: ArrayLike, vel_mps: ArrayLike) -> list[np.ndarray]:
    """x, y, z, vx, vy, vz as contiguous columns (row-major (n, 3) arithmetic is several times slower)."""
    pos = _array3("pos_m", pos_m, limit=_MAX_POS_M)
    vel = _array3("vel_mps", vel_mps, len(pos), limit=_MAX_VEL_MPS)
    return [np.ascontiguousarray(a[:, c]) for a in (pos, vel) for c in range(3)]


def _intervals(
    dx: np.ndarray,
    dy: np.ndarray,
    dz: np.ndarray,
    du: np.ndarray,
    dv: np.ndarray,
    dw: np.ndarray,
    lookahead_s: float,
    radius_m: float,
    half_height_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`conflict_intervals` on columns. Horizontal roots from ``|d + v t|^2 = R^2`` written with
    the cross product (``a R^2 - (d x v)^2``), which does not cancel for distant pairs."""
    a = du * du + dv * dv
    moving = a > _V_MIN_MPS**2
    safe_a = np.where(moving, a, 1.0)
    t_cpa = np.where(moving, -(dx * du + dy * dv) / safe_a, 0.0)
    cross = dx * dv - dy * du
    disc = radius_m * radius_m * a - cross * cross
    half = np.sqrt(np.maximum(disc, 0.0)) / safe_a
    hit_h = np.where(moving, disc > 0.0, dx * dx + dy * dy < radius_m * radius_m)
    t_in = np.where(hit_h, np.where(moving, t_cpa - half, -np.inf), np.inf)
    t_out = np.where(hit_h, np.where(moving, t_cpa + half, np.inf), -np.inf)
    climbing = np.abs(dw) > _V_MIN_MPS
    safe_w = np.where(climbing, dw, 1.0)
    t_lo, t_hi = (-half_height_m - dz) / safe_w, (half_height_m - dz) / safe_w
    level_in = np.abs(dz) < half_height_m
    t_in = np.maximum(t_in, np.where(climbing, np.minimum(t_lo, t_hi), np.where(level_in, -np.inf, np.inf)))
    t_out = np.minimum(t_out, np.where(climbing, np.maximum(t_lo, t_hi), np.where(level_in, np.inf, -np.inf)))
    hit = (t_in < t_out) & (t_out > 0.0) & (t_in < lookahead_s)
    clipped = np.clip(t_cpa, 0.0, lookahead_s)
    d_cpa = np.where(  # the cross product is exact (0 head-on) when the CPA is within the horizon
        moving & (clipped == t_cpa),
        np.abs(cross) / np.sqrt(safe_a),
        np.hypot(dx + du * clipped, dy + dv * clipped),
    )
    return (
        np.where(hit, np.maximum(t_in, 0.0), np.nan),
        np.where(hit, t_out, np.nan),
        clipped,
        d_cpa,
        hit,
    )


def _slices(
    n: int, spans_m: np.ndarray, vh_max: float, vz_max: float, t_s: float, r_m: float, h_m: float
) -> int:
    """Number of look-ahead windows minimising a cost model: per window ~7 candidate-pair costs per
    vehicle (binning, sorting, rows) plus the candidates, estimated from the mean density of the fleet's
    bounding box. Only the speed depends on it."""
    best, best_cost = 1, math.inf
    for k in range(1, _MAX_SLICES + 1):
        rh, rv = r_m + vh_max * t_s / k, h_m + vz_max * t_s / k
        window = np.array([3.0 * rh, (2.0 + 1.0 / _MY) * rh, (2.0 + 1.0 / _MZ) * rv])
        extent = spans_m + np.array([rh, rh, rv])
        pairs = 0.5 * n * n * float(np.prod(np.minimum(window, extent) / extent))
        cost = k * (7.0 * n + pairs)
        if cost < best_cost:
            best, best_cost = k, cost
    return best


def _candidate_keys(cols: list[np.ndarray], t_s: float, r_m: float, h_m: float) -> np.ndarray:
    """Sorted unique ``i * n + j`` (i < j) of the candidate pairs (module docstring: the broad phase)."""
    x, y, z, u, v, w = cols
    n = len(x)
    if n < 2:
        return np.empty(0, np.int64)
    vh_max = float(np.sqrt((u * u + v * v).max()))
    vz_max = float(np.abs(w).max())
    reach = np.array([vh_max, vh_max, vz_max]) * t_s
    lo = np.array([x.min(), y.min(), z.min()]) - reach
    hi = np.array([x.max(), y.max(), z.max()]) + reach
    tol_m = 1e-6 + 1e-12 * float(np.abs(np.concatenate([lo, hi])).max())  # rounding near the coordinates
    n_win = _slices(n, hi - lo, vh_max, vz_max, t_s, r_m, h_m) if t_s > 0.0 else 1
    tau = t_s / n_win
    rh = (r_m + vh_max * tau) * (1.0 + _SLACK) + tol_m
    rv = (h_m + vz_max * tau) * (1.0 + _SLACK) + tol_m
    # The candidate filters run in float32 (twice as fast), on coordinates relative to the fleet's
    # corner; every float32 result is within ~1e-6 of the largest magnitude involved (extent plus
    # look-ahead travel), so a 1e-5 slack of it keeps them supersets.
    slack_m = 1e-5 * (float((hi - lo).max()) + r_m + h_m) + tol_m
    rh2 = np.float32((rh + slack_m) ** 2)
    r2_test = np.float32((r_m * (1.0 + _SLACK) + slack_m) ** 2)
    h_test = np.float32(h_m * (1.0 + _SLACK) + slack_m)
    half_tau = np.float32(0.5 * tau)
    f32 = np.float32
    keys = []
    for k in range(n_win):
        t_mid = (k + 0.5) * tau
        mx, my, mz = x + u * t_mid, y + v * t_mid, z + w * t_mid
        order, first, count = _cell_rows(mx, my, mz, rh, rv)
        sx, sy, sz = ((c[order] - c0).astype(f32) for c, c0 in ((mx, lo[0]), (my, lo[1]), (mz, lo[2])))
        su, sv, sw = (c[order].astype(f32) for c in (u, v, w))
        per_vehicle = count.sum(axis=1)
        ends = np.cumsum(per_vehicle)
        cuts = np.searchsorted(ends, np.arange(_CHUNK_PAIRS, ends[-1], _CHUNK_PAIRS), side="right")
        edges = np.unique(np.concatenate(([0], cuts, [n])))
        for c0, c1 in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
            # ~_CHUNK_PAIRS candidates at a time: the temporaries stay in cache and memory is bounded
            cnt = count[c0:c1].ravel()
            ii = np.repeat(np.arange(c0, c1), per_vehicle[c0:c1])
            jj = np.repeat(first[c0:c1].ravel() - (np.cumsum(cnt) - cnt), cnt)
            jj += np.arange(len(jj))
            # horizontal midpoint bound (the vertical one is left to the exact test)
            dx, dy = sx[jj], sy[jj]
            dx -= sx[ii]
            dy -= sy[ii]
            keep = np.flatnonzero(dx * dx + dy * dy < rh2)
            ii, jj, dx, dy = ii[keep], jj[keep], dx[keep], dy[keep]
            # exact per-window test: closest horizontal distance, vertical range, within +-tau/2 of mid
            du, dv = su[jj] - su[ii], sv[jj] - sv[ii]
            a = du * du + dv * dv
            s = np.clip(-(dx * du + dy * dv) / np.maximum(a, f32(1e-30)), -half_tau, half_tau)
            dx += du * s
            dy += dv * s
            near = dx * dx + dy * dy < r2_test
            dz = np.abs(sz[jj] - sz[ii])
            if vz_max > 0.0:  # |dz| over the window comes down to |dz_mid| - |dvz| tau / 2
                dz -= np.abs(sw[jj] - sw[ii]) * half_tau
            near &= dz < h_test
            keep = np.flatnonzero(near)
            gi, gj = order[ii[keep]], order[jj[keep]]
            keys.append(np.minimum(gi, gj) * n + np.maximum(gi, gj))
    out = np.sort(np.concatenate(keys))
    if n_win > 1 and len(out):  # a pair can be near in several windows
        out = out[np.concatenate(([True], out[1:] != out[:-1]))]
    return out


def _cell_rows(mx: np.ndarray, my: np.ndarray, mz: np.ndarray, rh: float, rv: float) -> tuple:
    """Cell lists of the midpoints: (order, first, count). ``order`` sorts the points by cell; point
    ``p`` (in that order) pairs with positions ``first[p, r] .. first[p, r] + count[p, r] - 1`` for each
    row ``r``, so that every pair in cells at most ``(1, _MY, _MZ)`` apart appears exactly once.

    Cells are ``rh x rh / _MY x rv / _MZ`` and y is the fastest axis, so the ``2 _MY + 1`` y-cells
    around a point are one range. Rows: own (x, z) column from ``p + 1`` to ``_MY`` cells north;
    columns ``(0, 1 .. _MZ)``; columns ``(+1, -_MZ .. _MZ)``. The mirrored columns see the pair from the
    other side.
    """
    n = len(mx)
    low = np.array([mx.min(), my.min(), mz.min()])
    spans = np.array([mx.max(), my.max(), mz.max()]) - low
    size = np.array([rh, rh / _MY, rv / _MZ])
    pad = np.array([1.0, 2.0 * _MY, 2.0 * _MZ])
    while True:  # grow the cells (only adds candidates) until the dense grid fits its budget
        dims = np.floor(spans / size) + 1.0
        if float(np.prod(dims + pad)) <= _CELLS_PER_VEHICLE * n + 4096:
            break
        size *= 2.0
    nxc, nyc, nzc = (int(d) for d in dims)
    ny, nz = nyc + 2 * _MY, nzc + 2 * _MZ
    inv = 1.0 / size
    cx = np.minimum(((mx - low[0]) * inv[0]).astype(np.int64), nxc - 1)
    cy = np.minimum(((my - low[1]) * inv[1]).astype(np.int64), nyc - 1)
    cz = np.minimum(((mz - low[2]) * inv[2]).astype(np.int64), nzc - 1)
    cx *= nz
    cx += cz
    cx += _MZ
    cx *= ny
    cx += cy
    cx += _MY
    order = np.argsort(cx)  # ties in any order: the caller sorts the pairs it returns
    flat = cx[order]
    bounds = np.zeros((nxc + 1) * nz * ny + 1, np.int64)
    np.cumsum(np.bincount(flat, minlength=len(bounds) - 1), out=bounds[1:])
    steps = [0] + [dz * ny for dz in range(1, _MZ + 1)] + [nz * ny + dz * ny for dz in range(-_MZ, _MZ + 1)]
    base = flat[:, None] + np.array(steps)
    first = bounds[base - _MY]
    first[:, 0] = np.arange(1, n + 1)
    count = bounds[base + (_MY + 1)]
    count -= first
    return order, first, count
