"""Airspace cells: the region as square cells times altitude layers, with capacity and blocked status.

A cell-layer ``(i, j, k)`` is the closed box ``[x_i, x_{i+1}] x [y_j, y_{j+1}] x [z_lower_k, z_upper_k]``.
Column ``i`` runs east, row ``j`` north, layer ``k`` up. Layer: airspace; imports nothing of ours but
airspace.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import shapely
from numpy.typing import ArrayLike
from shapely.geometry import Polygon

from airspace.errors import InvalidRegion
from airspace.geofences import Geofence, Restriction
from airspace.volumes import Circle, Volume3D

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

    __slots__ = (
        "_boxes",
        "_capacity",
        "_capacity_table",
        "_edge_lists",
        "_x_edges_m",
        "_y_edges_m",
        "_z_lower_m",
        "_z_upper_m",
        "cell_size_m",
        "layers",
    )

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
        edges = (self._x_edges_m, self._y_edges_m, self._z_lower_m, self._z_upper_m)
        self._edge_lists = tuple(e.tolist() for e in edges)  # for bisect, per volume, in cells_of_volumes
        self._capacity = np.full(self.shape, _valid_capacity(capacity, "capacity"), dtype=np.int64)
        self._override(capacity_overrides or {})
        self._capacity.flags.writeable = False
        self._capacity_table: list[list[list[int]]] = self._capacity.tolist()  # for capacity_of_cells
        self._boxes: np.ndarray | None = None  # every column's square, built on first use

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

    def locate(self, x_m: ArrayLike, y_m: ArrayLike, z_m: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``(ijk, inside)`` in one pass: :meth:`cell_of` where ``inside``, meaningless elsewhere.

        For hot paths that would otherwise call :meth:`contains` then :meth:`cell_of` on the same points.

        >>> grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=2, ny=2)
        >>> ijk, inside = grid.locate([10.0, 2000.0], [0.0, 0.0], [30.0, 30.0])
        >>> ijk[inside].tolist(), inside.tolist()
        ([[0, 0, 0]], [True, False])
        """
        return self._locate(x_m, y_m, z_m)

    def cell_at(self, x_m: float, y_m: float, z_m: float) -> tuple[int, int, int] | None:
        """:meth:`cell_of` of one point in plain Python (no arrays: a planner asks point by point), or None
        where :meth:`contains` says no.

        >>> grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=2, ny=2)
        >>> grid.cell_at(500.0, 1000.0, 450.0), grid.cell_at(1000.1, 0.0, 30.0)
        ((1, 1, 4), None)
        """
        x, y, z_lower, z_upper = self._edge_lists
        k = max(bisect.bisect_right(z_lower, z_m) - 1, 0)
        if not (x[0] <= x_m <= x[-1] and y[0] <= y_m <= y[-1] and z_lower[k] <= z_m <= z_upper[k]):
            return None  # NaN fails every comparison
        i = min(bisect.bisect_right(x, x_m) - 1, len(x) - 2)  # ties go up, the last edge down
        j = min(bisect.bisect_right(y, y_m) - 1, len(y) - 2)
        return i, j, k

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
        return self._column_boxes()[i, j]

    def _column_boxes(self) -> np.ndarray:
        """``(nx, ny)`` array of every column's closed square, made once (planners ask for them per query)."""
        if self._boxes is None:
            x, y = np.meshgrid(self._x_edges_m, self._y_edges_m, indexing="ij")
            self._boxes = shapely.box(x[:-1, :-1], y[:-1, :-1], x[1:, 1:], y[1:, 1:])
            self._boxes.flags.writeable = False
        return self._boxes

    def cell_center(self, i: ArrayLike, j: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``(x_m, y_m)`` of the centre of cell ``(i, j)``; each of shape broadcast(i, j).

        >>> CellGrid(x_min_m=-500.0, y_min_m=0.0, nx=2, ny=2).cell_center([0, 1], 1)
        (array([-250.,  250.]), array([750., 750.]))
        """
        i, j = np.broadcast_arrays(_checked_index("i", i, self.nx), _checked_index("j", j, self.ny))
        x, y = self._x_edges_m, self._y_edges_m
        return (x[i] + x[i + 1]) / 2.0, (y[j] + y[j + 1]) / 2.0

    def column_centres(self, columns: Sequence[tuple[int, int]]) -> list[tuple[float, float]]:
        """:meth:`cell_center` of each ``(i, j)``, as floats, in plain Python: a route's few cells cost less
        than one checked numpy call. An index outside the grid raises IndexError.

        >>> CellGrid(x_min_m=-500.0, y_min_m=0.0, nx=2, ny=2).column_centres([(0, 1), (1, 1)])
        [(-250.0, 750.0), (250.0, 750.0)]
        """
        x, y, _, _ = self._edge_lists
        nx, ny = len(x) - 1, len(y) - 1
        if not all(0 <= i < nx and 0 <= j < ny for i, j in columns):
            raise IndexError(f"cell indices must lie in [0, {nx}) x [0, {ny}) ({list(columns)!r})")
        return [((x[i] + x[i + 1]) / 2.0, (y[j] + y[j + 1]) / 2.0) for i, j in columns]

    def cells_of_volume(self, volume: Volume3D) -> np.ndarray:
        """``(n, 3)`` int64 ``(i, j, k)`` of every cell-layer the closed volume touches, sorted.

        Columns come from the exact closed outline test (:meth:`Volume3D.outline_intersects`, so a
        circle is a true disc) on the cells under the outline's bounding box; layers from closed height
        overlap. Touching a cell's edge or a layer's bound counts. See :meth:`cells_of_volumes`.

        >>> grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=3, ny=3)
        >>> grid.cells_of_volume(Volume3D.circle(500.0, 500.0, 1.0, z_lower_m=0.0, z_upper_m=30.0))
        array([[0, 0, 0],
               [0, 1, 0],
               [1, 0, 0],
               [1, 1, 0]])
        >>> grid.cells_of_volume(Volume3D.circle(0.0, 0.0, 100.0, z_lower_m=125.0, z_upper_m=145.0)).shape
        (0, 3)
        """
        return self.cells_of_volumes([volume])[0]

    def cells_of_volumes(self, volumes: Sequence[Volume3D]) -> tuple[np.ndarray, np.ndarray]:
        """``(cells, owner)``: :meth:`cells_of_volume` of every volume in one call (a plan's, or a restart's).

        ``cells`` is ``(m, 3)`` int64, sorted within each volume; ``owner`` is ``(m,)`` int64, the position
        in ``volumes`` of each row's volume, ascending. The exact tests are those of
        :meth:`Volume3D.outline_intersects`, run element-wise by one shapely call over the candidate cells
        of thousands of volumes at a time.

        >>> grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=3, ny=3, layers=[Layer("a", 0.0, 100.0)])
        >>> square = Volume3D.polygon([(0, 0), (500, 0), (500, 400), (0, 400)], z_lower_m=0.0, z_upper_m=9.0)
        >>> disc = Volume3D.circle(1400.0, 1400.0, 10.0, z_lower_m=0.0, z_upper_m=9.0)
        >>> cells, owner = grid.cells_of_volumes([square, disc])
        >>> cells.tolist(), owner.tolist()  # the square's edge x = 500 touches column 1
        ([[0, 0, 0], [1, 0, 0], [2, 2, 0]], [0, 0, 1])
        """
        parts = [self._cover(volumes, at) for at in range(0, len(volumes), _CHUNK)]
        out = np.concatenate([np.empty((0, 4), dtype=np.int64), *parts])
        return out[:, :3], out[:, 3]

    def _cover(self, volumes: Sequence[Volume3D], first: int) -> np.ndarray:
        """``(i, j, k, owner)`` rows of ``volumes[first : first + _CHUNK]``: the candidate cells under each
        bounding box, then the exact test of them all; in plain Python for a plan's handful of volumes, with
        arrays from ``_VECTOR_MIN`` volumes (a restart's), the same rows in the same order."""
        chunk = range(first, min(first + _CHUNK, len(volumes)))
        if len(chunk) >= _VECTOR_MIN:
            return self._cover_many([volumes[n] for n in chunk], first)
        ranges = {n: self._ranges(volumes[n]) for n in chunk}
        candidates = [
            (n, i, j)
            for n, (_, _, i_lo, ni, j_lo, nj) in ranges.items()
            for i in range(i_lo, i_lo + ni)
            for j in range(j_lo, j_lo + nj)
        ]
        hit = self._candidates_meet(volumes, candidates)
        rows = [
            (i, j, k, n)
            for (n, i, j), meets in zip(candidates, hit, strict=True)
            if meets
            for k in range(ranges[n][0], ranges[n][0] + ranges[n][1])
        ]
        return np.array(rows, dtype=np.int64).reshape(-1, 4)

    def _cover_many(self, volumes: list[Volume3D], first: int) -> np.ndarray:
        """:meth:`_cover` of ``volumes`` (``volumes[0]`` is the ``first``-th), with arrays: the layers and
        the columns under each bounding box as :meth:`_ranges` finds them (:func:`_spans`), the candidate
        columns volume by volume (i, then j, ascending), one vectorized exact test, each hit on its layers."""
        bounds = np.array([v.bounds_xy_m for v in volumes], dtype=np.float64)
        heights = np.array([(v.z_lower_m, v.z_upper_m) for v in volumes], dtype=np.float64)
        k_lo = np.searchsorted(self._z_upper_m, heights[:, 0], side="left")
        nk = np.maximum(np.searchsorted(self._z_lower_m, heights[:, 1], side="right") - k_lo, 0)
        i_lo, ni = _spans(bounds[:, 0], bounds[:, 2], self._x_edges_m)
        j_lo, nj = _spans(bounds[:, 1], bounds[:, 3], self._y_edges_m)
        owner, at = _runs_of(np.where(nk > 0, ni * nj, 0))
        i, j = i_lo[owner] + at // nj[owner], j_lo[owner] + at % nj[owner]
        hit = _outlines_meet([volumes[n].outline for n in owner], self._column_boxes()[i, j])
        owner, i, j = owner[hit], i[hit], j[hit]
        row, k = _runs_of(nk[owner])
        return np.column_stack([i[row], j[row], k_lo[owner[row]] + k, owner[row] + first]).astype(np.int64)

    def _candidates_meet(
        self, volumes: Sequence[Volume3D], candidates: list[tuple[int, int, int]]
    ) -> list[bool]:
        """Whether ``volumes[n]`` meets column ``(i, j)``, for each candidate ``(n, i, j)``: one test per
        candidate through shapely's scalar methods while they are few (a plan's dozen: cheaper than building
        the arrays), one vectorized test of them all otherwise (a restart's thousands)."""
        boxes = self._column_boxes()
        if len(candidates) <= _SCALAR_MAX:
            return [volumes[n].outline_intersects(boxes[i, j]) for n, i, j in candidates]
        columns = np.array([(i, j) for _, i, j in candidates], dtype=np.int64).reshape(-1, 2)
        outlines = [volumes[n].outline for n, _, _ in candidates]
        return _outlines_meet(outlines, boxes[columns[:, 0], columns[:, 1]]).tolist()

    def restacked(self, cells: np.ndarray, z_lower_m: float, z_upper_m: float) -> np.ndarray:
        """:meth:`cells_of_volume` of a volume with the outline of the one whose cells ``cells`` are (at least
        one), between new heights: the same columns on the layers the new heights meet, with no geometry test.

        >>> grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=3, ny=3)
        >>> grid.restacked(np.array([[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 0, 1]]), 95.0, 115.0).tolist()
        [[0, 0, 2], [1, 0, 2]]
        """
        layers = self._layers_meeting(z_lower_m, z_upper_m)
        columns = dict.fromkeys(map(tuple, cells[:, :2].tolist()))  # cells are sorted: columns in order
        return np.array([(i, j, k) for i, j in columns for k in layers], dtype=np.int64).reshape(-1, 3)

    def _layers_meeting(self, z_lower_m: float, z_upper_m: float) -> range:
        """The layers whose closed bands meet the closed heights ``[z_lower_m, z_upper_m]``."""
        _, _, z_lower, z_upper = self._edge_lists
        k_lo = bisect.bisect_left(z_upper, z_lower_m)
        return range(k_lo, max(k_lo, bisect.bisect_right(z_lower, z_upper_m)))

    def _ranges(self, volume: Volume3D) -> tuple[int, int, int, int, int, int]:
        """``(k_lo, nk, i_lo, ni, j_lo, nj)``: the layers (closed height overlap), then the columns and rows
        whose closed cells meet the volume's bounding box (none without a layer)."""
        x, y, _, _ = self._edge_lists
        layers = self._layers_meeting(volume.z_lower_m, volume.z_upper_m)
        xmin, ymin, xmax, ymax = volume.bounds_xy_m
        i_lo, ni = _span(xmin, xmax, x)
        j_lo, nj = _span(ymin, ymax, y)
        return layers.start, len(layers), i_lo, ni if layers else 0, j_lo, nj

    def cells_of_geofence(self, geofence: Geofence) -> np.ndarray:
        """``(n, 3)`` sorted unique cell-layers touched by any of the geofence's volumes."""
        return self.cells_of_geofences([geofence])[0]

    def cells_of_geofences(self, geofences: Sequence[Geofence]) -> list[np.ndarray]:
        """:meth:`cells_of_geofence` of each zone, with one :meth:`cells_of_volumes` pass over them all (when
        each zone has one volume, as an intent's volumes made zones do, its cells are that volume's as is)."""
        volumes = [v for g in geofences for v in g.volumes]
        cells, owner = self.cells_of_volumes(volumes)
        if all(len(g.volumes) == 1 for g in geofences):
            bounds = np.searchsorted(owner, np.arange(len(geofences) + 1))
            return [cells[a:b] for a, b in itertools.pairwise(bounds.tolist())]
        zone = np.repeat(np.arange(len(geofences)), [len(g.volumes) for g in geofences])
        of_zone = zone[owner] if len(owner) else owner
        nx, ny, nk = self.shape  # (zone, i, j, k) as one integer key: a 1-D unique sorts them all at once
        key = np.unique(((of_zone * nx + cells[:, 0]) * ny + cells[:, 1]) * nk + cells[:, 2])
        zone_of, cell = np.divmod(key, nx * ny * nk)
        rows = np.column_stack(np.unravel_index(cell, (nx, ny, nk))).astype(cells.dtype).reshape(-1, 3)
        bounds = np.searchsorted(zone_of, np.arange(len(geofences) + 1))
        return [rows[a:b] for a, b in itertools.pairwise(bounds.tolist())]

    def capacity(self, i: ArrayLike, j: ArrayLike, k: ArrayLike) -> np.ndarray | int:
        """Simultaneous flights cell-layer ``(i, j, k)`` accepts; an int for scalars, else broadcast shape.

        >>> closed = {(1, 0, 2): 0}
        >>> grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=2, ny=1, capacity=4, capacity_overrides=closed)
        >>> grid.capacity([0, 1], 0, 2)
        array([4, 0])
        """
        if all(_is_int(v) and 0 <= v < n for v, n in zip((i, j, k), self.shape, strict=True)):
            return int(self._capacity[i, j, k])  # one cell-layer: no arrays to build (capacity checks)
        index = (_checked_index(name, v, n) for name, v, n in zip("ijk", (i, j, k), self.shape, strict=True))
        out = self._capacity[tuple(np.broadcast_arrays(*index))]
        return int(out) if out.ndim == 0 else out

    def capacity_of_cells(self, cells: Iterable[tuple[int, int, int]]) -> list[int]:
        """:meth:`capacity` of each ``(i, j, k)`` of ``cells``, cells as :meth:`cells_of_volumes` returns them
        (in range by construction: not checked again), read from nested lists: a plan's few cells cost less
        than building an array to gather from.

        >>> closed = {(1, 0, 2): 0}
        >>> grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=2, ny=1, capacity=4, capacity_overrides=closed)
        >>> grid.capacity_of_cells([(0, 0, 2), (1, 0, 2)])
        [4, 0]
        """
        table = self._capacity_table
        return [table[i][j][k] for i, j, k in cells]

    def scaled(self, factor: float) -> CellGrid:
        """The same grid with every cell-layer's capacity times ``factor``, rounded down: a what-if on how
        many flights a cell may hold that keeps the region's busier and closed cells in proportion.

        >>> closed = {(1, 0, 2): 0}
        >>> grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=2, ny=1, capacity=4, capacity_overrides=closed)
        >>> grid.scaled(2.5).capacity([0, 1], 0, 2).tolist()
        [10, 0]
        """
        if not (math.isfinite(factor) and factor > 0.0):
            raise InvalidRegion("capacity_scale", f"must be finite and > 0 ({factor})")
        out = copy.copy(self)
        out._capacity = np.floor(self._capacity * factor).astype(np.int64)
        out._capacity.flags.writeable = False
        out._capacity_table = out._capacity.tolist()
        return out

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


_CHUNK = 4096  # volumes per vectorized pass of cells_of_volumes: bounds its temporary arrays
_SCALAR_MAX = 32  # up to this many candidate columns, one scalar shapely test each beats the array pass
_VECTOR_MIN = 64  # from this many volumes, cells_of_volumes finds their candidate cells with arrays


def _axis_index(v: np.ndarray, edges_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell index of each value along one axis, exact against ``edges_m``; ties go up, the last edge down."""
    n = len(edges_m) - 1
    inside = (v >= edges_m[0]) & (v <= edges_m[-1])
    step_m = edges_m[1] - edges_m[0]
    i = np.clip(np.floor(np.where(inside, v - edges_m[0], 0.0) / step_m), 0, n - 1).astype(np.int64)
    i -= edges_m[i] > v  # the division rounded up across an edge
    i += (i < n - 1) & (edges_m[i + 1] <= v)  # or down
    return i, inside


def _span(lo_m: float, hi_m: float, edges_m: list[float]) -> tuple[int, int]:
    """First index and count (0 when none) of the cells whose closed interval meets ``[lo_m, hi_m]``.

    The bounds are first widened by 1e-9 relative: a circle's bounds (centre ± radius) round on their own
    and may fall a hair inside an edge the disc touches; the exact test drops the extra candidates.
    """
    grow_m = 1e-9 * (abs(lo_m) + abs(hi_m) + 1.0)
    first = max(bisect.bisect_left(edges_m, lo_m - grow_m) - 1, 0)
    last = min(bisect.bisect_right(edges_m, hi_m + grow_m) - 1, len(edges_m) - 2)
    return first, max(last - first + 1, 0)


def _spans(lo_m: np.ndarray, hi_m: np.ndarray, edges_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_span` of each ``[lo_m[n], hi_m[n]]``, element-wise (the same float operations)."""
    grow_m = 1e-9 * (np.abs(lo_m) + np.abs(hi_m) + 1.0)
    first = np.maximum(np.searchsorted(edges_m, lo_m - grow_m, side="left") - 1, 0)
    last = np.minimum(np.searchsorted(edges_m, hi_m + grow_m, side="right") - 1, len(edges_m) - 2)
    return first, np.maximum(last - first + 1, 0)


def _runs_of(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(which, at)``: for each of ``counts.sum()`` items, the ``n`` whose run of ``counts[n]`` it is in
    and its place in that run (``[0, 1, ..., counts[n] - 1]`` for each ``n`` in turn)."""
    which = np.repeat(np.arange(len(counts)), counts)
    return which, np.arange(len(which)) - (np.cumsum(counts) - counts)[which]


def _outlines_meet(outlines: list[Polygon | Circle], boxes: np.ndarray) -> np.ndarray:
    """:meth:`Volume3D.outline_intersects`, element-wise: whether ``outlines[n]`` meets ``boxes[n]``."""
    shapes = np.empty(len(outlines), dtype=object)
    shapes[:] = outlines
    disc = np.array([isinstance(o, Circle) for o in outlines], dtype=bool).reshape(-1)
    if not disc.any():  # polygons only (a plan's corridor legs): one call, no masked copies
        return shapely.intersects(shapes, boxes)
    hit = np.empty(len(outlines), dtype=bool)
    if not disc.all():
        hit[~disc] = shapely.intersects(shapes[~disc], boxes[~disc])
    if disc.any():
        circles = np.array([(o.center_x_m, o.center_y_m, o.radius_m) for o in shapes[disc]])
        hit[disc] = shapely.distance(shapely.points(circles[:, :2]), boxes[disc]) <= circles[:, 2]
    return hit


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
