"""The A2G channel (sim.sixg.channel) against SIXG-MODEL.md §9 and an independent scalar transcription of §2.

The oracle below is written from the design text again, branch by branch with ``math``, not from the
vectorized code; every height band and band boundary, LOS and NLOS, all three scenarios.
"""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import numpy as np
import pytest

from sim.rng import rng_for
from sim.sixg.channel import (
    BS_HEIGHT_M,
    SCENARIOS,
    LargeScale,
    extrapolated,
    p_los,
    path_loss_db,
    sigma_sf_db,
)

C_MPS = 299_792_458.0
H_BS = {"UMa-AV": 25.0, "UMi-AV": 10.0, "RMa-AV": 35.0}


# ---------------------------------------------------------------------------------------------------
# Scalar oracle (SIXG-MODEL.md §2.2-2.4)
# ---------------------------------------------------------------------------------------------------


def _clamp_h(h: float) -> float:
    return min(max(h, 1.5), 300.0)


def _two_term(d: float, d1: float, p1: float) -> float:
    if d <= d1:
        return 1.0
    return d1 / d + math.exp(-d / p1) * (1.0 - d1 / d)


def ref_p_los(scn: str, d: float, h: float) -> float:
    h = _clamp_h(h)
    lh = math.log10(h)
    if scn == "UMa-AV":
        if h <= 22.5:
            if d <= 18.0:
                return 1.0
            c_prime = 0.0 if h <= 13.0 else ((h - 13.0) / 10.0) ** 1.5
            base = 18.0 / d + math.exp(-d / 63.0) * (1.0 - 18.0 / d)
            return base * (1.0 + c_prime * 5.0 / 4.0 * (d / 100.0) ** 3 * math.exp(-d / 150.0))
        if h <= 100.0:
            return _two_term(d, max(460.0 * lh - 700.0, 18.0), 4300.0 * lh - 3800.0)
        return 1.0
    if scn == "UMi-AV":
        if h <= 22.5:
            return 1.0 if d <= 18.0 else 18.0 / d + math.exp(-d / 36.0) * (1.0 - 18.0 / d)
        return _two_term(d, max(294.05 * lh - 432.94, 18.0), 233.98 * lh - 0.95)
    if h <= 10.0:
        return 1.0 if d <= 10.0 else math.exp(-(d - 10.0) / 1000.0)
    if h <= 40.0:
        return _two_term(d, max(1350.8 * lh - 1602.0, 18.0), max(15021.0 * lh - 16053.0, 1000.0))
    return 1.0


def _fspl(d3d: float, fc: float) -> float:
    return 20.0 * math.log10(4.0 * math.pi * d3d * fc * 1e9 / C_MPS)


def _one_metre_loss(fc: float) -> float:
    """20 log10(40 pi fc / 3): the free-space loss at 1 m with c = 3e8 (Table B-2's RMa/UMa-AV term)."""
    return 20.0 * math.log10(4.0 * math.pi * 1.0 * fc * 1e9 / 3.0e8)


def _uma_terrestrial(los: bool, d2d: float, d3d: float, h: float, fc: float, h_bs: float) -> float:
    d_bp = 4.0 * (h_bs - 1.0) * (h - 1.0) * fc * 1e9 / 3.0e8
    if d2d <= d_bp:
        pl_los = 28.0 + 22.0 * math.log10(d3d) + 20.0 * math.log10(fc)
    else:
        pl_los = (
            28.0
            + 40.0 * math.log10(d3d)
            + 20.0 * math.log10(fc)
            - 9.0 * math.log10(d_bp**2 + (h_bs - h) ** 2)
        )
    if los:
        return pl_los
    nlos = 13.54 + 39.08 * math.log10(d3d) + 20.0 * math.log10(fc) - 0.6 * (h - 1.5)
    return max(pl_los, nlos)


def _umi_terrestrial(los: bool, d2d: float, d3d: float, h: float, fc: float, h_bs: float) -> float:
    d_bp = 4.0 * (h_bs - 1.0) * (h - 1.0) * fc * 1e9 / 3.0e8
    if d2d <= d_bp:
        pl_los = 32.4 + 21.0 * math.log10(d3d) + 20.0 * math.log10(fc)
    else:
        pl_los = (
            32.4
            + 40.0 * math.log10(d3d)
            + 20.0 * math.log10(fc)
            - 9.5 * math.log10(d_bp**2 + (h_bs - h) ** 2)
        )
    if los:
        return pl_los
    return max(pl_los, 35.3 * math.log10(d3d) + 22.4 + 21.3 * math.log10(fc) - 0.3 * (h - 1.5))


