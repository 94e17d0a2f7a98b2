//! Regions on a store: the native zone-grid window of a lon/lat box as float32 or as
//! int8 + scales, strip by strip as a pull iterator, and fixed-size patches around a point.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use tessera_client::cancel::Token;
use tessera_client::zarr::region::dequantise_parts;
use tessera_client::zarr::{Block, RegionWindow, ZarrStore};
use tessera_client::{ClientError, Result};
use tessera_core::{Bbox, utm_zone};

use super::Store;
use crate::Progress;

/// A window of a zone grid: pixel rows and columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The UTM zone.
    pub zone: u8,
    /// First row.
    pub row: u64,
    /// First column.
    pub col: u64,
    /// Rows.
    pub height: u64,
    /// Columns.
    pub width: u64,
}

impl From<RegionWindow> for Window {
    fn from(w: RegionWindow) -> Window {
        Window {
            zone: w.zone,
            row: w.y0,
            col: w.x0,
            height: w.height(),
            width: w.width(),
        }
    }
}

impl Window {
    pub(super) fn region(&self) -> RegionWindow {
        RegionWindow {
            zone: self.zone,
            x0: self.col,
            x1: self.col + self.width,
            y0: self.row,
            y1: self.row + self.height,
        }
    }
}

/// Float32 embeddings on a north-up 10 m grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Raster {
    /// `height x width x bands` values, row-major; NaN where there is no embedding.
    pub data: Vec<f32>,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Values per pixel.
    pub bands: usize,
    /// Pixel corner to map: `[a, b, c, d, e, f]`, `x = a*col + b*row + c`.
    pub transform: [f64; 6],
    /// `"EPSG:326NN"`.
    pub crs: String,
    /// The window read (clipped to the grid for a patch reaching beyond it; empty, in the
    /// point's zone, for a patch merged from several zones).
    pub window: Window,
}

/// Int8 embeddings and their per-pixel scales, as stored (`value = q * scale`; a
/// non-finite scale means no embedding).
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedRaster {
    /// `height x width x bands` int8 values, row-major.
    pub emb: Vec<i8>,
    /// `height x width` scales.
    pub scales: Vec<f32>,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Values per pixel.
    pub bands: usize,
    /// Pixel corner to map (see [`Raster::transform`]).
    pub transform: [f64; 6],
    /// `"EPSG:326NN"`.
    pub crs: String,
    /// The window read.
    pub window: Window,
}

impl QuantizedRaster {
    /// Float32 values of `bands` (all when `None`), NaN where the scale is not finite.
    pub fn dequantize(&self, bands: Option<&[usize]>) -> Raster {
        let mut data = Vec::new();
        dequantise_parts(
            &self.emb,
            &self.scales,
            self.width,
            self.bands,
            bands,
            &mut data,
        );
        Raster {
            data,
            height: self.height,
            width: self.width,
            bands: bands.map_or(self.bands, <[usize]>::len),
            transform: self.transform,
            crs: self.crs.clone(),
            window: self.window,
        }
    }
}

/// The reference reads a region from the zone of its centre only: says so when the region
/// reaches into other zones.
fn warn_if_zones_spanned(bbox: &Bbox, progress: &Progress) {
    let zones = tessera_client::zarr::region::zones_of(bbox);
    let z = utm_zone((bbox.west + bbox.east) / 2.0);
    if zones.start() != zones.end() {
        progress.warn(format!(
            "region {bbox} spans UTM zones {} to {}; it is read from zone {z} (of its centre) only; export_geotiffs writes every zone",
            zones.start(),
            zones.end()
        ));
    }
}

pub(super) fn crs_name(zone: u8) -> String {
    format!("EPSG:{}", 32600 + u32::from(zone))
}

impl Store {
    fn transform_of(&self, w: &Window) -> [f64; 6] {
        self.inner.window_transform(&w.region()).to_array()
    }

    fn quantized(&self, w: Window, b: Block) -> QuantizedRaster {
        QuantizedRaster {
            transform: self.transform_of(&w),
            crs: crs_name(w.zone),
            window: w,
            height: b.rows,
            width: b.cols,
            bands: b.bands,
            emb: b.emb,
            scales: b.scales,
        }
    }

