//! GDAL's metadata in TIFF tag 42112 (`GDAL_METADATA`): dataset tags, per-band items and
//! band descriptions as a small XML document, plus the nodata text of tag 42113.

use std::collections::BTreeMap;

use quick_xml::events::Event;

/// GDAL_METADATA tag.
pub const TAG_GDAL_METADATA: u16 = 42112;
/// GDAL_NODATA tag.
pub const TAG_GDAL_NODATA: u16 = 42113;

/// Metadata of one band.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BandMetadata {
    /// Band description (GDAL `role="description"`).
    pub description: Option<String>,
    /// Other band items `(name, value)` in the default domain.
    pub items: Vec<(String, String)>,
}

/// An `<Item>` being parsed.
struct OpenItem {
    name: String,
    sample: Option<usize>,
    role: Option<String>,
    domain: Option<String>,
}

/// Dataset and band metadata as GDAL stores it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GdalMetadata {
    /// Dataset items `(name, value)` of the default domain, in order.
    pub items: Vec<(String, String)>,
    /// Per-band metadata by zero-based band index.
    pub bands: BTreeMap<usize, BandMetadata>,
}

/// XML escaping of `&`, `<`, `>` and `"` (GDAL's `CPLEscapeString(CPLES_XML)`).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// GDAL escapes item values once before serialising the XML, which escapes them again;
/// so values are stored doubly escaped and unescaped twice on reading.
fn escape_value(s: &str) -> String {
    escape(&escape(s))
}

