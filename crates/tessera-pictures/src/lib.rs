//! Pictures and maps of TESSERA embeddings, without GDAL: mosaics of tiles or store zones
//! reprojected onto one grid in EPSG:4326, EPSG:3857 or any UTM zone, streamed in strips
//! under a memory budget and written as GeoTIFF; PCA false colour fitted the way
//! geotessera 0.11 fits it; web maps: gdal2tiles-compatible tile pyramids of RGB
//! pictures, on disk or one tile at a time, and a self-contained Leaflet viewer; and
//! coverage maps, the coverage files and textures of the globe viewer, and the globe itself.

#![warn(missing_docs)]

pub mod classmap;
pub mod colour;
pub mod coverage;
pub mod grid;
pub mod mosaic;
pub mod output;
pub mod pca;
pub mod png;
pub mod pyramid;
pub mod rgba;
pub mod rng;
pub mod tilegrid;
pub mod viewer;
pub mod visualize;
pub mod warp;
pub mod web_ready;
pub mod webtiles;

pub use colour::Balance;
pub use grid::{CrsChoice, TargetGrid};
pub use mosaic::{Mosaic, MosaicOptions, Overlap, Source};
pub use warp::Resampling;

/// What went wrong making a picture.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// The caller's mistake (a bad option, an empty region), with what to do.
    #[error("{0}")]
    Usage(String),
    /// A source could not be read.
    #[error("{0}")]
    Source(String),
    /// Writing the output failed.
    #[error("{0}")]
    Io(String),
    /// Stopped on request.
    #[error("cancelled")]
    Cancelled,
}
