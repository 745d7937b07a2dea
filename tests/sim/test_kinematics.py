"""The flight model: limits kept, waypoints followed, advisories flown, rows independent."""

from __future__ import annotations

import numpy as np
import pytest

from sim.fleet import Fleet, Performance
from sim.kinematics import ADVISORY_FLOOR_M, plan_velocity, step

DRONE = Performance(15.0, 4.0, 3.0, 2.0, np.radians(45.0))
EVTOL = Performance(50.0, 5.0, 4.0, 3.0, np.radians(15.0))


def _delivery_path(dx_m: float = 1200.0, dy_m: float = 400.0, z_m: float = 45.0):
    xyz = np.array([[0, 0, 0], [0, 0, z_m], [dx_m / 2, 0, z_m], [dx_m, dy_m, z_m], [dx_m, dy_m, 0]], float)
    stop = np.array([True, True, False, True, True])
    return xyz, stop


def _cruising(
    fleet: Fleet, flight: int, xyz: np.ndarray, perf: Performance = DRONE, priority: int = 10
) -> int:
    """A vehicle at the first of ``xyz``, at cruise speed along the first leg, no stop waypoints; its row."""
    leg = xyz[1] - xyz[0]
    return fleet.launch(
        flight,
        xyz,
        np.zeros(len(xyz), bool),
        perf,
        t_s=0.0,
        priority=priority,
        cooperative=True,
        vel_mps=leg / np.linalg.norm(leg) * perf.cruise_speed_mps,
    )


def _eastbound(fleet: Fleet, flight: int, z_m: float) -> int:
    """A drone cruising due east at ``z_m`` towards a waypoint 5 km away; its row."""
    return _cruising(fleet, flight, np.array([[0, 0, z_m], [5000, 0, z_m]], float))


def _fly(fleet: Fleet, rows: np.ndarray, *, steps: int, dt_s: float = 1.0):
    """Positions and velocities per step (steps, n, 3) until every row landed or ``steps`` ran out."""
    pos, vel, landed_at = [], [], {}
    for k in range(steps):
        live = rows[fleet.active[rows]]
        landed = step(fleet, live, dt_s)
        pos.append(fleet.pos_m[rows].copy())
        vel.append(fleet.vel_mps[rows].copy())
        for r in landed.tolist():
            landed_at[r] = (k + 1) * dt_s
        fleet.active[landed] = False
        if not fleet.active[rows].any():
            break
    return np.array(pos), np.array(vel), landed_at


def test_delivery_flight_lands_at_its_destination_within_the_limits():
    """Oracle: the type's own limits; the nominal duration (climb + cruise + descent) bounds the time."""
    fleet = Fleet()
    xyz, stop = _delivery_path()
    row = fleet.launch(1, xyz, stop, DRONE, t_s=0.0, priority=10, cooperative=True)
    pos, vel, landed_at = _fly(fleet, np.array([row]), steps=600)
    assert row in landed_at
    assert np.hypot(*(pos[-1, 0, :2] - xyz[-1, :2])) <= 1.0
    assert pos[-1, 0, 2] <= 1.0
    speed_h = np.hypot(vel[:, 0, 0], vel[:, 0, 1])
    assert speed_h.max() <= DRONE.cruise_speed_mps + 1e-9
    assert vel[:, 0, 2].max() <= DRONE.climb_rate_mps + 1e-9
    assert vel[:, 0, 2].min() >= -DRONE.descent_rate_mps - 1e-9
    speed_change = np.diff(np.concatenate([[0.0], speed_h]))  # the turn rate bounds the lateral part
    assert np.abs(speed_change).max() <= DRONE.max_accel_mps2 + 1e-9
    length_m = 600.0 + np.hypot(600.0, 400.0)
    nominal_s = 45.0 / 4.0 + length_m / 15.0 + 45.0 / 3.0
    assert nominal_s <= landed_at[row] <= 1.3 * nominal_s


def test_heading_changes_no_faster_than_the_turn_rate():
    """Oracle: an eVTOL at cruise turning a 90 degree corner changes heading <= omega * dt per step."""
    fleet = Fleet()
    xyz = np.array([[0, 0, 200], [3000, 0, 200], [3000, 3000, 200]], float)
    row = _cruising(fleet, 1, xyz, EVTOL, priority=50)
    _, vel, _ = _fly(fleet, np.array([row]), steps=150)
    heading = np.unwrap(np.arctan2(vel[:, 0, 1], vel[:, 0, 0]))
    assert np.abs(np.diff(heading)).max() <= EVTOL.max_turn_rate_rps + 1e-9
    assert heading[-1] == pytest.approx(np.pi / 2, abs=0.05)


