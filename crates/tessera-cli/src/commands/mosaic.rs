//! `tessera mosaic`: a region's tiles on one grid, as a GeoTIFF.

use serde_json::json;
use tessera_api::Progress;
use tessera_api::tiles::{
    Compression, MosaicOptions, MosaicRequest, OutputOptions, OutputType, Resampling, mosaic,
};
use tessera_core::Crs;
use tessera_pictures::CrsChoice;

use crate::cli::{GlobalArgs, MosaicArgs};
use crate::commands::common::{cli_err, context, dataset_options, print_notes};
use crate::commands::download::region_args;
use crate::commands::progress;
use crate::exit::usage;

/// "X" or "X,Y" as two positive numbers.
fn resolution(s: &str) -> anyhow::Result<(f64, f64)> {
    let bad = || {
        usage(format!(
            "--resolution must be X or X,Y (positive numbers), got '{s}'"
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
    if !(r.0.is_finite() && r.1.is_finite() && r.0 > 0.0 && r.1 > 0.0) {
        return Err(bad());
    }
    Ok(r)
}

pub fn run(a: &MosaicArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let choice: CrsChoice = a
        .crs
        .parse()
        .map_err(|e: tessera_core::CrsError| usage(e.to_string()))?;
    // `tm` is resolved on the region; until then the options carry WGS84.
    let crs = match choice {
        CrsChoice::Crs(c) => c,
        CrsChoice::CentredTm => Crs::Wgs84,
    };
    let resampling: Resampling = a.resampling.parse().map_err(usage)?;
    let res = a.resolution.as_deref().map(resolution).transpose()?;
    let compression: Compression = a
        .compress
        .parse()
        .map_err(|e: tessera_formats::geotiff::codec::BadCompression| usage(e.to_string()))?;
    let output = OutputOptions {
        compression,
        cog: a.cog,
        dtype: a.dtype.parse::<OutputType>().map_err(usage)?,
    };
    if !(16..=1 << 20).contains(&a.memory_mb) {
        return Err(usage("--memory-mb must be between 16 and 1048576"));
    }
    let opts = MosaicOptions {
        crs,
        resolution: res,
        resampling,
        memory_bytes: (a.memory_mb as usize) << 20,
        ..Default::default()
    };
    match a.source.to_ascii_lowercase().as_str() {
        "tiles" => {
            if a.store_url.is_some() || a.depth.is_some() {
                return Err(usage("--store-url and --depth require --source zarr"));
            }
        }
        "zarr" => return from_store(a, g, opts, choice, output),
        other => {
            return Err(usage(format!(
                "--source must be tiles or zarr, got '{other}'"
            )));
        }
    }
    let req = MosaicRequest {
        region: region_args(&a.region),
        year: a.year,
        tiles_dir: a.tiles.clone(),
        auto_download: !a.offline,
        opts,
        crs: Some(choice),
        output: a.output.clone(),
        output_options: output,
    };
    let ctx = context(g)?;
    let p = Progress::new();
    let ds = dataset_options(&a.dataset, a.registry_dir.as_deref());
    let r = watched(a, g, &p, || mosaic(&ctx, &ds, &req, &p));
    print_notes(g, &p);
    let m = r.map_err(cli_err)?;
    report(
        a,
        g,
        &m.path,
        &m.grid,
        m.bands,
        ("tiles", m.tiles),
        m.strip_rows,
    );
    Ok(())
}

/// `--source zarr`: the region read straight from the store.
fn from_store(
    a: &MosaicArgs,
    g: &GlobalArgs,
    mut opts: MosaicOptions,
    choice: CrsChoice,
    output: OutputOptions,
) -> anyhow::Result<()> {
    if a.offline || a.registry_dir.is_some() {
        return Err(usage(
            "--offline and --registry-dir apply to --source tiles",
        ));
    }
    let ctx = context(g)?;
    let p = Progress::new();
    let region =
        tessera_api::tiles::resolve_region(&region_args(&a.region), &p).map_err(cli_err)?;
    opts.crs = choice.resolve(&region.bounds());
    let sref = crate::commands::zarr::store_ref(&ctx, a.store_url.as_deref(), &a.dataset, g)?;
    let store = crate::commands::zarr::open(&ctx, sref, 16)?;
    let run = || {
        store.mosaic_to_geotiff(
            &region.bounds(),
            a.year,
            a.depth,
            opts,
            &a.output,
            output,
            &p,
        )
    };
    let r = watched(a, g, &p, run);
    print_notes(g, &p);
    let m = r.map_err(cli_err)?;
    report(
        a,
        g,
        &m.path,
        &m.grid,
        m.bands,
        ("zones", m.zones),
        m.strip_rows,
    );
    Ok(())
}

/// Runs `f` under a progress bar unless the output is quiet or JSON.
fn watched<T>(a: &MosaicArgs, g: &GlobalArgs, p: &Progress, f: impl FnOnce() -> T) -> T {
    if g.quiet || a.json {
        f()
    } else {
        progress::watch(p, f)
    }
}

fn report(
    a: &MosaicArgs,
    g: &GlobalArgs,
    path: &std::path::Path,
    grid: &tessera_pictures::TargetGrid,
    bands: usize,
    (what, n): (&str, usize),
    strip_rows: usize,
) {
    let t = grid.transform;
    let int8 = a.dtype.parse::<OutputType>() == Ok(OutputType::Int8);
    let scales = int8.then(|| tessera_api::tiles::scales_path(path));
    if a.json {
        println!(
            "{}",
            json!({"output": path, "scales": scales, "cog": a.cog,
                   "dtype": if int8 { "int8" } else { "float32" },
                   "crs": grid.crs.to_string(), "width": grid.width,
                   "height": grid.height, "bands": bands, what: n,
                   "transform": [t.a, t.b, t.c, t.d, t.e, t.f], "strip_rows": strip_rows})
        );
    } else if !g.quiet {
        println!(
            "Wrote {}{} ({} x {} pixels, {bands} bands, {}, {n} {what})",
            path.display(),
            scales
                .map(|s| format!(" and {}", s.display()))
                .unwrap_or_default(),
            grid.width,
            grid.height,
            grid.crs,
        );
    }
}
