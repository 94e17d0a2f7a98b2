//! Writing a mosaic as a GeoTIFF, strip by strip: the file appears under its name only
//! when complete.

use std::path::{Path, PathBuf};

use tessera_formats::DType;
use tessera_formats::geotiff::writer::{
    BigTiff, GeoTiffFile, GeoTiffSpec, Interleave, Layout, Photometric,
};
use tessera_formats::geotiff::{Compression, GdalMetadata, Predictor};

use crate::PictureError;
use crate::mosaic::{Mosaic, Source};

/// What a written mosaic is.
#[derive(Debug, Clone)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// Columns, rows, bands.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Bands.
    pub bands: usize,
    /// Output rows rendered at a time.
    pub strip_rows: usize,
}

/// The layout whose buffered chunk row (a row of whole tiles, padded past the image's
/// width) fits `bytes`: 512-pixel tiles as the reference writes, or smaller ones, else
/// strips of as many rows as fit.
fn layout(width: usize, pixel_bytes: usize, bytes: usize) -> Layout {
    for t in [512usize, 256, 128, 64, 32, 16] {
        if t * width.div_ceil(t) * t * pixel_bytes <= bytes {
            return Layout::Tiled(t as u32);
        }
    }
    Layout::Striped((bytes / (width * pixel_bytes).max(1)).max(1) as u32)
}

/// Writes `m` to `path` as a float32 GeoTIFF (NaN nodata), in strips: a quarter of the
/// budget for the writer's buffered chunk row and its encoding, the rest for the strips. `cancelled` is
/// asked between strips (then nothing is left under `path`); `progress(done, total)` gets
/// rows.
pub fn write_geotiff<S: Source>(
    m: &Mosaic<S>,
    path: &Path,
    compression: Compression,
    metadata: GdalMetadata,
    cancelled: &dyn Fn() -> bool,
    progress: &dyn Fn(u64, u64),
) -> Result<Written, PictureError> {
    let g = &m.grid;
    let (w, h, b) = (g.width, g.height, m.bands);
    let budget = m.memory_bytes();
    let mut spec = GeoTiffSpec::new(
        u32::try_from(w).map_err(|_| too_big(w))?,
        u32::try_from(h).map_err(|_| too_big(h))?,
        u16::try_from(b).map_err(|_| too_big(b))?,
        DType::F32,
    );
    // The writer holds a chunk row and, while encoding it, its compressed copy.
    spec.layout = layout(w, b * 4, budget / 8);
    spec.interleave = Interleave::Pixel;
    spec.compression = compression;
    spec.predictor = if compression == Compression::None {
        Predictor::None
    } else {
        GeoTiffSpec::default_predictor(DType::F32)
    };
    spec.bigtiff = BigTiff::Auto;
    spec.photometric = Photometric::MinIsBlack;
    spec.georef = Some((g.crs, g.transform));
    spec.nodata = Some(f64::NAN);
    spec.metadata = metadata;
    let n = m.strip_rows_within(budget - budget / 4)?;
    let mut file = GeoTiffFile::create(path, spec).map_err(|e| PictureError::Io(e.to_string()))?;
    let mut buf = vec![0f32; n.min(h) * w * b];
    let mut j = 0;
    while j < h {
        if cancelled() {
            return Err(PictureError::Cancelled);
        }
        let rows = n.min(h - j);
        let strip = &mut buf[..rows * w * b];
        m.render(j, rows, strip)?;
        file.writer()
            .write_rows(strip)
            .map_err(|e| PictureError::Io(e.to_string()))?;
        j += rows;
        progress(j as u64, h as u64);
    }
    let path = file.finish().map_err(|e| PictureError::Io(e.to_string()))?;
    Ok(Written {
        path,
        width: w,
        height: h,
        bands: b,
        strip_rows: n,
    })
}

fn too_big(n: usize) -> PictureError {
    PictureError::Usage(format!("{n} is too large for a GeoTIFF dimension"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_fits_its_chunk_row_in_the_budget() {
        // A 10-pixel-wide image still buffers whole tiles.
        assert_eq!(layout(10, 512, 8 << 20), Layout::Tiled(128));
        assert_eq!(layout(20_000, 512, 1 << 30), Layout::Tiled(64));
        assert_eq!(layout(2000, 512, 4 << 20), Layout::Striped(4));
        assert_eq!(layout(20_000, 512, 4 << 20), Layout::Striped(1));
        assert_eq!(layout(1000, 4, 4 << 20), Layout::Tiled(512));
    }
}
