//! `tessera train` and `tessera evaluate` end to end on the synthetic world: labels
//! sampled from the mirror, a random forest whose spatial cross-validation clears the
//! floor of the spec, a model file that Python's `safetensors` opens, out-of-fold
//! predictions that pyarrow reads, and bad input refused with one line.

mod common;

use std::path::{Path, PathBuf};

use common::{mirror, tessera};
use tessera_testkit::{run_python, scratch};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The synthetic world's labelled points sampled into a training table.
fn training_table(dir: &Path) -> PathBuf {
    let m = mirror();
    let out = dir.join("train.parquet");
    let labels = m.join("truth/2024/labels.geojson");
    let (code, _, err) = tessera(
        &[
            "sample",
            "--mirror",
            s(m),
            "--points",
            s(&labels),
            "--year",
            "2024",
            "-o",
            s(&out),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
fn a_forest_trained_on_the_synthetic_labels_clears_the_spatial_floor() {
    let dir = scratch("learn-train");
    let table = training_table(&dir);
    let model = dir.join("model.safetensors");
    let report = dir.join("report.json");
    let preds = dir.join("cv.parquet");
    let (code, out, err) = tessera(
        &[
            "train",
            s(&table),
            "--head",
            "rf",
            "-o",
            s(&model),
            "--report",
            s(&report),
            "--predictions",
            s(&preds),
            "--year",
            "2024",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    print!("{out}");
    assert!(out.contains("spatial blocks of 1000 m"), "{out}");
    assert!(out.contains("random") && out.contains("optimism"), "{out}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let acc = |split: &str| {
        r[split]["outcome"]["summary"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m[0] == "accuracy")
            .unwrap()[1]
            .as_f64()
            .unwrap()
    };
    let (spatial, random) = (acc("spatial"), acc("random"));
    println!("random forest: spatial-CV accuracy {spatial:.3}, random folds {random:.3}");
    // The spec's floor for the synthetic world (learn.md section 6).
    assert!(spatial >= 0.85, "spatial-CV accuracy {spatial}");
    let rows = r["rows"].as_u64().unwrap();

    // The model opens with safetensors' NumPy loader, its metadata parses, and the
    // forest's arrays are consistent; the predictions are one row per labelled row.
    let py = run_python(
        r#"
import json, sys
import numpy as np
import pyarrow.parquet as pq
from safetensors import safe_open
from safetensors.numpy import load_file
t = load_file(sys.argv[1])
meta = json.loads(safe_open(sys.argv[1], "np").metadata()["tessera"])
n = t["feature"].shape[0]
assert t["threshold"].shape == (n,) and t["left"].shape == (n,)
assert t["value"].shape == (n, len(meta["classes"]))
assert t["tree_offsets"].shape == (100,)
leaf = t["feature"] == -1
idx = np.arange(n)
assert leaf.any() and (t["left"][~leaf] > idx[~leaf]).all() and (t["right"][~leaf] > idx[~leaf]).all()
p = pq.read_table(sys.argv[2])
print(json.dumps({"head": meta["head"], "classes": [c["name"] for c in meta["classes"]],
                  "dims": meta["features"]["dims"], "version": meta["features"]["dataset_version"],
                  "sha": meta["provenance"]["table_sha256"], "rows": p.num_rows,
                  "cols": p.column_names}))
"#,
        &[s(&model), s(&preds)],
    );
    let v: serde_json::Value = serde_json::from_str(py.trim()).unwrap();
    assert_eq!(v["head"], "rf");
    assert_eq!(v["dims"], 128);
    assert_eq!(v["version"], "v1.1");
    assert_eq!(v["sha"].as_str().unwrap().len(), 64);
    assert!(v["classes"].as_array().unwrap().len() >= 5, "{v}");
    assert_eq!(v["rows"].as_u64().unwrap(), rows);
    let cols: Vec<&str> = v["cols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in ["row", "fold", "truth", "prediction"] {
        assert!(cols.contains(&c), "{cols:?}");
    }
    assert!(cols.iter().any(|c| c.starts_with("p_")), "{cols:?}");
}

#[test]
fn evaluate_compares_heads_under_the_same_folds_with_a_learning_curve() {
    let dir = scratch("learn-evaluate");
    let table = training_table(&dir);
    let (code, out, err) = tessera(
        &[
            "evaluate",
            s(&table),
            "--heads",
            "centroid,knn,logreg",
            "--per-class",
            "2,10",
            "--repeats",
            "2",
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let heads = r["heads"].as_array().unwrap();
    assert_eq!(heads.len(), 3);
    for h in heads {
        let curve = h["curve"].as_array().unwrap();
        assert_eq!(curve.len(), 2);
        let a2 = curve[0]["mean"].as_f64().unwrap();
        let a10 = curve[1]["mean"].as_f64().unwrap();
        // More labels per class, better (or equal) accuracy.
        assert!(a10 + 0.02 >= a2, "{}: {a2} then {a10}", h["head"]);
        let spatial = &h["spatial"]["outcome"];
        assert_eq!(spatial["folds"], 5);
        let pooled = spatial["pooled"]["accuracy"].as_f64().unwrap();
        assert!(pooled > 0.5, "{}: {pooled}", h["head"]);
    }
}

#[test]
fn bad_training_input_gets_one_line_and_no_model() {
    let dir = scratch("learn-bad");
    let model = dir.join("m.safetensors");
    let header: String = (0..4).map(|b| format!(",emb_{b}")).collect();
    let table = |name: &str, rows: &[(&str, f64)]| -> PathBuf {
        let p = dir.join(name);
        let mut t = format!("label,lon,lat{header}\n");
        for (i, (l, v)) in rows.iter().enumerate() {
            t.push_str(&format!(
                "{l},{},{},{v},{},{},{}\n",
                0.1 + i as f64 * 0.01,
                51.4,
                v * 2.0,
                1.0 - v,
                v * v
            ));
        }
        std::fs::write(&p, t).unwrap();
        p
    };
    let one_class = table("one.csv", &[("a", 0.1), ("a", 0.2), ("a", 0.3)]);
    let lonely = table(
        "lonely.csv",
        &[("a", 0.1), ("a", 0.2), ("a", 0.3), ("b", 0.9)],
    );
    let no_emb = dir.join("noemb.csv");
    std::fs::write(
        &no_emb,
        format!("label,lon,lat{header}\na,0,0,NaN,NaN,NaN,NaN\nb,1,1,,,,\n"),
    )
    .unwrap();
    let no_cols = dir.join("nocols.csv");
    std::fs::write(&no_cols, "label,lon,lat\na,0,0\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![s(&one_class).into()], "only one class"),
        (vec![s(&lonely).into()], "has only 1 labelled row"),
        (vec![s(&no_emb).into()], "overlap the coverage"),
        (vec![s(&no_cols).into()], "no embedding columns"),
        (
            vec![s(&one_class).into(), "--head".into(), "svm".into()],
            "unknown head",
        ),
        (
            vec![s(&one_class).into(), "--cv".into(), "sideways".into()],
            "--cv 'sideways'",
        ),
        (
            vec![s(&lonely).into(), "--class-field".into(), "kind".into()],
            "no column \"kind\"",
        ),
        (vec!["missing.parquet".into()], "missing.parquet"),
    ];
    for (args, want) in cases {
        let mut a = vec!["train".to_string()];
        a.extend(args);
        a.extend(["-o".into(), s(&model).into()]);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let (code, _, err) = tessera(&refs, &[]);
        assert!(code == 1 || code == 2, "{a:?}: exit {code}");
        assert!(err.contains(want), "{a:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(!model.exists(), "{a:?} wrote a model");
    }
    // A regression table with a classifying head.
    let values: Vec<(String, f64)> = (0..30)
        .map(|i| (format!("{}", i as f64 * 1.5), i as f64 / 30.0))
        .collect();
    let rows: Vec<(&str, f64)> = values.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    let reg = table("reg.csv", &rows);
    let (code, _, err) = tessera(
        &["train", s(&reg), "--head", "logreg", "-o", s(&model)],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("measured values"), "{err}");
    assert!(!model.exists());
}
