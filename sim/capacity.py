"""Capacity of each design in a sweep against a target level of safety, and how conflicts grow with
density (``utm6g capacity``).

Reads ``DIR/runs.parquet`` from the sweep runner: one row per run, a ``grid.<key>`` column per grid key
and an ``m.<dotted metric>`` column per metric. One grid key is the demand axis (``demand.scale`` by
default); each combination of the other grid keys is a design, drawn as one line. At each design and
demand the figures are the mean over seeds with a 95 % Student-t interval. A design's capacity is the
demand where the mean crosses the target, interpolated linearly. Its range is the same crossing on the
interval's edges. The density fit measures the exponent b of conflict rate ~ density^b. The gas model of
unstructured airspace gives b = 2 (Sunil et al., "Metropolis", ATM Seminar 2015). sim/capacity_page.py
draws it all.

Layer: sim; imports numpy, scipy and pyarrow; never api.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats

from sim.errors import FieldError

__all__ = [
    "CONFIDENCE",
    "METRIC_ALIASES",
    "PLOTTED_METRICS",
    "QUADRATIC_EXPONENT",
    "CapacityError",
    "CapacityReport",
    "Crossing",
    "DensityFit",
    "DesignCapacity",
    "SafetyTarget",
    "SweepRuns",
    "analyse",
    "crossing",
    "design_curves",
    "fit_power_law",
    "fmt_number",
    "fmt_value",
    "parse_safety",
    "point_statistics",
    "read_sweep",
]

METRIC_ALIASES: dict[str, str] = {
    "los_per_flight_hour": "los.per_flight_hour",
    "nmac_per_flight_hour": "nmac.per_flight_hour",
    "conflicts_per_flight_hour": "conflicts.per_flight_hour",
    "rejection_rate": "strategic.rejection_rate",
    "delay_mean_s": "strategic.delay_s.mean",
    "report_latency_p99_ms": "network.reports.latency_ms.p99",
}
"""Short names accepted by ``--safety``, and the dotted metric keys they stand for."""

PLOTTED_METRICS: dict[str, str] = {
    "los_per_flight_hour": "Losses of separation per flight-hour",
    "nmac_per_flight_hour": "NMACs per flight-hour",
    "conflicts_per_flight_hour": "Conflicts per flight-hour",
    "rejection_rate": "Strategic rejection rate",
    "delay_mean_s": "Mean strategic delay (s)",
    "report_latency_p99_ms": "Report latency p99 (ms)",
}
"""The metrics drawn against demand, in page order, with their titles. Each short name is a
METRIC_ALIASES key."""

QUADRATIC_EXPONENT = 2.0  # conflict rate ~ density^2 in unstructured airspace (gas model)
CONFIDENCE = 0.95
_OPERATORS = ("<=", ">=", "<", ">")
_SAFETY = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_FIT_COLUMNS = ("m.flight_hours", "m.conflicts.episodes")


class CapacityError(FieldError):
    """A sweep folder, option or safety expression the capacity report cannot use; the message reads
    ``"<field>: <reason>"``.

    >>> str(CapacityError("--safety", "unknown operator"))
    '--safety: unknown operator'
    """


# --- the safety target ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SafetyTarget:
    """A target level of safety: ``metric operator threshold`` on one ``m.<key>`` column of runs.parquet."""

    name: str  # as written: a short name or a dotted key
    column: str  # "m.los.per_flight_hour"
    operator: Literal["<=", "<", ">=", ">"]
    threshold: float

    def meets(self, values: Any) -> np.ndarray:
        """Whether each value meets the target (NaN never does); shape of ``values``.

        >>> parse_safety("rejection_rate<0.1").meets([0.05, 0.1, float("nan")])
        array([ True, False, False])
        """
        v = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            compare = {"<=": np.less_equal, "<": np.less, ">=": np.greater_equal, ">": np.greater}
            return compare[self.operator](v, self.threshold)

    def __str__(self) -> str:
        return f"{self.name} {self.operator} {self.threshold:g}"


def _known_names() -> str:
    return ", ".join(METRIC_ALIASES) + ", or any dotted metric key (los.per_flight_hour)"


def parse_safety(text: str) -> SafetyTarget:
    """The target of ``--safety``: ``<metric><op><number>`` with op one of <=, <, >=, >.

    The metric is a short name of METRIC_ALIASES or a dotted metric key (an ``m.`` prefix is allowed).

    >>> parse_safety("los_per_flight_hour<=0.01")
    SafetyTarget(name='los_per_flight_hour', column='m.los.per_flight_hour', operator='<=', threshold=0.01)
    >>> parse_safety("network.reports.latency_ms.p99 < 50").column
    'm.network.reports.latency_ms.p99'
    >>> parse_safety("los_per_flight_hour=0.01")
    Traceback (most recent call last):
    ...
    sim.capacity.CapacityError: --safety: cannot read 'los_per_flight_hour=0.01': ...
    """
    match = _SAFETY.match(text or "")
    if match is None:
        raise CapacityError(
            "--safety",
            f"cannot read {text!r}: write <metric><op><number> with op one of {', '.join(_OPERATORS)} "
            f"(e.g. los_per_flight_hour<=0.01); metrics: {_known_names()}",
        )
    name, operator, number = match.groups()
    key = METRIC_ALIASES.get(name)
    if key is None:
        if not _DOTTED.match(name):
            raise CapacityError("--safety", f"unknown metric {name!r}; known names: {_known_names()}")
        key = name.removeprefix("m.")
    try:
        threshold = float(number)
    except ValueError:
        threshold = math.nan
    if not math.isfinite(threshold):
        raise CapacityError("--safety", f"threshold must be a finite number (got {number!r} in {text!r})")
    return SafetyTarget(name, f"m.{key}", operator, threshold)  # type: ignore[arg-type]


# --- statistics (numpy and scipy only) ---------------------------------------------------------------


def point_statistics(demand: Any, values: Any) -> tuple[np.ndarray, ...]:
    """Per distinct demand, ascending: (demand, n, mean, half-width of the 95 % Student-t interval).

    n counts the finite values (seeds that recorded the metric); the mean is NaN at n = 0 and the
    half-width NaN at n < 2 (no band from one seed).

    >>> d, n, mean, half = point_statistics([1, 1, 2], [1.0, 3.0, 5.0])
    >>> n.tolist(), mean.tolist(), [round(h, 3) for h in half.tolist()]
    ([2, 1], [2.0, 5.0], [12.706, nan])
    """
    demand = np.asarray(demand, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    points, where = np.unique(demand, return_inverse=True)
    finite = np.isfinite(values)
    n = np.bincount(where[finite], minlength=len(points))
    total = np.bincount(where[finite], weights=values[finite], minlength=len(points))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        squares = np.bincount(
            where[finite], weights=(values[finite] - mean[where[finite]]) ** 2, minlength=len(points)
        )
        sd = np.sqrt(squares / (n - 1))
        t = stats.t.ppf(0.5 + CONFIDENCE / 2, np.maximum(n - 1, 1))
        half = np.where(n >= 2, t * sd / np.sqrt(n), np.nan)
    return points, n, mean, half


@dataclass(frozen=True, slots=True)
class Crossing:
    """Where a curve stops meeting the target: ``=`` interpolated demand, ``>=`` the target holds at every
    point (demand = the highest tested), ``<`` it holds at none (demand = the lowest tested).

    >>> str(Crossing(1.25, "=")), str(Crossing(3.0, ">=")), str(Crossing(0.5, "<"))
    ('1.25', '>= 3', '< 0.5')
    """

    demand: float
    bound: Literal["=", ">=", "<"]

    def __str__(self) -> str:
        value = fmt_number(self.demand)
        return value if self.bound == "=" else f"{self.bound} {value}"

    def order(self) -> tuple[float, int]:
        """Sort key: by demand, and at a tie "< x" before "x" before ">= x"."""
        return self.demand, {"<": 0, "=": 1, ">=": 2}[self.bound]


def crossing(demand: Any, curve: Any, target: SafetyTarget) -> Crossing | None:
    """The highest demand up to which ``curve`` meets the target: linear between the last point meeting it
    and the first point violating it. Points where the curve is NaN are skipped; None when all are.

    >>> t = parse_safety("los_per_flight_hour<=0.01")
    >>> crossing([1, 2, 3], [0.004, 0.008, 0.016], t)
    Crossing(demand=2.25, bound='=')
    >>> crossing([1, 2], [0.02, 0.03], t), crossing([1, 2], [0.0, 0.0], t)
    (Crossing(demand=1.0, bound='<'), Crossing(demand=2.0, bound='>='))
    """
    x = np.asarray(demand, dtype=np.float64)
    y = np.asarray(curve, dtype=np.float64)
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    if not len(x):
        return None
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    bad = np.flatnonzero(~target.meets(y))
    if not len(bad):
        return Crossing(float(x[-1]), ">=")
    k = int(bad[0])
    if k == 0:
        return Crossing(float(x[0]), "<")
    x0, x1, y0, y1 = x[k - 1], x[k], y[k - 1], y[k]
    return Crossing(float(x0 + (target.threshold - y0) * (x1 - x0) / (y1 - y0)), "=")


def fit_power_law(x: Any, y: Any) -> tuple[float, float, float]:
    """Least squares of log y = log a + b log x over the points with x > 0 and y > 0: (b, standard error
    of b, a). The error is NaN with fewer than 3 points; everything is NaN with fewer than 2 distinct x.

    >>> b, se, a = fit_power_law([1.0, 2.0, 4.0], [3.0, 12.0, 48.0])
    >>> round(b, 12), round(se, 12), round(a, 12)
    (2.0, 0.0, 3.0)
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        keep = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    lx, ly = np.log(x[keep]), np.log(y[keep])
    n = len(lx)
    if n < 2 or np.ptp(lx) == 0:
        return math.nan, math.nan, math.nan
    sxx = float(np.sum((lx - lx.mean()) ** 2))
    b = float(np.sum((lx - lx.mean()) * (ly - ly.mean())) / sxx)
    log_a = float(ly.mean() - b * lx.mean())
    se = math.sqrt(float(np.sum((ly - log_a - b * lx) ** 2)) / (n - 2) / sxx) if n > 2 else math.nan
    return b, se, math.exp(log_a)


