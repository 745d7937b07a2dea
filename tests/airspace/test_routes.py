"""Route graph: corridors avoid active prohibited zones (exact shapely oracle), lengths, times, errors."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, time, timedelta

import numpy as np
import pytest
import shapely
from shapely.affinity import rotate
from shapely.geometry import Point, Polygon

from airspace.cells import CellGrid
from airspace.errors import AirspaceInputError, InvalidRegion, NoRoute
from airspace.geofences import Applicability, Geofence, Restriction, WeeklySchedule
from airspace.routes import _INSCRIBED, RouteGraph, corridor
from airspace.volumes import Circle, Volume3D, Volume4D

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPEED_MPS = 12.5
TIME_BUFFER_S = 30.0
US = timedelta(microseconds=1)


def zone(ident: str, volume: Volume3D, restriction=Restriction.PROHIBITED, applicability=()) -> Geofence:
    return Geofence(identifier=ident, restriction=restriction, volumes=(volume,), applicability=applicability)


def window(start_s: float, end_s: float) -> tuple[Applicability, ...]:
    return (Applicability(T0 + timedelta(seconds=start_s), T0 + timedelta(seconds=end_s), schedules=()),)


def box(x0: float, y0: float, x1: float, y1: float, *, z_lower_m=0.0, z_upper_m=500.0) -> Volume3D:
    return Volume3D.polygon(
        [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], z_lower_m=z_lower_m, z_upper_m=z_upper_m
    )


def enters(volume: Volume4D, geofence: Geofence) -> bool:
    """Oracle, independent of Geofence.intersects: closed time, height and shapely outline overlap."""
    corridor = volume.volume
    assert isinstance(corridor.outline, Polygon)
    active = not geofence.applicability or any(
        volume.time_start <= a.end and a.start <= volume.time_end for a in geofence.applicability
    )
    for v in geofence.volumes:
        if not active or v.z_lower_m > corridor.z_upper_m or corridor.z_lower_m > v.z_upper_m:
            continue
        o = v.outline
        if isinstance(o, Circle):
            if shapely.distance(Point(o.center_x_m, o.center_y_m), corridor.outline) <= o.radius_m:
                return True
        elif o.intersects(corridor.outline):
            return True
    return False


def route_length_m(corridor: list[Volume4D], t0: datetime) -> float:
    """Length implied by the arrival time: the last volume ends at arrival + time buffer.

    Datetimes hold microseconds, so this is good to about 1e-5 m at our speed; comparisons allow 1e-4 m.
    """
    return ((corridor[-1].time_end - t0).total_seconds() - TIME_BUFFER_S) * SPEED_MPS


def plan(graph: RouteGraph, origin, destination, *, t0=T0, layer="d60-90", **kwargs) -> list[Volume4D]:
    return graph.plan(
        origin, destination, t0=t0, speed_mps=SPEED_MPS, layer=layer, time_buffer_s=TIME_BUFFER_S, **kwargs
    )


def random_zone(rng: np.random.Generator, n: int, extent_m: float) -> Geofence:
    lo, hi = [(0.0, 60.0), (0.0, 500.0), (60.0, 90.0), (95.0, 200.0), (-math.inf, math.inf)][n % 5]
    cx, cy = rng.uniform(0.0, extent_m, 2)
    if n % 2:
        volume = Volume3D.circle(cx, cy, rng.uniform(50.0, 700.0), z_lower_m=lo, z_upper_m=hi)
    else:
        w, h = rng.uniform(50.0, 1500.0, 2)
        rect = rotate(shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), rng.uniform(0.0, 90.0))
        volume = Volume3D.polygon(np.asarray(rect.exterior.coords)[:-1], z_lower_m=lo, z_upper_m=hi)
    start_s = rng.uniform(-600.0, 1500.0)
    applicability = window(start_s, start_s + rng.uniform(60.0, 900.0)) if n % 3 == 0 else ()
    return zone(f"Z{n}", volume, applicability=applicability)


def test_routes_never_enter_an_active_prohibited_zone_on_random_obstacle_fields():
    """Oracle: every corridor volume against every zone in shapely (closed time, heights and outlines).

    NoRoute is acceptable only for the ends (a blocked end cell, no connection, or an end leg near a zone);
    the planner's own "corridor" safety net must never fire.
    """
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=14, ny=14)
    extent_m = 7000.0
    rng = np.random.default_rng(2026)
    planned = refused = 0
    for _ in range(30):
        zones = [random_zone(rng, n, extent_m) for n in range(int(rng.integers(4, 14)))]
        graph = RouteGraph(grid, zones)
        for _ in range(4):
            origin, destination = rng.uniform(0.0, extent_m, (2, 2))
            try:
                corridor = plan(
                    graph, tuple(origin), tuple(destination), lateral_buffer_m=rng.uniform(1.0, 250.0)
                )
            except NoRoute as err:
                assert err.field in ("origin", "destination"), err
                refused += 1
                continue
            planned += 1
            assert not [(v, g.identifier) for v in corridor for g in zones if enters(v, g)]
            assert corridor[0].volume.outline.contains(Point(origin))
            assert corridor[-1].volume.outline.contains(Point(destination))
            for a, b in itertools.pairwise(corridor):
                assert a.volume.outline.intersects(b.volume.outline) and a.overlaps_time(b)
            assert route_length_m(corridor, T0) >= math.dist(origin, destination) - 1e-4
    assert planned >= 60 and refused >= 10


def octile_bound_m(grid: CellGrid, origin, destination) -> float:
    """End legs to the cell centres plus the 8-neighbour (octile) distance between the two cells."""
    (i0, j0, _), (i1, j1, _) = grid.cell_of(*np.transpose([origin, destination]), 60.0).tolist()
    c0, c1 = np.transpose(grid.cell_center([i0, i1], [j0, j1]))
    di, dj = abs(i1 - i0), abs(j1 - j0)
    octile_m = grid.cell_size_m * (max(di, dj) - min(di, dj) + math.sqrt(2.0) * min(di, dj))
    return math.dist(origin, c0) + octile_m + math.dist(c1, destination)


def test_unobstructed_route_between_straight_line_and_octile_bound():
    grid = CellGrid(x_min_m=-2000.0, y_min_m=1000.0, nx=12, ny=9, cell_size_m=400.0)
    permit = zone(
        "A1",
        Volume3D.circle(400.0, 2800.0, 900.0, z_lower_m=0.0, z_upper_m=500.0),
        Restriction.REQ_AUTHORISATION,
    )
    graph = RouteGraph(grid, [permit])  # a zone needing authorisation does not block
    rng = np.random.default_rng(5)
    for _ in range(40):
        origin = tuple(rng.uniform([-2000.0, 1000.0], [2800.0, 4600.0]))
        destination = tuple(rng.uniform([-2000.0, 1000.0], [2800.0, 4600.0]))
        length_m = route_length_m(plan(graph, origin, destination), T0)
        assert (
            math.dist(origin, destination) - 1e-4
            <= length_m
            <= octile_bound_m(grid, origin, destination) + 1e-4
        )


def test_time_windows_follow_speed_and_segment_lengths():
    """Oracle: each segment's length from its outline (long side of the buffered segment minus 2 buffers)."""
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=16, ny=10)
    wall = zone("W1", box(3900.0, -10.0, 4100.0, 3600.0))
    buffer_m = 80.0
    t0 = T0 + timedelta(minutes=7)
    corridor = plan(
        RouteGraph(grid, [wall]), (300.0, 400.0), (7600.0, 700.0), t0=t0, lateral_buffer_m=buffer_m
    )
    assert len(corridor) >= 2
    assert corridor[0].time_start == t0 - timedelta(seconds=TIME_BUFFER_S)
    arrival_s = route_length_m(corridor, t0) / SPEED_MPS
    assert corridor[-1].time_end == t0 + timedelta(seconds=arrival_s + TIME_BUFFER_S)
    total_m = 0.0
    for n, volume in enumerate(corridor):
        rect = shapely.minimum_rotated_rectangle(volume.volume.outline)
        sides = sorted(math.dist(*np.asarray(rect.exterior.coords)[k : k + 2]) for k in range(2))
        segment_m = sides[1] - 2 * buffer_m
        assert sides[0] == pytest.approx(2 * buffer_m)
        flown_s = (volume.time_end - volume.time_start).total_seconds() - 2 * TIME_BUFFER_S
        assert flown_s * SPEED_MPS == pytest.approx(segment_m, abs=1e-3)
        assert (volume.time_start - t0).total_seconds() + TIME_BUFFER_S == pytest.approx(
            total_m / SPEED_MPS, abs=1e-5
        )
        total_m += segment_m
        assert (volume.volume.z_lower_m, volume.volume.z_upper_m) == (60.0, 90.0)
        if n:
            assert corridor[n - 1].time_end - corridor[n].time_start == timedelta(seconds=2 * TIME_BUFFER_S)
    assert total_m == pytest.approx(arrival_s * SPEED_MPS, abs=1e-3)
    assert not any(enters(v, wall) for v in corridor)


