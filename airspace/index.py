"""Space-time index of keyed 4D volumes: a dynamic R*-tree broad phase, then the exact F3548 test.

Each key (an operational intent, a geozone) holds one or more :class:`~airspace.volumes.Volume4D`.
The broad phase is a 4D R*-tree (libspatialindex through ``rtree``) over the boxes
``(x, y, z, t)`` in metres and POSIX seconds; it is updated in place, so inserting or removing a key
costs O(log n) and never rebuilds the tree. While an index holds a few boxes (``_SCAN_MAX``, e.g. the
geofences of a live picture), a scan of them answers box queries instead: the same rows, without the
tree's ctypes round trip. Exact tests (:meth:`Volume4D.intersects`) run only on the
candidates, and every answer is a sorted list of keys (STYLE 2.3). A tree query costs 10-20 us however few
rows it finds, so the per-volume queries of a plan (``meeting_each``, ``entries_each``) ask once per run of
neighbouring boxes, and an index answers a box inside one of its last few queries from the rows that one
found, until it changes. Layer: airspace; imports nothing of ours but airspace.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

import numpy as np
from rtree import index

from airspace.errors import InvalidVolume
from airspace.volumes import Volume4D

__all__ = ["BOX_LIMIT", "SpaceTimeIndex"]

K = TypeVar("K", bound=Hashable)

BOX_LIMIT = 1e12
"""Finite box bounds must lie strictly within ``±BOX_LIMIT`` (metres or POSIX seconds).

