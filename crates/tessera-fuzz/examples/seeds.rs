//! Writes the seed corpus of the fuzz targets: small valid inputs made with the same
//! writers as the synthetic mirror and the exports, one folder per target.
//!
//! `cargo run -p tessera-fuzz --example seeds -- fuzz/corpus` (then minimise each folder
//! with the target's `-merge=1`, as scripts/fuzz.sh's header says).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{BinaryArray, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use tessera_core::{Affine, Crs, TileId};
use tessera_formats::DType;
use tessera_formats::geotiff::geokeys::{ModelTags, geokeys_for, model_tags};
use tessera_formats::geotiff::{
    Compression, GdalMetadata, GeoTiffSpec, GeoTiffWriter, Interleave, Layout, Predictor,
};
use tessera_formats::manifest::{LandmaskRecord, ManifestRecord, write_landmasks, write_manifest};
use tessera_formats::npy;
use tessera_formats::zarr::{self, CoordType, ShardIndex, ShardWriter};

fn put(root: &Path, target: &str, name: &str, data: &[u8]) {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir).expect("creating a corpus folder");
    std::fs::write(dir.join(name), data).expect("writing a seed");
}

fn npy_seeds(root: &Path) {
    let mut v = Vec::new();
    npy::write_npy(
        &mut v,
        &[2, 3, 4],
        &(0..24).map(|i| i as i8 - 12).collect::<Vec<_>>(),
    )
    .expect("npy");
    put(root, "npy", "embeddings_i8", &v);
    let mut v = Vec::new();
    npy::write_npy(&mut v, &[2, 3], &[0.5f32, 1.0, f32::NAN, 0.0, -1.0, 2.0]).expect("npy");
    put(root, "npy", "scales_f32", &v);
    let mut v = Vec::new();
    npy::write_npy(&mut v, &[], &[7u16]).expect("npy");
    put(root, "npy", "scalar_u16", &v);
    // Version 3 (UTF-8) and a Python 2 era header with long suffixes.
    for (name, version, text) in [
        (
            "v3",
            3u8,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
        ),
        (
            "v1_long",
            1,
            "{\"descr\":\"|u1\",\"fortran_order\":True,\"shape\":(3L,1L)}",
        ),
    ] {
        let mut b = npy::MAGIC.to_vec();
        b.extend_from_slice(&[version, 0]);
        if version == 1 {
            b.extend_from_slice(&(text.len() as u16).to_le_bytes());
        } else {
            b.extend_from_slice(&(text.len() as u32).to_le_bytes());
        }
        b.extend_from_slice(text.as_bytes());
        b.extend_from_slice(&[1u8; 8]);
        put(root, "npy", name, &b);
    }
}

