"""Strategic deconfliction: each F3548 rule and validation of STANDARDS.md §1.6, on hand-built geometry.

Oracles: boxes placed by hand with exact 1 cm overlaps and gaps, capacities counted by hand.
"""

from __future__ import annotations

import math
from datetime import timedelta
from uuid import uuid4

import numpy as np
import pytest

from airspace.cells import CellGrid
from airspace.geofences import Applicability, Geofence, Restriction
from airspace.volumes import Volume3D, Volume4D
from utm.deconfliction import (
    Policy,
    capacity_conflicts,
    check_plan,
    full_windows,
    validate_area,
    validate_request,
)
from utm.errors import AreaTooLarge, InvalidRequest, PlanRejected
from utm.intents import State
from utm.live import LiveAirspace

POLICY = Policy()
NEW = uuid4()


def decide(live, request, t0, *, previous=None, policy=POLICY, now_min=1.0):
    now = t0 + timedelta(minutes=now_min)
    validate_request(request, now=now, policy=policy)
    return check_plan(live, request, intent_id=NEW, previous=previous, now=now, policy=policy)


def live_with(*intents, **kwargs) -> LiveAirspace:
    live = LiveAirspace(**kwargs)
    for i in intents:
        live.put(i)
    return live


# -- validations ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("priority", [-1, 101, True])
def test_priority_outside_the_default_range_is_invalid(priority, box, plan, t0):
    """F3548 Priority: the reference localities allow ]-1, 100]; outside is a planning error."""
    with pytest.raises(InvalidRequest, match=r"^priority: "):
        validate_request(plan(box(), priority=priority), now=t0, policy=POLICY)


def test_priority_bounds_are_configurable(box, plan, t0):
    """F3548 Priority: the regulator sets the range; both ends of ]lower, upper] behave as written."""
    policy = Policy(priority_lower_exclusive=9, priority_upper=20)
    validate_request(plan(box(), priority=20), now=t0, policy=policy)
    for p in (9, 21):
        with pytest.raises(InvalidRequest, match="priority"):
            validate_request(plan(box(), priority=p), now=t0, policy=policy)


@pytest.mark.parametrize("state", [State.ACCEPTED, State.ACTIVATED, State.NONCONFORMING])
def test_nominal_and_nonconforming_intents_need_volumes(state, box, plan, t0):
    """F3548 OperationalIntentDetails: at least one volume when Accepted, Activated or Nonconforming."""
    with pytest.raises(InvalidRequest, match=r"^volumes: at least one volume"):
        validate_request(plan(state=state, off_nominal=[box()]), now=t0, policy=POLICY)


def test_contingent_volumes_must_be_empty_and_off_nominal_given(box, plan, t0):
    """F3548 OperationalIntentDetails: Contingent has no volumes and at least one off-nominal volume."""
    with pytest.raises(InvalidRequest, match=r"^volumes: must be empty when Contingent"):
        validate_request(plan(box(), state=State.CONTINGENT, off_nominal=[box()]), now=t0, policy=POLICY)
    with pytest.raises(InvalidRequest, match=r"^off_nominal_volumes: at least one"):
        validate_request(plan(state=State.CONTINGENT), now=t0, policy=POLICY)
    validate_request(plan(state=State.CONTINGENT, off_nominal=[box()]), now=t0, policy=POLICY)


def test_nonconforming_needs_off_nominal_volumes(box, plan, t0):
    """F3548 OperationalIntentDetails: off_nominal_volumes is required when Nonconforming."""
    with pytest.raises(InvalidRequest, match=r"^off_nominal_volumes: at least one"):
        validate_request(plan(box(), state=State.NONCONFORMING), now=t0, policy=POLICY)


@pytest.mark.parametrize("state", [State.ACCEPTED, State.ACTIVATED])
def test_opin0015_off_nominal_volumes_are_refused_when_nominal(state, box, plan, t0):
    """F3548 OPIN0015: no off-nominal volumes when Accepted or Activated."""
    request = plan(box(), state=state, off_nominal=[box(500.0)])
    with pytest.raises(InvalidRequest, match=r"^off_nominal_volumes: must be empty .*OPIN0015"):
        validate_request(request, now=t0 + timedelta(minutes=1), policy=POLICY)


def _circle(z_lower_m, z_upper_m, box):
    return Volume4D(
        Volume3D.circle(0, 0, 5, z_lower_m=z_lower_m, z_upper_m=z_upper_m), box().time_start, box().time_end
    )


