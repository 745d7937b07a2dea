"""Geofences: the model: weekly schedules, active windows, intersection, constructor checks.

Oracle: a naive per-instant calendar check stepped minute by minute for ``active_during``. The importer
tests are in test_geozones.py.
"""

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pytest

from airspace.errors import AirspaceInputError, InvalidGeozone
from airspace.geofences import Applicability, Geofence, Restriction, WeeklySchedule
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
