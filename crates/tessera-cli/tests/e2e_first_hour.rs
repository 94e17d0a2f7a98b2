//! A new user's first hour, through the binary: the README's commands in order against a
//! fresh synthetic mirror served on 127.0.0.1, with defaults, all naming one dataset; and
//! the traps a new user falls into: a mirror without a store, Ctrl-C, outputs other tools
//! read, consistent mistakes, the demo's next steps, help and text.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Served, tessera, walk};
use tessera_testkit::{gdalinfo, scratch, scratch_shared};

const BBOX: &str = "23.91,69.01,24.09,69.09";
const DATASET: &str = "v1.1 cambridge";

/// A mirror as the README builds it (`tessera mirror synth ... --zarr`): two tiles on both
/// sides of the UTM 34/35 seam, 2023 and 2024, the default dataset with its store.
fn zarr_mirror() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_shared("first-hour-mirror");
        let (code, _, err) = tessera(
            &[
                "mirror",
                "synth",
                "-o",
                dir.to_str().unwrap(),
                "--bbox",
                BBOX,
                "--years",
                "2023,2024",
                "--datasets",
                "v1.1-cam",
                "--missing-rate",
                "0",
                "--zarr",
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        dir
    })
}

fn json(out: &str) -> serde_json::Value {
    let line = out.lines().rev().find(|l| l.starts_with('{')).unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn first_hour_commands_in_order_with_defaults_name_one_dataset() {
    let m = zarr_mirror();
    let s = Served::start(m, &[]);
    let w = scratch("first-hour");
    let cache = w.join("cache");
    let run = |args: &[&str]| {
        let mut a = vec![
            "--mirror",
            s.url.as_str(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ];
        a.extend_from_slice(args);
        let (code, out, err) = tessera(&a, &[]);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(
            !err.contains("note:"),
            "{args:?}: a note nobody asked for: {err}"
        );
        (out, err)
    };
    // info
    let (out, _) = run(&["info", "--json"]);
    let v = json(&out);
    assert_eq!(v["selected"]["variant"], "cambridge", "{v}");
    // download as GeoTIFF (the default: streamed from the dataset's store)
    let tif = w.join("tiff");
    let (out, _) = run(&[
        "download",
        "--bbox",
        BBOX,
        "-o",
        tif.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["dataset"], DATASET, "{v}");
    assert!(v["store"].as_str().unwrap().ends_with("zarr/v1.1"), "{v}");
    assert_eq!(
        v["files"].as_array().unwrap().len(),
        2,
        "one file per zone: {v}"
    );
    // download as NPY
    let npy = w.join("npy");
    let (out, _) = run(&[
        "download",
        "--bbox",
        BBOX,
        "-f",
        "npy",
        "-o",
        npy.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["dataset"], DATASET, "{v}");
    assert_eq!(v["complete_tiles"], 2, "{v}");
    // sample (by range reads), then from the downloaded tiles
    let pts = m.join("truth/2024/labels.geojson");
    let (out, _) = run(&[
        "sample",
        "--points",
        pts.to_str().unwrap(),
        "-o",
        w.join("s.parquet").to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["dataset"], DATASET, "{v}");
    assert!(v["sampled"].as_u64().unwrap() > 10, "{v}");
    // zarr read of the same dataset's store
    let store = format!("{}/zarr/v1.1", s.url);
    let (out, _) = run(&[
        "zarr",
        "read",
        &store,
        "--bbox",
        "24.02,69.03,24.05,69.05",
        "-o",
        w.join("r.npy").to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["crs"], "EPSG:32635", "{v}");
    // countries
    let (out, _) = run(&["countries", "finland", "--json"]);
    assert!(out.contains("FIN"), "{out}");
}

#[test]
fn a_mirror_without_a_store_falls_back_to_tiles_and_says_so() {
    let m = common::mirror();
    let s = Served::start(m, &[]);
    let w = scratch("first-hour-fallback");
    let (code, out, err) = tessera(
        &[
            "--mirror",
            &s.url,
            "--cache-dir",
            w.join("cache").to_str().unwrap(),
            "download",
            "--bbox",
            BBOX,
            "-o",
            w.join("out").to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("no Zarr store") && err.contains("--source tiles"),
        "{err}"
    );
    let v = json(&out);
    assert_eq!(v["geotiffs"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["dataset"], DATASET);
    // With --source zarr there is no fallback: one line that names the fix.
    let (code, _, err) = tessera(
        &[
            "--mirror",
            &s.url,
            "download",
            "--source",
            "zarr",
            "--bbox",
            BBOX,
            "-o",
            w.join("z").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--source tiles"), "{err}");
    assert!(
        !w.join("z").exists(),
        "a failed run left its output directory"
    );
}

#[test]
fn ctrl_c_stops_within_a_second_keeps_what_is_done_and_a_rerun_completes() {
    let m = common::mirror();
    // Slow enough that the run is still downloading when it is interrupted.
    let s = Served::start(m, &["**/*.npy:rate=4m"]);
    let w = scratch("first-hour-ctrl-c");
    let out = w.join("out");
    let cache = w.join("cache");
    let args = [
        "--mirror",
        s.url.as_str(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "download",
        "--source",
        "tiles",
        "--bbox",
        BBOX,
        "-o",
        out.to_str().unwrap(),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .env_remove("TESSERA_MIRROR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t0 = Instant::now();
    let status = child.wait().unwrap();
    let took = t0.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(took < Duration::from_secs(1), "stopped after {took:?}");
    assert!(
        err.contains("interrupted") && err.contains("rerun"),
        "{err}"
    );
    // No partial file under a final name, no stray temporary exports.
    let mut files = Vec::new();
    walk(&out, &mut files);
    for f in &files {
        let n = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!n.contains("_tmp_"), "{n} left behind");
        if n.ends_with(".npy") && !n.starts_with('.') {
            let len = std::fs::metadata(f).unwrap().len();
            let mirror_len = std::fs::metadata(mirror_file(m, f)).unwrap().len();
            assert_eq!(len, mirror_len, "{} is partial", f.display());
        }
    }
    assert!(
        files.iter().any(|f| f.to_string_lossy().ends_with(".part")),
        "nothing kept to resume: {files:?}"
    );
    s.set_faults(&[]);
    let (code, _, err) = tessera(&args, &[]);
    assert_eq!(code, 0, "{err}");
    common::assert_complete(&out, m, "v1.1-cam", "v1.1", 2024);
}

/// The mirror object behind a downloaded NPY file.
fn mirror_file(m: &Path, local: &Path) -> PathBuf {
    let rel = local
        .to_string_lossy()
        .split("global_0.1_degree_representation/")
        .nth(1)
        .unwrap()
        .to_string();
    m.join("npy/v1.1-cam").join(rel)
}

#[test]
fn finished_zone_files_are_kept_on_a_rerun() {
    let m = zarr_mirror();
    let w = scratch("first-hour-zones");
    let out = w.join("out");
    let args = [
        "--mirror",
        m.to_str().unwrap(),
        "download",
        "--bbox",
        BBOX,
        "-o",
        out.to_str().unwrap(),
    ];
    let (code, _, err) = tessera(&args, &[]);
    assert_eq!(code, 0, "{err}");
    // The settings it starts with, as the reference prints them.
    assert!(
        err.contains(&format!("Download: {DATASET} 2024, bbox {BBOX} -> ")),
        "{err}"
    );
    let f = out.join("tessera_2024_utm34.tif");
    let before = std::fs::metadata(&f).unwrap().modified().unwrap();
    // A file of another export under the same name is not taken as finished.
    let other = out.join("tessera_2024_utm35.tif");
    std::fs::write(&other, b"not this export").unwrap();
    let (code, stdout, err) = tessera(&args, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("1 complete from an earlier run, kept"),
        "{stdout}"
    );
    assert_eq!(std::fs::metadata(&f).unwrap().modified().unwrap(), before);
    assert!(std::fs::metadata(&other).unwrap().len() > 1000);
}

#[test]
fn outputs_that_tools_can_read() {
    let m = zarr_mirror();
    let w = scratch("first-hour-outputs");
    let store = m.join("zarr/v1.1");
    let st = store.to_str().unwrap();
    // zarr read writes NPY only, and says so.
    let (code, _, err) = tessera(
        &[
            "zarr",
            "read",
            st,
            "--bbox",
            BBOX,
            "-o",
            w.join("r.csv").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("OUT.npy"), "{err}");
    assert!(!w.join("r.csv").exists());
    // A bbox across the zone seam: one array per zone, each with its georeference.
    let o = w.join("r.npy");
    let (code, out, err) = tessera(
        &[
            "zarr",
            "read",
            st,
            "--bbox",
            BBOX,
            "-o",
            o.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("crosses 2 UTM zones"), "{out}");
    for (zone, epsg) in [(34, 32634), (35, 32635)] {
        let npy = w.join(format!("r_utm{zone}.npy"));
        let side: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(npy.with_extension("json")).unwrap())
                .unwrap();
        assert_eq!(side["crs"], format!("EPSG:{epsg}"));
        assert_eq!(side["transform"].as_array().unwrap().len(), 6);
        let a = tessera_formats::npy::NpyFile::open(&npy).unwrap();
        assert_eq!(
            a.header().shape[0] as u64,
            side["window"]["height"].as_u64().unwrap()
        );
    }
    // One zone: OUT.npy with OUT.json beside it.
    let one = w.join("one.npy");
    let (code, _, err) = tessera(
        &[
            "zarr",
            "read",
            st,
            "--bbox",
            "24.02,69.03,24.05,69.05",
            "-o",
            one.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(one.with_extension("json").is_file());
    // The synthetic class rasters carry a colour table.
    let t = gdalinfo(&m.join("truth/2024/grid_24.05_69.05_classes.tiff"));
    let ct = &t["bands"][0]["colorTable"];
    assert_eq!(ct["count"], 256, "{t}");
    assert_eq!(
        t["bands"][0]["colorInterpretation"], "Palette",
        "{}",
        t["bands"][0]
    );
}

#[test]
fn mistakes_get_one_behaviour_exit_1_and_what_exists_instead() {
    let m = zarr_mirror();
    let ms = m.to_str().unwrap();
    let w = scratch("first-hour-mistakes");
    let dl = |args: &[&str], out: &str| {
        let o = w.join(out);
        let mut a = vec!["--mirror", ms, "download"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", o.to_str().unwrap()]);
        let (code, stdout, err) = tessera(&a, &[]);
        assert!(!o.exists(), "{args:?}: a failed run left {}", o.display());
        (code, stdout, err)
    };
    for source in ["tiles", "zarr"] {
        // A year without data: exit 1 and the years there are.
        let (code, _, err) = dl(&["--source", source, "--bbox", BBOX, "--year", "2019"], "a");
        assert_eq!(code, 1, "{source}: {err}");
        assert!(err.contains("2023, 2024"), "{source}: {err}");
        // Latitude first: exit 1 and the hint.
        let (code, _, err) = dl(
            &["--source", source, "--bbox", "69.01,23.91,69.09,24.09"],
            "b",
        );
        assert_eq!(code, 1, "{source}: {err}");
        assert!(err.contains("swapped"), "{source}: {err}");
    }
    // Far from any tile: the nearest covered one.
    let (code, _, err) = dl(&["--source", "tiles", "--bbox", "10.0,45.0,10.1,45.1"], "c");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nearest covered tile is grid_2"), "{err}");
    // An unreachable mirror: said at once, given up on quickly, the URL named once.
    let t0 = Instant::now();
    let (code, _, err) = tessera(
        &[
            "--mirror",
            "http://127.0.0.1:9",
            "--cache-dir",
            w.join("cache").to_str().unwrap(),
            "info",
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(err.contains("retrying"), "{err}");
    let last = err.lines().last().unwrap();
    assert_eq!(last.matches("http://127.0.0.1:9").count(), 1, "{last}");
    // An unknown version is called that, not a missing manifest.
    let (code, _, err) = tessera(&["--mirror", ms, "info", "--dataset-version", "v9"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown dataset version v9"), "{err}");
}

#[test]
fn the_demo_next_steps_work_as_printed() {
    let w = scratch("first-hour-demo");
    let (code, out, err) = tessera(&["demo", "--workdir", w.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    let next: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("Done. Next"))
        .filter_map(|l| l.trim().strip_prefix("tessera "))
        .filter(|l| !l.starts_with("mirror serve"))
        .collect();
    assert!(next.len() >= 4, "{out}");
    for line in next {
        let args: Vec<&str> = line.split_whitespace().collect();
        let (code, _, err) = tessera(&args, &[]);
        assert_eq!(code, 0, "tessera {line}: {err}");
    }
}

#[test]
fn help_and_text() {
    // Every command's help: global options apart, examples that parse.
    for cmd in [
        "download",
        "sample",
        "info",
        "tile",
        "demo",
        "zarr read",
        "zarr build",
    ] {
        let mut a: Vec<&str> = cmd.split(' ').collect();
        a.push("--help");
        let (code, out, _) = tessera(&a, &[]);
        assert_eq!(code, 0);
        assert!(out.contains("Global options:"), "{cmd}: {out}");
        let examples: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with("Examples:"))
            .filter_map(|l| l.trim().strip_prefix("tessera "))
            .collect();
        assert!(!examples.is_empty(), "{cmd}: no examples");
        for e in examples {
            let mut args: Vec<&str> = e.split_whitespace().collect();
            args.push("--help");
            let (code, _, err) = tessera(&args, &[]);
            assert_eq!(code, 0, "example 'tessera {e}' does not parse: {err}");
        }
    }
    let (code, out, _) = tessera(&["mirror", "serve", "--help"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("rate="), "{out}");
    let (code, out, _) = tessera(&["version"], &[]);
    assert_eq!(code, 0);
    assert!(out.starts_with("tessera 0."), "{out}");
    // -q: errors and the one summary line.
    let m = common::mirror();
    let w = scratch("first-hour-text");
    let o = w.join("q");
    let (code, out, err) = tessera(
        &[
            "--mirror",
            m.to_str().unwrap(),
            "-q",
            "download",
            "--tile",
            "23.95,69.05",
            "-f",
            "npy",
            "-o",
            o.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert!(out.contains(DATASET), "{out}");
    assert!(err.is_empty(), "{err}");
    // --tile does not echo itself.
    let (_, _, err) = tessera(
        &[
            "--mirror",
            m.to_str().unwrap(),
            "download",
            "--tile",
            "23.95,69.05",
            "--dry-run",
        ],
        &[],
    );
    assert!(!err.contains("-> tile"), "{err}");
    // The TIFF dry run's numbers are what the download fetches and writes.
    let (code, out, err) = tessera(
        &[
            "--mirror",
            m.to_str().unwrap(),
            "download",
            "--source",
            "tiles",
            "--tile",
            "23.95,69.05",
            "--compress",
            "none",
            "--dry-run",
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let dry = json(&out);
    let t = w.join("t");
    let (code, out, err) = tessera(
        &[
            "--mirror",
            m.to_str().unwrap(),
            "download",
            "--source",
            "tiles",
            "--tile",
            "23.95,69.05",
            "--compress",
            "none",
            "-o",
            t.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(dry["bytes"], v["bytes_fetched"], "{dry} {v}");
    let written = v["geotiffs"][0]["bytes"].as_u64().unwrap();
    let raw = dry["geotiff_bytes_uncompressed"].as_u64().unwrap();
    assert!(
        raw <= written && written < raw + raw / 100,
        "{raw} vs {written}"
    );
    // info --tiles counts the GeoTIFFs beside the NPY tiles.
    let (code, out, err) = tessera(&["info", "--tiles", t.to_str().unwrap(), "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    let i = json(&out);
    assert_eq!(i["npy"], 1, "{i}");
    assert_eq!(i["geotiff_files"], 1, "{i}");
    assert_eq!(i["geotiff_beside_npy"], 1, "{i}");
}

#[test]
fn retried_bytes_are_not_counted_in_the_summary() {
    let m = common::mirror();
    let s = Served::start(m, &["**/*.npy:flip,times=1"]);
    let w = scratch("first-hour-retried");
    let o = w.join("o");
    let (code, out, err) = tessera(
        &[
            "--mirror",
            &s.url,
            "--cache-dir",
            w.join("cache").to_str().unwrap(),
            "download",
            "--source",
            "tiles",
            "-f",
            "npy",
            "--tile",
            "23.95,69.05",
            "-o",
            o.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let mut files = Vec::new();
    walk(&o, &mut files);
    let on_disk: u64 = files
        .iter()
        .filter(|f| !f.to_string_lossy().ends_with(".json"))
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(v["bytes_fetched"].as_u64().unwrap(), on_disk, "{v}");
}

#[test]
fn an_interrupted_zone_export_continues_where_it_stopped() {
    let m = zarr_mirror();
    let w = scratch("first-hour-zone-resume");
    let args = |url: &str, out: &Path| -> Vec<String> {
        [
            "--mirror",
            url,
            "download",
            "--bbox",
            BBOX,
            "--year",
            "2024",
            "-o",
            out.to_str().unwrap(),
            "--json",
        ]
        .map(String::from)
        .to_vec()
    };
    // The same export, uninterrupted, for comparison.
    let s = Served::start(m, &[]);
    let whole = w.join("whole");
    let a = args(&s.url, &whole);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code, _, err) = tessera(&a, &[]);
    assert_eq!(code, 0, "{err}");
    // Slow shard reads, and Ctrl-C once the first zone file has a block journaled.
    s.set_faults(&["zarr/**/embeddings/**:rate=3m"]);
    let out = w.join("out");
    let a = args(&s.url, &out);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(&a)
        .env_remove("TESSERA_MIRROR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let journal = out.join(".tessera_2024_utm34.tif.partial.json");
    let t0 = Instant::now();
    while !journal.exists() && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(journal.exists(), "no block was journaled");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        !out.join("tessera_2024_utm34.tif").exists(),
        "a partial file under its final name"
    );
    s.set_faults(&[]);
    let a2 = args(&s.url, &out);
    let a2: Vec<&str> = a2.iter().map(String::as_str).collect();
    let (code, stdout, err) = tessera(&a2, &[]);
    assert_eq!(code, 0, "{err}");
    let v = json(&stdout);
    assert!(v["resumed"].as_u64().unwrap() >= 1, "{v}");
    for zone in [34, 35] {
        let name = format!("tessera_2024_utm{zone}.tif");
        assert!(
            std::fs::read(out.join(&name)).unwrap() == std::fs::read(whole.join(&name)).unwrap(),
            "{name}: the continued file differs from an uninterrupted export"
        );
    }
    assert!(!journal.exists());
}
