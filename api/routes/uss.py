"""USS-to-USS reads as F3548 defines them: an intent's details (with its ovn) and its latest telemetry.

Layer: api.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from api.deps import ConformanceCaller, Frame, Operator, Service
from api.schemas import OperationalIntent
from api.telemetry_schemas import TelemetryResponse

__all__ = ["router"]

router = APIRouter(prefix="/uss/v1", tags=["uss"])


@router.get("/operational_intents/{entity_id}")
def get_intent_details(
    entity_id: UUID, svc: Service, frame: Frame, _: Operator
) -> dict[str, OperationalIntent]:
    """F3548 getOperationalIntentDetails: peers learn the ovn here (only the DSS withholds it)."""
    return {"operational_intent": OperationalIntent.of(svc.get(entity_id), frame, with_ovn=True)}


@router.get("/operational_intents/{entity_id}/telemetry")
def get_intent_telemetry(
    entity_id: UUID, svc: Service, frame: Frame, _: ConformanceCaller
) -> TelemetryResponse:
    """F3548 getOperationalIntentTelemetry: the latest report (404 before the first one)."""
    return TelemetryResponse.of(entity_id, svc.last_telemetry(entity_id), frame)
