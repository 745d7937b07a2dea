"""The run report: a self-contained page with the header, the metrics and every plot, even when empty; and
the network sections (latency, detection vs range and altitude, track errors, SINR maps) of runs with a 6G
profile."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest

from sim.eventlog import EventLog, read_log
from sim.report import (
    NETWORK_PLOT_TITLES,
    PLOT_TITLES,
    _fmt,
    _uniform_bin,
    active_series,
    airborne_series,
    density_grid,
    latency_histograms,
    write_report,
)
from sim.run import RunResult, run_header, simulate
from sim.scenario import load_scenario

HEADER = {
    "software_version": "0.1.0-test",
    "seed": 20260302,
    "scenario": {"name": "nanshan <small>", "duration_s": 120.0},
}
METRICS = {
    "flights": {"requested": 12345, "flown": 3, "not_flown": 0},
    "safety": {"nmac": 0, "los_per_flight_hour": 0.123456, "min_separation_m": 4321.5},
    "throughput_per_h": 7.5,
    "met_target": True,
    "worst_cells": [3, 4],
    "notes": "a < b & c",
}


def _small_run(directory: Path, *, row_group_rows: int = 16) -> None:
    """Three flights over 60 s, one conflict that becomes a LoS, delays and extensions."""
    with EventLog(directory, HEADER, row_group_rows=row_group_rows) as log:
        for f, delay_s in enumerate((0.0, 30.0, 90.0)):
            log.flight(f, vehicle="quad", kind="delivery", requested_s=0.0, planned_takeoff_s=delay_s)
            log.event(0.0, "request", flight=f)
            log.event(0.0, "decision", flight=f, value=delay_s)
        for t in range(60):
            ids = np.arange(3) if t < 40 else np.arange(2)
            pos = np.column_stack([ids * 500.0 + 10.0 * t, ids * 200.0, np.full(len(ids), 45.0)])
            log.states(float(t), ids, pos, np.ones((len(ids), 3)), np.zeros(len(ids), np.int8))
            if t == 10:
                log.event(10.0, "conflict_start", flight=0, other=1)
            if t == 15:
                log.event(15.0, "los_start", flight=0, other=1)
            if t == 20:
                log.events(20.0, "los_end", np.array([0]), other=np.array([1]))
                log.event(20.0, "conflict_end", flight=0, other=1)
        log.event(40.0, "landing", flight=2, value=12.0)
        log.event(60.0, "landing", flight=0, value=3.5)


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_holds_header_metrics_and_every_plot(tmp_path: Path):
    _small_run(tmp_path / "log")
    path = write_report(tmp_path, read_log(tmp_path / "log", columns=[]), METRICS)
    assert path == tmp_path / "report.html"
    page = path.read_text(encoding="utf-8")

    for title in PLOT_TITLES.values():
        assert f"<h2>{title}</h2>" in page
    assert "nanshan &lt;small&gt;" in page and "20,260,302" in page and "0.1.0-test" in page
    assert "120 s (0 h 02 min 00 s)" in page
    for key, shown in [
        ("flights.requested", "12,345"),
        ("safety.los_per_flight_hour", "0.1235"),
        ("safety.min_separation_m", "4,321.5"),
        ("throughput_per_h", "7.5"),
        ("met_target", "yes"),
        ("worst_cells", "3, 4"),
        ("notes", "a &lt; b &amp; c"),
    ]:
        assert re.search(rf"<th>{re.escape(key)}</th><td[^>]*>{re.escape(shown)}</td>", page), key
    images = _images(page)
    assert len(images) == len(PLOT_TITLES)
    assert all(img.startswith(b"\x89PNG\r\n\x1a\n") for img in images)
    assert "none:" not in page


def test_report_is_self_contained(tmp_path: Path):
    _small_run(tmp_path / "log")
    page = write_report(tmp_path, read_log(tmp_path / "log"), METRICS).read_text(encoding="utf-8")
    assert not re.search(r"https?://", page, re.IGNORECASE)
    assert "<script" not in page and "<link" not in page
    assert not re.search(r'src="(?!data:)', page)
    assert all(b"http" not in img for img in _images(page))  # no Software URL in the PNG metadata


def test_an_empty_log_gives_a_legible_page(tmp_path: Path):
    EventLog(tmp_path / "log", {"software_version": "0", "seed": 0, "scenario": {}}).close()
    page = write_report(tmp_path / "out", read_log(tmp_path / "log"), {}).read_text(encoding="utf-8")
    for title in PLOT_TITLES.values():
        assert re.search(rf"<h2>{re.escape(title)}</h2>\n<p class=\"none\">none: ", page), title
    assert "none: no metrics were given" in page
    assert "unnamed scenario" in page and "none (not declared, nothing recorded)" in page
    assert "<img" not in page


def test_flights_without_conflicts_say_none_for_conflicts_only(tmp_path: Path):
    with EventLog(tmp_path / "log", HEADER) as log:
        log.states(0.0, np.arange(2), np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(2, np.int8))
        log.event(0.0, "decision", flight=0)  # value NaN: no delay to plot
    page = write_report(tmp_path, read_log(tmp_path / "log"), {"n": 1}).read_text(encoding="utf-8")
    assert page.count("<img") == 2  # airborne and density (a single point)
    assert "none: no conflict or LoS recorded" in page and "none: no decision carried a delay" in page


def test_series_match_a_brute_force_count(tmp_path: Path):
    """Oracle: per-time row counts, +1/-1 bookkeeping and a 2D count done by hand on the full table."""
    _small_run(tmp_path / "log", row_group_rows=7)  # times straddle row groups and batches
    log = read_log(tmp_path / "log")
    t_s, airborne = airborne_series(log)
    np.testing.assert_array_equal(t_s, np.arange(60.0))
    np.testing.assert_array_equal(airborne, [3] * 40 + [2] * 20)

    kinds = log.events["kind"].cast("string")
    t, active = active_series(log.events, kinds, "los_start", "los_end")
    assert t.tolist() == [15.0, 20.0] and active.tolist() == [1, 0]

    counts, x_edges, y_edges = density_grid(log, bins=10)
    x, y = log.states["x_m"].to_numpy(), log.states["y_m"].to_numpy()
    assert counts.sum() == len(x) == log.states.num_rows
    assert x_edges[0] == x.min() and x_edges[-1] >= x.max() and y_edges[-1] >= y.max()
    np.testing.assert_array_equal(counts, np.histogram2d(x, y, bins=(x_edges, y_edges))[0])


def test_uniform_binning_agrees_with_numpy_on_edges_nan_and_outside():
    """The fast binning behind the heatmap, against np.histogram's bins (the slow path it replaces)."""
    edges = 0.1 + 0.3 * np.arange(11)
    rng = np.random.default_rng(5)
    values = np.concatenate(
        [edges, edges + 1e-12, edges - 1e-12, rng.uniform(-1.0, 4.5, 10_000), [np.nan, -np.inf, np.inf]]
    )
    index = _uniform_bin(values, edges)
    inside = (values >= edges[0]) & (values <= edges[-1])
    assert (index[~inside] == -1).all()
    np.testing.assert_array_equal(np.bincount(index[inside], minlength=10), np.histogram(values, edges)[0])
    for v, i in zip(values[inside], index[inside], strict=True):  # each value, not just the totals
        assert i == np.histogram([v], edges)[0].argmax()


