//! `tessera demo`: the README's first command runs offline and reports what it did.

use std::process::Command;

use tessera_testkit::scratch;

#[test]
fn demo_runs_end_to_end() {
    let dir = scratch("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["demo", "--workdir", dir.to_str().unwrap(), "--json"])
        .env_remove("TESSERA_MIRROR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["download"]["geotiffs"].as_array().unwrap().len(), 2);
    for g in v["download"]["geotiffs"].as_array().unwrap() {
        assert!(std::path::Path::new(g["path"].as_str().unwrap()).is_file());
    }
    let s = &v["sample"];
    assert_eq!(s["sampled"], s["points"], "every labelled point is sampled");
    assert!(s["bytes"].as_u64().unwrap() * 50 < v["download"]["bytes"].as_u64().unwrap());
    let acc = s["accuracy"].as_f64().unwrap();
    assert!(acc > 0.7, "nearest-centroid accuracy {acc}");
    assert!(dir.join("samples.csv").is_file());
    // The PCA picture of the downloaded GeoTIFFs and its quicklook.
    let pca = &v["pca"];
    assert!(std::path::Path::new(pca["output"].as_str().unwrap()).is_file());
    let look = std::path::Path::new(pca["quicklook"].as_str().unwrap());
    assert_eq!(std::fs::read(look).unwrap()[..8], *b"\x89PNG\r\n\x1a\n");
    assert!(pca["width"].as_u64().unwrap() > 100);
    // ... and its web map, with the viewer page beside the tiles.
    let map = &v["webmap"];
    assert!(std::path::Path::new(map["viewer"].as_str().unwrap()).is_file());
    assert!(map["tiles"].as_u64().unwrap() > 4, "{map}");
    // A second run reuses the mirror.
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["demo", "--workdir", dir.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mirror"]["reused"], true);
}