# --- results ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DesignCapacity:
    """One design's target metric against demand and its capacity.

    ``band`` is (low, high): the crossings of the interval's two edges, sorted; None when a point has
    fewer than two seeds (no interval). ``note`` says what is unusual (a point without ok runs, the target
    met again above the capacity, no band).
    """

    design: str  # "comms.profile=uma-av", or "all runs" when the demand is the only grid key
    values: dict[str, Any]  # grid key -> value
    demand: np.ndarray  # distinct demands with ok runs, ascending
    seeds: np.ndarray  # ok runs per demand
    n: np.ndarray  # runs recording the target metric, per demand
    mean: np.ndarray
    half_width: np.ndarray  # of the 95 % interval; NaN where n < 2
    capacity: Crossing | None
    band: tuple[Crossing, Crossing] | None
    note: str


@dataclass(frozen=True, slots=True)
class DensityFit:
    """Conflict rate (episodes per simulated hour) against density (mean airborne vehicles) of one
    design's runs, fitted as rate = a * density^b."""

    design: str
    density: np.ndarray  # vehicles, per run used
    rate_per_h: np.ndarray  # conflict episodes per hour of simulation, per run used
    excluded: int  # ok runs without a positive density and conflict rate (log undefined)
    exponent: float  # b (NaN: fewer than two distinct densities)
    exponent_se: float  # standard error of b (NaN: fewer than three runs)
    coefficient: float  # a, episodes per hour at one vehicle

    @property
    def ratio_to_quadratic(self) -> float:
        """b / 2: 1 is the gas model of unstructured airspace; below 1, structure removes conflicts."""
        return self.exponent / QUADRATIC_EXPONENT


