//! `coverage`: which tiles a dataset (or every published NPY dataset, `by_source`) has, as
//! the reference's `geotessera coverage` writes it from the NPY manifests: the PNG map, and
//! beside it `coverage.json` (schema 2), the per-dataset and per-year JSON files, the
//! textures and the offline globe viewer (spec/formats.md §10.2, §10.3).

use std::path::{Path, PathBuf};

use tessera_client::{ClientError, Result};
use tessera_core::dataset::{DATASETS, Format, FormatChoice, default_variant, parse_version};
use tessera_core::{BboxSpec, DatasetRef, TileId};
use tessera_pictures::coverage::colors::{
    DARKBLUE, DARKGREEN, DARKORANGE, LIGHTGRAY, TAB10, parse_color,
};
use tessera_pictures::coverage::map::{LegendItem, MapSpec, MapTile, render_map};
use tessera_pictures::coverage::{
    GRID_COLS, GRID_ROWS, INDEX_PALETTE, IndexEntry, YearGrid, globe, tile_of, write_dataset_files,
    write_index,
};

use crate::tiles::{DatasetOptions, RegionArgs, TileDataset, picture_error, resolve_region};
use crate::{Context, Progress};

/// What to draw and write.
#[derive(Debug, Clone)]
pub struct CoverageRequest {
    /// A PNG path, or a directory (no .png/.jpg/.jpeg suffix, an existing directory, or a
    /// trailing `/`) that gets `tessera_coverage.png`; the other files go beside the PNG.
    pub output: PathBuf,
    /// Show one year (all when `None`).
    pub year: Option<i32>,
    /// Limit the PNG to a region (the JSON files and textures stay global).
    pub region: Option<RegionArgs>,
    /// Tile colour of single-colour maps.
    pub tile_color: String,
    /// Tile opacity, 0 to 1.
    pub tile_alpha: f64,
    /// Tile size multiplier.
    pub tile_size: f64,
    /// PNG width in pixels.
    pub width: u32,
    /// Hide the land layer.
    pub no_countries: bool,
    /// One colour for all tiles instead of the year classes.
    pub no_multi_year_colors: bool,
    /// One colour per (version, variant).
    pub by_source: bool,
    /// `--dataset-version` as given (`None`: v1.1, or all with `by_source`).
    pub dataset_version: Option<String>,
    /// `--dataset-variant` as given (`None`: the version's NPY default, or all).
    pub dataset_variant: Option<String>,
    /// A directory holding `manifest.parquet` and `landmasks.parquet`.
    pub registry_dir: Option<PathBuf>,
    /// The "Generated:" time (`None`: now, local time).
    pub generated: Option<String>,
}

impl Default for CoverageRequest {
    fn default() -> Self {
        CoverageRequest {
            output: PathBuf::from("tessera_coverage.png"),
            year: None,
            region: None,
            tile_color: "red".into(),
            tile_alpha: 0.6,
            tile_size: 1.0,
            width: 2000,
            no_countries: false,
            no_multi_year_colors: false,
            by_source: false,
            dataset_version: None,
            dataset_variant: None,
            registry_dir: None,
            generated: None,
        }
    }
}

/// One dataset written beside the PNG.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportedDataset {
    /// `v1.1_cambridge`.
    pub id: String,
    /// Its years.
    pub years: Vec<i32>,
    /// Its tile locations.
    pub tiles: usize,
    /// The texture file.
    pub texture: PathBuf,
}

/// What `coverage` made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CoverageReport {
    /// The PNG.
    pub png: PathBuf,
    /// The directory of the other files.
    pub dir: PathBuf,
    /// The region's bounds `[W, S, E, N]`, when one was given.
    pub region: Option<[f64; 4]>,
    /// Rectangles drawn.
    pub tiles_shown: usize,
    /// The years of the map's datasets, ascending.
    pub years: Vec<i32>,
    /// Whether the map is coloured by source.
    pub by_source: bool,
    /// The datasets written beside the PNG.
    pub datasets: Vec<ExportedDataset>,
    /// `coverage.json`.
    pub index: PathBuf,
    /// `globe.html`.
    pub globe: PathBuf,
}

