//! Writing a mosaic as a GeoTIFF, strip by strip: the file appears under its name only
//! when complete.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tessera_formats::DType;
use tessera_formats::geotiff::cog::{CogFile, OverviewSample};
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

/// How a mosaic is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputOptions {
    /// Chunk compression.
    pub compression: Compression,
    /// A Cloud-Optimized GeoTIFF (tiled, internal overviews, directories first) instead of
    /// a plain GeoTIFF.
    pub cog: bool,
    /// float32 values, or int8 codes with a float32 scale per pixel.
    pub dtype: OutputType,
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            compression: Compression::Lzw,
            cog: false,
            dtype: OutputType::Float32,
        }
    }
}

/// The sample type of a mosaic file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputType {
    /// Dequantised float32, NaN where there is no data.
    #[default]
    Float32,
    /// The published form: int8 codes (`OUTPUT.tif`) and one float32 scale per pixel
    /// (`OUTPUT_scales.tif`, NaN where there is no data), requantised per pixel with the
    /// model's rule (`scale = max(max|v| / 127, 1e-8)`, round half to even), a quarter of
    /// the float32 bytes. Nearest resampling from sources whose largest code is ±127
    /// keeps their codes and scales.
    Int8,
}

impl std::str::FromStr for OutputType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "float32" | "f32" => Ok(OutputType::Float32),
            "int8" | "i8" => Ok(OutputType::Int8),
            _ => Err(format!("--dtype must be float32 or int8, got '{s}'")),
        }
    }
}

/// The scales file written beside an int8 mosaic: `OUTPUT_scales.tif` (same extension).
pub fn scales_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tif".into());
    path.with_file_name(format!("{stem}_scales.{ext}"))
}

/// A GeoTIFF or COG being written.
enum Sink<T: OverviewSample> {
    Plain(GeoTiffFile),
    Cog(CogFile<T>),
}

impl<T: OverviewSample> Sink<T> {
    fn create(path: &Path, spec: GeoTiffSpec, cog: bool) -> Result<Self, PictureError> {
        let e = |e: tessera_formats::geotiff::TiffError| PictureError::Io(e.to_string());
        Ok(if cog {
            Sink::Cog(CogFile::create(path, spec, false).map_err(e)?)
        } else {
            Sink::Plain(GeoTiffFile::create(path, spec).map_err(e)?)
        })
    }
    fn write(&mut self, rows: &[T]) -> Result<(), PictureError> {
        match self {
            Sink::Plain(f) => f.writer().write_rows(rows),
            Sink::Cog(c) => c.write_rows(rows, None),
        }
        .map_err(|e| PictureError::Io(e.to_string()))
    }
    fn finish(self) -> Result<PathBuf, PictureError> {
        match self {
            Sink::Plain(f) => f.finish(),
            Sink::Cog(c) => c.finish(),
        }
        .map_err(|e| PictureError::Io(e.to_string()))
    }
}

/// Where a mosaic's strips go: float32 values, or int8 codes and their scales (one per
/// mosaic written, so the variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
enum MosaicSink {
    F32(Sink<f32>),
    Int8 {
        codes: Sink<i8>,
        scales: Sink<f32>,
        /// Buffers for a strip's codes and scales.
        q: Vec<i8>,
        sc: Vec<f32>,
    },
}

impl MosaicSink {
    /// Writes a strip of `bands`-band float32 pixels (NaN: no data).
    fn write(&mut self, s: &[f32], bands: usize) -> Result<(), PictureError> {
        match self {
            MosaicSink::F32(f) => f.write(s),
            MosaicSink::Int8 {
                codes,
                scales,
                q,
                sc,
            } => {
                let px = s.len() / bands;
                let (qs, ss) = (&mut q[..px * bands], &mut sc[..px]);
                qs.par_chunks_mut(bands)
                    .zip(ss.par_iter_mut())
                    .zip(s.par_chunks(bands))
                    .for_each(|((q, sc), v)| {
                        *sc = tessera_core::quant::pixel_scale(v);
                        if sc.is_nan() {
                            q.fill(0);
                        } else {
                            tessera_core::quant::quantise_pixel(v, *sc, q);
                        }
                    });
                codes.write(qs)?;
                scales.write(ss)
            }
        }
    }

