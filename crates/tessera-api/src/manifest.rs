//! Manifest queries (the reference's selection rules): which tile-years a Parquet manifest
//! holds for a dataset, a year and a region.

use std::path::Path;

use tessera_client::{ClientError, Result};
use tessera_core::bbox::{BboxSpec, parse_bbox};
use tessera_core::dataset::parse_version;
use tessera_core::{Bbox, TileId};
use tessera_formats::manifest::{ManifestQuery, read_manifest_file};

pub use tessera_formats::manifest::{ManifestEntry, ManifestSelection};

/// What to select from a manifest; every field left `None` selects everything.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Dataset version (`v1`, `1.1`, `v1.1`: normalised as the reference does).
    pub version: Option<String>,
    /// Dataset variant (`cambridge`, `dclimate`).
    pub variant: Option<String>,
    /// One year.
    pub year: Option<i32>,
    /// A region as the CLI writes it: `W,S,E,N` or a point `LON,LAT`.
    pub bbox: Option<String>,
}

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

/// The tile-years of the manifest at `path` that `sel` selects, with scales sizes.
/// `Usage` for a bad region or a missing file; `Format` for a file that is not a
/// manifest.
pub fn select(path: &Path, sel: &Selection) -> Result<ManifestSelection> {
    let bbox = match &sel.bbox {
        Some(s) => Some(query_box(
            &parse_bbox(s).map_err(|e| ClientError::Usage(e.to_string()))?,
        )),
        None => None,
    };
    let q = ManifestQuery {
        version: sel.version.as_deref().map(|v| parse_version(v).norm),
        variant: sel.variant.clone(),
        year: sel.year,
        bbox,
        with_scales_size: true,
        with_paths: false,
    };
    if !path.is_file() {
        return Err(ClientError::Usage(format!(
            "{}: no such manifest file",
            path.display()
        )));
    }
    read_manifest_file(path, &q)
        .map_err(|e| ClientError::Format(format!("reading {}: {e}", path.display())))
}

/// Bytes of embeddings and scales in `sel`.
pub fn total_bytes(sel: &ManifestSelection) -> i64 {
    sel.entries
        .iter()
        .map(|e| e.grid_size + e.scales_size.unwrap_or(0))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_selects_its_tile_and_a_box_grows() {
        let p = query_box(&parse_bbox("0.17,51.43").unwrap());
        assert!((p.west - 0.1).abs() < 1e-9 && (p.east - 0.2).abs() < 1e-9);
        let b = query_box(&parse_bbox("0.1,51.4,0.3,51.5").unwrap());
        assert!((b.west - 0.05).abs() < 1e-9 && (b.north - 51.55).abs() < 1e-9);
    }

    #[test]
    fn a_missing_file_is_the_users_mistake() {
        let e = select(Path::new("/nonexistent/m.parquet"), &Selection::default()).unwrap_err();
        assert!(e.is_usage(), "{e}");
        assert!(e.to_string().contains("no such manifest file"));
    }
}
