"""visualization.create_pca_mosaic against the reference's `geotessera visualize` on the same
NPY tiles: the same fitted PCA, and in the tiles' own UTM CRS the same picture (at least
99% of pixels equal, none off by more than 1; the rest are float rounding at the uint8
truncation), the same mask, grid and tags.

In EPSG:3857 the grids and tags are the same but the pixels are not compared one by one:
the reference warps each tile onto its own grid (bilinear) and then copies that grid onto
the mosaic's with nearest, half a pixel away at most; we resample each output pixel once
from the tile. The PCA colours vary from pixel to pixel, so half a pixel changes many
values; the test checks the colours agree in distribution instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geotessera_rs
import numpy as np
import pytest
import rasterio
from conftest import BBOX, YEAR, tessera_bin
from geotessera_rs import visualization


@pytest.fixture(scope="module")
def tiles(server, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("viz") / "tiles"
    subprocess.run(
        [
            tessera_bin(),
            "--mirror",
            server.url,
            "-q",
            "download",
            "--bbox=" + ",".join(map(str, BBOX)),
            "--year",
            str(YEAR),
            "-f",
            "npy",
            "-o",
            str(d),
        ],
        check=True,
    )
    return d


def reference_visualize(reference, tiles: Path, out: Path, *args: str) -> None:
    geotessera_cli = Path(sys.executable).with_name("geotessera")
    subprocess.run(
        [str(geotessera_cli), "visualize", str(tiles), str(out), *args],
        check=True,
        capture_output=True,
    )


def test_the_fit_is_the_references(reference, tiles):
    from geotessera.projection import fit_projection
    from geotessera.tiles import discover_tiles

    scaler, pca, _ = fit_projection(discover_tiles(tiles), 3, True)
    ours = visualization.fit_pca(tiles, 3)
    assert ours["samples"] == 100_000
    np.testing.assert_allclose(ours["components"], pca.components_, atol=1e-4)
    np.testing.assert_allclose(
        ours["explained_variance_ratio"], pca.explained_variance_ratio_, rtol=1e-4
    )
    np.testing.assert_allclose(ours["scaler_mean"], scaler.mean_, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours["scaler_scale"], scaler.scale_, rtol=1e-5)


@pytest.mark.parametrize("balance", ["histogram", "percentile", "adaptive"])
def test_the_utm_picture_is_the_references(reference, tiles, tmp_path, balance):
    ref, ours = tmp_path / "ref.tif", tmp_path / "ours.tif"
    reference_visualize(reference, tiles, ref, "--crs", "EPSG:32631", "--balance", balance)
    got = visualization.create_pca_mosaic(
        tiles, ours, target_crs="EPSG:32631", balance_method=balance
    )
    assert got == str(ours)
    with rasterio.open(ref) as a, rasterio.open(ours) as b:
        assert a.shape == b.shape and a.count == b.count == 3
        assert a.transform.almost_equals(b.transform, precision=1e-9)
        assert a.crs == b.crs
        assert a.tags() == b.tags()
        assert b.colorinterp == a.colorinterp
        assert b.mask_flag_enums == a.mask_flag_enums
        assert np.array_equal(a.read_masks(1), b.read_masks(1))
        x, y = a.read().astype(int), b.read().astype(int)
    d = np.abs(x - y)
    assert d.max() <= 1, d.max()
    assert (d == 0).mean() >= 0.99, (d == 0).mean()


def test_the_web_mercator_picture_has_the_references_grid(reference, tiles, tmp_path):
    ref, ours = tmp_path / "ref.tif", tmp_path / "ours.tif"
    reference_visualize(reference, tiles, ref)
    visualization.create_pca_mosaic(tiles, ours)
    assert ours.with_suffix(".png").is_file()
    with rasterio.open(ref) as a, rasterio.open(ours) as b:
        assert a.shape == b.shape and a.crs == b.crs
        assert a.transform.almost_equals(b.transform, precision=1e-6)
        assert a.tags() == b.tags()
        ma, mb = a.read_masks(1) > 0, b.read_masks(1) > 0
        # Coverage differs only along the outline, where half a pixel decides.
        assert (ma == mb).mean() > 0.99
        both = ma & mb
        x, y = a.read()[:, both].astype(float), b.read()[:, both].astype(float)
    for c in range(3):
        # The same colour distribution (histogram equalised: close to uniform in both).
        qa, qb = np.percentile(x[c], [10, 50, 90]), np.percentile(y[c], [10, 50, 90])
        assert np.all(np.abs(qa - qb) <= 8), (qa, qb)


def test_bad_arguments_raise_the_references_exceptions(tiles, tmp_path):
    with pytest.raises(ValueError, match="Unknown balance method"):
        visualization.create_pca_mosaic(tiles, tmp_path / "o.tif", balance_method="vivid")
    with pytest.raises(ValueError, match="Percentiles must satisfy"):
        visualization.create_pca_mosaic(
            tiles, tmp_path / "o.tif", balance_method="percentile", percentile_range=(50, 10)
        )
    with pytest.raises(ValueError, match="Not enough valid pixels"):
        visualization.create_pca_mosaic(tiles, tmp_path / "o.tif", n_components=500)
    assert not (tmp_path / "o.tif").exists()
    assert geotessera_rs.visualization is visualization
