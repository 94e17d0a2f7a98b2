"""Dequantisation of int8 embeddings with float32 scales."""

from __future__ import annotations

import numpy as np

from . import _native

__all__ = ["dequantize_embedding"]


def dequantize_embedding(quantized_embedding: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Dequantize embedding by multiplying with scale factors.

    ``quantized_embedding`` is int8 ``(H, W, B)``; ``scales`` float32 ``(H, W)`` or
    ``(H, W, B)``. Non-finite scales (NaN water, +-inf nodata) give NaN. Returns float32
    shaped like ``quantized_embedding``, bit for bit what the reference computes.
    """
    q = np.asarray(quantized_embedding)
    s = np.asarray(scales, dtype=np.float32)
    fast = q.dtype == np.int8 and (s.shape == q.shape or (q.ndim >= 1 and s.shape == q.shape[:-1]))
    if fast and q.ndim == 3 and s.ndim == 2 or fast and s.shape == q.shape:
        return _native.dequantize(np.ascontiguousarray(q), np.ascontiguousarray(s))
    # Anything else (other dtypes, broadcasting shapes) the reference's NumPy way.
    s = np.where(np.isfinite(s), s, np.nan)
    if s.ndim == 2 and q.ndim == 3:
        s = s[..., np.newaxis]
    return q.astype(np.float32) * s
