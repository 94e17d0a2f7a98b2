//! What the mirror-reading commands share: the mirror, the runtime, dataset resolution and
//! the mapping of library errors onto exit codes.

use tessera_api::tiles::DatasetOptions;
use tessera_api::{Context, ContextOptions, Level, Progress};
use tessera_client::ClientError;
use tessera_core::DatasetRef;

use crate::cli::{DatasetSelect, GlobalArgs};
use crate::exit::usage;

/// The context of the global options: the mirror, the cache, the HTTP guards and the
/// retry note. No request is made.
pub fn context(g: &GlobalArgs) -> anyhow::Result<Context> {
    let mut ctx = Context::open(ContextOptions {
        mirror: g.mirror.clone(),
        cache_dir: g.cache_dir.clone(),
        stall_timeout: Some(std::time::Duration::from_secs(g.stall_timeout)),
        deadline: g.deadline.map(std::time::Duration::from_secs),
        follow_redirects: g.follow_redirects,
    })
    .map_err(cli_err)?;
    ctx.mirror.http.config = http_config(g);
    Ok(ctx)
}

/// The dataset options of `--dataset-version` / `--dataset-variant` (and a registry
/// directory where the command has one).
pub fn dataset_options(
    d: &DatasetSelect,
    registry_dir: Option<&std::path::Path>,
) -> DatasetOptions {
    DatasetOptions {
        version: d.dataset_version.clone(),
        variant: d.dataset_variant.clone(),
        registry_dir: registry_dir.map(std::path::Path::to_path_buf),
        ..Default::default()
    }
}

/// Prints the notes and warnings recorded so far on stderr: notes as they are (not with
/// `-q`), warnings always.
pub fn print_notes(g: &GlobalArgs, p: &Progress) {
    for n in p.take_notes() {
        match n.level {
            Level::Warning => eprintln!("warning: {}", n.text),
            Level::Note if !g.quiet => eprintln!("{}", n.text),
            Level::Note => {}
        }
    }
}

/// Remembers directories a facade call created, so that a failed run removes them again
/// while they are empty ([`remove_created_empty_dirs`]).
pub fn remember_created(dirs: Vec<std::path::PathBuf>) {
    if let Ok(mut c) = CREATED.lock() {
        c.extend(dirs);
    }
}

/// A library error as a CLI error: the user's mistakes exit 2, failures exit 1.
pub fn cli_err(e: ClientError) -> anyhow::Error {
    if e.is_usage() {
        usage(e.to_string())
    } else {
        anyhow::Error::new(e)
    }
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

/// Resolves the dataset: the tool's one default variant per version unless one is given.
pub fn dataset(d: &DatasetSelect) -> anyhow::Result<DatasetRef> {
    DatasetRef::resolve(&d.dataset_version, d.dataset_variant.as_deref(), true)
        .map_err(|e| usage(e.to_string()))
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
    remember_created(tessera_api::tiles::prepare_output(dir).map_err(cli_err)?);
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
    tessera_api::tiles::dataset_label(d)
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
