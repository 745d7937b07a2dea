"""Benchmark of the simulator: wall seconds per simulated hour and peak RSS on free-flight traffic.

``scenarios/bench/free-flight-10km.yaml`` (drones on random waypoints in a 10 km x 10 km box, strategic
off, CD&R with MVP every second, 30 s look-ahead) at 1,000, 5,000 and 10,000 drones with ideal comms,
then at 1,000 and 10,000 with the ``6g-isac-fr1`` network (channel, link, ISAC scans, fusion). Each
size runs in a fresh process, so its peak RSS is its own; the event log is written as in any run (the
HTML report is not part of the timing). Targets: ideal (issue 4) 1,000 drones <= 8 s per simulated
hour, 10,000 <= 100 s, peak RSS <= 2 GB at 10,000, cost growing no worse than N log N; 6g-isac-fr1
(issue 5) 1,000 <= 20 s, 10,000 <= 200 s, peak RSS <= 3 GB.

A measurement, not a test:
``.venv/bin/python bench/sim_bench.py [--duration S] [--counts 1000,5000] [--counts-6g 1000]``.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe  # bench/machine.py (a script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "bench" / "free-flight-10km.yaml"
TARGETS_S_PER_H = {"ideal": {1000: 8.0, 10000: 100.0}, "6g-isac-fr1": {1000: 20.0, 10000: 200.0}}
RSS_TARGET_MB = {"ideal": 2048.0, "6g-isac-fr1": 3072.0}


def one(count: int, duration_s: float, profile: str) -> dict:
    """Run one size in this process; wall time, simulated time and peak RSS."""
    sys.path.insert(0, str(ROOT))
    from sim.run import simulate
    from sim.scenario import load_scenario

    loaded = load_scenario(
        SCENARIO, [f"traffic.count={count}", f"comms.profile={profile}"], duration_s=duration_s
    )
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = simulate(loaded, Path(tmp) / "run", report=False)
        wall_s = time.perf_counter() - started
        log_mb = sum(f.stat().st_size for f in (Path(tmp) / "run").rglob("*") if f.is_file()) / 2**20
    m = result.metrics
    return {
        "profile": profile,
        "count": count,
        "duration_s": duration_s,
        "wall_s": wall_s,
        "s_per_sim_hour": wall_s * 3600.0 / duration_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "log_mb": log_mb,
        "conflicts": m["conflicts"]["episodes"],
        "los": m["los"]["count"],
        "nmac": m["nmac"]["count"],
        "advisories": m["advisories"]["issued"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3600.0, help="simulated seconds per size")
    parser.add_argument("--counts", default="1000,5000,10000", help="drone counts with ideal comms")
    parser.add_argument("--counts-6g", default="1000,10000", help="drone counts with 6g-isac-fr1 ('' = none)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile", default="ideal", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.duration, args.profile)))
        return
    print(f"utm6g simulator benchmark — {describe()}")
    print(f"scenario {SCENARIO.relative_to(ROOT)}, {args.duration:g} simulated s per size")
    for profile, counts in (("ideal", args.counts), ("6g-isac-fr1", args.counts_6g)):
        sizes = [int(c) for c in counts.split(",") if c.strip()]
        if sizes:
            _table(profile, sizes, args.duration)


def _table(profile: str, sizes: list[int], duration_s: float) -> None:
    """One profile's sizes, each in a fresh process, with verdicts and the scaling."""
    print(f"\ncomms {profile}")
    columns = ("drones", "wall s", "s/sim h", "RSS MB", "log MB", "conflicts", "LoS", "NMAC")
    print(" ".join(f"{c:>9}" for c in columns), " target")
    rows = []
    for count in sizes:
        command = [sys.executable, __file__, "--one", str(count), "--duration", str(duration_s)]
        out = subprocess.run([*command, "--profile", profile], check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        target = TARGETS_S_PER_H[profile].get(count)
        verdict = (
            ""
            if target is None
            else f"<= {target:g} s/h {'met' if r['s_per_sim_hour'] <= target else 'MISSED'}"
        )
        if count == 10000:
            rss = RSS_TARGET_MB[profile]
            verdict += f", RSS <= {rss:g} MB {'met' if r['peak_rss_mb'] <= rss else 'MISSED'}"
        cells = (count, f"{r['wall_s']:.1f}", f"{r['s_per_sim_hour']:.1f}", f"{r['peak_rss_mb']:.0f}")
        cells += (f"{r['log_mb']:.0f}", r["conflicts"], r["los"], r["nmac"])
        print(" ".join(f"{c:>9}" for c in cells), "", verdict)
    if len(rows) > 1:
        base = rows[0]
        print("scaling against the first size (N log N would give):")
        for r in rows[1:]:
            ratio = r["s_per_sim_hour"] / base["s_per_sim_hour"]
            nlogn = (r["count"] * math.log(r["count"])) / (base["count"] * math.log(base["count"]))
            square = (r["count"] / base["count"]) ** 2
            print(f"  {r['count']:>6}: x{ratio:.1f} (N log N: x{nlogn:.1f}, N^2: x{square:.0f})")


if __name__ == "__main__":
    main()