def _rma_los_pl1(d: float, fc: float) -> float:
    hb = 5.0
    return (
        20.0 * math.log10(40.0 * math.pi * d * fc / 3.0)
        + min(0.03 * hb**1.72, 10.0) * math.log10(d)
        - min(0.044 * hb**1.72, 14.77)
        + 0.002 * math.log10(hb) * d
    )


def _rma_terrestrial(los: bool, d2d: float, d3d: float, h: float, fc: float, h_bs: float) -> float:
    d_bp = 2.0 * math.pi * h_bs * h * fc * 1e9 / 3.0e8
    beyond = 40.0 * math.log10(d3d / d_bp)
    pl_los = _rma_los_pl1(d3d, fc) if d2d <= d_bp else _rma_los_pl1(d_bp, fc) + beyond
    if los:
        return pl_los
    hb, w = 5.0, 20.0
    nlos = (
        161.04
        - 7.1 * math.log10(w)
        + 7.5 * math.log10(hb)
        - (24.37 - 3.7 * (hb / h_bs) ** 2) * math.log10(h_bs)
        + (43.42 - 3.1 * math.log10(h_bs)) * (math.log10(d3d) - 3.0)
        + 20.0 * math.log10(fc)
        - (3.2 * (math.log10(11.75 * h)) ** 2 - 4.97)
    )
    return max(pl_los, nlos)


def ref_path_loss(scn: str, los: bool, d2d: float, d3d: float, h: float, fc: float) -> float:
    h, d3d, h_bs = _clamp_h(h), max(d3d, 1.0), H_BS[scn]
    lh, ld = math.log10(h), math.log10(d3d)
    if scn == "UMa-AV":
        if h <= 22.5:
            return _uma_terrestrial(los, d2d, d3d, h, fc, h_bs)
        if los:
            return 28.0 + 22.0 * ld + 20.0 * math.log10(fc)
        return -17.5 + (46.0 - 7.0 * lh) * ld + _one_metre_loss(fc)
    if scn == "UMi-AV":
        if h <= 22.5:
            return _umi_terrestrial(los, d2d, d3d, h, fc, h_bs)
        pl_los = max(_fspl(d3d, fc), 30.9 + (22.25 - 0.5 * lh) * ld + 20.0 * math.log10(fc))
        if los:
            return pl_los
        return max(pl_los, 32.4 + (43.2 - 7.6 * lh) * ld + 20.0 * math.log10(fc))
    if h <= 10.0:
        return _rma_terrestrial(los, d2d, d3d, h, fc, h_bs)
    pl_los = max(23.9 - 1.8 * lh, 20.0) * ld + _one_metre_loss(fc)
    if los:
        return pl_los
    return max(pl_los, -12.0 + (35.0 - 5.3 * lh) * ld + _one_metre_loss(fc))


def ref_sigma(scn: str, los: bool, h: float, d2d: float, fc: float) -> float:
    h = _clamp_h(h)
    if scn == "UMa-AV":
        if h <= 22.5:
            return 4.0 if los else 6.0
        return 4.64 * math.exp(-0.0066 * h) if los else 6.0
    if scn == "UMi-AV":
        if h <= 22.5:
            return 4.0 if los else 7.82
        return max(5.0 * math.exp(-0.01 * h), 2.0) if los else 8.0
    if h <= 10.0:
        if not los:
            return 8.0
        return 4.0 if d2d <= 2.0 * math.pi * 35.0 * h * fc * 1e9 / 3.0e8 else 6.0
    return 4.2 * math.exp(-0.0046 * h) if los else 6.0


EPS = 1e-6
HEIGHTS_M = {
    "UMa-AV": [
        0.5,
        1.5,
        5.0,
        13.0,
        17.0,
        22.5,
        22.5 + EPS,
        23.0,
        60.0,
        100.0,
        100.0 + EPS,
        200.0,
        300.0,
        350.0,
    ],
    "UMi-AV": [0.5, 1.5, 8.0, 10.0, 22.5, 22.5 + EPS, 40.0, 100.0, 100.0 + EPS, 250.0, 300.0, 350.0],
    "RMa-AV": [0.5, 1.5, 5.0, 10.0, 10.0 + EPS, 25.0, 40.0, 40.0 + EPS, 120.0, 300.0, 350.0],
}
D2D_M = [0.0, 5.0, 10.0, 18.0, 18.5, 35.0, 90.0, 300.0, 750.0, 1500.0, 2600.0, 3900.0, 8000.0]
FC_GHZ = [0.7, 2.0, 3.5, 28.0]


