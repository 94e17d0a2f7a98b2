//! Atomic file creation: write to a temporary file in the destination directory, then
//! rename it over the final name, so that no partial file ever carries a final name.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// A temporary file beside `path`, named like the reference does
/// (`.{final_name}_tmp_{random}{suffix}`), so tile discovery ignores it. It is created with
/// `O_EXCL` (a planted link at its name cannot be followed) and holds an exclusive `flock`
/// for as long as it is open, so [`reap_stale_temps`] can tell a file still being written
/// from one left behind by a killed run.
pub fn temp_beside(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}_tmp_"))
        .suffix(&suffix)
        .permissions(public_mode())
        .tempfile_in(dir)
        .and_then(|t| {
            t.as_file().try_lock().map_err(std::io::Error::other)?;
            Ok(t)
        })
}

/// True for the names [`temp_beside`] makes.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains("_tmp_")
}

/// Removes the temporary files in `dir` that no running process holds (left by a run that
/// was killed); returns how many. Links and other non-regular entries with temporary names
/// are removed too, never followed.
pub fn reap_stale_temps(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_temp_name(name) {
            continue;
        }
        let p = e.path();
        let stale = match crate::safe_fs::open_read_nofollow(&p) {
            Ok(f) => f.metadata().is_ok_and(|m| m.is_file()) && f.try_lock().is_ok(),
            Err(_) => std::fs::symlink_metadata(&p).is_ok_and(|m| !m.is_dir()),
        };
        if stale && std::fs::remove_file(&p).is_ok() {
            n += 1;
        }
    }
    n
}

/// Mode of files we create: 0666 less the umask (temporary files default to 0600, which
/// would keep other users and web servers from reading what we write).
pub fn public_mode() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o666)
}

/// Writes `path` atomically with `f`; the temporary file is removed on any error.
pub fn write_atomic<F>(path: &Path, f: F) -> std::io::Result<()>
where
    F: FnOnce(&mut BufWriter<&mut File>) -> std::io::Result<()>,
{
    let mut tmp = temp_beside(path)?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        f(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaps_only_temps_nobody_holds() {
        let t = tempfile::tempdir().unwrap();
        let held = temp_beside(&t.path().join("a.tif")).unwrap();
        let left = temp_beside(&t.path().join("b.tif")).unwrap();
        let (_, left_path) = left.keep().unwrap();
        // Its descriptor is dropped here, as when a run is killed: the lock is gone.
        std::fs::write(t.path().join("c.tif"), b"final").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", t.path().join(".d.tif_tmp_x")).unwrap();
        assert_eq!(reap_stale_temps(t.path()), 2);
        assert!(held.path().exists());
        assert!(!left_path.exists());
        assert!(t.path().join("c.tif").exists());
        assert!(std::path::Path::new("/etc/passwd").exists());
    }
}
