//! Zarr embedding stores (layout B, one group per UTM zone, every year on a time axis):
//! choosing a store by dataset or location, opening it, and everything read from it:
//! points ([`Store::probe`], [`Store::sample_points`]), regions ([`Store::read_region`],
//! [`Store::read_region_quantized`], [`Store::strips`], [`Store::read_patch`]), per-zone
//! GeoTIFF exports ([`Store::export_geotiffs`]), summaries ([`Store::zone_summaries`]), and
//! building and verifying stores from NPY tiles ([`build`]).
//!
//! Rasters come back as `(H, W, B)` buffers in row-major order with an affine transform
//! (`[a, b, c, d, e, f]`, rasterio order: `x = a*col + b*row + c`) and the zone's CRS as
//! `"EPSG:326NN"`; points as one `N x B` buffer with NaN rows where there is no embedding.

pub mod build;
mod export;
mod info;
mod mosaic;
mod patch;
mod points;
mod region;

use std::path::Path;
use std::sync::Arc;

use tessera_client::zarr::{ZarrOptions, ZarrStore};
use tessera_client::{ClientError, Mirror, MirrorRoot, Result};
use tessera_core::DatasetRef;
use tessera_core::dataset::{
    DATASETS, StoreLocation, canonical_root, keys, store_location, store_location_as_reference,
    zarr_read_root,
};

use crate::{Context, Progress};

pub use export::{ExportOptions, ExportReport, ZoneFile, ZonePlan, check_output_dir};
pub use info::{ArraySummary, ScalesSummary, ZoneSummary};
pub use mosaic::StoreMosaicFile;
pub use patch::{MAX_PATCH_PX, PatchCrs};
pub use points::Samples;
pub use region::{QuantizedRaster, Raster, Strip, Strips, Window};
pub use tessera_client::zarr::points::SampleOptions as PointOptions;
pub use tessera_client::zarr::{Probe, Status};

/// The start of the message of a store that does not exist (see [`is_missing_store`]).
pub const NO_STORE: &str = "no Zarr store at";

/// True when `e` says the store is not there (a caller may then fall back to NPY tiles).
pub fn is_missing_store(e: &ClientError) -> bool {
    matches!(e, ClientError::Usage(m) if m.starts_with(NO_STORE))
}

/// True when `e` is a region with no pixel on the grid it is read from (the reference
/// raises `IndexError` there).
pub fn is_empty_window(e: &ClientError) -> bool {
    matches!(e, ClientError::EmptyWindow(_))
}

/// Whether `GEOTESSERA_VIA_GATEWAY` asks for the gateway route (set and not one of
/// `""`, `0`, `false`, `no`, `off`, `n`, `f`).
pub fn via_gateway_from_env() -> bool {
    std::env::var("GEOTESSERA_VIA_GATEWAY").is_ok_and(|v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "false" | "no" | "off" | "n" | "f"
        )
    })
}

/// Which default variant a dataset without one gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VariantDefault {
    /// The tool's one default per version (the CLI: `cambridge` for v1.1).
    #[default]
    Tool,
    /// The reference's stream default (`zarr_store_url`: `dclimate` for v1.1).
    Reference,
}

/// The reference's `zarr_store_url(version, variant)` under `mirror_root`: a version with
/// a `-` is an explicit store directory, a published pair its Zarr directory (the
/// Icechunk URL where it has no Zarr copy), an unknown pair `{version}-{variant}`. The
/// published gateway is read through the direct S3 route unless `via_gateway`.
pub fn zarr_store_url(
    mirror_root: &str,
    version: &str,
    variant: Option<&str>,
    via_gateway: bool,
) -> Result<String> {
    match store_location_as_reference(version, variant)? {
        StoreLocation::ZarrDir(dir) => Ok(zarr_read_root(
            &tessera_core::dataset::join_url(mirror_root, &keys::zarr_store(&dir)),
            via_gateway,
        )),
        StoreLocation::Icechunk(u) => Ok(u),
    }
}

