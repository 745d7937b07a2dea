"""Geofences: the model: weekly schedules, active windows, intersection, constructor checks.

Oracle: a naive per-instant calendar check stepped minute by minute for ``active_during``. The importer
tests are in test_geozones.py.
"""

import itertools
from datetime import UTC, date, datetime, time, timedelta, timezone

import numpy as np
import pytest

from airspace.errors import AirspaceInputError, InvalidGeozone
from airspace.geofences import Applicability, Geofence, Restriction, WeeklySchedule, posix_us
from airspace.volumes import Volume3D, Volume4D

UNIT_CIRCLE = Volume3D.circle(0.0, 0.0, 1.0, z_lower_m=0.0, z_upper_m=1.0)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def naive_active(schedules: tuple[WeeklySchedule, ...], t: datetime) -> bool:
    """Calendar oracle: build each occurrence of yesterday and today as datetimes and compare."""
    for s in schedules:
        for day in (t.date() - timedelta(days=1), t.date()):
            if day.weekday() not in s.days:
                continue
            begin = datetime.combine(day, s.start, UTC)
            finish = datetime.combine(day, s.end, UTC)
            if finish <= begin:
                finish += timedelta(days=1)
            if begin <= t <= finish:
                return True
    return False


def test_active_during_matches_minute_stepping_oracle():
    """Random minute-aligned windows against a minute-by-minute naive calendar check (exact at minutes)."""
    schedules = (
        WeeklySchedule(frozenset({4}), time(22), time(2)),  # FRI 22:00 -> SAT 02:00
        WeeklySchedule(frozenset({6}), time(23), time(1)),  # SUN 23:00 -> MON 01:00, across the week
        WeeklySchedule(frozenset({2}), time(10), time(10, 30)),
    )
    fence = Geofence("T", Restriction.PROHIBITED, (UNIT_CIRCLE,), (Applicability(None, None, schedules),))
    rng = np.random.default_rng(6)
    t0 = utc(2026, 1, 5)  # a Monday
    hits = 0
    for start_min, length_min in zip(
        rng.integers(0, 3 * 7 * 1440, 250), rng.integers(0, 400, 250), strict=True
    ):
        start = t0 + timedelta(minutes=int(start_min))
        expected = any(
            naive_active(schedules, start + timedelta(minutes=k)) for k in range(int(length_min) + 1)
        )
        assert fence.active_during(start, start + timedelta(minutes=int(length_min))) is expected, start
        hits += expected
    assert 20 < hits < 230  # both outcomes are exercised


class TestIntersects:
    def test_active_window_and_geometry_both_required(self):
        schedule = WeeklySchedule(frozenset({0}), time(8), time(9))
        zone = Volume3D.circle(0.0, 0.0, 100.0, z_lower_m=0.0, z_upper_m=120.0)
        fence = Geofence("Z", Restriction.PROHIBITED, (zone,), (Applicability(None, None, (schedule,)),))
        inside = Volume3D.polygon([(50, 0), (150, 0), (150, 50)], z_lower_m=100.0, z_upper_m=200.0)
        above = Volume3D.polygon([(50, 0), (150, 0), (150, 50)], z_lower_m=120.01, z_upper_m=200.0)
        monday = utc(2026, 1, 5)
        assert fence.intersects(
            Volume4D(inside, monday + timedelta(hours=8, minutes=59), monday + timedelta(hours=10))
        )
        assert not fence.intersects(
            Volume4D(inside, monday + timedelta(hours=9, seconds=1), monday + timedelta(hours=10))
        )
        assert not fence.intersects(Volume4D(above, monday, monday + timedelta(days=1)))
        assert fence.intersects(Volume4D(inside))  # unbounded window


