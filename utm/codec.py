"""Exact JSON codec of volumes, geofences and times for the store, in the region's LOCAL metres.

Geometry is stored as local x/y/z metres rather than lat/lng, so a restart rebuilds exactly the geometry
that was decided on (no projection round trip); floats go through ``json`` with ``repr`` and come back
bit for bit. JSON has no infinity: an unbounded height is ``null`` (``z_lower_m: null`` is ``-inf``,
``z_upper_m: null`` is ``inf``); NaN is refused. Times are RFC 3339 UTC with microseconds and a ``Z``,
fixed width, so their text order is their time order (the store filters on it). Decoding goes through
the airspace constructors (``Volume3D.polygon`` / ``Volume3D.circle``), so stored data is validated again,
except in :func:`volume4d_lists_from_stored`, the store's bulk read of rows it wrote itself: there the
geometry rules checked before the write are not run again, but a damaged row still fails loudly.

Layer: utm; imports airspace only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon

from airspace.errors import InvalidVolume
from airspace.geofences import Applicability, Geofence, Restriction, WeeklySchedule
from airspace.volumes import Circle, Volume3D, Volume4D, parse_time
from utm.errors import UTMError

__all__ = [
    "StoreError",
    "dumps",
    "geofence_from_json",
    "geofence_to_json",
    "time_from_json",
    "time_from_stored",
    "time_to_json",
    "volume3d_from_json",
    "volume3d_to_json",
    "volume4d_from_json",
    "volume4d_lists_from_stored",
    "volume4d_to_json",
]

Bounds = tuple[float, float, float, float]
"""``(xmin, ymin, xmax, ymax)`` of an outline, local metres."""


class StoreError(UTMError, ValueError):
    """A stored document or database the code cannot use as is; names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def dumps(doc: Any) -> str:
    """Compact JSON text; floats as ``repr`` (exact round trip); NaN or infinity refused.

    >>> dumps({"x_m": 0.1, "z": None})
    '{"x_m":0.1,"z":null}'
    """
    return json.dumps(doc, allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def time_to_json(t: datetime | None) -> str | None:
    """RFC 3339 UTC with microseconds and ``Z`` (fixed width, sorts as time); ``None`` stays ``None``.

    >>> from datetime import timedelta, timezone
    >>> time_to_json(datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8))))
    '2026-01-01T00:00:00.000000Z'
    """
    if t is None:
        return None
    if t.utcoffset() is None:
        raise StoreError("time", f"must be timezone-aware ({t.isoformat()})")
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def time_from_json(text: Any, *, field: str = "time") -> datetime | None:
    """The UTC datetime of :func:`time_to_json`'s text; ``None`` stays ``None``."""
    if text is None:
        return None
    try:
        return parse_time(text, field).astimezone(UTC)
    except InvalidVolume as err:
        raise StoreError(err.field, err.reason) from None


def volume3d_to_json(v: Volume3D) -> dict[str, Any]:
    """``{"polygon": [[x, y], ...]}`` or ``{"circle": [x, y, r]}``, plus ``z_lower_m``, ``z_upper_m``.

    >>> volume3d_to_json(Volume3D.circle(1.0, 2.0, 3.5, z_lower_m=-math.inf, z_upper_m=120.0))
    {'circle': [1.0, 2.0, 3.5], 'z_lower_m': None, 'z_upper_m': 120.0}
    """
    o = v.outline
    doc: dict[str, Any]
    if isinstance(o, Circle):
        doc = {"circle": [o.center_x_m, o.center_y_m, o.radius_m]}
    else:
        if o.interiors:
            raise StoreError("volume.outline", "polygons with holes cannot be stored (F3548 has none)")
        doc = {"polygon": shapely.get_coordinates(o)[:-1].tolist()}  # the shell: no holes here
    doc["z_lower_m"] = v.z_lower_m if v.z_lower_m != -math.inf else None
    doc["z_upper_m"] = v.z_upper_m if v.z_upper_m != math.inf else None
    return doc


def volume3d_from_json(doc: Any, *, field: str = "volume") -> Volume3D:
    """The :class:`Volume3D` of :func:`volume3d_to_json`'s document, validated by its constructor."""
    doc = _mapping(doc, field)
    z_lower = _height(doc, "z_lower_m", field, -math.inf)
    z_upper = _height(doc, "z_upper_m", field, math.inf)
    if ("polygon" in doc) == ("circle" in doc):
        raise StoreError(field, "needs exactly one of polygon and circle")
    if "polygon" in doc:
        vertices = doc["polygon"]
        if not isinstance(vertices, list) or not all(_is_xy(p) for p in vertices):
            raise StoreError(f"{field}.polygon", "must be a list of [x, y] numbers")
        return Volume3D.polygon(vertices, z_lower_m=z_lower, z_upper_m=z_upper, field=field)
    circle = doc["circle"]
    if not (isinstance(circle, list) and len(circle) == 3 and all(_is_number(c) for c in circle)):
        raise StoreError(f"{field}.circle", f"must be [x, y, radius] numbers ({circle!r})")
    return Volume3D.circle(*circle, z_lower_m=z_lower, z_upper_m=z_upper, field=field)


def volume4d_to_json(v: Volume4D) -> dict[str, Any]:
    """``{"volume": ..., "time_start": RFC 3339 | null, "time_end": ...}`` (null = unbounded)."""
    return {
        "volume": volume3d_to_json(v.volume),
        "time_start": time_to_json(v.time_start),
        "time_end": time_to_json(v.time_end),
    }


def volume4d_from_json(doc: Any, *, field: str = "volume4d") -> Volume4D:
    """The :class:`Volume4D` of :func:`volume4d_to_json`'s document."""
    doc = _mapping(doc, field)
    return Volume4D(
        volume3d_from_json(doc.get("volume"), field=f"{field}.volume"),
        time_from_json(doc.get("time_start"), field=f"{field}.time_start"),
        time_from_json(doc.get("time_end"), field=f"{field}.time_end"),
    )


def time_from_stored(text: Any, *, field: str = "time") -> datetime | None:
    """:func:`time_from_json` of text the store wrote: its own ``...Z`` form is parsed directly.

    >>> time_from_stored("2026-01-01T00:00:00.000000Z")
    datetime.datetime(2026, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if isinstance(text, str) and text.endswith("Z"):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # the strict parse names the problem
    return time_from_json(text, field=field)


def volume4d_lists_from_stored(texts: Sequence[str], fields: Sequence[str]) -> list[tuple[Volume4D, ...]]:
    """The volumes of each JSON text (a list of :func:`volume4d_to_json` documents) the store wrote itself.

    Trusted: the store validated each volume before writing it, so the geometry rules (ring, repeats,
    self-crossing) are not run again, and polygons are built in one vectorized call per vertex count. Not
    blind: a text that is not JSON, or a document the fast path cannot read as written (its shape, a
    coordinate that is not a finite number, z or time order), goes through :func:`volume4d_from_json`,
    which names what is wrong.
    """
    lists = [_json_list(text, field) for text, field in zip(texts, fields, strict=True)]
    docs = [doc for docs in lists for doc in docs]
    outlines = iter(_stored_outlines(docs))
    return [
        tuple(_stored_volume4d(doc, *next(outlines), f"{field}[{n}]") for n, doc in enumerate(docs))
        for docs, field in zip(lists, fields, strict=True)
    ]


def _json_list(text: str, field: str) -> list[Any]:
    try:
        doc = json.loads(text)
    except (TypeError, ValueError) as err:
        raise StoreError(field, f"is not valid JSON ({err})") from None
    if not isinstance(doc, list):
        raise StoreError(field, f"must be a list ({type(doc).__name__})")
    return doc


def _stored_outlines(docs: list[Any]) -> list[tuple[Polygon | Circle | None, Bounds | None]]:
    """The outline of each stored volume document and, for a polygon, its bounds (from the same coordinates);
    ``(None, None)`` where the fast path cannot read the document as written."""
    out: list[tuple[Polygon | Circle | None, Bounds | None]] = [(None, None)] * len(docs)
    by_count: dict[int, list[int]] = {}
    for n, doc in enumerate(docs):
        vol = doc.get("volume") if isinstance(doc, dict) else None
        if not isinstance(vol, dict) or ("polygon" in vol) == ("circle" in vol):
            continue
        if isinstance(vertices := vol.get("polygon"), list):
            by_count.setdefault(len(vertices), []).append(n)
        elif _is_stored_circle(circle := vol.get("circle")):
            out[n] = (Circle(*circle), None)
    for count, members in by_count.items():
        try:
            xy = np.array([docs[n]["volume"]["polygon"] for n in members], dtype=float)
        except (TypeError, ValueError):  # ragged or not numbers: each goes the strict way
            continue
        if count >= 3 and xy.shape == (len(members), count, 2):
            finite = np.isfinite(xy).all(axis=(1, 2)).tolist()
            bounds = np.hstack([xy.min(axis=1), xy.max(axis=1)]).tolist()  # shapely's bounds, exactly
            for n, polygon, box, ok in zip(
                members, shapely.polygons(xy).tolist(), bounds, finite, strict=True
            ):
                if ok:
                    out[n] = (polygon, tuple(box))
    return out


def _is_stored_circle(circle: Any) -> bool:
    return (
        isinstance(circle, list)
        and len(circle) == 3
        and all(type(c) is float and math.isfinite(c) for c in circle)
        and circle[2] >= 0.0
    )


def _stored_volume4d(
    doc: Any, outline: Polygon | Circle | None, bounds: Bounds | None, field: str
) -> Volume4D:
    """A stored volume document built directly when it reads as written; else by the validating decoder."""
    if outline is not None:
        try:
            vol = doc["volume"]
            z_lower_m = _stored_height(vol["z_lower_m"], -math.inf)
            z_upper_m = _stored_height(vol["z_upper_m"], math.inf)
            if z_lower_m < z_upper_m:
                start, end = time_from_stored(doc["time_start"]), time_from_stored(doc["time_end"])
                return Volume4D(Volume3D.trusted(outline, z_lower_m, z_upper_m, bounds), start, end)
        except (KeyError, TypeError, ValueError, InvalidVolume):  # StoreError is a ValueError
            pass  # the validating decoder names the problem
    return volume4d_from_json(doc, field=field)


def _stored_height(z: Any, unbounded: float) -> float:
    if z is None:
        return unbounded
    if type(z) is not float or z != z:  # NaN
        raise TypeError("not as written")
    return z


def geofence_to_json(g: Geofence) -> dict[str, Any]:
    """Every field of a :class:`Geofence`; weekly schedule days sorted, times of day ISO with microseconds."""
    return {
        "identifier": g.identifier,
        "restriction": str(g.restriction),
        "volumes": [volume3d_to_json(v) for v in g.volumes],
        "applicability": [
            {
                "start": time_to_json(a.start),
                "end": time_to_json(a.end),
                "schedules": [
                    {
                        "days": sorted(s.days),
                        "start": s.start.isoformat(timespec="microseconds"),
                        "end": s.end.isoformat(timespec="microseconds"),
                    }
                    for s in a.schedules
                ],
            }
            for a in g.applicability
        ],
        "name": g.name,
        "country": g.country,
        "authority": g.authority,
        "message": g.message,
    }


def geofence_from_json(doc: Any, *, field: str = "geofence") -> Geofence:
    """The :class:`Geofence` of :func:`geofence_to_json`'s document."""
    doc = _mapping(doc, field)
    try:
        restriction = Restriction(doc.get("restriction"))
    except ValueError:
        valid = ", ".join(r.value for r in Restriction)
        raise StoreError(
            f"{field}.restriction", f"must be one of {valid} ({doc.get('restriction')!r})"
        ) from None
    return Geofence(
        identifier=_text(doc, "identifier", field),
        restriction=restriction,
        volumes=tuple(
            volume3d_from_json(v, field=f"{field}.volumes[{i}]")
            for i, v in enumerate(_list(doc, "volumes", field))
        ),
        applicability=tuple(
            _applicability(a, f"{field}.applicability[{i}]")
            for i, a in enumerate(_list(doc, "applicability", field))
        ),
        name=_text(doc, "name", field),
        country=_text(doc, "country", field),
        authority=_text(doc, "authority", field),
        message=_text(doc, "message", field),
    )


def _applicability(doc: Any, field: str) -> Applicability:
    doc = _mapping(doc, field)
    return Applicability(
        time_from_json(doc.get("start"), field=f"{field}.start"),
        time_from_json(doc.get("end"), field=f"{field}.end"),
        tuple(_schedule(s, f"{field}.schedules[{i}]") for i, s in enumerate(_list(doc, "schedules", field))),
    )


def _schedule(doc: Any, field: str) -> WeeklySchedule:
    doc = _mapping(doc, field)
    days = _list(doc, "days", field)
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in days):
        raise StoreError(f"{field}.days", f"must be weekday integers ({days!r})")
    return WeeklySchedule(frozenset(days), _time_of_day(doc, "start", field), _time_of_day(doc, "end", field))


def _time_of_day(doc: Mapping[str, Any], key: str, field: str) -> time:
    text = _text(doc, key, field)
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise StoreError(f"{field}.{key}", f"is not an ISO time of day ({text!r})") from None


def _mapping(doc: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise StoreError(field, f"must be an object ({type(doc).__name__})")
    return doc


def _list(doc: Mapping[str, Any], key: str, field: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise StoreError(f"{field}.{key}", f"must be a list ({value!r})")
    return value


def _text(doc: Mapping[str, Any], key: str, field: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str):
        raise StoreError(f"{field}.{key}", f"must be a string ({value!r})")
    return value


def _height(doc: Mapping[str, Any], key: str, field: str, unbounded: float) -> float:
    if key not in doc:
        raise StoreError(f"{field}.{key}", "is required (null when unbounded)")
    value = doc[key]
    if value is None:
        return unbounded
    if not _is_number(value):
        raise StoreError(f"{field}.{key}", f"must be a number or null ({value!r})")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_xy(point: Any) -> bool:
    return isinstance(point, list) and len(point) == 2 and all(_is_number(c) for c in point)
