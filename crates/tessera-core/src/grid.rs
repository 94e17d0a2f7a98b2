//! The 0.1-degree tile grid of the published data: point to tile, names, keys and bounds.
//!
//! Tiles are 0.1° × 0.1° cells of the WGS84 grid with edges on multiples of 0.1°, named
//! by their centre printed with two decimals (`grid_0.15_52.05`). A [`TileId`] holds the
//! integer keys `round(centre * 100)` used by the manifests, so that lookups never compare
//! floats; the centre as a float is recovered exactly as `key / 100`.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Side of a tile in degrees.
pub const TILE_SIZE_DEG: f64 = 0.1;

/// Errors of the tile grid.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GridError {
    /// A coordinate is NaN or infinite.
    #[error("coordinates must be finite numbers (got lon={lon}, lat={lat})")]
    NonFinite {
        /// The longitude given.
        lon: f64,
        /// The latitude given.
        lat: f64,
    },
    /// A longitude outside [-180, 180].
    #[error("longitude {0} out of bounds [-180, 180]")]
    LonOutOfRange(f64),
    /// A latitude outside [-90, 90].
    #[error("latitude {0} out of bounds [-90, 90]")]
    LatOutOfRange(f64),
    /// A string that is not a tile name.
    #[error(
        "'{0}' is not a tile name: expected grid_LON_LAT with two decimals, e.g. grid_0.15_52.05"
    )]
    BadName(String),
    /// Integer keys that are not the centre of a 0.1-degree cell.
    #[error(
        "({lon_i}, {lat_i}) is not a tile centre: keys must be odd multiples of 5 (x.x5 degrees) within range"
    )]
    NotACentre {
        /// Longitude key (centre × 100).
        lon_i: i32,
        /// Latitude key (centre × 100).
        lat_i: i32,
    },
}

/// One 0.1-degree tile, identified by its centre keys `round(lon * 100)`, `round(lat * 100)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    lon_i: i32,
    lat_i: i32,
}

/// Checks finiteness and WGS84 range of a point.
pub fn validate_lonlat(lon: f64, lat: f64) -> Result<(), GridError> {
    if !lon.is_finite() || !lat.is_finite() {
        return Err(GridError::NonFinite { lon, lat });
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(GridError::LonOutOfRange(lon));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(GridError::LatOutOfRange(lat));
    }
    Ok(())
}

/// The key of the cell containing `v`: the reference computes
/// `round(floor(v * 10) / 10 + 0.05, 2)` in f64; that value is always within 1e-12 of
/// `(10 * floor(v * 10) + 5) / 100`, so its key is exactly `10 * floor(v * 10) + 5`.
/// Only `floor(v * 10)` (with f64 rounding of the product) decides edge cases.
fn cell_key(v: f64) -> i32 {
    let f = (v * 10.0).floor();
    // |v| <= 180 so f fits comfortably in i32.
    f as i32 * 10 + 5
}

/// `round(coord * 100)` with NumPy's round half to even, as an i32 key.
///
/// Non-finite or huge input saturates (the caller validates ranges).
pub fn coord_key(coord: f64) -> i32 {
    (coord * 100.0).round_ties_even() as i32
}

impl TileId {
    /// The tile containing a WGS84 point (half-open cells `[west, east) × [south, north)`).
    ///
    /// Like the reference, `lon = 180` gives the nonexistent column 180.05 and `lat = 90`
    /// the row 90.05: such tiles simply have no coverage.
    pub fn containing(lon: f64, lat: f64) -> Result<TileId, GridError> {
        validate_lonlat(lon, lat)?;
        Ok(TileId {
            lon_i: cell_key(lon),
            lat_i: cell_key(lat),
        })
    }

    /// A tile from its integer keys, checking that they name a cell centre.
    pub fn from_keys(lon_i: i32, lat_i: i32) -> Result<TileId, GridError> {
        let centre = |k: i32| k.rem_euclid(10) == 5;
        if centre(lon_i) && centre(lat_i) && lon_i.abs() <= 18005 && lat_i.abs() <= 9005 {
            Ok(TileId { lon_i, lat_i })
        } else {
            Err(GridError::NotACentre { lon_i, lat_i })
        }
    }

    /// A tile from centre coordinates (snapped through the integer keys).
    pub fn from_centre(lon: f64, lat: f64) -> Result<TileId, GridError> {
        if !lon.is_finite() || !lat.is_finite() {
            return Err(GridError::NonFinite { lon, lat });
        }
        TileId::from_keys(coord_key(lon), coord_key(lat))
    }

    /// Longitude key, `round(lon * 100)` of the centre (e.g. 15 for 0.15).
    pub fn lon_i(&self) -> i32 {
        self.lon_i
    }

    /// Latitude key, `round(lat * 100)` of the centre (e.g. 5205 for 52.05).
    pub fn lat_i(&self) -> i32 {
        self.lat_i
    }

    /// Centre longitude: the f64 closest to the two-decimal value (as Python's `float("0.15")`).
    pub fn lon(&self) -> f64 {
        f64::from(self.lon_i) / 100.0
    }

    /// Centre latitude: the f64 closest to the two-decimal value.
    pub fn lat(&self) -> f64 {
        f64::from(self.lat_i) / 100.0
    }

    /// Geographic bounds `(west, south, east, north)` = centre ± 0.05, in f64 as the reference.
    pub fn bounds(&self) -> [f64; 4] {
        let (lon, lat) = (self.lon(), self.lat());
        [lon - 0.05, lat - 0.05, lon + 0.05, lat + 0.05]
    }

