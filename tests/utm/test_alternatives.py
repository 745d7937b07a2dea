"""Alternatives to a refused plan: each re-verified and truly conflict-free (brute force over all intents)."""

from __future__ import annotations

import math
from datetime import time, timedelta
from uuid import uuid4

import pytest

from airspace.cells import CellGrid
from airspace.geofences import Applicability, Geofence, Restriction, WeeklySchedule
from airspace.routes import RouteGraph
from utm import alternatives
from utm.alternatives import find_alternatives
from utm.deconfliction import Policy, check_plan, validate_request
from utm.errors import PlanRejected
from utm.intents import State
from utm.live import LiveAirspace

POLICY = Policy()
NEW = uuid4()


def _grid() -> CellGrid:
    return CellGrid(x_min_m=0.0, y_min_m=0.0, nx=8, ny=8, cell_size_m=500.0)


def _alternatives(live, request, t0, routes=None):
    """The alternatives the service would offer: the plan is refused first, and its refusal passed on."""
    now = t0 - timedelta(minutes=1)
    with pytest.raises(PlanRejected) as refused:
        check_plan(live, request, intent_id=NEW, previous=None, now=now, policy=POLICY)
    return find_alternatives(
        live, request, intent_id=NEW, previous=None, now=now, policy=POLICY, routes=routes,
        refused=refused.value,
    )  # fmt: skip


def _counting(monkeypatch, name: str) -> list:
    """Count the calls of ``utm.alternatives.<name>`` (the real function still runs)."""
    calls: list = []
    real = getattr(alternatives, name)
    monkeypatch.setattr(alternatives, name, lambda *a, **k: calls.append(a) or real(*a, **k))
    return calls


def _accepted(live, request, volumes, t0):
    """The alternative passes the same checks as a fresh plan, and meets no live intent (brute force)."""
    candidate = type(request)(request.state, request.priority, volumes)
    now = t0 - timedelta(minutes=1)
    validate_request(candidate, now=now, policy=POLICY)
    check_plan(live, candidate, intent_id=NEW, previous=None, now=now, policy=POLICY)
    return not any(a.intersects(b) for i in live.intents.values() for a in volumes for b in i.all_volumes)


def _shift_s(alternative, request) -> float:
    return (alternative.volumes[0].time_start - request.volumes[0].time_start).total_seconds()


def _live(*intents, **kwargs) -> LiveAirspace:
    live = LiveAirspace(**kwargs)
    for i in intents:
        live.put(i)
    return live


def test_all_three_alternatives_are_verified_conflict_free_and_deterministic(box, plan, intent, t0):
    """A corridor through a higher-priority block gets a later start, a higher layer and a detour, in order.

    Oracle: the blocker is the only intent; each alternative is checked again and against it by brute force.
    """
    blocker = intent(box(1_500.0, 1_500.0, size_m=1_000.0, end_min=60), priority=100)
    legs = [(250.0, 1_200.0, 0, 10), (1_450.0, 1_100.0, 10, 20), (2_550.0, 1_200.0, 20, 30)]  # x; width
    request = plan(*(box(x, 2_000.0, size_m=w, depth_m=100.0, start_min=a, end_min=b) for x, w, a, b in legs))
    grid = _grid()
    live = _live(blocker, grid=grid)
    found = _alternatives(live, request, t0, routes=RouteGraph(grid))
    assert [a.kind for a in found] == ["time_shift", "altitude_layer", "reroute"]
    for alternative in found:
        assert _accepted(live, request, alternative.volumes, t0), alternative.kind
    assert _shift_s(found[0], request) == 50 * 60 + 5  # the middle leg starts 5 s after the blocker ends
    assert {(v.volume.z_lower_m, v.volume.z_upper_m) for v in found[1].volumes} == {(60.5, 89.5)}
    assert "d60-90" in found[1].description
    assert found == _alternatives(live, request, t0, routes=RouteGraph(grid))


