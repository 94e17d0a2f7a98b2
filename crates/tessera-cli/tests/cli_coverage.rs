//! `tessera coverage` as a user runs it: a registry directory in, the PNG, the JSON files,
//! the texture and the globe out, with the colours the reference's rules give.
//! (The files are compared with the reference itself in python/tests/test_coverage_diff.py.)

mod common;

use std::path::{Path, PathBuf};

use common::tessera;
use tessera_core::TileId;
use tessera_formats::manifest::{LandmaskRecord, ManifestRecord, write_landmasks, write_manifest};
use tessera_pictures::coverage::colors::LIGHTGRAY;
use tessera_pictures::coverage::map::{MapSpec, frame};
use tessera_testkit::scratch;

fn t(lon: f64, lat: f64) -> TileId {
    TileId::from_centre(lon, lat).unwrap()
}

/// Tiles near Cambridge: A every year, B only 2024 (the latest), C only 2022, D 2022 and
/// 2023; a landmask E without tiles.
const A: (f64, f64) = (0.15, 52.15);
const B: (f64, f64) = (0.35, 52.15);
const C: (f64, f64) = (0.55, 52.15);
const D: (f64, f64) = (0.75, 52.15);
const E: (f64, f64) = (-0.45, 52.45);

fn registry(dir: &Path) {
    let mut rows = Vec::new();
    let mut add = |y: i32, (lon, lat): (f64, f64)| {
        let tile = t(lon, lat);
        rows.push(ManifestRecord {
            version: "1.1".into(),
            variant: "cambridge".into(),
            year: y,
            tile,
            directory: format!("s3://tessera/tessera/npy/v1.1-cam/{y}/{}", tile.name()),
            grid_path: format!(
                "s3://tessera/tessera/npy/v1.1-cam/{y}/{0}/{0}.npy",
                tile.name()
            ),
            scales_path: format!(
                "s3://tessera/tessera/npy/v1.1-cam/{y}/{0}/{0}_scales.npy",
                tile.name()
            ),
            grid_mtime_ns: 0,
            scales_mtime_ns: 0,
            grid_size: 1000,
            scales_size: 100,
        });
    };
    for y in [2022, 2023, 2024] {
        add(y, A);
    }
    add(2024, B);
    add(2022, C);
    add(2022, D);
    add(2023, D);
    write_manifest(&dir.join("manifest.parquet"), &rows).unwrap();
    let lm: Vec<LandmaskRecord> = [A, B, C, D, E]
        .iter()
        .map(|&(lon, lat)| LandmaskRecord {
            tile: t(lon, lat),
            file_size: 10,
            mtime_ns: 0,
            key: "s3://tessera/tessera/landmasks/v1.1/x.tiff".into(),
        })
        .collect();
    write_landmasks(&dir.join("landmasks.parquet"), &lm).unwrap();
}

fn decode(p: &Path) -> (u32, u32, Vec<u8>, png::ColorType) {
    let d = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(p).unwrap()));
    let mut r = d.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf, info.color_type)
}

fn setup(name: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let reg = dir.join("reg");
    std::fs::create_dir_all(&reg).unwrap();
    registry(&reg);
    (dir, reg)
}

fn run(reg: &Path, args: &[&str]) -> (i32, String, String) {
    // The mirror is never read: --registry-dir has the manifests.
    let r = reg.to_string_lossy().into_owned();
    let mut a = vec!["--mirror", &r, "coverage", "--registry-dir", &r];
    a.extend_from_slice(args);
    tessera(&a, &[])
}

