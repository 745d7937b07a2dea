"""utm.neighbours: the compiled cell-list pass against every pair through the same three tests."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utm import neighbours
from utm.neighbours import near_pairs, sorted_distinct


def brute_near(pos, vel, half_tau, reach_h, r2_near, h_near):
    """Oracle: every pair i < j through the midpoint bound, the window's closest approach and the
    vertical test, written out per pair in Python floats."""
    n, keys = pos.shape[1], []
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = pos[0, j] - pos[0, i], pos[1, j] - pos[1, i]
            if dx * dx + dy * dy >= reach_h * reach_h:
                continue
            du, dv = vel[0, j] - vel[0, i], vel[1, j] - vel[1, i]
            if half_tau > 0.0:
                t = -(dx * du + dy * dv) / max(du * du + dv * dv, 1e-300)
                t = min(max(t, -half_tau), half_tau)
                dx, dy = dx + du * t, dy + dv * t
            vertical = abs(pos[2, j] - pos[2, i]) - abs(vel[2, j] - vel[2, i]) * half_tau
            if dx * dx + dy * dy < r2_near and vertical < h_near:
                keys.append(i * n + j)
    return keys


@st.composite
def points(draw):
    n = draw(st.integers(0, 30))
    span = draw(st.sampled_from([5.0, 200.0, 3000.0, 1e6]))
    coord = st.floats(-span, span, allow_nan=False) | st.integers(-100, 100).map(float)
    speed = st.floats(-30.0, 30.0, allow_nan=False) | st.just(0.0)
    pos = np.array(draw(st.lists(coord, min_size=3 * n, max_size=3 * n)), float).reshape(3, n)
    vel = np.array(draw(st.lists(speed, min_size=3 * n, max_size=3 * n)), float).reshape(3, n)
    return pos, vel


@settings(max_examples=300, deadline=None)
@given(
    cloud=points(),
    half_tau=st.sampled_from([0.0, 0.5, 5.0, 15.0]),
    r_m=st.sampled_from([10.0, 50.0]),
    h_m=st.sampled_from([5.0, 15.0, float("inf")]),
    cells=st.sampled_from([0, 16]),
)
def test_near_pairs_are_exactly_the_pairs_passing_the_tests(cloud, half_tau, r_m, h_m, cells):
    """The reach is the tests' own bound (R plus the window's travel), so every passing pair is met; a
    budget of 0 cells per point and 1e6 m clouds force coarse cells; an infinite vertical reach is one
    layer."""
    pos, vel = cloud
    speed_h = float(np.hypot(vel[0], vel[1]).max(initial=0.0))
    speed_v = float(np.abs(vel[2]).max(initial=0.0))
    reach_h, reach_v = r_m + 2.0 * speed_h * half_tau, h_m + 2.0 * speed_v * half_tau
    with pytest.MonkeyPatch.context() as m:
        m.setattr(neighbours, "_CELLS_PER_POINT", cells)
        got = near_pairs(
            pos, vel, half_tau=half_tau, reach_h=reach_h, reach_v=reach_v, r2_near=r_m * r_m, h_near=h_m
        )
    assert got.tolist() == brute_near(pos, vel, half_tau, reach_h, r_m * r_m, h_m)


def test_a_dense_cloud_matches_brute_force():
    """1,200 points in 1 km x 1 km x 90 m, so cells hold many points and every range is long."""
    rng = np.random.default_rng(11)
    pos = np.vstack([rng.uniform(0, 1000, 1200), rng.uniform(0, 1000, 1200), rng.uniform(30, 120, 1200)])
    vel = np.vstack([rng.uniform(-18, 18, 1200), rng.uniform(-18, 18, 1200), rng.uniform(-3, 3, 1200)])
    zone = {"half_tau": 2.5, "reach_h": 50.0 + 2 * 25.5 * 2.5, "reach_v": 15.0 + 2 * 3.0 * 2.5}
    got = near_pairs(pos, vel, **zone, r2_near=2500.0, h_near=15.0)
    want = brute_near(pos, vel, 2.5, zone["reach_h"], 2500.0, 15.0)
    assert len(want) > 500
    assert got.tolist() == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(-(2**62), 2**62), max_size=30), max_size=5))
def test_sorted_distinct_is_numpys_unique(runs):
    """Oracle: np.unique, on sorted runs (each window's keys) and on shuffled keys alike."""
    keys = np.array([k for run in runs for k in sorted(run)], np.int64)
    assert sorted_distinct(keys).tolist() == np.unique(keys).tolist()
    shuffled = np.random.default_rng(len(keys)).permutation(keys)
    assert sorted_distinct(shuffled).tolist() == np.unique(keys).tolist()


@pytest.mark.parametrize("threads", [True, False])
def test_near_pairs_at_merges_every_window(threads, monkeypatch):
    """Four windows (two on the second thread, when there is one) give the union of each window's pairs,
    each window's points moved to its time; the second thread really runs the later half."""
    rng = np.random.default_rng(5)
    pos = np.vstack([rng.uniform(0, 800, 400), rng.uniform(0, 800, 400), rng.uniform(30, 120, 400)])
    vel = np.vstack([rng.uniform(-18, 18, 400), rng.uniform(-18, 18, 400), rng.uniform(-3, 3, 400)])
    zone = {"half_tau": 2.5, "reach_h": 50.0 + 2 * 25.5 * 2.5, "reach_v": 15.0 + 2 * 3.0 * 2.5}
    times = [2.5, 7.5, 12.5, 17.5]
    ran_on: set[str] = set()
    real = neighbours.near_pairs

    def spy(*args, **kwargs):
        ran_on.add(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(neighbours, "near_pairs", spy)
    if not threads:
        monkeypatch.setattr(neighbours, "_pool", lambda: None)
    got = neighbours.near_pairs_at(pos, vel, times, **zone, r2_near=2500.0, h_near=15.0)
    want = sorted(
        {k for t in times for k in brute_near(pos + vel * t, vel, 2.5, zone["reach_h"], 2500.0, 15.0)}
    )
    assert len(want) > 200
    assert got.tolist() == want
    helper = {name for name in ran_on if name.startswith("utm6g-pairs")}
    assert bool(helper) == (threads and neighbours.cores() > 1)


@pytest.mark.skipif(neighbours.cores() < 2, reason="the second thread needs two cores")
def test_near_pairs_at_works_in_a_forked_child():
    """A child forked after the pool started has no thread behind its copy of it: it makes its own
    (reusing the copy would queue the windows for ever)."""
    pos = np.array([[0.0, 30.0, 900.0], [0.0, 0.0, 0.0], [50.0, 50.0, 50.0]])
    vel = np.zeros((3, 3))
    zone = {"half_tau": 1.0, "reach_h": 60.0, "reach_v": 20.0, "r2_near": 2500.0, "h_near": 15.0}
    assert neighbours.near_pairs_at(pos, vel, [0.5, 1.5], **zone).tolist() == [1]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(neighbours.near_pairs_at, (pos, vel, [0.5, 1.5]), zone).get(timeout=60)
    assert got.tolist() == [1]
