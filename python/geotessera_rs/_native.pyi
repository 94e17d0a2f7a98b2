# Type stubs of the native module, checked by `python -m mypy.stubtest geotessera_rs._native`.
from collections.abc import Callable
from os import PathLike
from typing import Any, Optional, final

import numpy as np
import numpy.typing as npt

__version__: str
__all__ = [
    "NativeGeoTiffTile",
    "NativeModel",
    "NativeNpyTile",
    "NativeStore",
    "NativeStrips",
    "NativeTiles",
    "__version__",
    "_reset_after_fork",
    "build_web_tiles",
    "coverage_map",
    "dataset_from_path",
    "dataset_path",
    "datasets",
    "dequantize",
    "learn_cluster",
    "learn_fit",
    "learn_labels",
    "learn_predict",
    "learn_similar",
    "merge_geotiffs",
    "parse_version",
    "pca_fit",
    "raster_georeference",
    "region_outline",
    "run_cli",
    "store_location",
    "tile_candidates_for",
    "tile_file_opens",
    "tile_from_world",
    "tile_info",
    "viewer_page",
    "visualize",
    "web_ready",
]

_Callback = Optional[Callable[[int, int, str], Any]]
_BBox = tuple[float, float, float, float]
_Transform = list[float]
_Path = str | PathLike[str]

def _reset_after_fork() -> None: ...
def run_cli(argv: list[str]) -> int: ...
def tile_from_world(lon: float, lat: float) -> tuple[float, float]: ...
def tile_info(lon: float, lat: float) -> tuple[str, list[float]]: ...
def datasets() -> list[
    tuple[str, str, str, Optional[str], Optional[str], Optional[str], Optional[str]]
]: ...
def store_location(version: str, variant: Optional[str] = None) -> tuple[str, str]: ...
def parse_version(spec: str) -> tuple[str, str]: ...
def dataset_path(version_norm: str, variant: str) -> str: ...
def dataset_from_path(dirname: str) -> Optional[tuple[str, str]]: ...
def dequantize(
    quantized: npt.NDArray[np.int8], scales: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]: ...

@final
class NativeStore:
    def __new__(
        cls,
        store_url: Optional[str] = None,
        *,
        mirror: Optional[str] = None,
        cache_dir: Optional[_Path] = None,
        via_gateway: bool = False,
        version: str = "v1.1",
        variant: Optional[str] = None,
    ) -> NativeStore: ...
    @property
    def url(self) -> str: ...
    @property
    def dataset(self) -> Optional[tuple[str, str]]: ...
    @property
    def n_bands(self) -> int: ...
    @property
    def depths(self) -> list[tuple[int, str]]: ...
    @property
    def years(self) -> list[int]: ...
    @property
    def zones(self) -> list[int]: ...
    @property
    def build_version(self) -> str: ...
    @property
    def model_version(self) -> str: ...
    @property
    def model(self) -> str: ...
    def zone_info(self) -> list[tuple[int, str, tuple[int, int], _Transform]]: ...
    def zone_attrs(self, zone: int) -> Optional[str]: ...
    def read_window(
        self,
        zone: int,
        row: int,
        col: int,
        height: int,
        width: int,
        year: int,
        depth: Optional[int] = None,
    ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]: ...
    def probe(
        self, lon: float, lat: float, year: int, cross_zone: bool = True, search_px: int = 1
    ) -> tuple[Optional[npt.NDArray[np.float32]], str]: ...
    def sample_points(
        self,
        coords: npt.NDArray[np.float64],
        year: int,
        cross_zone: bool = True,
        search_px: int = 1,
        depth: Optional[int] = None,
        callback: _Callback = None,
    ) -> tuple[npt.NDArray[np.float32], list[str]]: ...
    def read_region(
        self, bbox_: _BBox, year: int, depth: Optional[int] = None, callback: _Callback = None
    ) -> tuple[npt.NDArray[np.float32], _Transform, str]: ...
    def read_region_quantized(
        self, bbox_: _BBox, year: int, depth: Optional[int] = None
    ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32], _Transform, str]: ...
    def read_patch(
        self,
        lon: float,
        lat: float,
        year: int,
        size_px: int,
        depth: Optional[int] = None,
        dst_crs: Optional[str] = None,
    ) -> tuple[npt.NDArray[np.float32], _Transform, str]: ...
    def strips(
        self, bbox_: _BBox, year: int, depth: Optional[int] = None, strip_rows: int = 512
    ) -> NativeStrips: ...
    def export_geotiffs(
        self,
        bbox_: _BBox,
        year: int,
        output_dir: _Path,
        bands: Optional[list[int]] = None,
        depth: Optional[int] = None,
        compress: str = "lzw",
        dry_run: bool = False,
        callback: _Callback = None,
    ) -> Any: ...

@final
class NativeStrips:
    def __iter__(self) -> NativeStrips: ...
    def __next__(self) -> tuple[npt.NDArray[np.float32], _Transform, str]: ...
    @property
    def total(self) -> int: ...
    def close(self) -> None: ...

