//! Mapping PCA scores to display values, one map per component fitted on the sample's
//! scores, as geotessera 0.11 does: histogram equalisation (scikit-image's
//! `cumulative_distribution`, 256 bins), percentile clipping (NumPy's linear percentiles)
//! or mean ± 2.5 standard deviations. The display value is `clip(v, 0, 1) · 255`
//! truncated, and 0 where the score is NaN.

use crate::PictureError;

/// How scores become colours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Balance {
    /// Histogram equalisation on 256 bins (the CLI's default).
    Histogram,
    /// Linear between two percentiles of the sample (default 2 and 98).
    Percentile(f64, f64),
    /// Linear between mean − 2.5 σ and mean + 2.5 σ.
    Adaptive,
}

impl Balance {
    /// The reference's name (`PCA_BALANCE_METHOD`).
    pub fn name(&self) -> &'static str {
        match self {
            Balance::Histogram => "histogram",
            Balance::Percentile(..) => "percentile",
            Balance::Adaptive => "adaptive",
        }
    }

    /// Parses `histogram|percentile|adaptive` with the percentiles for `percentile`.
    pub fn parse(name: &str, low: f64, high: f64) -> Result<Balance, PictureError> {
        match name {
            "histogram" => Ok(Balance::Histogram),
            "adaptive" => Ok(Balance::Adaptive),
            "percentile" => {
                if !(0.0 <= low && low < high && high <= 100.0) {
                    return Err(PictureError::Usage(format!(
                        "Invalid percentile range [{low}, {high}]. Must be 0 <= low < high <= 100"
                    )));
                }
                Ok(Balance::Percentile(low, high))
            }
            other => Err(PictureError::Usage(format!(
                "Unknown balance method: {other} (use histogram, percentile or adaptive)"
            ))),
        }
    }
}

/// One component's map from score to display value.
#[derive(Debug, Clone)]
pub enum ColourMap {
    /// `np.interp(score, centres, cdf)`.
    Cdf {
        /// Bin centres (float32 values, as scikit-image returns them).
        centres: Vec<f64>,
        /// Normalised cumulative counts (float32 values).
        cdf: Vec<f64>,
    },
    /// `(score − low) / (high − low)`, or 0 everywhere when `high <= low`.
    Linear {
        /// Maps to 0.
        low: f64,
        /// Maps to 1.
        high: f64,
    },
}

impl ColourMap {
    /// Fits the map for one component's sample scores (all finite).
    pub fn fit(scores: &[f32], balance: Balance) -> ColourMap {
        match balance {
            Balance::Histogram => cdf(scores),
            Balance::Percentile(lo, hi) => {
                let mut s = scores.to_vec();
                s.sort_by(f32::total_cmp);
                ColourMap::Linear {
                    low: percentile(&s, lo),
                    high: percentile(&s, hi),
                }
            }
            Balance::Adaptive => {
                let n = scores.len().max(1) as f64;
                let mean = scores.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let var = scores
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                let sd = var.sqrt();
                ColourMap::Linear {
                    low: mean - 2.5 * sd,
                    high: mean + 2.5 * sd,
                }
            }
        }
    }

    /// The display value of a score.
    pub fn apply(&self, score: f32) -> u8 {
        if score.is_nan() {
            return 0;
        }
        let x = f64::from(score);
        let v = match self {
            ColourMap::Cdf { centres, cdf } => interp(x, centres, cdf),
            ColourMap::Linear { low, high } => {
                if high > low {
                    (x - low) / (high - low)
                } else {
                    0.0
                }
            }
        };
        // nan_to_num: NaN → 0, ±inf → the largest finite values (then clipped).
        let v = if v.is_nan() { 0.0 } else { v };
        (v.clamp(0.0, 1.0) * 255.0) as u8
    }
}

/// A colour map as 255 float32 thresholds: the display value of a score is the number of
/// thresholds at or below it, equal to [`ColourMap::apply`] for every float32 (the map is
/// non-decreasing, and each threshold is the smallest float32 reaching its level, found by
/// bisection over the float32 order). Eight comparisons per pixel instead of an
/// interpolation.
#[derive(Debug, Clone)]
pub struct ColourLut {
    /// `t[0]` = −∞, `t[k]` the smallest score displayed as at least `k`.
    t: [f32; 256],
    /// A uniform grid of cells over `[lo, hi)`: the value of every score in the cell, or
    /// [`MIXED`] when a threshold falls inside it (then the thresholds decide).
    cells: Vec<u16>,
    lo: f32,
    inv: f32,
}

