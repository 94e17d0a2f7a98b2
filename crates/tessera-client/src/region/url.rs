//! Region files by URL (http, https), as the reference's `geopandas.read_file` accepts
//! them: fetched through the client's HTTP code (our User-Agent, retries, checked
//! Content-Length, at most [`MAX_REGION_BYTES`] a file) into a temporary directory and read
//! from there by the URL path's extension. A `.shp` brings its `.shx`, `.dbf` and `.prj`.

use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;

use crate::error::{ClientError, Result};
use crate::mirror::{Http, HttpConfig, RetryPolicy, sanitize};

/// The largest region file (each file of a Shapefile) fetched.
pub const MAX_REGION_BYTES: u64 = 64 << 20;

/// True for an http(s) URL.
pub(super) fn is_url(s: &str) -> bool {
    let head = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    head.starts_with("http://") || head.starts_with("https://")
}

/// The URL for messages: without user name and password, control characters escaped.
pub(super) fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            sanitize(u.as_str())
        }
        Err(_) => sanitize(url),
    }
}

/// A fetched region file; the directory goes when this is dropped.
pub(super) struct Fetched {
    _dir: TempDir,
    /// The main file, named by its kind (`region.geojson`, `region.gpkg`, `region.shp`).
    pub path: PathBuf,
}

/// Fetches the region file at `url` (and a Shapefile's siblings).
pub(super) fn fetch(url: &str) -> Result<Fetched> {
    let label = shown(url);
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ClientError::Usage(format!("region file URL {label} is not valid: {e}")))?;
    let name = parsed
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("");
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    // Siblings keep the case of the extension (`A.SHP` -> `A.PRJ`).
    let upper = name.ends_with(".SHP");
    let sibling = |e: &str| {
        let mut u = parsed.clone();
        let path = u.path().to_string();
        let stem = &path[..path.len() - 4];
        let e = if upper {
            e.to_ascii_uppercase()
        } else {
            e.into()
        };
        u.set_path(&format!("{stem}.{e}"));
        u.to_string()
    };
    let mut want: Vec<(String, &str)> = vec![(url.to_string(), "main")];
    if ext == "shp" {
        for e in ["prj", "shx", "dbf"] {
            want.push((sibling(e), e));
        }
    }
    let got = get_all(&want)?;
    let dir = tempfile::Builder::new()
        .prefix("tessera-region-")
        .tempdir()
        .map_err(|e| ClientError::io(std::env::temp_dir(), e))?;
    let kind = match ext.as_str() {
        "geojson" | "json" | "gpkg" | "shp" => ext.clone(),
        // Unknown or no extension (an API endpoint, say): by the content.
        _ => sniff(got[0].as_deref().unwrap_or(&[])).ok_or_else(|| {
            ClientError::Usage(format!(
                "{label}: unsupported region file; use GeoJSON (.geojson, .json), \
                 GeoPackage (.gpkg) or a Shapefile (.shp with .prj)"
            ))
        })?,
    };
    let path = dir.path().join(format!("region.{kind}"));
    for ((u, what), body) in want.iter().zip(&got) {
        let Some(body) = body else {
            if *what == "prj" {
                return Err(ClientError::Usage(format!(
                    "{label}: the Shapefile has no .prj at {}, so its CRS is unknown; \
                     publish the .prj beside it or convert the region to GeoJSON",
                    shown(u)
                )));
            }
            continue;
        };
        let p = if *what == "main" {
            path.clone()
        } else {
            dir.path().join(format!("region.{what}"))
        };
        std::fs::write(&p, body).map_err(|e| ClientError::io(&p, e))?;
    }
    Ok(Fetched { _dir: dir, path })
}

/// The kind of a region file by its first bytes.
fn sniff(b: &[u8]) -> Option<String> {
    if b.starts_with(b"SQLite format 3\0") {
        return Some("gpkg".into());
    }
    let first = b.iter().find(|c| !c.is_ascii_whitespace())?;
    (*first == b'{').then(|| "geojson".into())
}

/// Fetches each URL; a sibling that is not found is `None`.
fn get_all(want: &[(String, &str)]) -> Result<Vec<Option<Vec<u8>>>> {
    // On a thread of its own with its own runtime, so that callers inside a runtime can
    // resolve regions too.
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| ClientError::Format(format!("cannot start the async runtime: {e}")))?;
            rt.block_on(async {
                let retry = RetryPolicy {
                    attempts: 3,
                    base: Duration::from_millis(500),
                    max: Duration::from_secs(5),
                };
                // The user named this URL: redirects to other hosts (e.g. a raw-file CDN)
                // are followed, as GDAL does.
                let config = HttpConfig {
                    follow_any_redirect: true,
                    ..HttpConfig::default()
                };
                let http = Http::with_config(retry, config)?;
                let mut out = Vec::with_capacity(want.len());
                for (u, what) in want {
                    match http.get(u, MAX_REGION_BYTES).await {
                        Ok(b) => out.push(Some(b.to_vec())),
                        Err(ClientError::NotFound { .. }) if *what != "main" => out.push(None),
                        Err(e) => return Err(fetch_error(u, e)),
                    }
                }
                Ok(out)
            })
        })
        .join()
        .unwrap_or_else(|_| Err(ClientError::Format("the region fetch failed".into())))
    })
}

/// One message naming the URL, without mirror wording.
fn fetch_error(url: &str, e: ClientError) -> ClientError {
    let u = shown(url);
    match e {
        ClientError::NotFound { .. } => ClientError::Usage(format!(
            "region file {u} was not found (HTTP 404); check the URL"
        )),
        ClientError::Http { status, .. } => {
            ClientError::Usage(format!("cannot fetch region file {u}: HTTP {status}"))
        }
        ClientError::TooLarge { message, .. } => ClientError::Usage(format!(
            "region file {u} is too large ({message}); region files are read up to {} MiB",
            MAX_REGION_BYTES >> 20
        )),
        ClientError::Network { message, .. } => ClientError::Network {
            url: format!("region file {u}"),
            message,
        },
        ClientError::Integrity { message, .. } => ClientError::Integrity {
            url: format!("region file {u}"),
            message,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_and_shown_without_credentials() {
        assert!(is_url("https://example.org/a.geojson"));
        assert!(is_url("HTTP://example.org/a.gpkg"));
        assert!(!is_url("./http:/a.geojson"));
        assert!(!is_url("s3://bucket/a.gpkg"));
        assert!(!is_url("http"));
        assert_eq!(
            shown("https://user:secret@example.org/r.gpkg?x=1"),
            "https://example.org/r.gpkg?x=1"
        );
        assert!(!shown("https://example.org/a\u{1b}[2J.gpkg").contains('\u{1b}'));
    }

    #[test]
    fn content_is_sniffed_when_the_extension_says_nothing() {
        assert_eq!(sniff(b"SQLite format 3\0rest").as_deref(), Some("gpkg"));
        assert_eq!(sniff(b"\n  {\"type\": 1}").as_deref(), Some("geojson"));
        assert_eq!(sniff(b"PK\x03\x04"), None);
        assert_eq!(sniff(b""), None);
    }
}
