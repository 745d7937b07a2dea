"""Named random streams (STYLE.md 2.11): same (seed, name) repeats, other names or seeds differ."""

import subprocess
import sys

import numpy as np

from sim.rng import rng_for


def test_same_seed_and_name_repeat_the_same_draws():
    assert np.array_equal(rng_for(42, "demand").random(100), rng_for(42, "demand").random(100))


def test_streams_for_different_names_or_seeds_differ():
    draws = {
        (seed, name): tuple(rng_for(seed, name).integers(0, 2**62, size=4))
        for seed in (0, 1)
        for name in ("demand", "fleet", "sixg.channel", "")
    }
    assert len(set(draws.values())) == len(draws)


def test_streams_do_not_depend_on_the_hash_seed():
    """hash() is salted per process; sha256 of the name is not."""
    code = "from sim.rng import rng_for; print(rng_for(3, 'demand').integers(0, 2**62, size=3).tolist())"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": str(salt), "PYTHONPATH": "."},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for salt in (1, 2)
    }
    assert outs == {f"{rng_for(3, 'demand').integers(0, 2**62, size=3).tolist()}\n"}
