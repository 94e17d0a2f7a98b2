//! Checking a mirror tree for consistency: manifest rows against files and sizes, NPY
//! headers against the tile geometry, landmask georeferences against the tile names, and
//! files that no registry lists. Works on any mirror with the published layout.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tessera_core::dataset::{dataset_from_dir, keys, version_path_from_norm};
use tessera_core::{TileGeoref, TileId};
use tessera_formats::geotiff::GeoTiffReader;
use tessera_formats::manifest::{read_landmask_records, read_manifest_records};
use tessera_formats::npy::NpyFile;

/// The outcome of a check.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Dataset directories found under `npy/`.
    pub datasets: Vec<String>,
    /// Manifest rows checked, per dataset.
    pub rows: BTreeMap<String, usize>,
    /// Landmask GeoTIFFs checked.
    pub landmasks: usize,
    /// Files opened and checked.
    pub files_checked: usize,
    /// Everything that is wrong, one line each.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn subdirs(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Checks a tile's NPY pair against its geometry; returns problems.
fn check_npy(root: &Path, key: &str, size: i64, tile: TileId, scales: bool) -> Vec<String> {
    let path = root.join(key);
    let mut out = Vec::new();
    match std::fs::metadata(&path) {
        Err(_) => {
            out.push(format!("{key}: listed in the manifest but missing"));
            return out;
        }
        Ok(m) if m.len() as i64 != size => {
            out.push(format!(
                "{key}: {} bytes on disk, manifest says {size}",
                m.len()
            ));
        }
        Ok(_) => {}
    }
    let g = TileGeoref::of_tile(tile);
    match NpyFile::open(&path) {
        Err(e) => out.push(format!("{key}: {e}")),
        Ok(f) => {
            let h = f.header();
            let (want_shape, dtype) = if scales {
                (vec![g.height, g.width], "<f4")
            } else {
                (vec![g.height, g.width, 128], "|i1")
            };
            let shape_ok =
                h.shape == want_shape || (scales && h.shape == vec![g.height, g.width, 128]);
            if !shape_ok || h.dtype.descr() != dtype || h.fortran_order {
                out.push(format!(
                    "{key}: {} {:?}, expected {dtype} {:?} from the tile geometry",
                    h.dtype.descr(),
                    h.shape,
                    want_shape
                ));
            }
        }
    }
    out
}

/// Checks a landmask GeoTIFF against the georeference computed from its name.
fn check_landmask(root: &Path, key: &str, tile: TileId) -> Vec<String> {
    let g = TileGeoref::of_tile(tile);
    match GeoTiffReader::open(&root.join(key)) {
        Err(e) => vec![format!("{key}: {e}")],
        Ok(r) => {
            let i = r.info();
            let mut out = Vec::new();
            if i.epsg != g.crs.epsg() {
                out.push(format!("{key}: CRS {:?}, expected {}", i.epsg, g.crs));
            }
            if (i.width as usize, i.height as usize) != (g.width, g.height) {
                out.push(format!(
                    "{key}: {}x{} pixels, expected {}x{}",
                    i.width, i.height, g.width, g.height
                ));
            }
            match i.transform {
                Some(t)
                    if (t.c - g.transform.c).abs() <= 1e-3
                        && (t.f - g.transform.f).abs() <= 1e-3
                        && t.a == 10.0
                        && t.e == -10.0 => {}
                other => out.push(format!(
                    "{key}: transform {:?}, expected {:?}",
                    other.map(|t| t.to_array()),
                    g.transform.to_array()
                )),
            }
            if i.bands != 1 || i.dtype != tessera_formats::DType::U8 {
                out.push(format!(
                    "{key}: {} band(s) of {}, expected 1 band of Byte",
                    i.bands,
                    i.dtype.gdal_name()
                ));
            }
            out
        }
    }
}

