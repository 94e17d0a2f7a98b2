//! Random forests for classes (Gini) and values (squared error), as scikit-learn's
//! `RandomForestClassifier` / `RandomForestRegressor` defaults: bootstrap samples, a fresh
//! random subset of `max_features` features at every split (`sqrt(d)` for classes, all
//! for values), grown until pure, probabilities = the mean of the trees' leaf frequencies.
//!
//! Splits are found on histograms: each feature is cut into at most 255 bins (exact
//! midpoints when it has at most 256 distinct values, as int8 codes do, else quantiles of
//! at most 200,000 rows), so a node costs one pass over its rows per candidate feature.
//! Trees are built in parallel, each from its own random stream: the same seed gives the
//! same forest whatever the thread count. Thresholds are kept as feature values, so the
//! forest predicts on raw embeddings: left when `x <= threshold`.

use rayon::prelude::*;

use crate::rng::Rng;

/// Forest options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForestOptions {
    /// Trees.
    pub trees: usize,
    /// Depth limit (None: until pure).
    pub max_depth: Option<usize>,
    /// Fewest rows in a leaf.
    pub min_samples_leaf: usize,
    /// Fewest rows to split a node.
    pub min_samples_split: usize,
    /// Features tried per split (None: sqrt(d) for classes, d for values).
    pub max_features: Option<usize>,
    /// Seed.
    pub seed: u64,
    /// Weigh classes inversely to their frequency.
    pub balanced: bool,
}

impl Default for ForestOptions {
    fn default() -> Self {
        ForestOptions {
            trees: 100,
            max_depth: None,
            min_samples_leaf: 1,
            min_samples_split: 2,
            max_features: None,
            seed: 42,
            balanced: false,
        }
    }
}

/// A fitted forest as flat node arrays (what the model file stores).
#[derive(Debug, Clone, PartialEq)]
pub struct Forest {
    /// First node of each tree.
    pub tree_offsets: Vec<u32>,
    /// Split feature per node, −1 for a leaf.
    pub feature: Vec<i16>,
    /// Split threshold per node (left when `x <= threshold`).
    pub threshold: Vec<f32>,
    /// Left child (absolute node index).
    pub left: Vec<u32>,
    /// Right child.
    pub right: Vec<u32>,
    /// Per node `outputs` values: class frequencies (classification) or the mean.
    pub value: Vec<f32>,
    /// Values per node: classes, or 1 for regression.
    pub outputs: usize,
    /// Whether it predicts values.
    pub regression: bool,
    /// Dimensions.
    pub d: usize,
    /// Impurity-decrease importance per feature (sums to 1).
    pub importances: Vec<f64>,
    /// Out-of-bag accuracy (classification) or R² (regression), when computable.
    pub oob_score: Option<f64>,
    /// The nodes packed for prediction, built on first use.
    packed: PackCache,
}

/// Bin edges of one feature: distinct-value midpoints or quantiles.
fn edges(col: &mut [f32]) -> Vec<f32> {
    col.sort_unstable_by(f32::total_cmp);
    let mut uniq: Vec<f32> = Vec::new();
    for &v in col.iter() {
        if uniq.last() != Some(&v) {
            uniq.push(v);
        }
    }
    if uniq.len() <= 256 {
        return uniq
            .windows(2)
            .map(|w| w[0] + (w[1] - w[0]) / 2.0)
            .collect();
    }
    let n = col.len();
    let mut e: Vec<f32> = (1..255)
        .map(|k| {
            let pos = k as f64 / 255.0 * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let t = pos - lo as f64;
            let hi = (lo + 1).min(n - 1);
            (f64::from(col[lo]) * (1.0 - t) + f64::from(col[hi]) * t) as f32
        })
        .collect();
    e.dedup();
    e
}

struct Binned {
    /// Column-major bins, n per feature.
    bins: Vec<u8>,
    edges: Vec<Vec<f32>>,
    n: usize,
}

