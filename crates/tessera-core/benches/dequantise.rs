//! Dequantising one published-size tile (1139 × 729 × 128 int8 + scales) on one core,
//! against memcpy of the same int8 input and of the f32 output size, in the same run.
//! Run: `cargo bench -p tessera-core --bench dequantise` (bench/dequantise.sh adds NumPy).

use std::hint::black_box;
use std::time::Instant;

use tessera_core::quant::dequantise;

fn best_of<F: FnMut()>(runs: usize, mut f: F) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let (h, w, b) = (1139usize, 729usize, 128usize);
    let n = h * w;
    let q: Vec<i8> = (0..n * b)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as i8)
        .collect();
    let scales: Vec<f32> = (0..n).map(|i| 0.05 + (i % 97) as f32 * 1e-3).collect();
    let mut out = vec![0f32; n * b];
    let mut copy8 = vec![0i8; n * b];
    let mut copy32 = vec![0f32; n * b];
    let runs = 15;
    let t_deq = best_of(runs, || {
        dequantise(black_box(&q), black_box(&scales), b, &mut out);
        black_box(&out);
    });
    let t_cpy8 = best_of(runs, || {
        copy8.copy_from_slice(black_box(&q));
        black_box(&copy8);
    });
    let t_cpy32 = best_of(runs, || {
        copy32.copy_from_slice(black_box(&out));
        black_box(&copy32);
    });
    let gb = (n * b) as f64 / 1e9;
    println!(
        "tile {h}x{w}x{b}: {:.1} MB int8 in, {:.1} MB f32 out",
        gb * 1e3,
        gb * 4e3
    );
    println!(
        "dequantise:              {:.3} ms  {:.2} GB/s of int8 input",
        t_deq * 1e3,
        gb / t_deq
    );
    println!(
        "memcpy int8 (input size): {:.3} ms  {:.2} GB/s",
        t_cpy8 * 1e3,
        gb / t_cpy8
    );
    println!(
        "memcpy f32 (output size): {:.3} ms  {:.2} GB/s of int8-equivalent",
        t_cpy32 * 1e3,
        gb / t_cpy32
    );
    println!(
        "ratio dequantise / memcpy-f32-output: {:.2}",
        t_cpy32 / t_deq
    );
    println!("target: > 2 GB/s of int8 input on one core");
}
