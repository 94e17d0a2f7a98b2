//! Exports: per-tile float32 GeoTIFFs (the reference's paths, tags and band descriptions)
//! and the `tessera_metadata.json` sidecar that keeps datasets from mixing in a directory.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use tessera_core::DatasetRef;
use tessera_core::dataset::{DEFAULT_MIRROR, EMBEDDINGS_DIR_NAME, parse_version};
use tessera_formats::DType;
use tessera_formats::geotiff::{Compression, GeoTiffFile, GeoTiffSpec, Layout, Predictor};

use crate::error::{ClientError, Result};
use crate::local::EmbeddingTile;

/// The sidecar file name.
pub const METADATA_FILE: &str = "tessera_metadata.json";

/// Dataset tags of the reference (`TESSERA_DATASET_VERSION`, `_PATH`, `_VARIANT`).
pub fn dataset_tags(d: &DatasetRef) -> Vec<(&'static str, String)> {
    vec![
        ("TESSERA_DATASET_VERSION", d.version.norm.clone()),
        ("TESSERA_DATASET_VERSION_PATH", d.version.path.clone()),
        ("TESSERA_DATASET_VARIANT", d.variant.clone()),
    ]
}

/// Options of a GeoTIFF export.
#[derive(Debug, Clone)]
pub struct GeoTiffExport {
    /// Band indices to write, in order (duplicates allowed); all 128 when `None`.
    pub bands: Option<Vec<usize>>,
    /// Compression.
    pub compression: Compression,
    /// The dataset, for the tags.
    pub dataset: DatasetRef,
}

/// Validates `--bands`: comma-separated indices below `limit`.
pub fn parse_bands(s: &str, limit: usize) -> Result<Vec<usize>> {
    let bad = || {
        ClientError::Usage(format!(
            "bands must be comma-separated integers (0-{}), got '{s}'",
            limit - 1
        ))
    };
    let v: Vec<usize> = s
        .split(',')
        .map(|p| p.trim().parse::<usize>().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    if v.is_empty() || v.iter().any(|&b| b >= limit) {
        return Err(bad());
    }
    Ok(v)
}

/// The export path of a tile: `{out}/global_0.1_degree_representation/{Y}/grid/grid_{Y}.tiff`.
pub fn geotiff_path(out: &Path, year: i32, tile: tessera_core::TileId) -> PathBuf {
    out.join(tessera_core::dataset::keys::local_geotiff(year, tile))
}

/// Writes one tile as a float32 GeoTIFF (NaN nodata, tiled 256, tags, band descriptions),
/// dequantising in strips of 256 rows; the file appears under its name only when complete.
/// Returns the bytes written.
/// `path` must lie under `out`, and no directory between them may be a symbolic link.
pub fn export_tile(
    tile: &EmbeddingTile,
    out: &Path,
    path: &Path,
    opts: &GeoTiffExport,
) -> Result<u64> {
    export_tile_with(tile, out, path, opts, &crate::cancel::Token::new())
}

/// [`export_tile`], stopping (and dropping the temporary file) when `cancel` is asked to.
pub fn export_tile_with(
    tile: &EmbeddingTile,
    out: &Path,
    path: &Path,
    opts: &GeoTiffExport,
    cancel: &crate::cancel::Token,
) -> Result<u64> {
    let g = &tile.georef;
    let bands: Vec<usize> = opts
        .bands
        .clone()
        .unwrap_or_else(|| (0..tile.bands()).collect());
    if let Some(&b) = bands.iter().find(|&&b| b >= tile.bands()) {
        return Err(ClientError::Usage(format!(
            "band {b} is out of range: the tile has {} bands",
            tile.bands()
        )));
    }
    let mut spec = GeoTiffSpec::new(
        g.width as u32,
        g.height as u32,
        bands.len() as u16,
        DType::F32,
    );
    spec.layout = Layout::Tiled(256);
    spec.compression = opts.compression;
    spec.predictor = match opts.compression {
        Compression::None => Predictor::None,
        Compression::Lzw => Predictor::None,
        _ => Predictor::FloatingPoint,
    };
    spec.georef = Some((g.crs, g.transform));
    spec.nodata = Some(f64::NAN);
    for (k, v) in dataset_tags(&opts.dataset) {
        spec.metadata.set(k, v);
    }
    spec.metadata.set("TESSERA_YEAR", tile.year.to_string());
    spec.metadata
        .set("TESSERA_TILE_LAT", format!("{:.2}", tile.tile.lat()));
    spec.metadata
        .set("TESSERA_TILE_LON", format!("{:.2}", tile.tile.lon()));
    spec.metadata
        .set("TESSERA_DESCRIPTION", "GeoTessera satellite embedding tile");
    spec.metadata.set("GEOTESSERA_VERSION", "0.11.0");
    spec.metadata.set(
        "TESSERA_SOFTWARE",
        format!("tessera {}", env!("CARGO_PKG_VERSION")),
    );
    for (i, b) in bands.iter().enumerate() {
        spec.metadata
            .set_band_description(i, format!("Tessera_Band_{b}"));
    }
    if let Some(d) = path.parent() {
        tessera_formats::safe_fs::ensure_dir(out, d).map_err(|e| ClientError::io(d, e))?;
        tessera_formats::atomic::reap_stale_temps(d);
    }
    let tiff_err = |e: tessera_formats::geotiff::TiffError| match e {
        tessera_formats::geotiff::TiffError::IoAt { path, source } => ClientError::io(path, source),
        other => ClientError::Format(format!("{}: {other}", path.display())),
    };
    let mut f = GeoTiffFile::create(path, spec).map_err(tiff_err)?;
    let all = bands.len() == tile.bands() && bands.iter().enumerate().all(|(i, &b)| i == b);
    let mut buf = Vec::new();
    for r0 in (0..g.height).step_by(256) {
        // A stop drops the temporary file (never a partial file under the final name).
        cancel.check()?;
        let n = 256.min(g.height - r0);
        tile.rows(r0, n, if all { None } else { Some(&bands) }, &mut buf)?;
        f.writer().write_rows(&buf).map_err(tiff_err)?;
    }
    let out = f.finish().map_err(tiff_err)?;
    Ok(std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0))
}

