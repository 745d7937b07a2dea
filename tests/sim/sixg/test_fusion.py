"""Surveillance fusion: the batched filter against a textbook one, consistency, association, M-of-N,
timeout, one track per vehicle, the §6.2 buffer and determinism (SIXG-MODEL.md §1, §6, §8)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components
from scipy.special import gammaincinv

from sim.sixg import fusion
from sim.sixg.fusion import K_95_2D, FusionConfig, Tracks, inflated_zone

SIGMA_H_M, SIGMA_V_M, SIGMA_VEL_MPS = 1.5, 3.0, 0.1  # FusionConfig defaults (§8 surveillance)
I3 = np.eye(3)
EX = I3[0]  # east


def textbook_predict(x, p, dt, q):
    """``F x``, ``F P F^T + Q`` with the continuous white-noise-acceleration ``Q`` (Bar-Shalom 6.2.2); ``q``
    one value or one per axis."""
    f = np.eye(6)
    f[:3, 3:] = dt * I3
    qd = np.diag(np.broadcast_to(np.asarray(q, float), 3))
    qm = np.block([[dt**3 / 3 * qd, dt**2 / 2 * qd], [dt**2 / 2 * qd, dt * qd]])
    return f @ x, f @ p @ f.T + qm


def textbook_report(x, p, dt, q, z, h, r, config):
    """A report's predict and update. Predicted with, per axis, the larger of ``q`` and the PSD that makes
    the measured velocity change a one-sigma one (``nu^2 / dt``), and at least the manoeuvre ``q`` when the
    measured velocity (position, without one) is outside the gate of the prediction."""
    xp, pp = textbook_predict(x, p, dt, q)
    b = slice(3, 6) if len(z) == 6 else slice(0, 3)
    nu, s = (z - h @ xp)[b], (h @ pp @ h.T + r)[b, b]
    q_axis = np.full(3, float(q))
    if len(z) == 6 and dt > 0:
        q_axis = np.maximum(q_axis, nu**2 / dt)
    if nu @ np.linalg.solve(s, nu) > config.gate:
        q_axis = np.maximum(q_axis, config.manoeuvre_psd_m2ps3)
    if (q_axis > q).any():
        xp, pp = textbook_predict(x, p, dt, q_axis)
    return textbook_update(xp, pp, z, h, r)


def textbook_update(x, p, z, h, r):
    """``K = P H^T (H P H^T + R)^-1``, ``x + K (z - H x)``, ``(I - K H) P``."""
    k = p @ h.T @ np.linalg.inv(h @ p @ h.T + r)
    return x + k @ (z - h @ x), (np.eye(6) - k @ h) @ p


def sorted_by_vehicle(tracks: Tracks):
    rows = tracks.rows()
    return rows[np.argsort(tracks.vehicle[rows], kind="stable")]


def spd(rng, n, scale):
    a = rng.normal(size=(n, 3, 3)) * np.sqrt(scale / 3)
    return a @ a.transpose(0, 2, 1) + 0.5 * scale * I3


def test_batched_filter_equals_a_textbook_kalman_filter():
    """Reports (position + velocity, several per flight in one batch, position only) and sensing
    detections with full covariances, on 25 tracks: state and covariance agree to 1e-9 at every step.

    Oracle: a per-track loop over the textbook matrix equations, with the joint 6-D update for a report
    with velocity (the tracker updates position then velocity, which is the same in exact arithmetic), and
    the manoeuvre switch of a report (the noisy velocities here trip it, as do some positions).
    """
    rng = np.random.default_rng(5)
    n, q = 25, 0.7
    config = FusionConfig(accel_psd_m2ps3=q)
    tracks = Tracks(config)
    flight = np.arange(n) * 3 + 1
    x = [np.r_[i * 1e4, rng.normal(0, 50, 2), rng.normal(0, 10, 3)] for i in range(n)]
    t = rng.uniform(0.0, 1.0, n)
    tracks.update_reports(flight, t, [xi[:3] for xi in x], [xi[3:] for xi in x])
    p = [np.diag([SIGMA_H_M**2, SIGMA_H_M**2, SIGMA_V_M**2, *[SIGMA_VEL_MPS**2] * 3]) for _ in range(n)]
    h_pos, h_all = np.eye(6)[:3], np.eye(6)
    r_pos = np.diag([SIGMA_H_M**2, SIGMA_H_M**2, SIGMA_V_M**2])
    r_all = np.diag([*np.diag(r_pos), *[SIGMA_VEL_MPS**2] * 3])

    def check():
        rows = sorted_by_vehicle(tracks)
        np.testing.assert_allclose(tracks.state[:, rows].T, np.array(x), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(
            tracks.cov[:, :, rows].transpose(2, 0, 1), np.array(p), rtol=1e-9, atol=1e-9
        )
        np.testing.assert_array_equal(tracks.t_s[rows], t)

    check()
    for step in range(6):
        if step % 3 == 0:  # two reports per flight in one batch, shuffled: applied in time order
            t1, t2 = t + rng.uniform(0.1, 0.8, n), t + rng.uniform(0.9, 1.6, n)
            z = rng.normal(0, 1, (2, n, 6)) + np.array(x)
            order = rng.permutation(2 * n)
            tracks.update_reports(
                np.r_[flight, flight][order],
                np.r_[t1, t2][order],
                np.r_[z[0], z[1]][order, :3],
                np.r_[z[0], z[1]][order, 3:],
            )
            for i in range(n):
                for tk, zk in ((t1[i], z[0, i]), (t2[i], z[1, i])):
                    x[i], p[i] = textbook_report(x[i], p[i], tk - t[i], q, zk, h_all, r_all, config)
                    t[i] = tk
        elif step % 3 == 1:  # position only
            tk = t + rng.uniform(0.2, 1.5, n)
            z = np.array(x)[:, :3] + rng.normal(0, 2, (n, 3))
            tracks.update_reports(flight, tk, z)
            for i in range(n):
                x[i], p[i] = textbook_report(x[i], p[i], tk[i] - t[i], q, z[i], h_pos, r_pos, config)
            t = tk
        else:  # one sensing scan: detections near the predicted positions, full covariances
            ts = float(t.max()) + 0.7
            r = spd(rng, n, 9.0)
            pred = [textbook_predict(x[i], p[i], ts - t[i], q) for i in range(n)]
            z = np.array([xp[:3] for xp, _ in pred]) + rng.normal(0, 0.2, (n, 3))
            tracks.update_sensing(ts, z[::-1], r[::-1])  # order does not matter
            for i in range(n):
                x[i], p[i] = textbook_update(*pred[i], z[i], h_pos, r[i])
            t = np.full(n, ts)
        check()
    rows = sorted_by_vehicle(tracks)
    xs, ps = tracks.predict(float(t.max()) + 2.5, rows)
    for i in range(n):
        xe, pe = textbook_predict(x[i], p[i], float(t.max()) + 2.5 - t[i], q)
        np.testing.assert_allclose(xs[i], xe, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(ps[i], pe, rtol=1e-9, atol=1e-9)
    assert np.array_equal(tracks.cov, tracks.cov.transpose(1, 0, 2))  # symmetric to the bit


@pytest.mark.parametrize(("q_true", "q_filter"), [(0.0, 0.0), (0.5, 0.5)], ids=["straight", "manoeuvring"])
def test_nees_of_noisy_reports_is_consistent(q_true, q_filter):
    """A target flying a straight line (or with white acceleration matching the filter's q), 1 Hz GNSS
    reports with the §8 sigmas, 200 Monte-Carlo runs at once: the mean NEES over the run is near its
    chi-square mean (6 for the state, 3 for the position), and the filtered horizontal error is below the
    measurement's."""
    rng = np.random.default_rng(11)
    n, steps = 200, 40
    tracks = Tracks(FusionConfig(accel_psd_m2ps3=q_filter))
    x = np.zeros((n, 6))
    x[:, 0], x[:, 2], x[:, 3:] = np.arange(n) * 1e4, 50.0, [10.0, 5.0, 0.5]
    q_true_cov = q_true * np.block([[I3 / 3, I3 / 2], [I3 / 2, I3]])
    nees, nees_pos = [], []
    for k in range(steps):
        if k:
            x[:, :3] += x[:, 3:]
            if q_true:
                x += rng.multivariate_normal(np.zeros(6), q_true_cov, n)
        tracks.update_reports(
            np.arange(n), float(k), x[:, :3] + rng.normal(size=(n, 3)) * [SIGMA_H_M, SIGMA_H_M, SIGMA_V_M]
        )
        est, cov = tracks.predict(float(k), sorted_by_vehicle(tracks))
        e = est - x
        nees.append(np.einsum("ni,ni->n", e, np.linalg.solve(cov, e[..., None])[..., 0]).mean())
        nees_pos.append(
            np.einsum("ni,ni->n", e[:, :3], np.linalg.solve(cov[:, :3, :3], e[:, :3, None])[..., 0]).mean()
        )
    assert 4.8 < np.mean(nees[5:]) < 7.2
    assert 2.4 < np.mean(nees_pos[5:]) < 3.6
    assert np.sqrt((e[:, :2] ** 2).mean()) < SIGMA_H_M


def crossing(seed: int, angle_deg: float, sigma_m: float = 2.0) -> bool:
    """Two sensing-only targets at 12 m/s crossing at one point between scans: same tracks after."""
    rng = np.random.default_rng(seed)
    tracks = Tracks()
    a = np.deg2rad(angle_deg)
    vel = np.array([[12.0, 0.0, 0.0], [12.0 * np.cos(a), 12.0 * np.sin(a), 0.0]])
    start = np.array([0.0, 0.0, 60.0]) - vel * 10.5
    cov = np.broadcast_to(I3 * sigma_m**2, (2, 3, 3))
    for k in range(21):
        truth = start + vel * k
        tracks.update_sensing(float(k), truth + rng.normal(size=(2, 3)) * sigma_m, cov)
        if k in (6, 20):
            pic = tracks.picture(float(k))
            if len(pic) != 2:
                return False
            nearest = pic.track_id[np.linalg.norm(pic.pos_m[:, None] - truth[None], axis=2).argmin(0)]
            if k == 6:
                before = nearest
    return bool((nearest == before).all() and (pic.vehicle < -1).all())


@pytest.mark.parametrize(("angle_deg", "kept"), [(90.0, 0.95), (45.0, 0.85)])
def test_crossing_sensing_only_targets_keep_their_identities(angle_deg, kept):
    """GNN on the predicted tracks carries each identity through the crossing in the common case."""
    assert np.mean([crossing(seed, angle_deg) for seed in range(40)]) >= kept


def scan(tracks: Tracks, t_s: float, pos: list[list[float]], sigma_m: float = 2.0) -> None:
    pos = np.array(pos, float).reshape(-1, 3)
    tracks.update_sensing(t_s, pos, np.broadcast_to(I3 * sigma_m**2, (len(pos), 3, 3)))


def test_m_of_n_a_single_false_alarm_never_confirms():
    """One detection, then empty scans: never in the picture, and dropped once 3 of 5 is out of reach."""
    tracks = Tracks()
    scan(tracks, 0.0, [[0.0, 0.0, 50.0]])
    for k in range(1, 8):
        assert len(tracks.picture(float(k - 1))) == 0
        scan(tracks, float(k), [])
        assert len(tracks) == (1 if k < 3 else 0)  # after scan 4: 1 hit + 1 scan left < 3


@pytest.mark.parametrize(
    ("pattern", "confirmed_at"),
    [("11111", 2), ("10101", 4), ("11001", 4), ("10011", 4), ("10001", None)],
)
def test_m_of_n_a_real_target_confirms_after_m_hits_in_n_scans(pattern, confirmed_at):
    """A target detected in the scans marked 1: confirmed at its 3rd hit within its first 5 scans."""
    tracks = Tracks()
    for k, bit in enumerate(pattern):
        scan(tracks, float(k), [[5.0 * k, 0.0, 50.0]] if bit == "1" else [])
        pic = tracks.picture(float(k))
        assert len(pic) == int(confirmed_at is not None and k >= confirmed_at), k
    if confirmed_at is not None:
        assert pic.vehicle[0] == -2 - pic.track_id[0] and not pic.cooperative[0]


def test_random_clutter_never_confirms():
    """Poisson false alarms (20 a scan, far more than the 5 % per TRP and scan of the calibrated sensing
    model) spread over 10 km x 10 km x 300 m for 30 scans: tentative tracks only."""
    rng = np.random.default_rng(3)
    tracks = Tracks()
    for k in range(30):
        m = rng.poisson(20)
        scan(tracks, float(k), rng.uniform([0, 0, 0], [10000, 10000, 300], (m, 3)), sigma_m=5.0)
        assert len(tracks.picture(float(k))) == 0


def test_a_track_not_updated_for_the_timeout_is_dropped():
    """Reports until t = 10 s: in the picture at 15 s (age 5 s = timeout), gone just after."""
    tracks = Tracks(FusionConfig(timeout_s=5.0))
    for k in range(11):
        tracks.update_reports([4], float(k), [[10.0 * k, 0.0, 50.0]])
    pic = tracks.picture(15.0)
    assert pic.vehicle.tolist() == [4] and pic.age_s.tolist() == [5.0]
    assert pic.pos_m[0, 0] == pytest.approx(150.0, abs=1.0)
    assert len(tracks.picture(15.01)) == 0 and len(tracks) == 0
    tracks.update_reports([4], 20.0, [[0.0, 0.0, 50.0]])  # a new track for the flight
    assert tracks.picture(20.0).track_id.tolist() == [1]


def test_confirmed_sensing_track_coasts_then_times_out():
    tracks = Tracks(FusionConfig(timeout_s=3.0))
    for k in range(5):
        scan(tracks, float(k), [[10.0 * k, 0.0, 50.0]])
    assert len(tracks.picture(7.0)) == 1
    assert len(tracks.picture(7.5)) == 0


def test_one_track_per_vehicle_across_sources_and_sensors():
    """A cooperative vehicle's echoes update its own track; a target seen by two TRPs gets one track;
    a vehicle sensed before its first report keeps one track (the report's track absorbs the other)."""
    rng = np.random.default_rng(2)
    tracks = Tracks()
    coop = np.array([0.0, 0.0, 60.0])
    other = np.array([500.0, 0.0, 80.0])
    late = np.array([-500.0, 0.0, 40.0])
    vel = np.array([10.0, 2.0, 0.0])
    cov = np.broadcast_to(I3 * 9.0, (5, 3, 3))
    for k in range(10):
        t = float(k)
        if k:
            tracks.update_reports([3], t - 0.5, [coop + vel * (t - 0.5)], [vel])
        if k >= 6:
            tracks.update_reports([8], t - 0.5, [late + vel * (t - 0.5)], [vel])
        truth = np.array([coop, other, other, late, late]) + vel * t
        sensor = [0, 0, 1, 0, 1]  # the second target and the late reporter are seen by two TRPs
        tracks.update_sensing(t, truth + rng.normal(size=(5, 3)) * 3.0, cov, sensor=sensor)
    pic = tracks.picture(9.0)
    assert len(tracks) == 3 and len(pic) == 3
    assert sorted(pic.vehicle.tolist())[1:] == [3, 8] and pic.vehicle.min() < -1
    assert tracks.sensed[tracks.rows()].all()
    assert np.linalg.norm(pic.pos_m[pic.vehicle < 0][0] - (other + vel * 9.0)) < 5.0


def test_a_turning_cooperative_vehicle_keeps_one_track_under_accurate_sensing():
    """A reporting multirotor turns 45 deg/s (as MVP or a waypoint makes it), three TRPs seeing it to 0.1 m
    each second after its report: its track follows the turn and its echoes stay its own, so no sensing-only
    twin gets confirmed (CD&R would see it as a second vehicle with right of way)."""
    rng = np.random.default_rng(4)
    tracks = Tracks()
    pos, heading = np.array([0.0, 0.0, 60.0]), 0.0
    cov = np.broadcast_to(I3 * 0.01, (3, 3, 3))
    for k in range(30):
        if 5 <= k < 13:  # two half turns, one each way
            heading += np.pi / 4 * (1 if k < 9 else -1)
        vel = 15.0 * np.array([np.cos(heading), np.sin(heading), 0.0])
        if k:
            pos = pos + vel  # a kinematics tick: 1 s at the new velocity
        tracks.update_reports([7], float(k), [pos], [vel])
        tracks.update_sensing(float(k), pos + rng.normal(size=(3, 3)) * 0.1, cov, sensor=[0, 1, 2])
        assert tracks.picture(float(k)).vehicle.tolist() == [7], k


def fr3_covariances(azimuths_rad: list[float]) -> np.ndarray:
    """ISAC detection covariances as FR3 gives them: 5 cm along each TRP's line of sight (horizontal, at the
    azimuths), 2 m across it (its median cross-range sigma on the bench scenario)."""
    out = []
    for az in azimuths_rad:
        u = np.array([[np.cos(az), -np.sin(az), 0.0], [np.sin(az), np.cos(az), 0.0], [0.0, 0.0, 1.0]])
        out.append(u @ np.diag([0.05**2, 2.0**2, 2.0**2]) @ u.T)
    return np.array(out)


def turning_twins(sigma_mps: float, seed: int) -> int:
    """The most sensing-only tracks beside a reporting multirotor's own as it turns 45 deg at each of eight
    ticks (MVP's turns), seen every 0.2 s by three TRPs (:func:`fr3_covariances`). As in the simulator, its
    report each second carries the velocity of its last tick, and the scans see it on the next tick's
    straight move."""
    rng = np.random.default_rng(seed)
    tracks = Tracks(FusionConfig(sensing_manoeuvre_sigma_mps=sigma_mps))
    cov = fr3_covariances([0.3, 2.4, 4.4])
    low = np.linalg.cholesky(cov)
    pos, heading, vel = np.array([0.0, 0.0, 60.0]), 0.0, 15.0 * EX
    most = 0
    for k in range(20):
        tracks.update_reports([7], float(k), [pos], [vel])
        if 5 <= k < 13:  # two half turns, one each way
            heading += np.pi / 4 * (1 if k < 9 else -1)
        step = 15.0 * np.array([np.cos(heading), np.sin(heading), 0.0])
        for f in (0.2, 0.4, 0.6, 0.8, 1.0):
            z = pos + step * f + np.einsum("nij,nj->ni", low, rng.normal(size=(3, 3)))
            tracks.update_sensing(k + f, z, cov, sensor=[0, 1, 2])
            most = max(most, len(tracks.picture(k + f)) - 1)
        pos, vel = pos + step, step
    return most


@pytest.mark.parametrize("seed", range(5))
def test_echoes_of_a_turn_between_reports_stay_with_the_vehicles_own_track(seed):
    """With the velocity step a manoeuvre may make, the turning vehicle's echoes keep updating its own track;
    without it (sigma 0), one TRP's echo fits the straight path along its 5 cm axis, the others leave the
    gate and start a twin that M-of-N confirms."""
    assert turning_twins(FusionConfig().sensing_manoeuvre_sigma_mps, seed) == 0
    assert turning_twins(0.0, seed) > 0


def test_out_of_sequence_report_is_skipped():
    tracks = Tracks()
    tracks.update_reports([1, 1], [0.0, 2.0], [[0.0, 0.0, 50.0], [20.0, 0.0, 50.0]])
    before = tracks.state.copy()
    tracks.update_reports([1], 1.0, [[500.0, 0.0, 50.0]])
    assert np.array_equal(tracks.state, before) and tracks.t_s[tracks.rows()].tolist() == [2.0]


def test_association_equals_a_brute_force_global_nearest_neighbour():
    """Dense tracks and detections (clusters of several): the KD-tree gate and per-cluster assignment give
    the gated set and the assignment of a brute-force all-pairs gate and one big linear_sum_assignment."""
    rng = np.random.default_rng(7)
    tracks = Tracks(FusionConfig(accel_psd_m2ps3=2.0))
    n = 300
    tracks.update_reports(
        np.arange(n), rng.uniform(0, 1, n), rng.uniform(0, 120, (n, 3)), rng.normal(0, 8, (n, 3))
    )
    t, m = 2.0, 320
    z = rng.uniform(0, 120, (m, 3))
    r = spd(rng, m, 16.0)
    rows = tracks.rows()
    got_rows, got_det, gated = tracks._associate(rows, z.T.copy(), r.transpose(1, 2, 0).copy(), np.full(m, t))
    x, p = tracks.predict(t, rows)
    s = p[:, None, :3, :3] + r[None]
    nu = z[None] - x[:, None, :3]
    d2 = np.einsum("tdi,tdi->td", nu, np.linalg.solve(s, nu[..., None])[..., 0])
    inside = d2 <= FusionConfig().gate
    assert inside.sum() > 2 * m / 3 and np.array_equal(gated, inside.any(0))
    cost = np.where(inside, d2 + np.linalg.slogdet(s)[1], 1e9)
    a, b = linear_sum_assignment(cost)
    keep = inside[a, b]
    expected = sorted(zip(rows[a[keep]].tolist(), b[keep].tolist(), strict=True))
    assert sorted(zip(got_rows.tolist(), got_det.tolist(), strict=True)) == expected


def test_inflation_matches_the_section_6_2_numbers():
    """SIXG-MODEL.md §6.2 B1-B3: v_rel 30 m/s; Remote ID only (sigma 12.45 m each, 1 s latency, 1 Hz) adds
    88 m; ISAC-grade (sigma 3 m, 0.3 s, 5 Hz) adds 22 m. Oracle: the formula by hand."""
    rid = 50.0 + K_95_2D * np.hypot(12.45, 12.45) + 30.0 * (1.0 + 0.5)
    isac = 50.0 + K_95_2D * np.hypot(3.0, 3.0) + 30.0 * (0.3 + 0.1)
    r, h = inflated_zone(
        50.0,
        15.0,
        [np.hypot(12.45, 12.45), np.hypot(3.0, 3.0)],
        [2.0, 1.0],
        30.0,
        latency_s=[1.0, 0.3],
        update_period_s=[1.0, 0.2],
    )
    np.testing.assert_allclose(r, [rid, isac], rtol=1e-12)
    assert r[0] - 50.0 == pytest.approx(88.1, abs=0.05) and r[1] - 50.0 == pytest.approx(22.4, abs=0.05)
    np.testing.assert_allclose(h, 15.0 + 1.959964 * np.array([2.0, 1.0]))
    r2, h2 = inflated_zone(
        50.0, 15.0, 0.0, 0.0, 30.0, latency_s=1.0, update_period_s=1.0, v_rel_v_mps=-2.0, accel_mps2=2.0
    )
    assert float(r2) == 50.0 + 45.0 + 2.25 and float(h2) == 15.0 + 3.0 + 2.25
    off = inflated_zone(
        50.0, 15.0, [[1.0], [2.0]], 1.0, [3.0, 4.0, 5.0], latency_s=1.0, update_period_s=1.0, enabled=False
    )
    assert [a.shape for a in off] == [(2, 3), (2, 3)] and (off[0] == 50.0).all() and (off[1] == 15.0).all()


def run_mixed(seed: int) -> tuple[Tracks, list]:
    """25 cooperative vehicles, 5 non-cooperative ones, two TRPs (P_d 0.8) and clutter, for 15 s."""
    rng = np.random.default_rng(seed)
    tracks = Tracks(capacity=2)  # grows while it runs
    pos = rng.uniform(0, 1000, (30, 3))
    vel = rng.normal(0, 8, (30, 3))
    pics = []
    for k in range(15):
        t = float(k)
        truth = pos + vel * t
        tracks.update_reports(np.arange(25), t - 0.3, truth[:25] - vel[:25] * 0.3 + rng.normal(size=(25, 3)))
        seen = rng.random(60) < 0.8
        det = np.r_[truth, truth][seen] + rng.normal(size=(int(seen.sum()), 3)) * 3.0
        clutter = rng.uniform(0, 1000, (rng.poisson(5), 3))
        z = np.r_[det, clutter]
        sensor = np.r_[np.repeat([0, 1], 30)[seen], rng.integers(0, 2, len(clutter))]
        tracks.update_sensing(t, z, np.broadcast_to(I3 * 9.0, (len(z), 3, 3)), sensor=sensor)
        pics.append(tracks.picture(t))
    return tracks, pics


def test_same_inputs_give_identical_tracks():
    """Determinism: two runs of the same inputs give byte-identical columns and pictures."""
    (a, pa), (b, pb) = run_mixed(0), run_mixed(0)
    for name in ("state", "cov", "t_s", "track_id", "vehicle", "hits", "scans", "active", "confirmed"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    for x, y in zip(pa, pb, strict=True):
        assert x.pos_m.tobytes() == y.pos_m.tobytes() and x.vehicle.tobytes() == y.vehicle.tobytes()
    assert [len(p) for p in pa[2:]] == [30] * 13  # 25 cooperative + 5 sensing-only, no twin, no clutter
    assert (np.sort(pa[-1].vehicle)[-25:] == np.arange(25)).all()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout_s", 0.0),
        ("gnss_sigma_h_m", -1.0),
        ("gate_probability", 1.0),
        ("confirm_m", 6),
        ("sensing_manoeuvre_sigma_mps", -1.0),
        ("sensing_manoeuvre_sigma_mps", float("nan")),
    ],
)
def test_bad_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"^{field}: "):
        FusionConfig(**{field: value})


