"""GNSS error in position reports: over a modelled network a report is a noisy fix, on ideal comms exact."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sim.engine import Simulation, _add_gnss_error
from sim.eventlog import EventLog
from sim.run import run_header, simulate
from sim.scenario import load_scenario
from sim.sixg.fusion import K_95_1D, K_95_2D, Tracks
from utm.errors import NotFound

ROOT = Path(__file__).resolve().parents[2]
FREE = ROOT / "scenarios" / "bench" / "free-flight-10km.yaml"
TINY = ROOT / "scenarios" / "shenzhen-nanshan" / "tiny.yaml"
SIXG = ["traffic.count=100", "comms.profile=6g-isac-fr1", "cdr.enabled=false"]
WIDE = [
    "comms.fusion.gnss_sigma_h_m=4.0",
    "comms.fusion.gnss_sigma_v_m=0.5",
    "comms.fusion.gnss_sigma_vel_mps=0.3",
]


def _messages(out: Path, kind: str) -> pa.Table:
    """The logged messages of one kind."""
    messages = pq.read_table(out / "log" / "messages.parquet")
    return messages.filter(pc.equal(messages["kind"].cast(pa.string()), kind))


def _rows(table: pa.Table, t_column: str) -> dict[tuple[float, int], int]:
    """Row of each (time, flight) of a log table."""
    keys = zip(table[t_column].to_pylist(), table["flight"].to_pylist(), strict=True)
    return {key: k for k, key in enumerate(keys)}


def _truth(out: Path, t_s: np.ndarray, flight: np.ndarray, columns: tuple[str, ...]) -> np.ndarray:
    """The logged states ``columns`` of each (t_s, flight), which must all have been recorded."""
    states = pq.read_table(out / "log" / "states.parquet")
    row = _rows(states, "t_s")
    take = [row[key] for key in zip(t_s.tolist(), flight.tolist(), strict=True)]
    return np.column_stack([states[c].to_numpy()[take] for c in columns])


def _report_errors(out: Path) -> np.ndarray:
    """Logged report positions minus the ground truth at their send times (states are recorded every
    report), (n, 3)."""
    reports = _messages(out, "report")
    pos = np.column_stack([reports[c].to_numpy() for c in ("x_m", "y_m", "z_m")]).astype(float)
    t, flight = reports["t_sent_s"].to_numpy(), reports["flight"].to_numpy()
    return pos - _truth(out, t, flight, ("x_m", "y_m", "z_m"))


def _run(tmp_path_factory: pytest.TempPathFactory, overrides: list[str], duration_s: float) -> Path:
    out = tmp_path_factory.mktemp("gnss") / "run"
    simulate(load_scenario(FREE, overrides, duration_s=duration_s), out, report=False)
    return out


@pytest.fixture(scope="module")
def sixg(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple]]:
    """100 drones for 60 s on 6g-isac-fr1 (CD&R off, so the trajectories do not depend on the picture): the
    run folder and every batch of reports the tracker was given."""
    fed: list[tuple] = []
    update = Tracks.update_reports

    def recorded(self: Tracks, flight, t_s, pos_m, vel_mps=None) -> None:
        fed.append((np.array(flight), np.array(t_s), np.array(pos_m), np.array(vel_mps)))
        update(self, flight, t_s, pos_m, vel_mps)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Tracks, "update_reports", recorded)
        return _run(tmp_path_factory, SIXG, 60.0), fed


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run with other GNSS sigmas set the way ``--set`` sets them."""
    return _run(tmp_path_factory, [*SIXG, *WIDE], 60.0)


def _assert_spread(err: np.ndarray, sigma: tuple[float, float, float]) -> None:
    """Per-axis mean within 5 standard errors of 0 and standard deviation within 5 % of ``sigma``.

    With n = 5,900 reports the standard deviation's relative standard error is 1 / sqrt(2 n) = 0.9 %, so
    5 % is more than five standard errors: the check fails on a wrong sigma or axis, not on chance."""
    n, want = len(err), np.array(sigma)
    assert n >= 5000
    assert (np.abs(err.mean(axis=0)) < 5.0 * want / np.sqrt(n)).all()
    assert err.std(axis=0) == pytest.approx(want, rel=0.05)


def test_over_a_modelled_network_reports_carry_the_configured_gnss_error(sixg: tuple[Path, list[tuple]]):
    """Oracle: logged report minus truth is zero-mean with sigma (1.5, 1.5, 3.0) m (SIXG-MODEL.md §8)."""
    _assert_spread(_report_errors(sixg[0]), (1.5, 1.5, 3.0))


def test_the_gnss_sigmas_set_both_the_error_and_the_tracker(wide: Path):
    """``comms.fusion.gnss_sigma_*`` is one setting: the reports' spread follows it."""
    _assert_spread(_report_errors(wide), (4.0, 4.0, 0.5))