/// Where the PNG and the other files go (the reference's rule).
pub fn resolve_output(output: &Path) -> (PathBuf, PathBuf) {
    let s = output.to_string_lossy();
    let ext = output
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let image = matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"));
    if !image || output.is_dir() || s.ends_with('/') {
        (output.join("tessera_coverage.png"), output.to_path_buf())
    } else {
        let dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        (output.to_path_buf(), dir)
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Local time as `YYYY-mm-dd HH:MM:SS`.
fn now_local() -> String {
    // SAFETY: `time` and `localtime_r` write only into the locals passed to them.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return String::new();
        }
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        )
    }
}

/// One dataset to export: its identity, colour and the version string the reference
/// records for it.
struct Combo {
    dataset: DatasetRef,
    version_label: String,
    color: [u8; 3],
}

fn usage(s: impl Into<String>) -> ClientError {
    ClientError::Usage(s.into())
}

fn is_all(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("all"))
}

/// Checks the options before anything is read.
fn validate(req: &CoverageRequest) -> Result<[u8; 3]> {
    if !(0.0..=1.0).contains(&req.tile_alpha) {
        return Err(usage(format!(
            "--tile-alpha must be between 0 and 1; got {}",
            req.tile_alpha
        )));
    }
    if !(req.tile_size.is_finite() && req.tile_size > 0.0 && req.tile_size <= 100.0) {
        return Err(usage(format!(
            "--tile-size must be a number above 0 (at most 100); got {}",
            req.tile_size
        )));
    }
    if !(200..=tessera_pictures::coverage::map::MAX_SIDE).contains(&req.width) {
        return Err(usage(format!(
            "--width must be between 200 and {} pixels; got {}",
            tessera_pictures::coverage::map::MAX_SIDE,
            req.width
        )));
    }
    parse_color(&req.tile_color).ok_or_else(|| {
        usage(format!(
            "--tile-color '{}' is not a colour: use a name (red, darkgreen, tab:blue) or #rrggbb",
            req.tile_color
        ))
    })
}

/// The datasets to export and the one the reference opens first, as it resolves
/// `--dataset-version`, `--dataset-variant` and `--by-source`.
fn combos(req: &CoverageRequest, by_source: bool) -> Result<Vec<Combo>> {
    let (version_spec, variant_spec) = if by_source {
        (
            req.dataset_version.clone().unwrap_or_else(|| "all".into()),
            req.dataset_variant.clone().unwrap_or_else(|| "all".into()),
        )
    } else {
        let v = req.dataset_version.clone().unwrap_or_else(|| "v1.1".into());
        let norm = parse_version(&v).norm;
        let var = req
            .dataset_variant
            .clone()
            .unwrap_or_else(|| default_variant(&norm, FormatChoice::Only(Format::Npy)).into());
        (v, var)
    };
    let all_versions = version_spec.eq_ignore_ascii_case("all");
    let all_variants = variant_spec.eq_ignore_ascii_case("all");
    let init_version = if by_source && all_versions {
        "v1".to_string()
    } else {
        version_spec.clone()
    };
    let init = parse_version(&init_version);
    let init_variant = if by_source && all_variants {
        default_variant(&init.norm, FormatChoice::Only(Format::Npy)).to_string()
    } else {
        variant_spec.clone()
    };
    let pairs: Vec<(String, String)> = if by_source {
        DATASETS
            .iter()
            .filter(|d| d.npy.is_some())
            .filter(|d| all_versions || d.version == parse_version(&version_spec).norm)
            .filter(|d| all_variants || d.variant == variant_spec)
            .map(|d| (d.version.to_string(), d.variant.to_string()))
            .collect()
    } else {
        vec![(init_version.clone(), init_variant.clone())]
    };
    if pairs.is_empty() {
        return Err(usage(format!(
            "no published NPY dataset matches --dataset-version {version_spec} --dataset-variant {variant_spec}; 'tessera info' lists the datasets"
        )));
    }
    pairs
        .into_iter()
        .enumerate()
        .map(|(i, (v, var))| {
            let dataset = DatasetRef::resolve_as_reference(
                &v,
                Some(&var),
                FormatChoice::Only(Format::Npy),
                !by_source,
            )
            .map_err(|e| usage(e.to_string()))?;
            let same_as_init = dataset.version.path == init.path && dataset.variant == init_variant;
            Ok(Combo {
                version_label: if same_as_init {
                    init_version.clone()
                } else {
                    v
                },
                dataset,
                color: INDEX_PALETTE[i % INDEX_PALETTE.len()],
            })
        })
        .collect()
}

