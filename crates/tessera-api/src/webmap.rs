//! Web maps: `tessera webmap` (a gdal2tiles-compatible tile pyramid of an RGB GeoTIFF
//! and a self-contained Leaflet viewer beside it) and `tessera serve` (a directory, or
//! tiles made on request from a GeoTIFF, on 127.0.0.1).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tessera_client::ClientError;
use tessera_pictures::pyramid::{self, PyramidOptions};
use tessera_pictures::rgba::RgbaGeoTiff;
use tessera_pictures::tilegrid::WebTile;
use tessera_pictures::viewer::{self, ViewerSpec};
use tessera_pictures::webtiles::{self, TileRenderer};
use tessera_server::{ServerError, SiteConfig, SiteServer, TileSource};

use crate::Progress;
use crate::tiles::mosaic::picture_error;

/// What `tessera webmap RGB_MOSAIC` asks for.
#[derive(Debug, Clone)]
pub struct WebmapRequest {
    /// The RGB(A) uint8 GeoTIFF.
    pub input: PathBuf,
    /// The output directory; `None`: `<stem>_webmap` beside the input.
    pub output: Option<PathBuf>,
    /// Shallowest zoom (8).
    pub min_zoom: u8,
    /// Deepest zoom (15).
    pub max_zoom: u8,
    /// The zoom the viewer opens at (10).
    pub initial_zoom: u8,
    /// Rebuild the tiles even when current.
    pub force: bool,
    /// A GeoJSON outline for the viewer.
    pub region_geojson: Option<String>,
}

impl WebmapRequest {
    /// The reference's defaults for `input`.
    pub fn new(input: impl Into<PathBuf>) -> WebmapRequest {
        WebmapRequest {
            input: input.into(),
            output: None,
            min_zoom: 8,
            max_zoom: 15,
            initial_zoom: 10,
            force: false,
            region_geojson: None,
        }
    }
}

/// What `webmap` made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WebmapResult {
    /// The output directory.
    pub output: PathBuf,
    /// `viewer.html`.
    pub viewer: PathBuf,
    /// The tiles directory.
    pub tiles_dir: PathBuf,
    /// Tiles in it.
    pub tiles: u64,
    /// The tiles were current and reused.
    pub reused: bool,
    /// The reprojected input, when it was not in EPSG:3857.
    pub web_ready: Option<PathBuf>,
    /// The input's WGS84 bounds `[W, S, E, N]`.
    pub bounds: [f64; 4],
}

/// `<stem>_webmap` beside `input`, the reference's default output.
pub fn default_output(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "map".into());
    input
        .parent()
        .unwrap_or(Path::new(""))
        .join(format!("{stem}_webmap"))
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Builds (or reuses) the tiles and writes the viewer. Progress counts tiles.
pub fn webmap(req: &WebmapRequest, progress: &Progress) -> crate::Result<WebmapResult> {
    pyramid::check_zooms(req.min_zoom, req.max_zoom).map_err(picture_error)?;
    if !req.input.is_file() {
        return Err(ClientError::Usage(format!(
            "{}: no such file; give an RGB GeoTIFF (e.g. from `tessera mosaic`)",
            req.input.display()
        )));
    }
    let out = req
        .output
        .clone()
        .unwrap_or_else(|| default_output(&req.input));
    progress.start_phase("tiles", 0);
    let opts = PyramidOptions {
        min_zoom: req.min_zoom,
        max_zoom: req.max_zoom,
        force: req.force,
        flat: false,
    };
    let r = pyramid::build_pyramid(
        &req.input,
        &out,
        &opts,
        &|| progress.is_cancelled(),
        &|done, total| {
            progress.set_total(total);
            progress.set_done(done);
        },
    )
    .map_err(picture_error)?;
    if r.reused {
        progress.note(format!(
            "the tiles in {} are current (tiles.json); pass --force to rebuild them",
            r.tiles_dir.display()
        ));
    }
    let page = viewer::write_viewer(
        &out,
        &ViewerSpec {
            name: name_of(&req.input),
            tiles_url: "tiles/{z}/{x}/{y}.png".into(),
            bounds: r.bounds,
            min_zoom: req.min_zoom,
            max_zoom: req.max_zoom,
            initial_zoom: req.initial_zoom,
            region_geojson: req.region_geojson.clone(),
            title: None,
            center: None,
        },
    )
    .map_err(picture_error)?;
    Ok(WebmapResult {
        output: out,
        viewer: page,
        tiles_dir: r.tiles_dir,
        tiles: r.tiles,
        reused: r.reused,
        web_ready: r.web_ready,
        bounds: r.bounds,
    })
}

/// Tiles of a GeoTIFF rendered one at a time on request.
pub struct GeoTiffTiles {
    renderer: TileRenderer,
    // Keeps a reprojected copy alive for as long as tiles are cut from it.
    _web_ready: Option<tempfile::TempDir>,
}

