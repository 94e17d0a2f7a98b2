//! Learning from Python: heads fitted on arrays (with cross-validation), model files, and
//! the region verbs (`labels`, `train`, `predict`, `similar`, `cluster`) as one call each.
//! Reports come back as JSON text, turned into dicts by `geotessera_rs.learn`.

use std::path::PathBuf;

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use tessera_api::learn::{
    ClassTable, Cv, DataSource, HeadParams, HeadSpec, MapRequest, Model, Target, TrainingSet,
};
use tessera_api::tiles::{DatasetOptions, RegionArgs};

use crate::errors::usage;
use crate::progress::run;

fn learn_err(e: tessera_api::learn::LearnError) -> PyErr {
    match e {
        tessera_api::learn::LearnError::Usage(m) => usage(m),
        other => crate::errors::FormatError::new_err(other.to_string()),
    }
}

/// Class indices (None for values) and probabilities or values.
type Predicted<'py> = (Option<Bound<'py, PyArray1<u32>>>, Bound<'py, PyAny>);

/// A trained model.
#[pyclass(module = "geotessera_rs._native")]
pub struct NativeModel {
    model: Model,
}

#[pymethods]
impl NativeModel {
    /// Reads a `.safetensors` model.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<NativeModel> {
        Ok(NativeModel {
            model: Model::load(&path).map_err(learn_err)?,
        })
    }

    /// Writes the model.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        self.model.save(&path).map_err(learn_err)
    }

    /// Predictions for `x` (n x d float32): `(class indices, probabilities)` for a
    /// classifier, `(None, values)` for a regression.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
    ) -> PyResult<Predicted<'py>> {
        let shape = x.shape();
        let (n, d) = (shape[0], shape[1]);
        self.model.check_data(d, None).map_err(learn_err)?;
        let data: Vec<f32> = x
            .as_slice()
            .map(<[f32]>::to_vec)
            .unwrap_or_else(|_| x.as_array().iter().copied().collect());
        if data.iter().any(|v| !v.is_finite()) {
            return Err(usage(
                "the embeddings hold NaN or infinite values; drop those rows first",
            ));
        }
        let m = &self.model;
        let pred = py.detach(|| m.head.predict(&data));
        match pred {
            tessera_api::learn::Prediction::Classes(c, p) => {
                let k = p.len().checked_div(n).unwrap_or(0);
                let proba = PyArray1::from_vec(py, p).reshape([n, k])?;
                Ok((Some(PyArray1::from_vec(py, c)), proba.into_any()))
            }
            tessera_api::learn::Prediction::Values(v) => {
                Ok((None, PyArray1::from_vec(py, v).into_any()))
            }
        }
    }

    /// The classes: `[(id, name, (r, g, b)), ...]` (empty for a regression).
    #[getter]
    fn classes(&self) -> Vec<(u32, String, (u8, u8, u8))> {
        self.model
            .classes
            .iter()
            .flat_map(|t| &t.classes)
            .map(|c| {
                (
                    c.id,
                    c.name.clone(),
                    (c.colour[0], c.colour[1], c.colour[2]),
                )
            })
            .collect()
    }

    /// The metadata JSON (what the file's `tessera` key holds).
    #[getter]
    fn metadata(&self) -> String {
        self.model.metadata().to_string()
    }

    /// Embedding dimensions.
    #[getter]
    fn dims(&self) -> usize {
        self.model.dims
    }
}

fn params(kw: Option<&Bound<'_, pyo3::types::PyDict>>) -> PyResult<HeadParams> {
    let mut p = HeadParams::default();
    let Some(kw) = kw else {
        return Ok(p);
    };
    for (k, v) in kw.iter() {
        let key: String = k.extract()?;
        match key.as_str() {
            "k" => p.k = v.extract()?,
            "metric" => p.metric = v.extract()?,
            "weights" => p.weights = v.extract()?,
            "C" | "c" => p.c = v.extract()?,
            "class_weight" => p.class_weight = v.extract()?,
            "trees" | "n_estimators" => p.trees = v.extract()?,
            "max_depth" => p.max_depth = v.extract()?,
            "max_features" => p.max_features = v.extract()?,
            "hidden" => {
                let h: Vec<usize> = v.extract()?;
                p.hidden = h.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
            }
            "epochs" => p.epochs = v.extract()?,
            "lr" => p.lr = v.extract()?,
            "seed" | "random_state" => p.seed = v.extract()?,
            "tol" => p.tol = v.extract()?,
            "max_iter" => p.max_iter = v.extract()?,
            other => return Err(usage(format!("unknown hyper-parameter '{other}'"))),
        }
    }
    Ok(p)
}

