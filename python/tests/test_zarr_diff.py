"""GeoTesseraZarr against the reference on the same served store: equal arrays (NaN-aware,
bit for bit), transforms, CRS strings, statuses, exports and error classes."""

from __future__ import annotations

import geotessera_rs
import numpy as np
import pytest
from affine import Affine
from conftest import YEAR

BBOX = (0.15, 51.42, 0.22, 51.47)


@pytest.fixture(scope="module", params=["http", "local"])
def stores(request, reference, store_url, mirror_dir, tmp_path_factory):
    """Ours over HTTP range reads from the server and from the directory; the reference
    from the directory (its HTTP store refuses plain http:// URLs)."""
    from geotessera.store import GeoTesseraZarr as RefZarr

    local = str(mirror_dir / "zarr" / "v1.1")
    url = store_url if request.param == "http" else local
    ours = geotessera_rs.GeoTesseraZarr(url, cache_dir=tmp_path_factory.mktemp("zc"))
    return ours, RefZarr(local)


def test_store_facts(stores):
    a, b = stores
    assert (a.n_bands, a.depths, a.years, a.build_version, a.model_version) == (
        b.n_bands,
        b.depths,
        b.years,
        b.build_version,
        b.model_version,
    )
    assert a.dataset == b.dataset
    assert repr(a).startswith("GeoTesseraZarr(")


def points(n=300, seed=5):
    rng = np.random.default_rng(seed)
    pts = list(zip(rng.uniform(0.08, 0.32, n), rng.uniform(51.38, 51.52, n), strict=True))
    # Outside the store, far away, and non-finite.
    return pts + [(0.2, 51.45), (12.0, 51.45), (-70.0, -30.0), (float("nan"), 51.4)]


def test_sample_points(stores):
    a, b = stores
    pts = points()
    x, y = a.sample_points(pts, YEAR), b.sample_points(pts, YEAR)
    assert x.dtype == np.float32 and x.shape == y.shape == (len(pts), 128)
    assert np.array_equal(x, y, equal_nan=True)
    assert np.isnan(x[-1]).all() and np.isfinite(x[0]).all()
    arr = np.array(pts[:50])
    assert np.array_equal(a.sample_points(arr, YEAR), y[:50], equal_nan=True)
    assert a.sample_points([], YEAR).shape == (0, 128)


def test_probe_and_sample_at(stores):
    a, b = stores
    for lon, lat in points(40, seed=9):
        va, sa = a.probe(lon, lat, YEAR)
        vb, sb = b.probe(lon, lat, YEAR)
        assert sa == sb, (lon, lat)
        assert (va is None and vb is None) or np.array_equal(va, vb, equal_nan=True)
        assert np.array_equal(
            a.sample_at(lon, lat, YEAR), b.sample_at(lon, lat, YEAR), equal_nan=True
        )


def test_read_region(stores):
    a, b = stores
    m1, t1, c1 = a.read_region(BBOX, YEAR)
    m2, t2, c2 = b.read_region(BBOX, YEAR)
    assert isinstance(t1, Affine) and t1 == t2 and c1 == c2 == "EPSG:32631"
    assert m1.shape == m2.shape and m1.dtype == np.float32
    assert np.array_equal(m1, m2, equal_nan=True)
    assert not m1.flags["OWNDATA"] and m1.flags["C_CONTIGUOUS"]


def test_read_region_quantized(stores):
    a, b = stores
    e1, s1, t1, c1 = a.read_region_quantized(BBOX, YEAR)
    e2, s2, t2, c2 = b.read_region_quantized(BBOX, YEAR)
    assert e1.dtype == np.int8 and s1.dtype == np.float32
    assert np.array_equal(e1, e2) and np.array_equal(s1, s2, equal_nan=True)
    assert t1 == t2 and c1 == c2


def test_iter_region(stores):
    a, b = stores
    s1 = list(a.iter_region(BBOX, YEAR, strip_rows=97))
    s2 = list(b.iter_region(BBOX, YEAR, strip_rows=97))
    assert len(s1) == len(s2) > 1
    for (x, tx, cx), (y, ty, cy) in zip(s1, s2, strict=True):
        assert np.array_equal(x, y, equal_nan=True) and tx == ty and cx == cy
    with pytest.raises(ValueError):
        a.iter_region(BBOX, YEAR, strip_rows=0)


