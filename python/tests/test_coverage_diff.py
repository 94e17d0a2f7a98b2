"""`tessera coverage` against the reference's `geotessera coverage` on the same manifests:
coverage.json, the per-dataset and per-year JSON files equal as parsed values, textures
equal pixel for pixel; the PNG decodes at the requested width.

The manifests are written here with pyarrow in the published schema (§2.1, §2.2): tiles
with every year, only the latest, only an older one, some years; landmasks with and
without tiles. Two datasets (v1 vultr and v1.1 cambridge) for the by-source case, served
over HTTP by `tessera mirror serve` so that the reference downloads each manifest as it
does from the published mirror.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Server, tessera_bin

PIL = pytest.importorskip("PIL.Image")

YEARS = [2021, 2022, 2023, 2024]


def manifest_table(version: str, variant: str, npy_dir: str, seed: int) -> pa.Table:
    rng = random.Random(seed)
    rows = []
    for lon_i in range(-1795, 1796, 130):
        for lat_i in range(-595, 796, 70):
            years = [y for y in YEARS if rng.random() < 0.6]
            if rng.random() < 0.1:
                years = YEARS[:]
            for y in years:
                rows.append((y, lon_i, lat_i))
    # A tile at the grid's edges too.
    rows += [(2024, 17995, 8995), (2021, -17995, -8995)]
    rows.sort()
    n = len(rows)
    lon = [r[1] / 100.0 for r in rows]
    lat = [r[2] / 100.0 for r in rows]
    name = [f"grid_{a:.2f}_{b:.2f}" for a, b in zip(lon, lat, strict=True)]
    d = [f"s3://tessera/tessera/npy/{npy_dir}/{r[0]}/{g}" for r, g in zip(rows, name, strict=True)]
    ts = pa.array(np.full(n, 1_700_000_000_000_000_000, dtype="int64")).cast(
        pa.timestamp("ns", tz="UTC")
    )
    return pa.table(
        {
            "version": pa.array([version] * n),
            "variant": pa.array([variant] * n),
            "year": pa.array([r[0] for r in rows], pa.int64()),
            "lon": pa.array(lon, pa.float64()),
            "lat": pa.array(lat, pa.float64()),
            "directory": pa.array(d),
            "grid_path": pa.array([f"{x}/{g}.npy" for x, g in zip(d, name, strict=True)]),
            "scales_path": pa.array([f"{x}/{g}_scales.npy" for x, g in zip(d, name, strict=True)]),
            "grid_mtime": ts,
            "scales_mtime": ts,
            "grid_size": pa.array([1000] * n, pa.int64()),
            "scales_size": pa.array([100] * n, pa.int64()),
            "lon_i": pa.array([r[1] for r in rows], pa.int32()),
            "lat_i": pa.array([r[2] for r in rows], pa.int32()),
        }
    )


def landmasks_table(seed: int) -> pa.Table:
    rng = random.Random(seed)
    cells = sorted(
        {
            (lon_i, lat_i)
            for lon_i in range(-1795, 1796, 60)
            for lat_i in range(-595, 796, 30)
            if rng.random() < 0.7
        }
    )
    n = len(cells)
    lon = [c[0] / 100.0 for c in cells]
    lat = [c[1] / 100.0 for c in cells]
    return pa.table(
        {
            "lon": pa.array(lon, pa.float64()),
            "lat": pa.array(lat, pa.float64()),
            "file_size": pa.array([50] * n, pa.int64()),
            "mtime": pa.array(np.full(n, 1_700_000_000_000_000_000, dtype="int64")).cast(
                pa.timestamp("ns", tz="UTC")
            ),
            "key": pa.array(
                [
                    f"s3://tessera/tessera/landmasks/v1/grid_{a:.2f}_{b:.2f}.tiff"
                    for a, b in zip(lon, lat, strict=True)
                ]
            ),
            "lon_i": pa.array([c[0] for c in cells], pa.int32()),
            "lat_i": pa.array([c[1] for c in cells], pa.int32()),
        }
    )


@pytest.fixture(scope="module")
def coverage_mirror(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("coverage-mirror")
    for version, variant, npy_dir, seed in [
        ("1.0", "vultr", "v1", 1),
        ("1.1", "cambridge", "v1.1-cam", 2),
    ]:
        (root / "npy" / npy_dir).mkdir(parents=True)
        pq.write_table(
            manifest_table(version, variant, npy_dir, seed),
            root / "npy" / npy_dir / "manifest.parquet",
        )
    for vp, seed in [("v1", 3), ("v1.1", 4)]:
        (root / "landmasks" / vp).mkdir(parents=True)
        pq.write_table(landmasks_table(seed), root / "landmasks" / vp / "landmasks.parquet")
    return root


@pytest.fixture(scope="module")
def coverage_server(coverage_mirror):
    s = Server(coverage_mirror)
    yield s
    s.stop()


def run_reference(url: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The reference's CLI reading the served mirror. --no-countries: its land layer is a
    download (geodatasets) that this machine cannot make; the files compared do not
    depend on it."""
    args = [*args, "--no-countries"]
    code = (
        "import sys\n"
        "import geotessera.registry as r\n"
        f"r.TESSERA_MIRROR_URL = {url!r}\n"
        f"r.TESSERA_NPY_MIRROR_URL = {url + '/npy'!r}\n"
        f"r.TESSERA_LANDMASKS_MIRROR_URL = {url + '/landmasks'!r}\n"
        "from geotessera.cli import app\n"
        "app(args=sys.argv[1:], prog_name='geotessera')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env={"TERM": "dumb", "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


def run_ours(mirror: Path, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tessera_bin(), "--mirror", str(mirror), "-q", "coverage", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def load_json(p: Path):
    return json.loads(p.read_text())


def pixels(p: Path) -> np.ndarray:
    with PIL.open(p) as im:
        return np.asarray(im.convert("RGBA"))


def compare_dirs(ours: Path, ref: Path) -> list[str]:
    """Asserts the coverage files of both directories are equal; returns the dataset ids."""
    a, b = load_json(ours / "coverage.json"), load_json(ref / "coverage.json")
    assert a == b
    ids = [d["id"] for d in b["datasets"]]
    assert ids, "the reference exported no dataset"
    for d in b["datasets"]:
        assert load_json(ours / d["coverage_json"]) == load_json(ref / d["coverage_json"])
        for y in d["years"]:
            name = f"coverage_{d['id']}_{y}.json"
            assert load_json(ours / name) == load_json(ref / name), name
        ta, tb = pixels(ours / d["texture_png"]), pixels(ref / d["texture_png"])
        assert ta.shape == tb.shape == (1800, 3600, 4)
        diff = np.argwhere((ta != tb).any(axis=2))
        assert len(diff) == 0, f"{d['id']}: {len(diff)} pixels differ, first {diff[:5].tolist()}"
        assert (tb[..., 3] > 0).sum() > 100, "the texture shows almost nothing"
    return ids


def test_single_dataset_files_match_the_reference(
    reference, coverage_mirror, coverage_server, tmp_path
):
    args = ["--dataset-version", "v1.1", "--dataset-variant", "cambridge", "--width", "800"]
    ours = run_ours(coverage_mirror, [*args, "-o", str(tmp_path / "ours") + "/"])
    assert ours.returncode == 0, ours.stderr
    ref = run_reference(
        coverage_server.url,
        ["coverage", *args, "-o", str(tmp_path / "ref") + "/", "--cache-dir", str(tmp_path / "c")],
        tmp_path,
    )
    assert ref.returncode == 0, ref.stdout + ref.stderr
    assert compare_dirs(tmp_path / "ours", tmp_path / "ref") == ["v1.1_cambridge"]
    png = pixels(tmp_path / "ours" / "tessera_coverage.png")
    assert png.shape[1] == 800
    assert (tmp_path / "ours" / "globe.html").is_file()


def test_by_source_files_match_the_reference(reference, coverage_mirror, coverage_server, tmp_path):
    ours = run_ours(
        coverage_mirror, ["--by-source", "--width", "600", "-o", str(tmp_path / "ours")]
    )
    assert ours.returncode == 0, ours.stderr
    ref = run_reference(
        coverage_server.url,
        [
            "coverage",
            "--by-source",
            "--width",
            "600",
            "-o",
            str(tmp_path / "ref"),
            "--cache-dir",
            str(tmp_path / "c"),
        ],
        tmp_path,
    )
    assert ref.returncode == 0, ref.stdout + ref.stderr
    ids = compare_dirs(tmp_path / "ours", tmp_path / "ref")
    assert ids == ["v1_vultr", "v1.1_cambridge"]


def test_registry_dir_and_one_year(reference, coverage_mirror, coverage_server, tmp_path):
    """--registry-dir with the v1 files; --year only limits the PNG."""
    reg = tmp_path / "reg"
    reg.mkdir()
    (reg / "manifest.parquet").write_bytes(
        (coverage_mirror / "npy/v1/manifest.parquet").read_bytes()
    )
    (reg / "landmasks.parquet").write_bytes(
        (coverage_mirror / "landmasks/v1/landmasks.parquet").read_bytes()
    )
    args = [
        "--dataset-version",
        "v1",
        "--registry-dir",
        str(reg),
        "--year",
        "2023",
        "--width",
        "500",
    ]
    ours = run_ours(coverage_mirror, [*args, "-o", str(tmp_path / "ours" / "map.png")])
    assert ours.returncode == 0, ours.stderr
    ref = run_reference(
        coverage_server.url,
        [
            "coverage",
            *args,
            "-o",
            str(tmp_path / "ref" / "map.png"),
            "--cache-dir",
            str(tmp_path / "c"),
        ],
        tmp_path,
    )
    assert ref.returncode == 0, ref.stdout + ref.stderr
    assert compare_dirs(tmp_path / "ours", tmp_path / "ref") == ["v1_vultr"]
    assert pixels(tmp_path / "ours" / "map.png").shape[1] == 500