def test_wall_across_the_layer_raises_no_route_naming_layer_and_zones():
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=10, ny=6)
    wall = zone("W1", box(2400.0, -100.0, 2600.0, 3100.0, z_lower_m=0.0, z_upper_m=200.0))
    side = zone("P9", Volume3D.circle(1000.0, 1000.0, 100.0, z_lower_m=0.0, z_upper_m=200.0))
    graph = RouteGraph(grid, [wall, side])
    with pytest.raises(
        NoRoute,
        match=r"^destination: no corridor on layer d60-90 avoids the active prohibited "
        r"zones P9, W1 between 2026-03-01T11:59:30Z and 2026-03-01T12:",
    ) as err:
        plan(graph, (250.0, 250.0), (4750.0, 250.0))
    assert err.value.field == "destination"
    above = plan(graph, (250.0, 250.0), (4750.0, 250.0), layer="e300-450")  # the wall stops at 200 m
    assert len(above) == 1 and route_length_m(above, T0) == pytest.approx(4500.0)


def test_no_corner_cutting_between_two_diagonal_blocked_cells():
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=2, ny=2)
    zones = [
        zone("P1", Volume3D.circle(750.0, 250.0, 10.0, z_lower_m=0.0, z_upper_m=500.0)),
        zone("P2", Volume3D.circle(250.0, 750.0, 10.0, z_lower_m=0.0, z_upper_m=500.0)),
    ]
    with pytest.raises(
        NoRoute, match="no corridor on layer d60-90 avoids the active prohibited zones P1, P2"
    ):
        plan(RouteGraph(grid, zones), (250.0, 250.0), (750.0, 750.0))


