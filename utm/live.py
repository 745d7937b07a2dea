"""The live airspace picture strategic decisions read: intents and geofences, each behind a space-time index.

Every pair search goes through :class:`~airspace.index.SpaceTimeIndex` (an R*-tree broad phase, then the
exact F3548 test), never through a scan of all intents (ARCHITECTURE.md, hot paths). With a cell grid, the
picture also keeps each cell-layer's occupancy (the nominal spans touching it, sorted by start), updated
with every put and remove, so a capacity check reads only the plan's own cells, and each intent's cells (a
removal and a reroute around a blocking intent need no geometry test). The picture is in memory
only; the service rebuilds it from the store at start-up (in bulk) and updates it after each commit.
Layer: utm; imports airspace only.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from types import MappingProxyType
from uuid import UUID

import numpy as np
import shapely
from shapely import Polygon

from airspace.cells import CellGrid
from airspace.geofences import Geofence
from airspace.index import Box, SpaceTimeIndex
from airspace.volumes import Circle, Volume3D, Volume4D
from utm.errors import NotFound
from utm.intents import OperationalIntent

__all__ = ["Cell", "LiveAirspace", "Span"]

Cell = tuple[int, int, int]
"""A cell-layer ``(i, j, k)`` of the grid."""
Span = tuple[float, float, UUID]
"""One nominal volume's stay in a cell-layer: ``(start_s, end_s, intent id)``, POSIX seconds, closed."""

_RECENT_VOLUMES = 64  # cells kept for recently checked volumes (a few plans' worth)
_START = itemgetter(0)


