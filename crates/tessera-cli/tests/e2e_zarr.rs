//! Zarr stores end to end: `tessera zarr build` from a synthetic mirror with tiles on both
//! sides of two zone seams, on a coast (water) and across the equator, with invalid scales
//! injected; checked against an independent oracle (pyproj, GDAL, NumPy, zarr-python);
//! interrupted and split builds; a store zarr-python writes; per-zone GeoTIFF exports; and
//! reads over HTTP against `tessera mirror serve` with request counting and faults.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Served, link_tree, peak_anon_mib, tessera, walk};
use tessera_core::Bbox;
use tessera_formats::npy::NpyFile;
use tessera_synth::{SynthOptions, synthesize};
use tessera_testkit::{gdal_value, gdalinfo, run_python, scratch, scratch_shared};

const ORACLE: &str = include_str!("../../../tests/oracle/zarr_oracle.py");

/// Tiles: the Greenwich meridian at Peacehaven (zones 30/31, land and sea) and 36°E on the
/// equator (zones 36/37, both hemispheres); 2023 and 2024.
fn mirror() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_shared("zarr-mirror");
        let mut o = SynthOptions::new(&dir, Bbox::new(-0.1, 50.7, 0.1, 50.9).unwrap());
        o.more_boxes = vec![Bbox::new(35.9, -0.1, 36.1, 0.1).unwrap()];
        o.years = vec![2023, 2024];
        o.missing_rate = 0.0;
        synthesize(&o, &|_, _, _| {}).unwrap();
        // Scales the builders must reject (stored as NaN): zero, negative, infinite,
        // NaN and >= 1, in one tile-year of each hemisphere.
        for name in ["grid_36.05_-0.05", "grid_0.05_50.85"] {
            let p = dir.join(format!("npy/v1.1-cam/2024/{name}/{name}_scales.npy"));
            let f = NpyFile::open(&p).unwrap();
            let (h, w) = (f.shape()[0], f.shape()[1]);
            let mut v: Vec<f32> = f.to_vec().unwrap();
            drop(f);
            let bad = [0.0, -0.5, f32::INFINITY, f32::NAN, 1.0, 7.5];
            for r in 0..h {
                for c in (0..w).step_by(97) {
                    v[r * w + (c + r) % w] = bad[(r + c) % bad.len()];
                }
            }
            tessera_formats::npy::write_npy_file(&p, &[h, w], &v).unwrap();
        }
        dir
    })
}

fn tess(args: &[&str]) -> String {
    let (code, out, err) = tessera(args, &[]);
    assert_eq!(code, 0, "tessera {args:?} failed:\n{err}\n{out}");
    out
}

fn build(out: &Path, extra: &[&str]) -> serde_json::Value {
    let m = mirror().display().to_string();
    let o = out.display().to_string();
    let mut args = vec![
        "--mirror",
        &m,
        "zarr",
        "build",
        "-o",
        &o,
        "--dataset-variant",
        "cambridge",
        "--json",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(tess(&args).trim()).unwrap()
}

/// The store built in one run (shared by the tests of this file).
fn store() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_shared("zarr-store").join("store");
        let r = build(&dir, &[]);
        assert_eq!(r["written"], r["shards_all"], "{r}");
        assert_eq!(r["skipped"], 0);
        dir
    })
}

/// Every object of a store: relative path → bytes.
fn objects(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    let mut v: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(dir).unwrap().display().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn assert_same_store(a: &Path, b: &Path) {
    let (x, y) = (objects(a), objects(b));
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|o| o.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&x), names(&y), "different objects");
    for ((k, u), (_, v)) in x.iter().zip(&y) {
        assert!(u == v, "{k} differs");
    }
}

