"""Every error class of ours survives being rebuilt from its args and pickled, with the same message:
SimPy re-raises a failed event's exception as ``type(e)(*e.args)``, and process pools pickle them."""

from __future__ import annotations

import pickle

import pytest

from airspace.errors import InvalidVolume, NoRoute
from sim.capacity import CapacityError
from sim.errors import FieldError, ScenarioError
from sim.eventlog import EventLogError
from sim.manifest import ManifestError
from sim.recorded import TracksError
from sim.sweep_plan import SweepError
from utm.errors import AreaTooLarge, InvalidRequest, InvalidTransition, PlanRejected

ERRORS = [
    InvalidVolume("volumes[0].time_end", "before time_start"),
    NoRoute("route", "no corridor on layer d60-90"),
    ScenarioError("cdr.lookahead_s", "must be > 0 (got -1.0)", source="demo.yaml"),
    ScenarioError("", "no such file", source="x.yaml"),
    InvalidRequest("priority", "outside ]-1, 100]"),
    InvalidTransition("state", "Ended -> Accepted is not allowed"),
    AreaTooLarge("area", "over 10 km2"),
    PlanRejected("conflict", "conflicts with intent 1234"),
    FieldError("--grid", "needs at least one value"),
    EventLogError("states.pos_m", "must have shape (n, 3)"),
    ManifestError("manifest.json", "missing"),
    TracksError("tracks.csv", "holds no valid fix"),
    SweepError("--grid demand.scale", "duplicate value 1"),
    CapacityError("--safety", "unknown metric 'x'"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_rebuilt_from_args_and_pickled_keep_type_fields_and_message(error: Exception) -> None:
    for copy in (type(error)(*error.args), pickle.loads(pickle.dumps(error))):
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert vars(copy) == vars(error)


def test_messages_name_the_field_then_the_reason() -> None:
    assert str(ERRORS[0]) == "volumes[0].time_end: before time_start"
    assert str(ERRORS[2]) == "demo.yaml: cdr.lookahead_s: must be > 0 (got -1.0)"
    assert str(ERRORS[3]) == "x.yaml: no such file"
    assert str(ERRORS[7]) == "conflicts with intent 1234"
