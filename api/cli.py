"""The ``utm6g`` command line: thin sub-commands over typed functions; errors are one line, exit status 2.

Layer: api.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from airspace.errors import AirspaceInputError
from airspace.region import Region, load_region
from airspace.routes import RouteGraph
from airspace.volumes import parse_time
from api.cli_common import CommandError, add_set_argument
from api.keys import PRIVATE_KEY_FILE, KeyToolError, mint_token, write_dev_keys
from api.map_cli import LIVE_ONLY_FLAGS, add_live_arguments, add_map_commands, run_live
from api.planner_cli import add_planner_commands
from api.regulator_cli import add_regulator_commands
from sim.errors import FieldError, ScenarioError

__all__ = ["CommandError", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``utm6g`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (
        AirspaceInputError,
        ScenarioError,
        FieldError,
        KeyError,
        KeyToolError,
        CommandError,
    ) as err:
        message = err.args[0] if isinstance(err, KeyError) else str(err)
        print(f"utm6g {args.command}: error: {message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="utm6g", description="UTM service and 6G airspace simulator.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    airspace = commands.add_parser(
        "airspace",
        help="summarise a region and write its GeoJSON and map",
        description="Print a region's cells, layers, geofences and hubs; write airspace.geojson and .png.",
    )
    airspace.add_argument("region", type=Path, help="the region.yaml to load")
    airspace.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: out)")
    airspace.add_argument(
        "--route",
        nargs=2,
        metavar=("FROM", "TO"),
        help="hub ids of the route to plan (default: the two hubs farthest apart)",
    )
    airspace.add_argument("--layer", help="layer name of the route (default: the lowest layer)")
    airspace.add_argument("--at", help="RFC 3339 time of the picture and the departure (default: now)")
    airspace.add_argument("--speed-mps", type=float, default=15.0, help="cruise speed of the route (m/s)")
    airspace.set_defaults(run=_airspace)
    _add_dev_keys(commands)
    _add_token(commands)
    _add_serve(commands)
    _add_demo(commands)
    _add_simulate(commands)
    _add_compare(commands)
    add_regulator_commands(commands)
    add_planner_commands(commands)
    add_map_commands(commands)
    return parser


def _airspace(args: argparse.Namespace) -> int:
    """``utm6g airspace``: summary on stdout, GeoJSON and PNG in ``--out``."""
    from api.region_geojson import region_geojson
    from api.region_map import write_region_map
    from api.region_summary import corridor_summary, region_summary

    region = load_region(args.region)
    at = parse_time(args.at, "--at") if args.at else datetime.now(UTC).replace(microsecond=0)
    layer = args.layer or region.grid.layers[0].name
    k = region.grid.layer_index(layer)
    origin, destination = args.route or _farthest_hubs(region)
    a, b = region.hub(origin), region.hub(destination)
    corridor = RouteGraph(region.grid, region.geofences).plan(
        (a.x_m, a.y_m), (b.x_m, b.y_m), t0=at, speed_mps=args.speed_mps, layer=layer
    )
    print(region_summary(region, at=at))
    print(corridor_summary(corridor, origin=origin, destination=destination, layer=layer))
    args.out.mkdir(parents=True, exist_ok=True)
    geojson_path, png_path = args.out / "airspace.geojson", args.out / "airspace.png"
    geojson_path.write_text(json.dumps(region_geojson(region, at=at, corridor=corridor)))
    write_region_map(region, png_path, at=at, corridor=corridor, layer=k)
    print(f"Wrote {geojson_path} and {png_path}")
    return 0


def _farthest_hubs(region: Region) -> tuple[str, str]:
    """Ids of the two hubs farthest apart (first in file order on ties): a route that crosses the region."""
    if len(region.hubs) < 2:
        raise KeyError(f"region {region.name} has fewer than two hubs; name a route with --route")
    a, b = max(
        itertools.combinations(region.hubs, 2),
        key=lambda pair: (pair[0].x_m - pair[1].x_m) ** 2 + (pair[0].y_m - pair[1].y_m) ** 2,
    )
    return a.id, b.id


def _add_dev_keys(commands: argparse._SubParsersAction) -> None:
    dev_keys = commands.add_parser(
        "dev-keys",
        help="write a local RSA key pair for development tokens",
        description="Write DIR/private.pem (mode 0600) and DIR/public.pem; never trust them in production.",
    )
    dev_keys.add_argument("directory", type=Path, metavar="DIR", help="folder for the key pair")
    dev_keys.add_argument("--force", action="store_true", help="replace an existing private key")
    dev_keys.set_defaults(run=_dev_keys)


def _dev_keys(args: argparse.Namespace) -> int:
    """``utm6g dev-keys``: write the pair, print the private then the public key's path."""
    for path in write_dev_keys(args.directory, force=args.force):
        print(path)
    return 0


