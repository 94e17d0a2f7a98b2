//! Tile access: a dataset's NPY tiles and their registry. Open a [`TileDataset`] (the
//! dataset, its manifest and landmask registry, optionally scoped to a bbox), ask which
//! tiles a region holds, make tiles present in a local directory, read one as float32 with
//! its georeference, export GeoTIFFs, run a whole download, and sample points.

mod download;
mod fetch;
mod info;
pub(crate) mod mosaic;
mod sample;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tessera_client::registry::{Registry, RegistrySource};
use tessera_client::{ClientError, Result};
use tessera_core::dataset::keys;
use tessera_core::{Bbox, DatasetRef, TileId};
use tessera_formats::manifest::{ManifestEntry, ManifestQuery};

use crate::{Context, Progress};

pub use download::{
    DownloadOutcome, DownloadPlan, DownloadRequest, DownloadSummary, DryRun, TileFormat, download,
    plan_download,
};
pub use fetch::{
    EnsureOptions, EnsureReport, ExportOptions, ExportReport, TileArray, tile_present,
};
pub use info::{DatasetCounts, LocalTilesSummary, StoreUrl, dataset_store_urls, local_tiles};
pub use mosaic::{
    MosaicArray, MosaicFile, MosaicRequest, OutputOptions, OutputType, mosaic, scales_path,
};
pub(crate) use mosaic::{picture_error, write_mosaic};
pub use sample::{PointSamples, SampleSource, prepare_tiles_dir};
pub use tessera_client::export::{METADATA_FILE, parse_bands};
pub use tessera_client::points::{
    Column, PointMeta, PointTable, read_points, read_points_in, write_samples,
};
pub use tessera_client::region::{Region, RegionArgs};
pub use tessera_formats::geotiff::Compression;
pub use tessera_pictures::{MosaicOptions, Resampling};

/// How a [`TileDataset`] is opened, with the reference's defaults (`GeoTessera(...)`).
#[derive(Clone, Debug)]
pub struct DatasetOptions {
    /// Dataset version (`v1`, `v1.1`, ...).
    pub version: String,
    /// Variant; `None`: the version's one default.
    pub variant: Option<String>,
    /// A directory holding `manifest.parquet` (and `landmasks.parquet`) to use instead of
    /// the mirror's.
    pub registry_dir: Option<PathBuf>,
    /// The manifest's URL instead of the mirror's.
    pub registry_url: Option<String>,
    /// A local manifest file to use as it is.
    pub registry_path: Option<PathBuf>,
    /// A local landmask registry file to use as it is.
    pub landmasks_registry_path: Option<PathBuf>,
    /// Load only tiles whose centres lie within this `[W, S, E, N]` grown by
    /// [`Self::bbox_margin_deg`]; queries outside it are errors.
    pub bbox: Option<[f64; 4]>,
    /// Degrees added to each side of [`Self::bbox`] (default 0.15).
    pub bbox_margin_deg: f64,
    /// Make no request: use cached registries as they are (or fail).
    pub offline: bool,
}

impl Default for DatasetOptions {
    fn default() -> Self {
        DatasetOptions {
            version: "v1.1".into(),
            variant: None,
            registry_dir: None,
            registry_url: None,
            registry_path: None,
            landmasks_registry_path: None,
            bbox: None,
            bbox_margin_deg: 0.15,
            offline: false,
        }
    }
}

impl DatasetOptions {
    /// The dataset these options name (no I/O): the version's default variant unless one
    /// is given; an unknown version or variant is a usage error.
    pub fn dataset(&self) -> Result<DatasetRef> {
        DatasetRef::resolve(&self.version, self.variant.as_deref(), true)
            .map_err(|e| ClientError::Usage(e.to_string()))
    }
}

/// How a dataset is named in messages and summaries: `v1.1 cambridge`.
pub fn dataset_label(d: &DatasetRef) -> String {
    format!("{} {}", d.version.path, d.variant)
}

