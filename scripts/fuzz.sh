#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of untrusted bytes (NPY, TIFF/GeoTIFF, Parquet
# manifests and points, Zarr metadata, chunks and shard indexes, GeoJSON/CSV points, bbox
# and tile strings, fault rules): builds the libFuzzer targets in fuzz/ with coverage
# instrumentation (into fuzz/target, apart from the main build) and runs each for a bounded
# time from its committed corpus (fuzz/corpus/<target>/) and past crashes
# (fuzz/regressions/<target>/). Fails on any panic, abort, hang (-timeout) or memory past
# -rss_limit_mb; the crashing input is left in fuzz/artifacts/<target>/.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]   (default 20 s, every target)
# Env:   FUZZ_JOBS      targets run at once (default: the number of CPUs, at most 2)
#        FUZZ_ASAN=1    also AddressSanitizer (needs a nightly toolchain: cargo +nightly)
#        FUZZ_SEED      libFuzzer's seed (default 1, so a CI run repeats the same mutations;
#                       set another to explore). Hangs count past 25 s an input (a known slow
#                       Parquet footer takes about 6 s under the fuzzer: fuzz/known/).
#        FUZZ_CARGO_ARGS  extra arguments for the build (e.g. --timings)
# Runs on the stable toolchain; no cargo-fuzz install needed (same flags as cargo fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
shift || true
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
jobs=${FUZZ_JOBS:-$(nproc)}
[ "$jobs" -gt 2 ] && [ -z "${FUZZ_JOBS:-}" ] && jobs=2

toolchain=()
target_dir=fuzz/target
flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
flags+=" -Cllvm-args=-sanitizer-coverage-pc-table"
flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
if [ "${FUZZ_ASAN:-0}" = 1 ]; then
  toolchain=(+nightly)
  flags+=" -Zsanitizer=address"
  target_dir=fuzz/target/asan
fi
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (as cargo fuzz).
host=$(rustc "${toolchain[@]}" -vV | sed -n 's/^host: //p')
# The main lock file pins the same versions as the main build (cargo adds libfuzzer-sys).
cp Cargo.lock fuzz/Cargo.lock
start=$(date +%s)
# shellcheck disable=SC2086 # FUZZ_CARGO_ARGS is a list of words
RUSTFLAGS="$flags" cargo "${toolchain[@]}" build --release --bins ${FUZZ_CARGO_ARGS:-} \
  --manifest-path fuzz/Cargo.toml --target-dir "$target_dir" --target "$host"
echo "fuzz: built the targets in $(($(date +%s) - start)) s" >&2

export FUZZ_BIN="$target_dir/$host/release" FUZZ_SECS="$secs"
run_one() {
  local t=$1 max_len=8192
  case $t in tiff | manifest | points_parquet) max_len=65536 ;; esac
  local work="fuzz/target/work/$t" log="fuzz/target/logs/$t.log"
  mkdir -p "$work" "fuzz/artifacts/$t" "$(dirname "$log")"
  local dirs=("$work" "fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
  # New inputs go to the scratch corpus (first folder); the committed ones are only read.
  if "$FUZZ_BIN/$t" -max_total_time="$FUZZ_SECS" -seed="${FUZZ_SEED:-1}" -timeout=25 -rss_limit_mb=2048 \
    -malloc_limit_mb=2048 -max_len="$max_len" -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$t/" "${dirs[@]}" >"$log" 2>&1; then
    echo "fuzz: $t ok, $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") runs" >&2
  else
    echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/; the log ends:" >&2
    tail -n 40 "$log" >&2
    return 1
  fi
}
export -f run_one
start=$(date +%s)
if printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'; then
  echo "fuzz: ${#targets[@]} targets, ${secs} s each, no crash ($(($(date +%s) - start)) s)" >&2
else
  echo "fuzz: crashes found; fix them and commit each input under fuzz/regressions/<target>/" >&2
  exit 1
fi
