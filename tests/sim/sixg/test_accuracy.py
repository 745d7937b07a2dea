"""Sensing and tracking accuracy statistics: the bins and quantiles against numpy on known samples, and the
detection-by-altitude and track-error metrics of a short ISAC run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sim.run import simulate
from sim.scenario import load_scenario
from sim.sixg.accuracy import (
    ALTITUDE_BINS,
    ERROR_BINS,
    MATCH_GATE_M,
    SITE_DISTANCE_BINS,
    Bins,
    DetectionCounts,
    TrackErrors,
    nearest_within,
    quantile_bin,
)

ROOT = Path(__file__).resolve().parents[3]
FREE = ROOT / "scenarios" / "bench" / "free-flight-10km.yaml"


def _bin_oracle(values: np.ndarray, bins: Bins) -> np.ndarray:
    """np.digitize on the bins' edges, the end bins open."""
    inner = bins.lo + bins.width * np.arange(1, bins.count)
    return np.digitize(values, inner)


def _upper_edge(errors: np.ndarray, q: float) -> float:
    """The upper edge of the 5 cm bin holding numpy's ``q`` quantile (inverted CDF: one of the samples)."""
    return (np.floor(np.quantile(errors, q, method="inverted_cdf") / 0.05) + 1) * 0.05


def test_bins_index_matches_digitize_and_the_end_bins_are_open():
    values = np.random.default_rng(3).uniform(-100.0, 600.0, 5000)
    for bins in (ALTITUDE_BINS, SITE_DISTANCE_BINS, Bins(0.0, 50.0, 30)):
        assert bins.index(values).tolist() == _bin_oracle(values, bins).tolist()
    assert ALTITUDE_BINS.centres()[:4] == [0.0, 15.0, 30.0, 45.0] and ALTITUDE_BINS.centres()[-1] == 450.0


def test_detection_counts_match_numpy_histograms():
    rng = np.random.default_rng(4)
    tried = rng.uniform(0.0, 500.0, 3000)
    detected = tried[rng.random(3000) < 0.7]
    counts = DetectionCounts(ALTITUDE_BINS)
    counts.add(tried[:1000], detected[:10])
    counts.add(tried[1000:], detected[10:])
    edges = np.r_[-np.inf, ALTITUDE_BINS.lo + ALTITUDE_BINS.width * np.arange(1, 31), np.inf]
    assert counts.tried.tolist() == np.histogram(tried, edges)[0].tolist()
    assert counts.detected.tolist() == np.histogram(detected, edges)[0].tolist()
    summary = counts.summary("altitude")
    assert summary["altitude_m"] == ALTITUDE_BINS.centres() and sum(summary["tried"]) == 3000