fn tiff_seeds(root: &Path) {
    let utm = Crs::from_epsg(32631).expect("UTM 31N");
    let mut metadata = GdalMetadata::default();
    metadata.set("TESSERA_YEAR", "2024");
    metadata.set_band_description(0, "Tessera_Band_0");
    let cases: Vec<(&str, GeoTiffSpec)> = vec![
        ("strip_u8_none", {
            let mut s = GeoTiffSpec::new(8, 6, 1, DType::U8);
            s.layout = Layout::Striped(4);
            s.georef = Some((Crs::Wgs84, Affine::north_up(0.1, 52.3, 0.001)));
            s
        }),
        ("tile_i8_deflate", {
            let mut s = GeoTiffSpec::new(20, 18, 3, DType::I8);
            s.layout = Layout::Tiled(16);
            s.compression = Compression::Deflate(6);
            s.predictor = Predictor::Horizontal;
            s.georef = Some((utm, Affine::north_up(300000.0, 5800000.0, 10.0)));
            s.nodata = Some(-128.0);
            s.metadata = metadata.clone();
            s
        }),
        ("planar_f32_zstd", {
            let mut s = GeoTiffSpec::new(17, 5, 2, DType::F32);
            s.layout = Layout::Tiled(16);
            s.interleave = Interleave::Band;
            s.compression = Compression::Zstd(3);
            s.predictor = Predictor::FloatingPoint;
            s.nodata = Some(f64::NAN);
            s
        }),
        ("strip_u16_lzw", {
            let mut s = GeoTiffSpec::new(9, 7, 1, DType::U16);
            s.layout = Layout::Striped(3);
            s.compression = Compression::Lzw;
            s.predictor = Predictor::Horizontal;
            s.georef = Some((
                Crs::from_epsg(3857).expect("3857"),
                Affine {
                    b: 0.5,
                    ..Affine::north_up(0.0, 0.0, 30.0)
                },
            ));
            s
        }),
    ];
    for (name, spec) in cases {
        let n = spec.width as usize * spec.height as usize * usize::from(spec.bands);
        let dtype = spec.dtype;
        let mut w = GeoTiffWriter::new(Cursor::new(Vec::new()), spec).expect("tiff spec");
        match dtype {
            DType::U8 => w.write_rows(&(0..n).map(|i| i as u8).collect::<Vec<_>>()),
            DType::I8 => w.write_rows(&(0..n).map(|i| (i % 200) as i8).collect::<Vec<_>>()),
            DType::U16 => w.write_rows(&(0..n).map(|i| (i * 300) as u16).collect::<Vec<_>>()),
            _ => w.write_rows(&(0..n).map(|i| i as f32 * 0.25).collect::<Vec<_>>()),
        }
        .expect("tiff pixels");
        put(root, "tiff", name, &w.finish().expect("tiff").into_inner());
    }
}

fn tiff_chunk_seeds(root: &Path) {
    let data: Vec<u8> = (0..200u32).map(|i| (i % 7 * 3) as u8).collect();
    for (sel, c) in [
        (0u8, Compression::None),
        (1, Compression::Lzw),
        (2, Compression::Deflate(6)),
        (4, Compression::Zstd(3)),
    ] {
        let mut b = vec![sel, 1, 0b0000_0100, 200, 0];
        b.extend_from_slice(&c.encode(&data).expect("encode"));
        put(root, "tiff_chunk", &format!("codec_{}", c.tag_value()), &b);
    }
    put(
        root,
        "tiff_chunk",
        "packbits",
        &[5, 2, 0b0000_0110, 8, 0, 2, 1, 2, 3, 0xfb, 9],
    );
}

fn geotiff_tags_seeds(root: &Path) {
    let mut m = GdalMetadata::default();
    m.set("NOTE", "a < b & \"c\"");
    m.set_band_description(1, "Tessera_Band_1");
    let mut b = vec![0u8];
    b.extend_from_slice(m.to_xml().expect("xml").as_bytes());
    put(root, "geotiff_tags", "gdal_metadata", &b);
    let (dir, _) = geokeys_for(&Crs::from_epsg(32630).expect("UTM"));
    let mut b = vec![1u8];
    b.extend(dir.iter().flat_map(|k| k.to_le_bytes()));
    put(root, "geotiff_tags", "geokeys", &b);
    let ModelTags::ScaleTiepoint(s, t) = model_tags(&Affine::north_up(500000.0, 5e6, 10.0)) else {
        unreachable!("north-up")
    };
    let mut b = vec![2u8];
    b.extend(s.iter().chain(&t).flat_map(|v| v.to_le_bytes()));
    put(root, "geotiff_tags", "model_tags", &b);
    put(root, "geotiff_tags", "nodata", b"\x03-9999\0");
}

fn tile_keys(tile: TileId) -> (String, String) {
    let n = tile.name();
    (
        format!("s3://tessera/tessera/npy/v1/2024/{n}/{n}.npy"),
        format!("s3://tessera/tessera/npy/v1/2024/{n}/{n}_scales.npy"),
    )
}

