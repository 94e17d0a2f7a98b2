#!/usr/bin/env bash
# Redraws the README's pictures in docs/pictures from synthetic data, with the tool itself:
#   coverage.png  `tessera coverage` of a synthetic 200,000-row manifest, over Europe
#   globe.png     globe.html of the same coverage, served by `tessera serve`, in Chromium
#   webmap.png    viewer.html of `tessera webmap` of a PCA picture of 3x3 synthetic tiles
# Screenshots: tests/browser/check_page.py (Playwright with Debian's /usr/bin/chromium).
# Env: TESSERA_BIN (default target/release/tessera, built when missing), TESSERA_PYTHON (a
# Python with numpy, pyarrow and playwright; default .venv/bin/python), WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TESSERA_BIN:-target/release/tessera}
[ -x "$BIN" ] || cargo build -q --release -p tessera-cli
PY=${TESSERA_PYTHON:-.venv/bin/python}
WORK=${WORK:-$(mktemp -d)}
OUT=docs/pictures
mkdir -p "$OUT" "$WORK/reg"

serve_and_shoot() { # dir page out.png extra-args...
  local dir=$1 page=$2 png=$3; shift 3
  "$BIN" serve "$dir" --port 0 > "$WORK/serve.out" 2>&1 &
  local pid=$!
  local url=""
  for _ in $(seq 100); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/serve.out" | head -1 || true)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { kill "$pid"; echo "serve did not start: $(cat "$WORK/serve.out")" >&2; exit 1; }
  "$PY" tests/browser/check_page.py "$url/$page" --screenshot "$png" "$@" > "$WORK/check.json" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  "$PY" - "$WORK/check.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
bad = r["console_errors"] or r["external_requests"] or not r["screenshot_nonblank"]
print(json.dumps({k: r[k] for k in ("console_errors", "external_requests", "screenshot_nonblank")}))
sys.exit(1 if bad else 0)
PY
}

# Coverage: the PNG over Europe, and the global files and globe beside it.
"$PY" bench/coverage_manifest.py "$WORK/reg" 200000
# (the JSON files, textures and globe go beside the PNG, so it is drawn in $WORK)
mkdir -p "$WORK/europe"
"$BIN" -q coverage --registry-dir "$WORK/reg" --bbox -11,35,30,60 --width 1200 -o "$WORK/europe/coverage.png"
cp "$WORK/europe/coverage.png" "$OUT/coverage.png"
"$BIN" -q coverage --registry-dir "$WORK/reg" -o "$WORK/coverage/"
serve_and_shoot "$WORK/coverage" globe.html "$OUT/globe.png" --webgl --settle-ms 4000

# A web map of the PCA picture of 3x3 synthetic tiles.
BBOX="0.01,51.31,0.29,51.59"
"$BIN" mirror synth -o "$WORK/mirror" --bbox="$BBOX" --years 2024 --missing-rate 0 -q >/dev/null
"$BIN" --mirror "$WORK/mirror" -q download --bbox="$BBOX" --year 2024 -f npy -o "$WORK/tiles"
"$BIN" -q visualize "$WORK/tiles" "$WORK/pca.tif" --no-quicklook
"$BIN" -q webmap "$WORK/pca.tif" -o "$WORK/webmap" --min-zoom 9 --max-zoom 13 --initial-zoom 11
serve_and_shoot "$WORK/webmap" viewer.html "$OUT/webmap.png" --wait-for-tiles 4
ls -l "$OUT"
