"""Point and bbox inputs, with the names of ``geotessera.inputs``."""

from __future__ import annotations

import math
from typing import Any, List, Tuple

import numpy as np

__all__ = ["parse_points", "parse_bbox", "points_array"]


def _check(lon: float, lat: float, i: int) -> Tuple[float, float]:
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lon) > 180 or abs(lat) > 90:
        raise ValueError(
            f"point {i} ({lon}, {lat}) is not a finite WGS84 (longitude, latitude); "
            "longitude must be within [-180, 180] and latitude within [-90, 90]"
        )
    return lon, lat


def parse_points(points: Any) -> List[Tuple[float, float]]:
    """``[(lon, lat), ...]`` of a sequence of pairs, an ``(N, 2)`` array, a GeoJSON
    FeatureCollection dict of Points, or a GeoDataFrame of points with a CRS (reprojected
    to EPSG:4326). ``ValueError`` for anything else or coordinates out of range."""
    if isinstance(points, dict):
        if points.get("type") != "FeatureCollection":
            raise ValueError("GeoJSON input must be a FeatureCollection of Point features")
        out = []
        for i, f in enumerate(points.get("features") or []):
            geom = (f or {}).get("geometry") or {}
            if geom.get("type") != "Point":
                raise ValueError(f"feature {i} is not a Point")
            lon, lat = geom["coordinates"][:2]
            out.append(_check(float(lon), float(lat), i))
        return out
    if hasattr(points, "geometry") and hasattr(points, "crs"):
        if points.crs is None:
            raise ValueError("GeoDataFrame must have a CRS; set one with .set_crs(...)")
        gdf = points.to_crs("EPSG:4326") if points.crs.to_epsg() != 4326 else points
        if gdf.geometry.is_empty.any() or (gdf.geometry.geom_type != "Point").any():
            raise ValueError("GeoDataFrame geometries must be nonempty Points")
        return [_check(float(g.x), float(g.y), i) for i, g in enumerate(gdf.geometry)]
    if isinstance(points, (str, bytes)):
        raise ValueError("points must be (lon, lat) pairs, a GeoJSON dict or a GeoDataFrame")
    out = []
    try:
        for i, p in enumerate(points):
            lon, lat = p
            out.append(_check(float(lon), float(lat), i))
    except (TypeError, ValueError) as e:
        if isinstance(e, ValueError) and "WGS84" in str(e):
            raise
        raise ValueError(
            "points must be (lon, lat) pairs, a GeoJSON FeatureCollection or a GeoDataFrame"
        ) from e
    return out


def points_array(points: Any) -> np.ndarray:
    """:func:`parse_points` as an ``(N, 2)`` float64 array; arrays and sequences of pairs
    are checked without a Python loop."""
    if not isinstance(points, (dict, str, bytes)) and not hasattr(points, "geometry"):
        try:
            arr = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            arr = None
        if arr is not None and arr.ndim == 2 and arr.shape[1] == 2:
            bad = ~(
                np.isfinite(arr).all(axis=1)
                & (np.abs(arr[:, 0]) <= 180)
                & (np.abs(arr[:, 1]) <= 90)
            )
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                _check(float(arr[i, 0]), float(arr[i, 1]), i)
            return np.ascontiguousarray(arr)
        if arr is not None and arr.size == 0:
            return np.empty((0, 2), np.float64)
    return np.asarray(parse_points(points), dtype=np.float64).reshape(-1, 2)


def parse_bbox(value: Any) -> Tuple[float, float, float, float]:
    """``(min_lon, min_lat, max_lon, max_lat)`` of a 4-tuple or ``"W,S,E,N"``; a
    ``"lon,lat"`` string gives the tile containing the point."""
    if isinstance(value, str):
        parts = [float(v) for v in value.split(",")]
        if len(parts) == 2:
            from .registry import tile_from_world, tile_to_bounds

            return tile_to_bounds(*tile_from_world(*parts))
        value = parts
    w, s, e, n = (float(v) for v in value)
    if not (w <= e and s <= n):
        raise ValueError(
            f"bbox must be (min_lon, min_lat, max_lon, max_lat) with min <= max; got {value}"
        )
    return w, s, e, n
