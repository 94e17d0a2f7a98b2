//! Library errors as the Python exceptions of `geotessera_rs.errors`, whose classes keep
//! the reference's bases (`ValueError` for bad input, `OSError` for I/O, ...), so that a
//! script written for geotessera catches ours unchanged.

use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError};
use pyo3::prelude::*;
use tessera_api::Error;

pyo3::import_exception!(geotessera_rs.errors, UsageError);
pyo3::import_exception!(geotessera_rs.errors, HTTPStatusError);
pyo3::import_exception!(geotessera_rs.errors, TileNotFoundError);
pyo3::import_exception!(geotessera_rs.errors, NetworkError);
pyo3::import_exception!(geotessera_rs.errors, IntegrityError);
pyo3::import_exception!(geotessera_rs.errors, UnwritableDestination);
pyo3::import_exception!(geotessera_rs.errors, FormatError);
pyo3::import_exception!(geotessera_rs.errors, NoDataError);
pyo3::import_exception!(geotessera_rs.errors, RegionOutsideError);

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("s3://")
}

/// The Python exception for a library error.
pub fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Usage(_) => UsageError::new_err(msg),
        Error::NotFound { url } if is_url(&url) => {
            HTTPStatusError::new_err((url, 404u16, reason(404)))
        }
        Error::NotFound { .. } => TileNotFoundError::new_err((libc::ENOENT, msg)),
        Error::Http { url, status, .. } => HTTPStatusError::new_err((url, status, reason(status))),
        Error::Network { .. } | Error::Deadline { .. } => NetworkError::new_err(msg),
        Error::Integrity { .. } => IntegrityError::new_err((libc::EIO, msg)),
        Error::Unwritable { .. } => UnwritableDestination::new_err((libc::EACCES, msg)),
        Error::Io { path, source } => {
            let errno = source.raw_os_error().unwrap_or(match source.kind() {
                std::io::ErrorKind::NotFound => libc::ENOENT,
                _ => libc::EIO,
            });
            PyOSError::new_err((errno, source.to_string(), path.display().to_string()))
        }
        Error::Format(_) | Error::TooLarge { .. } => FormatError::new_err(msg),
        Error::EmptyWindow(_) => RegionOutsideError::new_err(msg),
        Error::NoData(_) => NoDataError::new_err(msg),
        Error::Cancelled => PyKeyboardInterrupt::new_err("interrupted"),
    }
}

/// A usage error from any displayable error (bad arguments caught in the bindings).
pub fn usage(e: impl std::fmt::Display) -> PyErr {
    UsageError::new_err(e.to_string())
}
