//! Mosaics of a dataset's tiles (`fetch_mosaic_for_region`, `tessera mosaic`): the tiles
//! of a region, downloaded when missing, resampled onto one grid in strips.

use std::path::{Path, PathBuf};

use tessera_client::local::{EmbeddingTile, npy_paths};
use tessera_client::{ClientError, Result};
use tessera_core::Bbox;
use tessera_formats::geotiff::GdalMetadata;
use tessera_pictures::mosaic::{Mosaic, MosaicOptions, Source};
use tessera_pictures::output::Written;
pub use tessera_pictures::output::{OutputOptions, OutputType, scales_path};
use tessera_pictures::{PictureError, TargetGrid};

use super::TileDataset;
use super::fetch::{EnsureOptions, tile_present};
use crate::Progress;

/// A mosaic in memory (`height x width x bands`, NaN where no tile has a value).
#[derive(Debug)]
pub struct MosaicArray {
    /// The values.
    pub data: Vec<f32>,
    /// The grid they lie on.
    pub grid: TargetGrid,
    /// Bands per pixel.
    pub bands: usize,
    /// Tiles used.
    pub tiles: usize,
}

/// A mosaic written to a GeoTIFF.
#[derive(Debug)]
pub struct MosaicFile {
    /// The file.
    pub path: PathBuf,
    /// The grid.
    pub grid: TargetGrid,
    /// Bands per pixel.
    pub bands: usize,
    /// Tiles used.
    pub tiles: usize,
    /// Output rows rendered at a time (bounded by the memory budget).
    pub strip_rows: usize,
}

/// The picture layer's errors in the library's terms.
pub(crate) fn picture_error(e: PictureError) -> ClientError {
    match e {
        PictureError::Usage(m) => ClientError::Usage(m),
        PictureError::Source(m) | PictureError::Io(m) => ClientError::Format(m),
        PictureError::Cancelled => ClientError::Cancelled,
    }
}

/// Writes a planned mosaic to `out` with the tags every mosaic carries (target CRS, year)
/// and `tags`; progress counts output rows, cancellation is checked between strips.
pub(crate) fn write_mosaic<S: Source>(
    m: &Mosaic<S>,
    crs: tessera_core::Crs,
    year: i32,
    tags: &[(&str, String)],
    out: &Path,
    output: OutputOptions,
    progress: &Progress,
) -> Result<Written> {
    let mut md = GdalMetadata::default();
    md.set("TESSERA_TARGET_CRS", crs.to_string());
    md.set("TESSERA_YEAR", year.to_string());
    for (k, v) in tags {
        md.set(k, v.clone());
    }
    progress.start_phase("mosaic", m.grid.height as u64);
    tessera_pictures::output::write_mosaic(
        m,
        out,
        output,
        md,
        &|| progress.is_cancelled(),
        &|done, _| progress.set_done(done),
    )
    .map_err(picture_error)
}

