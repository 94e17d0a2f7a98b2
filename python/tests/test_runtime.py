"""The Python face itself: arrays without copies, the GIL released, progress callbacks,
Ctrl-C stopping long calls without partial files, fork, the stubs, the console script."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import geotessera_rs
import numpy as np
import pytest
from conftest import ROOT, YEAR, run_python

TILE = (0.15, 51.45)


def test_arrays_are_rust_buffers_without_copy(store_url, tmp_path):
    z = geotessera_rs.GeoTesseraZarr(store_url, cache_dir=tmp_path)
    arr, _, _ = z.read_region((0.15, 51.42, 0.2, 51.46), YEAR)
    assert not arr.flags["OWNDATA"] and arr.flags["C_CONTIGUOUS"] and arr.flags["WRITEABLE"]
    assert type(arr.base).__name__ == "RustBuffer"
    emb, scales, _, _ = z.read_region_quantized((0.15, 51.42, 0.2, 51.46), YEAR)
    assert not emb.flags["OWNDATA"] and not scales.flags["OWNDATA"]
    pts = z.sample_points([(0.17, 51.44)] * 10, YEAR)
    assert not pts.flags["OWNDATA"]


def test_freed_result_buffers_are_reused_with_fresh_values(store_url, tmp_path):
    # A freed float32 result goes back to the library's pool: the next read of the same
    # size gets the same memory, with every value rewritten.
    z = geotessera_rs.GeoTesseraZarr(store_url, cache_dir=tmp_path)
    box = (0.2, 51.42, 0.25, 51.46)
    a, _, _ = z.read_region(box, YEAR)
    assert a.nbytes > 32e6
    expect = a.copy()  # NumPy's own memory, not pooled
    a_ptr = a.ctypes.data
    a[:] = 12345.0  # scribble over the buffer before handing it back
    del a
    b, _, _ = z.read_region(box, YEAR)
    assert b.ctypes.data == a_ptr
    np.testing.assert_array_equal(b, expect)


def test_large_read_does_not_double_peak_memory(mirror_dir):
    # A whole-tile read: the returned array is the Rust buffer, so the process's peak
    # resident memory grows by about one array, not two.
    code = textwrap.dedent(
        f"""
        import resource, numpy as np, geotessera_rs
        z = geotessera_rs.GeoTesseraZarr({str(mirror_dir / "zarr" / "v1.1")!r})
        z.read_region((0.16, 51.42, 0.17, 51.43), {YEAR})  # warm up metadata
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        a, t, c = z.read_region((0.11, 51.41, 0.29, 51.49), {YEAR})
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(a.nbytes, after - before)
        """
    )
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    nbytes, grown = map(int, r.stdout.split())
    assert nbytes > 300e6
    # int8 + scales in flight add about a quarter; a copy would add a whole array.
    assert grown < 1.6 * nbytes, (nbytes, grown)


def test_a_python_thread_runs_during_a_long_call(slow_server, tmp_path):
    gt = geotessera_rs.GeoTessera(
        embeddings_dir=tmp_path / "t", cache_dir=tmp_path, mirror=slow_server.url
    )
    ticks = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    th = threading.Thread(target=spin)
    th.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            # Interrupt ourselves after 2 s: the download would take about a minute.
            threading.Timer(2.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
            gt.fetch_embedding(*TILE, YEAR)
    finally:
        stop.set()
        th.join()
    elapsed = time.monotonic() - t0
    assert 1.5 < elapsed < 4.0, elapsed
    assert ticks[0] > 100_000, ticks[0]


def test_progress_callback_gets_three_arguments(server, tmp_path):
    gt = geotessera_rs.GeoTessera(
        embeddings_dir=tmp_path / "t", cache_dir=tmp_path, mirror=server.url
    )
    calls = []
    gt.fetch_embedding(*TILE, YEAR, progress_callback=lambda *a: calls.append(a))
    assert calls
    for current, total, status in calls:
        assert isinstance(current, int) and isinstance(total, int) and isinstance(status, str)
    assert calls[-1][0] == calls[-1][1] > 0


def test_an_exception_in_the_callback_stops_the_call(slow_server, tmp_path):
    z = geotessera_rs.GeoTesseraZarr(slow_server.url + "/zarr/v1.1", cache_dir=tmp_path)

    def boom(current, total, status):
        raise RuntimeError("stop here")

    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="stop here"):
        z.export_geotiffs(
            (0.11, 51.41, 0.29, 51.49), YEAR, tmp_path / "out", progress_callback=boom
        )
    assert time.monotonic() - t0 < 5
    assert not list((tmp_path / "out").glob("*.tif"))


SCRIPT = """
import sys, time, geotessera_rs
kind, url, out = sys.argv[1:4]
print("start", flush=True)
try:
    if kind == "download":
        gt = geotessera_rs.GeoTessera(embeddings_dir=out, cache_dir=out + "-cache", mirror=url)
        gt.fetch_embedding(0.15, 51.45, 2024)
    else:
        z = geotessera_rs.GeoTesseraZarr(url + "/zarr/v1.1", cache_dir=out + "-cache")
        z.export_geotiffs((0.11, 51.41, 0.29, 51.49), 2024, out)
