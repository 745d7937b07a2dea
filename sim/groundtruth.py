"""Losses of separation and NMACs on true positions: one definition for simulated and recorded traffic.

A pair is in loss of separation (LoS) while it is inside the protected cylinder (horizontal distance <
``horizontal_m`` and ``|dz| <`` ``vertical_m``), and in NMAC while inside the NMAC cylinder; both are kept
as episodes per pair (sim/pairs.py) and logged as ``los_start`` / ``los_end`` (value: the episode's smallest
normalized separation) and ``nmac`` events. Layer: sim.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.eventlog import EventLog
from sim.pairs import PairEpisodes, split_keys
from utm.tactical import los_pairs

__all__ = ["Separations", "log_pair_events", "separations"]


@dataclass(frozen=True, slots=True)
class Separations:
    """The pairs in LoS at one instant: flight ids ``a``, ``b``, normalized separation
    ``max(dh / H, dz / V)``, horizontal distance, and which of them are also inside the NMAC cylinder."""

    a: np.ndarray
    b: np.ndarray
    norm: np.ndarray
    dh_m: np.ndarray
    nmac: np.ndarray  # indexes into the pairs

    def nmac_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(a, b, dh_m)`` of the NMAC pairs."""
        return self.a.take(self.nmac), self.b.take(self.nmac), self.dh_m.take(self.nmac)


def separations(
    flight: np.ndarray,
    pos_m: np.ndarray,
    *,
    horizontal_m: float,
    vertical_m: float,
    nmac_horizontal_m: float,
    nmac_vertical_m: float,
) -> Separations:
    """The LoS and NMAC pairs among vehicles ``flight`` at ``pos_m`` (n, 3); cell lists, not O(n^2)."""
    pairs = los_pairs(pos_m, radius_m=horizontal_m, half_height_m=vertical_m)
    i, j = pairs[:, 0], pairs[:, 1]
    x, y, z = pos_m[:, 0], pos_m[:, 1], pos_m[:, 2]
    dh = np.hypot(x.take(j) - x.take(i), y.take(j) - y.take(i))
    dz = np.abs(z.take(j) - z.take(i))
    norm = np.maximum(dh / horizontal_m, dz / vertical_m)
    near = ((dh < nmac_horizontal_m) & (dz < nmac_vertical_m)).nonzero()[0]
    return Separations(flight.take(i), flight.take(j), norm, dh, near)


def log_pair_events(
    log: EventLog, now: float, episodes: PairEpisodes, started: np.ndarray, name: str
) -> None:
    """Log the episodes of one kind (``los``, ``conflict``) that ``started`` and those the update ended."""
    if len(started):
        first, second = split_keys(started)
        log.events(now, f"{name}_start", first, other=second)
    ended = episodes.ended
    if len(ended.keys):
        first, second = split_keys(ended.keys)
        log.events(now, f"{name}_end", first, other=second, value=ended.worst)
