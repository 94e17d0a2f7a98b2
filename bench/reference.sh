#!/usr/bin/env bash
# Benchmark: a 3-tile download + per-tile GeoTIFF export from `tessera mirror serve`,
# `tessera download` against the Python reference (`geotessera download --source tiles
# --format tiff`, geotessera 0.11 pointed at the same server) in the same run.
# Target: ours at least 10x faster. The reference writes LZW; ours defaults to ZSTD
# (level 1, floating-point predictor), so ours is also run with --compress lzw.
# Usage: GEOTESSERA_PYTHON=/path/to/python3.12-with-geotessera bench/reference.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/tessera-bench-reference}
BBOX="0.01,51.41,0.29,51.49"
: "${GEOTESSERA_PYTHON:?set GEOTESSERA_PYTHON to a Python 3.12 with geotessera==0.11.0 installed}"
cargo build -q --release -p tessera-cli
BIN=$PWD/target/release/tessera
mkdir -p "$WORK"
[ -f "$WORK/mirror/npy/v1/manifest.parquet" ] || "$BIN" mirror synth -o "$WORK/mirror" --bbox="$BBOX" --years 2024 --datasets v1 --missing-rate 0 >/dev/null
"$BIN" mirror serve "$WORK/mirror" --addr 127.0.0.1:18302 >/dev/null & SRV=$!
trap 'kill $SRV 2>/dev/null || true' EXIT
sleep 1
URL=http://127.0.0.1:18302
cat > "$WORK/ref.py" <<'PY'
import sys
import geotessera.registry as R
base = sys.argv[1]
R.TESSERA_MIRROR_URL, R.TESSERA_NPY_MIRROR_URL, R.TESSERA_LANDMASKS_MIRROR_URL = base, base + "/npy", base + "/landmasks"
from geotessera.cli import app
app(sys.argv[2:], standalone_mode=False)
PY
timeit() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
rm -rf "$WORK/ref" "$WORK/refcache"
t_ref=$(XDG_CACHE_HOME="$WORK/refcache" timeit "$GEOTESSERA_PYTHON" "$WORK/ref.py" "$URL" download --bbox="$BBOX" --year 2024 --format tiff --source tiles --dataset-version v1 -o "$WORK/ref")
n_ref=$(find "$WORK/ref" -name '*_2024.tiff' | wc -l)
ours() { rm -rf "$WORK/ours" "$WORK/cache"; timeit "$BIN" download --mirror "$URL" --cache-dir "$WORK/cache" --bbox="$BBOX" --year 2024 --dataset-version v1 --source tiles -o "$WORK/ours" "$@"; }
t_ours=$(ours); n_ours=$(find "$WORK/ours" -name '*_2024.tiff' | wc -l); s_ours=$(du -cb $(find "$WORK/ours" -name '*_2024.tiff') | tail -1 | cut -f1)
t_lzw=$(ours --compress lzw); s_lzw=$(du -cb $(find "$WORK/ours" -name '*_2024.tiff') | tail -1 | cut -f1)
t_none=$(ours --compress none)
s_ref=$(du -cb $(find "$WORK/ref" -name '*_2024.tiff') | tail -1 | cut -f1)
printf "3-tile download + GeoTIFF export (%d/%d files):\n" "$n_ref" "$n_ours"
printf "  geotessera 0.11 (LZW):          %6.2f s  %5.0f MB of GeoTIFF\n" "$t_ref" "$(echo "$s_ref/1000000" | bc -l)"
printf "  tessera, default (ZSTD level 1): %6.2f s  %5.0f MB   %5.1fx faster (target >= 10x)\n" "$t_ours" "$(echo "$s_ours/1000000" | bc -l)" "$(echo "$t_ref / $t_ours" | bc -l)"
printf "  tessera --compress lzw:          %6.2f s  %5.0f MB   %5.1fx faster\n" "$t_lzw" "$(echo "$s_lzw/1000000" | bc -l)" "$(echo "$t_ref / $t_lzw" | bc -l)"
printf "  tessera --compress none:         %6.2f s            %5.1fx faster\n" "$t_none" "$(echo "$t_ref / $t_none" | bc -l)"
