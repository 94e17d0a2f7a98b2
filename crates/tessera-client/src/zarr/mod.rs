//! The Zarr v3 embedding stores (layout B): opening a store from its consolidated metadata,
//! reading shard indexes (once, cached in memory and on disk) and coalesced inner-chunk
//! ranges, routing points and regions onto zone grids, and building stores from NPY tiles.
//!
//! Requests: the root `zarr.json` and one `time` chunk at open; then one suffix read per
//! shard index and one range read per group of neighbouring inner chunks. Chunk reads send
//! `If-Match` with the ETag seen with the index, so a shard replaced since its index was
//! cached answers 412 and the index is fetched again instead of returning other bytes.

pub mod build;
pub mod export;
pub mod points;
pub mod region;
pub mod verify;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::Value;
use tessera_formats::zarr::{ArrayMeta, ShardIndex, ZoneGrid};
use tokio::sync::{OnceCell, Semaphore};

use crate::error::{ClientError, Result};
use crate::mirror::{Mirror, MirrorRoot, Span};

pub use points::{Probe, Status};
pub use region::{Block, RegionWindow};

/// Most entries of a zone's `time` axis (one per year).
pub const MAX_TIME_ENTRIES: u64 = 1000;
/// Most requests spent reading one coordinate array.
pub const MAX_COORD_CHUNKS: u64 = 64;

/// How to read a store.
#[derive(Debug, Clone)]
pub struct ZarrOptions {
    /// Cache root for shard indexes (see [`crate::registry::cache_dir`]); `None` keeps
    /// them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Largest gap (bytes) between two inner chunks read in one request.
    pub max_gap: u64,
    /// Largest single range request (bytes).
    pub max_request: u64,
    /// Stall, deadline and redirect guards of the HTTP client.
    pub http: crate::mirror::HttpConfig,
}

impl Default for ZarrOptions {
    fn default() -> Self {
        ZarrOptions {
            cache_dir: None,
            concurrency: 16,
            max_gap: 32 * 1024,
            max_request: 32 << 20,
            http: crate::mirror::HttpConfig::default(),
        }
    }
}

/// One zone group.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The grid.
    pub grid: ZoneGrid,
    /// `embeddings` (full depth).
    pub emb: ArrayMeta,
    /// `scales`.
    pub scales: ArrayMeta,
    /// Nested-depth arrays: (depth, metadata), ascending.
    pub depths: Vec<(usize, ArrayMeta)>,
    /// NaN scales mean "no embedding at source" rather than water.
    pub source_nodata: bool,
    /// The group's attributes.
    pub attrs: Value,
    time: Option<ArrayMeta>,
}

impl Zone {
    /// Bands of the full-depth array.
    pub fn bands(&self) -> usize {
        self.emb.shape[1] as usize
    }

    /// The array holding the first `depth` bands (the full array when `None`).
    pub fn depth_array(&self, depth: Option<usize>) -> Result<&ArrayMeta> {
        match depth {
            None => Ok(&self.emb),
            Some(d) if d == self.bands() => Ok(&self.emb),
            Some(d) => self
                .depths
                .iter()
                .find(|(k, _)| *k == d)
                .map(|(_, a)| a)
                .ok_or_else(|| {
                    let have: Vec<String> = self
                        .depths
                        .iter()
                        .map(|(k, _)| k.to_string())
                        .chain([self.bands().to_string()])
                        .collect();
                    ClientError::Usage(format!(
                        "depth {d} is not in this store (depths: {})",
                        have.join(", ")
                    ))
                }),
        }
    }
}

/// Request counters of a store (since open).
#[derive(Debug, Default)]
pub struct IoStats {
    /// Requests (or local reads).
    pub requests: AtomicU64,
    /// Bytes received.
    pub bytes: AtomicU64,
    /// Shard-index reads.
    pub index_requests: AtomicU64,
    /// Shard indexes served from the disk cache.
    pub index_disk_hits: AtomicU64,
}

