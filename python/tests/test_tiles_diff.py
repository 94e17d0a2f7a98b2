"""GeoTessera and its Registry against the reference on the same served mirror: tile
lists, counts, sizes, fetched arrays with CRS and transform, point samples with metadata,
GeoTIFF exports, downloads, and the exception classes of the same mistakes."""

from __future__ import annotations

import logging
import os

import geotessera_rs
import numpy as np
import pytest
from affine import Affine
from conftest import BBOX, YEAR

TILES = [(YEAR, 0.15, 51.45), (YEAR, 0.25, 51.45)]


@pytest.fixture(scope="module")
def pair(reference, server, tmp_path_factory):
    """Ours and the reference, each with its own tiles and cache directory."""
    t = tmp_path_factory.mktemp("tiles")
    ours = geotessera_rs.GeoTessera(
        dataset_version="v1.1",
        embeddings_dir=t / "ours",
        cache_dir=t / "ours-cache",
        mirror=server.url,
    )
    ref = reference.GeoTessera(
        dataset_version="v1.1", embeddings_dir=t / "ref", cache_dir=t / "ref-cache"
    )
    return ours, ref


def test_dataset_identity(pair):
    a, b = pair
    assert (a.dataset_version, a.dataset_variant) == (b.dataset_version, b.dataset_variant)
    assert (a.registry.version, a.registry.variant) == (b.registry.version, b.registry.variant)
    assert a.embeddings_subdir == b.embeddings_subdir
    assert a.embeddings_dir.name == "ours"


def test_variant_warning_is_logged(server, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        geotessera_rs.GeoTessera(embeddings_dir=tmp_path, cache_dir=tmp_path, mirror=server.url)
    assert any("published only for variant 'cambridge'" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "bounds",
    [BBOX, (0.0, 51.0, 1.0, 52.0), (0.16, 51.42, 0.18, 51.44), (0.2, 51.45, 0.2, 51.45)],
)
def test_load_blocks_for_region(pair, bounds):
    a, b = pair
    assert a.registry.load_blocks_for_region(bounds, YEAR) == b.registry.load_blocks_for_region(
        bounds, YEAR
    )
    assert a.embeddings_count(bounds, YEAR) == b.embeddings_count(bounds, YEAR)
    assert list(a.registry.iter_tiles_in_region(bounds, YEAR)) == list(
        b.registry.iter_tiles_in_region(bounds, YEAR)
    )


def test_registry_listings_and_sizes(pair, tmp_path):
    a, b = pair
    ra, rb = a.registry, b.registry
    assert ra.get_available_years() == rb.get_available_years()
    assert ra.get_tile_counts_by_year() == rb.get_tile_counts_by_year()
    assert sorted(ra.get_available_embeddings()) == sorted(rb.get_available_embeddings())
    assert ra.available_embeddings == ra.get_available_embeddings()
    assert sorted(ra.available_landmasks) == sorted(rb.available_landmasks)
    assert ra.get_landmask_count() == rb.get_landmask_count()
    for _, lon, lat in TILES:
        assert ra.get_tile_file_size(YEAR, lon, lat) == rb.get_tile_file_size(YEAR, lon, lat)
        assert ra.get_scales_file_size(YEAR, lon, lat) == rb.get_scales_file_size(YEAR, lon, lat)
        assert ra.get_landmask_file_size(lon, lat) == rb.get_landmask_file_size(lon, lat)
    for fmt in ("npy", "tiff"):
        assert ra.calculate_download_requirements(
            TILES, tmp_path, fmt
        ) == rb.calculate_download_requirements(TILES, tmp_path, fmt)
    assert ra.get_manifest_info() == rb.get_manifest_info()
    for r in (ra, rb):
        with pytest.raises(ValueError):
            r.get_tile_file_size(YEAR, 100.05, 10.05)


def test_fetch_embedding(pair):
    a, b = pair
    e1, c1, t1 = a.fetch_embedding(0.17, 51.43, YEAR)  # snapped to the tile centre
    e2, c2, t2 = b.fetch_embedding(0.17, 51.43, YEAR)
    assert e1.dtype == np.float32 and e1.shape == e2.shape and e1.shape[2] == 128
    assert np.array_equal(e1, e2, equal_nan=True)
    assert c1 == c2 and c2 == c1 and str(c1) == str(c2) == "EPSG:32631"
    assert isinstance(t1, Affine) and t1 == t2
    assert not e1.flags["OWNDATA"]
    # The reference's layout: both packages can use each other's tiles.
    rel = "global_0.1_degree_representation/2024/grid_0.15_51.45/grid_0.15_51.45.npy"
    assert (a.embeddings_dir / rel).is_file() and (b.embeddings_dir / rel).is_file()
    assert (a.embeddings_dir / "tessera_metadata.json").is_file()


def test_fetch_embeddings_generator_and_progress(pair):
    a, b = pair
    calls = []
    got = list(a.fetch_embeddings(TILES, progress_callback=lambda *c: calls.append(c)))
    ref = list(b.fetch_embeddings(TILES))
    assert [g[:3] for g in got] == [r[:3] for r in ref]
    for g, r in zip(got, ref, strict=True):
        assert np.array_equal(g[3], r[3], equal_nan=True) and g[4] == r[4] and g[5] == r[5]
    assert calls and all(len(c) == 3 and isinstance(c[2], str) for c in calls)
    assert calls[-1][:2] == (100, 100)
    with pytest.raises(RuntimeError, match="Failed to fetch tile"):
        list(a.fetch_embeddings([(YEAR, 100.05, 10.05)]))
    with pytest.raises(RuntimeError, match="Failed to fetch tile"):
        list(b.fetch_embeddings([(YEAR, 100.05, 10.05)]))


def points():
    rng = np.random.default_rng(11)
    pts = list(zip(rng.uniform(0.1, 0.3, 150), rng.uniform(51.4, 51.5, 150), strict=True))
    return pts + [(0.35, 51.45), (-3.0, 40.0)]  # tiles without coverage


def test_sample_embeddings_at_points(pair):
    a, b = pair
    pts = points()
    x1, m1 = a.sample_embeddings_at_points(pts, YEAR, include_metadata=True)
    x2, m2 = b.sample_embeddings_at_points(pts, YEAR, include_metadata=True)
    assert x1.dtype == np.float32 and x1.shape == x2.shape == (len(pts), 128)
    assert np.array_equal(x1, x2, equal_nan=True)
    assert m1 == m2
    assert m1[-1] is None and m1[0]["crs"] == "EPSG:32631"
    assert np.array_equal(a.sample_embeddings_at_points(pts, YEAR), x1, equal_nan=True)


def test_sample_points_as_geojson_and_geodataframe(pair):
    a, b = pair
    pts = points()[:20]
    fc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": p}}
            for p in pts
        ],
    }
    assert np.array_equal(
        a.sample_embeddings_at_points(fc, YEAR),
        b.sample_embeddings_at_points(fc, YEAR),
        equal_nan=True,
    )
    gpd = pytest.importorskip("geopandas")
    from shapely.geometry import Point

    gdf = gpd.GeoDataFrame(geometry=[Point(p) for p in pts], crs="EPSG:4326").to_crs(3857)
    assert np.array_equal(
        a.sample_embeddings_at_points(gdf, YEAR),
        b.sample_embeddings_at_points(gdf, YEAR),
        equal_nan=True,
    )