@dataclass(frozen=True, slots=True)
class CapacityReport:
    """What ``write_capacity_report`` computed and wrote."""

    path: Path  # the page
    plots: tuple[Path, ...]  # the PNGs beside it
    target: SafetyTarget
    demand_key: str
    design_keys: tuple[str, ...]  # grid keys that vary between designs
    fixed: dict[str, Any]  # grid keys with a single value over the sweep
    runs: int
    failures: tuple[tuple[str, str], ...]  # (run, error) of each failed run, excluded from every figure
    seeds_per_point: tuple[int, int]  # fewest and most ok runs at a (design, demand) point with any
    designs: tuple[DesignCapacity, ...]
    fits: tuple[DensityFit, ...]  # empty when the density cannot be computed (see fit_note)
    duration_s: float | None
    duration_source: str  # "runs.parquet metadata", "given", or "unknown"
    fit_note: str  # why there are no fits, else ""
    scenario: str
    software_versions: tuple[str, ...]

    @property
    def failed(self) -> int:
        """How many runs failed."""
        return len(self.failures)


# --- reading runs.parquet --------------------------------------------------------------------------------


@dataclass(slots=True)
class SweepRuns:
    table: pa.Table  # all runs
    ok: np.ndarray  # bool per row
    meta: dict[str, Any]
    demand_column: str
    design_keys: list[str]
    fixed: dict[str, Any]
    design_of: np.ndarray  # design index per row
    designs: list[tuple[str, dict[str, Any]]]  # label, values

    def column(self, name: str) -> np.ndarray:
        """A metric column as float64 (NaN for null); all NaN when runs.parquet lacks it."""
        if name not in self.table.column_names:
            return np.full(self.table.num_rows, np.nan)
        return np.asarray(self.table[name].cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64)


