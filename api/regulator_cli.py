"""The regulators' sub-commands: ``incidents``, ``incident``, ``replay``, ``whatif``, ``verify`` and
``import-tracks``; thin wrappers over sim/incidents.py, incident_report.py, replay.py, whatif.py, manifest.py
and recorded.py.

Layer: api.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from airspace.region import load_region
from api.cli_common import CommandError, add_log_argument, add_set_argument

__all__ = ["add_regulator_commands"]


def add_regulator_commands(commands: argparse._SubParsersAction) -> None:
    """Register the regulators' sub-commands."""
    for add in (_add_incidents, _add_incident, _add_replay, _add_import_tracks, _add_whatif, _add_verify):
        add(commands)


def _add_incidents(commands: argparse._SubParsersAction) -> None:
    incidents = commands.add_parser(
        "incidents",
        help="list every loss of separation and NMAC in a run's log",
        description="Every loss of separation and NMAC in a run's event log: id, time, the two parties, the "
        "minimum horizontal and vertical separation (closest approach between the recorded states), "
        "severity, whether and how early a conflict was detected, and the advisories delivered.",
    )
    add_log_argument(incidents)
    incidents.add_argument("--json", action="store_true", help="print JSON for machines")
    incidents.set_defaults(run=_incidents)


def _incidents(args: argparse.Namespace) -> int:
    from sim.eventlog import read_log
    from sim.incidents import find_incidents, format_incidents, incidents_json
    from sim.whatif import log_dir_of

    found = find_incidents(read_log(log_dir_of(args.log), columns=[]))
    print(incidents_json(found) if args.json else format_incidents(found))
    return 0


def _add_incident(commands: argparse._SubParsersAction) -> None:
    incident = commands.add_parser(
        "incident",
        help="write one incident's report (HTML, PNGs, JSON)",
        description="Write DIR/incident.html with PNGs and incident.json for a window around one incident: "
        "top view and altitude profile of both parties (truth, reports delivered and lost, ISAC "
        "detections), separation against the protected zone, a timeline of reports, detections, "
        "advisories and conformance, and how the operator service admitted each flight.",
    )
    add_log_argument(incident)
    incident.add_argument("incident", help="the incident id (see `utm6g incidents LOG`)")
    incident.add_argument("--out", type=Path, help="output folder (default: <run>/incident-<ID>)")
    incident.add_argument("--before", type=float, default=60.0, metavar="S", help="seconds shown before (60)")
    incident.add_argument("--after", type=float, default=30.0, metavar="S", help="seconds shown after (30)")
    incident.set_defaults(run=_incident)


def _incident(args: argparse.Namespace) -> int:
    from sim.incident_report import write_incident_report
    from sim.whatif import log_dir_of

    for name in ("before", "after"):
        value = getattr(args, name)
        if not value >= 0 or value == float("inf"):
            raise CommandError(f"--{name}: must be a finite number of seconds >= 0 (got {value})")
    log_dir = log_dir_of(args.log)
    out = args.out or log_dir.parent / f"incident-{args.incident}"
    page = write_incident_report(log_dir, args.incident, out, window_s=(args.before, args.after))
    print(f"report: {page}")
    return 0


def _add_replay(commands: argparse._SubParsersAction) -> None:
    replay = commands.add_parser(
        "replay",
        help="the scene at one instant of a run: as it was and as the service saw it",
        description="Print every airborne vehicle at time T (truth: position, speed, mode) beside the "
        "service's picture of it (its latest report delivered by then: age and error), and the network's "
        "detections of the last scan; draw the scene to a PNG.",
    )
    add_log_argument(replay)
    replay.add_argument("--at", type=float, required=True, metavar="T", help="simulation time (s)")
    replay.add_argument("--around", type=int, metavar="FLIGHT", help="centre the scene on this flight")
    replay.add_argument(
        "--radius", type=float, metavar="M", help="with --around: keep vehicles within M metres"
    )
    replay.add_argument("--limit", type=int, default=40, help="table rows to print (default 40)")
    replay.add_argument("--out", type=Path, help="the PNG to draw (default: <run>/replay-<T>.png)")
    replay.set_defaults(run=_replay)


def _replay(args: argparse.Namespace) -> int:
    from sim.eventlog import read_log
    from sim.replay import format_snapshot, plot_snapshot, snapshot
    from sim.whatif import log_dir_of

    if args.radius is not None and (args.around is None or not args.radius > 0):
        raise CommandError("--radius: needs --around FLIGHT and a distance > 0 (m)")
    if args.limit < 1:
        raise CommandError(f"--limit: must be >= 1 (got {args.limit})")
    log_dir = log_dir_of(args.log)
    scene = snapshot(read_log(log_dir, columns=[]), args.at, around=args.around, radius_m=args.radius)
    print(format_snapshot(scene, limit=args.limit))
    png = plot_snapshot(scene, args.out or log_dir.parent / f"replay-{args.at:g}.png")
    print(f"picture: {png}")
    return 0


