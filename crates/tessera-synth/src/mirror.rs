//! Writing a synthetic mirror: the published key layout (NPY tiles, landmasks, manifests)
//! plus the ground truth (class rasters and labelled points) under `truth/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use rayon::prelude::*;
use serde_json::json;
use tessera_core::dataset::{dataset_from_dir, keys, npy_dir, version_path_from_norm};
use tessera_core::{Bbox, TileId};
use tessera_formats::DType;
use tessera_formats::geotiff::{Compression, GeoTiffFile, GeoTiffSpec, Layout, Predictor};
use tessera_formats::manifest::{LandmaskRecord, ManifestRecord, write_landmasks, write_manifest};
use tessera_formats::npy::write_npy_file;
use thiserror::Error;

use crate::embed::{DIM, Model};
use crate::noise::{hash_str, hash2, unit};
use crate::tile::TileFrame;
use crate::world::{CLASSES, Class, NCLASS, World};

/// Errors writing a synthetic mirror.
#[derive(Debug, Error)]
pub enum SynthError {
    /// A file could not be written.
    #[error("{path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A dataset directory that is not a TESSERA dataset.
    #[error("'{0}' is not a dataset directory: use names like v1, v1.1-cam, v2-2B-L~beta1")]
    BadDataset(String),
    /// A request that would write too much.
    #[error("{0}")]
    TooLarge(String),
    /// Nothing to do.
    #[error("{0}")]
    Empty(String),
}

/// What to synthesise.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Mirror root to write.
    pub out: PathBuf,
    /// Region: every tile whose cell overlaps it.
    pub bbox: Bbox,
    /// More regions (their tiles are added to those of `bbox`).
    pub more_boxes: Vec<Bbox>,
    /// Years.
    pub years: Vec<i32>,
    /// NPY dataset directories (`v1`, `v1.1-cam`, ...).
    pub datasets: Vec<String>,
    /// World seed.
    pub seed: u64,
    /// Fraction of tile-years left out of each dataset (coverage gaps).
    pub missing_rate: f64,
    /// Labelled points per class and year in the ground truth.
    pub labels_per_class: usize,
}

impl SynthOptions {
    /// Defaults for a region: years 2023 and 2024, dataset v1.1-cam, seed 42.
    pub fn new(out: &Path, bbox: Bbox) -> SynthOptions {
        SynthOptions {
            out: out.to_path_buf(),
            bbox,
            more_boxes: Vec::new(),
            years: vec![2023, 2024],
            datasets: vec!["v1.1-cam".into()],
            seed: 42,
            missing_rate: 0.05,
            labels_per_class: 60,
        }
    }
}

impl SynthOptions {
    /// The tiles of every box, in order, without repeats.
    pub fn tiles(&self) -> Vec<TileId> {
        let mut seen = std::collections::HashSet::new();
        std::iter::once(&self.bbox)
            .chain(&self.more_boxes)
            .flat_map(tiles_in)
            .filter(|t| seen.insert(*t))
            .collect()
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct SynthReport {
    /// Tiles of the region.
    pub tiles: usize,
    /// Tiles with land (the others are ocean: no data, as published).
    pub land_tiles: usize,
    /// Tile-years written per dataset directory.
    pub tile_years: BTreeMap<String, usize>,
    /// Tile-years left out as coverage gaps.
    pub gaps: usize,
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
}

/// Progress reports: tiles done, tiles in all, bytes written so far.
pub type Progress<'a> = &'a (dyn Fn(usize, usize, u64) + Sync);

/// A resolved dataset.
#[derive(Debug, Clone)]
struct Ds {
    dir: String,
    version: String,
    variant: String,
    landmask_dir: String,
    seed: u64,
    model: Model,
}

/// Tiles whose cells overlap the box with positive area.
pub fn tiles_in(bbox: &Bbox) -> Vec<TileId> {
    let cells = |lo: f64, hi: f64| {
        let (a, b) = ((lo * 10.0).floor() as i32, (hi * 10.0).ceil() as i32);
        (a..b).filter(move |&k| f64::from(k) / 10.0 < hi && f64::from(k + 1) / 10.0 > lo)
    };
    let mut out = Vec::new();
    for la in cells(bbox.south, bbox.north) {
        for lo in cells(bbox.west, bbox.east) {
            if let Ok(t) = TileId::from_keys(lo * 10 + 5, la * 10 + 5) {
                out.push(t);
            }
        }
    }
    out
}

/// The deterministic "last modified" time of an object.
fn mtime_of(seed: u64, key: &str) -> SystemTime {
    // 2025-06-01T00:00:00Z plus up to 30 days.
    let secs = 1_748_736_000 + hash_str(seed, key) % (30 * 86_400);
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn ns(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

struct Writer<'a> {
    root: &'a Path,
    seed: u64,
    files: AtomicUsize,
    bytes: AtomicU64,
}

impl Writer<'_> {
    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn err(&self, key: &str, e: impl std::fmt::Display) -> SynthError {
        SynthError::Write {
            path: self.path(key),
            message: e.to_string(),
        }
    }

    fn mkdirs(&self, key: &str) -> Result<PathBuf, SynthError> {
        let p = self.path(key);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| self.err(key, e))?;
        }
        Ok(p)
    }

