//! `tessera download`: a region's tiles, fetched in parallel with verification and
//! resume, kept in the reference's local layout and exported as per-tile GeoTIFFs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde_json::json;
use tessera_client::download::{
    DownloadItem, DownloadOptions, DownloadProgress, Outcome, download_all,
};
use tessera_client::export::{
    GeoTiffExport, check_dataset_dir, export_tile, geotiff_path, parse_bands, write_metadata,
};
use tessera_client::local::{EmbeddingTile, npy_paths};
use tessera_client::region::RegionArgs;
use tessera_core::TileId;
use tessera_core::dataset::keys;
use tessera_formats::geotiff::Compression;

use crate::cli::{DownloadArgs, GlobalArgs, RegionSelect};
use crate::commands::common::{cli_err, dataset, human, mirror, registry, runtime};
use crate::commands::progress;
use crate::exit::usage;

/// Region selectors as the client's arguments.
pub fn region_args(r: &RegionSelect) -> RegionArgs {
    RegionArgs {
        bbox: r.bbox.clone(),
        tile: r.tile.clone(),
        region_file: r.region_file.clone(),
        country: r.country.clone(),
    }
}

/// What a download did (for the demo's report).
#[derive(Debug, Default)]
pub struct Done {
    /// Files fetched.
    pub files: usize,
    /// Bytes fetched.
    pub bytes: u64,
    /// Seconds downloading.
    pub download_secs: f64,
    /// GeoTIFFs written and their sizes.
    pub geotiffs: Vec<(PathBuf, u64)>,
    /// Seconds exporting.
    pub export_secs: f64,
}

pub fn run(a: &DownloadArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    execute(a, g).map(|_| ())
}

