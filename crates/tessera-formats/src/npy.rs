//! NumPy `.npy` files: header parsing (format versions 1 to 3), memory-mapped typed reads,
//! byte offsets for range reads, and writing byte-identical to `numpy.save`.
//!
//! Published tiles are version 1.0 with a 128-byte header: int8 `(H, W, 128)` embeddings
//! and float32 `(H, W)` scales, C order, little-endian. The header dict is a Python
//! literal; we parse the subset NumPy writes (strings, booleans, integer tuples) and
//! reject anything else with a typed error, never by allocating from untrusted sizes.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use thiserror::Error;

/// The magic string at the start of every `.npy` file.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy aligns the data to this many bytes.
const ARRAY_ALIGN: usize = 64;
/// NumPy pads the header so that the first axis can grow to this many digits in place.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// Largest header we accept (NumPy's own default limit is 10,000 bytes).
pub const MAX_HEADER_LEN: usize = 1 << 20;

/// Errors reading or writing `.npy` data.
#[derive(Debug, Error)]
pub enum NpyError {
    /// An I/O error, with the file it concerns.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not an `.npy` file, or a malformed header.
    #[error("{path}: not a valid .npy file: {reason}")]
    BadHeader {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A valid header we do not support (dtype, order).
    #[error("{path}: unsupported .npy content: {reason}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is unsupported.
        reason: String,
    },
    /// The file is shorter than its header says.
    #[error(
        "{path}: truncated: {actual} bytes on disk, expected {expected}; delete it and download again"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Size on disk.
        actual: u64,
        /// Size the header implies.
        expected: u64,
    },
    /// The array has another dtype or shape than the caller needs.
    #[error("{path}: expected {expected}, found {found}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What was expected.
        expected: String,
        /// What the file holds.
        found: String,
    },
}

pub use crate::dtype::{DType, Element};

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Format version (major, minor).
    pub version: (u8, u8),
    /// Element type.
    pub dtype: DType,
    /// Fortran (column-major) order.
    pub fortran_order: bool,
    /// Array shape.
    pub shape: Vec<usize>,
    /// Byte offset of the data (= total header size).
    pub data_offset: usize,
}

impl NpyHeader {
    /// Number of elements (checked: `None` on overflow).
    pub fn element_count(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    }

    /// Bytes of data (checked).
    pub fn data_len(&self) -> Option<u64> {
        let n = self.element_count()? as u64;
        n.checked_mul(self.dtype.size() as u64)
    }

    /// Total file size the header implies (checked).
    pub fn file_len(&self) -> Option<u64> {
        self.data_len()?.checked_add(self.data_offset as u64)
    }

    /// Byte offset of element `index` along the leading axes of a C-order array, e.g. the
    /// first band of pixel `(row, col)` of an `(H, W, C)` array is `offset_of(&[row, col])`.
    /// Returns `None` when the index is out of bounds or the array is Fortran-ordered.
    pub fn offset_of(&self, index: &[usize]) -> Option<u64> {
        if self.fortran_order || index.len() > self.shape.len() {
            return None;
        }
        let mut linear: u64 = 0;
        for (&ix, &dim) in index.iter().zip(&self.shape) {
            if ix >= dim {
                return None;
            }
            linear = linear.checked_mul(dim as u64)?.checked_add(ix as u64)?;
        }
        let inner: u64 = self.shape[index.len()..]
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))?;
        linear
            .checked_mul(inner)?
            .checked_mul(self.dtype.size() as u64)?
            .checked_add(self.data_offset as u64)
    }

    /// Bytes of one element along the leading axes (e.g. one pixel of `(H, W, C)`).
    pub fn inner_len(&self, leading_axes: usize) -> Option<u64> {
        self.shape
            .get(leading_axes..)?
            .iter()
            .try_fold(self.dtype.size() as u64, |a, &d| a.checked_mul(d as u64))
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> NpyError {
    NpyError::BadHeader {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// How many bytes of a file are needed to parse its header, given its first 12 bytes;
/// useful for range reads. Errors if the prefix is not an `.npy` preamble.
pub fn header_len_from_prefix(prefix: &[u8]) -> Result<usize, NpyError> {
    preamble(prefix, Path::new("<memory>")).map(|(_, _, total)| total)
}

/// Returns (version, header text start, total header length).
fn preamble(bytes: &[u8], path: &Path) -> Result<((u8, u8), usize, usize), NpyError> {
    if bytes.len() < 10 {
        return Err(bad(path, format!("only {} bytes", bytes.len())));
    }
    if &bytes[..6] != MAGIC {
        return Err(bad(path, "missing \\x93NUMPY magic"));
    }
    let version = (bytes[6], bytes[7]);
    let (hlen, start) = match version.0 {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad(path, "truncated version 2 header length"));
            }
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
            (n, 12)
        }
        v => {
            return Err(bad(
                path,
                format!("unknown format version {v}.{}", version.1),
            ));
        }
    };
    if hlen > MAX_HEADER_LEN {
        return Err(bad(
            path,
            format!("header of {hlen} bytes is larger than {MAX_HEADER_LEN}"),
        ));
    }
    Ok((version, start, start + hlen))
}

