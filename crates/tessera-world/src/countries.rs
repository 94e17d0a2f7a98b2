//! Countries from the embedded Natural Earth shapefile, and lookup by name, ISO code,
//! alias or a close spelling (as the reference's `--country` does, with Python difflib's
//! similarity ratio and cutoff 0.8).

use std::io::Cursor;
use std::sync::LazyLock;

use shapefile::dbase::FieldValue;
use thiserror::Error;

use crate::{Polygon, Ring, rings_bbox};

static SHP: &[u8] = include_bytes!("../data/ne_110m_admin_0_countries.shp");
static SHX: &[u8] = include_bytes!("../data/ne_110m_admin_0_countries.shx");
static DBF: &[u8] = include_bytes!("../data/ne_110m_admin_0_countries.dbf");

/// One country (one Natural Earth admin-0 record).
#[derive(Debug, Clone)]
pub struct Country {
    /// `NAME_EN`, the canonical name.
    pub name_en: String,
    /// `NAME`.
    pub name: String,
    /// `NAME_LONG`.
    pub name_long: String,
    /// `ISO_A2` (may be "-99").
    pub iso_a2: String,
    /// `ISO_A3` (may be "-99").
    pub iso_a3: String,
    /// `ISO_A2_EH`, the real code where `ISO_A2` says "-99" (France, Norway).
    pub iso_a2_eh: String,
    /// `ISO_A3_EH`.
    pub iso_a3_eh: String,
    /// Polygons.
    pub polygons: Vec<Polygon>,
    /// `[west, south, east, north]` of the polygons.
    pub bbox: [f64; 4],
}

/// A country name that does not resolve.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error(
    "country '{0}' not found: use a country name (e.g. 'United Kingdom'), an ISO code (GB, GBR) or run 'tessera countries' to list them"
)]
pub struct CountryError(pub String);

fn text(record: &shapefile::dbase::Record, field: &str) -> String {
    match record.get(field) {
        Some(FieldValue::Character(Some(s))) => s.trim().to_string(),
        Some(FieldValue::Memo(s)) => s.trim().to_string(),
        _ => String::new(),
    }
}

fn load() -> Vec<Country> {
    let shapes = shapefile::ShapeReader::with_shx(Cursor::new(SHP), Cursor::new(SHX))
        .expect("embedded Natural Earth .shp is valid");
    let dbf = shapefile::dbase::Reader::new(Cursor::new(DBF))
        .expect("embedded Natural Earth .dbf is valid");
    let mut reader = shapefile::Reader::new(shapes, dbf);
    let mut out = Vec::new();
    for item in reader.iter_shapes_and_records() {
        let (shape, record) = item.expect("embedded Natural Earth record is valid");
        let polygons: Vec<Polygon> = match shape {
            shapefile::Shape::Polygon(p) => {
                // Group rings: each outer ring starts a polygon, holes follow their outer ring.
                let mut polys: Vec<Polygon> = Vec::new();
                for ring in p.rings() {
                    let pts: Ring = ring.points().iter().map(|q| (q.x, q.y)).collect();
                    match ring {
                        shapefile::PolygonRing::Outer(_) => {
                            polys.push(Polygon { rings: vec![pts] })
                        }
                        shapefile::PolygonRing::Inner(_) => match polys.last_mut() {
                            Some(last) => last.rings.push(pts),
                            None => polys.push(Polygon { rings: vec![pts] }),
                        },
                    }
                }
                polys
            }
            _ => Vec::new(),
        };
        let bbox = rings_bbox(polygons.iter().flat_map(|p| p.rings.iter())).unwrap_or([0.0; 4]);
        out.push(Country {
            name_en: text(&record, "NAME_EN"),
            name: text(&record, "NAME"),
            name_long: text(&record, "NAME_LONG"),
            iso_a2: text(&record, "ISO_A2"),
            iso_a3: text(&record, "ISO_A3"),
            iso_a2_eh: text(&record, "ISO_A2_EH"),
            iso_a3_eh: text(&record, "ISO_A3_EH"),
            polygons,
            bbox,
        });
    }
    out
}

static COUNTRIES: LazyLock<Vec<Country>> = LazyLock::new(load);

/// All countries of the embedded data.
pub fn countries() -> &'static [Country] {
    &COUNTRIES
}

