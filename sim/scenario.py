"""Scenario files: what a simulation run flies, validated into frozen pydantic models.

:func:`load_scenario` reads a scenario YAML, applies ``dotted.key=value`` overrides to the raw mapping,
validates it (no unknown keys), loads the region it names, checks the cross-references against that
region (layers, hubs, the free-flight box) and returns a :class:`LoadedScenario`. Every problem becomes
one :class:`~sim.errors.ScenarioError` naming the file, the dotted field path and the reason.
Degrees and RFC 3339 times appear here only, at the edge; the region projects hubs into its metric frame.
Layer: sim; imports airspace (the region loader), never utm or api.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from airspace.errors import AirspaceInputError
from airspace.geozones import load_geozones
from airspace.region import Hub, Region, load_region
from sim.airspace_record import AIRSPACE_KEY, AirspaceFiles
from sim.errors import ScenarioError
from sim.sixg.profiles import (
    PROFILES,
    ChannelOverrides,
    FusionOverrides,
    LinkOverrides,
    NetworkSettings,
    SensingOverrides,
    network_settings,
)

__all__ = [
    "CDR",
    "COMMS_PROFILES",
    "Comms",
    "Demand",
    "HubSpec",
    "LoadedScenario",
    "Pattern",
    "Recording",
    "Scenario",
    "Separation",
    "Strategic",
    "Track",
    "Traffic",
    "VehicleType",
    "load_resolved",
    "load_scenario",
    "logged_airspace",
    "parse_override",
]

COMMS_PROFILES: tuple[str, ...] = ("ideal", *PROFILES)
"""Names accepted by ``comms.profile``: ``ideal`` and the 6G model's (sim/sixg/profiles.py)."""

_DEFAULT_START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shenzhen (UTC+8)
_MAX_DURATION_S = 7 * 86400.0
_KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "multirotor": {  # a small delivery drone
        "cruise_speed_mps": 15.0,
        "climb_rate_mps": 4.0,
        "descent_rate_mps": 3.0,
        "max_accel_mps2": 2.0,
        "max_turn_rate_dps": 45.0,
        "endurance_s": 1800.0,
        "priority": 10,
        "layers": ("d30-60", "d60-90", "d90-120"),
    },
    "evtol": {  # a lift+cruise air taxi
        "cruise_speed_mps": 50.0,
        "climb_rate_mps": 5.0,
        "descent_rate_mps": 4.0,
        "max_accel_mps2": 3.0,
        "max_turn_rate_dps": 15.0,
        "endurance_s": 3600.0,
        "priority": 50,
        "layers": ("e150-300", "e300-450"),
    },
}
_Positive = Annotated[StrictFloat, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class VehicleType(_Model):
    """Performance of one vehicle type; keys left out take the defaults of its ``kind``."""

    kind: Literal["multirotor", "evtol"]
    cruise_speed_mps: _Positive
    climb_rate_mps: _Positive
    descent_rate_mps: _Positive
    max_accel_mps2: _Positive
    max_turn_rate_dps: _Positive
    endurance_s: _Positive
    priority: StrictInt = Field(ge=0, le=100)  # F3548 priority bounds ]-1, 100]
    layers: tuple[str, ...] = Field(min_length=1)  # layer names of the region grid, checked at load

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"] in _KIND_DEFAULTS:
            return {**_KIND_DEFAULTS[data["kind"]], **data}
        return data


class Pattern(_Model):
    """One kind of demand: ``share`` of the flights, flown by fleet type ``vehicle`` from ``origins``."""

    kind: Literal["delivery", "shuttle"]
    share: StrictFloat = Field(gt=0, le=1)
    vehicle: str
    origins: tuple[str, ...] = ()  # hub ids; empty = every region hub of the pattern's kind (filled at load)
    distance_m: tuple[StrictFloat, StrictFloat] = (1000.0, 5000.0)  # delivery drop point from the hub
    pad_radius_m: StrictFloat = Field(150.0, ge=0)
    round_trip: StrictBool = False  # fly back to the take-off pad after the destination (one plan)
    # the vehicle's layers split the compass (a semicircular rule); a round trip's way back takes the layer
    # of its own course, changing layer at the destination
    layer_by_course: StrictBool = False

    @field_validator("distance_m")
    @classmethod
    def _range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1]:
            raise ValueError(f"must be [lo, hi] with 0 < lo <= hi (got [{v[0]:g}, {v[1]:g}])")
        return v


