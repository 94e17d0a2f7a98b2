//! TIFF chunk compression (LZW, Deflate, ZSTD) and predictors (horizontal differencing
//! and the floating-point predictor), applied to one chunk at a time.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

/// Chunk compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression (TIFF 1).
    None,
    /// LZW (TIFF 5), MSB-first codes with the TIFF early size switch.
    Lzw,
    /// Adobe Deflate (TIFF 8), zlib-wrapped; level 1..=9 (GDAL default 6).
    Deflate(u32),
    /// ZSTD (TIFF 50000, as GDAL writes it); level 1..=22 (GDAL default 9).
    Zstd(i32),
}

impl Compression {
    /// The TIFF Compression tag value.
    pub fn tag_value(&self) -> u16 {
        match self {
            Compression::None => 1,
            Compression::Lzw => 5,
            Compression::Deflate(_) => 8,
            Compression::Zstd(_) => 50000,
        }
    }

    /// GDAL's name for it (`COMPRESSION` in the IMAGE_STRUCTURE domain).
    pub fn gdal_name(&self) -> &'static str {
        match self {
            Compression::None => "NONE",
            Compression::Lzw => "LZW",
            Compression::Deflate(_) => "DEFLATE",
            Compression::Zstd(_) => "ZSTD",
        }
    }

    /// Compresses one (already predicted) chunk into `out` (which is cleared first).
    pub fn encode_into(&self, data: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        out.clear();
        match *self {
            Compression::None => out.extend_from_slice(data),
            Compression::Lzw => {
                let mut enc =
                    weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
                enc.into_vec(out)
                    .encode_all(data)
                    .status
                    .map_err(std::io::Error::other)?;
            }
            Compression::Deflate(level) => {
                let mut e =
                    flate2::write::ZlibEncoder::new(out, flate2::Compression::new(level.min(9)));
                e.write_all(data)?;
                e.finish()?;
            }
            Compression::Zstd(level) => {
                // Compress straight into `out`'s allocation (zstd writes from its start).
                let mut buf = std::mem::take(out);
                buf.clear();
                buf.reserve(zstd::zstd_safe::compress_bound(data.len()));
                zstd::bulk::Compressor::new(level)?.compress_to_buffer(data, &mut buf)?;
                *out = buf;
            }
        }
        Ok(())
    }

    /// Compresses one (already predicted) chunk.
    pub fn encode(&self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.encode_into(data, &mut out)?;
        Ok(out)
    }
}

/// Error parsing a compression name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCompression(pub String);

impl fmt::Display for BadCompression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown compression '{}': use none, lzw, deflate, zstd (optionally with a level, e.g. deflate:1, zstd:3)",
            self.0
        )
    }
}

impl std::error::Error for BadCompression {}

impl FromStr for Compression {
    type Err = BadCompression;

    /// `none`, `lzw`, `deflate[:LEVEL]` (or `zlib`), `zstd[:LEVEL]`, case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, level) = match lower.split_once(':') {
            Some((n, l)) => (n, Some(l)),
            None => (lower.as_str(), None),
        };
        let err = || BadCompression(s.to_string());
        match (name, level) {
            ("none" | "", None) => Ok(Compression::None),
            ("lzw", None) => Ok(Compression::Lzw),
            ("deflate" | "zlib", l) => {
                let level = l.map_or(Ok(6), |l| l.parse::<u32>().map_err(|_| err()))?;
                if (1..=9).contains(&level) {
                    Ok(Compression::Deflate(level))
                } else {
                    Err(err())
                }
            }
            ("zstd", l) => {
                // Negative levels are zstd's fast modes (--fast=N).
                let level = l.map_or(Ok(9), |l| l.parse::<i32>().map_err(|_| err()))?;
                if (-7..=22).contains(&level) && level != 0 {
                    Ok(Compression::Zstd(level))
                } else {
                    Err(err())
                }
            }
            _ => Err(err()),
        }
    }
}

