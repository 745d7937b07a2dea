"""The fleet's struct of arrays: rows reused, capacity doubled, ids apart from rows, misses loud."""

from __future__ import annotations

import numpy as np
import pytest

from sim.fleet import MODE, Fleet, Performance, Waypoints, gather, select

PERF = Performance(15.0, 4.0, 3.0, 2.0, 0.8)
PATH = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 40.0]])
STOP = np.array([True, True])


def _launch(fleet: Fleet, flight: int, *, cooperative: bool = True) -> int:
    return fleet.launch(flight, PATH, STOP, PERF, t_s=0.0, priority=1, cooperative=cooperative)


def test_capacity_doubles_and_state_survives_the_growth():
    fleet = Fleet(capacity=2)
    rows = [_launch(fleet, 100 + k) for k in range(5)]
    assert rows == [0, 1, 2, 3, 4]
    assert len(fleet.active) == 8
    assert fleet.flight[fleet.rows()].tolist() == [100, 101, 102, 103, 104]
    assert len(fleet) == 5


def test_a_landed_row_is_reused_and_its_id_forgotten():
    fleet = Fleet()
    for k in range(3):
        _launch(fleet, k)
    fleet.land(np.array([fleet.row_of(1)]))
    with pytest.raises(KeyError, match="flight 1 is not airborne"):
        fleet.row_of(1)
    assert _launch(fleet, 7) == 1
    rows, airborne = fleet.rows_of(np.array([0, 1, 7, 2]))
    assert rows.tolist() == [0, 1, 2] and airborne.tolist() == [True, False, True, True]


def test_modes_and_refusals():
    fleet = Fleet()
    assert fleet.mode[_launch(fleet, 0, cooperative=False)] == MODE["noncooperative"]
    with pytest.raises(ValueError, match="already airborne"):
        _launch(fleet, 0)
    with pytest.raises(ValueError, match="flight: must be >= 0"):
        _launch(fleet, -1)
    with pytest.raises(ValueError, match="flight: must fit int32"):
        _launch(fleet, 2**31)
    with pytest.raises(KeyError):
        fleet.row_of(10**9)


@pytest.mark.parametrize(
    ("rows", "run"),
    [([4, 5, 6], True), ([7], True), ([], False), ([4, 6], False), ([6, 5, 4], False), ([0, 2, 1, 3], False)],
)
def test_select_makes_a_slice_of_an_ascending_run_only(rows, run):
    """Oracle: fancy indexing with the rows; a slice (a view) only for one ascending contiguous run."""
    rows = np.array(rows, np.int64)
    sel = select(rows)
    assert isinstance(sel, slice) is run
    column = np.arange(30.0).reshape(10, 3)
    np.testing.assert_array_equal(gather(column, sel), column[rows])


def test_course_and_speed_are_the_waypoints_and_velocity_of_each_launch():
    """Oracle: the path's own numbers, computed here from the path the caller gave."""
    fleet = Fleet(capacity=2)
    paths = [np.array([[0, 0, 0], [0, 0, 40.0], [300, 400, 40]]), np.array([[10, 10, 50.0], [10, 70, 50]])]
    rows = [
        fleet.launch(k, p, np.zeros(len(p), bool), PERF, t_s=0.0, priority=1, cooperative=True, vel_mps=v)
        for k, (p, v) in enumerate(zip(paths, [None, np.array([3.0, 4.0, 0.0])], strict=True))
    ]
    fleet.ready()
    assert fleet.speed_h_mps[rows].tolist() == [0.0, 5.0]
    # x, y, z, previous x, y, leg unit x, y, leg length
    assert fleet.course[rows[0]].tolist() == [0.0, 0.0, 40.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert fleet.course[rows[1]].tolist() == [10.0, 70.0, 50.0, 10.0, 10.0, 0.0, 1.0, 60.0]
    fleet.wp_next[rows[0]] += 1
    fleet.set_course(np.array([rows[0]]))
    assert fleet.course[rows[0]].tolist() == [300.0, 400.0, 40.0, 0.0, 0.0, 0.6, 0.8, 500.0]


def test_legs_of_many_paths_match_each_leg_alone():
    """Oracle: hypot and division leg by leg; the batch update must give the same bits."""
    rng = np.random.default_rng(5)
    way = Waypoints(capacity=4)
    paths = [rng.uniform(-1000, 1000, (int(rng.integers(2, 6)), 3)) for _ in range(20)]
    starts = [way.add(p, np.zeros(len(p), bool))[0] for p in paths]
    way.update_legs()
    for start, p in zip(starts, paths, strict=True):
        for k in range(1, len(p)):
            dx, dy = p[k, 0] - p[k - 1, 0], p[k, 1] - p[k - 1, 1]
            length = np.hypot(dx, dy)
            assert way.leg[start + k].tolist() == [dx / length, dy / length, length]