class Demand(_Model):
    """Flight requests: a rate (flat, or one value per UTC hour of day) split among patterns."""

    flights_per_hour: float | tuple[float, ...] = 0.0
    scale: StrictFloat = Field(1.0, ge=0)
    lead_time_s: StrictFloat = Field(300.0, ge=0)  # submission this long before the requested departure
    patterns: tuple[Pattern, ...] = Field(
        (
            Pattern(kind="delivery", share=0.8, vehicle="multirotor"),
            Pattern(kind="shuttle", share=0.2, vehicle="evtol"),
        ),
        min_length=1,
    )

    @field_validator("flights_per_hour", mode="before")
    @classmethod
    def _rates(cls, v: Any) -> float | tuple[float, ...]:
        values = v if isinstance(v, list | tuple) else [v]
        if isinstance(v, list | tuple) and len(v) != 24:
            raise ValueError(f"must be one number or 24 (one per UTC hour); got a list of {len(v)}")
        for n, rate in enumerate(values):
            at = f"[{n}]" if isinstance(v, list | tuple) else ""
            if isinstance(rate, bool) or not isinstance(rate, int | float):
                raise ScenarioError(at, f"must be a number (got {_show(rate)})")
            if not (math.isfinite(rate) and rate >= 0):
                raise ScenarioError(at, f"must be finite and >= 0 (got {rate!r})")
        return tuple(float(r) for r in v) if isinstance(v, list | tuple) else float(v)

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> Demand:
        total = math.fsum(p.share for p in self.patterns)
        if abs(total - 1.0) > 1e-6:
            terms = " + ".join(f"{p.share:g}" for p in self.patterns)
            got = f"{terms} = {total:g}" if len(self.patterns) > 1 else terms
            raise ScenarioError("patterns", f"shares must sum to 1 (got {got})")
        return self

    def rate_per_hour(self, t: datetime) -> float:
        """Requested flights per hour at the instant ``t`` (timezone-aware), times ``scale``.

        >>> hourly = Demand(flights_per_hour=[10.0] * 12 + [40.0] * 12, scale=2.0)
        >>> hourly.rate_per_hour(datetime(2026, 12, 1, 12, 30, tzinfo=UTC))
        80.0
        >>> Demand().rate_per_hour(datetime(2026, 12, 1))
        Traceback (most recent call last):
        ...
        ValueError: t: must be timezone-aware (got 2026-12-01T00:00:00)
        """
        if t.tzinfo is None:
            raise ValueError(f"t: must be timezone-aware (got {t.isoformat()})")
        rate = self.flights_per_hour
        if isinstance(rate, tuple):
            rate = rate[t.astimezone(UTC).hour]
        return rate * self.scale


class Track(_Model):
    """One scripted plan-less flight: airborne at t = 0 on its first waypoint, gone at its last one."""

    waypoints_m: tuple[tuple[StrictFloat, StrictFloat, StrictFloat], ...] = Field(min_length=2)  # local ENU
    speed_mps: _Positive
    vehicle: str | None = None  # a fleet key; None = traffic.vehicle (filled at load)
    cooperative: StrictBool = True  # False: reports nothing (only network sensing can see it)

    @field_validator("waypoints_m")
    @classmethod
    def _distinct(cls, v: tuple[tuple[float, float, float], ...]) -> tuple[tuple[float, float, float], ...]:
        for k in range(1, len(v)):
            if v[k] == v[k - 1]:
                raise ValueError(f"waypoints {k - 1} and {k} are the same point {list(v[k])}")
        return v