Infinite bounds are stored as ``±BOX_LIMIT`` because the tree's split heuristics need finite
extents. Since every finite stored bound is strictly inside the limit, clamping keeps each closed
box comparison exact: touching unbounded boxes still meet. Year 9999 is 2.5e11 s, so any datetime fits.
"""

Box = tuple[float, float, float, float, float, float, float, float]

_XY_GROWTH = 1e-9
_SCAN_MAX = 32
"""Up to this many stored volumes, box queries scan them instead of asking the R-tree (~7 us a query)."""
_RECALLED = 4
"""Batched queries an index remembers (box and rows found) until it changes: a refused plan's alternative
searches ask again inside boxes just asked (a time shift inside the reach searched, a layer pre-checked)."""


def _clamped(box: Box) -> Box:
    """``box`` with every bound clamped to ``[-BOX_LIMIT, BOX_LIMIT]``."""
    if min(box) >= -BOX_LIMIT and max(box) <= BOX_LIMIT:
        return box  # nothing to clamp: every bounded box
    return tuple(min(max(b, -BOX_LIMIT), BOX_LIMIT) for b in box)  # type: ignore[return-value]


def _search_box(volume: Volume4D) -> Box:
    """The clamped box of a query volume, grown in x and y by 1e-9 relative so the broad phase never misses.

    A circle's bounds (centre ± radius) round on their own, and the exact distance test rounds
    differently: a circle at x = 24.1 m with radius 70.1 m has x_max = 94.19999999999999 yet touches
    a polygon whose edge is at x = 94.2 m.
    """
    xmin, ymin, zmin, tmin, xmax, ymax, zmax, tmax = volume.box
    return _clamped(
        (
            xmin - _XY_GROWTH * (1.0 + abs(xmin)),
            ymin - _XY_GROWTH * (1.0 + abs(ymin)),
            zmin,
            tmin,
            xmax + _XY_GROWTH * (1.0 + abs(xmax)),
            ymax + _XY_GROWTH * (1.0 + abs(ymax)),
            zmax,
            tmax,
        )
    )


def _stored_box(volume: Volume4D) -> Box:
    """The clamped box of a volume to be stored; a finite bound at or past the limit is refused."""
    box = volume.box
    if min(box) > -BOX_LIMIT and max(box) < BOX_LIMIT:
        return box  # finite and in range: nothing to refuse or clamp (every intent's box)
    for name, b in zip(
        ("x_min", "y_min", "z_min", "t_min", "x_max", "y_max", "z_max", "t_max"), box, strict=True
    ):
        if math.isfinite(b) and not -BOX_LIMIT < b < BOX_LIMIT:
            raise InvalidVolume(f"volume.box.{name}", f"finite bounds must lie within ±{BOX_LIMIT:g} ({b})")
    return _clamped(box)


def _tree_box(box: Box) -> Box:
    """``box`` in the tree's axis order, time first: ``(t, x, y, z)`` minima, then maxima.

    STR bulk loading (:meth:`SpaceTimeIndex.from_items`) slices the first axis finest, and a day of plans
    is spread far more in time than in space: time first makes queries of a bulk-loaded 100k-intent tree
    1.5x faster than x first (measured with bench/service_bench.py's corridors).
    """
    x_min, y_min, z_min, t_min, x_max, y_max, z_max, t_max = box
    return (t_min, x_min, y_min, z_min, t_max, x_max, y_max, z_max)


def _meets(a: Box, b: Box) -> bool:
    """Whether two closed boxes in the same axis order (four minima, then four maxima) meet."""
    return (
        a[0] <= b[4]
        and b[0] <= a[4]
        and a[1] <= b[5]
        and b[1] <= a[5]
        and a[2] <= b[6]
        and b[2] <= a[6]
        and a[3] <= b[7]
        and b[3] <= a[7]
    )


def _holds(outer: Box, inner: Box) -> bool:
    """Whether the closed box ``outer`` holds ``inner`` (same axis order: four minima, then four maxima)."""
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and outer[2] <= inner[2]
        and outer[3] <= inner[3]
        and inner[4] <= outer[4]
        and inner[5] <= outer[5]
        and inner[6] <= outer[6]
        and inner[7] <= outer[7]
    )


def _runs(boxes: Sequence[Box]) -> Iterator[tuple[int, int, Box]]:
    """``(first, end, hull)`` of each maximal run ``boxes[first:end]`` in which every box meets the hull of
    those before it: one tree query of the hull serves the run (a plan's legs, each overlapping the last),
    and boxes far apart (hours or kilometres) get queries of their own rather than one of a huge hull."""
    if not boxes:
        return
    first, hull = 0, boxes[0]
    for n in range(1, len(boxes)):
        if _meets(boxes[n], hull):
            hull = _hull(hull, boxes[n])
        else:
            yield first, n, hull
            first, hull = n, boxes[n]
    yield first, len(boxes), hull


def _hull(a: Box, b: Box) -> Box:
    """The smallest box holding both (same axis order as the boxes)."""
    return (*map(min, a[:4], b[:4]), *map(max, a[4:], b[4:]))  # type: ignore[return-value]


def _keys(hits: list[tuple[K, Volume4D]]) -> list[K]:
    """The sorted distinct keys of ``(key, volume)`` pairs."""
    return sorted({key for key, _ in hits})


def _properties() -> index.Property:
    """A 4D R*-tree with 32-entry nodes and a 0.3 fill factor.

    Measured at 100k corridor volumes (bench/index_bench.py): the defaults (100 entries, 0.7) delete
    ~1,200 volumes/s because nearly every deletion underflows a node and re-inserts its entries; these
    settings delete ~60,000/s, insert twice as fast and query as fast.
    """
    props = index.Property()
    props.dimension = 4
    props.leaf_capacity = props.index_capacity = 32
    props.fill_factor = 0.3
    return props


class SpaceTimeIndex(Generic[K]):
    """Keys holding 4D volumes, queried by box (broad phase) or by volume (exact, closed, 1 cm rule).

    Keys must be hashable and mutually orderable (UUIDs, ints, strings): answers are sorted lists. The
    batched queries remember their rows, so concurrent callers of ``meeting_each`` / ``entries_each`` and
    writers must be serialized (UTMService holds its lock around both).

    >>> from datetime import datetime, UTC
    >>> from airspace.volumes import Volume3D
    >>> t0, t1, t2 = (datetime(2026, 1, 1, h, tzinfo=UTC) for h in (10, 11, 12))
    >>> box = Volume3D.polygon([(0, 0), (100, 0), (100, 100), (0, 100)], z_lower_m=0.0, z_upper_m=120.0)
    >>> idx = SpaceTimeIndex()
    >>> idx.insert("a", Volume4D(box, t0, t1))
    >>> idx.insert("b", Volume4D(Volume3D.circle(150.0, 50.0, 49.99, z_lower_m=0.0, z_upper_m=60.0), t1, t2))
    >>> idx.query(Volume4D(box, t1, t2))           # "a" ends as the query starts: touching counts
    ['a']
    >>> idx.candidates((0, 0, 0, t1.timestamp(), 200, 200, 10, t2.timestamp()))
    ['a', 'b']
    >>> idx.query(Volume4D(box, None, None))       # unbounded in time; "b" is 1 cm away
    ['a']
    """

    def __init__(self) -> None:
        self._tree = index.Index(properties=_properties(), interleaved=True)
        self._entries: dict[int, tuple[K, Volume4D, Box]] = {}  # row: key, volume, box in tree order
        self._ids_of: dict[K, list[int]] = {}
        self._next_id = 0
        self._recalled: list[tuple[Box, list[int]]] = []  # (tree-order box, sorted rows), newest last

    @classmethod
    def from_items(cls, items: Iterable[tuple[K, Volume4D]]) -> SpaceTimeIndex[K]:
        """An index of ``items``, ``(key, volume)`` pairs, bulk-loaded (STR, from arrays).

        The tree of 200k corridor volumes packs in 0.3 s, against 7 s of inserts (a restart's budget). The
        packed tree answers a query in about 1.6x the time of one grown by inserts, and the first removal
        from each packed leaf re-inserts its neighbours; later inserts and removals work as usual.
        """
        out: SpaceTimeIndex[K] = cls()
        for key, volume in items:
            out._add(key, volume)
        if out._entries:
            rows = np.fromiter(out._entries, dtype=np.int64, count=len(out._entries))
            boxes = np.array([box for _, _, box in out._entries.values()])
            out._tree = index.Index(
                (rows, boxes[:, :4], boxes[:, 4:]), properties=_properties(), interleaved=True
            )
        return out

    def insert(self, key: K, volume: Volume4D) -> None:
        """Add ``volume`` under ``key``; a key may hold several volumes and each insert adds one."""
        row = self._add(key, volume)
        self._tree.insert(row, self._entries[row][2])

    def remove(self, key: K) -> None:
        """Remove every volume of ``key``; ``KeyError`` if the index does not hold it."""
        self._recalled.clear()
        for row in self._ids_of.pop(key):
            self._tree.delete(row, self._entries.pop(row)[2])

    def __len__(self) -> int:
        """Number of keys."""
        return len(self._ids_of)

    def __contains__(self, key: object) -> bool:
        return key in self._ids_of

    def __iter__(self) -> Iterator[K]:
        """Keys in sorted order."""
        return iter(sorted(self._ids_of))

    def volumes(self, key: K) -> tuple[Volume4D, ...]:
        """The volumes of ``key`` in insertion order; ``KeyError`` if absent."""
        return tuple(self._entries[row][1] for row in self._ids_of[key])

    def candidates(self, box: Box) -> list[K]:
        """Keys with a volume whose 4D box meets the closed ``box`` (broad phase only); sorted, unique.

        ``box`` is ``(x_min, y_min, z_min, t_min, x_max, y_max, z_max, t_max)`` in metres and POSIX
        seconds; bounds may be infinite.
        """
        return self.candidates_each([box])[0]

    def candidates_each(self, boxes: Sequence[Box]) -> list[list[K]]:
        """:meth:`candidates` of each box, with one row query per run of boxes that meet (:func:`_runs`)."""
        return [_keys(hits) for hits in self._each([_tree_box(_clamped(box)) for box in boxes], None)]

    def near(self, volume: Volume4D) -> list[K]:
        """Keys with a volume whose 4D box meets ``volume``'s, grown as for the exact queries (broad phase
        only, sorted, unique): for callers whose own exact test is stricter than :meth:`query`'s."""
        return self.near_each([volume])[0]

    def near_each(self, volumes: Sequence[Volume4D]) -> list[list[K]]:
        """:meth:`near` of each volume, with one row query per run of volumes whose boxes meet (a plan's legs
        against the few zones: one scan of them, not one per leg)."""
        return [_keys(hits) for hits in self._each([_tree_box(_search_box(v)) for v in volumes], None)]

    def entries(self, box: Box) -> list[tuple[K, Volume4D]]:
        """``(key, volume)`` of each stored volume whose 4D box meets the closed ``box`` (broad phase per
        volume, not per key), in insertion order."""
        return self.entries_each([box])[0]

    def entries_each(self, boxes: Sequence[Box]) -> list[list[tuple[K, Volume4D]]]:
        """:meth:`entries` of each box, with one tree query per run of boxes that meet (see :func:`_runs`)."""
        return self._each([_tree_box(_clamped(box)) for box in boxes], None)

    def meeting(self, volume: Volume4D) -> list[tuple[K, Volume4D]]:
        """``(key, stored volume)`` for each stored volume truly intersecting ``volume``, by insertion."""
        return self.meeting_each([volume])[0]

    def meeting_each(self, volumes: Sequence[Volume4D]) -> list[list[tuple[K, Volume4D]]]:
        """:meth:`meeting` of each volume, with one tree query per run of volumes whose boxes meet (a plan's
        legs, one after the other)."""
        return self._each([_tree_box(_search_box(v)) for v in volumes], volumes)

    def _each(self, boxes: list[Box], volumes: Sequence[Volume4D] | None) -> list[list[tuple[K, Volume4D]]]:
        """For each tree-order box, ``(key, volume)`` of the stored volumes whose box meets it and, with
        ``volumes``, truly intersect its volume; by insertion. One row query per run's hull: each box's rows
        are among the hull's (or a remembered superset's), so each answer is that of a query of its own."""
        entries = self._entries
        out: list[list[tuple[K, Volume4D]]] = []
        for first, end, hull in _runs(boxes):
            found = [entries[row] for row in self._recall(hull)]
            for n in range(first, end):
                box = boxes[n]
                hits = [(key, stored) for key, stored, at in found if _meets(at, box)]
                out.append(hits if volumes is None else [(k, v) for k, v in hits if volumes[n].intersects(v)])
        return out

    def query(self, volume: Volume4D) -> list[K]:
        """Keys with a volume truly intersecting ``volume`` (:meth:`Volume4D.intersects`); sorted, unique."""
        return sorted(self._hits(volume, set()))

    def query_many(self, volumes: Iterable[Volume4D]) -> list[K]:
        """Keys with a volume intersecting any of ``volumes`` (e.g. all of an intent's); sorted, unique."""
        found: set[K] = set()
        for volume in volumes:
            self._hits(volume, found)
        return sorted(found)

    def _hits(self, volume: Volume4D, found: set[K]) -> set[K]:
        """Add to ``found`` the keys with a volume intersecting ``volume``; keys already found are skipped."""
        entries = self._entries
        for row in self._rows(_tree_box(_search_box(volume))):
            key, stored, _ = entries[row]
            if key not in found and volume.intersects(stored):
                found.add(key)
        return found

    def _recall(self, box: Box) -> list[int]:
        """Sorted rows whose box meets ``box``, or a superset of them: the rows of a remembered query whose
        box holds ``box`` (the caller tests each row's box), else those of a new query, then remembered."""
        for held, rows in self._recalled:
            if _holds(held, box):
                return rows
        rows = sorted(self._rows(box))
        self._recalled.append((box, rows))
        del self._recalled[:-_RECALLED]
        return rows

    def _rows(self, box: Box) -> Iterable[int]:
        """Rows whose stored box meets the closed ``box`` (tree order): a scan of the boxes while there are at
        most ``_SCAN_MAX`` (a live picture's few geofences: cheaper than the R-tree's ctypes round trip)."""
        if len(self._entries) > _SCAN_MAX:
            return self._tree.intersection(box)
        return [row for row, (_, _, stored) in self._entries.items() if _meets(stored, box)]

    def _add(self, key: K, volume: Volume4D) -> int:
        """Record ``volume`` under ``key`` (not yet in the tree); returns its row id."""
        if not isinstance(volume, Volume4D):
            raise InvalidVolume("volume", f"must be a Volume4D ({type(volume).__name__})")
        box = _tree_box(_stored_box(volume))
        self._recalled.clear()
        row = self._next_id
        self._next_id += 1
        self._entries[row] = (key, volume, box)
        self._ids_of.setdefault(key, []).append(row)
        return row
