//! The mirror server against a real HTTP client on 127.0.0.1: one test per behaviour of
//! the published mirror, and one per injected fault.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use md5::{Digest, Md5};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use tessera_server::{FaultRule, MirrorServer, ServerConfig};
use tessera_testkit::scratch;

const SMALL: &str = "npy/v1/2024/grid_0.15_52.05/grid_0.15_52.05_scales.npy";
const BIG: &str = "npy/v1/2024/grid_0.15_52.05/grid_0.15_52.05.npy";

fn fixture(name: &str) -> (PathBuf, Vec<u8>, Vec<u8>) {
    let dir = scratch(name);
    let small: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let big: Vec<u8> = (0..(17u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    for (k, d) in [(SMALL, &small), (BIG, &big)] {
        let p = dir.join(k);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, d).unwrap();
    }
    std::fs::write(dir.join("npy/v1/manifest.parquet"), b"PAR1").unwrap();
    (dir, small, big)
}

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .user_agent("tessera-tests/1")
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn server(root: &Path, faults: &[&str]) -> MirrorServer {
    let mut cfg = ServerConfig::new(root);
    cfg.faults = faults
        .iter()
        .map(|f| FaultRule::parse(f).unwrap())
        .collect();
    cfg.seed = 3;
    MirrorServer::start(cfg).unwrap()
}

fn md5_hex(b: &[u8]) -> String {
    Md5::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn get_head_etag_last_modified() {
    let (dir, small, big) = fixture("srv-basic");
    let s = server(&dir, &[]);
    let c = client();
    let r = c.get(format!("{}/{SMALL}", s.url())).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-length"],
        small.len().to_string().as_str()
    );
    assert_eq!(
        r.headers()["etag"],
        format!("\"{}\"", md5_hex(&small)).as_str()
    );
    assert!(r.headers().contains_key("last-modified"));
    assert!(
        r.headers().get("x-amz-checksum-crc64nvme").is_none(),
        "only when asked"
    );
    assert_eq!(r.bytes().unwrap().as_ref(), &small[..]);
    // HEAD: the same headers, no body.
    let h = c.head(format!("{}/{BIG}", s.url())).send().unwrap();
    assert_eq!(h.status(), StatusCode::OK);
    assert_eq!(
        h.headers()["content-length"],
        big.len().to_string().as_str()
    );
    let etag = h.headers()["etag"].to_str().unwrap().to_string();
    // Multipart-style ETag above 16 MiB: MD5 of the 8 MiB parts' MD5s, and the part count.
    let mut parts = Vec::new();
    for p in big.chunks(8 << 20) {
        parts.extend_from_slice(&Md5::digest(p));
    }
    assert_eq!(etag, format!("\"{}-3\"", md5_hex(&parts)));
    assert_eq!(h.bytes().unwrap().len(), 0);
    // Missing keys are 404 with an S3 error body.
    let r = c
        .get(format!("{}/npy/v1/2024/nope.npy", s.url()))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().unwrap().contains("NoSuchKey"));
    let r = c.get(format!("{}/npy/v1", s.url())).send().unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "directories are not objects"
    );
    let r = c.post(format!("{}/{SMALL}", s.url())).send().unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn ranges_including_suffix() {
    let (dir, small, _) = fixture("srv-range");
    let s = server(&dir, &[]);
    let c = client();
    let url = format!("{}/{SMALL}", s.url());
    let n = small.len();
    for (range, lo, hi) in [
        ("bytes=0-127", 0, 127),
        ("bytes=1000-", 1000, n - 1),
        ("bytes=-4", n - 4, n - 1),
        ("bytes=-999999999", 0, n - 1),
        ("bytes=299990-400000", 299_990, n - 1),
    ] {
        let r = c.get(&url).header("range", range).send().unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes {lo}-{hi}/{n}").as_str()
        );
        assert_eq!(
            r.headers()["content-length"],
            (hi - lo + 1).to_string().as_str()
        );
        assert!(r.headers().get("x-amz-checksum-crc64nvme").is_none());
        assert_eq!(r.bytes().unwrap().as_ref(), &small[lo..=hi], "{range}");
    }
    let r = c
        .get(&url)
        .header("range", format!("bytes={n}-"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{n}").as_str()
    );
    // Several ranges are answered with the whole object, as S3 does.
    let r = c.get(&url).header("range", "bytes=0-1,5-6").send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().unwrap().len(), n);
    // If-Range with another ETag: the whole object.
    let r = c
        .get(&url)
        .header("range", "bytes=0-9")
        .header("if-range", "\"other\"")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let etag = c.head(&url).send().unwrap().headers()["etag"].clone();
    let r = c
        .get(&url)
        .header("range", "bytes=0-9")
        .header("if-range", etag)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
}

