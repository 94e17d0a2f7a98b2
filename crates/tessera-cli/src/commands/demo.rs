//! `tessera demo`: the whole workflow on built-in synthetic data, offline.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde_json::json;
use tessera_api::tiles::{
    Column, DatasetOptions, SampleSource, TileDataset, read_points, write_samples,
};
use tessera_api::{Context, ContextOptions, Progress};
use tessera_core::Bbox;
use tessera_server::{MirrorServer, ServerConfig};
use tessera_synth::{SynthOptions, synthesize};

use crate::cli::{DatasetSelect, DemoArgs, DownloadArgs, GlobalArgs, RegionSelect};
use crate::commands::common::{cli_err, human};
use crate::commands::download;
use crate::exit::usage;

const BBOX: &str = "-0.05,51.41,0.05,51.49";
const YEAR: i32 = 2024;

fn dir_size(p: &Path) -> (usize, u64) {
    let mut files = 0;
    let mut bytes = 0;
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            let (f, b) = dir_size(&path);
            files += f;
            bytes += b;
        } else if let Ok(m) = e.metadata() {
            files += 1;
            bytes += m.len();
        }
    }
    (files, bytes)
}

pub fn run(a: &DemoArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let w = &a.workdir;
    crate::commands::common::prepare_output(w)?;
    let say = |s: &str| {
        if !a.json && !g.quiet {
            println!("{s}");
        }
    };
    // 1. A synthetic mirror (reused when already built with the same parameters).
    let mirror_dir = w.join("mirror");
    let t = Instant::now();
    let bbox = Bbox::new(-0.05, 51.41, 0.05, 51.49).map_err(|e| usage(e.to_string()))?;
    let params = mirror_dir.join("synth.json");
    let reuse = std::fs::read_to_string(&params)
        .is_ok_and(|p| p.contains("\"seed\": 42") && p.contains("-0.05"));
    say(&format!(
        "1/6 Building a synthetic mirror in {} ...",
        mirror_dir.display()
    ));
    if !reuse {
        let mut o = SynthOptions::new(&mirror_dir, bbox);
        o.years = vec![YEAR];
        o.datasets = vec!["v1.1-cam".into()];
        o.missing_rate = 0.0;
        synthesize(&o, &|_, _, _| {}).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let (mfiles, mbytes) = dir_size(&mirror_dir);
    let synth_secs = t.elapsed().as_secs_f64();
    say(&format!(
        "    {mfiles} files, {} in {synth_secs:.1} s{}",
        human(mbytes),
        if reuse { " (reused)" } else { "" }
    ));

    // 2. Serve it on loopback.
    let server =
        MirrorServer::start(ServerConfig::new(&mirror_dir)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let url = server.url();
    say(&format!(
        "2/6 Serving it at {url} (S3-like: Range, ETag, CRC64NVMe)"
    ));

    // 3. Download the region as GeoTIFFs through the server.
    let out = w.join("download");
    let _ = std::fs::remove_dir_all(&out);
    let dg = GlobalArgs {
        mirror: Some(url.clone()),
        cache_dir: Some(w.join("cache")),
        verbose: false,
        quiet: true,
        stall_timeout: 30,
        deadline: None,
        follow_redirects: false,
        via_gateway: false,
        silent: true,
    };
    let da = DownloadArgs {
        output: Some(out.clone()),
        region: RegionSelect {
            bbox: Some(BBOX.into()),
            ..Default::default()
        },
        format: "tiff".into(),
        year: YEAR,
        bands: None,
        compress: "zstd:1".into(),
        dataset: DatasetSelect {
            dataset_version: "v1.1".into(),
            dataset_variant: Some("cambridge".into()),
        },
        registry_dir: None,
        source: "tiles".into(),
        store_url: None,
        depth: None,
        memory_mb: 512,
        dry_run: false,
        list_files: false,
        jobs: 8,
        json: false,
    };
    say(&format!(
        "3/6 Downloading bbox {BBOX} ({YEAR}) as GeoTIFF into {} ...",
        out.display()
    ));
    let done = download::execute(&da, &dg)?
        .ok_or_else(|| anyhow::anyhow!("the demo region has no tiles"))?;
    let tiff_bytes: u64 = done.geotiffs.iter().map(|(_, n)| n).sum();
    say(&format!(
        "    fetched {} files ({}) in {:.2} s, verified; exported {} GeoTIFFs ({}) in {:.2} s",
        done.files,
        human(done.bytes),
        done.download_secs,
        done.geotiffs.len(),
        human(tiff_bytes),
        done.export_secs
    ));
    for (p, _) in &done.geotiffs {
        say(&format!("    {}", p.display()));
    }

    // 4. Sample the labelled points of the ground truth with range reads.
    let labels = mirror_dir.join(format!("truth/{YEAR}/labels.geojson"));
    let samples_path = w.join("samples.csv");
    say(&format!(
        "4/6 Sampling the labelled points {} over HTTP ...",
        labels.display()
    ));
    let t = Instant::now();
    let table = read_points(&labels).map_err(cli_err)?;
    let ctx = Context::open(ContextOptions {
        mirror: Some(url.clone()),
        cache_dir: Some(w.join("cache")),
        ..Default::default()
    })
    .map_err(cli_err)?;
    let p = Progress::new();
    let reader = TileDataset::open(
        &ctx,
        &DatasetOptions {
            version: "v1.1".into(),
            variant: Some("cambridge".into()),
            ..Default::default()
        },
        &p,
    )
    .map_err(cli_err)?;
    let s = reader
        .sample_points(
            &table.lon,
            &table.lat,
            YEAR,
            &SampleSource::Mirror { jobs: 16 },
            &p,
        )
        .map_err(cli_err)?;
    write_samples(&samples_path, &table, &s.values, s.bands, Some(&s.meta)).map_err(cli_err)?;
    let sample_secs = t.elapsed().as_secs_f64();
    say(&format!(
        "    {} of {} points in {:.2} s: {} read in {} range requests (whole tiles would be {})",
        s.covered,
        table.len(),
        sample_secs,
        human(s.bytes_fetched),
        s.requests,
        human(done.bytes)
    ));
    // What the embeddings know: nearest class centroid, fitted on every other label.
    let classes: Vec<Option<i64>> = table
        .columns
        .iter()
        .find_map(|c| match c {
            Column::Int(n, v) if n == "class" => Some(v.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let accuracy = nearest_centroid(&classes, &s.values, s.bands);
    if let Some((acc, n, k)) = accuracy {
        say(&format!(
            "    a nearest-centroid classifier fitted on half the labels gets {:.1}% of the other {n} right ({k} classes)",
            acc * 100.0
        ));
    }
    say(&format!(
        "    samples with their labels: {}",
        samples_path.display()
    ));
    server.stop();

    // 5. A picture of the region: PCA false colour of the GeoTIFFs just written.
    let pca_path = w.join("pca.tif");
    say(&format!(
        "5/6 Drawing the region in PCA false colour into {} ...",
        pca_path.display()
    ));
    let t = Instant::now();
    let pic = tessera_api::visualize::visualize(
        &tessera_api::visualize::VisualizeRequest {
            input: out.clone(),
            output: pca_path.clone(),
            crs: tessera_core::Crs::WebMercator,
            n_components: 3,
            balance: tessera_api::visualize::Balance::Histogram,
            memory_bytes: 256 << 20,
            quicklook_px: Some(1024),
            cog: false,
        },
        &Progress::new(),
    )
    .map_err(cli_err)?;
    let pca_secs = t.elapsed().as_secs_f64();
    let quicklook = pic.quicklook.clone().unwrap_or_default();
    say(&format!(
        "    {} x {} pixels from {} tiles in {:.2} s; open the quicklook {} in any image viewer",
        pic.grid.width,
        pic.grid.height,
        pic.inputs,
        pca_secs,
        quicklook.display()
    ));
    // ... and as a web map of it.
    let map_dir = w.join("webmap");
    let t = Instant::now();
    let map = tessera_api::webmap::webmap(
        &tessera_api::webmap::WebmapRequest {
            output: Some(map_dir.clone()),
            min_zoom: 10,
            max_zoom: 14,
            initial_zoom: 12,
            ..tessera_api::webmap::WebmapRequest::new(&pca_path)
        },
        &Progress::new(),
    )
    .map_err(cli_err)?;
    say(&format!(
        "    a web map of it ({} tiles, zoom 10-14) in {:.2} s; open it with: tessera serve {} --html viewer.html --open",
        map.tiles,
        t.elapsed().as_secs_f64(),
        map_dir.display()
    ));

    // 6. Learning: a random forest on the labels, checked by spatial cross-validation, its
    // class map of the region, and a map of what looks like water.
    say("6/6 Training a random forest on the labels, mapping the region ...");
    let t = Instant::now();
    let model_path = w.join("rf.safetensors");
    let trained = tessera_api::learn::train(
        &tessera_api::learn::TrainRequest {
            table: samples_path.clone(),
            table_opts: tessera_api::learn::TableOptions {
                label_field: Some("class_name".into()),
                ..Default::default()
            },
            spec: tessera_api::learn::HeadSpec::named("rf").map_err(|e| anyhow::anyhow!("{e}"))?,
            cv: tessera_api::learn::Cv::Auto,
            folds: 5,
            seed: 42,
            model: Some(model_path.clone()),
            predictions: None,
            dataset_version: Some("v1.1".into()),
            year: Some(YEAR),
        },
        &|| false,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let acc = |r: &Option<tessera_api::learn::SplitReport>| {
        r.as_ref()
            .and_then(|s| s.outcome.mean("accuracy"))
            .unwrap_or(f64::NAN)
    };
    let (spatial_acc, random_acc) = (acc(&trained.spatial), acc(&trained.random));
    say(&format!(
        "    {} labels, {} classes: spatial-CV accuracy {:.1}% ({}), random folds {:.1}% (the gap is the optimism of a random split)",
        trained.rows,
        trained.classes.len(),
        spatial_acc * 100.0,
        trained.spatial.as_ref().map_or("-", |s| s.split.as_str()),
        random_acc * 100.0
    ));
    let local = Context::open(ContextOptions {
        mirror: Some(mirror_dir.display().to_string()),
        cache_dir: Some(w.join("cache")),
        ..Default::default()
    })
    .map_err(cli_err)?;
    let dopts = DatasetOptions {
        version: "v1.1".into(),
        variant: Some("cambridge".into()),
        ..Default::default()
    };
    let map_req = |output: std::path::PathBuf| tessera_api::learn::MapRequest {
        region: tessera_api::tiles::RegionArgs {
            bbox: Some(BBOX.into()),
            ..Default::default()
        },
        year: YEAR,
        source: tessera_api::learn::DataSource::Tiles {
            dir: w.join("npy"),
            offline: false,
        },
        crs: Some(tessera_pictures::CrsChoice::Crs(
            tessera_core::Crs::WebMercator,
        )),
        resolution: None,
        memory_bytes: 256 << 20,
        png: true,
        output,
    };
    let class_map = tessera_api::learn::predict(
        &local,
        &dopts,
        &map_req(w.join("classes.tif")),
        &tessera_api::learn::PredictOptions {
            model: model_path.clone(),
            ..Default::default()
        },
        &Progress::new(),
    )
    .map_err(cli_err)?;
    let water: Vec<(f64, f64)> = table
        .columns
        .iter()
        .find_map(|c| match c {
            Column::Text(n, v) if n == "class_name" => Some(v.clone()),
            _ => None,
        })
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, v)| v.as_deref() == Some("water"))
        .take(3)
        .map(|(i, _)| (table.lon[i], table.lat[i]))
        .collect();
    let sim = if water.is_empty() {
        None
    } else {
        Some(
            tessera_api::learn::similar(
                &local,
                &dopts,
                &map_req(w.join("water_similarity.tif")),
                &tessera_api::learn::SimilarOptions {
                    positives: water,
                    negatives: Vec::new(),
                    positive_file: None,
                    negative_file: None,
                    examples_crs: None,
                    method: tessera_api::learn::SimilarityMethod::MeanCosine,
                    threshold: Some(0.9),
                    top: 0,
                    min_group_pixels: 100,
                },
                &Progress::new(),
            )
            .map_err(cli_err)?,
        )
    };
    let learn_secs = t.elapsed().as_secs_f64();
    for f in &class_map.files {
        say(&format!(
            "    class map {} ({} x {} px, colour table and class names; legend {}), quicklook {}",
            f.path.display(),
            f.width,
            f.height,
            f.path.with_extension("legend.csv").display(),
            f.path.with_extension("png").display()
        ));
    }
    if let Some(s) = &sim {
        for f in &s.files {
            say(&format!(
                "    similarity to 3 water labels {} ({} pixels >= 0.9), quicklook {}",
                f.path.display(),
                f.above,
                f.path.with_extension("png").display()
            ));
        }
    }
    say(&format!("    in {learn_secs:.2} s"));
    let (cfiles, cbytes) = dir_size(&w.join("cache"));
    if a.json {
        println!(
            "{}",
            json!({
                "workdir": w, "mirror": {"dir": mirror_dir, "files": mfiles, "bytes": mbytes, "seconds": synth_secs, "reused": reuse},
                "download": {"dir": out, "files": done.files, "bytes": done.bytes, "seconds": done.download_secs,
                             "geotiffs": done.geotiffs.iter().map(|(p, n)| json!({"path": p, "bytes": n})).collect::<Vec<_>>(),
                             "export_seconds": done.export_secs},
                "sample": {"output": samples_path, "points": table.len(), "sampled": s.covered, "bytes": s.bytes_fetched,
                           "requests": s.requests, "seconds": sample_secs,
                           "accuracy": accuracy.map(|a| a.0)},
                "pca": {"output": pic.path, "quicklook": pic.quicklook, "width": pic.grid.width,
                        "height": pic.grid.height, "seconds": pca_secs},
                "webmap": {"dir": map.output, "viewer": map.viewer, "tiles": map.tiles, "reused": map.reused},
                "learn": {"model": model_path, "rows": trained.rows, "spatial_accuracy": spatial_acc,
                          "random_accuracy": random_acc, "class_map": class_map.files.first().map(|f| &f.path),
                          "similarity": sim.as_ref().and_then(|s| s.files.first().map(|f| &f.path)),
                          "seconds": learn_secs},
                "cache": {"files": cfiles, "bytes": cbytes},
            })
        );
    } else {
        // Commands that work as printed: against the demo's mirror directory (offline; the
        // demo's server is gone), on what the demo wrote.
        let m = mirror_dir.display();
        say("Done. Next (these work as printed, offline, on the demo's mirror):");
        say(&format!("  tessera --mirror {m} info"));
        say(&format!("  tessera info --tiles {}", out.display()));
        say(&format!(
            "  tessera --mirror {m} download --bbox {BBOX} --year {YEAR} -f npy -o {}",
            w.join("npy").display()
        ));
        say(&format!(
            "  tessera --mirror {m} sample --points {} --year {YEAR} -o {}",
            mirror_dir
                .join(format!("truth/{YEAR}/labels.geojson"))
                .display(),
            w.join("my_samples.csv").display()
        ));
        say(&format!(
            "  tessera --mirror {m} predict --model {} --bbox {BBOX} --year {YEAR} --tiles {} -o {} --png",
            model_path.display(),
            w.join("npy").display(),
            w.join("my_classes.tif").display()
        ));
        say(&format!(
            "  tessera mirror serve {m}    (serves it on http://127.0.0.1:8000 for --mirror)"
        ));
    }
    Ok(())
}

/// Accuracy of a nearest-centroid classifier fitted on even-indexed labelled points and
/// tested on the odd ones: (accuracy, tested, classes).
fn nearest_centroid(
    classes: &[Option<i64>],
    values: &[f32],
    bands: usize,
) -> Option<(f64, usize, usize)> {
    let mut sums: BTreeMap<i64, (Vec<f64>, usize)> = BTreeMap::new();
    let valid = |i: usize| values[i * bands].is_finite();
    for (i, c) in classes.iter().enumerate().step_by(2) {
        if let (Some(c), true) = (c, valid(i)) {
            let e = sums.entry(*c).or_insert_with(|| (vec![0.0; bands], 0));
            for b in 0..bands {
                e.0[b] += f64::from(values[i * bands + b]);
            }
            e.1 += 1;
        }
    }
    let cents: Vec<(i64, Vec<f64>)> = sums
        .into_iter()
        .map(|(c, (s, n))| (c, s.iter().map(|v| v / n as f64).collect()))
        .collect();
    if cents.len() < 2 {
        return None;
    }
    let (mut ok, mut n) = (0, 0);
    for (i, c) in classes.iter().enumerate().skip(1).step_by(2) {
        let (Some(c), true) = (c, valid(i)) else {
            continue;
        };
        let best = cents
            .iter()
            .min_by(|a, b| {
                let d = |m: &Vec<f64>| {
                    (0..bands)
                        .map(|k| (m[k] - f64::from(values[i * bands + k])).powi(2))
                        .sum::<f64>()
                };
                d(&a.1).total_cmp(&d(&b.1))
            })
            .map(|x| x.0);
        ok += usize::from(best == Some(*c));
        n += 1;
    }
    (n > 0).then(|| (ok as f64 / n as f64, n, cents.len()))
}
