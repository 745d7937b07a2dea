"""Route planning on the bundled Shenzhen-Nanshan region: every ordered hub pair on every drone layer.

Prints the graph build time and the median / p99 time of one ``RouteGraph.plan``. A measurement, not a test:
``.venv/bin/python bench/route_bench.py``.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from airspace.region import load_region
from airspace.routes import RouteGraph

REGION = Path(__file__).resolve().parents[1] / "scenarios" / "shenzhen-nanshan" / "region.yaml"
DEPART = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)  # during the temporary closure SZBAYFW


def main() -> None:
    region = load_region(REGION)
    t0 = time.perf_counter()
    graph = RouteGraph(region.grid, region.geofences)
    build_ms = (time.perf_counter() - t0) * 1e3
    times_ms, volumes = [], []
    pairs = itertools.permutations(region.hubs, 2)
    for (a, b), layer in itertools.product(pairs, ["d30-60", "d60-90", "d90-120"]):
        t = time.perf_counter()
        corridor = graph.plan((a.x_m, a.y_m), (b.x_m, b.y_m), t0=DEPART, speed_mps=15.0, layer=layer)
        times_ms.append((time.perf_counter() - t) * 1e3)
        volumes.append(len(corridor))
    ms = np.asarray(times_ms)
    print(f"{region.name}: {region.grid.shape} cells x layers, {len(region.geofences)} geofences")
    print(f"  RouteGraph build {build_ms:.1f} ms")
    print(
        f"  plan: {len(ms)} routes, median {np.median(ms):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms,"
        f" {np.mean(volumes):.1f} corridor volumes on average"
    )


if __name__ == "__main__":
    main()
