"""Incidents of a run: every loss of separation (LoS) and NMAC in its event log, with what CD&R did.

An incident is one ``los_start``..``los_end`` episode of a pair of flights ``a < b``. Its minimum
separations are not limited to the state sampling: between consecutive samples each vehicle moves
linearly between its two sampled positions, and the closed-form closest approach of the relative motion
on that interval is taken, so an encounter whose closest point falls between ticks is measured exactly
(for straight constant-velocity flight). Whether CD&R saw it coming, and how many advisories reached the
parties, come from the same log's conflict and advisory events. ``utm6g incidents`` prints them.

Layer: sim; imports numpy and pyarrow, nothing of ours above sim.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sim.eventlog import EventLogError, RunLog
from sim.pairs import pair_keys

__all__ = [
    "WINDOW_S",
    "Approach",
    "Episodes",
    "Incident",
    "closest_approach",
    "episodes",
    "find_incidents",
    "format_incidents",
    "incidents_json",
]

Severity = Literal["NMAC", "LoS"]

WINDOW_S = (60.0, 30.0)
"""Seconds around an incident that reports show and what-if re-runs compare (before start, after end)."""

_KINDS = (
    "los_start",
    "los_end",
    "nmac",
    "conflict_start",
    "conflict_end",
    "advisory_issued",
    "advisory_delivered",
)
_STATE_COLUMNS = ("t_s", "flight", "x_m", "y_m", "z_m")


@dataclass(frozen=True, slots=True)
class Incident:
    """One LoS episode of flights ``a < b``: when, who, how close, whether detected and advised.

    ``id`` is ``"I0001"``, ``"I0002"``, ... in (start_s, a, b) order, so it is the same for the same log.
    Party fields are ``(a's, b's)``. Separations are minima over the episode (None without a common state
    sample); ``min_normalized`` is the smallest ``max(dh / horizontal_m, |dz| / vertical_m)``, reached at
    ``closest_s``. ``conflict_detected_s`` is the start of the pair's first conflict episode that was open
    during the look-ahead before ``start_s`` (CD&R first predicted this encounter then; an episode ends as
    soon as a resolution clears the prediction, so later ones may follow); ``warning_s = start_s -
    conflict_detected_s``. Advisory counts are the parties' advisory events from
    the detection (or one look-ahead before ``start_s`` when none) to ``end_s``, whichever conflict they
    answered: an advisory names only the most urgent of its vehicle's conflicts (``other``).
    """

    id: str
    start_s: float
    end_s: float
    a: int
    b: int
    vehicle: tuple[str, str]
    kind: tuple[str, str]
    operator: tuple[str, str]
    cooperative: tuple[bool, bool]
    severity: Severity
    min_horizontal_m: float | None
    min_vertical_m: float | None
    closest_s: float | None
    min_normalized: float | None
    conflict_detected_s: float | None
    warning_s: float | None
    advisories_issued: int
    advisories_delivered: int

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data in field order; the party pairs become two-item lists."""
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True, slots=True)
class Episodes:
    """Pair episodes of one kind (LoS, conflict), sorted by (pair key, start); ``sim.pairs.split_keys``
    gives the flights."""

    key: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray


def _setting(scenario: Mapping[str, Any], path: str) -> float:
    """A number of the header's resolved scenario by dotted path; EventLogError names a missing one."""
    value: Any = scenario
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise EventLogError(f"header.scenario.{path}", "is required to find incidents")
        value = value[key]
    return float(value)


def _of_kind(events: pa.Table, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t_s, flight, other)`` of the events of one kind, in log order."""
    rows = events.filter(pc.equal(events.column("kind"), kind))
    return tuple(rows.column(name).to_numpy() for name in ("t_s", "flight", "other"))


def episodes(events: pa.Table, name: str) -> Episodes:
    """Match each pair's k-th ``<name>_start`` with its k-th ``<name>_end`` (episodes never overlap)."""
    t0, a0, b0 = _of_kind(events, f"{name}_start")
    t1, a1, b1 = _of_kind(events, f"{name}_end")
    k0, k1 = pair_keys(a0, b0), pair_keys(a1, b1)
    o0, o1 = np.lexsort((t0, k0)), np.lexsort((t1, k1))
    k0, t0, k1, t1 = k0.take(o0), t0.take(o0), k1.take(o1), t1.take(o1)
    if len(k0) != len(k1) or (k0 != k1).any() or (t1 < t0).any():
        raise EventLogError("events", f"{name}_start and {name}_end events do not pair up")
    return Episodes(k0, t0, t1)


