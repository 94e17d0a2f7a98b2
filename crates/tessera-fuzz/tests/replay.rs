//! Replays every committed fuzz input, the seed corpus (`fuzz/corpus/<target>/`) and each
//! crash the fuzzer found (`fuzz/regressions/<target>/`), through the target's function on
//! the stable toolchain: every one must return without a panic.

use std::path::{Path, PathBuf};

use tessera_fuzz::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("listing a fuzz input folder").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let mut n = 0;
    for (name, run) in TARGETS {
        for file in inputs(&fuzz_dir().join(kind).join(name)) {
            let data = std::fs::read(&file).expect("reading a fuzz input");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{name}: {} panics", file.display());
            n += 1;
        }
    }
    n
}

#[test]
fn corpus_inputs_do_not_panic() {
    assert!(replay("corpus") > 0, "the seed corpus is missing");
}

#[test]
fn crash_inputs_stay_fixed() {
    replay("regressions");
}

#[test]
fn every_target_has_a_corpus_and_a_fuzz_binary() {
    for (name, _) in TARGETS {
        assert!(
            !inputs(&fuzz_dir().join("corpus").join(name)).is_empty(),
            "fuzz/corpus/{name}/ is empty"
        );
        let bin = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(bin.is_file(), "{} is missing", bin.display());
    }
}

#[test]
fn a_footer_of_huge_boolean_lists_is_refused_and_real_footers_are_not() {
    use bytes::Bytes;
    use tessera_formats::manifest::{ManifestQuery, read_landmasks, read_manifest_bytes};
    let read = |p: &str| Bytes::from(std::fs::read(fuzz_dir().join(p)).expect("a fuzz input"));
    let q = ManifestQuery::default();
    let err = read_manifest_bytes(read("regressions/manifest/footer_bool_lists_hang"), "x", &q)
        .expect_err("a corrupt footer");
    assert!(err.to_string().contains("footer"), "{err}");
    let sel = read_manifest_bytes(read("corpus/manifest/manifest"), "x", &q).expect("a manifest");
    assert_eq!(sel.entries.len(), 3);
    assert_eq!(
        read_landmasks(read("corpus/manifest/landmasks"), "x")
            .expect("landmasks")
            .len(),
        3
    );
}
