//! Mosaics from a Zarr store: the region's window on every zone grid it meets (with a
//! margin), resampled onto one grid in strips, reading only the chunks each strip needs.

use std::path::{Path, PathBuf};

use tessera_client::{ClientError, Result};
use tessera_core::{Affine, Bbox, Crs, TileGeoref, utm_zone};
use tessera_pictures::mosaic::{Mosaic, MosaicOptions, Source};
use tessera_pictures::{PictureError, TargetGrid};

use super::Store;
use crate::Progress;

/// Zone-grid pixels read beyond a region's window on each side: the margin the
/// resampling kernels and the neighbouring zone's rotation need.
const MARGIN: u64 = 64;

/// One zone's window of a store, as a mosaic source.
pub(crate) struct ZoneSource<'a> {
    store: &'a Store,
    progress: &'a Progress,
    zone: u8,
    t: usize,
    depth: Option<usize>,
    bands: usize,
    /// The window's first row and column on the zone grid.
    row0: u64,
    col0: u64,
    georef: TileGeoref,
}

impl Source for ZoneSource<'_> {
    fn georef(&self) -> TileGeoref {
        self.georef
    }
    fn bands(&self) -> usize {
        self.bands
    }
    fn read_window(
        &self,
        r0: usize,
        n: usize,
        c0: usize,
        m: usize,
    ) -> std::result::Result<Vec<f32>, PictureError> {
        let (y, x) = (self.row0 + r0 as u64, self.col0 + c0 as u64);
        let inner = &self.store.inner;
        let (_, _, _, v) = self
            .store
            .run(
                self.progress,
                inner.read_block_dequantised(
                    self.zone,
                    self.t,
                    y..y + n as u64,
                    x..x + m as u64,
                    self.depth,
                ),
            )
            .map_err(|e| match e {
                ClientError::Cancelled => PictureError::Cancelled,
                e => PictureError::Source(e.to_string()),
            })?;
        Ok(v)
    }
    fn owns(&self, lon: f64, _lat: f64) -> bool {
        utm_zone(lon) == self.zone
    }
    fn name(&self) -> String {
        format!("zone {}", self.zone)
    }
}

/// A store mosaic written to a GeoTIFF.
#[derive(Debug)]
pub struct StoreMosaicFile {
    /// The file.
    pub path: PathBuf,
    /// The grid.
    pub grid: TargetGrid,
    /// Bands per pixel.
    pub bands: usize,
    /// Zones read.
    pub zones: usize,
    /// Output rows rendered at a time.
    pub strip_rows: usize,
}

impl Store {
    /// The region's window on each zone grid, grown by `margin` pixels on each side.
    fn zone_sources<'a>(
        &'a self,
        bbox: &Bbox,
        year: i32,
        depth: Option<usize>,
        margin: u64,
        progress: &'a Progress,
    ) -> Result<Vec<ZoneSource<'a>>> {
        let windows = self.inner.region_windows(bbox);
        if windows.is_empty() {
            return Err(self.inner.no_region(bbox));
        }
        let bands = self.bands_at(depth)?;
        let mut out = Vec::new();
        for w in windows {
            let zone = self.inner.zone(w.zone).expect("a window's zone");
            let g = zone.grid;
            let t = self.run(progress, self.inner.time_index(w.zone, year))?;
            let (y0, x0) = (w.y0.saturating_sub(margin), w.x0.saturating_sub(margin));
            let (y1, x1) = ((w.y1 + margin).min(g.height), (w.x1 + margin).min(g.width));
            out.push(ZoneSource {
                store: self,
                progress,
                zone: w.zone,
                t,
                depth,
                bands,
                row0: y0,
                col0: x0,
                georef: TileGeoref {
                    crs: Crs::Utm {
                        zone: w.zone,
                        north: true,
                    },
                    transform: Affine {
                        a: 10.0,
                        b: 0.0,
                        c: g.origin_x + 10.0 * x0 as f64,
                        d: 0.0,
                        e: -10.0,
                        f: g.origin_y - 10.0 * y0 as f64,
                    },
                    width: (x1 - x0) as usize,
                    height: (y1 - y0) as usize,
                },
            });
        }
        Ok(out)
    }

    /// The sources of a picture of `bbox`: the region's own windows (what a PCA is fitted
    /// on) and the same grown by the resampling margin (what is drawn).
    pub(crate) fn visual_sources<'a>(
        &'a self,
        bbox: &Bbox,
        year: i32,
        depth: Option<usize>,
        progress: &'a Progress,
    ) -> Result<(Vec<ZoneSource<'a>>, Vec<ZoneSource<'a>>)> {
        Ok((
            self.zone_sources(bbox, year, depth, 0, progress)?,
            self.zone_sources(bbox, year, depth, MARGIN, progress)?,
        ))
    }

    /// The region `bbox` of `year` from every zone it meets, resampled onto one grid and
    /// written to a float32 GeoTIFF at `out` strip by strip within the options' budget.
    #[allow(clippy::too_many_arguments)]
    pub fn mosaic_to_geotiff(
        &self,
        bbox: &Bbox,
        year: i32,
        depth: Option<usize>,
        opts: MosaicOptions,
        out: &Path,
        output: crate::tiles::OutputOptions,
        progress: &Progress,
    ) -> Result<StoreMosaicFile> {
        let sources = self.zone_sources(bbox, year, depth, MARGIN, progress)?;
        let crs = opts.crs;
        let m = Mosaic::new(bbox, &sources, opts).map_err(crate::tiles::picture_error)?;
        let tags = [
            ("TESSERA_ZONE_COUNT", sources.len().to_string()),
            ("TESSERA_STORE", self.url().to_string()),
        ];
        let w = crate::tiles::write_mosaic(&m, crs, year, &tags, out, output, progress)?;
        Ok(StoreMosaicFile {
            path: w.path,
            grid: m.grid,
            bands: m.bands,
            zones: sources.len(),
            strip_rows: w.strip_rows,
        })
    }
}
