"""Episodes of vehicle pairs (in conflict, in loss of separation): when each starts, ends, and its worst.

Pairs are keyed ``a << 32 | b`` with flight ids ``a < b``, kept sorted, so every update is a merge of
sorted integer arrays (no Python sets on the per-tick path, and a fixed order). Layer: sim.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Ended", "PairEpisodes", "pair_keys", "split_keys"]


def pair_keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Order-free int64 keys of flight-id pairs.

    >>> pair_keys(np.array([5, 2]), np.array([3, 9])).tolist() == [3 << 32 | 5, 2 << 32 | 9]
    True
    """
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    return lo << 32 | hi


def split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The flight ids ``(a, b)`` of keys, ``a < b``."""
    return keys >> 32, keys & 0xFFFFFFFF


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
        keys, inverse = np.unique(pair_keys(a, b), return_inverse=True)
        worst = np.full(len(keys), np.inf)
        np.minimum.at(worst, inverse, metric)
        at = np.searchsorted(self.keys, keys)
        known = at < len(self.keys)
        known[known] = self.keys[at[known]] == keys[known]
        gone = np.ones(len(self.keys), bool)
        gone[at[known]] = False
        self._ended = Ended(self.keys[gone], self.start_s[gone], self.worst[gone])
        start = np.full(len(keys), t_s)
        start[known] = self.start_s[at[known]]
        worst[known] = np.minimum(worst[known], self.worst[at[known]])
        self.keys, self.start_s, self.worst = keys, start, worst
        return keys[~known]

    @property
    def ended(self) -> Ended:
        """The episodes that the last :meth:`update` ended."""
        return self._ended
