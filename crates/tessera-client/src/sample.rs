//! Point sampling, as the reference's `sample_embeddings_at_points`: points are grouped by
//! the tile containing them, tiles without coverage give NaN rows, and each covered point
//! takes the pixel given by the published arithmetic (project to the tile's UTM zone, then
//! floor of the inverse affine), dequantised as `f32(q) * scale`.
//!
//! Over HTTP no tile is downloaded: each point costs one 128-byte range of the embedding
//! and 4 bytes of the scales, with nearby ranges coalesced into one request.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use tessera_core::dataset::keys;
use tessera_core::quant::effective_scale;
use tessera_core::{Bbox, TileGeoref, TileId};
use tessera_formats::manifest::ManifestEntry;
use tessera_formats::npy::{NpyHeader, header_len_from_prefix, parse_header};

use crate::error::{ClientError, Result};
use crate::local::EmbeddingTile;
use crate::mirror::Mirror;
use crate::points::PointMeta;
use crate::registry::Registry;

/// Sampled embeddings.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// `n × bands` float32, NaN rows for points without data.
    pub values: Vec<f32>,
    /// Bands per point.
    pub bands: usize,
    /// Per point: tile, pixel, CRS and status.
    pub meta: Vec<PointMeta>,
    /// Points that got values.
    pub covered: usize,
    /// Points in tiles the registry does not list for the year.
    pub uncovered: usize,
    /// Points outside the tile raster (possible only at the cell's very edge).
    pub out_of_bounds: usize,
    /// Tiles read.
    pub tiles: usize,
    /// Bytes fetched over the network.
    pub bytes_fetched: u64,
    /// HTTP requests made.
    pub requests: u64,
}

/// Point indices grouped by their tile, in first-seen order. Invalid points are errors.
pub fn group_by_tile(lon: &[f64], lat: &[f64]) -> Result<Vec<(TileId, Vec<usize>)>> {
    let mut order: Vec<(TileId, Vec<usize>)> = Vec::new();
    let mut at: HashMap<TileId, usize> = HashMap::new();
    for (i, (&x, &y)) in lon.iter().zip(lat).enumerate() {
        let t = TileId::containing(x, y)
            .map_err(|e| ClientError::Usage(format!("point {}: {e}", i + 1)))?;
        let k = *at.entry(t).or_insert_with(|| {
            order.push((t, Vec::new()));
            order.len() - 1
        });
        order[k].1.push(i);
    }
    Ok(order)
}

/// The tiles of `year` the registry lists around the points (one query over their
/// bounds), with their manifest entries.
pub fn covered_tiles(
    registry: &Registry,
    lon: &[f64],
    lat: &[f64],
    year: i32,
) -> Result<HashMap<TileId, ManifestEntry>> {
    if lon.is_empty() {
        return Ok(HashMap::new());
    }
    let fold = |v: &[f64], f: fn(f64, f64) -> f64, init: f64| v.iter().copied().fold(init, f);
    let b = Bbox {
        west: fold(lon, f64::min, f64::INFINITY),
        south: fold(lat, f64::min, f64::INFINITY),
        east: fold(lon, f64::max, f64::NEG_INFINITY),
        north: fold(lat, f64::max, f64::NEG_INFINITY),
    }
    .expanded(0.1);
    Ok(registry
        .in_box(b, year)?
        .into_iter()
        .map(|e| (e.tile, e))
        .collect())
}

fn pixel_of(g: &TileGeoref, lon: f64, lat: f64) -> Option<(usize, usize)> {
    g.pixel_of(lon, lat)
}

impl Samples {
    fn new(n: usize, bands: usize) -> Samples {
        Samples {
            values: crate::mem::filled(n * bands, f32::NAN),
            bands,
            meta: vec![
                PointMeta {
                    status: "no_coverage",
                    ..Default::default()
                };
                n
            ],
            ..Default::default()
        }
    }
}

