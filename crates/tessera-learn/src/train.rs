//! The training and evaluation jobs behind `tessera train` and `tessera evaluate`: read a
//! training table, check it, cross-validate with the spatial split and a random split for
//! contrast, fit on everything, save the model, write the reports.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float32Array, Float64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cv::{self, CurvePoint, CvOutcome, Scores};
use crate::data::{TableOptions, Target, TrainingSet};
use crate::heads::{Head, HeadSpec};
use crate::model::Model;
use crate::split::{self, Cv};
use crate::{LearnError, Result, usage};

/// What to train.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// The training table.
    pub table: PathBuf,
    /// How to read it.
    pub table_opts: TableOptions,
    /// The head.
    pub spec: HeadSpec,
    /// The honest split.
    pub cv: Cv,
    /// Folds.
    pub folds: usize,
    /// Seed of the splits (the head's own seed is in `spec`).
    pub seed: u64,
    /// Where to write the model (None: cross-validate only).
    pub model: Option<PathBuf>,
    /// Per-row out-of-fold predictions (Parquet).
    pub predictions: Option<PathBuf>,
    /// Dataset version of the embeddings, recorded in the model.
    pub dataset_version: Option<String>,
    /// Year of the labels, recorded.
    pub year: Option<i32>,
}

/// The scores of one split.
#[derive(Debug, Clone, Serialize)]
pub struct SplitReport {
    /// The split.
    pub split: String,
    /// Its outcome.
    pub outcome: CvOutcome,
}

/// What training found.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// Rows used.
    pub rows: usize,
    /// Dimensions.
    pub dims: usize,
    /// Label field.
    pub label_field: String,
    /// Task.
    pub task: &'static str,
    /// Class names and training counts (classification).
    pub classes: Vec<(String, usize)>,
    /// The head.
    pub head: String,
    /// Its parameters.
    pub params: Value,
    /// The spatial (or chosen) split.
    pub spatial: Option<SplitReport>,
    /// Random folds, for contrast.
    pub random: Option<SplitReport>,
    /// Seconds to fit on all rows.
    pub fit_seconds: f64,
    /// Out-of-bag score of a forest.
    pub oob_score: Option<f64>,
    /// The model file and its size.
    pub model: Option<(PathBuf, u64)>,
    /// What was left out or worth knowing.
    pub notes: Vec<String>,
}

fn read_set(req_table: &Path, opts: &TableOptions) -> Result<TrainingSet> {
    let set = TrainingSet::read(req_table, opts)?;
    cv::check_learnable(&set)?;
    Ok(set)
}

fn class_summary(set: &TrainingSet) -> Vec<(String, usize)> {
    match &set.target {
        Target::Class(_, t) => t
            .classes
            .iter()
            .zip(set.class_counts())
            .map(|(c, n)| (c.name.clone(), n))
            .collect(),
        Target::Value(_) => Vec::new(),
    }
}

/// Cross-validates with `cv` (and with random folds beside it when `cv` is spatial).
fn both_splits(
    spec: &HeadSpec,
    set: &TrainingSet,
    cvs: &Cv,
    k: usize,
    seed: u64,
    notes: &mut Vec<String>,
    cancelled: &dyn Fn() -> bool,
) -> Result<(Option<SplitReport>, Option<SplitReport>)> {
    if *cvs == Cv::None {
        return Ok((None, None));
    }
    let min_class = set.class_counts().into_iter().filter(|&c| c > 0).min();
    let k = match min_class {
        Some(m) if m < k && !matches!(cvs, Cv::Bbox(_)) => {
            notes.push(format!(
                "the smallest class has {m} rows: {k} folds cannot each test it; \
                 its scores are noisy"
            ));
            k
        }
        _ => k,
    };
    let folds = split::folds(set, cvs, k, seed)?;
    let chosen = folds.cv.clone();
    let spatial = cv::cross_validate(spec, set, &folds, cancelled)?;
    let random = if chosen != Cv::Random {
        let rf = split::folds(set, &Cv::Random, k.max(2), seed)?;
        Some(cv::cross_validate(spec, set, &rf, cancelled)?)
    } else {
        notes.push(
            "random folds only: neighbouring pixels are near-copies, so this score is \
             optimistic; give the table lon/lat or a group column for a spatial split"
                .into(),
        );
        None
    };
    Ok((
        Some(SplitReport {
            split: chosen.describe(),
            outcome: spatial,
        }),
        random.map(|o| SplitReport {
            split: "random folds".into(),
            outcome: o,
        }),
    ))
}

