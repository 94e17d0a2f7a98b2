//! Points on a store: routing a lon/lat to its zone and pixel, `probe` statuses with the
//! hole search and the seam retry, and batched `sample_points`.
//!
//! The rules are the reference's (geotessera 0.11 store.py): the zone of the longitude,
//! the nearest pixel centre (ties to the west/north entry), rejection beyond 10 m of the
//! grid; a NaN centre is water (unless the zone's NaNs mean "no embedding"), a finite
//! centre is valid, anything else searches the (2r+1)² window for the nearest finite
//! scale (row-major first on ties); points within 0.1 degrees of a zone edge also try the
//! neighbouring zone, the first valid answer winning, else water > nodata > outside.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tessera_core::{Crs, utm_zone};
use tessera_formats::zarr::ArrayMeta;

use super::{ZarrStore, Zone, shard_key};
use crate::error::Result;

/// How close (degrees) to a zone edge the neighbouring zone is also tried.
pub const SEAM_DEGREES: f64 = 0.1;

/// What a point found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// An embedding (at the pixel or a neighbour within the search radius).
    Valid,
    /// Water (NaN scale from the landmask).
    Water,
    /// On the grid, but no embedding within the search radius.
    Nodata,
    /// Not on any zone grid of the store.
    Outside,
}

impl Status {
    /// The reference's name.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Water => "water",
            Status::Nodata => "nodata",
            Status::Outside => "outside",
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Status::Valid => 0,
            Status::Water => 1,
            Status::Nodata => 2,
            Status::Outside => 3,
        }
    }
}

/// The answer for one point.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Status.
    pub status: Status,
    /// Zone of the pixel (also for water and nodata).
    pub zone: Option<u8>,
    /// Row of the pixel read (the neighbour found by the search for a repaired hole).
    pub row: u64,
    /// Column of that pixel.
    pub col: u64,
    /// Its scale.
    pub scale: f32,
    /// Dequantised values (the requested depth) when valid.
    pub values: Option<Vec<f32>>,
}

impl Probe {
    fn outside() -> Probe {
        Probe {
            status: Status::Outside,
            zone: None,
            row: 0,
            col: 0,
            scale: f32::NAN,
            values: None,
        }
    }
}

/// Options of point sampling.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Radius of the hole search in pixels (the reference's default 1).
    pub search_px: u64,
    /// Try the neighbouring zone near zone edges.
    pub cross_zone: bool,
    /// Matryoshka depth (bands); the full depth when `None`.
    pub depth: Option<usize>,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            search_px: 1,
            cross_zone: true,
            depth: None,
        }
    }
}

/// The zone's pixel nearest to (lon, lat), or `None` when more than 10 m off the grid.
pub fn route(zone: &Zone, lon: f64, lat: f64) -> Option<(u64, u64)> {
    let g = &zone.grid;
    let crs = Crs::from_epsg(g.epsg()).ok()?;
    let (e, n) = crs.forward(lon, lat);
    if !e.is_finite() || !n.is_finite() {
        return None;
    }
    let clamp = |v: f64, len: u64| -> u64 { v.max(0.0).min(len as f64 - 1.0) as u64 };
    let col = clamp(((e - g.origin_x) / 10.0).ceil() - 1.0, g.width);
    let row = clamp(((g.origin_y - n) / 10.0).ceil() - 1.0, g.height);
    let x = g.origin_x + (col as f64 + 0.5) * 10.0;
    let y = g.origin_y - (row as f64 + 0.5) * 10.0;
    ((x - e).abs() <= 10.0 && (y - n).abs() <= 10.0).then_some((row, col))
}

/// The zones a point may be read from: its own, then (near an edge) the neighbour.
pub fn candidate_zones(lon: f64, cross_zone: bool) -> Vec<u8> {
    let z = utm_zone(lon);
    let mut v = vec![z];
    if cross_zone {
        let m = (lon + 180.0).rem_euclid(6.0);
        if m <= SEAM_DEGREES {
            v.push(if z == 1 { 60 } else { z - 1 });
        } else if m >= 6.0 - SEAM_DEGREES {
            v.push(if z == 60 { 1 } else { z + 1 });
        }
    }
    v
}

/// Chunks read during one call: (shard key, chunk id) → raw bytes (`None` = fill).
#[derive(Default)]
pub(crate) struct ChunkMap {
    map: HashMap<(String, usize), Option<Arc<Vec<u8>>>>,
}

/// Where a pixel lives: shard key and chunk id, and the offset within the chunk.
fn locate(
    zone: &Zone,
    meta: &ArrayMeta,
    t: usize,
    row: u64,
    col: u64,
) -> (String, usize, usize, usize) {
    let nd = meta.shape.len();
    let (sh, sw) = (meta.chunk[nd - 2], meta.chunk[nd - 1]);
    let inner = &meta.sharding.as_ref().expect("sharded").inner;
    let (ih, iw) = (inner[nd - 2], inner[nd - 1]);
    let key = shard_key(zone, meta, t, row / sh, col / sw);
    let gw = sw / iw;
    let id = ((row % sh) / ih * gw + (col % sw) / iw) as usize;
    (
        key,
        id,
        ((row % sh) % ih) as usize,
        ((col % sw) % iw) as usize,
    )
}

