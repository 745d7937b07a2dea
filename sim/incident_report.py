"""One incident's report: ``incident.html``, its PNGs and ``incident.json``, readable without the log.

For a window around the loss of separation (default 60 s before to 30 s after) it gathers, for both
parties: the truth (states), what each reported and what the network delivered or lost (with latency), what
the network sensed (ISAC detections labelled with this party), the separation over time, the CD&R and
conformance events, and how the operator service admitted each flight (request, decision, delay, intent).

Layer: sim.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sim.engine import SENSED_ID_BASE
from sim.eventlog import EventLogError, RunLog, read_log
from sim.incidents import WINDOW_S, Incident, find_incidents
from sim.report import PAGE_CSS, figure

__all__ = ["Party", "Scene", "incident_scene", "write_incident_report"]


_PARTY_KINDS = (
    "takeoff_held",
    "takeoff",
    "landing",
    "advisory_issued",
    "advisory_delivered",
    "advisory_applied",
    "advisory_cleared",
    "conformance",
)
_PAIR_KINDS = ("conflict_start", "conflict_end", "los_start", "los_end", "nmac")
_COLOURS = ("tab:blue", "tab:orange")
_CORRIDOR_MARGIN_M = 300.0  # how much of the planned corridor around the window the top view shows


@dataclass(frozen=True, slots=True)
class Party:
    """One party of the incident: its flight row, how it was admitted, and its series in the window."""

    flight: dict[str, Any]  # the flights.parquet row
    decision: dict[str, Any] | None  # request time, decision, delay (None: plan-less traffic)
    truth: dict[str, np.ndarray]  # t_s, x_m, y_m, z_m, mode
    reports: dict[str, np.ndarray]  # t_sent_s, t_received_s (NaN: lost), x_m, y_m, z_m
    advisories: dict[str, np.ndarray]  # t_sent_s, t_received_s (NaN: lost), value (speed)
    detections: dict[str, np.ndarray]  # t_sent_s, t_received_s, x_m, y_m, z_m, value (SNR dB)


@dataclass(frozen=True, slots=True)
class Scene:
    """An incident and everything the report shows of its window ``[t0_s, t1_s]``."""

    incident: Incident
    t0_s: float
    t1_s: float
    horizontal_m: float
    vertical_m: float
    parties: tuple[Party, Party]
    timeline: list[dict[str, Any]]  # t_s, flight, other, kind, detail, value; in log order


def incident_scene(run: RunLog, incident: Incident, *, window_s: tuple[float, float] = WINDOW_S) -> Scene:
    """Gather the incident's window from a log read with ``read_log(directory, columns=[])``."""
    t0, t1 = incident.start_s - window_s[0], incident.end_s + window_s[1]
    ids = (incident.a, incident.b)
    separation = run.header["scenario"]["separation"]
    states = read_log(
        run.directory, columns=["t_s", "flight", "x_m", "y_m", "z_m", "mode"], window_s=(t0, t1)
    ).states
    states = states.filter(pc.is_in(states["flight"], pa.array(ids, pa.int32())))
    messages = run.messages.filter(
        pc.and_(
            pc.is_in(run.messages["flight"], pa.array(ids, pa.int32())),
            pc.and_(
                pc.greater_equal(run.messages["t_sent_s"], t0), pc.less_equal(run.messages["t_sent_s"], t1)
            ),
        )
    )
    kinds = messages["kind"].cast(pa.string())
    parties = tuple(
        Party(
            flight=_flight_row(run, flight),
            decision=_decision(run, flight),
            truth=_columns(states, states["flight"], flight, ("t_s", "x_m", "y_m", "z_m", "mode")),
            reports=_message_columns(messages, kinds, "report", flight),
            advisories=_message_columns(messages, kinds, "advisory", flight),
            detections=_message_columns(messages, kinds, "detection", flight),
        )
        for flight in ids
    )
    return Scene(
        incident,
        t0,
        t1,
        float(separation["horizontal_m"]),
        float(separation["vertical_m"]),
        (parties[0], parties[1]),
        _timeline(run, ids, t0, t1),
    )


