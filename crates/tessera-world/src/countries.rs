//! Countries for `--country`: Natural Earth 1:50m admin-0 polygons (the world-atlas
//! TopoJSON), named and coded by a join on the ISO 3166-1 numeric code to the 1:110m
//! shapefile's records (so every name and code of the reference resolves as it does there)
//! and, for the small countries 1:110m lacks (Monaco, Liechtenstein, ...), to ISO 3166-1
//! (Debian's iso-codes). Lookup by name, ISO code, alias or a close spelling, as the
//! reference's `--country` does (difflib's ratio, cutoff 0.8), saying what matched and how.
//! A country 1:110m has keeps only the 1:50m parts near its 1:110m bbox (the far overseas
//! parts are left out, as 1:110m leaves them out; see `near_110m`).

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use crate::difflib::{close_matches, similarity};
use crate::ne110m::ne110m;
use crate::{Polygon, Ring, rings_bbox, topojson};

static TOPOJSON: &str = include_str!("../data/countries-50m.json");
static ISO_3166_1: &str = include_str!("../data/iso_3166_1.csv");

/// The similarity a close spelling needs to be taken as the country (the reference's).
pub const CLOSE_CUTOFF: f64 = 0.8;
/// The similarity a name needs to be suggested after a miss.
pub const SUGGEST_CUTOFF: f64 = 0.6;

/// One country (one Natural Earth 1:50m admin-0 feature).
#[derive(Debug, Clone)]
pub struct Country {
    /// The canonical name: 1:110m `NAME_EN` where the feature joins a 1:110m record, else the
    /// ISO 3166-1 short name when it is a plain one, else Natural Earth's map name.
    pub name_en: String,
    /// Natural Earth's map name (`NAME`, e.g. "Bosnia and Herz.").
    pub name: String,
    /// 1:110m `NAME_LONG`, or the ISO 3166-1 name (may be empty).
    pub name_long: String,
    /// `ISO_A2` (may be "-99").
    pub iso_a2: String,
    /// `ISO_A3` (may be "-99").
    pub iso_a3: String,
    /// `ISO_A2_EH`, the real code where `ISO_A2` says "-99" (France, Norway).
    pub iso_a2_eh: String,
    /// `ISO_A3_EH`.
    pub iso_a3_eh: String,
    /// ISO 3166-1 numeric, three digits (may be "-99").
    pub iso_n3: String,
    /// Polygons: all of the 1:50m feature's for a country 1:110m lacks, else those near the
    /// 1:110m country (the overseas parts left out, as 1:110m leaves them out; see
    /// `near_110m`).
    pub polygons: Vec<Polygon>,
    /// `[west, south, east, north]` of the polygons.
    pub bbox: [f64; 4],
}

fn code(primary: &str, fallback: &str) -> Option<String> {
    [primary, fallback]
        .into_iter()
        .find(|c| !c.is_empty() && *c != "-99")
        .map(str::to_string)
}

impl Country {
    /// The ISO 3166-1 alpha-2 code (`ISO_A2_EH`, which holds "TW" where `ISO_A2` says
    /// "CN-TW" and "FR" where it says "-99"; else `ISO_A2`), if it has one.
    pub fn alpha2(&self) -> Option<String> {
        code(&self.iso_a2_eh, &self.iso_a2)
    }

    /// The ISO 3166-1 alpha-3 code (`ISO_A3_EH`, else `ISO_A3`), if it has one.
    pub fn alpha3(&self) -> Option<String> {
        code(&self.iso_a3_eh, &self.iso_a3)
    }
}

/// One ISO 3166-1 entry of the embedded table.
#[derive(Debug, Clone)]
struct Iso {
    alpha2: String,
    alpha3: String,
    name: String,
}

fn iso_table() -> HashMap<String, Iso> {
    let mut r = csv::Reader::from_reader(ISO_3166_1.as_bytes());
    r.records()
        .map(|rec| rec.expect("embedded ISO 3166-1 table is valid CSV"))
        .map(|rec| {
            (
                rec[0].to_string(),
                Iso {
                    alpha2: rec[1].to_string(),
                    alpha3: rec[2].to_string(),
                    name: rec[3].to_string(),
                },
            )
        })
        .collect()
}

/// A sort key that puts "Åland" with the a's.
fn sort_key(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| match c {
            'à'..='å' => 'a',
            'ç' => 'c',
            'è'..='ë' => 'e',
            'ì'..='ï' => 'i',
            'ñ' => 'n',
            'ò'..='ö' => 'o',
            'ù'..='ü' => 'u',
            'ý' | 'ÿ' => 'y',
            c => c,
        })
        .collect()
}