class Traffic(_Model):
    """Planned demand; ``free_flight``: ``count`` drones cruising in a box for the whole run; or
    ``scripted``: the listed ``tracks`` (a chosen encounter, for tests and incident studies)."""

    mode: Literal["demand", "free_flight", "scripted"] = "demand"
    noncooperative_share: StrictFloat = Field(0.0, ge=0, le=1)  # fly without a plan and report nothing
    count: StrictInt = Field(1000, ge=0)
    box_m: _Positive = 10000.0  # side of the square centred on the region origin
    altitude_m: tuple[StrictFloat, StrictFloat] = (30.0, 122.0)
    speed_mps: tuple[StrictFloat, StrictFloat] = (10.0, 18.0)
    vehicle: str | None = None  # a fleet key; None = the first fleet key (filled at load)
    tracks: tuple[Track, ...] = ()  # the scripted mode's flights

    @field_validator("altitude_m", "speed_mps")
    @classmethod
    def _range(cls, v: tuple[float, float], info: ValidationInfo) -> tuple[float, float]:
        ground_ok = info.field_name == "altitude_m"  # an altitude may start at 0, a speed may not
        if v[0] < 0 or (v[0] == 0 and not ground_ok) or v[0] > v[1]:
            lowest = "0 <= lo" if ground_ok else "0 < lo"
            raise ValueError(f"must be [lo, hi] with {lowest} <= hi (got [{v[0]:g}, {v[1]:g}])")
        return v


class Separation(_Model):
    """Protected zone, and the NMAC volume (sUAS NMAC, Weinert et al. 2018: 100 ft / 15 ft)."""

    horizontal_m: _Positive = 50.0
    vertical_m: _Positive = 15.0
    nmac_horizontal_m: _Positive = 30.48
    nmac_vertical_m: _Positive = 4.57

    @model_validator(mode="after")
    def _nmac_inside_protected_zone(self) -> Separation:
        for axis in ("horizontal", "vertical"):
            nmac_m, pz_m = getattr(self, f"nmac_{axis}_m"), getattr(self, f"{axis}_m")
            if nmac_m > pz_m:
                raise ScenarioError(f"nmac_{axis}_m", f"must be <= {axis}_m ({nmac_m:g} m > {pz_m:g} m)")
        return self


class CDR(_Model):
    """Tactical conflict detection and resolution."""

    enabled: StrictBool = True
    lookahead_s: _Positive = 30.0
    interval_s: _Positive = 1.0
    resolution: Literal["mvp", "none"] = "mvp"
    margin: StrictFloat = Field(1.1, ge=1)
    # alert hysteresis (sim.pairs.PairAlerts): a pair found again within hold_s of its last detection is still
    # the same conflict, so a pair at the zone's edge of a noisy picture is one conflict, not one per return
    hold_s: StrictFloat = Field(3.0, ge=0, allow_inf_nan=False)


class Strategic(_Model):
    """Strategic deconfliction of submitted plans."""

    enabled: StrictBool = True
    lateral_buffer_m: _Positive = 50.0
    time_buffer_s: StrictFloat = Field(30.0, ge=0)
    # corridor volumes are cut into pieces this long (None: the region's cell size); shorter pieces hold
    # shorter time windows, so more flights follow each other along one corridor
    piece_m: _Positive | None = None
    # whether plans of equal priority may overlap (F3548 leaves it to the region; the InterUSS default is no)
    allow_equal_priority: StrictBool = False
    # every cell-layer's capacity (the region's) times this, rounded down: how many flights a cell may hold
    capacity_scale: StrictFloat = Field(1.0, gt=0, allow_inf_nan=False)


