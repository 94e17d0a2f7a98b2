//! A TopoJSON decoder, only as much of it as the embedded world-atlas file needs: quantised,
//! delta-encoded arcs (or plain ones), negative arc indices for reversed arcs, and Polygon /
//! MultiPolygon geometries. Written by hand because the Rust `topojson` crate converts to
//! the `geojson` types only; here the rings go straight into [`Polygon`]s.

use serde_json::Value;

use crate::{Polygon, Ring};

/// One geometry of a TopoJSON `GeometryCollection`.
#[derive(Debug, Clone)]
pub struct Feature {
    /// The `id` member (a string or a number; `None` when missing or null).
    pub id: Option<String>,
    /// The `properties` member (`Value::Null` when missing).
    pub properties: Value,
    /// Its polygons, rings in Shapefile order (outer rings clockwise, holes
    /// counter-clockwise); empty for geometry types other than (Multi)Polygon.
    pub polygons: Vec<Polygon>,
}

/// Why a TopoJSON document could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed TopoJSON: {0}")]
pub struct TopoJsonError(pub String);

fn bad(what: impl Into<String>) -> TopoJsonError {
    TopoJsonError(what.into())
}

/// The arcs of a topology in absolute coordinates (the `transform` undone).
fn decode_arcs(topo: &Value) -> Result<Vec<Vec<(f64, f64)>>, TopoJsonError> {
    let transform = match topo.get("transform") {
        Some(t) => {
            let pair = |k: &str| -> Result<(f64, f64), TopoJsonError> {
                let a = t.get(k).and_then(Value::as_array);
                match a.map(|a| {
                    (
                        a.first().and_then(Value::as_f64),
                        a.get(1).and_then(Value::as_f64),
                    )
                }) {
                    Some((Some(x), Some(y))) => Ok((x, y)),
                    _ => Err(bad(format!("transform.{k} must be two numbers"))),
                }
            };
            Some((pair("scale")?, pair("translate")?))
        }
        None => None,
    };
    let arcs = topo
        .get("arcs")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no 'arcs' array"))?;
    let mut out = Vec::with_capacity(arcs.len());
    for (n, arc) in arcs.iter().enumerate() {
        let positions = arc
            .as_array()
            .ok_or_else(|| bad(format!("arc {n} is not an array")))?;
        let mut pts = Vec::with_capacity(positions.len());
        let (mut x, mut y) = (0.0f64, 0.0f64);
        for p in positions {
            let (px, py) = match p.as_array().map(|p| {
                (
                    p.first().and_then(Value::as_f64),
                    p.get(1).and_then(Value::as_f64),
                )
            }) {
                Some((Some(px), Some(py))) => (px, py),
                _ => {
                    return Err(bad(format!(
                        "arc {n} has a position that is not two numbers"
                    )));
                }
            };
            match transform {
                // Quantised arcs are delta-encoded: each position is an offset from the last.
                Some(((sx, sy), (tx, ty))) => {
                    x += px;
                    y += py;
                    pts.push((x * sx + tx, y * sy + ty));
                }
                None => pts.push((px, py)),
            }
        }
        out.push(pts);
    }
    Ok(out)
}

/// Twice the signed area of a ring (positive when counter-clockwise).
fn signed_area2(r: &Ring) -> f64 {
    let n = r.len();
    (0..n)
        .map(|i| {
            let (x0, y0) = r[i];
            let (x1, y1) = r[(i + 1) % n];
            x0 * y1 - x1 * y0
        })
        .sum()
}

/// Joins the arcs of a ring; an arc's first position repeats the previous arc's last one.
fn ring(indices: &Value, arcs: &[Vec<(f64, f64)>]) -> Result<Ring, TopoJsonError> {
    let indices = indices
        .as_array()
        .ok_or_else(|| bad("a ring is not an array of arc indices"))?;
    let mut out: Ring = Vec::new();
    for i in indices {
        let i = i
            .as_i64()
            .ok_or_else(|| bad("an arc index is not an integer"))?;
        // A negative index ~i names arc i, traversed backwards.
        let (k, reversed) = if i < 0 { (!i, true) } else { (i, false) };
        let arc = usize::try_from(k)
            .ok()
            .and_then(|k| arcs.get(k))
            .ok_or_else(|| bad(format!("arc index {i} is out of range")))?;
        let skip = usize::from(!out.is_empty());
        if reversed {
            out.extend(arc.iter().rev().skip(skip));
        } else {
            out.extend(arc.iter().skip(skip));
        }
    }
    Ok(out)
}