impl ZarrStore {
    /// Makes sure the chunks holding `pixels` (zone, t, row, col) of `array` (`None`: the
    /// scales) are in `cache`, reading the missing ones shard by shard, concurrently.
    pub(crate) async fn ensure(
        &self,
        cache: &mut ChunkMap,
        depth: Option<Option<usize>>,
        pixels: &[(u8, usize, u64, u64)],
    ) -> Result<()> {
        let mut by_shard: BTreeMap<String, (u8, Vec<usize>)> = BTreeMap::new();
        for &(z, t, r, c) in pixels {
            let zone = self.zone(z).expect("routed zone");
            let meta = match depth {
                None => &zone.scales,
                Some(d) => zone.depth_array(d)?,
            };
            let (key, id, _, _) = locate(zone, meta, t, r, c);
            if cache.map.contains_key(&(key.clone(), id)) {
                continue;
            }
            let e = by_shard.entry(key).or_insert((z, Vec::new()));
            e.1.push(id);
        }
        let futs = by_shard.into_iter().map(|(key, (z, mut ids))| async move {
            ids.sort_unstable();
            ids.dedup();
            let zone = self.zone(z).expect("zone");
            let meta = match depth {
                None => &zone.scales,
                Some(d) => zone.depth_array(d)?,
            };
            let got = self.read_chunks(meta, &key, &ids).await?;
            Ok::<_, crate::error::ClientError>((key, ids, got))
        });
        for (key, ids, got) in futures_util::future::try_join_all(futs).await? {
            let mut have: HashMap<usize, Vec<u8>> = got.into_iter().collect();
            for id in ids {
                let v = have.remove(&id).map(Arc::new);
                cache.map.insert((key.clone(), id), v);
            }
        }
        Ok(())
    }

