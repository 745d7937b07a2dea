"""The flight model: every airborne vehicle follows its waypoints (or its advisory) in one batch step.

Per tick and per vehicle: a desired velocity (towards the next waypoint at cruise speed, braking to rest
at a "stop" waypoint, vertical speed within the climb/descent rates; or the advisory velocity while one
is in force; a point ahead on the current leg is steered at, so a vehicle that drifted off returns to
the leg rather than cutting to the waypoint), then the speed change limited by the acceleration and the
heading change by the turn rate (below 1 m/s a multirotor turns on the spot, so the turn limit applies
only above it), then a semi-implicit Euler position update. A waypoint counts as passed inside a capture
radius: the turn radius ``v / omega`` or one step's travel, whichever is larger (fly-by), 1 m at a stop.
Layer: sim.
"""

from __future__ import annotations

import numpy as np

from sim.fleet import Fleet

__all__ = ["step"]

STOP_CAPTURE_M = 1.0
"""A stop waypoint (take-off column top, drop point, ground) is reached within this distance."""
CARROT_MIN_M = 50.0
"""Vehicles steer at a point at least this far ahead on their leg (pure pursuit of a carrot)."""
TURN_FREE_SPEED_MPS = 1.0
"""Below this horizontal speed the heading may change freely (a multirotor yaws in place)."""


def step(fleet: Fleet, rows: np.ndarray, dt_s: float) -> np.ndarray:
    """Advance ``rows`` by ``dt_s``; the rows that reached their last waypoint (landed), ascending."""
    if len(rows) == 0:
        return rows
    wp = fleet.wp_next[rows]
    target = fleet.waypoints.xyz[wp]
    stop = fleet.waypoints.stop[wp]
    pos, vel = fleet.pos_m[rows], fleet.vel_mps[rows]
    accel, omega = fleet.max_accel_mps2[rows], fleet.max_turn_rate_rps[rows]
    cruise = fleet.cruise_speed_mps[rows]
    want_h, want_vz = _desired(fleet, rows, pos, target, stop, cruise, dt_s)
    adv = fleet.adv_on[rows]
    if adv.any():
        a_vel = fleet.adv_vel_mps[rows[adv]]
        want_h[adv], want_vz[adv] = a_vel[:, :2], a_vel[:, 2]
    new_h = _limit_horizontal(vel[:, :2], want_h, accel * dt_s, omega * dt_s, slow_to_turn=stop & ~adv)
    dvz = np.clip(want_vz - vel[:, 2], -accel * dt_s, accel * dt_s)
    new_vel = np.column_stack([new_h, vel[:, 2] + dvz])
    new_pos = pos + new_vel * dt_s
    fleet.vel_mps[rows], fleet.pos_m[rows] = new_vel, new_pos
    reached = _reached(new_pos, target, stop, np.hypot(new_h[:, 0], new_h[:, 1]), omega, dt_s)
    reached &= ~adv  # under an advisory a vehicle is off its path: it resumes the same waypoint afterwards
    fleet.wp_next[rows[reached]] += 1
    return rows[reached & (fleet.wp_next[rows] >= fleet.wp_end[rows])]


def _desired(
    fleet: Fleet,
    rows: np.ndarray,
    pos: np.ndarray,
    target: np.ndarray,
    stop: np.ndarray,
    cruise: np.ndarray,
    dt_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Desired horizontal velocity (n, 2) and vertical speed (n,) towards each row's next waypoint."""
    d = target - pos
    dist_h = np.hypot(d[:, 0], d[:, 1])
    accel = fleet.max_accel_mps2[rows]
    brake = np.sqrt(2.0 * accel * dist_h)  # speed from which the vehicle stops in dist_h
    speed = np.where(stop, np.minimum(np.minimum(cruise, brake), dist_h / dt_s), cruise)
    reach_m = np.maximum(CARROT_MIN_M, 2.0 * cruise / fleet.max_turn_rate_rps[rows])
    aim = _carrot(fleet.waypoints.xyz[fleet.wp_next[rows] - 1, :2], target[:, :2], pos[:, :2], reach_m)
    to_aim = aim - pos[:, :2]
    aim_m = np.hypot(to_aim[:, 0], to_aim[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(aim_m[:, None] > 1e-9, to_aim / aim_m[:, None], 0.0)
    want_vz = np.clip(d[:, 2] / dt_s, -fleet.descent_rate_mps[rows], fleet.climb_rate_mps[rows])
    return unit * speed[:, None], want_vz


def _carrot(prev: np.ndarray, nxt: np.ndarray, pos: np.ndarray, reach_m: np.ndarray) -> np.ndarray:
    """The point ``reach_m`` along the leg ``prev -> nxt`` past the vehicle's projection on it (capped at
    ``nxt``): steering at it brings a vehicle that drifted off (an advisory, a wide turn) back onto the leg.
    """
    leg = nxt - prev
    length = np.hypot(leg[:, 0], leg[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(length[:, None] > 1e-9, leg / length[:, None], 0.0)
    along = np.clip(((pos - prev) * unit).sum(axis=1), 0.0, length) + reach_m
    return np.where((along >= length)[:, None], nxt, prev + unit * along[:, None])


def _limit_horizontal(
    vel_h: np.ndarray,
    want_h: np.ndarray,
    dv_max: np.ndarray,
    dpsi_max: np.ndarray,
    *,
    slow_to_turn: np.ndarray,
) -> np.ndarray:
    """The new horizontal velocity: speed within ``dv_max`` of the old, heading within ``dpsi_max``.

    Where ``slow_to_turn`` (approaching a stop), the speed wanted shrinks with the cosine of the heading
    error, so a vehicle that overshot brakes and yaws back instead of orbiting its stop.
    """
    speed = np.hypot(vel_h[:, 0], vel_h[:, 1])
    want = np.hypot(want_h[:, 0], want_h[:, 1])
    psi = np.arctan2(vel_h[:, 1], vel_h[:, 0])
    psi_want = np.where(want > 1e-9, np.arctan2(want_h[:, 1], want_h[:, 0]), psi)
    turn = (psi_want - psi + np.pi) % (2.0 * np.pi) - np.pi
    free = speed < TURN_FREE_SPEED_MPS
    want = np.where(slow_to_turn, want * np.maximum(np.cos(turn), 0.0), want)
    turn = np.where(free, turn, np.clip(turn, -dpsi_max, dpsi_max))
    new_speed = np.clip(want, speed - dv_max, speed + dv_max)
    new_psi = psi + turn
    return np.column_stack([new_speed * np.cos(new_psi), new_speed * np.sin(new_psi)])


def _reached(
    pos: np.ndarray, target: np.ndarray, stop: np.ndarray, speed_h: np.ndarray, omega: np.ndarray, dt_s: float
) -> np.ndarray:
    """Whether each row is within the capture distance of its waypoint (horizontal and vertical)."""
    d = target - pos
    dist_h = np.hypot(d[:, 0], d[:, 1])
    capture_h = np.where(stop, STOP_CAPTURE_M, np.maximum(speed_h / omega, speed_h * dt_s))
    capture_h = np.maximum(capture_h, STOP_CAPTURE_M)
    return (dist_h <= capture_h) & (np.abs(d[:, 2]) <= STOP_CAPTURE_M)
