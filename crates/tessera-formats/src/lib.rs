//! The file formats of the published TESSERA data: NPY tiles, GeoTIFF landmasks and
//! exports, and the Parquet manifests.

#![warn(missing_docs)]

pub mod atomic;
pub mod dtype;
pub mod geotiff;
pub mod guard;
pub mod manifest;
pub mod npy;
pub mod parquet_footer;
pub mod safe_fs;
pub mod zarr;

pub use dtype::{DType, Element};