def reference_scan(tracks: Tracks, t: float, z: np.ndarray, r: np.ndarray, sensor: np.ndarray) -> None:
    """The scan as documented, by brute force: every round gates every track with every pending detection
    (one that a cooperative track can take, or could at the start of the scan: with cooperative tracks only)
    and solves one assignment over all pairs; a confirmed track with a detection outside every gate but inside
    the one a velocity step at its last update opens takes that step (added to its stored covariance for the
    scan); a detection inside a gate at the start starts no track, and is dropped once outside every gate;
    seeds, merge and M-of-N over all pairs too. Oracle of the sweep, cached pairs, in-place updates and
    enumerated clusters of :meth:`Tracks.update_sensing`."""
    gate, gate6 = tracks._gate, 2.0 * gammaincinv(3.0, tracks.config.gate_probability)
    step_var = tracks.config.sensing_manoeuvre_sigma_mps**2
    tracks.prune(t)
    rows = tracks.rows()
    x, p = tracks.predict(t, rows)
    lag = np.maximum(t - tracks.t_s[rows], 0.0)
    s = p[:, None, :3, :3] + r[None]
    nu = z[None] - x[:, None, :3]
    d2 = np.einsum("tdi,tdi->td", nu, np.linalg.solve(s, nu[..., None])[..., 0])
    s += (step_var * lag**2)[:, None, None, None] * I3
    d2_step = np.einsum("tdi,tdi->td", nu, np.linalg.solve(s, nu[..., None])[..., 0])
    unexplained = ~(d2 <= gate).any(axis=0)
    may_turn = (lag > 0) & tracks.confirmed[rows]
    turning = rows[((d2 > gate) & (d2_step <= gate) & unexplained & may_turn[:, None]).any(axis=1)]
    tracks._p[turning, 3:, 3:] += step_var * I3
    rows = tracks.rows()
    tentative = rows[~tracks.confirmed[rows]]
    hit, taken, pending = set(), set(), np.arange(len(z))
    explained = reserved = None
    while len(pending):
        rows = tracks.rows()
        x, p = tracks.predict(t, rows)
        zp, rp, sp = z[pending], r[pending], sensor[pending]
        s = p[:, None, :3, :3] + rp[None]
        nu = zp[None] - x[:, None, :3]
        d2 = np.einsum("tdi,tdi->td", nu, np.linalg.solve(s, nu[..., None])[..., 0])
        inside = d2 <= gate
        coop_row = tracks.cooperative[rows][:, None]
        if explained is None:  # the first round: the tracks as predicted to the scan
            explained, reserved = inside.any(axis=0), (inside & coop_row).any(axis=0)
        spent = explained[pending] & ~inside.any(axis=0)
        f = np.flatnonzero(~inside.any(axis=0) & ~spent)  # free detections
        inside &= np.array([[(row, sv) not in taken for sv in sp.tolist()] for row in rows.tolist()], bool)
        # a cooperative track's echo is not for others
        inside &= coop_row | ~((inside & coop_row).any(axis=0) | reserved[pending])
        a, b = linear_sum_assignment(np.where(inside, d2 + np.linalg.slogdet(s)[1], 1e9))
        keep = inside[a, b]
        got, det = rows[a[keep]], b[keep]
        up, d = got[tracks.t_s[got] <= t + 1e-9], det[tracks.t_s[got] <= t + 1e-9]
        tracks._filter(up, np.full(len(up), t), zp[d].T, rp[d].transpose(1, 2, 0))
        tracks.sensed[up] = True
        # seeds: of the free detections from different sensors gated with each other, the most accurate
        e = zp[f][:, None] - zp[f][None]
        near = np.einsum(
            "abi,abi->ab", e, np.linalg.solve(rp[f][:, None] + rp[f][None], e[..., None])[..., 0]
        )
        label = connected_components((near <= gate) & (sp[f][:, None] != sp[f][None]), directed=False)[1]
        tr_r = np.trace(rp[f], axis1=1, axis2=2)
        seeds = np.sort([f[label == c][np.argmin(tr_r[label == c])] for c in np.unique(label)]).astype(int)
        r_seeds = rp[seeds].transpose(1, 2, 0)
        born = tracks._birth(zp[seeds].T, None, np.full(len(seeds), t), r_seeds, tracks._birth_var)
        tracks.sensed[born] = True
        tracks.vehicle[born] = -1
        if not len(got) and not len(born):
            break
        hit |= set(got.tolist()) | set(born.tolist())
        taken |= set(zip(got.tolist(), sp[det].tolist(), strict=True))
        taken |= set(zip(born.tolist(), sp[seeds].tolist(), strict=True))
        pending = np.delete(pending, np.r_[det, seeds, np.flatnonzero(spent)])
    rows = tracks.rows()
    x, p = tracks.predict(t, rows)
    coop, rank = tracks.cooperative, 2 * ~tracks.cooperative + ~tracks.confirmed
    lost = set()
    for b in (h for h in hit if tracks.t_s[h] == t):
        for k in np.flatnonzero((rows != b) & ~(coop[rows] & coop[b])):
            e = x[k] - tracks.state[:, b]
            if e @ np.linalg.solve(p[k] + tracks.cov[:, :, b], e) <= gate6:
                a = rows[k]
                kept = (rank[a], tracks.track_id[a]) < (rank[b], tracks.track_id[b])
                lost.add(b if kept else a)
    tracks._drop(np.array(sorted(lost), int))
    kept = turning[tracks.active[turning] & (tracks.t_s[turning] < t)]
    tracks._p[kept, 3:, 3:] -= step_var * I3  # a track the scan did not update keeps no step
    tentative = tentative[tracks.active[tentative]]
    tracks.scans[tentative] += 1
    tracks.hits[tentative] += np.isin(tentative, list(hit))
    later = [h for h in hit if tracks.active[h] and not tracks.confirmed[h]]
    tracks._confirm(np.union1d(tentative, later).astype(int))