/// Fits head `head` on `x` (n x d float32) and `labels` (class names) or `values`, with
/// cross-validation `cv` (`none`, `random`, `group` with `groups`, ...); returns the model
/// and the report as JSON.
#[pyfunction]
#[pyo3(signature = (x, head="rf", labels=None, values=None, groups=None, cv="auto", folds=5, dataset_version=None, hyper=None))]
#[allow(clippy::too_many_arguments)]
pub fn learn_fit(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f32>,
    head: &str,
    labels: Option<Vec<String>>,
    values: Option<Vec<f64>>,
    groups: Option<Vec<u64>>,
    cv: &str,
    folds: usize,
    dataset_version: Option<String>,
    hyper: Option<Bound<'_, pyo3::types::PyDict>>,
) -> PyResult<(NativeModel, String)> {
    let p = params(hyper.as_ref())?;
    let spec = HeadSpec::build(head, &p).map_err(learn_err)?;
    let cv = Cv::parse(cv).map_err(learn_err)?;
    let d = x.shape()[1];
    let data: Vec<f32> = x.as_array().iter().copied().collect();
    let target = match (labels, values) {
        (Some(l), None) => {
            let t = ClassTable::from_labels(l.iter().map(String::as_str)).map_err(learn_err)?;
            let y = l
                .iter()
                .map(|s| t.index_of(s).unwrap_or(0) as u32)
                .collect();
            Target::Class(y, t)
        }
        (None, Some(v)) => Target::Value(v),
        _ => return Err(usage("give labels (class names) or values, not both")),
    };
    let set = TrainingSet::from_arrays(data, d, target, groups).map_err(learn_err)?;
    let seed = p.seed;
    let (model, report) = py
        .detach(|| {
            tessera_api::learn::fit_set(&set, &spec, &cv, folds, seed, dataset_version, &|| false)
        })
        .map_err(learn_err)?;
    Ok((NativeModel { model }, report.to_string()))
}

fn source(tiles_dir: Option<PathBuf>, store: Option<String>, offline: bool) -> DataSource {
    match store {
        Some(s) => DataSource::Zarr {
            store: tessera_api::store::StoreRef::from_url(&s),
            depth: None,
        },
        None => DataSource::Tiles {
            dir: tiles_dir.unwrap_or_else(|| PathBuf::from("tessera-tiles")),
            offline,
        },
    }
}

