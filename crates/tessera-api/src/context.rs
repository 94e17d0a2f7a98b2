//! Where the data comes from and how it is fetched: the mirror, the cache directory, the
//! HTTP guards, and the one runtime of the process.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_client::mirror::HttpConfig;
use tessera_client::{Mirror, MirrorRoot, Result, Runtime};

/// How a [`Context`] is opened: every field is optional, as the CLI's global options and the
/// Python constructors' keyword arguments are.
#[derive(Clone, Debug, Default)]
pub struct ContextOptions {
    /// The mirror root (a URL or a directory); `None`: `$TESSERA_MIRROR`, else the
    /// published mirror.
    pub mirror: Option<String>,
    /// The registry cache directory; `None`: the platform cache directory.
    pub cache_dir: Option<PathBuf>,
    /// A response body that makes no progress for this long is abandoned (and retried);
    /// `None`: the library default, `Some(0)`: never.
    pub stall_timeout: Option<Duration>,
    /// Every request stops after this long from the opening of the context.
    pub deadline: Option<Duration>,
    /// Follow redirects to other hosts (same-origin redirects are always followed).
    pub follow_redirects: bool,
}

/// An opened mirror with its settings; cheap to clone, shared by the calls of one face.
#[derive(Clone)]
pub struct Context {
    /// The mirror all calls read from.
    pub mirror: Mirror,
    /// The registry cache directory (`None`: the platform default).
    pub cache_dir: Option<PathBuf>,
    /// The options the context was opened with.
    pub options: ContextOptions,
}

impl Context {
    /// Opens the mirror of `options` (no request is made).
    pub fn open(options: ContextOptions) -> Result<Context> {
        let root = match &options.mirror {
            Some(m) => MirrorRoot::parse(m)?,
            None => MirrorRoot::from_env_or_default()?,
        };
        let started = Instant::now();
        let mut config = HttpConfig::default();
        match options.stall_timeout {
            Some(d) if d.is_zero() => config.stall_window = None,
            Some(d) => config.stall_window = Some(d),
            None => {}
        }
        config.deadline = options.deadline.map(|d| started + d);
        config.follow_any_redirect = options.follow_redirects;
        let mirror = Mirror::with_config(root, config)?;
        Ok(Context {
            mirror,
            cache_dir: options.cache_dir.clone(),
            options,
        })
    }

    /// The mirror root as users write it (for sidecars and messages).
    pub fn mirror_label(&self) -> String {
        self.mirror.root.to_string()
    }
}

struct ProcessRuntime {
    pid: u32,
    rt: Arc<Runtime>,
}

static RUNTIME: Mutex<Option<ProcessRuntime>> = Mutex::new(None);

/// The process's one multi-threaded runtime, created on first use. A forked child (Python's
/// multiprocessing, joblib, dask) gets a fresh one: the parent's worker threads do not exist
/// in the child, and using its runtime there would hang. The parent's runtime is leaked in
/// the child, never dropped (dropping joins threads that are not there).
pub fn runtime() -> Result<Arc<Runtime>> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = slot.as_ref()
        && p.pid == pid
    {
        return Ok(p.rt.clone());
    }
    if let Some(old) = slot.take() {
        std::mem::forget(old.rt);
    }
    let rt = Arc::new(Runtime::new()?);
    *slot = Some(ProcessRuntime {
        pid,
        rt: rt.clone(),
    });
    Ok(rt)
}