def test_zone_active_only_later_blocks_a_route_flown_then_not_now():
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=12, ny=8)
    later = zone(
        "L1",
        Volume3D.circle(3000.0, 2000.0, 600.0, z_lower_m=0.0, z_upper_m=120.0),
        applicability=window(7200.0, 10800.0),
    )
    graph = RouteGraph(grid, [later])
    origin, destination = (250.0, 2000.0), (5750.0, 2000.0)
    now = plan(graph, origin, destination)
    assert len(now) == 1 and route_length_m(now, T0) == pytest.approx(5500.0)
    assert shapely.distance(Point(3000.0, 2000.0), now[0].volume.outline) == 0.0  # flies through the site
    then_t0 = T0 + timedelta(hours=2, minutes=30)
    then = plan(graph, origin, destination, t0=then_t0)
    assert route_length_m(then, then_t0) > 5500.0 + 1.0
    assert not any(enters(v, later) for v in then)


def test_zone_activity_is_closed_at_the_flight_window_and_follows_weekly_schedules():
    """A zone ending at the flight window's first instant still blocks, one ending a microsecond before does
    not; a weekly schedule (tested on datetimes, not integer windows) blocks only on its days."""
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=6, ny=6)
    site = Volume3D.circle(1100.0, 1100.0, 50.0, z_lower_m=0.0, z_upper_m=100.0)
    start = T0 - timedelta(seconds=TIME_BUFFER_S)
    touching = zone("P1", site, applicability=(Applicability(start - timedelta(hours=1), start),))
    before = zone("P2", site, applicability=(Applicability(start - timedelta(hours=1), start - US),))
    sunday = WeeklySchedule(frozenset({6}), time(11), time(13))  # T0 is Sunday 12:00 UTC
    monday = WeeklySchedule(frozenset({0}), time(11), time(13))
    weekly = [
        zone(f"W{n}", site, applicability=(Applicability(schedules=(s,)),))
        for n, s in enumerate((sunday, monday))
    ]
    for blocker, blocks in ((touching, True), (before, False), (weekly[0], True), (weekly[1], False)):
        graph = RouteGraph(grid, [blocker])
        if blocks:
            with pytest.raises(NoRoute, match=rf"^origin: .* zone\(s\) {blocker.identifier} "):
                plan(graph, (1000.0, 1000.0), (2750.0, 2750.0))
        else:
            assert plan(graph, (1000.0, 1000.0), (2750.0, 2750.0))


