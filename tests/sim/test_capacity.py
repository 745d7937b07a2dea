"""The capacity report of a sweep: the safety expression, seed statistics, the interpolated capacity and its
range, the conflict-rate-versus-density fit, the page and its PNGs, and the named errors.

Oracles are closed forms: a metric exactly linear in demand crosses the threshold where the line does, the
interval half-width is t(0.975, n - 1) * s / sqrt(n) from scipy, and exact power laws give their exponent.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from sim.capacity import (
    METRIC_ALIASES,
    CapacityError,
    Crossing,
    crossing,
    fit_power_law,
    parse_safety,
    point_statistics,
)
from sim.capacity_page import format_capacity, write_capacity_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DEMANDS = (1.0, 2.0, 4.0, 8.0)
SLOPE, INTERCEPT = 0.003, 0.001  # the linear design's LoS per flight-hour: 0.003 * demand + 0.001
SCATTER = 0.001  # seed offsets -SCATTER, 0, +SCATTER: sample standard deviation exactly SCATTER
OFFSETS = (-SCATTER, 0.0, SCATTER)
T_HALF = stats.t.ppf(0.975, len(OFFSETS) - 1) * SCATTER / math.sqrt(len(OFFSETS))
DURATION_S = 1800.0
META = {"scenario": "nanshan-small", "duration_s": DURATION_S, "grid": {}}


def _run(profile: str, demand: float, seed: int, los: float, *, status: str = "ok", **metrics) -> dict:
    """One row of runs.parquet as the sweep runner writes it."""
    row = {
        "run": f"{profile}-{demand:g}-{seed}",
        "status": status,
        "error": "" if status == "ok" else "ScenarioError: boom",
        "attempts": 1 if status == "ok" else 2,
        "seed": seed,
        "wall_s": 1.5,
        "software_version": "0.1.0-test",
        "overrides": json.dumps({"demand.scale": demand, "comms.profile": profile}),
        "grid.demand.scale": demand,
        "grid.comms.profile": profile,
        "m.los.per_flight_hour": los,
        "m.nmac.per_flight_hour": 0.0,
        "m.conflicts.per_flight_hour": 0.5 * demand,
        "m.strategic.rejection_rate": 0.01 * demand,
        "m.strategic.delay_s.mean": 3.0 * demand,
        "m.network.reports.latency_ms.p99": math.nan,
        "m.flight_hours": 10.0 * demand,
        "m.conflicts.episodes": 4.0 * demand**2,
    }
    return row | {f"m.{k}": v for k, v in metrics.items()}


def _write(directory: Path, rows: list[dict], meta: dict | None = META) -> Path:
    """runs.parquet from rows (floats stay float64, NaN for an absent metric), with the sweep metadata."""
    directory.mkdir(parents=True, exist_ok=True)
    columns = {}
    for name in rows[0]:
        values = [r.get(name) for r in rows]
        kind = pa.float64() if name.startswith("m.") or name == "grid.demand.scale" else None
        columns[name] = pa.array(values, type=kind)
    table = pa.table(columns)
    if meta is not None:
        # as sim/sweep.py writes it: one JSON value per metadata key
        table = table.replace_schema_metadata({k: json.dumps(v) for k, v in meta.items()})
    pq.write_table(table, directory / "runs.parquet")
    return directory


def _linear(profile: str = "uma-av", *, slope: float = SLOPE, seeds: int = 3) -> list[dict]:
    """A design whose seed mean is exactly linear in demand, with the known scatter around it."""
    return [
        _run(profile, d, s, slope * d + INTERCEPT + (OFFSETS[s] if seeds == 3 else 0.0))
        for d in DEMANDS
        for s in range(seeds)
    ]


# --- the safety expression ------------------------------------------------------------------------------


@pytest.mark.parametrize("operator", ["<=", "<", ">=", ">"])
def test_parse_safety_reads_each_operator(operator):
    target = parse_safety(f"los_per_flight_hour {operator} 0.01")
    assert (target.column, target.operator, target.threshold) == ("m.los.per_flight_hour", operator, 0.01)
    expected = {"<=": [1, 1, 0], "<": [1, 0, 0], ">=": [0, 1, 1], ">": [0, 0, 1]}[operator]
    assert target.meets([0.005, 0.01, 0.02]).tolist() == [bool(e) for e in expected]
    assert not target.meets(math.nan)


@pytest.mark.parametrize("alias", sorted(METRIC_ALIASES))
def test_parse_safety_maps_each_short_name_to_its_metric_column(alias):
    target = parse_safety(f"{alias}<=1e-3")
    assert target.column == f"m.{METRIC_ALIASES[alias]}"
    assert target.threshold == 0.001
    assert str(target) == f"{alias} <= 0.001"


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("los.per_flight_hour<=0.01", "m.los.per_flight_hour"),
        ("network.reports.latency_ms.p99 < 50", "m.network.reports.latency_ms.p99"),
        ("m.flights.took_off>=100", "m.flights.took_off"),
    ],
)
def test_parse_safety_accepts_a_dotted_metric_key(text, column):
    assert parse_safety(text).column == column


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "cannot read"),
        ("los_per_flight_hour", "cannot read"),
        ("los_per_flight_hour==0.01", "cannot read"),
        ("los_per_flight_hour=<0.01", "cannot read"),
        ("0.01>=los_per_flight_hour", "cannot read"),
        ("lospfh<=0.01", "unknown metric 'lospfh'"),
        ("los_per_flight_hour<=abc", "finite number"),
        ("los_per_flight_hour<=nan", "finite number"),
        ("los_per_flight_hour<=inf", "finite number"),
    ],
)
def test_parse_safety_refuses_a_bad_expression_naming_the_problem_and_the_names(text, reason):
    with pytest.raises(CapacityError) as refused:
        parse_safety(text)
    message = str(refused.value)
    assert isinstance(refused.value, ValueError)
    assert message.startswith("--safety: ") and reason in message
    if "finite" not in reason:
        assert all(name in message for name in METRIC_ALIASES)


# --- statistics -----------------------------------------------------------------------------------------


def test_point_statistics_is_the_student_t_interval_by_hand():
    rng = np.random.default_rng(7)
    values = {1.0: rng.normal(5.0, 1.0, 4), 3.0: rng.normal(9.0, 2.0, 7), 2.0: np.array([4.0])}
    demand = np.concatenate([np.full(len(v), d) for d, v in values.items()])
    points, n, mean, half = point_statistics(demand, np.concatenate(list(values.values())))
    assert points.tolist() == [1.0, 2.0, 3.0] and n.tolist() == [4, 1, 7]
    for i, d in enumerate(points):
        v = values[d]
        assert mean[i] == pytest.approx(v.mean())
        if len(v) > 1:
            expected = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
            assert half[i] == pytest.approx(expected, rel=1e-12)
    assert math.isnan(half[1])  # one seed: no band


def test_point_statistics_skips_a_seed_that_did_not_record_the_metric():
    _, n, mean, half = point_statistics([1, 1, 1], [2.0, math.nan, 4.0])
    assert n.tolist() == [2] and mean.tolist() == [3.0]
    assert half[0] == pytest.approx(stats.t.ppf(0.975, 1) * math.sqrt(2.0) / math.sqrt(2.0))


def test_crossing_interpolates_between_last_meeting_and_first_violating_point():
    target = parse_safety("rejection_rate<0.1")
    # meets at 1 and 2 (0.02, 0.06), violates at 5 (0.18): 2 + (0.1 - 0.06) / (0.18 - 0.06) * 3 = 3
    assert crossing([5.0, 1.0, 2.0], [0.18, 0.02, 0.06], target) == Crossing(3.0, "=")
    assert crossing([1.0, 2.0], [math.nan, math.nan], target) is None
    # a ">=" target (more is safer) crosses downward
    assert crossing([1.0, 3.0], [0.9, 0.5], parse_safety("m.x.y>=0.8")) == Crossing(1.5, "=")


def test_fit_power_law_recovers_exact_exponents_and_skips_logs_of_zero():
    x = np.array([1.0, 2.0, 3.0, 5.0, 0.0, 4.0])
    b, se, a = fit_power_law(x, 0.7 * x**1.5 * (x != 4.0))  # the zero rate at x = 4 is left out
    assert (b, se, a) == (pytest.approx(1.5, abs=1e-12), pytest.approx(0.0, abs=1e-12), pytest.approx(0.7))
    assert all(math.isnan(v) for v in fit_power_law([2.0, 2.0], [1.0, 3.0]))  # one density: no slope
    assert math.isnan(fit_power_law([1.0, 2.0], [1.0, 4.0])[1])  # two points: no standard error


# --- capacity from a sweep ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """Three designs with the same four demands and three seeds; two failed runs whose (absurd) metrics
    must not count: uma-av is linear in demand, ideal meets 0.01 everywhere, legacy nowhere."""
    rows = _linear("uma-av")
    rows += [_run("ideal", d, s, 0.001 + 0.0001 * s) for d in DEMANDS for s in range(3)]
    rows += [_run("legacy", d, s, 0.02 + 0.001 * d + 0.0001 * s) for d in DEMANDS for s in range(3)]
    rows += [_run("uma-av", 2.0, 9, 1e6, status="failed"), _run("ideal", 8.0, 9, 1e6, status="failed")]
    return _write(tmp_path_factory.mktemp("sweep"), rows)


@pytest.fixture(scope="module")
def report(sweep):
    return write_capacity_report(sweep, "los_per_flight_hour<=0.01")


def test_capacity_is_the_interpolated_crossing_of_a_linear_design(report):
    """Oracle: the seed mean is 0.003 d + 0.001, which meets 0.01 up to d = 3 (between grid points 2 and
    4), and its interval edges are the line +- t * s / sqrt(3), crossing at (0.009 -+ half) / 0.003."""
    design = {d.design: d for d in report.designs}["comms.profile=uma-av"]
    assert design.capacity.bound == "="
    assert design.capacity.demand == pytest.approx((0.01 - INTERCEPT) / SLOPE, rel=1e-12)
    np.testing.assert_allclose(design.mean, SLOPE * np.array(DEMANDS) + INTERCEPT, rtol=1e-12)
    np.testing.assert_allclose(design.half_width, T_HALF, rtol=1e-9)
    low, high = design.band
    assert (low.bound, high.bound) == ("=", "=")
    assert low.demand == pytest.approx((0.01 - INTERCEPT - T_HALF) / SLOPE, rel=1e-9)
    assert high.demand == pytest.approx((0.01 - INTERCEPT + T_HALF) / SLOPE, rel=1e-9)
    assert design.seeds.tolist() == [3, 3, 3, 3]  # the failed run at demand 2 is not a seed
    assert design.note == ""


def test_a_design_meeting_the_target_everywhere_or_nowhere_is_bounded_by_the_tested_range(report):
    designs = {d.design: d for d in report.designs}
    assert str(designs["comms.profile=ideal"].capacity) == ">= 8"
    assert str(designs["comms.profile=legacy"].capacity) == "< 1"
    assert designs["comms.profile=ideal"].seeds.tolist() == [3, 3, 3, 3]  # failed run at 8 left out


def test_each_design_is_one_row_and_failed_runs_are_counted(report):
    assert [d.design for d in report.designs] == [
        "comms.profile=uma-av",
        "comms.profile=ideal",
        "comms.profile=legacy",
    ]
    assert report.design_keys == ("comms.profile",) and report.demand_key == "demand.scale"
    assert (report.runs, report.failed, report.seeds_per_point) == (38, 2, (3, 3))
    assert [run for run, _ in report.failures] == ["uma-av-2-9", "ideal-8-9"]
    text = format_capacity(report)
    assert "los_per_flight_hour <= 0.01" in text and "2 failed" in text
    for line, expected in [("uma-av", "3  "), ("ideal", ">= 8"), ("legacy", "< 1")]:
        assert expected in next(row for row in text.splitlines() if row.startswith(f"comms.profile={line}"))


def test_the_page_holds_the_target_the_tables_and_its_pngs(report, sweep):
    page = (sweep / "capacity.html").read_text()
    assert report.path == sweep / "capacity.html"
    assert "los_per_flight_hour &lt;= 0.01" in page
    assert "38 (36 ok, 2 failed)" in page and "uma-av-2-9" in page and "ScenarioError: boom" in page
    assert "nanshan-small" in page and f"{DURATION_S:g} s (runs.parquet metadata)" in page
    for design in ("comms.profile=uma-av", "comms.profile=ideal", "comms.profile=legacy"):
        assert f"<td>{design}</td>" in page
    sources = re.findall(r'<img alt="[^"]*" src="([^"]+)">', page)
    names = {
        "capacity-los_per_flight_hour.png",
        "capacity-nmac_per_flight_hour.png",
        "capacity-conflicts_per_flight_hour.png",
        "capacity-rejection_rate.png",
        "capacity-delay_mean_s.png",
        "capacity-density_fit.png",
    }
    assert set(sources) == names == {p.name for p in report.plots}
    for name in names:
        assert (sweep / name).read_bytes().startswith(PNG_MAGIC)
    # report latency is NaN in every run (ideal comms): a "none" line and no PNG
    assert "none: no ok run recorded network.reports.latency_ms.p99" in page
    assert not (sweep / "capacity-report_latency_p99_ms.png").exists()


def test_one_seed_gives_no_band_and_says_so(tmp_path):
    directory = _write(tmp_path, _linear(seeds=1))
    report = write_capacity_report(directory, "los_per_flight_hour<=0.01", out=tmp_path / "docs" / "one.html")
    (design,) = report.designs
    assert design.design == "all runs"  # the demand is the only grid key that varies
    assert report.fixed == {"comms.profile": "uma-av"}
    assert design.capacity.demand == pytest.approx(3.0)
    assert design.band is None and np.isnan(design.half_width).all()
    assert "no band: one seed at demand 1, 2, 4, 8" in design.note
    page = (tmp_path / "docs" / "one.html").read_text()
    assert "no band (one seed)" in page and "One seed, so no band" in page
    assert (tmp_path / "docs" / "one-los_per_flight_hour.png").read_bytes().startswith(PNG_MAGIC)


def test_a_target_met_again_above_the_capacity_is_noted(tmp_path):
    rows = [
        _run("a", d, s, los)
        for d, los in zip(DEMANDS, (0.005, 0.02, 0.008, 0.03), strict=True)
        for s in range(2)
    ]
    report = write_capacity_report(_write(tmp_path, rows), "los_per_flight_hour<0.01")
    (design,) = report.designs
    assert design.capacity.demand == pytest.approx(1.0 + 0.005 / 0.015)  # the first violation bounds it
    assert "target met again at demand 4" in design.note


def test_designs_combine_the_other_grid_keys_and_name_points_without_ok_runs(tmp_path):
    rows = []
    for profile in ("uma-av", "ideal"):
        for layers in (2, 4):
            for row in _linear(profile):
                failed = (profile, layers) == ("ideal", 4) or (
                    layers == 2 and row["grid.demand.scale"] == 8.0
                )
                rows.append(
                    row | {"grid.layers": layers, "grid.cdr": "on", "status": "failed" if failed else "ok"}
                )
    report = write_capacity_report(_write(tmp_path, rows), "los_per_flight_hour<=0.01")
    assert report.design_keys == ("comms.profile", "layers") and report.fixed == {"cdr": "on"}
    designs = {d.design: d for d in report.designs}
    assert list(designs) == [
        "comms.profile=uma-av, layers=2",
        "comms.profile=uma-av, layers=4",
        "comms.profile=ideal, layers=2",
        "comms.profile=ideal, layers=4",
    ]
    assert designs["comms.profile=ideal, layers=4"].capacity is None
    assert designs["comms.profile=ideal, layers=4"].note == "no ok run"
    assert designs["comms.profile=uma-av, layers=2"].note == "no ok run at demand 8"
    assert designs["comms.profile=uma-av, layers=2"].capacity.demand == pytest.approx(3.0)
    assert designs["comms.profile=uma-av, layers=4"].demand.tolist() == list(DEMANDS)
    assert [f.design for f in report.fits] == list(designs)[:3]  # a design without ok runs has no fit
    assert report.failed == 4 * 3 + 2 * 3  # ideal with 4 layers, and demand 8 with 2 layers


# --- conflict rate against density ----------------------------------------------------------------------


@pytest.mark.parametrize("exponent", [2.0, 1.5])
def test_density_fit_recovers_the_exponent_of_the_conflict_rate(tmp_path, exponent):
    """Oracle: conflicts per simulated hour = 0.3 * density^b with 0.1 % noise, density = mean airborne
    vehicles = flight hours * 3600 / duration."""
    rng = np.random.default_rng(11)
    rows = []
    for d in DEMANDS:
        for s in range(3):
            density = 5.0 * d * (1.0 + 0.1 * rng.standard_normal())
            rate_per_h = 0.3 * density**exponent * (1.0 + 1e-3 * rng.standard_normal())
            row = _run("uma-av", d, s, 0.001)
            row["m.flight_hours"] = density * DURATION_S / 3600.0
            row["m.conflicts.episodes"] = rate_per_h * DURATION_S / 3600.0
            rows.append(row)
    rows.append(_run("uma-av", 1.0, 3, 0.001, **{"conflicts.episodes": 0.0}))  # no conflict: left out
    report = write_capacity_report(_write(tmp_path, rows), "los_per_flight_hour<=0.01")
    (fit,) = report.fits
    assert fit.exponent == pytest.approx(exponent, abs=0.01)
    assert fit.ratio_to_quadratic == pytest.approx(exponent / 2.0, abs=0.005)
    assert fit.coefficient == pytest.approx(0.3, rel=0.02)
    assert 0.0 < fit.exponent_se < 0.01
    assert (len(fit.density), fit.excluded) == (12, 1)
    assert (tmp_path / "capacity-density_fit.png").read_bytes().startswith(PNG_MAGIC)


def test_density_fit_needs_a_duration_and_takes_a_given_one(tmp_path):
    directory = _write(tmp_path, _linear(), meta=None)
    report = write_capacity_report(directory, "los_per_flight_hour<=0.01")
    assert report.fits == () and "duration is unknown" in report.fit_note
    assert "none: the sweep&#x27;s duration is unknown" in (directory / "capacity.html").read_text()
    assert not (directory / "capacity-density_fit.png").exists()
    given = write_capacity_report(directory, "los_per_flight_hour<=0.01", duration_s=3600.0)
    assert given.duration_source == "given" and given.fits[0].exponent == pytest.approx(2.0)
    assert given.scenario == "unnamed scenario"  # no metadata: the columns suffice


# --- errors ---------------------------------------------------------------------------------------------


def test_errors_name_the_folder_the_key_and_the_missing_runs(tmp_path):
    with pytest.raises(CapacityError, match=r"no runs\.parquet"):
        write_capacity_report(tmp_path / "nowhere", "los_per_flight_hour<=0.01")
    directory = _write(tmp_path / "ok", _linear())
    with pytest.raises(
        CapacityError, match=r"^--demand-key: .*grid\.traffic\.rate.*grid keys: demand\.scale"
    ):
        write_capacity_report(directory, "los_per_flight_hour<=0.01", demand_key="traffic.rate")
    with pytest.raises(CapacityError, match=r"^--demand-key: grid\.comms\.profile holds string"):
        write_capacity_report(directory, "los_per_flight_hour<=0.01", demand_key="comms.profile")
    with pytest.raises(CapacityError, match=r"^--safety: runs\.parquet has no column m\.sensing\.misses"):
        write_capacity_report(directory, "sensing.misses<=1")
    with pytest.raises(CapacityError, match=r"^--safety: unknown metric"):
        write_capacity_report(directory, "lost<=1")
    with pytest.raises(CapacityError, match=r"^--duration-s: must be .* > 0 \(got 0.0\)"):
        write_capacity_report(directory, "los_per_flight_hour<=0.01", duration_s=0.0)
    failed = [_run("a", 1.0, s, math.nan, status="failed") for s in range(2)]
    with pytest.raises(CapacityError, match=r"no run finished ok \(2 runs, all failed; first error: Scen"):
        write_capacity_report(_write(tmp_path / "failed", failed), "los_per_flight_hour<=0.01")
