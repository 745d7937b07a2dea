"""The web map's static layers of an airspace: cells, geofences, hubs and radio sites, in local metres.

One builder for a recorded run (/replay/v1/runs/{run}/map) and for the live airspace (/live/v1/map), so the
page draws both the same way. Coordinates stay in the region's east-north-up metres (the page draws in
them; the states are in them); ``origin`` lets a client place them on the globe. Layer: api.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from airspace.geofences import Geofence
from airspace.region import Region
from airspace.volumes import format_time
from sim.eventlog import MODES
from sim.sixg.deployment import Sites

__all__ = ["ACTIVE_STEP_S", "active_intervals", "map_layers"]

ACTIVE_STEP_S = 10.0
"""Resolution of a geofence's ``active_s`` intervals: schedules are sampled this often over the span."""


def map_layers(
    region: Region,
    *,
    start: datetime,
    span_s: tuple[float, float],
    sites: Sites | None,
    comms_profile: str,
    sensing: bool,
    separation: dict[str, Any] | None,
    tile_url: str | None,
) -> dict[str, Any]:
    """Everything the page draws that does not move, for the airspace ``region`` over ``span_s``."""
    grid = region.grid
    nx, ny, nk = grid.shape
    i, j, k = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nk), indexing="ij")
    x_min, y_min, x_max, y_max = grid.bounds_xy_m
    return {
        "region": region.name,
        "origin": {
            "lat_deg": region.frame.lat0_deg,
            "lon_deg": region.frame.lon0_deg,
            "h_m": region.frame.h0_m,
        },
        "start": format_time(start),
        "t_min_s": span_s[0],
        "t_max_s": span_s[1],
        "bounds_m": [x_min, y_min, x_max, y_max],
        "grid": {
            "x_edges_m": np.linspace(x_min, x_max, nx + 1).round(3).tolist(),
            "y_edges_m": np.linspace(y_min, y_max, ny + 1).round(3).tolist(),
            "layers": [
                {"name": layer.name, "z_lower_m": layer.z_lower_m, "z_upper_m": layer.z_upper_m}
                for layer in grid.layers
            ],
            "capacity": np.asarray(grid.capacity(i, j, k)).tolist(),
        },
        "geofences": [
            _geofence(fence, volume, start, span_s) for fence in region.geofences for volume in fence.volumes
        ],
        "hubs": [
            {"id": hub.id, "name": hub.name, "kind": hub.kind, "x_m": hub.x_m, "y_m": hub.y_m}
            for hub in region.hubs
        ],
        "sites": []
        if sites is None
        else [{"x_m": round(float(x), 1), "y_m": round(float(y), 1)} for x, y in sites.xy_m],
        "comms_profile": comms_profile,
        "sensing": sensing,
        "modes": list(MODES),
        "separation": separation,
        "tile_url": tile_url,
    }


def _geofence(fence: Geofence, volume: Any, start: datetime, span_s: tuple[float, float]) -> dict[str, Any]:
    xy = np.asarray(volume.footprint().exterior.coords)[:-1]
    return {
        "id": fence.identifier,
        "name": fence.name,
        "restriction": str(fence.restriction),
        "message": fence.message,
        "z_lower_m": volume.z_lower_m if math.isfinite(volume.z_lower_m) else None,
        "z_upper_m": volume.z_upper_m if math.isfinite(volume.z_upper_m) else None,
        "outline_m": xy.round(1).tolist(),
        "active_s": active_intervals(fence, start, span_s),
    }


def active_intervals(fence: Geofence, start: datetime, span_s: tuple[float, float]) -> list[list[float]]:
    """The parts of ``span_s`` (seconds from ``start``) in which the zone applies, to ACTIVE_STEP_S.

    >>> from airspace.geofences import Applicability, Restriction
    >>> from airspace.volumes import Volume3D
    >>> from datetime import UTC
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> box = Volume3D.polygon([(0, 0), (1, 0), (1, 1)], z_lower_m=0.0, z_upper_m=100.0)
    >>> later = Applicability(start=t0 + timedelta(seconds=100), end=t0 + timedelta(seconds=300))
    >>> active_intervals(Geofence("z", Restriction.PROHIBITED, (box,), (later,)), t0, (0.0, 600.0))
    [[100.0, 300.0]]
    >>> active_intervals(Geofence("z", Restriction.PROHIBITED, (box,)), t0, (0.0, 600.0))
    [[0.0, 600.0]]
    """
    lo, hi = span_s
    if not fence.applicability:
        return [[lo, hi]]
    samples = np.append(np.arange(lo, hi, ACTIVE_STEP_S), hi)
    active = np.array([fence.active_at(start + timedelta(seconds=float(t))) for t in samples])
    edges = np.flatnonzero(np.diff(np.concatenate([[False], active, [False]]).astype(np.int8)))
    return [[float(samples[a]), float(samples[b - 1])] for a, b in zip(edges[::2], edges[1::2], strict=True)]
