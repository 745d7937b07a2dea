"""The simulator's event log: a directory of four Parquet files, streamed in row groups.

``events.parquet`` (what happened), ``states.parquet`` (every airborne vehicle's state at every tick),
``messages.parquet`` (each report and advisory: sent, received or lost) and ``flights.parquet`` (one row
per flight, written at close). Each file carries the run's header as canonical JSON under the schema
metadata key ``b"utm6g"``. Columns are buffered in preallocated numpy chunks of ``row_group_rows`` rows;
a full chunk becomes one row group, encoded on one background thread in submission order, so a
10,000-vehicle hour (36 M state rows) never sits in memory and the engine never waits on zstd.
Writer options are pinned, so identical calls give byte-identical files (with the same pyarrow:
``created_by`` records its version, never a time). Rows are stored in call order, never re-sorted.
Closing the log seals it: ``manifest.json`` (sim.manifest) chains a SHA-256 over every byte of the four
files, so ``verify_log`` can name the first altered or missing part.

Layer: sim; imports numpy, pyarrow and sim.manifest, nothing of ours above sim.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.errors import FieldError
from sim.manifest import LOG_FILES, write_manifest

__all__ = [
    "EVENT_KINDS",
    "FLIGHT_COLUMNS",
    "HEADER_KEY",
    "LOG_FORMAT",
    "MESSAGE_KINDS",
    "MODES",
    "EventLog",
    "EventLogError",
    "RunLog",
    "StateObserver",
    "read_log",
]

LOG_FORMAT = "utm6g-eventlog/2"
"""The header's ``format``; bump it when a column changes meaning (2: flights gained ``plan``)."""
_READABLE_FORMATS = ("utm6g-eventlog/1", LOG_FORMAT)  # a version-1 log reads with empty plans

HEADER_KEY = b"utm6g"
"""The schema-metadata key of the header in each of the four files."""

EVENT_KINDS: tuple[str, ...] = (
    "request",
    "decision",
    "takeoff_held",
    "takeoff",
    "landing",
    "not_flown",
    "conflict_start",
    "conflict_end",
    "los_start",
    "los_end",
    "nmac",
    "advisory_issued",
    "advisory_delivered",
    "advisory_applied",
    "advisory_cleared",
    "conformance",
)
"""The kinds the engine writes (documentation: the writer accepts any non-empty kind)."""

MESSAGE_KINDS: tuple[str, ...] = ("report", "advisory", "detection", "track")
"""The kinds of ``messages.parquet`` rows the engine writes (a detection's flight is its truth label, -1 for a
false alarm; its value is the SNR in dB). A track row is the fused picture as scored every 5 s: the flight it
was scored against (-1: a sensing-only track no non-cooperative vehicle matched), the scoring time as sent,
the time of its last update as received, its position, and its protected-zone growth (m) as value."""

MODES: tuple[str, ...] = ("nominal", "advisory", "nonconforming", "contingent", "noncooperative")
"""``states.mode`` codes 0..4 by name (the same names as ``sim.fleet.MODE``)."""

_KIND = pa.dictionary(pa.int32(), pa.string())

StateObserver = Callable[[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]
"""Called with each states batch: ``(t_s, flight ids, pos (n, 3), vel (n, 3), mode codes)``."""


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, dtype, nullable=False) for name, dtype in fields])


