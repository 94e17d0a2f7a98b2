//! Cross-validation: fit on each fold's training rows, predict its test rows, score the
//! pooled out-of-fold predictions and each fold; learning curves over labels per class.

use serde::Serialize;

use crate::data::{Target, TrainingSet};
use crate::heads::{Head, HeadSpec, Prediction};
use crate::metrics::{self, ClassScores, ValueScores, mean_std};
use crate::rng::Rng;
use crate::split::{Cv, Folds};
use crate::{LearnError, Result, usage};

/// Pooled scores.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Scores {
    /// Classification.
    Class(ClassScores),
    /// Regression.
    Value(ValueScores),
}

/// One out-of-fold prediction.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Oof {
    /// Row of the training set.
    pub row: usize,
    /// Fold.
    pub fold: usize,
    /// Truth (class index or value).
    pub truth: f64,
    /// Prediction (class index or value).
    pub pred: f64,
    /// Class probabilities.
    pub proba: Vec<f32>,
}

/// A cross-validation's results.
#[derive(Debug, Clone, Serialize)]
pub struct CvOutcome {
    /// The split.
    pub split: String,
    /// Folds.
    pub folds: usize,
    /// Class names in index order (classification).
    pub class_names: Vec<String>,
    /// Scores of all out-of-fold predictions together.
    pub pooled: Scores,
    /// Headline metrics per fold (accuracy, balanced accuracy, macro and weighted F1,
    /// kappa; or R², RMSE, MAE).
    pub per_fold: Vec<Vec<(String, f64)>>,
    /// Mean and standard deviation over folds per headline metric.
    pub summary: Vec<(String, f64, f64)>,
    /// The predictions.
    #[serde(skip)]
    pub predictions: Vec<Oof>,
}

impl CvOutcome {
    /// Mean over folds of a headline metric.
    pub fn mean(&self, name: &str) -> Option<f64> {
        self.summary.iter().find(|s| s.0 == name).map(|s| s.1)
    }
}

fn headline(s: &Scores) -> Vec<(String, f64)> {
    match s {
        Scores::Class(c) => vec![
            ("accuracy".into(), c.accuracy),
            ("balanced_accuracy".into(), c.balanced_accuracy),
            ("macro_f1".into(), c.macro_f1),
            ("weighted_f1".into(), c.weighted_f1),
            ("kappa".into(), c.kappa),
        ],
        Scores::Value(v) => vec![
            ("r2".into(), v.r2),
            ("rmse".into(), v.rmse),
            ("mae".into(), v.mae),
            ("bias".into(), v.bias),
        ],
    }
}

fn score(set: &TrainingSet, rows: &[usize], pred: &[f64]) -> Scores {
    match &set.target {
        Target::Class(y, t) => {
            let truth: Vec<u32> = rows.iter().map(|&i| y[i]).collect();
            let p: Vec<u32> = pred.iter().map(|&v| v as u32).collect();
            Scores::Class(metrics::classification(&truth, &p, t.len()))
        }
        Target::Value(v) => {
            let truth: Vec<f64> = rows.iter().map(|&i| v[i]).collect();
            Scores::Value(metrics::regression(&truth, pred))
        }
    }
}

fn predict_rows(head: &Head, set: &TrainingSet, rows: &[usize]) -> (Vec<f64>, Vec<Vec<f32>>) {
    let sub = set.select(rows);
    match head.predict(&sub.x) {
        Prediction::Classes(c, p) => {
            let k = p.len() / rows.len().max(1);
            (
                c.iter().map(|&v| f64::from(v)).collect(),
                p.chunks(k.max(1)).map(<[f32]>::to_vec).collect(),
            )
        }
        Prediction::Values(v) => (v, vec![Vec::new(); rows.len()]),
    }
}

/// Checks that a set can be learned from: two classes, each with two rows.
pub fn check_learnable(set: &TrainingSet) -> Result<()> {
    if let Target::Class(_, t) = &set.target {
        let counts = set.class_counts();
        let present: Vec<usize> = (0..t.len()).filter(|&c| counts[c] > 0).collect();
        if present.len() < 2 {
            return Err(usage(format!(
                "only one class ({}) among the {} labelled rows: a classifier needs at least two",
                present
                    .first()
                    .map_or("none".into(), |&c| t.classes[c].name.clone()),
                set.n
            )));
        }
        if let Some(&c) = present.iter().find(|&&c| counts[c] < 2) {
            return Err(usage(format!(
                "class \"{}\" has only 1 labelled row: each class needs at least 2 (add labels \
                 or drop the class)",
                t.classes[c].name
            )));
        }
    } else if set.n < 3 {
        return Err(usage("a regression needs at least 3 labelled rows"));
    }
    Ok(())
}

