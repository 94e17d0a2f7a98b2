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
