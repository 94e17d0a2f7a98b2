//! A tile pyramid on disk, as `gdal2tiles.py -p mercator --resampling bilinear` writes
//! it: `tiles/{z}/{x}/{y}.png` with TMS rows, the deepest zoom cut from the source and each
//! shallower one from its children. Built in a temporary directory beside `tiles/` and
//! renamed into place when complete; `tiles.json` records the source and zooms so that an
//! unchanged request reuses the tiles.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use rayon::prelude::*;

use crate::PictureError;
use crate::rgba::RgbaGeoTiff;
use crate::tilegrid::{MAX_ZOOM, WebTile, tiles_in};
use crate::webtiles::{self, TileRenderer};

/// The tiles directory's name inside the output directory.
pub const TILES_DIR: &str = "tiles";
/// The reuse record's name inside the output directory.
pub const TILES_JSON: &str = "tiles.json";
/// The reprojected picture's name, when the source is not in EPSG:3857.
pub const WEB_READY: &str = "web_ready_mosaic.tif";
/// More tiles than this is almost surely a mistaken zoom range.
pub const MAX_TILES: u64 = 20_000_000;

/// What to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PyramidOptions {
    /// Shallowest zoom.
    pub min_zoom: u8,
    /// Deepest zoom.
    pub max_zoom: u8,
    /// Rebuild even if `tiles.json` says the tiles are current.
    pub force: bool,
    /// Write the zoom directories straight into the output directory (as gdal2tiles
    /// does, beside `tiles.json`) instead of into `tiles/` inside it. Only the zoom
    /// directories built are replaced; other files there are left alone.
    pub flat: bool,
}

/// What was built (or found).
#[derive(Debug, Clone, PartialEq)]
pub struct PyramidReport {
    /// The tiles directory.
    pub tiles_dir: PathBuf,
    /// Tiles in it.
    pub tiles: u64,
    /// The tiles were current and left alone.
    pub reused: bool,
    /// The reprojected source, when one was needed.
    pub web_ready: Option<PathBuf>,
    /// The source's WGS84 bounds `[W, S, E, N]`.
    pub bounds: [f64; 4],
}

/// Checks a zoom range: `0 <= min <= max <= 24`.
pub fn check_zooms(min: u8, max: u8) -> Result<(), PictureError> {
    if max > MAX_ZOOM {
        return Err(PictureError::Usage(format!(
            "--max-zoom {max} is deeper than {MAX_ZOOM}, the deepest zoom supported"
        )));
    }
    if min > max {
        return Err(PictureError::Usage(format!(
            "--min-zoom {min} is deeper than --max-zoom {max}"
        )));
    }
    Ok(())
}

/// `[path, size, mtime_ns]` of a file, as `tiles.json` records its source.
pub fn file_stamp(path: &Path) -> Result<serde_json::Value, PictureError> {
    let abs = std::fs::canonicalize(path)
        .map_err(|e| PictureError::Source(format!("{}: {e}", path.display())))?;
    let m = std::fs::metadata(&abs)
        .map_err(|e| PictureError::Source(format!("{}: {e}", path.display())))?;
    let ns = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    Ok(serde_json::json!([abs.display().to_string(), m.len(), ns]))
}

fn record(
    input: &Path,
    o: &PyramidOptions,
    bounds: [f64; 4],
) -> Result<serde_json::Value, PictureError> {
    Ok(serde_json::json!({
        "bounds": bounds,
        "schema": 1,
        "source": file_stamp(input)?,
        "zoom": [o.min_zoom, o.max_zoom],
        "flat": o.flat,
    }))
}

fn io(what: &Path, e: std::io::Error) -> PictureError {
    PictureError::Io(format!("{}: {e}", what.display()))
}

/// Counts `.png` files under `dir`.
fn count_pngs(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => count_pngs(&p),
                Ok(t) if t.is_file() && p.extension().is_some_and(|x| x == "png") => 1,
                _ => 0,
            }
        })
        .sum()
}

