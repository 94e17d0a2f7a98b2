//! The coverage PNG (spec/formats.md §10.2): land polygons, one rectangle per tile
//! (centre ± 0.05·size, blended with exact area coverage, so a million sub-pixel tiles cost
//! a few million blends), axes with ticks and grid, title, statistics box and legend.

use tiny_skia::{
    Color, FillRule, LineCap, Paint, PathBuilder, Pixmap, PixmapPaint, Rect, Stroke, StrokeDash,
    Transform,
};

use super::colors::{DARKGRAY, LIGHTGRAY};
use super::land;
use super::text::{CELL, draw_text, draw_text_up, text_width};
use crate::PictureError;

/// A tile to draw: its centre keys (`round(lon * 100)`) and its colour's index in
/// [`MapSpec::palette`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapTile {
    /// `round(lon * 100)` of the centre.
    pub lon_i: i32,
    /// `round(lat * 100)` of the centre.
    pub lat_i: i32,
    /// Index into the palette.
    pub color: u8,
}

/// One legend row.
#[derive(Debug, Clone)]
pub struct LegendItem {
    /// Patch colour.
    pub color: [u8; 3],
    /// Patch opacity.
    pub alpha: f64,
    /// Only an outline (the region boundary).
    pub outline: bool,
    /// Label.
    pub label: String,
}

/// What the map shows.
#[derive(Debug, Clone)]
pub struct MapSpec {
    /// Image width in pixels.
    pub width: u32,
    /// The region `[W, S, E, N]` (the view is it plus 5 %), or the globe.
    pub region: Option<[f64; 4]>,
    /// Title.
    pub title: String,
    /// Lines of the statistics box (none: no box).
    pub stats: Vec<String>,
    /// Legend rows.
    pub legend: Vec<LegendItem>,
    /// Tile colours.
    pub palette: Vec<[u8; 3]>,
    /// Tile opacity.
    pub tile_alpha: f64,
    /// Tile size multiplier.
    pub tile_size: f64,
    /// Draw the land layer.
    pub show_land: bool,
    /// A region outline (rings of lon, lat), drawn red and dashed.
    pub outline: Vec<Vec<(f64, f64)>>,
}

/// Largest accepted image side.
pub const MAX_SIDE: u32 = 20_000;

/// The image height of a map `width` wide: `width * 0.5` for the globe, `width * Δlat/Δlon`
/// for a region (as the reference sizes its figure).
pub fn map_height(width: u32, region: Option<[f64; 4]>) -> u32 {
    let aspect = match region {
        Some(r) if r[2] - r[0] > 0.0 => (r[3] - r[1]) / (r[2] - r[0]),
        Some(_) => 1.0,
        None => 0.5,
    };
    ((f64::from(width) * aspect).round() as u32).clamp(1, MAX_SIDE)
}

/// The view `[W, S, E, N]`: the region plus 5 % on each side, or the globe.
pub fn view_of(region: Option<[f64; 4]>) -> [f64; 4] {
    match region {
        Some(r) => {
            let (dx, dy) = ((r[2] - r[0]) * 0.05, (r[3] - r[1]) * 0.05);
            let (dx, dy) = (
                if dx > 0.0 { dx } else { 0.05 },
                if dy > 0.0 { dy } else { 0.05 },
            );
            [r[0] - dx, r[1] - dy, r[2] + dx, r[3] + dy]
        }
        None => [-180.0, -90.0, 180.0, 90.0],
    }
}

/// Where the map area lies in the image, and how degrees map to its pixels.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// Left edge of the map area.
    pub left: u32,
    /// Top edge.
    pub top: u32,
    /// Map area width.
    pub w: u32,
    /// Map area height.
    pub h: u32,
    /// The view `[W, S, E, N]`.
    pub view: [f64; 4],
}

