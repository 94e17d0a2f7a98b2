#!/usr/bin/env python3
"""Independent oracle for the Zarr stores `tessera zarr build` writes.

It recomputes what a layout-B store must hold from the NPY tiles alone, with the
reference's rules (geotessera 0.11 zarr.py) and reference tools: pyproj for the zone grids
and tile placement, GDAL (gdal_translate) for the landmasks, NumPy for the tiles, and
zarr-python to read the store.

    expect MIRROR NPY_DIR LANDMASK_DIR STORE OUTDIR [SEED]
        Checks every zone group's grid against pyproj, picks windows (tile corners, tile
        overlaps, zone edges, random), computes the expected int8 values and scales of each
        window, checks that zarr-python reads exactly those from STORE, and writes
        OUTDIR/windows.json, OUTDIR/w{i}_emb.npy, OUTDIR/w{i}_scales.npy, plus
        OUTDIR/points.csv (lon,lat of pixel centres) and OUTDIR/points_expected.npy
        (float32 int8 x scale, NaN rows where the scale is not finite).
        Prints one JSON line of counts.

    check OUTDIR
        Compares OUTDIR/ours_w{i}.npy and ours_w{i}_scales.npy (written by `tessera zarr
        read --quantised`) and OUTDIR/ours_points.npy (by `tessera sample --source zarr
        --search-px 0`) with the expectations. Prints one JSON line.

    write STORE
        Writes a store with zarr-python itself (published codecs and chunking, one zone,
        two years, a deterministic pattern with water and no-data pixels) and saves the
        expected values beside it (STORE.expected_*.npy) for the reader test.
"""

import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

SHARD = 4096


def zone_of(lon):
    return max(1, min(60, int(math.floor((lon + 180) / 6)) + 1))


def transformer(epsg):
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)


def zone_grid(zone, tiles):
    proj = transformer(32600 + zone)
    xs, ys = [], []
    for lon, lat in tiles:
        w, e, s, n = lon - 0.05, lon + 0.05, lat - 0.05, lat + 0.05
        cx, cy = proj.transform([w, e, w, e], [n, n, s, s])
        xs += list(cx)
        ys += list(cy)
    ox = math.floor(min(xs) / 10) * 10
    oy = math.ceil(max(ys) / 10) * 10
    right = math.ceil(max(xs) / 10) * 10
    bottom = math.floor(min(ys) / 10) * 10
    w = math.ceil(round((right - ox) / 10) / SHARD) * SHARD
    h = math.ceil(round((oy - bottom) / 10) / SHARD) * SHARD
    return ox, oy, h, w


def project_tile(lon, lat):
    zone = zone_of(lon)
    epsg = (32700 if lat < 0 else 32600) + zone
    proj = transformer(epsg)
    w, e, s, n = lon - 0.05, lon + 0.05, lat - 0.05, lat + 0.05
    ul_e, ul_n = proj.transform(w, n)
    ur_e, ur_n = proj.transform(e, n)
    ll_e, ll_n = proj.transform(w, s)
    lr_e, lr_n = proj.transform(e, s)
    oe = min(ul_e, ll_e)
    on = max(ul_n, ur_n)
    h = round((on - min(ll_n, lr_n)) / 10)
    wd = round((max(ur_e, lr_e) - oe) / 10)
    if epsg > 32700:
        on -= 10_000_000.0
    return oe, on, h, wd


def read_landmask(path, h, w):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "m.bin")
        subprocess.run(
            ["gdal_translate", "-q", "-of", "ENVI", "-ot", "Byte", path, out], check=True
        )
        m = np.fromfile(out, dtype=np.uint8)
    return m.reshape(h, w)


def tile_name(lon, lat):
    return f"grid_{lon:.2f}_{lat:.2f}"


