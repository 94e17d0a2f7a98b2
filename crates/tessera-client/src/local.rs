//! Tiles in a local directory (the reference's layout) and reading them.
//!
//! Discovery finds NPY tiles under `global_0.1_degree_representation/{Y}/grid_X_Y/` that
//! have their embedding, scales and landmask, and GeoTIFF exports recognised by name
//! (`grid_X_Y_YYYY.tif[f]`) or by a `TESSERA_YEAR` tag; NPY wins for the same tile-year.
//! An [`EmbeddingTile`] keeps int8 + scales memory-mapped and dequantises late, in rows.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tessera_core::dataset::{EMBEDDINGS_DIR_NAME, LANDMASKS_DIR_NAME, keys};
use tessera_core::quant::dequantise;
use tessera_core::{Crs, TileGeoref, TileId};
use tessera_formats::geotiff::{GeoTiffInfo, GeoTiffReader, TiffError};
use tessera_formats::npy::NpyFile;

use crate::error::{ClientError, Result};

/// A window of int8 codes (pixel-interleaved) and one scale per pixel, borrowed from the
/// mapped files where the window is whole rows.
pub type Codes<'a> = (Cow<'a, [i8]>, Cow<'a, [f32]>);

/// How a discovered tile is stored.
#[derive(Debug, Clone, PartialEq)]
pub enum TileSource {
    /// The NPY pair and the landmask.
    Npy {
        /// int8 embedding.
        embedding: PathBuf,
        /// float32 scales.
        scales: PathBuf,
        /// Landmask GeoTIFF.
        landmask: PathBuf,
    },
    /// A float32 GeoTIFF export.
    GeoTiff(PathBuf),
}

/// A tile found in a directory.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalTile {
    /// The tile.
    pub tile: TileId,
    /// The year.
    pub year: i32,
    /// Where its data is.
    pub source: TileSource,
}

/// Files of a tile in the reference's local layout.
pub fn npy_paths(dir: &Path, year: i32, tile: TileId) -> (PathBuf, PathBuf, PathBuf) {
    (
        dir.join(keys::local_embedding(year, tile)),
        dir.join(keys::local_scales(year, tile)),
        dir.join(keys::local_landmask(tile)),
    )
}

/// Finds the tiles in `dir`. Incomplete NPY tiles are reported as warnings and skipped.
pub fn discover(dir: &Path) -> Result<(Vec<LocalTile>, Vec<String>)> {
    if !dir.is_dir() {
        return Err(ClientError::Usage(format!(
            "{}: not a directory",
            dir.display()
        )));
    }
    let mut found: BTreeMap<(i32, i32, i32), LocalTile> = BTreeMap::new();
    let mut warnings = Vec::new();
    let emb_root = dir.join(EMBEDDINGS_DIR_NAME);
    for ydir in read_dirs(&emb_root) {
        let Some(year) = ydir
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| n.len() == 4 && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        for tdir in read_dirs(&ydir) {
            let Some(tile) = tdir
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<TileId>().ok())
            else {
                continue;
            };
            let (e, s, l) = npy_paths(dir, year, tile);
            if e.is_file() && s.is_file() && l.is_file() {
                found.insert(
                    (year, tile.lat_i(), tile.lon_i()),
                    LocalTile {
                        tile,
                        year,
                        source: TileSource::Npy {
                            embedding: e,
                            scales: s,
                            landmask: l,
                        },
                    },
                );
            } else if e.is_file() || s.is_file() {
                let missing: Vec<&str> = [
                    (e.is_file(), "embedding"),
                    (s.is_file(), "scales"),
                    (l.is_file(), "landmask"),
                ]
                .iter()
                .filter(|(ok, _)| !ok)
                .map(|(_, n)| *n)
                .collect();
                warnings.push(format!(
                    "{year} {tile}: incomplete NPY tile (missing {}), skipped",
                    missing.join(", ")
                ));
            }
        }
    }
    for p in geotiff_exports(dir) {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let by_name = TileId::parse_prefix(name).and_then(|(t, rest)| {
            let y = rest.strip_prefix('_')?.split('.').next()?;
            (y.len() == 4).then(|| y.parse::<i32>().ok().map(|y| (t, y)))?
        });
        let id = by_name.or_else(|| tiff_identity(&p));
        if let Some((tile, year)) = id {
            found
                .entry((year, tile.lat_i(), tile.lon_i()))
                .or_insert(LocalTile {
                    tile,
                    year,
                    source: TileSource::GeoTiff(p),
                });
        }
    }
    Ok((found.into_values().collect(), warnings))
}

