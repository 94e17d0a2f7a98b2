//! `tessera countries` and `--country` as a user meets them: the listing, the line saying
//! what a name resolved to, and the suggestions after a misspelling.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use tessera_core::Bbox;
use tessera_synth::{SynthOptions, synthesize};
use tessera_testkit::{scratch, scratch_shared};

fn tessera(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .env_remove("TESSERA_MIRROR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A synthetic mirror holding the two tiles of Monaco's bounding box (2024, v1.1-cam).
fn monaco_mirror() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_shared("countries-mirror");
        let mut o = SynthOptions::new(&dir, Bbox::new(7.31, 43.71, 7.49, 43.79).unwrap());
        o.years = vec![2024];
        o.missing_rate = 0.0;
        synthesize(&o, &|_, _, _| {}).unwrap();
        dir
    })
}

/// `download --country NAME --dry-run --json` against the mirror, with extra options.
fn dry_run(country: &str, extra: &[&str]) -> (i32, String, String) {
    let m = monaco_mirror().display().to_string();
    let cache = scratch("countries-cache").display().to_string();
    let mut args = vec![
        "--mirror",
        &m,
        "--cache-dir",
        &cache,
        "download",
        "--source",
        "tiles",
        "--dataset-variant",
        "cambridge",
        "--year",
        "2024",
        "--country",
        country,
        "--dry-run",
        "--json",
    ];
    args.extend_from_slice(extra);
    tessera(&args)
}

#[test]
fn lists_countries_with_codes_and_bboxes() {
    let (code, out, err) = tessera(&["countries"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME "), "{}", lines[0]);
    assert!(
        lines
            .last()
            .unwrap()
            .ends_with("countries (Natural Earth 1:50m)")
    );
    let norway = lines
        .iter()
        .find(|l| l.starts_with("Norway "))
        .expect("Norway");
    assert!(norway.contains(" NO  NOR "), "{norway}");
    for small in [
        "Monaco ",
        "Liechtenstein ",
        "Andorra ",
        "San Marino ",
        "Vatican ",
    ] {
        assert!(lines.iter().any(|l| l.starts_with(small)), "{small}");
    }
    // Sorted by name.
    let names: Vec<String> = lines[1..lines.len() - 1]
        .iter()
        .map(|l| l.split("  ").next().unwrap().to_lowercase())
        .collect();
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(pos("albania") < pos("monaco") && pos("monaco") < pos("norway"));
    assert!(lines.len() > 230, "{}", lines.len());
}

#[test]
fn filter_and_json() {
    let (code, out, err) = tessera(&["countries", "mon", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let rows = v.as_array().unwrap();
    let monaco = rows.iter().find(|r| r["name"] == "Monaco").expect("Monaco");
    assert_eq!(monaco["iso_a2"], "MC");
    assert_eq!(monaco["iso_a3"], "MCO");
    assert_eq!(monaco["iso_n3"], "492");
    let b: Vec<f64> = monaco["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(
        b[0] > 7.3 && b[2] < 7.5 && b[1] > 43.7 && b[3] < 43.8,
        "{b:?}"
    );
    assert!(rows.iter().any(|r| r["name"] == "Mongolia"));
    assert!(rows.iter().all(|r| {
        r["name"].as_str().unwrap().to_lowercase().contains("mon") || r["iso_a2"] == "MON"
    }));
    // An ISO code selects its country (as well as the names containing it).
    let (_, out, _) = tessera(&["countries", "LI"]);
    assert!(
        out.lines().any(|l| l.starts_with("Liechtenstein ")),
        "{out}"
    );
    let (_, out, _) = tessera(&["countries", "deu"]);
    assert!(out.lines().nth(1).unwrap().starts_with("Germany "), "{out}");
    assert!(out.ends_with("1 country (Natural Earth 1:50m)\n"), "{out}");
    let (code, out, _) = tessera(&["countries", "zzzz"]);
    assert_eq!(code, 0);
    assert!(out.contains("No country matches 'zzzz'"), "{out}");
}

#[test]
fn download_says_what_the_country_resolved_to() {
    let (code, out, err) = dry_run("Monaco", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("country 'Monaco' -> Monaco (MC, MCO), bbox 7.37"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["country"], "Monaco");
    assert_eq!(
        v["tile_names"],
        serde_json::json!(["grid_7.35_43.75", "grid_7.45_43.75"])
    );
    // By ISO code, and quietly.
    let (code, _, err) = dry_run("mc", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("country 'mc' -> Monaco (MC, MCO)") && err.contains("(ISO code)"),
        "{err}"
    );
    let (code, _, err) = dry_run("Monaco", &["-q"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("country 'Monaco'"), "{err}");
    // A close spelling is taken, and said so.
    let (code, out, err) = dry_run("Monacco", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("country 'Monacco' -> Monaco (MC, MCO)"),
        "{err}"
    );
    assert!(err.contains("closest spelling: 'monaco'"), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["tiles"], 2);
}

#[test]
fn a_misspelt_country_is_a_usage_error_with_suggestions() {
    let (code, out, err) = dry_run("Jermny", &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("country 'Jermny' not found; did you mean: "),
        "{err}"
    );
    assert!(err.contains("Germany"), "{err}");
    assert!(
        err.contains("Run 'tessera countries' to list them"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, _, err) = dry_run("Atlantis", &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("not found") && err.contains("tessera countries"),
        "{err}"
    );
}
