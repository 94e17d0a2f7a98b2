"""The reference's vendored tests (python/tests/reference) against geotessera_rs, in a
fresh interpreter where ``import geotessera`` is ours (this process imports the real
geotessera for the differential tests, so the alias cannot be installed here)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "reference"


def test_the_reference_suite_passes_against_geotessera_rs():
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", HERE, HERE],
        capture_output=True,
        text=True,
        env=env,
        cwd=HERE,
        timeout=600,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    passed = int(re.search(r"(\d+) passed", out).group(1))
    # 22 URL tests + 10 bbox tests + 13 accessor robustness tests.
    assert passed >= 45, out[-2000:]
    assert "failed" not in out and "error" not in out.lower().split("passed")[-1], out[-2000:]