/// Which 1:110m record (by index) each 1:50m feature joins: the record with its numeric
/// code (among several features with one code, the one of the record's name), else, for
/// records without a code (Kosovo, Somaliland, N. Cyprus), the feature of the same name.
fn join(features: &[topojson::Feature]) -> Vec<Option<usize>> {
    let name = |f: &topojson::Feature| f.properties["name"].as_str().unwrap_or("").to_string();
    let mut joined: Vec<Option<usize>> = vec![None; features.len()];
    for (ri, r) in ne110m().iter().enumerate() {
        let by_code: Vec<usize> = (0..features.len())
            .filter(|&i| r.iso_n3 != "-99" && features[i].id.as_deref() == Some(&r.iso_n3))
            .collect();
        let pick = match by_code.len() {
            1 => Some(by_code[0]),
            0 => (0..features.len()).find(|&i| {
                joined[i].is_none() && features[i].id.is_none() && name(&features[i]) == r.name
            }),
            _ => by_code
                .into_iter()
                .find(|&i| name(&features[i]) == r.name || name(&features[i]) == r.name_en),
        };
        if let Some(i) = pick {
            joined[i] = Some(ri);
        }
    }
    joined
}

/// How far (degrees, on each side) beyond its 1:110m bbox a 1:50m part of a country may lie
/// and still count as the country's (see [`near_110m`]).
pub(crate) const NEAR_110M_DEG: f64 = 5.0;

