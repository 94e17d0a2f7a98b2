//! Cloud-Optimized GeoTIFF: a tiled image with internal overviews (each half the size of
//! the one before, down to one tile), every directory at the start of the file and the
//! pixel data after them from the smallest overview to the full resolution, as GDAL's COG
//! driver lays it out (`validate_cloud_optimized_geotiff.py` accepts it).
//!
//! Rows stream in once. Each overview level is averaged from the level above as rows
//! arrive, with GDAL's `AVERAGE` rule: the window of an output pixel spans `ratio` =
//! (size above / size) input pixels on each axis, partly covered edge pixels weighted by
//! their coverage, NaN samples and pixels outside the mask left out. Memory is one chunk
//! row per level, about twice that of the full-resolution image alone. Each level's chunks go to an unnamed temporary file beside
//! the output; `finish` writes the directories and copies the chunks into place, then
//! renames the file to its final name. Nothing is left under the final name, or at all,
//! when writing fails or the writer is dropped.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::TiffError;
use super::writer::{
    BigTiff, GeoTiffSpec, GeoTiffWriter, Interleave, Layout, WriterState, entries_for, ifd_bytes,
};
use crate::dtype::Element;

/// A sample type that overviews can average.
pub trait OverviewSample: Element + Copy + Default {
    /// Whether the sample holds a value (NaN does not).
    fn is_value(self) -> bool;
    /// The sample as a number.
    fn to_f64(self) -> f64;
    /// The weighted mean `sum / weight` as a sample.
    fn mean(sum: f64, weight: f64) -> Self;
    /// What a pixel without any valid source holds.
    fn empty() -> Self;
}

