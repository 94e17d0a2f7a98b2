//! GeoPackage region files (OGC 12-128), read without GDAL: the geometries of the first
//! feature table (by its order in `gpkg_contents`, the layer GDAL and so the reference's
//! `geopandas.read_file` read by default), in the CRS of its geometry column.
//!
//! The geometry blobs (a GeoPackage header, then ISO WKB) are parsed here by hand: the
//! crates that do it bring a database layer or GDAL with them, and a region needs only the
//! coordinates. Every length and count is checked against the bytes that remain, so a
//! hostile blob is an error, never a panic or a large allocation.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use tessera_core::Crs;
use tessera_world::Polygon;

use crate::error::{ClientError, Result};
use crate::mirror::sanitize;

/// Deepest nesting of collections followed (deeper blobs are refused, not recursed into
/// until the stack overflows).
const MAX_DEPTH: usize = 32;

/// The smallest WKB geometry: byte order, type and an empty count.
const MIN_WKB: usize = 1 + 4 + 4;

/// The geometries of the first feature table of the GeoPackage at `path` and their CRS;
/// `label` names the file in messages.
pub(super) fn read(path: &Path, label: &str) -> Result<(Vec<Polygon>, Crs)> {
    let bad = |m: String| ClientError::Usage(format!("{label}: {m}"));
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| bad(format!("cannot open as a GeoPackage: {e}")))?;
    // The file may come from anywhere: no functions with side effects from its schema, and
    // corrupt pages found early.
    db.execute_batch("PRAGMA trusted_schema = OFF; PRAGMA cell_size_check = ON;")
        .map_err(|e| bad(format!("not a GeoPackage: {e}")))?;
    let layer: Option<(String, String, i64)> = db
        .query_row(
            "SELECT c.table_name, g.column_name, g.srs_id FROM gpkg_contents c \
             JOIN gpkg_geometry_columns g ON lower(g.table_name) = lower(c.table_name) \
             WHERE c.data_type = 'features' ORDER BY c.rowid LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(|e| {
            bad(format!(
                "not a GeoPackage (no readable gpkg_contents and gpkg_geometry_columns: {e})"
            ))
        })?;
    let (table, column, srs_id) =
        layer.ok_or_else(|| bad("the GeoPackage has no feature table".into()))?;
    let shown = sanitize(&table);
    let crs = crs_of(&db, srs_id, &shown).map_err(bad)?;
    let q = format!(
        "SELECT \"{}\" FROM \"{}\"",
        column.replace('"', "\"\""),
        table.replace('"', "\"\"")
    );
    let unreadable = |e: rusqlite::Error| bad(format!("cannot read table '{shown}': {e}"));
    let mut stmt = db.prepare(&q).map_err(unreadable)?;
    let mut rows = stmt.query([]).map_err(unreadable)?;
    let mut out = Vec::new();
    let mut n = 0u64;
    while let Some(row) = rows.next().map_err(unreadable)? {
        n += 1;
        let at = || format!("feature {n} of table '{shown}'");
        match row.get_ref(0).map_err(unreadable)? {
            ValueRef::Blob(b) => {
                parse_geometry(b, &mut out).map_err(|m| bad(format!("{}: {m}", at())))?
            }
            ValueRef::Null => return Err(bad(format!("{} has no geometry", at()))),
            _ => {
                return Err(bad(format!(
                    "{}: the geometry is not a GeoPackage geometry blob",
                    at()
                )));
            }
        }
    }
    Ok((out, crs))
}

