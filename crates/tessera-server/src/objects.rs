//! Objects of a mirror directory: safe key → path resolution, and the S3-style metadata
//! of each object (ETag, CRC64NVMe), computed once per file version and cached.

use std::collections::HashMap;
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
    open_in(root, key).map(|o| o.path)
}

/// A key refused by its text alone (before touching the file system).
fn check_key(key: &str) -> Result<&Path, KeyError> {
    if key.is_empty() {
        return Err(KeyError::NotFound);
    }
    if key.contains(['\\', '\0']) || key.starts_with('/') {
        return Err(KeyError::Traversal);
    }
    let rel = Path::new(key);
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(KeyError::Traversal);
    }
    Ok(rel)
}

/// An object opened for serving: the open file is what gets read, so what was checked is
/// what is sent, however the tree changes afterwards.
#[derive(Debug)]
pub struct OpenObject {
    /// The open file.
    pub file: std::fs::File,
    /// Its canonical path (under the root).
    pub path: PathBuf,
    /// Its metadata, from the open file.
    pub metadata: std::fs::Metadata,
}

/// Opens `key` under the canonical `root`, on every request: symlinks inside the tree are
/// followed only while they stay inside it. The check is made on the opened descriptor
/// (its path from `/proc/self/fd`, or its device and inode against the canonical path's
/// where there is no `/proc`), so a key swapped for a symlink between a check and the open
/// cannot lead out of the root.
pub fn open_in(root: &Path, key: &str) -> Result<OpenObject, KeyError> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let joined = root.join(check_key(key)?);
    // O_NONBLOCK: opening a FIFO planted in the tree must not hang the server.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&joined)
        .map_err(|_| KeyError::NotFound)?;
    let metadata = file.metadata().map_err(|_| KeyError::NotFound)?;
    let path = match fd_path(&file) {
        Some(p) => p,
        None => {
            let canon = joined.canonicalize().map_err(|_| KeyError::NotFound)?;
            let same = std::fs::metadata(&canon)
                .is_ok_and(|m| m.dev() == metadata.dev() && m.ino() == metadata.ino());
            if !same {
                return Err(KeyError::Traversal);
            }
            canon
        }
    };
    if !path.starts_with(root) {
        return Err(KeyError::Traversal);
    }
    if !metadata.is_file() {
        return Err(KeyError::NotFound);
    }
    Ok(OpenObject {
        file,
        path,
        metadata,
    })
}

/// The path the kernel holds for an open file, where `/proc` tells it.
fn fd_path(file: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    if !cfg!(target_os = "linux") {
        return None;
    }
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
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
    compute_file(&std::fs::File::open(path)?)
}

/// Computes the metadata of an open file in one pass (positioned reads: the file's offset
/// is left alone).
pub fn compute_file(f: &std::fs::File) -> std::io::Result<ObjectMeta> {
    use std::os::unix::fs::FileExt;
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
    let mut pos = 0u64;
    loop {
        let n = match f.read_at(&mut buf, pos) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        pos += n as u64;
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

/// The most files whose metadata is kept; beyond it the cache starts afresh.
pub const MAX_CACHED: usize = 100_000;

/// The identity and version of a file: metadata is recomputed when any of it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    dev: u64,
    ino: u64,
    size: u64,
    modified: Option<SystemTime>,
}

impl Version {
    fn of(md: &std::fs::Metadata) -> Version {
        use std::os::unix::fs::MetadataExt;
        Version {
            dev: md.dev(),
            ino: md.ino(),
            size: md.len(),
            modified: md.modified().ok(),
        }
    }
}

/// A cache of object metadata keyed by canonical file path, checked against the `fstat`
/// of the file opened for each request, and recomputed when the file changes. It never
/// decides what may be opened: every request opens (and checks) its key afresh.
pub struct MetaCache {
    root: PathBuf,
    map: Mutex<HashMap<PathBuf, (Version, ObjectMeta)>>,
}

/// What the cache knows of a key right now.
pub enum Lookup {
    /// Opened, with current metadata.
    Fresh(OpenObject, ObjectMeta),
    /// Opened, but the metadata must be (re)computed (blocking work: [`MetaCache::refresh`]).
    Stale(OpenObject),
}

impl MetaCache {
    /// A cache for the mirror at `root`.
    pub fn new(root: &Path) -> std::io::Result<MetaCache> {
        Ok(MetaCache {
            root: root.canonicalize()?,
            map: Mutex::new(HashMap::new()),
        })
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (Version, ObjectMeta)>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens `key` (checked, see [`open_in`]) and reports whether the cached metadata of
    /// the opened file is current.
    pub fn lookup(&self, key: &str) -> Result<Lookup, KeyError> {
        let obj = open_in(&self.root, key)?;
        let v = Version::of(&obj.metadata);
        match self.map().get(&obj.path) {
            Some((cv, m)) if *cv == v => {
                let m = m.clone();
                Ok(Lookup::Fresh(obj, m))
            }
            _ => Ok(Lookup::Stale(obj)),
        }
    }

    /// Computes and stores the metadata of an opened object (blocking: reads the file).
    pub fn refresh(&self, obj: &OpenObject) -> std::io::Result<ObjectMeta> {
        let m = compute_file(&obj.file)?;
        let mut map = self.map();
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(obj.path.clone(), (Version::of(&obj.metadata), m.clone()));
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
