//! The entry points of the coverage-guided fuzzer (`fuzz/`, driven by `scripts/fuzz.sh`):
//! one function per parser of untrusted bytes. Each takes arbitrary bytes, calls the
//! library's public parsing API the way a reader of a hostile file or argument would, and
//! checks the round trips that must hold. None may panic, abort on a huge allocation or
//! hang, whatever the input; the fuzzer treats any of those as a crash.
//!
//! The same functions replay the committed corpus and every crash the fuzzer found
//! (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) in this crate's tests, on the
//! stable toolchain, so a fixed crash stays fixed.

#![warn(missing_docs)]

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;
use serde_json::Value;
use tessera_core::{Bbox, BboxSpec, Crs, TileId, parse_bbox};
use tessera_formats::geotiff::codec::{Predictor, decode_chunk, undo_predictor};
use tessera_formats::geotiff::geokeys::{GeoKeys, transform_from_tags};
use tessera_formats::geotiff::metadata::parse_nodata;
use tessera_formats::geotiff::{GdalMetadata, GeoTiffReader};
use tessera_formats::manifest::{
    ManifestQuery, read_landmask_records, read_landmasks, read_manifest_bytes,
    read_manifest_records,
};
use tessera_formats::npy::{self, NpyFile};
use tessera_formats::zarr::{ArrayMeta, Chain, Codec, ShardIndex};
use tessera_formats::{DType, Element};
use tessera_server::faults::{FaultRule, Faults};

/// A fuzz target: a name (its folder under `fuzz/corpus/` and `fuzz/regressions/`) and the
/// function the fuzzer calls with each input.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order `scripts/fuzz.sh` runs them.
pub const TARGETS: &[Target] = &[
    ("npy", npy),
    ("tiff", tiff),
    ("tiff_chunk", tiff_chunk),
    ("geotiff_tags", geotiff_tags),
    ("manifest", manifest),
    ("zarr_metadata", zarr_metadata),
    ("zarr_chunk", zarr_chunk),
    ("shard_index", shard_index),
    ("points_csv", points_csv),
    ("points_geojson", points_geojson),
    ("points_parquet", points_parquet),
    ("bbox", bbox),
    ("fault_rule", fault_rule),
];

/// The largest raster window the `tiff` target asks for: the fuzzer is after the decoder,
/// not after a caller that asks to read gigabytes.
const TIFF_READ_BUDGET: u64 = 16 << 20;

const WHAT: &str = "<fuzz>";

fn fuzz_path() -> &'static Path {
    Path::new(WHAT)
}

/// A scratch file for the parsers that only read paths, one per thread (the replay tests
/// run in parallel), in a directory that lives as long as the process.
fn scratch_file(data: &[u8], ext: &str) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("tessera-fuzz-")
            .tempdir()
            .expect("a scratch directory for the fuzz inputs")
    });
    let thread: String = format!("{:?}", std::thread::current().id())
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let path = dir.path().join(format!("input-{thread}.{ext}"));
    std::fs::write(&path, data).expect("writing the fuzz input to the scratch directory");
    path
}

/// NPY: the header parsers on the bytes, then (for a header that parses) the memory-mapped
/// file reader on the same bytes as a file.
pub fn npy(data: &[u8]) {
    let p = fuzz_path();
    let _ = npy::header_len_from_prefix(data);
    let from_reader = npy::read_header(&mut Cursor::new(data), p);
    let Ok(h) = npy::parse_header(data, p) else {
        return;
    };
    assert_eq!(from_reader.ok().as_ref(), Some(&h), "read_header agrees");
    let _ = (h.element_count(), h.data_len(), h.file_len());
    let _ = (h.inner_len(1), h.inner_len(h.shape.len() + 1));
    let _ = h.offset_of(&vec![1; h.shape.len()]);
    // What we write for this dtype and shape parses back to them.
    let again = npy::header_bytes(h.dtype, &h.shape);
    let back = npy::parse_header(&again, p).expect("our own header parses");
    assert_eq!((back.dtype, &back.shape), (h.dtype, &h.shape));

    let path = scratch_file(data, "npy");
    let Ok(f) = NpyFile::open(&path) else {
        return;
    };
    assert_eq!(f.header(), &h);
    let rank = f.shape().len();
    fn read<T: Element>(f: &NpyFile, rank: usize) {
        let _ = f.expect::<T>(rank, None);
        let _ = f.as_slice::<T>();
        let v = f.to_vec::<T>().expect("dtype matches");
        assert_eq!(
            v.len() as u64 * T::DTYPE.size() as u64,
            f.header().data_len().unwrap()
        );
    }
    match h.dtype {
        DType::I8 => read::<i8>(&f, rank),
        DType::U8 => read::<u8>(&f, rank),
        DType::I16 => read::<i16>(&f, rank),
        DType::U16 => read::<u16>(&f, rank),
        DType::I32 => read::<i32>(&f, rank),
        DType::U32 => read::<u32>(&f, rank),
        DType::I64 => read::<i64>(&f, rank),
        DType::F32 => read::<f32>(&f, rank),
        DType::F64 => read::<f64>(&f, rank),
    }
}

