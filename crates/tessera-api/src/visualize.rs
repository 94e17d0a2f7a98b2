//! `tessera visualize`: PCA false colour of a GeoTIFF or a directory of tiles, fitted on
//! one reproducible sample of all inputs (as geotessera 0.11's `visualize`), mosaicked onto
//! one grid in the target CRS and written as a uint8 GeoTIFF with an internal mask, plus a
//! PNG quicklook.

use std::path::{Path, PathBuf};

use tessera_client::local::{self, EmbeddingTile, GeoTiffTile, TileSource};
use tessera_client::{ClientError, Result};
use tessera_core::{Crs, TileGeoref};
use tessera_formats::geotiff::GdalMetadata;
pub use tessera_pictures::Balance;
use tessera_pictures::grid::{TargetGrid, suggested_bounds};
use tessera_pictures::mosaic::bounds_in;
pub use tessera_pictures::pca::PcaModel;
use tessera_pictures::visualize::{Coloured, Projection, fit_projection, write_rgb_geotiff};
use tessera_pictures::{Mosaic, MosaicOptions, Overlap, PictureError, Resampling, Source};

use crate::Progress;
use crate::tiles::mosaic::picture_error;

/// What `tessera visualize` asks for.
#[derive(Debug, Clone)]
pub struct VisualizeRequest {
    /// A GeoTIFF, or a directory of GeoTIFF or NPY tiles (the reference's local layout).
    pub input: PathBuf,
    /// The output GeoTIFF (`.tif` or `.tiff`).
    pub output: PathBuf,
    /// The output CRS (the reference's default is EPSG:3857).
    pub crs: Crs,
    /// Components to fit; the first three are drawn.
    pub n_components: usize,
    /// How scores become colours.
    pub balance: Balance,
    /// Memory budget for the mosaic's strips, bytes.
    pub memory_bytes: usize,
    /// Also write a PNG quicklook at most this many pixels wide or tall.
    pub quicklook_px: Option<usize>,
    /// Write a Cloud-Optimized GeoTIFF (internal overviews and masks, directories first).
    pub cog: bool,
}

/// What `visualize` made.
#[derive(Debug, Clone)]
pub struct Visualized {
    /// The GeoTIFF.
    pub path: PathBuf,
    /// The PNG quicklook.
    pub quicklook: Option<PathBuf>,
    /// The output grid.
    pub grid: TargetGrid,
    /// Bands written (at most 3).
    pub bands: usize,
    /// Inputs read.
    pub inputs: usize,
    /// Pixels in the PCA fit.
    pub samples: usize,
    /// Explained variance ratio of each fitted component.
    pub explained_variance_ratio: Vec<f64>,
    /// The fitted components (`n × bands`, sign rule applied).
    pub components: Vec<Vec<f64>>,
}

/// GeoTIFF tags, name and value.
pub type Tags = Vec<(&'static str, String)>;

/// One input raster: an NPY tile or a float32 GeoTIFF.
pub enum Input {
    /// An NPY tile (int8 + scales).
    Npy(EmbeddingTile),
    /// A GeoTIFF (an export).
    Tiff(GeoTiffTile),
}

impl Source for Input {
    fn georef(&self) -> TileGeoref {
        match self {
            Input::Npy(t) => Source::georef(t),
            Input::Tiff(t) => Source::georef(t),
        }
    }
    fn bands(&self) -> usize {
        match self {
            Input::Npy(t) => Source::bands(t),
            Input::Tiff(t) => Source::bands(t),
        }
    }
    fn read_window(
        &self,
        r0: usize,
        n: usize,
        c0: usize,
        m: usize,
    ) -> std::result::Result<Vec<f32>, PictureError> {
        match self {
            Input::Npy(t) => t.read_window(r0, n, c0, m),
            Input::Tiff(t) => t.read_window(r0, n, c0, m),
        }
    }
    fn owns(&self, lon: f64, lat: f64) -> bool {
        match self {
            Input::Npy(t) => t.owns(lon, lat),
            Input::Tiff(t) => t.owns(lon, lat),
        }
    }
    fn name(&self) -> String {
        match self {
            Input::Npy(t) => t.name(),
            Input::Tiff(t) => t.name(),
        }
    }
    fn read_window_codes(
        &self,
        r0: usize,
        n: usize,
        c0: usize,
        m: usize,
    ) -> std::result::Result<Option<tessera_pictures::mosaic::Codes<'_>>, PictureError> {
        match self {
            Input::Npy(t) => t.read_window_codes(r0, n, c0, m),
            Input::Tiff(_) => Ok(None),
        }
    }
}

