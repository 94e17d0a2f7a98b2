#!/usr/bin/env bash
# Benchmark: per-tile GeoTIFF export throughput (MB/s of float32 in and of GeoTIFF out)
# for each compression, against dequantising and writing the same float32 bytes raw, in
# the same run, over three synthetic tiles (1.3 GB of float32).
# Usage: bench/export.sh   (env: COMPRESS=none,zstd:1,... to choose)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/tessera-bench-export}
cargo build -q --release -p tessera-cli
[ -f "$WORK/mirror/npy/v1.1-cam/manifest.parquet" ] || target/release/tessera mirror synth -o "$WORK/mirror" --bbox=0.01,51.41,0.29,51.49 --years 2024 --missing-rate 0 >/dev/null
cargo bench -q -p tessera-client --bench export -- "$WORK/mirror"
