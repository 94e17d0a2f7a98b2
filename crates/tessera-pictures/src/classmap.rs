//! Maps computed pixel by pixel from embeddings (a trained head's classes or values, a
//! similarity to examples, k-means clusters), streamed strip by strip from a [`Mosaic`]
//! within its memory budget and written the way GIS tools read them at once:
//!
//! - classes: a uint8 GeoTIFF (0 = nodata, classes 1..C, 255 = rejected) with a palette
//!   colour table (TIFF ColorMap), `class_N` tags, a PAM sidecar (`.tif.aux.xml`) with the
//!   category names GDAL reports, a QGIS style (`.qml`, paletted renderer) and a legend
//!   CSV (id, name, colour, pixels, hectares, %); optional per-class probabilities (uint8,
//!   p x 250, 255 nodata) and confidence bands (max-p, margin, entropy);
//! - values: a float32 GeoTIFF (NaN nodata), an optional mask above a threshold, the
//!   connected groups of pixels above it (centroid, convex hull, area) and the top-N pixels;
//! - both: an RGBA PNG quicklook with a world file (`.pgw`), at most 2048 pixels a side.

use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tessera_core::Crs;
use tessera_formats::DType;
use tessera_formats::dtype::Element;
use tessera_formats::geotiff::{
    BigTiff, Compression, GdalMetadata, GeoTiffFile, GeoTiffSpec, Interleave, Layout, Photometric,
    Predictor,
};

use crate::PictureError;
use crate::mosaic::{Mosaic, Source};

/// One class of a class map: the raster value is its position + 1.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassStyle {
    /// Its name.
    pub name: String,
    /// Its colour.
    pub colour: [u8; 3],
}

/// What a pixel map computes for a run of valid pixels.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// A 0-based class per pixel and, when the map wants them, `pixels x classes`
    /// probabilities (empty otherwise).
    Classes {
        /// Classes.
        class: Vec<u32>,
        /// Probabilities.
        proba: Vec<f32>,
    },
    /// One value per pixel.
    Values(Vec<f32>),
}

/// A computation from a pixel's embedding to its class or value.
pub trait PixelMap: Sync {
    /// Maps `x` (`n x d` valid embeddings).
    fn map(&self, x: &[f32], d: usize) -> Result<Mapped, PictureError>;
}

/// What a map is and which files it writes.
#[derive(Debug, Clone)]
pub enum MapStyle {
    /// A class map.
    Classes {
        /// The classes, in raster order (value 1 first).
        classes: Vec<ClassStyle>,
        /// Write `{stem}_proba.tif`.
        proba: bool,
        /// Write `{stem}_confidence.tif`.
        confidence: bool,
        /// Pixels whose largest probability is below this get 255 (rejected).
        reject_below: Option<f32>,
    },
    /// A map of values.
    Values {
        /// The band's description.
        name: String,
        /// Write `{stem}_mask.tif` (1 above, 0 below, 255 nodata) and group the pixels
        /// above it.
        threshold: Option<f32>,
        /// Keep this many highest pixels.
        top: usize,
        /// Groups smaller than this many pixels are not reported.
        min_group_pixels: u64,
    },
}

/// A class's share of a map.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClassArea {
    /// Raster value.
    pub id: u8,
    /// Name.
    pub name: String,
    /// Colour (`#rrggbb`).
    pub colour: String,
    /// Pixels.
    pub pixels: u64,
    /// Area in hectares.
    pub hectares: f64,
    /// Share of the mapped pixels, in percent.
    pub percent: f64,
}

/// A group of connected pixels above the threshold.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Group {
    /// Pixels.
    pub pixels: u64,
    /// Area in hectares.
    pub hectares: f64,
    /// Centroid (lon, lat).
    pub centroid: (f64, f64),
    /// Mean value.
    pub mean: f64,
    /// Largest value.
    pub max: f64,
    /// Convex hull of the pixels' corners, lon/lat, closed.
    pub hull: Vec<(f64, f64)>,
}

/// A pixel among the highest values.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TopPixel {
    /// Value.
    pub value: f32,
    /// Longitude of its centre.
    pub lon: f64,
    /// Latitude of its centre.
    pub lat: f64,
    /// Row on the map.
    pub row: usize,
    /// Column on the map.
    pub col: usize,
}

