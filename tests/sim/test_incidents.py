"""Incidents of a run against closed-form encounters written as synthetic event logs (the oracles).

Each log holds straight constant-velocity tracks sampled at 1 Hz (positions exact in float32) and the
LoS/NMAC events the engine would write for them, derived tick by tick from the same tracks.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from sim.eventlog import EventLog, EventLogError, RunLog, read_log
from sim.incidents import Incident, find_incidents, format_incidents, incidents_json
from sim.run import simulate
from sim.scenario import load_scenario

TINY = Path(__file__).resolve().parents[2] / "scenarios" / "shenzhen-nanshan" / "tiny.yaml"
H_M, V_M, NMAC_H_M, NMAC_V_M = 50.0, 15.0, 30.48, 4.57
LOOKAHEAD_S = 30.0
HEADER = {
    "software_version": "test",
    "seed": 0,
    "scenario": {
        "separation": {"horizontal_m": H_M, "vertical_m": V_M},
        "tick_s": 1.0,
        "cdr": {"lookahead_s": LOOKAHEAD_S},
    },
}


@dataclass(frozen=True)
class Track:
    """A straight flight at constant velocity, airborne and sampled at 1 Hz over [t0_s, t1_s]."""

    flight: int
    p_m: tuple[float, float, float]  # position at t = 0 s (extrapolated)
    v_mps: tuple[float, float, float]
    t0_s: int = 60
    t1_s: int = 140
    vehicle: str = "multirotor"
    kind: str = "delivery"
    operator: str = "op"
    cooperative: bool = True

    def at(self, t_s: float) -> np.ndarray:
        return np.add(self.p_m, np.multiply(self.v_mps, t_s))


def crossing(a: int = 3, b: int = 7, dz_m: float = 0.0, vz_mps: float = 0.0) -> tuple[Track, Track]:
    """a flies east at 10 m/s; b flies (-6, 8) m/s and passes (4, 8) m from a at t = 100.5 s (between
    ticks), optionally ``dz_m`` above it at that time and climbing at ``vz_mps``."""
    z_b = 60.0 + dz_m - vz_mps * 100.5
    return (
        Track(a, (-1005.0, 0.0, 60.0), (10.0, 0.0, 0.0)),
        Track(b, (607.0, -796.0, z_b), (-6.0, 8.0, vz_mps)),
    )


def head_on(a: int, b: int, *, miss_m: float, cpa_s: float = 100.5, y_m: float = 0.0) -> tuple[Track, Track]:
    """a east and b west at 10 m/s, ``miss_m`` apart abeam at ``cpa_s``, along the line y = ``y_m``."""
    return (
        Track(a, (-10.0 * cpa_s, y_m, 60.0), (10.0, 0.0, 0.0)),
        Track(b, (10.0 * cpa_s, y_m + miss_m, 60.0), (-10.0, 0.0, 0.0)),
    )


def engine_events(tracks: list[Track]) -> list[tuple[float, str, int, int, float]]:
    """The los_start / los_end / nmac events of the engine's separation check, tick by tick (pairs in
    reverse id order within a tick, so the reader cannot rely on the log's order)."""
    pairs = itertools.combinations(sorted(tracks, key=lambda t: t.flight), 2)
    out = []
    for ta, tb in sorted(pairs, key=lambda p: (p[0].flight, p[1].flight), reverse=True):
        in_los = in_nmac = False
        worst = math.inf
        for t in range(0, max(ta.t1_s, tb.t1_s) + 2):  # to a tick with one of them landed
            both = ta.t0_s <= t <= ta.t1_s and tb.t0_s <= t <= tb.t1_s
            r = tb.at(t) - ta.at(t)
            dh, dz = math.hypot(r[0], r[1]), abs(r[2])
            los = both and dh < H_M and dz < V_M
            nmac = los and dh < NMAC_H_M and dz < NMAC_V_M
            if los and not in_los:
                out.append((float(t), "los_start", ta.flight, tb.flight, math.nan))
                worst = math.inf
            if los:
                worst = min(worst, max(dh / H_M, dz / V_M))
            if in_los and not los:
                out.append((float(t), "los_end", ta.flight, tb.flight, worst))
            if nmac and not in_nmac:
                out.append((float(t), "nmac", ta.flight, tb.flight, math.nan))
            in_los, in_nmac = los, nmac
    return out


