//! The georeference of a published tile, computed from its name alone.
//!
//! The tile raster is the UTM rectangle circumscribing the 0.1° cell, in the zone of the
//! centre longitude (326NN if the centre latitude is ≥ 0, else 327NN): the four cell
//! corners are projected, the origin is the west-most west corner and the north-most
//! north corner (not snapped to 10 m), and width/height are the rounded extents / 10 m.
//! This matches the landmask GeoTIFFs and the NPY shapes of the published data.

use crate::affine::Affine;
use crate::crs::Crs;
use crate::grid::TileId;

/// Pixel size of the published rasters in metres.
pub const PIXEL_SIZE_M: f64 = 10.0;

/// CRS, transform and size of a tile raster.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileGeoref {
    /// The tile's UTM CRS.
    pub crs: Crs,
    /// Pixel-to-map transform (10 m pixels, north up).
    pub transform: Affine,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

/// Python's `round()` to an integer (half to even), clamped at 0 for sizes.
fn round_size(v: f64) -> usize {
    let r = v.round_ties_even();
    if r.is_finite() && r > 0.0 {
        r as usize
    } else {
        0
    }
}

impl TileGeoref {
    /// The georeference of `tile`, as the published landmasks carry it.
    pub fn of_tile(tile: TileId) -> TileGeoref {
        let (lon, lat) = (tile.lon(), tile.lat());
        let crs = Crs::utm_for(lon, lat);
        let [west, south, east, north] = tile.bounds();
        let (ul_e, ul_n) = crs.forward(west, north);
        let (ur_e, ur_n) = crs.forward(east, north);
        let (ll_e, ll_n) = crs.forward(west, south);
        let (lr_e, lr_n) = crs.forward(east, south);
        let origin_e = ul_e.min(ll_e);
        let origin_n = ul_n.max(ur_n);
        let height = round_size((origin_n - ll_n.min(lr_n)) / PIXEL_SIZE_M);
        let width = round_size((ur_e.max(lr_e) - origin_e) / PIXEL_SIZE_M);
        TileGeoref {
            crs,
            transform: Affine::north_up(origin_e, origin_n, PIXEL_SIZE_M),
            width,
            height,
        }
    }

    /// Map bounds `[xmin, ymin, xmax, ymax]` of the raster.
    pub fn map_bounds(&self) -> [f64; 4] {
        let t = &self.transform;
        let (x0, y0) = (t.c, t.f);
        let (x1, y1) = t.apply(self.width as f64, self.height as f64);
        [x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)]
    }

    /// The pixel `(row, col)` containing a WGS84 point, if it lies inside the raster.
    pub fn pixel_of(&self, lon: f64, lat: f64) -> Option<(usize, usize)> {
        let (x, y) = self.crs.forward(lon, lat);
        let (row, col) = self.transform.rowcol(x, y)?;
        if row >= 0 && col >= 0 && (row as usize) < self.height && (col as usize) < self.width {
            Some((row as usize, col as usize))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, epsg: u32, origin: Option<(f64, f64)>, hw: (usize, usize)) {
        let g = TileGeoref::of_tile(name.parse().unwrap());
        assert_eq!(g.crs.epsg(), Some(epsg), "{name}");
        assert_eq!((g.height, g.width), hw, "{name}");
        if let Some((x, y)) = origin {
            assert!(
                (g.transform.c - x).abs() < 5e-4,
                "{name} x {}",
                g.transform.c
            );
            assert!(
                (g.transform.f - y).abs() < 5e-4,
                "{name} y {}",
                g.transform.f
            );
        }
        assert_eq!((g.transform.a, g.transform.e), (10.0, -10.0));
    }

    #[test]
    fn spec_vectors() {
        check(
            "grid_0.15_52.05",
            32631,
            Some((300933.936, 5776128.478)),
            (1139, 729),
        );
        check(
            "grid_-0.15_51.25",
            32630,
            Some((695188.258, 5687181.143)),
            (1139, 741),
        );
        check("grid_2.95_51.45", 32631, None, (1113, 696));
        check(
            "grid_0.05_0.05",
            32631,
            Some((166021.443, 11068.276)),
            (1107, 1114),
        );
        check(
            "grid_-179.95_-0.05",
            32701,
            Some((166021.443, 10000000.0)),
            (1107, 1114),
        );
        check("grid_36.85_-1.25", 32737, None, (1107, 1114));
        check("grid_10.05_78.05", 32632, None, (1120, 251));
    }

    #[test]
    fn cell_points_fall_inside() {
        let tile: TileId = "grid_0.15_52.05".parse().unwrap();
        let g = TileGeoref::of_tile(tile);
        // The rounded width/height may cut up to half a pixel off the circumscribing
        // rectangle, so exact cell corners can fall outside; 10 m inside they never do.
        let [w, s, e, n] = tile.bounds();
        let m = 1e-4;
        for (lon, lat) in [
            (w + m, s + m),
            (w + m, n - m),
            (e - m, s + m),
            (e - m, n - m),
            (0.15, 52.05),
        ] {
            assert!(g.pixel_of(lon, lat).is_some(), "{lon} {lat}");
        }
    }
}
