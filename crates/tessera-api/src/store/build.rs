//! Building a store from a dataset's NPY tiles (`tessera zarr build`) and checking one
//! against them (`tessera zarr verify`): the plan from the manifest (years, absent years,
//! the landmask grids), fetching the tiles of a remote mirror first, and the shard writing.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tessera_client::download::{DownloadItem, DownloadOptions, DownloadProgress, download_all};
use tessera_client::registry::{Registry, RegistrySource};
use tessera_client::zarr::build::{
    BuildOptions, BuildProgress, TileRoot, build_local, plan as plan_units, task_tiles, task_units,
};
use tessera_client::zarr::verify::verify_store;
use tessera_client::{ClientError, MirrorRoot, Result};
use tessera_core::dataset::keys;
use tessera_core::{DatasetRef, TileId};
use tessera_formats::manifest::ManifestQuery;

pub use tessera_client::zarr::build::{BuildReport, Plan};
pub use tessera_client::zarr::verify::VerifyReport;

use super::Store;
use crate::{Context, ContextOptions, Progress};

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    /// The dataset whose NPY tiles are read.
    pub dataset: DatasetRef,
    /// The store directory to write.
    pub output: PathBuf,
    /// Years on the time axis (every year of the manifest when `None`).
    pub years: Option<Vec<i32>>,
    /// Only the shards of these zones (every zone when `None`).
    pub zones: Option<Vec<u8>>,
    /// Memory budget in MiB for the shards in flight.
    pub memory_mb: u64,
    /// Shards written at once (the default: one per core).
    pub jobs: Option<usize>,
    /// This task's index, for a build split over `task_count` machines.
    pub task_index: usize,
    /// Tasks of the split build.
    pub task_count: usize,
    /// Mask water with the landmasks; they also size the zone grids.
    pub use_landmask: bool,
    /// Follow each inner chunk with its CRC32C.
    pub chunk_crc: bool,
    /// Where the tiles of a remote mirror are fetched to (default `<output>.build/tiles`).
    pub work_dir: Option<PathBuf>,
}

impl BuildRequest {
    /// A whole build of `dataset` into `output` with the default settings.
    pub fn new(dataset: DatasetRef, output: PathBuf) -> BuildRequest {
        let d = BuildOptions::default();
        BuildRequest {
            dataset,
            output,
            years: None,
            zones: None,
            memory_mb: d.memory_mb,
            jobs: None,
            task_index: 0,
            task_count: 1,
            use_landmask: true,
            chunk_crc: true,
            work_dir: None,
        }
    }
}

/// What a build did: its plan and its report.
#[derive(Clone, Debug)]
pub struct BuildOutcome {
    /// The plan (zone grids, years, shards).
    pub plan: Plan,
    /// The shard writing.
    pub report: BuildReport,
}

