"""Wire models of the HTTP API in ASTM F3548-21 names, with converters to and from the domain.

Pydantic checks types and shapes: numbers finite and of the right JSON type (no ``"1"`` for 1), lat/lng
in range, the single-value enums (``W84``, ``M``, ``RFC3339``). The geometry rules (open polygon, edges
that do not cross, lower below upper, start before end) belong to
:meth:`airspace.volumes.Volume4D.from_f3548`, so each rule lives in one place and names the field it
breaks, e.g. ``volumes[2].volume.outline_polygon.vertices``. Requests ignore unknown keys (forward
compatible); answers omit absent optional fields rather than sending ``null``, as F3548 does.
Converters take the region's :class:`~airspace.frames.LocalFrame`. Layer: api; imports airspace, utm.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
)

from airspace import volumes as domain
from airspace.errors import InvalidVolume
from airspace.frames import LocalFrame
from airspace.volumes import format_time, parse_time
from utm import decisions
from utm.errors import PlanRejected
from utm.intents import IntentRequest, State
from utm.intents import OperationalIntent as DomainIntent

__all__ = [
    "Advisory",
    "Alternative",
    "Altitude",
    "Circle",
    "Conflict",
    "ErrorResponse",
    "IntentResponse",
    "LatLngPoint",
    "NotificationsResponse",
    "OperationalIntent",
    "OperationalIntentDetails",
    "OperationalIntentReference",
    "Polygon",
    "PutOperationalIntentRequest",
    "QueryRequest",
    "QueryResponse",
    "Radius",
    "RejectionResponse",
    "Time",
    "UserNotification",
    "Volume3D",
    "Volume4D",
]

Latitude = Annotated[float, Field(strict=True, ge=-90.0, le=90.0, description="degrees, WGS84")]
Longitude = Annotated[float, Field(strict=True, ge=-180.0, le=180.0, description="degrees, WGS84")]
Text = Annotated[str, Field(strict=True)]
StateName = Literal["Accepted", "Activated", "Nonconforming", "Contingent"]


class _Wire(BaseModel):
    """Shared config: unknown keys ignored, NaN/inf refused; ``None`` fields left out of answers."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    @model_serializer(mode="wrap")
    def _omit_none(self, handler: Any):  # no return annotation: keeps the model's own JSON schema
        return {k: v for k, v in handler(self).items() if v is not None}


# --- geometry and time (F3548 Time, Altitude, LatLngPoint, Polygon, Circle, Volume3D, Volume4D) -----


class Time(_Wire):
    """F3548 ``Time``: an RFC 3339 date-time with a UTC offset (``Z`` preferred)."""

    value: Annotated[
        str, Field(strict=True, json_schema_extra={"format": "date-time"}, examples=["2026-01-01T08:00:00Z"])
    ]
    format: Literal["RFC3339"]

    @field_validator("value")
    @classmethod
    def _parses(cls, value: str) -> str:
        """RFC 3339 with an offset and expressible in UTC (airspace's parse_time checks both)."""
        try:
            parse_time(value, "value")
        except InvalidVolume as err:
            raise ValueError(err.reason) from None
        return value

    @classmethod
    def of(cls, t: datetime) -> Time:
        return cls(value=format_time(t), format="RFC3339")


class Altitude(_Wire):
    """F3548 ``Altitude``: WGS84 ellipsoidal height in metres, in [-8000, 100000]."""

    value: Annotated[float, Field(strict=True, ge=-8000.0, le=100000.0)]
    reference: Literal["W84"]
    units: Literal["M"]


class LatLngPoint(_Wire):
    lat: Latitude
    lng: Longitude


class Polygon(_Wire):
    """F3548 ``Polygon``: an open ring (the last vertex does not repeat the first); edges may not cross."""

    vertices: Annotated[list[LatLngPoint], Field(min_length=3)]


