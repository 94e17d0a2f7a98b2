//! The published datasets, version parsing and the object keys of a mirror.
//!
//! A dataset is one inference run: a (version, variant) pair such as (1.1, cambridge).
//! Its NPY tiles live under `npy/{npy_dir}/`, its landmasks under
//! `landmasks/{version_path}/` (shared by every variant of a version) and its Zarr store
//! under `zarr/{zarr_dir}`. The table and the rules are the reference's, kept exact
//! because they decide the keys of the published objects.

use thiserror::Error;

use crate::grid::TileId;

/// Default published mirror root.
pub const DEFAULT_MIRROR: &str = "https://data.source.coop/tessera/tessera";
/// The same objects through the bucket's own anonymous endpoint (path style).
pub const DIRECT_S3_MIRROR: &str =
    "https://s3.us-west-2.amazonaws.com/us-west-2.opendata.source.coop/tessera/tessera";
/// Prefix of the paths recorded in the manifests.
pub const MANIFEST_S3_ROOT: &str = "s3://tessera/tessera";
/// Default dataset version.
pub const DEFAULT_VERSION: &str = "v1.1";
/// Fallback variant for versions missing from the table.
pub const FALLBACK_VARIANT: &str = "vultr";
/// Local directory of NPY tiles (and per-tile GeoTIFF exports).
pub const EMBEDDINGS_DIR_NAME: &str = "global_0.1_degree_representation";
/// Local directory of landmask GeoTIFFs.
pub const LANDMASKS_DIR_NAME: &str = "global_0.1_degree_tiff_all";

/// Formats a dataset can be published in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// NPY tiles + manifest.
    Npy,
    /// Sharded Zarr v3 store.
    Zarr,
    /// Icechunk repository.
    Icechunk,
}

impl Format {
    /// Lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Npy => "npy",
            Format::Zarr => "zarr",
            Format::Icechunk => "icechunk",
        }
    }
}

/// One row of the dataset table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    /// Normalised version, e.g. "1.1".
    pub version: &'static str,
    /// Variant, e.g. "cambridge".
    pub variant: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Directory in the `npy/` tree, if published as NPY.
    pub npy: Option<&'static str>,
    /// Directory in the `zarr/` tree, if published as Zarr.
    pub zarr: Option<&'static str>,
    /// Icechunk repository URL, if any.
    pub icechunk: Option<&'static str>,
    /// Icechunk tile registry URL, if any.
    pub tile_registry: Option<&'static str>,
}

impl Dataset {
    /// `"{version}-{variant}"`, e.g. `"1.1-cambridge"`.
    pub fn name(&self) -> String {
        format!("{}-{}", self.version, self.variant)
    }

    /// Where the dataset is published in `fmt`.
    pub fn location(&self, fmt: Format) -> Option<&'static str> {
        match fmt {
            Format::Npy => self.npy,
            Format::Zarr => self.zarr,
            Format::Icechunk => self.icechunk,
        }
    }

    /// The formats it is published in.
    pub fn formats(&self) -> Vec<Format> {
        [Format::Npy, Format::Zarr, Format::Icechunk]
            .into_iter()
            .filter(|f| self.location(*f).is_some())
            .collect()
    }
}

/// The published datasets. Row order matters: the first row of a version is its default
/// variant; the first row of a version with a format is that format's default.
pub const DATASETS: &[Dataset] = &[
    Dataset {
        version: "1.0",
        variant: "vultr",
        description: "Legacy model",
        npy: Some("v1"),
        zarr: Some("v1"),
        icechunk: None,
        tile_registry: None,
    },
    Dataset {
        version: "1.1",
        variant: "dclimate",
        description: "Complete global run",
        npy: None,
        zarr: Some("v1.1-dclimate"),
        icechunk: Some("s3://tessera-embeddings/v1.1/dclimate.icechunk"),
        tile_registry: Some("s3://tessera-embeddings/v1.1/dclimate.registry/parts"),
    },
    Dataset {
        version: "1.1",
        variant: "cambridge",
        description: "Cambridge test run",
        npy: Some("v1.1-cam"),
        zarr: Some("v1.1"),
        icechunk: None,
        tile_registry: None,
    },
    Dataset {
        version: "2.0",
        variant: "2B-L~beta1",
        description: "v2 beta",
        npy: Some("v2-2B-L~beta1"),
        zarr: Some("v2-2B-L~beta1"),
        icechunk: None,
        tile_registry: None,
    },
    Dataset {
        version: "2.0",
        variant: "2B-L~beta2",
        description: "v2 beta",
        npy: Some("v2-2B-L~beta2"),
        zarr: Some("v2-2B-L~beta2"),
        icechunk: None,
        tile_registry: None,
    },
];

