//! Model files: a fitted head as `.safetensors` with one metadata key, `tessera`, holding
//! JSON: schema version, head and hyper-parameters, classes (id, name, colour), the feature
//! spec (dimensions, dataset version), provenance and the cross-validation report. Python
//! reads one with `safetensors.numpy.load_file(path)` and
//! `json.loads(safe_open(path, "np").metadata()["tessera"])`. A model refuses embeddings of
//! another dataset version or width.

use std::path::Path;

use serde_json::{Value, json};

use crate::classes::ClassTable;
use crate::heads::mlp::Layer;
use crate::heads::{Centroid, Forest, Head, HeadSpec, Knn, Logistic, Metric, Mlp, Weights};
use crate::safetensors::{Data, File};
use crate::{LearnError, Result, usage};

/// The metadata schema written.
pub const SCHEMA: u64 = 1;

/// A head with what it was trained on.
#[derive(Debug, Clone)]
pub struct Model {
    /// The fitted head.
    pub head: Head,
    /// How it was configured.
    pub spec: HeadSpec,
    /// Its classes (None for a regression).
    pub classes: Option<ClassTable>,
    /// Embedding dimensions.
    pub dims: usize,
    /// Dataset version of the training embeddings (e.g. `v1.1`), when known.
    pub dataset_version: Option<String>,
    /// Provenance (label file and its SHA-256, counts, seed, crate version, year).
    pub provenance: Value,
    /// The cross-validation report, when one was made.
    pub cv: Option<Value>,
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

impl Model {
    /// The metadata JSON.
    pub fn metadata(&self) -> Value {
        let mut m = json!({
            "schema": SCHEMA,
            "head": self.spec.name(),
            "params": self.spec.params(),
            "task": if self.classes.is_some() { "classification" } else { "regression" },
            "classes": self.classes.as_ref().map(|t| &t.classes),
            "features": {
                "dims": self.dims,
                "columns": format!("emb_0..emb_{}", self.dims.saturating_sub(1)),
                "values": "dequantised embeddings (code x scale)",
                "dataset_version": self.dataset_version,
            },
            "provenance": self.provenance,
            "cv": self.cv,
        });
        if let Head::Mlp(h) = &self.head {
            m["mlp"] = json!({"layers": h.layers.len(), "y_scale": [h.y_scale.0, h.y_scale.1],
                              "regression": h.regression});
        }
        if let Head::Forest(f) = &self.head {
            m["forest"] = json!({"outputs": f.outputs, "regression": f.regression,
                                 "oob_score": f.oob_score});
        }
        m
    }

    /// The safetensors content.
    pub fn to_file(&self) -> File {
        let mut f = File::default();
        let d = self.dims;
        match &self.head {
            Head::Centroid(h) => {
                let c = h.empty.len();
                f.put("centroid.centres", &[c, d], Data::F32(h.centroids.clone()));
                f.put(
                    "centroid.empty",
                    &[c],
                    Data::I8(h.empty.iter().map(|&e| i8::from(e)).collect()),
                );
            }
            Head::Knn(h) => {
                let n = h.refs.len() / d;
                f.put("ref.embeddings", &[n, d], Data::F32(h.refs.clone()));
                if h.labels.is_empty() {
                    f.put("ref.values", &[n], Data::F32(f32s(&h.values)));
                } else {
                    f.put(
                        "ref.labels",
                        &[n],
                        Data::U16(h.labels.iter().map(|&v| v as u16).collect()),
                    );
                }
            }
            Head::Logreg(h) => {
                let r = h.intercept.len();
                f.put("logreg.coef", &[r, d], Data::F32(f32s(&h.coef)));
                f.put("logreg.intercept", &[r], Data::F32(f32s(&h.intercept)));
            }
            Head::Forest(h) => {
                let n = h.feature.len();
                f.put(
                    "tree_offsets",
                    &[h.tree_offsets.len()],
                    Data::U32(h.tree_offsets.clone()),
                );
                f.put("feature", &[n], Data::I16(h.feature.clone()));
                f.put("threshold", &[n], Data::F32(h.threshold.clone()));
                f.put("left", &[n], Data::U32(h.left.clone()));
                f.put("right", &[n], Data::U32(h.right.clone()));
                f.put("value", &[n, h.outputs], Data::F32(h.value.clone()));
                f.put("importances", &[d], Data::F32(f32s(&h.importances)));
            }
            Head::Mlp(h) => {
                for (i, l) in h.layers.iter().enumerate() {
                    f.put(
                        &format!("mlp.{i}.weight"),
                        &[l.n_in, l.n_out],
                        Data::F32(l.w.clone()),
                    );
                    f.put(&format!("mlp.{i}.bias"), &[l.n_out], Data::F32(l.b.clone()));
                }
                f.put("scale.mean", &[d], Data::F32(h.mean.clone()));
                f.put("scale.std", &[d], Data::F32(h.std.clone()));
            }
        }
        f.metadata
            .insert("tessera".into(), self.metadata().to_string());
        f
    }