/// The GeoTIFF files under `dir` that are not landmasks (exports, and other GeoTIFFs).
pub fn geotiff_exports(dir: &Path) -> Vec<PathBuf> {
    let mut tiffs = Vec::new();
    walk_tiffs(dir, &mut tiffs);
    tiffs.retain(|p| !p.components().any(|c| c.as_os_str() == LANDMASKS_DIR_NAME));
    tiffs.sort();
    tiffs
}

/// A GeoTIFF's (tile, year) from its tags: `TESSERA_YEAR`, and the raster centre.
fn tiff_identity(p: &Path) -> Option<(TileId, i32)> {
    let r = GeoTiffReader::open(p).ok()?;
    let i = r.info();
    let year: i32 = i.metadata.get("TESSERA_YEAR")?.parse().ok()?;
    let (t, crs) = (i.transform?, i.crs?);
    let (x, y) = t.apply(f64::from(i.width) / 2.0, f64::from(i.height) / 2.0);
    let (lon, lat) = crs.inverse(x, y);
    Some((TileId::containing(lon, lat).ok()?, year))
}

fn read_dirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// Deepest directory nesting searched for GeoTIFFs.
const MAX_WALK_DEPTH: usize = 32;

fn walk_tiffs(p: &Path, out: &mut Vec<PathBuf>) {
    let mut seen = HashSet::new();
    walk_tiffs_in(p, out, &mut seen, 0);
}

/// Linked directories are followed, each directory once (by device and inode), so a link
/// loop ends the walk instead of recursing forever.
fn walk_tiffs_in(p: &Path, out: &mut Vec<PathBuf>, seen: &mut HashSet<(u64, u64)>, depth: usize) {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(p) else { return };
    if depth > MAX_WALK_DEPTH || !seen.insert((m.dev(), m.ino())) {
        return;
    }
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk_tiffs_in(&path, out, seen, depth + 1);
        } else if name.ends_with(".tif") || name.ends_with(".tiff") {
            out.push(path);
        }
    }
}

/// One tile's embeddings: int8 and scales memory-mapped, with the georeference.
pub struct EmbeddingTile {
    /// The tile.
    pub tile: TileId,
    /// The year.
    pub year: i32,
    /// CRS, transform and size.
    pub georef: TileGeoref,
    emb: NpyFile,
    scales: NpyFile,
    per_band_scales: bool,
}

impl EmbeddingTile {
    /// Opens the NPY pair. The georeference comes from the landmask when given (as the
    /// reference does), else from the tile name; both must agree with the NPY shape.
    pub fn open(
        tile: TileId,
        year: i32,
        embedding: &Path,
        scales: &Path,
        landmask: Option<&Path>,
    ) -> Result<EmbeddingTile> {
        let georef = match landmask {
            Some(l) => {
                let r = GeoTiffReader::open(l).map_err(|e| ClientError::Format(e.to_string()))?;
                georef_of(l, r.info())?
            }
            None => TileGeoref::of_tile(tile),
        };
        EmbeddingTile::open_georeferenced(tile, year, embedding, scales, georef)
    }