/// What writing a map did.
#[derive(Debug, Clone, Default)]
pub struct MapWritten {
    /// The map.
    pub path: PathBuf,
    /// Every other file written (sidecars, probabilities, quicklook).
    pub sidecars: Vec<PathBuf>,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Pixels given a class or value.
    pub mapped: u64,
    /// Pixels without data.
    pub nodata: u64,
    /// Pixels rejected (below `reject_below`).
    pub rejected: u64,
    /// Area per class (class maps).
    pub classes: Vec<ClassArea>,
    /// Values: smallest, largest, mean.
    pub value_range: Option<(f64, f64, f64)>,
    /// Pixels above the threshold.
    pub above: u64,
    /// Groups above the threshold (largest first).
    pub groups: Vec<Group>,
    /// The highest pixels (highest first).
    pub top: Vec<TopPixel>,
    /// Output rows rendered at a time.
    pub strip_rows: usize,
    /// Values: the 2nd and 98th percentiles (of at most a million evenly spread pixels),
    /// the stretch of the quicklook and of the QGIS style.
    pub stretch: Option<(f64, f64)>,
}

/// Pixels a value map's percentiles are taken from, at most.
const STRETCH_SAMPLE: usize = 1_000_000;

/// Largest side of a quicklook.
const QUICKLOOK: usize = 2048;

fn io(e: impl std::fmt::Display) -> PictureError {
    PictureError::Io(e.to_string())
}

/// `{stem}{suffix}.{ext}` beside `path`.
pub fn sibling(path: &Path, suffix: &str, ext: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}{suffix}.{ext}"))
}

fn spec(w: usize, h: usize, bands: usize, dtype: DType, m: &crate::TargetGrid) -> GeoTiffSpec {
    let mut s = GeoTiffSpec::new(w as u32, h as u32, bands as u16, dtype);
    s.layout = Layout::Tiled(256);
    s.interleave = Interleave::Pixel;
    s.compression = Compression::Deflate(6);
    s.predictor = if dtype.is_float() {
        Predictor::FloatingPoint
    } else {
        Predictor::Horizontal
    };
    s.bigtiff = BigTiff::Auto;
    s.photometric = Photometric::MinIsBlack;
    s.georef = Some((m.crs, m.transform));
    s
}

/// The area of one pixel of row `row` in square metres.
fn pixel_area(g: &crate::TargetGrid, row: usize) -> f64 {
    let t = &g.transform;
    let (x, y) = g.centre(g.width / 2, row);
    let (_, lat) = g.crs.inverse(x, y);
    let cos = lat.to_radians().cos();
    match g.crs {
        Crs::Wgs84 => {
            // Metres per degree on the WGS84 ellipsoid, near enough for areas.
            let m = 111_320.0;
            (t.a * m * cos).abs() * (t.e * m).abs()
        }
        Crs::WebMercator => (t.a * t.e).abs() * cos * cos,
        _ => (t.a * t.e).abs(),
    }
}

/// Streaming labelling of connected pixels (8-connectivity) above a threshold.
#[derive(Default)]
struct Groups {
    parent: Vec<usize>,
    stats: Vec<GroupStats>,
    /// The previous row's runs: (c0, c1 exclusive, label).
    prev: Vec<(usize, usize, usize)>,
}

#[derive(Default, Clone)]
struct GroupStats {
    pixels: u64,
    area: f64,
    sx: f64,
    sy: f64,
    sum: f64,
    max: f64,
    /// Corners of the runs (map coordinates), pruned to their hull now and then.
    corners: Vec<(f64, f64)>,
}