impl GeoTiffTiles {
    /// Opens `input`; one not in EPSG:3857 is reprojected first into a temporary file.
    pub fn open(input: &Path) -> crate::Result<GeoTiffTiles> {
        let src = RgbaGeoTiff::open(input).map_err(picture_error)?;
        if src.crs() == tessera_core::Crs::WebMercator {
            return Ok(GeoTiffTiles {
                renderer: TileRenderer::new(src).map_err(picture_error)?,
                _web_ready: None,
            });
        }
        let dir = tempfile::tempdir().map_err(|e| ClientError::Io {
            path: std::env::temp_dir(),
            source: e,
        })?;
        let p = tessera_pictures::web_ready::write_web_ready(
            &src,
            &dir.path().join(pyramid::WEB_READY),
        )
        .map_err(picture_error)?;
        Ok(GeoTiffTiles {
            renderer: TileRenderer::new(RgbaGeoTiff::open(&p).map_err(picture_error)?)
                .map_err(picture_error)?,
            _web_ready: Some(dir),
        })
    }

    /// The deepest zoom worth rendering (the source's own resolution).
    pub fn native_zoom(&self) -> u8 {
        self.renderer.native_zoom()
    }

    /// The picture's WGS84 bounds.
    pub fn bounds(&self) -> crate::Result<[f64; 4]> {
        tessera_pictures::web_ready::wgs84_bounds(self.renderer.source())
            .map(|b| b.to_array())
            .map_err(picture_error)
    }
}