_SCHEMAS: dict[str, pa.Schema] = {
    "events": _schema(
        ("t_s", pa.float64()),
        ("kind", _KIND),
        ("flight", pa.int32()),
        ("other", pa.int32()),
        ("value", pa.float64()),
        ("detail", pa.string()),
    ),
    "states": _schema(
        ("t_s", pa.float64()),
        ("flight", pa.int32()),
        *((name, pa.float32()) for name in ("x_m", "y_m", "z_m", "vx_mps", "vy_mps", "vz_mps")),
        ("mode", pa.int8()),
    ),
    "messages": _schema(
        ("kind", _KIND),
        ("flight", pa.int32()),
        ("t_sent_s", pa.float64()),
        ("t_received_s", pa.float64()),
        ("x_m", pa.float32()),
        ("y_m", pa.float32()),
        ("z_m", pa.float32()),
        ("value", pa.float32()),
    ),
    "flights": _schema(
        ("flight", pa.int32()),
        ("intent_id", pa.string()),
        ("vehicle", pa.string()),
        ("kind", pa.string()),
        ("operator", pa.string()),
        ("cooperative", pa.bool_()),
        ("priority", pa.int16()),
        ("origin", pa.string()),
        ("destination", pa.string()),
        ("requested_s", pa.float64()),
        ("planned_takeoff_s", pa.float64()),
        ("takeoff_s", pa.float64()),
        ("landing_s", pa.float64()),
        ("planned_duration_s", pa.float64()),
        ("plan", pa.string()),
    ),
}

FLIGHT_COLUMNS: dict[str, Any] = {
    "intent_id": "",
    "vehicle": "",
    "kind": "",
    "operator": "",
    "cooperative": True,
    "priority": 0,
    "origin": "",
    "destination": "",
    "requested_s": math.nan,
    "planned_takeoff_s": math.nan,
    "takeoff_s": math.nan,
    "landing_s": math.nan,
    "planned_duration_s": math.nan,
    "plan": "",
}
"""``flights.parquet`` columns besides ``flight``, with the value a field gets until it is registered.
``plan`` is the flown plan as JSON (layer, nominal 3D path, lateral buffer; a non-cooperative flight's route,
which it never files; "" for plan-less traffic)."""

# Pinned writer options (byte-identical output), chosen for encode speed on the two big tables: Parquet
# dictionary encoding only where values repeat within a row group, plain float32 kinematics (zstd level 1
# gets nearly all that byte-stream-split would, for less CPU), statistics only on the columns a reader
# prunes row groups by (time; the map extent for the report's heatmap).
_DICTIONARY_COLUMNS = {
    "events": ["t_s", "kind", "flight", "other", "detail"],
    "states": ["t_s", "mode"],
    "messages": ["kind", "t_sent_s"],
    "flights": ["vehicle", "kind", "operator", "origin", "destination"],
}
_STATISTICS_COLUMNS = {
    "events": True,
    "states": ["t_s", "x_m", "y_m", "z_m"],
    "messages": ["t_sent_s"],
    "flights": True,
}
_ZSTD_LEVEL = 1
_MAX_PENDING_ROW_GROUPS = 4  # bounds memory when the engine outruns the encoder
_INT32 = np.iinfo(np.int32)
_INT32_MIN, _INT32_MAX = int(_INT32.min), int(_INT32.max)


class EventLogError(FieldError):
    """A log that cannot be written or read; the message reads ``"<field>: <reason>"``.

    >>> str(EventLogError("states.pos_m", "must have shape (n, 3) (got (2,))"))
    'states.pos_m: must have shape (n, 3) (got (2,))'
    """


