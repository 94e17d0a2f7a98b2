//! `GeoTessera`'s native half: an opened tile dataset (its registry, optionally scoped to
//! a bbox) and every call of `tessera_api::tiles::TileDataset`, with the GIL released.

use std::path::PathBuf;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyArray3, PyReadonlyArray1};
use pyo3::prelude::*;
use tessera_api::tiles::{
    Compression, DatasetOptions, EnsureOptions, ExportOptions, SampleSource, TileDataset,
    TileFormat,
};
use tessera_core::TileId;
use tessera_formats::manifest::ManifestEntry;

use crate::context;
use crate::errors::{to_py, usage};
use crate::progress::run;

type Transform = [f64; 6];
/// `(tile_lon, tile_lat, pixel_row, pixel_col, epsg, status)` of one sampled point.
type PointMetaRow = (
    Option<f64>,
    Option<f64>,
    Option<i64>,
    Option<i64>,
    Option<u32>,
    &'static str,
);

fn tile_of(lon: f64, lat: f64) -> PyResult<TileId> {
    TileId::containing(lon, lat).map_err(usage)
}

/// An opened NPY tile dataset.
#[pyclass(frozen, module = "geotessera_rs._native")]
pub struct NativeTiles {
    ds: TileDataset,
}

impl NativeTiles {
    /// The manifest rows of `tiles` `(year, lon, lat)`, in order; a tile not in the
    /// registry is an error naming it.
    fn entries(&self, tiles: &[(i32, f64, f64)]) -> tessera_api::Result<Vec<ManifestEntry>> {
        tiles
            .iter()
            .map(|&(y, lon, lat)| self.ds.entry(y, lon, lat))
            .collect()
    }
}

