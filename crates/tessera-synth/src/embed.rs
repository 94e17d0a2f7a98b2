//! The synthetic embedding model of one dataset: each class has a 128-d signature; a
//! pixel's vector is its class signature, plus spatially correlated variation (smooth world
//! fields mixed per class), plus a year-to-year drift, plus white noise. Different datasets
//! have unrelated signatures, as embeddings of different model runs do not interoperate.

use crate::noise::{Wy, hash2, mix64, unit};
use crate::world::NCLASS;

/// Embedding dimensions.
pub const DIM: usize = 128;
/// Number of smooth variation fields.
pub const K: usize = 4;
/// Size of the class-specific part of the signatures relative to the within-class
/// variation: tuned so that a nearest-centroid classifier confuses related classes
/// (cropland and grassland above all) about as often as on real embeddings.
const CLASS_AMPLITUDE: f32 = 0.55;

/// The embedding model of one dataset.
#[derive(Debug, Clone)]
pub struct Model {
    seed: u64,
    sig: Vec<[f32; DIM]>,
    /// mix[class][k][band]
    mix: Vec<[[f32; DIM]; K]>,
    noise: f32,
}

fn gauss(h: u64) -> f32 {
    // Box-Muller from one hash.
    let u1 = unit(h).max(1e-12);
    let u2 = unit(mix64(h ^ 0x5555));
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

impl Model {
    /// The model of a dataset seed.
    pub fn new(seed: u64) -> Model {
        let g = |a: i64, b: i64| gauss(hash2(seed, a, b));
        // Per-band spread: some dimensions carry more variance, as in real embeddings.
        let spread: Vec<f32> = (0..DIM)
            .map(|b| 0.6 + 0.8 * unit(hash2(seed ^ 7, b as i64, 0)) as f32)
            .collect();
        let base: Vec<f32> = (0..DIM)
            .map(|b| 2.2 * spread[b] * g(1000, b as i64))
            .collect();
        let own = |c: i64| -> Vec<f32> { (0..DIM).map(|b| g(c, b as i64)).collect() };
        let mut parts: Vec<Vec<f32>> = (0..NCLASS as i64).map(own).collect();
        // Related classes share part of their signature, so that they are close but
        // separable: cropland/grassland, wetland/water and grassland, bare/built-up.
        let blend = |parts: &mut Vec<Vec<f32>>, c: usize, with: usize, w: f32| {
            let other = parts[with].clone();
            for (v, o) in parts[c].iter_mut().zip(other) {
                *v = (1.0 - w) * *v + w * o;
            }
        };
        blend(&mut parts, 3, 2, 0.6); // grassland ~ cropland
        blend(&mut parts, 6, 0, 0.45); // wetland ~ water
        blend(&mut parts, 6, 3, 0.3); // wetland ~ grassland
        blend(&mut parts, 5, 4, 0.5); // bare ~ built-up
        blend(&mut parts, 7, 4, 0.4); // solar farm ~ built-up
        let sig = parts
            .iter()
            .map(|p| {
                let mut s = [0f32; DIM];
                for b in 0..DIM {
                    s[b] = base[b] + CLASS_AMPLITUDE * spread[b] * p[b];
                }
                s
            })
            .collect();
        let mix = (0..NCLASS as i64)
            .map(|c| {
                let mut m = [[0f32; DIM]; K];
                for (k, row) in m.iter_mut().enumerate() {
                    for (b, v) in row.iter_mut().enumerate() {
                        *v = 0.6 * spread[b] * g(100 + c * 10 + k as i64, b as i64);
                    }
                }
                m
            })
            .collect();
        Model {
            seed,
            sig,
            mix,
            noise: 0.5,
        }
    }

    /// The drift of a year (the same for every pixel).
    pub fn drift(&self, year: i32) -> [f32; DIM] {
        let mut d = [0f32; DIM];
        for (b, v) in d.iter_mut().enumerate() {
            *v = 0.25 * gauss(hash2(self.seed ^ 0xD1F7, i64::from(year), b as i64));
        }
        d
    }

    /// The signature of a class.
    pub fn signature(&self, class: u8) -> &[f32; DIM] {
        &self.sig[usize::from(class)]
    }

    /// One pixel's float embedding. A pixel on a class boundary mixes the signature of
    /// its class with `mixed`'s (weight `w` of the other class), as a 10 m pixel that
    /// covers two land covers does.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn embed(
        &self,
        class: u8,
        mixed: u8,
        w: f32,
        fields: &[f32; K],
        drift: &[f32; DIM],
        rng: &mut Wy,
        out: &mut [f32; DIM],
    ) {
        let c = usize::from(class).min(NCLASS - 1);
        let sig = &self.sig[c];
        let other = &self.sig[usize::from(mixed).min(NCLASS - 1)];
        let mix = &self.mix[c];
        for b in 0..DIM {
            out[b] = (1.0 - w) * sig[b] + w * other[b] + drift[b];
        }
        for (k, row) in mix.iter().enumerate() {
            let f = fields[k];
            for b in 0..DIM {
                out[b] += row[b] * f;
            }
        }
        for b in (0..DIM).step_by(2) {
            let (n0, n1) = rng.normal_pair();
            out[b] += self.noise * n0;
            out[b + 1] += self.noise * n1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_separable_and_datasets_differ() {
        let m = Model::new(1);
        let other = Model::new(2);
        let dist = |a: &[f32; DIM], b: &[f32; DIM]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        for a in 0..NCLASS as u8 {
            for b in 0..a {
                assert!(dist(m.signature(a), m.signature(b)) > 2.5, "{a} {b}");
            }
            assert!(dist(m.signature(a), other.signature(a)) > 10.0);
        }
        let mut rng = Wy(3);
        let mut out = [0f32; DIM];
        m.embed(
            2,
            2,
            0.0,
            &[0.5, -0.2, 0.1, 0.0],
            &m.drift(2024),
            &mut rng,
            &mut out,
        );
        assert!(dist(&out, m.signature(2)) < dist(&out, m.signature(3)));
    }
}
