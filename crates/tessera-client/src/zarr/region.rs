//! Regions on a store: the native zone-grid window of a lon/lat box (pixel centres inside
//! the box's UTM envelope, as the reference computes it), block reads as int8 + scales,
//! dequantisation, and strip-by-strip iteration with one strip prefetched.

use std::ops::Range;

use rayon::prelude::*;
use std::sync::Arc;

use tessera_core::{Affine, Bbox, Crs};

use super::{ZarrStore, shard_key};
use crate::error::{ClientError, Result};

/// A window of a zone grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionWindow {
    /// The zone.
    pub zone: u8,
    /// First column.
    pub x0: u64,
    /// One past the last column.
    pub x1: u64,
    /// First row.
    pub y0: u64,
    /// One past the last row.
    pub y1: u64,
}

impl RegionWindow {
    /// Columns.
    pub fn width(&self) -> u64 {
        self.x1 - self.x0
    }

    /// Rows.
    pub fn height(&self) -> u64 {
        self.y1 - self.y0
    }
}

/// Int8 embeddings (pixel-interleaved, `rows × cols × bands`) and their scales.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Bands per pixel.
    pub bands: usize,
    /// Quantised values.
    pub emb: Vec<i8>,
    /// Scales (`rows × cols`): finite = data, NaN = water or no data, +inf = not written.
    pub scales: Vec<f32>,
}

impl Block {
    /// Dequantises `bands` (all when `None`), pixel-interleaved; NaN where the scale is
    /// not finite.
    pub fn dequantise(&self, bands: Option<&[usize]>, out: &mut Vec<f32>) {
        dequantise_parts(&self.emb, &self.scales, self.cols, self.bands, bands, out);
    }
}

/// Dequantises int8 values (`rows x cols x nbands`, pixel-interleaved) with their scales
/// (`rows x cols`) into `out`: `bands` (all when `None`) per pixel, NaN where the scale is
/// not finite.
pub fn dequantise_parts(
    emb: &[i8],
    scales: &[f32],
    cols: usize,
    nbands: usize,
    bands: Option<&[usize]>,
    out: &mut Vec<f32>,
) {
    let all: Vec<usize>;
    let sel = match bands {
        Some(b) => b,
        None => {
            all = (0..nbands).collect();
            &all
        }
    };
    let n = sel.len();
    let cols = cols.max(1);
    // Every value is written below, so the buffer's contents do not matter: a recycled
    // one, or fresh memory mapped lazily on huge pages (a resize would write it twice).
    *out = crate::mem::output_f32(scales.len() * n);
    let b = nbands;
    out.par_chunks_mut(cols * n)
        .zip(scales.par_chunks(cols))
        .zip(emb.par_chunks(cols * b))
        .for_each(|((o, s), q)| {
            for (p, &sc) in s.iter().enumerate() {
                let dst = &mut o[p * n..(p + 1) * n];
                if sc.is_finite() {
                    let px = &q[p * b..(p + 1) * b];
                    for (d, &k) in dst.iter_mut().zip(sel) {
                        *d = f32::from(px[k]) * sc;
                    }
                } else {
                    dst.fill(f32::NAN);
                }
            }
        });
}

/// The decoded inner chunks of one block, by (is embeddings, grid chunk row, grid chunk
/// column), and where the block lies.
struct BlockChunks {
    chunks: std::collections::HashMap<(bool, u64, u64), Vec<u8>>,
    nr: usize,
    nc: usize,
    bands: usize,
    r0: u64,
    c0: u64,
    emb_geom: (u64, u64),
    scale_geom: (u64, u64),
    emb_fill: i8,
    scale_fill: f32,
}

