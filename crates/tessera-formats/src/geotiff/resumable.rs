//! A GeoTIFF written in units (row blocks) that survives an interrupted run: the file grows
//! as `.{name}.partial` beside its final name, and after every unit a small journal
//! (`.{name}.partial.json`: the export's fingerprint, the writer's state and the units done)
//! is replaced atomically. A rerun with the same fingerprint continues after the last unit
//! journaled; any other fingerprint starts afresh. The final name appears only when the file
//! is complete. The partial file is held with an exclusive lock, so two runs never write it
//! at once.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::TiffError;
use super::writer::{GeoTiffSpec, GeoTiffWriter, WriterState};

/// A GeoTIFF being written unit by unit, resumable after a crash or Ctrl-C.
pub struct ResumableGeoTiff {
    writer: GeoTiffWriter<BufWriter<File>>,
    partial: PathBuf,
    journal: PathBuf,
    path: PathBuf,
    fingerprint: String,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    crate::safe_fs::hidden_sibling(path, suffix)
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> TiffError + '_ {
    move |e| TiffError::IoAt {
        path: path.to_path_buf(),
        source: e,
    }
}

fn read_journal(p: &Path, fingerprint: &str) -> Option<(WriterState, usize)> {
    let b = crate::safe_fs::read_capped_nofollow(p, 64 << 20).ok()?;
    let v: Value = serde_json::from_slice(&b).ok()?;
    if v["fingerprint"].as_str() != Some(fingerprint) {
        return None;
    }
    let nums =
        |k: &str| -> Option<Vec<u64>> { v[k].as_array()?.iter().map(Value::as_u64).collect() };
    Some((
        WriterState {
            pos: v["pos"].as_u64()?,
            offsets: nums("offsets")?,
            counts: nums("counts")?,
        },
        usize::try_from(v["units_done"].as_u64()?).ok()?,
    ))
}

impl ResumableGeoTiff {
    /// Opens (continuing) or starts the file for `path`; returns it and how many units an
    /// earlier run with the same `fingerprint` finished.
    pub fn open(
        path: &Path,
        spec: GeoTiffSpec,
        fingerprint: &str,
    ) -> Result<(ResumableGeoTiff, usize), TiffError> {
        let partial = sibling(path, ".partial");
        let journal = sibling(path, ".partial.json");
        let file = crate::safe_fs::open_rw_nofollow(&partial).map_err(io_at(&partial))?;
        file.try_lock().map_err(|_| {
            TiffError::InvalidSpec(format!(
                "{}: another run is writing this file",
                partial.display()
            ))
        })?;
        let len = file.metadata().map_err(io_at(&partial))?.len();
        let saved = read_journal(&journal, fingerprint).filter(|(s, _)| s.pos <= len);
        let (writer, done) = match saved {
            Some((state, done)) => {
                file.set_len(state.pos).map_err(io_at(&partial))?;
                let w = BufWriter::with_capacity(4 << 20, file);
                match GeoTiffWriter::resume(w, spec.clone(), state) {
                    Ok(w) => (w, done),
                    Err(_) => {
                        let again =
                            crate::safe_fs::open_rw_nofollow(&partial).map_err(io_at(&partial))?;
                        (Self::fresh(again, &partial, spec)?, 0)
                    }
                }
            }
            None => (Self::fresh(file, &partial, spec)?, 0),
        };
        Ok((
            ResumableGeoTiff {
                writer,
                partial,
                journal,
                path: path.to_path_buf(),
                fingerprint: fingerprint.to_string(),
            },
            done,
        ))
    }

    fn fresh(
        file: File,
        partial: &Path,
        spec: GeoTiffSpec,
    ) -> Result<GeoTiffWriter<BufWriter<File>>, TiffError> {
        file.set_len(0).map_err(io_at(partial))?;
        GeoTiffWriter::new(BufWriter::with_capacity(4 << 20, file), spec)
    }

