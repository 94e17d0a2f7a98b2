"""Times geotessera_rs against geotessera 0.11 (and our Python call against our CLI) on one
synthetic mirror. Run by bench/python_api.sh; prints one line per measurement."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

mirror, cli = sys.argv[1], sys.argv[2]
store = os.path.join(mirror, "zarr", "v1.1")
YEAR = 2024
rng = np.random.default_rng(0)


def best(f, n=3):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return min(out)


import geotessera  # noqa: E402
import geotessera.registry as R  # noqa: E402
import geotessera_rs  # noqa: E402
from geotessera.store import GeoTesseraZarr as RefZarr  # noqa: E402

rows = []


def report(name, ours, ref, target):
    rows.append((name, ours, ref))
    print(
        f"{name:<46} ours {ours:8.3f} s   reference {ref:8.3f} s   "
        f"{ref / ours:6.1f}x (target >= {target}x)"
    )


# 1. Zarr points, cold: a new store object each run (metadata re-read, nothing cached).
pts = list(zip(rng.uniform(0.12, 0.28, 1000), rng.uniform(51.42, 51.48, 1000), strict=True))
ours = best(lambda: geotessera_rs.GeoTesseraZarr(store).sample_points(pts, YEAR))
ref = best(lambda: RefZarr(store).sample_points(pts, YEAR))
a = geotessera_rs.GeoTesseraZarr(store).sample_points(pts, YEAR)
assert np.array_equal(a, RefZarr(store).sample_points(pts, YEAR), equal_nan=True)
report("GeoTesseraZarr.sample_points, 1,000 points", ours, ref, 5)

# 2. A 0.1-degree region, cold.
bbox = (0.15, 51.4, 0.25, 51.5)
ours = best(lambda: geotessera_rs.GeoTesseraZarr(store).read_region(bbox, YEAR))
ref = best(lambda: RefZarr(store).read_region(bbox, YEAR))
report("GeoTesseraZarr.read_region, 0.1 degree", ours, ref, 5)

# 3 and 4 over local tiles: both read the same embeddings_dir, downloaded once.
base = "file://" + mirror
tiles = tempfile.mkdtemp(prefix="bench-tiles-")
for d in (tiles, tiles + "-c", tiles + "-rc"):
    atexit.register(shutil.rmtree, d, ignore_errors=True)
gt = geotessera_rs.GeoTessera(embeddings_dir=tiles, cache_dir=tiles + "-c", mirror=mirror)
for lon in (0.15, 0.25):
    gt.download_tile(lon, 51.45, YEAR)
R.TESSERA_MIRROR_URL = "http://127.0.0.1:1"  # the reference must not reach out
ref_gt = geotessera.GeoTessera(
    embeddings_dir=tiles,
    registry_dir=os.path.join(mirror, "npy", "v1.1-cam"),
    cache_dir=tiles + "-rc",
)
big = np.column_stack([rng.uniform(0.11, 0.29, 100_000), rng.uniform(51.41, 51.49, 100_000)])
big_list = [tuple(p) for p in big]
ours = best(lambda: gt.sample_embeddings_at_points(big_list, YEAR, auto_download=False))
ref = best(lambda: ref_gt.sample_embeddings_at_points(big_list, YEAR, auto_download=False), n=1)
report("GeoTessera.sample_embeddings_at_points, 100k", ours, ref, 5)
py_sample = ours

ours = best(lambda: gt.fetch_embedding(0.15, 51.45, YEAR))
ref = best(lambda: ref_gt.fetch_embedding(0.15, 51.45, YEAR))
report("GeoTessera.fetch_embedding (tile on disk)", ours, ref, 5)

# Our Python call against our CLI doing the same sampling (a whole process, CSV in, NPY out).
csv = os.path.join(tiles, "points.csv")
np.savetxt(csv, big, delimiter=",", header="lon,lat", comments="", fmt="%.7f")
out = os.path.join(tiles, "out.npy")
cmd = [
    cli,
    "sample",
    "--mirror",
    mirror,
    "--tiles",
    tiles,
    "--offline",
    "--points",
    csv,
    "--year",
    str(YEAR),
    "-o",
    out,
    "-q",
]
t_cli = best(lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL))
parse = best(lambda: np.loadtxt(csv, delimiter=",", skiprows=1))
t_py = best(
    lambda: np.save(
        out,
        gt.sample_embeddings_at_points(
            np.loadtxt(csv, delimiter=",", skiprows=1), YEAR, auto_download=False
        ),
    )
)
print(
    f"{'sampling 100k points, CSV to NPY':<46} python {t_py:8.3f} s   cli {t_cli:8.3f} s   "
    f"python/cli {t_py / t_cli:5.2f} (target <= 1.05; CSV parsing in NumPy {parse:.3f} s)"
)
print(f"{'the sampling call alone':<46} python {py_sample:8.3f} s")
