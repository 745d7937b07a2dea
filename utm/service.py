"""UTMService: the one façade over intents, deconfliction, conformance, geofences and the store.

The HTTP API calls it with the wall clock; the simulator calls the very same methods with its own clock and an
in-memory database. Each decision runs under one lock: read the live picture, check, write one transaction,
then update the live picture, so two racing conflicting plans can never both be accepted. The live
picture, the conformance timers and the never-reported flags are rebuilt from the store at start-up.
Layer: utm; imports airspace only.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from airspace.cells import CellGrid
from airspace.frames import LocalFrame
from airspace.geofences import Geofence
from airspace.geozones import load_geozones
from airspace.routes import RouteGraph
from airspace.volumes import Volume4D
from utm.alternatives import find_alternatives
from utm.conformance import ConformanceChange, ConformanceMonitor
from utm.decisions import Advisory, Decision, DecisionRecord, Notification
from utm.deconfliction import Policy, check_plan, validate_area, validate_request
from utm.errors import InvalidRequest, NotFound, NotManager, PlanRejected, StaleOvn
from utm.intents import IntentRequest, OperationalIntent, State, check_transition, make_ovn
from utm.live import LiveAirspace
from utm.store import Store, StoreTx
from utm.telemetry import TelemetryBatch, TelemetryReport, TimerState

__all__ = ["UTMService"]

Clock = Callable[[], datetime]
Listener = Callable[[str, object], None]
"""Told of each committed change: ``(kind, payload)``; see :meth:`UTMService.add_listener`."""
MONITOR = "conformance-monitor"


_FREEZE_FROM = 10_000  # intents: a picture this big is ~1M objects for every full collection to walk
NOTIFICATION_RETENTION = timedelta(days=1)
"""User notifications older than this are deleted: operators poll them (InterUSS user_notifications) within
minutes; a day keeps the table bounded in a busy service (an overlap notifies both operators)."""
_PRUNE_EVERY = timedelta(minutes=1)  # of the service's clock: one indexed DELETE per minute at most


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while the live picture is built (~15 objects per volume).

    Each collection during the build would walk every object built so far: it more than doubles a
    100k-intent rebuild. Nothing built forms reference cycles, so reference counting frees it all.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class UTMService:
    """Plans, updates and ends intents; watches telemetry; keeps geofences; audits every decision."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        policy: Policy | None = None,
        grid: CellGrid | None = None,
        routes: RouteGraph | None = None,
        geofences: Iterable[Geofence] = (),
        monitor: ConformanceMonitor | None = None,
        notification_retention: timedelta | None = NOTIFICATION_RETENTION,
    ) -> None:
        """``notification_retention``: how long user notifications are kept (None: for ever)."""
        if notification_retention is not None and notification_retention <= timedelta(0):
            raise ValueError(f"notification_retention must be positive ({notification_retention})")
        self._retention = notification_retention
        self._pruned_at: datetime | None = None
        self._store = store
        self._clock = clock
        self._policy = policy or Policy()
        self._routes = routes
        self._monitor = monitor or ConformanceMonitor()
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        with store.write() as tx:
            for fence in geofences:  # the region's own zones: refreshed at every start
                tx.put_geofence(fence)
        with _collector_paused():  # the picture is rebuilt from the store, never trusted from memory
            intents = store.load_intents()
            self._live = LiveAirspace(grid=grid, geofences=store.load_geofences(), intents=intents)
            self._monitor.restore(store.load_timers())  # a restart resets no conformance clock
            self._flagged_silent = store.flagged_never_reported()
            if len(intents) >= _FREEZE_FROM:
                # Long-lived: out of the collector's walks for good (at 100k a full collection walking it
                # takes 0.6 s, a stall in some later decision). Done at start-up only, and only for a big
                # store, so that a sweep's many small services freeze nothing.
                gc.freeze()

    @property
    def frame(self) -> LocalFrame:
        return self._store.frame

    @property
    def policy(self) -> Policy:
        return self._policy

    def now(self) -> datetime:
        """The service's clock (wall clock behind HTTP, simulation time in the simulator)."""
        return self._clock()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(kind, payload)`` after each committed change, under the service's lock:
        ``("intent", OperationalIntent)`` for a new or changed intent, ``("ended", UUID)``, ``("telemetry",
        TelemetryReport)`` for each single report (the simulator's batches are not announced). A listener
        must return quickly (the web map's live stream only queues)."""
        self._listeners.append(listener)

    def live_intents(self) -> list[OperationalIntent]:
        """Every live (not ended) intent, sorted by id."""
        with self._lock:
            return sorted(self._live.intents.values(), key=lambda intent: str(intent.id))

    def _announce(self, kind: str, payload: object) -> None:
        for listener in self._listeners:
            listener(kind, payload)

    # -- operational intents

    def create(self, intent_id: UUID, request: IntentRequest, *, manager: str) -> Decision:
        """Plan a new intent; ``PlanRejected`` (with verified alternatives) when it may not fly."""
        with self._lock:
            if intent_id in self._live.intents:
                current = self._live.get(intent_id)
                raise StaleOvn(
                    f"operational intent {intent_id} exists (version {current.version}); update it by ovn"
                )
            return self._decide(intent_id, request, manager=manager, previous=None)

    def update(self, intent_id: UUID, ovn: str, request: IntentRequest, *, manager: str) -> Decision:
        """Change an intent the caller manages, at the version named by ``ovn``."""
        with self._lock:
            previous = self._owned(intent_id, ovn, manager)
            return self._decide(intent_id, request, manager=manager, previous=previous)

    def delete(self, intent_id: UUID, ovn: str, *, manager: str) -> OperationalIntent:
        """End an intent (F3548 Ended: removed from the live set, kept in history)."""
        with self._lock:
            intent = self._owned(intent_id, ovn, manager)
            self._end([intent_id], actor=manager, reason="ended")
            return intent

    def get(self, intent_id: UUID) -> OperationalIntent:
        """The live intent with this id (``NotFound`` when absent or ended)."""
        return self._live.get(intent_id)

    def query(self, area: Volume4D) -> list[OperationalIntent]:
        """Live intents whose volumes intersect ``area`` (closed, exact), sorted by id."""
        validate_area(area, policy=self._policy, field="area_of_interest")
        return self._live.overlapping([area])

    def _owned(self, intent_id: UUID, ovn: str, manager: str) -> OperationalIntent:
        intent = self._live.get(intent_id)
        if intent.manager != manager:
            raise NotManager(f"operational intent {intent_id} is managed by another USS")
        if intent.ovn != ovn:
            raise StaleOvn(f"ovn {ovn!r} is not the current version ({intent.version}) of {intent_id}")
        return intent

    def _decide(
        self, intent_id: UUID, request: IntentRequest, *, manager: str, previous: OperationalIntent | None
    ) -> Decision:
        now = self._clock()
        action = "update" if previous else "create"
        validate_request(request, now=now, policy=self._policy)
        self._check_in_region(request)
        check_transition(previous.state if previous else None, request.state)
        try:
            advisories = check_plan(
                self._live, request, intent_id=intent_id, previous=previous, now=now, policy=self._policy
            )
        except PlanRejected as rejected:
            alternatives = find_alternatives(
                self._live,
                request,
                intent_id=intent_id,
                previous=previous,
                now=now,
                policy=self._policy,
                routes=self._routes,
                refused=rejected,
            )
            refs = tuple(c.ref for c in rejected.conflicts)
            with self._store.write(synced=False) as tx:  # nothing changed: no wait for the disk
                tx.record(
                    DecisionRecord(
                        now,
                        manager,
                        action,
                        str(intent_id),
                        "rejected",
                        rejected.reason,
                        refs,
                        rejected.message,
                    )
                )
            raise PlanRejected(rejected.reason, rejected.message, rejected.conflicts, alternatives) from None
        intent = self._version(intent_id, request, manager=manager, previous=previous, now=now)
        self._commit(intent, action=action, actor=manager, reason="", advisories=advisories, now=now)
        return Decision(intent, advisories)

    def _check_in_region(self, request: IntentRequest) -> None:
        """Nominal volumes must lie inside the managed region's grid: elsewhere this service has no say."""
        grid = self._live.grid
        if grid is None:
            return
        xmin, ymin, xmax, ymax = grid.bounds_xy_m
        for n, volume in enumerate(request.volumes):
            x0, y0, x1, y1 = volume.volume.bounds_xy_m
            if x0 < xmin or y0 < ymin or x1 > xmax or y1 > ymax:
                extent = f"x {xmin:g}..{xmax:g} m, y {ymin:g}..{ymax:g} m around the region origin"
                raise InvalidRequest(f"volumes[{n}]", f"lies outside the managed region ({extent})")

    def _version(
        self,
        intent_id: UUID,
        request: IntentRequest,
        *,
        manager: str,
        previous: OperationalIntent | None,
        now: datetime,
    ) -> OperationalIntent:
        version = previous.version + 1 if previous else 1
        return OperationalIntent(
            id=intent_id,
            manager=manager,
            version=version,
            ovn=make_ovn(intent_id, version, now),
            state=request.state,
            priority=request.priority,
            volumes=request.volumes,
            off_nominal_volumes=request.off_nominal_volumes,
            uss_base_url=request.uss_base_url,
            authorisation=request.authorisation,
            time_created=previous.time_created if previous else now,
            time_updated=now,
        )

    def _commit(
        self,
        intent: OperationalIntent,
        *,
        action: str,
        actor: str,
        reason: str,
        advisories: Iterable[Advisory],
        now: datetime,
        timers: TimerState | None = None,
    ) -> None:
        """One transaction: the version, its audit row, the notifications it causes and ``timers``; then the
        picture."""
        advisories = tuple(advisories)
        with self._store.write() as tx:
            tx.put_intent(intent)
            refs = tuple(a.ref for a in advisories if a.kind == "conflict_created")
            tx.record(DecisionRecord(now, actor, action, str(intent.id), "accepted", reason, refs))
            for note in self._notifications(intent, advisories, now):
                tx.notify(note)
            self._prune(tx, now)
            if timers is not None:
                tx.put_timers(timers)
        self._live.put(intent)
        self._announce("intent", intent)

    def _prune(self, tx: StoreTx, now: datetime) -> None:
        """Delete notifications past the retention, at most once per ``_PRUNE_EVERY`` of the clock."""
        if self._retention is None or (self._pruned_at is not None and now - self._pruned_at < _PRUNE_EVERY):
            return
        tx.prune_notifications(now - self._retention)
        self._pruned_at = now

    def _notifications(
        self, intent: OperationalIntent, advisories: Iterable[Advisory], now: datetime
    ) -> list[Notification]:
        notes = []
        for adv in advisories:
            notes.append(Notification(now, intent.manager, str(intent.id), adv.kind, adv.message))
            if adv.kind == "conflict_created" and (other := self._live.intents.get(UUID(adv.ref))):
                message = f"operational intent {intent.id} now overlaps yours ({adv.message})"
                notes.append(Notification(now, other.manager, str(other.id), "conflict_created", message))
        return notes

    # -- telemetry and conformance

    def telemetry(self, report: TelemetryReport, *, manager: str) -> OperationalIntent:
        """Ingest one position report of an intent the caller manages; apply any conformance change."""
        with self._lock:
            intent = self._live.get(report.intent_id)
            if intent.manager != manager:
                raise NotManager(f"operational intent {report.intent_id} is managed by another USS")
            change = self._monitor.ingest(intent, report)
            self._apply_ingest([] if change is None else [change])
            self._flagged_silent.discard(report.intent_id)
            self._announce("telemetry", report)
            return self._live.get(report.intent_id)

    def telemetry_batch(
        self, intent_ids: Sequence[UUID], batch: TelemetryBatch, *, manager: str
    ) -> list[ConformanceChange]:
        """Ingest many reports at once (the simulator's path); ``batch.intent_row`` indexes ``intent_ids``.

        The same rules as :meth:`telemetry`, applied in report order; the conformance changes made.
        """
        with self._lock:
            intents = [self._live.get(i) for i in intent_ids]
            foreign = [str(i.id) for i in intents if i.manager != manager]
            if foreign:
                raise NotManager(f"operational intent {foreign[0]} is managed by another USS")
            changes = self._monitor.ingest_batch(intents, batch)
            self._apply_ingest(changes)
            self._flagged_silent.difference_update(intent_ids)
            return changes

    def last_telemetry(self, intent_id: UUID) -> TelemetryReport:
        """The latest report of a live intent (F3548 USS telemetry endpoint); ``NotFound`` without one."""
        self._live.get(intent_id)
        report = self._monitor.last_report(intent_id)
        if report is None:
            raise NotFound(f"operational intent {intent_id} has no telemetry")
        return report

    def tick(self) -> list[ConformanceChange]:
        """Run the conformance timers now: overdue Nonconforming or silent flights become Contingent."""
        with self._lock:
            now = self._clock()
            changes = self._monitor.tick(self._live.intents, now)
            for change in changes:  # a tick moves no timer: nothing for the store but the change
                self._apply(change, None)
            silent = [
                i
                for i in self._monitor.never_reported(self._live.intents, now)
                if i not in self._flagged_silent
            ]
            if silent:
                with self._store.write() as tx:
                    for intent_id in silent:
                        intent = self._live.get(intent_id)
                        message = f"activated operational intent {intent_id} has sent no telemetry"
                        tx.notify(
                            Notification(now, intent.manager, str(intent_id), "never_reported", message)
                        )
                self._flagged_silent.update(silent)
            return changes

    def _apply_ingest(self, changes: Sequence[ConformanceChange]) -> None:
        """Apply the changes an ingest caused, one transaction each, and persist the timers it moved.

        The timers go into the last change's transaction, or into one of their own (one statement for a
        whole batch): every acknowledged report is durable, without a transaction per report.
        """
        timers = self._monitor.unsaved()
        for n, change in enumerate(changes):
            self._apply(change, timers if n == len(changes) - 1 else None)
        if not changes and len(timers):
            with self._store.write() as tx:
                tx.put_timers(timers)

    def _apply(self, change: ConformanceChange, timers: TimerState | None) -> None:
        previous = self._live.get(change.intent_id)
        check_transition(previous.state, change.new_state)
        nominal = () if change.new_state is State.CONTINGENT else previous.volumes
        request = IntentRequest(
            state=change.new_state,
            priority=previous.priority,
            volumes=nominal,
            off_nominal_volumes=change.off_nominal_volumes,
            uss_base_url=previous.uss_base_url,
            authorisation=previous.authorisation,
        )
        now = self._clock()
        intent = self._version(
            change.intent_id, request, manager=previous.manager, previous=previous, now=now
        )
        kind = str(change.new_state).lower()
        advisory = Advisory(
            kind if kind in ("nonconforming", "contingent") else "conformance_restored", "", change.reason
        )
        self._commit(
            intent,
            action="conformance",
            actor=MONITOR,
            reason=change.reason,
            advisories=[advisory],
            now=now,
            timers=timers,
        )

    # -- geofences

    @property
    def geofences(self) -> tuple[Geofence, ...]:
        return self._live.geofences

    def put_geozone(self, identifier: str, source: Mapping[str, Any], *, actor: str) -> Geofence:
        """Create or replace one geofence from a geozone document holding exactly that zone."""
        fences = load_geozones(source, self.frame)
        if len(fences) != 1 or fences[0].identifier != identifier:
            found = ", ".join(f.identifier for f in fences) or "none"
            raise InvalidRequest("body", f"must hold exactly one zone, {identifier!r} (found {found})")
        return self._put_geofences(fences, actor=actor)[0]

    def import_geozones(self, source: Mapping[str, Any], *, actor: str) -> list[Geofence]:
        """Import an ED-269 / ED-318 / GeoJSON document; all of it or nothing."""
        return self._put_geofences(load_geozones(source, self.frame), actor=actor)

    def _put_geofences(self, fences: list[Geofence], *, actor: str) -> list[Geofence]:
        """Create or replace geofences (by identifier) in one transaction; new plans meet them at once."""
        with self._lock:
            now = self._clock()
            with self._store.write() as tx:
                for fence in fences:
                    tx.put_geofence(fence)
                    restriction = str(fence.restriction)
                    tx.record(
                        DecisionRecord(now, actor, "geofence_put", fence.identifier, "accepted", restriction)
                    )
            for fence in fences:
                self._live.put_geofence(fence)
        return fences

    def get_geofence(self, identifier: str) -> Geofence:
        for fence in self._live.geofences:
            if fence.identifier == identifier:
                return fence
        raise NotFound(f"geofence {identifier!r} is not known")

    def delete_geofence(self, identifier: str, *, actor: str) -> Geofence:
        with self._lock:
            fence = self.get_geofence(identifier)
            now = self._clock()
            with self._store.write() as tx:
                tx.delete_geofence(identifier)
                tx.record(DecisionRecord(now, actor, "geofence_delete", identifier, "accepted"))
            self._live.remove_geofence(identifier)
            return fence

    # -- what people read

    def notifications(
        self, *, manager: str | None = None, after: datetime | None = None, before: datetime | None = None
    ) -> list[Notification]:
        return self._store.notifications(manager=manager, after=after, before=before)

    def decisions(self, *, entity_id: str | None = None, limit: int | None = None) -> list[DecisionRecord]:
        return self._store.decisions(entity_id=entity_id, limit=limit)

    # -- test director (InterUSS flight_planning ClearArea)

    def clear_area(self, area: Volume4D, *, actor: str) -> list[UUID]:
        """End every live intent meeting ``area``, whoever manages it, audited as ``actor``; their ids."""
        with self._lock:
            ended = [intent.id for intent in self._live.overlapping([area])]
            self._end(ended, actor=actor, reason="clear_area")
            return ended

    def _end(self, intent_ids: list[UUID], *, actor: str, reason: str) -> None:
        """End ``intent_ids`` in one transaction; then they leave the live picture and the monitor."""
        now = self._clock()
        with self._store.write() as tx:
            for intent_id in intent_ids:
                tx.end_intent(intent_id, now)
                tx.record(DecisionRecord(now, actor, "delete", str(intent_id), "accepted", reason))
        for intent_id in intent_ids:
            self._live.remove(intent_id)
            self._monitor.forget(intent_id)
            self._flagged_silent.discard(intent_id)
            self._announce("ended", intent_id)
