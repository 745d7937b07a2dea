"""The airborne fleet as a struct of numpy arrays, and the waypoint store its paths live in.

One row per slot; a slot is reused after its vehicle lands, and its capacity doubles when full (never a
per-vehicle ``np.append``). Flight ids are kept apart from row numbers; a missing id raises ``KeyError``.
Layer: sim; imports numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MODE", "Fleet", "Performance", "Waypoints", "gather", "select"]

_MAX_FLIGHT = int(np.iinfo(np.int32).max)

MODE = {"nominal": 0, "advisory": 1, "nonconforming": 2, "contingent": 3, "noncooperative": 4}
"""Vehicle modes as stored in ``Fleet.mode`` and the event log's ``states.mode`` column."""


def select(rows: np.ndarray) -> np.ndarray | slice:
    """``rows`` as a slice when they are one ascending contiguous run (indexing is then a view, not a
    gather), else ``rows`` itself.

    >>> select(np.array([3, 4, 5])), select(np.array([3, 5]))
    (slice(3, 6, None), array([3, 5]))
    """
    n = len(rows)
    if n and int(rows[-1]) - int(rows[0]) == n - 1 and (n < 3 or bool((rows[1:] > rows[:-1]).all())):
        return slice(int(rows[0]), int(rows[0]) + n)
    return rows