class Comms(_Model):
    """The communication model between vehicles and the service."""

    profile: str = "ideal"
    report_interval_s: _Positive = 1.0
    # overrides of the profile's values (None: the profile's); ignored by ``ideal``
    channel: ChannelOverrides = ChannelOverrides()  # type: ignore[valid-type]
    link: LinkOverrides = LinkOverrides()  # type: ignore[valid-type]
    sensing: SensingOverrides = SensingOverrides()  # type: ignore[valid-type]
    fusion: FusionOverrides = FusionOverrides()  # type: ignore[valid-type]

    def network(self) -> NetworkSettings | None:
        """The resolved network model (None for ``ideal``); ScenarioError names a bad override."""
        if self.profile == "ideal":
            return None
        return network_settings(self.profile, self.channel, self.link, self.sensing, self.fusion)

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, v: str) -> str:
        if v not in COMMS_PROFILES:
            raise ValueError(f"unknown profile {v!r} (known: {', '.join(COMMS_PROFILES)})")
        return v


class Recording(_Model):
    """What the event log records."""

    state_interval_s: _Positive = 1.0


class HubSpec(_Model):
    """A hub or vertiport added by the scenario to those of the region."""

    id: str = Field(min_length=1)
    name: str
    kind: Literal["delivery_hub", "vertiport"]
    lat_deg: StrictFloat = Field(ge=-90, le=90)
    lon_deg: StrictFloat = Field(ge=-180, le=180)


class Scenario(_Model):
    """One simulation run. Paths are relative to the scenario file (absolute once loaded)."""

    name: str = Field(min_length=1)
    region: Path
    geofences: tuple[Path, ...] = ()  # extra ED-269 / ED-318 / GeoJSON files
    hubs: tuple[HubSpec, ...] = ()
    start: datetime = _DEFAULT_START  # UTC; the simulator's t = 0
    duration_s: StrictFloat = Field(gt=0, le=_MAX_DURATION_S)
    seed: StrictInt = Field(0, ge=0)
    tick_s: StrictFloat = Field(1.0, gt=0, le=10)
    demand: Demand = Demand()
    fleet: dict[str, VehicleType] = Field(
        default_factory=lambda: {kind: VehicleType(kind=kind) for kind in ("multirotor", "evtol")},
        min_length=1,
    )
    traffic: Traffic = Traffic()
    separation: Separation = Separation()
    cdr: CDR = CDR()
    strategic: Strategic = Strategic()
    comms: Comms = Comms()
    recording: Recording = Recording()

    @field_validator("region", "geofences")
    @classmethod
    def _relative_to_file(cls, v: Path | tuple[Path, ...], info: ValidationInfo) -> Path | tuple[Path, ...]:
        base = (info.context or {}).get("base_dir")
        if base is None:
            return v
        if isinstance(v, tuple):
            return tuple(_under(base, p) for p in v)
        return _under(base, v)

    @field_validator("start", mode="before")
    @classmethod
    def _timestamp(cls, v: Any) -> Any:
        if not isinstance(v, datetime | str):
            raise ValueError(f"must be an RFC 3339 date-time such as 2026-12-01T02:00:00Z (got {_show(v)})")
        return v

    @field_validator("start")
    @classmethod
    def _aware_utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError(f"must be timezone-aware: add Z for UTC (got {v.isoformat()})")
        return v.astimezone(UTC)

    @field_validator("fleet", mode="before")
    @classmethod
    def _kind_from_key(cls, v: Any) -> Any:
        """``fleet: {evtol: {cruise_speed_mps: 60}}`` means an evtol: a default-kind key may omit ``kind``."""
        if not isinstance(v, dict):
            return v
        return {
            key: {"kind": key, **spec}
            if isinstance(spec, dict) and "kind" not in spec and key in _KIND_DEFAULTS
            else spec
            for key, spec in v.items()
        }

    @model_validator(mode="after")
    def _vehicles_in_fleet(self) -> Scenario:
        known = f"(fleet: {', '.join(self.fleet)})"
        for n, pattern in enumerate(self.demand.patterns):
            if pattern.vehicle not in self.fleet:
                field = f"demand.patterns[{n}].vehicle"
                raise ScenarioError(field, f"unknown vehicle type {pattern.vehicle!r} {known}")
        if self.traffic.vehicle is not None and self.traffic.vehicle not in self.fleet:
            raise ScenarioError("traffic.vehicle", f"unknown vehicle type {self.traffic.vehicle!r} {known}")
        for n, track in enumerate(self.traffic.tracks):
            if track.vehicle is not None and track.vehicle not in self.fleet:
                field = f"traffic.tracks[{n}].vehicle"
                raise ScenarioError(field, f"unknown vehicle type {track.vehicle!r} {known}")
        if self.traffic.mode == "scripted" and not self.traffic.tracks:
            raise ScenarioError("traffic.tracks", "the scripted mode needs at least one track")
        return self


