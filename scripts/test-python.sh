#!/usr/bin/env bash
# The Python package's tests (python/tests): builds the extension in the dev profile into a
# virtual environment (.venv-py, sharing target/ with cargo), lints, then runs pytest,
# including the differential tests against geotessera 0.11 (which needs Python >= 3.12).
# Uses target/debug/tessera for the synthetic mirror (built here when missing).
# Environment: TESSERA_PY_PYTHON (the interpreter for the venv), TESSERA_PY_VENV.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${TESSERA_PY_VENV:-.venv-py}
case $venv in /*) ;; *) venv="$PWD/$venv" ;; esac

find_python() {
  if [ -n "${TESSERA_PY_PYTHON:-}" ]; then echo "$TESSERA_PY_PYTHON"; return; fi
  local roots=() c
  command -v pyenv >/dev/null && roots+=("$(pyenv root)/versions")
  roots+=(/root/.pyenv/versions "$HOME/.pyenv/versions")
  for c in python3.12 python3.13; do
    for r in "${roots[@]}"; do
      for p in "$r"/${c#python}*/bin/python3; do [ -x "$p" ] && { echo "$p"; return; }; done
    done
    command -v "$c" >/dev/null && { command -v "$c"; return; }
  done
  return 1
}

if ! "$venv/bin/python" -c "import geotessera, maturin, pytest, mypy" 2>/dev/null; then
  py=$(find_python) || { echo "error: no Python >= 3.12 found (geotessera 0.11, the reference of the differential tests, needs it); set TESSERA_PY_PYTHON" >&2; exit 1; }
  echo "setting up $venv with $py (python/tests/requirements.txt)" >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -r python/tests/requirements.txt
fi
[ -x target/debug/tessera ] || cargo build -q -p tessera-cli
# The extension, editable: python/geotessera_rs plus the built _native module.
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" "$venv/bin/maturin" develop -q
# The wheel itself (the same dev build, packaged, so no release build is needed here): one
# abi3 wheel for every Python >= 3.10. Release wheels: maturin build --release.
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" "$venv/bin/maturin" build -q --profile dev -o target/wheels
ls target/wheels/geotessera_rs-*-cp310-abi3-*.whl >/dev/null
"$venv/bin/ruff" check python bench tests
"$venv/bin/ruff" format --check python bench tests
TESSERA_REQUIRE_REFERENCE=1 "$venv/bin/python" -m pytest -q python/tests "$@"
