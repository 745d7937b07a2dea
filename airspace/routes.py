"""Route planning on a layer of airspace cells: an 8-neighbour graph, A*, and the 4D corridor it yields.

The corridor never enters a PROHIBITED geofence active while it is flown; every corridor is checked
exactly against every prohibited geofence before it is returned. Layer: airspace; imports nothing of
ours but airspace.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import networkx as nx
import numpy as np
import shapely

from airspace.cells import CellGrid
from airspace.errors import AirspaceInputError, InvalidRegion, NoRoute
from airspace.geofences import Geofence, Restriction, posix_us
from airspace.volumes import Volume3D, Volume4D, format_time

__all__ = ["Route", "RouteGraph", "corridor"]

Cell = tuple[int, int]
Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Route:
    """A planned route: its pulled-taut polyline (what a vehicle flies) and the 4D corridor around it."""

    points: tuple[Point, ...]
    corridor: tuple[Volume4D, ...]


class RouteGraph:
    """Plans corridors between points of a :class:`CellGrid` around the PROHIBITED ``geofences``.

    One 8-neighbour graph over the grid's columns ``(i, j)`` serves every layer (edge costs in metres:
    ``cell_size_m`` straight, ``sqrt(2) cell_size_m`` diagonal); it is built once, and each query hides
    the cells blocked on its layer through the edge-cost function, so nothing is rebuilt per plan.
    The cells each prohibited geofence touches are computed once too; only their activity is per query.
    A diagonal move needs both orthogonal neighbours free (no corner cutting), so a corridor whose
    ``lateral_buffer_m <= cell_size_m / 2`` stays within the closed free cells it crosses.
    """

    __slots__ = ("_graph", "_layers", "_parent", "_squares", "_zones", "geofences", "grid")

    def __init__(self, grid: CellGrid, geofences: Sequence[Geofence] = ()) -> None:
        self.grid = grid
        self.geofences = tuple(geofences)
        self._zones = _prohibited_cells(grid, self.geofences)
        self._graph = _octile_graph(grid.nx, grid.ny, grid.cell_size_m)
        self._squares = grid.cell_box(np.arange(grid.nx)[:, None], np.arange(grid.ny)[None, :])
        self._layers: dict[tuple[int, tuple[int, ...]], _Blocked] = {}
        self._parent: RouteGraph | None = None  # the graph a with_geofences one extends

    def with_geofences(
        self, extra: Sequence[Geofence], cells: Sequence[np.ndarray | None] = ()
    ) -> RouteGraph:
        """A planner that also avoids ``extra`` zones; it shares this one's graph, so nothing is rebuilt.

        ``cells``, when given, holds each zone's :meth:`CellGrid.cells_of_geofence` on ``grid`` where the
        caller already knows it (``None`` where not): only the others are computed.
        """
        clone = object.__new__(RouteGraph)
        clone.grid, clone._graph, clone._squares = self.grid, self._graph, self._squares
        clone.geofences = (*self.geofences, *extra)
        clone._zones = self._zones + _prohibited_cells(self.grid, extra, cells)
        clone._layers, clone._parent = {}, self
        return clone

    def avoids(self, geofence: Geofence) -> bool:
        """Whether routes already keep out of this very zone (it is one of the graph's PROHIBITED zones)."""
        same_id = (z.geofence for z in self._zones if z.geofence.identifier == geofence.identifier)
        return any(g == geofence for g in same_id)

    def plan(
        self,
        origin_xy_m: tuple[float, float],
        destination_xy_m: tuple[float, float],
        *,
        t0: datetime,
        speed_mps: float,
        layer: int | str,
        lateral_buffer_m: float = 50.0,
        time_buffer_s: float = 30.0,
    ) -> list[Volume4D]:
        """The corridor of :meth:`route` (same arguments, same errors)."""
        return list(
            self.route(
                origin_xy_m,
                destination_xy_m,
                t0=t0,
                speed_mps=speed_mps,
                layer=layer,
                lateral_buffer_m=lateral_buffer_m,
                time_buffer_s=time_buffer_s,
            ).corridor
        )

    def route(
        self,
        origin_xy_m: tuple[float, float],
        destination_xy_m: tuple[float, float],
        *,
        t0: datetime,
        speed_mps: float,
        layer: int | str,
        lateral_buffer_m: float = 50.0,
        time_buffer_s: float = 30.0,
    ) -> Route:
        """A route from origin to destination on ``layer``, departing at ``t0`` at ``speed_mps``.

        A* finds the cells; the path origin point -> their centres -> destination point is then pulled
        taut: from each kept point the next is the farthest one whose buffered straight segment enters
        no blocked cell (exact, closed; this also merges collinear runs). Each segment becomes one
        :class:`Volume4D`: the segment buffered by ``lateral_buffer_m`` (round caps, so consecutive
        volumes overlap), the layer's height band, and ``[enter - time_buffer_s, exit + time_buffer_s]``
        with enter and exit at cumulative distance over ``speed_mps``. So the first volume starts at
        ``t0 - time_buffer_s`` and the last ends at ``t0 + length / speed_mps + time_buffer_s``.

        A cell is blocked when a PROHIBITED geofence active at some time of the whole flight window
        touches it on this layer. The window depends on the route, so the search starts from the
        straight-line length and is repeated with the route's own window until that window covers the
        route; the window only grows, and a repeat that activates no new zone finds the same route and ends.

        Raises
        ------
        InvalidRegion
            Unknown layer, or origin / destination outside the grid.
        AirspaceInputError
            ``speed_mps``, ``lateral_buffer_m`` (must be in ``(0, cell_size_m / 2]``), ``time_buffer_s``
            or ``t0`` invalid.
        NoRoute
            The origin or destination cell is blocked, no path joins them, or a buffered end leg (origin
            or destination point to its cell centre, when no straighter leg is clear) reaches into an
            active prohibited zone lying in a neighbouring cell.
        """
        k = self.grid.layer_index(layer)
        self._check_options(t0, speed_mps, lateral_buffer_m, time_buffer_s)
        origin, destination = _xy("origin_xy_m", origin_xy_m), _xy("destination_xy_m", destination_xy_m)
        start, goal = self._column("origin_xy_m", origin, k), self._column("destination_xy_m", destination, k)
        length_m = math.dist(origin, destination)
        while True:  # ends: the window only grows, so at most two passes per newly activated zone
            window = _Window.of(
                t0 - timedelta(seconds=time_buffer_s),
                t0 + timedelta(seconds=length_m / speed_mps + time_buffer_s),
            )
            active = tuple(n for n, z in enumerate(self._zones) if z.active_during(window))
            self._check_ends(start, goal, k, active, window)
            layer = self._blocked(k, active)
            centres = self.grid.column_centres(self._search(start, goal, layer, k, window))
            points = self._pulled(_polyline(origin, centres, destination), layer, lateral_buffer_m)
            route_m = sum(math.dist(p, q) for p, q in itertools.pairwise(points))
            if route_m <= length_m:
                break
            length_m = route_m
        lay = self.grid.layers[k]
        legs = corridor(
            points,
            t0=t0,
            speed_mps=speed_mps,
            z_lower_m=lay.z_lower_m,
            z_upper_m=lay.z_upper_m,
            lateral_buffer_m=lateral_buffer_m,
            time_buffer_s=time_buffer_s,
        )
        end_legs = (
            len(points) > 1 and points[1] == centres[0],
            len(points) > 1 and points[-2] == centres[-1],
        )
        self._verify(legs, end_legs)
        return Route(tuple(points), tuple(legs))

    def _check_options(
        self, t0: datetime, speed_mps: float, lateral_buffer_m: float, time_buffer_s: float
    ) -> None:
        if not isinstance(t0, datetime) or t0.utcoffset() is None:
            raise AirspaceInputError("t0", f"must be a timezone-aware datetime ({t0!r})")
        if not (math.isfinite(speed_mps) and speed_mps > 0.0):
            raise AirspaceInputError("speed_mps", f"must be finite and > 0 ({speed_mps})")
        half_cell_m = self.grid.cell_size_m / 2.0
        if not 0.0 < lateral_buffer_m <= half_cell_m:
            raise AirspaceInputError(
                "lateral_buffer_m",
                f"must be in (0, cell_size_m / 2 = {half_cell_m:g}] so the corridor stays in free cells "
                f"({lateral_buffer_m})",
            )
        if not (math.isfinite(time_buffer_s) and time_buffer_s >= 0.0):
            raise AirspaceInputError("time_buffer_s", f"must be finite and >= 0 ({time_buffer_s})")

    def _column(self, field: str, xy_m: Point, k: int) -> Cell:
        """The cell column of a point, which must lie in the grid."""
        cell = self.grid.cell_at(xy_m[0], xy_m[1], self.grid.layers[k].z_lower_m)
        if cell is None:
            xmin, ymin, xmax, ymax = self.grid.bounds_xy_m
            raise InvalidRegion(
                field, f"outside the grid [{xmin:g}, {xmax:g}] x [{ymin:g}, {ymax:g}] m {xy_m}"
            )
        return cell[0], cell[1]

    def _check_ends(self, start: Cell, goal: Cell, k: int, active: tuple[int, ...], window: _Window) -> None:
        """NoRoute naming the end and its zones when the origin or destination cell is blocked on layer ``k``
        by the ``active`` zones (checked before the layer is built: a blocked end needs no layer)."""
        for end, cell in (("origin", start), ("destination", goal)):
            at = (*cell, k)
            hits = [z.geofence for z in map(self._zones.__getitem__, active) if at in z.cell_layers]
            if hits:
                raise NoRoute(
                    end,
                    f"cell {cell} on layer {self.grid.layers[k].name} lies in the active prohibited zone(s) "
                    f"{_ids(hits)} {_when(window)}",
                )

    def _blocked(self, k: int, active: tuple[int, ...]) -> _Blocked:
        """Layer ``k`` with the ``active`` prohibited zones (ascending positions in ``_zones``); built once
        per set of active zones (a busy service plans thousands of routes under the same few zones)."""
        layer = self._layers.get((k, active))
        if layer is None:
            parent = self._parent
            layer = self._layer(k, active) if parent is None else self._extended(parent, k, active)
            if len(self._layers) >= _LAYER_MEMO:
                self._layers.clear()
            self._layers[(k, active)] = layer
        return layer

    def _layer(self, k: int, active: tuple[int, ...]) -> _Blocked:
        """Layer ``k`` built from the ``active`` zones' columns."""
        zones = [self._zones[n] for n in active]
        blocked = np.zeros(self.grid.nx * self.grid.ny, dtype=bool)
        for z in zones:
            blocked[z.columns(k, self.grid.ny)] = True
        blocked = blocked.reshape(self.grid.nx, self.grid.ny)
        return _Blocked(self.grid, [z.geofence for z in zones], blocked, (~blocked).tolist(), self._squares)

    def _extended(self, parent: RouteGraph, k: int, active: tuple[int, ...]) -> _Blocked:
        """Layer ``k`` of a :meth:`with_geofences` graph: the ``parent``'s (memoized there) under the active
        zones they share, with this graph's own active zones added (a reroute's few blocker cells)."""
        shared = bisect.bisect_left(active, len(parent._zones))
        own = [self._zones[n] for n in active[shared:]]
        cells = [(i, j) for z in own for i, j, on in z.cell_layers if on == k]
        return parent._blocked(k, active[:shared]).adding([z.geofence for z in own], cells)

    def _search(self, start: Cell, goal: Cell, layer: _Blocked, k: int, window: _Window) -> list[Cell]:
        """A* over the free cells between free ends; NoRoute naming the zones when they cut the ends off."""
        free = layer.free

        def length_m(u: Cell, v: Cell, edge: dict) -> float | None:
            """Edge cost; None hides edges into blocked cells and diagonals that cut a blocked corner."""
            if not free[v[0]][v[1]] or (
                u[0] != v[0] and u[1] != v[1] and not (free[u[0]][v[1]] and free[v[0]][u[1]])
            ):
                return None
            return edge["length_m"]

        size_m = self.grid.cell_size_m

        def straight_m(a: Cell, b: Cell) -> float:
            return size_m * math.hypot(a[0] - b[0], a[1] - b[1])

        try:
            return nx.astar_path(self._graph, start, goal, heuristic=straight_m, weight=length_m)
        except nx.NetworkXNoPath:
            raise NoRoute(
                "destination",
                f"no corridor on layer {self.grid.layers[k].name} avoids the active prohibited zones "
                f"{_ids(layer.zones)} {_when(window)}",
            ) from None

    @staticmethod
    def _pulled(points: list[Point], layer: _Blocked, lateral_buffer_m: float) -> list[Point]:
        """Greedy string pulling: keep a point only when a buffered leg past it would enter a blocked cell.

        A leg is clear when its buffered outline meets no blocked cell's interior (touching a blocked
        cell's edge is fine: that edge belongs to a free cell too, or the leg would already cross). The
        buffer (inside the true round one) is built only when a blocked cell lies within its width but not
        within :data:`_INSCRIBED` of it: nearer, the cell reaches into the buffer's interior, so the leg is
        blocked whatever the exact outline. Only the blocked cells around the leg's bounding box are tested
        (prepared, as a tree query would).
        """

        def clear(p: Point, q: Point) -> bool:
            boxes = layer.squares_near(p, q, lateral_buffer_m)
            if not len(boxes):
                return True
            line = shapely.LineString([p, q])
            shapely.prepare(line)
            if not shapely.dwithin(line, boxes, lateral_buffer_m).any():
                return True
            if shapely.dwithin(line, boxes, _INSCRIBED * lateral_buffer_m).any():
                return False
            leg = shapely.buffer(line, lateral_buffer_m, quad_segs=_LEG_QUAD_SEGS)  # the corridor's outline
            shapely.prepare(leg)
            meets = boxes[shapely.intersects(leg, boxes)]
            shapely.destroy_prepared(leg)  # touches as a tree's answer is tested: unprepared
            return bool(shapely.touches(leg, meets).all())

        kept, a = [points[0]], 0
        while a < len(points) - 1:
            b = a + 1
            while b + 1 < len(points) and clear(points[a], points[b + 1]):
                b += 1
            kept.append(points[b])
            a = b
        return kept

    def _verify(self, corridor: list[Volume4D], end_legs: tuple[bool, bool]) -> None:
        """Exact check of every corridor volume against every prohibited geofence.

        Legs between cell centres stay in free cells, so only an end leg (from the origin or to the
        destination point, within its cell) can reach a zone in a neighbouring blocked cell; any other
        hit would be a planner bug and is reported as one rather than returned. ``end_legs`` says whether
        the first / last segment is such a leg (origin to its cell centre, that centre to the destination).
        """
        for n, volume in enumerate(corridor):
            window = _Window.of(volume.time_start, volume.time_end)  # type: ignore[arg-type]  # legs have both
            hits = [
                z.geofence for z in self._zones if z.active_during(window) and z.geofence.meets(volume.volume)
            ]
            if not hits:
                continue
            if n == 0 and end_legs[0]:
                field, what = "origin", "the buffered leg from the origin point"
            elif n == len(corridor) - 1 and end_legs[1]:
                field, what = "destination", "the buffered leg to the destination point"
            else:
                field, what = (
                    "corridor",
                    f"segment {n} (a planner bug: blocked cells should have kept it out)",
                )
            raise NoRoute(field, f"{what} enters the active prohibited zone(s) {_ids(hits)}")


_LEG_QUAD_SEGS = 8
"""Segments a quarter circle of a buffered leg: string pulling tests the very outline the corridor gets."""

_INSCRIBED = 0.99
"""A buffered leg (:data:`_LEG_QUAD_SEGS` = 8 segments a quarter circle) holds every point nearer the leg than
``cos(pi / 32) = 0.9952`` times its width in its interior; this ratio stays below that by far more than
rounding, so a blocked cell this near is surely met by the buffer's interior (not merely touched)."""

_LAYER_MEMO = 64
"""Layers-with-active-zones a :class:`RouteGraph` keeps built (there are a few per region and day)."""


class _Window(NamedTuple):
    """A closed flight window as datetimes (messages, weekly schedules) and as :func:`posix_us` (activity)."""

    start: datetime
    end: datetime
    start_us: int
    end_us: int

    @classmethod
    def of(cls, start: datetime, end: datetime) -> _Window:
        """The window ``[start, end]`` (timezone-aware)."""
        return cls(start, end, posix_us(start), posix_us(end))


@dataclass(slots=True, eq=False)
class _Zone:
    """A PROHIBITED zone, the cell-layers it touches, those as a set of ``(i, j, k)`` (the end test) and, per
    layer once asked, its columns as flat indices ``i * ny + j`` (the mask); ``with_geofences`` graphs share
    it. Its :attr:`Geofence.windows_us` are kept: every route asks every zone whether it is active. Both are
    made with the zone: a graph's own zones then cost nothing in the decisions that follow."""

    geofence: Geofence
    cells: np.ndarray
    windows_us: tuple[tuple[float, float], ...] | None = field(init=False)
    cell_layers: frozenset[tuple[int, ...]] = field(init=False)
    _columns: dict[int, np.ndarray] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.windows_us = self.geofence.windows_us
        self.cell_layers = frozenset(map(tuple, self.cells.tolist()))

    def active_during(self, window: _Window) -> bool:
        """:meth:`Geofence.active_during` the window, from integers unless weekly schedules limit the zone."""
        if self.windows_us is None:
            return self.geofence.active_during(window.start, window.end)
        return any(lo_us <= window.end_us and window.start_us <= hi_us for lo_us, hi_us in self.windows_us)

    def columns(self, k: int, ny: int) -> np.ndarray:
        """The flat indices ``i * ny + j`` of the zone's columns on layer ``k``."""
        if k not in self._columns:
            on_k = self.cells[self.cells[:, 2] == k]
            self._columns[k] = on_k[:, 0] * ny + on_k[:, 1]
        return self._columns[k]


@dataclass(slots=True)
class _Blocked:
    """A layer under a set of active prohibited zones: those zones, the blocked mask, the free mask as
    nested lists (A*'s edge cost reads it per edge) and the ``(nx, ny)`` squares of the grid's columns (its
    :meth:`CellGrid.cell_box` of every cell, made once per graph: string pulling asks per leg)."""

    grid: CellGrid
    zones: list[Geofence]
    blocked: np.ndarray
    free: list[list[bool]]
    squares: np.ndarray

    def adding(self, zones: list[Geofence], cells: Iterable[Cell]) -> _Blocked:
        """This layer with ``zones`` also blocking ``cells``: the mask is copied, and of the free lists only
        the rows that change (the others are shared; no layer writes to its lists once built)."""
        blocked, free = self.blocked.copy(), list(self.free)
        for i, j in cells:
            if free[i] is self.free[i]:
                free[i] = free[i].copy()
            free[i][j] = False
            blocked[i, j] = True
        return _Blocked(self.grid, [*self.zones, *zones], blocked, free, self.squares)

    def squares_near(self, p: Point, q: Point, margin_m: float) -> np.ndarray:
        """The squares of the blocked cells in the columns and rows that the segment's bounding box, widened
        by ``margin_m`` and then by one cell against rounding, reaches: every blocked cell within
        ``margin_m`` of the segment, and a few more (no tree is built: a grid is its own index)."""
        x0_m, y0_m, _, _ = self.grid.bounds_xy_m
        size_m = self.grid.cell_size_m
        i_lo, i_hi = (
            math.floor((min(p[0], q[0]) - margin_m - x0_m) / size_m) - 1,
            math.floor((max(p[0], q[0]) + margin_m - x0_m) / size_m) + 2,
        )
        j_lo, j_hi = (
            math.floor((min(p[1], q[1]) - margin_m - y0_m) / size_m) - 1,
            math.floor((max(p[1], q[1]) + margin_m - y0_m) / size_m) + 2,
        )
        i_lo, j_lo = max(i_lo, 0), max(j_lo, 0)
        return self.squares[i_lo:i_hi, j_lo:j_hi][self.blocked[i_lo:i_hi, j_lo:j_hi]]  # row-major: by (i, j)


def corridor(
    points: Sequence[Point],
    *,
    t0: datetime,
    speed_mps: float,
    z_lower_m: float,
    z_upper_m: float,
    lateral_buffer_m: float,
    time_buffer_s: float,
    max_leg_m: float | None = None,
) -> list[Volume4D]:
    """One Volume4D per polyline segment, flown from ``t0`` at ``speed_mps`` (a disc for a single point).

    Each segment is buffered by ``lateral_buffer_m`` (round caps, so consecutive volumes overlap) over the
    height band; its window is ``[enter - time_buffer_s, exit + time_buffer_s]``, enter and exit at
    cumulative distance over ``speed_mps``. With ``max_leg_m``, longer segments are cut into equal pieces
    no longer than that, so each piece's window is short and the intent blocks less airspace-time.

    >>> from datetime import UTC, datetime
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> legs = corridor([(0.0, 0.0), (1000.0, 0.0)], t0=t0, speed_mps=10.0, z_lower_m=30.0, z_upper_m=60.0,
    ...                 lateral_buffer_m=50.0, time_buffer_s=30.0, max_leg_m=400.0)
    >>> [(round(v.t_start_s - t0.timestamp(), 3), round(v.t_end_s - t0.timestamp(), 3)) for v in legs]
    [(-30.0, 63.333), (3.333, 96.667), (36.667, 130.0)]
    """
    if max_leg_m is not None:
        points = _split(points, max_leg_m)
    if not z_lower_m < z_upper_m:
        raise AirspaceInputError("z_lower_m", f"must be below z_upper_m ({z_lower_m} m >= {z_upper_m} m)")
    if len(points) == 1:
        disc = Volume3D.circle(*points[0], lateral_buffer_m, z_lower_m=z_lower_m, z_upper_m=z_upper_m)
        return [_timed(disc, 0.0, 0.0, t0, speed_mps, time_buffer_s)]
    legs = list(itertools.pairwise(points))
    # one shapely call for every leg; a buffered segment is a valid polygon, so nothing is re-checked
    lines = shapely.linestrings(np.array(legs, dtype=float))
    outlines = shapely.buffer(lines, lateral_buffer_m, quad_segs=_LEG_QUAD_SEGS)
    ends_m = [0.0, *itertools.accumulate(math.dist(p, q) for p, q in legs)]
    return [
        _timed(Volume3D.trusted(outline, z_lower_m, z_upper_m), enter_m, exit_m, t0, speed_mps, time_buffer_s)
        for outline, enter_m, exit_m in zip(outlines.tolist(), ends_m[:-1], ends_m[1:], strict=True)
    ]


def _timed(
    volume: Volume3D, enter_m: float, exit_m: float, t0: datetime, speed_mps: float, time_buffer_s: float
) -> Volume4D:
    """``volume`` over ``[enter - time_buffer_s, exit + time_buffer_s]``, enter and exit flown from ``t0``."""
    return Volume4D(
        volume,
        t0 + timedelta(seconds=enter_m / speed_mps - time_buffer_s),
        t0 + timedelta(seconds=exit_m / speed_mps + time_buffer_s),
    )


def _split(points: Sequence[Point], max_leg_m: float) -> list[Point]:
    """The polyline with points inserted so that no segment is longer than ``max_leg_m``."""
    out = [tuple(points[0])]
    for p, q in itertools.pairwise(points):
        n = max(1, math.ceil(math.dist(p, q) / max_leg_m))
        out += [(p[0] + (q[0] - p[0]) * k / n, p[1] + (q[1] - p[1]) * k / n) for k in range(1, n + 1)]
    return out


def _octile_graph(nx_cells: int, ny_cells: int, cell_size_m: float) -> nx.Graph:
    """8-neighbour graph over ``(i, j)`` with edge attribute ``length_m``."""
    graph = nx.Graph()
    graph.add_nodes_from((i, j) for i in range(nx_cells) for j in range(ny_cells))
    for di, dj in ((1, 0), (0, 1), (1, 1), (1, -1)):
        step_m = cell_size_m * math.hypot(di, dj)
        graph.add_edges_from(
            ((i, j), (i + di, j + dj), {"length_m": step_m})
            for i in range(nx_cells - di)
            for j in range(max(0, -dj), ny_cells - max(0, dj))
        )
    return graph


def _polyline(origin: Point, centres: list[Point], destination: Point) -> list[Point]:
    """origin, centres, destination without consecutive repeats."""
    out = [origin]
    for p in [*centres, destination]:
        if p != out[-1]:
            out.append(p)
    return out


def _xy(field: str, xy_m: Sequence[float]) -> Point:
    if len(xy_m) != 2 or not all(math.isfinite(v) for v in xy_m):
        raise AirspaceInputError(field, f"must be two finite numbers (x_m, y_m) ({xy_m!r})")
    return float(xy_m[0]), float(xy_m[1])


def _when(window: _Window) -> str:
    """The flight window as NoRoute messages name it."""
    return f"between {format_time(window.start)} and {format_time(window.end)}"


def _ids(geofences: Iterable[Geofence]) -> str:
    """Sorted, comma-separated identifiers."""
    return ", ".join(sorted({g.identifier for g in geofences}))


def _prohibited_cells(
    grid: CellGrid, geofences: Sequence[Geofence], known: Sequence[np.ndarray | None] = ()
) -> list[_Zone]:
    """Each PROHIBITED zone with the cell-layers it touches (computed once; only activity varies per plan),
    taken from ``known`` (per zone, ``None`` where unknown) where given."""
    given = list(known) or [None] * len(geofences)
    zones = [(g, c) for g, c in zip(geofences, given, strict=True) if g.restriction == Restriction.PROHIBITED]
    unknown = [g for g, c in zones if c is None]
    found = iter(grid.cells_of_geofences(unknown) if unknown else ())  # a reroute's zones come with cells
    return [_Zone(g, next(found) if c is None else c) for g, c in zones]