def _under(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else Path(os.path.normpath(base / path))


@dataclass(frozen=True, slots=True)
class LoadedScenario:
    """A validated scenario, its region (with the scenario's hubs and geofences appended) and its record."""

    spec: Scenario
    region: Region
    source: Path
    resolved: dict[str, Any]  # spec.model_dump(mode="json"): overrides applied, defaults filled
    airspace: AirspaceFiles  # the region and geofence files as loaded (a log header carries them)


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """Split ``dotted.key=value``; the value is read as YAML (so ``45`` is an int, ``[1, 2]`` a list).

    >>> parse_override("cdr.lookahead_s=45")
    (('cdr', 'lookahead_s'), 45)
    >>> parse_override("demand.patterns[0].share=0.5")
    (('demand', 'patterns', '0', 'share'), 0.5)
    >>> parse_override("cdr.lookahead_s")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sim.errors.ScenarioError: override 'cdr.lookahead_s': expected <dotted.key>=<value>, e.g. ...
    """
    key, eq, value = text.partition("=")
    keys = tuple(key.strip().replace("[", ".").replace("]", "").split("."))
    if not eq or not all(keys):
        raise ScenarioError(f"override {text!r}", "expected <dotted.key>=<value>, e.g. cdr.lookahead_s=45")
    try:
        return keys, yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise ScenarioError(f"override {text!r}", f"value is not valid YAML ({_first_line(err)})") from None


def load_scenario(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    seed: int | None = None,
    duration_s: float | None = None,
) -> LoadedScenario:
    """Read, override, validate and resolve a scenario file; ``seed`` and ``duration_s`` win over both."""
    path = Path(path)
    doc = _read_yaml(path)
    for key, value in (("seed", seed), ("duration_s", duration_s)):
        if value is not None:
            overrides = [*overrides, f"{key}={value!r}"]
    return _load(doc, overrides, path.resolve())


def load_resolved(
    resolved: Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    source: Path,
    airspace: AirspaceFiles | None = None,
) -> LoadedScenario:
    """A scenario again from its resolved form (a log header's ``scenario``: paths absolute, defaults filled),
    with overrides; ``source`` is the file it first came from (kept as the run's record, never read).
    ``airspace`` (a header's files) is read instead of the files on disk, unless an override names others."""
    return _load(copy.deepcopy(dict(resolved)), overrides, source, airspace)


def logged_airspace(header: Mapping[str, Any]) -> AirspaceFiles | None:
    """The airspace files a log header carries (None for a log written before headers carried them)."""
    data = header.get(AIRSPACE_KEY)
    return None if data is None else AirspaceFiles.from_json(data)


def _load(
    doc: dict[str, Any], overrides: Sequence[str], source_path: Path, recorded: AirspaceFiles | None = None
) -> LoadedScenario:
    """Override, validate and resolve a raw scenario mapping whose relative paths start at ``source_path``'s
    folder; the region and geofences come from ``recorded`` when it holds the files the scenario names."""
    source = source_path.name
    for text in overrides:
        _apply_override(doc, *parse_override(text), source=source, text=text)
    try:
        spec = Scenario.model_validate(doc, context={"base_dir": source_path.parent})
    except ValidationError as err:
        raise _scenario_error(err, source) from None
    if recorded is not None and recorded.describes(spec.region, spec.geofences):
        with recorded.placed() as (region_path, fence_paths):
            region = _region(
                spec.model_copy(update={"region": region_path, "geofences": fence_paths}), source
            )
        airspace = recorded
    else:
        region = _region(spec, source)
        airspace = AirspaceFiles.read(spec.region, spec.geofences)
    spec = _resolve_against(spec, region, source)
    return LoadedScenario(spec, region, source_path, spec.model_dump(mode="json"), airspace)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError("", f"no such file ({path})", source=path.name) from None
    except OSError as err:
        raise ScenarioError("", f"cannot be read ({err.strerror}: {path})", source=path.name) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(where, f"invalid YAML ({_first_line(err)})", source=path.name) from None
    if not isinstance(doc, dict):
        got = "an empty file" if doc is None else type(doc).__name__
        raise ScenarioError("", f"must be a mapping of scenario keys (got {got})", source=path.name)
    return doc


def _first_line(err: yaml.YAMLError) -> str:
    problem = getattr(err, "problem", None)
    return str(problem) if problem else str(err).splitlines()[0]


def _apply_override(
    doc: dict[str, Any], keys: tuple[str, ...], value: Any, *, source: str, text: str
) -> None:
    """Set ``keys`` in the raw mapping; a missing section is created only where the model has one."""
    node: Any = doc
    for depth, key in enumerate(keys):
        here = keys[: depth + 1]
        last = depth == len(keys) - 1
        if isinstance(node, list):
            if not (key.isdigit() and int(key) < len(node)):
                reason = f"no item {key} (the list has {len(node)}; override {text!r})"
                raise ScenarioError(_dotted(here[:-1]), reason, source=source)
            index: Any = int(key)
        elif isinstance(node, dict):
            index = key
            if not last and node.get(key) is None:
                node[key] = _fresh_section(here, source=source, text=text)
        else:
            reason = f"is {_show(node)}, not a section (override {text!r})"
            raise ScenarioError(_dotted(here[:-1]), reason, source=source)
        if last:
            node[index] = value
        node = node[index]


def _fresh_section(keys: tuple[str, ...], *, source: str, text: str) -> Any:
    parent = _model_at(keys[:-1])
    if parent is not None and keys[-1] not in parent.model_fields:
        known = ", ".join(sorted(parent.model_fields))
        raise ScenarioError(_dotted(keys), f"unknown key (known: {known})", source=source)
    kind = _type_at(keys)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return {}
    if get_origin(kind) in (dict, tuple) and _model_at((*keys, "0")) is not None and parent is not None:
        # a collection of models (fleet, demand.patterns, hubs) starts from its default, not from empty
        default = parent.model_fields[keys[-1]].get_default(call_default_factory=True)
        if isinstance(default, dict):
            return {k: v.model_dump(mode="json") for k, v in default.items()}
        return [v.model_dump(mode="json") for v in default]
    raise ScenarioError(_dotted(keys), f"is a value, not a section (override {text!r})", source=source)


def _type_at(keys: Sequence[Any]) -> Any:
    """The annotation at a path of field names, dict keys and list indices; None where there is none."""
    kind: Any = Scenario
    for key in keys:
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            field = kind.model_fields.get(key) if isinstance(key, str) else None
            if field is None:
                return None
            kind = field.annotation
        elif get_origin(kind) is dict:
            kind = get_args(kind)[1]
        elif get_origin(kind) is tuple and (isinstance(key, int) or str(key).isdigit()):
            kind = get_args(kind)[0]
        else:
            return None
    return kind


def _model_at(keys: Sequence[Any]) -> type[BaseModel] | None:
    kind = _type_at(keys)
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _dotted(loc: Sequence[Any]) -> str:
    """A location as ``demand.patterns[1].share``."""
    out = ""
    for part in loc:
        index = isinstance(part, int) or (isinstance(part, str) and part.isdigit())
        out += f"[{part}]" if index else (f".{part}" if out else str(part))
    return out


def _join(field: str, sub: str) -> str:
    """``demand`` + ``patterns[1].vehicle``, ``demand.flights_per_hour`` + ``[3]``; either may be empty."""
    if not (field and sub):
        return field or sub
    return f"{field}{sub}" if sub.startswith("[") else f"{field}.{sub}"


def _scenario_error(err: ValidationError, source: str) -> ScenarioError:
    """The first pydantic error, as one ScenarioError with the dotted path and a reason in our words."""
    first = err.errors(include_url=False)[0]
    field = _dotted(first["loc"])
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, ScenarioError):
        return ScenarioError(_join(field, cause.field), cause.reason, source=source)
    if isinstance(cause, ValueError):
        return ScenarioError(field, str(cause), source=source)
    return ScenarioError(field, _reason(first), source=source)


