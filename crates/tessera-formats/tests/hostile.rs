//! Malformed and hostile input gives a typed error: never a panic, never an allocation of
//! absurd size. Every parser is fed truncations and byte corruptions of valid files, and
//! hand-made files with absurd shapes, sizes and offsets.

use std::io::Cursor;
use std::path::Path;

use bytes::Bytes;
use tessera_core::{Affine, Crs, TileId};
use tessera_formats::DType;
use tessera_formats::geotiff::{Compression, GeoTiffFile, GeoTiffReader, GeoTiffSpec, Predictor};
use tessera_formats::manifest::{
    ManifestQuery, ManifestRecord, read_manifest_bytes, write_manifest,
};
use tessera_formats::npy::{self, NpyFile, parse_header, write_npy_file};
use tessera_testkit::scratch;

/// A tiny deterministic generator (xorshift) for corruption positions.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn mutations(valid: &[u8], seed: u64, n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    // Every truncation of the first 600 bytes, then some further ones.
    for len in (0..valid.len().min(600)).chain((600..valid.len()).step_by(997)) {
        out.push(valid[..len].to_vec());
    }
    for _ in 0..n {
        let mut v = valid.to_vec();
        let flips = 1 + rng.next() % 4;
        for _ in 0..flips {
            // Bias towards headers and directories at both ends of the file.
            let r = rng.next() as usize;
            let pos = match r % 3 {
                0 => r % valid.len().min(512),
                1 => valid.len() - 1 - (r % valid.len().min(2048)),
                _ => r % valid.len(),
            };
            v[pos] = match rng.next() % 4 {
                0 => 0xff,
                1 => 0,
                _ => rng.next() as u8,
            };
        }
        out.push(v);
    }
    out
}

#[test]
fn npy_corruptions_are_errors() {
    let dir = scratch("hostile-npy");
    let good = dir.join("good.npy");
    write_npy_file(
        &good,
        &[7, 5, 4],
        &(0..140).map(|i| i as f32).collect::<Vec<_>>(),
    )
    .unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let bad = dir.join("bad.npy");
    for (i, m) in mutations(&bytes, 7, 3000).into_iter().enumerate() {
        std::fs::write(&bad, &m).unwrap();
        // Either a typed error or a readable array whose data lies within the file.
        if let Ok(f) = NpyFile::open(&bad) {
            let len = f.header().file_len().unwrap();
            assert!(
                len <= m.len() as u64,
                "mutation {i}: header claims {len} bytes, file has {}",
                m.len()
            );
            let _ = f.to_vec::<f32>();
        }
        let _ = parse_header(&m, Path::new("m"));
        let _ = npy::read_header(&mut m.as_slice(), Path::new("m"));
    }
    // Absurd shapes: refused before any allocation.
    for shape in [
        "(4294967295, 4294967295, 4294967295)",
        "(99999999999999999999,)",
        "(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33)",
    ] {
        let text = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        let mut b = npy::MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(text.len() as u16).to_le_bytes());
        b.extend_from_slice(text.as_bytes());
        std::fs::write(&bad, &b).unwrap();
        assert!(NpyFile::open(&bad).is_err(), "{shape}");
    }
    // A huge but representable shape on a short file: truncated, not allocated.
    let text = "{'descr': '|i1', 'fortran_order': False, 'shape': (1000000, 1000000, 128), }";
    let mut b = npy::MAGIC.to_vec();
    b.extend_from_slice(&[1, 0]);
    b.extend_from_slice(&(text.len() as u16).to_le_bytes());
    b.extend_from_slice(text.as_bytes());
    std::fs::write(&bad, &b).unwrap();
    assert!(matches!(
        NpyFile::open(&bad),
        Err(npy::NpyError::Truncated { .. })
    ));
}

fn small_tiff(dir: &Path, compression: Compression, tiled: bool) -> Vec<u8> {
    let path = dir.join("good.tif");
    let mut spec = GeoTiffSpec::new(70, 50, 3, DType::F32);
    spec.compression = compression;
    spec.predictor = if compression == Compression::None {
        Predictor::None
    } else {
        Predictor::FloatingPoint
    };
    spec.layout = if tiled {
        tessera_formats::geotiff::Layout::Tiled(32)
    } else {
        tessera_formats::geotiff::Layout::Striped(9)
    };
    spec.georef = Some((
        Crs::from_epsg(32631).unwrap(),
        Affine::north_up(1.0, 2.0, 10.0),
    ));
    spec.nodata = Some(f64::NAN);
    spec.metadata.set("A", "b");
    spec.metadata.set_band_description(0, "x");
    let mut f = GeoTiffFile::create(&path, spec).unwrap();
    f.writer()
        .write_rows(&(0..70 * 50 * 3).map(|i| i as f32).collect::<Vec<_>>())
        .unwrap();
    f.finish().unwrap();
    std::fs::read(&path).unwrap()
}

