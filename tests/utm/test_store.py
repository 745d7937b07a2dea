"""The SQLite store: round trips, history, audit and notification reads, atomicity, migrations, durability.

Oracles: dataclass ``==`` against what was written; a fresh ``sqlite3`` connection (not the store's) for
pragmas, schema version and the append-only triggers; a SIGKILLed child process for durability.
"""

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest

import utm.store as store_module
from airspace.frames import LocalFrame
from airspace.geofences import Geofence, Restriction
from airspace.volumes import Volume3D, Volume4D
from utm.decisions import DecisionRecord, Notification
from utm.errors import NotFound
from utm.intents import OperationalIntent, State, make_ovn
from utm.store import Store, StoreError
from utm.telemetry import TimerState

REPO = Path(__file__).resolve().parents[2]
FRAME = LocalFrame(22.53, 113.93, 0.0)
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def make_intent(n: int, *, version: int = 1, state: State = State.ACCEPTED, off_nominal: bool = False):
    """Intent ``n``: two boxes (one unbounded above), an optional off-nominal circle; deterministic id."""
    x_m = 200.0 * n
    volumes = (
        Volume4D(
            Volume3D.polygon(
                [(x_m, 0.0), (x_m + 100.0, 0.0), (x_m + 50.0, 80.5)], z_lower_m=30.0, z_upper_m=60.0
            ),
            T0,
            T0 + timedelta(minutes=10),
        ),
        Volume4D(
            Volume3D.circle(x_m, 0.1, 25.0, z_lower_m=30.0, z_upper_m=float("inf")),
            T0,
            T0 + timedelta(hours=1),
        ),
    )
    extra = (
        Volume4D(
            Volume3D.circle(x_m, 5.0, 40.0, z_lower_m=0.0, z_upper_m=90.0), T0, T0 + timedelta(minutes=20)
        ),
    )
    intent_id = UUID(int=n + 1, version=4)
    updated = T0 + timedelta(seconds=version, microseconds=n)
    return OperationalIntent(
        id=intent_id,
        manager=f"uss{n % 2}",
        version=version,
        ovn=make_ovn(intent_id, version, updated),
        state=state,
        priority=n % 3,
        volumes=volumes,
        off_nominal_volumes=extra if off_nominal else (),
        uss_base_url="https://uss.example/v1",
        authorisation="AUTH-7" if n % 2 else None,
        time_created=T0,
        time_updated=updated,
    )


def decision(entity: str, n: int) -> DecisionRecord:
    return DecisionRecord(
        T0 + timedelta(seconds=n), "uss0", "create", entity, "accepted", "", ("a", "b"), f"#{n}"
    )


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path):
    s = Store(":memory:" if request.param == "memory" else tmp_path / "utm.db", FRAME)
    yield s
    s.close()


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "utm.db"


def test_intents_round_trip_exactly_and_load_sorted_by_id(store):
    intents = [
        make_intent(n, off_nominal=n == 2, state=State.NONCONFORMING if n == 2 else State.ACCEPTED)
        for n in (3, 0, 2, 1)
    ]
    with store.write() as tx:
        for intent in intents:
            tx.put_intent(intent)
    assert store.load_intents() == sorted(intents, key=lambda i: str(i.id))


def test_a_damaged_intent_row_fails_the_load_naming_the_row(db_path):
    """The bulk read trusts the geometry it validated before writing, not the bytes: damage fails loudly."""
    store = Store(db_path, FRAME)
    with store.write() as tx:
        tx.put_intent(make_intent(0))
        tx.put_intent(make_intent(1))
    damaged = make_intent(1).id
    with sqlite3.connect(db_path) as other:
        other.execute("UPDATE intents SET volumes = ? WHERE id = ?", ('[{"volume": {"polygon', str(damaged)))
    with pytest.raises(StoreError, match=rf"^intents\[{damaged}\]\.volumes: is not valid JSON"):
        store.load_intents()
    store.close()


def test_put_replaces_the_live_intent_and_get_sees_the_transaction(store):
    v1, v2 = make_intent(0), make_intent(0, version=2, state=State.ACTIVATED)
    with store.write() as tx:
        assert tx.get_intent(v1.id) is None
        tx.put_intent(v1)
        assert tx.get_intent(v1.id) == v1
        tx.put_intent(v2)
        assert tx.get_intent(v1.id) == v2
    assert store.load_intents() == [v2]


