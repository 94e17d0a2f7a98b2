//! GDAL is the oracle: `gdalinfo -json` and `gdallocationinfo` read what we write (CRS,
//! transform, size, type, nodata, tags, band descriptions, every pixel), and we read what
//! `gdal_translate` writes (tiled, striped, each compression and predictor, both interleaves).

use std::path::Path;

use tessera_core::{Affine, Crs};
use tessera_formats::DType;
use tessera_formats::Element;
use tessera_formats::geotiff::{
    BigTiff, Compression, GeoTiffFile, GeoTiffReader, GeoTiffSpec, Interleave, Layout, Photometric,
    Predictor,
};
use tessera_testkit::{gdal_value, gdalinfo, run_tool, scratch};

const W: u32 = 301;
const H: u32 = 263;

fn sample<T: Element>(dtype: DType, i: usize) -> T {
    // Deterministic values exercising sign, range and fractions per dtype.
    let v = (i.wrapping_mul(2654435761) >> 7) as i64;
    let bytes: Vec<u8> = match dtype {
        DType::U8 => vec![(v % 256) as u8],
        DType::I8 => vec![((v % 256) - 128) as i8 as u8],
        DType::I16 => (((v % 60000) - 30000) as i16).to_le_bytes().to_vec(),
        DType::U16 => ((v % 65536) as u16).to_le_bytes().to_vec(),
        DType::F32 => (((v % 20001) as f32 - 10000.0) * 0.125)
            .to_le_bytes()
            .to_vec(),
        DType::F64 => (((v % 20001) as f64 - 10000.0) / 3.0)
            .to_le_bytes()
            .to_vec(),
        _ => unreachable!(),
    };
    *bytemuck::from_bytes(&bytes)
}

fn make<T: Element>(dtype: DType, bands: usize) -> Vec<T> {
    (0..W as usize * H as usize * bands)
        .map(|i| sample(dtype, i))
        .collect()
}

fn utm() -> (Crs, Affine) {
    (
        Crs::from_epsg(32631).unwrap(),
        Affine::north_up(300933.936, 5776128.478, 10.0),
    )
}

fn write<T: Element>(path: &Path, spec: GeoTiffSpec, data: &[T], rows_per_call: usize) {
    let mut f = GeoTiffFile::create(path, spec.clone()).unwrap();
    let row = spec.width as usize * usize::from(spec.bands);
    for chunk in data.chunks(row * rows_per_call) {
        f.writer().write_rows(chunk).unwrap();
    }
    f.finish().unwrap();
}

fn gdal_type(dtype: DType) -> &'static str {
    dtype.gdal_name()
}

