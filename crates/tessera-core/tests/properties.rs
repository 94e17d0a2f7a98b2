//! Property tests: grid and projection round trips.

use proptest::prelude::*;
use tessera_core::{Affine, Crs, TileGeoref, TileId, grid::coord_key};

proptest! {
    #[test]
    fn point_lies_in_its_tile(lon in -180.0f64..180.0, lat in -90.0f64..90.0) {
        let t = TileId::containing(lon, lat).unwrap();
        let [w, s, e, n] = t.bounds();
        // Half-open cells, up to f64 rounding of the 0.05 offsets.
        prop_assert!(w - 1e-12 <= lon && lon < e + 1e-12);
        prop_assert!(s - 1e-12 <= lat && lat < n + 1e-12);
        // Name and keys round-trip.
        let parsed: TileId = t.name().parse().unwrap();
        prop_assert_eq!(parsed, t);
        prop_assert_eq!(TileId::from_keys(coord_key(t.lon()), coord_key(t.lat())).unwrap(), t);
        prop_assert_eq!(TileId::containing(t.lon(), t.lat()).unwrap(), t);
    }

    #[test]
    fn utm_round_trip(zone in 1u8..=60, north in any::<bool>(), dlon in -3.5f64..3.5, lat in -80.0f64..84.0) {
        let crs = Crs::Utm { zone, north };
        let lon0 = f64::from(zone) * 6.0 - 183.0;
        let lon = lon0 + dlon;
        let lon = if lon < -180.0 { lon + 360.0 } else if lon > 180.0 { lon - 360.0 } else { lon };
        let (x, y) = crs.forward(lon, lat);
        let (lon2, lat2) = crs.inverse(x, y);
        let dl = (lon2 - lon + 540.0).rem_euclid(360.0) - 180.0;
        prop_assert!(dl.abs() < 1e-10 && (lat2 - lat).abs() < 1e-10, "{} {} -> {} {}", lon, lat, lon2, lat2);
    }

    #[test]
    fn web_mercator_round_trip(lon in -180.0f64..180.0, lat in -85.0f64..85.0) {
        let (x, y) = Crs::WebMercator.forward(lon, lat);
        let (lon2, lat2) = Crs::WebMercator.inverse(x, y);
        prop_assert!((lon2 - lon).abs() < 1e-10 && (lat2 - lat).abs() < 1e-10);
    }

    #[test]
    fn pixel_round_trip(col in 0u32..2000, row in 0u32..2000, fx in 0.0f64..1.0, fy in 0.0f64..1.0,
                        x0 in 1.0e5f64..9.0e5, y0 in -9.0e6f64..9.0e6) {
        let t = Affine::north_up(x0, y0, 10.0);
        let (x, y) = t.apply(f64::from(col) + fx * 0.98 + 0.01, f64::from(row) + fy * 0.98 + 0.01);
        prop_assert_eq!(t.rowcol(x, y), Some((i64::from(row), i64::from(col))));
    }

    #[test]
    fn tile_centre_in_raster(lon_cell in -1800i32..1800, lat_cell in -800i32..840) {
        let tile = TileId::from_keys(lon_cell * 10 + 5, lat_cell * 10 + 5).unwrap();
        let g = TileGeoref::of_tile(tile);
        prop_assert!(g.width > 100 && g.height > 1000);
        prop_assert!(g.pixel_of(tile.lon(), tile.lat()).is_some());
    }
}
