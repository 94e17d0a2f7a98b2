//! Affine pixel ↔ map transforms in rasterio/`affine` order:
//! `x = a·col + b·row + c`, `y = d·col + e·row + f`.

/// An affine transform `[a, b, c, d, e, f]` (rasterio order, not GDAL's GeoTransform order).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// x per column.
    pub a: f64,
    /// x per row.
    pub b: f64,
    /// x of the top-left corner.
    pub c: f64,
    /// y per column.
    pub d: f64,
    /// y per row (negative for north-up rasters).
    pub e: f64,
    /// y of the top-left corner.
    pub f: f64,
}

impl Affine {
    /// A north-up transform with square `pixel` size and top-left corner `(x0, y0)`.
    pub fn north_up(x0: f64, y0: f64, pixel: f64) -> Affine {
        Affine {
            a: pixel,
            b: 0.0,
            c: x0,
            d: 0.0,
            e: -pixel,
            f: y0,
        }
    }

    /// The six coefficients `[a, b, c, d, e, f]`.
    pub fn to_array(&self) -> [f64; 6] {
        [self.a, self.b, self.c, self.d, self.e, self.f]
    }

    /// From `[a, b, c, d, e, f]`.
    pub fn from_array(v: [f64; 6]) -> Affine {
        Affine {
            a: v[0],
            b: v[1],
            c: v[2],
            d: v[3],
            e: v[4],
            f: v[5],
        }
    }

    /// GDAL GeoTransform order `[c, a, b, f, d, e]`.
    pub fn to_gdal(&self) -> [f64; 6] {
        [self.c, self.a, self.b, self.f, self.d, self.e]
    }

    /// From GDAL GeoTransform order `[c, a, b, f, d, e]`.
    pub fn from_gdal(g: [f64; 6]) -> Affine {
        Affine {
            a: g[1],
            b: g[2],
            c: g[0],
            d: g[4],
            e: g[5],
            f: g[3],
        }
    }

    /// True when there is no rotation or shear.
    pub fn is_north_up(&self) -> bool {
        self.b == 0.0 && self.d == 0.0
    }

    /// Map coordinates of the pixel-space point `(col, row)` (corners at integers).
    pub fn apply(&self, col: f64, row: f64) -> (f64, f64) {
        (
            self.a * col + self.b * row + self.c,
            self.d * col + self.e * row + self.f,
        )
    }

    /// Fractional `(row, col)` of a map point, as rasterio's `rowcol` computes it before
    /// flooring (rasterio ≥ 1.5 solves the linear system, which for a north-up transform
    /// is exactly `(y - f) / e` and `(x - c) / a`). Exact on pixel edges for north-up
    /// transforms; general transforms use Cramer's rule.
    pub fn rowcol_f64(&self, x: f64, y: f64) -> (f64, f64) {
        if self.is_north_up() {
            return ((y - self.f) / self.e, (x - self.c) / self.a);
        }
        let det = self.a * self.e - self.b * self.d;
        let dx = x - self.c;
        let dy = y - self.f;
        let col = (dx * self.e - dy * self.b) / det;
        let row = (dy * self.a - dx * self.d) / det;
        (row, col)
    }

    /// The pixel `(row, col)` containing a map point (floor of [`Affine::rowcol_f64`]).
    /// Returns `None` for non-finite input or indices beyond i64.
    pub fn rowcol(&self, x: f64, y: f64) -> Option<(i64, i64)> {
        let (r, c) = self.rowcol_f64(x, y);
        let (r, c) = (r.floor(), c.floor());
        let lim = 9.0e18;
        if r.is_finite() && c.is_finite() && r.abs() < lim && c.abs() < lim {
            Some((r as i64, c as i64))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_and_rowcol() {
        let t = Affine::north_up(300933.936, 5776128.478, 10.0);
        assert_eq!(Affine::from_gdal(t.to_gdal()), t);
        assert_eq!(Affine::from_array(t.to_array()), t);
        assert_eq!(t.rowcol(300933.936, 5776128.478), Some((0, 0)));
        assert_eq!(
            t.rowcol(300933.936 + 15.0, 5776128.478 - 25.0),
            Some((2, 1))
        );
        assert_eq!(t.rowcol(300933.935, 5776128.479), Some((-1, -1)));
        assert_eq!(t.rowcol(f64::NAN, 0.0), None);
        let (x, y) = t.apply(3.0, 2.0);
        assert_eq!((x, y), (300963.936, 5776108.478));
    }

    #[test]
    fn general_transform() {
        let t = Affine {
            a: 2.0,
            b: 1.0,
            c: 10.0,
            d: 0.5,
            e: -3.0,
            f: 100.0,
        };
        let (x, y) = t.apply(4.25, 7.5);
        let (r, c) = t.rowcol_f64(x, y);
        assert!((r - 7.5).abs() < 1e-12 && (c - 4.25).abs() < 1e-12);
    }
}
