"""ISAC sensing: detection, Cramér-Rao bounds, link budget, covariance, false alarms, calibration.

Oracles: the SIXG-MODEL.md §9 check values, hand-computed link budgets, Monte-Carlo square-law detectors and
ML estimators, a finite-difference Jacobian, and the NIST reference ranges of §3.7.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import fields, replace

import numpy as np
import pytest
from scipy import stats

from sim.errors import ScenarioError
from sim.sixg.sensing import (
    C_MPS,
    RCS_CLASS,
    Detections,
    SensingParams,
    _fa_bounds,
    _rcs_draws,
    _scan_draws,
    albersheim_snr_db,
    calibrate_nist,
    coupling_loss_db,
    crb_angle_rad,
    crb_radial_velocity_mps,
    crb_range_m,
    pd_swerling0,
    pd_swerling1,
    scan,
    spherical_to_enu,
)

TRP = np.array([[0.0, 0.0, 25.0], [600.0, 0.0, 25.0]])


def _scan(params: SensingParams, seed: int, pos_m: np.ndarray, pl_db, *, los=True, vel_mps=None, trp=0):
    """One scan of ``pos_m`` targets by TRP ``trp`` (a row of ``TRP``), given one-way path losses."""
    n = len(pos_m)
    return scan(
        params,
        np.random.default_rng(seed),
        t_s=100.0,
        target_pos_m=pos_m,
        target_vel_mps=np.zeros((n, 3)) if vel_mps is None else vel_mps,
        target_rcs_class=np.full(n, RCS_CLASS["small_uav"]),
        trp_pos_m=TRP,
        pair_target=np.arange(n),
        pair_trp=np.full(n, trp),
        pl_db=np.broadcast_to(np.asarray(pl_db, float), n).copy(),
        los=np.full(n, los),
        sf_db=np.zeros(n),
    )


def _ring(n: int, r_m: float = 300.0, z_m: float = 75.0) -> np.ndarray:
    """``n`` targets on a horizontal circle around TRP 0 (same range and elevation)."""
    az = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.stack([r_m * np.cos(az), r_m * np.sin(az), np.full(n, z_m)], axis=1)


# --- detection -------------------------------------------------------------------------------------------


def test_albersheim_matches_check_value_d1_and_its_closed_form():
    """SIXG-MODEL.md D1: P_d 0.9, P_fa 1e-6, N 1 needs 13.1145 dB; N = 10 written out by hand."""
    assert albersheim_snr_db(0.9, 1e-6) == pytest.approx(13.1145, rel=1e-4)
    a, b = math.log(0.62 / 1e-6), math.log(0.9 / 0.1)
    hand = -5 * math.log10(10) + (6.2 + 4.54 / math.sqrt(10.44)) * math.log10(a + 0.12 * a * b + 1.7 * b)
    assert albersheim_snr_db(0.9, 1e-6, 10) == pytest.approx(hand, rel=1e-12)


@pytest.mark.parametrize("n_pulses", [1, 4])
def test_albersheim_snr_gives_its_pd_on_a_monte_carlo_noncoherent_detector(n_pulses):
    """Oracle: sum of |sqrt(SNR) + CN(0,1)|^2 over N pulses against the Gamma(N) threshold for P_fa (a
    noncentral chi-square statistic). Albersheim fits a linear detector to about 0.2 dB; against this
    square-law one that is about +-0.04 in P_d here."""
    pfa, pd, trials = 1e-4, 0.8, 40_000
    snr = 10 ** (albersheim_snr_db(pd, pfa, n_pulses) / 10)
    rng = np.random.default_rng(7)
    noise = (
        rng.standard_normal((trials, n_pulses)) + 1j * rng.standard_normal((trials, n_pulses))
    ) / math.sqrt(2)
    statistic = (np.abs(math.sqrt(snr) + noise) ** 2).sum(axis=1)
    threshold = stats.gamma.isf(pfa, n_pulses)
    rate = (statistic > threshold).mean()
    exact = stats.ncx2.sf(2 * threshold, 2 * n_pulses, 2 * n_pulses * snr)
    assert rate == pytest.approx(exact, abs=3 * math.sqrt(pd * (1 - pd) / trials))
    assert rate == pytest.approx(pd, abs=0.04)


def test_swerling_pd_match_check_values_and_a_monte_carlo_detector():
    """SIXG-MODEL.md D2 (Swerling 0 at 13.11 dB: 0.891) and D5 (Swerling 1 needs 21.1 dB for 0.9); both
    closed forms against the square-law detector with a steady and a Rayleigh target."""
    assert pd_swerling0(13.1145, 1e-6) == pytest.approx(0.891, abs=5e-4)
    assert pd_swerling1(21.1, 1e-6) == pytest.approx(0.9, abs=2e-3)
    rng = np.random.default_rng(3)
    pfa, snr_db, trials = 1e-3, 10.0, 200_000
    noise = (rng.standard_normal(trials) + 1j * rng.standard_normal(trials)) / math.sqrt(2)
    fade = (rng.standard_normal(trials) + 1j * rng.standard_normal(trials)) / math.sqrt(2)
    amp, eta = math.sqrt(10 ** (snr_db / 10)), -math.log(pfa)
    se = 3 * math.sqrt(0.25 / trials)
    assert (np.abs(amp + noise) ** 2 > eta).mean() == pytest.approx(pd_swerling0(snr_db, pfa), abs=se)
    assert (np.abs(amp * fade + noise) ** 2 > eta).mean() == pytest.approx(pd_swerling1(snr_db, pfa), abs=se)


@pytest.mark.parametrize("swerling", [0, 1])
def test_scan_detection_rate_follows_pd_and_falls_with_path_loss(swerling):
    """Detections per path-loss step agree with pd_swerling0/1 of the hand link budget and never rise with
    the loss (RCS spread off, threshold effect off, so only the detector decides)."""
    p = SensingParams(swerling=swerling, rcs_std_db=(0.0, 0.0), snr_threshold_db=-50.0, pfa_cell=1e-12)
    pos = _ring(4000)
    el = math.atan2(50.0, 300.0)
    pd_of = pd_swerling0 if swerling == 0 else pd_swerling1
    rates = []
    for pl_db in np.arange(95.0, 108.01, 1.0):
        det = _scan(p, int(pl_db), pos, pl_db)
        rate = len(det) / len(pos)
        want = float(pd_of(p.snr_int_db(pl_db, 0.0, -12.81, el), p.pfa_cell))
        assert rate == pytest.approx(want, abs=4 * math.sqrt(max(want * (1 - want), 1e-4) / len(pos)) + 1e-3)
        rates.append(rate)
    assert rates[0] > 0.95 and rates[-1] < 0.2
    assert all(later <= earlier + 0.02 for earlier, later in itertools.pairwise(rates))


def test_below_the_snr_threshold_a_target_is_missed():
    """SIXG-MODEL.md §3.6 threshold effect: under snr_threshold_db every pair is a miss, whatever P_d says."""
    p = SensingParams(pfa_cell=1e-12)
    snr_db = p.snr_int_db(75.0, 0.0, -12.81, math.atan2(50.0, 300.0))
    assert len(_scan(p, 0, _ring(500), 75.0)) == 500
    assert len(_scan(replace(p, snr_threshold_db=snr_db + 15.0), 0, _ring(500), 75.0)) == 0


def test_targets_outside_coverage_are_never_detected():
    """Beyond max_range_m or above el_max_rad (60°) no detection, even with a huge SNR."""
    p = SensingParams(pfa_cell=1e-12)
    overhead = np.array([[10.0, 0.0, 225.0]] * 50)
    far = np.array([[1600.0, 0.0, 25.0]] * 50)
    assert len(_scan(p, 1, overhead, 40.0)) == 0
    assert len(_scan(p, 1, far, 40.0)) == 0
    assert len(_scan(p, 1, _ring(50), 40.0)) == 50


# --- link budget -----------------------------------------------------------------------------------------


def test_monostatic_received_power_matches_check_value_s2():
    """SIXG-MODEL.md S2: 4 GHz, 53 dBm, 24 + 24 dBi, -12.81 dBsm, 300 m free space, 3 dB: -69.3759 dBm."""
    fspl_db = 20 * math.log10(4 * math.pi * 300.0 * 4e9 / C_MPS)
    p_r = 53 + 24 + 24 - coupling_loss_db(fspl_db, 0.0, -12.81, 4e9) - 3
    assert p_r == pytest.approx(-69.3759, rel=1e-4)


def test_integrated_snr_of_the_defaults_matches_a_hand_link_budget():
    """By hand: P_t = 46 + 10 log 5; G = 8 + 10 log 64 at broadside, twice; N = -174 + 80 + 5; N_RE = 3333 / 2
    x 2 x 64; coupling = 2 PL + 2 SF + 10 log(lambda^2 / 4 pi) - RCS at 4 GHz; L_impl 45 dB."""
    p_t = 46 + 10 * math.log10(5)
    g = 8 + 10 * math.log10(64)
    noise = -174 + 80 + 5
    pg = 10 * math.log10(3333 / 2 * 2 * 64)
    coupling = 2 * 90.0 + 2 * 1.5 + 10 * math.log10((C_MPS / 4e9) ** 2 / (4 * math.pi)) + 12.81
    hand = p_t + 2 * g - coupling - noise + pg - 45.0
    assert SensingParams().snr_int_db(90.0, 1.5, -12.81, 0.0) == pytest.approx(hand, rel=1e-9)
    assert hand == pytest.approx(40.09, abs=0.01)
    assert SensingParams(bandwidth_hz=400e6).tx_dbm == 56.0  # 46 + 13 dB capped


def test_elevation_costs_element_gain_on_both_legs():
    """TR 38.901 element: 12 (el / 65°)^2 dB per pass; at 30° elevation twice that, 5.11 dB in all."""
    p = SensingParams()
    drop = p.snr_int_db(90.0, 0.0, -12.81, 0.0) - p.snr_int_db(90.0, 0.0, -12.81, math.radians(30))
    assert drop == pytest.approx(2 * 12 * (30 / 65) ** 2, rel=1e-9)


# --- Cramér-Rao bounds -----------------------------------------------------------------------------------


def _ml_tone(y: np.ndarray) -> np.ndarray:
    """ML frequency (rad/sample) of one complex tone per row: zero-padded FFT peak, then Newton steps on the
    periodogram."""
    n = y.shape[1]
    spectrum = np.abs(np.fft.fft(y, 16 * n, axis=1))
    w = np.angle(np.exp(2j * np.pi * spectrum.argmax(axis=1) / (16 * n)))
    k = np.arange(n)
    for _ in range(6):
        e = y * np.exp(-1j * w[:, None] * k)
        a0, a1, a2 = e.sum(1), (-1j * k * e).sum(1), (-(k**2) * e).sum(1)
        grad = 2 * np.real(a1 * np.conj(a0))
        hess = 2 * (np.abs(a1) ** 2 + np.real(a2 * np.conj(a0)))
        w = w - grad / hess
    return w


def _tone(rng: np.random.Generator, w: float, n: int, snr_int_db: float, trials: int) -> np.ndarray:
    """``trials`` rows of ``exp(j w k)`` plus complex noise; total SNR over the ``n`` samples = snr_int."""
    sigma = math.sqrt(n / 10 ** (snr_int_db / 10) / 2)
    noise = sigma * (rng.standard_normal((trials, n)) + 1j * rng.standard_normal((trials, n)))
    return np.exp(1j * w * np.arange(n)) + noise


def test_crb_closed_forms():
    """SIXG-MODEL.md §3.6: sigma_R = (c / 2B) 0.390 / sqrt(SNR); 0.56° at N 8, 20 dB; 1 / cos(theta) off
    broadside; sigma_v = sqrt(6) lambda / (4 pi T_CPI sqrt(SNR))."""
    assert crb_range_m(30.0, 100e6) == pytest.approx(
        C_MPS / 2e8 * math.sqrt(6) / (2 * math.pi) / math.sqrt(1e3)
    )
    assert crb_range_m(30.0, 100e6) == pytest.approx(0.01848, rel=1e-3)
    assert math.degrees(crb_angle_rad(20.0, 8)) == pytest.approx(0.5626, rel=1e-3)
    assert crb_angle_rad(20.0, 8, math.radians(40)) == pytest.approx(
        crb_angle_rad(20.0, 8) / math.cos(0.6981317)
    )
    wl = C_MPS / 4e9
    assert crb_radial_velocity_mps(20.0, wl, 0.04) == pytest.approx(
        math.sqrt(6) * wl / (4 * math.pi * 0.04 * 10)
    )


def test_range_crb_against_ml_delay_estimation_on_ofdm_subcarriers():
    """Oracle: ML delay from the phase ramp over 256 subcarriers of 100 MHz at SNR_int 30 dB (§3.6 V1/V2)."""
    n, bw, r_m, trials = 256, 100e6, 50.0, 2000
    df = bw / n
    y = _tone(np.random.default_rng(11), -4 * math.pi * df * r_m / C_MPS, n, 30.0, trials)
    r_hat = -_ml_tone(y) * C_MPS / (4 * math.pi * df)
    assert abs(r_hat.mean() - r_m) < 3 * crb_range_m(30.0, bw) / math.sqrt(trials)
    assert r_hat.std() == pytest.approx(crb_range_m(30.0, bw), rel=0.06)


def test_angle_crb_against_ml_estimation_on_a_ula():
    """Oracle: ML angle on an 8-element lambda/2 ULA, 30° off broadside, SNR_int 20 dB."""
    theta, trials = math.radians(30.0), 4000
    y = _tone(np.random.default_rng(12), math.pi * math.sin(theta), 8, 20.0, trials)
    theta_hat = np.arcsin(_ml_tone(y) / math.pi)
    assert theta_hat.std() == pytest.approx(crb_angle_rad(20.0, 8, theta), rel=0.06)


def test_radial_velocity_crb_against_ml_doppler_estimation():
    """Oracle: ML Doppler over 64 pulses of 0.625 ms at 4 GHz (CPI 40 ms), SNR_int 20 dB."""
    wl, pri, v, trials = C_MPS / 4e9, 0.625e-3, 12.0, 2000
    y = _tone(np.random.default_rng(13), 4 * math.pi * v * pri / wl, 64, 20.0, trials)
    v_hat = _ml_tone(y) * wl / (4 * math.pi * pri)
    assert v_hat.std() == pytest.approx(crb_radial_velocity_mps(20.0, wl, 64 * pri), rel=0.06)


# --- measurement and covariance --------------------------------------------------------------------------


def _to_enu(x: np.ndarray) -> np.ndarray:
    r, az, el = x
    return r * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


def test_covariance_equals_a_finite_difference_jacobian_transform():
    """Sigma = J diag(sigma^2) J^T with J by central differences, at random points."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        x = np.array([rng.uniform(20, 1500), rng.uniform(-np.pi, np.pi), rng.uniform(-1.2, 1.2)])
        sig = rng.uniform([0.1, 1e-3, 1e-3], [5.0, 0.05, 0.05])
        jac = np.stack([(_to_enu(x + h) - _to_enu(x - h)) / 2e-6 for h in np.eye(3) * 1e-6], axis=1)
        pos, cov = spherical_to_enu(*x, *sig)
        assert np.allclose(pos[0], _to_enu(x))
        assert np.allclose(cov[0], jac @ np.diag(sig**2) @ jac.T, rtol=1e-6, atol=1e-9)


