//! `tessera mosaic` against gdalwarp: the same tiles warped by GDAL onto the grid we chose
//! give the same values (nearest exactly, bilinear within 1e-4), the grids are the ones
//! gdalinfo reports, the default resolution is GDAL's suggested one, a mosaic across the
//! UTM 34/35 seam is continuous, and memory stays within the budget.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{mirror, peak_anon_mib, tessera};
use tessera_testkit::{gdalinfo, run_python, run_tool, scratch, scratch_shared};

const YEAR: &str = "2024";
const TILES: [&str; 2] = ["grid_23.95_69.05", "grid_24.05_69.05"];

/// The NPY tiles (for us) and their per-tile float32 GeoTIFF exports (for GDAL).
fn tiles() -> &'static (PathBuf, PathBuf) {
    static T: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    T.get_or_init(|| {
        let d = scratch_shared("mosaic-tiles");
        let m = mirror().display().to_string();
        let exp = d.join("exp");
        let (code, _, err) = tessera(
            &[
                "--mirror",
                &m,
                "-q",
                "download",
                "--bbox",
                "23.91,69.01,24.09,69.09",
                "--year",
                YEAR,
                "--source",
                "tiles",
                "-f",
                "tiff",
                "--compress",
                "none",
                "-o",
                &exp.display().to_string(),
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        (exp.clone(), exp)
    })
}

fn tile_tiff(name: &str) -> PathBuf {
    tiles().1.join(format!(
        "global_0.1_degree_representation/{YEAR}/{name}/{name}_{YEAR}.tiff"
    ))
}

/// Runs `tessera mosaic` with `extra`; returns its JSON summary.
fn mosaic(out: &Path, region: &str, extra: &[&str]) -> serde_json::Value {
    let m = mirror().display().to_string();
    let t = tiles().0.display().to_string();
    let o = out.display().to_string();
    let mut args = vec![
        "--mirror",
        &m,
        "mosaic",
        "--bbox",
        region,
        "--year",
        YEAR,
        "--tiles",
        &t,
        "-o",
        &o,
        "--json",
        "--offline",
    ];
    args.extend_from_slice(extra);
    let (code, stdout, err) = tessera(&args, &[]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(stdout.trim()).unwrap()
}

/// gdalwarp of one tile onto the grid of our mosaic `j` (exact transformer).
fn gdalwarp(src: &Path, j: &serde_json::Value, resampling: &str, out: &Path) {
    let t: Vec<f64> = j["transform"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let (w, h) = (j["width"].as_u64().unwrap(), j["height"].as_u64().unwrap());
    let (west, north) = (t[2], t[5]);
    let (east, south) = (west + w as f64 * t[0], north + h as f64 * t[4]);
    run_tool(
        "gdalwarp",
        &[
            "-q",
            "-overwrite",
            "-et",
            "0",
            "-r",
            resampling,
            "-t_srs",
            j["crs"].as_str().unwrap(),
            "-te",
            &format!("{west:.17}"),
            &format!("{south:.17}"),
            &format!("{east:.17}"),
            &format!("{north:.17}"),
            "-ts",
            &w.to_string(),
            &h.to_string(),
            "-srcnodata",
            "nan",
            "-dstnodata",
            "nan",
            "-ot",
            "Float32",
            &src.display().to_string(),
            &out.display().to_string(),
        ],
    );
}

/// Compares our mosaic with GDAL's per-tile warps composed by our rule (the tile whose
/// cell holds the pixel first, then the other): prints and returns the oracle's JSON.
const COMPARE: &str = r#"
import json, subprocess, sys, tempfile, os
import numpy as np, pyproj
ours, crs, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
warps = sys.argv[4:]
def read(p):
    d = tempfile.mkdtemp()
    b = os.path.join(d, "x.bin")
    subprocess.run(["gdal_translate", "-q", "-of", "ENVI", "-co", "INTERLEAVE=BIP", p, b], check=True)
    info = json.loads(subprocess.run(["gdalinfo", "-json", p], check=True, capture_output=True).stdout)
    w, h = info["size"]; nb = len(info["bands"])
    return np.fromfile(b, dtype="<f4").reshape(h, w, nb), info
a, info = read(ours)
h, w, nb = a.shape
gt = info["geoTransform"]
cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
x = gt[0] + cols * gt[1]; y = gt[3] + rows * gt[5]
lon, lat = pyproj.Transformer.from_crs(crs, 4326, always_xy=True).transform(x, y)
cell = np.floor(lon * 10).astype(int)  # 239 or 240: the tiles' cells
ws = [read(p)[0] for p in warps]
owner = np.where(cell[..., None] == 239, ws[0], ws[1])
other = np.where(cell[..., None] == 239, ws[1], ws[0])
exp = np.where(np.isnan(owner[..., :1]), other, owner)
nan_a, nan_e = np.isnan(a), np.isnan(exp)
both = ~nan_a & ~nan_e
rel = np.abs(a[both] - exp[both]) / np.maximum(np.abs(exp[both]), 1e-3)
extra = ~nan_a[..., 0] & nan_e[..., 0]
print(json.dumps({
    "pixels": int(h * w), "nan_mismatch": int((nan_a != nan_e).sum()),
    "ours_missing": int((nan_a[..., 0] & ~nan_e[..., 0]).sum()),
    "ours_extra_max_seam_distance": float(np.abs(lon[extra] - 24.0).max()) if extra.any() else 0.0,
    "values": int(both.sum()), "over_tol": int((rel > tol).sum()),
    "max_rel": float(rel.max()) if rel.size else 0.0,
    "nan_fraction": float(nan_a[..., 0].mean()),
}))
"#;

fn compare(ours: &Path, crs: &str, tol: f64, warps: &[PathBuf]) -> serde_json::Value {
    let mut args = vec![ours.display().to_string(), crs.to_string(), tol.to_string()];
    args.extend(warps.iter().map(|p| p.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_python(COMPARE, &refs);
    serde_json::from_str(out.trim()).unwrap()
}

fn check_case(name: &str, region: &str, crs: &str, resampling: &str, extra: &[&str], tol: f64) {
    let d = scratch(&format!("mosaic-{name}"));
    let ours = d.join("ours.tif");
    let mut args = vec!["--crs", crs, "--resampling", resampling];
    args.extend_from_slice(extra);
    let j = mosaic(&ours, region, &args);
    assert_eq!(j["tiles"], 2, "{j}");
    let gdal_r = if resampling == "nearest" {
        "near"
    } else {
        resampling
    };
    let warps: Vec<PathBuf> = TILES
        .iter()
        .map(|t| {
            let p = d.join(format!("{t}.tif"));
            gdalwarp(&tile_tiff(t), &j, gdal_r, &p);
            p
        })
        .collect();
    // The georeference is what gdalinfo reports for gdalwarp's output on that grid.
    let (gi, wi) = (gdalinfo(&ours), gdalinfo(&warps[0]));
    assert_eq!(gi["size"], wi["size"], "{name}");
    let (g, w): (Vec<f64>, Vec<f64>) = (
        serde_json::from_value(gi["geoTransform"].clone()).unwrap(),
        serde_json::from_value(wi["geoTransform"].clone()).unwrap(),
    );
    for (a, b) in g.iter().zip(&w) {
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            "{name}: {g:?} vs {w:?}"
        );
    }
    let target = j["crs"].as_str().unwrap();
    for info in [&gi, &wi] {
        let wkt = info["coordinateSystem"]["wkt"].as_str().unwrap();
        match target.strip_prefix("EPSG:") {
            Some(code) => assert!(
                wkt.contains(&format!("ID[\"EPSG\",{code}]")),
                "{name}: {wkt}"
            ),
            // A centred transverse Mercator: GDAL reads the same projection and centre.
            None => {
                assert!(wkt.contains("Transverse Mercator"), "{name}: {wkt}");
                assert!(
                    wkt.contains("\"Longitude of natural origin\",24"),
                    "{name}: {wkt}"
                );
                assert!(
                    wkt.contains("\"Scale factor at natural origin\",1"),
                    "{name}: {wkt}"
                );
            }
        }
    }
    let r = compare(&ours, target, tol, &warps);
    println!("{name}: {r}");
    assert_eq!(r["nan_mismatch"], 0, "{name}: {r}");
    assert!(r["values"].as_u64().unwrap() > 10_000, "{name}: {r}");
    assert_eq!(r["over_tol"], 0, "{name}: {r}");
}

#[test]
fn nearest_mosaics_equal_gdalwarp_in_every_crs() {
    let region = "23.97,69.03,24.03,69.06";
    check_case("near-4326", region, "EPSG:4326", "nearest", &[], 0.0);
    check_case("near-3857", region, "EPSG:3857", "nearest", &[], 0.0);
    check_case(
        "near-32635",
        region,
        "EPSG:32635",
        "nearest",
        &["--resolution", "10"],
        0.0,
    );
    // A transverse Mercator centred on the region (24.0 E, 69.045 N).
    check_case(
        "near-tm",
        region,
        "tm",
        "nearest",
        &["--resolution", "10"],
        0.0,
    );
}

#[test]
fn a_centred_transverse_mercator_is_named_by_its_proj_string() {
    let d = scratch("mosaic-tm");
    let j = mosaic(
        &d.join("tm.tif"),
        "23.97,69.03,24.03,69.06",
        &["--crs", "tm", "--resolution", "10"],
    );
    let crs = j["crs"].as_str().unwrap();
    assert!(
        crs.starts_with("+proj=tmerc +lat_0=69.045 +lon_0=24 +k=1 +x_0=0 +y_0=0"),
        "{crs}"
    );
    // The centre of the region is near (0, 0) of the grid's coordinates.
    let t: Vec<f64> = serde_json::from_value(j["transform"].clone()).unwrap();
    let (w, h) = (j["width"].as_f64().unwrap(), j["height"].as_f64().unwrap());
    let (cx, cy) = (t[2] + w * t[0] / 2.0, t[5] + h * t[4] / 2.0);
    assert!(cx.abs() < 20.0 && cy.abs() < 20.0, "centre at ({cx}, {cy})");
    // The same CRS given as its PROJ string makes the same grid.
    let k = mosaic(
        &d.join("tm2.tif"),
        "23.97,69.03,24.03,69.06",
        &["--crs", crs, "--resolution", "10"],
    );
    assert_eq!(k["transform"], j["transform"]);
    assert_eq!(k["crs"], j["crs"]);
}

/// GDAL's COG validator, GDAL's own average overviews of the plain mosaic, and the COG's
/// pixels, all read with GDAL's Python bindings (Debian's python3-gdal).
const COG_CHECK: &str = r#"
import json, sys, shutil, subprocess
from osgeo import gdal
import numpy as np
from osgeo_utils.samples import validate_cloud_optimized_geotiff as v
gdal.UseExceptions()
cog, plain, work = sys.argv[1], sys.argv[2], sys.argv[3]
warnings, errors, details = v.validate(cog, full_check=True)
ref = work + "/ref.tif"
shutil.copy(plain, ref)
c = gdal.Open(cog)
n = c.GetRasterBand(1).GetOverviewCount()
levels = " ".join(str(2 ** (i + 1)) for i in range(n))
subprocess.run(["gdaladdo", "-q", "-r", "average", ref] + levels.split(), check=True)
p = gdal.Open(plain)
def whole(path, level=None):
    # All bands at once (per-band reads of a pixel-interleaved file decode every tile again).
    opts = [] if level is None else [f"OVERVIEW_LEVEL={level}"]
    return gdal.OpenEx(path, open_options=opts).ReadAsArray().astype(np.float64)
same_main = np.array_equal(whole(cog), whole(plain), equal_nan=True)
worst = []
sizes = []
for o in range(n):
    a, b = whole(cog, o), whole(ref, o)
    sizes.append([a.shape[2], a.shape[1], b.shape[2], b.shape[1]])
    both = ~np.isnan(a) & ~np.isnan(b)
    worst.append(max(float(np.abs(a[both] - b[both]).max() / max(np.abs(b[both]).max(), 1e-6)),
                     float((np.isnan(a) != np.isnan(b)).mean())))
print(json.dumps({"errors": errors, "warnings": warnings, "overviews": n, "same_main": bool(same_main),
                  "worst": worst, "sizes": sizes,
                  "block": c.GetRasterBand(1).GetBlockSize(), "srs": c.GetProjection()[:40]}))
"#;

#[test]
fn cog_output_is_valid_and_its_overviews_average_like_gdal() {
    let d = scratch("mosaic-cog");
    let (cog, plain) = (d.join("cog.tif"), d.join("plain.tif"));
    // 2 tiles' worth at 10 m in UTM 34: a few overview levels of 16-pixel tiles.
    let region = "23.97,69.03,24.03,69.06";
    let args = [
        "--crs",
        "EPSG:32634",
        "--resolution",
        "10",
        "--memory-mb",
        "16",
    ];
    let a = mosaic(&cog, region, &[&args[..], &["--cog"]].concat());
    let b = mosaic(&plain, region, &args);
    assert_eq!(a["cog"], true);
    assert_eq!(a["transform"], b["transform"]);
    let out = run_tool(
        "/usr/bin/python3",
        &[
            "-c",
            COG_CHECK,
            &cog.display().to_string(),
            &plain.display().to_string(),
            &d.display().to_string(),
        ],
    );
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    println!("{r}");
    assert_eq!(r["errors"], serde_json::json!([]), "{r}");
    assert_eq!(r["warnings"], serde_json::json!([]), "{r}");
    assert!(r["overviews"].as_u64().unwrap() >= 1, "{r}");
    assert!(r["same_main"].as_bool().unwrap(), "{r}");
    // Each level's size is GDAL's, and so are its values (each level averaged from the
    // one above, partly covered pixels weighted, NaN left out), float rounding aside.
    for s in r["sizes"].as_array().unwrap() {
        assert_eq!(s[0], s[2], "{r}");
        assert_eq!(s[1], s[3], "{r}");
    }
    for w in r["worst"].as_array().unwrap() {
        assert!(w.as_f64().unwrap() < 1e-6, "{r}");
    }
    assert!(
        !d.read_dir()
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().starts_with('.'))
    );
}

/// Reads an int8 mosaic and its scales with GDAL and dequantises them; compares with the
/// float32 mosaic of the same region.
const INT8_CHECK: &str = r#"
import json, sys
from osgeo import gdal
import numpy as np
gdal.UseExceptions()
q8, sc, f32 = (gdal.Open(p) for p in sys.argv[1:4])
q = q8.ReadAsArray().astype(np.int16)
q = np.where(q > 127, q - 256, q) if q8.GetRasterBand(1).DataType == gdal.GDT_Byte else q
s = sc.ReadAsArray().astype(np.float32)
f = f32.ReadAsArray().astype(np.float32)
deq = q.astype(np.float32) * s[None]
valid = ~np.isnan(f[0])
err = np.abs(deq - f)[:, valid]
print(json.dumps({
    "bands": q8.RasterCount, "type": gdal.GetDataTypeName(q8.GetRasterBand(1).DataType),
    "pixeltype": q8.GetRasterBand(1).GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE"),
    "nan_same": bool(np.array_equal(np.isnan(s), ~valid)),
    "max_err_in_scales": float((err / np.maximum(s[valid][None], 1e-30)).max()),
    "max_abs_code": int(np.abs(q[:, valid & (np.abs(f).max(axis=0) > 0)]).max(axis=0).min()),
    "same_grid": q8.GetGeoTransform() == f32.GetGeoTransform() == sc.GetGeoTransform(),
    "bytes_ratio": None,
}))
"#;

#[test]
fn int8_output_dequantises_to_the_float32_mosaic() {
    let d = scratch("mosaic-int8");
    let (q, f) = (d.join("q.tif"), d.join("f.tif"));
    let region = "23.97,69.03,24.03,69.06";
    for crs in ["EPSG:32634", "EPSG:4326"] {
        // A budget that lets both files use 512-pixel tiles (equal padding).
        let base = ["--crs", crs, "--compress", "none", "--memory-mb", "4096"];
        let a = mosaic(&q, region, &[&base[..], &["--dtype", "int8"]].concat());
        mosaic(&f, region, &base);
        let scales = d.join("q_scales.tif");
        assert_eq!(a["scales"].as_str().unwrap(), scales.display().to_string());
        let out = run_tool(
            "/usr/bin/python3",
            &[
                "-c",
                INT8_CHECK,
                &q.display().to_string(),
                &scales.display().to_string(),
                &f.display().to_string(),
            ],
        );
        let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        println!("{crs}: {r}");
        assert_eq!(r["bands"], 128, "{r}");
        assert_eq!(r["pixeltype"], "SIGNEDBYTE", "{r}");
        assert!(r["nan_same"].as_bool().unwrap(), "{r}");
        assert!(r["same_grid"].as_bool().unwrap(), "{r}");
        // Requantised with the model's rule: within half a step, and every pixel that is not
        // all zeros uses ±127.
        assert!(
            r["max_err_in_scales"].as_f64().unwrap() <= 0.5 + 1e-3,
            "{r}"
        );
        assert_eq!(r["max_abs_code"], 127, "{r}");
        // A quarter of the bytes, plus one float per pixel: (128 + 4) / 512.
        let (lq, ls, lf) = (
            std::fs::metadata(&q).unwrap().len(),
            std::fs::metadata(&scales).unwrap().len(),
            std::fs::metadata(&f).unwrap().len(),
        );
        assert!((lq + ls) as f64 <= 0.27 * lf as f64, "{lq} + {ls} vs {lf}");
    }
}

#[test]
fn bilinear_mosaics_equal_gdalwarp_within_1e_4() {
    // Finer than the source on both axes: GDAL's four-neighbour formula.
    let region = "23.99,69.035,24.01,69.045";
    check_case(
        "bilinear-4326",
        region,
        "EPSG:4326",
        "bilinear",
        &["--resolution", "5e-5,2e-5"],
        1e-4,
    );
    check_case(
        "bilinear-3857",
        region,
        "EPSG:3857",
        "bilinear",
        &["--resolution", "8"],
        1e-4,
    );
}

#[test]
fn the_default_resolution_is_gdals_suggested_one() {
    let d = scratch("mosaic-res");
    for crs in ["EPSG:4326", "EPSG:3857", "EPSG:32635"] {
        let j = mosaic(&d.join("m.tif"), "24.0,69.04,24.01,69.05", &["--crs", crs]);
        // The first tile by name (zone 34) is the reference's first source.
        let g = d.join("gdal.tif");
        run_tool(
            "gdalwarp",
            &[
                "-q",
                "-overwrite",
                "-t_srs",
                crs,
                &tile_tiff(TILES[0]).display().to_string(),
                &g.display().to_string(),
            ],
        );
        let gt: Vec<f64> = serde_json::from_value(gdalinfo(&g)["geoTransform"].clone()).unwrap();
        let ours = j["transform"][0].as_f64().unwrap();
        assert!(
            (ours - gt[1]).abs() <= 1e-9 * gt[1],
            "{crs}: ours {ours}, GDAL {}",
            gt[1]
        );
        assert_eq!(
            j["transform"][4].as_f64().unwrap(),
            -ours,
            "{crs}: square pixels"
        );
    }
    // A UTM target that is the first tile's own CRS keeps its 10 m.
    let j = mosaic(
        &d.join("m.tif"),
        "24.0,69.04,24.01,69.05",
        &["--crs", "EPSG:32634"],
    );
    assert_eq!(j["transform"][0], 10.0);
}

#[test]
fn a_mosaic_across_the_utm_seam_is_continuous() {
    let d = scratch("mosaic-seam");
    let out = d.join("seam.tif");
    // Pixels of 12 x 11 m, coarser than the tiles': every column steps to another source
    // pixel, as the one at the seam steps to the other tile.
    let j = mosaic(
        &out,
        "23.98,69.03,24.02,69.06",
        &["--crs", "EPSG:4326", "--resolution", "3e-4,1e-4"],
    );
    let r = run_python(
        r#"
import json, subprocess, sys, tempfile, os
import numpy as np
p = sys.argv[1]
b = os.path.join(tempfile.mkdtemp(), "x.bin")
subprocess.run(["gdal_translate", "-q", "-of", "ENVI", "-co", "INTERLEAVE=BIP", p, b], check=True)
info = json.loads(subprocess.run(["gdalinfo", "-json", p], check=True, capture_output=True).stdout)
w, h = info["size"]; gt = info["geoTransform"]
a = np.fromfile(b, dtype="<f4").reshape(h, w, -1)
seam = int(round((24.0 - gt[0]) / gt[1]))
step = np.nanmean(np.abs(np.diff(a, axis=1)), axis=(0, 2))
print(json.dumps({"nan": float(np.isnan(a).mean()), "seam_step": float(step[seam - 1]),
                  "median_step": float(np.median(step)), "max_step": float(step.max())}))
"#,
        &[&out.display().to_string()],
    );
    let v: serde_json::Value = serde_json::from_str(r.trim()).unwrap();
    println!("{j}\n{v}");
    assert!(v["nan"].as_f64().unwrap() < 0.05, "holes at the seam: {v}");
    // The step between the columns either side of 24 degrees is like any other step.
    assert!(
        v["seam_step"].as_f64().unwrap() <= 1.5 * v["median_step"].as_f64().unwrap(),
        "{v}"
    );
}

#[test]
fn memory_stays_within_the_budget_on_a_region_20_times_larger() {
    let d = scratch("mosaic-mem");
    let out = d.join("big.tif");
    let m = mirror().display().to_string();
    let t = tiles().0.display().to_string();
    let o = out.display().to_string();
    let (code, peak, err) = peak_anon_mib(&[
        "--mirror",
        &m,
        "-q",
        "mosaic",
        "--bbox",
        "23.91,69.01,24.09,69.09",
        "--year",
        YEAR,
        "--tiles",
        &t,
        "--offline",
        "--crs",
        "EPSG:32634",
        "--resolution",
        "5",
        "--memory-mb",
        "32",
        "--compress",
        "zstd:1",
        "-o",
        &o,
    ]);
    assert_eq!(code, 0, "{err}");
    let info = gdalinfo(&out);
    let (w, h) = (
        info["size"][0].as_u64().unwrap(),
        info["size"][1].as_u64().unwrap(),
    );
    let bytes = w * h * 128 * 4;
    println!(
        "mosaic of {w} x {h} x 128 float32 ({} MiB) with --memory-mb 32: peak anonymous memory {peak} MiB",
        bytes >> 20
    );
    assert!(
        bytes >= 20 * (32 << 20),
        "the region is only {} MiB",
        bytes >> 20
    );
    // The budget plus the process's own ~8 MiB (registries, runtime, buffers).
    assert!(peak <= 32 + 12, "peak {peak} MiB over a 32 MiB budget");
    // A budget too small for one row is a clear error, and no file is left.
    let small = d.join("small.tif");
    let (code, _, err) = tessera(
        &[
            "--mirror",
            &m,
            "mosaic",
            "--bbox",
            "23.91,69.01,24.09,69.09",
            "--year",
            YEAR,
            "--tiles",
            &t,
            "--offline",
            "--crs",
            "EPSG:4326",
            "--resampling",
            "bilinear",
            "--resolution",
            "1e-5",
            "--memory-mb",
            "16",
            "-o",
            &small.display().to_string(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("raise --memory-mb"), "{err}");
    assert!(!small.exists());
}

#[test]
fn mosaic_usage_errors_are_one_line_and_write_nothing() {
    let d = scratch("mosaic-usage");
    let out = d.join("x.tif");
    let o = out.display().to_string();
    let m = mirror().display().to_string();
    let t = tiles().0.display().to_string();
    let base = [
        "--mirror",
        &m,
        "mosaic",
        "--year",
        YEAR,
        "--tiles",
        &t,
        "--offline",
        "-o",
        &o,
    ];
    for (extra, what) in [
        (
            vec!["--bbox", "24.0,69.04,24.01,69.05", "--crs", "EPSG:9999"],
            "EPSG",
        ),
        (
            vec!["--bbox", "24.0,69.04,24.01,69.05", "--resampling", "cubic"],
            "nearest or bilinear",
        ),
        (
            vec!["--bbox", "24.0,69.04,24.01,69.05", "--resolution", "-1"],
            "--resolution",
        ),
        (
            vec!["--bbox", "24.0,69.04,24.01,69.05", "--memory-mb", "1"],
            "--memory-mb",
        ),
        (vec!["--bbox", "10.0,10.0,10.1,10.1"], "No tiles found"),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        let (code, _, err) = tessera(&args, &[]);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains(what), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!out.exists());
    }
}

/// A store built from the shared mirror's tiles, and its region exported per zone (GDAL's
/// inputs).
fn store() -> &'static (PathBuf, PathBuf) {
    static S: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    S.get_or_init(|| {
        let d = scratch_shared("mosaic-store");
        let m = mirror().display().to_string();
        let store = d.join("store");
        let st = store.display().to_string();
        let (code, _, err) = tessera(
            &[
                "--mirror",
                &m,
                "-q",
                "zarr",
                "build",
                "-o",
                &st,
                "--dataset-variant",
                "cambridge",
                "--years",
                YEAR,
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        let exp = d.join("exp");
        let (code, _, err) = tessera(
            &[
                "--mirror",
                &m,
                "-q",
                "download",
                "--source",
                "zarr",
                "--store-url",
                &st,
                "--bbox",
                "23.95,69.02,24.05,69.07",
                "--year",
                YEAR,
                "--compress",
                "none",
                "-o",
                &exp.display().to_string(),
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        (store, exp)
    })
}

#[test]
fn store_mosaics_equal_gdalwarp_of_the_zone_exports() {
    let (st, exp) = store();
    let mut zones = Vec::new();
    common::walk(exp, &mut zones);
    zones.retain(|p| p.extension().is_some_and(|e| e == "tif" || e == "tiff"));
    zones.sort();
    assert_eq!(zones.len(), 2, "{zones:?}");
    let d = scratch("mosaic-zarr");
    let ours = d.join("ours.tif");
    let m = mirror().display().to_string();
    let (code, stdout, err) = tessera(
        &[
            "--mirror",
            &m,
            "mosaic",
            "--source",
            "zarr",
            "--store-url",
            &st.display().to_string(),
            "--bbox",
            "23.97,69.03,24.03,69.06",
            "--year",
            YEAR,
            "--crs",
            "EPSG:4326",
            "-o",
            &ours.display().to_string(),
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(j["zones"], 2, "{j}");
    let warps: Vec<PathBuf> = zones
        .iter()
        .enumerate()
        .map(|(k, z)| {
            let p = d.join(format!("z{k}.tif"));
            gdalwarp(z, &j, "near", &p);
            p
        })
        .collect();
    // The zone west of 24 degrees (34) owns those pixels as tile 23.95 does.
    let r = compare(&ours, "EPSG:4326", 0.0, &warps);
    println!("zarr-4326: {r}");
    // Each zone's export stops at its band's edge; our zone windows reach past it, so a
    // pixel the owning zone has no value for may still get the neighbour's (within a few
    // pixels of the seam). Nothing GDAL has is missing from ours.
    assert_eq!(r["ours_missing"], 0, "{r}");
    assert!(
        r["ours_extra_max_seam_distance"].as_f64().unwrap() < 0.005,
        "{r}"
    );
    assert_eq!(r["over_tol"], 0, "{r}");
    assert!(r["values"].as_u64().unwrap() > 10_000, "{r}");
}

/// scikit-learn's PCA (after StandardScaler) of every valid pixel of the float32 GeoTIFFs
/// given, read with GDAL (gdal_translate to raw, band-interleaved by pixel).
const REGION_PCA: &str = r#"
import json, os, subprocess, sys, tempfile
import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
px = []
for p in sys.argv[1:]:
    b = os.path.join(tempfile.mkdtemp(), "x.bin")
    subprocess.run(["gdal_translate", "-q", "-of", "ENVI", "-co", "INTERLEAVE=BIP", p, b], check=True)
    info = json.loads(subprocess.run(["gdalinfo", "-json", p], check=True, capture_output=True).stdout)
    a = np.fromfile(b, dtype="<f4").reshape(-1, len(info["bands"]))
    px.append(a[np.isfinite(a).all(axis=1)])
x = np.concatenate(px)
pca = PCA(n_components=3).fit(StandardScaler().fit_transform(x))
c = pca.components_
# sklearn's svd_flip sign rule on components: the largest |value| of each is positive.
c = c * np.sign(c[np.arange(3), np.abs(c).argmax(axis=1)])[:, None]
print(json.dumps({"samples": len(x), "components": c.tolist(),
                  "ratio": pca.explained_variance_ratio_.tolist()}))
"#;

#[test]
fn a_region_is_drawn_straight_from_the_store_with_sklearns_pca() {
    let (st, _) = store();
    let st = st.display().to_string();
    let d = scratch("visualize-region");
    let region = "23.985,69.035,24.015,69.05";
    let m = mirror().display().to_string();
    let exp = d.join("exp");
    let (code, _, err) = tessera(
        &[
            "--mirror",
            &m,
            "-q",
            "download",
            "--source",
            "zarr",
            "--store-url",
            &st,
            "--bbox",
            region,
            "--year",
            YEAR,
            "--compress",
            "none",
            "-o",
            &exp.display().to_string(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let mut zones = Vec::new();
    common::walk(&exp, &mut zones);
    zones.retain(|p| p.extension().is_some_and(|e| e == "tif" || e == "tiff"));
    zones.sort();
    assert_eq!(zones.len(), 2, "{zones:?}");
    let pic = d.join("pic").join("pca.tif");
    let (code, stdout, err) = tessera(
        &[
            "--mirror",
            &m,
            "visualize",
            &pic.display().to_string(),
            "--bbox",
            region,
            "--year",
            YEAR,
            "--store-url",
            &st,
            "--crs",
            "EPSG:32634",
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let args: Vec<String> = zones.iter().map(|p| p.display().to_string()).collect();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let sk: serde_json::Value = serde_json::from_str(run_python(REGION_PCA, &refs).trim()).unwrap();
    println!("ours {v}\nsklearn {sk}");
    // Fitted on exactly the region's pixels of each zone (fewer than the 100,000 sample).
    assert_eq!(v["samples"], sk["samples"], "{v} {sk}");
    for (a, b) in v["components"]
        .as_array()
        .unwrap()
        .iter()
        .zip(sk["components"].as_array().unwrap())
    {
        for (x, y) in a.as_array().unwrap().iter().zip(b.as_array().unwrap()) {
            assert!(
                (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-4,
                "{a} {b}"
            );
        }
    }
    for (x, y) in v["explained_variance_ratio"]
        .as_array()
        .unwrap()
        .iter()
        .zip(sk["ratio"].as_array().unwrap())
    {
        assert!((x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-4 * y.as_f64().unwrap());
    }
    // On the grid `mosaic --source zarr` lays over the region, RGB with a mask.
    let j = {
        let o = d.join("grid.tif");
        let (code, stdout, err) = tessera(
            &[
                "--mirror",
                &m,
                "mosaic",
                "--source",
                "zarr",
                "--store-url",
                &st,
                "--bbox",
                region,
                "--year",
                YEAR,
                "--crs",
                "EPSG:32634",
                "-o",
                &o.display().to_string(),
                "--json",
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(stdout.trim()).unwrap()
    };
    let info = gdalinfo(&pic);
    assert_eq!(info["size"], serde_json::json!([j["width"], j["height"]]));
    assert_eq!(info["bands"].as_array().unwrap().len(), 3);
    assert_eq!(info["bands"][0]["type"], "Byte");
    assert_eq!(
        info["bands"][0]["mask"]["flags"],
        serde_json::json!(["PER_DATASET"])
    );
    assert_eq!(info["metadata"][""]["TESSERA_YEAR"], YEAR);
    assert!(pic.with_extension("png").is_file());
    // Nothing but the picture and its quicklook was written: no tiles were downloaded.
    let mut names: Vec<String> = std::fs::read_dir(pic.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["pca.png", "pca.tif"]);
    // INPUT and a region together are refused in one line.
    let (code, _, err) = tessera(
        &[
            "--mirror",
            &m,
            "visualize",
            "tiles",
            &pic.display().to_string(),
            "--bbox",
            region,
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("give only OUTPUT"), "{err}");
}

#[test]
fn a_region_web_map_is_cut_from_the_store_and_reused_when_unchanged() {
    let (st, _) = store();
    let st = st.display().to_string();
    let d = scratch("webmap-region");
    let out = d.join("map");
    let m = mirror().display().to_string();
    let run = || {
        let (code, stdout, err) = tessera(
            &[
                "--mirror",
                &m,
                "webmap",
                "--bbox",
                "23.985,69.035,24.015,69.05",
                "--year",
                YEAR,
                "--store-url",
                &st,
                "-o",
                &out.display().to_string(),
                "--min-zoom",
                "11",
                "--max-zoom",
                "13",
                "--json",
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(stdout.trim()).unwrap()
    };
    let a = run();
    assert_eq!(a["reused"], false, "{a}");
    assert!(a["tiles"].as_u64().unwrap() >= 3, "{a}");
    // The picture is drawn in EPSG:3857 (no reprojected copy needed) and outlined.
    let info = gdalinfo(&out.join("pca.tif"));
    let wkt = info["coordinateSystem"]["wkt"].as_str().unwrap();
    assert!(wkt.contains("ID[\"EPSG\",3857]"), "{wkt}");
    assert!(a["web_ready"].is_null(), "{a}");
    let html = std::fs::read_to_string(out.join("viewer.html")).unwrap();
    assert!(html.contains("23.985"), "the region outline is on the map");
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before = mtime(&out.join("pca.tif"));
    let b = run();
    assert_eq!(b["reused"], true, "{b}");
    assert_eq!(mtime(&out.join("pca.tif")), before);
    assert_eq!(a["tiles"], b["tiles"]);
    // A region web map needs -o.
    let (code, _, err) = tessera(
        &[
            "--mirror",
            &m,
            "webmap",
            "--bbox",
            "23.985,69.035,24.015,69.05",
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("-o DIR"), "{err}");
}
