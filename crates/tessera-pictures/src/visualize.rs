//! PCA false colour: one projection fitted on a reproducible sample of all inputs, applied
//! window by window as the mosaic reads its sources, then written as a uint8 GeoTIFF with
//! an internal mask (and a PNG quicklook). Memory: the sample (at most 100,000 pixels,
//! pruned at twice that) plus the mosaic's strip budget.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tessera_core::TileGeoref;
use tessera_formats::DType;
use tessera_formats::geotiff::writer::{BigTiff, GeoTiffFile, GeoTiffSpec, Layout, Photometric};
use tessera_formats::geotiff::{Compression, GdalMetadata, Predictor};

use crate::PictureError;
use crate::colour::{Balance, ColourLut, ColourMap};
use crate::mosaic::{Mosaic, Source};
use crate::pca::{self, MAX_SAMPLES, PcaModel, Reservoir};

/// A fitted projection and its colour maps.
#[derive(Debug, Clone)]
pub struct Projection {
    /// The PCA.
    pub model: PcaModel,
    /// One colour map per component.
    pub maps: Vec<ColourMap>,
    /// How the maps were fitted.
    pub balance: Balance,
    /// The maps as threshold tables (the same values, faster).
    pub luts: Vec<ColourLut>,
}

/// Rows per read while sampling: the reference's strips (at most 128 rows and 64 MiB of
/// float64-sized samples).
fn sample_rows(width: usize, bands: usize) -> usize {
    (64usize << 20)
        .checked_div(width * bands * 8)
        .unwrap_or(128)
        .clamp(1, 128)
}

/// Fits the PCA on a sample of the valid pixels of `sources` (in their order, rows top to
/// bottom) and the colour maps on the sample's scores.
pub fn fit_projection<S: Source>(
    sources: &[S],
    n_components: usize,
    balance: Balance,
    cancelled: &dyn Fn() -> bool,
    progress: &dyn Fn(u64, u64),
) -> Result<Projection, PictureError> {
    let bands = sources
        .first()
        .map(Source::bands)
        .ok_or_else(|| PictureError::Usage("no inputs to visualize".into()))?;
    let mut res = Reservoir::new(bands, MAX_SAMPLES);
    let total: u64 = sources.iter().map(|s| s.georef().height as u64).sum();
    let mut done = 0u64;
    for s in sources {
        if s.bands() != bands {
            return Err(PictureError::Usage(format!(
                "{} has {} bands, the first input {bands}: PCA needs one band count",
                s.name(),
                s.bands()
            )));
        }
        let g = s.georef();
        let step = sample_rows(g.width, bands);
        let mut r = 0;
        while r < g.height {
            if cancelled() {
                return Err(PictureError::Cancelled);
            }
            let n = step.min(g.height - r);
            match s.read_window_codes(r, n, 0, g.width)? {
                Some((q, sc)) => res.offer_codes(&q, &sc),
                None => res.offer(&s.read_window(r, n, 0, g.width)?),
            }
            r += n;
            done += n as u64;
            progress(done, total);
        }
    }
    let sample = res.finish();
    let model = pca::fit(&sample, bands, n_components, true)?;
    let scores = model.transform(&sample);
    let nc = model.n_components();
    let maps = (0..nc)
        .into_par_iter()
        .map(|c| {
            let col: Vec<f32> = scores.iter().skip(c).step_by(nc).copied().collect();
            ColourMap::fit(&col, balance)
        })
        .collect();
    let maps: Vec<ColourMap> = maps;
    Ok(Projection {
        luts: maps.iter().map(ColourLut::new).collect(),
        model,
        maps,
        balance,
    })
}

impl Projection {
    /// The reference's tags (`PCA_*`).
    pub fn tags(&self) -> Vec<(&'static str, String)> {
        let ratios: Vec<f64> = self
            .model
            .explained_variance_ratio
            .iter()
            .map(|&v| f64::from(v as f32))
            .collect();
        let list = ratios
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let total: f32 = ratios.iter().map(|&v| v as f32).sum();
        vec![
            ("PCA_COMPONENTS", self.model.n_components().to_string()),
            ("PCA_STANDARDIZED", "True".to_string()),
            ("PCA_EXPLAINED_VARIANCE", format!("[{list}]")),
            ("PCA_TOTAL_VARIANCE", format!("{total:?}")),
            ("PCA_BALANCE_METHOD", self.balance.name().to_string()),
            ("PCA_MAX_SAMPLES", MAX_SAMPLES.to_string()),
        ]
    }
}

