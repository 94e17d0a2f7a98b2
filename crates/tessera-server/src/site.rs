//! The site server behind `tessera serve`: a directory's files (a web map, a coverage
//! page) over HTTP on 127.0.0.1, with MIME types and single byte ranges, never anything
//! outside the directory (paths are checked as text, then the opened file's real path is
//! checked against the canonical root, so symlinks that lead out are refused); plus
//! in-memory files and web tiles rendered on demand by a [`TileSource`] behind an LRU cache.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;

use crate::body::{Body, full};
use crate::mirror::ServerError;
use crate::objects::{KeyError, open_in};
use crate::site_http::{ByteRange, SitePath, byte_range, mime_for, site_path, tile_path};

/// Web tiles made on request: `tile(z, x, y)` with TMS rows gives PNG bytes, `Ok(None)`
/// for a tile outside the picture.
pub trait TileSource: Send + Sync {
    /// The PNG of one tile.
    fn tile(&self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, String>;
}

/// The pages tried for `/` when none is named, in order (the reference's list).
pub const INDEX_PAGES: [&str; 4] = ["index.html", "viewer.html", "map.html", "coverage.html"];

/// What to serve.
#[derive(Clone)]
pub struct SiteConfig {
    /// The directory, if any.
    pub root: Option<PathBuf>,
    /// Where to listen (127.0.0.1:8000 by default; port 0 picks a free one).
    pub addr: SocketAddr,
    /// The page for `/`; `None`: the first of [`INDEX_PAGES`] that exists.
    pub index: Option<String>,
    /// Files held in memory, by relative path; they take precedence over the directory.
    pub files: HashMap<String, Bytes>,
    /// Tiles under `/tiles/` made on request (they take precedence over the directory).
    pub tiles: Option<Arc<dyn TileSource>>,
    /// Tiles kept in the cache.
    pub tile_cache: usize,
    /// Print one line per request on stderr.
    pub log: bool,
}

impl SiteConfig {
    /// Serves `root` on 127.0.0.1:8000.
    pub fn new(root: Option<PathBuf>) -> SiteConfig {
        SiteConfig {
            root,
            addr: SocketAddr::from(([127, 0, 0, 1], 8000)),
            index: None,
            files: HashMap::new(),
            tiles: None,
            tile_cache: 4096,
            log: false,
        }
    }
}

struct Site {
    root: Option<PathBuf>,
    index: Option<String>,
    files: HashMap<String, Bytes>,
    tiles: Option<Arc<dyn TileSource>>,
    cache: Mutex<lru::LruCache<(u8, u32, u32), Option<Bytes>>>,
    log: bool,
}

/// A site server on its own thread and runtime.
pub struct SiteServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SiteServer {
    /// Binds (failing at once if the port is taken) and starts serving.
    pub fn start(cfg: SiteConfig) -> Result<SiteServer, ServerError> {
        let root = match &cfg.root {
            Some(r) => Some(
                r.canonicalize()
                    .map_err(|_| ServerError::NoRoot(r.clone()))?,
            ),
            None => None,
        };
        if let Some(r) = &root
            && !r.is_dir()
        {
            return Err(ServerError::NoRoot(r.clone()));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let bind = |source| ServerError::Bind {
            addr: cfg.addr,
            source,
        };
        let listener = rt.block_on(TcpListener::bind(cfg.addr)).map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let cap = NonZeroUsize::new(cfg.tile_cache.max(1)).unwrap_or(NonZeroUsize::MIN);
        let site = Arc::new(Site {
            root,
            index: cfg.index,
            files: cfg.files,
            tiles: cfg.tiles,
            cache: Mutex::new(lru::LruCache::new(cap)),
            log: cfg.log,
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || rt.block_on(accept_loop(listener, site, rx)));
        Ok(SiteServer {
            addr,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Blocks until the server stops (it stops only when dropped from another thread, so
    /// a face calls this after arranging for Ctrl-C to end the process).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stops serving and joins the thread.
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

impl Drop for SiteServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_loop(
    listener: TcpListener,
    site: Arc<Site>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(256));
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut stop => break,
        };
        let tcp = tokio::select! {
            a = listener.accept() => match a {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    tokio::time::sleep(crate::conn::ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = tcp.set_nodelay(true);
        let s = site.clone();
        let svc = service_fn(move |req| handle(req, s.clone()));
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(std::time::Duration::from_secs(20))
            .max_headers(64)
            .serve_connection(TokioIo::new(tcp), svc);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
}

fn text(status: StatusCode, msg: &str) -> Response<Body> {
    let mut r = Response::new(full(format!("{msg}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn handle(req: Request<Incoming>, site: Arc<Site>) -> Result<Response<Body>, Infallible> {
    let raw = req.uri().path().to_string();
    let resp = respond(&req, &site).await;
    if site.log {
        eprintln!(
            "{} {} {}",
            req.method(),
            crate::body::xml_text(&raw),
            resp.status().as_u16()
        );
    }
    let mut resp = resp;
    resp.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if req.method() == Method::HEAD {
        let (parts, _) = resp.into_parts();
        return Ok(Response::from_parts(parts, full(Bytes::new())));
    }
    Ok(resp)
}

async fn respond(req: &Request<Incoming>, site: &Arc<Site>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let rel = match site_path(req.uri().path()) {
        SitePath::Index => match index_page(site) {
            Some(p) => p,
            None => return text(StatusCode::NOT_FOUND, "no index page here"),
        },
        SitePath::File(p) => p,
        SitePath::Forbidden => return text(StatusCode::FORBIDDEN, "forbidden"),
        SitePath::Bad => return text(StatusCode::BAD_REQUEST, "bad path"),
    };
    let range = req
        .headers()
        .get(header::RANGE)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    if let Some(b) = site.files.get(&rel) {
        return bytes_response(b.clone(), &rel, range);
    }
    if let (Some(src), Some((z, x, y))) = (&site.tiles, tile_path(&rel)) {
        return tile_response(site, src.clone(), z, x, y).await;
    }
    let Some(root) = &site.root else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    let root = root.clone();
    let key = rel.clone();
    let opened = tokio::task::spawn_blocking(move || open_in(&root, &key)).await;
    let obj = match opened {
        Ok(Ok(o)) => o,
        Ok(Err(KeyError::Traversal)) => return text(StatusCode::FORBIDDEN, "forbidden"),
        Ok(Err(KeyError::NotFound)) => return text(StatusCode::NOT_FOUND, "not found"),
        Err(_) => return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    };
    let size = obj.metadata.len();
    let (status, start, len) = match byte_range(range, size) {
        ByteRange::Whole => (StatusCode::OK, 0, size),
        ByteRange::Part(s, e) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        ByteRange::Refused => return refused(size),
    };
    let mut r = Response::new(file_stream(obj.file, start, len));
    *r.status_mut() = status;
    headers(&mut r, &rel, start, len, size, status);
    r
}

fn index_page(site: &Site) -> Option<String> {
    if let Some(i) = &site.index {
        return Some(i.clone());
    }
    INDEX_PAGES
        .iter()
        .find(|p| {
            site.files.contains_key(**p) || site.root.as_ref().is_some_and(|r| r.join(p).is_file())
        })
        .map(|p| p.to_string())
}

fn refused(size: u64) -> Response<Body> {
    let mut r = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    r
}

fn headers(r: &mut Response<Body>, name: &str, start: u64, len: u64, size: u64, s: StatusCode) {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(mime_for(name)),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if s == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {start}-{}/{size}",
            start + len.saturating_sub(1)
        ))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
}

fn bytes_response(b: Bytes, name: &str, range: Option<&str>) -> Response<Body> {
    let size = b.len() as u64;
    let (status, start, len) = match byte_range(range, size) {
        ByteRange::Whole => (StatusCode::OK, 0, size),
        ByteRange::Part(s, e) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        ByteRange::Refused => return refused(size),
    };
    let body = b.slice(start as usize..(start + len) as usize);
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    headers(&mut r, name, start, len, size, status);
    r
}

async fn tile_response(
    site: &Arc<Site>,
    src: Arc<dyn TileSource>,
    z: u8,
    x: u32,
    y: u32,
) -> Response<Body> {
    let cached = site
        .cache
        .lock()
        .ok()
        .and_then(|mut c| c.get(&(z, x, y)).cloned());
    let png = match cached {
        Some(p) => p,
        None => {
            let made = tokio::task::spawn_blocking(move || src.tile(z, x, y)).await;
            let p = match made {
                Ok(Ok(p)) => p.map(Bytes::from),
                Ok(Err(e)) => return text(StatusCode::INTERNAL_SERVER_ERROR, &e),
                Err(_) => return text(StatusCode::INTERNAL_SERVER_ERROR, "tile failed"),
            };
            if let Ok(mut c) = site.cache.lock() {
                c.put((z, x, y), p.clone());
            }
            p
        }
    };
    match png {
        Some(b) => bytes_response(b, "t.png", None),
        None => text(StatusCode::NOT_FOUND, "no such tile"),
    }
}

/// `len` bytes of `file` from `start`, in 256 KiB chunks.
fn file_stream(file: std::fs::File, start: u64, len: u64) -> Body {
    use http_body_util::{BodyExt, StreamBody};
    let s = (Some(file), None::<tokio::fs::File>, 0u64);
    let stream = futures_util::stream::unfold(s, move |(opened, mut f, sent)| async move {
        if sent >= len {
            return None;
        }
        if let Some(o) = opened {
            let mut t = tokio::fs::File::from_std(o);
            if let Err(e) = t.seek(std::io::SeekFrom::Start(start)).await {
                return Some((Err(e), (None, None, len)));
            }
            f = Some(t);
        }
        let file = f.as_mut()?;
        let mut buf = vec![0u8; (len - sent).min(256 * 1024) as usize];
        match file.read_exact(&mut buf).await {
            Ok(_) => {
                let n = buf.len() as u64;
                Some((
                    Ok(hyper::body::Frame::data(Bytes::from(buf))),
                    (None, f, sent + n),
                ))
            }
            Err(e) => Some((Err(e), (None, None, len))),
        }
    });
    BodyExt::boxed(StreamBody::new(stream))
}