/// Parses a header from the start of `bytes` (which must contain the whole header).
pub fn parse_header(bytes: &[u8], path: &Path) -> Result<NpyHeader, NpyError> {
    let (version, start, total) = preamble(bytes, path)?;
    if bytes.len() < total {
        return Err(bad(
            path,
            format!("header needs {total} bytes, file has {}", bytes.len()),
        ));
    }
    let raw = &bytes[start..total];
    let text: String = if version.0 == 3 {
        std::str::from_utf8(raw)
            .map_err(|_| bad(path, "header is not UTF-8"))?
            .to_string()
    } else {
        // Versions 1 and 2 are latin-1.
        raw.iter().map(|&b| b as char).collect()
    };
    let dict = literal::parse_dict(&text).map_err(|e| bad(path, e))?;
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (k, v) in dict {
        match (k.as_str(), v) {
            ("descr", literal::Value::Str(s)) => descr = Some(s),
            ("descr", _) => {
                return Err(NpyError::Unsupported {
                    path: path.into(),
                    reason: "structured dtypes are not supported".into(),
                });
            }
            ("fortran_order", literal::Value::Bool(b)) => fortran = Some(b),
            ("shape", literal::Value::Tuple(t)) => shape = Some(t),
            (k, _) => return Err(bad(path, format!("unexpected or ill-typed key '{k}'"))),
        }
    }
    let descr = descr.ok_or_else(|| bad(path, "missing 'descr'"))?;
    let dtype = DType::from_descr(&descr).map_err(|reason| NpyError::Unsupported {
        path: path.into(),
        reason,
    })?;
    let header = NpyHeader {
        version,
        dtype,
        fortran_order: fortran.ok_or_else(|| bad(path, "missing 'fortran_order'"))?,
        shape: shape.ok_or_else(|| bad(path, "missing 'shape'"))?,
        data_offset: total,
    };
    if header.file_len().is_none() {
        return Err(bad(path, format!("shape {:?} overflows", header.shape)));
    }
    Ok(header)
}

/// Reads and parses the header of an open reader (reads at most the header bytes).
pub fn read_header<R: Read>(r: &mut R, path: &Path) -> Result<NpyHeader, NpyError> {
    let io = |source| NpyError::Io {
        path: path.into(),
        source,
    };
    let mut buf = vec![0u8; 12];
    let mut got = 0;
    while got < 12 {
        let n = r.read(&mut buf[got..]).map_err(io)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    let (_, _, total) = preamble(&buf, path)?;
    if total > got {
        buf.resize(total, 0);
        r.read_exact(&mut buf[got..]).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                bad(path, "file ends inside the header")
            } else {
                io(e)
            }
        })?;
    }
    parse_header(&buf, path)
}

