//! Region selection: `--bbox`, `--tile`, `--region-file` (GeoJSON, Shapefile, GeoPackage,
//! local or by http(s) URL) and `--country`, resolved to WGS84 bounds and the reference's
//! tile query box.

pub(crate) mod gpkg;
mod url;

pub use url::MAX_REGION_BYTES;

use std::path::Path;

use tessera_core::bbox::{BboxSpec, parse_bbox, parse_point};
use tessera_core::{Bbox, Crs, TileId};
use tessera_world::{CountryMatch, Polygon, resolve_country};

use crate::error::{ClientError, Result};

/// A resolved region.
#[derive(Debug, Clone)]
pub struct Region {
    /// What it is, for messages.
    pub label: String,
    /// A single tile (point selectors) or a box.
    pub spec: BboxSpec,
    /// Polygons of a region file or country (WGS84), when there are any.
    pub polygons: Vec<Polygon>,
    /// What `--country` resolved to (its `Display` is the line to show a person).
    pub country: Option<CountryMatch>,
}

impl Region {
    /// The WGS84 bounds.
    pub fn bounds(&self) -> Bbox {
        self.spec.bounds()
    }

    /// The canonical name of the country selected with `--country`, if that was the selector.
    pub fn country_name(&self) -> Option<&str> {
        self.country.as_ref().map(|c| c.name.as_str())
    }

    /// The registry query box: a point selects exactly its tile (a degenerate box at the
    /// tile centre, grown by 0.05); a box is grown by 0.05 degrees (edges inclusive).
    pub fn query_box(&self) -> Bbox {
        match self.spec {
            BboxSpec::Tile(t) => Bbox {
                west: t.lon(),
                south: t.lat(),
                east: t.lon(),
                north: t.lat(),
            }
            .expanded(0.05),
            BboxSpec::Box(b) => b.expanded(0.05),
        }
    }
}

/// The region selectors of the command line.
#[derive(Debug, Clone, Default)]
pub struct RegionArgs {
    /// `--bbox`.
    pub bbox: Option<String>,
    /// `--tile`.
    pub tile: Option<String>,
    /// `--region-file`.
    pub region_file: Option<std::path::PathBuf>,
    /// `--country`.
    pub country: Option<String>,
}

/// Resolves exactly one selector.
pub fn resolve(a: &RegionArgs) -> Result<Region> {
    let n = [
        a.bbox.is_some(),
        a.tile.is_some(),
        a.region_file.is_some(),
        a.country.is_some(),
    ]
    .iter()
    .filter(|&&x| x)
    .count();
    if n != 1 {
        let why = if n > 1 {
            "Cannot specify multiple region options."
        } else {
            "Must specify a region."
        };
        return Err(ClientError::Usage(format!(
            "{why} Choose one of: --bbox, --tile, --region-file, --country"
        )));
    }
    let usage = |e: tessera_core::BboxError| ClientError::Usage(e.to_string());
    if let Some(b) = &a.bbox {
        return Ok(Region {
            label: format!("bbox {b}"),
            spec: parse_bbox(b).map_err(usage)?,
            polygons: Vec::new(),
            country: None,
        });
    }
    if let Some(t) = &a.tile {
        let (lon, lat) = parse_point(t)
            .map_err(|_| ClientError::Usage(format!("--tile must be 'lon,lat', got '{t}'")))?;
        let tile = TileId::containing(lon, lat).map_err(|e| ClientError::Usage(e.to_string()))?;
        return Ok(Region {
            label: format!("tile {tile}"),
            spec: BboxSpec::Tile(tile),
            polygons: Vec::new(),
            country: None,
        });
    }
    if let Some(c) = &a.country {
        let m = resolve_country(c).map_err(|e| ClientError::Usage(e.to_string()))?;
        let [w, s, e, n] = m.bbox;
        let bbox = Bbox::new(w, s, e, n).map_err(usage)?;
        return Ok(Region {
            label: format!("country {}", m.name),
            spec: BboxSpec::Box(bbox),
            polygons: m
                .countries
                .iter()
                .flat_map(|c| c.polygons.clone())
                .collect(),
            country: Some(m),
        });
    }
    let path = a.region_file.as_ref().expect("one selector is set");
    let polygons = read_region_file(path)?;
    let name = file_label(path);
    let b = tessera_world::rings_bbox(polygons.iter().flat_map(|p| p.rings.iter()))
        .ok_or_else(|| ClientError::Usage(format!("{name}: the region has no coordinates")))?;
    let bbox = Bbox::new(b[0], b[1], b[2], b[3])
        .map_err(|e| ClientError::Usage(format!("{name}: {e}")))?;
    Ok(Region {
        label: format!("region file {name}"),
        spec: BboxSpec::Box(bbox),
        polygons,
        country: None,
    })
}

