"""Conformance monitoring (issue 3 item 5): transitions, tolerances, time windows, batch == sequential."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import numpy as np
import pytest
import shapely
from shapely.geometry import Point

from airspace.volumes import Circle, Volume3D, Volume4D
from utm.conformance import ConformanceChange, ConformanceMonitor
from utm.errors import InvalidRequest
from utm.intents import OperationalIntent, State, make_ovn
from utm.telemetry import TelemetryBatch, TelemetryReport

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BOX = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)]


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def box_volume(t0_s: float = 0.0, t1_s: float = 600.0, *, xy=BOX, z=(0.0, 120.0)) -> Volume4D:
    return Volume4D(Volume3D.polygon(xy, z_lower_m=z[0], z_upper_m=z[1]), at(t0_s), at(t1_s))


def circle_volume(x_m, y_m, r_m, t0_s=0.0, t1_s=600.0, z=(0.0, 120.0)) -> Volume4D:
    return Volume4D(Volume3D.circle(x_m, y_m, r_m, z_lower_m=z[0], z_upper_m=z[1]), at(t0_s), at(t1_s))


def intent(volumes=None, *, state=State.ACTIVATED, off=(), updated_s=0.0, uid=None) -> OperationalIntent:
    uid = uid or uuid4()
    return OperationalIntent(
        id=uid,
        manager="op",
        version=1,
        ovn=make_ovn(uid, 1, at(updated_s)),
        state=state,
        priority=0,
        volumes=tuple(volumes or (box_volume(),)),
        off_nominal_volumes=tuple(off),
        uss_base_url="",
        authorisation=None,
        time_created=at(updated_s),
        time_updated=at(updated_s),
    )


def report(oi: OperationalIntent, t_s: float, x=50.0, y=50.0, z=60.0, **kw) -> TelemetryReport:
    return TelemetryReport(oi.id, at(t_s), x, y, z, **kw)


def apply(oi: OperationalIntent, change: ConformanceChange) -> OperationalIntent:
    """What the service does with a change: new version; Contingent also empties volumes (F3548)."""
    volumes = () if change.new_state is State.CONTINGENT else oi.volumes
    return dataclasses.replace(
        oi,
        version=oi.version + 1,
        state=change.new_state,
        volumes=volumes,
        off_nominal_volumes=change.off_nominal_volumes,
        time_updated=change.time,
    )


def covers(v: Volume4D, x: float, y: float, z: float, t: datetime) -> bool:
    o = v.volume.outline
    return (
        v.time_start <= t <= v.time_end
        and v.volume.z_lower_m <= z <= v.volume.z_upper_m
        and math.hypot(x - o.center_x_m, y - o.center_y_m) <= o.radius_m
    )


# --- transitions ------------------------------------------------------------------------------


def test_activated_outside_becomes_nonconforming_with_an_off_nominal_circle():
    """Issue 3 item 5: outside all volumes -> Nonconforming, an off-nominal volume around the flight."""
    mon, oi = ConformanceMonitor(), intent()
    assert mon.ingest(oi, report(oi, 10.0)) is None
    change = mon.ingest(oi, report(oi, 12.0, x=300.0, y=50.0, z=60.0, vx_mps=5.0, accuracy_h_m=2.0))
    assert change.new_state is State.NONCONFORMING and change.time == at(12.0)
    (v,) = change.off_nominal_volumes
    assert v.volume.outline == Circle(300.0, 50.0, 102.0)  # max(100, 5 m/s * 10 s) + accuracy
    assert (v.volume.z_lower_m, v.volume.z_upper_m) == (30.0, 90.0)
    assert (v.time_start, v.time_end) == (at(12.0), at(72.0))
    fast = ConformanceMonitor().ingest(oi, report(oi, 12.0, x=300.0, vx_mps=12.0, vy_mps=16.0, vz_mps=-4.0))
    assert fast.off_nominal_volumes[0].volume.outline.radius_m == 200.0  # 20 m/s * 10 s
    assert fast.off_nominal_volumes[0].volume.z_upper_m == 100.0  # 60 + max(30, 4 m/s * 10 s)


def test_nonconforming_back_inside_becomes_activated_without_off_nominal_volumes():
    mon, oi = ConformanceMonitor(), intent()
    oi = apply(oi, mon.ingest(oi, report(oi, 1.0, x=-50.0)))
    change = mon.ingest(oi, report(oi, 5.0, x=10.0))
    assert (change.new_state, change.off_nominal_volumes, change.reason) == (
        State.ACTIVATED,
        (),
        "back inside its volumes",
    )
    # the excursion timer restarts: out again at 70 s is a new, recoverable excursion
    oi = apply(oi, change)
    assert mon.ingest(oi, report(oi, 70.0, x=-50.0)).new_state is State.NONCONFORMING


@pytest.mark.parametrize(
    ("dt_s", "x_m", "expected"),
    [
        (60.0, -50.0, None),  # exactly 60 s, still covered by its off-nominal volume: recoverable
        (60.0, 50.0, State.ACTIVATED),
        (60.001, -50.0, State.CONTINGENT),
        (61.0, 50.0, State.CONTINGENT),  # back inside, but the excursion already lasted too long
    ],
)
def test_nonconforming_more_than_60_s_becomes_contingent_on_the_next_report(dt_s, x_m, expected):
    """F3548 MaxRecoverableTimeInNonconformingStateSeconds = 60: longer is unrecoverable (strictly more)."""
    mon, oi = ConformanceMonitor(), intent()
    oi = apply(oi, mon.ingest(oi, report(oi, 100.0, x=-50.0)))
    for k in range(1, 6):  # keeps reporting, within the timeout, still outside and covered
        assert mon.ingest(oi, report(oi, 100.0 + 10.0 * k, x=-50.0)) is None
    change = mon.ingest(oi, report(oi, 100.0 + dt_s, x=x_m))
    assert (change and change.new_state) == expected
    if expected is State.CONTINGENT:
        assert "MaxRecoverableTimeInNonconformingStateSeconds" in change.reason
        assert covers(change.off_nominal_volumes[0], x_m, 50.0, 60.0, at(100.0 + dt_s))


def test_tick_makes_a_long_excursion_contingent():
    mon, oi = ConformanceMonitor(), intent()
    oi = apply(oi, mon.ingest(oi, report(oi, 100.0, x=-50.0)))
    for k in range(1, 7):
        mon.ingest(oi, report(oi, 100.0 + 10.0 * k, x=-50.0))
    assert mon.tick({oi.id: oi}, at(160.0)) == []
    (change,) = mon.tick({oi.id: oi}, at(160.5))
    assert (change.intent_id, change.new_state, change.time) == (oi.id, State.CONTINGENT, at(160.5))
    # once applied, the intent is Contingent and the tick has nothing more to say
    assert mon.tick({oi.id: apply(oi, change)}, at(200.0)) == []


def test_silence_after_a_first_report_makes_contingent_with_a_growing_volume():
    """Issue 3 item 5: no telemetry for 15 s after its first report -> Contingent (strictly more)."""
    mon, oi = ConformanceMonitor(), intent()
    mon.ingest(oi, report(oi, 10.0, x=20.0, vx_mps=3.0, vy_mps=4.0))
    assert mon.tick({oi.id: oi}, at(25.0)) == []
    (change,) = mon.tick({oi.id: oi}, at(35.0))
    assert change.new_state is State.CONTINGENT and "no telemetry for 25.0 s" in change.reason
    (v,) = change.off_nominal_volumes
    assert v.volume.outline == Circle(20.0, 50.0, 100.0 + 5.0 * 25.0)  # grown by speed * silence
    assert (v.time_start, v.time_end) == (at(35.0), at(95.0))
    assert mon.tick({}, at(35.0)) == []  # an intent no longer live is skipped


def test_a_flight_that_never_reported_is_flagged_not_changed():
    """Issue 3 item 5: never reported -> listed for a notification, never made Contingent."""
    mon = ConformanceMonitor()
    late = intent([box_volume(0.0, 600.0)], updated_s=5.0)
    future = intent([box_volume(100.0, 600.0)], updated_s=5.0)  # active only from 100 s
    accepted = intent(state=State.ACCEPTED)
    reporting = intent()
    mon.ingest(reporting, report(reporting, 18.0))
    live = {oi.id: oi for oi in (late, future, accepted, reporting)}
    assert mon.never_reported(live, at(20.0)) == []  # exactly 15 s after activation
    assert mon.never_reported(live, at(20.5)) == [late.id]
    assert mon.never_reported(live, at(115.5)) == sorted([late.id, future.id])
    assert mon.tick(live, at(30.0)) == []


def test_nonconforming_keeps_its_volume_until_the_flight_leaves_it():
    """No churn: the off-nominal volume is moved only when the report is no longer inside it."""
    mon, oi = ConformanceMonitor(), intent()
    oi = apply(oi, first := mon.ingest(oi, report(oi, 1.0, x=-50.0)))
    assert mon.ingest(oi, report(oi, 2.0, x=-140.0)) is None  # 90 m from the centre
    change = mon.ingest(oi, report(oi, 3.0, x=-151.0))
    assert change.new_state is State.NONCONFORMING and change.off_nominal_volumes != first.off_nominal_volumes
    assert change.off_nominal_volumes[0].volume.outline == Circle(-151.0, 50.0, 100.0)
    oi = apply(oi, change)
    # the timer still counts from the first excursion report (1 s), not from the refresh
    assert mon.tick({oi.id: oi}, at(61.5))[0].new_state is State.CONTINGENT


def test_an_excursion_begun_before_the_monitor_knew_counts_from_time_updated():
    """Without a kept timer (declared Nonconforming by its operator, or a store from before timers were
    kept) a Nonconforming intent counts from its time_updated."""
    off = (circle_volume(-50.0, 50.0, 100.0, 0.0, 60.0),)
    oi = intent(state=State.NONCONFORMING, off=off, updated_s=0.0)
    assert ConformanceMonitor().ingest(oi, report(oi, 59.0, x=-50.0)) is None
    assert ConformanceMonitor().ingest(oi, report(oi, 61.0, x=-50.0)).new_state is State.CONTINGENT


# --- containment: tolerance, shapes, time windows ------------------------------------------------


@pytest.mark.parametrize(
    ("volume", "edge", "beyond", "acc_h", "acc_v"),
    [
        (box_volume(), (100.5, 50.0, 60.0), (100.501, 50.0, 60.0), 0.5, 0.0),  # polygon edge
        (box_volume(), (100.0, 100.0, 60.0), (100.0, 100.001, 60.0), 0.0, 0.0),  # on a vertex
        (box_volume(), (103.0, 104.0, 60.0), (103.0, 104.01, 60.0), 5.0, 0.0),  # 5 m off the corner
        (box_volume(), (50.0, 50.0, 122.0), (50.0, 50.0, 122.001), 0.0, 2.0),  # above the ceiling
        (box_volume(), (50.0, 50.0, -0.25), (50.0, 50.0, -0.251), 0.0, 0.25),  # below the floor
        (circle_volume(0.0, 0.0, 50.0), (50.5, 0.0, 60.0), (50.501, 0.0, 60.0), 0.5, 0.0),
        (circle_volume(0.0, 0.0, 50.0), (30.0, 40.0, 60.0), (30.0, 40.001, 60.0), 0.0, 0.0),  # on the circle
        (circle_volume(0.0, 0.0, 50.0), (36.0, 48.0, 60.0), (36.0, 48.01, 60.0), 10.0, 0.0),  # 60 m out
    ],
)
def test_accuracy_is_a_closed_tolerance(volume, edge, beyond, acc_h, acc_v):
    """Exactly accuracy away from the volume conforms; a millimetre or so further does not."""
    oi = intent([volume])
    kw = {"accuracy_h_m": acc_h, "accuracy_v_m": acc_v}
    assert ConformanceMonitor().ingest(oi, report(oi, 1.0, *edge, **kw)) is None
    assert ConformanceMonitor().ingest(oi, report(oi, 1.0, *beyond, **kw)).new_state is State.NONCONFORMING


@pytest.mark.parametrize(
    ("t_s", "inside"),
    [
        (100.0, True),
        (99.999999, False),
        (200.0, True),
        (200.000001, True),
        (300.0, True),
        (300.000001, False),
    ],
)
def test_only_volumes_active_at_the_report_time_count(t_s, inside):
    """Closed windows; a flight may move from one volume into the next at their shared instant."""
    oi = intent([box_volume(100.0, 200.0), box_volume(200.0, 300.0, xy=[(x + 100, y) for x, y in BOX])])
    x_m = 150.0 if t_s > 200.0 else 50.0
    change = ConformanceMonitor().ingest(oi, report(oi, t_s, x=x_m))
    assert (change is None) == inside
    # and the first volume does not cover the second's outline after its end
    assert (ConformanceMonitor().ingest(oi, report(oi, 250.0, x=50.0)) is None) is False


def test_containment_matches_a_brute_force_oracle():
    """Fast path vs scalar shapely distances: many random reports against mixed circles and polygons."""
    rng = np.random.default_rng(7)
    oi = intent(
        [
            box_volume(0.0, 50.0, xy=[(0, 0), (80, 0), (120, 90), (10, 60)], z=(10.0, 60.0)),
            circle_volume(150.0, 40.0, 35.0, 30.0, 100.0, z=(20.0, 90.0)),
            box_volume(60.0, 100.0, xy=[(-40, -40), (40, -40), (0, 30)], z=(0.0, 40.0)),
        ]
    )
    n = 3000
    t = rng.uniform(-5.0, 105.0, n).round(3)
    x, y, z = rng.uniform(-60.0, 200.0, n), rng.uniform(-60.0, 110.0, n), rng.uniform(0.0, 100.0, n)
    ah, av = rng.choice([0.0, 1.0, 7.5], n), rng.choice([0.0, 3.0], n)
    batch = TelemetryBatch(np.arange(n), t + T0.timestamp(), x, y, z, accuracy_h_m=ah, accuracy_v_m=av)
    copies = [dataclasses.replace(oi, id=UUID(int=i + 1)) for i in range(n)]
    changes = ConformanceMonitor().ingest_batch(copies, batch)
    flagged = {c.intent_id for c in changes}

    def inside(i: int) -> bool:
        for v in oi.volumes:
            vol, o = v.volume, v.volume.outline
            if not (
                v.time_start <= at(t[i]) <= v.time_end
                and vol.z_lower_m - av[i] <= z[i] <= vol.z_upper_m + av[i]
            ):
                continue
            geom = o.center if isinstance(o, Circle) else o
            gap = Point(x[i], y[i]).distance(geom) - (o.radius_m if isinstance(o, Circle) else 0.0)
            if gap <= ah[i]:
                return True
        return False

    expected = {copies[i].id for i in range(n) if not inside(i)}
    assert flagged == expected and len(changes) == len(expected) and 200 < len(expected) < n - 200


# --- ordering, state rules, errors -----------------------------------------------------------------


def test_older_and_repeated_reports_are_ignored():
    mon, oi = ConformanceMonitor(), intent()
    mon.ingest(oi, report(oi, 10.0, x=20.0))
    assert mon.ingest(oi, report(oi, 9.0, x=-500.0)) is None  # older, outside: ignored
    assert mon.ingest(oi, report(oi, 10.0, x=-500.0)) is None  # same time: ignored
    assert mon.last_report(oi.id) == report(oi, 10.0, x=20.0)
    assert mon.ingest(oi, report(oi, 10.000001, x=-500.0)).new_state is State.NONCONFORMING


def test_a_report_for_an_accepted_intent_is_refused():
    """Decision: telemetry starts once Activated; an Accepted flight reporting is a client error (400)."""
    mon, oi = ConformanceMonitor(), intent(state=State.ACCEPTED)
    with pytest.raises(InvalidRequest, match=r"^state: intent .* is Accepted"):
        mon.ingest(oi, report(oi, 1.0))
    assert mon.last_report(oi.id) is None


def test_a_contingent_intent_keeps_its_telemetry_and_nothing_changes():
    mon = ConformanceMonitor()
    oi = intent([], state=State.CONTINGENT, off=(circle_volume(0, 0, 100),))
    assert mon.ingest(oi, report(oi, 1.0, x=-900.0)) is None
    assert mon.last_report(oi.id).x_m == -900.0
    assert mon.tick({oi.id: oi}, at(100.0)) == []


def test_last_report_round_trips_and_forget_drops_it():
    mon, oi = ConformanceMonitor(), intent()
    sent = TelemetryReport(oi.id, at(1.234567), 1.5, 2.5, 3.5, 0.1, 0.2, 0.3, 4.0, 5.0)
    mon.ingest(oi, sent)
    assert mon.last_report(oi.id) == sent and mon.last_report(uuid4()) is None
    mon.forget(oi.id)
    mon.forget(oi.id)  # idempotent
    assert mon.last_report(oi.id) is None and mon.tick({oi.id: oi}, at(100.0)) == []
    other = intent()
    mon.ingest(other, report(other, 2.0))  # the freed row is reused
    assert mon.last_report(other.id).time == at(2.0) and mon.last_report(oi.id) is None


def test_volumes_changed_many_times_are_still_tested_correctly():
    """The monitor's volume table is rebuilt when stale rows pile up; answers stay exact."""
    mon, oi = ConformanceMonitor(), intent()
    for k in range(1500):
        oi = dataclasses.replace(oi, volumes=(box_volume(0.0, 5000.0, xy=[(x + k, y) for x, y in BOX]),))
        assert mon.ingest(oi, report(oi, 1.0 + k, x=k + 99.0)) is None
    assert mon.ingest(oi, report(oi, 2000.0, x=k - 1.0)).new_state is State.NONCONFORMING


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time": datetime(2026, 1, 1)}, "telemetry.time: must be timezone-aware"),
        ({"x_m": math.nan}, "telemetry.x_m: must be finite"),
        ({"vz_mps": math.inf}, "telemetry.vz_mps: must be finite"),
        ({"accuracy_h_m": -1.0}, r"telemetry.accuracy_h_m: must be finite and >= 0 \(-1.0\)"),
        ({"accuracy_v_m": math.inf}, "telemetry.accuracy_v_m: must be finite and >= 0"),
    ],
)
def test_bad_reports_are_refused(kwargs, message):
    fields = {"intent_id": uuid4(), "time": T0, "x_m": 0.0, "y_m": 0.0, "z_m": 0.0} | kwargs
    with pytest.raises(InvalidRequest, match=message):
        TelemetryReport(**fields)