/// The dataset a directory's sidecar records, as `(normalised version, variant)`.
pub fn recorded_dataset(dir: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(dir.join(METADATA_FILE)).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    let version = v
        .get("dataset_version_path")
        .or_else(|| v.get("dataset_version"))?
        .as_str()?;
    let variant = v.get("dataset_variant")?.as_str()?;
    Some((parse_version(version).norm, variant.to_string()))
}

/// Refuses a directory that holds another dataset's embeddings.
pub fn check_dataset_dir(dir: &Path, d: &DatasetRef) -> Result<()> {
    match recorded_dataset(dir) {
        Some((v, var))
            if (v.as_str(), var.as_str()) != (d.version.norm.as_str(), d.variant.as_str()) =>
        {
            Err(ClientError::Usage(format!(
                "{} holds v{v} {var} embeddings, but v{} {} was requested. Embeddings of different datasets cannot be interchanged; use a separate directory",
                dir.display(),
                d.version.norm,
                d.variant
            )))
        }
        _ => Ok(()),
    }
}

/// Writes the sidecar (indent 2, sorted keys, trailing newline), as the reference does.
pub fn write_metadata(
    dir: &Path,
    d: &DatasetRef,
    mirror_root: &str,
    extra: &[(&str, Value)],
) -> Result<PathBuf> {
    let mut m = Map::new();
    m.insert("dataset_version".into(), json!(d.version.norm));
    m.insert("dataset_version_path".into(), json!(d.version.path));
    m.insert("dataset_variant".into(), json!(d.variant));
    m.insert("generated_at".into(), json!(now_iso8601()));
    let has_npy = d.dataset().is_none_or(|ds| ds.npy.is_some());
    if has_npy && let Ok(npy) = d.npy_dir() {
        let root = if mirror_root.is_empty() {
            DEFAULT_MIRROR
        } else {
            mirror_root
        };
        m.insert("dataset_path".into(), json!(npy));
        m.insert("embeddings_subdir".into(), json!(EMBEDDINGS_DIR_NAME));
        m.insert(
            "s3_embeddings_subdir".into(),
            json!(d.s3_embeddings_subdir()),
        );
        m.insert(
            "source_url_prefix".into(),
            json!(format!("{}/npy/{npy}/", root.trim_end_matches('/'))),
        );
    }
    for (k, v) in extra {
        m.insert((*k).to_string(), v.clone());
    }
    let sorted: std::collections::BTreeMap<String, Value> = m.into_iter().collect();
    let text = serde_json::to_string_pretty(&sorted).unwrap_or_default() + "\n";
    std::fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
    let path = dir.join(METADATA_FILE);
    tessera_formats::atomic::write_atomic(&path, |w| std::io::Write::write_all(w, text.as_bytes()))
        .map_err(|e| ClientError::io(&path, e))?;
    Ok(path)
}

/// UTC now as `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`.
pub fn now_iso8601() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_and_sidecar() {
        assert_eq!(parse_bands("0, 5,5,127", 128).unwrap(), vec![0, 5, 5, 127]);
        for bad in ["", "128", "a", "1,,2", "-1"] {
            assert!(parse_bands(bad, 128).is_err(), "{bad}");
        }
        let dir = std::env::temp_dir().join(format!("tessera-sidecar-{}", std::process::id()));
        let d = DatasetRef::resolve("v1", None, true).unwrap();
        let p =
            write_metadata(&dir, &d, "http://127.0.0.1:1", &[("format", json!("tiff"))]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.ends_with("}\n") && text.contains("\"dataset_path\": \"v1\""));
        assert!(text.contains("\"source_url_prefix\": \"http://127.0.0.1:1/npy/v1/\""));
        assert_eq!(recorded_dataset(&dir), Some(("1.0".into(), "vultr".into())));
        assert!(check_dataset_dir(&dir, &d).is_ok());
        let other = DatasetRef::resolve("v1.1", Some("cambridge"), true).unwrap();
        let e = check_dataset_dir(&dir, &other).unwrap_err().to_string();
        assert!(e.contains("holds v1.0 vultr embeddings"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(now_iso8601().ends_with("+00:00"));
    }
}