/// Every feature of the first feature table with its attributes (text, numbers, booleans
/// as JSON values; blobs left out), and the table's CRS.
pub(crate) fn read_features(
    path: &Path,
    label: &str,
) -> Result<(Vec<crate::labels::RawFeature>, Crs)> {
    let bad = |m: String| ClientError::Usage(format!("{label}: {m}"));
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| bad(format!("cannot open as a GeoPackage: {e}")))?;
    db.execute_batch("PRAGMA trusted_schema = OFF; PRAGMA cell_size_check = ON;")
        .map_err(|e| bad(format!("not a GeoPackage: {e}")))?;
    let layer: Option<(String, String, i64)> = db
        .query_row(
            "SELECT c.table_name, g.column_name, g.srs_id FROM gpkg_contents c \
             JOIN gpkg_geometry_columns g ON lower(g.table_name) = lower(c.table_name) \
             WHERE c.data_type = 'features' ORDER BY c.rowid LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(|e| bad(format!("not a GeoPackage: {e}")))?;
    let (table, column, srs_id) =
        layer.ok_or_else(|| bad("the GeoPackage has no feature table".into()))?;
    let shown = sanitize(&table);
    let crs = crs_of(&db, srs_id, &shown).map_err(bad)?;
    let q = format!("SELECT * FROM \"{}\"", table.replace('"', "\"\""));
    let unreadable = |e: rusqlite::Error| bad(format!("cannot read table '{shown}': {e}"));
    let mut stmt = db.prepare(&q).map_err(unreadable)?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let gcol = names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(&column))
        .ok_or_else(|| bad(format!("table '{shown}' has no column '{column}'")))?;
    let mut rows = stmt.query([]).map_err(unreadable)?;
    let mut out = Vec::new();
    let mut n = 0u64;
    while let Some(row) = rows.next().map_err(unreadable)? {
        n += 1;
        let mut parts = Vec::new();
        let mut props = serde_json::Map::new();
        for (i, name) in names.iter().enumerate() {
            let v = row.get_ref(i).map_err(unreadable)?;
            if i == gcol {
                match v {
                    ValueRef::Blob(b) => parse_geometry(b, &mut parts)
                        .map_err(|m| bad(format!("feature {n} of table '{shown}': {m}")))?,
                    _ => continue,
                }
                continue;
            }
            let j = match v {
                ValueRef::Null => serde_json::Value::Null,
                ValueRef::Integer(x) => x.into(),
                ValueRef::Real(x) => serde_json::Number::from_f64(x)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number),
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                ValueRef::Blob(_) => continue,
            };
            props.insert(name.clone(), j);
        }
        out.push((parts, props));
    }
    Ok((out, crs))
}

/// The CRS of `srs_id`: EPSG 4326, 3857 and the WGS84 UTM zones; anything else asks for a
/// reprojection, naming the CRS.
fn crs_of(db: &Connection, srs_id: i64, table: &str) -> std::result::Result<Crs, String> {
    let row: Option<(Option<String>, Option<String>, Option<i64>)> = db
        .query_row(
            "SELECT CAST(srs_name AS TEXT), CAST(organization AS TEXT), \
             CAST(organization_coordsys_id AS INTEGER) FROM gpkg_spatial_ref_sys \
             WHERE srs_id = ?1",
            [srs_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(|e| format!("cannot read gpkg_spatial_ref_sys: {e}"))?;
    let Some((name, org, code)) = row else {
        return Err(format!(
            "table '{table}' names srs_id {srs_id}, which gpkg_spatial_ref_sys does not define"
        ));
    };
    let name = sanitize(name.as_deref().unwrap_or("unnamed"));
    let org = sanitize(org.as_deref().unwrap_or("?"));
    let code = code.unwrap_or(-1);
    if srs_id == 0 || srs_id == -1 {
        return Err(format!(
            "table '{table}' declares no CRS ({name}); assign one, e.g. \
             ogr2ogr -a_srs EPSG:4326 out.gpkg in.gpkg"
        ));
    }
    if org.eq_ignore_ascii_case("EPSG")
        && let Ok(c) = u32::try_from(code)
        && let Ok(crs) = Crs::from_epsg(c)
    {
        return Ok(crs);
    }
    Err(format!(
        "unsupported CRS '{name}' ({org}:{code}); reproject the region to WGS84 (EPSG:4326), \
         Web Mercator (EPSG:3857) or a WGS84 UTM zone, e.g. ogr2ogr -t_srs EPSG:4326 out.gpkg in.gpkg"
    ))
}

/// Bytes read front to back, every read checked against the end.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| {
                format!(
                    "truncated geometry ({n} bytes wanted at offset {} of {})",
                    self.pos,
                    self.b.len()
                )
            })?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self, le: bool) -> std::result::Result<u32, String> {
        let a: [u8; 4] = self.take(4)?.try_into().map_err(|_| "short read")?;
        Ok(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    }

    fn f64(&mut self, le: bool) -> std::result::Result<f64, String> {
        let a: [u8; 8] = self.take(8)?.try_into().map_err(|_| "short read")?;
        Ok(if le {
            f64::from_le_bytes(a)
        } else {
            f64::from_be_bytes(a)
        })
    }

    /// A count of items of at least `each` bytes, refused when they cannot fit in what is
    /// left (so nothing is allocated from an unchecked count).
    fn count(&mut self, le: bool, each: usize, what: &str) -> std::result::Result<usize, String> {
        let n = self.u32(le)? as usize;
        if n.checked_mul(each)
            .is_none_or(|need| need > self.remaining())
        {
            return Err(format!(
                "{what} count {n} does not fit in the {} bytes left",
                self.remaining()
            ));
        }
        Ok(n)
    }
}