def _grid(scn: str):
    """Every (h, d2d, fc) combination as flat arrays, with d3d from the scenario's BS height."""
    h, d2d, fc = (np.array(v) for v in zip(*itertools.product(HEIGHTS_M[scn], D2D_M, FC_GHZ), strict=True))
    return h, d2d, np.hypot(d2d, h - H_BS[scn]), fc


# ---------------------------------------------------------------------------------------------------
# Deterministic formulas
# ---------------------------------------------------------------------------------------------------


def test_reference_values_of_sixg_model_section_9():
    """SIXG-MODEL.md §9 C1, C4, C9."""
    assert p_los("UMa-AV", 200.0, 50.0) == pytest.approx(0.96715, rel=1e-4)
    assert p_los("UMi-AV", 1000.0, 300.0) == pytest.approx(0.420591, rel=1e-4)
    assert path_loss_db("UMa-AV", True, 1000.0, 1000.0, 100.0, 3.5) == pytest.approx(104.881, rel=1e-4)


@pytest.mark.parametrize("scn", SCENARIOS)
def test_p_los_matches_the_scalar_oracle_in_every_band(scn):
    h, d2d, _, _ = _grid(scn)
    expected = [ref_p_los(scn, d, hh) for d, hh in zip(d2d, h, strict=True)]
    np.testing.assert_allclose(p_los(scn, d2d, h), expected, rtol=1e-4, atol=1e-12)


@pytest.mark.parametrize("scn", SCENARIOS)
@pytest.mark.parametrize("los", [True, False])
def test_path_loss_matches_the_scalar_oracle_in_every_band(scn, los):
    h, d2d, d3d, fc = _grid(scn)
    expected = [ref_path_loss(scn, los, *args) for args in zip(d2d, d3d, h, fc, strict=True)]
    np.testing.assert_allclose(path_loss_db(scn, los, d2d, d3d, h, fc), expected, rtol=1e-4)


@pytest.mark.parametrize("scn", SCENARIOS)
@pytest.mark.parametrize("los", [True, False])
def test_sigma_sf_matches_the_scalar_oracle_in_every_band(scn, los):
    h, d2d, _, fc = _grid(scn)
    expected = [ref_sigma(scn, los, hh, d, f) for hh, d, f in zip(h, d2d, fc, strict=True)]
    np.testing.assert_allclose(sigma_sf_db(scn, los, h, d2d_m=d2d, fc_ghz=fc), expected, rtol=1e-4)


def test_band_edges_switch_formula_exactly_at_the_documented_heights():
    """§2.5: h <= 22.5 is terrestrial (UMa/UMi), h <= 10 (RMa); P_LOS = 1 above 100 m (UMa), 40 m (RMa)."""
    d = 1500.0
    assert p_los("UMa-AV", d, 22.5) == pytest.approx(ref_p_los("UMa-AV", d, 22.5), rel=1e-12)
    assert p_los("UMa-AV", d, 22.5) != pytest.approx(p_los("UMa-AV", d, 22.5 + EPS), rel=1e-3)
    assert p_los("UMa-AV", d, 100.0) < 1.0 and p_los("UMa-AV", d, 100.0 + EPS) == 1.0
    assert p_los("RMa-AV", 5000.0, 40.0) < 1.0 and p_los("RMa-AV", 5000.0, 40.0 + EPS) == 1.0
    assert sigma_sf_db("UMi-AV", False, 22.5) == 7.82 and sigma_sf_db("UMi-AV", False, 22.5 + EPS) == 8.0
    assert sigma_sf_db("RMa-AV", False, 10.0) == 8.0 and sigma_sf_db("RMa-AV", False, 10.0 + EPS) == 6.0


def test_umi_av_never_saturates_to_line_of_sight():
    """§2.5 pitfall: UMi-AV keeps the aerial form up to 300 m (third-party code clamps it to 1)."""
    h = np.array([101.0, 150.0, 200.0, 300.0])
    assert (p_los("UMi-AV", 1000.0, h) < 0.75).all()


def test_documented_third_party_pitfalls_are_avoided():
    """§2.5: RMa /1000 (not /100), RMa-AV NLOS with 40 pi (not 4 pi), FSPL 32.45 dB at 1 m and 1 GHz."""
    assert p_los("RMa-AV", 510.0, 5.0) == pytest.approx(math.exp(-0.5), rel=1e-12)
    h, d3d, fc = 30.0, 2000.0, 0.7
    nlos = (
        -12.0 + (35.0 - 5.3 * math.log10(h)) * math.log10(d3d) + 20.0 * math.log10(40.0 * math.pi * fc / 3.0)
    )
    assert path_loss_db("RMa-AV", False, 1999.0, d3d, h, fc) == pytest.approx(nlos, rel=1e-9)
    # UMi-AV LOS at short range is floored by free space: 32.45 + 20 log10(fc) + 20 log10(d).
    fspl = 32.45 + 20.0 * math.log10(2.0) + 20.0 * math.log10(30.0)
    assert path_loss_db("UMi-AV", True, 20.0, 30.0, 290.0, 2.0) == pytest.approx(fspl, abs=0.005)


