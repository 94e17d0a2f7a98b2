//! Maps over a region from a dataset's tiles or its Zarr store: a trained model's class
//! map (`tessera predict`), a similarity to example pixels (`tessera similar`) and
//! k-means clusters (`tessera cluster`). Each is streamed in strips within a memory
//! budget, one GeoTIFF per UTM zone on the zone's own 10 m grid by default, or mosaicked
//! onto one grid in a CRS of choice; predictions at points go to a table.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use tessera_client::local::EmbeddingTile;
use tessera_client::points::{Column, PointTable, read_points_in};
use tessera_client::region::RegionArgs;
use tessera_client::{ClientError, Result};
use tessera_core::{Affine, Bbox, Crs};
use tessera_formats::geotiff::GdalMetadata;
use tessera_learn::heads::Prediction;
use tessera_learn::heads::kmeans::{self, KMeansOptions};
use tessera_learn::model::Model;
use tessera_learn::rng::Rng;
use tessera_pictures::classmap::{
    ClassArea, ClassStyle, Group, MapStyle, MapWritten, Mapped, PixelMap, TopPixel, write_map,
};
use tessera_pictures::grid::transform_bounds;
use tessera_pictures::mosaic::{Mosaic, MosaicOptions, Source};
use tessera_pictures::{CrsChoice, PictureError, Resampling, TargetGrid};

use crate::Progress;
use crate::store::{Store, StoreRef};
use crate::tiles::{DatasetOptions, SampleSource, TileDataset, picture_error, resolve_region};

/// Where a map's embeddings come from.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// The dataset's tiles, in a tiles directory (downloaded there when missing unless
    /// `offline`).
    Tiles {
        /// The tiles directory.
        dir: PathBuf,
        /// Never download.
        offline: bool,
    },
    /// The dataset's Zarr store, read in place (only the chunks the region needs).
    Zarr {
        /// The store.
        store: StoreRef,
        /// Leading bands (Matryoshka depth) to read; `None`: all.
        depth: Option<usize>,
    },
}

/// What every region map asks for.
#[derive(Debug, Clone)]
pub struct MapRequest {
    /// The region.
    pub region: RegionArgs,
    /// The year of the embeddings.
    pub year: i32,
    /// Where the embeddings come from.
    pub source: DataSource,
    /// `None`: one map per UTM zone on its native 10 m grid; else one mosaic in this CRS.
    pub crs: Option<CrsChoice>,
    /// Pixel size in the target CRS (with `crs`); `None`: 10 m or its equivalent.
    pub resolution: Option<(f64, f64)>,
    /// Memory budget for the strips in flight.
    pub memory_bytes: usize,
    /// Write a PNG quicklook beside each map.
    pub png: bool,
    /// The map to write (`{stem}_{EPSG}.tif` per zone when a native map meets several
    /// zones).
    pub output: PathBuf,
}

/// One map file written.
#[derive(Debug, Clone, Serialize)]
pub struct MapFile {
    /// The map.
    pub path: PathBuf,
    /// Its other files.
    pub sidecars: Vec<PathBuf>,
    /// Its CRS (`EPSG:...`).
    pub crs: String,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Pixels mapped.
    pub mapped: u64,
    /// Pixels without data.
    pub nodata: u64,
    /// Pixels rejected.
    pub rejected: u64,
    /// Pixels above the threshold (similarity).
    pub above: u64,
    /// Smallest, largest and mean value (value maps).
    pub value_range: Option<(f64, f64, f64)>,
    /// Area per class (class maps).
    pub classes: Vec<ClassArea>,
    /// Connected groups above the threshold.
    pub groups: Vec<Group>,
    /// The highest pixels.
    pub top: Vec<TopPixel>,
    /// Rows rendered per strip.
    pub strip_rows: usize,
}

/// The maps a call wrote, with totals.
#[derive(Debug, Clone, Serialize)]
pub struct MapReport {
    /// Files, one per zone or one mosaic.
    pub files: Vec<MapFile>,
    /// Sources (tiles or zones) read.
    pub sources: usize,
    /// Pixels mapped, over all files.
    pub mapped: u64,
    /// Pixels without data.
    pub nodata: u64,
    /// Pixels rejected.
    pub rejected: u64,
    /// Area per class summed over the files.
    pub classes: Vec<ClassArea>,
    /// Seconds spent.
    pub seconds: f64,
    /// Pixels (mapped and nodata) per second.
    pub pixels_per_second: f64,
    /// What the map is (head and model, similarity method, clusters), for reports.
    pub what: serde_json::Value,
}

impl MapFile {
    fn from(w: MapWritten, crs: &Crs) -> MapFile {
        MapFile {
            path: w.path,
            sidecars: w.sidecars,
            crs: crs.to_string(),
            width: w.width,
            height: w.height,
            mapped: w.mapped,
            nodata: w.nodata,
            rejected: w.rejected,
            above: w.above,
            value_range: w.value_range,
            classes: w.classes,
            groups: w.groups,
            top: w.top,
            strip_rows: w.strip_rows,
        }
    }
}

fn usage(m: impl Into<String>) -> ClientError {
    ClientError::Usage(m.into())
}

pub(crate) fn learn_error(e: tessera_learn::LearnError) -> ClientError {
    match e {
        tessera_learn::LearnError::Usage(m) => ClientError::Usage(m),
        tessera_learn::LearnError::Io(m) => ClientError::Format(m),
        tessera_learn::LearnError::Cancelled => ClientError::Cancelled,
    }
}

