//! Nearest centroid: the mean embedding of each class; a pixel takes the class of the
//! closest mean (euclidean, scikit-learn's `NearestCentroid`) or of the most similar mean
//! direction (cosine, scale-free, so it runs on int8 codes unchanged). Ties: the first class.

use serde::{Deserialize, Serialize};

use crate::mat::{dot64, sqdist64};

/// Distance between embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Straight-line distance.
    #[default]
    Euclidean,
    /// One minus the cosine of the angle.
    Cosine,
}

impl Metric {
    /// Parses `euclidean` or `cosine`.
    pub fn parse(s: &str) -> crate::Result<Metric> {
        match s.to_ascii_lowercase().as_str() {
            "euclidean" | "l2" => Ok(Metric::Euclidean),
            "cosine" => Ok(Metric::Cosine),
            _ => Err(crate::usage(format!(
                "metric '{s}': use euclidean or cosine"
            ))),
        }
    }
}

/// A fitted nearest-centroid head.
#[derive(Debug, Clone, PartialEq)]
pub struct Centroid {
    /// Classes × dimensions, row-major.
    pub centroids: Vec<f32>,
    /// Dimensions.
    pub d: usize,
    /// The metric.
    pub metric: Metric,
    /// Classes without training rows (never predicted).
    pub empty: Vec<bool>,
}

impl Centroid {
    /// Class means of `x` (n × d) by `y`.
    pub fn fit(x: &[f32], d: usize, y: &[u32], n_classes: usize, metric: Metric) -> Centroid {
        let mut sum = vec![0f64; n_classes * d];
        let mut cnt = vec![0usize; n_classes];
        for (row, &c) in x.chunks_exact(d).zip(y) {
            let c = c as usize;
            cnt[c] += 1;
            for (s, &v) in sum[c * d..(c + 1) * d].iter_mut().zip(row) {
                *s += f64::from(v);
            }
        }
        let centroids = sum
            .chunks_exact(d)
            .zip(&cnt)
            .flat_map(|(s, &n)| s.iter().map(move |v| (v / n.max(1) as f64) as f32))
            .collect();
        Centroid {
            centroids,
            d,
            metric,
            empty: cnt.iter().map(|&n| n == 0).collect(),
        }
    }

    /// Distance of one row to each centroid.
    pub fn distances(&self, row: &[f32], out: &mut [f64]) {
        let norm = |v: &[f32]| dot64(v, v).sqrt();
        let rn = norm(row);
        for (c, o) in self.centroids.chunks_exact(self.d).zip(out.iter_mut()) {
            *o = match self.metric {
                Metric::Euclidean => sqdist64(row, c).sqrt(),
                Metric::Cosine => {
                    let cn = norm(c);
                    if rn == 0.0 || cn == 0.0 {
                        1.0
                    } else {
                        1.0 - dot64(row, c) / (rn * cn)
                    }
                }
            };
        }
        for (o, &e) in out.iter_mut().zip(&self.empty) {
            if e {
                *o = f64::INFINITY;
            }
        }
    }

    /// The nearest class of each row.
    pub fn predict(&self, x: &[f32]) -> Vec<u32> {
        let c = self.empty.len();
        let mut dist = vec![0f64; c];
        x.chunks_exact(self.d)
            .map(|row| {
                self.distances(row, &mut dist);
                argmin(&dist) as u32
            })
            .collect()
    }

    /// A soft score per class: a softmax of negative distances scaled by the spread of the
    /// centroids (for confidence bands; not calibrated probabilities).
    pub fn predict_proba(&self, x: &[f32]) -> Vec<f32> {
        let c = self.empty.len();
        let mut dist = vec![0f64; c];
        let mut out = Vec::with_capacity(x.len() / self.d * c);
        for row in x.chunks_exact(self.d) {
            self.distances(row, &mut dist);
            let m = dist.iter().copied().fold(f64::INFINITY, f64::min);
            let scale = dist
                .iter()
                .filter(|v| v.is_finite())
                .map(|v| v - m)
                .sum::<f64>()
                .max(1e-12)
                / c as f64;
            let e: Vec<f64> = dist.iter().map(|v| (-(v - m) / scale).exp()).collect();
            let s: f64 = e.iter().sum();
            out.extend(e.iter().map(|v| (v / s) as f32));
        }
        out
    }
}

pub(crate) fn argmin(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x < v[best] {
            best = i;
        }
    }
    best
}

pub(crate) fn argmax_f32(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
