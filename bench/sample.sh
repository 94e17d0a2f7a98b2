#!/usr/bin/env bash
# Benchmark: sampling points over 3 tiles.
#  - 100,000 points over local tiles, whole `tessera sample` process (CSV in, NPY out),
#    against geotessera 0.11's sample_embeddings_at_points on the same tiles (when
#    GEOTESSERA_PYTHON is set). Target: under 0.2 s (the reference: about 1 s).
#  - Over HTTP without local tiles: bytes fetched by range reads against the size of the
#    tiles, for 1,000 / 10,000 / 100,000 points. Target: 100x fewer bytes.
# Usage: bench/sample.sh   (env: GEOTESSERA_PYTHON, TESSERA_PYTHON with numpy)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/tessera-bench-sample}
PY=${TESSERA_PYTHON:-python3}
BBOX="0.01,51.41,0.29,51.49"
cargo build -q --release -p tessera-cli
BIN=$PWD/target/release/tessera
mkdir -p "$WORK"
[ -f "$WORK/mirror/npy/v1/manifest.parquet" ] || "$BIN" mirror synth -o "$WORK/mirror" --bbox="$BBOX" --years 2024 --datasets v1 --missing-rate 0 >/dev/null
[ -d "$WORK/tiles/global_0.1_degree_representation" ] || "$BIN" download --mirror "$WORK/mirror" --bbox="$BBOX" --year 2024 --dataset-version v1 --format npy --source tiles -o "$WORK/tiles" -q
for n in 1000 10000 100000; do
  "$PY" -c "
import numpy as np, sys
rng = np.random.default_rng(1); n = int(sys.argv[1])
lon = rng.uniform(0.0001, 0.2999, n); lat = rng.uniform(51.4001, 51.4999, n)
np.savetxt(sys.argv[2], np.c_[lon, lat], delimiter=',', header='lon,lat', comments='', fmt='%.7f')
" "$n" "$WORK/p$n.csv"
done
best() { local b=999 s e; for _ in 1 2 3 4 5; do s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); b=$(echo "if ($e - $s < $b) $e - $s else $b" | bc -l); done; echo "$b"; }
t_local=$(best "$BIN" sample --mirror "$WORK/mirror" --dataset-version v1 --points "$WORK/p100000.csv" -o "$WORK/out.npy")
t_tiles=$(best "$BIN" sample --mirror "$WORK/mirror" --dataset-version v1 --points "$WORK/p100000.csv" -o "$WORK/out2.npy" --tiles "$WORK/tiles" --offline)
printf "100,000 points over 3 local tiles, whole process (CSV in, 51 MB NPY out):\n"
printf "  tessera sample (local mirror):       %.3f s  (target < 0.2 s)\n" "$t_local"
printf "  tessera sample --tiles DIR --offline: %.3f s\n" "$t_tiles"
if [ -n "${GEOTESSERA_PYTHON:-}" ]; then
  cat > "$WORK/ref_sample.py" <<'PY'
import sys, time, numpy as np
from geotessera import GeoTessera
d, pts = sys.argv[1], sys.argv[2]
gt = GeoTessera(dataset_version="v1", embeddings_dir=d, registry_path=sys.argv[3], cache_dir=d + "/.cache")
p = np.loadtxt(pts, delimiter=",", skiprows=1)
t = time.perf_counter()
v = gt.sample_embeddings_at_points(p.tolist(), year=2024, auto_download=False)
print(f"{time.perf_counter() - t:.3f} {np.isnan(v[:, 0]).sum()}")
PY
  r=$("$GEOTESSERA_PYTHON" "$WORK/ref_sample.py" "$WORK/tiles" "$WORK/p100000.csv" "$WORK/mirror/npy/v1/manifest.parquet" 2>/dev/null | tail -1)
  printf "  geotessera 0.11 sample_embeddings_at_points (the call alone): %s s  (ratio %.1fx)\n" "${r%% *}" "$(echo "${r%% *} / $t_local" | bc -l)"
fi
"$BIN" mirror serve "$WORK/mirror" --addr 127.0.0.1:18303 >/dev/null & SRV=$!
trap 'kill $SRV 2>/dev/null || true' EXIT
sleep 1
tiles=$(du -cb "$WORK"/mirror/npy/v1/2024/*/*.npy | tail -1 | cut -f1)
printf "Over HTTP, no local tiles (3 tiles hold %.0f MB):\n" "$(echo "$tiles/1000000" | bc -l)"
for n in 1000 10000 100000; do
  j=$("$BIN" sample --mirror http://127.0.0.1:18303 --cache-dir "$WORK/cache" --dataset-version v1 --points "$WORK/p$n.csv" -o "$WORK/h.npy" --json)
  read -r bytes reqs secs < <(echo "$j" | "$PY" -c 'import sys,json; d=json.load(sys.stdin); print(d["bytes_fetched"], d["requests"], d["seconds"])')
  printf "  %6d points: %8.2f MB in %5d requests, %.2f s: %6.0fx fewer bytes than the tiles\n" "$n" "$(echo "$bytes/1000000" | bc -l)" "$reqs" "$secs" "$(echo "$tiles / $bytes" | bc -l)"
done