def test_history_keeps_every_version_and_ended_ones(store):
    versions = [make_intent(5, version=k) for k in (1, 2, 3)]
    for v in versions:
        with store.write() as tx:
            tx.put_intent(v)
    with store.write() as tx:
        tx.put_intent(make_intent(6))
        tx.end_intent(versions[0].id, T0 + timedelta(hours=2))
        assert tx.get_intent(versions[0].id) is None
    assert store.load_intents() == [make_intent(6)]
    assert store.history(versions[0].id) == versions
    ends = store._con.execute(
        "SELECT intent_id, version, ended_at FROM intent_versions WHERE ended_at IS NOT NULL"
    )
    assert ends.fetchall() == [
        (str(versions[0].id), 3, "2026-03-02T10:00:00.000000Z")
    ]  # the end is on record
    assert store.history(UUID(int=999)) == []


def test_a_version_that_keeps_its_volumes_stores_them_once_and_history_returns_them_whole(store):
    """Accepted -> Activated -> Nonconforming (same nominal volumes), then new volumes, then ended: the
    volumes text is written for the first and the changed version only; history() gives every version."""
    first = make_intent(7)
    same = [replace(first, version=2, state=State.ACTIVATED), make_intent(7, version=3, off_nominal=True)]
    moved = replace(
        make_intent(8, version=4), id=first.id, ovn=make_ovn(first.id, 4, T0), state=State.ACTIVATED
    )
    for v in (first, *same, moved):
        with store.write() as tx:
            tx.put_intent(v)
    with store.write() as tx:
        tx.end_intent(first.id, T0 + timedelta(hours=2))
    stored = store._con.execute(
        "SELECT version, volumes = '' FROM intent_versions WHERE intent_id = ? ORDER BY seq", (str(first.id),)
    ).fetchall()
    assert stored == [(1, 0), (2, 1), (3, 1), (4, 0), (4, 1)]
    assert store.history(first.id) == [first, *same, moved]


def test_ending_an_unknown_intent_raises_not_found_and_writes_nothing(store):
    with pytest.raises(NotFound, match="not live"), store.write() as tx:
        tx.end_intent(UUID(int=7), T0)
    assert store.history(UUID(int=7)) == []


def test_geofences_put_replace_delete(store):
    circle = Volume3D.circle(0.0, 0.0, 100.0, z_lower_m=0.0, z_upper_m=120.0)
    b = Geofence("B", Restriction.PROHIBITED, (circle,), message="closed")
    a = Geofence("A", Restriction.CONDITIONAL, (circle,))
    with store.write() as tx:
        tx.put_geofence(b)
        tx.put_geofence(a)
        tx.put_geofence(Geofence("A", Restriction.REQ_AUTHORISATION, (circle,)))
    assert store.load_geofences() == [Geofence("A", Restriction.REQ_AUTHORISATION, (circle,)), b]
    with store.write() as tx:
        tx.delete_geofence("A")
    assert store.load_geofences() == [b]
    with pytest.raises(NotFound, match="'A'"), store.write() as tx:
        tx.delete_geofence("A")


def test_a_raising_block_rolls_back_everything(store):
    with store.write() as tx:
        tx.put_intent(make_intent(0))
    with pytest.raises(RuntimeError, match="midway"), store.write() as tx:
        tx.put_intent(make_intent(0, version=2))
        tx.put_intent(make_intent(1))
        tx.end_intent(make_intent(0).id, T0)
        tx.record(decision("x", 1))
        tx.notify(Notification(T0, "uss0", "x", "conflict_created", "m"))
        tx.put_geofence(
            Geofence("G", Restriction.PROHIBITED, (Volume3D.circle(0, 0, 1, z_lower_m=0, z_upper_m=1),))
        )
        raise RuntimeError("midway")
    assert store.load_intents() == [make_intent(0)]
    assert store.history(make_intent(0).id) == [make_intent(0)]
    assert store.decisions() == [] and store.notifications() == [] and store.load_geofences() == []
    with store.write() as tx:  # the store is usable again
        tx.put_intent(make_intent(1))
    assert len(store.load_intents()) == 2


def test_transaction_object_dies_with_its_block_and_writes_do_not_nest(store):
    with store.write() as tx:
        with pytest.raises(StoreError, match=r"^write: a write transaction is already open"), store.write():
            pass
        tx.put_intent(make_intent(0))
    with pytest.raises(StoreError, match=r"^transaction: is finished"):
        tx.put_intent(make_intent(1))
    assert store.load_intents() == [make_intent(0)]


