//! Mirror sources: a local directory, an http(s) root, or an anonymous `s3://bucket/prefix`
//! (read over S3's path-style HTTPS endpoint, which also gives CRC64NVMe checksums). One
//! HTTP client with an explicit User-Agent, timeouts, and retries with backoff that honour
//! Retry-After.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use tessera_core::dataset::{DEFAULT_MIRROR, join_url};

use crate::error::{ClientError, Result};

/// Local reads of at least this many bytes are memory-mapped instead of copied.
const MAP_FROM: u64 = 1 << 20;

/// The User-Agent we send (the published CDN refuses some default ones).
pub fn user_agent() -> String {
    format!("tessera/{}", env!("CARGO_PKG_VERSION"))
}

/// Where the mirror is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorRoot {
    /// A directory with the mirror layout.
    Local(PathBuf),
    /// An http(s) URL (no trailing slash).
    Http(String),
}

impl MirrorRoot {
    /// Parses `--mirror`: `http(s)://…`, `s3://bucket/prefix` (anonymous, path-style over
    /// `$AWS_ENDPOINT_URL` or `https://s3.$AWS_REGION.amazonaws.com`, region default
    /// us-west-2), `file://PATH` or a directory path.
    pub fn parse(s: &str) -> Result<MirrorRoot> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ClientError::Usage("--mirror is empty".into()));
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            reqwest::Url::parse(s)
                .map_err(|e| ClientError::Usage(format!("bad mirror URL '{s}': {e}")))?;
            return Ok(MirrorRoot::Http(s.trim_end_matches('/').to_string()));
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            let rest = rest.trim_matches('/');
            if rest.is_empty() {
                return Err(ClientError::Usage(format!(
                    "bad mirror '{s}': expected s3://bucket[/prefix]"
                )));
            }
            let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
                .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                .unwrap_or_else(|_| {
                    let region = std::env::var("AWS_REGION")
                        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                        .unwrap_or_else(|_| "us-west-2".into());
                    format!("https://s3.{region}.amazonaws.com")
                });
            return Ok(MirrorRoot::Http(format!(
                "{}/{rest}",
                endpoint.trim_end_matches('/')
            )));
        }
        if s.contains("://") && !s.starts_with("file://") {
            return Err(ClientError::Usage(format!(
                "unsupported mirror '{s}': use https://…, http://…, s3://bucket/prefix or a local directory"
            )));
        }
        let p = PathBuf::from(s.strip_prefix("file://").unwrap_or(s));
        if !p.is_dir() {
            return Err(ClientError::Usage(format!(
                "mirror directory {} does not exist",
                p.display()
            )));
        }
        Ok(MirrorRoot::Local(p))
    }

    /// The default published mirror, or `$TESSERA_MIRROR`.
    pub fn from_env_or_default() -> Result<MirrorRoot> {
        match std::env::var("TESSERA_MIRROR") {
            Ok(v) if !v.trim().is_empty() => MirrorRoot::parse(&v),
            _ => MirrorRoot::parse(DEFAULT_MIRROR),
        }
    }

    /// The URL (or path) of a key.
    pub fn locate(&self, key: &str) -> String {
        match self {
            MirrorRoot::Local(p) => p.join(key).display().to_string(),
            MirrorRoot::Http(u) => join_url(u, key),
        }
    }

    /// The local path of a key (local mirrors only).
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        match self {
            MirrorRoot::Local(p) => Some(p.join(key)),
            MirrorRoot::Http(_) => None,
        }
    }

    /// A short, filesystem-safe name for cache directories.
    pub fn slug(&self) -> String {
        let raw = match self {
            MirrorRoot::Local(p) => p.display().to_string(),
            MirrorRoot::Http(u) => {
                let c = tessera_core::dataset::canonical_root(u);
                c.split("://").nth(1).unwrap_or(&c).to_string()
            }
        };
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
            .trim_matches(|c| c == '_' || c == '.')
            .to_string()
    }
}

impl std::fmt::Display for MirrorRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MirrorRoot::Local(p) => write!(f, "{}", p.display()),
            MirrorRoot::Http(u) => f.write_str(u),
        }
    }
}

