//! What the mirror-reading commands share: the mirror, the runtime, dataset resolution and
//! the mapping of library errors onto exit codes.

use tessera_client::registry::{Registry, RegistrySource};
use tessera_client::{ClientError, Mirror, MirrorRoot, Runtime};
use tessera_core::DatasetRef;

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
        on_retry: (!g.quiet).then_some(note_retry as fn(&str)),
        ..Default::default()
    }
}

/// Says once per run that a request failed and is being retried (a run against an
/// unreachable or flaky mirror is never silent).
fn note_retry(what: &str) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!("note: {}; retrying", tessera_client::mirror::sanitize(what));
    }
}

/// A runtime for the async client.
pub fn runtime() -> anyhow::Result<Runtime> {
    Runtime::new().map_err(cli_err)
}

/// Resolves the dataset: the tool's one default variant per version unless one is given.
pub fn dataset(d: &DatasetSelect) -> anyhow::Result<DatasetRef> {
    DatasetRef::resolve(&d.dataset_version, d.dataset_variant.as_deref(), true)
        .map_err(|e| usage(e.to_string()))
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
        ..Default::default()
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

static CREATED: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Creates (if needed) and checks an output directory before any request is made,
/// remembering the directories this run created so that a failed run can remove them
/// again when they are still empty ([`remove_created_empty_dirs`]).
pub fn prepare_output(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        at = d.parent();
    }
    tessera_client::download::preflight(dir).map_err(cli_err)?;
    if let Ok(mut c) = CREATED.lock() {
        c.extend(missing);
    }
    Ok(())
}

/// Removes the directories [`prepare_output`] created, deepest first, where they are
/// still empty (a failed run leaves no empty output directory behind).
pub fn remove_created_empty_dirs() {
    let dirs = CREATED.lock().map(|c| c.clone()).unwrap_or_default();
    for d in dirs {
        let _ = std::fs::remove_dir(&d);
    }
}

/// How a dataset is named in every summary: `v1.1 cambridge`.
pub fn dataset_label(d: &DatasetRef) -> String {
    format!("{} {}", d.version.path, d.variant)
}

/// The settings a download starts with, on one line (stderr, so `--json` stays clean):
/// dataset, year, region, output and what is written.
pub fn print_settings(
    g: &GlobalArgs,
    dataset: &str,
    year: i32,
    region: &str,
    out: &std::path::Path,
    what: &str,
) {
    if !g.quiet {
        eprintln!(
            "Download: {dataset} {year}, {region} -> {} ({what})",
            out.display()
        );
    }
}
