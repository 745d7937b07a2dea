"""Vehicle states of a time window as the web map's compact binary frames (``U6GF``; docs/map-api.md).

Columns go out as raw little-endian arrays behind a small JSON header, each at an 8-byte-aligned offset, so
the page wraps them in typed arrays without parsing: about 30 bytes a vehicle-sample against about 120 as
JSON. Rows are sorted by (time, flight) and sliced per sample time. Layer: api.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable

import numpy as np
import pyarrow as pa

__all__ = ["MAGIC", "SENSED_WINDOW_S", "decode_frames", "encode_frames", "frame_columns"]

MAGIC = b"U6GF"
SENSED_WINDOW_S = 3.0
"""A vehicle counts as sensed at a sample when a detection of it was delivered in this many seconds up to it
(a few scan periods: a track coasts that long between detections)."""
_KINEMATICS = ("x_m", "y_m", "z_m", "vx_mps", "vy_mps", "vz_mps")

SensedLookup = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def frame_columns(states: pa.Table, stride: int, sensed: SensedLookup | None) -> dict[str, np.ndarray]:
    """The frame columns of ``states`` (the log's state columns), keeping every ``stride``-th sample time.

    ``sensed(flight, lo_s, hi_s)`` says per row whether a detection was delivered in ``[lo_s, hi_s]``; None
    (a run without sensing) marks nothing sensed.
    """
    t = states["t_s"].to_numpy()
    flight = states["flight"].to_numpy()
    times = np.unique(t)[::stride]
    keep = np.isin(t, times)
    order = np.flatnonzero(keep)[np.lexsort((flight[keep], t[keep]))]
    t, flight = t.take(order), flight.take(order)
    columns: dict[str, np.ndarray] = {
        "time_s": times.astype("<f8"),
        "slice_start": np.searchsorted(t, np.append(times, np.inf)).astype("<u4"),
        "flight": flight.astype("<i4"),
    }
    for name in _KINEMATICS:
        columns[name] = states[name].to_numpy().take(order).astype("<f4")
    columns["mode"] = states["mode"].to_numpy().take(order).astype(np.uint8)
    seen = np.zeros(len(t), bool) if sensed is None or not len(t) else sensed(flight, t - SENSED_WINDOW_S, t)
    columns["sensed"] = seen.astype(np.uint8)
    return columns


def encode_frames(columns: dict[str, np.ndarray], t0_s: float, t1_s: float) -> bytes:
    """``U6GF``, the header length, the JSON header, then each column at an 8-byte-aligned body offset."""
    offsets, offset = [], 0
    for name, values in columns.items():
        offsets.append({"name": name, "dtype": values.dtype.name, "length": len(values), "offset": offset})
        offset += _padded(values.nbytes)
    header = json.dumps(
        {
            "t0_s": t0_s,
            "t1_s": t1_s,
            "times": len(columns["time_s"]),
            "rows": len(columns["flight"]),
            "columns": offsets,
        },
        separators=(",", ":"),
    ).encode()
    head = MAGIC + struct.pack("<I", len(header)) + header
    body = bytearray(_padded(len(head)) - len(head))
    for values in columns.values():
        body += values.tobytes()
        body += bytes(_padded(values.nbytes) - values.nbytes)
    return head + bytes(body)


def decode_frames(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and columns of an ``encode_frames`` payload (tests and Python clients)."""
    if data[:4] != MAGIC:
        raise ValueError(f"not a utm6g frames payload (starts {data[:4]!r})")
    (size,) = struct.unpack_from("<I", data, 4)
    header = json.loads(data[8 : 8 + size])
    body = _padded(8 + size)
    columns = {
        c["name"]: np.frombuffer(
            data, dtype=np.dtype(c["dtype"]).newbyteorder("<"), count=c["length"], offset=body + c["offset"]
        )
        for c in header["columns"]
    }
    return header, columns


def _padded(n: int) -> int:
    return -(-n // 8) * 8
