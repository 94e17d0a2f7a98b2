//! Comparing a store with the tiles it was built from: every pixel of every tile-year (or
//! a sample of tile-years) read back through the store reader must equal the source, by
//! the builder's rules: the tile written last (manifest order) owns a pixel, its int8
//! values are stored unchanged, and its scale is kept when valid and on land, else NaN.
//! Shards that do not exist yet are reported as unwritten, not as mismatches.

use std::collections::HashMap;

use tessera_core::dataset::keys;
use tessera_formats::geotiff::GeoTiffReader;
use tessera_formats::npy::NpyFile;
use tessera_formats::zarr::{BANDS, valid_scale};

use super::ZarrStore;
use super::build::{Plan, TileRoot, unit_keys};
use crate::error::{ClientError, Result};

/// The outcome of a verification.
#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    /// Tile-years compared.
    pub tiles: usize,
    /// Pixels compared (owned by the tile compared).
    pub pixels: u64,
    /// Tile-years in shards not written yet.
    pub unwritten: usize,
    /// Pixels whose int8 values differ.
    pub emb_mismatch: u64,
    /// Pixels whose scale differs.
    pub scale_mismatch: u64,
    /// The first few differences, described.
    pub examples: Vec<String>,
}

impl VerifyReport {
    /// True when nothing differs.
    pub fn ok(&self) -> bool {
        self.emb_mismatch == 0 && self.scale_mismatch == 0
    }
}

/// Verifies `store` against the tiles under `src`: all tile-years of `plan`, or every
/// `step`-th one.
pub async fn verify_store(
    store: &ZarrStore,
    src: &TileRoot,
    plan: &Plan,
    step: usize,
    use_landmask: bool,
) -> Result<VerifyReport> {
    let mut rep = VerifyReport::default();
    // For each tile-year, the tiles applied after it in the same zone and year.
    let mut later: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, a) in plan.tiles.iter().enumerate() {
        for (j, b) in plan.tiles.iter().enumerate().skip(i + 1) {
            if a.zone == b.zone
                && a.t == b.t
                && a.row < b.row + b.height as i64
                && b.row < a.row + a.height as i64
                && a.col < b.col + b.width as i64
                && b.col < a.col + a.width as i64
            {
                later.entry(i).or_default().push(j);
            }
        }
    }
    let done_units: HashMap<(u8, usize, u64, u64), bool> = plan
        .units
        .iter()
        .map(|u| {
            let (e, s) = unit_keys(u);
            let ok = match store.mirror().root.local_path("") {
                Some(dir) => dir.join(e).is_file() && dir.join(s).is_file(),
                None => true,
            };
            ((u.zone, u.t, u.sr, u.sc), ok)
        })
        .collect();
    let fmt = |e: tessera_formats::npy::NpyError| ClientError::Format(e.to_string());
    for (i, p) in plan.tiles.iter().enumerate() {
        if step > 1 && i % step != 0 {
            continue;
        }
        let s = tessera_formats::zarr::SHARD as i64;
        let complete = (p.row / s..=(p.row + p.height as i64 - 1) / s).all(|sr| {
            (p.col / s..=(p.col + p.width as i64 - 1) / s).all(|sc| {
                done_units
                    .get(&(p.zone, p.t, sr as u64, sc as u64))
                    .copied()
                    .unwrap_or(false)
            })
        });
        if !complete {
            rep.unwritten += 1;
            continue;
        }
        let emb = NpyFile::open(&src.root.join(keys::embedding(&src.npy_dir, p.year, p.tile)))
            .map_err(fmt)?;
        let sc = NpyFile::open(&src.root.join(keys::scales(&src.npy_dir, p.year, p.tile)))
            .map_err(fmt)?;
        let q: &[i8] = emb.as_slice().map_err(fmt)?;
        let sv: &[f32] = sc.as_slice().map_err(fmt)?;
        let mask: Option<Vec<u8>> = if use_landmask {
            GeoTiffReader::open(&src.root.join(keys::landmask(&src.landmask_dir, p.tile)))
                .ok()
                .and_then(|mut r| r.read_all::<u8>().ok())
                .filter(|m| m.len() == p.height * p.width)
        } else {
            None
        };
        // Pixels owned by a later tile are not this tile's to check.
        let mut owned = vec![true; p.height * p.width];
        for &j in later.get(&i).map(Vec::as_slice).unwrap_or(&[]) {
            let b = &plan.tiles[j];
            for r in b.row.max(p.row)..(b.row + b.height as i64).min(p.row + p.height as i64) {
                for c in b.col.max(p.col)..(b.col + b.width as i64).min(p.col + p.width as i64) {
                    owned[(r - p.row) as usize * p.width + (c - p.col) as usize] = false;
                }
            }
        }
        let block = store
            .read_block(
                p.zone,
                p.t,
                p.row as u64..p.row as u64 + p.height as u64,
                p.col as u64..p.col as u64 + p.width as u64,
                None,
            )
            .await?;
        rep.tiles += 1;
        for k in 0..p.height * p.width {
            if !owned[k] {
                continue;
            }
            rep.pixels += 1;
            let want = &q[k * BANDS..(k + 1) * BANDS];
            let got = &block.emb[k * BANDS..(k + 1) * BANDS];
            let raw = sv[k];
            let water = mask.as_ref().is_some_and(|m| m[k] == 0);
            let expect = if water || !valid_scale(raw) {
                f32::NAN
            } else {
                raw
            };
            let have = block.scales[k];
            let (r, c) = (k / p.width, k % p.width);
            if want != got {
                rep.emb_mismatch += 1;
                if rep.examples.len() < 10 {
                    rep.examples.push(format!(
                        "{} {}: pixel ({r}, {c}) int8 values differ",
                        p.tile, p.year
                    ));
                }
            }
            if expect.to_bits() != have.to_bits() && !(expect.is_nan() && have.is_nan()) {
                rep.scale_mismatch += 1;
                if rep.examples.len() < 10 {
                    rep.examples.push(format!(
                        "{} {}: pixel ({r}, {c}) scale {have} in the store, {expect} expected",
                        p.tile, p.year
                    ));
                }
            }
        }
    }
    Ok(rep)
}
