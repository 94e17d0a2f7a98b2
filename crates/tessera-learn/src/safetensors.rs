//! The safetensors file format (Hugging Face): an 8-byte little-endian header length, a
//! JSON header naming each tensor's dtype, shape and byte range, an optional
//! `__metadata__` map of strings, then the tensors' bytes, contiguous and in header order.
//! Written here (about a hundred lines) rather than taken from the `safetensors` crate:
//! only plain little-endian arrays are stored, and reading checks every range.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::{LearnError, Result, usage};

/// One tensor's data.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// float32.
    F32(Vec<f32>),
    /// int8.
    I8(Vec<i8>),
    /// int16.
    I16(Vec<i16>),
    /// uint16.
    U16(Vec<u16>),
    /// uint32.
    U32(Vec<u32>),
}

impl Data {
    fn dtype(&self) -> &'static str {
        match self {
            Data::F32(_) => "F32",
            Data::I8(_) => "I8",
            Data::I16(_) => "I16",
            Data::U16(_) => "U16",
            Data::U32(_) => "U32",
        }
    }

    fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::I8(v) => v.len(),
            Data::I16(v) => v.len(),
            Data::U16(v) => v.len(),
            Data::U32(v) => v.len(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I8(v) => v.iter().map(|&x| x as u8).collect(),
            Data::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// A named tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Data,
}

/// Tensors by name and the metadata strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct File {
    /// Tensors.
    pub tensors: BTreeMap<String, Tensor>,
    /// `__metadata__`.
    pub metadata: BTreeMap<String, String>,
}

impl File {
    /// Adds a tensor.
    pub fn put(&mut self, name: &str, shape: &[usize], data: Data) {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        self.tensors.insert(
            name.to_string(),
            Tensor {
                shape: shape.to_vec(),
                data,
            },
        );
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = Map::new();
        if !self.metadata.is_empty() {
            header.insert("__metadata__".into(), json!(self.metadata));
        }
        let mut body = Vec::new();
        for (name, t) in &self.tensors {
            let b = t.data.bytes();
            let start = body.len();
            body.extend_from_slice(&b);
            header.insert(
                name.clone(),
                json!({"dtype": t.data.dtype(), "shape": t.shape, "data_offsets": [start, body.len()]}),
            );
        }
        let mut h = Value::Object(header).to_string().into_bytes();
        // The header is padded with spaces so that the data starts 8-byte aligned.
        while !(8 + h.len()).is_multiple_of(8) {
            h.push(b' ');
        }
        let mut out = Vec::with_capacity(8 + h.len() + body.len());
        out.extend_from_slice(&(h.len() as u64).to_le_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&body);
        out
    }

    /// Parses a file's bytes, checking every range.
    pub fn from_bytes(b: &[u8]) -> Result<File> {
        let bad = |m: &str| usage(format!("not a safetensors file: {m}"));
        if b.len() < 8 {
            return Err(bad("shorter than its header length"));
        }
        let hl = u64::from_le_bytes(b[..8].try_into().expect("8 bytes")) as usize;
        if hl > 100 << 20 || 8 + hl > b.len() {
            return Err(bad("the header length is out of range"));
        }
        let header: Value =
            serde_json::from_slice(&b[8..8 + hl]).map_err(|_| bad("the header is not JSON"))?;
        let obj = header
            .as_object()
            .ok_or_else(|| bad("the header is not an object"))?;
        let data = &b[8 + hl..];
        let mut f = File::default();
        for (name, v) in obj {
            if name == "__metadata__" {
                for (k, s) in v.as_object().into_iter().flatten() {
                    f.metadata
                        .insert(k.clone(), s.as_str().unwrap_or_default().to_string());
                }
                continue;
            }
            let dtype = v["dtype"]
                .as_str()
                .ok_or_else(|| bad("a tensor has no dtype"))?;
            let shape: Vec<usize> = v["shape"]
                .as_array()
                .ok_or_else(|| bad("a tensor has no shape"))?
                .iter()
                .map(|x| x.as_u64().map(|x| x as usize))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("a shape is not integers"))?;
            let off = v["data_offsets"]
                .as_array()
                .ok_or_else(|| bad("no data_offsets"))?;
            let (s, e) = match (
                off.first().and_then(Value::as_u64),
                off.get(1).and_then(Value::as_u64),
            ) {
                (Some(s), Some(e)) if s <= e && (e as usize) <= data.len() => {
                    (s as usize, e as usize)
                }
                _ => return Err(bad("a tensor's byte range is outside the file")),
            };
            let raw = &data[s..e];
            let count: usize = shape.iter().product();
            let size = match dtype {
                "F32" | "U32" => 4,
                "I16" | "U16" => 2,
                "I8" | "U8" => 1,
                other => {
                    return Err(usage(format!(
                        "tensor {name}: dtype {other} is not used by model files"
                    )));
                }
            };
            if raw.len() != count * size {
                return Err(bad("a tensor's bytes do not match its shape"));
            }
            let d = match dtype {
                "F32" => Data::F32(
                    raw.chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
                        .collect(),
                ),
                "U32" => Data::U32(
                    raw.chunks_exact(4)
                        .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
                        .collect(),
                ),
                "I16" => Data::I16(
                    raw.chunks_exact(2)
                        .map(|c| i16::from_le_bytes(c.try_into().expect("2")))
                        .collect(),
                ),
                "U16" => Data::U16(
                    raw.chunks_exact(2)
                        .map(|c| u16::from_le_bytes(c.try_into().expect("2")))
                        .collect(),
                ),
                _ => Data::I8(raw.iter().map(|&x| x as i8).collect()),
            };
            f.tensors.insert(name.clone(), Tensor { shape, data: d });
        }
        Ok(f)
    }

    /// Reads a file.
    pub fn read(path: &Path) -> Result<File> {
        let b =
            std::fs::read(path).map_err(|e| LearnError::Io(format!("{}: {e}", path.display())))?;
        File::from_bytes(&b).map_err(|e| usage(format!("{}: {e}", path.display())))
    }

    /// A float32 tensor by name.
    pub fn f32(&self, name: &str) -> Result<(&[usize], &[f32])> {
        match self.tensors.get(name) {
            Some(Tensor {
                shape,
                data: Data::F32(v),
            }) => Ok((shape, v)),
            _ => Err(usage(format!(
                "the model file has no float32 tensor {name}"
            ))),
        }
    }

    /// Any tensor by name.
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.tensors
            .get(name)
            .ok_or_else(|| usage(format!("the model file has no tensor {name}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_alignment() {
        let mut f = File::default();
        f.put(
            "a.weight",
            &[2, 3],
            Data::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        );
        f.put("codes", &[3], Data::I8(vec![-1, 0, 127]));
        f.metadata.insert("tessera".into(), "{\"x\": 1}".into());
        let b = f.to_bytes();
        let hl = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
        assert_eq!((8 + hl) % 8, 0);
        assert_eq!(File::from_bytes(&b).unwrap(), f);
        let mut cut = b.clone();
        cut.truncate(b.len() - 1);
        assert!(File::from_bytes(&cut).is_err());
        assert!(File::from_bytes(&b[..4]).is_err());
    }
}