def run_dense(scan, seed: int = 4) -> Tracks:
    """40 vehicles in 400 m x 400 m, pairs of them flying 3 m apart, 15 reporting (one a hair after each scan,
    one well after), three TRPs with detection covariances from 0.3 m to 8 m and clutter; 12 scans."""
    rng = np.random.default_rng(seed)
    tracks = Tracks()
    pos = np.c_[rng.uniform(0, 400, (40, 2)), rng.uniform(30, 120, 40)]
    pos[20:30] = pos[10:20] + np.array([3.0, 0.0, 0.0])  # clusters of several tracks and detections
    vel = rng.normal(0, 8, (40, 3)) * [1, 1, 0.1]
    vel[20:30] = vel[10:20]
    for k in range(12):
        t = float(k)
        sent = np.full(15, t - 0.2)
        sent[0], sent[1] = t + 5e-10, t + 0.5
        tracks.update_reports(np.arange(15), sent, pos[:15] + vel[:15] * sent[:, None], vel[:15])
        seen = rng.random((3, 40)) < 0.9
        sensor = np.repeat(np.arange(3), seen.sum(axis=1))
        truth = np.concatenate([pos[s] + vel[s] * t for s in seen])
        clutter = rng.poisson(6)
        sigma = np.exp(rng.uniform(np.log(0.3), np.log(8.0), len(truth) + clutter))
        r = spd(rng, len(sigma), 1.0) * sigma[:, None, None] ** 2
        z = np.r_[truth, rng.uniform([0, 0, 30], [400, 400, 120], (clutter, 3))]
        z += np.einsum("nij,nj->ni", np.linalg.cholesky(r), rng.normal(size=(len(z), 3)))
        scan(tracks, t, z, r, np.r_[sensor, rng.integers(0, 3, clutter)])
    return tracks


