//! What a store holds, zone by zone (`tessera info --store`).

use serde::Serialize;
use serde_json::Value;

use super::Store;

/// Shape and chunking of one array.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArraySummary {
    /// Shape (`time, band, y, x` for embeddings).
    pub shape: Vec<u64>,
    /// Shard shape.
    pub shard: Vec<u64>,
    /// Inner chunk shape (sharded arrays).
    pub inner: Option<Vec<u64>>,
    /// Whether each inner chunk is followed by its CRC32C.
    pub chunk_crc32c: bool,
}

/// Shape of the scales array.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScalesSummary {
    /// Shape (`time, y, x`).
    pub shape: Vec<u64>,
}

/// One zone group of a store.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoneSummary {
    /// The UTM zone.
    pub zone: u8,
    /// Its group, `utmNN`.
    pub group: String,
    /// `"EPSG:326NN"`.
    pub crs: String,
    /// `[rows, columns]` of the grid.
    pub shape: [u64; 2],
    /// `[10, 0, origin_x, 0, -10, origin_y]`.
    pub transform: [f64; 6],
    /// `[shard rows, shard columns]`.
    pub shards: [u64; 2],
    /// The full-depth embeddings array.
    pub embeddings: ArraySummary,
    /// The scales array.
    pub scales: ScalesSummary,
    /// The nested depths besides the full one.
    pub depths: Vec<usize>,
    /// `geotessera:mask_source` (`source_nodata`: NaN scales mean "no embedding").
    pub mask_source: Value,
}

impl Store {
    /// A summary of every zone group, ascending.
    pub fn zone_summaries(&self) -> Vec<ZoneSummary> {
        self.inner
            .zone_numbers()
            .into_iter()
            .filter_map(|z| self.inner.zone(z))
            .map(|zone| {
                let g = zone.grid;
                ZoneSummary {
                    zone: g.zone,
                    group: g.group(),
                    crs: format!("EPSG:{}", g.epsg()),
                    shape: [g.height, g.width],
                    transform: g.transform(),
                    shards: [g.height / 4096, g.width / 4096],
                    embeddings: ArraySummary {
                        shape: zone.emb.shape.clone(),
                        shard: zone.emb.chunk.clone(),
                        inner: zone.emb.sharding.as_ref().map(|s| s.inner.clone()),
                        chunk_crc32c: zone.emb.chunk_crc,
                    },
                    scales: ScalesSummary {
                        shape: zone.scales.shape.clone(),
                    },
                    depths: zone.depths.iter().map(|(d, _)| *d).collect(),
                    mask_source: zone.attrs["geotessera:mask_source"].clone(),
                }
            })
            .collect()
    }

    /// The attributes of zone `z`'s group, as written in the store (`proj:code`,
    /// `spatial:*`, `geoemb:*`, `geotessera:*`); `None` for a zone not in the store.
    pub fn zone_attrs(&self, z: u8) -> Option<Value> {
        self.inner.zone(z).map(|zone| zone.attrs.clone())
    }
}
