"""The live airspace for the web map: its static layers and a Server-Sent Events stream of what changes.

The feed is the operator service's (intents and telemetry as they are committed) or, under ``utm6g simulate
--live``, the running simulation's frames. Both need the ``utm6g.live.read`` scope. Layer: api.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.deps import LiveReader

__all__ = ["router"]

router = APIRouter(prefix="/live/v1", tags=["live"])


@router.get("/map")
def get_live_map(request: Request, _: LiveReader) -> dict[str, Any]:
    """The static layers of the live airspace (cells, geofences, hubs, sites), as for a recorded run."""
    return request.app.state.live.layers()


@router.get("/stream", response_class=StreamingResponse)
async def get_live_stream(request: Request, _: LiveReader) -> StreamingResponse:
    """``text/event-stream``: hello, a snapshot of the live intents, then intents, telemetry and frames."""
    return StreamingResponse(
        request.app.state.live.hub.stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
