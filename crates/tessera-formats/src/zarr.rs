//! Zarr v3 pieces of the published embedding stores (layout B): the metadata documents as
//! zarr-python writes them, their parsing, the `sharding_indexed` shard index, and the
//! inner-chunk codecs (`bytes` + `blosc`/`zstd`).
//!
//! Store I/O lives in the client; this module only turns bytes into values and back.

use serde_json::{Value, json};
use thiserror::Error;

use zarrs::array::codec::{
    BloscCompressionLevel, BloscCompressor, BloscShuffleMode, blosc_compress_bytes,
    blosc_decompress_bytes, blosc_nbytes, blosc_validate,
};

mod blosc1;

/// Pixels per shard side.
pub const SHARD: usize = 4096;
/// Pixels per inner-chunk side (embeddings and scales).
pub const INNER: usize = 32;
/// Bands of the full-depth embeddings.
pub const BANDS: usize = 128;
/// Inner chunks per shard side.
pub const CHUNKS_PER_SIDE: usize = SHARD / INNER;
/// Inner chunks per shard.
pub const CHUNKS_PER_SHARD: usize = CHUNKS_PER_SIDE * CHUNKS_PER_SIDE;
/// An absent inner chunk's offset and length in the shard index.
pub const EMPTY: u64 = u64::MAX;
/// The largest scale the writers keep (`MAX_VALID_SCALE`).
pub const MAX_VALID_SCALE: f32 = 1.0;
/// Array attribute declaring that every inner chunk in a shard is followed by the CRC32C
/// (little-endian) of its encoded bytes. The bytes lie outside the ranges the shard index
/// names, so every Zarr reader ignores them; ours verifies them.
pub const CHUNK_CRC_ATTR: &str = "geotessera-rs:chunk_crc32c";

/// The geoemb: convention registration.
pub fn geoemb_convention() -> Value {
    json!({
        "uuid": "61c12cc5-0e28-4056-999a-480cf3fb7e4c",
        "name": "geoemb:",
        "description": "Geoembeddings convention for geospatial embedding arrays with model provenance",
        "spec_url": "https://github.com/geo-embeddings/embeddings-zarr-convention/blob/v1/README.md",
        "schema_url": "https://raw.githubusercontent.com/geo-embeddings/embeddings-zarr-convention/refs/tags/v1/schema.json"
    })
}

/// UUID of the `spatial:` convention.
pub const SPATIAL_UUID: &str = "689b58e2-cf7b-45e0-9fff-9cfc0883d6b4";
/// UUID of the `proj:` convention.
pub const PROJ_UUID: &str = "f17cb550-5864-4468-aeb7-f3180cfb622f";
/// UUID of the `geoemb:` convention.
pub const GEOEMB_UUID: &str = "61c12cc5-0e28-4056-999a-480cf3fb7e4c";

/// Errors of this module: the message names the object and what is wrong.
#[derive(Debug, Error)]
pub enum ZarrError {
    /// Metadata we cannot use.
    #[error("{path}: {message}")]
    Metadata {
        /// The document.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Bytes that do not decode.
    #[error("{what}: {message}")]
    Corrupt {
        /// The object (and chunk).
        what: String,
        /// What is wrong.
        message: String,
    },
}

type Result<T> = std::result::Result<T, ZarrError>;

// ---------------------------------------------------------------------------------------
// Writing metadata
// ---------------------------------------------------------------------------------------

fn regular(chunk: &[u64]) -> Value {
    json!({"name": "regular", "configuration": {"chunk_shape": chunk}})
}

fn default_keys() -> Value {
    json!({"name": "default", "configuration": {"separator": "/"}})
}

fn blosc(typesize: usize) -> Value {
    let shuffle = if typesize == 1 {
        "bitshuffle"
    } else {
        "shuffle"
    };
    json!({"name": "blosc", "configuration": {
        "typesize": typesize, "cname": "zstd", "clevel": 3, "shuffle": shuffle, "blocksize": 0}})
}

fn bytes_codec(typesize: usize) -> Value {
    if typesize == 1 {
        json!({"name": "bytes"})
    } else {
        json!({"name": "bytes", "configuration": {"endian": "little"}})
    }
}

fn array_doc(
    shape: &[u64],
    dtype: &str,
    chunk: &[u64],
    fill: Value,
    codecs: Value,
    attributes: Value,
    dims: &[&str],
) -> Value {
    json!({
        "shape": shape,
        "data_type": dtype,
        "chunk_grid": regular(chunk),
        "chunk_key_encoding": default_keys(),
        "fill_value": fill,
        "codecs": codecs,
        "attributes": attributes,
        "dimension_names": dims,
        "zarr_format": 3,
        "node_type": "array",
        "storage_transformers": []
    })
}

fn sharded(inner: &[u64], typesize: usize) -> Value {
    json!([{"name": "sharding_indexed", "configuration": {
        "chunk_shape": inner,
        "codecs": [bytes_codec(typesize), blosc(typesize)],
        "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
        "index_location": "end"
    }}])
}

fn attrs(chunk_crc: bool) -> Value {
    if chunk_crc {
        json!({ CHUNK_CRC_ATTR: true })
    } else {
        json!({})
    }
}

/// `utmNN/embeddings/zarr.json`: int8 (T, 128, H, W), shards (1, 128, 4096, 4096) of
/// (1, 128, 32, 32) inner chunks, blosc-zstd-3 with bitshuffle, fill 0.
pub fn embeddings_doc(t: u64, h: u64, w: u64, chunk_crc: bool) -> Value {
    let b = BANDS as u64;
    array_doc(
        &[t, b, h, w],
        "int8",
        &[1, b, SHARD as u64, SHARD as u64],
        json!(0),
        sharded(&[1, b, INNER as u64, INNER as u64], 1),
        attrs(chunk_crc),
        &["time", "band", "y", "x"],
    )
}

/// `utmNN/scales/zarr.json`: float32 (T, H, W), shards (1, 4096, 4096) of (1, 32, 32),
/// blosc-zstd-3 with byte shuffle, fill +inf.
pub fn scales_doc(t: u64, h: u64, w: u64, chunk_crc: bool) -> Value {
    array_doc(
        &[t, h, w],
        "float32",
        &[1, SHARD as u64, SHARD as u64],
        json!("Infinity"),
        sharded(&[1, INNER as u64, INNER as u64], 4),
        attrs(chunk_crc),
        &["time", "y", "x"],
    )
}

/// The element type of a 1-D coordinate array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordType {
    /// float64 (x, y).
    F64,
    /// int32 (time, band).
    I32,
}