def test_offline_sampling_of_missing_tiles_is_filenotfound(reference, server, tmp_path):
    a = geotessera_rs.GeoTessera(
        embeddings_dir=tmp_path / "a", cache_dir=tmp_path, mirror=server.url
    )
    b = reference.GeoTessera(embeddings_dir=tmp_path / "b", cache_dir=tmp_path / "rc")
    for gt in (a, b):
        with pytest.raises(FileNotFoundError):
            gt.sample_embeddings_at_points([(0.15, 51.45)], YEAR, auto_download=False)


def test_export_embedding_geotiffs(pair, tmp_path):
    rasterio = pytest.importorskip("rasterio")
    a, b = pair
    fa = a.export_embedding_geotiffs(TILES, tmp_path / "a", bands=[0, 1, 2])
    fb = b.export_embedding_geotiffs(TILES, tmp_path / "b", bands=[0, 1, 2])
    assert [os.path.relpath(p, tmp_path / "a") for p in fa] == [
        os.path.relpath(p, tmp_path / "b") for p in fb
    ]
    for p, q in zip(fa, fb, strict=True):
        with rasterio.open(p) as f, rasterio.open(q) as g:
            assert np.array_equal(f.read(), g.read(), equal_nan=True)
            assert f.crs == g.crs and f.transform == g.transform and f.dtypes == g.dtypes
            assert (
                f.descriptions == g.descriptions
                and f.nodata == g.nodata
                or (np.isnan(f.nodata) and np.isnan(g.nodata))
            )
            ours = {k: v for k, v in f.tags().items() if k != "TESSERA_SOFTWARE"}
            assert ours == g.tags()
    one = a.export_embedding_geotiff(0.15, 51.45, tmp_path / "one.tif", YEAR, bands=[3])
    with rasterio.open(one) as f:
        assert f.count == 1 and f.crs.to_epsg() == 32631


