//! HTTP serving for TESSERA mirrors: `tessera mirror serve` serves a mirror directory with
//! the HTTP behaviour of the published mirror (S3 behind a CDN), plus seeded fault
//! injection and request statistics for testing clients against it; and `tessera serve`
//! serves a directory (a web map) on 127.0.0.1, with tiles made on request.

#![warn(missing_docs)]

pub mod admin;
mod body;
pub mod conn;
pub mod faults;
pub mod mirror;
pub mod objects;
pub mod site;
pub mod site_http;
pub mod stats;

pub use conn::serve;
pub use faults::{FaultAction, FaultParseError, FaultRule, Faults, glob_match};
pub use mirror::{Limits, MirrorServer, ServerConfig, ServerError, ServerHandle, bind};
pub use site::{SiteConfig, SiteServer, TileSource};
pub use stats::{KeyStats, OTHER_KEYS, Stats};
