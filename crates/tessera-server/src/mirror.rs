//! The mirror server: serves a mirror directory the way the published mirror does (GET and
//! HEAD, Range including suffix ranges, Content-Length, ETag, Last-Modified and
//! conditional requests, CRC64NVMe on request, 404 for missing keys, 403 without a
//! User-Agent), with seeded fault injection and request statistics for tests.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::faults::{Decision, FaultRule, Faults};
use crate::objects::{KeyError, Lookup, MetaCache, ObjectMeta, percent_decode};

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
}

impl ServerConfig {
    /// Serves `root` on 127.0.0.1 with an ephemeral port, no faults.
    pub fn new(root: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            root: root.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            faults: Vec::new(),
            seed: 0,
            require_user_agent: true,
            log: false,
        }
    }
}

/// Per-key request statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// Requests (GET and HEAD).
    pub requests: u64,
    /// Ranged GETs.
    pub ranges: u64,
    /// Body bytes sent.
    pub bytes: u64,
}

/// Statistics since start (or the last reset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests (GET and HEAD, all statuses).
    pub requests: u64,
    /// Body bytes sent.
    pub bytes: u64,
    /// By key.
    pub by_key: BTreeMap<String, KeyStats>,
}

impl Stats {
    fn to_json(&self) -> serde_json::Value {
        let keys: serde_json::Map<String, serde_json::Value> = self
            .by_key
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!({"requests": v.requests, "ranges": v.ranges, "bytes": v.bytes}),
                )
            })
            .collect();
        json!({"requests": self.requests, "bytes": self.bytes, "by_key": keys})
    }
}

struct State {
    faults: Faults,
    meta: MetaCache,
    stats: Mutex<Stats>,
    require_user_agent: bool,
    log: bool,
}

impl State {
    fn count(&self, key: &str, range: bool) {
        let mut s = self.stats.lock().expect("stats");
        s.requests += 1;
        let k = s.by_key.entry(key.to_string()).or_default();
        k.requests += 1;
        k.ranges += u64::from(range);
    }

