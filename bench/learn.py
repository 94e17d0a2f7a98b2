"""The scikit-learn side of bench/learn.sh, one step per call (so that each step's peak
memory is its own process's):

  table TILES_DIR TRUTH_TIF OUT.parquet N   10,000 labelled pixels of the tile (truth classes)
  train HEAD TABLE                          fit HEAD on the table (read included)
  predict HEAD TABLE TILES_DIR OUT.tif      fit, then map the tile: np.load, predict, rasterio
  similar TILES_DIR LON LAT OUT.tif         cosine similarity of the tile to one pixel
"""

import glob
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def tile_files(tiles):
    emb = [
        p
        for p in glob.glob(f"{tiles}/**/grid_*.npy", recursive=True)
        if not p.endswith("_scales.npy")
    ]
    assert len(emb) == 1, emb
    e = emb[0]
    return e, e[:-4] + "_scales.npy"


def landmask(tiles, emb):
    name = os.path.basename(emb)[: -len(".npy")]
    lm = glob.glob(f"{tiles}/**/{name}.tiff", recursive=True) + glob.glob(
        f"{tiles}/**/{name}.tif", recursive=True
    )
    return lm[0]


def read_table(path):
    t = pq.read_table(path)
    cols = [c for c in t.column_names if c.startswith("emb_")]
    x = np.column_stack([t[c].to_numpy() for c in cols]).astype(np.float32)
    return x, t["label"].to_numpy()


def head(name):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "centroid": lambda: NearestCentroid(),
        "knn": lambda: KNeighborsClassifier(5, algorithm="brute", n_jobs=2),
        "logreg": lambda: LogisticRegression(C=1.0, max_iter=1000),
        "rf": lambda: RandomForestClassifier(100, n_jobs=2, random_state=42),
        "mlp": lambda: make_pipeline(
            StandardScaler(), MLPClassifier((128, 64), max_iter=100, random_state=42)
        ),
    }[name]()


def main():
    step = sys.argv[1]
    if step == "table":
        import rasterio

        tiles, truth, out, n = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
        e, s = tile_files(tiles)
        q = np.load(e, mmap_mode="r")
        sc = np.load(s, mmap_mode="r")
        with rasterio.open(truth) as src:
            cls = src.read(1)
        h, w = sc.shape[:2]
        rng = np.random.default_rng(0)
        valid = np.flatnonzero(np.isfinite(sc.reshape(-1)) & (sc.reshape(-1) > 0))
        pick = np.sort(rng.choice(valid, n, replace=False))
        r, c = pick // w, pick % w
        x = q[r, c, :].astype(np.float32) * sc[r, c][:, None].astype(np.float32)
        names = np.array(
            [
                "water",
                "tree_cover",
                "cropland",
                "grassland",
                "built_up",
                "bare_ground",
                "wetland",
                "solar_farm",
                "snow_ice",
            ]
        )
        cols = {"label": names[cls[r, c]]}
        for b in range(x.shape[1]):
            cols[f"emb_{b}"] = x[:, b]
        pq.write_table(pa.table(cols), out)
        return
    if step == "train":
        x, y = read_table(sys.argv[3])
        head(sys.argv[2]).fit(x, y)
        return
    if step == "predict":
        import rasterio

        name, table, tiles, out = sys.argv[2:6]
        x, y = read_table(table)
        model = head(name).fit(x, y)
        classes = list(model.classes_)
        t0 = time.perf_counter()
        e, s = tile_files(tiles)
        q = np.load(e)
        sc = np.load(s)
        h, w = sc.shape[:2]
        flat = sc.reshape(-1)
        ok = np.isfinite(flat) & (flat > 0)
        emb = q.reshape(-1, q.shape[-1])[ok].astype(np.float32) * flat[ok, None]
        pred = model.predict(emb)
        idx = {c: i + 1 for i, c in enumerate(classes)}
        out_arr = np.zeros(h * w, dtype=np.uint8)
        out_arr[ok] = np.vectorize(idx.get, otypes=[np.uint8])(pred)
        with rasterio.open(landmask(tiles, e)) as lm:
            profile = dict(
                driver="GTiff",
                width=w,
                height=h,
                count=1,
                dtype="uint8",
                crs=lm.crs,
                transform=lm.transform,
                nodata=0,
                tiled=True,
                compress="deflate",
            )
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(out_arr.reshape(h, w), 1)
            dst.write_colormap(
                1,
                {
                    i + 1: (31 * i % 255, 97 * i % 255, 53 * i % 255, 255)
                    for i in range(len(classes))
                },
            )
        print(f"map {time.perf_counter() - t0:.3f}", file=sys.stderr)
        return
    if step == "similar":
        import rasterio

        tiles, lon, lat, out = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
        e, s = tile_files(tiles)
        q = np.load(e)
        sc = np.load(s)
        h, w = sc.shape[:2]
        with rasterio.open(landmask(tiles, e)) as lm:
            crs, tr = lm.crs, lm.transform
        from pyproj import Transformer

        x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
        col, row = ~tr * (x, y)
        qv = q[int(row), int(col)].astype(np.float32) * sc[int(row), int(col)]
        qv /= np.linalg.norm(qv)
        flat = sc.reshape(-1)
        ok = np.isfinite(flat) & (flat > 0)
        emb = q.reshape(-1, q.shape[-1])[ok].astype(np.float32) * flat[ok, None]
        sim = np.full(h * w, np.nan, dtype=np.float32)
        sim[ok] = (emb @ qv) / np.linalg.norm(emb, axis=1)
        profile = dict(
            driver="GTiff",
            width=w,
            height=h,
            count=1,
            dtype="float32",
            crs=crs,
            transform=tr,
            nodata=np.nan,
            tiled=True,
            compress="deflate",
            predictor=3,
        )
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(sim.reshape(h, w), 1)
        return
    raise SystemExit(f"unknown step {step}")


if __name__ == "__main__":
    main()
