//! Quantisation and dequantisation are bit-exact against NumPy implementations of the
//! model's quantiser and the reference's `dequantize_embedding`.

use tessera_core::quant::{dequantise, quantise};
use tessera_testkit::{run_python, scratch};

#[test]
fn bit_exact_against_numpy() {
    let dir = scratch("quant-numpy");
    let (n, b) = (4096usize, 128usize);
    // Embedding-like floats with exact ties (x.5 multiples of the scale), zeros, negative
    // zero, tiny values below the scale floor, and a few huge values.
    let mut values: Vec<f32> = (0..n * b)
        .map(|i| {
            let x = ((i.wrapping_mul(2654435761) >> 9) % 20001) as f32 / 10000.0 - 1.0;
            x * (1.0 + (i / b % 7) as f32)
        })
        .collect();
    for p in 0..8 {
        values[p * b..(p + 1) * b].fill(0.0); // all-zero pixels: scale floor
    }
    values[8 * b..9 * b]
        .iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v = (i as f32 - 64.0) * 0.5); // ties
    values[9 * b..10 * b].fill(1e-12);
    values[10 * b] = -0.0;
    values[11 * b] = 3e38;
    let mut q = vec![0i8; n * b];
    let mut scales = vec![0f32; n];
    quantise(&values, b, &mut q, &mut scales);
    // Scales with the special cases the reader must handle.
    let mut read_scales = scales.clone();
    read_scales[20] = f32::NAN;
    read_scales[21] = f32::INFINITY;
    read_scales[22] = f32::NEG_INFINITY;
    read_scales[23] = 0.0;
    read_scales[24] = f32::MAX;
    let mut deq = vec![0f32; n * b];
    dequantise(&q, &read_scales, b, &mut deq);
    let w = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    w("values.bin", bytemuck::cast_slice(&values));
    w("q.bin", bytemuck::cast_slice(&q));
    w("scales.bin", bytemuck::cast_slice(&scales));
    w("read_scales.bin", bytemuck::cast_slice(&read_scales));
    w("deq.bin", bytemuck::cast_slice(&deq));
    let out = run_python(
        r#"
import sys, numpy as np
d, n, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
e = np.fromfile(f"{d}/values.bin", np.float32).reshape(n, b)
with np.errstate(all="ignore"):
    scale = np.maximum(np.abs(e).max(axis=1) / np.float32(127), np.float32(1e-8)).astype(np.float32)
    q = np.clip(np.round(e / scale[:, None]), -128, 127).astype(np.int8)
ours_q = np.fromfile(f"{d}/q.bin", np.int8).reshape(n, b)
ours_s = np.fromfile(f"{d}/scales.bin", np.float32)
assert (ours_s.view(np.uint32) == scale.view(np.uint32)).all(), "scales differ"
assert (ours_q == q).all(), f"q differs at {np.argwhere(ours_q != q)[:5]}"
# The reference's dequantize_embedding.
s = np.fromfile(f"{d}/read_scales.bin", np.float32).astype(np.float32)
s = np.where(np.isfinite(s), s, np.float32(np.nan)).astype(np.float32)
with np.errstate(all="ignore"):
    deq = ours_q.astype(np.float32) * s[:, None]
ours = np.fromfile(f"{d}/deq.bin", np.float32).reshape(n, b)
same = (ours.view(np.uint32) == deq.view(np.uint32)) | (np.isnan(ours) & np.isnan(deq))
assert same.all(), f"dequantised values differ at {np.argwhere(~same)[:5]}"
print("ok", int((q == 0).sum()))
"#,
        &[&dir.display().to_string(), &n.to_string(), &b.to_string()],
    );
    assert!(out.starts_with("ok"), "{out}");
}
