"""NPY tiles: ``GeoTessera`` and its ``Registry``, with the names of ``geotessera.core``
and ``geotessera.registry``.

Every call is one call of geotessera-rs's library face (``tessera-api``) with the GIL
released. Downloads land in ``embeddings_dir`` (default: the current directory) in the
reference's layout, so both packages share tiles.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Any, Dict, Generator, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from affine import Affine

from . import _native
from ._util import ProgressCallback, affine, bbox4, callback
from .crs import CRS
from .errors import NoDataError, TileNotFoundError, UnwritableDestination, UsageError
from .quant import dequantize_embedding
from .registry import (
    Registry,
    tile_from_world,
    tile_to_grid_name,
)

__all__ = ["GeoTessera", "Registry", "dequantize_embedding"]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]


def _path(p: Optional[PathLike]) -> Optional[str]:
    return None if p is None else os.fspath(p)


class GeoTessera:
    """Download TESSERA tiles, read them as arrays and export GeoTIFFs.

    Arguments as the reference's; ``mirror`` (default ``$TESSERA_MIRROR``, else the
    published mirror) is where manifests and tiles come from, as for the ``tessera``
    command. ``embeddings_dir`` (default: the current directory) holds downloaded tiles.
    """

    def __init__(
        self,
        dataset_version: str = "v1.1",
        dataset_variant: Optional[str] = None,
        cache_dir: Optional[PathLike] = None,
        embeddings_dir: Optional[PathLike] = None,
        registry_url: Optional[str] = None,
        registry_path: Optional[PathLike] = None,
        registry_dir: Optional[PathLike] = None,
        bbox: Optional[Tuple[float, float, float, float]] = None,
        bbox_margin_deg: float = 0.15,
        *,
        mirror: Optional[str] = None,
    ):
        self.dataset_version = dataset_version
        self.logger = logging.getLogger("geotessera_rs.core")
        self.embeddings_dir = Path(embeddings_dir) if embeddings_dir is not None else Path.cwd()
        self._args = (
            dataset_version,
            dataset_variant,
            cache_dir,
            embeddings_dir,
            registry_url,
            registry_path,
            registry_dir,
            bbox,
            bbox_margin_deg,
            mirror,
        )
        self.registry = Registry(
            version=dataset_version,
            variant=dataset_variant,
            cache_dir=cache_dir,
            embeddings_dir=self.embeddings_dir,
            registry_url=registry_url,
            registry_path=registry_path,
            registry_dir=registry_dir,
            bbox=bbox,
            bbox_margin_deg=bbox_margin_deg,
            logger=self.logger,
            mirror=mirror,
        )
        self.dataset_variant = self.registry.variant

    def __reduce__(self):
        return (_reopen, self._args)

    @property
    def version(self) -> str:
        """The geotessera_rs version."""
        return _native.__version__

    @property
    def embeddings_subdir(self) -> str:
        """Variant-aware embeddings subdirectory name (recorded in the sidecar)."""
        return self.registry.embeddings_subdir

    def embeddings_count(self, bbox: Tuple[float, float, float, float], year: int = 2024) -> int:
        """Number of tiles of ``year`` within ``bbox``."""
        return self.registry._native.embeddings_count(bbox4(bbox), int(year))

    def fetch_embedding(
        self,
        lon: float,
        lat: float,
        year: int,
        progress_callback: Optional[ProgressCallback] = None,
        refresh: bool = False,
    ) -> Tuple[np.ndarray, CRS, Affine]:
        """The tile containing ``(lon, lat)`` as float32 ``(H, W, 128)`` (NaN where there
        is no embedding), its CRS and transform, downloaded into ``embeddings_dir`` first
        when missing (always with ``refresh``)."""
        lon, lat = tile_from_world(lon, lat)
        try:
            arr, epsg, t = self.registry._native.fetch_embedding(
                os.fspath(self.embeddings_dir),
                lon,
                lat,
                int(year),
                bool(refresh),
                callback(progress_callback),
            )
        except UsageError as e:
            # A download that failed on its destination is reported by the library as a
            # usage error; the reference raises UnwritableDestination (an OSError).
            if str(e).startswith("cannot write to"):
                raise UnwritableDestination(errno.EACCES, str(e)) from None
            raise
        return arr, CRS.from_epsg(epsg), affine(t)

    def fetch_mosaic_for_region(
        self,
        bbox: Any,
        year: int = 2024,
        target_crs: Any = "EPSG:4326",
        auto_download: bool = True,
        progress_callback: Optional[ProgressCallback] = None,
        *,
        resampling: str = "bilinear",
        resolution: Optional[Union[float, Tuple[float, float]]] = None,
        memory_mb: int = 1024,
    ) -> Tuple[np.ndarray, Affine, str]:
        """The tiles of ``bbox`` for ``year`` merged into one float32 ``(H, W, 128)`` array
        on a grid in ``target_crs`` (EPSG:4326, EPSG:3857 or a UTM zone): ``(array,
        transform, crs)``, NaN where no tile has a value. Missing tiles are downloaded into
        ``embeddings_dir`` unless ``auto_download`` is False (then ``FileNotFoundError``).

        As the reference: the grid starts at the north-west of the box's bounds in
        ``target_crs`` at the first tile's resolution (its own 10 m when it is in
        ``target_crs``, else GDAL's suggested one), bilinear resampling. Unlike it, where
        tile margins overlap the tile whose cell holds the pixel wins (a fixed order), and
        ``resampling="nearest"`` and ``resolution`` can be chosen."""
        from .inputs import parse_bbox
        from .store import _crs_text

        box = parse_bbox(bbox)
        if isinstance(resolution, (int, float)):
            resolution = (float(resolution), float(resolution))
        arr, t, crs = self.registry._native.mosaic(
            os.fspath(self.embeddings_dir),
            box,
            int(year),
            _crs_text(target_crs),
            str(resampling),
            None if resolution is None else (float(resolution[0]), float(resolution[1])),
            bool(auto_download),
            int(memory_mb),
            callback(progress_callback),
        )
        return arr, affine(t), crs

    def merge_geotiffs_to_mosaic(
        self,
        geotiff_paths: Sequence[PathLike],
        output_path: PathLike,
        target_crs: Any = "EPSG:3857",
        compress: str = "lzw",
        progress_callback: Optional[ProgressCallback] = None,
    ) -> str:
        """Merges GeoTIFFs (such as ``export_embedding_geotiffs`` writes) onto one grid in
        ``target_crs`` over the union of their bounds and writes it to ``output_path``;
        returns the path. As the reference: the first file's pixel size (its own when it
        is in ``target_crs``, else GDAL's suggested one), files on that grid copied, the
        others warped bilinearly, the first file with a value wins, its tags and band
        descriptions kept. ``ValueError`` for an empty list."""
        from .store import _crs_text

        paths = [Path(p) for p in geotiff_paths]
        if not paths:
            raise ValueError("No GeoTIFF files to merge")
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"GeoTIFF not found: {p}")
        return _native.merge_geotiffs(
            paths,
            Path(output_path),
            target_crs=_crs_text(target_crs),
            compress=str(compress),
            callback=callback(progress_callback),
        )

    def fetch_embeddings(
        self,
        tiles_to_fetch: Iterable[Tuple[int, float, float]],
        progress_callback: Optional[ProgressCallback] = None,
    ) -> Generator[Tuple[int, float, float, np.ndarray, CRS, Affine], None, None]:
        """Yield ``(year, lon, lat, embedding, crs, transform)`` one tile at a time; a
        failure raises ``RuntimeError`` and stops the iteration."""
        tiles = list(tiles_to_fetch) if progress_callback else tiles_to_fetch
        total = len(tiles) if progress_callback else 0  # type: ignore[arg-type]
        for i, (year, tile_lon, tile_lat) in enumerate(tiles):
            try:
                sub = None
                if progress_callback:

                    def sub(current: int, sub_total: int, status: str = "", i: int = i) -> None:
                        done = (i * 100 + (current / max(sub_total, 1)) * 100) / total
                        progress_callback(int(done), 100, f"Tile {i + 1}/{total}: {status}")

                emb, crs, transform = self.fetch_embedding(tile_lon, tile_lat, year, sub)
                yield year, tile_lon, tile_lat, emb, crs, transform
                if progress_callback:
                    progress_callback(
                        (i + 1) * 100 // total, 100, f"Completed tile {i + 1}/{total}"
                    )
            except Exception as e:
                raise RuntimeError(
                    f"Failed to fetch tile ({tile_lon:.2f}, {tile_lat:.2f}) for {year}: {e}"
                ) from e

    def download_tile(
        self,
        lon: float,
        lat: float,
        year: int,
        progress_callback: Optional[ProgressCallback] = None,
        refresh: bool = False,
    ) -> bool:
        """Download one tile's files into ``embeddings_dir``; False (logged) on failure,
        ``UnwritableDestination`` when the directory cannot be written."""
        lon, lat = tile_from_world(lon, lat)
        try:
            done, failed = self.registry._native.ensure_tiles(
                os.fspath(self.embeddings_dir),
                [(int(year), lon, lat)],
                bool(refresh),
                callback(progress_callback),
            )
        except UnwritableDestination:
            raise
        except Exception as e:
            self.logger.error(f"Failed to download tile ({lon:.2f}, {lat:.2f}): {e}")
            return False
        if failed:
            self.logger.error(f"Failed to download tile ({lon:.2f}, {lat:.2f}): {failed[0]}")
            return False
        return True

    def _points_by_tile(self, points: Any) -> Dict[Tuple[float, float], List[int]]:
        from .inputs import parse_points

        groups: Dict[Tuple[float, float], List[int]] = {}
        for i, (lon, lat) in enumerate(parse_points(points)):
            groups.setdefault(tile_from_world(lon, lat), []).append(i)
        return groups

    def download_tiles_for_points(
        self,
        points: Any,
        year: int = 2024,
        progress_callback: Optional[ProgressCallback] = None,
    ) -> Dict[str, bool]:
        """Download the tiles holding ``points``; ``{grid_name: success}``."""
        result: Dict[str, bool] = {}
        for lon, lat in self._points_by_tile(points):
            result[tile_to_grid_name(lon, lat)] = self.download_tile(
                lon, lat, year, progress_callback
            )
        return result

    def check_tiles_present(self, points: Any, year: int = 2024) -> Dict[str, bool]:
        """``{grid_name: present}`` for the tiles holding ``points``."""
        tiles = list(self._points_by_tile(points))
        present = self.registry._native.tiles_present(
            os.fspath(self.embeddings_dir), [(int(year), lon, lat) for lon, lat in tiles]
        )
        return {
            tile_to_grid_name(lon, lat): p for (lon, lat), p in zip(tiles, present, strict=True)
        }

    def sample_embeddings_at_points(
        self,
        points: Any,
        year: int = 2024,
        include_metadata: bool = False,
        auto_download: bool = True,
        progress_callback: Optional[ProgressCallback] = None,
        *,
        errors: str = "raise",
    ) -> Union[np.ndarray, Tuple[np.ndarray, List[Optional[Dict[str, Any]]]]]:
        """``(N, 128)`` float32 at the points (NaN outside coverage), read from the tiles
        in ``embeddings_dir`` (downloading missing ones unless ``auto_download=False``,
        where they raise ``FileNotFoundError``). Points: ``(lon, lat)`` pairs, a GeoJSON
        FeatureCollection dict, or a GeoDataFrame with a CRS. With ``include_metadata``,
        also per-point dicts ``tile_lon, tile_lat, pixel_row, pixel_col, crs`` (None for a
        point whose tile is not in the registry)."""
        from .inputs import points_array

        if errors not in ("raise", "coerce"):
            raise ValueError("errors must be 'raise' or 'coerce'")
        pts = points_array(points)
        if len(pts) == 0:
            empty = np.empty((0, 128), dtype=np.float32)
            return (empty, []) if include_metadata else empty
        try:
            values, meta = self.registry._native.sample_points(
                np.ascontiguousarray(pts[:, 0]),
                np.ascontiguousarray(pts[:, 1]),
                int(year),
                os.fspath(self.embeddings_dir),
                not auto_download,
                callback(progress_callback),
                include_metadata,
            )
        except NoDataError as e:
            if auto_download or "missing from" not in str(e):
                raise
            raise TileNotFoundError(
                errno.ENOENT,
                f"{str(e).split(';')[0]}; download them first with "
                "GeoTessera.download_tiles_for_points(points, year), or pass auto_download=True",
            ) from None
        except (UnwritableDestination, TileNotFoundError, KeyboardInterrupt, ValueError):
            raise
        except Exception as e:
            if errors == "raise":
                raise RuntimeError(f"Failed to sample tiles: {e}") from e
            self.logger.warning(f"Failed to sample tiles: {e}")
            values = np.full((len(pts), 128), np.nan, np.float32)
            meta = [(None, None, None, None, None, str(e))] * len(pts)
        if not include_metadata:
            return values
        out: List[Optional[Dict[str, Any]]] = []
        for tile_lon, tile_lat, row, col, epsg, status in meta:
            if status == "no_coverage" or tile_lon is None:
                out.append(None if status == "no_coverage" else {"error": status})
            elif status == "pixel_out_of_bounds":
                out.append(
                    {
                        "tile_lon": tile_lon,
                        "tile_lat": tile_lat,
                        "pixel_row": None,
                        "pixel_col": None,
                        "crs": f"EPSG:{epsg}",
                        "error": "pixel_out_of_bounds",
                    }
                )
            else:
                out.append(
                    {
                        "tile_lon": tile_lon,
                        "tile_lat": tile_lat,
                        "pixel_row": row,
                        "pixel_col": col,
                        "crs": f"EPSG:{epsg}",
                    }
                )
        return values, out

    def export_embedding_geotiff(
        self,
        lon: float,
        lat: float,
        output_path: PathLike,
        year: int = 2024,
        bands: Optional[List[int]] = None,
        compress: str = "lzw",
    ) -> str:
        """Export the tile containing ``(lon, lat)`` as one float32 GeoTIFF at
        ``output_path``; its path."""
        import shutil
        import tempfile

        lon, lat = tile_from_world(lon, lat)
        out = Path(output_path)
        with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmp:
            files = self.export_embedding_geotiffs([(year, lon, lat)], tmp, bands, compress)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(files[0], out)
        return str(out)

    def export_embedding_geotiffs(
        self,
        tiles_to_fetch: Iterable[Tuple[int, float, float]],
        output_dir: PathLike,
        bands: Optional[List[int]] = None,
        compress: str = "lzw",
        progress_callback: Optional[ProgressCallback] = None,
    ) -> List[str]:
        """Download ``(year, lon, lat)`` tiles into ``embeddings_dir`` and write each as a
        float32 GeoTIFF under ``output_dir/global_0.1_degree_representation/``; the paths
        in tile order. A failed tile raises ``RuntimeError``."""
        tiles = [(int(y), float(x), float(z)) for y, x, z in tiles_to_fetch]
        if not tiles:
            return []
        cb = callback(progress_callback)
        done, failed = self.registry._native.ensure_tiles(
            os.fspath(self.embeddings_dir), tiles, False, cb
        )
        if failed:
            raise RuntimeError(f"Failed to fetch tiles: {failed[0]}")
        files, errs = self.registry._native.export_geotiffs(
            os.fspath(self.embeddings_dir),
            os.fspath(output_dir),
            tiles,
            None if bands is None else [int(b) for b in bands],
            str(compress),
            False,
            cb,
        )
        if errs:
            raise RuntimeError(f"Failed to export tiles: {errs[0]}")
        self.logger.info(f"Exported {len(files)} GeoTIFF file(s) to {output_dir}")
        return files


def _reopen(*args):
    *pos, mirror = args
    return GeoTessera(*pos, mirror=mirror)
