"""The local metric frame of a region: WGS84 geodetic <-> east-north-up metres.

Layer: airspace; imports nothing of ours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from pyproj import CRS, Transformer

__all__ = ["LocalFrame", "VerticalDatum"]

_WGS84_GEOGRAPHIC = CRS.from_epsg(4326)


class LocalFrame:
    """East-north-up metres around an origin (lat0, lon0, h0), built once and reused on arrays.

    Horizontal: the azimuthal equidistant projection on the WGS84 ellipsoid centred on the origin, so
    distances from the origin are exact and scale error stays below 1e-5 within 50 km. Vertical:
    ``z = h - h0`` with ``h`` the WGS84 ellipsoidal height. Unlike a topocentric (tangent-plane) z,
    which drops 31 m below a constant height 20 km out, this keeps altitude bounds and layers level
    across the region, which is what F3548 altitudes and airspace layers mean.

    >>> frame = LocalFrame(22.53, 113.93, 0.0)
    >>> x, y, z = frame.to_local([113.93, 113.94], [22.53, 22.53], [0.0, 120.0])
    >>> np.round(x, 1), np.round(y, 3), z
    (array([   0. , 1028.7]), array([0.   , 0.034]), array([  0., 120.]))
    """

    def __init__(self, lat0_deg: float, lon0_deg: float, h0_m: float = 0.0) -> None:
        if not -90.0 < lat0_deg < 90.0:
            raise ValueError(f"lat0_deg: must be in ]-90, 90[ ({lat0_deg})")
        if not -180.0 <= lon0_deg <= 180.0:
            raise ValueError(f"lon0_deg: must be in [-180, 180] ({lon0_deg})")
        self.lat0_deg = float(lat0_deg)
        self.lon0_deg = float(lon0_deg)
        self.h0_m = float(h0_m)
        local = CRS.from_proj4(
            f"+proj=aeqd +lat_0={lat0_deg} +lon_0={lon0_deg} +datum=WGS84 +units=m +no_defs"
        )
        self._fwd = Transformer.from_crs(_WGS84_GEOGRAPHIC, local, always_xy=True)
        self._inv = Transformer.from_crs(local, _WGS84_GEOGRAPHIC, always_xy=True)

    def __repr__(self) -> str:
        return f"LocalFrame({self.lat0_deg}, {self.lon0_deg}, {self.h0_m})"

    def to_local(
        self, lon_deg: ArrayLike, lat_deg: ArrayLike, h_m: ArrayLike = 0.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x_m, y_m, z_m) of WGS84 points; arrays broadcast, heights are ellipsoidal (W84)."""
        lon, lat, h = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (lon_deg, lat_deg, h_m)))
        x, y = self._fwd.transform(lon, lat)
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float), h - self.h0_m

    def to_geodetic(
        self, x_m: ArrayLike, y_m: ArrayLike, z_m: ArrayLike = 0.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lon_deg, lat_deg, h_m) of local points; the inverse of :meth:`to_local`."""
        x, y, z = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x_m, y_m, z_m)))
        lon, lat = self._inv.transform(x, y)
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), z + self.h0_m


@dataclass(frozen=True, slots=True)
class VerticalDatum:
    """Region-level constants that turn AGL / AMSL heights into WGS84 ellipsoidal heights.

    Limitation: one terrain elevation and one geoid undulation for the whole region (no DEM, no geoid
    grid). On flat coastal terrain such as Shenzhen-Nanshan the error is a few metres; hilly regions need
    per-zone terrain, which a DEM-backed datum can supply behind the same method.
    """

    terrain_amsl_m: float = 0.0
    geoid_undulation_m: float = 0.0

    def to_w84(self, value_m: ArrayLike, reference: str) -> np.ndarray:
        """Ellipsoidal height of a height given against ``reference`` (``W84``, ``AMSL`` or ``AGL``).

        >>> VerticalDatum(terrain_amsl_m=10.0, geoid_undulation_m=-3.0).to_w84([0.0, 120.0], "AGL")
        array([  7., 127.])
        """
        value = np.asarray(value_m, dtype=float)
        ref = reference.upper()
        if ref in ("W84", "WGS84"):
            return value
        if ref == "AMSL":
            return value + self.geoid_undulation_m
        if ref == "AGL":
            return value + self.terrain_amsl_m + self.geoid_undulation_m
        raise ValueError(f"reference: must be one of W84, WGS84, AMSL, AGL ({reference!r})")
