//! The globe viewer: `globe.html` and the files it loads from `globe_assets/` beside it
//! (globe.gl, three and topojson-client bundled into one ES module, the world-atlas country
//! borders, an earth texture drawn from the embedded Natural Earth land), so the page works
//! offline and asks nothing of any host but the one serving it.

use std::path::{Path, PathBuf};

use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Transform};

use super::{land, write_bytes};
use crate::PictureError;

/// The page (adapted from geotessera 0.11's template: local files instead of CDNs).
pub const GLOBE_HTML: &str = include_str!("../../assets/globe/globe.html");
/// globe.gl 2.46.1 + three 0.179.0 + topojson-client 3.1.0 as one ES module.
const VENDOR_JS: &[u8] = include_bytes!("../../assets/globe/globe-vendor.min.mjs");
/// world-atlas 2.0.2 `countries-110m.json` (Natural Earth, public domain).
const COUNTRIES: &[u8] = include_bytes!("../../assets/globe/countries-110m.json");
/// The licences of the bundled files.
const LICENSES: &[u8] = include_bytes!("../../assets/globe/LICENSES.md");

/// The folder beside `globe.html` that holds what it loads.
pub const ASSETS_DIR: &str = "globe_assets";

/// Earth texture size (equirectangular).
const EARTH_W: u32 = 2048;
const EARTH_H: u32 = 1024;

/// Draws the earth texture: land from the embedded polygons on a dark sea.
pub fn earth_texture() -> Result<Vec<u8>, PictureError> {
    let mut p = Pixmap::new(EARTH_W, EARTH_H)
        .ok_or_else(|| PictureError::Io("cannot make the earth texture".into()))?;
    p.fill(Color::from_rgba8(16, 38, 74, 255));
    let mut paint = Paint::default();
    paint.set_color(Color::from_rgba8(88, 120, 78, 255));
    paint.anti_alias = true;
    let sx = f64::from(EARTH_W) / 360.0;
    let sy = f64::from(EARTH_H) / 180.0;
    for shape in land::shapes() {
        let mut pb = PathBuilder::new();
        for ring in &shape.rings {
            for (i, &(lon, lat)) in ring.iter().enumerate() {
                let (x, y) = (((lon + 180.0) * sx) as f32, ((90.0 - lat) * sy) as f32);
                if i == 0 {
                    pb.move_to(x, y);
                } else {
                    pb.line_to(x, y);
                }
            }
            pb.close();
        }
        if let Some(path) = pb.finish() {
            p.fill_path(
                &path,
                &paint,
                FillRule::EvenOdd,
                Transform::identity(),
                None,
            );
        }
    }
    let rgba = p.take();
    let rgb: Vec<u8> = rgba
        .chunks_exact(4)
        .flat_map(|c| [c[0], c[1], c[2]])
        .collect();
    super::encode_png(EARTH_W, EARTH_H, png::ColorType::Rgb, &rgb)
}

/// Writes `globe.html` and `globe_assets/` into `dir`; returns the page's path.
pub fn write_globe(dir: &Path) -> Result<PathBuf, PictureError> {
    let assets = dir.join(ASSETS_DIR);
    std::fs::create_dir_all(&assets)
        .map_err(|e| PictureError::Io(format!("creating {}: {e}", assets.display())))?;
    write_bytes(&assets.join("globe-vendor.min.mjs"), VENDOR_JS)?;
    write_bytes(&assets.join("countries-110m.json"), COUNTRIES)?;
    write_bytes(&assets.join("LICENSES.md"), LICENSES)?;
    write_bytes(&assets.join("earth.png"), &earth_texture()?)?;
    let page = dir.join("globe.html");
    write_bytes(&page, GLOBE_HTML.as_bytes())?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_no_other_host() {
        for needle in ["http://", "https://", "//unpkg", "//cdn", "esm.sh"] {
            assert!(!GLOBE_HTML.contains(needle), "globe.html mentions {needle}");
        }
        assert!(GLOBE_HTML.contains("globe_assets/globe-vendor.min.mjs"));
        assert!(GLOBE_HTML.contains("globe_assets/countries-110m.json"));
        assert!(GLOBE_HTML.contains("globe_assets/earth.png"));
    }

    #[test]
    fn writes_the_page_and_its_assets() {
        let d = tempfile::tempdir().unwrap();
        let page = write_globe(d.path()).unwrap();
        assert!(page.is_file());
        for f in [
            "globe-vendor.min.mjs",
            "countries-110m.json",
            "earth.png",
            "LICENSES.md",
        ] {
            assert!(d.path().join(ASSETS_DIR).join(f).is_file(), "{f}");
        }
        let earth = std::fs::read(d.path().join(ASSETS_DIR).join("earth.png")).unwrap();
        let img = tiny_skia::Pixmap::decode_png(&earth).unwrap();
        assert_eq!((img.width(), img.height()), (EARTH_W, EARTH_H));
        // Central Africa is land, the middle of the Pacific is sea.
        let at = |lon: f64, lat: f64| {
            let x = ((lon + 180.0) / 360.0 * f64::from(EARTH_W)) as u32;
            let y = ((90.0 - lat) / 180.0 * f64::from(EARTH_H)) as u32;
            img.pixel(x, y).unwrap().green()
        };
        assert_eq!(at(20.0, 0.0), 120);
        assert_eq!(at(-150.0, 0.0), 38);
    }
}
