"""The ``.tessera`` accessor of ``xarray.Dataset``: a UTM zone's embeddings by easting and
northing, with the names and results of ``geotessera.store.TesseraAccessor``.

It works over NumPy on any Dataset in the reference's layout (``embeddings`` int8
``(time, band, y, x)``, ``scales`` float32 ``(time, y, x)``, pixel-centre ``x``/``y`` (or
``xc``/``yc`` for point lookups), attrs ``proj:code`` and ``spatial:transform``): the
Datasets of :func:`geotessera_rs.xarray.open_zone`, the reference's, and in-memory ones.

Point lookups choose the nearest coordinate, resolving ties to the first axis entry
(west/north on the stored grid); a point more than one pixel from the grid is ``outside``.
Non-finite scales mark pixels without an embedding: NaN is water (or an unembedded pixel
when the Dataset's ``geotessera:mask_source`` is ``source_nodata``), +inf never written.

xarray is imported only when needed: ``import geotessera_rs.accessor`` works without it.
:func:`register` installs the accessor as ``Dataset.tessera`` unless that name is taken
(the real geotessera registers the same name).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, List, Optional, Tuple

import numpy as np
from affine import Affine

from .store import NODATA, OUTSIDE, SEAM_SEARCH_PX, VALID, WATER

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["TesseraAccessor", "register"]

log = logging.getLogger("geotessera_rs.store")

# Causes a bulk read can assign to a point; only unwritten pixels are retried per point.
_OK, _WATER, _HOLE, _OUT = 0, 1, 2, 3


def register() -> bool:
    """Register :class:`TesseraAccessor` as ``xarray.Dataset.tessera`` unless the name is
    already taken (by an earlier call, or by the real geotessera). False without xarray."""
    try:
        import xarray as xr
    except ImportError:
        return False
    if not hasattr(xr.Dataset, "tessera"):
        xr.register_dataset_accessor("tessera")(TesseraAccessor)
    return True


def _prefetched(load: Callable[[int], Any], tops: Iterable[int]) -> Iterator[Any]:
    """Yield ``load(t)`` for each t, loading one step ahead on a thread."""
    from concurrent.futures import ThreadPoolExecutor

    tops = list(tops)
    if not tops:
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, tops[0])
        for i in range(len(tops)):
            ready = pending.result()
            if i + 1 < len(tops):
                pending = pool.submit(load, tops[i + 1])
            yield ready


def _progress_iter(items: Iterable[Any], label: str, total: Optional[int] = None) -> Iterator[Any]:
    """Yield *items*, logging progress at INFO every 10 s (short runs stay silent)."""
    if total is None:
        items = list(items)
        total = len(items)
    if total == 0:
        yield from items
        return
    started = time.monotonic()
    next_report = started + 10.0
    reported = False
    for i, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now >= next_report or (reported and i == total):
            reported = True
            next_report = now + 10.0
            elapsed = now - started
            log.info(
                "%s: %d/%d (%.0f%%, %.1f/s)",
                label,
                i,
                total,
                100.0 * i / total,
                i / elapsed if elapsed > 0 else 0.0,
            )


def _nearest_indices(coords: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Nearest indices on a finite monotonic, non-empty axis, for finite targets.

    Ties choose the first original coordinate: west on an ascending X axis, north on a
    descending Y axis.
    """
    if len(coords) == 1:
        return np.zeros(targets.shape, dtype=np.intp)
    descending = coords[0] > coords[-1]
    ascending = coords[::-1] if descending else coords
    i = np.clip(np.searchsorted(ascending, targets), 1, len(coords) - 1)
    left_distance = targets - ascending[i - 1]
    right_distance = ascending[i] - targets
    # The right side of a tie comes first in the original descending axis.
    choose_left = left_distance < right_distance if descending else left_distance <= right_distance
    nearest = np.where(choose_left, i - 1, i)
    return len(coords) - 1 - nearest if descending else nearest


def _point_axes(ds: "xr.Dataset") -> Tuple[str, str]:
    return ("xc", "yc") if "xc" in ds.coords else ("x", "y")


def _nan_is_nodata(ds: "xr.Dataset") -> bool:
    """True if NaN scales mark unembedded pixels rather than water."""
    return ds.attrs.get("geotessera:mask_source") == "source_nodata"


def _time_index(ds: "xr.Dataset", year: int, years: List[int]) -> int:
    matches = np.flatnonzero(ds["time"].values == year)
    if not len(matches):
        raise ValueError(f"Year {year} is unavailable; available: {years}")
    return int(matches[0])


def _source(ds: "xr.Dataset", array: str) -> Optional[Tuple[Any, int, List[int]]]:
    """The store zone behind an untouched Dataset of our ``open_zone`` (reads go straight
    to it), or None (reads go through xarray)."""
    if array != "embeddings":
        return None
    from .xarray import native_source

    return native_source(ds)