/// Elements per chunk of the coordinate arrays (1 MiB of float64).
pub const COORD_CHUNK: u64 = 131_072;

/// A plain (unsharded) 1-D coordinate array, blosc-zstd-3, fill 0.
pub fn coord_doc(kind: CoordType, len: u64, dim: &str) -> Value {
    let (dtype, size, fill) = match kind {
        CoordType::F64 => ("float64", 8, json!(0.0)),
        CoordType::I32 => ("int32", 4, json!(0)),
    };
    array_doc(
        &[len],
        dtype,
        &[len.clamp(1, COORD_CHUNK)],
        fill,
        json!([bytes_codec(size), blosc(size)]),
        json!({}),
        &[dim],
    )
}

/// Encodes one chunk of a coordinate array (little-endian values, blosc-zstd-3).
pub fn encode_coord_chunk(values: &[u8], typesize: usize) -> Result<Vec<u8>> {
    compress(values, typesize)
}

/// The pixel grid of one zone group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoneGrid {
    /// UTM zone 1..=60.
    pub zone: u8,
    /// West edge (m, EPSG:326NN).
    pub origin_x: f64,
    /// North edge (m, EPSG:326NN; negative south of the equator).
    pub origin_y: f64,
    /// Rows (a multiple of 4096).
    pub height: u64,
    /// Columns (a multiple of 4096).
    pub width: u64,
}

impl ZoneGrid {
    /// `[10, 0, origin_x, 0, -10, origin_y]` (rasterio order).
    pub fn transform(&self) -> [f64; 6] {
        [10.0, 0.0, self.origin_x, 0.0, -10.0, self.origin_y]
    }

    /// Shard rows and columns.
    pub fn shards(&self) -> (u64, u64) {
        (self.height / SHARD as u64, self.width / SHARD as u64)
    }

    /// The EPSG code (always 326NN).
    pub fn epsg(&self) -> u32 {
        32600 + u32::from(self.zone)
    }

    /// Group name `utmNN`.
    pub fn group(&self) -> String {
        zone_group(self.zone)
    }
}

/// `utmNN`.
pub fn zone_group(zone: u8) -> String {
    format!("utm{zone:02}")
}

/// `utmNN/zarr.json`: the zone group with its `spatial:` and `proj:` attributes, as
/// zarr-cm r3 writes them.
pub fn zone_group_doc(g: &ZoneGrid) -> Value {
    let (x0, y0) = (g.origin_x, g.origin_y);
    let x1 = x0 + g.width as f64 * 10.0;
    let y1 = y0 - g.height as f64 * 10.0;
    json!({
        "attributes": {
            "spatial:dimensions": ["y", "x"],
            "spatial:bbox": [x0, y1, x1, y0],
            "spatial:transform_type": "affine",
            "spatial:transform": g.transform(),
            "spatial:shape": [g.height, g.width],
            "spatial:registration": "pixel",
            "zarr_conventions": [
                {
                    "uuid": SPATIAL_UUID,
                    "schema_url": "https://raw.githubusercontent.com/zarr-conventions/spatial/refs/tags/v0.1/schema.json",
                    "spec_url": "https://github.com/zarr-conventions/spatial/blob/v0.1/README.md",
                    "name": "spatial",
                    "description": "Spatial coordinate information"
                },
                {
                    "uuid": PROJ_UUID,
                    "schema_url": "https://raw.githubusercontent.com/zarr-conventions/proj/refs/tags/v0.1/schema.json",
                    "spec_url": "https://github.com/zarr-conventions/proj/blob/v0.1/README.md",
                    "name": "proj",
                    "description": "Coordinate reference system information for geospatial data"
                }
            ],
            "proj:code": format!("EPSG:{}", g.epsg())
        },
        "zarr_format": 3,
        "node_type": "group"
    })
}

