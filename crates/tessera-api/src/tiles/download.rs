//! The whole download of a region: plan (dataset, region, output checks, registry,
//! tiles), dry-run sizing, the NPY triples, the GeoTIFF export, the sidecar, and a report.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use tessera_client::download::Outcome;
use tessera_client::export::{check_dataset_dir, write_metadata};
use tessera_client::{ClientError, Result};
use tessera_core::{BboxSpec, TileGeoref, TileId};
use tessera_formats::geotiff::Compression;
use tessera_formats::manifest::ManifestEntry;

use super::{
    DatasetOptions, EnsureOptions, ExportOptions, Region, RegionArgs, TileDataset, remove_empty,
    resolve_region,
};
use crate::{Context, Progress};

/// What a download writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TileFormat {
    /// The NPY triples, then one float32 GeoTIFF per tile.
    Tiff,
    /// The NPY triples as published.
    Npy,
}

/// A download: which region and year, into where, as what.
#[derive(Clone, Debug)]
pub struct DownloadRequest {
    /// Region selectors (exactly one).
    pub region: RegionArgs,
    /// Year.
    pub year: i32,
    /// Output format.
    pub format: TileFormat,
    /// Output directory (required unless `dry_run`).
    pub output: Option<PathBuf>,
    /// GeoTIFF bands (all when `None`).
    pub bands: Option<Vec<usize>>,
    /// GeoTIFF compression.
    pub compression: Compression,
    /// Files in flight at once (1 to 256).
    pub jobs: usize,
    /// Plan and size only.
    pub dry_run: bool,
    /// Extra entries for the sidecar (e.g. `command`).
    pub sidecar_extra: Vec<(String, serde_json::Value)>,
}

/// A planned download (see [`plan_download`]): everything is checked, nothing fetched.
pub struct DownloadPlan {
    /// The opened dataset.
    pub dataset: TileDataset,
    /// The resolved region.
    pub region: Region,
    /// The tile-years to fetch, in manifest order.
    pub tiles: Vec<ManifestEntry>,
    /// The request.
    pub request: DownloadRequest,
    created: Vec<PathBuf>,
}

/// What a dry run would fetch and write.
#[derive(Clone, Debug)]
pub struct DryRun {
    /// Files to download (three per tile).
    pub files: usize,
    /// Bytes to download.
    pub bytes: u64,
    /// The tiles.
    pub tiles: Vec<TileId>,
    /// GeoTIFFs to write (0 for NPY).
    pub geotiff_files: usize,
    /// Their size as uncompressed float32 (tiled 256 x 256, edge tiles whole).
    pub geotiff_bytes_uncompressed: u64,
}

/// What a download did.
#[derive(Debug, Default)]
pub struct DownloadSummary {
    /// The output directory.
    pub output: PathBuf,
    /// Tiles in the region.
    pub tiles: usize,
    /// Tiles whose three files are present.
    pub complete_tiles: usize,
    /// Files downloaded.
    pub downloaded_files: usize,
    /// Files skipped (complete on disk).
    pub skipped_files: usize,
    /// Files resumed from an earlier partial download.
    pub resumed_files: usize,
    /// `(key, error)` of the files that failed.
    pub failed_files: Vec<(String, ClientError)>,
    /// Local paths of the files downloaded or skipped (for listings).
    pub files: Vec<PathBuf>,
    /// Bytes transferred.
    pub bytes_fetched: u64,
    /// Seconds downloading.
    pub download_secs: f64,
    /// GeoTIFFs written and their sizes.
    pub geotiffs: Vec<(PathBuf, u64)>,
    /// GeoTIFFs left as they were (they existed).
    pub geotiffs_skipped: usize,
    /// Seconds exporting.
    pub export_secs: f64,
    /// Export failures, one line each.
    pub export_errors: Vec<String>,
}