impl TileDataset {
    /// The tiles of `year` a mosaic of `bbox` needs (centres within the box grown by 0.05
    /// degrees, as the reference selects them), downloaded into `dir` first when missing
    /// and `auto_download`, opened and sorted by name.
    pub(crate) fn mosaic_tiles(
        &self,
        dir: &Path,
        bbox: &Bbox,
        year: i32,
        auto_download: bool,
        progress: &Progress,
    ) -> Result<Vec<EmbeddingTile>> {
        let entries = self.tiles_in_bounds(bbox.to_array(), year)?;
        if entries.is_empty() {
            return Err(ClientError::NoData(format!(
                "No tiles found for the requested region/year: {year} has no tile in {:?}",
                bbox.to_array()
            )));
        }
        if auto_download {
            let rep = self.ensure_tiles(dir, &entries, EnsureOptions::default(), progress)?;
            if let Some(e) = rep.first_failure() {
                return Err(e);
            }
        }
        let mut tiles = Vec::with_capacity(entries.len());
        for e in &entries {
            if !tile_present(dir, e.year, e.tile) {
                let (p, _, _) = npy_paths(dir, e.year, e.tile);
                return Err(ClientError::Io {
                    path: p,
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "the tile is not in the tiles directory; download it first or allow \
                         downloads",
                    ),
                });
            }
            let (ep, sp, lp) = npy_paths(dir, e.year, e.tile);
            tiles.push(EmbeddingTile::open(e.tile, e.year, &ep, &sp, Some(&lp))?);
        }
        tiles.sort_by_key(|t| t.tile.name());
        Ok(tiles)
    }

    /// `fetch_mosaic_for_region`: the tiles of `bbox` for `year` resampled onto one grid in
    /// memory.
    pub fn mosaic_array(
        &self,
        dir: &Path,
        bbox: &Bbox,
        year: i32,
        opts: MosaicOptions,
        auto_download: bool,
        progress: &Progress,
    ) -> Result<MosaicArray> {
        let tiles = self.mosaic_tiles(dir, bbox, year, auto_download, progress)?;
        let m = Mosaic::new(bbox, &tiles, opts).map_err(picture_error)?;
        progress.start_phase("mosaic", m.grid.height as u64);
        let data = m.to_vec().map_err(picture_error)?;
        progress.set_done(m.grid.height as u64);
        Ok(MosaicArray {
            data,
            grid: m.grid,
            bands: m.bands,
            tiles: tiles.len(),
        })
    }

    /// `tessera mosaic`: the same mosaic written to a float32 GeoTIFF at `out`, strip by
    /// strip within the options' memory budget; nothing is left under `out` on failure.
    #[allow(clippy::too_many_arguments)]
    pub fn mosaic_to_geotiff(
        &self,
        dir: &Path,
        bbox: &Bbox,
        year: i32,
        opts: MosaicOptions,
        auto_download: bool,
        out: &Path,
        output: OutputOptions,
        progress: &Progress,
    ) -> Result<MosaicFile> {
        let tiles = self.mosaic_tiles(dir, bbox, year, auto_download, progress)?;
        let crs = opts.crs;
        let m = Mosaic::new(bbox, &tiles, opts).map_err(picture_error)?;
        let tags = [
            ("TESSERA_TILE_COUNT", tiles.len().to_string()),
            ("TESSERA_DATASET", self.label()),
        ];
        let w = write_mosaic(&m, crs, year, &tags, out, output, progress)?;
        Ok(MosaicFile {
            path: w.path,
            grid: m.grid,
            bands: m.bands,
            tiles: tiles.len(),
            strip_rows: w.strip_rows,
        })
    }
}

/// What `tessera mosaic` asks for.
#[derive(Debug, Clone)]
pub struct MosaicRequest {
    /// The region.
    pub region: super::RegionArgs,
    /// The year.
    pub year: i32,
    /// The tiles directory (the reference's `embeddings_dir`): tiles are read from it and
    /// downloaded into it when missing.
    pub tiles_dir: PathBuf,
    /// Download missing tiles.
    pub auto_download: bool,
    /// Grid, resampling and memory budget.
    pub opts: MosaicOptions,
    /// The target CRS; replaces `opts.crs` when set (`tm`: centred on the region).
    pub crs: Option<tessera_pictures::CrsChoice>,
    /// The GeoTIFF to write.
    pub output: PathBuf,
    /// Its compression, layout (GeoTIFF or COG) and sample type.
    pub output_options: OutputOptions,
}

/// Resolves the dataset and region of `req` and writes its mosaic (one call for a face).
pub fn mosaic(
    ctx: &crate::Context,
    dataset: &super::DatasetOptions,
    req: &MosaicRequest,
    progress: &Progress,
) -> Result<MosaicFile> {
    if let Some(parent) = req.output.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(ClientError::Usage(format!(
            "{}: the output's directory does not exist; create it first",
            req.output.display()
        )));
    }
    let region = super::resolve_region(&req.region, progress)?;
    let mut opts = req.opts.clone();
    if let Some(c) = req.crs {
        opts.crs = c.resolve(&region.bounds());
    }
    let ds = TileDataset::open(ctx, dataset, progress)?;
    let created = super::prepare_output(&req.tiles_dir)?;
    let r = ds.mosaic_to_geotiff(
        &req.tiles_dir,
        &region.bounds(),
        req.year,
        opts,
        req.auto_download,
        &req.output,
        req.output_options,
        progress,
    );
    if r.is_err() {
        super::remove_empty(&created);
    }
    r
}
