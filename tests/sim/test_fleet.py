"""The fleet's struct of arrays: rows reused, capacity doubled, ids apart from rows, misses loud."""

from __future__ import annotations

import numpy as np
import pytest

from sim.fleet import MODE, Fleet, Performance

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
    with pytest.raises(KeyError):
        fleet.row_of(10**9)