@final
class NativeTiles:
    def __new__(
        cls,
        version: str = "v1.1",
        variant: Optional[str] = None,
        *,
        mirror: Optional[str] = None,
        cache_dir: Optional[_Path] = None,
        registry_url: Optional[str] = None,
        registry_path: Optional[_Path] = None,
        registry_dir: Optional[_Path] = None,
        landmasks_registry_path: Optional[_Path] = None,
        bbox: Optional[_BBox] = None,
        bbox_margin_deg: float = 0.15,
        offline: bool = False,
    ) -> NativeTiles: ...
    @property
    def dataset(self) -> tuple[str, str, str, str]: ...
    @property
    def manifest_path(self) -> str: ...
    def load_blocks_for_region(
        self, bounds: _BBox, year: int
    ) -> list[tuple[int, float, float]]: ...
    def embeddings_count(self, bounds: _BBox, year: int) -> int: ...
    def years(self) -> list[int]: ...
    def tile_counts_by_year(self) -> list[tuple[int, int]]: ...
    def available_embeddings(self) -> list[tuple[int, float, float]]: ...
    def available_landmasks(self) -> list[tuple[float, float]]: ...
    def landmask_count(self) -> int: ...
    def tile_file_size(self, year: int, lon: float, lat: float) -> int: ...
    def scales_file_size(self, year: int, lon: float, lat: float) -> int: ...
    def landmask_file_size(self, lon: float, lat: float) -> int: ...
    def calculate_download_requirements(
        self,
        tiles: list[tuple[int, float, float]],
        output_dir: _Path,
        format_type: str,
        check_existing: bool,
    ) -> tuple[int, int, dict[str, int]]: ...
    def fetch_embedding(
        self,
        dir: _Path,
        lon: float,
        lat: float,
        year: int,
        refresh: bool = False,
        callback: _Callback = None,
    ) -> tuple[npt.NDArray[np.float32], int, _Transform]: ...
    def mosaic(
        self,
        dir: _Path,
        bbox: tuple[float, float, float, float],
        year: int,
        target_crs: str,
        resampling: str,
        resolution: tuple[float, float] | None = None,
        auto_download: bool = True,
        memory_mb: int = 1024,
        callback: _Callback = None,
    ) -> tuple[npt.NDArray[np.float32], _Transform, str]: ...
    def tiles_present(self, dir: _Path, tiles: list[tuple[int, float, float]]) -> list[bool]: ...
    def ensure_tiles(
        self,
        dir: _Path,
        tiles: list[tuple[int, float, float]],
        refresh: bool = False,
        callback: _Callback = None,
    ) -> tuple[list[tuple[int, float, float]], list[str]]: ...
    def export_geotiffs(
        self,
        tiles_dir: _Path,
        output_dir: _Path,
        tiles: list[tuple[int, float, float]],
        bands: Optional[list[int]] = None,
        compress: str = "lzw",
        skip_existing: bool = False,
        callback: _Callback = None,
    ) -> tuple[list[str], list[str]]: ...
    def sample_points(
        self,
        lon: npt.NDArray[np.float64],
        lat: npt.NDArray[np.float64],
        year: int,
        tiles_dir: Optional[_Path] = None,
        offline: bool = False,
        callback: _Callback = None,
        with_meta: bool = True,
    ) -> tuple[
        npt.NDArray[np.float32],
        list[
            tuple[
                Optional[float], Optional[float], Optional[int], Optional[int], Optional[int], str
            ]
        ],
    ]: ...

# Tiles in a local directory (geotessera_rs.tiles).
def raster_georeference(path: _Path) -> tuple[int, _Transform, int, int]: ...
def tile_candidates_for(dir: _Path, lon: float, lat: float, year: int) -> list[tuple[str, str]]: ...
def tile_file_opens(reset: bool = False) -> int: ...

@final
class NativeNpyTile:
    def __new__(
        cls,
        embedding: _Path,
        scales: _Path,
        lon: float,
        lat: float,
        year: int,
        epsg: int,
        transform: tuple[float, float, float, float, float, float] | list[float],
        width: int,
        height: int,
    ) -> NativeNpyTile: ...
    @property
    def shape(self) -> tuple[int, int, int]: ...
    def rows(self, top: int, n: int) -> npt.NDArray[np.float32]: ...
    def sample(self, coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]: ...

@final
class NativeGeoTiffTile:
    def __new__(cls, path: _Path) -> NativeGeoTiffTile: ...
    @property
    def georeference(self) -> tuple[int, _Transform, int, int]: ...
    @property
    def bands(self) -> int: ...
    def tagged_identity(self) -> Optional[tuple[float, float, int]]: ...
    def rows(self, top: int, n: int, masked: bool = False) -> npt.NDArray[np.float32]: ...
    def sample(self, coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]: ...