except KeyboardInterrupt:
    print("interrupted", time.monotonic(), flush=True)
    sys.exit(130)
print("done", flush=True)
"""


def interrupt(kind: str, url: str, out: Path) -> float:
    """Starts `kind` in a subprocess, sends SIGINT after 2.5 s; seconds until it exits."""
    p = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, kind, url, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "start"
    time.sleep(2.5)
    assert p.poll() is None, p.communicate()
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=30)
    took = time.monotonic() - t0
    assert p.returncode == 130 and "interrupted" in stdout, (p.returncode, stdout, stderr)
    return took


def final_files(root: Path, pattern: str) -> list[Path]:
    return [p for p in root.rglob(pattern) if not p.name.startswith(".")]


@pytest.mark.parametrize("kind", ["download", "export"])
def test_ctrl_c_stops_within_a_second_and_a_rerun_completes(kind, slow_server, server, tmp_path):
    out = tmp_path / kind
    took = interrupt(kind, slow_server.url, out)
    assert took < 1.0, took
    if kind == "download":
        emb = final_files(out, "grid_0.15_51.45.npy")
        sizes = geotessera_rs.GeoTessera(
            embeddings_dir=out, cache_dir=tmp_path / "c", mirror=server.url
        ).registry.get_tile_file_size(YEAR, *TILE)
        # Nothing under a final name unless complete.
        assert all(p.stat().st_size == sizes for p in emb), [p.stat().st_size for p in emb]
    else:
        assert not final_files(out, "*.tif")
    # The rerun (full speed) finishes.
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT, kind, server.url, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0 and "done" in r.stdout, r.stderr
    if kind == "download":
        assert final_files(out, "grid_0.15_51.45.npy")
    else:
        assert len(final_files(out, "*.tif")) == 1


def test_forked_child_gets_a_working_runtime(store_url, tmp_path):
    code = textwrap.dedent(
        f"""
        import multiprocessing as mp, numpy as np, geotessera_rs
        z = geotessera_rs.GeoTesseraZarr({store_url!r}, cache_dir={str(tmp_path)!r})
        here = z.sample_points([(0.17, 51.44)], {YEAR})

        def child(q):
            q.put(z.sample_points([(0.17, 51.44)], {YEAR}).tobytes())

        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start()
        got = q.get(timeout=20)
        p.join(5)
        if p.exitcode is None:
            p.kill()
        print(got == here.tobytes(), p.exitcode)
        """
    )
    r = run_python(code, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["True", "0"], r.stderr


def test_objects_pickle_by_reopening(store_url, tmp_path):
    import pickle

    z = geotessera_rs.GeoTesseraZarr(store_url, cache_dir=tmp_path)
    z2 = pickle.loads(pickle.dumps(z))
    assert z2.url == z.url and z2.years == z.years


def test_bad_input_never_crashes_the_interpreter(store_url, tmp_path):
    z = geotessera_rs.GeoTesseraZarr(store_url, cache_dir=tmp_path)
    bad = [
        lambda: z.sample_points("not points", YEAR),
        lambda: z.sample_points([(1, 2, 3)], YEAR),
        lambda: z.read_region((0.2, 51.5, 0.1, 51.4), YEAR),
        lambda: z.read_region((float("nan"), 51.4, 0.2, 51.5), YEAR),
        lambda: z.read_region("0,1,2,3,4", YEAR),
        lambda: z.read_region((0.1, 51.4, 0.2, 51.5), "2024x"),
        lambda: z.export_geotiffs((0.1, 51.4, 0.2, 51.5), YEAR, tmp_path, compress="bogus"),
        lambda: z.probe(0.1, 51.4, None),
        lambda: geotessera_rs.dequantize_embedding(np.zeros((2, 2, 3), np.int8), np.zeros((5,))),
        lambda: geotessera_rs.GeoTessera(dataset_version="v/../x", cache_dir=tmp_path),
    ]
    for call in bad:
        with pytest.raises((ValueError, TypeError)):
            call()


def test_type_stubs_match_the_native_module():
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "geotessera_rs._native"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_console_script_runs_the_cli(mirror_dir):
    exe = Path(sys.executable).with_name("tessera")
    assert exe.is_file(), "the wheel installs the tessera command"
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout.startswith("tessera ")
    r = subprocess.run(
        [str(exe), "info", "--mirror", str(mirror_dir)], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0 and "cambridge" in r.stdout
    r = subprocess.run([str(exe), "no-such-command"], capture_output=True, text=True, check=False)
    assert r.returncode == 2
    assert ROOT.is_dir()
