#!/usr/bin/env bash
# Benchmark: Zarr stores. (1) Build throughput of `tessera zarr build` in MB/s of input
# tiles. (2) A 0.1-degree region and (3) 1000 points read from the same store served by
# `tessera mirror serve`: ours (whole command, cold: store opened, no cached index) against
# zarr-python reading the store itself over HTTP (obstore HTTPStore; timed inside Python,
# after imports and opening) and against geotessera 0.11's GeoTesseraZarr (read_region,
# sample_points) when it is installed in that Python. Ratios are printed; outputs are
# compared for equality.
# Usage: ZARR_PYTHON=/path/to/python-with-zarr3-and-obstore bench/zarr.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/tessera-bench-zarr}
BBOX="10.0,45.0,10.2,45.2"
: "${ZARR_PYTHON:?set ZARR_PYTHON to a Python with zarr>=3 and obstore (e.g. a geotessera 0.11 venv)}"
cargo build -q --release -p tessera-cli
BIN=$PWD/target/release/tessera
mkdir -p "$WORK"
M=$WORK/mirror
[ -f "$M/npy/v1.1-cam/manifest.parquet" ] || "$BIN" mirror synth -o "$M" --bbox="$BBOX" --years 2024 --missing-rate 0 >/dev/null
now() { date +%s.%N; }
# (1) build
rm -rf "$M/zarr"
s=$(now)
build=$("$BIN" --mirror "$M" zarr build -o "$M/zarr/v1.1" --dataset-variant cambridge --json)
e=$(now)
t_build=$(echo "$e - $s" | bc -l)
in_bytes=$(find "$M/npy" -name '*.npy' -printf '%s\n' | awk '{s+=$1} END {print s}')
out_bytes=$(echo "$build" | sed 's/.*"bytes_out":\([0-9]*\).*/\1/')
echo "Build: $(echo "$in_bytes/1000000" | bc) MB of NPY tiles -> $(echo "$out_bytes/1000000" | bc) MB of shards in $(printf %.2f "$t_build") s: $(printf %.0f "$(echo "$in_bytes/1000000/$t_build" | bc -l)") MB/s of input tiles"

"$BIN" mirror serve "$M" --addr 127.0.0.1:18311 >/dev/null & SRV=$!
trap 'kill $SRV 2>/dev/null || true' EXIT
sleep 1
URL=http://127.0.0.1:18311/zarr/v1.1
# The server computes each object's MD5 (its ETag) on first access; do that before timing.
for k in $(cd "$M/zarr/v1.1" && find . -path '*/c/*' -type f | sed 's|^\./||'); do
  curl -s -o /dev/null -A bench -r 0-0 "$URL/$k"
done

# (2) region: one tile
RB="10.0,45.0,10.1,45.1"
s=$(now)
region=$("$BIN" --cache-dir "$WORK/cache-region" zarr read "$URL" --bbox "$RB" --year 2024 -o "$WORK/ours_region.npy" --json)
e=$(now)
rm -rf "$WORK/cache-region"
t_ours_region=$(echo "$e - $s" | bc -l)

# (3) points
"$ZARR_PYTHON" - "$WORK/points.csv" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(3)
lon = rng.uniform(10.0, 10.2, 1000); lat = rng.uniform(45.0, 45.2, 1000)
with open(sys.argv[1], "w") as f:
    f.write("lon,lat\n")
    for a, b in zip(lon, lat):
        f.write(f"{float(a)!r},{float(b)!r}\n")
PY
s=$(now)
points=$("$BIN" --cache-dir "$WORK/cache-points" sample --source zarr --store "$URL" --points "$WORK/points.csv" --year 2024 -o "$WORK/ours_points.npy" --json)
e=$(now)
rm -rf "$WORK/cache-points"
t_ours_points=$(echo "$e - $s" | bc -l)