/// How a region file is named in messages: the path, or the URL without credentials.
fn file_label(path: &Path) -> String {
    match path.to_str() {
        Some(s) if url::is_url(s) => url::shown(s),
        _ => path.display().to_string(),
    }
}

/// Reads a region file (GeoJSON, Shapefile or GeoPackage; a path or an http(s) URL) as
/// WGS84 polygons; points and lines count by their coordinates (for the bounds).
pub fn read_region_file(path: &Path) -> Result<Vec<Polygon>> {
    if let Some(s) = path.to_str()
        && url::is_url(s)
    {
        let fetched = url::fetch(s)?;
        return read_local(&fetched.path, &url::shown(s));
    }
    if !path.is_file() {
        return Err(ClientError::Usage(format!(
            "region file {} does not exist",
            path.display()
        )));
    }
    read_local(path, &path.display().to_string())
}

/// Reads a local region file by its extension; `label` names it in messages.
fn read_local(path: &Path, label: &str) -> Result<Vec<Polygon>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "shp" => read_shapefile(path, label),
        "geojson" | "json" => read_geojson(path, label),
        "gpkg" => {
            let (polys, crs) = gpkg::read(path, label)?;
            finish(polys, crs, label)
        }
        _ => Err(ClientError::Usage(format!(
            "{label}: unsupported region file; use GeoJSON (.geojson, .json), GeoPackage (.gpkg) or a Shapefile (.shp with .prj)"
        ))),
    }
}

/// The CRS a GeoJSON names in its (pre-RFC 7946) `crs` member; WGS84 when absent.
pub(crate) fn geojson_crs(v: &serde_json::Value, label: &str) -> Result<Crs> {
    let Some(name) = v.pointer("/crs/properties/name").and_then(|n| n.as_str()) else {
        return Ok(Crs::Wgs84);
    };
    let up = name.to_ascii_uppercase();
    if up.ends_with("CRS84") || up.ends_with("EPSG::4326") || up == "EPSG:4326" {
        return Ok(Crs::Wgs84);
    }
    let code = up
        .rsplit([':', '/'])
        .next()
        .and_then(|c| c.parse::<u32>().ok());
    code.and_then(|c| Crs::from_epsg(c).ok()).ok_or_else(|| {
        ClientError::Usage(format!(
            "{label}: unsupported CRS '{name}'; use WGS84 (EPSG:4326), Web Mercator or UTM"
        ))
    })
}

fn read_geojson(path: &Path, label: &str) -> Result<Vec<Polygon>> {
    let text = std::fs::read_to_string(path).map_err(|e| ClientError::io(path, e))?;
    let bad =
        |e: &dyn std::fmt::Display| ClientError::Usage(format!("{label}: malformed GeoJSON: {e}"));
    let raw: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e))?;
    let crs = geojson_crs(&raw, label)?;
    let gj: geojson::GeoJson = text.parse().map_err(|e| bad(&e))?;
    let mut geoms = Vec::new();
    match gj {
        geojson::GeoJson::FeatureCollection(fc) => {
            for f in fc.features {
                geoms.push(
                    f.geometry
                        .ok_or_else(|| bad(&"a feature without geometry"))?,
                );
            }
        }
        geojson::GeoJson::Feature(f) => geoms.push(
            f.geometry
                .ok_or_else(|| bad(&"a feature without geometry"))?,
        ),
        geojson::GeoJson::Geometry(g) => geoms.push(g),
    }
    let mut out = Vec::new();
    for g in geoms {
        collect(&g.value, &mut out);
    }
    finish(out, crs, label)
}

