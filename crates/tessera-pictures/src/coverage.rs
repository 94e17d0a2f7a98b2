//! Coverage of NPY datasets as pictures and files: which 0.1-degree tiles have embeddings for
//! which years, as the reference's `geotessera coverage` writes it (spec/formats.md §10.2,
//! §10.3): the coverage PNG, `coverage.json` (schema 2), `coverage_{id}.json`, the per-year
//! `coverage_{id}_{YYYY}.json` files, the 3600x1800 textures and the globe viewer.
//!
//! Everything starts from a [`YearGrid`]: one bit per (tile, year) in a dense global grid,
//! built in one pass over the manifest rows, so the files and pictures cost a few passes
//! over memory and no allocation per tile.

pub mod colors;
pub mod globe;
pub mod land;
pub mod map;
pub mod text;
pub mod texture;
mod year_files;

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tessera_core::TileId;

use crate::PictureError;

pub use year_files::{tile_key, write_year_files};

/// Columns of the dense grid: tile longitude keys -18005..=18005 in steps of 10.
pub const GRID_COLS: usize = 3602;
/// Rows of the dense grid: tile latitude keys 9005 down to -9005 in steps of 10.
pub const GRID_ROWS: usize = 1802;

/// The cell of a tile in the dense grid (row-major, north first).
pub fn cell_of(t: TileId) -> usize {
    let col = ((t.lon_i() + 18005) / 10) as usize;
    let row = ((9005 - t.lat_i()) / 10) as usize;
    row * GRID_COLS + col
}

/// The tile of a dense-grid cell.
pub fn tile_of(cell: usize) -> TileId {
    let (row, col) = (cell / GRID_COLS, cell % GRID_COLS);
    let lon_i = col as i32 * 10 - 18005;
    let lat_i = 9005 - row as i32 * 10;
    // Every cell of the grid is a tile centre by construction.
    TileId::from_keys(lon_i, lat_i).unwrap_or_else(|_| unreachable!("cell {cell} is a centre"))
}

/// Which years each tile of one dataset has: a bit per year (index into [`Self::years`])
/// per grid cell.
pub struct YearGrid {
    /// The dataset's distinct years, ascending.
    pub years: Vec<i32>,
    /// `GRID_COLS * GRID_ROWS` masks.
    masks: Vec<u64>,
}

impl YearGrid {
    /// Builds the grid from `(year, tile)` rows (duplicates are harmless). More than 64
    /// distinct years is refused.
    pub fn build(rows: &[(i32, TileId)]) -> Result<YearGrid, PictureError> {
        let mut years: Vec<i32> = rows.iter().map(|r| r.0).collect();
        years.par_sort_unstable();
        years.dedup();
        if years.len() > 64 {
            return Err(PictureError::Usage(format!(
                "coverage handles at most 64 distinct years; this dataset has {}",
                years.len()
            )));
        }
        let (first, last) = (
            years.first().copied().unwrap_or(0),
            years.last().copied().unwrap_or(0),
        );
        // Years are few and usually contiguous: a direct table when the span is small.
        let span = (i64::from(last) - i64::from(first) + 1) as usize;
        let table: Option<Vec<u8>> = (span <= 4096).then(|| {
            let mut t = vec![0u8; span];
            for (i, y) in years.iter().enumerate() {
                t[(y - first) as usize] = i as u8;
            }
            t
        });
        let bit = |y: i32| -> u64 {
            let i = match &table {
                Some(t) => t[(y - first) as usize] as usize,
                None => years.binary_search(&y).unwrap_or(0),
            };
            1u64 << i
        };
        let mut masks = vec![0u64; GRID_COLS * GRID_ROWS];
        for &(y, t) in rows {
            masks[cell_of(t)] |= bit(y);
        }
        Ok(YearGrid { years, masks })
    }

    /// The year mask of every cell.
    pub fn masks(&self) -> &[u64] {
        &self.masks
    }

    /// The year mask of a tile.
    pub fn mask(&self, t: TileId) -> u64 {
        self.masks[cell_of(t)]
    }