def test_bad_batches_and_arguments_are_refused():
    a, b = intent(), intent()
    mon = ConformanceMonitor()
    with pytest.raises(InvalidRequest, match=r"^telemetry\[0\].intent_id: no such intent"):
        mon.ingest(a, report(b, 1.0))
    with pytest.raises(InvalidRequest, match=r"^telemetry.intent_row: must be a 1-D integer array"):
        TelemetryBatch([0.5], t_s=[1.0], x_m=0.0, y_m=0.0, z_m=0.0)
    with pytest.raises(InvalidRequest, match=r"^telemetry.x_m: must broadcast to shape \(2,\)"):
        TelemetryBatch([0, 0], t_s=[1.0, 2.0], x_m=[1.0, 2.0, 3.0], y_m=0.0, z_m=0.0)
    with pytest.raises(InvalidRequest, match=r"^telemetry\[1\].accuracy_v_m: must be finite and >= 0"):
        TelemetryBatch([0, 0], t_s=[1.0, 2.0], x_m=0.0, y_m=0.0, z_m=0.0, accuracy_v_m=[0.0, -2.0])
    batch = TelemetryBatch([0, 2], t_s=[1.0, 2.0], x_m=0.0, y_m=0.0, z_m=0.0)
    with pytest.raises(InvalidRequest, match=r"^telemetry.intent_row: must index the 2 intents given"):
        mon.ingest_batch([a, b], batch)
    with pytest.raises(InvalidRequest, match=r"^intents: the intents reported on must have distinct ids"):
        mon.ingest_batch([a, a], TelemetryBatch([0, 1], t_s=[1.0, 2.0], x_m=0.0, y_m=0.0, z_m=0.0))
    acc = intent(state=State.ACCEPTED)
    with pytest.raises(InvalidRequest, match=r"^state: "):  # the whole batch is refused, nothing kept
        mon.ingest_batch([a, acc], [report(a, 1.0), report(acc, 1.0)])
    assert mon.last_report(a.id) is None
    with pytest.raises(InvalidRequest, match=r"^now: must be timezone-aware"):
        mon.tick({}, datetime(2026, 1, 1))
    with pytest.raises(InvalidRequest, match=r"^now: must be timezone-aware"):
        mon.never_reported({}, datetime(2026, 1, 1))
    with pytest.raises(InvalidRequest, match=r"^telemetry_timeout_s: must be a finite number > 0 \(0.0\)"):
        ConformanceMonitor(telemetry_timeout_s=0.0)
    with pytest.raises(InvalidRequest, match=r"^off_nominal_radius_m: must be a finite number > 0"):
        ConformanceMonitor(off_nominal_radius_m=math.nan)
    assert mon.ingest_batch([a], []) == []


