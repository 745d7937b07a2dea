"""The simulation engine: one SimPy environment flying the whole fleet through the real UTM service.

Discrete events: flight requests (filed with :class:`sim.uss.SimUSS` a lead time ahead), take-offs,
landings, advisory deliveries. Periodic processes, each batch work over the fleet's arrays: the
kinematics tick (and ground-truth separation), the position-report cycle, the service's conformance
timers, the CD&R cycle on the received picture, and state recording. Same-time processes run in the
order they were started, so a run is a pure function of (scenario, seed). Layer: sim.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any

import numba
import numpy as np
import simpy

from sim.comms import make_comms
from sim.demand import free_flights, requests, scripted_flights
from sim.eventlog import EventLog
from sim.fleet import MODE, Fleet, Performance, gather, select
from sim.groundtruth import log_pair_events, separations
from sim.kinematics import plan_velocity, step
from sim.metrics import Tally
from sim.pairs import PairAlerts, PairEpisodes, pair_keys, split_keys
from sim.picture import Inbox
from sim.pipeline import Pipeline
from sim.plans import FlightPlan, FlightRequest
from sim.rng import rng_for
from sim.scenario import LoadedScenario
from sim.sixg.accuracy import MATCH_GATE_M, SAMPLE_PERIOD_S, TrackErrors, nearest_within
from sim.sixg.fusion import Tracks, inflated_zone
from sim.sixg.network import Network, SensedScan
from sim.uss import SimUSS
from utm.conformance import ConformanceChange
from utm.intents import State
from utm.tactical import Conflicts, detect, mvp

__all__ = ["Progress", "Simulation", "most_urgent_partner"]

PAD_CHECK_S = 1.0
"""How often a vehicle held on its pad looks again (the report and CD&R period)."""
MAX_PAD_HOLD_S = 60.0
"""A vehicle held on its pad lifts off after this long even if the pad is still not clear."""
ADVISORY_CHANGE_MPS = 1.0
"""A vehicle already under an advisory gets a new one only when the velocity asked for moves this much."""
CONFORMANCE_PERIOD_S = 1.0
SENSED_ID_BASE = 1 << 30
"""Conflict pairs name a sensing-only track ``SENSED_ID_BASE + track_id`` (flight ids stay below it)."""
NETWORK_THREAD_MIN = 2000
"""From this many vehicles airborne the network's calls run on a worker thread and the tracker's updates in
the engine's; below it, the other way round. One worker is busy beside the engine (2 cores). The network's
calls are many short numpy steps: for a small fleet, handing the GIL to and fro costs more than the overlap
gives (measured: 1,000 drones +35 % CPU and 8 % slower, 3,000 drones 20 % faster, 10,000 drones 23 %
faster). The tracker's update is one long compiled scan, cheap to hand over at any size, and runs while
the engine sends the next reports (1,000 drones: 24 -> 20.8 s per simulated hour, median of six runs)."""
MAX_ZONE_GROWTH_M = 100.0
"""A track's own share of the zone inflation is capped here (the broad phase runs at the largest zone)."""
_MODE_OF_STATE = {
    State.NONCONFORMING: MODE["nonconforming"],
    State.CONTINGENT: MODE["contingent"],
}


@dataclass(frozen=True, slots=True)
class Progress:
    """What a progress bar shows: simulation time, airborne vehicles, conflicts and LoS so far."""

    t_s: float
    airborne: int
    conflicts: int
    los: int


