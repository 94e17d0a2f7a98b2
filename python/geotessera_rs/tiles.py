"""Tiles in a local directory, whatever their storage format (the reference's
``geotessera.tiles``).

A :class:`Tile` is either an NPY tile (int8 embedding + float32 scales + landmask, the
downloaded layout ``global_0.1_degree_representation/{year}/grid_X_Y/grid_X_Y.npy`` with
``global_0.1_degree_tiff_all/grid_X_Y.tiff``) or a float32 GeoTIFF export. Names, paths,
exceptions and return values follow the reference; reading, dequantising and point
sampling run in Rust (``geotessera_rs._native``) with the GIL released.

Differences from the reference, all at the edges: CRS are :class:`geotessera_rs.CRS`
(EPSG:4326, 3857 and WGS 84 / UTM; a raster in another CRS cannot be opened); GeoTIFF
tiles must hold float32 samples (every export does); arrays come back C-contiguous
float32 (the reference's GeoTIFF ``load_embedding`` returns a transposed view in the
file's dtype); a GeoTIFF identified by its ``TESSERA_YEAR`` tag gets the centre computed
by this package's projection code, which may differ from PROJ's in the last digits; an
NPY tile whose embedding shape differs from its landmask's raises ``FormatError`` when
read (the reference dequantises it regardless of the georeference). As in the reference,
an NPY tile's ``band_count`` is ``None``. An unreadable landmask or GeoTIFF raises
:class:`RasterReadError`, an ``OSError`` like rasterio's ``RasterioIOError``.
"""

from __future__ import annotations

import logging
import re
from collections import namedtuple
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np
from affine import Affine

from . import _native
from ._util import affine
from .crs import CRS
from .errors import FormatError
from .registry import (  # noqa: F401 (the reference's module namespace)
    EMBEDDINGS_DIR_NAME,
    LANDMASKS_DIR_NAME,
    tile_to_embedding_paths,
    tile_to_geotiff_path,
    tile_to_landmask_filename,
)

__all__ = [
    "BoundingBox",
    "RasterReadError",
    "Tile",
    "discover_tiles",
    "tile_for_coord",
    "tiles_for_coords",
    "discover_npy_tiles",
    "discover_geotiff_tiles",
    "discover_formats",
]

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]

#: ``(left, bottom, right, top)`` in the tile's CRS, like ``rasterio.coords.BoundingBox``.
BoundingBox = namedtuple("BoundingBox", ("left", "bottom", "right", "top"))


class RasterReadError(FormatError, OSError):
    """A tile's GeoTIFF (landmask or export) that is not a raster this package reads.

    An ``OSError``, as rasterio's ``RasterioIOError`` is for the reference, and a
    :class:`geotessera_rs.errors.FormatError`.
    """


def _raster_georeference(path: Path) -> Tuple[int, Any, int, int]:
    try:
        return _native.raster_georeference(str(path))
    except FormatError as exc:
        raise RasterReadError(str(exc)) from exc


def _open_geotiff(path: Path) -> _native.NativeGeoTiffTile:
    try:
        return _native.NativeGeoTiffTile(str(path))
    except FormatError as exc:
        raise RasterReadError(str(exc)) from exc


# Largest block iter_blocks yields, as the reference caps it (8 bytes a sample).
_BLOCK_BYTES = 64 * 1024**2


def _bounds(t: Affine, width: int, height: int) -> BoundingBox:
    """The raster's bounds as rasterio's ``DatasetBase.bounds`` computes them."""
    a, b, c, d, e, f = t.a, t.b, t.c, t.d, t.e, t.f
    if b == d == 0:
        return BoundingBox(c, f + e * height, c + a * width, f)
    corners = [t * (0, 0), t * (0, height), t * (width, height), t * (width, 0)]
    xs = [p[0] for p in corners]
    ys = [p[1] for p in corners]
    return BoundingBox(min(xs), min(ys), max(xs), max(ys))