def test_uma_av_nlos_has_no_max_with_los():
    """TR 36.777 Table B-2 gives UMa-AV NLOS without max(., LOS): at short range it can be below LOS."""
    d3d = math.hypot(3.0, 30.0 - 25.0)  # just above the mast
    los = path_loss_db("UMa-AV", True, 3.0, d3d, 30.0, 2.0)
    nlos = path_loss_db("UMa-AV", False, 3.0, d3d, 30.0, 2.0)
    assert nlos == pytest.approx(ref_path_loss("UMa-AV", False, 3.0, d3d, 30.0, 2.0), rel=1e-12)
    assert nlos < los


def test_arrays_broadcast_and_scalars_stay_scalar():
    d2d = np.array([50.0, 500.0, 2000.0])
    h = np.array([[10.0], [50.0]])
    assert p_los("UMa-AV", d2d, h).shape == (2, 3)
    assert path_loss_db("RMa-AV", [[True], [False]], d2d, d2d + 1.0, 60.0, 0.7).shape == (2, 3)
    assert sigma_sf_db("UMi-AV", [True, False], h).shape == (2, 2)
    assert np.ndim(p_los("UMi-AV", 100.0, 50.0)) == 0
    assert np.ndim(path_loss_db("UMi-AV", True, 100.0, 110.0, 50.0, 3.5)) == 0


def test_heights_are_clamped_and_extrapolation_is_flagged():
    assert p_los("UMa-AV", 300.0, 0.2) == p_los("UMa-AV", 300.0, 1.5)
    assert path_loss_db("UMi-AV", False, 300.0, 320.0, 500.0, 2.0) == path_loss_db(
        "UMi-AV", False, 300.0, 320.0, 300.0, 2.0
    )
    flags = extrapolated(
        "UMi-AV", [100.0, 4001.0, 100.0, 100.0, 5.0, 5.0], [50.0, 50.0, 1.0, 301.0, 10.0, 30.0]
    )
    assert flags.tolist() == [False, True, True, True, True, False]
    assert not extrapolated("RMa-AV", 9000.0, 100.0) and extrapolated("RMa-AV", 10001.0, 100.0)


def test_zero_distance_gives_finite_loss():
    """A UE at the antenna (d3d -> 0) is evaluated at the 1 m reference distance, never log10(0)."""
    assert np.isfinite(path_loss_db("UMa-AV", True, 0.0, 0.0, 25.0, 3.5))


@pytest.mark.parametrize(
    "call",
    [
        lambda: p_los("UMa", 100.0, 50.0),
        lambda: path_loss_db("uma-av", True, 1.0, 1.0, 1.0, 1.0),
        lambda: sigma_sf_db("SMa-AV", True, 50.0),
        lambda: extrapolated("InH", 1.0, 1.0),
        lambda: LargeScale("UMa", [[0.0, 0.0]], rng_for(0, "x"), fc_ghz=2.0),
    ],
)
def test_an_unknown_scenario_is_refused_with_its_name_and_the_valid_ones(call):
    with pytest.raises(ValueError, match=r"scenario: unknown channel scenario .*UMa-AV, UMi-AV, RMa-AV"):
        call()


def test_bs_heights_are_table_b1_note_1():
    assert BS_HEIGHT_M == H_BS


# ---------------------------------------------------------------------------------------------------
# LargeScale: spatially consistent LOS state and shadow fading
# ---------------------------------------------------------------------------------------------------


def _line_tracks(n: int, step_m: float, steps: int, h_m: float, rng: np.random.Generator) -> np.ndarray:
    """(steps, n, 3) straight tracks in random directions, starting about 1 km from the origin site."""
    start = np.column_stack([rng.uniform(-1200.0, 1200.0, (n, 2)), np.full(n, h_m)])
    heading = rng.uniform(0.0, 2.0 * np.pi, n)
    unit = np.column_stack([np.cos(heading), np.sin(heading), np.zeros(n)])
    return start[None] + step_m * np.arange(steps)[:, None, None] * unit[None]


def _run(ls: LargeScale, tracks: np.ndarray, site: int = 0):
    n = tracks.shape[1]
    ids, sites = np.arange(n), np.full((n, 1), site)
    out = [ls.draw(ids, pos, sites) for pos in tracks]
    return np.array([o[0][:, 0] for o in out]), np.array([o[1][:, 0] for o in out])