/// The path of zone `crs`'s map when a native map has several.
fn zone_path(out: &Path, crs: &Crs, several: bool) -> PathBuf {
    if !several {
        return out.to_path_buf();
    }
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tif".into());
    out.with_file_name(format!(
        "{stem}_{}.{ext}",
        crs.epsg().map_or_else(|| "grid".into(), |e| e.to_string())
    ))
}

/// The grid of zone `crs` over `bbox` clipped to the zone's band, aligned on `like`'s
/// pixels (every tile and zone window of a zone shares its 10 m lattice).
fn native_grid(bbox: &Bbox, crs: Crs, like: &tessera_core::TileGeoref) -> Option<TargetGrid> {
    let clipped = match crs {
        Crs::Utm { zone, .. } => {
            let w0 = f64::from(zone) * 6.0 - 186.0;
            let e0 = w0 + 6.0;
            Bbox::new(bbox.west.max(w0), bbox.south, bbox.east.min(e0), bbox.north).ok()?
        }
        _ => *bbox,
    };
    if clipped.east <= clipped.west {
        return None;
    }
    let [w, s, e, n] = transform_bounds(&clipped, &crs);
    let t = &like.transform;
    let (rx, ry) = (t.a.abs(), t.e.abs());
    let x0 = t.c + ((w - t.c) / rx).floor() * rx;
    let x1 = t.c + ((e - t.c) / rx).ceil() * rx;
    let y1 = t.f + ((n - t.f) / ry).ceil() * ry;
    let y0 = t.f + ((s - t.f) / ry).floor() * ry;
    let (width, height) = (((x1 - x0) / rx).round(), ((y1 - y0) / ry).round());
    if width < 1.0 || height < 1.0 {
        return None;
    }
    Some(TargetGrid {
        crs,
        transform: Affine {
            a: rx,
            b: 0.0,
            c: x0,
            d: 0.0,
            e: -ry,
            f: y1,
        },
        width: width as usize,
        height: height as usize,
    })
}

/// The mosaics a map needs: one per zone (native) or one in the chosen CRS.
fn plans<'a, S: Source>(
    sources: &'a [S],
    bbox: &Bbox,
    req: &MapRequest,
) -> Result<Vec<Mosaic<'a, S>>> {
    let base = MosaicOptions {
        resampling: Resampling::Nearest,
        memory_bytes: req.memory_bytes,
        copy_native: true,
        // GDAL's default error for its approximate transformer: on a native grid the
        // interpolation is exact, elsewhere within an eighth of a source pixel.
        approx_error_px: 0.125,
        ..Default::default()
    };
    match req.crs {
        Some(choice) => {
            let opts = MosaicOptions {
                crs: choice.resolve(bbox),
                resolution: req.resolution,
                ..base
            };
            Ok(vec![
                Mosaic::new(bbox, sources, opts).map_err(picture_error)?,
            ])
        }
        None => {
            if req.resolution.is_some() {
                return Err(usage(
                    "--resolution needs --crs: native maps keep the embeddings' 10 m grid",
                ));
            }
            let mut crss: Vec<Crs> = Vec::new();
            for s in sources {
                let c = s.georef().crs;
                if !crss.contains(&c) {
                    crss.push(c);
                }
            }
            crss.sort_by_key(|c| c.epsg());
            let mut out = Vec::new();
            for crs in crss {
                let first = sources
                    .iter()
                    .position(|s| s.georef().crs == crs)
                    .expect("a source of the CRS");
                let Some(grid) = native_grid(bbox, crs, &sources[first].georef()) else {
                    continue;
                };
                let opts = MosaicOptions {
                    crs,
                    ..base.clone()
                };
                // All sources: pixels of a tile of the next zone that reach past the seam
                // stay out (owners first), but windows that overlap the grid fill it.
                out.push(Mosaic::on_grid(grid, sources, opts).map_err(picture_error)?);
            }
            if out.is_empty() {
                return Err(ClientError::NoData(
                    "the region meets no embeddings to map".into(),
                ));
            }
            Ok(out)
        }
    }
}

/// Writes one map per plan.
fn write_all<S: Source>(
    sources: &[S],
    bbox: &Bbox,
    req: &MapRequest,
    op: &dyn PixelMap,
    style: &MapStyle,
    md: &GdalMetadata,
    progress: &Progress,
) -> Result<Vec<MapFile>> {
    let ms = plans(sources, bbox, req)?;
    let several = ms.len() > 1;
    let total: u64 = ms.iter().map(|m| m.grid.height as u64).sum();
    progress.start_phase("map", total);
    let mut files: Vec<MapFile> = Vec::new();
    let mut base = 0u64;
    for m in &ms {
        let path = zone_path(&req.output, &m.grid.crs, several && req.crs.is_none());
        let mut md = md.clone();
        md.set("TESSERA_YEAR", req.year.to_string());
        md.set("map_year", req.year.to_string());
        let r = write_map(
            m,
            op,
            style,
            &path,
            md,
            req.png,
            &|| progress.is_cancelled(),
            &|done, _| progress.set_done(base + done),
        );
        match r {
            Ok(w) => files.push(MapFile::from(w, &m.grid.crs)),
            Err(e) => {
                // The zones already written are removed too: a map is all or nothing.
                for f in &files {
                    let _ = std::fs::remove_file(&f.path);
                    for s in &f.sidecars {
                        let _ = std::fs::remove_file(s);
                    }
                }
                return Err(picture_error(e));
            }
        }
        base += m.grid.height as u64;
    }
    Ok(files)
}

