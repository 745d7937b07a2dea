"""Scenario files: the bundled ones load, overrides apply, and each defect is one clear ScenarioError."""

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from sim.errors import ScenarioError
from sim.scenario import Demand, Scenario, load_resolved, load_scenario, parse_override

ROOT = Path(__file__).resolve().parents[2]
NANSHAN = ROOT / "scenarios" / "shenzhen-nanshan"
TINY = NANSHAN / "tiny.yaml"
BUNDLED = [NANSHAN / name for name in ("tiny.yaml", "demo.yaml", "city-10k.yaml", "encounter.yaml")]
BUNDLED += [ROOT / "scenarios" / "bench" / "free-flight-10km.yaml"]
VERTIPORTS = ["shekou-seaworld", "qianhai-cbd", "oct-vertiport"]


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_scenario_loads_with_its_region(path):
    loaded = load_scenario(path)
    assert loaded.source == path
    assert loaded.spec.region == NANSHAN / "region.yaml"
    assert loaded.region.name == "Shenzhen-Nanshan"
    assert loaded.spec.start == datetime(2026, 12, 1, 2, tzinfo=UTC)
    assert json.loads(json.dumps(loaded.resolved)) == loaded.resolved  # plain JSON for the log header
    assert Scenario.model_validate(loaded.resolved) == loaded.spec  # the header reproduces the run


@pytest.mark.parametrize(
    ("name", "flights", "noncooperative"),
    [("tiny", 40, 0.05), ("demo", 2000, 0.03), ("city-10k", 20000, 0.03)],
)
def test_bundled_demand_sizes(name, flights, noncooperative):
    spec = load_scenario(NANSHAN / f"{name}.yaml").spec
    rate = spec.demand.rate_per_hour(spec.start)
    assert rate * spec.duration_s / 3600.0 == pytest.approx(flights)
    assert spec.traffic.noncooperative_share == noncooperative
    assert spec.strategic.enabled and spec.cdr.enabled


def test_free_flight_bench_settings():
    spec = load_scenario(ROOT / "scenarios" / "bench" / "free-flight-10km.yaml").spec
    traffic = spec.traffic
    assert (traffic.mode, traffic.count, traffic.box_m, traffic.vehicle) == (
        "free_flight",
        1000,
        1e4,
        "multirotor",
    )
    assert (traffic.altitude_m, traffic.speed_mps) == ((30.0, 122.0), (10.0, 18.0))
    assert not spec.strategic.enabled
    assert (spec.separation.horizontal_m, spec.separation.vertical_m) == (50.0, 15.0)
    assert (spec.cdr.lookahead_s, spec.cdr.interval_s, spec.cdr.resolution) == (30.0, 1.0, "mvp")
    assert spec.cdr.hold_s == 3.0
    assert (spec.comms.profile, spec.duration_s, spec.seed) == ("ideal", 3600.0, 1)


def test_defaults_fill_the_fleet_patterns_and_origins():
    loaded = load_scenario(TINY)
    fleet = loaded.spec.fleet
    assert (fleet["multirotor"].cruise_speed_mps, fleet["multirotor"].priority) == (15.0, 10)
    assert (fleet["evtol"].cruise_speed_mps, fleet["evtol"].layers) == (50.0, ("e150-300", "e300-450"))
    delivery, shuttle = loaded.spec.demand.patterns
    assert (delivery.share, delivery.vehicle, shuttle.share, shuttle.vehicle) == (
        0.8,
        "multirotor",
        0.2,
        "evtol",
    )
    assert list(shuttle.origins) == VERTIPORTS  # empty origins = every region hub of the pattern's kind
    assert len(delivery.origins) == 5
    assert (loaded.spec.separation.nmac_horizontal_m, loaded.spec.separation.nmac_vertical_m) == (30.48, 4.57)


@pytest.mark.parametrize(
    ("override", "path", "value"),
    [
        ("cdr.lookahead_s=45", ("cdr", "lookahead_s"), 45.0),
        ("demand.scale=2", ("demand", "scale"), 2.0),
        ("traffic.count=5000", ("traffic", "count"), 5000),
        ("fleet.evtol.cruise_speed_mps=60", ("fleet", "evtol", "cruise_speed_mps"), 60.0),
        ("demand.patterns[1].share=0.3", ("demand", "patterns", 1, "share"), 0.3),
    ],
)
def test_override_applies_and_appears_in_resolved(override, path, value):
    extra = ["demand.patterns[0].share=0.7"] if "patterns" in override else []
    resolved = load_scenario(TINY, [override, *extra]).resolved
    for key in path:
        resolved = resolved[key]
    assert resolved == value


