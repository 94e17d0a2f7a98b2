//! `tessera sample`: embeddings at points, from local tiles or by range reads.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tessera_client::MirrorRoot;
use tessera_client::download::{DownloadItem, DownloadOptions, DownloadProgress, download_all};
use tessera_client::export::check_dataset_dir;
use tessera_client::local::{EmbeddingTile, npy_paths};
use tessera_client::points::{read_points, write_samples};
use tessera_client::sample::{Samples, covered_tiles, group_by_tile, sample_remote, sample_with};
use tessera_core::TileId;
use tessera_core::dataset::keys;

use crate::cli::{GlobalArgs, SampleArgs};
use crate::commands::common::{cli_err, dataset, human, mirror, registry_with, runtime};
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
    let table = read_points(&a.points).map_err(cli_err)?;
    let ds = dataset(&a.dataset)?;
    if let Some(d) = &a.tiles {
        if !a.offline {
            crate::commands::common::prepare_output(d)?;
        }
        check_dataset_dir(d, &ds).map_err(cli_err)?;
    }
    let out_dir = a
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    crate::commands::common::prepare_output(out_dir)?;
    let m = mirror(g)?;
    let rt = runtime()?;
    let offline = a.offline && a.tiles.is_some();
    let reg = registry_with(&rt, &m, &ds, g, None, offline)?;
    let start = Instant::now();
    let (lon, lat) = (&table.lon, &table.lat);
    let samples: Samples = match (&a.tiles, &m.root) {
        (Some(dir), _) => {
            let covered = covered_tiles(&reg, lon, lat, a.year).map_err(cli_err)?;
            let needed: Vec<TileId> = group_by_tile(lon, lat)
                .map_err(cli_err)?
                .into_iter()
                .map(|(t, _)| t)
                .filter(|t| covered.contains_key(t))
                .collect();
            let missing: Vec<TileId> = needed
                .iter()
                .copied()
                .filter(|t| {
                    let (e, s, l) = npy_paths(dir, a.year, *t);
                    !(e.is_file() && s.is_file() && l.is_file())
                })
                .collect();
            if !missing.is_empty() {
                if a.offline {
                    let names: Vec<String> = missing.iter().take(5).map(|t| t.name()).collect();
                    return Err(anyhow::anyhow!(
                        "{} tiles are missing from {} ({}{}); populate it with 'tessera download --tile LON,LAT --year {} --format npy -o {}' or drop --offline",
                        missing.len(),
                        dir.display(),
                        names.join(", "),
                        if missing.len() > 5 { ", ..." } else { "" },
                        a.year,
                        dir.display()
                    ));
                }
                let mut items = Vec::new();
                for t in &missing {
                    let e = &covered[t];
                    let (ep, sp, lp) = npy_paths(dir, a.year, *t);
                    items.push(DownloadItem {
                        key: keys::embedding(&reg.npy_dir, a.year, *t),
                        dest: ep,
                        size: Some(e.grid_size as u64),
                    });
                    items.push(DownloadItem {
                        key: keys::scales(&reg.npy_dir, a.year, *t),
                        dest: sp,
                        size: e.scales_size.map(|s| s as u64),
                    });
                    let lsize = reg
                        .landmasks
                        .as_ref()
                        .and_then(|l| l.get(t))
                        .map(|&s| s as u64);
                    items.push(DownloadItem {
                        key: keys::landmask(ds.landmask_dir(), *t),
                        dest: lp,
                        size: lsize,
                    });
                }
                let report = rt.block_on(download_all(
                    &m,
                    dir,
                    items,
                    DownloadOptions {
                        jobs: 8,
                        ..Default::default()
                    },
                    Arc::new(DownloadProgress::default()),
                ));
                if let Some((i, e)) = report.failed().first() {
                    return Err(anyhow::anyhow!(
                        "could not download {} ({e}); rerun to resume",
                        i.key
                    ));
                }
            }
            let set: HashSet<TileId> = covered.keys().copied().collect();
            sample_with(lon, lat, &set, |t| {
                let (e, s, l) = npy_paths(dir, a.year, t);
                EmbeddingTile::open(t, a.year, &e, &s, Some(&l)).map(Some)
            })
            .map_err(cli_err)?
        }
        (None, MirrorRoot::Local(root)) => {
            let covered = covered_tiles(&reg, lon, lat, a.year).map_err(cli_err)?;
            let set: HashSet<TileId> = covered.keys().copied().collect();
            let root = root.clone();
            sample_with(lon, lat, &set, |t| {
                let e = root.join(keys::embedding(&reg.npy_dir, a.year, t));
                let s = root.join(keys::scales(&reg.npy_dir, a.year, t));
                let l = root.join(keys::landmask(ds.landmask_dir(), t));
                EmbeddingTile::open(t, a.year, &e, &s, l.is_file().then_some(l.as_path())).map(Some)
            })
            .map_err(cli_err)?
        }
        (None, MirrorRoot::Http(_)) => rt
            .block_on(sample_remote(&m, &reg, a.year, lon, lat, a.jobs))
            .map_err(cli_err)?,
    };
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
            json!({"dataset": crate::commands::common::dataset_label(&ds), "points": table.len(), "sampled": samples.covered, "no_coverage": samples.uncovered,
                   "out_of_bounds": samples.out_of_bounds, "tiles": samples.tiles, "bands": samples.bands,
                   "bytes_fetched": samples.bytes_fetched, "requests": samples.requests, "seconds": secs, "output": a.output})
        );
    } else {
        println!(
            "Sampled {} of {} points of {} {} from {} tiles into {} in {:.2} s",
            samples.covered,
            table.len(),
            crate::commands::common::dataset_label(&ds),
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
    if samples.uncovered > 0 {
        eprintln!(
            "warning: {} points fall in tiles without coverage for {} (their rows are NaN)",
            samples.uncovered, a.year
        );
    }
    if samples.out_of_bounds > 0 {
        eprintln!(
            "warning: {} points fall outside their tile's raster (their rows are NaN)",
            samples.out_of_bounds
        );
    }
    Ok(())
}
