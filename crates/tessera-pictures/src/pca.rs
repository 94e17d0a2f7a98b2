//! Principal components of embeddings, fitted the way geotessera 0.11 fits them: a
//! reproducible reservoir of at most 100,000 valid pixels (priorities from NumPy's
//! `default_rng(0)`), scikit-learn's `StandardScaler`, then `PCA` by eigendecomposition of
//! the covariance with scikit-learn's sign rule (each component's largest loading positive).
//!
//! The covariance is bands × bands (128 × 128), so a cyclic Jacobi eigensolver in f64 is
//! exact to rounding and fast; no linear-algebra crate is needed for it.

use rayon::prelude::*;

use crate::PictureError;
use crate::rng::Pcg64;

/// The reference's sample size.
pub const MAX_SAMPLES: usize = 100_000;

/// A bounded reservoir of valid pixels: each valid pixel draws one priority and the
/// `max` smallest priorities are kept, whatever the number of pixels offered.
pub struct Reservoir {
    bands: usize,
    max: usize,
    rng: Pcg64,
    keys: Vec<f64>,
    /// Kept pixels as float32 rows (after any [`Reservoir::offer`]) ...
    rows: Vec<f32>,
    /// ... or, while every offer came as codes, their codes and scales (a quarter of the
    /// bytes to move when the reservoir is pruned).
    codes: Vec<i8>,
    scales: Vec<f32>,
    floats: bool,
    /// Keys at or above this can never be kept (the `max`-th smallest seen so far).
    threshold: f64,
    valid: u64,
}

impl Reservoir {
    /// An empty reservoir for `bands`-wide pixels keeping at most `max`.
    pub fn new(bands: usize, max: usize) -> Reservoir {
        Reservoir {
            bands,
            max: max.max(1),
            rng: Pcg64::numpy_default(0),
            keys: Vec::new(),
            rows: Vec::new(),
            codes: Vec::new(),
            scales: Vec::new(),
            floats: false,
            threshold: f64::INFINITY,
            valid: 0,
        }
    }

    /// Switches the storage to float32 rows (dequantising what is kept as codes).
    fn store_floats(&mut self) {
        if self.floats {
            return;
        }
        self.floats = true;
        let b = self.bands;
        self.rows.reserve(self.scales.len() * b);
        for (q, &s) in self.codes.chunks_exact(b).zip(&self.scales) {
            self.rows.extend(q.iter().map(|&q| f32::from(q) * s));
        }
        self.codes = Vec::new();
        self.scales = Vec::new();
    }

    /// Offers pixel-interleaved rows (`n × bands`); pixels with a non-finite band draw no
    /// priority, as in the reference.
    pub fn offer(&mut self, pixels: &[f32]) {
        self.store_floats();
        for px in pixels.chunks_exact(self.bands) {
            if !px.iter().all(|v| v.is_finite()) {
                continue;
            }
            self.valid += 1;
            let key = self.rng.random();
            if key >= self.threshold {
                continue;
            }
            self.keys.push(key);
            self.rows.extend_from_slice(px);
            if self.keys.len() >= 2 * self.max {
                self.prune();
            }
        }
    }

    /// Offers int8-coded rows (`n × bands` codes, one scale per pixel) exactly as
    /// [`Self::offer`] offers their dequantised values (`code * scale` in f32), without
    /// dequantising the pixels that are not kept.
    pub fn offer_codes(&mut self, codes: &[i8], scales: &[f32]) {
        let b = self.bands;
        for (q, &s) in codes.chunks_exact(b).zip(scales) {
            // A value is finite when the scale is, unless code x scale overflows.
            let valid = s.is_finite()
                && (s.abs() < 1e30 || q.iter().all(|&q| (f32::from(q) * s).is_finite()));
            if !valid {
                continue;
            }
            self.valid += 1;
            let key = self.rng.random();
            if key >= self.threshold {
                continue;
            }
            self.keys.push(key);
            if self.floats {
                self.rows.extend(q.iter().map(|&q| f32::from(q) * s));
            } else {
                self.codes.extend_from_slice(q);
                self.scales.push(s);
            }
            if self.keys.len() >= 2 * self.max {
                self.prune();
            }
        }
    }