def test_decisions_in_order_filtered_by_entity_and_limited_to_the_latest(store):
    with store.write() as tx:
        for n in range(6):
            tx.record(decision("even" if n % 2 == 0 else "odd", n))
    assert store.decisions() == [decision("even" if n % 2 == 0 else "odd", n) for n in range(6)]
    assert store.decisions(entity_id="odd") == [decision("odd", n) for n in (1, 3, 5)]
    assert store.decisions(entity_id="odd", limit=2) == [decision("odd", n) for n in (3, 5)]
    assert store.decisions(limit=0) == [] and store.decisions(entity_id="none") == []


@pytest.mark.parametrize("limit", [-1, 1.5, True])
def test_decisions_refuse_a_bad_limit(store, limit):
    with pytest.raises(StoreError, match=r"^limit: must be an integer >= 0"):
        store.decisions(limit=limit)


def test_notifications_filtered_by_manager_and_closed_time_window(store):
    notes = [
        Notification(T0 + timedelta(seconds=n), f"uss{n % 2}", str(n), "nonconforming", f"m{n}")
        for n in range(6)
    ]
    with store.write() as tx:
        for note in reversed(notes):  # stored out of order; read in time order
            tx.notify(note)
    assert store.notifications() == notes
    assert store.notifications(manager="uss1") == [notes[1], notes[3], notes[5]]
    assert store.notifications(after=notes[2].time) == notes[2:]
    assert store.notifications(before=notes[2].time) == notes[:3]
    assert store.notifications(manager="uss0", after=notes[1].time, before=notes[4].time) == [
        notes[2],
        notes[4],
    ]
    assert store.notifications(manager="nobody") == []


def test_file_database_runs_wal_with_full_sync_and_foreign_keys(db_path):
    with Store(db_path, FRAME) as s:
        assert (
            s._con.execute("PRAGMA synchronous").fetchone()[0] == 2
        )  # FULL is per connection: the store's own
        assert s._con.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    raw.close()


def test_an_unsynced_write_commits_and_the_connection_syncs_in_full_again(db_path):
    """``write(synced=False)`` (a refusal's audit row) commits at once, readable by another connection, and
    only that COMMIT skips the sync: FULL is back after it, also after a block that raised."""
    with Store(db_path, FRAME) as s:
        with s.write(synced=False) as tx:
            assert s._con.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
            tx.record(decision("refused", 0))
        assert s._con.execute("PRAGMA synchronous").fetchone()[0] == 2
        with pytest.raises(RuntimeError, match="midway"), s.write(synced=False) as tx:
            tx.record(decision("rolled back", 1))
            raise RuntimeError("midway")
        assert s._con.execute("PRAGMA synchronous").fetchone()[0] == 2
        raw = sqlite3.connect(db_path)
        assert raw.execute("SELECT entity_id FROM decisions").fetchall() == [("refused",)]
        raw.close()


def _write_intents(store: Store, count: int) -> None:
    for n in range(count):
        with store.write() as tx:
            tx.put_intent(make_intent(n))


def test_no_commit_checkpoints_the_wal_the_background_thread_does(db_path):
    """SQLite's auto-checkpoint (at 1000 WAL pages, inside a COMMIT) is off: with the background one an hour
    away, 400 commits leave the database file as it was; a short period copies them in while the store is
    open, and close() stops the thread."""
    with Store(db_path, FRAME, checkpoint_every_s=3600.0) as s:
        assert s._con.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        before = db_path.stat().st_size
        _write_intents(s, 400)
        assert db_path.stat().st_size == before
        assert Path(f"{db_path}-wal").stat().st_size > 1000 * 4096  # past SQLite's own threshold
    with Store(db_path, FRAME, checkpoint_every_s=0.01) as s:
        _write_intents(s, 400)
        written = s._con.execute("PRAGMA page_count").fetchone()[0] * 4096
        for _ in range(500):
            if db_path.stat().st_size >= written:
                break
            time.sleep(0.01)
        assert db_path.stat().st_size >= written
        thread = s._checkpointer._thread
    assert not thread.is_alive()