    /// Opens the NPY pair with a georeference already read (from the landmask, by
    /// [`raster_georef`]); it must agree with the NPY shape.
    pub fn open_georeferenced(
        tile: TileId,
        year: i32,
        embedding: &Path,
        scales: &Path,
        georef: TileGeoref,
    ) -> Result<EmbeddingTile> {
        let fmt = |e: tessera_formats::npy::NpyError| ClientError::Format(e.to_string());
        let emb = NpyFile::open(embedding).map_err(fmt)?;
        emb.expect::<i8>(3, None).map_err(fmt)?;
        let sc = NpyFile::open(scales).map_err(fmt)?;
        let (h, w, b) = (emb.shape()[0], emb.shape()[1], emb.shape()[2]);
        let per_band_scales = match sc.shape() {
            [sh, sw] if (*sh, *sw) == (h, w) => false,
            [sh, sw, sb] if (*sh, *sw, *sb) == (h, w, b) => true,
            other => {
                return Err(ClientError::Format(format!(
                    "{}: scales shape {other:?} does not match the embedding shape {:?}",
                    scales.display(),
                    emb.shape()
                )));
            }
        };
        sc.expect::<f32>(sc.shape().len(), None).map_err(fmt)?;
        if (georef.height, georef.width) != (h, w) {
            return Err(ClientError::Format(format!(
                "{}: shape {h}x{w} differs from the tile's georeference {}x{}",
                embedding.display(),
                georef.height,
                georef.width
            )));
        }
        Ok(EmbeddingTile {
            tile,
            year,
            georef,
            emb,
            scales: sc,
            per_band_scales,
        })
    }

    /// Opens a discovered NPY tile.
    pub fn open_local(t: &LocalTile) -> Result<EmbeddingTile> {
        match &t.source {
            TileSource::Npy {
                embedding,
                scales,
                landmask,
            } => EmbeddingTile::open(t.tile, t.year, embedding, scales, Some(landmask)),
            TileSource::GeoTiff(p) => Err(ClientError::Format(format!(
                "{}: a GeoTIFF, not an NPY tile",
                p.display()
            ))),
        }
    }

    /// Bands per pixel.
    pub fn bands(&self) -> usize {
        self.emb.shape()[2]
    }

    /// The CRS.
    pub fn crs(&self) -> Crs {
        self.georef.crs
    }

    /// The int8 values of pixel (row, col).
    pub fn quantised_pixel(&self, row: usize, col: usize) -> Result<&[i8]> {
        let b = self.bands();
        let q = self
            .emb
            .as_slice::<i8>()
            .map_err(|e| ClientError::Format(e.to_string()))?;
        let i = (row * self.georef.width + col) * b;
        Ok(&q[i..i + b])
    }

    /// Dequantises pixel (row, col) into `out` (`bands()` values).
    pub fn pixel(&self, row: usize, col: usize, out: &mut [f32]) -> Result<()> {
        let b = self.bands();
        let (q, s) = self.codes_and_scales()?;
        let i = row * self.georef.width + col;
        let q = &q[i * b..(i + 1) * b];
        if self.per_band_scales {
            tessera_core::quant::dequantise_per_value(q, &s[i * b..(i + 1) * b], out);
        } else {
            dequantise(q, &s[i..i + 1], b, out);
        }
        Ok(())
    }