def test_download_tile_and_presence(pair, reference, server, tmp_path):
    a = geotessera_rs.GeoTessera(
        embeddings_dir=tmp_path / "a", cache_dir=tmp_path, mirror=server.url
    )
    b = reference.GeoTessera(embeddings_dir=tmp_path / "b", cache_dir=tmp_path / "rc")
    pts = [(0.15, 51.45), (0.26, 51.46)]
    assert a.check_tiles_present(pts, YEAR) == b.check_tiles_present(pts, YEAR)
    assert a.download_tile(0.15, 51.45, YEAR) is True
    assert b.download_tile(0.15, 51.45, YEAR) is True
    assert a.check_tiles_present(pts, YEAR) == b.check_tiles_present(pts, YEAR)
    assert a.download_tiles_for_points(pts, YEAR) == b.download_tiles_for_points(pts, YEAR)
    assert a.download_tile(100.05, 10.05, YEAR) is False


def test_bbox_scoped_dataset(reference, server, tmp_path):
    a = geotessera_rs.GeoTessera(
        embeddings_dir=tmp_path,
        cache_dir=tmp_path,
        mirror=server.url,
        bbox=(0.2, 51.42, 0.22, 51.44),
    )
    assert a.registry.get_available_embeddings() == [(YEAR, 0.25, 51.45)] or sorted(
        a.registry.get_available_embeddings()
    ) == sorted(TILES)
    with pytest.raises(ValueError, match="outside the registry bbox"):
        a.registry.load_blocks_for_region((0.0, 51.0, 1.0, 52.0), YEAR)


BAD_CALLS = {
    "nan-lon": lambda gt: gt.fetch_embedding(float("nan"), 51.45, YEAR),
    "lon-range": lambda gt: gt.fetch_embedding(200.0, 51.45, YEAR),
    "bad-points": lambda gt: gt.sample_embeddings_at_points("nonsense", YEAR),
    "bad-errors-policy": lambda gt: gt.sample_embeddings_at_points([(0.1, 51.4)], errors="x"),
    "bad-point-range": lambda gt: gt.sample_embeddings_at_points([(0.1, 95.0)], YEAR),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_same_exception_classes(pair, name):
    a, b = pair
    call = BAD_CALLS[name]
    with pytest.raises(Exception) as ref_err:
        call(b)
    with pytest.raises(Exception) as our_err:
        call(a)
    builtin = next(c for c in type(ref_err.value).__mro__ if c.__module__ == "builtins")
    assert isinstance(our_err.value, builtin), (our_err.value, ref_err.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dataset_version": "v1.1", "dataset_variant": "dclimate"},
        {"bbox": (1.0, 51.0, 0.0, 52.0)},
        {"bbox": (0.1, 51.4, 0.2, 51.5), "bbox_margin_deg": -1},
        {"bbox": (50.0, 10.0, 50.1, 10.1)},
    ],
    ids=["variant-without-npy", "bbox-swapped", "negative-margin", "bbox-without-tiles"],
)
def test_constructor_mistakes_are_valueerror(reference, server, tmp_path, kwargs):
    with pytest.raises(ValueError):
        reference.GeoTessera(embeddings_dir=tmp_path, cache_dir=tmp_path / "r", **kwargs)
    with pytest.raises(ValueError):
        geotessera_rs.GeoTessera(
            embeddings_dir=tmp_path, cache_dir=tmp_path, mirror=server.url, **kwargs
        )


def test_tile_not_in_registry_is_valueerror(pair):
    # The reference downloads without looking and fails with HTTP 404 (an OSError); we
    # look the tile up first and say so, with the ValueError its Registry raises for the
    # same tile (get_tile_file_size).
    a, _ = pair
    with pytest.raises(ValueError, match="Tile not found in registry"):
        a.fetch_embedding(100.05, 10.05, YEAR)


def unwritable(tmp_path) -> str:
    if os.geteuid() == 0:
        return "/sys/geotessera-rs-test"  # sysfs refuses mkdir even to root (EPERM)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    return str(ro / "tiles")


def test_unwritable_embeddings_dir(server, tmp_path):
    gt = geotessera_rs.GeoTessera(
        embeddings_dir=unwritable(tmp_path), cache_dir=tmp_path, mirror=server.url
    )
    calls = [
        lambda: gt.fetch_embedding(0.15, 51.45, YEAR),
        lambda: gt.download_tile(0.15, 51.45, YEAR),
        lambda: gt.sample_embeddings_at_points([(0.15, 51.45)], YEAR),
        lambda: gt.export_embedding_geotiffs([(YEAR, 0.15, 51.45)], tmp_path / "out"),
    ]
    for call in calls:
        with pytest.raises(geotessera_rs.errors.UnwritableDestination) as e:
            call()
        assert isinstance(e.value, OSError) and "writable" in str(e.value)