    /// Stamps the deterministic mtime; returns (size, mtime ns).
    fn finish(&self, key: &str) -> Result<(i64, i64), SynthError> {
        let p = self.path(key);
        let t = mtime_of(self.seed, key);
        let f = std::fs::File::options()
            .write(true)
            .open(&p)
            .map_err(|e| self.err(key, e))?;
        f.set_modified(t).map_err(|e| self.err(key, e))?;
        let size = f.metadata().map_err(|e| self.err(key, e))?.len();
        self.files.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
        Ok((size as i64, ns(t)))
    }

    fn npy<T: tessera_formats::Element>(
        &self,
        key: &str,
        shape: &[usize],
        data: &[T],
    ) -> Result<(i64, i64), SynthError> {
        let p = self.mkdirs(key)?;
        write_npy_file(&p, shape, data).map_err(|e| self.err(key, e))?;
        self.finish(key)
    }

    fn u8_tiff(
        &self,
        key: &str,
        frame: &TileFrame,
        data: &[u8],
        meta: &[(&str, String)],
        tiled: bool,
        palette: Option<Vec<[u8; 3]>>,
    ) -> Result<(i64, i64), SynthError> {
        let p = self.mkdirs(key)?;
        let g = &frame.georef;
        let mut spec = GeoTiffSpec::new(g.width as u32, g.height as u32, 1, DType::U8);
        spec.palette = palette;
        spec.layout = if tiled {
            Layout::Tiled(256)
        } else {
            Layout::Striped(64)
        };
        spec.compression = Compression::Deflate(6);
        spec.predictor = Predictor::Horizontal;
        spec.georef = Some((g.crs, g.transform));
        for (k, v) in meta {
            spec.metadata.set(k, v.clone());
        }
        let mut f = GeoTiffFile::create(&p, spec).map_err(|e| self.err(key, e))?;
        f.writer().write_rows(data).map_err(|e| self.err(key, e))?;
        f.finish().map_err(|e| self.err(key, e))?;
        self.finish(key)
    }

    fn text(&self, key: &str, text: &str) -> Result<(), SynthError> {
        let p = self.mkdirs(key)?;
        tessera_formats::atomic::write_atomic(&p, |w| {
            std::io::Write::write_all(w, text.as_bytes())
        })
        .map_err(|e| self.err(key, e))?;
        self.finish(key).map(|_| ())
    }
}

/// A candidate labelled point: (priority, class, lon, lat, tile, row, col).
type Label = (u64, u8, f64, f64, TileId, usize, usize);

