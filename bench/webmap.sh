#!/usr/bin/env bash
# Benchmark: web tiles of the PCA picture of a 3x3-tile region, zooms 8-15, `tessera webmap`
# against the reference's `geotessera webmap` (geotessera 0.11, which runs GDAL's
# gdal2tiles.py: Debian gdal-bin and python3-gdal) on the same picture, in one run, with each
# one's peak memory (the largest max RSS among the command and its children).
# Target: ours at least 10x faster.
# Usage: GEOTESSERA_PYTHON=/path/to/python3.12-with-geotessera bench/webmap.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ZOOMS=(--min-zoom "${MIN_ZOOM:-8}" --max-zoom "${MAX_ZOOM:-15}")
command -v gdal2tiles.py >/dev/null || { echo "gdal2tiles.py not found (Debian: apt-get install gdal-bin python3-gdal)" >&2; exit 1; }
. bench/pca_region.sh
[ -f "$WORK/pca_3857.tif" ] || "$BIN" -q visualize "$WORK/tiles" "$WORK/pca_3857.tif" --no-quicklook
rm -rf "$WORK/webmap_ref" "$WORK/webmap_ours"
read -r t_ref m_ref < <(measure "$REF_CLI" webmap "$WORK/pca_3857.tif" -o "$WORK/webmap_ref" "${ZOOMS[@]}")
read -r t_ours m_ours < <(measure "$BIN" -q webmap "$WORK/pca_3857.tif" -o "$WORK/webmap_ours" "${ZOOMS[@]}")
n_ref=$(find "$WORK/webmap_ref" -name '*.png' -path '*/1[0-9]/*' -o -name '*.png' -path '*/[89]/*' | wc -l)
n_ours=$(find "$WORK/webmap_ours/tiles" -name '*.png' | wc -l)
printf "webmap zooms %s-%s of a %s picture:\n" "${ZOOMS[1]}" "${ZOOMS[3]}" "$(du -h "$WORK/pca_3857.tif" | cut -f1)"
printf "  geotessera 0.11 (gdal2tiles): %7.2f s  peak %5d MiB  %6d tiles\n" "$t_ref" "$m_ref" "$n_ref"
printf "  tessera:                      %7.2f s  peak %5d MiB  %6d tiles   %5.1fx faster (target >= 10x)\n" "$t_ours" "$m_ours" "$n_ours" "$(echo "$t_ref / $t_ours" | bc -l)"
