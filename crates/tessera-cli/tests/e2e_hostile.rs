//! A hostile world, met through the binary: links planted in the output and cache
//! directories, mirrors that lie about sizes, drip, redirect or send escape sequences, and
//! Zarr metadata and NPY headers written to do harm. Each case ends in one clear error (or
//! a safe success), nothing is written outside the directory it belongs to, and the peak
//! memory stays under the documented caps.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::hostile::{Hostile, Reply};
use common::{
    BBOX, Served, YEAR, assert_complete, link_tree, mirror, peak_anon_mib_env, tessera, walk,
};
use tessera_core::Bbox;
use tessera_core::dataset::keys;
use tessera_synth::{SynthOptions, synthesize};
use tessera_testkit::{scratch, scratch_shared};

const EAST: &str = "grid_24.05_69.05";
const WEST: &str = "grid_23.95_69.05";

fn tile_dir(out: &Path, t: &str) -> PathBuf {
    out.join(format!("global_0.1_degree_representation/{YEAR}/{t}"))
}

/// A copy of the shared mirror made of hard links; `replace` swaps one file for new bytes
/// without touching the original.
fn mirror_copy(name: &str) -> PathBuf {
    let dir = scratch(name);
    link_tree(mirror(), &dir);
    dir
}

fn replace(path: &Path, bytes: &[u8]) {
    std::fs::remove_file(path).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn npy_download(url: &str, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let cache = out.with_extension("cache");
    let mut args = vec![
        "download",
        "--mirror",
        url,
        "--bbox",
        BBOX,
        "--year",
        YEAR,
        "-o",
        out.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--source",
        "tiles",
        "-f",
        "npy",
    ];
    args.extend_from_slice(extra);
    tessera(&args, &[])
}

fn assert_clean_failure(code: i32, err: &str, what: &str) {
    assert!(
        code == 1 || code == 2,
        "{what}: exit {code} (a crash or a silent success): {err}"
    );
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(
        err.trim()
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1,
        "{what}: not one error line: {err}"
    );
}

#[test]
fn links_planted_in_the_output_are_never_written_through() {
    let m = mirror();
    let s = Served::start(m, &[]);
    let root = scratch("hostile-links");
    let out = root.join("out");
    let outside = root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let victim = |n: &str| outside.join(n);
    for n in ["part", "json", "final"] {
        std::fs::write(victim(n), format!("victim {n}")).unwrap();
    }
    // The western tile's part file, the validators of its scales and its final landmask
    // name point outside; the eastern tile's directory is a link to outside.
    let west = tile_dir(&out, WEST);
    std::fs::create_dir_all(&west).unwrap();
    std::os::unix::fs::symlink(victim("part"), west.join(format!(".{WEST}.npy.part"))).unwrap();
    std::os::unix::fs::symlink(
        victim("json"),
        west.join(format!(".{WEST}_scales.npy.part.json")),
    )
    .unwrap();
    let lm_dir = out.join("global_0.1_degree_tiff_all");
    std::fs::create_dir_all(&lm_dir).unwrap();
    std::os::unix::fs::symlink(victim("final"), lm_dir.join(format!("{WEST}.tiff"))).unwrap();
    let east_dir = outside.join("east");
    std::fs::create_dir_all(&east_dir).unwrap();
    std::os::unix::fs::symlink(&east_dir, tile_dir(&out, EAST)).unwrap();

    let (code, _, err) = npy_download(&s.url, &out, &[]);
    assert_eq!(code, 1, "a linked tile directory must fail: {err}");
    assert!(err.contains("symbolic link"), "{err}");
    for n in ["part", "json", "final"] {
        assert_eq!(
            std::fs::read_to_string(victim(n)).unwrap(),
            format!("victim {n}"),
            "the {n} victim outside the output was written through a link"
        );
    }
    assert_eq!(std::fs::read_dir(&east_dir).unwrap().count(), 0);
    // The planted names are now regular files of ours, not links.
    let lm = lm_dir.join(format!("{WEST}.tiff"));
    assert!(std::fs::symlink_metadata(&lm).unwrap().is_file());
    // Remove the linked directory: the rerun completes, every file equal to the mirror's.
    std::fs::remove_file(tile_dir(&out, EAST)).unwrap();
    let (code, _, err) = npy_download(&s.url, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert_complete(&out, m, "v1.1-cam", "v1.1", 2024);
    let mut files = Vec::new();
    walk(&out, &mut files);
    for f in files {
        assert!(
            !std::fs::symlink_metadata(&f)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{} is a link",
            f.display()
        );
    }
}

#[test]
fn hostile_band_counts_fail_their_own_tile_and_change_nothing_else() {
    let pts_dir = scratch("hostile-bands");
    let pts = pts_dir.join("p.csv");
    std::fs::write(&pts, "lon,lat\n23.95,69.05\n24.05,69.05\n").unwrap();
    for bands in ["64)", "129)", "256)"] {
        let m = mirror_copy(&format!("hostile-bands-{}", &bands[..bands.len() - 1]));
        let key = keys::embedding(
            "v1.1-cam",
            2024,
            tessera_core::TileId::containing(24.05, 69.05).unwrap(),
        );
        let p = m.join(&key);
        let mut b = std::fs::read(&p).unwrap();
        let head_len = 128.min(b.len());
        let head = String::from_utf8_lossy(&b[..head_len]).into_owned();
        let at = head.find("128)").expect("a 128-band header");
        // Same header length: "128)" becomes "64) " / "129)" / "256)".
        let mut with = bands.to_string();
        while with.len() < 4 {
            with.push(' ');
        }
        b[at..at + 4].copy_from_slice(with.as_bytes());
        replace(&p, &b);
        let s = Served::start(&m, &[]);
        let out = pts_dir.join(format!("out{}.csv", &bands[..bands.len() - 1]));
        let (code, _, err) = tessera(
            &[
                "sample",
                "--mirror",
                &s.url,
                "--points",
                pts.to_str().unwrap(),
                "--year",
                YEAR,
                "-o",
                out.to_str().unwrap(),
                "--cache-dir",
                pts_dir.join("cache").to_str().unwrap(),
            ],
            &[],
        );
        assert_clean_failure(code, &err, bands);
        assert!(
            err.contains(EAST),
            "{bands}: the error names the tile: {err}"
        );
        assert!(!out.exists(), "{bands}: no output with wrong values");
    }
}

/// A small synthetic mirror with a Zarr store (one tile-year), shared by the Zarr cases.
fn zarr_mirror() -> &'static (PathBuf, String) {
    static M: std::sync::OnceLock<(PathBuf, String)> = std::sync::OnceLock::new();
    M.get_or_init(|| {
        let dir = scratch_shared("hostile-zarr-mirror");
        let mut o = SynthOptions::new(&dir, Bbox::new(24.01, 69.01, 24.09, 69.09).unwrap());
        o.years = vec![2024];
        o.datasets = vec!["v1.1-cam".into()];
        o.missing_rate = 0.0;
        synthesize(&o, &|_, _, _| {}).unwrap();
        let (code, _, err) = tessera(
            &[
                "--mirror",
                dir.to_str().unwrap(),
                "-q",
                "zarr",
                "build",
                "--dataset-variant",
                "cambridge",
                "-o",
                dir.join("zarr/store").to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        (dir, "zarr/store".to_string())
    })
}

/// A copy of the store whose root `zarr.json` went through `edit`.
fn hostile_store(name: &str, edit: &dyn Fn(&mut serde_json::Value)) -> PathBuf {
    let (m, store) = zarr_mirror();
    let dir = scratch(name);
    link_tree(&m.join(store), &dir);
    let p = dir.join("zarr.json");
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    edit(&mut doc);
    replace(&p, &serde_json::to_vec(&doc).unwrap());
    dir
}

fn array_doc<'a>(doc: &'a mut serde_json::Value, path: &str) -> &'a mut serde_json::Value {
    &mut doc["consolidated_metadata"]["metadata"][path]
}

fn zarr_sample(store_url: &str, dir: &Path) -> (i32, u64, String) {
    let pts = dir.join("p.csv");
    std::fs::write(&pts, "lon,lat\n24.05,69.05\n").unwrap();
    let out = dir.join("out.csv");
    let (code, peak, err) = peak_anon_mib_env(
        &[
            "--deadline",
            "60",
            "sample",
            "--source",
            "zarr",
            "--store",
            store_url,
            "--points",
            pts.to_str().unwrap(),
            "--year",
            YEAR,
            "-o",
            out.to_str().unwrap(),
            "--cache-dir",
            dir.join("cache").to_str().unwrap(),
        ],
        &[],
    );
    (code, peak, err)
}

#[test]
fn hostile_zarr_metadata_is_refused_in_one_line_within_bounded_memory() {
    let probe = hostile_store("hostile-zarr-probe", &|_| {});
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(probe.join("zarr.json")).unwrap()).unwrap();
    let zone = doc["consolidated_metadata"]["metadata"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.ends_with("/embeddings"))
        .unwrap()
        .trim_end_matches("/embeddings")
        .to_string();
    let emb = format!("{zone}/embeddings");
    let time = format!("{zone}/time");
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "separator",
            Box::new({
                let emb = emb.clone();
                move |d| {
                    array_doc(d, &emb)["chunk_key_encoding"]["configuration"]["separator"] =
                        "/../../../../../../escape/".into();
                }
            }),
            "separator",
        ),
        (
            "huge-shape",
            Box::new({
                let emb = emb.clone();
                move |d| array_doc(d, &emb)["shape"][2] = serde_json::json!(1u64 << 50)
            }),
            "larger than any TESSERA store",
        ),
        (
            "index-of-2^31-entries",
            Box::new({
                let emb = emb.clone();
                move |d| {
                    array_doc(d, &emb)["codecs"][0]["configuration"]["chunk_shape"] =
                        serde_json::json!([1, 1, 1, 1])
                }
            }),
            "inner chunks per shard",
        ),
        (
            "2-GiB-chunks",
            Box::new({
                let emb = emb.clone();
                move |d| {
                    array_doc(d, &emb)["codecs"][0]["configuration"]["chunk_shape"] =
                        serde_json::json!([1, 128, 4096, 4096])
                }
            }),
            "larger than 67108864 bytes",
        ),
        (
            "10^8-years",
            Box::new({
                let time = time.clone();
                move |d| {
                    array_doc(d, &time)["shape"] = serde_json::json!([100_000_000u64]);
                    array_doc(d, &time)["chunk_grid"]["configuration"]["chunk_shape"] =
                        serde_json::json!([1]);
                }
            }),
            "time axis",
        ),
        (
            "control-characters",
            Box::new({
                let emb = emb.clone();
                move |d| array_doc(d, &emb)["data_type"] = "\u{1b}]0;pwned\u{7}\u{1b}[2J".into()
            }),
            "not supported",
        ),
    ];
    for (name, edit, want) in cases {
        let root = scratch(&format!("hostile-zarr-{name}"));
        let store = hostile_store(&format!("hostile-zarr-{name}-store"), &*edit);
        let h = Hostile::start(store.clone());
        // Deep, so that a path climbing out of the cache stays inside this test's folder.
        let work = root.join("a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t");
        std::fs::create_dir_all(&work).unwrap();
        let t0 = Instant::now();
        let (code, peak, err) = zarr_sample(&h.url, &work);
        eprintln!(
            "hostile store '{name}': exit {code}, {} requests, {:.1} s, peak heap {peak} MiB: {}",
            h.total(),
            t0.elapsed().as_secs_f64(),
            err.trim()
        );
        assert_clean_failure(code, &err, name);
        assert!(err.contains(want), "{name}: {err}");
        assert!(
            !err.contains('\u{1b}'),
            "{name}: an escape sequence reached the terminal"
        );
        assert!(h.total() < 20, "{name}: {} requests", h.total());
        assert!(peak < 160, "{name}: peak heap {peak} MiB");
        let mut files = Vec::new();
        walk(&root, &mut files);
        assert!(
            files
                .iter()
                .all(|f| !f.to_string_lossy().contains("escape")),
            "{name}: a file was written outside the cache: {files:?}"
        );
    }
}

