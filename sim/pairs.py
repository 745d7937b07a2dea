"""Episodes of vehicle pairs (in conflict, in loss of separation): when each starts, ends, and its worst.

Pairs are keyed ``a << 32 | b`` with flight ids ``a < b``, kept sorted, so every update is a merge of
sorted integer arrays (no Python sets on the per-tick path, and a fixed order). Layer: sim.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from utm.neighbours import sorted_distinct

__all__ = ["Ended", "PairAlerts", "PairEpisodes", "pair_keys", "split_keys"]

_NO_KEYS = np.empty(0, np.int64)
_NO_TIMES = np.empty(0)
_NO_KEYS.flags.writeable = _NO_TIMES.flags.writeable = False  # shared empty results


def pair_keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Order-free int64 keys of flight-id pairs.

    >>> pair_keys(np.array([5, 2]), np.array([3, 9])).tolist() == [3 << 32 | 5, 2 << 32 | 9]
    True
    """
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    return lo << 32 | hi


def split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The flight ids ``(a, b)`` of keys, ``a < b``, as int32 (the event log's ids: ids fit it).

    >>> [x.tolist() for x in split_keys(pair_keys(np.array([5, 2]), np.array([3, 9])))]
    [[3, 2], [5, 9]]
    """
    return (keys >> 32).astype(np.int32), (keys & 0xFFFFFFFF).astype(np.int32)


@dataclass(frozen=True, slots=True)
class Ended:
    """Episodes that ended: their keys, start times and worst (smallest) metric."""

    keys: np.ndarray
    start_s: np.ndarray
    worst: np.ndarray


class PairEpisodes:
    """The pairs currently "on", with each episode's start and smallest metric so far.

    >>> ep = PairEpisodes()
    >>> ep.update(0.0, np.array([1]), np.array([2]), np.array([30.0])).tolist() == [1 << 32 | 2]
    True
    >>> _ = ep.update(1.0, np.array([2]), np.array([1]), np.array([10.0]))
    >>> _ = ep.update(2.0, np.empty(0, int), np.empty(0, int), np.empty(0))
    >>> ep.ended.start_s.tolist(), ep.ended.worst.tolist()
    ([0.0], [10.0])
    """

    def __init__(self) -> None:
        self.keys = np.empty(0, np.int64)
        self.start_s = np.empty(0)
        self.worst = np.empty(0)
        self._ended = Ended(self.keys, self.start_s, self.worst)

    def __len__(self) -> int:
        return len(self.keys)

    def update(self, t_s: float, a: np.ndarray, b: np.ndarray, metric: np.ndarray) -> np.ndarray:
        """Set the pairs that are on at ``t_s``; the keys of the episodes that started, sorted.

        The episodes this update ended are then in :attr:`ended`; updating with no pairs ends them all.
        """
        if len(a) == 0:  # nothing on: every open episode ends
            return self.update_sorted(t_s, _NO_KEYS, _NO_TIMES)
        keys = pair_keys(a, b)
        metric = np.asarray(metric, np.float64)
        if len(keys) > 1:
            order = keys.argsort()  # ties in any order: their metrics merge by min below
            keys, worst = keys.take(order), metric.take(order)
            dup = keys[1:] == keys[:-1]
            if dup.any():  # the same pair given twice: one entry, its smallest metric
                head = np.concatenate(([True], ~dup)).nonzero()[0]
                keys, worst = keys.take(head), np.minimum.reduceat(worst, head)
        else:
            worst = metric.copy()
        return self.update_sorted(t_s, keys, worst)

    def update_sorted(self, t_s: float, keys: np.ndarray, worst: np.ndarray) -> np.ndarray:
        """:meth:`update` with the pairs as keys, sorted and distinct, and their metrics; both arrays are
        kept, not copied."""
        if len(keys) == 0:
            self._ended = Ended(self.keys, self.start_s, self.worst)
            self.keys, self.start_s, self.worst = _NO_KEYS, _NO_TIMES, _NO_TIMES
            return _NO_KEYS
        if len(keys) == len(self.keys) and (keys == self.keys).all():  # the same pairs as before
            self._ended = Ended(_NO_KEYS, _NO_TIMES, _NO_TIMES)
            self.worst = np.minimum(worst, self.worst, out=worst)
            return _NO_KEYS
        at = self.keys.searchsorted(keys)
        known = at < len(self.keys)
        known[known] = self.keys[at[known]] == keys[known]
        gone = np.ones(len(self.keys), bool)
        gone[at[known]] = False
        if gone.all():
            self._ended = Ended(self.keys, self.start_s, self.worst)
        else:
            g = gone.nonzero()[0]
            self._ended = Ended(self.keys.take(g), self.start_s.take(g), self.worst.take(g))
        start = np.full(len(keys), t_s)
        if known.any():
            k, old = known.nonzero()[0], at[known]
            start[k] = self.start_s.take(old)
            worst[k] = np.minimum(worst.take(k), self.worst.take(old))
        self.keys, self.start_s, self.worst = keys, start, worst
        return keys.compress(~known)

    @property
    def ended(self) -> Ended:
        """The episodes that the last :meth:`update` ended."""
        return self._ended


class PairAlerts:
    """Which pairs are alerted: those found now, and those found within the last ``hold_s`` (hysteresis, as
    NASA's DAIDALUS alerting has): a pair is one episode until it has gone unfound for ``hold_s``.

    On a noisy picture a pair whose predicted closest approach lies near the zone's edge is found in one
    cycle, missed in the next and found again: without hysteresis each return would be a new conflict.

    >>> alerts = PairAlerts(hold_s=2.0)
    >>> [alerts.update(t, np.array([7] if t in (0, 2, 5) else [], np.int64)).tolist() for t in range(8)]
    [[7], [7], [7], [7], [], [7], [7], []]
    """

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.keys = _NO_KEYS  # alerted, sorted
        self._last_s = _NO_TIMES  # when each was last found

    def update(self, t_s: float, keys: np.ndarray) -> np.ndarray:
        """Note the pairs (keys, repeats allowed) found in the cycle at ``t_s``; the alerted ones, sorted."""
        held = (t_s - self._last_s < self.hold_s - 1e-9).nonzero()[0]
        union = sorted_distinct(np.concatenate([self.keys.take(held), np.sort(keys)]))
        last_s = np.full(len(union), t_s)
        old = union.searchsorted(self.keys.take(held))
        last_s[old] = self._last_s.take(held)
        last_s[union.searchsorted(keys)] = t_s
        self.keys, self._last_s = union, last_s
        return union