/// Compares every pixel through `gdal_translate -of ENVI` (raw band-sequential output).
fn assert_pixels_via_gdal<T: Element + PartialEq + std::fmt::Debug>(
    path: &Path,
    data: &[T],
    bands: usize,
) {
    let raw = path.with_extension("raw");
    run_tool(
        "gdal_translate",
        &[
            "-q",
            "-of",
            "ENVI",
            "-co",
            "INTERLEAVE=BSQ",
            &path.to_string_lossy(),
            &raw.to_string_lossy(),
        ],
    );
    let bytes = std::fs::read(&raw).unwrap();
    let got: &[T] = bytemuck::cast_slice(&bytes);
    let n = W as usize * H as usize;
    assert_eq!(got.len(), n * bands);
    for b in 0..bands {
        for p in 0..n {
            let (g, e) = (got[b * n + p], data[p * bands + b]);
            assert!(
                bytemuck::bytes_of(&g) == bytemuck::bytes_of(&e),
                "{}: band {b} pixel {p}: gdal {g:?}, wrote {e:?}",
                path.display()
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check_case<T: Element + PartialEq + std::fmt::Debug>(
    dir: &Path,
    dtype: DType,
    bands: u16,
    layout: Layout,
    compression: Compression,
    predictor: Predictor,
    interleave: Interleave,
    bigtiff: BigTiff,
) {
    let name = format!(
        "{}_{bands}_{layout:?}_{}_{predictor:?}_{interleave:?}_{bigtiff:?}.tif",
        gdal_type(dtype),
        compression.gdal_name()
    )
    .replace(['(', ')'], "");
    let path = dir.join(name);
    let data: Vec<T> = make(dtype, bands.into());
    let mut spec = GeoTiffSpec::new(W, H, bands, dtype);
    spec.layout = layout;
    spec.compression = compression;
    spec.predictor = predictor;
    spec.interleave = interleave;
    spec.bigtiff = bigtiff;
    spec.georef = Some(utm());
    // Floats: NaN; integers: the type's extreme (GDAL_NODATA is text for every type).
    let nodata = match dtype {
        DType::U8 => 255.0,
        DType::I8 => -128.0,
        DType::U16 => 65535.0,
        DType::I16 => -32768.0,
        _ => f64::NAN,
    };
    spec.nodata = Some(nodata);
    spec.metadata.set("TESSERA_YEAR", "2024");
    spec.metadata.set(
        "TESSERA_DESCRIPTION",
        "GeoTessera satellite embedding tile & <test>",
    );
    for b in 0..usize::from(bands) {
        spec.metadata
            .set_band_description(b, format!("Tessera_Band_{b}"));
    }
    // Feed rows in uneven batches to exercise the chunk-row buffering.
    write(&path, spec, &data, 37);

    let info = gdalinfo(&path);
    assert_eq!(
        info["size"],
        serde_json::json!([W, H]),
        "{}",
        path.display()
    );
    assert_eq!(info["stac"]["proj:epsg"], 32631, "{}", path.display());
    let gt: Vec<f64> = info["geoTransform"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(gt, vec![300933.936, 10.0, 0.0, 5776128.478, 0.0, -10.0]);
    let b = info["bands"].as_array().unwrap();
    assert_eq!(b.len(), usize::from(bands));
    if dtype == DType::I8 && b[0]["type"] == "Byte" {
        // GDAL before 3.7 has no Int8 type: signed bytes are Byte with PIXELTYPE=SIGNEDBYTE.
        assert_eq!(
            b[0]["metadata"]["IMAGE_STRUCTURE"]["PIXELTYPE"],
            "SIGNEDBYTE"
        );
    } else {
        assert_eq!(b[0]["type"], gdal_type(dtype));
    }
    assert_eq!(
        b[usize::from(bands) - 1]["description"],
        format!("Tessera_Band_{}", bands - 1)
    );
    if dtype.is_float() {
        assert_eq!(b[0]["noDataValue"], "NaN");
    } else {
        assert_eq!(
            b[0]["noDataValue"].as_f64(),
            Some(nodata),
            "{}: {}",
            path.display(),
            b[0]
        );
        assert_eq!(
            b[usize::from(bands) - 1]["noDataValue"].as_f64(),
            Some(nodata)
        );
    }
    let md = &info["metadata"][""];
    assert_eq!(md["TESSERA_YEAR"], "2024");
    assert_eq!(
        md["TESSERA_DESCRIPTION"],
        "GeoTessera satellite embedding tile & <test>"
    );
    let structure = &info["metadata"]["IMAGE_STRUCTURE"];
    if compression != Compression::None {
        assert_eq!(
            structure["COMPRESSION"],
            compression.gdal_name(),
            "{}",
            path.display()
        );
    }
    let expect_interleave = if interleave == Interleave::Band {
        "BAND"
    } else {
        "PIXEL"
    };
    if bands > 1 {
        assert_eq!(structure["INTERLEAVE"], expect_interleave);
    }
    if let Layout::Tiled(t) = layout {
        assert_eq!(b[0]["block"], serde_json::json!([t, t]));
    }
    // A few pixels by gdallocationinfo (corners, a padded edge tile, the last band).
    for (c, r) in [
        (0usize, 0usize),
        (W as usize - 1, H as usize - 1),
        (257, 259),
        (13, 200),
    ] {
        for band in [1usize, usize::from(bands)] {
            let got = gdal_value(&path, band, c, r);
            let v = data[(r * W as usize + c) * usize::from(bands) + band - 1];
            let want = match dtype {
                DType::F32 | DType::F64 => {
                    let x: f64 = got.parse().unwrap();
                    let e: f64 = if dtype == DType::F32 {
                        f64::from(*bytemuck::from_bytes::<f32>(bytemuck::bytes_of(&v)))
                    } else {
                        *bytemuck::from_bytes::<f64>(bytemuck::bytes_of(&v))
                    };
                    assert!((x - e).abs() <= 1e-6 * e.abs().max(1.0), "{got} vs {e}");
                    continue;
                }
                DType::I8 => {
                    let signed = i64::from(*bytemuck::from_bytes::<i8>(bytemuck::bytes_of(&v)));
                    // GDAL 3.6 prints SIGNEDBYTE pixels as their unsigned byte.
                    if got.parse::<i64>().unwrap() > 127 {
                        (signed + 256).to_string()
                    } else {
                        signed.to_string()
                    }
                }
                DType::U8 => {
                    i64::from(*bytemuck::from_bytes::<u8>(bytemuck::bytes_of(&v))).to_string()
                }
                DType::I16 => {
                    i64::from(*bytemuck::from_bytes::<i16>(bytemuck::bytes_of(&v))).to_string()
                }
                DType::U16 => {
                    i64::from(*bytemuck::from_bytes::<u16>(bytemuck::bytes_of(&v))).to_string()
                }
                _ => unreachable!(),
            };
            assert_eq!(got, want, "{} band {band} ({c},{r})", path.display());
        }
    }
    assert_pixels_via_gdal(&path, &data, usize::from(bands));
    // And we read back our own file.
    let mut r = GeoTiffReader::open(&path).unwrap();
    assert_eq!(r.info().crs, Some(utm().0));
    assert_eq!(r.info().transform, Some(utm().1));
    assert_eq!(
        r.info().metadata.band_description(0),
        Some("Tessera_Band_0")
    );
    assert_eq!(r.info().bigtiff, bigtiff == BigTiff::Yes);
    let back: Vec<T> = r.read_all().unwrap();
    assert!(bytemuck::cast_slice::<T, u8>(&back) == bytemuck::cast_slice::<T, u8>(&data));
}

#[test]
fn gdal_reads_float32_variants() {
    let dir = scratch("tif-f32");
    for (layout, comp, pred, il, big) in [
        (
            Layout::Tiled(256),
            Compression::Lzw,
            Predictor::None,
            Interleave::Pixel,
            BigTiff::Auto,
        ),
        (
            Layout::Tiled(256),
            Compression::Deflate(6),
            Predictor::FloatingPoint,
            Interleave::Pixel,
            BigTiff::Auto,
        ),
        (
            Layout::Tiled(128),
            Compression::Zstd(9),
            Predictor::FloatingPoint,
            Interleave::Band,
            BigTiff::Yes,
        ),
        (
            Layout::Striped(64),
            Compression::None,
            Predictor::None,
            Interleave::Pixel,
            BigTiff::Auto,
        ),
        (
            Layout::Striped(17),
            Compression::Zstd(1),
            Predictor::Horizontal,
            Interleave::Pixel,
            BigTiff::No,
        ),
        (
            Layout::Tiled(256),
            Compression::None,
            Predictor::None,
            Interleave::Pixel,
            BigTiff::Yes,
        ),
    ] {
        check_case::<f32>(&dir, DType::F32, 5, layout, comp, pred, il, big);
    }
    // Many bands, as the embeddings exports.
    check_case::<f32>(
        &dir,
        DType::F32,
        128,
        Layout::Tiled(256),
        Compression::Lzw,
        Predictor::None,
        Interleave::Pixel,
        BigTiff::Auto,
    );
}

#[test]
fn gdal_reads_integer_variants() {
    let dir = scratch("tif-int");
    for (layout, comp, pred) in [
        (Layout::Tiled(256), Compression::Lzw, Predictor::Horizontal),
        (Layout::Tiled(64), Compression::Deflate(1), Predictor::None),
        (
            Layout::Striped(1),
            Compression::Zstd(3),
            Predictor::Horizontal,
        ),
        (Layout::Striped(300), Compression::None, Predictor::None),
    ] {
        check_case::<u8>(
            &dir,
            DType::U8,
            1,
            layout,
            comp,
            pred,
            Interleave::Pixel,
            BigTiff::Auto,
        );
        check_case::<i8>(
            &dir,
            DType::I8,
            3,
            layout,
            comp,
            pred,
            Interleave::Pixel,
            BigTiff::Auto,
        );
        check_case::<i8>(
            &dir,
            DType::I8,
            4,
            layout,
            comp,
            pred,
            Interleave::Band,
            BigTiff::Yes,
        );
    }
    check_case::<u16>(
        &dir,
        DType::U16,
        2,
        Layout::Tiled(32),
        Compression::Lzw,
        Predictor::Horizontal,
        Interleave::Pixel,
        BigTiff::Auto,
    );
    check_case::<i16>(
        &dir,
        DType::I16,
        2,
        Layout::Striped(8),
        Compression::Deflate(9),
        Predictor::Horizontal,
        Interleave::Band,
        BigTiff::Auto,
    );
    check_case::<f64>(
        &dir,
        DType::F64,
        2,
        Layout::Tiled(16),
        Compression::Zstd(3),
        Predictor::FloatingPoint,
        Interleave::Pixel,
        BigTiff::Auto,
    );
}

#[test]
fn geographic_crs_rgb_and_rotated_transforms() {
    let dir = scratch("tif-geo");
    // EPSG:4326, RGB photometric.
    let path = dir.join("rgb4326.tif");
    let data: Vec<u8> = make(DType::U8, 3);
    let mut spec = GeoTiffSpec::new(W, H, 3, DType::U8);
    spec.photometric = Photometric::Rgb;
    spec.compression = Compression::Deflate(6);
    spec.predictor = Predictor::Horizontal;
    spec.georef = Some((Crs::Wgs84, Affine::north_up(-0.2, 51.6, 1e-4)));
    write(&path, spec, &data, 1000);
    let info = gdalinfo(&path);
    assert_eq!(info["stac"]["proj:epsg"], 4326);
    assert_eq!(info["bands"][0]["colorInterpretation"], "Red");
    assert_eq!(info["bands"][2]["colorInterpretation"], "Blue");
    let gt: Vec<f64> = info["geoTransform"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(gt, vec![-0.2, 1e-4, 0.0, 51.6, 0.0, -1e-4]);
    assert_pixels_via_gdal(&path, &data, 3);
    // EPSG:3857 and a south UTM zone.
    for code in [3857u32, 32737] {
        let path = dir.join(format!("z{code}.tif"));
        let mut spec = GeoTiffSpec::new(W, H, 1, DType::U8);
        spec.georef = Some((
            Crs::from_epsg(code).unwrap(),
            Affine::north_up(1000.0, 2000.0, 10.0),
        ));
        write(&path, spec, &make::<u8>(DType::U8, 1), 64);
        assert_eq!(gdalinfo(&path)["stac"]["proj:epsg"], code);
    }
    // A rotated transform goes through ModelTransformationTag.
    let path = dir.join("rot.tif");
    let t = Affine {
        a: 10.0,
        b: 2.0,
        c: 500000.0,
        d: 1.0,
        e: -10.0,
        f: 100.0,
    };
    let mut spec = GeoTiffSpec::new(W, H, 1, DType::U8);
    spec.georef = Some((Crs::from_epsg(32631).unwrap(), t));
    write(&path, spec, &make::<u8>(DType::U8, 1), 300);
    let gt: Vec<f64> = gdalinfo(&path)["geoTransform"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(gt, t.to_gdal().to_vec());
    let r = GeoTiffReader::open(&path).unwrap();
    assert_eq!(r.info().transform, Some(t));
}

/// The chunks GDAL writes, in every layout and codec, read back by us.
#[test]
fn we_read_gdal_translate_outputs() {
    let dir = scratch("tif-gdal");
    // Source: our uncompressed striped float32 and int8 files.
    let f32data: Vec<f32> = make(DType::F32, 3);
    let i8data: Vec<i8> = make(DType::I8, 2);
    let src32 = dir.join("src32.tif");
    let src8 = dir.join("src8.tif");
    let mut spec = GeoTiffSpec::new(W, H, 3, DType::F32);
    spec.layout = Layout::Striped(W);
    spec.georef = Some(utm());
    spec.nodata = Some(f64::NAN);
    spec.metadata.set("K", "a & <b> \"q\" 'é' &amp;");
    spec.metadata.set_band_description(1, "second");
    write(&src32, spec, &f32data, 50);
    let mut spec = GeoTiffSpec::new(W, H, 2, DType::I8);
    spec.layout = Layout::Striped(W);
    spec.georef = Some(utm());
    write(&src8, spec, &i8data, 50);

    for (n, (co, src, is_float)) in [
        (vec!["TILED=YES", "COMPRESS=LZW"], &src32, true),
        (
            vec!["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=3"],
            &src32,
            true,
        ),
        (
            vec![
                "TILED=YES",
                "COMPRESS=ZSTD",
                "PREDICTOR=2",
                "BLOCKXSIZE=128",
                "BLOCKYSIZE=64",
            ],
            &src32,
            true,
        ),
        (
            vec!["COMPRESS=LZW", "PREDICTOR=3", "BLOCKYSIZE=7"],
            &src32,
            true,
        ),
        (vec!["COMPRESS=DEFLATE"], &src32, true),
        (vec!["COMPRESS=ZSTD", "INTERLEAVE=BAND"], &src32, true),
        (
            vec![
                "TILED=YES",
                "INTERLEAVE=BAND",
                "COMPRESS=LZW",
                "PREDICTOR=2",
            ],
            &src32,
            true,
        ),
        (vec!["TILED=YES", "BIGTIFF=YES"], &src32, true),
        (vec![], &src32, true),
        (
            vec!["TILED=YES", "COMPRESS=LZW", "PREDICTOR=2"],
            &src8,
            false,
        ),
        (vec!["COMPRESS=ZSTD", "BLOCKYSIZE=3"], &src8, false),
        (
            vec!["TILED=YES", "COMPRESS=DEFLATE", "INTERLEAVE=BAND"],
            &src8,
            false,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let out = dir.join(format!("gdal{n}.tif"));
        let mut args = vec!["-q".to_string()];
        for c in &co {
            args.push("-co".into());
            args.push((*c).into());
        }
        args.push(src.to_string_lossy().into());
        args.push(out.to_string_lossy().into());
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        run_tool("gdal_translate", &a);
        let mut r = GeoTiffReader::open(&out).unwrap();
        assert_eq!(r.info().crs, Some(utm().0), "{co:?}");
        assert_eq!(r.info().transform, Some(utm().1), "{co:?}");
        assert_eq!(r.info().tiled, co.contains(&"TILED=YES"), "{co:?}");
        if is_float {
            assert!(r.info().nodata.unwrap().is_nan());
            assert_eq!(r.info().metadata.get("K"), Some("a & <b> \"q\" 'é' &amp;"));
            assert_eq!(r.info().metadata.band_description(1), Some("second"));
            let back: Vec<f32> = r.read_all().unwrap();
            assert!(
                bytemuck::cast_slice::<f32, u8>(&back) == bytemuck::cast_slice::<f32, u8>(&f32data),
                "{co:?}"
            );
            // A window across chunk boundaries.
            let win: Vec<f32> = r.read_rows(60, 70).unwrap();
            assert_eq!(
                &win[..],
                &f32data[60 * W as usize * 3..130 * W as usize * 3],
                "{co:?}"
            );
        } else {
            let back: Vec<i8> = r.read_all().unwrap();
            assert_eq!(back, i8data, "{co:?}");
        }
    }
}

#[test]
fn spec_validation_and_streaming_errors() {
    let dir = scratch("tif-err");
    let mut spec = GeoTiffSpec::new(10, 10, 1, DType::F32);
    spec.layout = Layout::Tiled(20);
    assert!(GeoTiffFile::create(&dir.join("a.tif"), spec).is_err());
    let mut spec = GeoTiffSpec::new(10, 10, 1, DType::I8);
    spec.predictor = Predictor::FloatingPoint;
    assert!(GeoTiffFile::create(&dir.join("b.tif"), spec).is_err());
    assert!(
        GeoTiffFile::create(&dir.join("c.tif"), GeoTiffSpec::new(0, 10, 1, DType::U8)).is_err()
    );
    // Wrong element type, too many rows, unfinished image: errors, and no file under the final name.
    let mut f =
        GeoTiffFile::create(&dir.join("d.tif"), GeoTiffSpec::new(10, 10, 1, DType::U8)).unwrap();
    assert!(f.writer().write_rows(&[0f32; 10]).is_err());
    assert!(f.writer().write_rows(&[0u8; 110]).is_err());
    f.writer().write_rows(&[0u8; 50]).unwrap();
    assert!(f.finish().is_err());
    assert!(!dir.join("d.tif").exists());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "temporary files are removed"
    );
    // BigTIFF is chosen automatically above 4 GiB.
    let mut spec = GeoTiffSpec::new(40000, 40000, 1, DType::F32);
    spec.compression = Compression::None;
    let mut f = GeoTiffFile::create(&dir.join("e.tif"), spec.clone()).unwrap();
    assert!(f.writer().is_bigtiff());
    spec.width = 1000;
    let mut f = GeoTiffFile::create(&dir.join("e.tif"), spec).unwrap();
    assert!(!f.writer().is_bigtiff());
}

/// A real file above 4 GiB: BigTIFF is chosen automatically and GDAL reads pixels stored
/// past the 4 GiB mark. Ignored by default because it writes 4.5 GB; run it with
/// `cargo test -p tessera-formats --test geotiff_gdal -- --ignored`.
#[test]
#[ignore = "writes a 4.5 GB file"]
fn bigtiff_above_4_gib() {
    let dir = scratch("tif-big");
    let path = dir.join("big.tif");
    let (w, h) = (70_000u32, 16_000u32);
    let mut spec = GeoTiffSpec::new(w, h, 1, DType::F32);
    spec.georef = Some(utm());
    spec.nodata = Some(f64::NAN);
    let mut f = GeoTiffFile::create(&path, spec).unwrap();
    assert!(f.writer().is_bigtiff());
    let rows = 256usize;
    let mut buf = vec![0f32; w as usize * rows];
    for r0 in (0..h as usize).step_by(rows) {
        let n = rows.min(h as usize - r0);
        for (i, v) in buf[..n * w as usize].iter_mut().enumerate() {
            *v = ((r0 + i / w as usize) * 7 + i % w as usize) as f32;
        }
        f.writer().write_rows(&buf[..n * w as usize]).unwrap();
    }
    f.finish().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 4 << 30);
    let info = gdalinfo(&path);
    assert_eq!(info["size"], serde_json::json!([w, h]));
    let (c, r) = (69_999usize, 15_999usize);
    assert_eq!(
        gdal_value(&path, 1, c, r),
        format!("{}", (r * 7 + c) as f32)
    );
    let mut rd = GeoTiffReader::open(&path).unwrap();
    let last: Vec<f32> = rd.read_rows(15_999, 1).unwrap();
    assert_eq!(last[c], (r * 7 + c) as f32);
    std::fs::remove_file(&path).unwrap();
}
