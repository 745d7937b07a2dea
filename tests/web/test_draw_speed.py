"""The web map draws 10,000 vehicles well inside a frame, in headless software rendering (no GPU).

The page's frames requests are answered with a synthetic 10,000-vehicle run (api.frames_bin.encode_frames,
the server's own encoder), so the page parses, interpolates, counts cell occupancy, builds trails and draws
exactly as for a recorded run. The figures go to tests/web/artifacts/draw-10k.json. Measured on a 2-core
box: with every marker and trail a canvas path, 53 ms forced (17 fps playing); stamped into the page's own
pixel buffer (api/web/js/raster.js), about 18 ms forced (50+ fps).
"""

from __future__ import annotations

import json
import statistics
import time
from urllib.parse import parse_qs, urlsplit

import numpy as np

from api.frames_bin import encode_frames

VEHICLES = 10_000
SAMPLE_S = 5.0  # sampling of the synthetic run (a bigger step keeps the payloads small)
FORCED_BUDGET_MS = 35.0  # twice the median measured, for a loaded CI box; paths took 53 ms
WARM_UP = 5  # unmeasured frames first: the page is timed as it animates, not while V8 compiles it


def synthetic_frames(t0_s: float, t1_s: float, stride: int) -> bytes:
    """VEHICLES straight-flying drones over the 20 km region, every mode, a quarter of them sensed."""
    rng = np.random.default_rng(7)
    x0, y0 = rng.uniform(-9000.0, 9000.0, (2, VEHICLES))
    heading = rng.uniform(0.0, 2 * np.pi, VEHICLES)
    speed = rng.uniform(8.0, 25.0, VEHICLES)
    vx, vy = speed * np.sin(heading), speed * np.cos(heading)
    z = rng.uniform(30.0, 450.0, VEHICLES)
    mode = rng.choice(5, VEHICLES, p=[0.7, 0.05, 0.05, 0.02, 0.18]).astype(np.uint8)
    sensed = (rng.uniform(size=VEHICLES) < 0.25).astype(np.uint8)
    times = np.arange(t0_s, t1_s + 1e-9, SAMPLE_S * stride)
    n = len(times)
    columns = {
        "time_s": times.astype("<f8"),
        "slice_start": (np.arange(n + 1) * VEHICLES).astype("<u4"),
        "flight": np.tile(np.arange(VEHICLES), n).astype("<i4"),
        "x_m": (x0 + vx * times[:, None]).ravel().astype("<f4"),
        "y_m": (y0 + vy * times[:, None]).ravel().astype("<f4"),
        "z_m": np.tile(z, n).astype("<f4"),
        "vx_mps": np.tile(vx, n).astype("<f4"),
        "vy_mps": np.tile(vy, n).astype("<f4"),
        "vz_mps": np.zeros(n * VEHICLES, "<f4"),
        "mode": np.tile(mode, n),
        "sensed": np.tile(sensed, n),
    }
    return encode_frames(columns, t0_s, t1_s)


def test_ten_thousand_vehicles_draw_within_a_frame_budget(map_page, server, mint, artifacts):
    """Median forced draw time of a 10,000-vehicle frame, every layer but coverage on, is within budget.

    ``lastFrameMs`` is the page's own figure (JavaScript: interpolation, occupancy, trails, stamping); the
    forced figure is the whole seek plus a pixel read-back, which makes the canvas rasterise before it
    returns: what a frame really costs. The first ``WARM_UP`` frames are not timed: they run while V8 still
    compiles the page's loops (measured: the same 15 frames had a median 1.1-1.4x higher drawn first than
    drawn again).
    """

    def answer(route):
        query = parse_qs(urlsplit(route.request.url).query)
        body = synthetic_frames(float(query["t0"][0]), float(query["t1"][0]), int(query["stride"][0]))
        route.fulfill(status=200, body=body, content_type="application/octet-stream")

    map_page.page.route("**/replay/v1/runs/busy/frames?*", answer)
    map_page.open(f"{server.url}/#run=busy&t=120&token={mint('speed', 'utm6g.replay.read')}")
    assert map_page.js("utm6g.drawn") == VEHICLES
    assert map_page.js("utm6g.drawnFlights.length") == VEHICLES

    for t in np.linspace(120.5, 121.5, WARM_UP):  # compiles the page's hot loops, as any first frames do
        map_page.js("(t) => utm6g.seek(t)", float(t))
    js_ms, forced_ms = [], []
    for k in range(15):
        t = 122.0 + 2.37 * k  # between samples: every vehicle interpolated
        forced_ms.append(
            map_page.js(
                "async (t) => { const t0 = performance.now(); await utm6g.seek(t);"
                " document.getElementById('map').getContext('2d').getImageData(0, 0, 1, 1);"
                " return performance.now() - t0; }",
                t,
            )
        )
        js_ms.append(map_page.js("utm6g.lastFrameMs"))
        assert map_page.js("utm6g.drawn") == VEHICLES

    map_page.page.select_option("#speed", "10")
    draws = map_page.js("utm6g.draws")
    map_page.page.click("#play")
    time.sleep(2.0)
    fps = (map_page.js("utm6g.draws") - draws) / 2.0
    map_page.page.click("#play")
    map_page.page.screenshot(path=artifacts / "map-10k.png")

    figures = {
        "vehicles": VEHICLES,
        "last_frame_ms_median": statistics.median(js_ms),
        "last_frame_ms_max": max(js_ms),
        "forced_ms_median": statistics.median(forced_ms),
        "forced_ms_max": max(forced_ms),
        "forced_budget_ms": FORCED_BUDGET_MS,
        "playing_fps": fps,
    }
    (artifacts / "draw-10k.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"10k vehicles: {figures}")
    assert figures["forced_ms_median"] <= FORCED_BUDGET_MS, figures
    assert not map_page.errors
