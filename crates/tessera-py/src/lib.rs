//! The native module of the `geotessera_rs` Python package: thin pyo3 wrappers over
//! `tessera-api` (the library's one synchronous face) and `tessera-core`'s pure functions.
//! Orchestration lives in `tessera-api`; the Python layer (`python/geotessera_rs`) gives
//! the reference's names, signatures and return types.

mod buffer;
mod context;
mod errors;
mod learn;
mod local_tiles;
mod progress;
mod pure;
mod store;
mod tiles;
mod visualize;
mod web;

use pyo3::prelude::*;

/// Builds a fresh runtime in a forked child (registered with `os.register_at_fork`).
#[pyfunction]
fn _reset_after_fork() -> PyResult<()> {
    // The child has no thread to free idle buffers.
    tessera_client::mem::release_idle();
    tessera_api::runtime().map(|_| ()).map_err(errors::to_py)
}

/// Runs the `tessera` command line (`argv[0]` is the program name) with the GIL released;
/// returns its exit status. It prints as the binary does and installs the CLI's Ctrl-C
/// handler, so it is meant for the `tessera` console script.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(|| tessera_cli::run_from(argv))
}

/// The `geotessera_rs._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    tessera_client::mem::tune_allocator();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(_reset_after_fork, m)?)?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(pure::tile_from_world, m)?)?;
    m.add_function(wrap_pyfunction!(pure::tile_info, m)?)?;
    m.add_function(wrap_pyfunction!(pure::datasets, m)?)?;
    m.add_function(wrap_pyfunction!(pure::store_location, m)?)?;
    m.add_function(wrap_pyfunction!(pure::parse_version, m)?)?;
    m.add_function(wrap_pyfunction!(pure::dataset_path, m)?)?;
    m.add_function(wrap_pyfunction!(pure::dataset_from_path, m)?)?;
    m.add_function(wrap_pyfunction!(pure::dequantize, m)?)?;
    m.add_class::<store::NativeStore>()?;
    m.add_class::<store::NativeStrips>()?;
    m.add_class::<tiles::NativeTiles>()?;
    m.add_class::<local_tiles::NativeNpyTile>()?;
    m.add_class::<local_tiles::NativeGeoTiffTile>()?;
    m.add_function(wrap_pyfunction!(local_tiles::raster_georeference, m)?)?;
    m.add_function(wrap_pyfunction!(local_tiles::tile_candidates_for, m)?)?;
    m.add_function(wrap_pyfunction!(local_tiles::tile_file_opens, m)?)?;
    m.add_function(wrap_pyfunction!(visualize::visualize, m)?)?;
    m.add_function(wrap_pyfunction!(visualize::pca_fit, m)?)?;
    m.add_function(wrap_pyfunction!(web::web_ready, m)?)?;
    m.add_function(wrap_pyfunction!(web::build_web_tiles, m)?)?;
    m.add_function(wrap_pyfunction!(web::viewer_page, m)?)?;
    m.add_function(wrap_pyfunction!(web::region_outline, m)?)?;
    m.add_function(wrap_pyfunction!(web::merge_geotiffs, m)?)?;
    m.add_function(wrap_pyfunction!(web::coverage_map, m)?)?;
    m.add_class::<learn::NativeModel>()?;
    m.add_function(wrap_pyfunction!(learn::learn_fit, m)?)?;
    m.add_function(wrap_pyfunction!(learn::learn_predict, m)?)?;
    m.add_function(wrap_pyfunction!(learn::learn_similar, m)?)?;
    m.add_function(wrap_pyfunction!(learn::learn_cluster, m)?)?;
    m.add_function(wrap_pyfunction!(learn::learn_labels, m)?)?;
    Ok(())
}
