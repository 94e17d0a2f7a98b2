//! Helpers for end-to-end tests of the `tessera` binary against `tessera mirror serve`.
#![allow(dead_code)]

pub mod hostile;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use tessera_core::Bbox;
use tessera_synth::{SynthOptions, synthesize};
use tessera_testkit::scratch_shared;

pub const BBOX: &str = "23.91,69.01,24.09,69.09";
pub const YEAR: &str = "2024";

/// Runs the binary; returns (exit code, stdout, stderr).
pub fn tessera(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.args(args).env_remove("TESSERA_MIRROR");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A synthetic mirror shared by the tests of one binary: two Lapland tiles on both sides
/// of the UTM 34/35 seam, 2023 and 2024, datasets v1 and v1.1-cam, no gaps.
pub fn mirror() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_shared("e2e-mirror");
        let mut o = SynthOptions::new(&dir, Bbox::new(23.91, 69.01, 24.09, 69.09).unwrap());
        o.years = vec![2023, 2024];
        o.datasets = vec!["v1".into(), "v1.1-cam".into()];
        o.missing_rate = 0.0;
        synthesize(&o, &|_, _, _| {}).unwrap();
        dir
    })
}

/// `tessera mirror serve` running in a child process.
pub struct Served {
    child: Child,
    pub url: String,
}

impl Served {
    pub fn start(dir: &Path, faults: &[&str]) -> Served {
        let mut args = vec![
            "mirror".to_string(),
            "serve".into(),
            dir.display().to_string(),
            "--addr".into(),
            "127.0.0.1:0".into(),
            "--admin".into(),
        ];
        for f in faults {
            args.push("--fault".into());
            args.push((*f).into());
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(&args)
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
        Served { child, url }
    }

    fn admin(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let addr = self.url.trim_start_matches("http://");
        let mut t = TcpStream::connect(addr).unwrap();
        write!(
            t,
            "{method} /_tessera/{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        t.read_to_string(&mut resp).unwrap();
        let status = resp[9..12].parse().unwrap();
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }

    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.admin("GET", "stats", "").1).unwrap()
    }

    pub fn reset_stats(&self) {
        self.admin("POST", "reset", "");
    }

    pub fn set_faults(&self, rules: &[&str]) {
        let (s, b) = self.admin("PUT", "faults", &rules.join("\n"));
        assert_eq!(s, 200, "{b}");
    }

    /// Bytes sent for keys matching a suffix.
    pub fn bytes_for(&self, suffix: &str) -> u64 {
        let s = self.stats();
        s["by_key"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.ends_with(suffix))
            .map(|(_, v)| v["bytes"].as_u64().unwrap())
            .sum()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file of a tile-year download equals the mirror's object, and nothing partial
/// lies under a final name (no leftover `.part` or temporary files either).
pub fn assert_complete(out: &Path, mirror: &Path, npy_dir: &str, landmask_dir: &str, year: i32) {
    let tiles = ["grid_23.95_69.05", "grid_24.05_69.05"];
    for t in tiles {
        for (local, remote) in [
            (
                format!("global_0.1_degree_representation/{year}/{t}/{t}.npy"),
                format!("npy/{npy_dir}/{year}/{t}/{t}.npy"),
            ),
            (
                format!("global_0.1_degree_representation/{year}/{t}/{t}_scales.npy"),
                format!("npy/{npy_dir}/{year}/{t}/{t}_scales.npy"),
            ),
            (
                format!("global_0.1_degree_tiff_all/{t}.tiff"),
                format!("landmasks/{landmask_dir}/{t}.tiff"),
            ),
        ] {
            let a = std::fs::read(out.join(&local)).unwrap_or_else(|_| panic!("missing {local}"));
            let b = std::fs::read(mirror.join(&remote)).unwrap();
            assert!(a == b, "{local} differs from the mirror's object");
        }
    }
    let mut stray = Vec::new();
    walk(out, &mut stray);
    stray.retain(|p| {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        n.starts_with('.') || n.contains("_tmp_")
    });
    assert!(stray.is_empty(), "leftover partial files: {stray:?}");
}

pub fn walk(d: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Recreates a directory tree with hard links (same file system, no copying).
pub fn link_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let (from, to) = (e.path(), dst.join(e.file_name()));
        if from.is_dir() {
            link_tree(&from, &to);
        } else {
            std::fs::hard_link(&from, &to).unwrap();
        }
    }
}

/// Runs the binary, polling its anonymous resident memory (heap, not mapped files);
/// returns (exit code, peak RssAnon in MiB, stderr).
pub fn peak_anon_mib(args: &[&str]) -> (i32, u64, String) {
    peak_anon_mib_env(args, &[])
}

/// [`peak_anon_mib`] with extra environment variables.
pub fn peak_anon_mib_env(args: &[&str], env: &[(&str, &str)]) -> (i32, u64, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .env_remove("TESSERA_MIRROR")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code().unwrap_or(-1);
        }
        if let Ok(text) = std::fs::read_to_string(&status) {
            for line in text.lines().filter(|l| l.starts_with("RssAnon:")) {
                let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
                peak_kib = peak_kib.max(kib);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (code, peak_kib / 1024, err)
}
