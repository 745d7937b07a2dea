"""Flight requests and flight plans: the 3D path a vehicle flies and the F3548 volumes its operator files.

A plan is take-off column, cruise along a route on one layer, landing column. Its volumes are a column
(a disc of the lateral buffer, ground to the layer's top) over the climb, the corridor legs of the
route over the cruise (:func:`airspace.routes.corridor`) and a column over the descent, each widened
in time by the time buffer. The timetable is the nominal one (cruise speed, climb and descent rates);
the time buffer absorbs acceleration and turns. Layer: sim; imports airspace and utm.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from airspace.cells import Layer
from airspace.routes import corridor
from airspace.volumes import Volume3D, Volume4D
from sim.fleet import Performance

__all__ = ["FlightPlan", "FlightRequest"]


@dataclass(frozen=True, slots=True)
class FlightRequest:
    """What an operator wants flown: from where to where, with what, when (simulation seconds)."""

    flight: int
    kind: str  # delivery | shuttle | free_flight
    vehicle: str
    operator: str
    origin: str  # hub id
    destination: str  # hub id, or "" for a drop point
    origin_xy_m: tuple[float, float]
    destination_xy_m: tuple[float, float]
    layer: str
    requested_s: float  # wished take-off time
    submit_s: float  # when the plan is submitted (requested_s less the lead time, not before 0)
    cooperative: bool
    priority: int
    return_xy_m: tuple[float, float] | None = None  # a round trip flies on to here after the destination

    @property
    def stops_xy_m(self) -> tuple[tuple[float, float], ...]:
        """The points the flight must pass, in order: origin, destination, and the return point if any."""
        back = () if self.return_xy_m is None else (self.return_xy_m,)
        return (self.origin_xy_m, self.destination_xy_m, *back)


@dataclass(frozen=True, slots=True)
class FlightPlan:
    """A request made concrete: take-off time, horizontal route, cruise layer and the vehicle's limits."""

    request: FlightRequest
    takeoff_s: float
    route_xy_m: tuple[tuple[float, float], ...]
    layer: Layer
    perf: Performance

    @property
    def cruise_z_m(self) -> float:
        return 0.5 * (self.layer.z_lower_m + self.layer.z_upper_m)

    @property
    def climb_s(self) -> float:
        return self.cruise_z_m / self.perf.climb_rate_mps

    @property
    def cruise_s(self) -> float:
        route = self.route_xy_m
        return sum(math.dist(p, q) for p, q in itertools.pairwise(route)) / self.perf.cruise_speed_mps

    @property
    def descent_s(self) -> float:
        return self.cruise_z_m / self.perf.descent_rate_mps

    @property
    def duration_s(self) -> float:
        """Nominal take-off-to-touch-down time."""
        return self.climb_s + self.cruise_s + self.descent_s

    def path(self) -> tuple[np.ndarray, np.ndarray]:
        """Waypoints ``(k, 3)`` ground, column top, route points at cruise, column top, ground; stop flags."""
        xy = np.asarray(self.route_xy_m, float)
        z = self.cruise_z_m
        xyz = np.vstack([[*xy[0], 0.0], np.column_stack([xy, np.full(len(xy), z)]), [*xy[-1], 0.0]])
        stop = np.zeros(len(xyz), bool)
        stop[[0, 1, -2, -1]] = True
        return xyz, stop

    def volumes(
        self,
        epoch: datetime,
        *,
        lateral_buffer_m: float,
        time_buffer_s: float,
        max_leg_m: float | None = None,
    ) -> tuple[Volume4D, ...]:
        """The intent's volumes: take-off column, corridor legs (cut to ``max_leg_m``), landing column."""
        t0 = epoch + timedelta(seconds=self.takeoff_s)
        cruise_start = t0 + timedelta(seconds=self.climb_s)
        cruise_end = cruise_start + timedelta(seconds=self.cruise_s)
        pad = timedelta(seconds=time_buffer_s)
        legs = corridor(
            self.route_xy_m,
            t0=cruise_start,
            speed_mps=self.perf.cruise_speed_mps,
            z_lower_m=self.layer.z_lower_m,
            z_upper_m=self.layer.z_upper_m,
            lateral_buffer_m=lateral_buffer_m,
            time_buffer_s=time_buffer_s,
            max_leg_m=max_leg_m,
        )
        columns = (
            (self.route_xy_m[0], t0, cruise_start, "takeoff"),
            (self.route_xy_m[-1], cruise_end, cruise_end + timedelta(seconds=self.descent_s), "landing"),
        )
        take_off, landing = (
            Volume4D(
                Volume3D.circle(
                    *xy, lateral_buffer_m, z_lower_m=0.0, z_upper_m=self.layer.z_upper_m, field=f
                ),
                start - pad,
                end + pad,
            )
            for xy, start, end, f in columns
        )
        return (take_off, *legs, landing)

    def shifted(self, delay_s: float) -> FlightPlan:
        """The same plan ``delay_s`` later."""
        return replace(self, takeoff_s=self.takeoff_s + delay_s)

    def on_layer(self, layer: Layer) -> FlightPlan:
        """The same route on another layer."""
        return replace(self, layer=layer)

    def via(self, route_xy_m: tuple[tuple[float, float], ...]) -> FlightPlan:
        """The same flight along another route."""
        return replace(self, route_xy_m=tuple(route_xy_m))
