"""Errors of the airspace layer: each names the field and the reason.

Layer: airspace; imports nothing of ours.
"""

__all__ = ["AirspaceInputError", "InvalidGeozone", "InvalidRegion", "InvalidVolume", "NoRoute"]


class AirspaceInputError(ValueError):
    """Bad input to the airspace layer; the message reads ``"<field path>: <reason>"``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)  # args rebuild the error (pickling, SimPy re-raising a failed event)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class InvalidVolume(AirspaceInputError):
    """A 3D/4D volume whose geometry, altitudes or times break F3548's rules."""


class InvalidGeozone(AirspaceInputError):
    """A geozone document (ED-269, ED-318, GeoJSON) that cannot be imported."""


class InvalidRegion(AirspaceInputError):
    """A region description (grid, layers, capacities, hubs) that is inconsistent."""


class NoRoute(AirspaceInputError):
    """No corridor joins origin and destination on the requested layer and time."""
