//! The request rules of the site server (`tessera serve`): which URL paths name a file
//! (refusing anything that could leave the served directory), byte ranges, and MIME types.

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SitePath {
    /// The directory's page (`/`).
    Index,
    /// A relative file path, decoded and checked: no `..`, `.`, empty segment, NUL,
    /// backslash or encoded slash.
    File(String),
    /// Refused: it tries to leave the directory or hides a separator.
    Forbidden,
    /// Not a valid path (bad escapes, not UTF-8).
    Bad,
}

/// Classifies a raw request path (before percent-decoding).
pub fn site_path(raw: &str) -> SitePath {
    let raw = raw.split(['?', '#']).next().unwrap_or("");
    if !raw.starts_with('/') {
        return SitePath::Forbidden;
    }
    let lower = raw.to_ascii_lowercase();
    // An encoded separator or NUL would turn into one only after our checks.
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") {
        return SitePath::Forbidden;
    }
    let Some(decoded) = crate::objects::percent_decode(raw) else {
        return SitePath::Bad;
    };
    if decoded == "/" {
        return SitePath::Index;
    }
    let rel = &decoded[1..];
    if rel.contains(['\\', '\0']) || rel.starts_with('/') {
        return SitePath::Forbidden;
    }
    if rel
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return SitePath::Forbidden;
    }
    SitePath::File(rel.to_string())
}

/// A `Range` header's meaning for a body of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No `bytes=` range: the whole body (200).
    Whole,
    /// Bytes `start..=end` (206).
    Part(u64, u64),
    /// Refused (416): past the end, reversed (`5-2`), malformed, or several ranges (we
    /// serve one range per request and refuse lists rather than build multipart bodies).
    Refused,
}

/// Parses `Range` for a body of `size` bytes.
pub fn byte_range(h: Option<&str>, size: u64) -> ByteRange {
    let Some(h) = h else {
        return ByteRange::Whole;
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        // Another unit: ignored, as RFC 9110 allows.
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Refused;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return ByteRange::Refused;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| {
        (!s.is_empty() && s.len() <= 20 && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    if size == 0 {
        return ByteRange::Refused;
    }
    match (a.is_empty(), b.is_empty()) {
        (true, false) => match num(b) {
            Some(0) | None => ByteRange::Refused,
            Some(n) => ByteRange::Part(size.saturating_sub(n), size - 1),
        },
        (false, true) => match num(a) {
            Some(s) if s < size => ByteRange::Part(s, size - 1),
            _ => ByteRange::Refused,
        },
        (false, false) => match (num(a), num(b)) {
            (Some(s), Some(e)) if s <= e && s < size => ByteRange::Part(s, e.min(size - 1)),
            _ => ByteRange::Refused,
        },
        (true, true) => ByteRange::Refused,
    }
}

/// The MIME type for a file name.
pub fn mime_for(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "geojson" => "application/geo+json",
        "tif" | "tiff" => "image/tiff",
        "txt" | "md" | "csv" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "wasm" => "application/wasm",
        _ if name.ends_with("LICENSE") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A tile path `tiles/{z}/{x}/{y}.png` (TMS rows): its numbers.
pub fn tile_path(rel: &str) -> Option<(u8, u32, u32)> {
    let rest = rel.strip_prefix("tiles/")?;
    let mut it = rest.split('/');
    let (z, x, y) = (it.next()?, it.next()?, it.next()?.strip_suffix(".png")?);
    if it.next().is_some() {
        return None;
    }
    let digits = |s: &str| !s.is_empty() && s.len() <= 10 && s.bytes().all(|c| c.is_ascii_digit());
    if !(digits(z) && digits(x) && digits(y)) {
        return None;
    }
    Some((z.parse().ok()?, x.parse().ok()?, y.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_leave_the_directory_are_refused() {
        assert_eq!(site_path("/"), SitePath::Index);
        assert_eq!(site_path("/a/b.png?x=1"), SitePath::File("a/b.png".into()));
        assert_eq!(site_path("/a%20b.html"), SitePath::File("a b.html".into()));
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/a/%2E%2E/%2e%2e/x",
            "/a%2fb",
            "/a%2F..%2Fb",
            "/a%5c..",
            "//etc/passwd",
            "/a/./b",
            "/a%00.html",
            "etc/passwd",
            "/a\\b",
        ] {
            assert_eq!(site_path(bad), SitePath::Forbidden, "{bad}");
        }
        assert_eq!(site_path("/%zz"), SitePath::Bad);
        assert_eq!(site_path("/%ff"), SitePath::Bad);
    }

    #[test]
    fn ranges_are_single_and_satisfiable_or_refused() {
        assert_eq!(byte_range(None, 10), ByteRange::Whole);
        assert_eq!(byte_range(Some("items=0-1"), 10), ByteRange::Whole);
        assert_eq!(byte_range(Some("bytes=0-3"), 10), ByteRange::Part(0, 3));
        assert_eq!(byte_range(Some("bytes=5-"), 10), ByteRange::Part(5, 9));
        assert_eq!(byte_range(Some("bytes=-4"), 10), ByteRange::Part(6, 9));
        assert_eq!(byte_range(Some("bytes=-40"), 10), ByteRange::Part(0, 9));
        assert_eq!(byte_range(Some("bytes=3-100"), 10), ByteRange::Part(3, 9));
        for bad in [
            "bytes=10-",
            "bytes=999999999999-",
            "bytes=5-2",
            "bytes=-0",
            "bytes=0-1,4-5",
            "bytes=abc",
            "bytes=-",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(byte_range(Some(bad), 10), ByteRange::Refused, "{bad}");
        }
        assert_eq!(byte_range(Some("bytes=0-0"), 0), ByteRange::Refused);
    }

    #[test]
    fn types_and_tiles() {
        assert_eq!(mime_for("viewer.html"), "text/html; charset=utf-8");
        assert_eq!(
            mime_for("leaflet/leaflet.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(mime_for("a.CSS"), "text/css; charset=utf-8");
        assert_eq!(mime_for("t.png"), "image/png");
        assert_eq!(mime_for("tiles.json"), "application/json");
        assert_eq!(mime_for("m.tif"), "image/tiff");
        assert_eq!(mime_for("blob"), "application/octet-stream");
        assert_eq!(tile_path("tiles/8/1/2.png"), Some((8, 1, 2)));
        assert_eq!(tile_path("tiles/8/1/2.jpg"), None);
        assert_eq!(tile_path("tiles/8/1/x.png"), None);
        assert_eq!(tile_path("tiles/999/1/2.png"), None);
        assert_eq!(tile_path("tiles/8/1/2/3.png"), None);
    }
}
