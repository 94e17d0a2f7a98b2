//! Label files for learning: points and polygons with their attributes, from GeoJSON
//! (Point, MultiPoint, Polygon, MultiPolygon), Shapefile (+ `.prj`, attributes from the
//! `.dbf`), GeoPackage (the first feature table), CSV (`lon,lat,...`) or GeoParquet
//! points; in EPSG:4326, EPSG:3857 or a WGS84 UTM zone (anything else: one line asking to
//! reproject), returned in WGS84.

use std::path::Path;

use serde_json::{Map, Value};
use tessera_core::Crs;
use tessera_world::Polygon;

use crate::error::{ClientError, Result};

/// Geometry parts and attributes of one feature, as read.
pub(crate) type RawFeature = (Vec<Polygon>, Map<String, Value>);

/// The geometry of one label.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelGeometry {
    /// Points (lon, lat).
    Points(Vec<(f64, f64)>),
    /// Polygons (rings of lon, lat; the first ring outer, the others holes).
    Polygons(Vec<Polygon>),
}

/// One feature of a label file.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelFeature {
    /// Its geometry, in WGS84.
    pub geometry: LabelGeometry,
    /// Its attributes.
    pub properties: Map<String, Value>,
}

fn usage(label: &str, m: impl std::fmt::Display) -> ClientError {
    ClientError::Usage(format!("{label}: {m}"))
}

/// Sorts geometry parts into points or polygons: closed rings of four or more vertices are
/// polygons; single vertices and open runs (MultiPoint) are points.
fn classify(parts: Vec<Polygon>, label: &str, n: usize) -> Result<LabelGeometry> {
    let closed = |r: &Vec<(f64, f64)>| r.len() >= 4 && r.first() == r.last();
    if parts.iter().all(|p| p.rings.iter().all(closed)) && !parts.is_empty() {
        return Ok(LabelGeometry::Polygons(parts));
    }
    if parts
        .iter()
        .all(|p| p.rings.len() == 1 && !closed(&p.rings[0]))
    {
        return Ok(LabelGeometry::Points(
            parts.into_iter().flat_map(|p| p.rings[0].clone()).collect(),
        ));
    }
    Err(usage(
        label,
        format!(
            "feature {n} mixes points and polygons, or is a line; labels are points or polygons"
        ),
    ))
}

fn to_wgs84(g: &mut LabelGeometry, crs: Crs, label: &str, n: usize) -> Result<()> {
    let fix = |p: &mut (f64, f64)| -> Result<()> {
        if !p.0.is_finite() || !p.1.is_finite() {
            return Err(usage(
                label,
                format!(
                    "feature {n} has a coordinate that is not a number ({}, {})",
                    p.0, p.1
                ),
            ));
        }
        *p = crs.inverse(p.0, p.1);
        if !p.0.is_finite() || !p.1.is_finite() || p.0.abs() > 180.0 || p.1.abs() > 90.0 {
            return Err(usage(
                label,
                format!(
                    "feature {n}: ({}, {}) is outside WGS84 after reprojection from {crs}; is the CRS right?",
                    p.0, p.1
                ),
            ));
        }
        Ok(())
    };
    match g {
        LabelGeometry::Points(v) => v.iter_mut().try_for_each(fix),
        LabelGeometry::Polygons(v) => v
            .iter_mut()
            .flat_map(|p| p.rings.iter_mut())
            .flat_map(|r| r.iter_mut())
            .try_for_each(fix),
    }
}

/// Reads a label file by its extension.
pub fn read_labels(path: &Path) -> Result<Vec<LabelFeature>> {
    read_labels_in(path, None)
}

