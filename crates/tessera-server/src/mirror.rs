//! The mirror server: serves a mirror directory the way the published mirror does (GET and
//! HEAD, Range including suffix ranges, Content-Length, ETag, Last-Modified and
//! conditional requests, CRC64NVMe on request, 404 for missing keys, 403 without a
//! User-Agent), with seeded fault injection and request statistics for tests.
//! Connections are handled in [`crate::conn`], the `/_tessera/` endpoints in
//! [`crate::admin`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use thiserror::Error;
use tokio::net::TcpListener;

use crate::body::file_body;
pub(crate) use crate::body::{Body, full, s3_error};
use crate::faults::{Decision, FaultRule, Faults, MAX_LATENCY};
use crate::objects::{KeyError, Lookup, MetaCache, percent_decode};
use crate::stats::{Stats, StatsTable};

/// Errors starting the server.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The mirror directory does not exist.
    #[error(
        "{0}: not a directory; give the root of a mirror (e.g. one written by 'tessera mirror synth')"
    )]
    NoRoot(PathBuf),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}; choose another --addr")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The runtime could not start.
    #[error("cannot start the server: {0}")]
    Runtime(std::io::Error),
    /// More fault rules than the server holds.
    #[error("{0} fault rules given; at most {max} are allowed", max = crate::faults::MAX_RULES)]
    TooManyFaults(usize),
}

/// Resource limits of the server; the defaults suit a test or LAN mirror.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, counted from when the server starts
    /// waiting for them; it also closes keep-alive connections left idle that long.
    pub header_read_timeout: Duration,
    /// A connection whose peer accepts no bytes of a response for this long is closed.
    pub idle_timeout: Duration,
    /// Distinct keys in the statistics; further keys are summed under
    /// [`crate::stats::OTHER_KEYS`].
    pub max_stat_keys: usize,
    /// The largest request body of an admin endpoint (413 beyond).
    pub max_admin_body: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 512,
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_stat_keys: 10_000,
            max_admin_body: 1 << 20,
        }
    }
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The mirror root directory.
    pub root: PathBuf,
    /// Address to bind (loopback by default).
    pub addr: SocketAddr,
    /// Fault rules.
    pub faults: Vec<FaultRule>,
    /// Seed of the fault decisions.
    pub seed: u64,
    /// Answer 403 to requests without a User-Agent, as the published CDN does.
    pub require_user_agent: bool,
    /// Print one line per request on stderr.
    pub log: bool,
    /// Serve the admin endpoints under `/_tessera/` (stats, reset, faults). They are also
    /// served whenever `faults` is not empty; otherwise those paths are plain keys.
    pub admin: bool,
    /// Resource limits.
    pub limits: Limits,
}

impl ServerConfig {
    /// Serves `root` on 127.0.0.1 with an ephemeral port, no faults, no admin endpoints.
    pub fn new(root: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            root: root.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            faults: Vec::new(),
            seed: 0,
            require_user_agent: true,
            log: false,
            admin: false,
            limits: Limits::default(),
        }
    }

    /// Whether the admin endpoints are served: asked for, or needed to steer the faults.
    pub fn admin_enabled(&self) -> bool {
        self.admin || !self.faults.is_empty()
    }
}

/// Bodies up to this size are read at once instead of streamed.
const SMALL_BODY: u64 = 1 << 20;

pub(crate) struct State {
    pub(crate) faults: Faults,
    meta: MetaCache,
    pub(crate) stats: StatsTable,
    require_user_agent: bool,
    pub(crate) log: bool,
    admin: bool,
    pub(crate) addr: SocketAddr,
    pub(crate) limits: Limits,
}

/// A parsed `Range` header for an object of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// No (usable) range: the whole object.
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// Not satisfiable.
    Unsatisfiable,
}

/// Parses a `Range` header as S3 does: one range (`a-b`, `a-`, `-n`); several ranges or a
/// malformed header mean the whole object.
pub fn parse_range(h: Option<&str>, size: u64) -> RangeSpec {
    let Some(spec) = h.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeSpec::Whole;
    };
    if spec.contains(',') {
        return RangeSpec::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    match (a.is_empty(), b.is_empty()) {
        (true, false) => match b.parse::<u64>() {
            Ok(0) => RangeSpec::Unsatisfiable,
            Ok(n) if size == 0 => {
                let _ = n;
                RangeSpec::Unsatisfiable
            }
            Ok(n) => RangeSpec::Part(size.saturating_sub(n), size - 1),
            Err(_) => RangeSpec::Whole,
        },
        (false, _) => {
            let Ok(start) = a.parse::<u64>() else {
                return RangeSpec::Whole;
            };
            let end = if b.is_empty() {
                u64::MAX
            } else {
                match b.parse::<u64>() {
                    Ok(e) if e >= start => e,
                    _ => return RangeSpec::Whole,
                }
            };
            if start >= size {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Part(start, end.min(size - 1))
            }
        }
        (true, true) => RangeSpec::Whole,
    }
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').any(|t| {
        let t = t.trim().trim_start_matches("W/");
        t == "*" || t == etag
    })
}

