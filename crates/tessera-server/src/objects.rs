//! Objects of a mirror directory: safe key → path resolution, and the S3-style metadata
//! of each object (ETag, CRC64NVMe), computed once per (size, mtime) and cached.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use base64::Engine;
use md5::{Digest, Md5};

/// Objects at or above this size get a multipart-style ETag, as S3 gives large uploads.
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// Part size used for multipart-style ETags (the AWS CLI's default chunk size).
pub const PART_SIZE: u64 = 8 * 1024 * 1024;

/// Why a key cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// `..`, backslashes, NUL or an absolute path: refused.
    Traversal,
    /// Nothing there (or a directory).
    NotFound,
}

/// Percent-decodes a URL path; `None` for malformed escapes or invalid UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file of `key` under `root` (canonical), refusing anything that could leave it.
pub fn resolve(root: &Path, key: &str) -> Result<PathBuf, KeyError> {
    let root = root.canonicalize().map_err(|_| KeyError::NotFound)?;
    resolve_in(&root, key)
}

/// [`resolve`] with an already canonical root.
pub fn resolve_in(root: &Path, key: &str) -> Result<PathBuf, KeyError> {
    if key.is_empty() || key.contains(['\\', '\0']) || key.starts_with('/') {
        return Err(if key.is_empty() {
            KeyError::NotFound
        } else {
            KeyError::Traversal
        });
    }
    let rel = Path::new(key);
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(KeyError::Traversal);
    }
    // Symlinks inside the tree must not lead out of it.
    let canon = root
        .join(rel)
        .canonicalize()
        .map_err(|_| KeyError::NotFound)?;
    if !canon.starts_with(root) {
        return Err(KeyError::Traversal);
    }
    if !canon.is_file() {
        return Err(KeyError::NotFound);
    }
    Ok(canon)
}

/// S3-style metadata of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub modified: SystemTime,
    /// The quoted ETag.
    pub etag: String,
    /// Base64 of the big-endian CRC-64/NVME of the whole object.
    pub crc64nvme: String,
}

/// Computes the metadata of a file in one pass.
pub fn compute(path: &Path) -> std::io::Result<ObjectMeta> {
    let mut f = std::fs::File::open(path)?;
    let md = f.metadata()?;
    let size = md.len();
    let modified = md.modified()?;
    let mut whole = Md5::new();
    let mut part = Md5::new();
    let mut parts: Vec<u8> = Vec::new();
    let mut in_part = 0u64;
    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    let mut buf = vec![0u8; 1 << 20];
    let multipart = size >= MULTIPART_THRESHOLD;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let mut chunk = &buf[..n];
        crc.update(chunk);
        if multipart {
            while !chunk.is_empty() {
                let take = ((PART_SIZE - in_part) as usize).min(chunk.len());
                part.update(&chunk[..take]);
                in_part += take as u64;
                chunk = &chunk[take..];
                if in_part == PART_SIZE {
                    parts.extend_from_slice(&std::mem::take(&mut part).finalize());
                    in_part = 0;
                }
            }
        } else {
            whole.update(chunk);
        }
    }
    let etag = if multipart {
        let mut count = parts.len() / 16;
        if in_part > 0 {
            parts.extend_from_slice(&part.finalize());
            count += 1;
        }
        format!("\"{}-{count}\"", hex(&Md5::digest(&parts)))
    } else {
        format!("\"{}\"", hex(&whole.finalize()))
    };
    let crc64nvme = base64::engine::general_purpose::STANDARD.encode(crc.finalize().to_be_bytes());
    Ok(ObjectMeta {
        size,
        modified,
        etag,
        crc64nvme,
    })
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A cache of resolved keys and their metadata, checked against one `stat` per use and
/// recomputed when a file's size or mtime changes.
pub struct MetaCache {
    root: PathBuf,
    map: Mutex<HashMap<String, (PathBuf, ObjectMeta)>>,
}

/// What the cache knows of a key right now.
pub enum Lookup {
    /// Resolved, with current metadata.
    Fresh(PathBuf, ObjectMeta),
    /// Resolved, but the metadata must be (re)computed (blocking work).
    Stale(PathBuf),
}

impl MetaCache {
    /// A cache for the mirror at `root`.
    pub fn new(root: &Path) -> std::io::Result<MetaCache> {
        Ok(MetaCache {
            root: root.canonicalize()?,
            map: Mutex::new(HashMap::new()),
        })
    }

    /// Resolves `key` and reports whether its cached metadata is current (one `stat`).
    pub fn lookup(&self, key: &str) -> Result<Lookup, KeyError> {
        let cached = self.map.lock().expect("meta cache").get(key).cloned();
        if let Some((path, m)) = cached {
            return match std::fs::metadata(&path) {
                Ok(md)
                    if md.is_file()
                        && md.len() == m.size
                        && md.modified().ok() == Some(m.modified) =>
                {
                    Ok(Lookup::Fresh(path, m))
                }
                Ok(md) if md.is_file() => Ok(Lookup::Stale(path)),
                _ => {
                    self.map.lock().expect("meta cache").remove(key);
                    Err(KeyError::NotFound)
                }
            };
        }
        Ok(Lookup::Stale(resolve_in(&self.root, key)?))
    }

    /// Computes and stores the metadata of a resolved key (blocking: reads the file).
    pub fn refresh(&self, key: &str, path: &Path) -> std::io::Result<ObjectMeta> {
        let m = compute(path)?;
        self.map
            .lock()
            .expect("meta cache")
            .insert(key.to_string(), (path.to_path_buf(), m.clone()));
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_and_crc() {
        let dir = std::env::temp_dir().join(format!("tessera-objects-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small");
        std::fs::write(&small, b"123456789").unwrap();
        let m = compute(&small).unwrap();
        assert_eq!(m.etag, "\"25f9e794323b453885f5181f1b624d0b\"");
        assert_eq!(m.crc64nvme, "rosUhgp5mIg=");
        let big = dir.join("big");
        let data: Vec<u8> = (0..(PART_SIZE * 2 + 5)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&big, &data).unwrap();
        let m = compute(&big).unwrap();
        let mut parts = Vec::new();
        for c in data.chunks(PART_SIZE as usize) {
            parts.extend_from_slice(&Md5::digest(c));
        }
        assert_eq!(m.etag, format!("\"{}-3\"", hex(&Md5::digest(&parts))));
        std::fs::write(dir.join("empty"), b"").unwrap();
        assert_eq!(
            compute(&dir.join("empty")).unwrap().crc64nvme,
            "AAAAAAAAAAA="
        );
        assert_eq!(resolve(&dir, "../etc/passwd"), Err(KeyError::Traversal));
        assert_eq!(resolve(&dir, "a/../../x"), Err(KeyError::Traversal));
        assert_eq!(resolve(&dir, "nope"), Err(KeyError::NotFound));
        assert!(resolve(&dir, "small").is_ok());
        assert_eq!(percent_decode("a%2e%2E/b%20c"), Some("a../b c".into()));
        assert_eq!(percent_decode("%zz"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
