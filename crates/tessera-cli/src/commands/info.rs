//! `tessera info`: the dataset table and a dataset's coverage, or a local tile directory.

use std::collections::BTreeMap;

use serde_json::json;
use tessera_client::local::{TileSource, discover};
use tessera_core::dataset::{DATASETS, DEFAULT_MIRROR, StoreLocation, keys, store_location};

use crate::cli::{GlobalArgs, InfoArgs};
use crate::commands::common::{cli_err, dataset, mirror, registry, runtime};

pub fn run(a: &InfoArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    if let Some(dir) = &a.tiles {
        return tiles(a, dir);
    }
    if let Some(store) = &a.store {
        return crate::commands::zarr::info(a, g, store);
    }
    let ds = dataset(&a.dataset)?;
    let m = mirror(g)?;
    let rt = runtime()?;
    let reg = registry(&rt, &m, &ds, g, None)?;
    let all = reg.all().map_err(cli_err)?;
    let mut per_year: BTreeMap<i32, usize> = BTreeMap::new();
    for e in &all.entries {
        *per_year.entry(e.year).or_default() += 1;
    }
    let mut tiles: Vec<_> = all.entries.iter().map(|e| e.tile).collect();
    tiles.sort();
    tiles.dedup();
    let landmasks = reg.landmasks.as_ref().map_or(0, |l| l.len());
    let stores: Vec<(String, String, String)> = DATASETS
        .iter()
        .filter_map(|d| {
            let loc = store_location(&format!("v{}", d.version), Some(d.variant)).ok()?;
            // Where this run would read the store: under the chosen mirror (the direct
            // S3 route for the published one, unless --via-gateway).
            let url = match loc {
                StoreLocation::ZarrDir(z) => tessera_core::dataset::zarr_read_root(
                    &m.root.locate(&keys::zarr_store(&z)),
                    g.via_gateway,
                ),
                StoreLocation::Icechunk(u) => u,
            };
            Some((format!("v{}", d.version), d.variant.to_string(), url))
        })
        .collect();
    if a.json {
        println!(
            "{}",
            json!({
                "version": env!("CARGO_PKG_VERSION"),
                "mirror": m.root.to_string(),
                "datasets": DATASETS.iter().map(|d| json!({"version": d.version, "variant": d.variant, "description": d.description,
                    "npy": d.npy, "zarr": d.zarr, "icechunk": d.icechunk})).collect::<Vec<_>>(),
                "selected": {"version": ds.version.norm, "variant": ds.variant, "format": "npy", "npy_dir": reg.npy_dir},
                "years": per_year.keys().collect::<Vec<_>>(),
                "tiles_per_year": per_year,
                "tile_years": all.entries.len(),
                "tiles": tiles.len(),
                "landmasks": landmasks,
            })
        );
        return Ok(());
    }
    println!(
        "tessera {} (compatible with geotessera 0.11 data)",
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "Mirror: {}{}",
        m.root,
        if m.root.to_string() == DEFAULT_MIRROR {
            " (published)"
        } else {
            ""
        }
    );
    println!();
    println!(
        "{:<8} {:<12} {:<4} {:<5} {:<9} Description",
        "Version", "Variant", "NPY", "Zarr", "Icechunk"
    );
    for d in DATASETS {
        let mark = |b: bool| if b { "yes" } else { "-" };
        let star = if tessera_core::dataset::tool_default_variant(d.version) == d.variant {
            "*"
        } else {
            " "
        };
        println!(
            "{:<8} {:<12} {:<4} {:<5} {:<9} {}{star}",
            format!("v{}", d.version),
            d.variant,
            mark(d.npy.is_some()),
            mark(d.zarr.is_some()),
            mark(d.icechunk.is_some()),
            d.description
        );
    }
    println!("* the version's default dataset (the same for tiles, exports and stores)");
    println!();
    for (v, var, url) in &stores {
        println!("{v:<8} {var:<12} {url}");
    }
    println!();
    println!(
        "Selected: {} {} (NPY, npy/{})",
        ds.version.path, ds.variant, reg.npy_dir
    );
    match (per_year.keys().next(), per_year.keys().last()) {
        (Some(a0), Some(a1)) => println!("Years:    {a0}-{a1}"),
        _ => println!("Years:    none"),
    }
    println!(
        "Tiles:    {} ({} tile-years)",
        tiles.len(),
        all.entries.len()
    );
    if g.verbose {
        for (y, n) in &per_year {
            println!("  {y}: {n}");
        }
    }
    println!("Landmasks: {landmasks}");
    Ok(())
}

fn tiles(a: &InfoArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    let (found, warnings) = discover(dir).map_err(cli_err)?;
    for w in &warnings {
        eprintln!("warning: {}", tessera_client::mirror::sanitize(w));
    }
    if found.is_empty() {
        return Err(anyhow::anyhow!("no tiles found in {}", dir.display()));
    }
    let npy = found
        .iter()
        .filter(|t| matches!(t.source, TileSource::Npy { .. }))
        .count();
    let tif = found.len() - npy;
    // GeoTIFF exports beside NPY tiles are counted too (NPY is what is read).
    let tif_files = tessera_client::local::geotiff_exports(dir).len();
    let shadowed = tif_files.saturating_sub(tif);
    let mut years: Vec<i32> = found.iter().map(|t| t.year).collect();
    years.sort_unstable();
    years.dedup();
    let mut crs: Vec<String> = found
        .iter()
        .map(|t| tessera_core::TileGeoref::of_tile(t.tile).crs.to_string())
        .collect();
    crs.sort();
    crs.dedup();
    let lon = |f: fn(f64, f64) -> f64, init| found.iter().map(|t| t.tile.lon()).fold(init, f);
    let lat = |f: fn(f64, f64) -> f64, init| found.iter().map(|t| t.tile.lat()).fold(init, f);
    let extent = [
        lon(f64::min, f64::INFINITY) - 0.05,
        lat(f64::min, f64::INFINITY) - 0.05,
        lon(f64::max, f64::NEG_INFINITY) + 0.05,
        lat(f64::max, f64::NEG_INFINITY) + 0.05,
    ];
    let format = match (npy > 0, tif > 0 || shadowed > 0) {
        (true, true) => "GEOTIFF, NPY (USING NPY)",
        (true, false) => "NPY",
        _ => "GEOTIFF",
    };
    if a.json {
        println!(
            "{}",
            json!({"tiles": found.len(), "npy": npy, "geotiff": tif, "geotiff_files": tif_files, "geotiff_beside_npy": shadowed, "format": format, "years": years, "crs": crs, "extent": extent,
                   "list": found.iter().map(|t| json!({"name": t.tile.name(), "year": t.year})).collect::<Vec<_>>()})
        );
        return Ok(());
    }
    println!("Total tiles: {}", found.len());
    println!("Format:      {format}");
    println!(
        "Files:       {npy} NPY tiles, {tif_files} GeoTIFFs{}",
        if shadowed > 0 {
            format!(" ({shadowed} beside NPY tiles of the same tile-year: the NPY is read)")
        } else {
            String::new()
        }
    );
    println!(
        "Years:       {}",
        years
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("CRS:         {}", crs.join(", "));
    println!(
        "Extent:      {:.6}, {:.6}, {:.6}, {:.6} (W, S, E, N)",
        extent[0], extent[1], extent[2], extent[3]
    );
    println!("Bands:       128");
    Ok(())
}
