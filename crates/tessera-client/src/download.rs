//! Verified, resumable, concurrent downloads.
//!
//! Each file streams into `.{name}.part` beside its final name (with its validators in
//! `.{name}.part.json`), under an exclusive lock so that concurrent runs never interleave.
//! Every byte is checked: the length against Content-Length, the MD5 against a simple ETag,
//! and the CRC64NVMe whenever the mirror sends one. Only then is the file renamed onto its
//! final name and stamped with the server's Last-Modified. An interrupted file resumes with
//! a Range request validated by If-Range (the ETag) instead of starting again; a corrupt one
//! is discarded and fetched again. Existing files of the expected size are skipped.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use base64::Engine;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};
use crate::mirror::{Mirror, MirrorRoot, is_md5_etag, object_info};

/// One file to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadItem {
    /// Object key on the mirror.
    pub key: String,
    /// Final local path.
    pub dest: PathBuf,
    /// Size the registry expects, if known (used to skip complete files).
    pub size: Option<u64>,
}

/// Tuning.
#[derive(Debug, Clone, Copy)]
pub struct DownloadOptions {
    /// Files in flight at once.
    pub jobs: usize,
    /// Attempts per file after the headers (truncation, resets, checksum mismatches).
    pub attempts: u32,
    /// Flush each file to disk before renaming it (survives power cuts; slower).
    pub durable: bool,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            jobs: 8,
            attempts: 5,
            durable: false,
        }
    }
}

/// Live counters for progress display.
#[derive(Debug, Default)]
pub struct DownloadProgress {
    /// Bytes expected to transfer (files to fetch; skipped files excluded).
    pub total: AtomicU64,
    /// Bytes received so far (including the part of a file kept from an earlier run).
    pub done: AtomicU64,
    /// Files finished (downloaded, skipped or failed).
    pub files: AtomicUsize,
    cancel: AtomicBool,
}

/// What happened to one file.
#[derive(Debug)]
pub enum Outcome {
    /// Fetched and verified.
    Downloaded {
        /// Bytes transferred over the network in this run.
        fetched: u64,
        /// Bytes kept from an interrupted earlier attempt.
        resumed_from: u64,
        /// The checks that passed (length, md5, crc64nvme).
        checks: Vec<&'static str>,
    },
    /// Already complete on disk.
    Skipped,
    /// Failed after all attempts.
    Failed(ClientError),
}

/// The result of a batch.
#[derive(Debug, Default)]
pub struct DownloadReport {
    /// Per item, in input order.
    pub outcomes: Vec<(DownloadItem, Outcome)>,
    /// Bytes transferred over the network.
    pub fetched: u64,
    /// Wall time.
    pub seconds: f64,
    /// Warnings (e.g. registry sizes that disagree with the mirror).
    pub warnings: Vec<String>,
}

impl DownloadReport {
    /// Files downloaded.
    pub fn downloaded(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Downloaded { .. }))
            .count()
    }
    /// Files skipped as complete.
    pub fn skipped(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Skipped))
            .count()
    }
    /// Files that failed.
    pub fn failed(&self) -> Vec<(&DownloadItem, &ClientError)> {
        self.outcomes
            .iter()
            .filter_map(|(i, o)| match o {
                Outcome::Failed(e) => Some((i, e)),
                _ => None,
            })
            .collect()
    }
    /// Files resumed from an earlier partial download.
    pub fn resumed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(
                |(_, o)| matches!(o, Outcome::Downloaded { resumed_from, .. } if *resumed_from > 0),
            )
            .count()
    }
}

/// Validators of a partial download, kept beside it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct PartMeta {
    url: String,
    etag: Option<String>,
    size: u64,
    crc64nvme: Option<String>,
    modified: Option<u64>,
}

fn sibling(dest: &Path, suffix: &str) -> PathBuf {
    tessera_formats::safe_fs::hidden_sibling(dest, suffix)
}

/// Largest object accepted when the registry gives no size (a tile's embedding is about
/// 100-160 MB, a landmask about 1 MB).
pub const MAX_UNSIZED_OBJECT: u64 = 1 << 30;

/// The most bytes a file may have: the registry's size with room for a republished object
/// that differs a little (the mirror's checksums decide), or [`MAX_UNSIZED_OBJECT`].
fn size_cap(size: Option<u64>) -> u64 {
    match size {
        Some(s) => s.saturating_add(s / 4).saturating_add(1 << 20),
        None => MAX_UNSIZED_OBJECT,
    }
}