def test_the_tracker_gets_the_logged_fix_and_a_noisy_velocity(sixg: tuple[Path, list[tuple]]):
    """What fusion is fed is what was logged as sent; its velocity is truth plus 0.1 m/s per axis."""
    out, fed = sixg
    flight, t, pos, vel = (np.concatenate(parts) for parts in zip(*fed, strict=True))
    reports = _messages(out, "report")
    sent = _rows(reports, "t_sent_s")
    take = [sent[key] for key in zip(t.tolist(), flight.tolist(), strict=True)]
    logged = np.column_stack([reports[c].to_numpy()[take] for c in ("x_m", "y_m", "z_m")])
    assert len(t) > 5000
    assert np.array_equal(logged, pos.astype(np.float32))  # the log stores float32
    err = vel - _truth(out, t, flight, ("vx_mps", "vy_mps", "vz_mps"))
    assert err.std(axis=0) == pytest.approx([0.1, 0.1, 0.1], rel=0.05)


def test_the_gnss_error_moves_no_other_random_draw(sixg: tuple[Path, list[tuple]], wide: Path):
    """Its own stream: with other sigmas (and the same trajectories) every report arrives at the same time
    and every sensing detection is the same."""
    a, b = _messages(sixg[0], "report"), _messages(wide, "report")
    assert a["t_received_s"].equals(b["t_received_s"]) and a["flight"].equals(b["flight"])
    assert _messages(sixg[0], "detection").equals(_messages(wide, "detection"))
    assert not a["x_m"].equals(b["x_m"])


def test_ideal_comms_report_the_exact_state(tmp_path_factory: pytest.TempPathFactory):
    """The no-network baseline: every report is the vehicle's true position."""
    out = _run(tmp_path_factory, ["traffic.count=100"], 20.0)
    assert len(_messages(out, "report")) >= 1500
    assert not _report_errors(out).any()


def test_a_6g_run_is_still_a_pure_function_of_scenario_and_seed(
    sixg: tuple[Path, list[tuple]], tmp_path_factory: pytest.TempPathFactory
):
    """ARCHITECTURE determinism: the same scenario and seed write the same log, noisy reports included."""
    again = _run(tmp_path_factory, SIXG, 60.0)
    for path in sorted((sixg[0] / "log").rglob("*.parquet")):
        assert (again / "log" / path.name).read_bytes() == path.read_bytes(), path.name


def test_cooperative_tracks_average_the_gnss_error_down_to_the_metre(
    tmp_path_factory: pytest.TempPathFactory,
):
    """Cooperative track errors on reports alone (5g-fr1: no sensing) are below the raw GNSS error.

    The CV filter (q = 1 m^2/s^3, 1 s reports, sigma 1.5 m on position and 0.1 m/s on velocity) settles on a
    truly straight track at 0.50 m per horizontal axis after an update, 0.51 m one report later (its
    steady-state gains applied to white measurement noise), so the horizontal error's median is about 1.18 x
    0.5 = 0.6 m; CD&R manoeuvres add a little. A raw fix's median is 1.18 x 1.5 = 1.77 m and an exact report
    gave 0.05 m (one histogram bin). Bounds 0.3-1.2 m: half and twice the steady state, both far from those.
    """
    out = tmp_path_factory.mktemp("gnss") / "run"
    loaded = load_scenario(FREE, ["traffic.count=100", "comms.profile=5g-fr1"], duration_s=120.0)
    errors = simulate(loaded, out, report=False).metrics["network"]["track_error"]["cooperative"]["all"]
    assert errors["count"] >= 2000
    horizontal = errors["horizontal_m"]
    assert 0.3 <= horizontal["p50"] <= 1.2
    assert horizontal["p50"] < horizontal["p90"] < 1.5 * 2.146  # below a raw fix's p90 (Rayleigh)


@pytest.mark.parametrize(
    ("profile", "accuracy_m"), [("5g-fr1", (K_95_2D * 1.5, K_95_1D * 3.0)), ("ideal", (0.0, 0.0))]
)
def test_the_service_is_told_each_report_s_accuracy(tmp_path, profile, accuracy_m):
    """Conformance allows a report its accuracy: a GNSS fix states its 95 % bounds (3.67 m, 5.88 m), so
    noise alone does not push a flight near its volume's edge out of conformance; an exact one states 0."""
    loaded = load_scenario(TINY, [f"comms.profile={profile}"], duration_s=300.0)
    with EventLog(tmp_path / "log", run_header(loaded)) as log:
        sim = Simulation(loaded, log)
        sim.run()
        service = sim.uss.service
        reports = []
        for intent in service.live_intents():
            with contextlib.suppress(NotFound):  # filed, not yet flying
                reports.append(service.last_telemetry(intent.id))
    assert len(reports) >= 5
    assert all((r.accuracy_h_m, r.accuracy_v_m) == pytest.approx(accuracy_m) for r in reports)


def test_the_compiled_gnss_error_is_numpys_draw_bit_for_bit():
    """The engine adds each report's error in a kernel: the same numbers numpy's generator gives for
    ``standard_normal((n, 6)) * sigma``, and the generator left in the same state."""
    sigma = np.array([1.5, 1.5, 3.0, 0.1, 0.1, 0.1])
    state = np.random.default_rng(1).normal(size=(500, 6)) * 100.0
    ours, numpys = np.random.default_rng(7), np.random.default_rng(7)
    got = state.copy()
    _add_gnss_error(ours, got, sigma)
    assert got.tobytes() == (state + numpys.standard_normal((500, 6)) * sigma).tobytes()
    assert ours.random() == numpys.random()
