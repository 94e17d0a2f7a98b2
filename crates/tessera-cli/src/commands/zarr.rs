//! The Zarr commands: `zarr build|verify|read`, `download --source zarr`, `sample --source
//! zarr` and `info --store`: argument checks and printing over `tessera_api::store`.

mod build;
mod read;

use std::path::Path;
use std::time::Instant;

use serde_json::json;
use tessera_api::store::{
    ExportOptions, OpenOptions, PointOptions, Store, StoreRef, VariantDefault, check_output_dir,
};
use tessera_api::{Context, Progress};
use tessera_client::points::{PointMeta, read_points_in, write_samples};
use tessera_formats::geotiff::Compression;

use crate::cli::{DatasetSelect, DownloadArgs, GlobalArgs, InfoArgs, SampleArgs, ZarrCommand};
use crate::commands::common::{cli_err, dataset_label, human, print_notes};
use crate::commands::progress;
use crate::exit::usage;

pub use build::build_synth_store;

pub fn run(c: ZarrCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    match c {
        ZarrCommand::Build(a) => build::build(&a, g),
        ZarrCommand::Verify(a) => build::verify(&a, g),
        ZarrCommand::Read(a) => read::read(&a, g),
    }
}

/// Whether `--source auto` streams from Zarr (it does in this build).
pub fn available() -> bool {
    true
}

/// True when `e` says the store does not exist (so `--source auto` can use the tiles).
pub fn is_missing_store(e: &anyhow::Error) -> bool {
    e.downcast_ref::<crate::exit::UsageError>()
        .is_some_and(|u| u.0.starts_with(tessera_api::store::NO_STORE))
}

/// The store to read: an explicit location, or the dataset's store under the mirror.
pub(crate) fn store_ref(
    ctx: &Context,
    explicit: Option<&str>,
    d: &DatasetSelect,
    g: &GlobalArgs,
) -> anyhow::Result<StoreRef> {
    match explicit {
        Some(s) => Ok(StoreRef::from_url(s)),
        None => StoreRef::for_dataset(
            ctx,
            &d.dataset_version,
            d.dataset_variant.as_deref(),
            VariantDefault::Tool,
            g.via_gateway,
        )
        .map_err(cli_err),
    }
}

pub(crate) fn open(ctx: &Context, r: StoreRef, concurrency: usize) -> anyhow::Result<Store> {
    Store::open(ctx, r, &OpenOptions { concurrency }).map_err(cli_err)
}

/// Runs `f` with a bar showing `p`, then prints the notes it recorded.
fn with_bar<T>(g: &GlobalArgs, p: &Progress, f: impl FnOnce() -> T) -> T {
    let r = progress::watch(p, f);
    print_notes(g, p);
    r
}

// ---------------------------------------------------------------------------------------
// download --source zarr
// ---------------------------------------------------------------------------------------