def test_covariance_matches_a_monte_carlo_of_spherical_noise():
    """Oracle: sample covariance of the exact transform of Gaussian (range, az, el) noise."""
    rng = np.random.default_rng(6)
    x, sig = np.array([400.0, 0.7, 0.35]), np.array([2.0, 0.01, 0.02])
    samples = _to_enu(x[:, None] + sig[:, None] * rng.standard_normal((3, 200_000)))
    _, cov = spherical_to_enu(*x, *sig)
    assert np.linalg.norm(np.cov(samples) - cov[0]) / np.linalg.norm(cov[0]) < 0.03


def test_scan_errors_are_consistent_with_the_reported_covariance():
    """Per ENU axis, e_i^2 / Sigma_ii averages 1 over the detections, and positions are unbiased.

    (The full 3-D NEES, where the thin radial axis matters: the next test.)
    """
    p = SensingParams(pfa_cell=1e-12, crb_inflation=2.5)
    pos = _ring(5000, r_m=600.0, z_m=150.0)
    det = _scan(p, 9, pos, 95.0)
    err = det.pos_m - pos[det.target]
    var = det.cov_m2[:, [0, 1, 2], [0, 1, 2]]
    assert len(det) > 4000
    assert (err**2 / var).mean(axis=0) == pytest.approx([1.0, 1.0, 1.0], rel=0.06)
    assert (np.abs(err.mean(axis=0)) < 4 * np.sqrt(var.mean(axis=0) / len(det))).all()