/// The inputs at `path` in the reference's order (year, lat, lon), NPY preferred where a
/// tile has both, with the first input's identity tags (year, tile centre).
pub fn open_inputs(path: &Path) -> Result<(Vec<Input>, Tags)> {
    let tiff = |p: &Path| -> Result<Input> {
        let t = GeoTiffTile::open(p)?;
        t.georef()?;
        Ok(Input::Tiff(t))
    };
    if path.is_file() {
        let t = tiff(path)?;
        let tags = match &t {
            Input::Tiff(g) => g
                .info
                .metadata
                .get("TESSERA_YEAR")
                .map(|y| vec![("TESSERA_YEAR", y.to_string())])
                .unwrap_or_default(),
            Input::Npy(_) => Vec::new(),
        };
        return Ok((vec![t], tags));
    }
    if !path.is_dir() {
        return Err(ClientError::Usage(format!(
            "{}: no such file or directory; give a GeoTIFF or a directory of tiles",
            path.display()
        )));
    }
    let (found, _warnings) = local::discover(path)?;
    if found.is_empty() {
        return Err(ClientError::NoData(format!(
            "No tiles found in\n{}\nExpected either GeoTIFF files (*.tif/*.tiff) in the directory, \
             or the NPY layout global_0.1_degree_representation/{{year}}/grid_{{lon}}_{{lat}}/*.npy",
            path.display()
        )));
    }
    let tags = found
        .first()
        .map(|t| {
            vec![
                ("TESSERA_YEAR", t.year.to_string()),
                ("TESSERA_TILE_LON", py_float(t.tile.lon())),
                ("TESSERA_TILE_LAT", py_float(t.tile.lat())),
            ]
        })
        .unwrap_or_default();
    let inputs = found
        .iter()
        .map(|t| match &t.source {
            TileSource::Npy { .. } => EmbeddingTile::open_local(t).map(Input::Npy),
            TileSource::GeoTiff(p) => tiff(p),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((inputs, tags))
}

/// Python's `str(float)` for tile coordinates (`0.15`, `52.05`, `-1.0`).
fn py_float(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// The output grid: the union of every input's bounds in `crs` at `res`, from the
/// top-left corner, sized as rasterio's `merge` sizes it.
fn union_grid<S: Source>(inputs: &[S], crs: Crs, res: (f64, f64)) -> Result<TargetGrid> {
    let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for s in inputs {
        let g = s.georef();
        // Sources on the target's CRS and pixel size are merged as they are, the others
        // through a warp onto their suggested grid (geotessera 0.11's merge).
        let native = g.crs == crs
            && (g.transform.a.abs() - res.0).abs() < 1e-9 * res.0
            && (g.transform.e.abs() - res.1).abs() < 1e-9 * res.1;
        let x = if native {
            bounds_in(&g, &crs)
        } else {
            suggested_bounds(&g, &crs, res)
        };
        b = [
            b[0].min(x[0]),
            b[1].min(x[1]),
            b[2].max(x[2]),
            b[3].max(x[3]),
        ];
    }
    if !b.iter().all(|v| v.is_finite()) || b[2] <= b[0] || b[3] <= b[1] {
        return Err(ClientError::Usage(format!(
            "the inputs have no extent in {crs}"
        )));
    }
    // rasterio's merge: int(round(extent / res)).
    let width = ((b[2] - b[0]) / res.0).round().max(1.0) as usize;
    let height = ((b[3] - b[1]) / res.1).round().max(1.0) as usize;
    Ok(TargetGrid {
        crs,
        transform: tessera_core::Affine {
            a: res.0,
            b: 0.0,
            c: b[0],
            d: 0.0,
            e: -res.1,
            f: b[3],
        },
        width,
        height,
    })
}

/// Checks the output path and the options of `req` and creates the output's directory.
fn check_request(req: &VisualizeRequest) -> Result<()> {
    let ext = req
        .output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("tif" | "tiff")) {
        return Err(ClientError::Usage(format!(
            "{}: the output file must have a .tif or .tiff extension",
            req.output.display()
        )));
    }
    if req.n_components == 0 {
        return Err(ClientError::Usage(
            "--n-components must be at least 1".into(),
        ));
    }
    if let Some(parent) = req.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            ClientError::Usage(format!("{}: cannot create it: {e}", parent.display()))
        })?;
    }
    Ok(())
}

