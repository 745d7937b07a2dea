"""UTMService: versions, OVNs, managers, transitions, audit, notifications, conformance, restarts.

The rules themselves are tested in test_deconfliction.py; here, what the façade adds around them.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from airspace.geofences import Geofence, Restriction
from airspace.volumes import Volume3D
from utm.errors import InvalidTransition, NotFound, NotManager, PlanRejected, StaleOvn
from utm.intents import State
from utm.service import UTMService
from utm.store import Store
from utm.telemetry import TelemetryReport


class Clock:
    """A settable clock: the service takes time only from here."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(t0):
    return Clock(t0 - timedelta(minutes=10))


@pytest.fixture
def db(tmp_path):
    return tmp_path / "utm.sqlite"


@pytest.fixture
def service(db, frame, clock):
    store = Store(db, frame)
    yield UTMService(store, clock=clock)
    store.close()


def test_create_gives_version_1_and_an_opaque_ovn(service, box, plan):
    intent = service.create(uuid4(), plan(box()), manager="uss-a").intent
    assert (intent.version, intent.state, intent.manager) == (1, State.ACCEPTED, "uss-a")
    assert 16 <= len(intent.ovn) <= 128


def test_update_needs_the_current_ovn_and_changes_it(service, box, plan):
    first = service.create(iid := uuid4(), plan(box()), manager="uss-a").intent
    second = service.update(iid, first.ovn, plan(box(x_m=10.0)), manager="uss-a").intent
    assert second.version == 2 and second.ovn != first.ovn
    with pytest.raises(StaleOvn, match="not the current version"):
        service.update(iid, first.ovn, plan(box(x_m=20.0)), manager="uss-a")


def test_create_on_an_existing_id_is_refused(service, box, plan):
    service.create(iid := uuid4(), plan(box()), manager="uss-a")
    with pytest.raises(StaleOvn, match="exists"):
        service.create(iid, plan(box(x_m=500.0)), manager="uss-a")


def test_only_the_manager_may_change_or_end_an_intent(service, box, plan):
    intent = service.create(iid := uuid4(), plan(box()), manager="uss-a").intent
    with pytest.raises(NotManager):
        service.update(iid, intent.ovn, plan(box()), manager="uss-b")
    with pytest.raises(NotManager):
        service.delete(iid, intent.ovn, manager="uss-b")


def test_delete_ends_the_intent_and_keeps_its_history(service, db, box, plan):
    intent = service.create(iid := uuid4(), plan(box()), manager="uss-a").intent
    service.delete(iid, intent.ovn, manager="uss-a")
    with pytest.raises(NotFound):
        service.get(iid)
    assert service.query(box()) == []
    assert [d.action for d in service.decisions(entity_id=str(iid))] == ["create", "delete"]


def test_invalid_transition_is_refused_with_the_allowed_ones(service, clock, box, plan):
    clock.now = box().time_start + timedelta(minutes=1)
    intent = service.create(iid := uuid4(), plan(box(), state=State.ACCEPTED), manager="uss-a").intent
    contingent = plan(state=State.CONTINGENT, off_nominal=[box()])
    moved = service.update(iid, intent.ovn, contingent, manager="uss-a").intent
    with pytest.raises(InvalidTransition, match="from Contingent to Activated"):
        service.update(iid, moved.ovn, plan(box(), state=State.ACTIVATED), manager="uss-a")


def test_a_rejected_plan_is_audited_and_carries_verified_alternatives(service, box, plan):
    service.create(uuid4(), plan(box(), priority=10), manager="uss-a")
    with pytest.raises(PlanRejected) as rejected:
        service.create(late := uuid4(), plan(box(x_m=50.0), priority=0), manager="uss-b")
    assert rejected.value.reason == "conflict"
    assert rejected.value.alternatives, "a refused plan offers at least the time shift"
    record = service.decisions(entity_id=str(late))[-1]
    assert (record.result, record.reason, record.actor) == ("rejected", "conflict", "uss-b")