    fn scale_at(&self, cache: &ChunkMap, z: u8, t: usize, row: u64, col: u64) -> f32 {
        let zone = self.zone(z).expect("zone");
        let (key, id, y, x) = locate(zone, &zone.scales, t, row, col);
        let iw = zone.scales.sharding.as_ref().expect("sharded").inner[2] as usize;
        match cache.map.get(&(key, id)) {
            Some(Some(raw)) => {
                let i = (y * iw + x) * 4;
                f32::from_le_bytes(raw[i..i + 4].try_into().expect("4"))
            }
            _ => zone.scales.fill as f32,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn emb_at(
        &self,
        cache: &ChunkMap,
        depth: Option<usize>,
        z: u8,
        t: usize,
        row: u64,
        col: u64,
        scale: f32,
    ) -> Result<Vec<f32>> {
        let zone = self.zone(z).expect("zone");
        let meta = zone.depth_array(depth)?;
        let (key, id, y, x) = locate(zone, meta, t, row, col);
        let inner = &meta.sharding.as_ref().expect("sharded").inner;
        let (bands, ih, iw) = (inner[1] as usize, inner[2] as usize, inner[3] as usize);
        let fill = f32::from(meta.fill as i8) * scale;
        Ok(match cache.map.get(&(key, id)) {
            Some(Some(raw)) => (0..bands)
                .map(|b| f32::from(raw[(b * ih + y) * iw + x] as i8) * scale)
                .collect(),
            _ => vec![fill; bands],
        })
    }

    /// Probes one point (see [`ZarrStore::sample_points`]).
    pub async fn probe(
        &self,
        lon: f64,
        lat: f64,
        year: i32,
        opts: &SampleOptions,
    ) -> Result<Probe> {
        Ok(self
            .sample_points(&[(lon, lat)], year, opts)
            .await?
            .pop()
            .expect("one point"))
    }

    /// Samples points (lon, lat) for `year`: one [`Probe`] per point, in order. Reads are
    /// batched: the centre scales of every point first (one request per group of
    /// neighbouring chunks per shard), the search windows of holes next, the neighbouring
    /// zone of unresolved points near an edge, and finally the embeddings of the pixels
    /// chosen.
    pub async fn sample_points(
        &self,
        pts: &[(f64, f64)],
        year: i32,
        opts: &SampleOptions,
    ) -> Result<Vec<Probe>> {
        // The time index of each zone the points may need.
        let mut tix: HashMap<u8, usize> = HashMap::new();
        for &(lon, _) in pts {
            if !lon.is_finite() {
                continue;
            }
            for z in candidate_zones(lon, opts.cross_zone) {
                if self.zone(z).is_some() && !tix.contains_key(&z) {
                    tix.insert(z, self.time_index(z, year).await?);
                }
            }
        }
        if let Some(d) = opts.depth {
            for &z in tix.keys() {
                self.zone(z).expect("zone").depth_array(Some(d))?;
            }
        }
        let mut out: Vec<Probe> = vec![Probe::outside(); pts.len()];
        let mut cache = ChunkMap::default();
        // Candidates per point, in order of preference.
        let cands: Vec<Vec<u8>> = pts
            .iter()
            .map(|&(lon, lat)| {
                if !lon.is_finite() || !lat.is_finite() {
                    return Vec::new();
                }
                candidate_zones(lon, opts.cross_zone)
                    .into_iter()
                    .filter(|z| self.zone(*z).is_some())
                    .collect()
            })
            .collect();
        let max_rounds = cands.iter().map(Vec::len).max().unwrap_or(0);
        let mut done = vec![false; pts.len()];
        for round in 0..max_rounds {
            // Route this round's points.
            let mut routed: Vec<(usize, u8, usize, u64, u64)> = Vec::new();
            for (i, c) in cands.iter().enumerate() {
                if done[i] || c.len() <= round {
                    continue;
                }
                let z = c[round];
                let (lon, lat) = pts[i];
                if let Some((r, col)) = route(self.zone(z).expect("zone"), lon, lat) {
                    routed.push((i, z, tix[&z], r, col));
                }
            }
            // Centre scales.
            let centres: Vec<(u8, usize, u64, u64)> =
                routed.iter().map(|&(_, z, t, r, c)| (z, t, r, c)).collect();
            self.ensure(&mut cache, None, &centres).await?;
            let mut search: Vec<(usize, u8, usize, u64, u64)> = Vec::new();
            for &(i, z, t, r, c) in &routed {
                let s = self.scale_at(&cache, z, t, r, c);
                let zone = self.zone(z).expect("zone");
                let p = if s.is_nan() && !zone.source_nodata {
                    Some(Probe {
                        status: Status::Water,
                        zone: Some(z),
                        row: r,
                        col: c,
                        scale: s,
                        values: None,
                    })
                } else if s.is_finite() {
                    Some(Probe {
                        status: Status::Valid,
                        zone: Some(z),
                        row: r,
                        col: c,
                        scale: s,
                        values: None,
                    })
                } else {
                    search.push((i, z, t, r, c));
                    None
                };
                if let Some(p) = p {
                    keep_better(&mut out[i], p, &mut done[i]);
                }
            }
            // Hole search.
            let rad = opts.search_px;
            let window = |z: u8, r: u64, c: u64| {
                let g = self.zone(z).expect("zone").grid;
                let rows = r.saturating_sub(rad)..=(r + rad).min(g.height - 1);
                let cols = c.saturating_sub(rad)..=(c + rad).min(g.width - 1);
                rows.flat_map(move |y| cols.clone().map(move |x| (y, x)))
            };
            let mut need = Vec::new();
            for &(_, z, t, r, c) in &search {
                need.extend(window(z, r, c).map(|(y, x)| (z, t, y, x)));
            }
            self.ensure(&mut cache, None, &need).await?;
            for &(i, z, t, r, c) in &search {
                let mut best: Option<(i64, u64, u64, f32)> = None;
                for (y, x) in window(z, r, c) {
                    let s = self.scale_at(&cache, z, t, y, x);
                    if !s.is_finite() {
                        continue;
                    }
                    let d = (y as i64 - r as i64).pow(2) + (x as i64 - c as i64).pow(2);
                    if best.is_none_or(|b| d < b.0) {
                        best = Some((d, y, x, s));
                    }
                }
                let p = match best {
                    Some((_, y, x, s)) => Probe {
                        status: Status::Valid,
                        zone: Some(z),
                        row: y,
                        col: x,
                        scale: s,
                        values: None,
                    },
                    None => Probe {
                        status: Status::Nodata,
                        zone: Some(z),
                        row: r,
                        col: c,
                        scale: self.scale_at(&cache, z, t, r, c),
                        values: None,
                    },
                };
                keep_better(&mut out[i], p, &mut done[i]);
            }
        }
        // Embeddings of the pixels chosen.
        let valid: Vec<(u8, usize, u64, u64)> = out
            .iter()
            .filter(|p| p.status == Status::Valid)
            .map(|p| {
                let z = p.zone.expect("zone");
                (z, tix[&z], p.row, p.col)
            })
            .collect();
        self.ensure(&mut cache, Some(opts.depth), &valid).await?;
        for p in out.iter_mut().filter(|p| p.status == Status::Valid) {
            let z = p.zone.expect("zone");
            p.values = Some(self.emb_at(&cache, opts.depth, z, tix[&z], p.row, p.col, p.scale)?);
        }
        Ok(out)
    }
}

/// Keeps the better of two answers for a point (valid > water > nodata > outside; the
/// first of equals) and marks the point done once valid.
fn keep_better(cur: &mut Probe, new: Probe, done: &mut bool) {
    if new.status.rank() < cur.status.rank() {
        *cur = new;
    }
    if cur.status == Status::Valid {
        *done = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seam_candidates() {
        assert_eq!(candidate_zones(3.0, true), vec![31]);
        assert_eq!(candidate_zones(0.05, true), vec![31, 30]);
        assert_eq!(candidate_zones(5.95, true), vec![31, 32]);
        assert_eq!(candidate_zones(5.95, false), vec![31]);
        assert_eq!(candidate_zones(-179.95, true), vec![1, 60]);
        assert_eq!(candidate_zones(179.95, true), vec![60, 1]);
    }
}