# --- the batch path against its oracle ---------------------------------------------------------


def _random_world(rng: np.random.Generator, n_intents: int, n_reports: int):
    intents = []
    for _ in range(n_intents):
        volumes = []
        for _ in range(int(rng.integers(1, 4))):
            t0 = float(rng.uniform(0.0, 150.0))
            t1 = t0 + float(rng.uniform(30.0, 200.0))
            zl = float(rng.choice([0.0, 30.0]))
            z = (zl, zl + float(rng.choice([40.0, 90.0])))
            cx, cy = rng.uniform(0.0, 300.0, 2)
            if rng.random() < 0.5:
                volumes.append(circle_volume(float(cx), float(cy), float(rng.uniform(20.0, 80.0)), t0, t1, z))
            else:
                hull = shapely.MultiPoint(rng.uniform(-70, 70, (6, 2)) + np.array([cx, cy])).convex_hull
                volumes.append(box_volume(t0, t1, xy=list(hull.exterior.coords)[:-1], z=z))
        state = State(rng.choice([State.ACTIVATED] * 6 + [State.NONCONFORMING, State.CONTINGENT]))
        off = (circle_volume(*rng.uniform(0, 300, 2), 100.0, 0.0, 60.0),) if state != State.ACTIVATED else ()
        intents.append(intent(volumes, state=state, off=off, updated_s=float(rng.uniform(-30, 10))))
    reports = []
    for _ in range(n_reports):
        oi = intents[int(rng.integers(n_intents))]
        v = oi.volumes[int(rng.integers(len(oi.volumes)))]
        x0, y0, x1, y1 = v.volume.bounds_xy_m
        t = (v.time_start - T0).total_seconds() + float(rng.uniform(-20.0, 220.0))
        reports.append(
            TelemetryReport(
                oi.id,
                at(round(t, 3)),
                float(rng.uniform(x0 - 60, x1 + 60)),
                float(rng.uniform(y0 - 60, y1 + 60)),
                float(rng.uniform(v.volume.z_lower_m - 20, v.volume.z_upper_m + 20)),
                *rng.normal(0.0, 6.0, 3).tolist(),
                accuracy_h_m=float(rng.choice([0.0, 2.0, 10.0])),
                accuracy_v_m=float(rng.choice([0.0, 5.0])),
            )
        )
    reports.sort(key=lambda r: r.time)
    for k in rng.choice(n_reports - 1, n_reports // 6, replace=False):  # some arrive out of order
        reports[k], reports[k + 1] = reports[k + 1], reports[k]
    for k in rng.choice(n_reports, n_reports // 20, replace=False):  # and some twice
        reports.insert(int(k), reports[int(k)])
    return intents, reports


@pytest.mark.parametrize("seed", range(6))
def test_batch_equals_sequential_ingest(seed):
    """STYLE §3: the vectorized path checked against the one-by-one path, the service applying changes."""
    rng = np.random.default_rng(seed)
    intents, reports = _random_world(rng, 40, 600)
    one, live = ConformanceMonitor(), {oi.id: oi for oi in intents}
    sequential = []
    for r in reports:
        change = one.ingest(live[r.intent_id], r)
        if change is not None:
            sequential.append(change)
            live[r.intent_id] = apply(live[r.intent_id], change)
    many = ConformanceMonitor()
    batched = many.ingest_batch(intents, reports)
    assert batched == sequential
    assert {c.new_state for c in batched} == {State.NONCONFORMING, State.ACTIVATED, State.CONTINGENT}
    assert all(one.last_report(oi.id) == many.last_report(oi.id) for oi in intents)
    after = dict(zip([oi.id for oi in intents], intents, strict=True))
    for c in batched:
        after[c.intent_id] = apply(after[c.intent_id], c)
    assert after == live
    for s in (200.0, 260.0, 400.0):
        assert many.tick(after, at(s)) == one.tick(live, at(s))


@pytest.mark.parametrize("seed", range(3))
def test_a_monitor_restored_from_the_unsaved_timers_continues_as_the_original(seed):
    """What the service persists is enough: a fresh monitor given ``unsaved()`` (at start-up) answers the
    rest of the reports and every later tick exactly as the monitor that never stopped. Oracle: that one."""
    rng = np.random.default_rng(seed)
    intents, reports = _random_world(rng, 40, 600)
    kept, live = ConformanceMonitor(), {oi.id: oi for oi in intents}
    for c in kept.ingest_batch(intents, reports[:300]):
        live[c.intent_id] = apply(live[c.intent_id], c)
    timers = kept.unsaved()
    assert sorted(timers.intent_ids) == sorted({r.intent_id for r in reports[:300]})
    assert len(kept.unsaved()) == 0  # handed out once
    restored = ConformanceMonitor()
    restored.restore(timers)
    assert all(restored.last_report(i) == kept.last_report(i) for i in live)
    later = list(live.values())
    changes = restored.ingest_batch(later, reports[300:])
    assert changes == kept.ingest_batch(later, reports[300:])
    for c in changes:
        live[c.intent_id] = apply(live[c.intent_id], c)
    for s in (200.0, 260.0, 400.0):
        assert restored.tick(live, at(s)) == kept.tick(live, at(s))


def test_batch_in_two_halves_equals_one_batch():
    rng = np.random.default_rng(11)
    intents, reports = _random_world(rng, 30, 400)
    whole = ConformanceMonitor().ingest_batch(intents, reports)
    split, live = ConformanceMonitor(), {oi.id: oi for oi in intents}
    first = split.ingest_batch(intents, reports[:200])
    for c in first:
        live[c.intent_id] = apply(live[c.intent_id], c)
    assert first + split.ingest_batch(list(live.values()), reports[200:]) == whole


def test_never_reported_uses_uuid_order():
    ids = sorted(UUID(int=k) for k in (5, 1, 3))
    mon = ConformanceMonitor()
    live = {i: intent(uid=i) for i in reversed(ids)}
    assert mon.never_reported(live, at(100.0)) == ids
