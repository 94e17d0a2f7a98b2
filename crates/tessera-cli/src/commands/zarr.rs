//! The Zarr commands: `zarr build|verify|read`, `download --source zarr`, `sample --source
//! zarr` and `info --store`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_client::MirrorRoot;
use tessera_client::download::{DownloadItem, DownloadOptions, DownloadProgress, download_all};
use tessera_client::export::{check_dataset_dir, dataset_tags, parse_bands, write_metadata};
use tessera_client::points::{PointMeta, read_points, write_samples};
use tessera_client::registry::cache_dir;
use tessera_client::zarr::build::{
    BuildOptions, BuildProgress, Plan, TileRoot, build_local, plan, task_tiles, task_units,
};
use tessera_client::zarr::export::{ExportProgress, ZoneExport, export_zones};
use tessera_client::zarr::points::SampleOptions;
use tessera_client::zarr::{Status, ZarrOptions, ZarrStore};
use tessera_core::dataset::{StoreLocation, keys, store_location};
use tessera_core::{DatasetRef, TileId};
use tessera_formats::geotiff::Compression;
use tessera_formats::manifest::ManifestQuery;

use crate::cli::{
    DatasetSelect, DownloadArgs, GlobalArgs, InfoArgs, SampleArgs, ZarrBuildArgs, ZarrCommand,
    ZarrReadArgs, ZarrVerifyArgs,
};
use crate::commands::common::{cli_err, dataset, human, mirror, registry, runtime};
use crate::commands::progress;
use crate::exit::usage;

pub fn run(c: ZarrCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    match c {
        ZarrCommand::Build(a) => build(&a, g),
        ZarrCommand::Verify(a) => verify(&a, g),
        ZarrCommand::Read(a) => read(&a, g),
    }
}

/// Whether `--source auto` streams from Zarr (it does in this build).
pub fn available() -> bool {
    true
}

fn zarr_options(g: &GlobalArgs, concurrency: usize) -> ZarrOptions {
    ZarrOptions {
        cache_dir: Some(cache_dir(g.cache_dir.as_deref())),
        concurrency,
        http: crate::commands::common::http_config(g),
        ..Default::default()
    }
}

/// The store to read: an explicit location, or the dataset's store under the mirror
/// (with the dataset, for tags and the sidecar).
fn resolve_store(
    explicit: Option<&str>,
    d: &DatasetSelect,
    g: &GlobalArgs,
) -> anyhow::Result<(String, Option<DatasetRef>)> {
    if let Some(s) = explicit {
        return Ok((s.to_string(), None));
    }
    let loc = store_location(&d.dataset_version, d.dataset_variant.as_deref())
        .map_err(|e| usage(e.to_string()))?;
    let dir = match loc {
        StoreLocation::ZarrDir(z) => z,
        StoreLocation::Icechunk(u) => {
            return Err(usage(format!(
                "this dataset is published as an Icechunk repository ({u}), which this build does not read; use its Zarr copy (e.g. --dataset-variant dclimate for v1.1) or pass a store URL"
            )));
        }
    };
    let m = mirror(g)?;
    let location = tessera_core::dataset::zarr_read_root(
        &m.root.locate(&keys::zarr_store(&dir)),
        g.via_gateway,
    );
    let ds = DatasetRef::resolve(&d.dataset_version, d.dataset_variant.as_deref(), false).ok();
    Ok((location, ds))
}

/// The start of the error for a store that is not there (see [`is_missing_store`]).
const NO_STORE: &str = "no Zarr store at";

/// True when `e` says the store does not exist (so `--source auto` can use the tiles).
pub fn is_missing_store(e: &anyhow::Error) -> bool {
    e.downcast_ref::<crate::exit::UsageError>()
        .is_some_and(|u| u.0.starts_with(NO_STORE))
}

