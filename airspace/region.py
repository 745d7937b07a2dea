"""A managed region: its frame, datum, cell grid, geozones and hubs, loaded from ``region.yaml``.

The file is validated with pydantic (frozen, no unknown keys); any problem becomes one
:class:`~airspace.errors.InvalidRegion` naming the file, the key path and the reason.
Layer: airspace; imports nothing of ours but airspace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from airspace.cells import CellGrid, Layer
from airspace.errors import AirspaceInputError, InvalidRegion
from airspace.frames import LocalFrame, VerticalDatum
from airspace.geofences import Geofence
from airspace.geozones import load_geozones

__all__ = ["Hub", "Region", "load_region"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Origin(_Model):
    lat_deg: float = Field(gt=-90, lt=90)
    lon_deg: float = Field(ge=-180, le=180)


class _Datum(_Model):
    terrain_amsl_m: float = 0.0
    geoid_undulation_m: float = 0.0


class _Grid(_Model):
    cell_size_m: float = Field(500.0, gt=0)
    x_min_m: float
    y_min_m: float
    x_max_m: float
    y_max_m: float

    @model_validator(mode="after")
    def _whole_cells(self) -> _Grid:
        for axis in ("x", "y"):
            span = getattr(self, f"{axis}_max_m") - getattr(self, f"{axis}_min_m")
            if span <= 0 or not math.isclose(span / self.cell_size_m, round(span / self.cell_size_m)):
                raise ValueError(
                    f"{axis}_max_m - {axis}_min_m must be a positive multiple of cell_size_m ({span} m)"
                )
        return self


class _Layer(_Model):
    name: str = Field(min_length=1)
    lower_agl_m: float
    upper_agl_m: float
    capacity: int | None = Field(None, ge=0)


class _CellCapacity(_Model):
    lat_deg: float = Field(ge=-90, le=90)
    lon_deg: float = Field(ge=-180, le=180)
    layer: str
    capacity: int = Field(ge=0)


class _Capacity(_Model):
    default: int = Field(10, ge=0)
    cells: tuple[_CellCapacity, ...] = ()


class _Hub(_Model):
    id: str = Field(min_length=1)
    name: str
    kind: Literal["delivery_hub", "vertiport"]
    lat_deg: float = Field(ge=-90, le=90)
    lon_deg: float = Field(ge=-180, le=180)


class _RegionFile(_Model):
    name: str
    origin: _Origin
    vertical_datum: _Datum = _Datum()
    grid: _Grid
    layers: tuple[_Layer, ...] = Field(min_length=1)
    capacity: _Capacity = _Capacity()
    geozones: tuple[str, ...] = ()
    hubs: tuple[_Hub, ...] = ()


@dataclass(frozen=True, slots=True)
class Hub:
    """A delivery hub or vertiport, in the region's frame."""

    id: str
    name: str
    kind: str
    x_m: float
    y_m: float


@dataclass(frozen=True, slots=True)
class Region:
    """Everything the service and the simulator need to know about the managed airspace."""

    name: str
    frame: LocalFrame
    datum: VerticalDatum
    grid: CellGrid
    geofences: tuple[Geofence, ...]
    hubs: tuple[Hub, ...]
    source: Path

    def hub(self, hub_id: str) -> Hub:
        """The hub with this id; ``KeyError`` listing the known ids when absent."""
        for hub in self.hubs:
            if hub.id == hub_id:
                return hub
        raise KeyError(f"hub {hub_id!r} is not in region {self.name} ({', '.join(h.id for h in self.hubs)})")


