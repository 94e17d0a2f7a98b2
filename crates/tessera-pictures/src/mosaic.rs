//! Mosaics: source rasters in their own UTM grids (tiles, store zones) resampled onto one
//! target grid, strip by strip, so that memory is bounded by a budget whatever the
//! region's size.
//!
//! Overlaps: tiles carry margins past their 0.1-degree cell (and zone windows reach past
//! their 6-degree band), so a target pixel may be covered by several sources. The source
//! that owns the pixel's centre (its cell, its band) is tried first, then the others in
//! the order given (the facade gives tiles sorted by name); the
//! first with a valid value wins. The reference's rule (the first source in its set order
//! with a valid value) depends on Python's set order; ours is deterministic and agrees
//! with it wherever the margins hold the same values as the owning tile.

use rayon::prelude::*;
use tessera_core::{Affine, Bbox, Crs, TileGeoref, TileId};

use crate::PictureError;
use crate::grid::{TargetGrid, suggested_resolution};
use crate::warp::{self, Resampling, Window};
pub use tessera_client::local::Codes;

/// A raster a mosaic reads from: float32 rows on demand, NaN where there is no data.
pub trait Source: Sync {
    /// CRS, transform and size.
    fn georef(&self) -> TileGeoref;
    /// Bands per pixel.
    fn bands(&self) -> usize;
    /// Rows `r0..r0 + n` and columns `c0..c0 + m`, pixel-interleaved.
    fn read_window(
        &self,
        r0: usize,
        n: usize,
        c0: usize,
        m: usize,
    ) -> Result<Vec<f32>, PictureError>;
    /// Whether this source owns the point: a tile its 0.1-degree cell, a zone its
    /// 6-degree band. Owners are tried first where sources overlap.
    fn owns(&self, lon: f64, lat: f64) -> bool;
    /// A name for messages.
    fn name(&self) -> String;
    /// Whether a window is read in place (a memory-mapped tile): then many small strips
    /// cost no more reads than a few large ones, and stay in cache.
    fn windows_in_place(&self) -> bool {
        false
    }
    /// The same window as int8 codes (pixel-interleaved) and one scale per pixel, for
    /// sources that hold them: linear maps of the pixels can then run on the codes.
    /// `None` (the default): only [`Source::read_window`].
    fn read_window_codes(
        &self,
        _r0: usize,
        _n: usize,
        _c0: usize,
        _m: usize,
    ) -> Result<Option<Codes<'_>>, PictureError> {
        Ok(None)
    }
}

impl Source for tessera_client::local::EmbeddingTile {
    fn georef(&self) -> TileGeoref {
        self.georef
    }
    fn bands(&self) -> usize {
        tessera_client::local::EmbeddingTile::bands(self)
    }
    fn read_window(
        &self,
        r0: usize,
        n: usize,
        c0: usize,
        m: usize,
    ) -> Result<Vec<f32>, PictureError> {
        let b = tessera_client::local::EmbeddingTile::bands(self);
        let mut v = vec![0f32; n * m * b];
        if m == 0 || b == 0 {
            return Ok(v);
        }
        v.par_chunks_mut(m * b)
            .enumerate()
            .try_for_each(|(r, row)| {
                for (c, px) in row.chunks_exact_mut(b).enumerate() {
                    self.pixel(r0 + r, c0 + c, px)?;
                }
                Ok::<_, tessera_client::ClientError>(())
            })
            .map_err(|e| PictureError::Source(e.to_string()))?;
        Ok(v)
    }
    fn owns(&self, lon: f64, lat: f64) -> bool {
        TileId::containing(lon, lat).ok() == Some(self.tile)
    }
    fn name(&self) -> String {
        format!("{} {}", self.tile.name(), self.year)
    }
    fn windows_in_place(&self) -> bool {
        true
    }
    fn read_window_codes(
        &self,
        r0: usize,
        n: usize,
        c0: usize,
        m: usize,
    ) -> Result<Option<Codes<'_>>, PictureError> {
        self.window_codes(r0, n, c0, m)
            .map_err(|e| PictureError::Source(e.to_string()))
    }
}

