//! L2-regularised logistic regression, as scikit-learn's `LogisticRegression(C=…)` with
//! the L-BFGS solver: multinomial (softmax) over C ≥ 3 classes with a C × d coefficient
//! matrix, binary (one coefficient vector for the second class) for two, unpenalised
//! intercepts, optional sample weights (`class_weight="balanced"`). The objective is
//! `½‖W‖² + C · Σᵢ wᵢ ℓᵢ`, minimised in f64 by L-BFGS (10 corrections) with a line search
//! meeting the strong Wolfe conditions. Linear, so it predicts straight from int8 codes:
//! `W·(s·c) + b = s·(W·c) + b`.

use rayon::prelude::*;

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    /// Coefficients, rows × d (one row for two classes, else one per class).
    pub coef: Vec<f64>,
    /// Intercepts, one per row.
    pub intercept: Vec<f64>,
    /// Dimensions.
    pub d: usize,
    /// Classes.
    pub n_classes: usize,
    /// L-BFGS iterations used.
    pub iterations: usize,
    /// Whether the gradient met the tolerance.
    pub converged: bool,
}

/// Training options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogisticOptions {
    /// Inverse regularisation strength.
    pub c: f64,
    /// Stop when the largest gradient component of the mean objective is below this.
    pub tol: f64,
    /// Iteration cap.
    pub max_iter: usize,
}

impl Default for LogisticOptions {
    fn default() -> Self {
        LogisticOptions {
            c: 1.0,
            tol: 1e-4,
            max_iter: 1000,
        }
    }
}

struct Problem<'a> {
    x: &'a [f64],
    d: usize,
    y: &'a [u32],
    w: &'a [f64],
    rows: usize,
    binary: bool,
    /// Σw: the loss is the weighted mean, as scikit-learn's.
    sw: f64,
    /// 1 / (C Σw), the penalty's weight in the scaled objective.
    inv: f64,
}

impl Problem<'_> {
    fn n(&self) -> usize {
        self.y.len()
    }

    /// Objective and gradient at `p` = [W (rows × d) | b (rows)].
    fn eval(&self, p: &[f64], g: &mut [f64]) -> f64 {
        let (d, r) = (self.d, self.rows);
        let wlen = r * d;
        let chunk = 512;
        let parts: Vec<(f64, Vec<f64>)> = (0..self.n().div_ceil(chunk))
            .into_par_iter()
            .map(|ci| {
                let mut gl = vec![0f64; wlen + r];
                let mut loss = 0.0;
                let mut z = vec![0f64; r];
                for i in ci * chunk..((ci + 1) * chunk).min(self.n()) {
                    let xi = &self.x[i * d..(i + 1) * d];
                    for k in 0..r {
                        let wk = &p[k * d..(k + 1) * d];
                        z[k] = p[wlen + k] + crate::mat::dot_f64(xi, wk);
                    }
                    let yi = self.y[i] as usize;
                    let wi = self.w[i];
                    if self.binary {
                        let t = f64::from(u8::from(yi == 1));
                        // log(1 + e^z) − t z, stably.
                        let zz = z[0];
                        let l = if zz > 0.0 {
                            zz + (-zz).exp().ln_1p()
                        } else {
                            zz.exp().ln_1p()
                        } - t * zz;
                        loss += wi * l;
                        let s = 1.0 / (1.0 + (-zz).exp());
                        z[0] = wi * (s - t);
                    } else {
                        let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let mut sum = 0.0;
                        for v in z.iter_mut() {
                            *v = (*v - m).exp();
                            sum += *v;
                        }
                        let lse = m + sum.ln();
                        // z holds exp(z − m); the loss needs the original z of the label.
                        let zy = m + z[yi].ln();
                        loss += wi * (lse - zy);
                        for (k, v) in z.iter_mut().enumerate() {
                            *v = wi * (*v / sum - f64::from(u8::from(k == yi)));
                        }
                    }
                    for k in 0..r {
                        let gk = z[k];
                        if gk != 0.0 {
                            for (gv, &xv) in gl[k * d..(k + 1) * d].iter_mut().zip(xi) {
                                *gv += gk * xv;
                            }
                            gl[wlen + k] += gk;
                        }
                    }
                }
                (loss, gl)
            })
            .collect();
        g.iter_mut().for_each(|v| *v = 0.0);
        let mut loss = 0.0;
        for (l, gl) in parts {
            loss += l;
            for (a, b) in g.iter_mut().zip(gl) {
                *a += b;
            }
        }
        // Scaled: mean loss + ½‖W‖² / (C Σw).
        let mut reg = 0.0;
        for k in 0..wlen {
            reg += p[k] * p[k];
            g[k] = g[k] / self.sw + p[k] * self.inv;
        }
        for v in &mut g[wlen..wlen + r] {
            *v /= self.sw;
        }
        loss / self.sw + 0.5 * reg * self.inv
    }
}