/// A dataset's rows and its year grid.
struct Loaded {
    combo_index: usize,
    dataset: TileDataset,
    rows: Vec<(i32, TileId)>,
    grid: YearGrid,
}

fn load(
    ctx: &Context,
    req: &CoverageRequest,
    d: &DatasetRef,
    progress: &Progress,
) -> Result<Loaded> {
    let opts = DatasetOptions {
        version: d.version.path.clone(),
        variant: Some(d.variant.clone()),
        registry_dir: req.registry_dir.clone(),
        ..Default::default()
    };
    let dataset = TileDataset::open(ctx, &opts, progress)?;
    let rows: Vec<(i32, TileId)> = dataset
        .registry()
        .all()?
        .entries
        .into_iter()
        .map(|e| (e.year, e.tile))
        .collect();
    if rows.is_empty() {
        return Err(ClientError::NoData(format!(
            "Manifest has no rows for version={}, variant={}. Check the dataset_version and dataset_variant arguments.",
            d.version.norm, d.variant
        )));
    }
    let grid = YearGrid::build(&rows).map_err(picture_error)?;
    Ok(Loaded {
        combo_index: 0,
        dataset,
        rows,
        grid,
    })
}

/// Whether the tile's box meets `b` (edges inclusive), as `is_tile_in_region` decides.
fn box_meets(t: TileId, b: &[f64; 4]) -> bool {
    let (lon, lat) = (f64::from(t.lon_i()) / 100.0, f64::from(t.lat_i()) / 100.0);
    !(lon - 0.05 > b[2] || lon + 0.05 < b[0] || lat - 0.05 > b[3] || lat + 0.05 < b[1])
}

/// Whether the centre lies within `b` grown by 0.05 (the by-source filter).
fn centre_near(t: TileId, b: &[f64; 4]) -> bool {
    let (lon, lat) = (f64::from(t.lon_i()) / 100.0, f64::from(t.lat_i()) / 100.0);
    lon >= b[0] - 0.05 && lon <= b[2] + 0.05 && lat >= b[1] - 0.05 && lat <= b[3] + 0.05
}