/// Resolves region selectors (bbox, tile, region file, country) to WGS84 bounds. What a
/// country name resolved to is recorded as an note.
pub fn resolve_region(args: &RegionArgs, progress: &Progress) -> Result<Region> {
    let region = tessera_client::region::resolve(args)?;
    if let Some(c) = &region.country {
        progress.note(c.to_string());
    }
    Ok(region)
}

/// A bbox written as the reference writes a tuple of floats: `(0.0, 52.0, 0.1, 52.1)`.
fn tuple(b: [f64; 4]) -> String {
    format!("({:?}, {:?}, {:?}, {:?})", b[0], b[1], b[2], b[3])
}

/// An opened dataset: its identity, registry, and optional bbox scope.
#[derive(Clone)]
pub struct TileDataset {
    ctx: Context,
    dataset: DatasetRef,
    registry: Registry,
    bbox: Option<[f64; 4]>,
    margin: f64,
    scope: Option<Bbox>,
}

impl TileDataset {
    /// Resolves the dataset and loads its registries (the mirror's, cached, unless the
    /// options name others). Registry warnings go to `progress`.
    pub fn open(ctx: &Context, opts: &DatasetOptions, progress: &Progress) -> Result<TileDataset> {
        let dataset = opts.dataset()?;
        dataset.npy_dir()?;
        let scope = match opts.bbox {
            None => None,
            Some(b) => {
                if b.iter().any(|v| !v.is_finite()) {
                    return Err(ClientError::Usage(format!(
                        "bbox must be (min_lon, min_lat, max_lon, max_lat) with finite values; got {}",
                        tuple(b)
                    )));
                }
                if b[0] > b[2] || b[1] > b[3] {
                    return Err(ClientError::Usage(format!(
                        "bbox must be (min_lon, min_lat, max_lon, max_lat) with min <= max; got {}. Bounds crossing the antimeridian are not supported.",
                        tuple(b)
                    )));
                }
                let m = opts.bbox_margin_deg;
                if m.is_nan() || m < 0.0 {
                    return Err(ClientError::Usage(format!(
                        "bbox_margin_deg must be non-negative; got {m:?}"
                    )));
                }
                Some(Bbox {
                    west: b[0] - m,
                    south: b[1] - m,
                    east: b[2] + m,
                    north: b[3] + m,
                })
            }
        };
        let src = RegistrySource {
            cache_dir: ctx.cache_dir.clone(),
            registry_dir: opts.registry_dir.clone(),
            offline: opts.offline,
            manifest_url: opts.registry_url.clone(),
            manifest_path: opts.registry_path.clone(),
            landmasks_path: opts.landmasks_registry_path.clone(),
        };
        let mirror = ctx.mirror.with_cancel(progress.token());
        let registry = crate::runtime()?.block_on(Registry::open(&mirror, &dataset, &src))?;
        for w in &registry.warnings {
            progress.warn(w.clone());
        }
        let ds = TileDataset {
            ctx: ctx.clone(),
            dataset,
            registry,
            bbox: opts.bbox,
            margin: opts.bbox_margin_deg,
            scope,
        };
        if let (Some(b), Some(_)) = (opts.bbox, scope)
            && ds.rows()?.is_empty()
        {
            return Err(ClientError::NoData(format!(
                "Manifest has no tiles within bbox {} for version={}, variant={}.",
                tuple(b),
                ds.dataset.version.norm,
                ds.dataset.variant
            )));
        }
        Ok(ds)
    }

    /// The context the dataset reads through.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The dataset.
    pub fn dataset(&self) -> &DatasetRef {
        &self.dataset
    }

    /// `v1.1 cambridge`.
    pub fn label(&self) -> String {
        dataset_label(&self.dataset)
    }

    /// The registries as loaded.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The manifest file on disk.
    pub fn manifest_path(&self) -> &Path {
        &self.registry.manifest_path
    }

    /// The bbox the dataset was scoped to, if any.
    pub fn bbox(&self) -> Option<[f64; 4]> {
        self.bbox
    }

