"""The run report: one self-contained HTML page with the run's header, its metrics and five plots, and
more when the run used a network profile (message latency, track errors vs altitude and vs distance to the
nearest site, SINR maps; for ISAC profiles sensing detection vs range and vs altitude too).

Plots are PNGs drawn with matplotlib's Agg backend and embedded as base64 data URIs, so the page needs no
network, no JavaScript and no files beside it. States are streamed from the log's ``states.parquet`` row
group by row group (two or three columns at a time), and messages batch by batch, so a 36 M-row hour is
reported in bounded memory. A plot with nothing to show becomes a line saying "none". Layer: sim; imports
numpy, pyarrow, matplotlib (inside the plotting functions), sim.eventlog, and for the network sections
sim.scenario (the log header's scenario), airspace.region and sim.sixg; never api.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from airspace.errors import AirspaceInputError
from airspace.region import load_region
from sim.eventlog import RunLog
from sim.scenario import Scenario
from sim.sixg.accuracy import ERROR_BINS
from sim.sixg.coverage import sinr_map
from sim.sixg.network import Histogram
from sim.sixg.profiles import NetworkSettings

__all__ = [
    "NETWORK_PLOT_TITLES",
    "PAGE_CSS",
    "PLOT_TITLES",
    "active_series",
    "airborne_series",
    "density_grid",
    "figure",
    "latency_histograms",
    "write_report",
]

PLOT_TITLES: dict[str, str] = {
    "airborne": "Airborne vehicles over time",
    "conflicts": "Active conflicts and losses of separation over time",
    "density": "Traffic density over the map",
    "delay": "Strategic delay per decision",
    "extension": "Flight-time extension per landing",
}
"""Section titles, in page order (also the figure titles)."""

NETWORK_PLOT_TITLES: dict[str, str] = {
    "latency": "Message latency (CDF of delivered messages)",
    "detection": "Sensing detection probability vs range",
    "detection_altitude": "Sensing detection probability vs altitude",
    "track_error_altitude": "Track position error vs altitude",
    "track_error_distance": "Track position error vs distance to the nearest site",
    "sinr": "Expected downlink and uplink SINR at two altitudes",
}
"""Titles of the sections after those of PLOT_TITLES in a run with a network profile (the two detection
plots: ISAC profiles only), in page order."""
# detection plots: metrics key, the quantity's name in it, what it measures
_DETECTIONS = {
    "detection": ("detection_by_range_50m", "range", "3D range, target to TRP"),
    "detection_altitude": ("detection_by_altitude_15m", "altitude", "target height above ground"),
}
# track-error plots: the key of their bins in the metrics, the quantity's name in it, what it measures
_TRACK_ERRORS = {
    "track_error_altitude": ("by_altitude_15m", "altitude", "vehicle height above ground"),
    "track_error_distance": (
        "by_site_distance_25m",
        "site_distance",
        "horizontal distance, vehicle to nearest site",
    ),
}
_TRACK_KINDS = {"cooperative": ("cooperative", "tab:blue"), "sensing_only": ("sensing-only", "tab:orange")}

DENSITY_BINS = 200  # cells along the longer side of the map
MAP_CELLS = 200  # SINR map cells along the longer side of the window
MAP_WINDOW_ISD = 8  # SINR map window side, in inter-site distances (4 km for UMa-AV)
MAP_ALTITUDES_M = (60.0, 120.0)  # mid and top of the delivery-drone layers of the bundled region
LATENCY_DECADES = (-2.0, 4.0)  # latency histogram range, log10(ms): 10 us to 10 s
LATENCY_BINS_PER_DECADE = 200
# the messages.kind of the latency CDFs: (name on the page, colour)
_MESSAGES = {"report": ("reports", "tab:blue"), "advisory": ("advisories", "tab:orange")}
_BATCH_ROWS = 1 << 20

PAGE_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}"
    "p.none{color:#777;font-style:italic}"
)


def write_report(run_dir: str | Path, log: RunLog, metrics: Mapping[str, Any]) -> Path:
    """Write ``run_dir/report.html`` for a run read with ``read_log``; the page's path.

    States are read from ``log.directory`` (not from ``log.states``), so the log may be read with
    ``columns=[]``.
    """
    path = Path(run_dir) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    kinds = log.events["kind"].cast(pa.string())
    t_s, airborne = airborne_series(log)
    delay_s, extension_s = _values(log.events, kinds, "decision"), _values(log.events, kinds, "landing")
    sections = [
        _section(PLOT_TITLES["airborne"], _plot_airborne(t_s, airborne), "no vehicle was airborne"),
        _section(PLOT_TITLES["conflicts"], _plot_conflicts(log.events, kinds), "no conflict or LoS recorded"),
        _section(PLOT_TITLES["density"], _plot_density(log), "no vehicle state recorded"),
        _histogram_section("delay", delay_s, "delay (s)", "no decision carried a delay"),
        _histogram_section(
            "extension", extension_s, "extension over plan (s)", "no landing carried a flight-time extension"
        ),
    ]
    if metrics.get("network"):
        sections += _network_sections(log, metrics["network"])
    title = f"utm6g run report: {_scenario_name(log.header)}"
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{PAGE_CSS}</style></head><body>\n<h1>{html.escape(title)}</h1>\n"
        f"{_header_table(log, t_s)}\n<h2>Metrics</h2>\n{_metrics_table(metrics)}\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
    return path


# --- header and metrics ---------------------------------------------------------------------------------


def _scenario_name(header: Mapping[str, Any]) -> str:
    scenario = header.get("scenario")
    name = scenario.get("name") if isinstance(scenario, Mapping) else None
    return str(name) if name else "unnamed scenario"


def _duration(log: RunLog, t_s: np.ndarray) -> str:
    """The declared duration (header or scenario ``duration_s``), else the last recorded time."""
    scenario = log.header.get("scenario")
    declared = log.header.get("duration_s")
    if declared is None and isinstance(scenario, Mapping):
        declared = scenario.get("duration_s")
    if isinstance(declared, int | float) and not isinstance(declared, bool):
        return f"{_fmt(declared)} s ({_clock(declared)})"
    last = [float(np.max(t_s))] if len(t_s) else []
    if log.events.num_rows:
        last.append(pc.max(log.events["t_s"]).as_py())
    return (
        f"{_fmt(max(last))} s, last record (not declared)"
        if last
        else "none (not declared, nothing recorded)"
    )


def _comms(header: Mapping[str, Any]) -> str:
    """The scenario's comms profile (the scenario default, ideal, when the header names none)."""
    scenario = header.get("scenario")
    comms = scenario.get("comms") if isinstance(scenario, Mapping) else None
    profile = comms.get("profile", "ideal") if isinstance(comms, Mapping) else "ideal"
    return "ideal (no network model)" if profile == "ideal" else str(profile)


