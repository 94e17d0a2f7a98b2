//! k-means as scikit-learn's `KMeans(algorithm="lloyd")`: greedy k-means++ seeding
//! (2 + ⌊ln k⌋ candidates per centre), Lloyd iterations until the labels stop changing or
//! the centres move less than `tol` × the mean feature variance, empty clusters moved to the
//! points farthest from their centres, the best of `n_init` runs by inertia. Distances in
//! f64.

use rayon::prelude::*;

use crate::mat::sqdist64;
use crate::rng::Rng;

/// Options.
#[derive(Debug, Clone, Copy)]
pub struct KMeansOptions {
    /// Clusters.
    pub k: usize,
    /// Restarts (the best inertia wins).
    pub n_init: usize,
    /// Iteration cap per run.
    pub max_iter: usize,
    /// Relative tolerance on the centre shift.
    pub tol: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for KMeansOptions {
    fn default() -> Self {
        KMeansOptions {
            k: 8,
            n_init: 10,
            max_iter: 300,
            tol: 1e-4,
            seed: 42,
        }
    }
}

/// A fitted clustering.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    /// Centres, k × d.
    pub centres: Vec<f32>,
    /// Dimensions.
    pub d: usize,
    /// Label per training row.
    pub labels: Vec<u32>,
    /// Sum of squared distances to the nearest centre.
    pub inertia: f64,
    /// Iterations of the best run.
    pub iterations: usize,
}

fn assign(x: &[f32], d: usize, c: &[f64], labels: &mut [u32], dist: &mut [f64]) {
    let k = c.len() / d;
    labels
        .par_iter_mut()
        .zip(dist.par_iter_mut())
        .enumerate()
        .for_each(|(i, (l, dd))| {
            let row = &x[i * d..(i + 1) * d];
            let mut best = (f64::INFINITY, 0u32);
            for j in 0..k {
                let cj = &c[j * d..(j + 1) * d];
                let mut s = 0.0;
                for (a, b) in row.iter().zip(cj) {
                    let t = f64::from(*a) - b;
                    s += t * t;
                }
                if s < best.0 {
                    best = (s, j as u32);
                }
            }
            *l = best.1;
            *dd = best.0;
        });
}

fn plusplus(x: &[f32], n: usize, d: usize, k: usize, rng: &mut Rng) -> Vec<f64> {
    let trials = 2 + (k as f64).ln() as usize;
    let mut centres: Vec<f64> = Vec::with_capacity(k * d);
    let first = rng.below(n);
    centres.extend(x[first * d..(first + 1) * d].iter().map(|&v| f64::from(v)));
    let mut closest: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| sqdist64(&x[i * d..(i + 1) * d], &x[first * d..(first + 1) * d]))
        .collect();
    let mut pot: f64 = closest.iter().sum();
    for _ in 1..k {
        // Candidates drawn proportionally to the current squared distance.
        let mut cands = Vec::with_capacity(trials);
        for _ in 0..trials {
            let r = rng.uniform() * pot;
            let mut acc = 0.0;
            let mut pick = n - 1;
            for (i, &v) in closest.iter().enumerate() {
                acc += v;
                if acc > r {
                    pick = i;
                    break;
                }
            }
            cands.push(pick);
        }
        // The candidate that lowers the potential most.
        let scored: Vec<(f64, Vec<f64>)> = cands
            .par_iter()
            .map(|&c| {
                let cr = &x[c * d..(c + 1) * d];
                let nc: Vec<f64> = (0..n)
                    .map(|i| closest[i].min(sqdist64(&x[i * d..(i + 1) * d], cr)))
                    .collect();
                (nc.iter().sum(), nc)
            })
            .collect();
        let mut bi = 0;
        for (j, s) in scored.iter().enumerate() {
            if s.0 < scored[bi].0 {
                bi = j;
            }
        }
        let (p, nc) = scored.into_iter().nth(bi).expect("trials > 0");
        pot = p;
        closest = nc;
        let c = cands[bi];
        centres.extend(x[c * d..(c + 1) * d].iter().map(|&v| f64::from(v)));
    }
    centres
}

