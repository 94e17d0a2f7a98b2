//! `tessera train` and `tessera evaluate`: heads on a training table, with the spatial
//! cross-validation beside a random split.

use std::path::PathBuf;

use clap::Args;
use tessera_api::learn::{
    Cv, EvaluateReport, EvaluateRequest, HeadSpec, LearnError, TableOptions, Task, TrainReport,
    TrainRequest, evaluate, train,
};

use crate::cli::GlobalArgs;
use crate::exit::usage;

/// Hyper-parameters shared by `train` and `evaluate`.
#[derive(Debug, Clone, Args)]
pub struct HeadArgs {
    /// kNN: neighbours.
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    /// kNN and centroid: euclidean or cosine.
    #[arg(long, default_value = "euclidean")]
    pub metric: String,
    /// kNN: uniform or distance votes.
    #[arg(long, default_value = "uniform")]
    pub weights: String,
    /// Logistic regression: inverse regularisation strength.
    #[arg(long = "C", default_value_t = 1.0)]
    pub c: f64,
    /// Logistic regression and forests: weigh classes inversely to their frequency
    /// (`balanced`).
    #[arg(long)]
    pub class_weight: Option<String>,
    /// Forest: trees.
    #[arg(long, default_value_t = 100)]
    pub trees: usize,
    /// Forest: depth limit.
    #[arg(long)]
    pub max_depth: Option<usize>,
    /// Forest: features tried per split [default: sqrt(d) for classes, d for values].
    #[arg(long)]
    pub max_features: Option<usize>,
    /// MLP: hidden widths, comma-separated.
    #[arg(long, default_value = "128,64")]
    pub hidden: String,
    /// MLP: epochs.
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// MLP: learning rate (AdamW).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Seed of the head (forest bootstraps, MLP weights) and of the folds.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Logistic regression and MLP: stopping tolerance (scikit-learn's `tol`; 0 runs the
    /// MLP for every epoch).
    #[arg(long, default_value_t = 1e-4)]
    pub tol: f64,
    /// Logistic regression: iteration cap.
    #[arg(long, default_value_t = 1000)]
    pub max_iter: usize,
}

/// Reading the training table.
#[derive(Debug, Clone, Args)]
pub struct TableArgs {
    /// The training table: Parquet or CSV with emb_0..emb_N and a label column (what
    /// `tessera labels` and `tessera sample --points LABELS` write).
    pub table: Option<PathBuf>,
    /// The label column [default: label, class_name, class, class_id or value].
    #[arg(long, visible_alias = "value-field")]
    pub class_field: Option<String>,
    /// The group column (polygon id): rows of a group stay in one fold [default: group
    /// or polygon_id when present].
    #[arg(long)]
    pub group_field: Option<String>,
    /// classification, regression or auto (regression when the labels are more than 20
    /// distinct numbers).
    #[arg(long, default_value = "auto")]
    pub task: String,
    /// A class table (CSV id,name,colour or JSON) fixing ids, names and colours.
    #[arg(long)]
    pub classes: Option<PathBuf>,
    /// Cross-validation: auto (groups, else 1 km spatial blocks, else random), random,
    /// group, blocks:METRES, bbox:W,S,E,N or none.
    #[arg(long, default_value = "auto", allow_hyphen_values = true)]
    pub cv: String,
    /// Folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
}

/// How labels become training pixels (`tessera labels`, `tessera train --labels`).
#[derive(Debug, Clone, Args)]
pub struct LabelOpts {
    /// Pixels drawn per polygon at most.
    #[arg(long)]
    pub points_per_polygon: Option<usize>,
    /// Every pixel of every polygon (no budget, no balancing).
    #[arg(long)]
    pub all_pixels: bool,
    /// A polygon's pixels are all it touches, not only those whose centre it holds (as
    /// gdal_rasterize -at).
    #[arg(long)]
    pub all_touched: bool,
    /// The CRS of coordinates in label files that do not state one: CSV x,y (or lon,lat)
    /// columns, a Shapefile without .prj. EPSG:4326, EPSG:3857 or EPSG:326NN/327NN.
    #[arg(long, value_name = "EPSG")]
    pub crs: Option<String>,
    /// Polygon pixels per class: equal, sqrt (by the square root of the class's area),
    /// proportional or none.
    #[arg(long, default_value = "sqrt")]
    pub balance: String,
    /// Pixels drawn from polygons in all.
    #[arg(long, default_value_t = 200_000)]
    pub max_samples: usize,
    /// Pixels per class at least (when its polygons have them).
    #[arg(long, default_value_t = 50)]
    pub min_per_class: usize,
    /// The tiles directory embeddings are sampled from (downloaded there when missing).
    #[arg(long, default_value = "tessera-tiles")]
    pub tiles: PathBuf,
    /// Use only tiles already in --tiles.
    #[arg(long)]
    pub offline: bool,
    /// tiles or zarr (sample the dataset's store in place).
    #[arg(long, default_value = "tiles")]
    pub source: String,
    /// The Zarr store (with --source zarr).
    #[arg(long, value_name = "URL|PATH")]
    pub store_url: Option<String>,
    /// Seed of the draws.
    #[arg(long, default_value_t = 42)]
    pub label_seed: u64,
}