def test_scan_errors_are_consistent_in_3d_where_range_is_far_finer_than_cross_range():
    """Full 3-D NEES near 3 at 400 MHz (FR3): the range sigma (millimetres to centimetres at 30 dB) is far
    below the range an angle error costs along the arc (``r sigma_theta^2 / 2``), which the linear
    ``J Sigma J^T`` leaves out: without its variance the NEES here was 20 (and 10 over a dense FR3 run,
    where the tracker then took its vehicles' echoes for new targets). What remains above 3 is that arc's
    mean shortfall, which the converted position keeps."""
    p = SensingParams(pfa_cell=1e-12, bandwidth_hz=400e6, fc_hz=7e9, crb_inflation=2.5)
    pos = _ring(5000, r_m=450.0, z_m=40.0)
    det = _scan(p, 11, pos, 100.0)
    err = det.pos_m - pos[det.target]
    nees = np.einsum("ni,nij,nj->n", err, np.linalg.inv(det.cov_m2), err)
    assert len(det) > 4000
    assert 2.7 < nees.mean() < 4.2


def test_nlos_inflates_the_measurement_noise():
    """In NLOS every sigma is nlos_inflation times the LOS one at the same SNR (covariance x 4 by default)."""
    p = SensingParams(pfa_cell=1e-12, rcs_std_db=(0.0, 0.0))
    pos = _ring(1)
    los, nlos = _scan(p, 2, pos, 80.0), _scan(p, 2, pos, 80.0, los=False)
    assert bool(los.los[0]) and not bool(nlos.los[0])
    assert np.trace(nlos.cov_m2[0]) / np.trace(los.cov_m2[0]) == pytest.approx(4.0, rel=0.02)