/// Draws the coverage map and writes it, the JSON files, the textures and the globe.
pub fn coverage(
    ctx: &Context,
    req: &CoverageRequest,
    progress: &Progress,
) -> Result<CoverageReport> {
    let tile_color = validate(req)?;
    let by_source = req.by_source || is_all(&req.dataset_version) || is_all(&req.dataset_variant);
    if by_source && !req.by_source {
        progress.note("Explicit 'all' requested: enabling --by-source rendering");
    }
    let region = match &req.region {
        Some(a) => Some(resolve_region(a, progress)?),
        None => None,
    };
    let bounds = region.as_ref().map(|r| {
        let b = r.bounds();
        [b.west, b.south, b.east, b.north]
    });
    if let Some(r) = &region
        && let BboxSpec::Tile(t) = r.spec
    {
        progress.note(format!("Point -> tile {}", t.name()));
    }
    let file_region = req
        .region
        .as_ref()
        .is_some_and(|a| a.region_file.is_some() || a.country.is_some());
    let show_land = !req.no_countries && !file_region;
    let outline: Vec<Vec<(f64, f64)>> = region
        .as_ref()
        .map(|r| r.polygons.iter().flat_map(|p| p.rings.clone()).collect())
        .unwrap_or_default();
    let combos = combos(req, by_source)?;
    let (png, dir) = resolve_output(&req.output);
    crate::tiles::prepare_output(&dir)?;

    // Open every dataset (by source: skipping those that fail, as the reference does).
    let mut loaded: Vec<Loaded> = Vec::new();
    for (i, c) in combos.iter().enumerate() {
        if progress.is_cancelled() {
            return Err(ClientError::Cancelled);
        }
        match load(ctx, req, &c.dataset, progress) {
            Ok(mut l) => {
                l.combo_index = i;
                loaded.push(l);
            }
            // As the reference, a dataset whose manifest cannot be had is skipped.
            Err(e) if by_source && !matches!(e, ClientError::Cancelled) => {
                progress.warn(format!(
                    "Skipping {}_{}: {e}",
                    c.dataset.version.path, c.dataset.variant
                ));
            }
            Err(e) => return Err(e),
        }
    }
    if loaded.is_empty() {
        return Err(ClientError::NoData(
            "No manifests available to render.".into(),
        ));
    }

    let generated = req.generated.clone().unwrap_or_else(now_local);
    let (spec, tiles, years) = if by_source {
        by_source_map(req, &loaded, bounds, show_land, &outline)?
    } else {
        single_map(
            req, &loaded[0], tile_color, bounds, show_land, &outline, &generated,
        )
    };
    let png_bytes = render_map(&spec, &tiles).map_err(picture_error)?;
    tessera_pictures::coverage::write_bytes(&png, &png_bytes).map_err(picture_error)?;

    // The globe's files: one set per dataset, tinted when there are several.
    let tinted = combos.len() > 1;
    let mut datasets = Vec::new();
    let mut index = Vec::new();
    for l in &loaded {
        let c = &combos[l.combo_index];
        let d = &c.dataset;
        let id = format!("{}_{}", d.version.path, d.variant);
        let landmasks: Option<Vec<TileId>> = l
            .dataset
            .registry()
            .landmasks
            .as_ref()
            .map(|m| m.keys().copied().collect());
        let files = write_dataset_files(
            &dir,
            &id,
            &c.version_label,
            &l.grid,
            landmasks.as_deref(),
            tinted.then_some(c.color),
        )
        .map_err(picture_error)?;
        index.push(IndexEntry {
            id: id.clone(),
            version: d.version.norm.clone(),
            version_path: d.version.path.clone(),
            variant: d.variant.clone(),
            color: c.color,
            years: l.grid.years.clone(),
        });
        datasets.push(ExportedDataset {
            id,
            years: l.grid.years.clone(),
            tiles: files.summary.total_tiles,
            texture: files.texture,
        });
    }
    let index_path = write_index(&dir, &index).map_err(picture_error)?;
    let globe = globe::write_globe(&dir).map_err(picture_error)?;
    Ok(CoverageReport {
        png,
        dir,
        region: bounds,
        tiles_shown: tiles.len(),
        years,
        by_source,
        datasets,
        index: index_path,
        globe,
    })
}

fn land_legend(show_land: bool, outline: &[Vec<(f64, f64)>], legend: &mut Vec<LegendItem>) {
    if show_land {
        legend.push(LegendItem {
            color: LIGHTGRAY,
            alpha: 1.0,
            outline: false,
            label: "Land masses".into(),
        });
    }
    if !outline.is_empty() {
        legend.push(LegendItem {
            color: [255, 0, 0],
            alpha: 1.0,
            outline: true,
            label: "Region boundary".into(),
        });
    }
}

