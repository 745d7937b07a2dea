"""The airborne fleet as a struct of numpy arrays, and the waypoint store its paths live in.

One row per slot; a slot is reused after its vehicle lands, and its capacity doubles when full (never a
per-vehicle ``np.append``). Flight ids are kept apart from row numbers; a missing id raises ``KeyError``.
Layer: sim; imports numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MODE", "Fleet", "Performance", "Waypoints"]

MODE = {"nominal": 0, "advisory": 1, "nonconforming": 2, "contingent": 3, "noncooperative": 4}
"""Vehicle modes as stored in ``Fleet.mode`` and the event log's ``states.mode`` column."""


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

    >>> w = Waypoints()
    >>> w.add(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 45.0]]), np.array([True, False]))
    (0, 2)
    >>> w.xyz[1].tolist(), bool(w.stop[0])
    ([0.0, 0.0, 45.0], True)
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.xyz = np.zeros((capacity, 3))
        self.stop = np.zeros(capacity, bool)
        self._used = 0

    def add(self, xyz: np.ndarray, stop: np.ndarray) -> tuple[int, int]:
        """Store one path; its ``[start, end)`` rows."""
        n = len(xyz)
        while self._used + n > len(self.xyz):
            self.xyz = np.concatenate([self.xyz, np.zeros_like(self.xyz)])
            self.stop = np.concatenate([self.stop, np.zeros_like(self.stop)])
        start = self._used
        self.xyz[start : start + n], self.stop[start : start + n] = xyz, stop
        self._used += n
        return start, start + n


class Fleet:
    """Airborne vehicles: state, limits, path cursor, advisory and received picture, one row each.

    Columns are meaningful only where ``active``. ``rows()`` lists active rows in ascending order, which
    is the fixed order every batch operation uses.
    """

    _FLOAT3 = ("pos_m", "vel_mps", "adv_vel_mps", "rx_pos_m", "rx_vel_mps")
    _FLOAT = (
        "cruise_speed_mps",
        "climb_rate_mps",
        "descent_rate_mps",
        "max_accel_mps2",
        "max_turn_rate_rps",
        "adv_until_s",
        "rx_t_s",
        "takeoff_s",
    )
    _INT = ("flight", "wp_next", "wp_end", "priority")
    _BOOL = ("active", "cooperative", "adv_on", "rx_valid")

    def __init__(self, capacity: int = 256) -> None:
        self.waypoints = Waypoints(max(16, capacity * 8))
        self._row_of = np.full(capacity, -1, np.int64)  # flight id -> row; -1 = not airborne (never exposed)
        self._airborne = 0
        self._free: list[int] = []
        self._cap = 0
        self._grow(capacity)

    pos_m: np.ndarray
    vel_mps: np.ndarray
    adv_vel_mps: np.ndarray
    rx_pos_m: np.ndarray
    rx_vel_mps: np.ndarray
    cruise_speed_mps: np.ndarray
    climb_rate_mps: np.ndarray
    descent_rate_mps: np.ndarray
    max_accel_mps2: np.ndarray
    max_turn_rate_rps: np.ndarray
    adv_until_s: np.ndarray
    rx_t_s: np.ndarray
    takeoff_s: np.ndarray
    flight: np.ndarray
    wp_next: np.ndarray
    wp_end: np.ndarray
    priority: np.ndarray
    active: np.ndarray
    cooperative: np.ndarray
    adv_on: np.ndarray
    rx_valid: np.ndarray
    mode: np.ndarray

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
        for name in self._BOOL:
            self._extend(name, np.zeros(capacity, bool), old)
        self._extend("mode", np.zeros(capacity, np.int8), old)
        self._free.extend(range(capacity - 1, old - 1, -1))  # pop() hands out the lowest free row first
        self._cap = capacity

    def _extend(self, name: str, fresh: np.ndarray, old: int) -> None:
        if old:
            fresh[:old] = getattr(self, name)
        setattr(self, name, fresh)

    def rows(self) -> np.ndarray:
        """Active rows, ascending."""
        return np.flatnonzero(self.active)

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
        known = (flight >= 0) & (flight < len(self._row_of))
        rows = np.full(len(flight), -1, np.int64)
        rows[known] = self._row_of[flight[known]]
        airborne = rows >= 0
        return rows[airborne], airborne

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
    ) -> int:
        """Put a vehicle at its path's first waypoint, heading for the second; its row."""
        if flight < 0:
            raise ValueError(f"flight: must be >= 0 ({flight})")
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
        self.pos_m[row] = path_xyz[0]
        self.vel_mps[row] = 0.0 if vel_mps is None else vel_mps
        self.wp_next[row], self.wp_end[row] = start + 1, end
        self.cruise_speed_mps[row] = perf.cruise_speed_mps
        self.climb_rate_mps[row] = perf.climb_rate_mps
        self.descent_rate_mps[row] = perf.descent_rate_mps
        self.max_accel_mps2[row] = perf.max_accel_mps2
        self.max_turn_rate_rps[row] = perf.max_turn_rate_rps
        self.priority[row], self.takeoff_s[row] = priority, t_s
        self.adv_on[row], self.rx_valid[row] = False, False
        self.mode[row] = MODE["nominal"] if cooperative else MODE["noncooperative"]
        return row

    def land(self, rows: np.ndarray) -> None:
        """Free the rows of vehicles that landed (their slots are reused by later launches)."""
        self.active[rows] = False
        self._row_of[self.flight[rows]] = -1
        self._airborne -= len(rows)
        self._free.extend(rows.tolist())
        self._free.sort(reverse=True)