/// A polygon from its rings of arc indices, oriented as a Shapefile's.
fn polygon(rings: &Value, arcs: &[Vec<(f64, f64)>]) -> Result<Polygon, TopoJsonError> {
    let rings = rings
        .as_array()
        .ok_or_else(|| bad("a polygon is not an array of rings"))?;
    let mut out = Vec::with_capacity(rings.len());
    for (n, r) in rings.iter().enumerate() {
        let mut r = ring(r, arcs)?;
        // The first ring is the exterior (clockwise in a Shapefile), the rest are holes.
        let clockwise = signed_area2(&r) < 0.0;
        if clockwise != (n == 0) {
            r.reverse();
        }
        out.push(r);
    }
    Ok(Polygon { rings: out })
}

/// The geometries of the `GeometryCollection` object `name` of a TopoJSON topology.
pub fn decode(text: &str, name: &str) -> Result<Vec<Feature>, TopoJsonError> {
    let topo: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if topo.get("type").and_then(Value::as_str) != Some("Topology") {
        return Err(bad("the document is not a Topology"));
    }
    let arcs = decode_arcs(&topo)?;
    let object = topo
        .pointer(&format!("/objects/{name}"))
        .ok_or_else(|| bad(format!("no object '{name}'")))?;
    let geometries = object
        .get("geometries")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("object '{name}' is not a GeometryCollection")))?;
    let mut out = Vec::with_capacity(geometries.len());
    for g in geometries {
        let id = match g.get("id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let none = Value::Array(Vec::new());
        let garcs = g.get("arcs").unwrap_or(&none);
        let polygons = match g.get("type").and_then(Value::as_str) {
            Some("Polygon") => vec![polygon(garcs, &arcs)?],
            Some("MultiPolygon") => garcs
                .as_array()
                .ok_or_else(|| bad("a MultiPolygon's arcs are not an array"))?
                .iter()
                .map(|p| polygon(p, &arcs))
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        out.push(Feature {
            id,
            properties: g.get("properties").cloned().unwrap_or(Value::Null),
            polygons,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the TopoJSON specification (§2.1.3, quantised) with a polygon that
    /// reuses an arc backwards.
    const TOPO: &str = r#"{"type": "Topology",
      "transform": {"scale": [1, 1], "translate": [100, 0]},
      "objects": {"example": {"type": "GeometryCollection", "geometries": [
        {"type": "Polygon", "id": 7, "properties": {"name": "square"}, "arcs": [[0, 1]]},
        {"type": "MultiPolygon", "id": "008", "arcs": [[[~1]], [[0, 1], [2]]]},
        {"type": "LineString", "arcs": [0]}
      ]}},
      "arcs": [[[0, 0], [0, 10], [10, 0]], [[10, 10], [0, -10], [-10, 0]], [[2, 2], [2, 0], [0, 2], [-2, 0], [0, -2]]]}"#;

    #[test]
    fn decodes_delta_arcs_reversal_and_orientation() {
        // `~1` is not JSON; the specification writes it as -2.
        let text = TOPO.replace("~1", "-2");
        let f = decode(&text, "example").unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].id.as_deref(), Some("7"));
        assert_eq!(f[0].properties["name"], "square");
        // Arc 0 is (100,0) (100,10) (110,10); arc 1 is (110,10) (110,0) (100,0): joined
        // without repeating (110,10), and clockwise already.
        assert_eq!(
            f[0].polygons[0].rings[0],
            vec![
                (100.0, 0.0),
                (100.0, 10.0),
                (110.0, 10.0),
                (110.0, 0.0),
                (100.0, 0.0)
            ]
        );
        assert_eq!(f[1].id.as_deref(), Some("008"));
        assert_eq!(f[1].polygons.len(), 2);
        // Arc 1 reversed, then made clockwise for an exterior ring.
        let r = &f[1].polygons[0].rings[0];
        assert!(signed_area2(r) < 0.0, "{r:?}");
        // The hole (arc 2, decoded to (102,2) (104,2) (104,4) (102,4) (102,2)) runs
        // counter-clockwise.
        let hole = &f[1].polygons[1].rings[1];
        assert_eq!(hole.len(), 5);
        assert!(signed_area2(hole) > 0.0, "{hole:?}");
        assert_eq!(hole[0], (102.0, 2.0));
        assert!(f[2].polygons.is_empty());
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(decode("{", "x").is_err());
        assert!(decode(r#"{"type": "Feature"}"#, "x").is_err());
        let text = TOPO.replace("~1", "-9");
        assert!(
            decode(&text, "example")
                .unwrap_err()
                .0
                .contains("out of range")
        );
        assert!(decode(&TOPO.replace("~1", "-2"), "nope").is_err());
    }
}