def test_the_same_log_gives_the_same_page(tmp_path: Path):
    _small_run(tmp_path / "log")
    log = read_log(tmp_path / "log")
    first = write_report(tmp_path / "a", log, METRICS).read_bytes()
    assert first == write_report(tmp_path / "b", log, METRICS).read_bytes()


# --- the network sections (6G profiles) -------------------------------------------------------------------

TINY = Path(__file__).resolve().parents[2] / "scenarios" / "shenzhen-nanshan" / "tiny.yaml"
SECTIONS = re.compile(
    r'<h2>([^<]*)</h2>\n(?:<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">'
    r'(?:\n<p>([^<]*)</p>)?|<p class="none">([^<]*)</p>)'
)


def _sections(page: str) -> dict[str, tuple[bytes | None, str]]:
    """Section title -> (PNG, caption), or (None, the "none" line)."""
    return {
        title: (base64.b64decode(png), caption) if png else (None, none)
        for title, png, caption, none in SECTIONS.findall(page)
    }


def _row(page: str, key: str) -> str:
    match = re.search(rf"<tr><th>{re.escape(key)}</th><td[^>]*>([^<]*)</td>", page)
    assert match, key
    return match.group(1)


def _is_png(data: bytes) -> bool:
    """A PNG matplotlib can decode, of a sensible size."""
    from matplotlib.image import imread

    image = imread(io.BytesIO(data), format="png")
    return data.startswith(b"\x89PNG\r\n\x1a\n") and image.shape[0] > 200 and image.shape[1] > 500


@pytest.fixture(scope="module")
def isac_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return simulate(
        load_scenario(TINY, ["comms.profile=6g-isac-fr1"], duration_s=120.0), tmp_path_factory.mktemp("isac")
    )


