//! `tessera labels`: a label file (points or polygons) into a training table. Polygons
//! are rasterised on the UTM zone's 10 m lattice (pixel centres inside the polygon, holes
//! respected), their pixels drawn per class under a budget (equal, square-root or
//! proportional to the class's area, at least a minimum per class, a cap per polygon),
//! then sampled at the pixels that hold them; the same pixel drawn twice with one label is
//! kept once, with two labels it is dropped as a conflict. Each row: label, class id,
//! group (the polygon), a 1 km spatial block, tile or zone, pixel row/col, UTM x/y,
//! lon/lat and `emb_0..`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use tessera_client::labels::{LabelFeature, LabelGeometry, read_labels_in};
use tessera_client::points::{Column, PointTable, write_samples};
use tessera_client::{ClientError, Result};
use tessera_core::{Crs, utm_zone};
use tessera_learn::classes::ClassTable;
use tessera_learn::rng::Rng;

use super::map::{DataSource, sample_points_of};
use crate::Progress;
use crate::tiles::DatasetOptions;

/// How a class's share of the budget is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Balance {
    /// The same for every class.
    Equal,
    /// In proportion to the square root of the class's pixels (TEE's default).
    Sqrt,
    /// In proportion to the class's pixels.
    Proportional,
    /// Every candidate pixel (no budget).
    None,
}

impl std::str::FromStr for Balance {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "equal" => Ok(Balance::Equal),
            "sqrt" => Ok(Balance::Sqrt),
            "proportional" => Ok(Balance::Proportional),
            "none" => Ok(Balance::None),
            _ => Err(format!(
                "--balance must be equal, sqrt, proportional or none, got '{s}'"
            )),
        }
    }
}

/// What `tessera labels` asks for.
#[derive(Debug, Clone)]
pub struct LabelsRequest {
    /// The label file.
    pub labels: PathBuf,
    /// The year of the embeddings.
    pub year: i32,
    /// The class field [default: label, class_name, class, ...].
    pub class_field: Option<String>,
    /// A numeric field to regress on instead of classes.
    pub value_field: Option<String>,
    /// Pixels drawn per polygon at most.
    pub points_per_polygon: Option<usize>,
    /// Every pixel a polygon touches, not only those whose centre it holds.
    pub all_touched: bool,
    /// The CRS of coordinates in label files that do not state one (CSV `x,y`).
    pub crs: Option<Crs>,
    /// Balancing of polygon pixels between classes.
    pub balance: Balance,
    /// Total pixels drawn from polygons.
    pub max_samples: usize,
    /// Pixels per class at least (when its polygons have them).
    pub min_per_class: usize,
    /// A class table (CSV id,name,colour or JSON) fixing ids and colours.
    pub classes: Option<PathBuf>,
    /// Seed of the draws.
    pub seed: u64,
    /// Where the embeddings come from.
    pub source: DataSource,
    /// The table to write (.parquet or .csv).
    pub output: PathBuf,
}

/// Per class: candidates, drawn, kept.
#[derive(Debug, Clone, Serialize)]
pub struct ClassCount {
    /// The class id written.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Labelled points, or pixels inside its polygons.
    pub candidates: u64,
    /// Drawn.
    pub drawn: u64,
    /// Rows written.
    pub rows: u64,
}

/// What `tessera labels` did.
#[derive(Debug, Clone, Serialize)]
pub struct LabelsReport {
    /// The table written.
    pub output: PathBuf,
    /// The field the labels came from.
    pub field: String,
    /// classification or regression.
    pub task: &'static str,
    /// Features read.
    pub features: usize,
    /// Point features.
    pub points: usize,
    /// Polygon features.
    pub polygons: usize,
    /// Features without a label (skipped).
    pub unlabelled: usize,
    /// Pixels drawn (points and polygon pixels).
    pub drawn: usize,
    /// Drawn outside the dataset's coverage for the year.
    pub outside: usize,
    /// Drawn on water or nodata.
    pub nodata: usize,
    /// Repeated pixels with the same label, merged.
    pub duplicates: usize,
    /// Pixels labelled with two different labels (both dropped).
    pub conflicts: usize,
    /// Rows written.
    pub rows: usize,
    /// Per class.
    pub classes: Vec<ClassCount>,
}