def read_sweep(sweep_dir: Path, demand_key: str) -> SweepRuns:
    path = sweep_dir / "runs.parquet"
    if not path.is_file():
        raise CapacityError(str(sweep_dir), "no runs.parquet here (a sweep folder holds one per sweep)")
    table = pq.read_table(path)
    missing = [c for c in ("run", "status") if c not in table.column_names]
    if missing:
        raise CapacityError(str(path), f"missing column {', '.join(missing)}; is this a sweep's runs table?")
    meta = _metadata(table.schema.metadata or {})
    grid = [c for c in table.column_names if c.startswith("grid.")]
    demand_column = demand_key if demand_key.startswith("grid.") else f"grid.{demand_key}"
    if demand_column not in grid:
        keys = ", ".join(c.removeprefix("grid.") for c in grid) or "none"
        raise CapacityError(
            "--demand-key", f"runs.parquet has no grid column {demand_column} (grid keys: {keys})"
        )
    if not pa.types.is_integer(table[demand_column].type) and not pa.types.is_floating(
        table[demand_column].type
    ):
        raise CapacityError(
            "--demand-key",
            f"{demand_column} holds {table[demand_column].type}, not numbers; pick a numeric key",
        )
    status = table["status"].to_pylist()
    ok = np.array([s == "ok" for s in status], bool)
    if not ok.any():
        errors = [e for e in (table["error"].to_pylist() if "error" in table.column_names else []) if e]
        first = f"; first error: {errors[0]}" if errors else ""
        raise CapacityError(str(path), f"no run finished ok ({table.num_rows} runs, all failed{first})")
    demand = table[demand_column].cast(pa.float64()).to_numpy(zero_copy_only=False)
    if not np.isfinite(demand[ok]).all():
        raise CapacityError("--demand-key", f"{demand_column} is null or not finite in some ok runs")
    others = [c for c in grid if c != demand_column]
    columns = {c: table[c].to_pylist() for c in others}
    fixed = {c.removeprefix("grid."): v[0] for c, v in columns.items() if len({_key(x) for x in v}) == 1}
    design_keys = [c.removeprefix("grid.") for c in others if c.removeprefix("grid.") not in fixed]
    index: dict[tuple[str, ...], int] = {}
    designs: list[tuple[str, dict[str, Any]]] = []
    design_of = np.empty(table.num_rows, np.int64)
    for row in range(table.num_rows):
        values = {k: columns[f"grid.{k}"][row] for k in design_keys}
        key = tuple(_key(v) for v in values.values())
        if key not in index:
            index[key] = len(designs)
            label = ", ".join(f"{k}={fmt_value(v)}" for k, v in values.items()) or "all runs"
            designs.append((label, values))
        design_of[row] = index[key]
    return SweepRuns(table, ok, meta, demand_column, design_keys, fixed, design_of, designs)


