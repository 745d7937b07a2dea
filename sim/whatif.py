"""Re-running a recorded run "what if": the scenario and seed from a log's header, with overrides.

Random streams are per component (sim/rng.py), so an override touches only the draws of what it changes: the
same traffic flies, and without overrides the re-run writes the original log byte for byte.

Layer: sim.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.eventlog import EventLogError, read_log
from sim.incidents import WINDOW_S, Approach, Incident, closest_approach, find_incidents
from sim.manifest import MANIFEST_NAME
from sim.metrics import flatten_metrics
from sim.run import find_log_dir
from sim.scenario import LoadedScenario, load_resolved, logged_airspace

__all__ = [
    "IncidentStudy",
    "MetricChange",
    "log_dir_of",
    "metric_changes",
    "rerun_scenario",
    "study_incident",
]


def log_dir_of(path: str | Path) -> Path:
    """The log directory of a run: ``path`` itself, or its ``log/`` folder when given the run's folder."""
    found = find_log_dir(path)
    if found is None:
        raise EventLogError("LOG", f"{path} is neither a utm6g run folder nor its log/ folder")
    return found


def rerun_scenario(log_dir: str | Path, overrides: Sequence[str] = ()) -> LoadedScenario:
    """The scenario a log recorded (resolved form, seed included), with ``overrides`` applied."""
    header = read_log(log_dir, columns=[]).header
    for key in ("scenario", "scenario_file"):
        if key not in header:
            raise EventLogError(f"header.{key}", f"missing in {log_dir}: the log cannot be re-run")
    return load_resolved(
        header["scenario"], overrides, source=Path(header["scenario_file"]), airspace=logged_airspace(header)
    )


@dataclass(frozen=True, slots=True)
class MetricChange:
    """One run metric that differs between two runs (dotted key, e.g. ``los.count``)."""

    key: str
    before: float | None
    after: float | None

    def __str__(self) -> str:
        delta = "" if self.before is None or self.after is None else f" ({self.after - self.before:+.4g})"
        return f"{self.key}: {_show(self.before)} -> {_show(self.after)}{delta}"


def metric_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[MetricChange]:
    """The numeric metrics (nested keys flattened) whose values differ, in key order."""
    old, new = flatten_metrics(before), flatten_metrics(after)
    return [
        MetricChange(key, old.get(key), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if not _equal(old.get(key), new.get(key))
    ]


def _equal(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@dataclass(frozen=True, slots=True)
class IncidentStudy:
    """A recorded incident and what a re-run is compared with: the original metrics and manifest head."""

    incident: Incident
    metrics: dict[str, Any] | None  # None when the run folder has no metrics.json
    head: str | None  # None for a log without a manifest

    @property
    def window_s(self) -> tuple[float, float]:
        """The span a re-run's encounter of the same pair is looked for in."""
        return self.incident.start_s - WINDOW_S[0], self.incident.end_s + WINDOW_S[1]

    def outcome(self, log_dir: str | Path, metrics: Mapping[str, Any]) -> list[str]:
        """What the re-run in ``log_dir`` did to the incident, its log and its metrics, as lines to print."""
        i = self.incident
        run = read_log(log_dir, columns=[])
        t0, t1 = self.window_s
        again = [
            n for n in find_incidents(run) if (n.a, n.b) == (i.a, i.b) and n.start_s <= t1 and n.end_s >= t0
        ]
        lines = [f"incident {i.id}: {_described(i)}"]
        if again:
            lines += [f"re-run: still happens ({n.id}: {_described(n)})" for n in again]
        else:
            approach = closest_approach(run, i.a, i.b, t0, t1)
            lines.append(f"re-run: no longer happens; {_approach(approach, t0, t1)}")
        head = _head(Path(log_dir))
        if self.head is not None and head is not None:
            same = (
                "reproduces the original log byte for byte"
                if head == self.head
                else "differs from the original"
            )
            lines.append(f"log: {same} (manifest head {head[:16]}...)")
        if self.metrics is None:
            lines.append("metrics: the original run folder has no metrics.json; not compared")
        else:
            changes = metric_changes(self.metrics, metrics)
            lines.append(f"metrics changed: {len(changes)}")
            lines += [f"  {change}" for change in changes]
        return lines


def study_incident(log_dir: str | Path, incident_id: str) -> IncidentStudy:
    """The incident ``incident_id`` of a recorded run (EventLogError names an unknown id)."""
    log_dir = Path(log_dir)
    found = find_incidents(read_log(log_dir, columns=[]))
    chosen = [i for i in found if i.id == incident_id]
    if not chosen:
        known = f"{found[0].id}..{found[-1].id}" if found else "none: the run has no incident"
        raise EventLogError("incident", f"no incident {incident_id!r} in {log_dir} (known: {known})")
    metrics_file = log_dir.parent / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
    return IncidentStudy(chosen[0], metrics, _head(log_dir))


def _head(log_dir: Path) -> str | None:
    """The manifest's chain head, None without a manifest."""
    path = log_dir / MANIFEST_NAME
    return json.loads(path.read_text())["head"] if path.is_file() else None


def _described(i: Incident) -> str:
    return (
        f"{i.severity} between flights {i.a} and {i.b}, {i.start_s:.1f}-{i.end_s:.1f} s, closest "
        f"{_m(i.min_horizontal_m)} horizontal / {_m(i.min_vertical_m)} vertical at {_m(i.closest_s, 's')}"
    )


def _approach(approach: Approach | None, t0: float, t1: float) -> str:
    if approach is None:
        return f"the pair does not fly together in {t0:.1f}-{t1:.1f} s"
    return (
        f"the pair's closest approach in {t0:.1f}-{t1:.1f} s: {approach.min_horizontal_m:.1f} m horizontal / "
        f"{approach.min_vertical_m:.1f} m vertical, normalized {approach.min_normalized:.2f} at "
        f"{approach.closest_s:.1f} s"
    )


def _m(value: float | None, unit: str = "m") -> str:
    return "-" if value is None else f"{value:.1f} {unit}"