def _add_import_tracks(commands: argparse._SubParsersAction) -> None:
    imp = commands.add_parser(
        "import-tracks",
        help="turn recorded telemetry (CSV) into a run folder the incident tools read",
        description="Read one fix per CSV row (id, time in seconds or RFC 3339, lat, lon, alt; optional vx, "
        "vy, vz, accuracy, operator, vehicle), resample each track at 1 s (no interpolation across longer "
        "gaps than --max-gap), and write RUN_DIR/log/ and metrics.json with the simulator's ground truth: "
        "losses of separation and NMACs. Bad rows are listed by line number and skipped (--strict: refused).",
    )
    imp.add_argument("csv", type=Path, help="the CSV file of fixes")
    imp.add_argument("--region", type=Path, required=True, help="the region.yaml whose frame to use")
    imp.add_argument("--out", type=Path, required=True, help="the run folder to write (new or empty)")
    imp.add_argument(
        "--columns",
        metavar="FIELD=COLUMN,...",
        help="map fields to the file's column names, e.g. id=icao24,time=ts,alt=height_m",
    )
    imp.add_argument("--altitude-ref", default="AGL", help="what alt is measured from: AGL, AMSL or W84")
    imp.add_argument("--max-gap", type=float, default=10.0, metavar="S", help="longest gap bridged (10 s)")
    imp.add_argument("--strict", action="store_true", help="refuse the file if any row is bad")
    imp.set_defaults(run=_import_tracks)


def _import_tracks(args: argparse.Namespace) -> int:
    from sim.recorded import import_tracks, parse_columns

    region = load_region(args.region)
    run = import_tracks(
        args.csv,
        region,
        args.out,
        columns=parse_columns(args.columns),
        altitude_ref=args.altitude_ref,
        max_gap_s=args.max_gap,
        strict=args.strict,
    )
    print(f"imported {run.fixes} fixes in {run.tracks} tracks; skipped {len(run.problems)} bad rows")
    shown = 10
    for problem in run.problems[:shown]:
        print(f"  {problem}")
    if len(run.problems) > shown:
        print(f"  ... and {len(run.problems) - shown} more")
    m = run.metrics
    los, nmac = m["los"]["count"], m["nmac"]["count"]
    print(f"{m['flight_hours']:.2f} flight-hours; losses of separation {los}, NMACs {nmac}")
    print(f"log: {run.log_dir}   (utm6g incidents {run.out_dir})")
    return 0


def _add_whatif(commands: argparse._SubParsersAction) -> None:
    whatif = commands.add_parser(
        "whatif",
        help="re-run a recorded run with overrides and say whether an incident still happens",
        description="Re-simulate the scenario and seed stored in a run's log, with --set overrides (the "
        "random streams are per component, so only what an override touches changes), then say whether the "
        "incident still happens, the pair's new closest approach, and which run metrics changed. Without "
        "overrides the log is reproduced byte for byte (the manifests' heads are compared).",
    )
    add_log_argument(whatif)
    whatif.add_argument("incident", help="the incident id (see `utm6g incidents LOG`)")
    add_set_argument(whatif, "comms.profile=6g-isac-fr1")
    whatif.add_argument("--out", type=Path, help="output folder (default: <run>/whatif-<ID>)")
    whatif.add_argument("--overwrite", action="store_true", help="replace a previous re-run in the folder")
    whatif.add_argument("--quiet", action="store_true", help="no progress bar")
    whatif.set_defaults(run=_whatif)


def _whatif(args: argparse.Namespace) -> int:
    from api.sim_console import run_loaded
    from sim.whatif import log_dir_of, rerun_scenario, study_incident

    log_dir = log_dir_of(args.log)
    loaded = rerun_scenario(log_dir, args.set)
    study = study_incident(log_dir, args.incident)  # refuses an unknown id before the re-run
    out = args.out or log_dir.parent / f"whatif-{args.incident}"
    result = run_loaded(loaded, out, args.overwrite, args.quiet)
    print("\n".join(study.outcome(result.log_dir, result.metrics)))
    return 0


def _add_verify(commands: argparse._SubParsersAction) -> None:
    verify = commands.add_parser(
        "verify",
        help="check a run's log against its SHA-256 manifest",
        description="Recompute the SHA-256 of every part of a run's log (each Parquet row group, chained) "
        "and compare with its manifest.json: prints 'intact' and the chain head, or the first altered or "
        "missing part (exit status 1).",
    )
    add_log_argument(verify)
    verify.add_argument("--expect", metavar="HEAD", help="the chain head recorded elsewhere (64 hex digits)")
    verify.set_defaults(run=_verify)


def _verify(args: argparse.Namespace) -> int:
    from sim.manifest import format_verification, verify_log

    path = args.log / "log" if (args.log / "log").is_dir() else args.log
    result = verify_log(path, expect_head=args.expect)
    print(format_verification(result))
    return 0 if result.ok else 1