@pytest.mark.parametrize(
    ("scn", "h_m", "want_los", "d_corr_m", "step_m"),
    [
        ("UMa-AV", 150.0, True, 37.0, 5.0),  # P_LOS = 1: the LOS field alone
        ("RMa-AV", 100.0, True, 37.0, 5.0),
        ("UMi-AV", 30.0, False, 13.0, 2.0),  # mostly NLOS far out: the NLOS field, on NLOS samples
    ],
)
def test_shadow_fading_decorrelates_exponentially_along_a_track(scn, h_m, want_los, d_corr_m, step_m):
    """TR 38.901 Table 7.5-6 / Gudmundson: corr(SF(x), SF(x + d)) = exp(-d / d_corr) along the track."""
    rng = np.random.default_rng(11)
    tracks = _line_tracks(4000, step_m, 12, h_m, rng)
    tracks[..., :2] += 1500.0 * np.sign(tracks[:1, :, :2])  # keep them far from the site
    ls = LargeScale(scn, [[0.0, 0.0]], rng_for(3, scn), fc_ghz=2.0)
    los, sf = _run(ls, tracks)
    sigma = sigma_sf_db(scn, want_los, h_m)
    for lag in (1, 4, 10):
        ok = (los[0] == want_los) & (los[lag] == want_los)
        assert ok.sum() > 1500
        rho = np.corrcoef(sf[0][ok], sf[lag][ok])[0, 1]
        assert rho == pytest.approx(math.exp(-lag * step_m / d_corr_m), abs=0.05)
    assert np.std(sf[-1][los[-1] == want_los]) == pytest.approx(sigma, rel=0.05)


def test_los_fraction_over_long_tracks_is_p_los():
    """The correlated uniform keeps P(LOS) = P_LOS exactly; vehicles circle the site at fixed d2d and h."""
    n, d2d_m, h_m = 400, 400.0, 60.0
    phase0 = np.random.default_rng(5).uniform(0.0, 2.0 * np.pi, n)
    phase = phase0[None] + (15.0 / d2d_m) * np.arange(150)[:, None]
    tracks = np.stack([d2d_m * np.cos(phase), d2d_m * np.sin(phase), np.full(phase.shape, h_m)], axis=-1)
    ls = LargeScale("UMi-AV", [[0.0, 0.0]], rng_for(4, "sixg.channel"), fc_ghz=2.0)
    los, _ = _run(ls, tracks)
    expected = ref_p_los("UMi-AV", d2d_m, h_m)
    assert 0.3 < expected < 0.7
    assert los.mean() == pytest.approx(expected, abs=0.03)
    flips = (los[1:] != los[:-1]).mean()
    assert 0.05 < flips < 0.4  # it does change along the track, but stays put from one step to the next


def test_tiny_moves_and_hovering_keep_the_los_state_and_the_fading():
    """§2.5: LOS is kept spatially consistent; a vehicle that barely moves does not flip (or re-fade)."""
    rng = np.random.default_rng(8)
    n = 2000
    pos = np.column_stack([rng.uniform(-900.0, 900.0, (n, 2)), rng.uniform(25.0, 90.0, n)])
    ls = LargeScale("UMi-AV", [[0.0, 0.0], [200.0, 0.0]], rng_for(6, "sixg.channel"), fc_ghz=3.5)
    ids, sites = np.arange(n), np.tile([0, 1], (n, 1))
    los0, sf0 = ls.draw(ids, pos, sites)
    assert 0.1 < los0.mean() < 0.9
    for _ in range(20):
        pos[:, :2] += rng.normal(0.0, 1e-3, (n, 2))  # millimetre jitter
        los, sf = ls.draw(ids, pos, sites)
        assert (los == los0).all()
    assert (sf == sf0).all()  # same state, same latents, same height: the same fading
    los_far, _ = ls.draw(ids, pos + np.array([60.0, 0.0, 0.0]), sites)  # ~one LOS correlation distance
    assert (los_far != los0).mean() > 0.05


def test_same_seed_same_draws_and_output_follows_the_asked_column_order():
    pos = np.array([[100.0, 50.0, 40.0], [-300.0, 20.0, 80.0]])
    sites_xy = [[0.0, 0.0], [500.0, 0.0], [0.0, 500.0]]
    a = LargeScale("UMa-AV", sites_xy, rng_for(9, "sixg.channel"), fc_ghz=3.5)
    b = LargeScale("UMa-AV", sites_xy, rng_for(9, "sixg.channel"), fc_ghz=3.5)
    los_a, sf_a = a.draw([4, 9], pos, [[0, 1, 2], [2, 0, 1]])
    los_b, sf_b = b.draw([4, 9], pos, [[2, 0, 1], [0, 1, 2]])
    assert (sf_a[0] == sf_b[0][[1, 2, 0]]).all() and (sf_a[1] == sf_b[1][[2, 0, 1]]).all()
    assert (los_a[0] == los_b[0][[1, 2, 0]]).all() and (los_a[1] == los_b[1][[2, 0, 1]]).all()


