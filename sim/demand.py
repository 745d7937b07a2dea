"""Traffic demand: the flight requests of a run, drawn up front from the scenario and its seed.

Demand mode: departures are a Poisson process whose rate follows the hourly profile (one homogeneous
draw per hour slot), each assigned a pattern by share, an origin hub, a destination (a drop point at a
uniform bearing and distance for deliveries, another vertiport for shuttles), a layer of the vehicle
type and a cooperative flag. Free-flight mode: ``traffic.count`` vehicles airborne from t = 0 on random
waypoints inside a box. Every draw comes from its own named stream (:func:`sim.rng.rng_for`).
Layer: sim; imports airspace.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from scipy.spatial import cKDTree

from airspace.geofences import Restriction
from airspace.region import Hub, Region
from sim.plans import FlightRequest
from sim.rng import rng_for
from sim.scenario import LoadedScenario, Pattern

__all__ = ["FreeFlight", "free_flights", "requests", "scripted_flights"]

DROP_POINT_TRIES = 20
"""A drop point outside the grid or in a closed column is redrawn this many times before the request is
dropped."""
FREE_FLIGHT_LEG_M = 2000.0
"""Free-flight legs are at least this long (0.4 box side in smaller boxes), so no vehicle circles a point."""


def requests(loaded: LoadedScenario) -> list[FlightRequest]:
    """Every flight request of a demand-mode run, sorted by submission time then flight id."""
    spec = loaded.spec
    rng = rng_for(spec.seed, "demand")
    departures = _departure_times(loaded, rng)
    patterns = spec.demand.patterns
    which = rng.choice(len(patterns), size=len(departures), p=[p.share for p in patterns])
    cooperative = rng.random(len(departures)) >= spec.traffic.noncooperative_share
    closed = _closed_columns(loaded.region)
    origins = [_origins(loaded.region, p) for p in patterns]  # once: a city has dozens of hubs
    out = []
    for flight, (t_s, k, coop) in enumerate(zip(departures, which, cooperative, strict=True)):
        made = _request(loaded, patterns[k], origins[k], flight, float(t_s), bool(coop), closed, rng)
        if made is not None:
            out.append(made)
    return sorted(out, key=lambda r: (r.submit_s, r.flight))


def _departure_times(loaded: LoadedScenario, rng: np.random.Generator) -> np.ndarray:
    """Wished take-off times (s), a Poisson process with the hourly rate, sorted."""
    spec = loaded.spec
    times = []
    for slot in range(math.ceil(spec.duration_s / 3600.0)):
        t0_s = 3600.0 * slot
        width_s = min(3600.0, spec.duration_s - t0_s)
        rate = spec.demand.rate_per_hour(spec.start + timedelta(seconds=t0_s))
        n = rng.poisson(rate * width_s / 3600.0)
        times.append(t0_s + np.sort(rng.random(n)) * width_s)
    return np.concatenate(times) if times else np.empty(0)


def _origins(region: Region, pattern: Pattern) -> list[Hub]:
    kind = "delivery_hub" if pattern.kind == "delivery" else "vertiport"
    if pattern.origins:
        return [region.hub(h) for h in pattern.origins]
    return [h for h in region.hubs if h.kind == kind]


def _request(
    loaded: LoadedScenario,
    pattern: Pattern,
    hubs: list[Hub],
    flight: int,
    t_s: float,
    cooperative: bool,
    closed: np.ndarray,
    rng: np.random.Generator,
) -> FlightRequest | None:
    spec, region = loaded.spec, loaded.region
    origin = hubs[int(rng.integers(len(hubs)))]
    origin_xy = _pad(origin, pattern.pad_radius_m, rng)
    if pattern.kind == "shuttle":
        others = [h for h in region.hubs if h.kind == "vertiport" and h.id != origin.id]
        target = others[int(rng.integers(len(others)))]
        destination, destination_xy = target.id, _pad(target, pattern.pad_radius_m, rng)
    else:
        margin_m = spec.strategic.lateral_buffer_m + 1.0  # the corridor's buffer stays in the region too
        destination, destination_xy = (
            "",
            _drop_point(region, origin_xy, pattern.distance_m, margin_m, closed, rng),
        )
    vehicle = spec.fleet[pattern.vehicle]
    draw = int(rng.integers(len(vehicle.layers)))  # drawn either way: the other draws stay the same
    if destination_xy is None:
        return None
    layer = vehicle.layers[
        _sector(origin_xy, destination_xy, len(vehicle.layers)) if pattern.layer_by_course else draw
    ]
    return_layer = None  # by course, the way back is on its own course's layer
    if pattern.round_trip and pattern.layer_by_course:
        back = vehicle.layers[_sector(destination_xy, origin_xy, len(vehicle.layers))]
        return_layer = back if back != layer else None
    return FlightRequest(
        flight=flight,
        kind=pattern.kind,
        vehicle=pattern.vehicle,
        operator=f"{pattern.kind}-{origin.id}",
        origin=origin.id,
        destination=destination,
        origin_xy_m=origin_xy,
        destination_xy_m=destination_xy,
        layer=layer,
        requested_s=t_s,
        submit_s=max(0.0, t_s - spec.demand.lead_time_s),
        cooperative=cooperative,
        priority=vehicle.priority,
        return_xy_m=origin_xy if pattern.round_trip else None,
        return_layer=return_layer,
    )


def _sector(origin: tuple[float, float], destination: tuple[float, float], n: int) -> int:
    """Which of ``n`` equal compass sectors (clockwise from north) the course from origin lies in."""
    course = math.degrees(math.atan2(destination[0] - origin[0], destination[1] - origin[1])) % 360.0
    return min(int(course * n / 360.0), n - 1)


def _pad(hub: Hub, radius_m: float, rng: np.random.Generator) -> tuple[float, float]:
    """A take-off/landing pad uniform in the disc of ``radius_m`` around the hub."""
    r, a = radius_m * math.sqrt(rng.random()), 2.0 * math.pi * rng.random()
    return hub.x_m + r * math.cos(a), hub.y_m + r * math.sin(a)


def _drop_point(
    region: Region,
    origin: tuple[float, float],
    distance_m: tuple[float, float],
    margin_m: float,
    closed: np.ndarray,
    rng: np.random.Generator,
) -> tuple[float, float] | None:
    """A delivery point at a uniform bearing and distance from ``origin``, ``margin_m`` inside the grid and
    not in a ``closed`` column (where the planner could not end a route)."""
    grid = region.grid
    xmin, ymin, xmax, ymax = grid.bounds_xy_m
    xmin, ymin, xmax, ymax = xmin + margin_m, ymin + margin_m, xmax - margin_m, ymax - margin_m
    for _ in range(DROP_POINT_TRIES):
        r, a = rng.uniform(*distance_m), 2.0 * math.pi * rng.random()
        x, y = origin[0] + r * math.cos(a), origin[1] + r * math.sin(a)
        if xmin < x < xmax and ymin < y < ymax:
            i, j, _ = grid.cell_at(x, y, grid.layers[0].z_lower_m)  # type: ignore[misc]  # inside: a cell
            if not closed[i, j]:
                return x, y
    return None


def _closed_columns(region: Region) -> np.ndarray:
    """``(nx, ny)``: the grid columns a zone the operators plan around (PROHIBITED, or REQ_AUTHORISATION:
    they hold no authorisations) touches on some layer at some time."""
    grid = region.grid
    zones = [
        g
        for g in region.geofences
        if g.restriction in (Restriction.PROHIBITED, Restriction.REQ_AUTHORISATION)
    ]
    closed = np.zeros((grid.nx, grid.ny), bool)
    for cells in grid.cells_of_geofences(zones):
        closed[cells[:, 0], cells[:, 1]] = True
    return closed


@dataclass(frozen=True, slots=True)
class FreeFlight:
    """Plan-less traffic airborne from t = 0: per vehicle its waypoints ``(k, 3)``, cruise speed, vehicle
    type and whether it reports (free flight: ``(count, k, 3)`` waypoints, one type)."""

    waypoints_m: Sequence[np.ndarray]
    speed_mps: np.ndarray
    vehicle: tuple[str, ...]
    cooperative: np.ndarray


def free_flights(loaded: LoadedScenario, *, radius_m: float) -> FreeFlight:
    """``traffic.count`` vehicles at constant altitude and speed on random waypoints in the box.

    Starts are drawn so that no two begin within ``radius_m`` of each other horizontally (a redraw of
    the offending ones, a handful of rounds at bench densities). Each route is long enough for the run:
    ``speed x duration`` plus one leg.
    """
    spec = loaded.spec
    traffic = spec.traffic
    n, half = traffic.count, traffic.box_m / 2.0
    rng = rng_for(spec.seed, "free_flight")
    alt = rng.uniform(*traffic.altitude_m, size=n)
    speed = rng.uniform(*traffic.speed_mps, size=n)
    start = _spread_starts(rng, n, half, radius_m)
    min_leg_m = min(FREE_FLIGHT_LEG_M, 0.4 * traffic.box_m)
    k = math.ceil(traffic.speed_mps[1] * spec.duration_s / min_leg_m) + 1
    legs = _legs(rng, n, k, half, start, min_leg_m)
    points = np.concatenate([start[:, None, :], legs], axis=1)
    z = np.broadcast_to(alt[:, None, None], (n, k + 1, 1))
    coop = rng_for(spec.seed, "cooperative").random(n) >= traffic.noncooperative_share
    return FreeFlight(np.concatenate([points, z], axis=2), speed, (traffic.vehicle,) * n, coop)


def scripted_flights(loaded: LoadedScenario) -> FreeFlight:
    """``traffic.tracks`` as given: no draw, so an encounter is exactly what the file says."""
    tracks = loaded.spec.traffic.tracks
    return FreeFlight(
        [np.array(t.waypoints_m, float) for t in tracks],
        np.array([t.speed_mps for t in tracks], float),
        tuple(t.vehicle for t in tracks),
        np.array([t.cooperative for t in tracks], bool),
    )


def _spread_starts(rng: np.random.Generator, n: int, half: float, radius_m: float) -> np.ndarray:
    xy = rng.uniform(-half, half, size=(n, 2))
    for _ in range(100):
        pairs = cKDTree(xy).query_pairs(radius_m, output_type="ndarray")
        if len(pairs) == 0:
            return xy
        bad = np.unique(pairs[:, 1])
        xy[bad] = rng.uniform(-half, half, size=(len(bad), 2))
    raise ValueError(f"traffic.count: cannot place {n} vehicles {radius_m:g} m apart in the box")


def _legs(
    rng: np.random.Generator, n: int, k: int, half: float, start: np.ndarray, min_leg_m: float
) -> np.ndarray:
    """``k`` further waypoints per vehicle, each at least ``min_leg_m`` from the previous one."""
    out = np.empty((n, k, 2))
    prev = start
    for m in range(k):
        nxt = rng.uniform(-half, half, size=(n, 2))
        short = np.hypot(*(nxt - prev).T) < min_leg_m
        while short.any():
            nxt[short] = rng.uniform(-half, half, size=(int(short.sum()), 2))
            short = np.hypot(*(nxt - prev).T) < min_leg_m
        out[:, m], prev = nxt, nxt
    return out