impl Source for tessera_client::local::GeoTiffTile {
    fn georef(&self) -> TileGeoref {
        // Opened with a georeference (checked by the caller through `georef()?`).
        tessera_client::local::GeoTiffTile::georef(self).unwrap_or(TileGeoref {
            crs: tessera_core::Crs::Wgs84,
            transform: Affine::north_up(0.0, 0.0, 1.0),
            width: 0,
            height: 0,
        })
    }
    fn bands(&self) -> usize {
        tessera_client::local::GeoTiffTile::bands(self)
    }
    fn read_window(
        &self,
        r0: usize,
        n: usize,
        c0: usize,
        m: usize,
    ) -> Result<Vec<f32>, PictureError> {
        let b = self.bands();
        let w = self.info.width as usize;
        let rows = self
            .rows(r0, n, true)
            .map_err(|e| PictureError::Source(e.to_string()))?;
        if c0 == 0 && m == w {
            return Ok(rows);
        }
        let mut v = Vec::with_capacity(n * m * b);
        for r in 0..n {
            v.extend_from_slice(&rows[(r * w + c0) * b..(r * w + c0 + m) * b]);
        }
        Ok(v)
    }
    fn owns(&self, _lon: f64, _lat: f64) -> bool {
        false
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// The bounds `[xmin, ymin, xmax, ymax]` in `crs` of a source's raster: its outline
/// (21 points an edge, as GDAL samples it) projected.
pub fn bounds_in(g: &TileGeoref, crs: &tessera_core::Crs) -> [f64; 4] {
    if g.crs == *crs {
        return g.map_bounds();
    }
    let t = &g.transform;
    let (w, h) = (g.width as f64, g.height as f64);
    let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for k in 0..=20 {
        let f = f64::from(k) / 20.0;
        for (u, v) in [(f * w, 0.0), (f * w, h), (0.0, f * h), (w, f * h)] {
            let (lon, lat) = g
                .crs
                .inverse(t.c + u * t.a + v * t.b, t.f + u * t.d + v * t.e);
            let (x, y) = crs.forward(lon, lat);
            b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
        }
    }
    b
}

/// How to lay out a mosaic.
#[derive(Debug, Clone)]
pub struct MosaicOptions {
    /// The target CRS.
    pub crs: Crs,
    /// Pixel size (x, y) in the target CRS's units; `None`: the first source's own 10 m
    /// when its CRS is the target, else GDAL's suggested resolution for it.
    pub resolution: Option<(f64, f64)>,
    /// Resampling.
    pub resampling: Resampling,
    /// Memory budget in bytes for the strips in flight (output rows and source windows).
    pub memory_bytes: usize,
    /// Which source gives a pixel where several have a value.
    pub overlap: Overlap,
    /// Copy sources already on the target's CRS and pixel size pixel for pixel (nearest)
    /// instead of resampling them, as rasterio's `merge` does (geotessera 0.11 warps only
    /// the other sources).
    pub copy_native: bool,
    /// Largest error, in source pixels, allowed when source coordinates are interpolated
    /// along an output row between exact projections (GDAL's approximate transformer,
    /// whose default in gdalwarp and rasterio's warped VRTs is 0.125); 0 projects every
    /// pixel exactly (`gdalwarp -et 0`).
    pub approx_error_px: f64,
}

/// The rule for pixels that several sources cover (tiles overlap by their margins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overlap {
    /// The source that owns the point (the tile of its 0.1-degree cell, the zone of its
    /// longitude) if it has a value there, else the first other source that has one.
    #[default]
    Owner,
    /// The first source in the given order that has a value (rasterio's `merge`
    /// `method="first"`, as geotessera 0.11 merges).
    FirstValid,
}

impl Default for MosaicOptions {
    fn default() -> Self {
        MosaicOptions {
            crs: Crs::Wgs84,
            resolution: None,
            resampling: Resampling::Nearest,
            memory_bytes: 512 << 20,
            overlap: Overlap::Owner,
            copy_native: false,
            approx_error_px: 0.0,
        }
    }
}

/// How source coordinates of one stretch of an output row are found.
#[derive(Debug, Clone, Copy)]
enum Stretch {
    /// Linear from column `i0`: `(u0 + (i - i0) du, v0 + (i - i0) dv)`.
    Linear {
        i0: usize,
        u0: f64,
        v0: f64,
        du: f64,
        dv: f64,
    },
    /// Projected pixel by pixel.
    Exact,
}

/// Output columns per interpolated stretch.
const STRETCH: usize = 32;

/// A mosaic ready to render: the grid, the sources, and how.
pub struct Mosaic<'a, S: Source> {
    /// The output grid.
    pub grid: TargetGrid,
    /// Bands per pixel.
    pub bands: usize,
    sources: &'a [S],
    georefs: Vec<TileGeoref>,
    opts: MosaicOptions,
}

