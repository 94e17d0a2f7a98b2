//! Points on a store: one point's status and vector, and many points packed into one
//! `N x B` buffer with NaN rows and a status per point.

use std::collections::BTreeMap;

use tessera_client::Result;

use super::{PointOptions, Probe, Status, Store};
use crate::Progress;

/// Points per batch: progress and cancellation are checked between batches, which are
/// large enough that neighbouring points still share their requests.
const BATCH: usize = 65_536;

/// The embeddings of N points, in the order given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    /// `N x bands` values, row-major; a NaN row where the status is not valid.
    pub values: Vec<f32>,
    /// Values per point (the depth read).
    pub bands: usize,
    /// What each point found.
    pub status: Vec<Status>,
    /// The zone of the pixel read (also for water and nodata; `None` outside).
    pub zone: Vec<Option<u8>>,
    /// The row of the pixel read on its zone grid (the neighbour found for a hole).
    pub row: Vec<u64>,
    /// The column of that pixel.
    pub col: Vec<u64>,
}

impl Samples {
    /// Points.
    pub fn len(&self) -> usize {
        self.status.len()
    }

    /// True without points.
    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
    }

    /// Points per status name (`valid`, `water`, `nodata`, `outside`), in name order.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for s in &self.status {
            *m.entry(s.name()).or_insert(0) += 1;
        }
        m
    }

    /// Points with an embedding.
    pub fn valid(&self) -> usize {
        self.status.iter().filter(|s| **s == Status::Valid).count()
    }

    /// The CRS of point `i`'s pixel, `"EPSG:326NN"`, when it is on a grid.
    pub fn crs(&self, i: usize) -> Option<String> {
        self.zone
            .get(i)
            .copied()
            .flatten()
            .map(|z| format!("EPSG:{}", 32600 + u32::from(z)))
    }
}

impl Store {
    /// One point: its status and, when valid, its vector (the reference's `probe`).
    pub fn probe(&self, lon: f64, lat: f64, year: i32, opts: &PointOptions) -> Result<Probe> {
        let p = self.run(&Progress::new(), self.inner.probe(lon, lat, year, opts))?;
        Ok(p)
    }

    /// One point's vector, NaN when it has none (the reference's `sample_at`).
    pub fn sample_at(
        &self,
        lon: f64,
        lat: f64,
        year: i32,
        opts: &PointOptions,
    ) -> Result<Vec<f32>> {
        let p = self.probe(lon, lat, year, opts)?;
        match p.values {
            Some(v) => Ok(v),
            None => Ok(vec![f32::NAN; self.bands_at(opts.depth)?]),
        }
    }

    /// Many points (lon, lat) for `year` (the reference's `sample_points`): NaN rows for
    /// water, nodata and outside alike, the statuses telling them apart. Reads are
    /// batched by shard and inner chunk; progress counts points; cancellable.
    pub fn sample_points(
        &self,
        pts: &[(f64, f64)],
        year: i32,
        opts: &PointOptions,
        progress: &Progress,
    ) -> Result<Samples> {
        progress.start_phase("points", pts.len() as u64);
        let mut probes: Vec<Probe> = Vec::with_capacity(pts.len());
        for batch in pts.chunks(BATCH) {
            let got = self.run(progress, self.inner.sample_points(batch, year, opts))?;
            probes.extend(got);
            progress.add_done(batch.len() as u64);
        }
        let bands = probes
            .iter()
            .find_map(|p| p.values.as_ref().map(Vec::len))
            .unwrap_or_else(|| {
                self.bands_at(opts.depth)
                    .unwrap_or_else(|_| opts.depth.unwrap_or_else(|| self.n_bands()))
            });
        let mut s = Samples {
            values: Vec::with_capacity(probes.len() * bands),
            bands,
            status: Vec::with_capacity(probes.len()),
            zone: Vec::with_capacity(probes.len()),
            row: Vec::with_capacity(probes.len()),
            col: Vec::with_capacity(probes.len()),
        };
        for p in probes {
            match p.values {
                Some(v) => s.values.extend_from_slice(&v),
                None => s.values.extend(std::iter::repeat_n(f32::NAN, bands)),
            }
            s.status.push(p.status);
            s.zone.push(p.zone);
            s.row.push(p.row);
            s.col.push(p.col);
        }
        Ok(s)
    }
}
