//! Web maps, GeoTIFF merges and coverage maps for Python: `geotessera_rs.web`,
//! `GeoTessera.merge_geotiffs_to_mosaic` and `visualization.visualize_global_coverage`.

use std::path::PathBuf;

use pyo3::prelude::*;
use tessera_api::coverage::{CoverageRequest, coverage};
use tessera_api::tiles::{Compression, OutputOptions, RegionArgs};
use tessera_api::webmap::{ViewerPage, prepare_web_ready, web_tiles, write_viewer_page};

use crate::context;
use crate::errors::usage;
use crate::progress::run;

/// `input` in EPSG:3857 at `output` (or `input` itself when it already is); returns the
/// path.
#[pyfunction]
pub fn web_ready(py: Python<'_>, input: PathBuf, output: PathBuf) -> PyResult<String> {
    let p = run(py, None, move |_| prepare_web_ready(&input, &output))?;
    Ok(p.display().to_string())
}

/// The gdal2tiles pyramid of `input` written into `out_dir`; returns `(tiles, reused)`.
#[pyfunction]
#[pyo3(signature = (input, out_dir, min_zoom=8, max_zoom=15, force=false, callback=None))]
pub fn build_web_tiles(
    py: Python<'_>,
    input: PathBuf,
    out_dir: PathBuf,
    min_zoom: u8,
    max_zoom: u8,
    force: bool,
    callback: Option<Bound<'_, PyAny>>,
) -> PyResult<(u64, bool)> {
    let r = run(py, callback.as_ref(), move |p| {
        web_tiles(&input, &out_dir, min_zoom, max_zoom, force, p)
    })?;
    Ok((r.tiles, r.reused))
}

/// The outline of a region file (GeoJSON, Shapefile, GeoPackage) as GeoJSON text.
#[pyfunction]
pub fn region_outline(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    run(py, None, move |p| {
        tessera_api::webmap::region_outline(&path, p)
    })
}

/// A Leaflet page over the tiles in `tiles_dir`; returns its path.
#[pyfunction]
#[pyo3(signature = (tiles_dir, output_html, center_lon, center_lat, zoom, title, region_geojson=None))]
#[allow(clippy::too_many_arguments)]
pub fn viewer_page(
    py: Python<'_>,
    tiles_dir: PathBuf,
    output_html: PathBuf,
    center_lon: f64,
    center_lat: f64,
    zoom: u8,
    title: String,
    region_geojson: Option<String>,
) -> PyResult<String> {
    let page = ViewerPage {
        tiles_dir,
        output_html,
        center: [center_lon, center_lat],
        zoom,
        title,
        region_geojson,
    };
    let p = run(py, None, move |_| write_viewer_page(&page))?;
    Ok(p.display().to_string())
}

/// GeoTIFFs merged onto one grid in `target_crs`; returns the output path.
#[pyfunction]
#[pyo3(signature = (paths, output, target_crs="EPSG:3857", compress="lzw", memory_mb=512, callback=None))]
pub fn merge_geotiffs(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    output: PathBuf,
    target_crs: &str,
    compress: &str,
    memory_mb: usize,
    callback: Option<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let crs: tessera_core::Crs = target_crs.parse().map_err(usage)?;
    let opts = OutputOptions {
        compression: compress.parse::<Compression>().map_err(usage)?,
        ..Default::default()
    };
    let m = run(py, callback.as_ref(), move |p| {
        tessera_api::visualize::merge_geotiffs(
            &paths,
            &output,
            crs,
            opts,
            memory_mb.max(16) << 20,
            p,
        )
    })?;
    Ok(m.path.display().to_string())
}

/// The coverage map (`tessera coverage`) of a dataset; returns the PNG's path.
#[pyfunction]
#[pyo3(signature = (output, year=None, width=2000, show_countries=true, tile_color="red", tile_alpha=0.6, tile_size=1.0, multi_year_colors=true, region_bbox=None, region_file=None, version=None, variant=None, registry_dir=None, mirror=None, cache_dir=None, callback=None))]
#[allow(clippy::too_many_arguments)]
pub fn coverage_map(
    py: Python<'_>,
    output: PathBuf,
    year: Option<i32>,
    width: u32,
    show_countries: bool,
    tile_color: &str,
    tile_alpha: f64,
    tile_size: f64,
    multi_year_colors: bool,
    region_bbox: Option<(f64, f64, f64, f64)>,
    region_file: Option<PathBuf>,
    version: Option<String>,
    variant: Option<String>,
    registry_dir: Option<PathBuf>,
    mirror: Option<String>,
    cache_dir: Option<PathBuf>,
    callback: Option<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let ctx = context::open(mirror, cache_dir)?;
    let region = match (region_bbox, region_file) {
        (Some(b), _) => Some(RegionArgs {
            bbox: Some(format!("{},{},{},{}", b.0, b.1, b.2, b.3)),
            ..Default::default()
        }),
        (None, Some(f)) => Some(RegionArgs {
            region_file: Some(f),
            ..Default::default()
        }),
        (None, None) => None,
    };
    let req = CoverageRequest {
        output,
        year,
        region,
        tile_color: tile_color.to_string(),
        tile_alpha,
        tile_size,
        width,
        no_countries: !show_countries,
        no_multi_year_colors: !multi_year_colors,
        dataset_version: version,
        dataset_variant: variant,
        registry_dir,
        ..Default::default()
    };
    let r = run(py, callback.as_ref(), move |p| coverage(&ctx, &req, p))?;
    Ok(r.png.display().to_string())
}