@pytest.mark.parametrize("period_s", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_checkpoint_period_is_refused(db_path, period_s):
    with pytest.raises(StoreError, match="checkpoint_every_s"):
        Store(db_path, FRAME, checkpoint_every_s=period_s)


def test_migrations_build_an_empty_file_and_reopening_is_idempotent(db_path):
    with Store(db_path, FRAME) as s:
        assert s.schema_version == len(store_module._MIGRATIONS) >= 1
        with s.write() as tx:
            tx.put_intent(make_intent(0))
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == len(store_module._MIGRATIONS)
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"intents", "intent_versions", "geofences", "decisions", "notifications"} <= tables
    schema = raw.execute("SELECT group_concat(sql) FROM sqlite_master").fetchone()[0]
    raw.close()
    with Store(db_path, FRAME) as s:
        assert s.schema_version == len(store_module._MIGRATIONS)
        assert s.load_intents() == [make_intent(0)]
    raw = sqlite3.connect(db_path)
    assert raw.execute("SELECT group_concat(sql) FROM sqlite_master").fetchone()[0] == schema
    raw.close()


def test_pending_migrations_run_in_one_transaction(db_path, monkeypatch):
    Store(db_path, FRAME).close()
    v1 = len(store_module._MIGRATIONS)
    broken = (("CREATE TABLE extra (x INTEGER)", "CREATE TABLE extra (x INTEGER)"),)  # second statement fails
    monkeypatch.setattr(store_module, "_MIGRATIONS", (*store_module._MIGRATIONS, *broken))
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        Store(db_path, FRAME)
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == v1
    assert raw.execute("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0
    raw.close()
    monkeypatch.setattr(
        store_module, "_MIGRATIONS", (*store_module._MIGRATIONS[:v1], ("CREATE TABLE extra (x)",))
    )
    with Store(db_path, FRAME) as s:
        assert s.schema_version == v1 + 1


def test_a_newer_database_is_refused_and_left_untouched(db_path):
    Store(db_path, FRAME).close()
    raw = sqlite3.connect(db_path)
    raw.execute("PRAGMA user_version = 99")
    raw.commit()
    raw.close()
    with pytest.raises(
        StoreError, match=r"^schema_version: the database is at version 99, newer than this code"
    ):
        Store(db_path, FRAME)
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 99
    raw.close()


def test_a_database_written_in_another_frame_is_refused(db_path):
    Store(db_path, FRAME).close()
    with pytest.raises(
        StoreError, match=r"^frame: the database was written in LocalFrame\(22.53, 113.93, 0.0\)"
    ):
        Store(db_path, LocalFrame(22.53, 113.93, 5.0))


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE decisions SET result = 'rejected'",
        "DELETE FROM decisions",
        "UPDATE intent_versions SET ovn = 'forged'",
        "UPDATE intent_versions SET ended_at = '2026-01-01T00:00:00.000000Z'",
        "DELETE FROM intent_versions",
    ],
)
def test_audit_and_history_tables_are_append_only(db_path, sql):
    with Store(db_path, FRAME) as s, s.write() as tx:
        tx.put_intent(make_intent(0))
        tx.record(decision("x", 0))
    raw = sqlite3.connect(db_path)
    with pytest.raises(sqlite3.IntegrityError, match="is append-only"):
        raw.execute(sql)
    raw.close()
    with Store(db_path, FRAME) as s:
        assert s.decisions() == [decision("x", 0)] and s.history(make_intent(0).id) == [make_intent(0)]


def test_concurrent_threads_each_commit_their_own_transaction(db_path):
    with Store(db_path, FRAME) as s:

        def writer(k: int) -> None:
            for n in range(k * 10, k * 10 + 10):
                with s.write() as tx:
                    tx.put_intent(make_intent(n))
                    tx.record(decision(str(n), n))
                s.decisions(entity_id=str(n))  # reads interleave with other threads' writes

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(s.load_intents()) == 40 and len(s.decisions()) == 40


CHILD = """
import sys
sys.path.insert(0, {repo!r})
sys.path.insert(0, {tests!r})
from test_store import FRAME, decision, make_intent
from utm.store import Store
store = Store({path!r}, FRAME, checkpoint_every_s={period!r})
for n in range(100_000):
    intent = make_intent(n)
    with store.write() as tx:
        tx.put_intent(intent)
        tx.record(decision(str(intent.id), n))
    with store.write(synced=False) as tx:  # a refusal's audit row
        tx.record(decision(f"refused {{n}}", n))
    print(intent.id, intent.ovn, flush=True)
"""