/// Answers one request.
pub(crate) async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
    reset: Arc<AtomicBool>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    if state.admin
        && let Some(cmd) = path.strip_prefix("/_tessera/")
    {
        return Ok(crate::admin::admin(req, cmd, &state).await);
    }
    let method = req.method().clone();
    let resp = serve_object(&req, &path, &state, reset).await;
    if state.log {
        eprintln!(
            "{method} {path} {} {}",
            resp.status().as_u16(),
            header_str(resp.headers(), header::CONTENT_LENGTH).unwrap_or("-")
        );
    }
    Ok(resp)
}

async fn serve_object(
    req: &Request<Incoming>,
    path: &str,
    state: &Arc<State>,
    reset: Arc<AtomicBool>,
) -> Response<Body> {
    let Some(key) = percent_decode(path.trim_start_matches('/')) else {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidURI",
            "Malformed percent-encoding",
            path,
        );
    };
    if state.require_user_agent
        && header_str(req.headers(), header::USER_AGENT).is_none_or(|u| u.trim().is_empty())
    {
        return s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Requests need a User-Agent",
            &key,
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = s3_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "Only GET and HEAD",
            &key,
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let (file, meta) = match state.meta.lookup(&key) {
        Ok(Lookup::Fresh(o, m)) => (o.file, m),
        Ok(Lookup::Stale(o)) => {
            let st = state.clone();
            let done = tokio::task::spawn_blocking(move || {
                let m = st.meta.refresh(&o);
                (o, m)
            });
            match done.await {
                Ok((o, Ok(m))) => (o.file, m),
                _ => {
                    return s3_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        "Cannot read the object",
                        &key,
                    );
                }
            }
        }
        Err(KeyError::Traversal) => {
            return s3_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "Path traversal refused",
                &key,
            );
        }
        Err(KeyError::NotFound) => {
            state.stats.count(&key, false);
            return s3_error(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
                &key,
            );
        }
    };
    let headers = req.headers();
    let mut range = parse_range(header_str(headers, header::RANGE), meta.size);
    if let Some(ir) = header_str(headers, header::IF_RANGE)
        && ir.trim() != meta.etag
    {
        range = RangeSpec::Whole;
    }
    let is_range = matches!(range, RangeSpec::Part(..));
    state.stats.count(&key, is_range);
    let body_len = match range {
        RangeSpec::Part(a, b) => b - a + 1,
        _ => meta.size,
    };
    let decision = if req.method() == Method::HEAD {
        let d = state.faults.decide(&key, 0);
        Decision {
            truncate_at: None,
            reset_at: None,
            flip_at: None,
            rate: None,
            ..d
        }
    } else {
        state.faults.decide(&key, body_len)
    };
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency.min(MAX_LATENCY)).await;
    }
    if let Some((code, retry_after)) = decision.status {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = s3_error(
            status,
            if code == 429 || code == 503 {
                "SlowDown"
            } else {
                "InternalError"
            },
            "Injected fault",
            &key,
        );
        if let Some(s) = retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let mut base = Response::builder()
        .header(header::ETAG, meta.etag.as_str())
        .header(
            header::LAST_MODIFIED,
            httpdate::fmt_http_date(meta.modified),
        )
        .header(header::ACCEPT_RANGES, "bytes");
    // Conditional requests.
    if let Some(m) = header_str(headers, header::IF_MATCH)
        && !etag_matches(m, &meta.etag)
    {
        return s3_error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "If-Match failed",
            &key,
        );
    }
    let not_modified = if let Some(inm) = header_str(headers, header::IF_NONE_MATCH) {
        etag_matches(inm, &meta.etag)
    } else if let Some(ims) = header_str(headers, header::IF_MODIFIED_SINCE)
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        secs(meta.modified) <= secs(ims)
    } else {
        false
    };
    if not_modified {
        return base
            .status(StatusCode::NOT_MODIFIED)
            .body(full(Bytes::new()))
            .unwrap_or_else(|_| internal(&key));
    }
    let checksum_mode = header_str(
        headers,
        http::HeaderName::from_static("x-amz-checksum-mode"),
    )
    .is_some_and(|v| v.eq_ignore_ascii_case("enabled"));
    let (status, start) = match range {
        RangeSpec::Unsatisfiable => {
            let mut r = s3_error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable",
                &key,
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", meta.size)) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
        RangeSpec::Part(a, b) => {
            base = base.header(
                header::CONTENT_RANGE,
                format!("bytes {a}-{b}/{}", meta.size),
            );
            (StatusCode::PARTIAL_CONTENT, a)
        }
        RangeSpec::Whole => {
            if checksum_mode {
                base = base
                    .header("x-amz-checksum-crc64nvme", meta.crc64nvme.as_str())
                    .header("x-amz-checksum-type", "FULL_OBJECT");
            }
            (StatusCode::OK, 0)
        }
    };
    base = base
        .status(status)
        .header(header::CONTENT_LENGTH, body_len)
        .header(header::CONTENT_TYPE, content_type(&key));
    if req.method() == Method::HEAD {
        return base
            .body(full(Bytes::new()))
            .unwrap_or_else(|_| internal(&key));
    }
    // Small bodies without faults are read in one positioned read; the rest is streamed.
    let plain = decision.truncate_at.is_none()
        && decision.reset_at.is_none()
        && decision.flip_at.is_none()
        && decision.rate.is_none();
    if plain && body_len <= SMALL_BODY {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; body_len as usize];
        if file.read_exact_at(&mut buf, start).is_err() {
            return s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "Cannot read the object",
                &key,
            );
        }
        state.stats.add_bytes(&key, body_len);
        return base.body(full(buf)).unwrap_or_else(|_| internal(&key));
    }
    let body = file_body(
        file,
        start,
        body_len,
        decision,
        reset,
        state.clone(),
        key.clone(),
    );
    base.body(body).unwrap_or_else(|_| internal(&key))
}

