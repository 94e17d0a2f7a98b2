"""Web maps with the names of ``geotessera.web``, without GDAL, folium or gdal2tiles.

:func:`geotiff_to_web_tiles` writes the tiles gdal2tiles writes (mercator profile, TMS
rows, 256-pixel PNGs, bilinear) into the output directory; :func:`create_simple_web_viewer`
writes a Leaflet page over them whose every file is local (Leaflet is written beside the
page); :func:`prepare_mosaic_for_web` reprojects an RGB GeoTIFF to EPSG:3857.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Optional, Tuple, Union

from . import _native
from ._util import callback as _callback

__all__ = [
    "prepare_mosaic_for_web",
    "geotiff_to_web_tiles",
    "create_simple_web_viewer",
]

PathLike = Union[str, "os.PathLike[str]"]

_WEB_MERCATOR = ("EPSG:3857", "EPSG:900913", "EPSG:3785")


def prepare_mosaic_for_web(
    input_mosaic: PathLike,
    output_path: PathLike,
    target_crs: str = "EPSG:3857",
    progress_callback: Optional[Callable[..., Any]] = None,
) -> str:
    """``input_mosaic`` (an RGB or RGBA uint8 GeoTIFF) reprojected to EPSG:3857 at
    ``output_path`` (RGBA, bilinear, transparent outside the picture); returns the path,
    which is ``input_mosaic`` itself when it already is in EPSG:3857. Web tiles are cut
    from EPSG:3857 only: another ``target_crs`` is a ``ValueError``."""
    if str(target_crs).upper() not in _WEB_MERCATOR:
        raise ValueError(f"web tiles are cut from EPSG:3857, not {target_crs}")
    cb = _callback(progress_callback)
    out = _native.web_ready(Path(input_mosaic), Path(output_path))
    if cb is not None:
        cb(
            100,
            100,
            "Mosaic already in the target CRS"
            if out == os.fspath(input_mosaic)
            else "Mosaic prepared for web visualization",
        )
    return out


def geotiff_to_web_tiles(
    geotiff_path: PathLike,
    output_dir: PathLike,
    zoom_levels: Tuple[int, int] = (8, 15),
    use_gdal_raster: bool = False,
) -> str:
    """Writes the web tiles of ``geotiff_path`` (RGB or RGBA uint8, any CRS we read) into
    ``output_dir`` as gdal2tiles does (``{z}/{x}/{y}.png``, TMS rows); returns
    ``output_dir``. An unchanged rerun reuses the tiles (``tiles.json`` records the source
    and zooms). ``use_gdal_raster`` is accepted for compatibility: the tiles are ours
    either way."""
    del use_gdal_raster
    min_zoom, max_zoom = (int(z) for z in zoom_levels)
    if min_zoom < 0 or max_zoom < 0:
        raise ValueError(f"zoom levels must be non-negative, got {zoom_levels}")
    _native.build_web_tiles(Path(geotiff_path), Path(output_dir), min_zoom, max_zoom)
    return os.fspath(output_dir)


def _region_geojson(region_file: Optional[PathLike]) -> Optional[str]:
    """A region file (GeoJSON, Shapefile or GeoPackage) as GeoJSON text in WGS84."""
    if region_file is None:
        return None
    return _native.region_outline(Path(region_file))


def create_simple_web_viewer(
    tiles_dir: PathLike,
    output_html: PathLike,
    center_lon: float = 0,
    center_lat: float = 0,
    zoom: int = 10,
    title: str = "GeoTessera Visualization",
    region_file: Optional[PathLike] = None,
) -> str:
    """Writes a Leaflet page at ``output_html`` over the tiles in ``tiles_dir`` (linked
    relative to the page), centred on ``center_lon``, ``center_lat`` at ``zoom``, with an
    opacity slider, a layer control and the outline of ``region_file`` in red; returns the
    page's path. Leaflet is written beside the page: the page loads nothing from a CDN."""
    return _native.viewer_page(
        Path(tiles_dir),
        Path(output_html),
        float(center_lon),
        float(center_lat),
        int(zoom),
        str(title),
        _region_geojson(region_file),
    )
