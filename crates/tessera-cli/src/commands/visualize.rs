//! `tessera visualize`: PCA false colour as an RGB GeoTIFF (and a PNG quicklook).

use serde_json::json;
use tessera_api::Progress;
use tessera_api::visualize::{VisualizeRequest, visualize};
use tessera_core::Crs;
use tessera_pictures::Balance;

use crate::cli::{GlobalArgs, VisualizeArgs};
use crate::commands::common::{cli_err, print_notes};
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
    let req = VisualizeRequest {
        input: a.input.clone(),
        output: a.output.clone(),
        crs,
        n_components: a.n_components,
        balance,
        memory_bytes: (a.memory_mb as usize) << 20,
        quicklook_px: (!a.no_quicklook).then_some(a.quicklook_size.clamp(16, 1 << 15)),
    };
    let p = Progress::new();
    let r = if g.quiet || a.json {
        visualize(&req, &p)
    } else {
        progress::watch(&p, || visualize(&req, &p))
    };
    print_notes(g, &p);
    let v = r.map_err(cli_err)?;
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
