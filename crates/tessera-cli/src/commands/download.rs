//! `tessera download`: a region's tiles, fetched in parallel with verification and
//! resume, kept in the reference's local layout and exported as per-tile GeoTIFFs.

use std::path::PathBuf;

use serde_json::json;
use tessera_api::Progress;
use tessera_api::tiles::{
    Compression, DownloadRequest, DownloadSummary, RegionArgs, TileFormat, parse_bands,
    plan_download,
};

use crate::cli::{DownloadArgs, GlobalArgs, RegionSelect};
use crate::commands::common::{cli_err, context, dataset_options, human, print_notes};
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
    let req = DownloadRequest {
        region: region_args(&a.region),
        year: a.year,
        format: if tiff {
            TileFormat::Tiff
        } else {
            TileFormat::Npy
        },
        output: a.output.clone(),
        bands,
        compression,
        jobs: a.jobs,
        dry_run: a.dry_run,
        sidecar_extra: if a.json {
            vec![("command".to_string(), json!("download"))]
        } else {
            Vec::new()
        },
    };
    let p = Progress::new();
    let ctx = context(g)?;
    let plan = plan_download(
        &ctx,
        &dataset_options(&a.dataset, a.registry_dir.as_deref()),
        &req,
        &p,
    );
    print_notes(g, &p);
    let plan = plan.map_err(cli_err)?;
    let label = plan.dataset.label();
    let ntiles = plan.tiles.len();
    if a.dry_run {
        let d = plan.dry_run();
        if a.json {
            println!(
                "{}",
                json!({"dry_run": true, "country": plan.region.country_name(), "files": d.files, "bytes": d.bytes, "tiles": ntiles, "year": a.year,
                       "geotiff_files": d.geotiff_files, "geotiff_bytes_uncompressed": d.geotiff_bytes_uncompressed,
                       "format": if tiff { "tiff" } else { "npy" }, "dataset": label,
                       "tile_names": d.tiles.iter().map(|t| t.name()).collect::<Vec<_>>()})
            );
        } else {
            println!("Files to download:    {}", d.files);
            println!("Total download size:  {}", human(d.bytes));
            println!("Tiles in region:      {ntiles}");
            println!("Year:                 {}", a.year);
            println!(
                "Format:               {}",
                if tiff { "TIFF" } else { "NPY" }
            );
            println!("Dataset:              {label}");
            if tiff {
                println!(
                    "GeoTIFFs to write:    {ntiles} ({} as uncompressed float32; {} compression writes less)",
                    human(d.geotiff_bytes_uncompressed),
                    a.compress
                );
            }
            if g.verbose || a.list_files {
                for t in &d.tiles {
                    println!("  {}", t.name());
                }
            }
        }
        return Ok(None);
    }
    let out = a.output.clone().unwrap_or_default();
    if !a.json {
        crate::commands::common::print_settings(
            g,
            &label,
            a.year,
            &plan.region.label,
            &out,
            &if tiff {
                format!(
                    "{ntiles} tiles: NPY downloaded, one float32 GeoTIFF each, {}",
                    a.compress
                )
            } else {
                format!("{ntiles} NPY tiles as published")
            },
        );
    }
    let done = progress::watch(&p, || plan.run(&p));
    print_notes(g, &p);
    let s = done.map_err(cli_err)?;
    if a.json {
        println!(
            "{}",
            json!({
                "output": out, "country": plan.region.country_name(), "dataset": label, "tiles": s.tiles, "complete_tiles": s.complete_tiles,
                "downloaded_files": s.downloaded_files, "skipped_files": s.skipped_files, "resumed_files": s.resumed_files,
                "failed_files": s.failed_files.iter().map(|(k, e)| json!({"key": k, "error": e.to_string()})).collect::<Vec<_>>(),
                "bytes_fetched": s.bytes_fetched, "download_seconds": s.download_secs,
                "geotiffs": s.geotiffs.iter().map(|(p, n)| json!({"path": p, "bytes": n})).collect::<Vec<_>>(),
                "geotiffs_skipped": s.geotiffs_skipped, "export_seconds": s.export_secs, "export_errors": s.export_errors,
            })
        );
    } else {
        summary(a, g, &label, &s);
        for (k, e) in &s.failed_files {
            eprintln!("failed: {k} ({e})");
        }
        for e in &s.export_errors {
            eprintln!("failed: {e}");
        }
    }
    if let Some(e) = s.error() {
        return Err(cli_err(e));
    }
    Ok(Some(Done {
        files: s.downloaded_files,
        bytes: s.bytes_fetched,
        download_secs: s.download_secs,
        geotiffs: s.geotiffs,
        export_secs: s.export_secs,
    }))
}

fn summary(a: &DownloadArgs, g: &GlobalArgs, dataset: &str, s: &DownloadSummary) {
    let tiff = !a.format.eq_ignore_ascii_case("npy");
    let (out, ntiles) = (&s.output, s.tiles);
    if g.silent {
        return;
    }
    if g.quiet {
        // The one summary line -q promises.
        println!(
            "{ntiles} tiles of {dataset} {} in {}: {} files downloaded ({}), {} skipped{}",
            a.year,
            out.display(),
            s.downloaded_files,
            human(s.bytes_fetched),
            s.skipped_files,
            if tiff {
                format!(", {} GeoTIFFs exported", s.geotiffs.len())
            } else {
                String::new()
            }
        );
        return;
    }
    let rate = s.bytes_fetched as f64 / s.download_secs.max(1e-9);
    println!(
        "Downloaded {} files ({}, {}/s), skipped {} existing files, resumed {}",
        s.downloaded_files,
        human(s.bytes_fetched),
        human(rate as u64),
        s.skipped_files,
        s.resumed_files
    );
    if tiff {
        let exported = &s.geotiffs;
        let bytes: u64 = exported.iter().map(|(_, n)| n).sum();
        println!(
            "Exported {} GeoTIFF files ({}) in {:.1} s{}",
            exported.len(),
            human(bytes),
            s.export_secs,
            if s.geotiffs_skipped > 0 {
                format!(" ({} skipped: already exist)", s.geotiffs_skipped)
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
        for f in &s.files {
            println!("  {}", f.display());
        }
    }
    println!(
        "{ntiles} tiles of {dataset} {} in {}",
        a.year,
        out.display()
    );
}