#[test]
fn conditional_requests() {
    let (dir, _, _) = fixture("srv-cond");
    let s = server(&dir, &[]);
    let c = client();
    let url = format!("{}/npy/v1/manifest.parquet", s.url());
    let r = c.get(&url).send().unwrap();
    let lm = r.headers()["last-modified"].to_str().unwrap().to_string();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = c.get(&url).header("if-modified-since", &lm).send().unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.bytes().unwrap().len(), 0);
    let r = c
        .get(&url)
        .header("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c.get(&url).header("if-none-match", &etag).send().unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = c.get(&url).header("if-match", "\"nope\"").send().unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    // A newer file is served again.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(dir.join("npy/v1/manifest.parquet"), b"PAR1 v2").unwrap();
    let r = c.get(&url).header("if-modified-since", &lm).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_ne!(r.headers()["etag"].to_str().unwrap(), etag);
}

#[test]
fn crc64nvme_on_request() {
    let (dir, small, big) = fixture("srv-crc");
    let s = server(&dir, &[]);
    let c = client();
    for (key, data) in [(SMALL, &small), (BIG, &big)] {
        let url = format!("{}/{key}", s.url());
        let want = base64::engine::general_purpose::STANDARD
            .encode(crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, data).to_be_bytes());
        for req in [c.get(&url), c.head(&url)] {
            let r = req.header("x-amz-checksum-mode", "ENABLED").send().unwrap();
            assert_eq!(
                r.headers()["x-amz-checksum-crc64nvme"],
                want.as_str(),
                "{key}"
            );
        }
        let r = c
            .get(&url)
            .header("x-amz-checksum-mode", "ENABLED")
            .header("range", "bytes=0-9")
            .send()
            .unwrap();
        assert!(
            r.headers().get("x-amz-checksum-crc64nvme").is_none(),
            "never on ranges"
        );
    }
}

#[test]
fn user_agent_required_and_traversal_refused() {
    let (dir, _, _) = fixture("srv-ua");
    std::fs::write(dir.parent().unwrap().join("secret.txt"), b"secret").unwrap();
    let s = server(&dir, &[]);
    let _ = client();
    let bare = Client::builder().build().unwrap();
    let r = bare.get(format!("{}/{SMALL}", s.url())).send().unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let addr = s.handle().addr();
    for path in [
        "/../secret.txt",
        "/npy/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/npy/%2E%2E/%2e%2e/secret.txt",
        "/npy%5c..%5c..%5csecret.txt",
    ] {
        let mut t = TcpStream::connect(addr).unwrap();
        write!(
            t,
            "GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        t.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 400"), "{path}: {resp}");
        assert!(!resp.contains("secret\n") && !resp.ends_with("secret"));
    }
}

#[test]
fn status_faults_then_recovery() {
    let (dir, small, _) = fixture("srv-status");
    let s = server(
        &dir,
        &[
            &format!("{SMALL}:status=503,times=1"),
            "**/manifest.parquet:status=429,times=2,retry-after=3",
            "npy/v1/2024/**/*_scales.npy:status=500,after=1,times=1",
        ],
    );
    let c = client();
    let url = format!("{}/{SMALL}", s.url());
    let r = c.get(&url).send().unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().unwrap().contains("SlowDown"));
    assert_eq!(
        c.get(&url).send().unwrap().status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "after=1,times=1"
    );
    let r = c.get(&url).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().unwrap().as_ref(), &small[..]);
    let m = format!("{}/npy/v1/manifest.parquet", s.url());
    for _ in 0..2 {
        let r = c.get(&m).send().unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "3");
    }
    assert_eq!(c.get(&m).send().unwrap().status(), StatusCode::OK);
}

#[test]
fn latency_fault() {
    let (dir, _, _) = fixture("srv-latency");
    let s = server(&dir, &["**/*_scales.npy:latency=300"]);
    let c = client();
    let t = Instant::now();
    assert_eq!(
        c.get(format!("{}/{SMALL}", s.url()))
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert!(t.elapsed() >= Duration::from_millis(300));
    let t = Instant::now();
    c.get(format!("{}/npy/v1/manifest.parquet", s.url()))
        .send()
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "other keys are not delayed"
    );
}

fn read_all(c: &Client, url: &str) -> Result<Vec<u8>, String> {
    let mut r = c.get(url).send().map_err(|e| format!("{e:?}"))?;
    let mut v = Vec::new();
    r.read_to_end(&mut v).map_err(|e| format!("{e:?}"))?;
    Ok(v)
}

