"""The web map's page and assets: ``/`` and ``/web/...``, all shipped in the package (no network needed).

The page needs no token to load; every data request it makes carries one. Its Content-Security-Policy keeps
it on this origin (plus the optional tile server's images), so an offline operations room sees no request
leave the machine. Layer: api.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["WEB_DIR", "content_security_policy", "mount_web", "router"]

WEB_DIR = Path(__file__).resolve().parents[1] / "web"

router = APIRouter(tags=["web map"])


def content_security_policy(tile_url: str | None) -> str:
    """Same origin only; images also from the tile server when one is configured."""
    images = "'self' data: blob:"
    if tile_url:
        parts = urlsplit(tile_url)
        images += f" {parts.scheme}://{parts.netloc}"
    return (
        f"default-src 'self'; img-src {images}; connect-src 'self'; script-src 'self'; style-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


@router.get("/", include_in_schema=False)
def index(request: Request) -> FileResponse:
    """The single-page map (replay ``#run=NAME``, live ``#live``; token in the fragment or asked for)."""
    return FileResponse(
        WEB_DIR / "index.html",
        headers={
            "Content-Security-Policy": content_security_policy(request.app.state.settings.tile_url),
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def mount_web(app: FastAPI) -> None:
    """Serve the page's scripts and styles under ``/web``."""
    app.mount("/web", StaticFiles(directory=WEB_DIR, check_dir=False), name="web")