impl Groups {
    fn find(&mut self, mut a: usize) -> usize {
        while self.parent[a] != a {
            self.parent[a] = self.parent[self.parent[a]];
            a = self.parent[a];
        }
        a
    }
    fn union(&mut self, a: usize, b: usize) -> usize {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return ra;
        }
        let (keep, gone) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[gone] = keep;
        let g = std::mem::take(&mut self.stats[gone]);
        let k = &mut self.stats[keep];
        k.pixels += g.pixels;
        k.area += g.area;
        k.sx += g.sx;
        k.sy += g.sy;
        k.sum += g.sum;
        k.max = k.max.max(g.max);
        k.corners.extend(g.corners);
        if k.corners.len() > 4096 {
            k.corners = hull(&k.corners);
        }
        keep
    }
    /// Adds row `row` (`above[i]` with values) of grid `g`.
    fn add_row(&mut self, g: &crate::TargetGrid, row: usize, vals: &[f32], thr: f32) {
        let t = &g.transform;
        let area = pixel_area(g, row);
        let mut runs = Vec::new();
        let mut c = 0;
        let w = vals.len();
        while c < w {
            if vals[c] < thr || vals[c].is_nan() {
                c += 1;
                continue;
            }
            let c0 = c;
            while c < w && vals[c] >= thr {
                c += 1;
            }
            let label = self.parent.len();
            self.parent.push(label);
            let mut s = GroupStats {
                max: f64::NEG_INFINITY,
                ..Default::default()
            };
            for (k, &v) in vals[c0..c].iter().enumerate() {
                let (x, y) = g.centre(c0 + k, row);
                s.pixels += 1;
                s.area += area;
                s.sx += x;
                s.sy += y;
                s.sum += f64::from(v);
                s.max = s.max.max(f64::from(v));
            }
            let (x0, x1) = (t.c + c0 as f64 * t.a, t.c + c as f64 * t.a);
            let (y0, y1) = (t.f + row as f64 * t.e, t.f + (row + 1) as f64 * t.e);
            s.corners = vec![(x0, y0), (x1, y0), (x0, y1), (x1, y1)];
            self.stats.push(s);
            runs.push((c0, c, label));
        }
        // 8-connectivity: runs touch when their column spans overlap or meet diagonally.
        let prev = std::mem::take(&mut self.prev);
        let mut j = 0;
        for r in runs.iter_mut() {
            while j < prev.len() && prev[j].1 < r.0 {
                j += 1;
            }
            let mut k = j;
            while k < prev.len() && prev[k].0 <= r.1 {
                r.2 = self.union(r.2, prev[k].2);
                k += 1;
            }
        }
        self.prev = runs;
    }
    fn finish(mut self, g: &crate::TargetGrid, min_pixels: u64) -> Vec<Group> {
        let mut out = Vec::new();
        for i in 0..self.parent.len() {
            if self.find(i) != i {
                continue;
            }
            let s = std::mem::take(&mut self.stats[i]);
            if s.pixels < min_pixels.max(1) {
                continue;
            }
            let n = s.pixels as f64;
            let centroid = g.crs.inverse(s.sx / n, s.sy / n);
            let mut h: Vec<(f64, f64)> = hull(&s.corners)
                .into_iter()
                .map(|(x, y)| g.crs.inverse(x, y))
                .collect();
            if let Some(&f) = h.first() {
                h.push(f);
            }
            out.push(Group {
                pixels: s.pixels,
                hectares: s.area / 10_000.0,
                centroid,
                mean: s.sum / n,
                max: s.max,
                hull: h,
            });
        }
        out.sort_by_key(|g| std::cmp::Reverse(g.pixels));
        out
    }
}

/// The convex hull (Andrew's monotone chain), counter-clockwise, not closed.
fn hull(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut p = points.to_vec();
    p.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let cross = |o: (f64, f64), a: (f64, f64), b: (f64, f64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut h: Vec<(f64, f64)> = Vec::with_capacity(2 * p.len());
    // The lower chain left to right, then the upper chain right to left.
    for pass in 0..2 {
        let start = h.len();
        let pts: Box<dyn Iterator<Item = &(f64, f64)>> = if pass == 0 {
            Box::new(p.iter())
        } else {
            Box::new(p.iter().rev())
        };
        for &q in pts {
            while h.len() >= start + 2 && cross(h[h.len() - 2], h[h.len() - 1], q) <= 0.0 {
                h.pop();
            }
            h.push(q);
        }
        // The chain's last point starts the other chain.
        h.pop();
    }
    h
}

/// A top-N entry ordered by value (smallest first in the heap).
#[derive(PartialEq)]
struct Ranked(f32, usize, usize);
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ranked {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Reversed: the heap's top is the smallest value (then the latest pixel).
        o.0.total_cmp(&self.0)
            .then(self.1.cmp(&o.1))
            .then(self.2.cmp(&o.2))
    }
}

/// The quicklook being collected: every `step`-th pixel of every `step`-th row.
struct Quicklook {
    step: usize,
    w: usize,
    h: usize,
    /// Classes (raster values) or values.
    classes: Vec<u8>,
    values: Vec<f32>,
}

impl Quicklook {
    fn new(width: usize, height: usize, classes: bool) -> Quicklook {
        let step = width.max(height).div_ceil(QUICKLOOK).max(1);
        let (w, h) = (width.div_ceil(step), height.div_ceil(step));
        Quicklook {
            step,
            w,
            h,
            classes: if classes { vec![0; w * h] } else { Vec::new() },
            values: if classes {
                Vec::new()
            } else {
                vec![f32::NAN; w * h]
            },
        }
    }
}

/// Probability as stored: p x 250, rounded.
fn proba_u8(p: f32) -> u8 {
    (p.clamp(0.0, 1.0) * 250.0).round() as u8
}

/// A file being written and where it goes.
struct Out {
    file: GeoTiffFile,
}

impl Out {
    fn create(path: &Path, spec: GeoTiffSpec) -> Result<Out, PictureError> {
        Ok(Out {
            file: GeoTiffFile::create(path, spec).map_err(io)?,
        })
    }
    fn rows<T: Element>(&mut self, v: &[T]) -> Result<(), PictureError> {
        self.file.writer().write_rows(v).map_err(io)
    }
    fn finish(self) -> Result<PathBuf, PictureError> {
        self.file.finish().map_err(io)
    }
}

