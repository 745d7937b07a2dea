"""The human-readable summary of a region that ``utm6g airspace`` prints.

Layer: api.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from airspace.geofences import Restriction
from airspace.region import Region
from airspace.volumes import Volume4D, format_time

__all__ = ["corridor_summary", "region_summary"]


def region_summary(region: Region, *, at: datetime) -> str:
    """Cells, layers, geofences by restriction (active at ``at``) and hubs, as aligned text."""
    grid = region.grid
    nx, ny, nk = grid.shape
    size_m = grid.cell_size_m
    lat, lon = region.frame.lat0_deg, region.frame.lon0_deg
    blocked = grid.blocked_at(region.geofences, at)
    lines = [
        f"Region {region.name}: origin {lat:.5f} N {lon:.5f} E, ground {region.frame.h0_m:.1f} m W84",
        f"Cells: {nx} x {ny} of {size_m:g} m ({nx * size_m / 1000:g} km x {ny * size_m / 1000:g} km)"
        f" x {nk} layers = {nx * ny * nk} cell-layers; {int(blocked.sum())} blocked at {format_time(at)}",
        "Layers (height above ground, capacity = simultaneous flights per cell):",
    ]
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    for k, layer in enumerate(grid.layers):
        caps = np.broadcast_to(grid.capacity(i, j, k), i.shape)
        cap = f"{caps.min()}" if caps.min() == caps.max() else f"{caps.min()}-{caps.max()}"
        lines.append(
            f"  {layer.name:<10} {layer.z_lower_m:6.0f} - {layer.z_upper_m:<6.0f} m  capacity {cap:<6}"
            f" blocked {int(blocked[..., k].sum())}"
        )
    lines.append(f"Geofences: {len(region.geofences)}")
    for restriction in Restriction:
        fences = [f for f in region.geofences if f.restriction is restriction]
        active = sum(f.active_at(at) for f in fences)
        ids = ", ".join(f.identifier for f in fences)
        lines.append(f"  {restriction:<18} {len(fences):3d} ({active} active)  {ids}".rstrip())
    kinds = Counter(h.kind for h in region.hubs)
    lines.append(f"Hubs: {len(region.hubs)} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    for hub in region.hubs:
        hlon, hlat, _ = region.frame.to_geodetic(hub.x_m, hub.y_m)
        lines.append(f"  {hub.id:<16} {hub.kind:<13} {hlat:9.5f} N {hlon:10.5f} E  {hub.name}")
    return "\n".join(lines)


def corridor_summary(corridor: Sequence[Volume4D], *, origin: str, destination: str, layer: str) -> str:
    """One line describing a planned corridor: length, duration, volumes, time window."""
    start, end = corridor[0].time_start, corridor[-1].time_end
    minutes = (end - start).total_seconds() / 60.0 if start and end else float("nan")
    window = f"{format_time(start) if start else '-'} to {format_time(end) if end else '-'}"
    return (
        f"Route {origin} -> {destination} on {layer}: {len(corridor)} corridor volumes,"
        f" {window} ({minutes:.1f} min with buffers)"
    )
