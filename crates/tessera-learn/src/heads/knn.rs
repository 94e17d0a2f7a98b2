//! k nearest neighbours by exact brute force, as scikit-learn's
//! `KNeighborsClassifier(algorithm="brute")`: euclidean or cosine distance, uniform or
//! inverse-distance votes (a query that equals training rows exactly takes only their
//! votes), ties between classes to the smallest class index. Candidates are found with
//! f32 dot products (‖x‖² + ‖y‖² − 2x·y) and the k best are re-measured in f64.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::centroid::Metric;
use crate::mat::{dot, dot64, sqdist64};

/// How neighbours vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Weights {
    /// One vote each.
    #[default]
    Uniform,
    /// Votes of 1 / distance.
    Distance,
}

impl Weights {
    /// Parses `uniform` or `distance`.
    pub fn parse(s: &str) -> crate::Result<Weights> {
        match s.to_ascii_lowercase().as_str() {
            "uniform" => Ok(Weights::Uniform),
            "distance" => Ok(Weights::Distance),
            _ => Err(crate::usage(format!(
                "weights '{s}': use uniform or distance"
            ))),
        }
    }
}

/// A fitted kNN head: the training rows themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct Knn {
    /// Neighbours asked for.
    pub k: usize,
    /// Distance.
    pub metric: Metric,
    /// Votes.
    pub weights: Weights,
    /// Reference rows (n × d).
    pub refs: Vec<f32>,
    /// Dimensions.
    pub d: usize,
    /// Class index per reference (classification).
    pub labels: Vec<u32>,
    /// Value per reference (regression).
    pub values: Vec<f64>,
    /// Classes.
    pub n_classes: usize,
    norms: Vec<f32>,
}

impl Knn {
    /// Keeps the references.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        k: usize,
        metric: Metric,
        weights: Weights,
        refs: Vec<f32>,
        d: usize,
        labels: Vec<u32>,
        values: Vec<f64>,
        n_classes: usize,
    ) -> Knn {
        let norms = refs.chunks_exact(d).map(|r| dot(r, r)).collect();
        Knn {
            k,
            metric,
            weights,
            refs,
            d,
            labels,
            values,
            n_classes,
            norms,
        }
    }

    fn n_refs(&self) -> usize {
        self.norms.len()
    }

    fn exact(&self, q: &[f32], qn: f64, j: usize) -> f64 {
        let r = &self.refs[j * self.d..(j + 1) * self.d];
        match self.metric {
            Metric::Euclidean => sqdist64(q, r).sqrt(),
            Metric::Cosine => {
                let rn = dot64(r, r).sqrt();
                if qn == 0.0 || rn == 0.0 {
                    1.0
                } else {
                    1.0 - dot64(q, r) / (qn * rn)
                }
            }
        }
    }

    /// The k nearest references of one query: (distance, index), nearest first.
    pub fn neighbours(&self, q: &[f32]) -> Vec<(f64, usize)> {
        let k = self.k.min(self.n_refs());
        // Candidates by an f32 score, a margin of extra ones so that f32 rounding cannot
        // drop a true neighbour.
        let want = (k + 8).min(self.n_refs());
        let qn32 = dot(q, q);
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(want + 1);
        for (j, r) in self.refs.chunks_exact(self.d).enumerate() {
            let dp = dot(q, r);
            let s = match self.metric {
                Metric::Euclidean => self.norms[j] - 2.0 * dp,
                Metric::Cosine => {
                    let den = (self.norms[j] * qn32).sqrt();
                    if den == 0.0 { 1.0 } else { -dp / den }
                }
            };
            if best.len() < want || s < best[best.len() - 1].0 {
                let pos = best.partition_point(|b| b.0 <= s);
                best.insert(pos, (s, j));
                if best.len() > want {
                    best.pop();
                }
            }
        }
        let qn = dot64(q, q).sqrt();
        let mut exact: Vec<(f64, usize)> = best
            .into_iter()
            .map(|(_, j)| (self.exact(q, qn, j), j))
            .collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        exact.truncate(k);
        exact
    }

    fn votes(&self, nb: &[(f64, usize)]) -> Vec<f64> {
        match self.weights {
            Weights::Uniform => vec![1.0; nb.len()],
            Weights::Distance => {
                if nb.iter().any(|n| n.0 == 0.0) {
                    nb.iter().map(|n| f64::from(u8::from(n.0 == 0.0))).collect()
                } else {
                    nb.iter().map(|n| 1.0 / n.0).collect()
                }
            }
        }
    }

    /// Class probabilities (n × classes): the normalised votes.
    pub fn predict_proba(&self, x: &[f32]) -> Vec<f32> {
        let c = self.n_classes;
        let rows: Vec<&[f32]> = x.chunks_exact(self.d).collect();
        let per: Vec<Vec<f32>> = rows
            .par_iter()
            .map(|q| {
                let nb = self.neighbours(q);
                let w = self.votes(&nb);
                let mut p = vec![0f64; c];
                for (n, wi) in nb.iter().zip(&w) {
                    p[self.labels[n.1] as usize] += wi;
                }
                let s: f64 = p.iter().sum();
                p.iter().map(|v| (v / s) as f32).collect()
            })
            .collect();
        per.concat()
    }

    /// The predicted class of each row (ties: the smallest class index).
    pub fn predict(&self, x: &[f32]) -> Vec<u32> {
        let rows: Vec<&[f32]> = x.chunks_exact(self.d).collect();
        rows.par_iter()
            .map(|q| {
                let nb = self.neighbours(q);
                let w = self.votes(&nb);
                let mut p = vec![0f64; self.n_classes];
                for (n, wi) in nb.iter().zip(&w) {
                    p[self.labels[n.1] as usize] += wi;
                }
                let mut best = 0;
                for (i, &v) in p.iter().enumerate() {
                    if v > p[best] {
                        best = i;
                    }
                }
                best as u32
            })
            .collect()
    }

    /// The (weighted) mean value of the neighbours of each row.
    pub fn predict_value(&self, x: &[f32]) -> Vec<f64> {
        let rows: Vec<&[f32]> = x.chunks_exact(self.d).collect();
        rows.par_iter()
            .map(|q| {
                let nb = self.neighbours(q);
                let w = self.votes(&nb);
                let s: f64 = w.iter().sum();
                nb.iter()
                    .zip(&w)
                    .map(|(n, wi)| self.values[n.1] * wi)
                    .sum::<f64>()
                    / s
            })
            .collect()
    }
}
