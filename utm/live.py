"""The live airspace picture strategic decisions read: intents and geofences, each behind a space-time index.

Every pair search goes through :class:`~airspace.index.SpaceTimeIndex` (an R*-tree broad phase, then the
exact F3548 test), never through a scan of all intents (ARCHITECTURE.md, hot paths). The picture is
in memory only; the service rebuilds it from the store at start-up and updates it after each commit.
Layer: utm; imports airspace only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from uuid import UUID

import numpy as np

from airspace.cells import CellGrid
from airspace.geofences import Geofence
from airspace.index import Box, SpaceTimeIndex
from airspace.volumes import Volume3D, Volume4D
from utm.errors import NotFound
from utm.intents import OperationalIntent

__all__ = ["LiveAirspace"]


_RECENT_VOLUMES = 64  # cells kept for recently checked volumes (a few plans' worth)


class LiveAirspace:
    """Live operational intents and geofences, indexed in space and time; optional cell grid for capacity.

    Answers are sorted (intents by id, geofences by identifier), so decisions never depend on insertion
    order.
    """

    __slots__ = ("_cells", "_fence_index", "_fences", "_index", "_intents", "_recent", "grid")

    def __init__(self, *, grid: CellGrid | None = None, geofences: Iterable[Geofence] = ()) -> None:
        self.grid = grid
        self._intents: dict[UUID, OperationalIntent] = {}
        self._cells: dict[UUID, list[tuple[tuple[tuple[int, int, int], ...], float, float]]] = {}
        self._index: SpaceTimeIndex[UUID] = SpaceTimeIndex()
        self._fences: dict[str, Geofence] = {}
        self._fence_index: SpaceTimeIndex[str] = SpaceTimeIndex()
        self._recent: OrderedDict[int, tuple[Volume3D, np.ndarray]] = OrderedDict()
        for fence in geofences:
            self.put_geofence(fence)

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
        """Insert or replace ``intent`` and index all its volumes (nominal and off-nominal)."""
        if intent.id in self._intents:
            self.remove(intent.id)
        self._intents[intent.id] = intent
        for volume in intent.all_volumes:
            self._index.insert(intent.id, volume)

    def remove(self, intent_id: UUID) -> None:
        """Drop ``intent_id`` from the live set (F3548: Ended); :class:`NotFound` when absent."""
        self.get(intent_id)
        del self._intents[intent_id]
        self._cells.pop(intent_id, None)
        if intent_id in self._index:
            self._index.remove(intent_id)

    def overlapping(
        self, volumes: Iterable[Volume4D], *, exclude: UUID | None = None
    ) -> list[OperationalIntent]:
        """Intents with a volume truly intersecting any of ``volumes`` (closed, 1 cm rule), sorted by id."""
        keys = self._index.query_many(volumes)
        return [self._intents[k] for k in keys if k != exclude]

    def near(self, box: Box, *, exclude: UUID | None = None) -> list[OperationalIntent]:
        """Broad phase only: intents with a volume whose 4D box meets ``box``, sorted by id.

        ``box`` is ``(x_min, y_min, z_min, t_min, x_max, y_max, z_max, t_max)`` in metres and POSIX seconds.
        """
        return [self._intents[k] for k in self._index.candidates(box) if k != exclude]

    def cells_of(self, intent_id: UUID) -> list[tuple[tuple[tuple[int, int, int], ...], float, float]]:
        """Per nominal volume: the ``(i, j, k)`` cell-layers of ``grid`` it touches, its start, end (POSIX s).

        Computed on first use and kept until the intent changes; empty without a grid.
        """
        if self.grid is None:
            return []
        if intent_id not in self._cells:
            self._cells[intent_id] = [
                (tuple(map(tuple, self.cells_of_volume(v.volume).tolist())), v.t_start_s, v.t_end_s)
                for v in self.get(intent_id).volumes
            ]
        return self._cells[intent_id]

    def cells_of_volume(self, volume: Volume3D) -> np.ndarray:
        """``grid.cells_of_volume``, remembered for the last few volumes asked about.

        A plan's cells, computed while it is checked, serve again once it is live and a neighbour's check
        asks for them. Keyed by identity; the entry holds the volume, so its id cannot be reused meanwhile.
        """
        hit = self._recent.get(id(volume))
        if hit is not None and hit[0] is volume:
            return hit[1]
        cells = self.grid.cells_of_volume(volume)
        self._recent[id(volume)] = (volume, cells)
        if len(self._recent) > _RECENT_VOLUMES:
            self._recent.popitem(last=False)
        return cells

    @property
    def geofences(self) -> tuple[Geofence, ...]:
        """Live geofences sorted by identifier."""
        return tuple(self._fences[k] for k in sorted(self._fences))

    def put_geofence(self, geofence: Geofence) -> None:
        """Insert or replace a geofence, indexed over the hull of its applicability windows."""
        if geofence.identifier in self._fences:
            self.remove_geofence(geofence.identifier)
        self._fences[geofence.identifier] = geofence
        start, end = _hull(geofence)
        for volume in geofence.volumes:
            self._fence_index.insert(geofence.identifier, Volume4D(volume, start, end))

    def remove_geofence(self, identifier: str) -> None:
        """Drop a geofence; :class:`NotFound` when absent."""
        if identifier not in self._fences:
            raise NotFound(f"geofence {identifier!r} not found")
        del self._fences[identifier]
        self._fence_index.remove(identifier)

    def geofences_meeting(self, volume: Volume4D) -> list[Geofence]:
        """Geofences active during ``volume``'s window whose volumes meet it (exact), sorted by identifier."""
        fences = (self._fences[k] for k in self._fence_index.query(volume))
        return [g for g in fences if g.intersects(volume)]

    def fences_near(self, box: Box) -> list[Geofence]:
        """Broad phase only: geofences whose indexed box meets ``box``, sorted by identifier."""
        return [self._fences[k] for k in self._fence_index.candidates(box)]


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