def test_a_link_is_remembered_while_in_the_block_and_forgotten_after():
    sites_xy = np.array([[0.0, 0.0], [500.0, 0.0], [0.0, 500.0], [500.0, 500.0]])
    pos = np.array([[250.0, 250.0, 60.0]])
    kept = LargeScale("UMa-AV", sites_xy, rng_for(2, "sixg.channel"), fc_ghz=3.5, links_per_vehicle=4)
    first = kept.draw([1], pos, [[0, 1]])[1]
    kept.draw([1], pos, [[2, 3]])
    assert (kept.draw([1], pos, [[1, 0]])[1] == first[:, ::-1]).all()
    short = LargeScale("UMa-AV", sites_xy, rng_for(2, "sixg.channel"), fc_ghz=3.5, links_per_vehicle=2)
    first = short.draw([1], pos, [[0, 1]])[1]
    short.draw([1], pos, [[2, 3]])  # pushes 0 and 1 out of a 2-link block
    assert not np.isin(short.draw([1], pos, [[0, 1]])[1], first).any()
    short.forget([1, 77])  # 77 was never seen: ignored
    again = short.draw([1], pos, [[0, 1]])[1]
    assert not np.isin(again, first).any()


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (([1, 1], np.zeros((2, 3)), [[0], [1]]), "vehicle_id"),
        (([1, 2], np.zeros((2, 3)), [[0, 0], [0, 1]]), "site"),
        (([1], np.zeros((1, 3)), [[5]]), "site"),
        (([1], np.zeros((1, 3)), [[0, 1, 2]]), "site"),  # K > links_per_vehicle
        (([1], np.full((1, 3), np.nan), [[0]]), "pos_m"),
        (([-1], np.zeros((1, 3)), [[0]]), "vehicle_id"),
    ],
)
def test_bad_batches_are_refused_naming_the_field(args, field):
    sites_xy = [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]
    ls = LargeScale("UMa-AV", sites_xy, rng_for(0, "x"), fc_ghz=2.0, links_per_vehicle=2)
    fresh = LargeScale("UMa-AV", sites_xy, rng_for(0, "x"), fc_ghz=2.0, links_per_vehicle=2)
    with pytest.raises(ValueError, match=rf"^{field}: "):
        ls.draw(*args)
    ok = ([1, 3], [[0.0, 0.0, 50.0], [5.0, 0.0, 50.0]], [[0, 1], [2, 0]])
    assert ls.draw(*ok)[1].tolist() == fresh.draw(*ok)[1].tolist()  # a refused batch changed nothing


def test_an_empty_batch_is_fine():
    ls = LargeScale("RMa-AV", [[0.0, 0.0]], rng_for(0, "x"), fc_ghz=0.7)
    los, sf = ls.draw(np.empty(0, dtype=np.int64), np.empty((0, 3)), np.empty((0, 1), dtype=np.int64))
    assert los.shape == sf.shape == (0, 1)


# ---------------------------------------------------------------------------------------------------
# LargeScale against a brute-force per-link reference (STYLE.md: indexed paths get an oracle)
# ---------------------------------------------------------------------------------------------------


