"""FastAPI dependency aliases: the service, the region frame, and the caller with the scope a route needs.

The dependencies are async because they never block: each sync one would cost a threadpool hop per request.

Layer: api.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from airspace.frames import LocalFrame
from api.auth import Caller, require_scope
from utm.service import UTMService

__all__ = [
    "AuditReader",
    "ConformanceCaller",
    "Frame",
    "GeofenceReader",
    "GeofenceWriter",
    "LiveReader",
    "Operator",
    "PlanningCaller",
    "PlanningTestCaller",
    "ReplayReader",
    "Service",
    "StrategicOrConformance",
]


async def get_service(request: Request) -> UTMService:
    return request.app.state.service


async def get_frame(request: Request) -> LocalFrame:
    return request.app.state.service.frame


Service = Annotated[UTMService, Depends(get_service)]
Frame = Annotated[LocalFrame, Depends(get_frame)]

# Scopes as STANDARDS.md §5: one role scope per route family.
Operator = Annotated[Caller, Depends(require_scope("utm.strategic_coordination"))]
ConformanceCaller = Annotated[Caller, Depends(require_scope("utm.conformance_monitoring_sa"))]
StrategicOrConformance = Annotated[
    Caller, Depends(require_scope("utm.strategic_coordination", "utm.conformance_monitoring_sa"))
]
GeofenceWriter = Annotated[Caller, Depends(require_scope("utm.constraint_management"))]
GeofenceReader = Annotated[
    Caller, Depends(require_scope("utm.constraint_processing", "utm.constraint_management"))
]
PlanningCaller = Annotated[Caller, Depends(require_scope("interuss.flight_planning.plan"))]
PlanningTestCaller = Annotated[
    Caller, Depends(require_scope("interuss.flight_planning.direct_automated_test"))
]
# DELETE /flight_planning/v1/flight_plans/{id}: uss_qualifier sends the plan scope, the spec names the other.
PlanningOrTestCaller = Annotated[
    Caller,
    Depends(require_scope("interuss.flight_planning.plan", "interuss.flight_planning.direct_automated_test")),
]
__all__ += ["PlanningOrTestCaller"]
ReplayReader = Annotated[Caller, Depends(require_scope("utm6g.replay.read"))]
LiveReader = Annotated[Caller, Depends(require_scope("utm6g.live.read"))]
AuditReader = Annotated[Caller, Depends(require_scope("utm6g.audit.read"))]