class Tile:
    """A single embedding tile that abstracts storage format.

    Every tile has a geographic identity (``lon``, ``lat``, ``year``), spatial metadata
    (``crs``, ``transform``, ``bounds``, ``height``, ``width``; ``band_count`` for
    GeoTIFF tiles, ``None`` for NPY tiles as in the reference) and embedding data,
    read on demand by :meth:`load_embedding`, :meth:`iter_blocks` and
    :meth:`sample_points`.
    """

    def __init__(self, lon: float, lat: float, year: int):
        self.lon = lon
        self.lat = lat
        self.year = year

        self._format: Optional[str] = None  # 'npy' or 'geotiff'
        self._geotiff_path: Optional[Path] = None
        self._embedding_path: Optional[Path] = None
        self._scales_path: Optional[Path] = None
        self._landmask_path: Optional[Path] = None

        self.crs: Optional[CRS] = None
        self.transform: Optional[Affine] = None
        self.bounds: Optional[BoundingBox] = None
        self.height: Optional[int] = None
        self.width: Optional[int] = None
        self.band_count: Optional[int] = None

    @property
    def grid_name(self) -> str:
        """Grid name like ``'grid_0.15_52.05'``."""
        return f"grid_{self.lon:.2f}_{self.lat:.2f}"

    # ------------------------------------------------------------------ native readers

    def _npy(self) -> _native.NativeNpyTile:
        assert self.crs is not None and self.transform is not None
        t = self.transform
        return _native.NativeNpyTile(
            str(self._embedding_path),
            str(self._scales_path),
            float(self.lon),
            float(self.lat),
            int(self.year),
            self.crs.to_epsg(),
            (t.a, t.b, t.c, t.d, t.e, t.f),
            int(self.width or 0),
            int(self.height or 0),
        )

    def _geotiff(self) -> _native.NativeGeoTiffTile:
        assert self._geotiff_path is not None
        return _open_geotiff(self._geotiff_path)

    # ------------------------------------------------------------------ loading

    def load_embedding(self) -> np.ndarray:
        """The dequantised embedding, float32 ``(height, width, bands)``."""
        if self._format == "npy":
            native = self._npy()
            return native.rows(0, native.shape[0])
        if self._format == "geotiff":
            g = self._geotiff()
            return g.rows(0, g.georeference[3], False)
        raise ValueError(f"Unknown format: {self._format}")

    def iter_blocks(self, rows: int = 128) -> Iterator[Tuple[int, np.ndarray]]:
        """Yield ``(top, block)``: float32 ``(rows, width, bands)`` strips, top to bottom,
        capped at 64 MiB of 8-byte samples a block for wide regional exports too. NaN
        where there is no embedding (nodata in a GeoTIFF)."""
        if rows <= 0:
            raise ValueError("rows must be positive")
        if self._format == "geotiff":
            g = self._geotiff()
            _, _, width, height = g.georeference
            rows = min(rows, max(1, _BLOCK_BYTES // (width * g.bands * 8)))
            for top in range(0, height, rows):
                yield top, g.rows(top, min(rows, height - top), True)
        else:
            native = self._npy()
            height, width, bands = native.shape
            rows = min(rows, max(1, _BLOCK_BYTES // (width * bands * 8)))
            for top in range(0, height, rows):
                yield top, native.rows(top, rows)

    def is_available(self, require_landmask: bool = True) -> bool:
        """Whether all required files exist (the landmask too for an NPY tile when
        ``require_landmask``; a GeoTIFF tile needs only its file)."""
        if self._format == "npy":
            assert self._embedding_path and self._scales_path and self._landmask_path
            has_embedding = self._embedding_path.exists() and self._scales_path.exists()
            if require_landmask:
                return has_embedding and self._landmask_path.exists()
            return has_embedding
        if self._format == "geotiff":
            assert self._geotiff_path is not None
            return self._geotiff_path.exists()
        return False

    # ------------------------------------------------------------------ factories

    @classmethod
    def from_npy(cls, embedding_path: PathLike, base_dir: PathLike) -> "Tile":
        """A tile backed by NPY files: ``embedding_path`` is
        ``.../{year}/grid_X_Y/grid_X_Y.npy``; the scales sit next to it and the landmask
        (required: ``FileNotFoundError`` without it) under ``base_dir``. A path not in
        that form raises ``ValueError``."""
        embedding_path = Path(embedding_path)
        lon, lat, year = _parse_npy_filename(embedding_path)
        tile = cls(lon, lat, year)
        tile._format = "npy"
        tile._embedding_path = embedding_path
        tile._scales_path = embedding_path.parent / f"{embedding_path.stem}_scales.npy"
        tile._landmask_path = (
            Path(base_dir) / LANDMASKS_DIR_NAME / tile_to_landmask_filename(lon, lat)
        )
        if not tile._landmask_path.exists():
            raise FileNotFoundError(
                f"Landmask file not found: {tile._landmask_path}\n"
                f"Landmask files are required for NPY format tiles.\n"
                f"Expected: {base_dir}/{LANDMASKS_DIR_NAME}/{tile_to_landmask_filename(lon, lat)}"
            )
        epsg, t, width, height = _raster_georeference(tile._landmask_path)
        tile._set_georeference(epsg, t, width, height)
        return tile

    @classmethod
    def from_geotiff(cls, geotiff_path: PathLike) -> "Tile":
        """A tile backed by a GeoTIFF named ``grid_X_Y_YYYY.tif[f]``, or carrying a
        ``TESSERA_YEAR`` tag (then placed by its centre pixel); else ``ValueError``."""
        geotiff_path = Path(geotiff_path)
        native: Optional[_native.NativeGeoTiffTile] = None
        try:
            lon, lat, year = _parse_geotiff_filename(geotiff_path)
        except ValueError:
            native = _open_geotiff(geotiff_path)
            ident = native.tagged_identity()
            if ident is None:
                raise ValueError(
                    f"Raster {geotiff_path} needs a Tessera filename or TESSERA_YEAR tag"
                ) from None
            lon, lat, year = ident
        tile = cls(lon, lat, year)
        tile._format = "geotiff"
        tile._geotiff_path = geotiff_path
        if native is None:
            native = _open_geotiff(geotiff_path)
        try:
            epsg, t, width, height = native.georeference
        except FormatError as exc:
            raise RasterReadError(str(exc)) from exc
        tile._set_georeference(epsg, t, width, height)
        tile.band_count = native.bands
        return tile

    def _set_georeference(self, epsg: int, t: Any, width: int, height: int) -> None:
        self.crs = CRS.from_epsg(epsg)
        self.transform = affine(t)
        self.bounds = _bounds(self.transform, width, height)
        self.height = height
        self.width = width

    # ------------------------------------------------------------------ convenience

    def contains_point(self, lon: float, lat: float) -> bool:
        """Whether ``(lon, lat)`` lies in the tile's 0.1° cell (half-open)."""
        half_size = 0.05
        return (
            self.lon - half_size <= lon < self.lon + half_size
            and self.lat - half_size <= lat < self.lat + half_size
        )

    def sample_at_point(self, lon: float, lat: float) -> np.ndarray:
        """The embedding at one WGS84 point, float32 ``(bands,)``; NaN outside the tile."""
        return self.sample_points([(lon, lat)])[0]

    def sample_points(self, coords: Any) -> np.ndarray:
        """The embeddings of the pixels containing WGS84 ``(lon, lat)`` points, float32
        ``(N, bands)``, without reading the whole tile; NaN rows outside the tile."""
        pts = np.ascontiguousarray(np.asarray(coords, dtype=float).reshape(-1, 2))
        if self._format == "geotiff":
            return self._geotiff().sample(pts)
        return self._npy().sample(pts)

    def to_dict(self) -> Dict[str, Any]:
        """``{path, data, crs, transform, bounds, height, width}`` (for visualisation code)."""
        return {
            "path": self.grid_name,
            "data": self.load_embedding(),
            "crs": self.crs,
            "transform": self.transform,
            "bounds": self.bounds,
            "height": self.height,
            "width": self.width,
        }

    def __repr__(self) -> str:
        return f"Tile(lon={self.lon}, lat={self.lat}, year={self.year}, format={self._format})"

    def __hash__(self) -> int:
        return hash((self.lon, self.lat, self.year))

    def __eq__(self, other: object) -> bool:
        try:
            return (self.lon, self.lat, self.year) == (
                other.lon,  # type: ignore[attr-defined]
                other.lat,  # type: ignore[attr-defined]
                other.year,  # type: ignore[attr-defined]
            )
        except AttributeError:
            return NotImplemented


# ---------------------------------------------------------------------- discovery


def discover_tiles(directory: PathLike) -> List[Tile]:
    """Every tile in ``directory``, sorted by ``(year, lat, lon)``; NPY wins over a
    GeoTIFF of the same tile-year, and GeoTIFF-only tiles are kept."""
    directory = Path(directory)
    by_identity = {tile: tile for tile in discover_geotiff_tiles(directory)}
    by_identity.update({tile: tile for tile in discover_npy_tiles(directory)})
    return sorted(by_identity.values(), key=lambda tile: (tile.year, tile.lat, tile.lon))


def tile_for_coord(base_dir: PathLike, lon: float, lat: float, year: int) -> Optional[Tile]:
    """The tile centred at ``(lon, lat)`` for ``year``, found from its coordinates alone:
    only that tile's paths are looked at, nothing is listed. ``None`` when absent (an NPY
    tile counts as present when its embedding, scales and landmask all exist)."""
    base_dir = Path(base_dir)
    # The reference's paths come from f"{lon:.2f}"; the native lookup takes that centre.
    try:
        clon, clat = float(f"{lon:.2f}"), float(f"{lat:.2f}")
    except (TypeError, ValueError):
        return None
    for kind, path in _native.tile_candidates_for(str(base_dir), clon, clat, int(year)):
        if kind == "npy":
            try:
                return Tile.from_npy(Path(path), base_dir)
            except (OSError, ValueError) as exc:
                logger.warning("Failed to load tile %s: %s", path, exc)
        else:
            return Tile.from_geotiff(Path(path))
    return None


def tiles_for_coords(
    base_dir: PathLike, coords: Iterable[Tuple[float, float]], year: int
) -> Dict[Tuple[float, float], Tile]:
    """The tiles centred at ``coords`` ``(lon, lat)`` that are present, keyed by them."""
    found = {}
    for lon, lat in coords:
        tile = tile_for_coord(base_dir, lon, lat, year)
        if tile is not None:
            found[(lon, lat)] = tile
    return found


def discover_npy_tiles(base_dir: PathLike) -> List[Tile]:
    """The complete NPY tiles under ``base_dir/global_0.1_degree_representation/``,
    sorted by ``(year, lat, lon)``; incomplete or unreadable ones are logged and
    skipped, files not named like tiles silently."""
    base_dir = Path(base_dir)
    tiles = []
    embeddings_dir = base_dir / EMBEDDINGS_DIR_NAME
    if not embeddings_dir.exists():
        return []
    for npy_file in embeddings_dir.rglob("*.npy"):
        if npy_file.name.endswith("_scales.npy"):
            continue
        try:
            tile = Tile.from_npy(npy_file, base_dir)
            if tile.is_available():
                tiles.append(tile)
            else:
                logger.warning(f"Skipping incomplete tile: {npy_file}")
        except ValueError:
            continue
        except Exception as e:
            logger.warning(f"Failed to load tile {npy_file}: {e}")
    return sorted(tiles, key=lambda t: (t.year, t.lat, t.lon))


def discover_geotiff_tiles(directory: PathLike) -> List[Tile]:
    """The GeoTIFF tiles (``*.tif``, ``*.tiff``) under ``directory`` outside the
    landmask directory, sorted by ``(year, lat, lon)``."""
    directory = Path(directory)
    tiles = []
    for pattern in ["*.tif", "*.tiff"]:
        for geotiff_file in directory.rglob(pattern):
            if LANDMASKS_DIR_NAME in geotiff_file.parts:
                continue
            try:
                tiles.append(Tile.from_geotiff(geotiff_file))
            except ValueError:
                continue
            except Exception as e:
                logger.warning(f"Failed to load tile {geotiff_file}: {e}")
    return sorted(tiles, key=lambda t: (t.year, t.lat, t.lon))


def discover_formats(directory: PathLike) -> Dict[str, List[Tile]]:
    """``{'npy': [...], 'geotiff': [...]}``, each key only when such tiles exist."""
    directory = Path(directory)
    formats = {}
    npy_tiles = discover_npy_tiles(directory)
    if npy_tiles:
        formats["npy"] = npy_tiles
    geotiff_tiles = discover_geotiff_tiles(directory)
    if geotiff_tiles:
        formats["geotiff"] = geotiff_tiles
    return formats


# ---------------------------------------------------------------------- helpers


def _parse_npy_filename(path: Path) -> Tuple[float, float, int]:
    """``(lon, lat, year)`` of ``.../<year>/grid_X_Y/grid_X_Y.npy``; ``ValueError``
    otherwise."""
    grandparent_name = path.parent.parent.name
    if not re.fullmatch(r"\d{4}", grandparent_name):
        raise ValueError(f"Cannot extract year from path: {path}")
    year = int(grandparent_name)
    match = re.match(r"grid_(-?\d+\.\d+)_(-?\d+\.\d+)\.npy", path.name)
    if not match:
        raise ValueError(f"Cannot parse coordinates from filename: {path.name}")
    return float(match.group(1)), float(match.group(2)), year


def _parse_geotiff_filename(path: Path) -> Tuple[float, float, int]:
    """``(lon, lat, year)`` of ``grid_X_Y_YYYY.tif[f]``; ``ValueError`` otherwise."""
    match = re.match(r"grid_(-?\d+\.\d+)_(-?\d+\.\d+)_(\d{4})\.tiff?", path.name)
    if match:
        return float(match.group(1)), float(match.group(2)), int(match.group(3))
    raise ValueError(
        f"Cannot parse GeoTIFF filename: {path.name}. Expected format: grid_<lon>_<lat>_<year>.tif"
    )
