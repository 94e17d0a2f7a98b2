//! Rendering web tiles from an RGBA picture in EPSG:3857 the way gdal2tiles does with
//! `--resampling bilinear`: a tile at the deepest zoom reads its footprint from the source
//! by nearest neighbour into a 512-pixel query square (GDAL's `ReadRaster`, with
//! gdal2tiles' `geo_query` arithmetic) and scales it to 256 pixels with GDAL's bilinear
//! warp kernel; a tile at a shallower zoom scales its four children the same way. Only
//! the source rows a tile row samples are read, in whole chunk rows, so memory is bounded
//! whatever the source's size.

use rayon::prelude::*;

use crate::PictureError;
use crate::rgba::RgbaGeoTiff;
use crate::tilegrid::{self, TILE_SIZE, WebTile};

/// Pixels along the query square a deepest-zoom tile is read into (gdal2tiles' bilinear
/// `querysize`).
pub const QUERY_SIZE: usize = 2 * TILE_SIZE;
/// Tiles of one row rendered together (each holds a query square of 1 MiB).
const GROUP: usize = 16;

/// One RGBA tile, `TILE_SIZE x TILE_SIZE x 4` bytes.
pub type Rgba = Vec<u8>;

/// gdal2tiles' `geo_query`: the source window and where it lands in the query square.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Source window (column, row, columns, rows).
    pub r: (i64, i64, i64, i64),
    /// Its place in the query square (column, row, columns, rows).
    pub w: (i64, i64, i64, i64),
}

impl Query {
    fn is_empty(&self) -> bool {
        self.r.2 <= 0 || self.r.3 <= 0 || self.w.2 <= 0 || self.w.3 <= 0
    }
}

/// Python's `int()` of a float: truncation toward zero.
fn int(v: f64) -> i64 {
    v as i64
}

/// One axis of `geo_query`: (source offset, size, query offset, size).
fn query_axis(origin: f64, res: f64, lo: f64, hi: f64, n: i64) -> (i64, i64, i64, i64) {
    let mut r = int((lo - origin) / res + 0.001);
    let mut rsize = int((hi - lo) / res + 0.5).max(1);
    let mut wsize = QUERY_SIZE as i64;
    let mut w = 0;
    if r < 0 {
        let shift = r.abs();
        w = int(wsize as f64 * (shift as f64 / rsize as f64));
        wsize -= w;
        rsize -= int(rsize as f64 * (shift as f64 / rsize as f64));
        r = 0;
    }
    if r + rsize > n {
        wsize = int(wsize as f64 * ((n - r) as f64 / rsize as f64));
        rsize = n - r;
    }
    (r, rsize, w, wsize)
}

/// GDAL's nearest-neighbour `RasterIO` index: the source pixel under the centre of buffer
/// pixel `k` of `wsize` spread over source pixels `r..r + rsize`.
fn nearest(r: i64, rsize: i64, wsize: i64, k: i64) -> usize {
    let inc = rsize as f64 / wsize as f64;
    let s = ((k as f64 + 0.5) * inc + r as f64 + 1e-10).floor() as i64;
    s.clamp(r, r + rsize - 1) as usize
}

/// A picture in EPSG:3857 ready to be cut into tiles.
pub struct TileRenderer {
    src: RgbaGeoTiff,
    /// GDAL geotransform: x0, pixel width, y0, pixel height (negative).
    gt: (f64, f64, f64, f64),
}

impl TileRenderer {
    /// A renderer over `src`, which must be in EPSG:3857 (see [`crate::web_ready`]).
    pub fn new(src: RgbaGeoTiff) -> Result<TileRenderer, PictureError> {
        if src.crs() != tessera_core::Crs::WebMercator {
            return Err(PictureError::Usage(format!(
                "{} is in {}; web tiles are cut from EPSG:3857",
                src.path().display(),
                src.crs()
            )));
        }
        let t = src.georef.transform;
        Ok(TileRenderer {
            gt: (t.c, t.a, t.f, t.e),
            src,
        })
    }

    /// The source picture.
    pub fn source(&self) -> &RgbaGeoTiff {
        &self.src
    }

    /// The source's bounds `[minx, miny, maxx, maxy]` as gdal2tiles takes them (its south
    /// edge from the pixel width: it assumes square pixels).
    pub fn bounds(&self) -> [f64; 4] {
        let (w, h) = (self.src.georef.width as f64, self.src.georef.height as f64);
        let (x0, rx, y0, _) = self.gt;
        [x0, y0 - h * rx, x0 + w * rx, y0]
    }