def _clock(seconds: float) -> str:
    minutes, s = divmod(round(seconds), 60)
    h, m = divmod(minutes, 60)
    return f"{h} h {m:02d} min {s:02d} s"


def _header_table(log: RunLog, t_s: np.ndarray) -> str:
    rows = [
        ("scenario", _scenario_name(log.header)),
        ("seed", _fmt(log.header.get("seed"))),
        ("duration", _duration(log, t_s)),
        ("comms", _comms(log.header)),
        ("software version", _fmt(log.header.get("software_version"))),
        ("log format", _fmt(log.header.get("format"))),
        ("flights", _fmt(log.flights.num_rows)),
        ("events", _fmt(log.events.num_rows)),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _flatten(metrics: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf value) pairs, nested mappings first-to-last in their own order."""
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def _fmt(value: Any) -> str:
    """A metric value as a person reads it: 12,345 / 0.1235 / 1,234.5 / yes / none."""
    if value is None:
        return "none"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "n/a"
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        return f"{v:,.1f}" if abs(v) >= 1000 else f"{v:.4g}"
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(_fmt(v) for v in value) if value else "none"
    return str(value)


def _metrics_table(metrics: Mapping[str, Any]) -> str:
    rows = list(_flatten(metrics))
    if not rows:
        return '<p class="none">none: no metrics were given</p>'
    body = "".join(
        f'<tr><th>{html.escape(k)}</th><td class="num">{html.escape(_fmt(v))}</td></tr>' for k, v in rows
    )
    return f"<table>{body}</table>"


def _section(title: str, image: str | None, nothing: str, caption: str = "") -> str:
    """An h2 and its plot (and a caption line), or the "none" line when there is nothing to plot."""
    if image is None:
        return f'<h2>{html.escape(title)}</h2>\n<p class="none">none: {html.escape(nothing)}</p>'
    text = f"\n<p>{html.escape(caption)}</p>" if caption else ""
    return f'<h2>{html.escape(title)}</h2>\n<img alt="{html.escape(title)}" src="{image}">{text}'


def _histogram_section(key: str, values: np.ndarray, xlabel: str, nothing: str) -> str:
    title = PLOT_TITLES[key]
    return _section(title, _plot_histogram(values, title, xlabel), nothing, _summary(values, "s"))


def _network_sections(log: RunLog, network: Mapping[str, Any]) -> list[str]:
    """Latency CDFs, detection vs range and altitude (ISAC profiles), track errors and the SINR maps, for a
    run with a network."""
    settings = Scenario.model_validate(log.header["scenario"]).comms.network()
    if settings is None:
        raise ValueError(
            "metrics carry network figures but the log header's scenario has comms.profile ideal"
        )
    histograms = latency_histograms(log.messages)
    out = [
        _section(
            NETWORK_PLOT_TITLES["latency"],
            _plot_latency(histograms),
            "no report or advisory was delivered",
            "; ".join(
                f"{_MESSAGES[kind][0]}: {_fmt(sent)} sent, {_fmt(lost)} lost "
                f"(loss rate {'n/a' if not sent else f'{100 * lost / sent:.3g} %'})"
                for kind, (_, sent, lost) in histograms.items()
            ),
        )
    ]
    if settings.sensing is not None:
        out += [_detection_section(key, network) for key in _DETECTIONS]
    out += [_track_error_section(key, network.get("track_error")) for key in _TRACK_ERRORS]
    region = Path(log.header["scenario"]["region"])
    bounds, where = _map_bounds(log, region)
    image, caption = (None, "") if bounds is None else _plot_sinr_maps(settings, bounds, where)
    nothing = f"the region file is unreadable ({region}) and no vehicle state was recorded"
    out.append(_section(NETWORK_PLOT_TITLES["sinr"], image, nothing, caption))
    return out


def _detection_section(key: str, network: Mapping[str, Any]) -> str:
    """One detection-probability plot (vs range or altitude) and its caption: the bins, the overall rate."""
    name, quantity, what = _DETECTIONS[key]
    counts = network[name]
    tried, detected = sum(counts["tried"]), sum(counts["detected"])
    centres = counts[f"{quantity}_m"]
    width = centres[1] - centres[0]
    caption = (
        f"(target, TRP) pairs per {_fmt(width)} m bin of {what} (bins centred on {_fmt(centres[0])}, "
        f"{_fmt(centres[1])}, ... m), the last bin holding every pair beyond "
        f"{centres[-1] - width / 2:,g} m; "
        f"overall {_fmt(detected)} of {_fmt(tried)} detected "
        f"({'n/a' if not tried else f'{100 * detected / tried:.3g} %'})."
    )
    image = _plot_detection(counts, NETWORK_PLOT_TITLES[key], quantity, what)
    return _section(NETWORK_PLOT_TITLES[key], image, "no vehicle was in range of a scan", caption)


def _track_error_section(key: str, track_error: Mapping[str, Any] | None) -> str:
    """One track-error plot (vs altitude or distance to the nearest site) and its caption: the samples."""
    title = NETWORK_PLOT_TITLES[key]
    name, quantity, what = _TRACK_ERRORS[key]
    if track_error is None:
        return _section(title, None, "the metrics carry no track errors")
    bins = {kind: track_error[kind][name] for kind in _TRACK_KINDS}
    samples = "; ".join(
        f"{label} {_fmt(sum(bins[kind]['count']))}" for kind, (label, _) in _TRACK_KINDS.items()
    )
    caption = (
        f"Confirmed tracks against ground truth every {_fmt(track_error['sample_period_s'])} s (CD&R "
        f"cycle), p50 and p90 of the error in {_fmt(100 * ERROR_BINS.width)} cm bins (each value the bin's "
        f"upper edge), per bin of {what}, the last bin open. Samples: {samples}. A sensing-only track is "
        f"scored against the nearest non-cooperative vehicle within {_fmt(track_error['match_gate_m'])} m; "
        f"{_fmt(track_error['sensing_only_unmatched'])} samples had none (false or duplicate tracks)."
    )
    return _section(
        title, _plot_track_error(bins, title, quantity, what), "no confirmed track was scored", caption
    )


# --- data (numpy and pyarrow only) ---------------------------------------------------------------------


def airborne_series(log: RunLog) -> tuple[np.ndarray, np.ndarray]:
    """(t_s, vehicles with a state row at t_s), ascending t_s, streamed over the states file."""
    times, counts = [], []
    for batch in log.iter_states(["t_s"], batch_rows=_BATCH_ROWS):
        t, n = np.unique(batch.column(0).to_numpy(), return_counts=True)
        times.append(t)
        counts.append(n)
    if not times:
        return np.empty(0), np.empty(0, np.int64)
    t, where = np.unique(np.concatenate(times), return_inverse=True)  # a time can straddle two batches
    return t, np.bincount(where, weights=np.concatenate(counts)).astype(np.int64)


def active_series(events: pa.Table, kinds: pa.ChunkedArray, start: str, end: str) -> tuple[np.ndarray, ...]:
    """(t_s, number active once every event at t_s is counted), one row per distinct time, ascending.

    +1 at each ``start`` event and -1 at each ``end``; a pair that ends and starts again at the same time
    leaves no spike.
    """
    is_start = pc.equal(kinds, start).to_numpy(zero_copy_only=False)
    is_end = pc.equal(kinds, end).to_numpy(zero_copy_only=False)
    keep = is_start | is_end
    t_s = events["t_s"].to_numpy()[keep]
    order = np.argsort(t_s, kind="stable")
    t_s, active = t_s[order], np.cumsum(np.where(is_start[keep], 1, -1)[order])
    last = np.ones(len(t_s), bool)
    last[:-1] = t_s[1:] != t_s[:-1]
    return t_s[last], active[last]


def _values(events: pa.Table, kinds: pa.ChunkedArray, kind: str) -> np.ndarray:
    """The finite ``value`` of every event of one kind."""
    values = events["value"].to_numpy()[pc.equal(kinds, kind).to_numpy(zero_copy_only=False)]
    return values[np.isfinite(values)]


def latency_histograms(messages: pa.Table) -> dict[str, tuple[Histogram, int, int]]:
    """Per message kind (report, advisory): (histogram of log10 latency in ms of the delivered ones, sent,
    lost), streamed batch by batch. Latencies outside 10 us to 10 s fall into the end bins."""
    lo, hi = LATENCY_DECADES
    out = {kind: (Histogram(lo, hi, round((hi - lo) * LATENCY_BINS_PER_DECADE)), 0, 0) for kind in _MESSAGES}
    table = messages.select(["kind", "t_sent_s", "t_received_s"])
    for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
        kinds = batch.column(0).cast(pa.string())
        sent_s, received_s = batch.column(1).to_numpy(), batch.column(2).to_numpy()
        for kind, (histogram, sent, lost) in out.items():
            rows = pc.equal(kinds, kind).to_numpy(zero_copy_only=False)
            latency_s = received_s[rows] - sent_s[rows]
            delivered = ~np.isnan(latency_s)
            histogram.add(np.log10(np.maximum(1e3 * latency_s[delivered], 10.0**lo)))  # 0: the first bin
            out[kind] = (histogram, sent + int(rows.sum()), lost + int((~delivered).sum()))
    return out


def _map_bounds(log: RunLog, region: Path) -> tuple[tuple[float, float, float, float] | None, str]:
    """(x_min, y_min, x_max, y_max) of the map and what they are: the region's grid, or, when the region
    file cannot be read (a log moved to another machine), the extent of the recorded states."""
    try:
        return load_region(region).grid.bounds_xy_m, "the region's grid"
    except AirspaceInputError:
        extent = _extent(log)
        where = f"the recorded states' extent (region file unreadable: {region})"
        return (None if extent is None else (extent[0], extent[2], extent[1], extent[3])), where


def _extent(log: RunLog) -> tuple[float, float, float, float] | None:
    """(x_min, x_max, y_min, y_max) of all states in m: from row-group statistics, else one pass."""
    meta = pq.ParquetFile(log.directory / "states.parquet").metadata
    names = meta.schema.names
    lows, highs = [], []
    for rg in range(meta.num_row_groups):
        stats = [meta.row_group(rg).column(names.index(c)).statistics for c in ("x_m", "y_m")]
        if not all(s is not None and s.has_min_max for s in stats):
            break
        lows.append([s.min for s in stats])
        highs.append([s.max for s in stats])
    else:
        if not lows:
            return None
        (x0, y0), (x1, y1) = np.min(lows, axis=0), np.max(highs, axis=0)
        return float(x0), float(x1), float(y0), float(y1)
    lo, hi = np.full(2, np.inf), np.full(2, -np.inf)
    for batch in log.iter_states(["x_m", "y_m"], batch_rows=_BATCH_ROWS):
        for i in range(2):
            col = batch.column(i).to_numpy()
            col = col[np.isfinite(col)]
            if len(col):
                lo[i], hi[i] = min(lo[i], col.min()), max(hi[i], col.max())
    return None if not np.isfinite(lo).all() else (lo[0], hi[0], lo[1], hi[1])


def density_grid(log: RunLog, *, bins: int = DENSITY_BINS) -> tuple[np.ndarray, ...] | None:
    """(counts (nx, ny), x edges m, y edges m): state samples per square cell, streamed; None if empty."""
    extent = _extent(log)
    if extent is None:
        return None
    x0, x1, y0, y1 = extent
    cell_m = max(x1 - x0, y1 - y0, 1.0) / bins
    x_edges = x0 + cell_m * np.arange(max(1, math.ceil((x1 - x0) / cell_m)) + 1)
    y_edges = y0 + cell_m * np.arange(max(1, math.ceil((y1 - y0) / cell_m)) + 1)
    nx, ny = len(x_edges) - 1, len(y_edges) - 1
    counts = np.zeros(nx * ny, np.int64)
    for batch in log.iter_states(["x_m", "y_m"], batch_rows=_BATCH_ROWS):
        i = _uniform_bin(batch.column(0).to_numpy().astype(np.float64), x_edges)
        j = _uniform_bin(batch.column(1).to_numpy().astype(np.float64), y_edges)
        inside = (i >= 0) & (j >= 0)
        counts += np.bincount(i[inside] * ny + j[inside], minlength=nx * ny)
    return (counts.reshape(nx, ny).astype(np.float64), x_edges, y_edges) if counts.any() else None


def _uniform_bin(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value on uniform ``edges`` (-1 outside or NaN), as ``np.histogram2d`` bins it.

    Arithmetic, then corrected against the edges themselves (numpy's own uniform-bin fast path), so a
    value on an edge lands where histogram2d puts it; about ten times faster than histogram2d's search.
    """
    n = len(edges) - 1
    scaled = (values - edges[0]) * (n / (edges[-1] - edges[0]))
    inside = (values >= edges[0]) & (values <= edges[-1])  # False for NaN
    index = np.where(inside, np.clip(np.nan_to_num(scaled), 0, n - 1), 0).astype(np.int64)
    index -= values < edges[index]
    index += (values >= edges[index + 1]) & (index != n - 1)
    return np.where(inside, index, -1)


# --- plots (matplotlib Agg, one small function each) ------------------------------------------------------


def figure(width_in: float = 8.0, height_in: float = 3.6) -> Any:
    """A matplotlib figure on the Agg canvas (no GUI toolkit), laid out with constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> str:
    """The figure as a ``data:image/png;base64`` URI (no Software/date metadata)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _time_axis(t_max_s: float) -> tuple[float, str]:
    """(divisor, label): minutes when the run is longer than 10 min, else seconds."""
    return (60.0, "time (min)") if t_max_s > 600 else (1.0, "time (s)")


def _plot_airborne(t_s: np.ndarray, airborne: np.ndarray) -> str | None:
    if not len(t_s):
        return None
    fig = figure()
    ax = fig.subplots()
    scale, label = _time_axis(float(t_s.max()))
    ax.step(t_s / scale, airborne, where="post", color="tab:blue")
    ax.set(title=PLOT_TITLES["airborne"], xlabel=label, ylabel="airborne vehicles", ylim=(0, None))
    ax.grid(alpha=0.3)
    return _png(fig)


def _plot_conflicts(events: pa.Table, kinds: pa.ChunkedArray) -> str | None:
    series = {
        "conflicts": active_series(events, kinds, "conflict_start", "conflict_end"),
        "losses of separation": active_series(events, kinds, "los_start", "los_end"),
    }
    if not any(len(t_s) for t_s, _ in series.values()):
        return None
    fig = figure()
    ax = fig.subplots()
    scale, label = _time_axis(max(float(t_s.max()) for t_s, _ in series.values() if len(t_s)))
    for (name, (t_s, active)), colour in zip(series.items(), ("tab:orange", "tab:red"), strict=True):
        peak = int(active.max()) if len(active) else 0
        t = np.concatenate([[0.0], t_s]) / scale
        ax.step(t, np.concatenate([[0], active]), where="post", color=colour, label=f"{name} (peak {peak})")
    ax.set(title=PLOT_TITLES["conflicts"], xlabel=label, ylabel="active pairs", ylim=(0, None))
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return _png(fig)


def _plot_density(log: RunLog) -> str | None:
    grid = density_grid(log)
    if grid is None:
        return None
    from matplotlib.colors import LogNorm

    counts, x_edges, y_edges = grid
    fig = figure(7.0, 6.0)
    ax = fig.subplots()
    shown = np.ma.masked_equal(counts.T, 0.0)
    mesh = ax.pcolormesh(
        x_edges / 1000,
        y_edges / 1000,
        shown,
        norm=LogNorm(vmin=1.0, vmax=max(counts.max(), 1.0)),
        cmap="viridis",
    )
    fig.colorbar(mesh, ax=ax, label="state samples per cell")
    cell_m = x_edges[1] - x_edges[0]
    ax.set(
        title=f"{PLOT_TITLES['density']} ({_fmt(cell_m)} m cells)", xlabel="east (km)", ylabel="north (km)"
    )
    ax.set_aspect("equal")
    return _png(fig)


def _plot_histogram(values: np.ndarray, title: str, xlabel: str) -> str | None:
    if not len(values):
        return None
    fig = figure()
    ax = fig.subplots()
    ax.hist(values, bins=min(50, max(1, len(np.unique(values)))), color="tab:blue")
    ax.set(title=title, xlabel=xlabel, ylabel="count")
    ax.grid(alpha=0.3)
    return _png(fig)


def _plot_latency(histograms: Mapping[str, tuple[Histogram, int, int]]) -> str | None:
    """One CDF per message kind on a log time axis, each over its delivered messages."""
    shown = {kind: h for kind, (h, _, _) in histograms.items() if h.count}
    if not shown:
        return None
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig = figure()
    ax = fig.subplots()
    for kind, h in shown.items():
        name, colour = _MESSAGES[kind]
        edges_ms = 10.0 ** h.edges()
        first, last = np.flatnonzero(h.counts)[[0, -1]]
        cdf = np.cumsum(h.counts[first : last + 1]) / h.count
        ax.step(
            edges_ms[first : last + 2],
            np.concatenate([[0.0], cdf]),
            where="post",
            color=colour,
            label=f"{name} ({_fmt(h.count)} delivered)",
        )
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(title=NETWORK_PLOT_TITLES["latency"], xlabel="latency (ms)", ylabel="fraction delivered within")
    ax.set_ylim(0.0, 1.02)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3, which="both")
    return _png(fig)


