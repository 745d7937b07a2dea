"""The capacity report of a sweep: ``capacity.html`` with one PNG per metric against demand, the capacity
table and the conflict-rate-versus-density fit; ``format_capacity`` for the terminal. The figures come from
sim/capacity.py.

Layer: sim.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from sim.capacity import (
    CONFIDENCE,
    METRIC_ALIASES,
    PLOTTED_METRICS,
    QUADRATIC_EXPONENT,
    CapacityReport,
    DensityFit,
    DesignCapacity,
    SafetyTarget,
    SweepRuns,
    analyse,
    crossing,
    design_curves,
    fmt_number,
    fmt_value,
)
from sim.report import PAGE_CSS, figure

__all__ = ["format_capacity", "write_capacity_report"]

_NUM = ' class="num"'  # a right-aligned table cell (PAGE_CSS)


def write_capacity_report(
    sweep_dir: str | Path,
    safety: str,
    *,
    out: str | Path | None = None,
    demand_key: str = "demand.scale",
    duration_s: float | None = None,
) -> CapacityReport:
    """Write the capacity page of a sweep and its PNGs beside it; what it computed.

    The page is ``sweep_dir/capacity.html`` unless ``out`` names the page (or an existing folder for it);
    the PNGs are ``<page stem>-<metric>.png``. ``duration_s``, the simulated duration of each run,
    overrides the one in runs.parquet's metadata; the density fit needs one of them. Errors as
    :func:`sim.capacity.analyse`; nothing is written then.
    """
    sweep_dir = Path(sweep_dir)
    page = sweep_dir / "capacity.html" if out is None else Path(out)
    if page.is_dir():
        page = page / "capacity.html"
    report, sweep = analyse(sweep_dir, safety, page=page, demand_key=demand_key, duration_s=duration_s)
    target, fits = report.target, report.fits
    page.parent.mkdir(parents=True, exist_ok=True)
    metrics = dict(PLOTTED_METRICS)
    if all(f"m.{METRIC_ALIASES[name]}" != target.column for name in metrics):
        metrics[target.name] = f"{target.name} (the safety target's metric)"
    sections, plots = [], []
    for name, title in metrics.items():
        column = f"m.{METRIC_ALIASES.get(name, name.removeprefix('m.'))}"
        png = page.with_name(f"{page.stem}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png")
        fig, caption = _plot_metric(sweep, column, title, target if column == target.column else None)
        saved = _save(fig, png)
        sections.append(_section(title, saved, caption, f"no ok run recorded {column.removeprefix('m.')}"))
        plots += [saved] if saved else []
    saved = _save(_plot_fits(fits) if fits else None, page.with_name(f"{page.stem}-density_fit.png"))
    sections.append(_fit_section(report, saved))
    plots += [saved] if saved else []
    report = replace(report, plots=tuple(plots))
    page.write_text(_page(report, sections), encoding="utf-8")
    return report


# --- plots (matplotlib Agg through sim.report.figure) -----------------------------------------------------


def _save(fig: Any, png: Path) -> Path | None:
    """Write the figure as a PNG (no Software/date metadata); with no figure, remove a stale one."""
    if fig is None:
        png.unlink(missing_ok=True)
        return None
    fig.savefig(png, format="png", dpi=100, metadata={"Software": None})
    return png


def _colour(design: int) -> str:
    return f"C{design % 10}"  # the same colour for a design in every plot


def _plot_metric(sweep: SweepRuns, column: str, title: str, target: SafetyTarget | None) -> tuple[Any, str]:
    """Mean against demand, one line per design, with its 95 % band; and the caption."""
    curves = [c for c in design_curves(sweep, column) if (c[1][1] > 0).any()]
    if not curves:
        return None, ""
    fig = figure()
    ax = fig.subplots()
    thin, absent = [], []
    for d, (demand, n, mean, half), _ in curves:
        label, colour = sweep.designs[d][0], _colour(d)
        shown = n > 0
        ax.plot(demand[shown], mean[shown], "o-", color=colour, label=label)
        ax.fill_between(demand[shown], (mean - half)[shown], (mean + half)[shown], color=colour, alpha=0.2)
        if (n == 1).any():
            thin.append(f"{label} at {', '.join(fmt_number(x) for x in demand[n == 1])}")
        if target is not None:
            cap = crossing(demand, mean, target)
            if cap is not None and cap.bound == "=":
                ax.plot([cap.demand], [target.threshold], "D", color=colour, markeredgecolor="k")
    recorded = {d for d, _, _ in curves}
    absent = [label for d, (label, _) in enumerate(sweep.designs) if d not in recorded]
    if target is not None:
        ax.axhline(target.threshold, color="tab:red", ls="--", lw=1.0, label=f"target: {target}")
    demand_key = sweep.demand_column.removeprefix("grid.")
    ax.set(title=title, xlabel=f"demand ({demand_key})", ylabel=title)
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    caption = [f"Mean over seeds at each demand; band: the {CONFIDENCE:.0%} Student-t interval (n - 1 dof)."]
    if target is not None:
        caption.append("Dashed red: the target; diamonds: each design's capacity (the mean's crossing).")
    if thin:
        caption.append(f"One seed, so no band: {'; '.join(thin)}.")
    if absent:
        caption.append(f"Not recorded by: {'; '.join(absent)}.")
    return fig, " ".join(caption)


def _plot_fits(fits: Sequence[DensityFit]) -> Any:
    """Conflict rate against density on log-log axes: the runs, each design's fit and the b = 2 line."""
    shown = [(i, f) for i, f in enumerate(fits) if len(f.density)]
    if not shown:
        return None
    fig = figure(8.0, 5.0)
    ax = fig.subplots()
    for i, fit in shown:
        colour = _colour(i)
        ax.scatter(fit.density, fit.rate_per_h, s=14, color=colour, alpha=0.7)
        x = np.geomspace(fit.density.min(), fit.density.max(), 50)
        if math.isfinite(fit.exponent):
            label = f"{fit.design}: b = {fmt_number(fit.exponent)} ± {fmt_number(fit.exponent_se)}"
            ax.plot(x, fit.coefficient * x**fit.exponent, "-", color=colour, label=label)
        else:
            ax.plot([], [], "o", color=colour, label=f"{fit.design}: no fit (one density)")
        gx, gy = np.exp(np.mean(np.log(fit.density))), np.exp(np.mean(np.log(fit.rate_per_h)))
        ax.plot(x, gy * (x / gx) ** QUADRATIC_EXPONENT, ":", color=colour, lw=1.0)
    ax.plot([], [], ":", color="0.4", label="b = 2 (unstructured airspace), through each design's data")
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 20, not 2 x 10^1
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(plain)
    ax.set(
        title="Conflict rate against traffic density",
        xlabel="density: mean airborne vehicles",
        ylabel="conflict episodes per hour",
    )
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3, which="both")
    return fig


