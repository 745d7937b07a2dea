"""Alternatives for a refused plan: a later start, another altitude layer, a reroute; each verified.

Every alternative passes :func:`~utm.deconfliction.validate_request` and
:func:`~utm.deconfliction.check_plan` exactly as a fresh submission would, so an operator who takes one is
accepted unless the airspace changed in between. (A refused candidate's rejection need not list every
reason: only the zones and intents in it steer the reroute, so capacity is not checked once they refuse.)
Layer: utm; imports airspace only.

Choices (documented here, tested in tests/utm/test_alternatives.py):

* Time shift: only later starts (an earlier one runs into the past or into what the operator avoided).
  A shift is surely refused when some volume would meet an intent the priority rule forbids (same
  space, closed times overlapping), a blocking zone while it applies (zones without weekly schedules), or
  a cell-layer while it already holds its capacity of others (:func:`~utm.deconfliction.full_windows`):
  those windows of shifts are exact (less 1 ms) and skipped without a check. The earliest conflict-free
  shift is, up to the tolerance, the end of one of them, or of a zone's window or schedule interval;
  those ends (+ ``policy.time_tolerance``, rounded up to whole seconds) are tried in increasing order,
  with a coarse grid of ``horizon / 24`` as a fallback, up to ``policy.alternatives_horizon``, each
  with a full :func:`check_plan`; in busy airspace the first one tried is nearly always the answer.
* Altitude layer: the same outlines and times, each volume stretched to one layer band of ``live.grid``
  less ``LAYER_MARGIN_M`` at each end (neighbouring bands touch, and closed heights that touch conflict);
  layers by distance between band centre and the plan's height centre, nearest first (ties: lower first);
  a layer where a volume meets a forbidden intent is skipped without a check.
* ``policy.max_alternatives`` bounds the answer (the simulator's operator takes the first, so it asks
  for one and the later searches do not run).
* Reroute: origin is the centroid of the earliest-starting volume, destination the centroid of the
  latest-ending one (skipped when they are less than a metre apart, or without a route graph). The
  corridor keeps the plan's start and, for a straight route, its end; the speed follows from that.
  The first try already avoids the intents and zones that refused the plan itself; blocking intents and
  zones found on a try are added as temporary prohibited zones for the next (zones the route graph keeps
  out of already are not added again).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import numpy as np

from airspace.cells import CellGrid, Layer
from airspace.errors import AirspaceInputError
from airspace.geofences import Applicability, Geofence, Restriction
from airspace.index import Box
from airspace.routes import RouteGraph
from airspace.volumes import Circle, Volume3D, Volume4D, format_time
from utm.decisions import Alternative
from utm.deconfliction import NOMINAL, Policy, check_plan, forbids, full_windows, validate_request
from utm.errors import InvalidRequest, PlanRejected
from utm.intents import IntentRequest, OperationalIntent
from utm.live import LiveAirspace

__all__ = ["find_alternatives"]

MAX_SHIFT_TRIES = 100
FIRST_WINDOW_S = 300.0
"""The time shift looks at shifts up to this first, then doubles up to the horizon: the airspace is read
only as far ahead as the answer lies (the same answer as one pass over the whole horizon)."""
COARSE_STEPS = 24
REROUTE_LAYERS = 2
REROUTE_PASSES = 3
_WEEK_S = 7 * 86400.0
_TOUCH_SLACK_M = 1e-3
"""Broad-phase slack before the exact test: wider than any rounding of an outline's bounds."""
LAYER_MARGIN_M = 0.5
"""How far inside its band an alternative layer's volumes keep: bands touch, and touching heights meet."""

Verdict = Callable[[tuple[Volume4D, ...]], PlanRejected | InvalidRequest | None]


