"""Dataset table, tile grid and URL helpers, with the names of ``geotessera.registry``.

The grid arithmetic and the dataset table come from geotessera-rs (``tessera-core``); the
string helpers follow the reference exactly, so keys and paths are the published ones.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Generator, Iterable, List, Optional, Tuple, Union

import numpy as np

from . import _native
from ._util import FORK_GENERATION, ProgressCallback, bbox4, callback
from .errors import HTTPStatusError, UnwritableDestination

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_VARIANT",
    "DEFAULT_VERSION",
    "FORMATS",
    "STREAM_FORMATS",
    "Dataset",
    "DATASETS",
    "find_dataset",
    "default_variant",
    "variant_note",
    "icechunk_dataset",
    "known_variants",
    "published_datasets",
    "dataset_path",
    "dataset_from_path",
    "TESSERA_METADATA_FILENAME",
    "write_tessera_metadata",
    "recorded_dataset",
    "check_dataset_dir",
    "dataset_tags",
    "dataset_from_tags",
    "block_from_world",
    "block_to_embeddings_registry_filename",
    "block_to_landmasks_registry_filename",
    "tile_from_world",
    "parse_grid_name",
    "coord_to_grid_int",
    "tile_to_grid_name",
    "tile_to_embedding_paths",
    "tile_to_geotiff_path",
    "tile_to_landmask_filename",
    "tile_to_bounds",
    "TESSERA_MIRROR_ENDPOINT",
    "TESSERA_MIRROR_REPO",
    "TESSERA_MIRROR_S3_BUCKET",
    "TESSERA_MIRROR_REGION",
    "TESSERA_MIRROR_URL",
    "TESSERA_MIRROR_S3_HTTP_URL",
    "TESSERA_NPY_MIRROR_URL",
    "TESSERA_LANDMASKS_MIRROR_URL",
    "EMBEDDINGS_DIR_NAME",
    "LANDMASKS_DIR_NAME",
    "manifest_url",
    "landmasks_parquet_url",
    "embedding_url",
    "landmask_url",
    "zarr_store_url",
    "canonical_store_location",
    "dataset_for_location",
    "format_bytes",
    "UnwritableDestination",
    "HTTPStatusError",
    "Registry",
]

BLOCK_SIZE = 5
DEFAULT_VARIANT = "vultr"
FORMATS = ("npy", "zarr", "icechunk")
STREAM_FORMATS = ("zarr", "icechunk")
DEFAULT_VERSION = "v1.1"


@dataclass(frozen=True)
class Dataset:
    """One inference run of a TESSERA model and where it is published."""

    version: str
    variant: str
    description: str = ""
    npy: Optional[str] = None
    zarr: Optional[str] = None
    icechunk: Optional[str] = None
    tile_registry: Optional[str] = None

    @property
    def name(self) -> str:
        """``"1.1-cambridge"``."""
        return f"{self.version}-{self.variant}"

    def location(self, fmt: str) -> Optional[str]:
        """Where the dataset is published in *fmt*, or None."""
        return getattr(self, fmt)

    def formats(self) -> List[str]:
        """Formats the dataset is published in."""
        return [f for f in FORMATS if self.location(f)]


DATASETS: Tuple[Dataset, ...] = tuple(Dataset(*row) for row in _native.datasets())


def find_dataset(version_norm: str, variant: str) -> Optional[Dataset]:
    """The dataset for *version_norm* and *variant*, or None."""
    for ds in DATASETS:
        if ds.version == version_norm and ds.variant == variant:
            return ds
    return None


def default_variant(version_norm: str, fmt: Optional[str] = None) -> str:
    """Default variant of *version_norm*, optionally among those published in *fmt*
    (a format of :data:`FORMATS`, or ``"stream"`` for Zarr or Icechunk)."""
    variants = [ds for ds in DATASETS if ds.version == version_norm]
    if not variants:
        return DEFAULT_VARIANT
    fmts = STREAM_FORMATS if fmt == "stream" else (fmt,) if fmt else ()
    for ds in variants:
        if not fmts or any(ds.location(f) for f in fmts):
            return ds.variant
    return variants[0].variant


def variant_note(version_norm: str, fmt: str) -> Optional[str]:
    """Why *fmt* defaults to another variant than *version_norm*'s, or None."""
    version_default = default_variant(version_norm)
    fmt_default = default_variant(version_norm, fmt)
    fmts = STREAM_FORMATS if fmt == "stream" else (fmt,)
    ds = find_dataset(version_norm, fmt_default)
    if fmt_default == version_default or ds is None or not any(ds.location(f) for f in fmts):
        return None
    label = "Zarr or Icechunk" if fmt == "stream" else fmt.upper()
    return (
        f"v{version_norm} {label} is published only for variant "
        f"{fmt_default!r}, whose embeddings do not interoperate with the "
        f"default {version_default!r}. Select {fmt_default!r} explicitly "
        f"to silence this warning."
    )


