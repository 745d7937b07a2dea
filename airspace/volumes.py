"""3D and 4D volumes as F3548 defines them, in the region's local metric frame.

Intersection follows F3548 and the InterUSS reference behaviour: closed intervals in time and
altitude (touching counts) and closed outlines, tested exactly (no polygonised circles), so any overlap
of 1 cm or more (GEN0500) is detected. Layer: airspace; imports nothing of ours but airspace.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from airspace.errors import InvalidVolume
from airspace.frames import LocalFrame

__all__ = ["Circle", "Volume3D", "Volume4D", "format_time", "parse_time", "vertex_total"]

_BOX_SLACK_M = 1e-6  # bounding boxes this far apart may still touch after rounding; further cannot


@dataclass(frozen=True, slots=True)
class Circle:
    """A circular outline in local metres (F3548 ``outline_circle``)."""

    center_x_m: float
    center_y_m: float
    radius_m: float

    @property
    def center(self) -> Point:
        return Point(self.center_x_m, self.center_y_m)


@dataclass(frozen=True, slots=True)
class Volume3D:
    """An outline (polygon or circle, local metres) between two heights ``z_lower_m <= z <= z_upper_m``.

    Heights are the frame's z (WGS84 ellipsoidal height minus the frame's h0); an unbounded side is
    ``-inf`` / ``inf`` (ED-269 zones with no upper limit). Build with :meth:`polygon` or :meth:`circle`,
    which validate.
    """

    outline: Polygon | Circle
    z_lower_m: float
    z_upper_m: float
    _bounds_xy_m: tuple[float, float, float, float] | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )  # computed on first use: the outline never changes, and every index and cell lookup asks

    @classmethod
    def polygon(
        cls,
        vertices_xy_m: Sequence[Sequence[float]],
        *,
        z_lower_m: float,
        z_upper_m: float,
        field: str = "volume",
    ) -> Volume3D:
        """A polygon volume; F3548 rules: >= 3 distinct vertices, open ring, edges that do not cross."""
        return cls(
            _valid_polygon(vertices_xy_m, f"{field}.outline_polygon"), *_valid_z(z_lower_m, z_upper_m, field)
        )

    @classmethod
    def circle(
        cls,
        x_m: float,
        y_m: float,
        radius_m: float,
        *,
        z_lower_m: float,
        z_upper_m: float,
        field: str = "volume",
    ) -> Volume3D:
        """A circle volume; the radius must be finite and >= 0 (F3548 ``Radius``)."""
        if not (math.isfinite(x_m) and math.isfinite(y_m)):
            raise InvalidVolume(f"{field}.outline_circle.center", f"must be finite ({x_m}, {y_m})")
        if not (math.isfinite(radius_m) and radius_m >= 0.0):
            raise InvalidVolume(f"{field}.outline_circle.radius", f"must be finite and >= 0 ({radius_m})")
        return cls(Circle(float(x_m), float(y_m), float(radius_m)), *_valid_z(z_lower_m, z_upper_m, field))

    @classmethod
    def trusted(
        cls,
        outline: Polygon | Circle,
        z_lower_m: float,
        z_upper_m: float,
        bounds_xy_m: tuple[float, float, float, float] | None = None,
    ) -> Volume3D:
        """A volume from parts validated before (a store reading back its own rows): nothing is checked.

        ``bounds_xy_m``, when given, must be the outline's own (a bulk reader gets them from the coordinate
        arrays it builds the polygons from, saving one shapely call per volume).
        """
        volume = cls(outline, z_lower_m, z_upper_m)
        if bounds_xy_m is not None:
            object.__setattr__(volume, "_bounds_xy_m", bounds_xy_m)
        return volume

    def between(self, z_lower_m: float, z_upper_m: float) -> Volume3D:
        """The same outline between other heights, nothing checked (as the constructor), with the outline's
        bounds if this volume has computed them: an altitude alternative's volumes need no shapely call."""
        return Volume3D.trusted(self.outline, z_lower_m, z_upper_m, self._bounds_xy_m)

    @property
    def bounds_xy_m(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the outline."""
        if self._bounds_xy_m is None:
            o = self.outline
            if isinstance(o, Circle):
                r_m = o.radius_m
                bounds = (o.center_x_m - r_m, o.center_y_m - r_m, o.center_x_m + r_m, o.center_y_m + r_m)
            else:
                bounds = o.bounds
            object.__setattr__(self, "_bounds_xy_m", bounds)  # a cache, not state: frozen stays frozen
        return self._bounds_xy_m  # type: ignore[return-value]

    @property
    def vertex_count(self) -> int:
        """Vertices as F3548 counts them (a circle counts as 1), for the 10,000-vertex limit."""
        o = self.outline
        return 1 if isinstance(o, Circle) else int(shapely.get_num_coordinates(o.exterior)) - 1

    def footprint(self, *, quad_segs: int = 32) -> Polygon:
        """The outline as a polygon, for drawing and export only (circles are approximated)."""
        o = self.outline
        return o.center.buffer(o.radius_m, quad_segs=quad_segs) if isinstance(o, Circle) else o

    def outline_intersects(self, geoms: Any) -> np.ndarray | bool:
        """Whether the closed outline meets each shapely geometry in ``geoms`` (scalar or array), exactly.

        One geometry goes through shapely's scalar methods: the same GEOS test, without the ufunc's ~2 us of
        array handling (a plan check makes dozens of these calls)."""
        o = self.outline
        if isinstance(geoms, shapely.Geometry):
            return o.center.distance(geoms) <= o.radius_m if isinstance(o, Circle) else o.intersects(geoms)
        if isinstance(o, Circle):
            return shapely.distance(o.center, geoms) <= o.radius_m
        return shapely.intersects(o, geoms)

    def intersects(self, other: Volume3D) -> bool:
        """Closed intersection of two volumes: heights overlap or touch, and outlines meet (their cached
        bounding boxes first, 1 um apart at least, beyond any rounding of a circle's bounds: most pairs a
        caller tries are apart, and shapely costs a call each)."""
        if self.z_lower_m > other.z_upper_m or other.z_lower_m > self.z_upper_m:
            return False
        ax0, ay0, ax1, ay1 = self.bounds_xy_m
        bx0, by0, bx1, by1 = other.bounds_xy_m
        if (
            ax0 - bx1 > _BOX_SLACK_M
            or bx0 - ax1 > _BOX_SLACK_M
            or ay0 - by1 > _BOX_SLACK_M
            or by0 - ay1 > _BOX_SLACK_M
        ):
            return False
        a, b = self.outline, other.outline
        if isinstance(a, Circle) and isinstance(b, Circle):
            gap_m = math.hypot(a.center_x_m - b.center_x_m, a.center_y_m - b.center_y_m)
            return gap_m <= a.radius_m + b.radius_m
        if isinstance(b, Circle):
            return bool(other.outline_intersects(a))
        return bool(self.outline_intersects(b))


@dataclass(frozen=True, slots=True)
class Volume4D:
    """A :class:`Volume3D` over a closed time window of timezone-aware UTC datetimes.

    A missing bound (``None``) is unbounded, as F3548 allows for query areas; operational intents
    require both (the service checks that).
    """

    volume: Volume3D
    time_start: datetime | None = None
    time_end: datetime | None = None
    t_start_s: float = dataclasses.field(init=False, repr=False, compare=False)
    """Start as POSIX seconds (``-inf`` when unbounded): every index and sweep reads it, so it is kept."""
    t_end_s: float = dataclasses.field(init=False, repr=False, compare=False)
    """End as POSIX seconds (``inf`` when unbounded)."""

    def __post_init__(self) -> None:
        for name in ("time_start", "time_end"):
            t = getattr(self, name)
            if t is not None and t.utcoffset() is None:
                raise InvalidVolume(name, f"must be timezone-aware ({t.isoformat()})")
        if self.time_start is not None and self.time_end is not None and not self.time_start < self.time_end:
            raise InvalidVolume(
                "time_end",
                f"must be after time_start ({format_time(self.time_start)} >= {format_time(self.time_end)})",
            )
        start_s = -math.inf if self.time_start is None else self.time_start.timestamp()
        object.__setattr__(self, "t_start_s", start_s)  # derived, not state: frozen stays frozen
        object.__setattr__(self, "t_end_s", math.inf if self.time_end is None else self.time_end.timestamp())

    @property
    def box(self) -> tuple[float, float, float, float, float, float, float, float]:
        """4D bounding box ``(xmin, ymin, zmin, tmin, xmax, ymax, zmax, tmax)``; metres and POSIX seconds."""
        xmin, ymin, xmax, ymax = self.volume.bounds_xy_m
        v = self.volume
        return (xmin, ymin, v.z_lower_m, self.t_start_s, xmax, ymax, v.z_upper_m, self.t_end_s)

    def overlaps_time(self, other: Volume4D) -> bool:
        """Closed time intervals overlap (touching counts, as F3548)."""
        return not (self.t_end_s < other.t_start_s or other.t_end_s < self.t_start_s)

    def intersects(self, other: Volume4D) -> bool:
        """F3548 intersection: times overlap, heights overlap, outlines meet; all closed."""
        return self.overlaps_time(other) and self.volume.intersects(other.volume)

    @classmethod
    def from_f3548(cls, doc: Mapping[str, Any], frame: LocalFrame, *, field: str = "volume4d") -> Volume4D:
        """Parse an F3548 ``Volume4D`` JSON object (lat/lng degrees, W84 metres, RFC 3339)."""
        if not isinstance(doc, Mapping):
            raise InvalidVolume(field, f"must be an object ({type(doc).__name__})")
        vol = doc.get("volume")
        if not isinstance(vol, Mapping):
            raise InvalidVolume(f"{field}.volume", "is required and must be an object")
        f3 = f"{field}.volume"
        z_lower = _altitude_z(vol.get("altitude_lower"), frame, f"{f3}.altitude_lower", -math.inf)
        z_upper = _altitude_z(vol.get("altitude_upper"), frame, f"{f3}.altitude_upper", math.inf)
        has_poly, has_circle = vol.get("outline_polygon") is not None, vol.get("outline_circle") is not None
        if has_poly == has_circle:
            raise InvalidVolume(f3, "exactly one of outline_polygon and outline_circle must be given")
        if has_poly:
            vertices = _vertices(vol["outline_polygon"], f"{f3}.outline_polygon")
            x, y, _ = frame.to_local([v[0] for v in vertices], [v[1] for v in vertices])
            volume = Volume3D.polygon(np.column_stack([x, y]), z_lower_m=z_lower, z_upper_m=z_upper, field=f3)
        else:
            volume = _circle_volume(vol["outline_circle"], frame, f3, z_lower, z_upper)
        start, end = (
            _time(doc.get("time_start"), f"{field}.time_start"),
            _time(doc.get("time_end"), f"{field}.time_end"),
        )
        try:
            return cls(volume, start, end)
        except InvalidVolume as err:  # the window rule, named under this document's path
            raise InvalidVolume(f"{field}.{err.field}", err.reason) from None

    def to_f3548(self, frame: LocalFrame) -> dict[str, Any]:
        """The F3548 JSON object of this volume; unbounded sides are omitted."""
        v = self.volume
        o = v.outline
        vol: dict[str, Any] = {}
        if isinstance(o, Circle):
            lon, lat, _ = frame.to_geodetic(o.center_x_m, o.center_y_m)
            vol["outline_circle"] = {
                "center": {"lat": float(lat), "lng": float(lon)},
                "radius": {"value": o.radius_m, "units": "M"},
            }
        else:
            xy = np.asarray(o.exterior.coords)[:-1]
            lon, lat, _ = frame.to_geodetic(xy[:, 0], xy[:, 1])
            vol["outline_polygon"] = {
                "vertices": [{"lat": float(a), "lng": float(b)} for a, b in zip(lat, lon, strict=True)]
            }
        for name, z in (("altitude_lower", v.z_lower_m), ("altitude_upper", v.z_upper_m)):
            if math.isfinite(z):
                vol[name] = {"value": z + frame.h0_m, "reference": "W84", "units": "M"}
        out: dict[str, Any] = {"volume": vol}
        for name, t in (("time_start", self.time_start), ("time_end", self.time_end)):
            if t is not None:
                out[name] = {"value": format_time(t), "format": "RFC3339"}
        return out


def vertex_total(volumes: Sequence[Volume3D]) -> int:
    """The sum of the volumes' :attr:`Volume3D.vertex_count`, with one shapely call for all the polygons'
    rings instead of one per volume (each decision and each alternative checks the F3548 limit)."""
    polygons = [v.outline for v in volumes if not isinstance(v.outline, Circle)]
    coordinates = sum(shapely.get_num_coordinates(shapely.get_exterior_ring(polygons)).tolist())
    return coordinates - len(polygons) + (len(volumes) - len(polygons))


def parse_time(text: Any, field: str) -> datetime:
    """A timezone-aware datetime from an RFC 3339 string; a bad one raises :class:`InvalidVolume`."""
    if not isinstance(text, str):
        raise InvalidVolume(field, f"must be an RFC 3339 string ({text!r})")
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidVolume(field, f"is not an RFC 3339 date-time ({text!r})") from None
    if t.utcoffset() is None:
        raise InvalidVolume(field, f"must carry a UTC offset or Z ({text!r})")
    try:
        t.astimezone(UTC)
    except OverflowError:
        raise InvalidVolume(field, f"is out of range in UTC, years 1-9999 ({text!r})") from None
    return t


def format_time(t: datetime) -> str:
    """RFC 3339 UTC with a Z suffix, e.g. ``2026-01-01T00:00:00Z``."""
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _valid_z(z_lower_m: float, z_upper_m: float, field: str) -> tuple[float, float]:
    lo, hi = float(z_lower_m), float(z_upper_m)
    if math.isnan(lo) or math.isnan(hi):
        raise InvalidVolume(f"{field}.altitude_lower", f"must be a number ({lo}, {hi})")
    if not lo < hi:
        raise InvalidVolume(f"{field}.altitude_lower", f"must be below altitude_upper ({lo} m >= {hi} m)")
    return lo, hi


def _valid_polygon(vertices_xy_m: Sequence[Sequence[float]], field: str) -> Polygon:
    xy = np.asarray(vertices_xy_m, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise InvalidVolume(f"{field}.vertices", f"must be a list of points (shape {xy.shape})")
    if len(xy) < 3:
        raise InvalidVolume(f"{field}.vertices", f"needs at least 3 vertices ({len(xy)})")
    if not np.isfinite(xy).all():
        raise InvalidVolume(f"{field}.vertices", "must be finite numbers")
    if np.array_equal(xy[0], xy[-1]):
        raise InvalidVolume(f"{field}.vertices", "the last vertex repeats the first; F3548 polygons are open")
    if len(set(map(tuple, xy.tolist()))) != len(xy):
        raise InvalidVolume(f"{field}.vertices", "vertices may not repeat")
    poly = Polygon(xy)
    if poly.convex_hull.area <= 0.0:
        raise InvalidVolume(f"{field}.vertices", "the polygon has no area (collinear vertices)")
    if not poly.is_valid:
        raise InvalidVolume(f"{field}.vertices", f"edges may not cross ({shapely.is_valid_reason(poly)})")
    return poly


def _vertices(doc: Any, field: str) -> list[tuple[float, float]]:
    """(lng, lat) pairs of an F3548 Polygon, checked for range."""
    vertices = doc.get("vertices") if isinstance(doc, Mapping) else None
    if not isinstance(vertices, list):
        raise InvalidVolume(f"{field}.vertices", "is required and must be a list")
    return [_lat_lng(v, f"{field}.vertices[{i}]") for i, v in enumerate(vertices)]


def _lat_lng(doc: Any, field: str) -> tuple[float, float]:
    if not isinstance(doc, Mapping):
        raise InvalidVolume(field, "must be an object with lat and lng")
    out = []
    for key, limit in (("lng", 180.0), ("lat", 90.0)):
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not -limit <= value <= limit:
            raise InvalidVolume(f"{field}.{key}", f"must be a number in [-{limit:g}, {limit:g}] ({value!r})")
        out.append(float(value))
    return out[0], out[1]


def _circle_volume(doc: Any, frame: LocalFrame, field: str, z_lower: float, z_upper: float) -> Volume3D:
    if not isinstance(doc, Mapping):
        raise InvalidVolume(f"{field}.outline_circle", "must be an object")
    lng, lat = _lat_lng(doc.get("center"), f"{field}.outline_circle.center")
    radius = doc.get("radius")
    if not isinstance(radius, Mapping) or not isinstance(radius.get("value"), int | float):
        raise InvalidVolume(f"{field}.outline_circle.radius", "must be {value, units: M}")
    if radius.get("units", "M") != "M":
        raise InvalidVolume(f"{field}.outline_circle.radius.units", f"must be M ({radius.get('units')!r})")
    x, y, _ = frame.to_local(lng, lat)
    return Volume3D.circle(
        float(x), float(y), float(radius["value"]), z_lower_m=z_lower, z_upper_m=z_upper, field=field
    )


def _altitude_z(doc: Any, frame: LocalFrame, field: str, missing: float) -> float:
    """Frame z of an F3548 Altitude (W84, metres); ``missing`` when absent."""
    if doc is None:
        return missing
    if not isinstance(doc, Mapping):
        raise InvalidVolume(field, "must be {value, reference: W84, units: M}")
    value = doc.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not -8000.0 <= value <= 100000.0:
        raise InvalidVolume(f"{field}.value", f"must be a number in [-8000, 100000] ({value!r})")
    if doc.get("reference") != "W84":
        raise InvalidVolume(f"{field}.reference", f"must be W84 ({doc.get('reference')!r})")
    if doc.get("units") != "M":
        raise InvalidVolume(f"{field}.units", f"must be M ({doc.get('units')!r})")
    return float(value) - frame.h0_m


def _time(doc: Any, field: str) -> datetime | None:
    """Datetime of an F3548 Time object; ``None`` when absent."""
    if doc is None:
        return None
    if not isinstance(doc, Mapping):
        raise InvalidVolume(field, "must be {value, format: RFC3339}")
    if doc.get("format", "RFC3339") != "RFC3339":
        raise InvalidVolume(f"{field}.format", f"must be RFC3339 ({doc.get('format')!r})")
    return parse_time(doc.get("value"), f"{field}.value")
