//! Deterministic hashing, value noise and fractal noise: the randomness of the synthetic
//! world is a pure function of (seed, position), so any tile can be generated alone and
//! neighbouring tiles agree wherever they overlap.

/// SplitMix64 finaliser: a fast, well-mixed 64-bit hash.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of a seed and two integers.
#[inline]
pub fn hash2(seed: u64, a: i64, b: i64) -> u64 {
    mix64(
        seed ^ mix64(
            (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
        ),
    )
}

/// Hash of a seed and a string (FNV-1a, then mixed).
pub fn hash_str(seed: u64, s: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix64(h)
}

/// A hash as a uniform number in [0, 1).
#[inline]
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[inline]
fn lattice(seed: u64, ix: i64, iy: i64) -> f64 {
    unit(hash2(seed, ix, iy)) * 2.0 - 1.0
}

#[inline]
fn smooth(t: f64) -> f64 {
    t * t * (3.0 - 2.0 * t)
}

/// Value noise in [-1, 1] with unit lattice spacing.
#[inline]
pub fn value_noise(seed: u64, x: f64, y: f64) -> f64 {
    let (fx, fy) = (x.floor(), y.floor());
    let (ix, iy) = (fx as i64, fy as i64);
    let (tx, ty) = (smooth(x - fx), smooth(y - fy));
    let a = lattice(seed, ix, iy);
    let b = lattice(seed, ix + 1, iy);
    let c = lattice(seed, ix, iy + 1);
    let d = lattice(seed, ix + 1, iy + 1);
    let top = a + (b - a) * tx;
    let bottom = c + (d - c) * tx;
    top + (bottom - top) * ty
}

/// Fractal (fBm) value noise, normalised to about [-1, 1]; the first octave has unit
/// lattice spacing, each next one half the spacing and half the amplitude.
pub fn fbm(seed: u64, x: f64, y: f64, octaves: u32) -> f64 {
    let (mut sum, mut amp, mut norm, mut f) = (0.0, 1.0, 0.0, 1.0);
    for o in 0..octaves {
        sum += amp
            * value_noise(
                seed.wrapping_add(u64::from(o) * 0x9E37),
                x * f + 17.3 * f64::from(o),
                y * f,
            );
        norm += amp;
        amp *= 0.5;
        f *= 2.0;
    }
    // Sums of value noise concentrate near 0; stretch so thresholds near ±0.5 are meaningful.
    (sum / norm * 1.6).clamp(-1.0, 1.0)
}

/// A small, fast random stream (wyrand) for per-pixel white noise.
pub struct Wy(pub u64);

impl Wy {
    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        (t >> 64) as u64 ^ t as u64
    }

    /// Two approximately standard-normal numbers (sums of uniforms: cheap and bounded).
    #[inline]
    pub fn normal_pair(&mut self) -> (f32, f32) {
        let r = self.next_u64();
        let u = |v: u64| (v & 0xffff) as f32 * (1.0 / 65536.0);
        let a = u(r) + u(r >> 16) - 1.0;
        let b = u(r >> 32) + u(r >> 48) - 1.0;
        // Var(U1 + U2 - 1) = 1/6.
        (a * 2.449_489_7, b * 2.449_489_7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_continuous_and_bounded() {
        let mut prev = value_noise(1, 0.0, 0.3);
        for i in 1..1000 {
            let v = value_noise(1, f64::from(i) * 0.01, 0.3);
            assert!((v - prev).abs() < 0.05);
            assert!((-1.0..=1.0).contains(&v));
            prev = v;
        }
        let f = fbm(3, 12.5, -7.25, 5);
        assert_eq!(f, fbm(3, 12.5, -7.25, 5));
        assert!((-1.0..=1.0).contains(&f));
    }

    #[test]
    fn normals_have_unit_variance() {
        let mut w = Wy(7);
        let n = 200_000;
        let (mut s, mut s2) = (0.0f64, 0.0f64);
        for _ in 0..n / 2 {
            let (a, b) = w.normal_pair();
            s += f64::from(a + b);
            s2 += f64::from(a * a + b * b);
        }
        let mean = s / f64::from(n);
        let var = s2 / f64::from(n) - mean * mean;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
            "{mean} {var}"
        );
    }
}
