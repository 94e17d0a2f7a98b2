//! `tessera predict`, `tessera similar` and `tessera cluster`: maps over a region from a
//! trained model, from example pixels, or from k-means clusters.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use tessera_api::Progress;
use tessera_api::learn::{
    ClusterOptions, DataSource, MapReport, MapRequest, PredictOptions, SimilarOptions,
    SimilarityMethod, cluster, predict, predict_points, similar, write_matches,
};
use tessera_pictures::CrsChoice;

use crate::cli::{DatasetSelect, GlobalArgs, RegionSelect};
use crate::commands::common::{cli_err, context, dataset_options, print_notes};
use crate::commands::download::region_args;
use crate::commands::progress;
use crate::exit::usage;

/// Region, data source and output shared by the map commands.
#[derive(Debug, Clone, Args)]
pub struct MapArgs {
    /// Region.
    #[command(flatten)]
    pub region: RegionSelect,
    /// Year of the embeddings.
    #[arg(long, default_value_t = 2024)]
    pub year: i32,
    /// The map to write (GeoTIFF). A native map over several UTM zones writes one file
    /// per zone, OUT_EPSG.tif.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// native (one map per UTM zone on the embeddings' own 10 m grid), or a CRS to mosaic
    /// onto: EPSG:4326, EPSG:3857, EPSG:326NN/327NN or tm.
    #[arg(long, default_value = "native", allow_hyphen_values = true)]
    pub crs: String,
    /// Pixel size in the target CRS's units, "X" or "X,Y" (with --crs).
    #[arg(long, allow_hyphen_values = true)]
    pub resolution: Option<String>,
    /// Write a PNG quicklook (OUT.png, with a .pgw world file).
    #[arg(long)]
    pub png: bool,
    /// Memory budget in MiB for the strips in flight.
    #[arg(long, default_value_t = 512)]
    pub memory_mb: u64,
    /// tiles (NPY tiles, downloaded into --tiles) or zarr (read straight from the store).
    #[arg(long, default_value = "tiles")]
    pub source: String,
    /// The tiles directory (with --source tiles).
    #[arg(long, default_value = "tessera-tiles")]
    pub tiles: PathBuf,
    /// Use only tiles already in --tiles.
    #[arg(long)]
    pub offline: bool,
    /// The Zarr store (with --source zarr) [default: the dataset's store under the mirror].
    #[arg(long, value_name = "URL|PATH")]
    pub store_url: Option<String>,
    /// Matryoshka depth to read (Zarr).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Dataset selection.
    #[command(flatten)]
    pub dataset: DatasetSelect,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tessera predict`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera predict --model rf.safetensors --bbox 0.0,52.0,0.2,52.2 --year 2024 -o classes.tif --png
  tessera predict --model rf.safetensors --tile 0.05,52.05 -o classes.tif --proba --confidence
  tessera predict --model rf.safetensors --bbox ... --crs EPSG:3857 -o classes_3857.tif
  tessera predict --model rf.safetensors --points sites.csv -o sites_pred.csv

The class map is uint8 (0 = nodata, classes 1..C, 255 = rejected) with a colour table and
class names that GDAL and QGIS show at once, a QGIS style (OUT.qml), a legend with the
area of each class (OUT.legend.csv) and category names for GDAL (OUT.tif.aux.xml). A
model refuses embeddings of another dataset version or depth.")]
pub struct PredictArgs {
    /// The model (.safetensors from tessera train).
    #[arg(long)]
    pub model: PathBuf,
    /// Predict at these points instead (CSV lon,lat / GeoJSON / GeoParquet): writes the
    /// input's columns with prediction, class_id and probability to --output (.csv or
    /// .parquet).
    #[arg(long)]
    pub points: Option<PathBuf>,
    /// The CRS of --points coordinates when the file does not state one (CSV x,y).
    #[arg(long, value_name = "EPSG")]
    pub points_crs: Option<String>,
    /// Also write per-class probabilities (OUT_proba.tif, uint8 p x 250, 255 nodata).
    #[arg(long)]
    pub proba: bool,
    /// Also write max-probability, margin and entropy (OUT_confidence.tif).
    #[arg(long)]
    pub confidence: bool,
    /// Pixels whose largest probability is below this get 255 (rejected).
    #[arg(long)]
    pub reject_below: Option<f32>,
    #[command(flatten)]
    pub map: MapArgs,
}

/// `tessera similar`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera similar --lonlat 24.01,69.05 --bbox 23.9,69.0,24.1,69.1 -o sim.tif --threshold 0.9 --png
  tessera similar --query examples.geojson --negative not.geojson --method pos-neg --bbox ... -o sim.tif
  tessera similar --query examples.csv --bbox ... -o sim.tif --threshold 0.85 \\
      --polygons matches.geojson --top 100 --top-points best.geojson

Cosine similarity is scale-free: the int8 codes give the same score as the dequantised
embeddings. The map is float32 in [-1, 1] (NaN nodata); with --threshold a mask
(OUT_mask.tif) and the connected groups of matching pixels.")]
pub struct SimilarArgs {
    /// Positive examples: points or polygons (CSV, GeoJSON, GeoParquet, Shapefile,
    /// GeoPackage); a polygon stands for the pixels whose centres it holds.
    #[arg(long)]
    pub query: Option<PathBuf>,
    /// The CRS of --query/--negative coordinates when the file does not state one (CSV x,y).
    #[arg(long, value_name = "EPSG")]
    pub query_crs: Option<String>,
    /// A positive example LON,LAT (repeatable).
    #[arg(long, allow_hyphen_values = true)]
    pub lonlat: Vec<String>,
    /// Negative examples: points or polygons, as --query.
    #[arg(long)]
    pub negative: Option<PathBuf>,
    /// A negative example LON,LAT (repeatable).
    #[arg(long, allow_hyphen_values = true)]
    pub negative_lonlat: Vec<String>,
    /// mean-cosine (cosine to the mean of the examples), max-cosine (to the nearest
    /// example) or pos-neg (to 2 mean(positives) - mean(negatives)) [default: pos-neg with
    /// negatives, else mean-cosine].
    #[arg(long)]
    pub method: Option<String>,
    /// Matching pixels: similarity at least this (writes OUT_mask.tif).
    #[arg(long, allow_hyphen_values = true)]
    pub threshold: Option<f32>,
    /// Write the groups of matching pixels (convex hulls and centroids) as GeoJSON.
    #[arg(long)]
    pub polygons: Option<PathBuf>,
    /// Smallest group written, in pixels.
    #[arg(long, default_value_t = 100)]
    pub min_pixels: u64,
    /// Keep the N most similar pixels.
    #[arg(long, default_value_t = 0)]
    pub top: usize,
    /// Write the --top pixels as GeoJSON points.
    #[arg(long)]
    pub top_points: Option<PathBuf>,
    #[command(flatten)]
    pub map: MapArgs,
}

/// `tessera cluster`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera cluster --bbox 23.9,69.0,24.1,69.1 --k 8 -o clusters.tif --png")]
pub struct ClusterArgs {
    /// Clusters.
    #[arg(long, default_value_t = 8)]
    pub k: usize,
    /// Pixels sampled (uniformly over the region) to fit the centres.
    #[arg(long, default_value_t = 100_000)]
    pub sample: usize,
    /// Seed of the sample and of k-means++.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub map: MapArgs,
}

fn parse_lonlat(s: &str) -> anyhow::Result<(f64, f64)> {
    let v: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| usage(format!("expected LON,LAT, got '{s}'")))?;
    match v[..] {
        [x, y] if x.is_finite() && y.is_finite() && x.abs() <= 180.0 && y.abs() <= 90.0 => {
            Ok((x, y))
        }
        _ => Err(usage(format!(
            "expected LON,LAT (degrees, longitude first), got '{s}'"
        ))),
    }
}

fn resolution(s: &str) -> anyhow::Result<(f64, f64)> {
    let bad = || {
        usage(format!(
            "--resolution must be X or X,Y (positive), got '{s}'"
        ))
    };
    let v: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let r = match v[..] {
        [x] => (x, x),
        [x, y] => (x, y),
        _ => return Err(bad()),
    };
    if !(r.0 > 0.0 && r.1 > 0.0 && r.0.is_finite() && r.1.is_finite()) {
        return Err(bad());
    }
    Ok(r)
}

fn source(m: &MapArgs, g: &GlobalArgs, ctx: &tessera_api::Context) -> anyhow::Result<DataSource> {
    match m.source.to_ascii_lowercase().as_str() {
        "tiles" => {
            if m.store_url.is_some() || m.depth.is_some() {
                return Err(usage("--store-url and --depth require --source zarr"));
            }
            Ok(DataSource::Tiles {
                dir: m.tiles.clone(),
                offline: m.offline,
            })
        }
        "zarr" => Ok(DataSource::Zarr {
            store: crate::commands::zarr::store_ref(ctx, m.store_url.as_deref(), &m.dataset, g)?,
            depth: m.depth,
        }),
        other => Err(usage(format!(
            "--source must be tiles or zarr, got '{other}'"
        ))),
    }
}

fn request(m: &MapArgs, g: &GlobalArgs, ctx: &tessera_api::Context) -> anyhow::Result<MapRequest> {
    let output = m
        .output
        .clone()
        .ok_or_else(|| usage("--output/-o is required: the map to write (e.g. map.tif)"))?;
    let crs = match m.crs.to_ascii_lowercase().as_str() {
        "native" | "utm" => None,
        _ => Some(
            m.crs
                .parse::<CrsChoice>()
                .map_err(|e: tessera_core::CrsError| usage(e.to_string()))?,
        ),
    };
    if !(16..=1 << 20).contains(&m.memory_mb) {
        return Err(usage("--memory-mb must be between 16 and 1048576"));
    }
    Ok(MapRequest {
        region: region_args(&m.region),
        year: m.year,
        source: source(m, g, ctx)?,
        crs,
        resolution: m.resolution.as_deref().map(resolution).transpose()?,
        memory_bytes: (m.memory_mb as usize) << 20,
        png: m.png,
        output,
    })
}

fn watched<T>(m: &MapArgs, g: &GlobalArgs, p: &Progress, f: impl FnOnce() -> T) -> T {
    if g.quiet || m.json {
        f()
    } else {
        progress::watch(p, f)
    }
}

fn ha(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn print_report(r: &MapReport, verb: &str) {
    for f in &r.files {
        println!(
            "{}  {} x {} px, {}  ({} mapped, {} nodata{})",
            f.path.display(),
            f.width,
            f.height,
            f.crs,
            f.mapped,
            f.nodata,
            if f.rejected > 0 {
                format!(", {} rejected", f.rejected)
            } else {
                String::new()
            }
        );
        for s in &f.sidecars {
            println!("    {}", s.display());
        }
    }
    if !r.classes.is_empty() {
        println!("class                  pixels     hectares       %");
        for c in &r.classes {
            println!(
                "{:<20} {:>8} {:>12} {:>7.2}",
                c.name,
                c.pixels,
                ha(c.hectares),
                c.percent
            );
        }
    }
    println!(
        "{verb} {} pixels from {} sources in {:.2} s ({:.0} pixels/s)",
        r.mapped + r.nodata,
        r.sources,
        r.seconds,
        r.pixels_per_second
    );
}

pub fn run_predict(a: &PredictArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let ctx = context(g)?;
    let ds = dataset_options(&a.map.dataset, None);
    let p = Progress::new();
    if let Some(points) = &a.points {
        let out = a.map.output.clone().ok_or_else(|| {
            usage("--output/-o is required: the table to write (.csv or .parquet)")
        })?;
        if a.proba || a.confidence || a.reject_below.is_some() || a.map.png {
            return Err(usage(
                "--proba, --confidence, --reject-below and --png apply to maps, not to --points",
            ));
        }
        let src = source(&a.map, g, &ctx)?;
        let crs = crate::commands::learn::points_crs(a.points_crs.as_deref())?;
        let r = watched(&a.map, g, &p, || {
            predict_points(&ctx, &ds, &a.model, points, crs, a.map.year, &src, &out, &p)
        });
        print_notes(g, &p);
        let r = r.map_err(cli_err)?;
        if a.map.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            println!(
                "{}: {} of {} points predicted",
                r.path.display(),
                r.predicted,
                r.points
            );
        }
        return Ok(());
    }
    let req = request(&a.map, g, &ctx)?;
    let opts = PredictOptions {
        model: a.model.clone(),
        proba: a.proba,
        confidence: a.confidence,
        reject_below: a.reject_below,
    };
    let r = watched(&a.map, g, &p, || predict(&ctx, &ds, &req, &opts, &p));
    print_notes(g, &p);
    let r = r.map_err(cli_err)?;
    if a.map.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_report(&r, "mapped");
    }
    Ok(())
}

fn lonlats(v: &[String]) -> anyhow::Result<Vec<(f64, f64)>> {
    v.iter().map(|s| parse_lonlat(s)).collect()
}

pub fn run_similar(a: &SimilarArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let positives = lonlats(&a.lonlat)?;
    let negatives = lonlats(&a.negative_lonlat)?;
    let method = match &a.method {
        Some(m) => m.parse::<SimilarityMethod>().map_err(usage)?,
        None if !negatives.is_empty() || a.negative.is_some() => SimilarityMethod::PosNeg,
        None => SimilarityMethod::MeanCosine,
    };
    if a.polygons.is_some() && a.threshold.is_none() {
        return Err(usage(
            "--polygons needs --threshold: the score a match reaches",
        ));
    }
    if a.top_points.is_some() && a.top == 0 {
        return Err(usage("--top-points needs --top N"));
    }
    let ctx = context(g)?;
    let ds = dataset_options(&a.map.dataset, None);
    let req = request(&a.map, g, &ctx)?;
    let opts = SimilarOptions {
        positives,
        negatives,
        positive_file: a.query.clone(),
        negative_file: a.negative.clone(),
        examples_crs: crate::commands::learn::points_crs(a.query_crs.as_deref())?,
        method,
        threshold: a.threshold,
        top: a.top,
        min_group_pixels: a.min_pixels,
    };
    let p = Progress::new();
    let r = watched(&a.map, g, &p, || similar(&ctx, &ds, &req, &opts, &p));
    print_notes(g, &p);
    let r = r.map_err(cli_err)?;
    write_matches(&r, a.polygons.as_deref(), a.top_points.as_deref()).map_err(cli_err)?;
    if a.map.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    print_report(&r, "scored");
    for f in &r.files {
        if let Some((lo, hi, mean)) = f.value_range {
            println!(
                "similarity {lo:.3} .. {hi:.3} (mean {mean:.3}){}",
                a.threshold.map_or(String::new(), |t| format!(
                    "; {} pixels >= {t} in {} groups of {}+ pixels",
                    f.above,
                    f.groups.len(),
                    a.min_pixels
                ))
            );
        }
    }
    if let Some(p) = &a.polygons {
        println!("groups     {}", p.display());
    }
    if let Some(p) = &a.top_points {
        println!("top        {}", p.display());
    }
    Ok(())
}

pub fn run_cluster(a: &ClusterArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let ctx = context(g)?;
    let ds = dataset_options(&a.map.dataset, None);
    let req = request(&a.map, g, &ctx)?;
    let opts = ClusterOptions {
        k: a.k,
        sample: a.sample,
        seed: a.seed,
    };
    let p = Progress::new();
    let r = watched(&a.map, g, &p, || cluster(&ctx, &ds, &req, &opts, &p));
    print_notes(g, &p);
    let r = r.map_err(cli_err)?;
    if a.map.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_report(&r, "clustered");
        println!("k-means    {}", json!(r.what));
    }
    Ok(())
}