/// Trains: cross-validates, fits on all rows, saves the model.
pub fn train(req: &TrainRequest, cancelled: &dyn Fn() -> bool) -> Result<TrainReport> {
    let set = read_set(&req.table, &req.table_opts)?;
    if set.target.classes().is_none() && !req.spec.regresses() {
        return Err(usage(format!(
            "\"{}\" holds measured values (more than 20 distinct numbers): the {} head \
             classifies; use rf, knn or mlp, or --task classification",
            set.label_field,
            req.spec.name()
        )));
    }
    let mut notes = set.notes.clone();
    let (spatial, random) = both_splits(
        &req.spec, &set, &req.cv, req.folds, req.seed, &mut notes, cancelled,
    )?;
    if cancelled() {
        return Err(LearnError::Cancelled);
    }
    let t0 = Instant::now();
    let head = Head::fit(&req.spec, &set)?;
    let fit_seconds = t0.elapsed().as_secs_f64();
    let oob_score = match &head {
        Head::Forest(f) => f.oob_score,
        _ => None,
    };
    if let Head::Logreg(l) = &head
        && !l.converged
    {
        notes.push(format!(
            "logistic regression stopped after {} iterations before converging",
            l.iterations
        ));
    }
    let table_sha = sha256_file(&req.table)?;
    let cv_json = json!({
        "spatial": spatial.as_ref().map(|s| json!({"split": s.split, "summary": s.outcome.summary})),
        "random": random.as_ref().map(|s| json!({"split": s.split, "summary": s.outcome.summary})),
    });
    let model = Model {
        head,
        spec: req.spec.clone(),
        classes: set.target.classes().cloned(),
        dims: set.d,
        dataset_version: req.dataset_version.clone(),
        provenance: json!({
            "table": req.table.file_name().map(|n| n.to_string_lossy().to_string()),
            "table_sha256": table_sha,
            "rows": set.n,
            "label_field": set.label_field,
            "counts": class_summary(&set),
            "year": req.year,
            "seed": req.seed,
            "generator": format!("tessera-learn {}", env!("CARGO_PKG_VERSION")),
        }),
        cv: Some(cv_json),
    };
    let mut model_out = None;
    if let Some(p) = &req.model {
        model.save(p)?;
        let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        model_out = Some((p.clone(), size));
    }
    if let (Some(p), Some(s)) = (&req.predictions, &spatial) {
        write_predictions(p, &set, &s.outcome)?;
    }
    Ok(TrainReport {
        rows: set.n,
        dims: set.d,
        label_field: set.label_field.clone(),
        task: if set.target.classes().is_some() {
            "classification"
        } else {
            "regression"
        },
        classes: class_summary(&set),
        head: req.spec.describe(set.d),
        params: req.spec.params(),
        spatial,
        random,
        fit_seconds,
        oob_score,
        model: model_out,
        notes,
    })
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct EvaluateRequest {
    /// The training table.
    pub table: PathBuf,
    /// How to read it.
    pub table_opts: TableOptions,
    /// Heads to compare.
    pub heads: Vec<HeadSpec>,
    /// Split.
    pub cv: Cv,
    /// Folds.
    pub folds: usize,
    /// Seed.
    pub seed: u64,
    /// Learning-curve budgets (labels per class); empty for none.
    pub per_class: Vec<usize>,
    /// Repeats per budget.
    pub repeats: usize,
    /// Out-of-fold predictions of the first head (Parquet).
    pub predictions: Option<PathBuf>,
}

/// One head's evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct HeadEvaluation {
    /// Name.
    pub head: String,
    /// Description.
    pub describe: String,
    /// Spatial split.
    pub spatial: Option<SplitReport>,
    /// Random split.
    pub random: Option<SplitReport>,
    /// Learning curve.
    pub curve: Vec<CurvePoint>,
    /// Seconds for the whole evaluation of this head.
    pub seconds: f64,
}

/// An evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluateReport {
    /// Rows.
    pub rows: usize,
    /// Classes and counts.
    pub classes: Vec<(String, usize)>,
    /// Per head.
    pub heads: Vec<HeadEvaluation>,
    /// Notes.
    pub notes: Vec<String>,
}