def write_log(path: Path, tracks: list[Track], extra: Sequence[tuple[float, str, int, int]] = ()) -> RunLog:
    """A closed log of the tracks' states, the engine's LoS events and ``extra`` (t, kind, flight, other)."""
    events = engine_events(tracks) + [(*e, math.nan) for e in extra]
    events.sort(key=lambda e: e[0])  # stable: same-time events keep their order
    with EventLog(path, HEADER) as log:
        for t, kind, flight, other, value in events:
            log.event(t, kind, flight=flight, other=other, value=value)
        for t in range(0, max(t.t1_s for t in tracks) + 1):
            up = [tr for tr in tracks if tr.t0_s <= t <= tr.t1_s]
            pos = np.array([tr.at(t) for tr in up]).reshape(-1, 3)
            vel = np.array([tr.v_mps for tr in up], float).reshape(-1, 3)
            log.states(float(t), np.array([tr.flight for tr in up]), pos, vel, np.zeros(len(up), np.int8))
        for tr in tracks:
            log.flight(
                tr.flight, vehicle=tr.vehicle, kind=tr.kind, operator=tr.operator, cooperative=tr.cooperative
            )
    return read_log(path, columns=[])


def cpa(ta: Track, tb: Track) -> tuple[float, float]:
    """Closed-form horizontal closest approach: (time, distance) = (-r0.v / |v|^2, |r0 x v| / |v|)."""
    r0, v = (tb.at(0.0) - ta.at(0.0))[:2], np.subtract(tb.v_mps, ta.v_mps)[:2]
    return -float(r0 @ v) / float(v @ v), abs(float(r0[0] * v[1] - r0[1] * v[0])) / math.hypot(*v)


def test_closest_approach_between_ticks_is_measured_exactly(tmp_path):
    """Oracle: the closed-form CPA of the two straight tracks, at t = 100.5 s, between two samples."""
    a, b = crossing()
    a = replace(a, vehicle="multirotor", kind="delivery", operator="op-a")
    b = replace(b, vehicle="evtol", kind="shuttle", operator="op-b", cooperative=False)
    (incident,) = find_incidents(write_log(tmp_path / "log", [a, b]))
    t_cpa_s, d_cpa_m = cpa(a, b)
    assert t_cpa_s == pytest.approx(100.5, abs=1e-12)
    assert incident.min_horizontal_m == pytest.approx(d_cpa_m, abs=1e-6)
    assert incident.closest_s == pytest.approx(t_cpa_s, abs=1e-6)
    assert incident.min_normalized == pytest.approx(d_cpa_m / H_M, abs=1e-6)
    assert incident.min_vertical_m == 0.0
    sampled_m = min(np.hypot(*(b.at(t) - a.at(t))[:2]) for t in (100, 101))
    assert sampled_m > d_cpa_m + 3.0  # the 1 Hz samples alone would miss it by more than 3 m
    # |r| < 50 m for |t - 100.5| < 2.75 s: LoS ticks 98..103; |r| < 30.48 m from tick 99
    assert (incident.id, incident.start_s, incident.end_s, incident.a, incident.b) == (
        "I0001",
        98.0,
        104.0,
        3,
        7,
    )
    assert incident.severity == "NMAC"
    assert incident.vehicle == ("multirotor", "evtol") and incident.kind == ("delivery", "shuttle")
    assert incident.operator == ("op-a", "op-b") and incident.cooperative == (True, False)