/// Parses one GeoPackage geometry blob, adding its coordinates to `out` as polygons (points
/// and lines as one-ring polygons, for the bounds). Empty geometries add nothing.
pub(crate) fn parse_geometry(
    blob: &[u8],
    out: &mut Vec<Polygon>,
) -> std::result::Result<(), String> {
    let mut c = Cursor { b: blob, pos: 0 };
    if c.take(2).ok() != Some(b"GP".as_slice()) {
        return Err("not a GeoPackage geometry (no 'GP' magic)".into());
    }
    let version = c.u8()?;
    if version != 0 {
        return Err(format!("unsupported GeoPackage geometry version {version}"));
    }
    let flags = c.u8()?;
    if flags & 0x20 != 0 {
        return Err("extended GeoPackage geometries are not supported".into());
    }
    let le = flags & 1 == 1;
    let envelope = match (flags >> 1) & 7 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        e => return Err(format!("invalid envelope indicator {e}")),
    };
    let _srs_id = c.u32(le)?;
    c.take(envelope)?;
    if flags & 0x10 != 0 {
        return Ok(());
    }
    wkb(&mut c, 0, out)
}

/// One WKB geometry (ISO codes with 1000/2000/3000 for Z/M/ZM, or EWKB's high flag bits).
fn wkb(
    c: &mut Cursor<'_>,
    depth: usize,
    out: &mut Vec<Polygon>,
) -> std::result::Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "geometry collections nested deeper than {MAX_DEPTH}"
        ));
    }
    let le = match c.u8()? {
        0 => false,
        1 => true,
        o => return Err(format!("invalid WKB byte order {o}")),
    };
    let raw = c.u32(le)?;
    let mut z = raw & 0x8000_0000 != 0;
    let mut m = raw & 0x4000_0000 != 0;
    if raw & 0x2000_0000 != 0 {
        c.take(4)?;
    }
    let code = raw & 0x0fff_ffff;
    match code / 1000 {
        0 => {}
        1 => z = true,
        2 => m = true,
        3 => (z, m) = (true, true),
        _ => return Err(format!("unknown WKB geometry type {code}")),
    }
    let dims = 2 + usize::from(z) + usize::from(m);
    match code % 1000 {
        1 => {
            let p = point(c, le, dims)?;
            // An empty point is stored as NaN coordinates.
            if !p.0.is_nan() && !p.1.is_nan() {
                out.push(Polygon {
                    rings: vec![vec![p]],
                });
            }
        }
        2 => {
            let r = points(c, le, dims)?;
            if !r.is_empty() {
                out.push(Polygon { rings: vec![r] });
            }
        }
        3 => {
            let n = c.count(le, 4, "ring")?;
            let mut rings = Vec::with_capacity(n);
            for _ in 0..n {
                rings.push(points(c, le, dims)?);
            }
            out.push(Polygon { rings });
        }
        4..=7 => {
            let n = c.count(le, MIN_WKB, "part")?;
            for _ in 0..n {
                wkb(c, depth + 1, out)?;
            }
        }
        8..=17 => {
            return Err(format!(
                "curved or surface geometries (WKB type {code}) are not supported; convert \
                 them to polygons, e.g. ogr2ogr -nlt CONVERT_TO_LINEAR out.gpkg in.gpkg"
            ));
        }
        _ => return Err(format!("unknown WKB geometry type {code}")),
    }
    Ok(())
}

fn point(c: &mut Cursor<'_>, le: bool, dims: usize) -> std::result::Result<(f64, f64), String> {
    let x = c.f64(le)?;
    let y = c.f64(le)?;
    c.take((dims - 2) * 8)?;
    Ok((x, y))
}

