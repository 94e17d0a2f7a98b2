"""Web maps, merges and coverage from Python against the reference and GDAL:
``GeoTessera.merge_geotiffs_to_mosaic`` gives the reference's grid, tags and values (pixel
for pixel on the tiles' own grid), ``web.geotiff_to_web_tiles`` writes gdal2tiles' tile
names, ``web.create_simple_web_viewer`` makes a page that a real Chromium opens with no
console error and no request off 127.0.0.1, ``web.prepare_mosaic_for_web`` reprojects to
EPSG:3857, and ``visualization.visualize_global_coverage`` draws the coverage PNG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geotessera_rs
import numpy as np
import pytest
import rasterio
from conftest import ROOT, YEAR
from geotessera_rs import visualization, web
from test_coverage_globe import BROWSER_PY, have_browser

TILES = [(YEAR, 0.15, 51.45), (YEAR, 0.25, 51.45)]


@pytest.fixture(scope="module")
def exported(reference, server, tmp_path_factory):
    t = tmp_path_factory.mktemp("web")
    ours = geotessera_rs.GeoTessera(
        dataset_version="v1.1", embeddings_dir=t / "tiles", cache_dir=t / "oc", mirror=server.url
    )
    ref = reference.GeoTessera(dataset_version="v1.1", embeddings_dir=t / "rt", cache_dir=t / "rc")
    # Four bands keep the merges quick (a full tile is 500 MB of float32).
    files = ours.export_embedding_geotiffs(TILES, t / "exp", bands=[0, 1, 2, 3], compress="none")
    assert len(files) == 2
    return ours, ref, files, t


def read(p):
    with rasterio.open(p) as s:
        return s.read(), s.transform, s.crs.to_string(), s.tags(), s.descriptions


def test_merge_equals_the_reference_on_the_tiles_grid_and_in_web_mercator(exported):
    ours, ref, files, t = exported
    for crs in ["EPSG:32631", "EPSG:3857"]:
        a_path = ours.merge_geotiffs_to_mosaic(files, t / f"ours_{crs[5:]}.tif", target_crs=crs)
        b_path = ref.merge_geotiffs_to_mosaic(files, str(t / f"ref_{crs[5:]}.tif"), target_crs=crs)
        a, ta, ca, tags_a, desc_a = read(a_path)
        b, tb, cb, tags_b, desc_b = read(b_path)
        assert a.shape == b.shape, crs
        assert ta.almost_equals(tb, precision=1e-6), (crs, ta, tb)
        assert ca == cb == crs
        for k in ["TESSERA_TARGET_CRS", "TESSERA_TILE_COUNT", "TESSERA_YEAR"]:
            assert tags_a.get(k) == tags_b.get(k), (crs, k, tags_a, tags_b)
        assert desc_a == desc_b
        both = ~np.isnan(a) & ~np.isnan(b)
        assert both.mean() > 0.5
        if crs == "EPSG:32631":
            # Both tiles are on this grid: copied pixel for pixel, first file first.
            assert np.array_equal(np.isnan(a), np.isnan(b))
            assert np.array_equal(a[both], b[both])
        else:
            # The reference warps each file onto its own grid, then copies that onto the
            # mosaic's (half a pixel at most); we warp once.
            assert (np.isnan(a) != np.isnan(b)).mean() < 0.01
            corr = np.corrcoef(a[both].ravel(), b[both].ravel())[0, 1]
            assert corr > 0.95, corr
    with pytest.raises(ValueError):
        ours.merge_geotiffs_to_mosaic([], t / "none.tif")
    with pytest.raises(FileNotFoundError):
        ours.merge_geotiffs_to_mosaic([t / "missing.tif"], t / "none.tif")


def tile_names(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*.png")
        if p.relative_to(root).parts[0].isdigit()
    }


@pytest.fixture(scope="module")
def picture(exported):
    ours, _, files, t = exported
    return Path(visualization.create_pca_mosaic(t / "exp", t / "pca.tif"))


def test_web_tiles_have_gdal2tiles_names_and_unchanged_reruns_reuse_them(picture, tmp_path):
    out = tmp_path / "tiles"
    assert web.geotiff_to_web_tiles(picture, out, zoom_levels=(11, 13)) == os.fspath(out)
    g2t = tmp_path / "g2t"
    subprocess.run(
        [
            "gdal2tiles.py",
            "-q",
            "-z",
            "11-13",
            "-p",
            "mercator",
            "-r",
            "bilinear",
            "-w",
            "none",
            str(picture),
            str(g2t),
        ],
        check=True,
    )
    ours = tile_names(out)
    assert len(ours) > 3
    assert ours == tile_names(g2t)
    stamp = (out / "13").stat().st_mtime_ns
    web.geotiff_to_web_tiles(picture, out, zoom_levels=(11, 13))
    assert (out / "13").stat().st_mtime_ns == stamp, "an unchanged rerun reuses the tiles"
    with pytest.raises(ValueError):
        web.geotiff_to_web_tiles(picture, out, zoom_levels=(14, 12))


def test_prepare_mosaic_for_web_reprojects_only_what_is_not_web_mercator(
    exported, picture, tmp_path
):
    _, _, _, t = exported
    assert web.prepare_mosaic_for_web(picture, tmp_path / "w.tif") == os.fspath(picture)
    utm = Path(
        visualization.create_pca_mosaic(t / "exp", tmp_path / "utm.tif", target_crs="EPSG:32631")
    )
    seen = []
    out = web.prepare_mosaic_for_web(
        utm, tmp_path / "w.tif", progress_callback=lambda *a: seen.append(a)
    )
    assert out == os.fspath(tmp_path / "w.tif") and seen
    with rasterio.open(out) as s:
        assert s.crs.to_string() == "EPSG:3857" and s.count == 4
        alpha = s.read(4)
        assert 0 < (alpha == 255).mean() < 1
    with pytest.raises(ValueError):
        web.prepare_mosaic_for_web(utm, tmp_path / "x.tif", target_crs="EPSG:4326")


def test_the_viewer_opens_in_chromium_offline_with_the_tiles(picture, tmp_path):
    root = tmp_path / "site"
    tiles = root / "tiles"
    web.geotiff_to_web_tiles(picture, tiles, zoom_levels=(11, 13))
    region = tmp_path / "region.geojson"
    region.write_text(
        json.dumps(
            {
                "type": "Polygon",
                "coordinates": [
                    [[0.12, 51.42], [0.28, 51.42], [0.28, 51.48], [0.12, 51.48], [0.12, 51.42]]
                ],
            }
        )
    )
    page = web.create_simple_web_viewer(
        tiles,
        root / "pages" / "view.html",
        center_lon=0.2,
        center_lat=51.45,
        zoom=12,
        title="Cambridge <test>",
        region_file=region,
    )
    html = Path(page).read_text()
    assert "<title>Cambridge &lt;test&gt;</title>" in html
    assert "../tiles/{z}/{x}/{y}.png" in html
    assert "0.28" in html, "the region outline is on the page"
    assert (root / "pages" / "leaflet" / "leaflet.js").is_file()
    if not have_browser():
        if "1" in (
            os.environ.get("TESSERA_REQUIRE_BROWSER"),
            os.environ.get("TESSERA_REQUIRE_REFERENCE"),
        ):
            pytest.fail("Playwright or /usr/bin/chromium is missing (needed for the viewer test)")
        pytest.skip("Playwright or /usr/bin/chromium is missing")
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split("port ")[1].split()[0])
        check = subprocess.run(
            [
                BROWSER_PY,
                str(ROOT / "tests/browser/check_page.py"),
                f"http://127.0.0.1:{port}/pages/view.html",
                "--screenshot",
                str(tmp_path / "shot.png"),
                "--wait-for-tiles",
                "1",
                "--timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert check.returncode == 0, check.stderr
    res = json.loads(check.stdout)
    assert res["console_errors"] == []
    assert res["external_requests"] == []
    assert res["screenshot_nonblank"]
    assert any("/tiles/12/" in u for u in res["requests"]), res["requests"]


def test_visualize_global_coverage_draws_the_coverage_png(exported, tmp_path):
    ours, _, _, _ = exported
    from PIL import Image

    out = visualization.visualize_global_coverage(ours, tmp_path / "cov.png", width_pixels=800)
    assert out == os.fspath(tmp_path / "cov.png")
    with Image.open(out) as im:
        assert im.size[0] == 800
        world = np.asarray(im.convert("RGB"))
    reg = visualization.visualize_global_coverage(
        ours, tmp_path / "reg.png", width_pixels=800, region_bbox=(0.0, 51.0, 0.5, 51.9)
    )
    with Image.open(reg) as im:
        assert im.size[0] == 800
        assert world.shape != np.asarray(im.convert("RGB")).shape or not np.array_equal(
            world, np.asarray(im.convert("RGB"))
        )
    with pytest.raises(ValueError):
        visualization.visualize_global_coverage(ours, tmp_path / "x.png", tile_alpha=2)
    with pytest.raises(TypeError):
        visualization.visualize_global_coverage(object(), tmp_path / "x.png")
