//! Coordinate reference systems used by the published data, built from EPSG codes:
//! EPSG:4326 (WGS84 lon/lat, x = lon), EPSG:3857 (Web Mercator), and the UTM zones
//! EPSG:326NN (north) and EPSG:327NN (south).
//!
//! The Zarr stores use 326NN for a whole zone, south of the equator too, where northings
//! are simply negative: [`Crs::forward`] of a 326NN CRS gives exactly that for southern
//! points, since the false northing stays 0.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::tm::{TransverseMercator, WGS84_A};

/// Errors building a CRS.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CrsError {
    /// An EPSG code we do not implement.
    #[error(
        "unsupported CRS EPSG:{0}: supported are EPSG:4326, EPSG:3857, EPSG:32601-32660 and EPSG:32701-32760"
    )]
    Unsupported(u32),
    /// A string that is not `EPSG:<code>`.
    #[error("'{0}' is not a CRS: expected EPSG:<code>, e.g. EPSG:32631")]
    BadString(String),
}

/// A coordinate reference system identified by its EPSG code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Crs {
    /// EPSG:4326, WGS84 geographic; x = longitude, y = latitude (always_xy order).
    Wgs84,
    /// EPSG:3857, spherical Web Mercator on the WGS84 semi-major axis.
    WebMercator,
    /// WGS84 / UTM zone `zone` (1..=60); `north` selects 326NN, else 327NN.
    Utm {
        /// Zone number 1..=60.
        zone: u8,
        /// Northern (326NN, false northing 0) or southern (327NN, 10,000,000 m).
        north: bool,
    },
}

/// The UTM zone of a longitude: `clamp(floor((lon + 180) / 6) + 1, 1, 60)`, with no
/// Norway/Svalbard exceptions (as the published tiles and stores).
pub fn utm_zone(lon: f64) -> u8 {
    let z = ((lon + 180.0) / 6.0).floor() + 1.0;
    z.clamp(1.0, 60.0) as u8
}

impl Crs {
    /// The CRS of an EPSG code.
    pub fn from_epsg(code: u32) -> Result<Crs, CrsError> {
        match code {
            4326 => Ok(Crs::Wgs84),
            3857 => Ok(Crs::WebMercator),
            32601..=32660 => Ok(Crs::Utm {
                zone: (code - 32600) as u8,
                north: true,
            }),
            32701..=32760 => Ok(Crs::Utm {
                zone: (code - 32700) as u8,
                north: false,
            }),
            _ => Err(CrsError::Unsupported(code)),
        }
    }

    /// The UTM CRS the published tiles use for a tile centre: zone of the longitude,
    /// 326NN when `lat >= 0`, else 327NN.
    pub fn utm_for(lon: f64, lat: f64) -> Crs {
        Crs::Utm {
            zone: utm_zone(lon),
            north: lat >= 0.0,
        }
    }

    /// The EPSG code.
    pub fn epsg(&self) -> u32 {
        match *self {
            Crs::Wgs84 => 4326,
            Crs::WebMercator => 3857,
            Crs::Utm { zone, north: true } => 32600 + u32::from(zone),
            Crs::Utm { zone, north: false } => 32700 + u32::from(zone),
        }
    }

    /// True for projected CRSs (metres), false for geographic (degrees).
    pub fn is_projected(&self) -> bool {
        !matches!(self, Crs::Wgs84)
    }

    /// The transverse Mercator behind a UTM CRS.
    pub fn transverse_mercator(&self) -> Option<TransverseMercator> {
        match *self {
            Crs::Utm { zone, north } => Some(TransverseMercator::utm(
                zone,
                if north { 0.0 } else { 10_000_000.0 },
            )),
            _ => None,
        }
    }

    /// WGS84 lon/lat (degrees) to this CRS (x, y).
    pub fn forward(&self, lon: f64, lat: f64) -> (f64, f64) {
        match self {
            Crs::Wgs84 => (lon, lat),
            Crs::WebMercator => {
                let x = WGS84_A * lon.to_radians();
                let y = WGS84_A
                    * (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0)
                        .tan()
                        .ln();
                (x, y)
            }
            Crs::Utm { .. } => self
                .transverse_mercator()
                .map_or((f64::NAN, f64::NAN), |tm| tm.forward(lon, lat)),
        }
    }

    /// This CRS (x, y) to WGS84 lon/lat (degrees).
    pub fn inverse(&self, x: f64, y: f64) -> (f64, f64) {
        match self {
            Crs::Wgs84 => (x, y),
            Crs::WebMercator => {
                let lon = (x / WGS84_A).to_degrees();
                let lat = (y / WGS84_A).sinh().atan().to_degrees();
                (lon, lat)
            }
            Crs::Utm { .. } => self
                .transverse_mercator()
                .map_or((f64::NAN, f64::NAN), |tm| tm.inverse(x, y)),
        }
    }

    /// Transforms a point from this CRS to `to` through WGS84 (no datum shift).
    pub fn transform_to(&self, to: &Crs, x: f64, y: f64) -> (f64, f64) {
        if self == to {
            return (x, y);
        }
        let (lon, lat) = self.inverse(x, y);
        to.forward(lon, lat)
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EPSG:{}", self.epsg())
    }
}

impl FromStr for Crs {
    type Err = CrsError;

    /// Parses `EPSG:NNNN` (case-insensitive prefix) or a bare code.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let code = t
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("epsg:"))
            .map_or(t, |_| &t[5..]);
        let code: u32 = code
            .parse()
            .map_err(|_| CrsError::BadString(s.to_string()))?;
        Crs::from_epsg(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(Crs::from_epsg(32631).unwrap().to_string(), "EPSG:32631");
        assert_eq!(
            Crs::from_epsg(32701).unwrap(),
            Crs::Utm {
                zone: 1,
                north: false
            }
        );
        assert_eq!("epsg:3857".parse::<Crs>().unwrap(), Crs::WebMercator);
        assert_eq!("4326".parse::<Crs>().unwrap(), Crs::Wgs84);
        assert!(Crs::from_epsg(32661).is_err());
        assert!(Crs::from_epsg(32600).is_err());
        assert!("EPSG:x".parse::<Crs>().is_err());
        assert!("".parse::<Crs>().is_err());
        assert_eq!(utm_zone(-180.0), 1);
        assert_eq!(utm_zone(180.0), 60);
        assert_eq!(utm_zone(0.15), 31);
        assert_eq!(utm_zone(-0.15), 30);
        assert_eq!(utm_zone(10.05), 32);
    }

    #[test]
    fn web_mercator() {
        let c = Crs::WebMercator;
        let (x, y) = c.forward(180.0, 0.0);
        assert!((x - 20_037_508.342_789_244).abs() < 1e-6 && y.abs() < 1e-9);
        let (lon, lat) = c.inverse(c.forward(12.5, 51.2).0, c.forward(12.5, 51.2).1);
        assert!((lon - 12.5).abs() < 1e-12 && (lat - 51.2).abs() < 1e-12);
    }

    #[test]
    fn north_zone_gives_negative_northings_south() {
        let north = Crs::from_epsg(32737 - 100).unwrap();
        let south = Crs::from_epsg(32737).unwrap();
        let (xn, yn) = north.forward(36.85, -1.25);
        let (xs, ys) = south.forward(36.85, -1.25);
        assert!(yn < 0.0);
        assert!((xn - xs).abs() < 1e-9);
        assert!((ys - 10_000_000.0 - yn).abs() < 1e-6);
    }
}