/// Samples from tiles opened by `open` (local NPY tiles, memory-mapped).
pub fn sample_with<F>(
    lon: &[f64],
    lat: &[f64],
    covered: &HashSet<TileId>,
    mut open: F,
) -> Result<Samples>
where
    F: FnMut(TileId) -> Result<Option<EmbeddingTile>>,
{
    use rayon::prelude::*;
    let groups = group_by_tile(lon, lat)?;
    let mut out = Samples::new(lon.len(), 128);
    // Open every tile first (cheap: memory maps), then sample all points in parallel.
    let mut tiles: Vec<EmbeddingTile> = Vec::new();
    let mut tile_of: Vec<Option<u32>> = vec![None; lon.len()];
    for (tile, idx) in groups {
        if !covered.contains(&tile) {
            out.uncovered += idx.len();
            continue;
        }
        let Some(t) = open(tile)? else {
            out.uncovered += idx.len();
            continue;
        };
        if let Some(first) = tiles.first()
            && first.bands() != t.bands()
        {
            return Err(ClientError::Format(format!(
                "tiles have inconsistent embedding dimensions ({} and {})",
                first.bands(),
                t.bands()
            )));
        }
        for i in idx {
            tile_of[i] = Some(tiles.len() as u32);
        }
        tiles.push(t);
    }
    out.tiles = tiles.len();
    let b = tiles.first().map_or(128, EmbeddingTile::bands);
    if b != out.bands {
        out.bands = b;
        out.values = crate::mem::filled(lon.len() * b, f32::NAN);
    }
    let results: Vec<Result<()>> = out
        .values
        .par_chunks_mut(b)
        .zip(out.meta.par_iter_mut())
        .enumerate()
        .with_min_len(1024)
        .map(|(i, (v, m))| {
            let Some(k) = tile_of[i] else { return Ok(()) };
            let t = &tiles[k as usize];
            m.tile = Some(t.tile);
            m.crs = Some(t.crs());
            match pixel_of(&t.georef, lon[i], lat[i]) {
                Some((r, c)) => {
                    t.pixel(r, c, v)?;
                    m.row = Some(r as i64);
                    m.col = Some(c as i64);
                    m.status = "ok";
                }
                None => m.status = "pixel_out_of_bounds",
            }
            Ok(())
        })
        .collect();
    results.into_iter().collect::<Result<Vec<()>>>()?;
    out.covered = out.meta.iter().filter(|m| m.status == "ok").count();
    out.out_of_bounds = out
        .meta
        .iter()
        .filter(|m| m.status == "pixel_out_of_bounds")
        .count();
    Ok(out)
}

// Coalescing bridges a gap of at most one item (a pixel's 128 bytes or a scale's 4):
// neighbouring pixels share a request, and no more than half the bytes read are unused.
/// Largest coalesced range.
const MAX_RANGE: u64 = 4 << 20;

/// Merges `(offset, len)` reads into ranges `(start, end_inclusive)`, bridging gaps of at
/// most `gap` bytes.
pub fn coalesce(mut reads: Vec<(u64, u64)>, gap: u64) -> Vec<(u64, u64)> {
    reads.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (o, l) in reads {
        let end = o + l - 1;
        match out.last_mut() {
            Some((s, e)) if o <= *e + 1 + gap && end + 1 - *s <= MAX_RANGE => *e = (*e).max(end),
            _ => out.push((o, end)),
        }
    }
    out
}

async fn remote_header(
    mirror: &Mirror,
    key: &str,
    size: Option<u64>,
    counter: &Counter,
) -> Result<NpyHeader> {
    let probe = size.map_or(4095, |s| s.saturating_sub(1).min(4095));
    let b = mirror.get_range(key, 0, probe).await?;
    counter.add(b.len() as u64);
    let path = std::path::Path::new(key);
    let need = header_len_from_prefix(&b).map_err(|e| ClientError::Format(e.to_string()))?;
    let full = if need > b.len() {
        let more = mirror.get_range(key, 0, need as u64 - 1).await?;
        counter.add(more.len() as u64);
        more
    } else {
        b
    };
    parse_header(&full, path).map_err(|e| ClientError::Format(e.to_string()))
}

#[derive(Default)]
struct Counter {
    bytes: AtomicU64,
    requests: AtomicU64,
}