@pytest.mark.parametrize(
    ("volume", "field"),
    [
        (lambda b: Volume4D(b().volume, b().time_start, None), "volumes[2].time_end"),
        (lambda b: Volume4D(b().volume, None, b().time_end), "volumes[2].time_start"),
        (lambda b: _circle(-math.inf, 60.0, b), "volumes[2].volume.altitude_lower"),
        (lambda b: _circle(0.0, math.inf, b), "volumes[2].volume.altitude_upper"),
    ],
)
def test_every_intent_volume_needs_times_and_finite_altitudes(volume, field, box, plan, t0):
    """F3548 Volume4D: an OI volume needs start, end, lower and upper; the error names the path."""
    request = plan(box(), box(500.0), volume(box))
    with pytest.raises(InvalidRequest) as refused:
        validate_request(request, now=t0, policy=POLICY)
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")


def _ngon(n: int, box) -> Volume4D:
    angle = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return Volume4D(
        Volume3D.polygon(
            np.column_stack([1000 * np.cos(angle), 1000 * np.sin(angle)]), z_lower_m=0, z_upper_m=60
        ),
        box().time_start,
        box().time_end,
    )


def test_at_most_10000_vertices_with_a_circle_counting_one(box, plan, t0):
    """F3548 OiMaxVertices = 10,000 over all volumes (reference USS); a circle counts as one vertex."""
    circle = Volume4D(Volume3D.circle(0, 0, 50, z_lower_m=0, z_upper_m=60), box().time_start, box().time_end)
    validate_request(plan(_ngon(9_999, box), circle), now=t0, policy=POLICY)
    with pytest.raises(InvalidRequest, match=r"^volumes: 10001 vertices"):
        validate_request(plan(_ngon(10_000, box), circle), now=t0, policy=POLICY)


def test_opin0030_accepted_start_beyond_30_days_is_invalid(box, plan, t0):
    """F3548 OPIN0030: an Accepted intent starts at most 30 days (OiMaxPlanHorizonDays) after now."""
    now = t0 - timedelta(days=30)
    validate_request(plan(box()), now=now, policy=POLICY)
    with pytest.raises(InvalidRequest, match=r"^volumes\[1\]\.time_start: .*OPIN0030"):
        validate_request(plan(box(start_min=10), box(start_min=0.01)), now=now, policy=POLICY)


def test_opin0040_intent_entirely_in_the_past_is_invalid_with_5_s_tolerance(box, plan, t0):
    """F3548 OPIN0040: not entirely in the past; TimeSyncMaxDifferentialSeconds = 5 of tolerance."""
    end = box().time_end
    validate_request(plan(box()), now=end + timedelta(seconds=5), policy=POLICY)
    with pytest.raises(
        InvalidRequest, match=r"^volumes\[0\]\.time_end: the intent ends in the past .*OPIN0040"
    ):
        validate_request(plan(box()), now=end + timedelta(seconds=5.001), policy=POLICY)


def test_activated_intent_needs_a_volume_active_now(box, plan, t0):
    """F3548 (reference USS): an Activated intent has a volume active now, within the 5 s tolerance."""
    request = plan(box(start_min=10), state=State.ACTIVATED)
    validate_request(request, now=t0 + timedelta(minutes=10, seconds=-5), policy=POLICY)
    with pytest.raises(InvalidRequest, match=r"^volumes: an Activated intent needs a volume active now"):
        validate_request(request, now=t0 + timedelta(minutes=10, seconds=-6), policy=POLICY)


def test_area_over_the_maximum_is_too_large_by_union_footprint(box, plan, t0):
    """InterUSS DSS maxAllowedAreaKm2 = 2500: the union of footprints counts, not the sum or the bbox."""
    big = box(size_m=40_000.0)  # 1600 km² twice on the same spot: sum 3200, union 1600
    validate_request(plan(big, box(size_m=40_000.0)), now=t0, policy=POLICY)
    diagonal = [
        box(x_m=k * 10_000.0, y_m=k * 10_000.0, size_m=10_000.0) for k in range(20)
    ]  # 2000 km², bbox 40000
    validate_request(plan(*diagonal), now=t0, policy=POLICY)
    with pytest.raises(AreaTooLarge, match=r"^volumes: covers 2600\.0 km²"):
        validate_request(plan(big, box(x_m=40_000.0, size_m=math.sqrt(1000e6))), now=t0, policy=POLICY)
    with pytest.raises(AreaTooLarge, match=r"^area_of_interest: covers 2601\.0 km²"):
        validate_area(box(size_m=51_000.0), policy=POLICY)