@pytest.mark.parametrize("seed", [4, 5, 6, 7])
def test_scan_equals_a_brute_force_scan(seed):
    """The scan's shortcuts (cell lists once per scan, only the columns a round moved gated again, clusters
    of one track or one detection by their cheapest pair, the others by the augmenting-path assignment)
    give the tracks of the brute-force scan, on several random dense scenes."""
    fast_tracks = run_dense(lambda tracks, *scan: tracks.update_sensing(*scan[:3], sensor=scan[3]), seed)
    slow_tracks = run_dense(lambda tracks, *scan: reference_scan(tracks, *scan), seed)
    assert len(fast_tracks) > 40  # the clutter's tentative tracks too
    rows = fast_tracks.rows()
    assert np.array_equal(rows, slow_tracks.rows())
    for name in ("t_s", "track_id", "vehicle", "hits", "scans", "confirmed", "cooperative", "sensed"):
        assert np.array_equal(getattr(fast_tracks, name)[rows], getattr(slow_tracks, name)[rows]), name
    np.testing.assert_allclose(fast_tracks.state[:, rows], slow_tracks.state[:, rows], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fast_tracks.cov[:, :, rows], slow_tracks.cov[:, :, rows], rtol=1e-9, atol=1e-9)


def test_sweep_finds_every_pair_within_the_radii():
    """The broad phase against all pairs: radii from 1 cm to 300 m (one wide point does not widen the search
    of the others), all pairs within the radii and none beyond them plus the pad, each once; with a split,
    the pairs across it."""
    rng = np.random.default_rng(9)
    n = 600
    pos = np.r_[rng.uniform(0, 2000, (2, n)), rng.uniform(0, 100, (1, n))]
    half = np.exp(rng.uniform(np.log(0.01), np.log(300.0), n))
    dist = np.linalg.norm(pos[:, :, None] - pos[:, None], axis=0)
    within = np.triu(dist <= half[:, None] + half[None], 1)
    i, j = fusion._near(pos, half)
    got = set(zip(i.tolist(), j.tolist(), strict=True))
    assert len(got) == len(i) and got >= set(zip(*within.nonzero(), strict=True))
    assert (dist[i, j] <= half[i] + half[j] + 2 * fusion._PAD_M).all() and (i < j).all()
    i, j = fusion._near(pos, half, split=200)
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == {(a, b) for a, b in got if a < 200 <= b}


