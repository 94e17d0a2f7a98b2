//! Web tiles against gdal2tiles (Debian's gdal-bin / python3-gdal): on the same RGBA
//! GeoTIFF, `gdal2tiles.py -z MIN-MAX -p mercator --resampling bilinear -w none` and our
//! pyramid write the same set of tile files, and their decoded pixels agree within 2
//! levels on at least 99% of pixels; an unchanged rerun reuses the tiles, a changed zoom
//! range or `force` rebuilds them, and a picture in EPSG:4326 is reprojected first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tessera_core::{Affine, Crs};
use tessera_formats::DType;
use tessera_formats::geotiff::Compression;
use tessera_formats::geotiff::writer::{GeoTiffFile, GeoTiffSpec, Layout, Photometric};
use tessera_pictures::pyramid::{PyramidOptions, build_pyramid};
use tessera_testkit::{png_rgba, run_tool, scratch};

/// A smooth RGBA picture with a transparent disc in its north-west corner.
fn write_picture(path: &Path, crs: Crs, t: Affine, w: usize, h: usize) {
    let mut spec = GeoTiffSpec::new(w as u32, h as u32, 4, DType::U8);
    spec.layout = Layout::Tiled(256);
    spec.compression = Compression::Lzw;
    spec.predictor = GeoTiffSpec::default_predictor(DType::U8);
    spec.photometric = Photometric::Rgb;
    spec.alpha = true;
    spec.georef = Some((crs, t));
    let mut px = Vec::with_capacity(w * h * 4);
    for r in 0..h {
        for c in 0..w {
            let (x, y) = (c as f64, r as f64);
            if x * x + y * y < 150.0 * 150.0 {
                px.extend_from_slice(&[0, 0, 0, 0]);
                continue;
            }
            let red = 128.0 + 100.0 * (x / 90.0).sin();
            let green = 128.0 + 100.0 * (y / 70.0).cos();
            let blue = 40.0 + 0.1 * (x + y);
            px.extend([red as u8, green as u8, blue.min(255.0) as u8, 255]);
        }
    }
    let mut f = GeoTiffFile::create(path, spec).unwrap();
    f.writer().write_rows(&px).unwrap();
    f.finish().unwrap();
}

fn mercator_picture(dir: &Path) -> PathBuf {
    let p = dir.join("rgb_3857.tif");
    // 9 x 7 km at 10 m near Cambridge.
    let (x0, y0) = Crs::WebMercator.forward(0.1, 52.2);
    write_picture(
        &p,
        Crs::WebMercator,
        Affine::north_up(x0, y0, 10.0),
        900,
        700,
    );
    p
}

