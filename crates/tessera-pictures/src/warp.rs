//! Resampling kernels, as GDAL's warper applies them (gdalwarpkernel.cpp), on a window of
//! a source raster held in memory: pixel-interleaved float32, NaN where there is no data.
//! A pixel with no data (NaN in its first band; TESSERA pixels are valid or invalid as a
//! whole) takes no part in an interpolation.

use std::str::FromStr;

/// How a target pixel takes its value from the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resampling {
    /// The source pixel containing the target pixel's centre.
    Nearest,
    /// Bilinear on the dequantised values, over the valid neighbours only (weights
    /// renormalised, as GDAL does with a nodata mask).
    Bilinear,
}

impl FromStr for Resampling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "nearest" | "near" => Ok(Resampling::Nearest),
            "bilinear" => Ok(Resampling::Bilinear),
            other => Err(format!(
                "resampling {other:?} is not supported: use nearest or bilinear"
            )),
        }
    }
}

/// Rows `r0..r0 + rows` and columns `c0..c0 + width` of a source raster in memory.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// First source row held.
    pub r0: usize,
    /// Rows held.
    pub rows: usize,
    /// First source column held.
    pub c0: usize,
    /// Columns held.
    pub width: usize,
    /// Bands per pixel.
    pub bands: usize,
    /// `rows x width x bands` values.
    pub data: &'a [f32],
}

impl Window<'_> {
    fn pixel(&self, row: i64, col: i64) -> Option<&[f32]> {
        if col < self.c0 as i64 || row < self.r0 as i64 {
            return None;
        }
        let (r, c) = (
            (row - self.r0 as i64) as usize,
            (col - self.c0 as i64) as usize,
        );
        if r >= self.rows || c >= self.width {
            return None;
        }
        let at = (r * self.width + c) * self.bands;
        let p = &self.data[at..at + self.bands];
        (!p[0].is_nan()).then_some(p)
    }
}

/// Below this scale (target pixel over source pixel, per axis) GDAL's bilinear widens its
/// kernel; at or above it uses the four-neighbour formula.
const FOUR_SAMPLE_SCALE: f64 = 0.95;

/// Samples the source at pixel coordinates (`u`, `v`) (column, row; the source's
/// top-left corner is 0, 0) into `out`; false when there is no valid value there.
/// `scale` is (target pixel / source pixel) per axis, for bilinear only.
pub fn sample(
    win: &Window,
    how: Resampling,
    u: f64,
    v: f64,
    scale: (f64, f64),
    out: &mut [f32],
) -> bool {
    match how {
        Resampling::Nearest => {
            // GDAL's nearest adds 1e-10 before flooring.
            let (c, r) = ((u + 1e-10).floor(), (v + 1e-10).floor());
            match win.pixel(r as i64, c as i64) {
                Some(p) => {
                    out.copy_from_slice(p);
                    true
                }
                None => false,
            }
        }
        Resampling::Bilinear if scale.0 >= FOUR_SAMPLE_SCALE && scale.1 >= FOUR_SAMPLE_SCALE => {
            bilinear4(win, u, v, out)
        }
        Resampling::Bilinear => bilinear_wide(win, u, v, scale, out),
    }
}

/// GDAL's `GWKBilinearResample4Sample`: the four neighbours of (u - 0.5, v - 0.5), each
/// weighted by its overlap; missing or invalid ones drop out and the rest are
/// renormalised; no value when the remaining weight is below 1e-5.
fn bilinear4(win: &Window, u: f64, v: f64, out: &mut [f32]) -> bool {
    let c = (u - 0.5).floor();
    let r = (v - 0.5).floor();
    let rx = 1.5 - (u - c);
    let ry = 1.5 - (v - r);
    let (c, r) = (c as i64, r as i64);
    let taps = [
        (r, c, rx * ry),
        (r, c + 1, (1.0 - rx) * ry),
        (r + 1, c, rx * (1.0 - ry)),
        (r + 1, c + 1, (1.0 - rx) * (1.0 - ry)),
    ];
    accumulate(win, &taps, out)
}

