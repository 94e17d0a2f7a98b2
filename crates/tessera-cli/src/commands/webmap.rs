//! `tessera webmap`: web tiles and a Leaflet viewer from an RGB GeoTIFF, optionally
//! served at once.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use tessera_api::Progress;
use tessera_api::tiles::RegionArgs;
use tessera_api::webmap::{ServeRequest, WebmapRequest, serve, webmap, webmap_region};

use crate::cli::GlobalArgs;
use crate::commands::common::{cli_err, context, print_notes};
use crate::commands::progress;
use crate::commands::serve::wait_for_interrupt;
use crate::exit::usage;

/// `tessera webmap`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera webmap rgb.tif -o rgb_webmap
  tessera webmap rgb.tif --min-zoom 6 --max-zoom 14 --serve --port 0
  tessera webmap --bbox 0.0,52.0,0.3,52.2 --year 2024 -o cambridge_map --serve

The tiles are gdal2tiles' (mercator profile, TMS rows, bilinear): tiles/{z}/{x}/{y}.png;
tiles.json records the source and zooms, so an unchanged rerun reuses them.")]
pub struct WebmapArgs {
    /// An RGB or RGBA uint8 GeoTIFF (any CRS we read; reprojected to EPSG:3857 if needed).
    /// Without it, give a region (--bbox, --tile, --country or --region-file) and -o: the
    /// region is read from the Zarr store and drawn in PCA false colour first (pca.tif).
    pub rgb_mosaic: Option<PathBuf>,
    /// Region mode: W,S,E,N in degrees, or LON,LAT for the one tile containing the point.
    #[arg(long, allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// Region mode: LON,LAT, the tile containing the point.
    #[arg(long, allow_hyphen_values = true)]
    pub tile: Option<String>,
    /// Region mode: a country by name, ISO code or alias.
    #[arg(long)]
    pub country: Option<String>,
    /// Region mode: the year.
    #[arg(long, default_value_t = 2024)]
    pub year: i32,
    /// Region mode: the Zarr store [default: the dataset's store under the mirror].
    #[arg(long, value_name = "URL|PATH")]
    pub store_url: Option<String>,
    /// Region mode: Matryoshka depth to read (v2 stores).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Region mode: dataset selection.
    #[command(flatten)]
    pub dataset: crate::cli::DatasetSelect,
    /// Output directory [default: <stem>_webmap beside the input].
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Shallowest zoom.
    #[arg(long, default_value_t = 8)]
    pub min_zoom: u8,
    /// Deepest zoom (at most 24).
    #[arg(long, default_value_t = 15)]
    pub max_zoom: u8,
    /// The zoom the viewer opens at.
    #[arg(long, default_value_t = 10)]
    pub initial_zoom: u8,
    /// Rebuild the tiles even when tiles.json says they are current.
    #[arg(long)]
    pub force: bool,
    /// A GeoJSON file drawn on the map as a red outline (in region mode without another
    /// selector, also the region: its bounding box).
    #[arg(long)]
    pub region_file: Option<PathBuf>,
    /// Serve the output on 127.0.0.1 when done (the port is bound first).
    #[arg(long)]
    pub serve: bool,
    /// Port for --serve (0: a free one).
    #[arg(short, long, default_value_t = 8000)]
    pub port: u16,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &WebmapArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let region_geojson = match &a.region_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| usage(format!("--region-file {}: {e}", p.display())))?,
        ),
        None => None,
    };
    let region = RegionArgs {
        bbox: a.bbox.clone(),
        tile: a.tile.clone(),
        region_file: if a.bbox.is_none() && a.tile.is_none() && a.country.is_none() {
            a.region_file.clone().filter(|_| a.rgb_mosaic.is_none())
        } else {
            None
        },
        country: a.country.clone(),
    };
    let region_mode = region.bbox.is_some()
        || region.tile.is_some()
        || region.country.is_some()
        || region.region_file.is_some();
    match (&a.rgb_mosaic, region_mode) {
        (Some(_), true) => {
            return Err(usage(
                "give RGB_MOSAIC or a region (--bbox, --tile, --country), not both",
            ));
        }
        (None, false) => {
            return Err(usage(
                "give RGB_MOSAIC, or a region (--bbox, --tile, --country or --region-file) and -o DIR",
            ));
        }
        (None, true) if a.output.is_none() => {
            return Err(usage("a region web map needs an output directory (-o DIR)"));
        }
        (Some(_), false) if a.store_url.is_some() || a.depth.is_some() => {
            return Err(usage("--store-url and --depth apply to a region"));
        }
        _ => {}
    }
    let req = WebmapRequest {
        input: a.rgb_mosaic.clone().unwrap_or_default(),
        output: a.output.clone(),
        min_zoom: a.min_zoom,
        max_zoom: a.max_zoom,
        initial_zoom: a.initial_zoom,
        force: a.force,
        region_geojson,
    };
    let out = req
        .output
        .clone()
        .unwrap_or_else(|| tessera_api::webmap::default_output(&req.input));
    // --serve binds before the work, so a taken port fails fast.
    let serving = if a.serve {
        std::fs::create_dir_all(&out).map_err(|e| usage(format!("{}: {e}", out.display())))?;
        Some(
            serve(&ServeRequest {
                dir: Some(out.clone()),
                port: a.port,
                html: Some("viewer.html".into()),
                tiles_from: None,
                log: false,
            })
            .map_err(cli_err)?,
        )
    } else {
        None
    };
    let p = Progress::new();
    let started = std::time::Instant::now();
    let store = if region_mode {
        let ctx = context(g)?;
        let sref = crate::commands::zarr::store_ref(&ctx, a.store_url.as_deref(), &a.dataset, g)?;
        let bounds = tessera_api::tiles::resolve_region(&region, &p)
            .map_err(cli_err)?
            .bounds();
        Some((crate::commands::zarr::open(&ctx, sref, 16)?, bounds))
    } else {
        None
    };
    let run = || match &store {
        Some((st, b)) => webmap_region(st, b, a.year, a.depth, &req, &p),
        None => webmap(&req, &p),
    };
    let r = if g.quiet || a.json {
        run()
    } else {
        progress::watch(&p, run)
    };
    print_notes(g, &p);
    let r = r.map_err(cli_err)?;
    let secs = started.elapsed().as_secs_f64();
    if a.json {
        println!(
            "{}",
            json!({"output": r.output, "viewer": r.viewer, "tiles_dir": r.tiles_dir,
                   "tiles": r.tiles, "reused": r.reused, "web_ready": r.web_ready,
                   "bounds": r.bounds, "seconds": secs,
                   "url": serving.as_ref().map(|s| s.url.clone())})
        );
    } else if !g.quiet {
        let how = if r.reused { "reused" } else { "wrote" };
        println!(
            "Web map in {}: {how} {} tiles (zoom {}-{}) in {secs:.1} s; open {}",
            r.output.display(),
            r.tiles,
            a.min_zoom,
            a.max_zoom,
            r.viewer.display()
        );
    }
    if let Some(s) = serving {
        println!(
            "Serving {} at {} (Ctrl-C to stop)",
            r.output.display(),
            s.url
        );
        wait_for_interrupt(s);
    }
    Ok(())
}