/// Writes the mirror. Tiles are generated in parallel (rayon); each tile is written by one
/// thread, all files atomically, with deterministic contents and modification times.
pub fn synthesize(opts: &SynthOptions, progress: Progress<'_>) -> Result<SynthReport, SynthError> {
    let start = Instant::now();
    let world = World::new(opts.seed);
    let datasets = resolve(opts)?;
    let tiles = opts.tiles();
    if tiles.is_empty() {
        return Err(SynthError::Empty(format!("no tile overlaps {}", opts.bbox)));
    }
    let estimate = tiles.len() as f64 * opts.years.len() as f64 * datasets.len() as f64 * 110e6;
    if estimate > 200e9 {
        return Err(SynthError::TooLarge(format!(
            "{} tiles x {} years x {} datasets would write about {:.0} GB; choose a smaller --bbox",
            tiles.len(),
            opts.years.len(),
            datasets.len(),
            estimate / 1e9
        )));
    }
    let w = Writer {
        root: &opts.out,
        seed: opts.seed,
        files: AtomicUsize::new(0),
        bytes: AtomicU64::new(0),
    };
    let manifest_rows: Mutex<Vec<(usize, ManifestRecord)>> = Mutex::new(Vec::new());
    let landmask_rows: Mutex<Vec<(String, LandmaskRecord)>> = Mutex::new(Vec::new());
    let labels: Mutex<BTreeMap<i32, Vec<Label>>> = Mutex::new(BTreeMap::new());
    let done = AtomicUsize::new(0);
    let gaps = AtomicUsize::new(0);
    let land_tiles = AtomicUsize::new(0);
    let mut landmask_dirs: Vec<String> = datasets.iter().map(|d| d.landmask_dir.clone()).collect();
    landmask_dirs.sort();
    landmask_dirs.dedup();

    tiles
        .par_iter()
        .try_for_each(|&tile| -> Result<(), SynthError> {
            let Some(frame) = TileFrame::new(&world, tile) else {
                progress(
                    done.fetch_add(1, Ordering::Relaxed) + 1,
                    tiles.len(),
                    w.bytes.load(Ordering::Relaxed),
                );
                return Ok(());
            };
            land_tiles.fetch_add(1, Ordering::Relaxed);
            let (h, wd) = (frame.georef.height, frame.georef.width);
            for dir in &landmask_dirs {
                let key = keys::landmask(dir, tile);
                let (size, mtime) = w.u8_tiff(&key, &frame, &frame.landmask, &[], false, None)?;
                landmask_rows.lock().expect("lock").push((
                    dir.clone(),
                    LandmaskRecord {
                        tile,
                        file_size: size,
                        mtime_ns: mtime,
                        key: keys::manifest_path(&key),
                    },
                ));
            }
            for &year in &opts.years {
                let classes = frame.classes(&world, year);
                let meta: Vec<(&str, String)> = vec![
                    ("TESSERA_SYNTH_YEAR", year.to_string()),
                    (
                        "TESSERA_SYNTH_CLASSES",
                        CLASSES
                            .iter()
                            .map(|c| format!("{}={}", *c as u8, c.name()))
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                ];
                // A colour table, so that QGIS and GDAL show the classes in their colours.
                let mut palette = vec![[0u8; 3]; 256];
                for c in CLASSES {
                    palette[c as usize] = c.colour();
                }
                w.u8_tiff(
                    &format!("truth/{year}/{tile}_classes.tiff"),
                    &frame,
                    &classes,
                    &meta,
                    true,
                    Some(palette),
                )?;
                let picked = pick_labels(&frame, &classes, opts.seed, year);
                labels
                    .lock()
                    .expect("lock")
                    .entry(year)
                    .or_default()
                    .extend(picked);
                for (di, ds) in datasets.iter().enumerate() {
                    let gap = unit(hash2(
                        ds.seed ^ 0x6A9,
                        i64::from(tile.lon_i()) * 100_000 + i64::from(tile.lat_i()),
                        i64::from(year),
                    ));
                    if gap < opts.missing_rate {
                        gaps.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let emb = frame.embeddings(opts.seed, &ds.model, ds.seed, year, &classes);
                    let ekey = keys::embedding(&ds.dir, year, tile);
                    let skey = keys::scales(&ds.dir, year, tile);
                    let (gsize, gmt) = w.npy(&ekey, &[h, wd, DIM], &emb.q)?;
                    let (ssize, smt) = w.npy(&skey, &[h, wd], &emb.scales)?;
                    manifest_rows.lock().expect("lock").push((
                        di,
                        ManifestRecord {
                            version: ds.version.clone(),
                            variant: ds.variant.clone(),
                            year,
                            tile,
                            directory: keys::manifest_path(&keys::tile_directory(
                                &ds.dir, year, tile,
                            )),
                            grid_path: keys::manifest_path(&ekey),
                            scales_path: keys::manifest_path(&skey),
                            grid_mtime_ns: gmt,
                            scales_mtime_ns: smt,
                            grid_size: gsize,
                            scales_size: ssize,
                        },
                    ));
                }
            }
            progress(
                done.fetch_add(1, Ordering::Relaxed) + 1,
                tiles.len(),
                w.bytes.load(Ordering::Relaxed),
            );
            Ok(())
        })?;

    // Registries.
    let manifest_rows = manifest_rows.into_inner().expect("lock");
    let mut report = SynthReport {
        tiles: tiles.len(),
        land_tiles: land_tiles.into_inner(),
        gaps: gaps.into_inner(),
        ..Default::default()
    };
    for (di, ds) in datasets.iter().enumerate() {
        let rows: Vec<ManifestRecord> = manifest_rows
            .iter()
            .filter(|(i, _)| *i == di)
            .map(|(_, r)| r.clone())
            .collect();
        report.tile_years.insert(ds.dir.clone(), rows.len());
        let key = keys::manifest(&ds.dir);
        write_manifest(&w.mkdirs(&key)?, &rows).map_err(|e| w.err(&key, e))?;
        w.finish(&key)?;
    }
    let landmask_rows = landmask_rows.into_inner().expect("lock");
    for dir in &landmask_dirs {
        let rows: Vec<LandmaskRecord> = landmask_rows
            .iter()
            .filter(|(d, _)| d == dir)
            .map(|(_, r)| r.clone())
            .collect();
        let key = keys::landmasks_registry(dir);
        write_landmasks(&w.mkdirs(&key)?, &rows).map_err(|e| w.err(&key, e))?;
        w.finish(&key)?;
    }
    // Ground truth: labelled points per year, the class table, and the parameters.
    for (year, mut cands) in labels.into_inner().expect("lock") {
        cands.sort_by_key(|c| (c.1, c.0));
        let mut per_class = [0usize; NCLASS];
        let features: Vec<serde_json::Value> = cands
            .into_iter()
            .filter(|c| {
                let k = &mut per_class[usize::from(c.1)];
                *k += 1;
                *k <= opts.labels_per_class
            })
            .map(|(_, class, lon, lat, tile, row, col)| {
                json!({
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": {
                        "class": class,
                        "class_name": Class::from_id(class).map_or("?", |c| c.name()),
                        "year": year,
                        "tile": tile.name(),
                        "row": row,
                        "col": col,
                    }
                })
            })
            .collect();
        let fc = json!({"type": "FeatureCollection", "features": features});
        w.text(
            &format!("truth/{year}/labels.geojson"),
            &(fc.to_string() + "\n"),
        )?;
    }
    let classes: Vec<serde_json::Value> = CLASSES
        .iter()
        .map(|c| json!({"id": *c as u8, "name": c.name(), "colour": c.colour()}))
        .collect();
    w.text(
        "truth/classes.json",
        &(serde_json::to_string_pretty(&classes).unwrap_or_default() + "\n"),
    )?;
    let params = json!({
        "generator": format!("tessera-synth {}", env!("CARGO_PKG_VERSION")),
        "seed": opts.seed,
        "bbox": opts.bbox.to_array(),
        "more_boxes": opts.more_boxes.iter().map(|b| b.to_array()).collect::<Vec<_>>(),
        "years": opts.years,
        "datasets": datasets.iter().map(|d| d.dir.clone()).collect::<Vec<_>>(),
        "missing_rate": opts.missing_rate,
        "tiles": report.tiles,
        "land_tiles": report.land_tiles,
    });
    w.text(
        "synth.json",
        &(serde_json::to_string_pretty(&params).unwrap_or_default() + "\n"),
    )?;
    report.files = w.files.load(Ordering::Relaxed);
    report.bytes = w.bytes.load(Ordering::Relaxed);
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

fn resolve(opts: &SynthOptions) -> Result<Vec<Ds>, SynthError> {
    if opts.years.is_empty() || opts.datasets.is_empty() {
        return Err(SynthError::Empty(
            "give at least one year and one dataset".into(),
        ));
    }
    let mut out: Vec<Ds> = Vec::new();
    for d in &opts.datasets {
        let (version, variant) =
            dataset_from_dir(d.trim()).ok_or_else(|| SynthError::BadDataset(d.clone()))?;
        let dir = npy_dir(&version, &variant).map_err(|e| SynthError::BadDataset(e.to_string()))?;
        if out.iter().any(|o| o.dir == dir) {
            continue;
        }
        let seed = hash_str(opts.seed, &dir);
        out.push(Ds {
            landmask_dir: version_path_from_norm(&version),
            model: Model::new(seed),
            seed,
            dir,
            version,
            variant,
        });
    }
    Ok(out)
}

/// A few pixels of each class whose centres route back to this tile, chosen by hash.
fn pick_labels(frame: &TileFrame, classes: &[u8], seed: u64, year: i32) -> Vec<Label> {
    const PER_CLASS: usize = 50;
    let mut best: Vec<Vec<(u64, usize)>> = vec![Vec::new(); NCLASS];
    let key = hash2(
        seed ^ 0x1ABE1,
        i64::from(frame.tile.lon_i()) * 100_000 + i64::from(frame.tile.lat_i()),
        i64::from(year),
    );
    for (i, &c) in classes.iter().enumerate() {
        let p = hash2(key, i as i64, 0);
        let list = &mut best[usize::from(c)];
        if list.len() < PER_CLASS * 2 || p < list.last().map_or(u64::MAX, |l| l.0) {
            let at = list.partition_point(|x| x.0 < p);
            list.insert(at, (p, i));
            list.truncate(PER_CLASS * 2);
        }
    }
    let wd = frame.georef.width;
    let mut out = Vec::new();
    for (c, list) in best.into_iter().enumerate() {
        let mut kept = 0;
        for (p, i) in list {
            if kept == PER_CLASS {
                break;
            }
            if let Some((lon, lat)) = frame.centre_in_cell(i) {
                out.push((p, c as u8, lon, lat, frame.tile, i / wd, i % wd));
                kept += 1;
            }
        }
    }
    out
}
