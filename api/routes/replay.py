"""Recorded runs over HTTP for the web map and regulators: list, describe, map layers, flights, frames by
time window, conflict/LoS links, one vehicle's detail, coverage, incidents (docs/map-api.md).

Runs are the sub-folders of ``utm6g serve --runs DIR`` that hold a closed event log (a simulation's or an
imported recording's ``log/``). Frames are columnar JSON, rounded (centimetres are noise at map scale), the
map's compact binary (``format=bin``) or an Arrow IPC stream (``format=arrow``). Every route needs the
``utm6g.replay.read`` scope. Layer: api.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pyarrow as pa
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from api.deps import ReplayReader
from api.frames_bin import encode_frames, frame_columns
from api.run_view import RunView, RunViews, time_span
from sim.eventlog import MODES, RunLog, read_log
from sim.incidents import find_incidents
from sim.manifest import MANIFEST_NAME
from sim.run import LOG_DIR, find_log_dir
from utm.errors import InvalidRequest, NotFound

__all__ = ["MAX_WINDOW_S", "router"]

router = APIRouter(prefix="/replay/v1", tags=["replay"])

MAX_WINDOW_S = 600.0
"""The longest frames window one request may ask for (10,000 vehicles x 600 s is 6 M states)."""
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
WindowStart = Annotated[float, Query(description="window start, simulation seconds")]
WindowEnd = Annotated[float, Query(description="window end, simulation seconds (at most 600 s after t0)")]
_FRAME_COLUMNS = ("t_s", "flight", "x_m", "y_m", "z_m", "vx_mps", "vy_mps", "vz_mps", "mode")


class RunSummary(BaseModel):
    """One run in the list."""

    run: str
    scenario: str | None
    comms_profile: str | None
    seed: int | None
    flights: int
    los: int | None  # from metrics.json when the run has one
    sealed: bool  # carries a SHA-256 manifest (``utm6g verify``)


class RunsResponse(BaseModel):
    runs: list[RunSummary]


class RunDetail(RunSummary):
    """A run: its summary, time span, separation standard, metrics and manifest head."""

    software_version: str | None
    start: str | None
    t_min_s: float | None
    t_max_s: float | None
    separation: dict[str, float] | None
    metrics: dict[str, Any] | None
    manifest_head: str | None


class Frames(BaseModel):
    """States in ``[t0_s, t1_s]``, columnar: row ``k`` is vehicle ``flight[k]`` at ``t_s[k]``."""

    run: str
    t0_s: float
    t1_s: float
    modes: list[str]
    t_s: list[float]
    flight: list[int]
    x_m: list[float]
    y_m: list[float]
    z_m: list[float]
    heading_deg: list[float]
    speed_mps: list[float]
    mode: list[int]


class IncidentsResponse(BaseModel):
    run: str
    incidents: list[dict[str, Any]]


@router.get("/runs")
def list_runs(request: Request, _: ReplayReader) -> RunsResponse:
    """Every run folder under the served directory, by name."""
    root = _root(request)
    names = sorted(
        p.name for p in root.iterdir() if _RUN_NAME.fullmatch(p.name) and find_log_dir(p) is not None
    )
    return RunsResponse(runs=[_summary(name, _open(root, name)) for name in names])


@router.get("/runs/{run}")
def get_run(run: str, request: Request, _: ReplayReader) -> RunDetail:
    log = _open(_root(request), run)
    span = time_span(log.directory / "states.parquet")
    header = log.header
    scenario = header.get("scenario", {})
    manifest = log.directory / MANIFEST_NAME
    return RunDetail(
        **_summary(run, log).model_dump(),
        software_version=header.get("software_version"),
        start=scenario.get("start"),
        t_min_s=span[0],
        t_max_s=span[1],
        separation=scenario.get("separation"),
        metrics=_metrics(log),
        manifest_head=json.loads(manifest.read_text())["head"] if manifest.is_file() else None,
    )


@router.get("/runs/{run}/frames", response_model=Frames)
def get_frames(
    run: str,
    request: Request,
    _: ReplayReader,
    t0: WindowStart,
    t1: WindowEnd,
    format: Literal["json", "bin", "arrow"] = "json",
    stride: int = Query(1, ge=1, le=600, description="keep every stride-th sample time (format=bin)"),
) -> Any:
    """Vehicle states in ``[t0, t1]``: columnar JSON (rounded), the map's binary frames (``format=bin``,
    docs/map-api.md) or the raw columns as an Arrow IPC stream."""
    _check_window(t0, t1)
    if format == "bin":
        view = _view(request, run)
        states = read_log(view.log.directory, columns=list(_FRAME_COLUMNS), window_s=(t0, t1)).states
        sensed = view.detections.any_within if view.network is not None else None
        payload = encode_frames(frame_columns(states, stride, sensed), t0, t1)
        return Response(payload, media_type="application/octet-stream")
    log = _open(_root(request), run)
    states = read_log(log.directory, columns=list(_FRAME_COLUMNS), window_s=(t0, t1)).states
    if format == "arrow":
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, states.schema) as writer:
            writer.write_table(states)
        return Response(sink.getvalue().to_pybytes(), media_type="application/vnd.apache.arrow.stream")
    column = {name: states[name].to_numpy() for name in _FRAME_COLUMNS}
    vx, vy, vz = (column[c].astype(np.float64) for c in ("vx_mps", "vy_mps", "vz_mps"))
    return Frames(
        run=run,
        t0_s=t0,
        t1_s=t1,
        modes=list(MODES),
        t_s=column["t_s"].tolist(),
        flight=column["flight"].tolist(),
        x_m=_rounded(column["x_m"], 1),
        y_m=_rounded(column["y_m"], 1),
        z_m=_rounded(column["z_m"], 1),
        heading_deg=_rounded(np.degrees(np.arctan2(vx, vy)) % 360.0, 0),
        speed_mps=_rounded(np.sqrt(vx * vx + vy * vy + vz * vz), 1),
        mode=column["mode"].tolist(),
    )


@router.get("/runs/{run}/map")
def get_map(run: str, request: Request, _: ReplayReader) -> dict[str, Any]:
    """The run's static layers: cells with capacities, geofences with their active intervals, hubs, sites."""
    return _view(request, run).map(request.app.state.settings.tile_url)


