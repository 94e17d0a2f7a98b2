"""The ``.tessera`` accessor against the reference's on the same synthetic store: ours over
a Dataset of ``GeoTesseraZarr.open_zone`` and the reference's over its own ``open_zone``
give equal arrays (NaN-aware, bit for bit), transforms, statuses and error classes; and the
accessor registers without displacing the reference's."""

from __future__ import annotations

import geotessera_rs
import numpy as np
import pytest
from affine import Affine
from conftest import YEAR, run_python
from geotessera_rs.accessor import TesseraAccessor

ZONE = 31
# Inside the two synthetic tiles (UTM 31N), with water and unwritten pixels around.
REGION = (301000.5, 5700100.0, 305000.0, 5704000.0)
# Edges exactly on pixel centres (x = 298285 + 10 k, y = 5709415 - 10 k).
ON_CENTRES = (301005.0, 5700105.0, 302005.0, 5701005.0)


@pytest.fixture(scope="module")
def ref_acc(reference, mirror_dir):
    """The reference's accessor over its own Dataset, read from the directory (its HTTP
    store refuses plain http:// URLs)."""
    import geotessera.store as ref_store

    return ref_store.TesseraAccessor(
        ref_store.open_zone(str(mirror_dir / "zarr" / "v1.1"), zone=ZONE)
    )


@pytest.fixture(scope="module", params=["http", "local"])
def accessors(request, ref_acc, store_url, mirror_dir, tmp_path_factory):
    """(ours over our Dataset, read over HTTP or from the directory; the reference's over
    its Dataset; ours over the reference's Dataset)."""
    local = str(mirror_dir / "zarr" / "v1.1")
    url = store_url if request.param == "http" else local
    ours = geotessera_rs.GeoTesseraZarr(url, cache_dir=tmp_path_factory.mktemp("za"))
    return TesseraAccessor(ours.open_zone(zone=ZONE)), ref_acc, TesseraAccessor(ref_acc._ds)


@pytest.fixture(scope="module")
def points(ref_acc):
    """UTM points: random ones over the tiles and past them, pixel-edge ties, water and
    unwritten pixels next to valid ones, the grid's edges and beyond, non-finite."""
    ref = ref_acc
    ds = ref._ds
    xs, ys = ds["x"].values, ds["y"].values
    rng = np.random.default_rng(7)
    pts = list(
        zip(
            rng.uniform(298000.0, 313000.0, 60),
            rng.uniform(5698500.0, 5709800.0, 60),
            strict=True,
        )
    )
    # Ties between pixels in x, y and both.
    pts += [(xs[300] + 5.0, ys[900]), (xs[300], ys[900] - 5.0), (xs[301] + 5.0, ys[901] + 5.0)]
    pts += [(np.nextafter(xs[300] + 5.0, np.inf), ys[900])]
    scales = ds["scales"].isel(time=0, x=slice(0, 1400), y=slice(0, 1100)).values
    finite = np.isfinite(scales)
    for mask, k in ((np.isnan(scales), 6), (np.isinf(scales) & _near(finite), 6)):
        rows, cols = np.nonzero(mask)
        pick = rng.choice(len(rows), size=min(k, len(rows)), replace=False)
        pts += [(xs[cols[i]], ys[rows[i]]) for i in pick]
    # Grid edges: within one pixel of the outermost centres, and just beyond.
    px = ref.pixel_size
    pts += [(xs[0] - px, ys[0]), (xs[-1] + px, ys[-1]), (xs[0] - px - 0.01, ys[0])]
    pts += [(xs[0], ys[0] + px + 0.01), (xs[-1], ys[-1] - px)]
    pts += [(np.nan, ys[5]), (xs[5], np.inf), (-np.inf, np.nan), (1e9, 1e9)]
    return [(float(e), float(n)) for e, n in pts]


def _near(finite: np.ndarray) -> np.ndarray:
    """Pixels with a finite 8-neighbour (so the one-pixel repair can find one)."""
    p = np.pad(finite, 1)
    out = np.zeros_like(finite)
    for di in (0, 1, 2):
        for dj in (0, 1, 2):
            out |= p[di : di + finite.shape[0], dj : dj + finite.shape[1]]
    return out


