//! Opening a [`Context`] the way the CLI does: the mirror from an argument or
//! `TESSERA_MIRROR`, the same registry cache directory.

use std::path::PathBuf;

use pyo3::prelude::*;
use tessera_api::{Context, ContextOptions};

use crate::errors::to_py;

/// The context for a mirror (a URL or directory; `None`: `$TESSERA_MIRROR`, else the
/// published mirror) and a cache directory (`None`: the CLI's).
pub fn open(mirror: Option<String>, cache_dir: Option<PathBuf>) -> PyResult<Context> {
    Context::open(ContextOptions {
        mirror,
        cache_dir,
        ..Default::default()
    })
    .map_err(to_py)
}

/// A bbox `(min_lon, min_lat, max_lon, max_lat)` checked as the library checks it.
pub fn bbox(b: (f64, f64, f64, f64)) -> PyResult<tessera_core::Bbox> {
    tessera_core::Bbox::new(b.0, b.1, b.2, b.3).map_err(crate::errors::usage)
}