/// The root attributes of a geotessera store.
pub fn root_attributes(model_version: &str, build_version: &str, landmask: bool) -> Value {
    let mut a = json!({
        "zarr_conventions": [geoemb_convention()],
        "geoemb:type": "pixel",
        "geoemb:dimensions": BANDS,
        "geoemb:model": format!("https://geotessera.org/model/{model_version}"),
        "geoemb:source_data": [
            "https://sentinel.esa.int/web/sentinel/missions/sentinel-1",
            "https://sentinel.esa.int/web/sentinel/missions/sentinel-2"
        ],
        "geoemb:data_type": "int8",
        "geoemb:gsd": 10.0,
        "geoemb:spatial_layout": "utm_zones",
        "geoemb:build_version": build_version,
        "geoemb:quantization": {
            "method": "per_pixel_scale",
            "original_dtype": "float32",
            "quantized_dtype": "int8",
            "scale": {"type": "array", "array_name": "scales", "nodata": "+inf"}
        }
    });
    if !landmask {
        a["geoemb:landmask"] = json!(false);
    }
    a
}

/// The root `zarr.json` with zarr-python's inline consolidated metadata: `nodes` are
/// (path, document) pairs of every group and array below the root; groups get their own
/// (empty) consolidated block as zarr-python writes it.
pub fn root_doc(attributes: Value, nodes: &[(String, Value)]) -> Value {
    let mut sorted: Vec<&(String, Value)> = nodes.iter().collect();
    // zarr-python lists groups first (by depth), then the members of each group sorted.
    sorted.sort_by(|a, b| {
        let da = a.0.matches('/').count();
        let db = b.0.matches('/').count();
        da.cmp(&db).then_with(|| a.0.cmp(&b.0))
    });
    let mut meta = serde_json::Map::new();
    for (path, doc) in sorted {
        let mut d = doc.clone();
        if d["node_type"] == "group" {
            d["consolidated_metadata"] =
                json!({"kind": "inline", "must_understand": false, "metadata": {}});
        }
        meta.insert(path.clone(), d);
    }
    json!({
        "attributes": attributes,
        "zarr_format": 3,
        "consolidated_metadata": {"kind": "inline", "must_understand": false, "metadata": meta},
        "node_type": "group"
    })
}

/// Serialises a document the way zarr-python does (two-space indent).
pub fn to_json_bytes(doc: &Value) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(doc).unwrap_or_default();
    v.push(b'\n');
    v
}

// ---------------------------------------------------------------------------------------
// Codecs
// ---------------------------------------------------------------------------------------

fn compress(data: &[u8], typesize: usize) -> Result<Vec<u8>> {
    let shuffle = if typesize == 1 {
        BloscShuffleMode::BitShuffle
    } else {
        BloscShuffleMode::Shuffle
    };
    let level = BloscCompressionLevel::try_from(3u8).map_err(|e| ZarrError::Corrupt {
        what: "blosc".into(),
        message: format!("{e:?}"),
    })?;
    blosc_compress_bytes(data, level, shuffle, typesize, BloscCompressor::Zstd, 0, 1).map_err(|e| {
        ZarrError::Corrupt {
            what: "blosc compression".into(),
            message: e.to_string(),
        }
    })
}

/// Encodes an int8 inner chunk (raw bytes in C order) with the published chain.
pub fn encode_i8_chunk(data: &[i8]) -> Result<Vec<u8>> {
    compress(bytemuck::cast_slice(data), 1)
}

/// Encodes a float32 inner chunk with the published chain (little-endian, byte shuffle).
pub fn encode_f32_chunk(data: &[f32]) -> Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(data.len() * 4);
    for v in data {
        raw.extend_from_slice(&v.to_le_bytes());
    }
    compress(&raw, 4)
}

/// A bytes-to-bytes codec of an inner chain.
#[derive(Debug, Clone, PartialEq)]
pub enum Codec {
    /// blosc (self-describing frames).
    Blosc,
    /// zstd.
    Zstd,
    /// gzip.
    Gzip,
    /// crc32c (4-byte checksum appended).
    Crc32c,
}

/// Element types we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZType {
    /// int8.
    I8,
    /// uint8.
    U8,
    /// int32.
    I32,
    /// int64.
    I64,
    /// float32.
    F32,
    /// float64.
    F64,
}