/// Checks a mirror rooted at `root`. Problems are collected, not fatal.
pub fn verify_mirror(root: &Path) -> VerifyReport {
    let mut rep = VerifyReport::default();
    if !root.is_dir() {
        rep.problems
            .push(format!("{}: not a directory", root.display()));
        return rep;
    }
    let mut landmask_tiles_needed: BTreeMap<String, HashSet<TileId>> = BTreeMap::new();
    for dir in subdirs(&root.join("npy")) {
        let Some((version, variant)) = dataset_from_dir(&dir) else {
            rep.problems
                .push(format!("npy/{dir}: not a dataset directory name"));
            continue;
        };
        rep.datasets.push(dir.clone());
        let mkey = keys::manifest(&dir);
        let records = match File::open(root.join(&mkey)) {
            Err(_) => {
                rep.problems.push(format!("{mkey}: missing"));
                continue;
            }
            Ok(f) => match read_manifest_records(f, &mkey) {
                Ok(r) => r,
                Err(e) => {
                    rep.problems.push(e.to_string());
                    continue;
                }
            },
        };
        rep.rows.insert(dir.clone(), records.len());
        let mut seen = HashSet::new();
        let mut listed: HashSet<PathBuf> = HashSet::new();
        for r in &records {
            if r.version != version || r.variant != variant {
                rep.problems.push(format!(
                    "{mkey}: row {} {} has version/variant {}/{}, directory says {version}/{variant}",
                    r.year, r.tile, r.version, r.variant
                ));
            }
            if !seen.insert((r.year, r.tile)) {
                rep.problems
                    .push(format!("{mkey}: duplicate row for {} {}", r.year, r.tile));
            }
            let ekey = keys::embedding(&dir, r.year, r.tile);
            let skey = keys::scales(&dir, r.year, r.tile);
            for (col, got, want) in [
                ("grid_path", &r.grid_path, keys::manifest_path(&ekey)),
                ("scales_path", &r.scales_path, keys::manifest_path(&skey)),
                (
                    "directory",
                    &r.directory,
                    keys::manifest_path(&keys::tile_directory(&dir, r.year, r.tile)),
                ),
            ] {
                if *got != want {
                    rep.problems.push(format!(
                        "{mkey}: {col} of {} {} is {got}, expected {want}",
                        r.year, r.tile
                    ));
                }
            }
            listed.insert(root.join(&ekey));
            listed.insert(root.join(&skey));
            landmask_tiles_needed
                .entry(version_path_from_norm(&version))
                .or_default()
                .insert(r.tile);
        }
        let checks: Vec<Vec<String>> = records
            .par_iter()
            .flat_map(|r| {
                [
                    check_npy(
                        root,
                        &keys::embedding(&dir, r.year, r.tile),
                        r.grid_size,
                        r.tile,
                        false,
                    ),
                    check_npy(
                        root,
                        &keys::scales(&dir, r.year, r.tile),
                        r.scales_size,
                        r.tile,
                        true,
                    ),
                ]
            })
            .collect();
        rep.files_checked += checks.len();
        rep.problems.extend(checks.into_iter().flatten());
        // Files on disk that the manifest does not list.
        for year in subdirs(&root.join("npy").join(&dir)) {
            for tdir in subdirs(&root.join("npy").join(&dir).join(&year)) {
                let d = root.join("npy").join(&dir).join(&year).join(&tdir);
                for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                    let p = e.path();
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".npy") && !listed.contains(&p) {
                        rep.problems.push(format!(
                            "npy/{dir}/{year}/{tdir}/{name}: not in the manifest"
                        ));
                    }
                }
            }
        }
    }
    for vdir in subdirs(&root.join("landmasks")) {
        let rkey = keys::landmasks_registry(&vdir);
        let records = match File::open(root.join(&rkey)) {
            Err(_) => {
                rep.problems.push(format!("{rkey}: missing"));
                continue;
            }
            Ok(f) => match read_landmask_records(f, &rkey) {
                Ok(r) => r,
                Err(e) => {
                    rep.problems.push(e.to_string());
                    continue;
                }
            },
        };
        let have: HashSet<TileId> = records.iter().map(|r| r.tile).collect();
        for r in &records {
            let key = keys::landmask(&vdir, r.tile);
            if r.key != keys::manifest_path(&key) {
                rep.problems.push(format!(
                    "{rkey}: key of {} is {}, expected {}",
                    r.tile,
                    r.key,
                    keys::manifest_path(&key)
                ));
            }
            match std::fs::metadata(root.join(&key)) {
                Err(_) => rep
                    .problems
                    .push(format!("{key}: listed in {rkey} but missing")),
                Ok(m) if m.len() as i64 != r.file_size => rep.problems.push(format!(
                    "{key}: {} bytes on disk, registry says {}",
                    m.len(),
                    r.file_size
                )),
                Ok(_) => {}
            }
        }
        let checks: Vec<Vec<String>> = records
            .par_iter()
            .map(|r| check_landmask(root, &keys::landmask(&vdir, r.tile), r.tile))
            .collect();
        rep.landmasks += checks.len();
        rep.files_checked += checks.len();
        rep.problems.extend(checks.into_iter().flatten());
        if let Some(need) = landmask_tiles_needed.get(&vdir) {
            let mut missing: Vec<&TileId> = need.iter().filter(|t| !have.contains(t)).collect();
            missing.sort();
            for t in missing {
                rep.problems.push(format!(
                    "{}: a tile with embeddings has no landmask",
                    keys::landmask(&vdir, *t)
                ));
            }
        }
        for e in std::fs::read_dir(root.join("landmasks").join(&vdir))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tiff")
                && let Some((t, ".tiff")) = TileId::parse_prefix(&name)
                && !have.contains(&t)
            {
                rep.problems
                    .push(format!("landmasks/{vdir}/{name}: not in {rkey}"));
            }
        }
    }
    for (vdir, tiles) in &landmask_tiles_needed {
        if !root.join("landmasks").join(vdir).is_dir() && !tiles.is_empty() {
            rep.problems.push(format!(
                "{}: missing (needed by {} tiles)",
                keys::landmasks_registry(vdir),
                tiles.len()
            ));
        }
    }
    if rep.datasets.is_empty() {
        rep.problems.push(format!(
            "{}: no npy/<dataset>/manifest.parquet found",
            root.display()
        ));
    }
    rep
}
