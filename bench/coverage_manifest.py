"""A synthetic coverage registry: a v1.1 cambridge manifest of ROWS tile-years (11 years,
each location missing about a fifth of them) and a landmask table, as Parquet, in OUT.
Usage: python bench/coverage_manifest.py OUT ROWS   (needs numpy and pyarrow)
"""

import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

out, rows = sys.argv[1], int(sys.argv[2])
years = np.arange(2015, 2026)
rng = np.random.default_rng(0)
# Land-like latitude band; each location gets a random subset of years (most get all).
n_loc = int(rows / (len(years) * 0.8)) + 1
cells = np.unique(rng.integers(0, 3600 * 1400, n_loc * 2))[:n_loc]
rng.shuffle(cells)
cells = np.sort(cells[:n_loc])
lon_i = ((cells % 3600) * 10 - 17995).astype(np.int32)
lat_i = (7195 - (cells // 3600) * 10).astype(np.int32)
keep = rng.random((len(years), len(cells))) < 0.8
ys, idx = np.nonzero(keep)
ys, idx = ys[:rows], idx[:rows]
year = years[ys].astype(np.int64)
li, la = lon_i[idx], lat_i[idx]
order = np.lexsort((la, li, year))
year, li, la = year[order], li[order], la[order]
n = len(year)
lon, lat = li / 100.0, la / 100.0
ts = pa.array(np.full(n, 1_700_000_000_000_000_000, dtype="int64")).cast(
    pa.timestamp("ns", tz="UTC")
)
path = pa.array(np.char.add("s3://tessera/tessera/npy/v1.1-cam/x/", np.arange(n).astype(str)))
t = pa.table(
    {
        "version": pa.array(np.full(n, "1.1")),
        "variant": pa.array(np.full(n, "cambridge")),
        "year": year,
        "lon": lon,
        "lat": lat,
        "directory": path,
        "grid_path": path,
        "scales_path": path,
        "grid_mtime": ts,
        "scales_mtime": ts,
        "grid_size": np.full(n, 120_000_000, np.int64),
        "scales_size": np.full(n, 4_000_000, np.int64),
        "lon_i": li,
        "lat_i": la,
    }
)
pq.write_table(t, f"{out}/manifest.parquet")
lm = np.unique(np.concatenate([cells, rng.integers(0, 3600 * 1400, n_loc // 4)]))
ml, mla = ((lm % 3600) * 10 - 17995).astype(np.int32), (7195 - (lm // 3600) * 10).astype(np.int32)
m = len(lm)
pq.write_table(
    pa.table(
        {
            "lon": ml / 100.0,
            "lat": mla / 100.0,
            "file_size": np.full(m, 50, np.int64),
            "mtime": pa.array(np.full(m, 1_700_000_000_000_000_000, dtype="int64")).cast(
                pa.timestamp("ns", tz="UTC")
            ),
            "key": pa.array(np.full(m, "s3://tessera/tessera/landmasks/v1.1/x.tiff")),
            "lon_i": ml,
            "lat_i": mla,
        }
    ),
    f"{out}/landmasks.parquet",
)
print(f"manifest: {n} rows, {len(cells)} locations; landmasks: {m}")