/// The TIFF predictor applied before compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predictor {
    /// None (1).
    None,
    /// Horizontal differencing of samples (2).
    Horizontal,
    /// Floating-point predictor (3): byte planes, then byte differencing.
    FloatingPoint,
}

impl Predictor {
    /// The TIFF tag value.
    pub fn tag_value(&self) -> u16 {
        match self {
            Predictor::None => 1,
            Predictor::Horizontal => 2,
            Predictor::FloatingPoint => 3,
        }
    }
}

/// Applies `predictor` in place to a chunk of `rows` rows, each `row_samples` samples of
/// `sample_size` bytes, with `stride` samples per pixel (differences run per band).
pub fn apply_predictor(
    predictor: Predictor,
    chunk: &mut [u8],
    row_samples: usize,
    stride: usize,
    sample_size: usize,
) {
    let row_bytes = row_samples * sample_size;
    if row_bytes == 0 {
        return;
    }
    match predictor {
        Predictor::None => {}
        Predictor::Horizontal => {
            for row in chunk.chunks_exact_mut(row_bytes) {
                horizontal_row(row, stride, sample_size);
            }
        }
        Predictor::FloatingPoint => {
            let mut planes = vec![0u8; row_bytes];
            for row in chunk.chunks_exact_mut(row_bytes) {
                // Byte planes, most significant first (libtiff's fpDiff on little-endian data).
                to_planes(row, &mut planes, sample_size);
                // Then byte-wise differencing with the pixel stride.
                let step = stride.min(row_bytes);
                row[..step].copy_from_slice(&planes[..step]);
                for ((o, &cur), &prev) in row[step..]
                    .iter_mut()
                    .zip(&planes[step..])
                    .zip(&planes[..row_bytes - step])
                {
                    *o = cur.wrapping_sub(prev);
                }
            }
        }
    }
}

/// Splits samples of `size` bytes into byte planes, most significant plane first.
fn to_planes(src: &[u8], dst: &mut [u8], size: usize) {
    let n = src.len() / size;
    if size == 4 {
        let (p3, rest) = dst.split_at_mut(n);
        let (p2, rest) = rest.split_at_mut(n);
        let (p1, p0) = rest.split_at_mut(n);
        for (i, w) in src.chunks_exact(4).enumerate() {
            p0[i] = w[0];
            p1[i] = w[1];
            p2[i] = w[2];
            p3[i] = w[3];
        }
        return;
    }
    for i in 0..n {
        for b in 0..size {
            dst[(size - 1 - b) * n + i] = src[i * size + b];
        }
    }
}

/// Undoes `predictor` in place (the inverse of [`apply_predictor`]).
pub fn undo_predictor(
    predictor: Predictor,
    chunk: &mut [u8],
    row_samples: usize,
    stride: usize,
    sample_size: usize,
) {
    let row_bytes = row_samples * sample_size;
    if row_bytes == 0 || stride == 0 {
        return;
    }
    match predictor {
        Predictor::None => {}
        Predictor::Horizontal => {
            for row in chunk.chunks_exact_mut(row_bytes) {
                horizontal_undo_row(row, stride, sample_size);
            }
        }
        Predictor::FloatingPoint => {
            let mut tmp = vec![0u8; row_bytes];
            for row in chunk.chunks_exact_mut(row_bytes) {
                for i in stride..row_bytes {
                    row[i] = row[i].wrapping_add(row[i - stride]);
                }
                tmp.copy_from_slice(row);
                for i in 0..row_samples {
                    for b in 0..sample_size {
                        row[i * sample_size + b] = tmp[(sample_size - 1 - b) * row_samples + i];
                    }
                }
            }
        }
    }
}