class Simulation:
    """One run of a loaded scenario, writing its event log; :meth:`run` returns the metrics."""

    def __init__(
        self,
        loaded: LoadedScenario,
        log: EventLog,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        progress_every_s: float = 10.0,
        network_thread_min: float | None = NETWORK_THREAD_MIN,
    ) -> None:
        """``network_thread_min``: see :data:`NETWORK_THREAD_MIN` (0: the network's calls always on the
        worker, inf: the tracker's; None: no worker threads). The run is the same either way."""
        self.spec = loaded.spec
        self.loaded = loaded
        self.env = simpy.Environment()
        self.log = log
        self.fleet = Fleet()
        self.comms = make_comms(loaded)
        self.network = self.comms if isinstance(self.comms, Network) else None
        settings = self.network.settings if self.network is not None else None
        self.tracks = Tracks(settings.fusion) if settings is not None else None  # None: CD on raw reports
        # a modelled network's reports carry GNSS fixes (their own stream, so no other stream's draws move)
        self._gnss = rng_for(loaded.spec.seed, "gnss") if settings is not None else None
        self._gnss_sigma = settings.fusion.gnss_sigma if settings is not None else None
        # what each report tells the service of its fix's accuracy: the conformance monitor's tolerance
        self._accuracy_m = settings.fusion.gnss_accuracy_m if settings is not None else (0.0, 0.0)
        # the network's calls, or the tracker's updates, run on a second core (NETWORK_THREAD_MIN); what each
        # gives is taken when simulated time needs it
        threads = network_thread_min is not None
        self._jobs = Pipeline(threaded=threads and self.network is not None, name="network")
        self._fusion = Pipeline(threaded=threads and self.tracks is not None, name="tracker")
        self._thread_min = math.inf if network_thread_min is None else network_thread_min
        self._later = self.network is not None  # its results are taken at a later instant than the call's
        self._uplinks: deque[tuple[float, np.ndarray, np.ndarray, Future]] = deque()  # t, flight, state, t_rx
        self._arrived: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # reports the service has not had
        self._downlinks: deque[tuple[float, np.ndarray, np.ndarray, np.ndarray, Future]] = deque()
        self._sensing: deque[tuple[float, np.ndarray, np.ndarray, Future]] = deque()  # scans being taken
        sensing = self.network.sensing if self.network is not None else None
        # a scan is published no sooner than its CPI and processing after it (less 1 us: rounding)
        self._scan_lead_s = sensing.cpi_s + sensing.processing_s - 1e-6 if sensing is not None else 0.0
        self.track_errors = TrackErrors(self.network.site_distance_m) if self.network is not None else None
        self._next_score_s = 0.0
        self._scans: list[SensedScan] = []  # scans taken, waiting for their publication
        self._moved_s = 0.0  # when the fleet last moved: it moves at ticks, a scan may fall between them
        self._deferred: list[tuple[float, np.ndarray]] = []  # scans between ticks: (time, fleet rows)
        self.uss = SimUSS(loaded, lambda: self.env.now)
        self.reports = Inbox()
        self.advisories = Inbox()
        self.alerts = PairAlerts(loaded.spec.cdr.hold_s)
        self.conflicts = PairEpisodes()
        self.los = PairEpisodes()
        self.nmac = PairEpisodes()
        self.tally = Tally(loaded)
        self._plans: dict[int, FlightPlan] = {}
        self._on_progress = on_progress
        self._progress_every_s = progress_every_s

    # -- the run

    def run(self) -> dict:
        """Run to ``duration_s``; close every open episode; the metrics."""
        env, spec = self.env, self.spec
        if spec.traffic.mode != "demand":
            self._launch_free_flight()
        else:
            env.process(self._demand(requests(self.loaded)))
        env.process(self._every(spec.tick_s, self._tick))
        env.process(self._every(spec.comms.report_interval_s, self._report))
        if spec.strategic.enabled:
            env.process(self._every(CONFORMANCE_PERIOD_S, self._conformance))
        if spec.cdr.enabled:
            env.process(self._every(spec.cdr.interval_s, self._cdr))
        if self.network is not None and self.network.sensing is not None:
            env.process(self._every(self.network.sensing.scan_period_s, self._scan))
        env.process(self._every(spec.recording.state_interval_s, self._record, at_start=True))
        if self._on_progress is not None:
            env.process(self._every(self._progress_every_s, self._progress))
        try:
            env.run(until=spec.duration_s)
            self._finish()
        finally:
            self._jobs.close()
            self._fusion.close()
        metrics = self.tally.metrics(spec.duration_s)
        metrics["network"] = None
        if self.network is not None:
            metrics["network"] = {**self.network.summary(), "track_error": self.track_errors.summary()}
        return metrics

    def _every(self, period_s: float, work: Callable[[], None], *, at_start: bool = False):
        """A periodic process: ``work()`` every ``period_s`` (also at t = 0 when ``at_start``)."""
        if at_start:
            work()
        while True:
            yield self.env.timeout(period_s)
            work()

    # -- demand, take-off, landing

    def _demand(self, reqs: list[FlightRequest]):
        """Submit each request at its time; a flown plan gets its take-off process."""
        for req in reqs:
            yield self.env.timeout(req.submit_s - self.env.now)
            self._register(req)
            self.log.event(self.env.now, "request", flight=req.flight, value=req.requested_s, detail=req.kind)
            outcome = self.uss.request(req)
            self.tally.decision(outcome.decision, outcome.delay_s, flown=outcome.plan is not None)
            self.log.event(
                self.env.now, "decision", flight=req.flight, value=outcome.delay_s, detail=outcome.decision
            )
            if outcome.plan is None:
                self.log.event(self.env.now, "not_flown", flight=req.flight, detail=outcome.decision)
                continue
            self.log.flight(
                flight=req.flight,
                intent_id=self.uss.intent_id(req.flight),
                planned_takeoff_s=outcome.plan.takeoff_s,
                planned_duration_s=outcome.plan.duration_s,
                plan=self._plan_json(outcome.plan),
            )
            self.env.process(self._take_off(outcome.plan))

    def _plan_json(self, plan: FlightPlan) -> str:
        """The flown plan for the log (what an incident report draws): layers, nominal path, buffer."""
        xyz, _ = plan.path()
        return json.dumps(
            {
                "layer": plan.layer.name,
                "return_layer": None if plan.return_layer is None else plan.return_layer.name,
                "path_m": np.round(xyz, 1).tolist(),
                "lateral_buffer_m": self.spec.strategic.lateral_buffer_m,
            },
            separators=(",", ":"),
        )

    def _register(self, req: FlightRequest) -> None:
        self.log.flight(
            flight=req.flight,
            vehicle=req.vehicle,
            kind=req.kind,
            operator=req.operator,
            cooperative=req.cooperative,
            priority=req.priority,
            origin=req.origin,
            destination=req.destination,
            requested_s=req.requested_s,
        )

    def _take_off(self, plan: FlightPlan):
        """Wait for the planned take-off, activate the intent, hold while the pad is not clear (another
        vehicle landing or lifting off next door, as the service sees it), put the vehicle in the air."""
        yield self.env.timeout(max(0.0, plan.takeoff_s - self.env.now))
        flight = plan.request.flight
        refused = self.uss.activate(flight)
        if refused is not None:
            self.tally.not_flown(f"activation:{refused}")
            self.log.event(self.env.now, "not_flown", flight=flight, detail=f"activation refused: {refused}")
            return
        xyz, stop = plan.path()
        held_s, blocker = 0.0, self._pad_blocker(xyz[0])
        if blocker is not None:
            self.log.event(self.env.now, "takeoff_held", flight=flight, other=blocker)
        while blocker is not None and held_s < MAX_PAD_HOLD_S:
            yield self.env.timeout(PAD_CHECK_S)
            held_s += PAD_CHECK_S
            blocker = self._pad_blocker(xyz[0])
        self.fleet.launch(
            flight,
            xyz,
            stop,
            plan.perf,
            t_s=self.env.now,
            priority=plan.request.priority,
            cooperative=plan.request.cooperative,
            evtol=self.spec.fleet[plan.request.vehicle].kind == "evtol",
        )
        self._plans[flight] = plan
        self.tally.took_off()
        self.log.event(self.env.now, "takeoff", flight=flight, detail=self.uss.intent_id(flight))
        self.log.flight(flight=flight, takeoff_s=self.env.now)

    def _pad_blocker(self, pad_m: np.ndarray) -> int | None:
        """A vehicle the service sees in the pad's protected zone (within the protected radius, below twice
        the half-height: landing or lifting off next door), the nearest; None when the pad is clear."""
        sep = self.spec.separation
        picture = self._received_picture if self.tracks is None else self._fused_picture
        _, ids, pos, *_ = picture(self.env.now)
        d_m = np.hypot(pos[:, 0] - pad_m[0], pos[:, 1] - pad_m[1])
        inside = ((d_m < sep.horizontal_m) & (pos[:, 2] < 2.0 * sep.vertical_m)).nonzero()[0]
        return None if len(inside) == 0 else int(ids[inside[d_m[inside].argmin()]])

    def _launch_free_flight(self) -> None:
        """Plan-less traffic (free flight or scripted tracks): every vehicle airborne at t = 0."""
        spec = self.spec
        mode = spec.traffic.mode
        if mode == "scripted":
            ff = scripted_flights(self.loaded)
        else:
            ff = free_flights(self.loaded, radius_m=spec.separation.horizontal_m)
        flights = zip(ff.waypoints_m, ff.speed_mps, ff.vehicle, ff.cooperative, strict=True)
        for flight, (path, speed, vehicle, c) in enumerate(flights):
            base = self.uss.performance(vehicle)
            perf = Performance(
                float(speed),
                base.climb_rate_mps,
                base.descent_rate_mps,
                base.max_accel_mps2,
                base.max_turn_rate_rps,
            )
            priority = spec.fleet[vehicle].priority
            heading = path[1] - path[0]
            vel = heading / np.linalg.norm(heading) * speed
            self.fleet.launch(
                flight,
                path,
                np.zeros(len(path), bool),
                perf,
                t_s=0.0,
                priority=priority,
                cooperative=bool(c),
                vel_mps=vel,
                evtol=spec.fleet[vehicle].kind == "evtol",
            )
            self.log.flight(
                flight=flight,
                vehicle=vehicle,
                kind=mode,
                operator=mode.replace("_", "-"),
                cooperative=bool(c),
                priority=priority,
                requested_s=0.0,
                planned_takeoff_s=0.0,
                takeoff_s=0.0,
            )
        self.tally.free_flight(len(ff.speed_mps))

    def _land(self, rows: np.ndarray) -> None:
        """Vehicles that touched down: end their intents, log, free their rows."""
        now = self.env.now
        for flight in self.fleet.flight[rows].tolist():
            plan = self._plans.pop(flight, None)  # None: plan-less traffic at its last waypoint
            extension_s = None
            if plan is not None:
                extension_s = (now - self.fleet.takeoff_s[self.fleet.row_of(flight)]) - plan.duration_s
                self.uss.end(flight)
            self.tally.landed(extension_s)
            self.log.event(now, "landing", flight=flight, value=math.nan if plan is None else extension_s)
            self.log.flight(flight=flight, landing_s=now)
        if self.network is not None:
            flights = self.fleet.flight.take(rows)
            self._call_network(self.network.forget, flights)
            self._call_tracker(self.tracks.drop_vehicles, flights)
        self.fleet.land(rows)

    # -- the periodic work

    def _tick(self) -> None:
        """Take the reports due now into the tracker, apply advisories that arrived, move the fleet, land
        arrivals, check separation on truth.

        The reports go first: with the network on its worker, the tick waits for the last cycle's advisories
        (their downlink, about 6 ms at 10,000 drones, runs after CD&R), and the tracker's update of about
        5 ms runs meanwhile. A vehicle landing in this tick has its report taken, then its track dropped;
        the service takes the reports at the instant's report, as before (:meth:`_receive`).
        """
        if self.tracks is not None:
            self._arrive()
        self._apply_advisories()
        rows = self.fleet.rows()
        self.tally.airborne(self.env.now, len(rows), self.spec.tick_s)
        landed = step(self.fleet, rows, self.spec.tick_s)
        self._moved_s = self.env.now
        self._sense_deferred(self._moved_s)
        if len(landed):
            self._land(landed)
            rows = self.fleet.rows()
        self._separation(rows)

    def _separation(self, rows: np.ndarray) -> None:
        """Losses of separation and NMACs on ground truth (the airborne ``rows``), as episodes per pair."""
        sep, fleet = self.spec.separation, self.fleet
        found = separations(
            fleet.flight.take(rows),
            gather(fleet.pos_m, select(rows)),
            horizontal_m=sep.horizontal_m,
            vertical_m=sep.vertical_m,
            nmac_horizontal_m=sep.nmac_horizontal_m,
            nmac_vertical_m=sep.nmac_vertical_m,
        )
        now = self.env.now
        self._pair_events(now, self.los, self.los.update(now, found.a, found.b, found.norm), "los")
        started = self.nmac.update(now, *found.nmac_pairs())
        if len(started):
            first, second = split_keys(started)
            self.log.events(now, "nmac", first, other=second)
            self.tally.nmac(len(started))

    def _pair_events(self, now: float, episodes: PairEpisodes, started: np.ndarray, name: str) -> None:
        """Log the starts and ends of one kind of pair episode and count them."""
        log_pair_events(self.log, now, episodes, started, name)
        self.tally.episodes(name, started, episodes.ended)

    def _report(self) -> None:
        """Every cooperative vehicle sends its position; the comms model says when each arrives.

        Over a modelled network the payload is the GNSS fix, truth plus zero-mean Gaussian errors of
        ``comms.fusion.gnss_sigma_*`` (the sigmas the tracker assumes), and the log, the service and the
        tracker all get that fix; the radio link is evaluated where the vehicle truly is. Ideal comms, the
        no-network baseline, send the exact state. Whichever call runs on the worker goes first: with the
        tracker there, what arrived by now is received first, so the tracker works on it while these are
        sent; with the network there, these are sent first, so the network works on them while the tracker
        takes the scans, not beside CD&R's Python, which it slowed (10,000 drones: 26 -> 35 ms a cycle). None
        of these can arrive now over a modelled network; over ideal comms they arrive at once and are received
        after.
        """
        network_first = self._network_on_worker()
        if not network_first:
            self._receive()
        fleet = self.fleet
        rows = fleet.rows()
        sel = select(rows)
        cooperative = fleet.cooperative[sel]
        if not cooperative.all():
            rows = rows.compress(cooperative)
            sel = select(rows)
        now, n = self.env.now, len(rows)
        flight = fleet.flight[sel].copy() if isinstance(sel, slice) else fleet.flight.take(sel)
        state = np.empty((n, 6))  # position and velocity: the report's payload
        pos, vel = gather(fleet.pos_m, sel), gather(fleet.vel_mps, sel)
        for c in range(3):  # column by column: numpy runs (n, 3) slices row by row
            state[:, c], state[:, 3 + c] = pos[:, c], vel[:, c]
        t_rx = self._call_network(self.comms.uplink, now, flight, state[:, :3].copy())
        if self._gnss is not None:
            # white noise, independent per report and axis: SIXG-MODEL.md §8 gives only the sigmas
            _add_gnss_error(self._gnss, state, self._gnss_sigma)
        self._uplinks.append((now, flight, state, t_rx))
        if network_first or not self._later:  # ideal comms: these arrived at once
            self._receive()

    def _network_on_worker(self) -> bool:
        """Whether the network's calls now run on its worker (a large fleet), not at once."""
        return self._jobs.threaded and len(self.fleet) >= self._thread_min

    def _call_network(self, fn: Callable[..., Any], *args: Any) -> Future:
        """``fn(*args)`` on the network's worker after the calls before it, or at once for a small fleet."""
        return self._jobs.submit(fn, *args, inline=not self._network_on_worker())

    def _call_tracker(self, fn: Callable[..., Any], *args: Any) -> None:
        """``fn(*args)`` on the tracker's worker after the updates before it (the picture waits for them), or
        at once for a large fleet."""
        self._fusion.submit(fn, *args, inline=len(self.fleet) >= self._thread_min)

    def _sent_reports(self, now: float) -> None:
        """Reports sent before ``now`` (all of them on ideal comms): logged, and queued for reception when
        delivered. Those sent at ``now`` wait: every modelled latency is positive (a slot at least), so none
        can arrive before a later instant, and the network works on them meanwhile."""
        for t, flight, state, t_rx in self._answered(self._uplinks, now):
            self.log.messages("report", flight, t, t_rx, state[:, :3])
            self.reports.send(flight, t, t_rx, state)

    def _answered(self, calls: deque, now: float) -> Iterator[tuple]:
        """Pop the network calls made before ``now`` (all of them on ideal comms), oldest first: each call's
        record with the call's result (waiting for it) in place of its future."""
        while calls and (calls[0][0] < now or not self._later):
            *record, pending = calls.popleft()
            yield *record, pending.result()

    def _receive(self) -> None:
        """Reports whose time has come update the received picture or the tracker and reach the service;
        then the scans published by now reach the tracker (an instant's reports first)."""
        self._arrive()
        for flight, t_sent, payload in self._arrived:
            self._serve(flight, t_sent, payload)
        self._arrived.clear()
        if self.tracks is not None:
            self._ingest_scans(self.env.now)

    def _arrive(self) -> None:
        """Reports received by now (airborne vehicles only) into the tracker over a modelled network, else
        into the received picture (CD's input on ideal comms, and nothing else's); held for the service
        until :meth:`_receive`. A tick calls it first (:meth:`_tick`)."""
        now = self.env.now
        self._sent_reports(now)
        due = self.reports.due(now)
        if due is None:
            return
        flight, t_sent, _, payload = due
        rows, airborne = self.fleet.rows_of(flight)
        if len(rows) < len(flight):
            k = airborne.nonzero()[0]
            flight, t_sent, payload = flight.take(k), t_sent.take(k), payload.take(k, axis=0)
        if self.tracks is not None:  # a tracker on its worker is at it while the rest is done
            self._call_tracker(self.tracks.update_reports, flight, t_sent, payload[:, :3], payload[:, 3:])
        else:
            self._keep_received(rows, t_sent, payload)
        self._arrived.append((flight, t_sent, payload))

    def _serve(self, flight: np.ndarray, t_sent: np.ndarray, payload: np.ndarray) -> None:
        """Received reports to the service (which ignores the flights a tick landed since: it ended them)."""
        if not self.spec.strategic.enabled:
            return
        changes = self.uss.telemetry(flight, t_sent, payload[:, :3], payload[:, 3:], self._accuracy_m)
        self._conformance_changes(changes)

    def _keep_received(self, rows: np.ndarray, t_sent: np.ndarray, payload: np.ndarray) -> None:
        """The received picture keeps each vehicle's (fleet ``rows``) newest report."""
        fleet = self.fleet
        newer = t_sent >= fleet.rx_t_s.take(rows) - 1e-9
        newer |= ~fleet.rx_valid.take(rows)
        if newer.all():
            r, fresh, t_fresh = rows, payload, t_sent
        else:
            k = newer.nonzero()[0]
            r, fresh, t_fresh = rows.take(k), payload.take(k, axis=0), t_sent.take(k)
        sel = select(r)
        for c in range(3):  # column by column: 2-D fancy or sliced assignment is several times slower
            fleet.rx_pos_m[sel, c], fleet.rx_vel_mps[sel, c] = fresh[:, c], fresh[:, 3 + c]
        fleet.rx_t_s[sel], fleet.rx_valid[sel] = t_fresh, True

    def _conformance(self) -> None:
        self._conformance_changes(self.uss.tick())

    def _conformance_changes(self, changes: list[ConformanceChange]) -> None:
        """Log the service's conformance transitions and show them in the vehicles' modes."""
        for change in changes:
            flight = self.uss.flight_of[change.intent_id]
            self.uss.refresh(flight)
            self.tally.conformance(change.new_state)
            self.log.event(
                self.env.now, "conformance", flight=flight, detail=f"{change.new_state}: {change.reason}"
            )
            row = self.fleet.row_of(flight)
            advised = MODE["advisory"] if self.fleet.adv_on[row] else MODE["nominal"]
            self.fleet.mode[row] = _MODE_OF_STATE.get(change.new_state, advised)

    def _cdr(self) -> None:
        """Detect conflicts on what the service knows (received reports, or the fused tracks of a modelled
        network); resolve them with MVP advisories sent down the link."""
        self._receive()
        now, cdr, fleet = self.env.now, self.spec.cdr, self.fleet
        if self.tracks is None:
            rows, ids, pos, vel, grow, seen = self._received_picture(now)
        else:
            rows, ids, pos, vel, grow, seen = self._fused_picture(now)
            if now >= self._next_score_s - 1e-9:
                self._score_tracks(rows, ids, pos, seen, grow[0])
                self._next_score_s = now + SAMPLE_PERIOD_S
        self._commanded(now, rows, pos, vel, seen)
        resolve = cdr.resolution == "mvp"
        back = self._advisories_ending(rows) if resolve else rows[:0]
        found, held = self._detect(rows, pos, vel, grow, back)
        self._alert(now, ids, found)
        if resolve:
            priority = np.full(len(rows), fleet.priority.max(initial=0) + 1)  # sensing-only: can't be asked
            known = (rows >= 0).nonzero()[0]
            priority[known] = fleet.priority.take(rows.take(known))
            radii = self._pair_radii(found, grow)
            self._resolve(rows, ids, pos, vel, priority, found, radii, rows.take(held))

    def _alert(self, now: float, ids: np.ndarray, found: Conflicts) -> None:
        """Alert on the pairs ``found`` (:class:`~sim.pairs.PairAlerts`): the alerted pairs, found now or
        held, are the conflict episodes. Resolution acts on every pair found, as DAIDALUS's guidance does."""
        keys = pair_keys(ids.take(found.i), ids.take(found.j))  # distinct: ids name the picture's rows
        alerted = self.alerts.update(now, keys)
        d_cpa_m = np.full(len(alerted), np.inf)  # a held pair's closest approach is not known this cycle
        d_cpa_m[alerted.searchsorted(keys)] = found.d_cpa_m  # every pair found is alerted
        started = self.conflicts.update_sorted(now, alerted, d_cpa_m)
        self._pair_events(now, self.conflicts, started, "conflict")

    def _advisories_ending(self, rows: np.ndarray) -> np.ndarray:
        """The picture rows (indices into ``rows``) of vehicles whose advisory is due to end: under one,
        its conflicts' closest approaches passed."""
        fleet = self.fleet
        known = (rows >= 0).nonzero()[0]
        r = rows.take(known)
        return known.compress(fleet.adv_on.take(r) & (fleet.adv_until_s.take(r) <= self.env.now))

    def _detect(
        self, rows: np.ndarray, pos: np.ndarray, vel: np.ndarray, grow: tuple | None, back: np.ndarray
    ) -> tuple[Conflicts, np.ndarray]:
        """The conflicts in the picture, and which of the picture rows ``back`` may not return to their
        plans yet (BlueSky's free-to-revert resume navigation, without its extra pass).

        One detection over the picture plus a copy of each ``back`` vehicle flying its plan velocity
        from its picture position: pairs within the picture are exactly those of a detection without
        the copies; a copy in conflict with anyone but its own vehicle, or with another copy, holds the
        vehicle on its advisory (whether the others keep theirs or go back too). It is asked again next
        cycle. A copy's zone is grown by the resolution margin, so a vehicle goes back only when its plan
        keeps it clear of what MVP aimed at.
        """
        cdr, sep, n = self.spec.cdr, self.spec.separation, len(pos)
        if len(back):
            revert = plan_velocity(self.fleet, rows.take(back), pos.take(back, axis=0), self.spec.tick_s)
            pos = np.concatenate([pos, pos.take(back, axis=0)])
            vel = np.concatenate([vel, revert])
            # A copy must clear MVP's own aim, margin x zone: back on its plan at the bare zone, the turn back
            # (the copy flies its plan velocity at once, the vehicle does not) would take the pair inside it.
            # The margin is a set clearance, not an independent error: it adds to the copy's own growth.
            if grow is None:
                grow = (np.zeros(n), np.zeros(n))
            slack = cdr.margin - 1.0
            grow = (
                np.concatenate([grow[0], grow[0].take(back) + slack * sep.horizontal_m]),
                np.concatenate([grow[1], grow[1].take(back) + slack * sep.vertical_m]),
            )
        found = detect(
            pos,
            vel,
            lookahead_s=cdr.lookahead_s,
            radius_m=sep.horizontal_m,
            half_height_m=sep.vertical_m,
            grow_h_m=None if grow is None else grow[0],
            grow_v_m=None if grow is None else grow[1],
        )
        copies = (found.j >= n).nonzero()[0]  # i < j: a pair with a copy has it as j
        if len(copies) == 0:
            return found, back[:0]
        i, j = found.i.take(copies), found.j.take(copies) - n
        held = np.zeros(len(back), bool)
        held[j.compress(i != back.take(j))] = True  # not the copy's own vehicle
        held[i.compress(i >= n) - n] = True  # a copy in conflict with a copy: both
        return found.take((found.j < n).nonzero()[0]), back.compress(held)

    def _pair_radii(self, found: Conflicts, grow: tuple | None) -> float | np.ndarray:
        """Each conflict's protected radius as :func:`~utm.tactical.detect` inflated it for its tracks'
        uncertainty (the nominal radius plus the two growths in quadrature): MVP clears its margin times
        this, not times the nominal radius, or a resolution on an uncertain picture stays inside the
        zone that detected it."""
        radius = self.spec.separation.horizontal_m
        if grow is None:
            return radius
        return radius + np.hypot(grow[0].take(found.i), grow[0].take(found.j))

    def _received_picture(self, now: float) -> tuple:
        """Fleet rows, ids, positions and velocities of the latest received reports, dead-reckoned to now."""
        fleet = self.fleet
        rows = fleet.rows()
        sel = select(rows)
        valid = fleet.rx_valid[sel]
        if not valid.all():
            rows = rows.compress(valid)
            sel = select(rows)
        age = now - gather(fleet.rx_t_s, sel)
        vel = gather(fleet.rx_vel_mps, sel)  # nothing writes the received picture until _resolve returns
        rx_pos, pos = gather(fleet.rx_pos_m, sel), np.empty((len(rows), 3))
        for c in range(3):  # rx_pos + vel * age, column by column
            np.multiply(vel[:, c], age, out=pos[:, c])
            pos[:, c] += rx_pos[:, c]
        return rows, fleet.flight.take(rows), pos, vel.copy(), None, now - age

    def _fused_picture(self, now: float) -> tuple:
        """The confirmed tracks predicted to now: fleet rows (-1 for sensing-only tracks), ids, states and
        each track's zone growth (SIXG-MODEL.md 6.2: k sigma; the picture is already extrapolated)."""
        self._fusion.drain()  # the tracker's updates so far
        pic = self.tracks.picture(now)
        coop = pic.vehicle >= 0
        rows = np.full(len(pic), -1, np.int64)
        k = coop.nonzero()[0]
        found, airborne = self.fleet.rows_of(pic.vehicle.take(k))
        rows[k.compress(airborne)] = found
        ids = np.where(coop, pic.vehicle, SENSED_ID_BASE + pic.track_id)
        grow_h, grow_v = inflated_zone(
            0.0,
            0.0,
            pic.sigma_h_m,
            pic.sigma_v_m,
            0.0,
            latency_s=0.0,
            update_period_s=0.0,
            enabled=self.network.settings.inflate_zone,
        )
        grow = (np.minimum(grow_h, MAX_ZONE_GROWTH_M), np.minimum(grow_v, MAX_ZONE_GROWTH_M))
        return rows, ids, pic.pos_m, pic.vel_mps, grow, now - pic.age_s

    def _score_tracks(
        self, rows: np.ndarray, ids: np.ndarray, pos: np.ndarray, seen: np.ndarray, grow_h: np.ndarray
    ) -> None:
        """The fused picture's position errors against ground truth now (before :meth:`_commanded` moves
        it), for the track-accuracy metrics: a cooperative track against its own vehicle, a sensing-only
        one against the nearest non-cooperative vehicle within MATCH_GATE_M (tracks carry no truth label).
        The scored tracks go to the log too (kind ``track``), so the errors can be rebuilt from it."""
        fleet = self.fleet
        truth = rows.copy()  # the fleet row of each track's vehicle, -1: none
        sensed = ids >= SENSED_ID_BASE
        s = sensed.nonzero()[0]
        if len(s):
            airborne = fleet.rows()
            noncoop = airborne.compress(~fleet.cooperative.take(airborne))
            match = nearest_within(pos.take(s, axis=0), fleet.pos_m.take(noncoop, axis=0), MATCH_GATE_M)
            found = (match >= 0).nonzero()[0]
            truth[s.take(found)] = noncoop.take(match.take(found))
            self.track_errors.unmatched += len(s) - len(found)
        k = (truth >= 0).nonzero()[0]
        r = truth.take(k)
        truth_m = fleet.pos_m.take(r, axis=0)
        self.track_errors.add(pos.take(k, axis=0), truth_m, fleet.flight.take(r), sensed.take(k))
        flight = np.full(len(rows), -1, np.int64)
        flight[k] = fleet.flight.take(r)
        self.log.messages("track", flight, self.env.now, seen, pos, value=grow_h)

    def _commanded(
        self, now: float, rows: np.ndarray, pos: np.ndarray, vel: np.ndarray, seen: np.ndarray
    ) -> None:
        """Put the service's own advisories into the picture (in place): a vehicle sent an advisory at or
        after the time its picture state was measured flies the advisory velocity, which that state cannot
        show yet. Without this, CD&R on a picture one report old resolves again from the velocity the
        vehicle had before its last advisory: the loop has one cycle of dead time and MVP's full-gain
        correction then zig-zags (each advisory undoing the one in flight), growing as the CPA nears.
        A report sent in the same instant as an advisory predates it (reports run before CD&R)."""
        known = (rows >= 0).nonzero()[0]
        r = rows.take(known)
        sent = self.fleet.cmd_t_s.take(r)
        k = (sent >= seen.take(known) - 1e-9).nonzero()[0]
        if len(k) == 0:
            return
        i, r = known.take(k), r.take(k)
        cmd = self.fleet.cmd_vel_mps.take(r, axis=0)
        age = (now - seen.take(i))[:, None]
        pos[i] += (cmd - vel.take(i, axis=0)) * age  # dead-reckoned on the commanded velocity instead
        vel[i] = cmd

    def _scan(self) -> None:
        """A network sensing scan of every airborne vehicle, cooperative or not. Between ticks (scans faster
        than the tick) it is taken once the next tick has moved the fleet (:meth:`_sense_deferred`)."""
        fleet, now = self.fleet, self.env.now
        rows = fleet.rows()
        if now > self._moved_s:
            self._deferred.append((now, rows))
            return
        sel = select(rows)
        self._sense(now, rows, gather(fleet.pos_m, sel).copy(), gather(fleet.vel_mps, sel).copy())

    def _sense_deferred(self, t_ref_s: float) -> None:
        """The scans taken since the last tick, each seeing its vehicles at ``pos + vel (t - t_ref_s)``.

        Called by a tick with its own time: a tick moves each vehicle on a straight line at the velocity it
        leaves in the fleet, so that places it where it was at the scan, on the move the tick has just made.
        Extrapolating from the tick before instead (the move not made yet) put a scan's vehicles off their
        path by up to the whole velocity change of the next tick (11 m for a 45 deg turn at 15 m/s), and the
        tracker took the echoes of every turning vehicle for a new target. At the end of the run, the scans
        after the last tick extrapolate from it (``t_ref_s`` = that tick): no tick will move the fleet."""
        fleet = self.fleet
        for t, rows in self._deferred:
            pos, vel = fleet.pos_m.take(rows, axis=0), fleet.vel_mps.take(rows, axis=0)
            pos += vel * (t - t_ref_s)
            self._sense(t, rows, pos, vel)
        self._deferred.clear()

    def _sense(self, t_s: float, rows: np.ndarray, pos: np.ndarray, vel: np.ndarray) -> None:
        """Scan the fleet ``rows`` at ``pos``, ``vel`` (the scan's own arrays) as of ``t_s``."""
        fleet = self.fleet
        flight = fleet.flight.take(rows)
        found = self._call_network(self.network.scan, t_s, flight, pos, vel, fleet.evtol.take(rows))
        self._sensing.append((t_s, flight, fleet.cooperative.take(rows), found))

    def _taken_scans(self, now: float) -> list[tuple[float, np.ndarray, np.ndarray, SensedScan]]:
        """Scans that may be published by ``now`` (their CPI and processing over), queued for the tracker;
        each with what :meth:`_found` logs. Later ones wait, the network working on them meanwhile."""
        taken = []
        while self._sensing and self._sensing[0][0] + self._scan_lead_s <= now:
            t_s, flight, coop, pending = self._sensing.popleft()
            sensed = pending.result()
            taken.append((t_s, flight, coop, sensed))
            self._scans.append(sensed)
        return taken

    def _found(self, t_s: float, flight: np.ndarray, coop: np.ndarray, sensed: SensedScan) -> None:
        """Log and count what the scan at ``t_s`` of ``flight`` found."""
        found = sensed.detections
        target = np.full(len(found), -1, flight.dtype)  # the truth flight of each detection; -1: false alarm
        real = (~found.false_alarm).nonzero()[0]
        target[real] = flight.take(found.target.take(real))
        self.log.messages("detection", target, t_s, found.t_delivery_s, found.pos_m, value=found.snr_db)
        hit = np.zeros(len(flight), bool)  # the airborne rows detected (a few thousand detections: no sort)
        hit[found.target.take(real)] = True
        noncoop = flight.compress(~coop)
        detected = np.sort(flight.compress(hit & ~coop))  # only the non-cooperative ones are counted
        self.tally.sensing(t_s, noncoop, detected, int(found.false_alarm.sum()))

    def _ingest_scans(self, now: float) -> None:
        """Scans published by ``now`` update the tracks, oldest first; the scans taken are logged after, so
        a tracker on its worker is at it meanwhile."""
        taken = self._taken_scans(now)
        while self._scans and self._scans[0].t_publish_s <= now:
            found = self._scans.pop(0).detections
            self._call_tracker(
                partial(self.tracks.update_sensing, sensor=found.trp), found.t_s, found.pos_m, found.cov_m2
            )
        for scan in taken:
            self._found(*scan)

    def _resolve(
        self,
        rows: np.ndarray,
        ids: np.ndarray,
        pos: np.ndarray,
        vel: np.ndarray,
        priority: np.ndarray,
        found: Conflicts,
        radius_m: float | np.ndarray,
        held: np.ndarray,
    ) -> None:
        """MVP velocity changes for the vehicles in conflict; clear advisories whose conflicts are over.

        ``rows`` are the picture's fleet rows, -1 for a sensing-only track: it is an obstacle with right of
        way (nobody can send it an advisory); ``ids`` name them in the log (an advisory names the other party
        of the vehicle's most urgent conflict). ``radius_m``: each conflict's own (inflated) radius, which MVP
        clears by its margin. ``held`` (fleet rows) keep their advisories even when their conflicts are
        over: their plans are not free yet. Resolutions are horizontal only: vehicles keep
        their layer, and a multirotor's 3-4 m/s vertical rate cannot fly MVP's vertical escapes in time
        (measured: vertical MVP gave more LoS than none).
        """
        cdr, sep, fleet, now = self.spec.cdr, self.spec.separation, self.fleet, self.env.now
        dv = mvp(
            pos,
            vel,
            found,
            radius_m=radius_m,
            half_height_m=sep.vertical_m,
            lookahead_s=cdr.lookahead_s,
            priority=priority,
            margin=cdr.margin,
            vertical=False,
        )
        n = len(rows)
        involved = np.zeros(n, bool)
        involved[found.i], involved[found.j] = True, True
        until = np.zeros(n)
        np.maximum.at(until, found.i, found.t_cpa_s)
        np.maximum.at(until, found.j, found.t_cpa_s)
        # the fleet's vehicles in conflict only (the others get no advisory and keep their deadline)
        k = (involved & (rows >= 0)).nonzero()[0]
        r = rows.take(k)
        dv = dv.take(k, axis=0)
        moving = np.abs(dv[:, 0]) + np.abs(dv[:, 1]) + np.abs(dv[:, 2]) > 0.0  # any component non-zero
        dv += vel.take(k, axis=0)
        target = self._capped(r, dv)
        adv_vel = fleet.adv_vel_mps.take(r, axis=0)
        changed = np.hypot(target[:, 0] - adv_vel[:, 0], target[:, 1] - adv_vel[:, 1]) > ADVISORY_CHANGE_MPS
        fresh = (moving & (~fleet.adv_on.take(r) | changed)).nonzero()[0]
        fleet.adv_until_s[r] = np.maximum(fleet.adv_until_s.take(r), now + until.take(k))
        partner = ids.take(most_urgent_partner(n, found).take(k.take(fresh)))
        self._issue(r.take(fresh), target.take(fresh, axis=0), partner)
        airborne = fleet.rows()
        sel = select(airborne)
        idle = gather(fleet.adv_on, sel) & (gather(fleet.adv_until_s, sel) <= now)
        idle[np.searchsorted(airborne, r)] = False  # still in conflict
        idle[np.searchsorted(airborne, held)] = False  # their plans are not free yet: keep the advisory
        done = airborne.compress(idle)
        if len(done):
            fleet.adv_on[done] = False
            back = fleet.mode.take(done) == MODE["advisory"]
            fleet.mode[done.compress(back)] = MODE["nominal"]
            self.log.events(now, "advisory_cleared", fleet.flight.take(done))

    def _capped(self, rows: np.ndarray, want: np.ndarray) -> np.ndarray:
        """Advisory velocities within each vehicle's cruise speed and climb/descent rates."""
        fleet = self.fleet
        speed = np.hypot(want[:, 0], want[:, 1])
        cruise = fleet.cruise_speed_mps.take(rows)
        scale = np.where(speed > cruise, cruise / np.maximum(speed, 1e-9), 1.0)
        out = np.empty_like(want)
        np.multiply(want[:, 0], scale, out=out[:, 0])
        np.multiply(want[:, 1], scale, out=out[:, 1])
        want[:, 2].clip(-fleet.descent_rate_mps.take(rows), fleet.climb_rate_mps.take(rows), out=out[:, 2])
        return out

    def _issue(self, rows: np.ndarray, vel: np.ndarray, partner: np.ndarray) -> None:
        """Send advisories down the link; each takes effect when (if) it arrives. ``partner``: the id the
        advisory answers (logged as the event's ``other``)."""
        if len(rows) == 0:
            return
        now = self.env.now
        self.fleet.cmd_t_s[rows], self.fleet.cmd_vel_mps[rows] = now, vel
        flight = self.fleet.flight.take(rows)
        pos = self.fleet.pos_m.take(rows, axis=0)
        t_rx = self._call_network(self.comms.downlink, now, flight, pos)
        speed = np.hypot(vel[:, 0], vel[:, 1])
        self.log.events(now, "advisory_issued", flight, other=partner, value=speed)
        self._downlinks.append((now, flight, pos, vel, t_rx))
        self._apply_advisories()

    def _sent_advisories(self, now: float) -> None:
        """Advisories sent before ``now`` (all of them on ideal comms): logged, counted and queued for
        delivery; those sent at ``now`` cannot arrive before a later instant (as :meth:`_sent_reports`)."""
        for t, flight, pos, vel, t_rx in self._answered(self._downlinks, now):
            self.log.messages("advisory", flight, t, t_rx, pos, value=np.hypot(vel[:, 0], vel[:, 1]))
            self.tally.advisories(len(flight), len(flight) - self.advisories.send(flight, t, t_rx, vel))

    def _apply_advisories(self) -> None:
        """Advisories whose delivery time has come take effect (the latest one per vehicle wins)."""
        self._sent_advisories(self.env.now)
        due = self.advisories.due(self.env.now)
        if due is None:
            return
        flight, _, t_rx, vel = due
        fleet = self.fleet
        rows, airborne = fleet.rows_of(flight)
        if len(rows) < len(flight):
            k = airborne.nonzero()[0]
            flight, t_rx, vel = flight.take(k), t_rx.take(k), vel.take(k, axis=0)
        if len(flight) == 0:
            return
        for c in range(3):  # column by column: 2-D fancy assignment is several times slower
            fleet.adv_vel_mps[rows, c] = vel[:, c]
        fleet.adv_on[rows] = True
        nominal = fleet.mode.take(rows) == MODE["nominal"]
        fleet.mode[rows.compress(nominal)] = MODE["advisory"]
        for name in ("advisory_delivered", "advisory_applied"):
            self.log.events(self.env.now, name, flight, value=t_rx)

    def _record(self) -> None:
        """Vehicle states at the recording rate, and the cell occupancy they make."""
        f = self.fleet
        sel = select(f.rows())
        pos = gather(f.pos_m, sel)
        self.log.states(self.env.now, gather(f.flight, sel), pos, gather(f.vel_mps, sel), gather(f.mode, sel))
        self.tally.occupancy(self.env.now, np.asfortranarray(pos))  # F-order: it reads x, y, z apart

    def _progress(self) -> None:
        if self._on_progress is not None:
            counts = (self.tally.count("conflict"), self.tally.count("los"))
            self._on_progress(Progress(self.env.now, len(self.fleet), *counts))

    def _finish(self) -> None:
        """Take the scans after the last tick; end the episodes still open at the end of the run (logged with
        the run's end time)."""
        if self._deferred:
            self._sense_deferred(self._moved_s)
        # what the network was still working on: logged and counted like the rest
        self._sent_reports(math.inf)
        self._sent_advisories(math.inf)
        for scan in self._taken_scans(math.inf):
            self._found(*scan)
        self._jobs.drain()
        self._fusion.drain()
        empty = np.empty(0, np.int64)
        now = self.env.now
        for name, episodes in (("los", self.los), ("conflict", self.conflicts)):
            self._pair_events(now, episodes, episodes.update(now, empty, empty, np.empty(0)), name)
        self.nmac.update(now, empty, empty, np.empty(0))