/// Runs a download; `None` for dry runs, empty regions and the Zarr path.
pub fn execute(a: &DownloadArgs, g: &GlobalArgs) -> anyhow::Result<Option<Done>> {
    // Everything that can be checked without the network is checked first.
    match a.format.to_ascii_lowercase().as_str() {
        "tiff" | "tif" | "geotiff" | "npy" => {}
        "zarr" => {
            return Err(usage(
                "--format zarr is no longer supported; use tiff (per-tile GeoTIFFs) or npy",
            ));
        }
        other => {
            return Err(usage(format!(
                "Invalid format '{other}'. Must be 'tiff' or 'npy'"
            )));
        }
    };
    let tiff = !a.format.eq_ignore_ascii_case("npy");
    let source = a.source.to_ascii_lowercase();
    if source == "tiles" && (a.store_url.is_some() || a.depth.is_some()) {
        return Err(usage("--store-url and --depth require --source zarr"));
    }
    match source.as_str() {
        "tiles" | "auto" => {}
        "zarr" => {
            if !tiff {
                return Err(usage(
                    "Zarr streaming exports TIFF; use --source tiles for NPY",
                ));
            }
            if a.registry_dir.is_some() {
                return Err(usage(
                    "--registry-dir applies to --source tiles; use --store-url for Zarr",
                ));
            }
            return crate::commands::zarr::download(a, g).map(|_| None);
        }
        other => {
            return Err(usage(format!(
                "--source must be auto, tiles or zarr, got '{other}'"
            )));
        }
    }
    if source == "auto" && tiff && a.registry_dir.is_none() && crate::commands::zarr::available() {
        match crate::commands::zarr::download(a, g) {
            Err(e) if crate::commands::zarr::is_missing_store(&e) && a.store_url.is_none() => {
                if !g.quiet {
                    eprintln!(
                        "note: this mirror has no Zarr store for the dataset; downloading its NPY tiles and exporting per-tile GeoTIFFs instead (--source tiles)"
                    );
                }
            }
            other => return other.map(|_| None),
        }
    }
    if a.output.is_none() && !a.dry_run {
        return Err(usage("--output/-o is required for actual downloads"));
    }
    let compression: Compression = a
        .compress
        .parse()
        .map_err(|e: tessera_formats::geotiff::codec::BadCompression| usage(e.to_string()))?;
    let bands = match (&a.bands, tiff) {
        (Some(b), true) => Some(parse_bands(b, 128).map_err(cli_err)?),
        (Some(_), false) => {
            eprintln!(
                "note: --bands is ignored for NPY downloads (the published files are copied as they are)"
            );
            None
        }
        _ => None,
    };
    if !(1..=256).contains(&a.jobs) {
        return Err(usage("--jobs must be between 1 and 256"));
    }
    let ds = dataset(&a.dataset)?;
    let npy_dir = ds.npy_dir().map_err(|e| usage(e.to_string()))?;
    let region = crate::commands::countries::resolve_region(&a.region, g)?;
    if let Some(out) = &a.output {
        if !a.dry_run {
            crate::commands::common::prepare_output(out)?;
        }
        check_dataset_dir(out, &ds).map_err(cli_err)?;
    }
    let m = mirror(g)?;
    let rt = runtime()?;
    let reg = registry(&rt, &m, &ds, g, a.registry_dir.as_deref())?;
    if let tessera_core::BboxSpec::Tile(t) = region.spec
        && !g.quiet
        && region.label != format!("tile {t}")
    {
        eprintln!("{} -> tile {t}", region.label);
    }
    let tiles = reg.in_box(region.query_box(), a.year).map_err(cli_err)?;
    if tiles.is_empty() {
        let why = reg
            .explain_empty(region.query_box(), a.year)
            .map_err(cli_err)?;
        return Err(anyhow::anyhow!("{}: {why}", region.label));
    }
    let lm_size = |t: TileId| {
        reg.landmasks
            .as_ref()
            .and_then(|l| l.get(&t))
            .map(|&s| s as u64)
    };
    if a.dry_run {
        // What is downloaded is the NPY triple of every tile, whatever the format; GeoTIFF
        // output adds one float32 file per tile, whose uncompressed size is exact (the
        // written size depends on the compression).
        let (mut bytes, mut files, mut tiff_bytes) = (0u64, 0usize, 0u64);
        for e in &tiles {
            let lm = lm_size(e.tile).unwrap_or(0);
            bytes += e.grid_size as u64 + e.scales_size.unwrap_or(0) as u64 + lm;
            files += 3;
            let g = tessera_core::TileGeoref::of_tile(e.tile);
            let nb = match &bands {
                Some(b) => b.len(),
                None => 128,
            };
            // Exports are tiled 256 x 256; edge tiles are written whole.
            let (tx, ty) = (g.width.div_ceil(256), g.height.div_ceil(256));
            tiff_bytes += (tx * ty * 256 * 256 * nb * 4) as u64;
        }
        if a.json {
            println!(
                "{}",
                json!({"dry_run": true, "country": region.country_name(), "files": files, "bytes": bytes, "tiles": tiles.len(), "year": a.year,
                       "geotiff_files": if tiff { tiles.len() } else { 0 }, "geotiff_bytes_uncompressed": if tiff { tiff_bytes } else { 0 },
                       "format": if tiff { "tiff" } else { "npy" }, "dataset": crate::commands::common::dataset_label(&ds),
                       "tile_names": tiles.iter().map(|e| e.tile.name()).collect::<Vec<_>>()})
            );
        } else {
            println!("Files to download:    {files}");
            println!("Total download size:  {}", human(bytes));
            println!("Tiles in region:      {}", tiles.len());
            println!("Year:                 {}", a.year);
            println!(
                "Format:               {}",
                if tiff { "TIFF" } else { "NPY" }
            );
            println!(
                "Dataset:              {}",
                crate::commands::common::dataset_label(&ds)
            );
            if tiff {
                println!(
                    "GeoTIFFs to write:    {} ({} as uncompressed float32; {} compression writes less)",
                    tiles.len(),
                    human(tiff_bytes),
                    a.compress
                );
            }
            if g.verbose || a.list_files {
                for e in &tiles {
                    println!("  {}", e.tile.name());
                }
            }
        }
        return Ok(None);
    }
    let out = a.output.clone().expect("checked above");
    if !a.json {
        crate::commands::common::print_settings(
            g,
            &crate::commands::common::dataset_label(&ds),
            a.year,
            &region.label,
            &out,
            &if tiff {
                format!(
                    "{} tiles: NPY downloaded, one float32 GeoTIFF each, {}",
                    tiles.len(),
                    a.compress
                )
            } else {
                format!("{} NPY tiles as published", tiles.len())
            },
        );
    }
    let start = Instant::now();
    // The NPY triple of every tile, into the reference's local layout.
    let mut items = Vec::new();
    for e in &tiles {
        let (ep, sp, lp) = npy_paths(&out, e.year, e.tile);
        items.push(DownloadItem {
            key: keys::embedding(&npy_dir, e.year, e.tile),
            dest: ep,
            size: Some(e.grid_size as u64),
        });
        items.push(DownloadItem {
            key: keys::scales(&npy_dir, e.year, e.tile),
            dest: sp,
            size: e.scales_size.map(|s| s as u64),
        });
        items.push(DownloadItem {
            key: keys::landmask(ds.landmask_dir(), e.tile),
            dest: lp,
            size: lm_size(e.tile),
        });
    }
    let progress = Arc::new(DownloadProgress::default());
    let opts = DownloadOptions {
        jobs: a.jobs,
        ..Default::default()
    };
    let bar = progress::bytes(0, "");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let report = std::thread::scope(|s| {
        let p = progress.clone();
        let b = bar.clone();
        let stop_ref = &stop;
        s.spawn(move || {
            while !stop_ref.load(Ordering::Relaxed) {
                b.set_length(p.total.load(Ordering::Relaxed));
                b.set_position(p.done.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = rt.block_on(download_all(&m, &out, items, opts, progress.clone()));
        stop.store(true, Ordering::Relaxed);
        r
    });
    bar.finish_and_clear();
    for w in &report.warnings {
        eprintln!("warning: {}", tessera_client::mirror::sanitize(w));
    }
    // Which tiles are complete.
    let failed: std::collections::HashSet<PathBuf> = report
        .failed()
        .iter()
        .map(|(i, _)| i.dest.clone())
        .collect();
    let complete: Vec<_> = tiles
        .iter()
        .filter(|e| {
            let (ep, sp, lp) = npy_paths(&out, e.year, e.tile);
            !failed.contains(&ep) && !failed.contains(&sp) && !failed.contains(&lp)
        })
        .collect();
    tessera_client::cancel::check().map_err(cli_err)?;
    let download_secs = start.elapsed().as_secs_f64();
    // GeoTIFF export of the complete tiles, in parallel.
    let mut exported: Vec<(PathBuf, u64)> = Vec::new();
    let mut export_skipped = 0usize;
    let mut export_errors: Vec<String> = Vec::new();
    let export_start = Instant::now();
    if tiff {
        let opts = GeoTiffExport {
            bands: bands.clone(),
            compression,
            dataset: ds.clone(),
        };
        let todo: Vec<_> = complete
            .iter()
            .filter(|e| {
                let p = geotiff_path(&out, e.year, e.tile);
                let exists = p.is_file();
                if exists {
                    export_skipped += 1;
                }
                !exists
            })
            .collect();
        let ebar = progress::items(todo.len() as u64, "GeoTIFFs");
        let results: Vec<Result<(PathBuf, u64), String>> = todo
            .par_iter()
            .map(|e| {
                let p = geotiff_path(&out, e.year, e.tile);
                let (ep, sp, lp) = npy_paths(&out, e.year, e.tile);
                let r = EmbeddingTile::open(e.tile, e.year, &ep, &sp, Some(&lp))
                    .and_then(|t| export_tile(&t, &out, &p, &opts))
                    .map(|n| (p.clone(), n))
                    .map_err(|err| format!("{}: {err}", p.display()));
                ebar.inc(1);
                r
            })
            .collect();
        ebar.finish_and_clear();
        for r in results {
            match r {
                Ok(v) => exported.push(v),
                Err(e) => export_errors.push(e),
            }
        }
    }
    tessera_client::cancel::check().map_err(cli_err)?;
    let export_secs = export_start.elapsed().as_secs_f64();
    let mut extra = vec![
        ("format", json!(if tiff { "tiff" } else { "npy" })),
        ("year", json!(a.year)),
        ("tile_count", json!(complete.len())),
    ];
    if a.json {
        extra.push(("command", json!("download")));
    }
    write_metadata(&out, &ds, &m.root.to_string(), &extra).map_err(cli_err)?;
    let incomplete = tiles.len() - complete.len();
    let fails = report.failed();
    if a.json {
        println!(
            "{}",
            json!({
                "output": out, "country": region.country_name(), "dataset": crate::commands::common::dataset_label(&ds), "tiles": tiles.len(), "complete_tiles": complete.len(),
                "downloaded_files": report.downloaded(), "skipped_files": report.skipped(), "resumed_files": report.resumed(),
                "failed_files": fails.iter().map(|(i, e)| json!({"key": i.key, "error": e.to_string()})).collect::<Vec<_>>(),
                "bytes_fetched": report.fetched, "download_seconds": download_secs,
                "geotiffs": exported.iter().map(|(p, n)| json!({"path": p, "bytes": n})).collect::<Vec<_>>(),
                "geotiffs_skipped": export_skipped, "export_seconds": export_secs, "export_errors": export_errors,
            })
        );
    } else {
        summary(
            a,
            g,
            &out,
            &crate::commands::common::dataset_label(&ds),
            &tiles.len(),
            &report,
            &exported,
            export_skipped,
            download_secs,
            export_secs,
        );
        for (i, e) in &fails {
            eprintln!("failed: {} ({e})", i.key);
        }
        for e in &export_errors {
            eprintln!("failed: {e}");
        }
    }
    if incomplete > 0 || !export_errors.is_empty() {
        let first = fails
            .first()
            .map(|(_, e)| e.to_string())
            .unwrap_or_else(|| export_errors.first().cloned().unwrap_or_default());
        if fails.iter().any(|(_, e)| e.is_usage()) {
            return Err(usage(first));
        }
        return Err(anyhow::anyhow!(
            "{} of {} tiles are incomplete ({first}); rerun the same command to resume",
            incomplete.max(export_errors.len()),
            tiles.len()
        ));
    }
    Ok(Some(Done {
        files: report.downloaded(),
        bytes: report.fetched,
        download_secs,
        geotiffs: exported,
        export_secs,
    }))
}

#[allow(clippy::too_many_arguments)]
fn summary(
    a: &DownloadArgs,
    g: &GlobalArgs,
    out: &Path,
    dataset: &str,
    ntiles: &usize,
    report: &tessera_client::download::DownloadReport,
    exported: &[(PathBuf, u64)],
    export_skipped: usize,
    download_secs: f64,
    export_secs: f64,
) {
    let tiff = !a.format.eq_ignore_ascii_case("npy");
    if g.silent {
        return;
    }
    if g.quiet {
        // The one summary line -q promises.
        println!(
            "{ntiles} tiles of {dataset} {} in {}: {} files downloaded ({}), {} skipped{}",
            a.year,
            out.display(),
            report.downloaded(),
            human(report.fetched),
            report.skipped(),
            if tiff {
                format!(", {} GeoTIFFs exported", exported.len())
            } else {
                String::new()
            }
        );
        return;
    }
    let rate = report.fetched as f64 / download_secs.max(1e-9);
    println!(
        "Downloaded {} files ({}, {}/s), skipped {} existing files, resumed {}",
        report.downloaded(),
        human(report.fetched),
        human(rate as u64),
        report.skipped(),
        report.resumed()
    );
    if tiff {
        let bytes: u64 = exported.iter().map(|(_, n)| n).sum();
        println!(
            "Exported {} GeoTIFF files ({}) in {:.1} s{}",
            exported.len(),
            human(bytes),
            export_secs,
            if export_skipped > 0 {
                format!(" ({export_skipped} skipped: already exist)")
            } else {
                String::new()
            }
        );
        let show = if g.verbose || a.list_files {
            exported.len()
        } else {
            exported.len().min(3)
        };
        for (p, n) in &exported[..show] {
            println!("  {} ({})", p.display(), human(*n));
        }
        if show < exported.len() {
            println!(
                "  ... and {} more (--list-files to see all)",
                exported.len() - show
            );
        }
    } else if g.verbose || a.list_files {
        for (i, o) in &report.outcomes {
            if matches!(o, Outcome::Downloaded { .. } | Outcome::Skipped) {
                println!("  {}", i.dest.display());
            }
        }
    }
    println!(
        "{ntiles} tiles of {dataset} {} in {}",
        a.year,
        out.display()
    );
}