def test_read_patch(stores):
    a, b = stores
    for lon, lat, size in [(0.2, 51.45, 64), (0.2, 51.45, 33), (0.12, 51.42, 200)]:
        p1, t1, c1 = a.read_patch(lon, lat, YEAR, size)
        p2, t2, c2 = b.read_patch(lon, lat, YEAR, size)
        assert p1.shape == (size, size, 128)
        assert np.array_equal(p1, p2, equal_nan=True) and t1 == t2 and c1 == c2
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError):
            b.read_patch(0.2, 51.45, YEAR, bad)
        with pytest.raises(ValueError):
            a.read_patch(0.2, 51.45, YEAR, bad)


def test_export_geotiffs(stores, tmp_path):
    rasterio = pytest.importorskip("rasterio")
    a, b = stores
    dry_a = a.export_geotiffs(BBOX, YEAR, tmp_path / "a", dry_run=True)
    dry_b = b.export_geotiffs(BBOX, YEAR, tmp_path / "b", dry_run=True)
    assert dry_a == dry_b
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
    fa = a.export_geotiffs(BBOX, YEAR, tmp_path / "a", bands=[0, 5, 127])
    fb = b.export_geotiffs(BBOX, YEAR, tmp_path / "b", bands=[0, 5, 127])
    assert [p.rsplit("/", 1)[-1] for p in fa] == [p.rsplit("/", 1)[-1] for p in fb]
    with rasterio.open(fa[0]) as f, rasterio.open(fb[0]) as g:
        assert np.array_equal(f.read(), g.read(), equal_nan=True)
        assert f.crs == g.crs and f.transform == g.transform and f.dtypes == g.dtypes
        assert f.descriptions == g.descriptions


@pytest.mark.parametrize(
    "call",
    [
        lambda z: z.read_region(BBOX, 1999),
        lambda z: z.sample_points([(0.2, 51.45)], 1999),
        lambda z: z.read_region(BBOX, YEAR, depth=7),
        lambda z: z.sample_points([(0.2, 51.45)], YEAR, depth=7),
        lambda z: z.read_region((3.1, 10.0, 3.2, 10.1), YEAR),
        lambda z: z.export_geotiffs(BBOX, YEAR, "/nonexistent-dir", bands=[500]),
    ],
    ids=["year", "points-year", "depth", "points-depth", "outside-zone", "bad-band"],
)
def test_same_exception_classes(stores, call):
    a, b = stores
    with pytest.raises(Exception) as ref_err:
        call(b)
    with pytest.raises(Exception) as our_err:
        call(a)
    builtin = next(c for c in type(ref_err.value).__mro__ if c.__module__ == "builtins")
    assert isinstance(our_err.value, builtin), (our_err.value, ref_err.value)


def test_bad_store_is_valueerror(tmp_path):
    with pytest.raises(ValueError, match="Failed to open zarr store"):
        geotessera_rs.GeoTesseraZarr(tmp_path / "no-store-here")


def test_open_zone(stores):
    pytest.importorskip("xarray")
    a, b = stores
    da, db = a.open_zone(zone=31), b.open_zone(zone=31)
    assert da.embeddings.dims == db.embeddings.dims and da.embeddings.shape == db.embeddings.shape
    assert da.embeddings.dtype == np.int8 and da.scales.dtype == np.float32
    for name in ("time", "band", "x", "y"):
        assert np.array_equal(da[name].values, db[name].values), name
    for key in ("proj:code", "spatial:transform", "spatial:shape", "spatial:bbox"):
        assert da.attrs[key] == db.attrs[key], key
    # A window inside the written area, with a step and a single band.
    sel = dict(time=0, y=slice(200, 260, 3), x=slice(100, 150))
    assert np.array_equal(da.embeddings.isel(**sel).values, db.embeddings.isel(**sel).values)
    assert np.array_equal(
        da.scales.isel(**sel).values, db.scales.isel(**sel).values, equal_nan=True
    )
    one = dict(time=0, band=7, y=300, x=slice(10, 20))
    assert np.array_equal(da.embeddings.isel(**one).values, db.embeddings.isel(**one).values)
    assert a.open_zone(lon=1.0).attrs["proj:code"] == "EPSG:32631"
    with pytest.raises(TypeError):
        a.open_zone()
    with pytest.raises(TypeError):
        a.open_zone(zone=31, lon=1.0)
    with pytest.raises(KeyError):
        a.open_zone(zone=5)


