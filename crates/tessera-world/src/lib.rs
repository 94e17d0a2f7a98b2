//! The world map every tool needs offline, embedded in the binary: Natural Earth admin-0
//! countries (public domain). Country lookup by name, ISO code, alias or close spelling uses
//! the 1:50m polygons (world-atlas TopoJSON, so Monaco and Liechtenstein are there); the
//! land/water boundary is the union of the 1:110m polygons (v5.1.1), which the synthetic
//! world is drawn from.

#![warn(missing_docs)]

mod countries;
mod difflib;
mod land;
mod ne110m;
pub mod topojson;

pub use countries::{
    CLOSE_CUTOFF, Country, CountryError, CountryMatch, MatchKind, SUGGEST_CUTOFF, countries,
    country_by_name, find_countries, resolve_country, total_bounds,
};
pub use difflib::{close_matches, similarity};
pub use land::{LandIndex, LandRaster, land_index};

/// A closed ring of (lon, lat) vertices (first vertex repeated at the end or not).
pub type Ring = Vec<(f64, f64)>;

/// A polygon: rings in Shapefile order (outer rings clockwise, holes counter-clockwise).
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    /// The rings.
    pub rings: Vec<Ring>,
}

/// `[west, south, east, north]` of some rings.
pub fn rings_bbox<'a>(rings: impl IntoIterator<Item = &'a Ring>) -> Option<[f64; 4]> {
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut any = false;
    for r in rings {
        for &(x, y) in r {
            any = true;
            b[0] = b[0].min(x);
            b[1] = b[1].min(y);
            b[2] = b[2].max(x);
            b[3] = b[3].max(y);
        }
    }
    any.then_some(b)
}