@router.get("/runs/{run}/flights")
def get_flights(run: str, request: Request, _: ReplayReader) -> dict[str, Any]:
    """Every flight of the run with its plan (layer, planned path, lateral buffer) and times."""
    return {"run": run, "flights": _view(request, run).flights}


@router.get("/runs/{run}/flights/{flight}")
def get_flight(
    run: str,
    flight: int,
    request: Request,
    _: ReplayReader,
    t: float = Query(description="simulation seconds"),
) -> dict[str, Any]:
    """One vehicle at ``t``: plan, state, last report and its latency, counts, conformance, serving site."""
    if not math.isfinite(t):
        raise InvalidRequest("t", "must be a finite number of seconds")
    return _view(request, run).flight(flight, t)


@router.get("/runs/{run}/links")
def get_links(
    run: str,
    request: Request,
    _: ReplayReader,
    t0: WindowStart,
    t1: WindowEnd,
) -> dict[str, Any]:
    """Conflict (predicted, CD&R's) and LoS (ground truth) episodes open during ``[t0, t1]``, by pair."""
    _check_window(t0, t1)
    return {"run": run, "links": _view(request, run).links(t0, t1)}


@router.get("/runs/{run}/coverage")
def get_coverage(
    run: str,
    request: Request,
    _: ReplayReader,
    altitude_m: float = Query(120.0, description="height of the map above the region origin, m"),
    step_m: float = Query(100.0, description="grid spacing, m"),
) -> dict[str, Any]:
    """Median downlink and uplink SINR over the region at one altitude (404 for a run without a network)."""
    return {"run": run, **_view(request, run).coverage(altitude_m, step_m)}


@router.get("/runs/{run}/incidents")
def get_incidents(run: str, request: Request, _: ReplayReader) -> IncidentsResponse:
    """Every LoS and NMAC of the run, as ``utm6g incidents --json`` lists them."""
    log = _open(_root(request), run)
    return IncidentsResponse(run=run, incidents=[i.to_json() for i in find_incidents(log)])


def _check_window(t0: float, t1: float) -> None:
    """A finite ``[t0, t1]`` of at most MAX_WINDOW_S, or InvalidRequest naming the bad end."""
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise InvalidRequest("t0" if not math.isfinite(t0) else "t1", "must be a finite number of seconds")
    if t1 < t0:
        raise InvalidRequest("t1", f"must be >= t0 (got t0={t0:g}, t1={t1:g})")
    if t1 - t0 > MAX_WINDOW_S:
        raise InvalidRequest("t1", f"the window may span at most {MAX_WINDOW_S:g} s (got {t1 - t0:g} s)")


def _view(request: Request, run: str) -> RunView:
    """The run opened for the map (cached per served folder)."""
    root = _root(request)
    views: RunViews | None = getattr(request.app.state, "run_views", None)
    if views is None or views.root != root:
        views = request.app.state.run_views = RunViews(root)
    return views.get(run, _log_dir(root, run))


def _root(request: Request) -> Path:
    root = request.app.state.runs_dir
    if root is None:
        raise NotFound("no runs are served here (start the server with utm6g serve --runs DIR)")
    return root


def _log_dir(root: Path, run: str) -> Path:
    """The log folder of the run named ``run`` (a plain folder name: no path tricks)."""
    log_dir = find_log_dir(root / run) if _RUN_NAME.fullmatch(run) else None
    if log_dir is None:
        raise NotFound(f"run {run!r}: no such run")
    return log_dir


def _open(root: Path, run: str) -> RunLog:
    """The run named ``run``, read without its states."""
    return read_log(_log_dir(root, run), columns=[])


def _metrics(log: RunLog) -> dict[str, Any] | None:
    path = log.directory.parent / "metrics.json"
    return json.loads(path.read_text()) if log.directory.name == LOG_DIR and path.is_file() else None


def _summary(run: str, log: RunLog) -> RunSummary:
    header = log.header
    scenario = header.get("scenario", {})
    metrics = _metrics(log)
    return RunSummary(
        run=run,
        scenario=scenario.get("name"),
        comms_profile=scenario.get("comms", {}).get("profile"),
        seed=header.get("seed"),
        flights=log.flights.num_rows,
        los=None if metrics is None else metrics.get("los", {}).get("count"),
        sealed=(log.directory / MANIFEST_NAME).is_file(),
    )


def _rounded(values: np.ndarray, digits: int) -> list[float]:
    return np.round(values.astype(np.float64), digits).tolist()