def test_read_patch_across_zones(stores):
    # 0.12 E is 8 km from the zone 30/31 edge: a 2,000-pixel patch reaches into zone 30
    # (not in the store), so both merge onto a transverse Mercator grid centred on the point.
    a, b = stores
    p1, t1, c1 = a.read_patch(0.12, 51.45, YEAR, 2000)
    p2, t2, c2 = b.read_patch(0.12, 51.45, YEAR, 2000)
    assert p1.shape == p2.shape == (2000, 2000, 128)
    assert t1.almost_equals(t2, precision=1e-6)
    import pyproj

    assert pyproj.CRS.from_user_input(c1) == pyproj.CRS.from_user_input(c2)
    same = np.isnan(p1) == np.isnan(p2)
    assert same.mean() > 0.999, same.mean()
    both = ~np.isnan(p1) & ~np.isnan(p2)
    assert (p1[both] == p2[both]).mean() > 0.999


@pytest.mark.parametrize("dst", ["EPSG:32631", "EPSG:3857", "EPSG:32630", "pyproj-tm"])
def test_read_patch_onto_dst_crs(stores, dst):
    # dst_crs forces the merge path, even within one zone: whole pixels relocated onto
    # 10 m pixels of the named grid, the point on the centre pixel; crs returned as given.
    pyproj = pytest.importorskip("pyproj")
    a, b = stores
    if dst == "pyproj-tm":
        dst = pyproj.CRS.from_proj4(
            "+proj=tmerc +lat_0=0 +lon_0=0.2 +k=0.9996 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m"
        )
    p1, t1, c1 = a.read_patch(0.2, 51.45, YEAR, 300, dst_crs=dst)
    p2, t2, c2 = b.read_patch(0.2, 51.45, YEAR, 300, dst_crs=dst)
    assert c1 is dst and c2 is dst
    assert p1.shape == p2.shape == (300, 300, 128)
    assert t1.almost_equals(t2, precision=1e-6)
    same = np.isnan(p1) == np.isnan(p2)
    assert same.mean() > 0.999, same.mean()
    both = ~np.isnan(p1) & ~np.isnan(p2)
    # We relocate by the exact projection; GDAL's warper interpolates it along each row
    # (its approximate transformer, 0.125 px), so a pixel centre within that distance of a
    # source pixel edge may take the neighbour: about 0.6% of pixels onto Web Mercator.
    agree = 0.99 if str(dst) == "EPSG:3857" else 0.999
    assert both.any() and (p1[both] == p2[both]).mean() > agree


def test_read_patch_dst_crs_mistakes(stores):
    a, b = stores
    for bad in ("EPSG:4326", "+proj=longlat +datum=WGS84"):
        with pytest.raises(ValueError):
            b.read_patch(0.2, 51.45, YEAR, 16, dst_crs=bad)
        with pytest.raises(ValueError, match="projected CRS with metre units"):
            a.read_patch(0.2, 51.45, YEAR, 16, dst_crs=bad)
    with pytest.raises(ValueError, match="EPSG:3857"):
        a.read_patch(0.2, 51.45, YEAR, 16, dst_crs="+proj=lcc +lat_1=40 +lat_2=50")
    with pytest.raises(ValueError, match="nearest"):
        a.read_patch(0.2, 51.45, YEAR, 16, dst_crs="EPSG:32631", resampling="bilinear")


def test_open_zone_carries_the_zone_attributes(stores):
    # Every attribute of the reference's Dataset (the zone group's: proj:code, spatial:*,
    # geoemb:*, geotessera:*) is on ours with the same value.
    import json

    pytest.importorskip("xarray")
    a, b = stores
    da, db = a.open_zone(zone=31), b.open_zone(zone=31)
    assert db.attrs, "the reference's Dataset has attributes"
    norm = lambda v: json.loads(json.dumps(v, default=list))  # noqa: E731
    for k, v in db.attrs.items():
        assert k in da.attrs, k
        assert norm(da.attrs[k]) == norm(v), k