/// The rows of source `s` a strip needs, and the scale (target pixels per source pixel).
struct Need {
    s: usize,
    r0: usize,
    r1: usize,
    c0: usize,
    c1: usize,
    scale: (f64, f64),
    how: Resampling,
    /// `[W, S, E, N]` in degrees holding every point that can sample the window (its
    /// outline, densified, grown by the kernel's reach and a margin): a point outside it
    /// is not projected onto the source at all.
    reach_lonlat: [f64; 4],
}

impl Need {
    fn may_cover(&self, lon: f64, lat: f64) -> bool {
        let b = &self.reach_lonlat;
        lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3]
    }
}

/// The lon/lat box of source window `r0..r1 x c0..c1` of `g`, grown by `pad` pixels.
fn window_lonlat(g: &TileGeoref, r0: usize, r1: usize, c0: usize, c1: usize, pad: f64) -> [f64; 4] {
    let t = &g.transform;
    let (u0, u1, v0, v1) = (
        c0 as f64 - pad,
        c1 as f64 + pad,
        r0 as f64 - pad,
        r1 as f64 + pad,
    );
    let steps = 32;
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for k in 0..=steps {
        let f = k as f64 / steps as f64;
        let (u, v) = (u0 + f * (u1 - u0), v0 + f * (v1 - v0));
        for (x, y) in [(u, v0), (u, v1), (u0, v), (u1, v)] {
            let (lon, lat) = g
                .crs
                .inverse(t.c + x * t.a + y * t.b, t.f + x * t.d + y * t.e);
            b = [b[0].min(lon), b[1].min(lat), b[2].max(lon), b[3].max(lat)];
        }
    }
    // Edges bulge between samples by far less than a pixel; keep a pixel's width more.
    let deg = (t.a.abs().max(t.e.abs()) / 111_000.0).max(1e-9);
    let lat_max = b[1].abs().max(b[3].abs()).min(89.0);
    let dlon = deg / lat_max.to_radians().cos();
    if g.crs.is_projected() {
        [b[0] - dlon, b[1] - deg, b[2] + dlon, b[3] + deg]
    } else {
        let d = t.a.abs().max(t.e.abs());
        [b[0] - d, b[1] - d, b[2] + d, b[3] + d]
    }
}

impl<'a, S: Source> Mosaic<'a, S> {
    /// Plans a mosaic of `sources` over `bbox`.
    pub fn new(bbox: &Bbox, sources: &'a [S], opts: MosaicOptions) -> Result<Self, PictureError> {
        let first = sources
            .first()
            .ok_or_else(|| PictureError::Usage("no tiles to mosaic".into()))?;
        let bands = first.bands();
        if let Some(o) = sources.iter().find(|s| s.bands() != bands) {
            return Err(PictureError::Usage(format!(
                "{} has {} bands, {} has {bands}: a mosaic needs one band count",
                o.name(),
                o.bands(),
                first.name()
            )));
        }
        let g0 = first.georef();
        let res = match opts.resolution {
            Some(r) => r,
            None if g0.crs == opts.crs => (g0.transform.a.abs(), g0.transform.e.abs()),
            None => {
                let r = suggested_resolution(&g0, &opts.crs);
                (r, r)
            }
        };
        let grid = TargetGrid::for_region(bbox, opts.crs, res)?;
        Self::on_grid(grid, sources, opts)
    }