/// Opened embeddings of a region.
enum Opened {
    Tiles(Vec<EmbeddingTile>, String, usize),
    Store(Box<Store>, Option<usize>),
}

fn check_output(out: &Path) -> Result<()> {
    if out.as_os_str().is_empty() || out.is_dir() {
        return Err(usage(format!(
            "{}: give a file name for the map (e.g. map.tif)",
            out.display()
        )));
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(usage(format!(
            "{}: the output's directory does not exist; create it first",
            out.display()
        )));
    }
    Ok(())
}

fn open(
    ctx: &crate::Context,
    dataset: &DatasetOptions,
    req: &MapRequest,
    bbox: &Bbox,
    progress: &Progress,
) -> Result<Opened> {
    match &req.source {
        DataSource::Tiles { dir, offline } => {
            let ds = TileDataset::open(ctx, dataset, progress)?;
            if !offline {
                crate::tiles::prepare_output(dir)?;
            }
            let tiles = ds.mosaic_tiles(dir, bbox, req.year, !offline, progress)?;
            let bands = tiles
                .first()
                .map(tessera_client::local::EmbeddingTile::bands)
                .unwrap_or(0);
            Ok(Opened::Tiles(
                tiles,
                ds.dataset().version.path.clone(),
                bands,
            ))
        }
        DataSource::Zarr { store, depth } => {
            let s = Store::open(
                ctx,
                store.clone(),
                &crate::store::OpenOptions { concurrency: 16 },
            )?;
            Ok(Opened::Store(Box::new(s), *depth))
        }
    }
}

impl Opened {
    fn version(&self) -> Option<String> {
        match self {
            Opened::Tiles(_, v, _) => Some(v.clone()),
            Opened::Store(s, _) => s.dataset().map(|d| d.version.path.clone()),
        }
    }
    fn bands(&self) -> Result<usize> {
        match self {
            Opened::Tiles(_, _, b) => Ok(*b),
            Opened::Store(s, d) => s.bands_at(*d),
        }
    }
    fn count(&self, bbox: &Bbox, year: i32, progress: &Progress) -> Result<usize> {
        match self {
            Opened::Tiles(t, _, _) => Ok(t.len()),
            Opened::Store(s, d) => Ok(s.visual_sources(bbox, year, *d, progress)?.1.len()),
        }
    }
    /// Runs `f` on the region's sources.
    fn with<T>(
        &self,
        bbox: &Bbox,
        year: i32,
        progress: &Progress,
        f: &mut dyn FnMut(&dyn Sources) -> Result<T>,
    ) -> Result<T> {
        match self {
            Opened::Tiles(t, _, _) => f(&t.as_slice()),
            Opened::Store(s, d) => {
                let (_, render) = s.visual_sources(bbox, year, *d, progress)?;
                f(&render.as_slice())
            }
        }
    }
}

/// Region sources of either kind, behind one object-safe face.
trait Sources {
    fn write(
        &self,
        bbox: &Bbox,
        req: &MapRequest,
        op: &dyn PixelMap,
        style: &MapStyle,
        md: &GdalMetadata,
        progress: &Progress,
    ) -> Result<Vec<MapFile>>;
    fn sample(
        &self,
        bbox: &Bbox,
        req: &MapRequest,
        n: usize,
        seed: u64,
        progress: &Progress,
    ) -> Result<(Vec<f32>, usize)>;
}

impl<S: Source> Sources for &[S] {
    fn write(
        &self,
        bbox: &Bbox,
        req: &MapRequest,
        op: &dyn PixelMap,
        style: &MapStyle,
        md: &GdalMetadata,
        progress: &Progress,
    ) -> Result<Vec<MapFile>> {
        write_all(self, bbox, req, op, style, md, progress)
    }
    fn sample(
        &self,
        bbox: &Bbox,
        req: &MapRequest,
        n: usize,
        seed: u64,
        progress: &Progress,
    ) -> Result<(Vec<f32>, usize)> {
        reservoir(self, bbox, req, n, seed, progress)
    }
}

/// A uniform sample of `n` valid pixels of the region's maps (reservoir sampling over
/// the strips, seeded), with the count of valid pixels seen.
fn reservoir<S: Source>(
    sources: &[S],
    bbox: &Bbox,
    req: &MapRequest,
    n: usize,
    seed: u64,
    progress: &Progress,
) -> Result<(Vec<f32>, usize)> {
    let ms = plans(sources, bbox, req)?;
    let d = ms[0].bands;
    let mut rng = Rng::new(seed);
    let mut kept: Vec<f32> = Vec::with_capacity(n * d);
    let mut seen = 0usize;
    let total: u64 = ms.iter().map(|m| m.grid.height as u64).sum();
    progress.start_phase("sample", total);
    let mut base = 0;
    for m in &ms {
        let (w, h) = (m.grid.width, m.grid.height);
        let rows = m
            .strip_rows_within(req.memory_bytes / 2)
            .map_err(picture_error)?
            .clamp(1, h);
        let mut strip = vec![0f32; rows * w * d];
        let mut j = 0;
        while j < h {
            progress.token().check()?;
            let r = rows.min(h - j);
            let s = &mut strip[..r * w * d];
            m.render(j, r, s).map_err(picture_error)?;
            for px in s.chunks_exact(d) {
                if !px[0].is_finite() {
                    continue;
                }
                seen += 1;
                if kept.len() < n * d {
                    kept.extend_from_slice(px);
                } else {
                    let k = rng.below(seen);
                    if k < n {
                        kept[k * d..(k + 1) * d].copy_from_slice(px);
                    }
                }
            }
            j += r;
            progress.set_done(base + j as u64);
        }
        base += h as u64;
    }
    Ok((kept, seen))
}