def _plot_detection(by_bin: Mapping[str, Sequence], title: str, quantity: str, what: str) -> str | None:
    """Detection probability per bin of ``quantity`` (line), over the pairs tried and detected (bars)."""
    tried, detected = np.asarray(by_bin["tried"]), np.asarray(by_bin["detected"])
    k = np.flatnonzero(tried)
    if not len(k):
        return None
    centres = np.asarray(by_bin[f"{quantity}_m"], float)
    width, centre_m = centres[1] - centres[0], centres[k]
    fig = figure()
    ax = fig.subplots()
    counts = ax.twinx()
    counts.bar(centre_m, tried[k], width=0.88 * width, color="0.85", label="pairs tried")
    counts.bar(centre_m, detected[k], width=0.56 * width, color="0.6", label="pairs detected")
    counts.set_ylabel("(target, TRP) pairs")
    ax.set_zorder(counts.get_zorder() + 1)  # the line over the bars
    ax.patch.set_visible(False)
    ax.plot(centre_m, detected[k] / tried[k], "o-", color="tab:blue", label="detection probability")
    ax.set(title=title, xlabel=f"{what} (m)", ylabel="detection probability", ylim=(0.0, 1.05))
    ax.set_xlim(centres[0] - width / 2, centre_m[-1] + width / 2)
    lines, labels = ax.get_legend_handles_labels()
    bars, bar_labels = counts.get_legend_handles_labels()
    fig.legend(lines + bars, labels + bar_labels, loc="outside lower center", ncols=3)
    ax.grid(alpha=0.3)
    return _png(fig)


