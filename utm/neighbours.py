"""Pairs of moving points that come near each other within a time window: the broad phase of tactical
conflict detection and of ground-truth LoS, as one compiled cell-list pass.

Points are counting-sorted into a dense grid of cells at least ``reach_h`` wide in x, a ``_MY``-th of
that in y and at least ``reach_v`` high (coarser when the grid would exceed its budget), y the fastest
axis, so a pair within ``reach_h`` horizontally and ``reach_v`` vertically lies at most one x-cell, ``_MY``
y-cells and one z-cell apart, and the ``2 _MY + 1`` y-cells of a column around a point are one range of
points. Each point scans five ranges: its own column after itself, the column above, and the three
columns of the next x-cell; so every such pair is met exactly once. A met pair is kept when its
horizontal distance is below ``reach_h``, its closest horizontal approach within ``+-half_tau`` of now
(straight lines) is below ``sqrt(r2_near)`` and its vertical gap shrunk by ``|dw| half_tau`` is below
``h_near``: the caller's superset bounds, in float64. Layer: utm.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

__all__ = ["cores", "near_pairs", "near_pairs_at", "sorted_distinct"]

_CELLS_PER_POINT = 16  # dense grid budget: the prefix sum touches every cell, so keep it near n
_MY = 4  # y-cells per reach: a (x, z) column's 2 _MY + 1 y-cells around a point are one range of points


@numba.njit(cache=True)
def _grid(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, reach_h: float, reach_v: float, budget: int
) -> tuple[float, float, float, int, int, int]:
    """Cell sizes (x, y, z) and padded grid shape (x, z, y) for the points: x cells of at least
    ``reach_h``, y cells of a ``_MY``-th of it, z cells of at least ``reach_v`` (one layer when inf), the
    columns doubled until the grid fits ``budget`` (then the layers). Padding (one x-cell after, one
    z-cell either side, ``_MY`` y-cells either side) puts every neighbour range inside the grid."""
    size_x, size_v = reach_h, reach_v
    span_x, span_y, span_z = x.max() - x.min(), y.max() - y.min(), z.max() - z.min()
    while True:
        nx = int(span_x / size_x) + 2
        ny = int(span_y / (size_x / _MY)) + 1 + 2 * _MY
        nz = int(span_z / size_v) + 3 if np.isfinite(size_v) else 3
        if nx * ny * nz <= budget:
            return size_x, size_x / _MY, size_v, nx, nz, ny
        if nx > 2 or ny > 1 + 2 * _MY:  # coarser columns first: the layers are few
            size_x *= 2.0
        else:
            size_v *= 2.0


@numba.njit(cache=True)
def _bin(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, reach_h: float, reach_v: float, budget: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Counting sort of the points by cell (index ``(ix nz + iz) ny + iy``, y fastest): (cell of each
    point, points in cell order, first position of each cell (cells + 1)), and the padded ``nz, ny``."""
    size_x, size_y, size_z, nx, nz, ny = _grid(x, y, z, reach_h, reach_v, budget)
    x0, y0, z0 = x.min(), y.min(), z.min()
    n, cells = x.size, nx * ny * nz
    cell = np.empty(n, np.int64)
    for p in range(n):
        ix = min(int((x[p] - x0) / size_x), nx - 2)
        iy = min(int((y[p] - y0) / size_y), ny - 1 - 2 * _MY) + _MY
        iz = min(int((z[p] - z0) / size_z), nz - 3) + 1  # / inf: 0
        cell[p] = (ix * nz + iz) * ny + iy
    start = np.zeros(cells + 1, np.int64)
    for p in range(n):
        start[cell[p]] += 1
    for c in range(cells):  # inclusive prefix sum: start[c] is where cell c ends
        start[c + 1] += start[c]
    order = np.empty(n, np.int64)
    for p in range(n - 1, -1, -1):  # backwards, so each cell keeps the points' order
        start[cell[p]] -= 1
        order[start[cell[p]]] = p
    return cell, order, start, nz, ny