fn totals(files: &[MapFile]) -> (u64, u64, u64, Vec<ClassArea>) {
    let mut classes: Vec<ClassArea> = Vec::new();
    for f in files {
        for c in &f.classes {
            match classes.iter_mut().find(|x| x.id == c.id) {
                Some(x) => {
                    x.pixels += c.pixels;
                    x.hectares += c.hectares;
                }
                None => classes.push(c.clone()),
            }
        }
    }
    let sum: u64 = classes.iter().map(|c| c.pixels).sum();
    for c in &mut classes {
        c.percent = if sum > 0 {
            100.0 * c.pixels as f64 / sum as f64
        } else {
            0.0
        };
    }
    (
        files.iter().map(|f| f.mapped).sum(),
        files.iter().map(|f| f.nodata).sum(),
        files.iter().map(|f| f.rejected).sum(),
        classes,
    )
}

fn report(files: Vec<MapFile>, sources: usize, t0: Instant, what: serde_json::Value) -> MapReport {
    let (mapped, nodata, rejected, classes) = totals(&files);
    let seconds = t0.elapsed().as_secs_f64();
    MapReport {
        files,
        sources,
        mapped,
        nodata,
        rejected,
        classes,
        seconds,
        pixels_per_second: (mapped + nodata) as f64 / seconds.max(1e-9),
        what,
    }
}

// ---------------------------------------------------------------------------------------
// predict
// ---------------------------------------------------------------------------------------

/// A model as a pixel map.
struct ModelMap<'a>(&'a Model);

impl PixelMap for ModelMap<'_> {
    fn map(&self, x: &[f32], _d: usize) -> std::result::Result<Mapped, PictureError> {
        Ok(match self.0.head.predict(x) {
            Prediction::Classes(class, proba) => Mapped::Classes { class, proba },
            Prediction::Values(v) => Mapped::Values(v.iter().map(|&v| v as f32).collect()),
        })
    }
}

/// What `tessera predict` asks for beyond the region.
#[derive(Debug, Clone, Default)]
pub struct PredictOptions {
    /// The model file.
    pub model: PathBuf,
    /// Write per-class probabilities.
    pub proba: bool,
    /// Write confidence bands.
    pub confidence: bool,
    /// Reject pixels whose largest probability is below this (value 255).
    pub reject_below: Option<f32>,
}

