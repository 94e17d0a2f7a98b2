//! The mirror server against hostile or careless clients on 127.0.0.1: admin endpoints off
//! unless asked and guarded against DNS rebinding and cross-site requests, fault rules that
//! cannot freeze or crash the server, bounded memory, connections and time, symlinks
//! checked on every open, and request text escaped in error bodies.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use tessera_server::{FaultRule, MirrorServer, OTHER_KEYS, ServerConfig};
use tessera_testkit::scratch;

const SMALL: &str = "npy/v1/a_scales.npy";
const BIG: &str = "npy/v1/big.npy";

fn fixture(name: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::create_dir_all(dir.join("npy/v1")).unwrap();
    std::fs::write(dir.join(SMALL), b"small object").unwrap();
    dir
}

fn start(root: &Path, admin: bool, faults: &[&str]) -> MirrorServer {
    let mut cfg = ServerConfig::new(root);
    cfg.admin = admin;
    cfg.faults = faults
        .iter()
        .map(|f| FaultRule::parse(f).unwrap())
        .collect();
    MirrorServer::start(cfg).unwrap()
}

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .user_agent("tessera-tests/1")
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// One raw HTTP/1.1 exchange (`head` is the request without the final blank line);
/// returns the status and the whole response text.
fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut t = TcpStream::connect(addr).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(t, "{head}\r\nConnection: close\r\n\r\n").unwrap();
    let _ = t.write_all(body);
    let mut resp = Vec::new();
    let _ = t.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let status = resp.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, resp)
}

/// A request for an admin endpoint with a given Host (and extra header lines).
fn admin(addr: SocketAddr, method: &str, cmd: &str, host: &str, extra: &str, body: &str) -> u16 {
    let head = format!(
        "{method} /_tessera/{cmd} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t\r\nContent-Length: {}{extra}",
        body.len()
    );
    raw(addr, &head, body.as_bytes()).0
}

/// The server still serves objects promptly.
fn still_serves(s: &MirrorServer) {
    let t = Instant::now();
    let r = client().get(format!("{}/{SMALL}", s.url())).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().unwrap().as_ref(), b"small object");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn admin_endpoints_are_off_unless_asked() {
    let dir = fixture("hard-admin-off");
    let s = start(&dir, false, &[]);
    let a = s.handle().addr();
    let host = a.to_string();
    let (status, body) = raw(
        a,
        &format!("GET /_tessera/stats HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t"),
        b"",
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("NoSuchKey"), "{body}");
    let rule = format!("{SMALL}:status=500");
    assert_ne!(admin(a, "PUT", "faults", &host, "", &rule), 200);
    assert_ne!(admin(a, "POST", "faults", &host, "", &rule), 200);
    still_serves(&s);
    assert_ne!(admin(a, "POST", "reset", &host, "", ""), 200);
    assert_eq!(
        s.handle().stats().requests,
        2,
        "the admin paths were plain keys"
    );
    assert!(!s.handle().admin_enabled());
    // Asked for, or implied by fault rules: on.
    let on = start(&dir, true, &[]);
    let h = on.handle().addr().to_string();
    assert_eq!(admin(on.handle().addr(), "GET", "stats", &h, "", ""), 200);
    let faulty = start(&dir, false, &["nothing/**:flip"]);
    let h = faulty.handle().addr().to_string();
    assert_eq!(
        admin(faulty.handle().addr(), "GET", "stats", &h, "", ""),
        200
    );
}

