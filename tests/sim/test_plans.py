"""Flight plans: the filed volumes cover the nominal trajectory; variants keep what they should."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from airspace.cells import Layer
from airspace.volumes import Volume3D, Volume4D
from sim.fleet import Fleet, Performance
from sim.kinematics import step
from sim.plans import FlightPlan, FlightRequest

EPOCH = datetime(2026, 12, 1, 2, tzinfo=UTC)
DRONE = Performance(15.0, 4.0, 3.0, 2.0, np.radians(45.0))
LOW, HIGH = Layer("d30-60", 30.0, 60.0), Layer("d90-120", 90.0, 120.0)
ROUTE = ((0.0, 0.0), (800.0, 0.0), (1400.0, 900.0))


def _plan(layer: Layer = LOW) -> FlightPlan:
    request = FlightRequest(
        flight=3,
        kind="delivery",
        vehicle="multirotor",
        operator="delivery-hub",
        origin="hub",
        destination="",
        origin_xy_m=ROUTE[0],
        destination_xy_m=ROUTE[-1],
        layer=layer.name,
        requested_s=120.0,
        submit_s=0.0,
        cooperative=True,
        priority=10,
    )
    return FlightPlan(request, 120.0, ROUTE, layer, DRONE)


def _nominal(plan: FlightPlan, t_s: float) -> np.ndarray:
    """Where the nominal timetable puts the vehicle at ``t_s`` (independent of the volume builder)."""
    xyz, _ = plan.path()
    legs = np.diff(xyz, axis=0)
    rate = np.array(
        [DRONE.climb_rate_mps] + [DRONE.cruise_speed_mps] * (len(legs) - 2) + [DRONE.descent_rate_mps]
    )
    dur = np.linalg.norm(legs, axis=1) / rate
    ends = np.concatenate([[0.0], np.cumsum(dur)]) + plan.takeoff_s
    k = min(int(np.searchsorted(ends, t_s, side="right")) - 1, len(legs) - 1)
    return xyz[k] + legs[k] * min(1.0, (t_s - ends[k]) / dur[k])


def test_volumes_cover_the_nominal_trajectory_at_every_second():
    """Oracle: the timetable walked leg by leg; each point (as a 1 cm disc at that instant) meets a volume."""
    plan = _plan()
    volumes = plan.volumes(EPOCH, lateral_buffer_m=50.0, time_buffer_s=30.0)
    for t_s in np.arange(plan.takeoff_s, plan.takeoff_s + plan.duration_s, 1.0):
        x, y, z = _nominal(plan, float(t_s))
        at = EPOCH + timedelta(seconds=float(t_s))
        probe = Volume4D(
            Volume3D.circle(x, y, 0.01, z_lower_m=z, z_upper_m=z + 0.01), at, at + timedelta(milliseconds=1)
        )
        assert any(v.intersects(probe) for v in volumes), t_s


def test_takeoff_and_landing_columns_reach_the_ground_and_the_layer_top():
    plan = _plan()
    volumes = plan.volumes(EPOCH, lateral_buffer_m=50.0, time_buffer_s=30.0)
    first, last = volumes[0], volumes[-1]
    assert (first.volume.z_lower_m, first.volume.z_upper_m) == (0.0, LOW.z_upper_m)
    assert (last.volume.z_lower_m, last.volume.z_upper_m) == (0.0, LOW.z_upper_m)
    assert first.time_start == EPOCH + timedelta(seconds=120.0 - 30.0)
    assert last.time_end == EPOCH + timedelta(seconds=120.0 + plan.duration_s + 30.0)


@pytest.mark.parametrize("delay_s", [0.0, 45.0, 1800.0])
def test_a_shifted_plan_files_the_same_volumes_later(delay_s):
    plan = _plan()
    was = plan.volumes(EPOCH, lateral_buffer_m=50.0, time_buffer_s=30.0)
    now = plan.shifted(delay_s).volumes(EPOCH, lateral_buffer_m=50.0, time_buffer_s=30.0)
    for a, b in zip(was, now, strict=True):
        assert b.volume == a.volume
        assert (b.time_start - a.time_start).total_seconds() == pytest.approx(delay_s, abs=1e-6)


def test_another_layer_moves_the_cruise_and_lengthens_the_climb():
    plan, higher = _plan(), _plan().on_layer(HIGH)
    assert higher.cruise_z_m == 105.0
    assert higher.climb_s > plan.climb_s
    assert higher.cruise_s == plan.cruise_s
    xyz, stop = higher.path()
    assert xyz[1:-1, 2].tolist() == [105.0] * (len(xyz) - 2)
    assert stop.tolist() == [True, True, False, True, True]


def _round_trip(return_layer: Layer | None) -> FlightPlan:
    """Out along ROUTE on LOW and straight back to the pad, on ``return_layer`` if given."""
    base = _plan()
    request = replace(base.request, return_xy_m=ROUTE[0], return_layer=None if return_layer is None else "x")
    return FlightPlan(request, 120.0, (*ROUTE, ROUTE[0]), LOW, DRONE, return_layer)


def _inside(volumes: tuple[Volume4D, ...], xyz: np.ndarray, t_s: float) -> bool:
    at = EPOCH + timedelta(seconds=t_s)
    x, y, z = xyz
    probe = Volume4D(
        Volume3D.circle(x, y, 0.01, z_lower_m=z, z_upper_m=z + 0.01), at, at + timedelta(milliseconds=1)
    )
    return any(v.intersects(probe) for v in volumes)


def test_a_round_trip_changes_layer_at_its_destination():
    """The way back flies HIGH: the destination is a stop on each layer, corridors before the change
    column are on LOW and after it on HIGH, and the column spans both in between."""
    plan = _round_trip(HIGH)
    xyz, stop = plan.path()
    k = plan.turn + 1  # the ground point ahead
    assert xyz[k].tolist() == [*ROUTE[-1], 45.0] and xyz[k + 1].tolist() == [*ROUTE[-1], 105.0]
    assert stop[k] and stop[k + 1] and stop.sum() == 6
    volumes = plan.volumes(EPOCH, lateral_buffer_m=50.0, time_buffer_s=30.0)
    bands = [(v.volume.z_lower_m, v.volume.z_upper_m) for v in volumes]
    change = bands.index((LOW.z_lower_m, HIGH.z_upper_m))
    assert set(bands[1:change]) == {(LOW.z_lower_m, LOW.z_upper_m)}
    assert set(bands[change + 1 : -1]) == {(HIGH.z_lower_m, HIGH.z_upper_m)}
    assert bands[-1] == (0.0, HIGH.z_upper_m)
    assert plan.duration_s == pytest.approx(
        45.0 / 4.0
        + (800.0 + np.hypot(600.0, 900.0) + np.hypot(1400.0, 900.0)) / 15.0
        + 60.0 / 4.0
        + 15.0 / 2.0
        + 105.0 / 3.0
    )


@pytest.mark.parametrize("return_layer", [None, HIGH])
def test_the_flight_model_stays_inside_its_round_trip_volumes(return_layer):
    """Oracle: the flight model itself (turn, acceleration and rate limits) flying the plan's waypoints;
    every second of the flight is inside a filed volume active then, and it lands within the buffer."""
    plan = _round_trip(return_layer)
    volumes = plan.volumes(EPOCH, lateral_buffer_m=50.0, time_buffer_s=30.0)
    fleet = Fleet()
    xyz, stop = plan.path()
    row = np.array([fleet.launch(3, xyz, stop, DRONE, t_s=plan.takeoff_s, priority=10, cooperative=True)])
    t_s = plan.takeoff_s
    while fleet.active[row[0]]:
        landed = step(fleet, row, 1.0)
        t_s += 1.0
        assert _inside(volumes, fleet.pos_m[row[0]], t_s), t_s
        fleet.active[landed] = False
    assert t_s <= plan.takeoff_s + plan.duration_s + 30.0
