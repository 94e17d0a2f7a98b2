//! `GeoTesseraZarr`'s native half: an open Zarr store and its reads, each a single call of
//! `tessera_api::store::Store` with the GIL released, arrays handed to NumPy without copy.

use std::path::PathBuf;
use std::sync::Mutex;

use numpy::ndarray::{Array1, Array2, Array3};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyReadonlyArray2};
use pyo3::prelude::*;
use tessera_api::store::{
    ExportOptions, OpenOptions, PointOptions, Raster, Store, StoreRef, Strip, Strips,
    VariantDefault, Window,
};
use tessera_api::tiles::Compression;

use crate::buffer::f32_array;
use crate::context::{self, bbox};
use crate::errors::{to_py, usage};
use crate::progress::run;

type Transform = [f64; 6];
/// A raster as Python gets it: `(array, transform, crs)`.
type PyRaster<'py> = (Bound<'py, PyArray3<f32>>, Transform, String);

fn raster<'py>(py: Python<'py>, r: Raster) -> PyResult<PyRaster<'py>> {
    let a = f32_array(py, r.data, (r.height, r.width, r.bands))?;
    Ok((a, r.transform, r.crs))
}

fn compression(name: &str) -> PyResult<Compression> {
    name.parse::<Compression>().map_err(usage)
}

/// An open Zarr store.
#[pyclass(frozen, module = "geotessera_rs._native")]
pub struct NativeStore {
    store: Store,
}

#[pymethods]
impl NativeStore {
    /// Opens `store_url` (read through the direct S3 route for the published gateway
    /// unless `via_gateway`), or with `store_url=None` the store of a dataset under the
    /// mirror (`$TESSERA_MIRROR` when `mirror` is None), by the reference's default variant.
    #[new]
    #[pyo3(signature = (store_url=None, *, mirror=None, cache_dir=None, via_gateway=false, version="v1.1", variant=None))]
    fn new(
        py: Python<'_>,
        store_url: Option<String>,
        mirror: Option<String>,
        cache_dir: Option<PathBuf>,
        via_gateway: bool,
        version: &str,
        variant: Option<String>,
    ) -> PyResult<NativeStore> {
        let ctx = context::open(mirror, cache_dir)?;
        let r = match store_url {
            Some(u) => StoreRef::from_url_routed(&u, via_gateway),
            None => StoreRef::for_dataset(
                &ctx,
                version,
                variant.as_deref(),
                VariantDefault::Reference,
                via_gateway,
            )
            .map_err(to_py)?,
        };
        let store = run(py, None, move |_| {
            Store::open(&ctx, r, &OpenOptions::default())
        })?;
        Ok(NativeStore { store })
    }

    /// Where the store is read from.
    #[getter]
    fn url(&self) -> String {
        self.store.url().to_string()
    }

    /// `(version_norm, variant)` of the published dataset, when known.
    #[getter]
    fn dataset(&self) -> Option<(String, String)> {
        self.store
            .dataset()
            .map(|d| (d.version.norm.clone(), d.variant.clone()))
    }

    /// Bands at full depth.
    #[getter]
    fn n_bands(&self) -> usize {
        self.store.n_bands()
    }

    /// `(bands, array name)` of every depth, ascending.
    #[getter]
    fn depths(&self) -> Vec<(usize, String)> {
        self.store.depths()
    }

    /// Years on the time axis.
    #[getter]
    fn years(&self) -> Vec<i32> {
        self.store.years()
    }

    /// UTM zones with a group.
    #[getter]
    fn zones(&self) -> Vec<u8> {
        self.store.zones()
    }

    /// `geoemb:build_version`.
    #[getter]
    fn build_version(&self) -> String {
        self.store.build_version()
    }

    /// The model version.
    #[getter]
    fn model_version(&self) -> String {
        self.store.model_version()
    }

    /// `geoemb:model` as written (the reference's `model_version`).
    #[getter]
    fn model(&self) -> String {
        self.store.model()
    }

    /// `[(zone, crs, (height, width), transform)]` of every zone group, ascending.
    #[allow(clippy::type_complexity)]
    fn zone_info(&self) -> Vec<(u8, String, (u64, u64), Transform)> {
        self.store
            .zone_summaries()
            .into_iter()
            .map(|z| (z.zone, z.crs, (z.shape[0], z.shape[1]), z.transform))
            .collect()
    }