fn load_model(path: &Path) -> Result<(Model, String)> {
    let m = Model::load(path).map_err(learn_error)?;
    let bytes = std::fs::read(path).map_err(|e| ClientError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    use sha2::Digest;
    let sha = format!("{:x}", sha2::Sha256::digest(&bytes));
    Ok((m, sha))
}

fn check_model(m: &Model, dims: usize, version: Option<&str>) -> Result<()> {
    let norm = |v: &str| tessera_core::dataset::parse_version(v).path;
    let mv = m.dataset_version.as_deref().map(norm);
    let dv = version.map(norm);
    let mut probe = m.clone();
    probe.dataset_version = mv;
    probe.check_data(dims, dv.as_deref()).map_err(learn_error)
}

/// `tessera predict` over a region: the model's class (or value) map.
pub fn predict(
    ctx: &crate::Context,
    dataset: &DatasetOptions,
    req: &MapRequest,
    opts: &PredictOptions,
    progress: &Progress,
) -> Result<MapReport> {
    let t0 = Instant::now();
    check_output(&req.output)?;
    let (model, sha) = load_model(&opts.model)?;
    if model.classes.is_none() && (opts.proba || opts.confidence || opts.reject_below.is_some()) {
        return Err(usage(
            "--proba, --confidence and --reject-below apply to class models; this one predicts values",
        ));
    }
    if let Some(t) = opts.reject_below
        && !(0.0..=1.0).contains(&t)
    {
        return Err(usage(format!(
            "--reject-below must be a probability between 0 and 1, got {t}"
        )));
    }
    let region = resolve_region(&req.region, progress)?;
    let bbox = region.bounds();
    if matches!(req.source, DataSource::Tiles { .. }) {
        // Refused before any tile is fetched.
        check_model(&model, model.dims, Some(&dataset.version))?;
    }
    let data = open(ctx, dataset, req, &bbox, progress)?;
    check_model(&model, data.bands()?, data.version().as_deref())?;
    let style = match &model.classes {
        Some(t) => MapStyle::Classes {
            classes: t
                .classes
                .iter()
                .map(|c| ClassStyle {
                    name: c.name.clone(),
                    colour: c.colour,
                })
                .collect(),
            proba: opts.proba,
            confidence: opts.confidence,
            reject_below: opts.reject_below,
        },
        None => MapStyle::Values {
            name: "prediction".into(),
            threshold: None,
            top: 0,
            min_group_pixels: 0,
        },
    };
    let mut md = GdalMetadata::default();
    md.set("head", model.spec.name());
    md.set("model_sha256", sha.clone());
    if let Some(v) = &model.dataset_version {
        md.set("dataset_version", v.clone());
    }
    if let Some(y) = model.provenance.get("year").and_then(|v| v.as_i64()) {
        md.set("train_year", y.to_string());
    }
    let files = data.with(&bbox, req.year, progress, &mut |s| {
        s.write(&bbox, req, &ModelMap(&model), &style, &md, progress)
    })?;
    let n = data.count(&bbox, req.year, progress)?;
    if let Some(y) = model.provenance.get("year").and_then(|v| v.as_i64())
        && y != i64::from(req.year)
    {
        progress.warn(format!(
            "the model was trained on {y} embeddings and maps {}: transfer across years is \
             not validated by its cross-validation",
            req.year
        ));
    }
    Ok(report(
        files,
        n,
        t0,
        serde_json::json!({"head": model.spec.name(), "model": opts.model, "model_sha256": sha}),
    ))
}

/// Predictions at points written beside the input's columns.
#[derive(Debug, Clone, Serialize)]
pub struct PointPredictions {
    /// The table written.
    pub path: PathBuf,
    /// Points read.
    pub points: usize,
    /// Points predicted.
    pub predicted: usize,
    /// Points without an embedding (empty prediction).
    pub missing: usize,
}

/// `tessera predict --points`: the model at each point of `points` (as `sample` takes
/// them), written to `output` (CSV or Parquet) with the input's columns, `prediction`
/// (class name or value), `class_id` and, for classes, `probability`.
#[allow(clippy::too_many_arguments)]
pub fn predict_points(
    ctx: &crate::Context,
    dataset: &DatasetOptions,
    model_path: &Path,
    points: &Path,
    points_crs: Option<Crs>,
    year: i32,
    source: &DataSource,
    output: &Path,
    progress: &Progress,
) -> Result<PointPredictions> {
    let (model, _) = load_model(model_path)?;
    let table = read_points_in(points, points_crs)?;
    if table.is_empty() {
        return Err(usage(format!("{}: no points", points.display())));
    }
    let (values, bands, version) = sample_table(ctx, dataset, &table, year, source, progress)?;
    check_model(&model, bands, version.as_deref())?;
    let n = table.len();
    let valid: Vec<usize> = (0..n).filter(|&i| values[i * bands].is_finite()).collect();
    let mut x = Vec::with_capacity(valid.len() * bands);
    for &i in &valid {
        x.extend_from_slice(&values[i * bands..(i + 1) * bands]);
    }
    let mut out = table.clone();
    out.columns
        .retain(|c| !matches!(c.name(), "prediction" | "class_id" | "probability"));
    let pred = if valid.is_empty() {
        None
    } else {
        Some(model.head.predict(&x))
    };
    match (&pred, &model.classes) {
        (Some(Prediction::Classes(cls, proba)), Some(t)) => {
            let c = t.len();
            let mut name = vec![None; n];
            let mut id = vec![None; n];
            let mut p = vec![None; n];
            for (k, &i) in valid.iter().enumerate() {
                let ci = cls[k] as usize;
                name[i] = Some(t.classes[ci].name.clone());
                id[i] = Some(i64::from(t.classes[ci].id));
                p[i] = proba.get(k * c + ci).map(|&v| f64::from(v));
            }
            out.columns.push(Column::Text("prediction".into(), name));
            out.columns.push(Column::Int("class_id".into(), id));
            out.columns.push(Column::Float("probability".into(), p));
        }
        (Some(Prediction::Values(v)), _) => {
            let mut col = vec![None; n];
            for (k, &i) in valid.iter().enumerate() {
                col[i] = Some(v[k]);
            }
            out.columns.push(Column::Float("prediction".into(), col));
        }
        _ => {
            out.columns
                .push(Column::Text("prediction".into(), vec![None; n]));
        }
    }
    let ext = output
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext != "csv" && ext != "parquet" {
        return Err(usage(format!(
            "{}: predictions at points are written as .csv or .parquet",
            output.display()
        )));
    }
    tessera_client::points::write_samples(output, &out, &[], 0, None)?;
    if valid.len() < n {
        progress.warn(format!(
            "{} of {n} points have no embedding for {year} (outside coverage, water or \
             nodata): their prediction is empty",
            n - valid.len()
        ));
    }
    Ok(PointPredictions {
        path: output.to_path_buf(),
        points: n,
        predicted: valid.len(),
        missing: n - valid.len(),
    })
}

/// The embeddings at a table's points, with where each came from.
pub(crate) struct Sampled {
    /// `points x bands`, NaN rows where there is none.
    pub values: Vec<f32>,
    /// Bands.
    pub bands: usize,
    /// The dataset version of the embeddings.
    pub version: Option<String>,
    /// Per point: the pixel read (`tile or zone`, row, column).
    pub pixel: Vec<Option<(String, i64, i64)>>,
    /// Per point: outside coverage (no tile or zone grid holds it).
    pub outside: Vec<bool>,
}

/// The embeddings at a table's points from either source.
pub(crate) fn sample_points_of(
    ctx: &crate::Context,
    dataset: &DatasetOptions,
    table: &PointTable,
    year: i32,
    source: &DataSource,
    progress: &Progress,
) -> Result<Sampled> {
    match source {
        DataSource::Tiles { dir, offline } => {
            let ds = TileDataset::open(ctx, dataset, progress)?;
            let s = ds.sample_points(
                &table.lon,
                &table.lat,
                year,
                &SampleSource::TilesDir {
                    dir: dir.clone(),
                    offline: *offline,
                },
                progress,
            )?;
            let pixel = s
                .meta
                .iter()
                .map(|m| match (m.tile, m.row, m.col) {
                    (Some(t), Some(r), Some(c)) => Some((t.name(), r, c)),
                    _ => None,
                })
                .collect();
            let outside = s.meta.iter().map(|m| m.status != "ok").collect();
            Ok(Sampled {
                values: s.values,
                bands: s.bands,
                version: Some(ds.dataset().version.path.clone()),
                pixel,
                outside,
            })
        }
        DataSource::Zarr { store, depth } => {
            let st = Store::open(
                ctx,
                store.clone(),
                &crate::store::OpenOptions { concurrency: 16 },
            )?;
            let pts: Vec<(f64, f64)> = table
                .lon
                .iter()
                .copied()
                .zip(table.lat.iter().copied())
                .collect();
            let opts = crate::store::PointOptions {
                depth: *depth,
                ..Default::default()
            };
            let s = st.sample_points(&pts, year, &opts, progress)?;
            let pixel = (0..s.len())
                .map(|i| s.zone[i].map(|z| (format!("zone {z}"), s.row[i] as i64, s.col[i] as i64)))
                .collect();
            let outside = s
                .status
                .iter()
                .map(|st| *st == crate::store::Status::Outside)
                .collect();
            Ok(Sampled {
                values: s.values,
                bands: s.bands,
                version: st.dataset().map(|d| d.version.path.clone()),
                pixel,
                outside,
            })
        }
    }
}

fn sample_table(
    ctx: &crate::Context,
    dataset: &DatasetOptions,
    table: &PointTable,
    year: i32,
    source: &DataSource,
    progress: &Progress,
) -> Result<(Vec<f32>, usize, Option<String>)> {
    let s = sample_points_of(ctx, dataset, table, year, source, progress)?;
    Ok((s.values, s.bands, s.version))
}

// ---------------------------------------------------------------------------------------
// similar
// ---------------------------------------------------------------------------------------

/// How example embeddings become one score per pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SimilarityMethod {
    /// Cosine to the mean of the unit-length positives (the mean of the cosines).
    MeanCosine,
    /// The largest cosine to any positive.
    MaxCosine,
    /// Cosine to `2 mean(positives) - mean(negatives)` (unit-length examples).
    PosNeg,
}

