//! `tessera manifest PATH`: select tile-years from a manifest with the reference's rules.

use anyhow::Context;
use serde_json::json;
use tessera_core::bbox::{BboxSpec, parse_bbox};
use tessera_core::dataset::parse_version;
use tessera_core::{Bbox, TileId};
use tessera_formats::manifest::{ManifestQuery, read_manifest_file};

use crate::cli::ManifestArgs;
use crate::exit::usage;

/// The query box of the reference: a point selects its tile through a degenerate box at
/// the tile centre; a box is grown by 0.05 degrees; both inclusive.
pub fn query_box(spec: &BboxSpec) -> Bbox {
    match spec {
        BboxSpec::Tile(t) => point_box(*t).expanded(0.05),
        BboxSpec::Box(b) => b.expanded(0.05),
    }
}

fn point_box(t: TileId) -> Bbox {
    Bbox {
        west: t.lon(),
        south: t.lat(),
        east: t.lon(),
        north: t.lat(),
    }
}

pub fn run(a: &ManifestArgs) -> anyhow::Result<()> {
    let bbox = match &a.bbox {
        Some(s) => Some(query_box(&parse_bbox(s).map_err(|e| usage(e.to_string()))?)),
        None => None,
    };
    let q = ManifestQuery {
        version: a.dataset_version.as_deref().map(|v| parse_version(v).norm),
        variant: a.dataset_variant.clone(),
        year: a.year,
        bbox,
        with_scales_size: true,
        with_paths: false,
    };
    if !a.path.is_file() {
        return Err(usage(format!(
            "{}: no such manifest file",
            a.path.display()
        )));
    }
    let sel =
        read_manifest_file(&a.path, &q).with_context(|| format!("reading {}", a.path.display()))?;
    let bytes: i64 = sel
        .entries
        .iter()
        .map(|e| e.grid_size + e.scales_size.unwrap_or(0))
        .sum();
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
