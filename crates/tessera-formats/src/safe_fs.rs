//! Paths and files under a root that nobody else controls.
//!
//! Output, work and cache directories may be shared (a project directory on a cluster, a
//! cache under `/tmp`), and keys and names come from remote metadata. Everything we create
//! there goes through this module:
//!
//! - [`join_under`] is the one function that joins a relative name from untrusted input onto
//!   a root: it refuses absolute names, `..`, `.`, empty components, backslashes and NUL, so
//!   the result is provably under the root (lexically; see [`ensure_dir`] for links).
//! - [`ensure_dir`] creates the directories between a root and a path one component at a
//!   time and refuses any component that is a symbolic link or not a directory, so nothing
//!   is written through a link planted inside the root. The root itself is the user's choice
//!   and may be a link.
//! - [`open_rw_nofollow`] opens a file for reading and writing with `O_NOFOLLOW`; a link or
//!   special file planted under that name is removed first, never written through.
//!
//! Final names are always made by renaming a file we created ourselves (`O_EXCL`) onto
//! them: a rename replaces a planted link instead of following it.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// Longest relative name accepted from untrusted input.
pub const MAX_NAME_LEN: usize = 1024;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Checks that `rel` is a plain relative name: components separated by `/`, none of them
/// empty, `.` or `..`, no backslash, NUL or other control character, at most
/// [`MAX_NAME_LEN`] bytes.
pub fn check_relative(rel: &str) -> io::Result<()> {
    if rel.is_empty() {
        return Err(invalid("an empty name".into()));
    }
    if rel.len() > MAX_NAME_LEN {
        return Err(invalid(format!(
            "a name of {} bytes (at most {MAX_NAME_LEN})",
            rel.len()
        )));
    }
    if rel.chars().any(|c| c.is_control() || c == '\\') {
        return Err(invalid(format!(
            "the name {:?} contains a control character or a backslash",
            rel
        )));
    }
    for part in rel.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(invalid(format!(
                "the name {rel:?} is not a plain relative path (empty, '.' or '..' component)"
            )));
        }
    }
    Ok(())
}

/// Joins the untrusted relative name `rel` onto `root` (see [`check_relative`]).
pub fn join_under(root: &Path, rel: &str) -> io::Result<PathBuf> {
    check_relative(rel)?;
    Ok(root.join(rel))
}

/// The components of `path` below `root`, all plain names; an error when `path` is not
/// lexically under `root`.
pub fn components_under<'a>(root: &Path, path: &'a Path) -> io::Result<Vec<&'a OsStr>> {
    let rest = path.strip_prefix(root).map_err(|_| {
        invalid(format!(
            "{} is not under {}",
            path.display(),
            root.display()
        ))
    })?;
    rest.components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(invalid(format!(
                "{} leaves {} (a '..' or absolute component)",
                path.display(),
                root.display()
            ))),
        })
        .collect()
}

/// `.{name}{suffix}` beside `path`: the hidden name of a file being made for `path` (part
/// files, journals), which tile discovery ignores.
pub fn hidden_sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}{suffix}"))
}

/// Creates `root` (and its parents) and every directory from `root` down to `dir`, refusing
/// any component below `root` that is a symbolic link or not a directory.
pub fn ensure_dir(root: &Path, dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(root)?;
    let parts = components_under(root, dir)?;
    let mut at = root.to_path_buf();
    for p in parts {
        at.push(p);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(io::Error::other(format!(
                    "{} is a symbolic link; refusing to write through it (remove it, or choose another output directory)",
                    at.display()
                )));
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "{} exists and is not a directory",
                    at.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match std::fs::create_dir(&at) {
                Ok(()) => {}
                // Created meanwhile by a concurrent run: check it on the next pass.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let m = std::fs::symlink_metadata(&at)?;
                    if !m.is_dir() || m.file_type().is_symlink() {
                        return Err(io::Error::other(format!(
                            "{} is not a plain directory; refusing to write through it",
                            at.display()
                        )));
                    }
                }
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes whatever stands at `path` unless it is a regular file or a directory: a planted
/// symbolic link, FIFO, socket or device node is unlinked (never followed). A directory is
/// an error.
pub fn clear_non_regular(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::remove_file(path),
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) if m.is_dir() => Err(io::Error::other(format!(
            "{} is a directory where a file is expected",
            path.display()
        ))),
        Ok(m) => {
            let t = m.file_type();
            if t.is_fifo() || t.is_socket() || t.is_block_device() || t.is_char_device() {
                std::fs::remove_file(path)
            } else {
                Ok(())
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens (creating if needed, never truncating) a regular file for reading and writing
/// without following a symbolic link at its name; a link or special file planted there is
/// removed first. Non-blocking open, so a planted FIFO cannot hang us.
pub fn open_rw_nofollow(path: &Path) -> io::Result<File> {
    for _ in 0..8 {
        clear_non_regular(path)?;
        let r = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path);
        match r {
            Ok(f) => {
                if !f.metadata()?.is_file() {
                    drop(f);
                    continue;
                }
                return Ok(f);
            }
            // A link planted between the check and the open: remove it and try again.
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "{}: something keeps replacing this file with a link; refusing to write",
        path.display()
    )))
}

/// Opens an existing file for reading without following a link at its name.
pub fn open_read_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

/// Reads a small file without following a link at its name, refusing more than `cap` bytes.
pub fn read_capped_nofollow(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let f = open_read_nofollow(path)?;
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if m.len() > cap {
        return Err(io::Error::other(format!(
            "{} is {} bytes, more than the {cap} allowed",
            path.display(),
            m.len()
        )));
    }
    let mut out = Vec::with_capacity(m.len() as usize);
    f.take(cap + 1).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(io::Error::other(format!(
            "{} grew past the {cap} bytes allowed",
            path.display()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names() {
        for ok in ["a", "a/b.npy", "utm30/embeddings/c/0/0/1", ".hidden"] {
            check_relative(ok).unwrap();
        }
        for bad in [
            "", "/etc", "a/../b", "..", ".", "a//b", "a/", "a\\b", "a\0b", "x\n", "a/./b",
        ] {
            assert!(check_relative(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_relative(&"a".repeat(MAX_NAME_LEN + 1)).is_err());
        let root = Path::new("/r");
        assert_eq!(join_under(root, "x/y").unwrap(), PathBuf::from("/r/x/y"));
        assert!(components_under(root, Path::new("/r/x/../../etc")).is_err());
        assert!(components_under(root, Path::new("/other")).is_err());
    }

    #[test]
    fn planted_links_are_refused_or_replaced() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("out");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("2024")).unwrap();
        let e = ensure_dir(&root, &root.join("2024/grid")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!outside.join("grid").exists());
        ensure_dir(&root, &root.join("a/b")).unwrap();
        assert!(root.join("a/b").is_dir());

        let victim = outside.join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let part = root.join(".x.part");
        std::os::unix::fs::symlink(&victim, &part).unwrap();
        let mut f = open_rw_nofollow(&part).unwrap();
        std::io::Write::write_all(&mut f, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert!(
            !std::fs::symlink_metadata(&part)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(read_capped_nofollow(&part, 2).is_err());
        assert_eq!(read_capped_nofollow(&part, 3).unwrap(), b"new");
    }
}