/// The final file exists as a regular file (a planted link does not count) of the
/// registry's size, or of any size when the registry gives none.
fn is_complete(item: &DownloadItem) -> bool {
    std::fs::symlink_metadata(&item.dest)
        .is_ok_and(|m| m.is_file() && item.size.is_none_or(|s| m.len() == s))
}

/// Checks that a directory can be created and written, before any request is made.
pub fn preflight(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
    let probe = tempfile::Builder::new()
        .prefix(".tessera_write_test")
        .tempfile_in(dir);
    match probe {
        Ok(_) => Ok(()),
        Err(e) => Err(ClientError::Unwritable {
            path: dir.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

/// Opens and exclusively locks the part file, making sure the lock is on the file that is
/// still named `.part` (a concurrent run may have renamed it to its final name meanwhile).
fn lock_part(part: &Path) -> Result<File> {
    use std::os::unix::fs::MetadataExt;
    loop {
        let f = tessera_formats::safe_fs::open_rw_nofollow(part)
            .map_err(|e| ClientError::io(part, e))?;
        f.lock().map_err(|e| ClientError::io(part, e))?;
        let held = f.metadata().map_err(|e| ClientError::io(part, e))?.ino();
        match std::fs::symlink_metadata(part) {
            Ok(m) if m.ino() == held => return Ok(f),
            _ => continue,
        }
    }
}

struct Hashers {
    md5: Option<Md5>,
    crc: Option<crc_fast::Digest>,
}

impl Hashers {
    fn new(etag: Option<&str>, crc: Option<&str>) -> Hashers {
        Hashers {
            md5: etag.filter(|e| is_md5_etag(e)).map(|_| Md5::new()),
            crc: crc.map(|_| crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme)),
        }
    }
    fn update(&mut self, b: &[u8]) {
        if let Some(m) = &mut self.md5 {
            m.update(b);
        }
        if let Some(c) = &mut self.crc {
            c.update(b);
        }
    }
    /// Hashes what is already in the part file.
    fn absorb(&mut self, f: &mut File, len: u64) -> std::io::Result<()> {
        if self.md5.is_none() && self.crc.is_none() {
            return Ok(());
        }
        f.seek(SeekFrom::Start(0))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = f.read(&mut buf[..(left.min(1 << 20)) as usize])?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.update(&buf[..n]);
            left -= n as u64;
        }
        Ok(())
    }
}

enum Attempt {
    Done(Vec<&'static str>),
    /// Retry; `keep` false discards the part.
    Retry {
        err: ClientError,
        keep: bool,
    },
}

/// Downloads one item (see the module documentation).
async fn fetch_one(
    mirror: &Mirror,
    root: &Path,
    item: &DownloadItem,
    opts: DownloadOptions,
    progress: &DownloadProgress,
) -> (Outcome, Option<String>) {
    if is_complete(item) {
        return (Outcome::Skipped, None);
    }
    let dir = item.dest.parent().unwrap_or(Path::new(".")).to_path_buf();
    if let Err(e) = tessera_formats::safe_fs::ensure_dir(root, &dir) {
        return (Outcome::Failed(ClientError::io(&dir, e)), None);
    }
    if let Err(e) = tessera_formats::safe_fs::clear_non_regular(&item.dest) {
        return (Outcome::Failed(ClientError::io(&item.dest, e)), None);
    }
    if let MirrorRoot::Local(_) = mirror.root {
        return (copy_local(mirror, item, progress).await, None);
    }
    let part = sibling(&item.dest, ".part");
    let meta_path = sibling(&item.dest, ".part.json");
    let locked = {
        let p = part.clone();
        tokio::task::spawn_blocking(move || lock_part(&p)).await
    };
    let mut file = match locked {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return (Outcome::Failed(e), None),
        Err(e) => {
            return (
                Outcome::Failed(ClientError::Format(format!("lock task failed: {e}"))),
                None,
            );
        }
    };
    // Another run may have completed it while we waited for the lock.
    if item.size.is_some() && is_complete(item) {
        let _ = std::fs::remove_file(&part);
        return (Outcome::Skipped, None);
    }
    let url = mirror.root.locate(&item.key);
    let mut saved: Option<PartMeta> =
        tessera_formats::safe_fs::read_capped_nofollow(&meta_path, 64 << 10)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|m: &PartMeta| m.url == url);
    let mut fetched = 0u64;
    let mut warning = None;
    let mut first_resume = None;
    let mut last_err = None;
    for attempt in 0..opts.attempts {
        if progress.cancel.load(Ordering::Relaxed) {
            break;
        }
        if mirror.http.cancel.is_cancelled() {
            return (Outcome::Failed(ClientError::Cancelled), warning);
        }
        let have = file.metadata().map(|m| m.len()).unwrap_or(0);
        let resume_from = match &saved {
            Some(m) if m.etag.is_some() && have > 0 && have < m.size => have,
            _ => 0,
        };
        if first_resume.is_none() {
            first_resume = Some(resume_from);
        }
        match attempt_once(
            mirror,
            &url,
            &mut file,
            resume_from,
            &mut saved,
            &meta_path,
            item,
            progress,
            &mut fetched,
            &mut warning,
        )
        .await
        {
            Ok(Attempt::Done(checks)) => {
                if let Err(e) = finish(
                    &mut file,
                    &part,
                    &meta_path,
                    &item.dest,
                    saved.as_ref(),
                    opts.durable,
                ) {
                    return (Outcome::Failed(e), warning);
                }
                // Bytes of the file that came over the network in this run: retried
                // bytes that were thrown away do not count.
                let resumed_from = first_resume.unwrap_or(0);
                let kept = saved
                    .as_ref()
                    .map_or(fetched, |m| m.size.saturating_sub(resumed_from));
                return (
                    Outcome::Downloaded {
                        fetched: kept.min(fetched),
                        resumed_from,
                        checks,
                    },
                    warning,
                );
            }
            Ok(Attempt::Retry { err, keep }) => {
                if !keep {
                    let _ = file.set_len(0);
                    saved = None;
                    let _ = std::fs::remove_file(&meta_path);
                }
                last_err = Some(err);
            }
            Err(e) => {
                // Not retryable (404, unwritable destination, ...).
                if matches!(e, ClientError::NotFound { .. }) {
                    let _ = std::fs::remove_file(&part);
                    let _ = std::fs::remove_file(&meta_path);
                }
                return (Outcome::Failed(e), warning);
            }
        }
        tokio::time::sleep(mirror.http.retry.delay(attempt, None)).await;
    }
    let err = last_err.unwrap_or_else(|| ClientError::Network {
        url,
        message: "cancelled".into(),
    });
    (Outcome::Failed(err), warning)
}

#[allow(clippy::too_many_arguments)]
async fn attempt_once(
    mirror: &Mirror,
    url: &str,
    file: &mut File,
    resume_from: u64,
    saved: &mut Option<PartMeta>,
    meta_path: &Path,
    item: &DownloadItem,
    progress: &DownloadProgress,
    fetched: &mut u64,
    warning: &mut Option<String>,
) -> Result<Attempt> {
    let etag_hdr = saved.as_ref().and_then(|m| m.etag.clone());
    let resp = mirror
        .http
        .send(url, |c| {
            let r = c.get(url).header("x-amz-checksum-mode", "ENABLED");
            match (&etag_hdr, resume_from) {
                (Some(e), n) if n > 0 => r
                    .header(reqwest::header::RANGE, format!("bytes={n}-"))
                    .header(reqwest::header::IF_RANGE, format!("\"{e}\"")),
                _ => r,
            }
        })
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) if e.is_transient() => return Ok(Attempt::Retry { err: e, keep: true }),
        Err(e) => return Err(e),
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let len = resp.content_length();
    let info = object_info(&headers, len);
    let mut start = 0u64;
    if status == StatusCode::PARTIAL_CONTENT && resume_from > 0 {
        let range_ok = headers
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(&format!("bytes {resume_from}-")));
        let same = info.etag.is_some() && info.etag == saved.as_ref().and_then(|m| m.etag.clone());
        if !range_ok || !same {
            return Ok(Attempt::Retry {
                err: ClientError::Integrity {
                    url: url.to_string(),
                    message: "the object changed during the download; starting again".into(),
                },
                keep: false,
            });
        }
        start = resume_from;
    } else {
        // A whole object: its headers are the validators from now on, within what the
        // registry allows.
        let cap = size_cap(item.size);
        if let Some(l) = len
            && l > cap
        {
            return Err(ClientError::TooLarge {
                url: url.to_string(),
                message: format!(
                    "the mirror announces {l} bytes where the registry allows at most {cap}"
                ),
            });
        }
        let total = len.unwrap_or(0);
        if let Some(expected) = item.size
            && len.is_some_and(|l| l != expected)
        {
            *warning = Some(format!(
                "{}: the registry says {expected} bytes, the mirror {total}; trusting the mirror's object and checksums",
                item.key
            ));
        }
        *saved = Some(PartMeta {
            url: url.to_string(),
            etag: info.etag.clone(),
            size: total,
            crc64nvme: info.crc64nvme.clone(),
            modified: info
                .modified
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
        });
        let body = serde_json::to_vec(saved.as_ref().expect("just set")).unwrap_or_default();
        tessera_formats::atomic::write_atomic(meta_path, |w| w.write_all(&body))
            .map_err(|e| ClientError::io(meta_path, e))?;
        file.set_len(0).map_err(|e| ClientError::io(meta_path, e))?;
    }
    let meta = saved.clone().expect("validators are known here");
    let mut hashers = Hashers::new(meta.etag.as_deref(), meta.crc64nvme.as_deref());
    if start > 0
        && let Err(e) = hashers.absorb(file, start)
    {
        return Ok(Attempt::Retry {
            err: ClientError::io(meta_path, e),
            keep: false,
        });
    }
    file.seek(SeekFrom::Start(start))
        .map_err(|e| ClientError::io(&item.dest, e))?;
    progress.done.fetch_add(start, Ordering::Relaxed);
    let mut got = start;
    let cap = if meta.size > 0 {
        meta.size
    } else {
        size_cap(item.size)
    };
    let mut stream = Box::pin(resp.bytes_stream());
    let mut watch = mirror.http.body_watch(url);
    let mut failure = None;
    loop {
        match watch.next(&mut stream).await {
            Ok(Some(b)) => {
                if got + b.len() as u64 > cap {
                    progress.done.fetch_sub(got, Ordering::Relaxed);
                    return Err(ClientError::TooLarge {
                        url: url.to_string(),
                        message: format!("the body runs past {cap} bytes"),
                    });
                }
                if let Err(e) = file.write_all(&b) {
                    return Err(ClientError::io(&item.dest, e));
                }
                hashers.update(&b);
                got += b.len() as u64;
                *fetched += b.len() as u64;
                progress.done.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
            Ok(None) => break,
            Err(e @ (ClientError::Deadline { .. } | ClientError::Cancelled)) => {
                // Kept as it is: a rerun resumes from here.
                let _ = file.flush();
                return Err(e);
            }
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
    }
    if let Some(msg) = failure {
        let _ = file.flush();
        progress.done.fetch_sub(got, Ordering::Relaxed);
        return Ok(Attempt::Retry {
            err: ClientError::Network {
                url: url.to_string(),
                message: format!("{msg} after {got} of {} bytes", meta.size),
            },
            keep: true,
        });
    }
    if got != meta.size {
        progress.done.fetch_sub(got, Ordering::Relaxed);
        return Ok(Attempt::Retry {
            err: ClientError::Integrity {
                url: url.to_string(),
                message: format!("received {got} of {} bytes", meta.size),
            },
            keep: got < meta.size,
        });
    }
    let mut checks = vec!["length"];
    if let Some(m) = hashers.md5.take() {
        let got_md5: String = m.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let want = meta.etag.clone().unwrap_or_default();
        if got_md5 != want {
            progress.done.fetch_sub(got, Ordering::Relaxed);
            return Ok(Attempt::Retry {
                err: ClientError::Integrity {
                    url: url.to_string(),
                    message: format!("MD5 {got_md5} != ETag {want}"),
                },
                keep: false,
            });
        }
        checks.push("md5");
    }
    if let Some(c) = hashers.crc.take() {
        let got_crc = base64::engine::general_purpose::STANDARD.encode(c.finalize().to_be_bytes());
        let want = meta.crc64nvme.clone().unwrap_or_default();
        if got_crc != want {
            progress.done.fetch_sub(got, Ordering::Relaxed);
            return Ok(Attempt::Retry {
                err: ClientError::Integrity {
                    url: url.to_string(),
                    message: format!("CRC64NVMe {got_crc} != {want}"),
                },
                keep: false,
            });
        }
        checks.push("crc64nvme");
    }
    Ok(Attempt::Done(checks))
}

fn finish(
    file: &mut File,
    part: &Path,
    meta_path: &Path,
    dest: &Path,
    meta: Option<&PartMeta>,
    durable: bool,
) -> Result<()> {
    file.flush().map_err(|e| ClientError::io(part, e))?;
    if durable {
        file.sync_data().map_err(|e| ClientError::io(part, e))?;
    }
    if let Some(secs) = meta.and_then(|m| m.modified) {
        let _ = file.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs));
    }
    std::fs::rename(part, dest).map_err(|e| ClientError::io(dest, e))?;
    let _ = std::fs::remove_file(meta_path);
    Ok(())
}