/// Errors resolving datasets.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DatasetError {
    /// The dataset exists but not in the requested format.
    #[error(
        "dataset {name} is not published as {fmt}; it is available as {available}. {fmt} variants of v{version}: {others}. Run 'tessera info' to list datasets"
    )]
    NotInFormat {
        /// Dataset name.
        name: String,
        /// Requested format (upper case).
        fmt: String,
        /// Formats it has.
        available: String,
        /// Normalised version.
        version: String,
        /// Variants of the version that have the format.
        others: String,
    },
    /// An empty or malformed version string.
    #[error("'{0}' is not a dataset version: expected e.g. v1, v1.1, 2.0")]
    BadVersion(String),
    /// A variant not in the table, for a version that is.
    #[error("unknown variant '{variant}' for dataset version v{version}; known variants: {known}")]
    UnknownVariant {
        /// Normalised version.
        version: String,
        /// Requested variant.
        variant: String,
        /// Known variants of the version.
        known: String,
    },
    /// A store path combined with a variant.
    #[error("an explicit store path ('{0}') cannot be combined with a variant")]
    StorePathWithVariant(String),
}

/// A parsed version: `(path, normalised)`, e.g. `("v1", "1.0")` or `("v1.1", "1.1")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Directory form: `v{major}` when the minor is "0", else `v{major}.{minor}`.
    pub path: String,
    /// `major.minor`.
    pub norm: String,
}

/// The reference's version parsing: trim, drop one leading `v`, split on `.`; no numeric
/// validation (so that future versions resolve without a code change).
pub fn parse_version(spec: &str) -> Version {
    let s = spec.trim();
    let s = s.strip_prefix('v').unwrap_or(s);
    let mut parts = s.split('.');
    let major = parts.next().unwrap_or("");
    let minor = parts.next().unwrap_or("0");
    Version {
        path: if minor == "0" {
            format!("v{major}")
        } else {
            format!("v{major}.{minor}")
        },
        norm: format!("{major}.{minor}"),
    }
}

/// Like [`parse_version`], rejecting strings that cannot name a directory
/// (empty, whitespace or `/` inside, non-ASCII-alphanumeric major).
pub fn parse_version_checked(spec: &str) -> Result<Version, DatasetError> {
    let v = parse_version(spec);
    let s = spec.trim();
    let major = s
        .strip_prefix('v')
        .unwrap_or(s)
        .split('.')
        .next()
        .unwrap_or("");
    let ok = !major.is_empty()
        && major.chars().all(|c| c.is_ascii_alphanumeric())
        && !v.norm.contains(['/', '\\', ' '])
        && !v.norm.contains("..");
    if ok {
        Ok(v)
    } else {
        Err(DatasetError::BadVersion(spec.to_string()))
    }
}

/// The version path of a normalised version ("1.0" → "v1", "1.1" → "v1.1").
pub fn version_path_from_norm(norm: &str) -> String {
    match norm.split_once('.') {
        None => format!("v{norm}"),
        Some((major, "0")) | Some((major, "")) => format!("v{major}"),
        Some((major, minor)) => format!("v{major}.{minor}"),
    }
}

/// The table row of `(version_norm, variant)`.
pub fn find_dataset(version_norm: &str, variant: &str) -> Option<&'static Dataset> {
    DATASETS
        .iter()
        .find(|d| d.version == version_norm && d.variant == variant)
}

/// Variants of a normalised version, default first.
pub fn known_variants(version_norm: &str) -> Vec<&'static str> {
    DATASETS
        .iter()
        .filter(|d| d.version == version_norm)
        .map(|d| d.variant)
        .collect()
}

/// Which formats a default is chosen among.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    /// Any format (the version's default).
    Any,
    /// One format.
    Only(Format),
    /// Zarr or Icechunk.
    Stream,
}

