"""Geofences (UAS geozones): the model: volumes, restriction, applicability and weekly schedules.

:class:`Geofence` holds local-frame volumes, a :class:`Restriction`, its :class:`Applicability` windows
(each within :class:`WeeklySchedule` periods, UTC) and who to ask; ``active_during`` and ``intersects``
are exact, with no time stepping. The ED-269, ED-318 and GeoJSON importers (``load_geozones``) are in
:mod:`airspace.geozones`.

Layer: airspace; imports nothing of ours but airspace.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from airspace.errors import AirspaceInputError, InvalidGeozone
from airspace.volumes import Volume3D, Volume4D

__all__ = ["Applicability", "Geofence", "Restriction", "WeeklySchedule", "posix_us"]

# _DAY_S, _ALL_DAYS and _seconds are shared with the importers in airspace.geozones.
_DAY_S = 86400.0
_WEEK_S = 7 * _DAY_S
_ALL_DAYS = frozenset(range(7))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


class Restriction(enum.StrEnum):
    """ED-269 restriction: PROHIBITED = reject; REQ_AUTHORISATION, CONDITIONAL = conditions; else advisory."""

    PROHIBITED = "PROHIBITED"
    REQ_AUTHORISATION = "REQ_AUTHORISATION"
    CONDITIONAL = "CONDITIONAL"
    NO_RESTRICTION = "NO_RESTRICTION"


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Active on ``days`` (0 = Monday .. 6 = Sunday) from ``start`` to ``end``, UTC times of day, closed.

    An ``end`` before ``start`` runs past midnight into the next day; ``end == start`` is the whole day.
    """

    days: frozenset[int]
    start: time = time(0)
    end: time = time(0)

    def __post_init__(self) -> None:
        if not self.days or not self.days <= _ALL_DAYS:
            raise InvalidGeozone("days", f"must be a non-empty set of weekdays 0..6 ({sorted(self.days)})")
        for name in ("start", "end"):
            if getattr(self, name).utcoffset() not in (None, timedelta(0)):
                raise InvalidGeozone(name, f"must be a UTC time of day ({getattr(self, name)})")

    @property
    def intervals_s(self) -> list[tuple[float, float]]:
        """Closed intervals in seconds since Monday 00:00 UTC; the last may run past the week's end."""
        start_s = _seconds(self.start)
        span_s = (_seconds(self.end) - start_s) % _DAY_S or _DAY_S
        return [(d * _DAY_S + start_s, d * _DAY_S + start_s + span_s) for d in sorted(self.days)]


@dataclass(frozen=True, slots=True)
class Applicability:
    """The closed window ``[start, end]`` (``None`` = unbounded), within ``schedules`` (empty = all day).

    >>> fri_night = WeeklySchedule(frozenset({4}), time(22), time(2))  # FRI 22:00 -> SAT 02:00 UTC
    >>> sat = datetime(2026, 1, 10, tzinfo=UTC)
    >>> when = Applicability(schedules=(fri_night,))
    >>> when.active_during(sat + timedelta(hours=1), sat + timedelta(hours=1)), when.active_during(sat, None)
    (True, True)
    >>> when.active_during(sat + timedelta(hours=2, seconds=1), sat + timedelta(hours=21, minutes=59))
    False
    """

    start: datetime | None = None
    end: datetime | None = None
    schedules: tuple[WeeklySchedule, ...] = ()

    def __post_init__(self) -> None:
        _check_aware(self.start, "start", InvalidGeozone)
        _check_aware(self.end, "end", InvalidGeozone)
        if self.start is not None and self.end is not None and not self.start < self.end:
            raise InvalidGeozone("end", f"must be after start ({self.start} >= {self.end})")

    def active_during(self, t_start: datetime | None, t_end: datetime | None) -> bool:
        """Whether some instant of the closed window is inside; exact, O(schedule days), no time stepping."""
        a = self.start if t_start is None or (self.start is not None and self.start > t_start) else t_start
        b = self.end if t_end is None or (self.end is not None and self.end < t_end) else t_end
        if a is not None and b is not None and a > b:
            return False
        if not self.schedules or a is None or b is None or (b - a).total_seconds() >= _WEEK_S:
            return True
        a_s = _week_seconds(a)
        b_s = a_s + (b - a).total_seconds()
        return any(  # the window lies in [0, 2 weeks[; schedule intervals repeat every week
            lo_s + k * _WEEK_S <= b_s and hi_s + k * _WEEK_S >= a_s
            for schedule in self.schedules
            for lo_s, hi_s in schedule.intervals_s
            for k in (-1, 0, 1)
        )


