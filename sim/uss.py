"""The simulator's USS: it files, activates and ends each cooperative flight's intent with the real service.

There is no second deconfliction: every plan goes through the same :class:`utm.service.UTMService` the HTTP
API serves, on an in-memory store and the simulation clock. A refused plan takes the first alternative
the service offers that it can fly: a time shift flies the same plan later (its volumes are filed as
offered); an altitude layer or a reroute is rebuilt as a full plan with take-off and landing columns on
that layer or route and submitted again, and when that is refused the next alternative is tried. With
none left, the flight is not flown. Layer: sim; imports utm and airspace.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np

from airspace.errors import AirspaceInputError
from airspace.geofences import Restriction
from airspace.routes import RouteGraph
from airspace.volumes import Volume4D
from sim.fleet import Performance
from sim.plans import FlightPlan, FlightRequest
from sim.rng import rng_for
from sim.scenario import LoadedScenario
from utm.conformance import ConformanceChange
from utm.decisions import Alternative
from utm.deconfliction import Policy
from utm.errors import InvalidRequest, PlanRejected
from utm.intents import IntentRequest, OperationalIntent, State
from utm.service import UTMService
from utm.store import Store
from utm.telemetry import TelemetryBatch

__all__ = ["MANAGER", "Outcome", "SimUSS"]

MANAGER = "utm6g-sim"
"""The USS (token ``sub``) that manages every simulated intent."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to a request: the plan to fly (None: not flown) and how it was reached."""

    plan: FlightPlan | None
    decision: str  # accepted | accepted:<alternative kind> | not_filed | rejected:<reason>
    delay_s: float  # planned take-off less the requested one


