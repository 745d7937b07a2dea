"""Run metrics on ground truth: traffic, strategic outcomes, conflicts, losses of separation, NMACs.

The engine reports what happens as it happens; :meth:`Tally.metrics` turns that into the ``metrics.json``
a planner compares across runs: counts, rates per flight-hour, severities, delays, flight-time
extensions, peak cell occupancy and throughput. LoS severity of an episode is ``1 - min max(dh / R,
|dz| / H)``: 0 at the edge of the protected zone, 1 for a collision course through its centre.
Layer: sim.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from sim.pairs import Ended
from sim.scenario import LoadedScenario
from utm.intents import State

__all__ = ["Tally", "flatten_metrics"]


def _summary(values: list[float]) -> dict[str, float | None]:
    """Mean, 95th percentile and maximum (None when there is nothing)."""
    if not values:
        return {"mean": None, "p95": None, "max": None}
    a = np.asarray(values)
    return {"mean": float(a.mean()), "p95": float(np.percentile(a, 95)), "max": float(a.max())}


def _per_hour(n: float, hours: float) -> float | None:
    return n / hours if hours > 0 else None


class Tally:
    """Counters and samples collected during one run."""

    def __init__(self, loaded: LoadedScenario) -> None:
        self._grid = loaded.region.grid
        self._flight_s = 0.0
        self._peak = (0, 0.0)
        self._cell_peak: tuple[int, str, float] = (0, "", 0.0)
        self._decisions: Counter[str] = Counter()
        self._not_flown: Counter[str] = Counter()
        self._delays: list[float] = []
        self._extensions: list[float] = []
        self._episodes: Counter[str] = Counter()
        self._pairs: dict[str, set[int]] = {"conflict": set(), "los": set()}
        self._severity: list[float] = []
        self._counts: Counter[str] = Counter()
        self._conformance: Counter[str] = Counter()
        self._first_seen = np.full(0, np.nan)  # by flight id: first scan a non-cooperative one was up
        self._first_detected = np.full(0, np.nan)  # ... and the first scan that detected it
        self._scans = {"scans": 0, "noncooperative": 0, "detected": 0, "false_alarms": 0}

    def count(self, name: str) -> int:
        """Episodes of ``name`` (conflict, los) started so far."""
        return self._episodes[name]

    def decision(self, decision: str, delay_s: float, *, flown: bool) -> None:
        self._counts["requested"] += 1
        self._decisions[decision.split(" ")[0]] += 1
        if flown:
            self._delays.append(delay_s)
        else:
            self._not_flown[decision.split(" ")[0]] += 1

    def not_flown(self, reason: str) -> None:
        self._not_flown[reason] += 1

    def took_off(self) -> None:
        self._counts["took_off"] += 1

    def free_flight(self, n: int) -> None:
        self._counts["took_off"] += n

    def landed(self, extension_s: float | None) -> None:
        """One landing; ``extension_s`` its time beyond plan (None: a plan-less flight has none)."""
        self._counts["landed"] += 1
        if extension_s is not None:
            self._extensions.append(extension_s)

    def airborne(self, t_s: float, n: int, dt_s: float) -> None:
        self._flight_s += n * dt_s
        if n > self._peak[0]:
            self._peak = (n, t_s)

    def episodes(self, name: str, started: np.ndarray, ended: Ended) -> None:
        self._episodes[name] += len(started)
        self._pairs[name].update(started.tolist())
        if name == "los" and len(ended.keys):
            self._severity.extend((1.0 - np.minimum(ended.worst, 1.0)).tolist())

    def nmac(self, n: int) -> None:
        self._counts["nmac"] += n

    def advisories(self, issued: int, lost: int) -> None:
        self._counts["advisories_issued"] += issued
        self._counts["advisories_lost"] += lost

    def conformance(self, state: State) -> None:
        self._conformance[str(state)] += 1

    def sensing(
        self, t_s: float, noncooperative: np.ndarray, detected: np.ndarray, false_alarms: int
    ) -> None:
        """One scan: the airborne non-cooperative flights, the flights it detected (sorted), false alarms."""
        seen = np.isin(noncooperative, detected, assume_unique=True)
        self._scans["scans"] += 1
        self._scans["noncooperative"] += len(noncooperative)
        self._scans["detected"] += int(seen.sum())
        self._scans["false_alarms"] += false_alarms
        if len(noncooperative) and noncooperative.max() >= len(self._first_seen):
            size = max(2 * len(self._first_seen), int(noncooperative.max()) + 1)
            for name in ("_first_seen", "_first_detected"):
                grown = np.full(size, np.nan)
                grown[: len(getattr(self, name))] = getattr(self, name)
                setattr(self, name, grown)
        new = noncooperative[np.isnan(self._first_seen[noncooperative])]
        self._first_seen[new] = t_s
        hit = noncooperative[seen]
        self._first_detected[hit[np.isnan(self._first_detected[hit])]] = t_s

    def _sensing_metrics(self) -> dict[str, Any] | None:
        s = self._scans
        if s["scans"] == 0:
            return None
        flown = ~np.isnan(self._first_seen)
        delay = (self._first_detected - self._first_seen)[flown]
        return {
            "scans": s["scans"],
            "noncooperative_detection_rate": s["detected"] / s["noncooperative"]
            if s["noncooperative"]
            else None,
            "noncooperative_vehicles": int(flown.sum()),
            "never_detected": int(np.isnan(delay).sum()),
            "time_to_first_detection_s": _summary(delay[~np.isnan(delay)].tolist()),
            "false_alarms_per_scan": s["false_alarms"] / s["scans"],
        }

    def occupancy(self, t_s: float, pos_m: np.ndarray) -> None:
        """Track the busiest cell-layer (vehicles at once) at a recording instant."""
        grid = self._grid
        ijk, inside = grid.locate(pos_m[:, 0], pos_m[:, 1], pos_m[:, 2])
        if not inside.any():
            return
        i, j, k = ijk[inside].T
        _, ny, nk = grid.shape
        flat = (i * ny + j) * nk + k  # np.ravel_multi_index, without its checks (locate gave valid cells)
        counts = np.bincount(flat)
        top = int(counts.argmax())
        if counts[top] > self._cell_peak[0]:
            i, j, k = np.unravel_index(top, grid.shape)
            self._cell_peak = (int(counts[top]), f"{i},{j} {grid.layers[k].name}", t_s)

    def metrics(self, duration_s: float) -> dict[str, Any]:
        """The run's metrics (JSON-ready)."""
        hours = self._flight_s / 3600.0
        requested = self._counts["requested"]
        refused = sum(n for d, n in self._decisions.items() if d.startswith("rejected"))
        los = self._episodes["los"]
        return {
            "flight_hours": hours,
            "flights": {
                "requested": requested,
                "took_off": self._counts["took_off"],
                "landed": self._counts["landed"],
                "not_flown": dict(sorted(self._not_flown.items())),
            },
            "airborne_peak": {"count": self._peak[0], "t_s": self._peak[1]},
            "strategic": {
                "decisions": dict(sorted(self._decisions.items())),
                "rejection_rate": refused / requested if requested else None,
                "delay_s": _summary(self._delays),
            },
            "conflicts": {
                "pairs": len(self._pairs["conflict"]),
                "episodes": self._episodes["conflict"],
                "per_flight_hour": _per_hour(self._episodes["conflict"], hours),
            },
            "los": {
                "count": los,
                "pairs": len(self._pairs["los"]),
                "per_flight_hour": _per_hour(los, hours),
                "severity": _summary(self._severity),
            },
            "nmac": {
                "count": self._counts["nmac"],
                "per_flight_hour": _per_hour(self._counts["nmac"], hours),
            },
            "advisories": {
                "issued": self._counts["advisories_issued"],
                "lost": self._counts["advisories_lost"],
            },
            "conformance": dict(sorted(self._conformance.items())),
            "flight_time_extension_s": _summary(self._extensions),
            "cell_occupancy_peak": {
                "count": self._cell_peak[0],
                "cell": self._cell_peak[1],
                "t_s": self._cell_peak[2],
            },
            "throughput_per_hour": self._counts["landed"] / duration_s * 3600.0,
            "sensing": self._sensing_metrics(),
        }


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float | None]:
    """Numeric and null leaves of a metrics mapping under dotted keys (booleans, text and lists left out).

    >>> flatten_metrics({"los": {"count": 2, "severity": {"mean": None}}, "network": None, "ok": True})
    {'los.count': 2.0, 'los.severity.mean': None, 'network': None}
    """
    out: dict[str, float | None] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_metrics(value, f"{name}."))
        elif value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            out[name] = None if value is None else float(value)
    return out