    /// The resolution a mosaic of `sources` in `crs` gets by default: the first source's
    /// own pixel size in its CRS, else GDAL's suggested warp resolution for it.
    pub fn default_resolution(sources: &[S], crs: &tessera_core::Crs) -> Option<(f64, f64)> {
        let g0 = sources.first()?.georef();
        Some(if g0.crs == *crs {
            (g0.transform.a.abs(), g0.transform.e.abs())
        } else {
            let r = suggested_resolution(&g0, crs);
            (r, r)
        })
    }

    /// Plans a mosaic of `sources` onto a given grid.
    pub fn on_grid(
        grid: TargetGrid,
        sources: &'a [S],
        opts: MosaicOptions,
    ) -> Result<Self, PictureError> {
        let first = sources
            .first()
            .ok_or_else(|| PictureError::Usage("no tiles to mosaic".into()))?;
        let bands = first.bands();
        if let Some(o) = sources.iter().find(|s| s.bands() != bands) {
            return Err(PictureError::Usage(format!(
                "{} has {} bands, {} has {bands}: a mosaic needs one band count",
                o.name(),
                o.bands(),
                first.name()
            )));
        }
        let georefs = sources.iter().map(Source::georef).collect();
        Ok(Mosaic {
            grid,
            bands,
            sources,
            georefs,
            opts,
        })
    }

    /// Bytes of one output row.
    fn row_bytes(&self) -> usize {
        self.grid.width * (self.bands * 4 + 24)
    }

    /// Output rows per strip so that a strip and its source windows fit the budget; an
    /// error when even one row does not.
    pub fn strip_rows(&self) -> Result<usize, PictureError> {
        self.strip_rows_within(self.opts.memory_bytes)
    }

    /// Whether every source reads its windows in place ([`Source::windows_in_place`]).
    pub fn windows_in_place(&self) -> bool {
        self.sources.iter().all(Source::windows_in_place)
    }

    /// Like [`Self::strip_rows`] for a budget of `budget` bytes.
    pub fn strip_rows_within(&self, budget: usize) -> Result<usize, PictureError> {
        let mut n = (budget / 2 / self.row_bytes().max(1)).clamp(1, self.grid.height.max(1));
        loop {
            let need = self.strip_bytes(0, n).max(self.strip_bytes(
                self.grid.height.saturating_sub(n) / 2,
                n.min(self.grid.height),
            ));
            if need <= budget {
                return Ok(n);
            }
            if n == 1 {
                return Err(PictureError::Usage(format!(
                    "a memory budget of {} MB is too small for this mosaic: one row and its \
                     source windows need {} MB; raise --memory-mb",
                    budget >> 20,
                    need.div_ceil(1 << 20)
                )));
            }
            n /= 2;
        }
    }

    fn strip_bytes(&self, j0: usize, n: usize) -> usize {
        let windows: usize = self
            .needs(j0, n)
            .iter()
            .map(|w| (w.r1 - w.r0) * (w.c1 - w.c0) * self.bands * 4)
            .sum();
        n * self.row_bytes() + windows
    }

