"""utm.tactical: closed-form encounters, broad phase against brute force, MVP keeps pairs out of LoS.

Oracles are independent of the code under test: encounter geometry worked out by hand, all-pairs loops
(numpy ``triu_indices`` over every pair) for the indexed paths, and ``los_pairs`` over a flown
trajectory for the resolution.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from utm import neighbours, tactical
from utm.errors import InvalidRequest
from utm.tactical import Conflicts, candidate_pairs, conflict_intervals, detect, los_pairs, mvp

R_M, H_M = 50.0, 15.0
ZONE = {"radius_m": R_M, "half_height_m": H_M}


def intervals(dpos, dvel, lookahead_s=60.0):
    """conflict_intervals on one pair, as plain floats and a bool."""
    t_in, t_out, t_cpa, d_cpa, hit = conflict_intervals([dpos], [dvel], lookahead_s=lookahead_s, **ZONE)
    return float(t_in[0]), float(t_out[0]), float(t_cpa[0]), float(d_cpa[0]), bool(hit[0])


# --- closed-form encounters -------------------------------------------------------------------------


def test_head_on():
    """Oracle: 1000 m apart closing at 2 x 15 m/s, no offset: CPA at 1000/30 s, miss 0 m, the zone
    entered at (1000 - 50)/30 s and left at (1000 + 50)/30 s."""
    t_in, t_out, t_cpa, d_cpa, hit = intervals((1000.0, 0.0, 0.0), (-30.0, 0.0, 0.0))
    assert hit
    assert t_cpa == pytest.approx(1000.0 / 30.0)
    assert d_cpa == pytest.approx(0.0, abs=1e-9)
    assert t_in == pytest.approx(950.0 / 30.0)
    assert t_out == pytest.approx(1050.0 / 30.0)


def test_head_on_detected_from_positions():
    """Oracle: the same head-on flown by two vehicles, rows given in reverse, yields the pair (0, 1)."""
    pos = [[1000.0, 0.0, 60.0], [0.0, 0.0, 60.0]]
    vel = [[-15.0, 0.0, 0.0], [15.0, 0.0, 0.0]]
    c = detect(pos, vel, lookahead_s=60.0, **ZONE)
    assert (c.i.tolist(), c.j.tolist()) == ([0], [1])
    assert c.t_in_s[0] == pytest.approx(950.0 / 30.0)
    assert c.t_cpa_s[0] == pytest.approx(1000.0 / 30.0)


def test_crossing_at_right_angles():
    """Oracle: i flies east from (-600, 0), j north from (0, -600), both 15 m/s: they meet at the origin at
    40 s; the relative speed is 15 sqrt(2), so the zone is crossed in 2 x 50 / (15 sqrt(2)) s."""
    t_in, t_out, t_cpa, d_cpa, hit = intervals((600.0, -600.0, 0.0), (-15.0, 15.0, 0.0))
    half_s = R_M / (15.0 * math.sqrt(2.0))
    assert hit
    assert (t_cpa, t_in, t_out) == pytest.approx((40.0, 40.0 - half_s, 40.0 + half_s))
    assert d_cpa == pytest.approx(0.0, abs=1e-9)


def test_crossing_with_offset_misses():
    """Oracle: j starts 100 m further south: at the CPA (130/3 s) j is at (-50, -50) relative to i, a
    miss of 50 sqrt(2) m > 50 m, so no conflict."""
    t_in, t_out, t_cpa, d_cpa, hit = intervals((600.0, -700.0, 0.0), (-15.0, 15.0, 0.0))
    assert not hit and math.isnan(t_in) and math.isnan(t_out)
    assert t_cpa == pytest.approx(130.0 / 3.0)
    assert d_cpa == pytest.approx(50.0 * math.sqrt(2.0))


@pytest.mark.parametrize(
    ("lookahead_s", "expected"),
    [(60.0, True), (30.0 + 1e-9, True), (30.0, False), (29.0, False)],
    ids=["long", "just-after-entry", "entry-at-horizon", "short"],
)
def test_overtaking(lookahead_s, expected):
    """Oracle: j 200 m behind i on the same track, 5 m/s faster: enters at (200 - 50)/5 = 30 s, CPA 40 s,
    leaves at 50 s. Entering exactly at the look-ahead is not a conflict (LoS is an open set)."""
    t_in, t_out, t_cpa, _, hit = intervals((-200.0, 0.0, 0.0), (5.0, 0.0, 0.0), lookahead_s)
    assert hit is expected
    assert t_cpa == pytest.approx(min(40.0, lookahead_s))
    if expected:
        assert (t_in, t_out) == pytest.approx((30.0, 50.0))


def test_vertical_encounter():
    """Oracle: j hovers 20 m from i horizontally and 60 m below, climbing at 2 m/s: |dz| < 15 m from
    (60 - 15)/2 = 22.5 s to (60 + 15)/2 = 37.5 s; no horizontal motion, so the CPA is now at 20 m."""
    t_in, t_out, t_cpa, d_cpa, hit = intervals((0.0, 20.0, -60.0), (0.0, 0.0, 2.0))
    assert hit
    assert (t_in, t_out, t_cpa, d_cpa) == pytest.approx((22.5, 37.5, 0.0, 20.0))


def test_parallel_same_velocity_in_los_never_ends():
    """Oracle: 30 m apart, 5 m vertically, identical velocity: in LoS now (t_in 0) and forever (inf)."""
    t_in, t_out, t_cpa, d_cpa, hit = intervals((30.0, 0.0, 5.0), (0.0, 0.0, 0.0))
    assert hit and t_in == 0.0 and t_out == math.inf
    assert (t_cpa, d_cpa) == (0.0, 30.0)


def test_in_los_and_diverging_is_a_conflict_until_it_ends():
    """Oracle: 40 m apart and opening at 10 m/s: LoS now, ending at (50 - 40)/10 = 1 s."""
    t_in, t_out, _, _, hit = intervals((40.0, 0.0, 0.0), (10.0, 0.0, 0.0))
    assert hit and t_in == 0.0 and t_out == pytest.approx(1.0)


def test_diverging_pair_is_no_conflict():
    """Oracle: 100 m apart and opening at 10 m/s: closest now (t_cpa clipped to 0) at 100 m."""
    t_in, _, t_cpa, d_cpa, hit = intervals((100.0, 0.0, 0.0), (10.0, 0.0, 0.0))
    assert not hit and math.isnan(t_in)
    assert (t_cpa, d_cpa) == (0.0, 100.0)


@pytest.mark.parametrize(
    ("dpos", "dvel", "expected"),
    [
        ((1000.0, 50.0, 0.0), (-30.0, 0.0, 0.0), False),  # grazes the cylinder's side exactly
        ((1000.0, 49.0, 0.0), (-30.0, 0.0, 0.0), True),
        ((30.0, 0.0, 15.0), (0.0, 0.0, 0.0), False),  # level with the cylinder's top, forever
        ((30.0, 0.0, 14.0), (0.0, 0.0, 0.0), True),
        ((50.0, 0.0, 0.0), (0.0, 0.0, 0.0), False),  # on the side, not moving
    ],
    ids=["side-graze", "side-1m-in", "top-touch", "top-1m-in", "side-touch"],
)
def test_zone_boundary_is_strict(dpos, dvel, expected):
    """Oracle: the zone is open (distance < R and |dz| < H); touching it is no LoS and no conflict."""
    assert intervals(dpos, dvel)[4] is expected
    pos = np.array([[0.0, 0.0, 60.0], np.add((0.0, 0.0, 60.0), dpos)])
    in_los_now = bool(np.hypot(*dpos[:2]) < R_M and abs(dpos[2]) < H_M)
    assert len(los_pairs(pos, **ZONE)) == int(in_los_now)


# --- broad phase against brute force ----------------------------------------------------------------


def brute_force(pos, vel, lookahead_s, radius_m, half_height_m):
    """All n (n - 1) / 2 pairs through conflict_intervals: the oracle of detect."""
    pos, vel = np.asarray(pos, float).reshape(-1, 3), np.asarray(vel, float).reshape(-1, 3)
    i, j = np.triu_indices(len(pos), k=1)
    out = conflict_intervals(
        pos[j] - pos[i], vel[j] - vel[i], lookahead_s=lookahead_s, radius_m=radius_m,
        half_height_m=half_height_m,
    )  # fmt: skip
    hit = out[4]
    return Conflicts(i[hit], j[hit], *(a[hit] for a in out[:4]))


def assert_same(got: Conflicts, want: Conflicts) -> None:
    for name in ("i", "j", "t_in_s", "t_out_s", "t_cpa_s", "d_cpa_m"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


@st.composite
def traffic(draw, max_n=40):
    """Up to ``max_n`` vehicles in a box of random size (10 m to 1000 km: dense to very spread), with
    horizontal and vertical speeds (some level, some on integer metres to hit exact boundaries)."""
    n = draw(st.integers(0, max_n))
    span_m = draw(st.sampled_from([10.0, 300.0, 2000.0, 1e6]))
    coord = st.floats(-span_m, span_m, allow_nan=False) | st.integers(-200, 200).map(float)
    speed = st.floats(-25.0, 25.0, allow_nan=False) | st.sampled_from([0.0, 15.0, -15.0])
    climb = st.floats(-5.0, 5.0, allow_nan=False) | st.just(0.0)
    pos = draw(st.lists(st.tuples(coord, coord, coord.map(lambda z: z / 10.0)), min_size=n, max_size=n))
    vel = draw(st.lists(st.tuples(speed, speed, climb), min_size=n, max_size=n))
    return np.array(pos, float).reshape(-1, 3), np.array(vel, float).reshape(-1, 3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fleet=traffic(),
    lookahead_s=st.sampled_from([0.0, 1.0, 30.0, 120.0]),
    radius_m=st.sampled_from([10.0, 50.0, 150.0]),
    half_height_m=st.sampled_from([5.0, 15.0]),
    windows=st.integers(1, 6),
    cells=st.sampled_from([0, 1, 4]),
)
def test_detect_equals_brute_force(fleet, lookahead_s, radius_m, half_height_m, windows, cells):
    """Oracle: every pair through conflict_intervals. The look-ahead windows (1-6; the cost model picks
    1 for small fleets) and the cell budget are forced, since the answer must not depend on them; a
    budget of 0 per vehicle and 1e6 m boxes force coarser cells."""
    pos, vel = fleet
    zone = {"lookahead_s": lookahead_s, "radius_m": radius_m, "half_height_m": half_height_m}
    with pytest.MonkeyPatch.context() as m:
        m.setattr(tactical, "_slices", lambda *_: windows)
        m.setattr(neighbours, "_CELLS_PER_POINT", cells)
        got = detect(pos, vel, **zone)
        cand = candidate_pairs(pos, vel, **zone)
    want = brute_force(pos, vel, **zone)
    assert_same(got, want)
    keys = cand[:, 0] * max(len(pos), 1) + cand[:, 1]
    assert (cand[:, 0] < cand[:, 1]).all() and (np.diff(keys) > 0).all()  # sorted, unique, i < j
    assert set(zip(want.i.tolist(), want.j.tolist(), strict=True)) <= set(map(tuple, cand.tolist()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=traffic(max_n=25), data=st.data())
def test_detect_with_per_vehicle_growth_equals_brute_force(fleet, data):
    """Oracle: each pair through conflict_intervals with its own zone, R + hypot(g_i, g_j)."""
    pos, vel = fleet
    n = len(pos)
    grow = st.lists(st.floats(0.0, 80.0, allow_nan=False) | st.just(0.0), min_size=n, max_size=n)
    gh, gv = np.array(data.draw(grow), float), np.array(data.draw(grow), float) / 4.0
    got = detect(pos, vel, lookahead_s=30.0, radius_m=50.0, half_height_m=15.0, grow_h_m=gh, grow_v_m=gv)
    want = []
    for i in range(n):
        for j in range(i + 1, n):
            t_in, t_out, t_cpa, d_cpa, hit = conflict_intervals(
                pos[[j]] - pos[[i]],
                vel[[j]] - vel[[i]],
                lookahead_s=30.0,
                radius_m=50.0 + math.hypot(gh[i], gh[j]),
                half_height_m=15.0 + math.hypot(gv[i], gv[j]),
            )
            if hit[0]:
                want.append((i, j, t_in[0], t_out[0], t_cpa[0], d_cpa[0]))
    assert [(int(a), int(b)) for a, b in zip(got.i, got.j, strict=True)] == [w[:2] for w in want]
    for k, name in enumerate(("t_in_s", "t_out_s", "t_cpa_s", "d_cpa_m"), start=2):
        np.testing.assert_allclose(getattr(got, name), [w[k] for w in want], rtol=1e-9, atol=1e-9)
    zero = detect(pos, vel, lookahead_s=30.0, radius_m=50.0, half_height_m=15.0, grow_h_m=np.zeros(n))
    assert_same(zero, detect(pos, vel, lookahead_s=30.0, radius_m=50.0, half_height_m=15.0))


def test_bad_growth_is_refused_naming_the_field():
    pos, vel = np.zeros((2, 3)), np.zeros((2, 3))
    zone = {"lookahead_s": 30.0, "radius_m": 50.0, "half_height_m": 15.0}
    with pytest.raises(InvalidRequest, match="grow_h_m"):
        detect(pos, vel, **zone, grow_h_m=[1.0, -1.0])
    with pytest.raises(InvalidRequest, match="grow_v_m"):
        detect(pos, vel, **zone, grow_v_m=[1.0])


@pytest.mark.parametrize("windows", [None, 1, 3])
def test_detect_equals_brute_force_on_dense_traffic(windows, monkeypatch):
    """Oracle: all pairs of 1500 vehicles in 3 km x 3 km (hundreds of conflicts, climbs included)."""
    rng = np.random.default_rng(7)
    n = 1500
    pos = np.column_stack([rng.uniform(0, 3000, n), rng.uniform(0, 3000, n), rng.uniform(30, 120, n)])
    heading = rng.uniform(0.0, 2.0 * np.pi, n)
    speed = rng.uniform(5.0, 20.0, n)
    climb = np.where(rng.random(n) < 0.3, rng.uniform(-3.0, 3.0, n), 0.0)
    vel = np.column_stack([speed * np.cos(heading), speed * np.sin(heading), climb])
    zone = {"lookahead_s": 30.0, "radius_m": R_M, "half_height_m": H_M}
    if windows is not None:
        monkeypatch.setattr(tactical, "_slices", lambda *_: windows)
    got, want = detect(pos, vel, **zone), brute_force(pos, vel, **zone)
    assert len(want) > 200
    assert_same(got, want)


def brute_los(pos, radius_m, half_height_m):
    """Every pair against the strict cylinder: the oracle of los_pairs."""
    pos = np.asarray(pos, float).reshape(-1, 3)
    i, j = np.triu_indices(len(pos), k=1)
    d = pos[j] - pos[i]
    inside = (np.hypot(d[:, 0], d[:, 1]) < radius_m) & (np.abs(d[:, 2]) < half_height_m)
    return np.stack([i[inside], j[inside]], axis=1)


@settings(max_examples=200, deadline=None)
@given(
    fleet=traffic(),
    radius_m=st.sampled_from([10.0, 50.0]),
    half_height_m=st.sampled_from([5.0, 15.0]),
)
def test_los_pairs_equals_brute_force(fleet, radius_m, half_height_m):
    """Oracle: every pair against the strict cylinder (integer coordinates hit the boundary exactly)."""
    pos, _ = fleet
    got = los_pairs(pos, radius_m=radius_m, half_height_m=half_height_m)
    np.testing.assert_array_equal(got, brute_los(pos, radius_m, half_height_m).reshape(-1, 2))


@pytest.mark.parametrize("cells", [None, 0])
def test_los_pairs_equals_brute_force_on_dense_traffic(cells, monkeypatch):
    """Oracle: every pair of 3000 vehicles in 2 km x 2 km against the strict cylinder (hundreds in LoS);
    a cell budget of 0 per vehicle forces coarse cells."""
    rng = np.random.default_rng(3)
    n = 3000
    pos = np.column_stack([rng.uniform(0, 2000, n), rng.uniform(0, 2000, n), rng.uniform(30, 120, n)])
    pos[::7] = np.round(pos[::7])  # integer metres: exact boundary cases
    if cells is not None:
        monkeypatch.setattr(neighbours, "_CELLS_PER_POINT", cells)
    want = brute_los(pos, R_M, H_M)
    assert len(want) > 200
    np.testing.assert_array_equal(los_pairs(pos, **ZONE), want)


# --- resolution ---------------------------------------------------------------------------------------


def fly(pos, vel, *, steps, priority, resolve=True, lookahead_s=30.0, **options):
    """Euler integration at 1 s; each step detects, resolves (vel += dv) and moves. Returns the LoS
    pairs seen at any step and the sum of |dv| applied per vehicle."""
    pos, vel = np.array(pos, float), np.array(vel, float)
    seen, work = set(), np.zeros(len(pos))
    for _ in range(steps):
        if resolve:
            c = detect(pos, vel, lookahead_s=lookahead_s, **ZONE)
            dv = mvp(pos, vel, c, lookahead_s=lookahead_s, priority=priority, **ZONE, **options)
            vel += dv
            work += np.linalg.norm(dv, axis=1)
        pos += vel * 1.0
        seen |= set(map(tuple, los_pairs(pos, **ZONE).tolist()))
    return seen, work


HEAD_ON = ([[0.0, 0.0, 60.0], [1000.0, 0.0, 60.0]], [[15.0, 0.0, 0.0], [-15.0, 0.0, 0.0]])
CROSSING = ([[-600.0, 0.0, 60.0], [0.0, -600.0, 60.0]], [[15.0, 0.0, 0.0], [0.0, 15.0, 0.0]])
ENCOUNTERS = {"head-on": HEAD_ON, "crossing": CROSSING}


@pytest.mark.parametrize("vertical", [True, False], ids=["vertical-allowed", "horizontal-only"])
@pytest.mark.parametrize("priority", [[0, 0], [1, 0], [0, 1]], ids=["equal", "first-first", "second-first"])
@pytest.mark.parametrize("encounter", ENCOUNTERS)
def test_mvp_flown_encounter_never_enters_los(encounter, priority, vertical):
    """Oracle: los_pairs at every 1 s step of the flown trajectory. Unresolved, the same encounter does
    enter LoS; resolved, it never does, and a higher-priority vehicle never manoeuvres."""
    pos, vel = ENCOUNTERS[encounter]
    assert fly(pos, vel, steps=120, priority=priority, resolve=False)[0] == {(0, 1)}
    seen, work = fly(pos, vel, steps=120, priority=priority, vertical=vertical)
    assert seen == set()
    for row, other in ((0, 1), (1, 0)):
        if priority[row] > priority[other]:
            assert work[row] == 0.0 and work[other] > 0.0
    if priority[0] == priority[1]:
        assert work[0] == pytest.approx(work[1])


def test_mvp_head_on_turns_both_right_and_priority_holds_still():
    """Oracle: a level head-on resolved horizontally; i flies east, j west, so 'both turn right' is
    i south and j north; with priority the other vehicle takes the whole change."""
    pos, vel = np.array(HEAD_ON[0]), np.array(HEAD_ON[1])
    pos[1, 0] = 900.0
    c = detect(pos, vel, lookahead_s=60.0, **ZONE)
    opts = {"lookahead_s": 60.0, "vertical": False, **ZONE}
    shared = mvp(pos, vel, c, priority=[0, 0], **opts)
    assert shared[0, 1] < 0.0 < shared[1, 1]
    assert shared[0] == pytest.approx(-shared[1])
    first = mvp(pos, vel, c, priority=[5, 1], **opts)
    assert (first[0] == 0.0).all()
    assert first[1] == pytest.approx(2.0 * shared[1])


@pytest.mark.parametrize(
    ("offset_m", "dz_m", "vertical"),
    [(0.0, 0.0, True), (0.0, 14.0, True), (45.0, 0.0, False), (45.0, 14.0, True)],
    ids=["level", "j-above", "offset-level", "offset-j-above"],
)
def test_mvp_goes_vertical_only_when_cheaper(offset_m, dz_m, vertical):
    """Oracle: escaping sideways needs 55 m - offset (plus the small rotation term), vertically
    16.5 m - dz: head-on 0 m offset -> 55 vs 16.5 (vertical, j level so j climbs); 45 m offset level ->
    ~10 vs 16.5 (horizontal); 45 m offset with j 14 m above -> ~10 vs 2.5 (vertical, j climbs)."""
    pos = np.array([[0.0, 0.0, 60.0], [900.0, offset_m, 60.0 + dz_m]])
    vel = np.array(HEAD_ON[1])
    c = detect(pos, vel, lookahead_s=60.0, **ZONE)
    assert len(c) == 1
    dv = mvp(pos, vel, c, lookahead_s=60.0, priority=[0, 0], **ZONE)
    if vertical:
        assert dv[1, 2] > 0.0 > dv[0, 2] and (dv[:, :2] == 0.0).all()
    else:
        assert (dv[:, 2] == 0.0).all() and dv[1, 1] > 0.0 > dv[0, 1]


def separate_encounters(rng, k, *, lookahead_s, margin, radius_m):
    """``k`` converging pairs (rows 2p, 2p + 1), 20 km apart so each vehicle is in its own conflict only:
    the horizontal CPA at 2 s .. lookahead_s, missing by less than ``radius_m[p]``, from a distance beyond
    ``margin * radius_m[p]`` (outside the enlarged zone), both vehicles moving, level."""
    u = rng.uniform(0.0, 2.0 * math.pi, k)
    ahead, side = np.column_stack([np.cos(u), np.sin(u)]), np.column_stack([-np.sin(u), np.cos(u)])
    closing = rng.uniform(5.0, 35.0, k)
    t_cpa = rng.uniform(2.0, lookahead_s, k)
    t_cpa = np.maximum(t_cpa, 1.5 * margin * radius_m / closing)  # starts outside margin x its zone
    miss = rng.uniform(0.0, 0.95, k) * radius_m
    dpos = side * miss[:, None] - ahead * (closing * t_cpa)[:, None]
    v_i = rng.uniform(-15.0, 15.0, (k, 2))
    pos, vel = np.zeros((2 * k, 3)), np.zeros((2 * k, 3))
    pos[0::2, 0] = np.arange(k) * 20000.0
    pos[1::2, :2] = pos[0::2, :2] + dpos
    pos[:, 2] = 60.0
    vel[0::2, :2], vel[1::2, :2] = v_i, v_i + ahead * closing[:, None]
    return pos, vel


def resolved_miss_m(pos, vel, dv):
    """Closed-form horizontal closest approach of each pair (2p, 2p + 1) on its resolved relative
    velocity: |d x v'| / |v'| (the CPAs are ahead, so the unclipped line distance)."""
    d = pos[1::2, :2] - pos[0::2, :2]
    v = (vel + dv)[1::2, :2] - (vel + dv)[0::2, :2]
    assert ((d * v).sum(axis=1) < 0.0).all()  # still closing: the CPA is ahead
    return np.abs(d[:, 0] * v[:, 1] - d[:, 1] * v[:, 0]) / np.hypot(v[:, 0], v[:, 1])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mvp_clears_margin_times_each_pairs_own_zone(seed):
    """Oracle: the closed-form CPA of each resolved relative track. With per-pair zones R + hypot(g_i, g_j)
    (the radii detect used), every pair, whatever its zone and right of way, now passes margin x its own
    zone (BlueSky's rotation correction makes the resolved track tangent to it); aiming at the nominal
    R leaves every inflated pair short of its zone x margin."""
    rng = np.random.default_rng(seed)
    k, lookahead_s, margin = 60, 45.0, 1.1
    grow = rng.choice([0.0, 5.0, 20.0, 60.0], 2 * k)
    zone_m = R_M + np.hypot(grow[0::2], grow[1::2])
    pos, vel = separate_encounters(rng, k, lookahead_s=lookahead_s, margin=margin, radius_m=zone_m)
    c = detect(pos, vel, lookahead_s=lookahead_s, **ZONE, grow_h_m=grow)
    np.testing.assert_array_equal(c.i, np.arange(0, 2 * k, 2))
    np.testing.assert_array_equal(c.j, c.i + 1)
    radius = R_M + np.hypot(grow.take(c.i), grow.take(c.j))
    opts = {"lookahead_s": lookahead_s, "half_height_m": H_M, "priority": rng.integers(0, 2, 2 * k)}
    dv = mvp(pos, vel, c, radius_m=radius, vertical=False, margin=margin, **opts)
    np.testing.assert_allclose(resolved_miss_m(pos, vel, dv), margin * zone_m, rtol=1e-9)
    nominal = resolved_miss_m(pos, vel, mvp(pos, vel, c, radius_m=R_M, vertical=False, margin=margin, **opts))
    unresolved = resolved_miss_m(pos, vel, np.zeros_like(vel))
    np.testing.assert_allclose(nominal, np.maximum(unresolved, margin * R_M), rtol=1e-9)
    inflated = zone_m > R_M
    assert inflated.sum() > k // 2 and (nominal[inflated] < margin * zone_m[inflated]).all()


def test_mvp_climbs_to_margin_times_each_pairs_own_half_height():
    """Oracle: head-on pairs (vertical is the cheaper escape) with different half-heights; the resolved
    vertical separation at the (unchanged) horizontal CPA is margin x each pair's own half-height."""
    half = np.array([15.0, 10.0, 22.0])
    pos = np.array([[0.0, 0.0, 60.0], [900.0, 0.0, 64.0]] * 3)
    pos[2:4, 0] += 20000.0
    pos[4:6, 0] += 40000.0
    vel = np.array(HEAD_ON[1] * 3)
    c = detect(pos, vel, lookahead_s=60.0, **ZONE)
    assert len(c) == 3
    dv = mvp(pos, vel, c, radius_m=R_M, half_height_m=half, lookahead_s=60.0, priority=np.zeros(6))
    assert (dv[:, :2] == 0.0).all()
    t = 900.0 / 30.0
    dz = (pos[1::2, 2] - pos[0::2, 2]) + (dv[1::2, 2] - dv[0::2, 2]) * t
    np.testing.assert_allclose(dz, 1.1 * half, rtol=1e-12)


def test_mvp_scalar_zone_is_the_same_as_one_per_pair():
    """Oracle: the scalar zone broadcast by hand to every conflict; byte-identical changes."""
    rng = np.random.default_rng(7)
    n = 2000
    pos = np.column_stack([rng.uniform(0, 4000, n), rng.uniform(0, 4000, n), rng.uniform(30, 122, n)])
    vel = np.column_stack([rng.uniform(-18, 18, n), rng.uniform(-18, 18, n), rng.uniform(-2, 2, n)])
    c = detect(pos, vel, lookahead_s=30.0, **ZONE)
    assert len(c) > 100
    opts = {"lookahead_s": 30.0, "priority": rng.integers(0, 3, n)}
    scalar = mvp(pos, vel, c, **ZONE, **opts)
    each = mvp(pos, vel, c, radius_m=np.full(len(c), R_M), half_height_m=np.full(len(c), H_M), **opts)
    assert scalar.tobytes() == each.tobytes()


def test_mvp_refuses_bad_per_pair_zones_naming_the_field():
    """Oracle: the field (and the conflict) named in the error."""
    pos = np.array([[0.0, 0.0, 60.0], [900.0, 0.0, 60.0], [1800.0, 0.0, 60.0]])
    vel = np.array([[15.0, 0.0, 0.0], [-15.0, 0.0, 0.0], [-45.0, 0.0, 0.0]])
    c = detect(pos, vel, lookahead_s=60.0, **ZONE)
    assert len(c) == 3  # all three meet at x = 450 m
    opts = {"lookahead_s": 60.0, "priority": [0, 0, 0]}
    for radius, half, field in (
        ([50.0, np.nan, 50.0], H_M, "radius_m[1]"),
        ([50.0, 50.0], H_M, "radius_m"),
        (R_M, [15.0, 15.0, 0.0], "half_height_m[2]"),
        (-1.0, H_M, "radius_m"),
        ([50.0, 50.0, 2e6], H_M, "radius_m[2]"),
    ):
        with pytest.raises(InvalidRequest) as err:
            mvp(pos, vel, c, radius_m=radius, half_height_m=half, **opts)
        assert err.value.field == field


def test_mvp_no_conflicts_no_change():
    """Oracle: nothing to resolve -> a zero array of the fleet's shape."""
    pos, vel = np.zeros((3, 3)), np.zeros((3, 3))
    empty = detect(np.empty((0, 3)), np.empty((0, 3)), lookahead_s=30.0, **ZONE)
    np.testing.assert_array_equal(mvp(pos, vel, empty, lookahead_s=30.0, priority=[0, 0, 0], **ZONE), pos)


# --- degenerate input, errors, determinism ------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_vehicles_give_empty_results(n):
    """Oracle: no pair exists."""
    pos, vel = np.full((n, 3), 10.0), np.ones((n, 3))
    c = detect(pos, vel, lookahead_s=30.0, **ZONE)
    assert len(c) == 0 and c.i.dtype == np.int64
    assert candidate_pairs(pos, vel, lookahead_s=30.0, **ZONE).shape == (0, 2)
    assert los_pairs(pos, **ZONE).shape == (0, 2)
    assert mvp(pos, vel, c, lookahead_s=30.0, priority=np.zeros(n), **ZONE).shape == (n, 3)


@pytest.mark.parametrize(
    ("pos", "vel", "field"),
    [
        ([[0.0, np.nan, 0.0], [1.0, 1.0, 1.0]], np.zeros((2, 3)), "pos_m[0, 1]"),
        (np.zeros((2, 3)), [[0.0, 0.0, 0.0], [np.inf, 0.0, 0.0]], "vel_mps[1, 0]"),
        (np.zeros((2, 2)), np.zeros((2, 2)), "pos_m"),
        (np.zeros((2, 3)), np.zeros((3, 3)), "vel_mps"),
        ([[0.0, 0.0, 0.0], [0.0, 0.0, 2e8]], np.zeros((2, 3)), "pos_m[1, 2]"),
    ],
    ids=["nan-position", "inf-velocity", "not-3d", "row-mismatch", "beyond-any-airspace"],
)
def test_bad_arrays_are_refused_naming_the_field(pos, vel, field):
    """Oracle: the field path in the error (STYLE 2.10), a ValueError for every caller."""
    for call in (detect, candidate_pairs):
        with pytest.raises(InvalidRequest) as err:
            call(pos, vel, lookahead_s=30.0, **ZONE)
        assert err.value.field == field and isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"lookahead_s": -1.0, **ZONE}, "lookahead_s"),
        ({"lookahead_s": 30.0, "radius_m": 0.0, "half_height_m": H_M}, "radius_m"),
        ({"lookahead_s": 30.0, "radius_m": R_M, "half_height_m": math.nan}, "half_height_m"),
        ({"lookahead_s": math.inf, **ZONE}, "lookahead_s"),
    ],
)
def test_bad_zone_is_refused_naming_the_field(options, field):
    """Oracle: the field named in the error."""
    with pytest.raises(InvalidRequest) as err:
        detect(np.zeros((2, 3)), np.zeros((2, 3)), **options)
    assert err.value.field == field


