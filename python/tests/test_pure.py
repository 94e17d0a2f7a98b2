"""The pure layer against the reference: tile grid, dataset table, URLs, dequantisation,
exception classes, the CRS object."""

from __future__ import annotations

import math
import pickle

import geotessera_rs
import numpy as np
import pytest
from geotessera_rs import CRS, errors, registry


@pytest.fixture(scope="module")
def R(reference):
    return reference.registry


def test_tile_from_world_matches_reference(R):
    rng = np.random.default_rng(7)
    pts = list(zip(rng.uniform(-180, 180, 2000), rng.uniform(-90, 90, 2000), strict=True))
    # Cell edges, where float rounding decides.
    pts += [(x / 10, y / 10) for x in range(-30, 30) for y in (-1, 0, 1, 5)]
    pts += [(-180, -90), (180, 90), (0.05, 0.05), (-0.0, -0.0), (0.15, 52.05)]
    for lon, lat in pts:
        assert registry.tile_from_world(lon, lat) == R.tile_from_world(lon, lat), (lon, lat)


@pytest.mark.parametrize(
    "lon,lat", [(181, 0), (0, -91), (math.nan, 0), (0, math.inf), (-math.inf, 0)]
)
def test_tile_from_world_bad_input_is_valueerror(R, lon, lat):
    with pytest.raises(ValueError):
        R.tile_from_world(lon, lat)
    with pytest.raises(ValueError):
        registry.tile_from_world(lon, lat)


def test_grid_helpers_match_reference(R):
    for lon, lat in [(0.15, 52.05), (-50.55, -20.65), (179.95, -89.95), (-0.05, 0.05)]:
        for name in (
            "tile_to_grid_name",
            "tile_to_bounds",
            "tile_to_landmask_filename",
            "block_from_world",
        ):
            assert getattr(registry, name)(lon, lat) == getattr(R, name)(lon, lat), name
        assert registry.tile_to_embedding_paths(lon, lat, 2024) == R.tile_to_embedding_paths(
            lon, lat, 2024
        )
        assert registry.tile_to_geotiff_path(lon, lat, 2024) == R.tile_to_geotiff_path(
            lon, lat, 2024
        )
        assert registry.coord_to_grid_int(lon) == R.coord_to_grid_int(lon)
    for name in ("grid_0.15_52.05", "grid_-50.55_-20.65.npy", "nonsense", "grid_1_2"):
        assert registry.parse_grid_name(name) == R.parse_grid_name(name)
    for b in [(0, 0), (-5, 50), (175, -90)]:
        assert registry.block_to_landmasks_registry_filename(
            *b
        ) == R.block_to_landmasks_registry_filename(*b)
        assert registry.block_to_embeddings_registry_filename(
            "2024", *b
        ) == R.block_to_embeddings_registry_filename("2024", *b)


def test_dataset_table_and_rules_match_reference(R):
    assert [tuple(vars(d).values()) for d in registry.DATASETS] == [
        tuple(vars(d).values()) for d in R.DATASETS
    ]
    assert [d.name for d in registry.DATASETS] == [d.name for d in R.DATASETS]
    assert [d.formats() for d in registry.DATASETS] == [d.formats() for d in R.DATASETS]
    for v in ("1.0", "1.1", "2.0", "3.0"):
        for fmt in (None, "npy", "zarr", "icechunk", "stream"):
            assert registry.default_variant(v, fmt) == R.default_variant(v, fmt)
            if fmt:
                assert registry.variant_note(v, fmt) == R.variant_note(v, fmt)
        assert registry.known_variants(v) == R.known_variants(v)
    for fmt in ("npy", "zarr", "icechunk"):
        assert registry.published_datasets(fmt) == R.published_datasets(fmt)
    for pair in [("1.0", "vultr"), ("1.1", "cambridge"), ("2.0", "2B-L~beta1"), ("3.0", "x")]:
        assert registry.dataset_path(*pair) == R.dataset_path(*pair)
    with pytest.raises(ValueError):
        R.dataset_path("1.1", "dclimate")
    with pytest.raises(ValueError):
        registry.dataset_path("1.1", "dclimate")
    for d in ("v1", "v1.1-cam", "v2-2B-L~beta1", "v3", "v3-x", "nope", "v", "v1."):
        assert registry.dataset_from_path(d) == R.dataset_from_path(d), d
    for v in ("v1", "v1.1", "1.1", "v2"):
        assert registry.icechunk_dataset(v) == R.icechunk_dataset(v)
        assert registry.dataset_tags(v, "x") == R.dataset_tags(v, "x")
    for n in (0, 1023, 1024, 5e6, 3e9, 7e12):
        assert registry.format_bytes(n) == R.format_bytes(n)


def test_url_builders_match_reference(R):
    # The reference's module constants are pointed at the test server; compare the
    # published ones through the URL rules instead.
    assert registry.TESSERA_MIRROR_S3_HTTP_URL == R.TESSERA_MIRROR_S3_HTTP_URL
    assert registry.EMBEDDINGS_DIR_NAME == R.EMBEDDINGS_DIR_NAME
    assert registry.LANDMASKS_DIR_NAME == R.LANDMASKS_DIR_NAME
    assert registry.manifest_url("v1").endswith("/npy/v1/manifest.parquet")
    assert registry.landmasks_parquet_url("v1").endswith("/landmasks/v1/landmasks.parquet")


