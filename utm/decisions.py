"""What a strategic decision says besides yes: conflicts found, advisories, verified alternatives.

Layer: utm; imports airspace only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from airspace.volumes import Volume4D
from utm.intents import OperationalIntent

__all__ = ["Advisory", "Alternative", "Conflict", "Decision"]


@dataclass(frozen=True, slots=True)
class Conflict:
    """One reason a plan was refused: an intent, a geofence or a saturated cell, and when."""

    kind: Literal["intent", "geofence", "capacity"]
    ref: str  # intent id, geofence identifier, or "cell i,j layer"
    time_start: datetime | None
    time_end: datetime | None
    detail: str


@dataclass(frozen=True, slots=True)
class Advisory:
    """Something an accepted plan's operator must know (a CONDITIONAL zone, a conflict it created)."""

    kind: Literal[
        "geofence_condition",
        "geofence_authorisation",
        "conflict_created",
        "nonconforming",
        "contingent",
        "conformance_restored",
    ]
    ref: str
    message: str


@dataclass(frozen=True, slots=True)
class Alternative:
    """A variant of a refused plan that passes the same checks: shifted in time, another layer, a reroute."""

    kind: Literal["time_shift", "altitude_layer", "reroute"]
    volumes: tuple[Volume4D, ...]
    description: str
    path_xy_m: tuple[tuple[float, float], ...] = ()  # a reroute's polyline (local metres), for its flier


@dataclass(frozen=True, slots=True)
class Decision:
    """An accepted create or update: the stored intent and the advisories that came with it."""

    intent: OperationalIntent
    advisories: tuple[Advisory, ...] = ()


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One row of the append-only audit trail regulators read: who asked what, when, and the answer."""

    time: datetime
    actor: str  # the token's sub, or "conformance-monitor" / "system"
    action: Literal["create", "update", "delete", "conformance", "geofence_put", "geofence_delete"]
    entity_id: str  # intent UUID or geofence identifier
    result: Literal["accepted", "rejected", "invalid"]
    reason: str = ""  # e.g. "conflict", "geofence", "capacity", "stale_ovn", or the transition made
    conflicting_ids: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Notification:
    """A user notification (InterUSS flight_planning ``UserNotification``): addressed to a manager."""

    time: datetime
    manager: str
    intent_id: str
    kind: str  # "conflict_created", "nonconforming", "contingent", "never_reported", ...
    message: str