/// Whether the segment `a`-`b` meets the box `[w, s, e, n]` (Liang-Barsky clipping).
fn segment_meets_box(a: (f64, f64), b: (f64, f64), [w, s, e, n]: [f64; 4]) -> bool {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [(-dx, a.0 - w), (dx, e - a.0), (-dy, a.1 - s), (dy, n - a.1)] {
        if p == 0.0 {
            if q < 0.0 {
                return false;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
            if t0 > t1 {
                return false;
            }
        }
    }
    true
}

/// Whether `pt` lies inside `ring` (even-odd rule).
fn ring_contains(ring: &Ring, (x, y): (f64, f64)) -> bool {
    let mut inside = false;
    let n = ring.len();
    for i in 0..n {
        let (x0, y0) = ring[i];
        let (x1, y1) = ring[(i + 1) % n];
        if (y0 > y) != (y1 > y) && x < x0 + (y - y0) / (y1 - y0) * (x1 - x0) {
            inside = !inside;
        }
    }
    inside
}

/// Whether a polygon (its exterior ring) meets the box `[w, s, e, n]`: an edge of the ring
/// crosses or lies in the box, or the box lies inside the ring.
fn polygon_meets_box(p: &Polygon, b: [f64; 4]) -> bool {
    let Some(outer) = p.rings.first().filter(|r| !r.is_empty()) else {
        return false;
    };
    let n = outer.len();
    (0..n).any(|i| segment_meets_box(outer[i], outer[(i + 1) % n], b))
        || ring_contains(outer, (b[0], b[1]))
}

/// The 1:50m parts of a country that 1:110m also has, near the 1:110m country.
///
/// 1:50m adds the far overseas parts that 1:110m leaves out (French Guiana is in both, but
/// 1:50m's France also has Martinique, Guadeloupe, Reunion and Mayotte; the Netherlands its
/// Caribbean islands; Portugal the Azores and Madeira; Spain the Canaries; Chile Easter
/// Island; Ecuador the Galapagos; Norway Jan Mayen; the USA the Aleutians beyond the
/// antimeridian; New Zealand the Chathams beyond it and Tokelau), and a `--country` bbox over
/// all of them covers half the globe or all of it.
///
/// The rule: keep the polygons that meet the 1:110m country's bbox grown by
/// [`NEAR_110M_DEG`] (5 degrees) on each side, and take the bbox from those. The islands near
/// the country that 1:110m drops stay in (Shetland, Bornholm, Rhodes, Okinawa, Amami and the
/// Ogasawara Islands, Kinmen, the Batanes, southern Vanuatu, Juan Fernandez, the Auckland
/// Islands, the Aleutians east of 177 W) and the far ones are left out as 1:110m left them:
/// the nearest left out lie 5.3 degrees off (an Aleutian), then Campbell Island (5.8),
/// Miyako and Yaeyama (6.2 to 6.6), Martinique (6.3), the Canaries (6.7) and Madeira (7.2).
/// A 1 degree margin would drop Shetland, Bornholm, Rhodes and Okinawa too.
///
/// The grown box does not wrap round the antimeridian (a `[west, south, east, north]` bbox
/// cannot cross it), so the Chathams and the Aleutians west of 180 are out and neither the
/// USA nor New Zealand spans -180..180. A 1:110m bbox that already spans the whole
/// -180..180 (Russia, Fiji, Antarctica: they straddle the antimeridian or circle the pole)
/// says nothing about which parts are near, so those keep all their polygons, as before.
/// The countries 1:110m lacks (Monaco, Liechtenstein, ...) keep all theirs too (the caller
/// does not call this for them). Should no polygon meet the box (none does in the embedded
/// data), all are kept.
pub(crate) fn near_110m(polygons: &[Polygon], bbox_110m: [f64; 4]) -> Vec<Polygon> {
    let [w, s, e, n] = bbox_110m;
    if e - w >= 359.0 {
        return polygons.to_vec();
    }
    let m = NEAR_110M_DEG;
    let grown = [w - m, s - m, e + m, n + m];
    let near: Vec<Polygon> = polygons
        .iter()
        .filter(|p| polygon_meets_box(p, grown))
        .cloned()
        .collect();
    if near.is_empty() {
        polygons.to_vec()
    } else {
        near
    }
}

fn load() -> Vec<Country> {
    let features = topojson::decode(TOPOJSON, "countries").expect("embedded TopoJSON is valid");
    let iso = iso_table();
    let joined = join(&features);
    let joined_codes: Vec<&str> = joined
        .iter()
        .zip(&features)
        .filter(|(j, _)| j.is_some())
        .filter_map(|(_, f)| f.id.as_deref())
        .collect();
    let mut out = Vec::new();
    for (f, j) in features.iter().zip(&joined) {
        let polygons = match j {
            Some(ri) => near_110m(&f.polygons, ne110m()[*ri].bbox),
            None => f.polygons.clone(),
        };
        let Some(bbox) = rings_bbox(polygons.iter().flat_map(|p| p.rings.iter())) else {
            continue;
        };
        let map_name = f.properties["name"].as_str().unwrap_or("").to_string();
        let country = match j {
            Some(ri) => {
                let r = &ne110m()[*ri];
                Country {
                    name_en: r.name_en.clone(),
                    name: map_name,
                    name_long: r.name_long.clone(),
                    iso_a2: r.iso_a2.clone(),
                    iso_a3: r.iso_a3.clone(),
                    iso_a2_eh: r.iso_a2_eh.clone(),
                    iso_a3_eh: r.iso_a3_eh.clone(),
                    iso_n3: f.id.clone().unwrap_or_else(|| r.iso_n3.clone()),
                    polygons: polygons.clone(),
                    bbox,
                }
            }
            None => {
                // A code another (joined) feature holds is that country's, not this part's
                // (Ashmore and Cartier Is. carry Australia's 036).
                let entry =
                    f.id.as_deref()
                        .filter(|id| !joined_codes.contains(id))
                        .and_then(|id| iso.get(id));
                let (a2, a3, long) = match entry {
                    Some(e) => (e.alpha2.clone(), e.alpha3.clone(), e.name.clone()),
                    None => ("-99".into(), "-99".into(), String::new()),
                };
                let plain = !long.is_empty() && !long.contains([',', '(']);
                Country {
                    name_en: if plain {
                        long.clone()
                    } else {
                        map_name.clone()
                    },
                    name: map_name,
                    name_long: long,
                    iso_a2: a2.clone(),
                    iso_a3: a3.clone(),
                    iso_a2_eh: a2,
                    iso_a3_eh: a3,
                    iso_n3: match entry {
                        Some(_) => f.id.clone().unwrap_or_else(|| "-99".into()),
                        None => "-99".into(),
                    },
                    polygons,
                    bbox,
                }
            }
        };
        out.push(country);
    }
    out.sort_by_cached_key(|c| (sort_key(&c.name_en), c.name.clone()));
    out
}

static COUNTRIES: LazyLock<Vec<Country>> = LazyLock::new(load);

/// All countries (Natural Earth 1:50m admin-0), sorted by canonical name.
pub fn countries() -> &'static [Country] {
    &COUNTRIES
}