fn pngs(root: &Path) -> BTreeSet<String> {
    fn walk(d: &Path, root: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|x| x == "png") {
                out.insert(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// RGBA pixels of a 256-pixel PNG tile.
fn rgba(path: &Path) -> Vec<u8> {
    let (w, h, px) = png_rgba(path);
    assert_eq!((w, h), (256, 256), "{}", path.display());
    px
}

fn gdal2tiles(src: &Path, out: &Path, zooms: &str) -> f64 {
    let t = Instant::now();
    run_tool(
        "gdal2tiles.py",
        &[
            "-q",
            "-z",
            zooms,
            "-p",
            "mercator",
            "--resampling",
            "bilinear",
            "-w",
            "none",
            &src.display().to_string(),
            &out.display().to_string(),
        ],
    );
    t.elapsed().as_secs_f64()
}

/// Fraction of pixels whose four channels all lie within 2 of gdal2tiles', over all tiles.
fn agreement(ours: &Path, theirs: &Path, names: &BTreeSet<String>) -> (f64, String) {
    let (mut ok, mut all) = (0u64, 0u64);
    let mut worst = (0.0f64, String::new());
    for n in names {
        let a = rgba(&ours.join(n));
        let b = rgba(&theirs.join(n));
        let mut tile_ok = 0u64;
        for (p, q) in a.chunks(4).zip(b.chunks(4)) {
            let d = p
                .iter()
                .zip(q)
                .map(|(x, y)| x.abs_diff(*y))
                .max()
                .unwrap_or(0);
            if d <= 2 {
                tile_ok += 1;
            }
        }
        ok += tile_ok;
        all += 65536;
        let bad = 1.0 - tile_ok as f64 / 65536.0;
        if bad > worst.0 {
            worst = (bad, n.clone());
        }
    }
    (
        ok as f64 / all as f64,
        format!("worst tile {} with {:.2}% off", worst.1, worst.0 * 100.0),
    )
}

#[test]
fn tiles_match_gdal2tiles_names_and_pixels() {
    let d = scratch("webtiles-g2t");
    let src = mercator_picture(&d);
    let theirs = d.join("g2t");
    let g2t_secs = gdal2tiles(&src, &theirs, "10-15");
    let out = d.join("ours");
    let o = PyramidOptions {
        min_zoom: 10,
        max_zoom: 15,
        force: false,
        flat: false,
    };
    let t = Instant::now();
    let r = build_pyramid(&src, &out, &o, &|| false, &|_, _| {}).unwrap();
    let our_secs = t.elapsed().as_secs_f64();
    assert!(!r.reused);
    assert!(
        r.web_ready.is_none(),
        "a picture in EPSG:3857 is tiled as it is"
    );
    let names = pngs(&r.tiles_dir);
    let want = pngs(&theirs);
    assert!(want.len() > 20, "{want:?}");
    assert_eq!(names, want, "the same tile files as gdal2tiles");
    assert_eq!(r.tiles, names.len() as u64);
    let (frac, worst) = agreement(&r.tiles_dir, &theirs, &names);
    eprintln!(
        "{} tiles: ours {our_secs:.2} s, gdal2tiles {g2t_secs:.2} s; {:.3}% of pixels within 2 ({worst})",
        names.len(),
        frac * 100.0
    );
    assert!(
        frac >= 0.99,
        "{:.3}% of pixels within 2; {worst}",
        frac * 100.0
    );
    // The transparent disc is transparent in our tiles too (the north-west tile at 15).
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("tiles.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], 1);
    assert_eq!(json["zoom"], serde_json::json!([10, 15]));
    assert_eq!(
        json["source"][0],
        src.canonicalize().unwrap().display().to_string()
    );
}

#[test]
fn unchanged_requests_reuse_the_tiles_and_changed_ones_rebuild() {
    let d = scratch("webtiles-reuse");
    let src = mercator_picture(&d);
    let out = d.join("map");
    let mut o = PyramidOptions {
        min_zoom: 11,
        max_zoom: 13,
        force: false,
        flat: false,
    };
    let r = build_pyramid(&src, &out, &o, &|| false, &|_, _| {}).unwrap();
    assert!(!r.reused);
    // A file of ours planted in the tiles dir shows whether it was rebuilt.
    let marker = r.tiles_dir.join("marker.txt");
    std::fs::write(&marker, "x").unwrap();
    let beside = out.join("keep.txt");
    std::fs::write(&beside, "mine").unwrap();
    let again = build_pyramid(&src, &out, &o, &|| false, &|_, _| {}).unwrap();
    assert!(again.reused);
    assert_eq!(again.tiles, r.tiles);
    assert!(marker.exists(), "reused tiles are left alone");
    o.force = true;
    let forced = build_pyramid(&src, &out, &o, &|| false, &|_, _| {}).unwrap();
    assert!(!forced.reused);
    assert!(!marker.exists(), "--force rebuilds the tiles dir");
    assert!(beside.exists(), "only the tiles dir is replaced");
    o.force = false;
    o.max_zoom = 12;
    let fewer = build_pyramid(&src, &out, &o, &|| false, &|_, _| {}).unwrap();
    assert!(!fewer.reused, "another zoom range rebuilds");
    assert!(pngs(&fewer.tiles_dir).iter().all(|n| !n.starts_with("13/")));
    // No temporary trees are left behind.
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // A cancelled build leaves the old tiles and no record claiming new ones.
    o.max_zoom = 13;
    let e = build_pyramid(&src, &out, &o, &|| true, &|_, _| {}).unwrap_err();
    assert!(
        matches!(e, tessera_pictures::PictureError::Cancelled),
        "{e}"
    );
    assert!(!out.join("tiles.json").exists());
    assert!(out.join("tiles/12").is_dir());
    // Bad zooms are the caller's mistake.
    o.min_zoom = 14;
    let e = build_pyramid(&src, &out, &o, &|| false, &|_, _| {}).unwrap_err();
    assert!(e.to_string().contains("--min-zoom"), "{e}");
}

#[test]
fn a_flat_layout_writes_gdal2tiles_names_into_the_directory_and_keeps_other_files() {
    let d = scratch("webtiles-flat");
    let src = mercator_picture(&d);
    let theirs = d.join("g2t");
    gdal2tiles(&src, &theirs, "11-13");
    let out = d.join("flat");
    std::fs::create_dir_all(&out).unwrap();
    let mine = out.join("notes.txt");
    std::fs::write(&mine, "mine").unwrap();
    let mut o = PyramidOptions {
        min_zoom: 11,
        max_zoom: 13,
        force: false,
        flat: true,
    };
    let r = build_pyramid(&src, &out, &o, &|| false, &|_, _| {}).unwrap();
    assert_eq!(r.tiles_dir, out);
    assert_eq!(
        pngs(&out),
        pngs(&theirs),
        "{{z}}/{{x}}/{{y}}.png as gdal2tiles names them"
    );
    let again = build_pyramid(&src, &out, &o, &|| false, &|_, _| {}).unwrap();
    assert!(again.reused);
    assert_eq!(again.tiles, r.tiles);
    o.force = true;
    let forced = build_pyramid(&src, &out, &o, &|| false, &|_, _| {}).unwrap();
    assert!(!forced.reused);
    assert_eq!(pngs(&out), pngs(&theirs));
    assert_eq!(
        std::fs::read_to_string(&mine).unwrap(),
        "mine",
        "other files stay"
    );
    let hidden: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty());
}

#[test]
fn a_wgs84_picture_is_reprojected_and_tiled_like_gdal2tiles() {
    let d = scratch("webtiles-4326");
    let p = d.join("rgb_4326.tif");
    write_picture(
        &p,
        Crs::Wgs84,
        Affine {
            a: 1e-4,
            b: 0.0,
            c: 0.1,
            d: 0.0,
            e: -1e-4,
            f: 52.2,
        },
        800,
        600,
    );
    let out = d.join("map");
    let o = PyramidOptions {
        min_zoom: 10,
        max_zoom: 14,
        force: false,
        flat: false,
    };
    let r = build_pyramid(&p, &out, &o, &|| false, &|_, _| {}).unwrap();
    let web = r.web_ready.clone().expect("a reprojected copy");
    let info = tessera_testkit::gdalinfo(&web);
    assert!(
        info["coordinateSystem"]["wkt"]
            .as_str()
            .unwrap()
            .contains("Pseudo-Mercator"),
        "{info}"
    );
    assert_eq!(info["bands"][3]["colorInterpretation"], "Alpha");
    let theirs = d.join("g2t");
    gdal2tiles(&p, &theirs, "10-14");
    let names = pngs(&r.tiles_dir);
    assert_eq!(names, pngs(&theirs));
    // Two warps (GDAL's and ours) differ a little more near the edges than one does.
    let (frac, worst) = agreement(&r.tiles_dir, &theirs, &names);
    eprintln!("4326: {:.3}% within 2 ({worst})", frac * 100.0);
    assert!(
        frac >= 0.99,
        "{:.3}% of pixels within 2; {worst}",
        frac * 100.0
    );
    assert!((r.bounds[0] - 0.1).abs() < 1e-9 && (r.bounds[3] - 52.2).abs() < 1e-9);
}