class SimUSS:
    """Plans, files and ends the run's flights; feeds their telemetry to the service."""

    def __init__(self, loaded: LoadedScenario, now_s: Callable[[], float]) -> None:
        spec, region = loaded.spec, loaded.region
        self._spec = spec
        self._epoch = spec.start
        self._grid = region.grid
        self.routes = RouteGraph(region.grid, region.geofences)
        # the operators hold no authorisations: they plan around REQ_AUTHORISATION zones as well
        self._planner = RouteGraph(
            region.grid,
            [
                replace(g, restriction=Restriction.PROHIBITED)
                if g.restriction == Restriction.REQ_AUTHORISATION
                else g
                for g in region.geofences
            ],
        )
        self.service = UTMService(
            Store(":memory:", region.frame),
            clock=lambda: self._epoch + timedelta(seconds=now_s()),
            # the simulated operator takes the first alternative (issue 4), so only that one is searched
            policy=Policy(allow_equal_priority=spec.strategic.allow_equal_priority, max_alternatives=1),
            grid=region.grid,
            routes=self.routes,
            geofences=region.geofences,
            # nobody polls the simulated operators' notifications (the event log is the record): keep one
            # minute of them, not a dense city's hundreds of thousands of overlap notices
            notification_retention=timedelta(minutes=1),
        )
        self._ids = rng_for(spec.seed, "intent_ids")
        self._intents: dict[int, OperationalIntent] = {}
        self.flight_of: dict[uuid.UUID, int] = {}

    @property
    def strategic(self) -> bool:
        return self._spec.strategic.enabled

    def intent_id(self, flight: int) -> str:
        """The intent id of a filed flight, '' for one without."""
        intent = self._intents.get(flight)
        return str(intent.id) if intent is not None else ""

    def performance(self, vehicle: str) -> Performance:
        v = self._spec.fleet[vehicle]
        return Performance(
            v.cruise_speed_mps,
            v.climb_rate_mps,
            v.descent_rate_mps,
            v.max_accel_mps2,
            np.radians(v.max_turn_rate_dps),
        )

    def request(self, req: FlightRequest) -> Outcome:
        """Plan a request; for a cooperative flight with strategic deconfliction on, file it."""
        layer, back = (
            None if name is None else self._grid.layers[self._grid.layer_index(name)]
            for name in (req.layer, req.return_layer)
        )
        perf = self.performance(req.vehicle)
        if req.cooperative:
            try:
                points = self._route(req, perf.cruise_speed_mps)
            except AirspaceInputError as no_route:
                return Outcome(None, f"rejected:no_route ({no_route.field})", 0.0)
        else:  # flies straight, files nothing
            points = req.stops_xy_m
        plan = FlightPlan(req, req.requested_s, points, layer, perf, back if req.cooperative else None)
        if not (req.cooperative and self.strategic):
            return Outcome(plan, "not_filed", 0.0)
        return self._file(plan)

    def _route(self, req: FlightRequest, speed_mps: float) -> tuple[tuple[float, float], ...]:
        """The route graph's polyline through the request's stops, leg by leg on its layer (each leg departs
        when the previous one ends at cruise speed, so zones active then are avoided); AirspaceInputError
        if none."""
        points: tuple[tuple[float, float], ...] = (req.origin_xy_m,)
        t_s = req.requested_s
        for n, (a, b) in enumerate(itertools.pairwise(req.stops_xy_m)):
            leg = self._planner.route(
                a,
                b,
                t0=self._epoch + timedelta(seconds=t_s),
                speed_mps=speed_mps,
                layer=req.return_layer if n and req.return_layer else req.layer,
                lateral_buffer_m=self._spec.strategic.lateral_buffer_m,
                time_buffer_s=self._spec.strategic.time_buffer_s,
            )
            points += tuple(leg.points[1:])
            t_s += sum(math.dist(p, q) for p, q in itertools.pairwise(leg.points)) / speed_mps
        return points

    def _file(self, plan: FlightPlan) -> Outcome:
        intent_id = uuid.UUID(bytes=self._ids.bytes(16), version=4)
        try:
            self._submit(intent_id, plan, plan.volumes(self._epoch, **self._buffers()))
            return Outcome(plan, "accepted", 0.0)
        except InvalidRequest as invalid:  # the service's 400: the operator does not fly it
            return Outcome(None, f"rejected:invalid ({invalid.field}: {invalid.reason})", 0.0)
        except PlanRejected as refused:
            if not refused.alternatives:
                return Outcome(None, f"rejected:{refused.reason}", 0.0)
            return self._take(intent_id, plan, refused.alternatives[0])

    def _take(self, intent_id: uuid.UUID, plan: FlightPlan, alternative: Alternative) -> Outcome:
        """File the plan the refusal's first alternative stands for (issue 4: take it or do not fly)."""
        taken = self._taken(plan, alternative)
        volumes = (
            alternative.volumes
            if alternative.kind == "time_shift"
            else taken.volumes(self._epoch, **self._buffers())
        )
        try:
            self._submit(intent_id, taken, volumes)
        except PlanRejected as again:
            return Outcome(None, f"rejected:{again.reason} (after {alternative.kind})", 0.0)
        except InvalidRequest as invalid:
            return Outcome(None, f"rejected:invalid ({invalid.field}, after {alternative.kind})", 0.0)
        return Outcome(taken, f"accepted:{alternative.kind}", taken.takeoff_s - plan.takeoff_s)

    def _taken(self, plan: FlightPlan, alternative: Alternative) -> FlightPlan:
        """The plan an alternative stands for (its volumes are what is filed for a time shift)."""
        if alternative.kind == "time_shift":
            was = plan.volumes(self._epoch, **self._buffers())[0].time_start
            now = alternative.volumes[0].time_start
            return plan.shifted((now - was).total_seconds())
        if alternative.kind == "altitude_layer":
            z_m = 0.5 * (alternative.volumes[0].volume.z_lower_m + alternative.volumes[0].volume.z_upper_m)
            layer = next(lay for lay in self._grid.layers if lay.z_lower_m <= z_m <= lay.z_upper_m)
            return plan.on_layer(layer)
        return plan.via(alternative.path_xy_m)

    def _buffers(self) -> dict[str, float]:
        """How the plan's volumes are cut: the scenario's buffers and corridor pieces (one cell long
        unless the scenario says)."""
        s = self._spec.strategic
        return {
            "lateral_buffer_m": s.lateral_buffer_m,
            "time_buffer_s": s.time_buffer_s,
            "max_leg_m": s.piece_m or self._grid.cell_size_m,
        }

    def _submit(self, intent_id: uuid.UUID, plan: FlightPlan, volumes: tuple[Volume4D, ...]) -> None:
        """Create the intent (Accepted); PlanRejected propagates."""
        request = IntentRequest(State.ACCEPTED, plan.request.priority, tuple(volumes))
        decision = self.service.create(intent_id, request, manager=MANAGER)
        self._intents[plan.request.flight] = decision.intent
        self.flight_of[intent_id] = plan.request.flight

    def activate(self, flight: int) -> str | None:
        """Activate a filed flight at take-off; the refusal reason when the service refuses."""
        intent = self._intents.get(flight)
        if intent is None:
            return None
        request = IntentRequest(State.ACTIVATED, intent.priority, intent.volumes)
        try:
            self._intents[flight] = self.service.update(
                intent.id, intent.ovn, request, manager=MANAGER
            ).intent
        except PlanRejected as refused:
            return refused.reason
        return None

    def end(self, flight: int) -> None:
        """End a landed flight's intent (deleted from the live set, kept in the history)."""
        intent = self._intents.pop(flight, None)
        if intent is not None:
            current = self.service.get(intent.id)
            self.service.delete(intent.id, current.ovn, manager=MANAGER)
            del self.flight_of[intent.id]

    def telemetry(
        self,
        flight: np.ndarray,
        t_sent_s: np.ndarray,
        pos_m: np.ndarray,
        vel_mps: np.ndarray,
        accuracy_m: tuple[float, float] = (0.0, 0.0),
    ) -> list[ConformanceChange]:
        """Deliver reports of filed flights to the service's conformance monitor; the changes made.
        ``accuracy_m``: the reports' horizontal and vertical accuracy (95 %), which the monitor allows."""
        filed = np.array([f in self._intents for f in flight.tolist()], bool)
        if not filed.any():
            return []
        flights, row = np.unique(flight[filed], return_inverse=True)
        ids = [self._intents[f].id for f in flights.tolist()]
        p, v = pos_m[filed], vel_mps[filed]
        batch = TelemetryBatch(
            row,
            t_s=self._epoch.timestamp() + t_sent_s[filed],
            x_m=p[:, 0],
            y_m=p[:, 1],
            z_m=p[:, 2],
            vx_mps=v[:, 0],
            vy_mps=v[:, 1],
            vz_mps=v[:, 2],
            accuracy_h_m=accuracy_m[0],
            accuracy_v_m=accuracy_m[1],
        )
        return self.service.telemetry_batch(ids, batch, manager=MANAGER)

    def tick(self) -> list[ConformanceChange]:
        """The service's conformance timers at the current simulation time."""
        return self.service.tick() if self._intents else []

    def refresh(self, flight: int) -> None:
        """Re-read a flight's intent after the service changed it (a conformance transition)."""
        intent = self._intents.get(flight)
        if intent is not None:
            self._intents[flight] = self.service.get(intent.id)
