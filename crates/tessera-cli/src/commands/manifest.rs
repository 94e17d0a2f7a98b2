//! `tessera manifest PATH`: select tile-years from a manifest with the reference's rules.

use serde_json::json;
use tessera_api::manifest::{Selection, select, total_bytes};

use crate::cli::ManifestArgs;
use crate::commands::common::cli_err;

pub fn run(a: &ManifestArgs) -> anyhow::Result<()> {
    let sel = select(
        &a.path,
        &Selection {
            version: a.dataset_version.clone(),
            variant: a.dataset_variant.clone(),
            year: a.year,
            bbox: a.bbox.clone(),
        },
    )
    .map_err(cli_err)?;
    let bytes = total_bytes(&sel);
    if a.count {
        println!("{}", sel.entries.len());
    } else if a.json {
        let tiles: Vec<_> = sel
            .entries
            .iter()
            .map(|e| json!({"name": e.tile.name(), "year": e.year, "grid_size": e.grid_size}))
            .collect();
        println!(
            "{}",
            json!({"count": sel.entries.len(), "bytes": bytes, "years": sel.years(), "invalid": sel.invalid, "duplicates": sel.duplicates, "tiles": tiles})
        );
    } else {
        for e in &sel.entries {
            println!("{}\t{}\t{}", e.year, e.tile, e.grid_size);
        }
        eprintln!(
            "{} tile-years, {:.1} MB of embeddings and scales{}",
            sel.entries.len(),
            bytes as f64 / 1e6,
            if sel.duplicates > 0 {
                format!(" ({} duplicate rows dropped)", sel.duplicates)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