def write_incident_report(
    log_dir: str | Path, incident_id: str, out_dir: str | Path, *, window_s: tuple[float, float] = WINDOW_S
) -> Path:
    """Write ``incident.html``, ``top.png``, ``altitude.png``, ``separation.png``, ``timeline.png`` and
    ``incident.json`` into ``out_dir`` for the incident ``incident_id``; the page's path."""
    run = read_log(log_dir, columns=[])
    found = [i for i in find_incidents(run) if i.id == incident_id]
    if not found:
        raise EventLogError("incident", f"no incident {incident_id!r} in {log_dir} (see `utm6g incidents`)")
    scene = incident_scene(run, found[0], window_s=window_s)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = {
        "top.png": ("Top view", _plot_top(scene)),
        "altitude.png": ("Altitude profile", _plot_altitude(scene)),
        "separation.png": ("Separation over time", _plot_separation(scene)),
        "timeline.png": ("What was sent, delivered, sensed and decided", _plot_timeline(scene)),
    }
    for name, (_, fig) in images.items():
        fig.savefig(out / name, format="png", dpi=100, metadata={"Software": None})
    summary = scene_summary(scene, run.header)
    (out / "incident.json").write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n")
    page = out / "incident.html"
    page.write_text(_page(scene, summary, {name: title for name, (title, _) in images.items()}))
    return page


# --- gathering ----------------------------------------------------------------------------------------


def _columns(
    table: pa.Table, key: pa.ChunkedArray, flight: int, names: Sequence[str]
) -> dict[str, np.ndarray]:
    rows = table.filter(pc.equal(key, flight))
    return {name: rows[name].to_numpy() for name in names}


def _message_columns(
    messages: pa.Table, kinds: pa.ChunkedArray, kind: str, flight: int
) -> dict[str, np.ndarray]:
    of_kind = messages.filter(pc.equal(kinds, kind))
    names = ("t_sent_s", "t_received_s", "x_m", "y_m", "z_m", "value")
    return _columns(of_kind, of_kind["flight"], flight, names)


def _flight_row(run: RunLog, flight: int) -> dict[str, Any]:
    rows = run.flights.filter(pc.equal(run.flights["flight"], flight)).to_pylist()
    if not rows:
        raise EventLogError("flights", f"has no row for flight {flight}")
    return rows[0]


def _decision(run: RunLog, flight: int) -> dict[str, Any] | None:
    """The flight's request and the service's decision on it (the last, if it was re-filed)."""
    events = run.events.filter(pc.equal(run.events["flight"], flight))
    kinds = events["kind"].cast(pa.string()).to_pylist()
    rows = events.to_pylist()
    requests = [r for r, k in zip(rows, kinds, strict=True) if k == "request"]
    decisions = [r for r, k in zip(rows, kinds, strict=True) if k == "decision"]
    if not decisions:
        return None
    return {
        "requested_at_s": requests[-1]["t_s"] if requests else None,
        "decided_at_s": decisions[-1]["t_s"],
        "decision": decisions[-1]["detail"],
        "delay_s": _number(decisions[-1]["value"]),
    }


def _timeline(run: RunLog, ids: tuple[int, int], t0: float, t1: float) -> list[dict[str, Any]]:
    """Events of either party in the window: its own (take-off, advisories, conformance) and every pair
    event it is part of (conflicts with anyone, the LoS and NMAC)."""
    events = run.events
    kind = events["kind"].cast(pa.string())
    ours = pa.array(ids, pa.int32())
    in_window = pc.and_(pc.greater_equal(events["t_s"], t0), pc.less_equal(events["t_s"], t1))
    own = pc.and_(pc.is_in(kind, pa.array(_PARTY_KINDS)), pc.is_in(events["flight"], ours))
    pair = pc.and_(
        pc.is_in(kind, pa.array(_PAIR_KINDS)),
        pc.or_(pc.is_in(events["flight"], ours), pc.is_in(events["other"], ours)),
    )
    chosen = events.filter(pc.and_(in_window, pc.or_(own, pair)))
    return [{**row, "kind": str(row["kind"]), "value": _number(row["value"])} for row in chosen.to_pylist()]