def test_window_is_rechecked_with_the_longer_route():
    """A zone that activates after the straight-line arrival but before the detour's arrival still blocks.

    The wall forces a ~13.6 km detour through the gap at the top (about 1090 s at 12.5 m/s); the straight
    line would take 760 s. G1 closes the gap from t0 + 900 s: only the re-check with the detour's window
    sees it, and the gap is closed for the whole flight window, so no route remains.
    """
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=20, ny=10)
    wall = zone("W1", box(8900.0, -10.0, 9100.0, 3990.0))
    origin, destination = (250.0, 250.0), (9750.0, 250.0)
    detour = plan(RouteGraph(grid, [wall]), origin, destination)
    assert 1000.0 < route_length_m(detour, T0) / SPEED_MPS < 1300.0
    soon = zone("G1", box(8800.0, 3900.0, 9200.0, 5100.0), applicability=window(900.0, 7200.0))
    with pytest.raises(NoRoute, match="avoids the active prohibited zones G1, W1"):
        plan(RouteGraph(grid, [wall, soon]), origin, destination)
    late = zone("G2", box(8800.0, 3900.0, 9200.0, 5100.0), applicability=window(1500.0, 7200.0))
    assert plan(RouteGraph(grid, [wall, late]), origin, destination) == detour


@pytest.mark.parametrize(("end", "point"), [("origin", (1000.0, 1000.0)), ("destination", (1020.0, 1010.0))])
def test_blocked_end_cell_raises_no_route_naming_the_end_and_zone(end, point):
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=6, ny=6)
    graph = RouteGraph(
        grid, [zone("P7", Volume3D.circle(1100.0, 1100.0, 50.0, z_lower_m=0.0, z_upper_m=100.0))]
    )
    other = (2750.0, 2750.0)
    args = (point, other) if end == "origin" else (other, point)
    with pytest.raises(
        NoRoute, match=rf"^{end}: cell \(2, 2\) on layer d60-90 lies in the active prohibited zone\(s\) P7"
    ):
        plan(graph, *args)


def test_end_leg_reaching_a_zone_in_the_neighbour_cell_raises_no_route():
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=4, ny=4)
    graph = RouteGraph(
        grid, [zone("P3", Volume3D.circle(520.0, 250.0, 10.0, z_lower_m=0.0, z_upper_m=100.0))]
    )
    with pytest.raises(NoRoute, match=r"^origin: the buffered leg from the origin point enters .* P3"):
        plan(graph, (490.0, 250.0), (250.0, 1750.0))
    with pytest.raises(
        NoRoute, match=r"^destination: the buffered leg to the destination point enters .* P3"
    ):
        plan(graph, (250.0, 1750.0), (490.0, 250.0))
    assert plan(graph, (490.0, 250.0), (250.0, 1750.0), lateral_buffer_m=19.0)  # 19 m clears the 20 m gap


def test_same_cell_and_single_point_routes():
    graph = RouteGraph(CellGrid(x_min_m=0.0, y_min_m=0.0, nx=3, ny=3))
    same = plan(graph, (600.0, 600.0), (900.0, 800.0))
    assert route_length_m(same, T0) == pytest.approx(math.dist((600.0, 600.0), (900.0, 800.0)))
    hover = plan(graph, (750.0, 750.0), (750.0, 750.0), layer=2)
    assert len(hover) == 1 and hover[0].volume.outline == Circle(750.0, 750.0, 50.0)
    assert hover[0].time_end - hover[0].time_start == timedelta(seconds=2 * TIME_BUFFER_S)
    assert (hover[0].volume.z_lower_m, hover[0].volume.z_upper_m) == (90.0, 120.0)


