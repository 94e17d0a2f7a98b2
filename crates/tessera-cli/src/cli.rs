//! The command-line grammar.

use clap::{Args, Parser, Subcommand};

/// TESSERA geospatial embeddings: find, fetch, sample and export 128-d embeddings of
/// every 10 m pixel on Earth.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options shared by the commands that read a mirror.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command that talks to a mirror.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Mirror root: https://..., http://..., s3://bucket/prefix or a local directory
    /// [default: https://data.source.coop/tessera/tessera]
    #[arg(long, global = true, env = "TESSERA_MIRROR", value_name = "URL|PATH")]
    pub mirror: Option<String>,
    /// Where manifests are cached [default: $XDG_CACHE_HOME/tessera or ~/.cache/tessera]
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<std::path::PathBuf>,
    /// More detail (lists every file, per-year counts).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Only errors and the final summary.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Abandon (and retry or resume) a transfer that delivers less than 16 KiB in this many
    /// seconds; 0 turns the check off.
    #[arg(long, global = true, default_value_t = 30, value_name = "SECS")]
    pub stall_timeout: u64,
    /// Give up every transfer after this many seconds in all (finished files are kept; a
    /// rerun resumes).
    #[arg(long, global = true, value_name = "SECS")]
    pub deadline: Option<u64>,
    /// Follow redirects to other servers (by default only redirects within the mirror's
    /// own host and port are followed).
    #[arg(long, global = true)]
    pub follow_redirects: bool,
    /// Read Zarr stores of the published mirror through the Source Cooperative gateway
    /// instead of the direct S3 route.
    #[arg(long, global = true, env = "GEOTESSERA_VIA_GATEWAY", action = clap::ArgAction::SetTrue, value_parser = clap::builder::FalseyValueParser::new())]
    pub via_gateway: bool,
    /// Print nothing at all, not even the summary (commands run inside another command).
    #[arg(skip)]
    pub silent: bool,
}

/// Region selectors (exactly one).
#[derive(Debug, Clone, Args, Default)]
pub struct RegionSelect {
    /// W,S,E,N in degrees, or LON,LAT for the one tile containing the point.
    #[arg(long, allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// LON,LAT: the tile containing the point.
    #[arg(long, allow_hyphen_values = true)]
    pub tile: Option<String>,
    /// A GeoJSON, Shapefile (with .prj) or GeoPackage, as a path or an http(s) URL; its
    /// bounding box is used.
    #[arg(long, value_name = "PATH|URL")]
    pub region_file: Option<std::path::PathBuf>,
    /// A country by name, ISO code or alias (uk, usa, ...); its bounding box is used
    /// ('tessera countries' lists them).
    #[arg(long)]
    pub country: Option<String>,
}

