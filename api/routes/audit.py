"""The decisions audit trail over HTTP, for regulators: who asked what, when, and the service's answer.

Every plan, update, end, conformance transition and geofence change is a row of the store's append-only
``decisions`` table (one per decision, written in the decision's own transaction). Read-only; scope
``utm6g.audit.read``. Layer: api.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import AuditReader, Service
from utm.decisions import DecisionRecord

__all__ = ["MAX_DECISIONS", "router"]

router = APIRouter(prefix="/audit/v1", tags=["audit"])

MAX_DECISIONS = 10_000
"""The most rows one request returns (the latest ones); narrow with ``entity_id`` for older history."""


class Decision(BaseModel):
    """One audit row."""

    time: datetime
    actor: str
    action: Literal["create", "update", "delete", "conformance", "geofence_put", "geofence_delete"]
    entity_id: str
    result: Literal["accepted", "rejected", "invalid"]
    reason: str
    conflicting_ids: list[str]
    detail: str

    @classmethod
    def of(cls, record: DecisionRecord) -> Decision:
        return cls.model_validate(asdict(record))


class DecisionsResponse(BaseModel):
    decisions: list[Decision]


@router.get("/decisions")
def get_decisions(
    svc: Service,
    _: AuditReader,
    entity_id: str | None = Query(None, max_length=128, description="only this intent's or geofence's rows"),
    limit: int = Query(1000, ge=1, le=MAX_DECISIONS, description="the latest this many rows"),
) -> DecisionsResponse:
    """Audit rows, oldest first: the latest ``limit``, of one entity when ``entity_id`` is given."""
    return DecisionsResponse(
        decisions=[Decision.of(r) for r in svc.decisions(entity_id=entity_id, limit=limit)]
    )