impl std::str::FromStr for SimilarityMethod {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "mean-cosine" | "mean" => Ok(SimilarityMethod::MeanCosine),
            "max-cosine" | "max" => Ok(SimilarityMethod::MaxCosine),
            "pos-neg" | "2pos-neg" => Ok(SimilarityMethod::PosNeg),
            _ => Err(format!(
                "--method must be mean-cosine, max-cosine or pos-neg, got '{s}'"
            )),
        }
    }
}

/// What `tessera similar` asks for beyond the region.
#[derive(Debug, Clone)]
pub struct SimilarOptions {
    /// Positive examples (lon, lat).
    pub positives: Vec<(f64, f64)>,
    /// Negative examples (lon, lat).
    pub negatives: Vec<(f64, f64)>,
    /// More positive examples: a label file (points or polygons, any format `labels`
    /// reads); a polygon stands for the pixels whose centres it holds.
    pub positive_file: Option<PathBuf>,
    /// More negative examples, as `positive_file`.
    pub negative_file: Option<PathBuf>,
    /// The CRS of example files that do not state one (CSV x,y columns).
    pub examples_crs: Option<Crs>,
    /// The scoring.
    pub method: SimilarityMethod,
    /// Write a mask and groups above this score.
    pub threshold: Option<f32>,
    /// Report this many best pixels.
    pub top: usize,
    /// Smallest group reported, in pixels.
    pub min_group_pixels: u64,
}

/// Unit-length query vectors.
struct Similarity {
    queries: Vec<Vec<f32>>,
    max: bool,
}

fn unit(v: &[f32]) -> Option<Vec<f32>> {
    let n = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    (n > 0.0 && n.is_finite()).then(|| v.iter().map(|&x| (f64::from(x) / n) as f32).collect())
}

impl PixelMap for Similarity {
    fn map(&self, x: &[f32], d: usize) -> std::result::Result<Mapped, PictureError> {
        let mut out = Vec::with_capacity(x.len() / d);
        for px in x.chunks_exact(d) {
            let n = px.iter().map(|&v| v * v).sum::<f32>().sqrt();
            if n <= 0.0 {
                out.push(f32::NAN);
                continue;
            }
            let mut best = f32::NEG_INFINITY;
            for q in &self.queries {
                let dot: f32 = px.iter().zip(q).map(|(a, b)| a * b).sum();
                best = best.max(dot / n);
                if !self.max {
                    break;
                }
            }
            out.push(best.clamp(-1.0, 1.0));
        }
        Ok(Mapped::Values(out))
    }
}

