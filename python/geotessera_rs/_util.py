"""Small conversions shared by the tile and store APIs."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np
from affine import Affine

ProgressCallback = Callable[[int, int, str], Any]

# Incremented in a forked child: native objects opened before the fork hold HTTP
# connections of the parent's runtime, so the Python objects reopen theirs on next use.
FORK_GENERATION = [0]


def after_fork_in_child() -> None:
    """Called by ``os.register_at_fork`` in a child process."""
    from . import _native

    FORK_GENERATION[0] += 1
    _native._reset_after_fork()


def affine(t: Sequence[float]) -> Affine:
    """An ``affine.Affine`` of a ``[a, b, c, d, e, f]`` transform (rasterio order)."""
    return Affine(*(float(v) for v in t))


def coords_array(coords: Any) -> np.ndarray:
    """``(N, 2)`` float64 C-contiguous (lon, lat) of a list of pairs or an array."""
    arr = np.asarray(coords if not isinstance(coords, (list, tuple)) else list(coords), dtype=float)
    if arr.size == 0:
        return np.empty((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError("coords must be a sequence of (lon, lat) pairs, shape (N, 2)")
    return np.ascontiguousarray(arr, dtype=np.float64)


def bbox4(bbox: Any) -> Tuple[float, float, float, float]:
    """``(min_lon, min_lat, max_lon, max_lat)`` as floats."""
    try:
        w, s, e, n = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"bbox must be (min_lon, min_lat, max_lon, max_lat) numbers; got {bbox!r}"
        ) from exc
    return w, s, e, n


def callback(cb: Optional[ProgressCallback]) -> Optional[ProgressCallback]:
    """The progress callback, or None; refuses what cannot be called."""
    if cb is not None and not callable(cb):
        raise TypeError("progress_callback must be callable as callback(current, total, status)")
    return cb
