//! `viewer.html`: a Leaflet page over a TMS tile tree, with Leaflet 1.9.4 vendored in the
//! binary (from the npm package, BSD-2-Clause; assets/leaflet/LICENSE) and written beside
//! the page, so that the page loads nothing from outside the directory it is served from.

use std::path::{Path, PathBuf};

use crate::PictureError;

/// Leaflet's files, by their path relative to the page.
pub const LEAFLET_FILES: [(&str, &[u8]); 8] = [
    (
        "leaflet/leaflet.js",
        include_bytes!("../assets/leaflet/leaflet.js"),
    ),
    (
        "leaflet/leaflet.css",
        include_bytes!("../assets/leaflet/leaflet.css"),
    ),
    (
        "leaflet/LICENSE",
        include_bytes!("../assets/leaflet/LICENSE"),
    ),
    (
        "leaflet/images/layers.png",
        include_bytes!("../assets/leaflet/images/layers.png"),
    ),
    (
        "leaflet/images/layers-2x.png",
        include_bytes!("../assets/leaflet/images/layers-2x.png"),
    ),
    (
        "leaflet/images/marker-icon.png",
        include_bytes!("../assets/leaflet/images/marker-icon.png"),
    ),
    (
        "leaflet/images/marker-icon-2x.png",
        include_bytes!("../assets/leaflet/images/marker-icon-2x.png"),
    ),
    (
        "leaflet/images/marker-shadow.png",
        include_bytes!("../assets/leaflet/images/marker-shadow.png"),
    ),
];

/// What the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewerSpec {
    /// The picture's name, for the title ("GeoTessera-rs - NAME").
    pub name: String,
    /// The tile URL template, relative (`tiles/{z}/{x}/{y}.png`) or absolute-path
    /// (`/tiles/{z}/{x}/{y}.png`), TMS rows.
    pub tiles_url: String,
    /// The picture's WGS84 bounds `[W, S, E, N]`: the map is centred on them and tiles
    /// are asked for only inside them.
    pub bounds: [f64; 4],
    /// Zooms the tiles exist at.
    pub min_zoom: u8,
    /// Deepest zoom with tiles (Leaflet scales them past it).
    pub max_zoom: u8,
    /// The zoom the page opens at.
    pub initial_zoom: u8,
    /// A GeoJSON geometry or feature collection drawn as a red outline.
    pub region_geojson: Option<String>,
    /// The page title [default: "GeoTessera-rs - NAME"].
    pub title: Option<String>,
    /// Where the map opens `[lon, lat]` [default: the centre of `bounds`].
    pub center: Option<[f64; 2]>,
}

