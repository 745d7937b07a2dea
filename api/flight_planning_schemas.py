"""Wire models of the InterUSS flight_planning v1 interface (v0.7.0; v0.5.0 bodies accepted) and converters.

Spec: ``../shared/specs/interuss-flight_planning-v1/`` and STANDARDS.md §2.1. Unknown keys are ignored (the
spec says so), so v0.7.0 bodies (``uas``, ``operator``, ``telemetry``...) and v0.5.0 ones (``uas_state``
required) both parse. Geometry and time reuse the F3548 models of :mod:`api.schemas` (``Planning*`` here,
so /openapi.json keeps both), except that an altitude's reference may be ``W84``, ``SFC`` or ``Takeoff``:

- ``W84`` is taken as is;
- ``SFC`` (height above the surface) is converted with the region's one ground height, ``frame.h0_m``
  (``load_region`` puts the frame origin on the ground, so SFC metres are frame z); the region datum's
  limitation (one terrain height, no DEM) applies;
- ``Takeoff`` is refused (400): the service does not know where the flight takes off.

The usage_state/uas_state -> F3548 state mapping is monitorlib's ``f3548v21_op_intent_state`` (STANDARDS.md
§2.1); an ``InUse`` flight whose ``uas_state`` is absent or ``NotSpecified`` is Nominal (the spec's
FunctionalState: "Nominal: ... or has not indicated OffNominal or Contingent"). Layer: api; imports airspace,
utm.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import Field

from airspace import volumes as domain
from airspace.frames import LocalFrame
from api import schemas
from api.schemas import Time, _Wire
from utm.decisions import Notification
from utm.errors import InvalidRequest
from utm.intents import IntentRequest, OperationalIntent, State

__all__ = [
    "API_NAME",
    "API_VERSION",
    "AREA",
    "ASTMF354821OpIntentInformation",
    "BasicFlightPlanInformation",
    "ClearAreaOutcome",
    "ClearAreaRequest",
    "ClearAreaResponse",
    "DeleteFlightPlanResponse",
    "FlightPlan",
    "PlanningAltitude",
    "PlanningUserNotification",
    "PlanningVolume3D",
    "PlanningVolume4D",
    "QueryUserNotificationsResponse",
    "StatusResponse",
    "UpsertFlightPlanRequest",
    "UpsertFlightPlanResponse",
    "plan_status",
]

API_NAME = "Flight Planning Automated Testing Interface"
API_VERSION = "v0.7.0"
AREA = "flight_plan.basic_information.area"
_W84_MAX_M = 100000.0  # F3548 Altitude maximum

UsageState = Literal["Planned", "InUse", "Closed"]
UasState = Literal["Nominal", "OffNominal", "Contingent", "NotSpecified"]
ExecutionStyle = Literal["Hypothetical", "IfAllowed", "InReality"]
PlanningActivityResult = Literal["Completed", "Rejected", "Failed", "NotSupported"]
FlightPlanStatus = Literal["NotPlanned", "Planned", "OkToFly", "OffNominal", "Closed"]
AdvisoryInclusion = Literal["Unknown", "AtLeastOneAdvisoryOrCondition", "NoAdvisoriesOrConditions"]

_STATUS: dict[State, FlightPlanStatus] = {
    State.ACCEPTED: "Planned",
    State.ACTIVATED: "OkToFly",
    State.NONCONFORMING: "OffNominal",
    State.CONTINGENT: "OffNominal",
}


def plan_status(intent: OperationalIntent | None) -> FlightPlanStatus:
    """The FlightPlanStatus a user sees for their live intent (``NotPlanned`` without one)."""
    return "NotPlanned" if intent is None else _STATUS[intent.state]


# --- geotemporal (geotemporal.yaml: F3548's, with more altitude references) ----------------------------


class PlanningAltitude(_Wire):
    """geotemporal.yaml ``Altitude``: metres against W84, SFC or Takeoff (v0.5.0: W84 or SFC)."""

    value: Annotated[float, Field(strict=True, ge=-8000.0, le=_W84_MAX_M)]
    reference: Literal["W84", "SFC", "Takeoff"]
    units: Literal["M"]


class PlanningVolume3D(schemas.Volume3D):
    """geotemporal.yaml ``Volume3D`` (F3548's, with the altitudes above)."""

    altitude_lower: PlanningAltitude | None = None
    altitude_upper: PlanningAltitude | None = None


class PlanningVolume4D(schemas.Volume4D):
    """geotemporal.yaml ``Volume4D``."""

    volume: PlanningVolume3D

    def to_domain(self, frame: LocalFrame, *, field: str = "volume4d") -> domain.Volume4D:
        """The domain volume; SFC heights converted to W84 with ``frame.h0_m``, Takeoff refused (400)."""
        doc = self.model_dump()
        for name in ("altitude_lower", "altitude_upper"):
            altitude = doc["volume"].get(name)
            if altitude is None or altitude["reference"] == "W84":
                continue
            if altitude["reference"] == "Takeoff":
                raise InvalidRequest(
                    f"{field}.volume.{name}.reference",
                    "Takeoff is not supported: this service does not know the takeoff point's height; "
                    "send W84 or SFC",
                )
            w84_m = altitude["value"] + frame.h0_m
            if w84_m > _W84_MAX_M:
                raise InvalidRequest(
                    f"{field}.volume.{name}.value", f"{w84_m:g} m W84 once converted from SFC; at most 100000"
                )
            altitude.update(value=w84_m, reference="W84")
        return schemas.Volume4D.model_validate(doc).to_domain(frame, field=field)


# --- flight plans ---------------------------------------------------------------------------------------


class BasicFlightPlanInformation(_Wire):
    usage_state: UsageState
    uas_state: UasState | None = None  # required in v0.5.0, optional in v0.7.0
    area: list[PlanningVolume4D] = Field(default_factory=list)


class ASTMF354821OpIntentInformation(_Wire):
    priority: Annotated[int, Field(strict=True, ge=-(2**31), le=2**31 - 1)] = 0  # policy bounds later


class FlightPlan(_Wire):
    """What the virtual user asks for; fields this service does not use are ignored (v0.7.0 ``uas``...)."""

    basic_information: BasicFlightPlanInformation
    astm_f3548_21: ASTMF354821OpIntentInformation | None = None

    @property
    def state(self) -> State | None:
        """F3548 state the plan asks for (STANDARDS.md §2.1); ``None`` (Ended) when Closed."""
        basic = self.basic_information
        if basic.usage_state == "Closed":
            return None
        if basic.usage_state == "Planned":
            return State.ACCEPTED
        return {"OffNominal": State.NONCONFORMING, "Contingent": State.CONTINGENT}.get(
            basic.uas_state or "Nominal", State.ACTIVATED
        )

    def to_domain(
        self, frame: LocalFrame, *, current: OperationalIntent | None, uss_base_url: str
    ) -> IntentRequest:
        """The intent request of a plan that is not Closed; the area is the nominal or off-nominal volumes.

        Nonconforming keeps the current plan's nominal volumes (the area is where the flight now is);
        Contingent has off-nominal volumes only (F3548 OPIN0015). Geometry errors name ``...area[i]...``.
        """
        area = tuple(
            v.to_domain(frame, field=f"{AREA}[{i}]") for i, v in enumerate(self.basic_information.area)
        )
        state = self.state
        if state is None:
            raise InvalidRequest("flight_plan.basic_information.usage_state", "a Closed plan has no intent")
        nominal, off_nominal = area, ()
        if state == State.NONCONFORMING:
            nominal, off_nominal = (current.volumes if current else ()) or area, area
        elif state == State.CONTINGENT:
            nominal, off_nominal = (), area
        return IntentRequest(
            state=state,
            priority=self.astm_f3548_21.priority if self.astm_f3548_21 else 0,
            volumes=nominal,
            off_nominal_volumes=off_nominal,
            uss_base_url=uss_base_url,
        )


class UpsertFlightPlanRequest(_Wire):
    flight_plan: FlightPlan
    execution_style: ExecutionStyle
    request_id: Annotated[str, Field(strict=True, min_length=1)]


class UpsertFlightPlanResponse(_Wire):
    planning_result: PlanningActivityResult
    notes: str = ""
    flight_plan_status: FlightPlanStatus
    includes_advisories: AdvisoryInclusion = "Unknown"
    as_planned: FlightPlan | None = None  # absent: planned as asked (the area is the intent's volumes)


class DeleteFlightPlanResponse(_Wire):
    planning_result: PlanningActivityResult
    notes: str = ""
    flight_plan_status: FlightPlanStatus
    includes_advisories: AdvisoryInclusion = "Unknown"


class StatusResponse(_Wire):
    status: Literal["Starting", "Ready"]
    api_name: str = API_NAME
    api_version: str = API_VERSION


# --- test director: clear area --------------------------------------------------------------------------


class ClearAreaRequest(_Wire):
    request_id: Annotated[str, Field(strict=True)]
    extent: PlanningVolume4D


class ClearAreaOutcome(_Wire):
    success: bool = False
    message: str = ""
    details: dict[str, Any] | None = None


class ClearAreaResponse(_Wire):
    outcome: ClearAreaOutcome


# --- user notifications ---------------------------------------------------------------------------------


class PlanningUserNotification(_Wire):
    """user_notification.yaml ``UserNotification``: when the virtual user saw it, and what of conflicts."""

    observed_at: Time
    message: str = ""
    conflicts: Literal["Unknown", "None", "Single", "Multiple"] = "Unknown"

    @classmethod
    def of(cls, note: Notification) -> PlanningUserNotification:
        """Each ``conflict_created`` notification names one other intent (Single); other kinds say nothing."""
        return cls(
            observed_at=Time.of(note.time),
            message=f"{note.kind}: {note.message} (operational intent {note.intent_id})",
            conflicts="Single" if note.kind == "conflict_created" else "Unknown",
        )


class QueryUserNotificationsResponse(_Wire):
    user_notifications: list[PlanningUserNotification]

    @classmethod
    def of(cls, notes: Iterable[Notification]) -> QueryUserNotificationsResponse:
        return cls(user_notifications=[PlanningUserNotification.of(n) for n in notes])