def most_urgent_partner(n: int, found: Conflicts) -> np.ndarray:
    """For each of ``n`` picture indices, the other party of its earliest-starting conflict (-1: none; of
    pairs starting together, the one listed first, as ``i`` before as ``j``).

    >>> columns = ([0, 0], [1, 2], [9.0, 3.0], [12.0, 5.0], [10.0, 4.0], [1.0, 1.0])  # i, j, t_in, ...
    >>> c = Conflicts(*(np.array(v) for v in columns))
    >>> most_urgent_partner(4, c).tolist()
    [2, 0, 0, -1]
    """
    return _earliest_partner(n, found.i, found.j, found.t_in_s)


@numba.njit(cache=True)
def _earliest_partner(n: int, i: np.ndarray, j: np.ndarray, t_in: np.ndarray) -> np.ndarray:
    """:func:`most_urgent_partner` in one pass over the pairs, each side of each (a lexsort of both sides
    took 1.4 ms a cycle at 10,000 drones)."""
    out, first = np.full(n, -1, np.int64), np.full(n, np.inf)
    for side in range(2):
        me, other = (i, j) if side == 0 else (j, i)
        for k in range(len(me)):
            if out[me[k]] < 0 or t_in[k] < first[me[k]]:
                out[me[k]], first[me[k]] = other[k], t_in[k]
    return out


@numba.njit(cache=True)
def _add_gnss_error(rng: np.random.Generator, state: np.ndarray, sigma: np.ndarray) -> None:
    """``state += rng.standard_normal(state.shape) * sigma``, row by row as numpy draws them, in place (numba
    draws numpy's numbers from the same generator at about half the cost)."""
    for i in range(state.shape[0]):
        for c in range(state.shape[1]):
            state[i, c] += rng.standard_normal() * sigma[c]