#[test]
fn admin_needs_a_local_host_header() {
    let dir = fixture("hard-admin-host");
    let s = start(&dir, true, &[]);
    let a = s.handle().addr();
    let port = a.port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "LOCALHOST".to_string(),
        format!("[::1]:{port}"),
        "127.0.0.2".to_string(),
    ] {
        assert_eq!(admin(a, "GET", "stats", &host, "", ""), 200, "{host}");
    }
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        "127.0.0.1.evil.example".to_string(),
        "10.1.2.3".to_string(),
    ] {
        assert_eq!(admin(a, "GET", "stats", &host, "", ""), 403, "{host}");
        let rule = format!("{SMALL}:status=500");
        assert_eq!(admin(a, "PUT", "faults", &host, "", &rule), 403, "{host}");
    }
    // No Host at all (HTTP/1.0), or a foreign host in an absolute-form target.
    let (st, _) = raw(a, "GET /_tessera/stats HTTP/1.0\r\nUser-Agent: t", b"");
    assert_eq!(st, 403);
    let (st, _) = raw(
        a,
        &format!("GET http://evil.example/_tessera/stats HTTP/1.1\r\nHost: 127.0.0.1:{port}"),
        b"",
    );
    assert_eq!(st, 403);
    assert!(s.handle().faults().is_empty(), "no rule was set");
    // Objects are served whatever the Host, as a CDN does.
    let (st, body) = raw(
        a,
        &format!("GET /{SMALL} HTTP/1.1\r\nHost: evil.example\r\nUser-Agent: t"),
        b"",
    );
    assert_eq!(st, 200, "{body}");
}

#[test]
fn admin_refuses_other_origins_and_mutations_by_get() {
    let dir = fixture("hard-admin-origin");
    let s = start(&dir, true, &[]);
    let a = s.handle().addr();
    let host = a.to_string();
    let rule = format!("{SMALL}:status=500");
    for origin in ["http://evil.example", "null", "http://localhost:1"] {
        let extra = format!("\r\nOrigin: {origin}");
        assert_eq!(
            admin(a, "POST", "faults", &host, &extra, &rule),
            403,
            "{origin}"
        );
        assert_eq!(
            admin(a, "PUT", "faults", &host, &extra, &rule),
            403,
            "{origin}"
        );
    }
    still_serves(&s);
    assert_eq!(admin(a, "GET", "reset", &host, "", ""), 405);
    assert_eq!(s.handle().stats().requests, 1, "GET does not reset");
    // The server's own origin may.
    let extra = format!("\r\nOrigin: http://{host}");
    assert_eq!(admin(a, "POST", "faults", &host, &extra, &rule), 200);
    let r = client().get(format!("{}/{SMALL}", s.url())).send().unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(admin(a, "POST", "reset", &host, &extra, ""), 200);
    assert_eq!(s.handle().stats().requests, 0);
}

#[test]
fn admin_bodies_are_capped() {
    let dir = fixture("hard-admin-body");
    let s = start(&dir, true, &[]);
    let a = s.handle().addr();
    let host = a.to_string();
    // Announced too large: refused before reading.
    let t = Instant::now();
    let (st, _) = raw(
        a,
        &format!(
            "PUT /_tessera/faults HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t\r\nContent-Length: 1000000000"
        ),
        b"",
    );
    assert_eq!(st, 413);
    assert!(t.elapsed() < Duration::from_secs(5));
    // Chunked, no length announced: cut off at 1 MiB.
    let big = "#".repeat((1 << 20) + 10);
    let chunk = format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len());
    let (st, _) = raw(
        a,
        &format!(
            "PUT /_tessera/faults HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t\r\nTransfer-Encoding: chunked"
        ),
        chunk.as_bytes(),
    );
    assert_eq!(st, 413);
    still_serves(&s);
}

#[test]
fn hostile_fault_rules_are_refused_and_the_server_lives_on() {
    let dir = fixture("hard-rules");
    let s = start(&dir, true, &[]);
    let a = s.handle().addr();
    let host = a.to_string();
    // Latencies that overflow a Duration when summed, rates that overflow u64.
    let max = u64::MAX;
    for rules in [
        format!("**:latency={max}\n**:latency={max}"),
        format!("**:rate={max}g"),
        format!("**:status=503,times={max},after={max}"),
    ] {
        let st = admin(a, "PUT", "faults", &host, "", &rules);
        assert!(st == 400 || st == 200, "{rules}: {st}");
        // Whatever was accepted, no request makes the server fail afterwards.
        let r = client().get(format!("{}/{SMALL}", s.url())).send().unwrap();
        assert!(r.status() == StatusCode::OK || r.status().as_u16() == 503);
        assert_eq!(admin(a, "PUT", "faults", &host, "", ""), 200);
        still_serves(&s);
    }
    assert_eq!(
        admin(a, "PUT", "faults", &host, "", &format!("**:latency={max}")),
        400
    );
    assert_eq!(
        admin(a, "PUT", "faults", &host, "", &format!("**:rate={max}")),
        400
    );
    // Too many rules, or too long a rule.
    let many = vec!["**:flip"; 65].join("\n");
    assert_eq!(admin(a, "PUT", "faults", &host, "", &many), 400);
    let long = format!("{}:flip", "a".repeat(2000));
    assert_eq!(admin(a, "PUT", "faults", &host, "", &long), 400);
    still_serves(&s);
}