def test_time_shift_is_the_earliest_up_to_the_tolerance(box, plan, intent, t0):
    """The earliest later start: blocked at every earlier shift (30 s steps), free at the found one."""
    live = _live(intent(box(50.0, end_min=30), priority=100))
    request = plan(box())
    (shift,) = _alternatives(live, request, t0)
    assert shift.kind == "time_shift"
    found_s = _shift_s(shift, request)
    assert found_s == 30 * 60 + 5
    for s in range(0, int(found_s) - 4, 30):
        moved = tuple(
            type(v)(v.volume, v.time_start + timedelta(seconds=s), v.time_end + timedelta(seconds=s))
            for v in request.volumes
        )
        with pytest.raises(PlanRejected):
            check_plan(
                live,
                plan(*moved),
                intent_id=NEW,
                previous=None,
                now=t0 - timedelta(minutes=1),
                policy=POLICY,
            )


def test_time_shift_clears_a_geofence_window_and_a_weekly_schedule(box, plan, t0):
    """Candidate shifts include applicability ends and weekly schedule ends (t0 is a Monday 12:00 UTC)."""
    windowed = Geofence(
        "W", Restriction.PROHIBITED, (box(50.0).volume,), (Applicability(t0, t0 + timedelta(minutes=45)),)
    )
    (shift,) = _alternatives(_live(geofences=[windowed]), plan(box()), t0)
    assert _shift_s(shift, plan(box())) == 45 * 60 + 5
    monday = WeeklySchedule(frozenset({0}), time(11, 0), time(12, 40))
    scheduled = Geofence(
        "S", Restriction.PROHIBITED, (box(50.0).volume,), (Applicability(schedules=(monday,)),)
    )
    (shift,) = _alternatives(_live(geofences=[scheduled]), plan(box()), t0)
    assert _shift_s(shift, plan(box())) == 40 * 60 + 5


def test_no_time_shift_beyond_the_horizon_and_none_for_off_nominal_plans(box, plan, intent, t0):
    """The shift stays within policy.alternatives_horizon (2 h); with no grid and no routes, nothing else."""
    live = _live(intent(box(50.0, end_min=180), priority=100))
    assert _alternatives(live, plan(box()), t0) == ()
    off = plan(box(), state=State.NONCONFORMING, off_nominal=[box()])
    assert (
        find_alternatives(live, off, intent_id=NEW, previous=None, now=t0, policy=POLICY, routes=None) == ()
    )


def test_altitude_layer_nearest_first(box, plan, intent, t0):
    """Layers by distance from the plan's height: a plan at 95-115 m blocked there goes to d60-90 first."""
    live = _live(intent(box(50.0, z_m=(90.0, 120.0), end_min=180), priority=100), grid=_grid())
    (layer,) = _alternatives(live, plan(box(z_m=(95.0, 115.0))), t0)
    assert layer.kind == "altitude_layer"
    assert "d60-90" in layer.description
    assert _accepted(live, plan(box()), layer.volumes, t0)


def test_max_alternatives_bounds_the_answer_in_order(box, plan, intent, t0):
    """policy.max_alternatives: one -> the time shift only, two -> and the layer, zero -> none."""
    blocker = intent(box(1_500.0, 1_500.0, size_m=1_000.0, end_min=60), priority=100)
    request = plan(box(1_450.0, 2_000.0, size_m=1_100.0, depth_m=100.0))
    grid = _grid()
    live = _live(blocker, grid=grid)
    for wanted, kinds in ((1, ["time_shift"]), (2, ["time_shift", "altitude_layer"]), (0, [])):
        found = find_alternatives(
            live,
            request,
            intent_id=NEW,
            previous=None,
            now=t0 - timedelta(minutes=1),
            policy=Policy(max_alternatives=wanted),
            routes=RouteGraph(grid),
        )
        assert [a.kind for a in found] == kinds


def test_time_shift_clears_full_cells_and_skips_gaps_too_short(box, plan, intent, t0):
    """Capacity 1: cell (0, 0) is full over [0, 30] and [31, 50] min (no volume meets the plan's own box),
    so a 30 min plan there starts 5 s after 50 min; a permanent prohibited zone leaves no shift at all."""
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=8, ny=8, cell_size_m=500.0, capacity=1)
    live = _live(
        intent(box(300.0, 300.0, end_min=30)), intent(box(300.0, 300.0, start_min=31, end_min=50)), grid=grid
    )
    request = plan(box())
    (shift, *_) = _alternatives(live, request, t0)
    assert shift.kind == "time_shift" and _shift_s(shift, request) == 50 * 60 + 5
    assert _accepted(live, request, shift.volumes, t0)
    zone = Geofence("P", Restriction.PROHIBITED, (box(50.0).volume,))
    found = _alternatives(_live(geofences=[zone], grid=grid), request, t0)
    assert "time_shift" not in [a.kind for a in found]


