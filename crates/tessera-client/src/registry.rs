//! The registry of a dataset: its `manifest.parquet` (which tile-years exist, and their
//! sizes) and the `landmasks.parquet` of its version, fetched from the mirror and cached.
//!
//! Cached copies live under `{cache}/{mirror}/…` and are refreshed with If-Modified-Since;
//! when the mirror cannot be reached, a cached copy is used with a warning.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tessera_core::dataset::keys;
use tessera_core::{Bbox, DatasetRef, TileId};
use tessera_formats::manifest::{
    ManifestEntry, ManifestQuery, ManifestSelection, read_landmasks, read_manifest_file,
};

use crate::error::{ClientError, Result};
use crate::mirror::{Fetched, Mirror, MirrorRoot};

/// The cache directory: `--cache-dir`, else `$XDG_CACHE_HOME/tessera` (`~/.cache/tessera`).
pub fn cache_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x).join("tessera"),
        None => dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("tessera"),
    }
}

/// Where registries come from.
#[derive(Debug, Clone, Default)]
pub struct RegistrySource {
    /// Cache root (see [`cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// A directory holding `manifest.parquet` and `landmasks.parquet` to use instead of
    /// the mirror's (never refreshed).
    pub registry_dir: Option<PathBuf>,
    /// Make no request: use the cached registries as they are, or fail.
    pub offline: bool,
    /// The manifest's URL instead of the mirror's (cached like the mirror's).
    pub manifest_url: Option<String>,
    /// A local manifest file to use as it is (never refreshed); a path that does not exist
    /// is ignored with a warning, as the reference does.
    pub manifest_path: Option<PathBuf>,
    /// A local landmask registry file to use as it is.
    pub landmasks_path: Option<PathBuf>,
}

/// How a registry file was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Read from a local mirror or registry directory.
    Local,
    /// Downloaded now.
    Downloaded,
    /// The cached copy is current (304).
    Current,
    /// The mirror could not be reached; the cached copy was used.
    Stale(String),
}

/// A dataset's registries.
#[derive(Debug, Clone)]
pub struct Registry {
    /// The dataset.
    pub dataset: DatasetRef,
    /// Its `npy/` directory.
    pub npy_dir: String,
    /// The manifest file on disk.
    pub manifest_path: PathBuf,
    /// How the manifest was obtained.
    pub manifest_freshness: Freshness,
    /// Landmask sizes, when the landmask registry could be loaded.
    pub landmasks: Option<HashMap<TileId, i64>>,
    /// Warnings to show the user.
    pub warnings: Vec<String>,
}

/// Fetches `key` into the cache (or refreshes it); returns the local file.
async fn cached(
    mirror: &Mirror,
    key: &str,
    cache: &Path,
    cap: u64,
    offline: bool,
) -> Result<(PathBuf, Freshness)> {
    if let MirrorRoot::Local(_) = mirror.root {
        let p = mirror.root.local_path(key).unwrap_or_default();
        return if p.is_file() {
            Ok((p, Freshness::Local))
        } else {
            Err(ClientError::NotFound {
                url: p.display().to_string(),
            })
        };
    }
    let path =
        tessera_formats::safe_fs::join_under(cache, &format!("{}/{key}", mirror.root.slug()))
            .map_err(|e| ClientError::io(cache, e))?;
    fetch_cached(mirror, mirror.root.locate(key), path, cache, cap, offline).await
}

/// Fetches an object named by its own URL into the cache (or refreshes it).
async fn cached_url(
    mirror: &Mirror,
    url: &str,
    cache: &Path,
    cap: u64,
    offline: bool,
) -> Result<(PathBuf, Freshness)> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ClientError::Usage(format!(
            "registry URL '{url}' is not an http(s) URL; pass a local file as the registry path instead"
        )));
    }
    let slug = MirrorRoot::Http(url.to_string()).slug();
    let path = tessera_formats::safe_fs::join_under(cache, &format!("urls/{slug}"))
        .map_err(|e| ClientError::io(cache, e))?;
    fetch_cached(mirror, url.to_string(), path, cache, cap, offline).await
}

