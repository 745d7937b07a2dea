"""The flight model: every airborne vehicle follows its waypoints (or its advisory) in one batch step.

Per tick and per vehicle: a desired velocity (towards the next waypoint at cruise speed, braking to rest
at a "stop" waypoint, vertical speed within the climb/descent rates; or the advisory velocity while one
is in force, never below :data:`ADVISORY_FLOOR_M`; a point ahead on the current leg is steered at, so a
vehicle that drifted off returns to the leg rather than cutting to the waypoint), then the speed change
limited by the acceleration and the heading change by the turn rate (below 1 m/s a multirotor turns on
the spot, so the turn limit applies only above it), then a semi-implicit Euler position update. A
waypoint counts as passed inside a capture radius: the turn radius ``v / omega`` or one step's travel,
whichever is larger (fly-by), 1 m at a stop.
Layer: sim.
"""

from __future__ import annotations

import numpy as np

from sim.fleet import Fleet, select

__all__ = ["step"]

STOP_CAPTURE_M = 1.0
"""A stop waypoint (take-off column top, drop point, ground) is reached within this distance."""
CARROT_MIN_M = 50.0
"""Vehicles steer at a point at least this far ahead on their leg (pure pursuit of a carrot)."""
TURN_FREE_SPEED_MPS = 1.0
"""Below this horizontal speed the heading may change freely (a multirotor yaws in place)."""
ADVISORY_FLOOR_M = 20.0
"""An advisory never takes a vehicle below this height (a vehicle already lower holds its height): a
descending resolution held while the conflict lasts must not fly it into the ground."""


def step(fleet: Fleet, rows: np.ndarray, dt_s: float) -> np.ndarray:
    """Advance ``rows`` by ``dt_s``; the rows that reached their last waypoint (landed), ascending.

    Column by column on 1-D arrays (row-major (n, 3) arithmetic and 2-D fancy indexing cost several
    times more); ``rows`` that form one contiguous run are read and written as slices.
    """
    n = len(rows)
    if n == 0:
        return rows
    fleet.ready()
    sel = select(rows)
    course = fleet.course[sel] if isinstance(sel, slice) else fleet.course.take(sel, axis=0)
    tx, ty, tz = course[:, 0], course[:, 1], course[:, 2]
    stop = fleet.course_stop[sel]
    pos, vel = fleet.pos_m[sel], fleet.vel_mps[sel]  # views when sel is a slice: read before written
    x, y, z, vx, vy, vz = pos[:, 0], pos[:, 1], pos[:, 2], vel[:, 0], vel[:, 1], vel[:, 2]
    accel, omega = fleet.max_accel_mps2[sel], fleet.max_turn_rate_rps[sel]
    cruise = fleet.cruise_speed_mps[sel]
    adv = fleet.adv_on[sel]
    any_adv, any_stop = bool(adv.any()), bool(stop.any())
    # desired velocity: towards the carrot at cruise speed, braking to rest at a stop waypoint
    if any_stop:
        dist_h = np.hypot(tx - x, ty - y)
        brake = np.sqrt(2.0 * accel * dist_h)  # speed from which the vehicle stops in dist_h
        speed = np.where(stop, np.minimum(np.minimum(cruise, brake), dist_h / dt_s), cruise)
    else:
        speed = cruise
    wx, wy = _towards_carrot(course, x, y, cruise, omega)
    wx *= speed
    wy *= speed
    want_vz = ((tz - z) / dt_s).clip(-fleet.descent_rate_mps[sel], fleet.climb_rate_mps[sel])
    if any_adv:
        k = adv.nonzero()[0]
        a_vel = fleet.adv_vel_mps.take(rows[k], axis=0)
        zk = z[k]
        wx[k], wy[k] = a_vel[:, 0], a_vel[:, 1]
        want_vz[k] = np.maximum(a_vel[:, 2], (np.minimum(zk, ADVISORY_FLOOR_M) - zk) / dt_s)
    slow_to_turn = stop & ~adv if any_stop else None
    speed = fleet.speed_h_mps[sel]
    nvx, nvy = _limit_horizontal(vx, vy, speed, wx, wy, accel * dt_s, omega * dt_s, slow_to_turn=slow_to_turn)
    dv_max = accel * dt_s
    nvz = (want_vz - vz).clip(-dv_max, dv_max)
    nvz += vz
    nx, ny, nz = x + nvx * dt_s, y + nvy * dt_s, z + nvz * dt_s
    speed_h = np.hypot(nvx, nvy)
    for c, (p, v) in enumerate(((nx, nvx), (ny, nvy), (nz, nvz))):
        fleet.pos_m[sel, c], fleet.vel_mps[sel, c] = p, v
    fleet.speed_h_mps[sel] = speed_h
    reached = _reached(tx - nx, ty - ny, tz - nz, stop if any_stop else None, speed_h, omega, dt_s)
    if any_adv:
        reached &= ~adv  # under an advisory a vehicle is off its path: it resumes the same waypoint later
    k = reached.nonzero()[0]
    if len(k) == 0:
        return rows[:0]
    done = rows[k]
    fleet.wp_next[done] += 1
    landed = fleet.wp_next[done] >= fleet.wp_end[done]
    if not landed.all():
        fleet.set_course(done[~landed])
    return done[landed]


