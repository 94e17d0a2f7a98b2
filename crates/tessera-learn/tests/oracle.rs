//! The heads, metrics and splits against scikit-learn 1.9 on the same data (the oracle
//! runs in the test: `TESSERA_PYTHON` with scikit-learn, see tests/requirements.txt).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};
use tessera_learn::data::{TableOptions, Task};
use tessera_learn::heads::{
    ForestOptions, Head, HeadSpec, LogisticOptions, Metric, MlpOptions, Prediction, Weights,
    forest, kmeans, logreg, mlp,
};
use tessera_learn::rng::Rng;
use tessera_learn::{TrainingSet, metrics, split};

const D: usize = 16;
const C: usize = 5;

/// Five overlapping Gaussian classes in 16 dimensions; 780 training rows in 39 groups of
/// distinct sizes (1..=39), 400 test rows; a value column for regression.
#[allow(clippy::needless_range_loop)]
fn write_tables(dir: &Path) {
    let mut rng = Rng::new(2024);
    let means: Vec<Vec<f64>> = (0..C)
        .map(|_| (0..D).map(|_| rng.normal() * 0.45).collect())
        .collect();
    let mut groups: Vec<usize> = (1..=39).flat_map(|g| std::iter::repeat_n(g, g)).collect();
    rng.shuffle(&mut groups);
    for (name, n) in [("train.csv", groups.len()), ("test.csv", 400)] {
        let mut s = String::from("label,group,value");
        for b in 0..D {
            write!(s, ",emb_{b}").unwrap();
        }
        s.push('\n');
        for i in 0..n {
            let c = rng.below(C);
            let x: Vec<f64> = (0..D).map(|b| means[c][b] + rng.normal()).collect();
            let value = x[0] + 0.5 * x[1] - x[2] * x[3] * 0.3 + rng.normal() * 0.1;
            let g = if name == "train.csv" { groups[i] } else { 0 };
            write!(s, "{c},{g},{value}").unwrap();
            for v in &x {
                write!(s, ",{}", *v as f32).unwrap();
            }
            s.push('\n');
        }
        std::fs::write(dir.join(name), s).unwrap();
    }
}

fn read(dir: &Path, name: &str, task: Task, label: &str) -> TrainingSet {
    TrainingSet::read(
        &dir.join(name),
        &TableOptions {
            label_field: Some(label.into()),
            group_field: Some("group".into()),
            task,
            classes: None,
        },
    )
    .unwrap()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|x| match x {
            Value::Array(a) => a.iter().map(|y| y.as_f64().unwrap()).collect::<Vec<_>>(),
            _ => vec![x.as_f64().unwrap()],
        })
        .collect()
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-12);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale
}