    fn prune(&mut self) {
        if self.keys.len() <= self.max {
            return;
        }
        let mut order: Vec<u32> = (0..self.keys.len() as u32).collect();
        let keys = &self.keys;
        order.select_nth_unstable_by(self.max - 1, |&a, &b| {
            keys[a as usize].total_cmp(&keys[b as usize])
        });
        order.truncate(self.max);
        order.sort_unstable();
        // Compacted in place: kept indices ascend, so each moves down or stays.
        let b = self.bands;
        for (j, &i) in order.iter().enumerate() {
            let i = i as usize;
            self.keys[j] = self.keys[i];
            if self.floats {
                self.rows.copy_within(i * b..(i + 1) * b, j * b);
            } else {
                self.codes.copy_within(i * b..(i + 1) * b, j * b);
                self.scales[j] = self.scales[i];
            }
        }
        let m = order.len();
        self.keys.truncate(m);
        if self.floats {
            self.rows.truncate(m * b);
        } else {
            self.codes.truncate(m * b);
            self.scales.truncate(m);
        }
        self.threshold = self.keys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    }

    /// Valid pixels offered so far.
    pub fn valid_pixels(&self) -> u64 {
        self.valid
    }

    /// The kept pixels (`n × bands`).
    pub fn finish(mut self) -> Vec<f32> {
        self.prune();
        self.store_floats();
        self.rows
    }
}

/// A fitted projection: standardisation then principal components.
#[derive(Debug, Clone)]
pub struct PcaModel {
    /// Input bands.
    pub bands: usize,
    /// Per-band mean of the sample (`StandardScaler.mean_`), or zeros.
    pub scaler_mean: Vec<f64>,
    /// Per-band population standard deviation (1 where it is zero), or ones.
    pub scaler_scale: Vec<f64>,
    /// Whether the inputs were standardised.
    pub standardized: bool,
    /// Mean of the standardised sample (`PCA.mean_`).
    pub mean: Vec<f64>,
    /// Components, `n_components × bands`, largest variance first.
    pub components: Vec<Vec<f64>>,
    /// Variance along each component (`explained_variance_`).
    pub explained_variance: Vec<f64>,
    /// Share of the total variance (`explained_variance_ratio_`).
    pub explained_variance_ratio: Vec<f64>,
    /// Pixels the fit used.
    pub samples: usize,
}

/// `StandardScaler` then `PCA(n_components)` on `sample` (`n × bands`).
pub fn fit(
    sample: &[f32],
    bands: usize,
    n_components: usize,
    standardize: bool,
) -> Result<PcaModel, PictureError> {
    let n = sample.len().checked_div(bands).unwrap_or(0);
    if n == 0 || n_components == 0 || n_components > n.min(bands) {
        return Err(PictureError::Usage(
            "Not enough valid pixels/bands for the requested PCA components".into(),
        ));
    }
    let (scaler_mean, scaler_scale) = if standardize {
        let mean = column_mean(sample, bands, |_, v| f64::from(v));
        let var = column_mean(sample, bands, |k, v| (f64::from(v) - mean[k]).powi(2));
        let scale = var
            .iter()
            .zip(&mean)
            .map(|(&v, &m)| {
                // scikit-learn's `_is_constant_feature`: variance within rounding of
                // zero counts as constant, and constant columns get scale 1.
                let eps = f64::EPSILON;
                let nf = n as f64;
                let bound = nf * eps * v + (nf * m * eps).powi(2);
                if v <= bound || v.sqrt() < 10.0 * eps {
                    1.0
                } else {
                    v.sqrt()
                }
            })
            .collect();
        (mean, scale)
    } else {
        (vec![0.0; bands], vec![1.0; bands])
    };
    // The standardised sample, rounded to float32 at each step as scikit-learn's
    // in-place float32 arithmetic does.
    let z: Vec<f32> = sample
        .par_chunks(bands)
        .flat_map_iter(|px| {
            px.iter().enumerate().map(|(k, &v)| {
                let d = (f64::from(v) - scaler_mean[k]) as f32;
                (f64::from(d) / scaler_scale[k]) as f32
            })
        })
        .collect();
    let mean = column_mean(&z, bands, |_, v| f64::from(v));
    let cov = covariance(&z, bands, &mean);
    let (values, vectors) = jacobi_eigen(cov, bands);
    let mut order: Vec<usize> = (0..bands).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    let mut components = Vec::with_capacity(n_components);
    let mut explained_variance = Vec::with_capacity(n_components);
    for &i in order.iter().take(n_components) {
        let mut c: Vec<f64> = (0..bands).map(|k| vectors[k * bands + i]).collect();
        // svd_flip(u_based_decision=False): the largest-|value| loading is positive.
        let big = c
            .iter()
            .copied()
            .enumerate()
            .fold((0, 0.0f64), |acc, (k, v)| {
                if v.abs() > acc.1.abs() { (k, v) } else { acc }
            });
        if big.1 < 0.0 {
            c.iter_mut().for_each(|v| *v = -*v);
        }
        components.push(c);
        explained_variance.push(values[i].max(0.0));
    }
    let explained_variance_ratio = explained_variance
        .iter()
        .map(|v| if total > 0.0 { v / total } else { 0.0 })
        .collect();
    Ok(PcaModel {
        bands,
        scaler_mean,
        scaler_scale,
        standardized: standardize,
        mean,
        components,
        explained_variance,
        explained_variance_ratio,
        samples: n,
    })
}