@pytest.mark.parametrize(("dz_m", "vz_mps"), [(0.0, 0.5), (4.0, -1.0), (12.0, -0.25), (-6.0, 2.0)])
def test_minimum_normalized_separation_matches_a_numerical_minimum(tmp_path, dz_m, vz_mps):
    """Oracle: scipy's bounded minimum of max(dh / 50, |dz| / 15) of the continuous tracks over the
    incident's window [start - 1, end + 1] s (convex: one minimum); min |dz| from the line's zero."""
    a, b = crossing(dz_m=dz_m, vz_mps=vz_mps)
    (incident,) = find_incidents(write_log(tmp_path / "log", [a, b]))
    lo, hi = incident.start_s - 1.0, incident.end_s + 1.0

    def normalized(t_s: float) -> float:
        r = b.at(t_s) - a.at(t_s)
        return max(math.hypot(r[0], r[1]) / H_M, abs(r[2]) / V_M)

    best = minimize_scalar(normalized, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    assert incident.min_normalized == pytest.approx(best.fun, abs=1e-6)
    assert incident.closest_s == pytest.approx(best.x, abs=1e-4)
    dz = [(b.at(t) - a.at(t))[2] for t in (lo, hi)]
    expect_dz = 0.0 if dz[0] * dz[1] <= 0.0 else min(abs(dz[0]), abs(dz[1]))
    assert incident.min_vertical_m == pytest.approx(expect_dz, abs=1e-6)
    assert incident.min_horizontal_m == pytest.approx(cpa(a, b)[1], abs=1e-6)


@pytest.mark.parametrize(
    ("conflicts", "detected_s"),
    [
        ([], None),
        ([(10.0, 12.0)], None),  # ended more than a look-ahead before the LoS: unrelated
        ([(10.0, 12.0), (60.0, 70.0)], 60.0),  # ended, but its look-ahead reached the LoS at 98 s
        ([(80.0, 101.0)], 80.0),
        ([(80.0, 90.0), (95.0, 101.0)], 80.0),  # the first one open in the look-ahead before the LoS
        ([(50.0, 60.0), (80.0, 90.0)], 80.0),  # 50-60 s ended before the look-ahead window (68-98 s)
        ([(98.0, 101.0)], 98.0),  # detected at the LoS start: warning 0
        ([(100.0, 101.0)], None),  # only after the LoS started
    ],
)
def test_detection_is_the_pair_conflict_that_reached_the_loss(tmp_path, conflicts, detected_s):
    """Oracle: by hand, against the crossing's LoS start at 98 s and a 30 s look-ahead."""
    a, b = crossing()
    extra = [
        (t, f"conflict_{edge}", 3, 7) for t0, t1 in conflicts for t, edge in ((t0, "start"), (t1, "end"))
    ]
    extra += [(40.0, "conflict_start", 3, 9), (45.0, "conflict_end", 3, 9)]  # another pair
    (incident,) = find_incidents(write_log(tmp_path / "log", [a, b], extra))
    assert incident.conflict_detected_s == detected_s
    assert incident.warning_s == (None if detected_s is None else 98.0 - detected_s)


def test_advisories_count_both_parties_from_detection_to_the_end(tmp_path):
    """Oracle: by hand; detection at 80 s, LoS 98-104 s; advisories before 80 s, after 104 s or to another
    flight do not count."""
    a, b = crossing()
    extra = [(80.0, "conflict_start", 7, 3), (101.0, "conflict_end", 3, 7)]
    extra += [
        (t, "advisory_issued", f, -1) for t, f in [(50.0, 3), (80.0, 3), (80.0, 7), (95.0, 3), (90.0, 9)]
    ]
    delivered = [(50.1, 3), (80.0, 3), (80.2, 7), (104.0, 7), (104.5, 3), (90.0, 9)]
    extra += [(t, "advisory_delivered", f, -1) for t, f in delivered]
    (incident,) = find_incidents(write_log(tmp_path / "log", [a, b], extra))
    assert (incident.conflict_detected_s, incident.warning_s) == (80.0, 18.0)
    assert (incident.advisories_issued, incident.advisories_delivered) == (3, 3)


def test_without_a_prior_conflict_advisories_count_from_one_lookahead_before(tmp_path):
    """Oracle: by hand; no conflict of the pair, so the window opens at 98 - 30 = 68 s."""
    a, b = crossing()
    extra = [(67.0, "advisory_delivered", 3, -1), (68.0, "advisory_delivered", 7, -1)]
    (incident,) = find_incidents(write_log(tmp_path / "log", [a, b], extra))
    assert incident.conflict_detected_s is None and incident.warning_s is None
    assert (incident.advisories_issued, incident.advisories_delivered) == (0, 1)


def test_a_loss_without_nmac_is_a_los(tmp_path):
    """Oracle: head-on 40 m abeam: inside 50 m, never inside the 30.48 m NMAC cylinder."""
    a, b = head_on(1, 2, miss_m=40.0)
    (incident,) = find_incidents(write_log(tmp_path / "log", [a, b]))
    assert incident.severity == "LoS"
    assert incident.min_horizontal_m == pytest.approx(40.0, abs=1e-6)
    assert incident.closest_s == pytest.approx(100.5, abs=1e-6)


def test_incidents_are_ordered_and_numbered_by_start_then_pair(tmp_path):
    """Oracle: four encounters 1 km apart; three start at the same tick (written in reverse pair order)."""
    tracks = [
        *head_on(8, 9, miss_m=10.0, cpa_s=80.5, y_m=3000.0),
        *head_on(2, 3, miss_m=20.0, y_m=0.0),
        *head_on(1, 4, miss_m=20.0, y_m=1000.0),
        *head_on(6, 7, miss_m=20.0, y_m=2000.0),
    ]
    incidents = find_incidents(write_log(tmp_path / "log", tracks))
    assert [(i.id, i.a, i.b) for i in incidents] == [
        ("I0001", 8, 9),
        ("I0002", 1, 4),
        ("I0003", 2, 3),
        ("I0004", 6, 7),
    ]
    assert [i.start_s for i in incidents] == [79.0, 99.0, 99.0, 99.0]  # |t - cpa| < 2.45 s, 2.29 s
    assert [i.severity for i in incidents] == ["NMAC"] * 4


def test_json_round_trips_in_field_order(tmp_path):
    incidents = find_incidents(
        write_log(tmp_path / "log", [*crossing(), *head_on(1, 2, miss_m=40.0, y_m=900.0)])
    )
    assert len(incidents) == 2
    parsed = json.loads(incidents_json(incidents))
    assert parsed == [i.to_json() for i in incidents]
    assert [list(obj) for obj in parsed] == [[f.name for f in fields(Incident)]] * 2
    rebuilt = [
        Incident(**{k: tuple(v) if isinstance(v, list) else v for k, v in obj.items()}) for obj in parsed
    ]
    assert rebuilt == incidents


def test_table_has_a_row_per_incident_and_a_summary(tmp_path):
    a, b = crossing()
    extra = [
        (80.0, "conflict_start", 3, 7),
        (101.0, "conflict_end", 3, 7),
        (80.0, "advisory_delivered", 3, -1),
    ]
    tracks = [a, b, *head_on(1, 2, miss_m=40.0, y_m=900.0)]
    lines = format_incidents(find_incidents(write_log(tmp_path / "log", tracks, extra))).splitlines()
    assert lines[0].split()[:3] == ["id", "start_s", "end_s"] and len(lines) == 4
    assert lines[1].split()[:9] == [
        "I0001",
        "98.0",
        "104.0",
        "3",
        "7",
        "multirotor/multirotor",
        "op/op",
        "y/y",
        "NMAC",
    ]
    assert "8.9" in lines[1].split() and "18.0" in lines[1].split()
    assert lines[2].split()[-4:] == ["-", "-", "0", "0"]  # no detection, no advisories
    assert lines[3] == (
        "2 incidents: 1 NMAC, 1 LoS; 1 detected beforehand (median warning 18.0 s); advisories delivered in 1"
    )


def test_an_empty_log_has_no_incidents(tmp_path):
    run = write_log(tmp_path / "log", [*head_on(1, 2, miss_m=200.0)])
    assert find_incidents(run) == []
    assert format_incidents([]).splitlines()[-1] == (
        "0 incidents: 0 NMAC, 0 LoS; 0 detected beforehand (median warning - s); advisories delivered in 0"
    )
    assert incidents_json([]) == "[]"


def test_a_header_without_separation_is_refused(tmp_path):
    with EventLog(tmp_path / "log", {**HEADER, "scenario": {"tick_s": 1.0}}) as log:
        log.event(1.0, "request", flight=1)
    with pytest.raises(EventLogError, match=r"header\.scenario\.separation\.horizontal_m"):
        find_incidents(read_log(tmp_path / "log", columns=[]))


@pytest.mark.parametrize("cdr", ["false", "true"])
def test_a_simulated_run_has_one_incident_per_loss_of_separation(tmp_path, cdr):
    """Oracle: the engine's own LoS count (metrics.json) and each episode's los_end value, its smallest
    normalized separation at the ticks, which the between-tick minimum can only undercut (float32 states:
    1e-6 slack). Free flight of 40 drones in a 2 km box gives a few dozen losses in 300 s."""
    overrides = [f"cdr.enabled={cdr}", "traffic.mode=free_flight", "traffic.count=40", "traffic.box_m=2000"]
    result = simulate(load_scenario(TINY, overrides, duration_s=300), tmp_path / "run", report=False)
    run = read_log(result.log_dir, columns=[])
    incidents = find_incidents(run)
    assert len(incidents) == result.metrics["los"]["count"] > 0
    assert sum(i.severity == "NMAC" for i in incidents) <= result.metrics["nmac"]["count"]
    kind = run.events.column("kind").to_pylist()
    worst = {
        (t, a, b): v
        for k, t, a, b, v in zip(
            kind,
            *(run.events.column(c).to_pylist() for c in ("t_s", "flight", "other", "value")),
            strict=True,
        )
        if k == "los_end"
    }
    for i in incidents:
        assert i.min_normalized < 1.0
        assert i.min_normalized <= worst[(i.end_s, i.a, i.b)] + 1e-6
        assert i.start_s - 1.0 <= i.closest_s <= i.end_s + 1.0
        assert i.warning_s is None or i.warning_s >= 0.0


def test_a_loss_without_state_samples_has_no_separation_figures(tmp_path):
    """Oracle: by hand; LoS events for a pair whose states were never recorded."""
    with EventLog(tmp_path / "log", HEADER) as log:
        log.event(10.0, "los_start", flight=1, other=2)
        log.event(12.0, "los_end", flight=1, other=2, value=0.5)
        log.flight(1)
        log.flight(2)
    (incident,) = find_incidents(read_log(tmp_path / "log", columns=[]))
    figures = (
        incident.min_horizontal_m,
        incident.min_vertical_m,
        incident.closest_s,
        incident.min_normalized,
    )
    assert figures == (None, None, None, None)
    row = format_incidents([incident]).splitlines()[1].split()
    assert row[-9:] == ["LoS", "-", "-", "-", "-", "-", "-", "0", "0"]  # severity .. advisories