def test_plans_are_deterministic():
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=14, ny=14)
    rng = np.random.default_rng(3)
    zones = [random_zone(rng, n, 7000.0) for n in range(1, 12, 2)]
    first = [plan(RouteGraph(grid, zones), (100.0, 100.0), (6900.0, 6900.0), layer=k) for k in range(5)]
    assert first == [
        plan(RouteGraph(grid, zones), (100.0, 100.0), (6900.0, 6900.0), layer=k) for k in range(5)
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"speed_mps": 0.0}, AirspaceInputError, "speed_mps"),
        ({"speed_mps": -3.0}, AirspaceInputError, "speed_mps"),
        ({"speed_mps": math.nan}, AirspaceInputError, "speed_mps"),
        ({"lateral_buffer_m": 0.0}, AirspaceInputError, "lateral_buffer_m"),
        ({"lateral_buffer_m": 250.1}, AirspaceInputError, "lateral_buffer_m"),
        ({"time_buffer_s": -1.0}, AirspaceInputError, "time_buffer_s"),
        ({"time_buffer_s": math.inf}, AirspaceInputError, "time_buffer_s"),
        ({"t0": datetime(2026, 3, 1, 12, 0)}, AirspaceInputError, "t0"),
        ({"layer": "d0-30"}, InvalidRegion, "layer"),
        ({"layer": 5}, InvalidRegion, "layer"),
        ({"origin_xy_m": (-1.0, 10.0)}, InvalidRegion, "origin_xy_m"),
        ({"destination_xy_m": (10.0, 1500.1)}, InvalidRegion, "destination_xy_m"),
        ({"origin_xy_m": (10.0, math.nan)}, AirspaceInputError, "origin_xy_m"),
        ({"destination_xy_m": (10.0, 10.0, 10.0)}, AirspaceInputError, "destination_xy_m"),
    ],
)
def test_bad_plan_arguments_raise_naming_the_field(kwargs, error, field):
    graph = RouteGraph(CellGrid(x_min_m=0.0, y_min_m=0.0, nx=3, ny=3))
    args = {
        "origin_xy_m": (100.0, 100.0),
        "destination_xy_m": (1400.0, 1400.0),
        "t0": T0,
        "speed_mps": 10.0,
        "layer": "d60-90",
    } | kwargs
    with pytest.raises(error) as err:
        graph.plan(args.pop("origin_xy_m"), args.pop("destination_xy_m"), **args)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")
    if field == "layer":
        assert "valid: d30-60, d60-90, d90-120, e150-300, e300-450" in str(err.value)


def test_safety_net_refuses_a_corridor_the_planner_got_wrong(monkeypatch):
    """The exact final check catches a corridor through a zone even if the cell logic were wrong."""
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=8, ny=3)
    graph = RouteGraph(
        grid, [zone("P5", Volume3D.circle(2000.0, 750.0, 100.0, z_lower_m=0.0, z_upper_m=100.0))]
    )
    monkeypatch.setattr(
        RouteGraph, "_pulled", lambda self, points, blocked, buffer_m: [points[0], points[-1]]
    )
    with pytest.raises(NoRoute, match=r"^corridor: segment 0 \(a planner bug.*enters .* P5"):
        plan(graph, (250.0, 750.0), (3750.0, 750.0))


def test_with_geofences_avoids_the_extra_zones_and_leaves_the_original_alone():
    """The alternatives search adds temporary zones; the shared graph must not learn them."""
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=10, ny=10, cell_size_m=200.0)
    graph = RouteGraph(grid)
    wall = zone("TMP", box(900.0, 0.0, 1100.0, 1700.0))
    detour = graph.with_geofences([wall])
    origin, destination = (300.0, 300.0), (1700.0, 300.0)
    around = plan(detour, origin, destination)
    assert not any(enters(v, wall) for v in around)
    assert route_length_m(around, T0) > math.dist(origin, destination) + 100.0
    straight = plan(graph, origin, destination)
    assert route_length_m(straight, T0) == pytest.approx(math.dist(origin, destination))
    assert detour.geofences == (wall,) and graph.geofences == ()
    assert detour.avoids(wall) and not graph.avoids(wall)


def test_with_geofences_given_cells_plans_as_with_cells_computed():
    """Cells handed in (where known, ``None`` elsewhere; a non-prohibited zone's are ignored) give the very
    routes of a graph that computes every zone's cells."""
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=10, ny=10, cell_size_m=200.0)
    wall, gate = zone("W", box(900.0, 0.0, 1100.0, 1700.0)), zone("G", box(500.0, 1000.0, 700.0, 1300.0))
    noted = zone("N", box(0.0, 0.0, 100.0, 100.0), Restriction.CONDITIONAL)
    extra = [wall, noted, gate]
    given = RouteGraph(grid).with_geofences(extra, [grid.cells_of_geofence(wall), None, None])
    computed = RouteGraph(grid).with_geofences(extra)
    for origin, destination in [((300.0, 300.0), (1700.0, 300.0)), ((300.0, 1900.0), (1700.0, 1900.0))]:
        assert plan(given, origin, destination) == plan(computed, origin, destination)