def test_metadata_sidecar_round_trip(R, tmp_path):
    registry.write_tessera_metadata(tmp_path / "a", "v1.1", "cambridge", {"format": "npy"})
    R.write_tessera_metadata(tmp_path / "b", "v1.1", "cambridge", {"format": "npy"})
    assert registry.recorded_dataset(tmp_path / "a") == R.recorded_dataset(tmp_path / "b")
    assert registry.recorded_dataset(tmp_path / "b") == ("1.1", "cambridge")
    registry.check_dataset_dir(tmp_path / "a", "v1.1", "cambridge")
    for mod in (registry, R):
        with pytest.raises(ValueError, match="cannot be interchanged"):
            mod.check_dataset_dir(tmp_path / "a", "v1", "vultr")


def test_dequantize_is_bit_identical(reference):
    rng = np.random.default_rng(3)
    q = rng.integers(-128, 128, (37, 41, 128), dtype=np.int8)
    s = rng.random((37, 41), dtype=np.float32) * 0.02
    s[0, 0], s[1, 1], s[2, 2] = np.nan, np.inf, -np.inf
    for scales in (s, np.repeat(s[..., None], 128, axis=2)):
        a = geotessera_rs.dequantize_embedding(q, scales)
        b = reference.dequantize_embedding(q, scales)
        assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
        assert np.array_equal(a, b, equal_nan=True)
        assert (
            a.view(np.uint32)[~np.isnan(a)].tobytes() == b.view(np.uint32)[~np.isnan(b)].tobytes()
        )
    # Non-contiguous and other dtypes take the same path as the reference.
    a = geotessera_rs.dequantize_embedding(q[:, ::2], s[:, ::2])
    assert np.array_equal(a, reference.dequantize_embedding(q[:, ::2], s[:, ::2]), equal_nan=True)
    q16 = q.astype(np.int16)
    assert np.array_equal(
        geotessera_rs.dequantize_embedding(q16, s),
        reference.dequantize_embedding(q16, s),
        equal_nan=True,
    )
    out = geotessera_rs.dequantize_embedding(q, s)
    assert not out.flags["OWNDATA"]  # the Rust buffer, adopted by NumPy


def test_exception_classes_keep_the_reference_bases(R):
    assert issubclass(errors.UsageError, ValueError)
    assert issubclass(errors.HTTPStatusError, OSError)
    assert issubclass(errors.UnwritableDestination, OSError)
    assert issubclass(errors.TileNotFoundError, FileNotFoundError)
    assert issubclass(errors.NetworkError, ConnectionError)
    assert issubclass(errors.FormatError, RuntimeError)
    assert issubclass(errors.RegionOutsideError, IndexError)
    e = errors.HTTPStatusError("http://x/y", 404, "Not Found")
    r = R.HTTPStatusError("http://x/y", 404, "Not Found")
    assert (str(e), e.url, e.status) == (str(r), r.url, r.status)
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.url, e2.status) == ("http://x/y", 404)
    assert registry.UnwritableDestination is errors.UnwritableDestination


def test_crs_object():
    c = CRS.from_epsg(32631)
    assert str(c) == "EPSG:32631" and c.to_epsg() == 32631 and c.is_projected
    assert c == "EPSG:32631" and c == 32631 and c != CRS("EPSG:32630")
    assert hash(c) == hash(CRS("epsg:32631"))
    assert pickle.loads(pickle.dumps(c)) == c
    assert 'AUTHORITY["EPSG","32631"]' in c.to_wkt()
    assert CRS(4326).is_geographic and not CRS(4326).is_projected
    with pytest.raises(ValueError):
        CRS("EPSG:2154")


def test_crs_is_accepted_by_rasterio_and_pyproj(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    pyproj = pytest.importorskip("pyproj")
    from affine import Affine

    for code in (4326, 3857, 32631, 32730):
        c = CRS.from_epsg(code)
        assert rasterio.crs.CRS.from_user_input(c).to_epsg() == code
        assert pyproj.CRS.from_user_input(c).to_epsg() == code
        assert pyproj.CRS.from_wkt(c.to_wkt()).to_epsg() == code
        assert c == rasterio.crs.CRS.from_epsg(code) and rasterio.crs.CRS.from_epsg(code) == c
        assert c.to_rasterio() == rasterio.crs.CRS.from_epsg(code)
    path = tmp_path / "t.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=2,
        height=2,
        count=1,
        dtype="float32",
        crs=CRS.from_epsg(32630),
        transform=Affine(10, 0, 500000, 0, -10, 5800000),
    ) as f:
        f.write(np.zeros((1, 2, 2), np.float32))
    with rasterio.open(path) as f:
        assert f.crs.to_epsg() == 32630


def test_install_as_geotessera_in_a_fresh_interpreter():
    from conftest import run_python

    r = run_python(
        "import geotessera_rs; geotessera_rs.install_as_geotessera()\n"
        "import geotessera, geotessera.registry as R\n"
        "from geotessera import GeoTessera, GeoTesseraZarr, dequantize_embedding\n"
        "from geotessera.store import GeoTesseraZarr as Z\n"
        "assert geotessera.__name__ == 'geotessera_rs', geotessera.__name__\n"
        "assert R.tile_from_world(0.17, 52.23) == (0.15, 52.25)\n"
        "assert Z is GeoTesseraZarr\n"
        "print('ok')\n"
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    r = run_python(
        "import geotessera, geotessera_rs\n"
        "try:\n    geotessera_rs.install_as_geotessera()\n"
        "except RuntimeError as e:\n    print('refused')\n"
    )
    assert r.stdout.strip() == "refused", r.stderr
