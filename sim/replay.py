"""A recorded run's scene at one instant: where each vehicle was, and what the service knew of it.

Truth is the last state sample at or before ``t``; the service's picture of a vehicle is its latest report
*delivered* by ``t`` (so lost and late reports show as age and error), and the network's sensing is the
detections delivered in the last scan period. ``utm6g replay`` prints it and draws it.

Layer: sim.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sim.eventlog import MODES, EventLogError, RunLog, read_log
from sim.report import figure

__all__ = ["Snapshot", "format_snapshot", "plot_snapshot", "snapshot"]

_REPORT_MEMORY_S = 60.0  # a report older than this is not part of the picture (the service drops the track)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The scene at ``t_s`` (truth sampled at ``state_t_s``), one row per airborne vehicle selected.

    ``reported_m`` and ``report_age_s`` are NaN for a vehicle with no delivered report in the last minute
    (non-cooperative, or its reports lost); ``sensed_m`` holds the detections delivered in the last scan
    period with their truth label (``-1``: false alarm).
    """

    t_s: float
    state_t_s: float
    flight: np.ndarray
    truth_m: np.ndarray  # (n, 3)
    speed_mps: np.ndarray
    mode: np.ndarray  # names from sim.eventlog.MODES
    reported_m: np.ndarray  # (n, 3)
    report_age_s: np.ndarray
    sensed_m: np.ndarray  # (k, 3)
    sensed_flight: np.ndarray

    @property
    def report_error_m(self) -> np.ndarray:
        """Distance between each vehicle's truth and the service's last delivered report of it."""
        return np.linalg.norm(self.reported_m - self.truth_m, axis=1)


def snapshot(
    run: RunLog, t_s: float, *, around: int | None = None, radius_m: float | None = None
) -> Snapshot:
    """The scene at ``t_s`` from a log read with ``read_log(directory, columns=[])``; with ``around``, only
    vehicles within ``radius_m`` (horizontally) of that flight."""
    scenario = run.header.get("scenario", {})
    tick_s = float(scenario.get("recording", {}).get("state_interval_s", scenario.get("tick_s", 1.0)))
    states = read_log(run.directory, window_s=(t_s - tick_s, t_s)).states
    if states.num_rows == 0:
        raise EventLogError("--at", f"no vehicle was airborne at {t_s:g} s (nothing recorded just before it)")
    at = pc.max(states["t_s"]).as_py()  # the scene is taken at this sample: truth and picture agree in time
    states = states.filter(pc.equal(states["t_s"], at)).sort_by("flight")
    flight = states["flight"].to_numpy()
    truth = np.column_stack([states[c].to_numpy() for c in ("x_m", "y_m", "z_m")]).astype(float)
    speed = np.linalg.norm(
        np.column_stack([states[c].to_numpy() for c in ("vx_mps", "vy_mps", "vz_mps")]), axis=1
    )
    mode = np.array(MODES, dtype=object).take(states["mode"].to_numpy().astype(int))
    centre = _centre(flight, truth, around)
    keep = _within(truth, centre, radius_m)
    flight, truth, speed, mode = flight[keep], truth[keep], speed[keep], mode[keep]
    reported, age = _latest_reports(run.messages, flight, at)
    sensed, sensed_flight = _recent_detections(run.messages, at, _scan_period_s(scenario))
    near = _within(sensed, centre, radius_m)
    return Snapshot(t_s, at, flight, truth, speed, mode, reported, age, sensed[near], sensed_flight[near])


def _centre(flight: np.ndarray, truth: np.ndarray, around: int | None) -> np.ndarray | None:
    """The horizontal position of flight ``around`` (which must be airborne), or None."""
    if around is None:
        return None
    rows = (flight == around).nonzero()[0]
    if not len(rows):
        raise EventLogError("--around", f"flight {around} was not airborne at that time")
    return truth[rows[0], :2]


def _within(pos: np.ndarray, centre: np.ndarray | None, radius_m: float | None) -> np.ndarray:
    """Rows of ``pos`` within ``radius_m`` of ``centre`` horizontally (all without a centre or radius)."""
    if centre is None or radius_m is None:
        return np.ones(len(pos), bool)
    return np.hypot(*(pos[:, :2] - centre).T) <= radius_m


