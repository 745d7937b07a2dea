"""Geofences on the wire: what ``GET /utm/v1/geofences/{id}`` answers (F3548 volumes, ED-269 words).

Layer: api.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from airspace.frames import LocalFrame
from airspace.geofences import Geofence
from airspace.volumes import Volume4D, format_time

__all__ = ["GeofenceResponse", "GeofencesResponse"]

_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


class GeofenceResponse(BaseModel):
    """One geofence: restriction, F3548 ``Volume3D`` outlines and heights (W84), applicability, authority."""

    identifier: str
    restriction: str
    name: str
    country: str
    authority: str
    message: str
    active_now: bool
    volumes: list[dict[str, Any]]
    applicability: list[dict[str, Any]]

    @classmethod
    def of(cls, fence: Geofence, frame: LocalFrame, *, now: datetime) -> GeofenceResponse:
        return cls(
            identifier=fence.identifier,
            restriction=str(fence.restriction),
            name=fence.name,
            country=fence.country,
            authority=fence.authority,
            message=fence.message,
            active_now=fence.active_at(now),
            volumes=[Volume4D(v).to_f3548(frame)["volume"] for v in fence.volumes],
            applicability=[
                {
                    "time_start": format_time(a.start) if a.start else None,
                    "time_end": format_time(a.end) if a.end else None,
                    "schedules": [
                        {
                            "days": [_DAYS[d] for d in sorted(s.days)],
                            "start": s.start.isoformat() + "Z",
                            "end": s.end.isoformat() + "Z",
                        }
                        for s in a.schedules
                    ],
                }
                for a in fence.applicability
            ],
        )


class GeofencesResponse(BaseModel):
    geofences: list[GeofenceResponse]