fn ring(coords: &[geojson::Position]) -> Vec<(f64, f64)> {
    coords
        .iter()
        .map(|c| c.as_slice())
        .filter(|c| c.len() >= 2)
        .map(|c| (c[0], c[1]))
        .collect()
}

pub(crate) fn collect(v: &geojson::GeometryValue, out: &mut Vec<Polygon>) {
    use geojson::GeometryValue as G;
    match v {
        G::Point { coordinates } => out.push(Polygon {
            rings: vec![ring(std::slice::from_ref(coordinates))],
        }),
        G::MultiPoint { coordinates } | G::LineString { coordinates } => out.push(Polygon {
            rings: vec![ring(coordinates)],
        }),
        G::MultiLineString { coordinates } | G::Polygon { coordinates } => out.push(Polygon {
            rings: coordinates.iter().map(|r| ring(r)).collect(),
        }),
        G::MultiPolygon { coordinates } => {
            for p in coordinates {
                out.push(Polygon {
                    rings: p.iter().map(|r| ring(r)).collect(),
                });
            }
        }
        G::GeometryCollection { geometries } => {
            for g in geometries {
                collect(&g.value, out);
            }
        }
    }
}

/// Reprojects to WGS84 and checks that there are finite coordinates in range.
fn finish(mut polys: Vec<Polygon>, crs: Crs, label: &str) -> Result<Vec<Polygon>> {
    polys.retain(|p| p.rings.iter().any(|r| !r.is_empty()));
    if polys.is_empty() {
        return Err(ClientError::Usage(format!(
            "{label}: the region must contain non-empty geometries"
        )));
    }
    for p in &mut polys {
        for r in &mut p.rings {
            for pt in r.iter_mut() {
                *pt = crs.inverse(pt.0, pt.1);
                if !pt.0.is_finite() || !pt.1.is_finite() || pt.0.abs() > 180.0 || pt.1.abs() > 90.0
                {
                    return Err(ClientError::Usage(format!(
                        "{label}: coordinates ({}, {}) are outside WGS84 after reprojection from {crs}",
                        pt.0, pt.1
                    )));
                }
            }
        }
    }
    Ok(polys)
}

/// The CRS of a `.prj` (ESRI WKT1): WGS84 geographic, WGS84 UTM zones, Web Mercator.
pub fn prj_crs(wkt: &str) -> Option<Crs> {
    // A whole WKT definition: balanced brackets, ending with the outermost one (a
    // truncated file is not guessed at).
    let t = wkt.trim();
    let mut depth = 0i64;
    for c in t.chars() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            _ => {}
        }
    }
    if depth != 0 || !t.ends_with(']') {
        return None;
    }
    let up = wkt.to_ascii_uppercase();
    if !up.contains("WGS_1984") && !up.contains("WGS 84") && !up.contains("WGS84") {
        return None;
    }
    if !up.contains("PROJCS") {
        return Some(Crs::Wgs84);
    }
    if up.contains("MERCATOR_AUXILIARY_SPHERE")
        || up.contains("PSEUDO-MERCATOR")
        || up.contains("PSEUDO_MERCATOR")
    {
        return Some(Crs::WebMercator);
    }
    let i = up
        .find("UTM_ZONE_")
        .map(|i| i + 9)
        .or_else(|| up.find("UTM ZONE ").map(|i| i + 9))?;
    let rest = &up[i..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let zone: u8 = digits.parse().ok()?;
    let north = rest[digits.len()..].starts_with('N');
    if !(1..=60).contains(&zone) {
        return None;
    }
    Some(Crs::Utm { zone, north })
}

