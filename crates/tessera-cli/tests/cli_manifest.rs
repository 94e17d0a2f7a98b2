//! `tessera manifest`: the reference's selection (London, v1, 2024 → 16 tiles) from a
//! manifest pyarrow writes, and one-line errors for a missing or corrupt file.

use std::process::Command;

use tessera_testkit::{run_python, scratch};

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
fn london_selection_and_errors() {
    let dir = scratch("cli-manifest");
    let path = dir.join("manifest.parquet");
    run_python(
        r#"
import sys, numpy as np, pandas as pd
rows = [dict(version="1.0", variant="vultr", year=y, lon=round(lon, 2), lat=round(lat, 2), grid_size=100, scales_size=7)
        for y in (2023, 2024) for lon in np.arange(-0.45, 0.5, 0.1) for lat in np.arange(51.05, 51.9, 0.1)]
pd.DataFrame(rows).to_parquet(sys.argv[1], index=False)
"#,
        &[&path.display().to_string()],
    );
    let p = path.display().to_string();
    let (code, out, err) = tessera(&[
        "manifest",
        &p,
        "--bbox=-0.1,51.3,0.1,51.5",
        "--year",
        "2024",
        "--count",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "16");
    let (_, out, _) = tessera(&[
        "manifest",
        &p,
        "--bbox",
        "0.17,51.43",
        "--year",
        "2024",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["count"], 1);
    assert_eq!(v["tiles"][0]["name"], "grid_0.15_51.45");
    assert_eq!(v["bytes"], 107);
    let (_, out, _) = tessera(&[
        "manifest",
        &p,
        "--dataset-version",
        "v1",
        "--dataset-variant",
        "vultr",
        "--count",
    ]);
    assert_eq!(out.trim(), "180");
    let (_, out, _) = tessera(&["manifest", &p, "--dataset-variant", "cambridge", "--count"]);
    assert_eq!(out.trim(), "0");
    let (code, _, err) = tessera(&["manifest", &dir.join("none.parquet").display().to_string()]);
    assert_eq!(code, 2, "{err}");
    std::fs::write(dir.join("bad.parquet"), b"PAR1 not really").unwrap();
    let (code, _, err) = tessera(&[
        "manifest",
        &dir.join("bad.parquet").display().to_string(),
        "--count",
    ]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, _, _) = tessera(&["manifest", &p, "--bbox", "1,2,3"]);
    assert_eq!(code, 2);
}
