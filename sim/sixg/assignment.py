"""Data association of the surveillance tracker: gated (track, detection) pairs to a one-to-one assignment.

Numba kernels kept apart from :mod:`sim.sixg.fusion` (which calls them) so the assignment is tested on its
own: clustering by union-find, global nearest neighbour per cluster, a minimum-cost rectangular assignment.
Layer: sim.
"""

from __future__ import annotations

import numba
import numpy as np

_UNGATED = 1e9  # assignment cost of a pair outside the gate (an assignment using it is discarded)


@numba.njit(cache=True, nogil=True)
def _root(parent: np.ndarray, a: int) -> int:
    """The root of ``a`` in a union-find forest, halving the path on the way."""
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


@numba.njit(cache=True, nogil=True)
def _union(parent: np.ndarray, a: int, b: int) -> None:
    """Join the sets of ``a`` and ``b`` (the lesser root becomes the root)."""
    ra, rb = _root(parent, a), _root(parent, b)
    parent[max(ra, rb)] = min(ra, rb)


@numba.njit(cache=True, nogil=True)
def _gnn(ti: np.ndarray, dj: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Pairs (indices) of a one-to-one assignment with the most pairs, then the least cost, per cluster.

    Clusters are the connected components of the pairs (track ``ti``, detection ``dj``). One with a single
    track or a single detection (nearly all: most are one pair) takes its cheapest pair (ties: the least
    detection, or track); any other is solved by :func:`_lsap` (tracks and detections ascending). Clusters
    come in the order of their first pairs; the work is over the pairs (and clearing arrays as long as the
    greatest track and detection, so callers pass small numbers).
    """
    n = len(ti)
    if n == 0:
        return np.empty(0, np.int64)
    nt, nd = ti.max() + 1, dj.max() + 1
    parent = np.arange(nt + nd)
    for k in range(n):
        _union(parent, ti[k], nt + dj[k])
    # each cluster's pairs as a chain in order from its first pair, by the root (its least track)
    head, after, label = np.full(nt, -1), np.empty(n, np.int64), np.empty(n, np.int64)
    for k in range(n - 1, -1, -1):
        label[k] = _root(parent, ti[k])
        after[k], head[label[k]] = head[label[k]], k
    seen_t, seen_d = np.full(nt, -1), np.full(nd, -1)  # the last cluster that counted each
    chosen, members = np.empty(n, np.int64), np.empty(n, np.int64)
    got = 0
    for first in range(n):
        root = label[first]
        if head[root] != first:
            continue
        tracks = dets = size = 0
        c = first
        while c >= 0:
            tracks += seen_t[ti[c]] != root
            dets += seen_d[dj[c]] != root
            seen_t[ti[c]], seen_d[dj[c]] = root, root
            members[size] = c
            size += 1
            c = after[c]
        if tracks == 1 or dets == 1:
            other = dj if tracks == 1 else ti
            best = first
            for i in range(1, size):
                c = members[i]
                if cost[c] < cost[best] or (cost[c] == cost[best] and other[c] < other[best]):
                    best = c
            chosen[got] = best
            got += 1
        else:
            got = _assign(ti, dj, cost, members[:size], chosen, got)
    return chosen[:got]


@numba.njit(cache=True, nogil=True)
def _assign(
    ti: np.ndarray, dj: np.ndarray, cost: np.ndarray, k: np.ndarray, chosen: np.ndarray, got: int
) -> int:
    """Append to ``chosen`` (``got`` used) the pairs of the :func:`_lsap` assignment of cluster ``k`` (tracks
    and detections ascending); the new count."""
    tracks, dets = np.unique(ti[k]), np.unique(dj[k])
    matrix = np.full((len(tracks), len(dets)), _UNGATED)
    pair = np.full((len(tracks), len(dets)), -1)
    for c in k:
        a, b = np.searchsorted(tracks, ti[c]), np.searchsorted(dets, dj[c])
        matrix[a, b], pair[a, b] = cost[c], c
    col = _lsap(matrix)
    for a in range(len(tracks)):
        if col[a] >= 0 and pair[a, col[a]] >= 0:
            chosen[got] = pair[a, col[a]]
            got += 1
    return got


@numba.njit(cache=True, nogil=True)
def _lsap(cost: np.ndarray) -> np.ndarray:
    """The column of each row (-1: none) of a least-cost assignment of ``cost`` (finite, n x m) that pairs
    min(n, m) rows and columns; a matrix with more rows than columns is solved transposed, since the
    augmenting-path solver pairs every row."""
    n, m = cost.shape
    if n <= m:
        return _lsap_wide(cost)
    col_row = _lsap_wide(np.ascontiguousarray(cost.T))
    row_col = np.full(n, -1)
    for j in range(m):
        row_col[col_row[j]] = j
    return row_col


@numba.njit(cache=True, nogil=True)
def _lsap_wide(cost: np.ndarray) -> np.ndarray:
    """The column of each row of a least-cost assignment of ``cost`` (finite, n x m, n <= m; every row
    paired), by shortest augmenting paths over reduced costs.

    Jonker and Volgenant, "A shortest augmenting path algorithm for dense and sparse linear assignment
    problems", Computing 38, 1987; Crouse, "On implementing 2D rectangular assignment algorithms", IEEE TAES
    52(4), 2016. Rows are added one at a time. Row potentials ``u`` and column potentials ``v`` keep every
    reduced cost ``cost[i, j] - u[i] - v[j]`` non-negative and those of the paired (row, column) zero, so the
    cheapest alternating path from the new row to a free column is a Dijkstra search; flipping it along the
    path keeps the pairing least-cost among those of the rows added so far. Columns still free keep
    ``v = 0``: a path's reduced length then differs from its true cost change by ``u`` of its start row only,
    the same for every free column it may end at.
    """
    n, m = cost.shape
    u = np.empty(n)  # start: u the row minima, v zero, so every reduced cost is >= 0
    for i in range(n):
        u[i] = cost[i].min()
    v = np.zeros(m)
    row_col, col_row = np.full(n, -1), np.full(m, -1)
    dist = np.empty(m)  # reduced length of the cheapest path found so far from the new row to each column
    via = np.empty(m, np.int64)  # the row before each column on that path
    settled = np.empty(m, np.int64)  # columns whose dist is final, in the order settled
    final = np.zeros(m, np.bool_)
    for start in range(n):
        dist[:] = np.inf
        final[:] = False
        n_settled = 0
        row, reach = start, 0.0  # the row the search extends from, and the path length to it
        while True:
            # relax the columns not yet settled through ``row``, and take the nearest (ties: a free one,
            # which ends the search, then the first)
            best, best_dist, best_free = -1, np.inf, False
            for j in range(m):
                if final[j]:
                    continue
                d = reach + cost[row, j] - u[row] - v[j]
                if d < dist[j]:
                    dist[j], via[j] = d, row
                free = col_row[j] < 0
                if dist[j] < best_dist or (dist[j] == best_dist and free and not best_free):
                    best, best_dist, best_free = j, dist[j], free
            final[best] = True
            settled[n_settled] = best
            n_settled += 1
            if best_free:
                break
            row, reach = col_row[best], best_dist  # the paired edge has reduced cost zero
        # potentials: the columns settled before the free one at ``best_dist`` lower v, their rows (and the
        # start) raise u, by ``best_dist - dist``; paired and path edges become tight, none goes negative
        u[start] += best_dist
        for k in range(n_settled - 1):
            j = settled[k]
            step = best_dist - dist[j]
            v[j] -= step
            u[col_row[j]] += step
        # augment: walk back from the free column, each row on the path taking the column after it
        j = best
        while True:
            i = via[j]
            col_row[j] = i
            row_col[i], j = j, row_col[i]
            if i == start:
                break
    return row_col