/// The header bytes NumPy (≥ 1.23) writes for a C-order array of `dtype` and `shape`.
pub fn header_bytes(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let shape_repr = match shape {
        [] => "()".to_string(),
        [one] => format!("({one},)"),
        many => format!(
            "({})",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_repr}, }}",
        dtype.descr()
    );
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    let hlen1 = dict.len() + 1;
    let padlen_for = |prefix_len: usize| ARRAY_ALIGN - ((prefix_len + hlen1) % ARRAY_ALIGN);
    // Version 1.0 unless the padded header does not fit a u16 length (as NumPy decides).
    let (major, prefix_len) = if hlen1 + padlen_for(10) <= 65535 {
        (1u8, 10)
    } else {
        (2u8, 12)
    };
    let padlen = padlen_for(prefix_len);
    let total_text = hlen1 + padlen;
    let mut out = Vec::with_capacity(prefix_len + total_text);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        out.extend_from_slice(&(total_text as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(total_text as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', padlen));
    out.push(b'\n');
    out
}

/// Writes an array as `.npy` (C order) to `w`; the bytes equal `numpy.save`'s.
pub fn write_npy<T: Element, W: Write>(
    w: &mut W,
    shape: &[usize],
    data: &[T],
) -> std::io::Result<()> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "shape {shape:?} holds {n} elements, data has {}",
                data.len()
            ),
        ));
    }
    w.write_all(&header_bytes(T::DTYPE, shape))?;
    w.write_all(bytemuck::cast_slice(data))
}

/// Writes an `.npy` file atomically (temporary file in the same directory, then rename).
pub fn write_npy_file<T: Element>(
    path: &Path,
    shape: &[usize],
    data: &[T],
) -> Result<(), NpyError> {
    crate::atomic::write_atomic(path, |w| write_npy(w, shape, data)).map_err(|source| {
        NpyError::Io {
            path: path.into(),
            source,
        }
    })
}

/// A memory-mapped `.npy` file whose size has been checked against its header.
#[derive(Debug)]
pub struct NpyFile {
    path: PathBuf,
    header: NpyHeader,
    map: Mmap,
}

