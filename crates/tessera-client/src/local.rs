//! Tiles in a local directory (the reference's layout) and reading them.
//!
//! Discovery finds NPY tiles under `global_0.1_degree_representation/{Y}/grid_X_Y/` that
//! have their embedding, scales and landmask, and GeoTIFF exports recognised by name
//! (`grid_X_Y_YYYY.tif[f]`) or by a `TESSERA_YEAR` tag; NPY wins for the same tile-year.
//! An [`EmbeddingTile`] keeps int8 + scales memory-mapped and dequantises late, in rows.

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tessera_core::dataset::{EMBEDDINGS_DIR_NAME, LANDMASKS_DIR_NAME, keys};
use tessera_core::quant::dequantise;
use tessera_core::{Crs, TileGeoref, TileId};
use tessera_formats::geotiff::GeoTiffReader;
use tessera_formats::npy::NpyFile;

use crate::error::{ClientError, Result};

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
        let georef = match landmask {
            Some(l) => {
                let r = GeoTiffReader::open(l).map_err(|e| ClientError::Format(e.to_string()))?;
                let i = r.info();
                let crs = i.crs.ok_or_else(|| {
                    ClientError::Format(format!(
                        "{}: landmask without a supported EPSG CRS ({:?})",
                        l.display(),
                        i.epsg
                    ))
                })?;
                let transform = i.transform.ok_or_else(|| {
                    ClientError::Format(format!("{}: landmask without a transform", l.display()))
                })?;
                TileGeoref {
                    crs,
                    transform,
                    width: i.width as usize,
                    height: i.height as usize,
                }
            }
            None => TileGeoref::of_tile(tile),
        };
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
        let q = self.quantised_pixel(row, col)?;
        let s = self
            .scales
            .as_slice::<f32>()
            .map_err(|e| ClientError::Format(e.to_string()))?;
        let i = row * self.georef.width + col;
        if self.per_band_scales {
            tessera_core::quant::dequantise_per_value(q, &s[i * b..(i + 1) * b], out);
        } else {
            dequantise(q, &s[i..i + 1], b, out);
        }
        Ok(())
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
        let q = self
            .emb
            .as_slice::<i8>()
            .map_err(|e| ClientError::Format(e.to_string()))?;
        let s = self
            .scales
            .as_slice::<f32>()
            .map_err(|e| ClientError::Format(e.to_string()))?;
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
        let q = self
            .emb
            .as_slice::<i8>()
            .map_err(|e| ClientError::Format(e.to_string()))?;
        let s = self
            .scales
            .as_slice::<f32>()
            .map_err(|e| ClientError::Format(e.to_string()))?;
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
