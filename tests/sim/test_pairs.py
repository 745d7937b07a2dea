"""Pair episodes and alerts against brute-force replays with Python sets and times (the oracles)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.pairs import PairAlerts, PairEpisodes, pair_keys, split_keys

frames = st.lists(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.floats(0, 100)), max_size=8),
    min_size=1,
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(frames)
def test_episodes_match_a_set_replay(sequence):
    """Oracle: starts/ends from set differences, worst from a running min per open pair."""
    episodes = PairEpisodes()
    open_pairs: dict[tuple[int, int], tuple[float, float]] = {}
    for t, frame in enumerate([*sequence, []]):
        frame = [(a, b, m) for a, b, m in frame if a != b]
        now: dict[tuple[int, int], float] = {}
        for a, b, m in frame:
            key = (min(a, b), max(a, b))
            now[key] = min(now.get(key, np.inf), m)
        a = np.array([p[0] for p in frame], np.int64)
        b = np.array([p[1] for p in frame], np.int64)
        started = episodes.update(float(t), a, b, np.array([p[2] for p in frame]))
        expect_started = sorted(set(now) - set(open_pairs))
        assert list(zip(*(x.tolist() for x in split_keys(started)), strict=True)) == expect_started
        ended = episodes.ended
        expect_ended = sorted(set(open_pairs) - set(now))
        assert list(zip(*(x.tolist() for x in split_keys(ended.keys)), strict=True)) == expect_ended
        for key, s, w in zip(expect_ended, ended.start_s.tolist(), ended.worst.tolist(), strict=True):
            assert (s, w) == open_pairs[key]
        open_pairs = {
            k: (open_pairs[k][0], min(open_pairs[k][1], m)) if k in open_pairs else (float(t), m)
            for k, m in now.items()
        }
    assert len(episodes) == 0


def test_keys_ignore_the_order_of_the_pair():
    assert (
        pair_keys(np.array([9]), np.array([4])).tolist() == pair_keys(np.array([4]), np.array([9])).tolist()
    )


def test_the_same_pairs_again_start_and_end_nothing_and_keep_the_smallest_metric():
    """Oracle: by hand; the pairs (1, 2) and (3, 4) on at t = 0 and 1 s, then none at 2 s."""
    episodes = PairEpisodes()
    started = episodes.update(0.0, np.array([2, 3]), np.array([1, 4]), np.array([5.0, 7.0]))
    assert split_keys(started)[0].tolist() == [1, 3]
    again = episodes.update(1.0, np.array([3, 1]), np.array([4, 2]), np.array([9.0, 2.0]))
    assert len(again) == 0 and len(episodes.ended.keys) == 0
    assert episodes.start_s.tolist() == [0.0, 0.0] and episodes.worst.tolist() == [2.0, 7.0]
    assert len(episodes.update(2.0, np.empty(0, int), np.empty(0, int), np.empty(0))) == 0
    assert episodes.ended.worst.tolist() == [2.0, 7.0] and len(episodes) == 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 5), max_size=4), min_size=1, max_size=12),
    st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 4.5]),
)
def test_alerts_are_the_pairs_found_within_the_hold(frames, hold_s):
    """Oracle: at cycle t (1 s apart) a key is alerted when found at t, or last found less than hold_s ago."""
    alerts, last_found = PairAlerts(hold_s), {}
    for t, frame in enumerate(frames):
        for key in frame:
            last_found[key] = float(t)
        want = sorted(k for k, s in last_found.items() if k in frame or t - s < hold_s)
        assert alerts.update(float(t), np.array(frame, np.int64)).tolist() == want


def test_without_hold_the_alerts_are_exactly_the_pairs_found():
    alerts = PairAlerts(0.0)
    assert alerts.update(0.0, np.array([9, 4, 9], np.int64)).tolist() == [4, 9]
    assert alerts.update(1.0, np.array([5], np.int64)).tolist() == [5]
    assert alerts.update(2.0, np.empty(0, np.int64)).tolist() == []