def test_radial_velocity_is_folded_into_the_unambiguous_interval():
    """SIXG-MODEL.md §3.6: |v| < lambda / (4 T_PRI) = 30 m/s at 4 GHz, 0.625 ms; 40 m/s reads as -20 m/s."""
    p = SensingParams(pfa_cell=1e-12)
    pos = np.array([[300.0, 0.0, 25.0]])
    det = _scan(p, 4, pos, 70.0, vel_mps=np.array([[40.0, 0.0, 0.0]]))
    assert p.v_max_mps == pytest.approx(29.98, abs=0.01)
    assert det.vr_mps[0] == pytest.approx(40.0 - 2 * p.v_max_mps, abs=5 * det.sigma_vr_mps[0])


def test_delivery_time_is_scan_plus_cpi_processing_and_one_transport_per_trp():
    """t_delivery = t + CPI + processing + transport, transport ~ U(2, 10) ms drawn once per TRP and scan."""
    p = SensingParams(pfa_cell=1e-12)
    det = _scan(p, 8, _ring(200), 80.0)
    transport = det.t_delivery_s - (100.0 + p.cpi_s + p.processing_s)
    assert len(det) > 150 and np.ptp(transport) < 1e-12
    assert 0.002 <= transport[0] <= 0.010


# --- false alarms, determinism, parameters ---------------------------------------------------------------