# -- the plan check ------------------------------------------------------------------------------------------


def test_scd0015_lower_priority_plan_into_conflict_is_rejected(box, plan, intent, t0):
    """F3548 SCD0015: a plan may not create a conflict with a higher-priority intent."""
    high = intent(box(), priority=100)
    with pytest.raises(PlanRejected) as refused:
        decide(live_with(high), plan(box(50.0), priority=0), t0, now_min=-1)
    assert refused.value.reason == "conflict"
    assert [(c.kind, c.ref) for c in refused.value.conflicts] == [("intent", str(high.id))]
    assert not refused.value.alternatives


@pytest.mark.parametrize(("x_m", "accepted"), [(100.0 - 0.011, False), (100.0, False), (100.01, True)])
def test_gen0500_a_1_1_cm_overlap_is_rejected_and_a_1_cm_gap_accepted(x_m, accepted, box, plan, intent, t0):
    """F3548 GEN0500: an overlap of 1 cm or more is detected; closed outlines, so touching is a conflict too.

    Oracle: the existing box spans x in [0, 100] m; the new one starts at 99.989 m, 100 m or 100.01 m.
    """
    live = live_with(intent(box()))
    if accepted:
        assert decide(live, plan(box(x_m)), t0, now_min=-1) == ()
    else:
        with pytest.raises(PlanRejected):
            decide(live, plan(box(x_m)), t0, now_min=-1)


def test_closed_time_intervals_touching_in_time_conflict(box, plan, intent, t0):
    """F3548 (STANDARDS §1.6): intervals are closed; a plan starting when another ends still intersects it."""
    live = live_with(intent(box(end_min=30)))
    with pytest.raises(PlanRejected):
        decide(live, plan(box(start_min=30, end_min=40)), t0, now_min=-1)
    assert decide(live, plan(box(start_min=30.001, end_min=40)), t0, now_min=-1) == ()


def test_scd0015_higher_priority_may_create_a_conflict_and_is_advised(box, plan, intent, t0):
    """F3548 SCD0015 / SCD0090: a higher priority may overlap a lower one; the other side is notified."""
    low = intent(box(), priority=0)
    advisories = decide(live_with(low), plan(box(50.0), priority=100), t0, now_min=-1)
    assert [(a.kind, a.ref) for a in advisories] == [("conflict_created", str(low.id))]


def test_scd0035_equal_priority_conflict_is_rejected_by_default(box, plan, intent, t0):
    """F3548 SCD0035: equal-priority conflicts are not permitted in either built-in locality."""
    with pytest.raises(PlanRejected, match="equal priority"):
        decide(live_with(intent(box(), priority=5)), plan(box(50.0), priority=5), t0, now_min=-1)


def test_scd0035_equal_priority_conflict_is_allowed_under_a_permissive_policy(box, plan, intent, t0):
    """F3548 SCD0035: the regulator decides; a permissive policy accepts and advises the created conflict."""
    other = intent(box(), priority=5)
    policy = Policy(allow_equal_priority=True)
    advisories = decide(live_with(other), plan(box(50.0), priority=5), t0, policy=policy, now_min=-1)
    assert [(a.kind, a.ref) for a in advisories] == [("conflict_created", str(other.id))]
    with pytest.raises(PlanRejected):  # a lower priority is still refused
        decide(
            live_with(intent(box(), priority=6)), plan(box(50.0), priority=5), t0, policy=policy, now_min=-1
        )


@pytest.mark.parametrize("state", [State.NONCONFORMING, State.CONTINGENT])
def test_off_nominal_volumes_of_any_state_are_obstacles(state, box, plan, intent, t0):
    """F3548 (STANDARDS §1.6): intents in any state are obstacles, through their off-nominal volumes too."""
    volumes = () if state == State.CONTINGENT else (box(5_000.0),)
    other = intent(*volumes, state=state, priority=0, off_nominal=[box(200.0)])
    with pytest.raises(PlanRejected):
        decide(live_with(other), plan(box(250.0)), t0, now_min=-1)