impl OverviewSample for f32 {
    fn is_value(self) -> bool {
        !self.is_nan()
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn mean(sum: f64, weight: f64) -> f32 {
        (sum / weight) as f32
    }
    fn empty() -> f32 {
        f32::NAN
    }
}

impl OverviewSample for u8 {
    fn is_value(self) -> bool {
        true
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn mean(sum: f64, weight: f64) -> u8 {
        // Rounded half up, as GDAL rounds integer averages.
        (sum / weight + 0.5).floor().clamp(0.0, 255.0) as u8
    }
    fn empty() -> u8 {
        0
    }
}

impl OverviewSample for i8 {
    fn is_value(self) -> bool {
        true
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn mean(sum: f64, weight: f64) -> i8 {
        (sum / weight + 0.5).floor().clamp(-128.0, 127.0) as i8
    }
    fn empty() -> i8 {
        0
    }
}

/// One resolution: its image (and mask) chunks in a temporary file, and the row of the
/// level above that waits for its pair.
struct Level {
    width: usize,
    height: usize,
    image: GeoTiffWriter<BufWriter<File>>,
    mask: Option<GeoTiffWriter<BufWriter<File>>>,
    /// Averages rows of the level above into this one (none at full resolution).
    down: Option<Downsampler>,
}

/// A COG being written; see the module documentation.
pub struct CogFile<T: OverviewSample> {
    path: PathBuf,
    spec: GeoTiffSpec,
    mask_spec: Option<GeoTiffSpec>,
    levels: Vec<Level>,
    rows_done: usize,
    _samples: std::marker::PhantomData<T>,
}

/// The overview sizes GDAL makes for a `width x height` image with `tile`-pixel tiles:
/// halved (rounding up) until both sides fit one tile.
pub fn overview_sizes(width: u32, height: u32, tile: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let (mut w, mut h) = (width, height);
    while w > tile || h > tile {
        w = w.div_ceil(2);
        h = h.div_ceil(2);
        out.push((w, h));
    }
    out
}

fn temp_in(dir: &Path) -> Result<File, TiffError> {
    tempfile::tempfile_in(dir).map_err(|e| TiffError::io_at(dir, e))
}

fn level_writer(
    dir: &Path,
    mut spec: GeoTiffSpec,
) -> Result<GeoTiffWriter<BufWriter<File>>, TiffError> {
    spec.bigtiff = BigTiff::Yes;
    GeoTiffWriter::new(BufWriter::with_capacity(1 << 20, temp_in(dir)?), spec)
}

impl<T: OverviewSample> CogFile<T> {
    /// Starts a COG at `path` with the main image `spec` (tiled, pixel-interleaved) and,
    /// when `mask` is given, an internal mask (`write_rows` then takes mask rows too).
    pub fn create(path: &Path, spec: GeoTiffSpec, mask: bool) -> Result<CogFile<T>, TiffError> {
        let tile = match spec.layout {
            Layout::Tiled(t) => t,
            Layout::Striped(_) => {
                return Err(TiffError::InvalidSpec(
                    "a Cloud-Optimized GeoTIFF is tiled".into(),
                ));
            }
        };
        if spec.interleave != Interleave::Pixel || spec.mask_subfile || spec.overview {
            return Err(TiffError::InvalidSpec(
                "a COG's main image is pixel-interleaved and not a mask or overview".into(),
            ));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mask_spec = mask.then(|| {
            let mut m = GeoTiffSpec::new(spec.width, spec.height, 1, crate::DType::U8);
            m.layout = spec.layout;
            m.compression = spec.compression;
            m.predictor = super::Predictor::None;
            m.mask_subfile = true;
            m
        });
        let mut levels = Vec::new();
        let mut sizes = vec![(spec.width, spec.height)];
        sizes.extend(overview_sizes(spec.width, spec.height, tile));
        for (k, &(w, h)) in sizes.iter().enumerate() {
            let mut s = spec.clone();
            s.width = w;
            s.height = h;
            s.overview = k > 0;
            let image = level_writer(&dir, s)?;
            let mask = match &mask_spec {
                Some(ms) => {
                    let mut m = ms.clone();
                    m.width = w;
                    m.height = h;
                    m.overview = k > 0;
                    Some(level_writer(&dir, m)?)
                }
                None => None,
            };
            levels.push(Level {
                width: w as usize,
                height: h as usize,
                image,
                mask,
                down: (k > 0).then(|| {
                    let (pw, ph) = sizes[k - 1];
                    Downsampler::new(
                        pw as usize,
                        ph as usize,
                        w as usize,
                        h as usize,
                        usize::from(spec.bands),
                    )
                }),
            });
        }
        Ok(CogFile {
            path: path.to_path_buf(),
            spec,
            mask_spec,
            levels,
            rows_done: 0,
            _samples: std::marker::PhantomData,
        })
    }

    /// Overview levels (beside the full resolution).
    pub fn overview_count(&self) -> usize {
        self.levels.len() - 1
    }

    /// Appends whole rows (`n x width x bands`), top to bottom, with their mask rows
    /// (`n x width`, 255 valid, 0 not) when the file has a mask.
    pub fn write_rows(&mut self, rows: &[T], mask: Option<&[u8]>) -> Result<(), TiffError> {
        let w = self.levels[0].width;
        let bands = usize::from(self.spec.bands);
        let row_len = w * bands;
        if !rows.len().is_multiple_of(row_len) {
            return Err(TiffError::InvalidSpec(format!(
                "{} samples is not a whole number of {row_len}-sample rows",
                rows.len()
            )));
        }
        let n = rows.len() / row_len;
        match (mask, self.mask_spec.is_some()) {
            (Some(m), true) if m.len() == n * w => {}
            (None, false) => {}
            _ => {
                return Err(TiffError::InvalidSpec(
                    "mask rows are given exactly when the COG has a mask, one byte per pixel"
                        .into(),
                ));
            }
        }
        if self.rows_done + n > self.levels[0].height {
            return Err(TiffError::InvalidSpec(format!(
                "{} rows written, image has {}",
                self.rows_done + n,
                self.levels[0].height
            )));
        }
        self.levels[0].image.write_rows(rows)?;
        if let (Some(mw), Some(m)) = (self.levels[0].mask.as_mut(), mask) {
            mw.write_rows(m)?;
        }
        for r in 0..n {
            let row = rows[r * row_len..(r + 1) * row_len].to_vec();
            let mrow = mask.map_or_else(Vec::new, |m| m[r * w..(r + 1) * w].to_vec());
            self.feed(1, row, mrow)?;
        }
        self.rows_done += n;
        Ok(())
    }

    /// Gives level `k` row `j` of level `k - 1`; the rows of level `k` it completes are
    /// written and go on down.
    fn feed(&mut self, k: usize, row: Vec<T>, mrow: Vec<u8>) -> Result<(), TiffError> {
        if k >= self.levels.len() {
            return Ok(());
        }
        let masked = self.mask_spec.is_some();
        let done = match self.levels[k].down.as_mut() {
            Some(d) => d.add(&row, masked.then_some(&mrow[..])),
            None => Vec::new(),
        };
        for (out, mout) in done {
            self.emit(k, &out, &mout)?;
            self.feed(k + 1, out, mout)?;
        }
        Ok(())
    }

    fn emit(&mut self, k: usize, row: &[T], mrow: &[u8]) -> Result<(), TiffError> {
        let l = &mut self.levels[k];
        l.image.write_rows(row)?;
        if let Some(m) = l.mask.as_mut() {
            m.write_rows(mrow)?;
        }
        Ok(())
    }

    /// Completes the overviews, writes the file and renames it into place.
    pub fn finish(mut self) -> Result<PathBuf, TiffError> {
        if self.rows_done != self.levels[0].height {
            return Err(TiffError::InvalidSpec(format!(
                "only {} of {} rows were written",
                self.rows_done, self.levels[0].height
            )));
        }
        let mut parts: Vec<Part> = Vec::new();
        for (k, l) in std::mem::take(&mut self.levels).into_iter().enumerate() {
            let mut spec = self.spec.clone();
            spec.width = l.width as u32;
            spec.height = l.height as u32;
            spec.overview = k > 0;
            let (w, state) = l.image.into_parts()?;
            parts.push(Part::new(spec, w, state, &self.path)?);
            if let (Some(mw), Some(ms)) = (l.mask, &self.mask_spec) {
                let mut m = ms.clone();
                m.width = l.width as u32;
                m.height = l.height as u32;
                m.overview = k > 0;
                let (w, state) = mw.into_parts()?;
                parts.push(Part::new(m, w, state, &self.path)?);
            }
        }
        assemble(&self.path, self.spec.bigtiff, parts)
    }
}

/// One axis of GDAL's average: the input span `[first, last)` of output pixel `i` and the
/// weights of its first and last input pixels (those between weigh 1).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    first: usize,
    last: usize,
    w_first: f64,
    w_last: f64,
}

impl Window {
    fn of(i: usize, ratio: f64, src: usize) -> Window {
        let off = i as f64 * ratio;
        let first = ((off + 1e-8) as usize).min(src.saturating_sub(1));
        let off2 = (i + 1) as f64 * ratio;
        let mut last = (off2 - 1e-8).ceil().max(0.0) as usize;
        if last == first {
            last += 1;
        }
        let last = last.min(src);
        let w_first = if last == first + 1 {
            1.0
        } else {
            1.0 - (off - first as f64)
        };
        let w_last = 1.0 - (last as f64 - off2);
        Window {
            first,
            last,
            w_first,
            w_last,
        }
    }

