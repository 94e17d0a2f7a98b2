//! What the mirror-reading commands share: the mirror, the runtime, dataset resolution and
//! the mapping of library errors onto exit codes.

use tessera_client::registry::{Registry, RegistrySource};
use tessera_client::{ClientError, Mirror, MirrorRoot, Runtime};
use tessera_core::{DatasetRef, FormatChoice};

use crate::cli::{DatasetSelect, GlobalArgs};
use crate::exit::usage;

/// A library error as a CLI error: the user's mistakes exit 2, failures exit 1.
pub fn cli_err(e: ClientError) -> anyhow::Error {
    if e.is_usage() {
        usage(e.to_string())
    } else {
        anyhow::Error::new(e)
    }
}

/// The mirror of `--mirror` / `$TESSERA_MIRROR` / the published default.
pub fn mirror(g: &GlobalArgs) -> anyhow::Result<Mirror> {
    let root = match &g.mirror {
        Some(m) => MirrorRoot::parse(m),
        None => MirrorRoot::from_env_or_default(),
    }
    .map_err(cli_err)?;
    Mirror::with_config(root, http_config(g)).map_err(cli_err)
}

/// The HTTP guards of the global options.
pub fn http_config(g: &GlobalArgs) -> tessera_client::mirror::HttpConfig {
    let started = std::time::Instant::now();
    tessera_client::mirror::HttpConfig {
        stall_window: (g.stall_timeout > 0)
            .then(|| std::time::Duration::from_secs(g.stall_timeout)),
        deadline: g
            .deadline
            .map(|s| started + std::time::Duration::from_secs(s)),
        follow_any_redirect: g.follow_redirects,
        ..Default::default()
    }
}

/// A runtime for the async client.
pub fn runtime() -> anyhow::Result<Runtime> {
    Runtime::new().map_err(cli_err)
}

/// Resolves the dataset, printing the reference's note when the format's default variant
/// differs from the version's.
pub fn dataset(d: &DatasetSelect, choice: FormatChoice, quiet: bool) -> anyhow::Result<DatasetRef> {
    let r = DatasetRef::resolve(
        &d.dataset_version,
        d.dataset_variant.as_deref(),
        choice,
        true,
    )
    .map_err(|e| usage(e.to_string()))?;
    if d.dataset_variant.is_none()
        && !quiet
        && let Some(note) = tessera_core::dataset::variant_note(&r.version.norm, choice)
    {
        eprintln!("note: {note}");
    }
    Ok(r)
}

/// Opens the dataset's registry, printing its warnings.
pub fn registry(
    rt: &Runtime,
    m: &Mirror,
    d: &DatasetRef,
    g: &GlobalArgs,
    registry_dir: Option<&std::path::Path>,
) -> anyhow::Result<Registry> {
    registry_with(rt, m, d, g, registry_dir, false)
}

/// [`registry`], with `offline` making no request (cached registries only).
pub fn registry_with(
    rt: &Runtime,
    m: &Mirror,
    d: &DatasetRef,
    g: &GlobalArgs,
    registry_dir: Option<&std::path::Path>,
    offline: bool,
) -> anyhow::Result<Registry> {
    let src = RegistrySource {
        cache_dir: g.cache_dir.clone(),
        registry_dir: registry_dir.map(std::path::Path::to_path_buf),
        offline,
    };
    let r = rt.block_on(Registry::open(m, d, &src)).map_err(cli_err)?;
    for w in &r.warnings {
        eprintln!("warning: {}", tessera_client::mirror::sanitize(w));
    }
    Ok(r)
}

/// "1.2 MB": 1000-based with one decimal (B, kB, MB, GB, TB).
pub fn human(bytes: u64) -> String {
    let mut v = bytes as f64;
    for unit in ["B", "kB", "MB", "GB"] {
        if v < 1000.0 {
            return format!("{v:.1} {unit}");
        }
        v /= 1000.0;
    }
    format!("{v:.1} TB")
}
