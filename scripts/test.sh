#!/usr/bin/env bash
# Runs the whole test suite with its oracles: NumPy, pyarrow, pandas, pyproj and zarr in a
# virtual environment (.venv, created on first use from tests/requirements.txt) and
# GDAL's command-line tools (Debian: apt-get install gdal-bin). Extra arguments go to
# `cargo test`. The Python package's tests follow (scripts/test-python.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# GDAL first: nothing is installed when it is missing.
for tool in gdalinfo gdallocationinfo gdal_translate; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found; install GDAL (Debian: apt-get install gdal-bin)" >&2; exit 1; }
done
if [ -z "${TESSERA_PYTHON:-}" ]; then
  venv=${TESSERA_VENV:-.venv}
  if ! "$venv/bin/python" -c "import numpy, pyarrow, pandas, pyproj, zarr, numcodecs, sklearn, playwright" 2>/dev/null; then
    echo "setting up the test oracles in $venv (tests/requirements.txt)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r tests/requirements.txt
  fi
  export TESSERA_PYTHON="$PWD/$venv/bin/python"
fi
# The Python extension links against the interpreter that loads it: pytest tests it.
cargo test --workspace --exclude tessera-py "$@"
# The Python package (geotessera_rs): its build, lints and pytest suite.
./scripts/test-python.sh
