"""An incident's report on the head-on encounter: its window, series and narrative against the closed form."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.eventlog import EventLogError, read_log
from sim.incident_report import incident_scene, pair_separation, write_incident_report
from sim.incidents import find_incidents
from sim.run import simulate
from sim.scenario import load_scenario

ENCOUNTER = Path(__file__).resolve().parents[2] / "scenarios" / "shenzhen-nanshan" / "encounter.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def ideal(tmp_path_factory):
    return simulate(load_scenario(ENCOUNTER), tmp_path_factory.mktemp("ideal") / "run", report=False)


@pytest.fixture(scope="module")
def sixg(tmp_path_factory):
    loaded = load_scenario(ENCOUNTER, ["comms.profile=6g-isac-fr1"])
    return simulate(loaded, tmp_path_factory.mktemp("6g") / "run", report=False)


def _scene(run, **options):
    log = read_log(run.log_dir, columns=[])
    (incident,) = find_incidents(log)
    return incident_scene(log, incident, **options)


def test_the_window_holds_both_parties_truth_and_the_closed_form_separation(ideal):
    scene = _scene(ideal)
    assert (scene.t0_s, scene.t1_s) == (98.0 - 60.0, 103.0 + 30.0)
    for party, x0, vx in zip(scene.parties, (-1000.0, 1005.0), (10.0, -10.0), strict=True):
        t = party.truth["t_s"]
        assert t.tolist() == [float(s) for s in range(38, 134)]
        assert party.truth["x_m"] == pytest.approx(x0 + vx * t, abs=1e-3)
    sep = pair_separation(scene)
    assert sep["horizontal_m"] == pytest.approx(np.hypot(2005.0 - 20.0 * sep["t_s"], 20.0), abs=1e-3)
    assert sep["vertical_m"].tolist() == [0.0] * len(sep["t_s"])


def test_a_narrower_window_is_honoured(ideal):
    scene = _scene(ideal, window_s=(5.0, 0.0))
    assert (scene.t0_s, scene.t1_s) == (93.0, 103.0)
    assert scene.parties[0].truth["t_s"].tolist() == [float(s) for s in range(93, 104)]


def test_report_files_and_json_say_what_happened(ideal, tmp_path):
    page = write_incident_report(ideal.log_dir, "I0001", tmp_path / "rep")
    for name in ("top.png", "altitude.png", "separation.png", "timeline.png"):
        assert (tmp_path / "rep" / name).read_bytes().startswith(PNG_MAGIC)
    text = page.read_text()
    assert "Incident I0001: NMAC between flights 0 and 1" in text
    assert "closest 20.0 m horizontally and 0.0 m vertically at 100.25 s" in text
    assert "CD&amp;R did not predict this conflict beforehand; 0 advisories were delivered" in text
    summary = json.loads((tmp_path / "rep" / "incident.json").read_text())
    assert summary["incident"]["closest_s"] == pytest.approx(100.25, abs=1e-3)
    assert summary["run"]["scenario"] == "shenzhen-nanshan-encounter" and summary["run"]["seed"] == 11
    assert summary["protected_zone_m"] == {"horizontal": 50.0, "vertical": 15.0}
    kinds = [(e["t_s"], e["kind"]) for e in summary["timeline"]]
    assert kinds == [(98.0, "los_start"), (100.0, "nmac"), (103.0, "los_end")]
    for party in summary["parties"]:
        assert party["reports"] == {
            "sent": 96,
            "delivered": 96,
            "lost": 0,
            "latency_ms_p50": 0.0,
            "latency_ms_max": 0.0,
        }
        assert party["admission"] is None and party["flight"]["kind"] == "scripted"
        assert party["detections"] == {"count": 0}


def test_over_6g_the_report_shows_latency_and_what_the_network_sensed(sixg, tmp_path):
    write_incident_report(sixg.log_dir, "I0001", tmp_path / "rep")
    summary = json.loads((tmp_path / "rep" / "incident.json").read_text())
    assert summary["run"]["comms_profile"] == "6g-isac-fr1"
    for party in summary["parties"]:
        reports = party["reports"]
        assert reports["sent"] == 96 and reports["delivered"] + reports["lost"] == 96
        assert 0.0 < reports["latency_ms_p50"] < 50.0  # NR timing: milliseconds, not zero
        assert party["detections"]["count"] > 50  # both drones in the sites' coverage at 60 m
        assert party["detections"]["mean_horizontal_error_m"] < 10.0  # CRB-level noise, not a mislabel


def test_an_unknown_incident_is_refused_naming_it(ideal, tmp_path):
    with pytest.raises(EventLogError, match=r"incident: no incident 'I0002' in .* \(see `utm6g incidents`\)"):
        write_incident_report(ideal.log_dir, "I0002", tmp_path / "rep")
    assert not (tmp_path / "rep").exists()  # nothing half-written


def test_a_planned_flights_report_shows_its_plan_and_admission(tmp_path):
    """Two deliveries of the demo (CD&R off so they meet): both intents, layers and decisions are shown."""
    demo = ENCOUNTER.parent / "demo.yaml"
    run = simulate(
        load_scenario(demo, ["cdr.enabled=false"], duration_s=200.0), tmp_path / "run", report=False
    )
    log = read_log(run.log_dir, columns=[])
    cooperative = [i for i in find_incidents(log) if all(i.cooperative)]
    assert cooperative, "the demo's first 200 s without CD&R has a loss of separation between planned flights"
    page = write_incident_report(run.log_dir, cooperative[0].id, tmp_path / "rep")
    summary = json.loads((tmp_path / "rep" / "incident.json").read_text())
    layers = {layer.name for layer in load_scenario(demo).region.grid.layers}
    for party in summary["parties"]:
        plan = party["flight"]["plan"]
        assert plan["layer"] in layers and len(plan["path_m"]) >= 4
        assert party["admission"]["decision"].startswith("accepted")
        assert len(party["flight"]["intent_id"]) == 36
    assert "planned layer" in page.read_text()