/// A source seen through a projection: its first `min(n, 3)` colour bands as float32
/// display values (0..255), NaN where the pixel is not valid.
pub struct Coloured<'a, S: Source> {
    /// The embeddings.
    pub source: &'a S,
    /// The projection.
    pub projection: &'a Projection,
}

impl<S: Source> Source for Coloured<'_, S> {
    fn georef(&self) -> TileGeoref {
        self.source.georef()
    }
    fn bands(&self) -> usize {
        self.projection.model.n_components().min(3)
    }
    fn read_window(
        &self,
        r0: usize,
        n: usize,
        c0: usize,
        m: usize,
    ) -> Result<Vec<f32>, PictureError> {
        let scores = match self.source.read_window_codes(r0, n, c0, m)? {
            Some((q, s)) => self.projection.model.transform_codes(&q, &s),
            None => {
                let px = self.source.read_window(r0, n, c0, m)?;
                self.projection.model.transform(&px)
            }
        };
        let nc = self.projection.model.n_components();
        let b = self.bands();
        let maps = &self.projection.luts;
        let mut out = vec![f32::NAN; n * m * b];
        out.par_chunks_mut(b * 1024)
            .zip(scores.par_chunks(nc * 1024))
            .for_each(|(o, s)| {
                for (o, s) in o.chunks_exact_mut(b).zip(s.chunks_exact(nc)) {
                    if s.iter().all(|v| !v.is_nan()) {
                        for c in 0..b {
                            o[c] = f32::from(maps[c].apply(s[c]));
                        }
                    }
                }
            });
        Ok(out)
    }
    fn owns(&self, lon: f64, lat: f64) -> bool {
        self.source.owns(lon, lat)
    }
    fn name(&self) -> String {
        self.source.name()
    }
    fn windows_in_place(&self) -> bool {
        self.source.windows_in_place()
    }
}

/// Where [`write_rgb_geotiff`] hands each strip: display values and mask rows.
type StripSink<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), PictureError> + 'a;

/// What [`write_rgb_geotiff`] wrote.
#[derive(Debug, Clone)]
pub struct WrittenPicture {
    /// The GeoTIFF.
    pub path: PathBuf,
    /// Its PNG quicklook, when asked for.
    pub quicklook: Option<PathBuf>,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Bands.
    pub bands: usize,
}