impl DownloadSummary {
    /// The error of an incomplete download (`None` when every tile is complete): the
    /// first failure, as a usage error when it is the caller's (an unwritable output).
    pub fn error(&self) -> Option<ClientError> {
        let incomplete = self.tiles - self.complete_tiles;
        if incomplete == 0 && self.export_errors.is_empty() {
            return None;
        }
        let first = self
            .failed_files
            .first()
            .map(|(_, e)| e.to_string())
            .unwrap_or_else(|| self.export_errors.first().cloned().unwrap_or_default());
        if self.failed_files.iter().any(|(_, e)| e.is_usage()) {
            return Some(ClientError::Usage(first));
        }
        Some(ClientError::Format(format!(
            "{} of {} tiles are incomplete ({first}); rerun the same command to resume",
            incomplete.max(self.export_errors.len()),
            self.tiles
        )))
    }
}

/// The result of [`download`].
#[derive(Debug)]
pub enum DownloadOutcome {
    /// A dry run's sizing.
    DryRun(DryRun),
    /// A download's report.
    Done(DownloadSummary),
}

/// Checks a download and finds its tiles, in the order that makes the cheapest mistakes
/// fail first: the dataset, the region, the output directory (created and checked, and
/// refused when it holds another dataset), then the registry and the region's tiles.
pub fn plan_download(
    ctx: &Context,
    dataset: &DatasetOptions,
    req: &DownloadRequest,
    progress: &Progress,
) -> Result<DownloadPlan> {
    if req.output.is_none() && !req.dry_run {
        return Err(ClientError::Usage(
            "--output/-o is required for actual downloads".into(),
        ));
    }
    if !(1..=256).contains(&req.jobs) {
        return Err(ClientError::Usage(
            "--jobs must be between 1 and 256".into(),
        ));
    }
    let ds = dataset.dataset()?;
    ds.npy_dir()?;
    let region = resolve_region(&req.region, progress)?;
    let mut created = Vec::new();
    if let Some(out) = &req.output {
        if !req.dry_run {
            created = super::prepare_output(out)?;
        }
        if let Err(e) = check_dataset_dir(out, &ds) {
            remove_empty(&created);
            return Err(e);
        }
    }
    let opened = TileDataset::open(ctx, dataset, progress).and_then(|d| {
        if let BboxSpec::Tile(t) = region.spec
            && region.label != format!("tile {t}")
        {
            progress.note(format!("{} -> tile {t}", region.label));
        }
        let tiles = d.tiles_in_region(&region, req.year)?;
        Ok((d, tiles))
    });
    match opened {
        Ok((dataset, tiles)) => Ok(DownloadPlan {
            dataset,
            region,
            tiles,
            request: req.clone(),
            created,
        }),
        Err(e) => {
            remove_empty(&created);
            Err(e)
        }
    }
}

impl DownloadPlan {
    /// What the download fetches (the NPY triple of every tile, whatever the format) and
    /// writes (one float32 GeoTIFF per tile for TIFF).
    pub fn dry_run(&self) -> DryRun {
        let (mut bytes, mut files, mut tiff_bytes) = (0u64, 0usize, 0u64);
        let nb = self.request.bands.as_ref().map_or(128, Vec::len);
        for e in &self.tiles {
            let lm = self.dataset.landmask_size(e.tile).unwrap_or(0);
            bytes += e.grid_size.max(0) as u64 + e.scales_size.unwrap_or(0).max(0) as u64 + lm;
            files += 3;
            let g = TileGeoref::of_tile(e.tile);
            let (tx, ty) = (g.width.div_ceil(256), g.height.div_ceil(256));
            tiff_bytes += (tx * ty * 256 * 256 * nb * 4) as u64;
        }
        let tiff = self.request.format == TileFormat::Tiff;
        DryRun {
            files,
            bytes,
            tiles: self.tiles.iter().map(|e| e.tile).collect(),
            geotiff_files: if tiff { self.tiles.len() } else { 0 },
            geotiff_bytes_uncompressed: if tiff { tiff_bytes } else { 0 },
        }
    }

