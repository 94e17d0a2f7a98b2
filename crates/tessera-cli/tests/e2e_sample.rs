//! `tessera sample` end to end: values equal NumPy's dequantisation of the tiles at the
//! pixels pyproj and the published arithmetic give (pixel edges included), in every mode
//! (range reads over HTTP, a local mirror, a local tile directory), with the input's
//! columns kept and NaN rows for points without coverage.

mod common;

use std::path::Path;

use common::{Served, mirror, tessera};
use tessera_testkit::{run_python, scratch};

/// Writes points.csv (id, lon, lat, note) with random points, points within 0.1 mm of
/// pixel edges on both sides, and uncovered points; and expected.npy (N, 128) computed
/// with pyproj + NumPy from the mirror's files, NaN for uncovered points.
fn make_points(dir: &Path, mirror: &Path) {
    run_python(
        r#"
import sys, csv, numpy as np
from pyproj import Transformer
out, root = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(5)
tiles = [(23.95, 69.05), (24.05, 69.05)]
pts = []
for lon, lat in tiles:
    for _ in range(150):
        pts.append((lon + rng.uniform(-0.05, 0.05), lat + rng.uniform(-0.05, 0.05)))
    zone = int(np.floor((lon + 180) / 6)) + 1
    epsg = 32600 + zone
    fwd = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
    inv = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True)
    ulx, uly = fwd.transform(lon - 0.05, lat + 0.05)
    llx, _ = fwd.transform(lon - 0.05, lat - 0.05)
    _, ury = fwd.transform(lon + 0.05, lat + 0.05)
    ox, oy = min(ulx, llx), max(uly, ury)
    for _ in range(60):
        col, row = rng.integers(300, 350), rng.integers(200, 900)
        for dx, dy in ((1e-4, -1e-4), (-1e-4, 1e-4), (1e-4, 1e-4), (-1e-4, -1e-4)):
            x, y = ox + 10 * col + dx, oy - 10 * row + dy
            pts.append(inv.transform(x, y))
pts += [(10.0, 10.0), (-30.0, 40.0), (24.15, 69.05)]  # no coverage
exp = np.full((len(pts), 128), np.nan, np.float32)
meta = []
for i, (plon, plat) in enumerate(pts):
    tlon = np.floor(plon * 10) / 10 + 0.05
    tlat = np.floor(plat * 10) / 10 + 0.05
    name = f"grid_{tlon:.2f}_{tlat:.2f}"
    base = f"{root}/npy/v1.1-cam/2024/{name}/{name}"
    try:
        q = np.load(base + ".npy", mmap_mode="r"); s = np.load(base + "_scales.npy", mmap_mode="r")
    except FileNotFoundError:
        meta.append((name, -1, -1)); continue
    zone = int(np.floor((tlon + 180) / 6)) + 1
    fwd = Transformer.from_crs("EPSG:4326", f"EPSG:{32600 + zone}", always_xy=True)
    ulx, uly = fwd.transform(tlon - 0.05, tlat + 0.05)
    llx, _ = fwd.transform(tlon - 0.05, tlat - 0.05)
    _, ury = fwd.transform(tlon + 0.05, tlat + 0.05)
    ox, oy = min(ulx, llx), max(uly, ury)
    x, y = fwd.transform(plon, plat)
    # rasterio >= 1.5 rowcol: the solved affine, i.e. (x - c) / a and (y - f) / e, floored.
    col, row = int(np.floor((x - ox) / 10.0)), int(np.floor((y - oy) / -10.0))
    sc = np.float32(s[row, col]); sc = sc if np.isfinite(sc) else np.float32(np.nan)
    exp[i] = q[row, col].astype(np.float32) * sc
    meta.append((name, row, col))
with open(f"{out}/points.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["id", "lon", "lat", "note"])
    for i, (a, b) in enumerate(pts):
        w.writerow([i, repr(float(a)), repr(float(b)), f"p{i}"])
np.save(f"{out}/expected.npy", exp)
with open(f"{out}/expected_meta.csv", "w") as f:
    for m in meta: f.write(f"{m[0]},{m[1]},{m[2]}\n")
"#,
        &[dir.to_str().unwrap(), mirror.to_str().unwrap()],
    );
}