    /// The source windows rows `j0..j0 + n` of the output read.
    fn needs(&self, j0: usize, n: usize) -> Vec<Need> {
        let g = &self.grid;
        let (w, h) = (g.width, n);
        // The strip's outline, densely sampled (the maps are smooth over a strip).
        let step = (w / 64).max(1);
        let mut outline: Vec<(f64, f64)> = Vec::new();
        for i in (0..=w).step_by(step).chain(std::iter::once(w)) {
            outline.push((i as f64, j0 as f64));
            outline.push((i as f64, (j0 + h) as f64));
        }
        for j in (0..=h).step_by((h / 16).max(1)).chain(std::iter::once(h)) {
            outline.push((0.0, (j0 + j) as f64));
            outline.push((w as f64, (j0 + j) as f64));
        }
        let lonlat: Vec<(f64, f64)> = outline
            .iter()
            .map(|&(c, r)| {
                let t = &g.transform;
                g.crs.inverse(t.c + c * t.a, t.f + r * t.e)
            })
            .collect();
        let mid = {
            let t = &g.transform;
            let (c, r) = ((w / 2) as f64 + 0.5, (j0 + h / 2) as f64 + 0.5);
            [
                g.crs.inverse(t.c + c * t.a, t.f + r * t.e),
                g.crs.inverse(t.c + (c + 1.0) * t.a, t.f + r * t.e),
                g.crs.inverse(t.c + c * t.a, t.f + (r + 1.0) * t.e),
            ]
        };
        let mut out = Vec::new();
        for (s, sg) in self.georefs.iter().enumerate() {
            let px = |lon: f64, lat: f64| pixel_of(sg, lon, lat);
            let (a, b, c) = (
                px(mid[0].0, mid[0].1),
                px(mid[1].0, mid[1].1),
                px(mid[2].0, mid[2].1),
            );
            let dx = (b.0 - a.0).hypot(b.1 - a.1);
            let dy = (c.0 - a.0).hypot(c.1 - a.1);
            let scale = (1.0 / dx.max(1e-12), 1.0 / dy.max(1e-12));
            // The kernel's reach beyond the sampled centres, in source pixels.
            let gt = &self.grid.transform;
            let native = sg.crs == g.crs
                && (sg.transform.a - gt.a).abs() < 1e-9 * gt.a.abs()
                && (sg.transform.e - gt.e).abs() < 1e-9 * gt.e.abs();
            let how = if self.opts.copy_native && native {
                Resampling::Nearest
            } else {
                self.opts.resampling
            };
            let reach = match how {
                Resampling::Nearest => 1.0,
                Resampling::Bilinear => 2.0 + (1.0 / scale.0.min(scale.1)).ceil(),
            };
            let (sw, sh) = (sg.width as f64, sg.height as f64);
            let near =
                |u: f64, v: f64| u >= -reach && u <= sw + reach && v >= -reach && v <= sh + reach;
            // The part of the source the strip covers: the strip's outline points that fall
            // on the source, and the source's own outline points that fall in the strip.
            let mut hits: Vec<(f64, f64)> = lonlat
                .iter()
                .map(|&(lon, lat)| px(lon, lat))
                .filter(|&(u, v)| near(u, v))
                .collect();
            let t = &sg.transform;
            let steps = 32;
            for k in 0..=steps {
                let f = k as f64 / steps as f64;
                for (u, v) in [(f * sw, 0.0), (f * sw, sh), (0.0, f * sh), (sw, f * sh)] {
                    let (lon, lat) = sg.crs.inverse(t.c + u * t.a, t.f + v * t.e);
                    let (x, y) = g.crs.forward(lon, lat);
                    let (i, j) = (
                        (x - g.transform.c) / g.transform.a,
                        (y - g.transform.f) / g.transform.e,
                    );
                    if i >= 0.0 && i <= w as f64 && j >= j0 as f64 && j <= (j0 + h) as f64 {
                        hits.push((u, v));
                    }
                }
            }
            if hits.is_empty() {
                continue;
            }
            let (mut u0, mut u1, mut v0, mut v1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
            for &(u, v) in &hits {
                u0 = u0.min(u);
                u1 = u1.max(u);
                v0 = v0.min(v);
                v1 = v1.max(v);
            }
            // Between two outline samples the strip's edge may bulge by a pixel or two.
            let reach = reach + 2.0;
            let r0 = (v0 - reach).floor().max(0.0) as usize;
            let r1 = ((v1 + reach).ceil().max(0.0) as usize).min(sg.height);
            let c0 = (u0 - reach).floor().max(0.0) as usize;
            let c1 = ((u1 + reach).ceil().max(0.0) as usize).min(sg.width);
            if r1 > r0 && c1 > c0 {
                out.push(Need {
                    s,
                    r0,
                    r1,
                    c0,
                    c1,
                    scale,
                    how,
                    reach_lonlat: window_lonlat(sg, r0, r1, c0, c1, 2.0 * reach),
                });
            }
        }
        out
    }

    /// Renders output rows `j0..j0 + n` into `out` (`n x width x bands`, NaN where no
    /// source has a value).
    pub fn render(&self, j0: usize, n: usize, out: &mut [f32]) -> Result<(), PictureError> {
        let (w, b) = (self.grid.width, self.bands);
        assert_eq!(out.len(), n * w * b, "a strip buffer of whole rows");
        let needs = self.needs(j0, n);
        // One source at a time: a source may run parallel work of its own (a store's
        // decoding) and must not wait for it from inside this pool.
        let data: Vec<Vec<f32>> = needs
            .iter()
            .map(|nd| self.sources[nd.s].read_window(nd.r0, nd.r1 - nd.r0, nd.c0, nd.c1 - nd.c0))
            .collect::<Result<_, _>>()?;
        let wins: Vec<Window> = needs
            .iter()
            .zip(&data)
            .map(|(nd, d)| Window {
                r0: nd.r0,
                rows: nd.r1 - nd.r0,
                c0: nd.c0,
                width: nd.c1 - nd.c0,
                bands: b,
                data: d,
            })
            .collect();
        let g = &self.grid;
        // WGS84 and Web Mercator unproject by column and row apart: longitudes once per
        // strip, latitudes once per row (the same values as per pixel).
        let separable = matches!(
            g.crs,
            tessera_core::Crs::Wgs84 | tessera_core::Crs::WebMercator
        );
        let lons: Vec<f64> = if separable {
            (0..w)
                .map(|i| g.crs.inverse(g.centre(i, j0).0, 0.0).0)
                .collect()
        } else {
            Vec::new()
        };
        out.par_chunks_mut(w * b)
            .enumerate()
            .for_each(|(jr, orow)| {
                let j = j0 + jr;
                let mut order: Vec<usize> = Vec::with_capacity(needs.len());
                let approx = self.opts.approx_error_px;
                let row_ll = row_lonlat(g, j, separable.then_some(&lons[..]), approx);
                let lonlat = |i: usize| row_ll[i];
                let mut stretches: Vec<Vec<Option<Stretch>>> = if approx > 0.0 {
                    vec![vec![None; w.div_ceil(STRETCH)]; needs.len()]
                } else {
                    Vec::new()
                };
                let mut source_px = |k: usize, i: usize, lon: f64, lat: f64| -> (f64, f64) {
                    let sg = &self.georefs[needs[k].s];
                    if approx <= 0.0 {
                        return pixel_of(sg, lon, lat);
                    }
                    let slot = &mut stretches[k][i / STRETCH];
                    let st = *slot.get_or_insert_with(|| {
                        let i0 = (i / STRETCH) * STRETCH;
                        let i1 = (i0 + STRETCH).min(w - 1);
                        if i1 <= i0 + 1 {
                            return Stretch::Exact;
                        }
                        let at = |c: usize| {
                            let (lo, la) = lonlat(c);
                            pixel_of(sg, lo, la)
                        };
                        let (a, z, im) = (at(i0), at(i1), (i0 + i1) / 2);
                        let m = at(im);
                        let n = (i1 - i0) as f64;
                        let (du, dv) = ((z.0 - a.0) / n, (z.1 - a.1) / n);
                        let f = (im - i0) as f64;
                        let err = (a.0 + f * du - m.0).abs().max((a.1 + f * dv - m.1).abs());
                        if err.is_finite() && err <= approx {
                            Stretch::Linear {
                                i0,
                                u0: a.0,
                                v0: a.1,
                                du,
                                dv,
                            }
                        } else {
                            Stretch::Exact
                        }
                    });
                    match st {
                        Stretch::Linear { i0, u0, v0, du, dv } => {
                            let f = (i - i0) as f64;
                            (u0 + f * du, v0 + f * dv)
                        }
                        Stretch::Exact => pixel_of(sg, lon, lat),
                    }
                };
                for (i, o) in orow.chunks_exact_mut(b).enumerate() {
                    let (lon, lat) = lonlat(i);
                    order.clear();
                    if self.opts.overlap == Overlap::FirstValid {
                        order.extend(0..needs.len());
                    } else {
                        let owns = |k: &usize| self.sources[needs[*k].s].owns(lon, lat);
                        order.extend((0..needs.len()).filter(owns));
                        order.extend((0..needs.len()).filter(|k| !owns(k)));
                    }
                    let mut hit = false;
                    for &k in &order {
                        if !needs[k].may_cover(lon, lat) {
                            continue;
                        }
                        let (u, v) = source_px(k, i, lon, lat);
                        if warp::sample(&wins[k], needs[k].how, u, v, needs[k].scale, o) {
                            hit = true;
                            break;
                        }
                    }
                    if !hit {
                        o.fill(f32::NAN);
                    }
                }
            });
        Ok(())
    }

    /// The memory budget (bytes).
    pub fn memory_bytes(&self) -> usize {
        self.opts.memory_bytes
    }

    /// The whole mosaic in memory (`height x width x bands`).
    pub fn to_vec(&self) -> Result<Vec<f32>, PictureError> {
        let (w, b) = (self.grid.width, self.bands);
        let mut out = tessera_client::mem::output_f32(self.grid.height * w * b);
        let n = self.strip_rows()?;
        for (k, chunk) in out.chunks_mut(n * w * b).enumerate() {
            let rows = chunk.len() / (w * b);
            self.render(k * n, rows, chunk)?;
        }
        Ok(out)
    }
}

/// The lon/lat of each pixel centre of row `j`: from the strip's longitudes and one
/// latitude where the CRS is separable; else unprojected per pixel or, when an error of
/// `approx` pixels is allowed, exactly at the ends of each stretch of [`STRETCH`] pixels
/// and linearly between them where the stretch's middle pixel is within that error (about
/// 40 times fewer inverse projections on a UTM or transverse Mercator grid).
fn row_lonlat(g: &TargetGrid, j: usize, lons: Option<&[f64]>, approx: f64) -> Vec<(f64, f64)> {
    let w = g.width;
    if let Some(lons) = lons {
        let lat = g.crs.inverse(0.0, g.centre(0, j).1).1;
        return lons.iter().map(|&lon| (lon, lat)).collect();
    }
    let exact = |i: usize| {
        let (x, y) = g.centre(i, j);
        g.crs.inverse(x, y)
    };
    if approx <= 0.0 {
        return (0..w).map(exact).collect();
    }
    // The allowed error in degrees: `approx` pixels of the grid at the equator's metres
    // per degree (a bound for longitude everywhere, since a degree of longitude is never
    // longer), or `approx` pixels of a degree grid.
    let px = g.transform.a.abs().min(g.transform.e.abs());
    let tol = if g.crs == tessera_core::Crs::Wgs84 {
        approx * px
    } else {
        approx * px / 111_320.0
    };
    let mut out = vec![(0.0, 0.0); w];
    let mut i0 = 0;
    while i0 < w {
        let i1 = (i0 + STRETCH).min(w - 1);
        let a = exact(i0);
        out[i0] = a;
        if i1 <= i0 + 1 {
            if i1 > i0 {
                out[i1] = exact(i1);
            }
            i0 = i1 + 1;
            continue;
        }
        let z = exact(i1);
        let im = (i0 + i1) / 2;
        let m = exact(im);
        let n = (i1 - i0) as f64;
        let (dl, dt) = ((z.0 - a.0) / n, (z.1 - a.1) / n);
        let f = (im - i0) as f64;
        let err = (a.0 + f * dl - m.0).abs().max((a.1 + f * dt - m.1).abs());
        if err.is_finite() && err <= tol && (z.0 - a.0).abs() < 180.0 {
            for (k, o) in out[i0 + 1..i1].iter_mut().enumerate() {
                let f = (k + 1) as f64;
                *o = (a.0 + f * dl, a.1 + f * dt);
            }
        } else {
            for (k, o) in out[i0 + 1..i1].iter_mut().enumerate() {
                *o = exact(i0 + 1 + k);
            }
        }
        out[i1] = z;
        i0 = i1;
        if i0 == w - 1 {
            break;
        }
    }
    out
}

/// Source pixel coordinates (column, row; 0, 0 the top-left corner) of a lon/lat.
fn pixel_of(g: &TileGeoref, lon: f64, lat: f64) -> (f64, f64) {
    let (e, n) = g.crs.forward(lon, lat);
    let t: &Affine = &g.transform;
    ((e - t.c) / t.a, (n - t.f) / t.e)
}
