"""Run metrics: peak cell occupancy against a brute-force count, sensing figures, strategic rates."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sim.metrics import Tally
from sim.scenario import load_scenario

TINY = Path(__file__).resolve().parents[2] / "scenarios" / "shenzhen-nanshan" / "tiny.yaml"


@pytest.fixture(scope="module")
def loaded():
    return load_scenario(TINY)


def test_peak_cell_occupancy_is_the_brute_force_count(loaded):
    """Oracle: CellGrid.cell_of point by point and a Counter, over several instants; points outside the
    grid or above every layer count nowhere."""
    grid = loaded.region.grid
    rng = np.random.default_rng(3)
    tally = Tally(loaded)
    best = (0, None)
    for t_s in range(5):
        pos = np.column_stack(
            [rng.normal(0.0, 700.0, 400), rng.normal(0.0, 700.0, 400), rng.uniform(0.0, 600.0, 400)]
        )
        pos[:5, 0] = 50_000.0  # outside the grid
        tally.occupancy(float(t_s), np.asfortranarray(pos))
        inside = grid.contains(pos[:, 0], pos[:, 1], pos[:, 2])
        counts = Counter(map(tuple, grid.cell_of(*pos[inside].T).tolist()))
        ((cell, n),) = counts.most_common(1)
        if n > best[0]:
            best = (n, cell, float(t_s))
    peak = tally.metrics(10.0)["cell_occupancy_peak"]
    i, j, k = best[1]
    assert (peak["count"], peak["cell"], peak["t_s"]) == (best[0], f"{i},{j} {grid.layers[k].name}", best[2])


def test_sensing_figures_count_scans_detections_and_first_detections(loaded):
    tally = Tally(loaded)
    assert tally.metrics(10.0)["sensing"] is None  # no scans: no sensing section
    tally.sensing(0.0, np.array([3, 8]), np.array([1, 8]), false_alarms=2)
    tally.sensing(1.0, np.array([3, 8, 11]), np.array([3]), false_alarms=0)
    tally.sensing(2.0, np.array([3, 11]), np.array([], np.int64), false_alarms=1)
    sensing = tally.metrics(10.0)["sensing"]
    assert sensing["scans"] == 3
    assert sensing["noncooperative_detection_rate"] == pytest.approx(2 / 7)
    assert sensing["noncooperative_vehicles"] == 3 and sensing["never_detected"] == 1  # flight 11
    assert sensing["time_to_first_detection_s"]["max"] == 1.0  # flight 3: up at 0, first seen at 1
    assert sensing["time_to_first_detection_s"]["mean"] == pytest.approx(0.5)
    assert sensing["false_alarms_per_scan"] == pytest.approx(1.0)


def test_strategic_rates_and_delays(loaded):
    tally = Tally(loaded)
    tally.decision("accepted", 0.0, flown=True)
    tally.decision("accepted:time_shift", 120.0, flown=True)
    tally.decision("rejected:conflict (after reroute)", 0.0, flown=False)
    tally.decision("rejected:invalid (volumes[3]: lies outside the managed region)", 0.0, flown=False)
    m = tally.metrics(3600.0)
    assert m["strategic"]["rejection_rate"] == pytest.approx(0.5)
    assert m["strategic"]["delay_s"]["mean"] == pytest.approx(60.0)
    assert m["flights"]["not_flown"] == {"rejected:conflict": 1, "rejected:invalid": 1}