/// Retry policy for HTTP requests.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per request (first try included).
    pub attempts: u32,
    /// First backoff delay; doubles each retry.
    pub base: Duration,
    /// Longest delay (also caps Retry-After).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `n` (0-based), or Retry-After when the server sent one.
    pub fn delay(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max);
        }
        let exp = self.base.saturating_mul(1u32 << n.min(16));
        // Deterministic spread so that concurrent retries do not all hit at once.
        let jitter = 0.8 + 0.4 * f64::from((n.wrapping_mul(2_654_435_761) >> 16) % 1000) / 1000.0;
        exp.mul_f64(jitter).min(self.max)
    }
}

/// Parses a Retry-After header (seconds or an HTTP date).
pub fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let t = httpdate::parse_http_date(v).ok()?;
    Some(
        t.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

static CRYPTO: Once = Once::new();

/// Largest `manifest.parquet` we read (the published ones are tens to a couple of hundred MB).
pub const MAX_MANIFEST_BYTES: u64 = 512 << 20;
/// A body of unknown length past this size grows by one reservation up to its cap.
const JUMP_FROM: usize = 32 << 20;
/// The largest such reservation.
const JUMP_MAX: u64 = 1 << 30;
/// Largest `landmasks.parquet` we read.
pub const MAX_LANDMASK_TABLE_BYTES: u64 = 256 << 20;
/// Largest metadata document (a store's consolidated `zarr.json`) we read.
pub const MAX_METADATA_BYTES: u64 = 64 << 20;
/// Largest whole object read into memory when a mirror answers a suffix range request with
/// the whole object (HTTP 200).
pub const MAX_UNRANGED_BYTES: u64 = 64 << 20;

/// How the HTTP client guards against slow, hostile or redirecting mirrors.
#[derive(Debug, Clone, Copy)]
pub struct HttpConfig {
    /// A response body that delivers fewer than [`Self::stall_min_bytes`] within this window
    /// is abandoned as stalled (and retried or resumed); `None` turns the check off.
    pub stall_window: Option<Duration>,
    /// Bytes a body must deliver in each stall window.
    pub stall_min_bytes: u64,
    /// Every request gives up at this instant (an overall deadline for the run).
    pub deadline: Option<Instant>,
    /// Follow redirects to other hosts or ports (by default only same-origin redirects are
    /// followed: a mirror cannot send us to another server).
    pub follow_any_redirect: bool,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Told (once per retry) what failed before a request is tried again.
    pub on_retry: Option<fn(&str)>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            stall_window: Some(Duration::from_secs(30)),
            stall_min_bytes: 16 << 10,
            deadline: None,
            follow_any_redirect: false,
            connect_timeout: Duration::from_secs(15),
            on_retry: None,
        }
    }
}

/// An HTTP client for a mirror.
#[derive(Clone)]
pub struct Http {
    /// The reqwest client.
    pub client: reqwest::Client,
    /// The retry policy.
    pub retry: RetryPolicy,
    /// Stall, deadline and redirect guards.
    pub config: HttpConfig,
    /// The stop request its requests and bodies honour (besides the process-wide one).
    pub cancel: crate::cancel::Token,
}

fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

impl Http {
    /// A client with our User-Agent and timeouts (connect 15 s, read 60 s).
    pub fn new(retry: RetryPolicy) -> Result<Http> {
        Http::with_config(retry, HttpConfig::default())
    }

