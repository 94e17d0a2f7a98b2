//! Property tests: NPY headers and GeoTIFF files round-trip for arbitrary shapes, layouts
//! and codecs.

use std::io::Cursor;
use std::path::Path;

use proptest::prelude::*;
use tessera_formats::DType;
use tessera_formats::geotiff::{
    Compression, GeoTiffReader, GeoTiffSpec, GeoTiffWriter, Interleave, Layout, Predictor,
};
use tessera_formats::npy::{header_bytes, parse_header};

fn dtype() -> impl Strategy<Value = DType> {
    prop_oneof![
        Just(DType::I8),
        Just(DType::U8),
        Just(DType::I16),
        Just(DType::U16),
        Just(DType::I32),
        Just(DType::F32),
        Just(DType::F64)
    ]
}

proptest! {
    #[test]
    fn npy_header_round_trip(dt in dtype(), shape in proptest::collection::vec(0usize..100_000, 0..4)) {
        let h = header_bytes(dt, &shape);
        prop_assert_eq!(h.len() % 64, 0);
        let p = parse_header(&h, Path::new("p")).unwrap();
        prop_assert_eq!(p.dtype, dt);
        prop_assert_eq!(p.shape, shape);
        prop_assert_eq!(p.data_offset, h.len());
    }

    #[test]
    fn geotiff_round_trip(
        w in 1u32..90, h in 1u32..90, bands in 1u16..6,
        tiled in any::<bool>(), block in 1u32..4, planar in any::<bool>(),
        codec in 0usize..4, predict in any::<bool>(), seed in any::<u32>(),
    ) {
        let mut spec = GeoTiffSpec::new(w, h, bands, DType::F32);
        spec.layout = if tiled { Layout::Tiled(16 * block) } else { Layout::Striped(block * 7) };
        spec.interleave = if planar { Interleave::Band } else { Interleave::Pixel };
        spec.compression = [Compression::None, Compression::Lzw, Compression::Deflate(1), Compression::Zstd(1)][codec];
        spec.predictor = if predict { Predictor::FloatingPoint } else { Predictor::None };
        let n = (w * h) as usize * usize::from(bands);
        let data: Vec<f32> = (0..n).map(|i| ((i as u32 ^ seed) % 1000) as f32 * 0.5 - 100.0).collect();
        let mut wr = GeoTiffWriter::new(Cursor::new(Vec::new()), spec).unwrap();
        for rows in data.chunks(w as usize * usize::from(bands) * 5) {
            wr.write_rows(rows).unwrap();
        }
        let bytes = wr.finish().unwrap().into_inner();
        let mut r = GeoTiffReader::from_reader(Cursor::new(bytes), Path::new("p.tif")).unwrap();
        prop_assert_eq!((r.info().width, r.info().height, r.info().bands), (w, h, bands));
        let back: Vec<f32> = r.read_all().unwrap();
        prop_assert_eq!(back, data);
    }
}
