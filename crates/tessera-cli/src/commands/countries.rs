//! `tessera countries [FILTER]`: the countries `--country` knows, with their ISO codes and
//! bounding boxes; and the one place a `--country` selection is resolved and shown.

use serde_json::json;
use tessera_api::tiles::Region;

use crate::cli::{CountriesArgs, GlobalArgs, RegionSelect};
use crate::commands::common::cli_err;
use crate::commands::download::region_args;

pub fn run(a: &CountriesArgs) -> anyhow::Result<()> {
    let filter = a.filter.as_deref().unwrap_or("");
    let found = tessera_world::find_countries(filter);
    let code = |c: Option<String>| c.unwrap_or_else(|| "-".into());
    if a.json {
        let rows: Vec<_> = found
            .iter()
            .map(|c| {
                json!({"name": c.name_en, "iso_a2": c.alpha2(), "iso_a3": c.alpha3(),
                       "iso_n3": (c.iso_n3 != "-99").then_some(&c.iso_n3),
                       "bbox": c.bbox.map(|v| (v * 1e4).round() / 1e4)})
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    if found.is_empty() {
        println!("No country matches '{filter}'.");
        return Ok(());
    }
    let width = found
        .iter()
        .map(|c| c.name_en.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:width$}  A2  A3   BBOX (W,S,E,N)", "NAME");
    for c in &found {
        let [w, s, e, n] = c.bbox;
        // Pad by characters, not bytes ("Åland Islands").
        let pad = width - c.name_en.chars().count();
        println!(
            "{}{:pad$}  {:3} {:4} {w:.4},{s:.4},{e:.4},{n:.4}",
            c.name_en,
            "",
            code(c.alpha2()),
            code(c.alpha3()),
        );
    }
    let noun = if found.len() == 1 {
        "country"
    } else {
        "countries"
    };
    println!("{} {noun} (Natural Earth 1:50m)", found.len());
    Ok(())
}

/// Resolves the region selectors; a `--country` selection is shown on stderr (unless
/// `-q`): what the name resolved to, how, and the bounding box used.
pub fn resolve_region(r: &RegionSelect, g: &GlobalArgs) -> anyhow::Result<Region> {
    let p = tessera_api::Progress::new();
    let region = tessera_api::tiles::resolve_region(&region_args(r), &p);
    crate::commands::common::print_notes(g, &p);
    region.map_err(cli_err)
}
