"""InterUSS flight_planning v1 at ``/flight_planning/v1``: a thin adapter over UTMService (STANDARDS.md §2.1).

The caller (token ``sub``) is the virtual user and the manager of what it plans; the operational intent
made for flight plan ``{id}`` carries that same id. A plan is created when no live intent has the id,
else updated at its current ovn. Answers follow STANDARDS.md §2.1 exactly: an accepted plan is
``Completed`` with the new status; a refused one (a conflict, a zone, capacity, or a rule such as OPIN0030
"too far away" or OPIN0040 "already ended") is ``Rejected`` with the status of the plan the user still has
(``NotPlanned`` when none), so an activated flight modified into conflict stays ``OkToFly`` on its old
version. ``Failed`` is never used for a rule: uss_qualifier counts it as a USS failure. A body that is not
a well-formed request (types, enums, geometry, a ``Takeoff`` altitude) is 400, as everywhere in the API.

Choices where the spec leaves room:

- ``Hypothetical`` execution is ``NotSupported`` (the spec allows it; the service has no dry run);
  ``InReality`` is handled as ``IfAllowed``: off-nominal reports are never refused anyway, and the service
  never records a nominal plan it refuses.
- ``request_id``: per caller, the answer of each upsert is kept in memory (the last 10,000), so an identical
  retry gets the same answer; a reuse with another body, or while the first is still running, is 409.
- DELETE accepts the ``plan`` or the ``direct_automated_test`` scope (uss_qualifier sends ``plan``) and
  ends the caller's own plan; another manager's plan is 403 (the test director clears areas instead).
- ``/clear_area_requests`` ends every intent meeting the extent whoever manages it, audited as the caller.

Layer: api.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request

from airspace.frames import LocalFrame
from airspace.volumes import format_time
from api.deps import Frame, PlanningCaller, PlanningOrTestCaller, PlanningTestCaller, Service
from api.flight_planning_schemas import (
    AREA,
    ClearAreaOutcome,
    ClearAreaRequest,
    ClearAreaResponse,
    DeleteFlightPlanResponse,
    QueryUserNotificationsResponse,
    StatusResponse,
    UpsertFlightPlanRequest,
    UpsertFlightPlanResponse,
    plan_status,
)
from utm.errors import InvalidRequest, NotFound, PlanRejected
from utm.intents import OperationalIntent
from utm.service import UTMService

__all__ = ["router"]

router = APIRouter(prefix="/flight_planning/v1", tags=["flight_planning"])

LEDGER_CAPACITY = 10_000
_LEDGER_SETUP = threading.Lock()  # guards the lazy creation of each app's ledger only
# Domain field names -> the wire's, for the notes of a refused plan.
_WIRE_FIELDS = {
    "volumes": AREA,
    "off_nominal_volumes": AREA,
    "priority": "flight_plan.astm_f3548_21.priority",
    "state": "flight_plan.basic_information",
}


Answer = UpsertFlightPlanResponse


class RequestLedger:
    """Answers of upserts by (caller, request_id), oldest forgotten first, so a retry gets the same answer."""

    def __init__(self, capacity: int = LEDGER_CAPACITY) -> None:
        self._lock = threading.Lock()
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, str], tuple[Any, Answer | None]] = OrderedDict()

    def begin(self, key: tuple[str, str], fingerprint: Any) -> UpsertFlightPlanResponse | None:
        """The stored answer of an identical earlier request, else ``None`` (and the key is now taken).

        409 when the request_id is taken by a request still running, or by one with another body.
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._entries[key] = (fingerprint, None)
                while len(self._entries) > self._capacity:
                    self._entries.popitem(last=False)
                return None
        seen, answer = entry
        if seen != fingerprint:
            raise HTTPException(409, f"request_id {key[1]!r} was already used for a different request")
        if answer is None:
            raise HTTPException(409, f"request_id {key[1]!r} is still being processed; retry later")
        return answer

    def finish(self, key: tuple[str, str], answer: UpsertFlightPlanResponse) -> None:
        with self._lock:
            if key in self._entries:
                self._entries[key] = (self._entries[key][0], answer)

    def abandon(self, key: tuple[str, str]) -> None:
        """Forget a request that ended in an HTTP error (no answer to repeat)."""
        with self._lock:
            self._entries.pop(key, None)


def get_ledger(request: Request) -> RequestLedger:
    """This app's ledger, made on first use (``create_app`` knows nothing of it)."""
    with _LEDGER_SETUP:
        ledger = getattr(request.app.state, "flight_planning_requests", None)
        if ledger is None:
            ledger = request.app.state.flight_planning_requests = RequestLedger()
    return ledger


Ledger = Annotated[RequestLedger, Depends(get_ledger)]


@router.get("/status")
def get_status(who: PlanningTestCaller) -> StatusResponse:
    """The interface is ready as soon as the app serves requests."""
    return StatusResponse(status="Ready")


@router.put("/flight_plans/{flight_plan_id}")
def upsert_flight_plan(
    flight_plan_id: UUID,
    body: UpsertFlightPlanRequest,
    request: Request,
    svc: Service,
    frame: Frame,
    who: PlanningCaller,
    ledger: Ledger,
) -> UpsertFlightPlanResponse:
    """Plan, modify, activate, report off-nominal or close the flight plan ``flight_plan_id``."""
    key = (who.sub, body.request_id)
    stored = ledger.begin(key, (flight_plan_id, body.model_dump()))
    if stored is not None:
        return stored
    try:
        answer = _upsert(flight_plan_id, body, svc, frame, manager=who.sub, base_url=str(request.base_url))
    except BaseException:
        ledger.abandon(key)
        raise
    ledger.finish(key, answer)
    return answer