def test_layers_of_with_geofences_graphs_are_those_of_one_graph_of_every_zone():
    """A with_geofences graph builds a layer on its parent's; masks, free lists and zones are those a graph
    of every zone builds, whatever subset is active, and the parent's layers are left as they were."""
    rng = np.random.default_rng(10)
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=12, ny=9)
    zones = [random_zone(rng, n, 5000.0) for n in range(9)]
    root = RouteGraph(grid, zones[:4])
    chained = root.with_geofences(zones[4:6]).with_geofences(zones[6:])
    whole = RouteGraph(grid, zones)
    for k in range(len(grid.layers)):
        before = root._blocked(k, (0, 1, 2, 3))
        mask, free = before.blocked.copy(), [row.copy() for row in before.free]
        for active in [(0, 1, 2, 3, 4, 5, 6, 7, 8), (1, 3, 5, 8), (4, 6), (7,), (2,), ()]:
            got, expected = chained._blocked(k, active), whole._blocked(k, active)
            assert np.array_equal(got.blocked, expected.blocked) and got.free == expected.free
            assert sorted(g.identifier for g in got.zones) == sorted(g.identifier for g in expected.zones)
        assert np.array_equal(before.blocked, mask) and before.free == free
        assert root._blocked(k, (0, 1, 2, 3)) is before


def test_avoids_names_only_the_very_prohibited_zones_of_the_graph():
    """An equal copy counts (zones read back from a store are new objects); a changed zone, a zone that is
    not PROHIBITED and an unknown one do not."""
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=10, ny=10, cell_size_m=200.0)
    closed = zone("P", box(900.0, 0.0, 1100.0, 1700.0))
    asked = zone("A", box(0.0, 0.0, 100.0, 100.0), Restriction.REQ_AUTHORISATION)
    graph = RouteGraph(grid, [closed, asked])
    assert graph.avoids(closed) and graph.avoids(zone("P", box(900.0, 0.0, 1100.0, 1700.0)))
    assert not graph.avoids(zone("P", box(900.0, 0.0, 1100.0, 1600.0)))
    assert not graph.avoids(asked) and not graph.avoids(zone("X", box(0.0, 0.0, 1.0, 1.0)))


@pytest.mark.parametrize(("z_lower_m", "z_upper_m"), [(60.0, 60.0), (90.0, 60.0), (math.nan, 60.0)])
def test_corridor_refuses_a_height_band_that_is_not_lower_below_upper(z_lower_m, z_upper_m):
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(AirspaceInputError, match=r"^z_lower_m: must be below z_upper_m") as err:
        corridor(
            [(0.0, 0.0), (100.0, 0.0)],
            t0=t0,
            speed_mps=10.0,
            z_lower_m=z_lower_m,
            z_upper_m=z_upper_m,
            lateral_buffer_m=20.0,
            time_buffer_s=10.0,
        )
    assert err.value.field == "z_lower_m"


def test_squares_near_a_segment_hold_every_blocked_square_within_the_margin():
    """Oracle: the exact distance from the segment to every blocked cell's square of the layer."""
    rng = np.random.default_rng(3)
    grid = CellGrid(x_min_m=-1000.0, y_min_m=500.0, nx=9, ny=7, cell_size_m=300.0)
    zones = [
        zone(
            f"Z{n}",
            Volume3D.circle(*rng.uniform([-1200, 300], [1900, 2800]), 150.0, z_lower_m=0.0, z_upper_m=500.0),
        )
        for n in range(8)
    ]
    graph = RouteGraph(grid, zones)
    layer = graph._blocked(1, tuple(range(len(zones))))
    squares = grid.cell_box(*np.nonzero(layer.blocked))
    for _ in range(200):
        p, q = (tuple(rng.uniform([-1300, 200], [2000, 3000])) for _ in range(2))
        margin_m = rng.uniform(0.0, 150.0)
        found = layer.squares_near(p, q, margin_m)
        near = {s.wkb for s in found}
        within = squares[shapely.distance(shapely.LineString([p, q]), squares) <= margin_m]
        assert {s.wkb for s in within} <= near
        assert near <= {s.wkb for s in squares}
        # the cached squares are the grid's own cell_box objects, of blocked cells, in (i, j) order
        at = [tuple(grid.cell_of(s.centroid.x, s.centroid.y, 45.0)[:2].tolist()) for s in found]
        assert at == sorted(set(at)) and all(layer.blocked[ij] for ij in at)
        assert all(s is grid.cell_box(i, j) for s, (i, j) in zip(found, at, strict=True))


