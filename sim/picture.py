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

    def due(self, now_s: float) -> Due | None:
        """The messages received by ``now_s``, in reception order (ties: sending order); None if none."""
        if not self._chunks:
            return None
        flight, t_sent, t_rx, payload = (np.concatenate(c) for c in zip(*self._chunks, strict=True))
        ready = t_rx <= now_s
        if not ready.any():
            self._chunks = [(flight, t_sent, t_rx, payload)]
            return None
        later = ~ready
        self._chunks = [(flight[later], t_sent[later], t_rx[later], payload[later])] if later.any() else []
        order = np.flatnonzero(ready)[np.argsort(t_rx[ready], kind="stable")]
        return flight[order], t_sent[order], t_rx[order], payload[order]
