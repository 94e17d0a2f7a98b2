//! One synthetic tile: its pixel grid (the published geometry, computed from the name), the
//! landmask, the land-cover classes of a year, and the quantised embeddings of a dataset.

use tessera_core::quant::{pixel_scale, quantise_pixel};
use tessera_core::{TileGeoref, TileId};
use tessera_world::{LandRaster, land_index};

use crate::embed::{DIM, K, Model};
use crate::noise::{Wy, fbm, hash2, value_noise};
use crate::world::{Class, Fields, World, metric};

/// Scale written for pixels without any observation (the real data carries such
/// near-FLT_MAX sentinels, with all-zero int8 vectors).
pub const NODATA_SCALE: f32 = f32::MAX;

/// The year- and dataset-independent part of a tile.
pub struct TileFrame {
    /// The tile.
    pub tile: TileId,
    /// Its georeference.
    pub georef: TileGeoref,
    /// 1 = land, 0 = water, row-major (H × W).
    pub landmask: Vec<u8>,
    /// Metric position of each pixel centre.
    xy: Vec<(f64, f64)>,
    /// Latitude of each pixel centre.
    lat: Vec<f32>,
    /// Coarse fields of each pixel.
    fields: Vec<Fields>,
}

/// Embeddings of one tile-year of one dataset.
pub struct TileEmbeddings {
    /// int8 (H, W, 128), row-major.
    pub q: Vec<i8>,
    /// float32 (H, W).
    pub scales: Vec<f32>,
}

impl TileFrame {
    /// The frame of `tile`, or `None` when the tile has no land at all.
    pub fn new(world: &World, tile: TileId) -> Option<TileFrame> {
        let georef = TileGeoref::of_tile(tile);
        let [w, s, e, n] = tile.bounds();
        let land = LandRaster::new(land_index(), [w - 0.03, s - 0.03, e + 0.03, n + 0.03], 1e-4);
        if land.all_water() {
            return None;
        }
        let (h, wd) = (georef.height, georef.width);
        let mut landmask = vec![0u8; h * wd];
        let mut xy = Vec::with_capacity(h * wd);
        let mut lat = Vec::with_capacity(h * wd);
        let t = georef.transform;
        // Inland tiles skip the per-pixel coastline test.
        let inland = land.all_land();
        for r in 0..h {
            for c in 0..wd {
                let (px, py) = t.apply(c as f64 + 0.5, r as f64 + 0.5);
                let (lo, la) = georef.crs.inverse(px, py);
                landmask[r * wd + c] = u8::from(inland || world.is_land(&land, lo, la));
                xy.push(metric(lo, la));
                lat.push(la as f32);
            }
        }
        if landmask.iter().all(|&v| v == 0) {
            return None;
        }
        let fields = xy.iter().map(|&(x, y)| world.fields(x, y)).collect();
        Some(TileFrame {
            tile,
            georef,
            landmask,
            xy,
            lat,
            fields,
        })
    }

    /// Pixels (H × W).
    pub fn len(&self) -> usize {
        self.landmask.len()
    }

    /// True for an empty raster (never for a real tile).
    pub fn is_empty(&self) -> bool {
        self.landmask.is_empty()
    }

    /// Land-cover class ids of `year` (ocean pixels are water).
    pub fn classes(&self, world: &World, year: i32) -> Vec<u8> {
        (0..self.len())
            .map(|i| {
                if self.landmask[i] == 0 {
                    return Class::Water as u8;
                }
                let (x, y) = self.xy[i];
                world.class_at(x, y, f64::from(self.lat[i]), &self.fields[i], year) as u8
            })
            .collect()
    }

    /// The quantised embeddings of `year` under `model`, for the given classes.
    pub fn embeddings(
        &self,
        world_seed: u64,
        model: &Model,
        dataset_seed: u64,
        year: i32,
        classes: &[u8],
    ) -> TileEmbeddings {
        let n = self.len();
        let (h, wd) = (self.georef.height, self.georef.width);
        let mut q = vec![0i8; n * DIM];
        let mut scales = vec![0f32; n];
        let drift = model.drift(year);
        let ys = world_seed ^ (year as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = Wy(hash2(
            dataset_seed ^ ys,
            i64::from(self.tile.lon_i()),
            i64::from(self.tile.lat_i()),
        ));
        let mut e = [0f32; DIM];
        for i in 0..n {
            let (x, y) = self.xy[i];
            // Rare clusters of pixels without observations in this year.
            if value_noise(ys ^ 0xA5A5, x / 250.0, y / 250.0) > 0.93 {
                scales[i] = NODATA_SCALE;
                continue;
            }
            let f: [f32; K] = [
                fbm(world_seed ^ 0x11, x / 150.0, y / 150.0, 2) as f32,
                fbm(world_seed ^ 0x22, x / 600.0, y / 600.0, 2) as f32,
                fbm(world_seed ^ 0x33, x / 2000.0, y / 2000.0, 2) as f32,
                fbm(ys ^ 0x44, x / 400.0, y / 400.0, 2) as f32,
            ];
            // Mixed pixels: a random neighbour of another class lends up to half its
            // signature, so that class boundaries blur as in real 10 m embeddings.
            let r = rng.next_u64();
            let (row, col) = (i / wd, i % wd);
            let nr = (row as i64 + (r % 3) as i64 - 1).clamp(0, h as i64 - 1) as usize;
            let nc = (col as i64 + ((r >> 2) % 3) as i64 - 1).clamp(0, wd as i64 - 1) as usize;
            let other = classes[nr * wd + nc];
            let w = if other != classes[i] {
                0.2 + 0.3 * ((r >> 8) & 0xff) as f32 / 255.0
            } else {
                0.0
            };
            model.embed(classes[i], other, w, &f, &drift, &mut rng, &mut e);
            let s = pixel_scale(&e);
            scales[i] = s;
            quantise_pixel(&e, s, &mut q[i * DIM..(i + 1) * DIM]);
        }
        TileEmbeddings { q, scales }
    }

    /// Pixel indices whose centre lies inside the tile's own cell (so that a point at the
    /// centre routes back to this tile and pixel).
    pub fn centre_in_cell(&self, i: usize) -> Option<(f64, f64)> {
        let wd = self.georef.width;
        let (r, c) = (i / wd, i % wd);
        let (px, py) = self.georef.transform.apply(c as f64 + 0.5, r as f64 + 0.5);
        let (lon, lat) = self.georef.crs.inverse(px, py);
        let t = TileId::containing(lon, lat).ok()?;
        (t == self.tile && self.georef.pixel_of(lon, lat) == Some((r, c))).then_some((lon, lat))
    }
}