    /// Refuses `bounds` grown by `expansion` when they leave the scope (reference text).
    fn check_scope(&self, bounds: [f64; 4], expansion: f64) -> Result<()> {
        let (Some(s), Some(b)) = (self.scope, self.bbox) else {
            return Ok(());
        };
        let eps = 1e-9;
        if bounds[0] - expansion < s.west - eps
            || bounds[1] - expansion < s.south - eps
            || bounds[2] + expansion > s.east + eps
            || bounds[3] + expansion > s.north + eps
        {
            return Err(ClientError::Usage(format!(
                "Bounds {} extend outside the registry bbox {} (margin {} deg). Construct the registry with a larger bbox, or without one.",
                tuple(bounds),
                tuple(b),
                self.margin
            )));
        }
        Ok(())
    }

    /// Every loaded row (all years; only those within the scope when scoped).
    fn rows(&self) -> Result<Vec<ManifestEntry>> {
        Ok(self
            .registry
            .query(ManifestQuery {
                bbox: self.scope,
                with_scales_size: true,
                ..Default::default()
            })?
            .entries)
    }

    /// The tile-years of `year` in `query_box` (already grown as the caller wants), in
    /// manifest order.
    pub fn entries_in(&self, query_box: Bbox, year: i32) -> Result<Vec<ManifestEntry>> {
        let b = [
            query_box.west,
            query_box.south,
            query_box.east,
            query_box.north,
        ];
        self.check_scope(b, 0.0)?;
        self.registry.in_box(query_box, year)
    }

    /// The tiles of `year` whose boxes meet `bounds` `[W, S, E, N]`: centres within the
    /// bounds grown by 0.05 degrees (edges inclusive), in manifest order, as
    /// `load_blocks_for_region` selects them.
    pub fn tiles_in_bounds(&self, bounds: [f64; 4], year: i32) -> Result<Vec<ManifestEntry>> {
        if bounds.iter().any(|v| !v.is_finite()) || bounds[0] > bounds[2] || bounds[1] > bounds[3] {
            return Err(ClientError::Usage(format!(
                "bounds must be (min_lon, min_lat, max_lon, max_lat) with finite values and min <= max; got {}",
                tuple(bounds)
            )));
        }
        self.check_scope(bounds, 0.05)?;
        let q = Bbox {
            west: bounds[0],
            south: bounds[1],
            east: bounds[2],
            north: bounds[3],
        }
        .expanded(0.05);
        self.registry.in_box(q, year)
    }

    /// `load_blocks_for_region`: `(year, lon, lat)` of the tiles in `bounds`.
    pub fn load_blocks_for_region(
        &self,
        bounds: [f64; 4],
        year: i32,
    ) -> Result<Vec<(i32, f64, f64)>> {
        Ok(self
            .tiles_in_bounds(bounds, year)?
            .iter()
            .map(year_lon_lat)
            .collect())
    }

    /// `embeddings_count`: how many tiles of `year` lie in `bounds`.
    pub fn embeddings_count(&self, bounds: [f64; 4], year: i32) -> Result<usize> {
        Ok(self.tiles_in_bounds(bounds, year)?.len())
    }

    /// The tile-years of `year` in a resolved region (its query box); an empty region is an
    /// error that says what exists instead (other years, swapped axes, the nearest tile).
    pub fn tiles_in_region(&self, region: &Region, year: i32) -> Result<Vec<ManifestEntry>> {
        let tiles = self.entries_in(region.query_box(), year)?;
        if tiles.is_empty() {
            let why = self.registry.explain_empty(region.query_box(), year)?;
            return Err(ClientError::NoData(format!("{}: {why}", region.label)));
        }
        Ok(tiles)
    }

    /// The years with tiles, ascending.
    pub fn years(&self) -> Result<Vec<i32>> {
        Ok(self.tile_counts_by_year()?.into_keys().collect())
    }