def test_the_previous_version_of_the_same_intent_is_ignored(box, plan, intent, t0):
    """F3548 (STANDARDS §1.6): previous versions of the flight being modified are not obstacles."""
    old = intent(box(), priority=100, intent_id=NEW)
    assert decide(live_with(old), plan(box(50.0), priority=0), t0, previous=old, now_min=-1) == ()


def test_scd0025_activating_into_conflict_is_rejected(box, plan, intent, t0):
    """F3548 SCD0025: activating a flight into conflict with a higher-priority intent is rejected."""
    mine = intent(box(), intent_id=NEW)
    high = intent(box(50.0), priority=100, state=State.ACTIVATED)
    with pytest.raises(PlanRejected):
        decide(live_with(mine, high), plan(box(), state=State.ACTIVATED), t0, previous=mine)


def test_scd0030_activated_flight_with_a_pre_existing_conflict_may_be_modified(box, plan, intent, t0):
    """F3548 SCD0030: an Activated flight already overlapped by an Activated higher priority may change."""
    mine = intent(box(), state=State.ACTIVATED, intent_id=NEW)
    high = intent(box(50.0), priority=100, state=State.ACTIVATED)
    extended = plan(box(end_min=45), state=State.ACTIVATED)
    assert decide(live_with(mine, high), extended, t0, previous=mine) == ()


def test_scd0030_activated_flight_modified_into_a_new_conflict_is_rejected(box, plan, intent, t0):
    """F3548 SCD0030: the exception covers conflicts that existed; a new one with another is refused."""
    mine = intent(box(), state=State.ACTIVATED, intent_id=NEW)
    high = intent(box(50.0), priority=100, state=State.ACTIVATED)
    fresh = intent(box(1_000.0), priority=100, state=State.ACTIVATED)
    moved = plan(box(), box(1_050.0), state=State.ACTIVATED)
    with pytest.raises(PlanRejected) as refused:
        decide(live_with(mine, high, fresh), moved, t0, previous=mine)
    assert [c.ref for c in refused.value.conflicts] == [str(fresh.id)]


def test_scd0020_the_exception_needs_both_flights_activated(box, plan, intent, t0):
    """F3548 SCD0020: a planned (Accepted) flight modified into conflict is rejected, overlap or not."""
    mine = intent(box(), intent_id=NEW)
    high = intent(box(50.0), priority=100, state=State.ACTIVATED)
    with pytest.raises(PlanRejected):
        decide(live_with(mine, high), plan(box(end_min=45)), t0, previous=mine, now_min=-1)
    accepted_high = intent(box(50.0), priority=100)
    active_mine = intent(box(), state=State.ACTIVATED, intent_id=NEW)
    with pytest.raises(PlanRejected):
        decide(
            live_with(active_mine, accepted_high),
            plan(box(end_min=45), state=State.ACTIVATED),
            t0,
            previous=active_mine,
        )


@pytest.mark.parametrize("state", [State.NONCONFORMING, State.CONTINGENT])
def test_nonconforming_and_contingent_updates_are_never_rejected(state, box, plan, intent, t0):
    """F3548 (STANDARDS §1.6): no conflict is disallowed when the flight is not nominal."""
    mine = intent(box(), state=State.ACTIVATED, intent_id=NEW)
    high = intent(box(50.0), priority=100, state=State.ACTIVATED)
    zone = Geofence("Z", Restriction.PROHIBITED, (box(50.0).volume,))
    volumes = () if state == State.CONTINGENT else (box(),)
    request = plan(*volumes, state=state, off_nominal=[box(40.0)])
    assert decide(live_with(mine, high, geofences=[zone]), request, t0, previous=mine) == ()


# -- geofences ----------------------------------------------------------------------------------------------


def _zone(restriction, box, t0, *, message="", start_min=0.0, end_min=60.0):
    window = (Applicability(t0 + timedelta(minutes=start_min), t0 + timedelta(minutes=end_min)),)
    return Geofence(
        "ZONE-1", restriction, (box(500.0, size_m=200.0).volume,), window, name="park", message=message
    )


def test_a_volume_in_an_active_prohibited_zone_is_rejected(box, plan, t0):
    """ED-269 PROHIBITED: a volume meeting the zone while it is active is refused, reason geofence."""
    live = live_with(geofences=[_zone(Restriction.PROHIBITED, box, t0, start_min=20)])
    with pytest.raises(PlanRejected) as refused:
        decide(live, plan(box(699.99)), t0, now_min=-1)  # the zone spans x in [500, 700]; 1 cm inside
    assert refused.value.reason == "geofence"
    assert [(c.kind, c.ref) for c in refused.value.conflicts] == [("geofence", "ZONE-1")]
    assert decide(live, plan(box(700.01)), t0, now_min=-1) == ()  # 1 cm outside
    assert decide(live, plan(box(600.0, end_min=19.99)), t0, now_min=-1) == ()  # before the zone's window