impl Frame {
    /// Map-area pixel x of a longitude.
    pub fn x(&self, lon: f64) -> f64 {
        (lon - self.view[0]) / (self.view[2] - self.view[0]) * f64::from(self.w)
    }
    /// Map-area pixel y of a latitude.
    pub fn y(&self, lat: f64) -> f64 {
        (self.view[3] - lat) / (self.view[3] - self.view[1]) * f64::from(self.h)
    }
    /// Image pixel (x, y) of a point, for tests: `None` outside the map area.
    pub fn image_pixel(&self, lon: f64, lat: f64) -> Option<(u32, u32)> {
        let (x, y) = (self.x(lon), self.y(lat));
        (x >= 0.0 && y >= 0.0 && x < f64::from(self.w) && y < f64::from(self.h))
            .then(|| (self.left + x as u32, self.top + y as u32))
    }
}

/// Text scale for a map `width` wide.
fn text_scale(width: u32) -> u32 {
    (width / 1000).clamp(1, 8)
}

/// The frame of a map: image size and the map area inside its margins.
pub fn frame(spec: &MapSpec) -> Result<(u32, u32, Frame), PictureError> {
    if !(200..=MAX_SIDE).contains(&spec.width) {
        return Err(PictureError::Usage(format!(
            "--width must be between 200 and {MAX_SIDE} pixels; got {}",
            spec.width
        )));
    }
    let s = text_scale(spec.width);
    let cell = CELL * s;
    let top = cell + CELL * (s + 1) + cell;
    let bottom = cell / 2 + cell + cell / 2 + cell + cell;
    let left = cell + cell + 5 * cell + cell / 2;
    let right = 2 * cell;
    let height = map_height(spec.width, spec.region).max(top + bottom + 40);
    let w = spec.width - left - right;
    let h = height - top - bottom;
    Ok((
        spec.width,
        height,
        Frame {
            left,
            top,
            w,
            h,
            view: view_of(spec.region),
        },
    ))
}

fn paint(c: [u8; 3], alpha: f64) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(Color::from_rgba8(
        c[0],
        c[1],
        c[2],
        (alpha.clamp(0.0, 1.0) * 255.0).round() as u8,
    ));
    p.anti_alias = true;
    p
}

/// Blends tile rectangles into an opaque map area with exact area coverage.
fn draw_tiles(area: &mut Pixmap, f: &Frame, spec: &MapSpec, tiles: &[MapTile]) {
    let (w, h) = (area.width() as usize, area.height() as usize);
    let (wf, hf) = (w as f64, h as f64);
    let half = 0.05 * spec.tile_size;
    let alpha = spec.tile_alpha.clamp(0.0, 1.0);
    let colors: Vec<[f64; 3]> = spec
        .palette
        .iter()
        .map(|c| [f64::from(c[0]), f64::from(c[1]), f64::from(c[2])])
        .collect();
    let data = area.data_mut();
    for t in tiles {
        let Some(src) = colors.get(usize::from(t.color)) else {
            continue;
        };
        let (cx, cy) = (f64::from(t.lon_i) / 100.0, f64::from(t.lat_i) / 100.0);
        let x0 = f.x(cx - half).max(0.0);
        let x1 = f.x(cx + half).min(wf);
        let y0 = f.y(cy + half).max(0.0);
        let y1 = f.y(cy - half).min(hf);
        if x1 <= x0 || y1 <= y0 {
            continue;
        }
        let (ix0, ix1) = (x0.floor() as usize, (x1.ceil() as usize).min(w));
        let (iy0, iy1) = (y0.floor() as usize, (y1.ceil() as usize).min(h));
        for iy in iy0..iy1 {
            let cov_y = (y1.min(iy as f64 + 1.0) - y0.max(iy as f64)).max(0.0);
            for ix in ix0..ix1 {
                let cov_x = (x1.min(ix as f64 + 1.0) - x0.max(ix as f64)).max(0.0);
                let a = alpha * cov_x * cov_y;
                if a <= 0.0 {
                    continue;
                }
                let i = (iy * w + ix) * 4;
                for k in 0..3 {
                    let d = f64::from(data[i + k]);
                    data[i + k] = (d + (src[k] - d) * a).round() as u8;
                }
            }
        }
    }
}