def gather(column: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
    """``column[rows]`` for a :func:`select` result: a view for a slice (read it, do not keep it past a
    write to the column), else a gathered copy (``take``: several times faster than fancy indexing on
    (n, 3) columns).

    >>> gather(np.arange(6.0).reshape(3, 2), np.array([2, 0])).tolist()
    [[4.0, 5.0], [0.0, 1.0]]
    """
    return column[rows] if isinstance(rows, slice) else column.take(rows, axis=0)


@dataclass(frozen=True, slots=True)
class Performance:
    """The limits the flight model keeps to (one vehicle type, or one drawn vehicle)."""

    cruise_speed_mps: float
    climb_rate_mps: float
    descent_rate_mps: float
    max_accel_mps2: float
    max_turn_rate_rps: float


class Waypoints:
    """Append-only store of every path's 3D waypoints plus a "stop here" flag (grows by doubling).

    ``leg`` holds, for each waypoint but a path's first, the horizontal unit vector and length of the
    leg that ends there (``(ux, uy, length_m)``, the unit vector 0 on a vertical leg), so the flight
    model need not recompute them every tick; :meth:`update_legs` fills it for the waypoints added
    since (in one batch, rather than per path).

    >>> w = Waypoints()
    >>> w.add(np.array([[0, 0, 0], [0, 0, 45.0], [30, 40, 45]]), np.array([True, False, True]))
    (0, 3)
    >>> w.update_legs()
    >>> w.xyz[1].tolist(), bool(w.stop[0]), w.leg[1].tolist(), w.leg[2].tolist()
    ([0.0, 0.0, 45.0], True, [0.0, 0.0, 0.0], [0.6, 0.8, 50.0])
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.xyz = np.zeros((capacity, 3))
        self.stop = np.zeros(capacity, bool)
        self.leg = np.zeros((capacity, 3))
        self._used = 0
        self._legs = 1  # leg[1 : _legs] is up to date (row 0 starts a path)

    def add(self, xyz: np.ndarray, stop: np.ndarray) -> tuple[int, int]:
        """Store one path; its ``[start, end)`` rows."""
        n = len(xyz)
        while self._used + n > len(self.xyz):
            self.xyz = np.concatenate([self.xyz, np.zeros_like(self.xyz)])
            self.stop = np.concatenate([self.stop, np.zeros_like(self.stop)])
            self.leg = np.concatenate([self.leg, np.zeros_like(self.leg)])
        start = self._used
        self.xyz[start : start + n], self.stop[start : start + n] = xyz, stop
        self._used += n
        return start, start + n

    def update_legs(self) -> None:
        """Fill ``leg`` for the waypoints added since the last call (a path's first row gets a leg from
        the previous path's end, which nothing reads)."""
        a, b = self._legs, self._used
        if b <= a:
            return
        ux, uy = self.xyz[a:b, 0] - self.xyz[a - 1 : b - 1, 0], self.xyz[a:b, 1] - self.xyz[a - 1 : b - 1, 1]
        length = np.hypot(ux, uy)
        long = length > 1e-9
        leg = self.leg[a:b]
        leg[:, 0] = np.divide(ux, length, out=np.zeros_like(ux), where=long)
        leg[:, 1] = np.divide(uy, length, out=np.zeros_like(uy), where=long)
        leg[:, 2] = length
        self._legs = b


class Fleet:
    """Airborne vehicles: state, limits, path cursor, advisory and received picture, one row each.

    Columns are meaningful only where ``active``. ``rows()`` lists active rows in ascending order, which
    is the fixed order every batch operation uses. ``course`` and ``speed_h_mps`` are derived columns the
    flight model keeps (filled for new vehicles by :meth:`ready`): only the flight model moves vehicles.
    """

    _FLOAT3 = ("pos_m", "vel_mps", "adv_vel_mps", "cmd_vel_mps", "rx_pos_m", "rx_vel_mps")
    _FLOAT = (
        "cruise_speed_mps",
        "climb_rate_mps",
        "descent_rate_mps",
        "max_accel_mps2",
        "max_turn_rate_rps",
        "adv_until_s",
        "cmd_t_s",
        "rx_t_s",
        "takeoff_s",
        "speed_h_mps",
    )
    _INT = ("wp_next", "wp_end", "priority")
    _BOOL = ("active", "cooperative", "evtol", "adv_on", "rx_valid", "course_stop")
    COURSE = ("x_m", "y_m", "z_m", "prev_x_m", "prev_y_m", "leg_ux", "leg_uy", "leg_m")
    """``course`` columns: the next waypoint, the previous one (x, y) and the leg between them (unit
    vector and length), copied from ``waypoints`` when ``wp_next`` changes (the flight model reads them
    every tick)."""

    def __init__(self, capacity: int = 256) -> None:
        self.waypoints = Waypoints(max(16, capacity * 8))
        self._row_of = np.full(capacity, -1, np.int64)  # flight id -> row; -1 = not airborne (never exposed)
        self._airborne = 0
        self._free: list[int] = []
        self._unready: list[int] = []
        self._cap = 0
        self._grow(capacity)

    pos_m: np.ndarray
    vel_mps: np.ndarray
    adv_vel_mps: np.ndarray
    cmd_vel_mps: np.ndarray  # the service side: the last advisory velocity sent to the vehicle
    rx_pos_m: np.ndarray  # rx_*: the received picture, newest report per vehicle (CD input on ideal comms)
    rx_vel_mps: np.ndarray
    cruise_speed_mps: np.ndarray
    climb_rate_mps: np.ndarray
    descent_rate_mps: np.ndarray
    max_accel_mps2: np.ndarray
    max_turn_rate_rps: np.ndarray
    adv_until_s: np.ndarray
    cmd_t_s: np.ndarray  # ... and when it was sent (-inf: never)
    rx_t_s: np.ndarray
    takeoff_s: np.ndarray
    flight: np.ndarray  # int32
    wp_next: np.ndarray
    wp_end: np.ndarray
    priority: np.ndarray
    active: np.ndarray
    cooperative: np.ndarray
    evtol: np.ndarray  # a large target for network sensing (its RCS class)
    adv_on: np.ndarray
    rx_valid: np.ndarray
    mode: np.ndarray
    course: np.ndarray  # (capacity, 8): see COURSE
    course_stop: np.ndarray  # the next waypoint is a stop
    speed_h_mps: np.ndarray  # hypot of vel_mps[:, :2], kept with it by launch and the flight model

    def __len__(self) -> int:
        return self._airborne

    def _grow(self, capacity: int) -> None:
        old = self._cap
        for name in self._FLOAT3:
            self._extend(name, np.zeros((capacity, 3)), old)
        for name in self._FLOAT:
            self._extend(name, np.zeros(capacity), old)
        for name in self._INT:
            self._extend(name, np.zeros(capacity, np.int64), old)
        # int32, as in the event log: batches of ids are written without a range check or a cast
        self._extend("flight", np.zeros(capacity, np.int32), old)
        for name in self._BOOL:
            self._extend(name, np.zeros(capacity, bool), old)
        self._extend("mode", np.zeros(capacity, np.int8), old)
        self._extend("course", np.zeros((capacity, len(self.COURSE))), old)
        self._free.extend(range(capacity - 1, old - 1, -1))  # pop() hands out the lowest free row first
        self._cap = capacity

    def _extend(self, name: str, fresh: np.ndarray, old: int) -> None:
        if old:
            fresh[:old] = getattr(self, name)
        setattr(self, name, fresh)

    def rows(self) -> np.ndarray:
        """Active rows, ascending."""
        return self.active.nonzero()[0]

    def row_of(self, flight: int) -> int:
        """The row of an airborne flight; ``KeyError`` when it is not airborne."""
        row = int(self._row_of[flight]) if 0 <= flight < len(self._row_of) else -1
        if row < 0:
            raise KeyError(f"flight {flight} is not airborne")
        return row

    def rows_of(self, flight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the airborne ones among ``flight`` ids, and the mask saying which are airborne.

        >>> fleet = Fleet()
        >>> perf = Performance(10.0, 3.0, 3.0, 2.0, 1.0)
        >>> path, stop = np.zeros((2, 3)), np.ones(2, bool)
        >>> _ = fleet.launch(7, path, stop, perf, t_s=0.0, priority=0, cooperative=True)
        >>> rows, airborne = fleet.rows_of(np.array([7, 3, 99]))
        >>> rows.tolist(), airborne.tolist()
        ([0], [True, False, False])
        """
        flight = np.asarray(flight, np.int64)
        n = len(flight)
        if n and int(flight.min()) >= 0 and int(flight.max()) < len(self._row_of):
            rows = self._row_of.take(flight)
        else:
            known = (flight >= 0) & (flight < len(self._row_of))
            rows = np.full(n, -1, np.int64)
            rows[known] = self._row_of[flight[known]]
        airborne = rows >= 0
        return (rows if airborne.all() else rows[airborne]), airborne

    def launch(
        self,
        flight: int,
        path_xyz: np.ndarray,
        stop: np.ndarray,
        perf: Performance,
        *,
        t_s: float,
        priority: int,
        cooperative: bool,
        vel_mps: np.ndarray | None = None,
        evtol: bool = False,
    ) -> int:
        """Put a vehicle at its path's first waypoint, heading for the second; its row."""
        if flight < 0:
            raise ValueError(f"flight: must be >= 0 ({flight})")
        if flight > _MAX_FLIGHT:
            raise ValueError(f"flight: must fit int32, as in the event log ({flight})")
        if flight >= len(self._row_of):
            grown = np.full(max(2 * len(self._row_of), flight + 1), -1, np.int64)
            grown[: len(self._row_of)] = self._row_of
            self._row_of = grown
        if self._row_of[flight] >= 0:
            raise ValueError(f"flight {flight}: already airborne (row {self._row_of[flight]})")
        if not self._free:
            self._grow(2 * self._cap)
        row = self._free.pop()
        start, end = self.waypoints.add(path_xyz, stop)
        self._row_of[flight] = row
        self._airborne += 1
        self.flight[row], self.active[row], self.cooperative[row] = flight, True, cooperative
        self.evtol[row] = evtol
        self.pos_m[row] = path_xyz[0]
        self.vel_mps[row] = 0.0 if vel_mps is None else vel_mps
        self.wp_next[row], self.wp_end[row] = start + 1, end
        self._unready.append(row)  # course and speed_h_mps: by ready(), in one batch
        self.cruise_speed_mps[row] = perf.cruise_speed_mps
        self.climb_rate_mps[row] = perf.climb_rate_mps
        self.descent_rate_mps[row] = perf.descent_rate_mps
        self.max_accel_mps2[row] = perf.max_accel_mps2
        self.max_turn_rate_rps[row] = perf.max_turn_rate_rps
        self.priority[row], self.takeoff_s[row] = priority, t_s
        self.adv_on[row], self.rx_valid[row] = False, False
        self.cmd_t_s[row] = -np.inf
        self.mode[row] = MODE["nominal"] if cooperative else MODE["noncooperative"]
        return row

    def ready(self) -> None:
        """Fill ``course`` and ``speed_h_mps`` of the vehicles launched since the last call."""
        if self._unready:
            rows = np.array(self._unready)
            self._unready.clear()
            self.speed_h_mps[rows] = np.hypot(self.vel_mps[rows, 0], self.vel_mps[rows, 1])
            self.set_course(rows)

    def set_course(self, rows: np.ndarray) -> None:
        """Refresh ``course`` and ``course_stop`` of ``rows`` from their ``wp_next``."""
        way = self.waypoints
        way.update_legs()
        wp = np.minimum(self.wp_next[rows], len(way.xyz) - 1)
        target, prev = way.xyz.take(wp, axis=0), way.xyz.take(wp - 1, axis=0)
        self.course[rows] = np.concatenate([target, prev[:, :2], way.leg.take(wp, axis=0)], axis=1)
        self.course_stop[rows] = way.stop.take(wp)

    def land(self, rows: np.ndarray) -> None:
        """Free the rows of vehicles that landed (their slots are reused by later launches)."""
        self.active[rows] = False
        self._row_of[self.flight[rows]] = -1
        self._airborne -= len(rows)
        self._free.extend(rows.tolist())
        self._free.sort(reverse=True)
