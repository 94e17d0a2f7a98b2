//! The site server as a library: tiles made on request are cached (a second request does
//! not render again, a tile outside the picture is a cached 404), in-memory files take
//! precedence over the directory, and a directory that does not exist is an error.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tessera_server::{SiteConfig, SiteServer, TileSource};

struct Counting(AtomicUsize);

impl TileSource for Counting {
    fn tile(&self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok((z == 3).then(|| format!("\u{89}PNG {z}/{x}/{y}").into_bytes()))
    }
}

fn get(port: u16, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let at = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = String::from_utf8_lossy(&buf[9..12]).parse().unwrap();
    (status, buf[at + 4..].to_vec())
}

#[test]
fn tiles_are_rendered_once_and_memory_files_win() {
    let src = Arc::new(Counting(AtomicUsize::new(0)));
    let mut cfg = SiteConfig::new(None);
    cfg.addr = "127.0.0.1:0".parse().unwrap();
    cfg.tiles = Some(src.clone());
    cfg.files.insert(
        "index.html".into(),
        bytes::Bytes::from_static(b"<p>page</p>"),
    );
    let s = SiteServer::start(cfg).unwrap();
    let p = s.addr().port();
    assert!(s.url().starts_with("http://127.0.0.1:"));
    let (st, body) = get(p, "/tiles/3/1/2.png");
    assert_eq!(st, 200);
    assert!(body.ends_with(b"3/1/2"));
    let (st, _) = get(p, "/tiles/3/1/2.png");
    assert_eq!(st, 200);
    assert_eq!(
        src.0.load(Ordering::SeqCst),
        1,
        "the second request hits the cache"
    );
    let (st, _) = get(p, "/tiles/4/0/0.png");
    assert_eq!(st, 404);
    let (st, _) = get(p, "/tiles/4/0/0.png");
    assert_eq!(st, 404);
    assert_eq!(src.0.load(Ordering::SeqCst), 2, "misses are cached too");
    let (st, body) = get(p, "/");
    assert_eq!((st, body), (200, b"<p>page</p>".to_vec()));
    let (st, _) = get(p, "/other.html");
    assert_eq!(st, 404, "no directory: nothing else");
    s.stop();
    assert!(SiteServer::start(SiteConfig::new(Some("/nonexistent/dir".into()))).is_err());
}