    /// The window of `bbox` on the grid of the zone of its centre longitude, as int8 +
    /// scales (the reference's `read_region_quantized`). A bbox spanning zones is read
    /// from that zone only, with a warning; an empty window is [`ClientError::EmptyWindow`].
    pub fn read_region_quantized(
        &self,
        bbox: &Bbox,
        year: i32,
        depth: Option<usize>,
        progress: &Progress,
    ) -> Result<QuantizedRaster> {
        warn_if_zones_spanned(bbox, progress);
        progress.start_phase("reading", 1);
        let (w, b) = self.run(progress, self.inner.read_region(bbox, year, depth))?;
        progress.set_done(1);
        Ok(self.quantized(w.into(), b))
    }

    /// [`Store::read_region_quantized`] as float32 (the reference's `read_region`).
    pub fn read_region(
        &self,
        bbox: &Bbox,
        year: i32,
        depth: Option<usize>,
        progress: &Progress,
    ) -> Result<Raster> {
        warn_if_zones_spanned(bbox, progress);
        progress.start_phase("reading", 1);
        let (w, (height, width, bands, data)) = self.run(
            progress,
            self.inner.read_region_dequantised(bbox, year, depth),
        )?;
        progress.set_done(1);
        let window: Window = w.into();
        Ok(Raster {
            data,
            height,
            width,
            bands,
            transform: self.transform_of(&window),
            crs: crs_name(window.zone),
            window,
        })
    }

    /// `bbox` on every zone grid it meets, west to east, each zone clipped to its 6-degree
    /// band: nothing of a region across a zone edge is left out. A region on no grid is
    /// [`ClientError::NoData`] saying what the store covers.
    pub fn read_regions_quantized(
        &self,
        bbox: &Bbox,
        year: i32,
        depth: Option<usize>,
        progress: &Progress,
    ) -> Result<Vec<QuantizedRaster>> {
        let windows = self.inner.region_windows(bbox);
        if windows.is_empty() {
            return Err(self.inner.no_region(bbox));
        }
        progress.start_phase("reading", windows.len() as u64);
        let mut out = Vec::with_capacity(windows.len());
        for w in windows {
            let b = self.read_block(w.into(), year, depth, progress)?;
            out.push(self.quantized(w.into(), b));
            progress.add_done(1);
        }
        Ok(out)
    }

    /// A window of a zone grid, as int8 + scales.
    pub fn read_window_quantized(
        &self,
        w: Window,
        year: i32,
        depth: Option<usize>,
        progress: &Progress,
    ) -> Result<QuantizedRaster> {
        if w.height == 0 || w.width == 0 {
            return Err(ClientError::Usage(format!(
                "window {w:?}: height and width must be at least 1"
            )));
        }
        if w.row.checked_add(w.height).is_none() || w.col.checked_add(w.width).is_none() {
            return Err(ClientError::Usage(format!(
                "window {w:?}: row + height and col + width must stay within the zone grid"
            )));
        }
        let b = self.read_block(w, year, depth, progress)?;
        Ok(self.quantized(w, b))
    }

    pub(super) fn read_block(
        &self,
        w: Window,
        year: i32,
        depth: Option<usize>,
        progress: &Progress,
    ) -> Result<Block> {
        let s = &self.inner;
        self.run(progress, async move {
            let t = s.time_index(w.zone, year).await?;
            s.read_block(
                w.zone,
                t,
                w.row..w.row + w.height,
                w.col..w.col + w.width,
                depth,
            )
            .await
        })
    }

