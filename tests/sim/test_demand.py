"""Demand: requests drawn from the scenario and its seed, free-flight traffic as the bench defines it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from scipy.spatial import distance

from airspace.geofences import Restriction
from sim.demand import free_flights, requests
from sim.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
DEMO = SCENARIOS / "shenzhen-nanshan" / "demo.yaml"
FREE = SCENARIOS / "bench" / "free-flight-10km.yaml"


@pytest.fixture(scope="module")
def demo():
    return load_scenario(DEMO)


def test_the_same_seed_gives_the_same_requests_and_another_seed_others(demo):
    assert requests(demo) == requests(load_scenario(DEMO))
    assert requests(demo) != requests(load_scenario(DEMO, seed=demo.spec.seed + 1))


def test_requests_follow_the_rate_shares_and_noncooperative_share(demo):
    """Oracle: Poisson counts within 4 sigma of the scenario's rate; shares within 4 sigma of binomial."""
    reqs = requests(demo)
    rate = demo.spec.demand.rate_per_hour(demo.spec.start) * demo.spec.duration_s / 3600.0
    assert abs(len(reqs) - rate) < 4 * np.sqrt(rate)
    n = len(reqs)
    for share, got in (
        (demo.spec.traffic.noncooperative_share, sum(not r.cooperative for r in reqs)),
        (
            next(p.share for p in demo.spec.demand.patterns if p.kind == "shuttle"),
            sum(r.kind == "shuttle" for r in reqs),
        ),
    ):
        assert abs(got - share * n) < 4 * np.sqrt(n * share * (1 - share)) + 1
    lead = demo.spec.demand.lead_time_s
    assert all(r.submit_s == max(0.0, r.requested_s - lead) for r in reqs)
    assert [(r.submit_s, r.flight) for r in reqs] == sorted((r.submit_s, r.flight) for r in reqs)


def test_destinations_are_inside_the_grid_at_the_pattern_distance(demo):
    """Delivery drop points keep the corridor's lateral buffer inside the grid (the service's region)."""
    xmin, ymin, xmax, ymax = demo.region.grid.bounds_xy_m
    pattern = next(p for p in demo.spec.demand.patterns if p.kind == "delivery")
    margin = demo.spec.strategic.lateral_buffer_m
    for r in requests(demo):
        assert xmin < r.destination_xy_m[0] < xmax and ymin < r.destination_xy_m[1] < ymax
        if r.kind == "delivery":
            x, y = r.destination_xy_m
            assert min(x - xmin, xmax - x, y - ymin, ymax - y) > margin
            d = np.hypot(r.destination_xy_m[0] - r.origin_xy_m[0], r.destination_xy_m[1] - r.origin_xy_m[1])
            assert pattern.distance_m[0] <= d <= pattern.distance_m[1]
        else:
            assert r.destination != r.origin


def test_free_flight_traffic_is_what_the_bench_scenario_says():
    """Oracle: the issue's definition: box, altitude 30-122 m, speed 10-18 m/s, no two starts within 50 m."""
    loaded = load_scenario(FREE, ["traffic.count=400"], duration_s=3600.0)
    ff = free_flights(loaded, radius_m=50.0)
    wp = ff.waypoints_m
    assert wp.shape[0] == 400
    assert np.abs(wp[..., :2]).max() <= 5000.0
    assert np.all(wp[..., 2] == wp[:, :1, 2])
    assert wp[..., 2].min() >= 30.0 and wp[..., 2].max() <= 122.0
    assert ff.speed_mps.min() >= 10.0 and ff.speed_mps.max() <= 18.0
    assert distance.pdist(wp[:, 0, :2]).min() >= 50.0
    route_m = np.linalg.norm(np.diff(wp[..., :2], axis=1), axis=2).sum(axis=1)
    assert np.all(route_m >= ff.speed_mps * 3600.0)


def test_round_trips_return_to_the_take_off_pad_and_one_way_flights_do_not(demo):
    loaded = load_scenario(DEMO, ["demand.patterns.0.round_trip=true"])
    reqs = requests(loaded)
    assert all((r.return_xy_m == r.origin_xy_m) == (r.kind == "delivery") for r in reqs)
    one_way = load_scenario(DEMO, ["demand.scale=0.1", "demand.patterns.0.round_trip=false"])
    assert all(r.return_xy_m is None for r in requests(one_way))
    r = next(r for r in reqs if r.kind == "delivery")
    assert r.stops_xy_m == (r.origin_xy_m, r.destination_xy_m, r.origin_xy_m)


def test_layer_by_course_puts_each_third_of_the_compass_on_its_own_layer(demo):
    """Oracle: the compass bearing (clockwise from north) from numpy's arctan2 of (east, north)."""
    pattern = next(p for p in demo.spec.demand.patterns if p.kind == "delivery")
    assert pattern.layer_by_course
    layers = demo.spec.fleet[pattern.vehicle].layers
    checked = 0
    for r in requests(demo):
        if r.kind != "delivery":
            continue
        east, north = np.subtract(r.destination_xy_m, r.origin_xy_m)
        bearing = np.degrees(np.arctan2(east, north)) % 360.0
        assert r.layer == layers[int(bearing // (360.0 / len(layers)))]
        checked += 1
    assert checked > 100


def test_a_round_trip_by_course_flies_home_on_the_layer_of_its_way_back():
    """Oracle: the reverse bearing's third of the compass; with three thirds it is never the outbound one."""
    loaded = load_scenario(DEMO, ["demand.patterns.0.round_trip=true", "demand.scale=0.2"])
    layers = loaded.spec.fleet["multirotor"].layers
    trips = [r for r in requests(loaded) if r.return_xy_m is not None]
    assert len(trips) > 100
    for r in trips:
        east, north = np.subtract(r.origin_xy_m, r.destination_xy_m)
        bearing = np.degrees(np.arctan2(east, north)) % 360.0
        assert r.return_layer == layers[int(bearing // 120.0)] != r.layer


def test_drop_points_avoid_cells_of_zones_the_operators_plan_around(demo):
    """Oracle: shapely. No drop point's grid cell meets the outline of a PROHIBITED or REQ_AUTHORISATION
    zone (the planner blocks such cells, so a route could not end there)."""
    grid = demo.region.grid
    zones = [
        v.outline
        for g in demo.region.geofences
        if g.restriction in (Restriction.PROHIBITED, Restriction.REQ_AUTHORISATION)
        for v in g.volumes
    ]
    assert zones
    drops = [r.destination_xy_m for r in requests(demo) if r.kind == "delivery"]
    assert len(drops) > 1000
    x0, y0, _, _ = grid.bounds_xy_m
    size = grid.cell_size_m
    for x, y in drops:
        i, j = (x - x0) // size, (y - y0) // size
        cell = shapely.box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size)
        assert not any(shapely.intersects(cell, _shape(z)) for z in zones), (x, y)


def _shape(outline):
    """A zone outline as a shapely geometry (circles as their disc)."""
    return (
        outline
        if isinstance(outline, shapely.Geometry)
        else shapely.Point(outline.center_x_m, outline.center_y_m).buffer(outline.radius_m)
    )
