"""``open_zone``: a UTM zone of a store as a lazy ``xarray.Dataset`` in the reference's
layout (``embeddings`` int8 ``(time, band, y, x)``, ``scales`` float32 ``(time, y, x)``,
pixel-centre ``x``/``y``), read through geotessera-rs on access. Needs xarray; chunked for
dask when dask is installed. Reads release the GIL, so dask threads run in parallel.

Importing this module (and calling :func:`open_zone`) registers the ``.tessera`` accessor
(:class:`geotessera_rs.accessor.TesseraAccessor`) unless ``Dataset.tessera`` is taken.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, List, Optional, Tuple

import numpy as np

from .accessor import TesseraAccessor, register

__all__ = ["open_zone", "TesseraAccessor"]

register()


def _zone_for_lon(lon: float) -> int:
    return int(min(max(np.floor((lon + 180.0) / 6.0) + 1, 1), 60))


def _ranges(key: Tuple[Any, ...], shape: Tuple[int, ...]):
    """Per axis: (range of indices, whether the axis is kept) of a basic key."""
    out = []
    for k, n in zip(key, shape, strict=True):
        if isinstance(k, slice):
            out.append((range(*k.indices(n)), True))
        else:
            i = int(k)
            out.append((range(i + n if i < 0 else i, (i + n if i < 0 else i) + 1), False))
    return out


def _backend_array():
    from xarray.backends import BackendArray
    from xarray.core import indexing

    class ZoneArray(BackendArray):
        """``embeddings`` (T, B, Y, X) int8 or ``scales`` (T, Y, X) float32 of one zone."""

        def __init__(self, native, zone, years, height, width, bands, kind):
            self.native, self.zone, self.years, self.kind = native, zone, years, kind
            if kind == "embeddings":
                self.shape = (len(years), bands, height, width)
                self.dtype = np.dtype(np.int8)
            else:
                self.shape = (len(years), height, width)
                self.dtype = np.dtype(np.float32)

        def __getitem__(self, key):
            return indexing.explicit_indexing_adapter(
                key, self.shape, indexing.IndexingSupport.BASIC, self._raw
            )

        def _raw(self, key):
            axes = _ranges(key, self.shape)
            t, rows, cols = axes[0][0], axes[-2][0], axes[-1][0]
            bands = axes[1][0] if self.kind == "embeddings" else None
            if len(rows) == 0 or len(cols) == 0 or len(t) == 0 or (bands is not None and not bands):
                full = tuple(len(r) for r, _ in axes)
                out = np.empty(full, self.dtype)
            else:
                blocks = []
                r0, r1 = min(rows), max(rows) + 1
                c0, c1 = min(cols), max(cols) + 1
                ri = np.asarray(rows) - r0
                ci = np.asarray(cols) - c0
                for ti in t:
                    emb, scales = self.native.read_window(
                        self.zone, r0, c0, r1 - r0, c1 - c0, self.years[ti]
                    )
                    if self.kind == "embeddings":
                        emb = emb.transpose(2, 0, 1)[np.asarray(bands)]
                        blocks.append(emb[:, ri][:, :, ci])
                    else:
                        blocks.append(scales[ri][:, ci])
                out = np.stack(blocks)
            drop = tuple(0 if not kept else slice(None) for _, kept in axes)
            return out[drop]

    return ZoneArray, indexing.LazilyIndexedArray


def open_zone(
    store: Any,
    *,
    zone: Optional[int] = None,
    lon: Optional[float] = None,
    bbox: Optional[Tuple[float, float, float, float]] = None,
):
    """One zone of ``store`` (a :class:`~geotessera_rs.GeoTesseraZarr`) as a lazy Dataset,
    chosen by exactly one of ``zone``, ``lon`` or ``bbox`` (its centre longitude).
    ``TypeError`` for zero or several selectors, ``KeyError`` for a zone not in the store."""
    import xarray as xr

    register()
    given = [v is not None for v in (zone, lon, bbox)]
    if sum(given) != 1:
        raise TypeError("open_zone takes exactly one of zone=, lon= or bbox=")
    if lon is not None:
        zone = _zone_for_lon(float(lon))
    elif bbox is not None:
        zone = _zone_for_lon((float(bbox[0]) + float(bbox[2])) / 2.0)
    assert zone is not None
    info = {z: (crs, shape, t) for z, crs, shape, t in store._native.zone_info()}
    if int(zone) not in info:
        raise KeyError(f"zone {zone} is not in this store; it has zones {sorted(info)}")
    crs, (height, width), t = info[int(zone)]
    years = list(store.years)
    ZoneArray, Lazy = _backend_array()
    native = store._native
    emb = ZoneArray(native, int(zone), years, height, width, store.n_bands, "embeddings")
    scl = ZoneArray(native, int(zone), years, height, width, store.n_bands, "scales")
    a, _, c, _, e, f = t
    x = c + a * (np.arange(width) + 0.5)
    y = f + e * (np.arange(height) + 0.5)
    # The zone group's own attributes (geoemb:*, geotessera:mask_source, ...), as the
    # reference's Dataset carries them, with the georeference filled in where absent.
    raw = native.zone_attrs(int(zone))
    attrs = json.loads(raw) if raw else {}
    for k, v in {
        "spatial:dimensions": ["y", "x"],
        "spatial:bbox": [c, f + e * height, c + a * width, f],
        "spatial:transform_type": "affine",
        "spatial:transform": [a, t[1], c, t[3], e, f],
        "spatial:shape": [height, width],
        "spatial:registration": "pixel",
        "proj:code": crs,
    }.items():
        attrs.setdefault(k, v)
    ds = xr.Dataset(
        {
            "embeddings": xr.Variable(("time", "band", "y", "x"), Lazy(emb)),
            "scales": xr.Variable(("time", "y", "x"), Lazy(scl)),
        },
        coords={
            "time": np.array(years, dtype=np.int32),
            "band": np.arange(store.n_bands, dtype=np.int32),
            "y": y,
            "x": x,
        },
        attrs=attrs,
    )
    try:
        import dask  # noqa: F401
    except ImportError:
        return ds
    out = ds.chunk({"time": 1, "band": -1, "y": 1024, "x": 1024})
    _remember(out, native, int(zone), years, height, width)
    return out


# Dask arrays made by open_zone, by name, and the store zone they read: the accessor reads
# points and windows of such a Dataset straight from the store (a dask point read would
# load whole 1024 x 1024 chunks). Any change to an array (a slice, a computation) gives it
# a new name, so only untouched arrays are found here.
_SOURCES: "OrderedDict[str, Tuple[Any, int, List[int], int, int]]" = OrderedDict()
_MAX_SOURCES = 256


def _remember(ds, native, zone: int, years: List[int], height: int, width: int) -> None:
    for v in ("embeddings", "scales"):
        name = getattr(ds[v].data, "name", None)
        if name is not None:
            _SOURCES[name] = (native, zone, list(years), height, width)
            _SOURCES.move_to_end(name)
    while len(_SOURCES) > _MAX_SOURCES:
        _SOURCES.popitem(last=False)


def native_source(ds) -> Optional[Tuple[Any, int, List[int]]]:
    """``(native store, zone, years of the time axis)`` when ``ds`` holds the untouched
    ``embeddings`` and ``scales`` of one zone made by :func:`open_zone`, else None."""
    try:
        e = getattr(ds["embeddings"].data, "name", None)
        s = getattr(ds["scales"].data, "name", None)
    except KeyError:
        return None
    a, b = _SOURCES.get(e or ""), _SOURCES.get(s or "")
    if a is None or b is None or a[0] is not b[0] or a[1] != b[1]:
        return None
    native, zone, years, height, width = a
    if ds.sizes.get("y") != height or ds.sizes.get("x") != width:
        return None
    return native, zone, years
