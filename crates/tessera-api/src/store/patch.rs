//! Fixed-size patches around a point (the reference's `read_patch`): sliced from the
//! native grid of the point's zone, or, when the patch reaches into other zones, merged
//! from every zone onto a transverse Mercator grid centred on the point with nearest
//! neighbour relocation (each pixel from the zone owning its longitude, the others
//! filling its gaps).

use rayon::prelude::*;
use tessera_client::{ClientError, Result};
use tessera_core::tm::TransverseMercator;
use tessera_core::{Affine, Crs, utm_zone};

use super::Store;
use super::region::{Raster, Window, crs_name};
use crate::Progress;

/// Most pixels on a side of a patch.
pub const MAX_PATCH_PX: usize = 1 << 15;

/// The contiguous run of zones covering `lons`, walked the short way round the ring
/// (a patch on the antimeridian gets `[60, 1]`).
fn zones_spanned(lons: &[f64], centre: f64) -> Vec<u8> {
    let zc = i32::from(utm_zone(centre));
    let offset = |z: i32| {
        let d = (z - zc).rem_euclid(60);
        if d > 30 { d - 60 } else { d }
    };
    let offs: Vec<i32> = lons
        .iter()
        .map(|&l| offset(i32::from(utm_zone(l))))
        .collect();
    let (lo, hi) = (
        offs.iter().copied().min().unwrap_or(0),
        offs.iter().copied().max().unwrap_or(0),
    );
    (lo..=hi)
        .map(|o| ((zc - 1 + o).rem_euclid(60) + 1) as u8)
        .collect()
}

/// `lon` as the reference writes it into the patch CRS (8 decimals).
fn lon0(lon: f64) -> f64 {
    format!("{lon:.8}").parse().unwrap_or(lon)
}

/// The WKT of the patch CRS, as pyproj writes the reference's.
fn patch_wkt(lon: f64, lat: f64) -> String {
    let deg = "ANGLEUNIT[\"degree\",0.0174532925199433]";
    let m = "LENGTHUNIT[\"metre\",1]";
    format!(
        "PROJCRS[\"Tessera patch Transverse Mercator lon_0={lon:.4}\",BASEGEOGCRS[\"unknown\",DATUM[\"World Geodetic System 1984\",ELLIPSOID[\"WGS 84\",6378137,298.257223563,{m}],ID[\"EPSG\",6326]],PRIMEM[\"Greenwich\",0,{deg},ID[\"EPSG\",8901]]],CONVERSION[\"unknown\",METHOD[\"Transverse Mercator\",ID[\"EPSG\",9807]],PARAMETER[\"Latitude of natural origin\",0,{deg},ID[\"EPSG\",8801]],PARAMETER[\"Longitude of natural origin\",{},{deg},ID[\"EPSG\",8802]],PARAMETER[\"Scale factor at natural origin\",0.9996,SCALEUNIT[\"unity\",1],ID[\"EPSG\",8805]],PARAMETER[\"False easting\",500000,{m},ID[\"EPSG\",8806]],PARAMETER[\"False northing\",{},{m},ID[\"EPSG\",8807]]],CS[Cartesian,2],AXIS[\"(E)\",east,ORDER[1],LENGTHUNIT[\"metre\",1,ID[\"EPSG\",9001]]],AXIS[\"(N)\",north,ORDER[2],LENGTHUNIT[\"metre\",1,ID[\"EPSG\",9001]]]]",
        lon0(lon),
        if lat >= 0.0 { 0 } else { 10_000_000 }
    )
}

/// The projected grid a patch is laid on when the caller names one (`dst_crs`): any
/// UTM zone or Web Mercator by EPSG code, or a transverse Mercator on WGS84 (a PROJ
/// string or WKT, such as the CRS of an earlier merged patch).
#[derive(Debug, Clone)]
pub struct PatchCrs {
    kind: Target,
    /// The CRS as the caller wrote it, returned with the patch.
    pub text: String,
}

#[derive(Debug, Clone)]
enum Target {
    Crs(Crs),
    Tm(TransverseMercator),
}