def test_higher_priority_over_lower_notifies_the_lower_manager(service, box, plan):
    low = service.create(uuid4(), plan(box(), priority=0), manager="uss-low").intent
    high = service.create(uuid4(), plan(box(x_m=50.0), priority=100), manager="uss-high").intent
    notes = service.notifications(manager="uss-low")
    assert [(n.kind, n.intent_id) for n in notes] == [("conflict_created", str(low.id))]
    assert str(high.id) in notes[0].message


def test_notifications_past_the_retention_are_deleted_at_a_later_commit(db, frame, clock, box, plan):
    """Retention 2 min: overlap notifications made 3 min ago go at the next commit; newer ones stay."""
    store = Store(db, frame)
    service = UTMService(store, clock=clock, notification_retention=timedelta(minutes=2))
    service.create(uuid4(), plan(box(), priority=0), manager="uss-low")
    service.create(uuid4(), plan(box(x_m=50.0), priority=100), manager="uss-high")
    first = service.notifications(manager="uss-low")
    assert len(first) == 1
    clock.advance(180.0)
    service.create(uuid4(), plan(box(x_m=-60.0), priority=100), manager="uss-high")  # meets only the low one
    notes = service.notifications(manager="uss-low")
    assert len(notes) == 1 and notes[0].time == clock.now and first[0] not in notes
    store.close()


@pytest.mark.parametrize("retention", [timedelta(0), timedelta(seconds=-1)])
def test_a_retention_that_is_not_positive_is_refused(db, frame, clock, retention):
    store = Store(db, frame)
    with pytest.raises(ValueError, match="notification_retention must be positive"):
        UTMService(store, clock=clock, notification_retention=retention)
    store.close()


def test_the_live_picture_is_rebuilt_from_the_store_after_a_restart(db, frame, clock, box, plan):
    store = Store(db, frame)
    first = UTMService(store, clock=clock)
    intent = first.create(iid := uuid4(), plan(box()), manager="uss-a").intent
    store.close()
    store = Store(db, frame)
    again = UTMService(store, clock=clock)
    assert again.get(iid) == intent
    with pytest.raises(PlanRejected):
        again.create(uuid4(), plan(box(x_m=50.0)), manager="uss-b")
    store.close()


def test_cell_occupancy_is_rebuilt_at_a_restart_and_freed_when_a_rebuilt_intent_ends(
    db, frame, clock, box, plan
):
    """Capacity survives a restart (the occupancy is rebuilt with the intents, in bulk), and ending a rebuilt
    intent frees its place. Oracle: one capacity-1 cell, counted by hand; the two boxes do not meet."""
    from airspace.cells import CellGrid

    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=4, ny=4, capacity=1)
    store = Store(db, frame)
    holder = UTMService(store, clock=clock, grid=grid).create(uuid4(), plan(box(10.0, 10.0)), manager="uss-a")
    store.close()
    store = Store(db, frame)
    again = UTMService(store, clock=clock, grid=grid)
    late = plan(box(300.0, 300.0))  # the same cell (0, 0) and layer, at the same time
    with pytest.raises(PlanRejected) as refused:
        again.create(uuid4(), late, manager="uss-b")
    assert refused.value.reason == "capacity"
    again.delete(holder.intent.id, holder.intent.ovn, manager="uss-a")
    assert again.create(uuid4(), late, manager="uss-b").intent.version == 1
    store.close()


def _activate(service, clock, box, plan):
    clock.now = box().time_start + timedelta(minutes=1)
    return service.create(uuid4(), plan(box(), state=State.ACTIVATED), manager="uss-a").intent


def _report(intent_id, clock, x_m, y_m=50.0, z_m=45.0):
    return TelemetryReport(intent_id, clock.now, x_m, y_m, z_m)


