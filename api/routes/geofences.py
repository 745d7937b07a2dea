"""Geofences: create or replace one, import a whole ED-269 / ED-318 / GeoJSON document, read, delete.

Layer: api.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Frame, GeofenceReader, GeofenceWriter, Service
from api.geofence_schemas import GeofenceResponse, GeofencesResponse

__all__ = ["router"]

router = APIRouter(prefix="/utm/v1/geofences", tags=["geofences"])
Document = dict[str, Any]


@router.post("/import")
def import_geofences(doc: Document, svc: Service, frame: Frame, who: GeofenceWriter) -> GeofencesResponse:
    """Import every zone of an ED-269 (either root), ED-318 or GeoJSON document; all or nothing."""
    fences = svc.import_geozones(doc, actor=who.sub)
    return GeofencesResponse(geofences=[GeofenceResponse.of(f, frame, now=svc.now()) for f in fences])


@router.get("")
def list_geofences(svc: Service, frame: Frame, _: GeofenceReader) -> GeofencesResponse:
    now = svc.now()
    return GeofencesResponse(geofences=[GeofenceResponse.of(f, frame, now=now) for f in svc.geofences])


@router.put("/{identifier}")
def put_geofence(
    identifier: str, doc: Document, svc: Service, frame: Frame, who: GeofenceWriter
) -> GeofenceResponse:
    """Create or replace one geofence, given as a one-zone geozone document whose identifier matches."""
    return GeofenceResponse.of(svc.put_geozone(identifier, doc, actor=who.sub), frame, now=svc.now())


@router.get("/{identifier}")
def get_geofence(identifier: str, svc: Service, frame: Frame, _: GeofenceReader) -> GeofenceResponse:
    return GeofenceResponse.of(svc.get_geofence(identifier), frame, now=svc.now())


@router.delete("/{identifier}")
def delete_geofence(identifier: str, svc: Service, frame: Frame, who: GeofenceWriter) -> GeofenceResponse:
    return GeofenceResponse.of(svc.delete_geofence(identifier, actor=who.sub), frame, now=svc.now())