def climb_out(seed: int) -> list:
    """A reporting multirotor lifts off a pad and climbs out as the kinematics fly it (vertical rate 0 to
    4 m/s at 2 m/s^2, then speeding up to 15 m/s at 2 m/s^2 on the level, each 1 s tick at the new velocity),
    a non-cooperative one hovering 40 m away, three TRPs seeing both every second to 0.3 m: the vehicle ids
    of the picture after each scan."""
    rng = np.random.default_rng(seed)
    tracks = Tracks()
    pos, vel = np.array([0.0, 0.0, 1.0]), np.zeros(3)
    other = np.array([40.0, 0.0, 60.0])
    cov = np.broadcast_to(I3 * 0.09, (6, 3, 3))
    pictures = []
    for k in range(40):
        want = np.array([0.0, 0.0, 4.0]) if pos[2] < 60.0 else np.array([15.0, 0.0, 0.0])
        vel = vel + np.clip(want - vel, -2.0, 2.0)  # 2 m/s^2 per axis
        if pos[2] + vel[2] > 60.0:  # levels off at 60 m
            vel[2] = 60.0 - pos[2]
        pos = pos + vel
        tracks.update_reports([7], float(k), [pos], [vel])
        truth = np.array([pos, pos, pos, other, other, other])
        z = truth + rng.normal(size=(6, 3)) * 0.3
        tracks.update_sensing(float(k), z, cov, sensor=[0, 1, 2, 0, 1, 2])
        pictures.append(sorted(tracks.picture(float(k)).vehicle.tolist()))
    return pictures