def _canonical_header(header: Mapping[str, Any]) -> bytes:
    """The header as canonical JSON (sorted keys, no spaces), with ``format`` set to LOG_FORMAT."""
    if not isinstance(header, Mapping):
        raise EventLogError("header", f"must be a mapping (got {type(header).__name__})")
    fmt = header.get("format", LOG_FORMAT)
    if fmt != LOG_FORMAT:
        raise EventLogError("header.format", f"must be {LOG_FORMAT!r} or absent (got {fmt!r})")
    for key in ("software_version", "seed", "scenario"):
        if key not in header:
            raise EventLogError(f"header.{key}", "is required (ARCHITECTURE.md: the log records its run)")
    try:
        text = json.dumps(
            {**header, "format": LOG_FORMAT}, sort_keys=True, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise EventLogError("header", f"must be plain JSON data ({exc})") from None
    return text.encode()


def _writer(path: Path, table: str, schema: pa.Schema) -> pq.ParquetWriter:
    return pq.ParquetWriter(
        path,
        schema,
        version="2.6",
        data_page_version="1.0",
        compression="zstd",
        compression_level=_ZSTD_LEVEL,
        use_dictionary=_DICTIONARY_COLUMNS[table],
        write_statistics=_STATISTICS_COLUMNS[table],
        store_schema=True,
        write_page_index=False,
        write_page_checksum=False,
        use_content_defined_chunking=False,
    )


class _Encoder:
    """One background thread that encodes and writes row groups in submission order; failures stay loud."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="utm6g-eventlog")
        self._pending: deque[Future[None]] = deque()

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        self._pending.append(self._pool.submit(fn, *args))
        while self._pending and (len(self._pending) > _MAX_PENDING_ROW_GROUPS or self._pending[0].done()):
            self._pending.popleft().result()  # re-raises a writer failure in the engine's thread

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


class _Sink:
    """One Parquet file: column chunks of ``rows`` rows, each handed to the encoder as one row group."""

    def __init__(self, path: Path, table: str, header: bytes, rows: int, encoder: _Encoder) -> None:
        self._schema = _SCHEMAS[table].with_metadata({HEADER_KEY: header})
        self._writer = _writer(path, table, self._schema)
        self._cap = rows
        self._encoder = encoder
        self._numeric: dict[str, np.dtype] = {}
        self._strings: list[str] = []
        for field in self._schema:
            if field.type == _KIND:
                self._numeric[field.name] = np.dtype(np.int32)  # codes into self.vocabulary
            elif field.type == pa.string():
                self._strings.append(field.name)
            else:
                self._numeric[field.name] = np.dtype(field.type.to_pandas_dtype())
        self.vocabulary: dict[str, int] = {}  # dictionary values in order of first use
        self._spare: list[dict[str, np.ndarray]] = []
        self.rows = 0
        self._fresh()

    def _fresh(self) -> None:
        # Buffers handed to the encoder come back to _spare once written; until then they are not touched.
        if self._spare:
            self._buffers = self._spare.pop()
        else:
            self._buffers = {name: np.empty(self._cap, dtype) for name, dtype in self._numeric.items()}
        self._text: dict[str, list[list]] = {name: [] for name in self._strings}  # [value, count] runs
        # a scalar repeated over rows [a, b) of a numeric column is written at flush: [value, a, b] runs
        self._fills: dict[str, list[list]] = {name: [] for name in self._numeric}
        self._used = 0

    def code(self, kind: str) -> int:
        """The dictionary code of a kind, added on first use."""
        return self.vocabulary.setdefault(kind, len(self.vocabulary))

    def put(self, n: int, columns: Mapping[str, Any]) -> None:
        """Append n rows; each value is a scalar (repeated) or an array of length n (str for text)."""
        done = 0
        while done < n:
            k = min(n - done, self._cap - self._used)
            a, b = self._used, self._used + k
            whole = k == n  # the common case: the rows fit in the open chunk, no slicing needed
            for name, value in columns.items():
                buffer = self._buffers.get(name)
                if buffer is None:
                    runs = self._text[name]
                    for text in [value] if isinstance(value, str) else value[done : done + k]:
                        count = k if isinstance(value, str) else 1
                        if runs and runs[-1][0] == text:
                            runs[-1][1] += count
                        else:
                            runs.append([text, count])
                elif isinstance(value, np.ndarray):
                    buffer[a:b] = value if whole else value[done : done + k]
                else:
                    self._fill(name, value, a, b)
            self._used, done = b, done + k
            if self._used == self._cap:
                self.flush()
        self.rows += n

    def put_events(
        self, n: int, t: float, code: int, flight: np.ndarray, other: Any, value: Any, detail: str
    ) -> None:
        """:meth:`put` for a batch of events (the engine writes several per tick): the same rows."""
        a, b = self._used, self._used + n
        if n == 0 or b > self._cap:
            columns = {"t_s": t, "kind": code, "flight": flight, "other": other, "value": value}
            self.put(n, {**columns, "detail": detail})
            return
        self._fill("t_s", t, a, b)
        self._fill("kind", code, a, b)
        self._buffers["flight"][a:b] = flight
        for name, column in (("other", other), ("value", value)):
            if isinstance(column, np.ndarray):
                self._buffers[name][a:b] = column
            else:
                self._fill(name, column, a, b)
        runs = self._text["detail"]
        if runs and runs[-1][0] == detail:
            runs[-1][1] += n
        else:
            runs.append([detail, n])
        self._used = b
        self.rows += n
        if b == self._cap:
            self.flush()

    def _fill(self, name: str, value: Any, a: int, b: int) -> None:
        """Rows [a, b) of a numeric column hold the scalar ``value`` (written at flush)."""
        runs = self._fills[name]
        if runs and runs[-1][2] == a and _same(runs[-1][0], value):
            runs[-1][2] = b
        else:
            runs.append([value, a, b])

    def flush(self) -> None:
        """Hand the buffered rows to the encoder as one row group."""
        if not self._used:
            return
        used = self._used
        for name, runs in self._fills.items():
            buffer = self._buffers[name]
            for value, a, b in runs:
                buffer[a:b] = value
        arrays = []
        for field in self._schema:
            if field.type == _KIND:
                dictionary = pa.array(list(self.vocabulary), pa.string())
                codes = pa.array(self._buffers[field.name][:used])
                arrays.append(pa.DictionaryArray.from_arrays(codes, dictionary))
            elif field.name in self._text:
                arrays.append(_string_array(self._text[field.name], used))
            else:
                arrays.append(pa.array(self._buffers[field.name][:used]))
        table = pa.Table.from_arrays(arrays, schema=self._schema)
        self._encoder.submit(self._write, table, self._buffers)
        self._fresh()

    def _write(self, table: pa.Table, buffers: dict[str, np.ndarray] | None = None) -> None:
        """Encoder thread: write one row group, then return its buffers for reuse."""
        self._writer.write_table(table, row_group_size=self._cap)
        if buffers is not None:
            self._spare.append(buffers)

    def write_table(self, table: pa.Table) -> None:
        """Write a whole table (the flights) in row groups of the same size."""
        self._encoder.submit(self._write, table)
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()


def _same(a: Any, b: Any) -> bool:
    """Whether two scalars write the same bytes (0.0 and -0.0 differ; nan only as the same object)."""
    if a is b:
        return True
    if type(a) is not type(b) or a != b:
        return False
    return not isinstance(a, float | np.floating) or math.copysign(1.0, a) == math.copysign(1.0, b)


def _string_array(runs: list[list], n: int) -> pa.Array:
    """The n strings given as ``[value, count]`` runs, as an Arrow string array (the same array
    ``pa.array`` makes from the list of strings, built from its buffers: no Python object per row)."""
    encoded = [text.encode() for text, _ in runs]
    counts = [count for _, count in runs]
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(np.repeat(np.array([len(e) for e in encoded], np.int32), counts), out=offsets[1:])
    data = b"".join(e * c for e, c in zip(encoded, counts, strict=True))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _ids(field: str, values: Any, n: int | None = None) -> np.ndarray:
    """A 1-D integer id array that fits int32 (length n when given)."""
    ids = values if type(values) is np.ndarray else np.asarray(values)
    if ids.ndim != 1 or (n is not None and len(ids) != n):
        want = "n" if n is None else str(n)
        raise EventLogError(field, f"must be a 1-D array of length {want} (got shape {ids.shape})")
    if len(ids):
        if ids.dtype.kind not in "iu":  # np.integer: signed or unsigned
            raise EventLogError(field, f"must hold integers (got dtype {ids.dtype})")
        if ids.dtype.itemsize > 4 and (
            np.minimum.reduce(ids) < _INT32_MIN or np.maximum.reduce(ids) > _INT32_MAX
        ):
            raise EventLogError(field, f"must fit int32 (got {ids.min()}..{ids.max()})")
    return ids


def _column(field: str, values: Any, n: int, default: float | None = None) -> np.ndarray | float:
    """A scalar, or an array of length n (None gives the default)."""
    if values is None:
        if default is None:
            raise EventLogError(field, "is required")
        return default
    array = np.asarray(values)
    if array.ndim == 0:
        return array.item()
    if array.shape != (n,):
        raise EventLogError(field, f"must be a scalar or have shape ({n},) (got {array.shape})")
    return array


def _xyz(field: str, values: Any, n: int) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (n, 3):
        raise EventLogError(field, f"must have shape ({n}, 3) (got {array.shape})")
    return array


def _time(field: str, t_s: float) -> float:
    t = float(t_s)
    if not math.isfinite(t):
        raise EventLogError(field, f"must be finite (got {t_s})")
    return t


def _kind(field: str, kind: str) -> str:
    if not isinstance(kind, str) or not kind:
        raise EventLogError(field, f"must be a non-empty string (got {kind!r})")
    return kind


def _flight_value(name: str, value: Any) -> Any:
    """A registered flight field converted to its column's Python type, or EventLogError."""
    default = FLIGHT_COLUMNS[name]
    field = f"flight.{name}"
    if isinstance(default, str):
        if not isinstance(value, str):
            raise EventLogError(field, f"must be a string (got {value!r})")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool | np.bool_):
            raise EventLogError(field, f"must be a bool (got {value!r})")
        return bool(value)
    if isinstance(value, bool | np.bool_):
        raise EventLogError(field, f"must be a number (got {value!r})")
    if isinstance(default, int):
        if not isinstance(value, int | np.integer) or not -(2**15) <= value < 2**15:
            raise EventLogError(field, f"must be an integer that fits int16 (got {value!r})")
        return int(value)
    if not isinstance(value, int | float | np.integer | np.floating):
        raise EventLogError(field, f"must be a number, NaN when none (got {value!r})")
    return float(value)


