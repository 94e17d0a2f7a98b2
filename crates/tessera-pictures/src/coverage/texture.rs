//! `coverage_texture_{id}.png`: 3600x1800 RGBA, one pixel per tile, coloured exactly as the
//! reference's `generate_coverage_texture` does (the globe treats alpha > 0 as land).

use rayon::prelude::*;

use super::{GRID_COLS, YearGrid};

/// Texture width (one pixel per 0.1 degree of longitude).
pub const WIDTH: usize = 3600;
/// Texture height.
pub const HEIGHT: usize = 1800;

/// The texture pixel of a tile centre key, as the reference computes it from the
/// `"%.2f"` key: `col = rint((lon + 179.95) * 10)`, `row = rint((89.95 - lat) * 10)`;
/// `None` outside the texture.
pub fn pixel_of(lon_i: i32, lat_i: i32) -> Option<(usize, usize)> {
    let lon = f64::from(lon_i) / 100.0;
    let lat = f64::from(lat_i) / 100.0;
    let col = ((lon + 179.95) * 10.0).round_ties_even();
    let row = ((89.95 - lat) * 10.0).round_ties_even();
    ((0.0..WIDTH as f64).contains(&col) && (0.0..HEIGHT as f64).contains(&row))
        .then_some((col as usize, row as usize))
}

/// The single-dataset colour of a tile with year mask `mask` among `n_years` years (bit
/// `n_years - 1` is the newest year); `land`: a landmask tile.
pub fn single_color(mask: u64, n_years: usize, land: bool) -> [u8; 4] {
    if mask != 0 {
        let n = mask.count_ones() as usize;
        let newest = 63 - mask.leading_zeros() as usize;
        if n == 1 {
            if newest + 1 == n_years {
                [255, 200, 0, 255]
            } else {
                [200, 100, 0, 255]
            }
        } else if n == n_years {
            [0, 200, 0, 255]
        } else {
            let ratio = n as f64 / n_years as f64;
            let blue = (100.0 + ratio * 155.0) as i64;
            let green = (ratio * 200.0) as i64;
            [0, green as u8, blue as u8, 255]
        }
    } else if land {
        [100, 100, 100, 76]
    } else {
        [0, 0, 0, 0]
    }
}

/// The multi-dataset colour of a tile present in `n` of `n_years` years, tinted `tint`:
/// NumPy's float arithmetic, truncated to uint8 as its assignment casts.
pub fn tinted_color(n: usize, n_years: usize, tint: [u8; 3]) -> [u8; 4] {
    let fraction = if n_years <= 1 {
        1.0
    } else {
        0.5 + 0.5 * (n as f64 - 1.0) / (n_years as f64 - 1.0)
    };
    let c = |t: u8| (f64::from(t) * fraction + 255.0 * (1.0 - fraction)) as u8;
    let alpha = 140.0 + (60 * n) as f64 / n_years.max(1) as f64;
    [c(tint[0]), c(tint[1]), c(tint[2]), alpha as u8]
}

/// The texture's RGBA bytes (rows north first).
pub fn texture_pixels(grid: &YearGrid, land: &[bool], tint: Option<[u8; 3]>) -> Vec<u8> {
    let n_years = grid.years.len();
    let masks = grid.masks();
    let mut out = vec![0u8; WIDTH * HEIGHT * 4];
    out.par_chunks_mut(WIDTH * 4)
        .enumerate()
        .for_each(|(row, line)| {
            // Texture row r holds latitude key 8995 - 10 r: grid row r + 1; column c holds
            // longitude key 10 c - 17995: grid column c + 1 (see `pixel_of`).
            let base = (row + 1) * GRID_COLS + 1;
            for col in 0..WIDTH {
                let cell = base + col;
                let m = masks[cell];
                let px = match tint {
                    None => single_color(m, n_years, land[cell]),
                    Some(t) if m != 0 => tinted_color(m.count_ones() as usize, n_years, t),
                    Some(_) => continue,
                };
                line[col * 4..col * 4 + 4].copy_from_slice(&px);
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::super::{cell_of, tile_of};
    use super::*;
    use tessera_core::TileId;

    #[test]
    fn the_grid_layout_matches_the_references_pixel_formula_everywhere() {
        for col in 0..WIDTH {
            let lon_i = col as i32 * 10 - 17995;
            assert_eq!(pixel_of(lon_i, 8995), Some((col, 0)));
            let t = tile_of(GRID_COLS + 1 + col);
            assert_eq!(t.lon_i(), lon_i);
        }
        for row in 0..HEIGHT {
            let lat_i = 8995 - row as i32 * 10;
            assert_eq!(pixel_of(-17995, lat_i), Some((0, row)));
            let t = TileId::from_keys(-17995, lat_i).unwrap();
            assert_eq!(cell_of(t), (row + 1) * GRID_COLS + 1);
        }
        assert_eq!(pixel_of(18005, 0), None);
        assert_eq!(pixel_of(-18005, 5), None);
    }

    #[test]
    fn single_dataset_colours_follow_the_reference_rules() {
        assert_eq!(single_color(0b1, 1, false), [255, 200, 0, 255]);
        assert_eq!(single_color(0b100, 3, false), [255, 200, 0, 255]);
        assert_eq!(single_color(0b001, 3, false), [200, 100, 0, 255]);
        assert_eq!(single_color(0b111, 3, false), [0, 200, 0, 255]);
        // 2 of 3: ratio 0.666..: blue int(203.33) = 203, green int(133.33) = 133.
        assert_eq!(single_color(0b011, 3, false), [0, 133, 203, 255]);
        assert_eq!(single_color(0, 3, true), [100, 100, 100, 76]);
        assert_eq!(single_color(0, 3, false), [0, 0, 0, 0]);
    }

    #[test]
    fn tinted_colours_fade_with_fewer_years() {
        assert_eq!(tinted_color(1, 1, [31, 119, 180]), [31, 119, 180, 200]);
        // 1 of 3: fraction 0.5 -> (31 + 255) / 2 = 143, alpha 140 + 20 = 160.
        assert_eq!(tinted_color(1, 3, [31, 119, 180]), [143, 187, 217, 160]);
        assert_eq!(tinted_color(3, 3, [31, 119, 180]), [31, 119, 180, 200]);
    }
}
