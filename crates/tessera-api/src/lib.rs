//! The synchronous API of geotessera-rs: what a user asks for (a dataset, a region, points,
//! a store) in; arrays, files, reports and notes out. Every front end (the `tessera` CLI,
//! the Python package) is a thin face over this crate: it parses, calls once, and prints or
//! converts. Nothing here prints; notes and warnings come back as data, progress is shared
//! state ([`Progress`]) that a face polls, and every long call can be cancelled from another
//! thread ([`Progress::cancel`]).
//!
//! Network I/O runs on one process-wide tokio runtime ([`runtime`]), re-created in a forked
//! child.

#![warn(missing_docs)]

pub mod context;
pub mod coverage;
pub mod learn;
pub mod manifest;
pub mod progress;
pub mod store;
pub mod tiles;
pub mod visualize;
pub mod webmap;

pub use context::{Context, ContextOptions, runtime};
pub use progress::{Level, Note, Progress};
pub use tessera_client::{ClientError as Error, Result};