class EventLog:
    """Writes one run's log into ``directory`` (created; an existing non-empty one is refused).

    ``header`` needs ``software_version``, ``seed`` and ``scenario`` (the resolved scenario); any other
    plain-JSON keys are kept. Flight ids are ``>= 0``; ``-1`` means "none" in ``flight`` and ``other``.
    Use it as a context manager, or call :meth:`close`: only a closed log is readable (Parquet writes its
    footer, and the flights table is written, at close).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with EventLog(f"{tmp}/run", {"software_version": "0.1.0", "seed": 7, "scenario": {}}) as log:
    ...         log.event(0.0, "request", flight=1)
    ...         log.states(1.0, np.array([1]), np.zeros((1, 3)), np.zeros((1, 3)), np.zeros(1, np.int8))
    ...         log.flight(1, vehicle="quad")
    ...     run = read_log(f"{tmp}/run")
    >>> run.header["seed"], run.states.num_rows, run.flights["landing_s"].to_pylist()
    (7, 1, [nan])
    """

    def __init__(
        self, directory: str | Path, header: Mapping[str, Any], *, row_group_rows: int = 262_144
    ) -> None:
        header_json = _canonical_header(header)
        if isinstance(row_group_rows, bool) or not isinstance(row_group_rows, int) or row_group_rows < 1:
            raise EventLogError("row_group_rows", f"must be a positive integer (got {row_group_rows!r})")
        path = Path(directory)
        if path.exists() and not path.is_dir():
            raise EventLogError("directory", f"is a file, not a directory ({path})")
        if path.is_dir() and any(path.iterdir()):
            raise EventLogError(
                "directory", f"is not empty ({path}); a log is never overwritten, choose a new directory"
            )
        path.mkdir(parents=True, exist_ok=True)
        self.directory = path
        self._header = header_json
        self._rows = row_group_rows
        self._encoder = _Encoder()
        self._events = _Sink(path / "events.parquet", "events", header_json, row_group_rows, self._encoder)
        self._states = _Sink(path / "states.parquet", "states", header_json, row_group_rows, self._encoder)
        self._messages = _Sink(
            path / "messages.parquet", "messages", header_json, row_group_rows, self._encoder
        )
        self._flights: dict[int, dict[str, Any]] = {}
        self._counts: dict[str, int] = {}
        self._closed = False
        self._state_observers: list[StateObserver] = []

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def counts(self) -> dict[str, int]:
        """Events written so far, by kind (a copy; for progress bars)."""
        return dict(self._counts)

    @property
    def rows(self) -> dict[str, int]:
        """Rows written so far to each table (flights: registered so far)."""
        return {
            "events": self._events.rows,
            "states": self._states.rows,
            "messages": self._messages.rows,
            "flights": len(self._flights),
        }

    def _open(self, what: str) -> None:
        if self._closed:
            raise EventLogError(what, f"the log is closed ({self.directory})")

    def event(
        self,
        t_s: float,
        kind: str,
        *,
        flight: int = -1,
        other: int = -1,
        value: float = math.nan,
        detail: str = "",
    ) -> None:
        """One event; events are stored in call order, so same-time events keep the order they happened."""
        self._open("event")
        t = _time("event.t_s", t_s)
        code = self._events.code(_kind("event.kind", kind))
        if not isinstance(detail, str):
            raise EventLogError("event.detail", f"must be a string (got {detail!r})")
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise EventLogError("event.value", f"must be a number, NaN when none (got {value!r})")
        for name, ident in (("flight", flight), ("other", other)):
            if not isinstance(ident, int | np.integer) or not -1 <= ident <= _INT32_MAX:
                raise EventLogError(f"event.{name}", f"must be an id >= 0, or -1 for none (got {ident!r})")
        self._events.put(
            1,
            {"t_s": t, "kind": code, "flight": flight, "other": other, "value": value, "detail": detail},
        )
        self._counts[kind] = self._counts.get(kind, 0) + 1

    def events(
        self,
        t_s: float,
        kind: str,
        flight: np.ndarray,
        *,
        other: np.ndarray | None = None,
        value: np.ndarray | None = None,
        detail: str = "",
    ) -> None:
        """A batch of events of one kind at one time, in array order; ``other``/``value`` broadcast."""
        if self._closed:
            self._open("events")
        t = _time("events.t_s", t_s)
        sink = self._events
        code = sink.vocabulary.get(kind) if type(kind) is str else None
        if code is None:
            code = sink.code(_kind("events.kind", kind))
        ids = _ids("events.flight", flight)
        n = len(ids)
        if not isinstance(detail, str):
            raise EventLogError("events.detail", f"must be a string (got {detail!r})")
        others = -1 if other is None else _column("events.other", other, n)
        if isinstance(others, np.ndarray):
            others = _ids("events.other", others, n)
        elif isinstance(others, bool) or not isinstance(others, int) or not -1 <= others <= _INT32_MAX:
            raise EventLogError("events.other", f"must be ids >= 0, or -1 for none (got {others!r})")
        values = math.nan if value is None else _column("events.value", value, n)
        sink.put_events(n, t, code, ids, others, values, detail)
        if n:
            self._counts[kind] = self._counts.get(kind, 0) + n

    def observe_states(self, observer: StateObserver) -> None:
        """Also hand every states batch, as written, to ``observer`` (the web map's live view); it must not
        keep the arrays beyond the call (they may be reused)."""
        self._state_observers.append(observer)

    def states(
        self, t_s: float, flight: np.ndarray, pos_m: np.ndarray, vel_mps: np.ndarray, mode: np.ndarray
    ) -> None:
        """The state of each listed vehicle at ``t_s``: ids (n,), local ENU pos (n, 3) m, vel (n, 3) m/s,
        mode codes (n,) (see MODES). Stored as float32. The caller pays only the copy into the chunk
        buffers (about 0.1-0.2 ms per 10,000 rows); encoding runs on the log's background thread."""
        self._open("states")
        t = _time("states.t_s", t_s)
        ids = _ids("states.flight", flight)
        n = len(ids)
        pos, vel = _xyz("states.pos_m", pos_m, n), _xyz("states.vel_mps", vel_mps, n)
        modes = np.asarray(mode)
        if modes.shape != (n,) or (n and modes.dtype.kind not in "iu"):
            raise EventLogError(
                "states.mode", f"must be ({n},) integer codes (got {modes.dtype} {modes.shape})"
            )
        self._states.put(
            n,
            {
                "t_s": t,
                "flight": ids,
                "x_m": pos[:, 0],
                "y_m": pos[:, 1],
                "z_m": pos[:, 2],
                "vx_mps": vel[:, 0],
                "vy_mps": vel[:, 1],
                "vz_mps": vel[:, 2],
                "mode": modes,
            },
        )
        for observer in self._state_observers:
            observer(t, ids, pos, vel, modes)

    def messages(
        self,
        kind: str,
        flight: np.ndarray,
        t_sent_s: np.ndarray,
        t_received_s: np.ndarray,
        pos_m: np.ndarray,
        value: np.ndarray | None = None,
    ) -> None:
        """A batch of messages of one kind (report | advisory | detection): ``t_received_s`` NaN when lost;
        ``pos_m`` (n, 3) the position carried; times and ``value`` broadcast to (n,)."""
        self._open("messages")
        code = self._messages.code(_kind("messages.kind", kind))
        ids = _ids("messages.flight", flight)
        n = len(ids)
        pos = _xyz("messages.pos_m", pos_m, n)
        self._messages.put(
            n,
            {
                "kind": code,
                "flight": ids,
                "t_sent_s": _column("messages.t_sent_s", t_sent_s, n),
                "t_received_s": _column("messages.t_received_s", t_received_s, n),
                "x_m": pos[:, 0],
                "y_m": pos[:, 1],
                "z_m": pos[:, 2],
                "value": _column("messages.value", value, n, math.nan),
            },
        )

    def flight(self, flight: int, **fields: Any) -> None:
        """Register a flight's static row, or update the given fields of a registered one.

        Unset fields keep the FLIGHT_COLUMNS defaults ('' / NaN / cooperative True / priority 0).
        """
        self._open("flight")
        if (
            isinstance(flight, bool)
            or not isinstance(flight, int | np.integer)
            or not 0 <= flight <= _INT32.max
        ):
            raise EventLogError("flight.flight", f"must be an id in 0..{_INT32.max} (got {flight!r})")
        unknown = sorted(set(fields) - set(FLIGHT_COLUMNS))
        if unknown:
            raise EventLogError(
                f"flight.{unknown[0]}", f"is not a flights column (valid: {', '.join(FLIGHT_COLUMNS)})"
            )
        converted = {name: _flight_value(name, value) for name, value in fields.items()}
        self._flights.setdefault(int(flight), dict(FLIGHT_COLUMNS)).update(converted)

    def _flights_table(self) -> pa.Table:
        ids = sorted(self._flights)
        schema = _SCHEMAS["flights"]
        columns = {"flight": pa.array(ids, pa.int32())}
        for name in FLIGHT_COLUMNS:
            columns[name] = pa.array([self._flights[i][name] for i in ids], schema.field(name).type)
        return pa.Table.from_pydict(columns, schema=schema.with_metadata({HEADER_KEY: self._header}))

    def close(self) -> None:
        """Flush every buffer, write the flights table (sorted by flight), close the files, then seal them
        with ``manifest.json`` (only when all of that succeeded). Idempotent."""
        if self._closed:
            return
        self._closed = True
        sinks = [self._events, self._states, self._messages]
        try:
            for sink in sinks:
                sink.flush()
            flights = _Sink(
                self.directory / "flights.parquet", "flights", self._header, self._rows, self._encoder
            )
            sinks.append(flights)
            flights.write_table(self._flights_table())
            self._encoder.drain()
        finally:
            self._encoder.shutdown()
            for sink in sinks:
                sink.close()
        write_manifest(self.directory)