/// Dataset selectors.
#[derive(Debug, Clone, Args)]
pub struct DatasetSelect {
    /// Dataset version (v1, v1.1, v2, ...).
    #[arg(long, default_value = "v1.1")]
    pub dataset_version: String,
    /// Dataset variant [default: the version's one default for every command: cambridge for
    /// v1.1, vultr for v1; v1.1 dclimate is a Zarr store only].
    #[arg(long)]
    pub dataset_variant: Option<String>,
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
    /// Datasets and their coverage, or the tiles in a local directory (--tiles).
    Info(InfoArgs),
    /// Download a region as per-tile GeoTIFFs or NPY tiles, verified and resumable.
    Download(DownloadArgs),
    /// Sample embeddings at points (CSV, GeoJSON or GeoParquet) into CSV, Parquet or NPY.
    Sample(SampleArgs),
    /// Mosaic a region's tiles onto one grid (EPSG:4326, EPSG:3857 or a UTM zone) as a
    /// float32 GeoTIFF, streamed within --memory-mb.
    Mosaic(MosaicArgs),
    /// PCA false colour of a GeoTIFF or a directory of tiles: one PCA fitted on a
    /// reproducible sample of 100,000 valid pixels, written as an RGB GeoTIFF in --crs.
    Visualize(VisualizeArgs),
    /// Run the whole workflow on built-in synthetic data: build a mirror, serve it, download
    /// a region as GeoTIFF, sample labelled points, and report what it cost.
    Demo(DemoArgs),
    /// Zarr v3 embedding stores: build one from NPY tiles, verify it, read a region.
    #[command(subcommand)]
    Zarr(ZarrCommand),
    /// List the countries --country accepts: name, ISO codes and bounding box (Natural
    /// Earth 1:50m), optionally filtered.
    Countries(CountriesArgs),
    /// Show embedding availability as a PNG map, with coverage.json, textures and an
    /// offline globe viewer beside it.
    Coverage(crate::commands::coverage::CoverageArgs),
    /// Web tiles (gdal2tiles' grid, TMS) and a self-contained Leaflet viewer from an RGB
    /// GeoTIFF.
    Webmap(crate::commands::webmap::WebmapArgs),
    /// Serve a directory (a web map) on 127.0.0.1, or tiles made on request from a GeoTIFF.
    Serve(crate::commands::serve::ServeArgs),
    /// Labelled points or polygons into a training table (balanced pixel draws, the
    /// embeddings, groups and spatial blocks).
    Labels(crate::commands::learn::LabelsArgs),
    /// Train a head (centroid, knn, logreg, rf, mlp) on a training table, with spatial
    /// cross-validation beside a random split, into a .safetensors model.
    Train(crate::commands::learn::TrainArgs),
    /// Compare heads on a training table under the same spatial folds, with learning curves.
    Evaluate(crate::commands::learn::EvaluateArgs),
    /// Map a trained model over a region (class map with colour table, legend and QGIS
    /// style; probabilities, confidence), or predict at points.
    Predict(crate::commands::maps::PredictArgs),
    /// Cosine similarity of a region's pixels to example points: map, mask, matching
    /// groups and the best pixels.
    Similar(crate::commands::maps::SimilarArgs),
    /// k-means clusters of a region's pixels, as a class map.
    Cluster(crate::commands::maps::ClusterArgs),
    /// Print the version (as `geotessera version` does), with the formats it reads.
    Version,
}

/// `tessera zarr ...`.
#[derive(Debug, Subcommand)]
pub enum ZarrCommand {
    /// Build a Zarr v3 store (one group per UTM zone, all years) from the NPY tiles of a
    /// mirror (--mirror): resumable by shard, parallel within --memory-mb, splittable
    /// across machines with --task-index/--task-count.
    Build(ZarrBuildArgs),
    /// Compare a store with the NPY tiles it was built from (every pixel of every tile-year).
    Verify(ZarrVerifyArgs),
    /// Read a region (native grid) into NPY: float32 (H, W, B), or int8 + scales.
    Read(ZarrReadArgs),
}

/// `tessera zarr build`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera --mirror ./mirror zarr build -o ./mirror/zarr/v1.1
  tessera --mirror URL zarr build -o store --years 2024 --task-index 0 --task-count 8")]