def find_alternatives(
    live: LiveAirspace,
    request: IntentRequest,
    *,
    intent_id: UUID,
    previous: OperationalIntent | None,
    now: datetime,
    policy: Policy,
    routes: RouteGraph | None,
    refused: PlanRejected | None = None,
) -> tuple[Alternative, ...]:
    """Up to ``policy.max_alternatives`` (at most three) verified alternatives, in the order time shift,
    altitude layer, reroute; a search runs only while fewer than that were found. ``refused``, the plan's
    own refusal, names blockers the reroute avoids from its first try."""
    if request.state not in NOMINAL or not request.volumes:
        return ()

    forbidden_by: dict[UUID, bool] = {}

    def blocks(other: OperationalIntent) -> bool:
        """The priority rule, once per intent (each is met by many volumes)."""
        if other.id not in forbidden_by:
            forbidden_by[other.id] = forbids(request.priority, other, previous, policy)
        return forbidden_by[other.id]

    def fenced(g: Geofence) -> bool:
        return g.restriction == Restriction.PROHIBITED or (
            g.restriction == Restriction.REQ_AUTHORISATION and not request.authorisation
        )

    def verdict(volumes: tuple[Volume4D, ...]) -> PlanRejected | InvalidRequest | None:
        candidate = replace(request, volumes=volumes)
        try:
            validate_request(candidate, now=now, policy=policy)
            check_plan(
                live,
                candidate,
                intent_id=intent_id,
                previous=previous,
                now=now,
                policy=policy,
                every_reason=False,  # whether it is refused, and the zones and intents that refuse it
            )
        except (InvalidRequest, PlanRejected) as refused:
            return refused
        return None

    searches = (
        lambda: _time_shift(live, request.volumes, intent_id, policy, verdict, blocks, fenced),
        lambda: _altitude_layer(live, request.volumes, intent_id, verdict, blocks, fenced),
        lambda: _reroute(live, request.volumes, routes, verdict, refused),
    )
    found: list[Alternative] = []
    for search in searches:
        if len(found) < policy.max_alternatives and (alternative := search()) is not None:
            found.append(alternative)
    return tuple(found)


def _time_shift(
    live: LiveAirspace,
    volumes: tuple[Volume4D, ...],
    intent_id: UUID,
    policy: Policy,
    verdict: Verdict,
    blocks: Callable[[OperationalIntent], bool],
    fenced: Callable[[Geofence], bool],
) -> Alternative | None:
    horizon_s = policy.alternatives_horizon.total_seconds()
    tol_s = policy.time_tolerance.total_seconds()
    coarse = [horizon_s * k / COARSE_STEPS for k in range(1, COARSE_STEPS + 1)]
    budget, done_s, window_s = MAX_SHIFT_TRIES, 0.0, min(FIRST_WINDOW_S, horizon_s)
    while budget > 0 and done_s < horizon_s:  # windows of shifts (done_s, window_s], doubling
        forbidden, gaps_s = _skips(live, volumes, intent_id, window_s, blocks, fenced)
        shifts = {s for s in coarse if s <= window_s}
        shifts.update(_past(gap_s, tol_s) for gap_s in gaps_s if 0.0 <= gap_s <= window_s)
        tries = _outside(sorted(s for s in shifts if done_s < s <= window_s), forbidden)[:budget]
        for shift_s in tries:
            moved = tuple(
                Volume4D(v.volume, _later(v.time_start, shift_s), _later(v.time_end, shift_s))
                for v in volumes
            )
            if verdict(moved) is None:
                start = min(v.time_start for v in moved if v.time_start is not None)
                return Alternative(
                    "time_shift", moved, f"the same volumes {shift_s:g} s later, from {format_time(start)}"
                )
        budget -= len(tries)
        if _covered(forbidden, window_s, horizon_s):  # e.g. a permanent prohibited zone: nothing later helps
            return None
        done_s, window_s = window_s, min(2.0 * window_s, horizon_s)
    return None


