"""Conformance clocks across a restart: a real SQLite file, the service closed and opened again on it.

Issue 3: out for more than 60 s, or silent for 15 s after a first report -> Contingent; a flight that never
reported is flagged, not made Contingent; an acknowledged write survives a crash. Each test stops the service
part-way through a timer and checks that the new service, with the same injected clock, fires exactly when
the first one would have.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from uuid import uuid4

import numpy as np
import pytest

from airspace.frames import LocalFrame
from airspace.volumes import Circle
from utm.intents import OperationalIntent, State
from utm.service import UTMService
from utm.store import Store
from utm.telemetry import TelemetryBatch, TelemetryReport


class Clock:
    """A settable clock: the service takes time only from here."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "utm.sqlite"


@contextmanager
def running(db: Path, frame: LocalFrame, clock: Clock) -> Iterator[UTMService]:
    """A service on ``db`` for the block; leaving the block is the restart (nothing else is kept)."""
    store = Store(db, frame)
    try:
        yield UTMService(store, clock=clock)
    finally:
        store.close()


def activated(service: UTMService, clock: Clock, box, plan, x_m: float = 0.0) -> OperationalIntent:
    """A flight activated at ``clock`` in the box x ``x_m`` .. ``x_m`` + 100 m, y 0..100 m, z 35..55 m."""
    return service.create(uuid4(), plan(box(x_m=x_m), state=State.ACTIVATED), manager="uss-a").intent


def send(service: UTMService, clock: Clock, intent_id, t: datetime, x_m: float, **kw) -> OperationalIntent:
    """Report measured at ``t`` and received 1 s later (so a report's time and its version's differ)."""
    clock.now = t + timedelta(seconds=1)
    return service.telemetry(TelemetryReport(intent_id, t, x_m, 50.0, 45.0, **kw), manager="uss-a")


def tick_at(service: UTMService, clock: Clock, t: datetime) -> list:
    clock.now = t
    return service.tick()


def test_an_excursion_becomes_contingent_60_s_after_it_began_though_the_server_restarted_at_30_s(
    db, frame, t0, box, plan
):
    """F3548 MaxRecoverableTimeInNonconformingStateSeconds = 60, counted from the report that went out.

    Oracle: that report is measured at T and received (its version written) at T + 1 s, so only a clock
    kept from before the restart fires at T + 60.5 s; one restarted, or taken from the version, does not.
    """
    clock, t = Clock(t0 + timedelta(minutes=1)), t0 + timedelta(minutes=2)
    with running(db, frame, clock) as service:
        intent = activated(service, clock, box, plan)
        for k in range(4):  # T .. T + 30 s, 300 m east of the box, inside the first off-nominal circle
            assert (
                send(service, clock, intent.id, t + timedelta(seconds=10 * k), 400.0).state
                is State.NONCONFORMING
            )
    with running(db, frame, clock) as service:
        for k in (4, 5):  # the flight keeps reporting from its excursion after the restart
            assert (
                send(service, clock, intent.id, t + timedelta(seconds=10 * k), 410.0).state
                is State.NONCONFORMING
            )
        assert tick_at(service, clock, t + timedelta(seconds=59)) == []
        assert tick_at(service, clock, t + timedelta(seconds=60)) == []  # the limit is strict
        assert service.get(intent.id).state is State.NONCONFORMING
        (change,) = tick_at(service, clock, t + timedelta(seconds=60.5))
        assert change.new_state is State.CONTINGENT and change.reason.startswith("nonconforming for 60.5 s")
        assert service.get(intent.id).state is State.CONTINGENT