/// A cell holding a threshold.
const MIXED: u16 = u16::MAX;
/// Cells of the direct grid: at most 255 of them hold a threshold.
const CELLS: usize = 1 << 14;

/// Float32 values in their numeric order as unsigned keys (NaN excluded).
fn key(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 { !b } else { b | 0x8000_0000 }
}

fn unkey(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & 0x7fff_ffff } else { !k })
}

impl ColourLut {
    /// The thresholds of `map`.
    pub fn new(map: &ColourMap) -> ColourLut {
        let mut t = [f32::INFINITY; 256];
        t[0] = f32::NEG_INFINITY;
        let (lo, hi) = (key(f32::NEG_INFINITY), key(f32::INFINITY));
        for (k, tk) in t.iter_mut().enumerate().skip(1) {
            if map.apply(f32::INFINITY) < k as u8 {
                continue;
            }
            // Smallest key in [lo, hi] whose value reaches k.
            let (mut a, mut b) = (lo, hi);
            while a < b {
                let m = a + (b - a) / 2;
                if map.apply(unkey(m)) >= k as u8 {
                    b = m;
                } else {
                    a = m + 1;
                }
            }
            *tk = unkey(a);
        }
        let finite: Vec<f32> = t[1..].iter().copied().filter(|v| v.is_finite()).collect();
        let mut lut = ColourLut {
            t,
            cells: Vec::new(),
            lo: 0.0,
            inv: 0.0,
        };
        if let (Some(&lo), Some(&hi)) = (finite.first(), finite.last())
            && hi > lo
        {
            let inv = CELLS as f32 / (hi - lo);
            lut.lo = lo;
            lut.inv = inv;
            let cell_of = |x: f32| ((x - lo) * inv) as usize;
            let mut cells = vec![0u16; CELLS];
            // Each cell's value at its start, then the cells a threshold may fall in (its
            // own and, against rounding in `cell_of`, the neighbours) marked mixed.
            for (c, v) in cells.iter_mut().enumerate() {
                let x = lo + c as f32 / inv;
                *v = u16::from(lut.search(x));
            }
            for &x in &finite {
                let c = cell_of(x);
                let hi = (c + 1).min(CELLS - 1);
                cells[c.saturating_sub(1)..=hi].fill(MIXED);
            }
            lut.cells = cells;
        }
        lut
    }

    fn search(&self, score: f32) -> u8 {
        let mut i = 0usize;
        for step in [128, 64, 32, 16, 8, 4, 2, 1] {
            i += step * usize::from(self.t[(i + step) & 255] <= score);
        }
        i as u8
    }

    /// The display value of a score (0 for NaN, as [`ColourMap::apply`]).
    #[inline]
    pub fn apply(&self, score: f32) -> u8 {
        if score.is_nan() {
            return 0;
        }
        let f = (score - self.lo) * self.inv;
        if f >= 0.0 && f < CELLS as f32 {
            let v = self.cells[f as usize];
            if v != MIXED {
                return v as u8;
            }
        }
        self.search(score)
    }
}

