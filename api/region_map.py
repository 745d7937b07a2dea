"""The region map PNG: cells, geofences by restriction, hubs and one planned corridor.

Drawn with matplotlib's object API (Figure -> Agg), never pyplot, so no GUI toolkit is touched (STYLE §3).

Layer: api.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from shapely.geometry import Polygon

from airspace.geofences import Restriction
from airspace.region import Region
from airspace.volumes import Volume4D, format_time

__all__ = ["RESTRICTION_COLOURS", "write_region_map"]

RESTRICTION_COLOURS = {
    Restriction.PROHIBITED: "#d62728",
    Restriction.REQ_AUTHORISATION: "#ff7f0e",
    Restriction.CONDITIONAL: "#bcbd22",
    Restriction.NO_RESTRICTION: "#2ca02c",
}


def write_region_map(
    region: Region, path: Path, *, at: datetime, corridor: Sequence[Volume4D] = (), layer: int = 0
) -> None:
    """Draw the region in lon/lat (equal-distance aspect) and save a PNG at ``path``."""
    fig = Figure(figsize=(10, 10), dpi=110)
    ax = fig.subplots()
    ax.set_aspect(1.0 / math.cos(math.radians(region.frame.lat0_deg)))
    _draw_cells(ax, region, at, layer)
    _draw_geofences(ax, region, at)
    _draw_corridor(ax, region, corridor)
    _draw_hubs(ax, region)
    xmin, ymin, xmax, ymax = region.grid.bounds_xy_m
    lon, lat, _ = region.frame.to_geodetic([xmin, xmax], [ymin, ymax])
    ax.set_xlim(lon[0], lon[1])
    ax.set_ylim(lat[0], lat[1])
    ax.set_xlabel("longitude (deg E)")
    ax.set_ylabel("latitude (deg N)")
    ax.set_title(f"{region.name} at {format_time(at)} (layer {region.grid.layers[layer].name})")
    ax.legend(handles=_legend(), loc="upper right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path)


def _lonlat(region: Region, polygon: Polygon) -> np.ndarray:
    xy = np.asarray(polygon.exterior.coords)
    lon, lat, _ = region.frame.to_geodetic(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _draw_cells(ax: Axes, region: Region, at: datetime, layer: int) -> None:
    """Grid lines every cell, blocked cells of ``layer`` shaded."""
    grid = region.grid
    nx, ny, _ = grid.shape
    xmin, ymin, xmax, ymax = grid.bounds_xy_m
    for x in np.linspace(xmin, xmax, nx + 1):
        lon, lat, _ = region.frame.to_geodetic([x, x], [ymin, ymax])
        ax.plot(lon, lat, color="#cccccc", lw=0.3, zorder=1)
    for y in np.linspace(ymin, ymax, ny + 1):
        lon, lat, _ = region.frame.to_geodetic([xmin, xmax], [y, y])
        ax.plot(lon, lat, color="#cccccc", lw=0.3, zorder=1)
    blocked = grid.blocked_at(region.geofences, at)[..., layer]
    for i, j in np.argwhere(blocked):
        lonlat = _lonlat(region, grid.cell_box(int(i), int(j)))
        ax.fill(*lonlat.T, color="#d62728", alpha=0.12, lw=0, zorder=1)


def _draw_geofences(ax: Axes, region: Region, at: datetime) -> None:
    for fence in region.geofences:
        colour = RESTRICTION_COLOURS[fence.restriction]
        active = fence.active_at(at)
        for volume in fence.volumes:
            lonlat = _lonlat(region, volume.footprint())
            ax.fill(*lonlat.T, color=colour, alpha=0.35 if active else 0.08, zorder=2)
            ax.plot(*lonlat.T, color=colour, lw=1.2, ls="-" if active else "--", zorder=2)
        centre = np.mean(_lonlat(region, fence.volumes[0].footprint())[:-1], axis=0)
        ax.annotate(fence.identifier, centre, fontsize=7, ha="center", color="#333333", zorder=5)


def _draw_corridor(ax: Axes, region: Region, corridor: Sequence[Volume4D]) -> None:
    for volume in corridor:
        ax.fill(*_lonlat(region, volume.volume.footprint()).T, color="#1f77b4", alpha=0.5, lw=0, zorder=3)


def _draw_hubs(ax: Axes, region: Region) -> None:
    for hub in region.hubs:
        lon, lat, _ = region.frame.to_geodetic(hub.x_m, hub.y_m)
        marker = "s" if hub.kind == "vertiport" else "o"
        ax.plot(lon, lat, marker=marker, color="black", ms=7, mfc="white", mew=1.5, zorder=6)
        at_hub = (float(lon), float(lat))
        ax.annotate(hub.id, at_hub, xytext=(6, 4), textcoords="offset points", fontsize=8, zorder=6)


def _legend() -> list:
    handles: list = [Patch(color=c, alpha=0.5, label=str(r)) for r, c in RESTRICTION_COLOURS.items()]
    handles += [
        Patch(facecolor="none", edgecolor="#555555", ls="--", label="zone not active now"),
        Patch(color="#d62728", alpha=0.12, label="blocked cell (route layer)"),
        Patch(color="#1f77b4", alpha=0.5, label="planned corridor"),
        Line2D([], [], marker="o", ls="", mfc="white", color="black", label="delivery hub"),
        Line2D([], [], marker="s", ls="", mfc="white", color="black", label="vertiport"),
    ]
    return handles