fn column_mean(x: &[f32], bands: usize, f: impl Fn(usize, f32) -> f64 + Sync) -> Vec<f64> {
    let n = x.len() / bands;
    let sums = x
        .par_chunks(bands * 4096)
        .map(|chunk| {
            let mut s = vec![0f64; bands];
            for px in chunk.chunks_exact(bands) {
                for (k, &v) in px.iter().enumerate() {
                    s[k] += f(k, v);
                }
            }
            s
        })
        .reduce(
            || vec![0f64; bands],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    sums.into_iter().map(|s| s / n as f64).collect()
}

/// The lower triangle of the scatter matrix of `chunk` about `mean`.
#[inline(always)]
fn covariance_chunk(chunk: &[f32], bands: usize, mean: &[f64]) -> Vec<f64> {
    // Four pixels per pass over the lower triangle: a quarter of the loads and stores of
    // the accumulator, which is what bounds this loop; the inner loop runs along a row.
    let mut acc = vec![0f64; bands * bands];
    let mut d = [
        vec![0f64; bands],
        vec![0f64; bands],
        vec![0f64; bands],
        vec![0f64; bands],
    ];
    for quad in chunk.chunks(bands * 4) {
        let m = quad.len() / bands;
        for (p, dp) in d.iter_mut().enumerate() {
            if p < m {
                let px = &quad[p * bands..(p + 1) * bands];
                for k in 0..bands {
                    dp[k] = f64::from(px[k]) - mean[k];
                }
            } else {
                dp.iter_mut().for_each(|v| *v = 0.0);
            }
        }
        let [d0, d1, d2, d3] = &d;
        for i in 0..bands {
            let (a0, a1, a2, a3) = (d0[i], d1[i], d2[i], d3[i]);
            let row = &mut acc[i * bands..i * bands + i + 1];
            for (j, a) in row.iter_mut().enumerate() {
                *a += a0 * d0[j] + a1 * d1[j] + a2 * d2[j] + a3 * d3[j];
            }
        }
    }
    acc
}

/// [`covariance_chunk`] for AVX2; no FMA, so the sums round as in the portable build.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn covariance_avx2(chunk: &[f32], bands: usize, mean: &[f64]) -> Vec<f64> {
    covariance_chunk(chunk, bands, mean)
}

/// The sample covariance (denominator n − 1), row-major bands × bands.
fn covariance(z: &[f32], bands: usize, mean: &[f64]) -> Vec<f64> {
    let n = z.len() / bands;
    let mut c = z
        .par_chunks(bands * 2048)
        .map(|chunk| {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                return unsafe { covariance_avx2(chunk, bands, mean) };
            }
            covariance_chunk(chunk, bands, mean)
        })
        .reduce(
            || vec![0f64; bands * bands],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let denom = (n.max(2) - 1) as f64;
    for i in 0..bands {
        for j in 0..=i {
            let v = c[i * bands + j] / denom;
            c[i * bands + j] = v;
            c[j * bands + i] = v;
        }
    }
    c
}

/// Eigenvalues and eigenvectors (column `i` of the returned row-major matrix) of a
/// symmetric matrix, by cyclic Jacobi rotations.
fn jacobi_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let diag: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum();
        if off <= diag * 1e-30 || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let app = a[p * n + p];
                let aqq = a[q * n + q];
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// `q . w` with eight running sums (vectorised), in f32.
#[inline(always)]
fn dot_i8_f32(q: &[i8], w: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (qc, wc) = (q.chunks_exact(8), w.chunks_exact(8));
    let (qr, wr) = (qc.remainder(), wc.remainder());
    for (q, w) in qc.zip(wc) {
        for k in 0..8 {
            acc[k] += f32::from(q[k]) * w[k];
        }
    }
    let tail: f32 = qr.iter().zip(wr).map(|(&q, &w)| f32::from(q) * w).sum();
    acc.iter().sum::<f32>() + tail
}