    /// Fetches the tiles, exports them (TIFF), writes the sidecar, and reports. An
    /// incomplete download is reported, not an error ([`DownloadSummary::error`]); a stop
    /// request returns `Cancelled`.
    pub fn run(&self, progress: &Progress) -> Result<DownloadSummary> {
        let Some(out) = self.request.output.clone() else {
            return Err(ClientError::Usage(
                "--output/-o is required for actual downloads".into(),
            ));
        };
        let r = self.run_into(out, progress);
        if r.is_err() {
            remove_empty(&self.created);
        }
        r
    }

    fn run_into(&self, out: PathBuf, progress: &Progress) -> Result<DownloadSummary> {
        let req = &self.request;
        let ds = &self.dataset;
        let start = Instant::now();
        let ensured = ds.ensure_tiles(
            &out,
            &self.tiles,
            EnsureOptions {
                jobs: req.jobs,
                refresh: false,
            },
            progress,
        )?;
        let download_secs = start.elapsed().as_secs_f64();
        let report = &ensured.download;
        let export_start = Instant::now();
        let exported = if req.format == TileFormat::Tiff {
            ds.export_geotiffs(
                &out,
                &out,
                &ensured.complete,
                &ExportOptions {
                    bands: req.bands.clone(),
                    compression: req.compression,
                    skip_existing: true,
                },
                progress,
            )?
        } else {
            Default::default()
        };
        let export_secs = export_start.elapsed().as_secs_f64();
        let mut extra = vec![
            (
                "format".to_string(),
                json!(match req.format {
                    TileFormat::Tiff => "tiff",
                    TileFormat::Npy => "npy",
                }),
            ),
            ("year".to_string(), json!(req.year)),
            ("tile_count".to_string(), json!(ensured.complete.len())),
        ];
        extra.extend(req.sidecar_extra.iter().cloned());
        let extra: Vec<(&str, serde_json::Value)> =
            extra.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        write_metadata(&out, ds.dataset(), &ds.ctx.mirror_label(), &extra)?;
        let files = report
            .outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Downloaded { .. } | Outcome::Skipped))
            .map(|(i, _)| i.dest.clone())
            .collect();
        Ok(DownloadSummary {
            output: out,
            tiles: self.tiles.len(),
            complete_tiles: ensured.complete.len(),
            downloaded_files: report.downloaded(),
            skipped_files: report.skipped(),
            resumed_files: report.resumed(),
            failed_files: report
                .failed()
                .iter()
                .map(|(i, e)| (i.key.clone(), clone_error(e)))
                .collect(),
            files,
            bytes_fetched: report.fetched,
            download_secs,
            geotiffs: exported.written,
            geotiffs_skipped: exported.skipped.len(),
            export_secs,
            export_errors: exported.errors,
        })
    }
}

/// A copy of an error with the same kind (usage or not) and message.
fn clone_error(e: &ClientError) -> ClientError {
    match e {
        ClientError::Usage(m) => ClientError::Usage(m.clone()),
        ClientError::Unwritable { path, message } => ClientError::Unwritable {
            path: path.clone(),
            message: message.clone(),
        },
        ClientError::Cancelled => ClientError::Cancelled,
        other => ClientError::Format(other.to_string()),
    }
}

/// Plans and runs a download in one call: a dry run's sizing, or the download's report.
pub fn download(
    ctx: &Context,
    dataset: &DatasetOptions,
    req: &DownloadRequest,
    progress: &Progress,
) -> Result<DownloadOutcome> {
    let plan = plan_download(ctx, dataset, req, progress)?;
    if req.dry_run {
        return Ok(DownloadOutcome::DryRun(plan.dry_run()));
    }
    plan.run(progress).map(DownloadOutcome::Done)
}
