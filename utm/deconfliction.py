"""Strategic deconfliction (F3548 §1.6 of STANDARDS.md): request validation and the plan check.

:func:`validate_request` applies the reference USS's validations (priority range, volumes per state,
OPIN0015, OPIN0030, OPIN0040, vertex and area limits). :func:`check_plan` decides a nominal plan against
the live picture: geofences, other intents (priority rule, equal-priority policy, the SCD0030/SCD0050
pre-existing-conflict exception) and cell capacity. Candidates always come from the space-time index.

When several reasons apply, the rejection's ``reason`` is the first of geofence, conflict, capacity (a
zone is not negotiable, an intent is another operator's, a cell is a shared budget), and its
``conflicts`` list every finding of every kind, sorted by (kind, ref, time), so alternatives can see
all blockers. Layer: utm; imports airspace only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import shapely

from airspace.geofences import Geofence, Restriction
from airspace.volumes import Circle, Volume4D, format_time, vertex_total
from utm.decisions import Advisory, Conflict
from utm.errors import AreaTooLarge, InvalidRequest, PlanRejected
from utm.intents import IntentRequest, OperationalIntent, State
from utm.live import Cell, LiveAirspace

__all__ = [
    "Policy",
    "capacity_conflicts",
    "check_plan",
    "forbids",
    "full_windows",
    "validate_area",
    "validate_request",
]

NOMINAL = frozenset({State.ACCEPTED, State.ACTIVATED})
_KIND_ORDER = {"geofence": 0, "intent": 1, "capacity": 2}
_REASON = {"geofence": "geofence", "intent": "conflict", "capacity": "capacity"}


@dataclass(frozen=True, slots=True)
class Policy:
    """A region's deconfliction rules; defaults are the InterUSS reference USS's (STANDARDS.md §1.6)."""

    allow_equal_priority: bool = False
    priority_lower_exclusive: int = -1
    priority_upper: int = 100
    max_vertices: int = 10_000
    max_plan_horizon: timedelta = timedelta(days=30)
    time_tolerance: timedelta = timedelta(seconds=5)
    max_area_km2: float = 2500.0
    alternatives_horizon: timedelta = timedelta(hours=2)
    max_alternatives: int = 3  # a refusal's verified alternatives; a simulated operator takes the first


def validate_request(request: IntentRequest, *, now: datetime, policy: Policy) -> None:
    """Raise :class:`InvalidRequest` (or :class:`AreaTooLarge`) naming the field unless F3548 allows it.

    The area is the union of the volumes' footprints (circles as 128-gon approximations, a 0.2 %
    underestimate), not their bounding box, so a long diagonal corridor is not charged for the empty
    square around it; the sum of the areas is tried first, and the union is built only if that sum is over.
    """
    p = request.priority
    if isinstance(p, bool) or not isinstance(p, int):
        raise InvalidRequest("priority", f"must be an integer ({p!r})")
    if not policy.priority_lower_exclusive < p <= policy.priority_upper:
        raise InvalidRequest(
            "priority", f"must be in ]{policy.priority_lower_exclusive}, {policy.priority_upper}] ({p})"
        )
    _check_presence(request)
    groups = (("volumes", request.volumes), ("off_nominal_volumes", request.off_nominal_volumes))
    for name, volumes in groups:
        for n, v in enumerate(volumes):
            _check_volume(v, f"{name}[{n}]")
    vertices = vertex_total([v.volume for v in request.all_volumes])
    if vertices > policy.max_vertices:
        raise InvalidRequest(
            "volumes",
            f"{vertices} vertices in all volumes; at most {policy.max_vertices} (a circle counts 1)",
        )
    _check_area(request.all_volumes, policy, "volumes")
    _check_times(request, now, policy)


def validate_area(area: Volume4D, *, policy: Policy, field: str = "area_of_interest") -> None:
    """Raise :class:`AreaTooLarge` when the footprint of ``area`` exceeds ``policy.max_area_km2``."""
    _check_area((area,), policy, field)


def check_plan(
    live: LiveAirspace,
    request: IntentRequest,
    *,
    intent_id: UUID,
    previous: OperationalIntent | None,
    now: datetime,
    policy: Policy,
    every_reason: bool = True,
) -> tuple[Advisory, ...]:
    """Advisories for an acceptable plan; :class:`PlanRejected` (no alternatives) otherwise.

    Only Accepted and Activated plans are checked: Nonconforming and Contingent updates are never
    rejected (F3548, "no conflicts are disallowed if the flight is not nominal"). The decision depends
    on the volumes' own windows, not on ``now`` (taken for the service's uniform call). A conflict the
    priority rule allows (higher priority, or equal where the policy allows it) yields a
    ``conflict_created`` advisory so the service notifies the other operator (SCD0090/SCD0095).

    ``every_reason=False`` (a search for alternatives: is a candidate refused, and by which zones and
    intents?) skips the capacity check, the costliest, once a zone or an intent refuses the plan: the same
    decision, with a rejection listing those blockers only.
    """
    del now  # the plan's windows decide; kept so every decision function has the same signature
    if request.state not in NOMINAL:
        return ()
    advisories: dict[tuple[str, str], Advisory] = {}
    conflicts = _geofence_findings(live, request, advisories)
    conflicts += _intent_findings(live, request, intent_id, previous, policy, advisories)
    if live.grid is not None and (every_reason or not conflicts):
        conflicts += capacity_conflicts(live, request.volumes, exclude=intent_id)
    if conflicts:
        conflicts.sort(key=_conflict_order)
        reason = _REASON[conflicts[0].kind]
        shown = [c.detail for c in conflicts if _REASON[c.kind] == reason]
        more = f"; and {len(shown) - 5} more" if len(shown) > 5 else ""
        raise PlanRejected(reason, "; ".join(shown[:5]) + more, conflicts)  # type: ignore[arg-type]
    return tuple(advisories[k] for k in sorted(advisories))


def capacity_conflicts(
    live: LiveAirspace, volumes: Sequence[Volume4D], *, exclude: UUID | None = None
) -> list[Conflict]:
    """Cell-layers that ``volumes`` would put over capacity, with the windows when they would be.

    At each instant a cell-layer holds the distinct intents whose nominal volumes touch it (closed box,
    closed interval), in any state, plus this plan; only instants when the plan itself is there count.
    Work is bounded by the plan: only the cells it touches, only the spans the live occupancy holds there
    during the plan's stay, and one sweep over interval endpoints per cell that could overflow.
    """
    grid = live.grid
    if grid is None:
        return []
    out = []
    for (i, j, k), capacity, spans in _plan_cells(live, volumes):
        stay = min(s for s, _ in spans), max(e for _, e in spans)
        by_intent = _occupants_by_intent(live, (i, j, k), stay, exclude, capacity)
        if by_intent is None:  # with the plan, at most capacity intents: this cell cannot overflow
            continue
        for start_s, end_s, peak in _saturated(spans, by_intent, capacity):
            ref = f"cell {i},{j} layer {grid.layers[k].name}"
            when = f"{_fmt(start_s)} to {_fmt(end_s)}"
            detail = f"{ref} would hold {peak} intents at once (capacity {capacity}) from {when}"
            out.append(Conflict("capacity", ref, _dt(start_s), _dt(end_s), detail))
    return out


def full_windows(
    live: LiveAirspace, volumes: Sequence[Volume4D], horizon_s: float, *, exclude: UUID | None = None
) -> list[list[tuple[float, float]]]:
    """For each volume, the closed windows when a cell-layer its footprint touches already holds its capacity
    of other intents: a volume there then (shifted in time, same footprint) overflows it. Complete for shifts
    of up to ``horizon_s``: each cell is read from the earliest start of the volumes touching it to their
    latest end plus ``horizon_s``, no further (a long plan's late cells skip its early hours).

    The exact complement of what :func:`capacity_conflicts` accepts, so a search over start times can skip
    those windows without a check.
    """
    if live.grid is None:
        return [[] for _ in volumes]
    full: dict[Cell, list[tuple[float, float]]] = {}
    for cell, capacity, spans in _plan_cells(live, volumes):
        reach = (min(s for s, _ in spans), max(e for _, e in spans) + horizon_s)
        by_intent = _occupants_by_intent(live, cell, reach, exclude, capacity)
        if by_intent is not None:  # a plan present throughout sees every instant others fill the cell
            full[cell] = [(a, b) for a, b, _ in _saturated([reach], by_intent, capacity)]
    return [
        sorted(w for c in cells.tolist() for w in full.get(tuple(c), ()))
        for cells in live.cells_of_each([v.volume for v in volumes])
    ]


def _plan_cells(
    live: LiveAirspace, volumes: Sequence[Volume4D]
) -> list[tuple[Cell, int, list[tuple[float, float]]]]:
    """The cell-layers the volumes' footprints touch, sorted, each with its capacity (one lookup for all)
    and the volumes' time windows there. Needs ``live.grid``."""
    out: dict[Cell, list[tuple[float, float]]] = {}
    for v, cells in zip(volumes, live.cells_of_each([v.volume for v in volumes]), strict=True):
        window = (v.t_start_s, v.t_end_s)
        for i, j, k in cells.tolist():
            out.setdefault((i, j, k), []).append(window)
    if not out:
        return []
    keys = sorted(out)
    capacities = live.grid.capacity_of_cells(keys)  # type: ignore[union-attr]
    return [(cell, capacity, out[cell]) for cell, capacity in zip(keys, capacities, strict=True)]


def _occupants_by_intent(
    live: LiveAirspace, cell: Cell, window: tuple[float, float], exclude: UUID | None, capacity: int
) -> dict[object, list[tuple[float, float]]] | None:
    """Spans of the other intents in ``cell`` during the closed window, grouped by intent; None when fewer
    than ``capacity`` intents are there (they cannot fill the cell), known without grouping when fewer
    spans are."""
    spans = live.occupants(cell, *window)
    if len(spans) < capacity:
        return None
    out: dict[object, list[tuple[float, float]]] = {}
    for start_s, end_s, key in spans:
        out.setdefault(key, []).append((start_s, end_s))
    out.pop(exclude, None)  # once, not a UUID comparison per span
    return out if len(out) >= capacity else None


def _check_presence(request: IntentRequest) -> None:
    """Volumes and off-nominal volumes as each state requires (STANDARDS.md §1.3, OPIN0015)."""
    state = request.state
    if state != State.CONTINGENT and not request.volumes:
        raise InvalidRequest("volumes", f"at least one volume is required when {state}")
    if state == State.CONTINGENT and request.volumes:
        raise InvalidRequest("volumes", "must be empty when Contingent (use off_nominal_volumes)")
    if state in (State.NONCONFORMING, State.CONTINGENT) and not request.off_nominal_volumes:
        raise InvalidRequest(
            "off_nominal_volumes", f"at least one off-nominal volume is required when {state}"
        )
    if state in NOMINAL and request.off_nominal_volumes:
        raise InvalidRequest("off_nominal_volumes", f"must be empty when {state} (F3548 OPIN0015)")


def _check_volume(v: Volume4D, field: str) -> None:
    """An operational intent's volume needs both times and finite altitudes (F3548 Volume4D description)."""
    for name in ("time_start", "time_end"):
        if getattr(v, name) is None:
            raise InvalidRequest(f"{field}.{name}", "is required for an operational intent volume")
    for name, z in (("altitude_lower", v.volume.z_lower_m), ("altitude_upper", v.volume.z_upper_m)):
        if not math.isfinite(z):
            raise InvalidRequest(f"{field}.volume.{name}", f"is required and must be finite ({z})")


def _check_area(volumes: Iterable[Volume4D], policy: Policy, field: str) -> None:
    """Area of the union of the outlines; the union is computed only when the plain sum is over the limit.

    A single outline over the limit settles it without a union (the union is at least as large), which also
    keeps astronomically large circles (finite radius, infinite area) out of shapely.
    """
    outlines = [v.volume for v in volumes]
    areas_m2 = [
        math.pi * o.outline.radius_m * o.outline.radius_m if isinstance(o.outline, Circle) else o.outline.area
        for o in outlines
    ]
    limit_m2 = policy.max_area_km2 * 1e6
    if sum(areas_m2) <= limit_m2:
        return
    largest_m2 = max(areas_m2)
    area_m2 = (
        largest_m2 if largest_m2 > limit_m2 else shapely.union_all([o.footprint() for o in outlines]).area
    )
    if not area_m2 <= limit_m2:
        area = f"{area_m2 / 1e6:.1f} km²" if math.isfinite(area_m2) else "an unbounded area"
        raise AreaTooLarge(field, f"covers {area}, over the maximum {policy.max_area_km2:g} km²")


def _check_times(request: IntentRequest, now: datetime, policy: Policy) -> None:
    """OPIN0040 (not entirely in the past), OPIN0030 (Accepted within the horizon); Activated is active now.

    Runs after :func:`_check_volume`, so every volume has both times.
    """
    tol = policy.time_tolerance
    name, n, last = max(_labelled(request), key=lambda item: item[2].t_end_s)
    if last.t_end_s < (now - tol).timestamp():
        raise InvalidRequest(
            f"{name}[{n}].time_end",
            f"the intent ends in the past (F3548 OPIN0040): {_fmt(last.t_end_s)} is before now "
            f"{format_time(now)} minus {tol.total_seconds():g} s",
        )
    if request.state == State.ACCEPTED:
        n, first = min(enumerate(request.volumes), key=lambda item: item[1].t_start_s)
        if first.t_start_s > (now + policy.max_plan_horizon).timestamp():
            raise InvalidRequest(
                f"volumes[{n}].time_start",
                f"starts {_fmt(first.t_start_s)}, more than {policy.max_plan_horizon.days} days after now "
                f"{format_time(now)} (F3548 OPIN0030)",
            )
    now_s, tol_s = now.timestamp(), tol.total_seconds()
    if request.state == State.ACTIVATED and not any(
        v.t_start_s - tol_s <= now_s <= v.t_end_s + tol_s for v in request.volumes
    ):
        raise InvalidRequest(
            "volumes", f"an Activated intent needs a volume active now ({format_time(now)}, ±{tol_s:g} s)"
        )


def _labelled(request: IntentRequest) -> list[tuple[str, int, Volume4D]]:
    return [("volumes", n, v) for n, v in enumerate(request.volumes)] + [
        ("off_nominal_volumes", n, v) for n, v in enumerate(request.off_nominal_volumes)
    ]


def _geofence_findings(
    live: LiveAirspace, request: IntentRequest, advisories: dict[tuple[str, str], Advisory]
) -> list[Conflict]:
    """PROHIBITED and unauthorised REQ_AUTHORISATION zones a nominal volume meets; advisories for others."""
    hits: dict[str, tuple[Geofence, list[int]]] = {}
    for n, met in enumerate(live.geofences_meeting_each(request.volumes)):
        for g in met:
            hits.setdefault(g.identifier, (g, []))[1].append(n)
    out = []
    for ident in sorted(hits):
        g, where = hits[ident]
        said = f": {g.message}" if g.message else ""
        if g.restriction == Restriction.CONDITIONAL:
            advisories[("geofence_condition", ident)] = Advisory(
                "geofence_condition", ident, g.message or f"conditions apply in zone {ident}"
            )
        elif g.restriction == Restriction.REQ_AUTHORISATION and request.authorisation:
            advisories[("geofence_authorisation", ident)] = Advisory(
                "geofence_authorisation",
                ident,
                f"zone {ident} entered under authorisation {request.authorisation}{said}",
            )
        elif g.restriction in (Restriction.PROHIBITED, Restriction.REQ_AUTHORISATION):
            why = (
                "enter(s) the active prohibited zone"
                if g.restriction == Restriction.PROHIBITED
                else "enter(s) a zone requiring authorisation: an authorisation reference is needed for zone"
            )
            vols = [request.volumes[n] for n in where]
            out.append(
                Conflict(
                    "geofence",
                    ident,
                    min(v.time_start for v in vols),  # type: ignore[type-var]
                    max(v.time_end for v in vols),  # type: ignore[type-var]
                    f"volumes{where} {why} {ident}{f' ({g.name})' if g.name else ''}{said}",
                )
            )
    return out


def _intent_findings(
    live: LiveAirspace,
    request: IntentRequest,
    intent_id: UUID,
    previous: OperationalIntent | None,
    policy: Policy,
    advisories: dict[tuple[str, str], Advisory],
) -> list[Conflict]:
    """Other intents a nominal volume meets that the priority rule forbids (SCD0015-SCD0050)."""
    windows: dict[UUID, list[tuple[int, datetime | None, datetime | None]]] = {}
    met = live.meeting_each(request.volumes, exclude=intent_id)
    for n, (v, of_v) in enumerate(zip(request.volumes, met, strict=True)):
        for oid, b in of_v:
            windows.setdefault(oid, []).append((n, *_overlap(v, b)))
    out = []
    p = request.priority
    for oid in sorted(windows):
        other, found = live.get(oid), windows[oid]
        start, end = _span(found)
        if _may_overlap(p, other, policy):
            advisories[("conflict_created", str(oid))] = Advisory(
                "conflict_created",
                str(oid),
                f"plan {intent_id} (priority {p}) overlaps intent {oid} (priority {other.priority}) "
                f"from {_fmt_dt(start)} to {_fmt_dt(end)}",
            )
            continue
        if _pre_existing(previous, other):
            continue
        rule = "equal priority may not conflict here" if p == other.priority else "a lower priority may not"
        where = sorted({n for n, _, _ in found})
        out.append(
            Conflict(
                "intent",
                str(oid),
                start,
                end,
                f"volumes{where} intersect intent {oid} ({other.state}, priority {other.priority}; this plan "
                f"has priority {p}: {rule}) from {_fmt_dt(start)} to {_fmt_dt(end)}",
            )
        )
    return out


def forbids(
    priority: float, other: OperationalIntent, previous: OperationalIntent | None, policy: Policy
) -> bool:
    """Whether a plan of ``priority`` (updating ``previous``) may not meet ``other`` (SCD0015-SCD0050)."""
    return not _may_overlap(priority, other, policy) and not _pre_existing(previous, other)


def _may_overlap(priority: float, other: OperationalIntent, policy: Policy) -> bool:
    """A higher priority may overlap a lower one; equal ones only where the policy allows it."""
    return priority > other.priority or (priority == other.priority and policy.allow_equal_priority)


def _pre_existing(previous: OperationalIntent | None, other: OperationalIntent) -> bool:
    """SCD0030/SCD0050: an Activated flight's old version already met this Activated intent."""
    return (
        previous is not None
        and previous.state == State.ACTIVATED
        and other.state == State.ACTIVATED
        and any(a.intersects(b) for a in previous.volumes for b in other.all_volumes)
    )


def _overlap(a: Volume4D, b: Volume4D) -> tuple[datetime | None, datetime | None]:
    starts = [t for t in (a.time_start, b.time_start) if t is not None]
    ends = [t for t in (a.time_end, b.time_end) if t is not None]
    return (max(starts) if starts else None), (min(ends) if ends else None)


def _span(
    found: list[tuple[int, datetime | None, datetime | None]],
) -> tuple[datetime | None, datetime | None]:
    starts, ends = [s for _, s, _ in found], [e for _, _, e in found]
    return (
        None if None in starts else min(starts),  # type: ignore[type-var]
        None if None in ends else max(ends),  # type: ignore[type-var]
    )


def _saturated(
    plan: list[tuple[float, float]], others: dict[object, list[tuple[float, float]]], capacity: int
) -> list[tuple[float, float, int]]:
    """Closed windows ``(start_s, end_s, peak)`` when the plan is present and occupants exceed capacity.

    Each occupant's spans are merged first (distinct intents are counted, not volumes); the sweep
    applies all starts at an instant before its ends, since closed intervals that touch share that instant.
    """
    events: dict[float, list[int]] = {}
    for spans, mine in ((plan, 1), *((spans, 0) for spans in others.values())):
        for a, b in _merged(spans):
            start, end = events.setdefault(a, [0, 0, 0, 0]), events.setdefault(b, [0, 0, 0, 0])
            start[0] += 1
            end[1] += 1
            start[2] += mine
            end[3] += mine
    out: list[tuple[float, float, int]] = []
    count = present = 0
    opened: float | None = None
    peak = 0
    for t in sorted(events):
        starts, ends, plan_starts, plan_ends = events[t]
        count, present = count + starts, present + plan_starts
        if present and count > capacity:
            opened = t if opened is None else opened
            peak = max(peak, count)
        count, present = count - ends, present - plan_ends
        if opened is not None and not (present and count > capacity):
            out.append((opened, t, peak))
            opened, peak = None, 0
    return out


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Union of closed intervals (touching ones merge), sorted."""
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _conflict_order(c: Conflict) -> tuple:
    start = c.time_start.timestamp() if c.time_start else -math.inf
    end = c.time_end.timestamp() if c.time_end else math.inf
    return (_KIND_ORDER[c.kind], c.ref, start, end, c.detail)


def _dt(t_s: float) -> datetime | None:
    return datetime.fromtimestamp(t_s, UTC) if math.isfinite(t_s) else None


def _fmt(t_s: float) -> str:
    return _fmt_dt(_dt(t_s))


def _fmt_dt(t: datetime | None) -> str:
    return "unbounded" if t is None else format_time(t)
