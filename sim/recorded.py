"""Recorded traffic into a run directory: telemetry fixes from a CSV become an event log like a simulation's.

One CSV row per fix. Columns (names are mapped with ``columns``, e.g. ``{"id": "icao24", "time": "ts"}``):
``id`` (track), ``time`` (seconds, or RFC 3339 with an offset), ``lat`` and ``lon`` (degrees WGS84), ``alt``
(metres against ``altitude_ref``: AGL by default), and optionally ``vx``/``vy``/``vz`` (m/s east, north, up),
``accuracy`` (m), ``operator`` and ``vehicle``. Each track is resampled on a 1 s grid by linear interpolation
between its fixes (never across a gap longer than ``max_gap_s``), and the same ground truth as the simulator
runs on it (sim/groundtruth.py), so ``utm6g incidents``, ``incident`` and ``replay`` work on real flights.
Each fix is also logged as a delivered report. A bad row is reported with its line number and skipped, or
(``strict``) the whole file is refused; nothing is written then.

Layer: sim.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from airspace.region import Region
from sim.airspace_record import AIRSPACE_KEY, AirspaceFiles
from sim.errors import FieldError
from sim.eventlog import EventLog
from sim.groundtruth import log_pair_events, separations
from sim.pairs import PairEpisodes, split_keys
from sim.run import LOG_DIR, software_version
from sim.scenario import CDR, Separation

__all__ = ["FIELDS", "RecordedRun", "RowProblem", "TracksError", "import_tracks", "parse_columns"]

FIELDS = ("id", "time", "lat", "lon", "alt", "vx", "vy", "vz", "accuracy", "operator", "vehicle")
"""The fields a CSV maps to; the first five are required."""
_REQUIRED = FIELDS[:5]
_NUMBERS = ("lat", "lon", "alt", "vx", "vy", "vz", "accuracy")
_TICK_S = 1.0
_MAX_PROBLEMS_SHOWN = 10


class TracksError(FieldError):
    """A file that cannot be imported; the message reads ``"<field>: <reason>"``."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A rejected CSV row: its line number in the file, the field and why."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass(frozen=True, slots=True)
class RecordedRun:
    """What an import wrote and found."""

    out_dir: Path
    log_dir: Path
    fixes: int
    tracks: int
    problems: tuple[RowProblem, ...]
    metrics: dict[str, Any] = field(default_factory=dict)


def parse_columns(text: str | None) -> dict[str, str]:
    """``"id=icao24,time=ts"`` as a mapping field -> CSV column; TracksError names an unknown field."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        name, eq, column = item.partition("=")
        if not eq or not column.strip():
            raise TracksError(
                "--columns", f"expected FIELD=COLUMN pairs, e.g. id=icao24,time=ts (got {item!r})"
            )
        if name.strip() not in FIELDS:
            raise TracksError("--columns", f"unknown field {name.strip()!r} (fields: {', '.join(FIELDS)})")
        mapping[name.strip()] = column.strip()
    return mapping


@dataclass
class _Fixes:
    """Accepted fixes as columns, with each one's line number."""

    line: list[int] = field(default_factory=list)
    values: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in FIELDS})