#[test]
fn hostile_shard_indexes_and_oversized_chunks_are_refused() {
    let (m, store) = zarr_mirror();
    let src = m.join(store);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.join("zarr.json")).unwrap()).unwrap();
    let emb = doc["consolidated_metadata"]["metadata"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.ends_with("/embeddings"))
        .unwrap()
        .clone();
    // Every shard of the store answers with an index whose first chunk wraps around 2^64,
    // without a length (so no shard size bounds it).
    let n = 128 * 128;
    let mut index = Vec::with_capacity(16 * n + 4);
    for i in 0..n {
        let (o, l) = if i == 0 {
            (u64::MAX - 10, 100)
        } else {
            (u64::MAX, u64::MAX)
        };
        index.extend_from_slice(&o.to_le_bytes());
        index.extend_from_slice(&l.to_le_bytes());
    }
    let crc = crc32c::crc32c(&index);
    index.extend_from_slice(&crc.to_le_bytes());
    let h = Hostile::start(src.clone());
    let mut shards = Vec::new();
    walk(&src.join(&emb), &mut shards);
    assert!(!shards.is_empty());
    for s in &shards {
        let key = s.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        h.set(&key, Reply::Unsized(index.clone()));
    }
    let work = scratch("hostile-shard-index");
    let (code, peak, err) = zarr_sample(&h.url, &work);
    eprintln!("wrapped shard index: exit {code}, peak heap {peak} MiB");
    assert_clean_failure(code, &err, "wrapped index");
    assert!(err.contains("plausible chunk"), "{err}");
    assert!(peak < 160, "peak heap {peak} MiB");
}