def _skips(
    live: LiveAirspace,
    volumes: tuple[Volume4D, ...],
    intent_id: UUID,
    window_s: float,
    blocks: Callable[[OperationalIntent], bool],
    fenced: Callable[[Geofence], bool],
) -> tuple[list[tuple[float, float]], list[float]]:
    """Shift intervals at which the plan is surely refused, complete for shifts up to ``window_s``, and the
    shifts at which something it met ends (those intervals' ends, zone windows' and schedule intervals')."""
    forbidden: list[tuple[float, float]] = []
    ends: list[float] = []
    reaches = [_reach(v, window_s) for v in volumes]
    stacked = live.volumes_near_each([_every_height(r) for r in reaches], exclude=intent_id)
    zones = live.fences_near_each(reaches)
    for v, reach, near, fences in zip(volumes, reaches, stacked, zones, strict=True):
        for other, b in near:
            if blocks(other) and v.volume.intersects(b.volume):  # closed times meet for these shifts
                forbidden.append((b.t_start_s - v.t_end_s, b.t_end_s - v.t_start_s))
        for g in fences:
            ends += [end_s - v.t_start_s for end_s in _window_ends(g, v.t_start_s, reach[7])]
            if fenced(g) and any(v.volume.intersects(z) for z in g.volumes):
                forbidden += [(a - v.t_end_s, b - v.t_start_s) for a, b in _active_windows(g)]
    for v, windows in zip(volumes, full_windows(live, volumes, window_s, exclude=intent_id), strict=True):
        forbidden += [(a - v.t_end_s, b - v.t_start_s) for a, b in windows]
    return forbidden, [*ends, *(hi for _, hi in forbidden)]


def _reach(v: Volume4D, horizon_s: float) -> Box:
    """The 4D box a time shift of ``v`` reaches: its box, ``_TOUCH_SLACK_M`` wider, ``horizon_s`` longer."""
    xmin, ymin, zmin, tmin, xmax, ymax, zmax, tmax = v.box
    pad = _TOUCH_SLACK_M
    return (xmin - pad, ymin - pad, zmin, tmin, xmax + pad, ymax + pad, zmax, tmax + horizon_s)


def _every_height(box: Box) -> Box:
    """``box`` over every height: the intents there are read once for the time shift and the altitude search
    that follows (the index answers queries inside a box just asked from its rows), and the exact tests
    leave out those at other heights."""
    xmin, ymin, _, tmin, xmax, ymax, _, tmax = box
    return (xmin, ymin, -math.inf, tmin, xmax, ymax, math.inf, tmax)


def _altitude_layer(
    live: LiveAirspace,
    volumes: tuple[Volume4D, ...],
    intent_id: UUID,
    verdict: Verdict,
    blocks: Callable[[OperationalIntent], bool],
    fenced: Callable[[Geofence], bool],
) -> Alternative | None:
    if live.grid is None:
        return None
    for layer in _layers_by_distance(live.grid, volumes):
        lo_m, hi_m = layer.z_lower_m + LAYER_MARGIN_M, layer.z_upper_m - LAYER_MARGIN_M
        if all((v.volume.z_lower_m, v.volume.z_upper_m) == (lo_m, hi_m) for v in volumes):
            continue
        moved = tuple(Volume4D(v.volume.between(lo_m, hi_m), v.time_start, v.time_end) for v in volumes)
        if not _blocked(live, moved, intent_id, blocks, fenced) and verdict(moved) is None:
            return Alternative(
                "altitude_layer",
                moved,
                f"the same footprint and times on layer {layer.name} ({lo_m:g}-{hi_m:g} m)",
            )
    return None


def _blocked(
    live: LiveAirspace,
    volumes: Sequence[Volume4D],
    intent_id: UUID,
    blocks: Callable[[OperationalIntent], bool],
    fenced: Callable[[Geofence], bool],
) -> bool:
    """Whether one of ``volumes`` meets a zone it may not enter or an intent the priority rule forbids
    (closed, exact): surely refused, so no full check is needed."""
    return any(fenced(g) for met in live.geofences_meeting_each(volumes) for g in met) or any(
        blocks(live.get(oid)) for met in live.meeting_each(volumes, exclude=intent_id) for oid, _ in met
    )