    /// The weight of input pixel `j` (0 outside the window).
    fn weight(&self, j: usize) -> f64 {
        if j < self.first || j >= self.last {
            0.0
        } else if j == self.first {
            self.w_first
        } else if j + 1 == self.last {
            self.w_last
        } else {
            1.0
        }
    }
}

/// Averages the rows of one level into the next, a row at a time: each input row adds to
/// the (at most two) output rows whose windows hold it; an output row is done after the
/// last row of its window.
struct Downsampler {
    src_h: usize,
    bands: usize,
    cols: Vec<Window>,
    rows: Vec<Window>,
    /// Input rows received.
    j: usize,
    /// Output rows in progress: index, weighted sums and weights per sample.
    acc: std::collections::VecDeque<(usize, Vec<f64>, Vec<f64>)>,
    /// The next output row not yet started.
    next: usize,
}

impl Downsampler {
    fn new(src_w: usize, src_h: usize, w: usize, h: usize, bands: usize) -> Downsampler {
        let (rx, ry) = (src_w as f64 / w as f64, src_h as f64 / h as f64);
        Downsampler {
            src_h,
            bands,
            cols: (0..w).map(|i| Window::of(i, rx, src_w)).collect(),
            rows: (0..h).map(|i| Window::of(i, ry, src_h)).collect(),
            j: 0,
            acc: std::collections::VecDeque::new(),
            next: 0,
        }
    }