impl BlockChunks {
    /// The scales of output row `i` into `srow`.
    fn scales_row(&self, i: usize, srow: &mut [f32]) {
        let (qh, qw) = self.scale_geom;
        let y = self.r0 + i as u64;
        let (c0, c1) = (self.c0, self.c0 + self.nc as u64);
        let (gy, cyy) = (y / qh, (y % qh) as usize);
        let mut x = c0;
        while x < c1 {
            let gx = x / qw;
            let xe = ((gx + 1) * qw).min(c1);
            match self.chunks.get(&(false, gy, gx)) {
                Some(raw) => {
                    for xx in x..xe {
                        let k = (cyy * qw as usize + (xx % qw) as usize) * 4;
                        srow[(xx - c0) as usize] =
                            f32::from_le_bytes(raw[k..k + 4].try_into().expect("4"));
                    }
                }
                None => srow[(x - c0) as usize..(xe - c0) as usize].fill(self.scale_fill),
            }
            x = xe;
        }
    }

    /// Calls `f(column in the block, chunk bytes or None, index of the pixel in a band
    /// plane, plane size)` for every pixel of output row `i`.
    fn emb_row(&self, i: usize, mut f: impl FnMut(usize, Option<&[u8]>, usize, usize)) {
        let (eh, ew) = self.emb_geom;
        let y = self.r0 + i as u64;
        let (c0, c1) = (self.c0, self.c0 + self.nc as u64);
        let (gy, cyy) = (y / eh, (y % eh) as usize);
        let plane = (eh * ew) as usize;
        let mut x = c0;
        while x < c1 {
            let gx = x / ew;
            let xe = ((gx + 1) * ew).min(c1);
            let raw = self.chunks.get(&(true, gy, gx)).map(Vec::as_slice);
            for xx in x..xe {
                let src = cyy * ew as usize + (xx % ew) as usize;
                f((xx - c0) as usize, raw, src, plane);
            }
            x = xe;
        }
    }

    /// The block as int8 + scales; rows filled in parallel, each from the chunks it
    /// crosses.
    fn assemble(&self) -> Block {
        let (nr, nc, bands) = (self.nr, self.nc, self.bands);
        let mut block = Block {
            rows: nr,
            cols: nc,
            bands,
            emb: vec![self.emb_fill; nr * nc * bands],
            scales: vec![self.scale_fill; nr * nc],
        };
        block
            .emb
            .par_chunks_mut((nc * bands).max(1))
            .zip(block.scales.par_chunks_mut(nc.max(1)))
            .enumerate()
            .for_each(|(i, (erow, srow))| {
                self.emb_row(i, |o, raw, src, plane| {
                    if let Some(raw) = raw {
                        let o = o * bands;
                        for (b, d) in erow[o..o + bands].iter_mut().enumerate() {
                            *d = raw[b * plane + src] as i8;
                        }
                    }
                });
                self.scales_row(i, srow);
            });
        block
    }

    /// The block dequantised (pixel-interleaved float32, NaN where the scale is not
    /// finite), in one pass over the chunks.
    fn dequantised(&self) -> Vec<f32> {
        let (nc, bands) = (self.nc, self.bands);
        let mut out: Vec<f32> = crate::mem::output_f32(self.nr * nc * bands);
        let fill = f32::from(self.emb_fill);
        out.par_chunks_mut((nc * bands).max(1))
            .enumerate()
            .for_each_init(
                || vec![0f32; nc],
                |srow, (i, orow)| {
                    self.scales_row(i, srow);
                    self.emb_row(i, |o, raw, src, plane| {
                        let sc = srow[o];
                        let dst = &mut orow[o * bands..(o + 1) * bands];
                        match raw {
                            _ if !sc.is_finite() => dst.fill(f32::NAN),
                            Some(raw) => {
                                for (b, d) in dst.iter_mut().enumerate() {
                                    *d = f32::from(raw[b * plane + src] as i8) * sc;
                                }
                            }
                            None => dst.fill(fill * sc),
                        }
                    });
                },
            );
        out
    }
}

