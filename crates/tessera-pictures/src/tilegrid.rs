//! The web tile grid of gdal2tiles' `mercator` profile (its `GlobalMercator`): EPSG:3857,
//! 256-pixel tiles, TMS rows (row 0 at the south), and the tile ranges it derives from a
//! raster's bounds, so that our tiles have gdal2tiles' names and bounds.

/// Pixels along a tile's side.
pub const TILE_SIZE: usize = 256;
/// Half the Web Mercator world's width in metres (`2 pi 6378137 / 2`).
pub const ORIGIN_SHIFT: f64 = std::f64::consts::PI * 6_378_137.0;
/// The deepest zoom level gdal2tiles accepts (and we).
pub const MAX_ZOOM: u8 = 24;

/// Metres per pixel at `zoom`.
pub fn resolution(zoom: u8) -> f64 {
    2.0 * ORIGIN_SHIFT / TILE_SIZE as f64 / f64::from(1u32 << zoom)
}

/// A tile: zoom, column, and TMS row (0 at the south).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebTile {
    /// Zoom level.
    pub z: u8,
    /// Column, from the west.
    pub x: u32,
    /// TMS row, from the south.
    pub y: u32,
}

impl WebTile {
    /// The tile's bounds in EPSG:3857 `[minx, miny, maxx, maxy]` (`TileBounds`).
    pub fn bounds(&self) -> [f64; 4] {
        let r = resolution(self.z) * TILE_SIZE as f64;
        let minx = f64::from(self.x) * r - ORIGIN_SHIFT;
        let miny = f64::from(self.y) * r - ORIGIN_SHIFT;
        [minx, miny, minx + r, miny + r]
    }

    /// The row counted from the north (XYZ), for servers that name tiles that way.
    pub fn xyz_row(&self) -> u32 {
        (1u32 << self.z) - 1 - self.y
    }

    /// Whether the tile exists in the world grid at its zoom.
    pub fn is_valid(&self) -> bool {
        self.z <= MAX_ZOOM && self.x < (1u32 << self.z) && self.y < (1u32 << self.z)
    }

    /// `z/x/y.png`, the tile's path in a TMS tree.
    pub fn rel_path(&self) -> String {
        format!("{}/{}/{}.png", self.z, self.x, self.y)
    }
}

/// The tile containing EPSG:3857 (`mx`, `my`) at `zoom` (`MetersToTile`: a point on a tile
/// edge belongs to the tile below and to the west).
fn meters_to_tile(mx: f64, my: f64, zoom: u8) -> (i64, i64) {
    let res = resolution(zoom);
    let px = (mx + ORIGIN_SHIFT) / res;
    let py = (my + ORIGIN_SHIFT) / res;
    let t = |p: f64| ((p / TILE_SIZE as f64).ceil() - 1.0) as i64;
    (t(px), t(py))
}

/// The tiles `[minx, miny, maxx, maxy]` (inclusive) gdal2tiles makes at `zoom` for a
/// raster with bounds `[minx, miny, maxx, maxy]` in EPSG:3857, cropped to the world.
pub fn tile_range(bounds: [f64; 4], zoom: u8) -> [u32; 4] {
    let (x0, y0) = meters_to_tile(bounds[0], bounds[1], zoom);
    let (x1, y1) = meters_to_tile(bounds[2], bounds[3], zoom);
    let last = i64::from((1u32 << zoom) - 1);
    let c = |v: i64| v.clamp(0, last) as u32;
    [c(x0), c(y0), c(x1), c(y1)]
}

/// The zoom whose pixel is the largest not coarser than `pixel` (gdal2tiles'
/// `ZoomForPixelSize`, its default deepest zoom).
pub fn zoom_for_pixel_size(pixel: f64) -> u8 {
    for z in 0..=MAX_ZOOM {
        if pixel > resolution(z) {
            return z.saturating_sub(1);
        }
    }
    MAX_ZOOM
}

/// The tiles of an inclusive range, south row first then west to east.
pub fn tiles_in(z: u8, range: [u32; 4]) -> impl Iterator<Item = WebTile> {
    (range[1]..=range[3]).flat_map(move |y| (range[0]..=range[2]).map(move |x| WebTile { z, x, y }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_have_gdal2tiles_bounds_and_ranges() {
        assert!((resolution(0) - 156_543.033_928_041).abs() < 1e-6);
        let t = WebTile { z: 1, x: 1, y: 1 };
        assert_eq!(t.bounds(), [0.0, 0.0, ORIGIN_SHIFT, ORIGIN_SHIFT]);
        assert_eq!(t.xyz_row(), 0);
        assert_eq!(t.rel_path(), "1/1/1.png");
        // A box just north-east of the origin: tile (1, 1) at zoom 1 on either side.
        let b = [10.0, 10.0, 1000.0, 1000.0];
        assert_eq!(tile_range(b, 1), [1, 1, 1, 1]);
        // A box on the origin: its lower-left is in the tile to the south-west.
        assert_eq!(tile_range([0.0, 0.0, 1000.0, 1000.0], 1), [0, 0, 1, 1]);
        // The whole world at zoom 2 is 4 x 4 tiles.
        let w = [-ORIGIN_SHIFT, -ORIGIN_SHIFT, ORIGIN_SHIFT, ORIGIN_SHIFT];
        assert_eq!(tile_range(w, 2), [0, 0, 3, 3]);
        assert_eq!(tiles_in(2, [0, 0, 3, 3]).count(), 16);
        assert_eq!(zoom_for_pixel_size(10.0), 13);
        assert_eq!(zoom_for_pixel_size(resolution(5)), 5);
        assert!(!WebTile { z: 2, x: 4, y: 0 }.is_valid());
    }
}