/// TIFF/GeoTIFF: the directory reader, then the first rows of pixels (as many as fit a
/// 16 MiB window), then a read in the wrong type.
pub fn tiff(data: &[u8]) {
    let Ok(mut r) = GeoTiffReader::from_reader(Cursor::new(data), fuzz_path()) else {
        return;
    };
    let info = r.info().clone();
    let row_bytes = u64::from(info.width) * u64::from(info.bands) * info.dtype.size() as u64;
    if row_bytes > 0 && row_bytes <= TIFF_READ_BUDGET {
        let rows = (TIFF_READ_BUDGET / row_bytes).min(u64::from(info.height)) as u32;
        fn read<T: Element>(r: &mut GeoTiffReader<Cursor<&[u8]>>, rows: u32) {
            let _ = r.read_rows::<T>(0, rows);
        }
        match info.dtype {
            DType::I8 => read::<i8>(&mut r, rows),
            DType::U8 => read::<u8>(&mut r, rows),
            DType::I16 => read::<i16>(&mut r, rows),
            DType::U16 => read::<u16>(&mut r, rows),
            DType::I32 => read::<i32>(&mut r, rows),
            DType::U32 => read::<u32>(&mut r, rows),
            DType::I64 => read::<i64>(&mut r, rows),
            DType::F32 => read::<f32>(&mut r, rows),
            DType::F64 => read::<f64>(&mut r, rows),
        }
        let _ = r.read_rows::<u8>(info.height.saturating_sub(1), 1);
    }
    let _ = r.read_rows::<f64>(info.height, 1);
}

/// TIFF chunk decoding on its own (LZW, Deflate, ZSTD, PackBits, none) and the predictors.
/// Layout: compression selector, predictor selector, sample size and stride, expected size
/// (u16 LE), then the stored chunk.
pub fn tiff_chunk(data: &[u8]) {
    let [c, p, shape, e0, e1, raw @ ..] = data else {
        return;
    };
    let code = [1u16, 5, 8, 32946, 50000, 32773, 7][usize::from(*c) % 7];
    let expected = usize::from(u16::from_le_bytes([*e0, *e1]));
    let Ok(mut out) = decode_chunk(code, raw, expected) else {
        return;
    };
    assert_eq!(out.len(), expected);
    let size = [1usize, 2, 4, 8][usize::from(shape & 3)];
    let stride = usize::from(shape >> 2) % 8 + 1;
    let row_samples = (expected / size).clamp(1, 64);
    let predictor = match p % 3 {
        0 => Predictor::None,
        1 => Predictor::Horizontal,
        _ => Predictor::FloatingPoint,
    };
    undo_predictor(predictor, &mut out, row_samples, stride, size);
}

/// The GeoTIFF tag parsers: GDAL metadata XML, the GeoKey directory, the model tags and
/// the nodata text. The first byte picks which.
pub fn geotiff_tags(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            let xml = String::from_utf8_lossy(rest);
            if let Ok(m) = GdalMetadata::from_xml(&xml)
                && let Some(out) = m.to_xml()
            {
                let back = GdalMetadata::from_xml(&out).expect("our own XML parses");
                assert_eq!(back.to_xml(), Some(out), "GDAL metadata round trip");
            }
        }
        1 => {
            let dir: Vec<u16> = rest
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect();
            if let Some(k) = GeoKeys::parse(&dir) {
                let _ = k.epsg().map(Crs::from_epsg);
            }
        }
        2 => {
            let v: Vec<f64> = rest
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect();
            let (a, b) = v.split_at(v.len().min(3));
            let (b, c) = b.split_at(b.len().min(6));
            let _ = transform_from_tags(Some(a), Some(b), None, Some(2));
            let _ = transform_from_tags(None, None, Some(c), Some(1));
        }
        _ => {
            let _ = parse_nodata(&String::from_utf8_lossy(rest));
        }
    }
}

/// Parquet manifests (`manifest.parquet`, `landmasks.parquet`): every reader, with and
/// without filters.
pub fn manifest(data: &[u8]) {
    let b = Bytes::copy_from_slice(data);
    let filtered = ManifestQuery {
        version: Some("v1".into()),
        variant: Some("default".into()),
        year: Some(2024),
        bbox: Bbox::new(-1.0, 50.0, 1.0, 53.0).ok(),
        with_scales_size: true,
        with_paths: true,
    };
    for q in [ManifestQuery::default(), filtered] {
        if let Ok(sel) = read_manifest_bytes(b.clone(), WHAT, &q) {
            let _ = (sel.index(), sel.years());
        }
    }
    let _ = read_manifest_records(b.clone(), WHAT);
    let _ = read_landmask_records(b.clone(), WHAT);
    let _ = read_landmasks(b, WHAT);
}