@dataclass(frozen=True, slots=True)
class RunLog:
    """A log read back: the header and the four tables (memory-mapped Parquet)."""

    header: dict[str, Any]
    events: pa.Table
    states: pa.Table
    messages: pa.Table
    flights: pa.Table
    directory: Path

    def iter_states(self, columns: Sequence[str], *, batch_rows: int = 1 << 20) -> Iterator[pa.RecordBatch]:
        """Record batches of the named state columns, streamed from disk in file order.

        Memory stays at about one row group of those columns: no pre-buffering (pyarrow's default
        reads every selected column chunk of the file ahead) and no memory map.
        """
        file = pq.ParquetFile(self.directory / "states.parquet", pre_buffer=False, buffer_size=1 << 20)
        return file.iter_batches(batch_size=batch_rows, columns=list(columns))


def read_log(
    directory: str | Path,
    *,
    columns: Sequence[str] | None = None,
    filters: Any = None,
    window_s: tuple[float, float] | None = None,
) -> RunLog:
    """Read a log; ``columns``, ``filters`` and ``window_s`` apply to ``states`` only.

    ``window_s=(t0, t1)`` keeps states with ``t0 <= t_s <= t1`` (row groups outside are skipped by their
    statistics); ``filters`` is pyarrow's DNF filter list; ``columns=[]`` reads no state data (use
    :meth:`RunLog.iter_states` to stream instead). The four files must carry the same header.
    """
    path = Path(directory)
    headers = {}
    for name in LOG_FILES:
        file = path / name
        if not file.is_file():
            raise EventLogError("directory", f"has no {name} ({path}); is it a closed utm6g log?")
        headers[name] = (pq.read_schema(file).metadata or {}).get(HEADER_KEY)
    if headers[LOG_FILES[0]] is None or len(set(headers.values())) != 1:
        raise EventLogError("header", f"missing or different between the files of {path}")
    header = json.loads(headers[LOG_FILES[0]])
    if header.get("format") not in _READABLE_FORMATS:
        known = " or ".join(repr(f) for f in _READABLE_FORMATS)
        raise EventLogError("header.format", f"must be {known} (got {header.get('format')!r})")
    if window_s is not None:
        t0, t1 = window_s
        window = [("t_s", ">=", float(t0)), ("t_s", "<=", float(t1))]
        if filters is None:
            filters = window
        elif filters and isinstance(filters[0], list):
            filters = [[*conjunction, *window] for conjunction in filters]
        else:
            filters = [*filters, *window]

    def table(name: str, **options: Any) -> pa.Table:
        return pq.read_table(path / f"{name}.parquet", memory_map=True, **options)

    return RunLog(
        header=header,
        events=table("events"),
        states=table("states", columns=None if columns is None else list(columns), filters=filters),
        messages=table("messages"),
        flights=_with_plans(table("flights")),
        directory=path,
    )


def _with_plans(flights: pa.Table) -> pa.Table:
    """A version-1 flights table (no ``plan`` column) with empty plans, so readers see one schema."""
    if "plan" in flights.column_names:
        return flights
    return flights.append_column(
        _SCHEMAS["flights"].field("plan"), pa.array([""] * flights.num_rows, pa.string())
    )
