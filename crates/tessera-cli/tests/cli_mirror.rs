//! `tessera mirror synth | verify | serve` as a user runs them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tessera_testkit::scratch;

fn tessera(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn synth_verify_and_damage() {
    let dir = scratch("cli-synth");
    let d = dir.display().to_string();
    let (code, out, err) = tessera(&[
        "mirror",
        "synth",
        "-o",
        &d,
        "--bbox",
        "0.01,-80.09,0.09,-80.01",
        "--years",
        "2023,2024",
        "--datasets",
        "v1,v1.1",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["land_tiles"], 1);
    assert_eq!(
        v["tile_years"]["v1"].as_u64().unwrap()
            + v["tile_years"]["v1.1-cam"].as_u64().unwrap()
            + v["gaps"].as_u64().unwrap(),
        4
    );
    let (code, out, _) = tessera(&["mirror", "verify", &d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK"), "{out}");
    // Damage, each kind once: a truncated tile, a scales file with the right size but the
    // wrong shape, a landmask of another tile, a stray file.
    let dir = scratch("cli-synth-damage");
    let d = dir.display().to_string();
    let (code, _, err) = tessera(&[
        "mirror",
        "synth",
        "-o",
        &d,
        "--bbox",
        "0.01,-80.09,0.19,-80.01",
        "--years",
        "2024",
        "--datasets",
        "v1.1",
        "--missing-rate",
        "0",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = tessera(&["mirror", "verify", &d]);
    assert_eq!(code, 0, "{out}");
    let (a, b) = ("grid_0.05_-80.05", "grid_0.15_-80.05");
    let tiles = dir.join("npy/v1.1-cam/2024");
    let emb = tiles.join(a).join(format!("{a}.npy"));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&emb)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let sc = tiles.join(b).join(format!("{b}_scales.npy"));
    let f = tessera_formats::npy::NpyFile::open(&sc).unwrap();
    let (h, w) = (f.shape()[0], f.shape()[1]);
    let v: Vec<f32> = f.to_vec().unwrap();
    drop(f);
    let before = std::fs::metadata(&sc).unwrap().len();
    std::fs::remove_file(&sc).unwrap();
    tessera_formats::npy::write_npy_file(&sc, &[w, h], &v).unwrap();
    assert_eq!(std::fs::metadata(&sc).unwrap().len(), before);
    let lm = dir.join("landmasks/v1.1");
    std::fs::remove_file(lm.join(format!("{a}.tiff"))).unwrap();
    std::fs::copy(lm.join(format!("{b}.tiff")), lm.join(format!("{a}.tiff"))).unwrap();
    std::fs::write(tiles.join(a).join("grid_9.95_9.95.npy"), b"x").unwrap();
    let (code, out, err) = tessera(&["mirror", "verify", &d, "--json"]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let problems: Vec<String> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    let has = |key: &str, what: &str| {
        assert!(
            problems.iter().any(|p| p.contains(key) && p.contains(what)),
            "no problem with {key} and {what:?}: {problems:?}"
        )
    };
    has(&format!("{a}/{a}.npy"), "bytes on disk");
    has(&format!("{b}/{b}_scales.npy"), "from the tile geometry");
    has(&format!("{a}.tiff"), "transform");
    has("grid_9.95_9.95.npy", "not in the manifest");
    // Nothing else is reported.
    let damaged = [
        format!("{a}.npy"),
        format!("{b}_scales.npy"),
        format!("{a}.tiff"),
        "grid_9.95".to_string(),
    ];
    for p in &problems {
        assert!(damaged.iter().any(|k| p.contains(k)), "{p}");
    }
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn synth_bad_input() {
    let dir = scratch("cli-synth-bad");
    let d = dir.display().to_string();
    for args in [
        vec!["--bbox", "0,0,0,1"],
        vec!["--datasets", "bogus"],
        vec!["--years", "99"],
        vec!["--missing-rate", "2"],
        vec!["--bbox", "-20,-20,20,20"],
    ] {
        let mut a = vec!["mirror", "synth", "-o", &d];
        a.extend(args.iter().copied());
        let (code, _, err) = tessera(&a);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let (code, _, _) = tessera(&["mirror", "verify", "/nonexistent/dir"]);
    assert_eq!(code, 2);
    let (code, _, err) = tessera(&["mirror", "serve", &d, "--fault", "nonsense"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn serve_prints_address_and_stops_on_ctrl_c() {
    let dir = scratch("cli-serve");
    std::fs::create_dir_all(dir.join("npy/v1")).unwrap();
    std::fs::write(dir.join("npy/v1/manifest.parquet"), b"hello").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "mirror",
            "serve",
            &dir.display().to_string(),
            "--addr",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect(&line)
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "binds loopback: {line}"
    );
    let mut t = TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    write!(t, "GET /npy/v1/manifest.parquet HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    t.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.ends_with("hello"),
        "{resp}"
    );
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "clean exit on Ctrl-C: {status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "server did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `tessera mirror serve DIR ARGS...`; returns the child and its URL.
fn serve_child(dir: &std::path::Path, args: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["mirror", "serve", &dir.display().to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect(&line)
        .to_string();
    (child, url)
}

fn get_status(addr: &str, path: &str) -> String {
    let mut t = TcpStream::connect(addr).unwrap();
    write!(
        t,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    t.read_to_string(&mut resp).unwrap();
    resp.get(9..12).unwrap_or("").to_string()
}

#[test]
fn serve_admin_endpoints_only_when_asked() {
    let dir = scratch("cli-serve-admin");
    std::fs::create_dir_all(dir.join("npy/v1")).unwrap();
    std::fs::write(dir.join("npy/v1/manifest.parquet"), b"hello").unwrap();
    let (mut plain, url) = serve_child(&dir, &["--addr", "127.0.0.1:0"]);
    let addr = url.trim_start_matches("http://");
    assert_eq!(get_status(addr, "/_tessera/stats"), "404");
    plain.kill().unwrap();
    plain.wait().unwrap();
    for flag in [["--admin", ""], ["--fault", "nothing/**:flip"]] {
        let mut args = vec!["--addr", "127.0.0.1:0"];
        args.extend(flag.iter().filter(|a| !a.is_empty()));
        let (mut child, url) = serve_child(&dir, &args);
        let addr = url.trim_start_matches("http://");
        assert_eq!(get_status(addr, "/_tessera/stats"), "200", "{flag:?}");
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let (code, _, err) = tessera(&[
        "mirror",
        "serve",
        &dir.display().to_string(),
        "--fault",
        "**:rate=0",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("rate"), "{err}");
}

#[test]
fn serve_warns_on_a_non_loopback_address() {
    let dir = scratch("cli-serve-warn");
    std::fs::create_dir_all(&dir).unwrap();
    let (mut child, url) = serve_child(&dir, &["--addr", "0.0.0.0:0"]);
    assert!(url.starts_with("http://0.0.0.0:"), "{url}");
    child.kill().unwrap();
    child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("warning") && err.contains("not a loopback"),
        "{err}"
    );
    // Loopback: no warning.
    let (mut child, _) = serve_child(&dir, &["--addr", "127.0.0.1:0"]);
    child.kill().unwrap();
    child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!err.contains("warning"), "{err}");
}
