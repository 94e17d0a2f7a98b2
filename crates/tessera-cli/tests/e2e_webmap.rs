//! `tessera webmap` end to end: tiles and viewer from an RGBA GeoTIFF, reuse and --force,
//! bad zooms, and the viewer opened in Chromium through `tessera serve` on a free port:
//! tiles load, nothing is asked of any host but 127.0.0.1, no console errors, and the
//! screenshot is not blank.

mod common;
mod webcommon;

use common::tessera;
use tessera_testkit::scratch;
use webcommon::{Served, assert_good_page, check_page, mercator_picture};

fn webmap(args: &[&str]) -> serde_json::Value {
    let mut a = vec!["webmap"];
    a.extend_from_slice(args);
    a.push("--json");
    let (code, out, err) = tessera(&a, &[]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(out.trim()).unwrap()
}

#[test]
fn webmap_writes_tiles_and_a_viewer_that_a_browser_shows() {
    let d = scratch("e2e-webmap");
    let src = mercator_picture(&d);
    let out = d.join("map");
    let (s, o) = (src.display().to_string(), out.display().to_string());
    let zooms = [
        "--min-zoom",
        "11",
        "--max-zoom",
        "14",
        "--initial-zoom",
        "13",
    ];
    let mut args = vec![s.as_str(), "-o", o.as_str()];
    args.extend_from_slice(&zooms);
    let v = webmap(&args);
    assert_eq!(v["reused"], false);
    assert!(v["tiles"].as_u64().unwrap() > 10, "{v}");
    for f in [
        "viewer.html",
        "tiles.json",
        "leaflet/leaflet.js",
        "leaflet/leaflet.css",
        "leaflet/images/layers.png",
        "leaflet/LICENSE",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let html = std::fs::read_to_string(out.join("viewer.html")).unwrap();
    assert!(html.contains("<title>GeoTessera-rs - rgb_mosaic.tif</title>"));
    assert!(html.contains(r#""initialZoom":13"#));
    let tile = out.join("tiles/14");
    assert!(tile.is_dir());
    // Unchanged: reused.
    let again = webmap(&args);
    assert_eq!(again["reused"], true, "{again}");
    assert_eq!(again["tiles"], v["tiles"]);
    // --force: rebuilt.
    let mut forced = args.clone();
    forced.push("--force");
    assert_eq!(webmap(&forced)["reused"], false);

    // The viewer in a browser, through tessera serve on a free port.
    let server = Served::start(&["serve", &o, "--port", "0"]);
    let shot = d.join("viewer.png");
    let page = check_page(&format!("{}viewer.html", server.url), &shot, 4);
    assert_good_page(&page, 4);
    let reqs: Vec<&str> = page["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u.as_str())
        .collect();
    assert!(
        reqs.iter().any(|u| u.ends_with("/leaflet/leaflet.js")),
        "{reqs:?}"
    );
    assert!(
        reqs.iter().any(|u| u.contains("/tiles/13/")),
        "the viewer opens at --initial-zoom: {reqs:?}"
    );
    // / serves the viewer too (the first existing of the reference's pages).
    let (st, head, body) = webcommon::raw(server.port, "GET / HTTP/1.1", &[]);
    assert_eq!(st, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("GeoTessera-rs"));
}

#[test]
fn webmap_refuses_bad_zooms_and_inputs_with_usage_errors() {
    let d = scratch("e2e-webmap-bad");
    let src = mercator_picture(&d);
    let s = src.display().to_string();
    let o = d.join("m").display().to_string();
    let (code, _, err) = tessera(
        &[
            "webmap",
            &s,
            "-o",
            &o,
            "--min-zoom",
            "12",
            "--max-zoom",
            "10",
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--min-zoom"), "{err}");
    let (code, _, err) = tessera(&["webmap", &s, "-o", &o, "--max-zoom", "25"], &[]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = tessera(&["webmap", "/nonexistent.tif", "-o", &o], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no such file"), "{err}");
    // A float GeoTIFF is not a picture.
    let f = d.join("float.tif");
    let mut spec =
        tessera_formats::geotiff::writer::GeoTiffSpec::new(4, 4, 1, tessera_formats::DType::F32);
    spec.georef = Some((
        tessera_core::Crs::WebMercator,
        tessera_core::Affine::north_up(0.0, 0.0, 10.0),
    ));
    let mut w = tessera_formats::geotiff::writer::GeoTiffFile::create(&f, spec).unwrap();
    w.writer().write_rows(&[0f32; 16]).unwrap();
    w.finish().unwrap();
    let (code, _, err) = tessera(&["webmap", &f.display().to_string(), "-o", &o], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("RGB"), "{err}");
    assert!(
        !d.join("m/tiles").exists(),
        "nothing is written for a refused input"
    );
}