#[pymethods]
impl NativeTiles {
    /// Opens a dataset's registries (the reference's `Registry(...)`).
    #[new]
    #[pyo3(signature = (version="v1.1", variant=None, *, mirror=None, cache_dir=None, registry_url=None, registry_path=None, registry_dir=None, landmasks_registry_path=None, bbox=None, bbox_margin_deg=0.15, offline=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        version: &str,
        variant: Option<String>,
        mirror: Option<String>,
        cache_dir: Option<PathBuf>,
        registry_url: Option<String>,
        registry_path: Option<PathBuf>,
        registry_dir: Option<PathBuf>,
        landmasks_registry_path: Option<PathBuf>,
        bbox: Option<(f64, f64, f64, f64)>,
        bbox_margin_deg: f64,
        offline: bool,
    ) -> PyResult<NativeTiles> {
        let ctx = context::open(mirror, cache_dir)?;
        let opts = DatasetOptions {
            version: version.to_string(),
            variant,
            registry_dir,
            registry_url,
            registry_path,
            landmasks_registry_path,
            bbox: bbox.map(|b| [b.0, b.1, b.2, b.3]),
            bbox_margin_deg,
            offline,
        };
        let ds = run(py, None, move |p| TileDataset::open(&ctx, &opts, p))?;
        Ok(NativeTiles { ds })
    }

    /// `(version_path, version_norm, variant, npy_dir)`.
    #[getter]
    fn dataset(&self) -> PyResult<(String, String, String, String)> {
        let d = self.ds.dataset();
        let npy = d.npy_dir().map_err(usage)?;
        Ok((
            d.version.path.clone(),
            d.version.norm.clone(),
            d.variant.clone(),
            npy,
        ))
    }

    /// The manifest file on disk.
    #[getter]
    fn manifest_path(&self) -> PathBuf {
        self.ds.manifest_path().to_path_buf()
    }

    /// `(year, lon, lat)` of the tiles whose boxes meet `bounds`, in manifest order.
    fn load_blocks_for_region(
        &self,
        bounds: (f64, f64, f64, f64),
        year: i32,
    ) -> PyResult<Vec<(i32, f64, f64)>> {
        self.ds
            .load_blocks_for_region([bounds.0, bounds.1, bounds.2, bounds.3], year)
            .map_err(to_py)
    }

    /// How many tiles of `year` meet `bounds`.
    fn embeddings_count(&self, bounds: (f64, f64, f64, f64), year: i32) -> PyResult<usize> {
        self.ds
            .embeddings_count([bounds.0, bounds.1, bounds.2, bounds.3], year)
            .map_err(to_py)
    }

    /// Years with tiles, ascending.
    fn years(&self) -> PyResult<Vec<i32>> {
        self.ds.years().map_err(to_py)
    }

    /// `[(year, tiles)]`, ascending.
    fn tile_counts_by_year(&self) -> PyResult<Vec<(i32, usize)>> {
        Ok(self
            .ds
            .tile_counts_by_year()
            .map_err(to_py)?
            .into_iter()
            .collect())
    }

    /// `(year, lon, lat)` of every tile-year, in manifest order.
    fn available_embeddings(&self) -> PyResult<Vec<(i32, f64, f64)>> {
        self.ds.available_embeddings().map_err(to_py)
    }

    /// `(lon, lat)` of every landmask, sorted.
    fn available_landmasks(&self) -> PyResult<Vec<(f64, f64)>> {
        self.ds.available_landmasks().map_err(to_py)
    }

    /// How many landmasks there are.
    fn landmask_count(&self) -> PyResult<usize> {
        self.ds.landmask_count().map_err(to_py)
    }

    /// The embedding file's size (manifest).
    fn tile_file_size(&self, year: i32, lon: f64, lat: f64) -> PyResult<u64> {
        self.ds.tile_file_size(year, lon, lat).map_err(to_py)
    }

    /// The scales file's size (manifest).
    fn scales_file_size(&self, year: i32, lon: f64, lat: f64) -> PyResult<u64> {
        self.ds.scales_file_size(year, lon, lat).map_err(to_py)
    }

    /// The landmask file's size (landmask registry).
    fn landmask_file_size(&self, lon: f64, lat: f64) -> PyResult<u64> {
        self.ds.landmask_file_size(lon, lat).map_err(to_py)
    }

    /// `(bytes, files, {file key: bytes})` of fetching `tiles` into `output_dir` as
    /// `"npy"` or `"tiff"`.
    fn calculate_download_requirements(
        &self,
        tiles: Vec<(i32, f64, f64)>,
        output_dir: PathBuf,
        format_type: &str,
        check_existing: bool,
    ) -> PyResult<(u64, usize, std::collections::BTreeMap<String, u64>)> {
        let fmt = match format_type {
            "npy" => TileFormat::Npy,
            "tiff" => TileFormat::Tiff,
            other => {
                return Err(usage(format!(
                    "format_type must be 'npy' or 'tiff', got {other:?}"
                )));
            }
        };
        self.ds
            .calculate_download_requirements(&tiles, &output_dir, fmt, check_existing)
            .map_err(to_py)
    }

    /// The tile-year containing `(lon, lat)` as float32 `(H, W, B)`, downloaded into `dir`
    /// first when missing: `(array, epsg, transform)`.
    #[pyo3(signature = (dir, lon, lat, year, refresh=false, callback=None))]
    #[allow(clippy::too_many_arguments)]
    fn fetch_embedding<'py>(
        &self,
        py: Python<'py>,
        dir: PathBuf,
        lon: f64,
        lat: f64,
        year: i32,
        refresh: bool,
        callback: Option<Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyArray3<f32>>, u32, Transform)> {
        let ds = self.ds.clone();
        let t = run(py, callback.as_ref(), move |p| {
            ds.fetch_embedding(&dir, lon, lat, year, refresh, p)
        })?;
        let a = crate::buffer::f32_array(py, t.data, (t.height, t.width, t.bands))?;
        Ok((a, t.epsg, t.transform))
    }

    /// `fetch_mosaic_for_region`: the tiles of `bbox` resampled onto one grid in
    /// `target_crs`: `(array (H, W, B), transform, crs)`.
    #[pyo3(signature = (dir, bbox, year, target_crs, resampling, resolution=None, auto_download=true, memory_mb=1024, callback=None))]
    #[allow(clippy::too_many_arguments)]
    fn mosaic<'py>(
        &self,
        py: Python<'py>,
        dir: PathBuf,
        bbox: (f64, f64, f64, f64),
        year: i32,
        target_crs: &str,
        resampling: &str,
        resolution: Option<(f64, f64)>,
        auto_download: bool,
        memory_mb: usize,
        callback: Option<Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyArray3<f32>>, Transform, String)> {
        let b = context::bbox(bbox)?;
        let crs: tessera_core::Crs = target_crs.parse().map_err(usage)?;
        let resampling: tessera_api::tiles::Resampling = resampling.parse().map_err(usage)?;
        let opts = tessera_api::tiles::MosaicOptions {
            crs,
            resolution,
            resampling,
            memory_bytes: memory_mb.max(16) << 20,
            ..Default::default()
        };
        let ds = self.ds.clone();
        let m = run(py, callback.as_ref(), move |p| {
            ds.mosaic_array(&dir, &b, year, opts, auto_download, p)
        })?;
        let g = m.grid;
        let a = crate::buffer::f32_array(py, m.data, (g.height, g.width, m.bands))?;
        Ok((a, g.transform.to_array(), g.crs.to_string()))
    }

    /// Whether each `(year, lon, lat)` has its three files in `dir`.
    fn tiles_present(&self, dir: PathBuf, tiles: Vec<(i32, f64, f64)>) -> PyResult<Vec<bool>> {
        tiles
            .iter()
            .map(|&(y, lon, lat)| {
                Ok(tessera_api::tiles::tile_present(
                    &dir,
                    y,
                    tile_of(lon, lat)?,
                ))
            })
            .collect()
    }

    /// Makes the NPY triple of each `(year, lon, lat)` present in `dir`; returns the
    /// tile-years complete afterwards and the failures as messages.
    #[pyo3(signature = (dir, tiles, refresh=false, callback=None))]
    #[allow(clippy::type_complexity)]
    fn ensure_tiles<'py>(
        &self,
        py: Python<'py>,
        dir: PathBuf,
        tiles: Vec<(i32, f64, f64)>,
        refresh: bool,
        callback: Option<Bound<'py, PyAny>>,
    ) -> PyResult<(Vec<(i32, f64, f64)>, Vec<String>)> {
        let entries = self.entries(&tiles).map_err(to_py)?;
        let ds = self.ds.clone();
        let rep = run(py, callback.as_ref(), move |p| {
            tessera_client_check_dir(&dir, &ds)?;
            let r = ds.ensure_tiles(
                &dir,
                &entries,
                EnsureOptions {
                    refresh,
                    ..Default::default()
                },
                p,
            )?;
            if let Some(e) = r.first_failure()
                && e.is_usage()
            {
                return Err(e);
            }
            Ok(r)
        })?;
        let complete = rep
            .complete
            .iter()
            .map(|(y, t)| (*y, t.lon(), t.lat()))
            .collect();
        let failed = rep
            .download
            .failed()
            .iter()
            .map(|(i, e)| format!("{}: {e}", i.key))
            .collect();
        Ok((complete, failed))
    }

    /// Exports tile-years present in `tiles_dir` as GeoTIFFs under `output_dir`; returns
    /// the files written (in tile order) and per-tile failures.
    #[pyo3(signature = (tiles_dir, output_dir, tiles, bands=None, compress="lzw", skip_existing=false, callback=None))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn export_geotiffs<'py>(
        &self,
        py: Python<'py>,
        tiles_dir: PathBuf,
        output_dir: PathBuf,
        tiles: Vec<(i32, f64, f64)>,
        bands: Option<Vec<usize>>,
        compress: &str,
        skip_existing: bool,
        callback: Option<Bound<'py, PyAny>>,
    ) -> PyResult<(Vec<String>, Vec<String>)> {
        let ids: Vec<(i32, TileId)> = tiles
            .iter()
            .map(|&(y, lon, lat)| Ok((y, tile_of(lon, lat)?)))
            .collect::<PyResult<_>>()?;
        let opts = ExportOptions {
            bands,
            compression: compress.parse::<Compression>().map_err(usage)?,
            skip_existing,
        };
        let ds = self.ds.clone();
        let rep = run(py, callback.as_ref(), move |p| {
            ds.export_geotiffs(&tiles_dir, &output_dir, &ids, &opts, p)
        })?;
        let mut files: Vec<String> = rep
            .written
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        files.extend(rep.skipped.iter().map(|p| p.display().to_string()));
        Ok((files, rep.errors))
    }

    /// Samples points `(lon, lat)` for `year` from the tiles in `tiles_dir` (downloading
    /// what is missing unless `offline`), or from the mirror in place when `tiles_dir` is
    /// None: `((N, B) float32, per-point metadata)`.
    /// The metadata list is empty unless `with_meta`.
    #[pyo3(signature = (lon, lat, year, tiles_dir=None, offline=false, callback=None, with_meta=true))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn sample_points<'py>(
        &self,
        py: Python<'py>,
        lon: PyReadonlyArray1<'py, f64>,
        lat: PyReadonlyArray1<'py, f64>,
        year: i32,
        tiles_dir: Option<PathBuf>,
        offline: bool,
        callback: Option<Bound<'py, PyAny>>,
        with_meta: bool,
    ) -> PyResult<(Bound<'py, PyArray2<f32>>, Vec<PointMetaRow>)> {
        let lon = lon.as_array().to_vec();
        let lat = lat.as_array().to_vec();
        let source = match tiles_dir {
            Some(dir) => SampleSource::TilesDir { dir, offline },
            None => SampleSource::Mirror { jobs: 16 },
        };
        let ds = self.ds.clone();
        let n = lon.len();
        let s = run(py, callback.as_ref(), move |p| {
            if let SampleSource::TilesDir { dir, offline } = &source {
                tessera_api::tiles::prepare_tiles_dir(dir, ds.dataset(), *offline)?;
            }
            ds.sample_points(&lon, &lat, year, &source, p)
        })?;
        let meta = s
            .meta
            .iter()
            .take(if with_meta { n } else { 0 })
            .map(|m| {
                (
                    m.tile.map(|t| t.lon()),
                    m.tile.map(|t| t.lat()),
                    m.row,
                    m.col,
                    m.crs.and_then(|c| c.epsg()),
                    m.status,
                )
            })
            .collect();
        let a = Array2::from_shape_vec((n, s.bands), s.values).map_err(usage)?;
        Ok((a.into_pyarray(py), meta))
    }
}

/// Refuses a directory holding another dataset's tiles (the reference's check).
fn tessera_client_check_dir(dir: &std::path::Path, ds: &TileDataset) -> tessera_api::Result<()> {
    tessera_api::tiles::prepare_tiles_dir(dir, ds.dataset(), false).map(|_| ())
}