_PHRASES = {
    "missing": "required",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be finite",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "path_type": "must be a path",
    "datetime_type": "must be an RFC 3339 date-time such as 2026-12-01T02:00:00Z",
    "datetime_parsing": "must be an RFC 3339 date-time such as 2026-12-01T02:00:00Z",
    "datetime_from_date_parsing": "must be an RFC 3339 date-time such as 2026-12-01T02:00:00Z",
}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _reason(error: Any) -> str:
    kind, ctx, loc = error["type"], error.get("ctx", {}), error["loc"]
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        known = ", ".join(sorted(parent.model_fields)) if parent is not None else ""
        return f"unknown key (known: {known})"
    if kind == "missing":
        return "required"
    if kind in _BOUNDS:
        key = {">": "gt", ">=": "ge", "<": "lt", "<=": "le"}[_BOUNDS[kind]]
        reason = f"must be {_BOUNDS[kind]} {ctx[key]:g}"
    elif kind in ("too_short", "too_long"):
        most = "at least" if kind == "too_short" else "at most"
        count = ctx["min_length" if kind == "too_short" else "max_length"]
        reason = f"must have {most} {count} item{'s' if count != 1 else ''}"
    elif kind == "literal_error":
        reason = f"must be {ctx['expected']}"
    else:
        reason = _PHRASES.get(kind, error["msg"])
    return f"{reason} (got {_show(error['input'])})"