def test_overriding_one_fleet_entry_keeps_the_default_others():
    fleet = load_scenario(TINY, ["fleet.evtol.cruise_speed_mps=60"]).spec.fleet
    assert (fleet["evtol"].cruise_speed_mps, fleet["multirotor"].cruise_speed_mps) == (60.0, 15.0)


def test_seed_and_duration_keywords_win_over_file_and_overrides():
    spec = load_scenario(TINY, ["seed=3"], seed=11, duration_s=120.0).spec
    assert (spec.seed, spec.duration_s) == (11, 120.0)


def test_hourly_demand_is_indexed_by_utc_hour():
    demand = Demand(flights_per_hour=[float(h) for h in range(24)], scale=0.5)
    assert demand.rate_per_hour(datetime(2026, 12, 1, 10, 59, tzinfo=UTC)) == 5.0
    assert demand.rate_per_hour(datetime.fromisoformat("2026-12-01T10:00:00+08:00")) == 1.0


def test_capacity_scale_multiplies_every_cell_layer_of_the_region():
    base = load_scenario(NANSHAN / "tiny.yaml").region.grid
    scaled = load_scenario(NANSHAN / "tiny.yaml", ["strategic.capacity_scale=1.5"]).region.grid
    everywhere = np.indices(base.shape).reshape(3, -1)
    expected = np.floor(base.capacity(*everywhere) * 1.5).astype(int)
    assert (scaled.capacity(*everywhere) == expected).all()
    assert set(base.capacity(*everywhere).tolist()) >= {4, 10, 20}  # eVTOL layers, default, a hub cell
    assert scaled.shape == base.shape and scaled.layers == base.layers


def test_scenario_hubs_and_geofences_are_added_to_the_region(tmp_path):
    zone = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"identifier": "EVENT1", "restriction": "PROHIBITED"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[113.93, 22.53], [113.94, 22.53], [113.94, 22.54], [113.93, 22.53]]],
                },
            }
        ],
    }
    (tmp_path / "event.geojson").write_text(json.dumps(zone))
    path = write(
        tmp_path,
        "geofences: [event.geojson]\n"
        "hubs: [{id: vp4, name: Extra, kind: vertiport, lat_deg: 22.53, lon_deg: 113.93}]\n",
    )
    loaded = load_scenario(path)
    base = load_scenario(TINY).region
    assert [f.identifier for f in loaded.region.geofences] == [f.identifier for f in base.geofences] + [
        "EVENT1"
    ]
    assert loaded.region.hub("vp4").x_m == pytest.approx(0.0, abs=1e-6)
    assert list(loaded.spec.demand.patterns[1].origins) == [*VERTIPORTS, "vp4"]
    assert loaded.spec.geofences == (tmp_path / "event.geojson",)


def write(tmp_path: Path, extra: str = "", *, region: Path = NANSHAN / "region.yaml") -> Path:
    """A minimal scenario in tmp_path using the bundled region (an absolute path stays as it is)."""
    path = tmp_path / "s.yaml"
    path.write_text(f"name: t\nregion: {region}\nduration_s: 60\n{extra}")
    return path