/// NumPy's linear (default) percentile of sorted values.
fn percentile(sorted: &[f32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = idx.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let t = idx - lo as f64;
    let (a, b) = (f64::from(sorted[lo]), f64::from(sorted[hi]));
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// scikit-image's `cumulative_distribution(x, 256)` for float32 `x`: `np.histogram` over
/// [min, max] with float32 edges from `np.linspace`, centres and the cdf as float32.
fn cdf(x: &[f32]) -> ColourMap {
    const BINS: usize = 256;
    let mut lo = x.iter().copied().fold(f32::INFINITY, f32::min);
    let mut hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if x.is_empty() {
        lo = 0.0;
        hi = 1.0;
    }
    if lo == hi {
        lo -= 0.5;
        hi += 0.5;
    }
    // np.linspace(lo, hi, 257, dtype=float32): y = i * step + lo, each step in float32.
    let step = (hi - lo) / BINS as f32;
    let mut edges: Vec<f32> = (0..=BINS).map(|i| i as f32 * step + lo).collect();
    edges[BINS] = hi;
    let mut counts = vec![0u64; BINS];
    let norm = BINS as f32 / (hi - lo);
    for &v in x {
        if !(v >= lo && v <= hi) {
            continue;
        }
        let mut i = (((v - lo) * norm) as usize).min(BINS - 1);
        if v < edges[i] {
            i = i.saturating_sub(1);
        } else if i != BINS - 1 && v >= edges[i + 1] {
            i += 1;
        }
        counts[i] += 1;
    }
    let total = counts.iter().sum::<u64>().max(1) as f64;
    let mut run = 0u64;
    let cdf = counts
        .iter()
        .map(|&c| {
            run += c;
            f64::from((run as f64 / total) as f32)
        })
        .collect();
    let centres = (0..BINS)
        .map(|i| f64::from((edges[i] + edges[i + 1]) / 2.0))
        .collect();
    ColourMap::Cdf { centres, cdf }
}

/// `np.interp(x, xp, fp)` for increasing `xp`.
fn interp(x: f64, xp: &[f64], fp: &[f64]) -> f64 {
    let n = xp.len();
    if n == 0 {
        return f64::NAN;
    }
    if x <= xp[0] {
        return fp[0];
    }
    if x >= xp[n - 1] {
        return fp[n - 1];
    }
    // The last j with xp[j] <= x: guessed from the mean spacing (histogram centres are
    // evenly spaced), then moved until exact, so any increasing xp gives NumPy's answer.
    let step = (xp[n - 1] - xp[0]) / (n - 1) as f64;
    let mut j = if step > 0.0 {
        (((x - xp[0]) / step) as usize).min(n - 2)
    } else {
        0
    };
    while j > 0 && xp[j] > x {
        j -= 1;
    }
    while j + 1 < n - 1 && xp[j + 1] <= x {
        j += 1;
    }
    if x == xp[j] {
        return fp[j];
    }
    let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    let r = slope * (x - xp[j]) + fp[j];
    if r.is_nan() {
        slope * (x - xp[j + 1]) + fp[j + 1]
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_numpy_linear_interpolation() {
        let s: Vec<f32> = (0..11).map(|v| v as f32).collect();
        // np.percentile(range(11), [2, 98]) == [0.2, 9.8]
        assert!((percentile(&s, 2.0) - 0.2).abs() < 1e-12);
        assert!((percentile(&s, 98.0) - 9.8).abs() < 1e-12);
        let m = ColourMap::fit(&s, Balance::Percentile(0.0, 100.0));
        assert_eq!(m.apply(10.0), 255);
        assert_eq!(m.apply(5.0), 127);
        assert_eq!(m.apply(-3.0), 0);
        assert_eq!(m.apply(f32::NAN), 0);
    }

    #[test]
    fn histogram_equalisation_spreads_a_skewed_sample() {
        let s: Vec<f32> = (0..1000).map(|v| ((v as f32) / 1000.0).powi(4)).collect();
        let m = ColourMap::fit(&s, Balance::Histogram);
        // The median of the sample maps near the middle of the range.
        let mid = m.apply(s[500]);
        assert!((120..=135).contains(&mid), "{mid}");
        assert_eq!(m.apply(1.0), 255);
        assert!(Balance::parse("percentile", 50.0, 10.0).is_err());
        assert!(Balance::parse("bogus", 2.0, 98.0).is_err());
    }

    #[test]
    fn lut_equals_the_map_for_every_score() {
        let scores: Vec<f32> = (0..5000)
            .map(|i| ((i * 7919) % 5003) as f32 * 0.37 - 900.0)
            .collect();
        for balance in [
            Balance::Histogram,
            Balance::Percentile(2.0, 98.0),
            Balance::Adaptive,
        ] {
            let map = ColourMap::fit(&scores, balance);
            let lut = ColourLut::new(&map);
            let mut x = -1200.0f32;
            while x < 1200.0 {
                assert_eq!(lut.apply(x), map.apply(x), "{balance:?} at {x}");
                x += 0.0137;
            }
            for x in [
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                -0.0,
                0.0,
                f32::MAX,
                f32::MIN,
            ] {
                assert_eq!(lut.apply(x), map.apply(x), "{balance:?} at {x}");
            }
        }
    }

    #[test]
    fn interp_finds_numpys_interval_for_even_and_uneven_points() {
        let even: Vec<f64> = (0..256).map(|i| -3.0 + i as f64 * 0.025).collect();
        let uneven: Vec<f64> = (0..256).map(|i| (i as f64 / 25.0).powi(3) - 20.0).collect();
        for xp in [even, uneven] {
            let fp: Vec<f64> = (0..xp.len()).map(|i| (i as f64).sqrt()).collect();
            for k in 0..5000 {
                let x = xp[0] - 1.0 + (xp[255] - xp[0] + 2.0) * (k as f64 / 4999.0);
                let j = xp.partition_point(|&v| v <= x).clamp(1, 255) - 1;
                let want = if x <= xp[0] {
                    fp[0]
                } else if x >= xp[255] {
                    fp[255]
                } else {
                    (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]) * (x - xp[j]) + fp[j]
                };
                assert_eq!(interp(x, &xp, &fp), want, "x = {x}");
            }
        }
    }
}