/// The inverse of GDAL's value escaping (after XML parsing has removed one level).
/// Unknown entities are kept as they are, as GDAL does.
fn unescape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let entity = rest.find(';').map(|j| &rest[..=j]);
        let decoded = entity.and_then(|e| match e {
            "&amp;" => Some('&'),
            "&lt;" => Some('<'),
            "&gt;" => Some('>'),
            "&quot;" => Some('"'),
            "&apos;" => Some('\''),
            e if e.starts_with("&#x") => u32::from_str_radix(&e[3..e.len() - 1], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with("&#") => e[2..e.len() - 1].parse().ok().and_then(char::from_u32),
            _ => None,
        });
        match (entity, decoded) {
            (Some(e), Some(c)) => {
                out.push(c);
                rest = &rest[e.len()..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl GdalMetadata {
    /// Sets (or replaces) a dataset item.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.items.iter_mut().find(|(n, _)| n == name) {
            Some(item) => item.1 = value,
            None => self.items.push((name.to_string(), value)),
        }
    }

    /// A dataset item.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a band description.
    pub fn set_band_description(&mut self, band: usize, description: impl Into<String>) {
        self.bands.entry(band).or_default().description = Some(description.into());
    }

    /// A band description.
    pub fn band_description(&self, band: usize) -> Option<&str> {
        self.bands.get(&band)?.description.as_deref()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
            && self
                .bands
                .values()
                .all(|b| b.description.is_none() && b.items.is_empty())
    }

    /// The XML GDAL writes, or `None` when empty.
    pub fn to_xml(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut x = String::from("<GDALMetadata>\n");
        for (k, v) in &self.items {
            x.push_str(&format!(
                "  <Item name=\"{}\">{}</Item>\n",
                escape(k),
                escape_value(v)
            ));
        }
        for (band, meta) in &self.bands {
            for (k, v) in &meta.items {
                x.push_str(&format!(
                    "  <Item name=\"{}\" sample=\"{band}\">{}</Item>\n",
                    escape(k),
                    escape_value(v)
                ));
            }
            if let Some(d) = &meta.description {
                x.push_str(&format!(
                    "  <Item name=\"DESCRIPTION\" sample=\"{band}\" role=\"description\">{}</Item>\n",
                    escape_value(d)
                ));
            }
        }
        x.push_str("</GDALMetadata>");
        Some(x)
    }

    /// Parses GDAL's XML; items in non-default domains are ignored. Malformed XML is an
    /// error message, never a panic.
    pub fn from_xml(xml: &str) -> Result<GdalMetadata, String> {
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut out = GdalMetadata::default();
        // The open <Item>, and its text.
        let mut current: Option<OpenItem> = None;
        let mut text = String::new();
        loop {
            match reader.read_event().map_err(|e| e.to_string())? {
                Event::Start(e) if e.name().as_ref() == b"Item" => {
                    let mut name = String::new();
                    let (mut sample, mut role, mut domain) = (None, None, None);
                    for a in e.attributes() {
                        let a = a.map_err(|e| e.to_string())?;
                        let v = a
                            .decode_and_unescape_value(reader.decoder())
                            .map_err(|e| e.to_string())?
                            .into_owned();
                        match a.key.as_ref() {
                            b"name" => name = v,
                            b"sample" => sample = v.parse::<usize>().ok(),
                            b"role" => role = Some(v),
                            b"domain" => domain = Some(v),
                            _ => {}
                        }
                    }
                    current = Some(OpenItem {
                        name,
                        sample,
                        role,
                        domain,
                    });
                    text.clear();
                }
                Event::Text(t) if current.is_some() => {
                    let raw = t.decode().map_err(|e| e.to_string())?;
                    let s = quick_xml::escape::unescape(&raw).map_err(|e| e.to_string())?;
                    text.push_str(&s);
                }
                Event::GeneralRef(r) if current.is_some() => {
                    let name = r.decode().map_err(|e| e.to_string())?;
                    let entity = format!("&{name};");
                    let s = quick_xml::escape::unescape(&entity).map_err(|e| e.to_string())?;
                    text.push_str(&s);
                }
                Event::CData(t) if current.is_some() => {
                    text.push_str(&String::from_utf8_lossy(&t));
                }
                Event::End(e) if e.name().as_ref() == b"Item" => {
                    if let Some(OpenItem {
                        name,
                        sample,
                        role,
                        domain,
                    }) = current.take()
                    {
                        if domain.as_deref().is_some_and(|d| !d.is_empty()) {
                            continue;
                        }
                        let value = unescape_value(&std::mem::take(&mut text));
                        match (sample, role.as_deref()) {
                            (Some(b), Some("description")) => {
                                out.bands.entry(b).or_default().description = Some(value)
                            }
                            (Some(_), Some(_)) => {}
                            (Some(b), None) => {
                                out.bands.entry(b).or_default().items.push((name, value))
                            }
                            (None, _) => out.items.push((name, value)),
                        }
                    }
                }
                Event::Empty(e) if e.name().as_ref() == b"Item" => {}
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(out)
    }
}

/// Formats a nodata value the way GDAL writes tag 42113.
pub fn format_nodata(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.18e}")
    }
}

/// Parses tag 42113's text.
pub fn parse_nodata(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    match t.to_ascii_lowercase().as_str() {
        "nan" | "-nan" => Some(f64::NAN),
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_round_trip() {
        let mut m = GdalMetadata::default();
        m.set("TESSERA_YEAR", "2024");
        m.set("NOTE", "a < b & \"c\"");
        m.set_band_description(0, "Tessera_Band_0");
        m.set_band_description(127, "Tessera_Band_127");
        m.bands
            .entry(3)
            .or_default()
            .items
            .push(("K".into(), "v".into()));
        let xml = m.to_xml().unwrap();
        let back = GdalMetadata::from_xml(&xml).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.get("NOTE"), Some("a < b & \"c\""));
        assert!(
            GdalMetadata::from_xml("<GDALMetadata><Item name=\"x\">")
                .is_ok_and(|m| m.items.is_empty())
        );
        assert!(GdalMetadata::from_xml("<a></b>").is_err());
        assert!(GdalMetadata::default().to_xml().is_none());
    }

    #[test]
    fn nodata_text() {
        assert_eq!(format_nodata(f64::NAN), "nan");
        assert_eq!(format_nodata(-9999.0), "-9999");
        assert!(parse_nodata("nan\0").unwrap().is_nan());
        assert_eq!(parse_nodata("-9999"), Some(-9999.0));
        assert_eq!(parse_nodata("x"), None);
        assert_eq!(parse_nodata(&format_nodata(0.1)), Some(0.1));
    }
}
