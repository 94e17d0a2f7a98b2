//! Small dense kernels over row-major slices: dot products written so that LLVM
//! vectorises them (eight independent accumulators), squared distances, and a blocked
//! matrix product parallel over rows. Written by hand: the heads need only these, and a
//! linear-algebra crate would dominate the build.

use rayon::prelude::*;

/// `a · b` in f32 with eight accumulators.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// `a · b` accumulated in f64 (for parity with scikit-learn's float64 arithmetic).
#[inline]
pub fn dot64(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0f64; 4];
    let ca = a.chunks_exact(4);
    let cb = b.chunks_exact(4);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..4 {
            acc[j] += f64::from(x[j]) * f64::from(y[j]);
        }
    }
    let mut s = acc.iter().sum::<f64>();
    for (x, y) in ra.iter().zip(rb) {
        s += f64::from(*x) * f64::from(*y);
    }
    s
}

/// `‖a − b‖²` in f64.
#[inline]
pub fn sqdist64(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0f64; 4];
    let ca = a.chunks_exact(4);
    let cb = b.chunks_exact(4);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..4 {
            let d = f64::from(x[j]) - f64::from(y[j]);
            acc[j] += d * d;
        }
    }
    let mut s = acc.iter().sum::<f64>();
    for (x, y) in ra.iter().zip(rb) {
        let d = f64::from(*x) - f64::from(*y);
        s += d * d;
    }
    s
}

/// `int8 codes · f32 weights`, the first layer of a linear head on stored codes.
#[inline]
pub fn dot_i8_f32(c: &[i8], w: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let cc = c.chunks_exact(8);
    let cw = w.chunks_exact(8);
    let (rc, rw) = (cc.remainder(), cw.remainder());
    for (x, y) in cc.zip(cw) {
        for j in 0..8 {
            acc[j] += f32::from(x[j]) * y[j];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in rc.iter().zip(rw) {
        s += f32::from(*x) * y;
    }
    s
}

/// `C = A · Bᵀ` for row-major `A` (m × k) and `B` (n × k): `C[i][j] = A_i · B_j`,
/// parallel over rows of `A`.
pub fn matmul_bt(a: &[f32], b: &[f32], m: usize, n: usize, k: usize, c: &mut [f32]) {
    debug_assert_eq!(a.len(), m * k);
    debug_assert_eq!(b.len(), n * k);
    debug_assert_eq!(c.len(), m * n);
    let work = m * n * k;
    let body = |(i, row): (usize, &mut [f32])| {
        let ai = &a[i * k..(i + 1) * k];
        for (j, out) in row.iter_mut().enumerate() {
            *out = dot(ai, &b[j * k..(j + 1) * k]);
        }
    };
    if work < 1 << 16 {
        c.chunks_mut(n).enumerate().for_each(body);
    } else {
        c.par_chunks_mut(n).enumerate().for_each(body);
    }
}

/// `C = A · B` for row-major `A` (m × k) and `B` (k × n), parallel over rows of `A`
/// (an i-k-j loop whose inner loop vectorises over `n`).
pub fn matmul(a: &[f32], b: &[f32], m: usize, n: usize, k: usize, c: &mut [f32]) {
    debug_assert_eq!(a.len(), m * k);
    debug_assert_eq!(b.len(), k * n);
    debug_assert_eq!(c.len(), m * n);
    let body = |(i, row): (usize, &mut [f32])| {
        row.iter_mut().for_each(|v| *v = 0.0);
        for p in 0..k {
            let av = a[i * k + p];
            if av == 0.0 {
                continue;
            }
            let bp = &b[p * n..(p + 1) * n];
            for (o, &bv) in row.iter_mut().zip(bp) {
                *o += av * bv;
            }
        }
    };
    if m * n * k < 1 << 16 {
        c.chunks_mut(n).enumerate().for_each(body);
    } else {
        c.par_chunks_mut(n).enumerate().for_each(body);
    }
}

/// `C = Aᵀ · B` for row-major `A` (m × k) and `B` (m × n): `C` is k × n (the weight
/// gradient of a dense layer), summed over rows in parallel blocks.
pub fn matmul_at(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, c: &mut [f32]) {
    debug_assert_eq!(a.len(), m * k);
    debug_assert_eq!(b.len(), m * n);
    debug_assert_eq!(c.len(), k * n);
    let block = 64usize;
    let partials: Vec<Vec<f32>> = (0..m.div_ceil(block))
        .into_par_iter()
        .map(|blk| {
            let mut acc = vec![0f32; k * n];
            for i in blk * block..((blk + 1) * block).min(m) {
                let bi = &b[i * n..(i + 1) * n];
                for p in 0..k {
                    let av = a[i * k + p];
                    if av == 0.0 {
                        continue;
                    }
                    for (o, &bv) in acc[p * n..(p + 1) * n].iter_mut().zip(bi) {
                        *o += av * bv;
                    }
                }
            }
            acc
        })
        .collect();
    c.iter_mut().for_each(|v| *v = 0.0);
    for p in partials {
        for (o, v) in c.iter_mut().zip(p) {
            *o += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_agree() {
        let (m, n, k) = (7, 5, 13);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 17 % 7) as f32) - 3.0).collect();
        let mut c = vec![0f32; m * n];
        matmul(&a, &b, m, n, k, &mut c);
        // Bᵀ as an n × k matrix.
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let mut c2 = vec![0f32; m * n];
        matmul_bt(&a, &bt, m, n, k, &mut c2);
        assert_eq!(c, c2);
        // Aᵀ · C equals the naive sum.
        let mut g = vec![0f32; k * n];
        matmul_at(&a, &c, m, k, n, &mut g);
        for p in 0..k {
            for j in 0..n {
                let s: f32 = (0..m).map(|i| a[i * k + p] * c[i * n + j]).sum();
                assert_eq!(g[p * n + j], s);
            }
        }
        let codes: Vec<i8> = (0..13).map(|i| i as i8 - 6).collect();
        let w: Vec<f32> = (0..13).map(|i| i as f32 * 0.5).collect();
        let cf: Vec<f32> = codes.iter().map(|&c| f32::from(c)).collect();
        assert_eq!(dot_i8_f32(&codes, &w), dot(&cf, &w));
        assert_eq!(sqdist64(&[1.0, 2.0], &[4.0, 6.0]), 25.0);
    }
}