#[test]
fn tiff_corruptions_are_errors() {
    let dir = scratch("hostile-tiff");
    for (seed, (comp, tiled)) in [
        (Compression::Lzw, true),
        (Compression::Deflate(6), false),
        (Compression::Zstd(3), true),
        (Compression::None, false),
    ]
    .into_iter()
    .enumerate()
    {
        let good = small_tiff(&dir, comp, tiled);
        for m in mutations(&good, 11 + seed as u64, 1500) {
            let result = std::panic::catch_unwind(|| {
                if let Ok(mut r) = GeoTiffReader::from_reader(Cursor::new(&m), Path::new("m.tif")) {
                    let _ = r.read_all::<f32>();
                    let _ = r.read_rows::<f32>(10, 5);
                }
            });
            assert!(result.is_ok(), "reader panicked on a corrupt {comp:?} file");
        }
    }
}

/// Hand-made TIFF with a directory claiming `w × h` pixels and chunk offsets beyond EOF.
fn crafted_tiff(w: u32, h: u32, spp: u16, offset: u32, count: u32) -> Vec<u8> {
    let mut entries: Vec<(u16, u16, u32, u32)> = vec![
        (256, 4, 1, w),
        (257, 4, 1, h),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, offset),
        (277, 3, 1, u32::from(spp)),
        (278, 4, 1, h),
        (279, 4, 1, count),
    ];
    entries.sort_by_key(|e| e.0);
    let mut b = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    b.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, typ, n, v) in entries {
        b.extend_from_slice(&tag.to_le_bytes());
        b.extend_from_slice(&typ.to_le_bytes());
        b.extend_from_slice(&n.to_le_bytes());
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&0u32.to_le_bytes());
    b
}

#[test]
fn absurd_tiffs_are_refused_without_allocating() {
    for (w, h, spp, off, count) in [
        (u32::MAX, u32::MAX, 1, 200, 1000),
        (100_000, 100_000, 1, 200, u32::MAX),
        (10, 10, 1, u32::MAX - 10, 100),
        (10, 10, 0, 200, 100),
        (0, 10, 1, 200, 100),
    ] {
        let b = crafted_tiff(w, h, spp, off, count);
        if let Ok(mut r) = GeoTiffReader::from_reader(Cursor::new(&b), Path::new("c.tif")) {
            assert!(
                r.read_rows::<u8>(0, 1).is_err(),
                "{w}x{h} spp {spp} offset {off} count {count}"
            );
            assert!(r.read_all::<u8>().is_err());
        }
    }
}

#[test]
fn parquet_corruptions_are_errors() {
    let dir = scratch("hostile-parquet");
    let path = dir.join("m.parquet");
    let rows: Vec<ManifestRecord> = (0..200)
        .map(|i| {
            let tile = TileId::from_keys(-995 + 10 * (i % 50), 5005 + 10 * (i / 50)).unwrap();
            ManifestRecord {
                version: "1.0".into(),
                variant: "vultr".into(),
                year: 2024,
                tile,
                directory: "d".into(),
                grid_path: "g".into(),
                scales_path: "s".into(),
                grid_mtime_ns: 0,
                scales_mtime_ns: 0,
                grid_size: 1,
                scales_size: 2,
            }
        })
        .collect();
    write_manifest(&path, &rows).unwrap();
    let good = std::fs::read(&path).unwrap();
    let q = ManifestQuery::default();
    assert_eq!(
        read_manifest_bytes(Bytes::from(good.clone()), "m", &q)
            .unwrap()
            .entries
            .len(),
        200
    );
    for m in mutations(&good, 5, 1500) {
        let result = std::panic::catch_unwind(|| {
            let _ = read_manifest_bytes(Bytes::from(m.clone()), "m", &q);
        });
        assert!(result.is_ok(), "manifest reader panicked");
    }
    // A footer claiming a metadata block far larger than the file.
    let mut b = good.clone();
    let n = b.len();
    b[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(read_manifest_bytes(Bytes::from(b), "m", &q).is_err());
    assert!(read_manifest_bytes(Bytes::from_static(b"PAR1garbagePAR1"), "m", &q).is_err());
    assert!(read_manifest_bytes(Bytes::new(), "m", &q).is_err());
}