#[test]
fn truncated_body_fault() {
    let (dir, _, big) = fixture("srv-trunc");
    let s = server(&dir, &[&format!("{BIG}:truncate=0.5,times=1")]);
    let c = client();
    let url = format!("{}/{BIG}", s.url());
    let e = read_all(&c, &url).expect_err("a truncated body is an error for the client");
    assert!(!e.is_empty());
    assert!(s.handle().stats().by_key[BIG].bytes <= big.len() as u64 / 2 + (256 << 10));
    assert_eq!(
        read_all(&c, &url).unwrap(),
        big,
        "the next request is whole"
    );
}

#[test]
fn flipped_byte_fault() {
    let (dir, small, _) = fixture("srv-flip");
    let s = server(&dir, &[&format!("{SMALL}:flip,times=1")]);
    let c = client();
    let url = format!("{}/{SMALL}", s.url());
    let r = c
        .get(&url)
        .header("x-amz-checksum-mode", "ENABLED")
        .send()
        .unwrap();
    let etag = r.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_string();
    let body = r.bytes().unwrap();
    assert_eq!(body.len(), small.len(), "same length");
    let diffs: Vec<usize> = (0..small.len()).filter(|&i| body[i] != small[i]).collect();
    assert_eq!(diffs.len(), 1, "exactly one byte differs");
    assert_eq!(body[diffs[0]], small[diffs[0]] ^ 0xFF);
    assert_ne!(md5_hex(&body), etag, "the checksum exposes it");
    assert_eq!(read_all(&c, &url).unwrap(), small);
}

#[test]
fn connection_reset_fault() {
    let (dir, _, big) = fixture("srv-reset");
    let s = server(&dir, &[&format!("{BIG}:reset=0.25,times=1")]);
    let c = client();
    let url = format!("{}/{BIG}", s.url());
    let e = read_all(&c, &url).expect_err("a reset body is an error");
    assert!(
        e.to_lowercase().contains("reset") || e.contains("ConnectionReset"),
        "{e}"
    );
    assert_eq!(read_all(&c, &url).unwrap(), big);
}

#[test]
fn probabilistic_faults_are_reproducible() {
    let (dir, _, _) = fixture("srv-prob");
    let run = || {
        let s = server(&dir, &["npy/v1/manifest.parquet:status=503,p=0.5"]);
        let c = client();
        (0..40)
            .map(|_| {
                c.get(format!("{}/npy/v1/manifest.parquet", s.url()))
                    .send()
                    .unwrap()
                    .status()
                    .as_u16()
            })
            .collect::<Vec<_>>()
    };
    let a = run();
    assert_eq!(a, run(), "same seed, same sequence");
    let fails = a.iter().filter(|&&x| x == 503).count();
    assert!((8..32).contains(&fails), "{fails} of 40");
}

#[test]
fn stats_and_admin_endpoints() {
    let (dir, small, _) = fixture("srv-stats");
    let mut cfg = ServerConfig::new(&dir);
    cfg.admin = true;
    let s = MirrorServer::start(cfg).unwrap();
    let c = client();
    c.get(format!("{}/{SMALL}", s.url()))
        .header("range", "bytes=0-99")
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    c.get(format!("{}/{SMALL}", s.url()))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let st = s.handle().stats();
    assert_eq!(st.requests, 2);
    assert_eq!(st.bytes, 100 + small.len() as u64);
    assert_eq!(st.by_key[SMALL].ranges, 1);
    let j: serde_json::Value = serde_json::from_str(
        &c.get(format!("{}/_tessera/stats", s.url()))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(j["by_key"][SMALL]["requests"], 2);
    let r = c
        .put(format!("{}/_tessera/faults", s.url()))
        .body(format!("{SMALL}:status=500\n"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        c.get(format!("{}/{SMALL}", s.url()))
            .send()
            .unwrap()
            .status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let r = c
        .put(format!("{}/_tessera/faults", s.url()))
        .body("bad rule")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    c.post(format!("{}/_tessera/reset", s.url()))
        .send()
        .unwrap();
    assert_eq!(s.handle().stats().requests, 0);
}

#[test]
fn rate_fault_throttles_the_body() {
    let (dir, small, _) = fixture("srv-rate");
    let s = server(&dir, &[&format!("{SMALL}:rate=600k")]);
    let c = client();
    let t = Instant::now();
    assert_eq!(
        read_all(&c, &format!("{}/{SMALL}", s.url())).unwrap(),
        small
    );
    let secs = t.elapsed().as_secs_f64();
    assert!(secs >= 0.4, "300 kB at 600 kB/s took {secs} s");
}