# --- the page --------------------------------------------------------------------------------------------


def _section(title: str, png: Path | None, caption: str, nothing: str) -> str:
    """An h2 and its plot (a file beside the page) with a caption, or the "none" line."""
    if png is None:
        return f'<h2>{html.escape(title)}</h2>\n<p class="none">none: {html.escape(nothing)}</p>'
    text = f"\n<p>{html.escape(caption)}</p>" if caption else ""
    return f'<h2>{html.escape(title)}</h2>\n<img alt="{html.escape(title)}" src="{quote(png.name)}">{text}'


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td{_NUM if i in numeric else ''}>{html.escape(str(v))}</td>" for i, v in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _seeds_text(report: CapacityReport) -> str:
    low, high = report.seeds_per_point
    return f"{low}" if low == high else f"{low} to {high}"


def _duration_text(report: CapacityReport) -> str:
    if report.duration_s is None:
        return "unknown (not in runs.parquet metadata and not given)"
    return f"{fmt_number(report.duration_s)} s ({report.duration_source})"


def _summary_rows(report: CapacityReport) -> list[tuple[str, str]]:
    fixed = ", ".join(f"{k}={fmt_value(v)}" for k, v in report.fixed.items())
    return [
        ("scenario", report.scenario),
        ("safety target", f"{report.target} (metric {report.target.column.removeprefix('m.')})"),
        ("demand axis", report.demand_key),
        ("designs", ", ".join(report.design_keys) or "one (demand is the only grid key that varies)"),
        ("fixed grid keys", fixed or "none"),
        ("runs", f"{report.runs} ({report.runs - report.failed} ok, {report.failed} failed)"),
        ("failed runs", f"{report.failed}, left out of every figure"),
        ("seeds per point", f"{_seeds_text(report)} (ok runs per design and demand)"),
        ("simulated duration per run", _duration_text(report)),
        ("software version", ", ".join(report.software_versions) or "not recorded"),
    ]


def _band_text(design: DesignCapacity) -> str:
    if design.band is None:
        return "n/a"
    low, high = design.band
    return f"{low} to {high}"


def _capacity_html(report: CapacityReport) -> str:
    rows = [(d.design, str(d.capacity or "n/a"), _band_text(d), d.note) for d in report.designs]
    explain = (
        f"The capacity is the highest demand ({html.escape(report.demand_key)}) up to which the mean over "
        f"seeds meets the target <b>{html.escape(str(report.target))}</b>, interpolated linearly between "
        "the last point meeting it and the first point violating it. &ge; x: the target holds at every "
        "tested demand; &lt; x: at none. The range is the same crossing on the lower and upper edges of the "
        f"{CONFIDENCE:.0%} interval; n/a where a point has a single seed."
    )
    header = ["design", f"capacity ({report.demand_key})", f"{CONFIDENCE:.0%} range", "note"]
    return f"<p>{explain}</p>\n" + _table(header, rows, numeric=(1, 2))


