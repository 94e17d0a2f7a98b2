//! Small dense kernels over row-major slices: dot products written so that LLVM
//! vectorises them (independent accumulators), squared distances, and matrix products by
//! `matrixmultiply`'s SGEMM (pure Rust, no BLAS to link), split over rows in parallel.

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

/// `Σ f(aᵢ, bᵢ)` in f64 with four independent accumulators, so LLVM vectorises it.
#[inline(always)]
fn sum4<A: Copy, B: Copy>(a: &[A], b: &[B], f: impl Fn(A, B) -> f64) -> f64 {
    let mut acc = [0f64; 4];
    let ca = a.chunks_exact(4);
    let cb = b.chunks_exact(4);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..4 {
            acc[j] += f(x[j], y[j]);
        }
    }
    let mut s = acc.iter().sum::<f64>();
    for (x, y) in ra.iter().zip(rb) {
        s += f(*x, *y);
    }
    s
}

/// `a · b` accumulated in f64 (for parity with scikit-learn's float64 arithmetic).
#[inline]
pub fn dot64(a: &[f32], b: &[f32]) -> f64 {
    sum4(a, b, |x, y| f64::from(x) * f64::from(y))
}

/// `a · b` of f64 slices (vectorised; the order of the sum differs from a sequential one
/// by rounding only).
#[inline]
pub fn dot_f64(a: &[f64], b: &[f64]) -> f64 {
    sum4(a, b, |x, y| x * y)
}