impl IoStats {
    fn add(&self, bytes: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// (requests, bytes).
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// A shard's index and the ETag it was read with.
#[derive(Debug)]
pub struct ShardEntry {
    /// The index.
    pub index: ShardIndex,
    /// ETag of the shard object.
    pub etag: Option<String>,
}

type IndexSlot = Arc<OnceCell<Option<Arc<ShardEntry>>>>;

/// An open store.
pub struct ZarrStore {
    mirror: Mirror,
    location: String,
    /// Root attributes.
    pub root_attrs: Value,
    zones: BTreeMap<u8, Zone>,
    years: Vec<i32>,
    zone_times: Mutex<HashMap<u8, Vec<i32>>>,
    indexes: Mutex<HashMap<String, IndexSlot>>,
    sem: Arc<Semaphore>,
    /// Request counters.
    pub stats: IoStats,
    opts: ZarrOptions,
    disk_dir: Option<PathBuf>,
}

fn meta_err(e: tessera_formats::zarr::ZarrError) -> ClientError {
    ClientError::Format(e.to_string())
}

fn corrupt(what: &str, message: String) -> ClientError {
    ClientError::Integrity {
        url: what.to_string(),
        message,
    }
}

impl ZarrStore {
    /// Opens a store (local path, http(s) URL or `s3://bucket/prefix`) from the
    /// consolidated metadata in its root `zarr.json`.
    pub async fn open(location: &str, opts: ZarrOptions) -> Result<ZarrStore> {
        let root = MirrorRoot::parse(location).map_err(|e| match e {
            ClientError::Usage(m) => ClientError::Usage(m.replace("mirror", "store")),
            other => other,
        })?;
        let mirror = Mirror::with_config(root, opts.http)?;
        Self::open_with(mirror, location, opts).await
    }

    /// Opens a store through an existing mirror client.
    pub async fn open_with(mirror: Mirror, location: &str, opts: ZarrOptions) -> Result<ZarrStore> {
        let stats = IoStats::default();
        let body = match mirror
            .get("zarr.json", crate::mirror::MAX_METADATA_BYTES)
            .await
        {
            Ok(b) => b,
            Err(ClientError::NotFound { url }) => {
                return Err(ClientError::Usage(format!(
                    "no Zarr store at {location}: {url} does not exist; check the store URL or path"
                )));
            }
            Err(e) => return Err(e),
        };
        stats.add(body.len());
        let root: Value = serde_json::from_slice(&body).map_err(|e| {
            ClientError::Format(format!("{location}/zarr.json is not valid JSON: {e}"))
        })?;
        if root["zarr_format"].as_u64() != Some(3) || root["node_type"] != "group" {
            return Err(ClientError::Format(format!(
                "{location}/zarr.json is not a Zarr v3 group"
            )));
        }
        let mut docs: BTreeMap<String, Value> = BTreeMap::new();
        match root["consolidated_metadata"]["metadata"].as_object() {
            Some(m) => {
                for (k, v) in m {
                    docs.insert(k.clone(), v.clone());
                }
            }
            None => {
                // Without consolidated metadata only a local store can be explored.
                let Some(dir) = mirror.root.local_path("") else {
                    return Err(ClientError::Format(format!(
                        "{location}/zarr.json has no consolidated metadata, and an HTTP store cannot be listed; consolidate the store"
                    )));
                };
                for z in 1..=60u8 {
                    let g = tessera_formats::zarr::zone_group(z);
                    for name in [
                        "",
                        "/embeddings",
                        "/scales",
                        "/time",
                        "/embeddings_d4",
                        "/embeddings_d16",
                    ] {
                        let p = dir.join(format!("{g}{name}/zarr.json"));
                        if let Ok(b) = std::fs::read(&p) {
                            let v: Value = serde_json::from_slice(&b).map_err(|e| {
                                ClientError::Format(format!("{}: {e}", p.display()))
                            })?;
                            docs.insert(format!("{g}{name}"), v);
                        }
                    }
                }
            }
        }
        let mut zones = BTreeMap::new();
        for z in 1..=60u8 {
            let g = tessera_formats::zarr::zone_group(z);
            let Some(group) = docs.get(&g) else { continue };
            zones.insert(z, parse_zone(z, group, &docs, location)?);
        }
        if zones.is_empty() {
            return Err(ClientError::Format(format!(
                "{location} has no utmNN zone groups; is it a TESSERA embeddings store?"
            )));
        }
        let disk_dir = match (&opts.cache_dir, &mirror.root) {
            (Some(c), MirrorRoot::Http(_)) => Some(c.join("zarr-index").join(mirror.root.slug())),
            _ => None,
        };
        let store = ZarrStore {
            sem: Arc::new(Semaphore::new(opts.concurrency.max(1))),
            mirror,
            location: location.to_string(),
            root_attrs: root["attributes"].clone(),
            zones,
            years: Vec::new(),
            zone_times: Mutex::new(HashMap::new()),
            indexes: Mutex::new(HashMap::new()),
            stats,
            opts,
            disk_dir,
        };
        let first = *store.zones.keys().next().expect("one zone");
        let years = store.zone_times(first).await?;
        Ok(ZarrStore { years, ..store })
    }

    /// Where the store is.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The mirror client.
    pub fn mirror(&self) -> &Mirror {
        &self.mirror
    }

    /// Zone numbers with a group.
    pub fn zone_numbers(&self) -> Vec<u8> {
        self.zones.keys().copied().collect()
    }

    /// A zone group.
    pub fn zone(&self, z: u8) -> Option<&Zone> {
        self.zones.get(&z)
    }

    /// The years on the time axis (of the first zone).
    pub fn years(&self) -> &[i32] {
        &self.years
    }

    /// `geoemb:model`'s version (the last path segment).
    pub fn model_version(&self) -> String {
        self.root_attrs["geoemb:model"]
            .as_str()
            .map(|m| m.rsplit('/').next().unwrap_or(m).to_string())
            .unwrap_or_default()
    }

    /// `geoemb:build_version`.
    pub fn build_version(&self) -> String {
        self.root_attrs["geoemb:build_version"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The error for a region that meets no zone grid: what the store covers instead.
    pub fn no_region(&self, bbox: &tessera_core::Bbox) -> ClientError {
        let zones: Vec<String> = self
            .zones
            .values()
            .map(|z| {
                let g = z.grid;
                let (x0, y0) = (g.origin_x, g.origin_y);
                let crs = tessera_core::Crs::Utm {
                    zone: g.zone,
                    north: true,
                };
                let (lon0, lat1) = crs.inverse(x0, y0);
                let (lon1, lat0) =
                    crs.inverse(x0 + 10.0 * g.width as f64, y0 - 10.0 * g.height as f64);
                format!(
                    "{} (about {lon0:.2},{lat0:.2},{lon1:.2},{lat1:.2})",
                    g.group()
                )
            })
            .collect();
        let (w, s, e, n) = (bbox.west, bbox.south, bbox.east, bbox.north);
        let swapped =
            tessera_core::Bbox::new(s, w, n, e).is_ok_and(|b| !self.region_windows(&b).is_empty());
        ClientError::NoData(format!(
            "region {bbox} meets none of the zone grids of {}: {}{}",
            self.location,
            zones.join(", "),
            if swapped {
                "; with longitude and latitude swapped it would: the bbox is W,S,E,N (longitudes first)"
            } else {
                ""
            }
        ))
    }

    /// Index of `year` on zone `z`'s time axis.
    pub async fn time_index(&self, z: u8, year: i32) -> Result<usize> {
        let times = self.zone_times(z).await?;
        times.iter().position(|&y| y == year).ok_or_else(|| {
            let list: Vec<String> = times.iter().map(|y| y.to_string()).collect();
            ClientError::NoData(format!(
                "year {year} is not in {} (it has {}; pass --year)",
                self.location,
                list.join(", ")
            ))
        })
    }

    /// The years of zone `z` (its `time` array).
    pub async fn zone_times(&self, z: u8) -> Result<Vec<i32>> {
        if let Some(t) = self.zone_times.lock().expect("times").get(&z) {
            return Ok(t.clone());
        }
        let zone = self
            .zone(z)
            .ok_or_else(|| ClientError::Usage(format!("no zone {z}")))?;
        // Zones with the same time length as one already read share its values: years
        // are appended to every zone together.
        let n = zone.emb.shape[0];
        let same = {
            let known = self.zone_times.lock().expect("times");
            known.values().find(|t| t.len() as u64 == n).cloned()
        };
        let times = match (same, &zone.time) {
            (Some(t), _) => t,
            (None, Some(meta)) => {
                self.read_coord_i32(&format!("{}/time", zone.grid.group()), meta)
                    .await?
            }
            (None, None) => {
                return Err(ClientError::Format(format!(
                    "{}: zone {} has no time array",
                    self.location,
                    zone.grid.group()
                )));
            }
        };
        if times.len() as u64 != n {
            return Err(ClientError::Format(format!(
                "{}: {}/time has {} entries but the embeddings have {n} years",
                self.location,
                zone.grid.group(),
                times.len()
            )));
        }
        self.zone_times
            .lock()
            .expect("times")
            .insert(z, times.clone());
        Ok(times)
    }

    async fn read_coord_i32(&self, path: &str, meta: &ArrayMeta) -> Result<Vec<i32>> {
        let len = meta.shape.first().copied().unwrap_or(0);
        let per = meta.chunk[0];
        let chain = meta.chain.as_ref().ok_or_else(|| {
            ClientError::Format(format!(
                "{path}: a sharded coordinate array is not supported"
            ))
        })?;
        if len > MAX_TIME_ENTRIES || len.div_ceil(per) > MAX_COORD_CHUNKS {
            return Err(ClientError::Format(format!(
                "{}/{path}: a time axis of {len} entries in chunks of {per} (at most {MAX_TIME_ENTRIES} entries in {MAX_COORD_CHUNKS} chunks); not a TESSERA store",
                self.location
            )));
        }
        let mut out = Vec::with_capacity(len as usize);
        for c in 0..len.div_ceil(per) {
            let key = format!("{path}/{}", meta.chunk_key(&[c]));
            let n = per.min(len - c * per) as usize;
            let cap = 2 * per * meta.dtype.size() as u64 + (64 << 10);
            match self.mirror.get(&key, cap).await {
                Ok(b) => {
                    self.stats.add(b.len());
                    let raw = chain
                        .decode(
                            &b,
                            per as usize * meta.dtype.size(),
                            meta.dtype.size(),
                            &key,
                        )
                        .map_err(|e| corrupt(&key, e.to_string()))?;
                    match meta.dtype {
                        tessera_formats::zarr::ZType::I32 => out.extend(
                            raw.chunks_exact(4)
                                .take(n)
                                .map(|b| i32::from_le_bytes(b.try_into().expect("4"))),
                        ),
                        tessera_formats::zarr::ZType::I64 => out.extend(
                            raw.chunks_exact(8)
                                .take(n)
                                .map(|b| i64::from_le_bytes(b.try_into().expect("8")) as i32),
                        ),
                        other => {
                            return Err(ClientError::Format(format!(
                                "{path}: time array of type {other:?}, expected int32"
                            )));
                        }
                    }
                }
                Err(ClientError::NotFound { .. }) => {
                    self.stats.add(0);
                    out.extend(std::iter::repeat_n(meta.fill as i32, n));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn disk_path(&self, key: &str) -> Option<PathBuf> {
        let d = self.disk_dir.as_ref()?;
        tessera_formats::safe_fs::join_under(d, &format!("{key}.idx")).ok()
    }

    fn load_disk_index(&self, key: &str, meta: &ArrayMeta) -> Option<ShardEntry> {
        let p = self.disk_path(key)?;
        let cap = meta.index_len() + 4096;
        let b = tessera_formats::safe_fs::read_capped_nofollow(&p, cap).ok()?;
        let rest = b.strip_prefix(b"TZIX1\n")?;
        let nl = rest.iter().position(|&c| c == b'\n')?;
        let etag = std::str::from_utf8(&rest[..nl]).ok()?.to_string();
        let sh = meta.sharding.as_ref()?;
        let index =
            ShardIndex::parse(&rest[nl + 1..], meta.inner_count(), sh.index_crc, None, key).ok()?;
        Some(ShardEntry {
            index,
            etag: Some(etag),
        })
    }

    fn save_disk_index(&self, key: &str, e: &ShardEntry, raw: &[u8]) {
        let (Some(p), Some(etag)) = (self.disk_path(key), e.etag.as_deref()) else {
            return;
        };
        if etag.contains('\n') {
            return;
        }
        let (Some(dir), Some(root)) = (p.parent(), self.disk_dir.as_ref()) else {
            return;
        };
        if tessera_formats::safe_fs::ensure_dir(root, dir).is_err() {
            return;
        }
        let _ = tessera_formats::atomic::write_atomic(&p, |w| {
            use std::io::Write;
            w.write_all(b"TZIX1\n")?;
            w.write_all(etag.as_bytes())?;
            w.write_all(b"\n")?;
            w.write_all(raw)
        });
    }

    fn forget_index(&self, key: &str) {
        self.indexes.lock().expect("indexes").remove(key);
        if let Some(p) = self.disk_path(key) {
            let _ = std::fs::remove_file(p);
        }
    }

    /// The index of shard `key` (an object key under the store); `None` when the shard
    /// does not exist (every chunk is fill). Fetched once (one suffix read) and cached.
    pub async fn shard_index(
        &self,
        meta: &ArrayMeta,
        key: &str,
    ) -> Result<Option<Arc<ShardEntry>>> {
        let slot = {
            let mut m = self.indexes.lock().expect("indexes");
            m.entry(key.to_string()).or_default().clone()
        };
        let v = slot
            .get_or_try_init(|| async {
                if let Some(e) = self.load_disk_index(key, meta) {
                    self.stats.index_disk_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(Arc::new(e)));
                }
                self.fetch_index(meta, key).await
            })
            .await?;
        Ok(v.clone())
    }

    async fn fetch_index(&self, meta: &ArrayMeta, key: &str) -> Result<Option<Arc<ShardEntry>>> {
        let sh = meta
            .sharding
            .as_ref()
            .ok_or_else(|| ClientError::Format(format!("{}: not a sharded array", meta.path)))?;
        let n = meta.inner_count();
        let len = meta.index_len();
        let mut attempt = 0;
        loop {
            let body = {
                let _permit = self.sem.acquire().await.expect("semaphore");
                self.stats.index_requests.fetch_add(1, Ordering::Relaxed);
                let span = if sh.index_at_end {
                    Span::Suffix(len)
                } else {
                    Span::Bytes(0, len - 1)
                };
                match self.mirror.get_span(key, span, None).await {
                    Ok(b) => b,
                    Err(ClientError::NotFound { .. }) => {
                        self.stats.add(0);
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                }
            };
            self.stats.add(body.bytes.len());
            let shard_len = body.total;
            let data_len =
                shard_len.map(|t| t.saturating_sub(if sh.index_at_end { len } else { 0 }));
            match ShardIndex::parse(
                &body.bytes,
                n,
                sh.index_crc,
                data_len.map(|d| if sh.index_at_end { d } else { d + len }),
                key,
            ) {
                Ok(index) => {
                    let e = ShardEntry {
                        index,
                        etag: body.etag.clone(),
                    };
                    self.save_disk_index(key, &e, &body.bytes);
                    return Ok(Some(Arc::new(e)));
                }
                Err(err) => {
                    attempt += 1;
                    if attempt >= self.mirror.http.retry.attempts {
                        return Err(corrupt(&self.mirror.root.locate(key), err.to_string()));
                    }
                    tokio::time::sleep(self.mirror.http.retry.delay(attempt - 1, None)).await;
                }
            }
        }
    }

    /// Reads and decodes inner chunks `ids` of shard `key`: (id, raw little-endian bytes)
    /// for the chunks present; absent ones (and a missing shard) are left out.
    pub async fn read_chunks(
        &self,
        meta: &ArrayMeta,
        key: &str,
        ids: &[usize],
    ) -> Result<Vec<(usize, Vec<u8>)>> {
        let mut tries = 0;
        loop {
            let Some(entry) = self.shard_index(meta, key).await? else {
                return Ok(Vec::new());
            };
            match self.read_chunks_with(meta, key, ids, &entry).await {
                Err(ClientError::Http { status: 412, .. }) if tries < 2 => {
                    // The shard changed since its index was read.
                    tries += 1;
                    self.forget_index(key);
                }
                other => return other,
            }
        }
    }

    async fn read_chunks_with(
        &self,
        meta: &ArrayMeta,
        key: &str,
        ids: &[usize],
        entry: &ShardEntry,
    ) -> Result<Vec<(usize, Vec<u8>)>> {
        let trailer = if meta.chunk_crc { 4 } else { 0 };
        let mut want: Vec<(u64, u64, usize)> = ids
            .iter()
            .filter_map(|&i| entry.index.get(i).map(|(o, n)| (o, n, i)))
            .collect();
        want.sort_unstable();
        want.dedup();
        let groups = plan_ranges(&want, trailer, self.opts.max_gap, self.opts.max_request);
        if let Some(path) = self.mirror.root.local_path(key) {
            return self
                .read_local_groups(meta, key, path, groups, trailer)
                .await;
        }
        let futs = groups
            .into_iter()
            .map(|g| self.read_group(meta, key, g, trailer, entry));
        let parts = futures_util::future::try_join_all(futs).await?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// A local store's groups, read and decoded in one blocking task on every core: a
    /// 1,000-point read has hundreds of small groups, and a task (two thread hand-offs)
    /// per read and per decode cost more than the reads. Local files do not change under
    /// a read (they are replaced by rename), so a corrupt chunk is an error at once.
    async fn read_local_groups(
        &self,
        meta: &ArrayMeta,
        key: &str,
        path: PathBuf,
        groups: Vec<Vec<(u64, u64, usize)>>,
        trailer: u64,
    ) -> Result<Vec<(usize, Vec<u8>)>> {
        use rayon::prelude::*;
        let m = meta.clone();
        let k = key.to_string();
        let url = self.mirror.root.locate(key);
        let parts = tokio::task::spawn_blocking(move || {
            groups
                .par_iter()
                .map(|g| {
                    let start = g[0].0;
                    let end = g
                        .iter()
                        .map(|&(o, n, _)| o + n + trailer)
                        .max()
                        .expect("non-empty")
                        - 1;
                    let body = crate::mirror::read_local_span(&path, Span::Bytes(start, end))?;
                    let got = decode_group(&m, &k, g, start, trailer, &body.bytes)
                        .map_err(|e| corrupt(&url, e))?;
                    Ok((body.bytes.len(), got))
                })
                .collect::<Result<Vec<_>>>()
        })
        .await
        .map_err(|e| ClientError::Format(format!("read task failed: {e}")))??;
        let mut out = Vec::new();
        for (n, got) in parts {
            self.stats.add(n);
            out.extend(got);
        }
        Ok(out)
    }

    async fn read_group(
        &self,
        meta: &ArrayMeta,
        key: &str,
        group: Vec<(u64, u64, usize)>,
        trailer: u64,
        entry: &ShardEntry,
    ) -> Result<Vec<(usize, Vec<u8>)>> {
        let start = group[0].0;
        let end = group
            .iter()
            .map(|&(o, n, _)| o + n + trailer)
            .max()
            .expect("non-empty")
            - 1;
        let url = self.mirror.root.locate(key);
        let mut attempt = 0;
        loop {
            let body = {
                let _permit = self.sem.acquire().await.expect("semaphore");
                self.mirror
                    .get_span(key, Span::Bytes(start, end), entry.etag.as_deref())
                    .await?
            };
            self.stats.add(body.bytes.len());
            if let (Some(seen), Some(now)) = (&entry.etag, &body.etag)
                && seen != now
            {
                return Err(ClientError::Http {
                    url,
                    status: 412,
                    hint: String::new(),
                });
            }
            let m = meta.clone();
            let g = group.clone();
            let k = key.to_string();
            let decoded = tokio::task::spawn_blocking(move || {
                decode_group(&m, &k, &g, start, trailer, &body.bytes)
            })
            .await
            .map_err(|e| ClientError::Format(format!("decode task failed: {e}")))?;
            match decoded {
                Ok(v) => return Ok(v),
                Err(e) => {
                    attempt += 1;
                    if attempt >= self.mirror.http.retry.attempts {
                        return Err(corrupt(&url, e));
                    }
                    tokio::time::sleep(self.mirror.http.retry.delay(attempt - 1, None)).await;
                }
            }
        }
    }
}

fn decode_group(
    meta: &ArrayMeta,
    key: &str,
    group: &[(u64, u64, usize)],
    start: u64,
    trailer: u64,
    bytes: &Bytes,
) -> std::result::Result<Vec<(usize, Vec<u8>)>, String> {
    use rayon::prelude::*;
    let sh = meta.sharding.as_ref().expect("sharded");
    // One request can hold thousands of inner chunks: they are decoded on every core.
    group
        .par_iter()
        .map(|&(o, n, i)| {
            let a = (o - start) as usize;
            let b = a + n as usize;
            let chunk = &bytes[a..b];
            if trailer > 0 {
                let sum = u32::from_le_bytes(bytes[b..b + 4].try_into().expect("4"));
                if crc32c::crc32c(chunk) != sum {
                    return Err(format!("inner chunk {i}: crc32c mismatch"));
                }
            }
            let raw = sh
                .chain
                .decode(
                    chunk,
                    meta.inner_bytes(),
                    meta.dtype.size(),
                    &format!("{key} chunk {i}"),
                )
                .map_err(|e| e.to_string())?;
            Ok((i, raw))
        })
        .collect()
}

/// Groups sorted chunk ranges `(offset, len, id)` into requests: neighbours closer than
/// `max_gap` share a request while the gap bytes stay under a tenth of the wanted bytes
/// and a request stays under `max_request`.
pub fn plan_ranges(
    want: &[(u64, u64, usize)],
    trailer: u64,
    max_gap: u64,
    max_request: u64,
) -> Vec<Vec<(u64, u64, usize)>> {
    let needed: u64 = want.iter().map(|w| w.1 + trailer).sum();
    let mut budget = needed / 10;
    let mut out: Vec<Vec<(u64, u64, usize)>> = Vec::new();
    let mut end = 0u64;
    let mut first = 0u64;
    for &w in want {
        let (o, n, _) = w;
        let gap = o.saturating_sub(end);
        let fits = !out.is_empty()
            && gap <= max_gap
            && gap <= budget
            && o + n + trailer - first <= max_request;
        if fits {
            budget -= gap;
            out.last_mut().expect("group").push(w);
        } else {
            out.push(vec![w]);
            first = o;
        }
        end = end.max(o + n + trailer);
    }
    out
}

fn parse_zone(
    z: u8,
    group: &Value,
    docs: &BTreeMap<String, Value>,
    location: &str,
) -> Result<Zone> {
    let g = tessera_formats::zarr::zone_group(z);
    let attrs = group["attributes"].clone();
    let bad = |m: String| ClientError::Format(format!("{location}/{g}: {m}"));
    let code = attrs["proj:code"].as_str().unwrap_or("");
    let expect = format!("EPSG:{}", 32600 + u32::from(z));
    if code != expect {
        return Err(bad(format!(
            "proj:code is '{code}', expected {expect} (layout B stores use 326NN for both hemispheres)"
        )));
    }
    let t: Vec<f64> = attrs["spatial:transform"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    if t.len() != 6 || t[0] != 10.0 || t[1] != 0.0 || t[3] != 0.0 || t[4] != -10.0 {
        return Err(bad(format!(
            "spatial:transform {t:?} is not a 10 m north-up grid"
        )));
    }
    let array = |name: &str| -> Result<Option<ArrayMeta>> {
        let path = format!("{g}/{name}");
        docs.get(&path)
            .map(|d| ArrayMeta::parse(d, &format!("{location}/{path}")).map_err(meta_err))
            .transpose()
    };
    let emb = array("embeddings")?.ok_or_else(|| bad("no embeddings array".into()))?;
    let scales = array("scales")?.ok_or_else(|| bad("no scales array".into()))?;
    if emb.shape.len() != 4 || scales.shape.len() != 3 {
        return Err(bad(
            "embeddings must be (time, band, y, x) and scales (time, y, x)".into(),
        ));
    }
    if emb.shape[0] != scales.shape[0] || emb.shape[2..] != scales.shape[1..] {
        return Err(bad(format!(
            "embeddings {:?} and scales {:?} do not share a grid",
            emb.shape, scales.shape
        )));
    }
    for a in [&emb, &scales] {
        if a.sharding.is_none() {
            return Err(bad(format!("{} is not sharded", a.path)));
        }
        if a.chunk[0] != 1 {
            return Err(bad(format!("{} has more than one year per shard", a.path)));
        }
    }
    if emb.chunk[1] != emb.shape[1] || emb.chunk[2..] != scales.chunk[1..] {
        return Err(bad("embeddings and scales shards differ".into()));
    }
    if emb.shape[1] == 0 || emb.shape[1] > 1024 {
        return Err(bad(format!(
            "embeddings with {} bands (TESSERA stores have 128)",
            emb.shape[1]
        )));
    }
    if emb.shape[0] > MAX_TIME_ENTRIES {
        return Err(bad(format!(
            "{} years on the time axis (at most {MAX_TIME_ENTRIES})",
            emb.shape[0]
        )));
    }
    let (h, w) = (emb.shape[2], emb.shape[3]);
    let mut depths = Vec::new();
    for d in [4usize, 16] {
        if let Some(a) = array(&format!("embeddings_d{d}"))? {
            depths.push((d, a));
        }
    }
    Ok(Zone {
        grid: ZoneGrid {
            zone: z,
            origin_x: t[2],
            origin_y: t[5],
            height: h,
            width: w,
        },
        emb,
        scales,
        depths,
        source_nodata: attrs["geotessera:mask_source"].as_str() == Some("source_nodata"),
        attrs,
        time: array("time")?,
    })
}

/// The shard key of `array` in `zone` for year index `t` and shard (sr, sc).
pub fn shard_key(zone: &Zone, meta: &ArrayMeta, t: usize, sr: u64, sc: u64) -> String {
    let name = meta.path.rsplit('/').next().unwrap_or("embeddings");
    let coords: Vec<u64> = if meta.shape.len() == 4 {
        vec![t as u64, 0, sr, sc]
    } else {
        vec![t as u64, sr, sc]
    };
    format!("{}/{name}/{}", zone.grid.group(), meta.chunk_key(&coords))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_grouped_within_budget() {
        // ten chunks of 100 bytes, contiguous: one request
        let w: Vec<(u64, u64, usize)> = (0..10).map(|i| (i * 100, 100, i as usize)).collect();
        assert_eq!(plan_ranges(&w, 0, 32768, 1 << 30).len(), 1);
        // with 4-byte trailers, still contiguous
        let w: Vec<(u64, u64, usize)> = (0..10).map(|i| (i * 104, 100, i as usize)).collect();
        assert_eq!(plan_ranges(&w, 4, 32768, 1 << 30).len(), 1);
        // gaps larger than max_gap split
        let w = vec![(0, 100, 0), (100_000, 100, 1)];
        assert_eq!(plan_ranges(&w, 0, 32768, 1 << 30).len(), 2);
        // a gap within max_gap but over a tenth of the wanted bytes splits
        let w = vec![(0, 100, 0), (1000, 100, 1)];
        assert_eq!(plan_ranges(&w, 0, 32768, 1 << 30).len(), 2);
        let w = vec![(0, 10_000, 0), (10_500, 10_000, 1)];
        assert_eq!(plan_ranges(&w, 0, 32768, 1 << 30).len(), 1);
        // max_request caps a group
        let w: Vec<(u64, u64, usize)> = (0..10).map(|i| (i * 100, 100, i as usize)).collect();
        assert_eq!(plan_ranges(&w, 0, 32768, 250).len(), 5);
    }
}
