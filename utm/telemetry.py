"""Telemetry reports: one at a time (the HTTP API) or as a struct of arrays (the simulator's batch path);
and :class:`TimerState`, the per-intent conformance timers as the store keeps them.

Layer: utm; imports airspace only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import numpy as np

from utm.errors import InvalidRequest
from utm.intents import OperationalIntent

__all__ = ["TelemetryBatch", "TelemetryReport", "TimerState"]

COLUMNS = ("t_s", "x_m", "y_m", "z_m", "vx_mps", "vy_mps", "vz_mps", "accuracy_h_m", "accuracy_v_m")
T, X, Y, Z, VX, VY, VZ, AH, AV = range(len(COLUMNS))


@dataclass(frozen=True, slots=True)
class TelemetryReport:
    """One position report (local metres, frame z; m/s; accuracies as 1-sigma-like tolerances in metres)."""

    intent_id: UUID
    time: datetime
    x_m: float
    y_m: float
    z_m: float
    vx_mps: float = 0.0
    vy_mps: float = 0.0
    vz_mps: float = 0.0
    accuracy_h_m: float = 0.0
    accuracy_v_m: float = 0.0

    def __post_init__(self) -> None:
        posix_s(self.time, "telemetry.time")
        _check_columns({name: np.array([getattr(self, name)], float) for name in COLUMNS[1:]}, indexed=False)


@dataclass(frozen=True, slots=True)
class TelemetryBatch:
    """Reports as a struct of arrays (the simulator's path); row ``i`` reports for ``intents[intent_row[i]]``.

    Every column is broadcast to ``intent_row``'s shape ``(n,)``; ``t_s`` is POSIX seconds.

    >>> b = TelemetryBatch([0, 0, 1], t_s=[10.0, 11.0, 10.0], x_m=0.0, y_m=[1.0, 2.0, 3.0], z_m=50.0)
    >>> len(b), b.y_m.tolist(), b.accuracy_h_m.tolist()
    (3, [1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    >>> TelemetryBatch([0], t_s=[float("nan")], x_m=0.0, y_m=0.0, z_m=0.0)
    Traceback (most recent call last):
    utm.errors.InvalidRequest: telemetry[0].t_s: must be finite (nan)
    """

    intent_row: np.ndarray
    t_s: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    z_m: np.ndarray
    vx_mps: np.ndarray = 0.0  # type: ignore[assignment]
    vy_mps: np.ndarray = 0.0  # type: ignore[assignment]
    vz_mps: np.ndarray = 0.0  # type: ignore[assignment]
    accuracy_h_m: np.ndarray = 0.0  # type: ignore[assignment]
    accuracy_v_m: np.ndarray = 0.0  # type: ignore[assignment]

    def __post_init__(self) -> None:
        rows = np.asarray(self.intent_row)
        if rows.ndim != 1 or not (rows.dtype.kind in "iu" or rows.size == 0):
            raise InvalidRequest(
                "telemetry.intent_row", f"must be a 1-D integer array ({rows.dtype}{rows.shape})"
            )
        object.__setattr__(self, "intent_row", rows.astype(np.int64))
        columns = {}
        for name in COLUMNS:
            try:
                columns[name] = np.broadcast_to(np.asarray(getattr(self, name), float), rows.shape)
            except ValueError:
                raise InvalidRequest(f"telemetry.{name}", f"must broadcast to shape {rows.shape}") from None
            object.__setattr__(self, name, columns[name])
        _check_columns(columns, indexed=True)

    def __len__(self) -> int:
        return len(self.intent_row)

    @classmethod
    def from_reports(
        cls, intents: Sequence[OperationalIntent], reports: Sequence[TelemetryReport]
    ) -> TelemetryBatch:
        """The batch of ``reports``, each matched to the intent of the same id in ``intents``."""
        index = {intent.id: j for j, intent in enumerate(intents)}
        rows = []
        for i, report in enumerate(reports):
            if report.intent_id not in index:
                raise InvalidRequest(
                    f"telemetry[{i}].intent_id", f"no such intent among those given ({report.intent_id})"
                )
            rows.append(index[report.intent_id])
        values = [[getattr(r, n) for r in reports] for n in COLUMNS[1:]]
        return cls(np.array(rows, np.int64), [r.time.timestamp() for r in reports], *values)

    def matrix(self) -> np.ndarray:
        """The columns ``t_s, x_m, ..., accuracy_v_m`` as one ``(n, 9)`` float array."""
        return np.column_stack([getattr(self, name) for name in COLUMNS])


@dataclass(frozen=True, slots=True)
class TimerState:
    """Conformance timers of some intents, row ``k`` for ``intent_ids[k]``: what a restart must not reset.

    ``reports`` (n, 9) is the latest kept report in ``COLUMNS`` order (its ``t_s`` runs the silence timer,
    and a Contingent volume is built around it); ``since_s`` (n,) is the POSIX time the running excursion
    began (nan: not Nonconforming).
    """

    intent_ids: tuple[UUID, ...]
    reports: np.ndarray
    since_s: np.ndarray

    def __len__(self) -> int:
        return len(self.intent_ids)


def _check_columns(columns: Mapping[str, np.ndarray], *, indexed: bool) -> None:
    """Finite numbers everywhere, accuracies >= 0; the error names the first bad report and field."""
    for name, values in columns.items():
        bad = ~np.isfinite(values) | ((values < 0.0) if name.startswith("accuracy") else False)
        if bad.any():
            i = int(np.argmax(bad))
            field = f"telemetry[{i}].{name}" if indexed else f"telemetry.{name}"
            need = "finite and >= 0" if name.startswith("accuracy") else "finite"
            raise InvalidRequest(field, f"must be {need} ({values[i]})")


def posix_s(t: datetime, field: str) -> float:
    if t.utcoffset() is None:
        raise InvalidRequest(field, f"must be timezone-aware ({t.isoformat()})")
    return t.timestamp()
