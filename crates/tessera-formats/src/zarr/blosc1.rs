//! A direct decoder for the blosc frames of TESSERA's embedding chunks: typesize 1,
//! bitshuffle, zstd, blocks of a multiple of 8 bytes. C-blosc un-bitshuffles one-byte
//! elements with its scalar fallback (its SSE2 and AVX2 kernels need even element sizes),
//! which made it half the cost of reading a chunk; here each 8x8 bit block is transposed
//! in a 64-bit word. Any other frame (byte shuffle, other compressors, other type sizes,
//! uncompressed frames, split streams) is left to c-blosc: [`decode`] returns `None`.
//!
//! Frame layout (blosc 1.x): a 16-byte header (version, compressor version, flags,
//! typesize, nbytes, blocksize, cbytes, little-endian), the start offset of every block
//! (i32), then per block a stream length (i32) and the stream (stored raw when its length
//! equals the block's).

use std::cell::RefCell;

const HEADER: usize = 16;
const FLAG_SHUFFLE: u8 = 0x01;
const FLAG_MEMCPYED: u8 = 0x02;
const FLAG_BITSHUFFLE: u8 = 0x04;
const COMPRESSOR_ZSTD: u8 = 4;

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
}

/// Decodes `src` when it is a frame of the kind described above: `Some(Ok(bytes))`,
/// `Some(Err)` for such a frame that is corrupt or claims more than `max` bytes, `None`
/// for other frames.
pub fn decode(src: &[u8], max: usize) -> Option<Result<Vec<u8>, String>> {
    if src.len() < HEADER {
        return None;
    }
    let (flags, typesize) = (src[2], src[3]);
    let nbytes = u32_at(src, 4)?;
    let blocksize = u32_at(src, 8)?;
    let cbytes = u32_at(src, 12)?;
    let ours = typesize == 1
        && flags & FLAG_BITSHUFFLE != 0
        && flags & (FLAG_SHUFFLE | FLAG_MEMCPYED) == 0
        && flags >> 5 == COMPRESSOR_ZSTD
        && blocksize > 0
        && blocksize <= nbytes
        && blocksize.is_multiple_of(8)
        && nbytes.is_multiple_of(blocksize)
        && cbytes == src.len();
    // Blosc splits a block into one stream per byte of the type: with one-byte types a
    // block is always one stream, whatever the don't-split flag says.
    if !ours {
        return None;
    }
    if nbytes > max {
        return Some(Err(format!(
            "frame of {nbytes} bytes, expected at most {max}"
        )));
    }
    Some(decode_frame(src, nbytes, blocksize))
}