class LiveAirspace:
    """Live operational intents and geofences, indexed in space and time; optional cell grid for capacity.

    Answers are sorted (intents by id, geofences by identifier), so decisions never depend on insertion
    order.
    """

    __slots__ = (
        "_asked",
        "_cells",
        "_fence_index",
        "_fences",
        "_index",
        "_intents",
        "_longest_s",
        "_occupancy",
        "_outlines",
        "_recent",
        "grid",
    )

    def __init__(
        self,
        *,
        grid: CellGrid | None = None,
        geofences: Iterable[Geofence] = (),
        intents: Iterable[OperationalIntent] = (),
    ) -> None:
        """The picture of ``geofences`` and ``intents`` (bulk-loaded, as :meth:`put` one by one would)."""
        self.grid = grid
        self._intents = {intent.id: intent for intent in intents}
        self._index: SpaceTimeIndex[UUID] = SpaceTimeIndex.from_items(
            (i.id, v) for i in self._intents.values() for v in i.all_volumes
        )
        self._occupancy: dict[Cell, list[Span]] = {}
        self._longest_s: dict[Cell, float] = {}
        self._cells: dict[UUID, tuple[np.ndarray, ...]] = {}
        self._fences: dict[str, Geofence] = {}
        self._fence_index: SpaceTimeIndex[str] = SpaceTimeIndex()
        self._recent: OrderedDict[int, tuple[Volume3D, np.ndarray]] = OrderedDict()
        self._asked: dict[str, tuple[Sequence[Volume4D], UUID | None, list]] = {}
        self._outlines: OrderedDict[int, tuple[Polygon | Circle, np.ndarray]] = OrderedDict()
        for fence in geofences:
            self.put_geofence(fence)
        if grid is not None:
            nominal = [(i.id, v) for i in self._intents.values() for v in i.volumes]
            spans = [(v.t_start_s, v.t_end_s, key) for key, v in nominal]
            cells, owner = grid.cells_of_volumes([v.volume for _, v in nominal])
            self._occupy(zip(map(tuple, cells.tolist()), map(spans.__getitem__, owner.tolist()), strict=True))
            self._keep_cells(cells, np.searchsorted(owner, np.arange(len(nominal) + 1)).tolist())

    @property
    def intents(self) -> Mapping[UUID, OperationalIntent]:
        """Read-only view of the live intents by id."""
        return MappingProxyType(self._intents)

    def get(self, intent_id: UUID) -> OperationalIntent:
        """The live intent ``intent_id``; :class:`NotFound` when absent or ended."""
        try:
            return self._intents[intent_id]
        except KeyError:
            raise NotFound(f"operational intent {intent_id} not found") from None

    def put(self, intent: OperationalIntent) -> None:
        """Insert or replace ``intent``: index all its volumes (nominal and off-nominal), occupy cells. A new
        version with the very same volumes (a state change) only replaces the record."""
        self._asked.clear()
        old = self._intents.get(intent.id)
        if old is not None:
            if _same(old.all_volumes, intent.all_volumes):
                self._intents[intent.id] = intent
                return
            self.remove(intent.id)
        self._intents[intent.id] = intent
        for volume in intent.all_volumes:
            self._index.insert(intent.id, volume)
        if self.grid is not None:
            self._cells[intent.id] = tuple(self.cells_of_each([v.volume for v in intent.volumes]))
        self._occupy(self._rows_of(intent))

    def remove(self, intent_id: UUID) -> None:
        """Drop ``intent_id`` from the live set (F3548: Ended); :class:`NotFound` when absent."""
        intent = self.get(intent_id)
        self._asked.clear()
        rows = self._rows_of(intent)  # what put entered, from the cells it kept
        del self._intents[intent_id]
        self._cells.pop(intent_id, None)
        for cell, span in rows:
            spans = self._occupancy[cell]
            del spans[bisect.bisect_left(spans, span)]
            if not spans:
                del self._occupancy[cell], self._longest_s[cell]
        if intent_id in self._index:
            self._index.remove(intent_id)

    def overlapping(
        self, volumes: Iterable[Volume4D], *, exclude: UUID | None = None
    ) -> list[OperationalIntent]:
        """Intents with a volume truly intersecting any of ``volumes`` (closed, 1 cm rule), sorted by id."""
        keys = self._index.query_many(volumes)
        return [self._intents[k] for k in keys if k != exclude]

    def volumes_near(
        self, box: Box, *, exclude: UUID | None = None
    ) -> list[tuple[OperationalIntent, Volume4D]]:
        """Broad phase per volume: each intent volume (nominal or off-nominal) whose 4D box meets ``box``,
        with its intent, in the order they were indexed. ``box`` is ``(x_min, y_min, z_min, t_min, x_max,
        y_max, z_max, t_max)`` in metres and POSIX seconds."""
        return self.volumes_near_each([box], exclude=exclude)[0]

    def volumes_near_each(
        self, boxes: Sequence[Box], *, exclude: UUID | None = None
    ) -> list[list[tuple[OperationalIntent, Volume4D]]]:
        """:meth:`volumes_near` of each box (a plan's legs': few index queries, see
        :meth:`SpaceTimeIndex.entries_each`)."""
        intents = self._intents
        return [
            [(intents[k], v) for k, v in near if k != exclude] for near in self._index.entries_each(boxes)
        ]

    def meeting_each(
        self, volumes: Sequence[Volume4D], *, exclude: UUID | None = None
    ) -> list[list[tuple[UUID, Volume4D]]]:
        """For each of ``volumes``, ``(intent id, its volume)`` for each live intent volume truly intersecting
        it (closed), by indexing order; a plan's volumes in few index queries. Answered again from memory
        for the very same sequence (see :meth:`_again`): the answer is shared, not to be modified."""
        return self._again(
            "intents",
            volumes,
            exclude,
            lambda: [[(k, v) for k, v in met if k != exclude] for met in self._index.meeting_each(volumes)],
        )

    def _again(
        self, kind: str, volumes: Sequence[Volume4D], exclude: UUID | None, answer: Callable[[], list]
    ) -> list:
        """``answer()``, or what it gave when this very tuple of ``volumes`` (immutable, and held, so its id
        is not reused) was last asked about, with the same ``exclude``, if the picture has not changed since:
        an altitude alternative is asked about once to rule it out, then again in its full check."""
        if not isinstance(volumes, tuple):
            return answer()
        last = self._asked.get(kind)
        if last is not None and last[0] is volumes and last[1] == exclude:
            return last[2]
        out = answer()
        self._asked[kind] = (volumes, exclude, out)
        return out

    def cells_of_intent(self, intent_id: UUID) -> tuple[np.ndarray, ...]:
        """``grid.cells_of_volume`` of each nominal volume of the live intent ``intent_id``, as kept since it
        was put (no geometry test: a refused plan's blockers are read many times); ``()`` without a grid."""
        return self._cells.get(intent_id, ())

    def occupants(self, cell: Cell, start_s: float, end_s: float) -> list[Span]:
        """Spans of live intents' nominal volumes in cell-layer ``cell`` meeting the closed window, by start.

        Every intent, in any state, with a nominal volume touching the cell (:meth:`CellGrid.cells_of_volume`)
        during the window; one span per such volume. Empty without a grid.
        """
        spans = self._occupancy.get(cell)
        if not spans:
            return []
        # No span is longer than _longest_s; doubled, it also covers the rounding of end - start.
        first = bisect.bisect_left(spans, start_s - 2.0 * self._longest_s[cell], key=_START)
        last = bisect.bisect_right(spans, end_s, key=_START)
        return [span for span in spans[first:last] if span[1] >= start_s]

    def cells_of_each(self, volumes: Sequence[Volume3D]) -> list[np.ndarray]:
        """``grid.cells_of_volume`` of each volume (one batch for those not in memory); ``[]`` without a grid.

        The last few volumes asked about are remembered: a plan's cells, computed while it is checked, serve
        again when it is put. Keyed by identity; the entry holds the volume, so its id cannot be reused.
        So are their outlines (those that touch a cell): a volume with a remembered outline object but new
        heights (an altitude alternative) gets its cells from :meth:`CellGrid.restacked`, no geometry test.
        """
        if self.grid is None:
            return []
        cells = [self._recall(v) for v in volumes]
        missing = [n for n, c in enumerate(cells) if c is None]
        if missing:
            found, owner = self.grid.cells_of_volumes([volumes[n] for n in missing])
            ends = np.searchsorted(owner, np.arange(len(missing) + 1)).tolist()
            for at, n in enumerate(missing):
                cells[n] = found[ends[at] : ends[at + 1]]
                self._remember(volumes[n], cells[n])
        return cells  # type: ignore[return-value]  # every None was filled

    def cells_of_volume(self, volume: Volume3D) -> np.ndarray:
        """``grid.cells_of_volume``, remembered like :meth:`cells_of_each`."""
        return self.cells_of_each([volume])[0]

    def _recall(self, volume: Volume3D) -> np.ndarray | None:
        hit = self._recent.get(id(volume))
        if hit is not None and hit[0] is volume:
            return hit[1]
        same = self._outlines.get(id(volume.outline))
        if same is None or same[0] is not volume.outline or self.grid is None:
            return None
        cells = self.grid.restacked(same[1], volume.z_lower_m, volume.z_upper_m)
        self._remember(volume, cells)
        return cells

    def _remember(self, volume: Volume3D, cells: np.ndarray) -> None:
        self._recent[id(volume)] = (volume, cells)
        if len(self._recent) > _RECENT_VOLUMES:
            self._recent.popitem(last=False)
        if len(cells):
            self._outlines[id(volume.outline)] = (volume.outline, cells)
            if len(self._outlines) > _RECENT_VOLUMES:
                self._outlines.popitem(last=False)

    def _keep_cells(self, cells: np.ndarray, ends: list[int]) -> None:
        """Keep each live intent's cells: ``cells[ends[n] : ends[n + 1]]`` are its ``n``-th nominal volume's,
        the volumes taken intent by intent, in the order of ``_intents``."""
        at = 0
        for intent_id, intent in self._intents.items():
            n = len(intent.volumes)
            self._cells[intent_id] = tuple(cells[ends[m] : ends[m + 1]] for m in range(at, at + n))
            at += n

    def _rows_of(self, intent: OperationalIntent) -> list[tuple[Cell, Span]]:
        """``(cell, span)`` for each cell-layer a nominal volume of the live ``intent`` touches (none without
        grid), from the cells kept when it was put."""
        cells = self._cells.get(intent.id, ())
        return [
            ((i, j, k), (v.t_start_s, v.t_end_s, intent.id))
            for v, of_v in zip(intent.volumes, cells, strict=False)  # no cells at all without a grid
            for i, j, k in of_v.tolist()
        ]

    def _occupy(self, rows: Iterable[tuple[Cell, Span]]) -> None:
        """Enter ``(cell, span)`` rows into the occupancy, each cell's spans kept sorted."""
        added: dict[Cell, list[Span]] = {}
        for cell, span in rows:
            added.setdefault(cell, []).append(span)
        for cell, spans in added.items():
            longest_s = max(end_s - start_s for start_s, end_s, _ in spans)
            self._longest_s[cell] = max(self._longest_s.get(cell, 0.0), longest_s)
            present = self._occupancy.get(cell)
            if present is None:
                self._occupancy[cell] = sorted(spans)
            else:
                for span in spans:
                    bisect.insort(present, span)

    @property
    def geofences(self) -> tuple[Geofence, ...]:
        """Live geofences sorted by identifier."""
        return tuple(self._fences[k] for k in sorted(self._fences))

    def geofence(self, identifier: str) -> Geofence | None:
        """The live geofence ``identifier``, or None."""
        return self._fences.get(identifier)

    def put_geofence(self, geofence: Geofence) -> None:
        """Insert or replace a geofence, indexed over the hull of its applicability windows."""
        self._asked.clear()
        if geofence.identifier in self._fences:
            self.remove_geofence(geofence.identifier)
        self._fences[geofence.identifier] = geofence
        start, end = _hull(geofence)
        for volume in geofence.volumes:
            if isinstance(volume.outline, Polygon):
                shapely.prepare(volume.outline)  # tested against every plan near it: index its edges
            self._fence_index.insert(geofence.identifier, Volume4D(volume, start, end))

    def remove_geofence(self, identifier: str) -> None:
        """Drop a geofence; :class:`NotFound` when absent."""
        if identifier not in self._fences:
            raise NotFound(f"geofence {identifier!r} not found")
        self._asked.clear()
        del self._fences[identifier]
        self._fence_index.remove(identifier)

    def geofences_meeting(self, volume: Volume4D) -> list[Geofence]:
        """Geofences active during ``volume``'s window whose volumes meet it (exact), sorted by identifier."""
        return self.geofences_meeting_each([volume])[0]

    def geofences_meeting_each(self, volumes: Sequence[Volume4D]) -> list[list[Geofence]]:
        """:meth:`geofences_meeting` of each volume (a plan's: one broad phase for all its legs); answered
        again from memory for the very same sequence, as :meth:`meeting_each`."""
        fences = self._fences
        return self._again(
            "zones",
            volumes,
            None,
            lambda: [  # g.intersects: the one exact test, with the zone's windows
                [g for g in map(fences.__getitem__, near) if g.intersects(v)]
                for v, near in zip(volumes, self._fence_index.near_each(volumes), strict=True)
            ],
        )

    def fences_near(self, box: Box) -> list[Geofence]:
        """Broad phase only: geofences whose indexed box meets ``box``, sorted by identifier."""
        return self.fences_near_each([box])[0]

    def fences_near_each(self, boxes: Sequence[Box]) -> list[list[Geofence]]:
        """:meth:`fences_near` of each box (one broad phase for all)."""
        fences = self._fences
        return [[fences[k] for k in near] for near in self._fence_index.candidates_each(boxes)]


def _hull(geofence: Geofence) -> tuple[datetime | None, datetime | None]:
    """The smallest window holding every applicability window (``None`` = unbounded); permanent: both None."""
    windows = geofence.applicability
    if not windows or any(a.start is None for a in windows):
        start = None
    else:
        start = min(a.start for a in windows if a.start is not None)
    if not windows or any(a.end is None for a in windows):
        end = None
    else:
        end = max(a.end for a in windows if a.end is not None)
    return start, end


def _same(a: tuple[Volume4D, ...], b: tuple[Volume4D, ...]) -> bool:
    """The same volume objects in the same order (identity: cheap, and never wrong when it says yes)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
