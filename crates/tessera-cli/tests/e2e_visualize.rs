//! `tessera visualize`: the PCA equals scikit-learn's on the reference's sample (drawn here
//! with NumPy's `default_rng(0)` and `argpartition` exactly as geotessera 0.11 draws it),
//! the output is what GDAL reads as an RGB uint8 GeoTIFF with an internal per-dataset
//! mask and the reference's tags, the quicklook is a PNG, and bad input gets one clear
//! error. (Pixel equality with the reference's own `visualize` is checked in
//! python/tests/test_visualize_diff.py.)

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::{BBOX, YEAR, mirror, tessera};
use tessera_testkit::{gdalinfo, png_rgba, run_python, run_tool, scratch, scratch_shared};

/// The two NPY tiles (either side of the UTM 34/35 seam) in the reference's layout.
fn tiles() -> &'static PathBuf {
    static T: OnceLock<PathBuf> = OnceLock::new();
    T.get_or_init(|| {
        let d = scratch_shared("visualize-tiles").join("tiles");
        let m = mirror().display().to_string();
        let (code, _, err) = tessera(
            &[
                "--mirror",
                &m,
                "-q",
                "download",
                "--bbox",
                BBOX,
                "--year",
                YEAR,
                "-f",
                "npy",
                "-o",
                &d.display().to_string(),
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        d
    })
}

/// The reference's fit, step by step: `fit_projection` of geotessera 0.11 (projection.py)
/// over the tiles sorted by (year, lat, lon), blocks of at most 128 rows and 64 MiB.
const SKLEARN_FIT: &str = r#"
import json, sys, glob, os
import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
root, n_components = sys.argv[1], int(sys.argv[2])
paths = []
for p in glob.glob(os.path.join(root, "global_0.1_degree_representation", "*", "grid_*", "grid_*.npy")):
    if p.endswith("_scales.npy"):
        continue
    name = os.path.basename(os.path.dirname(p))
    _, lon, lat = name.split("_")
    year = int(os.path.basename(os.path.dirname(os.path.dirname(p))))
    paths.append(((year, float(lat), float(lon)), p))
rng = np.random.default_rng(0)
max_samples = 100_000
sample, priorities = None, np.empty(0)
for _, p in sorted(paths):
    emb = np.load(p, mmap_mode="r")
    scales = np.load(p[:-4] + "_scales.npy", mmap_mode="r")
    rows = min(128, max(1, 64 * 1024**2 // (emb.shape[1] * emb.shape[2] * 8)))
    for top in range(0, emb.shape[0], rows):
        s = scales[top:top + rows]
        block = emb[top:top + rows].astype(np.float32) * (s[..., None] if s.ndim == 2 else s)
        pixels = block.reshape(-1, block.shape[-1])
        pixels = pixels[np.isfinite(pixels).all(axis=1)]
        if not len(pixels):
            continue
        keys = rng.random(len(pixels))
        if len(pixels) > max_samples:
            take = np.argpartition(keys, max_samples - 1)[:max_samples]
            pixels, keys = pixels[take], keys[take]
        if sample is not None:
            pixels, keys = np.concatenate((sample, pixels)), np.concatenate((priorities, keys))
        if len(pixels) > max_samples:
            take = np.argpartition(keys, max_samples - 1)[:max_samples]
            pixels, keys = pixels[take], keys[take]
        sample, priorities = pixels, keys
scaled = StandardScaler().fit_transform(sample)
pca = PCA(n_components=n_components, random_state=0).fit(scaled)
print(json.dumps({"components": pca.components_.tolist(),
                  "ratio": pca.explained_variance_ratio_.tolist(),
                  "samples": len(sample)}))
"#;

fn visualize(out: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let t = tiles().display().to_string();
    let o = out.display().to_string();
    let mut args = vec!["visualize", &t, &o, "--json"];
    args.extend_from_slice(extra);
    let (code, stdout, err) = tessera(&args, &[]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn components_and_explained_variance_equal_sklearn_on_the_reference_sample() {
    let d = scratch("visualize-sklearn");
    for n in ["3", "5"] {
        let ours = visualize(&d.join(format!("pca{n}.tif")), &["--n-components", n]);
        let want: serde_json::Value = serde_json::from_str(
            run_python(SKLEARN_FIT, &[&tiles().display().to_string(), n]).trim(),
        )
        .unwrap();
        assert_eq!(ours["samples"], want["samples"]);
        assert_eq!(ours["samples"], 100_000);
        let (a, b) = (
            ours["components"].as_array().unwrap(),
            want["components"].as_array().unwrap(),
        );
        assert_eq!(a.len(), b.len());
        for (ca, cb) in a.iter().zip(b) {
            for (x, y) in ca.as_array().unwrap().iter().zip(cb.as_array().unwrap()) {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!((x - y).abs() < 1e-4, "component loading {x} vs sklearn {y}");
            }
        }
        let (ra, rb) = (
            ours["explained_variance_ratio"].as_array().unwrap(),
            want["ratio"].as_array().unwrap(),
        );
        for (x, y) in ra.iter().zip(rb) {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() < 1e-4 * y.abs().max(1e-3), "ratio {x} vs {y}");
        }
    }
}

#[test]
fn the_output_is_an_rgb_uint8_geotiff_with_an_internal_mask_and_the_reference_tags() {
    let d = scratch("visualize-gdal");
    let out = d.join("pca.tif");
    let s = visualize(&out, &["--balance", "percentile", "--percentile-low", "1"]);
    assert_eq!(s["crs"], "EPSG:3857");
    let info = gdalinfo(&out);
    assert_eq!(info["bands"].as_array().unwrap().len(), 3);
    for (b, colour) in info["bands"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["Red", "Green", "Blue"])
    {
        assert_eq!(b["type"], "Byte");
        assert_eq!(b["colorInterpretation"], colour);
        assert!(b.get("noDataValue").is_none());
        let flags: Vec<&str> = b["mask"]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(flags, ["PER_DATASET"], "{b}");
    }
    assert!(
        info["coordinateSystem"]["wkt"]
            .as_str()
            .unwrap()
            .contains("3857")
    );
    let md = &info["metadata"][""];
    assert_eq!(md["PCA_COMPONENTS"], "3");
    assert_eq!(md["PCA_BALANCE_METHOD"], "percentile");
    assert_eq!(md["PCA_MAX_SAMPLES"], "100000");
    assert_eq!(md["PCA_STANDARDIZED"], "True");
    assert_eq!(md["TESSERA_TARGET_CRS"], "EPSG:3857");
    assert_eq!(md["TESSERA_TILE_COUNT"], "2");
    assert_eq!(md["TESSERA_YEAR"], YEAR);
    let ratios: Vec<f64> = md["PCA_EXPLAINED_VARIANCE"]
        .as_str()
        .unwrap()
        .trim_matches(['[', ']'])
        .split(", ")
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(ratios.len(), 3);
    assert!(ratios.windows(2).all(|w| w[0] >= w[1]), "{ratios:?}");
    // Masked pixels are 0 in every band, and the mask covers the two tiles' land (the
    // synthetic tiles have no gaps) but not the corners outside both tiles.
    let script = r#"
import sys, numpy as np
w, h = int(sys.argv[3]), int(sys.argv[4])
px = np.fromfile(sys.argv[1], np.uint8).reshape(3, h, w)
mask = np.fromfile(sys.argv[2], np.uint8).reshape(h, w)
print(int((px[:, mask == 0] != 0).sum()), float((mask == 255).mean()), int(px[:, mask == 255].std() > 20))
"#;
    let raw = d.join("px.raw");
    let mraw = d.join("mask.raw");
    run_tool(
        "gdal_translate",
        &[
            "-q",
            "-of",
            "ENVI",
            "-co",
            "INTERLEAVE=BSQ",
            &out.display().to_string(),
            &raw.display().to_string(),
        ],
    );
    run_tool(
        "gdal_translate",
        &[
            "-q",
            "-of",
            "ENVI",
            "-b",
            "mask",
            &out.display().to_string(),
            &mraw.display().to_string(),
        ],
    );
    let (w, h) = (s["width"].to_string(), s["height"].to_string());
    let r = run_python(
        script,
        &[
            &raw.display().to_string(),
            &mraw.display().to_string(),
            &w,
            &h,
        ],
    );
    let v: Vec<&str> = r.split_whitespace().collect();
    assert_eq!(v[0], "0", "masked pixels must be 0");
    let valid: f64 = v[1].parse().unwrap();
    assert!(valid > 0.8 && valid < 1.0, "valid share {valid}");
    assert_eq!(v[2], "1", "the colours vary");
    // The quicklook: a PNG GDAL reads, at most 1024 pixels on its long side, RGBA.
    let png = out.with_extension("png");
    assert_eq!(s["quicklook"], png.display().to_string());
    let q = gdalinfo(&png);
    assert_eq!(q["driverShortName"], "PNG");
    let size = q["size"].as_array().unwrap();
    assert_eq!(size.iter().map(|v| v.as_u64().unwrap()).max(), Some(1024));
    assert_eq!(q["bands"].as_array().unwrap().len(), 4);
}

#[test]
fn a_native_utm_picture_copies_the_first_tile_pixel_for_pixel() {
    // In the first tile's own CRS its pixels are copied, not resampled: the grid starts at
    // its origin with its 10 m pixels.
    let d = scratch("visualize-utm");
    let out = d.join("pca.tif");
    let s = visualize(&out, &["--crs", "EPSG:32634", "--no-quicklook"]);
    assert!(!out.with_extension("png").exists());
    let t = &s;
    assert_eq!(t["crs"], "EPSG:32634");
    let info = gdalinfo(&out);
    let gt = info["geoTransform"].as_array().unwrap();
    assert_eq!(gt[1].as_f64(), Some(10.0));
    assert_eq!(gt[5].as_f64(), Some(-10.0));
}

/// RGBA pixels of a 256-pixel PNG tile.
fn tile_rgba(path: &std::path::Path) -> Vec<u8> {
    let (w, h, px) = png_rgba(path);
    assert_eq!((w, h), (256, 256), "{}", path.display());
    px
}

#[test]
fn web_tiles_of_the_picture_are_transparent_where_its_mask_is_as_gdal2tiles_makes_them() {
    let d = scratch("visualize-webmap");
    let pic = d.join("pca.tif");
    visualize(&pic, &["--no-quicklook"]);
    let (ours, theirs) = (d.join("ours"), d.join("gdal"));
    let (code, _, err) = tessera(
        &[
            "webmap",
            &pic.display().to_string(),
            "-o",
            &ours.display().to_string(),
            "--min-zoom",
            "11",
            "--max-zoom",
            "12",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    run_tool(
        "gdal2tiles.py",
        &[
            "-q",
            "-z",
            "11-12",
            "-p",
            "mercator",
            "--resampling",
            "bilinear",
            "-w",
            "none",
            &pic.display().to_string(),
            &theirs.display().to_string(),
        ],
    );
    let (mut alpha_same, mut all, mut clear, mut rgb_same, mut opaque) =
        (0u64, 0u64, 0, 0u64, 0u64);
    let mut tiles = 0;
    for z in ["11", "12"] {
        for x in std::fs::read_dir(theirs.join(z)).unwrap() {
            let x = x.unwrap().path();
            for y in std::fs::read_dir(&x).unwrap() {
                let y = y.unwrap().path();
                if y.extension().is_none_or(|e| e != "png") {
                    continue; // gdal2tiles' .aux.xml files
                }
                let rel = y.strip_prefix(&theirs).unwrap();
                let (a, b) = (tile_rgba(&ours.join("tiles").join(rel)), tile_rgba(&y));
                tiles += 1;
                for (p, q) in a.chunks(4).zip(b.chunks(4)) {
                    all += 1;
                    if p[3].abs_diff(q[3]) <= 2 {
                        alpha_same += 1;
                    }
                    if p[3] == 0 {
                        clear += 1;
                    }
                    if p[3] == 255 && q[3] == 255 {
                        opaque += 1;
                        if p[..3].iter().zip(&q[..3]).all(|(u, v)| u.abs_diff(*v) <= 2) {
                            rgb_same += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(tiles >= 3, "{tiles} tiles");
    let clear = clear as f64 / all as f64;
    assert!(
        clear > 0.05,
        "only {clear} of the tiles' pixels are transparent"
    );
    let alpha = alpha_same as f64 / all as f64;
    assert!(alpha >= 0.99, "alpha agrees with gdal2tiles on {alpha}");
    let rgb = rgb_same as f64 / opaque as f64;
    assert!(
        rgb >= 0.99,
        "colours agree with gdal2tiles on {rgb} of opaque pixels"
    );
    eprintln!("{tiles} tiles: alpha agrees on {alpha:.4}, colours on {rgb:.4}, {clear:.3} clear");
}

#[test]
fn bad_input_gets_one_clear_error() {
    let d = scratch("visualize-bad");
    let t = tiles().display().to_string();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec![t.clone(), d.join("out.png").display().to_string()],
            2,
            ".tif or .tiff",
        ),
        (
            vec![
                d.join("nowhere").display().to_string(),
                d.join("o.tif").display().to_string(),
            ],
            2,
            "no such file or directory",
        ),
        (
            vec![
                d.display().to_string(),
                d.join("o.tif").display().to_string(),
            ],
            1,
            "No tiles found",
        ),
        (
            vec![
                t.clone(),
                d.join("o.tif").display().to_string(),
                "--balance".into(),
                "vivid".into(),
            ],
            2,
            "Unknown balance method",
        ),
        (
            vec![
                t.clone(),
                d.join("o.tif").display().to_string(),
                "--balance".into(),
                "percentile".into(),
                "--percentile-low".into(),
                "99".into(),
                "--percentile-high".into(),
                "10".into(),
            ],
            2,
            "Invalid percentile range",
        ),
        (
            vec![
                t.clone(),
                d.join("o.tif").display().to_string(),
                "--n-components".into(),
                "200".into(),
            ],
            2,
            "Not enough valid pixels/bands",
        ),
    ];
    for (args, want_code, want) in cases {
        let mut a = vec!["visualize"];
        a.extend(args.iter().map(String::as_str));
        let (code, _, err) = tessera(&a, &[]);
        assert_eq!(code, want_code, "{a:?}: {err}");
        assert!(err.contains(want), "{a:?}: {err}");
        assert!(!d.join("o.tif").exists(), "no output after a failure");
    }
}

/// GDAL's COG validator and both pictures read through GDAL (bands and mask).
const COG_CHECK: &str = r#"
import json, sys
from osgeo import gdal
import numpy as np
from osgeo_utils.samples import validate_cloud_optimized_geotiff as v
gdal.UseExceptions()
cog, plain = sys.argv[1], sys.argv[2]
warnings, errors, _ = v.validate(cog, full_check=True)
c, p = gdal.Open(cog), gdal.Open(plain)
b = c.GetRasterBand(1)
print(json.dumps({
    "errors": errors, "warnings": warnings, "overviews": b.GetOverviewCount(),
    "mask_flags": b.GetMaskFlags(), "same_pixels": bool(np.array_equal(c.ReadAsArray(), p.ReadAsArray())),
    "same_mask": bool(np.array_equal(b.GetMaskBand().ReadAsArray(), p.GetRasterBand(1).GetMaskBand().ReadAsArray())),
    "overview_mask_valid": float((b.GetOverview(0).GetMaskBand().ReadAsArray() > 0).mean()) if b.GetOverviewCount() else -1.0,
    "tags": c.GetMetadata() == p.GetMetadata(),
}))
"#;

#[test]
fn a_cog_picture_is_valid_and_holds_the_same_pixels_and_mask() {
    let d = scratch("visualize-cog");
    let (cog, plain) = (d.join("cog.tif"), d.join("plain.tif"));
    visualize(&cog, &["--cog", "--no-quicklook"]);
    visualize(&plain, &["--no-quicklook"]);
    let out = run_tool(
        "/usr/bin/python3",
        &[
            "-c",
            COG_CHECK,
            &cog.display().to_string(),
            &plain.display().to_string(),
        ],
    );
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    println!("{r}");
    assert_eq!(r["errors"], serde_json::json!([]), "{r}");
    assert_eq!(r["warnings"], serde_json::json!([]), "{r}");
    assert!(r["overviews"].as_u64().unwrap() >= 1, "{r}");
    // GMF_PER_DATASET: the internal mask, as in the plain picture.
    assert_eq!(r["mask_flags"], 2, "{r}");
    assert!(r["same_pixels"].as_bool().unwrap(), "{r}");
    assert!(r["same_mask"].as_bool().unwrap(), "{r}");
    assert!(r["tags"].as_bool().unwrap(), "{r}");
    let f = r["overview_mask_valid"].as_f64().unwrap();
    assert!(f > 0.0 && f < 1.0, "the overview has its own mask: {r}");
}
