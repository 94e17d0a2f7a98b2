//! Building a layout-B store from NPY tiles, as geotessera's `zarr-init` + `zarr-fill` do:
//! zone grids from the landmask tiles' cell corners, tiles placed by the floor of their
//! offset, later tiles (manifest order) overwriting earlier ones, water (landmask 0) and
//! invalid scales (non-finite, ≤ 0, ≥ 1) stored as NaN, all-fill inner chunks omitted.
//!
//! Work is split into shards (zone, year, shard row, shard col). A shard is done when its
//! `scales` and `embeddings` objects both exist; `embeddings` is written last, so an
//! interrupted shard is redone and a finished one is never rewritten. Shards are written
//! one 32-row band of inner chunks at a time (about 33 MiB per shard in flight, not the
//! 2 GiB shard buffer), through a temporary file renamed into place. Task `i` of `n` takes
//! every shard whose position in the sorted list of all shards is `i` modulo `n`, so
//! machines running different task indexes build disjoint parts of one store.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde_json::Value;
use tessera_core::dataset::keys;
use tessera_core::{Crs, TileGeoref, TileId, utm_zone};
use tessera_formats::geotiff::GeoTiffReader;
use tessera_formats::npy::NpyFile;
use tessera_formats::zarr::{
    self as z, BANDS, CHUNKS_PER_SHARD, CHUNKS_PER_SIDE, CoordType, INNER, SHARD, ShardWriter,
    ZoneGrid,
};

use crate::error::{ClientError, Result};

/// Options of a build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Years to put on the time axis (all years of the manifest when `None`).
    pub years: Option<Vec<i32>>,
    /// Only these zones (all when `None`). The store's metadata still lists every zone.
    pub zones: Option<Vec<u8>>,
    /// Shards written at once.
    pub jobs: usize,
    /// Memory budget in MiB for shards in flight.
    pub memory_mb: u64,
    /// This task's index.
    pub task_index: usize,
    /// Number of tasks.
    pub task_count: usize,
    /// Mask water with the landmasks (else every tile pixel is data).
    pub use_landmask: bool,
    /// `geoemb:model` version.
    pub model_version: String,
    /// `geoemb:build_version`.
    pub build_version: String,
    /// Follow every inner chunk with its CRC32C (outside the indexed ranges).
    pub chunk_crc: bool,
    /// This build's stop request (the process-wide one is honoured as well).
    pub cancel: crate::cancel::Token,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            years: None,
            zones: None,
            jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_mb: 2048,
            task_index: 0,
            task_count: 1,
            use_landmask: true,
            model_version: "1.1".into(),
            build_version: format!("geotessera-rs {}", env!("CARGO_PKG_VERSION")),
            chunk_crc: true,
            cancel: crate::cancel::Token::new(),
        }
    }
}

/// Memory one shard in flight needs (MiB): the band buffers and its encoded chunks.
pub const SHARD_MEMORY_MB: u64 = 40;

/// One tile-year placed on its zone grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// The tile.
    pub tile: TileId,
    /// Its year.
    pub year: i32,
    /// Index of the year on the time axis.
    pub t: usize,
    /// Zone of its centre.
    pub zone: u8,
    /// Row of its top-left pixel on the zone grid.
    pub row: i64,
    /// Column of its top-left pixel.
    pub col: i64,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

/// A shard to write and the tiles that overlap it, in the order they are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Zone.
    pub zone: u8,
    /// Year index.
    pub t: usize,
    /// Shard row.
    pub sr: u64,
    /// Shard column.
    pub sc: u64,
    /// Indexes into [`Plan::tiles`].
    pub tiles: Vec<usize>,
}

/// Everything a build will write.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Zone grids.
    pub grids: BTreeMap<u8, ZoneGrid>,
    /// Years on the time axis.
    pub years: Vec<i32>,
    /// Tile-years placed.
    pub tiles: Vec<Placed>,
    /// Every shard with data, sorted by (zone, year, row, column).
    pub units: Vec<Unit>,
}

