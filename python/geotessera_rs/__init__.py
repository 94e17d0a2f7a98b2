"""geotessera_rs: TESSERA embeddings from Python, backed by geotessera-rs (Rust).

The same names as the reference package geotessera 0.11::

    >>> from geotessera_rs import GeoTesseraZarr, GeoTessera
    >>> gt = GeoTesseraZarr()
    >>> X = gt.sample_points([(-2.97, 53.44)], year=2025)       # (N, 128) float32

Existing scripts written for ``geotessera`` run unchanged after
:func:`install_as_geotessera`.
"""

from __future__ import annotations

import logging as _logging
import os as _os
from typing import Any

from . import _native, errors, learn, visualization, web
from ._compat import install_as_geotessera
from .crs import CRS
from .quant import dequantize_embedding

__version__: str = _native.__version__

_logging.getLogger(__name__).addHandler(_logging.NullHandler())

if hasattr(_os, "register_at_fork"):
    from ._util import after_fork_in_child as _after_fork

    _os.register_at_fork(after_in_child=_after_fork)

__all__ = [
    "GeoTessera",
    "GeoTesseraZarr",
    "dequantize_embedding",
    "CRS",
    "errors",
    "visualization",
    "web",
    "learn",
    "registry",
    "store",
    "install_as_geotessera",
]


def __getattr__(name: str) -> Any:
    # The facade-backed classes import lazily, like the reference's GeoTesseraZarr.
    if name == "GeoTesseraZarr":
        from .store import GeoTesseraZarr

        return GeoTesseraZarr
    if name == "GeoTessera":
        from .core import GeoTessera

        return GeoTessera
    if name in ("registry", "store", "core", "tiles"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'geotessera_rs' has no attribute {name!r}")