def test_mvp_refuses_bad_priority_and_margin():
    """Oracle: the field named in the error."""
    pos, vel = np.zeros((2, 3)), np.zeros((2, 3))
    c = detect(pos, vel, lookahead_s=30.0, **ZONE)
    with pytest.raises(InvalidRequest, match="priority"):
        mvp(pos, vel, c, lookahead_s=30.0, priority=[0], **ZONE)
    with pytest.raises(InvalidRequest, match="margin"):
        mvp(pos, vel, c, lookahead_s=30.0, priority=[0, 0], margin=0.5, **ZONE)


def test_same_input_gives_identical_output():
    """Oracle: a second run (on copies of the input) returns byte-identical arrays, sorted by (i, j)."""
    rng = np.random.default_rng(11)
    n = 3000
    pos = np.column_stack([rng.uniform(0, 5000, n), rng.uniform(0, 5000, n), rng.uniform(30, 122, n)])
    vel = np.column_stack([rng.uniform(-18, 18, n), rng.uniform(-18, 18, n), rng.uniform(-2, 2, n)])
    zone = {"lookahead_s": 30.0, **ZONE}
    a, b = detect(pos, vel, **zone), detect(pos.copy(), vel.copy(), **zone)
    assert len(a) > 0
    assert_same(a, b)
    assert (np.diff(a.i * n + a.j) > 0).all()
    priority = rng.integers(0, 3, n)
    dv_a = mvp(pos, vel, a, priority=priority, **zone)
    dv_b = mvp(pos.copy(), vel.copy(), b, priority=priority.copy(), **zone)
    assert dv_a.tobytes() == dv_b.tobytes()
    np.testing.assert_array_equal(los_pairs(pos, **ZONE), los_pairs(pos.copy(), **ZONE))
