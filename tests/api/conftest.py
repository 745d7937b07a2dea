"""Opt-in fixtures for the HTTP tests: dev keys, cached tokens, F3548 bodies, a real ``utm6g serve``.

Nothing here is autouse: a test gets a fixture only by naming it. Builders come as the ``wire`` fixture
(a namespace), so test modules need not import this file. Servers listen on 127.0.0.1 only and are always
stopped by the fixture's finaliser. Layer: tests of api.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from pyproj import Geod

from api.keys import mint_token, write_dev_keys
from api.local_server import LocalServer

AUDIENCE = "localhost"
OPERATOR = "utm.strategic_coordination"
GEOD = Geod(ellps="WGS84")
OPEN_LAT, OPEN_LNG = 22.545, 113.96  # centre of Shenzhen-Nanshan: no geozone here
W84_OUT_OF_GRID_M = (502.0, 540.0)  # above every layer of the region: no cell-capacity rule applies

Mint = Callable[..., str]


@pytest.fixture(scope="session")
def dev_keys(tmp_path_factory) -> tuple[Path, Path]:
    """(private.pem, public.pem) of the key pair the test servers trust."""
    return write_dev_keys(tmp_path_factory.mktemp("dev-keys"))


@pytest.fixture(scope="session")
def foreign_keys(tmp_path_factory) -> tuple[Path, Path]:
    """Another key pair: tokens signed with it must be refused."""
    return write_dev_keys(tmp_path_factory.mktemp("foreign-keys"))


@pytest.fixture(scope="session")
def mint(dev_keys) -> Mint:
    """``mint(sub, scopes=OPERATOR, audience=AUDIENCE)``: a token from the trusted key, cached."""
    cache: dict[tuple[str, str, str], str] = {}

    def make(sub: str, scopes: str = OPERATOR, audience: str = AUDIENCE) -> str:
        key = (sub, scopes, audience)
        if key not in cache:
            cache[key] = mint_token(dev_keys[0], sub=sub, scopes=scopes, audience=audience)
        return cache[key]

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def start_server(dev_keys, tmp_path) -> Iterator[Callable[[Path], LocalServer]]:
    """``start_server(db_path)``: a started ``utm6g serve`` on 127.0.0.1; every one is stopped at teardown."""
    started: list[LocalServer] = []

    def start(db_path: Path) -> LocalServer:
        server = LocalServer(db_path, dev_keys[1], audience=AUDIENCE, log_path=tmp_path / "serve.log")
        started.append(server)
        return server.start(timeout_s=60.0)

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def server(dev_keys, tmp_path_factory) -> Iterator[LocalServer]:
    """One ``utm6g serve`` shared by a module's tests (each test uses its own place or time)."""
    tmp = tmp_path_factory.mktemp("serve")
    with LocalServer(
        tmp / "utm6g.sqlite", dev_keys[1], audience=AUDIENCE, log_path=tmp / "serve.log"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def runs_server(dev_keys, runs, tmp_path_factory) -> Iterator[LocalServer]:
    """A real ``utm6g serve --runs`` on the requesting module's ``runs`` folder, for the module."""
    tmp = tmp_path_factory.mktemp("runs-serve")
    with LocalServer(tmp / "db.sqlite", dev_keys[1], log_path=tmp / "serve.log", runs_dir=runs) as server:
        yield server


@pytest.fixture(scope="module")
def replay(runs_server, mint) -> Callable[..., httpx.Response]:
    """``replay(path, scope="utm6g.replay.read", **params)``: GET on ``runs_server`` as a regulator."""

    def get(path: str, scope: str = "utm6g.replay.read", **params: Any) -> httpx.Response:
        headers = bearer(mint("regulator", scopes=scope))
        return httpx.get(f"{runs_server.url}{path}", headers=headers, params=params, timeout=60.0)

    return get


# --- F3548 bodies ------------------------------------------------------------------------------------


def f3548_time(t: datetime) -> dict[str, str]:
    return {"value": t.astimezone(UTC).isoformat().replace("+00:00", "Z"), "format": "RFC3339"}


def f3548_volume(
    vertices: list[tuple[float, float]],
    start: datetime,
    end: datetime,
    *,
    altitude_m: tuple[float, float] = W84_OUT_OF_GRID_M,
) -> dict[str, Any]:
    """An F3548 Volume4D: polygon of (lat, lng) vertices, W84 heights, RFC 3339 window."""
    return {
        "volume": {
            "outline_polygon": {"vertices": [{"lat": lat, "lng": lng} for lat, lng in vertices]},
            "altitude_lower": {"value": altitude_m[0], "reference": "W84", "units": "M"},
            "altitude_upper": {"value": altitude_m[1], "reference": "W84", "units": "M"},
        },
        "time_start": f3548_time(start),
        "time_end": f3548_time(end),
    }


def geod_square(lat: float, lng: float, side_m: float) -> list[tuple[float, float]]:
    """(lat, lng) of a ``side_m`` square centred on (lat, lng); corners along geodesics (NE, SE, SW, NW)."""
    lngs, lats, _ = GEOD.fwd([lng] * 4, [lat] * 4, [45.0, 135.0, 225.0, 315.0], [side_m / 2**0.5] * 4)
    return list(zip(lats, lngs, strict=True))


def plan_body(
    vertices: list[tuple[float, float]],
    start: datetime,
    *,
    minutes: float = 10.0,
    priority: int = 0,
    state: str = "Accepted",
    altitude_m: tuple[float, float] = W84_OUT_OF_GRID_M,
) -> dict[str, Any]:
    """A create/update body with one volume over [start, start + minutes]."""
    volume = f3548_volume(vertices, start, start + timedelta(minutes=minutes), altitude_m=altitude_m)
    return {"state": state, "priority": priority, "volumes": [volume]}


@pytest.fixture(scope="session")
def wire() -> SimpleNamespace:
    """The body builders and constants above, for test modules (``wire.plan_body(...)``)."""
    return SimpleNamespace(
        AUDIENCE=AUDIENCE,
        OPERATOR=OPERATOR,
        GEOD=GEOD,
        OPEN_LAT=OPEN_LAT,
        OPEN_LNG=OPEN_LNG,
        W84_OUT_OF_GRID_M=W84_OUT_OF_GRID_M,
        bearer=bearer,
        time=f3548_time,
        volume=f3548_volume,
        square=geod_square,
        plan_body=plan_body,
    )