def test_silence_after_the_last_report_before_a_restart_becomes_contingent_after_15_s(
    db, frame, t0, box, plan
):
    """Issue 3: no telemetry for 15 s after a first report -> Contingent, around the last report.

    Oracle: the report (x 50 m, 2 m/s east) was received before the restart; after it, the flight is not
    taken for one that never reported, a report older than it is still ignored, the USS endpoint serves it,
    and at T + 15.5 s the Contingent circle is centred on it with radius 100 m + 2 m/s x 15.5 s = 131 m.
    """
    clock, t = Clock(t0 + timedelta(minutes=1)), t0 + timedelta(minutes=2)
    with running(db, frame, clock) as service:
        intent = activated(service, clock, box, plan)
        assert send(service, clock, intent.id, t, 50.0, vx_mps=2.0).state is State.ACTIVATED
    with running(db, frame, clock) as service:
        last = service.last_telemetry(intent.id)
        assert (last.time, last.x_m, last.vx_mps) == (t, 50.0, 2.0)
        assert send(service, clock, intent.id, t - timedelta(seconds=1), 400.0).state is State.ACTIVATED
        assert tick_at(service, clock, t + timedelta(seconds=14)) == []
        assert service.notifications(manager="uss-a") == []  # not flagged as never reported
        assert tick_at(service, clock, t + timedelta(seconds=15)) == []  # the limit is strict
        (change,) = tick_at(service, clock, t + timedelta(seconds=15.5))
        assert change.new_state is State.CONTINGENT and change.reason.startswith("no telemetry for 15.5 s")
        (volume,) = service.get(intent.id).off_nominal_volumes
        circle = volume.volume.outline
        assert isinstance(circle, Circle)
        assert (circle.center_x_m, circle.center_y_m, circle.radius_m) == (50.0, 50.0, pytest.approx(131.0))


def test_a_flight_that_never_reported_stays_flagged_once_and_is_never_made_contingent(
    db, frame, t0, box, plan
):
    """Issue 3: a flight that never reported is flagged in notifications, not made Contingent.

    Oracle: exactly one never_reported notification, before and after the restart, and the state unchanged.
    """
    clock = Clock(t0 + timedelta(minutes=1))
    with running(db, frame, clock) as service:
        intent = activated(service, clock, box, plan)
        assert tick_at(service, clock, clock.now + timedelta(seconds=16)) == []
        assert [n.kind for n in service.notifications(manager="uss-a")] == ["never_reported"]
    with running(db, frame, clock) as service:
        for later_s in (30.0, 120.0):
            assert tick_at(service, clock, intent.time_updated + timedelta(seconds=later_s)) == []
        assert service.get(intent.id).state is State.ACTIVATED
        assert [n.kind for n in service.notifications(manager="uss-a")] == ["never_reported"]


def test_the_batch_path_persists_every_clock_of_the_batch(db, frame, t0, box, plan):
    """The simulator's TelemetryBatch is persisted too (one statement for the batch): after a restart each
    flight's silence counts from its own last report.

    Oracle: one batch, A out at T (made Nonconforming) and B in at T + 10 s; A goes Contingent just after
    T + 15 s and B just after T + 25 s.
    """
    clock, t = Clock(t0 + timedelta(minutes=1)), t0 + timedelta(minutes=2)
    with running(db, frame, clock) as service:
        a, b = activated(service, clock, box, plan), activated(service, clock, box, plan, x_m=500.0)
        clock.now = t + timedelta(seconds=11)
        t_s = [t.timestamp(), t.timestamp() + 10.0]
        batch = TelemetryBatch(np.array([0, 1]), t_s=t_s, x_m=[400.0, 550.0], y_m=50.0, z_m=45.0)
        (change,) = service.telemetry_batch([a.id, b.id], batch, manager="uss-a")
        assert (change.intent_id, change.new_state) == (a.id, State.NONCONFORMING)
    with running(db, frame, clock) as service:
        due = []
        for after_s in (15.0, 15.5, 25.0, 25.5):
            due += [
                (after_s, c.intent_id, c.new_state)
                for c in tick_at(service, clock, t + timedelta(seconds=after_s))
            ]
        assert due == [(15.5, a.id, State.CONTINGENT), (25.5, b.id, State.CONTINGENT)]