def test_false_alarm_count_is_poisson_pfa_times_cells_inside_coverage():
    """Mean count per TRP and scan = P_fa,cell x cells (995 range x 64 Doppler x 29 x 6 beams by hand);
    every false alarm is flagged, inside its TRP's coverage and delivered like a detection."""
    p = SensingParams()
    assert p.n_cells == 995 * 64 * 29 * 6
    empty = np.zeros(0, np.int64)
    counts, rng = [], np.random.default_rng(21)
    for _ in range(300):
        det = scan(
            p,
            rng,
            t_s=0.0,
            target_pos_m=np.zeros((0, 3)),
            target_vel_mps=np.zeros((0, 3)),
            target_rcs_class=empty,
            trp_pos_m=TRP,
            pair_target=empty,
            pair_trp=empty,
            pl_db=np.zeros(0),
            los=np.zeros(0, bool),
            sf_db=np.zeros(0),
        )
        counts.append(np.bincount(det.trp, minlength=2))
        off = det.pos_m - TRP[det.trp]
        r = np.linalg.norm(off, axis=1)
        el = np.arcsin(off[:, 2] / r)
        assert det.false_alarm.all() and not det.los.any()
        assert ((r >= p.min_range_m) & (r <= p.max_range_m)).all()
        assert ((el >= p.el_min_rad - 1e-9) & (el <= p.el_max_rad + 1e-9)).all()
        assert (det.snr_db > 10 * math.log10(-math.log(p.pfa_cell) - 1) - 1e-9).all()
    counts = np.array(counts)
    want = p.pfa_cell * p.n_cells
    assert counts.mean() == pytest.approx(want, abs=4 * math.sqrt(want / counts.size))
    assert counts.var() == pytest.approx(want, rel=0.15)