/// Writes a mosaic of display values (0..255, NaN = no data) as a uint8 GeoTIFF: LZW,
/// tiled, no nodata value, an internal mask (255 where every band has a value), RGB colour
/// interpretation for 3 bands; values are truncated as the reference's `astype(uint8)`.
/// With `quicklook`, also a PNG at most `quicklook_px` wide (RGBA, transparent where
/// masked). Strips are rendered within the mosaic's budget; the mask waits in a
/// temporary file beside the output until the image is done. With `cog`, a
/// Cloud-Optimized GeoTIFF with internal overviews and their masks instead.
#[allow(clippy::too_many_arguments)]
pub fn write_rgb_geotiff<S: Source>(
    m: &Mosaic<S>,
    path: &Path,
    metadata: GdalMetadata,
    cog: bool,
    quicklook: Option<(&Path, usize)>,
    cancelled: &dyn Fn() -> bool,
    progress: &dyn Fn(u64, u64),
) -> Result<WrittenPicture, PictureError> {
    let g = &m.grid;
    let (w, h, b) = (g.width, g.height, m.bands);
    let dim =
        |n: usize| u32::try_from(n).map_err(|_| PictureError::Usage(format!("{n} is too large")));
    let mut spec = GeoTiffSpec::new(dim(w)?, dim(h)?, b as u16, DType::U8);
    spec.layout = Layout::Tiled(if w * b * 512 * 4 <= m.memory_bytes() {
        512
    } else {
        256
    });
    spec.compression = Compression::Lzw;
    spec.predictor = Predictor::None;
    spec.bigtiff = BigTiff::Auto;
    spec.photometric = if b == 3 {
        Photometric::Rgb
    } else {
        Photometric::MinIsBlack
    };
    spec.georef = Some((g.crs, g.transform));
    spec.metadata = metadata;
    let mut mask_spec = GeoTiffSpec::new(dim(w)?, dim(h)?, 1, DType::U8);
    mask_spec.layout = spec.layout;
    mask_spec.compression = Compression::Deflate(6);
    mask_spec.mask_subfile = true;
    let io = |e: std::io::Error| PictureError::Io(format!("{}: {e}", path.display()));
    let tiff = |e: tessera_formats::geotiff::TiffError| PictureError::Io(e.to_string());
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut look = quicklook.map(|(p, px)| Quicklook::new(p, w, h, b, px));
    let n = m.strip_rows_within(m.memory_bytes() / 2)?;
    // The strips: rendered, made display values and a mask, handed to `sink`.
    let mut strips = |sink: &mut StripSink| {
        let mut strip = vec![0f32; n.min(h) * w * b];
        let mut bytes = vec![0u8; n.min(h) * w * b];
        let mut mask = vec![0u8; n.min(h) * w];
        let mut j = 0;
        while j < h {
            if cancelled() {
                return Err(PictureError::Cancelled);
            }
            let rows = n.min(h - j);
            let (s, o, k) = (
                &mut strip[..rows * w * b],
                &mut bytes[..rows * w * b],
                &mut mask[..rows * w],
            );
            m.render(j, rows, s)?;
            o.par_chunks_mut(b)
                .zip(s.par_chunks(b))
                .zip(k.par_iter_mut())
                .for_each(|((o, s), k)| {
                    let valid = s.iter().all(|v| !v.is_nan());
                    *k = if valid { 255 } else { 0 };
                    for (o, &v) in o.iter_mut().zip(s) {
                        *o = if valid { v.clamp(0.0, 255.0) as u8 } else { 0 };
                    }
                });
            sink(o, k)?;
            if let Some(q) = look.as_mut() {
                q.add(j, rows, o, k);
            }
            j += rows;
            progress(j as u64, h as u64);
        }
        Ok(())
    };
    let path = if cog {
        let mut file =
            tessera_formats::geotiff::cog::CogFile::<u8>::create(path, spec, true).map_err(tiff)?;
        strips(&mut |o, k| file.write_rows(o, Some(k)).map_err(tiff))?;
        file.finish().map_err(tiff)?
    } else {
        let mut spill = BufWriter::new(tempfile::tempfile_in(dir).map_err(io)?);
        let mut file = GeoTiffFile::create(path, spec).map_err(tiff)?;
        strips(&mut |o, k| {
            file.writer().write_rows(o).map_err(tiff)?;
            spill.write_all(k).map_err(io)
        })?;
        let mut spill = spill.into_inner().map_err(|e| io(e.into_error()))?;
        std::io::Seek::rewind(&mut spill).map_err(io)?;
        file.finish_with_image(mask_spec, |wr| {
            let mut rows = vec![0u8; n.min(h) * w];
            let mut left = h;
            while left > 0 {
                let r = n.min(left);
                spill.read_exact(&mut rows[..r * w])?;
                wr.write_rows(&rows[..r * w])?;
                left -= r;
            }
            Ok(())
        })
        .map_err(tiff)?
    };
    let quicklook = look.map(Quicklook::finish).transpose()?;
    Ok(WrittenPicture {
        path,
        quicklook,
        width: w,
        height: h,
        bands: b,
    })
}

/// A downsampled RGBA picture of a mosaic, filled strip by strip (nearest pixel).
struct Quicklook {
    path: PathBuf,
    w: usize,
    h: usize,
    bands: usize,
    qw: usize,
    qh: usize,
    rgba: Vec<u8>,
}

impl Quicklook {
    fn new(path: &Path, w: usize, h: usize, bands: usize, max_px: usize) -> Quicklook {
        let f = (w.max(h) as f64 / max_px.max(1) as f64).max(1.0);
        let qw = ((w as f64 / f).round() as usize).max(1);
        let qh = ((h as f64 / f).round() as usize).max(1);
        Quicklook {
            path: path.to_path_buf(),
            w,
            h,
            bands,
            qw,
            qh,
            rgba: vec![0; qw * qh * 4],
        }
    }

    fn add(&mut self, j0: usize, rows: usize, px: &[u8], mask: &[u8]) {
        for qj in 0..self.qh {
            let j = ((qj as f64 + 0.5) * self.h as f64 / self.qh as f64) as usize;
            if j < j0 || j >= j0 + rows {
                continue;
            }
            for qi in 0..self.qw {
                let i = ((qi as f64 + 0.5) * self.w as f64 / self.qw as f64) as usize;
                let i = i.min(self.w - 1);
                let at = (j - j0) * self.w + i;
                let o = &mut self.rgba[(qj * self.qw + qi) * 4..][..4];
                let p = &px[at * self.bands..(at + 1) * self.bands];
                for c in 0..3 {
                    o[c] = p[c.min(self.bands - 1)];
                }
                o[3] = mask[at];
            }
        }
    }

    fn finish(self) -> Result<PathBuf, PictureError> {
        crate::png::write_rgba(&self.path, self.qw, self.qh, &self.rgba)?;
        Ok(self.path)
    }
}
