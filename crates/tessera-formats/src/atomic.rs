//! Atomic file creation: write to a temporary file in the destination directory, then
//! rename it over the final name, so that no partial file ever carries a final name.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// A temporary file beside `path`, named like the reference does
/// (`.{final_name}_tmp_{random}{suffix}`), so tile discovery ignores it.
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