def test_an_isac_run_reports_latency_detection_and_sinr_maps(isac_run: RunResult):
    page = isac_run.report.read_text(encoding="utf-8")
    sections = _sections(page)
    net = isac_run.metrics["network"]
    assert list(sections) == [*PLOT_TITLES.values(), *NETWORK_PLOT_TITLES.values()]
    for title in NETWORK_PLOT_TITLES.values():
        png, _ = sections[title]
        assert png is not None and _is_png(png), title
    expected = []  # the messages table's counts are the network's own
    for name, sent in (("reports", net["reports"]), ("advisories", net["advisories"])):
        rate = f"{100 * sent['loss_rate']:.3g} %" if sent["sent"] else "n/a"
        expected.append(f"{name}: {sent['sent']:,} sent, {sent['lost']:,} lost (loss rate {rate})")
    assert sections[NETWORK_PLOT_TITLES["latency"]][1] == "; ".join(expected)
    tried = sum(net["detection_by_range_50m"]["tried"])
    assert f"of {tried:,} detected" in sections[NETWORK_PLOT_TITLES["detection"]][1]
    assert f"of {tried:,} detected" in sections[NETWORK_PLOT_TITLES["detection_altitude"]][1]  # same pairs
    assert "15 m bin of target height" in sections[NETWORK_PLOT_TITLES["detection_altitude"]][1]
    scored = sum(net["track_error"]["cooperative"]["by_altitude_15m"]["count"])
    for key in ("track_error_altitude", "track_error_distance"):
        assert f"Samples: cooperative {scored:,}; sensing-only " in sections[NETWORK_PLOT_TITLES[key]][1]
    assert "2,083 sites (dots)" in sections[NETWORK_PLOT_TITLES["sinr"]][1]
    assert _row(page, "comms") == "6g-isac-fr1"
    for key in ("noncooperative_detection_rate", "time_to_first_detection_s.mean", "false_alarms_per_scan"):
        _row(page, f"sensing.{key}")
    assert _row(page, "sensing.false_alarms_per_scan") == _fmt(
        isac_run.metrics["sensing"]["false_alarms_per_scan"]
    )


def test_an_ideal_run_has_no_network_section(tmp_path: Path):
    run = simulate(load_scenario(TINY, duration_s=60.0), tmp_path)
    page = run.report.read_text(encoding="utf-8")
    assert list(_sections(page)) == list(PLOT_TITLES.values())
    assert _row(page, "comms") == "ideal (no network model)"
    assert _row(page, "network") == "none"


def test_latency_counts_and_quantiles_match_the_messages(tmp_path: Path):
    """Oracle: sent, lost and latencies written by hand, over row groups of 3 (several batches)."""
    with EventLog(tmp_path / "log", HEADER, row_group_rows=3) as log:
        pos = np.zeros((4, 3))
        log.messages("report", np.arange(4), 1.0, np.array([1.005, 1.010, np.nan, 1.020]), pos)
        log.messages("advisory", np.arange(2), 2.0, np.array([2.008, np.nan]), pos[:2])
        log.messages("detection", np.arange(4), 3.0, 3.1, pos)  # not a report or an advisory
        log.messages("report", np.arange(3), 4.0, np.array([4.005, np.nan, 4.0]), pos[:3])
    histograms = latency_histograms(read_log(tmp_path / "log").messages)
    assert list(histograms) == ["report", "advisory"]
    reports, sent, lost = histograms["report"]
    assert (sent, lost, reports.count) == (7, 2, 5)
    assert 10 ** reports.quantile(0.0) < 0.0101  # a zero latency: the first bin (10 us)
    assert 10 ** reports.quantile(0.5) == pytest.approx(5.0, rel=0.012)  # 200 bins a decade: 1.2 %
    assert 10 ** reports.quantile(1.0) == pytest.approx(20.0, rel=0.012)
    advisories, sent, lost = histograms["advisory"]
    assert (sent, lost, advisories.count) == (2, 1, 1) and 10 ** advisories.quantile(0.5) == pytest.approx(
        8.0, rel=0.012
    )


def test_a_non_isac_run_without_its_region_maps_the_traffic_and_has_no_detection_plot(tmp_path: Path):
    """5g-fr1 has no sensing; a region file that moved leaves the map over the recorded states."""
    header = run_header(load_scenario(TINY, ["comms.profile=5g-fr1"], duration_s=60.0))
    header["scenario"]["region"] = str(tmp_path / "moved" / "region.yaml")
    with EventLog(tmp_path / "log", header) as log:
        pos = np.array([[-1500.0, -500.0, 60.0], [1500.0, 700.0, 60.0]])
        log.states(0.0, np.arange(2), pos, np.zeros((2, 3)), np.zeros(2, np.int8))
        log.messages("report", np.arange(2), 0.0, np.array([0.012, np.nan]), pos)
    metrics = {"network": {"profile": "5g-fr1", "detection_by_range_50m": {"tried": [0], "detected": [0]}}}
    page = write_report(tmp_path, read_log(tmp_path / "log"), metrics).read_text(encoding="utf-8")
    sections = _sections(page)
    assert NETWORK_PLOT_TITLES["detection"] not in sections
    assert NETWORK_PLOT_TITLES["detection_altitude"] not in sections
    assert sections[NETWORK_PLOT_TITLES["track_error_altitude"]] == (
        None,
        "none: the metrics carry no track errors",
    )
    assert sections[NETWORK_PLOT_TITLES["latency"]][1] == (
        "reports: 2 sent, 1 lost (loss rate 50 %); advisories: 0 sent, 0 lost (loss rate n/a)"
    )
    png, caption = sections[NETWORK_PLOT_TITLES["sinr"]]
    assert _is_png(png) and "A 3 km x 1.2 km window at the centre of the recorded states" in caption
    assert "region file unreadable" in caption and _row(page, "comms") == "5g-fr1"