class Radius(_Wire):
    value: Annotated[float, Field(strict=True, ge=0.0)]
    units: Literal["M"]


class Circle(_Wire):
    center: LatLngPoint
    radius: Radius


class Volume3D(_Wire):
    """F3548 ``Volume3D``: exactly one outline; ``altitude_lower`` below ``altitude_upper``."""

    outline_circle: Circle | None = None
    outline_polygon: Polygon | None = None
    altitude_lower: Altitude | None = None
    altitude_upper: Altitude | None = None


class Volume4D(_Wire):
    """F3548 ``Volume4D``; ``time_start`` before ``time_end``."""

    volume: Volume3D
    time_start: Time | None = None
    time_end: Time | None = None

    def to_domain(self, frame: LocalFrame, *, field: str = "volume4d") -> domain.Volume4D:
        """The domain volume in ``frame``; a broken geometry rule raises InvalidVolume naming ``field...``."""
        try:
            return domain.Volume4D.from_f3548(self.model_dump(), frame, field=field)
        except InvalidVolume as err:
            if err.field.startswith(field):
                raise
            # Volume4D.__post_init__ names "time_end" without the caller's prefix.
            raise InvalidVolume(f"{field}.{err.field}", err.reason) from None

    @classmethod
    def of(cls, volume: domain.Volume4D, frame: LocalFrame) -> Volume4D:
        return cls.model_validate(volume.to_f3548(frame))


def _to_domain(volumes: Sequence[Volume4D], frame: LocalFrame, field: str) -> tuple[domain.Volume4D, ...]:
    return tuple(v.to_domain(frame, field=f"{field}[{i}]") for i, v in enumerate(volumes))


def _of(volumes: Iterable[domain.Volume4D], frame: LocalFrame) -> list[Volume4D]:
    return [Volume4D.of(v, frame) for v in volumes]


def _time(t: datetime | None) -> Time | None:
    return None if t is None else Time.of(t)


# --- operational intents ------------------------------------------------------------------------


class PutOperationalIntentRequest(_Wire):
    """Body of a create or update: what the operator asks for (F3548 details + state)."""

    state: StateName
    priority: Annotated[int, Field(strict=True, ge=-(2**31), le=2**31 - 1)] = 0  # int32; policy bounds later
    volumes: list[Volume4D]
    off_nominal_volumes: list[Volume4D] = []
    uss_base_url: Text = ""
    authorisation: Text | None = None

    def to_domain(self, frame: LocalFrame) -> IntentRequest:
        """The domain request; geometry errors name ``volumes[i]...`` / ``off_nominal_volumes[i]...``."""
        return IntentRequest(
            state=State(self.state),
            priority=self.priority,
            volumes=_to_domain(self.volumes, frame, "volumes"),
            off_nominal_volumes=_to_domain(self.off_nominal_volumes, frame, "off_nominal_volumes"),
            uss_base_url=self.uss_base_url,
            authorisation=self.authorisation,
        )


class OperationalIntentReference(_Wire):
    """F3548 ``OperationalIntentReference``; ``ovn`` only to the intent's manager. No subscriptions here."""

    id: UUID
    manager: str
    uss_availability: Literal["Unknown", "Normal", "Down"] = "Normal"
    version: int
    state: StateName
    ovn: str | None = None
    time_start: Time
    time_end: Time
    uss_base_url: str


class OperationalIntentDetails(_Wire):
    volumes: list[Volume4D]
    off_nominal_volumes: list[Volume4D]
    priority: int