#[test]
fn writes_the_png_json_texture_and_globe_into_a_directory() {
    let (dir, reg) = setup("coverage-dir");
    let out = dir.join("out");
    let o = format!("{}/", out.display());
    let (code, stdout, stderr) = run(&reg, &["--width", "1000", "-o", &o]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Coverage map saved to"), "{stdout}");
    for f in [
        "tessera_coverage.png",
        "coverage.json",
        "coverage_v1.1_cambridge.json",
        "coverage_v1.1_cambridge_2022.json",
        "coverage_v1.1_cambridge_2023.json",
        "coverage_v1.1_cambridge_2024.json",
        "coverage_texture_v1.1_cambridge.png",
        "globe.html",
        "globe_assets/globe-vendor.min.mjs",
        "globe_assets/earth.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("coverage.json")).unwrap()).unwrap();
    assert_eq!(index["schema_version"], 2);
    assert_eq!(index["datasets"][0]["id"], "v1.1_cambridge");
    assert_eq!(
        index["datasets"][0]["years"],
        serde_json::json!([2022, 2023, 2024])
    );
    assert_eq!(
        index["datasets"][0]["color"],
        serde_json::json!([31, 119, 180])
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("coverage_v1.1_cambridge.json")).unwrap())
            .unwrap();
    assert_eq!(meta["metadata"]["total_tiles"], 4);
    assert_eq!(meta["metadata"]["total_landmasks"], 5);
    assert_eq!(meta["metadata"]["total_no_coverage"], 1);
    assert_eq!(meta["metadata"]["version"], "v1.1");
    let y2022: Vec<String> = serde_json::from_slice(
        &std::fs::read(out.join("coverage_v1.1_cambridge_2022.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(y2022, ["0.15,52.15", "0.55,52.15", "0.75,52.15"]);

    // The texture: one pixel per tile, the reference's colours.
    let (w, h, px, ct) = decode(&out.join("coverage_texture_v1.1_cambridge.png"));
    assert_eq!((w, h, ct), (3600, 1800, png::ColorType::Rgba));
    let at = |(lon, lat): (f64, f64)| {
        let col = ((lon + 179.95) * 10.0).round() as usize;
        let row = ((89.95 - lat) * 10.0).round() as usize;
        let i = (row * 3600 + col) * 4;
        [px[i], px[i + 1], px[i + 2], px[i + 3]]
    };
    assert_eq!(at(A), [0, 200, 0, 255]);
    assert_eq!(at(B), [255, 200, 0, 255]);
    assert_eq!(at(C), [200, 100, 0, 255]);
    // 2 of 3 years: (0, int(2/3 * 200), int(100 + 2/3 * 155)).
    assert_eq!(at(D), [0, 133, 203, 255]);
    assert_eq!(at(E), [100, 100, 100, 76]);
    assert_eq!(at((10.05, 10.05)), [0, 0, 0, 0]);

    // The PNG: the globe at the requested width, half as high.
    let (w, h, _, _) = decode(&out.join("tessera_coverage.png"));
    assert_eq!((w, h), (1000, 500));
}

#[test]
fn a_region_map_shows_tiles_and_land_where_they_are() {
    let (dir, reg) = setup("coverage-region");
    let png_path = dir.join("map.png");
    let bbox = "-1.0,51.5,1.0,52.8";
    let (code, _, stderr) = run(
        &reg,
        &[
            "--bbox",
            bbox,
            "--year",
            "2022",
            "--tile-color",
            "blue",
            "--tile-alpha",
            "1",
            "--width",
            "1200",
            "-o",
            png_path.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        dir.join("coverage.json").is_file(),
        "ancillary files go beside the PNG"
    );
    let (w, h, px, ct) = decode(&png_path);
    assert_eq!(ct, png::ColorType::Rgb);
    let region = [-1.0, 51.5, 1.0, 52.8];
    let spec = MapSpec {
        width: 1200,
        region: Some(region),
        title: String::new(),
        stats: vec![],
        legend: vec![],
        palette: vec![],
        tile_alpha: 1.0,
        tile_size: 1.0,
        show_land: true,
        outline: vec![],
    };
    let (fw, fh, f) = frame(&spec).unwrap();
    assert_eq!((w, h), (fw, fh));
    assert_eq!(h, (1200.0f64 * 1.3 / 2.0).round() as u32);
    let rgb = |lon: f64, lat: f64| {
        let (x, y) = f.image_pixel(lon, lat).unwrap();
        let i = ((y * w + x) * 3) as usize;
        [px[i], px[i + 1], px[i + 2]]
    };
    // 2022 tiles are blue; B (2024 only) is not drawn for --year 2022: land shows.
    assert_eq!(rgb(A.0, A.1), [0, 0, 255]);
    assert_eq!(rgb(C.0, C.1), [0, 0, 255]);
    assert_eq!(rgb(D.0, D.1), [0, 0, 255]);
    assert_eq!(rgb(B.0, B.1), LIGHTGRAY);
}

#[test]
fn bad_options_exit_2_and_write_nothing() {
    let (dir, reg) = setup("coverage-bad");
    let out = dir.join("out.png");
    for args in [
        vec!["--tile-alpha", "2"],
        vec!["--tile-color", "notacolour"],
        vec!["--width", "3"],
        vec!["--bbox", "1,2,3"],
        vec!["--bbox", "0,51,1,52", "--tile", "0.1,51.1"],
    ] {
        let mut a = args.clone();
        a.extend(["-o", out.to_str().unwrap()]);
        let (code, _, stderr) = run(&reg, &a);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(!stderr.is_empty());
        assert!(!out.exists());
    }
    // A dataset the manifest has no rows for: a clear failure, no PNG.
    let (code, _, stderr) = run(
        &reg,
        &["--dataset-version", "v1", "-o", out.to_str().unwrap()],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("no rows"), "{stderr}");
    assert!(!out.exists());
}