    fn add_bytes(&self, key: &str, n: u64) {
        let mut s = self.stats.lock().expect("stats");
        s.bytes += n;
        s.by_key.entry(key.to_string()).or_default().bytes += n;
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

/// Bodies up to this size are read at once instead of streamed.
const SMALL_BODY: u64 = 1 << 20;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn s3_error(status: StatusCode, code: &str, message: &str, key: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><Key>{key}</Key></Error>\n"
    );
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
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

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
    reset: Arc<AtomicBool>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    if let Some(cmd) = path.strip_prefix("/_tessera/") {
        return Ok(admin(req, cmd.to_string(), &state).await);
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
        Ok(Lookup::Fresh(f, m)) => (f, m),
        Ok(Lookup::Stale(f)) => {
            let st = state.clone();
            let (k, p) = (key.clone(), f.clone());
            match tokio::task::spawn_blocking(move || st.meta.refresh(&k, &p)).await {
                Ok(Ok(m)) => (f, m),
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
            state.count(&key, false);
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
    state.count(&key, is_range);
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
        tokio::time::sleep(decision.latency).await;
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
        let read = std::fs::File::open(&file).and_then(|f| f.read_exact_at(&mut buf, start));
        if read.is_err() {
            return s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "Cannot read the object",
                &key,
            );
        }
        state.add_bytes(&key, body_len);
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
        &meta,
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

/// Streams `len` bytes of `path` from `start`, applying the body faults.
#[allow(clippy::too_many_arguments)]
fn file_body(
    path: PathBuf,
    start: u64,
    len: u64,
    d: Decision,
    reset: Arc<AtomicBool>,
    state: Arc<State>,
    key: String,
    _meta: &ObjectMeta,
) -> Body {
    struct S {
        file: Option<tokio::fs::File>,
        path: PathBuf,
        pos: u64,
        sent: u64,
        len: u64,
        d: Decision,
        reset: Arc<AtomicBool>,
        state: Arc<State>,
        key: String,
        done: bool,
    }
    let s = S {
        file: None,
        path,
        pos: start,
        sent: 0,
        len,
        d,
        reset,
        state,
        key,
        done: false,
    };
    let stream = futures_util::stream::unfold(s, |mut s| async move {
        if s.done || s.sent >= s.len {
            return None;
        }
        if s.file.is_none() {
            match tokio::fs::File::open(&s.path).await {
                Ok(mut f) => {
                    if let Err(e) = f.seek(std::io::SeekFrom::Start(s.pos)).await {
                        s.done = true;
                        return Some((Err(e), s));
                    }
                    s.file = Some(f);
                }
                Err(e) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
            }
        }
        // Where this chunk must stop: a fault point or the end.
        let limit = [s.d.truncate_at, s.d.reset_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(s.len);
        if s.sent >= limit {
            s.done = true;
            if s.d.reset_at == Some(limit) {
                s.reset.store(true, Ordering::SeqCst);
                return Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "injected reset",
                    )),
                    s,
                ));
            }
            // Truncation: end the stream early; the peer sees fewer bytes than announced.
            return None;
        }
        let chunk = if s.d.rate.is_some() {
            64 * 1024
        } else {
            256 * 1024
        };
        let want = (limit - s.sent).min(chunk) as usize;
        if let Some(r) = s.d.rate {
            tokio::time::sleep(Duration::from_secs_f64(want as f64 / r as f64)).await;
        }
        let mut buf = vec![0u8; want];
        let file = s.file.as_mut()?;
        match file.read_exact(&mut buf).await {
            Ok(_) => {}
            Err(e) => {
                s.done = true;
                return Some((Err(e), s));
            }
        }
        if let Some(at) = s.d.flip_at
            && at >= s.sent
            && at < s.sent + want as u64
        {
            buf[(at - s.sent) as usize] ^= 0xFF;
        }
        s.sent += want as u64;
        s.pos += want as u64;
        s.state.add_bytes(&s.key, want as u64);
        Some((Ok(Frame::data(Bytes::from(buf))), s))
    });
    BodyExt::boxed(StreamBody::new(stream))
}

async fn admin(req: Request<Incoming>, cmd: String, state: &Arc<State>) -> Response<Body> {
    let json_resp = |v: serde_json::Value| {
        let mut r = Response::new(full(v.to_string()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    match (req.method().clone(), cmd.as_str()) {
        (Method::GET, "stats") => json_resp(state.stats.lock().expect("stats").to_json()),
        (Method::POST, "reset") => {
            *state.stats.lock().expect("stats") = Stats::default();
            json_resp(json!({"ok": true}))
        }
        (Method::GET, "faults") => json_resp(json!(
            state
                .faults
                .rules()
                .iter()
                .map(|r| r.text.clone())
                .collect::<Vec<_>>()
        )),
        (Method::PUT, "faults") => {
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return s3_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidRequest",
                        "Unreadable body",
                        "faults",
                    );
                }
            };
            let text = String::from_utf8_lossy(&body);
            let mut rules = Vec::new();
            for line in text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                match FaultRule::parse(line) {
                    Ok(r) => rules.push(r),
                    Err(e) => {
                        return s3_error(
                            StatusCode::BAD_REQUEST,
                            "InvalidRequest",
                            &e.to_string(),
                            "faults",
                        );
                    }
                }
            }
            let n = rules.len();
            state.faults.replace(rules);
            json_resp(json!({"rules": n}))
        }
        _ => s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "Unknown admin endpoint (stats, reset, faults)",
            &cmd,
        ),
    }
}

/// A TCP connection that can be reset (SO_LINGER 0 on close) by a body fault.
struct ConnIo {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = socket2::SockRef::from(&self.inner).set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.reset.load(Ordering::SeqCst) {
            let _ = socket2::SockRef::from(&self.inner).set_linger(Some(Duration::ZERO));
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected reset",
            )));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
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
        self.state.stats.lock().expect("stats").clone()
    }

    /// Clears the statistics.
    pub fn reset_stats(&self) {
        *self.state.stats.lock().expect("stats") = Stats::default();
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
    let state = Arc::new(State {
        faults: Faults::new(cfg.seed, cfg.faults.clone()),
        meta,
        stats: Mutex::new(Stats::default()),
        require_user_agent: cfg.require_user_agent,
        log: cfg.log,
    });
    Ok((listener, ServerHandle { state, addr }))
}

/// Serves connections until `shutdown` resolves, then waits up to 5 s for open requests.
pub async fn serve(
    listener: TcpListener,
    handle: ServerHandle,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let reset = Arc::new(AtomicBool::new(false));
                let io = TokioIo::new(ConnIo { inner: tcp, reset: reset.clone() });
                let state = handle.state.clone();
                let svc = service_fn(move |req| handle_req(req, state.clone(), reset.clone()));
                let conn = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(io, svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

async fn handle_req(
    req: Request<Incoming>,
    state: Arc<State>,
    reset: Arc<AtomicBool>,
) -> Result<Response<Body>, Infallible> {
    handle(req, state, reset).await
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
            rt.block_on(serve(listener, h, async {
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
