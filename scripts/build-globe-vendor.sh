#!/usr/bin/env bash
# Rebuilds crates/tessera-pictures/assets/globe/globe-vendor.min.mjs: globe.gl, three and
# topojson-client bundled into one ES module (one THREE instance shared by globe.gl and
# globe.html), so the globe page makes no request outside the host that serves it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund globe.gl@2.46.1 three@0.179.0 topojson-client@3.1.0 esbuild@0.25 world-atlas@2
cat > entry.mjs <<'JS'
export { default as Globe } from 'globe.gl';
export * as THREE from 'three';
export * as topojson from 'topojson-client';
JS
node_modules/@esbuild/linux-x64/bin/esbuild entry.mjs --bundle --format=esm --minify \
  --legal-comments=eof --outfile="$here/crates/tessera-pictures/assets/globe/globe-vendor.min.mjs"
cp node_modules/world-atlas/countries-110m.json "$here/crates/tessera-pictures/assets/globe/"
echo "licences: update assets/globe/LICENSES.md from node_modules/*/LICENSE"
