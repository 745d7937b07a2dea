"""Airspace cells: the region as square cells times altitude layers, with capacity and blocked status.

A cell-layer ``(i, j, k)`` is the closed box ``[x_i, x_{i+1}] x [y_j, y_{j+1}] x [z_lower_k, z_upper_k]``.
Column ``i`` runs east, row ``j`` north, layer ``k`` up. Layer: airspace; imports nothing of ours but
airspace.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import shapely
from numpy.typing import ArrayLike
from shapely.geometry import Polygon

from airspace.errors import InvalidRegion
from airspace.geofences import Geofence, Restriction
from airspace.volumes import Volume3D

__all__ = ["DEFAULT_LAYERS", "CellGrid", "Layer"]


@dataclass(frozen=True, slots=True)
class Layer:
    """A named altitude band ``z_lower_m <= z <= z_upper_m`` in the frame's z (about AGL in our regions)."""

    name: str
    z_lower_m: float
    z_upper_m: float


DEFAULT_LAYERS: tuple[Layer, ...] = (
    Layer("d30-60", 30.0, 60.0),
    Layer("d60-90", 60.0, 90.0),
    Layer("d90-120", 90.0, 120.0),
    Layer("e150-300", 150.0, 300.0),
    Layer("e300-450", 300.0, 450.0),
)
"""Three drone layers below 120 m and two eVTOL layers above 150 m.

* Drones: 120 m is the EU open-category ceiling (Regulation (EU) 2019/947, UAS.OPEN.010) and close to the
  FAA Part 107 400 ft. Below 30 m is left to take-off, landing and obstacles; 30 m bands give three
  cruise levels for direction- or priority-separated traffic.
* 120-150 m is deliberately empty: a vertical buffer between drone and eVTOL traffic.
* eVTOL: SERA.5005(f) keeps VFR flight at least 150 m (500 ft) above the surface and 300 m (1000 ft)
  above congested areas, hence one band for open country (150-300 m) and one over cities (300-450 m).
"""