/// The single-dataset map (`visualize_global_coverage`).
fn single_map(
    req: &CoverageRequest,
    l: &Loaded,
    tile_color: [u8; 3],
    bounds: Option<[f64; 4]>,
    show_land: bool,
    outline: &[Vec<(f64, f64)>],
    generated: &str,
) -> (MapSpec, Vec<MapTile>, Vec<i32>) {
    let years = l.grid.years.clone();
    let n_years = years.len();
    let inside = |t: TileId| bounds.is_none_or(|b| box_meets(t, &b));
    let region_suffix = if bounds.is_some() {
        " (Region View)"
    } else {
        ""
    };
    let mut tiles = Vec::new();
    let (title, palette, mut legend);
    if let Some(year) = req.year {
        let mut seen = std::collections::HashSet::new();
        for &(y, t) in &l.rows {
            if y == year && inside(t) && seen.insert(t) {
                tiles.push(MapTile {
                    lon_i: t.lon_i(),
                    lat_i: t.lat_i(),
                    color: 0,
                });
            }
        }
        title = format!("Tessera Embedding Coverage - Year {year}{region_suffix}");
        palette = vec![tile_color];
        legend = vec![available(tile_color, req.tile_alpha)];
    } else {
        let multi = !req.no_multi_year_colors;
        let masks = l.grid.masks();
        for (cell, &m) in masks.iter().enumerate().take(GRID_COLS * GRID_ROWS) {
            if m == 0 {
                continue;
            }
            let t = tile_of(cell);
            if !inside(t) {
                continue;
            }
            let n = m.count_ones() as usize;
            let newest = 63 - m.leading_zeros() as usize;
            let color = if !multi || n == n_years {
                0
            } else if n == 1 && newest + 1 == n_years {
                1
            } else {
                2
            };
            tiles.push(MapTile {
                lon_i: t.lon_i(),
                lat_i: t.lat_i(),
                color,
            });
        }
        if multi {
            title = format!("Tessera Embedding Coverage - Multi-Year Analysis{region_suffix}");
            palette = vec![DARKGREEN, DARKBLUE, DARKORANGE];
            let latest = years.last().copied().unwrap_or_default();
            let a = req.tile_alpha;
            legend = vec![
                LegendItem {
                    color: DARKGREEN,
                    alpha: a,
                    outline: false,
                    label: format!("All years ({n_years} years)"),
                },
                LegendItem {
                    color: DARKBLUE,
                    alpha: a,
                    outline: false,
                    label: format!("Latest year only ({latest})"),
                },
                LegendItem {
                    color: DARKORANGE,
                    alpha: a,
                    outline: false,
                    label: "Partial years coverage".into(),
                },
            ];
        } else {
            title = format!("Tessera Embedding Coverage - All Available Years{region_suffix}");
            palette = vec![tile_color];
            legend = vec![available(tile_color, req.tile_alpha)];
        }
    }
    land_legend(show_land, outline, &mut legend);
    let mut stats = vec![format!("Total tiles: {}", thousands(tiles.len()))];
    if req.year.is_none()
        && let (Some(a), Some(b)) = (years.first(), years.last())
    {
        stats.push(format!("Years: {a}-{b}"));
    }
    stats.push(format!("Generated: {generated}"));
    let spec = MapSpec {
        width: req.width,
        region: bounds,
        title,
        stats,
        legend,
        palette,
        tile_alpha: req.tile_alpha,
        tile_size: req.tile_size,
        show_land,
        outline: outline.to_vec(),
    };
    (spec, tiles, years)
}

fn available(color: [u8; 3], alpha: f64) -> LegendItem {
    LegendItem {
        color,
        alpha,
        outline: false,
        label: "Available tiles".into(),
    }
}

