"""Operational intents as F3548 defines them: states, the transition table, versions and OVNs.

Layer: utm; imports airspace only.
"""

from __future__ import annotations

import base64
import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from airspace.volumes import Volume4D
from utm.errors import InvalidTransition

__all__ = ["IntentRequest", "OperationalIntent", "State", "check_transition", "make_ovn"]


class State(enum.StrEnum):
    """F3548 ``OperationalIntentState``; Ended is not a state: an ended intent is deleted (None)."""

    ACCEPTED = "Accepted"
    ACTIVATED = "Activated"
    NONCONFORMING = "Nonconforming"
    CONTINGENT = "Contingent"


# From -> allowed to (None = not existing / Ended); the reference mock USS's op_intent_transition_valid.
_TRANSITIONS: dict[State | None, frozenset[State | None]] = {
    None: frozenset({None, State.ACCEPTED, State.ACTIVATED}),
    State.ACCEPTED: frozenset({None, State.ACCEPTED, State.ACTIVATED, State.NONCONFORMING, State.CONTINGENT}),
    State.ACTIVATED: frozenset({None, State.ACTIVATED, State.NONCONFORMING, State.CONTINGENT}),
    State.NONCONFORMING: frozenset({None, State.NONCONFORMING, State.ACTIVATED, State.CONTINGENT}),
    State.CONTINGENT: frozenset({None, State.CONTINGENT}),
}


def check_transition(old: State | None, new: State | None) -> None:
    """Raise :class:`InvalidTransition` unless F3548 allows ``old -> new`` (STANDARDS.md §1.5)."""
    if new not in _TRANSITIONS[old]:
        allowed = sorted("Ended" if s is None else str(s) for s in _TRANSITIONS[old])
        raise InvalidTransition(
            "state",
            f"cannot go from {old or 'nothing'} to {new or 'Ended'} (allowed: {', '.join(allowed)})",
        )


@dataclass(frozen=True, slots=True)
class IntentRequest:
    """What an operator asks for when creating or updating an intent (validated by the service)."""

    state: State
    priority: int
    volumes: tuple[Volume4D, ...]
    off_nominal_volumes: tuple[Volume4D, ...] = ()
    uss_base_url: str = ""
    authorisation: str | None = None

    @property
    def all_volumes(self) -> tuple[Volume4D, ...]:
        return self.volumes + self.off_nominal_volumes


@dataclass(frozen=True, slots=True)
class OperationalIntent:
    """A live operational intent: the request as accepted, plus identity, version and OVN."""

    id: UUID
    manager: str
    version: int
    ovn: str
    state: State
    priority: int
    volumes: tuple[Volume4D, ...]
    off_nominal_volumes: tuple[Volume4D, ...]
    uss_base_url: str
    authorisation: str | None
    time_created: datetime
    time_updated: datetime

    @property
    def all_volumes(self) -> tuple[Volume4D, ...]:
        """Nominal and off-nominal volumes: what other plans are checked against (F3548 §1.6)."""
        return self.volumes + self.off_nominal_volumes

    @property
    def time_start(self) -> datetime | None:
        starts = [v.time_start for v in self.all_volumes if v.time_start is not None]
        return min(starts) if starts else None

    @property
    def time_end(self) -> datetime | None:
        ends = [v.time_end for v in self.all_volumes if v.time_end is not None]
        return max(ends) if ends else None


def make_ovn(intent_id: UUID, version: int, time_updated: datetime) -> str:
    """A new opaque OVN (32 url-safe characters, F3548 allows 16-128) for each version.

    Derived from id, version and update time rather than drawn at random, so that a simulation
    with the same seed writes the same log (ARCHITECTURE.md, determinism).
    """
    digest = hashlib.sha256(f"{intent_id}|{version}|{time_updated.isoformat()}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:32]