const CLASS_FIELDS: &[&str] = &["label", "class_name", "class", "classname", "category"];

fn usage(m: impl Into<String>) -> ClientError {
    ClientError::Usage(m.into())
}

fn label_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Pixel centres (UTM x, y) of the 10 m lattice inside `rings` (even-odd, so holes are
/// out), row by row from the north, west to east; `f` gets each. With `all_touched`, every
/// pixel the polygon touches (its interior or any of its rings' edges crossing the pixel's
/// square), as `gdal_rasterize -at` and rasterio's `all_touched=True` burn them.
fn rasterise(rings: &[Vec<(f64, f64)>], all_touched: bool, mut f: impl FnMut(f64, f64)) {
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for r in rings {
        for p in r {
            y0 = y0.min(p.1);
            y1 = y1.max(p.1);
        }
    }
    if !y0.is_finite() {
        return;
    }
    // Rows k hold the pixels whose squares span y in [10k, 10k + 10], centres 10k + 5.
    let (first, last) = if all_touched {
        ((y1 / 10.0).ceil() as i64 - 1, (y0 / 10.0).floor() as i64)
    } else {
        (
            ((y1 - 5.0) / 10.0).floor() as i64,
            ((y0 - 5.0) / 10.0).ceil() as i64,
        )
    };
    let mut xs: Vec<f64> = Vec::new();
    let mut cols: Vec<(i64, i64)> = Vec::new();
    let mut k = first;
    while k >= last {
        let y = k as f64 * 10.0 + 5.0;
        xs.clear();
        cols.clear();
        for r in rings {
            let n = r.len();
            for i in 0..n {
                let (a, b) = (r[i], r[(i + 1) % n]);
                if (a.1 <= y) != (b.1 <= y) {
                    xs.push(a.0 + (y - a.1) / (b.1 - a.1) * (b.0 - a.0));
                }
            }
        }
        xs.sort_by(f64::total_cmp);
        for span in xs.chunks_exact(2) {
            let mut c0 = ((span[0] - 5.0) / 10.0).ceil() as i64;
            let mut c1 = ((span[1] - 5.0) / 10.0).floor() as i64;
            // The centre on the east end is outside (half-open spans).
            if c1 as f64 * 10.0 + 5.0 >= span[1] {
                c1 -= 1;
            }
            if (c0 as f64 * 10.0 + 5.0) < span[0] {
                c0 += 1;
            }
            if c0 <= c1 {
                cols.push((c0, c1));
            }
        }
        if all_touched {
            let (lo, hi) = (k as f64 * 10.0, k as f64 * 10.0 + 10.0);
            for r in rings {
                let n = r.len();
                for i in 0..n {
                    let (a, b) = (r[i], r[(i + 1) % n]);
                    let (ya, yb) = (a.1.min(b.1), a.1.max(b.1));
                    // The part of the edge inside the row (edges along a row's border
                    // touch neither row).
                    let (xa, xb) = if a.1 == b.1 {
                        if a.1 <= lo || a.1 >= hi {
                            continue;
                        }
                        (a.0.min(b.0), a.0.max(b.0))
                    } else {
                        let (c, d) = (ya.max(lo), yb.min(hi));
                        if c >= d {
                            continue;
                        }
                        let at = |yy: f64| a.0 + (yy - a.1) / (b.1 - a.1) * (b.0 - a.0);
                        let (p, q) = (at(c), at(d));
                        (p.min(q), p.max(q))
                    };
                    // Open squares: an edge along a column's border touches neither side.
                    let c0 = (xa / 10.0).floor() as i64;
                    let c1 = (xb / 10.0).ceil() as i64 - 1;
                    if c0 <= c1 {
                        cols.push((c0, c1));
                    }
                }
            }
            cols.sort_unstable();
            let mut merged: Vec<(i64, i64)> = Vec::with_capacity(cols.len());
            for &(c0, c1) in &cols {
                match merged.last_mut() {
                    Some(m) if c0 <= m.1 + 1 => m.1 = m.1.max(c1),
                    _ => merged.push((c0, c1)),
                }
            }
            std::mem::swap(&mut cols, &mut merged);
        }
        for &(c0, c1) in &cols {
            for c in c0..=c1 {
                f(c as f64 * 10.0 + 5.0, y);
            }
        }
        k -= 1;
    }
}

/// A polygon feature projected onto its zone.
struct Projected {
    class: usize,
    crs: Crs,
    rings: Vec<Vec<Vec<(f64, f64)>>>,
    pixels: u64,
}

fn project(f: &LabelFeature, class: usize, all_touched: bool) -> Option<Projected> {
    let LabelGeometry::Polygons(polys) = &f.geometry else {
        return None;
    };
    let (mut sx, mut sy, mut n) = (0f64, 0f64, 0f64);
    for p in polys {
        for q in p.rings.first().into_iter().flatten() {
            sx += q.0;
            sy += q.1;
            n += 1.0;
        }
    }
    let (lon, lat) = (sx / n.max(1.0), sy / n.max(1.0));
    let crs = Crs::Utm {
        zone: utm_zone(lon),
        north: lat >= 0.0,
    };
    let rings: Vec<Vec<Vec<(f64, f64)>>> = polys
        .iter()
        .map(|p| {
            p.rings
                .iter()
                .map(|r| r.iter().map(|&(x, y)| crs.forward(x, y)).collect())
                .collect()
        })
        .collect();
    let mut pixels = 0u64;
    for r in &rings {
        rasterise(r, all_touched, |_, _| pixels += 1);
    }
    Some(Projected {
        class,
        crs,
        rings,
        pixels,
    })
}

/// The examples of a label file (points and polygons, in any format `labels` reads, with
/// `crs` for files that do not state one) as (lon, lat) pixel centres: points as they are,
/// each polygon's pixel centres on its UTM zone's 10 m grid, at most `cap` from all
/// polygons together (evenly spread over them). Returns the points and the polygon count.
pub fn example_pixels(
    path: &std::path::Path,
    crs: Option<Crs>,
    cap: usize,
) -> Result<(Vec<(f64, f64)>, usize)> {
    let feats = read_labels_in(path, crs)?;
    let mut out = Vec::new();
    let mut projected = Vec::new();
    for f in &feats {
        match &f.geometry {
            LabelGeometry::Points(p) => out.extend_from_slice(p),
            LabelGeometry::Polygons(_) => projected.extend(project(f, 0, false)),
        }
    }
    let total: u64 = projected.iter().map(|p| p.pixels).sum();
    if !projected.is_empty() && total == 0 {
        return Err(usage(format!(
            "{}: the polygons hold no 10 m pixel centre; give points or larger polygons",
            path.display()
        )));
    }
    // Every step-th pixel, so that a large polygon does not crowd out the others' share.
    let step = total.div_ceil(cap.max(1) as u64).max(1);
    let mut seen = 0u64;
    for p in &projected {
        for r in &p.rings {
            rasterise(r, false, |x, y| {
                if seen.is_multiple_of(step) {
                    out.push(p.crs.inverse(x, y));
                }
                seen += 1;
            });
        }
    }
    Ok((out, projected.len()))
}

/// Per-class quotas of the budget.
fn quotas(candidates: &[u64], balance: Balance, budget: usize, min: usize) -> Vec<u64> {
    let w: Vec<f64> = candidates
        .iter()
        .map(|&n| match balance {
            Balance::Equal => f64::from(u8::from(n > 0)),
            Balance::Sqrt => (n as f64).sqrt(),
            Balance::Proportional | Balance::None => n as f64,
        })
        .collect();
    let total: f64 = w.iter().sum();
    candidates
        .iter()
        .zip(&w)
        .map(|(&n, &wi)| {
            if balance == Balance::None {
                return n;
            }
            let q = if total > 0.0 {
                (budget as f64 * wi / total).floor() as u64
            } else {
                0
            };
            q.max(min as u64).min(n)
        })
        .collect()
}

/// Builds the training table of `req`.
pub fn labels(
    ctx: &crate::Context,
    dataset: &DatasetOptions,
    req: &LabelsRequest,
    progress: &Progress,
) -> Result<LabelsReport> {
    let ext = req
        .output
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext != "parquet" && ext != "csv" {
        return Err(usage(format!(
            "{}: the training table is written as .parquet or .csv",
            req.output.display()
        )));
    }
    if let Some(parent) = req.output.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(usage(format!(
            "{}: the output's directory does not exist; create it first",
            req.output.display()
        )));
    }
    let feats = read_labels_in(&req.labels, req.crs)?;
    let shown = req.labels.display().to_string();
    // The field.
    let regression = req.value_field.is_some();
    let field = match (&req.value_field, &req.class_field) {
        (Some(v), _) | (None, Some(v)) => {
            if !feats.iter().any(|f| f.properties.contains_key(v)) {
                let mut keys: Vec<&String> = feats[0].properties.keys().collect();
                keys.truncate(12);
                return Err(usage(format!(
                    "{shown}: no field \"{v}\"; fields are {keys:?}"
                )));
            }
            v.clone()
        }
        (None, None) => CLASS_FIELDS
            .iter()
            .find(|k| feats.iter().any(|f| f.properties.contains_key(**k)))
            .map(|k| k.to_string())
            .ok_or_else(|| {
                usage(format!(
                    "{shown}: no label field found (looked for {}); name it with --class-field",
                    CLASS_FIELDS.join(", ")
                ))
            })?,
    };
    let mut unlabelled = 0;
    let mut labelled: Vec<(&LabelFeature, String)> = Vec::new();
    for f in &feats {
        match f.properties.get(&field).and_then(label_of) {
            Some(l) => labelled.push((f, l)),
            None => unlabelled += 1,
        }
    }
    if labelled.is_empty() {
        return Err(usage(format!(
            "{shown}: no feature has a value in \"{field}\""
        )));
    }
    let values: Vec<f64> = if regression {
        labelled
            .iter()
            .map(|(_, l)| {
                l.parse::<f64>().map_err(|_| {
                    usage(format!(
                        "{shown}: --value-field {field} holds '{l}', not a number"
                    ))
                })
            })
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    // The class table.
    let table = if regression {
        ClassTable::default()
    } else {
        match &req.classes {
            Some(p) => {
                let t = ClassTable::read(p).map_err(super::map::learn_error)?;
                if let Some((_, l)) = labelled.iter().find(|(_, l)| t.index_of(l).is_none()) {
                    return Err(usage(format!(
                        "{shown}: label '{l}' is not in the class table {}",
                        p.display()
                    )));
                }
                t
            }
            None => ClassTable::from_labels(labelled.iter().map(|(_, l)| l.as_str()))
                .map_err(super::map::learn_error)?,
        }
    };
    let class_of = |l: &str| -> usize { table.index_of(l).unwrap_or(0) };
    let nclass = table.len().max(1);

    // Candidates: points as they are, polygon pixels under the quotas.
    let mut rng = Rng::new(req.seed);
    struct Draw {
        lon: f64,
        lat: f64,
        x: f64,
        y: f64,
        crs: Crs,
        feature: usize,
        polygon: bool,
    }
    let mut draws: Vec<Draw> = Vec::new();
    let (mut n_points, mut n_polys) = (0, 0);
    let mut candidates = vec![0u64; nclass];
    let mut projected: Vec<(usize, Projected)> = Vec::new();
    for (i, (f, l)) in labelled.iter().enumerate() {
        let class = if regression { 0 } else { class_of(l) };
        match &f.geometry {
            LabelGeometry::Points(pts) => {
                n_points += 1;
                for &(lon, lat) in pts {
                    let crs = Crs::Utm {
                        zone: utm_zone(lon),
                        north: lat >= 0.0,
                    };
                    let (x, y) = crs.forward(lon, lat);
                    candidates[class] += 1;
                    draws.push(Draw {
                        lon,
                        lat,
                        x,
                        y,
                        crs,
                        feature: i,
                        polygon: false,
                    });
                }
            }
            LabelGeometry::Polygons(_) => {
                n_polys += 1;
                if let Some(p) = project(f, class, req.all_touched) {
                    candidates[class] += p.pixels;
                    projected.push((i, p));
                }
            }
        }
    }
    if !projected.is_empty() {
        let mut poly_cand = vec![0u64; nclass];
        for (_, p) in &projected {
            poly_cand[p.class] += p.pixels;
        }
        let q = quotas(&poly_cand, req.balance, req.max_samples, req.min_per_class);
        // Each class's quota shared among its polygons by their pixels (at least one each
        // while the quota lasts), capped per polygon.
        for (c, &quota) in q.iter().enumerate() {
            let mut mine: Vec<usize> = (0..projected.len())
                .filter(|&k| projected[k].1.class == c && projected[k].1.pixels > 0)
                .collect();
            if mine.is_empty() || quota == 0 {
                continue;
            }
            if mine.len() as u64 > quota {
                rng.shuffle(&mut mine);
                mine.truncate(quota as usize);
            }
            let total: u64 = mine.iter().map(|&k| projected[k].1.pixels).sum();
            for &k in &mine {
                let (fi, p) = &projected[k];
                let mut want = ((quota as f64) * p.pixels as f64 / total as f64).round() as u64;
                want = want.clamp(1, p.pixels);
                if let Some(cap) = req.points_per_polygon {
                    want = want.min(cap as u64);
                }
                // Reservoir of `want` pixel centres.
                let mut kept: Vec<(f64, f64)> = Vec::with_capacity(want as usize);
                let mut seen = 0usize;
                for r in &p.rings {
                    rasterise(r, req.all_touched, |x, y| {
                        seen += 1;
                        if (kept.len() as u64) < want {
                            kept.push((x, y));
                        } else {
                            let j = rng.below(seen);
                            if j < want as usize {
                                kept[j] = (x, y);
                            }
                        }
                    });
                }
                for (x, y) in kept {
                    let (lon, lat) = p.crs.inverse(x, y);
                    draws.push(Draw {
                        lon,
                        lat,
                        x,
                        y,
                        crs: p.crs,
                        feature: *fi,
                        polygon: true,
                    });
                }
            }
        }
    }
    if draws.is_empty() {
        return Err(usage(format!(
            "{shown}: the polygons hold no 10 m pixel centre; give points or larger polygons"
        )));
    }
    // Embeddings at the draws.
    let pts = PointTable {
        lon: draws.iter().map(|d| d.lon).collect(),
        lat: draws.iter().map(|d| d.lat).collect(),
        columns: Vec::new(),
    };
    let s = sample_points_of(ctx, dataset, &pts, req.year, &req.source, progress)?;
    let b = s.bands;
    let label_at = |d: &Draw| labelled[d.feature].1.clone();
    // Duplicates and conflicts by pixel.
    let mut by_pixel: HashMap<&(String, i64, i64), Vec<usize>> = HashMap::new();
    let (mut outside, mut nodata) = (0, 0);
    for (i, _) in draws.iter().enumerate() {
        if s.outside[i] {
            outside += 1;
            continue;
        }
        if !s.values[i * b].is_finite() {
            nodata += 1;
            continue;
        }
        match &s.pixel[i] {
            Some(px) => by_pixel.entry(px).or_default().push(i),
            None => outside += 1,
        }
    }
    let (mut duplicates, mut conflicts) = (0, 0);
    let mut keep: Vec<usize> = Vec::new();
    for (_, idx) in by_pixel {
        let first = label_at(&draws[idx[0]]);
        if idx.iter().any(|&i| label_at(&draws[i]) != first) {
            conflicts += 1;
            continue;
        }
        duplicates += idx.len() - 1;
        keep.push(idx[0]);
    }
    keep.sort_unstable();
    if keep.is_empty() {
        return Err(ClientError::NoData(format!(
            "{shown}: none of the {} labelled pixels has an embedding for {} ({outside} outside \
             coverage, {nodata} on water or nodata, {conflicts} conflicting); check the year \
             and that the labels lie on covered land",
            draws.len(),
            req.year
        )));
    }
    // The table.
    let any_polygon = keep.iter().any(|&i| draws[i].polygon);
    let n = keep.len();
    let mut cols: Vec<Column> = Vec::new();
    if regression {
        cols.push(Column::Float(
            "label".into(),
            keep.iter()
                .map(|&i| Some(values[draws[i].feature]))
                .collect(),
        ));
    } else {
        cols.push(Column::Text(
            "label".into(),
            keep.iter().map(|&i| Some(label_at(&draws[i]))).collect(),
        ));
        cols.push(Column::Int(
            "class_id".into(),
            keep.iter()
                .map(|&i| Some(i64::from(table.classes[class_of(&label_at(&draws[i]))].id)))
                .collect(),
        ));
    }
    if any_polygon {
        cols.push(Column::Int(
            "group".into(),
            keep.iter()
                .map(|&i| Some(draws[i].feature as i64))
                .collect(),
        ));
    }
    let zone_of = |c: &Crs| match c {
        Crs::Utm { zone, north } => i64::from(*zone) * if *north { 1 } else { -1 },
        _ => 0,
    };
    cols.push(Column::Text(
        "block".into(),
        keep.iter()
            .map(|&i| {
                let d = &draws[i];
                Some(format!(
                    "{}:{}:{}",
                    zone_of(&d.crs),
                    (d.x / 1000.0).floor(),
                    (d.y / 1000.0).floor()
                ))
            })
            .collect(),
    ));
    let px = |i: usize| s.pixel[i].clone().expect("a kept pixel");
    cols.push(Column::Text(
        "tile".into(),
        keep.iter().map(|&i| Some(px(i).0)).collect(),
    ));
    cols.push(Column::Int(
        "zone".into(),
        keep.iter().map(|&i| Some(zone_of(&draws[i].crs))).collect(),
    ));
    cols.push(Column::Int(
        "pixel_row".into(),
        keep.iter().map(|&i| Some(px(i).1)).collect(),
    ));
    cols.push(Column::Int(
        "pixel_col".into(),
        keep.iter().map(|&i| Some(px(i).2)).collect(),
    ));
    for (name, get) in [
        ("x", (|d: &Draw| d.x) as fn(&Draw) -> f64),
        ("y", |d: &Draw| d.y),
        ("lon", |d: &Draw| d.lon),
        ("lat", |d: &Draw| d.lat),
    ] {
        cols.push(Column::Float(
            name.into(),
            keep.iter().map(|&i| Some(get(&draws[i]))).collect(),
        ));
    }
    let mut vals = Vec::with_capacity(n * b);
    for &i in &keep {
        vals.extend_from_slice(&s.values[i * b..(i + 1) * b]);
    }
    let out_table = PointTable {
        lon: keep.iter().map(|&i| draws[i].lon).collect(),
        lat: keep.iter().map(|&i| draws[i].lat).collect(),
        columns: cols,
    };
    write_samples(&req.output, &out_table, &vals, b, None)?;
    // Per class counts.
    let mut drawn_c: BTreeMap<usize, u64> = BTreeMap::new();
    let mut rows_c: BTreeMap<usize, u64> = BTreeMap::new();
    if !regression {
        for d in &draws {
            *drawn_c.entry(class_of(&label_at(d))).or_default() += 1;
        }
        for &i in &keep {
            *rows_c.entry(class_of(&label_at(&draws[i]))).or_default() += 1;
        }
    }
    let classes = table
        .classes
        .iter()
        .enumerate()
        .map(|(c, info)| ClassCount {
            id: info.id,
            name: info.name.clone(),
            candidates: candidates[c],
            drawn: drawn_c.get(&c).copied().unwrap_or(0),
            rows: rows_c.get(&c).copied().unwrap_or(0),
        })
        .collect();
    if outside > 0 {
        progress.warn(format!(
            "{outside} labelled pixels are outside the coverage of {} and were left out",
            req.year
        ));
    }
    if nodata > 0 {
        progress.warn(format!(
            "{nodata} labelled pixels are on water or nodata and were left out"
        ));
    }
    if conflicts > 0 {
        progress.warn(format!(
            "{conflicts} pixels carry two different labels and were left out"
        ));
    }
    Ok(LabelsReport {
        output: req.output.clone(),
        field,
        task: if regression {
            "regression"
        } else {
            "classification"
        },
        features: feats.len(),
        points: n_points,
        polygons: n_polys,
        unlabelled,
        drawn: draws.len(),
        outside,
        nodata,
        duplicates,
        conflicts,
        rows: n,
        classes,
    })
}

/// The default table path next to a model: `MODEL.labels.parquet`.
pub fn table_beside(model: &Path) -> PathBuf {
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    model.with_file_name(format!("{stem}.labels.parquet"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_holds_its_pixel_centres_and_a_hole_removes_its_own() {
        let sq = |x0: f64, y0: f64, s: f64| {
            vec![
                (x0, y0),
                (x0 + s, y0),
                (x0 + s, y0 + s),
                (x0, y0 + s),
                (x0, y0),
            ]
        };
        let count = |rings: &[Vec<(f64, f64)>], at: bool| {
            let mut v = Vec::new();
            rasterise(rings, at, |x, y| v.push((x, y)));
            v
        };
        assert_eq!(count(&[sq(0.0, 0.0, 100.0)], false).len(), 100);
        assert_eq!(
            count(&[sq(0.0, 0.0, 100.0), sq(20.0, 20.0, 20.0)], false).len(),
            96
        );
        // On the lattice's borders, touching adds nothing.
        assert_eq!(count(&[sq(0.0, 0.0, 100.0)], true).len(), 100);
        // A square holding no pixel centre touches four pixels; one holding four centres
        // touches the same four.
        assert!(count(&[sq(6.0, 6.0, 8.0)], false).is_empty());
        let t = count(&[sq(6.0, 6.0, 8.0)], true);
        assert_eq!(t, vec![(5.0, 15.0), (15.0, 15.0), (5.0, 5.0), (15.0, 5.0)]);
        assert_eq!(count(&[sq(4.0, 4.0, 12.0)], false), t);
        // A hole's edges touch the pixels around it: only pixels wholly inside the hole are
        // out.
        let holed = [sq(0.0, 0.0, 100.0), sq(21.0, 21.0, 18.0)];
        assert_eq!(count(&holed, false).len(), 96);
        assert_eq!(count(&holed, true).len(), 100);
        let holed = [sq(0.0, 0.0, 100.0), sq(12.0, 12.0, 36.0)];
        assert_eq!(count(&holed, false).len(), 84);
        assert_eq!(count(&holed, true).len(), 96);
        // A thin diagonal sliver touches every pixel along its edges and nothing off it.
        let sliver = vec![(0.5, 0.5), (99.5, 99.0), (99.5, 99.5), (0.5, 0.5)];
        let t = count(&[sliver], true);
        assert!(t.len() >= 10 && t.len() <= 20, "{}", t.len());
        assert!(t.iter().all(|&(x, y)| (x - y).abs() <= 10.0), "{t:?}");
    }

    #[test]
    fn quotas_follow_the_balance_with_a_floor() {
        let c = [10_000, 100, 0];
        assert_eq!(quotas(&c, Balance::Equal, 1000, 50), vec![500, 100, 0]);
        assert_eq!(
            quotas(&c, Balance::Proportional, 1010, 50),
            vec![1000, 50, 0]
        );
        let s = quotas(&c, Balance::Sqrt, 1100, 0);
        assert_eq!(s, vec![1000, 100, 0]);
        assert_eq!(quotas(&c, Balance::None, 10, 0), vec![10_000, 100, 0]);
    }
}