/// The tile ranges per zoom: the deepest from the source, each shallower one the
/// parents of the one below (gdal2tiles groups base tiles by parent).
pub fn ranges(r: &TileRenderer, o: &PyramidOptions) -> Vec<(u8, [u32; 4])> {
    let mut out = vec![(o.max_zoom, r.range(o.max_zoom))];
    for z in (o.min_zoom..o.max_zoom).rev() {
        let c = out[out.len() - 1].1;
        out.push((z, [c[0] >> 1, c[1] >> 1, c[2] >> 1, c[3] >> 1]));
    }
    out
}

fn tile_count(rs: &[(u8, [u32; 4])]) -> u64 {
    rs.iter()
        .map(|(_, r)| u64::from(r[2] - r[0] + 1) * u64::from(r[3] - r[1] + 1))
        .sum()
}

/// Builds (or reuses) `out_dir/tiles` from the RGB(A) GeoTIFF `input`. `progress(done,
/// total)` counts tiles; `cancelled` is asked between tile rows (nothing is left under
/// `tiles/` then but what was there before).
pub fn build_pyramid(
    input: &Path,
    out_dir: &Path,
    o: &PyramidOptions,
    cancelled: &(dyn Fn() -> bool + Sync),
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<PyramidReport, PictureError> {
    check_zooms(o.min_zoom, o.max_zoom)?;
    std::fs::create_dir_all(out_dir).map_err(|e| io(out_dir, e))?;
    let src = RgbaGeoTiff::open(input)?;
    let bounds = crate::web_ready::wgs84_bounds(&src)?.to_array();
    let tiles_dir = if o.flat {
        out_dir.to_path_buf()
    } else {
        out_dir.join(TILES_DIR)
    };
    let json_path = out_dir.join(TILES_JSON);
    let want = record(input, o, bounds)?;
    let needs_warp = src.crs() != tessera_core::Crs::WebMercator;
    let web_ready_path = out_dir.join(WEB_READY);
    if !o.force
        && tiles_dir.is_dir()
        && std::fs::read(&json_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|have| have == want)
    {
        return Ok(PyramidReport {
            tiles: if o.flat {
                (o.min_zoom..=o.max_zoom)
                    .map(|z| count_pngs(&out_dir.join(z.to_string())))
                    .sum()
            } else {
                count_pngs(&tiles_dir)
            },
            tiles_dir,
            reused: true,
            web_ready: needs_warp.then_some(web_ready_path),
            bounds,
        });
    }
    // The old record goes first: a build that dies half way must not look current.
    match std::fs::remove_file(&json_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&json_path, e)),
    }
    let (tile_src, web_ready) = if needs_warp {
        let p = crate::web_ready::write_web_ready(&src, &web_ready_path)?;
        (p.clone(), Some(p))
    } else {
        (input.to_path_buf(), None)
    };
    let renderer = TileRenderer::new(RgbaGeoTiff::open(&tile_src)?)?;
    let rs = ranges(&renderer, o);
    let total = tile_count(&rs);
    if total > MAX_TILES {
        return Err(PictureError::Usage(format!(
            "zooms {}-{} make {total} tiles for this picture (more than {MAX_TILES}); \
             choose a smaller --max-zoom",
            o.min_zoom, o.max_zoom
        )));
    }
    let tmp = tempfile::Builder::new()
        .prefix(".tiles_tmp_")
        .tempdir_in(out_dir)
        .map_err(|e| io(out_dir, e))?;
    let done = AtomicU64::new(0);
    let tick = |n: u64| progress(done.fetch_add(n, Ordering::Relaxed) + n, total);
    for (i, &(z, r)) in rs.iter().enumerate() {
        for x in r[0]..=r[2] {
            let d = tmp.path().join(format!("{z}/{x}"));
            std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
        }
        if i == 0 {
            base_zoom(&tile_src, tmp.path(), z, r, cancelled, &tick)?;
        } else {
            overview_zoom(tmp.path(), z, r, rs[i - 1].1, cancelled, &tick)?;
        }
    }
    if o.flat {
        // Each zoom directory of the new tree replaces the one of its name.
        for &(z, _) in &rs {
            let from = tmp.path().join(z.to_string());
            let to = out_dir.join(z.to_string());
            match std::fs::symlink_metadata(&to) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(&to).map_err(|e| io(&to, e))?,
                Ok(_) => std::fs::remove_file(&to).map_err(|e| io(&to, e))?,
                Err(_) => {}
            }
            std::fs::rename(&from, &to).map_err(|e| io(&to, e))?;
        }
        drop(tmp);
    } else {
        replace_dir(tmp, &tiles_dir)?;
    }
    let body = serde_json::to_vec_pretty(&want).map_err(|e| PictureError::Io(e.to_string()))?;
    tessera_formats::atomic::write_atomic(&json_path, |w| std::io::Write::write_all(w, &body))
        .map_err(|e| io(&json_path, e))?;
    Ok(PyramidReport {
        tiles_dir,
        tiles: total,
        reused: false,
        web_ready,
        bounds,
    })
}