/// The grid of `zone` enclosing the 0.1-degree cells of `tiles` (projected with
/// EPSG:326NN): origin floored/ceiled to 10 m, extent padded to whole 4096-pixel shards.
pub fn zone_grid(zone: u8, tiles: &[TileId]) -> ZoneGrid {
    let crs = Crs::from_epsg(32600 + u32::from(zone)).expect("UTM zone");
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for t in tiles {
        let (lon, lat) = (t.lon(), t.lat());
        let (w, e, s, n) = (lon - 0.05, lon + 0.05, lat - 0.05, lat + 0.05);
        for (x, y) in [(w, n), (e, n), (w, s), (e, s)] {
            let (px, py) = crs.forward(x, y);
            x0 = x0.min(px);
            x1 = x1.max(px);
            y0 = y0.min(py);
            y1 = y1.max(py);
        }
    }
    let origin_x = (x0 / 10.0).floor() * 10.0;
    let origin_y = (y1 / 10.0).ceil() * 10.0;
    let right = (x1 / 10.0).ceil() * 10.0;
    let bottom = (y0 / 10.0).floor() * 10.0;
    let w = ((right - origin_x) / 10.0).round_ties_even() as u64;
    let h = ((origin_y - bottom) / 10.0).round_ties_even() as u64;
    let s = SHARD as u64;
    ZoneGrid {
        zone,
        origin_x,
        origin_y,
        height: h.div_ceil(s) * s,
        width: w.div_ceil(s) * s,
    }
}

/// Where a tile's top-left pixel falls on its zone grid (floor of the offset; southern
/// tiles' northings are shifted by −10 000 000 m onto the 326NN axis).
pub fn placement(tile: TileId, g: &ZoneGrid) -> (i64, i64, usize, usize) {
    let geo = TileGeoref::of_tile(tile);
    let e = geo.transform.c;
    let mut n = geo.transform.f;
    if matches!(geo.crs, tessera_core::Crs::Utm { north: false, .. }) {
        n -= 10_000_000.0;
    }
    let col = ((e - g.origin_x) / 10.0).floor() as i64;
    let row = ((g.origin_y - n) / 10.0).floor() as i64;
    (row, col, geo.height, geo.width)
}

/// Plans a build: `grid_tiles` size the zone grids (the landmask tiles, or the embedding
/// tiles without a landmask); `entries` are the tile-years in manifest order.
pub fn plan(
    entries: &[(TileId, i32)],
    grid_tiles: &[TileId],
    years: &[i32],
    zones: Option<&[u8]>,
) -> Result<Plan> {
    let mut by_zone: BTreeMap<u8, Vec<TileId>> = BTreeMap::new();
    for &t in grid_tiles {
        by_zone.entry(utm_zone(t.lon())).or_default().push(t);
    }
    let grids: BTreeMap<u8, ZoneGrid> = by_zone
        .iter()
        .map(|(&zn, ts)| (zn, zone_grid(zn, ts)))
        .collect();
    let mut tiles = Vec::new();
    let mut units: BTreeMap<(u8, usize, u64, u64), Vec<usize>> = BTreeMap::new();
    let mut outside = Vec::new();
    for &(tile, year) in entries {
        let Some(t) = years.iter().position(|&y| y == year) else {
            continue;
        };
        let zn = utm_zone(tile.lon());
        if zones.is_some_and(|zs| !zs.contains(&zn)) {
            continue;
        }
        let Some(g) = grids.get(&zn) else {
            outside.push(tile);
            continue;
        };
        let (row, col, h, w) = placement(tile, g);
        if row < 0 || col < 0 || row + h as i64 > g.height as i64 || col + w as i64 > g.width as i64
        {
            outside.push(tile);
            continue;
        }
        let i = tiles.len();
        tiles.push(Placed {
            tile,
            year,
            t,
            zone: zn,
            row,
            col,
            height: h,
            width: w,
        });
        let s = SHARD as i64;
        for sr in row / s..=(row + h as i64 - 1) / s {
            for sc in col / s..=(col + w as i64 - 1) / s {
                units
                    .entry((zn, t, sr as u64, sc as u64))
                    .or_default()
                    .push(i);
            }
        }
    }
    if !outside.is_empty() {
        let names: Vec<String> = outside.iter().take(5).map(|t| t.name()).collect();
        return Err(ClientError::Format(format!(
            "{} tile(s) fall outside the zone grids computed from the landmask tiles (e.g. {}); the landmask registry does not cover the embeddings — rebuild with --no-landmask or fix the registry",
            outside.len(),
            names.join(", ")
        )));
    }
    Ok(Plan {
        grids,
        years: years.to_vec(),
        tiles,
        units: units
            .into_iter()
            .map(|((zone, t, sr, sc), tiles)| Unit {
                zone,
                t,
                sr,
                sc,
                tiles,
            })
            .collect(),
    })
}