/// Lookup keys (lower-case) → canonical `NAME_EN`, as the reference builds them, plus the
/// real ISO codes of the `_EH` fields (so "FR" and "NOR" resolve).
fn keys() -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, canonical: &str| {
        let k = k.trim().to_lowercase();
        if !k.is_empty() && k != "-99" && !keys.iter().any(|(x, _)| *x == k) {
            keys.push((k, canonical.to_string()));
        }
    };
    for c in countries() {
        if c.name_en.is_empty() {
            continue;
        }
        add(&c.name_en, &c.name_en);
        add(&c.name_long, &c.name_en);
        add(&c.iso_a2, &c.name_en);
        add(&c.iso_a3, &c.name_en);
    }
    for c in countries() {
        if c.name_en.is_empty() {
            continue;
        }
        add(&c.name, &c.name_en);
        add(&c.iso_a2_eh, &c.name_en);
        add(&c.iso_a3_eh, &c.name_en);
    }
    for (alias, canonical) in [
        ("uk", "United Kingdom"),
        ("usa", "United States of America"),
        ("us", "United States of America"),
        ("russia", "Russia"),
        ("south korea", "South Korea"),
        ("north korea", "North Korea"),
    ] {
        if countries().iter().any(|c| c.name_en == canonical) {
            add(alias, canonical);
        }
    }
    keys
}

/// Python difflib's `SequenceMatcher(None, a, b).ratio()` (Ratcliff/Obershelp), on chars.
pub fn similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    fn matches(a: &[char], b: &[char]) -> usize {
        // Longest common substring, leftmost in a then b (difflib's find_longest_match
        // without junk heuristics; names are short, so autojunk never triggers).
        let (mut best, mut bi, mut bj) = (0usize, 0usize, 0usize);
        let mut prev = vec![0usize; b.len() + 1];
        for (i, ca) in a.iter().enumerate() {
            let mut cur = vec![0usize; b.len() + 1];
            for (j, cb) in b.iter().enumerate() {
                if ca == cb {
                    cur[j + 1] = prev[j] + 1;
                    if cur[j + 1] > best {
                        best = cur[j + 1];
                        bi = i + 1 - best;
                        bj = j + 1 - best;
                    }
                }
            }
            prev = cur;
        }
        if best == 0 {
            return 0;
        }
        best + matches(&a[..bi], &b[..bj]) + matches(&a[bi + best..], &b[bj + best..])
    }
    2.0 * matches(&a, &b) as f64 / (a.len() + b.len()) as f64
}

/// The countries named `query`: exact key (case-insensitive), else the closest key with
/// similarity ≥ 0.8. Several records can share a `NAME_EN`; all are returned.
pub fn country_by_name(query: &str) -> Result<Vec<&'static Country>, CountryError> {
    let q = query.trim().to_lowercase();
    let keys = keys();
    let canonical = match keys.iter().find(|(k, _)| *k == q) {
        Some((_, c)) => c.clone(),
        None => {
            let mut best: Option<(f64, &str)> = None;
            for (k, c) in &keys {
                let r = similarity(&q, k);
                if r >= 0.8 && best.is_none_or(|(b, _)| r > b) {
                    best = Some((r, c));
                }
            }
            best.map(|(_, c)| c.to_string())
                .ok_or_else(|| CountryError(query.to_string()))?
        }
    };
    Ok(countries()
        .iter()
        .filter(|c| c.name_en == canonical)
        .collect())
}

/// `[west, south, east, north]` of several countries' polygons.
pub fn total_bounds(cs: &[&Country]) -> Option<[f64; 4]> {
    rings_bbox(
        cs.iter()
            .flat_map(|c| c.polygons.iter().flat_map(|p| p.rings.iter())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_resolves() {
        assert!(countries().len() > 170, "{}", countries().len());
        let uk = country_by_name("UK").unwrap();
        assert_eq!(uk[0].name_en, "United Kingdom");
        let b = total_bounds(&uk).unwrap();
        assert!(
            b[0] < -5.0 && b[2] > 1.0 && b[1] > 49.0 && b[3] < 61.0,
            "{b:?}"
        );
        assert_eq!(country_by_name("gbr").unwrap()[0].name_en, "United Kingdom");
        assert_eq!(country_by_name(" france ").unwrap()[0].name_en, "France");
        assert_eq!(country_by_name("FR").unwrap()[0].name_en, "France");
        assert_eq!(country_by_name("Germny").unwrap()[0].name_en, "Germany");
        assert!(country_by_name("Atlantis").is_err());
        assert!(country_by_name("").is_err());
    }

    #[test]
    fn difflib_ratio() {
        // Values from Python: difflib.SequenceMatcher(None, a, b).ratio()
        assert!((similarity("germny", "germany") - 0.923_076_923_076_923).abs() < 1e-12);
        assert!((similarity("abcd", "bcde") - 0.75).abs() < 1e-12);
        assert_eq!(similarity("", ""), 1.0);
        assert_eq!(similarity("abc", "xyz"), 0.0);
    }
}