/// Copies from a local mirror (atomically, size-checked).
async fn copy_local(mirror: &Mirror, item: &DownloadItem, progress: &DownloadProgress) -> Outcome {
    let src = mirror.root.local_path(&item.key).unwrap_or_default();
    let dest = item.dest.clone();
    let r = tokio::task::spawn_blocking(move || -> Result<u64> {
        let md = std::fs::metadata(&src).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ClientError::NotFound {
                    url: src.display().to_string(),
                }
            } else {
                ClientError::io(&src, e)
            }
        })?;
        let mut tmp =
            tessera_formats::atomic::temp_beside(&dest).map_err(|e| ClientError::io(&dest, e))?;
        let mut input = File::open(&src).map_err(|e| ClientError::io(&src, e))?;
        let n =
            std::io::copy(&mut input, tmp.as_file_mut()).map_err(|e| ClientError::io(&dest, e))?;
        if n != md.len() {
            return Err(ClientError::Integrity {
                url: src.display().to_string(),
                message: format!("copied {n} of {} bytes", md.len()),
            });
        }
        if let Ok(t) = md.modified() {
            let _ = tmp.as_file().set_modified(t);
        }
        tmp.persist(&dest)
            .map_err(|e| ClientError::io(&dest, e.error))?;
        Ok(n)
    })
    .await;
    match r {
        Ok(Ok(n)) => {
            progress.done.fetch_add(n, Ordering::Relaxed);
            Outcome::Downloaded {
                fetched: n,
                resumed_from: 0,
                checks: vec!["length"],
            }
        }
        Ok(Err(e)) => Outcome::Failed(e),
        Err(e) => Outcome::Failed(ClientError::Format(format!("copy task failed: {e}"))),
    }
}