/// Where the picture's grid comes from.
pub(crate) enum GridRule {
    /// The union of the inputs' bounds (geotessera 0.11's merge).
    Union,
    /// A WGS84 region laid over the target CRS (as `mosaic` lays it).
    Region(tessera_core::Bbox),
}

/// Fits the projection on `fit` (all their valid pixels, in order), colours `render`
/// through it and writes the picture of `req` on the grid `rule` gives.
pub(crate) fn visualize_sources<S: Source>(
    fit: &[S],
    render: &[S],
    identity: Tags,
    rule: GridRule,
    req: &VisualizeRequest,
    progress: &Progress,
) -> Result<Visualized> {
    progress.start_phase("sample", 0);
    let projection: Projection = fit_projection(
        fit,
        req.n_components,
        req.balance,
        &|| progress.is_cancelled(),
        &|done, total| {
            progress.set_total(total);
            progress.set_done(done);
        },
    )
    .map_err(picture_error)?;
    let coloured: Vec<Coloured<S>> = render
        .iter()
        .map(|s| Coloured {
            source: s,
            projection: &projection,
        })
        .collect();
    let opts = MosaicOptions {
        crs: req.crs,
        resolution: None,
        resampling: Resampling::Bilinear,
        memory_bytes: req.memory_bytes,
        overlap: match rule {
            GridRule::Union => Overlap::FirstValid,
            GridRule::Region(_) => Overlap::Owner,
        },
        copy_native: true,
        // The reference's warped VRTs use GDAL's approximate transformer (0.125 px).
        approx_error_px: 0.05,
    };
    let m = match rule {
        GridRule::Union => {
            let res = Mosaic::default_resolution(&coloured, &req.crs)
                .ok_or_else(|| ClientError::Usage("no inputs".into()))?;
            let grid = union_grid(render, req.crs, res)?;
            Mosaic::on_grid(grid, &coloured, opts)
        }
        GridRule::Region(b) => Mosaic::new(&b, &coloured, opts),
    }
    .map_err(picture_error)?;
    let mut md = GdalMetadata::default();
    for (k, v) in identity {
        md.set(k, v);
    }
    for (k, v) in projection.tags() {
        md.set(k, v);
    }
    md.set("TESSERA_TARGET_CRS", req.crs.to_string());
    md.set("TESSERA_TILE_COUNT", render.len().to_string());
    let look = req
        .quicklook_px
        .map(|px| (req.output.with_extension("png"), px));
    progress.start_phase("mosaic", m.grid.height as u64);
    let w = write_rgb_geotiff(
        &m,
        &req.output,
        md,
        req.cog,
        look.as_ref().map(|(p, px)| (p.as_path(), *px)),
        &|| progress.is_cancelled(),
        &|done, _| progress.set_done(done),
    )
    .map_err(picture_error)?;
    Ok(Visualized {
        path: w.path,
        quicklook: w.quicklook,
        grid: m.grid,
        bands: w.bands,
        inputs: render.len(),
        samples: projection.model.samples,
        explained_variance_ratio: projection.model.explained_variance_ratio.clone(),
        components: projection.model.components.clone(),
    })
}

/// Fits the projection of the inputs at `req.input` and writes the picture.
pub fn visualize(req: &VisualizeRequest, progress: &Progress) -> Result<Visualized> {
    check_request(req)?;
    let (inputs, identity) = open_inputs(&req.input)?;
    visualize_sources(&inputs, &inputs, identity, GridRule::Union, req, progress)
}