fn ring_path(f: &Frame, rings: &[Vec<(f64, f64)>]) -> Option<tiny_skia::Path> {
    let mut pb = PathBuilder::new();
    for ring in rings {
        let mut first = true;
        for &(lon, lat) in ring {
            let (x, y) = (f.x(lon) as f32, f.y(lat) as f32);
            if first {
                pb.move_to(x, y);
                first = false;
            } else {
                pb.line_to(x, y);
            }
        }
        pb.close();
    }
    pb.finish()
}

/// A "nice" tick step for `range` degrees and about `n` ticks.
fn tick_step(range: f64, n: f64) -> f64 {
    let raw = (range / n).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

fn ticks(lo: f64, hi: f64, n: f64) -> (Vec<f64>, f64) {
    let step = tick_step(hi - lo, n);
    let mut v = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + step * 1e-9 && v.len() < 100 {
        v.push(t);
        t += step;
    }
    (v, step)
}

fn tick_label(v: f64, step: f64) -> String {
    let decimals = (0..=4usize)
        .find(|d| {
            let x = step * 10f64.powi(*d as i32);
            (x - x.round()).abs() < 1e-6
        })
        .unwrap_or(4);
    let s = format!("{v:.decimals$}");
    // "-0" reads as 0.
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// Renders the map; returns the RGB pixels and the frame (for callers that check them).
pub fn render_pixels(spec: &MapSpec, tiles: &[MapTile]) -> Result<(Pixmap, Frame), PictureError> {
    let (width, height, f) = frame(spec)?;
    let mut img = Pixmap::new(width, height)
        .ok_or_else(|| PictureError::Usage(format!("cannot make a {width}x{height} image")))?;
    img.fill(Color::WHITE);
    let mut area = Pixmap::new(f.w.max(1), f.h.max(1))
        .ok_or_else(|| PictureError::Usage("map area too small".into()))?;
    area.fill(Color::WHITE);
    let s = text_scale(width);
    let black = [0, 0, 0];
    let (xt, xstep) = ticks(f.view[0], f.view[2], 7.0);
    let (yt, ystep) = ticks(f.view[1], f.view[3], 6.0);
    // Grid first, under everything (matplotlib draws it above, at alpha 0.3; under the
    // land it would vanish, so draw it faint above the land instead: see below).
    if spec.show_land {
        let fill = paint(LIGHTGRAY, 1.0);
        let edge = paint(DARKGRAY, 1.0);
        let stroke = Stroke {
            width: 0.7,
            ..Stroke::default()
        };
        for shape in land::shapes() {
            if let Some(p) = ring_path(&f, &shape.rings) {
                area.fill_path(&p, &fill, FillRule::EvenOdd, Transform::identity(), None);
                area.stroke_path(&p, &edge, &stroke, Transform::identity(), None);
            }
        }
    }
    draw_tiles(&mut area, &f, spec, tiles);
    // The grid: dashed, faint.
    {
        let grid = paint([176, 176, 176], 0.6);
        let stroke = Stroke {
            width: 0.8,
            dash: StrokeDash::new(vec![4.0 * s as f32, 2.0 * s as f32], 0.0),
            line_cap: LineCap::Butt,
            ..Stroke::default()
        };
        let mut pb = PathBuilder::new();
        for &t in &xt {
            let x = f.x(t) as f32;
            pb.move_to(x, 0.0);
            pb.line_to(x, f.h as f32);
        }
        for &t in &yt {
            let y = f.y(t) as f32;
            pb.move_to(0.0, y);
            pb.line_to(f.w as f32, y);
        }
        if let Some(p) = pb.finish() {
            area.stroke_path(&p, &grid, &stroke, Transform::identity(), None);
        }
    }
    if !spec.outline.is_empty()
        && let Some(p) = ring_path(&f, &spec.outline)
    {
        let stroke = Stroke {
            width: 2.0 * s as f32,
            dash: StrokeDash::new(vec![6.0 * s as f32, 3.0 * s as f32], 0.0),
            ..Stroke::default()
        };
        area.stroke_path(
            &p,
            &paint([255, 0, 0], 0.8),
            &stroke,
            Transform::identity(),
            None,
        );
    }
    img.draw_pixmap(
        f.left as i32,
        f.top as i32,
        area.as_ref(),
        &PixmapPaint::default(),
        Transform::identity(),
        None,
    );
    // Axes frame, ticks and labels.
    let frame_rect = Rect::from_xywh(
        f.left as f32 - 0.5,
        f.top as f32 - 0.5,
        f.w as f32 + 1.0,
        f.h as f32 + 1.0,
    );
    if let Some(r) = frame_rect {
        let p = PathBuilder::from_rect(r);
        img.stroke_path(
            &p,
            &paint(black, 1.0),
            &Stroke::default(),
            Transform::identity(),
            None,
        );
    }
    let cell = i64::from(CELL * s);
    for &t in &xt {
        let x = i64::from(f.left) + f.x(t) as i64;
        let label = tick_label(t, xstep);
        let y = i64::from(f.top + f.h) + cell / 2;
        draw_text(
            &mut img,
            x - i64::from(text_width(&label, s)) / 2,
            y,
            &label,
            s,
            black,
            false,
        );
    }
    for &t in &yt {
        let y = i64::from(f.top) + f.y(t) as i64;
        let label = tick_label(t, ystep);
        let x = i64::from(f.left) - cell / 2 - i64::from(text_width(&label, s));
        draw_text(&mut img, x, y - cell / 2, &label, s, black, false);
    }
    let xl = "Longitude";
    draw_text(
        &mut img,
        i64::from(f.left + f.w / 2) - i64::from(text_width(xl, s)) / 2,
        i64::from(f.top + f.h) + 2 * cell,
        xl,
        s,
        black,
        false,
    );
    let yl = "Latitude";
    draw_text_up(
        &mut img,
        cell / 2,
        i64::from(f.top + f.h / 2) + i64::from(text_width(yl, s)) / 2,
        yl,
        s,
        black,
    );
    let ts = s + 1;
    let tw = i64::from(text_width(&spec.title, ts));
    draw_text(
        &mut img,
        (i64::from(width) - tw).max(0) / 2,
        cell,
        &spec.title,
        ts,
        black,
        true,
    );
    draw_boxes(&mut img, &f, spec, s);
    Ok((img, f))
}

/// The statistics box (left, vertically centred) and the legend (lower left).
fn draw_boxes(img: &mut Pixmap, f: &Frame, spec: &MapSpec, s: u32) {
    let cell = i64::from(CELL * s);
    let pad = cell / 2;
    let black = [0, 0, 0];
    let (l, t) = (i64::from(f.left), i64::from(f.top));
    let bx = |img: &mut Pixmap, x: i64, y: i64, w: i64, h: i64| {
        if let Some(r) = Rect::from_xywh(x as f32, y as f32, w as f32, h as f32) {
            img.fill_rect(r, &paint([255, 255, 255], 0.8), Transform::identity(), None);
            let p = PathBuilder::from_rect(r);
            img.stroke_path(
                &p,
                &paint([128, 128, 128], 1.0),
                &Stroke::default(),
                Transform::identity(),
                None,
            );
        }
    };
    if !spec.stats.is_empty() {
        let w = spec
            .stats
            .iter()
            .map(|x| i64::from(text_width(x, s)))
            .max()
            .unwrap_or(0)
            + 2 * pad;
        let line = cell + cell / 4;
        let h = line * spec.stats.len() as i64 + 2 * pad;
        let x = l + i64::from(f.w) / 50;
        let y = t + i64::from(f.h) / 2 - h / 2;
        bx(img, x, y, w, h);
        for (i, text) in spec.stats.iter().enumerate() {
            draw_text(
                img,
                x + pad,
                y + pad + i as i64 * line,
                text,
                s,
                black,
                false,
            );
        }
    }
    if !spec.legend.is_empty() {
        let line = cell + cell / 2;
        let patch = 2 * cell;
        let w = spec
            .legend
            .iter()
            .map(|i| i64::from(text_width(&i.label, s)))
            .max()
            .unwrap_or(0)
            + patch
            + 3 * pad;
        let h = line * spec.legend.len() as i64 + 2 * pad;
        let x = l + pad;
        let y = t + i64::from(f.h) - h - pad;
        bx(img, x, y, w, h);
        for (i, item) in spec.legend.iter().enumerate() {
            let ry = y + pad + i as i64 * line;
            if let Some(r) = Rect::from_xywh(
                (x + pad) as f32,
                (ry + cell / 8) as f32,
                patch as f32,
                (cell - cell / 4) as f32,
            ) {
                if item.outline {
                    let p = PathBuilder::from_rect(r);
                    img.stroke_path(
                        &p,
                        &paint(item.color, 1.0),
                        &Stroke::default(),
                        Transform::identity(),
                        None,
                    );
                } else {
                    img.fill_rect(
                        r,
                        &paint(item.color, item.alpha),
                        Transform::identity(),
                        None,
                    );
                }
            }
            draw_text(img, x + 2 * pad + patch, ry, &item.label, s, black, false);
        }
    }
}

/// Renders the map as PNG bytes (RGB, 8-bit).
pub fn render_map(spec: &MapSpec, tiles: &[MapTile]) -> Result<Vec<u8>, PictureError> {
    let (img, _) = render_pixels(spec, tiles)?;
    let (w, h) = (img.width(), img.height());
    let rgba = img.take();
    let mut rgb = Vec::with_capacity(rgba.len() / 4 * 3);
    for px in rgba.chunks_exact(4) {
        rgb.extend_from_slice(&px[..3]);
    }
    super::encode_png(w, h, png::ColorType::Rgb, &rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(region: Option<[f64; 4]>) -> MapSpec {
        MapSpec {
            width: 1000,
            region,
            title: "Tessera Embedding Coverage - Year 2024".into(),
            stats: vec!["Total tiles: 1".into()],
            legend: vec![LegendItem {
                color: [255, 0, 0],
                alpha: 0.6,
                outline: false,
                label: "Available tiles".into(),
            }],
            palette: vec![[255, 0, 0]],
            tile_alpha: 1.0,
            tile_size: 1.0,
            show_land: true,
            outline: vec![],
        }
    }

    #[test]
    fn sizes_follow_the_reference() {
        assert_eq!(map_height(2000, None), 1000);
        assert_eq!(map_height(1000, Some([0.0, 50.0, 2.0, 51.0])), 500);
        assert_eq!(
            view_of(Some([0.0, 50.0, 2.0, 51.0])),
            [-0.1, 49.95, 2.1, 51.05]
        );
    }

    #[test]
    fn tiles_and_land_land_where_they_belong() {
        // A region around Cambridge: one opaque red tile, land elsewhere, ocean white.
        let s = spec(Some([-1.0, 51.0, 1.0, 53.0]));
        let tiles = [MapTile {
            lon_i: 15,
            lat_i: 5215,
            color: 0,
        }];
        let (img, f) = render_pixels(&s, &tiles).unwrap();
        let px = |lon: f64, lat: f64| {
            let (x, y) = f.image_pixel(lon, lat).unwrap();
            let c = img.pixel(x, y).unwrap();
            [c.red(), c.green(), c.blue()]
        };
        assert_eq!(px(0.15, 52.15), [255, 0, 0]);
        // Inland England (no tile): land grey.
        assert_eq!(px(-0.7, 52.3), LIGHTGRAY);
        // The North Sea: white.
        assert_eq!(px(0.8, 53.05), [255, 255, 255]);
    }

    #[test]
    fn a_bad_width_is_the_users_mistake() {
        let mut s = spec(None);
        s.width = 5;
        assert!(matches!(render_map(&s, &[]), Err(PictureError::Usage(_))));
    }
}