impl NpyFile {
    /// Opens and maps a file; checks the header and that the data is complete.
    pub fn open(path: &Path) -> Result<NpyFile, NpyError> {
        let io = |source| NpyError::Io {
            path: path.into(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let header = read_header(&mut file, path)?;
        let actual = file.metadata().map_err(io)?.len();
        let expected = header.file_len().unwrap_or(u64::MAX);
        if actual < expected {
            return Err(NpyError::Truncated {
                path: path.into(),
                actual,
                expected,
            });
        }
        if header.fortran_order && header.shape.iter().filter(|&&d| d > 1).count() > 1 {
            return Err(NpyError::Unsupported {
                path: path.into(),
                reason: "Fortran-ordered arrays are not supported".into(),
            });
        }
        // SAFETY: the map is read-only; a concurrent truncation by another process would
        // be a bug in that process (tiles are replaced by rename, never rewritten in place).
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        Ok(NpyFile {
            path: path.into(),
            header,
            map,
        })
    }

    /// The parsed header.
    pub fn header(&self) -> &NpyHeader {
        &self.header
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Shape of the array.
    pub fn shape(&self) -> &[usize] {
        &self.header.shape
    }

    /// The raw data bytes.
    pub fn data_bytes(&self) -> &[u8] {
        let start = self.header.data_offset;
        let len = self.header.data_len().unwrap_or(0) as usize;
        &self.map[start..start + len]
    }

    /// Checks dtype and rank (and optionally trailing dimensions).
    pub fn expect<T: Element>(&self, rank: usize, trailing: Option<usize>) -> Result<(), NpyError> {
        let h = &self.header;
        let ok = h.dtype == T::DTYPE
            && h.shape.len() == rank
            && trailing.is_none_or(|t| h.shape.last() == Some(&t));
        if ok {
            return Ok(());
        }
        let want_shape = match (rank, trailing) {
            (r, Some(t)) => format!("{r}-D array with last axis {t}"),
            (r, None) => format!("{r}-D array"),
        };
        Err(NpyError::Mismatch {
            path: self.path.clone(),
            expected: format!("{} {want_shape}", T::DTYPE.descr()),
            found: format!("{} {:?}", h.dtype.descr(), h.shape),
        })
    }

    /// The data as a typed slice, when the dtype matches and the data is aligned.
    pub fn as_slice<T: Element>(&self) -> Result<&[T], NpyError> {
        if self.header.dtype != T::DTYPE {
            return Err(NpyError::Mismatch {
                path: self.path.clone(),
                expected: T::DTYPE.descr().into(),
                found: self.header.dtype.descr().into(),
            });
        }
        bytemuck::try_cast_slice(self.data_bytes()).map_err(|_| NpyError::Unsupported {
            path: self.path.clone(),
            reason: format!(
                "data offset {} is not aligned for {}; use to_vec()",
                self.header.data_offset,
                T::DTYPE.descr()
            ),
        })
    }

    /// The data copied into a vector (works for any alignment).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>, NpyError> {
        if self.header.dtype != T::DTYPE {
            return Err(NpyError::Mismatch {
                path: self.path.clone(),
                expected: T::DTYPE.descr().into(),
                found: self.header.dtype.descr().into(),
            });
        }
        let bytes = self.data_bytes();
        let mut v = vec![T::default(); bytes.len() / std::mem::size_of::<T>()];
        bytemuck::cast_slice_mut(&mut v).copy_from_slice(bytes);
        Ok(v)
    }
}

/// A minimal parser for the Python literal of an `.npy` header dict.
mod literal {
    /// A header value.
    #[derive(Debug, PartialEq)]
    pub enum Value {
        Str(String),
        Bool(bool),
        Tuple(Vec<usize>),
        Other,
    }

    struct P<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl P<'_> {
        fn ws(&mut self) {
            while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }
        fn peek(&mut self) -> Option<u8> {
            self.ws();
            self.s.get(self.i).copied()
        }
        fn eat(&mut self, c: u8) -> bool {
            if self.peek() == Some(c) {
                self.i += 1;
                true
            } else {
                false
            }
        }
        fn string(&mut self) -> Result<String, String> {
            let q = self.peek().ok_or("unexpected end")?;
            if q != b'\'' && q != b'"' {
                return Err(format!("expected a string at byte {}", self.i));
            }
            self.i += 1;
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i] != q {
                if self.s[self.i] == b'\\' {
                    return Err("escapes in header strings are not supported".into());
                }
                self.i += 1;
            }
            if self.i >= self.s.len() {
                return Err("unterminated string".into());
            }
            let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
            self.i += 1;
            Ok(out)
        }
        fn int(&mut self) -> Result<usize, String> {
            self.ws();
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            let txt = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
            // Python 2 era files may carry a long suffix.
            if self.i < self.s.len() && self.s[self.i] == b'L' {
                self.i += 1;
            }
            txt.parse::<usize>()
                .map_err(|_| format!("bad dimension '{txt}' in shape"))
        }
        fn value(&mut self) -> Result<Value, String> {
            match self.peek() {
                Some(b'\'' | b'"') => Ok(Value::Str(self.string()?)),
                Some(b'(') => {
                    self.i += 1;
                    let mut dims = Vec::new();
                    loop {
                        if self.eat(b')') {
                            break;
                        }
                        dims.push(self.int()?);
                        if dims.len() > 32 {
                            return Err("more than 32 dimensions".into());
                        }
                        if !self.eat(b',') {
                            if self.eat(b')') {
                                break;
                            }
                            return Err("malformed shape tuple".into());
                        }
                    }
                    Ok(Value::Tuple(dims))
                }
                Some(b'T') if self.s[self.i..].starts_with(b"True") => {
                    self.i += 4;
                    Ok(Value::Bool(true))
                }
                Some(b'F') if self.s[self.i..].starts_with(b"False") => {
                    self.i += 5;
                    Ok(Value::Bool(false))
                }
                Some(b'[') => {
                    // A structured dtype's field list: skip balanced brackets.
                    let mut depth = 0usize;
                    while self.i < self.s.len() {
                        match self.s[self.i] {
                            b'[' => depth += 1,
                            b']' => {
                                depth -= 1;
                                if depth == 0 {
                                    self.i += 1;
                                    return Ok(Value::Other);
                                }
                            }
                            _ => {}
                        }
                        self.i += 1;
                    }
                    Err("unterminated list".into())
                }
                _ => Err(format!("unexpected value at byte {}", self.i)),
            }
        }
    }

