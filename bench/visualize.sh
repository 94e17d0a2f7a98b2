#!/usr/bin/env bash
# Benchmark: PCA false colour of a 3x3-tile region, `tessera visualize` against the
# reference's `geotessera visualize` (geotessera 0.11, scikit-learn, rasterio) on the same
# NPY tiles, in one run, with each one's peak memory (max RSS from /usr/bin/time-like
# accounting in Python's resource module).
# Target: ours at least 10x faster.
# Usage: GEOTESSERA_PYTHON=/path/to/python3.12-with-geotessera bench/visualize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/pca_region.sh
for crs in EPSG:3857 EPSG:32631; do
  rm -f "$WORK"/ref.tif "$WORK"/ours.tif
  read -r t_ref m_ref < <(measure "$REF_CLI" visualize "$WORK/tiles" "$WORK/ref.tif" --crs "$crs")
  read -r t_ours m_ours < <(measure "$BIN" visualize "$WORK/tiles" "$WORK/ours.tif" --crs "$crs" -q)
  printf "visualize %d tiles -> %s:\n" "$n" "$crs"
  printf "  geotessera 0.11: %7.2f s  peak %5d MiB\n" "$t_ref" "$m_ref"
  printf "  tessera:         %7.2f s  peak %5d MiB   %5.1fx faster (target >= 10x)\n" "$t_ours" "$m_ours" "$(echo "$t_ref / $t_ours" | bc -l)"
done
