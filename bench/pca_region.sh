# Sourced by bench/visualize.sh and bench/webmap.sh: the release binary (BIN), a synthetic
# 3x3-tile region in UTM zone 31 as NPY tiles under $WORK/tiles (n of them), the reference's
# CLI (REF_CLI) and `measure CMD...`, which prints a command's wall time and peak RSS.
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