/// The by-source map (`visualize_sources_coverage`): one colour per (version, variant).
fn by_source_map(
    req: &CoverageRequest,
    loaded: &[Loaded],
    bounds: Option<[f64; 4]>,
    show_land: bool,
    outline: &[Vec<(f64, f64)>],
) -> Result<(MapSpec, Vec<MapTile>, Vec<i32>)> {
    let mut groups: Vec<(String, String, usize)> = Vec::new();
    let mut per_group: Vec<Vec<MapTile>> = Vec::new();
    let mut years: Vec<i32> = Vec::new();
    for (li, l) in loaded.iter().enumerate() {
        let d = l.dataset.dataset();
        let bit = match req.year {
            Some(y) => match l.grid.years.iter().position(|v| *v == y) {
                Some(i) => 1u64 << i,
                None => 0,
            },
            None => u64::MAX,
        };
        let masks = l.grid.masks();
        let mut tiles = Vec::new();
        for (cell, m) in masks.iter().enumerate() {
            if m & bit == 0 {
                continue;
            }
            let t = tile_of(cell);
            if bounds.is_some_and(|b| !centre_near(t, &b)) {
                continue;
            }
            tiles.push(MapTile {
                lon_i: t.lon_i(),
                lat_i: t.lat_i(),
                color: 0,
            });
        }
        if !tiles.is_empty() {
            years.extend(&l.grid.years);
            groups.push((d.version.norm.clone(), d.variant.clone(), li));
            per_group.push(tiles);
        }
    }
    if groups.is_empty() {
        return Err(ClientError::NoData(
            "No tiles to render after filtering. Check --year / --dataset-version / --dataset-variant / region constraints.".into(),
        ));
    }
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|a, b| (&groups[*a].0, &groups[*a].1).cmp(&(&groups[*b].0, &groups[*b].1)));
    let mut tiles = Vec::new();
    let mut legend = Vec::new();
    let mut palette = Vec::new();
    for (rank, &g) in order.iter().enumerate() {
        let color = TAB10[rank % TAB10.len()];
        palette.push(color);
        legend.push(LegendItem {
            color,
            alpha: req.tile_alpha,
            outline: false,
            label: format!(
                "{} / {} ({} tiles)",
                groups[g].0,
                groups[g].1,
                thousands(per_group[g].len())
            ),
        });
        tiles.extend(per_group[g].iter().map(|t| MapTile {
            color: rank as u8,
            ..*t
        }));
    }
    land_legend(show_land, outline, &mut legend);
    let mut title = vec!["Tessera Coverage by Source".to_string()];
    if let Some(y) = req.year {
        title.push(format!("Year {y}"));
    }
    if bounds.is_some() {
        title.push("(Region View)".into());
    }
    years.sort_unstable();
    years.dedup();
    let spec = MapSpec {
        width: req.width,
        region: bounds,
        title: title.join(" \u{2013} "),
        stats: Vec::new(),
        legend,
        palette,
        tile_alpha: req.tile_alpha,
        tile_size: req.tile_size,
        show_land,
        outline: outline.to_vec(),
    };
    Ok((spec, tiles, years))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_resolve_as_the_reference_does() {
        assert_eq!(
            resolve_output(Path::new("out/map.png")),
            (PathBuf::from("out/map.png"), PathBuf::from("out"))
        );
        assert_eq!(
            resolve_output(Path::new("map.PNG")),
            (PathBuf::from("map.PNG"), PathBuf::from("."))
        );
        assert_eq!(
            resolve_output(Path::new("cov")),
            (
                PathBuf::from("cov/tessera_coverage.png"),
                PathBuf::from("cov")
            )
        );
        assert_eq!(
            resolve_output(Path::new("cov.png/")).1,
            PathBuf::from("cov.png/")
        );
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn by_source_lists_every_published_npy_dataset_with_the_references_labels() {
        let req = CoverageRequest {
            by_source: true,
            ..Default::default()
        };
        let c = combos(&req, true).unwrap();
        let ids: Vec<String> = c
            .iter()
            .map(|c| {
                format!(
                    "{}_{}={}",
                    c.dataset.version.path, c.dataset.variant, c.version_label
                )
            })
            .collect();
        assert_eq!(
            ids,
            [
                "v1_vultr=v1",
                "v1.1_cambridge=1.1",
                "v2_2B-L~beta1=2.0",
                "v2_2B-L~beta2=2.0"
            ]
        );
        assert_eq!(c[1].color, INDEX_PALETTE[1]);
        let single = combos(&CoverageRequest::default(), false).unwrap();
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].dataset.variant, "cambridge");
        assert_eq!(single[0].version_label, "v1.1");
    }

    #[test]
    fn bad_options_are_usage_errors() {
        for req in [
            CoverageRequest {
                tile_alpha: 1.5,
                ..Default::default()
            },
            CoverageRequest {
                tile_size: 0.0,
                ..Default::default()
            },
            CoverageRequest {
                width: 10,
                ..Default::default()
            },
            CoverageRequest {
                tile_color: "notacolour".into(),
                ..Default::default()
            },
        ] {
            assert!(validate(&req).unwrap_err().is_usage());
        }
    }
}