#[test]
fn pathological_glob_does_not_freeze_the_server() {
    let dir = fixture("hard-glob");
    let s = start(&dir, true, &[]);
    let a = s.handle().addr();
    // Exponential for a backtracking matcher: 30 `**` against a long key of 'a's.
    let rule = format!("{}b:status=503", "**a".repeat(30));
    assert_eq!(admin(a, "PUT", "faults", &a.to_string(), "", &rule), 200);
    let key = "a".repeat(200);
    std::fs::write(dir.join(&key), b"x").unwrap();
    std::fs::write(dir.join(format!("{key}b")), b"x").unwrap();
    let t = Instant::now();
    let r = client().get(format!("{}/{key}", s.url())).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let r = client().get(format!("{}/{key}b", s.url())).send().unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "it still matches"
    );
    still_serves(&s);
}

#[test]
fn stats_keep_a_bounded_number_of_keys() {
    let dir = fixture("hard-stats");
    let s = start(&dir, false, &[]);
    let n_threads = 4;
    let per = 2_510;
    std::thread::scope(|sc| {
        for t in 0..n_threads {
            let url = s.url();
            sc.spawn(move || {
                let c = client();
                for i in 0..per {
                    let r = c.get(format!("{url}/missing/{t}/{i}")).send().unwrap();
                    assert_eq!(r.status(), StatusCode::NOT_FOUND);
                }
            });
        }
    });
    let st = s.handle().stats();
    let total = (n_threads * per) as u64;
    assert_eq!(st.requests, total);
    assert_eq!(st.by_key.len(), 10_001, "10,000 keys and the rest");
    let other = &st.by_key[OTHER_KEYS];
    assert_eq!(other.requests, total - 10_000);
}