    /// Rows `r0..r0 + n`, columns `c0..c0 + m` as int8 codes (pixel-interleaved) and one
    /// scale per pixel; `None` for tiles with a scale per value.
    pub fn window_codes(
        &self,
        r0: usize,
        n: usize,
        c0: usize,
        m: usize,
    ) -> Result<Option<Codes<'_>>> {
        if self.per_band_scales {
            return Ok(None);
        }
        let (w, h, b) = (self.georef.width, self.georef.height, self.bands());
        if r0 + n > h || c0 + m > w {
            return Err(ClientError::Format(format!(
                "{}: window {r0}+{n} x {c0}+{m} is outside {h} x {w}",
                self.tile.name()
            )));
        }
        let (q, s) = self.codes_and_scales()?;
        if c0 == 0 && m == w {
            // Whole rows are one span of the mapped files: no copy.
            return Ok(Some((
                Cow::Borrowed(&q[r0 * w * b..(r0 + n) * w * b]),
                Cow::Borrowed(&s[r0 * w..(r0 + n) * w]),
            )));
        }
        let mut codes = Vec::with_capacity(n * m * b);
        let mut scales = Vec::with_capacity(n * m);
        for r in r0..r0 + n {
            let i = r * w + c0;
            codes.extend_from_slice(&q[i * b..(i + m) * b]);
            scales.extend_from_slice(&s[i..i + m]);
        }
        Ok(Some((Cow::Owned(codes), Cow::Owned(scales))))
    }

    /// The int8 codes and the scales, as the NPY files hold them.
    fn codes_and_scales(&self) -> Result<(&[i8], &[f32])> {
        let fmt = |e: tessera_formats::npy::NpyError| ClientError::Format(e.to_string());
        Ok((
            self.emb.as_slice::<i8>().map_err(fmt)?,
            self.scales.as_slice::<f32>().map_err(fmt)?,
        ))
    }

    /// Dequantises every band of rows `r0..r0 + out.len() / (width * bands)` into `out`
    /// (pixel-interleaved), which callers fill in parallel, one slice of rows each.
    pub fn rows_into(&self, r0: usize, out: &mut [f32]) -> Result<()> {
        let (w, b) = (self.georef.width, self.bands());
        if w == 0 || b == 0 || !out.len().is_multiple_of(w * b) {
            return Err(ClientError::Format(format!(
                "{}: a row buffer of {} values is not whole rows of {w} x {b}",
                self.tile.name(),
                out.len()
            )));
        }
        let n = out.len() / (w * b);
        if r0 + n > self.georef.height {
            return Err(ClientError::Format(format!(
                "{}: rows {r0}..{} are past the tile's {} rows",
                self.tile.name(),
                r0 + n,
                self.georef.height
            )));
        }
        let (q, s) = self.codes_and_scales()?;
        let (p0, p1) = (r0 * w, (r0 + n) * w);
        if self.per_band_scales {
            tessera_core::quant::dequantise_per_value(&q[p0 * b..p1 * b], &s[p0 * b..p1 * b], out);
        } else {
            dequantise(&q[p0 * b..p1 * b], &s[p0..p1], b, out);
        }
        Ok(())
    }

    /// Dequantises rows `r0..r0 + n`, keeping `bands` (all when `None`), pixel-interleaved.
    pub fn rows(
        &self,
        r0: usize,
        n: usize,
        bands: Option<&[usize]>,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let (w, b) = (self.georef.width, self.bands());
        let Some(sel) = bands else {
            out.resize(n * w * b, 0.0);
            return self.rows_into(r0, out);
        };
        let (q, s) = self.codes_and_scales()?;
        let (px, p0) = (n * w, r0 * w);
        out.resize(px * sel.len(), 0.0);
        for (k, o) in out.chunks_exact_mut(sel.len()).enumerate() {
            let i = p0 + k;
            let qp = &q[i * b..(i + 1) * b];
            if self.per_band_scales {
                for (v, &bi) in o.iter_mut().zip(sel) {
                    *v = f32::from(qp[bi]) * tessera_core::quant::effective_scale(s[i * b + bi]);
                }
            } else {
                tessera_core::quant::dequantise_bands(qp, s[i], sel, o);
            }
        }
        Ok(())
    }
}

/// The georeference of a GeoTIFF (a landmask, or an export): CRS, transform and size.
/// A file that cannot be opened is an I/O error; one that is not a GeoTIFF we read, a
/// format error.
pub fn raster_georef(path: &Path) -> Result<TileGeoref> {
    let r = GeoTiffReader::open(path).map_err(tiff_error)?;
    georef_of(path, r.info())
}

fn tiff_error(e: TiffError) -> ClientError {
    match e {
        TiffError::IoAt { path, source } => ClientError::Io { path, source },
        other => ClientError::Format(other.to_string()),
    }
}

fn georef_of(path: &Path, i: &GeoTiffInfo) -> Result<TileGeoref> {
    let crs = i.crs.ok_or_else(|| {
        ClientError::Format(format!(
            "{}: raster without a supported EPSG CRS ({:?})",
            path.display(),
            i.epsg
        ))
    })?;
    let transform = i.transform.ok_or_else(|| {
        ClientError::Format(format!("{}: raster without a transform", path.display()))
    })?;
    Ok(TileGeoref {
        crs,
        transform,
        width: i.width as usize,
        height: i.height as usize,
    })
}