/// Downloads a batch with `opts.jobs` files in flight. An unwritable destination stops
/// the whole batch (no retry can fix it); other failures are reported per file.
pub async fn download_all(
    mirror: &Mirror,
    root: &Path,
    items: Vec<DownloadItem>,
    opts: DownloadOptions,
    progress: Arc<DownloadProgress>,
) -> DownloadReport {
    let start = Instant::now();
    if let Some(bad) = items
        .iter()
        .find(|i| tessera_formats::safe_fs::components_under(root, &i.dest).is_err())
    {
        let err = ClientError::Usage(format!(
            "{} is outside the output directory {}",
            bad.dest.display(),
            root.display()
        ));
        return DownloadReport {
            outcomes: items
                .into_iter()
                .map(|i| (i, Outcome::Failed(ClientError::Usage(err.to_string()))))
                .collect(),
            ..Default::default()
        };
    }
    let total: u64 = items
        .iter()
        .filter(|i| !(i.size.is_some() && is_complete(i)))
        .map(|i| i.size.unwrap_or(0))
        .sum();
    progress.total.store(total, Ordering::Relaxed);
    let mut results: Vec<Option<(Outcome, Option<String>)>> =
        (0..items.len()).map(|_| None).collect();
    let mut stream = futures_util::stream::iter(items.iter().enumerate())
        .map(|(i, item)| {
            let progress = progress.clone();
            async move {
                if mirror.http.cancel.is_cancelled() {
                    return (i, (Outcome::Failed(ClientError::Cancelled), None));
                }
                if progress.cancel.load(Ordering::Relaxed) {
                    return (
                        i,
                        (
                            Outcome::Failed(ClientError::Usage(
                                "cancelled after an unwritable destination".into(),
                            )),
                            None,
                        ),
                    );
                }
                let r = fetch_one(mirror, root, item, opts, &progress).await;
                if let Outcome::Failed(ClientError::Unwritable { .. }) = r.0 {
                    progress.cancel.store(true, Ordering::Relaxed);
                }
                progress.files.fetch_add(1, Ordering::Relaxed);
                (i, r)
            }
        })
        .buffer_unordered(opts.jobs.max(1));
    while let Some((i, r)) = stream.next().await {
        results[i] = Some(r);
    }
    drop(stream);
    let mut report = DownloadReport::default();
    for (item, r) in items.into_iter().zip(results) {
        let (outcome, warning) =
            r.unwrap_or((Outcome::Failed(ClientError::Usage("not run".into())), None));
        if let Outcome::Downloaded { fetched, .. } = &outcome {
            report.fetched += fetched;
        }
        if let Some(w) = warning {
            report.warnings.push(w);
        }
        report.outcomes.push((item, outcome));
    }
    report.seconds = start.elapsed().as_secs_f64();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names() {
        let d = Path::new("/x/y/grid_0.15_52.05.npy");
        assert_eq!(
            sibling(d, ".part"),
            PathBuf::from("/x/y/.grid_0.15_52.05.npy.part")
        );
    }
}
