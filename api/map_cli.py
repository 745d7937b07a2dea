"""``utm6g view RUN_DIR`` and ``utm6g simulate --live``: the web map on loopback, with a throwaway key.

Both start the real service (api.app) with a key pair made for this session in a temporary folder and print
the page's URL with a bearer token in its fragment (the fragment never reaches the server's logs). The
token reads runs and the live feed only; it dies with the key when the command ends. Layer: api.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import tempfile
import threading
import time
import webbrowser
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from api.cli_common import CommandError
from api.keys import mint_token, write_dev_keys
from api.local_server import free_port
from api.settings import Settings
from sim.run import LOG_DIR, find_log_dir

__all__ = [
    "LIVE_ONLY_FLAGS",
    "MAP_SCOPES",
    "MapSession",
    "add_live_arguments",
    "add_map_commands",
    "map_session",
    "run_live",
]

MAP_SCOPES = ("utm6g.replay.read", "utm6g.live.read")
LIVE_ONLY_FLAGS = {
    "--pace": "pace",
    "--host": "host",
    "--port": "port",
    "--tiles": "tiles",
    "--no-browser": "no_browser",
}
"""``simulate`` flags that mean something with ``--live`` only (refused without it)."""
DEFAULT_PACE = 10.0
TOKEN_LIFETIME_S = 12 * 3600
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class MapSession:
    """A temporary folder holding the session's key, database and served runs; the settings and token."""

    directory: Path
    settings: Settings
    token: str

    def url(self, fragment: str) -> str:
        host = self.settings.host
        return f"http://{host}:{self.settings.port}/#{fragment}&token={self.token}"


@contextlib.contextmanager
def map_session(
    host: str, port: int | None, *, region: Path | None = None, tile_url: str | None = None
) -> Iterator[MapSession]:
    """Keys, database and a runs folder in a temporary directory (removed afterwards), and a map token."""
    with tempfile.TemporaryDirectory(prefix="utm6g-map-") as tmp:
        directory = Path(tmp)
        private, public = write_dev_keys(directory / "keys")
        (directory / "runs").mkdir()
        settings = Settings(
            db_path=directory / "map.sqlite",
            host=host,
            port=port or free_port(),
            audience="localhost",
            jwt_public_key=public,
            region=region,
            runs_dir=directory / "runs",
            tile_url=tile_url,
        )
        token = mint_token(
            private, sub="map-viewer", scopes=MAP_SCOPES, audience="localhost", lifetime_s=TOKEN_LIFETIME_S
        )
        yield MapSession(directory, settings, token)


def add_map_commands(commands: argparse._SubParsersAction) -> None:
    """``view``: one run on the web map."""
    view = commands.add_parser(
        "view",
        help="show a run on the web map (starts a local server and prints its URL)",
        description="Serve RUN_DIR (a simulation's or an imported recording's folder, or its log/) on the "
        "web map at 127.0.0.1 and print the page's URL with a session token. Ctrl-C stops it.",
    )
    view.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder or its log/ folder")
    _add_server_arguments(view)
    view.set_defaults(run=_view)


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """``simulate --live``: watch the run on the web map as it goes."""
    parser.add_argument(
        "--live", action="store_true", help="serve the web map while the run goes and print its URL"
    )
    parser.add_argument(
        "--pace",
        type=float,
        metavar="X",
        help="with --live: at most X simulated seconds per wall second (default 10; 0 = as fast as it runs)",
    )
    _add_server_arguments(parser)


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: a free one)")
    parser.add_argument(
        "--tiles", metavar="URL", help="background map tiles, e.g. https://host/{z}/{x}/{y}.png"
    )
    parser.add_argument("--no-browser", action="store_true", help="only print the URL")