fn dataset(version: &str) -> DatasetOptions {
    DatasetOptions {
        version: version.to_string(),
        ..Default::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn map_request(
    bbox: (f64, f64, f64, f64),
    year: i32,
    output: PathBuf,
    crs: Option<String>,
    tiles_dir: Option<PathBuf>,
    store: Option<String>,
    offline: bool,
    png: bool,
) -> PyResult<MapRequest> {
    let crs = match crs.as_deref() {
        None | Some("native") => None,
        Some(c) => Some(c.parse::<tessera_pictures::CrsChoice>().map_err(usage)?),
    };
    Ok(MapRequest {
        region: RegionArgs {
            bbox: Some(format!("{},{},{},{}", bbox.0, bbox.1, bbox.2, bbox.3)),
            ..Default::default()
        },
        year,
        source: source(tiles_dir, store, offline),
        crs,
        resolution: None,
        memory_bytes: 512 << 20,
        png,
        output,
    })
}

/// `tessera predict` over a bbox; returns the report as JSON.
#[pyfunction]
#[pyo3(signature = (model, bbox, year, output, mirror=None, tiles_dir=None, store=None, offline=false, crs=None, proba=false, confidence=false, reject_below=None, png=false, dataset_version="v1.1", callback=None))]
#[allow(clippy::too_many_arguments)]
pub fn learn_predict(
    py: Python<'_>,
    model: PathBuf,
    bbox: (f64, f64, f64, f64),
    year: i32,
    output: PathBuf,
    mirror: Option<String>,
    tiles_dir: Option<PathBuf>,
    store: Option<String>,
    offline: bool,
    crs: Option<String>,
    proba: bool,
    confidence: bool,
    reject_below: Option<f32>,
    png: bool,
    dataset_version: &str,
    callback: Option<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let ctx = crate::context::open(mirror, None)?;
    let req = map_request(bbox, year, output, crs, tiles_dir, store, offline, png)?;
    let opts = tessera_api::learn::PredictOptions {
        model,
        proba,
        confidence,
        reject_below,
    };
    let ds = dataset(dataset_version);
    let r = run(py, callback.as_ref(), move |p| {
        tessera_api::learn::predict(&ctx, &ds, &req, &opts, p)
    })?;
    serde_json::to_string(&r).map_err(usage)
}

/// `tessera similar` over a bbox; returns the report as JSON.
#[pyfunction]
#[pyo3(signature = (positives, bbox, year, output, negatives=None, positive_file=None, negative_file=None, examples_crs=None, method="mean-cosine", threshold=None, top=0, min_group_pixels=100, mirror=None, tiles_dir=None, store=None, offline=false, crs=None, png=false, dataset_version="v1.1", callback=None))]
#[allow(clippy::too_many_arguments)]
pub fn learn_similar(
    py: Python<'_>,
    positives: Vec<(f64, f64)>,
    bbox: (f64, f64, f64, f64),
    year: i32,
    output: PathBuf,
    negatives: Option<Vec<(f64, f64)>>,
    positive_file: Option<PathBuf>,
    negative_file: Option<PathBuf>,
    examples_crs: Option<String>,
    method: &str,
    threshold: Option<f32>,
    top: usize,
    min_group_pixels: u64,
    mirror: Option<String>,
    tiles_dir: Option<PathBuf>,
    store: Option<String>,
    offline: bool,
    crs: Option<String>,
    png: bool,
    dataset_version: &str,
    callback: Option<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let ctx = crate::context::open(mirror, None)?;
    let req = map_request(bbox, year, output, crs, tiles_dir, store, offline, png)?;
    let opts = tessera_api::learn::SimilarOptions {
        positives,
        negatives: negatives.unwrap_or_default(),
        positive_file,
        negative_file,
        examples_crs: match examples_crs.as_deref() {
            None => None,
            Some(c) => Some(c.parse::<tessera_core::Crs>().map_err(usage)?),
        },
        method: method.parse().map_err(usage)?,
        threshold,
        top,
        min_group_pixels,
    };
    let ds = dataset(dataset_version);
    let r = run(py, callback.as_ref(), move |p| {
        tessera_api::learn::similar(&ctx, &ds, &req, &opts, p)
    })?;
    serde_json::to_string(&r).map_err(usage)
}

/// `tessera cluster` over a bbox; returns the report as JSON.
#[pyfunction]
#[pyo3(signature = (bbox, year, output, k=8, sample=100_000, seed=42, mirror=None, tiles_dir=None, store=None, offline=false, crs=None, png=false, dataset_version="v1.1", callback=None))]
#[allow(clippy::too_many_arguments)]
pub fn learn_cluster(
    py: Python<'_>,
    bbox: (f64, f64, f64, f64),
    year: i32,
    output: PathBuf,
    k: usize,
    sample: usize,
    seed: u64,
    mirror: Option<String>,
    tiles_dir: Option<PathBuf>,
    store: Option<String>,
    offline: bool,
    crs: Option<String>,
    png: bool,
    dataset_version: &str,
    callback: Option<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let ctx = crate::context::open(mirror, None)?;
    let req = map_request(bbox, year, output, crs, tiles_dir, store, offline, png)?;
    let opts = tessera_api::learn::ClusterOptions { k, sample, seed };
    let ds = dataset(dataset_version);
    let r = run(py, callback.as_ref(), move |p| {
        tessera_api::learn::cluster(&ctx, &ds, &req, &opts, p)
    })?;
    serde_json::to_string(&r).map_err(usage)
}

/// `tessera labels`; returns the report as JSON.
#[pyfunction]
#[pyo3(signature = (labels, year, output, class_field=None, value_field=None, balance="sqrt", max_samples=200_000, min_per_class=50, points_per_polygon=None, all_touched=false, crs=None, seed=42, mirror=None, tiles_dir=None, store=None, offline=false, dataset_version="v1.1", callback=None))]
#[allow(clippy::too_many_arguments)]
pub fn learn_labels(
    py: Python<'_>,
    labels: PathBuf,
    year: i32,
    output: PathBuf,
    class_field: Option<String>,
    value_field: Option<String>,
    balance: &str,
    max_samples: usize,
    min_per_class: usize,
    points_per_polygon: Option<usize>,
    all_touched: bool,
    crs: Option<String>,
    seed: u64,
    mirror: Option<String>,
    tiles_dir: Option<PathBuf>,
    store: Option<String>,
    offline: bool,
    dataset_version: &str,
    callback: Option<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let ctx = crate::context::open(mirror, None)?;
    let crs = match crs.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<tessera_core::Crs>().map_err(usage)?),
    };
    let req = tessera_api::learn::LabelsRequest {
        labels,
        year,
        class_field,
        value_field,
        points_per_polygon,
        all_touched,
        crs,
        balance: balance.parse().map_err(usage)?,
        max_samples,
        min_per_class,
        classes: None,
        seed,
        source: source(tiles_dir, store, offline),
        output,
    };
    let ds = dataset(dataset_version);
    let r = run(py, callback.as_ref(), move |p| {
        tessera_api::learn::labels(&ctx, &ds, &req, p)
    })?;
    serde_json::to_string(&r).map_err(usage)
}
