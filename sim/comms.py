"""The comms interface: the one place every position report and advisory passes through.

A :class:`Comms` answers, per message, whether and when it arrives. ``ideal`` (instant, lossless) lives
here; the 6G profiles' :class:`sim.sixg.network.Network` answers the same two methods. Layer: sim.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from sim.scenario import LoadedScenario
from sim.sixg.network import Network

__all__ = ["Comms", "IdealComms", "make_comms"]


class Comms(Protocol):
    """Carries reports up (vehicle to service) and advisories down (service to vehicle)."""

    name: str

    def uplink(self, t_s: float, flight: np.ndarray, pos_m: np.ndarray) -> np.ndarray:
        """Reception times ``(n,)`` of reports sent at ``t_s`` by ``flight`` at ``pos_m``; NaN = lost."""
        ...

    def downlink(self, t_s: float, flight: np.ndarray, pos_m: np.ndarray) -> np.ndarray:
        """Reception times ``(n,)`` of advisories sent at ``t_s`` to ``flight`` at ``pos_m``; NaN = lost."""
        ...


class IdealComms:
    """Every message arrives at once.

    >>> IdealComms().uplink(3.0, np.array([7, 9]), np.zeros((2, 3))).tolist()
    [3.0, 3.0]
    """

    name = "ideal"

    def uplink(self, t_s: float, flight: np.ndarray, pos_m: np.ndarray) -> np.ndarray:
        return np.full(len(flight), t_s)

    def downlink(self, t_s: float, flight: np.ndarray, pos_m: np.ndarray) -> np.ndarray:
        return np.full(len(flight), t_s)


def make_comms(loaded: LoadedScenario) -> Comms:
    """The comms model the scenario's ``comms.profile`` names: ideal, or the 6G model's network."""
    settings = loaded.spec.comms.network()
    if settings is None:
        return IdealComms()
    return Network(settings, loaded.region.grid.bounds_xy_m, loaded.spec.seed)