fn horizontal_undo_row(row: &mut [u8], stride: usize, size: usize) {
    macro_rules! acc {
        ($t:ty) => {{
            const N: usize = std::mem::size_of::<$t>();
            let n = row.len() / N;
            for i in stride..n {
                let cur = <$t>::from_le_bytes(row[i * N..(i + 1) * N].try_into().unwrap());
                let prev = <$t>::from_le_bytes(
                    row[(i - stride) * N..(i - stride + 1) * N]
                        .try_into()
                        .unwrap(),
                );
                row[i * N..(i + 1) * N].copy_from_slice(&cur.wrapping_add(prev).to_le_bytes());
            }
        }};
    }
    match size {
        1 => {
            for i in stride..row.len() {
                row[i] = row[i].wrapping_add(row[i - stride]);
            }
        }
        2 => acc!(u16),
        4 => acc!(u32),
        8 => acc!(u64),
        _ => {}
    }
}

/// Decompresses one chunk of TIFF compression `code` into exactly `expected` bytes.
/// Streams that decode to more bytes are cut (as libtiff does); fewer is an error.
pub fn decode_chunk(code: u16, raw: &[u8], expected: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = vec![0u8; expected];
    match code {
        1 => {
            if raw.len() < expected {
                return Err(format!(
                    "uncompressed chunk has {} of {expected} bytes",
                    raw.len()
                ));
            }
            out.copy_from_slice(&raw[..expected]);
        }
        5 => {
            let mut dec = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
            let (mut inp, mut pos) = (raw, 0usize);
            while pos < expected {
                let r = dec.decode_bytes(inp, &mut out[pos..]);
                pos += r.consumed_out;
                inp = &inp[r.consumed_in..];
                match r.status {
                    Ok(weezl::LzwStatus::Ok) if r.consumed_in == 0 && r.consumed_out == 0 => {
                        return Err("LZW stream ends early".into());
                    }
                    Ok(weezl::LzwStatus::Ok) => {}
                    Ok(weezl::LzwStatus::Done) | Ok(weezl::LzwStatus::NoProgress) => break,
                    Err(e) => return Err(format!("LZW: {e}")),
                }
            }
            if pos < expected {
                return Err(format!("LZW chunk decoded to {pos} of {expected} bytes"));
            }
        }
        8 | 32946 => {
            flate2::read::ZlibDecoder::new(raw)
                .read_exact(&mut out)
                .map_err(|e| format!("Deflate: {e}"))?;
        }
        50000 => {
            zstd::stream::read::Decoder::new(raw)
                .and_then(|mut d| d.read_exact(&mut out))
                .map_err(|e| format!("ZSTD: {e}"))?;
        }
        32773 => {
            // PackBits.
            let (mut i, mut pos) = (0usize, 0usize);
            while pos < expected && i < raw.len() {
                let n = raw[i] as i8;
                i += 1;
                if n >= 0 {
                    let len = (n as usize + 1).min(expected - pos);
                    let src = raw.get(i..i + len).ok_or("PackBits literal past the end")?;
                    out[pos..pos + len].copy_from_slice(src);
                    i += n as usize + 1;
                    pos += len;
                } else if n != -128 {
                    let len = ((1 - n as isize) as usize).min(expected - pos);
                    let b = *raw.get(i).ok_or("PackBits run past the end")?;
                    out[pos..pos + len].fill(b);
                    i += 1;
                    pos += len;
                }
            }
            if pos < expected {
                return Err(format!(
                    "PackBits chunk decoded to {pos} of {expected} bytes"
                ));
            }
        }
        other => return Err(format!("compression {other} is not supported")),
    }
    Ok(out)
}