#[test]
fn absurd_and_endless_bodies_stop_at_the_registry_size() {
    let m = mirror();
    let h = Hostile::start(m.to_path_buf());
    let t = tessera_core::TileId::containing(23.95, 69.05).unwrap();
    let key = keys::embedding("v1.1-cam", 2024, t);
    let size = std::fs::metadata(m.join(&key)).unwrap().len();
    let root = scratch("hostile-sizes");
    for (name, reply) in [
        (
            "announced-10^15",
            Reply::Endless {
                length: Some(1_000_000_000_000_000),
                limit: 4 << 30,
            },
        ),
        (
            "endless",
            Reply::Endless {
                length: None,
                limit: 4 << 30,
            },
        ),
    ] {
        h.set(&key, reply);
        let out = root.join(name);
        let cache = root.join(format!("{name}.cache"));
        let t0 = Instant::now();
        let (code, peak, err) = peak_anon_mib_env(
            &[
                "--mirror",
                &h.url,
                "--cache-dir",
                cache.to_str().unwrap(),
                "download",
                "--tile",
                "23.95,69.05",
                "--year",
                YEAR,
                "--source",
                "tiles",
                "-f",
                "npy",
                "-o",
                out.to_str().unwrap(),
            ],
            &[],
        );
        eprintln!(
            "tile body '{name}': exit {code} in {:.1} s, peak heap {peak} MiB",
            t0.elapsed().as_secs_f64()
        );
        assert_eq!(code, 1, "{name}: {err}");
        assert!(
            err.contains("refusing") || err.contains("allow"),
            "{name}: {err}"
        );
        assert!(peak < 200, "{name}: peak heap {peak} MiB");
        let mut files = Vec::new();
        walk(&out, &mut files);
        let biggest = files
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .max()
            .unwrap_or(0);
        assert!(
            biggest <= size + size / 4 + (1 << 20),
            "{name}: {biggest} bytes on disk for a {size}-byte tile"
        );
        assert!(!tile_dir(&out, WEST).join(format!("{WEST}.npy")).exists());
    }
    // A manifest that never ends is cut at the documented cap (512 MiB), in bounded memory.
    let mkey = keys::manifest("v1.1-cam");
    for (name, length) in [("announced", Some(1u64 << 40)), ("endless", None)] {
        h.set(
            &mkey,
            Reply::Endless {
                length,
                limit: 2 << 30,
            },
        );
        let cache = root.join(format!("manifest-{name}.cache"));
        let (code, peak, err) = peak_anon_mib_env(
            &[
                "--mirror",
                &h.url,
                "--cache-dir",
                cache.to_str().unwrap(),
                "info",
                "--dataset-variant",
                "cambridge",
            ],
            &[],
        );
        eprintln!("manifest '{name}': exit {code}, peak heap {peak} MiB (cap 512 MiB)");
        assert_clean_failure(code, &err, name);
        assert!(err.contains("536870912"), "{name}: {err}");
        assert!(peak < 512 + 160, "{name}: peak heap {peak} MiB");
    }
}

