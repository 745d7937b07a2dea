"""The web map's live feed: a hub that fans events out to open streams, and the events' JSON payloads.

Publishers run on any thread (the service's request handlers, a simulation's log writer); each open stream
has a bounded queue on the event loop. A stream that falls too far behind is closed rather than silently
thinned: the page reconnects and starts again from a fresh snapshot, so what it shows is never partial.
Times in payloads are seconds from the hub's ``start`` (docs/map-api.md). Layer: api.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from airspace.region import Region
from airspace.volumes import Volume4D, format_time
from api.map_layers import map_layers
from utm.errors import NotFound
from utm.intents import OperationalIntent
from utm.service import UTMService
from utm.telemetry import TelemetryReport

__all__ = [
    "KEEPALIVE_S",
    "QUEUE_EVENTS",
    "Event",
    "LiveFeed",
    "LiveHub",
    "frame_payload",
    "intent_payload",
    "service_feed",
    "telemetry_payload",
]

QUEUE_EVENTS = 2048
"""Events a stream may have waiting before it is closed as too slow (about 30 s of 1 Hz frames at 60x)."""
KEEPALIVE_S = 15.0
"""A comment line is sent after this long without events, so proxies keep an idle stream open."""


@dataclass(frozen=True, slots=True)
class Event:
    """One Server-Sent Event: its name and its JSON data."""

    name: str
    data: dict[str, Any]

    def encode(self) -> bytes:
        return f"event: {self.name}\ndata: {json.dumps(self.data, separators=(',', ':'))}\n\n".encode()


_CLOSE = Event("close", {})  # queued to a stream that overflowed: it ends after the events before it


class LiveHub:
    """Fan-out of live events to subscribers; ``publish`` is thread-safe, ``stream`` runs on the loop."""

    def __init__(
        self, source: str, start: datetime, snapshot: Callable[[LiveHub], list[Event]] | None = None
    ) -> None:
        self.source = source  # "service" or "simulation"
        self.start = start
        self._snapshot = snapshot
        self._queues: set[asyncio.Queue[Event]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the streams run on (the server's, once started)."""
        self._loop = loop

    def seconds(self, t: datetime) -> float:
        """Seconds from the hub's start."""
        return (t - self.start).total_seconds()

    def publish(self, name: str, data: dict[str, Any]) -> None:
        """Send an event to every open stream (from any thread); a no-op before the server runs."""
        if name == "end":
            self._ended = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver, Event(name, data))

    def _deliver(self, event: Event) -> None:
        for queue in list(self._queues):
            if queue.qsize() >= QUEUE_EVENTS - 1:
                self._queues.discard(queue)
                queue.put_nowait(_CLOSE)
            else:
                queue.put_nowait(event)

    async def stream(self) -> AsyncIterator[bytes]:
        """``hello``, the snapshot, then every event published until the client leaves or falls behind."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._queues.add(queue)  # before the snapshot: nothing published meanwhile is missed
        try:
            yield Event("hello", {"source": self.source, "start": format_time(self.start)}).encode()
            for event in self._snapshot(self) if self._snapshot is not None else ():
                yield event.encode()
            if self._ended:
                yield Event("end", {}).encode()
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if event is _CLOSE:
                    return
                yield event.encode()
        finally:
            self._queues.discard(queue)


def _seconds(hub: LiveHub, t: datetime | None) -> float | None:
    return None if t is None else round(hub.seconds(t), 3)


def _volume(hub: LiveHub, volume: Volume4D) -> dict[str, Any]:
    v = volume.volume
    return {
        "outline_m": np.asarray(v.footprint(quad_segs=8).exterior.coords)[:-1].round(1).tolist(),
        "z_lower_m": v.z_lower_m if math.isfinite(v.z_lower_m) else None,
        "z_upper_m": v.z_upper_m if math.isfinite(v.z_upper_m) else None,
        "start_s": _seconds(hub, volume.time_start),
        "end_s": _seconds(hub, volume.time_end),
    }


def intent_payload(hub: LiveHub, intent: OperationalIntent) -> dict[str, Any]:
    """An intent as the map draws it: identity, state, priority and volumes in local metres."""
    return {
        "id": str(intent.id),
        "manager": intent.manager,
        "state": str(intent.state),
        "priority": intent.priority,
        "version": intent.version,
        "volumes": [_volume(hub, v) for v in intent.volumes],
        "off_nominal_volumes": [_volume(hub, v) for v in intent.off_nominal_volumes],
    }


def telemetry_payload(hub: LiveHub, report: TelemetryReport, state: str) -> dict[str, Any]:
    """A position report with the intent's state after it."""
    return {
        "id": str(report.intent_id),
        "t_s": round(hub.seconds(report.time), 3),
        **{k: round(getattr(report, k), 2) for k in ("x_m", "y_m", "z_m", "vx_mps", "vy_mps", "vz_mps")},
        "state": state,
    }


def frame_payload(
    t_s: float, flight: np.ndarray, pos_m: np.ndarray, vel_mps: np.ndarray, mode: np.ndarray
) -> dict[str, Any]:
    """A simulation's sample as columnar JSON, rows ascending by flight as in the binary frames (decimetres:
    the map's scale)."""
    order = np.argsort(flight, kind="stable")
    pos = np.asarray(pos_m, float)[order].round(1)
    vel = np.asarray(vel_mps, float)[order].round(1)
    return {
        "t_s": float(t_s),
        "flight": np.asarray(flight)[order].tolist(),
        **{name: pos[:, k].tolist() for k, name in enumerate(("x_m", "y_m", "z_m"))},
        **{name: vel[:, k].tolist() for k, name in enumerate(("vx_mps", "vy_mps", "vz_mps"))},
        "mode": np.asarray(mode)[order].tolist(),
    }


@dataclass(frozen=True, slots=True)
class LiveFeed:
    """What /live/v1 serves: the hub of events and the static layers of the airspace they happen in."""

    hub: LiveHub
    layers: Callable[[], dict[str, Any]]


def service_feed(service: UTMService, region: Region, tile_url: str | None) -> LiveFeed:
    """The operator service's live picture: its intents and their telemetry as they are committed."""

    def announce(kind: str, payload: Any) -> None:
        if kind == "intent":
            hub.publish("intent", intent_payload(hub, payload))
        elif kind == "ended":
            hub.publish("intent_ended", {"id": str(payload)})
        elif kind == "telemetry":
            hub.publish(
                "telemetry", telemetry_payload(hub, payload, str(service.get(payload.intent_id).state))
            )

    def snapshot(hub: LiveHub) -> list[Event]:
        events = []
        for intent in service.live_intents():
            events.append(Event("intent", intent_payload(hub, intent)))
            try:
                report = service.last_telemetry(intent.id)
            except NotFound:
                continue
            events.append(Event("telemetry", telemetry_payload(hub, report, str(intent.state))))
        return events

    def layers() -> dict[str, Any]:
        return map_layers(
            region,
            start=hub.start,
            span_s=(0.0, hub.seconds(service.now())),
            sites=None,
            comms_profile="service",
            sensing=False,
            separation=None,
            tile_url=tile_url,
        )

    hub = LiveHub("service", service.now(), snapshot)
    service.add_listener(announce)
    return LiveFeed(hub, layers)