    /// Adds the next input row (`mask`: 0 marks pixels left out); returns the output rows
    /// it completes, each with its mask row (255 where any input pixel counted; empty when
    /// unmasked).
    fn add<T: OverviewSample>(&mut self, row: &[T], mask: Option<&[u8]>) -> Vec<(Vec<T>, Vec<u8>)> {
        let j = self.j;
        self.j += 1;
        let (w, b) = (self.cols.len(), self.bands);
        while self.next < self.rows.len() && self.rows[self.next].first <= j {
            self.acc
                .push_back((self.next, vec![0.0; w * b], vec![0.0; w * b]));
            self.next += 1;
        }
        for (i, sum, wsum) in self.acc.iter_mut() {
            let wy = self.rows[*i].weight(j);
            if wy == 0.0 {
                continue;
            }
            for (c, win) in self.cols.iter().enumerate() {
                let (s, ws) = (&mut sum[c * b..(c + 1) * b], &mut wsum[c * b..(c + 1) * b]);
                for x in win.first..win.last {
                    if mask.is_some_and(|m| m[x] == 0) {
                        continue;
                    }
                    let wxy = win.weight(x) * wy;
                    for (k, v) in row[x * b..(x + 1) * b].iter().enumerate() {
                        if v.is_value() {
                            s[k] += v.to_f64() * wxy;
                            ws[k] += wxy;
                        }
                    }
                }
            }
        }
        let mut done = Vec::new();
        while let Some((i, _, _)) = self.acc.front() {
            if self.rows[*i].last - 1 > j && j + 1 < self.src_h {
                break;
            }
            let Some((_, sum, wsum)) = self.acc.pop_front() else {
                break;
            };
            let out: Vec<T> = sum
                .iter()
                .zip(&wsum)
                .map(|(&s, &ws)| if ws > 0.0 { T::mean(s, ws) } else { T::empty() })
                .collect();
            let mout = if mask.is_some() {
                wsum.chunks(b)
                    .map(|p| if p.iter().any(|&x| x > 0.0) { 255 } else { 0 })
                    .collect()
            } else {
                Vec::new()
            };
            done.push((out, mout));
        }
        done
    }
}

/// One image of the file: its spec and its chunks in a temporary file.
struct Part {
    spec: GeoTiffSpec,
    file: File,
    state: WriterState,
}

impl Part {
    fn new(
        spec: GeoTiffSpec,
        w: BufWriter<File>,
        state: WriterState,
        path: &Path,
    ) -> Result<Part, TiffError> {
        let file = w
            .into_inner()
            .map_err(|e| TiffError::io_at(path, e.into_error()))?;
        Ok(Part { spec, file, state })
    }
}

/// GDAL's hidden structural metadata, right after the header.
fn ghost() -> Vec<u8> {
    let body = "LAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nKNOWN_INCOMPATIBLE_EDITION=NO\n ";
    format!(
        "GDAL_STRUCTURAL_METADATA_SIZE={:06} bytes\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Writes `parts` (in directory order: each resolution, then its mask) as one file: the
/// header, the ghost area, every directory, then the chunks from the last resolution to
/// the first.
fn assemble(path: &Path, bigtiff: BigTiff, mut parts: Vec<Part>) -> Result<PathBuf, TiffError> {
    let data: u64 = parts
        .iter()
        .map(|p| p.state.counts.iter().sum::<u64>())
        .sum();
    let layout = |big: bool| -> (Vec<u64>, u64) {
        // Directory offsets and where the data starts, from directory sizes that do not
        // depend on the offsets written into them.
        let header = if big { 16 } else { 8 };
        let mut at = header + ghost().len() as u64;
        at += at % 2;
        let mut offs = Vec::with_capacity(parts.len());
        for p in &parts {
            offs.push(at);
            let e = entries_for(&p.spec, big, &p.state.offsets, &p.state.counts);
            at += ifd_bytes(&e, big, at, 0).len() as u64;
        }
        (offs, at)
    };
    let big = match bigtiff {
        BigTiff::Yes => true,
        BigTiff::No => false,
        BigTiff::Auto => layout(false).1 + data > u64::from(u32::MAX),
    };
    let (ifd_at, data_start) = layout(big);
    if !big && data_start + data > u64::from(u32::MAX) {
        return Err(TiffError::TooLarge);
    }
    // New chunk offsets: resolutions from the smallest, each followed by its mask.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| {
        (
            u64::from(parts[i].spec.width) * u64::from(parts[i].spec.height),
            parts[i].spec.mask_subfile,
        )
    });
    let mut new_offsets: Vec<Vec<u64>> = parts
        .iter()
        .map(|p| vec![0; p.state.offsets.len()])
        .collect();
    let mut at = data_start;
    for &i in &order {
        for (j, &c) in parts[i].state.counts.iter().enumerate() {
            if c > 0 {
                new_offsets[i][j] = at;
                at += c;
            }
        }
    }
    let tmp = crate::atomic::temp_beside(path).map_err(|e| TiffError::io_at(path, e))?;
    let (file, tmp) = tmp.into_parts();
    let mut out = BufWriter::with_capacity(4 << 20, file);
    let io = |e: std::io::Error| TiffError::io_at(path, e);
    let mut head: Vec<u8> = if big {
        let mut h = b"II\x2b\x00\x08\x00\x00\x00".to_vec();
        h.extend_from_slice(&ifd_at[0].to_le_bytes());
        h
    } else {
        let mut h = b"II\x2a\x00".to_vec();
        h.extend_from_slice(&(ifd_at[0] as u32).to_le_bytes());
        h
    };
    head.extend_from_slice(&ghost());
    if head.len() % 2 == 1 {
        head.push(0);
    }
    out.write_all(&head).map_err(io)?;
    let mut pos = head.len() as u64;
    for (i, p) in parts.iter().enumerate() {
        debug_assert_eq!(pos, ifd_at[i]);
        let e = entries_for(&p.spec, big, &new_offsets[i], &p.state.counts);
        let next = ifd_at.get(i + 1).copied().unwrap_or(0);
        let bytes = ifd_bytes(&e, big, ifd_at[i], next);
        out.write_all(&bytes).map_err(io)?;
        pos += bytes.len() as u64;
    }
    debug_assert_eq!(pos, data_start);
    let mut buf = Vec::new();
    for &i in &order {
        let p = &mut parts[i];
        for (j, &c) in p.state.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            buf.resize(c as usize, 0);
            p.file
                .seek(SeekFrom::Start(p.state.offsets[j]))
                .map_err(io)?;
            p.file.read_exact(&mut buf).map_err(io)?;
            out.write_all(&buf).map_err(io)?;
        }
    }
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    drop(file);
    tmp.persist(path)
        .map_err(|e| TiffError::io_at(path, e.error))?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geotiff::GeoTiffReader;
    use crate::geotiff::codec::Compression;