/// Zarr v3 array metadata (`zarr.json`) and what readers derive from it.
pub fn zarr_metadata(data: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(m) = ArrayMeta::parse(&doc, WHAT) else {
        return;
    };
    let _ = (m.inner_count(), m.inner_bytes(), m.index_len());
    let _ = m.chunk_key(&vec![0; m.shape.len()]);
    if let Some(s) = &m.sharding {
        let _ = s.grid(&m.chunk);
    }
}

/// Zarr inner-chunk decoding (blosc, zstd, gzip, crc32c, byte order). Layout: codec chain
/// selector, element size, expected size (u16 LE), then the encoded chunk.
pub fn zarr_chunk(data: &[u8]) {
    let [chain, elem, e0, e1, raw @ ..] = data else {
        return;
    };
    let all = [Codec::Blosc, Codec::Zstd, Codec::Gzip, Codec::Crc32c];
    let codecs = (0..3)
        .map(|i| (chain >> (2 * i)) & 3)
        .take(usize::from(chain >> 6))
        .map(|k| all[usize::from(k)].clone())
        .collect();
    let c = Chain {
        big_endian: elem & 0x80 != 0,
        codecs,
    };
    let elem = [1usize, 2, 4, 8][usize::from(elem & 3)];
    let expect = usize::from(u16::from_le_bytes([*e0, *e1]));
    if let Ok(out) = c.decode(raw, expect, elem, WHAT) {
        assert_eq!(out.len(), expect);
    }
}

/// The `sharding_indexed` shard index. Layout: entry count (u16 LE), flags (bit 0: crc32c,
/// bit 1: a shard length follows as u64 LE), then the index bytes.
pub fn shard_index(data: &[u8]) {
    let [n0, n1, flags, rest @ ..] = data else {
        return;
    };
    let n = usize::from(u16::from_le_bytes([*n0, *n1]));
    let crc = flags & 1 != 0;
    let (shard_len, bytes) = match rest.split_first_chunk::<8>() {
        Some((len, bytes)) if flags & 2 != 0 => (Some(u64::from_le_bytes(*len)), bytes),
        _ => (None, rest),
    };
    let Ok(idx) = ShardIndex::parse(bytes, n, crc, shard_len, WHAT) else {
        return;
    };
    assert_eq!(idx.len(), n);
    let present = (0..n).filter(|&i| idx.get(i).is_some()).count();
    assert_eq!(present, idx.present());
    assert_eq!(idx.get(n), None);
    // Our encoding (always with its crc32c) parses back to the same entries.
    let again = ShardIndex::parse(&idx.encode(), n, true, shard_len, WHAT)
        .expect("our own shard index parses");
    assert_eq!(again, idx);
}

fn points(data: &[u8], ext: &str) {
    let path = scratch_file(data, ext);
    if let Ok(t) = tessera_client::points::read_points(&path) {
        assert_eq!(t.lon.len(), t.lat.len());
        let _ = (t.len(), t.is_empty());
    }
}

/// Points as CSV (`lon,lat,...` with or without a header).
pub fn points_csv(data: &[u8]) {
    points(data, "csv");
}

/// Points as a GeoJSON FeatureCollection.
pub fn points_geojson(data: &[u8]) {
    points(data, "geojson");
}

/// Points as (Geo)Parquet: WKB geometry or lon/lat columns.
pub fn points_parquet(data: &[u8]) {
    points(data, "parquet");
}

/// Region arguments: `--bbox`, `--point`, tile names, CRS names and dataset versions.
pub fn bbox(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    if let Ok(spec) = parse_bbox(&s) {
        let b = spec.bounds();
        assert!(b.west < b.east && b.south < b.north, "{s:?} gave {b}");
        if let BboxSpec::Box(b) = spec {
            assert_eq!(
                parse_bbox(&b.to_string()).ok(),
                Some(spec),
                "bbox round trip"
            );
        }
    }
    let _ = tessera_core::bbox::parse_point(&s);
    if let Ok(t) = s.parse::<TileId>() {
        assert_eq!(
            t.to_string().parse::<TileId>().ok(),
            Some(t),
            "tile round trip"
        );
    }
    let _ = TileId::parse_prefix(&s);
    let _ = s.parse::<Crs>();
    let _ = tessera_core::dataset::parse_version_checked(&s);
}

/// Fault rules of the mirror server (`--fault`, one rule a line), then the decisions they
/// make for a few keys.
pub fn fault_rule(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let rules: Vec<FaultRule> = text
        .lines()
        .take(8)
        .filter_map(|l| FaultRule::parse(l).ok())
        .collect();
    if rules.is_empty() {
        return;
    }
    let faults = Faults::new(7, rules);
    for key in [
        "v1/global_0.1_degree_representation/2024/grid_0.15_52.25/grid_0.15_52.25.npy",
        "v1/registry/manifest.parquet",
        "",
    ] {
        for len in [0, 1, 1 << 20] {
            let d = faults.decide(key, len);
            for at in [d.truncate_at, d.reset_at, d.flip_at].into_iter().flatten() {
                assert!(at < len.max(1), "fault at {at} of a {len}-byte body");
            }
        }
    }
}