def _show(value: Any) -> str:
    text = value.isoformat() if isinstance(value, date) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _region(spec: Scenario, source: str) -> Region:
    """The scenario's region, with its extra geofences and hubs (projected into the region frame)."""
    if not spec.region.is_file():
        raise ScenarioError("region", f"no such file ({spec.region})", source=source)
    try:
        region = load_region(spec.region)
    except AirspaceInputError as err:
        raise ScenarioError("region", str(err), source=source) from None
    fences = []
    for n, fence_path in enumerate(spec.geofences):
        if not fence_path.is_file():
            raise ScenarioError(f"geofences[{n}]", f"no such file ({fence_path})", source=source)
        try:
            fences += load_geozones(fence_path, region.frame, region.datum)
        except AirspaceInputError as err:
            raise ScenarioError(f"geofences[{n}]", str(err), source=source) from None
    hubs = list(region.hubs)
    z_floor_m = region.grid.layers[0].z_lower_m
    for n, hub in enumerate(spec.hubs):
        if any(h.id == hub.id for h in hubs):
            raise ScenarioError(f"hubs[{n}].id", f"duplicate hub id {hub.id!r}", source=source)
        x_m, y_m, _ = region.frame.to_local(hub.lon_deg, hub.lat_deg)
        if not region.grid.contains(x_m, y_m, z_floor_m):
            reason = f"lies outside the region grid ({hub.lat_deg}, {hub.lon_deg})"
            raise ScenarioError(f"hubs[{n}]({hub.id})", reason, source=source)
        hubs.append(Hub(hub.id, hub.name, hub.kind, float(x_m), float(y_m)))
    scale = spec.strategic.capacity_scale
    grid = region.grid if scale == 1.0 else region.grid.scaled(scale)
    return replace(region, grid=grid, geofences=region.geofences + tuple(fences), hubs=tuple(hubs))