def test_req_authorisation_zone_needs_an_authorisation_reference(box, plan, t0):
    """ED-269 REQ_AUTHORISATION: refused without an authorisation reference, accepted and advised with one."""
    live = live_with(geofences=[_zone(Restriction.REQ_AUTHORISATION, box, t0, message="ask the park")])
    with pytest.raises(PlanRejected, match="an authorisation reference is needed for zone ZONE-1") as refused:
        decide(live, plan(box(600.0)), t0, now_min=-1)
    assert refused.value.reason == "geofence"
    advisories = decide(live, plan(box(600.0), authorisation="PERMIT-7"), t0, now_min=-1)
    assert [(a.kind, a.ref) for a in advisories] == [("geofence_authorisation", "ZONE-1")]
    assert "PERMIT-7" in advisories[0].message


def test_conditional_zone_is_accepted_with_its_message_as_advisory(box, plan, t0):
    """ED-269 CONDITIONAL: accepted, with the zone's message as an advisory; NO_RESTRICTION says nothing."""
    live = live_with(geofences=[_zone(Restriction.CONDITIONAL, box, t0, message="stay below 60 m")])
    advisories = decide(live, plan(box(600.0)), t0, now_min=-1)
    assert [(a.kind, a.ref, a.message) for a in advisories] == [
        ("geofence_condition", "ZONE-1", "stay below 60 m")
    ]
    free = live_with(geofences=[_zone(Restriction.NO_RESTRICTION, box, t0)])
    assert decide(free, plan(box(600.0)), t0, now_min=-1) == ()


def test_geofence_reason_comes_first_and_every_conflict_is_listed_in_order(box, plan, intent, t0):
    """Documented order: geofence, then conflict, then capacity; conflicts sorted by kind, ref and time."""
    a, b = intent(box(600.0), priority=100), intent(box(550.0), priority=100)
    live = live_with(a, b, geofences=[_zone(Restriction.PROHIBITED, box, t0)])
    with pytest.raises(PlanRejected) as refused:
        decide(live, plan(box(600.0)), t0, now_min=-1)
    assert refused.value.reason == "geofence"
    kinds = [(c.kind, c.ref) for c in refused.value.conflicts]
    assert kinds == [("geofence", "ZONE-1"), *sorted(("intent", str(i.id)) for i in (a, b))]


# -- capacity -----------------------------------------------------------------------------------------------


def _grid(capacity=2):
    return CellGrid(x_min_m=0.0, y_min_m=0.0, nx=4, ny=4, cell_size_m=500.0, capacity=capacity)


def test_capacity_exactly_at_the_limit_is_accepted_and_one_over_rejected(box, plan, intent, t0):
    """Cell capacity 3: with two intents in cell (0, 0) on d30-60 a third fits; with three a fourth does not.

    Oracle: all boxes lie inside cell (0, 0) and do not meet each other; priorities allow the overlap anyway.
    """
    grid = _grid(capacity=3)
    two = [intent(box(10.0 + 120 * n, 10.0, start_min=5), priority=100) for n in range(2)]
    third = plan(box(250.0, 10.0), priority=0)
    assert decide(live_with(*two, grid=grid), third, t0, now_min=-1) == ()
    three = [*two, intent(box(370.0, 10.0), priority=100)]
    with pytest.raises(PlanRejected) as refused:
        decide(live_with(*three, grid=grid), plan(box(10.0, 250.0, end_min=10)), t0, now_min=-1)
    assert refused.value.reason == "capacity"
    (c,) = refused.value.conflicts
    assert c.ref == "cell 0,0 layer d30-60"
    assert (c.time_start, c.time_end) == (t0 + timedelta(minutes=5), t0 + timedelta(minutes=10))
    assert "cell 0,0 layer d30-60 would hold 4 intents at once (capacity 3)" in refused.value.message