def load_region(path: str | Path) -> Region:
    """Read and validate a ``region.yaml``; geozone files are resolved relative to it."""
    path = Path(path)
    doc = _read_yaml(path)
    try:
        spec = _RegionFile.model_validate(doc)
    except ValidationError as err:
        first = err.errors()[0]
        raise InvalidRegion(f"{path}: {_loc(first['loc'])}", first["msg"]) from None
    datum = VerticalDatum(spec.vertical_datum.terrain_amsl_m, spec.vertical_datum.geoid_undulation_m)
    # h0 = the region's ground as a WGS84 height, so the frame's z reads as height above ground.
    frame = LocalFrame(spec.origin.lat_deg, spec.origin.lon_deg, float(datum.to_w84(0.0, "AGL")))
    try:
        grid = _grid(spec, frame, datum)
        geofences = tuple(fence for name in spec.geozones for fence in _geozones(path, name, frame, datum))
        hubs = tuple(_hub(h, frame, grid, i) for i, h in enumerate(spec.hubs))
        _unique([h.id for h in hubs], "hubs")
    except AirspaceInputError as err:
        raise InvalidRegion(f"{path}: {err.field}", err.reason) from None
    return Region(spec.name, frame, datum, grid, geofences, hubs, path)


def _read_yaml(path: Path) -> dict:
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as err:
        raise InvalidRegion(str(path), f"cannot be read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise InvalidRegion(str(path), f"is not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise InvalidRegion(str(path), "must be a mapping of region keys")
    return doc


def _loc(loc: tuple) -> str:
    """A pydantic error location as ``layers[2].upper_agl_m``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _grid(spec: _RegionFile, frame: LocalFrame, datum: VerticalDatum) -> CellGrid:
    g = spec.grid
    _unique([layer.name for layer in spec.layers], "layers")
    z_of_ground_m = float(datum.to_w84(0.0, "AGL")) - frame.h0_m  # 0 for frames built by load_region
    layers = [
        Layer(s.name, s.lower_agl_m + z_of_ground_m, s.upper_agl_m + z_of_ground_m) for s in spec.layers
    ]
    nx = round((g.x_max_m - g.x_min_m) / g.cell_size_m)
    ny = round((g.y_max_m - g.y_min_m) / g.cell_size_m)
    overrides: dict[tuple[int, int, int], int] = {}
    names = [layer.name for layer in layers]
    for k, lay in enumerate(spec.layers):
        if lay.capacity is not None:
            overrides.update({(i, j, k): lay.capacity for i in range(nx) for j in range(ny)})
    shape = {"x_min_m": g.x_min_m, "y_min_m": g.y_min_m, "nx": nx, "ny": ny, "cell_size_m": g.cell_size_m}
    probe = CellGrid(**shape, layers=layers)
    for n, cell in enumerate(spec.capacity.cells):
        field = f"capacity.cells[{n}]"
        if cell.layer not in names:
            raise InvalidRegion(f"{field}.layer", f"unknown layer {cell.layer!r} (one of {', '.join(names)})")
        x, y, _ = frame.to_local(cell.lon_deg, cell.lat_deg)
        k = names.index(cell.layer)
        z = 0.5 * (layers[k].z_lower_m + layers[k].z_upper_m)
        if not probe.contains(x, y, z):
            raise InvalidRegion(field, f"lies outside the grid ({cell.lat_deg}, {cell.lon_deg})")
        i, j, _ = (int(v) for v in np.asarray(probe.cell_of(x, y, z)))
        overrides[(i, j, k)] = cell.capacity
    return CellGrid(**shape, layers=layers, capacity=spec.capacity.default, capacity_overrides=overrides)


def _geozones(region_path: Path, name: str, frame: LocalFrame, datum: VerticalDatum) -> list[Geofence]:
    source = region_path.parent / name
    if not source.is_file():
        raise InvalidRegion("geozones", f"file not found ({source})")
    return load_geozones(source, frame, datum)


def _hub(hub: _Hub, frame: LocalFrame, grid: CellGrid, n: int) -> Hub:
    x, y, _ = frame.to_local(hub.lon_deg, hub.lat_deg)
    z_floor = grid.layers[0].z_lower_m
    if not grid.contains(x, y, z_floor):
        raise InvalidRegion(f"hubs[{n}]({hub.id})", f"lies outside the grid ({hub.lat_deg}, {hub.lon_deg})")
    return Hub(hub.id, hub.name, hub.kind, float(x), float(y))


def _unique(ids: list[str], field: str) -> None:
    seen: set[str] = set()
    for n, key in enumerate(ids):
        if key in seen:
            raise InvalidRegion(f"{field}[{n}]", f"duplicate name {key!r}")
        seen.add(key)