fn manifest_seeds(root: &Path, scratch: &Path) {
    let tiles = ["grid_0.15_52.25", "grid_-0.05_51.45", "grid_0.15_52.35"]
        .map(|t| t.parse::<TileId>().expect("tile"));
    let records: Vec<ManifestRecord> = tiles
        .iter()
        .enumerate()
        .map(|(i, &tile)| {
            let (grid_path, scales_path) = tile_keys(tile);
            ManifestRecord {
                version: "1.1".into(),
                variant: "cambridge".into(),
                year: 2023 + i as i32 % 2,
                tile,
                directory: format!("s3://tessera/tessera/npy/v1/2024/{}", tile.name()),
                grid_path,
                scales_path,
                grid_mtime_ns: 1_700_000_000_000_000_000,
                scales_mtime_ns: 1_700_000_000_000_000_000,
                grid_size: 106_282_496,
                scales_size: 3_321_056,
            }
        })
        .collect();
    let p = scratch.join("manifest.parquet");
    write_manifest(&p, &records).expect("manifest");
    let bytes = std::fs::read(&p).expect("manifest");
    put(root, "manifest", "manifest", &bytes);
    // A manifest has lon/lat columns: a points file too.
    put(root, "points_parquet", "manifest_lon_lat", &bytes);
    let lm: Vec<LandmaskRecord> = tiles
        .iter()
        .map(|&tile| LandmaskRecord {
            tile,
            file_size: 1234,
            mtime_ns: 1_700_000_000_000_000_000,
            key: format!("s3://tessera/tessera/landmasks/v1/{}.tiff", tile.name()),
        })
        .collect();
    let p = scratch.join("landmasks.parquet");
    write_landmasks(&p, &lm).expect("landmasks");
    put(
        root,
        "manifest",
        "landmasks",
        &std::fs::read(&p).expect("landmasks"),
    );
}

fn zarr_seeds(root: &Path) {
    for (name, doc) in [
        ("embeddings", zarr::embeddings_doc(2, 8192, 4096, true)),
        ("scales", zarr::scales_doc(1, 100, 200, false)),
        ("coord_x", zarr::coord_doc(CoordType::F64, 4096, "x")),
        ("coord_time", zarr::coord_doc(CoordType::I32, 3, "time")),
    ] {
        put(root, "zarr_metadata", name, &zarr::to_json_bytes(&doc));
    }
    let i8s: Vec<i8> = (0..256).map(|i| (i % 100) as i8).collect();
    let f32s: Vec<f32> = (0..64).map(|i| i as f32 / 64.0).collect();
    let blosc_i8 = zarr::encode_i8_chunk(&i8s).expect("blosc");
    let blosc_f32 = zarr::encode_f32_chunk(&f32s).expect("blosc");
    // Selector: the top two bits are the chain length, each pair below one codec
    // (0 blosc, 1 zstd, 2 gzip, 3 crc32c), in encoding order.
    let mut b = vec![0x40, 0, 0, 1];
    b.extend_from_slice(&blosc_i8);
    put(root, "zarr_chunk", "blosc_i8", &b);
    let mut b = vec![0x8c, 2, 0, 1];
    b.extend_from_slice(&blosc_f32);
    b.extend_from_slice(&crc32c::crc32c(&blosc_f32).to_le_bytes());
    put(root, "zarr_chunk", "blosc_crc_f32", &b);
    let raw: Vec<u8> = f32s.iter().flat_map(|v| v.to_be_bytes()).collect();
    let mut b = vec![0x41, 0x82, 0, 1];
    b.extend_from_slice(&zstd::bulk::compress(&raw, 3).expect("zstd"));
    put(root, "zarr_chunk", "zstd_f32_big_endian", &b);

    let mut w = ShardWriter::new(Vec::new(), 4, true);
    w.add(2, &blosc_i8).expect("shard");
    w.add(0, &blosc_f32).expect("shard");
    let (shard, len) = w.finish().expect("shard");
    let index = &shard[shard.len() - zarr::index_len(4, true) as usize..];
    let mut b = vec![4, 0, 3];
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(index);
    put(root, "shard_index", "four_chunks_crc", &b);
    let mut b = vec![3, 0, 0];
    b.extend_from_slice(&ShardIndex::empty(3).encode()[..48]);
    put(root, "shard_index", "empty_no_crc", &b);
}

