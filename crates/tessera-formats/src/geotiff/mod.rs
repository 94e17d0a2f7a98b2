//! GeoTIFF: a streaming writer (tiled or striped, compressed, BigTIFF, GeoKeys, GDAL
//! metadata) and a reader for what we and GDAL write.

pub mod codec;
pub mod cog;
pub mod geokeys;
pub mod metadata;
pub mod reader;
pub mod resumable;
pub mod writer;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use codec::{Compression, Predictor};
pub use metadata::{BandMetadata, GdalMetadata};
pub use reader::{GeoTiffInfo, GeoTiffReader};
pub use resumable::ResumableGeoTiff;
pub use writer::{
    BigTiff, GeoTiffFile, GeoTiffSpec, GeoTiffWriter, Interleave, Layout, Photometric, WriterState,
};

/// Errors reading or writing GeoTIFFs.
#[derive(Debug, Error)]
pub enum TiffError {
    /// An I/O error without a known file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An I/O error on a file.
    #[error("{path}: {source}")]
    IoAt {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A spec or call that cannot produce a valid file.
    #[error("invalid GeoTIFF request: {0}")]
    InvalidSpec(String),
    /// Offsets overflow classic TIFF, or a read would be absurdly large.
    #[error("the image is too large for this operation (use BigTIFF, or read fewer rows)")]
    TooLarge,
    /// A file that is not a valid TIFF, or is damaged.
    #[error("{path}: not a valid GeoTIFF: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A valid TIFF we cannot read.
    #[error("unsupported TIFF: {0}")]
    Unsupported(String),
}

impl TiffError {
    pub(crate) fn io_at(path: &Path, source: std::io::Error) -> TiffError {
        TiffError::IoAt {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, reason: &str) -> TiffError {
        TiffError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn decode(path: &Path, e: tiff::TiffError) -> TiffError {
        match e {
            tiff::TiffError::IoError(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => {
                TiffError::io_at(path, io)
            }
            tiff::TiffError::UnsupportedError(u) => {
                TiffError::Unsupported(format!("{}: {u}", path.display()))
            }
            other => TiffError::corrupt(path, &other.to_string()),
        }
    }
}