    /// The tiles at `zoom` (inclusive `[minx, miny, maxx, maxy]`).
    pub fn range(&self, zoom: u8) -> [u32; 4] {
        tilegrid::tile_range(self.bounds(), zoom)
    }

    /// The deepest zoom not finer than the source's pixels.
    pub fn native_zoom(&self) -> u8 {
        tilegrid::zoom_for_pixel_size(self.gt.1)
    }

    /// Whether `t` lies in the tile range of its zoom.
    pub fn covers(&self, t: WebTile) -> bool {
        let r = self.range(t.z);
        t.is_valid() && (r[0]..=r[2]).contains(&t.x) && (r[1]..=r[3]).contains(&t.y)
    }

    /// `geo_query` for tile `t` at the query size.
    pub fn query(&self, t: WebTile) -> Query {
        let b = t.bounds();
        let (x0, rx, y0, ry) = self.gt;
        let g = &self.src.georef;
        let (r0, rs, w0, ws) = query_axis(x0, rx, b[0], b[2], g.width as i64);
        let (r1, rs1, w1, ws1) = query_axis(y0, ry, b[3], b[1], g.height as i64);
        Query {
            r: (r0, r1, rs, rs1),
            w: (w0, w1, ws, ws1),
        }
    }

    /// Renders tiles read straight from the source (gdal2tiles' base tiles), whatever
    /// their zoom and row, as RGBA.
    pub fn render(&self, tiles: &[WebTile]) -> Result<Vec<Rgba>, PictureError> {
        let mut out: Vec<Option<Rgba>> = vec![None; tiles.len()];
        // Tiles of one zoom and row share their source rows.
        let mut order: Vec<usize> = (0..tiles.len()).collect();
        order.sort_by_key(|&i| (tiles[i].z, tiles[i].y, tiles[i].x));
        for same in order.chunk_by(|&a, &b| tiles[a].z == tiles[b].z && tiles[a].y == tiles[b].y) {
            for group in same.chunks(GROUP) {
                let ts: Vec<WebTile> = group.iter().map(|&i| tiles[i]).collect();
                for (&i, t) in group.iter().zip(self.render_row(&ts)?) {
                    out[i] = Some(t);
                }
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Tiles of one zoom and row: their query squares filled from the source rows they
    /// sample, read a chunk row at a time, then scaled to tiles.
    fn render_row(&self, tiles: &[WebTile]) -> Result<Vec<Rgba>, PictureError> {
        let Some(first) = tiles.first() else {
            return Ok(Vec::new());
        };
        let queries: Vec<Query> = tiles.iter().map(|&t| self.query(t)).collect();
        let q0 = self.query(*first);
        let (ry, rysize, wy, wysize) = (q0.r.1, q0.r.3, q0.w.1, q0.w.3);
        let mut squares: Vec<Vec<u8>> = vec![vec![0u8; QUERY_SIZE * QUERY_SIZE * 4]; tiles.len()];
        let live: Vec<bool> = queries.iter().map(|q| !q.is_empty()).collect();
        if live.iter().any(|&l| l) && !q0.is_empty() {
            let cols: Vec<Vec<usize>> = queries
                .iter()
                .map(|q| {
                    (0..q.w.2.max(0))
                        .map(|k| nearest(q.r.0, q.r.2, q.w.2, k))
                        .collect()
                })
                .collect();
            let rows: Vec<usize> = (0..wysize)
                .map(|k| nearest(ry, rysize, wysize, k))
                .collect();
            let width = self.src.georef.width;
            let chunk = self.src.chunk_rows;
            // Query rows grouped by the source chunk row they sample.
            let mut k = 0;
            while k < rows.len() {
                let block = rows[k] / chunk;
                let mut e = k;
                while e < rows.len() && rows[e] / chunk == block {
                    e += 1;
                }
                let (lo, hi) = (rows[k..e].iter().min(), rows[k..e].iter().max());
                let (Some(&lo), Some(&hi)) = (lo, hi) else {
                    break;
                };
                let data = self.src.read_rgba_rows(lo, hi - lo + 1)?;
                squares
                    .par_iter_mut()
                    .zip(&queries)
                    .zip(&cols)
                    .zip(&live)
                    .filter(|(_, l)| **l)
                    .for_each(|(((sq, q), cs), _)| {
                        for (qk, &sr) in rows.iter().enumerate().take(e).skip(k) {
                            let qrow = (wy + qk as i64) as usize;
                            let src = &data[(sr - lo) * width * 4..(sr - lo + 1) * width * 4];
                            let dst = &mut sq[qrow * QUERY_SIZE * 4..(qrow + 1) * QUERY_SIZE * 4];
                            for (qc, &sc) in cs.iter().enumerate() {
                                let at = (q.w.0 as usize + qc) * 4;
                                dst[at..at + 4].copy_from_slice(&src[sc * 4..sc * 4 + 4]);
                            }
                        }
                    });
                k = e;
            }
        }
        Ok(squares.par_iter().map(|sq| downsample(sq)).collect())
    }
}

/// An overview tile from its children (gdal2tiles' `create_overview_tile`): `children` are
/// the tiles (2x, 2y), (2x+1, 2y), (2x, 2y+1), (2x+1, 2y+1) at the next zoom, each absent
/// or RGBA; absent ones are transparent.
pub fn overview(children: [Option<&[u8]>; 4]) -> Rgba {
    let t = TILE_SIZE;
    let mut sq = vec![0u8; QUERY_SIZE * QUERY_SIZE * 4];
    for (i, c) in children.iter().enumerate() {
        let Some(c) = c else { continue };
        if c.len() != t * t * 4 {
            continue;
        }
        // x odd: the east half; TMS y odd (the northern child): the top half.
        let (px, py) = ((i % 2) * t, if i / 2 == 1 { 0 } else { t });
        for r in 0..t {
            let d = ((py + r) * QUERY_SIZE + px) * 4;
            sq[d..d + t * 4].copy_from_slice(&c[r * t * 4..(r + 1) * t * 4]);
        }
    }
    downsample(&sq)
}

/// GDAL's bilinear warp from a 512-pixel square to 256 pixels (`ReprojectImage` with
/// scale 0.5): per axis the taps 2i-1..2i+2 weigh 1/4, 3/4, 3/4, 1/4, those off the
/// square drop out and the rest are renormalised; all four bands alike (no alpha masking,
/// as gdal2tiles' in-memory datasets carry none), rounded to the nearest byte.
pub fn downsample(sq: &[u8]) -> Rgba {
    const W: [f64; 4] = [0.25, 0.75, 0.75, 0.25];
    let (n, t) = (QUERY_SIZE, TILE_SIZE);
    let taps = |i: usize| {
        let mut v = [(0usize, 0.0f64); 4];
        let mut sum = 0.0;
        let mut m = 0;
        for (k, w) in W.iter().enumerate() {
            let s = (2 * i + k) as i64 - 1;
            if s >= 0 && (s as usize) < n {
                v[m] = (s as usize, *w);
                sum += w;
                m += 1;
            }
        }
        for e in &mut v[..m] {
            e.1 /= sum;
        }
        (v, m)
    };
    let axis: Vec<([(usize, f64); 4], usize)> = (0..t).map(taps).collect();
    // Horizontal pass into f64 rows, then vertical; each sum adds its taps in order, four
    // bands at a time (the vertical pass a whole row at a time, so it vectorises).
    let mut h = vec![0f64; n * t * 4];
    for (row, hrow) in sq.chunks_exact(n * 4).zip(h.chunks_exact_mut(t * 4)) {
        for ((v, m), hp) in axis.iter().zip(hrow.chunks_exact_mut(4)) {
            let mut acc = [0f64; 4];
            for &(s, w) in &v[..*m] {
                let p = &row[s * 4..s * 4 + 4];
                for b in 0..4 {
                    acc[b] += w * f64::from(p[b]);
                }
            }
            hp.copy_from_slice(&acc);
        }
    }
    let mut out = vec![0u8; t * t * 4];
    let mut acc = vec![0f64; t * 4];
    for ((v, m), orow) in axis.iter().zip(out.chunks_exact_mut(t * 4)) {
        acc.fill(0.0);
        for &(s, w) in &v[..*m] {
            for (a, &x) in acc.iter_mut().zip(&h[s * t * 4..(s + 1) * t * 4]) {
                *a += w * x;
            }
        }
        // The sums are convex combinations of bytes (0..=255): `as u8` of `acc + 0.5`
        // rounds half up, as `floor` did.
        for (o, &a) in orow.iter_mut().zip(&acc) {
            *o = (a + 0.5) as u8;
        }
    }
    out
}

/// Encodes an RGBA tile as PNG.
pub fn encode_png(rgba: &[u8]) -> Result<Vec<u8>, PictureError> {
    let mut out = Vec::with_capacity(rgba.len() / 4);
    let e = |e: png::EncodingError| PictureError::Io(format!("encoding a PNG tile: {e}"));
    {
        let mut enc = png::Encoder::new(&mut out, TILE_SIZE as u32, TILE_SIZE as u32);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc.write_header().map_err(e)?;
        w.write_image_data(rgba).map_err(e)?;
        w.finish().map_err(e)?;
    }
    Ok(out)
}

/// Decodes a PNG tile to RGBA (`TILE_SIZE` square, 8-bit RGB or RGBA).
pub fn decode_png(bytes: &[u8]) -> Result<Rgba, PictureError> {
    let bad = |m: String| PictureError::Source(format!("a PNG tile: {m}"));
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND);
    let mut r = dec.read_info().map_err(|e| bad(e.to_string()))?;
    let size = r
        .output_buffer_size()
        .ok_or_else(|| bad("too large".into()))?;
    if size > 64 << 20 {
        return Err(bad(format!("{size} bytes decoded is too large")));
    }
    let mut buf = vec![0u8; size];
    let info = r.next_frame(&mut buf).map_err(|e| bad(e.to_string()))?;
    if (info.width as usize, info.height as usize) != (TILE_SIZE, TILE_SIZE)
        || info.bit_depth != png::BitDepth::Eight
    {
        return Err(bad(format!(
            "{}x{} at {:?} bits, not a {TILE_SIZE}-pixel 8-bit tile",
            info.width, info.height, info.bit_depth
        )));
    }
    let px = TILE_SIZE * TILE_SIZE;
    match info.color_type {
        png::ColorType::Rgba => Ok(buf[..px * 4].to_vec()),
        png::ColorType::Rgb => Ok(buf[..px * 3]
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect()),
        other => Err(bad(format!("colour type {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geo_query_follows_gdal2tiles_at_the_edges() {
        // A 1000-pixel axis from 0 at 1 m; a tile spanning -100..412 m: about 100 pixels
        // of query fall off the west edge (99: Python's int() truncates -99.999 to -99).
        let (r, rs, w, ws) = query_axis(0.0, 1.0, -100.0, 412.0, 1000);
        assert_eq!((r, rs, w, ws), (0, 413, 99, 413));
        // Past the east edge: the query is cut in proportion.
        let (r, rs, w, ws) = query_axis(0.0, 1.0, 900.0, 1156.0, 1000);
        assert_eq!((r, rs, w, ws), (900, 100, 0, 200));
        assert_eq!(nearest(0, 256, 512, 0), 0);
        assert_eq!(nearest(0, 256, 512, 511), 255);
        assert_eq!(nearest(10, 1024, 512, 1), 13);
    }

    #[test]
    fn downsampling_keeps_flat_colours_and_averages_edges() {
        let sq: Vec<u8> = std::iter::repeat_n([10u8, 200, 30, 255], QUERY_SIZE * QUERY_SIZE)
            .flatten()
            .collect();
        let t = downsample(&sq);
        assert!(t.chunks_exact(4).all(|p| p == [10, 200, 30, 255]));
        // Left half opaque white, right half transparent black: the seam pixel blends.
        let mut sq = vec![0u8; QUERY_SIZE * QUERY_SIZE * 4];
        for r in 0..QUERY_SIZE {
            for c in 0..QUERY_SIZE / 2 {
                sq[(r * QUERY_SIZE + c) * 4..][..4].copy_from_slice(&[255; 4]);
            }
        }
        let t = downsample(&sq);
        let px = |i: usize| &t[(10 * TILE_SIZE + i) * 4..][..4];
        assert_eq!(px(126), [255; 4]);
        // Taps 253..256 with weights 1/4 3/4 3/4 1/4 over 2: (0.25+0.75+0.75)/2 = 7/8.
        assert_eq!(px(127), [223; 4]);
        assert_eq!(px(128), [32; 4]);
        assert_eq!(px(129), [0; 4]);
    }

    #[test]
    fn overviews_put_the_northern_children_on_top_and_pngs_round_trip() {
        let red: Vec<u8> = std::iter::repeat_n([255u8, 0, 0, 255], TILE_SIZE * TILE_SIZE)
            .flatten()
            .collect();
        // Only the north-west child (2x, 2y+1).
        let o = overview([None, None, Some(&red), None]);
        assert_eq!(&o[..4], &[255, 0, 0, 255]);
        let last = (TILE_SIZE * TILE_SIZE - 1) * 4;
        assert_eq!(&o[last..], &[0, 0, 0, 0]);
        let png = encode_png(&o).unwrap();
        assert_eq!(decode_png(&png).unwrap(), o);
        assert!(decode_png(b"not a png").is_err());
    }
}
