//! The per-year files `coverage_{id}_{YYYY}.json`: a JSON array of `"lon,lat"` strings
//! (`%.2f,%.2f`) sorted as strings, written without a heap allocation per tile.

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tessera_core::TileId;

use super::{GRID_COLS, GRID_ROWS, YearGrid, tile_of, write_bytes};
use crate::PictureError;

/// The longest key: `-179.95,-89.95` (14 bytes); keys are zero-padded to this width, and a
/// zero byte sorts before every character, so padded keys sort as the strings do.
const KEY_LEN: usize = 16;

/// A key `%.2f` of `k / 100` without going through floats (the centre keys are exact).
fn push_coord(out: &mut [u8; KEY_LEN], at: &mut usize, k: i32) {
    if k < 0 {
        out[*at] = b'-';
        *at += 1;
    }
    let a = k.unsigned_abs();
    let int = a / 100;
    let frac = a % 100;
    let mut digits = [0u8; 4];
    let mut n = 0;
    let mut v = int;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out[*at] = digits[i];
        *at += 1;
    }
    out[*at] = b'.';
    out[*at + 1] = b'0' + (frac / 10) as u8;
    out[*at + 2] = b'0' + (frac % 10) as u8;
    *at += 3;
}

/// The reference's tile key `f"{lon:.2f},{lat:.2f}"`, zero-padded, and its length.
pub fn tile_key(t: TileId) -> ([u8; KEY_LEN], usize) {
    let mut k = [0u8; KEY_LEN];
    let mut at = 0;
    push_coord(&mut k, &mut at, t.lon_i());
    k[at] = b',';
    at += 1;
    push_coord(&mut k, &mut at, t.lat_i());
    (k, at)
}

/// Writes `{prefix}{YYYY}.json` for every year of `grid` into `dir`, years in parallel.
pub fn write_year_files(
    dir: &Path,
    prefix: &str,
    grid: &YearGrid,
) -> Result<Vec<PathBuf>, PictureError> {
    let masks = grid.masks();
    grid.years
        .par_iter()
        .enumerate()
        .map(|(i, year)| {
            let bit = 1u64 << i;
            let mut keys: Vec<[u8; KEY_LEN]> = (0..GRID_COLS * GRID_ROWS)
                .into_par_iter()
                .filter(|c| masks[*c] & bit != 0)
                .map(|c| tile_key(tile_of(c)).0)
                .collect();
            keys.par_sort_unstable();
            let mut out = Vec::with_capacity(keys.len() * 16 + 2);
            out.push(b'[');
            for (j, k) in keys.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                let len = k.iter().position(|b| *b == 0).unwrap_or(KEY_LEN);
                out.push(b'"');
                out.extend_from_slice(&k[..len]);
                out.push(b'"');
            }
            out.push(b']');
            let path = dir.join(format!("{prefix}{year}.json"));
            write_bytes(&path, &out)?;
            Ok(path)
        })
        .collect()
}

/// Writes a key for tests and messages.
#[allow(dead_code)]
fn key_string(t: TileId) -> String {
    let (k, n) = tile_key(t);
    let mut s = Vec::new();
    let _ = s.write_all(&k[..n]);
    String::from_utf8_lossy(&s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_python_formatting() {
        for (lon_i, lat_i) in [
            (15, 5205),
            (-5, -5),
            (-17995, -8995),
            (18005, 9005),
            (5, 95),
        ] {
            let t = TileId::from_keys(lon_i, lat_i).unwrap();
            let want = format!(
                "{:.2},{:.2}",
                f64::from(lon_i) / 100.0,
                f64::from(lat_i) / 100.0
            );
            assert_eq!(key_string(t), want);
        }
    }

    #[test]
    fn year_files_are_sorted_as_strings() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<(i32, TileId)> = [(-5, 5205), (15, 5205), (105, 5205), (-105, -5)]
            .iter()
            .map(|&(a, b)| (2024, TileId::from_keys(a, b).unwrap()))
            .collect();
        let g = YearGrid::build(&rows).unwrap();
        let files = write_year_files(dir.path(), "coverage_x_", &g).unwrap();
        assert_eq!(files.len(), 1);
        let v: Vec<String> = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
        let mut want: Vec<String> = rows.iter().map(|r| key_string(r.1)).collect();
        want.sort();
        assert_eq!(v, want);
        assert_eq!(v[0], "-0.05,52.05");
    }
}