fn check_npy(out: &Path, dir: &Path) {
    let r = run_python(
        r#"
import sys, numpy as np
got, exp = np.load(sys.argv[1]), np.load(sys.argv[2])
assert got.shape == exp.shape and got.dtype == np.float32, (got.shape, got.dtype)
same = (got.view(np.uint32) == exp.view(np.uint32)) | (np.isnan(got) & np.isnan(exp))
bad = np.argwhere(~same.all(axis=1)).ravel()
assert bad.size == 0, f"rows differ: {bad[:10]}"
print(int(np.isnan(got[:, 0]).sum()))
"#,
        &[
            out.to_str().unwrap(),
            dir.join("expected.npy").to_str().unwrap(),
        ],
    );
    assert_eq!(r.trim(), "3", "exactly the uncovered points are NaN");
}

#[test]
fn values_equal_numpy_in_every_mode() {
    let m = mirror();
    let dir = scratch("sample-modes");
    make_points(&dir, m);
    let pts = dir.join("points.csv");
    let s = Served::start(m, &[]);
    // 1. Over HTTP with range reads.
    let out = dir.join("http.npy");
    let (code, stdout, err) = tessera(
        &[
            "sample",
            "--mirror",
            &s.url,
            "--points",
            pts.to_str().unwrap(),
            "--year",
            "2024",
            "-o",
            out.to_str().unwrap(),
            "--cache-dir",
            dir.join("cache").to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("3 points fall in tiles without coverage"),
        "{err}"
    );
    check_npy(&out, &dir);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let tile_bytes: u64 = ["grid_23.95_69.05", "grid_24.05_69.05"]
        .iter()
        .map(|t| {
            std::fs::metadata(m.join(format!("npy/v1.1-cam/2024/{t}/{t}.npy")))
                .unwrap()
                .len()
        })
        .sum();
    let fetched = s.bytes_for(".npy");
    assert_eq!(fetched, v["bytes_fetched"].as_u64().unwrap());
    assert!(
        fetched * 100 < tile_bytes,
        "range reads fetched {fetched} bytes for tiles of {tile_bytes}"
    );
    // 2. A local mirror directory, memory-mapped.
    let out = dir.join("local.npy");
    let (code, _, err) = tessera(
        &[
            "sample",
            "--mirror",
            m.to_str().unwrap(),
            "--points",
            pts.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    check_npy(&out, &dir);
    // 3. A tile directory populated on demand, then offline.
    let tiles = dir.join("tiles");
    let out = dir.join("tiles.npy");
    let args = |o: &Path, offline: bool| -> Vec<String> {
        let mut a: Vec<String> = [
            "sample",
            "--mirror",
            &s.url,
            "--points",
            pts.to_str().unwrap(),
            "-o",
            o.to_str().unwrap(),
            "--tiles",
            tiles.to_str().unwrap(),
            "--cache-dir",
            dir.join("cache").to_str().unwrap(),
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        if offline {
            a.push("--offline".into());
        }
        a
    };
    let a: Vec<String> = args(&out, false);
    let (code, _, err) = tessera(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert_eq!(code, 0, "{err}");
    check_npy(&out, &dir);
    let out2 = dir.join("tiles2.npy");
    let a: Vec<String> = args(&out2, true);
    let (code, _, err) = tessera(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert_eq!(code, 0, "{err}");
    check_npy(&out2, &dir);
    std::fs::remove_dir_all(tiles.join("global_0.1_degree_representation/2024/grid_24.05_69.05"))
        .unwrap();
    let (code, _, err) = tessera(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("missing")
            && err.contains("grid_24.05_69.05")
            && err.contains("tessera download"),
        "{err}"
    );
}

#[test]
fn outputs_keep_the_input_columns() {
    let m = mirror();
    let dir = scratch("sample-outputs");
    make_points(&dir, m);
    let pts = dir.join("points.csv");
    let csv_out = dir.join("out.csv");
    let pq_out = dir.join("out.parquet");
    for o in [&csv_out, &pq_out] {
        let (code, _, err) = tessera(
            &[
                "sample",
                "--mirror",
                m.to_str().unwrap(),
                "--points",
                pts.to_str().unwrap(),
                "-o",
                o.to_str().unwrap(),
                "--metadata",
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
    }
    let r = run_python(
        r#"
import sys, csv, numpy as np, pyarrow.parquet as pq
exp = np.load(sys.argv[3])
meta = [l.strip().split(",") for l in open(sys.argv[4])]
rows = list(csv.DictReader(open(sys.argv[1])))
assert list(rows[0].keys())[:4] == ["id", "lon", "lat", "note"], list(rows[0].keys())[:8]
assert [k for k in rows[0].keys()][4:9] == ["tile", "pixel_row", "pixel_col", "crs", "status"]
for i, r in enumerate(rows):
    assert r["note"] == f"p{i}" and int(r["id"]) == i
    v = np.array([float(r[f"emb_{b}"]) for b in range(128)], np.float32)
    assert np.array_equal(v, exp[i], equal_nan=True), i
    if meta[i][1] != "-1":
        assert r["tile"] == meta[i][0] and r["pixel_row"] == meta[i][1] and r["pixel_col"] == meta[i][2], (r["tile"], meta[i])
        assert r["status"] == "ok" and r["crs"].startswith("EPSG:326")
    else:
        assert r["status"] == "no_coverage", r["status"]
t = pq.read_table(sys.argv[2])
types = {f.name: str(f.type) for f in t.schema}
assert types["id"] == "int64" and types["lon"] == "double" and types["note"] == "string", types
assert types["emb_0"] == "float" and types["pixel_row"] == "int64", types
e = np.stack([t.column(f"emb_{b}").to_numpy(zero_copy_only=False) for b in range(128)], axis=1)
assert np.array_equal(e, exp, equal_nan=True)
print("ok", len(rows))
"#,
        &[
            csv_out.to_str().unwrap(),
            pq_out.to_str().unwrap(),
            dir.join("expected.npy").to_str().unwrap(),
            dir.join("expected_meta.csv").to_str().unwrap(),
        ],
    );
    assert!(r.starts_with("ok"), "{r}");
}

#[test]
fn geojson_and_geoparquet_points() {
    let m = mirror();
    let dir = scratch("sample-geo");
    make_points(&dir, m);
    run_python(
        r#"
import sys, csv, json, struct, pyarrow as pa, pyarrow.parquet as pq
d = sys.argv[1]
rows = list(csv.DictReader(open(f"{d}/points.csv")))
fc = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(r["lon"]), float(r["lat"])]},
     "properties": {"id": int(r["id"]), "note": r["note"]}} for r in rows]}
json.dump(fc, open(f"{d}/points.geojson", "w"))
wkb = [struct.pack("<BIdd", 1, 1, float(r["lon"]), float(r["lat"])) for r in rows]
geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}}}
t = pa.table({"id": [int(r["id"]) for r in rows], "geometry": pa.array(wkb, pa.binary())})
t = t.replace_schema_metadata({"geo": json.dumps(geo)})
pq.write_table(t, f"{d}/points.parquet")
"#,
        &[dir.to_str().unwrap()],
    );
    for input in ["points.geojson", "points.parquet"] {
        let out = dir.join(format!("{input}.npy"));
        let (code, _, err) = tessera(
            &[
                "sample",
                "--mirror",
                m.to_str().unwrap(),
                "--points",
                dir.join(input).to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(code, 0, "{input}: {err}");
        check_npy(&out, &dir);
    }
}

#[test]
fn bad_points_are_usage_errors() {
    let m = mirror();
    let dir = scratch("sample-bad");
    let cases = [
        ("a.csv", "lon,lat\n0,1\nx,2\n", "is not a number"),
        ("b.csv", "lon,lat\n200,1\n", "finite WGS84"),
        ("c.csv", "name,value\nfoo,1\n", "needs lon and lat"),
        ("d.geojson", "{\"type\": \"Feature\"}", "FeatureCollection"),
        (
            "e.geojson",
            "{\"type\": \"FeatureCollection\", \"features\": [{\"type\": \"Feature\", \"geometry\": {\"type\": \"LineString\", \"coordinates\": [[0,0],[1,1]]}}]}",
            "Point",
        ),
        ("f.txt2", "0,0", "unsupported points file"),
        ("g.parquet", "not parquet", "not a readable Parquet"),
    ];
    for (name, body, want) in cases {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        let (code, _, err) = tessera(
            &[
                "sample",
                "--mirror",
                m.to_str().unwrap(),
                "--points",
                p.to_str().unwrap(),
                "-o",
                dir.join("o.csv").to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(want), "{name}: expected '{want}' in {err}");
    }
    let p = dir.join("ok.csv");
    std::fs::write(&p, "lon,lat\n24.0,69.05\n").unwrap();
    let (code, _, err) = tessera(
        &[
            "sample",
            "--mirror",
            m.to_str().unwrap(),
            "--points",
            p.to_str().unwrap(),
            "-o",
            dir.join("o.xlsx").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    // An empty points file gives an empty output, not an error.
    std::fs::write(&p, "lon,lat\n").unwrap();
    let out = dir.join("empty.npy");
    let (code, _, err) = tessera(
        &[
            "sample",
            "--mirror",
            m.to_str().unwrap(),
            "--points",
            p.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        run_python(
            "import sys, numpy as np; print(np.load(sys.argv[1]).shape)",
            &[out.to_str().unwrap()]
        )
        .contains("(0, 128)")
    );
}