@pytest.mark.parametrize("q", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_quantile_bin_is_the_bin_of_numpy_inverted_cdf(q: float):
    rng = np.random.default_rng(5)
    samples = [rng.gamma(2.0, 1.5, n) for n in (1, 2, 7, 1000)]
    counts = np.stack([np.bincount(ERROR_BINS.index(s), minlength=ERROR_BINS.count) for s in samples])
    want = [int(np.floor(np.quantile(s, q, method="inverted_cdf") / ERROR_BINS.width)) for s in samples]
    assert quantile_bin(counts, q).tolist() == want
    assert quantile_bin(np.zeros((2, 5), np.int64), q).tolist() == [-1, -1]


def test_track_errors_per_kind_and_bin_match_numpy_on_the_samples():
    """Oracle: the samples grouped by kind and bin by hand, their p50/p90 by np.quantile (inverted CDF),
    reported as the upper edge of the 5 cm bin holding them."""
    rng = np.random.default_rng(6)
    n = 4000
    truth = np.column_stack([rng.uniform(-2000.0, 2000.0, (n, 2)), rng.uniform(0.0, 480.0, n)])
    track = truth + rng.normal(0.0, [2.0, 2.0, 1.0], (n, 3)) * rng.uniform(0.1, 3.0, (n, 1))
    flight = np.arange(n) + 100
    site_m = rng.uniform(0.0, 1100.0, n)  # a made-up distance per flight
    sensing = rng.random(n) < 0.3
    errors = TrackErrors(lambda f, pos: site_m[f - 100])
    for part in np.array_split(np.arange(n), 7):
        errors.add(track[part], truth[part], flight[part], sensing[part])
    summary = errors.summary()
    err_h = np.hypot(*(track - truth)[:, :2].T)
    err_v = np.abs(track[:, 2] - truth[:, 2])
    for kind, mask in (("cooperative", ~sensing), ("sensing_only", sensing)):
        overall = summary[kind]["all"]
        assert overall["count"] == mask.sum()
        for axis, err in (("horizontal_m", err_h), ("vertical_m", err_v)):
            for name, q in (("p50", 0.5), ("p90", 0.9)):
                assert overall[axis][name] == pytest.approx(_upper_edge(err[mask], q))
        for key, values, bins in (
            ("by_altitude_15m", truth[:, 2], ALTITUDE_BINS),
            ("by_site_distance_25m", site_m, SITE_DISTANCE_BINS),
        ):
            got = summary[kind][key]
            where = _bin_oracle(values, bins)
            for b in range(bins.count):
                k = mask & (where == b)
                assert got["count"][b] == k.sum()
                for axis, err in (("horizontal_m", err_h), ("vertical_m", err_v)):
                    for name, q in (("p50", 0.5), ("p90", 0.9)):
                        want = _upper_edge(err[k], q) if k.any() else None
                        assert got[axis][name][b] == pytest.approx(want), (kind, key, b, axis, name)
    assert summary["sensing_only_unmatched"] == 0 and summary["match_gate_m"] == MATCH_GATE_M


def test_nearest_within_matches_brute_force():
    rng = np.random.default_rng(7)
    points, targets = rng.uniform(0.0, 1000.0, (300, 3)), rng.uniform(0.0, 1000.0, (40, 3))
    d = np.linalg.norm(points[:, None] - targets[None], axis=2)
    want = np.where(d.min(axis=1) <= 100.0, d.argmin(axis=1), -1)
    assert nearest_within(points, targets, 100.0).tolist() == want.tolist()
    assert nearest_within(points, targets[:0], 100.0).tolist() == [-1] * 300


@pytest.fixture(scope="module")
def free_flight_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """40 drones in a 2 km box for a minute, a third of them non-cooperative, on 6g-isac-fr1: the network
    metrics and the run folder."""
    overrides = [
        "comms.profile=6g-isac-fr1",
        "traffic.count=40",
        "traffic.box_m=2000",
        "traffic.noncooperative_share=0.35",
    ]
    loaded = load_scenario(FREE, overrides, duration_s=60.0)
    out = tmp_path_factory.mktemp("ff")
    return simulate(loaded, out, report=False).metrics["network"], out


@pytest.fixture(scope="module")
def free_flight_isac(free_flight_run: tuple[dict, Path]) -> dict:
    return free_flight_run[0]


def test_an_isac_run_reports_detection_by_altitude(free_flight_isac: dict):
    by_altitude = free_flight_isac["detection_by_altitude_15m"]
    tried, detected = np.array(by_altitude["tried"]), np.array(by_altitude["detected"])
    assert by_altitude["altitude_m"] == ALTITUDE_BINS.centres()
    assert tried.sum() == sum(free_flight_isac["detection_by_range_50m"]["tried"])  # the same pairs
    assert (detected <= tried).all() and tried[2:10].sum() == tried.sum()  # the drones fly 30-122 m
    rate = detected[tried > 0] / tried[tried > 0]
    assert ((rate >= 0.0) & (rate <= 1.0)).all() and rate.mean() > 0.5


def test_an_isac_run_reports_track_errors_of_both_kinds(free_flight_isac: dict):
    errors = free_flight_isac["track_error"]
    assert errors["sample_period_s"] == 5.0 and errors["sensing_only_unmatched"] >= 0
    for kind in ("cooperative", "sensing_only"):
        for key in ("by_altitude_15m", "by_site_distance_25m"):
            got = errors[kind][key]
            count = np.array(got["count"])
            assert count.sum() > 20, (kind, key)
            for axis in ("horizontal_m", "vertical_m"):
                p50, p90 = (np.array(got[axis][q], dtype=float) for q in ("p50", "p90"))
                assert np.isnan(p50[count == 0]).all() and np.isnan(p90[count == 0]).all()
                seen = count > 0
                assert (p50[seen] > 0.0).all() and (p50[seen] <= p90[seen]).all() and p90[seen].max() < 50.0
    for kind in ("cooperative", "sensing_only"):
        overall = errors[kind]["all"]
        assert overall["count"] == sum(errors[kind]["by_altitude_15m"]["count"])
        for axis in ("horizontal_m", "vertical_m"):
            assert 0.0 < overall[axis]["p50"] <= overall[axis]["p90"] < 50.0
    assert sum(errors["cooperative"]["by_altitude_15m"]["count"]) == sum(
        errors["cooperative"]["by_site_distance_25m"]["count"]
    )


def test_the_log_holds_the_scored_tracks_and_their_errors_rebuild_from_it(free_flight_run: tuple[dict, Path]):
    """Oracle: each logged track row against the states row of its flight at the scoring time."""
    network, out = free_flight_run
    messages = pq.read_table(out / "log" / "messages.parquet")
    tracks = messages.filter(pc.equal(messages["kind"].cast(pa.string()), "track"))
    t, flight = tracks["t_sent_s"].to_numpy(), tracks["flight"].to_numpy()
    assert len(t) and (np.diff(np.unique(t)) == 5.0).all()  # every SAMPLE_PERIOD_S
    assert (tracks["t_received_s"].to_numpy() <= t).all()
    states = pq.read_table(out / "log" / "states.parquet")
    truth = {
        (ts, f): (x, y, z)
        for ts, f, x, y, z in zip(
            *(states[c].to_pylist() for c in ("t_s", "flight", "x_m", "y_m", "z_m")), strict=True
        )
    }
    matched = flight >= 0
    errors = network["track_error"]
    assert matched.sum() == errors["cooperative"]["all"]["count"] + errors["sensing_only"]["all"]["count"]
    assert (~matched).sum() == errors["sensing_only_unmatched"]
    pos = np.column_stack([tracks[c].to_numpy() for c in ("x_m", "y_m", "z_m")])[matched]
    want = np.array([truth[key] for key in zip(t[matched].tolist(), flight[matched].tolist(), strict=True)])
    err_h = np.hypot(*(pos[:, :2] - want[:, :2]).T)
    flights = pq.read_table(out / "log" / "flights.parquet")
    cooperative = dict(zip(flights["flight"].to_pylist(), flights["cooperative"].to_pylist(), strict=True))
    coop = np.array([cooperative[f] for f in flight[matched].tolist()])
    for kind, mask in (("cooperative", coop), ("sensing_only", ~coop)):
        assert mask.sum() == errors[kind]["all"]["count"]
        for name, q in (("p50", 0.5), ("p90", 0.9)):  # float32 positions in the log: within a bin
            got = errors[kind]["all"]["horizontal_m"][name]
            assert _upper_edge(err_h[mask], q) == pytest.approx(got, abs=ERROR_BINS.width + 1e-6), kind
