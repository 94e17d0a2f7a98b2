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

"$PY" bench/coverage_manifest.py "$WORK/reg" "$ROWS"

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