    /// Writes the model (atomically: nothing under `path` until complete).
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_file().to_bytes();
        tessera_formats::atomic::write_atomic(path, |w| std::io::Write::write_all(w, &bytes))
            .map_err(|e| LearnError::Io(format!("{}: {e}", path.display())))
    }

    /// Reads a model file.
    pub fn load(path: &Path) -> Result<Model> {
        let f = File::read(path)?;
        Model::from_file(&f).map_err(|e| match e {
            LearnError::Usage(m) => usage(format!("{}: {m}", path.display())),
            o => o,
        })
    }

    /// A model from safetensors content.
    pub fn from_file(f: &File) -> Result<Model> {
        let meta: Value = f
            .metadata
            .get("tessera")
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| usage("not a tessera model (no \"tessera\" metadata)"))?;
        if meta["schema"].as_u64() != Some(SCHEMA) {
            return Err(usage(format!(
                "model schema {} is not {SCHEMA}: made by another version of tessera",
                meta["schema"]
            )));
        }
        let dims = meta["features"]["dims"].as_u64().unwrap_or(0) as usize;
        let classes: Option<ClassTable> = if meta["classes"].is_null() {
            None
        } else {
            Some(ClassTable {
                classes: serde_json::from_value(meta["classes"].clone())
                    .map_err(|e| usage(format!("bad class table: {e}")))?,
            })
        };
        let p = &meta["params"];
        let name = meta["head"].as_str().unwrap_or("");
        let mut spec = HeadSpec::named(name)?;
        let metric = |v: &Value| -> Metric {
            if v.as_str() == Some("cosine") {
                Metric::Cosine
            } else {
                Metric::Euclidean
            }
        };
        let nc = classes.as_ref().map_or(0, ClassTable::len);
        let head = match &mut spec {
            HeadSpec::Centroid { metric: m } => {
                *m = metric(&p["metric"]);
                let (_, c) = f.f32("centroid.centres")?;
                let empty = match &f.get("centroid.empty")?.data {
                    Data::I8(v) => v.iter().map(|&e| e != 0).collect(),
                    _ => vec![false; nc],
                };
                Head::Centroid(Centroid {
                    centroids: c.to_vec(),
                    d: dims,
                    metric: *m,
                    empty,
                })
            }
            HeadSpec::Knn {
                k,
                metric: m,
                weights,
            } => {
                *k = p["k"].as_u64().unwrap_or(5) as usize;
                *m = metric(&p["metric"]);
                *weights = if p["weights"].as_str() == Some("distance") {
                    Weights::Distance
                } else {
                    Weights::Uniform
                };
                let (_, refs) = f.f32("ref.embeddings")?;
                let (labels, values) = match f.tensors.get("ref.labels").map(|t| &t.data) {
                    Some(Data::U16(l)) => (l.iter().map(|&v| u32::from(v)).collect(), Vec::new()),
                    _ => (
                        Vec::new(),
                        f.f32("ref.values")?
                            .1
                            .iter()
                            .map(|&v| f64::from(v))
                            .collect(),
                    ),
                };
                Head::Knn(Knn::new(
                    *k,
                    *m,
                    *weights,
                    refs.to_vec(),
                    dims,
                    labels,
                    values,
                    nc,
                ))
            }
            HeadSpec::Logreg { opts, .. } => {
                opts.c = p["C"].as_f64().unwrap_or(1.0);
                let (_, coef) = f.f32("logreg.coef")?;
                let (_, b) = f.f32("logreg.intercept")?;
                Head::Logreg(Logistic {
                    coef: coef.iter().map(|&v| f64::from(v)).collect(),
                    intercept: b.iter().map(|&v| f64::from(v)).collect(),
                    d: dims,
                    n_classes: nc,
                    iterations: 0,
                    converged: true,
                })
            }
            HeadSpec::Forest(o) => {
                o.trees = p["trees"].as_u64().unwrap_or(100) as usize;
                o.seed = p["seed"].as_u64().unwrap_or(42);
                let u32s = |n: &str| -> Result<Vec<u32>> {
                    match &f.get(n)?.data {
                        Data::U32(v) => Ok(v.clone()),
                        _ => Err(usage(format!("tensor {n} is not uint32"))),
                    }
                };
                let feature = match &f.get("feature")?.data {
                    Data::I16(v) => v.clone(),
                    _ => return Err(usage("tensor feature is not int16")),
                };
                let fm = &meta["forest"];
                let outputs = fm["outputs"].as_u64().unwrap_or(nc as u64) as usize;
                let mut forest = Forest::from_parts(
                    u32s("tree_offsets")?,
                    feature,
                    f.f32("threshold")?.1.to_vec(),
                    u32s("left")?,
                    u32s("right")?,
                    f.f32("value")?.1.to_vec(),
                    outputs,
                    fm["regression"].as_bool().unwrap_or(false),
                    dims,
                )?;
                forest.importances = f
                    .f32("importances")
                    .map(|(_, v)| v.iter().map(|&x| f64::from(x)).collect())
                    .unwrap_or_default();
                Head::Forest(forest)
            }
            HeadSpec::Mlp(_) => {
                let nl = meta["mlp"]["layers"].as_u64().unwrap_or(0) as usize;
                let mut layers = Vec::with_capacity(nl);
                for i in 0..nl {
                    let (shape, w) = f.f32(&format!("mlp.{i}.weight"))?;
                    let (_, b) = f.f32(&format!("mlp.{i}.bias"))?;
                    if shape.len() != 2 || b.len() != shape[1] {
                        return Err(usage(format!("layer {i} has inconsistent shapes")));
                    }
                    layers.push(Layer {
                        n_in: shape[0],
                        n_out: shape[1],
                        w: w.to_vec(),
                        b: b.to_vec(),
                    });
                }
                let ys = &meta["mlp"]["y_scale"];
                Head::Mlp(Mlp {
                    d: dims,
                    layers,
                    mean: f.f32("scale.mean")?.1.to_vec(),
                    std: f.f32("scale.std")?.1.to_vec(),
                    regression: meta["mlp"]["regression"].as_bool().unwrap_or(false),
                    y_scale: (ys[0].as_f64().unwrap_or(0.0), ys[1].as_f64().unwrap_or(1.0)),
                    final_loss: f64::NAN,
                })
            }
        };
        Ok(Model {
            head,
            spec,
            classes,
            dims,
            dataset_version: meta["features"]["dataset_version"]
                .as_str()
                .map(String::from),
            provenance: meta["provenance"].clone(),
            cv: (!meta["cv"].is_null()).then(|| meta["cv"].clone()),
        })
    }

    /// Refuses embeddings this model was not trained on.
    pub fn check_data(&self, dims: usize, dataset_version: Option<&str>) -> Result<()> {
        if dims != self.dims {
            return Err(usage(format!(
                "the model was trained on {}-dimensional embeddings, these have {dims} \
                 (another depth or dataset): retrain on these embeddings",
                self.dims
            )));
        }
        if let (Some(m), Some(d)) = (&self.dataset_version, dataset_version)
            && m != d
        {
            return Err(usage(format!(
                "the model was trained on dataset {m}, these embeddings are {d}: \
                 embeddings of different versions are different spaces; retrain on {d}"
            )));
        }
        Ok(())
    }
}