    /// The attributes of zone `zone`'s group as JSON text (`None` for a zone not in the
    /// store).
    fn zone_attrs(&self, zone: u8) -> Option<String> {
        self.store.zone_attrs(zone).map(|v| v.to_string())
    }

    /// `(int8 (height, width, B), float32 scales (height, width))` of a window of a zone's
    /// grid for one year (the lazy xarray view reads through this).
    #[pyo3(signature = (zone, row, col, height, width, year, depth=None))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn read_window<'py>(
        &self,
        py: Python<'py>,
        zone: u8,
        row: u64,
        col: u64,
        height: u64,
        width: u64,
        year: i32,
        depth: Option<usize>,
    ) -> PyResult<(Bound<'py, PyArray3<i8>>, Bound<'py, PyArray2<f32>>)> {
        let w = Window {
            zone,
            row,
            col,
            height,
            width,
        };
        let s = self.store.clone();
        let q = run(py, None, move |p| {
            s.read_window_quantized(w, year, depth, p)
        })?;
        let e = Array3::from_shape_vec((q.height, q.width, q.bands), q.emb).map_err(usage)?;
        let sc = Array2::from_shape_vec((q.height, q.width), q.scales).map_err(usage)?;
        Ok((e.into_pyarray(py), sc.into_pyarray(py)))
    }

    /// `(vector or None, status)` of one point.
    #[pyo3(signature = (lon, lat, year, cross_zone=true, search_px=1))]
    fn probe<'py>(
        &self,
        py: Python<'py>,
        lon: f64,
        lat: f64,
        year: i32,
        cross_zone: bool,
        search_px: u64,
    ) -> PyResult<(Option<Bound<'py, PyArray1<f32>>>, &'static str)> {
        let s = self.store.clone();
        let opts = PointOptions {
            search_px,
            cross_zone,
            depth: None,
        };
        let p = run(py, None, move |_| s.probe(lon, lat, year, &opts))?;
        let v = p.values.map(|v| Array1::from_vec(v).into_pyarray(py));
        Ok((v, p.status.name()))
    }

    /// `(N, B)` float32 of the points `coords` `(N, 2)` (lon, lat), NaN rows where there is
    /// no embedding, and the status of each point.
    #[pyo3(signature = (coords, year, cross_zone=true, search_px=1, depth=None, callback=None))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn sample_points<'py>(
        &self,
        py: Python<'py>,
        coords: PyReadonlyArray2<'py, f64>,
        year: i32,
        cross_zone: bool,
        search_px: u64,
        depth: Option<usize>,
        callback: Option<Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyArray2<f32>>, Vec<&'static str>)> {
        let c = coords.as_array();
        if c.ncols() != 2 {
            return Err(usage("coords must have shape (N, 2): (lon, lat) per point"));
        }
        let pts: Vec<(f64, f64)> = c.rows().into_iter().map(|r| (r[0], r[1])).collect();
        let s = self.store.clone();
        let opts = PointOptions {
            search_px,
            cross_zone,
            depth,
        };
        let n = pts.len();
        let out = run(py, callback.as_ref(), move |p| {
            s.sample_points(&pts, year, &opts, p)
        })?;
        let status = out.status.iter().map(|s| s.name()).collect();
        let a = Array2::from_shape_vec((n, out.bands), out.values).map_err(usage)?;
        Ok((a.into_pyarray(py), status))
    }

    /// `(H, W, B)` float32 of a bbox on the zone of its centre, its transform and CRS.
    #[pyo3(signature = (bbox_, year, depth=None, callback=None))]
    fn read_region<'py>(
        &self,
        py: Python<'py>,
        bbox_: (f64, f64, f64, f64),
        year: i32,
        depth: Option<usize>,
        callback: Option<Bound<'py, PyAny>>,
    ) -> PyResult<PyRaster<'py>> {
        let b = bbox(bbox_)?;
        let s = self.store.clone();
        let r = run(py, callback.as_ref(), move |p| {
            s.read_region(&b, year, depth, p)
        })?;
        raster(py, r)
    }

    /// `(int8 (H, W, B), float32 scales (H, W), transform, CRS)` of a bbox.
    #[pyo3(signature = (bbox_, year, depth=None))]
    #[allow(clippy::type_complexity)]
    fn read_region_quantized<'py>(
        &self,
        py: Python<'py>,
        bbox_: (f64, f64, f64, f64),
        year: i32,
        depth: Option<usize>,
    ) -> PyResult<(
        Bound<'py, PyArray3<i8>>,
        Bound<'py, PyArray2<f32>>,
        Transform,
        String,
    )> {
        let b = bbox(bbox_)?;
        let s = self.store.clone();
        let q = run(py, None, move |p| {
            s.read_region_quantized(&b, year, depth, p)
        })?;
        let e = Array3::from_shape_vec((q.height, q.width, q.bands), q.emb).map_err(usage)?;
        let sc = Array2::from_shape_vec((q.height, q.width), q.scales).map_err(usage)?;
        Ok((e.into_pyarray(py), sc.into_pyarray(py), q.transform, q.crs))
    }

    /// A patch of exactly `size_px x size_px` around a point.
    #[pyo3(signature = (lon, lat, year, size_px, depth=None, dst_crs=None))]
    #[allow(clippy::too_many_arguments)]
    fn read_patch<'py>(
        &self,
        py: Python<'py>,
        lon: f64,
        lat: f64,
        year: i32,
        size_px: usize,
        depth: Option<usize>,
        dst_crs: Option<String>,
    ) -> PyResult<PyRaster<'py>> {
        let dst = dst_crs
            .as_deref()
            .map(tessera_api::store::PatchCrs::parse)
            .transpose()
            .map_err(to_py)?;
        let s = self.store.clone();
        let r = run(py, None, move |p| {
            s.read_patch_in(lon, lat, year, size_px, depth, dst.as_ref(), p)
        })?;
        raster(py, r)
    }

    /// The strips of a region, `strip_rows` rows each, read one ahead.
    #[pyo3(signature = (bbox_, year, depth=None, strip_rows=512))]
    fn strips(
        &self,
        py: Python<'_>,
        bbox_: (f64, f64, f64, f64),
        year: i32,
        depth: Option<usize>,
        strip_rows: usize,
    ) -> PyResult<NativeStrips> {
        let b = bbox(bbox_)?;
        let s = self.store.clone();
        let strips = run(py, None, move |p| s.strips(&b, year, depth, strip_rows, p))?;
        Ok(NativeStrips {
            inner: Mutex::new(Some(strips)),
        })
    }

    /// One GeoTIFF per zone under `output_dir`; `dry_run` returns
    /// `[(zone, width, height, uncompressed_bytes)]` and reads no chunk.
    #[pyo3(signature = (bbox_, year, output_dir, bands=None, depth=None, compress="lzw", dry_run=false, callback=None))]
    #[allow(clippy::too_many_arguments)]
    fn export_geotiffs<'py>(
        &self,
        py: Python<'py>,
        bbox_: (f64, f64, f64, f64),
        year: i32,
        output_dir: PathBuf,
        bands: Option<Vec<usize>>,
        depth: Option<usize>,
        compress: &str,
        dry_run: bool,
        callback: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let b = bbox(bbox_)?;
        let opts = ExportOptions {
            bands,
            depth,
            compression: compression(compress)?,
            ..Default::default()
        };
        let s = self.store.clone();
        if dry_run {
            let plan = run(py, None, move |_| s.export_plan(&b, year, &opts))?;
            let rows: Vec<(u8, u64, u64, u64)> = plan
                .iter()
                .map(|z| (z.zone, z.width, z.height, z.uncompressed_bytes))
                .collect();
            return Ok(rows.into_pyobject(py)?.into_any().unbind());
        }
        let rep = run(py, callback.as_ref(), move |p| {
            s.export_geotiffs(&b, year, &output_dir, &opts, p)
        })?;
        let files: Vec<String> = rep
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        Ok(files.into_pyobject(py)?.into_any().unbind())
    }
}

/// A pull iterator of strips `(rows x W x B float32, transform, CRS)`.
#[pyclass(frozen, module = "geotessera_rs._native")]
pub struct NativeStrips {
    inner: Mutex<Option<Strips>>,
}

#[pymethods]
impl NativeStrips {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<PyRaster<'py>>> {
        let next: Option<tessera_api::Result<Strip>> = py.detach(|| {
            let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            g.as_mut().and_then(Iterator::next)
        });
        match next {
            None => Ok(None),
            Some(Err(e)) => Err(to_py(e)),
            Some(Ok(s)) => {
                let a = f32_array(py, s.data, (s.rows, s.width, s.bands))?;
                Ok(Some((a, s.transform, s.crs)))
            }
        }
    }

    /// Strips in all.
    #[getter]
    fn total(&self) -> usize {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref().map_or(0, Strips::total)
    }

    /// Stops the reading ahead.
    fn close(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = g.take() {
            s.cancel();
        }
    }
}