@numba.njit(cache=True, nogil=True)
def _pairs(
    pos: np.ndarray,
    vel: np.ndarray,
    half_tau: float,
    reach_h: float,
    reach_v: float,
    r2: float,
    h: float,
    budget: int,
) -> np.ndarray:
    """Keys ``i * n + j`` (i < j, unsorted) of the pairs that pass the module docstring's tests, met
    through the grid. The points are copied in cell order, so each range of cells is contiguous, and the
    horizontal bound runs first over a point's ranges without a branch (most pairs fail it)."""
    n = pos.shape[1]
    cell, order, start, nz, ny = _bin(pos[0], pos[1], pos[2], reach_h, reach_v, budget)
    x, y, z = pos[0].take(order), pos[1].take(order), pos[2].take(order)
    u, v, w = vel[0].take(order), vel[1].take(order), vel[2].take(order)
    near = np.empty(n, np.int64)  # the positions in a point's ranges that pass the horizontal bound
    keys = np.empty(max(16, 2 * n), np.int64)
    count = 0
    reach_h2 = reach_h * reach_h
    for q in range(n):
        c = cell[order[q]]
        m = 0
        for col in range(5):  # own column after q; (x, z + 1); then (x + 1, z - 1 .. z + 1)
            if col == 0:
                lo, hi = q + 1, start[c + _MY + 1]
            else:
                first = c + (ny if col == 1 else (nz + col - 3) * ny) - _MY
                lo, hi = start[first], start[first + 2 * _MY + 1]
            for r in range(lo, hi):
                dx, dy = x[r] - x[q], y[r] - y[q]
                near[m] = r
                m += dx * dx + dy * dy < reach_h2
        for k in range(m):
            r = near[k]
            dx, dy, du, dv = x[r] - x[q], y[r] - y[q], u[r] - u[q], v[r] - v[q]
            if half_tau > 0.0:  # the closest horizontal approach within +-half_tau
                t = -(dx * du + dy * dv) / max(du * du + dv * dv, 1e-300)
                t = min(max(t, -half_tau), half_tau)
                dx, dy = dx + du * t, dy + dv * t
            if dx * dx + dy * dy >= r2 or abs(z[r] - z[q]) - abs(w[r] - w[q]) * half_tau >= h:
                continue
            if count == keys.size:
                grown = np.empty(2 * keys.size, np.int64)
                grown[:count] = keys
                keys = grown
            a, b = order[q], order[r]
            keys[count] = min(a, b) * n + max(a, b)
            count += 1
    return keys[:count]


def near_pairs(
    pos: np.ndarray,
    vel: np.ndarray,
    *,
    half_tau: float,
    reach_h: float,
    reach_v: float,
    r2_near: float,
    h_near: float,
) -> np.ndarray:
    """Sorted keys ``i * n + j`` (i < j) of the pairs of points ``pos`` (3, n), moving at ``vel`` (3, n),
    that the module docstring's tests keep; ``reach_v`` may be inf (no vertical binning)."""
    n = pos.shape[1]
    if n < 2:
        return np.empty(0, np.int64)
    keys = _pairs(
        np.ascontiguousarray(pos, dtype=np.float64),
        np.ascontiguousarray(vel, dtype=np.float64),
        float(half_tau),
        float(reach_h),
        float(reach_v),
        float(r2_near),
        float(h_near),
        _CELLS_PER_POINT * n + 64,
    )
    keys.sort()
    return keys


def near_pairs_at(pos: np.ndarray, vel: np.ndarray, times_s: list[float], **bounds: float) -> np.ndarray:
    """Sorted distinct keys of :func:`near_pairs` (``bounds``: its keywords) of the points moved to each of
    ``times_s`` (``pos + vel t``): the look-ahead windows of a broad phase, merged. With two cores or more,
    the later half of the windows runs on a second thread meanwhile (the compiled pass releases the GIL);
    which thread ran a window changes nothing in the keys.
    """

    def windows(times: list[float]) -> list[np.ndarray]:
        return [near_pairs(pos + vel * t, vel, **bounds) for t in times]

    pool = _pool() if len(times_s) > 1 else None
    if pool is None:
        keys = windows(times_s)
    else:
        half = (len(times_s) + 1) // 2
        later = pool.submit(windows, times_s[half:])
        keys = windows(times_s[:half]) + later.result()
    return keys[0] if len(keys) == 1 else sorted_distinct(np.concatenate(keys))


_POOL: dict[int, ThreadPoolExecutor] = {}  # by process id: a forked child has none of its parent's threads


def _pool() -> ThreadPoolExecutor | None:
    """This process's worker thread for :func:`near_pairs_at`, made on first use; None on a single core."""
    pid = os.getpid()
    if pid not in _POOL and cores() > 1:
        _POOL.clear()  # a parent's pool, its thread gone here
        _POOL[pid] = ThreadPoolExecutor(1, thread_name_prefix="utm6g-pairs")
    return _POOL.get(pid)


def cores() -> int:
    """Cores this process may run on: its affinity where the OS says (Linux), else the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def sorted_distinct(keys: np.ndarray) -> np.ndarray:
    """``np.unique`` of integer keys by a stable sort and a neighbour compare. numpy's unique hashes before it
    sorts (2.9 ms against 0.34 ms for 23k keys); the stable sort merges already sorted runs (each window's
    pairs, the alerts held) in one pass.

    >>> sorted_distinct(np.array([2, 5, 9, 1, 5, 9])).tolist()
    [1, 2, 5, 9]
    """
    out = np.sort(keys, kind="stable")
    new = np.empty(len(out), bool)
    new[:1] = True
    np.not_equal(out[1:], out[:-1], out=new[1:])
    return out.compress(new)