def _number(value: float | None) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


# --- the summary (incident.json) -------------------------------------------------------------------------


def scene_summary(scene: Scene, header: Mapping[str, Any]) -> dict[str, Any]:
    """What incident.json holds: the incident, the run it came from, per party its flight, admission,
    delivery figures and series, and the timeline."""
    scenario = header.get("scenario", {})
    return {
        "incident": scene.incident.to_json(),
        "run": {
            "scenario": scenario.get("name"),
            "scenario_file": header.get("scenario_file"),
            "seed": header.get("seed"),
            "comms_profile": scenario.get("comms", {}).get("profile"),
            "software_version": header.get("software_version"),
        },
        "window_s": [scene.t0_s, scene.t1_s],
        "protected_zone_m": {"horizontal": scene.horizontal_m, "vertical": scene.vertical_m},
        "parties": [_party_summary(p) for p in scene.parties],
        "timeline": scene.timeline,
    }


def _party_summary(party: Party) -> dict[str, Any]:
    flight = {k: (_number(v) if isinstance(v, float) else v) for k, v in party.flight.items()}
    flight["plan"] = planned(party)
    return {
        "flight": flight,
        "admission": party.decision,
        "reports": _delivery(party.reports),
        "advisories": _delivery(party.advisories),
        "detections": {"count": len(party.detections["t_sent_s"]), **_sensing_error(party)},
        "truth": {k: np.round(v.astype(float), 3).tolist() for k, v in party.truth.items()},
    }


