//! Reprojecting an RGB(A) picture to EPSG:3857 before tiling (the reference's
//! `web_ready_mosaic.tif`): GDAL's suggested output resolution, bilinear over the opaque
//! pixels, an alpha band where no source pixel reaches; written strip by strip through the
//! mosaic warper, so memory stays bounded.

use std::path::{Path, PathBuf};

use tessera_core::{Bbox, Crs};
use tessera_formats::DType;
use tessera_formats::geotiff::Compression;
use tessera_formats::geotiff::writer::{GeoTiffFile, GeoTiffSpec, Interleave, Layout, Photometric};

use crate::PictureError;
use crate::grid::suggested_resolution;
use crate::mosaic::{Mosaic, MosaicOptions};
use crate::rgba::RgbaGeoTiff;
use crate::warp::Resampling;

/// The deepest latitude of Web Mercator's square world.
const MAX_LAT: f64 = 85.051_128_78;

/// The WGS84 box a picture covers: its edges, densified, back to lon/lat.
pub fn wgs84_bounds(src: &RgbaGeoTiff) -> Result<Bbox, PictureError> {
    let g = &src.georef;
    let (w, h) = (g.width as f64, g.height as f64);
    let t = &g.transform;
    let (mut lo_x, mut lo_y, mut hi_x, mut hi_y) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    let steps = 21;
    for i in 0..=steps {
        let f = i as f64 / steps as f64;
        for (c, r) in [(f * w, 0.0), (f * w, h), (0.0, f * h), (w, f * h)] {
            let (lon, lat) = g.crs.inverse(t.c + c * t.a, t.f + r * t.e);
            lo_x = lo_x.min(lon);
            hi_x = hi_x.max(lon);
            lo_y = lo_y.min(lat);
            hi_y = hi_y.max(lat);
        }
    }
    Bbox::new(
        lo_x.max(-180.0),
        lo_y.max(-MAX_LAT),
        hi_x.min(180.0),
        hi_y.min(MAX_LAT),
    )
    .map_err(|e| {
        PictureError::Usage(format!(
            "{} does not cover a valid WGS84 area: {e}",
            src.path().display()
        ))
    })
}

/// Writes `src` reprojected to EPSG:3857 as a 4-band RGBA uint8 GeoTIFF at `out` (tiled,
/// LZW), and returns `out`. Only called for sources not already in EPSG:3857.
pub fn write_web_ready(src: &RgbaGeoTiff, out: &Path) -> Result<PathBuf, PictureError> {
    let bbox = wgs84_bounds(src)?;
    let res = suggested_resolution(&src.georef, &Crs::WebMercator);
    let sources = std::slice::from_ref(src);
    let m = Mosaic::new(
        &bbox,
        sources,
        MosaicOptions {
            crs: Crs::WebMercator,
            resolution: Some((res, res)),
            resampling: Resampling::Bilinear,
            memory_bytes: 256 << 20,
            ..Default::default()
        },
    )?;
    let g = m.grid;
    let dim = |n: usize| {
        u32::try_from(n)
            .map_err(|_| PictureError::Usage(format!("{n} pixels is too large for a GeoTIFF")))
    };
    let mut spec = GeoTiffSpec::new(dim(g.width)?, dim(g.height)?, 4, DType::U8);
    spec.layout = Layout::Tiled(256);
    spec.interleave = Interleave::Pixel;
    spec.compression = Compression::Lzw;
    spec.predictor = GeoTiffSpec::default_predictor(DType::U8);
    spec.photometric = Photometric::Rgb;
    spec.alpha = true;
    spec.georef = Some((g.crs, g.transform));
    let io = |e: tessera_formats::geotiff::TiffError| PictureError::Io(e.to_string());
    let mut file = GeoTiffFile::create(out, spec).map_err(io)?;
    let n = m.strip_rows()?;
    let mut strip = vec![0f32; n.min(g.height) * g.width * 3];
    let mut bytes = Vec::with_capacity(n.min(g.height) * g.width * 4);
    let mut j = 0;
    while j < g.height {
        let rows = n.min(g.height - j);
        let s = &mut strip[..rows * g.width * 3];
        m.render(j, rows, s)?;
        bytes.clear();
        for p in s.chunks_exact(3) {
            if p[0].is_nan() {
                bytes.extend_from_slice(&[0, 0, 0, 0]);
            } else {
                let c = |v: f32| (v + 0.5).floor().clamp(0.0, 255.0) as u8;
                bytes.extend_from_slice(&[c(p[0]), c(p[1]), c(p[2]), 255]);
            }
        }
        file.writer().write_rows(&bytes).map_err(io)?;
        j += rows;
    }
    file.finish().map_err(io)
}
