"""What the web map's frames cost the server: 10,000 vehicles, 60 s windows, binary against JSON.

Writes a synthetic event log (10,000 vehicles at 1 Hz for 180 s, straight legs at 15 m/s) to a temporary
folder, then times reading a 60 s window and encoding it as the page's binary frames (``format=bin``),
at stride 1 and 5, beside the columnar JSON of /frames; prints milliseconds, payload bytes and bytes per
vehicle-sample. A measurement, not a test: ``.venv/bin/python bench/map_bench.py``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from api.frames_bin import encode_frames, frame_columns
from sim.eventlog import EventLog, read_log

VEHICLES = 10_000
SECONDS = 180
WINDOW_S = (60.0, 120.0)
COLUMNS = ["t_s", "flight", "x_m", "y_m", "z_m", "vx_mps", "vy_mps", "vz_mps", "mode"]


def write_log(directory: Path) -> None:
    rng = np.random.default_rng(20261129)
    start = rng.uniform(-8000.0, 8000.0, (VEHICLES, 2))
    heading = rng.uniform(0.0, 2.0 * np.pi, VEHICLES)
    vel = np.column_stack([15.0 * np.sin(heading), 15.0 * np.cos(heading), np.zeros(VEHICLES)])
    z = rng.choice([45.0, 75.0, 105.0], VEHICLES)
    flight = np.arange(VEHICLES)
    mode = rng.choice(5, VEHICLES, p=[0.8, 0.1, 0.04, 0.01, 0.05]).astype(np.int8)
    header = {"software_version": "bench", "seed": 0, "scenario": {"name": "map-bench"}}
    with EventLog(directory, header) as log:
        for t in range(SECONDS + 1):
            pos = np.column_stack([start + vel[:, :2] * t, z])
            log.states(float(t), flight, pos, vel, mode)


def best_of(repeats: int, fn) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1e3, out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "log"
        write_log(directory)
        read_ms, states = best_of(3, lambda: read_log(directory, columns=COLUMNS, window_s=WINDOW_S).states)
        samples = states.num_rows
        print(
            f"{VEHICLES:,} vehicles, a {WINDOW_S[1] - WINDOW_S[0]:.0f} s window: {samples:,} vehicle-samples"
        )
        print(f"  read the window from Parquet          {read_ms:8.1f} ms")
        for stride in (1, 5):
            ms, payload = best_of(
                3, lambda s=stride: encode_frames(frame_columns(states, s, None), *WINDOW_S)
            )
            kept = samples // stride
            print(
                f"  binary frames, stride {stride}            {ms:8.1f} ms  {len(payload) / 1e6:6.2f} MB"
                f"  {len(payload) / kept:5.1f} B/sample"
            )
        json_ms, text = best_of(1, lambda: json.dumps({c: states[c].to_pylist() for c in COLUMNS}))
        print(
            f"  the same as JSON columns (/frames)    {json_ms:8.1f} ms  {len(text) / 1e6:6.2f} MB"
            f"  {len(text) / samples:5.1f} B/sample"
        )


if __name__ == "__main__":
    main()