impl TileSource for GeoTiffTiles {
    fn tile(&self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, String> {
        let t = WebTile { z, x, y };
        if !self.renderer.covers(t) {
            return Ok(None);
        }
        let rgba = self.renderer.render(&[t]).map_err(|e| e.to_string())?;
        let first = rgba.first().ok_or("no tile rendered")?;
        webtiles::encode_png(first)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

/// What `tessera serve` asks for.
#[derive(Debug, Clone)]
pub struct ServeRequest {
    /// The directory to serve, if any.
    pub dir: Option<PathBuf>,
    /// The port on 127.0.0.1 (0: a free one).
    pub port: u16,
    /// The page for `/`.
    pub html: Option<String>,
    /// Serve `/tiles/{z}/{x}/{y}.png` made on request from this GeoTIFF, and a viewer
    /// over them at `/` (unless the directory has its own page).
    pub tiles_from: Option<PathBuf>,
    /// Log requests on stderr.
    pub log: bool,
}

/// A running `serve`.
pub struct Serving {
    /// The server.
    pub server: SiteServer,
    /// The URL of its page.
    pub url: String,
}

fn bind_error(port: u16, e: ServerError) -> ClientError {
    match e {
        ServerError::Bind { source, .. } => ClientError::Usage(format!(
            "Cannot bind web server on port {port}: {source}. Choose another --port."
        )),
        ServerError::NoRoot(p) => {
            ClientError::Usage(format!("{}: not a directory to serve", p.display()))
        }
        e => ClientError::Usage(e.to_string()),
    }
}

/// Starts serving; returns once the port is bound.
pub fn serve(req: &ServeRequest) -> crate::Result<Serving> {
    if req.dir.is_none() && req.tiles_from.is_none() {
        return Err(ClientError::Usage(
            "give a directory to serve, or --tiles-from RGB.tif".into(),
        ));
    }
    if let Some(h) = &req.html
        && (h.contains("..") || h.starts_with('/') || h.contains('\\'))
    {
        return Err(ClientError::Usage(format!(
            "--html {h:?}: give a page inside the directory"
        )));
    }
    let mut cfg = SiteConfig::new(req.dir.clone());
    cfg.addr = SocketAddr::from(([127, 0, 0, 1], req.port));
    cfg.index = req.html.clone();
    cfg.log = req.log;
    if let Some(src) = &req.tiles_from {
        let tiles = GeoTiffTiles::open(src)?;
        let html = viewer::viewer_html(&ViewerSpec {
            name: name_of(src),
            tiles_url: "/tiles/{z}/{x}/{y}.png".into(),
            bounds: tiles.bounds()?,
            min_zoom: 0,
            max_zoom: tiles.native_zoom(),
            initial_zoom: tiles.native_zoom().saturating_sub(2),
            region_geojson: None,
            title: None,
            center: None,
        })
        .map_err(picture_error)?;
        let mut files: HashMap<String, Bytes> = viewer::LEAFLET_FILES
            .iter()
            .map(|(p, b)| (p.to_string(), Bytes::from_static(b)))
            .collect();
        files.insert("tiles-viewer.html".into(), Bytes::from(html));
        cfg.files = files;
        if cfg.index.is_none() {
            cfg.index = Some("tiles-viewer.html".into());
        }
        cfg.tiles = Some(Arc::new(tiles));
    }
    let server = SiteServer::start(cfg).map_err(|e| bind_error(req.port, e))?;
    let url = server.url();
    Ok(Serving { server, url })
}

/// The picture a region web map is cut from, inside its output directory.
pub const REGION_PICTURE: &str = "pca.tif";
/// What that picture was drawn from (store, region, year, depth): an unchanged rerun
/// reuses it, and so its tiles.
pub const REGION_KEY: &str = "pca.json";

/// `tessera webmap --bbox ...`: the region `bbox` of `year` read straight from `store`,
/// drawn in PCA false colour in EPSG:3857 (`pca.tif` in the output directory), then cut
/// into tiles with a viewer as [`webmap`] does, the region's outline drawn on it unless
/// `req.region_geojson` gives another. An unchanged rerun reuses the picture and tiles.
/// `req.input` is not used; `req.output` is required.
pub fn webmap_region(
    store: &crate::store::Store,
    bbox: &tessera_core::Bbox,
    year: i32,
    depth: Option<usize>,
    req: &WebmapRequest,
    progress: &Progress,
) -> crate::Result<WebmapResult> {
    pyramid::check_zooms(req.min_zoom, req.max_zoom).map_err(picture_error)?;
    let out = req.output.clone().ok_or_else(|| {
        ClientError::Usage("a region web map needs an output directory (-o DIR)".into())
    })?;
    std::fs::create_dir_all(&out).map_err(|e| ClientError::Io {
        path: out.clone(),
        source: e,
    })?;
    let picture = out.join(REGION_PICTURE);
    let key_path = out.join(REGION_KEY);
    let key = serde_json::json!({
        "store": store.url(),
        "bbox": bbox.to_array(),
        "year": year,
        "depth": depth,
        "crs": "EPSG:3857",
        "n_components": 3,
    });
    let current = !req.force
        && picture.is_file()
        && std::fs::read(&key_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|k| k == key);
    if current {
        progress.note(format!(
            "{} is current ({REGION_KEY}); pass --force to redraw it",
            picture.display()
        ));
    } else {
        let v = crate::visualize::VisualizeRequest {
            input: PathBuf::new(),
            output: picture.clone(),
            crs: tessera_core::Crs::WebMercator,
            n_components: 3,
            balance: tessera_pictures::Balance::Histogram,
            memory_bytes: 512 << 20,
            quicklook_px: None,
            cog: false,
        };
        crate::visualize::visualize_region(store, bbox, year, depth, &v, progress)?;
        tessera_formats::atomic::write_atomic(&key_path, |w| {
            std::io::Write::write_all(w, key.to_string().as_bytes())
        })
        .map_err(|e| ClientError::Io {
            path: key_path.clone(),
            source: e,
        })?;
    }
    let outline = req.region_geojson.clone().unwrap_or_else(|| {
        serde_json::json!({"type": "FeatureCollection", "features": [{"type": "Feature",
            "properties": {"name": "region"}, "geometry": bbox_polygon(bbox)}]})
        .to_string()
    });
    let tiles = WebmapRequest {
        input: picture,
        output: Some(out),
        region_geojson: Some(outline),
        ..req.clone()
    };
    webmap(&tiles, progress)
}

/// `prepare_mosaic_for_web`: `input` reprojected to EPSG:3857 at `output` (RGBA, bilinear,
/// transparent outside the picture), or `input` itself when it already is in EPSG:3857.
pub fn prepare_web_ready(input: &Path, output: &Path) -> crate::Result<PathBuf> {
    let src = RgbaGeoTiff::open(input).map_err(picture_error)?;
    if src.crs() == tessera_core::Crs::WebMercator {
        return Ok(input.to_path_buf());
    }
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| ClientError::Io {
            path: parent.to_path_buf(),
            source: e,
        })?;
    }
    tessera_pictures::web_ready::write_web_ready(&src, output).map_err(picture_error)
}

/// `geotiff_to_web_tiles`: the gdal2tiles pyramid of `input` written straight into
/// `out_dir` (`{z}/{x}/{y}.png`, TMS rows, as gdal2tiles lays it out), reused when
/// `tiles.json` there says it is current; other files in `out_dir` are left alone.
pub fn web_tiles(
    input: &Path,
    out_dir: &Path,
    min_zoom: u8,
    max_zoom: u8,
    force: bool,
    progress: &Progress,
) -> crate::Result<pyramid::PyramidReport> {
    if !input.is_file() {
        return Err(ClientError::Usage(format!(
            "{}: no such file; give an RGB GeoTIFF",
            input.display()
        )));
    }
    progress.start_phase("tiles", 0);
    let opts = PyramidOptions {
        min_zoom,
        max_zoom,
        force,
        flat: true,
    };
    pyramid::build_pyramid(
        input,
        out_dir,
        &opts,
        &|| progress.is_cancelled(),
        &|done, total| {
            progress.set_total(total);
            progress.set_done(done);
        },
    )
    .map_err(picture_error)
}

/// What `create_simple_web_viewer` draws.
#[derive(Debug, Clone)]
pub struct ViewerPage {
    /// The tiles (`{z}/{x}/{y}.png` inside it, TMS rows).
    pub tiles_dir: PathBuf,
    /// The page to write; Leaflet's files go beside it (`leaflet/`).
    pub output_html: PathBuf,
    /// Where the map opens, `[lon, lat]`.
    pub center: [f64; 2],
    /// The zoom it opens at.
    pub zoom: u8,
    /// The page title.
    pub title: String,
    /// A GeoJSON outline.
    pub region_geojson: Option<String>,
}

/// Writes a Leaflet page over the tiles in `p.tiles_dir` (linked relative to the page);
/// the tiles' bounds and zooms come from `tiles.json` there when it has them, else the
/// whole world at zooms 0-18. Returns the page.
pub fn write_viewer_page(p: &ViewerPage) -> crate::Result<PathBuf> {
    let page_dir = match p.output_html.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&page_dir).map_err(|e| ClientError::Io {
        path: page_dir.clone(),
        source: e,
    })?;
    let rel = relative_url(&p.tiles_dir, &page_dir)?;
    let record: Option<serde_json::Value> = std::fs::read(p.tiles_dir.join(pyramid::TILES_JSON))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let zooms = record
        .as_ref()
        .and_then(|r| serde_json::from_value::<[u8; 2]>(r["zoom"].clone()).ok())
        .unwrap_or([0, 18]);
    let bounds = record
        .as_ref()
        .and_then(|r| serde_json::from_value::<[f64; 4]>(r["bounds"].clone()).ok())
        .unwrap_or([-180.0, -85.0511, 180.0, 85.0511]);
    let spec = ViewerSpec {
        name: p.title.clone(),
        tiles_url: format!("{rel}{{z}}/{{x}}/{{y}}.png"),
        bounds,
        min_zoom: zooms[0],
        max_zoom: zooms[1],
        initial_zoom: p.zoom,
        region_geojson: p.region_geojson.clone(),
        title: Some(p.title.clone()),
        center: Some(p.center),
    };
    viewer::write_page(&p.output_html, &spec).map_err(picture_error)
}

