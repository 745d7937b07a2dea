"""A recorded run as the web map reads it: its airspace, network, flights, episodes and per-vehicle detail.

``RunViews`` opens a run once (the region and network rebuilt from the log header's resolved scenario) and
keeps the few most recently used, reopening one whose log changed. What a view derives from the log
(flights, episodes, report and detection indexes) is computed on first use and kept. Layer: api.
"""

from __future__ import annotations

import functools
import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from airspace.errors import AirspaceInputError
from airspace.region import Region, load_region
from api.map_layers import map_layers
from sim.airspace_record import AirspaceFiles
from sim.errors import ScenarioError
from sim.eventlog import MODES, RunLog, read_log
from sim.incidents import episodes
from sim.pairs import pair_keys, split_keys
from sim.scenario import load_resolved, logged_airspace
from sim.sixg.coverage import expected_link, sinr_map
from sim.sixg.deployment import Sites
from sim.sixg.profiles import NetworkSettings
from utm.errors import InvalidRequest, NotFound

__all__ = ["MAX_COVERAGE_POINTS", "RunView", "RunViews", "time_span"]

MAX_COVERAGE_POINTS = 250_000
"""The most grid points one coverage request may ask for (a 50 km x 50 km region at 100 m)."""
_CACHED_RUNS = 8


@dataclass(frozen=True, slots=True)
class _Keyed:
    """Rows sorted by (flight, time), for per-flight lookups by binary search."""

    flight: np.ndarray  # int64, ascending
    t_s: np.ndarray
    extra: np.ndarray
    packed: np.ndarray  # flight * 1e7 + t_s (t < 1e7 s; 1e-4 s resolution): one sorted key for windows

    @classmethod
    def of(cls, flight: np.ndarray, t_s: np.ndarray, extra: np.ndarray) -> _Keyed:
        order = np.lexsort((t_s, flight))
        flight, t_s = flight.take(order).astype(np.int64), t_s.take(order)
        return cls(flight, t_s, extra.take(order), flight * 1e7 + t_s)

    def rows(self, flight: int) -> slice:
        """The rows of one flight."""
        f = np.int64(flight)
        return slice(int(self.flight.searchsorted(f, "left")), int(self.flight.searchsorted(f, "right")))

    def any_within(self, flight: np.ndarray, lo_s: np.ndarray, hi_s: np.ndarray) -> np.ndarray:
        """Whether each flight has a row with ``lo_s <= t_s <= hi_s`` (vectorised over the queries)."""
        base = flight.astype(np.float64) * 1e7
        return self.packed.searchsorted(base + hi_s, "right") > self.packed.searchsorted(base + lo_s, "left")