    /// The writer, to add chunks.
    pub fn writer(&mut self) -> &mut GeoTiffWriter<BufWriter<File>> {
        &mut self.writer
    }

    /// Records that `units_done` units are written (flushes the data first).
    pub fn checkpoint(&mut self, units_done: usize) -> Result<(), TiffError> {
        let st = self.writer.state()?;
        let doc = json!({"fingerprint": self.fingerprint, "pos": st.pos, "units_done": units_done,
                         "offsets": st.offsets, "counts": st.counts});
        let text = doc.to_string();
        crate::atomic::write_atomic(&self.journal, |w| w.write_all(text.as_bytes()))
            .map_err(io_at(&self.journal))
    }

    /// Finishes the file and renames it to its final name; the journal goes.
    pub fn finish(self) -> Result<PathBuf, TiffError> {
        let w = self.writer.finish()?;
        let file = w.into_inner().map_err(|e| TiffError::IoAt {
            path: self.partial.clone(),
            source: e.into_error(),
        })?;
        file.set_permissions(crate::atomic::public_mode())
            .map_err(io_at(&self.partial))?;
        std::fs::rename(&self.partial, &self.path).map_err(io_at(&self.path))?;
        drop(file);
        let _ = std::fs::remove_file(&self.journal);
        Ok(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;
    use crate::geotiff::{GeoTiffReader, Layout};

    fn spec() -> GeoTiffSpec {
        let mut s = GeoTiffSpec::new(768, 512, 2, DType::F32);
        s.layout = Layout::Tiled(256);
        s.compression = crate::geotiff::Compression::Zstd(1);
        s
    }

    fn tile(cx: u32, cy: u32) -> Vec<f32> {
        (0..256 * 256 * 2)
            .map(|i| (i + cx as usize * 7 + cy as usize * 13) as f32)
            .collect()
    }

    #[test]
    fn an_interrupted_file_is_continued_to_the_same_bytes() {
        let t = tempfile::tempdir().unwrap();
        let whole = t.path().join("whole.tif");
        let (mut a, done) = ResumableGeoTiff::open(&whole, spec(), "f1").unwrap();
        assert_eq!(done, 0);
        for cy in 0..2 {
            for cx in 0..3 {
                a.writer().write_chunk(cx, cy, &tile(cx, cy)).unwrap();
            }
            a.checkpoint(cy as usize + 1).unwrap();
        }
        a.finish().unwrap();
        // The same file, killed after the first row of chunks (and a half-written chunk).
        let cut = t.path().join("cut.tif");
        let (mut b, _) = ResumableGeoTiff::open(&cut, spec(), "f1").unwrap();
        for cx in 0..3 {
            b.writer().write_chunk(cx, 0, &tile(cx, 0)).unwrap();
        }
        b.checkpoint(1).unwrap();
        b.writer().write_chunk(0, 1, &tile(0, 1)).unwrap();
        let _ = b.writer().state();
        drop(b);
        assert!(!cut.exists());
        let (mut c, done) = ResumableGeoTiff::open(&cut, spec(), "f1").unwrap();
        assert_eq!(done, 1);
        for cx in 0..3 {
            c.writer().write_chunk(cx, 1, &tile(cx, 1)).unwrap();
        }
        c.finish().unwrap();
        assert_eq!(std::fs::read(&whole).unwrap(), std::fs::read(&cut).unwrap());
        let mut r = GeoTiffReader::open(&cut).unwrap();
        assert_eq!(r.read_all::<f32>().unwrap().len(), 768 * 512 * 2);
        // Another fingerprint starts afresh.
        let (mut d, _) = ResumableGeoTiff::open(&t.path().join("x.tif"), spec(), "f1").unwrap();
        d.checkpoint(1).unwrap();
        drop(d);
        let (_, done) = ResumableGeoTiff::open(&t.path().join("x.tif"), spec(), "f2").unwrap();
        assert_eq!(done, 0);
    }
}
