//! PCA false colour for Python: `visualization.create_pca_mosaic` and the fitted model.

use std::path::PathBuf;

use numpy::{PyArray1, PyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tessera_api::visualize::{Balance, VisualizeRequest, fit_pca, visualize as run_visualize};

use crate::errors::usage;
use crate::progress::run;

/// Writes the PCA mosaic of `input` (a GeoTIFF or a directory of tiles) to `output`;
/// returns the output path.
#[pyfunction]
#[pyo3(signature = (input, output, target_crs="EPSG:3857", n_components=3, balance="histogram", percentile_low=2.0, percentile_high=98.0, memory_mb=512, quicklook=true, callback=None))]
#[allow(clippy::too_many_arguments)]
pub fn visualize(
    py: Python<'_>,
    input: PathBuf,
    output: PathBuf,
    target_crs: &str,
    n_components: usize,
    balance: &str,
    percentile_low: f64,
    percentile_high: f64,
    memory_mb: usize,
    quicklook: bool,
    callback: Option<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let crs: tessera_core::Crs = target_crs.parse().map_err(usage)?;
    let balance = Balance::parse(balance, percentile_low, percentile_high).map_err(usage)?;
    let req = VisualizeRequest {
        input,
        output,
        crs,
        n_components,
        balance,
        memory_bytes: memory_mb.max(16) << 20,
        quicklook_px: quicklook.then_some(1024),
        cog: false,
    };
    let v = run(py, callback.as_ref(), move |p| run_visualize(&req, p))?;
    Ok(v.path.display().to_string())
}

/// The fitted PCA of `input`: a dict of `components` (n × bands), `explained_variance`,
/// `explained_variance_ratio`, `mean` (of the standardised sample), `scaler_mean`,
/// `scaler_scale` and `samples`.
#[pyfunction]
#[pyo3(signature = (input, n_components=3))]
pub fn pca_fit<'py>(
    py: Python<'py>,
    input: PathBuf,
    n_components: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let proj = run(py, None, move |p| {
        fit_pca(&input, n_components, Balance::Histogram, p)
    })?;
    let m = proj.model;
    let d = PyDict::new(py);
    d.set_item(
        "components",
        PyArray2::from_vec2(py, &m.components).map_err(usage)?,
    )?;
    d.set_item(
        "explained_variance",
        PyArray1::from_vec(py, m.explained_variance),
    )?;
    d.set_item(
        "explained_variance_ratio",
        PyArray1::from_vec(py, m.explained_variance_ratio),
    )?;
    d.set_item("mean", PyArray1::from_vec(py, m.mean))?;
    d.set_item("scaler_mean", PyArray1::from_vec(py, m.scaler_mean))?;
    d.set_item("scaler_scale", PyArray1::from_vec(py, m.scaler_scale))?;
    d.set_item("samples", m.samples)?;
    Ok(d)
}