def test_a_vehicle_under_advisory_flies_it_then_returns_to_its_waypoint():
    """Oracle: the advisory velocity is reached within the acceleration limit; afterwards the path resumes."""
    fleet = Fleet()
    row = _eastbound(fleet, 1, 50.0)
    fleet.adv_on[row], fleet.adv_vel_mps[row] = True, np.array([10.0, 10.0, 0.0])
    _fly(fleet, np.array([row]), steps=20)
    np.testing.assert_allclose(fleet.vel_mps[row], [10.0, 10.0, 0.0], atol=1e-9)
    off_track_m = fleet.pos_m[row, 1]
    assert off_track_m > 100.0
    fleet.adv_on[row] = False
    _fly(fleet, np.array([row]), steps=200)
    assert abs(fleet.pos_m[row, 1]) < off_track_m / 4
    assert fleet.vel_mps[row, 0] > 0.0


def test_a_descending_advisory_stops_at_the_floor_and_never_lowers_a_vehicle_below_it():
    """Held for two minutes at 2 m/s down: a vehicle at 60 m settles at ADVISORY_FLOOR_M (within one step's
    braking), one already at 10 m (just taken off) keeps its height; the horizontal part is flown."""
    fleet = Fleet()
    rows = np.array([_eastbound(fleet, 1, 60.0), _eastbound(fleet, 2, 10.0)])
    fleet.adv_on[rows], fleet.adv_vel_mps[rows] = True, np.array([10.0, 0.0, -2.0])
    pos, _, _ = _fly(fleet, rows, steps=120)
    assert pos[:, 0, 2].min() >= ADVISORY_FLOOR_M - DRONE.max_accel_mps2 and pos[-1, 0, 2] == pytest.approx(
        ADVISORY_FLOOR_M, abs=0.5
    )
    assert pos[:, 1, 2].min() >= 10.0 - DRONE.max_accel_mps2 and pos[-1, 1, 2] == pytest.approx(10.0, abs=0.5)
    np.testing.assert_allclose(fleet.vel_mps[rows, 0], 10.0, atol=1e-9)


def test_rows_step_independently_of_each_other():
    """Oracle: each vehicle flown alone; batching must not mix rows."""
    paths = [_delivery_path(1200.0, 400.0), _delivery_path(-800.0, 900.0, 75.0)]
    together = Fleet()
    rows = np.array(
        [together.launch(k, *p, DRONE, t_s=0.0, priority=0, cooperative=True) for k, p in enumerate(paths)]
    )
    both, _, _ = _fly(together, rows, steps=60)
    for k, p in enumerate(paths):
        alone = Fleet()
        one, _, _ = _fly(
            alone, np.array([alone.launch(k, *p, DRONE, t_s=0.0, priority=0, cooperative=True)]), steps=60
        )
        np.testing.assert_array_equal(both[:, k], one[:, 0])


def test_an_empty_fleet_steps_to_nothing():
    assert step(Fleet(), np.empty(0, np.int64), 1.0).size == 0


def test_a_contiguous_run_of_rows_and_scattered_rows_step_alike():
    """Oracle: the same vehicles flown in rows 0..2 (read and written as slices) and in rows 0, 2, 4
    with idle vehicles in between (gathered and scattered): identical trajectories, bit for bit."""
    paths = [
        _delivery_path(1200.0, 400.0),
        _delivery_path(-800.0, 900.0, 75.0),
        _delivery_path(300.0, -700.0),
    ]
    packed, spread = Fleet(), Fleet()
    packed_rows = np.array(
        [packed.launch(k, *p, DRONE, t_s=0.0, priority=0, cooperative=True) for k, p in enumerate(paths)]
    )
    spread_rows = []
    for k, p in enumerate(paths):
        spread_rows.append(spread.launch(k, *p, DRONE, t_s=0.0, priority=0, cooperative=True))
        spread.launch(100 + k, *_delivery_path(), DRONE, t_s=0.0, priority=0, cooperative=True)
    a, _, _ = _fly(packed, packed_rows, steps=200)
    b, _, _ = _fly(spread, np.array(spread_rows), steps=200)
    assert a.tobytes() == b.tobytes()


def test_plan_velocity_is_what_step_flies_once_on_its_leg():
    """Oracle: ``step`` itself. A vehicle cruising along a straight leg keeps the velocity that
    ``plan_velocity`` asks for; one pushed off the leg is steered back towards it, at cruise speed."""
    fleet = Fleet()
    xyz = np.array([[0, 0, 60], [4000, 0, 60]], float)
    rows = np.array(
        [
            fleet.launch(i, xyz, np.array([False, True]), DRONE, t_s=0.0, priority=10, cooperative=True)
            for i in (1, 2)
        ]
    )
    fleet.pos_m[rows] = [[500.0, 0.0, 60.0], [500.0, 200.0, 60.0]]
    fleet.vel_mps[rows] = [DRONE.cruise_speed_mps, 0.0, 0.0]
    fleet.speed_h_mps[rows] = DRONE.cruise_speed_mps
    want = plan_velocity(fleet, rows, fleet.pos_m[rows], 1.0)
    np.testing.assert_allclose(np.linalg.norm(want, axis=1), DRONE.cruise_speed_mps)
    step(fleet, rows, 1.0)
    np.testing.assert_allclose(fleet.vel_mps[rows[0]], want[0], atol=1e-9)
    assert want[1, 0] > 0.0 and want[1, 1] < 0.0  # forward along the leg and back towards it