class OperationalIntent(_Wire):
    """F3548 ``OperationalIntent`` {reference, details}."""

    reference: OperationalIntentReference
    details: OperationalIntentDetails

    @classmethod
    def of(cls, intent: DomainIntent, frame: LocalFrame, *, with_ovn: bool = True) -> OperationalIntent:
        """The wire form; ``with_ovn=False`` for an operator reading someone else's intent.

        F3548's USS-to-USS details read (``GET /uss/v1/operational_intents/{id}``) does carry the ovn:
        that is how peers learn it; only the DSS withholds it from non-managers.
        """
        reference = OperationalIntentReference(
            id=intent.id,
            manager=intent.manager,
            version=intent.version,
            state=intent.state.value,
            ovn=intent.ovn if with_ovn else None,
            time_start=Time.of(intent.time_start),
            time_end=Time.of(intent.time_end),
            uss_base_url=intent.uss_base_url,
        )
        details = OperationalIntentDetails(
            volumes=_of(intent.volumes, frame),
            off_nominal_volumes=_of(intent.off_nominal_volumes, frame),
            priority=intent.priority,
        )
        return cls(reference=reference, details=details)


class Advisory(_Wire):
    kind: str
    ref: str
    message: str


class IntentResponse(_Wire):
    """Answer to an accepted create or update (201 / 200)."""

    operational_intent: OperationalIntent
    advisories: list[Advisory] = []

    @classmethod
    def of(cls, decision: decisions.Decision, frame: LocalFrame) -> IntentResponse:
        return cls(
            operational_intent=OperationalIntent.of(decision.intent, frame),
            advisories=[Advisory(kind=a.kind, ref=a.ref, message=a.message) for a in decision.advisories],
        )


class Conflict(_Wire):
    kind: Literal["intent", "geofence", "capacity"]
    ref: str
    time_start: Time | None = None
    time_end: Time | None = None
    detail: str


class Alternative(_Wire):
    kind: Literal["time_shift", "altitude_layer", "reroute"]
    description: str
    volumes: list[Volume4D]


class RejectionResponse(_Wire):
    """409 answer to a refused plan: why, against what, and alternatives that pass the same checks."""

    reason: Literal["conflict", "geofence", "capacity"]
    message: str
    conflicts: list[Conflict] = []
    alternatives: list[Alternative] = []

    @classmethod
    def of(cls, rejected: PlanRejected, frame: LocalFrame) -> RejectionResponse:
        return cls(
            reason=rejected.reason,
            message=rejected.message,
            conflicts=[
                Conflict(
                    kind=c.kind,
                    ref=c.ref,
                    time_start=_time(c.time_start),
                    time_end=_time(c.time_end),
                    detail=c.detail,
                )
                for c in rejected.conflicts
            ],
            alternatives=[
                Alternative(kind=a.kind, description=a.description, volumes=_of(a.volumes, frame))
                for a in rejected.alternatives
            ],
        )


class QueryRequest(_Wire):
    area_of_interest: Volume4D

    def to_domain(self, frame: LocalFrame) -> domain.Volume4D:
        return self.area_of_interest.to_domain(frame, field="area_of_interest")


class QueryResponse(_Wire):
    operational_intents: list[OperationalIntent]

    @classmethod
    def of(cls, intents: Iterable[DomainIntent], frame: LocalFrame, *, caller: str) -> QueryResponse:
        """The intents found; each carries its ovn only when ``caller`` manages it."""
        return cls(
            operational_intents=[
                OperationalIntent.of(i, frame, with_ovn=i.manager == caller) for i in intents
            ]
        )


# --- notifications and errors ---------------------------------------------------------------------


class UserNotification(_Wire):
    time: Time
    operational_intent_id: str
    kind: str
    message: str


class NotificationsResponse(_Wire):
    notifications: list[UserNotification]

    @classmethod
    def of(cls, notifications: Iterable[decisions.Notification]) -> NotificationsResponse:
        return cls(
            notifications=[
                UserNotification(
                    time=Time.of(n.time), operational_intent_id=n.intent_id, kind=n.kind, message=n.message
                )
                for n in notifications
            ]
        )


class ErrorResponse(_Wire):
    """Every 4xx/5xx body but a rejected plan's: F3548 ``ErrorResponse`` {message} plus field and reason."""

    message: str
    field: str | None = None
    reason: str | None = None