fn points_seeds(root: &Path, scratch: &Path) {
    put(
        root,
        "points_csv",
        "header",
        b"id,lon,lat,label\n1,0.17,52.23,wheat\n2,-0.1,51.5,\n3,0.11,52.2,grass\n",
    );
    put(root, "points_csv", "no_header", b"0.17,52.23\n-0.1,51.5\n");
    put(
        root,
        "points_geojson",
        "features",
        br#"{"type":"FeatureCollection","features":[
{"type":"Feature","geometry":{"type":"Point","coordinates":[0.17,52.23]},"properties":{"class":1,"name":"a","ok":true}},
{"type":"Feature","geometry":{"type":"Point","coordinates":[-0.1,51.5]},"properties":{"class":2.5,"name":null}}]}"#,
    );
    put(
        root,
        "points_geojson",
        "utm_crs",
        br#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::32631"}},"features":[
{"type":"Feature","geometry":{"type":"Point","coordinates":[300000,5800000]},"properties":{}}]}"#,
    );
    // GeoParquet: a WKB point column and the "geo" metadata.
    let mut wkb = vec![1u8];
    wkb.extend_from_slice(&1u32.to_le_bytes());
    wkb.extend_from_slice(&0.17f64.to_le_bytes());
    wkb.extend_from_slice(&52.23f64.to_le_bytes());
    let geo = r#"{"version":"1.0.0","primary_column":"geometry","columns":{"geometry":{"encoding":"WKB","geometry_types":["Point"],"crs":{"id":{"authority":"EPSG","code":4326}}}}}"#;
    let schema = Arc::new(
        Schema::new(vec![
            Field::new("geometry", DataType::Binary, true),
            Field::new("value", DataType::Float64, true),
            Field::new("name", DataType::Utf8, true),
        ])
        .with_metadata(std::collections::HashMap::from([(
            "geo".to_string(),
            geo.to_string(),
        )])),
    );
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(BinaryArray::from(vec![Some(&wkb[..]), Some(&wkb[..])])),
            Arc::new(Float64Array::from(vec![Some(1.5), None])),
            Arc::new(StringArray::from(vec![Some("a"), Some("b")])),
        ],
    )
    .expect("batch");
    let p: PathBuf = scratch.join("points.parquet");
    let f = std::fs::File::create(&p).expect("parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).expect("parquet");
    w.write(&batch).expect("parquet");
    w.close().expect("parquet");
    put(
        root,
        "points_parquet",
        "geoparquet_wkb",
        &std::fs::read(&p).expect("parquet"),
    );
}

fn text_seeds(root: &Path) {
    for (i, s) in [
        "-0.1,51.3,0.1,51.5",
        " 0.17 , 52.23 ",
        "grid_0.15_52.25",
        "grid_-179.95_-89.95_scales.npy",
        "EPSG:32631",
        "v1.1",
    ]
    .iter()
    .enumerate()
    {
        put(root, "bbox", &format!("seed{i}"), s.as_bytes());
    }
    put(
        root,
        "fault_rule",
        "examples",
        b"npy/**:status=503,times=2,retry-after=1\n**:latency=200ms\n**/*.npy:truncate=0.5,p=0.3\n**:flip,times=1,after=1\n**:reset=0.5\nv1/registry/*:rate=20m\n",
    );
}

fn main() {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let scratch = tempfile::tempdir().expect("scratch");
    npy_seeds(&root);
    tiff_seeds(&root);
    tiff_chunk_seeds(&root);
    geotiff_tags_seeds(&root);
    manifest_seeds(&root, scratch.path());
    zarr_seeds(&root);
    points_seeds(&root, scratch.path());
    text_seeds(&root);
    println!("seeds written under {}", root.display());
}