    /// Tile locations with at least one year.
    pub fn locations(&self) -> usize {
        self.masks.par_iter().filter(|m| **m != 0).count()
    }

    /// The newest year, if any.
    pub fn latest_year(&self) -> Option<i32> {
        self.years.last().copied()
    }
}

/// A dataset's landmask tiles: the landmask registry's, else (as the reference falls back)
/// the dataset's own tile locations.
pub fn landmask_cells(landmasks: Option<&[TileId]>, grid: &YearGrid) -> Vec<bool> {
    let mut cells = vec![false; GRID_COLS * GRID_ROWS];
    match landmasks {
        Some(l) => {
            for &t in l {
                cells[cell_of(t)] = true;
            }
        }
        None => {
            cells
                .par_iter_mut()
                .zip(grid.masks.par_iter())
                .for_each(|(c, m)| *c = *m != 0);
        }
    }
    cells
}

/// What one dataset's `coverage_{id}.json` says.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSummary {
    /// `"{version_path}_{variant}"`, e.g. `v1.1_cambridge`.
    pub id: String,
    /// The dataset's years, ascending.
    pub years: Vec<i32>,
    /// Tile locations with any year.
    pub total_tiles: usize,
    /// Landmask tiles.
    pub total_landmasks: usize,
    /// Landmask tiles without any embedding.
    pub total_no_coverage: usize,
    /// The version as the user gave it (`v1.1`), as the reference records it.
    pub version_label: String,
}

/// The files written for one dataset.
#[derive(Debug, Clone)]
pub struct DatasetFiles {
    /// What they say.
    pub summary: DatasetSummary,
    /// `coverage_{id}.json`.
    pub coverage_json: PathBuf,
    /// The per-year files, in year order.
    pub year_files: Vec<PathBuf>,
    /// `coverage_texture_{id}.png`.
    pub texture: PathBuf,
}

/// Writes one dataset's `coverage_{id}.json`, per-year files and texture into `dir`.
/// `tint`: the dataset's colour when several datasets are exported (the multi-dataset
/// texture rule), else `None`.
pub fn write_dataset_files(
    dir: &Path,
    id: &str,
    version_label: &str,
    grid: &YearGrid,
    landmasks: Option<&[TileId]>,
    tint: Option<[u8; 3]>,
) -> Result<DatasetFiles, PictureError> {
    let land = landmask_cells(landmasks, grid);
    let (total_tiles, total_landmasks, total_no_coverage) = grid
        .masks
        .par_iter()
        .zip(land.par_iter())
        .map(|(m, l)| {
            (
                usize::from(*m != 0),
                usize::from(*l),
                usize::from(*l && *m == 0),
            )
        })
        .reduce(|| (0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    let summary = DatasetSummary {
        id: id.to_string(),
        years: grid.years.clone(),
        total_tiles,
        total_landmasks,
        total_no_coverage,
        version_label: version_label.to_string(),
    };
    let prefix = format!("coverage_{id}_");
    let coverage_json = dir.join(format!("coverage_{id}.json"));
    let doc = serde_json::json!({
        "years": summary.years,
        "metadata": {
            "total_tiles": total_tiles,
            "total_landmasks": total_landmasks,
            "total_no_coverage": total_no_coverage,
            "version": version_label,
        },
        "dataset_id": id,
        "year_file_prefix": prefix,
    });
    write_json(&coverage_json, &doc)?;
    let year_files = write_year_files(dir, &prefix, grid)?;
    let texture = dir.join(format!("coverage_texture_{id}.png"));
    let rgba = texture::texture_pixels(grid, &land, tint);
    write_png(
        &texture,
        texture::WIDTH as u32,
        texture::HEIGHT as u32,
        png::ColorType::Rgba,
        &rgba,
    )?;
    Ok(DatasetFiles {
        summary,
        coverage_json,
        year_files,
        texture,
    })
}

/// One entry of `coverage.json`.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// The dataset id.
    pub id: String,
    /// Normalised version (`1.1`).
    pub version: String,
    /// Version path (`v1.1`).
    pub version_path: String,
    /// Variant.
    pub variant: String,
    /// Layer colour.
    pub color: [u8; 3],
    /// Years.
    pub years: Vec<i32>,
}

/// The reference's layer palette, in order.
pub const INDEX_PALETTE: [[u8; 3]; 6] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
];