fn bin_features(x: &[f32], n: usize, d: usize, seed: u64) -> Binned {
    // Edges from at most 200,000 rows.
    let sub: Vec<usize> = if n > 200_000 {
        let mut r = Rng::stream(seed, 0xB1);
        (0..200_000).map(|_| r.below(n)).collect()
    } else {
        (0..n).collect()
    };
    let edges: Vec<Vec<f32>> = (0..d)
        .into_par_iter()
        .map(|f| {
            let mut col: Vec<f32> = sub.iter().map(|&i| x[i * d + f]).collect();
            edges(&mut col)
        })
        .collect();
    let mut bins = vec![0u8; n * d];
    bins.par_chunks_mut(n).enumerate().for_each(|(f, out)| {
        let e = &edges[f];
        for (i, o) in out.iter_mut().enumerate() {
            // Number of edges strictly below the value: bin ≤ b ⇔ x ≤ e[b].
            *o = e.partition_point(|&t| t < x[i * d + f]) as u8;
        }
    });
    Binned { bins, edges, n }
}

/// What the trees are grown on.
enum Labels<'a> {
    Class(&'a [u32], usize),
    Value(&'a [f64]),
}

struct Node {
    feature: i16,
    threshold: f32,
    left: u32,
    right: u32,
    value: Vec<f32>,
}

/// A node as prediction reads it.
#[derive(Clone, Copy)]
#[repr(C)]
struct PackedNode {
    feature: u32,
    threshold: f32,
    left: u32,
    right: u32,
}

/// The packed nodes of a forest, derived from its arrays: not part of its value.
#[derive(Clone, Default)]
struct PackCache(std::sync::OnceLock<Vec<PackedNode>>);

impl PartialEq for PackCache {
    fn eq(&self, _: &PackCache) -> bool {
        true
    }
}

impl std::fmt::Debug for PackCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

/// A leaf's code for a pure class (see [`Forest::pack`]).
const PURE: u32 = 1 << 31;

impl PackedNode {
    /// The child the row starting at `xs[at]` goes to; a leaf is its own child (its
    /// feature is 0 and both children are itself), so a walk needs no leaf test.
    #[inline(always)]
    fn child(&self, xs: &[f32], at: usize) -> usize {
        let x = xs[at + self.feature as usize];
        (if x <= self.threshold {
            self.left
        } else {
            self.right
        }) as usize
    }
}

struct TreeOut {
    nodes: Vec<Node>,
    importance: Vec<f64>,
    /// Rows not drawn by the bootstrap.
    oob: Vec<u32>,
}

/// Split statistics for one candidate bin threshold.
fn gini_score(left: &[f64], right: &[f64], wl: f64, wr: f64) -> f64 {
    // Σ L_c² / |L| + Σ R_c² / |R|: larger is purer.
    let sl: f64 = left.iter().map(|v| v * v).sum();
    let sr: f64 = right.iter().map(|v| v * v).sum();
    sl / wl + sr / wr
}

#[allow(clippy::too_many_arguments)]
fn grow_tree(
    data: &Binned,
    labels: &Labels,
    class_w: &[f64],
    d: usize,
    opts: &ForestOptions,
    max_features: usize,
    tree: usize,
) -> TreeOut {
    let n = data.n;
    let mut rng = Rng::stream(opts.seed, tree as u64);
    // Bootstrap: n draws with replacement, as counts.
    let mut counts = vec![0u32; n];
    for _ in 0..n {
        counts[rng.below(n)] += 1;
    }
    let oob: Vec<u32> = (0..n as u32).filter(|&i| counts[i as usize] == 0).collect();
    let rows: Vec<u32> = (0..n as u32).filter(|&i| counts[i as usize] > 0).collect();
    let weight = |i: u32| -> f64 {
        let c = f64::from(counts[i as usize]);
        match labels {
            Labels::Class(y, _) => c * class_w[y[i as usize] as usize],
            Labels::Value(_) => c,
        }
    };
    let outputs = match labels {
        Labels::Class(_, c) => *c,
        Labels::Value(_) => 1,
    };
    let mut nodes: Vec<Node> = Vec::new();
    let mut importance = vec![0f64; d];
    // (rows, depth, node index)
    let mut stack: Vec<(Vec<u32>, usize, usize)> = Vec::new();
    let leaf_value = |rows: &[u32]| -> (Vec<f32>, f64, f64) {
        // (value, total weight, impurity × weight)
        match labels {
            Labels::Class(y, c) => {
                let mut h = vec![0f64; *c];
                for &i in rows {
                    h[y[i as usize] as usize] += weight(i);
                }
                let w: f64 = h.iter().sum();
                let imp = w - h.iter().map(|v| v * v).sum::<f64>() / w;
                (h.iter().map(|v| (v / w) as f32).collect(), w, imp)
            }
            Labels::Value(v) => {
                let (mut w, mut s, mut s2) = (0.0, 0.0, 0.0);
                for &i in rows {
                    let wi = weight(i);
                    let yi = v[i as usize];
                    w += wi;
                    s += wi * yi;
                    s2 += wi * yi * yi;
                }
                (vec![(s / w) as f32], w, s2 - s * s / w)
            }
        }
    };
    nodes.push(Node {
        feature: -1,
        threshold: 0.0,
        left: 0,
        right: 0,
        value: Vec::new(),
    });
    stack.push((rows, 0, 0));
    let mut feats: Vec<usize> = (0..d).collect();
    let mut hist_c = vec![0f64; 256 * outputs.max(1)];
    let mut hist_w = [0f64; 256];
    let mut hist_s = [0f64; 256];
    let mut hist_n = [0u32; 256];
    while let Some((rows, depth, id)) = stack.pop() {
        let (value, wtot, imp) = leaf_value(&rows);
        nodes[id].value = value;
        let pure = imp <= 1e-12 * wtot.max(1.0);
        if pure
            || rows.len() < opts.min_samples_split
            || rows.len() < 2 * opts.min_samples_leaf
            || opts.max_depth.is_some_and(|m| depth >= m)
        {
            continue;
        }
        // Best split over a random subset of features (more are drawn while the ones
        // drawn are constant in this node, as scikit-learn's splitter does).
        rng.shuffle(&mut feats);
        let mut best: Option<(f64, usize, u8)> = None;
        let mut tried = 0;
        for &f in feats.iter() {
            if tried >= max_features && best.is_some() {
                break;
            }
            let col = &data.bins[f * n..(f + 1) * n];
            hist_n.iter_mut().for_each(|v| *v = 0);
            hist_w.iter_mut().for_each(|v| *v = 0.0);
            let (mut lo, mut hi) = (255u8, 0u8);
            match labels {
                Labels::Class(y, c) => {
                    hist_c[..256 * c].iter_mut().for_each(|v| *v = 0.0);
                    for &i in &rows {
                        let b = col[i as usize];
                        let w = weight(i);
                        hist_c[b as usize * c + y[i as usize] as usize] += w;
                        hist_w[b as usize] += w;
                        hist_n[b as usize] += 1;
                        lo = lo.min(b);
                        hi = hi.max(b);
                    }
                }
                Labels::Value(v) => {
                    hist_s.iter_mut().for_each(|v| *v = 0.0);
                    for &i in &rows {
                        let b = col[i as usize];
                        let w = weight(i);
                        hist_w[b as usize] += w;
                        hist_s[b as usize] += w * v[i as usize];
                        hist_n[b as usize] += 1;
                        lo = lo.min(b);
                        hi = hi.max(b);
                    }
                }
            }
            if lo == hi {
                continue;
            }
            tried += 1;
            let c = outputs;
            let mut left_c = vec![0f64; c];
            let mut right_c = vec![0f64; c];
            let (mut wl, mut sl, mut nl) = (0.0, 0.0, 0usize);
            let (wt, st): (f64, f64) = (
                hist_w[lo as usize..=hi as usize].iter().sum(),
                hist_s[lo as usize..=hi as usize].iter().sum(),
            );
            if let Labels::Class(..) = labels {
                for b in lo..=hi {
                    for k in 0..c {
                        right_c[k] += hist_c[b as usize * c + k];
                    }
                }
            }
            for b in lo..hi {
                let bi = b as usize;
                wl += hist_w[bi];
                nl += hist_n[bi] as usize;
                if hist_n[bi] == 0 {
                    continue;
                }
                let nr = rows.len() - nl;
                if nl < opts.min_samples_leaf || nr < opts.min_samples_leaf {
                    if let Labels::Class(..) = labels {
                        for k in 0..c {
                            left_c[k] += hist_c[bi * c + k];
                            right_c[k] -= hist_c[bi * c + k];
                        }
                    } else {
                        sl += hist_s[bi];
                    }
                    continue;
                }
                let wr = wt - wl;
                let score = match labels {
                    Labels::Class(..) => {
                        for k in 0..c {
                            left_c[k] += hist_c[bi * c + k];
                            right_c[k] -= hist_c[bi * c + k];
                        }
                        gini_score(&left_c, &right_c, wl, wr)
                    }
                    Labels::Value(_) => {
                        sl += hist_s[bi];
                        let sr = st - sl;
                        sl * sl / wl + sr * sr / wr
                    }
                };
                if wl > 0.0
                    && wr > 0.0
                    && best.is_none_or(|bst| score > bst.0 + 1e-12 * score.abs())
                {
                    best = Some((score, f, b));
                }
            }
        }
        let Some((score, f, b)) = best else {
            continue;
        };
        // Impurity decrease (weighted), for importances.
        let parent_term = match labels {
            Labels::Class(..) => wtot - imp,
            Labels::Value(_) => {
                let s: f64 = rows
                    .iter()
                    .map(|&i| {
                        weight(i)
                            * match labels {
                                Labels::Value(v) => v[i as usize],
                                _ => 0.0,
                            }
                    })
                    .sum();
                s * s / wtot
            }
        };
        importance[f] += (score - parent_term).max(0.0);
        let col = &data.bins[f * n..(f + 1) * n];
        let (lrows, rrows): (Vec<u32>, Vec<u32>) =
            rows.iter().partition(|&&i| col[i as usize] <= b);
        let l = nodes.len();
        for _ in 0..2 {
            nodes.push(Node {
                feature: -1,
                threshold: 0.0,
                left: 0,
                right: 0,
                value: Vec::new(),
            });
        }
        nodes[id].feature = f as i16;
        nodes[id].threshold = data.edges[f][b as usize];
        nodes[id].left = l as u32;
        nodes[id].right = l as u32 + 1;
        stack.push((rrows, depth + 1, l + 1));
        stack.push((lrows, depth + 1, l));
    }
    TreeOut {
        nodes,
        importance,
        oob,
    }
}

fn fit_any(x: &[f32], d: usize, labels: Labels, opts: &ForestOptions) -> Forest {
    let n = x.len() / d;
    let data = bin_features(x, n, d, opts.seed);
    let outputs = match labels {
        Labels::Class(_, c) => c,
        Labels::Value(_) => 1,
    };
    let class_w: Vec<f64> = match labels {
        Labels::Class(y, c) if opts.balanced => {
            let mut cnt = vec![0f64; c];
            for &v in y {
                cnt[v as usize] += 1.0;
            }
            let present = cnt.iter().filter(|&&v| v > 0.0).count() as f64;
            cnt.iter()
                .map(|&k| {
                    if k > 0.0 {
                        n as f64 / (present * k)
                    } else {
                        0.0
                    }
                })
                .collect()
        }
        Labels::Class(_, c) => vec![1.0; c],
        Labels::Value(_) => Vec::new(),
    };
    let max_features = opts
        .max_features
        .unwrap_or(match labels {
            Labels::Class(..) => ((d as f64).sqrt() as usize).max(1),
            Labels::Value(_) => d,
        })
        .clamp(1, d);
    let trees: Vec<TreeOut> = (0..opts.trees)
        .into_par_iter()
        .map(|t| grow_tree(&data, &labels, &class_w, d, opts, max_features, t))
        .collect();
    let mut f = Forest {
        tree_offsets: Vec::with_capacity(trees.len()),
        feature: Vec::new(),
        threshold: Vec::new(),
        left: Vec::new(),
        right: Vec::new(),
        value: Vec::new(),
        outputs,
        regression: matches!(labels, Labels::Value(_)),
        d,
        importances: vec![0.0; d],
        oob_score: None,
        packed: Default::default(),
    };
    for t in &trees {
        let base = f.feature.len() as u32;
        f.tree_offsets.push(base);
        for nd in &t.nodes {
            f.feature.push(nd.feature);
            f.threshold.push(nd.threshold);
            f.left.push(base + nd.left);
            f.right.push(base + nd.right);
            f.value.extend_from_slice(&nd.value);
        }
        let s: f64 = t.importance.iter().sum();
        if s > 0.0 {
            for (a, v) in f.importances.iter_mut().zip(&t.importance) {
                *a += v / s;
            }
        }
    }
    let s: f64 = f.importances.iter().sum();
    if s > 0.0 {
        f.importances.iter_mut().for_each(|v| *v /= s);
    }
    // Out-of-bag score.
    let mut acc = vec![0f64; n * outputs];
    let mut hits = vec![0u32; n];
    for (ti, t) in trees.iter().enumerate() {
        for &i in &t.oob {
            let i = i as usize;
            let leaf = f.leaf(ti, &x[i * d..(i + 1) * d]);
            for k in 0..outputs {
                acc[i * outputs + k] += f64::from(f.value[leaf * outputs + k]);
            }
            hits[i] += 1;
        }
    }
    let scored: Vec<usize> = (0..n).filter(|&i| hits[i] > 0).collect();
    if !scored.is_empty() {
        f.oob_score = Some(match labels {
            Labels::Class(y, _) => {
                let ok = scored
                    .iter()
                    .filter(|&&i| {
                        let p = &acc[i * outputs..(i + 1) * outputs];
                        let mut b = 0;
                        for k in 0..outputs {
                            if p[k] > p[b] {
                                b = k;
                            }
                        }
                        b as u32 == y[i]
                    })
                    .count();
                ok as f64 / scored.len() as f64
            }
            Labels::Value(v) => {
                let t: Vec<f64> = scored.iter().map(|&i| v[i]).collect();
                let p: Vec<f64> = scored
                    .iter()
                    .map(|&i| acc[i] / f64::from(hits[i]))
                    .collect();
                crate::metrics::regression(&t, &p).r2
            }
        });
    }
    f
}

/// Fits a classification forest.
pub fn fit_classifier(
    x: &[f32],
    d: usize,
    y: &[u32],
    n_classes: usize,
    opts: &ForestOptions,
) -> Forest {
    fit_any(x, d, Labels::Class(y, n_classes), opts)
}

/// Fits a regression forest.
pub fn fit_regressor(x: &[f32], d: usize, y: &[f64], opts: &ForestOptions) -> Forest {
    fit_any(x, d, Labels::Value(y), opts)
}

impl Forest {
    /// Trees.
    pub fn n_trees(&self) -> usize {
        self.tree_offsets.len()
    }

    /// The leaf (absolute node index) tree `t` sends `row` to.
    #[inline]
    pub fn leaf(&self, t: usize, row: &[f32]) -> usize {
        let mut i = self.tree_offsets[t] as usize;
        loop {
            let f = self.feature[i];
            if f < 0 {
                return i;
            }
            i = if row[f as usize] <= self.threshold[i] {
                self.left[i]
            } else {
                self.right[i]
            } as usize;
        }
    }

    /// The nodes packed for prediction: one 16-byte record per node (feature, threshold,
    /// children) so a step down a tree touches one cache line, not four arrays. A leaf
    /// points to itself on both sides, and its threshold's bits say what it holds: a
    /// pure class (`PURE | class`, frequency 1, the usual leaf of a grown tree, added
    /// without reading the values) or its node index into the values.
    fn pack(&self) -> Vec<PackedNode> {
        let o = self.outputs;
        let n = self
            .feature
            .len()
            .min(self.threshold.len())
            .min(self.left.len())
            .min(self.right.len())
            .min(self.value.len() / o.max(1))
            .min(PURE as usize);
        (0..n)
            .map(|i| {
                let f = self.feature[i];
                if f < 0 {
                    let v = &self.value[i * o..(i + 1) * o];
                    let pure = (!self.regression)
                        .then(|| v.iter().position(|&p| p == 1.0))
                        .flatten()
                        .filter(|_| v.iter().filter(|&&p| p != 0.0).count() == 1);
                    PackedNode {
                        feature: 0,
                        threshold: f32::from_bits(match pure {
                            Some(c) => PURE | c as u32,
                            None => i as u32,
                        }),
                        left: i as u32,
                        right: i as u32,
                    }
                } else if (f as usize) < self.d
                    && (self.left[i] as usize) < n
                    && (self.right[i] as usize) < n
                {
                    PackedNode {
                        feature: f as u32,
                        threshold: self.threshold[i],
                        left: self.left[i],
                        right: self.right[i],
                    }
                } else {
                    // Fields edited into an inconsistent forest: the node ends the walk,
                    // with no value.
                    PackedNode {
                        feature: 0,
                        threshold: f32::from_bits(PURE | o as u32),
                        left: i as u32,
                        right: i as u32,
                    }
                }
            })
            .collect()
    }

    /// Mean of the trees' leaf values per row (class probabilities, or the value).
    pub fn predict_raw(&self, x: &[f32]) -> Vec<f32> {
        let o = self.outputs;
        let d = self.d;
        if d == 0 {
            return Vec::new();
        }
        let mut out = vec![0f32; x.len() / d * o];
        let nt = self.n_trees() as f64;
        let nodes = self.packed.0.get_or_init(|| self.pack());
        // Blocks of rows go down each tree together: the tree stays in cache while the
        // block passes, and lanes of independent rows overlap their memory latency (a
        // fixed lane count, so the lane loop unrolls: measured twice as fast as a variable
        // one; 8 beat 4, 12 and 16).
        const BLOCK: usize = 256;
        const LANES: usize = 8;
        let add_leaf = |acc: &mut [f64], leaf: &PackedNode| {
            let code = leaf.threshold.to_bits();
            if code & PURE != 0 {
                if let Some(a) = acc.get_mut((code & !PURE) as usize) {
                    *a += 1.0;
                }
            } else {
                let i = code as usize;
                for (a, v) in acc.iter_mut().zip(&self.value[i * o..(i + 1) * o]) {
                    *a += f64::from(*v);
                }
            }
        };
        out.par_chunks_mut(o * BLOCK)
            .zip(x.par_chunks(d * BLOCK))
            .for_each(|(out, xs)| {
                let rows = xs.len() / d;
                let mut acc = vec![0f64; rows * o];
                for &root in &self.tree_offsets {
                    let root = root as usize;
                    if root >= nodes.len() {
                        continue;
                    }
                    let mut r0 = 0;
                    while r0 + LANES <= rows {
                        let mut at = [root; LANES];
                        // Every lane steps each round (a leaf onto itself): no branch per
                        // lane, one per round.
                        loop {
                            let mut moved = false;
                            for l in 0..LANES {
                                let next = nodes[at[l]].child(xs, (r0 + l) * d);
                                moved |= next != at[l];
                                at[l] = next;
                            }
                            if !moved {
                                break;
                            }
                        }
                        for (l, &leaf) in at.iter().enumerate() {
                            add_leaf(&mut acc[(r0 + l) * o..(r0 + l + 1) * o], &nodes[leaf]);
                        }
                        r0 += LANES;
                    }
                    for r in r0..rows {
                        let mut i = root;
                        loop {
                            let next = nodes[i].child(xs, r * d);
                            if next == i {
                                break;
                            }
                            i = next;
                        }
                        add_leaf(&mut acc[r * o..(r + 1) * o], &nodes[i]);
                    }
                }
                for (d, a) in out.iter_mut().zip(&acc) {
                    *d = (a / nt) as f32;
                }
            });
        out
    }

    /// Rebuilds the forest from its flat arrays (a model file), checking them.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        tree_offsets: Vec<u32>,
        feature: Vec<i16>,
        threshold: Vec<f32>,
        left: Vec<u32>,
        right: Vec<u32>,
        value: Vec<f32>,
        outputs: usize,
        regression: bool,
        d: usize,
    ) -> crate::Result<Forest> {
        let n = feature.len();
        let ok = threshold.len() == n
            && left.len() == n
            && right.len() == n
            && value.len() == n * outputs
            && tree_offsets.iter().all(|&o| (o as usize) < n.max(1))
            && feature.iter().enumerate().all(|(i, &f)| {
                f < 0
                    || ((f as usize) < d
                        && (left[i] as usize) < n
                        && (right[i] as usize) < n
                        && left[i] as usize > i
                        && right[i] as usize > i)
            });
        if !ok {
            return Err(crate::usage("the forest's node arrays are inconsistent"));
        }
        Ok(Forest {
            tree_offsets,
            feature,
            threshold,
            left,
            right,
            value,
            outputs,
            regression,
            d,
            importances: Vec::new(),
            oob_score: None,
            packed: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mean over trees of each leaf's values, tree by tree in f64: what the packed,
    /// blocked walk must give exactly.
    fn reference(f: &Forest, x: &[f32]) -> Vec<f32> {
        let (d, o) = (f.d, f.outputs);
        let mut out = Vec::new();
        for row in x.chunks_exact(d) {
            let mut acc = vec![0f64; o];
            for t in 0..f.n_trees() {
                let leaf = f.leaf(t, row);
                for (a, v) in acc.iter_mut().zip(&f.value[leaf * o..(leaf + 1) * o]) {
                    *a += f64::from(*v);
                }
            }
            out.extend(acc.iter().map(|a| (a / f.n_trees() as f64) as f32));
        }
        out
    }

    fn data(n: usize, d: usize, seed: u64) -> (Vec<f32>, Vec<u32>, Vec<f64>) {
        let mut r = crate::rng::Rng::new(seed);
        let x: Vec<f32> = (0..n * d)
            .map(|_| (r.below(255) as f32 - 127.0) * 0.01)
            .collect();
        let y: Vec<u32> = x
            .chunks_exact(d)
            .map(|p| u32::from(p[0] + 0.5 * p[1] > 0.0) + 2 * u32::from(p[2] > 0.4))
            .collect();
        let v: Vec<f64> = x
            .chunks_exact(d)
            .map(|p| f64::from(p[0]) * 3.0 - f64::from(p[3]))
            .collect();
        (x, y, v)
    }

    #[test]
    fn the_packed_walk_equals_the_tree_by_tree_mean() {
        let d = 6;
        let (x, y, v) = data(600, d, 7);
        // Unseen rows of odd count: lanes, blocks and the remainder loop all run.
        let (xt, _, _) = data(1037, d, 8);
        let opts = ForestOptions {
            trees: 12,
            ..Default::default()
        };
        let mut shallow = opts;
        shallow.max_depth = Some(3); // impure leaves: values read from the table
        for f in [
            fit_classifier(&x, d, &y, 4, &opts),
            fit_classifier(&x, d, &y, 4, &shallow),
            fit_regressor(&x, d, &v, &opts),
        ] {
            assert_eq!(f.predict_raw(&xt), reference(&f, &xt));
        }
    }

    #[test]
    fn a_forest_edited_into_nonsense_predicts_without_panicking() {
        let d = 4;
        let (x, y, _) = data(200, d, 9);
        let mut f = fit_classifier(
            &x,
            d,
            &y,
            4,
            &ForestOptions {
                trees: 3,
                ..Default::default()
            },
        );
        let root = f.tree_offsets[0] as usize;
        f.left[root] = u32::MAX;
        f.feature[f.tree_offsets[1] as usize] = 99;
        f.tree_offsets.push(u32::MAX);
        let p = f.predict_raw(&x);
        assert_eq!(p.len(), 200 * 4);
        assert!(p.iter().all(|v| v.is_finite()));
    }
}
