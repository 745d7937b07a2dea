"""Conformance monitoring: telemetry in, F3548 Nonconforming / Contingent changes out.

A pure state machine. It keeps the latest report and the excursion timer of each intent in memory,
never reads a clock or the store, and returns :class:`ConformanceChange` values; the service applies
them (new version, audit record, notification) and persists the timers the monitor hands it.
Layer: utm; imports airspace only.

Rules (issue 3 item 5; STANDARDS.md §1.5-1.6) and the choices made here:

* Activated and Nonconforming intents are monitored. A report for an Accepted intent is refused with
  :class:`InvalidRequest` (field ``state``): a flight is activated before it flies. A report for a
  Contingent intent is kept (F3548: its telemetry is still served) and changes nothing.
* A report conforms when it touches a nominal volume active at the report time, its accuracy as
  tolerance: horizontal distance to the outline <= ``accuracy_h_m``, ``z`` within
  ``[lower - accuracy_v_m, upper + accuracy_v_m]``, time in the closed window.
* Activated + outside -> Nonconforming with one off-nominal volume around the report; Nonconforming +
  inside -> Activated; Nonconforming + outside -> a fresh volume (same state) only once the report
  leaves the current off-nominal volumes, so a hovering excursion does not churn versions.
* The off-nominal volume is a circle centred on the reported position, of radius
  ``max(off_nominal_radius_m, horizontal speed * off_nominal_lookahead_s) + accuracy_h_m`` (the
  lookahead defaults to F3548 OiMaxDurationPerExcursionSeconds = 10 s), between ``z -+ (max(half height,
  |vz| * lookahead) + accuracy_v_m)``, over ``[time, time + off_nominal_duration_s]``. A Contingent
  volume built from an older report grows by speed times the time since that report.
* Nonconforming for more than ``max_nonconforming_s`` (F3548 MaxRecoverableTimeInNonconformingState-
  Seconds = 60), counted from the report that made it Nonconforming -> Contingent, even when the report
  revealing it is back inside. No report for more than ``telemetry_timeout_s`` after at least one ->
  Contingent (:meth:`ConformanceMonitor.tick`). A flight that never reported is not changed;
  :meth:`ConformanceMonitor.never_reported` lists it. Both limits are strict (exactly 60 s is still
  recoverable).
* A report not newer than the latest one kept for its intent (out of order or repeated) is ignored.
* The timers survive a crash (issue 3: an acknowledged write survives; F3548 counts the 60 s from the
  excursion, not from our start-up). :meth:`ConformanceMonitor.unsaved` gives the service, per intent
  reported on, the latest kept report (the 15 s clock, and the centre of a later Contingent volume) and
  the excursion start (the 60 s clock); the service stores them with the change they caused, or in one
  statement per ingest, and hands them back to :meth:`ConformanceMonitor.restore` at start-up. So a
  restart resets neither clock, older reports stay ignored, and a flight that reported is never taken
  for one that never did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import numpy as np
import shapely

from airspace.volumes import Circle, Volume3D, Volume4D
from utm.errors import InvalidRequest
from utm.intents import OperationalIntent, State
from utm.telemetry import (
    AH,
    AV,
    COLUMNS,
    VX,
    VY,
    VZ,
    T,
    TelemetryBatch,
    TelemetryReport,
    TimerState,
    X,
    Y,
    Z,
    posix_s,
)

__all__ = ["ConformanceChange", "ConformanceMonitor"]

_STATES = [State.ACCEPTED, State.ACTIVATED, State.NONCONFORMING, State.CONTINGENT]  # code = position
_NONCONFORMING, _CONTINGENT = 2, 3


@dataclass(frozen=True, slots=True)
class ConformanceChange:
    """A state change for the service to apply; for Contingent it must also empty ``volumes`` (F3548)."""

    intent_id: UUID
    new_state: State
    off_nominal_volumes: tuple[Volume4D, ...]
    reason: str
    time: datetime


class _VolumeTable:
    """Volume4D rows as arrays (t0, t1, zlo, zhi, cx, cy, r; r is nan for polygons) for the batch test."""

    def __init__(self, capacity: int = 64) -> None:
        self.num = np.full((capacity, 7), np.nan)
        self.geom = np.empty(capacity, dtype=object)
        self.size = 0

    def append(self, volumes: Sequence[Volume4D]) -> int:
        """Add ``volumes`` at the end; returns the first row."""
        start = self.size
        while self.size + len(volumes) > len(self.num):
            self.num = np.vstack([self.num, np.full_like(self.num, np.nan)])
            self.geom = np.concatenate([self.geom, np.empty(len(self.geom), dtype=object)])
        for k, v in enumerate(volumes, start):
            o = v.volume.outline
            circle = (o.center_x_m, o.center_y_m, o.radius_m) if isinstance(o, Circle) else (np.nan,) * 3
            self.num[k] = (v.t_start_s, v.t_end_s, v.volume.z_lower_m, v.volume.z_upper_m, *circle)
            self.geom[k] = None if isinstance(o, Circle) else o
        self.size += len(volumes)
        return start

    def touched(self, vrow: np.ndarray, rec: np.ndarray) -> np.ndarray:
        """Whether report ``rec[k]`` (9 columns) touches volume ``vrow[k]``, accuracy as tolerance; closed."""
        t0, t1, zlo, zhi, cx, cy, r = self.num[vrow].T
        t, x, y, z, ah, av = rec[:, T], rec[:, X], rec[:, Y], rec[:, Z], rec[:, AH], rec[:, AV]
        ok = (t0 <= t) & (t <= t1) & (zlo - av <= z) & (z <= zhi + av)
        circle, polygon = ok & ~np.isnan(r), ok & np.isnan(r)
        hit = np.zeros(len(vrow), bool)
        hit[circle] = np.hypot(x[circle] - cx[circle], y[circle] - cy[circle]) <= r[circle] + ah[circle]
        hit[polygon] = shapely.intersects_xy(self.geom[vrow[polygon]], x[polygon], y[polygon])
        near = np.flatnonzero(polygon & ~hit & (ah > 0.0))  # outside, but maybe within its accuracy
        points = shapely.points(x[near], y[near])
        hit[near] = shapely.distance(self.geom[vrow[near]], points) <= ah[near]
        return hit

    def any_touched(self, starts: np.ndarray, counts: np.ndarray, rec: np.ndarray) -> np.ndarray:
        """Whether report ``rec[i]`` touches any of rows ``starts[i] .. starts[i] + counts[i] - 1``."""
        owner = np.repeat(np.arange(len(counts)), counts)
        vrow = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(len(owner))
        hit = self.touched(vrow, rec[owner])
        return np.bincount(owner[hit], minlength=len(counts)) > 0


class ConformanceMonitor:
    """Telemetry timers and conformance decisions for the live intents (see the module docstring).

    Parameters
    ----------
    max_nonconforming_s : longest recoverable excursion (F3548: 60 s).
    telemetry_timeout_s : longest silence after a first report (issue 3: 15 s).
    off_nominal_radius_m, off_nominal_half_height_m, off_nominal_duration_s, off_nominal_lookahead_s :
        shape of the off-nominal volume (module docstring).
    """

    def __init__(
        self,
        *,
        max_nonconforming_s: float = 60.0,
        telemetry_timeout_s: float = 15.0,
        off_nominal_radius_m: float = 100.0,
        off_nominal_half_height_m: float = 30.0,
        off_nominal_duration_s: float = 60.0,
        off_nominal_lookahead_s: float = 10.0,
    ) -> None:
        options = dict(locals())
        del options["self"]
        for name, value in options.items():
            if not (math.isfinite(value) and value > 0.0):
                raise InvalidRequest(name, f"must be a finite number > 0 ({value})")
        self.max_nonconforming_s = max_nonconforming_s
        self.telemetry_timeout_s = telemetry_timeout_s
        self.off_nominal_radius_m = off_nominal_radius_m
        self.off_nominal_half_height_m = off_nominal_half_height_m
        self.off_nominal_duration_s = off_nominal_duration_s
        self.off_nominal_lookahead_s = off_nominal_lookahead_s
        # intent id (as int: hashes in C, unlike UUID) -> row of the arrays below; rows are reused
        self._row: dict[int, int] = {}
        self._ids: list[UUID | None] = []
        self._free: list[int] = []
        self._last = np.empty((0, len(COLUMNS)))  # latest kept report; nan row = none
        self._since = np.empty(0)  # POSIX s the running excursion began; nan = none
        self._vstart = np.empty(0, np.int64)  # nominal volumes of the row in self._table
        self._vcount = np.empty(0, np.int64)
        self._vref: list[tuple[Volume4D, ...] | None] = []  # the tuple those rows were built from
        self._unsaved = np.empty(0, bool)  # rows whose timers changed since the last unsaved()
        self._table = _VolumeTable()
        self._garbage = 0  # table rows no longer referenced

    def ingest(self, intent: OperationalIntent, report: TelemetryReport) -> ConformanceChange | None:
        """One report (the HTTP path); the change it causes, if any. Same rules as :meth:`ingest_batch`."""
        changes = self.ingest_batch([intent], [report])
        return changes[0] if changes else None

    def ingest_batch(
        self, intents: Sequence[OperationalIntent], reports: TelemetryBatch | Sequence[TelemetryReport]
    ) -> list[ConformanceChange]:
        """Apply many reports at once; the changes in the order of the reports that caused them.

        Parameters
        ----------
        intents : the current intents reported on (others may be present; ids distinct).
        reports : a :class:`TelemetryBatch` whose ``intent_row`` (n,) indexes ``intents``, or reports
            matched to ``intents`` by id.

        Equivalent to :meth:`ingest` on each report in order, the service applying each change before
        the next report (several changes for one intent can result). Validation comes first: a report
        for an Accepted intent, or duplicate ids among the intents used, refuses the whole batch.
        Containment is vectorized over all reports; only reports of intents that are or become
        off-nominal go through the per-report state machine.
        """
        batch = (
            reports if isinstance(reports, TelemetryBatch) else TelemetryBatch.from_reports(intents, reports)
        )
        if len(batch) == 0:
            return []
        if batch.intent_row.min() < 0 or batch.intent_row.max() >= len(intents):
            raise InvalidRequest("telemetry.intent_row", f"must index the {len(intents)} intents given")
        used = np.unique(batch.intent_row)
        rows, codes = [], []
        for j in used.tolist():  # grouping: the only per-intent Python work on the hot path
            oi = intents[j]
            if oi.state is State.ACCEPTED:
                raise InvalidRequest("state", f"intent {oi.id} is Accepted; telemetry starts once Activated")
            row = self._row.get(oi.id.int)
            rows.append(row if row is not None and self._vref[row] is oi.volumes else self._register(oi))
            codes.append(_STATES.index(oi.state))
        if len(set(rows)) != len(rows):
            raise InvalidRequest("intents", "the intents reported on must have distinct ids")
        rows_of = np.full(len(intents), -1, np.int64)
        state_of = np.zeros(len(intents), np.int8)
        rows_of[used], state_of[used] = rows, codes
        rec, mrow, st = batch.matrix(), rows_of[batch.intent_row], state_of[batch.intent_row]
        fresh = self._fresh(mrow, rec[:, T])
        tested = np.flatnonzero(fresh & (st != _CONTINGENT))
        inside = np.zeros(len(batch), bool)
        rt = mrow[tested]
        inside[tested] = self._table.any_touched(self._vstart[rt], self._vcount[rt], rec[tested])
        calm = rows_of[used][state_of[used] != _NONCONFORMING]
        self._since[calm] = np.nan
        off = np.zeros(len(intents), bool)
        off[state_of == _NONCONFORMING] = True
        off[batch.intent_row[tested[~inside[tested]]]] = True
        changes = self._run(
            intents, batch.intent_row, rows_of, rec, inside, tested[off[batch.intent_row[tested]]]
        )
        self._keep_latest(mrow, fresh, rec)
        self._unsaved[rows_of[used]] = True
        return changes

    def tick(self, intents: Mapping[UUID, OperationalIntent], now: datetime) -> list[ConformanceChange]:
        """Contingent changes due at ``now`` (excursion too long, or telemetry gone silent), sorted by id."""
        now_s = posix_s(now, "now")
        with np.errstate(invalid="ignore"):
            silent = now_s - self._last[:, T] > self.telemetry_timeout_s
            overdue = now_s - self._since > self.max_nonconforming_s
        changes = []
        for row in np.flatnonzero(silent | overdue).tolist():
            intent = intents.get(self._ids[row])  # type: ignore[arg-type]
            if intent is None:
                continue
            if intent.state is State.NONCONFORMING and overdue[row]:
                reason = self._overdue_reason(now_s - self._since[row])
            elif intent.state in (State.ACTIVATED, State.NONCONFORMING) and silent[row]:
                quiet_s = now_s - self._last[row, T]
                reason = f"no telemetry for {quiet_s:.1f} s (more than {self.telemetry_timeout_s:g} s)"
            else:
                continue
            volume = self._around(self._last[row], now_s)
            changes.append(ConformanceChange(intent.id, State.CONTINGENT, (volume,), reason, now))
        return sorted(changes, key=lambda c: c.intent_id)

    def never_reported(self, intents: Mapping[UUID, OperationalIntent], now: datetime) -> list[UUID]:
        """Activated intents with no report for more than ``telemetry_timeout_s`` since they became active.

        "Became active" is the later of the intent's ``time_start`` and ``time_updated`` (the intent
        records no activation time; an update while active restarts the wait). Sorted by id; nothing is
        changed (issue 3: flagged in notifications, never made Contingent).
        """
        now_s = posix_s(now, "now")
        late = []
        for intent in intents.values():
            row = self._row.get(intent.id.int)
            if intent.state is not State.ACTIVATED or (row is not None and not np.isnan(self._last[row, T])):
                continue
            since = max(intent.time_updated, intent.time_start or intent.time_updated)
            if now_s - since.timestamp() > self.telemetry_timeout_s:
                late.append(intent.id)
        return sorted(late)

    def last_report(self, intent_id: UUID) -> TelemetryReport | None:
        """The latest report kept for the intent (the USS telemetry endpoint), or None."""
        row = self._row.get(intent_id.int)
        if row is None or np.isnan(self._last[row, T]):
            return None
        t_s, *values = self._last[row].tolist()
        return TelemetryReport(intent_id, _utc(t_s), *values)

    def unsaved(self) -> TimerState:
        """The timers changed since the last call (of the intents reported on since then), for the store."""
        rows = np.flatnonzero(self._unsaved)
        self._unsaved[rows] = False
        ids = tuple([self._ids[row] for row in rows.tolist()])
        return TimerState(ids, self._last[rows], self._since[rows])  # type: ignore[arg-type]

    def restore(self, timers: TimerState) -> None:
        """Take back stored timers (at start-up), so ticks and reports continue the clocks of before.

        The nominal volumes are read from the intent at its next report, as for any new intent.
        """
        rows = [self._row_of(intent_id) for intent_id in timers.intent_ids]
        self._last[rows], self._since[rows] = timers.reports, timers.since_s

    def forget(self, intent_id: UUID) -> None:
        """Drop everything kept for the intent; call when it ends, else :meth:`tick` keeps visiting it.

        Unknown ids are ignored.
        """
        row = self._row.pop(intent_id.int, None)
        if row is None:
            return
        self._garbage += int(self._vcount[row])
        self._ids[row], self._vref[row] = None, None
        self._last[row], self._since[row], self._vcount[row] = np.nan, np.nan, 0
        self._unsaved[row] = False
        self._free.append(row)

    # --- internals -------------------------------------------------------------------------------

    def _row_of(self, intent_id: UUID) -> int:
        """The intent's row, taken from the free ones if it has none yet."""
        row = self._row.get(intent_id.int)
        if row is None:
            if not self._free:
                self._grow()
            row = self._free.pop()
            self._row[intent_id.int], self._ids[row] = row, intent_id
        return row

    def _register(self, intent: OperationalIntent) -> int:
        """The intent's row, with its nominal volumes in the table (rebuilt only when the tuple changes)."""
        row = self._row_of(intent.id)
        if self._vref[row] is not intent.volumes:
            self._garbage += int(self._vcount[row])
            self._vref[row] = intent.volumes
            self._vstart[row], self._vcount[row] = self._table.append(intent.volumes), len(intent.volumes)
            if self._garbage > max(1024, self._table.size // 2):
                self._table, self._garbage = _VolumeTable(len(self._table.num)), 0
                for r, volumes in enumerate(self._vref):
                    if volumes is not None:
                        self._vstart[r] = self._table.append(volumes)
        return row

    def _grow(self) -> None:
        old = len(self._ids)
        new = max(64, 2 * old)
        self._ids += [None] * (new - old)
        self._vref += [None] * (new - old)
        self._last = np.vstack([self._last, np.full((new - old, len(COLUMNS)), np.nan)])
        self._since = np.concatenate([self._since, np.full(new - old, np.nan)])
        self._vstart = np.concatenate([self._vstart, np.zeros(new - old, np.int64)])
        self._vcount = np.concatenate([self._vcount, np.zeros(new - old, np.int64)])
        self._unsaved = np.concatenate([self._unsaved, np.zeros(new - old, bool)])
        self._free += range(new - 1, old - 1, -1)

    def _fresh(self, mrow: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Reports newer than every earlier report of their intent, kept or in this batch (input order)."""
        order = np.argsort(mrow, kind="stable")
        g, t = mrow[order], t_s[order]
        times, rank = np.unique(t, return_inverse=True)
        width = len(times) + 1
        _, group = np.unique(g, return_inverse=True)
        best = np.maximum.accumulate(group * width + rank + 1)  # running max of rank+1 within each group
        first = np.r_[True, g[1:] != g[:-1]]
        prev = np.where(first, 0, np.r_[0, best[:-1]] - group * width)  # 0 = no earlier report in batch
        prev_t = np.where(prev > 0, times[np.maximum(prev - 1, 0)], -np.inf)
        fresh = np.empty(len(t), bool)
        fresh[order] = t > np.fmax(prev_t, self._last[g, T])
        return fresh

    def _run(
        self,
        intents: Sequence[OperationalIntent],
        intent_row: np.ndarray,
        rows_of: np.ndarray,
        rec: np.ndarray,
        inside: np.ndarray,
        steps: np.ndarray,
    ) -> list[ConformanceChange]:
        """The state machine, report by report in input order, over the reports ``steps``."""
        view: dict[int, tuple[State, tuple[Volume4D, ...], float]] = {}  # intent index -> as applied so far
        changes = []
        for i in steps.tolist():
            j = int(intent_row[i])
            if j not in view:
                intent, since_s = intents[j], float(self._since[rows_of[j]])
                if intent.state is State.NONCONFORMING and math.isnan(since_s):
                    since_s = intent.time_updated.timestamp()  # excursion began before we tracked it
                view[j] = (intent.state, intent.off_nominal_volumes, since_s)
            state, off, since_s = view[j]
            step = None if state is State.CONTINGENT else self._step(state, off, since_s, rec[i], inside[i])
            if step is not None:
                new_state, volumes, reason, since_s = step
                view[j] = (new_state, volumes, since_s)
                changes.append(ConformanceChange(intents[j].id, new_state, volumes, reason, _utc(rec[i, T])))
        for j, (_, _, since_s) in view.items():
            self._since[rows_of[j]] = since_s
        return changes

    def _step(
        self, state: State, off: tuple[Volume4D, ...], since_s: float, r: np.ndarray, inside: bool
    ) -> tuple[State, tuple[Volume4D, ...], str, float] | None:
        """One report's change: (new state, off-nominal volumes, reason, excursion start), or None."""
        t = r[T]
        if state is State.ACTIVATED:
            if inside:
                return None
            where = f"({r[X]:.1f}, {r[Y]:.1f}, {r[Z]:.1f}) m"
            return State.NONCONFORMING, (self._around(r, t),), f"outside its volumes at {where}", t
        if t - since_s > self.max_nonconforming_s:
            return State.CONTINGENT, (self._around(r, t),), self._overdue_reason(t - since_s), np.nan
        if inside:
            return State.ACTIVATED, (), "back inside its volumes", np.nan
        table = _VolumeTable(max(1, len(off)))
        table.append(off)
        if table.any_touched(np.zeros(1, np.int64), np.array([len(off)]), r[None])[0]:
            return None
        return (
            State.NONCONFORMING,
            (self._around(r, t),),
            "left its off-nominal volume; volume moved",
            since_s,
        )

    def _overdue_reason(self, elapsed_s: float) -> str:
        return (
            f"nonconforming for {elapsed_s:.1f} s (more than {self.max_nonconforming_s:g} s, "
            "F3548 MaxRecoverableTimeInNonconformingStateSeconds)"
        )

    def _around(self, r: np.ndarray, t_from_s: float) -> Volume4D:
        """Off-nominal volume around report ``r`` from ``t_from_s`` on (module docstring)."""
        elapsed_s = max(0.0, t_from_s - r[T])
        speed_mps, climb_mps = math.hypot(r[VX], r[VY]), abs(r[VZ])
        lookahead_s = self.off_nominal_lookahead_s
        radius_m = max(self.off_nominal_radius_m, speed_mps * lookahead_s) + speed_mps * elapsed_s + r[AH]
        half_m = max(self.off_nominal_half_height_m, climb_mps * lookahead_s) + climb_mps * elapsed_s + r[AV]
        volume = Volume3D.circle(r[X], r[Y], radius_m, z_lower_m=r[Z] - half_m, z_upper_m=r[Z] + half_m)
        start = _utc(t_from_s)
        return Volume4D(volume, start, start + timedelta(seconds=self.off_nominal_duration_s))

    def _keep_latest(self, mrow: np.ndarray, fresh: np.ndarray, rec: np.ndarray) -> None:
        """Store each intent's newest fresh report (fresh reports of one intent rise in input order)."""
        kept = np.flatnonzero(fresh)[::-1]
        _, last = np.unique(mrow[kept], return_index=True)
        self._last[mrow[kept[last]]] = rec[kept[last]]


def _utc(t_s: float) -> datetime:
    """POSIX seconds back to a UTC datetime; exact to the microsecond for present-day times."""
    return datetime.fromtimestamp(t_s, UTC)
