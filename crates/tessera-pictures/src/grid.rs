//! Output grids of mosaics: a CRS, a north-up transform and a size, laid over a WGS84
//! region the way the reference (rasterio's merge over `transform_bounds`) lays it.

use tessera_core::{Affine, Bbox, Crs, TileGeoref};

use crate::PictureError;

/// A north-up output grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetGrid {
    /// Its CRS.
    pub crs: Crs,
    /// Pixel-to-map transform (`b = d = 0`, `e < 0`).
    pub transform: Affine,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

/// A target CRS as a user names it: a CRS, or `tm` for a transverse Mercator centred on
/// the region (scale 1 on its central meridian, least distortion across it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrsChoice {
    /// This CRS.
    Crs(Crs),
    /// A [`Crs::LocalTm`] centred on the region's bounding box.
    CentredTm,
}

impl CrsChoice {
    /// The CRS for a region: [`Crs::LocalTm`] at the centre of `region` for `CentredTm`.
    pub fn resolve(&self, region: &Bbox) -> Crs {
        match *self {
            CrsChoice::Crs(c) => c,
            CrsChoice::CentredTm => Crs::local_tm(
                (region.west + region.east) / 2.0,
                (region.south + region.north) / 2.0,
            )
            .unwrap_or(Crs::Wgs84),
        }
    }
}

impl std::str::FromStr for CrsChoice {
    type Err = tessera_core::CrsError;
    /// `tm` (or `tmerc`) for the centred transverse Mercator, else a CRS.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tm" | "tmerc" => Ok(CrsChoice::CentredTm),
            _ => s.parse().map(CrsChoice::Crs),
        }
    }
}

/// The bounds `[W, S, E, N]` of a WGS84 box in `crs`: the extremes of its edges, each
/// densified with 21 points between the corners (rasterio's `transform_bounds`).
pub fn transform_bounds(bbox: &Bbox, crs: &Crs) -> [f64; 4] {
    if *crs == Crs::Wgs84 {
        return bbox.to_array();
    }
    tessera_client::zarr::region::utm_envelope(bbox, crs)
}

/// The source's outline in `dst`: 21 points along each edge (top, bottom, left, right
/// interleaved, as GDAL samples them); the first is the top-left corner, the last the
/// bottom-right one.
fn projected_outline(src: &TileGeoref, dst: &Crs) -> Vec<(f64, f64)> {
    let (w, h) = (src.width as f64, src.height as f64);
    let t = &src.transform;
    let steps = 20;
    let mut pts = Vec::with_capacity(4 * (steps + 1));
    for i in 0..=steps {
        let f = i as f64 / steps as f64;
        pts.extend([(f * w, 0.0), (f * w, h), (0.0, f * h), (w, f * h)]);
    }
    pts.iter()
        .map(|&(c, r)| {
            let (e, n) = (t.c + c * t.a + r * t.b, t.f + c * t.d + r * t.e);
            let (lon, lat) = src.crs.inverse(e, n);
            dst.forward(lon, lat)
        })
        .collect()
}

/// GDAL's suggested output resolution (square pixels) for warping `src` into `dst`
/// (`GDALSuggestedWarpOutput2`): the distance in `dst` between the source's transformed
/// top-left and bottom-right corners over its diagonal in pixels (the extent of its edges,
/// sampled at 21 points each, when that distance has a zero component).
pub fn suggested_resolution(src: &TileGeoref, dst: &Crs) -> f64 {
    let (w, h) = (src.width as f64, src.height as f64);
    let out = projected_outline(src, dst);
    // The first point is the top-left corner, the last the bottom-right one.
    let (first, last) = (out[0], out[out.len() - 1]);
    let (mut dx, mut dy) = (last.0 - first.0, last.1 - first.1);
    if dx == 0.0 || dy == 0.0 {
        let xs = out.iter().map(|p| p.0);
        let ys = out.iter().map(|p| p.1);
        dx = xs.clone().fold(f64::MIN, f64::max) - xs.fold(f64::MAX, f64::min);
        dy = ys.clone().fold(f64::MIN, f64::max) - ys.fold(f64::MAX, f64::min);
    }
    dx.hypot(dy) / w.hypot(h)
}

