//! The command-line grammar.

use clap::{Args, Parser, Subcommand};

/// TESSERA geospatial embeddings: find, fetch, sample and export 128-d embeddings of
/// every 10 m pixel on Earth.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the 0.1-degree tile containing a point: name, bounds, CRS, transform, size.
    Tile(TileArgs),
    /// Query a manifest.parquet file: the tile-years in a region and year.
    Manifest(ManifestArgs),
    /// Synthetic mirrors: build one, serve one over HTTP, check one.
    #[command(subcommand)]
    Mirror(MirrorCommand),
}

/// `tessera mirror ...`.
#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Write a synthetic mirror with the published layout (NPY tiles, landmasks,
    /// manifests) and its ground truth (class rasters, labelled points) under truth/.
    Synth(SynthArgs),
    /// Serve a mirror directory over HTTP as the published mirror does (Range, ETag,
    /// Last-Modified, CRC64NVMe on request), optionally with injected faults.
    Serve(ServeArgs),
    /// Check a mirror: manifest rows against files and sizes, NPY headers against the tile
    /// geometry, landmask georeferences against the tile names, unlisted files.
    Verify(VerifyArgs),
}

/// `tessera mirror synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output directory (the mirror root).
    #[arg(short, long)]
    pub output: std::path::PathBuf,
    /// Region W,S,E,N (or LON,LAT for one tile): every 0.1-degree tile overlapping it.
    #[arg(long, allow_hyphen_values = true, default_value = "-0.1,51.4,0.1,51.6")]
    pub bbox: String,
    /// Years, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2024")]
    pub years: Vec<i32>,
    /// NPY dataset directories, comma-separated (v1, v1.1-cam, v2-2B-L~beta1, ...).
    #[arg(long, value_delimiter = ',', default_value = "v1.1-cam")]
    pub datasets: Vec<String>,
    /// World seed: the same seed gives byte-identical mirrors.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of tile-years left out of each dataset, as coverage gaps.
    #[arg(long, default_value_t = 0.05)]
    pub missing_rate: f64,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// `tessera mirror serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The mirror root directory.
    pub dir: std::path::PathBuf,
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: std::net::SocketAddr,
    /// A fault rule PATTERN:ACTION[,OPTION...] (repeatable), e.g. 'npy/**:status=503,times=2',
    /// '**:latency=200', '**/*.npy:truncate=0.5,p=0.2', '**:flip,times=1', '**:reset=0.5',
    /// '**:status=429,retry-after=1'. Options: times=N, after=N, p=P.
    #[arg(long = "fault", value_name = "RULE")]
    pub faults: Vec<String>,
    /// Seed of the probabilistic fault decisions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Serve requests without a User-Agent too (the published CDN answers them 403).
    #[arg(long)]
    pub allow_no_user_agent: bool,
    /// Print one line per request.
    #[arg(long)]
    pub log: bool,
}

/// `tessera mirror verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The mirror root.
    pub dir: std::path::PathBuf,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// `tessera manifest`.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// Path of a manifest.parquet (as published under npy/{dataset}/).
    pub path: std::path::PathBuf,
    /// Region: LON,LAT (the tile containing the point) or W,S,E,N; tiles whose centre is
    /// within 0.05 degrees of the box (edges inclusive) are selected, as the reference does.
    #[arg(long, allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// Year to select.
    #[arg(long)]
    pub year: Option<i32>,
    /// Keep rows of this dataset version (when the manifest has a version column).
    #[arg(long)]
    pub dataset_version: Option<String>,
    /// Keep rows of this dataset variant (when the manifest has a variant column).
    #[arg(long)]
    pub dataset_variant: Option<String>,
    /// Print only the number of matching tile-years.
    #[arg(long)]
    pub count: bool,
    /// Print JSON: {"count", "bytes", "years", "tiles": [{"name", "year", "grid_size"}]}.
    #[arg(long)]
    pub json: bool,
}

/// `tessera tile`.
#[derive(Debug, Args)]
pub struct TileArgs {
    /// The point as LON,LAT in WGS84 degrees (e.g. 0.17,52.23 or -0.12,-0.03).
    #[arg(value_name = "LON,LAT", allow_hyphen_values = true)]
    pub point: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}