def test_capacity_counts_distinct_intents_not_volumes(box, plan, intent, t0):
    """Cell capacity: an intent with two volumes in a cell at once occupies one place, not two."""
    split = intent(box(10.0, 10.0), box(200.0, 10.0))
    assert decide(live_with(split, grid=_grid(capacity=2)), plan(box(10.0, 300.0)), t0, now_min=-1) == ()
    with pytest.raises(PlanRejected):
        decide(live_with(split, grid=_grid(capacity=1)), plan(box(10.0, 300.0)), t0, now_min=-1)


def test_capacity_counts_the_instant_closed_intervals_share(box, plan, intent, t0):
    """Cell capacity: closed intervals; a plan entering the instant another leaves is there with it."""
    grid = _grid(capacity=1)
    other = intent(box(200.0, 10.0, end_min=20))
    with pytest.raises(PlanRejected) as refused:
        decide(live_with(other, grid=grid), plan(box(10.0, 300.0, start_min=20, end_min=30)), t0, now_min=-1)
    (c,) = refused.value.conflicts
    assert c.time_start == c.time_end == t0 + timedelta(minutes=20)
    later = plan(box(10.0, 300.0, start_min=20.01, end_min=30))
    assert decide(live_with(other, grid=grid), later, t0, now_min=-1) == ()


def test_capacity_zero_closes_a_cell_and_neighbours_are_named(box, plan, t0):
    """Capacity 0 refuses any plan touching the cell; a box on a cell edge touches both cells (closed)."""
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=4, ny=4, capacity=5, capacity_overrides={(1, 0, 0): 0})
    with pytest.raises(PlanRejected) as refused:
        decide(
            live_with(grid=grid), plan(box(400.0, 10.0)), t0, now_min=-1
        )  # x in [400, 500]: touches cell 1
    assert [c.ref for c in refused.value.conflicts] == ["cell 1,0 layer d30-60"]


def test_capacity_agrees_with_brute_force_over_all_intents(box, plan, intent, t0):
    """Oracle: every intent (no index), every plan cell, distinct intents counted at each interval end."""
    rng = np.random.default_rng(3)
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=3, ny=3, cell_size_m=500.0, capacity=2)
    everyone = []
    for _ in range(40):
        x, y = rng.uniform(0, 1_400, 2)
        start = float(rng.integers(0, 60))
        everyone.append(
            intent(box(x, y, size_m=float(rng.uniform(20, 300)), start_min=start, end_min=start + 15))
        )
    live = live_with(*everyone, grid=grid)
    for _ in range(15):
        x, y = rng.uniform(0, 1_400, 2)
        start = float(rng.integers(0, 60))
        mine = box(x, y, size_m=float(rng.uniform(20, 300)), start_min=start, end_min=start + 15)
        expected = set()
        for i, j, k in map(tuple, grid.cells_of_volume(mine.volume).tolist()):
            inside = [
                i_ for i_ in everyone if (i, j, k) in map(tuple, grid.cells_of_volume(i_.volumes[0].volume))
            ]
            spans = [(o.volumes[0].t_start_s, o.volumes[0].t_end_s) for o in inside] + [
                (mine.t_start_s, mine.t_end_s)
            ]
            for t in {s for span in spans for s in span}:
                if mine.t_start_s <= t <= mine.t_end_s and sum(a <= t <= b for a, b in spans) > 2:
                    expected.add(f"cell {i},{j} layer {grid.layers[k].name}")
        try:
            check_plan(live, plan(mine, priority=100), intent_id=NEW, previous=None, now=t0, policy=POLICY)
            found = set()
        except PlanRejected as refused:
            found = {c.ref for c in refused.conflicts if c.kind == "capacity"}
        assert found == expected


def test_check_plan_never_scans_all_intents(box, plan, intent, t0, monkeypatch):
    """ARCHITECTURE hot paths: candidates come from the space-time index; the intent map is never read."""
    live = live_with(*(intent(box(120.0 * n, 10.0), priority=100) for n in range(4)), grid=_grid(capacity=2))
    monkeypatch.setattr(LiveAirspace, "intents", property(lambda self: pytest.fail("scanned all intents")))
    with pytest.raises(PlanRejected) as refused:
        decide(live, plan(box(50.0, 10.0)), t0, now_min=-1)
    assert {c.kind for c in refused.value.conflicts} == {"intent", "capacity"}


def _outcome(live, request, t0, *, every_reason):
    """``None`` when accepted (with the advisories), else the rejection's conflicts as (kind, ref) pairs."""
    try:
        advisories = check_plan(
            live, request, intent_id=NEW, previous=None, now=t0, policy=POLICY, every_reason=every_reason
        )
    except PlanRejected as refused:
        return [(c.kind, c.ref) for c in refused.conflicts]
    return advisories