def _latest_reports(messages: pa.Table, flight: np.ndarray, t_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Per flight, the position of its latest report delivered by ``t_s`` and that report's age."""
    kinds = messages["kind"].cast(pa.string())
    received = messages["t_received_s"]
    chosen = messages.filter(
        pc.and_(
            pc.and_(pc.equal(kinds, "report"), pc.less_equal(received, t_s)),
            pc.and_(
                pc.greater_equal(received, t_s - _REPORT_MEMORY_S),
                pc.is_in(messages["flight"], pa.array(flight)),
            ),
        )
    )
    reported = np.full((len(flight), 3), np.nan)
    age = np.full(len(flight), np.nan)
    if chosen.num_rows:
        ids = chosen["flight"].to_numpy()
        order = np.lexsort((chosen["t_received_s"].to_numpy(), ids))
        ids = ids.take(order)
        rows = order[np.append(ids[1:] != ids[:-1], True)]  # the latest delivered report of each flight
        sorter = np.argsort(flight)
        slot = sorter[np.searchsorted(flight, chosen["flight"].to_numpy().take(rows), sorter=sorter)]
        reported[slot] = np.column_stack([chosen[c].to_numpy().take(rows) for c in ("x_m", "y_m", "z_m")])
        age[slot] = t_s - chosen["t_sent_s"].to_numpy().take(rows)
    return reported, age


def _scan_period_s(scenario: dict[str, Any]) -> float:
    sensing = scenario.get("comms", {}).get("sensing", {}) or {}
    return float(sensing.get("scan_period_s") or 1.0)


def _recent_detections(messages: pa.Table, t_s: float, period_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Detections delivered in ``(t_s - period_s, t_s]``: positions and truth labels."""
    kinds = messages["kind"].cast(pa.string())
    received = messages["t_received_s"]
    chosen = messages.filter(
        pc.and_(
            pc.equal(kinds, "detection"),
            pc.and_(pc.greater(received, t_s - period_s), pc.less_equal(received, t_s)),
        )
    )
    pos = np.column_stack([chosen[c].to_numpy() for c in ("x_m", "y_m", "z_m")]).astype(float)
    return pos.reshape(-1, 3), chosen["flight"].to_numpy()


_TABLE = (
    ("flight", 7, "{:>7}"),
    ("mode", 14, "{:<14}"),
    ("x_m", 9, "{:>9.1f}"),
    ("y_m", 9, "{:>9.1f}"),
    ("z_m", 6, "{:>6.1f}"),
    ("speed", 6, "{:>6.1f}"),
    ("report_age_s", 12, "{:>12}"),
    ("report_err_m", 12, "{:>12}"),
)


def format_snapshot(snap: Snapshot, *, limit: int = 40) -> str:
    """A table of the scene (the first ``limit`` vehicles by flight id) and a summary line."""
    lines = [
        " ".join(
            name.rjust(width) if k != 1 else name.ljust(width) for k, (name, width, _) in enumerate(_TABLE)
        )
    ]
    error = snap.report_error_m
    for k in range(min(limit, len(snap.flight))):
        age = "-" if np.isnan(snap.report_age_s[k]) else f"{snap.report_age_s[k]:.3f}"
        err = "-" if np.isnan(error[k]) else f"{error[k]:.1f}"
        cells = (snap.flight[k], snap.mode[k], *snap.truth_m[k], snap.speed_mps[k], age, err)
        lines.append(" ".join(fmt.format(cell) for (_, _, fmt), cell in zip(_TABLE, cells, strict=True)))
    if len(snap.flight) > limit:
        lines.append(f"... {len(snap.flight) - limit} more (narrow with --around FLIGHT --radius M)")
    seen = ~np.isnan(snap.report_age_s)
    oldest = f"{np.nanmax(snap.report_age_s):.2f} s" if seen.any() else "-"
    lines.append(
        f"t = {snap.state_t_s:g} s: {len(snap.flight)} airborne, {int(seen.sum())} in the service's picture "
        f"by report (oldest {oldest}), {len(snap.sensed_flight)} detections in the last scan "
        f"({int((snap.sensed_flight < 0).sum())} false alarms)"
    )
    return "\n".join(lines)


def plot_snapshot(snap: Snapshot, path: str | Path) -> Path:
    """Truth (filled) against the service's reported positions (hollow, joined by a line) and detections."""
    fig = figure(7.0, 6.5)
    ax = fig.subplots()
    x, y = snap.truth_m[:, 0], snap.truth_m[:, 1]
    ax.scatter(x, y, s=14, c="tab:blue", label="truth")
    seen = ~np.isnan(snap.report_age_s)
    rx, ry = snap.reported_m[seen, 0], snap.reported_m[seen, 1]
    ax.scatter(rx, ry, s=20, facecolors="none", edgecolors="tab:orange", label="last delivered report")
    for x0, y0, x1, y1 in zip(x[seen], y[seen], rx, ry, strict=True):
        ax.plot([x0, x1], [y0, y1], color="tab:orange", lw=0.6)
    unseen = ~seen
    ax.scatter(x[unseen], y[unseen], s=30, marker="x", c="red", label="no report (unseen by reports)")
    if len(snap.sensed_m):
        ax.scatter(
            snap.sensed_m[:, 0],
            snap.sensed_m[:, 1],
            s=16,
            marker="^",
            facecolors="none",
            edgecolors="tab:green",
            label="sensed (ISAC)",
        )
    ax.set(xlabel="east (m)", ylabel="north (m)", title=f"Scene at t = {snap.state_t_s:g} s")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100, metadata={"Software": None})
    return out