def _by_key(key: np.ndarray, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keys and times sorted by (key, time), for :func:`_window`."""
    order = np.lexsort((t_s, key))
    return key.take(order), t_s.take(order)


def _span(sorted_keys: np.ndarray, key: int) -> slice:
    """The rows of one key in an array sorted by key."""
    key = sorted_keys.dtype.type(key)  # a Python int would make numpy convert the whole array per call
    return slice(int(sorted_keys.searchsorted(key, "left")), int(sorted_keys.searchsorted(key, "right")))


def _window(sorted_keys: np.ndarray, t_s: np.ndarray, key: int, lo_s: float, hi_s: float) -> slice:
    """The rows of one key with ``lo_s <= t_s <= hi_s``, in arrays sorted by (key, time)."""
    rows = _span(sorted_keys, key)
    times = t_s[rows]
    return slice(
        rows.start + int(times.searchsorted(lo_s, "left")),
        rows.start + int(times.searchsorted(hi_s, "right")),
    )


def _count(keyed: tuple[np.ndarray, np.ndarray], keys: Sequence[int], lo_s: float, hi_s: float) -> int:
    """How many events of the given keys fall in ``[lo_s, hi_s]``."""
    total = 0
    for key in keys:
        rows = _window(*keyed, key, lo_s, hi_s)
        total += rows.stop - rows.start
    return total


def _quadratic_roots(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Real roots of ``a s^2 + b s + c`` as (n, 2), NaN/inf where there are none (the linear root when
    ``a == 0``); the cancellation-free form (Numerical Recipes 5.6)."""
    disc = b * b - 4.0 * a * c
    q = -0.5 * (b + np.copysign(np.sqrt(np.maximum(disc, 0.0)), b))
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = np.column_stack([q / a, c / q])
    roots[disc < 0.0] = np.nan
    return roots


def _interval_minima(
    t0_s: np.ndarray, t1_s: np.ndarray, r0_m: np.ndarray, r1_m: np.ndarray, h_m: float, v_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact minima over each interval of a relative position moving linearly from r0 (at t0) to r1.

    Returns (n,) arrays: the smallest horizontal distance, the smallest |dz|, the smallest normalized
    separation ``max(dh / h_m, |dz| / v_m)`` and its time. Both parts are convex in time, so their maximum
    is smallest at an end of the interval, at either part's own minimum, or where the two parts are equal
    (a quadratic): those six candidates are evaluated. A zero-length interval gives its sample's values.

    >>> t0, t1 = np.array([0.0, 5.0]), np.array([1.0, 5.0])
    >>> r0 = np.array([[-10.0, 30.0, 6.0], [40.0, 0.0, 3.0]])  # (m) passes 30 m abeam; a single sample
    >>> r1 = np.array([[10.0, 30.0, 2.0], [40.0, 0.0, 3.0]])
    >>> [x.tolist() for x in _interval_minima(t0, t1, r0, r1, 50.0, 15.0)]
    [[30.0, 40.0], [2.0, 3.0], [0.6, 0.8], [0.5, 5.0]]
    """
    dt_s = t1_s - t0_s
    vel = np.divide(r1_m - r0_m, dt_s[:, None], out=np.zeros_like(r0_m), where=dt_s[:, None] > 0.0)
    px, py, pz = r0_m[:, 0], r0_m[:, 1], r0_m[:, 2]
    vx, vy, vz = vel[:, 0], vel[:, 1], vel[:, 2]
    vv, pv, pp = vx * vx + vy * vy, px * vx + py * vy, px * px + py * py
    zero = np.zeros_like(dt_s)
    s_h = np.divide(-pv, vv, out=zero.copy(), where=vv > 0.0)  # horizontal CPA
    s_z = np.divide(-pz, vz, out=zero.copy(), where=vz != 0.0)  # vertical crossing
    hh, vv_m = 1.0 / (h_m * h_m), 1.0 / (v_m * v_m)
    roots = _quadratic_roots(  # dh^2 / h^2 = dz^2 / v^2
        vv * hh - vz * vz * vv_m, 2.0 * (pv * hh - pz * vz * vv_m), pp * hh - pz * pz * vv_m
    )
    s = np.column_stack([zero, dt_s, s_h, s_z, roots])
    s = np.clip(np.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0), 0.0, dt_s[:, None])
    dh = np.hypot(px[:, None] + vx[:, None] * s, py[:, None] + vy[:, None] * s)
    dz = np.abs(pz[:, None] + vz[:, None] * s)
    norm = np.maximum(dh / h_m, dz / v_m)
    best = norm.argmin(axis=1)
    rows = np.arange(len(dt_s))
    return dh[:, 2], dz[:, 3], norm[rows, best], t0_s + s[rows, best]


def _read_states(run: RunLog, flights: np.ndarray, lo_s: float, hi_s: float) -> dict[str, np.ndarray]:
    """The state rows of ``flights`` in ``[lo_s, hi_s]``, sorted by (flight, t_s); one streamed pass."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in _STATE_COLUMNS}
    for batch in run.iter_states(_STATE_COLUMNS):
        t_s, flight = batch.column(0).to_numpy(), batch.column(1).to_numpy()
        keep = ((t_s >= lo_s) & (t_s <= hi_s) & np.isin(flight, flights)).nonzero()[0]
        for name, column in zip(_STATE_COLUMNS, batch.columns, strict=True):
            parts[name].append(column.to_numpy().take(keep))
    rows = {name: np.concatenate(chunks) if chunks else np.empty(0) for name, chunks in parts.items()}
    order = np.lexsort((rows["t_s"], rows["flight"]))
    return {name: column.take(order) for name, column in rows.items()}


def _separations(
    run: RunLog, a: np.ndarray, b: np.ndarray, lo_s: np.ndarray, hi_s: np.ndarray, h_m: float, v_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pair ``(a[i], b[i])`` over ``[lo_s[i], hi_s[i]]``: min horizontal, min vertical and min
    normalized separation, and the time of the last; NaN where the two have no common state sample."""
    states = _read_states(run, np.union1d(a, b), float(lo_s.min()), float(hi_s.max()))
    flight, t_s = states["flight"], states["t_s"]
    ia, ib, group = [], [], []
    for n, (fa, fb, lo, hi) in enumerate(
        zip(a.tolist(), b.tolist(), lo_s.tolist(), hi_s.tolist(), strict=True)
    ):
        wa, wb = _window(flight, t_s, fa, lo, hi), _window(flight, t_s, fb, lo, hi)
        _, ka, kb = np.intersect1d(t_s[wa], t_s[wb], assume_unique=True, return_indices=True)
        ia.append(wa.start + ka)
        ib.append(wb.start + kb)
        group.append(np.full(len(ka), n))
    ia, ib, group = np.concatenate(ia), np.concatenate(ib), np.concatenate(group)
    pos = np.column_stack([states["x_m"], states["y_m"], states["z_m"]]).astype(np.float64)
    rel = pos.take(ib, axis=0) - pos.take(ia, axis=0)
    t = t_s.take(ia)
    last = np.ones(len(t), bool)  # a pair's last sample pairs with itself (a zero-length interval)
    last[:-1] = group[1:] != group[:-1]
    nxt = np.arange(len(t)) + ~last
    dh, dz, norm, t_norm = _interval_minima(t, t.take(nxt), rel, rel.take(nxt, axis=0), h_m, v_m)
    n = len(a)
    out = [np.full(n, np.nan) for _ in range(4)]
    has = np.bincount(group, minlength=n) > 0
    first = group.searchsorted(np.arange(n)).compress(has)
    if len(first):
        out[0][has] = np.minimum.reduceat(dh, first)
        out[1][has] = np.minimum.reduceat(dz, first)
        best = np.lexsort((norm, group)).take(first)  # stable: the earliest of equal minima
        out[2][has], out[3][has] = norm.take(best), t_norm.take(best)
    return out[0], out[1], out[2], out[3]


def _parties(flights: pa.Table, ids: np.ndarray) -> dict[int, tuple[str, str, str, bool]]:
    """``(vehicle, kind, operator, cooperative)`` of each flight of ``ids`` (sorted, unique)."""
    known = flights.column("flight").to_numpy()
    at = known.searchsorted(ids)
    found = at < len(known)
    found[found] = known.take(at.compress(found)) == ids.compress(found)
    if not found.all():
        raise EventLogError("flights", f"has no row for flight {int(ids[~found][0])}")
    rows = flights.take(at).select(["vehicle", "kind", "operator", "cooperative"]).to_pylist()
    return {
        flight: (row["vehicle"], row["kind"], row["operator"], row["cooperative"])
        for flight, row in zip(ids.tolist(), rows, strict=True)
    }


def _measured(value: float) -> float | None:
    """A separation figure, None for NaN (no common state sample)."""
    return None if np.isnan(value) else float(value)


@dataclass(frozen=True, slots=True)
class Approach:
    """A pair's closest approach over a window: minimum horizontal and vertical separation, and the
    smallest normalized separation with its time (measured as for incidents)."""

    min_horizontal_m: float
    min_vertical_m: float
    min_normalized: float
    closest_s: float


def closest_approach(run: RunLog, a: int, b: int, t0_s: float, t1_s: float) -> Approach | None:
    """Flights ``a`` and ``b``'s closest approach in ``[t0_s, t1_s]``; None when they never share a state
    sample there (what a "what if" asks of a pair whose incident may be gone)."""
    scenario = run.header.get("scenario", {})
    h_m, v_m = _setting(scenario, "separation.horizontal_m"), _setting(scenario, "separation.vertical_m")
    lo, hi = min(a, b), max(a, b)
    found = _separations(run, np.array([lo]), np.array([hi]), np.array([t0_s]), np.array([t1_s]), h_m, v_m)
    if np.isnan(found[0][0]):
        return None
    return Approach(*(float(column[0]) for column in found))


def find_incidents(run: RunLog) -> list[Incident]:
    """Every LoS episode of the run, ordered and numbered by (start_s, a, b).

    Events, flights and the header come from ``run``; the parties' states are streamed once from its
    directory, so read it with ``read_log(directory, columns=[])`` (no state table held in memory).
    """
    scenario = run.header.get("scenario", {})
    h_m, v_m = _setting(scenario, "separation.horizontal_m"), _setting(scenario, "separation.vertical_m")
    lookahead_s, tick_s = _setting(scenario, "cdr.lookahead_s"), _setting(scenario, "tick_s")
    events = run.events.filter(pc.is_in(run.events.column("kind"), value_set=pa.array(_KINDS)))
    los = episodes(events, "los")
    order = np.lexsort((los.key, los.start_s))  # by (start, a, b): a key sorts as (a, b)
    key, start_s, end_s = los.key.take(order), los.start_s.take(order), los.end_s.take(order)
    if len(key) == 0:
        return []
    a, b = key >> 32, key & 0xFFFFFFFF
    min_h, min_v, min_norm, closest_s = _separations(run, a, b, start_s - tick_s, end_s + tick_s, h_m, v_m)
    parties = _parties(run.flights, np.union1d(a, b))
    conflicts = episodes(events, "conflict")
    t_s, flight, other = _of_kind(events, "nmac")
    nmac = _by_key(pair_keys(flight, other), t_s)
    t_s, flight, _ = _of_kind(events, "advisory_issued")
    issued = _by_key(flight, t_s)
    t_s, flight, _ = _of_kind(events, "advisory_delivered")
    delivered = _by_key(flight, t_s)
    incidents = []
    for n, (pair, t0, t1, fa, fb) in enumerate(
        zip(key.tolist(), start_s.tolist(), end_s.tolist(), a.tolist(), b.tolist(), strict=True)
    ):
        rows = _window(*nmac, pair, t0, t1)
        severity: Severity = "NMAC" if rows.stop > rows.start else "LoS"
        span = _span(conflicts.key, pair)
        starts, ends = conflicts.start_s[span], conflicts.end_s[span]
        seen = ((starts <= t0) & (ends >= t0 - lookahead_s)).nonzero()[0]  # open within the look-ahead
        detected_s = float(starts[seen[0]]) if len(seen) else None
        since_s = detected_s if detected_s is not None else t0 - lookahead_s
        party_a, party_b = parties[fa], parties[fb]
        incidents.append(
            Incident(
                id=f"I{n + 1:04d}",
                start_s=t0,
                end_s=t1,
                a=fa,
                b=fb,
                vehicle=(party_a[0], party_b[0]),
                kind=(party_a[1], party_b[1]),
                operator=(party_a[2], party_b[2]),
                cooperative=(party_a[3], party_b[3]),
                severity=severity,
                min_horizontal_m=_measured(min_h[n]),
                min_vertical_m=_measured(min_v[n]),
                closest_s=_measured(closest_s[n]),
                min_normalized=_measured(min_norm[n]),
                conflict_detected_s=detected_s,
                warning_s=None if detected_s is None else t0 - detected_s,
                advisories_issued=_count(issued, (fa, fb), since_s, t1),
                advisories_delivered=_count(delivered, (fa, fb), since_s, t1),
            )
        )
    return incidents


def _fmt(value: float | None) -> str:
    """One decimal, or "-" for none."""
    return "-" if value is None else f"{value:.1f}"


_COLUMNS: tuple[tuple[str, Callable[[Incident], str]], ...] = (
    ("id", lambda i: i.id),
    ("start_s", lambda i: _fmt(i.start_s)),
    ("end_s", lambda i: _fmt(i.end_s)),
    ("a", lambda i: str(i.a)),
    ("b", lambda i: str(i.b)),
    ("vehicles", lambda i: "/".join(i.vehicle)),
    ("operators", lambda i: "/".join(i.operator)),
    ("coop", lambda i: "/".join("y" if c else "n" for c in i.cooperative)),
    ("severity", lambda i: i.severity),
    ("min_h_m", lambda i: _fmt(i.min_horizontal_m)),
    ("min_v_m", lambda i: _fmt(i.min_vertical_m)),
    ("closest_s", lambda i: _fmt(i.closest_s)),
    ("min_norm", lambda i: "-" if i.min_normalized is None else f"{i.min_normalized:.3f}"),
    ("detected_s", lambda i: _fmt(i.conflict_detected_s)),
    ("warning_s", lambda i: _fmt(i.warning_s)),
    ("adv_deliv", lambda i: str(i.advisories_delivered)),
    ("adv_issued", lambda i: str(i.advisories_issued)),
)
"""The table's columns: header, and the cell of an incident."""
_TEXT_COLUMNS = {"id", "vehicles", "operators", "coop", "severity"}  # left-aligned; numbers align right


def format_incidents(incidents: Sequence[Incident]) -> str:
    """An aligned plain-text table, one row per incident, and a summary line (for ``utm6g incidents``)."""
    table = [[name for name, _ in _COLUMNS], *([cell(i) for _, cell in _COLUMNS] for i in incidents)]
    widths = [max(map(len, column)) for column in zip(*table, strict=True)]
    lines = [
        "  ".join(
            cell.ljust(w) if name in _TEXT_COLUMNS else cell.rjust(w)
            for (name, _), cell, w in zip(_COLUMNS, row, widths, strict=True)
        ).rstrip()
        for row in table
    ]
    return "\n".join([*lines, _summary(incidents)])


def _summary(incidents: Sequence[Incident]) -> str:
    """The summary line: counts by severity, detected beforehand (warning > 0), advised."""
    nmac = sum(i.severity == "NMAC" for i in incidents)
    warnings = [i.warning_s for i in incidents if i.warning_s is not None and i.warning_s > 0.0]
    median = _fmt(float(np.median(warnings))) if warnings else "-"
    advised = sum(i.advisories_delivered > 0 for i in incidents)
    return (
        f"{len(incidents)} incidents: {nmac} NMAC, {len(incidents) - nmac} LoS; "
        f"{len(warnings)} detected beforehand (median warning {median} s); advisories delivered in {advised}"
    )


def incidents_json(incidents: Sequence[Incident]) -> str:
    """The incidents as a JSON list of objects, keys in field order (for ``utm6g incidents --json``)."""
    return json.dumps([i.to_json() for i in incidents], indent=2, allow_nan=False)