fn max_abs(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn classes(p: Prediction) -> (Vec<u32>, Vec<f32>) {
    match p {
        Prediction::Classes(c, p) => (c, p),
        Prediction::Values(_) => panic!("expected classes"),
    }
}

#[test]
fn heads_metrics_and_splits_match_scikit_learn() {
    let dir = tempfile::tempdir().unwrap();
    write_tables(dir.path());
    let tr = read(dir.path(), "train.csv", Task::Classification, "label");
    let te = read(dir.path(), "test.csv", Task::Classification, "label");
    let (Some(_), tessera_learn::Target::Class(y, _)) = (tr.target.classes(), &tr.target) else {
        panic!("classes");
    };
    let tess_y = te.target.clone();
    let tessera_learn::Target::Class(yt, _) = &tess_y else {
        panic!()
    };

    // Things sklearn evaluates for us: k-means from fixed centres, our MLP's weights, and
    // metric inputs (our kNN predictions with a class the truth lacks).
    let init: Vec<Vec<f32>> = (0..C).map(|i| tr.row(i * 37).to_vec()).collect();
    let mlp_opts = MlpOptions {
        hidden: vec![64, 32],
        epochs: 200,
        batch: 200,
        lr: 1e-3,
        weight_decay: 0.0,
        dropout: 0.0,
        seed: 3,
        standardize: true,
        ..MlpOptions::default()
    };
    let net = mlp::fit_classifier(&tr.x, D, y, C, &mlp_opts).unwrap();
    let knn = Head::fit(
        &HeadSpec::Knn {
            k: 7,
            metric: Metric::Euclidean,
            weights: Weights::Uniform,
        },
        &tr,
    )
    .unwrap();
    let (mut metric_pred, _) = classes(knn.predict(&te.x));
    for (i, p) in metric_pred.iter_mut().enumerate() {
        if i % 50 == 7 {
            *p = 6;
        }
    }
    let value_truth: Vec<f64> = (0..50).map(|i| (i as f64 * 0.37).sin() * 4.0).collect();
    let value_pred: Vec<f64> = value_truth
        .iter()
        .enumerate()
        .map(|(i, v)| v + ((i * 7 % 5) as f64 - 2.0) * 0.3)
        .collect();
    let lr = logreg::fit(
        &tr.x,
        D,
        y,
        &vec![1.0; tr.n],
        C,
        &LogisticOptions {
            c: 0.5,
            tol: 1e-10,
            max_iter: 10_000,
        },
    );
    let ours = json!({
        "logreg_coef": lr.coef, "logreg_intercept": lr.intercept,
        "kmeans_init": init,
        "mlp": {"mean": net.mean, "std": net.std,
                "w": net.layers.iter().map(|l| l.w.chunks(l.n_out).map(<[f32]>::to_vec).collect::<Vec<_>>()).collect::<Vec<_>>(),
                "b": net.layers.iter().map(|l| l.b.clone()).collect::<Vec<_>>()},
        "metric_pred": metric_pred, "metric_truth": yt,
        "value_truth": value_truth, "value_pred": value_pred,
    });
    let ours_path = dir.path().join("ours.json");
    std::fs::write(&ours_path, ours.to_string()).unwrap();
    let sk: Value = serde_json::from_str(&tessera_testkit::run_python(
        include_str!("oracle_sklearn.py"),
        &[&dir.path().to_string_lossy(), &ours_path.to_string_lossy()],
    ))
    .unwrap();

    // Logistic regression: multinomial, binary, balanced.
    let opts = LogisticOptions {
        c: 0.5,
        tol: 1e-10,
        max_iter: 10_000,
    };
    println!(
        "logreg objective and max gradient: {}",
        sk["logreg_objective"]
    );
    assert!(
        lr.converged,
        "L-BFGS converged in {} iterations",
        lr.iterations
    );
    let e = max_rel(&lr.coef, &f64s(&sk["logreg"]["coef"]));
    println!(
        "logreg: coef max rel diff {e:.2e}, {} iterations",
        lr.iterations
    );
    // Ours is at least as good an optimum as sklearn's (objective and gradient), and the
    // coefficients agree to 1e-3.
    let ob = &sk["logreg_objective"];
    let (o_sk, o_us) = (
        ob["sklearn"].as_f64().unwrap(),
        ob["ours"].as_f64().unwrap(),
    );
    assert!(
        o_us <= o_sk * (1.0 + 1e-9),
        "objective {o_us} vs sklearn {o_sk}"
    );
    assert!(ob["ours_grad"].as_f64().unwrap() <= ob["sklearn_grad"].as_f64().unwrap().max(1e-9));
    assert!(ob["ours_grad"].as_f64().unwrap() < 1e-8);
    assert!(e < 1e-3, "coef {e}");
    let ie = max_rel(&lr.intercept, &f64s(&sk["logreg"]["intercept"]));
    assert!(ie < 1e-3, "intercept {ie}");
    let p: Vec<f64> = lr
        .predict_proba(&te.x)
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let pe = max_abs(&p, &f64s(&sk["logreg"]["proba"]));
    assert!(pe < 1e-4, "proba {pe}");
    let two: Vec<usize> = (0..tr.n).filter(|&i| y[i] < 2).collect();
    let sub = tr.select(&two);
    let tessera_learn::Target::Class(y2, _) = &sub.target else {
        panic!()
    };
    let lb = logreg::fit(
        &sub.x,
        D,
        y2,
        &vec![1.0; sub.n],
        2,
        &LogisticOptions { c: 2.0, ..opts },
    );
    assert_eq!(lb.coef.len(), D, "binary: one coefficient row");
    assert!(max_rel(&lb.coef, &f64s(&sk["logreg_binary"]["coef"])) < 1e-3);
    let pb: Vec<f64> = lb
        .predict_proba(&te.x)
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    assert!(max_abs(&pb, &f64s(&sk["logreg_binary"]["proba"])) < 1e-4);
    let bal = Head::fit(
        &HeadSpec::Logreg {
            opts,
            balanced: true,
        },
        &tr,
    )
    .unwrap();
    let Head::Logreg(bal) = bal else { panic!() };
    assert!(max_rel(&bal.coef, &f64s(&sk["logreg_balanced"]["coef"])) < 1e-3);

    // kNN: all four metric/weight combinations.
    for (metric, weights) in [
        (Metric::Euclidean, Weights::Uniform),
        (Metric::Euclidean, Weights::Distance),
        (Metric::Cosine, Weights::Uniform),
        (Metric::Cosine, Weights::Distance),
    ] {
        let key = format!("{metric:?}-{weights:?}").to_lowercase();
        let h = Head::fit(
            &HeadSpec::Knn {
                k: 7,
                metric,
                weights,
            },
            &tr,
        )
        .unwrap();
        let Head::Knn(k) = &h else { panic!() };
        let (pred, proba) = classes(h.predict(&te.x));
        let want: Vec<u32> = f64s(&sk["knn"][&key]["pred"])
            .iter()
            .map(|&v| v as u32)
            .collect();
        assert_eq!(pred, want, "{key}: predictions");
        let pr: Vec<f64> = proba.iter().map(|&v| f64::from(v)).collect();
        assert!(
            max_abs(&pr, &f64s(&sk["knn"][&key]["proba"])) < 1e-6,
            "{key}: proba"
        );
        let dist: Vec<f64> = (0..te.n)
            .flat_map(|i| k.neighbours(te.row(i)).into_iter().map(|n| n.0))
            .collect();
        assert!(
            max_rel(&dist, &f64s(&sk["knn"][&key]["dist"])) < 1e-5,
            "{key}: distances"
        );
    }

    // Nearest centroid.
    let h = Head::fit(
        &HeadSpec::Centroid {
            metric: Metric::Euclidean,
        },
        &tr,
    )
    .unwrap();
    let Head::Centroid(nc) = &h else { panic!() };
    let cen: Vec<f64> = nc.centroids.iter().map(|&v| f64::from(v)).collect();
    assert!(max_rel(&cen, &f64s(&sk["centroid"]["centroids"])) < 1e-6);
    let want: Vec<u32> = f64s(&sk["centroid"]["pred"])
        .iter()
        .map(|&v| v as u32)
        .collect();
    assert_eq!(classes(h.predict(&te.x)).0, want);

    // k-means from the same centres, and k-means++ inertia.
    let init64: Vec<f64> = init.iter().flatten().map(|&v| f64::from(v)).collect();
    let (centres, labels, inertia, _) = kmeans::lloyd(&tr.x, D, init64, 300, 0.0);
    let want: Vec<u32> = f64s(&sk["kmeans_init"]["labels"])
        .iter()
        .map(|&v| v as u32)
        .collect();
    assert_eq!(labels, want, "k-means labels from the same initial centres");
    assert!(max_rel(&centres, &f64s(&sk["kmeans_init"]["centers"])) < 1e-5);
    let ski = sk["kmeans_init"]["inertia"].as_f64().unwrap();
    assert!((inertia - ski).abs() / ski < 1e-6, "{inertia} vs {ski}");
    let km = kmeans::fit(
        &tr.x,
        D,
        &kmeans::KMeansOptions {
            k: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let skpp = sk["kmeans_pp"].as_f64().unwrap();
    println!("k-means++ inertia {:.3} vs sklearn {skpp:.3}", km.inertia);
    assert!(km.inertia <= skpp * 1.01, "{} vs {skpp}", km.inertia);

    // Metrics, to 1e-12, over the union of labels.
    let s = metrics::classification(yt, &metric_pred, 7);
    let m = &sk["metrics"];
    let close = |a: f64, b: &Value, what: &str| {
        let b = b.as_f64().unwrap();
        assert!((a - b).abs() < 1e-12, "{what}: {a} vs {b}");
    };
    close(s.accuracy, &m["accuracy"], "accuracy");
    close(s.balanced_accuracy, &m["balanced"], "balanced accuracy");
    close(s.macro_f1, &m["macro_f1"], "macro F1");
    close(s.weighted_f1, &m["weighted_f1"], "weighted F1");
    close(s.kappa, &m["kappa"], "kappa");
    let labels: Vec<usize> = f64s(&m["labels"]).iter().map(|&v| v as usize).collect();
    for (j, &l) in labels.iter().enumerate() {
        close(s.per_class[l].precision, &m["precision"][j], "precision");
        close(s.per_class[l].recall, &m["recall"][j], "recall");
        close(s.per_class[l].f1, &m["f1"][j], "f1");
        close(s.per_class[l].iou, &m["iou"][j], "iou");
        for (jj, &ll) in labels.iter().enumerate() {
            assert_eq!(
                s.confusion[l][ll] as f64,
                m["confusion"][j][jj].as_f64().unwrap()
            );
        }
    }
    let r = metrics::regression(&value_truth, &value_pred);
    close(r.r2, &sk["regression"]["r2"], "r2");
    close(r.rmse, &sk["regression"]["rmse"], "rmse");
    close(r.mae, &sk["regression"]["mae"], "mae");

    // Splits: GroupKFold and StratifiedGroupKFold (unshuffled) fold for fold.
    let groups: Vec<u64> = tr.groups.as_ref().unwrap().clone();
    // Our groups are dense ids by first appearance; sklearn sees the raw group values.
    let raw: Vec<u64> = {
        let text = std::fs::read_to_string(dir.path().join("train.csv")).unwrap();
        text.lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
            .collect()
    };
    assert_eq!(groups.len(), raw.len());
    let gk = split::group_kfold(&raw, 5).unwrap();
    let want: Vec<usize> = f64s(&sk["groupkfold"])
        .iter()
        .map(|&v| v as usize)
        .collect();
    assert_eq!(gk, want, "GroupKFold");
    let sg = split::stratified_group_kfold(y, C, &raw, 5, None).unwrap();
    let want: Vec<usize> = f64s(&sk["sgkf"]).iter().map(|&v| v as usize).collect();
    assert_eq!(sg, want, "StratifiedGroupKFold");

    // Random forest: accuracy within max(1.5 points, 3 sigma) of sklearn's 5-seed mean.
    let acc = |h: &Head| metrics::classification(yt, &classes(h.predict(&te.x)).0, C).accuracy;
    let rf = Head::fit(&HeadSpec::Forest(ForestOptions::default()), &tr).unwrap();
    let (skm, sks) = (
        sk["rf"]["mean"].as_f64().unwrap(),
        sk["rf"]["std"].as_f64().unwrap(),
    );
    let ours_rf = acc(&rf);
    println!("random forest accuracy {ours_rf:.4} vs sklearn {skm:.4} ± {sks:.4}");
    assert!(
        (ours_rf - skm).abs() <= (0.015f64).max(3.0 * sks),
        "{ours_rf} vs {skm}"
    );
    let rf2 = Head::fit(&HeadSpec::Forest(ForestOptions::default()), &tr).unwrap();
    assert_eq!(rf, rf2, "the same seed grows the same forest");
    let trv = read(dir.path(), "train.csv", Task::Regression, "value");
    let tev = read(dir.path(), "test.csv", Task::Regression, "value");
    let tessera_learn::Target::Value(vt) = &tev.target else {
        panic!()
    };
    let reg = forest::fit_regressor(
        &trv.x,
        D,
        match &trv.target {
            tessera_learn::Target::Value(v) => v,
            _ => panic!(),
        },
        &ForestOptions::default(),
    );
    let pv: Vec<f64> = reg
        .predict_raw(&tev.x)
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let r2 = metrics::regression(vt, &pv).r2;
    let skr2 = sk["rf_reg"]["mean"].as_f64().unwrap();
    println!("random forest regression R² {r2:.4} vs sklearn {skr2:.4}");
    assert!((r2 - skr2).abs() <= 0.02, "{r2} vs {skr2}");

    // MLP: our forward pass through sklearn's, and training accuracy near sklearn's.
    let fw: Vec<f64> = net.forward(&te.x).iter().map(|&v| f64::from(v)).collect();
    let fe = max_abs(&fw, &f64s(&sk["mlp_forward"]));
    assert!(fe < 1e-5, "MLP forward {fe}");
    let (mm, ms) = (
        sk["mlp_train"]["mean"].as_f64().unwrap(),
        sk["mlp_train"]["std"].as_f64().unwrap(),
    );
    let ours_mlp =
        metrics::classification(yt, &classes(Head::Mlp(net).predict(&te.x)).0, C).accuracy;
    println!("MLP accuracy {ours_mlp:.4} vs sklearn {mm:.4} ± {ms:.4}");
    assert!(
        (ours_mlp - mm).abs() <= 0.03f64.max(3.0 * ms),
        "{ours_mlp} vs {mm}"
    );
}