    /// A client with the guards of `config`.
    pub fn with_config(retry: RetryPolicy, config: HttpConfig) -> Result<Http> {
        CRYPTO.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let follow_any = config.follow_any_redirect;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 10 {
                return attempt.error("more than 10 redirects");
            }
            let first = attempt.previous().first().cloned();
            match first {
                Some(f) if !follow_any && !same_origin(&f, attempt.url()) => {
                    let to = sanitize(attempt.url().as_str());
                    attempt.error(format!(
                        "the mirror redirected to another server ({to}); not followed (pass --follow-redirects to allow it)"
                    ))
                }
                _ => attempt.follow(),
            }
        });
        let client = reqwest::Client::builder()
            .user_agent(user_agent())
            .connect_timeout(config.connect_timeout)
            .read_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .redirect(policy)
            .build()
            .map_err(|e| ClientError::Usage(format!("cannot build the HTTP client: {e}")))?;
        Ok(Http {
            client,
            retry,
            config,
            cancel: crate::cancel::Token::new(),
        })
    }

    fn deadline_error(&self, url: &str) -> ClientError {
        ClientError::Deadline {
            url: url.to_string(),
        }
    }

    /// Sleeps before a retry, or fails when the deadline would pass first.
    async fn backoff(&self, url: &str, d: Duration) -> Result<()> {
        if let Some(dl) = self.config.deadline
            && Instant::now() + d >= dl
        {
            return Err(self.deadline_error(url));
        }
        self.cancel.or_cancel(tokio::time::sleep(d)).await
    }

    /// A watch over one response body (stall window and deadline).
    pub fn body_watch(&self, url: &str) -> BodyWatch {
        BodyWatch::new(url, &self.config, &self.cancel)
    }

    /// Reads a whole response body of at most `cap` bytes, under the stall and deadline
    /// guards. A declared or actual length above `cap` is [`ClientError::TooLarge`].
    pub async fn read_body(&self, r: reqwest::Response, url: &str, cap: u64) -> Result<Bytes> {
        if let Some(n) = r.content_length()
            && n > cap
        {
            return Err(too_large(url, n, cap));
        }
        let mut out = bytes::BytesMut::with_capacity(r.content_length().unwrap_or(0) as usize);
        let mut stream = Box::pin(r.bytes_stream());
        let mut watch = self.body_watch(url);
        while let Some(b) = watch.next(&mut stream).await? {
            if out.len() as u64 + b.len() as u64 > cap {
                return Err(too_large(url, out.len() as u64 + b.len() as u64, cap));
            }
            if out.len() + b.len() > out.capacity() && out.len() >= JUMP_FROM {
                // Doubling a buffer of hundreds of MiB copies it into a new one and holds
                // both (the old half on the heap, the new one mapped): one reservation up
                // to the cap instead, mapped and faulted in only as it is written.
                let total = cap.min(JUMP_MAX).max((out.len() + b.len()) as u64) as usize;
                out.reserve(total - out.len());
            }
            out.extend_from_slice(&b);
        }
        Ok(out.freeze())
    }

    /// Reads at most the first `want` bytes of a response body and drops the rest unread.
    async fn read_prefix(&self, r: reqwest::Response, url: &str, want: u64) -> Result<Bytes> {
        let mut out = bytes::BytesMut::with_capacity(want.min(MAX_UNRANGED_BYTES) as usize);
        let mut stream = Box::pin(r.bytes_stream());
        let mut watch = self.body_watch(url);
        while (out.len() as u64) < want {
            let Some(b) = watch.next(&mut stream).await? else {
                break;
            };
            let take = (want - out.len() as u64).min(b.len() as u64) as usize;
            out.extend_from_slice(&b[..take]);
        }
        Ok(out.freeze())
    }

    /// Sends a request built by `build` with retries; returns a response with a success
    /// (or 304/206) status. 404 is [`ClientError::NotFound`] at once.
    pub async fn send<F>(&self, url: &str, build: F) -> Result<reqwest::Response>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let mut n = 0;
        let mut connect_failures = 0u32;
        loop {
            let outcome = match self.config.deadline {
                Some(dl) => {
                    match self
                        .cancel
                        .or_cancel(tokio::time::timeout_at(
                            dl.into(),
                            build(&self.client).send(),
                        ))
                        .await?
                    {
                        Ok(o) => o,
                        Err(_) => return Err(self.deadline_error(url)),
                    }
                }
                None => self.cancel.or_cancel(build(&self.client).send()).await?,
            };
            let (err, wait) = match outcome {
                Ok(r) if r.status().is_success() || r.status() == StatusCode::NOT_MODIFIED => {
                    return Ok(r);
                }
                Ok(r) if r.status() == StatusCode::NOT_FOUND => {
                    return Err(ClientError::NotFound {
                        url: url.to_string(),
                    });
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    let ra = retry_after(r.headers());
                    let hint = match status {
                        403 => "; the mirror refused the request (check the URL and access)"
                            .to_string(),
                        416 => "; the requested range is outside the object".to_string(),
                        _ => String::new(),
                    };
                    (
                        ClientError::Http {
                            url: url.to_string(),
                            status,
                            hint,
                        },
                        ra,
                    )
                }
                Err(e) => {
                    if e.is_connect() {
                        connect_failures += 1;
                    }
                    (
                        ClientError::Network {
                            url: url.to_string(),
                            message: describe(&e),
                        },
                        None,
                    )
                }
            };
            n += 1;
            // A refused or unreachable server does not come back within a backoff: two
            // quick tries, then one error.
            let attempts = if connect_failures > 0 {
                self.retry.attempts.min(2)
            } else {
                self.retry.attempts
            };
            if !err.is_transient() || n >= attempts {
                return Err(err);
            }
            if let Some(note) = self.config.on_retry {
                note(&err.to_string());
            }
            let delay = if connect_failures > 0 {
                Duration::from_millis(250)
            } else {
                self.retry.delay(n - 1, wait)
            };
            self.backoff(url, delay).await?;
        }
    }

    /// GET a whole object of at most `cap` bytes into memory, verified (length, MD5 of a
    /// simple ETag, CRC64NVMe).
    pub async fn get(&self, url: &str, cap: u64) -> Result<Bytes> {
        match self.fetch(url, cap, |r| r).await? {
            Fetched::Body { bytes, .. } => Ok(bytes),
            Fetched::NotModified => Err(ClientError::Http {
                url: url.to_string(),
                status: 304,
                hint: String::new(),
            }),
        }
    }

    /// GET with extra headers (e.g. If-Modified-Since); the body is verified against the
    /// length, the MD5 of a simple ETag and the CRC64NVMe the mirror sends, and fetched
    /// again when it does not match.
    pub async fn fetch<F>(&self, url: &str, cap: u64, extra: F) -> Result<Fetched>
    where
        F: Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    {
        let mut n = 0;
        loop {
            let r = self
                .send(url, |c| {
                    extra(c.get(url).header("x-amz-checksum-mode", "ENABLED"))
                })
                .await?;
            if r.status() == StatusCode::NOT_MODIFIED {
                return Ok(Fetched::NotModified);
            }
            let headers = r.headers().clone();
            let expect = r.content_length();
            let err = match self.read_body(r, url, cap).await {
                Ok(b) => match check_body(url, &headers, expect, &b) {
                    Ok(()) => {
                        let info = object_info(&headers, expect);
                        return Ok(Fetched::Body {
                            bytes: b,
                            modified: info.modified,
                        });
                    }
                    Err(e) => e,
                },
                Err(e) => e,
            };
            n += 1;
            if !err.is_transient() || n >= self.retry.attempts {
                return Err(err);
            }
            self.backoff(url, self.retry.delay(n - 1, None)).await?;
        }
    }

    /// GET bytes `start..=end` of an object (checked: exactly that many bytes).
    pub async fn get_range(&self, url: &str, start: u64, end: u64) -> Result<Bytes> {
        Ok(self
            .get_span(url, Span::Bytes(start, end), None)
            .await?
            .bytes)
    }
}

