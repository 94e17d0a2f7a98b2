//! What `info` reports: a dataset's coverage counts, where each published dataset's store
//! is read, and the tiles in a local directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tessera_client::local::{TileSource, discover, geotiff_exports};
use tessera_client::{ClientError, Result};
use tessera_core::TileGeoref;
use tessera_core::dataset::{DATASETS, StoreLocation, keys, store_location};

use super::TileDataset;
use crate::{Context, Progress};

/// A dataset's coverage.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DatasetCounts {
    /// Tiles per year.
    pub tiles_per_year: BTreeMap<i32, usize>,
    /// Tile-years in all.
    pub tile_years: usize,
    /// Distinct tiles.
    pub tiles: usize,
    /// Landmasks in the landmask registry (0 when it was not loaded).
    pub landmasks: usize,
    /// The dataset's `npy/` directory.
    pub npy_dir: String,
}

impl TileDataset {
    /// Counts for `info`: tiles per year, tile-years, distinct tiles, landmasks.
    pub fn counts(&self) -> Result<DatasetCounts> {
        let rows = self.rows()?;
        let mut tiles_per_year = BTreeMap::new();
        for e in &rows {
            *tiles_per_year.entry(e.year).or_default() += 1;
        }
        let mut tiles: Vec<_> = rows.iter().map(|e| e.tile).collect();
        tiles.sort();
        tiles.dedup();
        Ok(DatasetCounts {
            tiles_per_year,
            tile_years: rows.len(),
            tiles: tiles.len(),
            landmasks: self.registry.landmasks.as_ref().map_or(0, |l| l.len()),
            npy_dir: self.registry.npy_dir.clone(),
        })
    }
}

/// Where one published dataset's store is read from under a mirror.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoreUrl {
    /// `v1.1`.
    pub version: String,
    /// `dclimate`.
    pub variant: String,
    /// The URL (or path) this context reads it from.
    pub url: String,
}

/// The store of every published dataset with one, under the context's mirror (the direct
/// S3 route for the published mirror, unless `via_gateway`).
pub fn dataset_store_urls(ctx: &Context, via_gateway: bool) -> Vec<StoreUrl> {
    DATASETS
        .iter()
        .filter_map(|d| {
            let loc = store_location(&format!("v{}", d.version), Some(d.variant)).ok()?;
            let url = match loc {
                StoreLocation::ZarrDir(z) => tessera_core::dataset::zarr_read_root(
                    &ctx.mirror.root.locate(&keys::zarr_store(&z)),
                    via_gateway,
                ),
                StoreLocation::Icechunk(u) => u,
            };
            Some(StoreUrl {
                version: format!("v{}", d.version),
                variant: d.variant.to_string(),
                url,
            })
        })
        .collect()
}

/// The tiles in a local directory.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LocalTilesSummary {
    /// The directory.
    pub dir: PathBuf,
    /// `(name, year)` of every tile-year found.
    pub list: Vec<(String, i32)>,
    /// NPY tile-years.
    pub npy: usize,
    /// GeoTIFF tile-years (without an NPY of the same tile-year).
    pub geotiff: usize,
    /// GeoTIFF files in all.
    pub geotiff_files: usize,
    /// GeoTIFFs beside an NPY of the same tile-year (the NPY is read).
    pub geotiff_beside_npy: usize,
    /// `NPY`, `GEOTIFF` or `GEOTIFF, NPY (USING NPY)`.
    pub format: String,
    /// Years, ascending.
    pub years: Vec<i32>,
    /// CRSs, sorted.
    pub crs: Vec<String>,
    /// `[W, S, E, N]` of the tiles.
    pub extent: [f64; 4],
}

/// Describes the tiles in `dir`; unreadable entries are warnings, no tiles is an error.
pub fn local_tiles(dir: &Path, progress: &Progress) -> Result<LocalTilesSummary> {
    let (found, warnings) = discover(dir)?;
    for w in warnings {
        progress.warn(w);
    }
    if found.is_empty() {
        return Err(ClientError::NoData(format!(
            "no tiles found in {}",
            dir.display()
        )));
    }
    let npy = found
        .iter()
        .filter(|t| matches!(t.source, TileSource::Npy { .. }))
        .count();
    let tif = found.len() - npy;
    let tif_files = geotiff_exports(dir).len();
    let shadowed = tif_files.saturating_sub(tif);
    let mut years: Vec<i32> = found.iter().map(|t| t.year).collect();
    years.sort_unstable();
    years.dedup();
    let mut crs: Vec<String> = found
        .iter()
        .map(|t| TileGeoref::of_tile(t.tile).crs.to_string())
        .collect();
    crs.sort();
    crs.dedup();
    let fold = |f: fn(f64, f64) -> f64, init: f64, by: fn(&tessera_core::TileId) -> f64| {
        found.iter().map(|t| by(&t.tile)).fold(init, f)
    };
    let extent = [
        fold(f64::min, f64::INFINITY, |t| t.lon()) - 0.05,
        fold(f64::min, f64::INFINITY, |t| t.lat()) - 0.05,
        fold(f64::max, f64::NEG_INFINITY, |t| t.lon()) + 0.05,
        fold(f64::max, f64::NEG_INFINITY, |t| t.lat()) + 0.05,
    ];
    let format = match (npy > 0, tif > 0 || shadowed > 0) {
        (true, true) => "GEOTIFF, NPY (USING NPY)",
        (true, false) => "NPY",
        _ => "GEOTIFF",
    };
    Ok(LocalTilesSummary {
        dir: dir.to_path_buf(),
        list: found.iter().map(|t| (t.tile.name(), t.year)).collect(),
        npy,
        geotiff: tif,
        geotiff_files: tif_files,
        geotiff_beside_npy: shadowed,
        format: format.to_string(),
        years,
        crs,
        extent,
    })
}
