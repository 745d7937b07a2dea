"""The run report: a self-contained page with the header, the metrics and every plot, even when empty."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np

from sim.eventlog import EventLog, read_log
from sim.report import PLOT_TITLES, _uniform_bin, active_series, airborne_series, density_grid, write_report

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