cat > "$WORK/zp.py" <<'PY'
import json, sys, time
import numpy as np
import obstore, zarr
from zarr.storage import ObjectStore
url, region, work = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
store = ObjectStore(obstore.store.HTTPStore.from_url(url, client_options={"allow_http": True}), read_only=True)
root = zarr.open_group(store, mode="r", zarr_format=3)
z = region["zone"]; g = root[f"utm{z:02d}"]
t = [int(v) for v in g["time"][:]].index(2024)
w = region["window"]
r0, c0, h, wd = w["row"], w["col"], w["height"], w["width"]
s = time.perf_counter()
emb = g["embeddings"][t, :, r0:r0 + h, c0:c0 + wd]
sc = g["scales"][t, r0:r0 + h, c0:c0 + wd]
ok = np.isfinite(sc)
out = emb.astype(np.float32) * np.where(ok, sc, 0)[None]
out[:, ~ok] = np.nan
out = out.transpose(1, 2, 0)
t_region = time.perf_counter() - s
same = np.array_equal(np.nan_to_num(out, nan=-7), np.nan_to_num(np.load(f"{work}/ours_region.npy"), nan=-7))
# points: the pixel nearest each point in the zone of its longitude, as the reference
# routes them, read with vindex.
from pyproj import Transformer
pts = np.loadtxt(f"{work}/points.csv", delimiter=",", skiprows=1)
tr = g.attrs["spatial:transform"]
fwd = Transformer.from_crs("EPSG:4326", f"EPSG:{32600 + z}", always_xy=True)
s = time.perf_counter()
e, n = fwd.transform(pts[:, 0], pts[:, 1])
col = np.ceil((e - tr[2]) / 10).astype(int) - 1
row = np.ceil((tr[5] - n) / 10).astype(int) - 1
tt = np.full(len(pts), t)
q = g["embeddings"].vindex[tt[:, None], np.arange(128)[None, :], row[:, None], col[:, None]]
sv = g["scales"].vindex[tt, row, col]
vals = q.astype(np.float32) * sv[:, None]
t_points = time.perf_counter() - s
ours = np.load(f"{work}/ours_points.npy")
pts_same = np.array_equal(np.nan_to_num(vals, nan=-7), np.nan_to_num(ours, nan=-7))
res = dict(zp_region=t_region, zp_region_same=bool(same), zp_points=t_points, zp_points_same=bool(pts_same))
try:
    from geotessera.store import GeoTesseraZarr
    c = GeoTesseraZarr(store)
    bb = tuple(float(v) for v in sys.argv[4].split(","))
    s = time.perf_counter(); m, _, _ = c.read_region(bb, 2024); res["gt_region"] = time.perf_counter() - s
    res["gt_region_same"] = bool(np.array_equal(np.nan_to_num(m, nan=-7), np.nan_to_num(np.load(f"{work}/ours_region.npy"), nan=-7)))
    s = time.perf_counter(); v = c.sample_points(list(map(tuple, pts)), 2024); res["gt_points"] = time.perf_counter() - s
    res["gt_points_same"] = bool(np.array_equal(np.nan_to_num(v, nan=-7), np.nan_to_num(ours, nan=-7)))
except ImportError:
    pass
print(json.dumps(res))
PY
py=$("$ZARR_PYTHON" "$WORK/zp.py" "$URL" "$region" "$WORK" "$RB")
get() { echo "$py" | sed "s/.*\"$1\": \([^,}]*\).*/\1/"; }
req=$(echo "$region" | sed 's/.*"requests":\([0-9]*\).*/\1/')
mb=$(echo "$region" | sed 's/.*"bytes":\([0-9]*\).*/\1/')
printf "0.1-degree region (%s, float32 out), cold:\n" "$(echo "$region" | sed 's/.*"window":\({[^}]*}\).*/\1/')"
rs=$(echo "$region" | sed 's/.*"seconds_read":\([0-9.]*\).*/\1/')
printf "  tessera zarr read (whole command):   %6.3f s  %d requests, %.1f MB (writing the %s MB NPY included)\n" "$t_ours_region" "$req" "$(echo "$mb/1000000" | bc -l)" "$(($(stat -c %s "$WORK/ours_region.npy")/1000000))"
printf "  tessera, open + read + dequantise:   %6.3f s  (the part the Python timings cover, and more)\n" "$rs"
t_ours_region=$rs
printf "  zarr-python slice + dequantise:      %6.3f s  -> %.1fx (identical: %s)\n" "$(get zp_region)" "$(echo "$(get zp_region) / $t_ours_region" | bc -l)" "$(get zp_region_same)"
if echo "$py" | grep -q gt_region; then
printf "  geotessera GeoTesseraZarr.read_region:%6.3f s  -> %.1fx (identical: %s)\n" "$(get gt_region)" "$(echo "$(get gt_region) / $t_ours_region" | bc -l)" "$(get gt_region_same)"
fi
preq=$(echo "$points" | sed 's/.*"requests":\([0-9]*\).*/\1/')
printf "1000 points, cold:\n"
printf "  tessera sample --source zarr (whole command): %6.3f s  %d requests\n" "$t_ours_points" "$preq"
printf "  zarr-python vindex + dequantise:              %6.3f s  -> %.1fx (identical: %s)\n" "$(get zp_points)" "$(echo "$(get zp_points) / $t_ours_points" | bc -l)" "$(get zp_points_same)"
if echo "$py" | grep -q gt_points; then
printf "  geotessera GeoTesseraZarr.sample_points:      %6.3f s  -> %.1fx (identical: %s)\n" "$(get gt_points)" "$(echo "$(get gt_points) / $t_ours_points" | bc -l)" "$(get gt_points_same)"
fi
