//! Streaming a region from a store into one float32 GeoTIFF per UTM zone
//! (`tessera_{year}_utm{NN}.tif`): the native zone-grid window, tiled 256, NaN nodata, the
//! reference's tags and band descriptions, in blocks of at most a memory budget, committed
//! under its name only when complete.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use tessera_core::Bbox;
use tessera_formats::DType;
use tessera_formats::geotiff::{
    Compression, GeoTiffSpec, Layout, Predictor, ResumableGeoTiff, TiffError,
};

use super::region::block_boxes;
use super::{RegionWindow, ZarrStore};
use crate::error::{ClientError, Result};

/// Options of a zone export.
#[derive(Debug, Clone)]
pub struct ZoneExport {
    /// Bands to write (all when `None`).
    pub bands: Option<Vec<usize>>,
    /// Matryoshka depth to read (full when `None`).
    pub depth: Option<usize>,
    /// Compression.
    pub compression: Compression,
    /// Extra tags (dataset tags of published stores).
    pub tags: Vec<(String, String)>,
    /// Memory budget (bytes) for the blocks in flight (read, dequantised, encoded).
    pub memory: u64,
    /// This export's stop request (the process-wide one is honoured as well).
    pub cancel: crate::cancel::Token,
}

/// Live counters: pixels written, pixels in all.
#[derive(Debug, Default)]
pub struct ExportProgress {
    /// Pixels done.
    pub done: AtomicU64,
    /// Pixels in all.
    pub total: AtomicU64,
    /// Zone files kept from an earlier run (already complete).
    pub kept: AtomicU64,
    /// Zone files continued from where an earlier run stopped.
    pub resumed: AtomicU64,
}

/// The file name of a zone export.
pub fn zone_file(out: &Path, year: i32, zone: u8) -> PathBuf {
    out.join(format!("tessera_{year}_utm{zone:02}.tif"))
}

/// Writes one GeoTIFF per zone window of `bbox`; returns (path, bytes, window) per file.
pub async fn export_zones(
    store: &Arc<ZarrStore>,
    bbox: &Bbox,
    year: i32,
    out: &Path,
    opts: &ZoneExport,
    progress: &ExportProgress,
) -> Result<Vec<(PathBuf, u64, RegionWindow)>> {
    let windows = store.region_windows(bbox);
    if windows.is_empty() {
        return Err(store.no_region(bbox));
    }
    let mut plans = Vec::new();
    for w in &windows {
        let t = store.time_index(w.zone, year).await?;
        let zone = store.zone(w.zone).expect("zone");
        let nb = zone.depth_array(opts.depth)?.shape[1] as usize;
        let bands: Vec<usize> = opts.bands.clone().unwrap_or_else(|| (0..nb).collect());
        if let Some(&b) = bands.iter().find(|&&b| b >= nb) {
            return Err(ClientError::Usage(format!(
                "Bands must be zero-based indices below {nb} (got {b})"
            )));
        }
        plans.push((*w, t, bands));
    }
    progress.total.store(
        windows.iter().map(|w| w.width() * w.height()).sum(),
        Ordering::Relaxed,
    );
    std::fs::create_dir_all(out).map_err(|e| ClientError::io(out, e))?;
    tessera_formats::atomic::reap_stale_temps(out);
    let mut files = Vec::new();
    for (w, t, bands) in plans {
        let path = zone_file(out, year, w.zone);
        // A zone file finished by an earlier (interrupted) run is kept, not exported again.
        if let Some(n) = finished_zone_file(&path, &w, &bands, year, store) {
            progress
                .done
                .fetch_add(w.width() * w.height(), Ordering::Relaxed);
            progress.kept.fetch_add(1, Ordering::Relaxed);
            files.push((path, n, w));
            continue;
        }
        let n = export_one(store, w, t, &bands, year, &path, opts, progress).await?;
        files.push((path, n, w));
    }
    Ok(files)
}

