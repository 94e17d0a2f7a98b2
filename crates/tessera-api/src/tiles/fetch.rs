//! Making tiles present in a local directory (the NPY triple, verified and resumable),
//! reading one as float32 with its georeference, and per-tile GeoTIFF export.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rayon::prelude::*;

/// Rows of a tile dequantised by one parallel task.
const ROWS_PER_TASK: usize = 32;
use tessera_client::download::{DownloadOptions, DownloadProgress, DownloadReport, download_all};
use tessera_client::export::{GeoTiffExport, check_dataset_dir, export_tile_with, geotiff_path};
use tessera_client::local::{EmbeddingTile, npy_paths};
use tessera_client::{ClientError, Result};
use tessera_core::TileId;
use tessera_formats::geotiff::Compression;
use tessera_formats::manifest::ManifestEntry;

use super::TileDataset;
use crate::Progress;

/// How [`TileDataset::ensure_tiles`] fetches.
#[derive(Clone, Copy, Debug)]
pub struct EnsureOptions {
    /// Files in flight at once.
    pub jobs: usize,
    /// Fetch again even what is already complete on disk.
    pub refresh: bool,
}

impl Default for EnsureOptions {
    fn default() -> Self {
        EnsureOptions {
            jobs: 8,
            refresh: false,
        }
    }
}

/// What [`TileDataset::ensure_tiles`] did.
#[derive(Debug, Default)]
pub struct EnsureReport {
    /// The tile-years whose three files are all present now.
    pub complete: Vec<(i32, TileId)>,
    /// Per file: what happened (downloaded, skipped, failed), with byte counts.
    pub download: DownloadReport,
}

impl EnsureReport {
    /// The first failure, as an error naming the file.
    pub fn first_failure(&self) -> Option<ClientError> {
        self.download.failed().first().map(|(i, e)| {
            if e.is_usage() {
                ClientError::Usage(e.to_string())
            } else {
                ClientError::Format(format!(
                    "could not download {} ({e}); rerun to resume",
                    i.key
                ))
            }
        })
    }
}

/// One tile as float32 `(height, width, bands)`, row-major, with its georeference (from
/// the landmask, as the reference does).
#[derive(Debug, Clone)]
pub struct TileArray {
    /// The tile.
    pub tile: TileId,
    /// The year.
    pub year: i32,
    /// `height * width * bands` values, NaN where the tile has no embedding.
    pub data: Vec<f32>,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Bands per pixel.
    pub bands: usize,
    /// The EPSG code of the tile's CRS (its UTM zone).
    pub epsg: u32,
    /// The GDAL affine transform `[a, b, c, d, e, f]`: x = a*col + b*row + c, y = d*col + e*row + f.
    pub transform: [f64; 6],
}

/// How [`TileDataset::export_geotiffs`] writes.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Band indices to write, in order; all when `None`.
    pub bands: Option<Vec<usize>>,
    /// Compression.
    pub compression: Compression,
    /// Leave GeoTIFFs that already exist as they are.
    pub skip_existing: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            bands: None,
            compression: Compression::Lzw,
            skip_existing: true,
        }
    }
}

/// What [`TileDataset::export_geotiffs`] did.
#[derive(Debug, Default)]
pub struct ExportReport {
    /// Files written and their sizes, in the order of the tiles.
    pub written: Vec<(PathBuf, u64)>,
    /// Files left as they were (they existed).
    pub skipped: Vec<PathBuf>,
    /// Per failed tile: the path and what went wrong.
    pub errors: Vec<String>,
}

/// Runs `fut` on the process runtime while copying its counters into `progress`.
pub(crate) fn run_download(
    progress: &Progress,
    dp: &Arc<DownloadProgress>,
    fut: impl std::future::Future<Output = DownloadReport>,
) -> Result<DownloadReport> {
    use std::sync::atomic::Ordering;
    let sync = || {
        progress.set_total(dp.total.load(Ordering::Relaxed));
        progress.set_done(dp.done.load(Ordering::Relaxed));
    };
    let rt = crate::runtime()?;
    let report = rt.block_on(async {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                r = &mut fut => break r,
                _ = tokio::time::sleep(Duration::from_millis(100)) => sync(),
            }
        }
    });
    sync();
    Ok(report)
}

/// Whether a tile-year's three files (embedding, scales, landmask) are all in `dir`
/// (`check_tiles_present`).
pub fn tile_present(dir: &Path, year: i32, tile: TileId) -> bool {
    let (e, s, l) = npy_paths(dir, year, tile);
    e.is_file() && s.is_file() && l.is_file()
}