/// The published dataset a store location holds (`…/zarr/v1.1` is v1.1 cambridge), by its
/// last path segment, on either published route or any mirror.
pub fn dataset_for_location(location: &str) -> Option<DatasetRef> {
    let c = canonical_root(location);
    let (_, dir) = c.rsplit_once("/zarr/")?;
    let d = DATASETS.iter().find(|d| d.zarr == Some(dir))?;
    DatasetRef::resolve(d.version, Some(d.variant), true).ok()
}

/// A store to open: where it is and, when it was chosen by dataset, which one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreRef {
    /// The location read: a directory, an http(s) URL or `s3://bucket/prefix`.
    pub url: String,
    /// The published dataset (tags, the sidecar), when known.
    pub dataset: Option<DatasetRef>,
}

impl StoreRef {
    /// A location as given (no dataset identity, no route rewriting).
    pub fn from_url(location: &str) -> StoreRef {
        StoreRef {
            url: location.to_string(),
            dataset: None,
        }
    }

    /// A location as the reference opens one: the published gateway is read through the
    /// direct S3 route unless `via_gateway`, and a published store is recognised.
    pub fn from_url_routed(location: &str, via_gateway: bool) -> StoreRef {
        StoreRef {
            url: zarr_read_root(location, via_gateway),
            dataset: dataset_for_location(location),
        }
    }

    /// The store of a dataset under the context's mirror (`zarr/<dir>`), read through the
    /// direct S3 route for the published gateway unless `via_gateway`. A dataset published
    /// only as an Icechunk repository is refused with what to use instead.
    pub fn for_dataset(
        ctx: &Context,
        version: &str,
        variant: Option<&str>,
        default: VariantDefault,
        via_gateway: bool,
    ) -> Result<StoreRef> {
        let loc = match default {
            VariantDefault::Tool => store_location(version, variant)?,
            VariantDefault::Reference => store_location_as_reference(version, variant)?,
        };
        let dir = match loc {
            StoreLocation::ZarrDir(z) => z,
            StoreLocation::Icechunk(u) => {
                return Err(ClientError::Usage(format!(
                    "this dataset is published as an Icechunk repository ({u}), which this build does not read; use its Zarr copy (e.g. --dataset-variant dclimate for v1.1) or pass a store URL"
                )));
            }
        };
        let url = zarr_read_root(
            &ctx.mirror.root.locate(&keys::zarr_store(&dir)),
            via_gateway,
        );
        let dataset = match default {
            VariantDefault::Tool => DatasetRef::resolve(version, variant, false).ok(),
            VariantDefault::Reference => dataset_for_location(&url),
        };
        Ok(StoreRef { url, dataset })
    }

    /// One name for the store on either published route (the gateway form): two
    /// references with the same identity read the same objects.
    pub fn identity(&self) -> String {
        canonical_root(&self.url)
    }
}

/// How a store is read.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Requests in flight at most.
    pub concurrency: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { concurrency: 16 }
    }
}

/// An open store: its facts, and every read. Cheap to clone; safe to share between
/// threads.
#[derive(Clone)]
pub struct Store {
    inner: Arc<ZarrStore>,
    reference: StoreRef,
    mirror_label: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.reference.url)
            .field("zones", &self.zones())
            .field("years", &self.years())
            .finish()
    }
}

