//! End to end on the synthetic world: a random forest trained on 50 labels per class
//! outside a held-out region maps that region (across the UTM 34/35 seam) against the
//! truth rasters; GDAL reads the class map's colour table and category names; the map is
//! continuous across the seam when mosaicked; predictions at points; similarity maps and
//! their matches; k-means clusters; and bad input refused with nothing written.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::tessera;
use serde_json::{Value, json};
use tessera_core::Bbox;
use tessera_synth::{SynthOptions, synthesize};
use tessera_testkit::{run_python, scratch, scratch_shared};

/// The held-out region: no training label inside; it straddles 24 degrees east.
const HELD_OUT: [f64; 4] = [23.965, 69.025, 24.035, 69.075];
const HELD_OUT_BBOX: &str = "23.965,69.025,24.035,69.075";

/// A mirror with many candidate labels (so that 50 per class remain outside the held-out
/// region), its training labels, training table and random-forest model.
struct World {
    mirror: PathBuf,
    tiles: PathBuf,
    model: PathBuf,
    train: Value,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let dir = scratch_shared("e2e-maps-world");
        let mirror = dir.join("mirror");
        let mut o = SynthOptions::new(&mirror, Bbox::new(23.91, 69.01, 24.09, 69.09).unwrap());
        o.years = vec![2024];
        o.datasets = vec!["v1.1-cam".into(), "v1".into()];
        o.missing_rate = 0.0;
        o.labels_per_class = 400;
        synthesize(&o, &|_, _, _| {}).unwrap();
        // 50 labels per class outside the held-out region.
        let all: Value = serde_json::from_str(
            &std::fs::read_to_string(mirror.join("truth/2024/labels.geojson")).unwrap(),
        )
        .unwrap();
        let mut per_class = std::collections::BTreeMap::<String, usize>::new();
        let feats: Vec<Value> = all["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                let c = &f["geometry"]["coordinates"];
                let (x, y) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
                let inside = (HELD_OUT[0] - 0.003..=HELD_OUT[2] + 0.003).contains(&x)
                    && (HELD_OUT[1] - 0.001..=HELD_OUT[3] + 0.001).contains(&y);
                !inside
            })
            .filter(|f| {
                let k = per_class
                    .entry(f["properties"]["class_name"].as_str().unwrap().to_string())
                    .or_default();
                *k += 1;
                *k <= 50
            })
            .cloned()
            .collect();
        println!("training labels per class: {per_class:?}");
        assert!(
            per_class.values().filter(|&&n| n >= 50).count() >= 7,
            "too few labels outside the held-out region: {per_class:?}"
        );
        let labels = dir.join("train_labels.geojson");
        std::fs::write(
            &labels,
            json!({"type": "FeatureCollection", "features": feats}).to_string(),
        )
        .unwrap();
        let m = mirror.display().to_string();
        let table = dir.join("train.parquet");
        let (code, _, err) = tessera(
            &[
                "--mirror",
                &m,
                "-q",
                "sample",
                "--points",
                &labels.display().to_string(),
                "--year",
                "2024",
                "-o",
                &table.display().to_string(),
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        let model = dir.join("rf.safetensors");
        let (code, out, err) = tessera(
            &[
                "train",
                &table.display().to_string(),
                "--head",
                "rf",
                "--year",
                "2024",
                "-o",
                &model.display().to_string(),
                "--json",
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        World {
            mirror,
            tiles: dir.join("tiles"),
            model,
            train: serde_json::from_str(&out).unwrap(),
        }
    })
}

/// The paths of the maps a `--json` report lists.
fn map_files(r: &Value) -> Vec<String> {
    r["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

fn predict(args: &[&str]) -> (i32, String, String) {
    let w = world();
    let m = w.mirror.display().to_string();
    let t = w.tiles.display().to_string();
    let model = w.model.display().to_string();
    let mut v = vec![
        "--mirror", &m, "-q", "predict", "--model", &model, "--year", "2024", "--tiles", &t,
    ];
    v.extend_from_slice(args);
    tessera(&v, &[])
}

/// Scores native maps against the truth rasters: accuracy over pixels both have, by
/// class name; also what gdalinfo says of the first map.
const SCORE: &str = r#"
import json, subprocess, sys, tempfile, os
import numpy as np
maps, truth_dir, classes_json = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
name_to_truth = {c["name"]: c["id"] for c in json.load(open(classes_json))}
def read(p):
    info = json.loads(subprocess.run(["gdalinfo", "-json", p], check=True, capture_output=True).stdout)
    b = os.path.join(tempfile.mkdtemp(), "x.bin")
    subprocess.run(["gdal_translate", "-q", "-of", "ENVI", p, b], check=True)
    w, h = info["size"]
    dt = {"Byte": np.uint8, "Float32": np.float32}[info["bands"][0]["type"]]
    a = np.fromfile(b, dtype=dt)[: w * h].reshape(h, w)
    epsg = info["stac"]["proj:epsg"]
    return a, info["geoTransform"], epsg, info
right = total = 0
first_info = None
for mp in maps:
    m, gt, epsg, info = read(mp)
    first_info = first_info or info
    md = info["metadata"][""]
    lut = np.zeros(256, dtype=np.int16) - 1
    for k, v in md.items():
        if k.startswith("class_"):
            lut[int(k[6:])] = name_to_truth[v]
    for f in sorted(os.listdir(truth_dir)):
        if not f.endswith("_classes.tiff"):
            continue
        t, tg, tepsg, _ = read(os.path.join(truth_dir, f))
        if tepsg != epsg:
            continue
        dx, dy = (tg[0] - gt[0]) / gt[1], (tg[3] - gt[3]) / gt[5]
        assert abs(dx - round(dx)) < 1e-6 and abs(dy - round(dy)) < 1e-6, (dx, dy)
        dx, dy = int(round(dx)), int(round(dy))
        # The overlap of the truth tile (placed at dx, dy on the map) and the map.
        r0, c0 = max(0, dy), max(0, dx)
        r1, c1 = min(m.shape[0], dy + t.shape[0]), min(m.shape[1], dx + t.shape[1])
        if r1 <= r0 or c1 <= c0:
            continue
        mm = m[r0:r1, c0:c1]
        tt = t[r0 - dy:r1 - dy, c0 - dx:c1 - dx]
        ok = mm > 0
        right += int((lut[mm[ok]] == tt[ok]).sum())
        total += int(ok.sum())
band = first_info["bands"][0]
print(json.dumps({"accuracy": right / max(total, 1), "pixels": total,
                  "color_table": band.get("colorTable", {}).get("count", 0),
                  "interp": band.get("colorInterpretation"),
                  "categories": band.get("categories", []),
                  "nodata": band.get("noDataValue"),
                  "metadata": first_info["metadata"][""]}))
"#;

#[test]
fn a_forest_maps_a_held_out_region_against_the_truth_and_gdal_reads_its_classes() {
    let w = world();
    let score = |split: &str| {
        w.train[split]["outcome"]["summary"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m[0] == "accuracy")
            .unwrap()[1]
            .as_f64()
            .unwrap()
    };
    let (acc, random) = (score("spatial"), score("random"));
    println!(
        "random forest, 50 labels per class: spatial-CV accuracy {acc:.3}, random {random:.3}"
    );
    assert!(
        acc >= 0.85,
        "spatial-CV accuracy {acc} below the 0.85 floor"
    );

    let d = scratch("maps-predict");
    let out = d.join("classes.tif");
    let (code, stdout, err) = predict(&[
        "--bbox",
        HELD_OUT_BBOX,
        "-o",
        &out.display().to_string(),
        "--png",
        "--proba",
        "--confidence",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&stdout).unwrap();
    let files: Vec<String> = map_files(&r);
    // One map per zone on each side of the seam.
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0].ends_with("classes_32634.tif") && files[1].ends_with("classes_32635.tif"));
    for f in &files {
        let p = Path::new(f);
        for side in [
            format!("{f}.aux.xml"),
            p.with_extension("qml").display().to_string(),
            p.with_extension("png").display().to_string(),
            p.with_extension("pgw").display().to_string(),
            f.replace(".tif", ".legend.csv"),
            f.replace(".tif", "_proba.tif"),
            f.replace(".tif", "_confidence.tif"),
        ] {
            assert!(Path::new(&side).is_file(), "missing {side}");
        }
    }
    // Areas: 10 m pixels are 0.01 ha; the legend's hectares add up.
    let ha: f64 = r["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hectares"].as_f64().unwrap())
        .sum();
    let mapped = r["mapped"].as_f64().unwrap();
    assert!(
        (ha - mapped * 0.01).abs() < 1e-6 * mapped,
        "{ha} ha for {mapped} px"
    );
    let qml = std::fs::read_to_string(Path::new(&files[0]).with_extension("qml")).unwrap();
    assert!(qml.contains("rasterrenderer type=\"paletted\"") && qml.contains("label=\"water\""));

    let v = run_python(
        SCORE,
        &[
            &files.join(","),
            &w.mirror.join("truth/2024").display().to_string(),
            &w.mirror.join("truth/classes.json").display().to_string(),
        ],
    );
    let s: Value = serde_json::from_str(v.trim()).unwrap();
    let map_acc = s["accuracy"].as_f64().unwrap();
    println!(
        "map accuracy over the held-out region against the truth rasters: {map_acc:.3} ({} px)",
        s["pixels"]
    );
    assert!(s["pixels"].as_u64().unwrap() > 100_000, "{s}");
    assert!(
        map_acc >= 0.80,
        "map accuracy {map_acc} below the 0.80 floor"
    );
    // GDAL: a palette with the classes' colours, category names, nodata 0, the tags.
    assert_eq!(s["interp"], "Palette", "{s}");
    assert_eq!(s["color_table"], 256, "{s}");
    assert_eq!(s["nodata"], 0.0, "{s}");
    let cats: Vec<&str> = s["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cats[0], "nodata");
    assert!(
        cats.contains(&"water") && cats.contains(&"tree_cover"),
        "{cats:?}"
    );
    assert_eq!(s["metadata"]["head"], "rf");
    assert_eq!(s["metadata"]["dataset_version"], "v1.1");
    assert_eq!(s["metadata"]["map_year"], "2024");
    assert_eq!(
        s["metadata"]["model_sha256"].as_str().unwrap().len(),
        64,
        "{s}"
    );
}

#[test]
fn a_mosaicked_class_map_is_continuous_across_the_utm_seam() {
    let d = scratch("maps-seam");
    let out = d.join("seam.tif");
    let (code, _, err) = predict(&[
        "--bbox",
        HELD_OUT_BBOX,
        "--crs",
        "EPSG:4326",
        "--resolution",
        "2.5e-4,1e-4",
        "-o",
        &out.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v = run_python(
        r#"
import json, subprocess, sys, tempfile, os
import numpy as np
p = sys.argv[1]
b = os.path.join(tempfile.mkdtemp(), "x.bin")
subprocess.run(["gdal_translate", "-q", "-of", "ENVI", p, b], check=True)
info = json.loads(subprocess.run(["gdalinfo", "-json", p], check=True, capture_output=True).stdout)
w, h = info["size"]; gt = info["geoTransform"]
a = np.fromfile(b, dtype=np.uint8)[: w * h].reshape(h, w)
seam = int(round((24.0 - gt[0]) / gt[1]))
same = (a[:, 1:] == a[:, :-1]).mean(axis=0)
print(json.dumps({"nodata": float((a == 0).mean()), "seam_nodata": float((a[:, seam - 1:seam + 1] == 0).mean()),
                  "seam_same": float(same[seam - 1]), "median_same": float(np.median(same))}))
"#,
        &[&out.display().to_string()],
    );
    let s: Value = serde_json::from_str(v.trim()).unwrap();
    println!("{s}");
    assert!(s["nodata"].as_f64().unwrap() < 0.02, "{s}");
    assert!(s["seam_nodata"].as_f64().unwrap() < 0.02, "{s}");
    // Neighbouring columns agree across the seam about as often as anywhere else.
    assert!(
        s["seam_same"].as_f64().unwrap() >= s["median_same"].as_f64().unwrap() - 0.15,
        "{s}"
    );
}

#[test]
fn predictions_at_points_keep_the_input_columns() {
    let w = world();
    let d = scratch("maps-points");
    let out = d.join("pred.csv");
    let labels = w.mirror.join("truth/2024/labels.geojson");
    let (code, _, err) = predict(&[
        "--points",
        &labels.display().to_string(),
        "-o",
        &out.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v = run_python(
        r#"
import sys, json
import pandas as pd
t = pd.read_csv(sys.argv[1])
print(json.dumps({"cols": list(t.columns), "n": len(t),
                  "acc": float((t["prediction"] == t["class_name"]).mean()),
                  "p": float(t["probability"].min())}))
"#,
        &[&out.display().to_string()],
    );
    let s: Value = serde_json::from_str(v.trim()).unwrap();
    println!("{s}");
    let cols: Vec<&str> = s["cols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in [
        "class_name",
        "tile",
        "row",
        "prediction",
        "class_id",
        "probability",
    ] {
        assert!(cols.contains(&c), "{cols:?}");
    }
    assert!(s["acc"].as_f64().unwrap() > 0.85, "{s}");
    assert!(s["p"].as_f64().unwrap() > 0.0, "{s}");
}

/// Water's similarity scores against the truth rasters: the ROC AUC of water against the
/// rest, the means, the mask's agreement with the threshold, and (unless `polys` is "-")
/// the groups and top pixels written.
fn water_scores(files: &[String], polys: &str, top: &str) -> Value {
    let w = world();
    let v = run_python(
        r#"
import json, subprocess, sys, tempfile, os
import numpy as np
maps, truth_dir, polys, top = sys.argv[1].split(","), sys.argv[2], sys.argv[3], sys.argv[4]
def read(p, dt):
    info = json.loads(subprocess.run(["gdalinfo", "-json", p], check=True, capture_output=True).stdout)
    b = os.path.join(tempfile.mkdtemp(), "x.bin")
    subprocess.run(["gdal_translate", "-q", "-of", "ENVI", p, b], check=True)
    w, h = info["size"]
    return np.fromfile(b, dtype=dt)[: w * h].reshape(h, w), info["geoTransform"], info["stac"]["proj:epsg"]
water, other, mask_agree, mask_n = [], [], 0, 0
for mp in maps:
    s, gt, epsg = read(mp, np.float32)
    if polys != "-":
        mk, _, _ = read(mp.replace(".tif", "_mask.tif"), np.uint8)
        ok = np.isfinite(s)
        mask_agree += int(((s >= 0.9) == (mk == 1))[ok].sum()); mask_n += int(ok.sum())
    for f in sorted(os.listdir(truth_dir)):
        if not f.endswith("_classes.tiff"):
            continue
        t, tg, te = read(os.path.join(truth_dir, f), np.uint8)
        if te != epsg:
            continue
        dx, dy = int(round((tg[0] - gt[0]) / gt[1])), int(round((tg[3] - gt[3]) / gt[5]))
        r0, c0 = max(0, dy), max(0, dx)
        r1, c1 = min(s.shape[0], dy + t.shape[0]), min(s.shape[1], dx + t.shape[1])
        if r1 <= r0 or c1 <= c0:
            continue
        ss, tt = s[r0:r1, c0:c1], t[r0 - dy:r1 - dy, c0 - dx:c1 - dx]
        v = np.isfinite(ss)
        water.append(ss[v & (tt == 0)]); other.append(ss[v & (tt != 0)])
water, other = np.concatenate(water), np.concatenate(other)
# The chance that a water pixel scores above another pixel (the ROC AUC), by ranks.
allv = np.concatenate([water, other]); ranks = allv.argsort().argsort() + 1.0
auc = (ranks[: water.size].sum() - water.size * (water.size + 1) / 2) / (water.size * other.size)
out = {"auc": float(auc), "water_mean": float(water.mean()), "other_mean": float(other.mean()),
       "water_px": int(water.size), "mask_agree": mask_agree / max(mask_n, 1)}
if polys != "-":
    g = json.load(open(polys)); tp = json.load(open(top))
    out.update({"groups": sum(1 for f in g["features"] if f["geometry"]["type"] == "Polygon"),
                "top": len(tp["features"]), "top_best": tp["features"][0]["properties"]["similarity"],
                "top_last": tp["features"][-1]["properties"]["similarity"]})
print(json.dumps(out))
"#,
        &[
            &files.join(","),
            &w.mirror.join("truth/2024").display().to_string(),
            polys,
            top,
        ],
    );
    serde_json::from_str(v.trim()).unwrap()
}

#[test]
fn similarity_finds_the_class_of_its_examples_and_clusters_follow_the_classes() {
    let w = world();
    let d = scratch("maps-similar");
    let m = w.mirror.display().to_string();
    let t = w.tiles.display().to_string();
    // Five water examples.
    let labels: Value = serde_json::from_str(
        &std::fs::read_to_string(w.mirror.join("truth/2024/labels.geojson")).unwrap(),
    )
    .unwrap();
    let water: Vec<String> = labels["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["class_name"] == "water")
        .take(5)
        .map(|f| {
            let c = &f["geometry"]["coordinates"];
            format!("{},{}", c[0], c[1])
        })
        .collect();
    assert_eq!(water.len(), 5);
    let out = d.join("sim.tif");
    let polys = d.join("matches.geojson");
    let top = d.join("top.geojson");
    let (o, p, tp) = (
        out.display().to_string(),
        polys.display().to_string(),
        top.display().to_string(),
    );
    let mut args = vec![
        "--mirror",
        &m,
        "-q",
        "similar",
        "--bbox",
        HELD_OUT_BBOX,
        "--year",
        "2024",
        "--tiles",
        &t,
        "-o",
        &o,
        "--threshold",
        "0.9",
        "--polygons",
        &p,
        "--min-pixels",
        "20",
        "--top",
        "50",
        "--top-points",
        &tp,
        "--png",
        "--json",
    ];
    for wpt in &water {
        args.push("--lonlat");
        args.push(wpt);
    }
    let (code, stdout, err) = tessera(&args, &[]);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&stdout).unwrap();
    let files: Vec<String> = map_files(&r);
    let s = water_scores(&files, &p, &tp);
    println!("{s}");
    assert!(s["water_px"].as_u64().unwrap() > 1000, "{s}");
    assert!(
        s["water_mean"].as_f64().unwrap() > s["other_mean"].as_f64().unwrap(),
        "{s}"
    );
    assert!(s["auc"].as_f64().unwrap() > 0.9, "{s}");
    assert_eq!(s["mask_agree"], 1.0, "{s}");
    assert!(s["groups"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["top"], 50, "{s}");
    assert!(s["top_best"].as_f64().unwrap() >= s["top_last"].as_f64().unwrap());

    // Clusters: each k-means class is mostly one truth class.
    let out = d.join("clusters.tif");
    let o = out.display().to_string();
    let (code, stdout, err) = tessera(
        &[
            "--mirror",
            &m,
            "-q",
            "cluster",
            "--bbox",
            HELD_OUT_BBOX,
            "--year",
            "2024",
            "--tiles",
            &t,
            "--k",
            "9",
            "--sample",
            "20000",
            "-o",
            &o,
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&stdout).unwrap();
    let files: Vec<String> = map_files(&r);
    let v = run_python(
        r#"
import json, subprocess, sys, tempfile, os
import numpy as np
maps, truth_dir = sys.argv[1].split(","), sys.argv[2]
def read(p):
    info = json.loads(subprocess.run(["gdalinfo", "-json", p], check=True, capture_output=True).stdout)
    b = os.path.join(tempfile.mkdtemp(), "x.bin")
    subprocess.run(["gdal_translate", "-q", "-of", "ENVI", p, b], check=True)
    w, h = info["size"]
    return np.fromfile(b, dtype=np.uint8)[: w * h].reshape(h, w), info["geoTransform"], info["stac"]["proj:epsg"]
pairs = np.zeros((256, 256), dtype=np.int64)
for mp in maps:
    s, gt, epsg = read(mp)
    for f in sorted(os.listdir(truth_dir)):
        if not f.endswith("_classes.tiff"):
            continue
        t, tg, te = read(os.path.join(truth_dir, f))
        if te != epsg:
            continue
        dx, dy = int(round((tg[0] - gt[0]) / gt[1])), int(round((tg[3] - gt[3]) / gt[5]))
        r0, c0 = max(0, dy), max(0, dx)
        r1, c1 = min(s.shape[0], dy + t.shape[0]), min(s.shape[1], dx + t.shape[1])
        if r1 <= r0 or c1 <= c0:
            continue
        ss, tt = s[r0:r1, c0:c1], t[r0 - dy:r1 - dy, c0 - dx:c1 - dx]
        v = ss > 0
        np.add.at(pairs, (ss[v], tt[v]), 1)
purity = pairs.max(axis=1).sum() / pairs.sum()
print(json.dumps({"purity": float(purity), "clusters": int((pairs.sum(axis=1) > 0).sum())}))
"#,
        &[
            &files.join(","),
            &w.mirror.join("truth/2024").display().to_string(),
        ],
    );
    let s: Value = serde_json::from_str(v.trim()).unwrap();
    println!("clusters: {s}");
    assert!(s["clusters"].as_u64().unwrap() >= 5, "{s}");
    assert!(s["purity"].as_f64().unwrap() > 0.6, "{s}");
}

#[test]
fn bad_map_requests_fail_with_one_line_and_write_nothing() {
    let w = world();
    let d = scratch("maps-bad");
    let out = d.join("bad.tif");
    let o = out.display().to_string();
    // A model of another dataset version.
    let m = w.mirror.display().to_string();
    let t = w.tiles.display().to_string();
    let model = w.model.display().to_string();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["--dataset-version", "v1", "--bbox", HELD_OUT_BBOX, "-o", &o],
            2,
            "dataset v1.1",
        ),
        (
            vec!["--bbox", "10.0,10.0,10.05,10.05", "-o", &o],
            1,
            "No tiles",
        ),
        (
            vec!["--bbox", HELD_OUT_BBOX, "--reject-below", "2", "-o", &o],
            2,
            "--reject-below",
        ),
        (vec!["--bbox", HELD_OUT_BBOX], 2, "--output"),
        (
            vec!["--bbox", HELD_OUT_BBOX, "--resolution", "20", "-o", &o],
            2,
            "--resolution needs --crs",
        ),
    ];
    for (args, want, needle) in cases {
        let mut v = vec![
            "--mirror", &m, "-q", "predict", "--model", &model, "--year", "2024", "--tiles", &t,
        ];
        v.extend_from_slice(&args);
        let (code, _, err) = tessera(&v, &[]);
        assert_eq!(code, want, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // A file that is not a model.
    let junk = d.join("junk.safetensors");
    std::fs::write(&junk, b"not a model").unwrap();
    let (code, _, err) = tessera(
        &[
            "--mirror",
            &m,
            "-q",
            "predict",
            "--model",
            &junk.display().to_string(),
            "--bbox",
            HELD_OUT_BBOX,
            "--tiles",
            &t,
            "-o",
            &o,
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(!err.contains("panicked"), "{err}");
    // Similarity without examples, clusters with k = 1.
    let (code, _, err) = tessera(
        &["--mirror", &m, "similar", "--bbox", HELD_OUT_BBOX, "-o", &o],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = tessera(
        &[
            "--mirror",
            &m,
            "cluster",
            "--bbox",
            HELD_OUT_BBOX,
            "--k",
            "1",
            "--tiles",
            &t,
            "-o",
            &o,
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "junk.safetensors")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Squares of `half` metres around the truth labels (in the labels' UTM zone), as GeoJSON
/// polygons in WGS84, plus one repeated polygon and one relabelled copy of it.
fn polygons_geojson(dst: &Path, half: f64) {
    let w = world();
    let v = run_python(
        r#"
import json, sys
from pyproj import Transformer
src, dst, half = sys.argv[1], sys.argv[2], float(sys.argv[3])
feats = json.load(open(src))["features"]
out, seen = [], {}
for f in feats:
    lon, lat = f["geometry"]["coordinates"]
    name = f["properties"]["class_name"]
    if seen.get(name, 0) >= 20:
        continue
    seen[name] = seen.get(name, 0) + 1
    zone = int((lon + 180) // 6) + 1
    t = Transformer.from_crs(4326, 32600 + zone, always_xy=True)
    x, y = t.transform(lon, lat)
    ring = [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half), (x - half, y - half)]
    ring = [list(t.transform(a, b, direction="INVERSE")) for a, b in ring]
    out.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"habitat": name, "pid": len(out)}})
dup = json.loads(json.dumps(out[0])); dup["properties"]["pid"] = len(out)
out.append(dup)
bad = json.loads(json.dumps(out[1])); bad["properties"]["habitat"] = "not_" + bad["properties"]["habitat"]
bad["properties"]["pid"] = len(out)
out.append(bad)
json.dump({"type": "FeatureCollection", "features": out}, open(dst, "w"))
print(len(out))
"#,
        &[
            &w.mirror
                .join("truth/2024/labels.geojson")
                .display()
                .to_string(),
            &dst.display().to_string(),
            &half.to_string(),
        ],
    );
    assert!(v.trim().parse::<usize>().unwrap() > 100, "{v}");
}

fn labels_cmd(input: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let w = world();
    let m = w.mirror.display().to_string();
    let t = w.tiles.display().to_string();
    let (i, o) = (input.display().to_string(), out.display().to_string());
    let mut v = vec![
        "--mirror", &m, "-q", "labels", &i, "--year", "2024", "--tiles", &t, "-o", &o,
    ];
    v.extend_from_slice(extra);
    tessera(&v, &[])
}

#[test]
fn polygon_labels_from_geojson_geopackage_and_shapefile_give_one_training_table() {
    let d = scratch("maps-labels");
    let gj = d.join("polys.geojson");
    polygons_geojson(&gj, 25.0);
    let out = d.join("train.parquet");
    let (code, stdout, err) = labels_cmd(
        &gj,
        &out,
        &[
            "--class-field",
            "habitat",
            "--max-samples",
            "3000",
            "--min-per-class",
            "50",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&stdout).unwrap();
    println!("{r}");
    assert_eq!(
        r["polygons"].as_u64().unwrap() as usize,
        r["features"].as_u64().unwrap() as usize
    );
    // The repeated polygon's pixels are merged; its relabelled copy conflicts.
    assert!(r["duplicates"].as_u64().unwrap() > 0, "{r}");
    assert!(r["conflicts"].as_u64().unwrap() > 0, "{r}");
    let rows = r["rows"].as_u64().unwrap();
    assert!(rows > 500, "{r}");
    // GeoPackage (in a UTM zone) and Shapefile copies of the same polygons give the same table.
    let gpkg = d.join("polys.gpkg");
    let shp = d.join("polys.shp");
    for (dst, extra) in [(&gpkg, vec!["-t_srs", "EPSG:32635"]), (&shp, vec![])] {
        let mut a = vec![
            "-q".to_string(),
            dst.display().to_string(),
            gj.display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        let st = std::process::Command::new("ogr2ogr")
            .args(&a)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let mut tables = Vec::new();
    for src in [&gpkg, &shp] {
        let o = d.join(format!(
            "{}.parquet",
            src.extension().unwrap().to_string_lossy()
        ));
        let (code, stdout, err) = labels_cmd(
            src,
            &o,
            &[
                "--class-field",
                "habitat",
                "--max-samples",
                "3000",
                "--min-per-class",
                "50",
                "--json",
            ],
        );
        assert_eq!(code, 0, "{}: {err}", src.display());
        let r2: Value = serde_json::from_str(&stdout).unwrap();
        // Reprojection moves vertices by millimetres: a pixel centre on an edge may flip.
        let diff = (r2["rows"].as_i64().unwrap() - rows as i64).abs();
        assert!(
            diff as f64 <= 0.02 * rows as f64,
            "{} {r2} vs {r}",
            src.display()
        );
        tables.push(o);
    }
    let v = run_python(
        r#"
import sys, json
import pyarrow.parquet as pq
ts = [pq.read_table(p).to_pandas() for p in sys.argv[1:]]
t = ts[0]
emb = [c for c in t.columns if c.startswith("emb_")]
print(json.dumps({"cols": [c for c in t.columns if not c.startswith("emb_")], "emb": len(emb),
                  "groups": int(t["group"].nunique()), "classes": int(t["label"].nunique()),
                  "min_class": int(t["label"].value_counts().min()),
                  "same_labels": [sorted(x["label"].value_counts().to_dict().items()) == sorted(t["label"].value_counts().to_dict().items()) for x in ts[1:]]}))
"#,
        &[
            &out.display().to_string(),
            &tables[0].display().to_string(),
            &tables[1].display().to_string(),
        ],
    );
    let s: Value = serde_json::from_str(v.trim()).unwrap();
    println!("{s}");
    for c in [
        "label",
        "class_id",
        "group",
        "block",
        "tile",
        "zone",
        "pixel_row",
        "pixel_col",
        "x",
        "y",
        "lon",
        "lat",
    ] {
        assert!(
            s["cols"].as_array().unwrap().iter().any(|x| x == c),
            "{c}: {s}"
        );
    }
    assert_eq!(s["emb"], 128);
    assert!(s["classes"].as_u64().unwrap() >= 8, "{s}");
    assert!(s["groups"].as_u64().unwrap() > 100, "{s}");

    // Train straight from the GeoPackage: folds grouped by polygon.
    let model = d.join("poly.safetensors");
    let w = world();
    let (code, stdout, err) = tessera(
        &[
            "--mirror",
            &w.mirror.display().to_string(),
            "-q",
            "train",
            "--labels",
            &gpkg.display().to_string(),
            "--class-field",
            "habitat",
            "--year",
            "2024",
            "--tiles",
            &w.tiles.display().to_string(),
            "--max-samples",
            "3000",
            "--head",
            "rf",
            "--trees",
            "50",
            "-o",
            &model.display().to_string(),
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let t: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        t["spatial"]["split"].as_str().unwrap().contains("group"),
        "{}",
        t["spatial"]["split"]
    );
    assert!(model.is_file() && d.join("poly.labels.parquet").is_file());
}

#[test]
fn bad_label_files_fail_with_one_line_and_write_nothing() {
    let d = scratch("maps-labels-bad");
    let out = d.join("t.parquet");
    let gj = d.join("in");
    std::fs::create_dir_all(&gj).unwrap();
    let write = |name: &str, text: &str| {
        let p = gj.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let far = write("far.csv", "lon,lat,class\n10.01,10.01,a\n10.02,10.02,b\n");
    let nan = write("nan.csv", "lon,lat,class\nnan,69.05,a\n24.0,69.05,b\n");
    let crs = write(
        "crs.geojson",
        r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::27700"}},"features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"class":"a"}}]}"#,
    );
    let nofield = write("nofield.csv", "lon,lat,colour\n24.0,69.05,red\n");
    for (p, want, needle) in [
        (&far, 1, "none of the"),
        (&nan, 2, "not a finite"),
        (&crs, 2, "27700"),
        (&nofield, 2, "no label field"),
    ] {
        let (code, _, err) = labels_cmd(p, &out, &[]);
        assert_eq!(code, want, "{}: {err}", p.display());
        assert!(err.contains(needle), "{}: {err}", p.display());
        let errors = err.lines().filter(|l| l.starts_with("error")).count();
        assert_eq!(errors, 1, "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(!out.exists());
}

/// The (x, y) pixel centres of a labels CSV, rounded to the metre.
fn csv_pixels(p: &Path) -> std::collections::BTreeSet<(i64, i64)> {
    let text = std::fs::read_to_string(p).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let xi = head.iter().position(|&c| c == "x").unwrap();
    let yi = head.iter().position(|&c| c == "y").unwrap();
    lines
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            (
                v[xi].parse::<f64>().unwrap().round() as i64,
                v[yi].parse::<f64>().unwrap().round() as i64,
            )
        })
        .collect()
}

/// Polygons stated in a UTM zone, drawn with every pixel (`--all-pixels`), with and without
/// `--all-touched`: the pixels are those `gdal_rasterize` (`-at`) burns on the same 10 m
/// grid, less those without an embedding (which the report counts).
#[test]
fn polygon_pixels_are_those_gdal_rasterize_burns_with_and_without_all_touched() {
    let d = scratch("maps-labels-touched");
    let utm = tessera_core::Crs::from_epsg(32635).unwrap();
    let (cx, cy) = utm.forward(24.05, 69.05);
    let (cx, cy) = (cx.round(), cy.round());
    let ring = |pts: &[(f64, f64)]| -> Vec<Vec<f64>> {
        let mut r: Vec<Vec<f64>> = pts.iter().map(|p| vec![cx + p.0, cy + p.1]).collect();
        r.push(r[0].clone());
        r
    };
    // A rotated square, a thin triangle, a square with a hole, a concave L and a sliver
    // narrower than a pixel: no vertex on the grid.
    let rot: Vec<(f64, f64)> = (0..4)
        .map(|i| {
            let a = std::f64::consts::FRAC_PI_6 + i as f64 * std::f64::consts::FRAC_PI_2;
            (-850.0 + 3.3 + 123.4 * a.cos(), 7.7 + 123.4 * a.sin())
        })
        .collect();
    let shapes = [
        (vec![ring(&rot)], "a"),
        (
            vec![ring(&[
                (-600.2, -200.7),
                (-379.1, -180.3),
                (-590.6, -120.1),
            ])],
            "b",
        ),
        (
            vec![
                ring(&[
                    (-300.3, -100.2),
                    (-100.6, -100.2),
                    (-100.6, 99.9),
                    (-300.3, 99.9),
                ]),
                ring(&[
                    (-250.5, -50.5),
                    (-250.5, 50.5),
                    (-150.5, 50.5),
                    (-150.5, -50.5),
                ]),
            ],
            "c",
        ),
        (
            vec![ring(&[
                (100.1, -150.3),
                (400.7, -150.3),
                (400.7, -60.2),
                (190.4, -60.2),
                (190.4, 160.8),
                (100.1, 160.8),
            ])],
            "a",
        ),
        (
            vec![ring(&[
                (500.2, -300.3),
                (507.1, -300.3),
                (560.9, 250.6),
                (554.3, 250.6),
            ])],
            "b",
        ),
    ];
    let feats: Vec<Value> = shapes
        .iter()
        .map(|(rings, class)| {
            json!({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": rings},
                   "properties": {"class": class}})
        })
        .collect();
    let gj = d.join("utm.geojson");
    std::fs::write(
        &gj,
        json!({"type": "FeatureCollection",
               "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32635"}},
               "features": feats})
        .to_string(),
    )
    .unwrap();
    let (x0, y0) = (cx - 1000.0, cy - 400.0);
    let (x0, y0) = ((x0 / 10.0).floor() * 10.0, (y0 / 10.0).floor() * 10.0);
    let te = [x0, y0, x0 + 1700.0, y0 + 800.0].map(|v| v.to_string());
    let mut sizes = Vec::new();
    for touched in [false, true] {
        let tif = d.join(format!("gdal_{touched}.tif"));
        let mut args = vec!["-q", "-burn", "1", "-ot", "Byte", "-tr", "10", "10", "-te"];
        args.extend(te.iter().map(String::as_str));
        if touched {
            args.push("-at");
        }
        let (g, t) = (gj.display().to_string(), tif.display().to_string());
        args.extend([g.as_str(), t.as_str()]);
        let st = std::process::Command::new("gdal_rasterize")
            .args(&args)
            .status()
            .unwrap();
        assert!(st.success(), "gdal_rasterize {args:?}");
        let xyz = d.join(format!("gdal_{touched}.xyz"));
        let st = std::process::Command::new("gdal_translate")
            .args(["-q", "-of", "XYZ", &t, &xyz.display().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let gdal: std::collections::BTreeSet<(i64, i64)> = std::fs::read_to_string(&xyz)
            .unwrap()
            .lines()
            .filter_map(|l| {
                let v: Vec<f64> = l.split_whitespace().map(|s| s.parse().unwrap()).collect();
                (v[2] == 1.0).then(|| (v[0].round() as i64, v[1].round() as i64))
            })
            .collect();
        let out = d.join(format!("ours_{touched}.csv"));
        let mut extra = vec!["--all-pixels", "--json"];
        if touched {
            extra.push("--all-touched");
        }
        let (code, stdout, err) = labels_cmd(&gj, &out, &extra);
        assert_eq!(code, 0, "{err}");
        let r: Value = serde_json::from_str(&stdout).unwrap();
        let ours = csv_pixels(&out);
        let extra_px: Vec<_> = ours.difference(&gdal).take(10).collect();
        assert!(
            extra_px.is_empty(),
            "all_touched={touched}: not burned by GDAL: {extra_px:?}"
        );
        let dropped = r["outside"].as_u64().unwrap() + r["nodata"].as_u64().unwrap();
        assert_eq!(r["duplicates"], 0, "{r}");
        assert_eq!(
            gdal.len() - ours.len(),
            dropped as usize,
            "all_touched={touched}: GDAL burns {} pixels, we draw {} and drop {dropped}: {r}",
            gdal.len(),
            ours.len()
        );
        assert!(
            (dropped as usize) * 10 < gdal.len(),
            "too few pixels with embeddings for the comparison to mean much: {r}"
        );
        println!("all_touched={touched}: {} pixels, as GDAL", gdal.len());
        sizes.push(gdal.len());
    }
    // The sliver holds few centres but touches a column of pixels all along.
    assert!(sizes[1] > sizes[0] + 100, "{sizes:?}");
}

/// CSV x,y columns in a UTM zone, read with --crs, give the table the same points give in
/// lon,lat; projected coordinates without --crs, a --crs the file contradicts and a CRS we
/// do not read are refused with one line.
#[test]
fn label_coordinates_in_a_stated_crs_read_as_their_lon_lat() {
    let d = scratch("maps-labels-crs");
    let w = world();
    let all: Value = serde_json::from_str(
        &std::fs::read_to_string(w.mirror.join("truth/2024/labels.geojson")).unwrap(),
    )
    .unwrap();
    let utm = tessera_core::Crs::from_epsg(32635).unwrap();
    let (mut ll, mut xy) = (String::from("lon,lat,class\n"), String::from("x,y,class\n"));
    let mut n = 0;
    for f in all["features"].as_array().unwrap() {
        let c = &f["geometry"]["coordinates"];
        let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        if lon < 24.005 || n >= 200 {
            continue;
        }
        let name = f["properties"]["class_name"].as_str().unwrap();
        let (x, y) = utm.forward(lon, lat);
        ll.push_str(&format!("{lon},{lat},{name}\n"));
        xy.push_str(&format!("{x:.3},{y:.3},{name}\n"));
        n += 1;
    }
    assert!(n > 50, "{n}");
    let (pll, pxy) = (d.join("ll.csv"), d.join("xy.csv"));
    std::fs::write(&pll, ll).unwrap();
    std::fs::write(&pxy, xy).unwrap();
    let (oll, oxy) = (d.join("ll_out.csv"), d.join("xy_out.csv"));
    let (code, _, err) = labels_cmd(&pll, &oll, &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = labels_cmd(&pxy, &oxy, &["--crs", "EPSG:32635"]);
    assert_eq!(code, 0, "{err}");
    let key = |p: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(p).unwrap();
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().unwrap().split(',').collect();
        let idx: Vec<usize> = [
            "label",
            "tile",
            "pixel_row",
            "pixel_col",
            "emb_0",
            "emb_127",
        ]
        .iter()
        .map(|c| head.iter().position(|h| h == c).unwrap())
        .collect();
        lines
            .map(|l| {
                let v: Vec<&str> = l.split(',').collect();
                idx.iter().map(|&i| v[i]).collect::<Vec<_>>().join(",")
            })
            .collect()
    };
    let (a, b) = (key(&oll), key(&oxy));
    assert!(a.len() > 50, "{}", a.len());
    assert_eq!(a, b);

    let out = d.join("refused.csv");
    let gj = d.join("utm.geojson");
    std::fs::write(
        &gj,
        r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::32635"}},"features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[510000,7660000]},"properties":{"class":"a"}}]}"#,
    )
    .unwrap();
    for (p, extra, needle) in [
        (&pxy, vec![], "--crs EPSG:3857 or a UTM zone"),
        (
            &gj,
            vec!["--crs", "EPSG:32634"],
            "states its CRS is EPSG:32635",
        ),
        (&pxy, vec!["--crs", "EPSG:27700"], "reproject"),
    ] {
        let (code, _, err) = labels_cmd(p, &out, &extra);
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{err}"
        );
    }
    assert!(!out.exists());
}

/// Squares of `half` metres (in each label's UTM zone) around up to `n` truth labels whose
/// class is (or, with `not`, is not) `class`, outside the held-out region, as WGS84 GeoJSON.
fn class_squares(dst: &Path, class: &str, not: bool, n: usize, half: f64) {
    let w = world();
    let all: Value = serde_json::from_str(
        &std::fs::read_to_string(w.mirror.join("truth/2024/labels.geojson")).unwrap(),
    )
    .unwrap();
    let mut feats = Vec::new();
    for f in all["features"].as_array().unwrap() {
        let c = &f["geometry"]["coordinates"];
        let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        let name = f["properties"]["class_name"].as_str().unwrap();
        let held = (HELD_OUT[0]..=HELD_OUT[2]).contains(&lon)
            && (HELD_OUT[1]..=HELD_OUT[3]).contains(&lat);
        if held || (name == class) == not || feats.len() >= n {
            continue;
        }
        let utm = tessera_core::Crs::utm_for(lon, lat);
        let (x, y) = utm.forward(lon, lat);
        let ring: Vec<Vec<f64>> = [
            (-1.0, -1.0),
            (1.0, -1.0),
            (1.0, 1.0),
            (-1.0, 1.0),
            (-1.0, -1.0),
        ]
        .iter()
        .map(|(a, b)| {
            let (lo, la) = utm.inverse(x + a * half, y + b * half);
            vec![lo, la]
        })
        .collect();
        feats.push(
            json!({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                          "properties": {"class": name}}),
        );
    }
    assert_eq!(feats.len(), n, "{class}");
    std::fs::write(
        dst,
        json!({"type": "FeatureCollection", "features": feats}).to_string(),
    )
    .unwrap();
}

/// Polygons as examples: a water query (and other classes' polygons as negatives) scores
/// water above the rest of the held-out region, each polygon standing for its pixels.
#[test]
fn similarity_takes_polygons_as_examples() {
    let w = world();
    let d = scratch("maps-similar-polygons");
    let (q, neg) = (d.join("water.geojson"), d.join("other.geojson"));
    class_squares(&q, "water", false, 4, 25.0);
    class_squares(&neg, "water", true, 6, 25.0);
    let out = d.join("sim.tif");
    let (m, t, o) = (
        w.mirror.display().to_string(),
        w.tiles.display().to_string(),
        out.display().to_string(),
    );
    let (qs, ns) = (q.display().to_string(), neg.display().to_string());
    let base = [
        "--mirror",
        &m,
        "-q",
        "similar",
        "--bbox",
        HELD_OUT_BBOX,
        "--year",
        "2024",
        "--tiles",
        &t,
        "-o",
        &o,
        "--json",
        "--query",
        &qs,
    ];
    let mut args = base.to_vec();
    args.extend(["--negative", ns.as_str()]);
    let (code, stdout, err) = tessera(&args, &[]);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&stdout).unwrap();
    println!("{}", r["what"]);
    // Four squares of 5 x 5 pixels, six of other classes: pos-neg by default.
    assert_eq!(r["what"]["method"], "PosNeg", "{r}");
    let (np, nn) = (
        r["what"]["positives"].as_u64().unwrap(),
        r["what"]["negatives"].as_u64().unwrap(),
    );
    assert!((80..=100).contains(&np), "{np}");
    assert!((120..=150).contains(&nn), "{nn}");
    let files: Vec<String> = map_files(&r);
    let s = water_scores(&files, "-", "-");
    println!("{s}");
    assert!(s["auc"].as_f64().unwrap() > 0.9, "{s}");
    // Each map's QGIS style stretches viridis over its 2nd..98th percentiles.
    let v = run_python(
        r#"
import json, subprocess, sys, tempfile, os
import xml.etree.ElementTree as ET
import numpy as np
out = []
for mp in sys.argv[1].split(","):
    info = json.loads(subprocess.run(["gdalinfo", "-json", mp], check=True, capture_output=True).stdout)
    b = os.path.join(tempfile.mkdtemp(), "x.bin")
    subprocess.run(["gdal_translate", "-q", "-of", "ENVI", mp, b], check=True)
    w, h = info["size"]
    v = np.fromfile(b, dtype=np.float32)[: w * h]
    v = v[np.isfinite(v)]
    r = ET.parse(mp[:-4] + ".qml").getroot().find("pipe/rasterrenderer")
    sh = r.find("rastershader/colorrampshader")
    items = sh.findall("item")
    out.append({"type": r.get("type"), "min": float(r.get("classificationMin")),
                "max": float(r.get("classificationMax")),
                "p2": float(np.percentile(v, 2, method="nearest")),
                "p98": float(np.percentile(v, 98, method="nearest")),
                "items": len(items), "first": items[0].get("color"), "last": items[-1].get("color"),
                "ramp_ends": [float(items[0].get("value")), float(items[-1].get("value"))]})
print(json.dumps(out))
"#,
        &[&files.join(",")],
    );
    let styles: Value = serde_json::from_str(v.trim()).unwrap();
    println!("{styles}");
    for st in styles.as_array().unwrap() {
        assert_eq!(st["type"], "singlebandpseudocolor", "{st}");
        assert_eq!(st["items"], 9, "{st}");
        assert_eq!(st["first"], "#440154", "{st}");
        assert_eq!(st["last"], "#fde725", "{st}");
        for (a, b) in [("min", "p2"), ("max", "p98")] {
            let (x, y) = (st[a].as_f64().unwrap(), st[b].as_f64().unwrap());
            assert!((x - y).abs() < 2e-3, "{a} {x} vs numpy {y}: {st}");
        }
        assert_eq!(st["ramp_ends"][0], st["min"], "{st}");
        assert_eq!(st["ramp_ends"][1], st["max"], "{st}");
    }

    // A file with no usable example is refused.
    let empty = d.join("empty.geojson");
    std::fs::write(&empty, r#"{"type":"FeatureCollection","features":[]}"#).unwrap();
    let bad_out = d.join("bad.tif");
    let (e, bo) = (empty.display().to_string(), bad_out.display().to_string());
    let mut args = base.to_vec();
    args[11] = &bo;
    args[14] = &e;
    let (code, _, err) = tessera(&args, &[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{err}"
    );
    assert!(!bad_out.exists());
}
