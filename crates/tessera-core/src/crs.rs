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
    #[error(
        "'{0}' is not a CRS: expected EPSG:<code> (e.g. EPSG:32631) or a centred transverse Mercator '+proj=tmerc +lat_0=LAT +lon_0=LON'"
    )]
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
    /// A transverse Mercator on WGS84 centred on (`lon0`, `lat0`) (micro-degrees): scale 1
    /// on the central meridian, (0, 0) at the centre; PROJ
    /// `+proj=tmerc +lat_0=.. +lon_0=.. +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m`. For
    /// mosaics of a region without a UTM zone's distortion at its edges (no EPSG code).
    LocalTm {
        /// Central meridian, micro-degrees.
        lon0: i32,
        /// Latitude of origin, micro-degrees.
        lat0: i32,
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

    /// The EPSG code (none for [`Crs::LocalTm`]).
    pub fn epsg(&self) -> Option<u32> {
        match *self {
            Crs::Wgs84 => Some(4326),
            Crs::WebMercator => Some(3857),
            Crs::Utm { zone, north: true } => Some(32600 + u32::from(zone)),
            Crs::Utm { zone, north: false } => Some(32700 + u32::from(zone)),
            Crs::LocalTm { .. } => None,
        }
    }

    /// A transverse Mercator centred on `lon`, `lat` (degrees, kept to 1e-6), as
    /// [`Crs::LocalTm`]; fails outside -180..180 / -90..90.
    pub fn local_tm(lon: f64, lat: f64) -> Result<Crs, CrsError> {
        if !(lon.is_finite() && lat.is_finite() && lon.abs() <= 180.0 && lat.abs() < 90.0) {
            return Err(CrsError::BadString(format!(
                "tmerc centred on ({lon}, {lat})"
            )));
        }
        Ok(Crs::LocalTm {
            lon0: (lon * 1e6).round() as i32,
            lat0: (lat * 1e6).round() as i32,
        })
    }

    /// The centre of a [`Crs::LocalTm`] in degrees.
    pub fn tm_centre(&self) -> Option<(f64, f64)> {
        match *self {
            Crs::LocalTm { lon0, lat0 } => Some((f64::from(lon0) / 1e6, f64::from(lat0) / 1e6)),
            _ => None,
        }
    }

    /// The PROJ string of this CRS (`+proj=...`), as GDAL's `-t_srs` takes it.
    pub fn proj_string(&self) -> String {
        match *self {
            Crs::LocalTm { .. } => {
                let (lon, lat) = self.tm_centre().unwrap_or_default();
                format!(
                    "+proj=tmerc +lat_0={} +lon_0={} +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs",
                    fmt_deg(lat),
                    fmt_deg(lon)
                )
            }
            Crs::Wgs84 => "+proj=longlat +datum=WGS84 +no_defs".into(),
            Crs::WebMercator => "+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +no_defs".into(),
            Crs::Utm { zone, north } => format!(
                "+proj=utm +zone={zone}{} +datum=WGS84 +units=m +no_defs",
                if north { "" } else { " +south" }
            ),
        }
    }

    /// True for projected CRSs (metres), false for geographic (degrees).
    pub fn is_projected(&self) -> bool {
        !matches!(self, Crs::Wgs84)
    }

    /// The transverse Mercator behind a UTM CRS.
    pub fn transverse_mercator(&self) -> Option<TransverseMercator> {
        match *self {
            Crs::LocalTm { .. } => {
                let (lon0, lat0) = self.tm_centre()?;
                let mut tm = TransverseMercator {
                    lon0,
                    k0: 1.0,
                    false_easting: 0.0,
                    false_northing: 0.0,
                };
                // PROJ's y_0 = 0 at the latitude of origin: the meridian arc to it is
                // taken off.
                tm.false_northing = -tm.forward(lon0, lat0).1;
                Some(tm)
            }
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
            Crs::Utm { .. } | Crs::LocalTm { .. } => self
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
            Crs::Utm { .. } | Crs::LocalTm { .. } => self
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
        match self.epsg() {
            Some(c) => write!(f, "EPSG:{c}"),
            None => f.write_str(&self.proj_string()),
        }
    }
}

/// Degrees without trailing zeros (at most 6 decimals).
fn fmt_deg(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Parses the PROJ string of a [`Crs::LocalTm`] (`+proj=tmerc +lat_0=.. +lon_0=..`, with
/// `+k=1 +x_0=0 +y_0=0`, WGS84 and metres as given or implied).
fn parse_tmerc(s: &str) -> Option<Crs> {
    let (mut lat0, mut lon0) = (0.0, None);
    let mut tmerc = false;
    for tok in s.split_whitespace() {
        let t = tok.trim_start_matches('+');
        let (k, v) = t.split_once('=').unwrap_or((t, ""));
        let num = || v.parse::<f64>().ok();
        match k {
            "proj" => tmerc = v == "tmerc",
            "lat_0" => lat0 = num()?,
            "lon_0" => lon0 = Some(num()?),
            "k" | "k_0" => (num()? == 1.0).then_some(())?,
            "x_0" | "y_0" => (num()? == 0.0).then_some(())?,
            "datum" | "ellps" => (v == "WGS84").then_some(())?,
            "units" => (v == "m").then_some(())?,
            "no_defs" | "type" => {}
            _ => return None,
        }
    }
    if !tmerc {
        return None;
    }
    Crs::local_tm(lon0?, lat0).ok()
}

impl FromStr for Crs {
    type Err = CrsError;

    /// Parses `EPSG:NNNN` (case-insensitive prefix), a bare code, or the PROJ string of a
    /// centred transverse Mercator (see [`Crs::LocalTm`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.starts_with('+') {
            return parse_tmerc(t).ok_or_else(|| CrsError::BadString(s.to_string()));
        }
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
        assert_eq!(Crs::from_epsg(32631).unwrap().epsg(), Some(32631));
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
        let tm: Crs = "+proj=tmerc +lat_0=52.05 +lon_0=0.15 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
            .parse()
            .unwrap();
        assert_eq!(
            tm,
            Crs::LocalTm {
                lon0: 150_000,
                lat0: 52_050_000
            }
        );
        assert_eq!(tm.epsg(), None);
        assert_eq!(tm.to_string().parse::<Crs>().unwrap(), tm);
        assert!("+proj=tmerc +lon_0=3 +k=0.9996".parse::<Crs>().is_err());
        assert!("+proj=merc +lon_0=3".parse::<Crs>().is_err());
        // The centre maps to (0, 0); 1 km east is about 1 km from it.
        let (x, y) = tm.forward(0.15, 52.05);
        assert!(x.abs() < 1e-9 && y.abs() < 1e-6, "{x} {y}");
        let (lon, lat) = tm.inverse(1000.0, 2000.0);
        let (x, y) = tm.forward(lon, lat);
        assert!((x - 1000.0).abs() < 1e-6 && (y - 2000.0).abs() < 1e-6);
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