/// A byte range to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Bytes `start..=end`.
    Bytes(u64, u64),
    /// The last `n` bytes.
    Suffix(u64),
}

/// The answer to a range read.
#[derive(Debug, Clone)]
pub struct RangeBody {
    /// The bytes.
    pub bytes: Bytes,
    /// The whole object's length, when known.
    pub total: Option<u64>,
    /// The object's ETag, when sent.
    pub etag: Option<String>,
}

fn content_range_total(h: &HeaderMap) -> Option<u64> {
    h.get(reqwest::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('/').next())
        .and_then(|t| t.trim().parse().ok())
}

impl Http {
    /// Reads a range (or suffix) of an object, checked for length, with retries. With
    /// `if_match`, a changed object answers HTTP 412 (not retried) instead of other bytes.
    pub async fn get_span(
        &self,
        url: &str,
        span: Span,
        if_match: Option<&str>,
    ) -> Result<RangeBody> {
        let header = match span {
            Span::Bytes(s, e) => format!("bytes={s}-{e}"),
            Span::Suffix(n) => format!("bytes=-{n}"),
        };
        let mut n = 0;
        loop {
            let r = self
                .send(url, |c| {
                    let b = c.get(url).header(reqwest::header::RANGE, header.as_str());
                    match if_match {
                        Some(t) => b.header(reqwest::header::IF_MATCH, format!("\"{t}\"")),
                        None => b,
                    }
                })
                .await?;
            let partial = r.status() == StatusCode::PARTIAL_CONTENT;
            let headers = r.headers().clone();
            let info = object_info(&headers, None);
            let total = if partial {
                content_range_total(&headers)
            } else {
                r.content_length()
            };
            let want = match span {
                Span::Bytes(s, e) => e.checked_sub(s).and_then(|d| d.checked_add(1)),
                Span::Suffix(k) => Some(k),
            }
            .ok_or_else(|| ClientError::Format(format!("{url}: empty range {header}")))?;
            let result = match (span, partial) {
                // The range exactly: never more than asked for.
                (_, true) => self.read_body(r, url, want).await,
                // The whole object for a range: read up to its end, drop the rest.
                (Span::Bytes(_, e), false) => self.read_prefix(r, url, e + 1).await,
                (Span::Suffix(_), false) => self.read_body(r, url, MAX_UNRANGED_BYTES).await,
            };
            let err = match result {
                Ok(b) => {
                    let got = b.len() as u64;
                    let sliced = match (span, partial) {
                        (Span::Bytes(s, e), true) if got == e - s + 1 => Some(b),
                        (Span::Bytes(s, e), false) if got == e + 1 => Some(b.slice(s as usize..)),
                        (Span::Suffix(k), true) if got == k.min(total.unwrap_or(got)) => Some(b),
                        (Span::Suffix(k), false) if total.is_none_or(|t| t == got) => {
                            Some(b.slice(got.saturating_sub(k) as usize..))
                        }
                        _ => None,
                    };
                    match sliced {
                        Some(bytes) => {
                            return Ok(RangeBody {
                                bytes,
                                total,
                                etag: info.etag,
                            });
                        }
                        None => ClientError::Integrity {
                            url: url.to_string(),
                            message: format!("{header}: received {got} bytes"),
                        },
                    }
                }
                Err(e) => e,
            };
            n += 1;
            if !err.is_transient() || n >= self.retry.attempts {
                return Err(err);
            }
            self.backoff(url, self.retry.delay(n - 1, None)).await?;
        }
    }
}