impl ZType {
    fn parse(s: &str) -> Option<ZType> {
        Some(match s {
            "int8" => ZType::I8,
            "uint8" => ZType::U8,
            "int32" => ZType::I32,
            "int64" => ZType::I64,
            "float32" => ZType::F32,
            "float64" => ZType::F64,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(&self) -> usize {
        match self {
            ZType::I8 | ZType::U8 => 1,
            ZType::I32 | ZType::F32 => 4,
            ZType::I64 | ZType::F64 => 8,
        }
    }
}

/// The inner codec chain of an array or of its shards' inner chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// Element bytes are big-endian.
    pub big_endian: bool,
    /// Bytes-to-bytes codecs in encoding order.
    pub codecs: Vec<Codec>,
}

impl Chain {
    fn parse(v: &Value, path: &str) -> Result<Chain> {
        let bad = |m: String| ZarrError::Metadata {
            path: path.to_string(),
            message: m,
        };
        let list = v
            .as_array()
            .ok_or_else(|| bad("codecs is not a list".into()))?;
        let mut big_endian = false;
        let mut codecs = Vec::new();
        let mut seen_bytes = false;
        for c in list {
            let name = c["name"].as_str().unwrap_or("");
            match name {
                "bytes" => {
                    seen_bytes = true;
                    big_endian = c["configuration"]["endian"].as_str() == Some("big");
                }
                "blosc" => codecs.push(Codec::Blosc),
                "zstd" => codecs.push(Codec::Zstd),
                "gzip" => codecs.push(Codec::Gzip),
                "crc32c" => codecs.push(Codec::Crc32c),
                "sharding_indexed" => {
                    return Err(bad("nested sharding is not supported".into()));
                }
                other => {
                    return Err(bad(format!(
                        "codec '{other}' is not supported (supported: bytes, blosc, zstd, gzip, crc32c)"
                    )));
                }
            }
        }
        if !seen_bytes {
            return Err(bad("no 'bytes' codec in the chain".into()));
        }
        Ok(Chain { big_endian, codecs })
    }

    /// Decodes one encoded chunk into its raw little-endian element bytes, which must be
    /// exactly `expect` bytes long.
    pub fn decode(&self, data: &[u8], expect: usize, elem: usize, what: &str) -> Result<Vec<u8>> {
        let bad = |m: String| ZarrError::Corrupt {
            what: what.to_string(),
            message: m,
        };
        // The encoded bytes are borrowed until a codec writes new ones.
        let mut buf: std::borrow::Cow<'_, [u8]> = std::borrow::Cow::Borrowed(data);
        for c in self.codecs.iter().rev() {
            buf = std::borrow::Cow::Owned(match c {
                Codec::Blosc if let Some(r) = blosc1::decode(&buf, expect.max(1) * 2 + 64) => {
                    r.map_err(|m| bad(format!("blosc: {m}")))?
                }
                Codec::Blosc => {
                    let n = blosc_validate(&buf)
                        .ok_or_else(|| bad("not a valid blosc frame".into()))?;
                    if blosc_nbytes(&buf) != Some(n) || n > expect.max(1) * 2 + 64 {
                        return Err(bad(format!("blosc frame of {n} bytes, expected {expect}")));
                    }
                    blosc_decompress_bytes(&buf, n, 1).map_err(|e| bad(format!("blosc: {e}")))?
                }
                Codec::Zstd => zstd::bulk::decompress(&buf, expect.max(1))
                    .map_err(|e| bad(format!("zstd: {e}")))?,
                Codec::Gzip => {
                    use std::io::Read;
                    let mut out = Vec::with_capacity(expect);
                    flate2::read::GzDecoder::new(&buf[..])
                        .take(expect as u64 + 1)
                        .read_to_end(&mut out)
                        .map_err(|e| bad(format!("gzip: {e}")))?;
                    out
                }
                Codec::Crc32c => {
                    if buf.len() < 4 {
                        return Err(bad("shorter than its checksum".into()));
                    }
                    let (body, sum) = buf.split_at(buf.len() - 4);
                    let want = u32::from_le_bytes(sum.try_into().expect("4 bytes"));
                    if crc32c::crc32c(body) != want {
                        return Err(bad("crc32c mismatch".into()));
                    }
                    body.to_vec()
                }
            });
        }
        let mut buf = buf.into_owned();
        if buf.len() != expect {
            return Err(bad(format!(
                "decoded {} bytes, expected {expect}",
                buf.len()
            )));
        }
        if self.big_endian && elem > 1 {
            for e in buf.chunks_exact_mut(elem) {
                e.reverse();
            }
        }
        Ok(buf)
    }
}

/// The sharding configuration of an array.
#[derive(Debug, Clone, PartialEq)]
pub struct Sharding {
    /// Inner-chunk shape.
    pub inner: Vec<u64>,
    /// Inner-chunk codec chain.
    pub chain: Chain,
    /// The index carries a crc32c.
    pub index_crc: bool,
    /// The index is at the end of the shard (else at the start).
    pub index_at_end: bool,
}

impl Sharding {
    /// Inner chunks per shard along each axis.
    pub fn grid(&self, shard: &[u64]) -> Vec<u64> {
        shard.iter().zip(&self.inner).map(|(s, i)| s / i).collect()
    }
}

/// Most dimensions an array may have (the embeddings have 4).
pub const MAX_RANK: usize = 8;
/// Largest array dimension accepted (a UTM zone is under 10^6 pixels on a side).
pub const MAX_DIM: u64 = 1 << 32;
/// Most elements in one chunk or shard (a published shard has 2^31).
pub const MAX_SHARD_ELEMS: u64 = 1 << 36;
/// Largest decoded inner (or unsharded) chunk, in bytes: what one chunk may cost in memory.
pub const MAX_CHUNK_BYTES: u64 = 64 << 20;
/// Most inner chunks per shard (so a shard index is at most 16 MiB).
pub const MAX_INNER_PER_SHARD: u64 = 1 << 20;
/// Largest encoded inner chunk accepted from a shard index, in bytes.
pub const MAX_ENCODED_CHUNK_BYTES: u64 = 2 * MAX_CHUNK_BYTES + (1 << 16);

fn checked_product(v: &[u64]) -> Option<u64> {
    v.iter().try_fold(1u64, |a, &b| a.checked_mul(b))
}

/// One array's metadata, as far as reading needs it.
#[derive(Debug, Clone)]
pub struct ArrayMeta {
    /// Path of the document (for messages).
    pub path: String,
    /// Shape.
    pub shape: Vec<u64>,
    /// Element type.
    pub dtype: ZType,
    /// Chunk (shard) shape.
    pub chunk: Vec<u64>,
    /// Fill value as f64 (NaN/±inf allowed).
    pub fill: f64,
    /// Sharding, when the array is sharded.
    pub sharding: Option<Sharding>,
    /// The chain of unsharded chunks.
    pub chain: Option<Chain>,
    /// Separator of the chunk keys.
    pub separator: String,
    /// Dimension names.
    pub dims: Vec<String>,
    /// Inner chunks carry a CRC32C trailer (see [`CHUNK_CRC_ATTR`]).
    pub chunk_crc: bool,
}

fn fill_value(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            _ => None,
        },
        _ => None,
    }
}