fn example_vectors(
    ctx: &crate::Context,
    dataset: &DatasetOptions,
    pts: &[(f64, f64)],
    year: i32,
    source: &DataSource,
    what: &str,
    progress: &Progress,
) -> Result<(Vec<Vec<f32>>, usize, usize)> {
    let table = PointTable {
        lon: pts.iter().map(|p| p.0).collect(),
        lat: pts.iter().map(|p| p.1).collect(),
        columns: Vec::new(),
    };
    let (v, b, _) = sample_table(ctx, dataset, &table, year, source, progress)?;
    let mut out = Vec::new();
    for i in 0..pts.len() {
        if let Some(u) = unit(&v[i * b..(i + 1) * b]) {
            out.push(u);
        }
    }
    let missing = pts.len() - out.len();
    if out.is_empty() {
        return Err(ClientError::NoData(format!(
            "none of the {} {what} examples has an embedding for {year} (outside coverage, \
             water or nodata); choose examples on covered land",
            pts.len()
        )));
    }
    Ok((out, b, missing))
}

/// Example pixels taken from one file: enough to stand for a polygon class, few enough to
/// sample in seconds.
const EXAMPLE_PIXELS: usize = 10_000;
/// The most examples max-cosine compares every pixel with.
const MAX_QUERIES: usize = 256;

/// Examples given as coordinates and in a file, together.
fn examples(
    points: &[(f64, f64)],
    file: Option<&Path>,
    crs: Option<Crs>,
) -> Result<Vec<(f64, f64)>> {
    let mut v = points.to_vec();
    if let Some(f) = file {
        let (p, _) = super::labels::example_pixels(f, crs, EXAMPLE_PIXELS)?;
        if p.is_empty() {
            return Err(usage(format!(
                "{}: no example points or polygons",
                f.display()
            )));
        }
        v.extend(p);
    }
    Ok(v)
}

/// `tessera similar`: cosine similarity of every pixel of a region to example pixels.
pub fn similar(
    ctx: &crate::Context,
    dataset: &DatasetOptions,
    req: &MapRequest,
    opts: &SimilarOptions,
    progress: &Progress,
) -> Result<MapReport> {
    let t0 = Instant::now();
    check_output(&req.output)?;
    let positives = examples(
        &opts.positives,
        opts.positive_file.as_deref(),
        opts.examples_crs,
    )?;
    let negatives = examples(
        &opts.negatives,
        opts.negative_file.as_deref(),
        opts.examples_crs,
    )?;
    if positives.is_empty() {
        return Err(usage(
            "give at least one positive example (--query FILE or --lonlat LON,LAT)",
        ));
    }
    if opts.method == SimilarityMethod::PosNeg && negatives.is_empty() {
        return Err(usage(
            "--method pos-neg needs negative examples (--negative)",
        ));
    }
    if let Some(t) = opts.threshold
        && !(-1.0..=1.0).contains(&t)
    {
        return Err(usage(format!(
            "--threshold is a cosine between -1 and 1, got {t}"
        )));
    }
    let region = resolve_region(&req.region, progress)?;
    let bbox = region.bounds();
    let (mut pos, d, missing) = example_vectors(
        ctx,
        dataset,
        &positives,
        req.year,
        &req.source,
        "positive",
        progress,
    )?;
    if missing > 0 {
        progress.warn(format!(
            "{missing} positive examples have no embedding for {} and are left out",
            req.year
        ));
    }
    let mean = |v: &[Vec<f32>]| -> Vec<f32> {
        let mut m = vec![0f32; d];
        for x in v {
            for (a, b) in m.iter_mut().zip(x) {
                *a += b / v.len() as f32;
            }
        }
        m
    };
    if opts.method == SimilarityMethod::MaxCosine && pos.len() > MAX_QUERIES {
        progress.warn(format!(
            "max-cosine scores every pixel against each example: {} examples are thinned \
             evenly to {MAX_QUERIES} (mean-cosine uses them all)",
            pos.len()
        ));
        let n = pos.len();
        pos = (0..MAX_QUERIES)
            .map(|i| pos[i * n / MAX_QUERIES].clone())
            .collect();
    }
    let mut n_neg = 0;
    let op = match opts.method {
        SimilarityMethod::MaxCosine => Similarity {
            queries: pos.clone(),
            max: true,
        },
        SimilarityMethod::MeanCosine => Similarity {
            queries: vec![unit(&mean(&pos)).ok_or_else(|| usage("the positives cancel out"))?],
            max: false,
        },
        SimilarityMethod::PosNeg => {
            let (neg, _, _) = example_vectors(
                ctx,
                dataset,
                &negatives,
                req.year,
                &req.source,
                "negative",
                progress,
            )?;
            n_neg = neg.len();
            let (mp, mn) = (mean(&pos), mean(&neg));
            let q: Vec<f32> = mp.iter().zip(&mn).map(|(p, n)| 2.0 * p - n).collect();
            Similarity {
                queries: vec![unit(&q).ok_or_else(|| usage("the examples cancel out"))?],
                max: false,
            }
        }
    };
    let data = open(ctx, dataset, req, &bbox, progress)?;
    if data.bands()? != d {
        return Err(usage("the examples and the region have different depths"));
    }
    let style = MapStyle::Values {
        name: "cosine similarity".into(),
        threshold: opts.threshold,
        top: opts.top,
        min_group_pixels: opts.min_group_pixels,
    };
    let mut md = GdalMetadata::default();
    md.set("similarity_method", format!("{:?}", opts.method));
    md.set("positives", pos.len().to_string());
    md.set("negatives", n_neg.to_string());
    let files = data.with(&bbox, req.year, progress, &mut |s| {
        s.write(&bbox, req, &op, &style, &md, progress)
    })?;
    let n = data.count(&bbox, req.year, progress)?;
    Ok(report(
        files,
        n,
        t0,
        serde_json::json!({"method": opts.method, "positives": pos.len(), "negatives": n_neg}),
    ))
}