@dataclass(frozen=True, slots=True)
class Geofence:
    """A geozone: volumes (local frame), restriction, applicability (empty = permanent) and who to ask."""

    identifier: str
    restriction: Restriction
    volumes: tuple[Volume3D, ...]
    applicability: tuple[Applicability, ...] = ()
    name: str = ""
    country: str = ""
    authority: str = ""
    message: str = ""

    def __post_init__(self) -> None:
        if not self.volumes:
            raise InvalidGeozone(f"{self.identifier}.volumes", "needs at least one volume")

    def active_at(self, t: datetime) -> bool:
        """Whether the zone applies at the instant ``t`` (timezone-aware)."""
        _check_aware(t, "t", AirspaceInputError)
        return self.active_during(t, t)

    def active_during(self, t_start: datetime | None, t_end: datetime | None) -> bool:
        """Whether the zone applies at any instant of the closed window; ``None`` bounds are unbounded."""
        _check_aware(t_start, "t_start", AirspaceInputError)
        _check_aware(t_end, "t_end", AirspaceInputError)
        if t_start is not None and t_end is not None and t_start > t_end:
            raise AirspaceInputError("t_end", f"must not precede t_start ({t_start} > {t_end})")
        return not self.applicability or any(a.active_during(t_start, t_end) for a in self.applicability)

    def intersects(self, volume: Volume4D) -> bool:
        """Active during the volume's window and some volume meets it (closed, exact: F3548 GEN0500)."""
        active = self.active_during(volume.time_start, volume.time_end)
        return active and self.meets(volume.volume)

    def meets(self, volume: Volume3D) -> bool:
        """Whether some of the zone's volumes meets ``volume`` (closed, exact), whenever the zone applies."""
        return any(v.intersects(volume) for v in self.volumes)

    @property
    def windows_us(self) -> tuple[tuple[float, float], ...] | None:
        """When no weekly schedule limits the zone, the closed windows in which it applies, as
        :func:`posix_us` (``-inf`` / ``inf`` for an open side; one unbounded window when permanent); else
        ``None``.

        A window ``[t_start, t_end]`` is then :meth:`active_during` exactly when it meets one of these, so a
        caller testing one zone against many windows compares integers instead of datetimes.

        >>> from dataclasses import replace
        >>> day = Geofence("z", Restriction.PROHIBITED, (Volume3D.circle(0, 0, 1, z_lower_m=0, z_upper_m=1),),
        ...                (Applicability(datetime(1970, 1, 2, tzinfo=UTC), None),))
        >>> day.windows_us, replace(day, applicability=()).windows_us
        (((86400000000, inf),), ((-inf, inf),))
        """
        if any(a.schedules for a in self.applicability):
            return None
        if not self.applicability:
            return ((-math.inf, math.inf),)
        return tuple(
            (
                -math.inf if a.start is None else posix_us(a.start),
                math.inf if a.end is None else posix_us(a.end),
            )
            for a in self.applicability
        )


def posix_us(t: datetime) -> int:
    """Whole microseconds since the POSIX epoch of the timezone-aware ``t``: exact, so comparisons of these
    agree with those of the datetimes (float seconds lose microseconds past the year 2242)."""
    return (t - _EPOCH) // _ONE_US


def _seconds(t: time) -> float:
    return t.hour * 3600.0 + t.minute * 60.0 + t.second + t.microsecond / 1e6


def _week_seconds(t: datetime) -> float:
    """Seconds since the Monday 00:00 UTC that starts the week of ``t``."""
    u = t.astimezone(UTC)
    return u.weekday() * _DAY_S + _seconds(u.time())


def _check_aware(t: datetime | None, name: str, error: type[AirspaceInputError]) -> None:
    if t is not None and t.utcoffset() is None:
        raise error(name, f"must be timezone-aware ({t.isoformat()})")
