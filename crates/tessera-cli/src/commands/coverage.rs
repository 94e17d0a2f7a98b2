//! `tessera coverage`: the coverage map of a dataset (or of every NPY dataset by source) as
//! a PNG, with coverage.json, the per-year files, the textures and the offline globe beside
//! it.

use clap::Args;
use serde_json::json;
use tessera_api::Progress;
use tessera_api::coverage::{CoverageRequest, coverage, thousands};

use crate::cli::{GlobalArgs, RegionSelect};
use crate::commands::common::{cli_err, context, print_notes};
use crate::commands::download::region_args;

/// `tessera coverage`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera coverage -o coverage/
  tessera coverage --year 2024 --bbox -1,51,1,53 -o cambridge.png
  tessera coverage --by-source -o sources/
  tessera serve coverage/   (then open globe.html)

Region selectors limit the PNG; the JSON files, textures and globe stay global.")]
pub struct CoverageArgs {
    /// The PNG, or a directory (no .png/.jpg/.jpeg suffix, or a trailing /) that gets
    /// tessera_coverage.png; the JSON files, textures and globe.html go beside the PNG.
    #[arg(short, long, default_value = "tessera_coverage.png")]
    pub output: std::path::PathBuf,
    /// Show one year [default: all years].
    #[arg(long)]
    pub year: Option<i32>,
    /// Region (limits the PNG).
    #[command(flatten)]
    pub region: RegionSelect,
    /// Tile colour when year-based colours are off (a name, tab:NAME or #rrggbb).
    #[arg(long, default_value = "red")]
    pub tile_color: String,
    /// Tile opacity from 0 to 1.
    #[arg(long, default_value_t = 0.6)]
    pub tile_alpha: f64,
    /// Tile size multiplier (1 = the real 0.1-degree size).
    #[arg(long, default_value_t = 1.0)]
    pub tile_size: f64,
    /// PNG width in pixels.
    #[arg(long = "width", default_value_t = 2000)]
    pub width: u32,
    /// Hide the land layer.
    #[arg(long)]
    pub no_countries: bool,
    /// One colour for all tiles instead of all / latest-only / partial years.
    #[arg(long)]
    pub no_multi_year_colors: bool,
    /// One colour per (version, variant); without --dataset-version/--dataset-variant,
    /// every published NPY dataset.
    #[arg(long)]
    pub by_source: bool,
    /// Dataset version, or all [default: v1.1, or all with --by-source].
    #[arg(long)]
    pub dataset_version: Option<String>,
    /// Dataset variant, or all [default: the version's NPY variant, or all with --by-source].
    #[arg(long)]
    pub dataset_variant: Option<String>,
    /// A directory with manifest.parquet and landmasks.parquet to use instead of the mirror's.
    #[arg(long, value_name = "DIR")]
    pub registry_dir: Option<std::path::PathBuf>,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &CoverageArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let r = &a.region;
    let any_region =
        r.bbox.is_some() || r.tile.is_some() || r.region_file.is_some() || r.country.is_some();
    let req = CoverageRequest {
        output: a.output.clone(),
        year: a.year,
        region: any_region.then(|| region_args(r)),
        tile_color: a.tile_color.clone(),
        tile_alpha: a.tile_alpha,
        tile_size: a.tile_size,
        width: a.width,
        no_countries: a.no_countries,
        no_multi_year_colors: a.no_multi_year_colors,
        by_source: a.by_source,
        dataset_version: a.dataset_version.clone(),
        dataset_variant: a.dataset_variant.clone(),
        registry_dir: a.registry_dir.clone(),
        generated: None,
    };
    let ctx = context(g)?;
    let p = Progress::new();
    let result = coverage(&ctx, &req, &p);
    print_notes(g, &p);
    let rep = result.map_err(cli_err)?;
    if a.json {
        println!("{}", json!(rep));
    } else if !g.quiet {
        println!("Coverage map saved to: {}", rep.png.display());
        if let Some(b) = rep.region {
            println!(
                "Region bounding box: {:.6}, {:.6}, {:.6}, {:.6}",
                b[0], b[1], b[2], b[3]
            );
        }
        let years = match (rep.years.first(), rep.years.last()) {
            (Some(a), Some(b)) => format!(", years {a}-{b}"),
            _ => String::new(),
        };
        println!("Tiles shown: {}{years}", thousands(rep.tiles_shown));
        for d in &rep.datasets {
            println!(
                "  {}: {} tiles, {} year(s), texture {}",
                d.id,
                thousands(d.tiles),
                d.years.len(),
                d.texture.display()
            );
        }
        println!("Coverage index: {}", rep.index.display());
        println!(
            "Globe viewer: {} (serve the directory over HTTP, e.g. python -m http.server, and open globe.html)",
            rep.globe.display()
        );
    }
    Ok(())
}
