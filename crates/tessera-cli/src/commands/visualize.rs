//! `tessera visualize`: PCA false colour as an RGB GeoTIFF (and a PNG quicklook).

use serde_json::json;
use tessera_api::Progress;
use tessera_api::visualize::{VisualizeRequest, visualize, visualize_region};
use tessera_core::Crs;
use tessera_pictures::Balance;

use crate::cli::{GlobalArgs, VisualizeArgs};
use crate::commands::common::{cli_err, context, print_notes};
use crate::commands::download::region_args;
use crate::commands::progress;
use crate::exit::usage;

pub fn run(a: &VisualizeArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let crs: Crs = a
        .crs
        .parse()
        .map_err(|e: tessera_core::CrsError| usage(e.to_string()))?;
    let balance = Balance::parse(&a.balance, a.percentile_low, a.percentile_high)
        .map_err(|e| usage(e.to_string()))?;
    if a.n_components == 0 {
        return Err(usage("--n-components must be at least 1"));
    }
    if !(16..=1 << 20).contains(&a.memory_mb) {
        return Err(usage("--memory-mb must be between 16 and 1048576"));
    }
    if a.n_components < 3 && !g.quiet && !a.json {
        eprintln!(
            "Warning: Using {} component(s). RGB visualization works best with 3+ components",
            a.n_components
        );
    }
    let r = &a.region;
    let region_mode =
        r.bbox.is_some() || r.tile.is_some() || r.region_file.is_some() || r.country.is_some();
    let (input, output) = match (&a.paths[..], region_mode) {
        ([i, o], false) => (i.clone(), o.clone()),
        ([o], true) => (std::path::PathBuf::new(), o.clone()),
        ([_], false) => {
            return Err(usage(
                "give INPUT OUTPUT, or OUTPUT with a region (--bbox, --tile, --region-file or --country)",
            ));
        }
        _ => {
            return Err(usage(
                "with a region (--bbox, --tile, --region-file or --country) give only OUTPUT: the region is read from the Zarr store",
            ));
        }
    };
    if !region_mode && (a.store_url.is_some() || a.depth.is_some()) {
        return Err(usage("--store-url and --depth apply to a region"));
    }
    let req = VisualizeRequest {
        input,
        output,
        crs,
        n_components: a.n_components,
        balance,
        memory_bytes: (a.memory_mb as usize) << 20,
        quicklook_px: (!a.no_quicklook).then_some(a.quicklook_size.clamp(16, 1 << 15)),
        cog: a.cog,
    };
    let p = Progress::new();
    let r = if region_mode {
        from_store(a, g, &req, &p)
    } else if g.quiet || a.json {
        visualize(&req, &p).map_err(cli_err)
    } else {
        progress::watch(&p, || visualize(&req, &p)).map_err(cli_err)
    };
    print_notes(g, &p);
    let v = r?;
    if a.json {
        println!(
            "{}",
            json!({"output": v.path, "quicklook": v.quicklook, "crs": v.grid.crs.to_string(),
                   "width": v.grid.width, "height": v.grid.height, "bands": v.bands,
                   "inputs": v.inputs, "samples": v.samples,
                   "explained_variance_ratio": v.explained_variance_ratio,
                   "components": v.components})
        );
    } else if !g.quiet {
        println!("Created PCA mosaic:\n{}", v.path.display());
        println!(
            "Components: {} | CRS: {} | {} x {} pixels from {} inputs",
            a.n_components, v.grid.crs, v.grid.width, v.grid.height, v.inputs
        );
        if let Some(q) = &v.quicklook {
            println!("Quicklook: {}", q.display());
        }
        println!("Next step: Create web visualization with:");
        println!("  tessera webmap {} --serve", v.path.display());
    }
    Ok(())
}

/// The region of `a`, read from its Zarr store.
fn from_store(
    a: &VisualizeArgs,
    g: &GlobalArgs,
    req: &VisualizeRequest,
    p: &Progress,
) -> anyhow::Result<tessera_api::visualize::Visualized> {
    let ctx = context(g)?;
    let region = tessera_api::tiles::resolve_region(&region_args(&a.region), p).map_err(cli_err)?;
    let sref = crate::commands::zarr::store_ref(&ctx, a.store_url.as_deref(), &a.dataset, g)?;
    let store = crate::commands::zarr::open(&ctx, sref, 16)?;
    let bounds = region.bounds();
    let run = || visualize_region(&store, &bounds, a.year, a.depth, req, p);
    let r = if g.quiet || a.json {
        run()
    } else {
        progress::watch(p, run)
    };
    r.map_err(cli_err)
}
