"""Errors of the UTM service; api/errors.py maps each class to one HTTP status.

Layer: utm; imports airspace only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from utm.decisions import Alternative, Conflict

__all__ = [
    "AreaTooLarge",
    "InvalidRequest",
    "InvalidTransition",
    "NotFound",
    "NotManager",
    "PlanRejected",
    "StaleOvn",
    "UTMError",
]


class UTMError(Exception):
    """Base of every error the service raises on purpose."""


class InvalidRequest(UTMError, ValueError):
    """A request that breaks a rule of F3548 or of this service (400); names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)  # args rebuild the error (pickling, SimPy re-raising a failed event)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class InvalidTransition(InvalidRequest):
    """A state change the F3548 transition table (STANDARDS.md §1.5) does not allow (400)."""


class AreaTooLarge(InvalidRequest):
    """A query or plan area over the configured maximum (413, as the InterUSS DSS)."""


class NotFound(UTMError, KeyError):
    """No live entity with this id (404)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class NotManager(UTMError):
    """The caller does not manage this entity (403)."""


class StaleOvn(UTMError):
    """The OVN given does not match the current version (409, reason ``stale_ovn``)."""


class PlanRejected(UTMError):
    """Strategic deconfliction refused the plan (409): why, with what, and verified alternatives."""

    def __init__(
        self,
        reason: Literal["conflict", "geofence", "capacity"],
        message: str,
        conflicts: Sequence[Conflict] = (),
        alternatives: Sequence[Alternative] = (),
    ) -> None:
        super().__init__(reason, message, tuple(conflicts), tuple(alternatives))
        self.reason = reason
        self.message = message
        self.conflicts = tuple(conflicts)
        self.alternatives = tuple(alternatives)

    def __str__(self) -> str:
        return self.message
