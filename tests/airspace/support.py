"""Volume builders shared by the airspace tests: axis-aligned boxes in local metres over a fixed t0."""

from datetime import UTC, datetime, timedelta

from airspace.volumes import Volume3D, Volume4D

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CM = 0.01


def box(x0: float, y0: float, x1: float, y1: float, lo: float = 0.0, hi: float = 100.0) -> Volume3D:
    return Volume3D.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], z_lower_m=lo, z_upper_m=hi)


def in_time(v: Volume3D, start_min: float = 0.0, end_min: float = 10.0) -> Volume4D:
    return Volume4D(v, T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min))