/// Where one tile-year's files would be in `dir`, in the reference's `tile_for_coord`
/// order: the NPY tile when its embedding, scales and landmask all exist, then each
/// existing GeoTIFF candidate (`{embeddings}/{Y}/grid_X_Y/grid_X_Y_{Y}.tiff` and
/// `grid_X_Y_{Y}.tiff` at the top, each also as `.tif`). Only these paths are looked at;
/// nothing is listed or opened.
pub fn tile_candidates(dir: &Path, year: i32, tile: TileId) -> Vec<TileSource> {
    let mut out = Vec::new();
    let (e, s, l) = npy_paths(dir, year, tile);
    if e.exists() && s.exists() && l.exists() {
        out.push(TileSource::Npy {
            embedding: e,
            scales: s,
            landmask: l,
        });
    }
    let name = format!("{}_{year}.tiff", tile.name());
    let nested = dir
        .join(EMBEDDINGS_DIR_NAME)
        .join(year.to_string())
        .join(tile.name())
        .join(&name);
    for c in [nested, dir.join(&name)] {
        for p in [c.clone(), c.with_extension("tif"), c.with_extension("tiff")] {
            if p.exists() {
                out.push(TileSource::GeoTiff(p));
            }
        }
    }
    out
}

impl EmbeddingTile {
    /// The embeddings of the pixels containing WGS84 points (`lon`, `lat` of equal
    /// length) into `out` (`points × bands`): the point is projected to the tile's CRS
    /// and floored as rasterio's `rowcol` does; rows of points outside the raster, or
    /// with non-finite coordinates, are NaN.
    pub fn sample_lonlat(&self, lon: &[f64], lat: &[f64], out: &mut [f32]) -> Result<()> {
        let b = self.bands();
        check_points(lon, lat, b, out)?;
        for ((&x, &y), o) in lon.iter().zip(lat).zip(out.chunks_exact_mut(b.max(1))) {
            match pixel_in(&self.georef, x, y) {
                Some((r, c)) => self.pixel(r, c, o)?,
                None => o.fill(f32::NAN),
            }
        }
        Ok(())
    }
}

fn check_points(lon: &[f64], lat: &[f64], bands: usize, out: &[f32]) -> Result<()> {
    if lon.len() != lat.len() || out.len() != lon.len() * bands {
        return Err(ClientError::Usage(format!(
            "{} longitudes, {} latitudes and room for {} values of {bands} bands",
            lon.len(),
            lat.len(),
            out.len()
        )));
    }
    Ok(())
}

/// The pixel containing a WGS84 point, when its projection is finite and inside.
fn pixel_in(g: &TileGeoref, lon: f64, lat: f64) -> Option<(usize, usize)> {
    if !lon.is_finite() || !lat.is_finite() {
        return None;
    }
    let (x, y) = g.crs.forward(lon, lat);
    if !x.is_finite() || !y.is_finite() {
        return None;
    }
    let (r, c) = g.transform.rowcol(x, y)?;
    (r >= 0 && c >= 0 && (r as usize) < g.height && (c as usize) < g.width)
        .then_some((r as usize, c as usize))
}

/// Largest block of decoded GeoTIFF rows that point sampling holds at once.
const SAMPLE_BLOCK_BYTES: usize = 256 << 20;

/// A float32 GeoTIFF tile (an export, or another georeferenced float32 raster): what the
/// file holds, with rows and points read on demand (each read opens the file anew, so a
/// `GeoTiffTile` is freely shared).
#[derive(Debug, Clone)]
pub struct GeoTiffTile {
    /// The file.
    pub path: PathBuf,
    /// Its size, bands, CRS, transform, nodata and tags.
    pub info: GeoTiffInfo,
}

impl GeoTiffTile {
    /// Reads the file's header.
    pub fn open(path: &Path) -> Result<GeoTiffTile> {
        let r = GeoTiffReader::open(path).map_err(tiff_error)?;
        Ok(GeoTiffTile {
            path: path.to_path_buf(),
            info: r.info().clone(),
        })
    }