/// Lloyd iterations from `init`: (centres, labels, inertia, iterations).
pub fn lloyd(
    x: &[f32],
    d: usize,
    init: Vec<f64>,
    max_iter: usize,
    tol: f64,
) -> (Vec<f64>, Vec<u32>, f64, usize) {
    let n = x.len() / d;
    let k = init.len() / d;
    // sklearn's tolerance: tol × mean of the per-feature variances.
    let mut mean = vec![0f64; d];
    for row in x.chunks_exact(d) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut var = 0.0;
    for row in x.chunks_exact(d) {
        for (m, &v) in mean.iter().zip(row) {
            var += (f64::from(v) - m).powi(2);
        }
    }
    let tol = tol * var / (n as f64 * d as f64);
    let mut c = init;
    let mut labels = vec![u32::MAX; n];
    let mut dist = vec![0f64; n];
    let mut old = vec![u32::MAX; n];
    let mut it = 0;
    let mut strict = false;
    while it < max_iter {
        assign(x, d, &c, &mut labels, &mut dist);
        it += 1;
        // M-step.
        let mut sum = vec![0f64; k * d];
        let mut cnt = vec![0usize; k];
        for (row, &l) in x.chunks_exact(d).zip(&labels) {
            cnt[l as usize] += 1;
            for (s, &v) in sum[l as usize * d..(l as usize + 1) * d]
                .iter_mut()
                .zip(row)
            {
                *s += f64::from(v);
            }
        }
        // Empty clusters take the points farthest from their centres.
        let empty: Vec<usize> = (0..k).filter(|&j| cnt[j] == 0).collect();
        if !empty.is_empty() {
            let mut far: Vec<usize> = (0..n).collect();
            far.sort_by(|&a, &b| dist[b].total_cmp(&dist[a]).then(a.cmp(&b)));
            for (e, &p) in empty.iter().zip(&far) {
                let l = labels[p] as usize;
                let row = &x[p * d..(p + 1) * d];
                for (t, &v) in row.iter().enumerate() {
                    sum[l * d + t] -= f64::from(v);
                    sum[*e * d + t] = f64::from(v);
                }
                cnt[l] -= 1;
                cnt[*e] = 1;
                labels[p] = *e as u32;
            }
        }
        let mut shift = 0.0;
        for j in 0..k {
            for t in 0..d {
                let v = if cnt[j] > 0 {
                    sum[j * d + t] / cnt[j] as f64
                } else {
                    c[j * d + t]
                };
                shift += (v - c[j * d + t]).powi(2);
                c[j * d + t] = v;
            }
        }
        if labels == old {
            strict = true;
            break;
        }
        if shift <= tol {
            break;
        }
        old.copy_from_slice(&labels);
    }
    // Labels and inertia that match the final centres (after a strict convergence
    // they are unchanged; the distances are refreshed either way).
    let _ = strict;
    assign(x, d, &c, &mut labels, &mut dist);
    let inertia = dist.iter().sum();
    (c, labels, inertia, it)
}

/// k-means with k-means++ restarts.
pub fn fit(x: &[f32], d: usize, opts: &KMeansOptions) -> crate::Result<KMeans> {
    let n = x.len() / d;
    if opts.k == 0 || opts.k > n {
        return Err(crate::usage(format!(
            "k = {}: k-means needs 1 ≤ k ≤ the {n} rows",
            opts.k
        )));
    }
    let mut best: Option<KMeans> = None;
    for r in 0..opts.n_init.max(1) {
        let mut rng = Rng::stream(opts.seed, r as u64);
        let init = plusplus(x, n, d, opts.k, &mut rng);
        let (c, labels, inertia, iterations) = lloyd(x, d, init, opts.max_iter, opts.tol);
        if best.as_ref().is_none_or(|b| inertia < b.inertia) {
            best = Some(KMeans {
                centres: c.iter().map(|&v| v as f32).collect(),
                d,
                labels,
                inertia,
                iterations,
            });
        }
    }
    Ok(best.expect("n_init ≥ 1"))
}

impl KMeans {
    /// The nearest centre of each row.
    pub fn predict(&self, x: &[f32]) -> Vec<u32> {
        let c: Vec<f64> = self.centres.iter().map(|&v| f64::from(v)).collect();
        let n = x.len() / self.d;
        let mut labels = vec![0u32; n];
        let mut dist = vec![0f64; n];
        assign(x, self.d, &c, &mut labels, &mut dist);
        labels
    }
}
