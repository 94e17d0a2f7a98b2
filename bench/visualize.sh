#!/usr/bin/env bash
# Benchmark: PCA false colour of a 3x3-tile region, `tessera visualize` against the
# reference's `geotessera visualize` (geotessera 0.11, scikit-learn, rasterio) on the same
# NPY tiles, in one run, with each one's peak memory (max RSS from /usr/bin/time-like
# accounting in Python's resource module).
# Target: ours at least 10x faster.
# Usage: GEOTESSERA_PYTHON=/path/to/python3.12-with-geotessera bench/visualize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/tessera-bench-visualize}
BBOX="0.01,51.31,0.29,51.59"   # 3 x 3 tiles in UTM zone 31
: "${GEOTESSERA_PYTHON:?set GEOTESSERA_PYTHON to a Python 3.12 with geotessera==0.11.0 installed}"
cargo build -q --release -p tessera-cli
BIN=$PWD/target/release/tessera
mkdir -p "$WORK"
[ -f "$WORK/mirror/npy/v1.1/manifest.parquet" ] || "$BIN" mirror synth -o "$WORK/mirror" --bbox="$BBOX" --years 2024 --missing-rate 0 -q >/dev/null
[ -d "$WORK/tiles/global_0.1_degree_representation" ] || "$BIN" --mirror "$WORK/mirror" -q download --bbox="$BBOX" --year 2024 -f npy -o "$WORK/tiles" >/dev/null
n=$(find "$WORK/tiles" -name 'grid_*_scales.npy' | wc -l)
# Wall time and the child's peak RSS (MiB) of a command.
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
for crs in EPSG:3857 EPSG:32631; do
  rm -f "$WORK"/ref.tif "$WORK"/ours.tif
  read -r t_ref m_ref < <(measure "$REF_CLI" visualize "$WORK/tiles" "$WORK/ref.tif" --crs "$crs")
  read -r t_ours m_ours < <(measure "$BIN" visualize "$WORK/tiles" "$WORK/ours.tif" --crs "$crs" -q)
  printf "visualize %d tiles -> %s:\n" "$n" "$crs"
  printf "  geotessera 0.11: %7.2f s  peak %5d MiB\n" "$t_ref" "$m_ref"
  printf "  tessera:         %7.2f s  peak %5d MiB   %5.1fx faster (target >= 10x)\n" "$t_ours" "$m_ours" "$(echo "$t_ref / $t_ours" | bc -l)"
done