/// Reads a label file like [`read_labels`], with `crs` the CRS of coordinates in files that
/// do not state one (CSV `x,y`, a Shapefile without `.prj`, GeoJSON without a `crs`
/// member); a file stating another CRS than `crs` is refused.
pub fn read_labels_in(path: &Path, crs: Option<Crs>) -> Result<Vec<LabelFeature>> {
    let label = path.display().to_string();
    if !path.is_file() {
        return Err(usage(&label, "the label file does not exist"));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let given = crs;
    let (raw, crs): (Vec<RawFeature>, Option<Crs>) = match ext.as_str() {
        "geojson" | "json" => read_geojson(path, &label)?,
        "shp" => read_shapefile(path, &label, given.is_some())?,
        "gpkg" => {
            let (raw, c) = crate::region::gpkg::read_features(path, &label)?;
            (raw, Some(c))
        }
        "csv" | "txt" | "parquet" | "geoparquet" | "pq" => return read_table(path, given),
        _ => {
            return Err(usage(
                &label,
                "unsupported label file; use GeoJSON, GeoPackage, a Shapefile, CSV (lon,lat,...) or GeoParquet",
            ));
        }
    };
    let crs = crate::points::coordinate_crs(crs, given, path)?;
    let mut out = Vec::with_capacity(raw.len());
    for (i, (parts, properties)) in raw.into_iter().enumerate() {
        if parts.is_empty() {
            continue;
        }
        let mut geometry = classify(parts, &label, i + 1)?;
        to_wgs84(&mut geometry, crs, &label, i + 1)?;
        out.push(LabelFeature {
            geometry,
            properties,
        });
    }
    if out.is_empty() {
        return Err(usage(&label, "no labelled points or polygons"));
    }
    Ok(out)
}

fn read_geojson(path: &Path, label: &str) -> Result<(Vec<RawFeature>, Option<Crs>)> {
    let text = std::fs::read_to_string(path).map_err(|e| ClientError::io(path, e))?;
    let raw: Value =
        serde_json::from_str(&text).map_err(|e| usage(label, format!("malformed GeoJSON: {e}")))?;
    let crs = match raw.pointer("/crs/properties/name") {
        Some(_) => Some(crate::region::geojson_crs(&raw, label)?),
        None => None,
    };
    let gj: geojson::GeoJson = text
        .parse()
        .map_err(|e| usage(label, format!("malformed GeoJSON: {e}")))?;
    let feats = match gj {
        geojson::GeoJson::FeatureCollection(fc) => fc.features,
        geojson::GeoJson::Feature(f) => vec![f],
        geojson::GeoJson::Geometry(_) => {
            return Err(usage(
                label,
                "a bare geometry has no label; give a FeatureCollection with a class property",
            ));
        }
    };
    let mut out = Vec::new();
    for f in feats {
        let mut parts = Vec::new();
        if let Some(g) = &f.geometry {
            crate::region::collect(&g.value, &mut parts);
        }
        out.push((parts, f.properties.unwrap_or_default()));
    }
    Ok((out, crs))
}

fn dbf_value(v: &shapefile::dbase::FieldValue) -> Value {
    use shapefile::dbase::FieldValue as F;
    let num = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    match v {
        F::Character(s) => s
            .as_ref()
            .map_or(Value::Null, |s| Value::String(s.trim().into())),
        F::Memo(s) => Value::String(s.clone()),
        F::Numeric(x) => x.map_or(Value::Null, |x| {
            if x.fract() == 0.0 && x.abs() < 9e15 {
                Value::from(x as i64)
            } else {
                num(x)
            }
        }),
        F::Float(x) => x.map_or(Value::Null, |x| num(f64::from(x))),
        F::Integer(x) => Value::from(*x),
        F::Double(x) | F::Currency(x) => num(*x),
        F::Logical(b) => b.map_or(Value::Null, Value::Bool),
        F::Date(d) => d.map_or(Value::Null, |d| Value::String(format!("{d:?}"))),
        F::DateTime(d) => Value::String(format!("{d:?}")),
    }
}

fn read_shapefile(
    path: &Path,
    label: &str,
    crs_given: bool,
) -> Result<(Vec<RawFeature>, Option<Crs>)> {
    let prj = path.with_extension("prj");
    let crs = match std::fs::read_to_string(&prj) {
        Ok(wkt) => Some(crate::region::prj_crs(&wkt).ok_or_else(|| {
            usage(
                label,
                "its CRS is not EPSG:4326, EPSG:3857 or a WGS84 UTM zone; reproject it first (QGIS: Vector > Data Management Tools > Reproject Layer, or ogr2ogr -t_srs EPSG:4326)",
            )
        })?),
        Err(_) if crs_given => None,
        Err(_) => {
            return Err(usage(
                label,
                format!(
                    "the Shapefile has no .prj, so its CRS is unknown; add {} or give --crs",
                    prj.display()
                ),
            ));
        }
    };
    let rows = shapefile::read(path)
        .map_err(|e| usage(label, format!("unreadable Shapefile (.shp + .dbf): {e}")))?;
    let mut out = Vec::with_capacity(rows.len());
    for (shape, record) in rows {
        let mut parts = Vec::new();
        match shape {
            shapefile::Shape::Polygon(p) => {
                // Shapefile rings: outer rings clockwise, holes counter-clockwise; each outer
                // ring starts a polygon.
                for r in p.rings() {
                    let pts: Vec<(f64, f64)> = r.points().iter().map(|q| (q.x, q.y)).collect();
                    match r {
                        shapefile::PolygonRing::Outer(_) => {
                            parts.push(Polygon { rings: vec![pts] })
                        }
                        shapefile::PolygonRing::Inner(_) => match parts.last_mut() {
                            Some(last) => last.rings.push(pts),
                            None => parts.push(Polygon { rings: vec![pts] }),
                        },
                    }
                }
            }
            shapefile::Shape::Point(p) => parts.push(Polygon {
                rings: vec![vec![(p.x, p.y)]],
            }),
            shapefile::Shape::Multipoint(m) => {
                for q in m.points() {
                    parts.push(Polygon {
                        rings: vec![vec![(q.x, q.y)]],
                    });
                }
            }
            shapefile::Shape::NullShape => {}
            other => {
                return Err(usage(
                    label,
                    format!(
                        "{} shapes are not labels; use points or polygons",
                        other.shapetype()
                    ),
                ));
            }
        }
        let mut props = Map::new();
        for (k, v) in record {
            props.insert(k, dbf_value(&v));
        }
        out.push((parts, props));
    }
    Ok((out, crs))
}

fn read_table(path: &Path, crs: Option<Crs>) -> Result<Vec<LabelFeature>> {
    let t = crate::points::read_points_in(path, crs)?;
    let mut out = Vec::with_capacity(t.len());
    for i in 0..t.len() {
        let mut props = Map::new();
        for c in &t.columns {
            let v = match c {
                crate::points::Column::Float(_, v) => v[i]
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number),
                crate::points::Column::Int(_, v) => v[i].map_or(Value::Null, Value::from),
                crate::points::Column::Bool(_, v) => v[i].map_or(Value::Null, Value::Bool),
                other => {
                    let s = other.cell(i);
                    if s.is_empty() {
                        Value::Null
                    } else {
                        Value::String(s)
                    }
                }
            };
            props.insert(c.name().to_string(), v);
        }
        out.push(LabelFeature {
            geometry: LabelGeometry::Points(vec![(t.lon[i], t.lat[i])]),
            properties: props,
        });
    }
    if out.is_empty() {
        return Err(usage(&path.display().to_string(), "no labelled points"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geojson_points_and_polygons_keep_their_properties() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.geojson");
        std::fs::write(
            &p,
            r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","geometry":{"type":"Point","coordinates":[1.0,2.0]},"properties":{"class":"a"}},
            {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"properties":{"class":"b","n":3}}]}"#,
        )
        .unwrap();
        let f = read_labels(&p).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].geometry, LabelGeometry::Points(vec![(1.0, 2.0)]));
        assert!(matches!(f[1].geometry, LabelGeometry::Polygons(_)));
        assert_eq!(f[1].properties["n"], 3);
    }

    #[test]
    fn an_unknown_crs_asks_to_reproject_and_nan_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.geojson");
        std::fs::write(
            &p,
            r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::27700"}},"features":[
            {"type":"Feature","geometry":{"type":"Point","coordinates":[1.0,2.0]},"properties":{"class":"a"}}]}"#,
        )
        .unwrap();
        let e = read_labels(&p).unwrap_err().to_string();
        assert!(e.contains("27700") && e.contains("use WGS84"), "{e}");
        let p = d.path().join("n.csv");
        std::fs::write(&p, "lon,lat,class\nnan,2,a\n").unwrap();
        assert!(read_labels(&p).is_err());
    }
}
