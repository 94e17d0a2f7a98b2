//! Core of geotessera-rs: the TESSERA tile grid, coordinate reference systems and
//! projections, tile georeferencing, bounding boxes, the dataset table with object keys,
//! and int8 quantisation. Pure functions only: no I/O, no async.

#![warn(missing_docs)]

pub mod affine;
pub mod bbox;
pub mod crs;
pub mod dataset;
pub mod georef;
pub mod grid;
pub mod quant;
pub mod tm;

pub use affine::Affine;
pub use bbox::{Bbox, BboxError, BboxSpec, parse_bbox};
pub use crs::{Crs, CrsError, utm_zone};
pub use dataset::{DatasetError, DatasetRef, Format, FormatChoice};
pub use georef::TileGeoref;
pub use grid::{GridError, TileId};
pub use tm::TransverseMercator;