/// The metadata documents and coordinate chunks of a store: (key, bytes).
pub fn metadata_objects(plan: &Plan, opts: &BuildOptions) -> Result<Vec<(String, Vec<u8>)>> {
    let nt = plan.years.len() as u64;
    let mut nodes: Vec<(String, Value)> = Vec::new();
    let mut objects: Vec<(String, Vec<u8>)> = Vec::new();
    let enc = |e: z::ZarrError| ClientError::Format(e.to_string());
    for g in plan.grids.values() {
        let name = g.group();
        nodes.push((name.clone(), z::zone_group_doc(g)));
        nodes.push((
            format!("{name}/embeddings"),
            z::embeddings_doc(nt, g.height, g.width, opts.chunk_crc),
        ));
        nodes.push((
            format!("{name}/scales"),
            z::scales_doc(nt, g.height, g.width, opts.chunk_crc),
        ));
        let xs: Vec<f64> = (0..g.width)
            .map(|i| g.origin_x + (i as f64 + 0.5) * 10.0)
            .collect();
        let ys: Vec<f64> = (0..g.height)
            .map(|j| g.origin_y - (j as f64 + 0.5) * 10.0)
            .collect();
        let times: Vec<i32> = plan.years.clone();
        let bands: Vec<i32> = (0..BANDS as i32).collect();
        let coords: [(&str, CoordType, Vec<u8>); 4] = [
            (
                "x",
                CoordType::F64,
                xs.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (
                "y",
                CoordType::F64,
                ys.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (
                "time",
                CoordType::I32,
                times.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (
                "band",
                CoordType::I32,
                bands.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
        ];
        for (cname, kind, raw) in coords {
            let size = if kind == CoordType::F64 { 8 } else { 4 };
            let len = (raw.len() / size) as u64;
            let doc = z::coord_doc(kind, len, cname);
            let per = z::COORD_CHUNK.min(len.max(1)) as usize * size;
            for (i, part) in raw.chunks(per).enumerate() {
                let mut buf = part.to_vec();
                buf.resize(per, 0);
                objects.push((
                    format!("{name}/{cname}/c/{i}"),
                    z::encode_coord_chunk(&buf, size).map_err(enc)?,
                ));
            }
            nodes.push((format!("{name}/{cname}"), doc));
        }
    }
    for (path, doc) in &nodes {
        objects.push((format!("{path}/zarr.json"), z::to_json_bytes(doc)));
    }
    let root = z::root_doc(
        z::root_attributes(&opts.model_version, &opts.build_version, opts.use_landmask),
        &nodes,
    );
    objects.push(("zarr.json".into(), z::to_json_bytes(&root)));
    Ok(objects)
}

/// Writes the metadata of `plan` under `out`: documents that exist must be identical
/// (another task or an earlier run wrote them); missing ones are written atomically.
pub fn write_metadata(out: &Path, plan: &Plan, opts: &BuildOptions) -> Result<usize> {
    let mut written = 0;
    for (key, bytes) in metadata_objects(plan, opts)? {
        let p = out.join(&key);
        if key.ends_with("zarr.json")
            && let Ok(have) = std::fs::read(&p)
        {
            let a: Option<Value> = serde_json::from_slice(&have).ok();
            let b: Value = serde_json::from_slice(&bytes).expect("our JSON");
            if a.as_ref().map(strip_build_version) != Some(strip_build_version(&b)) {
                return Err(ClientError::Usage(format!(
                    "{} exists with other metadata (another dataset, other years or zones?); build into a new directory",
                    p.display()
                )));
            }
            continue;
        }
        if p.is_file() {
            continue;
        }
        if let Some(d) = p.parent() {
            tessera_formats::safe_fs::ensure_dir(out, d).map_err(|e| ClientError::io(d, e))?;
        }
        tessera_formats::atomic::write_atomic(&p, |w| w.write_all(&bytes))
            .map_err(|e| ClientError::io(&p, e))?;
        written += 1;
    }
    Ok(written)
}

fn strip_build_version(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(a) = v.get_mut("attributes").and_then(Value::as_object_mut) {
        a.remove("geoemb:build_version");
    }
    v
}

/// The object keys of a unit's shards: (embeddings, scales).
pub fn unit_keys(u: &Unit) -> (String, String) {
    let g = z::zone_group(u.zone);
    (
        format!("{g}/embeddings/c/{}/0/{}/{}", u.t, u.sr, u.sc),
        format!("{g}/scales/c/{}/{}/{}", u.t, u.sr, u.sc),
    )
}

/// True when both objects of the unit exist.
pub fn unit_done(out: &Path, u: &Unit) -> bool {
    let (e, s) = unit_keys(u);
    out.join(e).is_file() && out.join(s).is_file()
}

/// Live counters.
#[derive(Debug, Default)]
pub struct BuildProgress {
    /// Shards of this task.
    pub units_total: AtomicUsize,
    /// Shards finished (written or found done).
    pub units_done: AtomicUsize,
    /// Bytes of tile data read (int8 + scales).
    pub bytes_in: AtomicU64,
    /// Bytes of shards written.
    pub bytes_out: AtomicU64,
}

/// What a build did.
#[derive(Debug, Default, Clone)]
pub struct BuildReport {
    /// Shards in the whole store.
    pub units_all: usize,
    /// Shards of this task.
    pub units_task: usize,
    /// Shards written now.
    pub written: usize,
    /// Shards already complete.
    pub skipped: usize,
    /// Tile data read (bytes).
    pub bytes_in: u64,
    /// Shard bytes written.
    pub bytes_out: u64,
    /// Wall time of the shard writing.
    pub seconds: f64,
    /// Warnings (missing or unreadable landmasks).
    pub warnings: Vec<String>,
}

/// Where the tiles are: a directory with the mirror's key layout.
#[derive(Debug, Clone)]
pub struct TileRoot {
    /// The directory.
    pub root: PathBuf,
    /// `npy/` directory name of the dataset.
    pub npy_dir: String,
    /// Landmask directory name (`v1.1`, …).
    pub landmask_dir: String,
}

impl TileRoot {
    fn embedding(&self, year: i32, t: TileId) -> PathBuf {
        self.root.join(keys::embedding(&self.npy_dir, year, t))
    }

    fn scales(&self, year: i32, t: TileId) -> PathBuf {
        self.root.join(keys::scales(&self.npy_dir, year, t))
    }

    fn landmask(&self, t: TileId) -> PathBuf {
        self.root.join(keys::landmask(&self.landmask_dir, t))
    }
}

struct OpenTile {
    emb: NpyFile,
    scales: NpyFile,
    mask: Option<Vec<u8>>,
}

fn open_tile(
    src: &TileRoot,
    p: &Placed,
    landmask: bool,
    warnings: &std::sync::Mutex<Vec<String>>,
) -> Result<OpenTile> {
    let fmt = |e: tessera_formats::npy::NpyError| ClientError::Format(e.to_string());
    let ep = src.embedding(p.year, p.tile);
    let sp = src.scales(p.year, p.tile);
    let emb = NpyFile::open(&ep).map_err(fmt)?;
    emb.expect::<i8>(3, Some(BANDS)).map_err(fmt)?;
    let scales = NpyFile::open(&sp).map_err(fmt)?;
    scales.expect::<f32>(2, None).map_err(|e| {
        ClientError::Format(format!(
            "{e} (stores hold one scale per pixel; per-band scales cannot be stored)"
        ))
    })?;
    let (h, w) = (p.height, p.width);
    if emb.shape()[..2] != [h, w] || scales.shape() != [h, w] {
        return Err(ClientError::Format(format!(
            "{}: shape {:?} (scales {:?}) differs from the tile's grid {h}x{w}",
            ep.display(),
            emb.shape(),
            scales.shape()
        )));
    }
    let mask = if landmask {
        let lp = src.landmask(p.tile);
        let read = || -> std::result::Result<Vec<u8>, String> {
            let mut r = GeoTiffReader::open(&lp).map_err(|e| e.to_string())?;
            let i = r.info();
            if (i.height as usize, i.width as usize) != (h, w) {
                return Err(format!(
                    "size {}x{} differs from the tile's {h}x{w}",
                    i.height, i.width
                ));
            }
            r.read_all::<u8>().map_err(|e| e.to_string())
        };
        match read() {
            Ok(m) => Some(m),
            Err(e) => {
                warnings.lock().expect("warnings").push(format!(
                    "landmask {} not used ({e}); every pixel of the tile is treated as land",
                    lp.display()
                ));
                None
            }
        }
    } else {
        None
    };
    Ok(OpenTile { emb, scales, mask })
}

/// Writes one shard pair; returns bytes of tile data read and shard bytes written.
fn write_unit(
    out: &Path,
    src: &TileRoot,
    plan: &Plan,
    u: &Unit,
    opts: &BuildOptions,
    warnings: &std::sync::Mutex<Vec<String>>,
) -> Result<(u64, u64)> {
    let (ekey, skey) = unit_keys(u);
    let (epath, spath) = (out.join(&ekey), out.join(&skey));
    // Remove the completion object of an earlier, interrupted write first.
    match std::fs::remove_file(&epath) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ClientError::io(&epath, e)),
    }
    let tiles: Vec<(&Placed, OpenTile)> = u
        .tiles
        .iter()
        .map(|&i| {
            let p = &plan.tiles[i];
            open_tile(src, p, opts.use_landmask, warnings).map(|o| (p, o))
        })
        .collect::<Result<_>>()?;
    let s = SHARD as i64;
    let (top, left) = (u.sr as i64 * s, u.sc as i64 * s);
    let mk = |p: &Path| -> Result<(tempfile::NamedTempFile, PathBuf)> {
        let dir = p.parent().expect("parent");
        tessera_formats::safe_fs::ensure_dir(out, dir).map_err(|e| ClientError::io(dir, e))?;
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        let f = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp-"))
            .permissions(tessera_formats::atomic::public_mode())
            .tempfile_in(dir)
            .map_err(|e| ClientError::io(dir, e))?;
        Ok((f, p.to_path_buf()))
    };
    let (etmp, _) = mk(&epath)?;
    let (stmp, _) = mk(&spath)?;
    let mut ew = ShardWriter::new(
        BufWriter::with_capacity(1 << 20, etmp.as_file()),
        CHUNKS_PER_SHARD,
        opts.chunk_crc,
    );
    let mut sw = ShardWriter::new(
        BufWriter::with_capacity(1 << 16, stmp.as_file()),
        CHUNKS_PER_SHARD,
        opts.chunk_crc,
    );
    let mut bytes_in = 0u64;
    let width = SHARD;
    let mut emb = vec![0i8; BANDS * INNER * width];
    let mut sc = vec![f32::INFINITY; INNER * width];
    for cy in 0..CHUNKS_PER_SIDE {
        let y0 = top + (cy * INNER) as i64;
        let y1 = y0 + INNER as i64;
        let overlapping: Vec<&(&Placed, OpenTile)> = tiles
            .iter()
            .filter(|(p, _)| p.row < y1 && p.row + p.height as i64 > y0)
            .collect();
        if overlapping.is_empty() {
            continue;
        }
        emb.fill(0);
        sc.fill(f32::INFINITY);
        for (p, o) in overlapping {
            let q: &[i8] = o
                .emb
                .as_slice()
                .map_err(|e| ClientError::Format(e.to_string()))?;
            let sv: &[f32] = o
                .scales
                .as_slice()
                .map_err(|e| ClientError::Format(e.to_string()))?;
            let ra = y0.max(p.row);
            let rb = y1.min(p.row + p.height as i64);
            let ca = left.max(p.col);
            let cb = (left + s).min(p.col + p.width as i64);
            if ca >= cb {
                continue;
            }
            let n = (cb - ca) as usize;
            for r in ra..rb {
                let tr = (r - p.row) as usize;
                let tc = (ca - p.col) as usize;
                let by = (r - y0) as usize;
                let bx = (ca - left) as usize;
                let src_row = &q[(tr * p.width + tc) * BANDS..(tr * p.width + tc + n) * BANDS];
                for b in 0..BANDS {
                    let dst = &mut emb[(b * INNER + by) * width + bx..][..n];
                    for (x, d) in dst.iter_mut().enumerate() {
                        *d = src_row[x * BANDS + b];
                    }
                }
                let srow = &sv[tr * p.width + tc..][..n];
                let mrow = o.mask.as_ref().map(|m| &m[tr * p.width + tc..][..n]);
                let dst = &mut sc[by * width + bx..][..n];
                for x in 0..n {
                    let v = srow[x];
                    let water = mrow.is_some_and(|m| m[x] == 0);
                    dst[x] = if water || !z::valid_scale(v) {
                        f32::NAN
                    } else {
                        v
                    };
                }
                bytes_in += (n * (BANDS + 4)) as u64;
            }
        }
        // Encode this band of inner chunks in parallel; all-fill chunks are left out.
        let emb_ref = &emb;
        let sc_ref = &sc;
        let encoded: Vec<EncodedPair> = (0..CHUNKS_PER_SIDE)
            .into_par_iter()
            .map(|cx| -> Result<_> {
                let mut ce = Vec::with_capacity(BANDS * INNER * INNER);
                for b in 0..BANDS {
                    for y in 0..INNER {
                        ce.extend_from_slice(
                            &emb_ref[(b * INNER + y) * width + cx * INNER..][..INNER],
                        );
                    }
                }
                let e = if ce.iter().any(|&v| v != 0) {
                    Some(z::encode_i8_chunk(&ce).map_err(|e| ClientError::Format(e.to_string()))?)
                } else {
                    None
                };
                let mut cs = Vec::with_capacity(INNER * INNER);
                for y in 0..INNER {
                    cs.extend_from_slice(&sc_ref[y * width + cx * INNER..][..INNER]);
                }
                let s = if cs.iter().any(|v| v.to_bits() != f32::INFINITY.to_bits()) {
                    Some(z::encode_f32_chunk(&cs).map_err(|e| ClientError::Format(e.to_string()))?)
                } else {
                    None
                };
                Ok((e, s))
            })
            .collect::<Result<_>>()?;
        for (cx, (e, s)) in encoded.into_iter().enumerate() {
            let i = z::inner_index(cy, cx);
            if let Some(e) = e {
                ew.add(i, &e).map_err(|e| ClientError::io(&epath, e))?;
            }
            if let Some(s) = s {
                sw.add(i, &s).map_err(|e| ClientError::io(&spath, e))?;
            }
        }
    }
    let (ebuf, elen) = ew.finish().map_err(|e| ClientError::io(&epath, e))?;
    ebuf.into_inner()
        .map_err(|e| ClientError::io(&epath, e.into_error()))?;
    let (sbuf, slen) = sw.finish().map_err(|e| ClientError::io(&spath, e))?;
    sbuf.into_inner()
        .map_err(|e| ClientError::io(&spath, e.into_error()))?;
    // scales first, embeddings last: the embeddings object marks the shard complete.
    stmp.persist(&spath)
        .map_err(|e| ClientError::io(&spath, e.error))?;
    etmp.persist(&epath)
        .map_err(|e| ClientError::io(&epath, e.error))?;
    Ok((bytes_in, elen + slen))
}

/// The encoded embeddings and scales chunks of one inner-chunk position (`None`: fill).
type EncodedPair = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Removes temporary files an interrupted run left beside the unit's objects.
fn clean_temps(out: &Path, u: &Unit) {
    let (e, s) = unit_keys(u);
    for k in [e, s] {
        let p = out.join(k);
        let (Some(dir), Some(name)) = (p.parent(), p.file_name()) else {
            continue;
        };
        let prefix = format!(".{}.tmp-", name.to_string_lossy());
        if let Ok(rd) = std::fs::read_dir(dir) {
            for ent in rd.flatten() {
                if ent.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(ent.path());
                }
            }
        }
    }
}

/// The units of task `index` of `count`.
pub fn task_units(plan: &Plan, index: usize, count: usize) -> Vec<usize> {
    (0..plan.units.len())
        .filter(|k| k % count.max(1) == index)
        .collect()
}

/// Writes the metadata and this task's shards of `plan` into `out` from the tiles under
/// `src`.
pub fn build_local(
    out: &Path,
    src: &TileRoot,
    plan: &Plan,
    opts: &BuildOptions,
    progress: &BuildProgress,
) -> Result<BuildReport> {
    if opts.task_count == 0 || opts.task_index >= opts.task_count {
        return Err(ClientError::Usage(format!(
            "--task-index {} must be below --task-count {}",
            opts.task_index, opts.task_count
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| ClientError::io(out, e))?;
    write_metadata(out, plan, opts)?;
    let mine = task_units(plan, opts.task_index, opts.task_count);
    progress.units_total.store(mine.len(), Ordering::Relaxed);
    let todo: Vec<usize> = mine
        .iter()
        .copied()
        .filter(|&k| !unit_done(out, &plan.units[k]))
        .collect();
    let skipped = mine.len() - todo.len();
    progress.units_done.store(skipped, Ordering::Relaxed);
    let jobs = (opts.jobs.max(1) as u64)
        .min((opts.memory_mb / SHARD_MEMORY_MB).max(1))
        .max(1) as usize;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(std::thread::available_parallelism().map_or(1, |n| n.get())))
        .build()
        .map_err(|e| ClientError::Format(format!("cannot start worker threads: {e}")))?;
    let warnings = std::sync::Mutex::new(Vec::new());
    let start = Instant::now();
    let written = AtomicUsize::new(0);
    let gate = Arc::new((std::sync::Mutex::new(0usize), std::sync::Condvar::new()));
    pool.install(|| {
        todo.par_iter().try_for_each(|&k| -> Result<()> {
            // Finished shards stay; a rerun resumes with the others.
            opts.cancel.check()?;
            // At most `jobs` shards in flight (each holds its band buffers).
            {
                let (m, cv) = &*gate;
                let mut n = m.lock().expect("gate");
                while *n >= jobs {
                    n = cv.wait(n).expect("gate");
                }
                *n += 1;
            }
            let u = &plan.units[k];
            clean_temps(out, u);
            let r = write_unit(out, src, plan, u, opts, &warnings);
            {
                let (m, cv) = &*gate;
                *m.lock().expect("gate") -= 1;
                cv.notify_one();
            }
            let (bi, bo) = r?;
            progress.bytes_in.fetch_add(bi, Ordering::Relaxed);
            progress.bytes_out.fetch_add(bo, Ordering::Relaxed);
            progress.units_done.fetch_add(1, Ordering::Relaxed);
            written.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
    })?;
    let mut warnings = warnings.into_inner().expect("warnings");
    warnings.sort();
    warnings.dedup();
    Ok(BuildReport {
        units_all: plan.units.len(),
        units_task: mine.len(),
        written: written.into_inner(),
        skipped,
        bytes_in: progress.bytes_in.load(Ordering::Relaxed),
        bytes_out: progress.bytes_out.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
        warnings,
    })
}

/// The tiles of this task's units (to fetch them before building from a remote mirror).
pub fn task_tiles(plan: &Plan, units: &[usize]) -> Vec<(TileId, i32)> {
    let mut seen: HashMap<(TileId, i32), ()> = HashMap::new();
    let mut out = Vec::new();
    for &k in units {
        for &i in &plan.units[k].tiles {
            let p = &plan.tiles[i];
            if seen.insert((p.tile, p.year), ()).is_none() {
                out.push((p.tile, p.year));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_and_placement_match_the_reference_store() {
        // geotessera 0.11 zarr-init on the tiles 5.85..6.15 x 51.45 wrote utm31 with
        // transform [10, 0, 694330, 0, -10, 5709700] and utm32 with origin (291320,
        // 5709700); zarr-fill placed 5.85 at (28, 0) and 5.95 at (0, 694).
        let t = |lon: f64| TileId::from_centre(lon, 51.45).unwrap();
        let g31 = zone_grid(31, &[t(5.85), t(5.95)]);
        assert_eq!((g31.origin_x, g31.origin_y), (694330.0, 5709700.0));
        assert_eq!((g31.height, g31.width), (4096, 4096));
        let g32 = zone_grid(32, &[t(6.05), t(6.15)]);
        assert_eq!((g32.origin_x, g32.origin_y), (291320.0, 5709700.0));
        assert_eq!(
            (placement(t(5.85), &g31).0, placement(t(5.85), &g31).1),
            (28, 0)
        );
        assert_eq!(
            (placement(t(5.95), &g31).0, placement(t(5.95), &g31).1),
            (0, 694)
        );
    }

    #[test]
    fn units_split_into_disjoint_tasks() {
        let t = |lon: f64, lat: f64| TileId::from_centre(lon, lat).unwrap();
        let tiles = [t(0.05, 0.05), t(0.05, -0.05), t(0.15, 0.05)];
        let entries: Vec<(TileId, i32)> =
            tiles.iter().flat_map(|&x| [(x, 2023), (x, 2024)]).collect();
        let p = plan(&entries, &tiles, &[2023, 2024], None).unwrap();
        // The equator tiles straddle a shard row boundary? Either way every unit is in
        // exactly one task.
        let mut all: Vec<usize> = (0..3).flat_map(|i| task_units(&p, i, 3)).collect();
        all.sort();
        assert_eq!(all, (0..p.units.len()).collect::<Vec<_>>());
        // A tile outside the grid tiles is refused.
        let e = plan(&[(t(10.05, 0.05), 2023)], &tiles, &[2023], None).unwrap_err();
        assert!(e.to_string().contains("outside the zone grids"), "{e}");
    }
}
