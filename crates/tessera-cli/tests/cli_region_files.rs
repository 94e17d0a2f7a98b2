//! `--region-file` as GeoPackage (written by GDAL's ogr2ogr, the oracle) and by URL (from
//! `tessera mirror serve` on 127.0.0.1): the same tiles as the same region in GeoJSON.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Served, tessera};
use tessera_core::Bbox;
use tessera_synth::{SynthOptions, synthesize};
use tessera_testkit::scratch_shared;

/// A polygon around 24.02-24.08 E, 69.02-69.08 N: inside the eastern tile.
const EAST: &str = r#"{"type": "FeatureCollection", "features": [{"type": "Feature",
  "properties": {"name": "east"}, "geometry": {"type": "Polygon", "coordinates":
  [[[24.02, 69.02], [24.08, 69.02], [24.08, 69.08], [24.02, 69.08], [24.02, 69.02]]]}}]}"#;

/// A small mirror of its own (2024, v1.1-cam), with the region files inside it so that
/// `mirror serve` serves them too.
fn mirror() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_shared("region-files-mirror");
        let mut o = SynthOptions::new(&dir, Bbox::new(23.91, 69.01, 24.09, 69.09).unwrap());
        o.years = vec![2024];
        o.datasets = vec!["v1.1-cam".into()];
        o.missing_rate = 0.0;
        synthesize(&o, &|_, _, _| {}).unwrap();
        let regions = dir.join("regions");
        std::fs::create_dir_all(&regions).unwrap();
        std::fs::write(regions.join("east.geojson"), EAST).unwrap();
        ogr2ogr(
            &regions.join("east.gpkg"),
            &regions.join("east.geojson"),
            &[],
        );
        ogr2ogr(
            &regions.join("east-utm.gpkg"),
            &regions.join("east.geojson"),
            &["-t_srs", "EPSG:32635"],
        );
        ogr2ogr(
            &regions.join("east-utm.shp"),
            &regions.join("east.geojson"),
            &["-t_srs", "EPSG:32635", "-f", "ESRI Shapefile"],
        );
        dir
    })
}

/// GDAL's ogr2ogr (Debian gdal-bin): required, never skipped.
fn ogr2ogr(out: &Path, input: &Path, extra: &[&str]) {
    let mut c = Command::new("ogr2ogr");
    if !extra.contains(&"-f") {
        c.args(["-f", "GPKG"]);
    }
    let st = c
        .args(extra)
        .arg(out)
        .arg(input)
        .status()
        .expect("ogr2ogr not found; install GDAL (Debian: apt-get install gdal-bin)");
    assert!(st.success(), "ogr2ogr failed for {}", out.display());
}

/// `download --dry-run --json` for a region file: (exit code, JSON or stderr).
fn dry_run(region: &str) -> (i32, serde_json::Value, String) {
    let m = mirror().display().to_string();
    let (code, out, err) = tessera(
        &[
            "download",
            "--region-file",
            region,
            "--dry-run",
            "--json",
            "--source",
            "tiles",
            "--dataset-variant",
            "cambridge",
            "--year",
            "2024",
            "-o",
            "unused",
            "--mirror",
            &m,
        ],
        &[],
    );
    let v = serde_json::from_str(out.trim()).unwrap_or(serde_json::Value::Null);
    (code, v, err)
}

fn tile_names(region: &str) -> serde_json::Value {
    let (code, v, err) = dry_run(region);
    assert_eq!(code, 0, "{region}: {err}");
    v["tile_names"].clone()
}

#[test]
fn geopackages_select_the_tiles_of_the_same_geojson() {
    let regions = mirror().join("regions");
    let want = tile_names(regions.join("east.geojson").to_str().unwrap());
    assert_eq!(want, serde_json::json!(["grid_24.05_69.05"]));
    for f in ["east.gpkg", "east-utm.gpkg"] {
        assert_eq!(tile_names(regions.join(f).to_str().unwrap()), want, "{f}");
    }
}

#[test]
fn region_files_by_url_select_the_same_tiles() {
    let s = Served::start(mirror(), &[]);
    let want = tile_names(mirror().join("regions/east.geojson").to_str().unwrap());
    for f in ["east.geojson", "east.gpkg", "east-utm.gpkg", "east-utm.shp"] {
        let url = format!("{}/regions/{f}", s.url);
        assert_eq!(tile_names(&url), want, "{url}");
    }
}

#[test]
fn a_missing_url_is_one_error_line_naming_it() {
    let s = Served::start(mirror(), &[]);
    for f in ["nowhere.gpkg", "nowhere.geojson"] {
        let url = format!("{}/regions/{f}", s.url);
        let (code, _, err) = dry_run(&url);
        assert!(code == 1 || code == 2, "{url}: exit {code}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(&url), "{err}");
    }
}
