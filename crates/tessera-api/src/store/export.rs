//! A region as one float32 GeoTIFF per UTM zone (`tessera_{year}_utm{NN}.tif`), with the
//! reference's tags and, for published datasets, the `tessera_metadata.json` sidecar; and
//! the dry run that sizes it without reading a chunk.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use tessera_client::export::{check_dataset_dir, dataset_tags, write_metadata};
use tessera_client::zarr::RegionWindow;
use tessera_client::zarr::export::{ExportProgress, ZoneExport, export_zones};
use tessera_client::{ClientError, Result};
use tessera_core::Bbox;
use tessera_formats::geotiff::Compression;

use super::{Store, StoreRef};
use crate::Progress;

/// How a zone export is written.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Zero-based bands to write (all of the depth read when `None`).
    pub bands: Option<Vec<usize>>,
    /// Matryoshka depth to read (the full depth when `None`).
    pub depth: Option<usize>,
    /// Compression of the GeoTIFF tiles.
    pub compression: Compression,
    /// Memory budget in MiB for the blocks in flight (read, dequantised, encoded); at
    /// least 256.
    pub memory_mb: u64,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            bands: None,
            depth: None,
            compression: Compression::Lzw,
            memory_mb: 1024,
        }
    }
}

/// What a zone export will write (the dry run).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ZonePlan {
    /// The UTM zone.
    pub zone: u8,
    /// Columns.
    pub width: u64,
    /// Rows.
    pub height: u64,
    /// Bytes of float32 values before compression.
    pub uncompressed_bytes: u64,
}

/// One zone file written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneFile {
    /// Its path.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The UTM zone.
    pub zone: u8,
    /// Columns.
    pub width: u64,
    /// Rows.
    pub height: u64,
}

/// What an export did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// The zone files, west to east.
    pub files: Vec<ZoneFile>,
    /// Zone files complete from an earlier run, kept.
    pub kept: u64,
    /// Zone files continued where an earlier run stopped.
    pub resumed: u64,
    /// The sidecar written (published datasets only).
    pub sidecar: Option<PathBuf>,
}

/// Refuses an output directory that holds another dataset's embeddings (checked before
/// anything is read).
pub fn check_output_dir(r: &StoreRef, out: &Path) -> Result<()> {
    match &r.dataset {
        Some(d) => check_dataset_dir(out, d),
        None => Ok(()),
    }
}

impl Store {
    fn zone_windows(
        &self,
        bbox: &Bbox,
        year: i32,
        opts: &ExportOptions,
    ) -> Result<(Vec<RegionWindow>, usize)> {
        if opts.memory_mb < 256 {
            return Err(ClientError::Usage(
                "the memory budget must be at least 256 MiB (one block of 256x256 pixels and its tiles)".into(),
            ));
        }
        let nb = self.bands_at(opts.depth)?;
        if let Some(b) = &opts.bands
            && (b.is_empty() || b.iter().any(|&k| k >= nb))
        {
            let list: Vec<String> = b.iter().map(usize::to_string).collect();
            return Err(ClientError::Usage(format!(
                "bands must be zero-based indices (0-{}), got '{}'",
                nb - 1,
                list.join(",")
            )));
        }
        let windows = self.inner.region_windows(bbox);
        if windows.is_empty() {
            return Err(self.inner.no_region(bbox));
        }
        if !self.inner.years().contains(&year) {
            let (s, z) = (&self.inner, windows[0].zone);
            self.run(&Progress::new(), async move { s.time_index(z, year).await })?;
        }
        Ok((windows, opts.bands.as_ref().map_or(nb, Vec::len)))
    }

    /// The zone files an export of `bbox` would write and their uncompressed sizes; reads
    /// no chunk (the reference's `dry_run`).
    pub fn export_plan(
        &self,
        bbox: &Bbox,
        year: i32,
        opts: &ExportOptions,
    ) -> Result<Vec<ZonePlan>> {
        let (windows, nb) = self.zone_windows(bbox, year, opts)?;
        Ok(windows
            .iter()
            .map(|w| ZonePlan {
                zone: w.zone,
                width: w.width(),
                height: w.height(),
                uncompressed_bytes: w.width() * w.height() * nb as u64 * 4,
            })
            .collect())
    }

    /// Writes one GeoTIFF per zone `bbox` meets into `out` (the reference's
    /// `export_geotiffs`): float32, NaN nodata, tiled 256, the native grid and CRS, tags
    /// `TESSERA_*`, band descriptions; each file appears under its name only when complete,
    /// a rerun keeps finished files and continues an interrupted one. Progress counts
    /// pixels; cancellable.
    pub fn export_geotiffs(
        &self,
        bbox: &Bbox,
        year: i32,
        out: &Path,
        opts: &ExportOptions,
        progress: &Progress,
    ) -> Result<ExportReport> {
        check_output_dir(&self.reference, out)?;
        let (windows, _) = self.zone_windows(bbox, year, opts)?;
        let total: u64 = windows.iter().map(|w| w.width() * w.height()).sum();
        progress.start_phase("pixels", total);
        let zopts = ZoneExport {
            bands: opts.bands.clone(),
            depth: opts.depth,
            compression: opts.compression,
            tags: self
                .dataset()
                .map(|d| {
                    dataset_tags(d)
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect()
                })
                .unwrap_or_default(),
            memory: opts.memory_mb << 20,
            cancel: progress.token().clone(),
        };
        let counters = ExportProgress::default();
        let stop = AtomicBool::new(false);
        let result = std::thread::scope(|s| {
            let (c, st) = (&counters, &stop);
            s.spawn(move || {
                while !st.load(Ordering::Relaxed) {
                    let t = c.total.load(Ordering::Relaxed);
                    if t > 0 {
                        progress.set_total(t);
                    }
                    progress.set_done(c.done.load(Ordering::Relaxed));
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            let r = self.run(
                progress,
                export_zones(&self.inner, bbox, year, out, &zopts, &counters),
            );
            stop.store(true, Ordering::Relaxed);
            r
        });
        progress.set_done(counters.done.load(Ordering::Relaxed));
        let files = result?;
        let sidecar = match self.dataset() {
            Some(d) => Some(write_metadata(
                out,
                d,
                &self.mirror_label,
                &[
                    ("format", json!("tiff")),
                    ("year", json!(year)),
                    ("source", json!(self.url())),
                ],
            )?),
            None => None,
        };
        Ok(ExportReport {
            files: files
                .into_iter()
                .map(|(path, bytes, w)| ZoneFile {
                    path,
                    bytes,
                    zone: w.zone,
                    width: w.width(),
                    height: w.height(),
                })
                .collect(),
            kept: counters.kept.load(Ordering::Relaxed),
            resumed: counters.resumed.load(Ordering::Relaxed),
            sidecar,
        })
    }
}
