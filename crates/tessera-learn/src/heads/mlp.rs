//! A small multilayer perceptron, the paper's kind of pixel head: dense layers with ReLU
//! and dropout, softmax cross-entropy for classes (squared error on standardised values for
//! regression), Glorot-uniform initial weights, mini-batches, AdamW (PyTorch's decoupled
//! weight decay, biases not decayed). Inputs are standardised with the training mean and
//! population standard deviation. Weights are stored as scikit-learn's `coefs_` are
//! (inputs × outputs), so its `MLPClassifier` computes the same forward pass.

use rayon::prelude::*;

use crate::mat::{matmul, matmul_at, matmul_bt};
use crate::rng::Rng;

/// Options.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpOptions {
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// Passes over the training rows.
    pub epochs: usize,
    /// Rows per step.
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Dropout after each hidden layer.
    pub dropout: f64,
    /// Seed (initial weights, batch order, dropout).
    pub seed: u64,
    /// Standardise the inputs.
    pub standardize: bool,
    /// Stop once the epoch's mean training loss has not improved on the best by more than
    /// this for `n_iter_no_change` epochs in a row (scikit-learn's `tol`); 0 runs every
    /// epoch.
    pub tol: f64,
    /// Epochs without improvement before stopping (scikit-learn's `n_iter_no_change`).
    pub n_iter_no_change: usize,
}

impl Default for MlpOptions {
    fn default() -> Self {
        MlpOptions {
            hidden: vec![128, 64],
            epochs: 100,
            batch: 256,
            lr: 1e-3,
            weight_decay: 0.01,
            dropout: 0.1,
            seed: 42,
            standardize: true,
            tol: 1e-4,
            n_iter_no_change: 10,
        }
    }
}

/// One dense layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Inputs.
    pub n_in: usize,
    /// Outputs.
    pub n_out: usize,
    /// Weights, n_in × n_out.
    pub w: Vec<f32>,
    /// Biases.
    pub b: Vec<f32>,
}

/// A fitted MLP.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// Input dimensions.
    pub d: usize,
    /// Layers, the last one the output.
    pub layers: Vec<Layer>,
    /// Input means (0 when not standardised).
    pub mean: Vec<f32>,
    /// Input standard deviations (1 when not standardised).
    pub std: Vec<f32>,
    /// Predicts a value.
    pub regression: bool,
    /// Target mean and standard deviation (regression).
    pub y_scale: (f64, f64),
    /// Mean training loss of the last epoch.
    pub final_loss: f64,
}

fn relu(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

fn add_bias(z: &mut [f32], b: &[f32]) {
    for row in z.chunks_exact_mut(b.len()) {
        for (v, &bb) in row.iter_mut().zip(b) {
            *v += bb;
        }
    }
}

fn softmax_rows(z: &mut [f32], c: usize) {
    for row in z.chunks_exact_mut(c) {
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut s = 0.0;
        for v in row.iter_mut() {
            *v = (*v - m).exp();
            s += *v;
        }
        row.iter_mut().for_each(|v| *v /= s);
    }
}

impl Mlp {
    fn standardise(&self, x: &[f32]) -> Vec<f32> {
        let d = self.d;
        let mut z = x.to_vec();
        z.par_chunks_mut(d * 256).for_each(|rows| {
            for row in rows.chunks_exact_mut(d) {
                for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                    *v = (*v - m) / s;
                }
            }
        });
        z
    }

    /// Raw outputs of rows already standardised.
    fn logits(&self, z: Vec<f32>) -> Vec<f32> {
        let n = z.len() / self.d;
        let mut a = z;
        for (li, l) in self.layers.iter().enumerate() {
            let mut out = vec![0f32; n * l.n_out];
            matmul(&a, &l.w, n, l.n_out, l.n_in, &mut out);
            add_bias(&mut out, &l.b);
            if li + 1 < self.layers.len() {
                relu(&mut out);
            }
            a = out;
        }
        a
    }

    /// Class probabilities (n × classes) or values (n) of rows `x`.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let z = self.standardise(x);
        let mut out =
            Vec::with_capacity(x.len() / self.d * self.layers.last().map_or(1, |l| l.n_out));
        // Blocks of rows bound the activations' memory.
        let block = 8192 * self.d;
        for chunk in z.chunks(block) {
            let mut a = self.logits(chunk.to_vec());
            if self.regression {
                a.iter_mut()
                    .for_each(|v| *v = (f64::from(*v) * self.y_scale.1 + self.y_scale.0) as f32);
            } else {
                let c = self.layers.last().map_or(1, |l| l.n_out);
                softmax_rows(&mut a, c);
            }
            out.extend_from_slice(&a);
        }
        out
    }
}

enum Y<'a> {
    Class(&'a [u32], usize),
    Value(Vec<f32>),
}

