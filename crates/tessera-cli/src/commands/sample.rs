//! `tessera sample`: embeddings at points, from local tiles or by range reads.

use std::time::Instant;

use serde_json::json;
use tessera_api::Progress;
use tessera_api::tiles::{
    DatasetOptions, SampleSource, TileDataset, prepare_tiles_dir, read_points_in, write_samples,
};

use crate::cli::{GlobalArgs, SampleArgs};
use crate::commands::common::{
    cli_err, context, dataset_label, dataset_options, human, print_notes, remember_created,
};
use crate::commands::progress;
use crate::exit::usage;

pub fn run(a: &SampleArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let ext = a
        .output
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !["csv", "parquet", "geoparquet", "pq", "npy"].contains(&ext.as_str()) {
        return Err(usage(format!(
            "{}: the output must be .csv, .parquet or .npy",
            a.output.display()
        )));
    }
    match a.source.as_str() {
        "tiles" => {}
        "zarr" => return crate::commands::zarr::sample(a, g),
        other => {
            return Err(usage(format!(
                "--source must be tiles or zarr, got '{other}'"
            )));
        }
    }
    let crs = crate::commands::learn::points_crs(a.crs.as_deref())?;
    let table = read_points_in(&a.points, crs).map_err(cli_err)?;
    let opts = dataset_options(&a.dataset, None);
    let ds = opts.dataset().map_err(cli_err)?;
    if let Some(d) = &a.tiles {
        remember_created(prepare_tiles_dir(d, &ds, a.offline).map_err(cli_err)?);
    }
    let out_dir = a
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    crate::commands::common::prepare_output(out_dir)?;
    let ctx = context(g)?;
    let p = Progress::new();
    let opened = TileDataset::open(
        &ctx,
        &DatasetOptions {
            offline: a.offline && a.tiles.is_some(),
            ..opts
        },
        &p,
    );
    print_notes(g, &p);
    let reader = opened.map_err(cli_err)?;
    let start = Instant::now();
    let source = match &a.tiles {
        Some(dir) => SampleSource::TilesDir {
            dir: dir.clone(),
            offline: a.offline,
        },
        None => SampleSource::Mirror { jobs: a.jobs },
    };
    let sampled = progress::watch(&p, || {
        reader.sample_points(&table.lon, &table.lat, a.year, &source, &p)
    });
    let warnings = p.take_notes();
    let samples = sampled.map_err(cli_err)?;
    write_samples(
        &a.output,
        &table,
        &samples.values,
        samples.bands,
        a.metadata.then_some(samples.meta.as_slice()),
    )
    .map_err(cli_err)?;
    let secs = start.elapsed().as_secs_f64();
    if a.json {
        println!(
            "{}",
            json!({"dataset": dataset_label(&ds), "points": table.len(), "sampled": samples.covered, "no_coverage": samples.uncovered,
                   "out_of_bounds": samples.out_of_bounds, "tiles": samples.tiles, "bands": samples.bands,
                   "bytes_fetched": samples.bytes_fetched, "requests": samples.requests, "seconds": secs, "output": a.output})
        );
    } else {
        println!(
            "Sampled {} of {} points of {} {} from {} tiles into {} in {:.2} s",
            samples.covered,
            table.len(),
            dataset_label(&ds),
            a.year,
            samples.tiles,
            a.output.display(),
            secs
        );
        if samples.requests > 0 && !g.quiet {
            println!(
                "Read {} in {} range requests (no tile downloaded)",
                human(samples.bytes_fetched),
                samples.requests
            );
        }
    }
    for n in warnings {
        match n.level {
            tessera_api::Level::Warning => eprintln!("warning: {}", n.text),
            tessera_api::Level::Note if !g.quiet => eprintln!("{}", n.text),
            tessera_api::Level::Note => {}
        }
    }
    Ok(())
}