    /// The name `grid_{lon:.2f}_{lat:.2f}`.
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// Parses a leading tile name like Python's `re.match(r"grid_(-?\d+\.\d+)_(-?\d+\.\d+)")`,
    /// returning the tile and the rest of the string (e.g. `"_scales.npy"`).
    pub fn parse_prefix(s: &str) -> Option<(TileId, &str)> {
        let (lon, lat, rest) = parse_grid_prefix(s)?;
        let tile = TileId::from_centre(lon, lat).ok()?;
        Some((tile, rest))
    }
}

/// Parses `-?\d+\.\d+` at the start of `s`, returning the number text and the rest.
fn take_decimal(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == int_start || i >= b.len() || b[i] != b'.' {
        return None;
    }
    i += 1;
    let frac_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == frac_start {
        return None;
    }
    Some((&s[..i], &s[i..]))
}

/// The reference's `parse_grid_name`: `(lon, lat)` floats and the unparsed rest, or `None`.
pub fn parse_grid_prefix(s: &str) -> Option<(f64, f64, &str)> {
    let s = s.strip_prefix("grid_")?;
    let (lon_txt, rest) = take_decimal(s)?;
    let rest = rest.strip_prefix('_')?;
    let (lat_txt, rest) = take_decimal(rest)?;
    Some((lon_txt.parse().ok()?, lat_txt.parse().ok()?, rest))
}

impl fmt::Display for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "grid_{:.2}_{:.2}", self.lon(), self.lat())
    }
}

impl FromStr for TileId {
    type Err = GridError;

    /// Parses an exact tile name (`grid_0.15_52.05`), nothing before or after it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match TileId::parse_prefix(s) {
            Some((tile, "")) => Ok(tile),
            _ => Err(GridError::BadName(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference expression, literally: `round(floor(v*10)/10 + 0.05, 2)` then key.
    fn reference_key(v: f64) -> i32 {
        let c = (v * 10.0).floor() / 10.0 + 0.05;
        let rounded: f64 = format!("{c:.2}").parse().unwrap();
        coord_key(rounded)
    }

    #[test]
    fn spec_vectors() {
        let t = TileId::containing(0.17, 52.23).unwrap();
        assert_eq!((t.lon(), t.lat()), (0.15, 52.25));
        assert_eq!(t.name(), "grid_0.15_52.25");
        assert_eq!((t.lon_i(), t.lat_i()), (15, 5225));
        assert_eq!(TileId::containing(0.1, 0.0).unwrap().lon(), 0.15);
        assert_eq!(TileId::containing(-0.1, 0.0).unwrap().lon(), -0.05);
        let t = TileId::containing(-120.0, 36.0).unwrap();
        assert_eq!((t.lon(), t.lat()), (-119.95, 36.05));
        let t = TileId::containing(-0.12, -0.03).unwrap();
        assert_eq!((t.lon(), t.lat()), (-0.15, -0.05));
        assert_eq!(t.name(), "grid_-0.15_-0.05");
        assert_eq!(TileId::containing(180.0, 0.0).unwrap().lon(), 180.05);
        assert_eq!(coord_key(-179.95), -17995);
        assert_eq!(coord_key(-0.15), -15);
        assert_eq!(coord_key(51.55), 5155);
    }

    #[test]
    fn validation() {
        assert!(matches!(
            TileId::containing(200.0, 0.0),
            Err(GridError::LonOutOfRange(_))
        ));
        assert!(matches!(
            TileId::containing(0.0, -90.5),
            Err(GridError::LatOutOfRange(_))
        ));
        assert!(matches!(
            TileId::containing(f64::NAN, 0.0),
            Err(GridError::NonFinite { .. })
        ));
        assert!(matches!(
            TileId::containing(0.0, f64::INFINITY),
            Err(GridError::NonFinite { .. })
        ));
        assert!(TileId::from_keys(10, 5).is_err());
        assert!(TileId::from_keys(15, 9015).is_err());
    }

    #[test]
    fn names() {
        let t: TileId = "grid_-179.95_-0.05".parse().unwrap();
        assert_eq!((t.lon_i(), t.lat_i()), (-17995, -5));
        assert_eq!(t.bounds()[0], -179.95 - 0.05);
        let (t, rest) = TileId::parse_prefix("grid_0.15_52.05_scales.npy").unwrap();
        assert_eq!(t.name(), "grid_0.15_52.05");
        assert_eq!(rest, "_scales.npy");
        for bad in [
            "grid_0.15",
            "grid_.15_52.05",
            "grid_0._52.05",
            "grid_0.15_52.05x",
            "grid_0.10_52.05",
            "tile_0.15_52.05",
            "grid_+0.15_52.05",
            "",
        ] {
            assert!(bad.parse::<TileId>().is_err(), "{bad}");
        }
        assert_eq!(
            parse_grid_prefix("grid_1.5_2.25"),
            Some((1.5, 2.25, "")),
            "the reference regex accepts any number of decimals"
        );
    }

    #[test]
    fn cell_edges_match_reference_expression() {
        // Values on and around every cell edge of a few degrees, including the f64
        // products that land just below an integer (e.g. 0.7 * 10 = 7.000000000000001).
        for k in -1800..=1800 {
            let edge = f64::from(k) / 10.0;
            for v in [
                edge,
                edge.next_up(),
                edge.next_down(),
                edge + 1e-9,
                edge - 1e-9,
            ] {
                if (-180.0..=180.0).contains(&v) {
                    assert_eq!(cell_key(v), reference_key(v), "v = {v:e}");
                }
            }
        }
    }
}
