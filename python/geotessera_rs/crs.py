"""A coordinate reference system that rasterio, pyproj and geopandas accept.

Returned where the reference returns a ``rasterio.crs.CRS`` (the tile API). It is not a
``str`` (pyproj rejects ``str`` subclasses), but converts to one (``"EPSG:32630"``) and
exposes ``to_wkt()``, which ``rasterio.crs.CRS.from_user_input`` and
``pyproj.CRS.from_user_input`` read.
"""

from __future__ import annotations

import re
from typing import Any, Optional

__all__ = ["CRS"]

_WGS84_GEOGCS = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,'
    'AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]]'
)


def _utm_wkt(zone: int, north: bool, code: int) -> str:
    hemi = "N" if north else "S"
    return (
        f'PROJCS["WGS 84 / UTM zone {zone}{hemi}",{_WGS84_GEOGCS},'
        'PROJECTION["Transverse_Mercator"],'
        'PARAMETER["latitude_of_origin",0],'
        f'PARAMETER["central_meridian",{zone * 6 - 183}],'
        'PARAMETER["scale_factor",0.9996],'
        'PARAMETER["false_easting",500000],'
        f'PARAMETER["false_northing",{0 if north else 10000000}],'
        'UNIT["metre",1,AUTHORITY["EPSG","9001"]],'
        'AXIS["Easting",EAST],AXIS["Northing",NORTH],'
        f'AUTHORITY["EPSG","{code}"]]'
    )


_WEB_MERCATOR_WKT = (
    f'PROJCS["WGS 84 / Pseudo-Mercator",{_WGS84_GEOGCS},'
    'PROJECTION["Mercator_1SP"],PARAMETER["central_meridian",0],'
    'PARAMETER["scale_factor",1],PARAMETER["false_easting",0],'
    'PARAMETER["false_northing",0],UNIT["metre",1,AUTHORITY["EPSG","9001"]],'
    'AXIS["Easting",EAST],AXIS["Northing",NORTH],'
    'EXTENSION["PROJ4","+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 '
    '+k=1 +units=m +nadgrids=@null +wktext +no_defs"],AUTHORITY["EPSG","3857"]]'
)

_EPSG_RE = re.compile(r"^\s*(?:epsg|EPSG)\s*:\s*(\d+)\s*$")


def _wkt_of(code: int) -> Optional[str]:
    if code == 4326:
        return _WGS84_GEOGCS
    if code == 3857:
        return _WEB_MERCATOR_WKT
    if 32601 <= code <= 32660:
        return _utm_wkt(code - 32600, True, code)
    if 32701 <= code <= 32760:
        return _utm_wkt(code - 32700, False, code)
    return None


def _epsg_of(value: Any) -> Optional[int]:
    """The EPSG code of whatever rasterio or pyproj would accept, or None."""
    if isinstance(value, CRS):
        return value._epsg
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        m = _EPSG_RE.match(value)
        if m:
            return int(m.group(1))
        m = re.search(r'AUTHORITY\["EPSG","(\d+)"\]\]\s*$', value)
        if m:
            return int(m.group(1))
        return None
    to_epsg = getattr(value, "to_epsg", None)
    if callable(to_epsg):
        try:
            code = to_epsg()
        except Exception:  # a foreign CRS that cannot say: not equal
            return None
        return int(code) if code is not None else None
    return None


class CRS:
    """An EPSG CRS (EPSG:4326, EPSG:3857, WGS 84 / UTM 326NN and 327NN)."""

    __slots__ = ("_epsg",)

    def __init__(self, value: Any):
        code = _epsg_of(value)
        if code is None or _wkt_of(code) is None:
            raise ValueError(
                f"{value!r} is not a supported CRS: use EPSG:4326, EPSG:3857, "
                "EPSG:32601-32660 or EPSG:32701-32760"
            )
        self._epsg = code

    @classmethod
    def from_epsg(cls, code: int) -> "CRS":
        """The CRS of an EPSG code."""
        return cls(int(code))

    @classmethod
    def from_string(cls, value: str) -> "CRS":
        """The CRS of ``"EPSG:<code>"``."""
        return cls(value)

    @classmethod
    def from_user_input(cls, value: Any) -> "CRS":
        """The CRS of a code, a string, or another CRS object."""
        return cls(value)

    def to_epsg(self) -> int:
        """The EPSG code."""
        return self._epsg

    def to_string(self) -> str:
        """``"EPSG:<code>"``."""
        return f"EPSG:{self._epsg}"

    def to_wkt(self, *_args: Any, **_kwargs: Any) -> str:
        """OGC WKT1 with EPSG authority codes."""
        wkt = _wkt_of(self._epsg)
        assert wkt is not None
        return wkt

    def to_authority(self) -> tuple[str, str]:
        """``("EPSG", "<code>")``."""
        return ("EPSG", str(self._epsg))

    def to_dict(self) -> dict[str, Any]:
        """``{"init": "epsg:<code>"}``, the mapping rasterio accepts."""
        return {"init": f"epsg:{self._epsg}"}

    @property
    def is_projected(self) -> bool:
        """Whether coordinates are projected metres (everything but EPSG:4326)."""
        return self._epsg != 4326

    @property
    def is_geographic(self) -> bool:
        """Whether coordinates are degrees (EPSG:4326)."""
        return self._epsg == 4326

    @property
    def is_epsg_code(self) -> bool:
        """Always true: every CRS here is an EPSG code."""
        return True

    @property
    def linear_units(self) -> str:
        """``"metre"`` for projected CRSs, else ``"unknown"`` (as rasterio says)."""
        return "metre" if self.is_projected else "unknown"

    @property
    def utm_zone(self) -> Optional[str]:
        """``"30N"``-style zone for UTM CRSs, else None."""
        if 32601 <= self._epsg <= 32660:
            return f"{self._epsg - 32600}N"
        if 32701 <= self._epsg <= 32760:
            return f"{self._epsg - 32700}S"
        return None

    def to_rasterio(self) -> Any:
        """A ``rasterio.crs.CRS`` (needs rasterio)."""
        from rasterio.crs import CRS as RioCRS

        return RioCRS.from_epsg(self._epsg)

    def to_pyproj(self) -> Any:
        """A ``pyproj.CRS`` (needs pyproj)."""
        import pyproj

        return pyproj.CRS.from_epsg(self._epsg)

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return f"CRS.from_epsg({self._epsg})"

    def __eq__(self, other: object) -> bool:
        code = _epsg_of(other)
        return code is not None and code == self._epsg

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(("EPSG", self._epsg))

    def __reduce__(self):
        return (CRS, (self._epsg,))
