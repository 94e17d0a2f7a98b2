//! The `tessera` binary: `tile`, `--version`, `--help`, and one-line errors with exit 2.

use std::process::Command;

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
fn tile_json_matches_spec_vectors() {
    for (point, name, epsg, origin, (h, w)) in [
        (
            "0.12,52.01",
            "grid_0.15_52.05",
            32631,
            Some((300933.936, 5776128.478)),
            (1139, 729),
        ),
        (
            "-0.19,51.2",
            "grid_-0.15_51.25",
            32630,
            Some((695188.258, 5687181.143)),
            (1139, 741),
        ),
        (
            "0.0,0.0",
            "grid_0.05_0.05",
            32631,
            Some((166021.443, 11068.276)),
            (1107, 1114),
        ),
        (
            "-180,-0.1",
            "grid_-179.95_-0.05",
            32701,
            Some((166021.443, 10000000.0)),
            (1107, 1114),
        ),
        ("36.81,-1.21", "grid_36.85_-1.25", 32737, None, (1107, 1114)),
        ("10.0,78.0", "grid_10.05_78.05", 32632, None, (1120, 251)),
    ] {
        let (code, out, err) = tessera(&["tile", point, "--json"]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["name", "bounds", "epsg", "transform", "width", "height"]
        );
        assert_eq!(v["name"], name);
        assert_eq!(v["epsg"], epsg);
        assert_eq!(
            (v["height"].as_u64().unwrap(), v["width"].as_u64().unwrap()),
            (h, w)
        );
        let t: Vec<f64> = v["transform"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!((t[0], t[1], t[3], t[4]), (10.0, 0.0, 0.0, -10.0));
        if let Some((x, y)) = origin {
            assert!(
                (t[2] - x).abs() < 5e-4 && (t[5] - y).abs() < 5e-4,
                "{point}: {t:?}"
            );
        }
        let b: Vec<f64> = v["bounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert!(b[0] < b[2] && b[1] < b[3] && ((b[2] - b[0]) - 0.1).abs() < 1e-9);
    }
}

#[test]
fn tile_text_and_errors() {
    let (code, out, _) = tessera(&["tile", "0.17,52.23"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("grid_0.15_52.25") && out.contains("EPSG:32631"),
        "{out}"
    );
    assert!(!out.contains("no tile is published"), "{out}");
    // lon 180 / lat 90 name the cell beyond the grid (as the reference does), with a note.
    let (code, out, _) = tessera(&["tile", "180,90"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("grid_180.05_90.05") && out.contains("no tile is published"),
        "{out}"
    );
    for bad in ["200,0", "0,91", "abc", "1,2,3", "nan,0", ""] {
        let (code, out, err) = tessera(&["tile", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(out.is_empty());
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
    let (code, _, err) = tessera(&["tile"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn version_and_help() {
    let (code, out, _) = tessera(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("tessera {}", env!("CARGO_PKG_VERSION")));
    let (code, out, _) = tessera(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("tile"));
    let (code, out, _) = tessera(&["tile", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--json"));
    let (code, _, _) = tessera(&["no-such-command"]);
    assert_eq!(code, 2);
}
