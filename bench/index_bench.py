"""Benchmark of airspace.index.SpaceTimeIndex: query latency (median, p99), insert and remove throughput.

Realistic load: operational intents over a 20 km x 20 km region in one day, each a chain of corridor
segments (rectangles 50-500 m long, 20-60 m wide) or a hover area (circle, radius 25-250 m), 0-400 m
altitude, each volume 5-60 min long. Query volumes come from the same generator. Run with
``.venv/bin/python bench/index_bench.py``; this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import numpy as np

from airspace.index import SpaceTimeIndex
from airspace.volumes import Volume3D, Volume4D

__all__ = ["intents", "main"]

DAY_START = datetime(2026, 11, 27, tzinfo=UTC)
REGION_M = 20_000.0
SPEED_MPS = 12.0


def intents(rng: np.random.Generator, n_volumes: int) -> list[tuple[int, Volume4D]]:
    """``n_volumes`` (intent number, volume) pairs: chains of 1-8 corridor segments, or a hover circle."""
    items: list[tuple[int, Volume4D]] = []
    key = 0
    while len(items) < n_volumes:
        t_s = rng.uniform(0.0, 86_400.0 - 3600.0)
        z_lower_m = rng.uniform(0.0, 300.0)
        z = {"z_lower_m": z_lower_m, "z_upper_m": min(400.0, z_lower_m + rng.uniform(30.0, 100.0))}
        x_m, y_m = rng.uniform(0.0, REGION_M, size=2)
        if rng.random() < 0.1:
            shapes = [Volume3D.circle(x_m, y_m, rng.uniform(25.0, 250.0), **z)]
        else:
            shapes, heading_rad = [], rng.uniform(0.0, 2 * np.pi)
            for _ in range(rng.integers(1, 9)):
                length_m, half_width_m = rng.uniform(50.0, 500.0), rng.uniform(10.0, 30.0)
                ux, uy = np.cos(heading_rad), np.sin(heading_rad)
                x1_m, y1_m = x_m + length_m * ux, y_m + length_m * uy
                nx, ny = -uy * half_width_m, ux * half_width_m
                corners = [
                    (x_m + nx, y_m + ny),
                    (x1_m + nx, y1_m + ny),
                    (x1_m - nx, y1_m - ny),
                    (x_m - nx, y_m - ny),
                ]
                shapes.append(Volume3D.polygon(corners, **z))
                x_m, y_m, heading_rad = x1_m, y1_m, heading_rad + rng.normal(0.0, 0.4)
        for shape in shapes:
            start = DAY_START + timedelta(seconds=t_s)
            items.append((key, Volume4D(shape, start, start + timedelta(minutes=rng.uniform(5.0, 60.0)))))
            x0_m, y0_m, x1_m, y1_m = shape.bounds_xy_m
            t_s += np.hypot(x1_m - x0_m, y1_m - y0_m) / SPEED_MPS
        key += 1
    return items[:n_volumes]


def _latencies_ms(call: Callable[[object], object], args: Iterable[object]) -> np.ndarray:
    out = []
    for arg in args:
        t0 = time.perf_counter_ns()
        call(arg)
        out.append(time.perf_counter_ns() - t0)
    return np.asarray(out) / 1e6


def _run(
    n: int, stored: list[tuple[int, Volume4D]], probes: list[Volume4D], rng: np.random.Generator
) -> dict:
    items = stored[:n]
    t0 = time.perf_counter()
    idx: SpaceTimeIndex[int] = SpaceTimeIndex()
    for key, volume in items:
        idx.insert(key, volume)
    insert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    SpaceTimeIndex.from_items(items)
    bulk_s = time.perf_counter() - t0
    query_ms = _latencies_ms(idx.query, probes)
    boxes = [p.box for p in probes]
    cand_ms = _latencies_ms(idx.candidates, boxes)
    n_cand = np.mean([len(idx.candidates(b)) for b in boxes])
    n_hits = np.mean([len(idx.query(p)) for p in probes])
    keys = rng.choice(list(idx), size=min(1000, len(idx)), replace=False).tolist()
    n_removed = sum(len(idx.volumes(k)) for k in keys)
    t0 = time.perf_counter()
    for k in keys:
        idx.remove(k)
    remove_s = time.perf_counter() - t0
    return {
        "volumes": n,
        "keys": len({k for k, _ in items}),
        "query med ms": np.median(query_ms),
        "query p99 ms": np.percentile(query_ms, 99),
        "cand med ms": np.median(cand_ms),
        "cand p99 ms": np.percentile(cand_ms, 99),
        "cands/q": n_cand,
        "hits/q": n_hits,
        "insert vol/s": n / insert_s,
        "bulk vol/s": n / bulk_s,
        "remove vol/s": n_removed / remove_s,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    stored = intents(rng, max(args.sizes))
    probes = [v for _, v in intents(rng, args.queries)]
    rows = [_run(n, stored, probes, rng) for n in args.sizes]
    print(f"SpaceTimeIndex, seed {args.seed}, {args.queries} queries (query = broad phase + exact test)")
    print("  ".join(f"{name:>12}" for name in rows[0]))
    for row in rows:
        print("  ".join(f"{v:>12.0f}" if v >= 100 else f"{v:>12.3f}" for v in row.values()))


if __name__ == "__main__":
    main()