def _reroute(
    live: LiveAirspace,
    volumes: tuple[Volume4D, ...],
    routes: RouteGraph | None,
    verdict: Verdict,
    refused: PlanRejected | None,
) -> Alternative | None:
    if routes is None:
        return None
    first = min(volumes, key=lambda v: v.t_start_s)
    last = max(volumes, key=lambda v: v.t_end_s)
    origin, destination = _centroid(first.volume), _centroid(last.volume)
    length_m = math.dist(origin, destination)
    duration_s = last.t_end_s - first.t_start_s
    if length_m < 1.0 or first.time_start is None:
        return None
    buffer_s = min(30.0, duration_s / 4.0)
    speed_mps = length_m / (duration_s - 2.0 * buffer_s)
    lateral_m = min(50.0, routes.grid.cell_size_m / 2.0)
    known = _blockers(live, routes, refused) if refused is not None else {}
    seeded = _avoiding(routes, known) if known else routes
    for layer in _layers_by_distance(routes.grid, volumes)[:REROUTE_LAYERS]:
        extra, graph = dict(known), seeded
        for _ in range(REROUTE_PASSES):
            try:
                route = graph.route(
                    origin,
                    destination,
                    t0=first.time_start + timedelta(seconds=buffer_s),
                    speed_mps=speed_mps,
                    layer=layer.name,
                    lateral_buffer_m=lateral_m,
                    time_buffer_s=buffer_s,
                )
            except AirspaceInputError:
                break
            why = verdict(route.corridor)
            if why is None:
                return Alternative(
                    "reroute",
                    route.corridor,
                    f"a corridor of {len(route.corridor)} legs on layer {layer.name} around the blocking "
                    "traffic and zones",
                    route.points,
                )
            new = _blockers(live, routes, why)
            if not isinstance(why, PlanRejected) or new.keys() <= extra.keys():
                break
            added = {k: zone for k, zone in new.items() if k not in extra}
            graph = _avoiding(graph, added)  # each zone's cells computed once
            extra.update(added)
    return None


def _blockers(
    live: LiveAirspace, routes: RouteGraph, refused: PlanRejected | InvalidRequest
) -> dict[str, tuple[Geofence, np.ndarray | None]]:
    """Temporary PROHIBITED zones for what refused a corridor: each blocking intent volume, each zone the
    route graph does not already keep out of; each with its cells on the route graph's grid where the live
    picture keeps them (a nominal volume's, on the same grid), else ``None``."""
    out: dict[str, tuple[Geofence, np.ndarray | None]] = {}
    for c in getattr(refused, "conflicts", ()):
        if c.kind == "geofence" and (g := live.geofence(c.ref)) is not None and not routes.avoids(g):
            out[c.ref] = replace(g, restriction=Restriction.PROHIBITED), None
        elif c.kind == "intent" and (other := live.intents.get(UUID(c.ref))) is not None:
            kept = live.cells_of_intent(other.id) if live.grid is routes.grid else ()
            for n, b in enumerate(other.all_volumes):
                key = f"intent {c.ref} #{n}"
                zone = Geofence(
                    key, Restriction.PROHIBITED, (b.volume,), (Applicability(b.time_start, b.time_end),)
                )
                out[key] = zone, kept[n] if n < len(kept) else None
    return out


def _avoiding(graph: RouteGraph, zones: dict[str, tuple[Geofence, np.ndarray | None]]) -> RouteGraph:
    """``graph`` also keeping out of ``zones`` (:func:`_blockers`' answer), with the cells already known."""
    return graph.with_geofences([g for g, _ in zones.values()], [cells for _, cells in zones.values()])