def test_properties(accessors):
    ours, ref, cross = accessors
    for acc in (ours, cross):
        assert (acc.crs, acc.pixel_size, acc.years, acc.n_bands) == (
            ref.crs,
            ref.pixel_size,
            ref.years,
            ref.n_bands,
        )
        assert isinstance(acc.crs, str) and acc.crs == "EPSG:32631"


def test_probe_and_sample_at(accessors, points):
    ours, ref, cross = accessors
    seen = set()
    for p in points:
        for search_px in (0, 1, 2):
            vb, sb = ref.probe(*p, YEAR, search_px=search_px)
            seen.add(sb)
            for acc in (ours, cross):
                va, sa = acc.probe(*p, YEAR, search_px=search_px)
                assert sa == sb, (p, search_px)
                assert (va is None) == (vb is None)
                if va is not None:
                    assert va.dtype == vb.dtype and np.array_equal(va, vb, equal_nan=True)
        a, b = ours.sample_at(*p, YEAR), ref.sample_at(*p, YEAR)
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b, equal_nan=True)
    assert seen == {"valid", "water", "nodata", "outside"}


@pytest.fixture(scope="module")
def ref_samples(ref_acc, points):
    return ref_acc.sample_points(points, YEAR)


def test_sample_points(accessors, points, ref_samples):
    ours, ref, _ = accessors
    b = ref_samples
    a = ours.sample_points(points, YEAR, progress=False)
    assert a.dtype == np.float32 and a.shape == b.shape == (len(points), 128)
    assert np.array_equal(a, b, equal_nan=True)
    assert np.isfinite(b).all(axis=1).any() and np.isnan(b).all(axis=1).any()
    assert ours.sample_points([], YEAR).shape == ref.sample_points([], YEAR).shape == (0, 128)
    assert np.array_equal(ours.sample_points(iter(points[-8:]), YEAR), b[-8:], equal_nan=True)


def test_sample_points_over_the_reference_dataset(ref_acc, points, ref_samples):
    a = TesseraAccessor(ref_acc._ds).sample_points(points, YEAR)
    assert np.array_equal(a, ref_samples, equal_nan=True)


@pytest.mark.parametrize("bbox", [REGION, ON_CENTRES, ON_CENTRES[2:] + ON_CENTRES[:2]])
def test_read_region(accessors, bbox):
    ours, ref, cross = accessors
    m2, t2 = ref.read_region(bbox, YEAR)
    q2, s2, u2 = ref.read_region_quantized(bbox, YEAR)
    for acc in (ours, cross):
        m1, t1 = acc.read_region(bbox, YEAR)
        assert isinstance(t1, Affine) and t1 == t2
        assert m1.dtype == m2.dtype == np.float32 and m1.shape == m2.shape
        assert np.array_equal(m1, m2, equal_nan=True)
        q1, s1, u1 = acc.read_region_quantized(bbox, YEAR)
        assert u1 == u2 and q1.dtype == np.int8 and s1.dtype == np.float32
        assert np.array_equal(q1, q2) and np.array_equal(s1, s2, equal_nan=True)
    if bbox == REGION:
        assert np.isnan(m2).any() and np.isfinite(m2).any()


@pytest.mark.parametrize("strip_rows", [128, 5000])
def test_iter_region(accessors, strip_rows):
    ours, ref, cross = accessors
    b = list(ref.iter_region(REGION, YEAR, strip_rows=strip_rows))
    for acc in (ours, cross):
        a = list(acc.iter_region(REGION, YEAR, strip_rows=strip_rows))
        assert len(a) == len(b)
        for (x, tx), (y, ty) in zip(a, b, strict=True):
            assert tx == ty and x.shape == y.shape and np.array_equal(x, y, equal_nan=True)


def _error(call):
    try:
        out = call()
        if hasattr(out, "__next__"):
            next(out)
    except Exception as e:  # noqa: BLE001
        return type(e)
    return None


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.read_region(REGION, 1999),
        lambda a: a.read_region((1e8, 1e8, 1e8 + 100, 1e8 + 100), YEAR),
        lambda a: a.read_region((np.nan, 0.0, 1.0, 1.0), YEAR),
        lambda a: a.read_region((0.0, 1.0, 2.0), YEAR),
        lambda a: a.read_region_quantized(REGION, 1999),
        lambda a: a.iter_region(REGION, YEAR, strip_rows=0),
        lambda a: a.iter_region(REGION, 1999),
        lambda a: a.probe(301000.0, 5700100.0, 1999),
        lambda a: a.sample_points([(301000.0, 5700100.0)], 1999),
        lambda a: a.read_region(REGION, YEAR, array="nope"),
    ],
)
def test_errors(accessors, call):
    ours, ref, cross = accessors
    expected = _error(lambda: call(ref))
    assert expected is not None
    assert _error(lambda: call(ours)) is expected
    assert _error(lambda: call(cross)) is expected