impl Target {
    fn forward(&self, lon: f64, lat: f64) -> (f64, f64) {
        match self {
            Target::Crs(c) => c.forward(lon, lat),
            Target::Tm(t) => t.forward(lon, lat),
        }
    }
    fn inverse(&self, x: f64, y: f64) -> (f64, f64) {
        match self {
            Target::Crs(c) => c.inverse(x, y),
            Target::Tm(t) => t.inverse(x, y),
        }
    }
}

fn not_metric(s: &str) -> ClientError {
    ClientError::Usage(format!(
        "dst_crs must be a projected CRS with metre units, got {s:?}"
    ))
}

fn unsupported(s: &str) -> ClientError {
    ClientError::Usage(format!(
        "dst_crs {s:?} is not supported: give a UTM zone (EPSG:326NN or EPSG:327NN), Web \
         Mercator (EPSG:3857) or a transverse Mercator on WGS84 (PROJ string or WKT)"
    ))
}

/// The numeric value of WKT `PARAMETER["<one of names>", value` (case-insensitive).
fn wkt_param(wkt: &str, names: &[&str]) -> Option<f64> {
    let low = wkt.to_ascii_lowercase();
    names.iter().find_map(|n| {
        let key = format!("parameter[\"{}\",", n.to_ascii_lowercase());
        let at = low.find(&key)? + key.len();
        let rest = &wkt[at..];
        let end = rest.find([',', ']'])?;
        rest[..end].trim().parse().ok()
    })
}

impl PatchCrs {
    /// Parses `EPSG:NNNN`, a PROJ string (`+proj=utm`, `+proj=tmerc`) or a WKT transverse
    /// Mercator. Geographic or non-metre CRSs and other projections are the caller's
    /// mistake (`Usage`), with what is supported.
    pub fn parse(s: &str) -> Result<PatchCrs> {
        let t = s.trim();
        let low = t.to_ascii_lowercase();
        let kind = if let Some(code) = low.strip_prefix("epsg:") {
            let code: u32 = code.trim().parse().map_err(|_| unsupported(s))?;
            match Crs::from_epsg(code) {
                Ok(Crs::Wgs84) => return Err(not_metric(s)),
                Ok(c) => Target::Crs(c),
                Err(_) if code == 4326 || (4000..5000).contains(&code) => {
                    return Err(not_metric(s));
                }
                Err(_) => return Err(unsupported(s)),
            }
        } else if low.starts_with('+') || low.contains("+proj=") {
            let kv: std::collections::HashMap<&str, &str> = low
                .split_whitespace()
                .map(|w| {
                    let w = w.trim_start_matches('+');
                    w.split_once('=').unwrap_or((w, ""))
                })
                .collect();
            let num = |k: &str, d: f64| -> Result<f64> {
                kv.get(k)
                    .map_or(Ok(d), |v| v.parse().map_err(|_| unsupported(s)))
            };
            if let Some(u) = kv.get("units")
                && *u != "m"
            {
                return Err(not_metric(s));
            }
            for (k, ok) in [("ellps", "wgs84"), ("datum", "wgs84")] {
                if kv.get(k).is_some_and(|v| *v != ok) {
                    return Err(unsupported(s));
                }
            }
            match kv.get("proj").copied() {
                Some("longlat") | Some("latlong") | Some("lonlat") | Some("latlon") => {
                    return Err(not_metric(s));
                }
                Some("utm") => {
                    let zone = num("zone", f64::NAN)?;
                    if !(1.0..=60.0).contains(&zone) || zone.fract() != 0.0 {
                        return Err(unsupported(s));
                    }
                    let south = kv.contains_key("south");
                    Target::Tm(TransverseMercator::utm(
                        zone as u8,
                        if south { 10_000_000.0 } else { 0.0 },
                    ))
                }
                Some("tmerc") => {
                    if num("lat_0", 0.0)? != 0.0 {
                        return Err(unsupported(s));
                    }
                    Target::Tm(TransverseMercator {
                        lon0: num("lon_0", 0.0)?,
                        k0: num("k_0", num("k", 1.0)?)?,
                        false_easting: num("x_0", 0.0)?,
                        false_northing: num("y_0", 0.0)?,
                    })
                }
                Some("merc")
                    if kv.get("a") == Some(&"6378137") && kv.get("b") == Some(&"6378137") =>
                {
                    Target::Crs(Crs::WebMercator)
                }
                _ => return Err(unsupported(s)),
            }
        } else if low.starts_with("projcrs[") || low.starts_with("projcs[") {
            if !low.contains("transverse mercator") && !low.contains("transverse_mercator") {
                return Err(unsupported(s));
            }
            if !low.contains("6378137") || !low.contains("298.257223563") {
                return Err(unsupported(s));
            }
            let p = |n: &[&str], d: f64| wkt_param(t, n).unwrap_or(d);
            if p(&["Latitude of natural origin", "latitude_of_origin"], 0.0) != 0.0 {
                return Err(unsupported(s));
            }
            Target::Tm(TransverseMercator {
                lon0: p(&["Longitude of natural origin", "central_meridian"], 0.0),
                k0: p(&["Scale factor at natural origin", "scale_factor"], 1.0),
                false_easting: p(&["False easting", "false_easting"], 0.0),
                false_northing: p(&["False northing", "false_northing"], 0.0),
            })
        } else if low.starts_with("geogcs[") || low.starts_with("geogcrs[") {
            return Err(not_metric(s));
        } else {
            return Err(unsupported(s));
        };
        Ok(PatchCrs {
            kind,
            text: s.to_string(),
        })
    }
}