def _resolve_against(spec: Scenario, region: Region, source: str) -> Scenario:
    """Check layers, hubs and the free-flight box against the region; fill origins and traffic.vehicle."""
    try:
        spec.comms.network()
    except ScenarioError as err:
        raise ScenarioError(err.field, err.reason, source=source) from None
    layer_names = [layer.name for layer in region.grid.layers]
    for name, vehicle in spec.fleet.items():
        for k, layer in enumerate(vehicle.layers):
            if layer not in layer_names:
                reason = f"unknown layer {layer!r} (known: {', '.join(layer_names)})"
                raise ScenarioError(f"fleet.{name}.layers[{k}]", reason, source=source)
    hubs = {hub.id: hub for hub in region.hubs}
    flying = (
        spec.traffic.mode == "demand"
        and spec.demand.scale > 0
        and any(r > 0 for r in _as_tuple(spec.demand.flights_per_hour))
    )
    patterns = []
    for n, pattern in enumerate(spec.demand.patterns):
        hub_kind, needed = ("delivery_hub", 1) if pattern.kind == "delivery" else ("vertiport", 2)
        field = f"demand.patterns[{n}].origins"
        for k, hub_id in enumerate(pattern.origins):
            if hub_id not in hubs:
                reason = f"unknown hub {hub_id!r} (known: {', '.join(hubs)})"
                raise ScenarioError(f"{field}[{k}]", reason, source=source)
            if hubs[hub_id].kind != hub_kind:
                reason = (
                    f"hub {hub_id!r} is a {hubs[hub_id].kind}; {pattern.kind} origins must be {hub_kind}s"
                )
                raise ScenarioError(f"{field}[{k}]", reason, source=source)
        origins = pattern.origins or tuple(h.id for h in region.hubs if h.kind == hub_kind)
        if flying and len(origins) < needed:
            reason = f"a {pattern.kind} pattern needs at least {needed} {hub_kind}(s) (got {len(origins)})"
            raise ScenarioError(field, reason, source=source)
        patterns.append(pattern.model_copy(update={"origins": origins}))
    if spec.traffic.mode == "free_flight":
        x_min, y_min, x_max, y_max = region.grid.bounds_xy_m
        half_m = spec.traffic.box_m / 2.0
        if not (x_min <= -half_m and half_m <= x_max and y_min <= -half_m and half_m <= y_max):
            reason = (
                f"the square centred on the region origin must fit inside the grid "
                f"[{x_min:g}, {x_max:g}] x [{y_min:g}, {y_max:g}] m (got {spec.traffic.box_m:g})"
            )
            raise ScenarioError("traffic.box_m", reason, source=source)
    x_min, y_min, x_max, y_max = region.grid.bounds_xy_m
    for n, track in enumerate(spec.traffic.tracks):
        for k, (x_m, y_m, z_m) in enumerate(track.waypoints_m):
            if not (x_min <= x_m <= x_max and y_min <= y_m <= y_max and z_m >= 0):
                reason = (
                    f"must lie over the region grid [{x_min:g}, {x_max:g}] x [{y_min:g}, {y_max:g}] m, "
                    f"at or above the ground (got {x_m:g}, {y_m:g}, {z_m:g})"
                )
                raise ScenarioError(f"traffic.tracks[{n}].waypoints_m[{k}]", reason, source=source)
    vehicle = spec.traffic.vehicle or next(iter(spec.fleet))
    tracks = tuple(t.model_copy(update={"vehicle": t.vehicle or vehicle}) for t in spec.traffic.tracks)
    return spec.model_copy(
        update={
            "demand": spec.demand.model_copy(update={"patterns": tuple(patterns)}),
            "traffic": spec.traffic.model_copy(update={"vehicle": vehicle, "tracks": tracks}),
        }
    )


def _as_tuple(rate: float | tuple[float, ...]) -> tuple[float, ...]:
    return rate if isinstance(rate, tuple) else (rate,)