def _towards_carrot(
    course: np.ndarray, x: np.ndarray, y: np.ndarray, cruise: np.ndarray, omega: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The horizontal unit vector from ``(x, y)`` to the carrot on each row's current leg (``course`` rows
    of :attr:`Fleet.course`), the carrot leading by two turn radii at cruise speed (at least
    :data:`CARROT_MIN_M`)."""
    reach_m = np.maximum(CARROT_MIN_M, 2.0 * cruise / omega)
    ax, ay = _carrot(course[:, 3], course[:, 4], course[:, 0], course[:, 1], course[:, 5:], x, y, reach_m)
    ax -= x
    ay -= y
    return _unit(ax, ay, np.hypot(ax, ay))


def _unit(ux: np.ndarray, uy: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ux, uy) / length`` in place where ``length > 1e-9``, else 0."""
    long = length > 1e-9
    if long.all():
        ux /= length
        uy /= length
    else:
        np.divide(ux, length, out=ux, where=long)
        np.divide(uy, length, out=uy, where=long)
        ux[~long] = 0.0
        uy[~long] = 0.0
    return ux, uy


def _carrot(
    px: np.ndarray,
    py: np.ndarray,
    nx: np.ndarray,
    ny: np.ndarray,
    leg: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    reach_m: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The point ``reach_m`` along the leg ``p -> n`` past the vehicle's projection on it (capped at ``n``):
    steering at it brings a vehicle that drifted off (an advisory, a wide turn) back onto the leg.
    ``leg`` is the leg's (ux, uy, length) from :class:`~sim.fleet.Waypoints`."""
    ux, uy, length = leg[:, 0], leg[:, 1], leg[:, 2]
    along = ((x - px) * ux + (y - py) * uy).clip(0.0, length)
    along += reach_m
    past = along >= length
    ax, ay = ux * along, uy * along
    ax += px
    ay += py
    if past.any():
        ax[past], ay[past] = nx[past], ny[past]
    return ax, ay


def _limit_horizontal(
    vx: np.ndarray,
    vy: np.ndarray,
    speed: np.ndarray,
    wx: np.ndarray,
    wy: np.ndarray,
    dv_max: np.ndarray,
    dpsi_max: np.ndarray,
    *,
    slow_to_turn: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The new horizontal velocity: speed within ``dv_max`` of the old (``speed``, its norm), heading
    within ``dpsi_max``.

    Where ``slow_to_turn`` (approaching a stop), the speed wanted shrinks with the cosine of the heading
    error, so a vehicle that overshot brakes and yaws back instead of orbiting its stop.
    """
    want = np.hypot(wx, wy)
    psi = np.arctan2(vy, vx)
    turn = np.arctan2(wy, wx)
    still = ~(want > 1e-9)
    if still.any():
        turn[still] = psi[still]
    # (turn - psi + pi) % 2 pi - pi, without the slow floor-mod: turn - psi + pi lies in [-pi, 3 pi], where
    # the mod subtracts 2 pi (exactly, Sterbenz) above 2 pi and adds it (one rounding, as mod does) below 0
    turn -= psi
    turn += np.pi
    np.subtract(turn, 2.0 * np.pi, out=turn, where=turn >= 2.0 * np.pi)
    np.add(turn, 2.0 * np.pi, out=turn, where=turn < 0.0)
    turn -= np.pi
    if slow_to_turn is not None and slow_to_turn.any():
        want = np.where(slow_to_turn, want * np.maximum(np.cos(turn), 0.0), want)
    turn = np.where(speed < TURN_FREE_SPEED_MPS, turn, turn.clip(-dpsi_max, dpsi_max))
    new_speed = want.clip(speed - dv_max, speed + dv_max)
    turn += psi
    return new_speed * np.cos(turn), new_speed * np.sin(turn)


def _reached(
    dx: np.ndarray,
    dy: np.ndarray,
    dz: np.ndarray,
    stop: np.ndarray | None,
    speed_h: np.ndarray,
    omega: np.ndarray,
    dt_s: float,
) -> np.ndarray:
    """Whether each row is within the capture distance of its waypoint (horizontal and vertical)."""
    capture_h = np.maximum(speed_h / omega, speed_h * dt_s)
    if stop is not None:
        capture_h[stop] = STOP_CAPTURE_M
    np.maximum(capture_h, STOP_CAPTURE_M, out=capture_h)
    # hypot only where it can pass: hypot(dx, dy) >= max(|dx|, |dy|) (to within 1 ulp) elsewhere
    loose = capture_h * (1.0 + 2.0**-40)
    near = np.abs(dz) <= STOP_CAPTURE_M
    near &= np.abs(dx) <= loose
    near &= np.abs(dy) <= loose
    k = near.nonzero()[0]
    reached = np.zeros(len(dx), bool)
    reached[k] = np.hypot(dx.take(k), dy.take(k)) <= capture_h.take(k)
    return reached


def plan_velocity(fleet: Fleet, rows: np.ndarray, pos_m: np.ndarray, dt_s: float) -> np.ndarray:
    """The velocity (n, 3) that ``rows``, at ``pos_m``, would ask for off advisory: towards the carrot on
    the current leg at cruise speed (no braking for a stop), vertical speed towards the waypoint's height
    within the climb/descent rates, as :func:`step` would (its turn and acceleration limits aside)."""
    fleet.ready()
    course = fleet.course.take(rows, axis=0)
    x, y, z = pos_m[:, 0], pos_m[:, 1], pos_m[:, 2]
    cruise, omega = fleet.cruise_speed_mps.take(rows), fleet.max_turn_rate_rps.take(rows)
    wx, wy = _towards_carrot(course, x, y, cruise, omega)
    out = np.empty((len(rows), 3))
    out[:, 0], out[:, 1] = wx * cruise, wy * cruise
    out[:, 2] = ((course[:, 2] - z) / dt_s).clip(
        -fleet.descent_rate_mps.take(rows), fleet.climb_rate_mps.take(rows)
    )
    return out