def test_same_seed_same_scan_other_seed_other_scan():
    """Determinism: every column identical for one seed; a different seed draws different detections."""
    p = SensingParams()
    pos = _ring(300, r_m=700.0)
    a, b, c = (_scan(p, s, pos, 100.0) for s in (5, 5, 6))
    for f in fields(Detections):
        assert np.array_equal(getattr(a, f.name), getattr(b, f.name)), f.name
    assert len(a) != len(c) or not np.array_equal(a.pos_m, c.pos_m)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"swerling": 2}, "sensing.swerling"),
        ({"pfa_cell": 1.5}, "sensing.pfa_cell"),
        ({"cpi_s": 0}, "sensing.cpi_s"),
    ],
)
def test_bad_parameters_are_refused_with_the_field(change, field):
    with pytest.raises(ScenarioError) as refused:
        SensingParams(**change)
    assert refused.value.field == field


def test_calibration_lands_in_the_nist_reference_ranges():
    """SIXG-MODEL.md §3.7 (NIST UMa-AV, 6 GHz, 8x8): P_d 0.7-0.8 at a 5 % false-alarm rate, p90 errors about
    6 m horizontal and 4 m vertical."""
    cal = calibrate_nist()
    assert 0.7 <= cal.pd <= 0.8
    assert 5.0 <= cal.p90_horizontal_m <= 7.0
    assert 3.0 <= cal.p90_vertical_m <= 5.0


def test_compiled_scan_draws_are_numpys_in_stream_order():
    """The compiled draws of a scan are the numpy Generator calls they stand for, value for value, and leave
    the stream where those calls would (bit-identical runs across the change that compiled them).

    Oracle: the same seed drawn with numpy, call by call in the stream order of :func:`scan`.
    """
    p = SensingParams(pfa_cell=2e-7)
    got, want = np.random.default_rng(3), np.random.default_rng(3)
    kind = np.array([0, 1, 1, 0, 0, 1])
    rcs = _rcs_draws(got, p._rcs, kind)
    noise, transport_s, trp, fa = _scan_draws(
        got, 50, 20, p.transport_s, p.pfa_cell * p.n_cells, _fa_bounds(p)
    )
    bounds = [
        (p.min_range_m, p.max_range_m),
        (-np.pi, np.pi),
        (math.sin(p.el_min_rad), math.sin(p.el_max_rad)),
    ]
    rcs_want = p._rcs[0].take(kind) + p._rcs[1].take(kind) * want.standard_normal(len(kind))
    noise_want = want.standard_normal((4, 50))
    transport_want = want.uniform(*p.transport_s, size=20)
    counts = want.poisson(p.pfa_cell * p.n_cells, size=20)
    n = int(counts.sum())
    fa_want = [want.uniform(lo, hi, n) for lo, hi in bounds]
    fa_want += [want.exponential(size=n), want.uniform(-p.v_max_mps, p.v_max_mps, n)]
    assert n > 0
    assert rcs.tobytes() == rcs_want.tobytes() and noise.tobytes() == noise_want.tobytes()
    assert transport_s.tobytes() == transport_want.tobytes()
    assert trp.tolist() == np.repeat(np.arange(20), counts).tolist()
    assert fa.tobytes() == np.stack(fa_want).tobytes()
    assert got.bit_generator.state == want.bit_generator.state