@pytest.mark.parametrize("buffer_m", [50.0, 250.0])
def test_pulled_path_equals_brute_force_string_pulling_over_every_blocked_square(buffer_m):
    """Oracle: a leg is clear when its corridor outline (what :func:`corridor` builds for it) meets each
    blocked square (all of them) only on the boundary (at half a cell, legs along a row of centres touch the
    blocked cells beside them)."""
    rng = np.random.default_rng(8)
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=10, ny=10, cell_size_m=500.0)
    for _ in range(10):
        zones = [
            zone(f"Z{n}", box(*(c := rng.uniform(0, 4500, 2)), *(c + rng.uniform(100, 900, 2))))
            for n in range(5)
        ]
        graph = RouteGraph(grid, zones)
        layer = graph._blocked(1, tuple(range(len(zones))))
        squares = grid.cell_box(*np.nonzero(layer.blocked))
        free = [
            (float(x), float(y)) for x, y in zip(*grid.cell_center(*np.nonzero(~layer.blocked)), strict=True)
        ]
        points = [free[n] for n in rng.choice(len(free), 6, replace=False)]

        def clear(p, q, squares=squares):
            leg = _corridor_outline(p, q, buffer_m)
            return all(shapely.touches(leg, s) or not shapely.intersects(leg, s) for s in squares)

        kept, a = [points[0]], 0
        while a < len(points) - 1:
            b = a + 1
            while b + 1 < len(points) and clear(points[a], points[b + 1]):
                b += 1
            kept.append(points[b])
            a = b
        assert RouteGraph._pulled(points, layer, buffer_m) == kept


def test_a_leg_is_pulled_when_its_corridor_outline_is_clear_though_a_finer_buffer_would_enter_a_cell():
    """The blocked cell's corner lies 0.9975 widths from the leg's end, at pi / 32 off its axis: inside a
    16-segment buffer (a vertex there), outside the 8-segment outline the corridor gets (a chord there)."""
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=10, ny=10, cell_size_m=500.0)
    graph = RouteGraph(grid, [zone("Z", box(1600.0, 1600.0, 1900.0, 1900.0))])
    layer = graph._blocked(1, (0,))
    assert layer.blocked.sum() == 1 and layer.blocked[3, 3]  # the cell [1500, 2000] x [1500, 2000]
    width_m, off = 250.0, math.pi / 32.0
    end = (1500.0 - 0.9975 * width_m * math.cos(off), 1500.0 - 0.9975 * width_m * math.sin(off))
    start, detour = (250.0, end[1]), (750.0, 1000.0)
    line, cell = shapely.LineString([start, end]), grid.cell_box(3, 3)
    assert shapely.intersects(line.buffer(width_m, quad_segs=16), cell)
    assert not shapely.intersects(_corridor_outline(start, end, width_m), cell)
    assert RouteGraph._pulled([start, detour, end], layer, width_m) == [start, end]


def test_a_buffered_leg_holds_every_point_within_the_inscribed_share_of_its_width_in_its_interior():
    """Oracle for the shortcut: the corridor outline's boundary is farther from the leg than ``_INSCRIBED``
    widths."""
    rng = np.random.default_rng(5)
    for _ in range(300):
        p, q = (tuple(rng.uniform(-5000.0, 5000.0, 2)) for _ in range(2))
        if rng.random() < 0.2:
            q = (q[0], p[1])  # axis-parallel legs too
        line, width_m = shapely.LineString([p, q]), rng.uniform(1.0, 500.0)
        leg = _corridor_outline(p, q, width_m)
        assert leg.contains_properly(line)
        assert shapely.distance(line, leg.exterior) > _INSCRIBED * width_m


def _corridor_outline(p: tuple[float, float], q: tuple[float, float], width_m: float) -> Polygon:
    """The outline :func:`corridor` gives the single leg ``p -> q`` buffered by ``width_m``."""
    (leg,) = corridor(
        [p, q],
        t0=T0,
        speed_mps=10.0,
        z_lower_m=0.0,
        z_upper_m=1.0,
        lateral_buffer_m=width_m,
        time_buffer_s=0.0,
    )
    return leg.volume.outline