    #[test]
    fn overview_sizes_halve_until_one_tile() {
        assert_eq!(overview_sizes(512, 512, 512), vec![]);
        assert_eq!(overview_sizes(513, 100, 512), vec![(257, 50)]);
        assert_eq!(
            overview_sizes(3000, 1000, 512),
            vec![(1500, 500), (750, 250), (375, 125)]
        );
    }

    #[test]
    fn overviews_average_valid_samples_and_the_file_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.tif");
        let (w, h) = (70usize, 37usize);
        let mut spec = GeoTiffSpec::new(w as u32, h as u32, 2, crate::DType::F32);
        spec.layout = Layout::Tiled(16);
        spec.compression = Compression::Deflate(6);
        spec.nodata = Some(f64::NAN);
        let mut cog = CogFile::<f32>::create(&path, spec, false).unwrap();
        assert_eq!(cog.overview_count(), 3);
        let px = |r: usize, c: usize, b: usize| -> f32 {
            if (r + c).is_multiple_of(7) && b == 0 {
                f32::NAN
            } else {
                (r * 100 + c + b * 1000) as f32
            }
        };
        let all: Vec<f32> = (0..h)
            .flat_map(|r| (0..w).flat_map(move |c| (0..2).map(move |b| px(r, c, b))))
            .collect();
        for chunk in all.chunks(w * 2 * 5) {
            cog.write_rows(chunk, None).unwrap();
        }
        let out = cog.finish().unwrap();
        let mut r = GeoTiffReader::open(&out).unwrap();
        let back: Vec<f32> = r.read_all().unwrap();
        assert_eq!(back.len(), all.len());
        assert!(
            back.iter()
                .zip(&all)
                .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()))
        );
        // No temporary file is left beside the output.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[8..38], b"GDAL_STRUCTURAL_METADATA_SIZE=");
    }

    #[test]
    fn windows_follow_gdals_average() {
        // 173 rows to 87: a ratio of 1.9885; row 1 spans rows 1..4, the first weighted
        // 0.0115 and the last 0.977 (GDAL 3.6's overview.cpp).
        let r = 173.0 / 87.0;
        let w = Window::of(1, r, 173);
        assert_eq!((w.first, w.last), (1, 4));
        assert!((w.w_first - (2.0 - r)).abs() < 1e-12);
        assert!((w.w_last - (1.0 - (4.0 - 2.0 * r))).abs() < 1e-12);
        let last = Window::of(86, r, 173);
        assert_eq!((last.first, last.last, last.w_last), (171, 173, 1.0));
        // An exact halving is plain 2x2 blocks.
        let h = Window::of(3, 2.0, 8);
        assert_eq!((h.first, h.last, h.w_first, h.w_last), (6, 8, 1.0, 1.0));
    }

    #[test]
    fn the_mean_skips_nan_and_masked_pixels() {
        let mut d = Downsampler::new(4, 2, 2, 1, 1);
        assert!(
            d.add::<u8>(&[10, 20, 30, 40], Some(&[255, 0, 255, 255]))
                .is_empty()
        );
        let out = d.add::<u8>(&[1, 2, 3, 4], Some(&[0, 0, 0, 0]));
        assert_eq!(out, vec![(vec![10, 35], vec![255, 255])]);
        let mut d = Downsampler::new(3, 2, 2, 1, 1);
        d.add::<f32>(&[f32::NAN, 2.0, 4.0], None);
        let out = d.add::<f32>(&[f32::NAN, 3.0, f32::NAN], None);
        // 3 columns to 2: column 1 is shared, weighted by half in each output pixel.
        assert_eq!(out[0].0[0], 2.5);
        assert_eq!(out[0].0[1], (2.0 * 0.5 + 3.0 * 0.5 + 4.0) / 2.0);
        let mut d = Downsampler::new(2, 1, 1, 1, 1);
        assert!(d.add::<f32>(&[f32::NAN, f32::NAN], None)[0].0[0].is_nan());
        assert_eq!(<u8 as OverviewSample>::mean(5.0, 2.0), 3);
    }
}