def _view(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    log_dir = find_log_dir(args.run_dir)
    if log_dir is None:
        raise CommandError(
            f"RUN_DIR: no event log in {args.run_dir} (expected a run folder with log/, or a log)"
        )
    folder = log_dir.parent if log_dir.name == LOG_DIR else log_dir  # serve the run folder: metrics too
    name = _UNSAFE.sub("-", folder.resolve().name).strip("-.") or "run"
    with _session(args) as session:
        (session.settings.runs_dir / name).symlink_to(folder.resolve(), target_is_directory=True)
        _announce(session.url(f"run={name}"), args.no_browser)
        settings = session.settings
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
    return 0


@contextlib.contextmanager
def _session(args: argparse.Namespace, region: Path | None = None) -> Iterator[MapSession]:
    """map_session from the command's flags; a bad flag becomes a one-line error naming it."""
    from pydantic import ValidationError

    try:
        session = map_session(args.host or "127.0.0.1", args.port, region=region, tile_url=args.tiles)
        with session as opened:
            yield opened
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise CommandError(f"--{ {'tile_url': 'tiles'}.get(field, field) }: {first['msg']}") from None


def _announce(url: str, no_browser: bool) -> None:
    print(f"web map: {url}", flush=True)
    if not no_browser:
        webbrowser.open(url)


def run_live(args: argparse.Namespace) -> int:
    """``utm6g simulate --live``: run the scenario with the map server beside it, paced for watching."""
    import uvicorn

    from api.app import create_app
    from api.live import LiveFeed, LiveHub, frame_payload
    from api.map_layers import map_layers
    from api.sim_console import prepare_out_dir, summary_lines
    from sim.run import simulate
    from sim.scenario import load_scenario

    pace = DEFAULT_PACE if args.pace is None else args.pace
    if not (pace >= 0.0):
        raise CommandError(f"--pace: must be >= 0 (got {pace})")
    loaded = load_scenario(args.scenario, args.set, seed=args.seed, duration_s=args.duration)
    out = args.out or Path("out") / f"{args.scenario.stem}-seed{loaded.spec.seed}"
    prepare_out_dir(out, args.overwrite)
    network = loaded.spec.comms.network()
    sites = None if network is None else network.channel.sites(loaded.region.grid.bounds_xy_m)
    hub = LiveHub("simulation", loaded.spec.start)

    def layers() -> dict:
        return map_layers(
            loaded.region,
            start=loaded.spec.start,
            span_s=(0.0, loaded.spec.duration_s),
            sites=sites,
            comms_profile=loaded.spec.comms.profile,
            sensing=network is not None and network.sensing is not None,
            separation=loaded.resolved.get("separation"),
            tile_url=args.tiles,
        )

    started = time.monotonic()

    def on_states(t_s: float, flight: np.ndarray, pos: np.ndarray, vel: np.ndarray, mode: np.ndarray) -> None:
        if pace > 0.0:  # hold the simulation back to the pace: it otherwise runs far ahead of the eye
            ahead_s = t_s / pace - (time.monotonic() - started)
            if ahead_s > 0.0:
                time.sleep(ahead_s)
        hub.publish("frame", frame_payload(t_s, flight, pos, vel, mode))

    with _session(args, region=loaded.spec.region) as session:
        config = uvicorn.Config(
            create_app(session.settings, feed=LiveFeed(hub, layers)),
            host=session.settings.host,
            port=session.settings.port,
            log_level="warning",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="utm6g-map", daemon=True)
        thread.start()
        while not server.started and thread.is_alive():
            time.sleep(0.05)
        if not thread.is_alive():
            where = f"{session.settings.host}:{session.settings.port}"
            raise CommandError(f"--port: the map server could not listen on {where}")
        _announce(session.url("live"), args.no_browser)
        wall = time.perf_counter()
        result = simulate(loaded, out, on_states=on_states)
        hub.publish("end", {})
        print(
            "\n".join(
                summary_lines(
                    loaded.spec.name, result.metrics, loaded.spec.duration_s, time.perf_counter() - wall
                )
            )
        )
        print(f"log:     {result.log_dir}\nthe map stays up until Ctrl-C", flush=True)
        try:
            while thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            server.should_exit = True
            thread.join(5.0)
    print("stopped", file=sys.stderr)
    return 0