def visualize(
    input: _Path,
    output: _Path,
    target_crs: str = "EPSG:3857",
    n_components: int = 3,
    balance: str = "histogram",
    percentile_low: float = 2.0,
    percentile_high: float = 98.0,
    memory_mb: int = 512,
    quicklook: bool = True,
    callback: Optional[Any] = None,
) -> str: ...
def pca_fit(input: _Path, n_components: int = 3) -> dict[str, Any]: ...
def web_ready(input: _Path, output: _Path) -> str: ...
def build_web_tiles(
    input: _Path,
    out_dir: _Path,
    min_zoom: int = 8,
    max_zoom: int = 15,
    force: bool = False,
    callback: Optional[Any] = None,
) -> tuple[int, bool]: ...
def region_outline(path: _Path) -> str: ...
def viewer_page(
    tiles_dir: _Path,
    output_html: _Path,
    center_lon: float,
    center_lat: float,
    zoom: int,
    title: str,
    region_geojson: Optional[str] = None,
) -> str: ...
def merge_geotiffs(
    paths: list[_Path],
    output: _Path,
    target_crs: str = "EPSG:3857",
    compress: str = "lzw",
    memory_mb: int = 512,
    callback: Optional[Any] = None,
) -> str: ...
def coverage_map(
    output: _Path,
    year: Optional[int] = None,
    width: int = 2000,
    show_countries: bool = True,
    tile_color: str = "red",
    tile_alpha: float = 0.6,
    tile_size: float = 1.0,
    multi_year_colors: bool = True,
    region_bbox: Optional[tuple[float, float, float, float]] = None,
    region_file: Optional[_Path] = None,
    version: Optional[str] = None,
    variant: Optional[str] = None,
    registry_dir: Optional[_Path] = None,
    mirror: Optional[str] = None,
    cache_dir: Optional[_Path] = None,
    callback: Optional[Any] = None,
) -> str: ...

@final
class NativeModel:
    @staticmethod
    def load(path: _Path) -> NativeModel: ...
    def save(self, path: _Path) -> None: ...
    def predict(self, x: Any) -> tuple[Optional[Any], Any]: ...
    @property
    def classes(self) -> list[tuple[int, str, tuple[int, int, int]]]: ...
    @property
    def metadata(self) -> str: ...
    @property
    def dims(self) -> int: ...

def learn_fit(
    x: Any,
    head: str = "rf",
    labels: Optional[list[str]] = None,
    values: Optional[list[float]] = None,
    groups: Optional[list[int]] = None,
    cv: str = "auto",
    folds: int = 5,
    dataset_version: Optional[str] = None,
    hyper: Optional[dict[str, Any]] = None,
) -> tuple[NativeModel, str]: ...
def learn_predict(
    model: _Path,
    bbox: tuple[float, float, float, float],
    year: int,
    output: _Path,
    mirror: Optional[str] = None,
    tiles_dir: Optional[_Path] = None,
    store: Optional[str] = None,
    offline: bool = False,
    crs: Optional[str] = None,
    proba: bool = False,
    confidence: bool = False,
    reject_below: Optional[float] = None,
    png: bool = False,
    dataset_version: str = "v1.1",
    callback: _Callback = None,
) -> str: ...
def learn_similar(
    positives: list[tuple[float, float]],
    bbox: tuple[float, float, float, float],
    year: int,
    output: _Path,
    negatives: Optional[list[tuple[float, float]]] = None,
    positive_file: Optional[_Path] = None,
    negative_file: Optional[_Path] = None,
    examples_crs: Optional[str] = None,
    method: str = "mean-cosine",
    threshold: Optional[float] = None,
    top: int = 0,
    min_group_pixels: int = 100,
    mirror: Optional[str] = None,
    tiles_dir: Optional[_Path] = None,
    store: Optional[str] = None,
    offline: bool = False,
    crs: Optional[str] = None,
    png: bool = False,
    dataset_version: str = "v1.1",
    callback: _Callback = None,
) -> str: ...
def learn_cluster(
    bbox: tuple[float, float, float, float],
    year: int,
    output: _Path,
    k: int = 8,
    sample: int = 100000,
    seed: int = 42,
    mirror: Optional[str] = None,
    tiles_dir: Optional[_Path] = None,
    store: Optional[str] = None,
    offline: bool = False,
    crs: Optional[str] = None,
    png: bool = False,
    dataset_version: str = "v1.1",
    callback: _Callback = None,
) -> str: ...
def learn_labels(
    labels: _Path,
    year: int,
    output: _Path,
    class_field: Optional[str] = None,
    value_field: Optional[str] = None,
    balance: str = "sqrt",
    max_samples: int = 200000,
    min_per_class: int = 50,
    points_per_polygon: Optional[int] = None,
    all_touched: bool = False,
    crs: Optional[str] = None,
    seed: int = 42,
    mirror: Optional[str] = None,
    tiles_dir: Optional[_Path] = None,
    store: Optional[str] = None,
    offline: bool = False,
    dataset_version: str = "v1.1",
    callback: _Callback = None,
) -> str: ...
