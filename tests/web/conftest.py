"""Fixtures for the web map's browser tests: one small simulated run, one ``utm6g serve`` over it (also the
live service), dev-key tokens, and a headless Debian Chromium driven by playwright.

The run and the server are shared by the whole session (the simulation takes about 20 s); each test gets
its own browser context. The page's CSP forbids eval, so waiting is done by polling ``page.evaluate``
(which CDP runs outside the CSP), never with ``wait_for_function``. Layer: tests of api/web.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from api.cli import main
from api.keys import mint_token, write_dev_keys
from api.local_server import LocalServer

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "scenarios" / "shenzhen-nanshan" / "tiny.yaml"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
AUDIENCE = "localhost"
REPLAY = "utm6g.replay.read"
LIVE = "utm6g.live.read"
OPERATOR = "utm.strategic_coordination"
BUSY = [
    "--set",
    "demand.flights_per_hour=3000",
    "--set",
    "comms.profile=6g-isac-fr1",
    "--set",
    "traffic.noncooperative_share=0.1",
]


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory) -> Path:
    """A runs folder holding ``busy``: the tiny scenario at 3000 flights/h over a sensing 6G network."""
    root = tmp_path_factory.mktemp("runs")
    assert main(["simulate", str(TINY), "--out", str(root / "busy"), "--quiet", *BUSY]) == 0
    return root


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> tuple[Path, Path]:
    return write_dev_keys(tmp_path_factory.mktemp("web-keys"))


@pytest.fixture(scope="session")
def mint(keys) -> Callable[[str, str], str]:
    """``mint(sub, scopes)``: a token the test server trusts."""
    return lambda sub, scopes: mint_token(keys[0], sub=sub, scopes=scopes, audience=AUDIENCE)


@pytest.fixture(scope="session")
def server(runs_root, keys, tmp_path_factory) -> Iterator[LocalServer]:
    """``utm6g serve`` on 127.0.0.1 over ``runs_root``; its live feed is the operator service's."""
    tmp = tmp_path_factory.mktemp("web-serve")
    with LocalServer(
        tmp / "utm6g.sqlite", keys[1], audience=AUDIENCE, runs_dir=runs_root, log_path=tmp / "serve.log"
    ) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium; no background traffic of its own (the offline test counts requests)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield launched
        finally:
            launched.close()


class MapPage:
    """A browser page on the map: ``state(expr)`` reads ``window.utm6g``, ``wait(expr)`` polls until true.

    Uncaught page errors are collected in ``errors``; every test asserts there are none.
    """

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda err: self.errors.append(str(err)))

    def js(self, expression: str, arg: Any = None) -> Any:
        """``page.evaluate``: an expression, or a function called with ``arg``; promises are awaited."""
        return self.page.evaluate(expression, arg)

    def wait(self, expression: str, timeout_s: float = 20.0) -> Any:
        """The first truthy value of ``expression``, or fail with the page state and #status text."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.page.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {expression}; page: {self.snapshot()}")
            time.sleep(0.05)

    def snapshot(self) -> dict[str, Any]:
        return self.page.evaluate(
            "({state: window.utm6g && {ready: utm6g.ready, mode: utm6g.mode, t: utm6g.t, drawn: utm6g.drawn,"
            " pending: utm6g.pending, selected: utm6g.selected},"
            " status: document.getElementById('status').textContent})"
        )

    def open(self, url: str) -> MapPage:
        self.page.goto(url)
        self.wait("window.utm6g !== undefined && window.utm6g.ready")
        return self

    def status(self) -> str:
        return self.page.evaluate(
            "document.getElementById('status').hidden ? '' : document.getElementById('status').textContent"
        )

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()


@pytest.fixture
def map_page(browser) -> Iterator[MapPage]:
    """A fresh browser context (own sessionStorage) at 1400 x 900 CSS px."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        yield MapPage(context.new_page())
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """tests/web/artifacts (git-ignored): screenshots and figures for a human to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
