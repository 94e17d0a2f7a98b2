//! The heads: what is trained on a training set and predicts classes (or values) for
//! embeddings. [`HeadSpec`] names a head and its hyper-parameters; [`Head`] is a fitted one.

pub mod centroid;
pub mod forest;
pub mod kmeans;
pub mod knn;
pub mod logreg;
pub mod mlp;

use serde_json::{Value, json};

pub use centroid::{Centroid, Metric};
pub use forest::{Forest, ForestOptions};
pub use knn::{Knn, Weights};
pub use logreg::{Logistic, LogisticOptions};
pub use mlp::{Mlp, MlpOptions};

use crate::data::{Target, TrainingSet};
use crate::{Result, usage};

/// A head to train, with its hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum HeadSpec {
    /// Nearest class mean.
    Centroid {
        /// Distance.
        metric: Metric,
    },
    /// k nearest neighbours.
    Knn {
        /// Neighbours.
        k: usize,
        /// Distance.
        metric: Metric,
        /// Votes.
        weights: Weights,
    },
    /// Multinomial logistic regression.
    Logreg {
        /// Options.
        opts: LogisticOptions,
        /// Weigh classes inversely to their frequency.
        balanced: bool,
    },
    /// Random forest.
    Forest(ForestOptions),
    /// A small multilayer perceptron.
    Mlp(MlpOptions),
}

/// The head names `--head` takes.
pub const HEAD_NAMES: &[&str] = &["centroid", "knn", "logreg", "rf", "mlp"];

impl HeadSpec {
    /// The default spec of a head name.
    pub fn named(name: &str) -> Result<HeadSpec> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "centroid" | "nearest-centroid" | "nc" => HeadSpec::Centroid {
                metric: Metric::Euclidean,
            },
            "knn" | "nn" => HeadSpec::Knn {
                k: 5,
                metric: Metric::Euclidean,
                weights: Weights::Uniform,
            },
            "logreg" | "logistic" | "lr" => HeadSpec::Logreg {
                opts: LogisticOptions::default(),
                balanced: false,
            },
            "rf" | "forest" | "random-forest" => HeadSpec::Forest(ForestOptions::default()),
            "mlp" => HeadSpec::Mlp(MlpOptions::default()),
            other => {
                return Err(usage(format!(
                    "unknown head '{other}': use one of {}",
                    HEAD_NAMES.join(", ")
                )));
            }
        })
    }

    /// The short name.
    pub fn name(&self) -> &'static str {
        match self {
            HeadSpec::Centroid { .. } => "centroid",
            HeadSpec::Knn { .. } => "knn",
            HeadSpec::Logreg { .. } => "logreg",
            HeadSpec::Forest(_) => "rf",
            HeadSpec::Mlp(_) => "mlp",
        }
    }

    /// Sets the seed of seeded heads.
    pub fn with_seed(mut self, seed: u64) -> HeadSpec {
        match &mut self {
            HeadSpec::Forest(o) => o.seed = seed,
            HeadSpec::Mlp(o) => o.seed = seed,
            _ => {}
        }
        self
    }

    /// Hyper-parameters as JSON (reports and model files).
    pub fn params(&self) -> Value {
        match self {
            HeadSpec::Centroid { metric } => json!({"metric": metric}),
            HeadSpec::Knn { k, metric, weights } => {
                json!({"k": k, "metric": metric, "weights": weights})
            }
            HeadSpec::Logreg { opts, balanced } => json!({
                "C": opts.c, "tol": opts.tol, "max_iter": opts.max_iter,
                "class_weight": if *balanced { "balanced" } else { "none" },
            }),
            HeadSpec::Forest(o) => json!({
                "trees": o.trees, "max_depth": o.max_depth, "min_samples_leaf": o.min_samples_leaf,
                "min_samples_split": o.min_samples_split, "max_features": o.max_features,
                "seed": o.seed, "class_weight": if o.balanced { "balanced" } else { "none" },
            }),
            HeadSpec::Mlp(o) => json!({
                "hidden": o.hidden, "epochs": o.epochs, "batch": o.batch, "lr": o.lr,
                "tol": o.tol, "n_iter_no_change": o.n_iter_no_change,
                "weight_decay": o.weight_decay, "dropout": o.dropout, "seed": o.seed,
                "standardize": o.standardize,
            }),
        }
    }

    /// A one-line description for reports.
    pub fn describe(&self, d: usize) -> String {
        match self {
            HeadSpec::Centroid { metric } => format!("nearest centroid, {metric:?}").to_lowercase(),
            HeadSpec::Knn { k, metric, weights } => {
                format!("kNN: k = {k}, {metric:?}, {weights:?} votes").to_lowercase()
            }
            HeadSpec::Logreg { opts, balanced } => format!(
                "logistic regression: L2, C = {}, L-BFGS{}",
                opts.c,
                if *balanced {
                    ", balanced class weights"
                } else {
                    ""
                }
            ),
            HeadSpec::Forest(o) => format!(
                "random forest: {} trees, max_features {}/{d}, {}, seed {}",
                o.trees,
                o.max_features
                    .unwrap_or(((d as f64).sqrt() as usize).max(1))
                    .min(d),
                o.max_depth
                    .map_or("depth unlimited".to_string(), |m| format!("depth ≤ {m}")),
                o.seed
            ),
            HeadSpec::Mlp(o) => format!(
                "MLP: {d}-{}-C, ReLU, dropout {}, AdamW lr {} wd {}, up to {} epochs (stop after {} without a {} gain), batch {}, seed {}",
                o.hidden
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join("-"),
                o.dropout,
                o.lr,
                o.weight_decay,
                o.epochs,
                o.n_iter_no_change,
                o.tol,
                o.batch,
                o.seed
            ),
        }
    }

    /// Whether the head predicts values (regression) as well as classes.
    pub fn regresses(&self) -> bool {
        matches!(
            self,
            HeadSpec::Knn { .. } | HeadSpec::Forest(_) | HeadSpec::Mlp(_)
        )
    }
}