/// `tessera visualize --bbox ...`: the region `bbox` of `year` read straight from `store`
/// (only the chunks it needs, no tiles downloaded), fitted on the region's own pixels and
/// drawn on the region's grid in `req.crs` (`req.input` is not used).
pub fn visualize_region(
    store: &crate::store::Store,
    bbox: &tessera_core::Bbox,
    year: i32,
    depth: Option<usize>,
    req: &VisualizeRequest,
    progress: &Progress,
) -> Result<Visualized> {
    check_request(req)?;
    let (fit, render) = store.visual_sources(bbox, year, depth, progress)?;
    let identity = vec![
        ("TESSERA_YEAR", year.to_string()),
        ("TESSERA_STORE", store.url().to_string()),
        (
            "TESSERA_REGION",
            format!("{},{},{},{}", bbox.west, bbox.south, bbox.east, bbox.north),
        ),
    ];
    visualize_sources(
        &fit,
        &render,
        identity,
        GridRule::Region(*bbox),
        req,
        progress,
    )
}

/// The PCA `visualize` fits for the inputs at `input` (the reference's `fit_projection`).
pub fn fit_pca(
    input: &Path,
    n_components: usize,
    balance: Balance,
    progress: &Progress,
) -> Result<Projection> {
    let (inputs, _) = open_inputs(input)?;
    progress.start_phase("sample", 0);
    fit_projection(
        &inputs,
        n_components,
        balance,
        &|| progress.is_cancelled(),
        &|done, total| {
            progress.set_total(total);
            progress.set_done(done);
        },
    )
    .map_err(picture_error)
}

/// `merge_geotiffs_to_mosaic`: GeoTIFFs (float32 exports, any CRS we read) merged onto one
/// grid in `crs` over the union of their bounds, as geotessera 0.11 merges them: the first
/// input's native pixel size when it is in `crs`, else GDAL's suggested one for it;
/// inputs on that grid copied pixel for pixel, the others warped bilinearly; the first
/// input with a value wins. The first input's tags and band descriptions are kept, with
/// `TESSERA_TARGET_CRS` and `TESSERA_TILE_COUNT`. Written strip by strip within
/// `memory_bytes`; nothing is left under `output` on failure.
pub fn merge_geotiffs(
    paths: &[PathBuf],
    output: &Path,
    crs: Crs,
    output_options: tessera_pictures::output::OutputOptions,
    memory_bytes: usize,
    progress: &Progress,
) -> Result<crate::tiles::MosaicFile> {
    if paths.is_empty() {
        return Err(ClientError::Usage("No GeoTIFF files to merge".into()));
    }
    let mut inputs = Vec::with_capacity(paths.len());
    for p in paths {
        let t = GeoTiffTile::open(p)?;
        t.georef()?;
        inputs.push(t);
    }
    let bands = Source::bands(&inputs[0]);
    if let Some(t) = inputs.iter().find(|t| Source::bands(*t) != bands) {
        return Err(ClientError::Usage(format!(
            "{} has {} bands, {} has {bands}: the inputs of a mosaic have one band count",
            t.path.display(),
            Source::bands(t),
            inputs[0].path.display()
        )));
    }
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(ClientError::Usage(format!(
            "{}: the output's directory does not exist; create it first",
            output.display()
        )));
    }
    let res = Mosaic::default_resolution(&inputs, &crs)
        .ok_or_else(|| ClientError::Usage("no inputs".into()))?;
    let grid = union_grid(&inputs, crs, res)?;
    let opts = MosaicOptions {
        crs,
        resolution: Some(res),
        resampling: Resampling::Bilinear,
        memory_bytes,
        overlap: Overlap::FirstValid,
        copy_native: true,
        approx_error_px: 0.0,
    };
    let m = Mosaic::on_grid(grid, &inputs, opts).map_err(picture_error)?;
    let mut md = inputs[0].info.metadata.clone();
    md.set("TESSERA_TARGET_CRS", crs.to_string());
    md.set("TESSERA_TILE_COUNT", inputs.len().to_string());
    progress.start_phase("mosaic", m.grid.height as u64);
    let w = tessera_pictures::output::write_mosaic(
        &m,
        output,
        output_options,
        md,
        &|| progress.is_cancelled(),
        &|done, _| progress.set_done(done),
    )
    .map_err(picture_error)?;
    Ok(crate::tiles::MosaicFile {
        path: w.path,
        grid: m.grid,
        bands: m.bands,
        tiles: inputs.len(),
        strip_rows: w.strip_rows,
    })
}
