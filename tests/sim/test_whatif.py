"""What-if re-runs: a log's own scenario and seed come back exactly, overrides change only what they name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sim.airspace_record import AirspaceFiles
from sim.errors import ScenarioError
from sim.eventlog import EventLog, EventLogError, read_log
from sim.incidents import closest_approach
from sim.run import simulate
from sim.scenario import load_scenario
from sim.whatif import MetricChange, log_dir_of, metric_changes, rerun_scenario, study_incident

ROOT = Path(__file__).resolve().parents[2]
ENCOUNTER = ROOT / "scenarios" / "shenzhen-nanshan" / "encounter.yaml"
TINY = ROOT / "scenarios" / "shenzhen-nanshan" / "tiny.yaml"
PARQUET = ("events", "states", "messages", "flights")


@pytest.fixture(scope="module")
def encounter_run(tmp_path_factory):
    return simulate(load_scenario(ENCOUNTER), tmp_path_factory.mktemp("enc") / "run", report=False)


@pytest.mark.parametrize("scenario", [ENCOUNTER, TINY], ids=["encounter", "tiny"])
def test_a_rerun_without_overrides_writes_the_log_byte_for_byte(tmp_path, scenario):
    first = simulate(load_scenario(scenario, duration_s=240.0), tmp_path / "first", report=False)
    again = simulate(rerun_scenario(first.log_dir), tmp_path / "again", report=False)
    for name in PARQUET:
        original = (first.log_dir / f"{name}.parquet").read_bytes()
        assert (again.log_dir / f"{name}.parquet").read_bytes() == original, name
    assert again.metrics == first.metrics


def test_an_override_changes_what_it_names_and_keeps_the_rest(encounter_run, tmp_path):
    loaded = rerun_scenario(encounter_run.log_dir, ["cdr.enabled=true"])
    assert loaded.spec.cdr.enabled and loaded.spec.seed == 11
    assert loaded.spec.traffic == load_scenario(ENCOUNTER).spec.traffic
    after = simulate(loaded, tmp_path / "on", report=False).metrics
    assert (encounter_run.metrics["los"]["count"], after["los"]["count"]) == (1, 0)
    changes = {c.key: c for c in metric_changes(encounter_run.metrics, after)}
    assert changes["los.count"] == MetricChange("los.count", 1, 0)
    assert changes["nmac.count"] == MetricChange("nmac.count", 1, 0)
    assert "flights.took_off" not in changes  # the same traffic flew


def test_log_dir_of_takes_the_run_folder_or_the_log_folder(encounter_run, tmp_path):
    assert log_dir_of(encounter_run.out_dir) == encounter_run.log_dir
    assert log_dir_of(encounter_run.log_dir) == encounter_run.log_dir
    with pytest.raises(EventLogError, match=r"LOG: .* is neither a utm6g run folder nor its log/ folder"):
        log_dir_of(tmp_path)


def test_a_log_without_its_scenario_cannot_be_rerun(tmp_path):
    with EventLog(tmp_path / "log", {"software_version": "t", "seed": 1, "scenario": {}}):
        pass
    with pytest.raises(EventLogError, match=r"header.scenario_file: missing in .*: the log cannot be re-run"):
        rerun_scenario(tmp_path / "log")


def test_metric_changes_flatten_and_compare_numbers_only():
    before = {
        "los": {"count": 3, "per_flight_hour": 0.5},
        "name": "a",
        "ok": True,
        "p": None,
        "x": float("nan"),
    }
    after = {
        "los": {"count": 1, "per_flight_hour": 0.5},
        "name": "b",
        "ok": False,
        "p": 2.0,
        "x": float("nan"),
    }
    assert metric_changes(before, after) == [MetricChange("los.count", 3, 1), MetricChange("p", None, 2.0)]
    assert str(MetricChange("los.count", 3, 1)) == "los.count: 3 -> 1 (-2)"
    assert str(MetricChange("p", None, 2.0)) == "p: - -> 2"


def test_closest_approach_of_the_encounter_pair_is_the_closed_form_one(encounter_run):
    run = read_log(encounter_run.log_dir, columns=[])
    approach = closest_approach(run, 1, 0, 0.0, 240.0)  # either order
    assert approach.closest_s == pytest.approx(2005.0 / 20.0, abs=1e-6)
    assert approach.min_horizontal_m == pytest.approx(20.0, abs=1e-4) and approach.min_vertical_m == 0.0
    assert closest_approach(run, 0, 1, 230.0, 240.0) is None  # both landed at 199 s


def test_study_incident_keeps_the_original_metrics_and_manifest_head(encounter_run):
    study = study_incident(encounter_run.log_dir, "I0001")
    assert (study.incident.a, study.incident.b, study.incident.severity) == (0, 1, "NMAC")
    assert study.metrics == encounter_run.metrics
    assert study.window_s == (98.0 - 60.0, 103.0 + 30.0)
    assert len(study.head) == 64


def test_a_log_reruns_byte_for_byte_after_its_scenario_folder_is_gone(tmp_path):
    """The header carries the region and geozone files: a log sent elsewhere re-runs the same airspace."""
    copy = shutil.copytree(ENCOUNTER.parent, tmp_path / "scenarios")
    first = simulate(load_scenario(copy / ENCOUNTER.name), tmp_path / "first", report=False)
    shutil.rmtree(copy)
    loaded = rerun_scenario(first.log_dir)
    assert loaded.airspace.region_path == str(copy / "region.yaml") and loaded.region.geofences
    again = simulate(loaded, tmp_path / "again", report=False)
    for name in PARQUET:
        assert (again.log_dir / f"{name}.parquet").read_bytes() == (
            first.log_dir / f"{name}.parquet"
        ).read_bytes()
    with pytest.raises(ScenarioError, match=r"region: no such file"):  # another region is read from disk
        rerun_scenario(first.log_dir, [f"region={copy / 'other-region.yaml'}"])


@pytest.mark.parametrize(
    ("record", "says"),
    [
        (
            {"region_path": "/a/region.yaml", "region_files": {"region.yaml": "", "../../etc/x": ""}},
            "not a plain relative name",
        ),
        ({"region_path": "/a/region.yaml", "region_files": {"other.yaml": ""}}, "no region file"),
        ({"region_path": "/a/region.yaml"}, "is malformed"),
    ],
)
def test_a_malformed_airspace_record_is_refused_by_name(record, says):
    full = {"geofence_paths": [], "geofence_files": []} | record
    with pytest.raises(ScenarioError, match=says):
        AirspaceFiles.from_json(full)