impl ArrayMeta {
    /// Parses an array document.
    pub fn parse(doc: &Value, path: &str) -> Result<ArrayMeta> {
        let bad = |m: String| ZarrError::Metadata {
            path: path.to_string(),
            message: m,
        };
        if doc["zarr_format"].as_u64() != Some(3) {
            return Err(bad("not a Zarr v3 document (zarr_format != 3)".into()));
        }
        if doc["node_type"].as_str() != Some("array") {
            return Err(bad("not an array".into()));
        }
        let dims_u64 = |v: &Value, what: &str| -> Result<Vec<u64>> {
            v.as_array()
                .ok_or_else(|| bad(format!("{what} is not a list")))?
                .iter()
                .map(|x| {
                    x.as_u64()
                        .ok_or_else(|| bad(format!("{what} has a non-integer")))
                })
                .collect()
        };
        let shape = dims_u64(&doc["shape"], "shape")?;
        let dtype_s = doc["data_type"].as_str().unwrap_or("?");
        let dtype = ZType::parse(dtype_s)
            .ok_or_else(|| bad(format!("data type '{dtype_s}' is not supported")))?;
        if doc["chunk_grid"]["name"].as_str() != Some("regular") {
            return Err(bad("only regular chunk grids are supported".into()));
        }
        let chunk = dims_u64(
            &doc["chunk_grid"]["configuration"]["chunk_shape"],
            "chunk_shape",
        )?;
        if chunk.len() != shape.len() || chunk.contains(&0) {
            return Err(bad("chunk shape does not match the array's rank".into()));
        }
        if shape.is_empty() || shape.len() > MAX_RANK {
            return Err(bad(format!(
                "rank {} is not supported (1 to {MAX_RANK})",
                shape.len()
            )));
        }
        if let Some(d) = shape.iter().find(|&&d| d > MAX_DIM) {
            return Err(bad(format!(
                "a dimension of {d} is larger than any TESSERA store has (at most {MAX_DIM})"
            )));
        }
        let separator = match doc["chunk_key_encoding"]["name"].as_str() {
            Some("default") => {
                let sep = &doc["chunk_key_encoding"]["configuration"]["separator"];
                match sep.as_str() {
                    None if sep.is_null() => "/".to_string(),
                    Some(s @ ("/" | ".")) => s.to_string(),
                    _ => {
                        return Err(bad(format!(
                            "chunk key separator {sep} is not allowed (the Zarr v3 spec allows only \"/\" and \".\")"
                        )));
                    }
                }
            }
            other => {
                return Err(bad(format!(
                    "chunk key encoding {other:?} is not supported (expected 'default')"
                )));
            }
        };
        let fill = fill_value(&doc["fill_value"]).ok_or_else(|| bad("bad fill_value".into()))?;
        if doc["storage_transformers"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            return Err(bad("storage transformers are not supported".into()));
        }
        let codecs = doc["codecs"]
            .as_array()
            .ok_or_else(|| bad("no codecs".into()))?;
        let (sharding, chain) = if codecs.len() == 1 && codecs[0]["name"] == "sharding_indexed" {
            let c = &codecs[0]["configuration"];
            let inner = dims_u64(&c["chunk_shape"], "sharding chunk_shape")?;
            if inner.len() != shape.len()
                || inner.contains(&0)
                || chunk.iter().zip(&inner).any(|(s, i)| s % i != 0)
            {
                return Err(bad("inner chunks do not divide the shard".into()));
            }
            let chain = Chain::parse(&c["codecs"], path)?;
            let idx = c["index_codecs"].as_array().cloned().unwrap_or_default();
            let names: Vec<&str> = idx.iter().filter_map(|v| v["name"].as_str()).collect();
            let index_crc = match names.as_slice() {
                ["bytes"] => false,
                ["bytes", "crc32c"] => true,
                _ => {
                    return Err(bad(format!(
                        "shard index codecs {names:?} are not supported (expected bytes + crc32c)"
                    )));
                }
            };
            if idx[0]["configuration"]["endian"].as_str() == Some("big") {
                return Err(bad("big-endian shard indexes are not supported".into()));
            }
            let index_at_end = c["index_location"].as_str().unwrap_or("end") != "start";
            (
                Some(Sharding {
                    inner,
                    chain,
                    index_crc,
                    index_at_end,
                }),
                None,
            )
        } else {
            (None, Some(Chain::parse(&doc["codecs"], path)?))
        };
        // Bounds that keep every later size computation in range: chunks decode into
        // memory, shard indexes are read whole, and the shard grid is walked.
        let chunk_elems = checked_product(&chunk).filter(|&n| n <= MAX_SHARD_ELEMS);
        let Some(_) = chunk_elems else {
            return Err(bad(format!(
                "chunk shape {chunk:?} has more than {MAX_SHARD_ELEMS} elements"
            )));
        };
        let inner_shape = sharding.as_ref().map_or(&chunk, |s| &s.inner);
        let inner_bytes = checked_product(inner_shape)
            .and_then(|n| n.checked_mul(dtype.size() as u64))
            .filter(|&n| n <= MAX_CHUNK_BYTES);
        if inner_bytes.is_none() {
            return Err(bad(format!(
                "chunks of {inner_shape:?} {dtype_s} are larger than {MAX_CHUNK_BYTES} bytes"
            )));
        }
        if let Some(sh) = &sharding
            && checked_product(&sh.grid(&chunk)).is_none_or(|n| n > MAX_INNER_PER_SHARD)
        {
            return Err(bad(format!(
                "more than {MAX_INNER_PER_SHARD} inner chunks per shard"
            )));
        }
        let dims = doc["dimension_names"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|d| d.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        Ok(ArrayMeta {
            path: path.to_string(),
            shape,
            dtype,
            chunk,
            fill,
            sharding,
            chain,
            separator,
            dims,
            chunk_crc: doc["attributes"][CHUNK_CRC_ATTR].as_bool() == Some(true),
        })
    }

    /// The key of chunk (shard) `coords` relative to the array: `c/0/1/2`.
    pub fn chunk_key(&self, coords: &[u64]) -> String {
        let mut k = String::from("c");
        for c in coords {
            k.push_str(&self.separator);
            k.push_str(&c.to_string());
        }
        k
    }

    /// Inner chunks per shard.
    pub fn inner_count(&self) -> usize {
        match &self.sharding {
            Some(s) => s.grid(&self.chunk).iter().product::<u64>() as usize,
            None => 1,
        }
    }

    /// Raw bytes of one inner (or unsharded) chunk.
    pub fn inner_bytes(&self) -> usize {
        let shape = match &self.sharding {
            Some(s) => &s.inner,
            None => &self.chunk,
        };
        shape.iter().product::<u64>() as usize * self.dtype.size()
    }

    /// Length of the shard index.
    pub fn index_len(&self) -> u64 {
        let crc = self.sharding.as_ref().is_some_and(|s| s.index_crc);
        index_len(self.inner_count(), crc)
    }
}

// ---------------------------------------------------------------------------------------
// Shard index
// ---------------------------------------------------------------------------------------

/// Bytes of a shard index of `n` entries.
pub fn index_len(n: usize, crc: bool) -> u64 {
    16 * n as u64 + if crc { 4 } else { 0 }
}

/// A decoded shard index: (offset, length) per inner chunk in C order; `None` = absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIndex {
    entries: Vec<(u64, u64)>,
}

