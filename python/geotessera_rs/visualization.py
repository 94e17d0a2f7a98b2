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

__all__ = ["create_pca_mosaic", "fit_pca"]

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