#[test]
fn redirects_to_other_servers_are_not_followed_unless_asked() {
    let m = mirror();
    let other = Hostile::start(m.to_path_buf());
    let h = Hostile::start(m.to_path_buf());
    let mkey = keys::manifest("v1.1-cam");
    h.set(&mkey, Reply::Redirect(format!("{}/{mkey}", other.url)));
    let root = scratch("hostile-redirect");
    let run = |extra: &[&str], cache: &str| {
        let c = root.join(cache);
        let mut args = vec![
            "--mirror",
            h.url.as_str(),
            "--cache-dir",
            c.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["info", "--dataset-variant", "cambridge", "--json"]);
        tessera(&args, &[])
    };
    let (code, _, err) = run(&[], "c1");
    assert_clean_failure(code, &err, "redirect");
    assert!(err.contains("redirected to another server"), "{err}");
    assert_eq!(other.total(), 0, "the other server was contacted");
    let (code, _, err) = run(&["--follow-redirects"], "c2");
    assert_eq!(code, 0, "{err}");
    assert!(other.hits(&mkey) >= 1);
}

#[test]
fn a_dripping_mirror_is_abandoned_and_resumed_or_given_up_on() {
    let m = mirror();
    let root = scratch("hostile-drip");
    let t = tessera_core::TileId::containing(23.95, 69.05).unwrap();
    let key = keys::scales("v1.1-cam", 2024, t);
    let args = |url: &str, out: &Path, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--mirror".into(),
            url.into(),
            "--cache-dir".into(),
            root.join("cache").display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a.extend(
            [
                "download",
                "--tile",
                "23.95,69.05",
                "--year",
                YEAR,
                "--source",
                "tiles",
                "-f",
                "npy",
                "-o",
            ]
            .map(String::from),
        );
        a.push(out.display().to_string());
        a
    };
    // One dripping answer: abandoned after the stall window, then fetched again.
    let h = Hostile::start(m.to_path_buf());
    h.set(
        &key,
        Reply::Drip {
            every: Duration::from_millis(100),
            times: 1,
        },
    );
    let out = root.join("resumed");
    let a = args(&h.url, &out, &["--stall-timeout", "1"]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let t0 = Instant::now();
    let (code, _, err) = tessera(&a, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(h.hits(&key) >= 2, "the stalled transfer was not retried");
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert_eq!(
        std::fs::read(tile_dir(&out, WEST).join(format!("{WEST}_scales.npy"))).unwrap(),
        std::fs::read(m.join(&key)).unwrap()
    );
    // Dripping for ever: the deadline ends the run with one line, nothing under a final name.
    let h = Hostile::start(m.to_path_buf());
    h.set(
        &key,
        Reply::Drip {
            every: Duration::from_millis(200),
            times: u64::MAX,
        },
    );
    let out = root.join("deadline");
    let a = args(&h.url, &out, &["--stall-timeout", "0", "--deadline", "3"]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let t0 = Instant::now();
    let (code, _, err) = tessera(&a, &[]);
    let took = t0.elapsed();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("deadline"), "{err}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        !tile_dir(&out, WEST)
            .join(format!("{WEST}_scales.npy"))
            .exists()
    );
}

#[test]
fn offline_sampling_makes_no_request() {
    let m = mirror();
    let s = Served::start(m, &[]);
    let root = scratch("hostile-offline");
    let tiles = root.join("tiles");
    let cache = root.join("cache");
    let (code, _, err) = tessera(
        &[
            "--mirror",
            &s.url,
            "--cache-dir",
            cache.to_str().unwrap(),
            "download",
            "--bbox",
            BBOX,
            "--year",
            YEAR,
            "--source",
            "tiles",
            "-f",
            "npy",
            "-o",
            tiles.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let pts = root.join("p.csv");
    std::fs::write(&pts, "lon,lat\n23.95,69.05\n24.05,69.05\n").unwrap();
    // A mirror that counts requests (and would answer them).
    let h = Hostile::start(m.to_path_buf());
    let sample = |cache: &Path, out: &str| {
        tessera(
            &[
                "--mirror",
                &h.url,
                "--cache-dir",
                cache.to_str().unwrap(),
                "sample",
                "--points",
                pts.to_str().unwrap(),
                "--year",
                YEAR,
                "--tiles",
                tiles.to_str().unwrap(),
                "--offline",
                "-o",
                root.join(out).to_str().unwrap(),
            ],
            &[],
        )
    };
    // The manifest was cached under the first mirror's name; copy it to the counting one's.
    let slug = |u: &str| u.trim_start_matches("http://").replace(':', "_");
    link_tree(&cache.join(slug(&s.url)), &cache.join(slug(&h.url)));
    let (code, _, err) = sample(&cache, "o.npy");
    assert_eq!(code, 0, "{err}");
    assert_eq!(h.total(), 0, "--offline made {} requests", h.total());
    // Without a cached manifest: one error that says what to do, still no request.
    let (code, _, err) = sample(&root.join("empty-cache"), "o2.npy");
    assert_clean_failure(code, &err, "offline without cache");
    assert!(err.contains("without --offline"), "{err}");
    assert_eq!(h.total(), 0);
}

#[test]
fn tile_listing_survives_link_loops() {
    let root = scratch("hostile-loops");
    let d = root.join("tiles/a/b");
    std::fs::create_dir_all(&d).unwrap();
    std::os::unix::fs::symlink("../..", d.join("loop")).unwrap();
    std::os::unix::fs::symlink(root.join("tiles"), d.join("back")).unwrap();
    let t0 = Instant::now();
    let (code, out, err) = tessera(
        &[
            "info",
            "--tiles",
            root.join("tiles").to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert!(code == 0 || code == 1, "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("overflow"),
        "{err}{out}"
    );
}

#[test]
fn stale_export_temporaries_are_reaped_and_live_ones_kept() {
    let m = mirror();
    let s = Served::start(m, &[]);
    let out = scratch("hostile-reap");
    let dir = tile_dir(&out, WEST);
    std::fs::create_dir_all(&dir).unwrap();
    // Left by a run killed with -9 (nobody holds it).
    let stale = dir.join(format!(".{WEST}_2024.tiff_tmp_abc123.tiff"));
    std::fs::write(&stale, vec![0u8; 4096]).unwrap();
    let cache = out.with_extension("cache");
    let (code, _, err) = tessera(
        &[
            "--mirror",
            &s.url,
            "--cache-dir",
            cache.to_str().unwrap(),
            "download",
            "--bbox",
            BBOX,
            "--year",
            YEAR,
            "--source",
            "tiles",
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        !stale.exists(),
        "the stale temporary export was left behind"
    );
    assert!(dir.join(format!("{WEST}_2024.tiff")).is_file());
}

#[test]
fn sampled_columns_are_unique_whatever_the_input_calls_its_columns() {
    let m = mirror();
    let root = scratch("hostile-columns");
    let pts = root.join("p.csv");
    std::fs::write(
        &pts,
        "lon,lat,emb_0,status,tile,label\n23.95,69.05,x,y,z,forest\n24.05,69.05,x,y,z,water\n",
    )
    .unwrap();
    for ext in ["csv", "parquet"] {
        let out = root.join(format!("o.{ext}"));
        let (code, _, err) = tessera(
            &[
                "--mirror",
                m.to_str().unwrap(),
                "sample",
                "--points",
                pts.to_str().unwrap(),
                "--year",
                YEAR,
                "--metadata",
                "-o",
                out.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        // pandas reads it; every column name once; the added columns win.
        let py = format!(
            "import pandas as pd\n\
             p = {out:?}\n\
             df = pd.read_csv(p) if p.endswith('.csv') else pd.read_parquet(p)\n\
             cols = list(df.columns)\n\
             assert len(cols) == len(set(cols)), cols\n\
             assert cols.count('emb_0') == 1 and 'label' in cols, cols\n\
             assert df['emb_0'].dtype.kind == 'f', df['emb_0'].dtype\n\
             assert set(df['status']) == {{'ok'}}, set(df['status'])\n\
             assert list(df['tile']) == ['grid_23.95_69.05', 'grid_24.05_69.05'], list(df['tile'])\n\
             print('ok', flush=True)\n\
             import os; os._exit(0)  # pyarrow's threads can abort at interpreter exit\n",
            out = out.display().to_string()
        );
        let r = tessera_testkit::run_python(&py, &[]);
        assert!(r.contains("ok"), "{ext}: {r}");
    }
}

#[test]
fn broken_manifest_rows_and_truncated_prj_files_are_refused() {
    use tessera_formats::manifest::{ManifestRecord, write_manifest};
    let root = scratch("hostile-rows");
    let t = tessera_core::TileId::containing(0.15, 52.05).unwrap();
    let u = tessera_core::TileId::containing(0.25, 52.05).unwrap();
    let rec = |tile, grid_size, scales_size| ManifestRecord {
        version: "1.1".into(),
        variant: "cambridge".into(),
        year: 2024,
        tile,
        directory: String::new(),
        grid_path: String::new(),
        scales_path: String::new(),
        grid_mtime_ns: 0,
        scales_mtime_ns: 0,
        grid_size,
        scales_size,
    };
    let p = root.join("manifest.parquet");
    write_manifest(&p, &[rec(t, -5, 100), rec(u, 1000, 100)]).unwrap();
    let (code, out, err) = tessera(&["manifest", p.to_str().unwrap(), "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let text = v.to_string();
    assert!(
        !text.contains("grid_0.15_52.05"),
        "a negative size was accepted: {v}"
    );
    assert!(text.contains("grid_0.25_52.05"), "{v}");
    assert_eq!(v["invalid"], 1, "{v}");
    // A Shapefile whose .prj was cut short: its CRS is not guessed.
    let shp = root.join("r.shp");
    {
        let mut w = shapefile::Writer::from_path(&shp, shapefile::dbase::TableWriterBuilder::new())
            .unwrap();
        let ring = vec![
            shapefile::Point::new(380_965.4, 7_659_483.3),
            shapefile::Point::new(381_290.3, 7_666_166.9),
            shapefile::Point::new(383_678.9, 7_666_051.9),
            shapefile::Point::new(380_965.4, 7_659_483.3),
        ];
        let poly = shapefile::Polygon::new(shapefile::PolygonRing::Outer(ring));
        w.write_shape_and_record(&poly, &shapefile::dbase::Record::default())
            .unwrap();
    }
    std::fs::write(
        root.join("r.prj"),
        r#"PROJCS["WGS_1984_UTM_Zone_35N",GEOGCS["GCS_WGS_1984",DATUM["D_WGS"#,
    )
    .unwrap();
    let (code, _, err) = tessera(
        &[
            "--mirror",
            mirror().to_str().unwrap(),
            "download",
            "--region-file",
            shp.to_str().unwrap(),
            "--year",
            YEAR,
            "--dry-run",
            "-o",
            root.join("unused").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(".prj"), "{err}");
}
