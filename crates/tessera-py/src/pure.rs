//! Pure functions of `tessera-core` the Python layer builds on: the tile grid, the dataset
//! table, store locations and dequantisation.

use numpy::ndarray::ArrayD;
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use tessera_core::dataset::{self, StoreLocation};
use tessera_core::grid::TileId;
use tessera_core::quant;

use crate::errors::usage;

/// The centre `(lon, lat)` of the tile containing a point (the reference's
/// `round(floor(v * 10) / 10 + 0.05, 2)`).
#[pyfunction]
pub fn tile_from_world(lon: f64, lat: f64) -> PyResult<(f64, f64)> {
    let t = TileId::containing(lon, lat).map_err(usage)?;
    Ok((t.lon(), t.lat()))
}

/// `(grid_name, west, south, east, north)` of the tile with centre `(lon, lat)`.
#[pyfunction]
pub fn tile_info(lon: f64, lat: f64) -> PyResult<(String, [f64; 4])> {
    let t = TileId::from_centre(lon, lat).map_err(usage)?;
    Ok((t.name(), t.bounds()))
}

/// The published datasets as `(version, variant, description, npy, zarr, icechunk,
/// tile_registry)` rows, in table order.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn datasets() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
)> {
    dataset::DATASETS
        .iter()
        .map(|d| {
            (
                d.version,
                d.variant,
                d.description,
                d.npy,
                d.zarr,
                d.icechunk,
                d.tile_registry,
            )
        })
        .collect()
}

/// `("zarr", dir)` or `("icechunk", url)`: where a dataset's store is, by the reference's
/// `zarr_store_url` rule.
#[pyfunction]
#[pyo3(signature = (version, variant=None))]
pub fn store_location(version: &str, variant: Option<&str>) -> PyResult<(&'static str, String)> {
    match dataset::store_location_as_reference(version, variant).map_err(usage)? {
        StoreLocation::ZarrDir(d) => Ok(("zarr", d)),
        StoreLocation::Icechunk(u) => Ok(("icechunk", u)),
    }
}

/// `(version_path, version_norm)` of a version spec (`"v1"` → `("v1", "1.0")`).
#[pyfunction]
pub fn parse_version(spec: &str) -> (String, String) {
    let v = dataset::parse_version(spec);
    (v.path, v.norm)
}

/// The `npy/` directory of a dataset (`ValueError` when it has no NPY tiles).
#[pyfunction]
pub fn dataset_path(version_norm: &str, variant: &str) -> PyResult<String> {
    dataset::npy_dir(version_norm, variant).map_err(usage)
}

/// `(version_norm, variant)` of an `npy/` directory name, or `None`.
#[pyfunction]
pub fn dataset_from_path(dirname: &str) -> Option<(String, String)> {
    dataset::dataset_from_dir(dirname)
}

/// int8 embeddings times float32 scales, non-finite scales giving NaN. `scales` is shaped
/// like `quantized` or like it without the last (band) axis. Both arrays must be
/// C-contiguous (the Python wrapper converts anything else).
#[pyfunction]
pub fn dequantize<'py>(
    py: Python<'py>,
    quantized: PyReadonlyArrayDyn<'py, i8>,
    scales: PyReadonlyArrayDyn<'py, f32>,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let shape = quantized.shape().to_vec();
    let sshape = scales.shape().to_vec();
    let q = quantized
        .as_slice()
        .map_err(|_| usage("quantized must be C-contiguous"))?;
    let s = scales
        .as_slice()
        .map_err(|_| usage("scales must be C-contiguous"))?;
    let per_pixel = !shape.is_empty() && sshape.as_slice() == &shape[..shape.len() - 1];
    if !per_pixel && sshape != shape {
        return Err(usage(format!(
            "scales of shape {sshape:?} do not match embeddings of shape {shape:?}"
        )));
    }
    let bands = shape.last().copied().unwrap_or(1);
    let out = py.detach(|| {
        let mut out = vec![0f32; q.len()];
        if per_pixel && bands > 0 {
            quant::dequantise(q, s, bands, &mut out);
        } else {
            quant::dequantise_per_value(q, s, &mut out);
        }
        out
    });
    let arr = ArrayD::from_shape_vec(shape, out).map_err(usage)?;
    Ok(arr.into_pyarray(py))
}
