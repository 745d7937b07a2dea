"""``create_app(settings)``: the HTTP service — the operator API, USS reads, geofences, flight_planning.

Layer: api.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import api
from airspace.region import load_region
from airspace.routes import RouteGraph
from api.auth import TokenVerifier
from api.errors import install_error_handlers
from api.live import LiveFeed, service_feed
from api.routes import audit, flight_planning, geofences, intents, live, replay, uss, web
from api.settings import Settings
from utm.deconfliction import Policy
from utm.service import UTMService
from utm.store import Store

__all__ = ["BUNDLED_REGION", "create_app"]

BUNDLED_REGION = Path(api.__file__).resolve().parents[1] / "scenarios" / "shenzhen-nanshan" / "region.yaml"
TICK_S = 1.0  # conformance timers (60 s Nonconforming, 15 s silence) are checked this often


def utc_now() -> datetime:
    """The wall clock, at the edge only (the simulator passes its own)."""
    return datetime.now(UTC)


def create_app(
    settings: Settings, *, clock: Callable[[], datetime] = utc_now, feed: LiveFeed | None = None
) -> FastAPI:
    """The service for ``settings.region`` (default: bundled Shenzhen-Nanshan) on ``settings.db_path``, and
    the web map; ``feed`` is what /live/v1 shows (default: this service's intents and telemetry)."""
    region = load_region(settings.region or BUNDLED_REGION)
    store = Store(settings.db_path, region.frame)
    policy = Policy(allow_equal_priority=settings.allow_equal_priority, max_area_km2=settings.max_area_km2)
    service = UTMService(
        store,
        clock=clock,
        policy=policy,
        grid=region.grid,
        routes=RouteGraph(region.grid, region.geofences),
        geofences=region.geofences,
    )

    feed = feed or service_feed(service, region, settings.tile_url)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        feed.hub.bind(asyncio.get_running_loop())
        ticker = asyncio.create_task(_tick_forever(service))
        try:
            yield
        finally:
            ticker.cancel()
            store.close()

    app = FastAPI(
        title="utm6g",
        version="0.1.0",
        summary="UTM service: F3548 operational intents, strategic deconfliction, conformance, geofences.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.frame = region.frame
    app.state.verifier = TokenVerifier.from_settings(settings)
    install_error_handlers(app)
    app.state.runs_dir = settings.runs_dir
    app.state.live = feed
    routers = (intents, uss, geofences, flight_planning, audit, replay, live, web)
    for module in routers:
        app.include_router(module.router)
    web.mount_web(app)
    return app


async def _tick_forever(service: UTMService) -> None:
    """Run the conformance timers once a second, off the event loop."""
    while True:
        await asyncio.sleep(TICK_S)
        await run_in_threadpool(service.tick)