/// Cross-validates `spec` on `set` with `folds`.
pub fn cross_validate(
    spec: &HeadSpec,
    set: &TrainingSet,
    folds: &Folds,
    cancelled: &dyn Fn() -> bool,
) -> Result<CvOutcome> {
    let k = folds.test.len();
    if k == 0 {
        return Err(usage("no folds to cross-validate"));
    }
    let mut all_rows = Vec::new();
    let mut all_pred = Vec::new();
    let mut preds = Vec::new();
    let mut per_fold = Vec::new();
    for (f, test) in folds.test.iter().enumerate() {
        if cancelled() {
            return Err(LearnError::Cancelled);
        }
        if test.is_empty() {
            continue;
        }
        let train = folds.train(f);
        if train.is_empty() {
            return Err(usage(format!("fold {} leaves no training rows", f + 1)));
        }
        let head = Head::fit(spec, &set.select(&train))?;
        let (pred, proba) = predict_rows(&head, set, test);
        per_fold.push(headline(&score(set, test, &pred)));
        for ((&r, &p), pr) in test.iter().zip(&pred).zip(proba) {
            let truth = match &set.target {
                Target::Class(y, _) => f64::from(y[r]),
                Target::Value(v) => v[r],
            };
            preds.push(Oof {
                row: r,
                fold: f,
                truth,
                pred: p,
                proba: pr,
            });
        }
        all_rows.extend_from_slice(test);
        all_pred.extend_from_slice(&pred);
    }
    let pooled = score(set, &all_rows, &all_pred);
    let names: Vec<String> = per_fold
        .first()
        .map(|v| v.iter().map(|p| p.0.clone()).collect())
        .unwrap_or_default();
    let summary = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let vals: Vec<f64> = per_fold
                .iter()
                .map(|f| f[i].1)
                .filter(|v| v.is_finite())
                .collect();
            let (m, s) = mean_std(&vals);
            (n.clone(), m, s)
        })
        .collect();
    preds.sort_by_key(|p| p.row);
    Ok(CvOutcome {
        split: folds.cv.describe(),
        folds: per_fold.len(),
        class_names: set.target.classes().map(|t| t.names()).unwrap_or_default(),
        pooled,
        per_fold,
        summary,
        predictions: preds,
    })
}

/// One point of a learning curve.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    /// Labels per class drawn from each fold's training rows (fewer where a class has fewer).
    pub per_class: usize,
    /// Mean training rows used.
    pub train_rows: f64,
    /// Mean and standard deviation of the headline metric (accuracy, or R²) over folds
    /// and repeats.
    pub mean: f64,
    /// Standard deviation.
    pub std: f64,
    /// Mean macro F1 (classification).
    pub macro_f1: f64,
}

/// Learning curve: for each budget, `repeats` seeded draws of that many labels per class
/// from each fold's training rows, scored on the fold's test rows.
pub fn learning_curve(
    spec: &HeadSpec,
    set: &TrainingSet,
    folds: &Folds,
    budgets: &[usize],
    repeats: usize,
    seed: u64,
) -> Result<Vec<CurvePoint>> {
    let mut out = Vec::new();
    for &b in budgets {
        let mut vals = Vec::new();
        let mut f1s = Vec::new();
        let mut rows_used = Vec::new();
        for r in 0..repeats.max(1) {
            for (f, test) in folds.test.iter().enumerate() {
                if test.is_empty() {
                    continue;
                }
                let train = folds.train(f);
                let mut rng = Rng::stream(seed ^ (b as u64) << 20, (r * 1000 + f) as u64);
                let pick: Vec<usize> = match &set.target {
                    Target::Class(y, t) => {
                        let mut pick = Vec::new();
                        for c in 0..t.len() {
                            let mut rows: Vec<usize> = train
                                .iter()
                                .copied()
                                .filter(|&i| y[i] as usize == c)
                                .collect();
                            rng.shuffle(&mut rows);
                            rows.truncate(b);
                            pick.extend(rows);
                        }
                        pick.sort_unstable();
                        pick
                    }
                    Target::Value(_) => {
                        let mut rows = train.clone();
                        rng.shuffle(&mut rows);
                        rows.truncate(b);
                        rows.sort_unstable();
                        rows
                    }
                };
                let sub = set.select(&pick);
                if let Target::Class(..) = &sub.target
                    && sub.class_counts().iter().filter(|&&c| c > 0).count() < 2
                {
                    continue;
                }
                let head = Head::fit(spec, &sub)?;
                let (pred, _) = predict_rows(&head, set, test);
                let s = score(set, test, &pred);
                match &s {
                    Scores::Class(c) => {
                        vals.push(c.accuracy);
                        f1s.push(c.macro_f1);
                    }
                    Scores::Value(v) => vals.push(v.r2),
                }
                rows_used.push(pick.len() as f64);
            }
        }
        let (m, s) = mean_std(&vals);
        out.push(CurvePoint {
            per_class: b,
            train_rows: mean_std(&rows_used).0,
            mean: m,
            std: s,
            macro_f1: mean_std(&f1s).0,
        });
    }
    Ok(out)
}

/// The split named for reports, resolved.
pub fn resolved(cv: &Cv, set: &TrainingSet) -> Cv {
    match cv {
        Cv::Auto if set.groups.is_some() => Cv::Group,
        Cv::Auto if set.lon.is_some() => Cv::Blocks(1000.0),
        Cv::Auto => Cv::Random,
        c => c.clone(),
    }
}