/// Hyper-parameters as users give them (CLI flags, Python keywords); each head takes the
/// ones that apply to it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadParams {
    /// kNN: neighbours.
    pub k: usize,
    /// kNN and centroid: `euclidean` or `cosine`.
    pub metric: String,
    /// kNN: `uniform` or `distance`.
    pub weights: String,
    /// Logistic regression: inverse regularisation strength.
    pub c: f64,
    /// Logistic regression and forests: `balanced` or none.
    pub class_weight: Option<String>,
    /// Forest: trees.
    pub trees: usize,
    /// Forest: depth limit.
    pub max_depth: Option<usize>,
    /// Forest: features tried per split.
    pub max_features: Option<usize>,
    /// MLP: hidden widths, comma-separated.
    pub hidden: String,
    /// MLP: epochs.
    pub epochs: usize,
    /// MLP: learning rate.
    pub lr: f64,
    /// Seed.
    pub seed: u64,
    /// Logistic regression and MLP: the stopping tolerance (scikit-learn's `tol`, 1e-4).
    pub tol: f64,
    /// Logistic regression: the iteration cap (1000).
    pub max_iter: usize,
}

impl Default for HeadParams {
    fn default() -> Self {
        HeadParams {
            k: 5,
            metric: "euclidean".into(),
            weights: "uniform".into(),
            c: 1.0,
            class_weight: None,
            trees: 100,
            max_depth: None,
            max_features: None,
            hidden: "128,64".into(),
            epochs: 100,
            lr: 1e-3,
            seed: 42,
            tol: 1e-4,
            max_iter: 1000,
        }
    }
}

impl HeadSpec {
    /// The spec of head `name` with `p`'s hyper-parameters, checked.
    pub fn build(name: &str, p: &HeadParams) -> Result<HeadSpec> {
        let mut spec = HeadSpec::named(name)?;
        let metric = Metric::parse(&p.metric)?;
        let balanced = match p.class_weight.as_deref() {
            None | Some("none") => false,
            Some("balanced") => true,
            Some(o) => return Err(usage(format!("class weight '{o}': use balanced or none"))),
        };
        match &mut spec {
            HeadSpec::Centroid { metric: m } => *m = metric,
            HeadSpec::Knn {
                k,
                metric: m,
                weights,
            } => {
                if p.k == 0 {
                    return Err(usage("k must be at least 1"));
                }
                *k = p.k;
                *m = metric;
                *weights = Weights::parse(&p.weights)?;
            }
            HeadSpec::Logreg { opts, balanced: b } => {
                if !(p.c.is_finite() && p.c > 0.0) {
                    return Err(usage("C must be a positive number"));
                }
                if !(p.tol.is_finite() && p.tol >= 0.0) || p.max_iter == 0 {
                    return Err(usage("tol must be a number >= 0 and max_iter at least 1"));
                }
                opts.c = p.c;
                opts.tol = p.tol;
                opts.max_iter = p.max_iter;
                *b = balanced;
            }
            HeadSpec::Forest(o) => {
                if p.trees == 0 {
                    return Err(usage("trees must be at least 1"));
                }
                o.trees = p.trees;
                o.max_depth = p.max_depth;
                o.max_features = p.max_features;
                o.balanced = balanced;
            }
            HeadSpec::Mlp(o) => {
                o.hidden = p
                    .hidden
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .ok()
                    .filter(|v| !v.is_empty() && !v.contains(&0))
                    .ok_or_else(|| usage(format!("hidden '{}': widths like 128,64", p.hidden)))?;
                if !(p.tol.is_finite() && p.tol >= 0.0) {
                    return Err(usage("tol must be a number >= 0"));
                }
                o.epochs = p.epochs;
                o.lr = p.lr;
                o.tol = p.tol;
            }
        }
        Ok(spec.with_seed(p.seed))
    }
}