def test_dequantise_matches(reference):
    from geotessera.store import TesseraAccessor as Ref

    rng = np.random.default_rng(3)
    emb = rng.integers(-128, 128, (4, 5, 6), dtype=np.int8)
    scales = rng.uniform(0.01, 1, (5, 6)).astype(np.float32)
    scales[0, 0], scales[1, 2], scales[4, 5] = np.nan, np.inf, -np.inf
    a, b = TesseraAccessor.dequantise(emb, scales), Ref.dequantise(emb, scales)
    assert a.shape == (5, 6, 4) and a.dtype == b.dtype
    assert np.array_equal(a, b, equal_nan=True)


def test_registration(mirror_dir):
    local = str(mirror_dir / "zarr" / "v1.1")
    # Without xarray, the package and the accessor module still import.
    r = run_python(
        "import sys; sys.modules['xarray'] = None\n"
        "import geotessera_rs, geotessera_rs.accessor as a, geotessera_rs.xarray\n"
        "assert a.register() is False\n"
    )
    assert r.returncode == 0, r.stderr
    # Importing geotessera_rs.xarray registers ours; open_zone's Dataset uses it.
    r = run_python(
        "import warnings; warnings.simplefilter('error')\n"
        "import xarray as xr, geotessera_rs\n"
        "from geotessera_rs.accessor import TesseraAccessor\n"
        "assert not hasattr(xr.Dataset, 'tessera')\n"
        f"ds = geotessera_rs.GeoTesseraZarr({local!r}).open_zone(zone={ZONE})\n"
        "assert xr.Dataset.tessera is TesseraAccessor\n"
        "assert type(ds.tessera) is TesseraAccessor and ds.tessera.crs == 'EPSG:32631'\n"
        "import geotessera_rs.xarray\n"
    )
    assert r.returncode == 0, r.stderr
    # The real geotessera's accessor, registered first, is left in place (no warning).
    r = run_python(
        "import warnings; warnings.simplefilter('error')\n"
        "import xarray as xr, geotessera.store as s\n"
        "import geotessera_rs.xarray, geotessera_rs.accessor as a\n"
        "assert a.register() is True and xr.Dataset.tessera is s.TesseraAccessor\n"
    )
    assert r.returncode == 0, r.stderr


def test_untouched_datasets_read_straight_from_the_store(accessors, points):
    # A Dataset fresh from our open_zone is read through the store (points, windows,
    # probes: one read per inner chunk, not whole dask chunks); a changed one goes
    # through xarray. The values are the reference's either way (the tests above).
    import geotessera_rs.xarray as gx

    ours, ref, _ = accessors
    ds = ours._ds
    assert gx.native_source(ds) is not None
    assert gx.native_source(ds.isel(x=slice(1, None))) is None
    assert gx.native_source(ds.chunk({"x": 2048, "y": 2048})) is None
    assert gx.native_source(ds.assign(scales=ds["scales"] * 1)) is None

    class Counting:
        def __init__(self, inner):
            self.inner, self.windows = inner, []

        def read_window(self, zone, row, col, h, w, year):
            self.windows.append((h, w))
            return self.inner.read_window(zone, row, col, h, w, year)

    names = [ds[v].data.name for v in ("embeddings", "scales")]
    saved = {k: gx._SOURCES[k] for k in names}
    counter = Counting(saved[names[0]][0])
    try:
        for k in names:
            gx._SOURCES[k] = (counter,) + saved[k][1:]
        got = ours.sample_points(points, YEAR)
        assert counter.windows and all(h <= 32 and w <= 32 for h, w in counter.windows)
        assert np.array_equal(got, ref.sample_points(points, YEAR), equal_nan=True)
        n = len(counter.windows)
        r1, t1 = ours.read_region(ON_CENTRES, YEAR)
        assert len(counter.windows) == n + 1
        r2, t2 = ref.read_region(ON_CENTRES, YEAR)
        assert t1 == t2 and np.array_equal(r1, r2, equal_nan=True)
    finally:
        gx._SOURCES.update(saved)