fn too_large(url: &str, n: u64, cap: u64) -> ClientError {
    ClientError::TooLarge {
        url: url.to_string(),
        message: format!("{n} bytes where at most {cap} are allowed"),
    }
}

/// Watches one response body: a stall window that must deliver a minimum of bytes, and the
/// run's deadline.
pub struct BodyWatch {
    url: String,
    window: Option<Duration>,
    min: u64,
    deadline: Option<Instant>,
    window_end: Option<Instant>,
    in_window: u64,
    cancel: crate::cancel::Token,
}

impl BodyWatch {
    fn new(url: &str, c: &HttpConfig, cancel: &crate::cancel::Token) -> BodyWatch {
        BodyWatch {
            cancel: cancel.clone(),
            url: url.to_string(),
            window: c.stall_window,
            min: c.stall_min_bytes,
            deadline: c.deadline,
            window_end: c.stall_window.map(|w| Instant::now() + w),
            in_window: 0,
        }
    }

    fn stalled(&self) -> ClientError {
        ClientError::Network {
            url: self.url.clone(),
            message: format!(
                "stalled: {} bytes in the last {} s (at least {} expected)",
                self.in_window,
                self.window.unwrap_or_default().as_secs_f64(),
                self.min
            ),
        }
    }

    /// The next chunk of `stream`, `None` at its end.
    pub async fn next<S>(&mut self, stream: &mut S) -> Result<Option<Bytes>>
    where
        S: futures_util::Stream<Item = reqwest::Result<Bytes>> + Unpin,
    {
        use futures_util::StreamExt;
        loop {
            self.cancel.check()?;
            // Wake up at least every POLL to notice a stop request.
            let poll = Instant::now() + crate::cancel::POLL;
            let until = match (self.window_end, self.deadline) {
                (Some(w), Some(d)) => Some(w.min(d).min(poll)),
                (w, d) => Some(w.or(d).map_or(poll, |t| t.min(poll))),
            };
            let item = match until {
                Some(t) => tokio::time::timeout_at(t.into(), stream.next()).await.ok(),
                None => Some(stream.next().await),
            };
            let now = Instant::now();
            if self.deadline.is_some_and(|d| now >= d) {
                return Err(ClientError::Deadline {
                    url: self.url.clone(),
                });
            }
            if let Some(end) = self.window_end
                && now >= end
            {
                if self.in_window < self.min && !matches!(item, Some(None)) {
                    return Err(self.stalled());
                }
                self.in_window = 0;
                self.window_end = self.window.map(|w| now + w);
            }
            match item {
                None => continue,
                Some(None) => return Ok(None),
                Some(Some(Ok(b))) => {
                    self.in_window += b.len() as u64;
                    return Ok(Some(b));
                }
                Some(Some(Err(e))) => {
                    return Err(ClientError::Network {
                        url: self.url.clone(),
                        message: describe(&e),
                    });
                }
            }
        }
    }
}