/// The one default variant of a version, the same in every command, format and face of
/// this tool: the first variant published both as NPY tiles and as a Zarr store (so tiles,
/// GeoTIFF exports, samples and store reads of one version never mix embeddings that do
/// not interoperate), else the version's first variant. v1.1: cambridge.
pub fn tool_default_variant(version_norm: &str) -> &'static str {
    DATASETS
        .iter()
        .filter(|d| d.version == version_norm)
        .find(|d| d.npy.is_some() && d.zarr.is_some())
        .or_else(|| DATASETS.iter().find(|d| d.version == version_norm))
        .map_or(FALLBACK_VARIANT, |d| d.variant)
}

/// The reference's default variant of a version, optionally among datasets published in a
/// format (geotessera 0.11 picks per format, so its defaults can differ between commands;
/// kept for the Python compatibility names).
pub fn default_variant(version_norm: &str, choice: FormatChoice) -> &'static str {
    let rows: Vec<&Dataset> = DATASETS
        .iter()
        .filter(|d| d.version == version_norm)
        .collect();
    let Some(first) = rows.first() else {
        return FALLBACK_VARIANT;
    };
    let has = |d: &Dataset| match choice {
        FormatChoice::Any => true,
        FormatChoice::Only(f) => d.location(f).is_some(),
        FormatChoice::Stream => d.zarr.is_some() || d.icechunk.is_some(),
    };
    rows.iter().find(|d| has(d)).unwrap_or(first).variant
}

/// The warning printed when a format's default variant differs from the version's.
pub fn variant_note(version_norm: &str, choice: FormatChoice) -> Option<String> {
    let version_default = default_variant(version_norm, FormatChoice::Any);
    let fmt_default = default_variant(version_norm, choice);
    if fmt_default == version_default {
        return None;
    }
    let label = match choice {
        FormatChoice::Stream => "Zarr or Icechunk".to_string(),
        FormatChoice::Only(f) => f.name().to_uppercase(),
        FormatChoice::Any => return None,
    };
    Some(format!(
        "v{version_norm} {label} is published only for variant '{fmt_default}', whose embeddings do not interoperate with the default '{version_default}'. Select '{fmt_default}' explicitly to silence this warning."
    ))
}

fn not_in_format(ds: &Dataset, fmt: Format) -> DatasetError {
    let others: Vec<&str> = DATASETS
        .iter()
        .filter(|d| d.version == ds.version && d.location(fmt).is_some())
        .map(|d| d.variant)
        .collect();
    let available: Vec<&str> = ds.formats().iter().map(|f| f.name()).collect();
    DatasetError::NotInFormat {
        name: ds.name(),
        fmt: fmt.name().to_uppercase(),
        available: if available.is_empty() {
            "nothing".into()
        } else {
            available.join(", ")
        },
        version: ds.version.to_string(),
        others: if others.is_empty() {
            "none".into()
        } else {
            others.join(", ")
        },
    }
}

/// The `npy/` directory of `(version_norm, variant)`: every 1.0 variant maps to `v1`; a
/// known pair to its directory (an error if it has no NPY); an unknown pair to
/// `{version_path}-{variant}` (forward-compatible guess).
pub fn npy_dir(version_norm: &str, variant: &str) -> Result<String, DatasetError> {
    if version_norm == "1.0" {
        return Ok("v1".to_string());
    }
    match find_dataset(version_norm, variant) {
        Some(ds) => ds
            .npy
            .map(str::to_string)
            .ok_or_else(|| not_in_format(ds, Format::Npy)),
        None => Ok(format!(
            "{}-{variant}",
            version_path_from_norm(version_norm)
        )),
    }
}

/// Inverse of [`npy_dir`]: `"v1.1-cam"` → `("1.1", "cambridge")`, `"v1"` → `("1.0", "vultr")`.
pub fn dataset_from_dir(dirname: &str) -> Option<(String, String)> {
    if let Some(d) = DATASETS.iter().find(|d| d.npy == Some(dirname)) {
        return Some((d.version.to_string(), d.variant.to_string()));
    }
    // ^v(\d+)(?:\.(\d+))?(?:-(.+))?$
    let rest = dirname.strip_prefix('v')?;
    let major_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if major_len == 0 {
        return None;
    }
    let (major, mut rest) = rest.split_at(major_len);
    let mut minor = "0";
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        minor = &r[..n];
        rest = &r[n..];
    }
    let version_norm = format!("{major}.{minor}");
    let variant = match rest {
        "" => default_variant(&version_norm, FormatChoice::Only(Format::Npy)).to_string(),
        r => {
            let v = r.strip_prefix('-')?;
            if v.is_empty() {
                return None;
            }
            v.to_string()
        }
    };
    Some((version_norm, variant))
}

