#!/usr/bin/env bash
# Benchmark: the Python package (geotessera_rs, release build) against geotessera 0.11 on
# the same synthetic mirror, in one run: Zarr points (1,000, cold) and a 0.1-degree region
# (cold), 100,000 points over local tiles, fetch_embedding; and our Python call against our
# CLI doing the same sampling. Targets: >= 5x the reference; Python within 5% of the CLI.
# Uses the test venv (.venv-py, made by scripts/test-python.sh); rebuilds its extension in
# release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/tessera-bench-python}
venv=${TESSERA_PY_VENV:-.venv-py}
case $venv in /*) ;; *) venv="$PWD/$venv" ;; esac
[ -x "$venv/bin/python" ] || ./scripts/test-python.sh --co -q >/dev/null
cargo build -q --release -p tessera-cli
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" "$venv/bin/maturin" develop -q --release
BIN=$PWD/target/release/tessera
mkdir -p "$WORK"
[ -f "$WORK/mirror/zarr/v1.1/zarr.json" ] || "$BIN" mirror synth -o "$WORK/mirror" \
  --bbox=0.11,51.41,0.29,51.49 --years 2024 --zarr --missing-rate 0 -q >/dev/null
"$venv/bin/python" bench/python_api.py "$WORK/mirror" "$BIN"
