"""Random streams for the simulator: one independent ``numpy.random.Generator`` per named component.

STYLE.md 2.11: never ``random``, ``np.random.seed`` or ``hash()`` (salted per process).
Layer: sim; imports numpy only.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["rng_for"]


def rng_for(seed: int, component: str) -> np.random.Generator:
    """Independent stream per named component; the same (seed, name) gives the same draws.

    The name is keyed through sha256, so streams do not depend on ``PYTHONHASHSEED``.

    >>> a, b = rng_for(1, "demand"), rng_for(1, "demand")
    >>> bool((a.random(3) == b.random(3)).all())
    True
    >>> bool(rng_for(1, "demand").random() == rng_for(1, "sixg.channel").random())
    False
    """
    key = int.from_bytes(hashlib.sha256(component.encode()).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([seed, key]))