/// Three [`dot_i8_f32`]s over one pass of the codes (each code converted once), with the
/// same operations in the same order per component, so the same results bit for bit.
#[inline(always)]
fn dot3_i8_f32(q: &[i8], w0: &[f32], w1: &[f32], w2: &[f32]) -> [f32; 3] {
    let mut acc = [[0f32; 8]; 3];
    let n8 = q.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        let mut x = [0f32; 8];
        for k in 0..8 {
            x[k] = f32::from(q[i + k]);
        }
        for k in 0..8 {
            acc[0][k] += x[k] * w0[i + k];
            acc[1][k] += x[k] * w1[i + k];
            acc[2][k] += x[k] * w2[i + k];
        }
    }
    let mut out = [0f32; 3];
    for (c, w) in [w0, w1, w2].into_iter().enumerate() {
        let tail: f32 = q[n8..]
            .iter()
            .zip(&w[n8..])
            .map(|(&q, &w)| f32::from(q) * w)
            .sum();
        out[c] = acc[c].iter().sum::<f32>() + tail;
    }
    out
}

/// Scores of a run of coded pixels (see [`PcaModel::transform_codes`]).
#[inline(always)]
fn scores_chunk(o: &mut [f32], q: &[i8], s: &[f32], w: &[f32], bias: &[f64], b: usize) {
    let nc = bias.len();
    for ((o, q), &s) in o.chunks_exact_mut(nc).zip(q.chunks_exact(b)).zip(s) {
        if !s.is_finite() {
            continue;
        }
        if nc == 3 {
            let dots = dot3_i8_f32(q, &w[..b], &w[b..2 * b], &w[2 * b..3 * b]);
            for c in 0..3 {
                o[c] = (f64::from(s) * f64::from(dots[c]) + bias[c]) as f32;
            }
            continue;
        }
        for c in 0..nc {
            let wc = &w[c * b..(c + 1) * b];
            let dot = dot_i8_f32(q, wc);
            o[c] = (f64::from(s) * f64::from(dot) + bias[c]) as f32;
        }
    }
}

/// [`scores_chunk`] compiled for AVX2 (eight-wide conversions and products). FMA stays
/// off, so every product and sum rounds as in the portable build: the same scores on every
/// machine.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scores_avx2(o: &mut [f32], q: &[i8], s: &[f32], w: &[f32], bias: &[f64], b: usize) {
    use std::arch::x86_64::*;
    if bias.len() != 3 || !b.is_multiple_of(8) {
        return scores_chunk(o, q, s, w, bias, b);
    }
    let (w0, w1, w2) = (&w[..b], &w[b..2 * b], &w[2 * b..3 * b]);
    for ((o, q), &s) in o.chunks_exact_mut(3).zip(q.chunks_exact(b)).zip(s) {
        if !s.is_finite() {
            continue;
        }
        // SAFETY: every load reads 8 values inside `q` or a weight row (b is a multiple
        // of 8), and the CPU has AVX2.
        let dots = unsafe {
            let (mut a0, mut a1, mut a2) = (
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
            );
            for i in (0..b).step_by(8) {
                let c8 = _mm_loadl_epi64(q.as_ptr().add(i).cast());
                let x = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(c8));
                a0 = _mm256_add_ps(a0, _mm256_mul_ps(x, _mm256_loadu_ps(w0.as_ptr().add(i))));
                a1 = _mm256_add_ps(a1, _mm256_mul_ps(x, _mm256_loadu_ps(w1.as_ptr().add(i))));
                a2 = _mm256_add_ps(a2, _mm256_mul_ps(x, _mm256_loadu_ps(w2.as_ptr().add(i))));
            }
            let mut lanes = [[0f32; 8]; 3];
            _mm256_storeu_ps(lanes[0].as_mut_ptr(), a0);
            _mm256_storeu_ps(lanes[1].as_mut_ptr(), a1);
            _mm256_storeu_ps(lanes[2].as_mut_ptr(), a2);
            // The lanes summed in order, as the portable `iter().sum()` (no tail: b % 8 == 0).
            lanes.map(|l| l.iter().sum::<f32>() + 0.0)
        };
        for c in 0..3 {
            o[c] = (f64::from(s) * f64::from(dots[c]) + bias[c]) as f32;
        }
    }
}

impl PcaModel {
    /// Components.
    pub fn n_components(&self) -> usize {
        self.components.len()
    }