fn read_shapefile(path: &Path, label: &str) -> Result<Vec<Polygon>> {
    let prj = path.with_extension("prj");
    let wkt = std::fs::read_to_string(&prj).map_err(|_| {
        ClientError::Usage(format!(
            "{label}: the Shapefile has no .prj, so its CRS is unknown; add {} or convert the region to GeoJSON",
            prj.display()
        ))
    })?;
    let crs = prj_crs(&wkt).ok_or_else(|| {
        ClientError::Usage(format!(
            "{label}: unsupported CRS in its .prj; use WGS84, Web Mercator or a WGS84 UTM zone"
        ))
    })?;
    let shapes = shapefile::read_shapes(path)
        .map_err(|e| ClientError::Usage(format!("{label}: unreadable Shapefile: {e}")))?;
    let mut out = Vec::new();
    for s in shapes {
        match s {
            shapefile::Shape::Polygon(p) => out.push(Polygon {
                rings: p
                    .rings()
                    .iter()
                    .map(|r| r.points().iter().map(|q| (q.x, q.y)).collect())
                    .collect(),
            }),
            shapefile::Shape::Point(p) => out.push(Polygon {
                rings: vec![vec![(p.x, p.y)]],
            }),
            shapefile::Shape::Polyline(l) => out.push(Polygon {
                rings: l
                    .parts()
                    .iter()
                    .map(|r| r.iter().map(|q| (q.x, q.y)).collect())
                    .collect(),
            }),
            shapefile::Shape::Multipoint(m) => out.push(Polygon {
                rings: vec![m.points().iter().map(|q| (q.x, q.y)).collect()],
            }),
            _ => {}
        }
    }
    finish(out, crs, label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prj_parsing() {
        assert_eq!(
            prj_crs("GEOGCS[\"GCS_WGS_1984\",DATUM[\"D_WGS_1984\"]]"),
            Some(Crs::Wgs84)
        );
        assert_eq!(
            prj_crs("PROJCS[\"WGS_1984_UTM_Zone_31N\",GEOGCS[\"GCS_WGS_1984\"]]"),
            Some(Crs::Utm {
                zone: 31,
                north: true
            })
        );
        assert_eq!(
            prj_crs("PROJCS[\"WGS 84 / UTM zone 37S\",GEOGCS[\"WGS 84\"]]"),
            Some(Crs::Utm {
                zone: 37,
                north: false
            })
        );
        assert_eq!(
            prj_crs("PROJCS[\"OSGB 1936 / British National Grid\"]"),
            None
        );
        // Truncated definitions are refused, not guessed at.
        assert_eq!(
            prj_crs("PROJCS[\"WGS_1984_UTM_Zone_31N\",GEOGCS[\"GCS_WGS_1984\""),
            None
        );
        assert_eq!(prj_crs("PROJCS[\"WGS_1984_UTM_Zone_31N\",GEOGCS["), None);
        assert_eq!(prj_crs("GEOGCS[\"GCS_WGS_1984\"]]"), None);
    }

    #[test]
    fn selectors() {
        let r = resolve(&RegionArgs {
            tile: Some("0.17,52.23".into()),
            ..Default::default()
        })
        .unwrap();
        let q = r.query_box();
        assert_eq!((q.west, q.east), (0.15 - 0.05, 0.15 + 0.05));
        assert!(resolve(&RegionArgs::default()).is_err());
        assert!(
            resolve(&RegionArgs {
                tile: Some("1,2,3,4".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            resolve(&RegionArgs {
                bbox: Some("0,0,1,1".into()),
                tile: Some("0,0".into()),
                ..Default::default()
            })
            .unwrap_err()
            .to_string()
            .contains("multiple")
        );
        let uk = resolve(&RegionArgs {
            country: Some("uk".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(uk.bounds().west < -5.0);
        assert_eq!(uk.country_name(), Some("United Kingdom"));
        let line = uk.country.unwrap().to_string();
        assert!(
            line.starts_with("country 'uk' -> United Kingdom (GB, GBR), bbox "),
            "{line}"
        );
        assert!(
            resolve(&RegionArgs {
                country: Some("Narnia".into()),
                ..Default::default()
            })
            .is_err()
        );
    }
}