def _add_token(commands: argparse._SubParsersAction) -> None:
    token = commands.add_parser(
        "token",
        help="mint an RS256 bearer token with a dev key",
        description="Print only the token, so that TOKEN=$(utm6g token ...) works.",
    )
    token.add_argument("--key", type=Path, required=True, metavar="DIR", help="folder of utm6g dev-keys")
    token.add_argument("--sub", required=True, help="the caller (becomes the intents' manager)")
    token.add_argument(
        "--scope", required=True, help='space-separated scopes, e.g. "utm.strategic_coordination"'
    )
    token.add_argument("--audience", required=True, help="the server's audience (its host name)")
    token.add_argument("--lifetime-s", default="3600", help="seconds until the token expires (default: 3600)")
    token.set_defaults(run=_token)


def _token(args: argparse.Namespace) -> int:
    """``utm6g token``: the token alone on stdout."""
    if not args.key.is_dir():
        raise KeyToolError("--key", f"no such directory ({args.key}); create one with utm6g dev-keys")
    private_path = args.key / PRIVATE_KEY_FILE
    if not private_path.is_file():
        raise KeyToolError("--key", f"no {PRIVATE_KEY_FILE} in {args.key}; create one with utm6g dev-keys")
    try:
        lifetime_s = int(args.lifetime_s)
    except ValueError:
        raise KeyToolError(
            "--lifetime-s", f"must be a whole number of seconds (got {args.lifetime_s!r})"
        ) from None
    token = mint_token(
        private_path, sub=args.sub, scopes=args.scope, audience=args.audience, lifetime_s=lifetime_s
    )
    print(token)
    return 0


def _add_serve(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the UTM service over HTTP",
        description="Run the operator API (F3548 names), USS reads, geofences and InterUSS flight_planning "
        "under uvicorn. Flags override UTM6G_* environment settings. A verification key is required.",
    )
    serve.add_argument("--db", type=Path, help="SQLite database file (default: utm6g.sqlite)")
    serve.add_argument("--host", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: 8000; 0 picks a free one)")
    serve.add_argument("--audience", help="the JWT aud this server accepts: its host name")
    keys = serve.add_mutually_exclusive_group()
    keys.add_argument("--jwt-public-key", type=Path, help="PEM file of the RS256 public key to trust")
    keys.add_argument("--jwks-url", help="JWKS URL of the token issuer")
    serve.add_argument("--region", type=Path, help="region.yaml (default: the bundled Shenzhen-Nanshan)")
    serve.add_argument("--runs", type=Path, help="a folder of run folders to serve under /replay/v1")
    serve.add_argument(
        "--tiles", metavar="URL", help="web map background tiles, e.g. https://host/{z}/{x}/{y}.png"
    )
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    """``utm6g serve``: settings from flags over the environment, then uvicorn with one worker."""
    import uvicorn
    from pydantic import ValidationError

    from api.app import create_app
    from api.settings import Settings

    flags = {
        "db_path": args.db,
        "host": args.host,
        "port": args.port,
        "audience": args.audience,
        "region": args.region,
        "runs_dir": args.runs,
        "tile_url": args.tiles,
    }
    overrides = {k: v for k, v in flags.items() if v is not None}
    if args.jwt_public_key is not None:  # a key given on the command line replaces one from the environment
        overrides |= {"jwt_public_key": args.jwt_public_key, "jwks_url": None}
    elif args.jwks_url is not None:
        overrides |= {"jwks_url": args.jwks_url, "jwt_public_key": None}
    try:
        settings = Settings(**overrides)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        flag = {"runs_dir": "runs", "tile_url": "tiles"}.get(field, field).replace("_", "-")
        raise CommandError(f"--{flag}: {first['msg']}") from None
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, workers=1, log_level="info")
    return 0


