#!/usr/bin/env bash
# Benchmark: a 2-million-row manifest, loaded and answering a bbox + year query, as a
# whole process. Ours (`tessera manifest`) against, in the same run:
#   - the Python reference (geotessera 0.11 Registry + load_blocks_for_region), when
#     GEOTESSERA_PYTHON points to a Python with geotessera installed;
#   - pyarrow + pandas reading the same columns and filtering (a lower bound for Python).
# Usage: bench/manifest_query.sh   (env: ROWS=2000000, RUNS=5, GEOTESSERA_PYTHON, TESSERA_PYTHON)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-2000000}
RUNS=${RUNS:-5}
PY=${TESSERA_PYTHON:-python3}
WORK=${WORK:-$(mktemp -d)}
cargo build -q --release -p tessera-cli
BIN=target/release/tessera

"$PY" - "$WORK/manifest.parquet" "$ROWS" <<'PYEOF'
import sys, numpy as np, pandas as pd
path, rows = sys.argv[1], int(sys.argv[2])
years = np.arange(2017, 2025)
n_tiles = rows // len(years)
rng = np.random.default_rng(0)
# Tile centres on land-like bands of the globe, unique, sorted like s3scan output.
cells = set()
while len(cells) < n_tiles:
    lon = rng.integers(-1800, 1800, n_tiles); lat = rng.integers(-560, 720, n_tiles)
    cells.update(zip(lon.tolist(), lat.tolist()))
cells = sorted(cells)[:n_tiles]
lon_i = np.array([c[0] * 10 + 5 for c in cells], np.int32); lat_i = np.array([c[1] * 10 + 5 for c in cells], np.int32)
frames = []
for y in years:
    lon = lon_i / 100.0; lat = lat_i / 100.0
    d = [f"s3://tessera/tessera/npy/v1/{y}/grid_{a:.2f}_{b:.2f}" for a, b in zip(lon, lat)]
    frames.append(pd.DataFrame(dict(version="1.0", variant="vultr", year=np.int64(y), lon=lon, lat=lat,
        directory=d, grid_path=[p + "/x.npy" for p in d], scales_path=[p + "/x_scales.npy" for p in d],
        grid_mtime=pd.Timestamp("2025-06-01", tz="UTC"), scales_mtime=pd.Timestamp("2025-06-01", tz="UTC"),
        grid_size=rng.integers(90_000_000, 160_000_000, len(lon)), scales_size=rng.integers(3_000_000, 5_000_000, len(lon)),
        lon_i=lon_i, lat_i=lat_i)))
df = pd.concat(frames).sort_values(["version", "variant", "year", "lon", "lat"])
df.to_parquet(path, index=False)
print(f"manifest: {len(df)} rows, {len(cells)} tiles x {len(years)} years")
PYEOF
ls -l "$WORK/manifest.parquet" | awk '{printf "size: %.1f MB\n", $5/1e6}'
BBOX="-0.1,51.3,0.1,51.5"; YEAR=2024

best() { # best wall time of RUNS runs of a command, in seconds
  local best=999
  for _ in $(seq "$RUNS"); do
    local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    best=$(echo "$e - $s" | bc -l | awk -v b="$best" '{print ($1 < b) ? $1 : b}')
  done
  echo "$best"
}

ours=$(best "$BIN" manifest "$WORK/manifest.parquet" --bbox "$BBOX" --year "$YEAR" --count)
echo "tessera manifest (whole process):        $(printf %.3f "$ours") s  -> $("$BIN" manifest "$WORK/manifest.parquet" --bbox "$BBOX" --year "$YEAR" --count) tiles"

cat > "$WORK/pyarrow_query.py" <<'PYEOF'
import sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1], columns=["lat", "lon", "year", "grid_size", "scales_size"]).to_pandas()
w, s, e, n = -0.15, 51.25, 0.15, 51.55
print(len(t[(t.year == 2024) & (t.lon >= w) & (t.lon <= e) & (t.lat >= s) & (t.lat <= n)]))
PYEOF
pa=$(best "$PY" "$WORK/pyarrow_query.py" "$WORK/manifest.parquet")
echo "pyarrow+pandas (whole process):          $(printf %.3f "$pa") s  (ratio $(echo "$pa / $ours" | bc -l | xargs printf %.1f)x)"

if [ -n "${GEOTESSERA_PYTHON:-}" ]; then
  cat > "$WORK/ref_query.py" <<'PYEOF'
import sys, tempfile
from geotessera.registry import Registry
r = Registry(version="v1", cache_dir=tempfile.mkdtemp(), registry_path=sys.argv[1])
print(len(r.load_blocks_for_region((-0.1, 51.3, 0.1, 51.5), 2024)))
PYEOF
  ref=$(best "$GEOTESSERA_PYTHON" "$WORK/ref_query.py" "$WORK/manifest.parquet")
  echo "geotessera 0.11 Registry (whole process): $(printf %.3f "$ref") s  (ratio $(echo "$ref / $ours" | bc -l | xargs printf %.1f)x)"
  echo "  reference answer: $("$GEOTESSERA_PYTHON" "$WORK/ref_query.py" "$WORK/manifest.parquet" 2>/dev/null) tiles"
else
  echo "geotessera 0.11: skipped (set GEOTESSERA_PYTHON to a Python 3.12 with geotessera==0.11.0)"
fi
echo "target: ours < 0.2 s"
