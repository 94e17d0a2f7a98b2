#!/usr/bin/env bash
# Benchmark: `tessera coverage` against the reference's `geotessera coverage` on the same
# 2-million-row manifest (one dataset, v1.1 cambridge, 11 years with gaps, plus a landmask
# registry), both writing the PNG, coverage.json, per-year files, texture and globe.html.
# Prints each tool's wall time and peak RSS (/usr/bin/time -v) and the time ratio.
# Usage: bench/coverage.sh   (env: ROWS=2000000, GEOTESSERA=path to the reference CLI,
#        TESSERA_PYTHON=a Python with numpy + pyarrow, WIDTH=2000, TESSERA_BIN=a built tessera)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-2000000}
WIDTH=${WIDTH:-2000}
PY=${TESSERA_PYTHON:-python3}
GEOTESSERA=${GEOTESSERA:-$(command -v geotessera || true)}
WORK=${WORK:-$(mktemp -d)}
if [ -z "${TESSERA_BIN:-}" ]; then
  cargo build -q --release -p tessera-cli
fi
BIN=${TESSERA_BIN:-${CARGO_TARGET_DIR:-target}/release/tessera}
mkdir -p "$WORK/reg"

"$PY" - "$WORK/reg" "$ROWS" <<'PYEOF'
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
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
ts = pa.array(np.full(n, 1_700_000_000_000_000_000, dtype="int64")).cast(pa.timestamp("ns", tz="UTC"))
path = pa.array(np.char.add("s3://tessera/tessera/npy/v1.1-cam/x/", np.arange(n).astype(str)))
t = pa.table({"version": pa.array(np.full(n, "1.1")), "variant": pa.array(np.full(n, "cambridge")),
    "year": year, "lon": lon, "lat": lat, "directory": path, "grid_path": path, "scales_path": path,
    "grid_mtime": ts, "scales_mtime": ts, "grid_size": np.full(n, 120_000_000, np.int64),
    "scales_size": np.full(n, 4_000_000, np.int64), "lon_i": li, "lat_i": la})
pq.write_table(t, f"{out}/manifest.parquet")
lm = np.unique(np.concatenate([cells, rng.integers(0, 3600 * 1400, n_loc // 4)]))
ml, mla = ((lm % 3600) * 10 - 17995).astype(np.int32), (7195 - (lm // 3600) * 10).astype(np.int32)
m = len(lm)
pq.write_table(pa.table({"lon": ml / 100.0, "lat": mla / 100.0, "file_size": np.full(m, 50, np.int64),
    "mtime": pa.array(np.full(m, 1_700_000_000_000_000_000, dtype="int64")).cast(pa.timestamp("ns", tz="UTC")),
    "key": pa.array(np.full(m, "s3://tessera/tessera/landmasks/v1.1/x.tiff")), "lon_i": ml, "lat_i": mla}),
    f"{out}/landmasks.parquet")
print(f"manifest: {n} rows, {len(cells)} locations; landmasks: {m}")
PYEOF

# --no-countries: the reference downloads its land layer (geodatasets), which needs a
# network; both tools then draw tiles only.
ARGS=(coverage --registry-dir "$WORK/reg" --dataset-version v1.1 --dataset-variant cambridge --width "$WIDTH" --no-countries)
measure() { # label, out dir, command...
  local label=$1 out=$2; shift 2
  /usr/bin/time -v "$@" -o "$out/" > "$WORK/$label.out" 2> "$WORK/$label.time" || {
    echo "$label failed:"; tail -20 "$WORK/$label.time"; return 1; }
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' "$WORK/$label.time" | awk '{print $NF}')
  rss=$(grep 'Maximum resident set size' "$WORK/$label.time" | awk '{print $NF}')
  echo "$label: wall $wall, peak RSS $((rss / 1024)) MiB"
  eval "${label}_WALL=\$wall"
}
secs() { awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }' <<< "$1"; }

measure ours "$WORK/ours" "$BIN" -q "${ARGS[@]}"
if [ -n "$GEOTESSERA" ]; then
  TERM=dumb measure reference "$WORK/ref" "$GEOTESSERA" "${ARGS[@]}" --cache-dir "$WORK/cache"
  o=$(secs "$ours_WALL"); r=$(secs "$reference_WALL")
  echo "time ratio (reference / ours): $(awk -v r="$r" -v o="$o" 'BEGIN { printf "%.1f", r / o }')x"
  "$PY" - "$WORK/ours" "$WORK/ref" <<'PYEOF' || true
import json, sys
a, b = (json.load(open(f"{d}/coverage.json")) for d in sys.argv[1:])
print("coverage.json equal:", a == b)
PYEOF
else
  echo "reference not run: set GEOTESSERA to the geotessera CLI (geotessera==0.11.0)"
fi