#[test]
fn silent_and_idle_connections_are_closed() {
    let dir = fixture("hard-header-timeout");
    let mut cfg = ServerConfig::new(&dir);
    cfg.limits.header_read_timeout = Duration::from_secs(1);
    let s = MirrorServer::start(cfg).unwrap();
    let closed = |t: &mut TcpStream| {
        t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        match t.read_to_end(&mut buf) {
            Ok(_) => true,
            Err(e) => e.kind() == ErrorKind::ConnectionReset,
        }
    };
    // Nothing sent; half a request head.
    let mut t = TcpStream::connect(s.handle().addr()).unwrap();
    assert!(closed(&mut t), "a silent connection is closed");
    let mut t = TcpStream::connect(s.handle().addr()).unwrap();
    write!(t, "GET /{SMALL} HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert!(closed(&mut t), "a half-sent head is closed");
    // A keep-alive connection left idle after a response.
    let mut t = TcpStream::connect(s.handle().addr()).unwrap();
    write!(
        t,
        "GET /{SMALL} HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n"
    )
    .unwrap();
    t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).ends_with("small object") {
        let n = t.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the response");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(closed(&mut t), "an idle keep-alive connection is closed");
    still_serves(&s);
}

#[test]
fn a_peer_that_stops_reading_is_dropped() {
    let dir = fixture("hard-idle");
    let big: Vec<u8> = (0..(24u32 << 20)).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.join(BIG), big).unwrap();
    let mut cfg = ServerConfig::new(&dir);
    cfg.limits.idle_timeout = Duration::from_secs(1);
    let s = MirrorServer::start(cfg).unwrap();
    let mut t = TcpStream::connect(s.handle().addr()).unwrap();
    write!(
        t,
        "GET /{BIG} HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    // Socket buffers fill within milliseconds; the server gives up after 1 s of that.
    std::thread::sleep(Duration::from_secs(4));
    t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let _ = t.read_to_end(&mut got);
    assert!(
        got.len() < 24 << 20,
        "the whole object arrived ({} bytes): the stalled connection was kept",
        got.len()
    );
    still_serves(&s);
}

#[test]
fn connections_beyond_the_limit_wait() {
    let dir = fixture("hard-conns");
    let mut cfg = ServerConfig::new(&dir);
    cfg.limits.max_connections = 2;
    let s = MirrorServer::start(cfg).unwrap();
    let a = s.handle().addr();
    let hold1 = TcpStream::connect(a).unwrap();
    let _hold2 = TcpStream::connect(a).unwrap();
    let mut t = TcpStream::connect(a).unwrap();
    write!(
        t,
        "GET /{SMALL} HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    t.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut buf = [0u8; 64];
    let e = t
        .read(&mut buf)
        .expect_err("answered beyond the connection limit");
    assert!(
        matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{e}"
    );
    drop(hold1);
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut resp = String::new();
    t.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
}

#[test]
fn a_key_swapped_for_a_symlink_is_not_followed() {
    use std::os::unix::fs::symlink;
    let dir = fixture("hard-symlink");
    let outside = dir.parent().unwrap().join("hard-symlink-secret");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("a_scales.npy"), b"SECRET CONTENTS").unwrap();
    let s = start(&dir, false, &[]);
    let c = client();
    let get = |key: &str| {
        let r = c.get(format!("{}/{key}", s.url())).send().unwrap();
        (r.status(), r.text().unwrap())
    };
    assert_eq!(get(SMALL).0, StatusCode::OK);
    // The file itself becomes a symlink out of the root.
    std::fs::remove_file(dir.join(SMALL)).unwrap();
    symlink(outside.join("a_scales.npy"), dir.join(SMALL)).unwrap();
    let (st, body) = get(SMALL);
    assert!(st.is_client_error(), "{st}");
    assert!(!body.contains("SECRET"), "{body}");
    // A directory on the way becomes one.
    std::fs::remove_file(dir.join(SMALL)).unwrap();
    std::fs::write(dir.join(SMALL), b"small object").unwrap();
    assert_eq!(get(SMALL).0, StatusCode::OK);
    std::fs::rename(dir.join("npy/v1"), dir.join("npy/v1.old")).unwrap();
    symlink(&outside, dir.join("npy/v1")).unwrap();
    let (st, body) = get(SMALL);
    assert!(st.is_client_error(), "{st}");
    assert!(!body.contains("SECRET"), "{body}");
    // Symlinks that stay inside the tree are still served.
    std::fs::remove_file(dir.join("npy/v1")).unwrap();
    symlink("v1.old", dir.join("npy/v1")).unwrap();
    assert_eq!(get(SMALL), (StatusCode::OK, "small object".to_string()));
    // A FIFO is no object (and opening it does not hang the server).
    let fifo = dir.join("npy/fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    assert_eq!(get("npy/fifo").0, StatusCode::NOT_FOUND);
}

#[test]
fn error_bodies_escape_the_key() {
    let dir = fixture("hard-escape");
    let s = start(&dir, false, &[]);
    let (st, resp) = raw(
        s.handle().addr(),
        "GET /npy/%3Cx%3E%26%22'%01%1B%5B31m%0Aend.npy HTTP/1.1\r\nHost: x\r\nUser-Agent: t",
        b"",
    );
    assert_eq!(st, 404, "{resp}");
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("");
    assert!(
        body.contains("<Key>npy/&lt;x&gt;&amp;&quot;&apos;[31mend.npy</Key>"),
        "{body}"
    );
    assert!(!body.contains("<x>") && !body.chars().any(|c| c == '\u{1b}' || c == '\u{1}'));
}