    /// CRS, transform and size.
    pub fn georef(&self) -> Result<TileGeoref> {
        georef_of(&self.path, &self.info)
    }

    /// Bands per pixel.
    pub fn bands(&self) -> usize {
        usize::from(self.info.bands)
    }

    /// The year in the `TESSERA_YEAR` tag and the WGS84 `(lon, lat)` of the centre of
    /// pixel `(height / 2, width / 2)` (the reference's `src.xy(h // 2, w // 2)`), for a
    /// GeoTIFF whose name does not say which tile it is; `None` without the tag.
    pub fn tagged_identity(&self) -> Result<Option<(f64, f64, i32)>> {
        let Some(y) = self.info.metadata.get("TESSERA_YEAR") else {
            return Ok(None);
        };
        let year: i32 = y.trim().parse().map_err(|_| {
            ClientError::Format(format!(
                "{}: TESSERA_YEAR {y:?} is not a year",
                self.path.display()
            ))
        })?;
        let g = self.georef()?;
        let (x, y) = g.transform.apply(
            (self.info.width / 2) as f64 + 0.5,
            (self.info.height / 2) as f64 + 0.5,
        );
        let (lon, lat) = g.crs.inverse(x, y);
        Ok(Some((lon, lat, year)))
    }

    /// Rows `r0..r0 + n`, pixel-interleaved float32 (`n × width × bands`). With `masked`,
    /// samples equal to the nodata value (or NaN when nodata is NaN) read as NaN, as
    /// rasterio's `read(masked=True).filled(nan)` gives them.
    pub fn rows(&self, r0: usize, n: usize, masked: bool) -> Result<Vec<f32>> {
        let (r0, n) = (
            u32::try_from(r0).map_err(|_| ClientError::Usage(format!("row {r0} too large")))?,
            u32::try_from(n).map_err(|_| ClientError::Usage(format!("{n} rows too many")))?,
        );
        let mut r = GeoTiffReader::open(&self.path).map_err(tiff_error)?;
        let mut v = r.read_rows::<f32>(r0, n).map_err(tiff_error)?;
        if masked {
            self.mask_nodata(&mut v);
        }
        Ok(v)
    }

    fn mask_nodata(&self, v: &mut [f32]) {
        if let Some(nd) = self.info.nodata {
            // GDAL compares samples with the nodata value cast to the band type.
            let nd = nd as f32;
            if !nd.is_nan() {
                v.iter_mut()
                    .filter(|x| **x == nd)
                    .for_each(|x| *x = f32::NAN);
            }
        }
    }