class ReferenceLargeScale:
    """One dict entry per link and a recency list per vehicle; the same draws in the same order."""

    CORR_M: ClassVar[dict[str, tuple[float, float, float]]] = {
        "UMa-AV": (50.0, 37.0, 50.0),
        "UMi-AV": (50.0, 10.0, 13.0),
        "RMa-AV": (60.0, 37.0, 120.0),
    }

    def __init__(self, scn, site_xy, rng, *, fc_ghz, step_m, links_per_vehicle):
        self.scn, self.site_xy, self.rng = scn, np.asarray(site_xy, float), rng
        self.fc, self.step, self.cap = fc_ghz, step_m, links_per_vehicle
        self.links: dict[tuple[int, int], list] = {}  # (vid, site) -> [anchor (3,) f32, latents (3,) f32]
        self.recency: dict[int, list[int]] = {}

    def draw(self, vids, pos, sites):
        n, k = sites.shape
        order = [sorted(row) for row in sites.tolist()]
        new = []
        for r, v in enumerate(vids):
            old = self.recency.get(v, [])
            for s in order[r]:
                if s not in old:
                    new.append((v, s, r))
            kept = order[r] + [s for s in old if s not in order[r]]
            for s in kept[self.cap :]:
                self.links.pop((v, s), None)
            self.recency[v] = kept[: self.cap]
        init = self.rng.standard_normal((len(new), 3))
        for (v, s, r), z in zip(new, init, strict=True):
            self.links[(v, s)] = [pos[r].astype(np.float32), z.astype(np.float32)]
        eps = self.rng.standard_normal((3, n, k))
        los_out, sf_out = np.zeros((n, k), bool), np.zeros((n, k))
        for r, v in enumerate(vids):
            for j, s in enumerate(order[r]):
                anchor, z = self.links[(v, s)]
                dist = math.dist(pos[r], anchor.astype(float))
                if dist >= self.step:
                    for i, corr in enumerate(self.CORR_M[self.scn]):
                        rho = math.exp(-dist / corr)
                        z[i] = rho * float(z[i]) + math.sqrt(1.0 - rho * rho) * eps[i, r, j]
                    anchor[:] = pos[r]
                d2d = math.dist(pos[r][:2], self.site_xy[s])
                p = ref_p_los(self.scn, d2d, pos[r][2])
                phi = 0.5 * math.erfc(-float(z[0]) / math.sqrt(2.0))
                los = phi < p or p >= 1.0
                col = sites[r].tolist().index(s)
                los_out[r, col] = los
                sigma = ref_sigma(self.scn, los, pos[r][2], d2d, self.fc)
                sf_out[r, col] = sigma * float(z[1] if los else z[2])
        return los_out, sf_out

    def forget(self, vids):
        for v in vids:
            for s in self.recency.pop(int(v), []):
                del self.links[(int(v), s)]


@pytest.mark.parametrize(("scn", "links"), [("UMi-AV", 40), ("RMa-AV", 6), ("UMa-AV", 4)])
def test_large_scale_matches_the_per_link_reference(scn, links):
    """Vehicles come and go, move by millimetres or hundreds of metres, reorder and change their sites."""
    rng = np.random.default_rng(21)
    site_xy = rng.uniform(-800.0, 800.0, (9, 2))
    kw = {"fc_ghz": 2.0, "step_m": 1.0, "links_per_vehicle": links}
    fast = LargeScale(scn, site_xy, rng_for(5, "ref"), **kw)
    slow = ReferenceLargeScale(scn, site_xy, rng_for(5, "ref"), **kw)
    n_veh, k = 25, 4
    pos = np.column_stack([rng.uniform(-900.0, 900.0, (n_veh, 2)), rng.uniform(2.0, 160.0, n_veh)])
    sites = np.array([rng.choice(9, k, replace=False) for _ in range(n_veh)])
    for call in range(30):
        rows = np.sort(rng.choice(n_veh, rng.integers(1, n_veh + 1), replace=False))
        rng.shuffle(rows)  # any vehicle order
        move = rng.choice([0.0, 1e-3, 0.5, 20.0, 300.0], size=n_veh)
        pos[:, :2] += move[:, None] * rng.normal(size=(n_veh, 2))
        pos[:, 2] = np.clip(pos[:, 2] + move * rng.normal(size=n_veh) * 0.1, 2.0, 200.0)
        for r in rng.choice(n_veh, 5, replace=False):  # some reorder, some change their set
            sites[r] = rng.permutation(sites[r]) if rng.random() < 0.5 else rng.choice(9, k, replace=False)
        got = fast.draw(rows, pos[rows], sites[rows])
        want = slow.draw(rows.tolist(), pos[rows], sites[rows])
        assert (got[0] == want[0]).all(), f"call {call}"
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-9, err_msg=f"call {call}")
        if call % 7 == 6:
            gone = rng.choice(n_veh, 3, replace=False)
            fast.forget(gone)
            slow.forget(gone)