def _metadata(raw: Mapping[bytes, bytes]) -> dict[str, Any]:
    """The sweep's plan from the schema metadata: one JSON value per key (sim/sweep.py writes
    ``scenario``, ``duration_s``, ``grid``, ...); an unreadable value is left out."""
    meta: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            meta[key.decode()] = json.loads(value)
        except (UnicodeDecodeError, ValueError):
            continue
    return meta


def _key(value: Any) -> str:
    """A grid value as a hashable, order-stable key (lists and dicts from JSON included)."""
    return json.dumps(value, sort_keys=True, default=str)


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return fmt_number(value)
    return "none" if value is None else str(value)


def fmt_number(value: float | None) -> str:
    """A number as a person reads it: 4 significant digits, n/a for NaN."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}"


# --- computing ---------------------------------------------------------------------------------------------


def design_curves(sweep: SweepRuns, column: str) -> list[tuple[int, tuple[np.ndarray, ...], np.ndarray]]:
    """Per design with ok runs: (design index, point_statistics of ``column``, ok runs per demand)."""
    demand = sweep.column(sweep.demand_column)
    values = sweep.column(column)
    out = []
    for d in range(len(sweep.designs)):
        rows = sweep.ok & (sweep.design_of == d)
        if rows.any():
            points = point_statistics(demand[rows], values[rows])
            seeds = np.unique(demand[rows], return_counts=True)[1]
            out.append((d, points, seeds))
    return out


def _design_capacities(sweep: SweepRuns, target: SafetyTarget) -> list[DesignCapacity]:
    every_demand = np.unique(sweep.column(sweep.demand_column)[sweep.ok])
    found = {d: (points, seeds) for d, points, seeds in design_curves(sweep, target.column)}
    out = []
    for d, (label, values) in enumerate(sweep.designs):
        if d not in found:
            empty = np.empty(0)
            out.append(
                DesignCapacity(label, values, empty, empty, empty, empty, empty, None, None, "no ok run")
            )
            continue
        (demand, n, mean, half), seeds = found[d]
        capacity = crossing(demand, mean, target)
        notes = []
        absent = np.setdiff1d(every_demand, demand)
        if len(absent):
            notes.append(f"no ok run at demand {', '.join(fmt_number(x) for x in absent)}")
        unrecorded, thin, band = demand[n == 0], demand[n == 1], None
        if capacity is None:
            notes.append("metric not recorded")
        else:
            if len(unrecorded):
                notes.append(f"metric not recorded at demand {', '.join(fmt_number(x) for x in unrecorded)}")
            if len(thin):
                notes.append(f"no band: one seed at demand {', '.join(fmt_number(x) for x in thin)}")
            else:
                edges = [crossing(demand, mean + s * half, target) for s in (-1.0, 1.0)]
                low, high = sorted((e for e in edges if e is not None), key=Crossing.order)
                band = (low, high)
            above = demand[(demand > capacity.demand) & target.meets(mean)]
            if capacity.bound != ">=" and len(above):
                notes.append(f"target met again at demand {', '.join(fmt_number(x) for x in above)}")
        out.append(
            DesignCapacity(label, values, demand, seeds, n, mean, half, capacity, band, "; ".join(notes))
        )
    return out


def _density_fits(sweep: SweepRuns, duration_s: float | None) -> tuple[list[DensityFit], str]:
    """Per design with ok runs, the power-law fit; or no fits and why."""
    if duration_s is None:
        return [], "the sweep's duration is unknown (runs.parquet metadata has none and none was given)"
    if not (math.isfinite(duration_s) and duration_s > 0):
        return [], f"the sweep's duration in runs.parquet metadata is not a time > 0 s ({duration_s})"
    missing = [c for c in _FIT_COLUMNS if c not in sweep.table.column_names]
    if missing:
        return [], f"runs.parquet has no {' or '.join(missing)} column"
    density = sweep.column("m.flight_hours") * 3600.0 / duration_s
    rate_per_h = sweep.column("m.conflicts.episodes") / (duration_s / 3600.0)
    fits = []
    for d, (label, _) in enumerate(sweep.designs):
        rows = sweep.ok & (sweep.design_of == d)
        if not rows.any():
            continue
        with np.errstate(invalid="ignore"):
            used = rows & (density > 0) & (rate_per_h > 0)
        b, se, a = fit_power_law(density[used], rate_per_h[used])
        fits.append(
            DensityFit(label, density[used], rate_per_h[used], int(rows.sum() - used.sum()), b, se, a)
        )
    return fits, ""


def _duration(meta: Mapping[str, Any], given: float | None) -> tuple[float | None, str]:
    if given is not None:
        return float(given), "given"
    declared = meta.get("duration_s")
    if isinstance(declared, int | float) and not isinstance(declared, bool):
        return float(declared), "runs.parquet metadata"
    return None, "unknown"


def _scenario(meta: Mapping[str, Any]) -> str:
    scenario = meta.get("scenario")
    if isinstance(scenario, Mapping):
        scenario = scenario.get("name")
    return str(scenario) if scenario else "unnamed scenario"


def _failures(sweep: SweepRuns) -> tuple[tuple[str, str], ...]:
    rows = np.flatnonzero(~sweep.ok)
    runs = sweep.table["run"].to_pylist()
    errors = sweep.table["error"].to_pylist() if "error" in sweep.table.column_names else [None] * len(runs)
    return tuple((str(runs[r]), str(errors[r] or "")) for r in rows)


def analyse(
    sweep_dir: Path, safety: str, *, page: Path, demand_key: str, duration_s: float | None
) -> tuple[CapacityReport, SweepRuns]:
    """The capacity figures of a sweep (no file written; ``page`` is where the report will go) and its runs.

    Raises CapacityError for a bad safety expression, a folder without runs.parquet, an unknown demand key
    or safety metric, and a sweep without an ok run.
    """
    target = parse_safety(safety)
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise CapacityError("--duration-s", f"must be a finite number of seconds > 0 (got {duration_s})")
    sweep = read_sweep(sweep_dir, demand_key)
    if target.column not in sweep.table.column_names:
        metrics = ", ".join(c.removeprefix("m.") for c in sweep.table.column_names if c.startswith("m."))
        raise CapacityError(
            "--safety", f"runs.parquet has no column {target.column} (metrics: {metrics or 'none'})"
        )
    designs = _design_capacities(sweep, target)
    duration, source = _duration(sweep.meta, duration_s)
    fits, fit_note = _density_fits(sweep, duration)
    seeds = np.concatenate([d.seeds for d in designs]).astype(np.int64)
    versions = (
        sweep.table["software_version"].to_pylist() if "software_version" in sweep.table.column_names else []
    )
    report = CapacityReport(
        path=page,
        plots=(),
        target=target,
        demand_key=sweep.demand_column.removeprefix("grid."),
        design_keys=tuple(sweep.design_keys),
        fixed=sweep.fixed,
        runs=sweep.table.num_rows,
        failures=_failures(sweep),
        seeds_per_point=(int(seeds.min()), int(seeds.max())),
        designs=tuple(designs),
        fits=tuple(fits),
        duration_s=duration,
        duration_source=source,
        fit_note=fit_note,
        scenario=_scenario(sweep.meta),
        software_versions=tuple(sorted({str(v) for v in versions if v})),
    )
    return report, sweep
