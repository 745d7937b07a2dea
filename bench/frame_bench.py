"""Accuracy and speed of airspace.frames.LocalFrame within 50 km of the Shenzhen-Nanshan origin.

Prints the worst round-trip error (oracle: pyproj Geod.inv between the input and the output), the worst
relative error of horizontal distances against Geod.inv, and the conversion rate. A measurement, not a test:
``.venv/bin/python bench/frame_bench.py``.
"""

from __future__ import annotations

import time

import numpy as np
from pyproj import Geod

from airspace.frames import LocalFrame

N = 1_000_000
GEOD = Geod(ellps="WGS84")


def main() -> None:
    frame = LocalFrame(22.53, 113.93, 2.0)
    rng = np.random.default_rng(20261127)
    az = rng.uniform(-180.0, 180.0, N)
    dist = 50_000.0 * np.sqrt(rng.uniform(0.0, 1.0, N))
    lon, lat, _ = GEOD.fwd(np.full(N, frame.lon0_deg), np.full(N, frame.lat0_deg), az, dist)
    h = rng.uniform(0.0, 600.0, N)
    t0 = time.perf_counter()
    x, y, z = frame.to_local(lon, lat, h)
    t1 = time.perf_counter()
    lon2, lat2, h2 = frame.to_geodetic(x, y, z)
    t2 = time.perf_counter()
    _, _, round_trip_m = GEOD.inv(lon, lat, lon2, lat2)
    half = N // 2
    _, _, geodesic_m = GEOD.inv(lon[:half], lat[:half], lon[half:], lat[half:])
    local_m = np.hypot(x[:half] - x[half:], y[:half] - y[half:])
    keep = geodesic_m > 100.0
    rel = np.abs(local_m[keep] - geodesic_m[keep]) / geodesic_m[keep]
    print(f"LocalFrame(22.53, 113.93), {N:,} points within 50 km, heights 0-600 m")
    dz_m = np.abs(h2 - h).max()
    print(f"  round trip: max horizontal {round_trip_m.max() * 1e3:.2e} mm, max vertical {dz_m:.1e} m")
    print(f"  distance vs Geod.inv: max relative error {rel.max():.2e} (median {np.median(rel):.1e})")
    fwd, inv = N / (t1 - t0) / 1e6, N / (t2 - t1) / 1e6
    print(f"  to_local {fwd:.2f} M points/s, to_geodetic {inv:.2f} M points/s")


if __name__ == "__main__":
    main()