/// The UTM envelope of a lon/lat box in `crs`: the extremes of its edges, each sampled at
/// 21 points between the corners (pyproj's `transform_bounds(densify_pts=21)`).
pub fn utm_envelope(bbox: &Bbox, crs: &Crs) -> [f64; 4] {
    let n = 21 + 1;
    let mut xs = Vec::with_capacity(4 * (n + 1));
    let mut ys = Vec::with_capacity(4 * (n + 1));
    let (w, s, e, no) = (bbox.west, bbox.south, bbox.east, bbox.north);
    for i in 0..=n {
        let f = i as f64 / n as f64;
        for (lon, lat) in [
            (w + (e - w) * f, s),
            (w + (e - w) * f, no),
            (w, s + (no - s) * f),
            (e, s + (no - s) * f),
        ] {
            let (x, y) = crs.forward(lon, lat);
            xs.push(x);
            ys.push(y);
        }
    }
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    [min(&xs), min(&ys), max(&xs), max(&ys)]
}

/// The UTM zones whose 6-degree bands a bbox covers with positive width (a bbox ending on
/// a zone edge does not reach into the next zone).
pub fn zones_of(bbox: &Bbox) -> std::ops::RangeInclusive<u8> {
    let first = tessera_core::utm_zone(bbox.west);
    // The zone whose band (W, E] holds the east edge.
    let last = ((bbox.east + 180.0) / 6.0).ceil().clamp(1.0, 60.0) as u8;
    first..=last.max(first)
}