/// Compares heads under the same splits.
pub fn evaluate(req: &EvaluateRequest, cancelled: &dyn Fn() -> bool) -> Result<EvaluateReport> {
    let set = read_set(&req.table, &req.table_opts)?;
    let mut notes = set.notes.clone();
    let mut heads = Vec::new();
    for (i, spec) in req.heads.iter().enumerate() {
        if set.target.classes().is_none() && !spec.regresses() {
            notes.push(format!(
                "{} skipped: it classifies and the labels are values",
                spec.name()
            ));
            continue;
        }
        let t0 = Instant::now();
        let (spatial, random) = both_splits(
            spec, &set, &req.cv, req.folds, req.seed, &mut notes, cancelled,
        )?;
        if i == 0
            && let (Some(p), Some(s)) = (&req.predictions, &spatial)
        {
            write_predictions(p, &set, &s.outcome)?;
        }
        let curve = if req.per_class.is_empty() {
            Vec::new()
        } else {
            let folds = split::folds(&set, &req.cv, req.folds, req.seed)?;
            cv::learning_curve(spec, &set, &folds, &req.per_class, req.repeats, req.seed)?
        };
        heads.push(HeadEvaluation {
            head: spec.name().to_string(),
            describe: spec.describe(set.d),
            spatial,
            random,
            curve,
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    notes.dedup();
    Ok(EvaluateReport {
        rows: set.n,
        classes: class_summary(&set),
        heads,
        notes,
    })
}

fn sha256_file(p: &Path) -> Result<String> {
    let bytes = std::fs::read(p).map_err(|e| LearnError::Io(format!("{}: {e}", p.display())))?;
    use sha2::Digest;
    let d = sha2::Sha256::digest(&bytes);
    Ok(d.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes out-of-fold predictions: row, fold, truth, prediction and `p_<class>` columns.
pub fn write_predictions(path: &Path, set: &TrainingSet, o: &CvOutcome) -> Result<()> {
    let p = &o.predictions;
    let mut fields = vec![
        Field::new("row", DataType::UInt64, false),
        Field::new("fold", DataType::UInt32, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(
            p.iter().map(|x| set.source_row[x.row] as u64),
        )),
        Arc::new(UInt32Array::from_iter_values(
            p.iter().map(|x| x.fold as u32),
        )),
    ];
    match &set.target {
        Target::Class(_, t) => {
            let name = |v: f64| t.classes[v as usize].name.clone();
            fields.push(Field::new("truth", DataType::Utf8, false));
            fields.push(Field::new("prediction", DataType::Utf8, false));
            cols.push(Arc::new(arrow_array::StringArray::from_iter_values(
                p.iter().map(|x| name(x.truth)),
            )));
            cols.push(Arc::new(arrow_array::StringArray::from_iter_values(
                p.iter().map(|x| name(x.pred)),
            )));
            for (k, c) in t.classes.iter().enumerate() {
                fields.push(Field::new(format!("p_{}", c.name), DataType::Float32, true));
                cols.push(Arc::new(Float32Array::from_iter(
                    p.iter().map(|x| x.proba.get(k).copied()),
                )));
            }
        }
        Target::Value(_) => {
            fields.push(Field::new("truth", DataType::Float64, false));
            fields.push(Field::new("prediction", DataType::Float64, false));
            cols.push(Arc::new(Float64Array::from_iter_values(
                p.iter().map(|x| x.truth),
            )));
            cols.push(Arc::new(Float64Array::from_iter_values(
                p.iter().map(|x| x.pred),
            )));
        }
    }
    let schema = Arc::new(Schema::new(fields));
    let batch =
        RecordBatch::try_new(schema.clone(), cols).map_err(|e| LearnError::Io(e.to_string()))?;
    tessera_formats::atomic::write_atomic(path, |w| {
        let mut wr =
            parquet::arrow::ArrowWriter::try_new(w, schema, None).map_err(std::io::Error::other)?;
        wr.write(&batch).map_err(std::io::Error::other)?;
        wr.close().map_err(std::io::Error::other)?;
        Ok(())
    })
    .map_err(|e| LearnError::Io(format!("{}: {e}", path.display())))
}

impl Scores {
    /// The classification scores, if any.
    pub fn class(&self) -> Option<&crate::metrics::ClassScores> {
        match self {
            Scores::Class(c) => Some(c),
            Scores::Value(_) => None,
        }
    }
}

/// Trains `spec` on an in-memory set (the Python face): the model, with the spatial and
/// random cross-validation of `cv` (`Cv::None`: none) in its metadata and the report.
pub fn fit_set(
    set: &TrainingSet,
    spec: &HeadSpec,
    cv: &Cv,
    folds: usize,
    seed: u64,
    dataset_version: Option<String>,
    cancelled: &dyn Fn() -> bool,
) -> Result<(Model, Value)> {
    let mut notes = set.notes.clone();
    let (spatial, random) = both_splits(spec, set, cv, folds, seed, &mut notes, cancelled)?;
    let t0 = Instant::now();
    let head = Head::fit(spec, set)?;
    let fit_seconds = t0.elapsed().as_secs_f64();
    let cv_json = json!({
        "spatial": spatial.as_ref().map(|s| json!({"split": s.split, "summary": s.outcome.summary})),
        "random": random.as_ref().map(|s| json!({"split": s.split, "summary": s.outcome.summary})),
    });
    let model = Model {
        head,
        spec: spec.clone(),
        classes: set.target.classes().cloned(),
        dims: set.d,
        dataset_version,
        provenance: json!({
            "rows": set.n,
            "counts": class_summary(set),
            "seed": seed,
            "generator": format!("tessera-learn {}", env!("CARGO_PKG_VERSION")),
        }),
        cv: Some(cv_json),
    };
    let report = json!({
        "head": spec.describe(set.d),
        "params": spec.params(),
        "rows": set.n,
        "spatial": spatial,
        "random": random,
        "fit_seconds": fit_seconds,
        "notes": notes,
    });
    Ok((model, report))
}