/// Where a dataset's stream (Zarr or Icechunk) lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A Zarr store directory under `zarr/` of the mirror.
    ZarrDir(String),
    /// An Icechunk repository URL.
    Icechunk(String),
}

/// Where a dataset's store is, by the reference's `zarr_store_url` rule but with the tool's
/// one default variant ([`tool_default_variant`]).
pub fn store_location(version: &str, variant: Option<&str>) -> Result<StoreLocation, DatasetError> {
    store_location_with(version, variant, tool_default_variant)
}

/// The reference's `zarr_store_url` rule: a version containing `-` is an explicit store
/// directory; an unknown version without variant → `zarr/{version_path}`; the default
/// variant is the stream default; a known dataset → its Zarr dir, else its Icechunk URL;
/// an unknown pair → `zarr/{version_path}-{variant}`.
pub fn store_location_as_reference(
    version: &str,
    variant: Option<&str>,
) -> Result<StoreLocation, DatasetError> {
    store_location_with(version, variant, |v| {
        default_variant(v, FormatChoice::Stream)
    })
}

fn store_location_with(
    version: &str,
    variant: Option<&str>,
    default: fn(&str) -> &'static str,
) -> Result<StoreLocation, DatasetError> {
    if version.contains('-') {
        if variant.is_some() {
            return Err(DatasetError::StorePathWithVariant(version.to_string()));
        }
        return Ok(StoreLocation::ZarrDir(version.to_string()));
    }
    let v = parse_version(version);
    if known_variants(&v.norm).is_empty() && variant.is_none() {
        return Ok(StoreLocation::ZarrDir(v.path));
    }
    let variant = variant.unwrap_or_else(|| default(&v.norm));
    match find_dataset(&v.norm, variant) {
        None => Ok(StoreLocation::ZarrDir(format!("{}-{variant}", v.path))),
        Some(ds) => {
            if let Some(z) = ds.zarr {
                Ok(StoreLocation::ZarrDir(z.to_string()))
            } else if let Some(i) = ds.icechunk {
                Ok(StoreLocation::Icechunk(i.to_string()))
            } else {
                Err(not_in_format(ds, Format::Zarr))
            }
        }
    }
}

/// A resolved dataset: version and variant, with the directories its objects live in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRef {
    /// Parsed version.
    pub version: Version,
    /// Variant.
    pub variant: String,
}

impl DatasetRef {
    /// Resolves user input with the tool's one default variant per version
    /// ([`tool_default_variant`]); with `strict`, a variant unknown for a known version is
    /// an error instead of a forward guess.
    pub fn resolve(
        version: &str,
        variant: Option<&str>,
        strict: bool,
    ) -> Result<DatasetRef, DatasetError> {
        let v = parse_version_checked(version)?;
        let d = tool_default_variant(&v.norm);
        Self::resolve_with(v, variant, d, strict)
    }

    /// Resolves user input as geotessera 0.11 does: the variant defaults per format
    /// (`choice`, see [`default_variant`]).
    pub fn resolve_as_reference(
        version: &str,
        variant: Option<&str>,
        choice: FormatChoice,
        strict: bool,
    ) -> Result<DatasetRef, DatasetError> {
        let v = parse_version_checked(version)?;
        let d = default_variant(&v.norm, choice);
        Self::resolve_with(v, variant, d, strict)
    }

    fn resolve_with(
        v: Version,
        variant: Option<&str>,
        default: &str,
        strict: bool,
    ) -> Result<DatasetRef, DatasetError> {
        let variant = match variant.map(str::trim) {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => default.to_string(),
        };
        let known = known_variants(&v.norm);
        if strict && !known.is_empty() && !known.contains(&variant.as_str()) && v.norm != "1.0" {
            return Err(DatasetError::UnknownVariant {
                version: v.norm,
                variant,
                known: known.join(", "),
            });
        }
        if variant.contains(['/', '\\']) || variant.contains("..") {
            return Err(DatasetError::UnknownVariant {
                version: v.norm,
                variant,
                known: known.join(", "),
            });
        }
        Ok(DatasetRef {
            version: v,
            variant,
        })
    }