def test_reroute_avoids_the_refusals_blockers_from_its_first_try(box, plan, intent, t0, monkeypatch):
    """Given the plan's own refusal, the first corridor tried already goes around the blocker: one full check
    fewer than without it (where the straight corridor is tried and refused first); both detours are free."""
    blocker = intent(box(1_500.0, 1_500.0, size_m=1_000.0, end_min=60), priority=100)
    legs = [(250.0, 1_200.0, 0, 10), (1_450.0, 1_100.0, 10, 20), (2_550.0, 1_200.0, 20, 30)]
    request = plan(*(box(x, 2_000.0, size_m=w, depth_m=100.0, start_min=a, end_min=b) for x, w, a, b in legs))
    grid = _grid()
    live = _live(blocker, grid=grid)
    checks = _counting(monkeypatch, "check_plan")
    seeded = _alternatives(live, request, t0, routes=RouteGraph(grid))
    n_seeded = len(checks)
    blind = find_alternatives(
        live, request, intent_id=NEW, previous=None, now=t0 - timedelta(minutes=1), policy=POLICY,
        routes=RouteGraph(grid),
    )  # fmt: skip
    assert [a.kind for a in seeded] == [a.kind for a in blind] == ["time_shift", "altitude_layer", "reroute"]
    assert len(checks) - n_seeded == n_seeded + 1
    assert _accepted(live, request, seeded[2].volumes, t0) and _accepted(live, request, blind[2].volumes, t0)


def test_no_time_shift_out_of_a_permanent_zone_reads_the_airspace_once(box, plan, t0, monkeypatch):
    """A permanent prohibited zone forbids every shift: the search stops after its first window."""
    zone = Geofence("P", Restriction.PROHIBITED, (box(50.0).volume,))
    reads = _counting(monkeypatch, "_skips")
    assert _alternatives(_live(geofences=[zone]), plan(box()), t0) == ()
    assert len(reads) == 1


@pytest.mark.parametrize(
    ("intervals", "covered"),
    [
        ([(-math.inf, math.inf)], True),
        ([(-1.0, 50.0), (49.0, 101.0)], True),  # overlapping intervals chain
        ([(-1.0, 50.0), (50.0, 101.0)], False),  # touching: shrunk by 1 ms each, the instant 50 s is open
        ([(10.0, 101.0)], False),  # (0, 10] is open
        ([(-5.0, 100.0)], False),  # shrunk, it ends at 99.999 s
        ([], False),
    ],
)
def test_covered_matches_what_outside_drops(intervals, covered):
    """``_covered(intervals, 0, 100)`` holds exactly when ``_outside`` drops every shift of (0, 100] (oracle:
    a fine grid of shifts, with the interval ends and their 1 ms neighbours)."""
    ends = [e for lo, hi in intervals for e in (lo, hi) if math.isfinite(e)]
    near_ends = [e + d for e in ends for d in (-1e-3, 0, 1e-3)]
    grid = sorted({k / 4 for k in range(1, 401)} | set(near_ends))
    shifts = [s for s in grid if 0.0 < s <= 100.0]
    assert alternatives._covered(intervals, 0.0, 100.0) is covered
    assert (alternatives._outside(shifts, intervals) == []) is covered


def test_layer_inside_a_prohibited_zone_is_skipped_without_a_full_check(box, plan, intent, t0, monkeypatch):
    """The nearest other layer lies in a prohibited zone: skipped on the zone alone, the next one is taken."""
    blocked_band = Geofence("P", Restriction.PROHIBITED, (box(50.0, z_m=(60.0, 90.0)).volume,))
    blocker = intent(box(50.0, z_m=(90.0, 120.0), end_min=180), priority=100)
    live = _live(blocker, geofences=[blocked_band], grid=_grid())
    checks = _counting(monkeypatch, "check_plan")
    (layer,) = _alternatives(live, plan(box(z_m=(95.0, 115.0))), t0)
    assert layer.kind == "altitude_layer" and "d60-90" not in layer.description
    assert len(checks) == 1
    assert _accepted(live, plan(box()), layer.volumes, t0)
