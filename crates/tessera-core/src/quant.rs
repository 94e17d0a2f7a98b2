//! Quantisation of float32 embeddings to int8 with a per-pixel scale, and back.
//!
//! The model quantises each pixel's 128-vector `e` with `scale = max(max|e| / 127, 1e-8)`
//! and `q = clamp(round_half_even(e / scale), -128, 127)` as int8 (within ±127 in practice); readers dequantise with
//! one IEEE single multiply `f32(q) * scale`, where a non-finite scale yields NaN.

/// Smallest scale the quantiser emits (keeps all-zero pixels finite).
pub const MIN_SCALE: f32 = 1e-8;

/// The scale of one pixel: `max(max|e| / 127, 1e-8)` in f32.
///
/// A pixel holding a NaN gets a NaN scale (NaN propagates through `max|e|`).
pub fn pixel_scale(pixel: &[f32]) -> f32 {
    let mut m = 0.0f32;
    for &v in pixel {
        let a = v.abs();
        if a.is_nan() {
            return f32::NAN;
        }
        if a > m {
            m = a;
        }
    }
    (m / 127.0).max(MIN_SCALE)
}

/// Quantises one pixel into `out` with the given scale (round half to even, clamp to int8).
pub fn quantise_pixel(pixel: &[f32], scale: f32, out: &mut [i8]) {
    for (o, &v) in out.iter_mut().zip(pixel) {
        let q = (v / scale).round_ties_even();
        // NaN maps to 0 through `as`; clamp keeps ±inf and overshoot inside int8.
        *o = q.clamp(-128.0, 127.0) as i8;
    }
}

/// Quantises pixel-major data `(n, bands)`: fills `q` (n × bands) and `scales` (n).
///
/// Panics if the slice lengths disagree (a programming error, not bad input).
pub fn quantise(values: &[f32], bands: usize, q: &mut [i8], scales: &mut [f32]) {
    assert!(bands > 0 && values.len() == q.len() && values.len() == scales.len() * bands);
    for ((pix, qp), s) in values
        .chunks_exact(bands)
        .zip(q.chunks_exact_mut(bands))
        .zip(scales.iter_mut())
    {
        *s = pixel_scale(pix);
        quantise_pixel(pix, *s, qp);
    }
}

/// The effective scale for dequantisation: non-finite scales become NaN.
#[inline]
pub fn effective_scale(scale: f32) -> f32 {
    if scale.is_finite() { scale } else { f32::NAN }
}

/// Dequantises pixel-major int8 `(n, bands)` with one scale per pixel into `out`.
///
/// The kernel is a plain loop over 128-byte pixels that the compiler vectorises; it runs
/// at several GB/s of int8 input per core (see `bench/`).
pub fn dequantise(q: &[i8], scales: &[f32], bands: usize, out: &mut [f32]) {
    assert!(bands > 0 && q.len() == out.len() && q.len() == scales.len() * bands);
    if bands == 128 {
        // Fixed-width inner loop: lets LLVM unroll and vectorise fully.
        for ((qp, op), &s) in q
            .chunks_exact(128)
            .zip(out.chunks_exact_mut(128))
            .zip(scales)
        {
            let s = effective_scale(s);
            let qp: &[i8; 128] = qp.try_into().expect("chunk of 128");
            let op: &mut [f32; 128] = op.try_into().expect("chunk of 128");
            for i in 0..128 {
                op[i] = f32::from(qp[i]) * s;
            }
        }
        return;
    }
    for ((qp, op), &s) in q
        .chunks_exact(bands)
        .zip(out.chunks_exact_mut(bands))
        .zip(scales)
    {
        let s = effective_scale(s);
        for (o, &v) in op.iter_mut().zip(qp) {
            *o = f32::from(v) * s;
        }
    }
}

/// Dequantises with one scale per value (scales shaped like the data, e.g. (H, W, 128)).
pub fn dequantise_per_value(q: &[i8], scales: &[f32], out: &mut [f32]) {
    assert!(q.len() == scales.len() && q.len() == out.len());
    for ((o, &v), &s) in out.iter_mut().zip(q).zip(scales) {
        *o = f32::from(v) * effective_scale(s);
    }
}

/// Dequantises selected bands of one pixel: `out[i] = q[bands[i]] * scale`.
pub fn dequantise_bands(pixel: &[i8], scale: f32, bands: &[usize], out: &mut [f32]) {
    let s = effective_scale(scale);
    for (o, &b) in out.iter_mut().zip(bands) {
        *o = f32::from(pixel[b]) * s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_and_rounding() {
        let px = [127.0f32, -63.5, 0.5, 1.5, 2.5, -0.5];
        let s = pixel_scale(&px);
        assert_eq!(s, 1.0);
        let mut q = [0i8; 6];
        quantise_pixel(&px, s, &mut q);
        assert_eq!(q, [127, -64, 0, 2, 2, 0]);
        assert_eq!(pixel_scale(&[0.0; 4]), MIN_SCALE);
        assert!(pixel_scale(&[1.0, f32::NAN]).is_nan());
        let mut q = [0i8; 2];
        quantise_pixel(&[f32::INFINITY, -1e30], 1.0, &mut q);
        assert_eq!(q, [127, -128]);
    }

    #[test]
    fn dequantise_conventions() {
        let q: Vec<i8> = (0..256i32).map(|i| (i - 128) as i8).collect();
        let scales = [0.5f32, f32::INFINITY];
        let mut out = vec![0f32; 256];
        dequantise(&q, &scales, 128, &mut out);
        assert_eq!(out[0], -64.0);
        assert_eq!(out[127], -0.5);
        assert!(out[128..].iter().all(|v| v.is_nan()));
        // scale 0 gives -0.0 for negative q.
        let mut o = [1f32; 2];
        dequantise(&[-3, 3], &[0.0], 2, &mut o);
        assert!(o[0] == 0.0 && o[0].is_sign_negative() && o[1].is_sign_positive());
        // NaN scale stays NaN; huge finite scale is not masked.
        dequantise(&[1, 1], &[f32::NAN], 2, &mut o);
        assert!(o[0].is_nan());
        dequantise(&[127, 1], &[f32::MAX], 2, &mut o);
        assert!(o[0].is_infinite() && o[1] == f32::MAX);
    }

    #[test]
    fn round_trip_error_bound() {
        let px: Vec<f32> = (0..128)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
            .collect();
        let s = pixel_scale(&px);
        let mut q = vec![0i8; 128];
        quantise_pixel(&px, s, &mut q);
        let mut back = vec![0f32; 128];
        dequantise(&q, &[s], 128, &mut back);
        for (a, b) in px.iter().zip(&back) {
            assert!((a - b).abs() <= s * 0.5 + 1e-7);
        }
    }
}
