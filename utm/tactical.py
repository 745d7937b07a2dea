"""Tactical conflict detection and resolution (CD&R) over the fleet's struct of arrays.

State-based detection (linear extrapolation, as BlueSky's ``statebased.py``) without N x N matrices, and
Modified Voltage Potential resolution (Eby 1994; Hoekstra et al. 2002, as BlueSky's ``mvp.py``). Local
ENU metres, z up, velocities in m/s; rows are the caller's rows. Layer: utm; imports numpy,
utm.errors and utm.neighbours only; no sim, no api.

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
    ``|m_z,i - m_z,j| < H + max|v_z| tau = r_v``. Midpoints are binned in cells of at least
    ``r_h x r_h x r_v`` (:mod:`utm.neighbours`, compiled), so such a pair lies in the same or adjacent
    cells, and each is met once; a met pair passes the horizontal midpoint bound and the exact per-window
    test (closest horizontal distance within the window ``< R``, vertical range within the window meeting
    ``(-H, H)``), and pairs are merged over windows. The bounds carry a ``1e-6`` relative slack plus
    ``1e-6 + 1e-12 |x|_max`` m, so rounding can add candidates but never drop a conflict; :func:`detect`
    then decides with :func:`conflict_intervals` alone. Nothing is N x N: O(N) per window plus
    O(candidates). (One cKDTree ``query_pairs`` on the benchmark's 10,000 look-ahead midpoints, Chebyshev
    metric, took 25-35 ms here on its own, several times this whole path.)

Cost model of the numpy code
    Per tick, the fleet sizes of interest make numpy's per-call overhead (1-2 us) and memory traffic
    the costs, so the hot paths: work on contiguous 1-D columns (a (n, 3) slice or a broadcast over a
    short axis runs row by row); gather with ``take`` (several times faster than fancy indexing of
    (n, 3) arrays); call methods rather than numpy's Python-level wrappers; skip work that a mask shows
    empty. None of this changes the arithmetic of an element, so the results do not depend on it.

Ground truth (:func:`los_pairs`)
    The same cell lists on the positions, cells of the cylinder plus slack and no motion, then the
    strict cylinder test on the candidates.

Resolution (:func:`mvp`): see its docstring for the choices (direction, head-on side, vertical rule,
priority, accumulation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from utm.errors import InvalidRequest
from utm.neighbours import near_pairs, near_pairs_at

__all__ = ["Conflicts", "candidate_pairs", "conflict_intervals", "detect", "los_pairs", "mvp"]

_SLACK = 1e-6  # relative slack of every broad-phase bound (rounding may add candidates, never drop)
_V_MIN_MPS = 1e-12  # relative speeds below this count as zero (horizontal and vertical)
_MAX_SLICES = 6
# Input bounds: far beyond any airspace, so the broad phase's slack covers every rounding.
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

    def take(self, k: np.ndarray) -> Conflicts:
        """The conflicts at positions ``k``, in that order."""
        fields = (self.i, self.j, self.t_in_s, self.t_out_s, self.t_cpa_s, self.d_cpa_m)
        return Conflicts(*(f.take(k) for f in fields))


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
    return np.stack(np.divmod(keys, max(cols.shape[1], 1)), axis=1)


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
    t_in, t_out, t_cpa, d_cpa, hit = _intervals(*dpos.T, *dvel.T, lookahead_s, radius_m, half_height_m)
    return np.where(hit, np.maximum(t_in, 0.0), np.nan), np.where(hit, t_out, np.nan), t_cpa, d_cpa, hit


def detect(
    pos_m: ArrayLike,
    vel_mps: ArrayLike,
    *,
    lookahead_s: float,
    radius_m: float,
    half_height_m: float,
    grow_h_m: ArrayLike | None = None,
    grow_v_m: ArrayLike | None = None,
) -> Conflicts:
    """Conflicts within ``[0, lookahead_s]``: :func:`candidate_pairs`, then :func:`conflict_intervals`.

    A conflict is a pair whose horizontal-in and vertical-in intervals overlap within the look-ahead
    (state-based, straight lines, as BlueSky's statebased detection). Exactly the pairs an all-pairs
    loop over :func:`conflict_intervals` finds, without its O(n^2) cost.

    ``grow_h_m`` / ``grow_v_m`` ((n,), >= 0) widen the zone per vehicle for surveillance uncertainty: the
    pair ``(i, j)`` uses ``radius_m + hypot(grow_h[i], grow_h[j])`` and ``half_height_m + hypot(grow_v[i],
    grow_v[j])`` (independent errors add in quadrature); the broad phase runs at the largest such zone.

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
    n = cols.shape[1]
    gh, gv = _growth("grow_h_m", grow_h_m, n), _growth("grow_v_m", grow_v_m, n)
    reach_h = radius_m + math.sqrt(2.0) * float(gh.max(initial=0.0))
    reach_v = half_height_m + math.sqrt(2.0) * float(gv.max(initial=0.0))
    keys = _candidate_keys(cols, lookahead_s, reach_h, reach_v)
    i, j = np.divmod(keys, max(n, 1))
    rel = cols.take(j, axis=1)
    rel -= cols.take(i, axis=1)
    zone_h: float | np.ndarray = radius_m
    zone_v: float | np.ndarray = half_height_m
    if grow_h_m is not None:
        zone_h = radius_m + np.hypot(gh.take(i), gh.take(j))
    if grow_v_m is not None:
        zone_v = half_height_m + np.hypot(gv.take(i), gv.take(j))
    t_in, t_out, t_cpa, d_cpa, hit = _intervals(*rel, lookahead_s, zone_h, zone_v)
    np.maximum(t_in, 0.0, out=t_in)
    if hit.all():
        return Conflicts(i, j, t_in, t_out, t_cpa, d_cpa)
    k = hit.nonzero()[0]
    return Conflicts(i.take(k), j.take(k), t_in.take(k), t_out.take(k), t_cpa.take(k), d_cpa.take(k))


def _growth(name: str, value: ArrayLike | None, n: int) -> np.ndarray:
    """A per-vehicle zone growth (n,), finite and >= 0; zeros when not given."""
    if value is None:
        return np.zeros(n)
    g = np.asarray(value, dtype=float)
    if g.shape != (n,) or not (np.isfinite(g).all() and (g >= 0.0).all()):
        raise InvalidRequest(name, f"must be {n} finite numbers >= 0 (shape {g.shape})")
    return g


def los_pairs(pos_m: ArrayLike, *, radius_m: float, half_height_m: float) -> np.ndarray:
    """Pairs in LoS now (horizontal distance < radius_m and |dz| < half_height_m), for ground truth.

    Parameters
    ----------
    pos_m : (n, 3) positions (m).
    radius_m, half_height_m : the protected cylinder (m, > 0).

    Returns
    -------
    (k, 2) int64 rows ``(i, j)``, ``i < j``, sorted. Cell lists (:func:`~utm.neighbours.near_pairs`, cells
    of the cylinder plus slack, a superset of its pairs) give candidates; the strict cylinder test decides.

    Examples
    --------
    >>> los_pairs([[0.0, 0.0, 50.0], [49.0, 0.0, 64.0], [50.0, 0.0, 50.0]], radius_m=50.0,
    ...           half_height_m=15.0)
    array([[0, 1],
           [1, 2]])
    """
    pos = _array3("pos_m", pos_m, limit=_MAX_POS_M)
    _, radius_m, half_height_m = _zone(0.0, radius_m, half_height_m)
    n = len(pos)
    if n < 2:
        return np.empty((0, 2), np.int64)
    xyz = np.ascontiguousarray(pos.T)
    tol_m = 1e-6 + 1e-12 * float(np.abs(xyz[:2]).max())  # rounding near the coordinates
    reach_m = radius_m * (1.0 + _SLACK) + tol_m
    out = near_pairs(
        xyz,
        np.zeros_like(xyz),
        half_tau=0.0,
        reach_h=reach_m,
        reach_v=half_height_m * (1.0 + _SLACK) + tol_m,
        r2_near=reach_m * reach_m,
        h_near=half_height_m * (1.0 + _SLACK) + tol_m,
    )
    i, j = np.divmod(out, n)
    d = xyz.take(j, axis=1)
    d -= xyz.take(i, axis=1)
    inside = ((np.hypot(d[0], d[1]) < radius_m) & (np.abs(d[2]) < half_height_m)).nonzero()[0]
    return np.stack([i.take(inside), j.take(inside)], axis=1)


def mvp(
    pos_m: ArrayLike,
    vel_mps: ArrayLike,
    conflicts: Conflicts,
    *,
    radius_m: float | ArrayLike,
    half_height_m: float | ArrayLike,
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
      relative track when the pair is still outside the enlarged zone: the resolved relative track then
      passes exactly ``margin * radius_m`` from the other) and ``t_eff = max(min(t, lookahead_s), 1 s)``
      (a floor against division by ~0 when the CPA is now; the cap makes slow-closing pairs resolve
      within the horizon). A miss distance below ``1e-3 radius_m`` is head-on: the change is to the
      right of the relative velocity, so both vehicles turn right; with no relative velocity either, j
      moves east and i west.
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
    radius_m, half_height_m : the protected cylinder (m, > 0), one for all pairs or (k,) one per
        conflict: the zone each pair was detected with (inflated by its tracks' uncertainty, say), so
        that the resolution clears ``margin`` times that pair's own zone.
    lookahead_s : as :func:`detect`.
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
    n = cols.shape[1]
    prio = np.asarray(priority, dtype=float)
    if prio.shape != (n,) or not np.isfinite(prio).all():
        raise InvalidRequest("priority", f"must be {n} finite numbers (shape {prio.shape})")
    if not (math.isfinite(margin) and margin >= 1.0):
        raise InvalidRequest("margin", f"must be a finite number >= 1 ({margin})")
    i, j = np.asarray(conflicts.i, np.int64), np.asarray(conflicts.j, np.int64)
    if len(i) and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n):
        raise InvalidRequest("conflicts", f"rows must index the {n} vehicles given")
    lookahead_s = _scalar("lookahead_s", lookahead_s, 0.0)
    radius = _pair_zone("radius_m", radius_m, len(i))
    half_height = _pair_zone("half_height_m", half_height_m, len(i))
    out = np.zeros((n, 3))
    if len(i) == 0:
        return out
    rel = cols.take(j, axis=1)
    rel -= cols.take(i, axis=1)
    dx, dy, dz, du, dv, dw = rel
    a = du * du + dv * dv
    moving = a > _V_MIN_MPS**2
    all_moving = bool(moving.all())
    t = -(dx * du + dy * dv)
    t /= a if all_moving else np.where(moving, a, 1.0)
    np.maximum(t, 0.0, out=t)
    if not all_moving:
        t[~moving] = 0.0
    ex, ey, ez = dx + du * t, dy + dv * t, dz + dw * t
    miss_m, dist_m = np.hypot(ex, ey), np.hypot(dx, dy)
    reach_m, t_eff = margin * radius, np.maximum(np.minimum(t, lookahead_s), _T_FLOOR_S)
    # direction: along the miss vector; head-on: right of the relative velocity; neither: east
    head_on = miss_m < _HEAD_ON * radius
    if head_on.any():
        speed = np.sqrt(a)
        right = np.where(moving, 1.0 / np.where(moving, speed, 1.0), 0.0)
        ux = np.where(head_on, np.where(moving, dv * right, 1.0), ex / np.where(head_on, 1.0, miss_m))
        uy = np.where(head_on, -du * right, ey / np.where(head_on, 1.0, miss_m))
    else:
        ux, uy = ex / miss_m, ey / miss_m
    # shift of the CPA, with the rotation correction while outside the enlarged zone (BlueSky mvp.py)
    outside = ((dist_m > reach_m) & (miss_m < dist_m)).nonzero()[0]
    shift_m = reach_m.copy()  # reach_m / cos(0)
    if len(outside):
        d_out, reach_out = dist_m.take(outside), reach_m.take(outside)
        turn = np.arcsin(reach_out / d_out) - np.arcsin(miss_m.take(outside) / d_out)
        shift_m[outside] = reach_out / np.cos(turn)
    shift_m -= miss_m
    np.maximum(shift_m, 0.0, out=shift_m)
    h_mps = shift_m / t_eff
    delta_z = None
    if vertical:
        climb_m = margin * half_height - np.abs(ez)
        up = (np.abs(ez) < half_height) & (climb_m < shift_m)
        if up.any():
            h_mps[up] = 0.0
            delta_z = np.where(up, np.where(ez >= 0.0, climb_m, -climb_m) / t_eff, 0.0)
    pi, pj = prio.take(i), prio.take(j)
    share_i = np.where(pi > pj, 0.0, np.where(pi < pj, 1.0, 0.5))
    share_j = 1.0 - share_i
    for c, delta in enumerate((h_mps * ux, h_mps * uy, delta_z)):
        if delta is not None:  # (a zero change adds zeros)
            out[:, c] = np.bincount(j, delta * share_j, minlength=n) - np.bincount(
                i, delta * share_i, minlength=n
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
    if arr.size == 0 or (
        np.maximum.reduce(arr, axis=None) <= limit and np.minimum.reduce(arr, axis=None) >= -limit
    ):  # (nan fails the comparisons)
        return arr
    bad = np.argwhere(~(np.abs(arr) <= limit))
    if len(bad):
        r, c = bad[0]
        what = "finite" if not np.isfinite(arr[r, c]) else f"within +-{limit:g}"
        raise InvalidRequest(f"{field}[{r}, {c}]", f"must be {what} ({arr[r, c]})")
    return arr


def _zone(lookahead_s: float, radius_m: float, half_height_m: float) -> tuple[float, float, float]:
    """The scalar options as floats, else InvalidRequest naming the first bad one."""
    return (
        _scalar("lookahead_s", lookahead_s, 0.0),
        _scalar("radius_m", radius_m),
        _scalar("half_height_m", half_height_m),
    )


def _scalar(name: str, value: float, low: float | None = None) -> float:
    """One option as a float, ``>= low`` (``> 0`` without one) and ``<= 1e6``, else InvalidRequest."""
    if not ((value >= low if low is not None else value > 0.0) and value <= _MAX_SCALAR):
        bound = ">= 0" if low is not None else "> 0"
        raise InvalidRequest(name, f"must be a number {bound} and <= {_MAX_SCALAR:g} ({value})")
    return float(value)


def _pair_zone(name: str, value: float | ArrayLike, k: int) -> np.ndarray:
    """A zone dimension for each of ``k`` conflicts, from one number for all or ``k`` numbers, each in
    ``(0, 1e6]``, else InvalidRequest naming it (and the first bad conflict)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(k, _scalar(name, float(arr)))
    if arr.shape != (k,):
        raise InvalidRequest(name, f"must be one number or {k}, one per conflict (shape {arr.shape})")
    bad = (~((arr > 0.0) & (arr <= _MAX_SCALAR))).nonzero()[0]
    if len(bad):
        first = int(bad[0])
        raise InvalidRequest(
            f"{name}[{first}]", f"must be a number > 0 and <= {_MAX_SCALAR:g} ({arr[first]})"
        )
    return arr


def _columns(pos_m: ArrayLike, vel_mps: ArrayLike) -> np.ndarray:
    """x, y, z, vx, vy, vz as the contiguous rows of a (6, n) array (row-major (n, 3) arithmetic is
    several times slower)."""
    pos = _array3("pos_m", pos_m, limit=_MAX_POS_M)
    vel = _array3("vel_mps", vel_mps, len(pos), limit=_MAX_VEL_MPS)
    cols = np.empty((6, len(pos)))
    cols[:3], cols[3:] = pos.T, vel.T
    return cols


def _intervals(
    dx: np.ndarray,
    dy: np.ndarray,
    dz: np.ndarray,
    du: np.ndarray,
    dv: np.ndarray,
    dw: np.ndarray,
    lookahead_s: float,
    radius_m: float | np.ndarray,
    half_height_m: float | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`conflict_intervals` on columns, with ``t_in``/``t_out`` unclipped and unmasked (meaningful
    where ``hit``). Horizontal roots from ``|d + v t|^2 = R^2`` written with the cross product
    (``a R^2 - (d x v)^2``), which does not cancel for distant pairs."""
    a = du * du + dv * dv
    moving = a > _V_MIN_MPS**2
    all_moving = bool(moving.all())
    safe_a = a if all_moving else np.where(moving, a, 1.0)
    t_cpa = -(dx * du + dy * dv) / safe_a
    cross = dx * dv - dy * du
    disc = radius_m * radius_m * a - cross * cross
    half = np.sqrt(np.maximum(disc, 0.0)) / safe_a
    if all_moving:
        hit_h = disc > 0.0
        t_in = np.where(hit_h, t_cpa - half, np.inf)
        t_out = np.where(hit_h, t_cpa + half, -np.inf)
    else:
        t_cpa[~moving] = 0.0
        hit_h = np.where(moving, disc > 0.0, dx * dx + dy * dy < radius_m * radius_m)
        t_in = np.where(hit_h, np.where(moving, t_cpa - half, -np.inf), np.inf)
        t_out = np.where(hit_h, np.where(moving, t_cpa + half, np.inf), -np.inf)
    climbing = np.abs(dw) > _V_MIN_MPS
    level_in = np.abs(dz) < half_height_m
    if climbing.any():
        safe_w = np.where(climbing, dw, 1.0)
        t_lo, t_hi = (-half_height_m - dz) / safe_w, (half_height_m - dz) / safe_w
        t_in = np.maximum(
            t_in, np.where(climbing, np.minimum(t_lo, t_hi), np.where(level_in, -np.inf, np.inf))
        )
        t_out = np.minimum(
            t_out, np.where(climbing, np.maximum(t_lo, t_hi), np.where(level_in, np.inf, -np.inf))
        )
    else:  # max(t, -inf) = t and max(t, inf) = inf (t is never nan), likewise min
        t_in[~level_in] = np.inf
        t_out[~level_in] = -np.inf
    hit = t_in < t_out
    hit &= t_out > 0.0
    hit &= t_in < lookahead_s
    clipped = t_cpa.clip(0.0, lookahead_s)
    d_cpa = np.where(  # the cross product is exact (0 head-on) when the CPA is within the horizon
        moving & (clipped == t_cpa),
        np.abs(cross) / np.sqrt(safe_a),
        np.hypot(dx + du * clipped, dy + dv * clipped),
    )
    return t_in, t_out, clipped, d_cpa, hit


def _slices(
    n: int,
    spans_m: tuple[float, float, float],
    vh_max: float,
    vz_max: float,
    t_s: float,
    r_m: float,
    h_m: float,
) -> int:
    """Number of look-ahead windows minimising a cost model: per window ~20 candidate-pair costs per
    vehicle (binning, its five cell ranges, merging the windows' keys) plus the candidates, estimated from
    the mean density of the fleet's bounding box. Measured at 30 s: one window is fastest for 1,000-20,000
    level drones; with climbing ones (a 6G picture's 10,000 tracks, |vz| up to 4 m/s, so the vertical reach
    spans the layer) two are 10 % faster. Only the speed depends on it."""
    best, best_cost = 1, math.inf
    for k in range(1, _MAX_SLICES + 1):
        rh, rv = r_m + vh_max * t_s / k, h_m + vz_max * t_s / k
        window = (2.0 * rh, 2.25 * rh, 3.0 * rv)  # what a vehicle's cell ranges span
        extent = (spans_m[0] + rh, spans_m[1] + rh, spans_m[2] + rv)
        share = 1.0
        for w_m, e_m in zip(window, extent, strict=True):
            share *= min(w_m, e_m) / e_m
        cost = k * (20.0 * n + 0.5 * n * n * share)
        if cost >= best_cost:  # the cost falls, then rises, with k
            break
        best, best_cost = k, cost
    return best


def _candidate_keys(cols: np.ndarray, t_s: float, r_m: float, h_m: float) -> np.ndarray:
    """Sorted unique ``i * n + j`` (i < j) of the candidate pairs (module docstring: the broad phase)."""
    n = cols.shape[1]
    if n < 2:
        return np.empty(0, np.int64)
    pos, vel = cols[:3], cols[3:]
    u, v, w = vel
    vh_max = math.sqrt(float((u * u + v * v).max()))
    vz_max = float(np.abs(w).max())
    low, high = pos.min(axis=1).tolist(), pos.max(axis=1).tolist()
    reach = (vh_max * t_s, vh_max * t_s, vz_max * t_s)
    lo = [c - r for c, r in zip(low, reach, strict=True)]
    hi = [c + r for c, r in zip(high, reach, strict=True)]
    tol_m = 1e-6 + 1e-12 * max(abs(c) for c in lo + hi)  # rounding near the coordinates
    spans = [b - a for a, b in zip(lo, hi, strict=True)]
    n_win = _slices(n, spans, vh_max, vz_max, t_s, r_m, h_m) if t_s > 0.0 else 1
    tau = t_s / n_win
    near = {
        "half_tau": 0.5 * tau,
        "reach_h": (r_m + vh_max * tau) * (1.0 + _SLACK) + tol_m,
        "reach_v": (h_m + vz_max * tau) * (1.0 + _SLACK) + tol_m,
        "r2_near": (r_m * (1.0 + _SLACK) + tol_m) ** 2,
        "h_near": h_m * (1.0 + _SLACK) + tol_m,
    }
    return near_pairs_at(pos, vel, [(k + 0.5) * tau for k in range(n_win)], **near)  # window midpoints