def test_without_every_reason_capacity_is_skipped_only_once_a_zone_or_intent_refuses(box, plan, intent, t0):
    """The search for alternatives asks whether a candidate is refused, and by which zones and intents."""
    live = live_with(*(intent(box(120.0 * n, 10.0), priority=100) for n in range(4)), grid=_grid(capacity=2))
    both = plan(box(50.0, 10.0))  # meets intents and overfills cell (0, 0)
    assert {k for k, _ in _outcome(live, both, t0, every_reason=True)} == {"intent", "capacity"}
    assert {k for k, _ in _outcome(live, both, t0, every_reason=False)} == {"intent"}
    crowd = plan(box(50.0, 300.0), priority=100)  # meets no intent, still overfills the cell
    assert _outcome(live, crowd, t0, every_reason=False) == _outcome(live, crowd, t0, every_reason=True)
    assert {k for k, _ in _outcome(live, crowd, t0, every_reason=False)} == {"capacity"}


def test_without_every_reason_the_decision_and_its_zone_and_intent_blockers_are_the_same(
    box, plan, intent, t0
):
    """Oracle: the full check, on random plans among intents of random priorities in a small-capacity grid."""
    rng = np.random.default_rng(11)
    everyone = []
    for _ in range(40):
        x, y = rng.uniform(0, 1_400, 2)
        start = float(rng.integers(0, 60))
        volume = box(x, y, size_m=float(rng.uniform(20, 300)), start_min=start, end_min=start + 15)
        everyone.append(intent(volume, priority=int(rng.integers(0, 3))))
    live = live_with(*everyone, grid=_grid(capacity=2))
    kinds = set()
    for _ in range(60):
        x, y = rng.uniform(0, 1_400, 2)
        start = float(rng.integers(0, 60))
        mine = plan(box(x, y, size_m=float(rng.uniform(20, 300)), start_min=start, end_min=start + 15))
        mine = plan(*mine.volumes, priority=int(rng.integers(0, 3)))
        full = _outcome(live, mine, t0, every_reason=True)
        quick = _outcome(live, mine, t0, every_reason=False)
        if isinstance(full, tuple):  # accepted: the very same advisories
            assert quick == full
        else:
            blockers = [c for c in full if c[0] != "capacity"]
            assert quick == (blockers or full)
            kinds.update(k for k, _ in full)
    assert kinds == {"intent", "capacity"}  # both reasons were exercised


@pytest.mark.parametrize("seed", range(6))
def test_full_windows_are_exactly_the_shifts_capacity_refuses(box, intent, t0, seed):
    """Oracle: capacity_conflicts of the shifted plan at every shift on a 7 s grid (and the windows' own
    edges): refused exactly when some volume's shifted window meets one of its full windows (closed)."""
    rng = np.random.default_rng(seed)
    others = [
        intent(
            box(float(x), float(y), size_m=200.0, start_min=float(a), end_min=float(a + d)),
            priority=int(rng.integers(0, 3)),
        )
        for x, y, a, d in zip(
            rng.integers(0, 4, 12) * 250,
            rng.integers(0, 3, 12) * 250,
            rng.integers(0, 90, 12),
            rng.integers(3, 30, 12),
            strict=True,
        )
    ]
    live = live_with(*others, grid=_grid(capacity=2))
    plan = (box(100.0, 100.0, end_min=10), box(600.0, 100.0, start_min=10, end_min=20))
    horizon_s = 2 * 3600.0
    windows = full_windows(live, plan, horizon_s)
    assert len(windows) == len(plan) and any(windows)

    def forbidden(shift_s: float) -> bool:
        return any(
            a - v.t_end_s <= shift_s <= b - v.t_start_s
            for v, ws in zip(plan, windows, strict=True)
            for a, b in ws
        )

    edges = {b - v.t_start_s for v, ws in zip(plan, windows, strict=True) for _, b in ws}
    for shift_s in sorted({*np.arange(0.0, horizon_s, 7.0).tolist(), *edges, *(e + 1e-3 for e in edges)}):
        moved = [
            Volume4D(
                v.volume, v.time_start + timedelta(seconds=shift_s), v.time_end + timedelta(seconds=shift_s)
            )
            for v in plan
        ]
        assert bool(capacity_conflicts(live, moved)) == forbidden(shift_s), shift_s