/// The size of `path` when it is a complete export of this window, bands, year and store
/// (files appear under their final name only when complete; the tags tell which export).
fn finished_zone_file(
    path: &Path,
    w: &RegionWindow,
    bands: &[usize],
    year: i32,
    store: &ZarrStore,
) -> Option<u64> {
    let m = std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.is_file())?;
    let r = tessera_formats::geotiff::GeoTiffReader::open(path).ok()?;
    let i = r.info();
    let list: Vec<String> = bands.iter().map(|b| b.to_string()).collect();
    let same = u64::from(i.width) == w.width()
        && u64::from(i.height) == w.height()
        && usize::from(i.bands) == bands.len()
        && i.metadata.get("TESSERA_YEAR") == Some(year.to_string().as_str())
        && i.metadata.get("TESSERA_BANDS") == Some(list.join(",").as_str())
        && i.metadata.get("TESSERA_SOURCE") == Some(store.location())
        && i.transform.is_some_and(|t| t == store.window_transform(w));
    same.then_some(m.len())
}

#[allow(clippy::too_many_arguments)]
async fn export_one(
    store: &Arc<ZarrStore>,
    w: RegionWindow,
    t: usize,
    bands: &[usize],
    year: i32,
    path: &Path,
    opts: &ZoneExport,
    progress: &ExportProgress,
) -> Result<u64> {
    let zone = store.zone(w.zone).expect("zone");
    let emb_meta = zone.depth_array(opts.depth)?;
    let nb_read = emb_meta.shape[1];
    // A block fetches whole inner chunks: a store whose chunks are much larger than the
    // published 32x32 would overrun the budget, so refuse it up front.
    let chunk_bytes = (emb_meta.inner_bytes() + zone.scales.inner_bytes()) as u64;
    if chunk_bytes.saturating_mul(16) > opts.memory {
        return Err(ClientError::Usage(format!(
            "{}: inner chunks of {} bytes do not fit a memory budget of {} MB; raise --memory-mb",
            store.location(),
            chunk_bytes,
            opts.memory >> 20
        )));
    }
    let mut spec = GeoTiffSpec::new(
        w.width() as u32,
        w.height() as u32,
        bands.len() as u16,
        DType::F32,
    );
    spec.layout = Layout::Tiled(256);
    spec.compression = opts.compression;
    spec.predictor = match opts.compression {
        Compression::None | Compression::Lzw => Predictor::None,
        _ => Predictor::FloatingPoint,
    };
    let crs = tessera_core::Crs::from_epsg(zone.grid.epsg())
        .map_err(|e| ClientError::Format(e.to_string()))?;
    spec.georef = Some((crs, store.window_transform(&w)));
    spec.nodata = Some(f64::NAN);
    for (k, v) in &opts.tags {
        spec.metadata.set(k, v.clone());
    }
    spec.metadata.set("TESSERA_YEAR", year.to_string());
    spec.metadata
        .set("TESSERA_SOURCE", store.location().to_string());
    spec.metadata.set("TESSERA_MODEL", store.model_version());
    spec.metadata
        .set("TESSERA_BUILD_VERSION", store.build_version());
    let list: Vec<String> = bands.iter().map(|b| b.to_string()).collect();
    spec.metadata.set("TESSERA_BANDS", list.join(","));
    for (i, b) in bands.iter().enumerate() {
        spec.metadata
            .set_band_description(i, format!("Tessera_Band_{b}"));
    }
    let tiff_err = |e: TiffError| match e {
        TiffError::IoAt { path, source } => ClientError::io(path, source),
        other => ClientError::Format(format!("{}: {other}", path.display())),
    };
    // Memory: the block being written (int8 + scales in, float32 values) and the next one
    // being read (int8 + scales, with its fetched and decoded chunks until assembled),
    // plus, per tile encoded at once, its copy and its encoded form (at most the copy's
    // size). Tiles are encoded in batches so that a quarter of the budget at most goes to
    // them; the rest sets the block width (whole 256-pixel tiles, at least one).
    let nb = bands.len() as u64;
    let tile_bytes = 256 * 256 * 4 * nb;
    let batch = (opts.memory / 4 / (2 * tile_bytes)).clamp(1, rayon::current_num_threads() as u64);
    let per_px = 2 * (nb_read + 4) + 2 * nb_read + 4 * nb;
    let left = opts.memory.saturating_sub(batch * 2 * tile_bytes);
    let cols = ((left / (256 * per_px)) / 256).max(1) * 256;
    // The file grows block by block beside its final name with a journal, so an interrupted
    // export continues where it stopped when the same export (same fingerprint) is rerun.
    let fingerprint = format!(
        "zone-export 1|{}|utm{} rows {}..{} cols {}..{}|t{t}|bands {bands:?}|{year}|{:?}|depth {:?}|block {cols}|{:?}",
        store.location(),
        w.zone,
        w.y0,
        w.y1,
        w.x0,
        w.x1,
        opts.compression,
        opts.depth,
        opts.tags
    );
    let (file, skip) = ResumableGeoTiff::open(path, spec, &fingerprint).map_err(tiff_err)?;
    if skip > 0 {
        let done_px: u64 = block_boxes(&w, 256, cols)
            .iter()
            .take(skip)
            .map(|(r, c)| (r.end - r.start) * (c.end - c.start))
            .sum();
        progress.done.fetch_add(done_px, Ordering::Relaxed);
        progress.resumed.fetch_add(1, Ordering::Relaxed);
    }
    let mut unit = skip;
    let file = std::sync::Mutex::new(file);
    let all = nb == nb_read && bands.iter().enumerate().all(|(i, &b)| i == b);
    // Tile copies are reused from block to block: fresh multi-megabyte buffers would come
    // from per-thread allocator arenas that keep them after they are freed.
    let mut pool: Vec<Vec<f32>> = (0..batch).map(|_| Vec::new()).collect();
    store
        .for_each_block_from(w, t, 256, cols, opts.depth, skip, |r0, c0, block| {
            opts.cancel.check()?;
            let mut vals = Vec::new();
            block.dequantise(if all { None } else { Some(bands) }, &mut vals);
            let (rows, bcols) = (block.rows, block.cols);
            drop(block);
            let nb = bands.len();
            let (cy, cx0) = ((r0 - w.y0) / 256, (c0 - w.x0) / 256);
            let ntiles = bcols.div_ceil(256);
            let mut f = file.lock().expect("file");
            for first in (0..ntiles).step_by(batch as usize) {
                let writer = f.writer();
                let encoded: Vec<(u32, Vec<Vec<u8>>)> = pool
                    .par_iter_mut()
                    .zip(first..(first + batch as usize).min(ntiles))
                    .map(|(tile, k)| {
                        let x0 = k * 256;
                        let x1 = (x0 + 256).min(bcols);
                        tile.clear();
                        for r in 0..rows {
                            tile.extend_from_slice(
                                &vals[(r * bcols + x0) * nb..(r * bcols + x1) * nb],
                            );
                        }
                        let cx = (cx0 + k as u64) as u32;
                        writer
                            .encode_chunk(cx, cy as u32, tile)
                            .map(|p| (cx, p))
                            .map_err(tiff_err)
                    })
                    .collect::<Result<_>>()?;
                for (cx, planes) in encoded {
                    f.writer()
                        .write_encoded(cx, cy as u32, planes)
                        .map_err(tiff_err)?;
                }
            }
            drop(vals);
            unit += 1;
            f.checkpoint(unit).map_err(tiff_err)?;
            release_free_memory();
            progress
                .done
                .fetch_add((rows * bcols) as u64, Ordering::Relaxed);
            Ok(())
        })
        .await?;
    let done = file
        .into_inner()
        .expect("file")
        .finish()
        .map_err(tiff_err)?;
    Ok(std::fs::metadata(&done).map(|m| m.len()).unwrap_or(0))
}

/// Hands the memory freed by a block back to the system. glibc keeps freed
/// multi-megabyte buffers in its per-thread arenas (its mmap threshold rises up to 32 MiB
/// as large blocks are freed), so without this a block-wise export would hold about twice
/// its memory budget.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}