class RunView:
    """One run opened for the map: the log (no states held), its scenario's region and network."""

    def __init__(self, name: str, log_dir: Path) -> None:
        self.name = name
        self.log: RunLog = read_log(log_dir, columns=[])
        header = self.log.header
        self.scenario: dict[str, Any] = header["scenario"]
        self.network: NetworkSettings | None = None
        try:
            airspace = logged_airspace(header)
            if "recorded" in header:  # an imported recording: its region, no scenario and no network
                self.region = _recorded_region(self.scenario["region"], airspace)
                self.start: datetime = datetime.fromtimestamp(header["recorded"]["time_origin"], UTC)
            else:
                source = Path(header.get("scenario_file", "scenario.yaml"))
                loaded = load_resolved(self.scenario, source=source, airspace=airspace)
                self.region, self.start = loaded.region, loaded.spec.start
                self.network = loaded.spec.comms.network()
        except (ScenarioError, AirspaceInputError) as err:  # e.g. a log moved away from its region files
            raise NotFound(f"run {name!r} cannot be drawn: its airspace does not load ({err})") from None
        self.sites: Sites | None = (
            None if self.network is None else self.network.channel.sites(self.region.grid.bounds_xy_m)
        )
        self.span_s = time_span(log_dir / "states.parquet")
        self.state_interval_s = float(self.scenario.get("recording", {}).get("state_interval_s", 1.0))

    def map(self, tile_url: str | None) -> dict[str, Any]:
        """The static layers of the run's airspace."""
        return {
            "run": self.name,
            **map_layers(
                self.region,
                start=self.start,
                span_s=(self.span_s[0] or 0.0, self.span_s[1] or 0.0),
                sites=self.sites,
                comms_profile=self.scenario["comms"]["profile"],
                sensing=self.network is not None and self.network.sensing is not None,
                separation=self.scenario.get("separation"),
                tile_url=tile_url,
            ),
        }

    @functools.cached_property
    def flights(self) -> list[dict[str, Any]]:
        """Every flight with its plan (path, layer, buffer); NaN times become None."""
        out = []
        for row in self.log.flights.to_pylist():
            plan = _plan(row.pop("plan"))
            out.append(
                {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                | {
                    "layer": plan.get("layer"),
                    "path_m": plan.get("path_m"),
                    "lateral_buffer_m": plan.get("lateral_buffer_m"),
                }
            )
        return out

    @functools.cached_property
    def _flight_rows(self) -> dict[int, int]:
        return {f["flight"]: n for n, f in enumerate(self.flights)}

    @functools.cached_property
    def _episodes(self) -> tuple[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]:
        """(kind, a, b, start_s, end_s, nmac) of the conflict and LoS episodes."""
        events = self.log.events
        nmac = events.filter(pc.equal(events["kind"], "nmac"))
        nmac_key = pair_keys(nmac["flight"].to_numpy(), nmac["other"].to_numpy())
        nmac_t = nmac["t_s"].to_numpy()
        out = []
        for kind, name in (("conflict", "conflict"), ("los", "los")):
            ep = episodes(events, name)
            a, b = split_keys(ep.key)
            hit = np.zeros(len(ep.key), bool)
            for key, t in zip(nmac_key, nmac_t, strict=True):  # NMACs are few: one per near collision
                hit |= (ep.key == key) & (ep.start_s <= t) & (t <= ep.end_s)
            out.append((kind, a, b, ep.start_s, ep.end_s, hit))
        return tuple(out)

    def links(self, t0_s: float, t1_s: float) -> list[dict[str, Any]]:
        """Conflict and LoS episodes open at some time of ``[t0_s, t1_s]``."""
        out = []
        for kind, a, b, start, end, nmac in self._episodes:
            for n in np.flatnonzero((start <= t1_s) & (end >= t0_s)):
                out.append(
                    {
                        "kind": kind,
                        "a": int(a[n]),
                        "b": int(b[n]),
                        "start_s": float(start[n]),
                        "end_s": float(end[n]),
                        "nmac": bool(nmac[n]),
                    }
                )
        return out

    @functools.cached_property
    def _reports(self) -> _Keyed:
        """Position reports by (flight, sent time); ``extra`` = received time (NaN when lost)."""
        rows = self._messages("report")
        return _Keyed.of(
            rows["flight"].to_numpy(), rows["t_sent_s"].to_numpy(), rows["t_received_s"].to_numpy()
        )

    @functools.cached_property
    def detections(self) -> _Keyed:
        """Delivered sensing detections by (true flight, received time); false alarms left out."""
        rows = self._messages("detection")
        rows = rows.filter(
            pc.and_(pc.invert(pc.is_nan(rows["t_received_s"])), pc.greater_equal(rows["flight"], 0))
        )
        received = rows["t_received_s"].to_numpy()
        return _Keyed.of(rows["flight"].to_numpy(), received, received)

    def _messages(self, kind: str) -> pa.Table:
        messages = self.log.messages
        return messages.filter(pc.equal(messages["kind"].cast(pa.string()), kind))

    def flight(self, flight: int, t_s: float) -> dict[str, Any]:
        """One flight at ``t_s``: its fields and plan, state, last report, report counts, advisories,
        conformance and (with a network) its serving site."""
        row = self._flight_rows.get(flight)
        if row is None:
            raise NotFound(f"run {self.name!r} has no flight {flight}")
        state = self._state(flight, t_s)
        return {
            **self.flights[row],
            "t_s": t_s,
            "state": state,
            **self._report_figures(flight, t_s),
            **self._event_figures(flight, t_s),
            "link": None if state is None else self._link(state),
        }

    def _state(self, flight: int, t_s: float) -> dict[str, Any] | None:
        """The flight's last recorded state at or before ``t_s`` (within one recording interval)."""
        states = read_log(
            self.log.directory,
            filters=[("flight", "==", flight)],
            window_s=(t_s - self.state_interval_s, t_s),
        ).states
        if states.num_rows == 0:
            return None
        s = states.slice(int(np.argmax(states["t_s"].to_numpy())), 1).to_pylist()[0]
        vx, vy, vz = s["vx_mps"], s["vy_mps"], s["vz_mps"]
        return {
            "t_s": s["t_s"],
            "x_m": round(s["x_m"], 2),
            "y_m": round(s["y_m"], 2),
            "z_m": round(s["z_m"], 2),
            "speed_mps": round(math.hypot(vx, vy), 2),
            "heading_deg": round(math.degrees(math.atan2(vx, vy)) % 360.0, 1),
            "vertical_speed_mps": round(vz, 2),
            "mode": MODES[s["mode"]],
        }

    def _report_figures(self, flight: int, t_s: float) -> dict[str, Any]:
        reports = self._reports
        rows = reports.rows(flight)
        sent_t, received_t = reports.t_s[rows], reports.extra[rows]
        n_sent = int(sent_t.searchsorted(t_s, "right"))
        last = None
        if n_sent:
            sent, received = float(sent_t[n_sent - 1]), float(received_t[n_sent - 1])
            lost = math.isnan(received)
            last = {
                "t_sent_s": sent,
                "t_received_s": None if lost else received,
                "latency_s": None if lost else received - sent,
                "lost": lost,
            }
        delivered = int(np.count_nonzero(received_t[:n_sent] <= t_s))
        return {"last_report": last, "reports": {"sent": n_sent, "delivered": delivered}}

    def _event_figures(self, flight: int, t_s: float) -> dict[str, Any]:
        events = self.log.events
        mine = events.filter(pc.and_(pc.equal(events["flight"], flight), pc.less_equal(events["t_s"], t_s)))
        kinds = mine["kind"].cast(pa.string()).to_numpy(zero_copy_only=False)
        conformance = np.flatnonzero(kinds == "conformance")
        return {
            "advisories": int(np.count_nonzero(kinds == "advisory_issued")),
            "conformance": None if not len(conformance) else mine["detail"][int(conformance[-1])].as_py(),
        }

    def _link(self, state: dict[str, Any]) -> dict[str, Any] | None:
        if self.network is None or self.sites is None:
            return None
        pos = np.array([[state["x_m"], state["y_m"], state["z_m"]]])
        link = expected_link(self.network, self.sites, pos)
        site = int(link.dl_site[0])
        x, y = (float(v) for v in self.sites.xy_m[site])
        return {
            "site": site,
            "x_m": round(x, 1),
            "y_m": round(y, 1),
            "distance_m": round(math.hypot(x - state["x_m"], y - state["y_m"]), 1),
            "dl_sinr_db": round(float(link.dl_sinr_db[0]), 1),
            "ul_sinr_db": round(float(link.ul_sinr_db[0]), 1),
        }

    def coverage(self, altitude_m: float, step_m: float) -> dict[str, Any]:
        """Median DL and UL SINR over the region at one altitude (404 for a run without a network)."""
        if self.network is None or self.sites is None:
            raise NotFound(f"run {self.name!r} has no radio network (comms.profile ideal)")
        if not (math.isfinite(altitude_m) and 0.0 <= altitude_m <= 1000.0):
            raise InvalidRequest("altitude_m", f"must be between 0 and 1000 m (got {altitude_m:g})")
        bounds = self.region.grid.bounds_xy_m
        if not (math.isfinite(step_m) and step_m > 0.0):
            raise InvalidRequest("step_m", f"must be a positive number of metres (got {step_m:g})")
        points = math.ceil((bounds[2] - bounds[0]) / step_m) * math.ceil((bounds[3] - bounds[1]) / step_m)
        if points > MAX_COVERAGE_POINTS:
            raise InvalidRequest(
                "step_m",
                f"{step_m:g} m gives {points:,} points, more than {MAX_COVERAGE_POINTS:,}; use a larger step",
            )
        x, y, ul, dl = sinr_map(self.network, bounds, altitude_m, step_m=step_m, sites=self.sites)
        return {
            "altitude_m": altitude_m,
            "step_m": step_m,
            "x_edges_m": x.round(1).tolist(),
            "y_edges_m": y.round(1).tolist(),
            "dl_sinr_db": dl.round(1).tolist(),
            "ul_sinr_db": ul.round(1).tolist(),
        }


class RunViews:
    """The most recently used runs of a folder, opened once; a run whose log changed is opened again."""

    def __init__(self, root: Path, size: int = _CACHED_RUNS) -> None:
        self.root = root
        self._size = size
        self._views: OrderedDict[tuple[Path, int], RunView] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str, log_dir: Path) -> RunView:
        key = (log_dir.resolve(), (log_dir / "events.parquet").stat().st_mtime_ns)
        with self._lock:
            view = self._views.get(key)
            if view is not None:
                self._views.move_to_end(key)
                return view
        view = RunView(name, log_dir)  # outside the lock: opening reads the region and builds the sites
        with self._lock:
            self._views[key] = view
            while len(self._views) > self._size:
                self._views.popitem(last=False)
        return view


def _recorded_region(path: str, airspace: AirspaceFiles | None) -> Region:
    """A recording's region: from the files its header carries, else from its path."""
    if airspace is None:
        return load_region(path)
    with airspace.placed() as (region_path, _):
        return load_region(region_path)


def _plan(text: str) -> dict[str, Any]:
    return json.loads(text) if text else {}


def time_span(states_path: Path) -> tuple[float | None, float | None]:
    """First and last state time, from the row groups' statistics (no state data read)."""
    meta = pq.ParquetFile(states_path).metadata
    lows, highs = [], []
    for k in range(meta.num_row_groups):
        stats = meta.row_group(k).column(0).statistics
        if stats is not None and stats.has_min_max:
            lows.append(stats.min)
            highs.append(stats.max)
    # + 0.0: Parquet writes a zero min as -0
    return (min(lows) + 0.0, max(highs) + 0.0) if lows else (None, None)