class TestWindowsUs:
    def test_posix_us_is_exact_and_keeps_the_order_of_datetimes(self):
        """One microsecond apart in the year 9000 (where float seconds tie) and across time zones."""
        late = utc(9000, 1, 1)
        assert posix_us(late + timedelta(microseconds=1)) - posix_us(late) == 1
        assert posix_us(utc(1970, 1, 1, 0, 0, 1)) == 1_000_000
        plus_two = datetime(1970, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
        assert posix_us(plus_two) == 0
        assert posix_us(utc(1969, 12, 31, 23, 59, 59, 999_999)) == -1

    def test_windows_agree_with_active_during(self):
        """Random windows, open or not, against ``active_during``; touching ends count on both sides."""
        t0 = utc(2026, 1, 5)
        rng = np.random.default_rng(7)
        for _ in range(50):
            starts = sorted(rng.integers(0, 10_000, 4).tolist())
            applicability = tuple(
                Applicability(
                    None if rng.random() < 0.2 else t0 + timedelta(seconds=a),
                    None if rng.random() < 0.2 else t0 + timedelta(seconds=b + 1),
                )
                for a, b in itertools.pairwise(starts)
            )[: rng.integers(0, 4)]
            fence = Geofence("Z", Restriction.PROHIBITED, (UNIT_CIRCLE,), applicability)
            for a, b in np.sort(rng.integers(-100, 10_200, (20, 2)), axis=1).tolist():
                lo, hi = t0 + timedelta(seconds=a), t0 + timedelta(seconds=b)
                meets = any(w_lo <= posix_us(hi) and posix_us(lo) <= w_hi for w_lo, w_hi in fence.windows_us)
                assert meets is fence.active_during(lo, hi), (applicability, lo, hi)

    def test_touching_ends_meet_and_a_microsecond_apart_do_not(self):
        start, end = utc(2026, 1, 5, 8), utc(2026, 1, 5, 9)
        fence = Geofence("Z", Restriction.PROHIBITED, (UNIT_CIRCLE,), (Applicability(start, end),))
        ((lo_us, hi_us),) = fence.windows_us
        assert (lo_us, hi_us) == (posix_us(start), posix_us(end))
        assert fence.active_during(end, end + timedelta(hours=1))
        assert not fence.active_during(end + timedelta(microseconds=1), end + timedelta(hours=1))
        assert posix_us(end + timedelta(microseconds=1)) > hi_us

    def test_a_weekly_schedule_leaves_the_windows_to_active_during(self):
        schedule = WeeklySchedule(frozenset({0}), time(8), time(9))
        applicability = (Applicability(utc(2026, 1, 1), None), Applicability(None, None, (schedule,)))
        assert Geofence("Z", Restriction.PROHIBITED, (UNIT_CIRCLE,), applicability).windows_us is None


class TestModel:
    def test_naive_or_reversed_times_are_refused(self):
        fence = Geofence("Z", Restriction.PROHIBITED, (UNIT_CIRCLE,))
        with pytest.raises(AirspaceInputError, match="t: must be timezone-aware"):
            fence.active_at(datetime(2026, 1, 1))
        with pytest.raises(AirspaceInputError, match="t_end: must not precede t_start"):
            fence.active_during(utc(2026, 1, 2), utc(2026, 1, 1))

    @pytest.mark.parametrize(
        ("build", "match"),
        [
            (lambda: Geofence("Z", Restriction.PROHIBITED, ()), "Z.volumes: needs at least one volume"),
            (lambda: WeeklySchedule(frozenset()), "days: must be a non-empty set"),
            (lambda: WeeklySchedule(frozenset({7})), "days: must be a non-empty set"),
            (lambda: Applicability(datetime(2026, 1, 1)), "start: must be timezone-aware"),
            (lambda: Applicability(utc(2026, 1, 2), utc(2026, 1, 1)), "end: must be after start"),
        ],
    )
    def test_constructors_validate(self, build, match):
        with pytest.raises(InvalidGeozone, match=match):
            build()

    def test_equal_start_and_end_is_the_whole_day(self):
        schedule = WeeklySchedule(frozenset({2}), time(6), time(6))
        assert schedule.intervals_s == [(2 * 86400 + 6 * 3600, 3 * 86400 + 6 * 3600)]

    def test_restriction_values_are_the_names(self):
        assert [r.value for r in Restriction] == [
            "PROHIBITED",
            "REQ_AUTHORISATION",
            "CONDITIONAL",
            "NO_RESTRICTION",
        ]
        assert date(2019, 3, 10).weekday() == 6  # the Sunday used in test_geozones.py