impl TileDataset {
    /// Makes the NPY triple (embedding, scales, landmask) of every tile-year present in
    /// `dir` (the reference's layout), skipping complete files unless `refresh`. Failures
    /// are reported per file; a stop request returns `Cancelled`.
    pub fn ensure_tiles(
        &self,
        dir: &Path,
        tiles: &[ManifestEntry],
        opts: EnsureOptions,
        progress: &Progress,
    ) -> Result<EnsureReport> {
        let mut items = Vec::with_capacity(tiles.len() * 3);
        for e in tiles {
            for item in self.triple(dir, e) {
                if opts.refresh {
                    let _ = std::fs::remove_file(&item.dest);
                }
                items.push(item);
            }
        }
        progress.start_phase("download", 0);
        let mirror = self.ctx.mirror.with_cancel(progress.token());
        let dp = Arc::new(DownloadProgress::default());
        let fut = download_all(
            &mirror,
            dir,
            items,
            DownloadOptions {
                jobs: opts.jobs.max(1),
                ..Default::default()
            },
            dp.clone(),
        );
        let report = run_download(progress, &dp, fut)?;
        for w in &report.warnings {
            progress.warn(w.clone());
        }
        progress.token().check()?;
        let failed: HashSet<&Path> = report
            .failed()
            .iter()
            .map(|(i, _)| i.dest.as_path())
            .collect();
        let complete = tiles
            .iter()
            .filter(|e| {
                let (a, b, c) = npy_paths(dir, e.year, e.tile);
                ![a, b, c].iter().any(|p| failed.contains(p.as_path()))
            })
            .map(|e| (e.year, e.tile))
            .collect();
        Ok(EnsureReport {
            complete,
            download: report,
        })
    }

    /// `fetch_embedding`: the tile-year containing `(lon, lat)` as float32, downloading its
    /// three files into `dir` first when they are missing (or always with `refresh`).
    pub fn fetch_embedding(
        &self,
        dir: &Path,
        lon: f64,
        lat: f64,
        year: i32,
        refresh: bool,
        progress: &Progress,
    ) -> Result<TileArray> {
        check_dataset_dir(dir, &self.dataset)?;
        let e = self.entry(year, lon, lat)?;
        let rep = self.ensure_tiles(
            dir,
            std::slice::from_ref(&e),
            EnsureOptions { jobs: 3, refresh },
            progress,
        )?;
        if let Some(err) = rep.first_failure() {
            return Err(err);
        }
        self.record_dataset(dir)?;
        self.read_tile(dir, year, e.tile)
    }

    /// Reads a tile-year already present in `dir` as float32 with its georeference.
    pub fn read_tile(&self, dir: &Path, year: i32, tile: TileId) -> Result<TileArray> {
        let (ep, sp, lp) = npy_paths(dir, year, tile);
        let t = EmbeddingTile::open(tile, year, &ep, &sp, Some(&lp))?;
        // Reading a tile is bound by writing its float32 copy: the rows are dequantised in
        // parallel into a buffer backed by huge pages.
        let row_len = t.georef.width * t.bands();
        let mut data = tessera_client::mem::output_f32(t.georef.height * row_len);
        if row_len > 0 {
            data.par_chunks_mut(ROWS_PER_TASK * row_len)
                .enumerate()
                .try_for_each(|(i, chunk)| t.rows_into(i * ROWS_PER_TASK, chunk))?;
        }
        Ok(TileArray {
            tile,
            year,
            data,
            height: t.georef.height,
            width: t.georef.width,
            bands: t.bands(),
            epsg: t.crs().epsg().unwrap_or_default(), // tiles are in UTM: always coded,
            transform: t.georef.transform.to_array(),
        })
    }

    /// Writes the directory's sidecar when it has none (the dataset that populated it).
    fn record_dataset(&self, dir: &Path) -> Result<()> {
        if !dir.join(tessera_client::export::METADATA_FILE).is_file() {
            tessera_client::export::write_metadata(
                dir,
                &self.dataset,
                &self.ctx.mirror_label(),
                &[],
            )?;
        }
        Ok(())
    }

    /// Exports tile-years present in `tiles_dir` as float32 GeoTIFFs under `out`
    /// (`global_0.1_degree_representation/{Y}/grid_X_Y/grid_X_Y_{Y}.tiff`), in parallel;
    /// a file appears under its name only when complete. Per-tile failures are reported,
    /// a stop request returns `Cancelled`.
    pub fn export_geotiffs(
        &self,
        tiles_dir: &Path,
        out: &Path,
        tiles: &[(i32, TileId)],
        opts: &ExportOptions,
        progress: &Progress,
    ) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        let todo: Vec<&(i32, TileId)> = tiles
            .iter()
            .filter(|(y, t)| {
                let p = geotiff_path(out, *y, *t);
                let skip = opts.skip_existing && p.is_file();
                if skip {
                    report.skipped.push(p);
                }
                !skip
            })
            .collect();
        progress.start_phase("export", todo.len() as u64);
        let export = GeoTiffExport {
            bands: opts.bands.clone(),
            compression: opts.compression,
            dataset: self.dataset.clone(),
        };
        let token = progress.token();
        let results: Vec<Result<std::result::Result<(PathBuf, u64), String>>> = todo
            .par_iter()
            .map(|(y, t)| {
                token.check()?;
                let p = geotiff_path(out, *y, *t);
                let (ep, sp, lp) = npy_paths(tiles_dir, *y, *t);
                let r = EmbeddingTile::open(*t, *y, &ep, &sp, Some(&lp))
                    .and_then(|tile| export_tile_with(&tile, out, &p, &export, token));
                progress.add_done(1);
                match r {
                    Ok(n) => Ok(Ok((p, n))),
                    Err(ClientError::Cancelled) => Err(ClientError::Cancelled),
                    Err(e) => Ok(Err(format!("{}: {e}", p.display()))),
                }
            })
            .collect();
        for r in results {
            match r? {
                Ok(v) => report.written.push(v),
                Err(e) => report.errors.push(e),
            }
        }
        token.check()?;
        Ok(report)
    }
}