/// A fitted head.
#[derive(Debug, Clone, PartialEq)]
pub enum Head {
    /// Nearest centroid.
    Centroid(Centroid),
    /// kNN.
    Knn(Knn),
    /// Logistic regression.
    Logreg(Logistic),
    /// Random forest.
    Forest(Forest),
    /// MLP.
    Mlp(Mlp),
}

/// What a head predicts for a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    /// Class index and probabilities (n × classes).
    Classes(Vec<u32>, Vec<f32>),
    /// Values.
    Values(Vec<f64>),
}

fn balanced_weights(y: &[u32], c: usize) -> Vec<f64> {
    let mut cnt = vec![0f64; c];
    for &v in y {
        cnt[v as usize] += 1.0;
    }
    let present = cnt.iter().filter(|&&v| v > 0.0).count() as f64;
    let n = y.len() as f64;
    y.iter().map(|&v| n / (present * cnt[v as usize])).collect()
}

impl Head {
    /// Trains `spec` on `set`.
    pub fn fit(spec: &HeadSpec, set: &TrainingSet) -> Result<Head> {
        let (x, d) = (&set.x[..], set.d);
        match (&set.target, spec) {
            (Target::Class(y, t), _) => {
                let c = t.len();
                Ok(match spec {
                    HeadSpec::Centroid { metric } => {
                        Head::Centroid(Centroid::fit(x, d, y, c, *metric))
                    }
                    HeadSpec::Knn { k, metric, weights } => Head::Knn(Knn::new(
                        *k,
                        *metric,
                        *weights,
                        x.to_vec(),
                        d,
                        y.clone(),
                        Vec::new(),
                        c,
                    )),
                    HeadSpec::Logreg { opts, balanced } => {
                        let w = if *balanced {
                            balanced_weights(y, c)
                        } else {
                            vec![1.0; y.len()]
                        };
                        Head::Logreg(logreg::fit(x, d, y, &w, c, opts))
                    }
                    HeadSpec::Forest(o) => Head::Forest(forest::fit_classifier(x, d, y, c, o)),
                    HeadSpec::Mlp(o) => Head::Mlp(mlp::fit_classifier(x, d, y, c, o)?),
                })
            }
            (Target::Value(v), HeadSpec::Knn { k, metric, weights }) => Ok(Head::Knn(Knn::new(
                *k,
                *metric,
                *weights,
                x.to_vec(),
                d,
                Vec::new(),
                v.clone(),
                0,
            ))),
            (Target::Value(v), HeadSpec::Forest(o)) => {
                Ok(Head::Forest(forest::fit_regressor(x, d, v, o)))
            }
            (Target::Value(v), HeadSpec::Mlp(o)) => Ok(Head::Mlp(mlp::fit_regressor(x, d, v, o)?)),
            (Target::Value(_), s) => Err(usage(format!(
                "the {} head classifies; for a measured value use rf, knn or mlp",
                s.name()
            ))),
        }
    }

    /// Dimensions it expects.
    pub fn dims(&self) -> usize {
        match self {
            Head::Centroid(h) => h.d,
            Head::Knn(h) => h.d,
            Head::Logreg(h) => h.d,
            Head::Forest(h) => h.d,
            Head::Mlp(h) => h.d,
        }
    }

    /// Whether it predicts values.
    pub fn is_regression(&self) -> bool {
        match self {
            Head::Knn(h) => h.labels.is_empty(),
            Head::Forest(h) => h.regression,
            Head::Mlp(h) => h.regression,
            _ => false,
        }
    }

    /// Predictions for rows `x` (n × d).
    pub fn predict(&self, x: &[f32]) -> Prediction {
        if self.is_regression() {
            return Prediction::Values(match self {
                Head::Knn(h) => h.predict_value(x),
                Head::Forest(h) => h.predict_raw(x).iter().map(|&v| f64::from(v)).collect(),
                Head::Mlp(h) => h.forward(x).iter().map(|&v| f64::from(v)).collect(),
                _ => unreachable!("classifiers"),
            });
        }
        let proba = match self {
            Head::Centroid(h) => h.predict_proba(x),
            Head::Knn(h) => h.predict_proba(x),
            Head::Logreg(h) => h.predict_proba(x),
            Head::Forest(h) => h.predict_raw(x),
            Head::Mlp(h) => h.forward(x),
        };
        let classes = match self {
            // The centroid's scores are a softmax of distances: the nearest is the largest.
            Head::Centroid(h) => h.predict(x),
            Head::Knn(h) => h.predict(x),
            _ => {
                let c = proba.len() / (x.len() / self.dims()).max(1);
                proba
                    .chunks_exact(c.max(1))
                    .map(|p| centroid::argmax_f32(p) as u32)
                    .collect()
            }
        };
        Prediction::Classes(classes, proba)
    }
}
