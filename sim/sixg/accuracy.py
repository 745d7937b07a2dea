"""Sensing and tracking accuracy by altitude and distance, in fixed bins so memory does not grow with the run.

The issue's "detection probability and track errors by altitude and distance": :class:`DetectionCounts`
counts the (target, TRP) pairs a scan tried and those it detected per bin of one quantity (3D range,
altitude); :class:`TrackErrors` keeps the confirmed tracks' horizontal and vertical position errors against
ground truth as fixed-width histograms (:data:`ERROR_BINS`) per bin of altitude and of horizontal distance to
the nearest site, cooperative and sensing-only tracks apart. Altitude bins are centred on multiples of 15 m,
so the layer mid-heights of the bundled region (45, 75, 105 m for drones, 225, 375 m for eVTOL) each fall
in the middle of one bin. Layer: sim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "ALTITUDE_BINS",
    "ERROR_BINS",
    "MATCH_GATE_M",
    "RANGE_BINS",
    "SAMPLE_PERIOD_S",
    "SITE_DISTANCE_BINS",
    "TRACK_KINDS",
    "Bins",
    "DetectionCounts",
    "ErrorHistograms",
    "TrackErrors",
    "nearest_within",
    "quantile_bin",
]


@dataclass(frozen=True, slots=True)
class Bins:
    """``count`` bins of ``width`` from ``lo``; a value below ``lo`` counts in the first, one past the last
    edge in the last (the end bins are open).

    >>> Bins(-7.5, 15.0, 3).index(np.array([-20.0, 7.4, 7.5, 500.0])).tolist()
    [0, 0, 1, 2]
    """

    lo: float
    width: float
    count: int

    def index(self, values: np.ndarray) -> np.ndarray:
        """The bin of each value, int64."""
        k = ((values - self.lo) / self.width).astype(np.int64)
        np.maximum(k, 0, out=k)  # not np.clip: its Python wrapper costs more than the work here
        return np.minimum(k, self.count - 1, out=k)

    def centres(self) -> list[float]:
        """Each bin's centre (what the metrics list beside the counts)."""
        return [round(self.lo + self.width * (k + 0.5), 6) for k in range(self.count)]


RANGE_BINS = Bins(0.0, 50.0, 30)
"""3D range target to TRP: 50 m bins, the last holding every pair beyond 1,450 m."""
ALTITUDE_BINS = Bins(-7.5, 15.0, 31)
"""Height above ground: 15 m bins centred on 0, 15, ..., 450 m (the last holding everything above 442.5)."""
SITE_DISTANCE_BINS = Bins(0.0, 25.0, 40)
"""Horizontal distance to the nearest site: 25 m bins, the last holding everything beyond 975 m (a 500 m grid
puts no point farther than 289 m from a site)."""
ERROR_BINS = Bins(0.0, 0.05, 2000)
"""Track position error: 5 cm bins up to 100 m (a larger error counts in the last bin)."""
TRACK_KINDS = ("cooperative", "sensing_only")
"""Tracks that carry their vehicle's reports (0), and tracks of the network's sensing alone (1)."""
SAMPLE_PERIOD_S = 5.0
"""The engine scores the fused picture against ground truth at the first CD&R cycle of every this many
seconds: a track's errors a cycle apart are nearly one sample, and scoring every cycle would cost a
1,000-drone ISAC run a few per cent."""
MATCH_GATE_M = 100.0
"""A sensing-only track is scored against the nearest non-cooperative vehicle within this 3D distance (none
nearer: it is a false or duplicate track, counted apart)."""
_QUANTILES = (("p50", 0.5), ("p90", 0.9))


def quantile_bin(counts: np.ndarray, q: float) -> np.ndarray:
    """The bin holding the ``q`` quantile of each histogram along the last axis of ``counts`` (-1: empty),
    the bin of ``np.quantile(samples, q, method="inverted_cdf")``.

    >>> quantile_bin(np.array([[1, 2, 1], [0, 0, 0]]), 0.5).tolist()
    [1, -1]
    """
    cum = np.cumsum(counts, axis=-1)
    total = cum[..., -1]
    rank = np.maximum(q * total, 1)[..., None]  # q = 0: the first sample's bin
    return np.where(total > 0, np.count_nonzero(cum < rank, axis=-1), -1)


class DetectionCounts:
    """(target, TRP) pairs a scan tried and those it detected, per bin of one quantity (range, altitude)."""

    def __init__(self, bins: Bins) -> None:
        self.bins = bins
        self.tried = np.zeros(bins.count, np.int64)
        self.detected = np.zeros(bins.count, np.int64)

    def add(self, tried: np.ndarray, detected: np.ndarray) -> None:
        """Count the pairs tried and detected at these values of the quantity."""
        n = self.bins.count
        self.tried += np.bincount(self.bins.index(tried), minlength=n)
        self.detected += np.bincount(self.bins.index(detected), minlength=n)

    def summary(self, quantity: str) -> dict[str, list]:
        """Bin centres (``<quantity>_m``) and the counts, for ``metrics.json``."""
        return {
            f"{quantity}_m": self.bins.centres(),
            "tried": self.tried.tolist(),
            "detected": self.detected.tolist(),
        }