/// Renders `m` through `op` and writes the map at `path` (and its sidecars) as `style`
/// says. Files appear under their final names only when complete; on an error or
/// cancellation none of this call's files is left behind.
#[allow(clippy::too_many_arguments)]
pub fn write_map<S: Source>(
    m: &Mosaic<S>,
    op: &dyn PixelMap,
    style: &MapStyle,
    path: &Path,
    metadata: GdalMetadata,
    png: bool,
    cancelled: &dyn Fn() -> bool,
    progress: &dyn Fn(u64, u64),
) -> Result<MapWritten, PictureError> {
    let mut done: Vec<PathBuf> = Vec::new();
    let r = write_map_inner(
        m, op, style, path, metadata, png, cancelled, progress, &mut done,
    );
    if r.is_err() {
        for p in &done {
            let _ = std::fs::remove_file(p);
        }
    }
    r
}

/// The largest strip (and its windows) of a map whose sources read in place.
const IN_PLACE_STRIP_BYTES: usize = 48 << 20;

#[allow(clippy::too_many_arguments)]
fn write_map_inner<S: Source>(
    m: &Mosaic<S>,
    op: &dyn PixelMap,
    style: &MapStyle,
    path: &Path,
    metadata: GdalMetadata,
    png: bool,
    cancelled: &dyn Fn() -> bool,
    progress: &dyn Fn(u64, u64),
    done: &mut Vec<PathBuf>,
) -> Result<MapWritten, PictureError> {
    let g = &m.grid;
    let (w, h, d) = (g.width, g.height, m.bands);
    if w == 0 || h == 0 {
        return Err(PictureError::Usage("the map would be empty".into()));
    }
    let is_classes = matches!(style, MapStyle::Classes { .. });
    let budget = m.memory_bytes();
    // Strips of in-place sources stay small (a few tens of MB): the buffers are reused
    // from strip to strip instead of growing the process by the whole budget.
    let strip_budget = if m.windows_in_place() {
        (budget / 2).min(IN_PLACE_STRIP_BYTES)
    } else {
        budget / 2
    };
    let rows_per_strip = m.strip_rows_within(strip_budget)?.clamp(1, h);
    let mut strip = vec![0f32; rows_per_strip * w * d];

    // The files.
    let mut main_spec;
    let (mut proba_out, mut conf_out, mut mask_out) = (None, None, None);
    let mut ncls = 0;
    match style {
        MapStyle::Classes {
            classes,
            proba,
            confidence,
            reject_below,
        } => {
            ncls = classes.len();
            if ncls == 0 || ncls > 254 {
                return Err(PictureError::Usage(format!(
                    "a class map holds 1 to 254 classes, this model has {ncls}"
                )));
            }
            main_spec = spec(w, h, 1, DType::U8, g);
            let mut pal = vec![[0u8; 3]; 256];
            for (i, c) in classes.iter().enumerate() {
                pal[i + 1] = c.colour;
            }
            pal[255] = [128, 128, 128];
            main_spec.palette = Some(pal);
            main_spec.nodata = Some(0.0);
            let mut md = metadata.clone();
            for (i, c) in classes.iter().enumerate() {
                md.set(&format!("class_{}", i + 1), c.name.clone());
            }
            if let Some(t) = reject_below {
                md.set("reject_below", t.to_string());
            }
            main_spec.metadata = md;
            if *proba {
                let mut s = spec(w, h, ncls, DType::U8, g);
                s.nodata = Some(255.0);
                let mut md = metadata.clone();
                md.set("scale", "probability x 250 (255: no data)");
                for (i, c) in classes.iter().enumerate() {
                    md.set_band_description(i + 1, c.name.clone());
                }
                s.metadata = md;
                proba_out = Some((Out::create(&sibling(path, "_proba", "tif"), s)?, ncls));
            }
            if *confidence {
                let mut s = spec(w, h, 3, DType::F32, g);
                s.nodata = Some(f64::NAN);
                let mut md = metadata.clone();
                for (i, n) in ["max_probability", "margin", "entropy"].iter().enumerate() {
                    md.set_band_description(i + 1, *n);
                }
                s.metadata = md;
                conf_out = Some(Out::create(&sibling(path, "_confidence", "tif"), s)?);
            }
        }
        MapStyle::Values {
            name, threshold, ..
        } => {
            main_spec = spec(w, h, 1, DType::F32, g);
            main_spec.nodata = Some(f64::NAN);
            let mut md = metadata.clone();
            md.set_band_description(1, name.clone());
            main_spec.metadata = md;
            if let Some(t) = threshold {
                let mut s = spec(w, h, 1, DType::U8, g);
                s.nodata = Some(255.0);
                let mut md = metadata.clone();
                md.set("threshold", t.to_string());
                md.set_band_description(1, format!("{name} >= {t}"));
                s.metadata = md;
                mask_out = Some(Out::create(&sibling(path, "_mask", "tif"), s)?);
            }
        }
    }
    let mut main = Out::create(path, main_spec)?;

    let mut res = MapWritten {
        width: w,
        height: h,
        strip_rows: rows_per_strip,
        ..Default::default()
    };
    let mut counts = vec![0u64; ncls + 1];
    let mut area = vec![0f64; ncls + 1];
    let (mut vmin, mut vmax, mut vsum) = (f64::INFINITY, f64::NEG_INFINITY, 0f64);
    let mut ql = png.then(|| Quicklook::new(w, h, is_classes));
    let sample_every = (w * h).div_ceil(STRETCH_SAMPLE).max(1);
    let mut vsample: Vec<f32> = Vec::new();
    let (thr, top_n, min_group) = match style {
        MapStyle::Values {
            threshold,
            top,
            min_group_pixels,
            ..
        } => (*threshold, *top, *min_group_pixels),
        _ => (None, 0, 0),
    };
    let mut groups = thr.map(|_| Groups::default());
    let mut heap: BinaryHeap<Ranked> = BinaryHeap::new();

    let mut j = 0;
    while j < h {
        if cancelled() {
            return Err(PictureError::Cancelled);
        }
        let rows = rows_per_strip.min(h - j);
        let s = &mut strip[..rows * w * d];
        m.render(j, rows, s)?;
        // Valid pixels, gathered.
        let valid: Vec<usize> = (0..rows * w).filter(|&i| s[i * d].is_finite()).collect();
        // Each task gathers its chunk of valid pixels into a small buffer that stays in
        // cache (and is reused from the heap), rather than the strip being copied whole
        // into fresh memory first.
        // At least eight tasks per thread, so a costly head (a forest) keeps every
        // thread busy to the end of the strip.
        let chunk = (valid.len() / (rayon::current_num_threads() * 8)).clamp(256, 4096);
        let strip_ref: &[f32] = s;
        let parts: Vec<Mapped> = valid
            .par_chunks(chunk)
            .map(|idx| {
                // A run of consecutive pixels (all valid) is read in place.
                if let (Some(&a), Some(&z)) = (idx.first(), idx.last())
                    && z - a + 1 == idx.len()
                {
                    return op.map(&strip_ref[a * d..(z + 1) * d], d);
                }
                let mut x = Vec::with_capacity(idx.len() * d);
                for &i in idx {
                    x.extend_from_slice(&strip_ref[i * d..(i + 1) * d]);
                }
                op.map(&x, d)
            })
            .collect::<Result<_, _>>()?;
        res.nodata += (rows * w - valid.len()) as u64;
        res.mapped += valid.len() as u64;
        let row_area: Vec<f64> = (j..j + rows).map(|r| pixel_area(g, r)).collect();
        if is_classes {
            let MapStyle::Classes {
                reject_below,
                proba,
                confidence,
                ..
            } = style
            else {
                unreachable!("class style")
            };
            let want_p = *proba || *confidence || reject_below.is_some();
            let mut cls = vec![0u8; rows * w];
            let mut pb = if proba_out.is_some() {
                vec![255u8; rows * w * ncls]
            } else {
                Vec::new()
            };
            let mut cf = if conf_out.is_some() {
                vec![f32::NAN; rows * w * 3]
            } else {
                Vec::new()
            };
            let mut k = 0;
            for part in parts {
                let Mapped::Classes { class, proba: p } = part else {
                    return Err(PictureError::Source(
                        "the map gave values where classes were expected".into(),
                    ));
                };
                if want_p && p.len() != class.len() * ncls {
                    return Err(PictureError::Source(
                        "the model gave no probabilities".into(),
                    ));
                }
                for (q, &c) in class.iter().enumerate() {
                    let i = valid[k];
                    k += 1;
                    let pr = if want_p {
                        &p[q * ncls..(q + 1) * ncls]
                    } else {
                        &[][..]
                    };
                    let mut v = (c as usize + 1).min(ncls) as u8;
                    if let Some(t) = reject_below {
                        let best = pr.iter().copied().fold(0f32, f32::max);
                        if best < *t {
                            v = 255;
                        }
                    }
                    cls[i] = v;
                    if !pb.is_empty() {
                        for (o, &pp) in pb[i * ncls..(i + 1) * ncls].iter_mut().zip(pr) {
                            *o = proba_u8(pp);
                        }
                    }
                    if !cf.is_empty() {
                        let (mut p1, mut p2, mut ent) = (0f32, 0f32, 0f64);
                        for &pp in pr {
                            if pp > p1 {
                                p2 = p1;
                                p1 = pp;
                            } else if pp > p2 {
                                p2 = pp;
                            }
                            if pp > 0.0 {
                                ent -= f64::from(pp) * f64::from(pp).ln();
                            }
                        }
                        cf[i * 3] = p1;
                        cf[i * 3 + 1] = p1 - p2;
                        cf[i * 3 + 2] = ent as f32;
                    }
                    let r = i / w;
                    if v == 255 {
                        res.rejected += 1;
                    } else {
                        counts[v as usize] += 1;
                        area[v as usize] += row_area[r];
                    }
                }
            }
            if let Some(q) = ql.as_mut() {
                for r in 0..rows {
                    let gr = j + r;
                    if gr % q.step != 0 {
                        continue;
                    }
                    for c in (0..w).step_by(q.step) {
                        q.classes[(gr / q.step) * q.w + c / q.step] = cls[r * w + c];
                    }
                }
            }
            main.rows(&cls)?;
            if let Some((o, _)) = proba_out.as_mut() {
                o.rows(&pb)?;
            }
            if let Some(o) = conf_out.as_mut() {
                o.rows(&cf)?;
            }
        } else {
            let mut vals = vec![f32::NAN; rows * w];
            let mut k = 0;
            for part in parts {
                let Mapped::Values(v) = part else {
                    return Err(PictureError::Source(
                        "the map gave classes where values were expected".into(),
                    ));
                };
                for &val in &v {
                    vals[valid[k]] = val;
                    k += 1;
                }
            }
            for (i, &v) in vals.iter().enumerate() {
                if !v.is_finite() {
                    continue;
                }
                if (j * w + i).is_multiple_of(sample_every) {
                    vsample.push(v);
                }
                let f = f64::from(v);
                vmin = vmin.min(f);
                vmax = vmax.max(f);
                vsum += f;
                if top_n > 0 {
                    let (r, c) = (j + i / w, i % w);
                    if heap.len() < top_n {
                        heap.push(Ranked(v, r, c));
                    } else if heap.peek().is_some_and(|t| v > t.0) {
                        heap.pop();
                        heap.push(Ranked(v, r, c));
                    }
                }
            }
            if let (Some(t), Some(o)) = (thr, mask_out.as_mut()) {
                let mask: Vec<u8> = vals
                    .iter()
                    .map(|&v| {
                        if !v.is_finite() {
                            255
                        } else {
                            u8::from(v >= t)
                        }
                    })
                    .collect();
                res.above += mask.iter().filter(|&&v| v == 1).count() as u64;
                o.rows(&mask)?;
            }
            if let (Some(t), Some(gr)) = (thr, groups.as_mut()) {
                for r in 0..rows {
                    gr.add_row(g, j + r, &vals[r * w..(r + 1) * w], t);
                }
            }
            if let Some(q) = ql.as_mut() {
                for r in 0..rows {
                    let gr = j + r;
                    if gr % q.step != 0 {
                        continue;
                    }
                    for c in (0..w).step_by(q.step) {
                        q.values[(gr / q.step) * q.w + c / q.step] = vals[r * w + c];
                    }
                }
            }
            main.rows(&vals)?;
        }
        j += rows;
        progress(j as u64, h as u64);
    }

    // Finish: the side files first, the map last (its final name means all are there).
    if let Some((o, _)) = proba_out {
        done.push(o.finish()?);
    }
    if let Some(o) = conf_out {
        done.push(o.finish()?);
    }
    if let Some(o) = mask_out {
        done.push(o.finish()?);
    }
    match style {
        MapStyle::Classes {
            classes,
            reject_below,
            ..
        } => {
            let total: u64 = counts.iter().sum();
            res.classes = classes
                .iter()
                .enumerate()
                .map(|(i, c)| ClassArea {
                    id: (i + 1) as u8,
                    name: c.name.clone(),
                    colour: hex(c.colour),
                    pixels: counts[i + 1],
                    hectares: area[i + 1] / 10_000.0,
                    percent: if total > 0 {
                        100.0 * counts[i + 1] as f64 / total as f64
                    } else {
                        0.0
                    },
                })
                .collect();
            let legend = sibling(path, ".legend", "csv");
            let mut csv = String::from("id,name,colour,pixels,hectares,percent\n");
            for c in &res.classes {
                csv.push_str(&format!(
                    "{},{},{},{},{:.4},{:.4}\n",
                    c.id,
                    csv_field(&c.name),
                    c.colour,
                    c.pixels,
                    c.hectares,
                    c.percent
                ));
            }
            write_text(&legend, &csv, done)?;
            write_text(
                &sibling(path, "", "qml"),
                &qml(classes, *reject_below),
                done,
            )?;
            let aux = PathBuf::from(format!("{}.aux.xml", path.display()));
            write_text(&aux, &aux_xml(classes, reject_below.is_some()), done)?;
        }
        MapStyle::Values { name, .. } => {
            if res.mapped > 0 {
                res.value_range = Some((vmin, vmax, vsum / res.mapped as f64));
            }
            vsample.sort_by(f32::total_cmp);
            if !vsample.is_empty() {
                let at =
                    |f: f64| f64::from(vsample[((vsample.len() - 1) as f64 * f).round() as usize]);
                res.stretch = Some((at(0.02), at(0.98)));
            }
            let (lo, hi) = res.stretch.unwrap_or((0.0, 1.0));
            write_text(&sibling(path, "", "qml"), &qml_values(name, lo, hi), done)?;
            if let Some(gr) = groups {
                res.groups = gr.finish(g, min_group);
            }
            let mut top: Vec<Ranked> = heap.into_vec();
            top.sort();
            res.top = top
                .into_iter()
                .map(|Ranked(v, r, c)| {
                    let (x, y) = g.centre(c, r);
                    let (lon, lat) = g.crs.inverse(x, y);
                    TopPixel {
                        value: v,
                        lon,
                        lat,
                        row: r,
                        col: c,
                    }
                })
                .collect();
        }
    }
    if let Some(q) = ql {
        let png_path = sibling(path, "", "png");
        let rgba = match style {
            MapStyle::Classes { classes, .. } => q
                .classes
                .iter()
                .flat_map(|&v| match v {
                    0 => [0, 0, 0, 0],
                    255 => [128, 128, 128, 255],
                    v => {
                        let c = classes[usize::from(v) - 1].colour;
                        [c[0], c[1], c[2], 255]
                    }
                })
                .collect::<Vec<u8>>(),
            MapStyle::Values { .. } => {
                let (lo, hi) = res.stretch.unwrap_or((0.0, 1.0));
                let (lo, hi) = (lo as f32, hi as f32);
                q.values
                    .iter()
                    .flat_map(|&v| {
                        if !v.is_finite() {
                            [0, 0, 0, 0]
                        } else {
                            let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                            let c = viridis(t);
                            [c[0], c[1], c[2], 255]
                        }
                    })
                    .collect()
            }
        };
        crate::png::write_rgba(&png_path, q.w, q.h, &rgba)?;
        done.push(png_path.clone());
        let t = &g.transform;
        let (sx, sy) = (t.a * q.step as f64, t.e * q.step as f64);
        let pgw = format!("{sx}\n0\n0\n{sy}\n{}\n{}\n", t.c + sx / 2.0, t.f + sy / 2.0);
        write_text(&sibling(path, "", "pgw"), &pgw, done)?;
        if let Some(wkt) = g.crs.epsg() {
            let aux = format!(
                "<PAMDataset>\n  <SRS dataAxisToSRSAxisMapping=\"{}\">EPSG:{wkt}</SRS>\n</PAMDataset>\n",
                if matches!(g.crs, Crs::Wgs84) {
                    "2,1"
                } else {
                    "1,2"
                }
            );
            write_text(
                &PathBuf::from(format!("{}.aux.xml", png_path.display())),
                &aux,
                done,
            )?;
        }
    }
    res.path = main.finish()?;
    res.sidecars = done.clone();
    Ok(res)
}