def _layers_by_distance(grid: CellGrid, volumes: Iterable[Volume4D]) -> list[Layer]:
    volumes = list(volumes)
    lo = min(v.volume.z_lower_m for v in volumes)
    hi = max(v.volume.z_upper_m for v in volumes)
    centre = (lo + hi) / 2.0
    return sorted(
        grid.layers, key=lambda lay: (abs((lay.z_lower_m + lay.z_upper_m) / 2.0 - centre), lay.z_lower_m)
    )


def _window_ends(g: Geofence, t_min_s: float, t_max_s: float) -> list[float]:
    """Ends (POSIX s) of the zone's applicability windows and weekly schedule intervals within the range."""
    out = []
    week0 = _monday_s(t_min_s)
    for a in g.applicability:
        if a.end is not None:
            out.append(a.end.timestamp())
        for schedule in a.schedules:
            for _, hi_s in schedule.intervals_s:
                for w in range(-1, int((t_max_s - week0) // _WEEK_S) + 2):
                    out.append(week0 + w * _WEEK_S + hi_s)
    return [t for t in out if t_min_s <= t <= t_max_s]


def _active_windows(g: Geofence) -> list[tuple[float, float]]:
    """Closed windows (POSIX s, infinite when open) when the zone applies; none when a weekly schedule
    limits it (those are left to the full check). From :attr:`Geofence.windows_us`: an exact microsecond
    count over 10**6 is the float ``datetime.timestamp()`` gives."""
    windows = g.windows_us
    return [] if windows is None else [(lo / 10**6, hi / 10**6) for lo, hi in windows]


def _monday_s(t_s: float) -> float:
    """POSIX seconds of the Monday 00:00 UTC starting the week of ``t_s``."""
    day = datetime.fromtimestamp(t_s, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day - timedelta(days=day.weekday())).timestamp()


def _outside(shifts: list[float], intervals: list[tuple[float, float]]) -> list[float]:
    """The sorted ``shifts`` that lie in none of the closed ``intervals`` (each shrunk by 1 ms, so a shift
    is only dropped when it surely conflicts: what is left still gets the full check)."""
    keep, merged = [], _shrunk(intervals)
    k, reach = 0, -math.inf
    for s in shifts:
        while k < len(merged) and merged[k][0] <= s:
            reach = max(reach, merged[k][1])
            k += 1
        if s > reach:
            keep.append(s)
    return keep


def _covered(intervals: list[tuple[float, float]], lo_s: float, hi_s: float) -> bool:
    """Whether the ``intervals``, shrunk as :func:`_outside` shrinks them, hold every shift of
    ``(lo_s, hi_s]``: then :func:`_outside` drops every shift there is left to try."""
    reach = lo_s
    for a, b in _shrunk(intervals):
        if reach >= hi_s or a > reach:
            break
        reach = max(reach, b)
    return reach >= hi_s


def _shrunk(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The closed intervals 1 ms narrower at each end (those shorter than 2 ms dropped), sorted."""
    return sorted((lo + 1e-3, hi - 1e-3) for lo, hi in intervals if hi - lo > 2e-3)


def _past(gap_s: float, tol_s: float) -> float:
    """Whole seconds beyond ``gap_s`` by ``tol_s``, and strictly beyond (closed intervals: touching meets)."""
    shift_s = float(math.ceil(gap_s + tol_s))
    return shift_s if shift_s > gap_s else float(math.floor(gap_s) + 1)


def _later(t: datetime | None, shift_s: float) -> datetime | None:
    return None if t is None else t + timedelta(seconds=shift_s)


def _centroid(volume: Volume3D) -> tuple[float, float]:
    """Centre of a circle, centroid of a polygon (local metres)."""
    o = volume.outline
    if isinstance(o, Circle):
        return o.center_x_m, o.center_y_m
    centroid = o.centroid  # computed per access: once
    return float(centroid.x), float(centroid.y)
