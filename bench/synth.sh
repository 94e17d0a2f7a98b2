#!/usr/bin/env bash
# Benchmark: synthetic mirror generation. One tile-year on one core (stage by stage), then a
# whole mirror with all cores (MB/s and tiles/s), against writing the same number of bytes
# with dd in the same run (the disk's own limit).
# Usage: bench/synth.sh   (env: BBOX, YEARS, DATASETS, WORK)
set -euo pipefail
cd "$(dirname "$0")/.."
BBOX=${BBOX:--0.2,51.4,0.2,51.6}
YEARS=${YEARS:-2024}
DATASETS=${DATASETS:-v1.1-cam}
WORK=${WORK:-$(mktemp -d)}
cargo build -q --release -p tessera-cli
taskset -c 0 cargo bench -q -p tessera-synth --bench synth_tile 2>/dev/null || cargo bench -q -p tessera-synth --bench synth_tile
rm -rf "$WORK/mirror"
s=$(date +%s.%N)
json=$(target/release/tessera mirror synth -o "$WORK/mirror" --bbox="$BBOX" --years "$YEARS" --datasets "$DATASETS" --json)
e=$(date +%s.%N)
bytes=$(echo "$json" | python3 -c 'import sys,json; print(json.load(sys.stdin)["bytes"])')
tiles=$(echo "$json" | python3 -c 'import sys,json; d=json.load(sys.stdin); print(sum(d["tile_years"].values()))')
t=$(echo "$e - $s" | bc -l)
mb=$(echo "$bytes / 1000000" | bc -l)
printf "mirror synth (%s cores): %d tile-years, %.0f MB in %.2f s: %.0f MB/s, %.2f tile-years/s\n" "$(nproc)" "$tiles" "$mb" "$t" "$(echo "$mb / $t" | bc -l)" "$(echo "$tiles / $t" | bc -l)"
s=$(date +%s.%N)
dd if=/dev/zero of="$WORK/dd.bin" bs=1M count=$(( bytes / 1048576 )) conv=fsync status=none
e=$(date +%s.%N)
tdd=$(echo "$e - $s" | bc -l)
printf "dd of the same bytes:    %.2f s: %.0f MB/s  (synth runs at %.0f%% of raw disk writes)\n" "$tdd" "$(echo "$mb / $tdd" | bc -l)" "$(echo "100 * $tdd / $t" | bc -l)"
rm -rf "$WORK/mirror" "$WORK/dd.bin"
