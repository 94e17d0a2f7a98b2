//! The embedded Natural Earth 1:110m admin-0 shapefile: the land layer's polygons (the
//! synthetic world is drawn from them, so they never change) and the names and ISO codes
//! that the 1:50m countries are joined to.

use std::io::Cursor;
use std::sync::LazyLock;

use shapefile::dbase::FieldValue;

use crate::countries::Country;
use crate::{Polygon, Ring, rings_bbox};

static SHP: &[u8] = include_bytes!("../data/ne_110m_admin_0_countries.shp");
static SHX: &[u8] = include_bytes!("../data/ne_110m_admin_0_countries.shx");
static DBF: &[u8] = include_bytes!("../data/ne_110m_admin_0_countries.dbf");

fn text(record: &shapefile::dbase::Record, field: &str) -> String {
    match record.get(field) {
        Some(FieldValue::Character(Some(s))) => s.trim().to_string(),
        Some(FieldValue::Memo(s)) => s.trim().to_string(),
        Some(FieldValue::Numeric(Some(n))) => format!("{n}"),
        _ => String::new(),
    }
}

/// The ISO numeric code as three digits ("-99" and blanks stay as they are).
fn numeric(s: String) -> String {
    match s.parse::<u16>() {
        Ok(n) => format!("{n:03}"),
        Err(_) => s,
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
        let mut iso_n3 = numeric(text(&record, "ISO_N3"));
        if iso_n3 == "-99" || iso_n3.is_empty() {
            iso_n3 = numeric(text(&record, "ISO_N3_EH"));
        }
        out.push(Country {
            name_en: text(&record, "NAME_EN"),
            name: text(&record, "NAME"),
            name_long: text(&record, "NAME_LONG"),
            iso_a2: text(&record, "ISO_A2"),
            iso_a3: text(&record, "ISO_A3"),
            iso_a2_eh: text(&record, "ISO_A2_EH"),
            iso_a3_eh: text(&record, "ISO_A3_EH"),
            iso_n3,
            polygons,
            bbox,
        });
    }
    out
}

static NE110M: LazyLock<Vec<Country>> = LazyLock::new(load);

/// The 1:110m records, in file order.
pub(crate) fn ne110m() -> &'static [Country] {
    &NE110M
}
