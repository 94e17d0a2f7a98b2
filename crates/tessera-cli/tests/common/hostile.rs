//! A hostile mirror for tests: serves a directory like a plain static server (Range,
//! Content-Length, no ETag) on 127.0.0.1, except for the keys a test overrides with
//! misbehaviour: absurd lengths, endless or dripping bodies, redirects, raw bytes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the server answers for a key.
#[derive(Clone)]
pub enum Reply {
    /// These bytes as the object (ranges honoured).
    Body(Vec<u8>),
    /// Headers announcing `length` bytes, then zeros until the client hangs up (at most
    /// `limit` bytes or 60 s).
    Endless {
        /// Announced Content-Length; `None` sends a close-delimited body.
        length: Option<u64>,
        /// Bytes at most.
        limit: u64,
    },
    /// The object from the directory, one byte every `every`, on the first `times`
    /// requests; whole afterwards.
    Drip {
        /// Gap between bytes.
        every: Duration,
        /// Requests that drip.
        times: u64,
    },
    /// A 302 to this URL.
    Redirect(String),
    /// These bytes as a close-delimited 200 answer (no Content-Length, ranges ignored).
    Unsized(Vec<u8>),
}

/// The hostile server.
pub struct Hostile {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    overrides: Arc<Mutex<HashMap<String, Reply>>>,
    /// Requests seen, by key.
    pub hits: Arc<Mutex<HashMap<String, u64>>>,
    /// Requests seen in all.
    pub requests: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Hostile {
    /// Serves `root` (may be an empty directory).
    pub fn start(root: PathBuf) -> Hostile {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let overrides: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let requests = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (o, h, r, s) = (
            overrides.clone(),
            hits.clone(),
            requests.clone(),
            stop.clone(),
        );
        l.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let started = Instant::now();
            while !s.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(600) {
                match l.accept() {
                    Ok((c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        let (root, o, h, r) = (root.clone(), o.clone(), h.clone(), r.clone());
                        std::thread::spawn(move || serve_conn(c, &root, &o, &h, &r));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Hostile {
            url,
            overrides,
            hits,
            requests,
            stop,
        }
    }

    /// Answers `key` with `reply` from now on.
    pub fn set(&self, key: &str, reply: Reply) {
        self.overrides
            .lock()
            .unwrap()
            .insert(key.trim_start_matches('/').to_string(), reply);
    }

    /// Requests seen for `key`.
    pub fn hits(&self, key: &str) -> u64 {
        *self.hits.lock().unwrap().get(key).unwrap_or(&0)
    }

    /// Requests seen in all.
    pub fn total(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_conn(
    c: TcpStream,
    root: &std::path::Path,
    overrides: &Mutex<HashMap<String, Reply>>,
    hits: &Mutex<HashMap<String, u64>>,
    requests: &AtomicU64,
) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(30)));
    let mut rd = BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("/").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if rd.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        requests.fetch_add(1, Ordering::Relaxed);
        let key = path
            .trim_start_matches('/')
            .split('?')
            .next()
            .unwrap_or("")
            .to_string();
        let n = {
            let mut m = hits.lock().unwrap();
            let e = m.entry(key.clone()).or_insert(0);
            *e += 1;
            *e
        };
        let reply = overrides.lock().unwrap().get(&key).cloned();
        let keep = match reply {
            Some(Reply::Body(b)) => send_object(&mut w, &method, &headers, &b),
            Some(Reply::Endless { length, limit }) => {
                let mut head = "HTTP/1.1 200 OK\r\nConnection: close\r\n".to_string();
                if let Some(l) = length {
                    head.push_str(&format!("Content-Length: {l}\r\n"));
                }
                head.push_str("\r\n");
                if w.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let zeros = vec![0u8; 1 << 16];
                let (mut sent, t0) = (0u64, Instant::now());
                while sent < limit && t0.elapsed() < Duration::from_secs(60) {
                    if w.write_all(&zeros).is_err() {
                        return;
                    }
                    sent += zeros.len() as u64;
                }
                false
            }
            Some(Reply::Drip { every, times }) if n <= times => {
                let Ok(b) = std::fs::read(root.join(&key)) else {
                    return not_found(&mut w);
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    b.len()
                );
                if w.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for byte in b {
                    if w.write_all(&[byte]).is_err() || w.flush().is_err() {
                        return;
                    }
                    std::thread::sleep(every);
                }
                false
            }
            Some(Reply::Unsized(b)) => {
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                let _ = w.write_all(&b);
                false
            }
            Some(Reply::Redirect(to)) => {
                let head =
                    format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n");
                w.write_all(head.as_bytes()).is_ok()
            }
            Some(Reply::Drip { .. }) | None => match std::fs::read(root.join(&key)) {
                Ok(b) if !key.is_empty() && !key.contains("..") => {
                    send_object(&mut w, &method, &headers, &b)
                }
                _ => {
                    not_found(&mut w);
                    true
                }
            },
        };
        if !keep {
            return;
        }
    }
}

fn not_found(w: &mut TcpStream) {
    let _ = w.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
}

/// Sends an object, honouring `Range: bytes=a-b` and `bytes=-n`; true to keep the
/// connection.
fn send_object(
    w: &mut TcpStream,
    method: &str,
    headers: &HashMap<String, String>,
    b: &[u8],
) -> bool {
    let len = b.len() as u64;
    let range = headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| {
            let (s, e) = r.split_once('-')?;
            if s.is_empty() {
                let k: u64 = e.parse().ok()?;
                Some((len.saturating_sub(k), len.checked_sub(1)?))
            } else {
                let s: u64 = s.parse().ok()?;
                let e: u64 = if e.is_empty() {
                    len.checked_sub(1)?
                } else {
                    e.parse::<u64>().ok()?.min(len.checked_sub(1)?)
                };
                (s <= e).then_some((s, e))
            }
        });
    let (status, body, extra) = match range {
        Some((s, e)) => (
            "206 Partial Content",
            &b[s as usize..=e as usize],
            format!("Content-Range: bytes {s}-{e}/{len}\r\n"),
        ),
        None => ("200 OK", b, String::new()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n{extra}\r\n",
        body.len()
    );
    if w.write_all(head.as_bytes()).is_err() {
        return false;
    }
    if method != "HEAD" && w.write_all(body).is_err() {
        return false;
    }
    true
}