thread_local! {
    static DCTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
    static TMP: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn decode_frame(src: &[u8], nbytes: usize, blocksize: usize) -> Result<Vec<u8>, String> {
    let nblocks = nbytes / blocksize;
    let starts = HEADER + 4 * nblocks;
    if src.len() < starts {
        return Err("blosc frame shorter than its block table".into());
    }
    // Every byte of `out` is written by exactly one block's unshuffle: no zeroing first.
    let mut out: Vec<u8> = Vec::with_capacity(nbytes);
    TMP.with_borrow_mut(|tmp| {
        tmp.resize(blocksize, 0);
        DCTX.with_borrow_mut(|dctx| {
            if dctx.is_none() {
                *dctx = Some(
                    zstd::bulk::Decompressor::new().map_err(|e| format!("zstd context: {e}"))?,
                );
            }
            let dctx = dctx.as_mut().expect("made above");
            let spare = &mut out.spare_capacity_mut()[..nbytes];
            for (k, dst) in spare.chunks_exact_mut(blocksize).enumerate() {
                let at = u32_at(src, HEADER + 4 * k).ok_or("truncated block table")?;
                let len = u32_at(src, at).ok_or("block start past the frame")?;
                let body = src
                    .get(at + 4..at + 4 + len)
                    .ok_or("block stream past the frame")?;
                if len == blocksize {
                    tmp.copy_from_slice(body);
                } else {
                    let n = dctx
                        .decompress_to_buffer(body, &mut tmp[..])
                        .map_err(|e| format!("zstd: {e}"))?;
                    if n != blocksize {
                        return Err(format!("block {k}: {n} bytes, expected {blocksize}"));
                    }
                }
                unshuffle_bits(tmp, dst);
            }
            Ok(())
        })
    })?;
    // SAFETY: the loop above wrote all `nbytes` bytes (nbytes / blocksize whole blocks,
    // each fully written by `unshuffle_bits`), or returned an error before this point.
    unsafe { out.set_len(nbytes) };
    Ok(out)
}

/// The 8x8 bit matrix in `x` (row r = byte r, column c = bit c) transposed.
#[inline(always)]
fn transpose8(mut x: u64) -> u64 {
    let t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
    x ^= t ^ (t << 7);
    let t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
    x ^= t ^ (t << 14);
    let t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
    x ^ t ^ (t << 28)
}

/// Undoes bitshuffle of one-byte elements: `src` holds 8 bit planes of `n / 8` bytes
/// (plane k: bit k of every element, element 8j + i in bit i of byte j).
/// Every byte of `dst` (a multiple of 8 long, as `src`) is written.
fn unshuffle_bits(src: &[u8], dst: &mut [std::mem::MaybeUninit<u8>]) {
    let m = dst.len() / 8;
    let p: [&[u8]; 8] = std::array::from_fn(|k| &src[k * m..(k + 1) * m]);
    for (j, o) in dst.chunks_exact_mut(8).enumerate().take(m) {
        let x = u64::from_le_bytes([
            p[0][j], p[1][j], p[2][j], p[3][j], p[4][j], p[5][j], p[6][j], p[7][j],
        ]);
        for (d, b) in o.iter_mut().zip(transpose8(x).to_le_bytes()) {
            d.write(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zarrs::array::codec::{
        BloscCompressionLevel, BloscCompressor, BloscShuffleMode, blosc_compress_bytes,
        blosc_decompress_bytes,
    };

    /// The straightforward definition, bit by bit.
    fn unshuffle_naive(src: &[u8], dst: &mut [u8]) {
        let m = dst.len() / 8;
        for (e, d) in dst.iter_mut().enumerate() {
            let (j, i) = (e / 8, e % 8);
            *d = (0..8).fold(0u8, |acc, k| acc | (((src[k * m + j] >> i) & 1) << k));
        }
    }

    #[test]
    fn the_word_transpose_is_the_bit_definition() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let src: Vec<u8> = (0..4096)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect();
        let mut a = vec![std::mem::MaybeUninit::new(0u8); 4096];
        let mut b = vec![0u8; 4096];
        unshuffle_bits(&src, &mut a);
        let a: Vec<u8> = a.into_iter().map(|v| unsafe { v.assume_init() }).collect();
        unshuffle_naive(&src, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn frames_decode_as_c_blosc_decodes_them() {
        // Embedding-like bytes (small values, a few large), several sizes and levels.
        let mut s = 42u64;
        let mut most_blocks = 0;
        for (n, level, bs) in [
            (131_072usize, 3u8, 0usize),
            (131_072, 3, 16_384),
            (4096, 1, 0),
            (65_536, 9, 8192),
            (1024, 5, 0),
        ] {
            let data: Vec<u8> = (0..n)
                .map(|i| {
                    s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    if i % 97 == 0 {
                        (s >> 56) as u8
                    } else {
                        ((i / 300 % 5) as u8 ^ (s >> 62) as u8).wrapping_sub(2)
                    }
                })
                .collect();
            let frame = blosc_compress_bytes(
                &data,
                BloscCompressionLevel::try_from(level).unwrap(),
                BloscShuffleMode::BitShuffle,
                1,
                BloscCompressor::Zstd,
                bs,
                1,
            )
            .unwrap();
            most_blocks = most_blocks.max(n / u32_at(&frame, 8).unwrap());
            let ours = decode(&frame, n)
                .unwrap_or_else(|| panic!("not our kind: {:?} len {}", &frame[..16], frame.len()))
                .unwrap();
            assert_eq!(ours, data, "n={n}");
            assert_eq!(blosc_decompress_bytes(&frame, n, 1).unwrap(), data);
            // Corruption is an error, never a panic or wrong bytes passed as good.
            let mut bad = frame.clone();
            let last = bad.len() - 3;
            bad[last] ^= 0x5A;
            if let Some(r) = decode(&bad, n) {
                assert!(r.is_err() || r.unwrap() != data || bad == frame);
            }
            assert!(decode(&frame[..frame.len() - 1], n).is_none());
            // A frame claiming more than the chunk can hold is refused before allocating.
            assert!(decode(&frame, n - 1).unwrap().is_err());
        }
        assert!(most_blocks >= 8, "{most_blocks}");
    }

    #[test]
    fn mutated_frames_never_panic_and_agree_with_c_blosc() {
        let data: Vec<u8> = (0..32_768u32).map(|i| ((i / 40) % 11) as u8).collect();
        let frame = blosc_compress_bytes(
            &data,
            BloscCompressionLevel::try_from(3u8).unwrap(),
            BloscShuffleMode::BitShuffle,
            1,
            BloscCompressor::Zstd,
            4096,
            1,
        )
        .unwrap();
        let mut s = 7u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..3000 {
            let mut f = frame.clone();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() % f.len() as u64) as usize;
                f[at] = next() as u8;
            }
            if let Some(Ok(ours)) = decode(&f, 1 << 16)
                && let Ok(theirs) = blosc_decompress_bytes(&f, ours.len(), 1)
            {
                assert_eq!(ours, theirs);
            }
        }
    }

    #[test]
    fn other_frames_are_left_to_c_blosc() {
        let data = vec![7u8; 8192];
        for (shuffle, typesize, comp) in [
            (BloscShuffleMode::Shuffle, 1, BloscCompressor::Zstd),
            (BloscShuffleMode::BitShuffle, 4, BloscCompressor::Zstd),
            (BloscShuffleMode::BitShuffle, 1, BloscCompressor::LZ4),
        ] {
            let frame = blosc_compress_bytes(
                &data,
                BloscCompressionLevel::try_from(3u8).unwrap(),
                shuffle,
                typesize,
                comp,
                0,
                1,
            )
            .unwrap();
            assert!(decode(&frame, 8192).is_none());
        }
        assert!(decode(b"short", 8).is_none());
        // A header claiming a block larger than the frame's data is not ours (no buffer
        // of the claimed block size is made).
        let mut h = vec![2u8, 1, 0x94, 1];
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(&16u32.to_le_bytes());
        assert!(decode(&h, 1 << 20).is_none());
    }
}