    /// Tiles per year.
    pub fn tile_counts_by_year(&self) -> Result<BTreeMap<i32, usize>> {
        let mut per_year = BTreeMap::new();
        for e in self.rows()? {
            *per_year.entry(e.year).or_default() += 1;
        }
        Ok(per_year)
    }

    /// `(year, lon, lat)` of every tile-year, in manifest order.
    pub fn available_embeddings(&self) -> Result<Vec<(i32, f64, f64)>> {
        Ok(self.rows()?.iter().map(year_lon_lat).collect())
    }

    /// `(lon, lat)` of every landmask (the embedding tiles when no landmask registry was
    /// loaded, as the reference falls back), sorted.
    pub fn available_landmasks(&self) -> Result<Vec<(f64, f64)>> {
        let mut tiles: Vec<TileId> = match &self.registry.landmasks {
            Some(l) => l.keys().copied().collect(),
            None => self.rows()?.iter().map(|e| e.tile).collect(),
        };
        tiles.sort();
        tiles.dedup();
        Ok(tiles
            .iter()
            .map(|t| (f64::from(t.lon_i()) / 100.0, f64::from(t.lat_i()) / 100.0))
            .collect())
    }

    /// How many landmasks there are (see [`Self::available_landmasks`]).
    pub fn landmask_count(&self) -> Result<usize> {
        match &self.registry.landmasks {
            Some(l) => Ok(l.len()),
            None => self.available_landmasks().map(|v| v.len()),
        }
    }

    /// The manifest row of the tile-year containing `(lon, lat)`.
    pub fn entry(&self, year: i32, lon: f64, lat: f64) -> Result<ManifestEntry> {
        let tile = TileId::containing(lon, lat).map_err(|e| ClientError::Usage(e.to_string()))?;
        // A registry scoped to a bbox knows nothing outside it, even when the manifest
        // behind it does.
        self.check_scope([lon, lat, lon, lat], 0.0)?;
        let q = Bbox {
            west: tile.lon(),
            south: tile.lat(),
            east: tile.lon(),
            north: tile.lat(),
        }
        .expanded(0.01);
        let found = self
            .registry
            .in_box(q, year)?
            .into_iter()
            .find(|e| e.tile == tile);
        match found {
            Some(e) => Ok(e),
            None => Err(ClientError::NoData(format!(
                "Tile not found in registry: year={year}, lon={:.2}, lat={:.2}",
                tile.lon(),
                tile.lat()
            ))),
        }
    }

    /// The embedding file's size in bytes (from the manifest).
    pub fn tile_file_size(&self, year: i32, lon: f64, lat: f64) -> Result<u64> {
        Ok(self.entry(year, lon, lat)?.grid_size.max(0) as u64)
    }

    /// The scales file's size in bytes (from the manifest).
    pub fn scales_file_size(&self, year: i32, lon: f64, lat: f64) -> Result<u64> {
        match self.entry(year, lon, lat)?.scales_size {
            Some(s) => Ok(s.max(0) as u64),
            None => Err(ClientError::Format(
                "Registry is missing 'scales_size' column. Please update your registry to include scales file size metadata.".into(),
            )),
        }
    }

    /// The landmask file's size in bytes (from the landmask registry).
    pub fn landmask_file_size(&self, lon: f64, lat: f64) -> Result<u64> {
        let tile = TileId::containing(lon, lat).map_err(|e| ClientError::Usage(e.to_string()))?;
        let Some(l) = &self.registry.landmasks else {
            return Err(ClientError::Format(
                "Landmasks registry is not loaded. Please ensure landmasks.parquet is available."
                    .into(),
            ));
        };
        l.get(&tile).map(|&s| s.max(0) as u64).ok_or_else(|| {
            ClientError::NoData(format!(
                "Landmask not found in registry: lon={:.2}, lat={:.2}",
                tile.lon(),
                tile.lat()
            ))
        })
    }