LINE = "[[-500, 0, 60], [500, 0, 60]]"
ONE_SHUTTLE = "demand.patterns=[{kind: shuttle, share: 1, vehicle: evtol, origins: [qianhai-cbd]}]"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            ["duration_s=ten"], "tiny.yaml: duration_s: must be a number (got 'ten')", id="bad-type"
        ),
        pytest.param(["traffic.count=many"], "traffic.count: must be an integer (got 'many')", id="bad-int"),
        pytest.param(
            ["cdr.enabled=maybe"], "cdr.enabled: must be true or false (got 'maybe')", id="bad-bool"
        ),
        pytest.param(["cdr=5"], "tiny.yaml: cdr: must be a mapping (got 5)", id="section-not-mapping"),
        pytest.param(
            ["cdr.lookahead_s=-1.0"], "tiny.yaml: cdr.lookahead_s: must be > 0 (got -1.0)", id="negative"
        ),
        pytest.param(
            ["strategic.piece_m=0"], "tiny.yaml: strategic.piece_m: must be > 0 (got 0)", id="piece"
        ),
        pytest.param(
            ["strategic.capacity_scale=0"],
            "tiny.yaml: strategic.capacity_scale: must be > 0 (got 0)",
            id="capacity-scale",
        ),
        pytest.param(
            ["strategic.capacity_scale=.inf"],
            "tiny.yaml: strategic.capacity_scale: must be finite (got inf)",
            id="capacity-scale-inf",
        ),
        pytest.param(["duration_s=604801"], "duration_s: must be <= 604800 (got 604801)", id="over-7-days"),
        pytest.param(["tick_s=.inf"], "tick_s: must be finite (got inf)", id="infinite"),
        pytest.param(
            ["fleet.evtol.priority=101"], "fleet.evtol.priority: must be <= 100 (got 101)", id="priority"
        ),
        pytest.param(["cdr.hold_s=-1"], "cdr.hold_s: must be >= 0 (got -1)", id="hold-negative"),
        pytest.param(["cdr.hold_s=.inf"], "cdr.hold_s: must be finite (got inf)", id="hold-infinite"),
        pytest.param(
            ["cdr.resolution=vo"], "cdr.resolution: must be 'mvp' or 'none' (got 'vo')", id="choice"
        ),
        pytest.param(
            ["comms.profile=6g"],
            "comms.profile: unknown profile '6g' (known: ideal, 5g-fr1, 6g-isac-fr1, 6g-isac-fr3)",
            id="comms-profile",
        ),
        pytest.param(
            ["comms.profile=5g-fr1", "comms.link.iot_db=-1"],
            "tiny.yaml: comms.link.iot_db: must be >= 0 (got -1.0)",
            id="link-value",
        ),
        pytest.param(
            ["comms.link.iotdb=3"], "tiny.yaml: comms.link.iotdb: unknown key (known: ", id="link-key"
        ),
        pytest.param(
            ["comms.profile=6g-isac-fr1", "comms.sensing.pfa_cell=2"],
            "tiny.yaml: comms.sensing.pfa_cell: must be in (0, 1) (got 2.0)",
            id="sensing-value",
        ),
        pytest.param(
            ["comms.profile=5g-fr1", "comms.channel.scenario=UMa"],
            "tiny.yaml: comms.channel.scenario: unknown channel scenario 'UMa'",
            id="channel-scenario",
        ),
        pytest.param(
            ["cdr.lookahed_s=30"],
            "tiny.yaml: cdr.lookahed_s: unknown key "
            "(known: enabled, hold_s, interval_s, lookahead_s, margin, resolution)",
            id="unknown-key",
        ),
        pytest.param(
            ["cdrx.lookahead_s=30"], "tiny.yaml: cdrx: unknown key (known: cdr, comms, ", id="unknown-section"
        ),
        pytest.param(
            ["fleet.evtol.speed=1"], "fleet.evtol.speed: unknown key (known: climb_rate_mps, ", id="fleet-key"
        ),
        pytest.param(["duration_s.x=1"], "tiny.yaml: duration_s: is 600, not a section", id="not-a-section"),
        pytest.param(
            ["fleet.evtol.layers=[e150-300, e9]"],
            "tiny.yaml: fleet.evtol.layers[1]: unknown layer 'e9' "
            "(known: d30-60, d60-90, d90-120, e150-300, e300-450)",
            id="unknown-layer",
        ),
        pytest.param(
            ["demand.patterns[0].origins=[hitech-park, nowhere]"],
            "tiny.yaml: demand.patterns[0].origins[1]: unknown hub 'nowhere' (known: hitech-park, ",
            id="unknown-hub",
        ),
        pytest.param(
            ["demand.patterns[1].origins=[hitech-park]"],
            "demand.patterns[1].origins[0]: "
            "hub 'hitech-park' is a delivery_hub; shuttle origins must be vertiports",
            id="hub-of-wrong-kind",
        ),
        pytest.param(
            [ONE_SHUTTLE],
            "demand.patterns[0].origins: a shuttle pattern needs at least 2 vertiport(s) (got 1)",
            id="one-vertiport",
        ),
        pytest.param(
            ["demand.patterns[0].vehicle=drone"],
            "tiny.yaml: demand.patterns[0].vehicle: unknown vehicle type 'drone' (fleet: multirotor, evtol)",
            id="pattern-vehicle",
        ),
        pytest.param(
            ["traffic.vehicle=bus"],
            "traffic.vehicle: unknown vehicle type 'bus' (fleet: ",
            id="traffic-vehicle",
        ),
        pytest.param(
            ["demand.patterns[0].share=0.5"],
            "tiny.yaml: demand.patterns: shares must sum to 1 (got 0.5 + 0.2 = 0.7)",
            id="shares",
        ),
        pytest.param(
            ["demand.patterns[0].share=0"], "demand.patterns[0].share: must be > 0 (got 0)", id="share-0"
        ),
        pytest.param(
            ["demand.flights_per_hour=[1, 2]"],
            "demand.flights_per_hour: must be one number or 24 (one per UTC hour); got a list of 2",
            id="hourly-length",
        ),
        pytest.param(
            ["demand.flights_per_hour=[" + "1, " * 23 + "-1]"],
            "demand.flights_per_hour[23]: must be finite and >= 0 (got -1)",
            id="hourly-negative",
        ),
        pytest.param(
            ["separation.nmac_vertical_m=20"],
            "separation.nmac_vertical_m: must be <= vertical_m (20 m > 15 m)",
            id="nmac-above-protected-zone",
        ),
        pytest.param(
            ["demand.patterns[0].distance_m=[5000, 1000]"],
            "demand.patterns[0].distance_m: must be [lo, hi] with 0 < lo <= hi (got [5000, 1000])",
            id="distance-range",
        ),
        pytest.param(
            ["start=2026-12-01T10:00:00"],
            "tiny.yaml: start: must be timezone-aware: add Z for UTC (got 2026-12-01T10:00:00)",
            id="naive-datetime",
        ),
        pytest.param(["start=2026-12-01"], "start: must be an RFC 3339 date-time", id="date-only"),
        pytest.param(
            ["traffic.mode=free_flight", "traffic.box_m=25000"],
            "tiny.yaml: traffic.box_m: the square centred on the region origin must fit inside the grid "
            "[-10000, 10000] x [-10000, 10000] m (got 25000)",
            id="box-outside-grid",
        ),
        pytest.param(["fleet={}"], "fleet: must have at least 1 item (got {})", id="empty-fleet"),
        pytest.param(["fleet.quad.cruise_speed_mps=3"], "fleet.quad.kind: required", id="fleet-kind-missing"),
        pytest.param(
            ["region=nothere.yaml"], f"region: no such file ({NANSHAN / 'nothere.yaml'})", id="no-region"
        ),
        pytest.param(
            ["hubs=[{id: far, name: Far, kind: vertiport, lat_deg: 23.5, lon_deg: 113.9}]"],
            "hubs[0](far): lies outside the region grid (23.5, 113.9)",
            id="hub-outside-grid",
        ),
        pytest.param(
            ["hubs=[{id: taoyuan, name: Twin, kind: vertiport, lat_deg: 22.5, lon_deg: 113.9}]"],
            "hubs[0].id: duplicate hub id 'taoyuan'",
            id="duplicate-hub",
        ),
        pytest.param(
            ["cdr.lookahead_s"], "override 'cdr.lookahead_s': expected <dotted.key>=<value>", id="no-equals"
        ),
        pytest.param(["=45"], "override '=45': expected <dotted.key>=<value>", id="empty-key"),
        pytest.param(
            ["traffic.mode=scripted"],
            "traffic.tracks: the scripted mode needs at least one track",
            id="no-tracks",
        ),
        pytest.param(
            [f"traffic.tracks=[{{waypoints_m: {LINE}, speed_mps: 10, vehicle: glider}}]"],
            "traffic.tracks[0].vehicle: unknown vehicle type 'glider'",
            id="track-vehicle",
        ),
        pytest.param(
            ["traffic.tracks=[{waypoints_m: [[0, 0, 60]], speed_mps: 10}]"],
            "traffic.tracks[0].waypoints_m: must have at least 2 items",
            id="one-waypoint",
        ),
        pytest.param(
            ["traffic.tracks=[{waypoints_m: [[0, 0, 60], [0, 0, 60]], speed_mps: 10}]"],
            "waypoints 0 and 1 are the same point [0.0, 0.0, 60.0]",
            id="repeated-waypoint",
        ),
        pytest.param(
            ["traffic.tracks=[{waypoints_m: [[0, 0, 60], [90000, 0, 60]], speed_mps: 10}]"],
            "traffic.tracks[0].waypoints_m[1]: must lie over the region grid",
            id="track-off-grid",
        ),
        pytest.param(["name=[a"], "override 'name=[a': value is not valid YAML", id="override-yaml"),
    ],
)
def test_each_defect_is_one_error_naming_the_path_and_reason(overrides, message):
    with pytest.raises(ScenarioError) as caught:
        load_scenario(TINY, overrides)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.reason in str(caught.value) and caught.value.field in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(None, "missing.yaml: no such file (", id="missing-file"),
        pytest.param(
            "name: t\nduration_s: 60\n  bad: indent\n",
            "s.yaml: line 3, column 6: invalid YAML",
            id="yaml-syntax",
        ),
        pytest.param(
            "- a\n- b\n", "s.yaml: must be a mapping of scenario keys (got list)", id="not-a-mapping"
        ),
        pytest.param("", "s.yaml: must be a mapping of scenario keys (got an empty file)", id="empty-file"),
        pytest.param("name: t\nduration_s: 60\n", "s.yaml: region: required", id="missing-region-key"),
    ],
)
def test_file_defects(tmp_path, text, message):
    path = tmp_path / ("missing.yaml" if text is None else "s.yaml")
    if text is not None:
        path.write_text(text)
    with pytest.raises(ScenarioError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        load_scenario(path)


def test_region_file_errors_are_wrapped_with_the_region_field(tmp_path):
    region = tmp_path / "broken-region.yaml"
    region.write_text("name: broken\norigin: {lat_deg: 22.5, lon_deg: 113.9}\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, region=region))
    assert str(caught.value).startswith(f"s.yaml: region: {region}: grid: ")
    assert caught.value.field == "region"


def test_bad_geofence_file_names_its_index(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ScenarioError, match=r"^s\.yaml: geofences\[0\]: .*bad\.json: is not JSON"):
        load_scenario(write(tmp_path, "geofences: [bad.json]\n"))


def test_parse_override_reads_values_as_yaml():
    assert parse_override("start=2026-12-01T03:00:00Z") == (("start",), datetime(2026, 12, 1, 3, tzinfo=UTC))
    assert parse_override(" traffic.altitude_m = [30, 60]") == (("traffic", "altitude_m"), [30, 60])
    assert parse_override("comms.profile=ideal") == (("comms", "profile"), "ideal")


def test_models_are_frozen():
    spec = load_scenario(TINY).spec
    with pytest.raises(ValueError, match="frozen"):
        spec.cdr.lookahead_s = 1.0  # type: ignore[misc]


def test_scripted_tracks_are_kept_as_written_with_the_traffic_vehicle_filled_in():
    tracks = f"traffic.tracks=[{{waypoints_m: {LINE}, speed_mps: 12}}, {{waypoints_m: {LINE}, speed_mps: 9, "
    tracks += "vehicle: evtol, cooperative: false}]"
    spec = load_scenario(TINY, ["traffic.mode=scripted", tracks]).spec
    first, second = spec.traffic.tracks
    assert first.waypoints_m == ((-500.0, 0.0, 60.0), (500.0, 0.0, 60.0))
    assert (first.vehicle, first.speed_mps, first.cooperative) == ("multirotor", 12.0, True)
    assert (second.vehicle, second.speed_mps, second.cooperative) == ("evtol", 9.0, False)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_a_resolved_scenario_loads_back_to_itself(path):
    loaded = load_scenario(path)
    again = load_resolved(loaded.resolved, source=loaded.source)
    assert (again.resolved, again.source, again.spec) == (loaded.resolved, loaded.source, loaded.spec)


def test_a_resolved_scenario_takes_overrides_and_names_bad_ones():
    loaded = load_scenario(TINY)
    again = load_resolved(
        loaded.resolved, ["cdr.enabled=false", "comms.profile=5g-fr1"], source=loaded.source
    )
    assert not again.spec.cdr.enabled and again.spec.comms.profile == "5g-fr1"
    assert loaded.spec.cdr.enabled  # the header it came from is untouched
    with pytest.raises(ScenarioError, match=r"tiny.yaml: cdr.lookahed_s: unknown key"):
        load_resolved(loaded.resolved, ["cdr.lookahed_s=45"], source=loaded.source)
