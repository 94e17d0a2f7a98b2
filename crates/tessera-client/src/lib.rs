//! The TESSERA client: mirror sources (local, http(s), anonymous s3), registries with
//! caching, verified and resumable parallel downloads, region selection, local tiles,
//! GeoTIFF/NPY exports with the provenance sidecar, and point sampling (local or by
//! 128-byte range reads over HTTP).
//!
//! Network I/O is async (tokio); [`Runtime`] gives blocking callers a runtime to run it on.

#![warn(missing_docs)]

pub mod cancel;
pub mod download;
pub mod error;
pub mod export;
pub mod labels;
pub mod local;
pub mod mem;
pub mod mirror;
pub mod points;
pub mod region;
pub mod registry;
pub mod sample;
pub mod zarr;

pub use error::{ClientError, Result};
pub use mirror::{Mirror, MirrorRoot};

/// A tokio runtime for blocking callers (the CLI, tests, bindings).
pub struct Runtime(tokio::runtime::Runtime);

impl Runtime {
    /// A multi-threaded runtime.
    pub fn new() -> Result<Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map(Runtime)
            .map_err(|e| ClientError::Format(format!("cannot start the async runtime: {e}")))
    }

    /// Runs a future to completion.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }
}