#[test]
fn store_matches_the_oracle_and_our_reader_reads_it() {
    let s = store();
    let out = scratch("zarr-oracle");
    let counts: serde_json::Value = serde_json::from_str(
        run_python(
            ORACLE,
            &[
                "expect",
                &mirror().display().to_string(),
                "v1.1-cam",
                "v1.1",
                &s.display().to_string(),
                &out.display().to_string(),
                "11",
            ],
        )
        .trim(),
    )
    .unwrap();
    // The windows cover both hemispheres, both seams, water/invalid scales and data.
    assert_eq!(
        counts["zones"],
        serde_json::json!([30, 31, 36, 37]),
        "{counts}"
    );
    for k in ["south", "north", "finite", "nan", "inf"] {
        assert!(counts[k].as_u64().unwrap() > 0, "no {k} pixels: {counts}");
    }
    assert!(counts["points"].as_u64().unwrap() >= 20, "{counts}");
    // Our reader, window by window (int8 + scales), and point by point (dequantised).
    let windows: Vec<Vec<u64>> =
        serde_json::from_str(&std::fs::read_to_string(out.join("windows.json")).unwrap()).unwrap();
    let sd = s.display().to_string();
    for (i, w) in windows.iter().enumerate() {
        let year = (2023 + w[1]).to_string();
        let win = format!("{}:{}:{}:{}:{}", w[0], w[2], w[3], w[4], w[5]);
        let o = out.join(format!("ours_w{i}.npy")).display().to_string();
        tess(&[
            "-q",
            "zarr",
            "read",
            &sd,
            "--window",
            &win,
            "--year",
            &year,
            "--quantised",
            "-o",
            &o,
        ]);
    }
    let year = counts["year"].to_string();
    tess(&[
        "-q",
        "sample",
        "--source",
        "zarr",
        "--store",
        &sd,
        "--search-px",
        "0",
        "--points",
        &out.join("points.csv").display().to_string(),
        "--year",
        &year,
        "-o",
        &out.join("ours_points.npy").display().to_string(),
    ]);
    // Holes (no embedding at the pixel) take the nearest neighbour's in the 3x3 window.
    assert!(counts["holes"].as_u64().unwrap() >= 5, "{counts}");
    tess(&[
        "-q",
        "sample",
        "--source",
        "zarr",
        "--store",
        &sd,
        "--points",
        &out.join("holes.csv").display().to_string(),
        "--year",
        &year,
        "-o",
        &out.join("ours_holes.npy").display().to_string(),
    ]);
    let check: serde_json::Value =
        serde_json::from_str(run_python(ORACLE, &["check", &out.display().to_string()]).trim())
            .unwrap();
    assert_eq!(check["bad_windows"], 0, "{check}");
    assert_eq!(check["points_equal"], true, "{check}");
    assert_eq!(check["holes_equal"], true, "{check}");
    // zarr verify agrees, pixel by pixel over every tile-year.
    let m = mirror().display().to_string();
    let v: serde_json::Value = serde_json::from_str(
        tess(&[
            "--mirror",
            &m,
            "zarr",
            "verify",
            &sd,
            "--dataset-variant",
            "cambridge",
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let rows = tess(&[
        "manifest",
        &mirror()
            .join("npy/v1.1-cam/manifest.parquet")
            .display()
            .to_string(),
        "--count",
    ]);
    assert_eq!(v["tiles"].to_string(), rows.trim(), "{v}");
    assert_eq!(v["unwritten"], 0, "{v}");
    // info --store describes it.
    let info: serde_json::Value =
        serde_json::from_str(tess(&["info", "--store", &sd, "--json"]).trim()).unwrap();
    assert_eq!(info["years"], serde_json::json!([2023, 2024]));
    assert_eq!(info["zones"].as_array().unwrap().len(), 4);
    assert_eq!(
        info["attributes"]["geoemb:quantization"]["method"],
        "per_pixel_scale"
    );
}

#[test]
fn corrupted_chunks_are_reported_not_read() {
    let s = store();
    let dir = scratch("zarr-corrupt");
    let copy = dir.join("store");
    link_tree(s, &copy);
    // Replace one shard by a copy with one byte flipped inside its first chunk.
    let key = "utm36/embeddings/c/1/0/0/0";
    let p = copy.join(key);
    let mut b = std::fs::read(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    let n = b.len();
    let idx = tessera_formats::zarr::ShardIndex::parse(
        &b[n - 262_148..],
        16_384,
        true,
        Some(n as u64),
        key,
    )
    .unwrap();
    let (i, (off, len)) = (0..16_384)
        .find_map(|i| idx.get(i).map(|e| (i, e)))
        .unwrap();
    b[(off + len / 2) as usize] ^= 0x10;
    std::fs::write(&p, &b).unwrap();
    let (row, col) = ((i / 128) * 32, (i % 128) * 32);
    let win = format!("36:{row}:{col}:32:32");
    let o = dir.join("w.npy");
    let (code, _, err) = tessera(
        &[
            "zarr",
            "read",
            &copy.display().to_string(),
            "--window",
            &win,
            "--year",
            "2024",
            "-o",
            &o.display().to_string(),
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("integrity") && err.contains("crc32c"), "{err}");
    assert!(!o.exists(), "an output was written from corrupt data");
    let m = mirror().display().to_string();
    let (code, _, err) = tessera(
        &[
            "--mirror",
            &m,
            "zarr",
            "verify",
            &copy.display().to_string(),
            "--dataset-variant",
            "cambridge",
        ],
        &[],
    );
    assert_ne!(code, 0, "{err}");

    // A well-formed shard holding other values (2023's where 2024's belong): every reader
    // decodes it, `zarr verify` finds it against the tiles.
    let other = dir.join("swapped");
    link_tree(s, &other);
    for (new, old) in [
        ("utm36/embeddings/c/1/0/0/0", "utm36/embeddings/c/0/0/0/0"),
        ("utm36/scales/c/1/0/0", "utm36/scales/c/0/0/0"),
    ] {
        std::fs::remove_file(other.join(new)).unwrap();
        std::fs::copy(s.join(old), other.join(new)).unwrap();
    }
    let (code, out, err) = tessera(
        &[
            "--mirror",
            &m,
            "zarr",
            "verify",
            &other.display().to_string(),
            "--dataset-variant",
            "cambridge",
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["emb_mismatch"].as_u64().unwrap() > 100_000, "{v}");
    assert!(v["scale_mismatch"].as_u64().unwrap() > 100_000, "{v}");
    assert!(err.contains("other int8 values"), "{err}");
}

#[test]
fn interrupted_and_split_builds_give_the_same_store() {
    let whole = store();
    let dir = scratch("zarr-resume");
    // kill -9 once the first shard is complete.
    let b = dir.join("store");
    let m = mirror().display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "--mirror",
            &m,
            "-q",
            "zarr",
            "build",
            "-o",
            &b.display().to_string(),
            "--dataset-variant",
            "cambridge",
            "--jobs",
            "1",
        ])
        .env_remove("TESSERA_MIRROR")
        .spawn()
        .unwrap();
    let start = Instant::now();
    let finished = |d: &Path| {
        let mut f = Vec::new();
        walk(d, &mut f);
        f.into_iter()
            .filter(|p| {
                let s = p.display().to_string();
                s.contains("/embeddings/c/")
                    && !p.file_name().unwrap().to_string_lossy().starts_with('.')
            })
            .collect::<Vec<_>>()
    };
    while finished(&b).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no shard finished"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done = finished(&b);
    let total = objects(whole)
        .iter()
        .filter(|(k, _)| k.contains("/embeddings/c/"))
        .count();
    assert!(
        done.len() < total,
        "the build finished before it was killed"
    );
    let stamps: Vec<(PathBuf, std::time::SystemTime)> = done
        .iter()
        .map(|p| (p.clone(), std::fs::metadata(p).unwrap().modified().unwrap()))
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    let r = build(&b, &[]);
    assert!(r["skipped"].as_u64().unwrap() >= stamps.len() as u64, "{r}");
    for (p, t) in &stamps {
        assert_eq!(
            std::fs::metadata(p).unwrap().modified().unwrap(),
            *t,
            "{} was rewritten",
            p.display()
        );
    }
    assert_same_store(whole, &b);
    std::fs::remove_dir_all(&b).unwrap();
    // Three tasks at once build the same store.
    let c = dir.join("tasks");
    let cs = c.display().to_string();
    let kids: Vec<_> = (0..3)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_tessera"))
                .args([
                    "--mirror",
                    &m,
                    "-q",
                    "zarr",
                    "build",
                    "-o",
                    &cs,
                    "--dataset-variant",
                    "cambridge",
                    "--task-index",
                    &i.to_string(),
                    "--task-count",
                    "3",
                    "--jobs",
                    "1",
                ])
                .env_remove("TESSERA_MIRROR")
                .spawn()
                .unwrap()
        })
        .collect();
    for mut k in kids {
        assert!(k.wait().unwrap().success());
    }
    assert_same_store(whole, &c);
    std::fs::remove_dir_all(&c).unwrap();
    // A store built from other data (other years) is not overwritten.
    let other = dir.join("other");
    link_tree(whole, &other);
    let (code, _, err) = tessera(
        &[
            "--mirror",
            &m,
            "zarr",
            "build",
            "-o",
            &other.display().to_string(),
            "--dataset-variant",
            "cambridge",
            "--years",
            "2024",
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("other metadata"), "{err}");
    // A wrong task index is the user's error.
    let (code, _, err) = tessera(
        &[
            "--mirror",
            &m,
            "zarr",
            "build",
            "-o",
            &cs,
            "--task-index",
            "3",
            "--task-count",
            "3",
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_store_written_by_zarr_python_is_read() {
    let dir = scratch("zarr-python-store");
    let s = dir.join("py.zarr");
    let sd = s.display().to_string();
    run_python(ORACLE, &["write", &sd]);
    for t in 0..2 {
        let o = dir.join(format!("w{t}.npy"));
        tess(&[
            "-q",
            "zarr",
            "read",
            &sd,
            "--window",
            "36:4000:100:200:200",
            "--year",
            &(2023 + t).to_string(),
            "--quantised",
            "-o",
            &o.display().to_string(),
        ]);
        let got = NpyFile::open(&o).unwrap().to_vec::<i8>().unwrap();
        let want = NpyFile::open(Path::new(&format!("{sd}.expected_emb_{t}.npy")))
            .unwrap()
            .to_vec::<i8>()
            .unwrap();
        assert!(got == want, "int8 values of year index {t} differ");
        let gs = NpyFile::open(&dir.join(format!("w{t}_scales.npy")))
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let ws = NpyFile::open(Path::new(&format!("{sd}.expected_scales_{t}.npy")))
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        assert!(
            gs.iter()
                .zip(&ws)
                .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())),
            "scales differ"
        );
    }
    // Outside the written block: fill values (0 and +inf); a shard never written too.
    let o = dir.join("fill.npy");
    tess(&[
        "-q",
        "zarr",
        "read",
        &sd,
        "--window",
        "36:6000:3000:10:10",
        "--year",
        "2024",
        "--quantised",
        "-o",
        &o.display().to_string(),
    ]);
    assert!(
        NpyFile::open(&o)
            .unwrap()
            .to_vec::<i8>()
            .unwrap()
            .iter()
            .all(|&v| v == 0)
    );
    assert!(
        NpyFile::open(&dir.join("fill_scales.npy"))
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
            .iter()
            .all(|v| *v == f32::INFINITY)
    );
}

#[test]
fn download_from_zarr_writes_one_geotiff_per_zone() {
    let s = store().display().to_string();
    let out = scratch("zarr-download").join("out");
    let o = out.display().to_string();
    // The Peacehaven box spans zones 30 and 31.
    let r: serde_json::Value = serde_json::from_str(
        tess(&[
            "download",
            "--source",
            "zarr",
            "--store-url",
            &s,
            "--bbox",
            "-0.04,50.76,0.03,50.84",
            "--year",
            "2024",
            "--bands",
            "0,5,127",
            "-o",
            &o,
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    let files = r["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{r}");
    for (f, zone) in files.iter().zip([30, 31]) {
        let p = PathBuf::from(f["path"].as_str().unwrap());
        assert_eq!(p, out.join(format!("tessera_2024_utm{zone}.tif")));
        let info = gdalinfo(&p);
        assert_eq!(info["size"][0], f["width"]);
        assert_eq!(info["size"][1], f["height"]);
        let wkt = info["coordinateSystem"]["wkt"].as_str().unwrap();
        assert!(wkt.contains(&format!("\"EPSG\",326{zone}")), "{wkt}");
        let bands = info["bands"].as_array().unwrap();
        assert_eq!(bands.len(), 3);
        assert_eq!(bands[2]["description"], "Tessera_Band_127");
        assert_eq!(bands[0]["block"], serde_json::json!([256, 256]));
        assert!(
            bands[0]["noDataValue"].as_str().is_some_and(|v| v == "NaN"),
            "{}",
            bands[0]
        );
        let md = &info["metadata"][""];
        assert_eq!(md["TESSERA_YEAR"], "2024");
        assert_eq!(md["TESSERA_BANDS"], "0,5,127");
        assert_eq!(md["TESSERA_SOURCE"], s.as_str());
        // Values: the same pixels read with `zarr read` (float32).
        let gt = info["geoTransform"].as_array().unwrap();
        let (x0, y0) = (gt[0].as_f64().unwrap(), gt[3].as_f64().unwrap());
        let w = f["width"].as_u64().unwrap();
        let h = f["height"].as_u64().unwrap();
        let zi = store_zone_origin(&s, zone);
        let col0 = ((x0 - zi.0) / 10.0).round() as u64;
        let row0 = ((zi.1 - y0) / 10.0).round() as u64;
        let npy = out.join(format!("check{zone}.npy"));
        tess(&[
            "-q",
            "zarr",
            "read",
            &s,
            "--window",
            &format!("{zone}:{row0}:{col0}:{h}:{w}"),
            "--year",
            "2024",
            "-o",
            &npy.display().to_string(),
        ]);
        let v = NpyFile::open(&npy).unwrap().to_vec::<f32>().unwrap();
        let mut checked = 0;
        for (r, c) in [
            (0, 0),
            (h / 2, w / 2),
            (h - 1, w - 1),
            (h / 3, w / 5),
            (h / 4, 2),
        ] {
            let px = &v[((r * w + c) * 128) as usize..][..128];
            let tif = gdal_value(&p, 2, c as usize, r as usize);
            if px[5].is_nan() {
                assert!(tif.contains("nan") || tif.contains("NaN"), "{tif}");
            } else {
                let got: f32 = tif.trim().parse().unwrap();
                assert_eq!(got, px[5], "pixel ({r}, {c}) of zone {zone}");
                checked += 1;
            }
        }
        assert!(checked > 0);
    }
    // `--source auto` (the default) streams from the store for GeoTIFF output: the same files.
    let auto = out.with_file_name("auto");
    let ra: serde_json::Value = serde_json::from_str(
        tess(&[
            "download",
            "--store-url",
            &s,
            "--bbox",
            "-0.04,50.76,0.03,50.84",
            "--year",
            "2024",
            "--bands",
            "0,5,127",
            "-o",
            &auto.display().to_string(),
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(ra["files"].as_array().unwrap().len(), 2, "{ra}");
    for zone in [30, 31] {
        let name = format!("tessera_2024_utm{zone}.tif");
        assert!(
            std::fs::read(auto.join(&name)).unwrap() == std::fs::read(out.join(&name)).unwrap(),
            "{name} differs between --source auto and zarr"
        );
    }
    // A dry run sizes the files without reading chunks.
    let d: serde_json::Value = serde_json::from_str(
        tess(&[
            "download",
            "--source",
            "zarr",
            "--store-url",
            &s,
            "--bbox",
            "-0.04,50.76,0.03,50.84",
            "--year",
            "2024",
            "--bands",
            "0,5,127",
            "--dry-run",
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(d["files"], 2, "{d}");
    let px: u64 = files
        .iter()
        .map(|f| f["width"].as_u64().unwrap() * f["height"].as_u64().unwrap())
        .sum();
    assert_eq!(d["bytes"].as_u64().unwrap(), px * 3 * 4, "{d}");
    // The reference's usage errors.
    for (args, msg) in [
        (
            vec![
                "download",
                "--source",
                "zarr",
                "--format",
                "npy",
                "-o",
                &o,
                "--bbox",
                "0,50.8,0.01,50.81",
            ],
            "exports TIFF",
        ),
        (
            vec![
                "download",
                "--source",
                "tiles",
                "--store-url",
                &s,
                "-o",
                &o,
                "--bbox",
                "0,50.8,0.01,50.81",
            ],
            "require --source zarr",
        ),
        (
            vec![
                "download",
                "--source",
                "zarr",
                "--store-url",
                "/nonexistent/store",
                "-o",
                &o,
                "--bbox",
                "0,50.8,0.01,50.81",
            ],
            "store",
        ),
        (
            vec![
                "download",
                "--source",
                "zarr",
                "--store-url",
                &s,
                "-o",
                &o,
                "--bbox",
                "10,10,10.1,10.1",
            ],
            "meets none of the zone grids",
        ),
        (
            vec![
                "download",
                "--source",
                "zarr",
                "--store-url",
                &s,
                "-o",
                &o,
                "--bbox",
                "0,50.8,0.01,50.81",
                "--memory-mb",
                "100",
            ],
            "at least 256",
        ),
    ] {
        let (code, _, err) = tessera(&args, &[]);
        // A region without data is not a usage error: exit 1, with what the store covers.
        let want = if msg.starts_with("meets none") { 1 } else { 2 };
        assert_eq!(code, want, "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

fn store_zone_origin(store: &str, zone: u8) -> (f64, f64) {
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{store}/utm{zone}/zarr.json")).unwrap(),
    )
    .unwrap();
    let t = &doc["attributes"]["spatial:transform"];
    (t[2].as_f64().unwrap(), t[5].as_f64().unwrap())
}

/// Requests and bytes the server saw for shard objects (keys under `/c/` of embeddings
/// and scales).
fn shard_traffic(srv: &Served) -> (u64, u64) {
    let s = srv.stats();
    s["by_key"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.contains("/embeddings/c/") || k.contains("/scales/c/"))
        .fold((0, 0), |(r, b), (_, v)| {
            (
                r + v["requests"].as_u64().unwrap(),
                b + v["bytes"].as_u64().unwrap(),
            )
        })
}

#[test]
fn http_reads_are_few_small_and_survive_faults() {
    let root = scratch("zarr-http");
    let tree = root.join("mirror");
    link_tree(store(), &tree.join("zarr/v1.1"));
    let srv = Served::start(&tree, &[]);
    let url = format!("{}/zarr/v1.1", srv.url);
    let cache = root.join("cache").display().to_string();
    let pts = root.join("p.csv");
    let sample = |lon: f64, lat: f64, cache: &str| -> serde_json::Value {
        std::fs::write(&pts, format!("lon,lat\n{lon},{lat}\n")).unwrap();
        serde_json::from_str(
            tess(&[
                "--cache-dir",
                cache,
                "sample",
                "--source",
                "zarr",
                "--store",
                &url,
                "--points",
                &pts.display().to_string(),
                "--year",
                "2024",
                "-o",
                &root.join("s.npy").display().to_string(),
                "--json",
            ])
            .trim(),
        )
        .unwrap()
    };
    // A cold pixel: one suffix read per shard index and one range per chunk.
    srv.reset_stats();
    let r = sample(36.031, 0.032, &cache);
    assert_eq!(r["sampled"], 1, "{r}");
    let (req, _) = shard_traffic(&srv);
    assert!(req <= 4, "a cold pixel took {req} shard requests");
    // Opening the store adds two: the root zarr.json (consolidated) and the time array.
    let all = srv.stats()["requests"].as_u64().unwrap();
    assert!(all <= req + 2, "a cold pixel took {all} requests in all");
    // Warm: the shard indexes come from the cache directory.
    srv.reset_stats();
    let r = sample(36.047, 0.061, &cache);
    assert_eq!(r["sampled"], 1, "{r}");
    let (req, _) = shard_traffic(&srv);
    assert!(req <= 2, "a warm pixel took {req} shard requests");
    let all = srv.stats()["requests"].as_u64().unwrap();
    assert!(all <= req + 2, "a warm pixel took {all} requests in all");
    // A shard replaced on the server after its index was cached: the stale index is
    // noticed (If-Match answers 412) and the new shard's values are returned.
    let year_of = |year: &str, cache: &str| -> Vec<f32> {
        std::fs::write(&pts, "lon,lat\n36.047,0.061\n").unwrap();
        let o = root.join(format!("y{year}.npy"));
        tess(&[
            "-q",
            "--cache-dir",
            cache,
            "sample",
            "--source",
            "zarr",
            "--store",
            &url,
            "--points",
            &pts.display().to_string(),
            "--year",
            year,
            "-o",
            &o.display().to_string(),
        ]);
        NpyFile::open(&o).unwrap().to_vec::<f32>().unwrap()
    };
    let fresh = root.join("cache-fresh").display().to_string();
    let v2023 = year_of("2023", &fresh);
    let v2024 = year_of("2024", &cache);
    assert!(v2023 != v2024);
    let st = tree.join("zarr/v1.1/utm37");
    for (new, old) in [
        ("embeddings/c/1/0/0/0", "embeddings/c/0/0/0/0"),
        ("scales/c/1/0/0", "scales/c/0/0/0"),
    ] {
        std::fs::remove_file(st.join(new)).unwrap();
        std::fs::copy(st.join(old), st.join(new)).unwrap();
    }
    assert_eq!(
        year_of("2024", &cache),
        v2023,
        "a stale shard index was used"
    );
    for (new, old) in [
        ("embeddings/c/1/0/0/0", "embeddings/c/1/0/0/0"),
        ("scales/c/1/0/0", "scales/c/1/0/0"),
    ] {
        std::fs::remove_file(st.join(new)).unwrap();
        std::fs::hard_link(store().join("utm37").join(old), st.join(new)).unwrap();
    }
    // A 0.1-degree region: bytes within 1.2x the compressed chunks it needs.
    srv.reset_stats();
    let o = root.join("region.npy");
    let rr: serde_json::Value = serde_json::from_str(
        tess(&[
            "--cache-dir",
            &root.join("cache2").display().to_string(),
            "zarr",
            "read",
            &url,
            "--bbox",
            "35.9,-0.1,36.0,0.0",
            "--year",
            "2024",
            "-o",
            &o.display().to_string(),
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    let (req, bytes) = shard_traffic(&srv);
    let need = needed_chunk_bytes(&tree.join("zarr/v1.1"), &rr);
    eprintln!(
        "region read: {req} requests, {bytes} bytes for {need} bytes of chunks ({:.3}x)",
        bytes as f64 / need as f64
    );
    assert!(
        (bytes as f64) <= 1.2 * need as f64,
        "region read {bytes} bytes in {req} requests; its chunks hold {need}"
    );
    let clean = NpyFile::open(&o).unwrap().to_vec::<f32>().unwrap();
    // Faults: errors, truncation, resets and flipped bytes are retried; values are equal.
    srv.set_faults(&[
        "zarr/**/c/**:status=503,p=0.08",
        "zarr/**/c/**:truncate=0.5,p=0.05",
        "zarr/**/c/**:flip,p=0.1",
        "zarr/**/c/**:reset=0.3,p=0.03",
    ]);
    let o2 = root.join("region2.npy");
    tess(&[
        "-q",
        "--cache-dir",
        &root.join("cache3").display().to_string(),
        "zarr",
        "read",
        &url,
        "--bbox",
        "35.9,-0.1,36.0,0.0",
        "--year",
        "2024",
        "-o",
        &o2.display().to_string(),
    ]);
    let faulty = NpyFile::open(&o2).unwrap().to_vec::<f32>().unwrap();
    assert!(
        clean
            .iter()
            .zip(&faulty)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "values read through faults differ"
    );
    // A fault that does not go away is reported, and nothing is written.
    srv.set_faults(&["zarr/**/scales/c/**:status=403"]);
    let o3 = root.join("region3.npy");
    let (code, _, err) = tessera(
        &[
            "--cache-dir",
            &root.join("cache4").display().to_string(),
            "zarr",
            "read",
            &url,
            "--bbox",
            "35.9,-0.1,36.0,0.0",
            "--year",
            "2024",
            "-o",
            &o3.display().to_string(),
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("403") && err.contains("scales"), "{err}");
    assert!(!o3.exists());
}

/// The compressed bytes of the inner chunks (embeddings and scales) a region window
/// overlaps, from the shard indexes on disk.
fn needed_chunk_bytes(store: &Path, r: &serde_json::Value) -> u64 {
    let zone = r["zone"].as_u64().unwrap();
    let (row, col) = (
        r["window"]["row"].as_u64().unwrap(),
        r["window"]["col"].as_u64().unwrap(),
    );
    let (h, w) = (
        r["window"]["height"].as_u64().unwrap(),
        r["window"]["width"].as_u64().unwrap(),
    );
    let mut total = 0;
    for array in ["embeddings", "scales"] {
        for sr in row / 4096..=(row + h - 1) / 4096 {
            for sc in col / 4096..=(col + w - 1) / 4096 {
                let key = if array == "embeddings" {
                    format!("utm{zone}/embeddings/c/1/0/{sr}/{sc}")
                } else {
                    format!("utm{zone}/scales/c/1/{sr}/{sc}")
                };
                let Ok(b) = std::fs::read(store.join(&key)) else {
                    continue;
                };
                let n = b.len();
                let idx = tessera_formats::zarr::ShardIndex::parse(
                    &b[n - 262_148..],
                    16_384,
                    true,
                    Some(n as u64),
                    &key,
                )
                .unwrap();
                let r0 = row.max(sr * 4096) - sr * 4096;
                let r1 = (row + h).min((sr + 1) * 4096) - sr * 4096;
                let c0 = col.max(sc * 4096) - sc * 4096;
                let c1 = (col + w).min((sc + 1) * 4096) - sc * 4096;
                for cy in r0 / 32..=(r1 - 1) / 32 {
                    for cx in c0 / 32..=(c1 - 1) / 32 {
                        if let Some((_, len)) = idx.get((cy * 128 + cx) as usize) {
                            total += len;
                        }
                    }
                }
            }
        }
    }
    total
}

#[test]
fn points_get_the_reference_statuses() {
    let s = store().display().to_string();
    let dir = scratch("zarr-status");
    let pts = dir.join("p.csv");
    // sea off Peacehaven; east of the tiles but on the utm31 grid; off every grid; land.
    std::fs::write(
        &pts,
        "id,lon,lat\nsea,0.08,50.72\nhole,0.4,50.85\nfar,10.0,10.0\nland,0.05,50.85\n",
    )
    .unwrap();
    let out = dir.join("s.csv");
    tess(&[
        "-q",
        "sample",
        "--source",
        "zarr",
        "--store",
        &s,
        "--points",
        &pts.display().to_string(),
        "--year",
        "2024",
        "--metadata",
        "-o",
        &out.display().to_string(),
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut rows = text.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (st, e0, crs) = (col("status"), col("emb_0"), col("crs"));
    let got: Vec<(String, String, String)> = rows
        .map(|r| {
            let f: Vec<&str> = r.split(',').collect();
            (f[st].to_string(), f[e0].to_string(), f[crs].to_string())
        })
        .collect();
    assert_eq!(got[0].0, "water", "{got:?}");
    assert_eq!(got[1].0, "nodata", "{got:?}");
    assert_eq!(got[2].0, "outside", "{got:?}");
    assert_eq!(got[3].0, "valid", "{got:?}");
    assert!(got[3].1.parse::<f32>().unwrap().is_finite());
    assert_eq!(got[3].2, "EPSG:32631");
    for g in [&got[0], &got[1], &got[2]] {
        assert!(g.1.is_empty() || g.1.eq_ignore_ascii_case("nan"), "{g:?}");
    }

    // The seam retry: just east of 0 degrees (utm31) where utm31 has no embedding (the
    // rejected scales of grid_0.05_50.85 in 2024), utm30's tile reaches across the
    // meridian; those points take utm30's pixel.
    let mut text = String::from("lon,lat\n");
    for i in 0..49 {
        for j in 0..200 {
            let lon = 0.0002 + f64::from(i) * 0.0001;
            let lat = 50.86 + f64::from(j) * 0.000195;
            text.push_str(&format!("{lon},{lat}\n"));
        }
    }
    std::fs::write(&pts, text).unwrap();
    tess(&[
        "-q",
        "sample",
        "--source",
        "zarr",
        "--store",
        &s,
        "--points",
        &pts.display().to_string(),
        "--year",
        "2024",
        "--metadata",
        "-o",
        &out.display().to_string(),
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut rows = text.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (st, crs, pr, pc, e0) = (
        col("status"),
        col("crs"),
        col("pixel_row"),
        col("pixel_col"),
        col("emb_0"),
    );
    let mut by_zone = std::collections::BTreeMap::new();
    let mut across = Vec::new();
    for r in rows {
        let f: Vec<&str> = r.split(',').collect();
        *by_zone.entry((f[st], f[crs])).or_insert(0) += 1;
        if f[st] == "valid" && f[crs] == "EPSG:32630" {
            let v: Vec<f32> = f[e0..e0 + 128].iter().map(|x| x.parse().unwrap()).collect();
            across.push((
                f[pr].parse::<u64>().unwrap(),
                f[pc].parse::<u64>().unwrap(),
                v,
            ));
        }
    }
    assert!(across.len() >= 20, "{by_zone:?}");
    assert!(by_zone[&("valid", "EPSG:32631")] > 1000, "{by_zone:?}");
    // Their values are utm30's at the pixel reported (read as a region).
    for (k, (r, c, v)) in across.iter().step_by(across.len() / 4).enumerate() {
        let o = dir.join(format!("px{k}.npy"));
        tess(&[
            "-q",
            "zarr",
            "read",
            &s,
            "--window",
            &format!("30:{r}:{c}:1:1"),
            "--year",
            "2024",
            "-o",
            &o.display().to_string(),
        ]);
        let px: Vec<f32> = NpyFile::open(&o).unwrap().to_vec().unwrap();
        assert_eq!(&px, v, "pixel ({r}, {c}) of utm30");
    }
}

#[test]
fn synthetic_mirrors_carry_their_store_and_remote_mirrors_build_the_same() {
    // `mirror synth --zarr`, and the default store under the mirror for sample/info.
    let dir = scratch("zarr-synth");
    let m = dir.join("m");
    let ms = m.display().to_string();
    let r: serde_json::Value = serde_json::from_str(
        tess(&[
            "mirror",
            "synth",
            "-o",
            &ms,
            "--bbox",
            "36.01,0.01,36.02,0.02",
            "--years",
            "2024",
            "--missing-rate",
            "0",
            "--zarr",
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(r["zarr"].as_array().unwrap().len(), 1, "{r}");
    assert!(m.join("zarr/v1.1/zarr.json").is_file());
    let pts = dir.join("p.csv");
    std::fs::write(&pts, "lon,lat\n36.015,0.015\n").unwrap();
    let o = dir.join("o.npy");
    let v: serde_json::Value = serde_json::from_str(
        tess(&[
            "--mirror",
            &ms,
            "sample",
            "--source",
            "zarr",
            "--dataset-variant",
            "cambridge",
            "--points",
            &pts.display().to_string(),
            "--year",
            "2024",
            "-o",
            &o.display().to_string(),
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(v["sampled"], 1, "{v}");
    assert!(v["store"].as_str().unwrap().ends_with("zarr/v1.1"), "{v}");
    // The default dataset (v1.1 cambridge, the same for tiles and stores) needs no option.
    let (code, out, err) = tessera(
        &[
            "--mirror",
            &ms,
            "sample",
            "--source",
            "zarr",
            "--points",
            &pts.display().to_string(),
            "--year",
            "2024",
            "-o",
            &o.display().to_string(),
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["store"].as_str().unwrap().ends_with("zarr/v1.1"), "{v}");
    // A dataset whose store is not in a synthetic mirror (v1.1 dclimate): one clear line.
    let (code, _, err) = tessera(
        &[
            "--mirror",
            &ms,
            "sample",
            "--source",
            "zarr",
            "--dataset-variant",
            "dclimate",
            "--points",
            &pts.display().to_string(),
            "--year",
            "2024",
            "-o",
            &o.display().to_string(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("v1.1-dclimate"), "{err}");

    // A build from a mirror served over HTTP (tiles fetched first) equals the local build;
    // the store is then read through an s3:// URL.
    let srv = Served::start(mirror(), &[]);
    let out = dir.join("remote-store");
    let od = out.display().to_string();
    let work = dir.join("work").display().to_string();
    let (code, stdout, err) = tessera(
        &[
            "--mirror",
            &srv.url,
            "--cache-dir",
            &dir.join("cache").display().to_string(),
            "-q",
            "zarr",
            "build",
            "-o",
            &od,
            "--dataset-variant",
            "cambridge",
            "--work-dir",
            &work,
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}{stdout}");
    assert_same_store(store(), &out);
    std::fs::remove_dir_all(dir.join("work")).unwrap();
    let tree = dir.join("served");
    link_tree(&out, &tree.join("bucket/stores/v1.1"));
    drop(srv);
    let srv = Served::start(&tree, &[]);
    std::fs::write(&pts, "lon,lat\n0.05,50.85\n").unwrap();
    let (code, stdout, err) = tessera(
        &[
            "sample",
            "--source",
            "zarr",
            "--store",
            "s3://bucket/stores/v1.1",
            "--points",
            &pts.display().to_string(),
            "--year",
            "2023",
            "-o",
            &o.display().to_string(),
            "--json",
        ],
        &[("AWS_ENDPOINT_URL", &srv.url)],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["sampled"], 1, "{v}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn builds_and_zone_downloads_stay_within_their_memory_budget() {
    let dir = scratch("zarr-memory");
    let m = mirror().display().to_string();
    // A build of 16 tile-years (about 1.8 GB of int8 and scales) with a 64 MiB budget.
    let out = dir.join("store");
    let (code, peak, err) = peak_anon_mib(&[
        "--mirror",
        &m,
        "-q",
        "zarr",
        "build",
        "-o",
        &out.display().to_string(),
        "--dataset-variant",
        "cambridge",
        "--memory-mb",
        "64",
    ]);
    assert_eq!(code, 0, "{err}");
    eprintln!("zarr build --memory-mb 64: peak heap {peak} MiB");
    assert!(
        peak < 64 + 96,
        "zarr build --memory-mb 64 peaked at {peak} MiB"
    );
    assert_same_store(store(), &out);
    std::fs::remove_dir_all(&out).unwrap();
    // A zone GeoTIFF of about 800 MB of float32 with a 256 MiB budget (the smallest).
    let o = dir.join("tif");
    let (code, peak, err) = peak_anon_mib(&[
        "download",
        "--source",
        "zarr",
        "--store-url",
        &store().display().to_string(),
        "--bbox",
        "-0.09,50.71,-0.001,50.89",
        "--year",
        "2024",
        "--memory-mb",
        "256",
        "-o",
        &o.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    let info = gdalinfo(&o.join("tessera_2024_utm30.tif"));
    let raw = info["size"][0].as_u64().unwrap() * info["size"][1].as_u64().unwrap() * 128 * 4;
    assert!(raw > 700_000_000, "{raw}");
    eprintln!("zone download of {raw} bytes, --memory-mb 256: peak heap {peak} MiB");
    assert!(
        peak < 256 + 64,
        "a {raw}-byte zone file with --memory-mb 256 peaked at {peak} MiB"
    );
}

#[test]
fn zarr_usage_errors_are_one_line_and_write_nothing() {
    let s = store().display().to_string();
    let m = mirror().display().to_string();
    let dir = scratch("zarr-usage");
    let o = dir.join("o.npy").display().to_string();
    let never = dir.join("never").display().to_string();
    let pts = dir.join("p.csv");
    std::fs::write(&pts, "lon,lat\n0.05,50.85\n").unwrap();
    let p = pts.display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "zarr",
                "read",
                &s,
                "--window",
                "31:18446744073709551615:0:1:1",
                "-o",
                &o,
            ],
            "must stay within the zone grid",
        ),
        (
            vec!["zarr", "read", &s, "--window", "31:0:0:0:5", "-o", &o],
            "at least 1",
        ),
        (
            vec!["zarr", "read", &s, "--window", "31:4095:4095:5:5", "-o", &o],
            "outside the 4096x4096 grid",
        ),
        (
            vec![
                "zarr",
                "read",
                &s,
                "--window",
                "31:0:0:1:1",
                "--year",
                "1999",
                "-o",
                &o,
            ],
            "(it has 2023, 2024; pass --year)",
        ),
        (
            vec![
                "sample",
                "--source",
                "zarr",
                "--store",
                &s,
                "--points",
                &p,
                "--year",
                "2024",
                "--search-px",
                "100000",
                "-o",
                &o,
            ],
            "too large",
        ),
        (
            vec![
                "--mirror",
                &m,
                "zarr",
                "build",
                "-o",
                &never,
                "--dataset-variant",
                "cambridge",
                "--years",
                "1800",
            ],
            "no tiles for these years",
        ),
        (
            vec![
                "--mirror",
                &m,
                "zarr",
                "build",
                "-o",
                &never,
                "--dataset-variant",
                "cambridge",
                "--zones",
                "61",
            ],
            "not a UTM zone",
        ),
    ];
    for (args, msg) in cases {
        let (code, _, err) = tessera(&args, &[]);
        // A year the store does not have is not a usage error but data that does not
        // exist (exit 1, as on the tiles path), with the years it has.
        let want = if msg.contains("pass --year") { 1 } else { 2 };
        assert_eq!(code, want, "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    assert!(!dir.join("o.npy").exists());
    assert!(!dir.join("never").exists());
}
