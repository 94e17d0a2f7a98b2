//! Point sampling from every tile source: a local tiles directory (downloading what is
//! missing, or refusing offline), a local mirror read in place, or HTTP range reads.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tessera_client::export::check_dataset_dir;
use tessera_client::local::{EmbeddingTile, npy_paths};
use tessera_client::sample::{Samples, covered_tiles, group_by_tile, sample_remote, sample_with};
use tessera_client::{ClientError, MirrorRoot, Result};
use tessera_core::dataset::keys;
use tessera_core::{DatasetRef, TileId};
use tessera_formats::manifest::ManifestEntry;

use super::{EnsureOptions, TileDataset};
use crate::Progress;

/// Where point samples are read from.
#[derive(Clone, Debug)]
pub enum SampleSource {
    /// The mirror: read in place when it is a directory, else by range reads (no tile is
    /// downloaded), with this many requests in flight.
    Mirror {
        /// Requests in flight.
        jobs: usize,
    },
    /// Tiles in a local directory in the reference's layout; missing ones are downloaded
    /// there unless `offline`, where they are an error.
    TilesDir {
        /// The directory.
        dir: PathBuf,
        /// Never download.
        offline: bool,
    },
}

/// Sampled embeddings: one contiguous `points x bands` array, per-point metadata and
/// counts.
pub type PointSamples = Samples;

/// Checks a tiles directory before sampling into it: created and writable unless
/// `offline`, and not holding another dataset. Returns the directories created.
pub fn prepare_tiles_dir(dir: &Path, dataset: &DatasetRef, offline: bool) -> Result<Vec<PathBuf>> {
    let created = if offline {
        Vec::new()
    } else {
        super::prepare_output(dir)?
    };
    check_dataset_dir(dir, dataset)?;
    Ok(created)
}

impl TileDataset {
    /// `sample_embeddings_at_points`: the embedding of the pixel containing each point
    /// (NaN rows where there is none), with per-point tile, pixel, CRS and status. Points
    /// in tiles without coverage and outside their raster are counted, and said as
    /// warnings.
    pub fn sample_points(
        &self,
        lon: &[f64],
        lat: &[f64],
        year: i32,
        source: &SampleSource,
        progress: &Progress,
    ) -> Result<PointSamples> {
        if lon.len() != lat.len() {
            return Err(ClientError::Usage(format!(
                "{} longitudes but {} latitudes; give one of each per point",
                lon.len(),
                lat.len()
            )));
        }
        progress.start_phase("sample", lon.len() as u64);
        let mirror = self.ctx.mirror.with_cancel(progress.token());
        let reg = &self.registry;
        let samples = match (source, &mirror.root) {
            (SampleSource::TilesDir { dir, offline }, _) => {
                let covered = covered_tiles(reg, lon, lat, year)?;
                let needed: Vec<TileId> = group_by_tile(lon, lat)?
                    .into_iter()
                    .map(|(t, _)| t)
                    .filter(|t| covered.contains_key(t))
                    .collect();
                let missing: Vec<TileId> = needed
                    .into_iter()
                    .filter(|t| {
                        let (e, s, l) = npy_paths(dir, year, *t);
                        !(e.is_file() && s.is_file() && l.is_file())
                    })
                    .collect();
                if !missing.is_empty() {
                    if *offline {
                        let names: Vec<String> = missing.iter().take(5).map(|t| t.name()).collect();
                        return Err(ClientError::NoData(format!(
                            "{} tiles are missing from {} ({}{}); download them there first (for example: tessera download --tile LON,LAT --year {year} --format npy -o {}) or allow downloading",
                            missing.len(),
                            dir.display(),
                            names.join(", "),
                            if missing.len() > 5 { ", ..." } else { "" },
                            dir.display()
                        )));
                    }
                    let entries: Vec<ManifestEntry> =
                        missing.iter().map(|t| covered[t].clone()).collect();
                    let rep = self.ensure_tiles(
                        dir,
                        &entries,
                        EnsureOptions {
                            jobs: 8,
                            refresh: false,
                        },
                        progress,
                    )?;
                    if let Some(e) = rep.first_failure() {
                        return Err(e);
                    }
                    progress.start_phase("sample", lon.len() as u64);
                }
                let set: HashSet<TileId> = covered.keys().copied().collect();
                sample_with(lon, lat, &set, |t| {
                    progress.token().check()?;
                    let (e, s, l) = npy_paths(dir, year, t);
                    EmbeddingTile::open(t, year, &e, &s, Some(&l)).map(Some)
                })?
            }
            (SampleSource::Mirror { .. }, MirrorRoot::Local(root)) => {
                let covered = covered_tiles(reg, lon, lat, year)?;
                let set: HashSet<TileId> = covered.keys().copied().collect();
                let lm_dir = self.dataset.landmask_dir().to_string();
                sample_with(lon, lat, &set, |t| {
                    progress.token().check()?;
                    let e = root.join(keys::embedding(&reg.npy_dir, year, t));
                    let s = root.join(keys::scales(&reg.npy_dir, year, t));
                    let l = root.join(keys::landmask(&lm_dir, t));
                    EmbeddingTile::open(t, year, &e, &s, l.is_file().then_some(l.as_path()))
                        .map(Some)
                })?
            }
            (SampleSource::Mirror { jobs }, MirrorRoot::Http(_)) => {
                crate::runtime()?.block_on(sample_remote(&mirror, reg, year, lon, lat, *jobs))?
            }
        };
        progress.token().check()?;
        progress.set_done(lon.len() as u64);
        if samples.uncovered > 0 {
            progress.warn(format!(
                "{} points fall in tiles without coverage for {year} (their rows are NaN)",
                samples.uncovered
            ));
        }
        if samples.out_of_bounds > 0 {
            progress.warn(format!(
                "{} points fall outside their tile's raster (their rows are NaN)",
                samples.out_of_bounds
            ));
        }
        Ok(samples)
    }
}