@pytest.mark.parametrize("step_m", [1.0, 1e-7])
def test_large_scale_repeated_at_one_place_matches_the_reference(step_m):
    """A second of the network: reports (4 sites), advisories to a few (19 sites), the scan (the reports'
    sites again), all at the positions of the second; a link asked again where it was last evaluated keeps
    its latents. With a 0.1 um step the float32 anchors register a move."""
    rng = np.random.default_rng(4)
    site_xy = np.column_stack([np.repeat(np.arange(5.0), 5), np.tile(np.arange(5.0), 5)]) * 400.0
    kw = {"fc_ghz": 4.0, "step_m": step_m, "links_per_vehicle": 22}
    fast = LargeScale("UMa-AV", site_xy, rng_for(8, "ref"), **kw)
    slow = ReferenceLargeScale("UMa-AV", site_xy, rng_for(8, "ref"), **kw)
    n = 30
    ids = np.arange(n) * 3
    pos = np.column_stack([rng.uniform(0.0, 1600.0, (n, 2)), rng.uniform(10.0, 150.0, n)])
    for second in range(12):
        pos[:, :2] += rng.normal(0.0, 15.0, (n, 2)) * (second % 4 != 3)  # now and then all hover
        near = np.argsort(np.hypot(*(pos[:, None, :2] - site_xy[None]).transpose(2, 0, 1)), axis=1)
        advised = np.sort(rng.choice(n, 5, replace=False))
        for rows, sites in (
            (np.arange(n), near[:, :4]),
            (advised, near[advised, :19]),
            (np.arange(n), near[:, :4]),
        ):
            got = fast.draw(ids[rows], pos[rows], sites)
            want = slow.draw(ids[rows].tolist(), pos[rows], sites)
            assert (got[0] == want[0]).all(), second
            np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-9, err_msg=f"second {second}")


def _recency(ls: LargeScale, vid: int) -> list[int]:
    """The sites of a vehicle's stored links, most recently used first, read from the stamp store."""
    slot = ls._slot_of[vid] if vid < ls._slot_of.size else -1
    if slot < 0:
        return []
    held = ls._site[slot] >= 0
    return ls._site[slot][held][np.argsort(-ls._stamp[slot][held])].tolist()


def test_the_stamp_store_keeps_and_evicts_links_as_a_positional_recency_list():
    """The network's mix (reports ask 4 sites, advisories 19, scans 3) over 60 sites, blocks of 40: after
    every call the stamp order equals the reference's most-recently-used list, evictions included, and so
    do the draws. Some rows repeat their last sites, in another order or a prefix of them."""
    rng = np.random.default_rng(11)
    site_xy = rng.uniform(-3000.0, 3000.0, (60, 2))
    kw = {"fc_ghz": 3.5, "step_m": 1.0, "links_per_vehicle": 40}
    fast = LargeScale("UMa-AV", site_xy, rng_for(3, "ref"), **kw)
    slow = ReferenceLargeScale("UMa-AV", site_xy, rng_for(3, "ref"), **kw)
    n_veh = 12
    pos = np.column_stack([rng.uniform(-2000.0, 2000.0, (n_veh, 2)), rng.uniform(20.0, 150.0, n_veh)])
    last: dict[int, np.ndarray] = {}
    for call in range(90):
        k = (4, 19, 3)[call % 3]
        rows = rng.choice(n_veh, rng.integers(1, n_veh + 1), replace=False)
        sites = np.array([rng.choice(60, k, replace=False) for _ in rows])
        for r, v in enumerate(rows):
            if v in last and last[v].size >= k and rng.random() < 0.4:
                sites[r] = rng.permutation(np.sort(last[v])[:k])  # the last call's lowest k: no change
        last.update(zip(rows.tolist(), sites, strict=True))
        pos[:, :2] += rng.normal(0.0, 10.0, (n_veh, 2))
        got = fast.draw(rows, pos[rows], sites)
        want = slow.draw(rows.tolist(), pos[rows], sites)
        assert (got[0] == want[0]).all(), f"call {call}"
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-9, err_msg=f"call {call}")
        for v in range(n_veh):
            assert _recency(fast, v) == slow.recency.get(v, []), f"call {call}, vehicle {v}"
        if call % 11 == 10:
            gone = rng.choice(n_veh, 2, replace=False)
            fast.forget(gone)
            slow.forget(gone)
            for v in gone.tolist():
                last.pop(v, None)


def test_asking_the_last_sites_and_older_ones_restamps_the_older_ones():
    """After 19 sites then 4 others, asking those 4 with 15 of the 19 moves the 15 ahead of the 19's other
    4: the 19-site call's columns, still listed beyond the 4-site call's, are not taken as current."""
    site_xy = np.column_stack([np.arange(60.0) * 100.0, np.zeros(60)])
    kw = {"fc_ghz": 3.5, "step_m": 1.0, "links_per_vehicle": 40}
    fast = LargeScale("UMa-AV", site_xy, rng_for(3, "ref"), **kw)
    slow = ReferenceLargeScale("UMa-AV", site_xy, rng_for(3, "ref"), **kw)
    pos = np.array([[2000.0, 300.0, 80.0]])
    for sites in (range(20, 39), range(4), [*range(4), *range(24, 39)], range(40, 60)):
        asked = np.array([list(sites)])
        got, want = fast.draw([0], pos, asked), slow.draw([0], pos, asked)
        assert (got[0] == want[0]).all() and (got[1] == want[1]).all()
        assert _recency(fast, 0) == slow.recency[0]