impl Store {
    /// Exactly `size_px x size_px` pixels around (lon, lat) with the point at
    /// `[size_px / 2, size_px / 2]`, NaN where the store holds nothing. Within one zone
    /// the patch is sliced from its native grid (CRS `"EPSG:326NN"`); across zones it is
    /// merged onto a transverse Mercator grid centred on the point (CRS as WKT).
    pub fn read_patch(
        &self,
        lon: f64,
        lat: f64,
        year: i32,
        size_px: usize,
        depth: Option<usize>,
        progress: &Progress,
    ) -> Result<Raster> {
        self.read_patch_in(lon, lat, year, size_px, depth, None, progress)
    }

    /// [`Store::read_patch`] laid on `dst` when given: the merge path, even within one
    /// zone, onto a grid of 10 m pixels in `dst` with the point on the centre of pixel
    /// `[size_px / 2, size_px / 2]`; the patch's CRS is `dst` as the caller wrote it.
    #[allow(clippy::too_many_arguments)]
    pub fn read_patch_in(
        &self,
        lon: f64,
        lat: f64,
        year: i32,
        size_px: usize,
        depth: Option<usize>,
        dst: Option<&PatchCrs>,
        progress: &Progress,
    ) -> Result<Raster> {
        if size_px == 0 || size_px > MAX_PATCH_PX {
            return Err(ClientError::Usage(format!(
                "size_px must be between 1 and {MAX_PATCH_PX}, got {size_px}"
            )));
        }
        if !lon.is_finite() || !lat.is_finite() || lat.abs() > 90.0 || lon.abs() > 180.0 {
            return Err(ClientError::Usage(format!(
                "({lon}, {lat}) is not a longitude, latitude pair"
            )));
        }
        let z = utm_zone(lon);
        let zone = self.inner.zone(z).ok_or_else(|| {
            ClientError::NoData(format!(
                "zone {z} of ({lon}, {lat}) is not in {} (it has zones {:?})",
                self.url(),
                self.zones()
            ))
        })?;
        let bands = zone.depth_array(depth)?.shape[1] as usize;
        let crs =
            Crs::from_epsg(zone.grid.epsg()).map_err(|e| ClientError::Format(e.to_string()))?;
        let (ce, cn) = crs.forward(lon, lat);
        let half = size_px as f64 * 10.0 / 2.0;
        let mut corners = Vec::new();
        for dx in [-half, half] {
            for dy in [-half, half] {
                corners.push(crs.inverse(ce + dx, cn + dy).0);
            }
        }
        let zones = zones_spanned(&corners, lon);
        progress.start_phase("reading", zones.len() as u64);
        let r = match dst {
            None if zones.len() == 1 => {
                self.native_patch(z, ce, cn, year, size_px, bands, depth, progress)
            }
            None => {
                let target = PatchCrs {
                    kind: Target::Tm(TransverseMercator {
                        lon0: lon0(lon),
                        k0: 0.9996,
                        false_easting: 500_000.0,
                        false_northing: if lat >= 0.0 { 0.0 } else { 10_000_000.0 },
                    }),
                    text: patch_wkt(lon, lat),
                };
                self.merged_patch(
                    &zones, &target, lon, lat, year, size_px, bands, depth, progress,
                )
            }
            Some(target) => self.merged_patch(
                &zones, target, lon, lat, year, size_px, bands, depth, progress,
            ),
        }?;
        let covered = (0..size_px * size_px)
            .filter(|&i| {
                r.data[i * bands..(i + 1) * bands]
                    .iter()
                    .any(|v| v.is_finite())
            })
            .count();
        if covered < size_px * size_px {
            progress.warn(format!(
                "read_patch: {:.1}% of the {size_px}x{size_px} patch has no coverage (NaN)",
                (1.0 - covered as f64 / (size_px * size_px) as f64) * 100.0
            ));
        }
        Ok(r)
    }

