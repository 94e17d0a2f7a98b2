//! Helpers for the web map tests: a synthetic RGBA picture, `tessera serve` as a child
//! process, raw HTTP requests, and the browser harness (tests/browser/check_page.py, run
//! with the oracle Python and the system Chromium).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tessera_core::{Affine, Crs};
use tessera_formats::DType;
use tessera_formats::geotiff::Compression;
use tessera_formats::geotiff::writer::{GeoTiffFile, GeoTiffSpec, Layout, Photometric};

/// A smooth RGBA picture (`w x h`, transform `t`) with a transparent disc in its
/// north-west corner.
pub fn write_picture(path: &Path, crs: Crs, t: Affine, w: usize, h: usize) {
    let mut spec = GeoTiffSpec::new(w as u32, h as u32, 4, DType::U8);
    spec.layout = Layout::Tiled(256);
    spec.compression = Compression::Lzw;
    spec.predictor = GeoTiffSpec::default_predictor(DType::U8);
    spec.photometric = Photometric::Rgb;
    spec.alpha = true;
    spec.georef = Some((crs, t));
    let mut px = Vec::with_capacity(w * h * 4);
    for r in 0..h {
        for c in 0..w {
            let (x, y) = (c as f64, r as f64);
            if x * x + y * y < 150.0 * 150.0 {
                px.extend_from_slice(&[0, 0, 0, 0]);
                continue;
            }
            let red = 128.0 + 100.0 * (x / 90.0).sin();
            let green = 128.0 + 100.0 * (y / 70.0).cos();
            let blue = 40.0 + 0.1 * (x + y);
            px.extend([red as u8, green as u8, blue.min(255.0) as u8, 255]);
        }
    }
    let mut f = GeoTiffFile::create(path, spec).unwrap();
    f.writer().write_rows(&px).unwrap();
    f.finish().unwrap();
}

/// A 9 x 7 km picture at 10 m in EPSG:3857 near Cambridge.
pub fn mercator_picture(dir: &Path) -> PathBuf {
    let p = dir.join("rgb_mosaic.tif");
    let (x0, y0) = Crs::WebMercator.forward(0.1, 52.2);
    write_picture(
        &p,
        Crs::WebMercator,
        Affine::north_up(x0, y0, 10.0),
        900,
        700,
    );
    p
}

/// `tessera` with `args` as a child whose first stdout line holds the URL it serves.
pub struct Served {
    pub child: Child,
    pub url: String,
    pub port: u16,
}

impl Served {
    pub fn start(args: &[&str]) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let url = loop {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap() == 0 {
                let st = child.wait().unwrap();
                panic!("tessera {args:?} exited ({st}) before serving");
            }
            if let Some(at) = line.find("http://") {
                break line[at..].split_whitespace().next().unwrap().to_string();
            }
        };
        std::thread::spawn(move || for _ in out.lines() {});
        let port = url
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        Served { child, url, port }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One raw HTTP/1.1 request (`request_line` as sent, then `headers`): (status, headers
/// lowercased, body).
pub fn raw(port: u16, request_line: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{request_line}\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, head, buf[split + 4..].to_vec())
}

/// What the harness saw of a page.
pub fn check_page(url: &str, shot: &Path, tiles: usize) -> serde_json::Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/browser/check_page.py"
    );
    let out = Command::new(tessera_testkit::python())
        .args([
            script,
            url,
            "--screenshot",
            &shot.display().to_string(),
            "--wait-for-tiles",
            &tiles.to_string(),
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run the browser harness ({e}); set TESSERA_PYTHON"));
    assert!(
        out.status.success(),
        "check_page.py failed (needs playwright in TESSERA_PYTHON and /usr/bin/chromium):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The checks every map page must pass: tiles loaded, no errors, nothing from outside, a
/// picture on the screen.
pub fn assert_good_page(v: &serde_json::Value, min_tiles: u64) {
    assert_eq!(v["console_errors"], serde_json::json!([]), "{v}");
    assert_eq!(v["external_requests"], serde_json::json!([]), "{v}");
    assert!(v["tile_responses_ok"].as_u64().unwrap() >= min_tiles, "{v}");
    assert_eq!(v["screenshot_nonblank"], true, "{v}");
}