/// `s` with control characters (escape sequences, carriage returns, ...) replaced by
/// `\u{..}` escapes, so text from remote files cannot drive the terminal.
pub fn sanitize(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A reqwest error with its causes, on one line.
pub fn describe(e: &reqwest::Error) -> String {
    // The URL is named once, by the error that carries this text.
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(&format!(" for url ({u})"), "");
    }
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

/// The answer to a (conditional) GET.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// 304: the cached copy is current.
    NotModified,
    /// The verified body.
    Body {
        /// The bytes.
        bytes: Bytes,
        /// Last-Modified.
        modified: Option<SystemTime>,
    },
}

/// Checks a whole-object body against Content-Length, the MD5 of a simple ETag and a
/// full-object CRC64NVMe header.
pub fn check_body(url: &str, h: &HeaderMap, expect: Option<u64>, body: &[u8]) -> Result<()> {
    let bad = |message: String| ClientError::Integrity {
        url: url.to_string(),
        message,
    };
    if let Some(l) = expect
        && l != body.len() as u64
    {
        return Err(bad(format!("received {} of {l} bytes", body.len())));
    }
    let info = object_info(h, expect);
    if let Some(e) = info.etag.as_deref().filter(|e| is_md5_etag(e)) {
        use md5::{Digest, Md5};
        let got: String = Md5::digest(body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if got != e {
            return Err(bad(format!("MD5 {got} != ETag {e}")));
        }
    }
    if let Some(c) = &info.crc64nvme {
        use base64::Engine;
        let got = base64::engine::general_purpose::STANDARD
            .encode(crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, body).to_be_bytes());
        if &got != c {
            return Err(bad(format!("CRC64NVMe {got} != {c}")));
        }
    }
    Ok(())
}

/// Metadata of an object from a HEAD request or the local file system.
#[derive(Debug, Clone, Default)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: Option<String>,
    /// Last-Modified.
    pub modified: Option<SystemTime>,
    /// Full-object CRC64NVMe (base64), when the mirror offers it.
    pub crc64nvme: Option<String>,
}