impl ShardIndex {
    /// Parses and checks an index (CRC, and every range inside `shard_len` when known).
    pub fn parse(
        bytes: &[u8],
        n: usize,
        crc: bool,
        shard_len: Option<u64>,
        what: &str,
    ) -> Result<ShardIndex> {
        let bad = |m: String| ZarrError::Corrupt {
            what: what.to_string(),
            message: m,
        };
        let len = index_len(n, crc) as usize;
        if bytes.len() != len {
            return Err(bad(format!(
                "shard index of {} bytes, expected {len}",
                bytes.len()
            )));
        }
        if crc {
            let (body, sum) = bytes.split_at(16 * n);
            let want = u32::from_le_bytes(sum.try_into().expect("4 bytes"));
            if crc32c::crc32c(body) != want {
                return Err(bad("shard index crc32c mismatch".into()));
            }
        }
        let mut entries = Vec::with_capacity(n);
        for e in bytes[..16 * n].chunks_exact(16) {
            let off = u64::from_le_bytes(e[..8].try_into().expect("8"));
            let nb = u64::from_le_bytes(e[8..].try_into().expect("8"));
            if off == EMPTY && nb == EMPTY {
                entries.push((EMPTY, EMPTY));
                continue;
            }
            if nb > MAX_ENCODED_CHUNK_BYTES || off.checked_add(nb + 8).is_none() {
                return Err(bad(format!(
                    "chunk range {off}+{nb} is not a plausible chunk (at most {MAX_ENCODED_CHUNK_BYTES} bytes)"
                )));
            }
            if let Some(total) = shard_len
                && off.checked_add(nb).is_none_or(|end| end > total)
            {
                return Err(bad(format!(
                    "chunk range {off}+{nb} outside the shard of {total} bytes"
                )));
            }
            entries.push((off, nb));
        }
        Ok(ShardIndex { entries })
    }