fn write_text(path: &Path, text: &str, done: &mut Vec<PathBuf>) -> Result<(), PictureError> {
    tessera_formats::atomic::write_atomic(path, |f| {
        use std::io::Write;
        f.write_all(text.as_bytes())
    })
    .map_err(|e| PictureError::Io(format!("{}: {e}", path.display())))?;
    done.push(path.to_path_buf());
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `#rrggbb`.
pub fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// The QGIS style of a class map: a paletted renderer with the class names as labels.
pub fn qml(classes: &[ClassStyle], reject: Option<f32>) -> String {
    let mut s = String::from(
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n\
         <qgis version=\"3.34.0\" styleCategories=\"AllStyleCategories\">\n  <pipe>\n    \
         <rasterrenderer type=\"paletted\" band=\"1\" opacity=\"1\" alphaBand=\"-1\" nodataColor=\"\">\n      \
         <rasterTransparency/>\n      <colorPalette>\n",
    );
    for (i, c) in classes.iter().enumerate() {
        s.push_str(&format!(
            "        <paletteEntry value=\"{}\" color=\"{}\" label=\"{}\" alpha=\"255\"/>\n",
            i + 1,
            hex(c.colour),
            xml_escape(&c.name)
        ));
    }
    if reject.is_some() {
        s.push_str(
            "        <paletteEntry value=\"255\" color=\"#808080\" label=\"rejected\" alpha=\"255\"/>\n",
        );
    }
    s.push_str("      </colorPalette>\n    </rasterrenderer>\n  </pipe>\n</qgis>\n");
    s
}

/// The QGIS style of a value map (similarity, regression): a pseudocolour renderer with
/// the viridis ramp stretched over `lo..hi` (the 2-98 % cumulative cut QGIS itself offers).
pub fn qml_values(name: &str, lo: f64, hi: f64) -> String {
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let mut items = String::new();
    for i in 0..=8 {
        let t = i as f64 / 8.0;
        let v = lo + t * (hi - lo);
        items.push_str(&format!(
            "          <item alpha=\"255\" value=\"{v}\" label=\"{v:.4}\" color=\"{}\"/>\n",
            hex(viridis(t as f32))
        ));
    }
    format!(
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n\
         <qgis version=\"3.34.0\" styleCategories=\"AllStyleCategories\">\n  <pipe>\n    \
         <rasterrenderer type=\"singlebandpseudocolor\" band=\"1\" opacity=\"1\" alphaBand=\"-1\" \
         classificationMin=\"{lo}\" classificationMax=\"{hi}\" nodataColor=\"\">\n      \
         <rasterTransparency/>\n      <minMaxOrigin>\n        <limits>CumulativeCut</limits>\n        \
         <extent>WholeRaster</extent>\n        <statAccuracy>Estimated</statAccuracy>\n        \
         <cumulativeCutLower>0.02</cumulativeCutLower>\n        \
         <cumulativeCutUpper>0.98</cumulativeCutUpper>\n        <stdDevFactor>2</stdDevFactor>\n      \
         </minMaxOrigin>\n      <rastershader>\n        \
         <colorrampshader colorRampType=\"INTERPOLATED\" classificationMode=\"1\" clip=\"0\" \
         minimumValue=\"{lo}\" maximumValue=\"{hi}\" labelPrecision=\"4\">\n\
         {items}        </colorrampshader>\n      </rastershader>\n    </rasterrenderer>\n  </pipe>\n  \
         <layerGeometryType>-1</layerGeometryType>\n  <customproperties>\n    \
         <Option type=\"Map\"><Option name=\"band_name\" type=\"QString\" value=\"{}\"/></Option>\n  \
         </customproperties>\n</qgis>\n",
        xml_escape(name)
    )
}

/// The PAM sidecar of a class map: category names (value = index) for GDAL and ArcGIS.
fn aux_xml(classes: &[ClassStyle], reject: bool) -> String {
    let mut names = vec![String::new(); if reject { 256 } else { classes.len() + 1 }];
    names[0] = "nodata".into();
    for (i, c) in classes.iter().enumerate() {
        names[i + 1] = c.name.clone();
    }
    if reject {
        names[255] = "rejected".into();
    }
    let mut s = String::from("<PAMDataset>\n  <PAMRasterBand band=\"1\">\n    <CategoryNames>\n");
    for n in names {
        s.push_str(&format!("      <Category>{}</Category>\n", xml_escape(&n)));
    }
    s.push_str("    </CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n");
    s
}

/// The viridis ramp at `t` in [0, 1] (9 stops, linear between them).
pub fn viridis(t: f32) -> [u8; 3] {
    const STOPS: [[u8; 3]; 9] = [
        [68, 1, 84],
        [71, 44, 122],
        [59, 81, 139],
        [44, 113, 142],
        [33, 144, 141],
        [39, 173, 129],
        [92, 200, 99],
        [170, 220, 50],
        [253, 231, 37],
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * 8.0;
    let i = (x.floor() as usize).min(7);
    let f = x - i as f32;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    std::array::from_fn(|k| {
        (f32::from(a[k]) + f * (f32::from(b[k]) - f32::from(a[k]))).round() as u8
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hull_of_a_square_with_inner_points_is_its_corners() {
        let p = [
            (0.0, 0.0),
            (1.0, 0.0),
            (0.5, 0.5),
            (1.0, 1.0),
            (0.0, 1.0),
            (0.2, 0.7),
        ];
        let h = hull(&p);
        assert_eq!(h.len(), 4, "{h:?}");
        for c in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)] {
            assert!(h.contains(&c));
        }
    }

    #[test]
    fn groups_join_runs_that_touch_diagonally_and_split_the_others() {
        let g = crate::TargetGrid {
            crs: Crs::Utm {
                zone: 35,
                north: true,
            },
            transform: tessera_core::Affine::north_up(500_000.0, 7_000_000.0, 10.0),
            width: 6,
            height: 3,
        };
        let mut gr = Groups::default();
        let rows = [
            [1.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            [0.0, 0.0, 1.0, 0.0, 0.0, 1.0],
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ];
        for (r, v) in rows.iter().enumerate() {
            gr.add_row(&g, r, v, 0.5);
        }
        let out = gr.finish(&g, 1);
        let sizes: Vec<u64> = out.iter().map(|g| g.pixels).collect();
        assert_eq!(sizes, vec![3, 2]);
        assert!((out[0].hectares - 0.03).abs() < 1e-9);
    }

    #[test]
    fn viridis_ends_are_its_first_and_last_colours() {
        assert_eq!(viridis(0.0), [68, 1, 84]);
        assert_eq!(viridis(1.0), [253, 231, 37]);
        assert_eq!(viridis(f32::NAN), [68, 1, 84]);
    }
}
