"""GeoJSON (WGS84 lon/lat) of a region: cells, geofences, hubs and planned corridors.

Layer: api (the edge that knows degrees and JSON).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from shapely.geometry import Polygon

from airspace.frames import LocalFrame
from airspace.region import Region
from airspace.volumes import Volume4D, format_time

__all__ = ["region_geojson"]


def region_geojson(region: Region, *, at: datetime, corridor: Sequence[Volume4D] = ()) -> dict[str, Any]:
    """A FeatureCollection of the region's cells, geofences (active or not at ``at``), hubs and a corridor."""
    features = [*_cells(region, at), *_geofences(region, at), *_hubs(region), *_corridor(region, corridor)]
    return {
        "type": "FeatureCollection",
        "name": region.name,
        "properties": {"at": format_time(at), "origin": [region.frame.lon0_deg, region.frame.lat0_deg]},
        "features": features,
    }


def _ring(frame: LocalFrame, polygon: Polygon) -> list[list[list[float]]]:
    """GeoJSON polygon coordinates (closed ring, lon/lat, 7 decimals ~ 1 cm)."""
    xy = np.asarray(polygon.exterior.coords)
    lon, lat, _ = frame.to_geodetic(xy[:, 0], xy[:, 1])
    return [np.round(np.column_stack([lon, lat]), 7).tolist()]


def _feature(coords: Any, geometry_type: str, **properties: Any) -> dict[str, Any]:
    geometry = {"type": geometry_type, "coordinates": coords}
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _height(z_m: float, frame: LocalFrame) -> float | None:
    """W84 height of a frame z, ``None`` (GeoJSON null) when unbounded."""
    return round(z_m + frame.h0_m, 2) if math.isfinite(z_m) else None


def _cells(region: Region, at: datetime) -> list[dict[str, Any]]:
    grid = region.grid
    nx, ny, nk = grid.shape
    blocked = grid.blocked_at(region.geofences, at)
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    caps = np.stack([np.broadcast_to(grid.capacity(i, j, k), i.shape) for k in range(nk)], axis=-1)
    names = [layer.name for layer in grid.layers]
    return [
        _feature(
            _ring(region.frame, grid.cell_box(a, b)),
            "Polygon",
            kind="cell",
            i=a,
            j=b,
            capacity={names[k]: int(caps[a, b, k]) for k in range(nk)},
            blocked=[names[k] for k in range(nk) if blocked[a, b, k]],
        )
        for a in range(nx)
        for b in range(ny)
    ]


def _geofences(region: Region, at: datetime) -> list[dict[str, Any]]:
    out = []
    for fence in region.geofences:
        for n, volume in enumerate(fence.volumes):
            out.append(
                _feature(
                    _ring(region.frame, volume.footprint()),
                    "Polygon",
                    kind="geofence",
                    identifier=fence.identifier,
                    name=fence.name,
                    restriction=str(fence.restriction),
                    active=fence.active_at(at),
                    volume=n,
                    altitude_lower_w84_m=_height(volume.z_lower_m, region.frame),
                    altitude_upper_w84_m=_height(volume.z_upper_m, region.frame),
                    authority=fence.authority,
                    message=fence.message,
                )
            )
    return out


def _hubs(region: Region) -> list[dict[str, Any]]:
    out = []
    for hub in region.hubs:
        lon, lat, _ = region.frame.to_geodetic(hub.x_m, hub.y_m)
        point = [round(float(lon), 7), round(float(lat), 7)]
        out.append(_feature(point, "Point", kind=hub.kind, id=hub.id, name=hub.name))
    return out


def _corridor(region: Region, corridor: Sequence[Volume4D]) -> list[dict[str, Any]]:
    return [
        _feature(
            _ring(region.frame, v.volume.footprint()),
            "Polygon",
            kind="corridor",
            segment=n,
            time_start=format_time(v.time_start) if v.time_start else None,
            time_end=format_time(v.time_end) if v.time_end else None,
            altitude_lower_w84_m=_height(v.volume.z_lower_m, region.frame),
            altitude_upper_w84_m=_height(v.volume.z_upper_m, region.frame),
        )
        for n, v in enumerate(corridor)
    ]
