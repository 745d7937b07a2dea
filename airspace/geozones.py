"""Geozone importers: ED-269, ED-318 and GeoJSON documents to :class:`~airspace.geofences.Geofence`.

:func:`load_geozones` takes a path or a parsed document and detects the format:

- ``UASZoneList[]`` at the root: ED-269 (the Swiss FOCA sample); a root ``features[]`` without
  ``"type": "FeatureCollection"``: ED-269 as uas_standards' ``ED269Schema`` (each item is a UAS zone).
- A GeoJSON ``FeatureCollection`` whose geometries carry ED-318 ``layer`` objects: ED-318. Otherwise the
  collection is plain GeoJSON, whose ``properties`` carry ``restriction`` (required), ``identifier``
  (or the Feature ``id``), ``name``, ``country``, ``authority``, ``message``, ``lower_m`` / ``upper_m`` with
  ``altitude_reference`` (``W84 | AMSL | AGL``, required with a limit; a missing limit is unbounded) and
  ``time_start`` / ``time_end`` (RFC 3339).

Decisions (STANDARDS.md §4): ED-318 ``REQ_AUTHORIZATION`` is ED-269's ``REQ_AUTHORISATION``; ED-318
``USPACE`` becomes ``NO_RESTRICTION``, because U-space airspace only requires using U-space services, which
a flight planned through this service already does. Polygon holes are refused (F3548 outlines have none:
split the zone). ED-269 circle radii are in ``uomDimensions``; ED-318 ``extent.radius`` is in metres (its
``uom`` is the layer's). A ``layer`` on an ED-318 GeometryCollection applies to members without one.
Schedule times without an offset are UTC; sunrise/sunset events (ED-318 ``startEvent``) are refused.

Limitation: heights are converted with one region-level :class:`~airspace.frames.VerticalDatum` (one terrain
elevation, one geoid undulation), so an AGL limit over terrain that departs from the region's constant is off
by that difference; a DEM-backed datum would lift it behind the same ``to_w84`` call.

Layer: airspace; imports nothing of ours but airspace.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from airspace import geofences
from airspace.errors import AirspaceInputError, InvalidGeozone
from airspace.frames import LocalFrame, VerticalDatum
from airspace.geofences import Applicability, Geofence, Restriction, WeeklySchedule
from airspace.volumes import Volume3D, parse_time

__all__ = ["load_geozones"]

_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_UNITS_M = {"M": 1.0, "FT": 0.3048}
_REFERENCES = ("AGL", "AMSL", "W84", "WGS84")
_DEFAULT_DATUM = VerticalDatum()
_ALIASES = {"REQ_AUTHORIZATION": Restriction.REQ_AUTHORISATION, "USPACE": Restriction.NO_RESTRICTION}
_Heights = Callable[[Mapping[str, Any], str], tuple[float, float]]


def load_geozones(
    source: str | os.PathLike[str] | Mapping[str, Any],
    frame: LocalFrame,
    datum: VerticalDatum = _DEFAULT_DATUM,
) -> list[Geofence]:
    """The geofences of an ED-269, ED-318 or GeoJSON document (a path or a parsed object), in ``frame``.

    Heights become frame z: ``datum.to_w84(value_m, reference) - frame.h0_m``; a null limit is unbounded.
    Any defect raises one :class:`InvalidGeozone` naming the file, the zone and the field.
    """
    reader = _Reader(frame, datum)
    if not isinstance(source, str | os.PathLike):
        return _parse_document(source, reader)
    path = Path(source)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidGeozone(str(path), "no such file") from None
    except OSError as err:
        raise InvalidGeozone(str(path), f"cannot be read ({err.strerror})") from None
    except ValueError as err:
        raise InvalidGeozone(str(path), f"is not JSON ({err})") from None
    with _prefixed(f"{path.name}:"):
        return _parse_document(doc, reader)


def _parse_document(doc: Any, reader: _Reader) -> list[Geofence]:
    if not isinstance(doc, Mapping):
        raise InvalidGeozone("document", f"must be a JSON object ({type(doc).__name__})")
    is_collection = doc.get("type") == "FeatureCollection"
    if "UASZoneList" in doc or (not is_collection and isinstance(doc.get("features"), list)):
        key = "UASZoneList" if "UASZoneList" in doc else "features"
        return [_ed269_zone(zone, field, reader) for zone, field in _items(doc[key], key)]
    if not is_collection:
        reason = "unknown geozone format: looked for UASZoneList[] (ED-269), features[] (ED-269) or a GeoJSON"
        reason += f" FeatureCollection (ED-318, plain GeoJSON); found keys {sorted(map(str, doc))}"
        raise InvalidGeozone("document", reason)
    features = _items(doc.get("features"), "features")
    ed318 = any(isinstance(f, Mapping) and _has_layer(f.get("geometry")) for f, _ in features)
    return [_feature(feature, field, reader, ed318=ed318) for feature, field in features]


def _ed269_zone(zone: Any, field: str, reader: _Reader) -> Geofence:
    zone = _obj(zone, field)
    ident = _identifier(zone.get("identifier"), f"{field}.identifier")
    at = f"{field}({ident})"
    restriction = _restriction(zone.get("restriction"), f"{at}.restriction")
    volumes = [reader.ed269_volume(g, f) for g, f in _items(zone.get("geometry"), f"{at}.geometry", 1)]
    applicability = _applicability(zone.get("applicability"), f"{at}.applicability")
    return _geofence(ident, restriction, volumes, applicability, zone)


def _feature(feature: Any, field: str, reader: _Reader, *, ed318: bool) -> Geofence:
    """An ED-318 feature, or a plain GeoJSON one (properties as in the module docstring)."""
    feature = _obj(feature, field)
    props = _obj(feature.get("properties"), f"{field}.properties")
    ident = _identifier(props.get("identifier", feature.get("id")), f"{field}.properties.identifier")
    at = f"{field}({ident})"
    hint = "; plain GeoJSON, as no geometry has an ED-318 layer"
    key, hint = ("type", "") if ed318 else ("restriction", hint)
    restriction = _restriction(props.get(key), f"{at}.properties.{key}", hint)
    if ed318:
        volumes = reader.geojson_volumes(feature.get("geometry"), f"{at}.geometry", reader.ed318_layer)
        periods = props.get("limitedApplicability")
        applicability = _applicability(periods, f"{at}.properties.limitedApplicability")
    else:
        keys = ("lower_m", "altitude_reference", "upper_m", "altitude_reference")
        z = reader.heights(props, keys, 1.0, f"{at}.properties")
        volumes = reader.geojson_volumes(feature.get("geometry"), f"{at}.geometry", lambda _g, _f: z)
        start = _datetime(props.get("time_start"), f"{at}.properties.time_start")
        end = _datetime(props.get("time_end"), f"{at}.properties.time_end")
        with _prefixed(f"{at}.properties.time_"):
            applicability = () if start is None and end is None else (Applicability(start, end),)
    return _geofence(ident, restriction, volumes, applicability, props)


def _geofence(
    ident: str, restriction: Restriction, volumes: list[Volume3D], applicability: tuple, doc: Mapping
) -> Geofence:
    authorities = doc.get("zoneAuthority")
    if isinstance(authorities, list):
        names = (_text(a.get("name")) for a in authorities if isinstance(a, Mapping))
        authority = "; ".join(name for name in names if name)
    else:
        authority = _text(doc.get("authority"))
    texts = {key: _text(doc.get(key)) for key in ("name", "country", "message")}
    return Geofence(ident, restriction, tuple(volumes), applicability, authority=authority, **texts)


@dataclass(frozen=True, slots=True)
class _Reader:
    """Geometry and heights of one document, converted into ``frame`` with ``datum``."""

    frame: LocalFrame
    datum: VerticalDatum

    def heights(self, doc: Mapping, keys: tuple[str, ...], scale_m: float, field: str) -> tuple[float, float]:
        """(z_lower_m, z_upper_m) from ``keys`` = (lower, lower reference, upper, upper reference)."""
        z_lower = self._z(doc, keys[0], keys[1], scale_m, field, -math.inf)
        z_upper = self._z(doc, keys[2], keys[3], scale_m, field, math.inf)
        if not z_lower < z_upper:
            reason = f"must be below {keys[2]} ({z_lower:.2f} m >= {z_upper:.2f} m in the frame)"
            raise InvalidGeozone(f"{field}.{keys[0]}", reason)
        return z_lower, z_upper

    def _z(self, doc: Mapping, key: str, ref_key: str, scale_m: float, field: str, missing: float) -> float:
        if doc.get(key) is None:
            return missing
        value = _number(doc[key], f"{field}.{key}")
        ref = doc.get(ref_key)
        if not isinstance(ref, str) or ref.upper() not in _REFERENCES:
            raise InvalidGeozone(f"{field}.{ref_key}", f"must be one of {', '.join(_REFERENCES)} ({ref!r})")
        return float(self.datum.to_w84(value * scale_m, ref)) - self.frame.h0_m

    def ed269_volume(self, doc: Any, field: str) -> Volume3D:
        doc = _obj(doc, field)
        scale_m = _unit(doc.get("uomDimensions"), f"{field}.uomDimensions")
        keys = ("lowerLimit", "lowerVerticalReference", "upperLimit", "upperVerticalReference")
        z = self.heights(doc, keys, scale_m, field)
        hp_field = f"{field}.horizontalProjection"
        hp = _obj(doc.get("horizontalProjection"), hp_field)
        if hp.get("type") == "Polygon":
            return self.polygon(hp.get("coordinates"), f"{hp_field}.coordinates", z)
        if hp.get("type") == "Circle":
            radius_m = _number(hp.get("radius"), f"{hp_field}.radius") * scale_m
            return self.circle(hp.get("center"), radius_m, (f"{hp_field}.center", f"{hp_field}.radius"), z)
        raise InvalidGeozone(f"{hp_field}.type", f"must be Polygon or Circle ({hp.get('type')!r})")

    def ed318_layer(self, geometry: Mapping, field: str) -> tuple[float, float]:
        layer = _obj(geometry.get("layer"), f"{field}.layer")
        scale_m = _unit(layer.get("uom"), f"{field}.layer.uom")
        keys = ("lower", "lowerReference", "upper", "upperReference")
        return self.heights(layer, keys, scale_m, f"{field}.layer")

    def geojson_volumes(self, geometry: Any, field: str, heights: _Heights) -> list[Volume3D]:
        """Volumes of a Polygon, MultiPolygon, GeometryCollection, or Point + circle ``extent``."""
        geometry = _obj(geometry, field)
        kind = geometry.get("type")
        if kind == "GeometryCollection":
            out = []
            for member, member_field in _items(geometry.get("geometries"), f"{field}.geometries", 1):
                if isinstance(member, Mapping) and "layer" in geometry and "layer" not in member:
                    member = {**member, "layer": geometry["layer"]}
                out += self.geojson_volumes(member, member_field, heights)
            return out
        if kind == "Polygon":
            z = heights(geometry, field)
            return [self.polygon(geometry.get("coordinates"), f"{field}.coordinates", z)]
        if kind == "MultiPolygon":
            z = heights(geometry, field)
            polygons = _items(geometry.get("coordinates"), f"{field}.coordinates", 1)
            return [self.polygon(rings, rings_field, z) for rings, rings_field in polygons]
        if kind == "Point":
            extent = _obj(geometry.get("extent"), f"{field}.extent")
            if extent.get("subType") != "Circle":
                raise InvalidGeozone(f"{field}.extent.subType", f"must be Circle ({extent.get('subType')!r})")
            radius_m = _number(extent.get("radius"), f"{field}.extent.radius")
            fields = (f"{field}.coordinates", f"{field}.extent.radius")
            return [self.circle(geometry.get("coordinates"), radius_m, fields, heights(geometry, field))]
        reason = f"must be Polygon, MultiPolygon, GeometryCollection or Point with a circle extent ({kind!r})"
        raise InvalidGeozone(f"{field}.type", reason)

    def polygon(self, rings: Any, field: str, z: tuple[float, float]) -> Volume3D:
        """A GeoJSON polygon (closed rings of [lng, lat]); holes are refused."""
        if not isinstance(rings, list) or not rings:
            raise InvalidGeozone(field, "must be a non-empty list of linear rings")
        if len(rings) > 1:
            reason = f"polygon holes are not supported ({len(rings) - 1} inner ring(s)); split the zone"
            raise InvalidGeozone(field, reason)
        ring = rings[0]
        if not isinstance(ring, list) or len(ring) < 4:
            raise InvalidGeozone(f"{field}[0]", "a linear ring needs at least 4 positions (RFC 7946)")
        lng_lat = np.array([_position(p, f"{field}[0][{i}]") for i, p in enumerate(ring)])
        if not np.array_equal(lng_lat[0], lng_lat[-1]):
            raise InvalidGeozone(f"{field}[0]", "the ring must be closed: last position = first (RFC 7946)")
        x, y, _ = self.frame.to_local(lng_lat[:-1, 0], lng_lat[:-1, 1])
        with _prefixed(""):
            return Volume3D.polygon(np.column_stack([x, y]), z_lower_m=z[0], z_upper_m=z[1], field=field)

    def circle(
        self, center: Any, radius_m: float, fields: tuple[str, str], z: tuple[float, float]
    ) -> Volume3D:
        """A circle around a [lng, lat] centre; ``fields`` names the centre and the radius for errors."""
        lng, lat = _position(center, fields[0])
        if not radius_m > 0.0:
            raise InvalidGeozone(fields[1], f"must be > 0 ({radius_m})")
        x, y, _ = self.frame.to_local(lng, lat)
        return Volume3D.circle(float(x), float(y), radius_m, z_lower_m=z[0], z_upper_m=z[1], field=fields[0])


def _applicability(periods: Any, field: str) -> tuple[Applicability, ...]:
    """ED-269 ``applicability`` / ED-318 ``limitedApplicability``; absent or always on = permanent ``()``."""
    if periods is None:
        return ()
    out = []
    for period, f in _items(periods, field):
        period = _obj(period, f)
        if period.get("permanent") not in (None, "YES", "NO"):
            raise InvalidGeozone(f"{f}.permanent", f"must be YES or NO ({period.get('permanent')!r})")
        key = "schedule" if "schedule" in period else "dailyPeriod"
        daily = _items(period[key], f"{f}.{key}") if period.get(key) is not None else []
        schedules = tuple(_schedule(s, s_field) for s, s_field in daily)
        if any(s.days == geofences._ALL_DAYS and s.start == s.end for s in schedules):
            schedules = ()
        start = _datetime(period.get("startDateTime"), f"{f}.startDateTime")
        end = _datetime(period.get("endDateTime"), f"{f}.endDateTime")
        with _prefixed(f"{f}."):
            out.append(Applicability(start, end, schedules))
    return () if Applicability() in out else tuple(out)


def _schedule(doc: Any, field: str) -> WeeklySchedule:
    """A daily period: ``day`` MON..SUN, ANY (empty = every day), ``startTime``, ``endTime`` (null: 00:00)."""
    doc = _obj(doc, field)
    names = doc.get("day") or []
    if not isinstance(names, list):
        raise InvalidGeozone(f"{field}.day", f"must be a list of MON..SUN or ANY ({names!r})")
    days = set() if names else set(geofences._ALL_DAYS)
    for j, name in enumerate(names):
        upper = name.upper() if isinstance(name, str) else None
        if upper not in (*_WEEKDAYS, "ANY"):
            reason = f"must be one of {', '.join(_WEEKDAYS)}, ANY ({name!r})"
            raise InvalidGeozone(f"{field}.day[{j}]", reason)
        days |= geofences._ALL_DAYS if upper == "ANY" else {_WEEKDAYS.index(upper)}
    for event in ("startEvent", "endEvent"):
        if doc.get(event) is not None:
            raise InvalidGeozone(f"{field}.{event}", "sunrise/sunset events are not supported; give times")
    start_s, shift_days = _utc_seconds_of_day(doc.get("startTime"), f"{field}.startTime")
    end_s, _ = _utc_seconds_of_day(doc.get("endTime"), f"{field}.endTime")
    days_utc = frozenset((d + shift_days) % 7 for d in days)
    return WeeklySchedule(days_utc, _time_of_day(start_s), _time_of_day(end_s))


def _utc_seconds_of_day(value: Any, field: str) -> tuple[float, int]:
    """(seconds after 00:00 UTC, days the UTC time shifts from the given day); ``24:00`` ends the day."""
    if value is None:
        return 0.0, 0
    text = value.strip() if isinstance(value, str) else ""
    if text.startswith("24:00"):
        text = "00:00" + text[5:]
    try:
        t = time.fromisoformat(text)
    except ValueError:
        raise InvalidGeozone(field, f"must be a time of day HH:MM[:SS][Z|+HH:MM] ({value!r})") from None
    offset = t.utcoffset() or timedelta(0)
    shift_days, seconds = divmod(geofences._seconds(t) - offset.total_seconds(), geofences._DAY_S)
    return seconds, int(shift_days)


def _time_of_day(seconds: float) -> time:
    return (datetime.min + timedelta(seconds=seconds)).time()


def _datetime(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    with _prefixed(""):
        return parse_time(value, field)


def _restriction(value: Any, field: str, hint: str = "") -> Restriction:
    name = value.upper() if isinstance(value, str) else ""
    if name not in Restriction.__members__ and name not in _ALIASES:
        reason = f"must be one of {', '.join([*Restriction, *_ALIASES])} ({value!r}){hint}"
        raise InvalidGeozone(field, reason)
    return _ALIASES.get(name) or Restriction(name)


def _unit(value: Any, field: str) -> float:
    """Metres per unit of an ED-269 ``uomDimensions`` (M, FT) or ED-318 ``uom`` (m, ft)."""
    name = value.upper() if isinstance(value, str) else ""
    if name not in _UNITS_M:
        raise InvalidGeozone(field, f"must be M or FT ({value!r})")
    return _UNITS_M[name]


def _number(value: Any, field: str) -> float:
    """A finite number; ED-269 writes some limits as strings (``"0"``)."""
    try:
        number = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise InvalidGeozone(field, f"must be a finite number ({value!r})")
    return number


def _position(value: Any, field: str) -> tuple[float, float]:
    """(lng, lat) of a GeoJSON position ``[lng, lat(, h)]``; a height is ignored (the limits rule)."""
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise InvalidGeozone(field, f"must be a position [lng, lat] ({value!r})")
    lng, lat = _number(value[0], f"{field}[0]"), _number(value[1], f"{field}[1]")
    if not (-180.0 <= lng <= 180.0 and -90.0 <= lat <= 90.0):
        reason = f"must be [lng, lat] with lng in [-180, 180], lat in [-90, 90] ({value!r})"
        raise InvalidGeozone(field, reason)
    return lng, lat


def _identifier(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise InvalidGeozone(field, f"is required and must be a non-empty string ({value!r})")
    return str(value)


def _text(value: Any) -> str:
    """A plain or ED-318 multilingual text (``[{text, lang}]``: English preferred, else the first)."""
    if not isinstance(value, list):
        return value if isinstance(value, str) else ""
    texts = [(str(e.get("lang", "")), e["text"]) for e in value if isinstance(e, Mapping) and "text" in e]
    english = [text for lang, text in texts if lang.lower().startswith("en")]
    return str((english or [text for _, text in texts] or [""])[0])


def _obj(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidGeozone(field, f"is required and must be an object ({type(value).__name__})")
    return value


def _items(value: Any, field: str, min_items: int = 0) -> list[tuple[Any, str]]:
    """(item, field path) of each element of the list ``value`` found at ``field``."""
    if not isinstance(value, list):
        raise InvalidGeozone(field, f"is required and must be a list ({type(value).__name__})")
    if len(value) < min_items:
        raise InvalidGeozone(field, f"needs at least {min_items} item(s)")
    return [(item, f"{field}[{i}]") for i, item in enumerate(value)]


def _has_layer(geometry: Any) -> bool:
    """Whether a GeoJSON geometry (or a member of a collection) carries an ED-318 ``layer``."""
    if not isinstance(geometry, Mapping):
        return False
    members = geometry.get("geometries")
    return "layer" in geometry or (isinstance(members, list) and any(_has_layer(m) for m in members))


@contextmanager
def _prefixed(prefix: str) -> Iterator[None]:
    """Re-raise an airspace input error in the block as an InvalidGeozone, its field after ``prefix``."""
    try:
        yield
    except AirspaceInputError as err:
        raise InvalidGeozone(prefix + err.field, err.reason) from None