/// GDAL's general bilinear kernel when the target is coarser than the source: the
/// triangle `1 - |d| * scale` over `ceil(1 / scale)` neighbours on each side per axis.
fn bilinear_wide(win: &Window, u: f64, v: f64, scale: (f64, f64), out: &mut [f32]) -> bool {
    let axis = |x: f64, s: f64| -> Vec<(i64, f64)> {
        let s = s.clamp(1e-6, 1.0);
        let x = x - 0.5;
        let i = x.floor();
        let d = x - i;
        let r = (1.0 / s).ceil() as i64;
        (-r + 1..=r)
            .filter_map(|k| {
                let w = 1.0 - ((k as f64 - d).abs() * s);
                (w > 0.0).then_some((i as i64 + k, w))
            })
            .collect()
    };
    let xs = axis(u, scale.0);
    let ys = axis(v, scale.1);
    let mut taps = Vec::with_capacity(xs.len() * ys.len());
    for &(r, wy) in &ys {
        for &(c, wx) in &xs {
            taps.push((r, c, wx * wy));
        }
    }
    accumulate(win, &taps, out)
}

fn accumulate(win: &Window, taps: &[(i64, i64, f64)], out: &mut [f32]) -> bool {
    let mut acc = [0f64; 256];
    let bands = out.len();
    let mut wide;
    let acc: &mut [f64] = if bands <= acc.len() {
        &mut acc[..bands]
    } else {
        wide = vec![0f64; bands];
        &mut wide
    };
    let mut div = 0.0;
    for &(r, c, w) in taps {
        if w == 0.0 {
            continue;
        }
        if let Some(p) = win.pixel(r, c) {
            div += w;
            for (a, &x) in acc.iter_mut().zip(p) {
                *a += f64::from(x) * w;
            }
        }
    }
    if div < 1e-5 {
        return false;
    }
    for (o, &a) in out.iter_mut().zip(acc.iter()) {
        *o = if div == 1.0 {
            a as f32
        } else {
            (a / div) as f32
        };
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(data: &[f32], width: usize) -> Window<'_> {
        Window {
            r0: 0,
            rows: data.len() / width,
            c0: 0,
            width,
            bands: 1,
            data,
        }
    }

    #[test]
    fn nearest_takes_the_containing_pixel() {
        let d = [1.0, 2.0, 3.0, 4.0];
        let w = win(&d, 2);
        let mut o = [0f32];
        assert!(sample(
            &w,
            Resampling::Nearest,
            1.5,
            0.5,
            (1.0, 1.0),
            &mut o
        ));
        assert_eq!(o[0], 2.0);
        // 1e-10 below an edge counts as the next pixel, as in GDAL.
        assert!(sample(
            &w,
            Resampling::Nearest,
            1.0 - 1e-11,
            1.2,
            (1.0, 1.0),
            &mut o
        ));
        assert_eq!(o[0], 4.0);
        assert!(!sample(
            &w,
            Resampling::Nearest,
            2.0,
            0.5,
            (1.0, 1.0),
            &mut o
        ));
    }

    #[test]
    fn bilinear_interpolates_and_skips_missing_neighbours() {
        let d = [0.0, 10.0, 20.0, 30.0];
        let w = win(&d, 2);
        let mut o = [0f32];
        // The centre of the 2x2 block: the mean.
        assert!(sample(
            &w,
            Resampling::Bilinear,
            1.0,
            1.0,
            (1.0, 1.0),
            &mut o
        ));
        assert_eq!(o[0], 15.0);
        // A pixel centre: its own value.
        assert!(sample(
            &w,
            Resampling::Bilinear,
            0.5,
            0.5,
            (1.0, 1.0),
            &mut o
        ));
        assert_eq!(o[0], 0.0);
        // A NaN neighbour drops out; the rest are renormalised.
        let d = [0.0, f32::NAN, 20.0, 30.0];
        let w = win(&d, 2);
        assert!(sample(
            &w,
            Resampling::Bilinear,
            1.0,
            1.0,
            (1.0, 1.0),
            &mut o
        ));
        assert!((o[0] - 50.0 / 3.0).abs() < 1e-5, "{}", o[0]);
        // Outside the raster by more than half a pixel: no value.
        assert!(!sample(
            &w,
            Resampling::Bilinear,
            -0.6,
            -0.6,
            (1.0, 1.0),
            &mut o
        ));
        // A coarser target averages over more neighbours.
        let d: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let w = win(&d, 4);
        assert!(sample(
            &w,
            Resampling::Bilinear,
            2.0,
            2.0,
            (0.5, 0.5),
            &mut o
        ));
        assert!((o[0] - 7.5).abs() < 1e-5, "{}", o[0]);
        assert_eq!("near".parse::<Resampling>(), Ok(Resampling::Nearest));
        assert!("cubic".parse::<Resampling>().is_err());
    }
}