    /// The window of [`Store::read_region`] strip by strip (`strip_rows` rows each, top to
    /// bottom), the next strip read on a thread while the caller works on this one (the
    /// reference's `iter_region`). Dropping the iterator, or cancelling `progress`, stops
    /// the reading.
    pub fn strips(
        &self,
        bbox: &Bbox,
        year: i32,
        depth: Option<usize>,
        strip_rows: usize,
        progress: &Progress,
    ) -> Result<Strips> {
        if strip_rows == 0 {
            return Err(ClientError::Usage(
                "strip_rows must be at least 1".to_string(),
            ));
        }
        let z = utm_zone((bbox.west + bbox.east) / 2.0);
        let rw = self.inner.region_window(z, bbox).ok_or_else(|| {
            ClientError::EmptyWindow(format!(
                "Region does not intersect the zone grid: {bbox} has no pixel centre on the grid of zone {z} in {}; choose a region inside the store's coverage",
                self.url()
            ))
        })?;
        let s = &self.inner;
        let t = self.run(progress, async move { s.time_index(z, year).await })?;
        self.inner
            .zone(z)
            .expect("zone of a window")
            .depth_array(depth)?;
        let window: Window = rw.into();
        let starts: Vec<u64> = (window.row..window.row + window.height)
            .step_by(strip_rows)
            .collect();
        let total = starts.len();
        let stop = Token::new();
        let (tx, rx) = sync_channel(0);
        let job = StripJob {
            store: Arc::clone(&self.inner),
            window,
            t,
            depth,
            strip_rows: strip_rows as u64,
            starts,
            call: progress.token().clone(),
            stop: stop.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("tessera-strips".into())
            .spawn(move || job.run(tx))
            .map_err(|e| ClientError::Format(format!("cannot start the strip reader: {e}")))?;
        Ok(Strips {
            rx: std::sync::Mutex::new(Some(rx)),
            stop,
            handle: Some(handle),
            total,
            taken: 0,
            window,
        })
    }
}

/// One strip of [`Store::strips`].
#[derive(Clone, Debug, PartialEq)]
pub struct Strip {
    /// `rows x width x bands` float32 values, NaN where there is no embedding.
    pub data: Vec<f32>,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub width: usize,
    /// Values per pixel.
    pub bands: usize,
    /// The strip's own transform (its top row).
    pub transform: [f64; 6],
    /// `"EPSG:326NN"`.
    pub crs: String,
}

struct StripJob {
    store: Arc<ZarrStore>,
    window: Window,
    t: usize,
    depth: Option<usize>,
    strip_rows: u64,
    starts: Vec<u64>,
    call: Token,
    stop: Token,
}

impl StripJob {
    fn run(self, tx: SyncSender<Result<Strip>>) {
        let rt = match crate::runtime() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let w = self.window;
        for r in self.starts.iter().copied() {
            if self.call.is_cancelled() || self.stop.is_cancelled() {
                let _ = tx.send(Err(ClientError::Cancelled));
                return;
            }
            let end = (r + self.strip_rows).min(w.row + w.height);
            let read =
                self.store
                    .read_block(w.zone, self.t, r..end, w.col..w.col + w.width, self.depth);
            let got = rt
                .block_on(self.call.or_cancel(self.stop.or_cancel(read)))
                .and_then(|v| v)
                .and_then(|v| v);
            let item = got.map(|b| {
                let mut data = Vec::new();
                b.dequantise(None, &mut data);
                let sw = Window {
                    row: r,
                    height: end - r,
                    ..w
                };
                Strip {
                    data,
                    rows: b.rows,
                    width: b.cols,
                    bands: b.bands,
                    transform: self.store.window_transform(&sw.region()).to_array(),
                    crs: crs_name(w.zone),
                }
            });
            let failed = item.is_err();
            if tx.send(item).is_err() || failed {
                return;
            }
        }
    }
}

/// The strips of a region, read one ahead on a thread (see [`Store::strips`]).
pub struct Strips {
    // In a mutex only so that the iterator is `Sync` (bindings share it between threads);
    // `next` takes `&mut self` and never locks.
    rx: std::sync::Mutex<Option<Receiver<Result<Strip>>>>,
    stop: Token,
    handle: Option<JoinHandle<()>>,
    total: usize,
    taken: usize,
    window: Window,
}

impl Strips {
    /// The window the strips cover.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Strips in all.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Strips handed out so far.
    pub fn position(&self) -> usize {
        self.taken
    }

    /// Stops the reading; the next call of `next` ends the iteration.
    pub fn cancel(&self) {
        self.stop.cancel();
    }
}

impl std::fmt::Debug for Strips {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Strips")
            .field("window", &self.window)
            .field("total", &self.total)
            .field("taken", &self.taken)
            .finish()
    }
}

impl Iterator for Strips {
    type Item = Result<Strip>;

    fn next(&mut self) -> Option<Result<Strip>> {
        let slot = self.rx.get_mut().unwrap_or_else(|e| e.into_inner());
        let got = slot.as_ref()?.recv();
        match got {
            Ok(item) => {
                self.taken += 1;
                if item.is_err() {
                    *slot = None;
                }
                Some(item)
            }
            Err(_) => {
                *slot = None;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let open = self.rx.lock().map(|r| r.is_some()).unwrap_or(false);
        let left = if open { self.total - self.taken } else { 0 };
        (0, Some(left))
    }
}

impl Drop for Strips {
    fn drop(&mut self) {
        self.stop.cancel();
        *self.rx.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
