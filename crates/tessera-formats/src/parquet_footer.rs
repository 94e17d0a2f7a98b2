//! A cheap walk over a Parquet footer before the Parquet decoder sees it.
//!
//! The decoder we build on (parquet 60) skips unknown Thrift fields without consuming a
//! byte per boolean list element, so a footer of a few kilobytes that declares lists of
//! billions of booleans keeps it busy for minutes to hours (found by the fuzzer,
//! `fuzz/regressions/manifest/`). In Thrift's compact protocol every list, set or map
//! element takes at least one byte, so a footer whose containers claim more elements than
//! it has bytes left is corrupt; this walk refuses it in time linear in the footer's size.
//! Written by hand because no crate exposes such a check.

use parquet::file::reader::ChunkReader;

/// Nesting deeper than this is refused (the decoder's own limit is of the same order).
const MAX_DEPTH: u32 = 64;

/// Checks the Thrift structure of the footer of a Parquet file. Files without a plain
/// footer (too short, other magic, encrypted) are left to the decoder to refuse.
pub fn check<R: ChunkReader>(data: &R) -> Result<(), String> {
    let len = data.len();
    if len < 12 {
        return Ok(());
    }
    let tail = data.get_bytes(len - 8, 8).map_err(|e| e.to_string())?;
    if &tail[4..] != b"PAR1" {
        return Ok(());
    }
    let meta_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if meta_len + 8 > len {
        return Ok(());
    }
    let meta = data
        .get_bytes(len - 8 - meta_len, meta_len as usize)
        .map_err(|e| e.to_string())?;
    let mut w = Walk { b: &meta, i: 0 };
    w.value(STRUCT, MAX_DEPTH)
        .map_err(|e| format!("corrupt Parquet footer: {e}"))
}

const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const STRUCT: u8 = 12;

struct Walk<'a> {
    b: &'a [u8],
    i: usize,
}

impl Walk<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let v = *self.b.get(self.i).ok_or("ends early")?;
        self.i += 1;
        Ok(v)
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > (self.b.len() - self.i) as u64 {
            return Err("ends early".into());
        }
        self.i += n as usize;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    /// Elements of a container: each takes at least a byte, so at most what is left.
    fn count(&self, n: u64) -> Result<u64, String> {
        if n > (self.b.len() - self.i) as u64 {
            return Err(format!("a container of {n} elements in a shorter footer"));
        }
        Ok(n)
    }

    /// Skips one container element of compact-protocol type `ty`.
    fn element(&mut self, ty: u8, depth: u32) -> Result<(), String> {
        match ty {
            // Booleans inside containers take a byte each (outside, the field header).
            BOOL_TRUE | BOOL_FALSE => self.skip(1),
            _ => self.value(ty, depth),
        }
    }

    fn value(&mut self, ty: u8, depth: u32) -> Result<(), String> {
        if depth == 0 {
            return Err("nested too deeply".into());
        }
        match ty {
            BOOL_TRUE | BOOL_FALSE => Ok(()),
            3 => self.skip(1),
            4..=6 => self.varint().map(|_| ()),
            7 => self.skip(8),
            8 => {
                let n = self.varint()?;
                self.skip(n)
            }
            9 | 10 => {
                let h = self.byte()?;
                let n = match h >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                for _ in 0..self.count(n)? {
                    self.element(h & 0x0f, depth - 1)?;
                }
                Ok(())
            }
            11 => {
                let n = self.varint()?;
                if n > 0 {
                    let kv = self.byte()?;
                    for _ in 0..self.count(n)? {
                        self.element(kv >> 4, depth - 1)?;
                        self.element(kv & 0x0f, depth - 1)?;
                    }
                }
                Ok(())
            }
            STRUCT => loop {
                let h = self.byte()?;
                if h & 0x0f == 0 {
                    return Ok(());
                }
                if h >> 4 == 0 {
                    self.varint()?; // a field id that is not a small delta
                }
                self.value(h & 0x0f, depth - 1)?;
            },
            13 => self.skip(16),
            other => Err(format!("unknown Thrift type {other}")),
        }
    }
}
