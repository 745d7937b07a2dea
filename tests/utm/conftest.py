"""Shared fixtures for utm tests: a frame, a fixed t0 (a Monday), and box / intent / request builders.

Builders are fixtures returning functions, so test modules need not import this file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from airspace.frames import LocalFrame
from airspace.volumes import Volume3D, Volume4D
from utm.intents import IntentRequest, OperationalIntent, State, make_ovn

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, so weekly schedules read easily


@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
def frame() -> LocalFrame:
    return LocalFrame(22.53, 113.93, 0.0)


def _box(
    x_m: float = 0.0,
    y_m: float = 0.0,
    *,
    size_m: float = 100.0,
    depth_m: float | None = None,
    z_m: tuple[float, float] = (35.0, 55.0),  # inside layer d30-60, touching no other
    start_min: float = 0.0,
    end_min: float = 30.0,
) -> Volume4D:
    """A ``size_m`` (east) by ``depth_m`` (north, default ``size_m``) box, south-west corner at (x_m, y_m).

    Heights ``z_m``; times [t0 + start_min, t0 + end_min].
    """
    dx, dy = size_m, size_m if depth_m is None else depth_m
    square = [(x_m, y_m), (x_m + dx, y_m), (x_m + dx, y_m + dy), (x_m, y_m + dy)]
    return Volume4D(
        Volume3D.polygon(square, z_lower_m=z_m[0], z_upper_m=z_m[1]),
        T0 + timedelta(minutes=start_min),
        T0 + timedelta(minutes=end_min),
    )


def _plan(
    *volumes: Volume4D,
    state: State = State.ACCEPTED,
    priority: int = 0,
    off_nominal: Sequence[Volume4D] = (),
    authorisation: str | None = None,
) -> IntentRequest:
    return IntentRequest(state, priority, tuple(volumes), tuple(off_nominal), authorisation=authorisation)


def _intent(
    *volumes: Volume4D,
    state: State = State.ACCEPTED,
    priority: int = 0,
    off_nominal: Sequence[Volume4D] = (),
    intent_id: UUID | None = None,
    manager: str = "uss-b",
) -> OperationalIntent:
    ident = intent_id or uuid4()
    return OperationalIntent(
        ident,
        manager,
        1,
        make_ovn(ident, 1, T0),
        state,
        priority,
        tuple(volumes),
        tuple(off_nominal),
        "",
        None,
        T0,
        T0,
    )


@pytest.fixture
def box() -> Callable[..., Volume4D]:
    return _box


@pytest.fixture
def plan() -> Callable[..., IntentRequest]:
    return _plan


@pytest.fixture
def intent() -> Callable[..., OperationalIntent]:
    return _intent