/// `‖a − b‖²` in f64.
#[inline]
pub fn sqdist64(a: &[f32], b: &[f32]) -> f64 {
    sum4(a, b, |x, y| {
        let d = f64::from(x) - f64::from(y);
        d * d
    })
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

/// `C = op(A) · op(B)` by `matrixmultiply`'s packed, cache-blocked SGEMM kernels (AVX2/FMA
/// or AVX-512 chosen at run time), with the strides of row-major operands: `a` is m × k
/// with strides (`rsa`, `csa`), `b` is k × n with (`rsb`, `csb`), `c` is m × n row-major.
/// Large products are split over rows of `C` across the rayon pool.
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    c: &mut [f32],
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    let one = |rows: usize, a: &[f32], c: &mut [f32]| {
        // SAFETY: the public functions assert the lengths of `a`, `b` and `c` against
        // m, k and n, and a split passes each part the rows it covers, so every element
        // the strides address lies inside the slices; `c` is exclusively borrowed.
        unsafe {
            matrixmultiply::sgemm(
                rows,
                k,
                n,
                1.0,
                a.as_ptr(),
                rsa as isize,
                csa as isize,
                b.as_ptr(),
                rsb as isize,
                csb as isize,
                0.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    };
    let threads = rayon::current_num_threads().max(1);
    // Below ~16 MFLOP (a training step's products) waking the pool costs more than the
    // split saves.
    if threads == 1 || m < 256 || m * n * k < 1 << 23 {
        one(m, a, c);
        return;
    }
    let per = m.div_ceil(threads * 4).max(64);
    c.par_chunks_mut(per * n).enumerate().for_each(|(i, cc)| {
        let r0 = i * per;
        let rows = cc.len() / n;
        one(rows, &a[r0 * rsa..], cc);
    });
}

/// `C = A · Bᵀ` for row-major `A` (m × k) and `B` (n × k): `C[i][j] = A_i · B_j`.
pub fn matmul_bt(a: &[f32], b: &[f32], m: usize, n: usize, k: usize, c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= n * k && c.len() == m * n);
    gemm(m, k, n, a, k, 1, b, 1, k, c);
}

/// Columns of a narrow product's right side, padded: one vector register of f32.
pub const NARROW: usize = 16;

/// `Bᵀ` of a row-major `B` (n × k, n ≤ [`NARROW`]) laid out for [`matmul_narrow`]: k rows
/// of [`NARROW`] columns, zero-padded.
pub fn narrow_bt(b: &[f32], n: usize, k: usize) -> Vec<f32> {
    assert!(n <= NARROW && b.len() >= n * k);
    let mut t = vec![0f32; k * NARROW];
    for j in 0..n {
        for i in 0..k {
            t[i * NARROW + j] = b[j * k + i];
        }
    }
    t
}

/// `C = A · Bᵀ` for a few output columns (a linear head's classes): `bt` from
/// [`narrow_bt`]. Each row's outputs are one vector accumulated along `k`, four rows
/// at a time, with no packing of `A` (the product is bound by reading `A` once).
/// The build for the CPU at hand (AVX-512 or AVX2 where present): the same operations
/// in the same order (no FMA), so the sums are equal on every machine.
pub fn matmul_narrow(a: &[f32], bt: &[f32], m: usize, n: usize, k: usize, c: &mut [f32]) {
    assert!(n <= NARROW && a.len() >= m * k && bt.len() >= k * NARROW && c.len() == m * n);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { narrow_avx512(a, bt, m, n, k, c) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { narrow_avx2(a, bt, m, n, k, c) };
        }
    }
    narrow_body(a, bt, m, n, k, c);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn narrow_avx512(a: &[f32], bt: &[f32], m: usize, n: usize, k: usize, c: &mut [f32]) {
    narrow_body(a, bt, m, n, k, c);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn narrow_avx2(a: &[f32], bt: &[f32], m: usize, n: usize, k: usize, c: &mut [f32]) {
    narrow_body(a, bt, m, n, k, c);
}

#[inline(always)]
fn narrow_body(a: &[f32], bt: &[f32], m: usize, n: usize, k: usize, c: &mut [f32]) {
    let bt = &bt[..k * NARROW];
    let mut i = 0;
    while i + 4 <= m {
        let rows = [
            &a[i * k..(i + 1) * k],
            &a[(i + 1) * k..(i + 2) * k],
            &a[(i + 2) * k..(i + 3) * k],
            &a[(i + 3) * k..(i + 4) * k],
        ];
        let mut acc = [[0f32; NARROW]; 4];
        for (kk, b) in bt.chunks_exact(NARROW).enumerate() {
            let b: &[f32; NARROW] = b.try_into().expect("a padded row");
            for r in 0..4 {
                let x = rows[r][kk];
                for j in 0..NARROW {
                    acc[r][j] += x * b[j];
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            c[(i + r) * n..(i + r + 1) * n].copy_from_slice(&acc[..n]);
        }
        i += 4;
    }
    for i in i..m {
        let row = &a[i * k..(i + 1) * k];
        let mut acc = [0f32; NARROW];
        for (&x, b) in row.iter().zip(bt.chunks_exact(NARROW)) {
            let b: &[f32; NARROW] = b.try_into().expect("a padded row");
            for j in 0..NARROW {
                acc[j] += x * b[j];
            }
        }
        c[i * n..(i + 1) * n].copy_from_slice(&acc[..n]);
    }
}

/// `C = A · B` for row-major `A` (m × k) and `B` (k × n).
pub fn matmul(a: &[f32], b: &[f32], m: usize, n: usize, k: usize, c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() == m * n);
    gemm(m, k, n, a, k, 1, b, n, 1, c);
}

/// `C = Aᵀ · B` for row-major `A` (m × k) and `B` (m × n): `C` is k × n (the weight
/// gradient of a dense layer).
pub fn matmul_at(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= m * n && c.len() == k * n);
    // Aᵀ is k × m with strides (1, k).
    gemm(k, m, n, a, 1, k, b, n, 1, c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_narrow_product_equals_the_general_one() {
        for (m, n, k) in [(9, 3, 13), (4, 16, 128), (1, 1, 5), (0, 2, 4)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
            let b: Vec<f32> = (0..n * k).map(|i| ((i * 17 % 7) as f32) - 3.0).collect();
            let mut want = vec![0f32; m * n];
            matmul_bt(&a, &b, m, n, k, &mut want);
            let mut got = vec![0f32; m * n];
            matmul_narrow(&a, &narrow_bt(&b, n, k), m, n, k, &mut got);
            // Small integers: every sum is exact in f32 whatever the order.
            assert_eq!(got, want, "m={m} n={n} k={k}");
        }
    }

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