/// Writes `coverage.json` (schema 2) into `dir`.
pub fn write_index(dir: &Path, entries: &[IndexEntry]) -> Result<PathBuf, PictureError> {
    let datasets: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id,
                "version": e.version,
                "version_path": e.version_path,
                "variant": e.variant,
                "color": e.color,
                "years": e.years,
                "coverage_json": format!("coverage_{}.json", e.id),
                "texture_png": format!("coverage_texture_{}.png", e.id),
            })
        })
        .collect();
    let path = dir.join("coverage.json");
    write_json(
        &path,
        &serde_json::json!({"datasets": datasets, "schema_version": 2}),
    )?;
    Ok(path)
}

/// Writes compact JSON atomically.
pub(crate) fn write_json(path: &Path, v: &serde_json::Value) -> Result<(), PictureError> {
    let bytes = serde_json::to_vec(v).map_err(|e| PictureError::Io(e.to_string()))?;
    write_bytes(path, &bytes)
}

/// Writes bytes atomically (never a partial file under the final name).
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), PictureError> {
    tessera_formats::atomic::write_atomic(path, |w| std::io::Write::write_all(w, bytes))
        .map_err(|e| PictureError::Io(format!("writing {}: {e}", path.display())))
}

/// Encodes 8-bit pixels as PNG and writes them atomically.
pub(crate) fn write_png(
    path: &Path,
    width: u32,
    height: u32,
    color: png::ColorType,
    data: &[u8],
) -> Result<(), PictureError> {
    let bytes = encode_png(width, height, color, data)?;
    write_bytes(path, &bytes)
}

/// Encodes 8-bit pixels as PNG (fast compression: these files are rewritten often).
pub fn encode_png(
    width: u32,
    height: u32,
    color: png::ColorType,
    data: &[u8],
) -> Result<Vec<u8>, PictureError> {
    let mut out = Vec::with_capacity(data.len() / 8);
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc
            .write_header()
            .map_err(|e| PictureError::Io(format!("encoding PNG: {e}")))?;
        w.write_image_data(data)
            .map_err(|e| PictureError::Io(format!("encoding PNG: {e}")))?;
        w.finish()
            .map_err(|e| PictureError::Io(format!("encoding PNG: {e}")))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(lon: f64, lat: f64) -> TileId {
        TileId::from_centre(lon, lat).unwrap()
    }

    #[test]
    fn cells_and_tiles_round_trip_at_the_edges() {
        for tile in [
            t(-180.05, -90.05),
            t(180.05, 90.05),
            t(0.15, 52.05),
            t(-0.05, -0.05),
        ] {
            assert_eq!(tile_of(cell_of(tile)), tile);
        }
        assert_eq!(cell_of(t(-180.05, 90.05)), 0);
        assert_eq!(cell_of(t(180.05, -90.05)), GRID_COLS * GRID_ROWS - 1);
    }

    #[test]
    fn the_grid_records_years_per_location() {
        let rows = vec![
            (2024, t(0.15, 52.05)),
            (2023, t(0.15, 52.05)),
            (2024, t(0.25, 52.05)),
            (2024, t(0.25, 52.05)),
        ];
        let g = YearGrid::build(&rows).unwrap();
        assert_eq!(g.years, vec![2023, 2024]);
        assert_eq!(g.mask(t(0.15, 52.05)), 0b11);
        assert_eq!(g.mask(t(0.25, 52.05)), 0b10);
        assert_eq!(g.locations(), 2);
        assert_eq!(g.latest_year(), Some(2024));
    }

    #[test]
    fn too_many_years_is_a_clear_error() {
        let rows: Vec<(i32, TileId)> = (0..65).map(|i| (1950 + i, t(0.15, 52.05))).collect();
        let e = YearGrid::build(&rows).err().unwrap();
        assert!(e.to_string().contains("at most 64"), "{e}");
    }
}