def _parse_dataset_version(spec: str) -> Tuple[str, str]:
    """``(version_path, version_norm)``: ``"v1"`` -> ``("v1", "1.0")``."""
    return _native.parse_version(spec)


def _variant_subdir(variant: str) -> str:
    if variant == DEFAULT_VARIANT:
        return EMBEDDINGS_DIR_NAME
    return f"{EMBEDDINGS_DIR_NAME}.{variant}"


def icechunk_dataset(version: str, variant: Optional[str] = None):
    """``(repository URL, tile registry URL)``, or None for other datasets."""
    norm = _parse_dataset_version(version)[1]
    ds = find_dataset(norm, variant or default_variant(norm, "stream"))
    if ds is None or ds.icechunk is None:
        return None
    return ds.icechunk, ds.tile_registry


def known_variants(version_norm: str) -> List[str]:
    """Variants of *version_norm*, default first."""
    return [ds.variant for ds in DATASETS if ds.version == version_norm]


def published_datasets(fmt: str = "npy") -> List[Tuple[str, str, str]]:
    """``(version_norm, variant, location)`` of every dataset in *fmt*."""
    return [(ds.version, ds.variant, ds.location(fmt)) for ds in DATASETS if ds.location(fmt)]


def dataset_path(version_norm: str, variant: str) -> str:
    """Directory in the ``npy/`` tree of a (version, variant) pair (``ValueError`` when
    the dataset has no NPY tiles)."""
    return _native.dataset_path(version_norm, variant)


def dataset_from_path(dirname: str) -> Optional[Tuple[str, str]]:
    """Inverse of :func:`dataset_path`: ``"v1.1-cam"`` -> ``("1.1", "cambridge")``."""
    return _native.dataset_from_path(dirname)


TESSERA_METADATA_FILENAME = "tessera_metadata.json"


def write_tessera_metadata(
    output_dir: Union[str, Path],
    dataset_version: str,
    dataset_variant: str,
    extra: Optional[Dict[str, object]] = None,
) -> Path:
    """Write the ``tessera_metadata.json`` sidecar naming the dataset of a download."""
    version_path, version_norm = _parse_dataset_version(dataset_version)
    payload: Dict[str, object] = {
        "dataset_version": version_norm,
        "dataset_version_path": version_path,
        "dataset_variant": dataset_variant,
        "generated_at": datetime.now(timezone.utc).isoformat(),
    }
    ds = find_dataset(version_norm, dataset_variant)
    if ds is None or ds.npy is not None:
        npy_dir = dataset_path(version_norm, dataset_variant)
        payload.update(
            {
                "dataset_path": npy_dir,
                "embeddings_subdir": EMBEDDINGS_DIR_NAME,
                "s3_embeddings_subdir": _variant_subdir(dataset_variant),
                "source_url_prefix": f"{TESSERA_NPY_MIRROR_URL}/{npy_dir}/",
            }
        )
    if extra:
        payload.update(extra)
    out = Path(output_dir) / TESSERA_METADATA_FILENAME
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return out


