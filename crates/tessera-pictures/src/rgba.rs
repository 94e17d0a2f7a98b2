//! RGB(A) uint8 GeoTIFFs as the sources of web maps: which pixels are transparent (an
//! alpha band, a GDAL internal mask, or a nodata value on all colour bands), rows read as
//! RGBA, and the
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
    /// The internal mask (0: no data), as `tessera visualize` and GDAL write it.
    mask: Option<Mutex<GeoTiffReader>>,
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
        let file =
            std::fs::File::open(path).map_err(|e| PictureError::Source(format!("{shown}: {e}")))?;
        let mask = GeoTiffReader::open_internal_mask(std::io::BufReader::new(file), path)
            .map_err(|e| PictureError::Source(e.to_string()))?
            .map(Mutex::new);
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
            mask,
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

    /// Whether the file has an internal mask.
    pub fn has_mask(&self) -> bool {
        self.mask.is_some()
    }

    /// Rows `r0..r0 + n`, all columns, as RGBA (`n x width x 4`): alpha from the alpha
    /// band, else 255; then 0 where the internal mask is 0 or every colour band holds the
    /// nodata value.
    pub fn read_rgba_rows(&self, r0: usize, n: usize) -> Result<Vec<u8>, PictureError> {
        let (r0u, nu) = (
            u32::try_from(r0).map_err(|_| self.rows_error(r0, n))?,
            u32::try_from(n).map_err(|_| self.rows_error(r0, n))?,
        );
        let raw: Vec<u8> = {
            let mut r = self
                .reader
                .lock()
                .map_err(|_| PictureError::Source(format!("{}: reader poisoned", self.name())))?;
            r.read_rows::<u8>(r0u, nu)
                .map_err(|e| PictureError::Source(e.to_string()))?
        };
        let mask: Option<Vec<u8>> = match &self.mask {
            Some(m) => {
                let mut m = m
                    .lock()
                    .map_err(|_| PictureError::Source(format!("{}: mask poisoned", self.name())))?;
                Some(
                    m.read_rows::<u8>(r0u, nu)
                        .map_err(|e| PictureError::Source(format!("its mask: {e}")))?,
                )
            }
            None => None,
        };
        let mut out = if self.bands == 4 {
            raw
        } else {
            let mut out = Vec::with_capacity(raw.len() / 3 * 4);
            for p in raw.chunks_exact(3) {
                out.extend_from_slice(&[p[0], p[1], p[2], 255]);
            }
            out
        };
        if let Some(v) = self.nodata {
            for p in out.chunks_exact_mut(4) {
                if p[..3].iter().all(|&c| c == v) {
                    p[3] = 0;
                }
            }
        }
        if let Some(m) = mask {
            for (p, &valid) in out.chunks_exact_mut(4).zip(&m) {
                if valid == 0 {
                    p[3] = 0;
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_formats::geotiff::{GeoTiffFile, GeoTiffSpec, Layout, Photometric};

    /// An RGB picture whose internal mask hides its left half, with a nodata value that
    /// hides one more pixel.
    fn picture(dir: &Path, nodata: Option<f64>) -> PathBuf {
        let (w, h) = (8u32, 4u32);
        let path = dir.join("rgb.tif");
        let mut spec = GeoTiffSpec::new(w, h, 3, DType::U8);
        spec.layout = Layout::Striped(2);
        spec.photometric = Photometric::Rgb;
        spec.georef = Some((
            Crs::WebMercator,
            Affine {
                a: 10.0,
                b: 0.0,
                c: 1000.0,
                d: 0.0,
                e: -10.0,
                f: 2000.0,
            },
        ));
        spec.nodata = nodata;
        let mut mask_spec = GeoTiffSpec::new(w, h, 1, DType::U8);
        mask_spec.layout = spec.layout;
        mask_spec.mask_subfile = true;
        let mut file = GeoTiffFile::create(&path, spec).unwrap();
        let mut rgb = Vec::new();
        for i in 0..(w * h) as u8 {
            rgb.extend_from_slice(&[i, 100, 200]);
        }
        // Pixel (row 3, col 7) is all 7s: the nodata value of the second case.
        let last = rgb.len() - 3;
        rgb[last..].copy_from_slice(&[7, 7, 7]);
        file.writer().write_rows(&rgb).unwrap();
        let mask: Vec<u8> = (0..w * h)
            .map(|i| if i % w < 4 { 0 } else { 255 })
            .collect();
        file.finish_with_image(mask_spec, |wr| wr.write_rows(&mask))
            .unwrap();
        path
    }

    #[test]
    fn the_internal_mask_and_nodata_make_pixels_transparent() {
        let dir = tempfile::tempdir().unwrap();
        for nodata in [None, Some(7.0)] {
            let path = picture(dir.path(), nodata);
            let t = RgbaGeoTiff::open(&path).unwrap();
            assert!(t.has_mask());
            let rows = t.read_rgba_rows(0, 4).unwrap();
            for (i, p) in rows.chunks_exact(4).enumerate() {
                let (r, c) = (i / 8, i % 8);
                let hidden = c < 4 || (nodata.is_some() && r == 3 && c == 7);
                assert_eq!(p[3], if hidden { 0 } else { 255 }, "pixel {r},{c}");
                if c >= 4 && !(r == 3 && c == 7) {
                    assert_eq!(&p[..3], &[i as u8, 100, 200]);
                }
            }
            // The warper's view: hidden pixels are NaN.
            let f = t.read_window(1, 1, 2, 4).unwrap();
            assert!(f[..6].iter().all(|v| v.is_nan()));
            assert_eq!(&f[6..9], &[12.0, 100.0, 200.0]);
            std::fs::remove_file(&path).unwrap();
        }
    }
}
