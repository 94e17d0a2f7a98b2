"""Zarr stores: ``GeoTesseraZarr``, with the names of ``geotessera.store``.

Reads run in Rust (geotessera-rs) with the GIL released; arrays come back as NumPy arrays
that own the Rust buffers (no copy). CRSs are strings (``"EPSG:326NN"``) and transforms
``affine.Affine``, as the reference returns them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
from affine import Affine

from . import _native
from ._util import FORK_GENERATION, ProgressCallback, affine, bbox4, callback, coords_array
from .registry import Dataset, dataset_for_location, find_dataset, zarr_store_url

__all__ = [
    "GeoTesseraZarr",
    "open_zone",
    "DEFAULT_STORE",
    "VALID",
    "WATER",
    "NODATA",
    "OUTSIDE",
    "SEAM_SEARCH_PX",
    "SEAM_DEGREES",
]

log = logging.getLogger(__name__)

DEFAULT_STORE = zarr_store_url()
VALID, WATER, NODATA, OUTSIDE = "valid", "water", "nodata", "outside"
SEAM_SEARCH_PX = 1
SEAM_DEGREES = 0.1


def _crs_text(crs: Any) -> str:
    """A CRS the caller gave (EPSG string or code, PROJ string, WKT, or an object with
    ``to_epsg``/``to_wkt`` such as ours, rasterio's or pyproj's) as text for the native
    reader."""
    if isinstance(crs, bool):
        raise ValueError(f"dst_crs must be a CRS, got {crs!r}")
    if isinstance(crs, int):
        return f"EPSG:{crs}"
    if isinstance(crs, str):
        return crs
    to_epsg = getattr(crs, "to_epsg", None)
    code = to_epsg() if callable(to_epsg) else None
    if code:
        return f"EPSG:{int(code)}"
    to_wkt = getattr(crs, "to_wkt", None)
    if callable(to_wkt):
        return str(to_wkt())
    raise ValueError(f"dst_crs must be a CRS (EPSG code, PROJ string or WKT), got {crs!r}")


class GeoTesseraZarr:
    """Read embeddings from a TESSERA Zarr store, routing queries to UTM zones.

    Args:
        store_url: Store URL or local path. ``None`` (or the published default,
            ``zarr_store_url()``): the v1.1 store under the mirror, which is
            ``$TESSERA_MIRROR`` when set (as the ``tessera`` command reads it), else
            the published mirror.
        cache_dir: Directory for cached metadata (default: the CLI's cache).
        cache_max_size: Accepted for compatibility; the cache holds metadata only.
        via_gateway: Read the published store through the data.source.coop gateway
            instead of the bucket (default: ``$GEOTESSERA_VIA_GATEWAY``).
        mirror: Mirror root for ``store_url=None`` (default ``$TESSERA_MIRROR``).
    """

    dataset: Optional[Dataset] = None

    def __init__(
        self,
        store_url: Union[str, "os.PathLike[str]", None] = DEFAULT_STORE,
        cache_dir: Optional[Union[str, Path]] = None,
        cache_max_size: Optional[int] = None,
        via_gateway: Optional[bool] = None,
        *,
        mirror: Optional[str] = None,
    ):
        del cache_max_size
        if via_gateway is None:
            flag = os.environ.get("GEOTESSERA_VIA_GATEWAY", "").strip().lower()
            via_gateway = flag not in ("", "0", "false", "no", "off", "n", "f")
        url: Optional[str]
        if store_url is None or (
            isinstance(store_url, str)
            and store_url == DEFAULT_STORE
            and (mirror is not None or os.environ.get("TESSERA_MIRROR"))
        ):
            url = None
        else:
            url = os.fsdecode(os.fspath(store_url)).rstrip("/")
        self._args = (store_url, cache_dir, None, via_gateway, mirror)
        self._open_args = (url, mirror, None if cache_dir is None else os.fspath(cache_dir))
        self._via_gateway = bool(via_gateway)
        try:
            self._open()
        except ValueError as e:
            raise type(e)(f"Failed to open zarr store at {url or DEFAULT_STORE!r}: {e}") from e
        self.url: str = url if url is not None else self._native.url
        # The reference's identity: published store URLs only (the default store under a
        # mirror is the dataset it was chosen as).
        ds = self._native.dataset if url is None else None
        self.dataset = find_dataset(ds[0], ds[1]) if ds else dataset_for_location(self.url)
        self.model_version: str = self._native.model
        self.build_version: str = self._native.build_version
        self.n_bands: int = self._native.n_bands
        self.depths: Dict[int, str] = dict(self._native.depths)
        self.years: List[int] = list(self._native.years)
        log.info("GeoTesseraZarr: %s, years=%s", self.url, self.years)

    def _open(self) -> None:
        url, mirror, cache_dir = self._open_args
        self._handle = _native.NativeStore(
            url, mirror=mirror, cache_dir=cache_dir, via_gateway=self._via_gateway
        )
        self._generation = FORK_GENERATION[0]

    @property
    def _native(self) -> _native.NativeStore:
        if self._generation != FORK_GENERATION[0]:
            self._open()  # in a forked child: the parent's connections are not ours
        return self._handle

    def __repr__(self) -> str:
        return f"GeoTesseraZarr({self.url!r}, years={self.years})"

    def __reduce__(self):
        return (_reopen, self._args)

    @property
    def zones(self) -> List[int]:
        """UTM zones the store holds."""
        return list(self._native.zones)

    def open_zone(
        self,
        *,
        zone: Optional[int] = None,
        lon: Optional[float] = None,
        bbox: Optional[Tuple[float, float, float, float]] = None,
    ):
        """One UTM zone as a lazy ``xarray.Dataset`` (needs xarray; chunked for dask when
        dask is installed); exactly one of ``zone``, ``lon``, ``bbox``."""
        from .xarray import open_zone

        return open_zone(self, zone=zone, lon=lon, bbox=bbox)

    def _check_depth(self, depth: Optional[int]) -> None:
        if depth is not None and depth not in self.depths:
            raise ValueError(f"depth {depth} is unavailable; available: {sorted(self.depths)}")

    def _check_year(self, year: int) -> None:
        if int(year) not in self.years:
            raise ValueError(f"Year {year} is unavailable; available: {self.years}")

    def probe(
        self,
        lon: float,
        lat: float,
        year: int,
        *,
        cross_zone: bool = True,
        search_px: int = SEAM_SEARCH_PX,
    ) -> Tuple[Optional[np.ndarray], str]:
        """``(embedding (B,) float32 or None, status)``; status is ``"valid"``,
        ``"water"``, ``"nodata"`` or ``"outside"``."""
        if not (np.isfinite(lon) and np.isfinite(lat)):
            return None, OUTSIDE
        self._check_year(year)
        return self._native.probe(
            float(lon), float(lat), int(year), bool(cross_zone), int(search_px)
        )

    def sample_at(
        self,
        lon: float,
        lat: float,
        year: int,
        *,
        cross_zone: bool = True,
        search_px: int = SEAM_SEARCH_PX,
    ) -> np.ndarray:
        """``(B,)`` float32 of one point, a NaN row where there is no embedding."""
        vec, _ = self.probe(lon, lat, year, cross_zone=cross_zone, search_px=search_px)
        return vec if vec is not None else np.full(self.n_bands, np.nan, np.float32)

    def sample_points(
        self,
        coords: Any,
        year: int,
        *,
        progress: bool = True,
        cross_zone: bool = True,
        search_px: int = SEAM_SEARCH_PX,
        depth: Optional[int] = None,
        progress_callback: Optional[ProgressCallback] = None,
    ) -> np.ndarray:
        """``(N, B)`` float32 at ``(lon, lat)`` points, NaN rows for water, nodata and
        points outside the store alike (:meth:`probe` tells them apart)."""
        del progress
        self._check_depth(depth)
        pts = coords_array(coords)
        n_bands = self.n_bands if depth is None else int(depth)
        if len(pts) == 0:
            return np.empty((0, n_bands), np.float32)
        finite = np.isfinite(pts).all(axis=1)
        if not finite.all():
            out = np.full((len(pts), n_bands), np.nan, np.float32)
            if finite.any():
                out[finite] = self.sample_points(
                    pts[finite],
                    year,
                    cross_zone=cross_zone,
                    search_px=search_px,
                    depth=depth,
                    progress_callback=progress_callback,
                )
            return out
        # As the reference, the year is checked when a point is read: no finite point, no
        # check.
        self._check_year(year)
        values, _status = self._native.sample_points(
            pts, int(year), bool(cross_zone), int(search_px), depth, callback(progress_callback)
        )
        return values

    def read_region(
        self,
        bbox: Tuple[float, float, float, float],
        year: int,
        *,
        depth: Optional[int] = None,
        progress: bool = False,
        progress_callback: Optional[ProgressCallback] = None,
    ) -> Tuple[np.ndarray, Affine, str]:
        """``(mosaic (H, W, B) float32, transform, crs)`` of a WGS84 bbox, on the native
        grid of the UTM zone of its centre. ``IndexError`` when the bbox holds no pixel."""
        del progress
        self._check_depth(depth)
        self._check_year(year)
        arr, t, crs = self._native.read_region(
            bbox4(bbox), int(year), depth, callback(progress_callback)
        )
        return arr, affine(t), crs

    def read_region_quantized(
        self,
        bbox: Tuple[float, float, float, float],
        year: int,
        *,
        depth: Optional[int] = None,
        progress: bool = False,
    ) -> Tuple[np.ndarray, np.ndarray, Affine, str]:
        """``(embeddings int8 (H, W, B), scales float32 (H, W), transform, crs)``."""
        del progress
        self._check_depth(depth)
        self._check_year(year)
        emb, scales, t, crs = self._native.read_region_quantized(bbox4(bbox), int(year), depth)
        return emb, scales, affine(t), crs

    def iter_region(
        self,
        bbox: Tuple[float, float, float, float],
        year: int,
        *,
        depth: Optional[int] = None,
        strip_rows: int = 512,
        progress: bool = False,
    ) -> Iterator[Tuple[np.ndarray, Affine, str]]:
        """:meth:`read_region` as strips of ``strip_rows`` rows, top to bottom, the next
        strip read while the caller works on this one."""
        del progress
        self._check_depth(depth)
        if int(strip_rows) <= 0:
            raise ValueError("strip_rows must be positive")
        self._check_year(year)
        strips = self._native.strips(bbox4(bbox), int(year), depth, int(strip_rows))

        def gen() -> Iterator[Tuple[np.ndarray, Affine, str]]:
            try:
                for block, t, crs in strips:
                    yield block, affine(t), crs
            finally:
                strips.close()

        return gen()

    def read_patch(
        self,
        lon: float,
        lat: float,
        year: int,
        size_px: int,
        *,
        depth: Optional[int] = None,
        dst_crs: Optional[str] = None,
        resampling: str = "nearest",
        progress: bool = False,
    ) -> Tuple[np.ndarray, Affine, Any]:
        """``(patch (size_px, size_px, B) float32, transform, crs)`` centred on a point
        (at ``[size_px // 2, size_px // 2]``). Within one zone it is sliced from the
        zone's native grid (crs ``"EPSG:326NN"``); across zones, or onto ``dst_crs`` (a UTM
        zone, Web Mercator or a transverse Mercator on WGS84, as an EPSG string or code,
        PROJ string, WKT or a CRS object), pixels are relocated whole (nearest) onto 10 m
        pixels of one grid, each from the zone owning its longitude; the crs returned is
        ``dst_crs`` as given, or the patch's WKT."""
        del progress
        from numbers import Integral

        if not isinstance(size_px, Integral) or isinstance(size_px, bool) or size_px <= 0:
            raise ValueError(f"size_px must be positive, got {size_px}")
        if resampling != "nearest":
            raise ValueError(
                f"resampling={resampling!r} is not supported: read_patch relocates whole "
                "pixels ('nearest'), which leaves embedding vectors unblended"
            )
        dst = None if dst_crs is None else _crs_text(dst_crs)
        self._check_depth(depth)
        self._check_year(year)
        arr, t, crs = self._native.read_patch(
            float(lon), float(lat), int(year), int(size_px), depth, dst
        )
        return arr, affine(t), (crs if dst_crs is None else dst_crs)

    def export_geotiffs(
        self,
        bbox: Tuple[float, float, float, float],
        year: int,
        output_dir: Union[str, Path],
        *,
        bands: Optional[List[int]] = None,
        depth: Optional[int] = None,
        strip_rows: int = 128,
        compress: str = "lzw",
        progress_callback: Optional[ProgressCallback] = None,
        dry_run: bool = False,
    ) -> Union[List[str], List[Dict[str, int]]]:
        """One float32 GeoTIFF per UTM zone the bbox meets, ``tessera_{year}_utm{NN}.tif``
        in ``output_dir``; with ``dry_run``, ``[{zone, width, height,
        uncompressed_bytes}]`` without reading any chunk."""
        if int(strip_rows) <= 0:
            raise ValueError("strip_rows must be positive")
        self._check_depth(depth)
        out = self._native.export_geotiffs(
            bbox4(bbox),
            int(year),
            os.fspath(output_dir),
            None if bands is None else [int(b) for b in bands],
            depth,
            str(compress),
            bool(dry_run),
            callback(progress_callback),
        )
        if dry_run:
            return [
                {"zone": z, "width": w, "height": h, "uncompressed_bytes": b} for z, w, h, b in out
            ]
        return list(out)


def open_zone(
    store_url: Union[str, "os.PathLike[str]", None] = DEFAULT_STORE,
    *,
    zone: Optional[int] = None,
    lon: Optional[float] = None,
    bbox: Optional[Tuple[float, float, float, float]] = None,
    **kwargs: Any,
):
    """:meth:`GeoTesseraZarr.open_zone` of the store at ``store_url``."""
    return GeoTesseraZarr(store_url, **kwargs).open_zone(zone=zone, lon=lon, bbox=bbox)


def _utm_envelope(
    bbox: Tuple[float, float, float, float], crs: str
) -> Tuple[float, float, float, float]:
    """The extent in ``crs`` enclosing a lon/lat bbox, curved edges included (the edges
    are densified, as northing extremes can fall between the corners). Needs pyproj."""
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return t.transform_bounds(*bbox, densify_pts=21)


def _reopen(store_url, cache_dir, cache_max_size, via_gateway, mirror):
    return GeoTesseraZarr(store_url, cache_dir, cache_max_size, via_gateway, mirror=mirror)