    /// Parses `{'key': value, ...}` followed only by whitespace.
    pub fn parse_dict(text: &str) -> Result<Vec<(String, Value)>, String> {
        let mut p = P {
            s: text.as_bytes(),
            i: 0,
        };
        if !p.eat(b'{') {
            return Err("header does not start with '{'".into());
        }
        let mut out: Vec<(String, Value)> = Vec::new();
        loop {
            if p.eat(b'}') {
                break;
            }
            let k = p.string()?;
            if !p.eat(b':') {
                return Err(format!("expected ':' after '{k}'"));
            }
            let v = p.value()?;
            if out.iter().any(|(o, _)| *o == k) {
                return Err(format!("duplicate key '{k}'"));
            }
            out.push((k, v));
            if !p.eat(b',') {
                if p.eat(b'}') {
                    break;
                }
                return Err("expected ',' or '}' in header dict".into());
            }
        }
        p.ws();
        if p.i != p.s.len() {
            return Err("trailing characters after header dict".into());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_published_tiles() {
        let h = header_bytes(DType::I8, &[1139, 729, 128]);
        assert_eq!(h.len(), 128, "published tiles have a 128-byte header");
        let parsed = parse_header(&h, Path::new("x")).unwrap();
        assert_eq!(parsed.shape, vec![1139, 729, 128]);
        assert_eq!(parsed.data_offset, 128);
        // 128 + 1139 * 729 * 128 (formats.md quotes 106,280,192, an arithmetic slip).
        assert_eq!(parsed.file_len(), Some(106_282_496));
        assert_eq!(parsed.offset_of(&[1, 2]), Some(128 + (729 + 2) * 128));
        assert_eq!(parsed.offset_of(&[1139, 0]), None);
        assert_eq!(parsed.inner_len(2), Some(128));
        let s = header_bytes(DType::F32, &[1139, 729]);
        assert_eq!(s.len() % 64, 0);
    }

    #[test]
    fn hostile_headers() {
        let p = Path::new("x");
        let mut h = header_bytes(DType::F32, &[3, 4]);
        assert!(parse_header(&h[..9], p).is_err());
        assert!(parse_header(&h[..40], p).is_err());
        h[0] = b'X';
        assert!(parse_header(&h, p).is_err());
        for text in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 99999999999, 99999999999), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551615, 2), }",
            "{'descr': '<f4', 'fortran_order': False, }",
            "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': Nope, 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }",
            "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,) } extra",
            "{'descr': '<f4",
            "",
        ] {
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&[1, 0]);
            b.extend_from_slice(&(text.len() as u16).to_le_bytes());
            b.extend_from_slice(text.as_bytes());
            assert!(parse_header(&b, p).is_err(), "{text}");
        }
        // A version 2 header claiming 4 GiB of header text is refused without allocating.
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[2, 0]);
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_header(&b, p).is_err());
        assert!(read_header(&mut b.as_slice(), p).is_err());
    }

    #[test]
    fn accepts_variants() {
        let p = Path::new("x");
        for (text, shape) in [
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                vec![],
            ),
            (
                "{\"descr\":\"|i1\",\"fortran_order\":False,\"shape\":(3L,4L)}",
                vec![3, 4],
            ),
            (
                "{'shape': (5,), 'fortran_order': False, 'descr': '<f8'}  \n",
                vec![5],
            ),
        ] {
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&[1, 0]);
            b.extend_from_slice(&(text.len() as u16).to_le_bytes());
            b.extend_from_slice(text.as_bytes());
            assert_eq!(parse_header(&b, p).unwrap().shape, shape, "{text}");
        }
    }
}