@router.delete("/flight_plans/{flight_plan_id}")
def delete_flight_plan(
    flight_plan_id: UUID, svc: Service, who: PlanningOrTestCaller
) -> DeleteFlightPlanResponse:
    """Close the caller's flight plan (404 unknown or already closed, 403 someone else's)."""
    intent = svc.get(flight_plan_id)
    svc.delete(flight_plan_id, intent.ovn, manager=who.sub)
    return DeleteFlightPlanResponse(
        planning_result="Completed",
        notes=f"operational intent {flight_plan_id} ended",
        flight_plan_status="Closed",
        includes_advisories="NoAdvisoriesOrConditions",
    )


@router.post("/clear_area_requests")
def clear_area(
    body: ClearAreaRequest, svc: Service, frame: Frame, who: PlanningTestCaller
) -> ClearAreaResponse:
    """Test director: end every live intent meeting ``extent``, whoever manages it."""
    ended = svc.clear_area(body.extent.to_domain(frame, field="extent"), actor=who.sub)
    return ClearAreaResponse(
        outcome=ClearAreaOutcome(
            success=True,
            message=f"{len(ended)} flight plan(s) closed",
            details={"flight_plans_closed": [str(i) for i in ended]},
        )
    )


@router.get("/user_notifications")
def user_notifications(
    svc: Service, who: PlanningCaller, after: datetime, before: datetime | None = None
) -> QueryUserNotificationsResponse:
    """The caller's notifications observed in ``[after, before]`` (``before`` defaults to now)."""
    for name, t in (("after", after), ("before", before)):
        if t is not None and t.utcoffset() is None:
            raise InvalidRequest(name, f"must carry a UTC offset or Z ({t.isoformat()})")
    before = svc.now() if before is None else before
    if before < after:
        raise InvalidRequest("before", f"{format_time(before)} is earlier than after ({format_time(after)})")
    return QueryUserNotificationsResponse.of(svc.notifications(manager=who.sub, after=after, before=before))


def _upsert(
    plan_id: UUID,
    body: UpsertFlightPlanRequest,
    svc: UTMService,
    frame: LocalFrame,
    *,
    manager: str,
    base_url: str,
) -> UpsertFlightPlanResponse:
    """One planning activity; a refusal is an answer (Rejected), a malformed body an exception (400)."""
    current = _live(svc, plan_id)
    if current is not None and current.manager != manager:
        return _rejected(f"flight plan id {plan_id} names an operational intent another user manages", None)
    plan = body.flight_plan
    if body.execution_style == "Hypothetical":
        return UpsertFlightPlanResponse(
            planning_result="NotSupported",
            notes="Hypothetical execution is not supported; send IfAllowed",
            flight_plan_status=plan_status(current),
        )
    if plan.state is None:
        return _close(plan_id, svc, current, manager=manager)
    request = plan.to_domain(frame, current=current, uss_base_url=base_url.rstrip("/"))
    try:
        if current is None:
            decision = svc.create(plan_id, request, manager=manager)
        else:
            decision = svc.update(plan_id, current.ovn, request, manager=manager)
    except PlanRejected as refused:
        alternatives = "".join(f"; alternative: {a.description}" for a in refused.alternatives)
        return _rejected(f"{refused.reason}: {refused.message}{alternatives}", current)
    except InvalidRequest as invalid:
        return _rejected(f"{_wire_field(invalid.field)}: {invalid.reason}", current)
    advisories = decision.advisories
    return UpsertFlightPlanResponse(
        planning_result="Completed",
        notes="; ".join(f"{a.kind} {a.ref}: {a.message}" for a in advisories),
        flight_plan_status=plan_status(decision.intent),
        includes_advisories="AtLeastOneAdvisoryOrCondition" if advisories else "NoAdvisoriesOrConditions",
    )


def _close(
    plan_id: UUID, svc: UTMService, current: OperationalIntent | None, *, manager: str
) -> UpsertFlightPlanResponse:
    """usage_state Closed: end the intent (Closing what is not live is already done)."""
    if current is not None:
        svc.delete(plan_id, current.ovn, manager=manager)
    return UpsertFlightPlanResponse(
        planning_result="Completed",
        notes=f"operational intent {plan_id} ended" if current else f"no live flight plan {plan_id} to close",
        flight_plan_status="Closed",
        includes_advisories="NoAdvisoriesOrConditions",
    )


def _rejected(notes: str, current: OperationalIntent | None) -> UpsertFlightPlanResponse:
    return UpsertFlightPlanResponse(
        planning_result="Rejected",
        notes=notes,
        flight_plan_status=plan_status(current),
        includes_advisories="NoAdvisoriesOrConditions",
    )


def _live(svc: UTMService, plan_id: UUID) -> OperationalIntent | None:
    try:
        return svc.get(plan_id)
    except NotFound:
        return None


def _wire_field(field: str) -> str:
    """``volumes[0].time_end`` -> ``flight_plan.basic_information.area[0].time_end``.

    >>> _wire_field("volumes[2].time_start"), _wire_field("priority")
    ('flight_plan.basic_information.area[2].time_start', 'flight_plan.astm_f3548_21.priority')
    """
    name = field.split("[", 1)[0].split(".", 1)[0]
    return _WIRE_FIELDS.get(name, name) + field[len(name) :]
