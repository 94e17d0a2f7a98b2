//! `tessera zarr build` and `tessera zarr verify`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use tessera_api::Progress;
use tessera_api::store::StoreRef;
use tessera_api::store::build::{BuildReport, BuildRequest, build_mirror_store};

use crate::cli::{GlobalArgs, ZarrBuildArgs, ZarrVerifyArgs};
use crate::commands::common::{cli_err, dataset, human};
use crate::exit::usage;

pub(super) fn build(a: &ZarrBuildArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    if a.task_count == 0 || a.task_index >= a.task_count {
        return Err(usage(format!(
            "--task-index {} must be below --task-count {}",
            a.task_index, a.task_count
        )));
    }
    if let Some(z) = a
        .zones
        .as_ref()
        .and_then(|z| z.iter().find(|&&z| !(1..=60).contains(&z)))
    {
        return Err(usage(format!("--zones: {z} is not a UTM zone (1-60)")));
    }
    if a.memory_mb < 64 {
        return Err(usage("--memory-mb must be at least 64"));
    }
    let ds = dataset(&a.dataset)?;
    ds.npy_dir().map_err(|e| usage(e.to_string()))?;
    let ctx = crate::commands::common::context(g)?;
    let out = &a.output;
    crate::commands::common::prepare_output(out)?;
    let req = BuildRequest {
        dataset: ds,
        output: out.clone(),
        years: a.years.clone(),
        zones: a.zones.clone(),
        memory_mb: a.memory_mb,
        jobs: a.jobs,
        task_index: a.task_index,
        task_count: a.task_count,
        use_landmask: !a.no_landmask,
        chunk_crc: !a.no_chunk_crc,
        work_dir: a.work_dir.clone(),
    };
    let p = Progress::new();
    let got = super::with_bar(g, &p, || tessera_api::store::build::build(&ctx, &req, &p))
        .map_err(cli_err)?;
    let (plan, rep) = (&got.plan, &got.report);
    for w in &rep.warnings {
        eprintln!("warning: {}", tessera_client::mirror::sanitize(w));
    }
    let mbps = rep.bytes_in as f64 / 1e6 / rep.seconds.max(1e-9);
    if a.json {
        println!(
            "{}",
            json!({"store": out, "zones": plan.grids.keys().collect::<Vec<_>>(), "years": plan.years,
                   "shards_all": rep.units_all, "shards_task": rep.units_task, "written": rep.written,
                   "skipped": rep.skipped, "bytes_in": rep.bytes_in, "bytes_out": rep.bytes_out,
                   "seconds": rep.seconds, "mb_per_s": mbps, "task_index": a.task_index,
                   "task_count": a.task_count, "warnings": rep.warnings})
        );
    } else if !g.quiet {
        println!(
            "Store {}: {} zone(s), years {:?}; task {}/{}: {} of {} shards written, {} already complete",
            out.display(),
            plan.grids.len(),
            plan.years,
            a.task_index,
            a.task_count,
            rep.written,
            rep.units_task,
            rep.skipped
        );
        println!(
            "Read {} of tiles, wrote {} in {:.1} s ({:.0} MB/s of input)",
            human(rep.bytes_in),
            human(rep.bytes_out),
            rep.seconds,
            mbps
        );
    }
    Ok(())
}

/// Builds the Zarr store of the NPY dataset directory `dir` of a local mirror at `root`
/// (`zarr/v1.1` for `v1.1-cam`, ...).
pub fn build_synth_store(root: &Path, dir: &str) -> anyhow::Result<(PathBuf, BuildReport)> {
    build_mirror_store(root, dir).map_err(cli_err)
}

pub(super) fn verify(a: &ZarrVerifyArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let ds = dataset(&a.dataset)?;
    ds.npy_dir().map_err(|e| usage(e.to_string()))?;
    let ctx = crate::commands::common::context(g)?;
    if a.tiles_dir.is_none() && !matches!(ctx.mirror.root, tessera_client::MirrorRoot::Local(_)) {
        return Err(usage(
            "verification reads the source tiles from disk: use a local --mirror or --tiles-dir",
        ));
    }
    let store = super::open(&ctx, StoreRef::from_url(&a.store), 16)?;
    let start = Instant::now();
    let p = Progress::new();
    let rep =
        tessera_api::store::build::verify(&ctx, &store, &ds, a.tiles_dir.as_deref(), a.every, &p)
            .map_err(cli_err)?;
    crate::commands::common::print_notes(g, &p);
    if a.json {
        println!(
            "{}",
            json!({"ok": rep.ok(), "tiles": rep.tiles, "pixels": rep.pixels, "unwritten": rep.unwritten,
                   "emb_mismatch": rep.emb_mismatch, "scale_mismatch": rep.scale_mismatch,
                   "examples": rep.examples, "seconds": start.elapsed().as_secs_f64()})
        );
    } else {
        println!(
            "Verified {} tile-years ({} pixels) of {} in {:.1} s: {}",
            rep.tiles,
            rep.pixels,
            a.store,
            start.elapsed().as_secs_f64(),
            if rep.ok() {
                "identical to the tiles"
            } else {
                "DIFFERENCES"
            }
        );
        if rep.unwritten > 0 {
            println!("{} tile-years lie in shards not written yet", rep.unwritten);
        }
        for e in &rep.examples {
            println!("  {e}");
        }
    }
    if rep.ok() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "{} pixels with other int8 values, {} with other scales",
            rep.emb_mismatch,
            rep.scale_mismatch
        ))
    }
}