    /// The table row, if the pair is published.
    pub fn dataset(&self) -> Option<&'static Dataset> {
        find_dataset(&self.version.norm, &self.variant)
    }

    /// Directory in the `npy/` tree.
    pub fn npy_dir(&self) -> Result<String, DatasetError> {
        npy_dir(&self.version.norm, &self.variant)
    }

    /// Directory in the `landmasks/` tree (the plain version path).
    pub fn landmask_dir(&self) -> &str {
        &self.version.path
    }

    /// The `s3_embeddings_subdir` recorded in the sidecar.
    pub fn s3_embeddings_subdir(&self) -> String {
        if self.variant == FALLBACK_VARIANT {
            EMBEDDINGS_DIR_NAME.to_string()
        } else {
            format!("{EMBEDDINGS_DIR_NAME}.{}", self.variant)
        }
    }
}

/// Object keys relative to a mirror root.
pub mod keys {
    use super::*;

    /// `npy/{dir}/{Y}/grid_X_Y/grid_X_Y.npy`.
    pub fn embedding(npy_dir: &str, year: i32, tile: TileId) -> String {
        format!("npy/{npy_dir}/{year}/{tile}/{tile}.npy")
    }

    /// `npy/{dir}/{Y}/grid_X_Y/grid_X_Y_scales.npy`.
    pub fn scales(npy_dir: &str, year: i32, tile: TileId) -> String {
        format!("npy/{npy_dir}/{year}/{tile}/{tile}_scales.npy")
    }

    /// `npy/{dir}/{Y}/grid_X_Y`.
    pub fn tile_directory(npy_dir: &str, year: i32, tile: TileId) -> String {
        format!("npy/{npy_dir}/{year}/{tile}")
    }

    /// `npy/{dir}/manifest.parquet`.
    pub fn manifest(npy_dir: &str) -> String {
        format!("npy/{npy_dir}/manifest.parquet")
    }

    /// `landmasks/{version_path}/grid_X_Y.tiff`.
    pub fn landmask(version_path: &str, tile: TileId) -> String {
        format!("landmasks/{version_path}/{tile}.tiff")
    }

    /// `landmasks/{version_path}/landmasks.parquet`.
    pub fn landmasks_registry(version_path: &str) -> String {
        format!("landmasks/{version_path}/landmasks.parquet")
    }

    /// `zarr/{zarr_dir}`.
    pub fn zarr_store(zarr_dir: &str) -> String {
        format!("zarr/{zarr_dir}")
    }

    /// The `s3://tessera/tessera/{key}` form recorded in manifests.
    pub fn manifest_path(key: &str) -> String {
        format!("{MANIFEST_S3_ROOT}/{key}")
    }

    /// Local layout: `global_0.1_degree_representation/{Y}/grid_X_Y/grid_X_Y.npy`.
    pub fn local_embedding(year: i32, tile: TileId) -> String {
        format!("{EMBEDDINGS_DIR_NAME}/{year}/{tile}/{tile}.npy")
    }

    /// Local layout: `…/grid_X_Y_scales.npy`.
    pub fn local_scales(year: i32, tile: TileId) -> String {
        format!("{EMBEDDINGS_DIR_NAME}/{year}/{tile}/{tile}_scales.npy")
    }

    /// Local layout: `global_0.1_degree_tiff_all/grid_X_Y.tiff`.
    pub fn local_landmask(tile: TileId) -> String {
        format!("{LANDMASKS_DIR_NAME}/{tile}.tiff")
    }

    /// Local layout: `global_0.1_degree_representation/{Y}/grid_X_Y/grid_X_Y_{Y}.tiff`.
    pub fn local_geotiff(year: i32, tile: TileId) -> String {
        format!("{EMBEDDINGS_DIR_NAME}/{year}/{tile}/{tile}_{year}.tiff")
    }
}

/// One identity for the two published routes to the same objects: a root on the direct
/// bucket route is named by its gateway equivalent (cache keys, store identity); any other
/// root is returned unchanged (without a trailing `/`).
pub fn canonical_root(root: &str) -> String {
    let r = root.trim_end_matches('/');
    match r.strip_prefix(DIRECT_S3_MIRROR) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{DEFAULT_MIRROR}{rest}"),
        _ => r.to_string(),
    }
}

