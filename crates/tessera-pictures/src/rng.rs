//! NumPy's `default_rng(seed)`: a PCG64 generator seeded through `SeedSequence`, and its
//! `random()` doubles. The reference draws the PCA fit sample's priorities from
//! `default_rng(0)`; reproducing the stream bit for bit picks the same 100,000 pixels.
//! No crate implements NumPy's seeding (rand_pcg's PCG64 seeds differently), so it is
//! written here after NumPy's `bit_generator.pyx` and `pcg64.h`.

const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;
const POOL_SIZE: usize = 4;
const PCG_MULT: u128 = 0x2360_ED05_1FC6_5DA4_4385_DF64_9FCC_F645;

fn hashmix(value: u32, hash_const: &mut u32) -> u32 {
    let mut v = value ^ *hash_const;
    *hash_const = hash_const.wrapping_mul(MULT_A);
    v = v.wrapping_mul(*hash_const);
    v ^ (v >> XSHIFT)
}

fn mix(x: u32, y: u32) -> u32 {
    let r = MIX_MULT_L
        .wrapping_mul(x)
        .wrapping_sub(MIX_MULT_R.wrapping_mul(y));
    r ^ (r >> XSHIFT)
}

/// The entropy words of a non-negative integer seed, least significant first (NumPy's
/// `_int_to_uint32_array`; 0 is one zero word).
fn seed_words(seed: u64) -> Vec<u32> {
    if seed == 0 {
        return vec![0];
    }
    let mut words = Vec::new();
    let mut s = seed;
    while s > 0 {
        words.push(s as u32);
        s >>= 32;
    }
    words
}

/// `SeedSequence(seed).generate_state(n, uint64)`.
pub fn seed_sequence_u64(seed: u64, n: usize) -> Vec<u64> {
    let entropy = seed_words(seed);
    let mut pool = [0u32; POOL_SIZE];
    let mut hc = INIT_A;
    for (i, p) in pool.iter_mut().enumerate() {
        *p = hashmix(entropy.get(i).copied().unwrap_or(0), &mut hc);
    }
    for src in 0..POOL_SIZE {
        for dst in 0..POOL_SIZE {
            if src != dst {
                pool[dst] = mix(pool[dst], hashmix(pool[src], &mut hc));
            }
        }
    }
    for &e in entropy.iter().skip(POOL_SIZE) {
        for p in pool.iter_mut() {
            *p = mix(*p, hashmix(e, &mut hc));
        }
    }
    let mut hb = INIT_B;
    let words: Vec<u32> = (0..2 * n)
        .map(|i| {
            let mut v = pool[i % POOL_SIZE] ^ hb;
            hb = hb.wrapping_mul(MULT_B);
            v = v.wrapping_mul(hb);
            v ^ (v >> XSHIFT)
        })
        .collect();
    words
        .chunks_exact(2)
        .map(|w| u64::from(w[0]) | (u64::from(w[1]) << 32))
        .collect()
}

/// NumPy's `PCG64` bit generator.
#[derive(Debug, Clone)]
pub struct Pcg64 {
    state: u128,
    inc: u128,
}

impl Pcg64 {
    /// `np.random.default_rng(seed)`'s bit generator.
    pub fn numpy_default(seed: u64) -> Pcg64 {
        let v = seed_sequence_u64(seed, 4);
        let initstate = (u128::from(v[0]) << 64) | u128::from(v[1]);
        let initseq = (u128::from(v[2]) << 64) | u128::from(v[3]);
        let mut g = Pcg64 {
            state: 0,
            inc: (initseq << 1) | 1,
        };
        g.step();
        g.state = g.state.wrapping_add(initstate);
        g.step();
        g
    }

    fn step(&mut self) {
        self.state = self.state.wrapping_mul(PCG_MULT).wrapping_add(self.inc);
    }

    /// The next raw 64-bit output (XSL-RR).
    pub fn next_u64(&mut self) -> u64 {
        self.step();
        let s = self.state;
        let rot = (s >> 122) as u32;
        (((s >> 64) as u64) ^ (s as u64)).rotate_right(rot)
    }

    /// `Generator.random()`: a double in [0, 1) from the top 53 bits.
    pub fn random(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Golden values printed by NumPy 2.3:
    //   np.random.SeedSequence(0).generate_state(4, np.uint64)
    //   np.random.default_rng(0).bit_generator.random_raw(3)
    //   np.random.default_rng(0).random(5)
    #[test]
    fn matches_numpy_default_rng_0() {
        assert_eq!(
            seed_sequence_u64(0, 4),
            [
                15793235383387715774,
                12390638538380655177,
                2361836109651742017,
                3188717715514472916
            ]
        );
        let mut g = Pcg64::numpy_default(0);
        assert_eq!(g.next_u64(), 0xa30febcfd9c2825f);
        assert_eq!(g.next_u64(), 0x4510bdf882d9d721);
        assert_eq!(g.next_u64(), 0x0a7d3da94ecde8b8);
        let mut g = Pcg64::numpy_default(0);
        let want = [
            0.6369616873214543,
            0.2697867137638703,
            0.04097352393619469,
            0.016527635528529094,
            0.8132702392002724,
        ];
        for w in want {
            assert_eq!(g.random(), w);
        }
    }
}