/// Reads the object headers of a response.
pub fn object_info(h: &HeaderMap, size: Option<u64>) -> ObjectInfo {
    let s = |name: &str| {
        h.get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    ObjectInfo {
        size: size.unwrap_or(0),
        etag: s("etag").map(|e| {
            e.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_string()
        }),
        modified: s("last-modified").and_then(|v| httpdate::parse_http_date(&v).ok()),
        crc64nvme: s("x-amz-checksum-crc64nvme").filter(|c| !c.contains('-')),
    }
}

/// True for a simple (single-part) MD5 ETag.
pub fn is_md5_etag(etag: &str) -> bool {
    etag.len() == 32
        && etag
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// A mirror: its root and, for HTTP, a client.
#[derive(Clone)]
pub struct Mirror {
    /// The root.
    pub root: MirrorRoot,
    /// The HTTP client (also used for local mirrors' sibling operations).
    pub http: Http,
}

impl Mirror {
    /// A mirror with the default retry policy.
    pub fn new(root: MirrorRoot) -> Result<Mirror> {
        Ok(Mirror {
            root,
            http: Http::new(RetryPolicy::default())?,
        })
    }

    /// A mirror whose HTTP client has the guards of `config`.
    pub fn with_config(root: MirrorRoot, config: HttpConfig) -> Result<Mirror> {
        Ok(Mirror {
            root,
            http: Http::with_config(RetryPolicy::default(), config)?,
        })
    }

    /// The same mirror (sharing its connections), whose requests also stop when `cancel`
    /// is asked to: one call's stop request, set from another thread.
    pub fn with_cancel(&self, cancel: &crate::cancel::Token) -> Mirror {
        let mut m = self.clone();
        m.http.cancel = cancel.clone();
        m
    }

    /// Reads a whole (small) object of at most `cap` bytes.
    pub async fn get(&self, key: &str, cap: u64) -> Result<Bytes> {
        match &self.root {
            MirrorRoot::Local(_) => {
                let p = self.root.local_path(key).unwrap_or_default();
                read_local(&p, cap).await
            }
            MirrorRoot::Http(_) => self.http.get(&self.root.locate(key), cap).await,
        }
    }

    /// Reads bytes `start..=end` of an object.
    pub async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Bytes> {
        match &self.root {
            MirrorRoot::Local(_) => {
                let p = self.root.local_path(key).unwrap_or_default();
                let out = tokio::task::spawn_blocking(move || -> Result<Vec<u8>> {
                    use std::os::unix::fs::FileExt;
                    let f = std::fs::File::open(&p).map_err(|e| not_found_or_io(&p, e))?;
                    let mut buf = vec![0u8; (end - start + 1) as usize];
                    f.read_exact_at(&mut buf, start)
                        .map_err(|e| ClientError::io(&p, e))?;
                    Ok(buf)
                })
                .await
                .map_err(|e| ClientError::Format(format!("read task failed: {e}")))??;
                Ok(Bytes::from(out))
            }
            MirrorRoot::Http(_) => {
                self.http
                    .get_range(&self.root.locate(key), start, end)
                    .await
            }
        }
    }

    /// Reads a range or suffix of an object (see [`Http::get_span`]); local files report
    /// their length and no ETag.
    pub async fn get_span(
        &self,
        key: &str,
        span: Span,
        if_match: Option<&str>,
    ) -> Result<RangeBody> {
        match &self.root {
            MirrorRoot::Local(_) => {
                let p = self.root.local_path(key).unwrap_or_default();
                tokio::task::spawn_blocking(move || read_local_span(&p, span))
                    .await
                    .map_err(|e| ClientError::Format(format!("read task failed: {e}")))?
            }
            MirrorRoot::Http(_) => {
                self.http
                    .get_span(&self.root.locate(key), span, if_match)
                    .await
            }
        }
    }

    /// Size and validators of an object.
    pub async fn head(&self, key: &str) -> Result<ObjectInfo> {
        match &self.root {
            MirrorRoot::Local(_) => {
                let p = self.root.local_path(key).unwrap_or_default();
                let md = tokio::fs::metadata(&p)
                    .await
                    .map_err(|e| not_found_or_io(&p, e))?;
                Ok(ObjectInfo {
                    size: md.len(),
                    modified: md.modified().ok(),
                    ..Default::default()
                })
            }
            MirrorRoot::Http(_) => {
                let url = self.root.locate(key);
                let r = self
                    .http
                    .send(&url, |c| {
                        c.head(&url).header("x-amz-checksum-mode", "ENABLED")
                    })
                    .await?;
                let len = r
                    .headers()
                    .get(reqwest::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                Ok(object_info(r.headers(), len))
            }
        }
    }
}

async fn read_local(p: &Path, cap: u64) -> Result<Bytes> {
    let path = p.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let f = std::fs::File::open(&path).map_err(|e| not_found_or_io(&path, e))?;
        let len = f.metadata().map_err(|e| ClientError::io(&path, e))?.len();
        if len > cap {
            return Err(too_large(&path.display().to_string(), len, cap));
        }
        let mut out = Vec::with_capacity(len as usize);
        f.take(cap + 1)
            .read_to_end(&mut out)
            .map_err(|e| ClientError::io(&path, e))?;
        if out.len() as u64 > cap {
            return Err(too_large(
                &path.display().to_string(),
                out.len() as u64,
                cap,
            ));
        }
        Ok(Bytes::from(out))
    })
    .await
    .map_err(|e| ClientError::Format(format!("read task failed: {e}")))?
}

fn not_found_or_io(p: &Path, e: std::io::Error) -> ClientError {
    if e.kind() == std::io::ErrorKind::NotFound {
        ClientError::NotFound {
            url: p.display().to_string(),
        }
    } else {
        ClientError::io(p, e)
    }
}

/// Reads a range or suffix of a local file (see [`Mirror::get_span`]): large spans are
/// mapped (populated at once), small ones read into a buffer.
pub(crate) fn read_local_span(p: &Path, span: Span) -> Result<RangeBody> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(p).map_err(|e| not_found_or_io(p, e))?;
    let total = f.metadata().map_err(|e| ClientError::io(p, e))?.len();
    let (start, len) = match span {
        Span::Bytes(s, e) => {
            if e >= total || s > e {
                return Err(ClientError::Format(format!(
                    "{}: bytes {s}-{e} are outside the object of {total} bytes",
                    p.display()
                )));
            }
            (s, e - s + 1)
        }
        Span::Suffix(k) => (total.saturating_sub(k), k.min(total)),
    };
    let bytes = if len >= MAP_FROM {
        // Large spans (shard reads) are mapped, not copied: the page cache is read in
        // place. Store files are replaced by rename, never rewritten in place, so a
        // mapping sees one version of a file. The mapping is populated at once (one call
        // instead of a fault per page, as every byte of a span is read).
        // SAFETY: the mapping is read-only and private to this Bytes.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(start)
                .len(len as usize)
                .populate()
                .map(&f)
        }
        .map_err(|e| ClientError::io(p, e))?;
        Bytes::from_owner(map)
    } else {
        let mut buf = vec![0u8; len as usize];
        f.read_exact_at(&mut buf, start)
            .map_err(|e| ClientError::io(p, e))?;
        Bytes::from(buf)
    };
    Ok(RangeBody {
        bytes,
        total: Some(total),
        etag: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots() {
        assert_eq!(
            MirrorRoot::parse("https://data.source.coop/tessera/tessera/").unwrap(),
            MirrorRoot::Http("https://data.source.coop/tessera/tessera".into())
        );
        assert!(MirrorRoot::parse("ftp://x").is_err());
        assert!(MirrorRoot::parse("/definitely/not/here").is_err());
        assert!(MirrorRoot::parse("").is_err());
        let r = MirrorRoot::Http("http://127.0.0.1:8000".into());
        assert_eq!(
            r.locate("npy/v1/manifest.parquet"),
            "http://127.0.0.1:8000/npy/v1/manifest.parquet"
        );
        assert_eq!(r.slug(), "127.0.0.1_8000");
        // The two published routes share one cache.
        let gateway = MirrorRoot::Http(format!("{DEFAULT_MIRROR}/zarr/v1.1"));
        let direct = MirrorRoot::Http(format!(
            "{}/zarr/v1.1",
            tessera_core::dataset::DIRECT_S3_MIRROR
        ));
        assert_eq!(gateway.slug(), direct.slug());
        assert_ne!(gateway.slug(), r.slug());
        // Nothing that could climb out of the cache root.
        assert_eq!(MirrorRoot::Http("http://..".into()).slug(), "");
        assert_eq!(sanitize("a\u{1b}[2Jb\r\n"), "a\\u{1b}[2Jb\\u{d}\\u{a}");
        assert!(is_md5_etag("25f9e794323b453885f5181f1b624d0b"));
        assert!(!is_md5_etag("25f9e794323b453885f5181f1b624d0b-3"));
        let p = RetryPolicy::default();
        assert!(p.delay(0, None) < p.delay(3, None));
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(p.delay(0, Some(Duration::from_secs(999))), p.max);
    }
}
