"""fetch_mosaic_for_region against the reference on the same served mirror: the same grid
(shape, transform, CRS), the same coverage, and values that differ only as the reference's
second resampling explains; offline and empty-region mistakes raise its exception classes.

The reference warps each tile with bilinear onto the tile's own suggested grid (a warped
VRT) and then copies that grid onto the mosaic's with nearest (rasterio.merge), half a
pixel away at most; we resample each mosaic pixel once from the tile, as gdalwarp does onto
the mosaic's grid (checked bit for bit against gdalwarp in crates/tessera-cli/tests/
e2e_mosaic.rs)."""

from __future__ import annotations

import geotessera_rs
import numpy as np
import pytest
from affine import Affine
from conftest import YEAR

BOX = (0.14, 51.44, 0.16, 51.46)  # one tile (0.15, 51.45), with its neighbours' margins


@pytest.fixture(scope="module")
def pair(reference, server, tmp_path_factory):
    t = tmp_path_factory.mktemp("mosaic")
    ours = geotessera_rs.GeoTessera(
        dataset_version="v1.1", embeddings_dir=t / "ours", cache_dir=t / "oc", mirror=server.url
    )
    ref = reference.GeoTessera(dataset_version="v1.1", embeddings_dir=t / "ref", cache_dir=t / "rc")
    return ours, ref


def test_the_mosaic_is_the_references_grid_and_values(pair):
    ours, ref = pair
    a, ta, ca = ours.fetch_mosaic_for_region(BOX, YEAR)
    b, tb, cb = ref.fetch_mosaic_for_region(BOX, YEAR)
    assert a.dtype == np.float32 and a.shape == b.shape
    assert isinstance(ta, Affine) and ta.almost_equals(tb, precision=1e-12)
    assert ca == cb == "EPSG:4326"
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    diff = np.abs(a[ok] - b[ok])
    scale = np.median(np.abs(b[ok]))
    # Half a pixel of shift: small against the values, and the two agree band by band.
    assert np.median(diff) < 0.15 * scale, (np.median(diff), scale)
    corr = np.corrcoef(a[ok].ravel(), b[ok].ravel())[0, 1]
    assert corr > 0.95, corr
    # Our nearest mode takes every value from the tile unchanged.
    n, _, _ = ours.fetch_mosaic_for_region(BOX, YEAR, resampling="nearest", auto_download=False)
    emb, _, _ = ours.fetch_embedding(0.15, 51.45, YEAR)
    vals = set(np.unique(emb[..., 0][~np.isnan(emb[..., 0])]).tolist())
    assert set(np.unique(n[..., 0][~np.isnan(n[..., 0])]).tolist()) <= vals


def test_other_crs_and_resolution(pair):
    ours, ref = pair
    a, ta, ca = ours.fetch_mosaic_for_region(BOX, YEAR, target_crs="EPSG:32631")
    assert ca == "EPSG:32631" and ta.a == 10.0 and ta.e == -10.0
    b, tb, cb = ours.fetch_mosaic_for_region(
        BOX, YEAR, target_crs=3857, resolution=20.0, resampling="nearest"
    )
    assert cb == "EPSG:3857" and (tb.a, tb.e) == (20.0, -20.0)
    assert not np.isnan(b).all()


def test_mistakes_raise_the_references_classes(pair, server, tmp_path):
    for gt in pair:
        with pytest.raises(ValueError):
            gt.fetch_mosaic_for_region((10.0, 10.0, 10.1, 10.1), YEAR)
    offline = geotessera_rs.GeoTessera(
        dataset_version="v1.1",
        embeddings_dir=tmp_path / "none",
        cache_dir=tmp_path / "c",
        mirror=server.url,
    )
    with pytest.raises(FileNotFoundError):
        offline.fetch_mosaic_for_region(BOX, YEAR, auto_download=False)
    ours = pair[0]
    with pytest.raises(ValueError):
        ours.fetch_mosaic_for_region(BOX, YEAR, target_crs="EPSG:9999")
    with pytest.raises(ValueError):
        ours.fetch_mosaic_for_region(BOX, YEAR, resampling="cubic")