    /// The projection folded into one affine map per component: score = w · x + b, so a
    /// pixel costs one dot product per component.
    pub fn folded(&self) -> (Vec<f32>, Vec<f64>) {
        let b = self.bands;
        let mut w = vec![0f32; self.n_components() * b];
        let mut bias = vec![0f64; self.n_components()];
        for (c, comp) in self.components.iter().enumerate() {
            let mut s = 0.0;
            for k in 0..b {
                let wk = comp[k] / self.scaler_scale[k];
                w[c * b + k] = wk as f32;
                s -= wk * self.scaler_mean[k] + comp[k] * self.mean[k];
            }
            bias[c] = s;
        }
        (w, bias)
    }

    /// The scores of int8-coded pixels (`codes` pixel-interleaved, one scale each), as
    /// [`Self::transform`] of the dequantised values but on the codes: the standardisation
    /// and the projection are one linear map, so each score is
    /// `scale * (codes . w) + bias` with `w = component / scaler_scale` and
    /// `bias = -(scaler_mean / scaler_scale + mean) . component`. NaN where the scale is not
    /// finite (no data).
    pub fn transform_codes(&self, codes: &[i8], scales: &[f32]) -> Vec<f32> {
        let b = self.bands;
        let nc = self.n_components();
        let (w, bias) = self.folded();
        let mut out = vec![f32::NAN; scales.len() * nc];
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        out.par_chunks_mut(nc * 1024)
            .zip(codes.par_chunks(b * 1024))
            .zip(scales.par_chunks(1024))
            .for_each(|((o, q), s)| {
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: the CPU has AVX2 (checked above).
                    unsafe { scores_avx2(o, q, s, &w, &bias, b) };
                    return;
                }
                scores_chunk(o, q, s, &w, &bias, b);
            });
        out
    }

    /// Scores of pixels (`n × bands`) as float32 (`n × n_components`), NaN for pixels with
    /// a non-finite band. Follows scikit-learn's order of operations.
    pub fn transform(&self, pixels: &[f32]) -> Vec<f32> {
        let b = self.bands;
        let nc = self.n_components();
        let mut out = vec![f32::NAN; pixels.len() / b * nc];
        out.par_chunks_mut(nc * 1024)
            .zip(pixels.par_chunks(b * 1024))
            .for_each(|(o, p)| {
                let mut z = vec![0f64; b];
                for (px, o) in p.chunks_exact(b).zip(o.chunks_exact_mut(nc)) {
                    if !px.iter().all(|v| v.is_finite()) {
                        continue;
                    }
                    for k in 0..b {
                        let d = (f64::from(px[k]) - self.scaler_mean[k]) as f32;
                        let s = (f64::from(d) / self.scaler_scale[k]) as f32;
                        z[k] = f64::from(s) - self.mean[k];
                    }
                    for (c, comp) in self.components.iter().enumerate() {
                        o[c] = z.iter().zip(comp).map(|(a, b)| a * b).sum::<f64>() as f32;
                    }
                }
            });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_avx2_scores_equal_the_portable_ones_bit_for_bit() {
        let b = 128;
        let n = 300;
        let q: Vec<i8> = (0..n * b).map(|i| ((i * 7919 + 13) % 255) as i8).collect();
        let s: Vec<f32> = (0..n).map(|i| 0.001 + i as f32 * 1e-4).collect();
        let w: Vec<f32> = (0..3 * b)
            .map(|i| ((i * 31 % 97) as f32 - 48.0) * 0.0137)
            .collect();
        let bias = vec![0.5, -1.25, 3.0];
        let mut a = vec![f32::NAN; n * 3];
        scores_chunk(&mut a, &q, &s, &w, &bias, b);
        for (k, o) in a.chunks(3).enumerate() {
            let want = dot_i8_f32(&q[k * b..(k + 1) * b], &w[..b]);
            assert_eq!(o[0], (f64::from(s[k]) * f64::from(want) + 0.5) as f32);
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            let mut v = vec![f32::NAN; n * 3];
            // SAFETY: AVX2 checked.
            unsafe { scores_avx2(&mut v, &q, &s, &w, &bias, b) };
            assert_eq!(
                a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn the_reservoir_keeps_the_smallest_priorities_and_skips_invalid_pixels() {
        // 3 bands, 10 pixels, one invalid: keep 4.
        let mut px: Vec<f32> = (0..30).map(|v| v as f32).collect();
        px[7] = f32::NAN; // pixel 2
        let mut r = Reservoir::new(3, 4);
        r.offer(&px);
        assert_eq!(r.valid_pixels(), 9);
        // Priorities in the order drawn, for the 9 valid pixels.
        let mut g = Pcg64::numpy_default(0);
        let keys: Vec<(f64, usize)> = [0, 1, 3, 4, 5, 6, 7, 8, 9]
            .iter()
            .map(|&p| (g.random(), p))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut want: Vec<usize> = sorted[..4].iter().map(|k| k.1).collect();
        want.sort();
        let kept = r.finish();
        let got: Vec<usize> = kept.chunks(3).map(|p| p[0] as usize / 3).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn pca_recovers_a_known_axis_with_the_sign_rule() {
        // Points along (1, -2, 0.5) plus small noise in other directions.
        let mut s = Vec::new();
        let mut g = Pcg64::numpy_default(0);
        for _ in 0..2000 {
            let t = g.random() * 10.0 - 5.0;
            let e = (g.random() - 0.5) * 0.01;
            s.extend_from_slice(&[t as f32, (-2.0 * t + e) as f32, (0.5 * t) as f32]);
        }
        let m = fit(&s, 3, 2, false).unwrap();
        let c = &m.components[0];
        let norm = (1.0f64 + 4.0 + 0.25).sqrt();
        // Largest |loading| is the -2 one, made positive.
        assert!((c[0] + 1.0 / norm).abs() < 1e-3, "{c:?}");
        assert!((c[1] - 2.0 / norm).abs() < 1e-3, "{c:?}");
        assert!(m.explained_variance_ratio[0] > 0.999);
        // The folded map gives the same scores as the step-by-step transform.
        let (w, b) = m.folded();
        let t = m.transform(&s[..3]);
        let f: f64 = (0..3)
            .map(|k| f64::from(w[k]) * f64::from(s[k]))
            .sum::<f64>()
            + b[0];
        assert!((f - f64::from(t[0])).abs() < 1e-4);
        assert!(fit(&s[..3], 3, 2, false).is_err());
    }

    #[test]
    fn scores_on_codes_equal_scores_of_the_dequantised_pixels() {
        // 10-band pixels quantised the model's way; one without data.
        let mut g = Pcg64::numpy_default(1);
        let bands = 10;
        let mut q = Vec::new();
        let mut scales = Vec::new();
        for i in 0..500 {
            q.extend((0..bands).map(|_| (g.random() * 254.0 - 127.0).round() as i8));
            scales.push(if i == 7 {
                f32::NAN
            } else {
                (0.01 + g.random() * 0.05) as f32
            });
        }
        let mut px = vec![0f32; q.len()];
        tessera_core::quant::dequantise(&q, &scales, bands, &mut px);
        let m = fit(&px, bands, 3, true).unwrap();
        let a = m.transform(&px);
        let b = m.transform_codes(&q, &scales);
        assert!(
            a[7 * 3..8 * 3].iter().all(|v| v.is_nan())
                && b[7 * 3..8 * 3].iter().all(|v| v.is_nan())
        );
        for (x, y) in a.iter().zip(&b).filter(|(x, _)| !x.is_nan()) {
            assert!((x - y).abs() <= 1e-4 * x.abs().max(1.0), "{x} {y}");
        }
    }

    #[test]
    fn offering_codes_keeps_what_offering_their_values_keeps() {
        let mut g = Pcg64::numpy_default(3);
        let bands = 4;
        let q: Vec<i8> = (0..4000 * bands)
            .map(|_| (g.random() * 254.0 - 127.0) as i8)
            .collect();
        let scales: Vec<f32> = (0..4000)
            .map(|i| {
                if i % 13 == 0 {
                    f32::NAN
                } else {
                    (g.random() * 0.1) as f32
                }
            })
            .collect();
        let mut px = vec![0f32; q.len()];
        tessera_core::quant::dequantise(&q, &scales, bands, &mut px);
        let (mut a, mut b) = (Reservoir::new(bands, 300), Reservoir::new(bands, 300));
        for k in 0..4 {
            a.offer(&px[k * 1000 * bands..(k + 1) * 1000 * bands]);
            b.offer_codes(
                &q[k * 1000 * bands..(k + 1) * 1000 * bands],
                &scales[k * 1000..(k + 1) * 1000],
            );
        }
        assert_eq!(a.valid_pixels(), b.valid_pixels());
        assert_eq!(a.finish(), b.finish());
    }
}