fn points(
    c: &mut Cursor<'_>,
    le: bool,
    dims: usize,
) -> std::result::Result<Vec<(f64, f64)>, String> {
    let n = c.count(le, dims * 8, "point")?;
    let mut r = Vec::with_capacity(n);
    for _ in 0..n {
        r.push(point(c, le, dims)?);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GeoPackage header: byte order, envelope indicator, empty flag.
    fn header(le: bool, envelope: u8, empty: bool) -> Vec<u8> {
        let flags = u8::from(le) | (envelope << 1) | if empty { 0x10 } else { 0 };
        let mut b = vec![b'G', b'P', 0, flags];
        b.extend(if le {
            4326u32.to_le_bytes()
        } else {
            4326u32.to_be_bytes()
        });
        let n = [0, 4, 6, 6, 8][usize::from(envelope).min(4)];
        for v in 0..n {
            b.extend(f64::from(v).to_le_bytes());
        }
        b
    }

    /// WKB writer for the tests, either byte order.
    struct W {
        le: bool,
        b: Vec<u8>,
    }

    impl W {
        fn new(le: bool) -> W {
            W { le, b: Vec::new() }
        }
        fn u32(&mut self, v: u32) -> &mut W {
            self.b.extend(if self.le {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            });
            self
        }
        fn f64(&mut self, v: f64) -> &mut W {
            self.b.extend(if self.le {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            });
            self
        }
        fn geom(&mut self, code: u32) -> &mut W {
            self.b.push(u8::from(self.le));
            self.u32(code)
        }
        fn coords(&mut self, pts: &[(f64, f64)], extra: usize) -> &mut W {
            for &(x, y) in pts {
                self.f64(x).f64(y);
                for k in 0..extra {
                    self.f64(100.0 + k as f64);
                }
            }
            self
        }
    }

    fn parse(b: &[u8]) -> std::result::Result<Vec<Polygon>, String> {
        let mut out = Vec::new();
        parse_geometry(b, &mut out).map(|()| out)
    }

    fn square() -> Vec<(f64, f64)> {
        vec![
            (24.02, 69.02),
            (24.08, 69.02),
            (24.08, 69.08),
            (24.02, 69.08),
            (24.02, 69.02),
        ]
    }

    fn polygon_blob(le: bool, envelope: u8, code: u32, extra: usize) -> Vec<u8> {
        let mut w = W::new(le);
        w.geom(code).u32(1).u32(5).coords(&square(), extra);
        let mut b = header(le, envelope, false);
        b.extend(w.b);
        b
    }

    #[test]
    fn polygons_in_both_byte_orders_with_every_envelope() {
        for le in [true, false] {
            for env in 0..=4 {
                let p = parse(&polygon_blob(le, env, 3, 0)).unwrap();
                assert_eq!(p.len(), 1);
                assert_eq!(p[0].rings, vec![square()], "le {le} envelope {env}");
            }
        }
    }

    #[test]
    fn z_m_and_zm_by_iso_code_and_by_ewkb_flags() {
        for (code, extra) in [
            (1003, 1),
            (2003, 1),
            (3003, 2),
            (0x8000_0003, 1),
            (0xc000_0003, 2),
        ] {
            let p = parse(&polygon_blob(true, 1, code, extra)).unwrap();
            assert_eq!(p[0].rings, vec![square()], "type {code:#x}");
        }
        // EWKB with an SRID after the type.
        let mut w = W::new(false);
        w.geom(0x2000_0001).u32(4326).coords(&[(24.0, 69.0)], 0);
        let mut b = header(true, 0, false);
        b.extend(w.b);
        assert_eq!(parse(&b).unwrap()[0].rings, vec![vec![(24.0, 69.0)]]);
    }

    #[test]
    fn every_simple_type_and_collections() {
        let mut w = W::new(true);
        // GeometryCollection(Point, LineString, MultiPoint(Point), MultiLineString(LineString),
        // MultiPolygon(Polygon), Polygon) with a big-endian member.
        w.geom(7).u32(6);
        w.geom(1).coords(&[(1.0, 2.0)], 0);
        w.geom(2).u32(2).coords(&[(3.0, 4.0), (5.0, 6.0)], 0);
        w.geom(4).u32(1).geom(1).coords(&[(7.0, 8.0)], 0);
        w.geom(5).u32(1).geom(2).u32(1).coords(&[(9.0, 10.0)], 0);
        w.geom(6)
            .u32(1)
            .geom(3)
            .u32(1)
            .u32(1)
            .coords(&[(11.0, 12.0)], 0);
        let mut be = W::new(false);
        be.geom(3).u32(1).u32(1).coords(&[(13.0, 14.0)], 0);
        w.b.extend(be.b);
        let mut b = header(true, 0, false);
        b.extend(&w.b);
        let p = parse(&b).unwrap();
        let pts: Vec<(f64, f64)> = p
            .iter()
            .flat_map(|p| p.rings.iter().flatten().copied())
            .collect();
        let want: Vec<(f64, f64)> = (0..7)
            .map(|i| (2.0 * i as f64 + 1.0, 2.0 * i as f64 + 2.0))
            .collect();
        assert_eq!(pts, want);
    }

    #[test]
    fn empty_geometries_add_nothing() {
        // The header's empty flag.
        let mut b = header(true, 0, true);
        b.extend([1, 3, 0, 0, 0, 0, 0, 0, 0]);
        assert!(parse(&b).unwrap().is_empty());
        // An empty point (NaN), an empty line and an empty collection.
        for body in [
            W::new(true).geom(1).f64(f64::NAN).f64(f64::NAN).b.clone(),
            W::new(true).geom(2).u32(0).b.clone(),
            W::new(false).geom(7).u32(0).b.clone(),
        ] {
            let mut b = header(true, 0, false);
            b.extend(body);
            assert!(parse(&b).unwrap().is_empty());
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let full = polygon_blob(false, 2, 1003, 1);
        assert!(parse(&full).is_ok());
        for n in 0..full.len() {
            let e = parse(&full[..n]).unwrap_err();
            assert!(
                e.contains("truncated") || e.contains("magic") || e.contains("count"),
                "{n}: {e}"
            );
        }
    }

    #[test]
    fn hostile_headers_and_counts_are_refused() {
        let ok = polygon_blob(true, 0, 3, 0);
        let with = |i: usize, v: u8| {
            let mut b = ok.clone();
            b[i] = v;
            parse(&b).unwrap_err()
        };
        assert!(with(0, b'X').contains("magic"));
        assert!(parse(b"SQLite format 3\0").unwrap_err().contains("magic"));
        assert!(with(2, 1).contains("version"));
        assert!(with(3, 1 | (5 << 1)).contains("envelope"));
        assert!(with(3, 1 | 0x20).contains("extended"));
        assert!(with(8, 7).contains("byte order"));
        // Absurd counts: rings, points and parts, each u32::MAX.
        for (code, at) in [(3u32, 13usize), (2, 13)] {
            let mut b = ok.clone();
            b[9..13].copy_from_slice(&code.to_le_bytes());
            b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
            assert!(
                parse(&b).unwrap_err().contains("does not fit"),
                "type {code}"
            );
        }
        let mut b = header(true, 0, false);
        b.extend(W::new(true).geom(6).u32(u32::MAX).b.clone());
        assert!(parse(&b).unwrap_err().contains("does not fit"));
        // Unknown and curved types.
        let mut b = header(true, 0, false);
        b.extend(W::new(true).geom(4001).u32(0).b.clone());
        assert!(parse(&b).unwrap_err().contains("unknown"));
        let mut b = header(true, 0, false);
        b.extend(W::new(true).geom(8).u32(0).b.clone());
        assert!(parse(&b).unwrap_err().contains("not supported"));
        // Collections nested past the limit.
        let mut w = W::new(true);
        for _ in 0..100 {
            w.geom(7).u32(1);
        }
        w.geom(1).coords(&[(0.0, 0.0)], 0);
        let mut b = header(true, 0, false);
        b.extend(&w.b);
        assert!(parse(&b).unwrap_err().contains("nested"));
    }

    #[test]
    fn random_bytes_never_panic() {
        // A fixed-seed generator: the same cases on every run.
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let base = polygon_blob(true, 1, 3003, 2);
        for _ in 0..20_000 {
            let mut b = base.clone();
            let flips = next() % 6 + 1;
            for _ in 0..flips {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            b.truncate((next() as usize) % (b.len() + 1));
            let _ = parse(&b);
        }
    }

    /// A GeoPackage written by hand (the end-to-end tests use GDAL's).
    fn gpkg(
        dir: &Path,
        name: &str,
        tables: &[(&str, i64)],
        srs: &[(i64, &str, i64)],
    ) -> std::path::PathBuf {
        let p = dir.join(name);
        let db = Connection::open(&p).unwrap();
        db.execute_batch(
            "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT, srs_id INTEGER PRIMARY KEY,
               organization TEXT, organization_coordsys_id INTEGER, definition TEXT);
             CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT);
             CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT,
               geometry_type_name TEXT, srs_id INTEGER, z INTEGER, m INTEGER);
             INSERT INTO gpkg_contents VALUES ('notes', 'attributes');",
        )
        .unwrap();
        for &(id, org, code) in srs {
            db.execute(
                "INSERT INTO gpkg_spatial_ref_sys VALUES (?1, ?2, ?3, ?4, '')",
                rusqlite::params![format!("crs {id}"), id, org, code],
            )
            .unwrap();
        }
        for &(t, srs_id) in tables {
            db.execute("INSERT INTO gpkg_contents VALUES (?1, 'features')", [t])
                .unwrap();
            db.execute(
                "INSERT INTO gpkg_geometry_columns VALUES (?1, 'the geom', 'GEOMETRY', ?2, 0, 0)",
                rusqlite::params![t, srs_id],
            )
            .unwrap();
            let q = t.replace('"', "\"\"");
            db.execute_batch(&format!(
                "CREATE TABLE \"{q}\" (fid INTEGER PRIMARY KEY, \"the geom\" BLOB)"
            ))
            .unwrap();
            db.execute(
                &format!("INSERT INTO \"{q}\" (\"the geom\") VALUES (?1)"),
                [polygon_blob(true, 1, 3, 0)],
            )
            .unwrap();
        }
        p
    }

    #[test]
    fn reads_the_first_feature_table_and_its_crs() {
        let dir = tempfile::tempdir().unwrap();
        let p = gpkg(
            dir.path(),
            "a.gpkg",
            &[("odd \"name\"", 32635), ("second", 4326)],
            &[(4326, "EPSG", 4326), (32635, "epsg", 32635)],
        );
        let (polys, crs) = read(&p, "a.gpkg").unwrap();
        assert_eq!(
            crs,
            Crs::Utm {
                zone: 35,
                north: true
            }
        );
        assert_eq!(polys.len(), 1);
        assert_eq!(polys[0].rings, vec![square()]);
    }

    #[test]
    fn unusable_geopackages_are_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = |p: &Path| read(p, "r.gpkg").unwrap_err().to_string();
        let p = gpkg(
            dir.path(),
            "bng.gpkg",
            &[("t", 27700)],
            &[(27700, "EPSG", 27700)],
        );
        let e = err(&p);
        assert!(
            e.contains("crs 27700") && e.contains("EPSG:27700") && e.contains("reproject"),
            "{e}"
        );
        let p = gpkg(dir.path(), "esri.gpkg", &[("t", 9)], &[(9, "ESRI", 102100)]);
        assert!(err(&p).contains("ESRI:102100"));
        let p = gpkg(dir.path(), "undef.gpkg", &[("t", 0)], &[(0, "NONE", 0)]);
        assert!(err(&p).contains("declares no CRS"));
        let p = gpkg(dir.path(), "missing.gpkg", &[("t", 5)], &[]);
        assert!(err(&p).contains("srs_id 5"));
        let p = gpkg(dir.path(), "none.gpkg", &[], &[(4326, "EPSG", 4326)]);
        assert!(err(&p).contains("no feature table"));
        let p = gpkg(
            dir.path(),
            "null.gpkg",
            &[("t", 4326)],
            &[(4326, "EPSG", 4326)],
        );
        Connection::open(&p)
            .unwrap()
            .execute_batch("INSERT INTO t (\"the geom\") VALUES (NULL)")
            .unwrap();
        assert!(err(&p).contains("feature 2 of table 't' has no geometry"));
        let p = gpkg(
            dir.path(),
            "text.gpkg",
            &[("t", 4326)],
            &[(4326, "EPSG", 4326)],
        );
        Connection::open(&p)
            .unwrap()
            .execute_batch("UPDATE t SET \"the geom\" = 'POINT(1 2)'")
            .unwrap();
        assert!(err(&p).contains("not a GeoPackage geometry blob"));
        let p = gpkg(
            dir.path(),
            "bad.gpkg",
            &[("t", 4326)],
            &[(4326, "EPSG", 4326)],
        );
        Connection::open(&p)
            .unwrap()
            .execute_batch("UPDATE t SET \"the geom\" = x'47500001'")
            .unwrap();
        let e = err(&p);
        assert!(
            e.starts_with("r.gpkg: feature 1 of table 't': truncated"),
            "{e}"
        );
        let p = dir.path().join("plain.gpkg");
        std::fs::write(
            &p,
            b"not a database at all, just some text that is long enough to look like a header; "
                .repeat(20),
        )
        .unwrap();
        assert!(err(&p).contains("not a GeoPackage"));
        let p = dir.path().join("empty-db.gpkg");
        Connection::open(&p)
            .unwrap()
            .execute_batch("CREATE TABLE x (a)")
            .unwrap();
        assert!(err(&p).contains("not a GeoPackage"));
    }
}