def recorded_dataset(directory: Union[str, Path]) -> Optional[Tuple[str, str]]:
    """``(version_norm, variant)`` recorded in *directory*'s sidecar, or None."""
    try:
        data = json.loads((Path(directory) / TESSERA_METADATA_FILENAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    version = data.get("dataset_version_path") or data.get("dataset_version")
    variant = data.get("dataset_variant")
    if not (version and variant):
        return None
    return _parse_dataset_version(str(version))[1], str(variant)


def check_dataset_dir(directory: Union[str, Path], version: str, variant: str) -> None:
    """Raise ``ValueError`` if *directory* holds another dataset's embeddings."""
    recorded = recorded_dataset(directory)
    requested = (_parse_dataset_version(version)[1], variant)
    if recorded is not None and recorded != requested:
        raise ValueError(
            f"{directory} holds v{recorded[0]} {recorded[1]} embeddings, but "
            f"v{requested[0]} {requested[1]} was requested. Embeddings of "
            f"different datasets cannot be interchanged; use a separate "
            f"directory."
        )


def dataset_tags(version: str, variant: str) -> Dict[str, str]:
    """GeoTIFF tags identifying the dataset *version* and *variant*."""
    version_path, version_norm = _parse_dataset_version(version)
    return {
        "TESSERA_DATASET_VERSION": version_norm,
        "TESSERA_DATASET_VERSION_PATH": version_path,
        "TESSERA_DATASET_VARIANT": variant,
    }


def dataset_from_tags(tags: Dict[str, str]) -> Optional[Tuple[str, str]]:
    """``(version_norm, variant)`` recorded in GeoTIFF *tags*, or None."""
    version = tags.get("TESSERA_DATASET_VERSION")
    variant = tags.get("TESSERA_DATASET_VARIANT")
    if version and variant:
        return _parse_dataset_version(version)[1], variant
    ds = dataset_for_location(tags.get("TESSERA_SOURCE"))
    return (ds.version, ds.variant) if ds else None


def _check_lonlat(lon: float, lat: float) -> None:
    if not (-180 <= lon <= 180):
        raise ValueError(f"Longitude {lon} out of bounds [-180, 180]")
    if not (-90 <= lat <= 90):
        raise ValueError(f"Latitude {lat} out of bounds [-90, 90]")
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ValueError("Coordinates must be finite numbers")


def block_from_world(lon: float, lat: float) -> Tuple[int, int]:
    """Lower-left corner of the 5-degree registry block containing a point."""
    _check_lonlat(lon, lat)
    return (
        int(math.floor(lon / BLOCK_SIZE) * BLOCK_SIZE),
        int(math.floor(lat / BLOCK_SIZE) * BLOCK_SIZE),
    )


def block_to_embeddings_registry_filename(year: str, block_lon: int, block_lat: int) -> str:
    """``"embeddings_2024_lon-55_lat-25.txt"``."""
    lon_str = f"lon{block_lon}" if block_lon != 0 else "lon0"
    lat_str = f"lat{block_lat}" if block_lat != 0 else "lat0"
    return f"embeddings_{year}_{lon_str}_{lat_str}.txt"


def block_to_landmasks_registry_filename(block_lon: int, block_lat: int) -> str:
    """``"landmasks_lon-55_lat-25.txt"``."""
    lon_str = f"lon{block_lon}" if block_lon != 0 else "lon0"
    lat_str = f"lat{block_lat}" if block_lat != 0 else "lat0"
    return f"landmasks_{lon_str}_{lat_str}.txt"


def tile_from_world(lon: float, lat: float) -> Tuple[float, float]:
    """Centre of the 0.1-degree tile containing a point: ``(0.17, 52.23)`` ->
    ``(0.15, 52.25)``. ``ValueError`` for out-of-range or non-finite coordinates."""
    _check_lonlat(lon, lat)
    return _native.tile_from_world(float(lon), float(lat))


def parse_grid_name(filename: str) -> Tuple[Optional[float], Optional[float]]:
    """``(lon, lat)`` of a name such as ``grid_-50.55_-20.65``, else ``(None, None)``."""
    import re

    match = re.match(r"grid_(-?\d+\.\d+)_(-?\d+\.\d+)", filename)
    if match:
        return float(match.group(1)), float(match.group(2))
    return None, None


def coord_to_grid_int(coord: float) -> np.int32:
    """``round(coord * 100)`` as ``numpy.int32`` (the manifests' integer keys)."""
    return np.int32(np.round(coord * 100))


def tile_to_grid_name(lon: float, lat: float) -> str:
    """``grid_{lon:.2f}_{lat:.2f}``."""
    return f"grid_{lon:.2f}_{lat:.2f}"


def tile_to_embedding_paths(lon: float, lat: float, year: int) -> Tuple[Path, Path]:
    """``({year}/{grid}/{grid}.npy, {year}/{grid}/{grid}_scales.npy)``."""
    grid_name = tile_to_grid_name(lon, lat)
    return (
        Path(str(year)) / grid_name / f"{grid_name}.npy",
        Path(str(year)) / grid_name / f"{grid_name}_scales.npy",
    )


def tile_to_geotiff_path(lon: float, lat: float, year: int) -> Path:
    """``{year}/{grid}/{grid}_{year}.tiff``."""
    grid_name = tile_to_grid_name(lon, lat)
    return Path(str(year)) / grid_name / f"{grid_name}_{year}.tiff"


def tile_to_landmask_filename(lon: float, lat: float) -> str:
    """``{grid}.tiff``."""
    return f"{tile_to_grid_name(lon, lat)}.tiff"


def tile_to_bounds(lon: float, lat: float) -> Tuple[float, float, float, float]:
    """``(west, south, east, north)`` of the tile centred at ``(lon, lat)``."""
    return (lon - 0.05, lat - 0.05, lon + 0.05, lat + 0.05)


TESSERA_MIRROR_ENDPOINT = "https://data.source.coop"
TESSERA_MIRROR_REPO = "tessera/tessera"
TESSERA_MIRROR_S3_BUCKET = "us-west-2.opendata.source.coop"
TESSERA_MIRROR_REGION = "us-west-2"
TESSERA_MIRROR_URL = f"{TESSERA_MIRROR_ENDPOINT}/{TESSERA_MIRROR_REPO}"
TESSERA_MIRROR_S3_HTTP_URL = f"https://s3.{TESSERA_MIRROR_REGION}.amazonaws.com/{TESSERA_MIRROR_S3_BUCKET}/{TESSERA_MIRROR_REPO}"
TESSERA_NPY_MIRROR_URL = f"{TESSERA_MIRROR_URL}/npy"
TESSERA_LANDMASKS_MIRROR_URL = f"{TESSERA_MIRROR_URL}/landmasks"
EMBEDDINGS_DIR_NAME = "global_0.1_degree_representation"
LANDMASKS_DIR_NAME = "global_0.1_degree_tiff_all"


def manifest_url(dataset_dir: str) -> str:
    """URL of the embeddings manifest of an ``npy/`` directory."""
    return f"{TESSERA_NPY_MIRROR_URL}/{dataset_dir}/manifest.parquet"


def landmasks_parquet_url(version_path: str) -> str:
    """URL of the landmasks registry of a version path (``"v1"``)."""
    return f"{TESSERA_LANDMASKS_MIRROR_URL}/{version_path}/landmasks.parquet"


def embedding_url(dataset_dir: str, path: str) -> str:
    """URL of an embedding file under an ``npy/`` directory."""
    return f"{TESSERA_NPY_MIRROR_URL}/{dataset_dir}/{path}"


def landmask_url(version_path: str, filename: str) -> str:
    """URL of a landmask TIFF."""
    return f"{TESSERA_LANDMASKS_MIRROR_URL}/{version_path}/{filename}"


def zarr_store_url(version: str = DEFAULT_VERSION, variant: Optional[str] = None) -> str:
    """URL of the streamed store of *version* and *variant* (the version's streamed
    default when None). A version containing ``-`` is an explicit store path and cannot
    be combined with a variant. A dataset in both Zarr and Icechunk resolves to Zarr.

    Raises ``ValueError`` for a dataset published in neither format."""
    if "-" in version and variant is not None:
        raise ValueError("An explicit store path cannot be combined with a variant")
    kind, where = _native.store_location(version, variant)
    if kind == "icechunk":
        return where
    return f"{TESSERA_MIRROR_URL}/zarr/{where}"


def canonical_store_location(location: str) -> str:
    """One identity for the gateway and direct-S3 routes to a store."""
    location = location.rstrip("/")
    if location.startswith(f"{TESSERA_MIRROR_S3_HTTP_URL}/"):
        return TESSERA_MIRROR_URL + location[len(TESSERA_MIRROR_S3_HTTP_URL) :]
    return location


def dataset_for_location(location) -> Optional[Dataset]:
    """The published dataset whose Zarr or Icechunk store is *location*, or None."""
    if not isinstance(location, (str, os.PathLike)):
        return None
    location = canonical_store_location(os.fsdecode(location))
    for ds in DATASETS:
        if ds.zarr and location == f"{TESSERA_MIRROR_URL}/zarr/{ds.zarr}":
            return ds
        if ds.icechunk and location == ds.icechunk:
            return ds
    return None


def format_bytes(num_bytes: float) -> str:
    """``"1.5 GB"``-style size."""
    for unit in ["B", "KB", "MB", "GB"]:
        if num_bytes < 1024.0:
            return f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024.0
    return f"{num_bytes:.1f} TB"


PathLike = Union[str, "os.PathLike[str]"]


def _path(p: Optional[PathLike]) -> Optional[str]:
    return None if p is None else os.fspath(p)


class Registry:
    """A dataset's tile registry (manifest and landmasks), optionally scoped to a bbox.

    Arguments as the reference's ``geotessera.registry.Registry``; ``mirror`` (default
    ``$TESSERA_MIRROR``, else the published mirror) is where manifests and tiles come from.
    """

    def __init__(
        self,
        version: str,
        variant: Optional[str] = None,
        cache_dir: Optional[PathLike] = None,
        embeddings_dir: Optional[PathLike] = None,
        registry_url: Optional[str] = None,
        registry_path: Optional[PathLike] = None,
        registry_dir: Optional[PathLike] = None,
        landmasks_registry_url: Optional[str] = None,
        landmasks_registry_path: Optional[PathLike] = None,
        bbox: Optional[Tuple[float, float, float, float]] = None,
        bbox_margin_deg: float = 0.15,
        logger: Optional[logging.Logger] = None,
        *,
        mirror: Optional[str] = None,
    ):
        del landmasks_registry_url  # landmasks come from the mirror of the manifest
        self.logger = logger or logging.getLogger("geotessera_rs.registry")
        version_path, version_norm = _parse_dataset_version(version)
        if variant is None and (note := variant_note(version_norm, "npy")):
            self.logger.warning(note)
        self._open_args = dict(
            version=version,
            variant=variant,
            mirror=mirror,
            cache_dir=_path(cache_dir),
            registry_url=registry_url,
            registry_path=_path(registry_path),
            registry_dir=_path(registry_dir),
            landmasks_registry_path=_path(landmasks_registry_path),
            bbox=None if bbox is None else bbox4(bbox),
            bbox_margin_deg=float(bbox_margin_deg),
        )
        self._open()
        self._version_path, self._version_norm, self.variant, self._dataset_path = (
            self._native.dataset
        )
        self.version = self._version_path
        self.embeddings_subdir = _variant_subdir(self.variant)
        self.manifest_path: Optional[Path] = Path(self._native.manifest_path)
        self._embeddings_dir = Path(embeddings_dir) if embeddings_dir else Path.cwd()

    def _open(self) -> None:
        args = dict(self._open_args)
        self._handle = _native.NativeTiles(args.pop("version"), args.pop("variant"), **args)
        self._generation = FORK_GENERATION[0]

    @property
    def _native(self) -> _native.NativeTiles:
        if self._generation != FORK_GENERATION[0]:
            self._open()  # in a forked child: the parent's connections are not ours
        return self._handle

    def load_blocks_for_region(
        self, bounds: Tuple[float, float, float, float], year: int
    ) -> List[Tuple[int, float, float]]:
        """``(year, lon, lat)`` of the tiles whose 0.1-degree boxes meet ``bounds``, in
        manifest order (``ValueError`` outside a scoped bbox)."""
        return self._native.load_blocks_for_region(bbox4(bounds), int(year))

    def iter_tiles_in_region(
        self, bounds: Tuple[float, float, float, float], year: int
    ) -> Generator[Tuple[int, float, float], None, None]:
        """:meth:`load_blocks_for_region` as an iterator."""
        yield from self.load_blocks_for_region(bounds, year)

    def get_available_years(self) -> List[int]:
        """Years with tiles, ascending."""
        return list(self._native.years())

    def get_tile_counts_by_year(self) -> Dict[int, int]:
        """Tiles per year."""
        return dict(self._native.tile_counts_by_year())

    def get_available_embeddings(self) -> List[Tuple[int, float, float]]:
        """``(year, lon, lat)`` of every tile-year."""
        return list(self._native.available_embeddings())

    @property
    def available_embeddings(self) -> List[Tuple[int, float, float]]:
        """``(year, lon, lat)`` of every tile-year."""
        return self.get_available_embeddings()

    @property
    def available_landmasks(self) -> List[Tuple[float, float]]:
        """``(lon, lat)`` of every landmask."""
        return list(self._native.available_landmasks())

    def get_landmask_count(self) -> int:
        """How many landmasks the registry lists."""
        return self._native.landmask_count()

    def get_tile_file_size(self, year: int, lon: float, lat: float) -> int:
        """Size in bytes of a tile's embedding file."""
        return self._native.tile_file_size(int(year), float(lon), float(lat))

    def get_scales_file_size(self, year: int, lon: float, lat: float) -> int:
        """Size in bytes of a tile's scales file."""
        return self._native.scales_file_size(int(year), float(lon), float(lat))

    def get_landmask_file_size(self, lon: float, lat: float) -> int:
        """Size in bytes of a tile's landmask."""
        return self._native.landmask_file_size(float(lon), float(lat))

    def calculate_download_requirements(
        self,
        tiles: Iterable[Tuple[int, float, float]],
        output_dir: PathLike,
        format_type: str,
        check_existing: bool = True,
    ) -> Tuple[int, int, Dict[str, int]]:
        """``(bytes, files, {file: bytes})`` of fetching ``tiles`` as ``"npy"`` or
        ``"tiff"`` into ``output_dir``."""
        return self._native.calculate_download_requirements(
            [(int(y), float(x), float(z)) for y, x, z in tiles],
            os.fspath(output_dir),
            format_type,
            bool(check_existing),
        )

    def get_manifest_info(self) -> Tuple[None, None]:
        """``(None, None)``, as the reference returns."""
        return None, None

    def fetch(
        self,
        path: Optional[str] = None,
        progress_callback: Optional[ProgressCallback] = None,
        refresh: bool = False,
        year: Optional[int] = None,
        lon: Optional[float] = None,
        lat: Optional[float] = None,
        is_scales: bool = False,
    ) -> str:
        """Download a tile's embedding (or scales) into ``embeddings_dir``; its path."""
        if year is None or lon is None or lat is None:
            raise ValueError("fetch needs year, lon and lat")
        lon, lat = tile_from_world(lon, lat)
        self._ensure(year, lon, lat, refresh, progress_callback)
        emb, scales = tile_to_embedding_paths(lon, lat, year)
        rel = scales if is_scales else emb
        return str(self._embeddings_dir / EMBEDDINGS_DIR_NAME / rel)

    def fetch_landmask(
        self,
        filename: Optional[str] = None,
        progress_callback: Optional[ProgressCallback] = None,
        refresh: bool = False,
        lon: Optional[float] = None,
        lat: Optional[float] = None,
    ) -> str:
        """Download a tile's landmask into ``embeddings_dir``; its path."""
        if lon is None or lat is None:
            raise ValueError("fetch_landmask needs lon and lat")
        lon, lat = tile_from_world(lon, lat)
        years = [y for y, x, z in self.get_available_embeddings() if (x, z) == (lon, lat)]
        if not years:
            raise ValueError(f"Tile not found in registry: lon={lon:.2f}, lat={lat:.2f}")
        self._ensure(years[0], lon, lat, refresh, progress_callback)
        return str(self._embeddings_dir / LANDMASKS_DIR_NAME / tile_to_landmask_filename(lon, lat))

    def _ensure(self, year, lon, lat, refresh, progress_callback) -> None:
        done, failed = self._native.ensure_tiles(
            os.fspath(self._embeddings_dir),
            [(int(year), float(lon), float(lat))],
            bool(refresh),
            callback(progress_callback),
        )
        if failed:
            raise OSError(f"Failed to download tile ({lon:.2f}, {lat:.2f}): {failed[0]}")

    def validate_embeddings_dir(self) -> None:
        """Raise ``ValueError`` if ``embeddings_dir`` holds another dataset's tiles."""
        from .registry import check_dataset_dir

        check_dataset_dir(self._embeddings_dir, self._version_path, self.variant)
