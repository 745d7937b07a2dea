"""Errors of the simulator layer: each names the file, the field path and the reason.

Layer: sim; imports nothing of ours.
"""

from __future__ import annotations

__all__ = ["FieldError", "ScenarioError"]


class ScenarioError(ValueError):
    """A scenario file, override or value that cannot be run; the message reads
    ``"<file name>: <dotted.field.path>: <reason>"`` (the file and field parts are left out when empty).

    >>> str(ScenarioError("cdr.lookahead_s", "must be > 0 (got -1.0)", source="demo.yaml"))
    'demo.yaml: cdr.lookahead_s: must be > 0 (got -1.0)'
    >>> str(ScenarioError("", "no such file (/tmp/x.yaml)", source="x.yaml"))
    'x.yaml: no such file (/tmp/x.yaml)'
    """

    def __init__(self, field: str, reason: str, source: str | None = None) -> None:
        super().__init__(field, reason, source)  # args rebuild the error (pickling, SimPy re-raising)
        self.field = field
        self.reason = reason
        self.source = source

    def __str__(self) -> str:
        return ": ".join(part for part in (self.source, self.field, self.reason) if part)


class FieldError(ValueError):
    """A value of ours that cannot be used, named by its field; the message reads ``"<field>: <reason>"``.
    The base of the simulator's and tools' errors (event log, manifest, import, sweep, capacity), which
    rebuild from their args and pickle (process pools and Dask carry them between processes).

    >>> str(FieldError("--grid demand.scale", "needs at least one value"))
    '--grid demand.scale: needs at least one value'
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"