@pytest.mark.parametrize("period_s", [store_module.CHECKPOINT_EVERY_S, 0.002])
def test_every_acknowledged_write_survives_sigkill(db_path, period_s):
    """ARCHITECTURE.md: a 2xx is durable. The child prints an id only after its commit, then is SIGKILLed;
    also with background checkpoints every 2 ms, racing the commits. The unsynced audit rows (refusals)
    written before each print survive the crash of the process too."""
    code = CHILD.format(repo=str(REPO), tests=str(Path(__file__).parent), path=str(db_path), period=period_s)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    acknowledged = [child.stdout.readline().split() for _ in range(200)]
    child.send_signal(signal.SIGKILL)
    acknowledged += [line.split() for line in child.stdout.read().splitlines()]
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert all(len(line) == 2 for line in acknowledged)
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    with Store(db_path, FRAME) as s:
        live = {str(i.id): i.ovn for i in s.load_intents()}
        assert {k: v for k, v in acknowledged} == {k: live[k] for k, _ in acknowledged}
        assert len(live) in (
            len(acknowledged),
            len(acknowledged) + 1,
        )  # at most one committed, not yet printed
        audited = {d.entity_id for d in s.decisions()}
        refused = {e for e in audited if e.startswith("refused")}
        assert audited - refused == set(live)  # no intent without its audit row, and the reverse
        assert refused >= {f"refused {n}" for n in range(len(acknowledged))}
        assert all(s.history(i.id) == [i] for i in s.load_intents())


def test_a_version_with_the_same_volumes_and_one_with_new_volumes_both_read_back(store):
    """The encoded volumes are reused only for the very same tuple: a later version with other volumes
    (or the same id after it ended) is written with its own."""
    v1 = make_intent(4)
    v2 = replace(v1, version=2, state=State.ACTIVATED)
    v3 = replace(make_intent(9), id=v1.id, version=3, state=State.ACTIVATED)
    for v in (v1, v2, v3):
        with store.write() as tx:
            tx.put_intent(v)
        assert store.load_intents() == [v]
    with store.write() as tx:
        tx.end_intent(v1.id, T0 + timedelta(hours=1))
        tx.put_intent(v1)
    assert store.load_intents() == [v1]


# --- conformance timers (schema version 2) -----------------------------------------------------


def timers(ids, first: float, since: float):
    """Timers of ``ids``: report ``k`` is ``first + k`` plus 0..8; excursion start ``since`` (nan: none)."""
    reports = first + np.arange(len(ids))[:, None] + np.arange(9.0)[None, :]
    return TimerState(tuple(ids), reports, np.full(len(ids), since))


def test_conformance_timers_round_trip_are_replaced_and_end_with_their_intent(store):
    """The monitor's clocks come back exactly (nan excursion start included), sorted by id; a later put
    replaces them; ending the intent drops them in the same transaction. Oracle: the arrays written."""
    a, b = make_intent(1), make_intent(0)  # b's id sorts first
    with store.write() as tx:
        tx.put_intent(a)
        tx.put_intent(b)
        tx.put_timers(timers([a.id, b.id], 1.77e9, float("nan")))
    with store.write() as tx:
        tx.put_timers(timers([a.id], 1.8e9, 1.8e9 - 30.5))
    got = store.load_timers()
    assert got.intent_ids == (b.id, a.id)
    np.testing.assert_array_equal(
        got.reports, np.vstack([1.77e9 + 1.0 + np.arange(9.0), 1.8e9 + np.arange(9.0)])
    )
    np.testing.assert_array_equal(got.since_s, [np.nan, 1.8e9 - 30.5])
    with store.write() as tx:
        tx.end_intent(a.id, T0)
    assert store.load_timers().intent_ids == (b.id,)


def test_a_version_1_database_file_migrates_to_version_2_with_its_data(db_path):
    """A file written by the previous release (schema 1, no timers) opens: the pending migration adds the
    timers table and the never-reported index, and every old row reads back unchanged."""
    raw = sqlite3.connect(db_path)
    raw.executescript((Path(__file__).parent / "data" / "store-v1.sql").read_text())
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    raw.close()
    with Store(db_path, FRAME) as s:
        assert s.schema_version == 2 == len(store_module._MIGRATIONS)
        activated, nonconforming = (
            make_intent(0, state=State.ACTIVATED),
            make_intent(1, state=State.NONCONFORMING, off_nominal=True),
        )
        assert s.load_intents() == [activated, nonconforming]
        assert s.history(nonconforming.id) == [nonconforming]
        assert s.decisions() == [decision(str(activated.id), 1)]
        assert [n.kind for n in s.notifications()] == ["never_reported", "nonconforming"]
        assert len(s.load_timers()) == 0
        assert s.flagged_never_reported() == {activated.id}
        with s.write() as tx:
            tx.put_timers(timers([activated.id], 1.77e9, float("nan")))
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 2
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    assert {"conformance_timers", "notifications_by_kind"} <= names
    raw.close()