fn years_list(v: &[i32]) -> String {
    v.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// The plan of a build: the tile-years of the manifest with data, the years asked for
/// (the absent ones kept on the time axis, with a warning), and the zone grids sized by
/// the landmask registry (or by the tiles without landmasks).
pub fn plan(
    ctx: &Context,
    dataset: &DatasetRef,
    years: Option<&[i32]>,
    zones: Option<&[u8]>,
    use_landmask: bool,
    progress: &Progress,
) -> Result<Plan> {
    if let Some(z) = zones.and_then(|z| z.iter().find(|&&z| !(1..=60).contains(&z))) {
        return Err(ClientError::Usage(format!(
            "zone {z} is not a UTM zone (1-60)"
        )));
    }
    let src = RegistrySource {
        cache_dir: ctx.cache_dir.clone(),
        ..Default::default()
    };
    let rt = crate::runtime()?;
    let reg = rt.block_on(progress.token().or_cancel(Registry::open(
        &ctx.mirror,
        dataset,
        &src,
    )))??;
    for w in &reg.warnings {
        progress.warn(w.clone());
    }
    let all = reg.query(ManifestQuery {
        with_scales_size: true,
        ..Default::default()
    })?;
    let entries: Vec<(TileId, i32)> = all
        .entries
        .iter()
        .filter(|e| e.grid_size > 0 && e.scales_size.unwrap_or(1) > 0)
        .map(|e| (e.tile, e.year))
        .collect();
    if entries.is_empty() {
        return Err(ClientError::Usage(format!(
            "the manifest of {} {} lists no tiles",
            dataset.version.path, dataset.variant
        )));
    }
    let mut have: Vec<i32> = entries.iter().map(|e| e.1).collect();
    have.sort_unstable();
    have.dedup();
    let mut ys: Vec<i32> = years.map_or_else(|| have.clone(), <[i32]>::to_vec);
    ys.sort_unstable();
    ys.dedup();
    let absent: Vec<i32> = ys.iter().copied().filter(|y| !have.contains(y)).collect();
    if absent.len() == ys.len() {
        return Err(ClientError::Usage(format!(
            "--years {}: the manifest of {} {} has no tiles for these years (it has {})",
            years_list(&ys),
            dataset.version.path,
            dataset.variant,
            years_list(&have)
        )));
    }
    if !absent.is_empty() {
        progress.warn(format!(
            "no tiles for {} in the manifest; the time axis keeps them (fill value)",
            years_list(&absent)
        ));
    }
    let grid_tiles: Vec<TileId> = if use_landmask {
        let mut v: Vec<TileId> = reg
            .landmasks
            .as_ref()
            .ok_or_else(|| {
                ClientError::Usage("the landmask registry could not be loaded; it sizes the zone grids (or build with --no-landmask)".into())
            })?
            .keys()
            .copied()
            .collect();
        v.sort();
        v
    } else {
        let mut v: Vec<TileId> = entries.iter().map(|e| e.0).collect();
        v.sort();
        v.dedup();
        v
    };
    plan_units(&entries, &grid_tiles, &ys, zones)
}

/// Fetches (verified, resumable) the tiles of this task's shards from a remote mirror
/// into `work`.
fn fetch_tiles(
    ctx: &Context,
    req: &BuildRequest,
    p: &Plan,
    npy_dir: &str,
    work: &Path,
    progress: &Progress,
) -> Result<()> {
    let ds = &req.dataset;
    let units = task_units(p, req.task_index, req.task_count);
    let mut items = Vec::new();
    let mut landmasks = HashSet::new();
    for (t, y) in task_tiles(p, &units) {
        for key in [keys::embedding(npy_dir, y, t), keys::scales(npy_dir, y, t)] {
            items.push(DownloadItem {
                dest: work.join(&key),
                key,
                size: None,
            });
        }
        if req.use_landmask && landmasks.insert(t) {
            let key = keys::landmask(ds.landmask_dir(), t);
            items.push(DownloadItem {
                dest: work.join(&key),
                key,
                size: None,
            });
        }
    }
    progress.note(format!(
        "Fetching {} tile files into {}",
        items.len(),
        work.display()
    ));
    let rt = crate::runtime()?;
    let report = rt.block_on(progress.token().or_cancel(download_all(
        &ctx.mirror,
        work,
        items,
        DownloadOptions::default(),
        Arc::new(DownloadProgress::default()),
    )))?;
    if let Some((i, e)) = report
        .failed()
        .into_iter()
        .find(|(i, _)| !i.key.starts_with("landmasks/"))
    {
        return Err(ClientError::Format(format!(
            "could not download {} ({e}); rerun to resume",
            i.key
        )));
    }
    Ok(())
}

/// Builds (this task's part of) a store: the plan, the tiles (read in place from a local
/// mirror, fetched first from a remote one), then the shards, skipping those complete
/// from an earlier run. Progress counts shards; cancellable between shards.
pub fn build(ctx: &Context, req: &BuildRequest, progress: &Progress) -> Result<BuildOutcome> {
    if req.task_count == 0 || req.task_index >= req.task_count {
        return Err(ClientError::Usage(format!(
            "task index {} must be below the task count {}",
            req.task_index, req.task_count
        )));
    }
    let ds = &req.dataset;
    let npy_dir = ds.npy_dir()?;
    let p = plan(
        ctx,
        ds,
        req.years.as_deref(),
        req.zones.as_deref(),
        req.use_landmask,
        progress,
    )?;
    let mut opts = BuildOptions {
        years: req.years.clone(),
        zones: req.zones.clone(),
        memory_mb: req.memory_mb,
        task_index: req.task_index,
        task_count: req.task_count,
        use_landmask: req.use_landmask,
        model_version: ds.version.norm.clone(),
        chunk_crc: req.chunk_crc,
        cancel: progress.token().clone(),
        ..Default::default()
    };
    if let Some(j) = req.jobs {
        opts.jobs = j.max(1);
    }
    let out = &req.output;
    let root = match &ctx.mirror.root {
        MirrorRoot::Local(root) => root.clone(),
        MirrorRoot::Http(_) => {
            let work = req.work_dir.clone().unwrap_or_else(|| {
                let mut s = out.as_os_str().to_owned();
                s.push(".build");
                PathBuf::from(s).join("tiles")
            });
            fetch_tiles(ctx, req, &p, &npy_dir, &work, progress)?;
            work
        }
    };
    let src = TileRoot {
        root,
        npy_dir,
        landmask_dir: ds.landmask_dir().to_string(),
    };
    let counters = BuildProgress::default();
    progress.start_phase("shards", 0);
    let stop = AtomicBool::new(false);
    let report = std::thread::scope(|s| {
        let (c, st) = (&counters, &stop);
        s.spawn(move || {
            while !st.load(Ordering::Relaxed) {
                progress.set_total(c.units_total.load(Ordering::Relaxed) as u64);
                progress.set_done(c.units_done.load(Ordering::Relaxed) as u64);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let r = build_local(out, &src, &p, &opts, &counters);
        stop.store(true, Ordering::Relaxed);
        r
    })?;
    progress.set_total(counters.units_total.load(Ordering::Relaxed) as u64);
    progress.set_done(counters.units_done.load(Ordering::Relaxed) as u64);
    Ok(BuildOutcome { plan: p, report })
}

/// Builds the store of the NPY dataset directory `dir` of a local mirror at `root`
/// (`zarr/v1.1` for `v1.1-cam`, ...) with the default settings.
pub fn build_mirror_store(root: &Path, dir: &str) -> Result<(PathBuf, BuildReport)> {
    let (version, variant) = tessera_core::dataset::dataset_from_dir(dir)
        .ok_or_else(|| ClientError::Usage(format!("unknown dataset directory '{dir}'")))?;
    let ds = DatasetRef::resolve(&version, Some(&variant), false)?;
    let zdir = ds
        .dataset()
        .and_then(|d| d.zarr)
        .map(str::to_string)
        .unwrap_or_else(|| dir.to_string());
    let ctx = Context::open(ContextOptions {
        mirror: Some(root.display().to_string()),
        ..Default::default()
    })?;
    let out = root.join(keys::zarr_store(&zdir));
    let req = BuildRequest::new(ds, out.clone());
    let got = build(&ctx, &req, &Progress::new())?;
    Ok((out, got.report))
}

/// Compares a store with the NPY tiles it was built from: every `every`-th tile-year,
/// pixel by pixel. The tiles are read from `tiles_dir`, else from the context's mirror,
/// which must then be local. The zone grids must be those the tiles give.
pub fn verify(
    ctx: &Context,
    store: &Store,
    dataset: &DatasetRef,
    tiles_dir: Option<&Path>,
    every: usize,
    progress: &Progress,
) -> Result<VerifyReport> {
    let npy_dir = dataset.npy_dir()?;
    let root = match (tiles_dir, &ctx.mirror.root) {
        (Some(d), _) => d.to_path_buf(),
        (None, MirrorRoot::Local(r)) => r.clone(),
        (None, MirrorRoot::Http(_)) => {
            return Err(ClientError::Usage(
                "verification reads the source tiles from disk: use a local --mirror or --tiles-dir".into(),
            ));
        }
    };
    let use_landmask = store.landmask();
    let years = store.years();
    let p = plan(ctx, dataset, Some(&years), None, use_landmask, progress)?;
    for (z, grid) in &p.grids {
        match store.inner.zone(*z) {
            Some(zone) if zone.grid == *grid => {}
            Some(zone) => {
                return Err(ClientError::Format(format!(
                    "zone {z}: the store's grid {:?} differs from the one the tiles give {:?}",
                    zone.grid, grid
                )));
            }
            None => {
                return Err(ClientError::Format(format!(
                    "zone {z} is missing from the store"
                )));
            }
        }
    }
    let src = TileRoot {
        root,
        npy_dir,
        landmask_dir: dataset.landmask_dir().to_string(),
    };
    progress.start_phase("tiles", 0);
    store.run(
        progress,
        verify_store(&store.inner, &src, &p, every.max(1), use_landmask),
    )
}
