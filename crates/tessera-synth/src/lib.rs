//! A deterministic synthetic TESSERA world and the byte-compatible mirror tree it writes:
//! NPY embedding tiles with the published geometry, landmasks, manifests, and the ground
//! truth (land-cover classes and labelled points) to measure what is learnt from them.
//!
//! The world is a pure function of (seed, lon, lat, year): land and water from the
//! embedded Natural Earth polygons, a land-cover map with 9 classes defined in geographic
//! coordinates, and per-dataset embedding models (class signatures + spatially correlated
//! variation + yearly drift + noise), quantised exactly as the TESSERA model does.

#![warn(missing_docs)]

pub mod embed;
pub mod mirror;
pub mod noise;
pub mod tile;
pub mod verify;
pub mod world;

pub use mirror::{SynthError, SynthOptions, SynthReport, synthesize, tiles_in};
pub use verify::{VerifyReport, verify_mirror};
pub use world::{CLASSES, Class, NCLASS, World};