impl Counter {
    fn add(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// Samples over the network with range reads (no tile is downloaded).
pub async fn sample_remote(
    mirror: &Mirror,
    registry: &Registry,
    year: i32,
    lon: &[f64],
    lat: &[f64],
    concurrency: usize,
) -> Result<Samples> {
    let covered = covered_tiles(registry, lon, lat, year)?;
    let groups = group_by_tile(lon, lat)?;
    let mut out = Samples::new(lon.len(), 128);
    let counter = Counter::default();
    // Headers first (two small reads per tile), then the pixel ranges.
    struct Plan {
        tile: TileId,
        georef: TileGeoref,
        ekey: String,
        skey: String,
        eh: NpyHeader,
        sh: NpyHeader,
        points: Vec<(usize, usize, usize)>,
    }
    let dir = &registry.npy_dir;
    let heads = futures_util::stream::iter(groups.into_iter().filter(|(t, idx)| {
        let ok = covered.contains_key(t);
        if !ok {
            out.uncovered += idx.len();
        }
        ok
    }))
    .map(|(tile, idx)| {
        let counter = &counter;
        let sz = covered.get(&tile).map(|e| (e.grid_size, e.scales_size));
        async move {
            let ekey = keys::embedding(dir, year, tile);
            let skey = keys::scales(dir, year, tile);
            let eh = remote_header(mirror, &ekey, sz.map(|s| s.0 as u64), counter).await?;
            let sh = remote_header(
                mirror,
                &skey,
                sz.and_then(|s| s.1).map(|s| s as u64),
                counter,
            )
            .await?;
            Ok::<_, ClientError>((tile, idx, ekey, skey, eh, sh))
        }
    })
    .buffer_unordered(concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    let mut plans = Vec::new();
    for h in heads {
        let (tile, idx, ekey, skey, eh, sh) = h?;
        let georef = TileGeoref::of_tile(tile);
        let (ht, wd) = (georef.height, georef.width);
        // Every header field used for indexing is checked against the tile geometry, the
        // band count of the output (shared by all tiles) and the registry's object sizes, so
        // a hostile header can only fail its own tile, never move another tile's values.
        if eh.shape.len() != 3
            || eh.shape[..2] != [ht, wd]
            || eh.shape[2] != out.bands
            || eh.dtype.descr() != "|i1"
            || eh.fortran_order
        {
            return Err(ClientError::Format(format!(
                "tile {tile}: {ekey} holds {} {:?}, not the {ht}x{wd}x{} int8 array of its tile geometry; the mirror's copy is damaged or not a TESSERA tile",
                eh.dtype.descr(),
                eh.shape,
                out.bands
            )));
        }
        let sizes = covered.get(&tile).map(|e| (e.grid_size, e.scales_size));
        if let Some((grid_size, _)) = sizes {
            let want = eh.data_offset as u64 + eh.inner_len(0).unwrap_or(u64::MAX);
            if grid_size >= 0 && want != grid_size as u64 {
                return Err(ClientError::Format(format!(
                    "tile {tile}: the header of {ekey} describes {want} bytes but the registry lists {grid_size}; the mirror's copy is damaged"
                )));
            }
        }
        let per_band = match sh.shape.as_slice() {
            [a, b] if [*a, *b] == [ht, wd] => false,
            [a, b, c] if [*a, *b, *c] == [ht, wd, eh.shape[2]] => true,
            _ => {
                return Err(ClientError::Format(format!(
                    "{skey}: scales shape {:?} does not match {ht}x{wd}",
                    sh.shape
                )));
            }
        };
        if sh.dtype.descr() != "<f4" || sh.fortran_order {
            return Err(ClientError::Format(format!(
                "tile {tile}: {skey} has dtype {} (expected C-ordered <f4)",
                sh.dtype.descr()
            )));
        }
        if let Some((_, Some(scales_size))) = sizes {
            let want = sh.data_offset as u64 + sh.inner_len(0).unwrap_or(u64::MAX);
            if scales_size >= 0 && want != scales_size as u64 {
                return Err(ClientError::Format(format!(
                    "tile {tile}: the header of {skey} describes {want} bytes but the registry lists {scales_size}; the mirror's copy is damaged"
                )));
            }
        }
        let _ = per_band;
        let mut points = Vec::new();
        for i in idx {
            let m = &mut out.meta[i];
            m.tile = Some(tile);
            m.crs = Some(georef.crs);
            match pixel_of(&georef, lon[i], lat[i]) {
                Some((r, c)) => {
                    m.row = Some(r as i64);
                    m.col = Some(c as i64);
                    points.push((i, r, c));
                }
                None => {
                    m.status = "pixel_out_of_bounds";
                    out.out_of_bounds += 1;
                }
            }
        }
        plans.push(Plan {
            tile,
            georef,
            ekey,
            skey,
            eh,
            sh,
            points,
        });
    }
    // All ranges of all tiles, fetched concurrently.
    let mut jobs: Vec<(String, u64, u64)> = Vec::new();
    for p in &plans {
        let b = p.eh.shape[2] as u64;
        let ereads: Vec<(u64, u64)> = p
            .points
            .iter()
            .filter_map(|&(_, r, c)| p.eh.offset_of(&[r, c]).map(|o| (o, b)))
            .collect();
        let slen = p.sh.inner_len(2).unwrap_or(4);
        let sreads: Vec<(u64, u64)> = p
            .points
            .iter()
            .filter_map(|&(_, r, c)| p.sh.offset_of(&[r, c]).map(|o| (o, slen)))
            .collect();
        for (s, e) in coalesce(ereads, b) {
            jobs.push((p.ekey.clone(), s, e));
        }
        for (s, e) in coalesce(sreads, slen) {
            jobs.push((p.skey.clone(), s, e));
        }
    }
    let fetched = futures_util::stream::iter(jobs)
        .map(|(key, s, e)| {
            let counter = &counter;
            async move {
                let b = mirror.get_range(&key, s, e).await?;
                counter.add(b.len() as u64);
                Ok::<_, ClientError>((key, s, b))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut ranges: BTreeMap<String, Vec<(u64, bytes::Bytes)>> = BTreeMap::new();
    for f in fetched {
        let (k, s, b) = f?;
        ranges.entry(k).or_default().push((s, b));
    }
    let read = |key: &str, off: u64, len: u64| -> Option<&[u8]> {
        ranges.get(key)?.iter().find_map(|(s, b)| {
            (off >= *s && off + len <= *s + b.len() as u64)
                .then(|| &b[(off - s) as usize..(off - s + len) as usize])
        })
    };
    for p in &plans {
        out.tiles += 1;
        let b = p.eh.shape[2];
        let per_band = p.sh.shape.len() == 3;
        for &(i, r, c) in &p.points {
            let (Some(eo), Some(so)) = (p.eh.offset_of(&[r, c]), p.sh.offset_of(&[r, c])) else {
                continue;
            };
            let slen = if per_band { 4 * b as u64 } else { 4 };
            let (Some(q), Some(sb)) = (read(&p.ekey, eo, b as u64), read(&p.skey, so, slen)) else {
                return Err(ClientError::Format(format!(
                    "{}: pixel ({r}, {c}) was not fetched",
                    p.tile
                )));
            };
            let o = &mut out.values[i * b..(i + 1) * b];
            for (k, v) in o.iter_mut().enumerate() {
                let s_at = if per_band { k * 4 } else { 0 };
                let s = f32::from_le_bytes([sb[s_at], sb[s_at + 1], sb[s_at + 2], sb[s_at + 3]]);
                *v = f32::from(q[k] as i8) * effective_scale(s);
            }
            out.meta[i].status = "ok";
            out.covered += 1;
        }
        let _ = &p.georef;
    }
    out.bytes_fetched = counter.bytes.load(Ordering::Relaxed);
    out.requests = counter.requests.load(Ordering::Relaxed);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalescing() {
        let r = coalesce(
            vec![(640, 128), (128, 128), (256, 128), (1_000_000, 128)],
            128,
        );
        assert_eq!(r, vec![(128, 383), (640, 767), (1_000_000, 1_000_127)]);
        assert_eq!(coalesce(vec![(0, 4), (0, 4), (8, 4)], 4), vec![(0, 11)]);
    }

    #[test]
    fn grouping_keeps_first_seen_order() {
        let g = group_by_tile(&[0.17, -0.12, 0.18, 0.3], &[52.23, -0.03, 52.21, 52.23]).unwrap();
        let names: Vec<String> = g.iter().map(|(t, _)| t.name()).collect();
        assert_eq!(
            names,
            ["grid_0.15_52.25", "grid_-0.15_-0.05", "grid_0.35_52.25"]
        );
        assert_eq!(g[0].1, vec![0, 2]);
        assert!(group_by_tile(&[200.0], &[0.0]).is_err());
    }
}