pub fn download(a: &DownloadArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    if a.output.is_none() && !a.dry_run {
        return Err(usage("--output/-o is required for actual downloads"));
    }
    if a.memory_mb < 256 {
        return Err(usage(
            "--memory-mb must be at least 256 for a Zarr download (one block of 256x256 pixels and its tiles)",
        ));
    }
    let compression: Compression = a
        .compress
        .parse()
        .map_err(|e: tessera_formats::geotiff::codec::BadCompression| usage(e.to_string()))?;
    let region = crate::commands::countries::resolve_region(&a.region, g)?;
    let bbox = region.bounds();
    let ctx = crate::commands::common::context(g)?;
    let sref = store_ref(&ctx, a.store_url.as_deref(), &a.dataset, g)?;
    if let Some(out) = &a.output {
        check_output_dir(&sref, out).map_err(cli_err)?;
    }
    if let Some(out) = &a.output
        && !a.dry_run
    {
        crate::commands::common::prepare_output(out)?;
    }
    let store = open(&ctx, sref, a.jobs.clamp(1, 256) * 2)?;
    let location = store.url().to_string();
    let ds = store.dataset().cloned();
    let nb = a.depth.unwrap_or_else(|| store.n_bands());
    let bands = a
        .bands
        .as_deref()
        .map(|b| tessera_client::export::parse_bands(b, nb))
        .transpose()
        .map_err(|e| {
            usage(
                e.to_string()
                    .replace("comma-separated integers", "zero-based indices"),
            )
        })?;
    let opts = ExportOptions {
        bands,
        depth: a.depth,
        compression,
        memory_mb: a.memory_mb,
    };
    let plan = store.export_plan(&bbox, a.year, &opts).map_err(cli_err)?;
    if a.dry_run {
        let bytes: u64 = plan.iter().map(|z| z.uncompressed_bytes).sum();
        if a.json {
            println!(
                "{}",
                json!({"dry_run": true, "source": "zarr", "country": region.country_name(), "store": location, "files": plan.len(),
                       "bytes": bytes, "year": a.year,
                       "zones": plan.iter().map(|z| json!({"zone": z.zone, "width": z.width, "height": z.height})).collect::<Vec<_>>()})
            );
        } else {
            println!(
                "Zarr export: {} UTM zone file(s), {} uncompressed output",
                plan.len(),
                human(bytes)
            );
            for z in &plan {
                println!("  utm{:02}: {} x {} pixels", z.zone, z.width, z.height);
            }
        }
        return Ok(());
    }
    let out = a.output.clone().expect("checked");
    let label = ds.as_ref().map_or_else(|| location.clone(), dataset_label);
    if !a.json {
        crate::commands::common::print_settings(
            g,
            &label,
            a.year,
            &region.label,
            &out,
            &format!(
                "{} UTM zone GeoTIFF(s) streamed from {location}, {}",
                plan.len(),
                a.compress
            ),
        );
    }
    let start = Instant::now();
    let p = Progress::new();
    let rep = with_bar(g, &p, || {
        store.export_geotiffs(&bbox, a.year, &out, &opts, &p)
    })
    .map_err(cli_err)?;
    let secs = start.elapsed().as_secs_f64();
    let (req, bytes) = store.io();
    if a.json {
        println!(
            "{}",
            json!({"source": "zarr", "country": region.country_name(), "store": location, "kept": rep.kept, "resumed": rep.resumed, "dataset": ds.as_ref().map(dataset_label), "year": a.year, "seconds": secs,
                   "requests": req, "bytes_fetched": bytes,
                   "files": rep.files.iter().map(|f| json!({"path": f.path, "bytes": f.bytes, "zone": f.zone,
                        "width": f.width, "height": f.height})).collect::<Vec<_>>()})
        );
    } else {
        println!(
            "SUCCESS: Exported {} UTM zone file(s){} of {} {} to {} in {:.1} s ({} requests, {} fetched)",
            rep.files.len(),
            match (rep.kept, rep.resumed) {
                (0, 0) => String::new(),
                (k, 0) => format!(" ({k} complete from an earlier run, kept)"),
                (0, r) => format!(" ({r} continued where an earlier run stopped)"),
                (k, r) => format!(
                    " ({k} complete from an earlier run, kept; {r} continued where it stopped)"
                ),
            },
            label,
            a.year,
            out.display(),
            secs,
            req,
            human(bytes)
        );
        for f in rep.files.iter().filter(|_| !g.quiet) {
            println!(
                "  {} ({} x {} pixels, {})",
                f.path.display(),
                f.width,
                f.height,
                human(f.bytes)
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// sample --source zarr
// ---------------------------------------------------------------------------------------

pub fn sample(a: &SampleArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    if a.tiles.is_some() {
        return Err(usage(
            "--tiles applies to --source tiles; use --store for Zarr",
        ));
    }
    let crs = crate::commands::learn::points_crs(a.crs.as_deref())?;
    let table = read_points_in(&a.points, crs).map_err(cli_err)?;
    let out_dir = a
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::commands::common::prepare_output(out_dir)?;
    let ctx = crate::commands::common::context(g)?;
    let sref = store_ref(&ctx, a.store.as_deref(), &a.dataset, g)?;
    let store = open(&ctx, sref, a.jobs.clamp(1, 256))?;
    let location = store.url().to_string();
    if a.search_px > 64 {
        return Err(usage(format!(
            "--search-px {} is too large: at most 64 pixels (640 m); the reference uses 1",
            a.search_px
        )));
    }
    let opts = PointOptions {
        search_px: a.search_px,
        cross_zone: true,
        depth: a.depth,
    };
    let start = Instant::now();
    let pts: Vec<(f64, f64)> = table
        .lon
        .iter()
        .copied()
        .zip(table.lat.iter().copied())
        .collect();
    let p = Progress::new();
    let got = with_bar(g, &p, || store.sample_points(&pts, a.year, &opts, &p)).map_err(cli_err)?;
    let meta: Vec<PointMeta> = (0..got.len())
        .map(|i| PointMeta {
            tile: None,
            row: got.zone[i].map(|_| got.row[i] as i64),
            col: got.zone[i].map(|_| got.col[i] as i64),
            crs: got.zone[i].and_then(|z| tessera_core::Crs::from_epsg(32600 + u32::from(z)).ok()),
            status: got.status[i].name(),
        })
        .collect();
    write_samples(
        &a.output,
        &table,
        &got.values,
        got.bands,
        a.metadata.then_some(meta.as_slice()),
    )
    .map_err(cli_err)?;
    let secs = start.elapsed().as_secs_f64();
    let (req, bytes) = store.io();
    let counts = got.counts();
    let valid = got.valid();
    if a.json {
        println!(
            "{}",
            json!({"points": table.len(), "sampled": valid, "statuses": counts, "bands": got.bands,
                   "store": location, "requests": req, "bytes_fetched": bytes, "seconds": secs,
                   "output": a.output})
        );
    } else {
        println!(
            "Sampled {valid} of {} points of {} {} from {location} into {} in {:.2} s ({req} requests, {})",
            table.len(),
            store
                .dataset()
                .map_or_else(|| "the store".to_string(), dataset_label),
            a.year,
            a.output.display(),
            secs,
            human(bytes)
        );
        let others: Vec<String> = counts
            .iter()
            .filter(|(k, _)| **k != "valid")
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        if !others.is_empty() && !g.quiet {
            println!("Without embedding (NaN rows): {}", others.join(", "));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// info --store
// ---------------------------------------------------------------------------------------

pub fn info(a: &InfoArgs, g: &GlobalArgs, location: &str) -> anyhow::Result<()> {
    let ctx = crate::commands::common::context(g)?;
    let store = open(&ctx, StoreRef::from_url(location), 4)?;
    let zones = serde_json::to_value(store.zone_summaries()).unwrap_or_default();
    let geoemb = store.attributes();
    if a.json {
        println!(
            "{}",
            json!({"store": location, "years": store.years(), "zones": zones, "attributes": geoemb})
        );
        return Ok(());
    }
    println!("Store:        {location}");
    println!("Years:        {:?}", store.years());
    let clean = tessera_client::mirror::sanitize;
    let model = store.model();
    println!(
        "Model:        {}",
        clean(if model.is_empty() { "?" } else { &model })
    );
    println!("Build:        {}", clean(&store.build_version()));
    println!(
        "Landmask:     {}",
        if store.landmask() {
            "yes (water has NaN scales)"
        } else {
            "no (every tile pixel is data)"
        }
    );
    println!("Zones:        {}", store.zones().len());
    for z in zones.as_array().into_iter().flatten() {
        println!(
            "  {} {}  {} x {} px  {} x {} shards  origin ({}, {})",
            z["group"].as_str().unwrap_or(""),
            z["crs"].as_str().unwrap_or(""),
            z["shape"][0],
            z["shape"][1],
            z["shards"][0],
            z["shards"][1],
            z["transform"][2],
            z["transform"][5]
        );
    }
    if g.verbose {
        println!("Attributes:");
        println!(
            "{}",
            serde_json::to_string_pretty(&geoemb).unwrap_or_default()
        );
    }
    Ok(())
}