class ErrorHistograms:
    """Horizontal and vertical error histograms (:data:`ERROR_BINS`) per kind of track and bin of one
    quantity."""

    def __init__(self, bins: Bins) -> None:
        self.bins = bins
        # (kind of track, bin of the quantity, horizontal | vertical, bin of the error)
        self.counts = np.zeros((len(TRACK_KINDS), bins.count, 2, ERROR_BINS.count), np.int64)

    def add(self, kind: np.ndarray, values: np.ndarray, err_h_m: np.ndarray, err_v_m: np.ndarray) -> None:
        """One sample per track: its horizontal and vertical errors, in the bin of its kind (index into
        :data:`TRACK_KINDS`) and its ``values``."""
        row = (kind * self.bins.count + self.bins.index(values)) * (2 * ERROR_BINS.count)
        at = np.concatenate(
            [row + ERROR_BINS.index(err_h_m), row + ERROR_BINS.count + ERROR_BINS.index(err_v_m)]
        )
        np.add.at(self.counts.reshape(-1), at, 1)  # a few samples a cycle: not a bincount of every bin

    def summary(self, quantity: str, kind: int) -> dict[str, Any]:
        """Per bin, for one kind of track: its centre, the samples, and the p50 and p90 errors in m (None: no
        sample)."""
        return {f"{quantity}_m": self.bins.centres(), **_errors(self.counts[kind])}


class TrackErrors:
    """Confirmed tracks' position errors against ground truth, by altitude and by horizontal distance to the
    nearest site (``site_distance_m(flight, pos_m)``), cooperative and sensing-only tracks apart; and how many
    sensing-only tracks no non-cooperative vehicle matched (``unmatched``, false or duplicate tracks)."""

    def __init__(self, site_distance_m: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        self._site_distance_m = site_distance_m
        self._altitude = ErrorHistograms(ALTITUDE_BINS)
        self._site = ErrorHistograms(SITE_DISTANCE_BINS)
        self.unmatched = 0

    def add(
        self, track_m: np.ndarray, truth_m: np.ndarray, flight: np.ndarray, sensing_only: np.ndarray
    ) -> None:
        """Tracks at ``track_m`` (n, 3) of the vehicles ``flight`` (n,) at ``truth_m`` (n, 3);
        ``sensing_only`` (n,) bool: the track has no reports."""
        err_h = np.hypot(track_m[:, 0] - truth_m[:, 0], track_m[:, 1] - truth_m[:, 1])
        err_v = np.abs(track_m[:, 2] - truth_m[:, 2])
        kind = sensing_only.astype(np.int64)
        self._altitude.add(kind, truth_m[:, 2], err_h, err_v)
        self._site.add(kind, self._site_distance_m(flight, truth_m), err_h, err_v)

    def summary(self) -> dict[str, Any]:
        """Counts and quantiles per kind of track, over all samples and per bin, for ``metrics.json``."""
        out: dict[str, Any] = {
            name: {
                "all": _errors(self._altitude.counts[kind].sum(axis=0)),
                "by_altitude_15m": self._altitude.summary("altitude", kind),
                "by_site_distance_25m": self._site.summary("site_distance", kind),
            }
            for kind, name in enumerate(TRACK_KINDS)
        }
        out["sensing_only_unmatched"] = self.unmatched
        out["match_gate_m"] = MATCH_GATE_M
        out["sample_period_s"] = SAMPLE_PERIOD_S
        return out


def nearest_within(points_m: np.ndarray, targets_m: np.ndarray, gate_m: float) -> np.ndarray:
    """For each point (n, 3), the index of the nearest target (m, 3) within ``gate_m`` in 3D, -1 for none.

    >>> nearest_within(np.array([[0.0, 0, 0], [50, 0, 0]]), np.array([[3.0, 0, 0], [9, 0, 0]]), 20.0).tolist()
    [0, -1]
    """
    if len(targets_m) == 0 or len(points_m) == 0:
        return np.full(len(points_m), -1, np.int64)
    _, k = cKDTree(targets_m).query(points_m, distance_upper_bound=gate_m)
    k = np.asarray(k, np.int64)
    return np.where(k < len(targets_m), k, -1)


def _errors(counts: np.ndarray) -> dict[str, Any]:
    """The samples and the p50 and p90 horizontal and vertical errors in m of error histograms ``counts``
    (..., 2, error bins), each the upper edge of its bin: the quantile is at most that (100 m: 100 m or more;
    None: no sample); lists over the leading axes."""
    out: dict[str, Any] = {"count": counts[..., 0, :].sum(axis=-1).tolist()}
    for axis, name in enumerate(("horizontal_m", "vertical_m")):
        out[name] = {}
        for key, q in _QUANTILES:
            k = quantile_bin(counts[..., axis, :], q)
            out[name][key] = np.where(k < 0, None, np.round((k + 1) * ERROR_BINS.width, 6)).tolist()
    return out
