//! Land and water: the union of the country polygons, evaluated by scanlines.
//!
//! Every ring edge is kept with its direction; a horizontal line at latitude `y` crosses a
//! sorted set of edges, and a point is on land when the winding number of the crossings to
//! its west is non-zero (union semantics, robust to touching or overlapping countries).
//! Edges are bucketed by one-degree latitude bands so a scanline touches only nearby edges.

use std::sync::LazyLock;

use crate::ne110m::ne110m;

/// One directed edge (x0, y0) → (x1, y1) in degrees.
#[derive(Debug, Clone, Copy)]
struct Edge {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

/// The land polygons' edges, indexed by latitude band.
pub struct LandIndex {
    bands: Vec<Vec<Edge>>,
}

const BAND_DEG: f64 = 1.0;
const NBANDS: usize = 181;

fn band_of(lat: f64) -> usize {
    (((lat + 90.0) / BAND_DEG).floor().max(0.0) as usize).min(NBANDS - 1)
}

impl LandIndex {
    fn build() -> LandIndex {
        let mut bands: Vec<Vec<Edge>> = vec![Vec::new(); NBANDS];
        for c in ne110m() {
            for p in &c.polygons {
                for ring in &p.rings {
                    let n = ring.len();
                    for i in 0..n {
                        let (x0, y0) = ring[i];
                        let (x1, y1) = ring[(i + 1) % n];
                        if y0 == y1 {
                            continue; // horizontal edges never cross a scanline
                        }
                        let e = Edge { x0, y0, x1, y1 };
                        for band in &mut bands[band_of(y0.min(y1))..=band_of(y0.max(y1))] {
                            band.push(e);
                        }
                    }
                }
            }
        }
        LandIndex { bands }
    }

    /// The crossings of the scanline at `lat`: (longitude, +1 upward / -1 downward), sorted.
    pub fn crossings(&self, lat: f64) -> Vec<(f64, i32)> {
        let mut out = Vec::new();
        if !lat.is_finite() {
            return out;
        }
        for e in &self.bands[band_of(lat)] {
            // Half-open in y so a vertex shared by two edges is counted once.
            let (lo, hi, dir) = if e.y0 < e.y1 {
                (e.y0, e.y1, 1)
            } else {
                (e.y1, e.y0, -1)
            };
            if lat >= lo && lat < hi {
                let t = (lat - e.y0) / (e.y1 - e.y0);
                out.push((e.x0 + t * (e.x1 - e.x0), dir));
            }
        }
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }

    /// Whether a point is on land.
    pub fn is_land(&self, lon: f64, lat: f64) -> bool {
        let w: i32 = self
            .crossings(lat)
            .iter()
            .take_while(|(x, _)| *x < lon)
            .map(|(_, d)| d)
            .sum();
        w != 0
    }
}

static INDEX: LazyLock<LandIndex> = LazyLock::new(LandIndex::build);

/// The shared land index (built on first use, a few milliseconds).
pub fn land_index() -> &'static LandIndex {
    &INDEX
}

/// Land/water on a regular lon/lat grid covering a box: 1 = land, 0 = water.
#[derive(Debug, Clone)]
pub struct LandRaster {
    /// West edge of the grid.
    pub west: f64,
    /// North edge of the grid.
    pub north: f64,
    /// Cell size in degrees.
    pub res: f64,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Row-major cells, north row first.
    pub cells: Vec<u8>,
}

impl LandRaster {
    /// Rasterises the box `[west, south, east, north]` at `res` degrees per cell.
    pub fn new(index: &LandIndex, bbox: [f64; 4], res: f64) -> LandRaster {
        let [west, south, east, north] = bbox;
        let width = (((east - west) / res).ceil() as usize).max(1);
        let height = (((north - south) / res).ceil() as usize).max(1);
        let mut cells = vec![0u8; width * height];
        for r in 0..height {
            let lat = north - (r as f64 + 0.5) * res;
            let xs = index.crossings(lat);
            let row = &mut cells[r * width..(r + 1) * width];
            // Walk the crossings west to east, tracking the winding number.
            let mut w = 0i32;
            let mut k = 0;
            for (c, cell) in row.iter_mut().enumerate() {
                let lon = west + (c as f64 + 0.5) * res;
                while k < xs.len() && xs[k].0 < lon {
                    w += xs[k].1;
                    k += 1;
                }
                *cell = u8::from(w != 0);
            }
        }
        LandRaster {
            west,
            north,
            res,
            width,
            height,
            cells,
        }
    }

    /// The cell value at a point (nearest cell; outside the grid counts as water).
    pub fn at(&self, lon: f64, lat: f64) -> u8 {
        let c = ((lon - self.west) / self.res).floor();
        let r = ((self.north - lat) / self.res).floor();
        if c < 0.0 || r < 0.0 || c >= self.width as f64 || r >= self.height as f64 {
            return 0;
        }
        self.cells[r as usize * self.width + c as usize]
    }

    /// True when every cell is land.
    pub fn all_land(&self) -> bool {
        self.cells.iter().all(|&c| c == 1)
    }

    /// True when no cell is land.
    pub fn all_water(&self) -> bool {
        self.cells.iter().all(|&c| c == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_places() {
        let idx = land_index();
        for (lon, lat) in [
            (0.12, 52.2),
            (-3.7, 40.4),
            (2.35, 48.85),
            (-100.0, 40.0),
            (25.0, -25.0),
            (100.0, 60.0),
        ] {
            assert!(idx.is_land(lon, lat), "{lon} {lat} should be land");
        }
        for (lon, lat) in [
            (-30.0, 40.0),
            (-150.0, 0.0),
            (80.0, -40.0),
            (3.0, 54.5),
            (50.0, 42.0),
        ] {
            assert!(!idx.is_land(lon, lat), "{lon} {lat} should be water");
        }
    }

    #[test]
    fn raster_agrees_with_points() {
        let idx = land_index();
        let r = LandRaster::new(idx, [1.0, 50.5, 2.5, 51.5], 0.05);
        for row in 0..r.height {
            for col in 0..r.width {
                let lon = r.west + (col as f64 + 0.5) * r.res;
                let lat = r.north - (row as f64 + 0.5) * r.res;
                assert_eq!(r.cells[row * r.width + col] == 1, idx.is_land(lon, lat));
            }
        }
        assert!(
            !r.all_land() && !r.all_water(),
            "the Channel coast crosses this box"
        );
    }
}
