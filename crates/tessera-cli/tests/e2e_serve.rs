//! `tessera serve` end to end: MIME types, byte ranges (206, 416 for ranges past the end,
//! reversed or many), hostile paths (`..`, encoded dots and slashes, NUL, absolute paths,
//! symlinks out of the directory) refused, nothing outside the directory ever served; and
//! tiles made on request from a GeoTIFF (`--tiles-from`) shown by Chromium.

mod common;
mod webcommon;

use tessera_testkit::scratch;
use webcommon::{Served, assert_good_page, check_page, mercator_picture, raw};

/// A directory to serve, a secret beside it, and a symlink from inside to the secret.
fn site(name: &str) -> (std::path::PathBuf, Served) {
    let d = scratch(name);
    let root = d.join("site");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("index.html"), "<html><body>hello</body></html>").unwrap();
    std::fs::write(root.join("sub/data.json"), r#"{"a":1}"#).unwrap();
    std::fs::write(root.join("app.js"), "console.log(1)").unwrap();
    std::fs::write(root.join("style.css"), "body{}").unwrap();
    std::fs::write(root.join("m.tif"), b"II*\0").unwrap();
    let bytes: Vec<u8> = (0..=255u8).collect();
    std::fs::write(root.join("t.png"), &bytes).unwrap();
    std::fs::write(d.join("secret.txt"), "SECRET").unwrap();
    std::os::unix::fs::symlink(d.join("secret.txt"), root.join("link-out")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("etc-link")).unwrap();
    std::os::unix::fs::symlink(root.join("app.js"), root.join("link-in.js")).unwrap();
    let s = Served::start(&["serve", &root.display().to_string(), "--port", "0"]);
    (d, s)
}

#[test]
fn serve_gives_types_and_ranges_and_refuses_everything_outside() {
    let (_d, s) = site("e2e-serve-paths");
    let p = s.port;
    assert!(s.url.starts_with("http://127.0.0.1:"), "{}", s.url);
    for (path, mime) in [
        ("/", "text/html"),
        ("/index.html", "text/html"),
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/t.png", "image/png"),
        ("/sub/data.json", "application/json"),
        ("/m.tif", "image/tiff"),
        ("/link-in.js", "text/javascript"),
    ] {
        let (st, head, _) = raw(p, &format!("GET {path} HTTP/1.1"), &[]);
        assert_eq!(st, 200, "{path}");
        assert!(
            head.contains(&format!("content-type: {mime}")),
            "{path}: {head}"
        );
    }
    let (st, head, body) = raw(p, "GET /t.png HTTP/1.1", &["Range: bytes=10-19"]);
    assert_eq!(st, 206);
    assert!(head.contains("content-range: bytes 10-19/256"), "{head}");
    assert_eq!(body, (10..20u8).collect::<Vec<_>>());
    let (st, _, body) = raw(p, "GET /t.png HTTP/1.1", &["Range: bytes=-3"]);
    assert_eq!((st, body), (206, vec![253, 254, 255]));
    let many: Vec<String> = (0..1000).map(|i| format!("{i}-{i}")).collect();
    let many = format!("Range: bytes={}", many.join(","));
    for r in [
        "Range: bytes=999999999999-",
        "Range: bytes=5-2",
        "Range: bytes=256-",
        "Range: bytes=0-0,1-1",
        many.as_str(),
    ] {
        let (st, head, body) = raw(p, "GET /t.png HTTP/1.1", &[r]);
        assert_eq!(st, 416, "{r}");
        assert!(head.contains("content-range: bytes */256"), "{head}");
        assert!(body.len() < 100, "{r}");
    }
    // HEAD: headers, no body.
    let (st, head, body) = raw(p, "HEAD /t.png HTTP/1.1", &[]);
    assert_eq!(st, 200);
    assert!(head.contains("content-length: 256"), "{head}");
    assert!(body.is_empty());
    let (st, _, _) = raw(p, "POST /t.png HTTP/1.1", &["Content-Length: 0"]);
    assert_eq!(st, 405);
    for path in [
        "/../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E/secret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/sub%2f..%2f..%2fsecret.txt",
        "//etc/passwd",
        "/sub/../../secret.txt",
        "/index.html%00.png",
        "/link-out",
        "/etc-link/passwd",
        "/etc-link/hostname",
    ] {
        let (st, _, body) = raw(p, &format!("GET {path} HTTP/1.1"), &[]);
        assert!(st == 403 || st == 404 || st == 400, "{path}: {st}");
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("SECRET") && !text.contains("root:"),
            "{path}"
        );
    }
    // An absolute-form target names a path on this server only.
    let (st, _, body) = raw(p, "GET http://127.0.0.1/../etc/passwd HTTP/1.1", &[]);
    assert!(st == 403 || st == 404 || st == 400, "{st}");
    assert!(!String::from_utf8_lossy(&body).contains("root:"));
    let (st, _, _) = raw(p, "GET /sub HTTP/1.1", &[]);
    assert_eq!(st, 404, "directories are not listed");
    let (st, _, _) = raw(p, "GET /missing.html HTTP/1.1", &[]);
    assert_eq!(st, 404);
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let (d, s) = site("e2e-serve-port");
    let port = s.port.to_string();
    let (code, _, err) = common::tessera(
        &[
            "serve",
            &d.join("site").display().to_string(),
            "--port",
            &port,
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("Cannot bind web server on port {port}")),
        "{err}"
    );
    assert!(err.contains("Choose another --port"), "{err}");
}

#[test]
fn tiles_from_a_geotiff_are_made_on_request_and_shown() {
    let d = scratch("e2e-serve-tiles");
    let src = mercator_picture(&d);
    let s = Served::start(&[
        "serve",
        "--tiles-from",
        &src.display().to_string(),
        "--port",
        "0",
    ]);
    let shot = d.join("onthefly.png");
    let page = check_page(&s.url, &shot, 2);
    assert_good_page(&page, 2);
    // A tile is a PNG; one outside the picture is 404; nothing was written beside it.
    let reqs = page["requests"].as_array().unwrap();
    let tile = reqs
        .iter()
        .filter_map(|u| u.as_str())
        .find(|u| u.contains("/tiles/"))
        .unwrap();
    let path = &tile[tile.find("/tiles/").unwrap()..];
    let (st, head, body) = raw(s.port, &format!("GET {path} HTTP/1.1"), &[]);
    assert_eq!(st, 200);
    assert!(head.contains("content-type: image/png"), "{head}");
    assert!(body.starts_with(b"\x89PNG"));
    let (st, _, _) = raw(s.port, "GET /tiles/14/0/0.png HTTP/1.1", &[]);
    assert_eq!(st, 404);
    let (st, _, _) = raw(s.port, "GET /tiles/30/0/0.png HTTP/1.1", &[]);
    assert_eq!(st, 404);
    let names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n == "tiles"), "{names:?}");
}
