"""Messages in flight between the vehicles and the service, handed over once their reception time comes.

The comms model says when each report or advisory arrives; an :class:`Inbox` holds them until then, so
the received picture and the vehicles see exactly what the network delivered, when it delivered it.
Layer: sim.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Inbox"]

Due = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class Inbox:
    """Pending messages: flight, send time, reception time and a payload row each.

    >>> box = Inbox()
    >>> box.push(np.array([1, 2]), np.array([0.0, 0.0]), np.array([0.5, 0.2]), np.array([[10.0], [20.0]]))
    >>> box.due(0.3)[0].tolist(), box.due(0.3), len(box)
    ([2], None, 1)
    """

    def __init__(self) -> None:
        self._chunks: list[Due] = []

    def __len__(self) -> int:
        return sum(len(c[0]) for c in self._chunks)

    def push(
        self, flight: np.ndarray, t_sent_s: np.ndarray, t_received_s: np.ndarray, payload: np.ndarray
    ) -> None:
        """Messages that will arrive at ``t_received_s`` (lost ones are never pushed)."""
        if len(flight):
            self._chunks.append((flight, t_sent_s, t_received_s, payload))

    def send(self, flight: np.ndarray, t_sent_s: float, t_received_s: np.ndarray, payload: np.ndarray) -> int:
        """Messages sent together at ``t_sent_s``: those delivered (``t_received_s`` not NaN) are pushed, the
        lost dropped; how many were delivered.

        >>> box = Inbox()
        >>> box.send(np.array([1, 2]), 0.0, np.array([np.nan, 0.2]), np.array([[10.0], [20.0]])), len(box)
        (1, 1)
        """
        ok = ~np.isnan(t_received_s)
        if ok.all():
            self.push(flight, np.full(len(flight), t_sent_s), t_received_s, payload)
            return len(flight)
        k = ok.nonzero()[0]
        self.push(flight.take(k), np.full(len(k), t_sent_s), t_received_s.take(k), payload.take(k, axis=0))
        return len(k)

    def due(self, now_s: float) -> Due | None:
        """The messages received by ``now_s``, in reception order (ties: sending order); None if none."""
        if not self._chunks:
            return None
        if len(self._chunks) == 1:
            flight, t_sent, t_rx, payload = self._chunks[0]
        else:
            flight, t_sent, t_rx, payload = (np.concatenate(c) for c in zip(*self._chunks, strict=True))
        ready = t_rx <= now_s
        if ready.all():  # everything has arrived (ideal comms: always)
            self._chunks = []
            if len(t_rx) < 2 or (t_rx[1:] >= t_rx[:-1]).all():  # already in reception order
                return flight, t_sent, t_rx, payload
            order = t_rx.argsort(kind="stable")
        elif not ready.any():
            self._chunks = [(flight, t_sent, t_rx, payload)]
            return None
        else:
            later = (~ready).nonzero()[0]
            self._chunks = [
                (flight.take(later), t_sent.take(later), t_rx.take(later), payload.take(later, axis=0))
            ]
            k = ready.nonzero()[0]
            order = k.take(t_rx.take(k).argsort(kind="stable"))
        return flight.take(order), t_sent.take(order), t_rx.take(order), payload.take(order, axis=0)