def _add_demo(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo",
        help="run a scripted operator session against a local server",
        description="Start utm6g serve with dev keys on a temporary database and drive it over HTTP: plans "
        "accepted and refused (with alternatives), activation, telemetry, a nonconformance, notifications.",
    )
    demo.add_argument("--region", type=Path, help="region.yaml (default: the bundled Shenzhen-Nanshan)")
    demo.set_defaults(run=_demo)


def _demo(args: argparse.Namespace) -> int:
    from api.app import BUNDLED_REGION
    from api.demo import run_demo

    return run_demo(args.region or BUNDLED_REGION)


def _add_simulate(commands: argparse._SubParsersAction) -> None:
    simulate = commands.add_parser(
        "simulate",
        help="fly a scenario through the UTM service and write its log, metrics and report",
        description="Run a scenario file: the SimPy engine flies its traffic through the same UTM service "
        "the HTTP API serves, with tactical CD&R over the scenario's comms model. Writes DIR/log/ (Parquet "
        "event log), DIR/metrics.json and DIR/report.html.",
    )
    simulate.add_argument("scenario", type=Path, help="the scenario YAML file")
    simulate.add_argument("--seed", type=int, help="override the scenario's seed")
    simulate.add_argument("--duration", type=float, metavar="S", help="override the duration (s)")
    add_set_argument(simulate)
    simulate.add_argument("--out", type=Path, help="output folder (default: out/<scenario>-seed<N>)")
    simulate.add_argument("--overwrite", action="store_true", help="replace a previous run in the folder")
    simulate.add_argument("--quiet", action="store_true", help="no progress bar")
    add_live_arguments(simulate)
    simulate.set_defaults(run=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    from api.sim_console import run_with_progress

    if args.live:
        return run_live(args)
    given = [flag for flag, dest in LIVE_ONLY_FLAGS.items() if getattr(args, dest) not in (None, False)]
    if given:
        raise CommandError(f"{given[0]}: only with --live")

    return run_with_progress(
        args.scenario,
        overrides=args.set,
        seed=args.seed,
        duration_s=args.duration,
        out=args.out,
        overwrite=args.overwrite,
        quiet=args.quiet,
    )


def _add_compare(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser(
        "compare",
        help="run one scenario under several comms profiles and print their figures side by side",
        description="Run the scenario once per comms profile (same traffic, seed and overrides; only the "
        "network differs), in a process pool, and print conflicts, losses of separation, NMACs, report "
        "latency and loss, and detection of non-cooperative traffic side by side. Writes DIR/<profile>/ "
        "(each run's log, metrics and report), DIR/comparison.md and DIR/comparison.json.",
    )
    compare.add_argument("scenario", type=Path, help="the scenario YAML file")
    compare.add_argument(
        "--profiles",
        default="ideal,5g-fr1,6g-isac-fr1",
        help="comma-separated comms profiles (default: ideal,5g-fr1,6g-isac-fr1)",
    )
    compare.add_argument("--seed", type=int, help="override the scenario's seed")
    compare.add_argument("--duration", type=float, metavar="S", help="override the duration (s)")
    add_set_argument(compare)
    compare.add_argument("--workers", type=int, default=2, help="runs at once (default 2)")
    compare.add_argument("--out", type=Path, help="output folder (default: out/<scenario>-compare)")
    compare.set_defaults(run=_compare)


def _compare(args: argparse.Namespace) -> int:
    from sim.compare import compare_profiles, comparison_rows

    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    if not profiles or len(set(profiles)) != len(profiles):
        raise CommandError(f"--profiles: give distinct comma-separated profiles (got {args.profiles!r})")
    if args.workers < 1:
        raise CommandError(f"--workers: must be >= 1 (got {args.workers})")
    out = args.out or Path("out") / f"{args.scenario.stem}-compare"
    runs = compare_profiles(
        args.scenario,
        profiles,
        overrides=args.set,
        seed=args.seed,
        duration_s=args.duration,
        out_dir=out,
        workers=args.workers,
    )
    rows = comparison_rows(runs)
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(
                cell.ljust(w) if k == 0 else cell.rjust(w)
                for k, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print(f"runs and reports: {out}/<profile>/   table: {out / 'comparison.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