/// Index of the first element of the increasing sequence `f(0..len)` that is `>= v`
/// (`strict`: `> v`), as NumPy's `searchsorted` left (right).
fn search(len: u64, v: f64, strict: bool, f: impl Fn(u64) -> f64) -> u64 {
    let (mut lo, mut hi) = (0u64, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let x = f(mid);
        let before = if strict { x <= v } else { x < v };
        if before {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

impl ZarrStore {
    /// The window of zone `z` whose pixel centres lie inside the UTM envelope of `bbox`;
    /// `None` when it is empty or the zone is not in the store.
    pub fn region_window(&self, z: u8, bbox: &Bbox) -> Option<RegionWindow> {
        let g = self.zone(z)?.grid;
        let crs = Crs::from_epsg(g.epsg()).ok()?;
        self.utm_window(z, utm_envelope(bbox, &crs))
    }

    /// The window of zone `z` whose pixel centres lie inside `[west, south, east, north]`
    /// in the zone's own coordinates (EPSG:326NN metres); `None` when it is empty or the
    /// zone is not in the store.
    pub fn utm_window(&self, z: u8, envelope: [f64; 4]) -> Option<RegionWindow> {
        let g = self.zone(z)?.grid;
        let [west, south, east, north] = envelope;
        let xc = |i: u64| g.origin_x + (i as f64 + 0.5) * 10.0;
        let ny = |j: u64| -(g.origin_y - (j as f64 + 0.5) * 10.0);
        let x0 = search(g.width, west, false, xc);
        let x1 = search(g.width, east, true, xc);
        let y0 = search(g.height, -north, false, ny);
        let y1 = search(g.height, -south, true, ny);
        (x1 > x0 && y1 > y0).then_some(RegionWindow {
            zone: z,
            x0,
            x1,
            y0,
            y1,
        })
    }

    /// The windows of every zone `bbox` intersects, each zone clipped to its 6-degree band
    /// (the reference's export rule).
    pub fn region_windows(&self, bbox: &Bbox) -> Vec<RegionWindow> {
        let mut out = Vec::new();
        for z in zones_of(bbox) {
            let zw = f64::from(z) * 6.0 - 186.0;
            let ze = f64::from(z) * 6.0 - 180.0;
            let Ok(b) = Bbox::new(bbox.west.max(zw), bbox.south, bbox.east.min(ze), bbox.north)
            else {
                continue;
            };
            if let Some(w) = self.region_window(z, &b) {
                out.push(w);
            }
        }
        out
    }

    /// The pixel-to-map transform of a window (EPSG:326NN).
    pub fn window_transform(&self, w: &RegionWindow) -> Affine {
        let g = self.zone(w.zone).expect("zone").grid;
        Affine::north_up(
            g.origin_x + w.x0 as f64 * 10.0,
            g.origin_y - w.y0 as f64 * 10.0,
            10.0,
        )
    }

    /// Reads rows × cols of zone `z`, year index `t`, at `depth` (full when `None`).
    pub async fn read_block(
        &self,
        z: u8,
        t: usize,
        rows: Range<u64>,
        cols: Range<u64>,
        depth: Option<usize>,
    ) -> Result<Block> {
        let c = self.fetch_chunks(z, t, rows, cols, depth).await?;
        Ok(c.assemble())
    }

    /// Reads rows × cols of zone `z`, year index `t`, at `depth`, dequantised in the same
    /// pass (pixel-interleaved, NaN where the scale is not finite): the same values as
    /// [`Self::read_block`] then [`Block::dequantise`], without the int8 copy.
    pub async fn read_block_dequantised(
        &self,
        z: u8,
        t: usize,
        rows: Range<u64>,
        cols: Range<u64>,
        depth: Option<usize>,
    ) -> Result<(usize, usize, usize, Vec<f32>)> {
        let c = self.fetch_chunks(z, t, rows, cols, depth).await?;
        let v = c.dequantised();
        Ok((c.nr, c.nc, c.bands, v))
    }

    async fn fetch_chunks(
        &self,
        z: u8,
        t: usize,
        rows: Range<u64>,
        cols: Range<u64>,
        depth: Option<usize>,
    ) -> Result<BlockChunks> {
        let zone = self
            .zone(z)
            .ok_or_else(|| ClientError::Usage(format!("zone {z} is not in the store")))?;
        let g = zone.grid;
        if rows.end > g.height || cols.end > g.width || rows.is_empty() || cols.is_empty() {
            return Err(ClientError::Usage(format!(
                "window rows {rows:?} cols {cols:?} is outside the {}x{} grid of zone {z}",
                g.height, g.width
            )));
        }
        let emb_meta = zone.depth_array(depth)?;
        let bands = emb_meta.shape[1] as usize;
        let (nr, nc) = (
            (rows.end - rows.start) as usize,
            (cols.end - cols.start) as usize,
        );
        let (sh, sw) = (zone.scales.chunk[1], zone.scales.chunk[2]);
        // (array is embeddings, shard row, shard col, chunk ids)
        let mut jobs: Vec<(bool, u64, u64, Vec<usize>)> = Vec::new();
        for sr in rows.start / sh..=(rows.end - 1) / sh {
            for sc in cols.start / sw..=(cols.end - 1) / sw {
                for is_emb in [false, true] {
                    let meta = if is_emb { emb_meta } else { &zone.scales };
                    let inner = &meta.sharding.as_ref().expect("sharded").inner;
                    let nd = inner.len();
                    let (ih, iw) = (inner[nd - 2], inner[nd - 1]);
                    let gw = sw / iw;
                    let r0 = rows.start.max(sr * sh) - sr * sh;
                    let r1 = rows.end.min((sr + 1) * sh) - sr * sh;
                    let c0 = cols.start.max(sc * sw) - sc * sw;
                    let c1 = cols.end.min((sc + 1) * sw) - sc * sw;
                    let mut ids = Vec::new();
                    for cy in r0 / ih..=(r1 - 1) / ih {
                        for cx in c0 / iw..=(c1 - 1) / iw {
                            ids.push((cy * gw + cx) as usize);
                        }
                    }
                    jobs.push((is_emb, sr, sc, ids));
                }
            }
        }
        let futs = jobs.into_iter().map(|(is_emb, sr, sc, ids)| async move {
            let meta = if is_emb { emb_meta } else { &zone.scales };
            let key = shard_key(zone, meta, t, sr, sc);
            let got = self.read_chunks(meta, &key, &ids).await?;
            Ok::<_, ClientError>((is_emb, sr, sc, got))
        });
        let results = futures_util::future::try_join_all(futs).await?;
        // Chunks by (is embeddings, grid chunk row, grid chunk column); rows of the output
        // are then filled in parallel, each from the chunks it crosses.
        let mut chunks: std::collections::HashMap<(bool, u64, u64), Vec<u8>> =
            std::collections::HashMap::new();
        let geom = |is_emb: bool| {
            let meta = if is_emb { emb_meta } else { &zone.scales };
            let inner = &meta.sharding.as_ref().expect("sharded").inner;
            let nd = inner.len();
            (inner[nd - 2], inner[nd - 1])
        };
        for (is_emb, sr, sc, got) in results {
            let (ih, iw) = geom(is_emb);
            let gw = sw / iw;
            for (id, raw) in got {
                let gy = (sr * sh) / ih + id as u64 / gw;
                let gx = (sc * sw) / iw + id as u64 % gw;
                chunks.insert((is_emb, gy, gx), raw);
            }
        }
        let (eh, ew) = geom(true);
        let (qh, qw) = geom(false);
        Ok(BlockChunks {
            chunks,
            nr,
            nc,
            bands,
            r0: rows.start,
            c0: cols.start,
            emb_geom: (eh, ew),
            scale_geom: (qh, qw),
            emb_fill: emb_meta.fill as i8,
            scale_fill: zone.scales.fill as f32,
        })
    }

    /// The zone of `bbox`'s centre longitude, the window of `bbox` on its grid, and the
    /// time index of `year` (the reference's `read_region` rule).
    async fn centre_window(&self, bbox: &Bbox, year: i32) -> Result<(u8, RegionWindow, usize)> {
        let z = tessera_core::utm_zone((bbox.west + bbox.east) / 2.0);
        let w = self.region_window(z, bbox).ok_or_else(|| {
            ClientError::EmptyWindow(format!(
                "Region does not intersect the zone grid: {bbox} has no pixel centre on the grid of zone {z} in {}; choose a region inside the store's coverage",
                self.location()
            ))
        })?;
        let t = self.time_index(z, year).await?;
        Ok((z, w, t))
    }

    /// Reads the window of `bbox` in the zone of its centre longitude (the reference's
    /// `read_region`): the window and its block.
    pub async fn read_region(
        &self,
        bbox: &Bbox,
        year: i32,
        depth: Option<usize>,
    ) -> Result<(RegionWindow, Block)> {
        let (z, w, t) = self.centre_window(bbox, year).await?;
        let b = self.read_block(z, t, w.y0..w.y1, w.x0..w.x1, depth).await?;
        Ok((w, b))
    }

    /// [`Self::read_region`] dequantised in the same pass: the window and its
    /// `(rows, cols, bands, float32 values)` (see [`Self::read_block_dequantised`]).
    pub async fn read_region_dequantised(
        &self,
        bbox: &Bbox,
        year: i32,
        depth: Option<usize>,
    ) -> Result<(RegionWindow, (usize, usize, usize, Vec<f32>))> {
        let (z, w, t) = self.centre_window(bbox, year).await?;
        let b = self
            .read_block_dequantised(z, t, w.y0..w.y1, w.x0..w.x1, depth)
            .await?;
        Ok((w, b))
    }

    /// A region on every zone grid it meets (west to east), one block per zone: unlike
    /// [`Self::read_region`] (the reference's rule: the zone of the centre only), nothing
    /// of a region that crosses a zone edge is left out.
    pub async fn read_regions(
        &self,
        bbox: &Bbox,
        year: i32,
        depth: Option<usize>,
    ) -> Result<Vec<(RegionWindow, Block)>> {
        let windows = self.region_windows(bbox);
        if windows.is_empty() {
            return Err(self.no_region(bbox));
        }
        let mut out = Vec::with_capacity(windows.len());
        for w in windows {
            let t = self.time_index(w.zone, year).await?;
            let b = self
                .read_block(w.zone, t, w.y0..w.y1, w.x0..w.x1, depth)
                .await?;
            out.push((w, b));
        }
        Ok(out)
    }

    /// Calls `f(row0, col0, block)` for blocks of `w` (at most `rows` × `cols` pixels) top
    /// to bottom, left to right, reading the next block while `f` runs.
    pub async fn for_each_block<F>(
        self: &Arc<Self>,
        w: RegionWindow,
        t: usize,
        rows: u64,
        cols: u64,
        depth: Option<usize>,
        f: F,
    ) -> Result<()>
    where
        F: FnMut(u64, u64, Block) -> Result<()> + Send,
    {
        self.for_each_block_from(w, t, rows, cols, depth, 0, f)
            .await
    }

    /// [`Self::for_each_block`] from block `skip` on (in the same order), for a rerun that
    /// continues an interrupted one.
    #[allow(clippy::too_many_arguments)]
    pub async fn for_each_block_from<F>(
        self: &Arc<Self>,
        w: RegionWindow,
        t: usize,
        rows: u64,
        cols: u64,
        depth: Option<usize>,
        skip: usize,
        mut f: F,
    ) -> Result<()>
    where
        F: FnMut(u64, u64, Block) -> Result<()> + Send,
    {
        let boxes: Vec<_> = block_boxes(&w, rows, cols).into_iter().skip(skip).collect();
        let spawn = |(rr, cc): (Range<u64>, Range<u64>)| {
            let s = Arc::clone(self);
            tokio::spawn(async move { s.read_block(w.zone, t, rr, cc, depth).await })
        };
        let mut it = boxes.into_iter();
        let mut next = it.next().map(|b| (b.clone(), spawn(b)));
        while let Some(((rr, cc), h)) = next.take() {
            let block = h
                .await
                .map_err(|e| ClientError::Format(format!("read task failed: {e}")))??;
            next = it.next().map(|b| (b.clone(), spawn(b)));
            tokio::task::block_in_place(|| f(rr.start, cc.start, block))?;
        }
        Ok(())
    }
}

/// The blocks (rows, cols) of at most `rows` x `cols` pixels that tile `w`, top to bottom,
/// left to right.
pub fn block_boxes(w: &RegionWindow, rows: u64, cols: u64) -> Vec<(Range<u64>, Range<u64>)> {
    let mut boxes = Vec::new();
    let mut r = w.y0;
    while r < w.y1 {
        let mut c = w.x0;
        while c < w.x1 {
            boxes.push((r..(r + rows).min(w.y1), c..(c + cols).min(w.x1)));
            c += cols;
        }
        r += rows;
    }
    boxes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_of_a_bbox() {
        let z = |w, s, e, n| zones_of(&Bbox::new(w, s, e, n).unwrap());
        assert_eq!(z(-0.02, 50.7, 0.0, 50.9), 30..=30);
        assert_eq!(z(0.0, 50.7, 0.02, 50.9), 31..=31);
        assert_eq!(z(-0.02, 50.7, 0.02, 50.9), 30..=31);
        assert_eq!(z(-6.5, 0.0, -6.0, 1.0), 29..=29);
        assert_eq!(z(-6.0, 0.0, -5.5, 1.0), 30..=30);
        assert_eq!(z(179.5, 0.0, 180.0, 1.0), 60..=60);
        assert_eq!(z(-180.0, 0.0, -179.5, 1.0), 1..=1);
        assert_eq!(z(-180.0, -1.0, 180.0, 1.0), 1..=60);
    }

    #[test]
    fn searchsorted() {
        let f = |i: u64| i as f64 * 10.0 + 5.0;
        assert_eq!(search(10, 5.0, false, f), 0);
        assert_eq!(search(10, 5.0, true, f), 1);
        assert_eq!(search(10, 6.0, false, f), 1);
        assert_eq!(search(10, 1000.0, false, f), 10);
        assert_eq!(search(10, -1.0, true, f), 0);
    }
}