pub struct ZarrBuildArgs {
    /// The store directory to write.
    #[arg(short, long)]
    pub output: std::path::PathBuf,
    /// Dataset selection (the NPY tiles to read).
    #[command(flatten)]
    pub dataset: DatasetSelect,
    /// Years on the time axis [default: every year of the manifest].
    #[arg(long, value_delimiter = ',')]
    pub years: Option<Vec<i32>>,
    /// Only write shards of these zones (the metadata still lists every zone).
    #[arg(long, value_delimiter = ',')]
    pub zones: Option<Vec<u8>>,
    /// Shards written at once [default: the number of cores].
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// Memory budget for shards in flight, in MiB (about 40 MiB per shard).
    #[arg(long, default_value_t = 2048)]
    pub memory_mb: u64,
    /// This task's index (0-based) when the build is split over --task-count machines.
    #[arg(long, default_value_t = 0)]
    pub task_index: usize,
    /// Number of tasks the build is split into; each writes a disjoint set of shards.
    #[arg(long, default_value_t = 1)]
    pub task_count: usize,
    /// Do not mask water with the landmasks (every tile pixel is data).
    #[arg(long)]
    pub no_landmask: bool,
    /// Where tiles of a remote mirror are downloaded first [default: OUTPUT.build/tiles].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<std::path::PathBuf>,
    /// Do not follow inner chunks with CRC32C trailers.
    #[arg(long)]
    pub no_chunk_crc: bool,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// `tessera zarr verify`.
#[derive(Debug, Args)]
pub struct ZarrVerifyArgs {
    /// The store (directory or URL).
    pub store: String,
    /// Dataset selection (the NPY tiles the store was built from).
    #[command(flatten)]
    pub dataset: DatasetSelect,
    /// Directory holding the tiles in the mirror layout [default: --mirror, which must be
    /// local].
    #[arg(long, value_name = "DIR")]
    pub tiles_dir: Option<std::path::PathBuf>,
    /// Check every Nth tile-year only.
    #[arg(long, default_value_t = 1)]
    pub every: usize,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// `tessera zarr read`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera zarr read STORE --bbox 0.05,52.15,0.25,52.25 --year 2024 -o region.npy
  tessera zarr read STORE --window 31:1000:2000:256:256 --quantised -o block.npy")]
pub struct ZarrReadArgs {
    /// The store (directory or URL).
    pub store: String,
    /// Region W,S,E,N: the window of the zone of its centre whose pixel centres lie inside.
    #[arg(long, allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// A window ZONE:ROW:COL:HEIGHT:WIDTH of a zone grid instead of --bbox.
    #[arg(long)]
    pub window: Option<String>,
    /// Year.
    #[arg(long, default_value_t = 2024)]
    pub year: i32,
    /// Write int8 (H, W, B) to OUTPUT and the scales (H, W) to OUTPUT with _scales.npy.
    #[arg(long)]
    pub quantised: bool,
    /// Matryoshka depth (v2 stores).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Output .npy (float32 (H, W, B), NaN where there is no embedding).
    #[arg(short, long)]
    pub output: std::path::PathBuf,
    /// Print a JSON summary (window, transform, CRS, requests, bytes).
    #[arg(long)]
    pub json: bool,
}

/// `tessera info`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera info
  tessera info --dataset-version v1 --json
  tessera info --tiles ./cambridge
  tessera info --store ./tessera-demo/mirror/zarr/v1.1")]
pub struct InfoArgs {
    /// Describe the tiles in this directory instead of the published datasets.
    #[arg(long, value_name = "PATH")]
    pub tiles: Option<std::path::PathBuf>,
    /// Describe a Zarr store (directory or URL): zones, years, shapes, attributes.
    #[arg(long, value_name = "URL|PATH", conflicts_with = "tiles")]
    pub store: Option<String>,
    /// Dataset selection.
    #[command(flatten)]
    pub dataset: DatasetSelect,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tessera download`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera download --bbox 0.05,52.15,0.25,52.25 --year 2024 -o cambridge
  tessera download --country Monaco -f npy -o monaco
  tessera download --region-file field.geojson --dry-run
  tessera --mirror ./tessera-demo/mirror download --tile 23.95,69.05 -o out")]
pub struct DownloadArgs {
    /// Output directory (required unless --dry-run).
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,
    /// Region.
    #[command(flatten)]
    pub region: RegionSelect,
    /// tiff (per-tile float32 GeoTIFFs) or npy (the published int8 + scales files).
    #[arg(short, long, default_value = "tiff")]
    pub format: String,
    /// Year.
    #[arg(long, default_value_t = 2024)]
    pub year: i32,
    /// Bands to export, e.g. "0,1,2" [default: all 128] (tiff only).
    #[arg(long)]
    pub bands: Option<String>,
    /// GeoTIFF compression: zstd[:LEVEL], deflate[:LEVEL], lzw or none.
    #[arg(long, default_value = "zstd:1")]
    pub compress: String,
    /// Dataset selection.
    #[command(flatten)]
    pub dataset: DatasetSelect,
    /// A directory with manifest.parquet and landmasks.parquet to use instead of the mirror's.
    #[arg(long, value_name = "DIR")]
    pub registry_dir: Option<std::path::PathBuf>,
    /// auto, tiles or zarr (auto: Zarr streaming for TIFF output when no --registry-dir).
    #[arg(long, default_value = "auto")]
    pub source: String,
    /// The Zarr store to stream from [default: the dataset's store under the mirror].
    #[arg(long, value_name = "URL|PATH")]
    pub store_url: Option<String>,
    /// Matryoshka depth to read (Zarr, v2 stores).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Memory budget when streaming from Zarr, in MiB (blocks read, dequantised, encoded).
    #[arg(long, default_value_t = 512)]
    pub memory_mb: u64,
    /// Show what would be downloaded and its size, and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// List every file in the summary (with --dry-run: every tile).
    #[arg(long)]
    pub list_files: bool,
    /// Files downloaded at once.
    #[arg(short, long, default_value_t = 8)]
    pub jobs: usize,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// `tessera mosaic`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera mosaic --bbox 0.1,52.1,0.3,52.2 --year 2024 -o mosaic.tif
  tessera mosaic --bbox 0.1,52.1,0.3,52.2 --crs EPSG:3857 --resampling bilinear -o m.tif
  tessera mosaic --tile 0.15,52.15 --crs EPSG:32631 --resolution 20 --memory-mb 64 -o m.tif

Overlapping tile margins: the tile whose 0.1-degree cell holds a pixel is read first, then
the others by name; the first valid value wins.")]
pub struct MosaicArgs {
    /// The GeoTIFF to write.
    #[arg(short, long)]
    pub output: std::path::PathBuf,
    /// Region.
    #[command(flatten)]
    pub region: RegionSelect,
    /// Year.
    #[arg(long, default_value_t = 2024)]
    pub year: i32,
    /// Target CRS: EPSG:4326, EPSG:3857, a UTM zone (EPSG:326NN / EPSG:327NN), `tm` (a
    /// transverse Mercator centred on the region) or its PROJ string
    /// ('+proj=tmerc +lat_0=LAT +lon_0=LON').
    #[arg(long, default_value = "EPSG:4326", allow_hyphen_values = true)]
    pub crs: String,
    /// Pixel size in the target CRS's units, "X" or "X,Y" [default: 10 m when the target
    /// is the first tile's own CRS, else GDAL's suggested resolution for it].
    #[arg(long, allow_hyphen_values = true)]
    pub resolution: Option<String>,
    /// nearest or bilinear (on dequantised values; no-data neighbours drop out).
    #[arg(long, default_value = "nearest")]
    pub resampling: String,
    /// Memory budget in MiB for the strips in flight.
    #[arg(long, default_value_t = 512)]
    pub memory_mb: u64,
    /// GeoTIFF compression: zstd[:LEVEL], deflate[:LEVEL], lzw or none.
    #[arg(long, default_value = "lzw")]
    pub compress: String,
    /// Write a Cloud-Optimized GeoTIFF: tiled, with internal overviews (2x2 averages that
    /// skip no-data) down to one tile, directories first.
    #[arg(long)]
    pub cog: bool,
    /// float32 (dequantised, NaN no-data) or int8 (codes in OUTPUT, a float32 scale per
    /// pixel in OUTPUT_scales.tif, requantised with the model's rule: a quarter of the bytes).
    #[arg(long, default_value = "float32")]
    pub dtype: String,
    /// The tiles directory: tiles are read from it and downloaded into it when missing.
    #[arg(long, default_value = "tessera-tiles")]
    pub tiles: std::path::PathBuf,
    /// Use only tiles already in --tiles.
    #[arg(long)]
    pub offline: bool,
    /// tiles (NPY tiles, downloaded into --tiles) or zarr (read straight from the store,
    /// only the chunks the region needs).
    #[arg(long, default_value = "tiles")]
    pub source: String,
    /// The Zarr store to read [default: the dataset's store under the mirror].
    #[arg(long, value_name = "URL|PATH")]
    pub store_url: Option<String>,
    /// Matryoshka depth to read (Zarr, v2 stores).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Dataset selection.
    #[command(flatten)]
    pub dataset: DatasetSelect,
    /// A directory with manifest.parquet and landmasks.parquet to use instead of the mirror's.
    #[arg(long, value_name = "DIR")]
    pub registry_dir: Option<std::path::PathBuf>,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// `tessera visualize`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera visualize tessera-tiles pca.tif
  tessera visualize grid_0.15_52.05_2024.tif pca.tif --crs EPSG:32631 --balance percentile
  tessera visualize tiles/ pca.tif --n-components 5 --percentile-low 1 --percentile-high 99
  tessera visualize pca.tif --bbox 0.0,52.0,0.3,52.2 --year 2024   (from the Zarr store)

The fit, the standardisation, the sign of each component and the colour scaling follow
geotessera 0.11's visualize, so the same tiles give the same colours. A PNG quicklook is
written beside the GeoTIFF (same name, .png) unless --no-quicklook.")]
pub struct VisualizeArgs {
    /// INPUT OUTPUT: a GeoTIFF file or a directory of GeoTIFF or NPY tiles, and the PCA
    /// mosaic to write (.tif or .tiff). With a region (--bbox, --tile, --region-file or
    /// --country) only OUTPUT: the region is read straight from the Zarr store.
    #[arg(required = true, num_args = 1..=2, value_name = "[INPUT] OUTPUT")]
    pub paths: Vec<std::path::PathBuf>,
    /// Region to read from the Zarr store (instead of INPUT).
    #[command(flatten)]
    pub region: RegionSelect,
    /// Year of the region.
    #[arg(long, default_value_t = 2024)]
    pub year: i32,
    /// The Zarr store of the region [default: the dataset's store under the mirror].
    #[arg(long, value_name = "URL|PATH")]
    pub store_url: Option<String>,
    /// Matryoshka depth to read (v2 stores).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Dataset selection (for the region's store).
    #[command(flatten)]
    pub dataset: DatasetSelect,
    /// Output CRS: EPSG:3857, EPSG:4326 or a UTM zone (EPSG:326NN / EPSG:327NN).
    #[arg(long, default_value = "EPSG:3857")]
    pub crs: String,
    /// Components to fit; the first three are drawn.
    #[arg(long, default_value_t = 3)]
    pub n_components: usize,
    /// Colour scaling: histogram, percentile or adaptive.
    #[arg(long, default_value = "histogram")]
    pub balance: String,
    /// Lower clipping percentile with --balance percentile.
    #[arg(long, default_value_t = 2.0, allow_hyphen_values = true)]
    pub percentile_low: f64,
    /// Upper clipping percentile with --balance percentile.
    #[arg(long, default_value_t = 98.0, allow_hyphen_values = true)]
    pub percentile_high: f64,
    /// Memory budget in MiB for the mosaic's strips.
    #[arg(long, default_value_t = 512)]
    pub memory_mb: u64,
    /// Do not write the PNG quicklook.
    #[arg(long)]
    pub no_quicklook: bool,
    /// Write a Cloud-Optimized GeoTIFF: internal overviews (and their masks) averaged as
    /// GDAL's AVERAGE does, every directory before the pixels.
    #[arg(long)]
    pub cog: bool,
    /// The quicklook's longest side in pixels.
    #[arg(long, default_value_t = 1024)]
    pub quicklook_size: usize,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// `tessera sample`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera sample --points labels.csv --year 2024 -o samples.parquet
  tessera sample --points labels.geojson --tiles cambridge --offline -o samples.csv
  tessera sample --source zarr --points labels.csv -o samples.npy --metadata")]
pub struct SampleArgs {
    /// Points: CSV with lon,lat columns (others are kept), GeoJSON FeatureCollection of
    /// Points, or (Geo)Parquet.
    #[arg(long, value_name = "FILE")]
    pub points: std::path::PathBuf,
    /// Year.
    #[arg(long, default_value_t = 2024)]
    pub year: i32,
    /// Output: .csv or .parquet (input columns + emb_0..emb_127) or .npy ((N, 128) float32).
    #[arg(short, long)]
    pub output: std::path::PathBuf,
    /// Read tiles from (and download missing ones into) this directory, in the reference's
    /// layout; without it, points are read from the mirror with 128-byte range requests.
    #[arg(long, value_name = "DIR")]
    pub tiles: Option<std::path::PathBuf>,
    /// With --tiles: never download; missing tiles are an error.
    #[arg(long, requires = "tiles")]
    pub offline: bool,
    /// Add per-point columns: tile, pixel_row, pixel_col, crs, status.
    #[arg(long)]
    pub metadata: bool,
    /// The CRS of the points' coordinates when the file does not state one (CSV x,y
    /// columns): EPSG:4326, EPSG:3857 or EPSG:326NN/327NN.
    #[arg(long, value_name = "EPSG")]
    pub crs: Option<String>,
    /// Dataset selection.
    #[command(flatten)]
    pub dataset: DatasetSelect,
    /// tiles (NPY) or zarr.
    #[arg(long, default_value = "tiles")]
    pub source: String,
    /// With --source zarr: the store [default: the dataset's store under the mirror].
    #[arg(long, value_name = "URL|PATH")]
    pub store: Option<String>,
    /// With --source zarr: radius (pixels) of the search for the nearest embedding when a
    /// point falls on a pixel without one.
    #[arg(long, default_value_t = 1)]
    pub search_px: u64,
    /// With --source zarr: matryoshka depth (v2 stores).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Requests in flight.
    #[arg(short, long, default_value_t = 16)]
    pub jobs: usize,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// `tessera demo`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera demo
  tessera demo --workdir /tmp/demo")]
pub struct DemoArgs {
    /// Working directory for the mirror, downloads and results.
    #[arg(long, default_value = "tessera-demo")]
    pub workdir: std::path::PathBuf,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
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
    /// Region W,S,E,N (or LON,LAT for one tile): every 0.1-degree tile overlapping it;
    /// several regions separated by ';'.
    #[arg(long, allow_hyphen_values = true, default_value = "-0.1,51.4,0.1,51.6")]
    pub bbox: String,
    /// Also build the Zarr store of each dataset (zarr/v1.1 for v1.1-cam, ...).
    #[arg(long)]
    pub zarr: bool,
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
    /// A fault rule PATTERN:ACTION[,OPTION...] (repeatable, at most 64). PATTERN is a glob
    /// on the key (* within a segment, ** across, ? one character). ACTION: status=CODE
    /// (400-599, option retry-after=S), latency=MS (at most 300000), truncate=F, reset=F
    /// (after that fraction of the body), flip (one byte), rate=BYTES_PER_S (suffixes k, m,
    /// g; 1 to 100g). Options: times=N, after=N, p=P. E.g. 'npy/**:status=503,times=2',
    /// '**:latency=200', '**/*.npy:truncate=0.5,p=0.2', '**:rate=2m'. Enables --admin.
    #[arg(long = "fault", value_name = "RULE")]
    pub faults: Vec<String>,
    /// Serve the admin endpoints /_tessera/stats (GET), /_tessera/reset (POST) and
    /// /_tessera/faults (GET; PUT or POST the rules, one a line) to loopback clients.
    #[arg(long)]
    pub admin: bool,
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
#[command(after_help = "Examples:
  tessera tile 0.17,52.23
  tessera tile -0.12,51.50 --json")]
pub struct TileArgs {
    /// The point as LON,LAT in WGS84 degrees (e.g. 0.17,52.23 or -0.12,-0.03).
    #[arg(value_name = "LON,LAT", allow_hyphen_values = true)]
    pub point: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `tessera countries`.
#[derive(Debug, Args)]
pub struct CountriesArgs {
    /// Keep the countries whose name contains this (case-insensitive) or whose ISO code it is.
    pub filter: Option<String>,
    /// Print a JSON array of {"name", "iso_a2", "iso_a3", "iso_n3", "bbox": [W, S, E, N]}.
    #[arg(long)]
    pub json: bool,
}