    /// An index with every chunk absent.
    pub fn empty(n: usize) -> ShardIndex {
        ShardIndex {
            entries: vec![(EMPTY, EMPTY); n],
        }
    }

    /// The byte range of chunk `i`, or `None` when absent.
    pub fn get(&self, i: usize) -> Option<(u64, u64)> {
        self.entries
            .get(i)
            .copied()
            .filter(|&(o, n)| !(o == EMPTY && n == EMPTY))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Chunks present.
    pub fn present(&self) -> usize {
        (0..self.entries.len())
            .filter(|&i| self.get(i).is_some())
            .count()
    }

    /// Encodes the index (with its crc32c).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * 16 + 4);
        for (o, n) in &self.entries {
            out.extend_from_slice(&o.to_le_bytes());
            out.extend_from_slice(&n.to_le_bytes());
        }
        let c = crc32c::crc32c(&out);
        out.extend_from_slice(&c.to_le_bytes());
        out
    }

    /// The raw entries.
    pub fn entries(&self) -> &[(u64, u64)] {
        &self.entries
    }
}

/// Writes a shard: chunks in any order (each optionally followed by its CRC32C trailer),
/// then the index with crc32c at the end.
pub struct ShardWriter<W: std::io::Write> {
    out: W,
    pos: u64,
    index: Vec<(u64, u64)>,
    trailer: bool,
}

impl<W: std::io::Write> ShardWriter<W> {
    /// A writer for `n` inner chunks.
    pub fn new(out: W, n: usize, trailer: bool) -> ShardWriter<W> {
        ShardWriter {
            out,
            pos: 0,
            index: vec![(EMPTY, EMPTY); n],
            trailer,
        }
    }

    /// Appends encoded chunk `i`.
    pub fn add(&mut self, i: usize, encoded: &[u8]) -> std::io::Result<()> {
        self.out.write_all(encoded)?;
        self.index[i] = (self.pos, encoded.len() as u64);
        self.pos += encoded.len() as u64;
        if self.trailer {
            self.out.write_all(&crc32c::crc32c(encoded).to_le_bytes())?;
            self.pos += 4;
        }
        Ok(())
    }

    /// Chunks written so far.
    pub fn written(&self) -> usize {
        self.index.iter().filter(|e| e.0 != EMPTY).count()
    }

    /// Writes the index; returns the writer and the shard length.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        let idx = ShardIndex {
            entries: std::mem::take(&mut self.index),
        }
        .encode();
        self.out.write_all(&idx)?;
        Ok((self.out, self.pos + idx.len() as u64))
    }
}

/// Index of inner chunk (row, col) of a 2-D shard grid (C order).
pub fn inner_index(row: usize, col: usize) -> usize {
    row * CHUNKS_PER_SIDE + col
}

