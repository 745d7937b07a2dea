"""Benchmark of the operator service: in-process decision latency and HTTP throughput of durable plans.

1. In-process: a :class:`~utm.service.UTMService` on the bundled Shenzhen-Nanshan region (grid, geozones,
   route graph, as ``api/app.py`` builds it) with a fixed clock, preloaded with 10k and 100k live intents,
   times ~2000 ``service.create`` decisions (about 80 % accepted, 20 % rejected), file-backed store (WAL,
   ``synchronous=FULL``: the commit is on disk) and in-memory store. Preload: each generated delivery
   corridor is checked with ``validate_request`` + ``check_plan`` against a scratch ``LiveAirspace``
   exactly as a decision would (refused ones are dropped, alternatives are not searched); the accepted
   intents and their audit rows are written to the store in batches of 10k per transaction, and the
   service is then opened on that store, rebuilding its live picture as at a restart (timed: "restart
   rebuild of N intents"). The state is the one ``service.create`` would have made, at a fraction of the
   commits.
2. HTTP: ``utm6g serve`` (one uvicorn worker, dev keys, a temporary file database) on 127.0.0.1; 8 client
   threads with keep-alive ``httpx.Client`` submit plans that all share one 300 m circle in open
   airspace, each in its own time slot (space overlaps, time does not; one occupant per cell at a time).

A measurement, not a test: ``.venv/bin/python bench/service_bench.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from machine import describe  # bench/machine.py (a script's folder is on sys.path)

from airspace.cells import CellGrid
from airspace.region import Region, load_region
from airspace.routes import RouteGraph
from airspace.volumes import Volume3D, Volume4D, format_time
from api.keys import mint_token, write_dev_keys
from api.local_server import LocalServer
from utm.decisions import DecisionRecord
from utm.deconfliction import Policy, check_plan, validate_request
from utm.errors import PlanRejected
from utm.intents import IntentRequest, OperationalIntent, State, make_ovn
from utm.live import LiveAirspace
from utm.service import UTMService
from utm.store import Store

__all__ = ["main"]

REGION = Path(__file__).resolve().parents[1] / "scenarios" / "shenzhen-nanshan" / "region.yaml"
DAY_START = datetime(2026, 11, 27, tzinfo=UTC)
NOW = DAY_START - timedelta(hours=1)  # the fixed clock: every plan is in the future, within 30 days
OPEN_XY_M = ((-3500.0, 8400.0), (-1500.0, 8400.0))  # clear of the airport and border zones; a corridor
# reaches at most 3 x 500 m + 30 m from its start, so every plan stays inside the 20 km grid
ZGSZ_XY_M = ((-8400.0, -5000.0), (3000.0, 8400.0))  # inside the prohibited airport zone
DRONE_LAYERS = 3  # the delivery layers d30-60, d60-90, d90-120
SPEED_MPS, BUFFER_S, LAYER_MARGIN_M = 12.0, 30.0, 0.5
OPERATORS = 20
BATCH = 10_000
HTTP_CLIENTS = 8
HTTP_CENTRE = (22.545, 113.96)  # lat, lng: open airspace in the middle of the region
HTTP_RADIUS_M, HTTP_SLOT_S = 300.0, 30.0


@dataclass(frozen=True, slots=True)
class Plan:
    """One timed decision: the plan and the outcome the workload was built to give."""

    intent_id: uuid.UUID
    request: IntentRequest
    expect_accept: bool


def _uuid(rng: np.random.Generator) -> uuid.UUID:
    return uuid.UUID(bytes=rng.bytes(16), version=4)


def _corridor(
    rng: np.random.Generator, grid: CellGrid, xy_range: tuple[tuple[float, float], ...] = OPEN_XY_M
) -> IntentRequest:
    """A delivery corridor: 1-3 segments of 50-500 m, 20-60 m wide, on one drone layer, in one day."""
    layer = grid.layers[int(rng.integers(DRONE_LAYERS))]
    z = {"z_lower_m": layer.z_lower_m + LAYER_MARGIN_M, "z_upper_m": layer.z_upper_m - LAYER_MARGIN_M}
    x_m, y_m = rng.uniform(*xy_range[0]), rng.uniform(*xy_range[1])
    heading_rad, t_s = rng.uniform(0.0, 2 * np.pi), rng.uniform(0.0, 86_400.0 - 3600.0)
    volumes = []
    for _ in range(int(rng.integers(1, 4))):
        length_m, half_width_m = rng.uniform(50.0, 500.0), rng.uniform(10.0, 30.0)
        ux, uy = np.cos(heading_rad), np.sin(heading_rad)
        x1_m, y1_m = x_m + length_m * ux, y_m + length_m * uy
        nx, ny = -uy * half_width_m, ux * half_width_m
        corners = [(x_m + nx, y_m + ny), (x1_m + nx, y1_m + ny), (x1_m - nx, y1_m - ny), (x_m - nx, y_m - ny)]
        flight_s = length_m / SPEED_MPS
        start = DAY_START + timedelta(seconds=t_s - BUFFER_S)
        volumes.append(
            Volume4D(
                Volume3D.polygon(corners, **z), start, start + timedelta(seconds=flight_s + 2 * BUFFER_S)
            )
        )
        x_m, y_m, t_s = x1_m, y1_m, t_s + flight_s
        heading_rad += rng.normal(0.0, 0.5)
    return IntentRequest(state=State.ACCEPTED, priority=0, volumes=tuple(volumes))


def _accepts(live: LiveAirspace, intent_id: uuid.UUID, request: IntentRequest, policy: Policy) -> bool:
    validate_request(request, now=NOW, policy=policy)
    try:
        check_plan(live, request, intent_id=intent_id, previous=None, now=NOW, policy=policy)
    except PlanRejected:
        return False
    return True


def _intent(intent_id: uuid.UUID, request: IntentRequest, manager: str) -> OperationalIntent:
    """Version 1 of an accepted plan, as ``UTMService`` would make it at ``NOW``."""
    return OperationalIntent(
        id=intent_id,
        manager=manager,
        version=1,
        ovn=make_ovn(intent_id, 1, NOW),
        state=request.state,
        priority=request.priority,
        volumes=request.volumes,
        off_nominal_volumes=(),
        uss_base_url="",
        authorisation=None,
        time_created=NOW,
        time_updated=NOW,
    )


def _workload(
    rng: np.random.Generator, live: LiveAirspace, intents: list[OperationalIntent], n: int, policy: Policy
) -> list[Plan]:
    """``n`` plans, ~80 % fresh corridors screened to be accepted, ~20 % refused (3 in 4 copy a live
    intent's volumes at equal priority, 1 in 4 fly into the airport zone); screened in order on ``live``,
    which is left as it was."""
    plans: list[Plan] = []
    added: list[uuid.UUID] = []
    while len(plans) < n:
        accept = rng.random() < 0.8
        while True:  # draw until a plan of the chosen kind turns up
            intent_id = _uuid(rng)
            if accept:
                request = _corridor(rng, live.grid)
            elif rng.random() < 0.75:
                victim = intents[int(rng.integers(len(intents)))]
                request = IntentRequest(state=State.ACCEPTED, priority=0, volumes=victim.volumes)
            else:
                request = _corridor(rng, live.grid, ZGSZ_XY_M)
            if _accepts(live, intent_id, request, policy) == accept:
                break
        if accept:
            live.put(_intent(intent_id, request, "screen"))
            added.append(intent_id)
        plans.append(Plan(intent_id, request, accept))
    for intent_id in added:
        live.remove(intent_id)
    return plans


def _build(
    rng: np.random.Generator, region: Region, sizes: list[int], n_decisions: int, policy: Policy
) -> tuple[list[OperationalIntent], dict[int, list[Plan]], float, int]:
    """Conflict-free live intents (the largest size; smaller sizes are prefixes) and a workload per size."""
    live = LiveAirspace(grid=region.grid, geofences=region.geofences)
    intents: list[OperationalIntent] = []
    workloads: dict[int, list[Plan]] = {}
    tried = 0
    t0 = time.perf_counter()
    for size in sorted(sizes):
        while len(intents) < size:
            intent_id, request = _uuid(rng), _corridor(rng, region.grid)
            tried += 1
            if _accepts(live, intent_id, request, policy):
                intent = _intent(intent_id, request, f"operator-{int(rng.integers(OPERATORS))}")
                live.put(intent)
                intents.append(intent)
        workloads[size] = _workload(rng, live, intents, n_decisions, policy)
    return intents, workloads, time.perf_counter() - t0, tried


def _preload(store: Store, intents: list[OperationalIntent]) -> None:
    """Write ``intents`` and their audit rows, ``BATCH`` per transaction."""
    for at in range(0, len(intents), BATCH):
        with store.write() as tx:
            for intent in intents[at : at + BATCH]:
                tx.put_intent(intent)
                tx.record(DecisionRecord(NOW, intent.manager, "create", str(intent.id), "accepted", ""))


def _percentiles(ms: list[float]) -> str:
    if not ms:
        return f"{'-':>8} {'-':>8}"
    return f"{np.percentile(ms, 50):8.3f} {np.percentile(ms, 99):8.3f}"


def _decisions(
    region: Region, intents: list[OperationalIntent], plans: list[Plan], db: str, routes: RouteGraph
) -> tuple[str, str]:
    """Preload, start the service (its live picture rebuilt from the store), time every decision; one table
    row and a line with the rebuild time."""
    store = Store(db, region.frame)
    try:
        t0 = time.perf_counter()
        _preload(store, intents)
        t1 = time.perf_counter()
        service = UTMService(
            store, clock=lambda: NOW, grid=region.grid, routes=routes, geofences=region.geofences
        )
        write_s, rebuild_s = t1 - t0, time.perf_counter() - t1
        ms: dict[bool, list[float]] = {True: [], False: []}
        surprises = 0
        for plan in plans:
            t = time.perf_counter_ns()
            try:
                service.create(plan.intent_id, plan.request, manager="bench")
                accepted = True
            except PlanRejected:
                accepted = False
            ms[accepted].append((time.perf_counter_ns() - t) / 1e6)
            surprises += accepted != plan.expect_accept
    finally:
        store.close()
    kind = "file" if db != ":memory:" else "memory"
    every = ms[True] + ms[False]
    row = (
        f"{len(intents):>8} {kind:>7} {write_s:8.1f} {rebuild_s:9.1f} {len(ms[True]):>5}/{len(ms[False]):<5}"
        f" {_percentiles(every)} {_percentiles(ms[True])} {_percentiles(ms[False])} {surprises:>5}"
    )
    return row, f"restart rebuild of {len(intents)} intents: {rebuild_s:.1f} s ({kind} store)"


def in_process(
    rng: np.random.Generator, region: Region, sizes: list[int], n_decisions: int, tmp: Path
) -> None:
    policy = Policy()
    intents, workloads, build_s, tried = _build(rng, region, sizes, n_decisions, policy)
    print(
        f"\n1. In-process decisions (service.create), {n_decisions} per row; preload checked "
        f"{tried} corridors, kept {len(intents)} conflict-free ({build_s:.0f} s)"
    )
    print(
        f"{'intents':>8} {'store':>7} {'write s':>8} {'rebuild s':>9} {'acc/rej':^11} {'all p50':>8}"
        f" {'all p99':>8} {'acc p50':>8} {'acc p99':>8} {'rej p50':>8} {'rej p99':>8} {'unexp':>5}   (ms)"
    )
    routes = RouteGraph(region.grid, region.geofences)
    rebuilds = []
    for size in sorted(sizes):
        for db in (str(tmp / f"service-{size}.sqlite"), ":memory:"):
            row, rebuild = _decisions(region, intents[:size], workloads[size], db, routes)
            print(row, flush=True)
            rebuilds.append(rebuild)
    print(
        "  write s = bulk write of the preload; rebuild s = service start-up (live picture rebuilt from the"
    )
    print("  store, as at a restart); unexp = decisions whose outcome differs from the one the workload was")
    print("  screened for (expect 0)")
    print("\n".join(rebuilds))


def _http_body(region: Region, slot: int, t0: datetime) -> dict:
    def alt(z_m: float) -> dict:
        return {"value": region.frame.h0_m + z_m, "reference": "W84", "units": "M"}

    layer = region.grid.layers[0]
    start = t0 + timedelta(seconds=slot * HTTP_SLOT_S)
    end = start + timedelta(seconds=HTTP_SLOT_S - 1.0)  # closed windows: a 1 s gap keeps slots apart
    lat, lng = HTTP_CENTRE
    volume = {
        "outline_circle": {
            "center": {"lat": lat, "lng": lng},
            "radius": {"value": HTTP_RADIUS_M, "units": "M"},
        },
        "altitude_lower": alt(layer.z_lower_m + LAYER_MARGIN_M),
        "altitude_upper": alt(layer.z_upper_m - LAYER_MARGIN_M),
    }
    return {
        "state": "Accepted",
        "priority": 0,
        "volumes": [
            {
                "volume": volume,
                "time_start": {"value": format_time(start), "format": "RFC3339"},
                "time_end": {"value": format_time(end), "format": "RFC3339"},
            }
        ],
    }


def _http_round(
    url: str, tokens: list[str], bodies: list[tuple[uuid.UUID, dict]]
) -> tuple[float, list[float], dict[str, int]]:
    """Send ``bodies`` from one thread per token, each taking the next body; wall s, latencies, statuses."""
    lock, cursor = threading.Lock(), iter(bodies)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    start = threading.Barrier(len(tokens) + 1)

    def client(token: str) -> None:
        mine, codes = [], []
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30.0) as http:
            start.wait()
            while True:
                with lock:
                    item = next(cursor, None)
                if item is None:
                    break
                intent_id, body = item
                t = time.perf_counter()
                try:
                    code = str(http.put(f"/utm/v1/operational_intents/{intent_id}", json=body).status_code)
                except httpx.HTTPError as err:  # counted and shown, never silently dropped
                    code = type(err).__name__
                mine.append((time.perf_counter() - t) * 1e3)
                codes.append(code)
        with lock:
            latencies.extend(mine)
            for code in codes:
                statuses[code] = statuses.get(code, 0) + 1

    threads = [threading.Thread(target=client, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    start.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - t0, latencies, statuses


def http_throughput(rng: np.random.Generator, region: Region, n_plans: int, tmp: Path) -> None:
    private_key, public_key = write_dev_keys(tmp / "keys")
    scopes = "utm.strategic_coordination"
    tokens = [
        mint_token(private_key, sub=f"bench-{i}", scopes=scopes, audience="localhost")
        for i in range(HTTP_CLIENTS)
    ]
    t0 = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    warmup = 5 * HTTP_CLIENTS
    bodies = [(_uuid(rng), _http_body(region, slot, t0)) for slot in range(warmup + n_plans)]
    with LocalServer(tmp / "http.sqlite", public_key) as server:
        _http_round(server.url, tokens, bodies[:warmup])
        wall_s, ms, statuses = _http_round(server.url, tokens, bodies[warmup:])
    codes = ", ".join(f"{code}: {count}" for code, count in sorted(statuses.items()))
    print(
        f"\n2. HTTP: utm6g serve (1 uvicorn worker, file db) on 127.0.0.1, {HTTP_CLIENTS} keep-alive"
        f" clients; {n_plans} plans in one {HTTP_RADIUS_M:g} m circle, {HTTP_SLOT_S:g} s slots"
        f" (after {warmup} warm-up)"
    )
    print(f"{'decisions/s':>12} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}   statuses")
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    print(f"{len(ms) / wall_s:12.0f} {p50:8.2f} {p95:8.2f} {p99:8.2f}   {codes}")


def _fsync_ms(directory: Path, n: int = 200) -> tuple[float, float]:
    """p50, p99 of one 4 KiB write + fsync in ``directory``: the floor under a durable commit."""
    path = directory / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        out = []
        for _ in range(n):
            os.write(fd, b"\0" * 4096)
            t = time.perf_counter_ns()
            os.fsync(fd)
            out.append((time.perf_counter_ns() - t) / 1e6)
    finally:
        os.close(fd)
        path.unlink()
    p50, p99 = np.percentile(out, [50, 99])
    return float(p50), float(p99)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1k intents, 200 decisions, 500 plans"
    )
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args(argv)
    sizes, n_decisions, n_plans = ([1000], 200, 500) if args.quick else ([10_000, 100_000], 2000, 3000)
    rng = np.random.default_rng(args.seed)
    region = load_region(REGION)
    with tempfile.TemporaryDirectory(prefix="utm6g-bench-") as name:
        tmp = Path(name)
        fsync_p50, fsync_p99 = _fsync_ms(tmp)
        print(
            f"utm6g service bench, seed {args.seed}: {describe()}, SQLite {sqlite3.sqlite_version},"
            f" {platform.system()};"
            f" fsync of this disk p50 {fsync_p50:.2f} ms, p99 {fsync_p99:.2f} ms"
        )
        in_process(rng, region, sizes, n_decisions, tmp)
        http_throughput(rng, region, n_plans, tmp)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