/// How a query matched a country.
#[derive(Debug, Clone, PartialEq)]
pub enum MatchKind {
    /// A name (`NAME_EN`, `NAME_LONG`, `NAME`, or the ISO 3166-1 name), case-insensitive.
    Name,
    /// An ISO 3166-1 alpha-2 or alpha-3 code.
    IsoCode,
    /// An alias (uk, usa, us).
    Alias,
    /// Not exact: the closest key, with its similarity (difflib ratio ≥ 0.8).
    CloseSpelling {
        /// The key that matched (lower-case).
        key: String,
        /// Its similarity to the query.
        score: f64,
    },
}

/// One lookup key (lower-case) and the canonical name it selects.
struct Key {
    key: String,
    canonical: String,
    kind: MatchKind,
}

/// The lookup keys, in the reference's order (so the first holder of a key wins as there):
/// the 1:110m `NAME_EN`, `NAME_LONG`, `ISO_A2`, `ISO_A3`, then `NAME` and the real codes of the
/// `_EH` fields (so "FR" and "NOR" resolve), then the aliases, then what the 1:50m data adds.
fn build_keys() -> Vec<Key> {
    let mut keys: Vec<Key> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut add = |k: &str, canonical: &str, kind: MatchKind| {
        let k = k.trim().to_lowercase();
        if !k.is_empty() && k != "-99" && seen.insert(k.clone()) {
            keys.push(Key {
                key: k,
                canonical: canonical.to_string(),
                kind,
            });
        }
    };
    let present = |name: &str| countries().iter().any(|c| c.name_en == name);
    let old: Vec<&Country> = ne110m()
        .iter()
        .filter(|c| !c.name_en.is_empty() && present(&c.name_en))
        .collect();
    for c in &old {
        add(&c.name_en, &c.name_en, MatchKind::Name);
        add(&c.name_long, &c.name_en, MatchKind::Name);
        add(&c.iso_a2, &c.name_en, MatchKind::IsoCode);
        add(&c.iso_a3, &c.name_en, MatchKind::IsoCode);
    }
    for c in &old {
        add(&c.name, &c.name_en, MatchKind::Name);
        add(&c.iso_a2_eh, &c.name_en, MatchKind::IsoCode);
        add(&c.iso_a3_eh, &c.name_en, MatchKind::IsoCode);
    }
    for (alias, canonical) in [
        ("uk", "United Kingdom"),
        ("usa", "United States of America"),
        ("us", "United States of America"),
        ("russia", "Russia"),
        ("south korea", "South Korea"),
        ("north korea", "North Korea"),
    ] {
        if present(canonical) {
            add(alias, canonical, MatchKind::Alias);
        }
    }
    for c in countries() {
        add(&c.name_en, &c.name_en, MatchKind::Name);
        add(&c.name, &c.name_en, MatchKind::Name);
        add(&c.name_long, &c.name_en, MatchKind::Name);
        add(&c.iso_a2, &c.name_en, MatchKind::IsoCode);
        add(&c.iso_a3, &c.name_en, MatchKind::IsoCode);
    }
    keys
}

static KEYS: LazyLock<Vec<Key>> = LazyLock::new(build_keys);

/// What a `--country` query resolved to.
#[derive(Debug, Clone)]
pub struct CountryMatch {
    /// The query as given.
    pub query: String,
    /// The canonical name (`NAME_EN`).
    pub name: String,
    /// How it matched.
    pub how: MatchKind,
    /// The features of that name (usually one).
    pub countries: Vec<&'static Country>,
    /// `[west, south, east, north]` of their polygons.
    pub bbox: [f64; 4],
}

impl CountryMatch {
    /// The ISO alpha-2 code, if the country has one.
    pub fn alpha2(&self) -> Option<String> {
        self.countries.iter().find_map(|c| c.alpha2())
    }

    /// The ISO alpha-3 code, if the country has one.
    pub fn alpha3(&self) -> Option<String> {
        self.countries.iter().find_map(|c| c.alpha3())
    }
}

/// One line for a person: `country 'norway' -> Norway (NO, NOR), bbox W,S,E,N`, plus how it
/// matched when that was not by name.
impl fmt::Display for CountryMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let codes: Vec<String> = [self.alpha2(), self.alpha3()]
            .into_iter()
            .flatten()
            .collect();
        let codes = if codes.is_empty() {
            String::new()
        } else {
            format!(" ({})", codes.join(", "))
        };
        let [w, s, e, n] = self.bbox;
        write!(
            f,
            "country '{}' -> {}{codes}, bbox {w:.4},{s:.4},{e:.4},{n:.4}",
            self.query, self.name
        )?;
        match &self.how {
            MatchKind::Name => Ok(()),
            MatchKind::IsoCode => write!(f, " (ISO code)"),
            MatchKind::Alias => write!(f, " (alias)"),
            MatchKind::CloseSpelling { key, score } => {
                write!(f, " (closest spelling: '{key}', similarity {score:.2})")
            }
        }
    }
}