/// True when a scale denotes data: finite, positive and below [`MAX_VALID_SCALE`].
pub fn valid_scale(s: f32) -> bool {
    s.is_finite() && s > 0.0 && s < MAX_VALID_SCALE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_round_trip() {
        let data: Vec<i8> = (0..BANDS * INNER * INNER)
            .map(|i| (i % 251) as i8)
            .collect();
        let enc = encode_i8_chunk(&data).unwrap();
        let doc = embeddings_doc(1, 4096, 4096, false);
        let m = ArrayMeta::parse(&doc, "e").unwrap();
        let s = m.sharding.as_ref().unwrap();
        let dec = s.chain.decode(&enc, m.inner_bytes(), 1, "c").unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&dec), &data[..]);
        // a wrong expected length is refused
        assert!(s.chain.decode(&enc, 100, 1, "c").is_err());
        // garbage is refused
        assert!(
            s.chain
                .decode(&[1, 2, 3, 4, 5], m.inner_bytes(), 1, "c")
                .is_err()
        );

        let f: Vec<f32> = (0..INNER * INNER).map(|i| i as f32 * 0.5).collect();
        let enc = encode_f32_chunk(&f).unwrap();
        let m = ArrayMeta::parse(&scales_doc(2, 8192, 4096, true), "s").unwrap();
        assert!(m.chunk_crc);
        assert!(m.fill.is_infinite());
        assert_eq!(m.inner_count(), CHUNKS_PER_SHARD);
        assert_eq!(m.index_len(), 262_148);
        assert_eq!(m.chunk_key(&[1, 0, 1]), "c/1/0/1");
        let dec = m
            .sharding
            .unwrap()
            .chain
            .decode(&enc, 4096, 4, "c")
            .unwrap();
        let back: Vec<f32> = dec
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(back, f);
    }

    #[test]
    fn shard_index_round_trip() {
        let mut w = ShardWriter::new(Vec::new(), 4, true);
        w.add(2, b"hello").unwrap();
        w.add(0, b"ab").unwrap();
        let (buf, len) = w.finish().unwrap();
        assert_eq!(buf.len() as u64, len);
        let idx_bytes = &buf[buf.len() - index_len(4, true) as usize..];
        let idx = ShardIndex::parse(idx_bytes, 4, true, Some(len), "s").unwrap();
        assert_eq!(idx.get(2), Some((0, 5)));
        assert_eq!(idx.get(0), Some((9, 2)));
        assert_eq!(idx.get(1), None);
        assert_eq!(idx.present(), 2);
        assert_eq!(&buf[5..9], &crc32c::crc32c(b"hello").to_le_bytes());
        // a flipped bit is caught by the index CRC
        let mut bad = idx_bytes.to_vec();
        bad[3] ^= 1;
        assert!(ShardIndex::parse(&bad, 4, true, Some(len), "s").is_err());
        // ranges past the end of the shard are refused
        assert!(ShardIndex::parse(idx_bytes, 4, true, Some(10), "s").is_err());
    }

    #[test]
    fn metadata_documents() {
        let g = ZoneGrid {
            zone: 31,
            origin_x: 694330.0,
            origin_y: 5709700.0,
            height: 4096,
            width: 4096,
        };
        let z = zone_group_doc(&g);
        assert_eq!(z["attributes"]["proj:code"], "EPSG:32631");
        assert_eq!(
            z["attributes"]["spatial:bbox"],
            json!([694330.0, 5668740.0, 735290.0, 5709700.0])
        );
        let e = embeddings_doc(2, 4096, 4096, false);
        let expected = r#"{"shape":[2,128,4096,4096],"data_type":"int8","chunk_grid":{"name":"regular","configuration":{"chunk_shape":[1,128,4096,4096]}},"chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},"fill_value":0,"codecs":[{"name":"sharding_indexed","configuration":{"chunk_shape":[1,128,32,32],"codecs":[{"name":"bytes"},{"name":"blosc","configuration":{"typesize":1,"cname":"zstd","clevel":3,"shuffle":"bitshuffle","blocksize":0}}],"index_codecs":[{"name":"bytes","configuration":{"endian":"little"}},{"name":"crc32c"}],"index_location":"end"}}],"attributes":{},"dimension_names":["time","band","y","x"],"zarr_format":3,"node_type":"array","storage_transformers":[]}"#;
        assert_eq!(serde_json::to_string(&e).unwrap(), expected);
        let c = coord_doc(CoordType::F64, 4096, "x");
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"shape":[4096],"data_type":"float64","chunk_grid":{"name":"regular","configuration":{"chunk_shape":[4096]}},"chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},"fill_value":0.0,"codecs":[{"name":"bytes","configuration":{"endian":"little"}},{"name":"blosc","configuration":{"typesize":8,"cname":"zstd","clevel":3,"shuffle":"shuffle","blocksize":0}}],"attributes":{},"dimension_names":["x"],"zarr_format":3,"node_type":"array","storage_transformers":[]}"#
        );
        let root = root_doc(
            root_attributes("1.1", "x", true),
            &[("utm31/x".into(), c), ("utm31".into(), z)],
        );
        let keys: Vec<&String> = root["consolidated_metadata"]["metadata"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys, ["utm31", "utm31/x"]);
        assert!(root["attributes"].get("geoemb:landmask").is_none());
        assert_eq!(root_attributes("1.1", "x", false)["geoemb:landmask"], false);
    }
}
