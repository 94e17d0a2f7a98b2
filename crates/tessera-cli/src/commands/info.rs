//! `tessera info`: the dataset table and a dataset's coverage, or a local tile directory.

use serde_json::json;
use tessera_api::Progress;
use tessera_api::tiles::{TileDataset, dataset_store_urls, local_tiles};
use tessera_core::dataset::{DATASETS, DEFAULT_MIRROR};

use crate::cli::{GlobalArgs, InfoArgs};
use crate::commands::common::{cli_err, context, dataset_options, print_notes};

pub fn run(a: &InfoArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    if let Some(dir) = &a.tiles {
        return tiles(a, dir);
    }
    if let Some(store) = &a.store {
        return crate::commands::zarr::info(a, g, store);
    }
    let ctx = context(g)?;
    let p = Progress::new();
    let opened = TileDataset::open(&ctx, &dataset_options(&a.dataset, None), &p);
    print_notes(g, &p);
    let reader = opened.map_err(cli_err)?;
    let ds = reader.dataset().clone();
    let counts = reader.counts().map_err(cli_err)?;
    let per_year = &counts.tiles_per_year;
    let stores: Vec<(String, String, String)> = dataset_store_urls(&ctx, g.via_gateway)
        .into_iter()
        .map(|s| (s.version, s.variant, s.url))
        .collect();
    let mirror_label = ctx.mirror_label();
    if a.json {
        println!(
            "{}",
            json!({
                "version": env!("CARGO_PKG_VERSION"),
                "mirror": mirror_label,
                "datasets": DATASETS.iter().map(|d| json!({"version": d.version, "variant": d.variant, "description": d.description,
                    "npy": d.npy, "zarr": d.zarr, "icechunk": d.icechunk})).collect::<Vec<_>>(),
                "selected": {"version": ds.version.norm, "variant": ds.variant, "format": "npy", "npy_dir": counts.npy_dir},
                "years": per_year.keys().collect::<Vec<_>>(),
                "tiles_per_year": per_year,
                "tile_years": counts.tile_years,
                "tiles": counts.tiles,
                "landmasks": counts.landmasks,
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
        mirror_label,
        if mirror_label == DEFAULT_MIRROR {
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
        ds.version.path, ds.variant, counts.npy_dir
    );
    match (per_year.keys().next(), per_year.keys().last()) {
        (Some(a0), Some(a1)) => println!("Years:    {a0}-{a1}"),
        _ => println!("Years:    none"),
    }
    println!(
        "Tiles:    {} ({} tile-years)",
        counts.tiles, counts.tile_years
    );
    if g.verbose {
        for (y, n) in per_year {
            println!("  {y}: {n}");
        }
    }
    println!("Landmasks: {}", counts.landmasks);
    Ok(())
}

fn tiles(a: &InfoArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    let p = Progress::new();
    let found = local_tiles(dir, &p);
    for n in p.take_notes() {
        eprintln!("warning: {}", n.text);
    }
    let t = found.map_err(cli_err)?;
    let (npy, tif, tif_files, shadowed) = (t.npy, t.geotiff, t.geotiff_files, t.geotiff_beside_npy);
    let (format, years, crs, extent) = (&t.format, &t.years, &t.crs, t.extent);
    if a.json {
        println!(
            "{}",
            json!({"tiles": t.list.len(), "npy": npy, "geotiff": tif, "geotiff_files": tif_files, "geotiff_beside_npy": shadowed, "format": format, "years": years, "crs": crs, "extent": extent,
                   "list": t.list.iter().map(|(name, year)| json!({"name": name, "year": year})).collect::<Vec<_>>()})
        );
        return Ok(());
    }
    println!("Total tiles: {}", t.list.len());
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