def _plot_track_error(
    bins: Mapping[str, Mapping[str, Any]], title: str, quantity: str, what: str
) -> str | None:
    """p50 (solid) and p90 (dashed) horizontal and vertical track errors per bin of ``quantity``, one colour
    per kind of track, on a log error axis."""
    shown = {kind: b for kind, b in bins.items() if sum(b["count"])}
    if not shown:
        return None
    fig = figure(10.0, 4.0)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, axis in zip(axes, ("horizontal", "vertical"), strict=True):
        for kind, b in shown.items():
            label, colour = _TRACK_KINDS[kind]
            k = np.flatnonzero(b["count"])
            x = np.asarray(b[f"{quantity}_m"], float)[k]
            for q, style in (("p50", "o-"), ("p90", "s--")):
                y = np.asarray(b[f"{axis}_m"][q], float)[k]
                ax.plot(x, y, style, color=colour, markersize=4, label=f"{label} {q}")
        ax.set(title=f"{axis} error", xlabel=f"{what} (m)", yscale="log")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("track position error (m)")
    fig.suptitle(title)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4)
    return _png(fig)


def _plot_sinr_maps(
    settings: NetworkSettings, bounds: tuple[float, float, float, float], where: str
) -> tuple[str, str]:
    """Downlink and uplink expected SINR at MAP_ALTITUDES_M (rows), the sites as dots; and the caption.

    The maps show a window MAP_WINDOW_ISD sites wide at the centre of ``bounds``: the sites form one
    regular grid, so the window's pattern repeats over the whole area, and over 20 km a 500 m grid would
    be a moire of 2-pixel cells. Each direction has one colour scale (1st to 99th percentile over both
    altitudes) so the heights compare.
    """
    x0, y0, x1, y1 = bounds
    sites, isd_m = settings.channel.sites(bounds), settings.channel.site_spacing_m
    half_w, half_h = (min(hi - lo, MAP_WINDOW_ISD * isd_m) / 2 for lo, hi in ((x0, x1), (y0, y1)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    window = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    step_m = max(2 * half_w, 2 * half_h, 1.0) / MAP_CELLS
    maps = [sinr_map(settings, window, h, step_m=step_m, sites=sites) for h in MAP_ALTITUDES_M]
    fig = figure(10.0, 8.6)
    axes = fig.subplots(len(MAP_ALTITUDES_M), 2, sharex=True, sharey=True)
    medians = {}
    for col, (direction, i) in enumerate((("downlink", 3), ("uplink", 2))):
        lo, hi = np.percentile(np.concatenate([m[i].ravel() for m in maps]), [1, 99])
        medians[direction] = ", ".join(f"{_fmt(float(np.median(m[i])))} dB" for m in maps)
        for row, (h_m, m) in enumerate(zip(MAP_ALTITUDES_M, maps, strict=True)):
            ax = axes[row, col]
            extent = (m[0][0] / 1000, m[0][-1] / 1000, m[1][0] / 1000, m[1][-1] / 1000)
            image = ax.imshow(m[i], origin="lower", extent=extent, vmin=lo, vmax=hi, interpolation="nearest")
            ax.scatter(sites.xy_m[:, 0] / 1000, sites.xy_m[:, 1] / 1000, s=12.0, c="w", edgecolors="k")
            ax.set(title=f"{direction} at {h_m:g} m", xlim=(window[0] / 1000, window[2] / 1000))
            ax.set(ylim=(window[1] / 1000, window[3] / 1000), aspect="equal")
        fig.colorbar(image, ax=axes[:, col], label=f"{direction} SINR (dB)", shrink=0.8)
    for ax in axes[-1]:
        ax.set_xlabel("east (km)")
    for ax in axes[:, 0]:
        ax.set_ylabel("north (km)")
    ch, link = settings.channel, settings.link
    heights = " and ".join(f"{h:g} m" for h in MAP_ALTITUDES_M)
    caption = (
        f"A {_fmt(2 * half_w / 1000)} km x {_fmt(2 * half_h / 1000)} km window at the centre of {where}; "
        f"its {_fmt(sites.n_sites)} sites (dots) form one hexagonal grid, {_fmt(isd_m)} m apart, so the "
        f"pattern repeats across it. Cells of {_fmt(step_m)} m at {heights} above ground; "
        f"the median channel (no shadow fading; LOS and NLOS path losses weighted by the LOS probability) "
        f"with the best sector's gain. Downlink: the strongest of the {ch.downlink_sites} nearest sites "
        f"against the others at load {_fmt(link.dl_load)}; uplink: the strongest of the {ch.uplink_sites} "
        f"nearest against noise and {_fmt(link.iot_db)} dB IoT. Median over the window at {heights}: "
        f"downlink {medians['downlink']}; uplink {medians['uplink']}."
    )
    return _png(fig), caption


def _summary(values: np.ndarray, unit: str) -> str:
    """n, median, p95 and max of a histogram's values, for the line under it."""
    if not len(values):
        return ""
    p50, p95, top = np.percentile(values, [50, 95, 100])
    return f"n = {len(values):,}; median {_fmt(p50)} {unit}; p95 {_fmt(p95)} {unit}; max {_fmt(top)} {unit}"
