"""Optional background tiles: a server started with a tile URL (``utm6g serve --tiles``) makes the page fetch
the slippy-map tiles covering the view at the zoom of its scale, and draw them under the traffic.

Oracles: a loopback tile server that records what it was asked for; the standard Web Mercator tile formulas
over the view's corners converted with pyproj (airspace.frames.LocalFrame); the screenshot's pixels.
"""

from __future__ import annotations

import io
import math
import re
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest
from PIL import Image

from airspace.frames import LocalFrame
from api.local_server import LocalServer

REPLAY = "utm6g.replay.read"
TILE_RGB = (200, 0, 200)  # a colour no other layer uses
TILE_ALPHA = 0.55  # api/web/js/tiles.js ALPHA
BACKGROUND_RGB = (0xDD, 0xE2, 0xE8)  # api/web/js/colors.js BACKGROUND
TILE_PATH = re.compile(r"^/(\d+)/(\d+)/(\d+)\.png$")


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour RGB PNG, written by hand (zlib and struct only)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def missing(z: int, x: int, y: int) -> bool:
    """The tiles the test server does not have (answered 404), about a third."""
    return (x + y) % 3 == 0


class TileServer:
    """``http://127.0.0.1:PORT/{z}/{x}/{y}.png`` in a thread: TILE_RGB tiles, 404 for ``missing`` ones."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        tile = png(256, 256, TILE_RGB)
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                paths.append(self.path)
                found = TILE_PATH.match(self.path)
                if not found or missing(*map(int, found.groups())):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(tile)))
                self.end_headers()
                self.wfile.write(tile)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.template = f"http://127.0.0.1:{self.httpd.server_port}/{{z}}/{{x}}/{{y}}.png"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def tiles(self) -> list[tuple[int, int, int]]:
        return [tuple(map(int, m.groups())) for p in list(self.paths) if (m := TILE_PATH.match(p))]


@pytest.fixture
def tile_server() -> Iterator[TileServer]:
    server = TileServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def tiled_server(runs_root, keys, tile_server, tmp_path) -> Iterator[LocalServer]:
    """``utm6g serve --tiles`` over the runs, naming the test tile server."""
    db = tmp_path / "utm6g.sqlite"
    with LocalServer(
        db, keys[1], audience="localhost", runs_dir=runs_root, tile_url=tile_server.template
    ) as running:
        yield running


def tile_range(frame: LocalFrame, corners_m: np.ndarray, z: int) -> set[tuple[int, int]]:
    """(x, y) of the Web Mercator tiles at zoom ``z`` covering the local points' bounding lon/lat box."""
    lon, lat, _ = frame.to_geodetic(corners_m[:, 0], corners_m[:, 1])
    n = 2**z
    tx = (lon + 180.0) / 360.0 * n
    ty = (1.0 - np.log(np.tan(np.radians(lat)) + 1.0 / np.cos(np.radians(lat))) / math.pi) / 2.0 * n
    xs = range(int(np.floor(tx.min())), int(np.floor(tx.max())) + 1)
    ys = range(int(np.floor(ty.min())), int(np.floor(ty.max())) + 1)
    return {(x, y) for x in xs for y in ys}


def view_corners(map_page, inset_px: float) -> np.ndarray:
    """The local (x, y) of the page's four corners moved ``inset_px`` inwards (negative: outwards)."""
    (ox, oy), (px, _) = map_page.js("[utm6g.project(0, 0), utm6g.project(1000, 0)]")
    scale = (px - ox) / 1000.0
    width, height = map_page.js("[innerWidth, innerHeight]")
    screen = [(sx, sy) for sx in (inset_px, width - inset_px) for sy in (inset_px, height - inset_px)]
    return np.array([((sx - ox) / scale, (oy - sy) / scale) for sx, sy in screen])


def matches_view(map_page, lat_deg: float, z: int) -> bool:
    """Whether zoom ``z``'s ground resolution is within a factor sqrt(2) of the view's metres per pixel."""
    (ox, _), (px, _) = map_page.js("[utm6g.project(0, 0), utm6g.project(1000, 0)]")
    tile_m_per_px = 156543.03 * math.cos(math.radians(lat_deg)) / 2**z
    return 1 / math.sqrt(2) <= tile_m_per_px / (1000.0 / (px - ox)) <= math.sqrt(2)


def tile_share(screenshot: bytes) -> float:
    """Share of the screenshot's pixels showing a tile over the bare background."""
    rgb = np.asarray(Image.open(io.BytesIO(screenshot)).convert("RGB"), dtype=float)
    expected = TILE_ALPHA * np.array(TILE_RGB) + (1 - TILE_ALPHA) * np.array(BACKGROUND_RGB)
    return float(np.mean(np.all(np.abs(rgb - expected) <= 3, axis=-1)))


