"""LiveAirspace: put, replace, remove, geofences; indexed searches against brute force over all intents."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from uuid import UUID

import numpy as np
import pytest

from airspace.cells import CellGrid
from airspace.geofences import Applicability, Geofence, Restriction
from airspace.volumes import Volume3D, Volume4D
from utm.errors import NotFound
from utm.intents import State
from utm.live import LiveAirspace


def test_put_get_replace_and_remove(box, intent):
    live = LiveAirspace()
    first = intent(box())
    live.put(first)
    assert live.get(first.id) is first
    assert live.overlapping([box(50.0)]) == [first]
    moved = intent(box(1_000.0), intent_id=first.id)
    live.put(moved)  # replaces and re-indexes: the old volumes are gone from the index
    assert live.overlapping([box(50.0)]) == []
    assert live.overlapping([box(1_050.0)]) == [moved]
    live.remove(first.id)
    assert live.overlapping([box(1_050.0)]) == []
    with pytest.raises(NotFound, match=str(first.id)):
        live.get(first.id)
    with pytest.raises(NotFound):
        live.remove(first.id)


def test_intents_is_a_read_only_view(box, intent):
    live = LiveAirspace()
    one = intent(box())
    live.put(one)
    assert dict(live.intents) == {one.id: one}
    with pytest.raises(TypeError):
        live.intents[one.id] = one  # type: ignore[index]


def test_off_nominal_volumes_are_indexed_and_exclude_skips_an_id(box, intent):
    live = LiveAirspace()
    off = intent(state=State.CONTINGENT, off_nominal=[box(500.0)])
    live.put(off)
    assert live.overlapping([box(550.0)]) == [off]
    assert live.overlapping([box(550.0)], exclude=off.id) == []


def test_overlapping_and_near_agree_with_brute_force_over_all_intents(box, intent, t0):
    """Oracle: Volume4D.intersects over every pair; the index answer must be identical and sorted by id."""
    rng = np.random.default_rng(7)
    live = LiveAirspace()
    everyone = []
    for n in range(300):
        x, y = rng.uniform(0, 3_000, 2)
        start = float(rng.uniform(0, 120))
        volumes = [box(x, y, size_m=float(rng.uniform(20, 200)), start_min=start, end_min=start + 20)]
        if n % 3 == 0:  # some circles, some two-volume intents
            circle = Volume3D.circle(x + 300.0, y, float(rng.uniform(5, 80)), z_lower_m=40.0, z_upper_m=90.0)
            volumes.append(Volume4D(circle, volumes[0].time_start, volumes[0].time_end))
        everyone.append(intent(*volumes, intent_id=UUID(int=n + 1)))
        live.put(everyone[-1])
    for q in range(40):
        x, y = rng.uniform(0, 3_000, 2)
        start = float(rng.uniform(0, 120))
        query = [box(x, y, size_m=float(rng.uniform(50, 400)), start_min=start, end_min=start + 10)]
        exclude = UUID(int=q + 1)
        brute = [
            i
            for i in everyone
            if i.id != exclude and any(a.intersects(b) for a in query for b in i.all_volumes)
        ]
        assert live.overlapping(query, exclude=exclude) == brute
        near = live.volumes_near(query[0].box, exclude=exclude)
        assert {i.id for i in brute} <= {i.id for i, _ in near}
        assert all(i.id != exclude and boxes_meet(query[0].box, v.box) for i, v in near)
        pairs = [(i, v) for i in everyone if i.id != exclude for v in i.all_volumes]  # in indexing order
        legs = [
            query[0],
            replace(query[0], volume=box(x + 150.0, y, size_m=100.0).volume),
            everyone[q].volumes[0],
        ]
        assert live.meeting_each(legs, exclude=exclude) == [
            [(i.id, v) for i, v in pairs if leg.intersects(v)] for leg in legs
        ]
        assert live.volumes_near_each([leg.box for leg in legs], exclude=exclude) == [
            [(i, v) for i, v in pairs if boxes_meet(leg.box, v.box)] for leg in legs
        ]


def boxes_meet(a: tuple, b: tuple) -> bool:
    """Closed 4D boxes ``(x, y, z, t minima, then maxima)`` overlap or touch."""
    return all(a[i] <= b[i + 4] and b[i] <= a[i + 4] for i in range(4))


def _fence(ident, restriction, box, t0, start_min, end_min):
    window = (Applicability(t0 + timedelta(minutes=start_min), t0 + timedelta(minutes=end_min)),)
    return Geofence(ident, restriction, (box(500.0, size_m=200.0).volume,), window)


def test_geofences_put_replace_remove_and_meet_only_while_active(box, t0):
    live = LiveAirspace(geofences=[_fence("B", Restriction.PROHIBITED, box, t0, 0, 60)])
    live.put_geofence(_fence("A", Restriction.CONDITIONAL, box, t0, 40, 60))
    assert [g.identifier for g in live.geofences] == ["A", "B"]
    assert [g.identifier for g in live.geofences_meeting(box(600.0))] == ["B"]  # A starts at 40 min
    assert [g.identifier for g in live.geofences_meeting(box(600.0, start_min=30, end_min=40))] == ["A", "B"]
    legs = [box(600.0), box(600.0, start_min=30, end_min=40), box(600.0, start_min=200, end_min=210)]
    assert live.geofences_meeting_each(legs) == [live.geofences_meeting(v) for v in legs]
    later = _fence("B", Restriction.PROHIBITED, box, t0, 90, 120)
    live.put_geofence(later)  # replaced: new window
    assert live.geofences_meeting(box(600.0)) == []
    assert live.geofence("B") is later
    live.remove_geofence("B")
    assert [g.identifier for g in live.geofences] == ["A"] and live.geofence("B") is None
    with pytest.raises(NotFound, match="'B'"):
        live.remove_geofence("B")


def test_a_permanent_geofence_meets_at_any_time(box, t0):
    live = LiveAirspace(geofences=[Geofence("P", Restriction.PROHIBITED, (box(500.0).volume,))])
    assert [g.identifier for g in live.geofences_meeting(box(550.0, start_min=10_000, end_min=10_001))] == [
        "P"
    ]
    assert [g.identifier for g in live.fences_near(box(550.0).box)] == ["P"]
    assert live.fences_near_each([box(550.0).box, box(550.0).box]) == [live.fences_near(box(550.0).box)] * 2


def test_cells_of_volume_is_remembered_by_identity_and_equals_the_grid(box):
    """The memo may only save work: same answer as the grid, and never confused by an equal-looking volume."""
    grid = CellGrid(x_min_m=-1000.0, y_min_m=-1000.0, nx=4, ny=4)
    live = LiveAirspace(grid=grid)
    volume = box(x_m=-120.0, y_m=-80.0, size_m=300.0).volume
    first = live.cells_of_volume(volume)
    assert live.cells_of_volume(volume) is first
    np.testing.assert_array_equal(first, grid.cells_of_volume(volume))
    twin = box(x_m=-120.0, y_m=-80.0, size_m=300.0).volume
    assert live.cells_of_volume(twin) is not first
    for n in range(100):  # the memo stays bounded
        live.cells_of_volume(box(x_m=float(n)).volume)
    assert len(live._recent) <= 64


def _random_intents(rng, box, intent, n):
    """Intents of 1-3 boxes or circles, some with off-nominal volumes and any state, over 0-2 hours."""
    out = []
    for m in range(n):
        volumes = []
        for _ in range(int(rng.integers(1, 4))):
            x, y = (float(v) for v in rng.uniform(-200, 2_200, 2))
            start = float(rng.integers(0, 120))
            v = box(
                x,
                y,
                size_m=float(rng.uniform(20, 400)),
                start_min=start,
                end_min=start + float(rng.integers(1, 30)),
            )
            if rng.random() < 0.3:
                circle = Volume3D.circle(
                    x,
                    y,
                    float(rng.uniform(5, 300)),
                    z_lower_m=40.0,
                    z_upper_m=float(rng.choice([50.0, 200.0])),
                )
                v = Volume4D(circle, v.time_start, v.time_end)
            volumes.append(v)
        state = State.CONTINGENT if m % 7 == 0 else State.ACTIVATED if m % 3 == 0 else State.ACCEPTED
        nominal = () if state == State.CONTINGENT else tuple(volumes)
        off = tuple(volumes[:1]) if state == State.CONTINGENT or m % 5 == 0 else ()
        out.append(intent(*nominal, state=state, off_nominal=off, intent_id=UUID(int=m + 1)))
    return out


def _brute_occupants(grid, intents, cell, start_s, end_s):
    """Oracle: every nominal volume of every intent, its cells from the grid, closed overlap with a window."""
    return sorted(
        (v.t_start_s, v.t_end_s, i.id)
        for i in intents
        for v in i.volumes
        if cell in map(tuple, grid.cells_of_volume(v.volume).tolist())
        and v.t_start_s <= end_s
        and start_s <= v.t_end_s
    )


def test_cell_occupancy_follows_puts_replacements_and_removals_like_brute_force(box, intent, t0):
    """The occupancy kept incrementally answers, for any cell and window, what a scan of all intents does."""
    rng = np.random.default_rng(11)
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=4, ny=4)
    live = LiveAirspace(grid=grid)
    everyone = {i.id: i for i in _random_intents(rng, box, intent, 60)}
    for i in everyone.values():
        live.put(i)
    for m, replacement in enumerate(_random_intents(rng, box, intent, 20)):  # same ids: replaced in place
        live.put(replacement)
        everyone[replacement.id] = replacement
        if m % 2:
            live.remove(replacement.id)
            del everyone[replacement.id]
    base_s = t0.timestamp()
    for _ in range(200):
        cell = (int(rng.integers(4)), int(rng.integers(4)), int(rng.integers(3)))
        start_s = base_s + float(rng.integers(-10, 150)) * 60.0
        end_s = start_s + float(rng.integers(0, 40)) * 60.0
        expected = _brute_occupants(grid, everyone.values(), cell, start_s, end_s)
        assert live.occupants(cell, start_s, end_s) == expected


def test_a_bulk_built_picture_answers_like_one_built_by_puts(box, intent, t0):
    """LiveAirspace(intents=...) (the restart path: bulk-loaded index and occupancy) equals put one by one,
    and stays equal through later puts and removals."""
    rng = np.random.default_rng(12)
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=4, ny=4)
    intents = _random_intents(rng, box, intent, 80)
    bulk = LiveAirspace(grid=grid, intents=intents)
    one_by_one = LiveAirspace(grid=grid)
    for i in intents:
        one_by_one.put(i)
    later = _random_intents(np.random.default_rng(13), box, intent, 10)
    for live in (bulk, one_by_one):
        for i in later[:5]:
            live.put(i)  # ids 1..5: replacements of bulk-loaded intents
        for i in intents[40:50]:
            live.remove(i.id)
    assert dict(bulk.intents) == dict(one_by_one.intents)
    base_s = t0.timestamp()
    for _ in range(100):
        x, y = (float(v) for v in rng.uniform(0, 2_000, 2))
        start = float(rng.integers(0, 120))
        query = box(x, y, size_m=float(rng.uniform(50, 800)), start_min=start, end_min=start + 20)
        assert bulk.overlapping([query]) == one_by_one.overlapping([query])
        assert sorted((i.id, v.box) for i, v in bulk.volumes_near(query.box)) == sorted(
            (i.id, v.box) for i, v in one_by_one.volumes_near(query.box)
        )
        cell = (int(rng.integers(4)), int(rng.integers(4)), int(rng.integers(3)))
        window = (base_s + start * 60.0, base_s + (start + 20) * 60.0)
        assert bulk.occupants(cell, *window) == one_by_one.occupants(cell, *window)


def test_kept_cells_of_each_intent_equal_the_grid_through_puts_replacements_and_removals(box, intent):
    """Oracle: ``grid.cells_of_volume`` of each nominal volume, computed afresh; bulk-built and put-built
    pictures keep them through replacements, state changes (same volumes) and removals; ended ones go."""
    rng = np.random.default_rng(14)
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=4, ny=4)
    intents = _random_intents(rng, box, intent, 40)
    bulk, one_by_one = LiveAirspace(grid=grid, intents=intents[:20]), LiveAirspace(grid=grid)
    for i in intents[:20]:
        one_by_one.put(i)
    for live in (bulk, one_by_one):
        for i in intents[20:]:
            live.put(i)  # ids 1..20 again: replacements with other volumes
        for i in intents[30:35]:
            live.put(replace(i, version=2, state=State.ACTIVATED))  # same volumes: only the record changes
        for i in intents[35:]:
            live.remove(i.id)
        for i in live.intents.values():
            expected = [grid.cells_of_volume(v.volume).tolist() for v in i.volumes]
            assert [c.tolist() for c in live.cells_of_intent(i.id)] == expected
        assert all(live.cells_of_intent(i.id) == () for i in intents[35:])
    assert LiveAirspace().cells_of_intent(intents[0].id) == ()


def test_occupants_without_a_grid_or_in_an_empty_cell_are_empty(box, intent, t0):
    live = LiveAirspace()
    live.put(intent(box()))
    assert live.occupants((0, 0, 0), -math.inf, math.inf) == []
    assert live.cells_of_each([box().volume]) == []
    gridded = LiveAirspace(grid=CellGrid(x_min_m=0.0, y_min_m=0.0, nx=4, ny=4))
    assert gridded.occupants((3, 3, 0), -math.inf, math.inf) == []


def test_a_state_change_keeps_the_index_and_new_volumes_replace_it(box, intent):
    """A new version carrying the same volume objects (activation, conformance) is found as before and is
    the record returned; a version with other volumes, even equal ones in new objects, is re-indexed."""
    live = LiveAirspace()
    first = intent(box())
    live.put(first)
    active = replace(first, version=2, state=State.ACTIVATED)
    live.put(active)
    assert live.overlapping([box(50.0)]) == [active]
    assert live.get(first.id) is active
    moved = replace(active, version=3, volumes=(box(1_000.0),))
    live.put(moved)
    assert live.overlapping([box(50.0)]) == []
    assert live.overlapping([box(1_050.0)]) == [moved]


def test_cells_of_a_remembered_outline_at_new_heights_equal_the_grid(box):
    """An altitude alternative keeps the outline object: its cells come restacked, the grid's all the same."""
    grid = CellGrid(x_min_m=-1000.0, y_min_m=-1000.0, nx=4, ny=4)
    live = LiveAirspace(grid=grid)
    volume = box(x_m=-120.0, y_m=-80.0, size_m=300.0).volume
    live.cells_of_volume(volume)
    for lo_m, hi_m in [(60.5, 89.5), (0.0, 500.0), (2000.0, 2100.0), (90.0, 90.0)]:
        moved = Volume3D(volume.outline, lo_m, hi_m)
        got = live.cells_of_volume(moved)
        np.testing.assert_array_equal(got, grid.cells_of_volume(moved))
        assert live.cells_of_volume(moved) is got
    high = Volume3D(volume.outline, 2000.0, 2100.0)  # touches no cell: its outline alone teaches nothing
    fresh = LiveAirspace(grid=grid)
    assert fresh.cells_of_volume(high).shape == (0, 3)
    np.testing.assert_array_equal(fresh.cells_of_volume(volume), grid.cells_of_volume(volume))
    for n in range(100):  # the outline memo stays bounded too
        live.cells_of_volume(box(x_m=float(n)).volume)
    assert len(live._outlines) <= 64