@pytest.mark.parametrize("seed", range(5))
def test_a_cooperative_drone_climbing_out_of_a_hub_spawns_no_sensing_only_track(seed):
    """Its speed and climb-rate changes (1-2 m/s per report) are below the manoeuvre switch's gate; the track
    takes them from the reported velocity (``nu^2 / dt`` per axis), so its own echoes stay inside its gate and
    no twin is confirmed. The non-cooperative drone beside it is tracked: one sensing-only track from its
    third scan on."""
    for k, vehicles in enumerate(climb_out(seed)):
        assert vehicles[-1] == 7 and vehicles.count(7) == 1, (k, vehicles)
        sensed = [v for v in vehicles if v < 0]
        assert len(sensed) == (1 if k >= 2 else 0), (k, vehicles)


def hovering_reporter(t_end: int) -> tuple[Tracks, np.ndarray, float]:
    """A hovering vehicle reporting each second up to ``t_end``; its track, position and the offset ``d`` of
    an echo (0.2 m sigma) with ``d^2 = 4`` along x against the track predicted to ``t_end``."""
    tracks, pos = Tracks(), np.array([0.0, 0.0, 60.0])
    for k in range(t_end + 1):
        tracks.update_reports([3], float(k), [pos], [np.zeros(3)])
    _, p = tracks.predict(float(t_end), tracks.rows())
    return tracks, pos, 2.0 * float(np.sqrt(p[0, 0, 0] + 0.2**2))