def _delivery(messages: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Sent, delivered, lost, and latency of the delivered ones (ms)."""
    sent = messages["t_sent_s"]
    received = messages["t_received_s"]
    ok = ~np.isnan(received)
    latency_ms = (received[ok] - sent[ok]) * 1000.0
    stats = {"sent": len(sent), "delivered": int(ok.sum()), "lost": int((~ok).sum())}
    if len(latency_ms):
        stats |= {
            "latency_ms_p50": float(np.percentile(latency_ms, 50)),
            "latency_ms_max": float(latency_ms.max()),
        }
    return stats


def _sensing_error(party: Party) -> dict[str, float]:
    """Mean horizontal and vertical error of the party's detections against its truth at the scan time."""
    det, truth = party.detections, party.truth
    if not len(det["t_sent_s"]) or len(truth["t_s"]) < 2:
        return {}
    at = det["t_sent_s"]
    dx = det["x_m"] - np.interp(at, truth["t_s"], truth["x_m"])
    dy = det["y_m"] - np.interp(at, truth["t_s"], truth["y_m"])
    dz = det["z_m"] - np.interp(at, truth["t_s"], truth["z_m"])
    return {
        "mean_horizontal_error_m": float(np.hypot(dx, dy).mean()),
        "mean_vertical_error_m": float(np.abs(dz).mean()),
    }


# --- plots -------------------------------------------------------------------------------------------------


def _label(party: Party) -> str:
    f = party.flight
    return f"flight {f['flight']} ({f['vehicle']}, {f['operator']})"


def _plot_top(scene: Scene) -> Any:
    """Truth tracks, delivered and lost reports, detections, and the protected zone at closest approach."""
    from matplotlib.patches import Circle

    fig = figure(7.0, 6.0)
    ax = fig.subplots()
    for party, colour in zip(scene.parties, _COLOURS, strict=True):
        truth, rep, det = party.truth, party.reports, party.detections
        ax.plot(truth["x_m"], truth["y_m"], "-", color=colour, lw=1.5, label=f"{_label(party)}: truth")
        _draw_corridor(ax, party, colour)
        lost = np.isnan(rep["t_received_s"])
        ax.plot(rep["x_m"][~lost], rep["y_m"][~lost], ".", color=colour, ms=4, label="reports delivered")
        if lost.any():
            ax.plot(rep["x_m"][lost], rep["y_m"][lost], "x", color="red", ms=6, label="reports lost")
        if len(det["x_m"]):
            ax.plot(det["x_m"], det["y_m"], "^", color=colour, mfc="none", ms=5, label="sensed (ISAC)")
        if len(truth["t_s"]):
            ax.plot(truth["x_m"][0], truth["y_m"][0], "o", color=colour, ms=7, mfc="white")
            ax.annotate(f"{truth['t_s'][0]:.0f} s", (truth["x_m"][0], truth["y_m"][0]), fontsize=8)
    closest = scene.incident.closest_s
    if closest is not None:
        first = scene.parties[0].truth
        if len(first["t_s"]):
            cx, cy = (
                np.interp(closest, first["t_s"], first["x_m"]),
                np.interp(closest, first["t_s"], first["y_m"]),
            )
            ax.add_patch(Circle((cx, cy), scene.horizontal_m, fill=False, ls="--", color="grey"))
            ax.annotate(f"protected zone at {closest:.1f} s", (cx, cy + scene.horizontal_m), fontsize=8)
    ax.set(xlabel="east (m)", ylabel="north (m)", title=f"Incident {scene.incident.id}: top view")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return fig


def planned(party: Party) -> dict[str, Any] | None:
    """The party's flown plan (layer, nominal path, lateral buffer), None for plan-less traffic."""
    text = party.flight.get("plan") or ""
    return json.loads(text) if text else None


def _draw_corridor(ax: Any, party: Party, colour: str) -> None:
    """The planned corridor near the party's window: its centre line and the lateral buffer around it."""
    plan, truth = planned(party), party.truth
    if plan is None or len(plan["path_m"]) < 2 or not len(truth["t_s"]):
        return
    from shapely.geometry import LineString, box

    near = box(
        truth["x_m"].min() - _CORRIDOR_MARGIN_M,
        truth["y_m"].min() - _CORRIDOR_MARGIN_M,
        truth["x_m"].max() + _CORRIDOR_MARGIN_M,
        truth["y_m"].max() + _CORRIDOR_MARGIN_M,
    )
    centre = LineString([p[:2] for p in plan["path_m"]])
    band = centre.buffer(plan["lateral_buffer_m"]).intersection(near)
    for polygon in getattr(band, "geoms", [band]):
        if not polygon.is_empty and polygon.geom_type == "Polygon":
            x, y = polygon.exterior.xy
            ax.fill(x, y, color=colour, alpha=0.08, lw=0)
    line = centre.intersection(near)
    label = f"planned corridor ({_layers(plan)})"
    for part in getattr(line, "geoms", [line]):
        if not part.is_empty and part.geom_type == "LineString":
            x, y = part.xy
            ax.plot(x, y, "--", color=colour, lw=0.8, label=label)
            label = "_"  # one legend entry per party


def _plot_altitude(scene: Scene) -> Any:
    fig = figure()
    ax = fig.subplots()
    for party, colour in zip(scene.parties, _COLOURS, strict=True):
        ax.plot(party.truth["t_s"], party.truth["z_m"], "-", color=colour, label=f"{_label(party)}: truth")
        rep = party.reports
        ax.plot(rep["t_sent_s"], rep["z_m"], ".", color=colour, ms=3, label="reported")
    _mark_incident(ax, scene)
    ax.set(xlabel="time (s)", ylabel="altitude (m)", title="Altitude profile")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return fig


def pair_separation(scene: Scene) -> dict[str, np.ndarray]:
    """Horizontal and vertical separation of the parties at their common state samples."""
    a, b = (p.truth for p in scene.parties)
    _, ia, ib = np.intersect1d(a["t_s"], b["t_s"], assume_unique=True, return_indices=True)
    dh = np.hypot(a["x_m"][ia] - b["x_m"][ib], a["y_m"][ia] - b["y_m"][ib])
    return {"t_s": a["t_s"][ia], "horizontal_m": dh, "vertical_m": np.abs(a["z_m"][ia] - b["z_m"][ib])}


def _plot_separation(scene: Scene) -> Any:
    sep = pair_separation(scene)
    fig = figure()
    ax = fig.subplots()
    ax.plot(sep["t_s"], sep["horizontal_m"], color="tab:blue", label="horizontal")
    ax.plot(sep["t_s"], sep["vertical_m"], color="tab:green", label="vertical")
    ax.axhline(scene.horizontal_m, color="tab:blue", ls="--", lw=0.8, label=f"zone {scene.horizontal_m:g} m")
    ax.axhline(scene.vertical_m, color="tab:green", ls="--", lw=0.8, label=f"zone {scene.vertical_m:g} m")
    _mark_incident(ax, scene)
    for row in scene.timeline:
        if row["kind"] == "conflict_start" and {row["flight"], row["other"]} == {
            scene.incident.a,
            scene.incident.b,
        }:
            ax.axvline(row["t_s"], color="tab:purple", lw=1, label="conflict detected")
    ax.set(xlabel="time (s)", ylabel="separation (m)", title="Separation of the pair", ylim=(0, None))
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return fig


def _plot_timeline(scene: Scene) -> Any:
    """One lane per party: reports delivered and lost, detections, advisories and the party's events."""
    from matplotlib.lines import Line2D

    fig = figure(9.0, 3.6)
    ax = fig.subplots()
    lanes = []
    for lane, party in enumerate(scene.parties):
        y = 2 * lane
        rep = party.reports
        lost = np.isnan(rep["t_received_s"])
        ax.scatter(rep["t_sent_s"][~lost], np.full((~lost).sum(), y + 0.3), s=8, marker="|", color="grey")
        ax.scatter(rep["t_sent_s"][lost], np.full(lost.sum(), y + 0.3), s=30, marker="x", color="red")
        det = party.detections
        ax.scatter(det["t_sent_s"], np.full(len(det["t_sent_s"]), y), s=12, marker="^", color="tab:green")
        own = [
            r for r in scene.timeline if r["flight"] == party.flight["flight"] and r["kind"] in _PARTY_KINDS
        ]
        for row in own:
            ax.scatter(row["t_s"], y - 0.3, s=25, marker="o", color=_EVENT_COLOURS.get(row["kind"], "black"))
        lanes.append((y, f"flight {party.flight['flight']}"))
    _mark_incident(ax, scene)
    shown = {r["kind"] for r in scene.timeline}
    ax.legend(
        handles=[
            Line2D([], [], ls="", marker="o", color=colour, label=kind.replace("_", " "))
            for kind, colour in _EVENT_COLOURS.items()
            if kind in shown
        ],
        fontsize=7,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
    )
    ax.set_yticks([y for y, _ in lanes], [name for _, name in lanes])
    ax.set(
        xlabel="time (s)", title="reports (| delivered, x lost), detections (^), advisories and events (o)"
    )
    ax.set_ylim(-1, 2 * len(lanes) - 1)
    ax.grid(alpha=0.3, axis="x")
    return fig


_EVENT_COLOURS = {
    "advisory_issued": "tab:purple",
    "advisory_delivered": "tab:pink",
    "advisory_applied": "tab:red",
    "advisory_cleared": "tab:olive",
    "conformance": "tab:brown",
    "takeoff_held": "grey",
    "takeoff": "black",
    "landing": "black",
}


def _mark_incident(ax: Any, scene: Scene) -> None:
    """Shade the loss of separation on a time axis."""
    ax.axvspan(
        scene.incident.start_s, scene.incident.end_s, color="red", alpha=0.12, label="loss of separation"
    )


# --- the page ----------------------------------------------------------------------------------------------


def _page(scene: Scene, summary: Mapping[str, Any], images: Mapping[str, str]) -> str:
    i = scene.incident
    title = f"Incident {i.id}: {i.severity} between flights {i.a} and {i.b}"
    figures = "\n".join(
        f'<h2>{html.escape(caption)}</h2><img src="{name}" alt="{html.escape(caption)}">'
        for name, caption in images.items()
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{PAGE_CSS}</style></head><body>\n<h1>{html.escape(title)}</h1>\n"
        f"<p>{html.escape(_narrative(scene))}</p>\n"
        f"{_run_table(summary['run'])}\n<h2>The parties</h2>\n{_parties_table(summary['parties'])}\n"
        f"{figures}\n<h2>Timeline</h2>\n{_timeline_table(scene.timeline)}\n"
        '<p>Machine-readable: <a href="incident.json">incident.json</a>.</p>\n</body></html>\n'
    )


def _narrative(scene: Scene) -> str:
    """The incident in sentences: when, how close, whether CD&R saw it, whether advice arrived."""
    i = scene.incident
    closest = (
        f"closest {i.min_horizontal_m:.1f} m horizontally and {i.min_vertical_m:.1f} m vertically "
        f"at {i.closest_s:.2f} s"
        if i.min_horizontal_m is not None and i.min_vertical_m is not None and i.closest_s is not None
        else "no common state sample"
    )
    seen = (
        "CD&R did not predict this conflict beforehand"
        if i.warning_s is None
        else f"CD&R predicted the conflict at {i.conflict_detected_s:.1f} s, {i.warning_s:.1f} s before"
    )
    return (
        f"From {i.start_s:.1f} s to {i.end_s:.1f} s flights {i.a} and {i.b} were inside each other's "
        f"protected "
        f"zone ({scene.horizontal_m:g} m / {scene.vertical_m:g} m); {closest}. {seen}; "
        f"{i.advisories_delivered} advisories were delivered to the parties ({i.advisories_issued} issued)."
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _run_table(run: Mapping[str, Any]) -> str:
    return _table(["run", ""], [(k.replace("_", " "), v) for k, v in run.items()])


def _parties_table(parties: Sequence[Mapping[str, Any]]) -> str:
    rows: list[tuple[str, Any, Any]] = []
    flights = [p["flight"] for p in parties]
    for key in (
        "flight",
        "vehicle",
        "kind",
        "operator",
        "cooperative",
        "priority",
        "intent_id",
        "origin",
        "destination",
        "requested_s",
        "planned_takeoff_s",
        "takeoff_s",
        "landing_s",
    ):
        rows.append((key.replace("_", " "), flights[0].get(key), flights[1].get(key)))
    rows.append(("planned layer", *(_layers(f["plan"]) for f in flights)))
    for key in ("decision", "decided_at_s", "delay_s"):
        rows.append(
            (f"strategic {key.replace('_', ' ')}", *((p["admission"] or {}).get(key) for p in parties))
        )
    for what in ("reports", "advisories"):
        for key in ("sent", "delivered", "lost", "latency_ms_p50", "latency_ms_max"):
            rows.append((f"{what} {key.replace('_', ' ')}", *(p[what].get(key) for p in parties)))
    for key in ("count", "mean_horizontal_error_m", "mean_vertical_error_m"):
        rows.append((f"detections {key.replace('_', ' ')}", *(p["detections"].get(key) for p in parties)))
    return _table(["", "first party", "second party"], rows)


def _layers(plan: Mapping[str, Any] | None) -> str | None:
    """The plan's cruise layer, and the layer of the way back when a round trip changes layer."""
    if plan is None:
        return None
    back = plan.get("return_layer")
    return plan["layer"] if back is None else f"{plan['layer']}, back on {back}"


def _other(other: int) -> str | None:
    """A pair event's other party: a flight id, or the fused picture's sensing-only track."""
    if other < 0:
        return None
    return f"sensed track {other - SENSED_ID_BASE}" if other >= SENSED_ID_BASE else str(other)


def _timeline_table(timeline: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        (
            f"{r['t_s']:.1f}",
            r["kind"].replace("_", " "),
            r["flight"],
            _other(r["other"]),
            r["detail"] or None,
            r["value"],
        )
        for r in timeline
    ]
    return _table(["t (s)", "event", "flight", "other", "detail", "value"], rows)