def test_a_tuple_asked_about_again_is_answered_from_memory_until_the_picture_changes(box, intent):
    """Oracle: the same questions asked of a fresh picture holding the same intents and zones."""
    one, two = intent(box()), intent(box(50.0))
    live = LiveAirspace(intents=[one])
    plan = (box(20.0), box(2_000.0))

    def fresh() -> tuple[list, list]:
        again = LiveAirspace(intents=live.intents.values(), geofences=live.geofences)
        return again.meeting_each(plan), again.geofences_meeting_each(plan)

    met = live.meeting_each(plan)
    assert live.meeting_each(plan) is met and met == fresh()[0]
    assert live.meeting_each(plan, exclude=one.id) == [[], []]  # another exclude: asked anew
    assert live.meeting_each(list(plan)) is not live.meeting_each(list(plan))  # lists are never remembered
    live.put(two)
    assert live.meeting_each(plan) == fresh()[0] == [[(one.id, one.volumes[0]), (two.id, two.volumes[0])], []]
    live.remove(one.id)
    assert live.meeting_each(plan) == fresh()[0]
    zones = live.geofences_meeting_each(plan)
    assert live.geofences_meeting_each(plan) is zones == [[], []]
    live.put_geofence(Geofence("Z", Restriction.PROHIBITED, (box().volume,)))
    assert live.geofences_meeting_each(plan) == fresh()[1] == [[live.geofence("Z")], []]
    live.remove_geofence("Z")
    assert live.geofences_meeting_each(plan) == fresh()[1] == [[], []]