/// A country name that does not resolve, with the closest names.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub struct CountryError {
    /// The query as given.
    pub query: String,
    /// Up to five canonical names that come close (similarity ≥ 0.6), best first.
    pub suggestions: Vec<String>,
}

impl fmt::Display for CountryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.suggestions.is_empty() {
            write!(
                f,
                "country '{}' not found: use a country name (e.g. 'United Kingdom') or an ISO code (GB, GBR); run 'tessera countries' to list them",
                self.query
            )
        } else {
            write!(
                f,
                "country '{}' not found; did you mean: {}? Run 'tessera countries' to list them",
                self.query,
                self.suggestions.join(", ")
            )
        }
    }
}

/// Up to five canonical names whose best key scores at least [`SUGGEST_CUTOFF`].
fn suggestions(q: &str) -> Vec<String> {
    let mut best: Vec<(f64, &str)> = Vec::new();
    for k in KEYS.iter() {
        let s = similarity(&k.key, q);
        if s < SUGGEST_CUTOFF {
            continue;
        }
        match best.iter_mut().find(|(_, c)| *c == k.canonical) {
            Some(b) => b.0 = b.0.max(s),
            None => best.push((s, &k.canonical)),
        }
    }
    best.sort_by(|l, r| r.0.total_cmp(&l.0).then_with(|| l.1.cmp(r.1)));
    best.into_iter()
        .take(5)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// Resolves `query`: an exact key (case-insensitive, trimmed), else the closest key with
/// similarity ≥ 0.8 (reported as such); on a miss, the error suggests close names.
pub fn resolve_country(query: &str) -> Result<CountryMatch, CountryError> {
    let q = query.trim().to_lowercase();
    let (canonical, how) = match KEYS.iter().find(|k| k.key == q) {
        Some(k) => (k.canonical.clone(), k.kind.clone()),
        None => {
            let best = close_matches(&q, KEYS.iter().map(|k| k.key.as_str()), 1, CLOSE_CUTOFF);
            let Some(&(score, key)) = best.first() else {
                return Err(CountryError {
                    query: query.to_string(),
                    suggestions: suggestions(&q),
                });
            };
            let k = KEYS
                .iter()
                .find(|k| k.key == key)
                .expect("a key of the table");
            (
                k.canonical.clone(),
                MatchKind::CloseSpelling {
                    key: key.to_string(),
                    score,
                },
            )
        }
    };
    let cs: Vec<&'static Country> = countries()
        .iter()
        .filter(|c| c.name_en == canonical)
        .collect();
    let bbox = total_bounds(&cs).expect("countries without polygons are dropped on load");
    Ok(CountryMatch {
        query: query.to_string(),
        name: canonical,
        how,
        countries: cs,
        bbox,
    })
}

/// The countries named `query` (see [`resolve_country`]). Several features can share a
/// `NAME_EN`; all are returned.
pub fn country_by_name(query: &str) -> Result<Vec<&'static Country>, CountryError> {
    resolve_country(query).map(|m| m.countries)
}

/// The countries whose name contains `filter` (case-insensitive) or whose ISO code
/// (alpha-2, alpha-3, numeric) it is; all of them for an empty filter. Sorted by name.
pub fn find_countries(filter: &str) -> Vec<&'static Country> {
    let f = filter.trim().to_lowercase();
    countries()
        .iter()
        .filter(|c| {
            f.is_empty()
                || [&c.name_en, &c.name, &c.name_long]
                    .iter()
                    .any(|n| n.to_lowercase().contains(&f))
                || [&c.iso_a2, &c.iso_a3, &c.iso_a2_eh, &c.iso_a3_eh, &c.iso_n3]
                    .iter()
                    .any(|code| code.to_lowercase() == f)
        })
        .collect()
}

/// `[west, south, east, north]` of several countries' polygons.
pub fn total_bounds(cs: &[&Country]) -> Option<[f64; 4]> {
    rings_bbox(
        cs.iter()
            .flat_map(|c| c.polygons.iter().flat_map(|p| p.rings.iter())),
    )
}

#[cfg(test)]
#[path = "countries_tests.rs"]
mod tests;
