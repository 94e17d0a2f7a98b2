//! Client errors: each says what failed, where (URL or file), and what to do.

use std::path::PathBuf;

use thiserror::Error;

/// Errors of the client.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Input the user can fix (region, dataset, points file, options).
    #[error("{0}")]
    Usage(String),
    /// An object the mirror does not have.
    #[error("not found on the mirror: {url}")]
    NotFound {
        /// The URL or path.
        url: String,
    },
    /// An HTTP status that retries did not cure.
    #[error("HTTP {status} for {url}{hint}")]
    Http {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// What to do.
        hint: String,
    },
    /// The network failed (connection, reset, timeout, truncated body).
    #[error("network error for {url}: {message}")]
    Network {
        /// The URL.
        url: String,
        /// The cause.
        message: String,
    },
    /// Received bytes that do not match the mirror's length or checksums.
    #[error("integrity check failed for {url}: {message}")]
    Integrity {
        /// The URL.
        url: String,
        /// What did not match.
        message: String,
    },
    /// A destination that cannot be written (read-only, no permission, full disk).
    #[error("cannot write to {path}: {message}; choose a writable output directory")]
    Unwritable {
        /// The path.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// Other file I/O.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file in a format we cannot read.
    #[error("{0}")]
    Format(String),
    /// What was asked for does not exist (a year, a region); says what does instead.
    #[error("{0}")]
    NoData(String),
    /// A response or file larger than the format or the registry allows.
    #[error("refusing {url}: {message}; the mirror is misbehaving or is not a TESSERA mirror")]
    TooLarge {
        /// The URL or path.
        url: String,
        /// The size seen and the limit.
        message: String,
    },
    /// A region that holds no pixel of the grid it is read from (an empty window).
    #[error("{0}")]
    EmptyWindow(String),
    /// A stop was asked for (Ctrl-C); finished work is kept, a rerun resumes.
    #[error("interrupted")]
    Cancelled,
    /// The run's deadline (`--deadline`) passed.
    #[error("gave up on {url}: the deadline passed (raise --deadline, or rerun to resume)")]
    Deadline {
        /// The URL being read.
        url: String,
    },
}

impl ClientError {
    /// True for errors a retry can cure (network trouble, 5xx, 429, integrity).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Network { .. } | ClientError::Integrity { .. } => true,
            ClientError::Http { status, .. } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// True when the error is the user's input (exit status 2 in the CLI).
    pub fn is_usage(&self) -> bool {
        matches!(self, ClientError::Usage(_) | ClientError::Unwritable { .. })
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ClientError {
        let path = path.into();
        use std::io::ErrorKind::*;
        let permanent = matches!(
            source.kind(),
            PermissionDenied | ReadOnlyFilesystem | StorageFull | QuotaExceeded | NotADirectory
        ) || matches!(
            source.raw_os_error(),
            Some(28) | Some(30) | Some(13) | Some(1) | Some(122) | Some(20)
        );
        if permanent {
            ClientError::Unwritable {
                path,
                message: source.to_string(),
            }
        } else {
            ClientError::Io { path, source }
        }
    }
}

impl From<tessera_core::DatasetError> for ClientError {
    fn from(e: tessera_core::DatasetError) -> Self {
        ClientError::Usage(e.to_string())
    }
}

/// Client result.
pub type Result<T> = std::result::Result<T, ClientError>;