async fn fetch_cached(
    mirror: &Mirror,
    url: String,
    path: PathBuf,
    cache: &Path,
    cap: u64,
    offline: bool,
) -> Result<(PathBuf, Freshness)> {
    let have = std::fs::symlink_metadata(&path)
        .ok()
        .filter(|m| m.is_file())
        .and_then(|m| m.modified().ok());
    if offline {
        return match have {
            Some(_) => Ok((path, Freshness::Local)),
            None => Err(ClientError::Usage(format!(
                "offline, and no cached copy of {url} in {}; run once without --offline (or pass --registry-dir)",
                cache.display()
            ))),
        };
    }
    let result = mirror
        .http
        .fetch(&url, cap, |r| match have {
            Some(t) => r.header(
                reqwest::header::IF_MODIFIED_SINCE,
                httpdate::fmt_http_date(t),
            ),
            None => r,
        })
        .await;
    let (body, modified) = match result {
        Ok(Fetched::NotModified) => return Ok((path, Freshness::Current)),
        Ok(Fetched::Body { bytes, modified }) => (bytes, modified),
        Err(e @ ClientError::NotFound { .. }) => return Err(e),
        Err(e) => {
            return match have {
                Some(t) => {
                    let when = httpdate::fmt_http_date(t);
                    Ok((
                        path.clone(),
                        Freshness::Stale(format!(
                            "could not check {url} for updates ({e}); using the cached copy of {when}"
                        )),
                    ))
                }
                None => Err(e),
            };
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    tessera_formats::safe_fs::ensure_dir(cache, dir).map_err(|e| ClientError::io(dir, e))?;
    tessera_formats::atomic::write_atomic(&path, |w| std::io::Write::write_all(w, &body))
        .map_err(|e| ClientError::io(&path, e))?;
    let stamp = modified.unwrap_or_else(SystemTime::now);
    if let Ok(f) = tessera_formats::safe_fs::open_rw_nofollow(&path) {
        let _ = f.set_modified(stamp);
    }
    Ok((path, Freshness::Downloaded))
}

impl Registry {
    /// Loads the registries of `dataset` from `mirror` (or `source.registry_dir`).
    pub async fn open(
        mirror: &Mirror,
        dataset: &DatasetRef,
        source: &RegistrySource,
    ) -> Result<Registry> {
        let npy_dir = dataset.npy_dir()?;
        let mut warnings = Vec::new();
        let explicit = |p: &Option<PathBuf>, what: &str, warnings: &mut Vec<String>| match p {
            Some(p) if p.is_file() => Some(p.clone()),
            Some(p) => {
                warnings.push(format!(
                    "{what} {} does not exist; using the mirror's",
                    p.display()
                ));
                None
            }
            None => None,
        };
        let manifest_file = explicit(&source.manifest_path, "manifest", &mut warnings);
        let landmasks_file = explicit(&source.landmasks_path, "landmask registry", &mut warnings);
        let (manifest_path, manifest_freshness, lm) = if let Some(m) = manifest_file {
            let lm = match landmasks_file {
                Some(l) => Some(Ok((l, Freshness::Local))),
                None => match &source.registry_dir {
                    Some(dir) => {
                        let l = dir.join("landmasks.parquet");
                        l.is_file().then_some(Ok((l, Freshness::Local)))
                    }
                    None => Some(
                        cached(
                            mirror,
                            &keys::landmasks_registry(dataset.landmask_dir()),
                            &cache_dir(source.cache_dir.as_deref()),
                            crate::mirror::MAX_LANDMASK_TABLE_BYTES,
                            source.offline,
                        )
                        .await,
                    ),
                },
            };
            (m, Freshness::Local, lm)
        } else if let Some(dir) = &source.registry_dir {
            let m = dir.join("manifest.parquet");
            if !m.is_file() {
                return Err(ClientError::Usage(format!(
                    "{}: no manifest.parquet in --registry-dir",
                    dir.display()
                )));
            }
            let l = landmasks_file.unwrap_or_else(|| dir.join("landmasks.parquet"));
            (
                m,
                Freshness::Local,
                l.is_file().then_some(Ok((l, Freshness::Local))),
            )
        } else {
            let cache = cache_dir(source.cache_dir.as_deref());
            let fetched = match &source.manifest_url {
                Some(url) => {
                    cached_url(
                        mirror,
                        url,
                        &cache,
                        crate::mirror::MAX_MANIFEST_BYTES,
                        source.offline,
                    )
                    .await
                }
                None => {
                    cached(
                        mirror,
                        &keys::manifest(&npy_dir),
                        &cache,
                        crate::mirror::MAX_MANIFEST_BYTES,
                        source.offline,
                    )
                    .await
                }
            };
            let (m, f) = match fetched {
                Ok(v) => v,
                Err(e @ ClientError::Usage(_)) => return Err(e),
                Err(ClientError::NotFound { .. })
                    if tessera_core::dataset::known_variants(&dataset.version.norm).is_empty() =>
                {
                    let mut known: Vec<String> = tessera_core::dataset::DATASETS
                        .iter()
                        .map(|d| format!("v{}", d.version))
                        .collect();
                    known.dedup();
                    return Err(ClientError::Usage(format!(
                        "unknown dataset version {} (known: {}); 'tessera info' lists the datasets",
                        dataset.version.path,
                        known.join(", ")
                    )));
                }
                Err(ClientError::NotFound { url }) => {
                    return Err(ClientError::Usage(format!(
                        "dataset {} {} has no manifest at {url}; check --dataset-version/--dataset-variant and --mirror",
                        dataset.version.path, dataset.variant
                    )));
                }
                Err(e) => {
                    return Err(ClientError::Format(format!(
                        "failed to download the manifest: {e}"
                    )));
                }
            };
            let l = match landmasks_file {
                Some(l) => Ok((l, Freshness::Local)),
                None => {
                    cached(
                        mirror,
                        &keys::landmasks_registry(dataset.landmask_dir()),
                        &cache,
                        crate::mirror::MAX_LANDMASK_TABLE_BYTES,
                        source.offline,
                    )
                    .await
                }
            };
            (m, f, Some(l))
        };
        if let Freshness::Stale(w) = &manifest_freshness {
            warnings.push(w.clone());
        }
        let landmasks = match lm {
            Some(Ok((p, fr))) => {
                if let Freshness::Stale(w) = fr {
                    warnings.push(w);
                }
                let file = std::fs::File::open(&p).map_err(|e| ClientError::io(&p, e))?;
                match read_landmasks(file, &p.display().to_string()) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        warnings.push(format!("landmask registry ignored: {e}"));
                        None
                    }
                }
            }
            Some(Err(e)) => {
                warnings.push(format!(
                    "landmask registry not loaded ({e}); download sizes will be estimates"
                ));
                None
            }
            None => None,
        };
        Ok(Registry {
            dataset: dataset.clone(),
            npy_dir,
            manifest_path,
            manifest_freshness,
            landmasks,
            warnings,
        })
    }

    /// Runs a query, filtering on the dataset's version and variant.
    pub fn query(&self, mut q: ManifestQuery) -> Result<ManifestSelection> {
        q.version = Some(self.dataset.version.norm.clone());
        q.variant = Some(self.dataset.variant.clone());
        let sel = read_manifest_file(&self.manifest_path, &q)
            .map_err(|e| ClientError::Format(e.to_string()))?;
        Ok(sel)
    }

    /// The tile-years of `year` whose centres lie in `query_box` (edges inclusive): the
    /// reference's region rule when `query_box` is the user's box grown by 0.05 degrees.
    /// Rows whose recorded paths are not those of their tile (for example `..` segments
    /// that would lead out of the dataset) are refused with an error.
    pub fn in_box(&self, query_box: Bbox, year: i32) -> Result<Vec<ManifestEntry>> {
        let entries = self
            .query(ManifestQuery {
                year: Some(year),
                bbox: Some(query_box),
                with_scales_size: true,
                with_paths: true,
                ..Default::default()
            })?
            .entries;
        // Paths are built from the tile, never taken from the manifest; a manifest whose
        // paths would lead elsewhere is damaged or hostile, and is refused.
        let suspicious =
            |p: &str| p.split('/').any(|seg| seg == ".." || seg == ".") || p.contains(['\\', '\0']);
        if let Some(e) = entries.iter().find(|e| {
            e.paths
                .as_ref()
                .is_some_and(|(g, s)| suspicious(g) || suspicious(s))
        }) {
            let (g, _) = e.paths.clone().unwrap_or_default();
            return Err(ClientError::Format(format!(
                "{}: the row for {} {} lists the path '{g}', which leads outside its dataset; refusing to use this manifest",
                self.manifest_path.display(),
                e.year,
                e.tile
            )));
        }
        Ok(entries)
    }

    /// Why a region has no tiles for `year`, and what exists instead: the years it does
    /// have, a hint when longitude and latitude look swapped, or the nearest covered tile.
    pub fn explain_empty(&self, query_box: Bbox, year: i32) -> Result<String> {
        let ds = format!("{} {}", self.dataset.version.path, self.dataset.variant);
        let here = self.query(ManifestQuery {
            bbox: Some(query_box),
            ..Default::default()
        })?;
        let mut years = here.years();
        years.dedup();
        if !years.is_empty() {
            let list: Vec<String> = years.iter().map(i32::to_string).collect();
            return Ok(format!(
                "no tiles of {ds} for {year} in this region; it has tiles for {} (pass --year)",
                list.join(", ")
            ));
        }
        let (w, s, e, n) = (
            query_box.west,
            query_box.south,
            query_box.east,
            query_box.north,
        );
        if let Ok(swapped) = Bbox::new(s, w, n, e)
            && !self
                .query(ManifestQuery {
                    bbox: Some(swapped),
                    ..Default::default()
                })?
                .entries
                .is_empty()
        {
            return Ok(format!(
                "no tiles of {ds} in this region, but there are with longitude and latitude swapped: the bbox is W,S,E,N (longitudes first)"
            ));
        }
        let all = self.all()?;
        let (cx, cy) = ((w + e) / 2.0, (s + n) / 2.0);
        let dist = |t: TileId| {
            let (dx, dy) = ((t.lon() - cx) * cy.to_radians().cos(), t.lat() - cy);
            (dx * dx + dy * dy).sqrt() * 111.2
        };
        let near = all
            .entries
            .iter()
            .filter(|x| x.year == year)
            .min_by(|a, b| dist(a.tile).total_cmp(&dist(b.tile)))
            .or_else(|| {
                all.entries
                    .iter()
                    .min_by(|a, b| dist(a.tile).total_cmp(&dist(b.tile)))
            });
        Ok(match near {
            Some(t) => format!(
                "no tiles of {ds} in this region in any year; the nearest covered tile is {} ({:.0} km away, {}); 'tessera info' lists the coverage",
                t.tile,
                dist(t.tile),
                t.year
            ),
            None => format!("{ds} has no tiles at all on this mirror"),
        })
    }

    /// All rows (all years).
    pub fn all(&self) -> Result<ManifestSelection> {
        self.query(ManifestQuery {
            with_scales_size: true,
            ..Default::default()
        })
    }
}
