"""Fixtures: a synthetic mirror (NPY tiles, landmasks, a Zarr store) written by the
`tessera` binary and served on 127.0.0.1, and the reference package geotessera 0.11
pointed at the same server for differential tests.

Environment: TESSERA_BIN (default target/debug/tessera), TESSERA_REQUIRE_REFERENCE=1
(fail instead of skipping when geotessera is not installed; CI sets it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# The vendored reference tests run in their own interpreter (test_reference_suite.py).
collect_ignore = ["reference"]

ROOT = Path(__file__).resolve().parents[2]
# Two tiles in UTM zone 31, one year, no gaps: small enough to write in a few seconds.
BBOX = (0.11, 51.41, 0.29, 51.49)
YEAR = 2024


def tessera_bin() -> str:
    path = os.environ.get("TESSERA_BIN") or str(ROOT / "target" / "debug" / "tessera")
    if not Path(path).is_file():
        pytest.fail(
            f"{path} not found: build it with 'cargo build -p tessera-cli' or set TESSERA_BIN"
        )
    return path


@pytest.fixture(scope="session")
def mirror_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mirror")
    subprocess.run(
        [
            tessera_bin(),
            "mirror",
            "synth",
            "-o",
            str(out),
            "--bbox=" + ",".join(map(str, BBOX)),
            "--years",
            str(YEAR),
            "--zarr",
            "--missing-rate",
            "0",
            "-q",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


class Server:
    """`tessera mirror serve` on a free loopback port."""

    def __init__(self, root: Path, *faults: str):
        args = [tessera_bin(), "mirror", "serve", str(root), "--addr", "127.0.0.1:0"]
        for f in faults:
            args += ["--fault", f]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"mirror serve printed no address: {line!r}")
        self.url = m.group(1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def server(mirror_dir):
    s = Server(mirror_dir)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def slow_server(mirror_dir):
    """The same mirror with tile and chunk bodies limited to 2 MB/s (long calls)."""
    s = Server(mirror_dir, "npy/**:rate=2m", "zarr/**/c/**:rate=2m")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def reference(server):
    """The reference package, reading from the same server."""
    try:
        import geotessera  # noqa: F401
        import geotessera.registry as reg
    except ImportError:
        if os.environ.get("TESSERA_REQUIRE_REFERENCE") == "1":
            pytest.fail("geotessera==0.11.0 is not installed (needed for differential tests)")
        pytest.skip("geotessera==0.11.0 is not installed")
    reg.TESSERA_MIRROR_URL = server.url
    reg.TESSERA_NPY_MIRROR_URL = server.url + "/npy"
    reg.TESSERA_LANDMASKS_MIRROR_URL = server.url + "/landmasks"
    import geotessera

    return geotessera


@pytest.fixture(scope="session")
def store_url(server) -> str:
    return server.url + "/zarr/v1.1"


def run_python(code: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter (the same venv)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, **kw
    )