fn open_store(
    rt: &tessera_client::Runtime,
    location: &str,
    opts: ZarrOptions,
) -> anyhow::Result<Arc<ZarrStore>> {
    let local = !location.contains("://");
    let missing = || {
        usage(format!(
            "{NO_STORE} {location} (no zarr.json there); pass the store with --store/--store-url, pick the dataset with --dataset-version/--dataset-variant, use --source tiles for NPY tiles, or build one with 'tessera zarr build'"
        ))
    };
    if local && !Path::new(location).join("zarr.json").is_file() {
        return Err(missing());
    }
    let s = rt
        .block_on(ZarrStore::open(location, opts))
        .map_err(|e| match e {
            tessera_client::ClientError::Usage(m) if m.starts_with(NO_STORE) => missing(),
            tessera_client::ClientError::Usage(m) => usage(m),
            tessera_client::ClientError::Format(m) => usage(m),
            other => cli_err(other),
        })?;
    Ok(Arc::new(s))
}

// ---------------------------------------------------------------------------------------
// build
// ---------------------------------------------------------------------------------------

fn build_plan(
    rt: &tessera_client::Runtime,
    m: &tessera_client::Mirror,
    ds: &DatasetRef,
    g: &GlobalArgs,
    years: Option<&[i32]>,
    zones: Option<&[u8]>,
    use_landmask: bool,
) -> anyhow::Result<Plan> {
    let reg = registry(rt, m, ds, g, None)?;
    let all = reg
        .query(ManifestQuery {
            with_scales_size: true,
            ..Default::default()
        })
        .map_err(cli_err)?;
    let entries: Vec<(TileId, i32)> = all
        .entries
        .iter()
        .filter(|e| e.grid_size > 0 && e.scales_size.unwrap_or(1) > 0)
        .map(|e| (e.tile, e.year))
        .collect();
    if entries.is_empty() {
        return Err(usage(format!(
            "the manifest of {} {} lists no tiles",
            ds.version.path, ds.variant
        )));
    }
    let mut ys: Vec<i32> = match years {
        Some(y) => y.to_vec(),
        None => entries.iter().map(|e| e.1).collect(),
    };
    ys.sort_unstable();
    ys.dedup();
    let mut have: Vec<i32> = entries.iter().map(|e| e.1).collect();
    have.sort_unstable();
    have.dedup();
    let list = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let absent: Vec<i32> = ys.iter().copied().filter(|y| !have.contains(y)).collect();
    if absent.len() == ys.len() {
        return Err(usage(format!(
            "--years {}: the manifest of {} {} has no tiles for these years (it has {})",
            list(&ys),
            ds.version.path,
            ds.variant,
            list(&have)
        )));
    }
    if !absent.is_empty() && !g.quiet {
        eprintln!(
            "warning: no tiles for {} in the manifest; the time axis keeps them (fill value)",
            list(&absent)
        );
    }
    let grid_tiles: Vec<TileId> = if use_landmask {
        let mut v: Vec<TileId> = reg
            .landmasks
            .as_ref()
            .ok_or_else(|| {
                usage("the landmask registry could not be loaded; it sizes the zone grids (or build with --no-landmask)")
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
    plan(&entries, &grid_tiles, &ys, zones).map_err(cli_err)
}

fn build(a: &ZarrBuildArgs, g: &GlobalArgs) -> anyhow::Result<()> {
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
    let npy_dir = ds.npy_dir().map_err(|e| usage(e.to_string()))?;
    let m = mirror(g)?;
    let rt = runtime()?;
    let p = build_plan(
        &rt,
        &m,
        &ds,
        g,
        a.years.as_deref(),
        a.zones.as_deref(),
        !a.no_landmask,
    )?;
    let mut opts = BuildOptions {
        years: a.years.clone(),
        zones: a.zones.clone(),
        memory_mb: a.memory_mb,
        task_index: a.task_index,
        task_count: a.task_count,
        use_landmask: !a.no_landmask,
        model_version: ds.version.norm.clone(),
        chunk_crc: !a.no_chunk_crc,
        ..Default::default()
    };
    if let Some(j) = a.jobs {
        opts.jobs = j.max(1);
    }
    let out = &a.output;
    std::fs::create_dir_all(out)
        .map_err(|e| usage(format!("cannot create {}: {e}", out.display())))?;
    crate::commands::common::prepare_output(out)?;
    // Tiles: read in place from a local mirror, else fetched (verified, resumable) first.
    let src_root = match &m.root {
        MirrorRoot::Local(root) => root.clone(),
        MirrorRoot::Http(_) => {
            let work = a.work_dir.clone().unwrap_or_else(|| {
                let mut s = out.as_os_str().to_owned();
                s.push(".build");
                PathBuf::from(s).join("tiles")
            });
            let units = task_units(&p, a.task_index, a.task_count);
            let mut items = Vec::new();
            let mut lm_done = std::collections::HashSet::new();
            for (t, y) in task_tiles(&p, &units) {
                for key in [
                    keys::embedding(&npy_dir, y, t),
                    keys::scales(&npy_dir, y, t),
                ] {
                    items.push(DownloadItem {
                        dest: work.join(&key),
                        key,
                        size: None,
                    });
                }
                if opts.use_landmask && lm_done.insert(t) {
                    let key = keys::landmask(ds.landmask_dir(), t);
                    items.push(DownloadItem {
                        dest: work.join(&key),
                        key,
                        size: None,
                    });
                }
            }
            if !g.quiet {
                eprintln!(
                    "Fetching {} tile files into {}",
                    items.len(),
                    work.display()
                );
            }
            let report = rt.block_on(download_all(
                &m,
                &work,
                items,
                DownloadOptions::default(),
                Arc::new(DownloadProgress::default()),
            ));
            if let Some((i, e)) = report
                .failed()
                .into_iter()
                .find(|(i, _)| !i.key.starts_with("landmasks/"))
            {
                return Err(anyhow::anyhow!(
                    "could not download {} ({e}); rerun to resume",
                    i.key
                ));
            }
            work
        }
    };
    let src = TileRoot {
        root: src_root,
        npy_dir,
        landmask_dir: ds.landmask_dir().to_string(),
    };
    let progress = BuildProgress::default();
    let bar = progress::items(0, "shards");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        let (pr, b, st) = (&progress, bar.clone(), &stop);
        s.spawn(move || {
            while !st.load(Ordering::Relaxed) {
                b.set_length(pr.units_total.load(Ordering::Relaxed) as u64);
                b.set_position(pr.units_done.load(Ordering::Relaxed) as u64);
                b.set_message(format!(
                    "{:.0} MB in",
                    pr.bytes_in.load(Ordering::Relaxed) as f64 / 1e6
                ));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = build_local(out, &src, &p, &opts, &progress);
        stop.store(true, Ordering::Relaxed);
        r
    });
    bar.finish_and_clear();
    let rep = result.map_err(cli_err)?;
    for w in &rep.warnings {
        eprintln!("warning: {}", tessera_client::mirror::sanitize(w));
    }
    let mbps = rep.bytes_in as f64 / 1e6 / rep.seconds.max(1e-9);
    if a.json {
        println!(
            "{}",
            json!({"store": out, "zones": p.grids.keys().collect::<Vec<_>>(), "years": p.years,
                   "shards_all": rep.units_all, "shards_task": rep.units_task, "written": rep.written,
                   "skipped": rep.skipped, "bytes_in": rep.bytes_in, "bytes_out": rep.bytes_out,
                   "seconds": rep.seconds, "mb_per_s": mbps, "task_index": a.task_index,
                   "task_count": a.task_count, "warnings": rep.warnings})
        );
    } else if !g.quiet {
        println!(
            "Store {}: {} zone(s), years {:?}; task {}/{}: {} of {} shards written, {} already complete",
            out.display(),
            p.grids.len(),
            p.years,
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
pub fn build_synth_store(
    root: &Path,
    dir: &str,
) -> anyhow::Result<(PathBuf, tessera_client::zarr::build::BuildReport)> {
    let (version, variant) = tessera_core::dataset::dataset_from_dir(dir)
        .ok_or_else(|| usage(format!("unknown dataset directory '{dir}'")))?;
    let ds =
        DatasetRef::resolve(&version, Some(&variant), false).map_err(|e| usage(e.to_string()))?;
    let zdir = ds
        .dataset()
        .and_then(|d| d.zarr)
        .map(str::to_string)
        .unwrap_or_else(|| dir.to_string());
    let g = GlobalArgs {
        mirror: Some(root.display().to_string()),
        cache_dir: None,
        verbose: false,
        quiet: true,
        stall_timeout: 30,
        deadline: None,
        follow_redirects: false,
        via_gateway: false,
        silent: true,
    };
    let m = mirror(&g)?;
    let rt = runtime()?;
    let p = build_plan(&rt, &m, &ds, &g, None, None, true)?;
    let out = root.join(keys::zarr_store(&zdir));
    let src = TileRoot {
        root: root.to_path_buf(),
        npy_dir: dir.to_string(),
        landmask_dir: ds.landmask_dir().to_string(),
    };
    let opts = BuildOptions {
        model_version: ds.version.norm.clone(),
        ..Default::default()
    };
    let rep = build_local(&out, &src, &p, &opts, &BuildProgress::default()).map_err(cli_err)?;
    Ok((out, rep))
}

// ---------------------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------------------

fn verify(a: &ZarrVerifyArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let ds = dataset(&a.dataset)?;
    let npy_dir = ds.npy_dir().map_err(|e| usage(e.to_string()))?;
    let m = mirror(g)?;
    let root = match (&a.tiles_dir, &m.root) {
        (Some(d), _) => d.clone(),
        (None, MirrorRoot::Local(r)) => r.clone(),
        (None, MirrorRoot::Http(_)) => {
            return Err(usage(
                "verification reads the source tiles from disk: use a local --mirror or --tiles-dir",
            ));
        }
    };
    let rt = runtime()?;
    let store = open_store(&rt, &a.store, zarr_options(g, 16))?;
    let use_landmask = store.root_attrs["geoemb:landmask"].as_bool() != Some(false);
    let years = store.years().to_vec();
    let p = build_plan(&rt, &m, &ds, g, Some(&years), None, use_landmask)?;
    for (z, grid) in &p.grids {
        match store.zone(*z) {
            Some(zone) if zone.grid == *grid => {}
            Some(zone) => {
                return Err(anyhow::anyhow!(
                    "zone {z}: the store's grid {:?} differs from the one the tiles give {:?}",
                    zone.grid,
                    grid
                ));
            }
            None => return Err(anyhow::anyhow!("zone {z} is missing from the store")),
        }
    }
    let src = TileRoot {
        root,
        npy_dir,
        landmask_dir: ds.landmask_dir().to_string(),
    };
    let start = Instant::now();
    let rep = rt
        .block_on(tessera_client::zarr::verify::verify_store(
            &store,
            &src,
            &p,
            a.every.max(1),
            use_landmask,
        ))
        .map_err(cli_err)?;
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

// ---------------------------------------------------------------------------------------
// read
// ---------------------------------------------------------------------------------------

fn read(a: &ZarrReadArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let is_npy = a
        .output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if !is_npy {
        return Err(usage(format!(
            "{}: zarr read writes NPY arrays; name the output OUT.npy (for GeoTIFFs use 'tessera download --source zarr')",
            a.output.display()
        )));
    }
    let out_dir = a
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::commands::common::prepare_output(out_dir)?;
    let rt = runtime()?;
    let start = Instant::now();
    let store = open_store(&rt, &a.store, zarr_options(g, 16))?;
    let parts: Vec<(
        tessera_client::zarr::RegionWindow,
        tessera_client::zarr::Block,
    )> = match (&a.bbox, &a.window) {
        (Some(b), None) => {
            let bb = tessera_core::parse_bbox(b)
                .map_err(|e| usage(e.to_string()))?
                .bounds();
            rt.block_on(store.read_regions(&bb, a.year, a.depth))
                .map_err(cli_err)?
        }
        (None, Some(w)) => {
            let v: Vec<u64> = w
                .split(':')
                .map(|p| p.trim().parse::<u64>())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    usage(format!(
                        "--window '{w}': expected ZONE:ROW:COL:HEIGHT:WIDTH"
                    ))
                })?;
            let [z, r, c, h, wd] = v[..] else {
                return Err(usage(format!(
                    "--window '{w}': expected ZONE:ROW:COL:HEIGHT:WIDTH"
                )));
            };
            let z = u8::try_from(z).map_err(|_| usage("--window: bad zone"))?;
            if h == 0 || wd == 0 {
                return Err(usage(format!(
                    "--window '{w}': HEIGHT and WIDTH must be at least 1"
                )));
            }
            if r.checked_add(h).is_none() || c.checked_add(wd).is_none() {
                return Err(usage(format!(
                    "--window '{w}': ROW + HEIGHT and COL + WIDTH must stay within the zone grid"
                )));
            }
            let t = rt.block_on(store.time_index(z, a.year)).map_err(cli_err)?;
            let b = rt
                .block_on(store.read_block(z, t, r..r + h, c..c + wd, a.depth))
                .map_err(cli_err)?;
            let win = tessera_client::zarr::RegionWindow {
                zone: z,
                x0: c,
                x1: c + wd,
                y0: r,
                y1: r + h,
            };
            vec![(win, b)]
        }
        _ => return Err(usage("give exactly one of --bbox and --window")),
    };
    let fmt = |e: tessera_formats::npy::NpyError| anyhow::anyhow!(e.to_string());
    let read_secs = start.elapsed().as_secs_f64();
    let several = parts.len() > 1;
    let mut results = Vec::new();
    for (w, block) in &parts {
        // One array per zone: OUT.npy for one zone, OUT_utmNN.npy for several.
        let path = if several {
            zone_path(&a.output, w.zone)
        } else {
            a.output.clone()
        };
        let shape = [block.rows, block.cols, block.bands];
        let mut outputs = vec![path.clone()];
        if a.quantised {
            tessera_formats::npy::write_npy_file(&path, &shape, &block.emb).map_err(fmt)?;
            let sp = scales_path(&path);
            tessera_formats::npy::write_npy_file(&sp, &[block.rows, block.cols], &block.scales)
                .map_err(fmt)?;
            outputs.push(sp);
        } else {
            let mut v = Vec::new();
            block.dequantise(None, &mut v);
            tessera_formats::npy::write_npy_file(&path, &shape, &v).map_err(fmt)?;
        }
        let t = store.window_transform(w);
        let info = json!({"zone": w.zone, "crs": format!("EPSG:{}", 32600 + u32::from(w.zone)),
               "window": {"row": w.y0, "col": w.x0, "height": w.height(), "width": w.width()},
               "transform": t.to_array(), "bands": block.bands, "year": a.year,
               "dtype": if a.quantised { "int8" } else { "float32" },
               "layout": "(row, col, band), north up; transform: x = a*col + b*row + c, y = d*col + e*row + f (pixel corners)",
               "store": a.store, "model": store.model_version(), "outputs": outputs});
        // The georeference beside every array, so an NPY file is never without it.
        let side = path.with_extension("json");
        tessera_formats::atomic::write_atomic(&side, |f| {
            std::io::Write::write_all(
                f,
                serde_json::to_string_pretty(&info)
                    .unwrap_or_default()
                    .as_bytes(),
            )
        })
        .map_err(|e| anyhow::anyhow!("{}: {e}", side.display()))?;
        results.push((w, block.bands, path, side, info));
    }
    let (req, bytes) = store.stats.snapshot();
    if a.json {
        let v: Vec<&serde_json::Value> = results.iter().map(|r| &r.4).collect();
        let mut first = v[0].clone();
        first["requests"] = json!(req);
        first["bytes"] = json!(bytes);
        first["seconds_read"] = json!(read_secs);
        first["seconds"] = json!(start.elapsed().as_secs_f64());
        first["zones"] = json!(v);
        println!("{first}");
    } else {
        if several && !g.quiet {
            println!(
                "The region crosses {} UTM zones: one array per zone",
                results.len()
            );
        }
        for (w, bands, path, side, _) in results.iter().filter(|_| !g.quiet) {
            println!(
                "Read {}x{} pixels x {} bands of zone {} (rows {}.., cols {}..) into {} (georeference in {})",
                w.height(),
                w.width(),
                bands,
                w.zone,
                w.y0,
                w.x0,
                path.display(),
                side.display()
            );
        }
        println!(
            "Read {} zone array(s) of {} for {} into {} ({} requests, {} fetched)",
            results.len(),
            a.store,
            a.year,
            out_dir.display(),
            req,
            human(bytes)
        );
    }
    Ok(())
}

fn zone_path(p: &Path, zone: u8) -> PathBuf {
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!("{stem}_utm{zone:02}.npy"))
}

fn scales_path(p: &Path) -> PathBuf {
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!("{stem}_scales.npy"))
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
    let (location, ds) = resolve_store(a.store_url.as_deref(), &a.dataset, g)?;
    if let (Some(out), Some(d)) = (&a.output, &ds) {
        check_dataset_dir(out, d).map_err(cli_err)?;
    }
    if let Some(out) = &a.output
        && !a.dry_run
    {
        crate::commands::common::prepare_output(out)?;
    }
    let rt = runtime()?;
    let store = open_store(&rt, &location, zarr_options(g, a.jobs.clamp(1, 256) * 2))?;
    let nb = match a.depth {
        Some(d) => d,
        None => store
            .zone(store.zone_numbers()[0])
            .map_or(128, |z| z.bands()),
    };
    let bands = a
        .bands
        .as_deref()
        .map(|b| parse_bands(b, nb))
        .transpose()
        .map_err(|e| {
            usage(
                e.to_string()
                    .replace("comma-separated integers", "zero-based indices"),
            )
        })?;
    let windows = store.region_windows(&bbox);
    if windows.is_empty() {
        return Err(anyhow::Error::new(store.no_region(&bbox)));
    }
    if !store.years().contains(&a.year) {
        let first = windows[0].zone;
        rt.block_on(store.time_index(first, a.year))
            .map_err(cli_err)?;
    }
    if a.dry_run {
        let nbands = bands.as_ref().map_or(nb, Vec::len) as u64;
        let bytes: u64 = windows
            .iter()
            .map(|w| w.width() * w.height() * nbands * 4)
            .sum();
        if a.json {
            println!(
                "{}",
                json!({"dry_run": true, "source": "zarr", "country": region.country_name(), "store": location, "files": windows.len(),
                       "bytes": bytes, "year": a.year,
                       "zones": windows.iter().map(|w| json!({"zone": w.zone, "width": w.width(), "height": w.height()})).collect::<Vec<_>>()})
            );
        } else {
            println!(
                "Zarr export: {} UTM zone file(s), {} uncompressed output",
                windows.len(),
                human(bytes)
            );
            for w in &windows {
                println!("  utm{:02}: {} x {} pixels", w.zone, w.width(), w.height());
            }
        }
        return Ok(());
    }
    let out = a.output.clone().expect("checked");
    if !a.json {
        crate::commands::common::print_settings(
            g,
            &ds.as_ref()
                .map_or_else(|| location.clone(), crate::commands::common::dataset_label),
            a.year,
            &region.label,
            &out,
            &format!(
                "{} UTM zone GeoTIFF(s) streamed from {location}, {}",
                windows.len(),
                a.compress
            ),
        );
    }
    let opts = ZoneExport {
        bands,
        depth: a.depth,
        compression,
        tags: ds
            .as_ref()
            .map(|d| {
                dataset_tags(d)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect()
            })
            .unwrap_or_default(),
        memory: a.memory_mb << 20,
        cancel: tessera_client::cancel::Token::new(),
    };
    let progress = ExportProgress::default();
    let bar = progress::items(0, "pixels");
    let start = Instant::now();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        let (pr, b, st) = (&progress, bar.clone(), &stop);
        s.spawn(move || {
            while !st.load(Ordering::Relaxed) {
                b.set_length(pr.total.load(Ordering::Relaxed));
                b.set_position(pr.done.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = rt.block_on(export_zones(&store, &bbox, a.year, &out, &opts, &progress));
        stop.store(true, Ordering::Relaxed);
        r
    });
    bar.finish_and_clear();
    let files = result.map_err(cli_err)?;
    if let Some(d) = &ds {
        write_metadata(
            &out,
            d,
            g.mirror.as_deref().unwrap_or(""),
            &[
                ("format", json!("tiff")),
                ("year", json!(a.year)),
                ("source", json!(location)),
            ],
        )
        .map_err(cli_err)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let (req, bytes) = store.stats.snapshot();
    if a.json {
        println!(
            "{}",
            json!({"source": "zarr", "country": region.country_name(), "store": location, "kept": progress.kept.load(Ordering::Relaxed), "resumed": progress.resumed.load(Ordering::Relaxed), "dataset": ds.as_ref().map(crate::commands::common::dataset_label), "year": a.year, "seconds": secs,
                   "requests": req, "bytes_fetched": bytes,
                   "files": files.iter().map(|(p, n, w)| json!({"path": p, "bytes": n, "zone": w.zone,
                        "width": w.width(), "height": w.height()})).collect::<Vec<_>>()})
        );
    } else {
        println!(
            "SUCCESS: Exported {} UTM zone file(s){} of {} {} to {} in {:.1} s ({} requests, {} fetched)",
            files.len(),
            match (
                progress.kept.load(Ordering::Relaxed),
                progress.resumed.load(Ordering::Relaxed)
            ) {
                (0, 0) => String::new(),
                (k, 0) => format!(" ({k} complete from an earlier run, kept)"),
                (0, r) => format!(" ({r} continued where an earlier run stopped)"),
                (k, r) => format!(
                    " ({k} complete from an earlier run, kept; {r} continued where it stopped)"
                ),
            },
            ds.as_ref()
                .map_or_else(|| location.clone(), crate::commands::common::dataset_label),
            a.year,
            out.display(),
            secs,
            req,
            human(bytes)
        );
        for (p, n, w) in files.iter().filter(|_| !g.quiet) {
            println!(
                "  {} ({} x {} pixels, {})",
                p.display(),
                w.width(),
                w.height(),
                human(*n)
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
    let table = read_points(&a.points).map_err(cli_err)?;
    let out_dir = a
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::commands::common::prepare_output(out_dir)?;
    let (location, sds) = resolve_store(a.store.as_deref(), &a.dataset, g)?;
    let rt = runtime()?;
    let store = open_store(&rt, &location, zarr_options(g, a.jobs.clamp(1, 256)))?;
    if a.search_px > 64 {
        return Err(usage(format!(
            "--search-px {} is too large: at most 64 pixels (640 m); the reference uses 1",
            a.search_px
        )));
    }
    let opts = SampleOptions {
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
    let probes = rt
        .block_on(store.sample_points(&pts, a.year, &opts))
        .map_err(cli_err)?;
    let bands = probes
        .iter()
        .find_map(|p| p.values.as_ref().map(Vec::len))
        .unwrap_or_else(|| {
            a.depth.unwrap_or_else(|| {
                store
                    .zone(store.zone_numbers()[0])
                    .map_or(128, |z| z.bands())
            })
        });
    let mut values = Vec::with_capacity(probes.len() * bands);
    let mut meta = Vec::with_capacity(probes.len());
    let mut counts = std::collections::BTreeMap::new();
    for p in &probes {
        match &p.values {
            Some(v) => values.extend_from_slice(v),
            None => values.extend(std::iter::repeat_n(f32::NAN, bands)),
        }
        *counts.entry(p.status.name()).or_insert(0usize) += 1;
        meta.push(PointMeta {
            tile: None,
            row: p.zone.map(|_| p.row as i64),
            col: p.zone.map(|_| p.col as i64),
            crs: p
                .zone
                .and_then(|z| tessera_core::Crs::from_epsg(32600 + u32::from(z)).ok()),
            status: p.status.name(),
        });
    }
    write_samples(
        &a.output,
        &table,
        &values,
        bands,
        a.metadata.then_some(meta.as_slice()),
    )
    .map_err(cli_err)?;
    let secs = start.elapsed().as_secs_f64();
    let (req, bytes) = store.stats.snapshot();
    let valid = counts.get("valid").copied().unwrap_or(0);
    if a.json {
        println!(
            "{}",
            json!({"points": table.len(), "sampled": valid, "statuses": counts, "bands": bands,
                   "store": location, "requests": req, "bytes_fetched": bytes, "seconds": secs,
                   "output": a.output})
        );
    } else {
        println!(
            "Sampled {valid} of {} points of {} {} from {location} into {} in {:.2} s ({req} requests, {})",
            table.len(),
            sds.as_ref().map_or_else(
                || "the store".to_string(),
                crate::commands::common::dataset_label
            ),
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
    let _ = Status::Valid;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// info --store
// ---------------------------------------------------------------------------------------

pub fn info(a: &InfoArgs, g: &GlobalArgs, location: &str) -> anyhow::Result<()> {
    let rt = runtime()?;
    let store = open_store(&rt, location, zarr_options(g, 4))?;
    let zones: Vec<serde_json::Value> = store
        .zone_numbers()
        .iter()
        .map(|&z| {
            let zone = store.zone(z).expect("zone");
            let gr = zone.grid;
            json!({"zone": z, "group": gr.group(), "crs": format!("EPSG:{}", gr.epsg()),
                   "shape": [gr.height, gr.width], "transform": gr.transform(),
                   "shards": [gr.height / 4096, gr.width / 4096],
                   "embeddings": {"shape": zone.emb.shape, "shard": zone.emb.chunk,
                                  "inner": zone.emb.sharding.as_ref().map(|s| s.inner.clone()),
                                  "chunk_crc32c": zone.emb.chunk_crc},
                   "scales": {"shape": zone.scales.shape},
                   "depths": zone.depths.iter().map(|(d, _)| d).collect::<Vec<_>>(),
                   "mask_source": zone.attrs["geotessera:mask_source"].clone()})
        })
        .collect();
    let geoemb: serde_json::Map<String, serde_json::Value> = store
        .root_attrs
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| k.starts_with("geoemb:") && !k.starts_with("geoemb:stretch"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
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
    println!(
        "Model:        {}",
        clean(store.root_attrs["geoemb:model"].as_str().unwrap_or("?"))
    );
    println!("Build:        {}", clean(&store.build_version()));
    println!(
        "Landmask:     {}",
        if store.root_attrs["geoemb:landmask"].as_bool() == Some(false) {
            "no (every tile pixel is data)"
        } else {
            "yes (water has NaN scales)"
        }
    );
    println!("Zones:        {}", store.zone_numbers().len());
    for z in &zones {
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
