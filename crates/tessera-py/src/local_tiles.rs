//! `geotessera_rs.tiles`' native half: tiles in a local directory, read in place. NPY
//! tiles (int8 + scales, memory-mapped, dequantised in Rust) and float32 GeoTIFF exports,
//! their georeference, row blocks and point samples, all from `tessera_client::local`,
//! with the GIL released around every read.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use numpy::ndarray::{Array2, Array3};
use numpy::{IntoPyArray, PyArray2, PyArray3, PyReadonlyArray2};
use pyo3::prelude::*;
use tessera_client::local::{
    EmbeddingTile, GeoTiffTile, TileSource, raster_georef, tile_candidates,
};
use tessera_core::{Affine, Crs, TileGeoref, TileId};

use crate::errors::{to_py, usage};

/// The EPSG code of a tile's CRS (tiles are in UTM zones, which all have one).
fn epsg_of(crs: &Crs) -> PyResult<u32> {
    crs.epsg()
        .ok_or_else(|| usage(format!("{crs} has no EPSG code; tiles are in UTM zones")))
}

/// Tile files opened by this module (landmasks, NPY pairs, GeoTIFFs) since the last
/// reset: lets a test tell a targeted lookup from a directory scan.
static OPENS: AtomicU64 = AtomicU64::new(0);

fn opened() {
    OPENS.fetch_add(1, Ordering::Relaxed);
}

/// How many tile files this module has opened since the last call with `reset=True`.
#[pyfunction]
#[pyo3(signature = (reset=false))]
pub fn tile_file_opens(reset: bool) -> u64 {
    if reset {
        OPENS.swap(0, Ordering::Relaxed)
    } else {
        OPENS.load(Ordering::Relaxed)
    }
}

/// `(lon, lat)` columns of an `(N, 2)` array.
fn lonlat(coords: &PyReadonlyArray2<'_, f64>) -> PyResult<(Vec<f64>, Vec<f64>)> {
    let c = coords.as_array();
    if c.ncols() != 2 {
        return Err(usage("coords must have shape (N, 2): (lon, lat) per point"));
    }
    Ok((c.column(0).to_vec(), c.column(1).to_vec()))
}

/// `(epsg, transform [a, b, c, d, e, f], width, height)` of a GeoTIFF (a landmask).
#[pyfunction]
pub fn raster_georeference(
    py: Python<'_>,
    path: PathBuf,
) -> PyResult<(u32, [f64; 6], usize, usize)> {
    opened();
    let g = py.detach(|| raster_georef(&path)).map_err(to_py)?;
    Ok((epsg_of(&g.crs)?, g.transform.to_array(), g.width, g.height))
}

/// `[(kind, path)]` of the files that would hold tile-year `(lon, lat, year)` in `dir`,
/// in the order the reference's `tile_for_coord` tries them (`"npy"` gives the
/// embedding path). Only those paths are looked at; nothing is listed or opened.
#[pyfunction]
pub fn tile_candidates_for(
    py: Python<'_>,
    dir: PathBuf,
    lon: f64,
    lat: f64,
    year: i32,
) -> Vec<(&'static str, PathBuf)> {
    let Ok(tile) = TileId::from_centre(lon, lat) else {
        return Vec::new();
    };
    py.detach(|| tile_candidates(&dir, year, tile))
        .into_iter()
        .map(|s| match s {
            TileSource::Npy { embedding, .. } => ("npy", embedding),
            TileSource::GeoTiff(p) => ("geotiff", p),
        })
        .collect()
}

/// An NPY tile (int8 embedding + float32 scales, memory-mapped) with the georeference
/// its landmask gave.
#[pyclass(frozen, module = "geotessera_rs._native")]
pub struct NativeNpyTile {
    t: EmbeddingTile,
}

