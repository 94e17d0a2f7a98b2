#!/usr/bin/env bash
# Benchmark: downloading a 16-tile region (48 objects, ~1.8 GB) from `tessera mirror serve`
# with `tessera download --format npy` against parallel curl fetching the same files from
# the same server, in the same run. Target: at least 70% of curl's throughput.
# Usage: bench/download.sh   (env: WORK to reuse a mirror, JOBS=8)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/tessera-bench-download}
JOBS=${JOBS:-8}
BBOX="-0.2,51.4,0.2,51.8"
cargo build -q --release -p tessera-cli
BIN=$PWD/target/release/tessera
mkdir -p "$WORK"
[ -f "$WORK/mirror/npy/v1.1-cam/manifest.parquet" ] || "$BIN" mirror synth -o "$WORK/mirror" --bbox="$BBOX" --years 2024 --missing-rate 0 >/dev/null
"$BIN" mirror serve "$WORK/mirror" --addr 127.0.0.1:18301 >/dev/null & SRV=$!
trap 'kill $SRV 2>/dev/null || true' EXIT
sleep 1
URL=http://127.0.0.1:18301
mapfile -t KEYS < <(cd "$WORK/mirror" && find npy/v1.1-cam/2024 landmasks/v1.1 -name 'grid_*' -type f | sort)
TOTAL=$(cd "$WORK/mirror" && du -cb "${KEYS[@]}" | tail -1 | cut -f1)
# Warm the server's page cache and ETag cache.
for k in "${KEYS[@]}"; do curl -s -A bench -o /dev/null "$URL/$k"; done

ours() {
  rm -rf "$WORK/out" "$WORK/cache"
  local s e; s=$(date +%s.%N)
  "$BIN" download --mirror "$URL" --cache-dir "$WORK/cache" --bbox="$BBOX" --year 2024 --format npy -o "$WORK/out" -j "$JOBS" -q
  e=$(date +%s.%N); echo "$e - $s" | bc -l
}
curls() {
  rm -rf "$WORK/curl"; mkdir -p "$WORK/curl"
  local cfg="$WORK/curl.cfg"; : > "$cfg"
  for k in "${KEYS[@]}"; do printf 'url = "%s/%s"\noutput = "%s/curl/%s"\n' "$URL" "$k" "$WORK" "${k//\//_}" >> "$cfg"; done
  local s e; s=$(date +%s.%N)
  curl -s --fail --no-progress-meter -A bench -Z --parallel-max "$JOBS" -K "$cfg"
  e=$(date +%s.%N); echo "$e - $s" | bc -l
}
best_ours=999; best_curl=999
for _ in 1 2 3; do
  t=$(ours); best_ours=$(echo "if ($t < $best_ours) $t else $best_ours" | bc -l)
  t=$(curls); best_curl=$(echo "if ($t < $best_curl) $t else $best_curl" | bc -l)
done
mb=$(echo "$TOTAL / 1000000" | bc -l)
printf "16 tiles, %d objects, %.0f MB, %d in flight (best of 3)\n" "${#KEYS[@]}" "$mb" "$JOBS"
printf "  tessera download (verified: length, MD5, CRC64NVMe): %6.2f s  %6.0f MB/s\n" "$best_ours" "$(echo "$mb / $best_ours" | bc -l)"
printf "  parallel curl (no verification):                    %6.2f s  %6.0f MB/s\n" "$best_curl" "$(echo "$mb / $best_curl" | bc -l)"
printf "  ours / curl throughput: %.0f%% (target >= 70%%)\n" "$(echo "100 * $best_curl / $best_ours" | bc -l)"
