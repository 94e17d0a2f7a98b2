//! The land layer: Natural Earth 1:110m admin-0 country polygons (public domain, v5.1.1),
//! embedded in the binary in a compact form written by `scripts/gen-land.py`. Filled
//! together they are the land; their outlines are the coastlines and country borders.

/// The embedded polygons (see `scripts/gen-land.py` for the format).
const LAND_BIN: &[u8] = include_bytes!("../../assets/land/ne_110m_countries.bin");

/// One country: its rings (outer rings and holes, filled even-odd), as (lon, lat) degrees.
pub struct Shape {
    /// Rings of points.
    pub rings: Vec<Vec<(f64, f64)>>,
}

fn u32_at(b: &[u8], at: &mut usize) -> Option<u32> {
    let v = b.get(*at..*at + 4)?;
    *at += 4;
    Some(u32::from_le_bytes([v[0], v[1], v[2], v[3]]))
}

fn i32_at(b: &[u8], at: &mut usize) -> Option<i32> {
    u32_at(b, at).map(|v| v as i32)
}

fn decode(b: &[u8]) -> Option<Vec<Shape>> {
    if b.get(..8)? != b"NELAND1\0" {
        return None;
    }
    let mut at = 8;
    let n = u32_at(b, &mut at)? as usize;
    let mut shapes = Vec::with_capacity(n);
    for _ in 0..n {
        let nr = u32_at(b, &mut at)? as usize;
        let mut rings = Vec::with_capacity(nr);
        for _ in 0..nr {
            let np = u32_at(b, &mut at)? as usize;
            let mut ring = Vec::with_capacity(np.min(b.len() / 8));
            for _ in 0..np {
                let x = i32_at(b, &mut at)?;
                let y = i32_at(b, &mut at)?;
                ring.push((f64::from(x) / 1e5, f64::from(y) / 1e5));
            }
            rings.push(ring);
        }
        shapes.push(Shape { rings });
    }
    Some(shapes)
}

/// The land polygons, decoded once.
pub fn shapes() -> &'static [Shape] {
    static SHAPES: std::sync::OnceLock<Vec<Shape>> = std::sync::OnceLock::new();
    // The asset is part of the binary and checked by a test; a broken one draws no land.
    SHAPES.get_or_init(|| decode(LAND_BIN).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_polygons_decode_and_cover_the_continents() {
        let s = shapes();
        assert_eq!(s.len(), 177);
        let pts: usize = s.iter().flat_map(|s| &s.rings).map(Vec::len).sum();
        assert!(pts > 10_000, "{pts} points");
        let (mut w, mut e, mut so, mut n) = (180.0f64, -180.0f64, 90.0f64, -90.0f64);
        for (x, y) in s.iter().flat_map(|s| &s.rings).flatten() {
            w = w.min(*x);
            e = e.max(*x);
            so = so.min(*y);
            n = n.max(*y);
        }
        assert!(
            w < -179.0 && e > 179.0 && so < -89.0 && n > 83.0,
            "{w} {e} {so} {n}"
        );
    }

    #[test]
    fn truncated_data_is_refused() {
        assert!(decode(&LAND_BIN[..LAND_BIN.len() - 3]).is_none());
        assert!(decode(b"garbage!").is_none());
    }
}