def import_tracks(
    csv_path: str | Path,
    region: Region,
    out_dir: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    altitude_ref: str = "AGL",
    max_gap_s: float = 10.0,
    strict: bool = False,
) -> RecordedRun:
    """Import a CSV of fixes into ``out_dir`` (``log/`` and ``metrics.json``); see the module docstring."""
    path = Path(csv_path)
    if not max_gap_s > 0 or math.isinf(max_gap_s):
        raise TracksError("max_gap_s", f"must be a finite number of seconds > 0 (got {max_gap_s})")
    if altitude_ref.upper() not in ("AGL", "AMSL", "W84", "WGS84"):
        raise TracksError("altitude_ref", f"must be AGL, AMSL or W84 (got {altitude_ref!r})")
    names = {name: name for name in FIELDS} | dict(columns or {})
    fixes, problems = _read(path, names)
    if strict and problems:
        raise TracksError(
            path.name, f"{len(problems)} bad rows, the first {problems[0]} (drop --strict to skip them)"
        )
    if not fixes.line:
        raise TracksError(
            path.name, "holds no valid fix" + (f" (the first problem: {problems[0]})" if problems else "")
        )
    tracks, time_origin = _tracks(fixes, region, altitude_ref)
    out = Path(out_dir)
    log_dir = out / LOG_DIR
    header = _header(path, region, time_origin, tracks.ids, len(fixes.line), problems, max_gap_s)
    with EventLog(log_dir, header) as log:
        metrics = _replay_into(log, tracks, fixes, max_gap_s)
    metrics["import"] = {"fixes": len(fixes.line), "tracks": len(tracks.ids), "rows_skipped": len(problems)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return RecordedRun(out, log_dir, len(fixes.line), len(tracks.ids), tuple(problems), metrics)


# --- reading ----------------------------------------------------------------------------------------------


def _read(path: Path, names: Mapping[str, str]) -> tuple[_Fixes, list[RowProblem]]:
    """Every row checked on its own; a good one is kept, a bad one becomes a RowProblem."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as err:
        raise TracksError(path.name, f"cannot be read ({err.strerror})") from None
    fixes, problems = _Fixes(), []
    time_kind: str | None = None
    seen: dict[tuple[str, float], int] = {}
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [f"{name} (column {names[name]!r})" for name in _REQUIRED if names[name] not in header]
        if missing:
            raise TracksError(
                path.name, f"has no column for {', '.join(missing)} (header: {', '.join(header)})"
            )
        for row in reader:
            line = reader.line_num
            try:
                values = _row(row, names, line)
                kind = "seconds" if isinstance(values["time_raw"], float) else "rfc3339"
                if time_kind is None:
                    time_kind = kind
                elif kind != time_kind:
                    raise _Bad("time", f"is {kind}, but the file's first fix used {time_kind}")
                key = (values["id"], values["time"])
                if key in seen:
                    raise _Bad(
                        "time",
                        f"a second fix of track {values['id']!r} at this time (first: line {seen[key]})",
                    )
            except _Bad as bad:
                problems.append(RowProblem(line, bad.field, bad.reason))
                continue
            seen[key] = line
            fixes.line.append(line)
            for name in FIELDS:
                fixes.values[name].append(values[name])
    return fixes, problems


class _Bad(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


def _row(row: Mapping[str, str | None], names: Mapping[str, str], line: int) -> dict[str, Any]:
    """One row's values: required ones present and valid, optional ones a number or None (NaN)."""
    if None in row:  # csv puts surplus cells under the key None
        raise _Bad("row", f"has more cells than the header ({len(row) - 1 + len(row[None] or [])})")
    cell = {name: (row.get(names[name]) or "").strip() for name in FIELDS}
    if not cell["id"]:
        raise _Bad("id", "is empty")
    out: dict[str, Any] = {
        "id": cell["id"],
        "operator": cell["operator"],
        "vehicle": cell["vehicle"] or "recorded",
    }
    out["time_raw"], out["time"] = _time(cell["time"])
    for name in _NUMBERS:
        text = cell[name]
        if not text:
            if name in _REQUIRED:
                raise _Bad(name, "is empty")
            out[name] = math.nan
            continue
        try:
            value = float(text)
        except ValueError:
            raise _Bad(name, f"is not a number ({text!r})") from None
        if not math.isfinite(value):
            raise _Bad(name, f"must be finite ({text!r})")
        out[name] = value
    if not -90.0 <= out["lat"] <= 90.0:
        raise _Bad("lat", f"must be within [-90, 90] degrees (got {out['lat']:g})")
    if not -180.0 <= out["lon"] <= 180.0:
        raise _Bad("lon", f"must be within [-180, 180] degrees (got {out['lon']:g})")
    if not (math.isnan(out["accuracy"]) or out["accuracy"] >= 0):
        raise _Bad("accuracy", f"must be >= 0 m (got {out['accuracy']:g})")
    return out


def _time(text: str) -> tuple[float | str, float]:
    """(raw, seconds): a number of seconds, or an RFC 3339 time as POSIX seconds."""
    if not text:
        raise _Bad("time", "is empty")
    try:
        value = float(text)
    except ValueError:
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            raise _Bad("time", f"is neither seconds nor an RFC 3339 time ({text!r})") from None
        if stamp.utcoffset() is None:
            raise _Bad("time", f"must carry a UTC offset or Z ({text!r})") from None
        return text, stamp.timestamp()
    if not math.isfinite(value):
        raise _Bad("time", f"must be finite ({text!r})")
    return value, value


# --- tracks ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tracks:
    """Fixes in the region frame sorted by (track, time); ``start[k]:start[k + 1]`` is track ``k``."""

    ids: list[str]
    start: np.ndarray
    t_s: np.ndarray  # from the time origin
    pos_m: np.ndarray
    vel_mps: np.ndarray  # NaN where the file gave none
    order: np.ndarray  # into the accepted fixes


def _tracks(fixes: _Fixes, region: Region, altitude_ref: str) -> tuple[_Tracks, float]:
    v = fixes.values
    ids = np.array(v["id"], dtype=object)
    names, track = np.unique(ids, return_inverse=True)
    t = np.array(v["time"], dtype=float)
    origin = math.floor(float(t.min()))
    order = np.lexsort((t, track))
    h = region.datum.to_w84(np.array(v["alt"], float), altitude_ref)
    x, y, z = region.frame.to_local(np.array(v["lon"], float), np.array(v["lat"], float), h)
    pos = np.column_stack([x, y, z]).take(order, axis=0)
    vel = np.column_stack([np.array(v[c], float) for c in ("vx", "vy", "vz")]).take(order, axis=0)
    start = np.searchsorted(track.take(order), np.arange(len(names) + 1))
    return _Tracks([str(n) for n in names], start, t.take(order) - origin, pos, vel, order), float(origin)


def _resample(tracks: _Tracks, k: int, max_gap_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Track ``k`` on the whole-second grid: times, positions, velocities (fix velocities where given,
    else the slope of the segment); grid points inside a gap longer than ``max_gap_s`` are left out."""
    span = slice(tracks.start[k], tracks.start[k + 1])
    t, pos, given = tracks.t_s[span], tracks.pos_m[span], tracks.vel_mps[span]
    grid = np.arange(math.ceil(t[0] / _TICK_S), math.floor(t[-1] / _TICK_S) + 1) * _TICK_S
    seg = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, max(len(t) - 2, 0))
    if len(t) > 1:
        before, after = t.take(seg), t.take(seg + 1)
        keep = (after - before <= max_gap_s) | (grid == before) | (grid == after)  # a fix itself always stays
        grid, seg = grid[keep], seg[keep]
    xyz = np.column_stack([np.interp(grid, t, pos[:, c]) for c in range(3)])
    if len(t) > 1:
        slope = (pos[1:] - pos[:-1]) / (t[1:] - t[:-1])[:, None]
        vel = slope.take(seg, axis=0)
    else:
        vel = np.zeros((len(grid), 3))
    if not np.isnan(given).all():
        fix_vel = np.column_stack([np.interp(grid, t, given[:, c]) for c in range(3)])
        vel = np.where(np.isnan(fix_vel), vel, fix_vel)
    return grid, xyz, vel


# --- the log ------------------------------------------------------------------------------------------------


def _header(
    path: Path,
    region: Region,
    origin: float,
    track_ids: list[str],
    fixes: int,
    problems: list[RowProblem],
    max_gap_s: float,
) -> dict[str, Any]:
    """A header the incident tools read: the separation standard, the tick, and where the data came from
    (no scenario file: a recorded run cannot be re-simulated)."""
    return {
        "software_version": software_version(),
        "seed": 0,
        "scenario": {
            "name": f"recorded: {path.name}",
            "region": str(region.source),
            "tick_s": _TICK_S,
            "separation": Separation().model_dump(mode="json"),
            "cdr": CDR(enabled=False).model_dump(mode="json"),
            "comms": {"profile": "recorded"},
        },
        AIRSPACE_KEY: AirspaceFiles.read(region.source, ()).to_json(),  # drawn without the region file
        "recorded": {
            "file": path.name,
            "time_origin": origin,
            "fixes": fixes,
            "rows_skipped": len(problems),
            "max_gap_s": max_gap_s,
            "track_ids": track_ids,  # flight k of the log is the file's track track_ids[k]
        },
    }


def _replay_into(log: EventLog, tracks: _Tracks, fixes: _Fixes, max_gap_s: float) -> dict[str, Any]:
    """Write flights, reports and resampled states, and run the ground truth tick by tick; the metrics."""
    per_track = [_resample(tracks, k, max_gap_s) for k in range(len(tracks.ids))]
    operator = np.array(fixes.values["operator"], dtype=object).take(tracks.order)
    vehicle = np.array(fixes.values["vehicle"], dtype=object).take(tracks.order)
    accuracy = np.array(fixes.values["accuracy"], float).take(tracks.order)
    for k, (grid, _, _) in enumerate(per_track):
        first = int(tracks.start[k])
        log.flight(
            k,
            vehicle=str(vehicle[first]),
            kind="recorded",
            operator=str(operator[first]),
            takeoff_s=float(grid[0]) if len(grid) else math.nan,
            landing_s=float(grid[-1]) if len(grid) else math.nan,
        )
        span = slice(tracks.start[k], tracks.start[k + 1])
        t = tracks.t_s[span]
        log.messages("report", np.full(len(t), k, np.int32), t, t, tracks.pos_m[span], value=accuracy[span])
    flight = np.concatenate([np.full(len(g), k, np.int32) for k, (g, _, _) in enumerate(per_track)])
    t_s = np.concatenate([g for g, _, _ in per_track])
    pos = np.concatenate([p for _, p, _ in per_track])
    vel = np.concatenate([v for _, _, v in per_track])
    return _ground_truth(log, t_s, flight, pos, vel)


def _edges(t_s: np.ndarray, flight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For samples sorted by (flight, time): which rows start a stretch of presence (take-off) and which
    end one (landing); a missing grid time between two samples splits a track into two flights of it."""
    step = np.diff(t_s) > 1.5 * _TICK_S
    other = np.diff(flight) != 0
    cut = step | other
    first = np.concatenate(([True], cut))
    last = np.concatenate((cut, [True]))
    return first, last


def _ground_truth(
    log: EventLog, t_s: np.ndarray, flight: np.ndarray, pos: np.ndarray, vel: np.ndarray
) -> dict[str, Any]:
    """States, take-offs, landings, LoS and NMAC episodes at each grid time, as the simulator logs them."""
    sep = Separation()
    takeoff, landing = _edges(t_s, flight)
    order = np.lexsort((flight, t_s))
    t_s, flight, pos, vel = t_s[order], flight[order], pos[order], vel[order]
    takeoff, landing = takeoff[order], landing[order]
    times, starts = np.unique(t_s, return_index=True)
    bounds = np.append(starts, len(t_s))
    los, nmac = PairEpisodes(), PairEpisodes()
    counts = {"los": 0, "nmac": 0}
    for n, now in enumerate(times.tolist()):
        rows = slice(bounds[n], bounds[n + 1])
        here = flight[rows]
        if takeoff[rows].any():
            log.events(now, "takeoff", here[takeoff[rows]])
        log.states(now, here, pos[rows], vel[rows], np.zeros(len(here), np.int8))
        found = separations(
            here,
            pos[rows],
            horizontal_m=sep.horizontal_m,
            vertical_m=sep.vertical_m,
            nmac_horizontal_m=sep.nmac_horizontal_m,
            nmac_vertical_m=sep.nmac_vertical_m,
        )
        started = los.update(now, found.a, found.b, found.norm)
        log_pair_events(log, now, los, started, "los")
        counts["los"] += len(started)
        new_nmac = nmac.update(now, *found.nmac_pairs())
        if len(new_nmac):
            first, second = split_keys(new_nmac)
            log.events(now, "nmac", first, other=second)
            counts["nmac"] += len(new_nmac)
        if landing[rows].any():
            log.events(now, "landing", here[landing[rows]])
    end = float(times[-1]) + _TICK_S if len(times) else 0.0
    empty = np.empty(0, np.int32)
    log_pair_events(log, end, los, los.update(end, empty, empty, np.empty(0)), "los")
    hours = len(t_s) * _TICK_S / 3600.0
    return {
        "flight_hours": hours,
        "los": {"count": counts["los"], "per_flight_hour": counts["los"] / hours if hours else None},
        "nmac": {"count": counts["nmac"], "per_flight_hour": counts["nmac"] / hours if hours else None},
    }