def _read_pixels(
    src: Tuple[Any, int, List[int]], ti: int, yi: np.ndarray, xi: np.ndarray
) -> Tuple[np.ndarray, np.ndarray]:
    """``(int8 (N, B), float32 (N,))`` at pixels ``(yi, xi)`` of time index ``ti``, one
    store read per inner chunk (32 x 32 pixels) the points fall in."""
    native, zone, years = src
    year = years[ti]
    key = (yi // 32).astype(np.int64) * (1 << 32) + (xi // 32)
    order = np.argsort(key, kind="stable")
    _, starts = np.unique(key[order], return_index=True)
    bounds = list(starts) + [len(order)]
    emb: Optional[np.ndarray] = None
    scales = np.empty(len(yi), np.float32)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        idx = order[a:b]
        r0, c0 = int(yi[idx].min()), int(xi[idx].min())
        h, w = int(yi[idx].max()) - r0 + 1, int(xi[idx].max()) - c0 + 1
        e, s = native.read_window(zone, r0, c0, h, w, year)
        if emb is None:
            emb = np.empty((len(yi), e.shape[2]), np.int8)
        emb[idx] = e[yi[idx] - r0, xi[idx] - c0]
        scales[idx] = s[yi[idx] - r0, xi[idx] - c0]
    assert emb is not None
    return emb, scales


@dataclass(frozen=True)
class _RegionWindow:
    x0: int
    x1: int
    y0: int
    y1: int
    transform: Affine


def _region_window(ds: "xr.Dataset", bbox: Any, px: float) -> _RegionWindow:
    """The pixel window of a zone-CRS bbox: every pixel centre within it (edges included)."""
    if len(bbox) != 4 or not np.isfinite(bbox).all():
        raise ValueError("Region bounds must contain four finite coordinates")
    west, east = sorted((bbox[0], bbox[2]))
    south, north = sorted((bbox[1], bbox[3]))
    xs, ys = ds["x"].values, ds["y"].values
    x0, x1 = np.searchsorted(xs, west, "left"), np.searchsorted(xs, east, "right")
    y0, y1 = np.searchsorted(-ys, -north, "left"), np.searchsorted(-ys, -south, "right")
    if x1 <= x0 or y1 <= y0:
        raise IndexError("Region does not intersect the zone grid")
    return _RegionWindow(
        int(x0),
        int(x1),
        int(y0),
        int(y1),
        Affine(px, 0, xs[x0] - 0.5 * px, 0, -px, ys[y0] + 0.5 * px),
    )


class TesseraAccessor:
    """Tessera-aware methods on an ``xarray.Dataset`` of one UTM zone, in that zone's CRS.

    Reads ``proj:code`` and ``spatial:transform`` from the Dataset's attrs, years from its
    ``time`` coordinate and the band count from ``geoemb:dimensions`` (else the ``band``
    size, else 128).
    """

    def __init__(self, ds: "xr.Dataset"):
        self._ds = ds
        attrs = ds.attrs
        self._epsg: int = int(attrs["proj:code"].split(":")[1])
        if "time" in ds.coords:
            self._years: List[int] = [int(v) for v in ds.coords["time"].values]
        else:
            self._years = []
        self._n_bands: int = int(attrs.get("geoemb:dimensions", ds.sizes.get("band", 128)))
        self._px: float = float(attrs["spatial:transform"][0])

    # -- Properties ---------------------------------------------------------

    @property
    def crs(self) -> str:
        """CRS string, e.g. ``'EPSG:32630'``."""
        return f"EPSG:{self._epsg}"

    @property
    def pixel_size(self) -> float:
        """Pixel size in CRS units (metres for UTM)."""
        return self._px

    @property
    def years(self) -> List[int]:
        """Available years, in the order of the time dimension."""
        return self._years

    @property
    def n_bands(self) -> int:
        """Number of embedding bands."""
        return self._n_bands

    # -- Dequantisation -----------------------------------------------------

    @staticmethod
    def dequantise(emb_int8: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """``(B, H, W)`` int8 and ``(H, W)`` scales to ``(H, W, B)`` float32; non-finite
        scales (NaN water, +inf no data) give NaN rows."""
        valid = np.isfinite(scales)
        safe = np.where(valid, scales, 0.0)
        f32 = emb_int8.astype(np.float32) * safe[np.newaxis, :, :]
        f32[:, ~valid] = np.nan
        return f32.transpose(1, 2, 0)

    # -- Point sampling -----------------------------------------------------

    def sample_at(
        self, e: float, n: float, year: int, *, search_px: int = SEAM_SEARCH_PX
    ) -> np.ndarray:
        """One dequantised embedding, ``(B,)`` float32 (a NaN row where :meth:`probe`
        finds none), at easting ``e`` and northing ``n`` of this zone's CRS."""
        vec, _status = self.probe(e, n, year, search_px=search_px)
        return vec if vec is not None else np.full(self.n_bands, np.nan, np.float32)

    def probe(
        self, e: float, n: float, year: int, *, search_px: int = SEAM_SEARCH_PX
    ) -> Tuple[Optional[np.ndarray], str]:
        """``(embedding or None, status)`` at UTM ``(e, n)``; status ``valid``, ``water``,
        ``nodata`` (never written) or ``outside`` (beyond the grid, or non-finite).

        Within ``search_px`` an unwritten pixel falls back to the nearest valid one (0
        disables that); water is answered as ``water``, never searched past.
        """
        xname, yname = _point_axes(self._ds)
        xs = self._ds.coords[xname].values
        ys = self._ds.coords[yname].values
        if not len(xs) or not len(ys) or not np.isfinite(e) or not np.isfinite(n):
            return None, OUTSIDE
        xi = int(_nearest_indices(xs, np.asarray([e]))[0])
        yi = int(_nearest_indices(ys, np.asarray([n]))[0])
        if abs(xs[xi] - e) > self._px or abs(ys[yi] - n) > self._px:
            return None, OUTSIDE

        r = max(0, int(search_px))
        x0, x1 = max(0, xi - r), min(len(xs), xi + r + 1)
        y0, y1 = max(0, yi - r), min(len(ys), yi + r + 1)
        win = self._ds.isel({xname: slice(x0, x1), yname: slice(y0, y1)}).sel(time=year)
        src = _source(self._ds, "embeddings")
        if src is not None:
            ti = int(self._ds.get_index("time").get_loc(year))
            native, zone, years = src
            e_hwb, s_hw = native.read_window(zone, y0, x0, y1 - y0, x1 - x0, years[ti])
            scales = np.asarray(s_hw, dtype=np.float64)
        else:
            scales = np.asarray(win["scales"].values, dtype=np.float64)
        ci, cj = yi - y0, xi - x0

        centre = scales[ci, cj]
        if np.isnan(centre) and not _nan_is_nodata(self._ds):
            return None, WATER
        if np.isfinite(centre):
            bi, bj = ci, cj
        else:
            rows, cols = np.nonzero(np.isfinite(scales))
            if not len(rows):
                return None, NODATA
            k = int(np.argmin((rows - ci) ** 2 + (cols - cj) ** 2))
            bi, bj = int(rows[k]), int(cols[k])
        if src is not None:
            vec = e_hwb[bi, bj]
        else:
            vec = np.asarray(win["embeddings"].values)[:, bi, bj]
        return vec.astype(np.float32) * float(scales[bi, bj]), VALID

    def _bulk_sample(
        self, es: np.ndarray, ns: np.ndarray, year: int, array: str = "embeddings"
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Nearest-pixel values ``(N, B)`` float32 and causes of zone-CRS points in one
        vectorised read; NaN rows wherever the cause is not ``_OK``. Nothing is repaired."""
        import xarray as xr

        ds = self._ds
        xname, yname = _point_axes(ds)
        xs, ys = ds.coords[xname].values, ds.coords[yname].values
        px = self._px
        bands = int(ds[array].shape[1])

        values = np.full((len(es), bands), np.nan, np.float32)
        cause = np.full(len(es), _OUT, np.int8)
        if not len(xs) or not len(ys):
            return values, cause
        finite_indices = np.flatnonzero(np.isfinite(es) & np.isfinite(ns))
        if not len(finite_indices):
            return values, cause

        xi = _nearest_indices(xs, es[finite_indices])
        yi = _nearest_indices(ys, ns[finite_indices])
        close = (np.abs(xs[xi] - es[finite_indices]) <= px) & (
            np.abs(ys[yi] - ns[finite_indices]) <= px
        )
        if not close.any():
            return values, cause

        read_indices = finite_indices[close]
        xi, yi = xi[close], yi[close]
        sel = ds.sel(time=year).isel(
            {xname: xr.DataArray(xi, dims="points"), yname: xr.DataArray(yi, dims="points")}
        )
        src = _source(ds, array)
        if src is not None:
            ti = int(ds.get_index("time").get_loc(year))
            emb, scales = _read_pixels(src, ti, np.asarray(yi), np.asarray(xi))
        else:
            emb, scales = sel[array].values.T, sel["scales"].values
        emb = emb.astype(np.float32) * np.where(np.isfinite(scales), scales, np.nan)[:, None]
        values[read_indices] = emb
        cause[read_indices] = np.where(
            np.isnan(scales),
            _HOLE if _nan_is_nodata(ds) else _WATER,
            np.where(np.isinf(scales), _HOLE, _OK),
        )
        return values, cause

    def sample_points(
        self, coords: Iterable[Tuple[float, float]], year: int, *, progress: bool = True
    ) -> np.ndarray:
        """``(N, B)`` float32 at ``(easting, northing)`` points of this zone's CRS, in one
        vectorised read; NaN rows for water and points beyond the grid. Unwritten pixels
        retry through :meth:`sample_at`. ``progress`` is ignored (progress is logged)."""
        del progress
        coords = list(coords)
        if not coords:
            return np.empty((0, self.n_bands), np.float32)
        es = np.array([c[0] for c in coords], dtype=float)
        ns = np.array([c[1] for c in coords], dtype=float)
        values, cause = self._bulk_sample(es, ns, year)
        holes = np.flatnonzero(cause == _HOLE)
        for i in _progress_iter(holes, "Repairing pixels"):
            values[i] = self.sample_at(es[i], ns[i], year)
        return values

    # -- Region reading -----------------------------------------------------

    def _window(self, bbox: Any, year: int, array: str) -> Tuple[np.ndarray, np.ndarray, Affine]:
        """A bbox window: ``(embeddings int8 (B, H, W), scales (H, W), transform)``."""
        window = _region_window(self._ds, bbox, self._px)
        sub = self._ds.isel(
            time=_time_index(self._ds, year, self._years),
            x=slice(window.x0, window.x1),
            y=slice(window.y0, window.y1),
        )
        h, w = int(sub.sizes["y"]), int(sub.sizes["x"])
        log.info("read_region: %d x %d pixels (%s), %.0fm resolution", h, w, f"{h * w:,}", self._px)
        started = time.monotonic()
        src = _source(self._ds, array)
        if src is not None:
            native, zone, years = src
            ti = _time_index(self._ds, year, self._years)
            e_hwb, scales = native.read_window(zone, window.y0, window.x0, h, w, years[ti])
            emb_int8 = e_hwb.transpose(2, 0, 1)
        else:
            scales = sub["scales"].values
            emb_int8 = sub[array].values
        log.info("read_region: loaded in %.1fs", time.monotonic() - started)
        return emb_int8, scales, window.transform

    def read_region(
        self,
        bbox: Tuple[float, float, float, float],
        year: int,
        *,
        array: str = "embeddings",
        progress: bool = False,
    ) -> Tuple[np.ndarray, Affine]:
        """``(mosaic (H, W, B) float32, transform)`` of the pixels whose centres lie in
        ``bbox = (e_min, n_min, e_max, n_max)`` of this zone's CRS; ``array`` names the
        embeddings array (e.g. ``"embeddings_d16"``). ``IndexError`` when the bbox holds
        no pixel, ``ValueError`` for a year the Dataset lacks or a bad bbox."""
        del progress
        emb_int8, scales, transform = self._window(bbox, year, array)
        return self.dequantise(emb_int8, scales), transform

    def read_region_quantized(
        self,
        bbox: Tuple[float, float, float, float],
        year: int,
        *,
        array: str = "embeddings",
        progress: bool = False,
    ) -> Tuple[np.ndarray, np.ndarray, Affine]:
        """``(embeddings int8 (H, W, B), scales float32 (H, W), transform)`` of the window
        of :meth:`read_region`, not dequantised."""
        del progress
        emb_int8, scales, transform = self._window(bbox, year, array)
        return emb_int8.transpose(1, 2, 0), scales, transform

    def iter_region(
        self,
        bbox: Tuple[float, float, float, float],
        year: int,
        *,
        array: str = "embeddings",
        strip_rows: int = 512,
        progress: bool = False,
    ) -> Iterator[Tuple[np.ndarray, Affine]]:
        """:meth:`read_region` as ``(block (rows, W, B) float32, transform)`` strips of
        ``strip_rows`` rows, top to bottom, the next strip read while the caller works
        on this one. A generator: argument errors surface on the first ``next``."""
        del progress
        if strip_rows <= 0:
            raise ValueError("strip_rows must be positive")
        window = _region_window(self._ds, bbox, self._px)
        sub = self._ds.isel(
            time=_time_index(self._ds, year, self._years),
            x=slice(window.x0, window.x1),
            y=slice(window.y0, window.y1),
        )
        height = int(sub.sizes["y"])
        px = self._px

        def load(top: int) -> Tuple[np.ndarray, Affine]:
            strip = sub.isel(y=slice(top, min(top + strip_rows, height)))
            block = self.dequantise(strip[array].values, strip["scales"].values)
            x0 = float(strip["x"].values[0]) - 0.5 * px
            y0 = float(strip["y"].values[0]) + 0.5 * px
            return block, Affine(px, 0, x0, 0, -px, y0)

        tops = list(range(0, height, strip_rows))
        yield from _progress_iter(_prefetched(load, tops), "Reading strips", total=len(tops))
