"""Pictures of embeddings, with the names of ``geotessera.visualization``.

:func:`create_pca_mosaic` fits one PCA on a reproducible sample of 100,000 valid pixels of
all inputs (the reference's sample, standardisation and sign rule) and writes the first
three components as an RGB GeoTIFF with an internal mask, in Rust and without GDAL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

from . import _native
from ._util import callback as _callback

__all__ = ["create_pca_mosaic", "fit_pca", "visualize_global_coverage"]

PathLike = Union[str, "os.PathLike[str]"]


def _input_path(tiles_data: Any) -> Path:
    """A path to read: a path itself, or the one directory that a list of tiles share."""
    if isinstance(tiles_data, (str, os.PathLike)):
        return Path(tiles_data)
    if isinstance(tiles_data, Sequence) and tiles_data:
        roots = set()
        for t in tiles_data:
            base = getattr(t, "_base_dir", None) or getattr(t, "base_dir", None)
            if base is None:
                raise TypeError(
                    "tiles_data must be a path (a GeoTIFF or a directory of tiles) or tiles "
                    "discovered from one directory"
                )
            roots.add(Path(base))
        if len(roots) != 1:
            raise ValueError("tiles_data holds tiles from several directories; give one")
        return roots.pop()
    raise ValueError("No tiles provided")


def create_pca_mosaic(
    tiles_data: Any,
    output_path: PathLike,
    n_components: int = 3,
    target_crs: str = "EPSG:3857",
    progress_callback: Optional[Callable[..., Any]] = None,
    balance_method: str = "histogram",
    percentile_range: Tuple[float, float] = (2, 98),
) -> str:
    """Writes the PCA mosaic of ``tiles_data`` (a GeoTIFF, a directory of GeoTIFF or NPY
    tiles, or tiles discovered from one directory) to ``output_path``; returns its path.

    Raises ``ValueError`` for an unknown balance method, bad percentiles or too few valid
    pixels, as the reference does.
    """
    low, high = percentile_range
    if balance_method not in ("percentile", "histogram", "adaptive"):
        raise ValueError(f"Unknown balance method: {balance_method}")
    if not 0 <= low < high <= 100:
        raise ValueError("Percentiles must satisfy 0 <= low < high <= 100")
    return _native.visualize(
        _input_path(tiles_data),
        Path(output_path),
        target_crs=str(target_crs),
        n_components=int(n_components),
        balance=balance_method,
        percentile_low=float(low),
        percentile_high=float(high),
        callback=_callback(progress_callback),
    )


def fit_pca(tiles_data: Any, n_components: int = 3) -> Dict[str, Any]:
    """The PCA ``create_pca_mosaic`` fits: ``components`` (n x bands, sign rule applied),
    ``explained_variance``, ``explained_variance_ratio``, ``mean``, ``scaler_mean``,
    ``scaler_scale`` and ``samples``."""
    return dict(_native.pca_fit(_input_path(tiles_data), int(n_components)))


def visualize_global_coverage(
    tessera_client: Any,
    output_path: PathLike = "tessera_coverage.png",
    year: Optional[int] = None,
    width_pixels: int = 2000,
    show_countries: bool = True,
    tile_color: str = "red",
    tile_alpha: float = 0.6,
    tile_size: float = 1.0,
    progress_callback: Optional[Callable[..., Any]] = None,
    multi_year_colors: bool = True,
    region_bbox: Optional[Tuple[float, float, float, float]] = None,
    region_file: Optional[PathLike] = None,
) -> str:
    """Draws the coverage map of ``tessera_client``'s dataset (a :class:`GeoTessera`) as
    ``tessera coverage`` draws it: Natural Earth land and borders, one rectangle per tile
    (green: every year, blue: the latest only, orange: some years; ``tile_color`` with
    ``multi_year_colors=False`` or a ``year``), a legend and counts; limited to
    ``region_bbox`` or ``region_file`` when given. Returns the PNG's path."""
    args = getattr(tessera_client, "_args", None)
    if args is None:
        raise TypeError("tessera_client must be a geotessera_rs GeoTessera")
    version, variant, cache_dir, _emb, _url, _path, registry_dir, _bbox, _margin, mirror = args
    if not 0 <= float(tile_alpha) <= 1:
        raise ValueError(f"tile_alpha must be between 0 and 1, got {tile_alpha}")
    return _native.coverage_map(
        Path(output_path),
        year=None if year is None else int(year),
        width=int(width_pixels),
        show_countries=bool(show_countries),
        tile_color=str(tile_color),
        tile_alpha=float(tile_alpha),
        tile_size=float(tile_size),
        multi_year_colors=bool(multi_year_colors),
        region_bbox=None if region_bbox is None else tuple(float(v) for v in region_bbox),
        region_file=None if region_file is None else Path(region_file),
        version=version,
        variant=getattr(tessera_client, "dataset_variant", variant),
        registry_dir=None if registry_dir is None else Path(registry_dir),
        mirror=mirror,
        cache_dir=None if cache_dir is None else Path(cache_dir),
        callback=_callback(progress_callback),
    )