/// `dir` as a URL prefix relative to `from` (`../tiles/`, or empty for the same
/// directory), percent-encoding what a URL path cannot hold.
fn relative_url(dir: &Path, from: &Path) -> crate::Result<String> {
    let abs = |p: &Path| {
        std::path::absolute(p).map_err(|e| ClientError::Io {
            path: p.to_path_buf(),
            source: e,
        })
    };
    let (d, f) = (abs(dir)?, abs(from)?);
    let (dc, fc): (Vec<_>, Vec<_>) = (d.components().collect(), f.components().collect());
    let common = dc.iter().zip(&fc).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); fc.len() - common];
    parts.extend(
        dc[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    let mut url = String::new();
    for part in parts {
        for b in part.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                url.push(b as char);
            } else {
                url.push_str(&format!("%{b:02X}"));
            }
        }
        url.push('/');
    }
    Ok(url)
}

/// The outline of a region file (GeoJSON, Shapefile or GeoPackage, reprojected to WGS84)
/// as GeoJSON for a viewer: its polygons, or its bounding box when it has none.
pub fn region_outline(path: &Path, progress: &Progress) -> crate::Result<String> {
    let region = crate::tiles::resolve_region(
        &crate::tiles::RegionArgs {
            region_file: Some(path.to_path_buf()),
            ..Default::default()
        },
        progress,
    )?;
    let ring = |r: &Vec<(f64, f64)>| r.iter().map(|&(x, y)| [x, y]).collect::<Vec<_>>();
    let geometry = if region.polygons.is_empty() {
        bbox_polygon(&region.bounds())
    } else {
        let polys: Vec<Vec<Vec<[f64; 2]>>> = region
            .polygons
            .iter()
            .map(|p| p.rings.iter().map(ring).collect())
            .collect();
        serde_json::json!({"type": "MultiPolygon", "coordinates": polys})
    };
    Ok(
        serde_json::json!({"type": "Feature", "properties": {"name": region.label},
        "geometry": geometry})
        .to_string(),
    )
}

/// A WGS84 box as a GeoJSON polygon.
fn bbox_polygon(b: &tessera_core::Bbox) -> serde_json::Value {
    let [w, s, e, n] = b.to_array();
    serde_json::json!({"type": "Polygon",
        "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]})
}