    fn landmask_size(&self, t: TileId) -> Option<u64> {
        self.registry
            .landmasks
            .as_ref()
            .and_then(|l| l.get(&t))
            .map(|&s| s.max(0) as u64)
    }

    /// `calculate_download_requirements`: `(bytes, files, sizes by file key)` of fetching
    /// `tiles` into `output_dir` as `format`; with `check_existing`, files already there
    /// are not counted (NPY). TIFF is estimated as four times the embedding plus the
    /// landmask per tile, as the reference does.
    pub fn calculate_download_requirements(
        &self,
        tiles: &[(i32, f64, f64)],
        output_dir: &Path,
        format: TileFormat,
        check_existing: bool,
    ) -> Result<(u64, usize, BTreeMap<String, u64>)> {
        let (mut bytes, mut files, mut sizes) = (0u64, 0usize, BTreeMap::new());
        for &(year, lon, lat) in tiles {
            match format {
                TileFormat::Npy => {
                    let tile = TileId::containing(lon, lat)
                        .map_err(|e| ClientError::Usage(e.to_string()))?;
                    let (ep, sp, lp) = tessera_client::local::npy_paths(output_dir, year, tile);
                    let todo = |p: &Path| !check_existing || !p.exists();
                    if todo(&ep) {
                        let s = self.tile_file_size(year, lon, lat)?;
                        sizes.insert(format!("embedding_{year}_{lon}_{lat}"), s);
                        bytes += s;
                        files += 1;
                    }
                    if todo(&sp) {
                        let s = self.scales_file_size(year, lon, lat)?;
                        sizes.insert(format!("scales_{year}_{lon}_{lat}"), s);
                        bytes += s;
                        files += 1;
                    }
                    if todo(&lp) {
                        let s = self.landmask_file_size(lon, lat)?;
                        sizes.insert(format!("landmask_{lon}_{lat}"), s);
                        bytes += s;
                        files += 1;
                    }
                }
                TileFormat::Tiff => {
                    let e = self.tile_file_size(year, lon, lat)?;
                    let l = self.landmask_file_size(lon, lat)?;
                    bytes += e * 4 + l;
                    files += 1;
                }
            }
        }
        Ok((bytes, files, sizes))
    }

    /// The download items of a tile-year's NPY triple into `dir` (the reference's layout).
    fn triple(&self, dir: &Path, e: &ManifestEntry) -> [tessera_client::download::DownloadItem; 3] {
        use tessera_client::download::DownloadItem;
        let (ep, sp, lp) = tessera_client::local::npy_paths(dir, e.year, e.tile);
        let npy = &self.registry.npy_dir;
        [
            DownloadItem {
                key: keys::embedding(npy, e.year, e.tile),
                dest: ep,
                size: Some(e.grid_size.max(0) as u64),
            },
            DownloadItem {
                key: keys::scales(npy, e.year, e.tile),
                dest: sp,
                size: e.scales_size.map(|s| s.max(0) as u64),
            },
            DownloadItem {
                key: keys::landmask(self.dataset.landmask_dir(), e.tile),
                dest: lp,
                size: self.landmask_size(e.tile),
            },
        ]
    }
}

/// Creates (if needed) and checks an output directory before any request is made; returns
/// the directories it created, deepest last, so that a failed call can remove them again
/// while they are still empty ([`remove_empty`]).
pub fn prepare_output(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        at = d.parent();
    }
    tessera_client::download::preflight(dir)?;
    Ok(missing)
}

/// Removes the directories [`prepare_output`] created where they are still empty.
pub fn remove_empty(created: &[PathBuf]) {
    for d in created {
        let _ = std::fs::remove_dir(d);
    }
}

/// A manifest row as the reference lists it: `(year, lon, lat)` of the tile centre
/// (`lon_i / 100`).
fn year_lon_lat(e: &ManifestEntry) -> (i32, f64, f64) {
    (
        e.year,
        f64::from(e.tile.lon_i()) / 100.0,
        f64::from(e.tile.lat_i()) / 100.0,
    )
}
