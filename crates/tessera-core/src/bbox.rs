//! Bounding boxes and the reference's `--bbox` syntax: `lon,lat` (the tile containing the
//! point) or `west,south,east,north` with `-180 <= W < E <= 180` and `-90 <= S < N <= 90`.

use std::fmt;

use thiserror::Error;

use crate::grid::{GridError, TileId};

/// Errors parsing or validating a bounding box.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum BboxError {
    /// Not 2 or 4 comma-separated finite numbers.
    #[error(
        "bbox '{0}' must be 'lon,lat' (single tile) or 'min_lon,min_lat,max_lon,max_lat' with finite numbers"
    )]
    Syntax(String),
    /// Not two comma-separated numbers.
    #[error("'{0}' is not a point: expected LON,LAT in degrees, e.g. 0.17,52.23")]
    PointSyntax(String),
    /// A point outside WGS84 or not finite.
    #[error(
        "point '{0}' must contain finite WGS84 longitude/latitude coordinates (|lon| <= 180, |lat| <= 90)"
    )]
    BadPoint(String),
    /// Zero or negative area, or outside WGS84.
    #[error(
        "bounding box {0} must have positive area within WGS84 bounds (-180 <= W < E <= 180, -90 <= S < N <= 90)"
    )]
    BadBox(String),
}

/// A WGS84 bounding box in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    /// West (min lon).
    pub west: f64,
    /// South (min lat).
    pub south: f64,
    /// East (max lon).
    pub east: f64,
    /// North (max lat).
    pub north: f64,
}

impl Bbox {
    /// A validated box: finite, `-180 <= W < E <= 180`, `-90 <= S < N <= 90`.
    pub fn new(west: f64, south: f64, east: f64, north: f64) -> Result<Bbox, BboxError> {
        let b = Bbox {
            west,
            south,
            east,
            north,
        };
        let ok = [west, south, east, north].iter().all(|v| v.is_finite())
            && -180.0 <= west
            && west < east
            && east <= 180.0
            && -90.0 <= south
            && south < north
            && north <= 90.0;
        if ok {
            Ok(b)
        } else {
            Err(BboxError::BadBox(b.to_string()))
        }
    }

    /// The box of a tile (centre ± 0.05).
    pub fn of_tile(tile: TileId) -> Bbox {
        let [west, south, east, north] = tile.bounds();
        Bbox {
            west,
            south,
            east,
            north,
        }
    }

    /// `[west, south, east, north]`.
    pub fn to_array(&self) -> [f64; 4] {
        [self.west, self.south, self.east, self.north]
    }

    /// The box grown by `margin` degrees on every side, in f64 as the reference
    /// (`min_lon - 0.05`, …); not clamped.
    pub fn expanded(&self, margin: f64) -> Bbox {
        Bbox {
            west: self.west - margin,
            south: self.south - margin,
            east: self.east + margin,
            north: self.north + margin,
        }
    }

    /// Inclusive containment on all four edges (shapely `intersects` of a point).
    pub fn contains_inclusive(&self, lon: f64, lat: f64) -> bool {
        self.west <= lon && lon <= self.east && self.south <= lat && lat <= self.north
    }

    /// Whether two boxes overlap (touching edges count).
    pub fn intersects(&self, other: &Bbox) -> bool {
        self.west <= other.east
            && other.west <= self.east
            && self.south <= other.north
            && other.south <= self.north
    }
}

impl fmt::Display for Bbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{}",
            self.west, self.south, self.east, self.north
        )
    }
}

/// What a `--bbox` argument selected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BboxSpec {
    /// `lon,lat`: the tile containing the point.
    Tile(TileId),
    /// `west,south,east,north`.
    Box(Bbox),
}

impl BboxSpec {
    /// The geographic bounds: the tile's cell or the box.
    pub fn bounds(&self) -> Bbox {
        match self {
            BboxSpec::Tile(t) => Bbox::of_tile(*t),
            BboxSpec::Box(b) => *b,
        }
    }
}

fn parse_numbers(s: &str) -> Option<Vec<f64>> {
    s.split(',').map(|p| p.trim().parse::<f64>().ok()).collect()
}

/// Parses `lon,lat` into the containing tile (validating like the reference's point parser).
pub fn parse_point(s: &str) -> Result<(f64, f64), BboxError> {
    match parse_numbers(s).as_deref() {
        Some(&[lon, lat]) => {
            if lon.is_finite() && lat.is_finite() && lon.abs() <= 180.0 && lat.abs() <= 90.0 {
                Ok((lon, lat))
            } else {
                Err(BboxError::BadPoint(s.to_string()))
            }
        }
        _ => Err(BboxError::PointSyntax(s.to_string())),
    }
}

/// Parses a `--bbox` value: `lon,lat` or `west,south,east,north`.
pub fn parse_bbox(s: &str) -> Result<BboxSpec, BboxError> {
    let nums = parse_numbers(s).ok_or_else(|| BboxError::Syntax(s.to_string()))?;
    match *nums.as_slice() {
        [_, _] => {
            let (lon, lat) = parse_point(s)?;
            let tile = TileId::containing(lon, lat)
                .map_err(|_: GridError| BboxError::BadPoint(s.to_string()))?;
            Ok(BboxSpec::Tile(tile))
        }
        [w, so, e, n] => {
            if !nums.iter().all(|v| v.is_finite()) {
                return Err(BboxError::Syntax(s.to_string()));
            }
            Ok(BboxSpec::Box(Bbox::new(w, so, e, n)?))
        }
        _ => Err(BboxError::Syntax(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            parse_bbox("-0.1,51.3,0.1,51.5").unwrap(),
            BboxSpec::Box(Bbox::new(-0.1, 51.3, 0.1, 51.5).unwrap())
        );
        assert_eq!(
            parse_bbox(" 0.17 , 52.23 ").unwrap(),
            BboxSpec::Tile("grid_0.15_52.25".parse().unwrap())
        );
        let b = parse_bbox("0.17,52.23").unwrap().bounds();
        assert_eq!(b.west, 0.15 - 0.05);
        for bad in [
            "",
            "1",
            "1,2,3",
            "1,2,3,4,5",
            "a,b",
            "0,0,0,1",
            "1,0,0,1",
            "-181,0,0,1",
            "0,0,1,91",
            "0,nan,1,1",
            "0,0,inf,1",
            "200,0",
            "0,95",
            "nan,0",
            "1,,2,3",
        ] {
            assert!(parse_bbox(bad).is_err(), "{bad}");
        }
        assert!(matches!(parse_bbox("0,0,0,1"), Err(BboxError::BadBox(_))));
        assert!(matches!(parse_bbox("200,0"), Err(BboxError::BadPoint(_))));
    }

    #[test]
    fn inclusive_query() {
        let q = Bbox::new(-0.1, 51.3, 0.1, 51.5).unwrap().expanded(0.05);
        assert!(q.contains_inclusive(-0.15, 51.25));
        assert!(q.contains_inclusive(0.15, 51.55));
        assert!(!q.contains_inclusive(0.25, 51.55));
    }
}
