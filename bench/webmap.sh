#!/usr/bin/env bash
# Benchmark: web tiles of the PCA picture of a 3x3-tile region, zooms 8-15, `tessera webmap`
# against the reference's `geotessera webmap` (geotessera 0.11, which runs GDAL's
# gdal2tiles.py: Debian gdal-bin and python3-gdal) on the same picture, in one run, with each
# one's peak memory (the largest max RSS among the command and its children).
# Target: ours at least 10x faster.
# Usage: GEOTESSERA_PYTHON=/path/to/python3.12-with-geotessera bench/webmap.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/tessera-bench-visualize}
BBOX="0.01,51.31,0.29,51.59"   # 3 x 3 tiles in UTM zone 31
ZOOMS=(--min-zoom "${MIN_ZOOM:-8}" --max-zoom "${MAX_ZOOM:-15}")
: "${GEOTESSERA_PYTHON:?set GEOTESSERA_PYTHON to a Python 3.12 with geotessera==0.11.0 installed}"
command -v gdal2tiles.py >/dev/null || { echo "gdal2tiles.py not found (Debian: apt-get install gdal-bin python3-gdal)" >&2; exit 1; }
cargo build -q --release -p tessera-cli
BIN=$PWD/target/release/tessera
mkdir -p "$WORK"
[ -f "$WORK/mirror/npy/v1.1/manifest.parquet" ] || "$BIN" mirror synth -o "$WORK/mirror" --bbox="$BBOX" --years 2024 --missing-rate 0 -q >/dev/null
[ -d "$WORK/tiles/global_0.1_degree_representation" ] || "$BIN" --mirror "$WORK/mirror" -q download --bbox="$BBOX" --year 2024 -f npy -o "$WORK/tiles" >/dev/null
[ -f "$WORK/pca_3857.tif" ] || "$BIN" -q visualize "$WORK/tiles" "$WORK/pca_3857.tif" --no-quicklook
measure() {
  "$GEOTESSERA_PYTHON" - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
dt = time.perf_counter() - t
print(f"{dt:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}")
PY
}
REF_CLI=$(dirname "$GEOTESSERA_PYTHON")/geotessera
rm -rf "$WORK/webmap_ref" "$WORK/webmap_ours"
read -r t_ref m_ref < <(measure "$REF_CLI" webmap "$WORK/pca_3857.tif" -o "$WORK/webmap_ref" "${ZOOMS[@]}")
read -r t_ours m_ours < <(measure "$BIN" -q webmap "$WORK/pca_3857.tif" -o "$WORK/webmap_ours" "${ZOOMS[@]}")
n_ref=$(find "$WORK/webmap_ref" -name '*.png' -path '*/1[0-9]/*' -o -name '*.png' -path '*/[89]/*' | wc -l)
n_ours=$(find "$WORK/webmap_ours/tiles" -name '*.png' | wc -l)
printf "webmap zooms %s-%s of a %s picture:\n" "${ZOOMS[1]}" "${ZOOMS[3]}" "$(du -h "$WORK/pca_3857.tif" | cut -f1)"
printf "  geotessera 0.11 (gdal2tiles): %7.2f s  peak %5d MiB  %6d tiles\n" "$t_ref" "$m_ref" "$n_ref"
printf "  tessera:                      %7.2f s  peak %5d MiB  %6d tiles   %5.1fx faster (target >= 10x)\n" "$t_ours" "$m_ours" "$n_ours" "$(echo "$t_ref / $t_ours" | bc -l)"