/// Writes a similarity report's groups (polygons, with a centroid property) and top
/// pixels as GeoJSON feature collections.
pub fn write_matches(
    report: &MapReport,
    polygons: Option<&Path>,
    top: Option<&Path>,
) -> Result<()> {
    use serde_json::json;
    let write = |p: &Path, v: serde_json::Value| -> Result<()> {
        tessera_formats::atomic::write_atomic(p, |f| {
            use std::io::Write;
            f.write_all((v.to_string() + "\n").as_bytes())
        })
        .map_err(|e| ClientError::Io {
            path: p.to_path_buf(),
            source: e,
        })
    };
    if let Some(p) = polygons {
        let mut feats = Vec::new();
        for f in &report.files {
            for g in &f.groups {
                feats.push(json!({
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [g.hull.iter().map(|(x, y)| [*x, *y]).collect::<Vec<_>>()]},
                    "properties": {"pixels": g.pixels, "hectares": g.hectares, "mean": g.mean,
                                   "max": g.max, "centroid_lon": g.centroid.0, "centroid_lat": g.centroid.1,
                                   "map": f.path}
                }));
                feats.push(json!({
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [g.centroid.0, g.centroid.1]},
                    "properties": {"pixels": g.pixels, "hectares": g.hectares, "mean": g.mean, "max": g.max,
                                   "kind": "centroid"}
                }));
            }
        }
        write(p, json!({"type": "FeatureCollection", "features": feats}))?;
    }
    if let Some(p) = top {
        let mut all: Vec<&TopPixel> = report.files.iter().flat_map(|f| &f.top).collect();
        all.sort_by(|a, b| b.value.total_cmp(&a.value));
        let n = report.files.iter().map(|f| f.top.len()).max().unwrap_or(0);
        let feats: Vec<_> = all
            .into_iter()
            .take(n)
            .enumerate()
            .map(|(i, t)| {
                json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [t.lon, t.lat]},
                       "properties": {"rank": i + 1, "similarity": t.value}})
            })
            .collect();
        write(p, json!({"type": "FeatureCollection", "features": feats}))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// cluster
// ---------------------------------------------------------------------------------------

/// What `tessera cluster` asks for beyond the region.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Clusters.
    pub k: usize,
    /// Pixels sampled to fit the centres.
    pub sample: usize,
    /// Seed.
    pub seed: u64,
}

struct Clusters(kmeans::KMeans);

impl PixelMap for Clusters {
    fn map(&self, x: &[f32], _d: usize) -> std::result::Result<Mapped, PictureError> {
        Ok(Mapped::Classes {
            class: self.0.predict(x),
            proba: Vec::new(),
        })
    }
}

/// `tessera cluster`: k-means fitted on a sample of the region's pixels, mapped over it.
pub fn cluster(
    ctx: &crate::Context,
    dataset: &DatasetOptions,
    req: &MapRequest,
    opts: &ClusterOptions,
    progress: &Progress,
) -> Result<MapReport> {
    let t0 = Instant::now();
    check_output(&req.output)?;
    if !(2..=254).contains(&opts.k) {
        return Err(usage(format!("--k must be 2 to 254, got {}", opts.k)));
    }
    if opts.sample < opts.k {
        return Err(usage("--sample must be at least --k"));
    }
    let region = resolve_region(&req.region, progress)?;
    let bbox = region.bounds();
    let data = open(ctx, dataset, req, &bbox, progress)?;
    let d = data.bands()?;
    let (x, seen) = data.with(&bbox, req.year, progress, &mut |s| {
        s.sample(&bbox, req, opts.sample, opts.seed, progress)
    })?;
    if seen < opts.k {
        return Err(ClientError::NoData(format!(
            "the region has {seen} pixels with embeddings, fewer than --k {}",
            opts.k
        )));
    }
    progress.start_phase("k-means", 1);
    let km = kmeans::fit(
        &x,
        d,
        &KMeansOptions {
            k: opts.k,
            seed: opts.seed,
            ..Default::default()
        },
    )
    .map_err(learn_error)?;
    let inertia = km.inertia;
    let palette = tessera_learn::classes::ClassTable::from_labels(
        (1..=opts.k)
            .map(|i| format!("cluster_{i:03}"))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
    )
    .map_err(learn_error)?;
    let style = MapStyle::Classes {
        classes: palette
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| ClassStyle {
                name: format!("cluster {}", i + 1),
                colour: c.colour,
            })
            .collect(),
        proba: false,
        confidence: false,
        reject_below: None,
    };
    let mut md = GdalMetadata::default();
    md.set("head", "kmeans");
    md.set("k", opts.k.to_string());
    md.set("seed", opts.seed.to_string());
    md.set("sampled_pixels", (x.len() / d).to_string());
    let op = Clusters(km);
    let files = data.with(&bbox, req.year, progress, &mut |s| {
        s.write(&bbox, req, &op, &style, &md, progress)
    })?;
    let n = data.count(&bbox, req.year, progress)?;
    Ok(report(
        files,
        n,
        t0,
        serde_json::json!({"head": "kmeans", "k": opts.k, "sampled": x.len() / d, "inertia": inertia, "seed": opts.seed}),
    ))
}