#[pymethods]
impl NativeNpyTile {
    /// Opens the NPY pair of the tile centred at `(lon, lat)`; `epsg`, `transform`,
    /// `width` and `height` are the landmask's and must agree with the NPY shape.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        embedding: PathBuf,
        scales: PathBuf,
        lon: f64,
        lat: f64,
        year: i32,
        epsg: u32,
        transform: [f64; 6],
        width: usize,
        height: usize,
    ) -> PyResult<NativeNpyTile> {
        let tile = TileId::containing(lon, lat).map_err(usage)?;
        let crs = Crs::from_epsg(epsg).map_err(usage)?;
        let georef = TileGeoref {
            crs,
            transform: Affine::from_array(transform),
            width,
            height,
        };
        opened();
        let t = py
            .detach(|| EmbeddingTile::open_georeferenced(tile, year, &embedding, &scales, georef))
            .map_err(to_py)?;
        Ok(NativeNpyTile { t })
    }

    /// `(height, width, bands)`.
    #[getter]
    fn shape(&self) -> (usize, usize, usize) {
        (self.t.georef.height, self.t.georef.width, self.t.bands())
    }

    /// Rows `top..top + n` dequantised, float32 `(n, width, bands)` (NaN where the scale
    /// is not finite).
    fn rows<'py>(
        &self,
        py: Python<'py>,
        top: usize,
        n: usize,
    ) -> PyResult<Bound<'py, PyArray3<f32>>> {
        let (h, w, b) = self.shape();
        let n = n.min(h.saturating_sub(top));
        let v = py
            .detach(|| {
                // rows_into writes every value.
                let mut v = tessera_client::mem::output_f32(n * w * b);
                if n > 0 {
                    self.t.rows_into(top, &mut v)?;
                }
                Ok::<_, tessera_api::Error>(v)
            })
            .map_err(to_py)?;
        crate::buffer::f32_array(py, v, (n, w, b))
    }

    /// The embeddings of the pixels containing `(N, 2)` WGS84 points, float32 `(N, bands)`;
    /// NaN rows outside the tile.
    fn sample<'py>(
        &self,
        py: Python<'py>,
        coords: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        sample_points(py, &coords, self.t.bands(), |lon, lat, out| {
            self.t.sample_lonlat(lon, lat, out)
        })
    }
}

/// A float32 GeoTIFF tile: its header, with rows and points read on demand.
#[pyclass(frozen, module = "geotessera_rs._native")]
pub struct NativeGeoTiffTile {
    t: GeoTiffTile,
}

#[pymethods]
impl NativeGeoTiffTile {
    /// Reads the header of the GeoTIFF at `path`.
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<NativeGeoTiffTile> {
        opened();
        let t = py.detach(|| GeoTiffTile::open(&path)).map_err(to_py)?;
        Ok(NativeGeoTiffTile { t })
    }

    /// `(epsg, transform [a, b, c, d, e, f], width, height)`; a raster without a
    /// supported CRS or a transform is a format error.
    #[getter]
    fn georeference(&self) -> PyResult<(u32, [f64; 6], usize, usize)> {
        let g = self.t.georef().map_err(to_py)?;
        Ok((epsg_of(&g.crs)?, g.transform.to_array(), g.width, g.height))
    }

    /// Bands per pixel.
    #[getter]
    fn bands(&self) -> usize {
        self.t.bands()
    }

    /// `(lon, lat, year)` from the `TESSERA_YEAR` tag and the raster's centre pixel, or
    /// `None` without the tag.
    fn tagged_identity(&self) -> PyResult<Option<(f64, f64, i32)>> {
        self.t.tagged_identity().map_err(to_py)
    }

    /// Rows `top..top + n` as float32 `(n, width, bands)`; with `masked`, nodata samples
    /// are NaN.
    #[pyo3(signature = (top, n, masked=false))]
    fn rows<'py>(
        &self,
        py: Python<'py>,
        top: usize,
        n: usize,
        masked: bool,
    ) -> PyResult<Bound<'py, PyArray3<f32>>> {
        let (w, h, b) = (
            self.t.info.width as usize,
            self.t.info.height as usize,
            self.t.bands(),
        );
        let n = n.min(h.saturating_sub(top));
        let v = py.detach(|| self.t.rows(top, n, masked)).map_err(to_py)?;
        Ok(Array3::from_shape_vec((n, w, b), v)
            .map_err(usage)?
            .into_pyarray(py))
    }

    /// The samples of the pixels containing `(N, 2)` WGS84 points, float32 `(N, bands)`;
    /// NaN rows outside the raster and NaN for nodata.
    fn sample<'py>(
        &self,
        py: Python<'py>,
        coords: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        sample_points(py, &coords, self.t.bands(), |lon, lat, out| {
            self.t.sample_lonlat(lon, lat, out)
        })
    }
}

/// `(N, bands)` float32 from `sample(lon, lat, out)` over `(N, 2)` WGS84 points, with the
/// GIL released while it runs.
fn sample_points<'py>(
    py: Python<'py>,
    coords: &PyReadonlyArray2<'py, f64>,
    bands: usize,
    sample: impl Fn(&[f64], &[f64], &mut [f32]) -> tessera_api::Result<()> + Send + Sync,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let (lon, lat) = lonlat(coords)?;
    let v = py
        .detach(|| {
            let mut v = vec![0f32; lon.len() * bands];
            sample(&lon, &lat, &mut v)?;
            Ok::<_, tessera_api::Error>(v)
        })
        .map_err(to_py)?;
    Ok(Array2::from_shape_vec((lon.len(), bands), v)
        .map_err(usage)?
        .into_pyarray(py))
}