def test_telemetry_outside_makes_nonconforming_then_back_inside_activated(service, clock, box, plan):
    intent = _activate(service, clock, box, plan)
    clock.advance(1)
    off = service.telemetry(_report(intent.id, clock, 400.0), manager="uss-a")
    assert off.state is State.NONCONFORMING and off.off_nominal_volumes
    clock.advance(1)
    back = service.telemetry(_report(intent.id, clock, 50.0), manager="uss-a")
    assert back.state is State.ACTIVATED and not back.off_nominal_volumes
    kinds = [n.kind for n in service.notifications(manager="uss-a")]
    assert kinds[:2] == ["nonconforming", "conformance_restored"]
    assert [d.actor for d in service.decisions(entity_id=str(intent.id))][-2:] == ["conformance-monitor"] * 2


def test_a_long_excursion_becomes_contingent_on_tick(service, clock, box, plan):
    intent = _activate(service, clock, box, plan)
    service.telemetry(_report(intent.id, clock, 400.0), manager="uss-a")
    clock.advance(61)
    changes = service.tick()
    assert [c.new_state for c in changes] == [State.CONTINGENT]
    now = service.get(intent.id)
    assert now.state is State.CONTINGENT and now.volumes == () and now.off_nominal_volumes


def test_a_flight_that_never_reports_is_flagged_once_not_made_contingent(service, clock, box, plan):
    intent = _activate(service, clock, box, plan)
    clock.advance(30)
    service.tick()
    service.tick()
    assert service.get(intent.id).state is State.ACTIVATED
    assert [n.kind for n in service.notifications(manager="uss-a")] == ["never_reported"]


def test_telemetry_from_another_manager_is_refused(service, clock, box, plan):
    intent = _activate(service, clock, box, plan)
    with pytest.raises(NotManager):
        service.telemetry(_report(intent.id, clock, 50.0), manager="uss-b")


def _zone_doc(identifier: str, restriction: str) -> dict:
    ring = [[113.93, 22.53], [113.931, 22.53], [113.931, 22.531], [113.93, 22.531], [113.93, 22.53]]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"identifier": identifier, "restriction": restriction},
            }
        ],
    }


def test_an_imported_prohibited_zone_blocks_plans_at_once_and_is_audited(service, box, plan):
    service.import_geozones(_zone_doc("NOFLY1", "PROHIBITED"), actor="authority")
    with pytest.raises(PlanRejected) as rejected:
        service.create(uuid4(), plan(box()), manager="uss-a")
    assert rejected.value.reason == "geofence"
    assert service.decisions(entity_id="NOFLY1")[0].action == "geofence_put"
    service.delete_geofence("NOFLY1", actor="authority")
    service.create(uuid4(), plan(box()), manager="uss-a")


def test_put_geozone_needs_exactly_the_named_zone(service):
    with pytest.raises(ValueError, match="exactly one zone, 'OTHER'"):
        service.put_geozone("OTHER", _zone_doc("NOFLY1", "PROHIBITED"), actor="authority")
    assert service.put_geozone("NOFLY1", _zone_doc("NOFLY1", "CONDITIONAL"), actor="a").restriction is (
        Restriction.CONDITIONAL
    )


def test_region_geofences_given_at_start_are_kept(db, frame, clock, box, plan):
    zone = Geofence(
        "Z1", Restriction.PROHIBITED, (Volume3D.circle(0.0, 0.0, 20.0, z_lower_m=0, z_upper_m=500),)
    )
    store = Store(db, frame)
    service = UTMService(store, clock=clock, geofences=[zone])
    assert service.get_geofence("Z1") == zone
    with pytest.raises(NotFound):
        service.get_geofence("nope")
    store.close()


def test_plans_outside_the_managed_region_are_refused(db, frame, clock, box, plan):
    from airspace.cells import CellGrid

    grid = CellGrid(x_min_m=-1000.0, y_min_m=-1000.0, nx=4, ny=4)
    store = Store(db, frame)
    service = UTMService(store, clock=clock, grid=grid)
    # a plan touching the region edge is inside it
    service.create(
        uuid4(), plan(box(x_m=-1000.0, y_m=-1000.0)), manager="uss-a"
    )  # touching the edge is inside
    with pytest.raises(ValueError, match=r"volumes\[0\]: lies outside the managed region"):
        service.create(uuid4(), plan(box(x_m=950.0)), manager="uss-a")
    store.close()