def test_the_map_draws_the_tiles_of_its_view_under_the_traffic(
    map_page, tiled_server, tile_server, mint, artifacts
):
    """The page asks for exactly the tiles covering its view at the zoom whose ground resolution matches the
    view's metres per pixel, draws them, credits the tile host, and asks for a failing tile only once."""
    token = mint("tiles", REPLAY)
    map_page.open(f"{tiled_server.url}/#run=busy&token={token}")
    map_page.wait("utm6g.tilesDrawn > 0")
    bearer = {"Authorization": f"Bearer {token}"}
    answer = httpx.get(f"{tiled_server.url}/replay/v1/runs/busy/map", headers=bearer, timeout=30.0)
    assert answer.json()["tile_url"] == tile_server.template
    origin = answer.json()["origin"]
    frame = LocalFrame(origin["lat_deg"], origin["lon_deg"], origin["h_m"])

    zooms = Counter(z for z, _, _ in tile_server.tiles())
    assert len(zooms) == 1, zooms
    z = next(iter(zooms))
    assert 10 <= z <= 19 and matches_view(map_page, origin["lat_deg"], z)

    asked = {(x, y) for _, x, y in tile_server.tiles()}
    inner = tile_range(frame, view_corners(map_page, 1.0), z)
    outer = tile_range(frame, view_corners(map_page, -1.0), z)
    assert inner <= asked <= outer, (sorted(inner), sorted(asked))
    lon0, lat0 = 113.9, 22.5  # Shenzhen: its tile is among them
    n = 2**z
    shenzhen = (
        int((lon0 + 180) / 360 * n),
        int((1 - math.asinh(math.tan(math.radians(lat0))) / math.pi) / 2 * n),
    )
    assert shenzhen in asked, (shenzhen, sorted(asked))
    assert any(missing(z, x, y) for x, y in asked) and any(not missing(z, x, y) for x, y in asked)

    map_page.wait(f"utm6g.tilesDrawn === {sum(not missing(z, x, y) for x, y in asked)}")
    for k in range(5):  # redraws at other times: no tile, failed or not, is asked for again
        assert map_page.js(f"utm6g.seek({300 + 10 * k})") is True
    time.sleep(0.3)
    assert max(Counter(tile_server.paths).values()) == 1
    shot = map_page.page.screenshot(path=artifacts / "map-tiles.png")
    assert tile_share(shot) > 0.02
    assert map_page.text("#tile-credit") == f"map tiles: {tile_server.template.split('/')[2]}"

    map_page.page.mouse.move(900, 450)
    map_page.page.mouse.wheel(0, -600)  # zoom in 2.5 times: the next zoom's tiles
    deadline = time.monotonic() + 10.0
    while max(tz for tz, _, _ in tile_server.tiles()) == z and time.monotonic() < deadline:
        time.sleep(0.05)
    finer = max(tz for tz, _, _ in tile_server.tiles())
    assert finer > z and matches_view(map_page, origin["lat_deg"], finer)
    assert not map_page.errors


def test_the_page_projects_lat_lon_as_the_regions_frame(map_page, server, mint):
    """The page's WGS84 -> local conversion (tiles.js) against pyproj's azimuthal equidistant frame: within
    5 cm up to 20 km from the origin, and back again."""
    map_page.open(f"{server.url}/#run=busy&token={mint('tiles', REPLAY)}")
    lat0, lon0 = 22.53, 113.93
    frame = LocalFrame(lat0, lon0, 0.0)
    rng = np.random.default_rng(3)
    distance_m = 20_000.0 * np.sqrt(rng.uniform(size=50))
    bearing = rng.uniform(0.0, 2 * np.pi, 50)
    x_m, y_m = distance_m * np.sin(bearing), distance_m * np.cos(bearing)
    lon, lat, _ = frame.to_geodetic(x_m, y_m)
    page = np.array(
        map_page.js(
            "async ([origin, points]) => { const { LocalProjection } = await import('/web/js/tiles.js');"
            " const p = new LocalProjection(origin);"
            " return points.map(([lat, lon]) => p.toLocal(lat, lon))"
            " .map((xy) => [...xy, ...p.toGeodetic(...xy)]); }",
            [{"lat_deg": lat0, "lon_deg": lon0}, np.column_stack([lat, lon]).tolist()],
        )
    )
    assert np.abs(page[:, 0] - x_m).max() < 0.05 and np.abs(page[:, 1] - y_m).max() < 0.05
    assert np.abs(page[:, 2] - lat).max() < 1e-8 and np.abs(page[:, 3] - lon).max() < 1e-8
    assert not map_page.errors
