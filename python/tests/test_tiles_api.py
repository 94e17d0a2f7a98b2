"""geotessera_rs.tiles against the reference's geotessera.tiles on the same files: tiles
downloaded by the reference into one embeddings directory (plus variants with water,
nodata and per-band scales, and GeoTIFF exports by both packages), discovered, opened,
read whole, in blocks and at points by both, and the same mistakes raising the same
exception classes."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import geotessera_rs
import numpy as np
import pytest
from affine import Affine
from conftest import YEAR, run_python
from geotessera_rs import _native
from geotessera_rs import tiles as ours

EMB = "global_0.1_degree_representation"
LM = "global_0.1_degree_tiff_all"
TILES = [(0.15, 51.45), (0.25, 51.45)]


@pytest.fixture(scope="module")
def ref(reference):
    import geotessera.tiles

    return geotessera.tiles


@pytest.fixture(scope="module")
def tiles_dir(reference, tmp_path_factory) -> Path:
    """The two mirror tiles as the reference downloads them, a tile whose scales hold
    NaN (water), +-inf (nodata) and a per-band (H, W, B) variant, plus files that are not
    tiles: a misnamed .npy, an incomplete tile and a directory that is not a year."""
    root = tmp_path_factory.mktemp("tiles_api")
    d = root / "e"
    gt = reference.GeoTessera(dataset_version="v1.1", embeddings_dir=d, cache_dir=root / "c")
    for lon, lat in TILES:
        assert gt.download_tile(lon, lat, YEAR)
    src = d / EMB / str(YEAR) / "grid_0.15_51.45"
    # 2023: the same tile with water and nodata scales.
    wet = d / EMB / "2023" / "grid_0.15_51.45"
    wet.mkdir(parents=True)
    os.link(src / "grid_0.15_51.45.npy", wet / "grid_0.15_51.45.npy")
    scales = np.load(src / "grid_0.15_51.45_scales.npy")
    scales[:40, :] = np.nan
    scales[100:120, 10:300] = np.inf
    scales[200:210, :] = -np.inf
    np.save(wet / "grid_0.15_51.45_scales.npy", scales)
    # 2022: per-band scales, one band not finite.
    per_band = d / EMB / "2022" / "grid_0.25_51.45"
    per_band.mkdir(parents=True)
    src2 = d / EMB / str(YEAR) / "grid_0.25_51.45"
    q = np.load(src2 / "grid_0.25_51.45.npy", mmap_mode="r")
    s2 = np.load(src2 / "grid_0.25_51.45_scales.npy")
    rng = np.random.default_rng(3)
    factors = rng.uniform(0.5, 1.5, (1, 1, q.shape[2])).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        s3 = (s2[:, :, None] * factors).astype(np.float32)
    s3[:, :, 7] = np.nan
    s3[:50, :50, :] = np.inf
    np.save(per_band / "grid_0.25_51.45_scales.npy", s3)
    os.link(src2 / "grid_0.25_51.45.npy", per_band / "grid_0.25_51.45.npy")
    # Not tiles.
    (d / EMB / str(YEAR) / "notes").mkdir()
    np.save(d / EMB / str(YEAR) / "notes" / "readme.npy", np.zeros(3))
    (d / EMB / "abcd" / "grid_0.15_51.45").mkdir(parents=True)
    np.save(d / EMB / "abcd" / "grid_0.15_51.45" / "grid_0.15_51.45.npy", np.zeros(3))
    half = d / EMB / "2021" / "grid_0.25_51.45"
    half.mkdir(parents=True)
    os.link(src2 / "grid_0.25_51.45.npy", half / "grid_0.25_51.45.npy")  # no scales
    return d


@pytest.fixture(scope="module")
def exports(reference, server, tiles_dir, tmp_path_factory) -> dict[str, list[Path]]:
    """GeoTIFF exports (a few bands) of both tiles, written by each package."""
    root = tmp_path_factory.mktemp("tiles_api_exports")
    out: dict[str, list[Path]] = {"ref": [], "ours": []}
    rgt = reference.GeoTessera(
        dataset_version="v1.1", embeddings_dir=tiles_dir, cache_dir=root / "c1"
    )
    ogt = geotessera_rs.GeoTessera(
        dataset_version="v1.1", embeddings_dir=tiles_dir, cache_dir=root / "c2", mirror=server.url
    )
    for lon, lat in TILES:
        name = f"grid_{lon:.2f}_{lat:.2f}_{YEAR}.tif"
        out["ref"].append(
            Path(rgt.export_embedding_geotiff(lon, lat, root / "ref" / name, YEAR, bands=[0, 5, 9]))
        )
        out["ours"].append(
            Path(
                ogt.export_embedding_geotiff(lon, lat, root / "ours" / name, YEAR, bands=[0, 5, 9])
            )
        )
    return out


def _same_tile(a, b) -> None:
    assert (a.lon, a.lat, a.year, a._format) == (b.lon, b.lat, b.year, b._format)
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    assert a.grid_name == b.grid_name
    assert a.crs == b.crs and b.crs == a.crs and str(a.crs) == str(b.crs)
    assert isinstance(a.transform, Affine) and a.transform == b.transform
    assert tuple(a.bounds) == tuple(b.bounds)
    assert a.bounds._fields == ("left", "bottom", "right", "top")
    assert (a.bounds.left, a.bounds.top) == (b.bounds.left, b.bounds.top)
    assert (a.height, a.width, a.band_count) == (b.height, b.width, b.band_count)
    assert a.is_available() == b.is_available()
    assert a.is_available(require_landmask=False) == b.is_available(require_landmask=False)


def _equal(x: np.ndarray, y: np.ndarray) -> None:
    assert x.dtype == np.float32 and x.shape == y.shape
    assert np.array_equal(x, y, equal_nan=True)


def _points(t) -> np.ndarray:
    """Points inside the tile, in its neighbours, far away and not finite."""
    rng = np.random.default_rng(7)
    inside = np.column_stack(
        [rng.uniform(t.lon - 0.05, t.lon + 0.05, 300), rng.uniform(t.lat - 0.05, t.lat + 0.05, 300)]
    )
    around = np.column_stack(
        [rng.uniform(t.lon - 0.2, t.lon + 0.2, 100), rng.uniform(t.lat - 0.2, t.lat + 0.2, 100)]
    )
    odd = np.array([[100.0, 10.0], [np.nan, 51.45], [t.lon, np.inf], [-179.9, -80.0]])
    return np.vstack([inside, around, odd])


def test_discover_tiles_same_tiles_same_order(ref, tiles_dir, exports, caplog):
    for fn in ("discover_tiles", "discover_npy_tiles", "discover_geotiff_tiles"):
        a, b = getattr(ours, fn)(tiles_dir), getattr(ref, fn)(tiles_dir)
        assert [(t.year, t.lon, t.lat) for t in a] == [(t.year, t.lon, t.lat) for t in b]
        for x, y in zip(a, b, strict=True):
            _same_tile(x, y)
    got = ours.discover_tiles(tiles_dir)
    assert [(t.year, t.lon, t.lat) for t in got] == [
        (2022, 0.25, 51.45),
        (2023, 0.15, 51.45),
        (YEAR, 0.15, 51.45),
        (YEAR, 0.25, 51.45),
    ]
    with caplog.at_level(logging.WARNING):
        ours.discover_npy_tiles(tiles_dir)
    assert any("Skipping incomplete tile" in r.getMessage() for r in caplog.records)
    # A directory of exports, and one mixing both (NPY wins per tile-year).
    exp_dir = exports["ref"][0].parent
    for d in (exp_dir, exp_dir.parent):
        a, b = ours.discover_tiles(d), ref.discover_tiles(d)
        assert [repr(t) for t in a] == [repr(t) for t in b]
        fa, fb = ours.discover_formats(d), ref.discover_formats(d)
        assert {k: [repr(t) for t in v] for k, v in fa.items()} == {
            k: [repr(t) for t in v] for k, v in fb.items()
        }
    fa, fb = ours.discover_formats(tiles_dir), ref.discover_formats(tiles_dir)
    assert sorted(fa) == sorted(fb) == ["npy"]
    assert ours.discover_tiles(tiles_dir / "nowhere") == ref.discover_tiles(tiles_dir / "nowhere")


def test_mixed_directory_prefers_npy_and_keeps_tiff_only_tiles(ref, tiles_dir, exports, tmp_path):
    d = tmp_path / "mixed"
    shutil.copytree(tiles_dir, d, copy_function=os.link)
    src = exports["ref"][0]
    shutil.copy(src, d / src.name)  # the same tile-year as an NPY tile
    shutil.copy(src, d / "grid_0.15_51.45_2019.tif")  # a GeoTIFF-only tile-year
    a, b = ours.discover_tiles(d), ref.discover_tiles(d)
    assert [repr(t) for t in a] == [repr(t) for t in b]
    assert [t._format for t in a if t.year == 2019] == ["geotiff"]
    assert [t._format for t in a if t.year == YEAR] == ["npy", "npy"]


def test_npy_tile_attributes_and_data(ref, tiles_dir):
    for year, (lon, lat) in [
        (YEAR, TILES[0]),
        (YEAR, TILES[1]),
        (2023, TILES[0]),
        (2022, TILES[1]),
    ]:
        rel = f"{year}/grid_{lon:.2f}_{lat:.2f}/grid_{lon:.2f}_{lat:.2f}.npy"
        a = ours.Tile.from_npy(tiles_dir / EMB / rel, tiles_dir)
        b = ref.Tile.from_npy(tiles_dir / EMB / rel, tiles_dir)
        _same_tile(a, b)
        assert a.band_count is None and a.crs.to_epsg() == 32631
        ea, eb = a.load_embedding(), b.load_embedding()
        _equal(ea, eb)
        if year == 2023:
            assert np.isnan(ea[:40]).all() and np.isnan(ea[100:120, 10:300]).all()
        if year == 2022:
            assert np.isnan(ea[..., 7]).all() and not np.isnan(ea[..., 8]).all()
        da, db = a.to_dict(), b.to_dict()
        assert sorted(da) == sorted(db)
        assert da["path"] == db["path"] and da["crs"] == db["crs"]
        assert da["transform"] == db["transform"] and tuple(da["bounds"]) == tuple(db["bounds"])
        _equal(da["data"], db["data"])


@pytest.mark.parametrize("rows", [128, 1, 77, 5000])
def test_iter_blocks_equal(ref, tiles_dir, rows):
    for year, lon in [(YEAR, 0.15), (2023, 0.15), (2022, 0.25)]:
        rel = f"{year}/grid_{lon:.2f}_51.45/grid_{lon:.2f}_51.45.npy"
        a = ours.Tile.from_npy(tiles_dir / EMB / rel, tiles_dir)
        b = ref.Tile.from_npy(tiles_dir / EMB / rel, tiles_dir)
        ga, gb = list(a.iter_blocks(rows)), list(b.iter_blocks(rows))
        assert [t for t, _ in ga] == [t for t, _ in gb]
        for (_, x), (_, y) in zip(ga, gb, strict=True):
            _equal(x, y)
        # Capped at 64 MiB of 8-byte samples a block.
        assert max(x.shape[0] for _, x in ga) <= 64 * 1024**2 // (a.width * 128 * 8)


def test_iter_blocks_rejects_rows(ref, tiles_dir):
    rel = f"{YEAR}/grid_0.15_51.45/grid_0.15_51.45.npy"
    for mod in (ours, ref):
        t = mod.Tile.from_npy(tiles_dir / EMB / rel, tiles_dir)
        with pytest.raises(ValueError):
            next(t.iter_blocks(0))


def test_sample_points_equal_inside_and_outside(ref, tiles_dir):
    for year, lon in [(YEAR, 0.15), (YEAR, 0.25), (2023, 0.15), (2022, 0.25)]:
        rel = f"{year}/grid_{lon:.2f}_51.45/grid_{lon:.2f}_51.45.npy"
        a = ours.Tile.from_npy(tiles_dir / EMB / rel, tiles_dir)
        b = ref.Tile.from_npy(tiles_dir / EMB / rel, tiles_dir)
        pts = _points(a)
        sa, sb = a.sample_points(pts), b.sample_points(pts)
        _equal(sa, sb)
        assert np.isnan(sa[-4:]).all()  # far away and not finite
        _equal(a.sample_points(pts.tolist()), sb)
        for p in pts[::37]:
            _equal(a.sample_at_point(*p), b.sample_at_point(*p))
        assert a.sample_points(np.empty((0, 2))).shape == b.sample_points(np.empty((0, 2))).shape
        # Every pixel read: the samples are the pixels of the full embedding.
        emb = a.load_embedding()
        rows, cols = _rowcol(a, pts[:300])
        _equal(sa[:300], emb[rows, cols])


def _rowcol(tile, pts):
    from pyproj import Transformer
    from rasterio.transform import rowcol

    x, y = Transformer.from_crs(4326, tile.crs.to_epsg(), always_xy=True).transform(
        pts[:, 0], pts[:, 1]
    )
    r, c = rowcol(tile.transform, x, y)
    return np.asarray(r), np.asarray(c)


def test_contains_point(ref, tiles_dir):
    rel = f"{YEAR}/grid_0.15_51.45/grid_0.15_51.45.npy"
    a = ours.Tile.from_npy(tiles_dir / EMB / rel, tiles_dir)
    b = ref.Tile.from_npy(tiles_dir / EMB / rel, tiles_dir)
    for p in [(0.15, 51.45), (0.1, 51.4), (0.2, 51.45), (0.1999, 51.4999), (0.3, 51.0)]:
        assert a.contains_point(*p) == b.contains_point(*p)


def test_geotiff_tiles_from_both_exports(ref, exports):
    files = exports["ref"] + exports["ours"]
    assert len(files) >= 2
    for f in files:
        a, b = ours.Tile.from_geotiff(f), ref.Tile.from_geotiff(f)
        _same_tile(a, b)
        assert a.band_count == 3 and a._format == "geotiff"
        _equal(a.load_embedding(), b.load_embedding().astype(np.float32))
        for rows in (128, 300):
            ga, gb = list(a.iter_blocks(rows)), list(b.iter_blocks(rows))
            assert [t for t, _ in ga] == [t for t, _ in gb]
            for (_, x), (_, y) in zip(ga, gb, strict=True):
                _equal(x, y)
        pts = _points(a)
        _equal(a.sample_points(pts), b.sample_points(pts))
        _equal(a.sample_at_point(a.lon, a.lat), b.sample_at_point(b.lon, b.lat))
    # The two packages' exports of one tile hold the same samples.
    for x, y in zip(exports["ref"], exports["ours"], strict=True):
        _equal(
            ours.Tile.from_geotiff(x).load_embedding(), ours.Tile.from_geotiff(y).load_embedding()
        )


def test_geotiff_identified_by_its_year_tag(ref, exports, tmp_path):
    f = tmp_path / "custom_name.tif"
    shutil.copy(exports["ref"][0], f)
    a, b = ours.Tile.from_geotiff(f), ref.Tile.from_geotiff(f)
    assert a.year == b.year == YEAR
    # The centre as projected by each package's own code (PROJ for the reference).
    assert a.lon == pytest.approx(b.lon, abs=1e-9) and a.lat == pytest.approx(b.lat, abs=1e-9)
    assert a.transform == b.transform and a.band_count == b.band_count


def test_tile_for_coord_and_tiles_for_coords(ref, tiles_dir, exports, tmp_path):
    for year, lon, lat in [
        (YEAR, 0.15, 51.45),
        (2023, 0.15, 51.45),
        (YEAR, 0.35, 51.45),
        (2020, 0.15, 51.45),
    ]:
        a = ours.tile_for_coord(tiles_dir, lon, lat, year)
        b = ref.tile_for_coord(tiles_dir, lon, lat, year)
        assert (a is None) == (b is None)
        if a is not None:
            _same_tile(a, b)
    assert ours.tile_for_coord(tiles_dir, 0.25, 51.45, 2021) is None  # no scales
    assert ref.tile_for_coord(tiles_dir, 0.25, 51.45, 2021) is None
    coords = [(0.15, 51.45), (0.25, 51.45), (5.05, 5.05)]
    fa, fb = (
        ours.tiles_for_coords(tiles_dir, coords, YEAR),
        ref.tiles_for_coords(tiles_dir, coords, YEAR),
    )
    assert list(fa) == list(fb) == coords[:2]
    for k in fa:
        _same_tile(fa[k], fb[k])
    # GeoTIFFs where the reference looks for them: nested, and at the top.
    d = tmp_path / "tiffs"
    nested = d / EMB / str(YEAR) / "grid_0.15_51.45"
    nested.mkdir(parents=True)
    shutil.copy(exports["ref"][0], nested / "grid_0.15_51.45_2024.tiff")
    shutil.copy(exports["ref"][1], d / "grid_0.25_51.45_2024.tif")
    for lon in (0.15, 0.25):
        a, b = ours.tile_for_coord(d, lon, 51.45, YEAR), ref.tile_for_coord(d, lon, 51.45, YEAR)
        assert a is not None and b is not None
        _same_tile(a, b)
        assert a._geotiff_path == b._geotiff_path
    # An unreadable NPY tile is logged and the GeoTIFF is used.
    broken = tmp_path / "broken"
    shutil.copytree(d, broken)
    emb = broken / EMB / str(YEAR) / "grid_0.15_51.45"
    np.save(emb / "grid_0.15_51.45.npy", np.zeros((1, 1, 1), np.int8))
    np.save(emb / "grid_0.15_51.45_scales.npy", np.zeros((1, 1), np.float32))
    (broken / LM).mkdir()
    (broken / LM / "grid_0.15_51.45.tiff").write_bytes(b"not a tiff")
    a = ours.tile_for_coord(broken, 0.15, 51.45, YEAR)
    b = ref.tile_for_coord(broken, 0.15, 51.45, YEAR)
    assert a is not None and b is not None and a._format == b._format == "geotiff"
    # An unreadable landmask is an OSError in both packages.
    for mod in (ours, ref):
        with pytest.raises(OSError):
            mod.Tile.from_npy(emb / "grid_0.15_51.45.npy", broken)


def test_tile_for_coord_opens_only_the_wanted_tile(ref, tiles_dir, tmp_path, monkeypatch):
    """A directory of 60 tiles (links to one tile's files): the targeted lookup opens one
    file (the wanted tile's landmask), where a scan opens them all."""
    d = tmp_path / "many"
    src = tiles_dir / EMB / str(YEAR) / "grid_0.15_51.45"
    (d / LM).mkdir(parents=True)
    names = [f"grid_{0.05 + 0.1 * i:.2f}_51.45" for i in range(60)]
    for n in names:
        t = d / EMB / str(YEAR) / n
        t.mkdir(parents=True)
        os.symlink(src / "grid_0.15_51.45.npy", t / f"{n}.npy")
        os.symlink(src / "grid_0.15_51.45_scales.npy", t / f"{n}_scales.npy")
        os.symlink(tiles_dir / LM / "grid_0.15_51.45.tiff", d / LM / f"{n}.tiff")
    _native.tile_file_opens(reset=True)
    t = ours.tile_for_coord(d, 3.05, 51.45, YEAR)
    assert t is not None and t.grid_name == "grid_3.05_51.45"
    assert _native.tile_file_opens(reset=True) == 1
    assert ours.tiles_for_coords(d, [(3.05, 51.45), (4.05, 51.45)], YEAR)
    assert _native.tile_file_opens(reset=True) == 2
    assert len(ours.discover_tiles(d)) == 60
    assert _native.tile_file_opens(reset=True) >= 60
    # The reference on the same directory, counting rasterio.open calls.
    import rasterio

    calls = []
    real = rasterio.open
    monkeypatch.setattr(rasterio, "open", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert ref.tile_for_coord(d, 3.05, 51.45, YEAR) is not None
    assert len(calls) == 1


def test_bad_input_raises_the_reference_exceptions(ref, tiles_dir, exports, tmp_path):
    good = tiles_dir / EMB / str(YEAR) / "grid_0.15_51.45" / "grid_0.15_51.45.npy"
    bad_names = [
        tiles_dir / EMB / str(YEAR) / "notes" / "readme.npy",  # not grid_X_Y.npy
        tiles_dir / EMB / "abcd" / "grid_0.15_51.45" / "grid_0.15_51.45.npy",  # no year
    ]
    for mod in (ours, ref):
        for p in bad_names:
            with pytest.raises(ValueError):
                mod.Tile.from_npy(p, tiles_dir)
        with pytest.raises(FileNotFoundError, match="Landmask file not found"):
            mod.Tile.from_npy(good, tmp_path)  # no landmask under this base_dir
        with pytest.raises(ValueError, match="Unknown format"):
            mod.Tile(0.15, 51.45, YEAR).load_embedding()
        assert mod.Tile(0.15, 51.45, YEAR).is_available() is False
    # A GeoTIFF with neither a tile name nor a TESSERA_YEAR tag (a landmask).
    odd = tmp_path / "odd.tif"
    shutil.copy(tiles_dir / LM / "grid_0.15_51.45.tiff", odd)
    for mod in (ours, ref):
        with pytest.raises(ValueError, match="needs a Tessera filename or TESSERA_YEAR tag"):
            mod.Tile.from_geotiff(odd)
    # Messages match the reference's.
    with pytest.raises(FileNotFoundError) as ea:
        ours.Tile.from_npy(good, tmp_path)
    with pytest.raises(FileNotFoundError) as eb:
        ref.Tile.from_npy(good, tmp_path)
    assert str(ea.value) == str(eb.value)
    # A tile whose landmask vanished after discovery is no longer available.
    d = tmp_path / "vanish"
    shutil.copytree(tiles_dir / LM, d / LM)
    (d / EMB / str(YEAR)).mkdir(parents=True)
    shutil.copytree(good.parent, d / EMB / str(YEAR) / good.parent.name, copy_function=os.link)
    t = ours.Tile.from_npy(d / EMB / str(YEAR) / good.parent.name / good.name, d)
    (d / LM / "grid_0.15_51.45.tiff").unlink()
    assert t.is_available() is False and t.is_available(require_landmask=False) is True


def test_pickles_and_arrays_are_numpy_owned(tiles_dir):
    import pickle

    rel = f"{YEAR}/grid_0.15_51.45/grid_0.15_51.45.npy"
    t = ours.Tile.from_npy(tiles_dir / EMB / rel, tiles_dir)
    u = pickle.loads(pickle.dumps(t))
    assert u == t and u.crs == t.crs and u.transform == t.transform
    e = t.load_embedding()
    assert e.flags["C_CONTIGUOUS"] and e.flags["WRITEABLE"]
    _equal(u.load_embedding(), e)


def test_aliased_as_geotessera_tiles():
    r = run_python(
        "import geotessera_rs, sys\n"
        "geotessera_rs.install_as_geotessera()\n"
        "import geotessera.tiles\n"
        "from geotessera.tiles import Tile, discover_tiles, tile_for_coord, tiles_for_coords\n"
        "assert geotessera.tiles is geotessera_rs.tiles\n"
        "assert geotessera_rs.tiles.Tile is Tile\n"
        "print('ok')\n"
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