    /// Finishes the file(s); returns the main one. The scales finish first, so the codes
    /// under their final name mean both are complete; a scales file whose codes then fail
    /// is removed.
    fn finish(self) -> Result<PathBuf, PictureError> {
        match self {
            MosaicSink::F32(f) => f.finish(),
            MosaicSink::Int8 { codes, scales, .. } => {
                let spath = scales.finish()?;
                codes.finish().inspect_err(|_| {
                    let _ = std::fs::remove_file(&spath);
                })
            }
        }
    }
}

fn base_spec(
    w: usize,
    h: usize,
    b: usize,
    dtype: DType,
    layout: Layout,
    compression: Compression,
) -> Result<GeoTiffSpec, PictureError> {
    let mut spec = GeoTiffSpec::new(
        u32::try_from(w).map_err(|_| too_big(w))?,
        u32::try_from(h).map_err(|_| too_big(h))?,
        u16::try_from(b).map_err(|_| too_big(b))?,
        dtype,
    );
    spec.layout = layout;
    spec.interleave = Interleave::Pixel;
    spec.compression = compression;
    spec.predictor = if compression == Compression::None {
        Predictor::None
    } else {
        GeoTiffSpec::default_predictor(dtype)
    };
    spec.bigtiff = BigTiff::Auto;
    spec.photometric = Photometric::MinIsBlack;
    Ok(spec)
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
    let opts = OutputOptions {
        compression,
        ..Default::default()
    };
    write_mosaic(m, path, opts, metadata, cancelled, progress)
}

/// Writes `m` to `path` as `opts` says (float32 or int8 + scales, GeoTIFF or COG), strip
/// by strip within the mosaic's memory budget; see [`write_geotiff`]. For int8 the scales
/// go to [`scales_path`]; both files appear only when both are complete.
pub fn write_mosaic<S: Source>(
    m: &Mosaic<S>,
    path: &Path,
    opts: OutputOptions,
    metadata: GdalMetadata,
    cancelled: &dyn Fn() -> bool,
    progress: &dyn Fn(u64, u64),
) -> Result<Written, PictureError> {
    let g = &m.grid;
    let (w, h, b) = (g.width, g.height, m.bands);
    let budget = m.memory_bytes();
    let int8 = opts.dtype == OutputType::Int8;
    // The writer holds a chunk row and, while encoding it, its compressed copy; a COG's
    // overview levels hold as much again.
    let pixel_bytes = if int8 { b + 4 } else { b * 4 };
    let share = if opts.cog { budget / 16 } else { budget / 8 };
    let mut layout = layout(w, pixel_bytes, share);
    if opts.cog && matches!(layout, Layout::Striped(_)) {
        layout = Layout::Tiled(16);
    }
    let main_type = if int8 { DType::I8 } else { DType::F32 };
    let mut spec = base_spec(w, h, b, main_type, layout, opts.compression)?;
    spec.georef = Some((g.crs, g.transform));
    let mut scale_spec = base_spec(w, h, 1, DType::F32, layout, opts.compression)?;
    scale_spec.georef = spec.georef;
    scale_spec.nodata = Some(f64::NAN);
    let mut scale_md = metadata.clone();
    if int8 {
        // GDAL 3.6 reads 8-bit signed samples as Byte unless told.
        spec.metadata = metadata;
        spec.metadata.set(
            "TESSERA_QUANTISATION",
            "int8 codes x per-pixel scale (OUTPUT_scales)",
        );
        scale_md.set("TESSERA_QUANTISATION", "per-pixel scale of the int8 codes");
        scale_spec.metadata = scale_md;
    } else {
        spec.nodata = Some(f64::NAN);
        spec.metadata = metadata;
    }
    let n = m.strip_rows_within(budget - budget / 4)?;
    let mut strip = vec![0f32; n.min(h) * w * b];
    let mut out = if int8 {
        MosaicSink::Int8 {
            codes: Sink::create(path, spec, opts.cog)?,
            scales: Sink::create(&scales_path(path), scale_spec, opts.cog)?,
            q: vec![0i8; n.min(h) * w * b],
            sc: vec![0f32; n.min(h) * w],
        }
    } else {
        MosaicSink::F32(Sink::create(path, spec, opts.cog)?)
    };
    let mut j = 0;
    while j < h {
        if cancelled() {
            return Err(PictureError::Cancelled);
        }
        let rows = n.min(h - j);
        let s = &mut strip[..rows * w * b];
        m.render(j, rows, s)?;
        out.write(s, b)?;
        j += rows;
        progress(j as u64, h as u64);
    }
    let path = out.finish()?;
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
