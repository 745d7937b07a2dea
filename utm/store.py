"""The durable store: SQLite, one write transaction per decision, an append-only audit trail.

File databases run in WAL mode with ``synchronous=FULL``: once :meth:`Store.write` returns, the
transaction is on disk and survives a crash (ARCHITECTURE.md: a 2xx is durable). ``":memory:"`` serves
the simulator. Each ``write()`` is ``BEGIN IMMEDIATE ... COMMIT`` (``ROLLBACK`` if the block raises), so a
check made under the service's lock and the write that follows are atomic. The schema is versioned with
``PRAGMA user_version``; pending migrations run in one transaction at open, and a database newer than
this code is refused. ``decisions`` and ``intent_versions`` are append-only, enforced by triggers; a
version whose nominal volumes equal the one before stores them as :data:`UNCHANGED`.
``conformance_timers`` (version 2) keeps each live intent's latest report and excursion start, so the
conformance monitor's 15 s and 60 s clocks survive a crash (:mod:`utm.conformance`).
Geometry is stored in the region's local metres (:mod:`utm.codec`), so the database remembers its frame
and refuses to open under another one.

Threads: one connection opened with ``check_same_thread=False``; the service calls it from FastAPI's
threadpool under its own lock, and the store also serialises every use of the connection with its own
re-entrant lock, so reads outside ``write()`` never see another thread's uncommitted transaction.
Checkpoints: SQLite's auto-checkpoint is off for file databases (it runs inside the COMMIT that takes the
WAL past 1000 pages, and adds milliseconds to that one decision); a daemon thread with a connection of
its own runs a PASSIVE checkpoint every ``checkpoint_every_s`` instead, beside the writes and never
blocking one. Durability does not depend on it: each COMMIT has synced the WAL already, but for one kind.
A refusal changes nothing but the audit trail, and its row is written with ``write(synced=False)``: committed
without waiting for the disk (``synchronous=NORMAL``; 0.03 ms instead of the sync's 0.15-0.3 ms here). It
survives a crash of the process at once, and a power loss once the next synced COMMIT or checkpoint (both
sync the WAL, which is written in order) has run: within ``checkpoint_every_s``.

Layer: utm; imports airspace only.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np

from airspace.frames import LocalFrame
from airspace.geofences import Geofence
from airspace.volumes import Volume4D
from utm.codec import (
    StoreError,
    dumps,
    geofence_from_json,
    geofence_to_json,
    time_from_json,
    time_from_stored,
    time_to_json,
    volume4d_lists_from_stored,
    volume4d_to_json,
)
from utm.decisions import DecisionRecord, Notification
from utm.errors import NotFound
from utm.intents import OperationalIntent, State
from utm.telemetry import TimerState

__all__ = ["CHECKPOINT_EVERY_S", "Store", "StoreError", "StoreTx"]

CHECKPOINT_EVERY_S = 1.0
"""How often a file database's WAL is checkpointed into it, off the decision path: at a busy service's few
hundred commits a second, the WAL stays within a few thousand pages."""


def _append_only(table: str) -> tuple[str, ...]:
    return tuple(
        f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        for op in ("UPDATE", "DELETE")
    )


_INTENT_COLUMNS = (
    "manager TEXT NOT NULL, version INTEGER NOT NULL CHECK (version >= 1), ovn TEXT NOT NULL, "
    "state TEXT NOT NULL CHECK (state IN ('Accepted', 'Activated', 'Nonconforming', 'Contingent')), "
    "priority INTEGER NOT NULL, volumes TEXT NOT NULL, off_nominal_volumes TEXT NOT NULL, "
    "uss_base_url TEXT NOT NULL, authorisation TEXT, time_created TEXT NOT NULL, time_updated TEXT NOT NULL"
)

# Migration k takes the schema from version k to k + 1; each is a tuple of single SQL statements, run with
# the others pending in one transaction. Append new ones; never edit a released one.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"CREATE TABLE intents (id TEXT PRIMARY KEY, {_INTENT_COLUMNS})",
        "CREATE TABLE intent_versions (seq INTEGER PRIMARY KEY, intent_id TEXT NOT NULL, "
        f"{_INTENT_COLUMNS}, ended_at TEXT)",
        "CREATE INDEX intent_versions_by_intent ON intent_versions (intent_id, seq)",
        "CREATE TABLE geofences (identifier TEXT PRIMARY KEY, doc TEXT NOT NULL)",
        "CREATE TABLE decisions (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL, "
        "action TEXT NOT NULL, entity_id TEXT NOT NULL, result TEXT NOT NULL, reason TEXT NOT NULL, "
        "conflicting_ids TEXT NOT NULL, detail TEXT NOT NULL)",
        "CREATE INDEX decisions_by_entity ON decisions (entity_id, seq)",
        "CREATE TABLE notifications (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, manager TEXT NOT NULL, "
        "intent_id TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL)",
        "CREATE INDEX notifications_by_manager ON notifications (manager, time)",
        "CREATE INDEX notifications_by_time ON notifications (time)",
        *_append_only("decisions"),
        *_append_only("intent_versions"),
    ),
    (  # 2: the conformance timers (POSIX s, local metres, m/s); one row per live intent that has reported
        "CREATE TABLE conformance_timers (intent_id TEXT PRIMARY KEY, t_s REAL NOT NULL, x_m REAL NOT NULL, "
        "y_m REAL NOT NULL, z_m REAL NOT NULL, vx_mps REAL NOT NULL, vy_mps REAL NOT NULL, "
        "vz_mps REAL NOT NULL, accuracy_h_m REAL NOT NULL, accuracy_v_m REAL NOT NULL, "
        "nonconforming_since_s REAL) WITHOUT ROWID",
        "CREATE INDEX notifications_by_kind ON notifications (kind, intent_id)",
    ),
)

_FIELDS = (
    "manager, version, ovn, state, priority, volumes, off_nominal_volumes, uss_base_url, authorisation, "
    "time_created, time_updated"
)
_PUT_INTENT = (
    f"INSERT INTO intents (id, {_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _FIELDS.split(", "))
)
UNCHANGED = ""  # the SQL below writes it as ''
"""A history row's ``volumes`` when they equal the version before (not JSON, so never ambiguous): a state
change (activation, conformance) repeats a plan's nominal volumes, tens of kB for a long corridor, and
a busy simulated hour makes ~14 versions per intent."""
_PUT_VERSION = (  # run before _PUT_INTENT: the live row is still the previous version
    f"INSERT INTO intent_versions (intent_id, {_FIELDS}) SELECT ?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN EXISTS "
    "(SELECT 1 FROM intents WHERE id = ?1 AND volumes = ?7) THEN '' ELSE ?7 END, ?8, ?9, ?10, ?11, ?12"
)
_END_VERSION = (  # the last version again, with its end time; its volumes are those of the version before
    f"INSERT INTO intent_versions (intent_id, {_FIELDS}, ended_at) "
    "SELECT id, " + _FIELDS.replace(" volumes,", " '',", 1) + ", ? FROM intents WHERE id = ?"
)
_RECORD = (
    "INSERT INTO decisions (time, actor, action, entity_id, result, reason, conflicting_ids, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_NOTIFY = "INSERT INTO notifications (time, manager, intent_id, kind, message) VALUES (?, ?, ?, ?, ?)"
# utm.telemetry.COLUMNS, then the excursion start
_TIMER_FIELDS = (
    "t_s, x_m, y_m, z_m, vx_mps, vy_mps, vz_mps, accuracy_h_m, accuracy_v_m, nonconforming_since_s"
)
_PUT_TIMERS = (  # REPLACE: the table has no trigger or foreign key, and it is ~25% faster than an upsert
    f"REPLACE INTO conformance_timers (intent_id, {_TIMER_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DECISION_COLUMNS = "time, actor, action, entity_id, result, reason, conflicting_ids, detail"


class _Encoded:
    """The JSON of each live intent's nominal volumes, kept with the tuple it encodes: a new version that
    carries the same tuple (a state change: activation, conformance) is written without encoding it again.
    A memo of a pure function, so a rolled-back transaction leaves nothing wrong in it."""

    __slots__ = ("_by_id",)

    def __init__(self) -> None:
        self._by_id: dict[UUID, tuple[tuple[Volume4D, ...], str]] = {}

    def volumes(self, intent_id: UUID, volumes: tuple[Volume4D, ...]) -> str:
        hit = self._by_id.get(intent_id)
        if hit is not None and hit[0] is volumes:
            return hit[1]
        text = dumps([volume4d_to_json(v) for v in volumes])
        self._by_id[intent_id] = (volumes, text)
        return text

    def forget(self, intent_id: UUID) -> None:
        self._by_id.pop(intent_id, None)


class StoreTx:
    """The writes of one transaction; obtained only from :meth:`Store.write`, unusable after it ends."""

    __slots__ = ("_con", "_encoded")

    def __init__(self, con: sqlite3.Connection, encoded: _Encoded) -> None:
        self._con: sqlite3.Connection | None = con
        self._encoded = encoded

    def _db(self) -> sqlite3.Connection:
        if self._con is None:
            raise StoreError("transaction", "is finished; open a new one with Store.write()")
        return self._con

    def get_intent(self, intent_id: UUID) -> OperationalIntent | None:
        """The live intent, as this transaction sees it; ``None`` if absent or ended."""
        row = (
            self._db()
            .execute(f"SELECT id, {_FIELDS} FROM intents WHERE id = ?", (str(intent_id),))
            .fetchone()
        )
        return None if row is None else _intents([row])[0]

    def put_intent(self, intent: OperationalIntent) -> None:
        """Insert or replace the live intent and append this version to its history."""
        con = self._db()
        values = (
            intent.manager,
            intent.version,
            intent.ovn,
            str(intent.state),
            intent.priority,
            self._encoded.volumes(intent.id, intent.volumes),
            dumps([volume4d_to_json(v) for v in intent.off_nominal_volumes]),
            intent.uss_base_url,
            intent.authorisation,
            time_to_json(intent.time_created),
            time_to_json(intent.time_updated),
        )
        key = (str(intent.id),)
        con.execute(_PUT_VERSION, key + values)
        con.execute(_PUT_INTENT, key + values)

    def end_intent(self, intent_id: UUID, at: datetime) -> None:
        """Remove the intent from the live set; its last version is appended again with ``ended_at``."""
        con = self._db()
        if con.execute(_END_VERSION, (time_to_json(at), str(intent_id))).rowcount == 0:
            raise NotFound(f"operational intent {intent_id} is not live")
        con.execute("DELETE FROM intents WHERE id = ?", (str(intent_id),))
        con.execute("DELETE FROM conformance_timers WHERE intent_id = ?", (str(intent_id),))
        self._encoded.forget(intent_id)

    def put_timers(self, timers: TimerState) -> None:
        """Insert or replace the conformance timers of ``timers.intent_ids``: one statement, many rows."""
        values = np.column_stack([timers.reports, timers.since_s]).tolist()  # nan is stored as NULL
        self._db().executemany(
            _PUT_TIMERS, [(str(i), *row) for i, row in zip(timers.intent_ids, values, strict=True)]
        )

    def put_geofence(self, geofence: Geofence) -> None:
        """Insert or replace a geofence by identifier."""
        self._db().execute(
            "INSERT INTO geofences (identifier, doc) VALUES (?, ?) "
            "ON CONFLICT (identifier) DO UPDATE SET doc = excluded.doc",
            (geofence.identifier, dumps(geofence_to_json(geofence))),
        )

    def delete_geofence(self, identifier: str) -> None:
        """Delete a geofence; :class:`NotFound` if there is none with this identifier."""
        if self._db().execute("DELETE FROM geofences WHERE identifier = ?", (identifier,)).rowcount == 0:
            raise NotFound(f"geofence {identifier!r} is not known")

    def record(self, decision: DecisionRecord) -> None:
        """Append one row to the audit trail."""
        d = decision
        self._db().execute(
            _RECORD,
            (
                time_to_json(d.time),
                d.actor,
                d.action,
                d.entity_id,
                d.result,
                d.reason,
                dumps(list(d.conflicting_ids)),
                d.detail,
            ),
        )

    def notify(self, notification: Notification) -> None:
        """Append one user notification."""
        n = notification
        self._db().execute(_NOTIFY, (time_to_json(n.time), n.manager, n.intent_id, n.kind, n.message))

    def prune_notifications(self, before: datetime) -> int:
        """Delete the notifications older than ``before`` (by the time index); how many went."""
        old = self._db().execute("DELETE FROM notifications WHERE time < ?", (time_to_json(before),))
        return old.rowcount


class Store:
    """SQLite store of live intents, their history, geofences, the audit trail and notifications.

    ``path`` is a file (created if missing) or ``":memory:"``; ``frame`` is the region's local frame,
    remembered by the database at creation and checked at every later open. ``checkpoint_every_s``: the
    period of a file database's background checkpoint (see the module docstring).
    """

    def __init__(
        self, path: str | Path, frame: LocalFrame, *, checkpoint_every_s: float = CHECKPOINT_EVERY_S
    ) -> None:
        if not (math.isfinite(checkpoint_every_s) and checkpoint_every_s > 0.0):
            raise StoreError("checkpoint_every_s", f"must be finite and > 0 ({checkpoint_every_s})")
        self._lock = threading.RLock()
        self._frame = frame
        self._encoded = _Encoded()
        self._con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        in_memory = str(path) == ":memory:"
        try:
            self._schema_version = self._open(in_memory=in_memory)
        except BaseException:
            self._con.close()
            raise
        self._checkpointer = None if in_memory else _Checkpointer(Path(path), checkpoint_every_s)

    def _open(self, *, in_memory: bool) -> int:
        con = self._con
        con.execute("PRAGMA busy_timeout = 5000")
        mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if not in_memory and mode != "wal":
            raise StoreError("journal_mode", f"the database refuses WAL mode ({mode})")
        con.execute("PRAGMA synchronous = FULL")
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("PRAGMA wal_autocheckpoint = 0")  # file databases: the _Checkpointer's job
        if in_memory:
            # 16 KiB pages: a big in-memory database's COMMIT sometimes sweeps its page-cache hash table
            # (~1 ms at 100k intents with 4 KiB pages; 4x fewer pages, 4x less to sweep)
            con.execute("PRAGMA page_size = 16384")
        frame = dumps([self._frame.lat0_deg, self._frame.lon0_deg, self._frame.h0_m])
        with self._transaction():
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > len(_MIGRATIONS):
                raise StoreError(
                    "schema_version",
                    f"the database is at version {version}, newer than this code knows "
                    f"({len(_MIGRATIONS)}); upgrade utm6g or use another database",
                )
            for statements in _MIGRATIONS[version:]:
                for sql in statements:
                    con.execute(sql)
            con.execute(f"PRAGMA user_version = {len(_MIGRATIONS)}")
            con.execute(
                "INSERT INTO meta (key, value) VALUES ('frame', ?) ON CONFLICT (key) DO NOTHING", (frame,)
            )
            stored = con.execute("SELECT value FROM meta WHERE key = 'frame'").fetchone()[0]
            if stored != frame:
                raise StoreError(
                    "frame",
                    f"the database was written in LocalFrame{tuple(json.loads(stored))}, "
                    f"opened with {self._frame!r}",
                )
        return len(_MIGRATIONS)

    @property
    def frame(self) -> LocalFrame:
        """The local frame every stored coordinate is in."""
        return self._frame

    @property
    def schema_version(self) -> int:
        """The schema version of the open database (``PRAGMA user_version``)."""
        return self._schema_version

    def close(self) -> None:
        """Stop the checkpoints and close the connection; committed data is already durable."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._lock:
            self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._con.in_transaction:
                raise StoreError("write", "a write transaction is already open; they do not nest")
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
                self._con.execute("COMMIT")
            except BaseException:
                if self._con.in_transaction:
                    self._con.execute("ROLLBACK")
                raise

    @contextmanager
    def write(self, *, synced: bool = True) -> Iterator[StoreTx]:
        """One atomic transaction: ``BEGIN IMMEDIATE``, the block, ``COMMIT``; ``ROLLBACK`` if it raises.

        ``synced=False`` (a refusal's audit row): the COMMIT does not wait for the disk; see the module
        docstring for when it is durable.
        """
        with self._lock:
            if not synced:
                self._con.execute("PRAGMA synchronous = NORMAL")
            try:
                with self._transaction() as con:
                    tx = StoreTx(con, self._encoded)
                    try:
                        yield tx
                    finally:
                        tx._con = None
            finally:
                if not synced:
                    self._con.execute("PRAGMA synchronous = FULL")

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._con.execute(sql, params).fetchall()

    def load_intents(self) -> list[OperationalIntent]:
        """Every live intent, sorted by id (to rebuild the live picture at start-up; decoded in bulk)."""
        return _intents(self._rows(f"SELECT id, {_FIELDS} FROM intents ORDER BY id"))

    def load_timers(self) -> TimerState:
        """The conformance timers of every live intent that has reported, sorted by id (for start-up)."""
        rows = self._rows(f"SELECT intent_id, {_TIMER_FIELDS} FROM conformance_timers ORDER BY intent_id")
        values = np.array([row[1:] for row in rows], float).reshape(len(rows), 10)  # NULL -> nan
        return TimerState(tuple(UUID(row[0]) for row in rows), values[:, :-1], values[:, -1])

    def flagged_never_reported(self) -> set[UUID]:
        """Live intents already notified as never having reported (so a restart does not notify again)."""
        rows = self._rows(
            "SELECT DISTINCT n.intent_id FROM notifications AS n JOIN intents AS i ON i.id = n.intent_id "
            "WHERE n.kind = 'never_reported'"
        )
        return {UUID(intent_id) for (intent_id,) in rows}

    def load_geofences(self) -> list[Geofence]:
        """Every geofence, sorted by identifier."""
        rows = self._rows("SELECT doc FROM geofences ORDER BY identifier")
        return [geofence_from_json(json.loads(doc)) for (doc,) in rows]

    def history(self, intent_id: UUID) -> list[OperationalIntent]:
        """Every version ever stored of an intent, oldest first, live or ended; ``[]`` if none."""
        rows = self._rows(
            f"SELECT intent_id, {_FIELDS} FROM intent_versions "
            "WHERE intent_id = ? AND ended_at IS NULL ORDER BY seq",
            (str(intent_id),),
        )
        return _intents(_carried(rows))

    def decisions(self, *, entity_id: str | None = None, limit: int | None = None) -> list[DecisionRecord]:
        """Audit rows, oldest first; only ``entity_id``'s if given; only the latest ``limit`` if given."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise StoreError("limit", f"must be an integer >= 0 ({limit!r})")
        if limit == 0:
            return []
        where, params = ("WHERE entity_id = ?", [entity_id]) if entity_id is not None else ("", [])
        rows = self._rows(
            f"SELECT {_DECISION_COLUMNS} FROM decisions {where} ORDER BY seq DESC LIMIT ?",
            [*params, -1 if limit is None else limit],
        )
        return [
            DecisionRecord(
                time=time_from_json(t, field="decisions.time"),
                actor=actor,
                action=action,
                entity_id=entity,
                result=result,
                reason=reason,
                conflicting_ids=tuple(json.loads(ids)),
                detail=detail,
            )
            for t, actor, action, entity, result, reason, ids, detail in reversed(rows)
        ]

    def notifications(
        self, *, manager: str | None = None, after: datetime | None = None, before: datetime | None = None
    ) -> list[Notification]:
        """Notifications in time order; ``manager``'s if given; ``after <= time <= before`` (InterUSS)."""
        clauses, params = [], []
        for clause, value in (
            ("manager = ?", manager),
            ("time >= ?", time_to_json(after)),
            ("time <= ?", time_to_json(before)),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._rows(
            f"SELECT time, manager, intent_id, kind, message FROM notifications {where} ORDER BY time, seq",
            params,
        )
        return [
            Notification(time_from_json(t, field="notifications.time"), m, intent, kind, message)
            for t, m, intent, kind, message in rows
        ]


_CATCH_UP = 8  # checkpoint passes in a row, at most, before the thread sleeps again


class _Checkpointer:
    """A daemon thread running ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection every ``period_s``
    until stopped: it copies committed WAL frames into the database without waiting for (or blocking) a
    writer, so the WAL restarts from its beginning instead of growing, and no COMMIT pays for it."""

    __slots__ = ("_con", "_period_s", "_stopped", "_thread")

    def __init__(self, path: Path, period_s: float) -> None:
        self._con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._con.execute("PRAGMA synchronous = FULL")  # the database file is synced before the WAL restarts
        self._period_s = period_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"checkpoint {path.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._period_s):
            self._catch_up()

    def _catch_up(self) -> None:
        """Checkpoint until the whole WAL is in the database, at most ``_CATCH_UP`` passes: only then does the
        next write restart the WAL from its beginning (else it grows for ever under steady writes, as each
        pass is overtaken by the commits made meanwhile); each pass has fewer frames to copy than the last."""
        for _ in range(_CATCH_UP):
            _, frames, copied = self._con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if copied == frames:
                return

    def stop(self) -> None:
        """End the thread (after the checkpoint it may be running) and close its connection."""
        self._stopped.set()
        self._thread.join()
        self._con.close()


def _carried(rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """One intent's history rows in order, each :data:`UNCHANGED` volumes replaced by the text before."""
    out: list[Sequence[Any]] = []
    for row in rows:
        if row[6] == UNCHANGED and out:  # by _FIELDS; a first row never is (put_intent writes it in full)
            row = (*row[:6], out[-1][6], *row[7:])
        out.append(row)
    return out


def _intents(rows: Sequence[Sequence[Any]]) -> list[OperationalIntent]:
    """:class:`OperationalIntent` of each ``(id, *_FIELDS)`` row; the volumes decoded in one trusted batch."""
    texts, fields = [], []
    for row in rows:
        key, nominal_text, off_nominal_text = row[0], row[6], row[7]  # by _FIELDS
        texts += (nominal_text, off_nominal_text)
        fields += (f"intents[{key}].volumes", f"intents[{key}].off_nominal_volumes")
    volumes = iter(volume4d_lists_from_stored(texts, fields))
    return [_intent(row, next(volumes), next(volumes)) for row in rows]


def _intent(
    row: Sequence[Any], volumes: tuple[Volume4D, ...], off_nominal: tuple[Volume4D, ...]
) -> OperationalIntent:
    """An :class:`OperationalIntent` from ``(id, *_FIELDS)`` and its decoded volumes."""
    key, manager, version, ovn, state, priority, _, _, url, authorisation, created, updated = row
    field = f"intents[{key}]"
    return OperationalIntent(
        id=UUID(key),
        manager=manager,
        version=version,
        ovn=ovn,
        state=State(state),
        priority=priority,
        volumes=volumes,
        off_nominal_volumes=off_nominal,
        uss_base_url=url,
        authorisation=authorisation,
        time_created=time_from_stored(created, field=f"{field}.time_created"),
        time_updated=time_from_stored(updated, field=f"{field}.time_updated"),
    )
