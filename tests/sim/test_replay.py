"""The scene at one instant: truth against the service's picture, on the head-on encounter (closed form)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.eventlog import EventLogError, read_log
from sim.replay import format_snapshot, plot_snapshot, snapshot
from sim.run import simulate
from sim.scenario import load_scenario

ENCOUNTER = Path(__file__).resolve().parents[2] / "scenarios" / "shenzhen-nanshan" / "encounter.yaml"


def _run(tmp_path_factory, *overrides):
    out = tmp_path_factory.mktemp("run") / "run"
    return read_log(simulate(load_scenario(ENCOUNTER, overrides), out, report=False).log_dir, columns=[])


@pytest.fixture(scope="module")
def ideal(tmp_path_factory):
    return _run(tmp_path_factory)


@pytest.fixture(scope="module")
def sixg(tmp_path_factory):
    return _run(tmp_path_factory, "comms.profile=6g-isac-fr1")


def test_truth_is_the_last_sample_and_ideal_comms_give_a_fresh_exact_picture(ideal):
    snap = snapshot(ideal, 100.5)
    assert snap.state_t_s == 100.0 and snap.flight.tolist() == [0, 1]
    # x = -1000 + 10 t and 1005 - 10 t at t = 100 s
    assert snap.truth_m == pytest.approx(np.array([[0.0, 0.0, 60.0], [5.0, 20.0, 60.0]]), abs=1e-3)
    assert snap.speed_mps == pytest.approx([10.0, 10.0], abs=1e-4)
    assert snap.mode.tolist() == ["nominal", "nominal"]
    assert snap.report_age_s.tolist() == [0.0, 0.0] and snap.report_error_m == pytest.approx(
        [0.0, 0.0], abs=1e-3
    )
    assert len(snap.sensed_m) == 0


def test_over_6g_the_picture_is_one_report_old_and_the_network_senses_both(sixg):
    snap = snapshot(sixg, 100.0)
    # The report sent at 100 s arrives milliseconds later: the picture holds the 99 s one, 10 m behind, a
    # GNSS fix of where the vehicles were then (within 5 sigma of 1.5, 1.5, 3 m)
    assert snap.report_age_s.tolist() == [1.0, 1.0]
    at_99 = np.array([[-10.0, 0.0, 60.0], [15.0, 20.0, 60.0]])
    assert (np.abs(snap.reported_m - at_99) < 5.0 * np.array([1.5, 1.5, 3.0])).all()
    assert snap.report_error_m.tolist() != pytest.approx([10.0, 10.0], abs=1e-3)
    assert set(snap.sensed_flight.tolist()) <= {-1, 0, 1} and {0, 1} <= set(snap.sensed_flight.tolist())


def test_around_and_radius_select_by_horizontal_distance(ideal):
    assert snapshot(ideal, 100.0, around=0, radius_m=20.0).flight.tolist() == [0]  # the other is 20.6 m away
    assert snapshot(ideal, 100.0, around=0, radius_m=21.0).flight.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("t_s", "options", "message"),
    [
        (230.0, {}, "--at: no vehicle was airborne at 230 s"),
        (100.0, {"around": 7}, "--around: flight 7 was not airborne at that time"),
    ],
)
def test_an_empty_instant_or_an_absent_flight_is_refused(ideal, t_s, options, message):
    with pytest.raises(EventLogError, match=message):
        snapshot(ideal, t_s, **options)


def test_the_table_and_picture(ideal, tmp_path):
    text = format_snapshot(snapshot(ideal, 100.0), limit=1)
    lines = text.splitlines()
    assert lines[0].split() == [
        "flight",
        "mode",
        "x_m",
        "y_m",
        "z_m",
        "speed",
        "report_age_s",
        "report_err_m",
    ]
    assert lines[1].split() == ["0", "nominal", "0.0", "0.0", "60.0", "10.0", "0.000", "0.0"]
    assert lines[2] == "... 1 more (narrow with --around FLIGHT --radius M)"
    assert lines[3].startswith("t = 100 s: 2 airborne, 2 in the service's picture by report")
    png = plot_snapshot(snapshot(ideal, 100.0), tmp_path / "pic" / "scene.png")
    assert png.read_bytes().startswith(b"\x89PNG")