fn train(x: &[f32], d: usize, y: Y, opts: &MlpOptions) -> crate::Result<Mlp> {
    let n = x.len() / d;
    if n == 0 {
        return Err(crate::usage("no rows to train on"));
    }
    if opts.batch == 0 || opts.epochs == 0 || opts.hidden.contains(&0) {
        return Err(crate::usage(
            "MLP: batch, epochs and layer widths must be positive",
        ));
    }
    if !(0.0..1.0).contains(&opts.dropout) {
        return Err(crate::usage("MLP: dropout must be in [0, 1)"));
    }
    let (regression, n_out) = match &y {
        Y::Class(_, c) => (false, *c),
        Y::Value(_) => (true, 1),
    };
    // Standardisation.
    let (mut mean, mut std) = (vec![0f32; d], vec![1f32; d]);
    if opts.standardize {
        let mut m = vec![0f64; d];
        for row in x.chunks_exact(d) {
            for (a, &v) in m.iter_mut().zip(row) {
                *a += f64::from(v);
            }
        }
        m.iter_mut().for_each(|v| *v /= n as f64);
        let mut s = vec![0f64; d];
        for row in x.chunks_exact(d) {
            for k in 0..d {
                s[k] += (f64::from(row[k]) - m[k]).powi(2);
            }
        }
        for k in 0..d {
            mean[k] = m[k] as f32;
            let sd = (s[k] / n as f64).sqrt();
            std[k] = if sd > 0.0 { sd as f32 } else { 1.0 };
        }
    }
    let (y_scale, yv) = match &y {
        Y::Value(v) => {
            let m = v.iter().map(|&a| f64::from(a)).sum::<f64>() / n as f64;
            let s = (v.iter().map(|&a| (f64::from(a) - m).powi(2)).sum::<f64>() / n as f64)
                .sqrt()
                .max(1e-12);
            (
                (m, s),
                v.iter()
                    .map(|&a| ((f64::from(a) - m) / s) as f32)
                    .collect::<Vec<f32>>(),
            )
        }
        Y::Class(..) => ((0.0, 1.0), Vec::new()),
    };
    let mut rng = Rng::stream(opts.seed, 0x31);
    let mut widths = vec![d];
    widths.extend(&opts.hidden);
    widths.push(n_out);
    let mut layers: Vec<Layer> = widths
        .windows(2)
        .map(|w| {
            let (i, o) = (w[0], w[1]);
            let lim = (6.0 / (i + o) as f64).sqrt();
            Layer {
                n_in: i,
                n_out: o,
                w: (0..i * o)
                    .map(|_| ((rng.uniform() * 2.0 - 1.0) * lim) as f32)
                    .collect(),
                b: vec![0f32; o],
            }
        })
        .collect();
    let mut mlp = Mlp {
        d,
        layers: Vec::new(),
        mean,
        std,
        regression,
        y_scale,
        final_loss: f64::NAN,
    };
    let z = mlp.standardise(x);
    // Adam state.
    let mut mw: Vec<Vec<f32>> = layers.iter().map(|l| vec![0f32; l.w.len()]).collect();
    let mut vw = mw.clone();
    let mut mb: Vec<Vec<f32>> = layers.iter().map(|l| vec![0f32; l.b.len()]).collect();
    let mut vb = mb.clone();
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let mut step = 0i32;
    let mut order: Vec<usize> = (0..n).collect();
    let nl = layers.len();
    let keep = 1.0 - opts.dropout;
    let (mut best, mut stale) = (f64::INFINITY, 0usize);
    for _epoch in 0..opts.epochs {
        rng.shuffle(&mut order);
        let mut epoch_loss = 0.0;
        for batch in order.chunks(opts.batch) {
            let m = batch.len();
            // Forward, keeping each layer's input.
            let mut acts: Vec<Vec<f32>> = Vec::with_capacity(nl + 1);
            let mut a = Vec::with_capacity(m * d);
            for &i in batch {
                a.extend_from_slice(&z[i * d..(i + 1) * d]);
            }
            acts.push(a);
            let mut masks: Vec<Vec<f32>> = Vec::with_capacity(nl);
            for (li, l) in layers.iter().enumerate() {
                let mut out = vec![0f32; m * l.n_out];
                matmul(&acts[li], &l.w, m, l.n_out, l.n_in, &mut out);
                add_bias(&mut out, &l.b);
                if li + 1 < nl {
                    relu(&mut out);
                    // Inverted dropout.
                    let mask: Vec<f32> = if opts.dropout > 0.0 {
                        // Two draws of 32 bits from each 64-bit step: kept when below
                        // keep · 2³².
                        let below = (keep * 4_294_967_296.0) as u64;
                        let scale = (1.0 / keep) as f32;
                        let mut mask = vec![0f32; out.len()];
                        for pair in mask.chunks_mut(2) {
                            let r = rng.next_u64();
                            for (j, v) in pair.iter_mut().enumerate() {
                                let kept = ((r >> (32 * j)) & 0xffff_ffff) < below;
                                *v = scale * f32::from(u8::from(kept));
                            }
                        }
                        mask
                    } else {
                        Vec::new()
                    };
                    if !mask.is_empty() {
                        out.iter_mut().zip(&mask).for_each(|(v, k)| *v *= k);
                    }
                    masks.push(mask);
                }
                acts.push(out);
            }
            // Output gradient (of the mean loss).
            let mut g = acts.pop().expect("output");
            match &y {
                Y::Class(yc, c) => {
                    softmax_rows(&mut g, *c);
                    for (r, &i) in batch.iter().enumerate() {
                        let t = yc[i] as usize;
                        epoch_loss -= f64::from(g[r * c + t].max(1e-30)).ln();
                        g[r * c + t] -= 1.0;
                    }
                }
                Y::Value(_) => {
                    for (r, &i) in batch.iter().enumerate() {
                        let e = g[r] - yv[i];
                        epoch_loss += f64::from(e * e) * 0.5;
                        g[r] = e;
                    }
                }
            }
            let inv_m = 1.0 / m as f32;
            g.iter_mut().for_each(|v| *v *= inv_m);
            // Backward.
            step += 1;
            let bc1 = 1.0 - b1.powi(step);
            let bc2 = 1.0 - b2.powi(step);
            for li in (0..nl).rev() {
                let l = &layers[li];
                let mut gw = vec![0f32; l.w.len()];
                matmul_at(&acts[li], &g, m, l.n_in, l.n_out, &mut gw);
                let mut gb = vec![0f32; l.n_out];
                for row in g.chunks_exact(l.n_out) {
                    for (a, &v) in gb.iter_mut().zip(row) {
                        *a += v;
                    }
                }
                let prev = if li > 0 {
                    let mut ga = vec![0f32; m * l.n_in];
                    matmul_bt(&g, &l.w, m, l.n_in, l.n_out, &mut ga);
                    // Through dropout and ReLU of the layer below.
                    let mask = &masks[li - 1];
                    // The layer's input is ReLU(z)·mask: positive exactly where the
                    // gradient passes, scaled by the mask.
                    if mask.is_empty() {
                        for (v, &a) in ga.iter_mut().zip(&acts[li]) {
                            *v = if a > 0.0 { *v } else { 0.0 };
                        }
                    } else {
                        for ((v, &a), &k) in ga.iter_mut().zip(&acts[li]).zip(mask) {
                            *v = if a > 0.0 { *v * k } else { 0.0 };
                        }
                    }
                    Some(ga)
                } else {
                    None
                };
                let l = &mut layers[li];
                // Adam in f32, as PyTorch's AdamW keeps its state.
                let lr = opts.lr as f32;
                let decay = (1.0 - opts.lr * opts.weight_decay) as f32;
                let (b1f, b2f) = (b1 as f32, b2 as f32);
                let (ibc1, ibc2) = ((1.0 / bc1) as f32, (1.0 / bc2) as f32);
                let epsf = eps as f32;
                let adam = |w: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], decay: f32| {
                    for (((w, m), v), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g)
                    {
                        *m = b1f * *m + (1.0 - b1f) * g;
                        *v = b2f * *v + (1.0 - b2f) * g * g;
                        let upd = lr * (*m * ibc1) / ((*v * ibc2).sqrt() + epsf);
                        *w = *w * decay - upd;
                    }
                };
                adam(&mut l.w, &mut mw[li], &mut vw[li], &gw, decay);
                adam(&mut l.b, &mut mb[li], &mut vb[li], &gb, 1.0);
                if let Some(ga) = prev {
                    g = ga;
                }
            }
        }
        mlp.final_loss = epoch_loss / n as f64;
        if !mlp.final_loss.is_finite() {
            return Err(crate::usage(
                "MLP training diverged (the loss is not finite): lower --lr",
            ));
        }
        // scikit-learn's rule: count epochs whose loss is not `tol` below the best.
        if opts.tol > 0.0 {
            if mlp.final_loss > best - opts.tol {
                stale += 1;
            } else {
                stale = 0;
            }
            best = best.min(mlp.final_loss);
            if stale > opts.n_iter_no_change {
                break;
            }
        }
    }
    mlp.layers = layers;
    Ok(mlp)
}

/// Trains a classifier.
pub fn fit_classifier(
    x: &[f32],
    d: usize,
    y: &[u32],
    n_classes: usize,
    opts: &MlpOptions,
) -> crate::Result<Mlp> {
    train(x, d, Y::Class(y, n_classes), opts)
}

/// Trains a regressor.
pub fn fit_regressor(x: &[f32], d: usize, y: &[f64], opts: &MlpOptions) -> crate::Result<Mlp> {
    train(x, d, Y::Value(y.iter().map(|&v| v as f32).collect()), opts)
}
