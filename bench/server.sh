#!/usr/bin/env bash
# Benchmark: the mirror server against nginx (and Python's http.server) serving the same
# files in the same run: whole-object GETs (MB/s, 8 concurrent, curl) and 128-byte range
# GETs (requests/s, 16 connections, wrk).
# Usage: bench/server.sh   (needs curl, wrk and nginx: apt-get install nginx-light wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-$(mktemp -d)}
cargo build -q --release -p tessera-cli
BIN=$PWD/target/release/tessera
[ -d "$WORK/mirror" ] || "$BIN" mirror synth -o "$WORK/mirror" --bbox=-0.1,51.4,0.1,51.6 --years 2024 >/dev/null
chmod -R a+rX "$WORK"
mapfile -t KEYS < <(cd "$WORK/mirror" && find npy -name '*.npy' | sort)
TOTAL=$(cd "$WORK/mirror" && du -cb "${KEYS[@]}" | tail -1 | cut -f1)

"$BIN" mirror serve "$WORK/mirror" --addr 127.0.0.1:18101 >/dev/null & OURS=$!
cat > "$WORK/nginx.conf" <<NGX
worker_processes 2; daemon off; pid $WORK/nginx.pid; error_log $WORK/nginx.err;
events { worker_connections 256; }
http { access_log off; sendfile on; server { listen 127.0.0.1:18102; root $WORK/mirror; } }
NGX
nginx -c "$WORK/nginx.conf" & NGINX=$!
(cd "$WORK/mirror" && exec python3 -m http.server 18103 --bind 127.0.0.1 >/dev/null 2>&1) & PYS=$!
trap 'kill $OURS $NGINX $PYS 2>/dev/null || true' EXIT
sleep 1
# Warm the page cache and our ETag cache.
for port in 18101 18102; do for k in "${KEYS[@]}"; do curl -s -A b -o /dev/null "http://127.0.0.1:$port/$k"; done; done

whole() { # port -> seconds for all objects, 4 rounds, 8 concurrent
  local cfg="$WORK/whole.cfg"; : > "$cfg"
  for r in 1 2 3 4; do for k in "${KEYS[@]}"; do printf 'url = "http://127.0.0.1:%s/%s"\noutput = /dev/null\n' "$1" "$k" >> "$cfg"; done; done
  local s e; s=$(date +%s.%N); curl -s --fail --no-progress-meter -A bench -Z --parallel-max 8 -K "$cfg"; e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
cat > "$WORK/range.lua" <<'LUA'
local keys = {}
for k in io.lines(os.getenv("KEYFILE")) do keys[#keys + 1] = k end
math.randomseed(7)
request = function()
  local k = keys[math.random(#keys)]
  local off = 128 + 128 * math.random(0, 800000)
  return wrk.format("GET", "/" .. k, {["Range"] = "bytes=" .. off .. "-" .. (off + 127), ["User-Agent"] = "bench"})
end
LUA
printf '%s\n' "${KEYS[@]}" | grep -v scales > "$WORK/keys.txt"
ranges() { KEYFILE="$WORK/keys.txt" wrk -t2 -c16 -d5s -s "$WORK/range.lua" "http://127.0.0.1:$1" | awk '/Requests\/sec/ {print $2}'; }

mb=$(echo "$TOTAL * 4 / 1000000" | bc -l)
t_ours=$(whole 18101); t_ngx=$(whole 18102); t_py=$(whole 18103)
printf "whole-object GETs (%d objects x 4, %.0f MB, 8 concurrent):\n" "${#KEYS[@]}" "$mb"
printf "  tessera mirror serve  %7.0f MB/s\n" "$(echo "$mb / $t_ours" | bc -l)"
printf "  nginx                 %7.0f MB/s   (ours/nginx = %.2f)\n" "$(echo "$mb / $t_ngx" | bc -l)" "$(echo "$t_ngx / $t_ours" | bc -l)"
printf "  python http.server    %7.0f MB/s   (ours/python = %.2f)\n" "$(echo "$mb / $t_py" | bc -l)" "$(echo "$t_py / $t_ours" | bc -l)"
r_ours=$(ranges 18101); r_ngx=$(ranges 18102)
printf "128-byte range GETs (wrk, 16 connections, 5 s):\n"
printf "  tessera mirror serve  %9.0f req/s\n" "$r_ours"
printf "  nginx                 %9.0f req/s   (ours/nginx = %.2f)\n" "$r_ngx" "$(echo "$r_ours / $r_ngx" | bc -l)"
echo "  (python http.server does not support Range)"