/// The root that Zarr stores are read from for a mirror root: the direct bucket route for
/// the published gateway (the gateway drops requests under region reads; geotessera 0.11
/// reads stores from the bucket too), unless `via_gateway`; any other mirror as it is.
pub fn zarr_read_root(root: &str, via_gateway: bool) -> String {
    let r = root.trim_end_matches('/');
    match r.strip_prefix(DEFAULT_MIRROR) {
        Some(rest) if !via_gateway && (rest.is_empty() || rest.starts_with('/')) => {
            format!("{DIRECT_S3_MIRROR}{rest}")
        }
        _ => r.to_string(),
    }
}

/// Joins a mirror root (URL or path, with or without trailing `/`) and a key.
pub fn join_url(root: &str, key: &str) -> String {
    format!(
        "{}/{}",
        root.trim_end_matches('/'),
        key.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_routes_share_one_identity() {
        let direct = format!("{DIRECT_S3_MIRROR}/zarr/v1.1");
        assert_eq!(
            canonical_root(&direct),
            format!("{DEFAULT_MIRROR}/zarr/v1.1")
        );
        assert_eq!(canonical_root(DEFAULT_MIRROR), DEFAULT_MIRROR);
        assert_eq!(
            canonical_root("http://127.0.0.1:8000/"),
            "http://127.0.0.1:8000"
        );
        assert_eq!(zarr_read_root(DEFAULT_MIRROR, false), DIRECT_S3_MIRROR);
        assert_eq!(zarr_read_root(DEFAULT_MIRROR, true), DEFAULT_MIRROR);
        assert_eq!(
            zarr_read_root("http://127.0.0.1:8000", false),
            "http://127.0.0.1:8000"
        );
        assert_eq!(
            canonical_root(&zarr_read_root(DEFAULT_MIRROR, false)),
            DEFAULT_MIRROR
        );
        // Another path under the same host is not the published tree.
        assert_eq!(
            canonical_root(&format!("{DIRECT_S3_MIRROR}x")),
            format!("{DIRECT_S3_MIRROR}x")
        );
    }

    #[test]
    fn versions() {
        for (s, path, norm) in [
            ("1", "v1", "1.0"),
            ("1.0", "v1", "1.0"),
            ("v1", "v1", "1.0"),
            ("v1.0", "v1", "1.0"),
            ("v1.1", "v1.1", "1.1"),
            (" 1.1 ", "v1.1", "1.1"),
            ("v2", "v2", "2.0"),
        ] {
            assert_eq!(
                parse_version(s),
                Version {
                    path: path.into(),
                    norm: norm.into()
                },
                "{s}"
            );
        }
        assert!(parse_version_checked("").is_err());
        assert!(parse_version_checked("v../x").is_err());
        assert_eq!(version_path_from_norm("2.0"), "v2");
        assert_eq!(version_path_from_norm("1.1"), "v1.1");
    }

    #[test]
    fn defaults_and_dirs() {
        assert_eq!(default_variant("1.1", FormatChoice::Any), "dclimate");
        assert_eq!(
            default_variant("1.1", FormatChoice::Only(Format::Npy)),
            "cambridge"
        );
        assert_eq!(default_variant("1.1", FormatChoice::Stream), "dclimate");
        assert_eq!(default_variant("2.0", FormatChoice::Any), "2B-L~beta1");
        assert_eq!(default_variant("9.9", FormatChoice::Any), "vultr");
        assert!(
            variant_note("1.1", FormatChoice::Only(Format::Npy))
                .unwrap()
                .contains("'cambridge'")
        );
        assert!(variant_note("1.0", FormatChoice::Only(Format::Npy)).is_none());
        assert_eq!(npy_dir("1.0", "anything").unwrap(), "v1");
        assert_eq!(npy_dir("1.1", "cambridge").unwrap(), "v1.1-cam");
        assert_eq!(npy_dir("2.0", "2B-L~beta1").unwrap(), "v2-2B-L~beta1");
        assert_eq!(npy_dir("3.0", "x").unwrap(), "v3-x");
        let e = npy_dir("1.1", "dclimate").unwrap_err().to_string();
        assert!(
            e.contains("not published as NPY") && e.contains("cambridge"),
            "{e}"
        );
        assert_eq!(
            dataset_from_dir("v1.1-cam"),
            Some(("1.1".into(), "cambridge".into()))
        );
        assert_eq!(dataset_from_dir("v1"), Some(("1.0".into(), "vultr".into())));
        assert_eq!(
            dataset_from_dir("v1.1"),
            Some(("1.1".into(), "cambridge".into()))
        );
        assert_eq!(
            dataset_from_dir("v3-foo"),
            Some(("3.0".into(), "foo".into()))
        );
        assert_eq!(dataset_from_dir("x1"), None);
        assert_eq!(dataset_from_dir("v1."), None);
    }

    #[test]
    fn stores() {
        use StoreLocation::*;
        assert_eq!(
            store_location_as_reference("v1.1", None).unwrap(),
            ZarrDir("v1.1-dclimate".into())
        );
        // The tool's one default: the store of the same dataset as the NPY tiles.
        assert_eq!(
            store_location("v1.1", None).unwrap(),
            ZarrDir("v1.1".into())
        );
        assert_eq!(tool_default_variant("1.1"), "cambridge");
        assert_eq!(tool_default_variant("1.0"), "vultr");
        assert_eq!(tool_default_variant("2.0"), "2B-L~beta1");
        for v in ["v1", "v1.1", "v2"] {
            let d = DatasetRef::resolve(v, None, true).unwrap();
            assert!(d.npy_dir().is_ok(), "{v}");
            assert!(
                matches!(store_location(v, None).unwrap(), ZarrDir(z) if Some(z.as_str()) == d.dataset().and_then(|x| x.zarr)),
                "{v}"
            );
        }
        assert_eq!(
            store_location("v1.1", Some("cambridge")).unwrap(),
            ZarrDir("v1.1".into())
        );
        assert_eq!(store_location("v1", None).unwrap(), ZarrDir("v1".into()));
        assert_eq!(
            store_location("v2-2B-L~beta1", None).unwrap(),
            ZarrDir("v2-2B-L~beta1".into())
        );
        assert!(store_location("v2-x", Some("y")).is_err());
        assert_eq!(store_location("v7", None).unwrap(), ZarrDir("v7".into()));
        assert_eq!(
            store_location("v1.1", Some("new")).unwrap(),
            ZarrDir("v1.1-new".into())
        );
    }

    #[test]
    fn key_building() {
        let t: TileId = "grid_0.15_52.05".parse().unwrap();
        let d = DatasetRef::resolve("v1.1", None, true).unwrap();
        let dir = d.npy_dir().unwrap();
        assert_eq!(
            join_url(DEFAULT_MIRROR, &keys::scales(&dir, 2024, t)),
            "https://data.source.coop/tessera/tessera/npy/v1.1-cam/2024/grid_0.15_52.05/grid_0.15_52.05_scales.npy"
        );
        assert_eq!(
            keys::landmask(d.landmask_dir(), t),
            "landmasks/v1.1/grid_0.15_52.05.tiff"
        );
        assert_eq!(
            join_url(&format!("{DEFAULT_MIRROR}/"), &keys::manifest("v1")),
            "https://data.source.coop/tessera/tessera/npy/v1/manifest.parquet"
        );
        assert_eq!(
            keys::landmasks_registry("v1.1"),
            "landmasks/v1.1/landmasks.parquet"
        );
        assert_eq!(keys::zarr_store("v1.1-dclimate"), "zarr/v1.1-dclimate");
        assert_eq!(
            keys::manifest_path(&keys::embedding("v1", 2024, t)),
            "s3://tessera/tessera/npy/v1/2024/grid_0.15_52.05/grid_0.15_52.05.npy"
        );
        assert_eq!(
            keys::local_geotiff(2024, t),
            "global_0.1_degree_representation/2024/grid_0.15_52.05/grid_0.15_52.05_2024.tiff"
        );
        assert_eq!(
            d.s3_embeddings_subdir(),
            "global_0.1_degree_representation.cambridge"
        );
        assert!(DatasetRef::resolve("v1.1", Some("nope"), true).is_err());
        assert!(DatasetRef::resolve("v1.1", Some("../x"), false).is_err());
    }
}
