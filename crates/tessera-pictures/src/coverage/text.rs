//! Text on the coverage map: the public-domain 8x8 bitmap font of the `font8x8` crate,
//! scaled by whole pixels (no font file, no shaping: the map's labels are ASCII).

use tiny_skia::Pixmap;

/// Glyph cell size in font pixels.
pub const CELL: u32 = 8;

fn glyph(c: char) -> [u8; 8] {
    let c = match c {
        '\u{2013}' | '\u{2014}' => '-',
        c if c.is_ascii() => c,
        _ => '?',
    };
    font8x8::legacy::BASIC_LEGACY[c as usize]
}

/// Width in pixels of `s` at `scale`.
pub fn text_width(s: &str, scale: u32) -> u32 {
    s.chars().count() as u32 * CELL * scale
}

fn put(pix: &mut Pixmap, x: i64, y: i64, color: [u8; 3]) {
    let (w, h) = (i64::from(pix.width()), i64::from(pix.height()));
    if x < 0 || y < 0 || x >= w || y >= h {
        return;
    }
    let i = ((y * w + x) * 4) as usize;
    let d = pix.data_mut();
    d[i..i + 4].copy_from_slice(&[color[0], color[1], color[2], 255]);
}

/// Draws `s` with its top-left corner at (x, y); `bold` doubles each stroke sideways.
pub fn draw_text(
    pix: &mut Pixmap,
    x: i64,
    y: i64,
    s: &str,
    scale: u32,
    color: [u8; 3],
    bold: bool,
) {
    let sc = i64::from(scale);
    for (k, c) in s.chars().enumerate() {
        let g = glyph(c);
        let x0 = x + k as i64 * i64::from(CELL) * sc;
        for (gy, bits) in g.iter().enumerate() {
            for gx in 0..8 {
                if bits & (1 << gx) == 0 {
                    continue;
                }
                for dy in 0..sc {
                    for dx in 0..sc + i64::from(bold) {
                        put(pix, x0 + gx * sc + dx, y + gy as i64 * sc + dy, color);
                    }
                }
            }
        }
    }
}

/// Draws `s` rotated a quarter turn anticlockwise (reading bottom to top), with the
/// bottom-left corner of its first glyph at (x, y).
pub fn draw_text_up(pix: &mut Pixmap, x: i64, y: i64, s: &str, scale: u32, color: [u8; 3]) {
    let sc = i64::from(scale);
    for (k, c) in s.chars().enumerate() {
        let g = glyph(c);
        let y0 = y - k as i64 * i64::from(CELL) * sc;
        for (gy, bits) in g.iter().enumerate() {
            for gx in 0..8 {
                if bits & (1 << gx) == 0 {
                    continue;
                }
                for dy in 0..sc {
                    for dx in 0..sc {
                        put(pix, x + gy as i64 * sc + dx, y0 - gx * sc - dy, color);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_marks_pixels_only_inside_its_box() {
        let mut p = Pixmap::new(100, 30).unwrap();
        p.fill(tiny_skia::Color::WHITE);
        draw_text(&mut p, 2, 3, "Hi", 2, [0, 0, 0], false);
        let dark: Vec<(u32, u32)> = (0..30)
            .flat_map(|y| (0..100).map(move |x| (x, y)))
            .filter(|&(x, y)| p.pixel(x, y).is_some_and(|c| c.red() == 0))
            .collect();
        assert!(dark.len() > 20);
        assert!(
            dark.iter()
                .all(|&(x, y)| (2..2 + 32).contains(&x) && (3..3 + 16).contains(&y))
        );
        assert_eq!(text_width("Hi", 2), 32);
    }
}