def _points_html(report: CapacityReport) -> str:
    rows = []
    for d in report.designs:
        for i, demand in enumerate(d.demand):
            low, high = d.mean[i] - d.half_width[i], d.mean[i] + d.half_width[i]
            band = "no band (one seed)" if d.n[i] == 1 else f"{fmt_number(low)} to {fmt_number(high)}"
            rows.append(
                (d.design, fmt_number(demand), int(d.seeds[i]), int(d.n[i]), fmt_number(d.mean[i]), band)
            )
    header = ["design", report.demand_key, "ok runs", "recorded", "mean", f"{CONFIDENCE:.0%} interval"]
    return _table(header, rows, numeric=(1, 2, 3, 4, 5))


def _fit_section(report: CapacityReport, png: Path | None) -> str:
    title = "Conflict rate against density"
    if report.fit_note:
        return f'<h2>{title}</h2>\n<p class="none">none: {html.escape(report.fit_note)}</p>'
    rows = []
    for f in report.fits:
        departure = (f.exponent - QUADRATIC_EXPONENT) / f.exponent_se if f.exponent_se > 0 else math.nan
        rows.append(
            (
                f.design,
                len(f.density),
                f.excluded,
                fmt_number(f.exponent),
                fmt_number(f.exponent_se),
                fmt_number(f.ratio_to_quadratic),
                fmt_number(departure),
                fmt_number(f.coefficient),
            )
        )
    header = ["design", "runs fitted", "runs left out", "b", "SE of b", "b / 2", "(b - 2) / SE", "a (per h)"]
    explain = (
        "Density is the mean number of airborne vehicles, flight hours x 3600 / duration; the simulated "
        f"duration is {_duration_text(report)}. The conflict rate is the number of conflict episodes per "
        "hour of simulation. Each design's fit is the least-squares line log rate = log a + b log density "
        "over its ok runs; runs with no conflict or no flight are left out (their log is undefined). "
        "In unstructured airspace conflicts grow with the square of density (b = 2, the dotted lines "
        "through each design's geometric mean); b / 2 below 1 means the design's structure removes "
        "conflicts as traffic grows, and (b - 2) / SE says how many standard errors b lies from 2."
    )
    image = "" if png is None else f'\n<img alt="{title}" src="{quote(png.name)}">'
    return f"<h2>{title}</h2>\n<p>{html.escape(explain)}</p>\n" + _table(header, rows, range(1, 8)) + image


def _page(report: CapacityReport, sections: Sequence[str]) -> str:
    title = f"utm6g capacity report: {report.scenario}"
    summary = "<table>" + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _summary_rows(report)
    )
    summary += "</table>"
    failed = ""
    if report.failures:
        shown = report.failures[:20]
        more = len(report.failures) - len(shown)
        failed = "\n<h2>Failed runs</h2>\n" + _table(["run", "error"], shown)
        failed += f"\n<p>and {more} more</p>" if more else ""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{PAGE_CSS}</style></head><body>\n<h1>{html.escape(title)}</h1>\n{summary}{failed}\n"
        f"<h2>Capacity</h2>\n{_capacity_html(report)}\n"
        f"<h2>Safety metric by demand</h2>\n{_points_html(report)}\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


# --- the terminal ------------------------------------------------------------------------------------------


def format_capacity(report: CapacityReport) -> str:
    """The capacity and density-fit tables as plain text, for the terminal."""
    lines = [
        f"safety target: {report.target}   demand axis: {report.demand_key}",
        f"runs: {report.runs} ({report.failed} failed, left out); seeds per point: {_seeds_text(report)}",
        "",
    ]
    rows = [("design", "capacity", f"{CONFIDENCE:.0%} range", "note")]
    rows += [(d.design, str(d.capacity or "n/a"), _band_text(d), d.note) for d in report.designs]
    lines += _columns(rows)
    lines.append("")
    if report.fit_note:
        lines.append(f"conflict rate vs density: none ({report.fit_note})")
    else:
        lines.append(
            f"conflict rate ~ a * density^b (b = 2: unstructured airspace); {_duration_text(report)}"
        )
        rows = [("design", "runs", "b", "SE", "b/2")]
        rows += [
            (
                f.design,
                str(len(f.density)),
                fmt_number(f.exponent),
                fmt_number(f.exponent_se),
                fmt_number(f.ratio_to_quadratic),
            )
            for f in report.fits
        ]
        lines += _columns(rows)
    lines.append(f"page: {report.path}")
    return "\n".join(lines)


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