def test_an_echo_inside_a_gate_at_the_start_of_the_scan_starts_no_track():
    """Two TRPs' echoes of a reporting vehicle, 2 sigma either side of its track, both in its gate as
    predicted to the scan. The first round updates the track with one; tested against the shrunken posterior
    the other is then far outside (d^2 about 20), but it is the same vehicle's echo: it starts no tentative
    track."""
    tracks, pos, d = hovering_reporter(5)
    z = [pos + d * EX, pos - d * EX]
    tracks.update_sensing(5.0, z, np.broadcast_to(I3 * 0.2**2, (2, 3, 3)), sensor=[0, 1])
    assert len(tracks) == 1 and tracks.cooperative[tracks.rows()].all()


def test_echoes_a_cooperative_track_explains_do_not_feed_a_sensing_only_track_beside_it():
    """A tentative sensing-only track beside a reporting vehicle (one outlier echo 8 m off started it; its
    unknown velocity makes its gate wide). Each next scan two TRPs see the vehicle 2 sigma either side of its
    predicted track: the one the cooperative track does not take in the first round is still its vehicle's
    echo and does not go to the tentative track, which is dropped unconfirmed. A non-cooperative target
    300 m away (out of the tentative track's reach), seen by both TRPs, is one sensing-only track from its
    third scan."""
    tracks, pos, _ = hovering_reporter(5)
    other = np.array([300.0, 0.0, 60.0])
    r = np.broadcast_to(I3 * 0.2**2, (4, 3, 3))
    tracks.update_sensing(5.0, [pos + 8.0 * np.roll(EX, 1), other, other], r[:3], sensor=[0, 0, 1])
    assert len(tracks) == 3
    for k in range(6, 14):
        tracks.update_reports([3], float(k), [pos], [np.zeros(3)])
        x, p = tracks.predict(float(k), tracks.rows()[tracks.cooperative[tracks.rows()]])
        d = 2.0 * np.sqrt(p[0, 0, 0] + 0.2**2) * (-1) ** k  # either side of the prediction, alternately first
        z = [x[0, :3] + d * EX, x[0, :3] - d * EX, other, other + 0.1 * EX]
        tracks.update_sensing(float(k), z, r, sensor=[0, 1, 0, 1])
        pic = tracks.picture(float(k))
        assert sorted(pic.vehicle.tolist())[-1] == 3 and len(pic) == (2 if k >= 7 else 1), k
        assert np.linalg.norm(pic.pos_m[pic.vehicle < 0] - other, axis=1).max(initial=0.0) < 1.0, k
    assert len(tracks) == 2