/// Escapes text for HTML.
fn html_text(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// A JSON value safe inside a `<script>` element (`<` escaped, so `</script>` cannot end it).
fn script_json(v: &serde_json::Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

/// The page's HTML.
pub fn viewer_html(spec: &ViewerSpec) -> Result<String, PictureError> {
    let [w, s, e, n] = spec.bounds;
    if !(w.is_finite() && s.is_finite() && e.is_finite() && n.is_finite() && w < e && s < n) {
        return Err(PictureError::Usage(format!(
            "the map's bounds {:?} are not a box",
            spec.bounds
        )));
    }
    let region: serde_json::Value = match &spec.region_geojson {
        Some(g) => serde_json::from_str(g)
            .map_err(|e| PictureError::Usage(format!("the region outline is not JSON: {e}")))?,
        None => serde_json::Value::Null,
    };
    let config = serde_json::json!({
        "tiles": spec.tiles_url,
        "bounds": [[s, w], [n, e]],
        "center": match spec.center {
            Some([lon, lat]) => [lat, lon],
            None => [(s + n) / 2.0, (w + e) / 2.0],
        },
        "minZoom": spec.min_zoom,
        "maxZoom": spec.max_zoom,
        "initialZoom": spec.initial_zoom,
        "region": region,
    });
    let title = html_text(
        &spec
            .title
            .clone()
            .unwrap_or_else(|| format!("GeoTessera-rs - {}", spec.name)),
    );
    Ok(format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="leaflet/leaflet.css">
<script src="leaflet/leaflet.js"></script>
<style>
html, body {{ margin: 0; height: 100%; font-family: sans-serif; }}
#map {{ position: absolute; top: 0; bottom: 0; width: 100%; background: #dde3e8; }}
.opacity {{ background: white; padding: 6px 8px; border-radius: 4px; font-size: 12px; }}
</style>
</head>
<body>
<div id="map"></div>
<script id="config" type="application/json">{config}</script>
<script>
(function () {{
  var cfg = JSON.parse(document.getElementById('config').textContent);
  var map = L.map('map', {{ center: cfg.center, zoom: cfg.initialZoom }});
  // Tiles exist only inside the picture: shrink its box a hair so that Leaflet asks for
  // no tile that merely touches it.
  var b = L.latLngBounds(cfg.bounds);
  var eps = 1e-9;
  var inner = L.latLngBounds(
    [b.getSouth() + eps, b.getWest() + eps], [b.getNorth() - eps, b.getEast() - eps]);
  var tiles = L.tileLayer(cfg.tiles, {{
    tms: true, opacity: 0.8, bounds: inner,
    minNativeZoom: cfg.minZoom, maxNativeZoom: cfg.maxZoom, maxZoom: Math.max(cfg.maxZoom + 3, 18),
    attribution: 'TESSERA embeddings'
  }}).addTo(map);
  var overlays = {{ 'Embeddings': tiles }};
  if (cfg.region) {{
    overlays['Region'] = L.geoJSON(cfg.region, {{
      style: {{ color: 'red', weight: 2, fill: false }}
    }}).addTo(map);
  }}
  L.control.layers(null, overlays, {{ collapsed: false }}).addTo(map);
  var Opacity = L.Control.extend({{
    options: {{ position: 'bottomleft' }},
    onAdd: function () {{
      var div = L.DomUtil.create('div', 'opacity');
      div.innerHTML = 'Opacity <input id="opacity" type="range" min="0" max="100" value="80">';
      L.DomEvent.disableClickPropagation(div);
      div.querySelector('input').addEventListener('input', function (e) {{
        tiles.setOpacity(e.target.value / 100);
      }});
      return div;
    }}
  }});
  new Opacity().addTo(map);
  window.tesseraMap = map;
}})();
</script>
</body>
</html>
"#,
        config = script_json(&config)
    ))
}

/// Writes `viewer.html` (atomically) and Leaflet's files into `dir`; returns the page.
pub fn write_viewer(dir: &Path, spec: &ViewerSpec) -> Result<PathBuf, PictureError> {
    write_page(&dir.join("viewer.html"), spec)
}

/// Writes the viewer page at `page` (any name) with Leaflet's files beside it
/// (`leaflet/`); returns the page.
pub fn write_page(page: &Path, spec: &ViewerSpec) -> Result<PathBuf, PictureError> {
    let html = viewer_html(spec)?;
    let io = |p: &Path, e: std::io::Error| PictureError::Io(format!("{}: {e}", p.display()));
    let dir = match page.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    for (rel, bytes) in LEAFLET_FILES {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        tessera_formats::atomic::write_atomic(&p, |w| std::io::Write::write_all(w, bytes))
            .map_err(|e| io(&p, e))?;
    }
    tessera_formats::atomic::write_atomic(page, |w| std::io::Write::write_all(w, html.as_bytes()))
        .map_err(|e| io(page, e))?;
    Ok(page.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ViewerSpec {
        ViewerSpec {
            name: "a<b>.tif".into(),
            tiles_url: "tiles/{z}/{x}/{y}.png".into(),
            bounds: [0.1, 51.4, 0.3, 51.5],
            min_zoom: 8,
            max_zoom: 15,
            initial_zoom: 10,
            region_geojson: Some(r#"{"type":"Point","coordinates":[0,0],"x":"</script>"}"#.into()),
            title: None,
            center: None,
        }
    }

    #[test]
    fn the_page_is_self_contained_and_escapes_what_it_embeds() {
        let h = viewer_html(&spec()).unwrap();
        assert!(h.contains("<title>GeoTessera-rs - a&lt;b&gt;.tif</title>"));
        assert!(h.contains("tms: true") && h.contains("opacity: 0.8"));
        assert!(h.contains(r#""center":[51.45,0.2]"#), "{h}");
        assert!(h.contains(r#""initialZoom":10"#));
        // Nothing from outside: no scheme-relative or absolute URLs.
        assert!(!h.contains("http://") && !h.contains("https://") && !h.contains("//unpkg"));
        // The outline cannot close the script element.
        assert_eq!(h.matches("</script>").count(), 3);
        let mut bad = spec();
        bad.bounds = [1.0, 0.0, 0.0, 1.0];
        assert!(viewer_html(&bad).is_err());
        let t = tempfile::tempdir().unwrap();
        let page = write_viewer(t.path(), &spec()).unwrap();
        assert!(page.is_file());
        let js = std::fs::read(t.path().join("leaflet/leaflet.js")).unwrap();
        assert!(js.starts_with(b"/* @preserve\n * Leaflet 1.9.4"));
        assert!(t.path().join("leaflet/images/layers.png").is_file());
    }
}
