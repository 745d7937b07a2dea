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
    return_layer: str | None = None  # ... on this layer (None: the outbound one)

    @property
    def stops_xy_m(self) -> tuple[tuple[float, float], ...]:
        """The points the flight must pass, in order: origin, destination, and the return point if any."""
        back = () if self.return_xy_m is None else (self.return_xy_m,)
        return (self.origin_xy_m, self.destination_xy_m, *back)


@dataclass(frozen=True, slots=True)
class FlightPlan:
    """A request made concrete: take-off time, horizontal route, cruise layer and the vehicle's limits.

    With ``return_layer``, a round trip changes layer at its destination (a semicircular rule for the
    way back): it stops there, climbs or descends in a column to the other layer and flies on.
    """

    request: FlightRequest
    takeoff_s: float
    route_xy_m: tuple[tuple[float, float], ...]
    layer: Layer
    perf: Performance
    return_layer: Layer | None = None

    @property
    def cruise_z_m(self) -> float:
        return _mid(self.layer)

    @property
    def climb_s(self) -> float:
        return self.cruise_z_m / self.perf.climb_rate_mps

    @property
    def cruise_s(self) -> float:
        """Top of climb to top of descent: the route at cruise speed, and any layer change."""
        return _length_m(self.route_xy_m) / self.perf.cruise_speed_mps + self.change_s

    @property
    def change_s(self) -> float:
        """The layer change at the destination: braking to a hover, the vertical leg, accelerating away."""
        if self.return_layer is None:
            return 0.0
        dz = _mid(self.return_layer) - self.cruise_z_m
        rate = self.perf.climb_rate_mps if dz > 0 else self.perf.descent_rate_mps
        return abs(dz) / rate + self.perf.cruise_speed_mps / self.perf.max_accel_mps2

    @property
    def descent_s(self) -> float:
        return _mid(self.return_layer or self.layer) / self.perf.descent_rate_mps

    @property
    def duration_s(self) -> float:
        """Nominal take-off-to-touch-down time."""
        return self.climb_s + self.cruise_s + self.descent_s

    @property
    def turn(self) -> int:
        """The index in ``route_xy_m`` of the destination, where a round trip changes layer."""
        return self.route_xy_m.index(self.request.destination_xy_m)

    def path(self) -> tuple[np.ndarray, np.ndarray]:
        """Waypoints ``(k, 3)`` ground, column top, route points at cruise (the destination twice, a stop
        on each layer, when the layer changes there), column top, ground; stop flags."""
        xy = np.asarray(self.route_xy_m, float)
        z = np.full(len(xy), self.cruise_z_m)
        stops = [0, 1]
        if self.return_layer is not None:
            k = self.turn
            xy = np.insert(xy, k + 1, xy[k], axis=0)
            z = np.insert(z, k + 1, 0.0)
            z[k + 1 :] = _mid(self.return_layer)
            stops += [k + 1, k + 2]  # +1: the ground point ahead
        xyz = np.vstack([[*xy[0], 0.0], np.column_stack([xy, z]), [*xy[-1], 0.0]])
        stop = np.zeros(len(xyz), bool)
        stop[[*stops, -2, -1]] = True
        return xyz, stop

    def volumes(
        self,
        epoch: datetime,
        *,
        lateral_buffer_m: float,
        time_buffer_s: float,
        max_leg_m: float | None = None,
    ) -> tuple[Volume4D, ...]:
        """The intent's volumes: take-off column, corridor legs (cut to ``max_leg_m``), landing column; with
        a layer change, a column spanning both layers at the destination between the two corridors."""
        t0 = epoch + timedelta(seconds=self.takeoff_s)
        cruise_start = t0 + timedelta(seconds=self.climb_s)
        cruise_end = cruise_start + timedelta(seconds=self.cruise_s)
        pad = timedelta(seconds=time_buffer_s)
        cut = {"lateral_buffer_m": lateral_buffer_m, "time_buffer_s": time_buffer_s, "max_leg_m": max_leg_m}
        last = self.return_layer or self.layer

        def column(xy: tuple[float, float], start: datetime, end: datetime, lo: float, hi: float, f: str):
            circle = Volume3D.circle(*xy, lateral_buffer_m, z_lower_m=lo, z_upper_m=hi, field=f)
            return Volume4D(circle, start - pad, end + pad)

        def legs(points: tuple[tuple[float, float], ...], start: datetime, layer: Layer) -> list[Volume4D]:
            band = {"z_lower_m": layer.z_lower_m, "z_upper_m": layer.z_upper_m}
            return corridor(points, t0=start, speed_mps=self.perf.cruise_speed_mps, **band, **cut)

        route = self.route_xy_m
        take_off = column(route[0], t0, cruise_start, 0.0, self.layer.z_upper_m, "takeoff")
        landing = column(
            route[-1],
            cruise_end,
            cruise_end + timedelta(seconds=self.descent_s),
            0.0,
            last.z_upper_m,
            "landing",
        )
        if self.return_layer is None:
            return (take_off, *legs(route, cruise_start, self.layer), landing)
        k = self.turn
        arrive = cruise_start + timedelta(seconds=_length_m(route[: k + 1]) / self.perf.cruise_speed_mps)
        leave = arrive + timedelta(seconds=self.change_s)
        lo = min(self.layer.z_lower_m, last.z_lower_m)
        hi = max(self.layer.z_upper_m, last.z_upper_m)
        change = column(route[k], arrive, leave, lo, hi, "layer_change")
        out, back = legs(route[: k + 1], cruise_start, self.layer), legs(route[k:], leave, last)
        return (take_off, *out, change, *back, landing)

    def shifted(self, delay_s: float) -> FlightPlan:
        """The same plan ``delay_s`` later."""
        return replace(self, takeoff_s=self.takeoff_s + delay_s)

    def on_layer(self, layer: Layer) -> FlightPlan:
        """The same route, all of it on another layer."""
        return replace(self, layer=layer, return_layer=None)

    def via(self, route_xy_m: tuple[tuple[float, float], ...]) -> FlightPlan:
        """The same flight along another route, on its outbound layer."""
        return replace(self, route_xy_m=tuple(route_xy_m), return_layer=None)


def _mid(layer: Layer) -> float:
    """A layer's cruise height: its middle."""
    return 0.5 * (layer.z_lower_m + layer.z_upper_m)


def _length_m(points: tuple[tuple[float, float], ...]) -> float:
    return sum(math.dist(p, q) for p, q in itertools.pairwise(points))
