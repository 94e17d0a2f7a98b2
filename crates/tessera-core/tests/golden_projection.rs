//! Agreement with PROJ (pyproj) on committed golden vectors: forward within 1 mm and
//! inverse within 1e-9 degree, for every UTM zone north and south, the 326NN
//! negative-northing convention, and Web Mercator; tile georeferences exactly.

use tessera_core::{Crs, TileGeoref, TileId};

fn data(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/");
    std::fs::read_to_string(format!("{path}{name}")).expect("golden vectors present")
}

#[test]
fn projections_agree_with_proj() {
    let text = data("projection_vectors.csv");
    let (mut n_fwd, mut n_inv) = (0, 0);
    let (mut worst_fwd, mut worst_inv) = (0f64, 0f64);
    let mut zones = std::collections::HashSet::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let crs = Crs::from_epsg(f[1].parse().unwrap()).unwrap();
        let v: Vec<f64> = f[2..].iter().map(|s| s.parse().unwrap()).collect();
        let (lon, lat, x, y) = (v[0], v[1], v[2], v[3]);
        zones.insert(crs.epsg().unwrap());
        match f[0] {
            "fwd" => {
                let (px, py) = crs.forward(lon, lat);
                let err = (px - x).hypot(py - y);
                assert!(err <= 1e-3, "{line}: forward off by {err} m");
                worst_fwd = worst_fwd.max(err);
                n_fwd += 1;
            }
            "inv" => {
                let (plon, plat) = crs.inverse(x, y);
                let err = (plon - lon).abs().max((plat - lat).abs());
                assert!(err <= 1e-9, "{line}: inverse off by {err} deg");
                worst_inv = worst_inv.max(err);
                n_inv += 1;
            }
            k => panic!("unknown kind {k}"),
        }
    }
    assert!(n_fwd + n_inv >= 2000, "only {} vectors", n_fwd + n_inv);
    assert_eq!(zones.len(), 121, "every 326NN and 327NN zone plus 3857");
    eprintln!(
        "{n_fwd} forward (worst {worst_fwd:.2e} m), {n_inv} inverse (worst {worst_inv:.2e} deg)"
    );
}

#[test]
fn tile_georeferences_agree_with_reference_rule() {
    let text = data("tile_georef_vectors.csv");
    let mut n = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let tile: TileId = f[0].parse().unwrap();
        let g = TileGeoref::of_tile(tile);
        let (epsg, ox, oy): (u32, f64, f64) = (
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
        );
        let (w, h): (usize, usize) = (f[4].parse().unwrap(), f[5].parse().unwrap());
        assert_eq!(g.crs.epsg(), Some(epsg), "{line}");
        assert_eq!((g.width, g.height), (w, h), "{line}");
        assert!(
            (g.transform.c - ox).abs() < 1e-3 && (g.transform.f - oy).abs() < 1e-3,
            "{line}"
        );
        n += 1;
    }
    assert!(n >= 600);
}
