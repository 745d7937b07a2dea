"""The message-level 6G link (SIXG-MODEL.md §5) against formulas and a scalar Monte-Carlo written here."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from sim.errors import ScenarioError
from sim.rng import rng_for
from sim.sixg.link import (
    Link,
    LinkParams,
    _message_draws,
    bler,
    harq_residuals,
    link_adaptation,
    sinr_db,
    spectral_efficiency,
    thermal_noise_dbm,
)

LN9 = math.log(9.0)


def _bler(sinr: float, sinr50: float, slope: float) -> float:
    return 1.0 / (1.0 + math.exp(slope * (sinr - sinr50)))


def _se(sinr: float, alpha: float = 0.6, sinr_min: float = -10.0, se_max: float = 4.4) -> float:
    return 0.0 if sinr < sinr_min else min(alpha * math.log2(1 + 10 ** (sinr / 10)), se_max)


# --- PHY abstraction (§5.2) ---------------------------------------------------------------------------


@pytest.mark.parametrize("sinr", [-12.0, -10.0, -3.0, 0.0, 7.5, 22.0, 30.0])
def test_spectral_efficiency_is_the_attenuated_shannon_curve(sinr):
    """TR 36.942 A.1: 0 below -10 dB, 0.6 log2(1 + SINR) above, capped at 4.4 b/s/Hz."""
    assert spectral_efficiency(sinr) == pytest.approx(_se(sinr), rel=1e-12, abs=1e-15)


def test_spectral_efficiency_anchor_values():
    se = spectral_efficiency([-10.0001, 0.0, 10 * math.log10(3.0), 40.0])
    assert se.tolist() == pytest.approx([0.0, 0.6, 1.2, 4.4], rel=1e-12)


@pytest.mark.parametrize(("sinr", "sinr50", "slope"), [(0.0, 0.0, 1.5), (3.0, -1.0, 1.5), (-8.0, -2.0, 1.0)])
def test_bler_is_the_logistic_curve(sinr, sinr50, slope):
    assert float(bler(sinr, sinr50, slope)) == pytest.approx(_bler(sinr, sinr50, slope), rel=1e-12)


@pytest.mark.parametrize("sinr_est", [-9.0, 0.0, 12.0, 21.0])
def test_link_adaptation_puts_the_first_transmission_at_the_target_bler(sinr_est):
    """§5.2: the MCS makes BLER_1 = 10 % at the estimated SINR: SINR50 = SINR_est - ln(9)/s."""
    se, sinr50 = link_adaptation(sinr_est, LinkParams())
    assert float(sinr50) == pytest.approx(sinr_est - LN9 / 1.5, rel=1e-12)
    assert float(bler(sinr_est, sinr50, 1.5)) == pytest.approx(0.10, rel=1e-12)
    assert float(se) == pytest.approx(_se(sinr_est), rel=1e-12)


def test_link_adaptation_stays_inside_the_mcs_table():
    """Below -10 dB the lowest MCS, above the 4.4 b/s/Hz point the highest."""
    top_db = 10 * math.log10(2 ** (4.4 / 0.6) - 1)
    se, sinr50 = link_adaptation([-25.0, -10.0, top_db, 45.0], LinkParams())
    assert sinr50.tolist() == pytest.approx([-10 - LN9 / 1.5] * 2 + [top_db - LN9 / 1.5] * 2, rel=1e-12)
    assert se.tolist() == pytest.approx([0.6 * math.log2(1.1)] * 2 + [4.4] * 2, rel=1e-12)


@pytest.mark.parametrize(
    ("sinr", "sinr50", "slope", "max_tx"),
    [(0.0, -LN9 / 1.5, 1.5, 4), (-12.0, -11.4, 1.5, 4), (3.0, 5.0, 1.0, 6), (-20.0, -8.0, 2.0, 3)],
)
def test_harq_residuals_are_the_closed_form_products(sinr, sinr50, slope, max_tx):
    """§5.2 chase combining: P(fail after k) = prod_{j<=k} BLER(SINR + 10 log10 j)."""
    expected, product = [], 1.0
    for k in range(1, max_tx + 1):
        product *= _bler(sinr + 10 * math.log10(k), sinr50, slope)
        expected.append(product)
    got = harq_residuals(np.full(3, sinr), sinr50, slope, max_tx)
    assert got.shape == (max_tx, 3)
    for column in got.T:
        assert column.tolist() == pytest.approx(expected, rel=1e-12)


def test_harq_residual_after_two_transmissions_is_the_documented_value():
    """SIXG-MODEL.md §5.2 (L4.2): exact link adaptation, 10 % first try -> 1.2e-4 after two tries."""
    residual = harq_residuals(5.0, 5.0 - LN9 / 1.5, 1.5, 2)
    assert residual[0] == pytest.approx(0.1, rel=1e-12)
    assert residual[1] == pytest.approx(1.2e-4, rel=0.02)


def test_csi_error_raises_the_first_transmission_bler_as_documented():
    """§5.2 (L9, L10): 2 dB CSI error -> mean BLER_1 26 %; SINR ~ N(5, 3) dB -> residual after 4 ~ 3e-4.

    Oracle: Gauss-Hermite quadrature of the closed forms over the error (and the SINR).
    """
    x, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    sinr, err = 5.0 + 3.0 * x[:, None], 2.0 * x[None, :]
    _, sinr50 = link_adaptation(sinr + err, LinkParams())
    residual = harq_residuals(sinr, sinr50, 1.5, 4)
    weights = w[:, None] * w[None, :]
    assert float((residual[0] * weights).sum()) == pytest.approx(0.26, abs=0.005)
    assert 2e-4 < float((residual[3] * weights).sum()) < 3.5e-4


def test_delivered_fraction_matches_the_closed_form_residual():
    """The per-message HARQ draw reproduces P(lost) = residual after harq_max_tx (4 sigma)."""
    n, sinr = 200_000, -17.0
    params = LinkParams(csi_error_std_db=0.0)
    _, sinr50 = link_adaptation(sinr, params)
    lost = float(harq_residuals(sinr, sinr50, 1.5, 4)[-1])
    ok, _ = Link(params).uplink(0.0, np.arange(n), np.full(n, sinr), np.random.default_rng(5))
    assert 0.01 < lost < 0.5
    assert abs((1 - ok.mean()) - lost) < 4 * math.sqrt(lost * (1 - lost) / n)


# --- SINR (§5.2) -------------------------------------------------------------------------------------


def test_downlink_sinr_counts_the_other_sites_as_interference():
    rx = np.array([[-85.0, -80.0, -95.0], [-70.0, -70.0, -120.0]])
    serving, sinr = sinr_db(rx, -95.0, 1.0)
    mw = 10 ** (rx / 10)
    noise_mw = 10 ** ((-95.0 + 1.0) / 10)
    expected = [10 * math.log10(mw[0, 1] / (noise_mw + mw[0, 0] + mw[0, 2]))]
    expected.append(10 * math.log10(mw[1, 0] / (noise_mw + mw[1, 1] + mw[1, 2])))
    assert serving.tolist() == [1, 0]  # ties go to the first site
    assert sinr.tolist() == pytest.approx(expected, rel=1e-12)


def test_link_sinr_helpers_use_the_tx_powers_noise_and_iot():
    p = LinkParams()
    loss = np.array([[120.0, 110.0, 125.0]])
    ul_noise = -174 + 10 * math.log10(25 * 12 * 30e3) + 5.0
    dl_noise = -174 + 10 * math.log10(100e6) + 9.0
    assert p.ul_noise_dbm == pytest.approx(ul_noise)
    assert float(thermal_noise_dbm(100e6, 9.0)) == pytest.approx(dl_noise)
    serving, ul = Link(p).uplink_sinr_db(loss)
    assert serving.tolist() == [1]
    assert ul[0] == pytest.approx(
        23.0 - 110.0 - ul_noise - 3.0, rel=1e-12
    )  # UE's own signal: no interference
    _, dl = Link(p).downlink_sinr_db(loss)
    i_mw = 10 ** ((53.0 - 120.0) / 10) + 10 ** ((53.0 - 125.0) / 10)
    assert dl[0] == pytest.approx(53.0 - 110.0 - 10 * math.log10(10 ** (dl_noise / 10) + i_mw), rel=1e-12)


# --- NR timing (§5.3) --------------------------------------------------------------------------------


def _reference(params: LinkParams, direction: str, sinr: float, n: int, seed: int) -> np.ndarray:
    """Scalar Monte Carlo: walk the slot grid message by message; NaN = lost."""
    rng = np.random.default_rng(seed)
    p = params
    slot_s = 1e-3 / (p.scs_khz / 15)
    pattern, kind = p.tdd_pattern, ("U" if direction == "uplink" else "D")
    period_s = len(pattern) * slot_s
    top_db = 10 * math.log10(2 ** (p.se_max_bps_hz / p.se_alpha) - 1)
    payload_bits = 8 * (p.report_bytes if direction == "uplink" else p.advisory_bytes)
    target, slope = p.bler_target_first_tx, p.bler_slope_per_db

    def next_slot(j: int) -> int:  # first slot of the direction at or after absolute slot j
        while pattern[j % len(pattern)] != kind:
            j += 1
        return j

    phases_s = rng.uniform(0.0, period_s, n).tolist()
    errors_db = rng.normal(0.0, p.csi_error_std_db, n).tolist()
    tries_u = rng.random((n, p.harq_max_tx)).tolist()
    transports_s = rng.uniform(*p.transport_s, n).tolist()
    out = np.full(n, np.nan)
    for i in range(n):
        phase_s = phases_s[i]
        est = min(max(sinr + errors_db[i], p.sinr_min_db), top_db)
        sinr50 = est - math.log((1 - target) / target) / slope
        bits_per_slot = _se(est, p.se_alpha, p.sinr_min_db, p.se_max_bps_hz) * 168 * (1 - p.overhead)
        n_slots = math.ceil(payload_bits / (bits_per_slot * p.prb_per_message))
        tries = 0
        for k in range(1, p.harq_max_tx + 1):
            tries = k
            if tries_u[i][k - 1] >= _bler(sinr + 10 * math.log10(k), sinr50, slope):
                break
        else:
            continue
        j = next_slot(math.floor(phase_s / slot_s) + 1)
        if direction == "uplink" and p.grant == "dynamic":
            j += p.sr_grant_periods * len(pattern)  # SR, grant, PUSCH in the same slot k periods on
        for attempt in range(tries):
            if attempt:
                j += p.harq_rtt_periods * len(pattern)
            for _ in range(n_slots - 1):
                j = next_slot(j + 1)
        out[i] = (j + 1 + p.decode_slots) * slot_s - phase_s + transports_s[i]
    return out


TIMING_CASES = [
    ("uplink", {"grant": "dynamic"}, 0.0),
    ("uplink", {"grant": "configured"}, 0.0),
    ("downlink", {}, 0.0),
    ("uplink", {"grant": "dynamic"}, -16.0),  # many retransmissions, three-slot transport blocks
    ("downlink", {}, -16.0),
    ("uplink", {"grant": "configured", "tdd_pattern": "DDSUU", "scs_khz": 15, "harq_rtt_periods": 1}, 3.0),
    ("downlink", {"tdd_pattern": "DSUUD", "scs_khz": 60, "prb_per_message": 8, "decode_slots": 2}, -4.0),
]


@pytest.mark.parametrize(("direction", "overrides", "sinr"), TIMING_CASES)
def test_latency_distribution_matches_a_scalar_monte_carlo(direction, overrides, sinr):
    """§5.3: alignment + SR/grant + slots on air + decode + HARQ round trips + transport, within 2 %."""
    params = LinkParams(**overrides)
    reference = _reference(params, direction, sinr, 40_000, seed=11)
    n = 400_000
    send = getattr(Link(params), direction)
    ok, latency_s = send(0.0, np.arange(n), np.full(n, sinr), np.random.default_rng(12))
    assert np.array_equal(ok, ~np.isnan(latency_s))
    ref, got = reference[~np.isnan(reference)], latency_s[ok]
    assert got.mean() == pytest.approx(ref.mean(), rel=0.02)
    for q in (10, 50, 90, 99):
        assert np.percentile(got, q) == pytest.approx(np.percentile(ref, q), rel=0.02), f"p{q}"


def test_ul_opportunity_every_2_5_ms_and_dynamic_grant_adds_two_periods():
    """§5.3: DDDSU at 30 kHz -> wait U(0, 2.5 ms] for the UL slot; SR -> grant -> PUSCH adds 2 x 2.5 ms."""
    base = {"csi_error_std_db": 0.0, "transport_s": (0.0, 0.0)}
    n, sinr = 50_000, np.full(50_000, 40.0)  # far above the top MCS: one transmission
    _, configured = Link(LinkParams(grant="configured", **base)).uplink(
        0.0, np.arange(n), sinr, rng_for(1, "l")
    )
    _, dynamic = Link(LinkParams(grant="dynamic", **base)).uplink(0.0, np.arange(n), sinr, rng_for(1, "l"))
    wait_s = configured - 2 * 0.0005  # one slot on air, one to decode
    assert wait_s.min() > 0 and wait_s.max() <= 0.0025 + 1e-12
    assert wait_s.mean() == pytest.approx(0.00125, rel=0.01)
    assert dynamic - configured == pytest.approx(np.full(n, 0.005), abs=1e-12)


def test_report_latency_matches_the_documented_monte_carlo():
    """§5.3: SINR ~ N(5, 3) dB, defaults: dynamic 14.7 ms mean / 24.5 ms p99; configured 9.7 / 19.5 ms."""
    n = 400_000
    sinr = np.random.default_rng(3).normal(5.0, 3.0, n)
    for grant, mean_ms, p99_ms in (("dynamic", 14.7, 24.5), ("configured", 9.7, 19.5)):
        ok, latency_s = Link(LinkParams(grant=grant)).uplink(
            0.0, np.arange(n), sinr, np.random.default_rng(4)
        )
        assert 1e3 * latency_s[ok].mean() == pytest.approx(mean_ms, abs=0.1)
        assert 1e3 * np.percentile(latency_s[ok], 99) == pytest.approx(p99_ms, abs=0.2)


# --- monotonicity, RLF, determinism --------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["uplink", "downlink"])
def test_higher_sinr_never_loses_more_or_arrives_later(direction):
    """Same draws at each SINR: the delivered set grows and each latency shrinks as the SINR rises."""
    n = 20_000
    grid = np.arange(-26.0, 32.0, 2.0)
    runs = [
        getattr(Link(), direction)(0.0, np.arange(n), np.full(n, s), np.random.default_rng(8)) for s in grid
    ]
    losses = [1 - ok.mean() for ok, _ in runs]
    assert losses[0] > 0.9 and losses[-1] == 0.0 and losses[0] > losses[10] > losses[-1]
    for (ok_lo, lat_lo), (ok_hi, lat_hi) in itertools.pairwise(runs):
        assert not (ok_lo & ~ok_hi).any()
        assert (lat_hi[ok_lo] <= lat_lo[ok_lo] + 1e-12).all()


def _exact(**overrides) -> Link:
    """No CSI error: at -10 dB and above the residual after 4 tries is < 1e-12, so only RLF loses."""
    return Link(LinkParams(csi_error_std_db=0.0, **overrides))


def test_rlf_entered_after_t310_and_left_after_reestablishment():
    """§5.3: SINR < -6 dB for T310 (1 s) -> messages lost until back above and re-established (0.5 s)."""
    link, rng, ids = _exact(), np.random.default_rng(0), np.array([7, 8])
    timeline = [(0.0, -10.0, True), (0.5, -10.0, True), (1.0, -10.0, False), (1.5, -10.0, False)]
    timeline += [(2.0, 10.0, False), (2.5, 10.0, True), (3.0, 10.0, True)]
    for t_s, sinr, delivered in timeline:
        ok, latency_s = link.uplink(t_s, ids, np.array([sinr, 10.0]), rng)
        assert ok.tolist() == [delivered, True], t_s
        assert np.isnan(latency_s[0]) != delivered
        assert link.in_outage(t_s, [7, 8, 99]).tolist() == [not delivered, False, False]
        if t_s == 2.0:
            assert link.in_outage(2.499, [7]).tolist() == [True]
            assert link.in_outage(2.5, [7]).tolist() == [False]
    link.downlink(3.0, [7], [-10.0], rng)
    assert link.in_outage(3.0, [7]).tolist() == [False]


def test_a_dip_shorter_than_t310_keeps_the_link():
    link, rng = _exact(), np.random.default_rng(0)
    for t_s, sinr in [(0.0, -10.0), (0.6, -10.0), (0.9, 0.0), (1.0, -10.0), (1.9, -10.0)]:
        assert link.uplink(t_s, [1], [sinr], rng)[0].tolist() == [True], t_s


def test_rlf_state_is_shared_by_both_directions_and_reestablishment_can_fail():
    link, rng = _exact(t310_s=0.4, reestablish_s=1.0), np.random.default_rng(0)
    link.uplink(0.0, [3], [-20.0], rng)
    assert link.downlink(0.5, [3], [-8.0], rng)[0].tolist() == [False]  # RLF declared by the downlink sample
    assert link.in_outage(0.5, [3]).tolist() == [True]
    assert link.downlink(1.0, [3], [0.0], rng)[0].tolist() == [False]  # re-establishing until 2.0 s
    assert link.uplink(1.5, [3], [-7.0], rng)[0].tolist() == [False]  # fails: back in RLF
    assert link.in_outage(2.5, [3]).tolist() == [True]
    assert link.uplink(3.0, [3], [5.0], rng)[0].tolist() == [False]
    assert link.uplink(4.0, [3], [5.0], rng)[0].tolist() == [True]


def test_a_vehicle_twice_in_a_batch_is_judged_by_its_worst_sample():
    link, rng = _exact(t310_s=0.0), np.random.default_rng(0)
    ok, _ = link.uplink(0.0, np.array([5, 6, 5]), np.array([20.0, 20.0, -9.0]), rng)
    assert ok.tolist() == [False, True, False]


def test_same_seed_same_results_and_other_seed_other_results():
    def run(seed: int) -> list[np.ndarray]:
        link, rng = Link(), rng_for(seed, "sixg.link")
        sinr_rng = np.random.default_rng(99)
        out = []
        for t_s in np.arange(0.0, 5.0, 0.5):
            ids = np.arange(0, 3000, 3)
            out += link.uplink(float(t_s), ids, sinr_rng.normal(-4.0, 6.0, len(ids)), rng)
            out += link.downlink(float(t_s), ids[::7], sinr_rng.normal(-4.0, 6.0, len(ids[::7])), rng)
        return out

    a, b, c = run(1), run(1), run(2)
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, c, strict=True))


# --- rejected input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"scs_khz": 45}, "scs_khz"),
        ({"tdd_pattern": "DDDSX"}, "tdd_pattern"),
        ({"tdd_pattern": "DDDS"}, "tdd_pattern"),
        ({"grant": "semi"}, "grant"),
        ({"harq_max_tx": 0}, "harq_max_tx"),
        ({"harq_max_tx": 2.5}, "harq_max_tx"),
        ({"bler_target_first_tx": 1.0}, "bler_target_first_tx"),
        ({"bler_slope_per_db": 0.0}, "bler_slope_per_db"),
        ({"csi_error_std_db": -1.0}, "csi_error_std_db"),
        ({"transport_s": (0.01, 0.002)}, "transport_s"),
        ({"transport_s": (0.0, math.inf)}, "transport_s"),
        ({"prb_per_message": 300}, "prb_per_message"),
        ({"dl_load": 1.5}, "dl_load"),
        ({"t310_s": math.nan}, "t310_s"),
        ({"se_max_bps_hz": 0.05}, "se_max_bps_hz"),
        ({"ue_tx_dbm": "23"}, "ue_tx_dbm"),
    ],
)
def test_bad_parameters_are_rejected_naming_the_field(overrides, field):
    with pytest.raises(ScenarioError) as err:
        LinkParams(**overrides)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("t_s", "ids", "sinr", "field"),
    [
        (0.5, [1], [0.0], "t_s"),
        (2.0, [1, 2], [0.0], "sinr_db"),
        (2.0, [-1], [0.0], "vehicle_ids"),
        (2.0, [1.5], [0.0], "vehicle_ids"),
        (2.0, [1], [math.nan], "sinr_db"),
    ],
)
def test_bad_batches_are_rejected_naming_the_argument(t_s, ids, sinr, field):
    link = Link()
    link.uplink(1.0, [1], [0.0], np.random.default_rng(0))
    with pytest.raises(ValueError, match=f"^{field}: "):
        link.uplink(t_s, ids, sinr, np.random.default_rng(0))


def test_an_empty_batch_gives_empty_results():
    ok, latency_s = Link().uplink(0.0, [], [], np.random.default_rng(0))
    assert ok.shape == latency_s.shape == (0,)


def test_compiled_message_draws_are_numpys_in_stream_order():
    """A batch's compiled draws are the numpy Generator calls they stand for, value for value, and leave the
    stream where those calls would (bit-identical runs across the change that compiled them).

    Oracle: the same seed drawn with numpy: phases, CSI errors, HARQ uniforms, transport delays, each whole.
    """
    got, want = np.random.default_rng(5), np.random.default_rng(5)
    sinr = np.linspace(-12.0, 30.0, 40)
    phase_s, sinr_est, u_harq, delay_s = _message_draws(got, sinr, 0.0025, 2.0, (0.002, 0.010))
    expected = (
        want.random(40) * 0.0025,
        sinr + 2.0 * want.standard_normal(40),
        want.random(40),
        0.002 + (0.010 - 0.002) * want.random(40),
    )
    for value, oracle in zip((phase_s, sinr_est, u_harq, delay_s), expected, strict=True):
        assert value.tobytes() == oracle.tobytes()
    assert got.bit_generator.state == want.bit_generator.state