/// Fits on `x` (n × d) with class indices `y` and sample weights `w`.
pub fn fit(
    x: &[f32],
    d: usize,
    y: &[u32],
    w: &[f64],
    n_classes: usize,
    opts: &LogisticOptions,
) -> Logistic {
    let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let binary = n_classes == 2;
    let rows = if binary { 1 } else { n_classes };
    let sw: f64 = w.iter().sum();
    let prob = Problem {
        x: &x64,
        d,
        y,
        w,
        rows,
        binary,
        sw,
        inv: 1.0 / (opts.c * sw),
    };
    let mut p = vec![0f64; rows * d + rows];
    let (iterations, converged) = lbfgs(&prob, &mut p, opts.tol, opts.max_iter);
    Logistic {
        coef: p[..rows * d].to_vec(),
        intercept: p[rows * d..].to_vec(),
        d,
        n_classes,
        iterations,
        converged,
    }
}

fn dotv(a: &[f64], b: &[f64]) -> f64 {
    crate::mat::dot_f64(a, b)
}

/// L-BFGS with m = 10 and a strong-Wolfe line search (Nocedal and Wright, algorithms 7.4,
/// 3.5 and 3.6, cubic interpolation in the zoom). Returns (iterations, converged).
fn lbfgs(prob: &Problem, p: &mut [f64], tol: f64, max_iter: usize) -> (usize, bool) {
    const M: usize = 10;
    let n = p.len();
    let mut g = vec![0f64; n];
    let mut f = prob.eval(p, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho: Vec<f64> = Vec::new();
    let gmax = |g: &[f64]| g.iter().fold(0f64, |a, v| a.max(v.abs()));
    let mut gn = vec![0f64; n];
    let mut pn = vec![0f64; n];
    let mut stalled = 0;
    for it in 0..max_iter {
        if gmax(&g) <= tol {
            return (it, true);
        }
        // Two-loop recursion: direction = −H g.
        let mut q = g.clone();
        let k = s_hist.len();
        let mut alpha = vec![0f64; k];
        for i in (0..k).rev() {
            alpha[i] = rho[i] * dotv(&s_hist[i], &q);
            for (qv, yv) in q.iter_mut().zip(&y_hist[i]) {
                *qv -= alpha[i] * yv;
            }
        }
        let gamma = if k > 0 {
            dotv(&s_hist[k - 1], &y_hist[k - 1]) / dotv(&y_hist[k - 1], &y_hist[k - 1])
        } else {
            1.0 / gmax(&g).max(1e-300).max(1.0)
        };
        q.iter_mut().for_each(|v| *v *= gamma);
        for i in 0..k {
            let b = rho[i] * dotv(&y_hist[i], &q);
            for (qv, sv) in q.iter_mut().zip(&s_hist[i]) {
                *qv += (alpha[i] - b) * sv;
            }
        }
        let dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut dg = dotv(&g, &dir);
        let dir = if dg >= 0.0 {
            // Not a descent direction (curvature lost): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            dg = -dotv(&g, &g);
            g.iter().map(|v| -v).collect()
        } else {
            dir
        };
        let Some((step, fnew)) = wolfe(prob, p, f, dg, &dir, &mut pn, &mut gn) else {
            // No acceptable step: at the optimum within rounding.
            return (it, gmax(&g) <= tol * 100.0);
        };
        let s: Vec<f64> = dir.iter().map(|v| v * step).collect();
        let yv: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dotv(&s, &yv);
        p.copy_from_slice(&pn);
        g.copy_from_slice(&gn);
        let fold = f;
        f = fnew;
        if sy > 1e-300 {
            if s_hist.len() == M {
                s_hist.remove(0);
                y_hist.remove(0);
                rho.remove(0);
            }
            s_hist.push(s);
            y_hist.push(yv);
            rho.push(1.0 / sy);
        }
        // No further decrease within rounding for 5 iterations in a row: as converged
        // as f64 allows.
        if (fold - f) <= 64.0 * f64::EPSILON * fold.abs().max(f.abs()).max(1.0) {
            stalled += 1;
            if stalled >= 5 {
                return (it + 1, true);
            }
        } else {
            stalled = 0;
        }
    }
    (max_iter, gmax(&g) <= tol)
}

#[allow(clippy::too_many_arguments)]
fn wolfe(
    prob: &Problem,
    p: &[f64],
    f0: f64,
    dg0: f64,
    dir: &[f64],
    pn: &mut [f64],
    gn: &mut [f64],
) -> Option<(f64, f64)> {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    let mut eval = |a: f64, pn: &mut [f64], gn: &mut [f64]| -> (f64, f64) {
        for ((o, &x), &dv) in pn.iter_mut().zip(p).zip(dir) {
            *o = x + a * dv;
        }
        let f = prob.eval(pn, gn);
        (f, dotv(gn, dir))
    };
    let (mut a_prev, mut f_prev, mut dg_prev) = (0.0, f0, dg0);
    let mut a = 1.0;
    for i in 0..40 {
        let (fa, dga) = eval(a, pn, gn);
        if !fa.is_finite() {
            a *= 0.5;
            continue;
        }
        if fa > f0 + C1 * a * dg0 || (i > 0 && fa >= f_prev) {
            return zoom(
                &mut eval, f0, dg0, a_prev, f_prev, dg_prev, a, fa, dga, pn, gn,
            );
        }
        if dga.abs() <= -C2 * dg0 {
            return Some((a, fa));
        }
        if dga >= 0.0 {
            return zoom(
                &mut eval, f0, dg0, a, fa, dga, a_prev, f_prev, dg_prev, pn, gn,
            );
        }
        a_prev = a;
        f_prev = fa;
        dg_prev = dga;
        a *= 2.0;
    }
    None
}

#[allow(clippy::too_many_arguments)]
fn zoom(
    eval: &mut impl FnMut(f64, &mut [f64], &mut [f64]) -> (f64, f64),
    f0: f64,
    dg0: f64,
    mut lo: f64,
    mut flo: f64,
    mut dlo: f64,
    mut hi: f64,
    mut fhi: f64,
    mut dhi: f64,
    pn: &mut [f64],
    gn: &mut [f64],
) -> Option<(f64, f64)> {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    for _ in 0..60 {
        // Cubic interpolation between lo and hi, safeguarded to the middle of the bracket.
        let d1 = dlo + dhi - 3.0 * (flo - fhi) / (lo - hi);
        let disc = d1 * d1 - dlo * dhi;
        let mut a = if disc >= 0.0 {
            let d2 = disc.sqrt() * (hi - lo).signum();
            hi - (hi - lo) * (dhi + d2 - d1) / (dhi - dlo + 2.0 * d2)
        } else {
            f64::NAN
        };
        let (mn, mx) = (lo.min(hi), lo.max(hi));
        let margin = 0.1 * (mx - mn);
        if !a.is_finite() || a < mn + margin || a > mx - margin {
            a = 0.5 * (lo + hi);
        }
        if (hi - lo).abs() < 1e-16 * lo.abs().max(1.0) {
            break;
        }
        let (fa, dga) = eval(a, pn, gn);
        if fa > f0 + C1 * a * dg0 || fa >= flo {
            hi = a;
            fhi = fa;
            dhi = dga;
        } else {
            if dga.abs() <= -C2 * dg0 {
                return Some((a, fa));
            }
            if dga * (hi - lo) >= 0.0 {
                hi = lo;
                fhi = flo;
                dhi = dlo;
            }
            lo = a;
            flo = fa;
            dlo = dga;
        }
    }
    // The bracket collapsed: take its best point when it decreases the objective.
    if lo > 0.0 && flo < f0 {
        let (fa, _) = eval(lo, pn, gn);
        return Some((lo, fa));
    }
    None
}

/// `n` zeros on the stack when they fit, else on the heap.
fn scratch<'a>(stack: &'a mut [f64; 256], heap: &'a mut Vec<f64>, n: usize) -> &'a mut [f64] {
    if n <= stack.len() {
        &mut stack[..n]
    } else {
        heap.resize(n, 0.0);
        heap
    }
}

impl Logistic {
    fn rows(&self) -> usize {
        self.intercept.len()
    }

    /// Probabilities from decision values.
    pub fn softmax(&self, z: &[f64], out: &mut [f32]) {
        if self.rows() == 1 {
            let p = 1.0 / (1.0 + (-z[0]).exp());
            out[0] = (1.0 - p) as f32;
            out[1] = p as f32;
            return;
        }
        let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut stack = [0f64; 256];
        let mut heap = Vec::new();
        let e = scratch(&mut stack, &mut heap, z.len());
        for (e, v) in e.iter_mut().zip(z) {
            *e = (v - m).exp();
        }
        let s: f64 = e.iter().sum();
        for (o, v) in out.iter_mut().zip(e.iter()) {
            *o = (v / s) as f32;
        }
    }

    /// Class probabilities (n × classes): the decision values of blocks of rows by one
    /// matrix product (f32, exact to ~1e-6 of the f64 sums), softmax in f64.
    pub fn predict_proba(&self, x: &[f32]) -> Vec<f32> {
        let (c, d, r) = (self.n_classes, self.d, self.rows());
        let n = x.len() / d;
        let mut out = vec![0f32; n * c];
        let w32: Vec<f32> = self.coef.iter().map(|&v| v as f32).collect();
        // Up to 16 decision rows (most class sets) take the narrow product: one pass
        // over the pixels without packing them.
        let narrow = (r <= crate::mat::NARROW).then(|| crate::mat::narrow_bt(&w32, r, d));
        const BLOCK: usize = 512;
        out.par_chunks_mut(c * BLOCK)
            .zip(x.par_chunks(d * BLOCK))
            .for_each(|(o, xs)| {
                let m = xs.len() / d;
                let mut z32 = vec![0f32; m * r];
                match &narrow {
                    Some(bt) => crate::mat::matmul_narrow(xs, bt, m, r, d, &mut z32),
                    None => crate::mat::matmul_bt(xs, &w32, m, r, d, &mut z32),
                }
                let (mut stack, mut heap) = ([0f64; 256], Vec::new());
                let z = scratch(&mut stack, &mut heap, r);
                for (zi, oi) in z32.chunks_exact(r).zip(o.chunks_exact_mut(c)) {
                    for ((zv, &v), &b) in z.iter_mut().zip(zi).zip(&self.intercept) {
                        *zv = f64::from(v) + b;
                    }
                    self.softmax(z, oi);
                }
            });
        out
    }

    /// Class probabilities of int8 codes with one scale per pixel: the logits are
    /// `s · (W·c) + b`. Pixels whose scale is not valid get NaN.
    pub fn predict_proba_codes(&self, codes: &[i8], scales: &[f32], out: &mut [f32]) {
        let c = self.n_classes;
        let w32: Vec<f32> = self.coef.iter().map(|&v| v as f32).collect();
        out.par_chunks_mut(c)
            .zip(codes.par_chunks(self.d))
            .zip(scales.par_iter())
            .for_each(|((o, q), &s)| {
                if !(s.is_finite() && s > 0.0 && s < 1.0) {
                    o.fill(f32::NAN);
                    return;
                }
                let (mut stack, mut heap) = ([0f64; 256], Vec::new());
                let r = self.rows();
                let z = scratch(&mut stack, &mut heap, r);
                for k in 0..r {
                    let dot = crate::mat::dot_i8_f32(q, &w32[k * self.d..(k + 1) * self.d]);
                    z[k] = f64::from(s) * f64::from(dot) + self.intercept[k];
                }
                self.softmax(z, o);
            });
    }
}
