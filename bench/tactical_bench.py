"""Benchmark of utm.tactical: candidate pairs, conflicts and the median time of detect and mvp.

Free-flight traffic in a 10 km x 10 km box: altitudes uniform in 30-122 m, speeds 10-18 m/s on random
headings, level (vz = 0); protected zone R = 50 m, H = 15 m; look-ahead T = 30 s. Times are wall
clock (``perf_counter_ns``) after one warm-up call; mvp resolves the detected conflicts with random
priorities 0-2. Run with ``.venv/bin/python bench/tactical_bench.py``; this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from utm.tactical import candidate_pairs, detect, mvp

__all__ = ["main", "traffic"]

BOX_M = 10_000.0
ZONE = {"lookahead_s": 30.0, "radius_m": 50.0, "half_height_m": 15.0}


def traffic(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(pos_m, vel_mps), each (n, 3): uniform in the box, random headings, level flight."""
    pos_m = np.column_stack(
        [rng.uniform(0.0, BOX_M, n), rng.uniform(0.0, BOX_M, n), rng.uniform(30.0, 122.0, n)]
    )
    heading_rad = rng.uniform(0.0, 2.0 * np.pi, n)
    speed_mps = rng.uniform(10.0, 18.0, n)
    vel_mps = np.column_stack([speed_mps * np.cos(heading_rad), speed_mps * np.sin(heading_rad), np.zeros(n)])
    return pos_m, vel_mps


def _times_ms(call: Callable[[], object], repeats: int) -> np.ndarray:
    call()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        call()
        out.append(time.perf_counter_ns() - t0)
    return np.asarray(out) / 1e6


def _run(n: int, seed: int, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng([seed, n])  # each size its own stream: --sizes does not change it
    pos_m, vel_mps = traffic(rng, n)
    priority = rng.integers(0, 3, n)
    conflicts = detect(pos_m, vel_mps, **ZONE)
    detect_ms = _times_ms(lambda: detect(pos_m, vel_mps, **ZONE), repeats)
    mvp_ms = _times_ms(lambda: mvp(pos_m, vel_mps, conflicts, priority=priority, **ZONE), repeats)
    return {
        "vehicles": n,
        "candidates": len(candidate_pairs(pos_m, vel_mps, **ZONE)),
        "conflicts": len(conflicts),
        "detect med ms": float(np.median(detect_ms)),
        "detect min ms": float(detect_ms.min()),
        "mvp med ms": float(np.median(mvp_ms)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--repeats", type=int, default=51)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 5_000, 10_000])
    args = parser.parse_args(argv)
    rows = [_run(n, args.seed, args.repeats) for n in args.sizes]
    print(f"utm.tactical, seed {args.seed}, {args.repeats} calls each; R 50 m, H 15 m, T 30 s")
    print("  ".join(f"{name:>13}" for name in rows[0]))
    for row in rows:
        print("  ".join(f"{v:>13.0f}" if isinstance(v, int) else f"{v:>13.2f}" for v in row.values()))


if __name__ == "__main__":
    main()