/// `tessera labels`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera labels fields.gpkg --class-field crop --year 2024 -o train.parquet
  tessera labels habitats.geojson --balance equal --max-samples 50000 -o train.parquet
  tessera labels points.csv --year 2024 -o train.csv

Polygons are rasterised on the UTM zone's 10 m grid (pixel centres inside, holes out); a
class's share of --max-samples follows --balance, at least --min-per-class. Points and
polygons in EPSG:4326, EPSG:3857 or a WGS84 UTM zone; reproject others first.")]
pub struct LabelsArgs {
    /// The label file: GeoJSON, GeoPackage, Shapefile (.shp + .prj + .dbf), CSV
    /// (lon,lat,...) or GeoParquet.
    pub labels: PathBuf,
    /// The table to write (.parquet or .csv).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Year of the embeddings.
    #[arg(long, default_value_t = 2024)]
    pub year: i32,
    /// The class field [default: label, class_name, class, classname or category].
    #[arg(long)]
    pub class_field: Option<String>,
    /// A numeric field to regress on instead of classes.
    #[arg(long)]
    pub value_field: Option<String>,
    /// A class table (CSV id,name,colour or JSON) fixing ids and colours.
    #[arg(long)]
    pub classes: Option<PathBuf>,
    #[command(flatten)]
    pub opts: LabelOpts,
    /// Dataset selection.
    #[command(flatten)]
    pub dataset: crate::cli::DatasetSelect,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tessera train`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera sample --points labels.geojson --year 2024 -o train.parquet
  tessera train train.parquet --head rf -o model.safetensors
  tessera train train.parquet --head logreg --C 10 --cv blocks:2000 --report report.json

The spatial score (folds of 1 km blocks, or of polygons) is printed beside the score of
random folds: the gap is how optimistic a random split would have been. The model file is
safetensors; its metadata key \"tessera\" holds the head, classes and the CV report.")]
pub struct TrainArgs {
    #[command(flatten)]
    pub table: TableArgs,
    /// Train straight from a label file (points or polygons, as `tessera labels` takes
    /// it) instead of a table; the table is kept beside the model (MODEL.labels.parquet).
    #[arg(long, conflicts_with = "table")]
    pub labels: Option<PathBuf>,
    #[command(flatten)]
    pub label_opts: LabelOpts,
    /// The head: centroid, knn, logreg, rf or mlp.
    #[arg(long, default_value = "rf")]
    pub head: String,
    #[command(flatten)]
    pub params: HeadArgs,
    /// Where to write the model (.safetensors).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write the out-of-fold predictions (Parquet: row, fold, truth, prediction, p_*).
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Dataset version of the embeddings, recorded in the model.
    #[arg(long, default_value = "v1.1")]
    pub dataset_version: String,
    /// Year of the labels, recorded in the model.
    #[arg(long)]
    pub year: Option<i32>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `tessera evaluate`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera evaluate train.parquet --heads centroid,knn,logreg,rf
  tessera evaluate train.parquet --heads rf --per-class 1,5,10,20,50 --repeats 5")]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub table: TableArgs,
    /// Heads to compare, comma-separated.
    #[arg(long, default_value = "centroid,knn,logreg,rf")]
    pub heads: String,
    #[command(flatten)]
    pub params: HeadArgs,
    /// A learning curve: labels per class, comma-separated (e.g. 1,5,10,20,50).
    #[arg(long)]
    pub per_class: Option<String>,
    /// Draws per learning-curve point.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Write the report as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write the first head's out-of-fold predictions (Parquet).
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `--crs` of coordinates in input files: EPSG:4326, EPSG:3857 or a WGS84 UTM zone.
pub fn points_crs(s: Option<&str>) -> anyhow::Result<Option<tessera_core::Crs>> {
    let Some(s) = s else { return Ok(None) };
    s.parse::<tessera_core::Crs>().map(Some).map_err(|_| {
        usage(format!(
            "--crs {s}: coordinates are read in EPSG:4326, EPSG:3857 or a WGS84 UTM zone \
             (EPSG:326NN/327NN); reproject the file first (QGIS: Reproject Layer, or \
             ogr2ogr -t_srs EPSG:4326)"
        ))
    })
}

fn learn_err(e: LearnError) -> anyhow::Error {
    match e {
        LearnError::Usage(m) => usage(m),
        LearnError::Cancelled => anyhow::Error::new(tessera_client::ClientError::Cancelled),
        other => anyhow::anyhow!("{other}"),
    }
}

fn spec_of(name: &str, p: &HeadArgs) -> anyhow::Result<HeadSpec> {
    let params = tessera_api::learn::HeadParams {
        k: p.k,
        metric: p.metric.clone(),
        weights: p.weights.clone(),
        c: p.c,
        class_weight: p.class_weight.clone(),
        trees: p.trees,
        max_depth: p.max_depth,
        max_features: p.max_features,
        hidden: p.hidden.clone(),
        epochs: p.epochs,
        lr: p.lr,
        seed: p.seed,
        tol: p.tol,
        max_iter: p.max_iter,
    };
    HeadSpec::build(name, &params).map_err(learn_err)
}

fn table_opts(t: &TableArgs) -> anyhow::Result<TableOptions> {
    let task = match t.task.as_str() {
        "auto" => Task::Auto,
        "classification" | "classes" => Task::Classification,
        "regression" | "values" => Task::Regression,
        o => {
            return Err(usage(format!(
                "--task '{o}': use auto, classification or regression"
            )));
        }
    };
    let classes = match &t.classes {
        Some(p) => Some(tessera_api::learn::ClassTable::read(p).map_err(learn_err)?),
        None => None,
    };
    if t.folds < 2 {
        return Err(usage("--folds must be at least 2"));
    }
    Ok(TableOptions {
        label_field: t.class_field.clone(),
        group_field: t.group_field.clone(),
        task,
        classes,
    })
}

fn check_out(p: &Option<PathBuf>) -> anyhow::Result<()> {
    if let Some(p) = p
        && let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty())
        && !d.is_dir()
    {
        return Err(usage(format!(
            "{}: the directory {} does not exist",
            p.display(),
            d.display()
        )));
    }
    Ok(())
}

fn write_json(path: &std::path::Path, v: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(v)? + "\n";
    tessera_formats::atomic::write_atomic(path, |w| std::io::Write::write_all(w, text.as_bytes()))
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[allow(clippy::too_many_arguments)]
fn label_request(
    labels: &std::path::Path,
    output: PathBuf,
    year: i32,
    class_field: Option<String>,
    value_field: Option<String>,
    classes: Option<PathBuf>,
    o: &LabelOpts,
    dataset: &crate::cli::DatasetSelect,
    g: &GlobalArgs,
    ctx: &tessera_api::Context,
) -> anyhow::Result<tessera_api::learn::LabelsRequest> {
    use tessera_api::learn::{Balance, DataSource};
    let mut balance: Balance = o.balance.parse().map_err(usage)?;
    if o.all_pixels {
        balance = Balance::None;
    }
    if o.max_samples == 0 {
        return Err(usage("--max-samples must be at least 1"));
    }
    let source = match o.source.to_ascii_lowercase().as_str() {
        "tiles" => DataSource::Tiles {
            dir: o.tiles.clone(),
            offline: o.offline,
        },
        "zarr" => DataSource::Zarr {
            store: crate::commands::zarr::store_ref(ctx, o.store_url.as_deref(), dataset, g)?,
            depth: None,
        },
        other => {
            return Err(usage(format!(
                "--source must be tiles or zarr, got '{other}'"
            )));
        }
    };
    Ok(tessera_api::learn::LabelsRequest {
        labels: labels.to_path_buf(),
        year,
        class_field,
        value_field,
        points_per_polygon: if o.all_pixels {
            None
        } else {
            o.points_per_polygon
        },
        all_touched: o.all_touched,
        crs: points_crs(o.crs.as_deref())?,
        balance,
        max_samples: o.max_samples,
        min_per_class: o.min_per_class,
        classes,
        seed: o.label_seed,
        source,
        output,
    })
}

fn print_labels(r: &tessera_api::learn::LabelsReport) {
    println!(
        "labels     {} features ({} points, {} polygons), field \"{}\", {}{}",
        r.features,
        r.points,
        r.polygons,
        r.field,
        r.task,
        if r.unlabelled > 0 {
            format!("; {} without a label skipped", r.unlabelled)
        } else {
            String::new()
        }
    );
    println!(
        "pixels     {} drawn: {} outside coverage, {} water/nodata, {} duplicate pixels merged, {} conflicts",
        r.drawn, r.outside, r.nodata, r.duplicates, r.conflicts
    );
    if !r.classes.is_empty() {
        let parts: Vec<String> = r
            .classes
            .iter()
            .map(|c| format!("{} {}", c.name, c.rows))
            .collect();
        println!("classes    {}", parts.join(" | "));
    }
    println!("table      {} ({} rows)", r.output.display(), r.rows);
}

pub fn run_labels(a: &LabelsArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let ctx = crate::commands::common::context(g)?;
    let req = label_request(
        &a.labels,
        a.output.clone(),
        a.year,
        a.class_field.clone(),
        a.value_field.clone(),
        a.classes.clone(),
        &a.opts,
        &a.dataset,
        g,
        &ctx,
    )?;
    let ds = crate::commands::common::dataset_options(&a.dataset, None);
    let p = tessera_api::Progress::new();
    let r = if g.quiet || a.json {
        tessera_api::learn::labels(&ctx, &ds, &req, &p)
    } else {
        crate::commands::progress::watch(&p, || tessera_api::learn::labels(&ctx, &ds, &req, &p))
    };
    crate::commands::common::print_notes(g, &p);
    let r = r.map_err(crate::commands::common::cli_err)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_labels(&r);
    }
    Ok(())
}

pub fn run_train(a: &TrainArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let spec = spec_of(&a.head, &a.params)?;
    let cv = Cv::parse(&a.table.cv).map_err(learn_err)?;
    for p in [&a.output, &a.report, &a.predictions] {
        check_out(p)?;
    }
    if a.output
        .as_ref()
        .is_some_and(|p| p.extension().and_then(|e| e.to_str()) != Some("safetensors"))
    {
        return Err(usage("-o: a model file ends in .safetensors"));
    }
    let table = match (&a.table.table, &a.labels) {
        (Some(t), None) => t.clone(),
        (None, Some(_)) => a
            .output
            .as_deref()
            .map(tessera_api::learn::labels::table_beside)
            .unwrap_or_else(|| PathBuf::from("labels.parquet")),
        _ => {
            return Err(usage(
                "give a training table, or a label file with --labels",
            ));
        }
    };
    let req = TrainRequest {
        table,
        table_opts: table_opts(&a.table)?,
        spec,
        cv,
        folds: a.table.folds,
        seed: a.params.seed,
        model: a.output.clone(),
        predictions: a.predictions.clone(),
        dataset_version: Some(a.dataset_version.clone()),
        year: a.year,
    };
    let mut labelled = None;
    let rep = match &a.labels {
        None => train(&req, &|| tessera_client::cancel::requested()).map_err(learn_err)?,
        Some(l) => {
            let year = a
                .year
                .ok_or_else(|| usage("--labels needs --year: the year of the embeddings"))?;
            let ctx = crate::commands::common::context(g)?;
            let dsel = crate::cli::DatasetSelect {
                dataset_version: a.dataset_version.clone(),
                dataset_variant: None,
            };
            let lreq = label_request(
                l,
                req.table.clone(),
                year,
                a.table.class_field.clone(),
                None,
                a.table.classes.clone(),
                &a.label_opts,
                &dsel,
                g,
                &ctx,
            )?;
            let ds = crate::commands::common::dataset_options(&dsel, None);
            let p = tessera_api::Progress::new();
            let r = tessera_api::learn::train_from_labels(&ctx, &ds, &lreq, &req, &p);
            crate::commands::common::print_notes(g, &p);
            let (lr, tr) = r.map_err(crate::commands::common::cli_err)?;
            labelled = Some(lr);
            tr
        }
    };
    let mut v = serde_json::to_value(&rep)?;
    if let Some(l) = &labelled {
        v["labels"] = serde_json::to_value(l)?;
        if !a.json && !g.silent {
            print_labels(l);
        }
    }
    if let Some(p) = &a.report {
        write_json(p, &v)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if !g.silent {
        print_train(&rep, g);
    }
    Ok(())
}

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "n/a".into()
    }
}

fn print_train(r: &TrainReport, g: &GlobalArgs) {
    for n in &r.notes {
        eprintln!("note: {n}");
    }
    println!(
        "labels     {} rows, field \"{}\", {} dimensions, {}",
        r.rows, r.label_field, r.dims, r.task
    );
    if !r.classes.is_empty() {
        let counts: Vec<String> = r.classes.iter().map(|(n, c)| format!("{n} {c}")).collect();
        let (mn, mx) = r
            .classes
            .iter()
            .filter(|c| c.1 > 0)
            .fold((usize::MAX, 0), |a, c| (a.0.min(c.1), a.1.max(c.1)));
        println!(
            "classes    {}   (imbalance {}:1)",
            counts.join(" | "),
            mx / mn.max(1)
        );
    }
    println!("head       {}   (fit {:.2} s)", r.head, r.fit_seconds);
    print_splits(&r.spatial, &r.random, r.oob_score);
    if g.verbose
        && let Some(s) = &r.spatial
        && let Some(c) = s.outcome.pooled.class()
    {
        println!("confusion matrix (rows = reference, columns = predicted):");
        for row in &c.confusion {
            println!(
                "  {}",
                row.iter()
                    .map(|v| format!("{v:6}"))
                    .collect::<Vec<_>>()
                    .join("")
            );
        }
    }
    if let Some((p, size)) = &r.model {
        println!("model      {} ({})", p.display(), human_bytes(*size));
    }
}

fn human_bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MB", b as f64 / 1048576.0)
    } else {
        format!("{:.1} kB", b as f64 / 1024.0)
    }
}

fn print_splits(
    spatial: &Option<tessera_api::learn::SplitReport>,
    random: &Option<tessera_api::learn::SplitReport>,
    oob: Option<f64>,
) {
    let Some(s) = spatial else {
        println!("split      none (no cross-validation)");
        return;
    };
    println!("split      {}-fold, {}", s.outcome.folds, s.split);
    let names: &[(&str, &str)] = &[
        ("accuracy", "overall accuracy"),
        ("balanced_accuracy", "balanced accuracy"),
        ("macro_f1", "macro F1"),
        ("weighted_f1", "weighted F1"),
        ("kappa", "Cohen's kappa"),
        ("r2", "R²"),
        ("rmse", "RMSE"),
        ("mae", "MAE"),
        ("bias", "bias"),
    ];
    println!(
        "{:20}{:>22}{:>22}{:>12}",
        "",
        if s.split == "random folds" {
            "random"
        } else {
            "spatial"
        },
        if random.is_some() { "random" } else { "" },
        if random.is_some() { "optimism" } else { "" }
    );
    for (key, label) in names {
        let Some((_, m, sd)) = s.outcome.summary.iter().find(|x| x.0 == *key) else {
            continue;
        };
        let rnd = random.as_ref().and_then(|r| r.outcome.mean(key));
        let opt = match (rnd, *key) {
            (Some(rv), "accuracy" | "balanced_accuracy" | "macro_f1" | "weighted_f1" | "r2") => {
                format!("{:+.1} points", (rv - m) * 100.0)
            }
            _ => String::new(),
        };
        println!(
            "{:20}{:>22}{:>22}{:>12}",
            label,
            format!("{} ± {}", pct(*m), pct(*sd)),
            rnd.map(pct).unwrap_or_default(),
            opt
        );
    }
    if let Some(o) = oob {
        println!(
            "{:20}{:>22}   (bootstrap ignores space: random-like)",
            "OOB score",
            pct(o)
        );
    }
    if let Some(c) = s.outcome.pooled.class() {
        println!(
            "{:14}{:>9}{:>11}{:>9}{:>8}{:>8}",
            "class", "support", "precision", "recall", "F1", "IoU"
        );
        let names = s_class_names(s);
        for (i, pc) in c.per_class.iter().enumerate() {
            if pc.support == 0 && pc.predicted == 0 {
                continue;
            }
            println!(
                "{:14}{:>9}{:>11.3}{:>9.3}{:>8.3}{:>8.3}",
                names.get(i).cloned().unwrap_or_else(|| i.to_string()),
                pc.support,
                pc.precision,
                pc.recall,
                pc.f1,
                pc.iou
            );
        }
    }
}

fn s_class_names(s: &tessera_api::learn::SplitReport) -> Vec<String> {
    s.outcome.class_names.clone()
}

pub fn run_evaluate(a: &EvaluateArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let heads = a
        .heads
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|h| spec_of(h, &a.params))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if heads.is_empty() {
        return Err(usage("--heads: name at least one head"));
    }
    let per_class = match &a.per_class {
        None => Vec::new(),
        Some(s) => s
            .split(',')
            .map(|v| v.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .ok()
            .filter(|v| !v.contains(&0))
            .ok_or_else(|| usage(format!("--per-class '{s}': counts like 1,5,10,20")))?,
    };
    for p in [&a.report, &a.predictions] {
        check_out(p)?;
    }
    let req = EvaluateRequest {
        table: a
            .table
            .table
            .clone()
            .ok_or_else(|| usage("give the training table to evaluate"))?,
        table_opts: table_opts(&a.table)?,
        heads,
        cv: Cv::parse(&a.table.cv).map_err(learn_err)?,
        folds: a.table.folds,
        seed: a.params.seed,
        per_class,
        repeats: a.repeats,
        predictions: a.predictions.clone(),
    };
    let rep = evaluate(&req, &|| tessera_client::cancel::requested()).map_err(learn_err)?;
    let v = serde_json::to_value(&rep)?;
    if let Some(p) = &a.report {
        write_json(p, &v)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if !g.silent {
        print_evaluate(&rep);
    }
    Ok(())
}

fn print_evaluate(r: &EvaluateReport) {
    for n in &r.notes {
        eprintln!("note: {n}");
    }
    println!("{} rows, {} classes", r.rows, r.classes.len());
    let split = r
        .heads
        .first()
        .and_then(|h| h.spatial.as_ref())
        .map(|s| format!("{}-fold, {}", s.outcome.folds, s.split))
        .unwrap_or_default();
    println!("split: {split}");
    let key = if r.classes.is_empty() {
        "r2"
    } else {
        "accuracy"
    };
    println!(
        "{:10}{:>20}{:>12}{:>20}{:>10}{:>9}",
        "head",
        format!("spatial {key}"),
        "random",
        "spatial macro F1",
        "optimism",
        "seconds"
    );
    for h in &r.heads {
        let s = h.spatial.as_ref().map(|s| &s.outcome);
        let m = s.and_then(|o| o.summary.iter().find(|x| x.0 == key).cloned());
        let f1 = s.and_then(|o| o.mean("macro_f1"));
        let rnd = h.random.as_ref().and_then(|o| o.outcome.mean(key));
        println!(
            "{:10}{:>20}{:>12}{:>20}{:>10}{:>9.2}",
            h.head,
            m.as_ref()
                .map(|m| format!("{} ± {}", pct(m.1), pct(m.2)))
                .unwrap_or_default(),
            rnd.map(pct).unwrap_or_default(),
            f1.map(pct).unwrap_or_default(),
            match (rnd, &m) {
                (Some(r), Some(m)) => format!("{:+.1}", (r - m.1) * 100.0),
                _ => String::new(),
            },
            h.seconds
        );
    }
    for h in r.heads.iter().filter(|h| !h.curve.is_empty()) {
        println!("learning curve, {} ({key} on the spatial folds):", h.head);
        println!(
            "{:>12}{:>12}{:>20}{:>10}",
            "per class", "train rows", key, "macro F1"
        );
        for p in &h.curve {
            println!(
                "{:>12}{:>12.0}{:>20}{:>10}",
                p.per_class,
                p.train_rows,
                format!("{} ± {}", pct(p.mean), pct(p.std)),
                pct(p.macro_f1)
            );
        }
    }
}