    /// The samples of the pixels containing WGS84 points into `out` (`points × bands`),
    /// as rasterio's `sample(masked=True)` gives them after projecting each point to
    /// the raster's CRS: NaN rows outside the raster or for non-finite coordinates, NaN
    /// for nodata samples. Each block of rows holding points is decoded once.
    pub fn sample_lonlat(&self, lon: &[f64], lat: &[f64], out: &mut [f32]) -> Result<()> {
        let (g, b) = (self.georef()?, self.bands());
        check_points(lon, lat, b, out)?;
        let px: Vec<Option<(usize, usize)>> = lon
            .iter()
            .zip(lat)
            .map(|(&x, &y)| pixel_in(&g, x, y))
            .collect();
        out.fill(f32::NAN);
        let row_bytes = g.width * b * 4;
        let chunk_rows = (self.info.chunk.1 as usize).max(1);
        let per_block = if chunk_rows * row_bytes <= SAMPLE_BLOCK_BYTES {
            chunk_rows
        } else {
            1
        };
        let mut blocks: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, p) in px.iter().enumerate() {
            if let Some((r, _)) = p {
                blocks.entry(r / per_block).or_default().push(i);
            }
        }
        for (blk, idx) in blocks {
            let r0 = blk * per_block;
            let n = per_block.min(g.height - r0);
            let rows = self.rows(r0, n, true)?;
            for i in idx {
                let (r, c) = px[i].expect("grouped points have a pixel");
                let at = ((r - r0) * g.width + c) * b;
                out[i * b..(i + 1) * b].copy_from_slice(&rows[at..at + b]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tile_file_tests {
    use super::*;
    use tessera_core::Affine;
    use tessera_formats::dtype::DType;
    use tessera_formats::geotiff::{GeoTiffFile, GeoTiffSpec, Layout};

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"").unwrap();
    }

    #[test]
    fn candidates_in_the_reference_order_without_listing() {
        let d = tessera_testkit::scratch("tile-candidates");
        let tile: TileId = "grid_0.15_51.45".parse().unwrap();
        assert!(tile_candidates(&d, 2024, tile).is_empty());
        let (e, s, l) = npy_paths(&d, 2024, tile);
        touch(&e);
        touch(&s);
        assert!(
            tile_candidates(&d, 2024, tile).is_empty(),
            "no landmask: not an NPY tile"
        );
        touch(&l);
        let top = d.join("grid_0.15_51.45_2024.tif");
        touch(&top);
        let nested = d
            .join(EMBEDDINGS_DIR_NAME)
            .join("2024/grid_0.15_51.45/grid_0.15_51.45_2024.tiff");
        touch(&nested);
        let got = tile_candidates(&d, 2024, tile);
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(matches!(&got[0], TileSource::Npy { embedding, .. } if *embedding == e));
        assert_eq!(got[1], TileSource::GeoTiff(nested.clone()));
        assert_eq!(got[2], TileSource::GeoTiff(nested));
        assert_eq!(got[3], TileSource::GeoTiff(top));
        assert!(tile_candidates(&d, 2023, tile).is_empty());
    }

    #[test]
    fn geotiff_tile_rows_nodata_and_points() {
        let d = tessera_testkit::scratch("geotiff-tile");
        let p = d.join("grid_0.15_51.45_2024.tif");
        let tile: TileId = "grid_0.15_51.45".parse().unwrap();
        let g = TileGeoref::of_tile(tile);
        let (w, h, b) = (20u32, 300u32, 2u16);
        let mut spec = GeoTiffSpec::new(w, h, b, DType::F32);
        spec.layout = Layout::Tiled(256);
        spec.georef = Some((g.crs, Affine::north_up(g.transform.c, g.transform.f, 10.0)));
        spec.nodata = Some(-9999.0);
        spec.metadata.set("TESSERA_YEAR", "2024");
        let v: Vec<f32> = (0..w * h * u32::from(b))
            .map(|i| if i % 7 == 0 { -9999.0 } else { i as f32 })
            .collect();
        let mut f = GeoTiffFile::create(&p, spec).unwrap();
        f.writer().write_rows(&v).unwrap();
        f.finish().unwrap();

        let t = GeoTiffTile::open(&p).unwrap();
        assert_eq!((t.bands(), t.georef().unwrap().height), (2, 300));
        let raw = t.rows(250, 30, false).unwrap();
        let at = 250 * (w as usize) * 2;
        assert_eq!(raw, v[at..at + 30 * (w as usize) * 2]);
        let masked = t.rows(0, 1, true).unwrap();
        assert!(masked[0].is_nan() && masked[1] == 1.0);
        // Points: the centre of pixel (row 260, col 3), one outside, one not finite.
        let tr = t.georef().unwrap().transform;
        let (x, y) = tr.apply(3.5, 260.5);
        let (lon, lat) = g.crs.inverse(x, y);
        let mut out = vec![0f32; 6];
        t.sample_lonlat(&[lon, 10.0, f64::NAN], &[lat, 10.0, 51.4], &mut out)
            .unwrap();
        let i = (260 * w as usize + 3) * 2;
        let want = |k: usize| if v[k] == -9999.0 { f32::NAN } else { v[k] };
        assert_eq!(out[0].to_bits(), want(i).to_bits());
        assert_eq!(out[1].to_bits(), want(i + 1).to_bits());
        assert!(out[2..].iter().all(|x| x.is_nan()));
        let (ilon, ilat, year) = t.tagged_identity().unwrap().unwrap();
        assert_eq!(year, 2024);
        let (cx, cy) = tr.apply(10.5, 150.5);
        assert_eq!((ilon, ilat), g.crs.inverse(cx, cy));
    }
}
