"""globe.html in a real browser: `tessera coverage` output served over HTTP loads with no
console error, asks no other host for anything, and draws a non-blank globe.

Runs tests/browser/check_page.py with the oracle Python that has Playwright (TESSERA_PYTHON,
which scripts/test.sh sets; else .venv/bin/python) and Debian's /usr/bin/chromium. When either
is missing the test fails under scripts/test-python.sh (TESSERA_REQUIRE_REFERENCE=1 or
TESSERA_REQUIRE_BROWSER=1) and is skipped only in a bare local pytest run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import ROOT, tessera_bin
from test_coverage_diff import landmasks_table, manifest_table

BROWSER_PY = os.environ.get("TESSERA_PYTHON") or str(ROOT / ".venv/bin/python")


def have_browser() -> bool:
    if not (Path(BROWSER_PY).is_file() and Path("/usr/bin/chromium").is_file()):
        return False
    r = subprocess.run([BROWSER_PY, "-c", "import playwright"], capture_output=True)
    return r.returncode == 0


def test_globe_loads_offline_and_draws(tmp_path):
    if not have_browser():
        if "1" in (
            os.environ.get("TESSERA_REQUIRE_BROWSER"),
            os.environ.get("TESSERA_REQUIRE_REFERENCE"),
        ):
            pytest.fail("Playwright or /usr/bin/chromium is missing (needed for the globe test)")
        pytest.skip("Playwright or /usr/bin/chromium is missing")
    reg = tmp_path / "reg"
    reg.mkdir()
    pq.write_table(manifest_table("1.1", "cambridge", "v1.1-cam", 2), reg / "manifest.parquet")
    pq.write_table(landmasks_table(4), reg / "landmasks.parquet")
    out = tmp_path / "out"
    r = subprocess.run(
        [
            tessera_bin(),
            "--mirror",
            str(reg),
            "-q",
            "coverage",
            "--registry-dir",
            str(reg),
            "--width",
            "600",
            "-o",
            str(out) + "/",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
        cwd=out,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        port = int(line.split("port ")[1].split()[0])
        check = subprocess.run(
            [
                BROWSER_PY,
                str(ROOT / "tests/browser/check_page.py"),
                f"http://127.0.0.1:{port}/globe.html",
                "--screenshot",
                str(tmp_path / "shot.png"),
                "--timeout",
                "30",
                "--webgl",
                "--settle-ms",
                "3000",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert check.returncode == 0, check.stderr
    res = json.loads(check.stdout)
    assert res["console_errors"] == []
    assert res["external_requests"] == []
    assert res["screenshot_nonblank"]
    asked = {u.rsplit("/", 1)[-1] for u in res["requests"]}
    for f in [
        "coverage.json",
        "coverage_texture_v1.1_cambridge.png",
        "globe-vendor.min.mjs",
        "coverage_v1.1_cambridge_2021.json",
        "earth.png",
        "countries-110m.json",
    ]:
        assert f in asked, f"{f} was not loaded: {sorted(asked)}"
