//! RGB(A) uint8 GeoTIFFs as the sources of web maps: which pixels are transparent (an
//! alpha band, or a nodata value on all colour bands), rows read as RGBA, and the
//! float view that the mosaic warper resamples when a picture needs reprojecting.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tessera_core::{Affine, Crs, TileGeoref};
use tessera_formats::DType;
use tessera_formats::geotiff::GeoTiffReader;

use crate::PictureError;
use crate::mosaic::Source;

/// An open RGB (3 bands) or RGBA (4 bands) uint8 GeoTIFF.
pub struct RgbaGeoTiff {
    path: PathBuf,
    reader: Mutex<GeoTiffReader>,
    /// CRS, transform and size.
    pub georef: TileGeoref,
    /// Bands in the file: 3 (opaque unless nodata) or 4 (the 4th is alpha).
    pub bands: usize,
    /// A value that, on all three colour bands, marks a pixel without data.
    pub nodata: Option<u8>,
    /// Rows per stored chunk: reads are cheapest in whole chunk rows.
    pub chunk_rows: usize,
}

impl RgbaGeoTiff {
    /// Opens `path`, checking that it is an RGB(A) uint8 raster with a north-up georeference
    /// in a CRS we implement.
    pub fn open(path: &Path) -> Result<RgbaGeoTiff, PictureError> {
        let reader = GeoTiffReader::open(path).map_err(|e| PictureError::Source(e.to_string()))?;
        let info = reader.info().clone();
        let shown = path.display();
        if info.dtype != DType::U8 || !(3..=4).contains(&info.bands) {
            return Err(PictureError::Usage(format!(
                "{shown} holds {} band(s) of {}: a web map needs an RGB or RGBA uint8 \
                 GeoTIFF (make one with `tessera visualize` or `tessera mosaic`)",
                info.bands,
                info.dtype.gdal_name()
            )));
        }
        let crs = info.crs.ok_or_else(|| {
            PictureError::Usage(match info.epsg {
                Some(code) => format!(
                    "{shown} is in EPSG:{code}, which is not supported: reproject it to \
                     EPSG:3857, EPSG:4326 or a UTM zone"
                ),
                None => format!("{shown} has no CRS (GeoKeys) we can read"),
            })
        })?;
        let transform: Affine = info
            .transform
            .ok_or_else(|| PictureError::Usage(format!("{shown} has no georeference")))?;
        if !transform.is_north_up() || transform.a <= 0.0 || transform.e >= 0.0 {
            return Err(PictureError::Usage(format!(
                "{shown} is not north-up (its transform is rotated or flipped): warp it to \
                 a north-up grid first"
            )));
        }
        let nodata = info
            .nodata
            .filter(|v| v.fract() == 0.0 && (0.0..=255.0).contains(v))
            .map(|v| v as u8);
        Ok(RgbaGeoTiff {
            path: path.to_path_buf(),
            georef: TileGeoref {
                crs,
                transform,
                width: info.width as usize,
                height: info.height as usize,
            },
            bands: usize::from(info.bands),
            nodata,
            chunk_rows: info.chunk.1.max(1) as usize,
            reader: Mutex::new(reader),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its CRS.
    pub fn crs(&self) -> Crs {
        self.georef.crs
    }

    /// Rows `r0..r0 + n`, all columns, as RGBA (`n x width x 4`): alpha from the alpha
    /// band, else 0 where every colour band holds the nodata value, else 255.
    pub fn read_rgba_rows(&self, r0: usize, n: usize) -> Result<Vec<u8>, PictureError> {
        let raw: Vec<u8> = {
            let mut r = self
                .reader
                .lock()
                .map_err(|_| PictureError::Source(format!("{}: reader poisoned", self.name())))?;
            let (r0, n) = (
                u32::try_from(r0).map_err(|_| self.rows_error(r0, n))?,
                u32::try_from(n).map_err(|_| self.rows_error(r0, n))?,
            );
            r.read_rows::<u8>(r0, n)
                .map_err(|e| PictureError::Source(e.to_string()))?
        };
        if self.bands == 4 {
            return Ok(raw);
        }
        let mut out = Vec::with_capacity(raw.len() / 3 * 4);
        for p in raw.chunks_exact(3) {
            let a = match self.nodata {
                Some(v) if p.iter().all(|&c| c == v) => 0,
                _ => 255,
            };
            out.extend_from_slice(&[p[0], p[1], p[2], a]);
        }
        Ok(out)
    }

    fn rows_error(&self, r0: usize, n: usize) -> PictureError {
        PictureError::Source(format!("{}: rows {r0}+{n} out of range", self.name()))
    }

    /// The bounds `[W, S, E, N]` in the file's CRS.
    pub fn bounds(&self) -> [f64; 4] {
        let t = &self.georef.transform;
        let (w, h) = (self.georef.width as f64, self.georef.height as f64);
        [t.c, t.f + h * t.e, t.c + w * t.a, t.f]
    }
}

/// The warper's view: RGB as float with alpha folded into validity (NaN where alpha is
/// below half), so that transparent pixels take no part in an interpolation.
impl Source for RgbaGeoTiff {
    fn georef(&self) -> TileGeoref {
        self.georef
    }
    fn bands(&self) -> usize {
        3
    }
    fn read_window(
        &self,
        r0: usize,
        n: usize,
        c0: usize,
        m: usize,
    ) -> Result<Vec<f32>, PictureError> {
        let rows = self.read_rgba_rows(r0, n)?;
        let w = self.georef.width;
        let mut out = Vec::with_capacity(n * m * 3);
        for r in 0..n {
            let row = &rows[(r * w + c0) * 4..(r * w + c0 + m) * 4];
            for p in row.chunks_exact(4) {
                if p[3] < 128 {
                    out.extend_from_slice(&[f32::NAN; 3]);
                } else {
                    out.extend([f32::from(p[0]), f32::from(p[1]), f32::from(p[2])]);
                }
            }
        }
        Ok(out)
    }
    fn owns(&self, _lon: f64, _lat: f64) -> bool {
        true
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
}