/// Moves the finished temporary tree to `dst`, removing what was there: a directory
/// (ours, by its name inside the output directory) or a link (the link only).
fn replace_dir(tmp: tempfile::TempDir, dst: &Path) -> Result<(), PictureError> {
    match std::fs::symlink_metadata(dst) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(dst).map_err(|e| io(dst, e))?,
        Ok(_) => std::fs::remove_file(dst).map_err(|e| io(dst, e))?,
        Err(_) => {}
    }
    let path = tmp.keep();
    std::fs::rename(&path, dst).map_err(|e| {
        let _ = std::fs::remove_dir_all(&path);
        io(dst, e)
    })
}

fn write_tile(root: &Path, t: WebTile, rgba: &[u8]) -> Result<(), PictureError> {
    let p = root.join(t.rel_path());
    let png = webtiles::encode_png(rgba)?;
    std::fs::write(&p, png).map_err(|e| io(&p, e))
}

/// The deepest zoom, tile row by tile row in parallel; each row opens its own reader, so
/// that no worker waits on another's lock.
fn base_zoom(
    src: &Path,
    root: &Path,
    z: u8,
    r: [u32; 4],
    cancelled: &(dyn Fn() -> bool + Sync),
    tick: &(dyn Fn(u64) + Sync),
) -> Result<(), PictureError> {
    (r[1]..=r[3]).into_par_iter().try_for_each(|y| {
        if cancelled() {
            return Err(PictureError::Cancelled);
        }
        let renderer = TileRenderer::new(RgbaGeoTiff::open(src)?)?;
        let row: Vec<WebTile> = (r[0]..=r[2]).map(|x| WebTile { z, x, y }).collect();
        for group in row.chunks(16) {
            let tiles = renderer.render(group)?;
            group
                .par_iter()
                .zip(&tiles)
                .try_for_each(|(&t, rgba)| write_tile(root, t, rgba))?;
            tick(group.len() as u64);
        }
        Ok(())
    })
}

/// A shallower zoom from the PNGs of the one below.
fn overview_zoom(
    root: &Path,
    z: u8,
    r: [u32; 4],
    child: [u32; 4],
    cancelled: &(dyn Fn() -> bool + Sync),
    tick: &(dyn Fn(u64) + Sync),
) -> Result<(), PictureError> {
    let tiles: Vec<WebTile> = tiles_in(z, r).collect();
    tiles.par_iter().try_for_each(|&t| {
        if cancelled() {
            return Err(PictureError::Cancelled);
        }
        let mut kids: [Option<Vec<u8>>; 4] = [None, None, None, None];
        for (i, k) in kids.iter_mut().enumerate() {
            let (cx, cy) = (2 * t.x + (i as u32 % 2), 2 * t.y + (i as u32 / 2));
            if !(child[0]..=child[2]).contains(&cx) || !(child[1]..=child[3]).contains(&cy) {
                continue;
            }
            let c = WebTile {
                z: z + 1,
                x: cx,
                y: cy,
            };
            let p = root.join(c.rel_path());
            match std::fs::read(&p) {
                Ok(b) => *k = Some(webtiles::decode_png(&b)?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&p, e)),
            }
        }
        let rgba = webtiles::overview([
            kids[0].as_deref(),
            kids[1].as_deref(),
            kids[2].as_deref(),
            kids[3].as_deref(),
        ]);
        write_tile(root, t, &rgba)?;
        tick(1);
        Ok(())
    })
}