def expect(mirror, npy_dir, lm_dir, store, outdir, seed=0):
    import pyarrow.parquet as pq
    import zarr

    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(int(seed))
    man = pq.read_table(f"{mirror}/npy/{npy_dir}/manifest.parquet").to_pandas()
    man = man[(man["grid_size"] > 0) & (man["scales_size"] > 0)]
    lms = pq.read_table(f"{mirror}/landmasks/{lm_dir}/landmasks.parquet").to_pandas()
    by_zone = {}
    for lon_i, lat_i in zip(lms["lon_i"], lms["lat_i"], strict=True):
        by_zone.setdefault(zone_of(lon_i / 100), []).append((lon_i / 100, lat_i / 100))
    grids = {z: zone_grid(z, t) for z, t in by_zone.items()}
    root = zarr.open_group(store, mode="r")
    years = [int(y) for y in root[f"utm{min(grids):02d}"]["time"][:]]
    # The store's grids must be pyproj's.
    for z, (ox, oy, h, w) in grids.items():
        g = root[f"utm{z:02d}"]
        a = dict(g.attrs)
        assert a["proj:code"] == f"EPSG:{32600 + z}", a["proj:code"]
        assert a["spatial:transform"] == [10.0, 0.0, ox, 0.0, -10.0, oy], (
            z,
            a["spatial:transform"],
            ox,
            oy,
        )
        assert a["spatial:shape"] == [h, w], (a["spatial:shape"], h, w)
        assert g["embeddings"].shape == (len(years), 128, h, w)
        x = g["x"][:]
        assert x[0] == ox + 5 and x[-1] == ox + (w - 0.5) * 10
    # Tiles in manifest order, placed.
    tiles = []
    for row in man.itertuples():
        lon, lat, year = row.lon_i / 100, row.lat_i / 100, int(row.year)
        if year not in years:
            continue
        z = zone_of(lon)
        ox, oy, h, w = grids[z]
        oe, on, th, tw = project_tile(lon, lat)
        r0 = math.floor((oy - on) / 10)
        c0 = math.floor((oe - ox) / 10)
        tiles.append(
            dict(lon=lon, lat=lat, year=year, t=years.index(year), zone=z, r0=r0, c0=c0, h=th, w=tw)
        )
    cache = {}

    def load(tl):
        key = (tl["lon"], tl["lat"], tl["year"])
        if key not in cache:
            name = tile_name(tl["lon"], tl["lat"])
            d = f"{mirror}/npy/{npy_dir}/{tl['year']}/{name}"
            emb = np.load(f"{d}/{name}.npy", mmap_mode="r")
            sc = np.load(f"{d}/{name}_scales.npy", mmap_mode="r")
            assert emb.shape == (tl["h"], tl["w"], 128), (emb.shape, tl)
            lm = read_landmask(f"{mirror}/landmasks/{lm_dir}/{name}.tiff", tl["h"], tl["w"])
            cache[key] = (emb, sc, lm)
        return cache[key]

    # Windows: corners and right edges of tiles (overlaps), zone-grid edges, random spots.
    S = 40
    windows = []
    for tl in tiles:
        windows.append((tl["zone"], tl["t"], tl["r0"] - S // 2, tl["c0"] - S // 2))
        windows.append((tl["zone"], tl["t"], tl["r0"] + tl["h"] // 2, tl["c0"] + tl["w"] - S // 2))
        windows.append((tl["zone"], tl["t"], tl["r0"] + tl["h"] - S // 2, tl["c0"] + tl["w"] // 2))
        windows.append(
            (
                tl["zone"],
                tl["t"],
                tl["r0"] + int(rng.integers(0, tl["h"] - S)),
                tl["c0"] + int(rng.integers(0, tl["w"] - S)),
            )
        )
    wins = []
    for z, t, r, c in windows:
        ox, oy, h, w = grids[z]
        r = max(0, min(h - S, r))
        c = max(0, min(w - S, c))
        wins.append((z, t, r, c))
    counts = dict(windows=len(wins), finite=0, nan=0, inf=0, south=0, north=0, zones=sorted(grids))
    pts, pexp, hpts, hexp = [], [], [], []
    for i, (z, t, r, c) in enumerate(wins):
        emb = np.zeros((S, S, 128), np.int8)
        sc = np.full((S, S), np.inf, np.float32)
        for tl in tiles:
            if tl["zone"] != z or tl["t"] != t:
                continue
            ra, rb = max(r, tl["r0"]), min(r + S, tl["r0"] + tl["h"])
            ca, cb = max(c, tl["c0"]), min(c + S, tl["c0"] + tl["w"])
            if ra >= rb or ca >= cb:
                continue
            e, s, lm = load(tl)
            tr, tc = slice(ra - tl["r0"], rb - tl["r0"]), slice(ca - tl["c0"], cb - tl["c0"])
            emb[ra - r : rb - r, ca - c : cb - c] = e[tr, tc]
            v = np.array(s[tr, tc], dtype=np.float32)
            with np.errstate(invalid="ignore"):
                bad = ~(np.isfinite(v) & (v > 0) & (v < 1.0)) | (lm[tr, tc] == 0)
            v[bad] = np.nan
            sc[ra - r : rb - r, ca - c : cb - c] = v
        g = root[f"utm{z:02d}"]
        got_e = np.asarray(g["embeddings"][t, :, r : r + S, c : c + S]).transpose(1, 2, 0)
        got_s = np.asarray(g["scales"][t, r : r + S, c : c + S])
        assert np.array_equal(got_e, emb), (
            f"window {i} ({z},{t},{r},{c}): zarr-python int8 differ in "
            f"{(got_e != emb).any(axis=2).sum()} pixels"
        )
        same = (got_s.view(np.uint32) == sc.view(np.uint32)) | (np.isnan(got_s) & np.isnan(sc))
        assert same.all(), (
            f"window {i} ({z},{t},{r},{c}): zarr-python scales differ in {(~same).sum()} pixels"
        )
        np.save(f"{outdir}/w{i}_emb.npy", emb)
        np.save(f"{outdir}/w{i}_scales.npy", sc)
        counts["finite"] += int(np.isfinite(sc).sum())
        counts["nan"] += int(np.isnan(sc).sum())
        counts["inf"] += int(np.isinf(sc).sum())
        oy = grids[z][1]
        if oy - (r + S) * 10 < 0:
            counts["south"] += 1
        else:
            counts["north"] += 1
        # Points at two pixel centres of each window whose scale is finite, for year 0.
        if t == 0:
            ok = np.argwhere(np.isfinite(sc))
            inv = transformer(32600 + z)
            for k in ok[rng.permutation(len(ok))[:2]] if len(ok) else []:
                y = grids[z][1] - (r + k[0] + 0.5) * 10
                x = grids[z][0] + (c + k[1] + 0.5) * 10
                lon, lat = inv.transform(x, y, direction="INVERSE")
                if zone_of(lon) != z:
                    continue  # a reader looks in the zone of the longitude first
                pts.append((lon, lat))
                pexp.append(emb[k[0], k[1]].astype(np.float32) * sc[k[0], k[1]])
            # Holes: pixel centres with no embedding (fill) next to one that has one; the
            # 3x3 search takes the nearest finite scale, row-major first on ties.
            holes = [
                k
                for k in np.argwhere(np.isinf(sc))
                if 1 <= k[0] < S - 1
                and 1 <= k[1] < S - 1
                and np.isfinite(sc[k[0] - 1 : k[0] + 2, k[1] - 1 : k[1] + 2]).any()
            ]
            for j in rng.permutation(len(holes))[:3]:
                k = holes[j]
                y = grids[z][1] - (r + k[0] + 0.5) * 10
                x = grids[z][0] + (c + k[1] + 0.5) * 10
                lon, lat = inv.transform(x, y, direction="INVERSE")
                if zone_of(lon) != z:
                    continue
                best = None
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        yy, xx = k[0] + dy, k[1] + dx
                        if np.isfinite(sc[yy, xx]) and (
                            best is None or dy * dy + dx * dx < best[0]
                        ):
                            best = (dy * dy + dx * dx, yy, xx)
                hpts.append((lon, lat))
                hexp.append(emb[best[1], best[2]].astype(np.float32) * sc[best[1], best[2]])
    json.dump([list(map(int, w)) + [S, S] for w in wins], open(f"{outdir}/windows.json", "w"))
    with open(f"{outdir}/points.csv", "w") as f:
        f.write("lon,lat\n")
        for lon, lat in pts:
            f.write(f"{lon!r},{lat!r}\n")
    np.save(f"{outdir}/points_expected.npy", np.array(pexp, dtype=np.float32).reshape(-1, 128))
    with open(f"{outdir}/holes.csv", "w") as f:
        f.write("lon,lat\n")
        for lon, lat in hpts:
            f.write(f"{lon!r},{lat!r}\n")
    np.save(f"{outdir}/holes_expected.npy", np.array(hexp, dtype=np.float32).reshape(-1, 128))
    counts["points"] = len(pts)
    counts["holes"] = len(hpts)
    counts["year"] = years[0]
    print(json.dumps(counts))


def check(outdir):
    wins = json.load(open(f"{outdir}/windows.json"))
    bad = 0
    for i, _ in enumerate(wins):
        e = np.load(f"{outdir}/w{i}_emb.npy")
        s = np.load(f"{outdir}/w{i}_scales.npy")
        oe = np.load(f"{outdir}/ours_w{i}.npy")
        os_ = np.load(f"{outdir}/ours_w{i}_scales.npy")
        same = (os_.view(np.uint32) == s.view(np.uint32)) | (np.isnan(os_) & np.isnan(s))
        if not np.array_equal(oe, e) or not same.all():
            bad += 1
    pe = np.load(f"{outdir}/points_expected.npy")
    po = np.load(f"{outdir}/ours_points.npy")
    pts_ok = po.shape == pe.shape and np.array_equal(po, pe)
    he = np.load(f"{outdir}/holes_expected.npy")
    ho = np.load(f"{outdir}/ours_holes.npy")
    holes_ok = ho.shape == he.shape and np.array_equal(ho, he)
    print(
        json.dumps(
            dict(
                windows=len(wins),
                bad_windows=bad,
                points=len(pe),
                points_equal=bool(pts_ok),
                holes=len(he),
                holes_equal=bool(holes_ok),
            )
        )
    )


def write(store):
    """A store written by zarr-python with the published layout, for our reader."""
    import zarr
    from zarr.codecs import BloscCodec

    T, H, W = 2, 8192, 4096
    root = zarr.open_group(store, mode="w", zarr_format=3)
    root.attrs.update(
        {
            "zarr_conventions": [
                {"uuid": "61c12cc5-0e28-4056-999a-480cf3fb7e4c", "name": "geoemb:"}
            ],
            "geoemb:type": "pixel",
            "geoemb:dimensions": 128,
            "geoemb:model": "https://geotessera.org/model/1.1",
            "geoemb:data_type": "int8",
            "geoemb:build_version": "zarr-python",
        }
    )
    g = root.create_group("utm36")
    ox, oy = 780000.0, 40960.0  # the grid straddles the equator
    g.attrs.update(
        {
            "proj:code": "EPSG:32636",
            "spatial:transform": [10.0, 0.0, ox, 0.0, -10.0, oy],
            "spatial:shape": [H, W],
        }
    )
    e = g.create_array(
        "embeddings",
        shape=(T, 128, H, W),
        chunks=(1, 128, 32, 32),
        shards=(1, 128, SHARD, SHARD),
        dtype=np.int8,
        fill_value=np.int8(0),
        compressors=BloscCodec(cname="zstd", clevel=3),
        dimension_names=["time", "band", "y", "x"],
    )
    s = g.create_array(
        "scales",
        shape=(T, H, W),
        chunks=(1, 32, 32),
        shards=(1, SHARD, SHARD),
        dtype=np.float32,
        fill_value=np.float32("inf"),
        compressors=BloscCodec(cname="zstd", clevel=3),
        dimension_names=["time", "y", "x"],
    )
    for name, data, dim in [
        ("x", ox + (np.arange(W) + 0.5) * 10, "x"),
        ("y", oy - (np.arange(H) + 0.5) * 10, "y"),
        ("time", np.array([2023, 2024], dtype=np.int32), "time"),
        ("band", np.arange(128, dtype=np.int32), "band"),
    ]:
        a = g.create_array(
            name,
            shape=data.shape,
            dtype=data.dtype,
            fill_value=0,
            compressors=BloscCodec(cname="zstd", clevel=3),
            dimension_names=[dim],
        )
        a[:] = data
    # A block across the shard-row boundary (rows 4000..4200), columns 100..300.
    r0, r1, c0, c1 = 4000, 4200, 100, 300
    rng = np.random.default_rng(7)
    for t in range(T):
        emb = rng.integers(-128, 128, size=(128, r1 - r0, c1 - c0), dtype=np.int8)
        sc = rng.uniform(0.01, 0.2, size=(r1 - r0, c1 - c0)).astype(np.float32)
        sc[:20, :20] = np.nan  # water
        e[t, :, r0:r1, c0:c1] = emb
        s[t, r0:r1, c0:c1] = sc
        np.save(f"{store}.expected_emb_{t}.npy", emb.transpose(1, 2, 0))
        np.save(f"{store}.expected_scales_{t}.npy", sc)
    zarr.consolidate_metadata(store)
    print(json.dumps({"store": store, "window": [r0, c0, r1 - r0, c1 - c0]}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "expect":
        expect(*sys.argv[2:])
    elif cmd == "check":
        check(sys.argv[2])
    elif cmd == "write":
        write(sys.argv[2])
    else:
        sys.exit(f"unknown command {cmd}")