fn horizontal_row(row: &mut [u8], stride: usize, size: usize) {
    macro_rules! diff {
        ($t:ty) => {{
            const N: usize = std::mem::size_of::<$t>();
            let n = row.len() / N;
            for i in (stride..n).rev() {
                let cur = <$t>::from_le_bytes(row[i * N..(i + 1) * N].try_into().unwrap());
                let prev = <$t>::from_le_bytes(
                    row[(i - stride) * N..(i - stride + 1) * N]
                        .try_into()
                        .unwrap(),
                );
                row[i * N..(i + 1) * N].copy_from_slice(&cur.wrapping_sub(prev).to_le_bytes());
            }
        }};
    }
    match size {
        1 => {
            for i in (stride..row.len()).rev() {
                row[i] = row[i].wrapping_sub(row[i - stride]);
            }
        }
        2 => diff!(u16),
        4 => diff!(u32),
        8 => diff!(u64),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names() {
        assert_eq!("LZW".parse::<Compression>().unwrap(), Compression::Lzw);
        assert_eq!(
            "deflate".parse::<Compression>().unwrap(),
            Compression::Deflate(6)
        );
        assert_eq!(
            "zstd:3".parse::<Compression>().unwrap(),
            Compression::Zstd(3)
        );
        assert_eq!("none".parse::<Compression>().unwrap(), Compression::None);
        assert_eq!(
            "zstd:-3".parse::<Compression>().unwrap(),
            Compression::Zstd(-3)
        );
        for bad in ["jpeg", "zstd:0", "zstd:-9", "deflate:12", "lzw:3", "zstd:x"] {
            assert!(bad.parse::<Compression>().is_err(), "{bad}");
        }
    }

    #[test]
    fn predictors_invert() {
        for (p, size) in [
            (Predictor::Horizontal, 1),
            (Predictor::Horizontal, 2),
            (Predictor::Horizontal, 4),
            (Predictor::FloatingPoint, 4),
            (Predictor::FloatingPoint, 8),
        ] {
            let data: Vec<u8> = (0..3 * 5 * 2 * size)
                .map(|i| (i * 37 % 256) as u8)
                .collect();
            let mut v = data.clone();
            apply_predictor(p, &mut v, 10, 2, size);
            assert_ne!(v, data);
            undo_predictor(p, &mut v, 10, 2, size);
            assert_eq!(v, data, "{p:?} {size}");
        }
    }

    #[test]
    fn decode_matches_encode() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 13) as u8).collect();
        for c in [
            Compression::None,
            Compression::Lzw,
            Compression::Deflate(1),
            Compression::Zstd(1),
        ] {
            let enc = c.encode(&data).unwrap();
            assert_eq!(decode_chunk(c.tag_value(), &enc, data.len()).unwrap(), data);
            assert!(decode_chunk(c.tag_value(), &enc[..enc.len() / 2], data.len()).is_err());
        }
        assert_eq!(
            decode_chunk(32773, &[2, 1, 2, 3, 0xfe, 9], 6).unwrap(),
            vec![1, 2, 3, 9, 9, 9]
        );
        assert!(decode_chunk(7, &[], 1).is_err());
    }

    #[test]
    fn horizontal_u8() {
        let mut row = vec![10u8, 20, 12, 22, 15, 25];
        apply_predictor(Predictor::Horizontal, &mut row, 6, 2, 1);
        assert_eq!(row, vec![10, 20, 2, 2, 3, 3]);
    }

    #[test]
    fn codecs_round_trip() {
        let data: Vec<u8> = (0..10000u32).map(|i| (i % 251) as u8).collect();
        for c in [
            Compression::Lzw,
            Compression::Deflate(6),
            Compression::Zstd(9),
        ] {
            let enc = c.encode(&data).unwrap();
            let dec = match c {
                Compression::Lzw => {
                    weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                        .decode(&enc)
                        .unwrap()
                }
                Compression::Deflate(_) => {
                    let mut d = flate2::read::ZlibDecoder::new(&enc[..]);
                    let mut v = Vec::new();
                    std::io::Read::read_to_end(&mut d, &mut v).unwrap();
                    v
                }
                Compression::Zstd(_) => zstd::bulk::decompress(&enc, data.len()).unwrap(),
                Compression::None => enc.clone(),
            };
            assert_eq!(dec, data, "{c:?}");
        }
    }
}