class CellGrid:
    """``nx x ny`` square cells of ``cell_size_m`` from ``(x_min_m, y_min_m)``, times ``layers``.

    Points on a shared boundary belong to the cell on the upper side (east, north, up); the grid's outer
    east and north edges and the top of a layer with no layer directly above belong to the last cell or
    that layer, so the grid covers its closed extent. Capacity is the number of simultaneous flights a
    cell-layer accepts: ``capacity`` everywhere, except where ``capacity_overrides[(i, j, k)]`` overrides it.

    >>> grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=4, ny=3, capacity_overrides={(0, 0, 0): 2})
    >>> grid.shape, grid.capacity(0, 0, 0), grid.capacity(1, 0, 0)
    ((4, 3, 5), 2, 10)
    """

    __slots__ = ("_capacity", "_x_edges_m", "_y_edges_m", "_z_lower_m", "_z_upper_m", "cell_size_m", "layers")

    def __init__(
        self,
        *,
        x_min_m: float,
        y_min_m: float,
        nx: int,
        ny: int,
        cell_size_m: float = 500.0,
        layers: Sequence[Layer] = DEFAULT_LAYERS,
        capacity: int = 10,
        capacity_overrides: Mapping[tuple[int, int, int], int] | None = None,
    ) -> None:
        for name, value in (("x_min_m", x_min_m), ("y_min_m", y_min_m)):
            if not math.isfinite(value):
                raise InvalidRegion(name, f"must be finite ({value})")
        for name, n in (("nx", nx), ("ny", ny)):
            if not _is_int(n) or n <= 0:
                raise InvalidRegion(name, f"must be a positive integer ({n!r})")
        if not (math.isfinite(cell_size_m) and cell_size_m > 0.0):
            raise InvalidRegion("cell_size_m", f"must be finite and > 0 ({cell_size_m})")
        self.cell_size_m = float(cell_size_m)
        self.layers = _valid_layers(layers)
        self._x_edges_m = float(x_min_m) + np.arange(int(nx) + 1) * self.cell_size_m
        self._y_edges_m = float(y_min_m) + np.arange(int(ny) + 1) * self.cell_size_m
        self._z_lower_m = np.array([layer.z_lower_m for layer in self.layers])
        self._z_upper_m = np.array([layer.z_upper_m for layer in self.layers])
        self._capacity = np.full(self.shape, _valid_capacity(capacity, "capacity"), dtype=np.int64)
        self._override(capacity_overrides or {})
        self._capacity.flags.writeable = False

    @property
    def nx(self) -> int:
        return len(self._x_edges_m) - 1

    @property
    def ny(self) -> int:
        return len(self._y_edges_m) - 1

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(nx, ny, number of layers)``."""
        return self.nx, self.ny, len(self.layers)

    @property
    def bounds_xy_m(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the grid."""
        x, y = self._x_edges_m, self._y_edges_m
        return float(x[0]), float(y[0]), float(x[-1]), float(y[-1])

    def layer_index(self, layer: int | str) -> int:
        """Index of a layer given by index or name; an unknown one is refused with the valid names."""
        names = [lay.name for lay in self.layers]
        if isinstance(layer, str) and layer in names:
            return names.index(layer)
        if _is_int(layer) and 0 <= layer < len(names):
            return int(layer)
        raise InvalidRegion(
            "layer", f"unknown layer {layer!r}; valid: {', '.join(names)} or 0..{len(names) - 1}"
        )

    def contains(self, x_m: ArrayLike, y_m: ArrayLike, z_m: ArrayLike) -> np.ndarray:
        """Whether each point lies in some cell-layer; shape broadcast(x_m, y_m, z_m), bool.

        >>> grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=2, ny=2)
        >>> grid.contains([0.0, 1000.0, 1000.1, 500.0, np.nan], 0.0, [30.0, 450.0, 50.0, 130.0, 50.0])
        array([ True,  True, False, False, False])
        """
        return self._locate(x_m, y_m, z_m)[1]

    def cell_of(self, x_m: ArrayLike, y_m: ArrayLike, z_m: ArrayLike) -> np.ndarray:
        """``(i, j, k)`` of the cell-layer holding each point; shape broadcast(x_m, y_m, z_m) + (3,), int64.

        A point on a shared boundary goes to the upper side (east, north, up). A point outside the grid
        or outside every layer (NaN included) has no cell: :class:`InvalidRegion` names the first one,
        so filter with :meth:`contains` first. No sentinel index is ever returned.

        >>> grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=2, ny=2)
        >>> grid.cell_of([10.0, 500.0, 1000.0], [0.0, 999.0, 500.0], [30.0, 60.0, 450.0])
        array([[0, 0, 0],
               [1, 1, 1],
               [1, 1, 4]])
        >>> grid.cell_of(10.0, 10.0, 130.0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        airspace.errors.InvalidRegion: point: outside the grid [0, 1000] x [0, 1000] m or every layer ...
        """
        ijk, inside = self._locate(x_m, y_m, z_m)
        if not inside.all():
            where = tuple(int(n) for n in np.argwhere(~inside)[0])
            x, y, z = (float(np.broadcast_to(v, inside.shape)[where]) for v in (x_m, y_m, z_m))
            xmin, ymin, xmax, ymax = self.bounds_xy_m
            bands = ", ".join(f"[{lay.z_lower_m:g}, {lay.z_upper_m:g}]" for lay in self.layers)
            raise InvalidRegion(
                f"point{list(where) if where else ''}",
                f"outside the grid [{xmin:g}, {xmax:g}] x [{ymin:g}, {ymax:g}] m or every layer "
                f"({bands} m) ({x}, {y}, {z}); filter with CellGrid.contains",
            )
        return ijk

    def cell_box(self, i: ArrayLike, j: ArrayLike) -> Polygon | np.ndarray:
        """The closed square of cell ``(i, j)`` (a shapely Polygon, or an array of them for array input)."""
        i, j = np.broadcast_arrays(_checked_index("i", i, self.nx), _checked_index("j", j, self.ny))
        x, y = self._x_edges_m, self._y_edges_m
        return shapely.box(x[i], y[j], x[i + 1], y[j + 1])

    def cell_center(self, i: ArrayLike, j: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``(x_m, y_m)`` of the centre of cell ``(i, j)``; each of shape broadcast(i, j).

        >>> CellGrid(x_min_m=-500.0, y_min_m=0.0, nx=2, ny=2).cell_center([0, 1], 1)
        (array([-250.,  250.]), array([750., 750.]))
        """
        i, j = np.broadcast_arrays(_checked_index("i", i, self.nx), _checked_index("j", j, self.ny))
        x, y = self._x_edges_m, self._y_edges_m
        return (x[i] + x[i + 1]) / 2.0, (y[j] + y[j + 1]) / 2.0

    def cells_of_volume(self, volume: Volume3D) -> np.ndarray:
        """``(n, 3)`` int64 ``(i, j, k)`` of every cell-layer the closed volume touches, sorted.

        Columns come from the exact closed outline test (:meth:`Volume3D.outline_intersects`, so a
        circle is a true disc) on the cells under the outline's bounding box; layers from closed height
        overlap. Touching a cell's edge or a layer's bound counts.

        >>> grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=3, ny=3)
        >>> grid.cells_of_volume(Volume3D.circle(500.0, 500.0, 1.0, z_lower_m=0.0, z_upper_m=30.0))
        array([[0, 0, 0],
               [0, 1, 0],
               [1, 0, 0],
               [1, 1, 0]])
        >>> grid.cells_of_volume(Volume3D.circle(0.0, 0.0, 100.0, z_lower_m=125.0, z_upper_m=145.0)).shape
        (0, 3)
        """
        ks = np.flatnonzero((self._z_lower_m <= volume.z_upper_m) & (volume.z_lower_m <= self._z_upper_m))
        xmin, ymin, xmax, ymax = volume.bounds_xy_m
        i_lo, i_hi = _span(xmin, xmax, self._x_edges_m)
        j_lo, j_hi = _span(ymin, ymax, self._y_edges_m)
        if ks.size == 0 or i_lo > i_hi or j_lo > j_hi:
            return np.empty((0, 3), dtype=np.int64)
        ni, nj = i_hi - i_lo + 1, j_hi - j_lo + 1
        ii = np.repeat(np.arange(i_lo, i_hi + 1), nj)
        jj = np.tile(np.arange(j_lo, j_hi + 1), ni)
        x, y = self._x_edges_m, self._y_edges_m  # indices are in range by construction: no cell_box checks
        boxes = shapely.box(x[ii], y[jj], x[ii + 1], y[jj + 1])
        hit = np.asarray(volume.outline_intersects(boxes), dtype=bool)
        ii, jj = ii[hit], jj[hit]
        return np.column_stack([np.repeat(ii, ks.size), np.repeat(jj, ks.size), np.tile(ks, ii.size)]).astype(
            np.int64
        )

    def cells_of_geofence(self, geofence: Geofence) -> np.ndarray:
        """``(n, 3)`` sorted unique cell-layers touched by any of the geofence's volumes."""
        parts = [self.cells_of_volume(v) for v in geofence.volumes]
        return np.unique(np.concatenate([np.empty((0, 3), np.int64), *parts]), axis=0)

    def capacity(self, i: ArrayLike, j: ArrayLike, k: ArrayLike) -> np.ndarray | int:
        """Simultaneous flights cell-layer ``(i, j, k)`` accepts; an int for scalars, else broadcast shape.

        >>> closed = {(1, 0, 2): 0}
        >>> grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=2, ny=1, capacity=4, capacity_overrides=closed)
        >>> grid.capacity([0, 1], 0, 2)
        array([4, 0])
        """
        index = (_checked_index(name, v, n) for name, v, n in zip("ijk", (i, j, k), self.shape, strict=True))
        out = self._capacity[tuple(np.broadcast_arrays(*index))]
        return int(out) if out.ndim == 0 else out

    def blocked_at(
        self, geofences: Sequence[Geofence], t_start: datetime, t_end: datetime | None = None
    ) -> np.ndarray:
        """Bool ``(nx, ny, nlayers)``: cell-layers touched by a PROHIBITED geofence active in the window.

        The window is closed, ``[t_start, t_end]``; ``t_end=None`` means the instant ``t_start``. Other
        restrictions (REQ_AUTHORISATION, CONDITIONAL, NO_RESTRICTION) never block a cell.
        """
        blocked = np.zeros(self.shape, dtype=bool)
        for g in geofences:
            if g.restriction == Restriction.PROHIBITED and g.active_during(
                t_start, t_start if t_end is None else t_end
            ):
                blocked[tuple(self.cells_of_geofence(g).T)] = True
        return blocked

    def _override(self, overrides: Mapping[tuple[int, int, int], int]) -> None:
        """Apply per cell-layer capacities (one vectorized write; a region may override every cell)."""
        items = list(overrides.items())
        for key, value in items:
            field = f"capacity_overrides[{key!r}]"
            if not (isinstance(key, tuple) and len(key) == 3 and all(_is_int(v) for v in key)):
                raise InvalidRegion(field, "keys must be (i, j, k) integer cell-layer indices")
            _valid_capacity(value, field)
        index = np.array([key for key, _ in items], dtype=np.int64).reshape(-1, 3)
        outside = ((index < 0) | (index >= np.array(self.shape))).any(axis=1)
        if outside.any():
            key = items[int(np.argmax(outside))][0]
            raise InvalidRegion(
                f"capacity_overrides[{key!r}]", f"outside the grid's (nx, ny, nlayers) {self.shape}"
            )
        self._capacity[tuple(index.T)] = [int(value) for _, value in items]

    def _locate(self, x_m: ArrayLike, y_m: ArrayLike, z_m: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Indices (garbage where outside) and the inside mask, broadcast."""
        x, y, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x_m, y_m, z_m)))
        i, in_x = _axis_index(x, self._x_edges_m)
        j, in_y = _axis_index(y, self._y_edges_m)
        k = np.maximum(np.searchsorted(self._z_lower_m, z, side="right") - 1, 0)
        in_z = (z >= self._z_lower_m[k]) & (z <= self._z_upper_m[k])
        return np.stack([i, j, k], axis=-1).astype(np.int64), in_x & in_y & in_z


def _axis_index(v: np.ndarray, edges_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell index of each value along one axis, exact against ``edges_m``; ties go up, the last edge down."""
    n = len(edges_m) - 1
    inside = (v >= edges_m[0]) & (v <= edges_m[-1])
    step_m = edges_m[1] - edges_m[0]
    i = np.clip(np.floor(np.where(inside, v - edges_m[0], 0.0) / step_m), 0, n - 1).astype(np.int64)
    i -= edges_m[i] > v  # the division rounded up across an edge
    i += (i < n - 1) & (edges_m[i + 1] <= v)  # or down
    return i, inside


def _span(lo_m: float, hi_m: float, edges_m: np.ndarray) -> tuple[int, int]:
    """Candidate index range (inclusive, clipped, one cell wider each side) for the closed ``[lo, hi]``."""
    step_m = edges_m[1] - edges_m[0]
    first = math.floor((lo_m - edges_m[0]) / step_m) - 1
    last = math.floor((hi_m - edges_m[0]) / step_m) + 1
    return max(first, 0), min(last, len(edges_m) - 2)


def _checked_index(name: str, value: ArrayLike, n: int) -> np.ndarray:
    """Integer indices in ``[0, n)``; anything else raises IndexError (never wraps like ``-1``)."""
    a = np.asarray(value)
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        raise IndexError(f"{name}: cell indices must be integers ({value!r})")
    if a.size and (a.min() < 0 or a.max() >= n):
        raise IndexError(f"{name}: cell indices must lie in [0, {n}) ({value!r})")
    return a.astype(np.int64)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _valid_capacity(value: object, field: str) -> int:
    if not _is_int(value) or value < 0:
        raise InvalidRegion(field, f"must be an integer >= 0 ({value!r})")
    return int(value)


def _valid_layers(layers: Sequence[Layer]) -> tuple[Layer, ...]:
    """Layers with unique names and finite bands, sorted upward and not overlapping (touching is fine)."""
    layers = tuple(layers)
    if not layers:
        raise InvalidRegion("layers", "at least one layer is required")
    for n, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise InvalidRegion(f"layers[{n}]", f"must be a Layer ({layer!r})")
        if not layer.name:
            raise InvalidRegion(f"layers[{n}].name", "must not be empty")
        lo, hi = layer.z_lower_m, layer.z_upper_m
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise InvalidRegion(
                f"layers[{n}]", f"z_lower_m must be below z_upper_m, both finite ({lo}, {hi})"
            )
        if layer.name in {lay.name for lay in layers[:n]}:
            raise InvalidRegion(f"layers[{n}].name", f"duplicate layer name {layer.name!r}")
        if n and lo < layers[n - 1].z_upper_m:
            raise InvalidRegion(
                f"layers[{n}]",
                f"layers must be sorted upward without overlap ({layers[n - 1].name} ends at "
                f"{layers[n - 1].z_upper_m} m, {layer.name} starts at {lo} m)",
            )
    return layers