fn internal(key: &str) -> Response<Body> {
    s3_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "Response construction failed",
        key,
    )
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn content_type(key: &str) -> &'static str {
    if key.ends_with(".json") {
        "application/json"
    } else if key.ends_with(".tiff") || key.ends_with(".tif") {
        "image/tiff"
    } else {
        "application/octet-stream"
    }
}

/// A handle on a running server's shared state.
#[derive(Clone)]
pub struct ServerHandle {
    state: Arc<State>,
    addr: SocketAddr,
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the mirror root URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Request statistics.
    pub fn stats(&self) -> Stats {
        self.state.stats.snapshot()
    }

    /// Clears the statistics.
    pub fn reset_stats(&self) {
        self.state.stats.reset();
    }

    /// Whether the admin endpoints are served.
    pub fn admin_enabled(&self) -> bool {
        self.state.admin
    }

    pub(crate) fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// The active fault rules.
    pub fn faults(&self) -> Vec<FaultRule> {
        self.state.faults.rules()
    }

    /// Replaces the fault rules.
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        self.state.faults.replace(rules);
    }
}

/// Binds the listener and returns it with a handle; serve it with [`serve`].
pub async fn bind(cfg: &ServerConfig) -> Result<(TcpListener, ServerHandle), ServerError> {
    if !cfg.root.is_dir() {
        return Err(ServerError::NoRoot(cfg.root.clone()));
    }
    let listener = TcpListener::bind(cfg.addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: cfg.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: cfg.addr,
        source,
    })?;
    let meta = MetaCache::new(&cfg.root).map_err(|_| ServerError::NoRoot(cfg.root.clone()))?;
    if cfg.faults.len() > crate::faults::MAX_RULES {
        return Err(ServerError::TooManyFaults(cfg.faults.len()));
    }
    let state = Arc::new(State {
        faults: Faults::new(cfg.seed, cfg.faults.clone()),
        meta,
        stats: StatsTable::new(cfg.limits.max_stat_keys),
        require_user_agent: cfg.require_user_agent,
        log: cfg.log,
        admin: cfg.admin_enabled(),
        addr,
        limits: cfg.limits.clone(),
    });
    Ok((listener, ServerHandle { state, addr }))
}

/// A server running on its own thread and runtime (for tests, demos and embedding).
pub struct MirrorServer {
    handle: ServerHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MirrorServer {
    /// Binds and starts serving; returns once the address is bound.
    pub fn start(cfg: ServerConfig) -> Result<MirrorServer, ServerError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let (listener, handle) = rt.block_on(bind(&cfg))?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let h = handle.clone();
        let thread = std::thread::spawn(move || {
            rt.block_on(crate::conn::serve(listener, h, async {
                let _ = rx.await;
            }));
        });
        Ok(MirrorServer {
            handle,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// The handle (address, stats, faults).
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        self.handle.url()
    }

    /// Stops accepting, lets open requests finish (up to 5 s), and joins the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MirrorServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), RangeSpec::Whole);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), RangeSpec::Part(0, 3));
        assert_eq!(parse_range(Some("bytes=5-"), 10), RangeSpec::Part(5, 9));
        assert_eq!(parse_range(Some("bytes=-4"), 10), RangeSpec::Part(6, 9));
        assert_eq!(parse_range(Some("bytes=-40"), 10), RangeSpec::Part(0, 9));
        assert_eq!(parse_range(Some("bytes=3-100"), 10), RangeSpec::Part(3, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), RangeSpec::Whole);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), RangeSpec::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10), RangeSpec::Whole);
    }
}
