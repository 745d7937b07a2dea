"""Telemetry on the wire: F3548 ``VehicleTelemetry`` in (operators' reports) and out (the USS endpoint).

Accuracy travels as F3548's HA…/VA… classes or, as our extension, a number of metres. Layer: api.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AliasChoices, BeforeValidator, Field, WithJsonSchema

from airspace.frames import LocalFrame
from airspace.volumes import parse_time
from api.schemas import Altitude, Latitude, Longitude, Time, _Wire
from utm.telemetry import TelemetryReport

__all__ = ["Position", "TelemetryRequest", "TelemetryResponse", "VehicleTelemetry", "Velocity"]

# --- telemetry (F3548 VehicleTelemetry) -----------------------------------------------------------

_NM_M = 1852.0
# F3548 accuracy enums -> metres. "Unknown" is None (0 m in the report); an open "...Plus" class takes
# its lower bound.
_ACCURACY_H_M: dict[str, float | None] = (
    {"HAUnknown": None, "HA10NMPlus": 10 * _NM_M}
    | {f"HA{k}NM": nm * _NM_M for k, nm in (("10", 10), ("4", 4), ("2", 2), ("1", 1), ("05", 0.5))}
    | {f"HA{k}NM": nm * _NM_M for k, nm in (("03", 0.3), ("01", 0.1), ("005", 0.05))}
    | {f"HA{m}m": float(m) for m in (30, 10, 3, 1)}
)
_ACCURACY_V_M: dict[str, float | None] = {"VAUnknown": None, "VA150mPlus": 150.0} | {
    f"VA{m}m": float(m) for m in (150, 45, 25, 10, 3, 1)
}


def _accuracy(table: dict[str, float | None]) -> Any:
    """An F3548 accuracy enum, or a number of metres (our extension), validated to metres or None."""

    def to_metres(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value not in table:
            raise ValueError(f"must be one of {', '.join(table)} or a number of metres ({value!r})")
        return table[value]

    schema = {"anyOf": [{"type": "string", "enum": list(table)}, {"type": "number", "minimum": 0}]}
    return Annotated[
        Annotated[float, Field(strict=True, ge=0.0)] | None,
        BeforeValidator(to_metres),
        WithJsonSchema(schema),
    ]


class Position(_Wire):
    """F3548 ``Position``; ``lat``/``lng`` are accepted for ``latitude``/``longitude``."""

    latitude: Latitude = Field(validation_alias=AliasChoices("latitude", "lat"))
    longitude: Longitude = Field(validation_alias=AliasChoices("longitude", "lng"))
    altitude: Altitude
    accuracy_h: _accuracy(_ACCURACY_H_M) = None  # type: ignore[valid-type]
    accuracy_v: _accuracy(_ACCURACY_V_M) = None  # type: ignore[valid-type]
    extrapolated: Annotated[bool, Field(strict=True)] = False


class Velocity(_Wire):
    """F3548 ``Velocity``: ground speed (m/s) along ``track`` (degrees east of north; 360 = unknown)."""

    speed: Annotated[float, Field(strict=True, ge=0.0)]
    units_speed: Literal["MetersPerSecond"] = "MetersPerSecond"
    track: Annotated[float, Field(strict=True, ge=0.0, le=360.0)] = 0.0
    speed_vertical: Annotated[float, Field(strict=True, description="m/s, up positive (not in F3548)")] = 0.0


class TelemetryRequest(_Wire):
    """F3548 ``VehicleTelemetry`` as an operator reports it; position is required here."""

    time_measured: Time
    position: Position
    velocity: Velocity | None = None

    def to_domain(self, frame: LocalFrame, *, intent_id: UUID) -> TelemetryReport:
        """The report in local metres and m/s (x east, y north, z up).

        No velocity, or a track of 360 (F3548: unknown), gives zero horizontal velocity. An unknown or
        absent accuracy is 0 m: no tolerance is granted that the aircraft did not claim.
        """
        p, v = self.position, self.velocity
        x, y, z = frame.to_local(p.longitude, p.latitude, p.altitude.value)
        speed = 0.0 if v is None or v.track == 360.0 else v.speed
        track_rad = 0.0 if v is None else math.radians(v.track)
        return TelemetryReport(
            intent_id=intent_id,
            time=parse_time(self.time_measured.value, "time_measured.value"),
            x_m=float(x),
            y_m=float(y),
            z_m=float(z),
            vx_mps=speed * math.sin(track_rad),
            vy_mps=speed * math.cos(track_rad),
            vz_mps=0.0 if v is None else v.speed_vertical,
            accuracy_h_m=p.accuracy_h or 0.0,
            accuracy_v_m=p.accuracy_v or 0.0,
        )


class VehicleTelemetry(_Wire):
    """F3548 ``VehicleTelemetry`` as the USS telemetry endpoint serves it."""

    time_measured: Time
    position: Position
    velocity: Velocity | None = None


class TelemetryResponse(_Wire):
    """F3548 ``GetOperationalIntentTelemetryResponse``: the latest report of an intent."""

    operational_intent_id: str
    telemetry: VehicleTelemetry
    next_telemetry_opportunity: Time

    @classmethod
    def of(
        cls, intent_id: UUID, report: TelemetryReport, frame: LocalFrame, *, period_s: float = 1.0
    ) -> TelemetryResponse:
        """Wire form of a stored report (accuracies in metres); the next opportunity assumes 1 Hz reports."""
        lon, lat, h = frame.to_geodetic(report.x_m, report.y_m, report.z_m)
        speed = math.hypot(report.vx_mps, report.vy_mps)
        track = math.degrees(math.atan2(report.vx_mps, report.vy_mps)) % 360.0 if speed > 0 else 0.0
        position = Position(
            latitude=float(lat),
            longitude=float(lon),
            altitude=Altitude(value=float(h), reference="W84", units="M"),
            accuracy_h=report.accuracy_h_m or None,  # metres (0 m was "unknown")
            accuracy_v=report.accuracy_v_m or None,
        )
        velocity = Velocity(speed=speed, track=track, speed_vertical=report.vz_mps)
        telemetry = VehicleTelemetry(time_measured=Time.of(report.time), position=position, velocity=velocity)
        later = Time.of(report.time + timedelta(seconds=period_s))
        return cls(
            operational_intent_id=str(intent_id), telemetry=telemetry, next_telemetry_opportunity=later
        )