impl Store {
    /// Opens a store from the consolidated metadata of its root `zarr.json` (one request,
    /// plus one for the years). A location without a store, or with something that is not
    /// a TESSERA store, is a usage error saying what to do.
    pub fn open(ctx: &Context, r: StoreRef, opts: &OpenOptions) -> Result<Store> {
        let location = r.url.clone();
        let missing = || {
            ClientError::Usage(format!(
                "{NO_STORE} {location} (no zarr.json there); pass the store with --store/--store-url, pick the dataset with --dataset-version/--dataset-variant, use --source tiles for NPY tiles, or build one with 'tessera zarr build'"
            ))
        };
        let local = !location.contains("://");
        if local && !Path::new(&location).join("zarr.json").is_file() {
            return Err(missing());
        }
        let root = MirrorRoot::parse(&location).map_err(|e| match e {
            ClientError::Usage(m) => ClientError::Usage(m.replace("mirror", "store")),
            other => other,
        })?;
        // The store shares the context's HTTP client: its guards, retries and connections.
        let mirror = Mirror {
            root,
            http: ctx.mirror.http.clone(),
        };
        let zopts = ZarrOptions {
            cache_dir: Some(tessera_client::registry::cache_dir(
                ctx.cache_dir.as_deref(),
            )),
            concurrency: opts.concurrency.max(1),
            http: ctx.mirror.http.config,
            ..Default::default()
        };
        let rt = crate::runtime()?;
        let inner = rt
            .block_on(ZarrStore::open_with(mirror, &location, zopts))
            .map_err(|e| match e {
                ClientError::Usage(m) if m.starts_with(NO_STORE) => missing(),
                ClientError::Format(m) => ClientError::Usage(m),
                other => other,
            })?;
        Ok(Store {
            inner: Arc::new(inner),
            reference: r,
            mirror_label: ctx.options.mirror.clone().unwrap_or_default(),
        })
    }

    /// Where the store is read from.
    pub fn url(&self) -> &str {
        &self.reference.url
    }

    /// The reference the store was opened with.
    pub fn reference(&self) -> &StoreRef {
        &self.reference
    }

    /// The published dataset, when the store was chosen by dataset.
    pub fn dataset(&self) -> Option<&DatasetRef> {
        self.reference.dataset.as_ref()
    }

    /// Bands of the full-depth embeddings (`geoemb:dimensions`, 128 in TESSERA stores).
    pub fn n_bands(&self) -> usize {
        self.first_zone().bands()
    }

    /// The depths the store holds, ascending: (bands, array name); the full depth is
    /// `embeddings`.
    pub fn depths(&self) -> Vec<(usize, String)> {
        let z = self.first_zone();
        let name = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
        let mut v: Vec<(usize, String)> =
            z.depths.iter().map(|(d, a)| (*d, name(&a.path))).collect();
        v.push((z.bands(), "embeddings".to_string()));
        v.sort();
        v.dedup_by_key(|d| d.0);
        v
    }

    /// The years on the time axis.
    pub fn years(&self) -> Vec<i32> {
        self.inner.years().to_vec()
    }

    /// The UTM zones with a group, ascending.
    pub fn zones(&self) -> Vec<u8> {
        self.inner.zone_numbers()
    }

    /// `geoemb:build_version`.
    pub fn build_version(&self) -> String {
        self.inner.build_version()
    }

    /// The model version (the last segment of `geoemb:model`).
    pub fn model_version(&self) -> String {
        self.inner.model_version()
    }

    /// `geoemb:model` as written.
    pub fn model(&self) -> String {
        self.inner.root_attrs["geoemb:model"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Whether water was masked with landmasks (NaN scales) when the store was built.
    pub fn landmask(&self) -> bool {
        self.inner.root_attrs["geoemb:landmask"].as_bool() != Some(false)
    }

    /// The root group's `geoemb:` attributes, without the preview stretches.
    pub fn attributes(&self) -> serde_json::Map<String, serde_json::Value> {
        self.inner
            .root_attrs
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| k.starts_with("geoemb:") && !k.starts_with("geoemb:stretch"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// (requests, bytes received) since the store was opened.
    pub fn io(&self) -> (u64, u64) {
        self.inner.stats.snapshot()
    }

    fn first_zone(&self) -> &tessera_client::zarr::Zone {
        let z = self.inner.zone_numbers()[0];
        self.inner.zone(z).expect("an open store has a zone")
    }

    /// Bands a read at `depth` returns (checked against the store).
    pub fn bands_at(&self, depth: Option<usize>) -> Result<usize> {
        Ok(self.first_zone().depth_array(depth)?.shape[1] as usize)
    }

    /// Runs `f` on the process runtime until it completes or `progress` is cancelled.
    fn run<T>(
        &self,
        progress: &Progress,
        f: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        progress.token().check()?;
        crate::runtime()?.block_on(progress.token().or_cancel(f))?
    }
}