    #[allow(clippy::too_many_arguments)]
    fn native_patch(
        &self,
        z: u8,
        ce: f64,
        cn: f64,
        year: i32,
        size_px: usize,
        bands: usize,
        depth: Option<usize>,
        progress: &Progress,
    ) -> Result<Raster> {
        let g = self.inner.zone(z).expect("checked").grid;
        // The requested location is kept even beyond the grid (NaN there).
        let ix = ((ce - (g.origin_x + 5.0)) / 10.0 - 0.5).ceil() as i64;
        let iy = (((g.origin_y - 5.0) - cn) / 10.0 - 0.5).ceil() as i64;
        let (c0, r0) = (ix - (size_px / 2) as i64, iy - (size_px / 2) as i64);
        let size = size_px as i64;
        let clip = |a: i64, len: u64| (a.clamp(0, len as i64), (a + size).clamp(0, len as i64));
        let (rs, re) = clip(r0, g.height);
        let (cs, ce_) = clip(c0, g.width);
        let mut data = tessera_client::mem::filled(size_px * size_px * bands, f32::NAN);
        let window = Window {
            zone: z,
            row: rs as u64,
            col: cs as u64,
            height: (re - rs) as u64,
            width: (ce_ - cs) as u64,
        };
        if re > rs && ce_ > cs {
            let b = self.read_block(window, year, depth, progress)?;
            let mut v = Vec::new();
            b.dequantise(None, &mut v);
            let w = b.cols * bands;
            for (i, src) in v.chunks_exact(w).enumerate() {
                let row = (rs - r0) as usize + i;
                let at = (row * size_px + (cs - c0) as usize) * bands;
                data[at..at + w].copy_from_slice(src);
            }
        } else {
            // Entirely beyond the grid: the year is still checked, as a read would.
            let s = &self.inner;
            self.run(progress, async move { s.time_index(z, year).await })?;
        }
        progress.add_done(1);
        let t = Affine::north_up(
            g.origin_x + c0 as f64 * 10.0,
            g.origin_y - r0 as f64 * 10.0,
            10.0,
        );
        Ok(Raster {
            data,
            height: size_px,
            width: size_px,
            bands,
            transform: t.to_array(),
            crs: crs_name(z),
            window,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn merged_patch(
        &self,
        zones: &[u8],
        target: &PatchCrs,
        lon: f64,
        lat: f64,
        year: i32,
        size_px: usize,
        bands: usize,
        depth: Option<usize>,
        progress: &Progress,
    ) -> Result<Raster> {
        let tm = &target.kind;
        let n = size_px;
        let (ce, cn) = tm.forward(lon, lat);
        let ox = ce - ((n / 2) as f64 + 0.5) * 10.0;
        let oy = cn + ((n / 2) as f64 + 0.5) * 10.0;
        let side = n as f64 * 10.0;
        // Every pixel centre in lon/lat, and the zone owning it.
        let centres: Vec<(f64, f64)> = (0..n * n)
            .into_par_iter()
            .map(|i| {
                let (r, c) = (i / n, i % n);
                tm.inverse(ox + (c as f64 + 0.5) * 10.0, oy - (r as f64 + 0.5) * 10.0)
            })
            .collect();
        // The outline, densified: a straight edge curves in a zone's CRS.
        let steps: Vec<f64> = (0..33).map(|k| side * k as f64 / 32.0).collect();
        let outline: Vec<(f64, f64)> = steps
            .iter()
            .map(|&s| (ox + s, oy))
            .chain(steps.iter().map(|&s| (ox + s, oy - side)))
            .chain(steps.iter().map(|&s| (ox, oy - s)))
            .chain(steps.iter().map(|&s| (ox + side, oy - s)))
            .collect();
        let mut out = tessera_client::mem::filled(n * n * bands, f32::NAN);
        let mut owned = vec![false; n * n];
        let mut spare = tessera_client::mem::filled(n * n * bands, f32::NAN);
        let mut spared = vec![false; n * n];
        for &z in zones {
            progress.add_done(1);
            let Some(zone) = self.inner.zone(z) else {
                continue;
            };
            let g = zone.grid;
            let crs = Crs::from_epsg(g.epsg()).map_err(|e| ClientError::Format(e.to_string()))?;
            let pts: Vec<(f64, f64)> = outline
                .iter()
                .map(|&(x, y)| {
                    let (lo, la) = tm.inverse(x, y);
                    crs.forward(lo, la)
                })
                .collect();
            let fold = |f: fn(f64, f64) -> f64, init: f64, k: usize| {
                pts.iter()
                    .map(|p| if k == 0 { p.0 } else { p.1 })
                    .fold(init, f)
            };
            let pad = 20.0;
            let env = [
                fold(f64::min, f64::INFINITY, 0) - pad,
                fold(f64::min, f64::INFINITY, 1) - pad,
                fold(f64::max, f64::NEG_INFINITY, 0) + pad,
                fold(f64::max, f64::NEG_INFINITY, 1) + pad,
            ];
            let Some(rw) = self.inner.utm_window(z, env) else {
                continue;
            };
            let w: Window = rw.into();
            let block = self.read_block(w, year, depth, progress)?;
            let mut mosaic = Vec::new();
            block.dequantise(None, &mut mosaic);
            let (sx0, sy0) = (
                g.origin_x + w.col as f64 * 10.0,
                g.origin_y - w.row as f64 * 10.0,
            );
            let (sw, sh) = (w.width as i64, w.height as i64);
            // Nearest neighbour as GDAL's warper: the source pixel holding the
            // destination pixel's centre.
            let relocated: Vec<Option<usize>> = centres
                .par_iter()
                .map(|&(lo, la)| {
                    let (e, nn) = crs.forward(lo, la);
                    let col = ((e - sx0) / 10.0 + 1e-10).floor();
                    let row = ((sy0 - nn) / 10.0 + 1e-10).floor();
                    if !(col.is_finite() && row.is_finite()) {
                        return None;
                    }
                    let (col, row) = (col as i64, row as i64);
                    if col < 0 || row < 0 || col >= sw || row >= sh {
                        return None;
                    }
                    let at = (row * sw + col) as usize * bands;
                    mosaic[at..at + bands]
                        .iter()
                        .any(|v| v.is_finite())
                        .then_some(at)
                })
                .collect();
            for (i, src) in relocated.into_iter().enumerate() {
                let Some(at) = src else { continue };
                let px = &mosaic[at..at + bands];
                if utm_zone(centres[i].0) == z {
                    out[i * bands..(i + 1) * bands].copy_from_slice(px);
                    owned[i] = true;
                } else if !spared[i] {
                    spare[i * bands..(i + 1) * bands].copy_from_slice(px);
                    spared[i] = true;
                }
            }
        }
        for i in 0..n * n {
            if !owned[i] && spared[i] {
                out[i * bands..(i + 1) * bands].copy_from_slice(&spare[i * bands..(i + 1) * bands]);
            }
        }
        Ok(Raster {
            data: out,
            height: n,
            width: n,
            bands,
            transform: [10.0, 0.0, ox, 0.0, -10.0, oy],
            crs: target.text.clone(),
            window: Window {
                zone: utm_zone(lon),
                row: 0,
                col: 0,
                height: 0,
                width: 0,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_runs_go_the_short_way_round() {
        assert_eq!(zones_spanned(&[-0.01, 0.01], 0.0), vec![30, 31]);
        assert_eq!(zones_spanned(&[179.99, -179.99], 179.99), vec![60, 1]);
        assert_eq!(zones_spanned(&[3.0, 3.1], 3.0), vec![31]);
    }

    #[test]
    fn dst_crs_names_utm_web_mercator_and_transverse_mercators() {
        let fwd = |s: &str| PatchCrs::parse(s).unwrap().kind.forward(3.3, 51.2);
        let utm = fwd("EPSG:32631");
        assert_eq!(
            fwd("+proj=utm +zone=31 +datum=WGS84 +units=m +no_defs"),
            utm
        );
        assert_eq!(
            fwd("+proj=tmerc +lat_0=0 +lon_0=3 +k=0.9996 +x_0=500000 +y_0=0 +ellps=WGS84"),
            utm
        );
        // The CRS of an earlier merged patch reads back as the same projection.
        let w = patch_wkt(3.3, 51.2);
        let back = PatchCrs::parse(&w).unwrap();
        assert_eq!(back.text, w);
        let (x, y) = back.kind.forward(3.3, 51.2);
        assert!((x - 500_000.0).abs() < 1e-6 && y > 5.6e6, "{x} {y}");
        let (x, _) = fwd("epsg:3857");
        assert!((x - 367_354.8).abs() < 1.0, "{x}");
        let (lon, lat) = PatchCrs::parse("EPSG:3857").unwrap().kind.inverse(x, 0.0);
        assert!((lon - 3.3).abs() < 1e-9 && lat.abs() < 1e-9);
    }

    #[test]
    fn dst_crs_in_degrees_or_other_projections_is_refused_with_what_works() {
        for s in [
            "EPSG:4326",
            "+proj=longlat +datum=WGS84",
            "GEOGCRS[\"WGS 84\"]",
            "+proj=tmerc +units=us-ft",
        ] {
            let e = PatchCrs::parse(s).unwrap_err();
            assert!(
                e.is_usage() && e.to_string().contains("projected CRS with metre units"),
                "{s}: {e}"
            );
        }
        for s in [
            "EPSG:27700",
            "+proj=lcc +lat_1=40",
            "EPSG:x",
            "nonsense",
            "+proj=utm +zone=61",
        ] {
            let e = PatchCrs::parse(s).unwrap_err();
            assert!(
                e.is_usage() && e.to_string().contains("EPSG:3857"),
                "{s}: {e}"
            );
        }
    }

    #[test]
    fn the_patch_crs_is_written_as_pyproj_writes_it() {
        let w = patch_wkt(-3.5, -12.25);
        assert!(w.starts_with("PROJCRS[\"Tessera patch Transverse Mercator lon_0=-3.5000\""));
        assert!(w.contains("PARAMETER[\"Longitude of natural origin\",-3.5,"));
        assert!(w.contains("PARAMETER[\"False northing\",10000000,"));
        let w = patch_wkt(0.0123456789, 50.8);
        assert!(w.contains("lon_0=0.0123\""));
        assert!(w.contains("natural origin\",0.01234568,"));
    }
}