/// The bounds `[xmin, ymin, xmax, ymax]` in `dst` of the grid rasterio's
/// `calculate_default_transform(..., resolution=res)` gives `src`: GDAL's suggested
/// extent (edges sampled at 21 points, sized at its suggested resolution), then as many
/// `res` pixels as cover it, from its top-left corner.
pub fn suggested_bounds(src: &TileGeoref, dst: &Crs, res: (f64, f64)) -> [f64; 4] {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y) in projected_outline(src, dst) {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let g = suggested_resolution(src, dst);
    let px = ((x1 - x0) / g + 0.5).floor();
    let ln = ((y1 - y0) / g + 0.5).floor();
    let (r, b) = (x0 + px * g, y1 - ln * g);
    let cols = ((r - x0) / res.0).ceil().max(1.0);
    let rows = ((y1 - b) / res.1).ceil().max(1.0);
    [x0, y1 - rows * res.1, x0 + cols * res.0, y1]
}

impl TargetGrid {
    /// The grid over `bbox` in `crs` at `res` (x, y; positive): origin at the west and
    /// north of the bounds in `crs`, `round((E - W) / res_x)` columns and
    /// `round((N - S) / res_y)` rows (Python's round, half to even).
    pub fn for_region(bbox: &Bbox, crs: Crs, res: (f64, f64)) -> Result<TargetGrid, PictureError> {
        if !(res.0.is_finite() && res.1.is_finite() && res.0 > 0.0 && res.1 > 0.0) {
            return Err(PictureError::Usage(format!(
                "the resolution must be two positive numbers, got {} {}",
                res.0, res.1
            )));
        }
        let [w, s, e, n] = transform_bounds(bbox, &crs);
        let width = ((e - w) / res.0).round_ties_even();
        let height = ((n - s) / res.1).round_ties_even();
        if !(width >= 1.0 && height >= 1.0) {
            return Err(PictureError::Usage(format!(
                "the region is less than one pixel at {} x {} {}",
                res.0,
                res.1,
                crs_units(&crs)
            )));
        }
        if width * height > 1e12 {
            return Err(PictureError::Usage(format!(
                "the region at {} x {} {} would be {width} x {height} pixels; choose a \
                 coarser --resolution",
                res.0,
                res.1,
                crs_units(&crs)
            )));
        }
        Ok(TargetGrid {
            crs,
            transform: Affine {
                a: res.0,
                b: 0.0,
                c: w,
                d: 0.0,
                e: -res.1,
                f: n,
            },
            width: width as usize,
            height: height as usize,
        })
    }

    /// The map coordinates of the centre of pixel (`col`, `row`).
    pub fn centre(&self, col: usize, row: usize) -> (f64, f64) {
        let t = &self.transform;
        (
            t.c + (col as f64 + 0.5) * t.a,
            t.f + (row as f64 + 0.5) * t.e,
        )
    }
}

/// "degrees" or "metres".
pub fn crs_units(crs: &Crs) -> &'static str {
    if crs.is_projected() { "m" } else { "degrees" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_round_half_to_even_and_start_at_the_north_west() {
        let b = Bbox::new(0.1, 51.4, 0.3, 51.5).unwrap();
        let g = TargetGrid::for_region(&b, Crs::Wgs84, (1e-4, 1e-4)).unwrap();
        assert_eq!((g.width, g.height), (2000, 1000));
        assert_eq!((g.transform.c, g.transform.f), (0.1, 51.5));
        let (x, y) = g.centre(0, 0);
        assert!((x - 0.10005).abs() < 1e-12 && (y - 51.49995).abs() < 1e-12);
        // 2.5 pixels round to 2, 3.5 to 4.
        let b = Bbox::new(0.0, 0.0, 2.5, 3.5).unwrap();
        let g = TargetGrid::for_region(&b, Crs::Wgs84, (1.0, 1.0)).unwrap();
        assert_eq!((g.width, g.height), (2, 4));
        assert!(TargetGrid::for_region(&b, Crs::Wgs84, (0.0, 1.0)).is_err());
        assert!(TargetGrid::for_region(&b, Crs::Wgs84, (10.0, 10.0)).is_err());
    }

    #[test]
    fn the_suggested_resolution_of_a_utm_tile_in_degrees_is_about_ten_metres() {
        let crs = Crs::utm_for(0.15, 51.45);
        let (e, n) = crs.forward(0.1, 51.5);
        let g = TileGeoref {
            crs,
            transform: Affine {
                a: 10.0,
                b: 0.0,
                c: e,
                d: 0.0,
                e: -10.0,
                f: n,
            },
            width: 700,
            height: 1100,
        };
        let r = suggested_resolution(&g, &Crs::Wgs84);
        assert!(r > 8e-5 && r < 1.2e-4, "{r}");
        let r = suggested_resolution(&g, &crs);
        assert!((r - 10.0).abs() < 1e-6, "{r}");
    }
}
