"""Data association kernels: the rectangular least-cost assignment and the clustered global nearest neighbour.

Oracles: scipy's ``linear_sum_assignment``, and all one-to-one pairings enumerated for small matrices.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from sim.sixg.assignment import _UNGATED, _gnn, _lsap


def scipy_columns(cost: np.ndarray) -> np.ndarray:
    """scipy's assignment as the column of each row (-1: none), the form ``_lsap`` returns."""
    a, b = linear_sum_assignment(cost)
    col = np.full(len(cost), -1)
    col[a] = b
    return col


def brute_force_total(cost: np.ndarray) -> float:
    """The least total cost over every pairing of min(n, m) rows and columns (exact sums), for small
    matrices."""
    n, m = cost.shape
    if n > m:
        return brute_force_total(cost.T)
    return min(math.fsum(cost[range(n), cols]) for cols in itertools.permutations(range(m), n))


def checked_total(cost: np.ndarray) -> float:
    """The total cost of ``_lsap(cost)``, after checking it pairs min(n, m) rows with distinct columns."""
    col = _lsap(cost)
    n, m = cost.shape
    assert col.shape == (n,) and ((col >= -1) & (col < m)).all()
    rows = (col >= 0).nonzero()[0]
    assert len(rows) == min(n, m) and len(set(col[rows].tolist())) == len(rows)
    return math.fsum(cost[rows, col[rows]])


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (5, 1), (4, 4), (3, 6), (6, 3), (0, 3), (3, 0)])
def test_assignment_equals_scipy_and_brute_force(shape):
    """Square, wide, tall, 1 x 1 and empty matrices of distinct costs (one least-cost assignment): the
    same columns as scipy, the total of brute force."""
    rng = np.random.default_rng(sum(shape))
    for _ in range(50):
        cost = rng.uniform(-5.0, 20.0, shape)
        assert np.array_equal(_lsap(cost), scipy_columns(cost))
        if cost.size:
            assert checked_total(cost) == pytest.approx(brute_force_total(cost), rel=1e-12, abs=1e-12)


def test_assignment_equals_scipy_on_random_clusters():
    """Random rectangular matrices with pairs outside the gate (many equal costs, so compared on the total):
    scipy's least total."""
    rng = np.random.default_rng(3)
    for _ in range(300):
        cost = rng.uniform(-3.0, 10.0, rng.integers(1, 8, 2))
        cost[rng.random(cost.shape) < 0.4] = _UNGATED
        a, b = linear_sum_assignment(cost)
        assert checked_total(cost) == pytest.approx(math.fsum(cost[a, b]), rel=1e-15, abs=1e-9)


@pytest.mark.parametrize("shape", [(5, 5), (4, 7), (7, 4)])
def test_ties_give_the_least_total(shape):
    """Costs from a few integers, and all equal: many least-cost assignments, any one will do."""
    rng = np.random.default_rng(11)
    assert checked_total(np.full(shape, 2.5)) == 2.5 * min(shape)
    for _ in range(100):
        cost = rng.integers(0, 3, shape).astype(float)
        assert checked_total(cost) == brute_force_total(cost)


@pytest.mark.parametrize("shape", [(40, 60), (60, 40), (50, 50)])
def test_large_random_equals_scipy(shape):
    """Large dense matrices: the same columns as scipy."""
    rng = np.random.default_rng(5)
    for _ in range(5):
        cost = rng.normal(0.0, 10.0, shape)
        assert np.array_equal(_lsap(cost), scipy_columns(cost))


def test_large_dynamic_range():
    """Costs from 1e-4 to 1e8 of either sign, and gated costs among ``_UNGATED``: scipy's total to rounding
    of the largest; a scale or a shift of every cost leaves the assignment."""
    rng = np.random.default_rng(8)
    for shape in [(6, 6), (5, 7), (40, 60)]:
        for _ in range(10):
            cost = rng.choice([-1.0, 1.0], shape) * 10.0 ** rng.uniform(-4.0, 8.0, shape)
            a, b = linear_sum_assignment(cost)
            assert checked_total(cost) == pytest.approx(math.fsum(cost[a, b]), rel=0, abs=1e-6)
            if cost.shape[0] <= 6:
                assert checked_total(cost) == pytest.approx(brute_force_total(cost), rel=0, abs=1e-6)
            col = _lsap(cost)
            assert np.array_equal(_lsap(cost * 1e-6), col) and np.array_equal(_lsap(cost * 1e6), col)
    for _ in range(50):
        cost = rng.uniform(0.0, 1e-3, (6, 8))  # gated costs a micro-unit apart among 1e9: still resolved
        cost[rng.random(cost.shape) < 0.5] = _UNGATED
        cost[np.arange(6), rng.permutation(8)[:6]] = rng.uniform(0.0, 1e-3, 6)  # a fully gated pairing
        col = _lsap(cost)
        assert (cost[np.arange(6), col] < _UNGATED).all()
        assert checked_total(cost) == pytest.approx(brute_force_total(cost), rel=0, abs=1e-9)


def test_gnn_equals_one_assignment_over_all_pairs():
    """The clustered GNN against one assignment over all pairs (most pairs, then least cost), brute force:
    sparse random pairs in clusters of every size, track numbers with gaps."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        n_t, n_d = rng.integers(1, 30, 2)
        ti, dj = (rng.random((n_t, n_d)) < 0.08).nonzero()
        order = rng.permutation(len(ti))
        ti, dj, cost = ti[order] * 3 + 1, dj[order], rng.uniform(-3.0, 10.0, len(ti))
        got = _gnn(ti, dj, cost)
        full = np.full((3 * n_t + 1, n_d), _UNGATED)
        full[ti, dj] = cost
        a, b = linear_sum_assignment(full)
        keep = full[a, b] < _UNGATED
        assert sorted(zip(ti[got].tolist(), dj[got].tolist(), strict=True)) == sorted(
            zip(a[keep].tolist(), b[keep].tolist(), strict=True)
        )
