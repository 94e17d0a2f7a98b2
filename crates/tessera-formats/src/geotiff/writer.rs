//! A streaming GeoTIFF writer: tiled or striped, pixel- or band-interleaved, any number of
//! bands, LZW/Deflate/ZSTD with predictors, classic TIFF or BigTIFF, GeoKeys, GDAL
//! metadata and nodata.
//!
//! The `tiff` crate writes only strips without ZSTD, so the container is written here:
//! image chunks are appended as they come (compressed in parallel), and the IFD with its
//! out-of-line values goes at the end, its offset patched into the header.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tessera_core::{Affine, Crs};

use super::TiffError;
use super::codec::{Compression, Predictor, apply_predictor};
use super::geokeys::{self, ModelTags, geokeys_for, model_tags};
use super::metadata::{GdalMetadata, TAG_GDAL_METADATA, TAG_GDAL_NODATA, format_nodata};
use crate::dtype::{DType, Element};

/// How pixels are grouped into chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Square tiles of this size (a multiple of 16; 256 is GDAL's default).
    Tiled(u32),
    /// Strips of this many rows.
    Striped(u32),
}

/// How bands are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interleave {
    /// All bands of a pixel together (PlanarConfiguration 1; GDAL's default).
    Pixel,
    /// One plane per band (PlanarConfiguration 2).
    Band,
}

/// Whether to write BigTIFF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BigTiff {
    /// Classic TIFF unless the image may exceed 4 GiB (compressed data is assumed to be
    /// at most 1.5 times the raw size, as LZW can expand incompressible data).
    Auto,
    /// Always BigTIFF.
    Yes,
    /// Never (fails when offsets overflow 32 bits).
    No,
}

/// Photometric interpretation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Photometric {
    /// MinIsBlack: band 1 is grey, the others extra samples.
    MinIsBlack,
    /// RGB: bands 1-3 are colour, the others extra samples.
    Rgb,
}

/// Everything that defines a GeoTIFF before its pixels.
#[derive(Debug, Clone)]
pub struct GeoTiffSpec {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Bands (samples per pixel).
    pub bands: u16,
    /// Sample type.
    pub dtype: DType,
    /// Tiles or strips.
    pub layout: Layout,
    /// Band organisation.
    pub interleave: Interleave,
    /// Compression.
    pub compression: Compression,
    /// Predictor (ignored without compression).
    pub predictor: Predictor,
    /// BigTIFF choice.
    pub bigtiff: BigTiff,
    /// Photometric interpretation.
    pub photometric: Photometric,
    /// CRS and pixel-to-map transform.
    pub georef: Option<(Crs, Affine)>,
    /// Nodata value (GDAL_NODATA).
    pub nodata: Option<f64>,
    /// Dataset tags and band descriptions (GDAL_METADATA).
    pub metadata: GdalMetadata,
    /// Allow chunks that are never written (GDAL reads them as nodata).
    pub sparse_ok: bool,
    /// A colour table (one RGB entry per value) for a single-band uint8 raster: written as a
    /// palette image (PhotometricInterpretation 3, ColorMap), as GDAL writes class maps.
    pub palette: Option<Vec<[u8; 3]>>,
    /// This image is the GDAL internal mask of the image before it (NewSubfileType 4,
    /// PhotometricInterpretation MASK, one uint8 band: 255 valid, 0 not); written with
    /// [`GeoTiffWriter::append_image`] after the main image. Carries no georeference.
    pub mask_subfile: bool,
    /// The first band past the colour bands is unassociated alpha (ExtraSamples 2), as
    /// GDAL writes RGBA; otherwise extra bands are unspecified (0).
    pub alpha: bool,
    /// This image is a reduced-resolution version (an overview) of the first image
    /// (NewSubfileType bit 1); with `mask_subfile`, the mask of an overview.
    pub overview: bool,
}

impl GeoTiffSpec {
    /// A tiled (256), pixel-interleaved, uncompressed spec without georeference.
    pub fn new(width: u32, height: u32, bands: u16, dtype: DType) -> GeoTiffSpec {
        GeoTiffSpec {
            width,
            height,
            bands,
            dtype,
            layout: Layout::Tiled(256),
            interleave: Interleave::Pixel,
            compression: Compression::None,
            predictor: Predictor::None,
            bigtiff: BigTiff::Auto,
            photometric: Photometric::MinIsBlack,
            georef: None,
            nodata: None,
            metadata: GdalMetadata::default(),
            sparse_ok: false,
            palette: None,
            mask_subfile: false,
            alpha: false,
            overview: false,
        }
    }

    /// The predictor that usually helps for this dtype with compression on.
    pub fn default_predictor(dtype: DType) -> Predictor {
        if dtype.is_float() {
            Predictor::FloatingPoint
        } else {
            Predictor::Horizontal
        }
    }

    fn validate(&self) -> Result<(), TiffError> {
        let bad = |m: String| Err(TiffError::InvalidSpec(m));
        if self.width == 0 || self.height == 0 || self.bands == 0 {
            return bad(format!(
                "empty raster {}x{}x{}",
                self.width, self.height, self.bands
            ));
        }
        match self.layout {
            Layout::Tiled(t) if t == 0 || t % 16 != 0 => {
                return bad(format!("tile size {t} is not a positive multiple of 16"));
            }
            Layout::Striped(0) => return bad("strips of 0 rows".into()),
            _ => {}
        }
        if self.palette.is_some() && (self.bands != 1 || self.dtype != DType::U8) {
            return Err(TiffError::InvalidSpec(
                "a colour table needs a single-band uint8 raster".into(),
            ));
        }
        if self.mask_subfile && (self.bands != 1 || self.dtype != DType::U8) {
            return bad("a mask image is one uint8 band".into());
        }
        if self.photometric == Photometric::Rgb && self.bands < 3 {
            return bad("RGB needs at least 3 bands".into());
        }
        if self.predictor == Predictor::FloatingPoint && !self.dtype.is_float() {
            return bad("the floating-point predictor needs a float dtype".into());
        }
        if let Some((_, t)) = &self.georef
            && (!t.to_array().iter().all(|v| v.is_finite()) || t.a * t.e - t.b * t.d == 0.0)
        {
            return bad(format!("transform {:?} is degenerate", t.to_array()));
        }
        Ok(())
    }

    fn chunk_dims(&self) -> (u32, u32) {
        match self.layout {
            Layout::Tiled(t) => (t, t),
            Layout::Striped(r) => (self.width, r.min(self.height)),
        }
    }

    /// Chunks across and down.
    pub fn chunk_grid(&self) -> (u32, u32) {
        let (cw, ch) = self.chunk_dims();
        (self.width.div_ceil(cw), self.height.div_ceil(ch))
    }

    fn planes(&self) -> usize {
        match self.interleave {
            Interleave::Pixel => 1,
            Interleave::Band => usize::from(self.bands),
        }
    }

    /// Extracts the region (all `rows`, columns `col0..col0+cols`) from row-major bytes with
    /// `row_samples` samples per row, pads it to the chunk size, applies the predictor and
    /// compresses, per plane, into `bufs.out` (buffers are reused between calls: chunks of
    /// many bands are tens of megabytes, and fresh allocations of that size cost page faults).
    fn encode_region(
        &self,
        src: &[u8],
        row_samples: usize,
        col0: usize,
        rows: usize,
        cols: usize,
        bufs: &mut ChunkBufs,
    ) -> Result<(), TiffError> {
        let s = self;
        let size = s.dtype.size();
        let bands = usize::from(s.bands);
        let (cw, ch) = s.chunk_dims();
        let (cw, ch_rows) = match s.layout {
            // Tiles are always padded to full size; the last strip is not.
            Layout::Tiled(_) => (cw as usize, ch as usize),
            Layout::Striped(_) => (cw as usize, rows),
        };
        let src_row_bytes = row_samples * size;
        let planes = s.planes();
        bufs.out.resize_with(planes, Vec::new);
        let raw = s.compression == Compression::None;
        let (dst_row, row_samp, stride) = match s.interleave {
            Interleave::Pixel => (cw * bands * size, cw * bands, bands),
            Interleave::Band => (cw * size, cw, 1),
        };
        let assemble = |buf: &mut Vec<u8>, p: usize| {
            buf.clear();
            buf.resize(dst_row * ch_rows, 0);
            for r in 0..rows {
                match s.interleave {
                    Interleave::Pixel => {
                        let from = r * src_row_bytes + col0 * bands * size;
                        let len = cols * bands * size;
                        buf[r * dst_row..r * dst_row + len].copy_from_slice(&src[from..from + len]);
                    }
                    Interleave::Band => {
                        for c in 0..cols {
                            let from = r * src_row_bytes + ((col0 + c) * bands + p) * size;
                            let to = r * dst_row + c * size;
                            buf[to..to + size].copy_from_slice(&src[from..from + size]);
                        }
                    }
                }
            }
        };
        for (p, out) in bufs.out.iter_mut().enumerate() {
            if raw {
                // Uncompressed chunks are assembled straight into the output buffer.
                assemble(out, p);
            } else {
                assemble(&mut bufs.scratch, p);
                apply_predictor(s.predictor, &mut bufs.scratch, row_samp, stride, size);
                s.compression.encode_into(&bufs.scratch, out)?;
            }
        }
        Ok(())
    }

    fn raw_size(&self) -> u64 {
        u64::from(self.width)
            * u64::from(self.height)
            * u64::from(self.bands)
            * self.dtype.size() as u64
    }

    fn use_bigtiff(&self) -> bool {
        match self.bigtiff {
            BigTiff::Yes => true,
            BigTiff::No => false,
            BigTiff::Auto => {
                let raw = self.raw_size() as f64;
                let worst = if self.compression == Compression::None {
                    raw
                } else {
                    raw * 1.5
                };
                worst + 64.0 * 1024.0 * 1024.0 > u32::MAX as f64
            }
        }
    }
}

/// Reusable buffers for encoding one chunk.
#[derive(Default)]
struct ChunkBufs {
    /// The assembled (and predicted) chunk before compression.
    scratch: Vec<u8>,
    /// The encoded planes.
    out: Vec<Vec<u8>>,
}

/// The progress of a [`GeoTiffWriter`]: end of the data written and each chunk's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterState {
    /// Bytes written (the next chunk goes here).
    pub pos: u64,
    /// Offset of each chunk (0: not written).
    pub offsets: Vec<u64>,
    /// Byte count of each chunk (0: not written).
    pub counts: Vec<u64>,
}

/// A GeoTIFF being written to `W`.
pub struct GeoTiffWriter<W: Write + Seek> {
    w: W,
    spec: GeoTiffSpec,
    big: bool,
    pos: u64,
    offsets: Vec<u64>,
    counts: Vec<u64>,
    /// Rows received through `write_rows` that do not yet fill a chunk row.
    pending: Vec<u8>,
    rows_done: u32,
    pool: Vec<ChunkBufs>,
    /// Where this image's IFD offset goes: the header's first-IFD field, or the previous
    /// image's next-IFD field.
    link_at: u64,
}

impl<W: Write + Seek> GeoTiffWriter<W> {
    /// Starts a file: validates the spec and writes the header.
    pub fn new(mut w: W, spec: GeoTiffSpec) -> Result<Self, TiffError> {
        spec.validate()?;
        let big = spec.use_bigtiff();
        let header: Vec<u8> = if big {
            let mut h = b"II\x2b\x00\x08\x00\x00\x00".to_vec();
            h.extend_from_slice(&0u64.to_le_bytes());
            h
        } else {
            b"II\x2a\x00\x00\x00\x00\x00".to_vec()
        };
        w.seek(SeekFrom::Start(0))?;
        w.write_all(&header)?;
        let (cx, cy) = spec.chunk_grid();
        let n = cx as usize * cy as usize * spec.planes();
        Ok(GeoTiffWriter {
            w,
            big,
            pos: header.len() as u64,
            offsets: vec![0; n],
            counts: vec![0; n],
            pending: Vec::new(),
            rows_done: 0,
            pool: Vec::new(),
            link_at: if big { 8 } else { 4 },
            spec,
        })
    }

    /// Continues a file after an image finished with [`Self::finish_linked`]: a second
    /// image (an internal mask, an overview) whose chunks follow the first image's IFD and
    /// whose IFD is linked from it.
    pub fn append_image(
        mut w: W,
        link: ImageLink,
        mut spec: GeoTiffSpec,
    ) -> Result<Self, TiffError> {
        spec.bigtiff = if link.big { BigTiff::Yes } else { BigTiff::No };
        spec.validate()?;
        w.seek(SeekFrom::Start(link.end))?;
        let (cx, cy) = spec.chunk_grid();
        let n = cx as usize * cy as usize * spec.planes();
        Ok(GeoTiffWriter {
            w,
            big: link.big,
            pos: link.end,
            offsets: vec![0; n],
            counts: vec![0; n],
            pending: Vec::new(),
            rows_done: 0,
            pool: Vec::new(),
            link_at: link.next_ifd_at,
            spec,
        })
    }

    /// The spec being written.
    pub fn spec(&self) -> &GeoTiffSpec {
        &self.spec
    }

    /// Whether the file is BigTIFF.
    pub fn is_bigtiff(&self) -> bool {
        self.big
    }

    /// Encodes the chunk at chunk column `cx`, chunk row `cy` from pixel-interleaved data of
    /// its valid region (`rows × cols × bands`, clipped at the image edge). Returns one
    /// encoded payload per plane. Pure: callers may encode chunks in parallel.
    pub fn encode_chunk<T: Element>(
        &self,
        cx: u32,
        cy: u32,
        data: &[T],
    ) -> Result<Vec<Vec<u8>>, TiffError> {
        self.check_type::<T>()?;
        let (rows, cols) = self.valid_dims(cx, cy)?;
        let bands = usize::from(self.spec.bands);
        if data.len() != rows * cols * bands {
            return Err(TiffError::InvalidSpec(format!(
                "chunk ({cx}, {cy}) needs {rows}x{cols}x{bands} samples, got {}",
                data.len()
            )));
        }
        let mut bufs = ChunkBufs::default();
        self.spec.encode_region(
            bytemuck::cast_slice(data),
            cols * bands,
            0,
            rows,
            cols,
            &mut bufs,
        )?;
        Ok(bufs.out)
    }

    /// Stores the encoded planes of chunk (`cx`, `cy`) (from [`Self::encode_chunk`]).
    pub fn write_encoded(
        &mut self,
        cx: u32,
        cy: u32,
        planes: Vec<Vec<u8>>,
    ) -> Result<(), TiffError> {
        self.write_planes(cx, cy, &planes)
    }

    fn write_planes(&mut self, cx: u32, cy: u32, planes: &[Vec<u8>]) -> Result<(), TiffError> {
        let (ncx, ncy) = self.spec.chunk_grid();
        if cx >= ncx || cy >= ncy || planes.len() != self.spec.planes() {
            return Err(TiffError::InvalidSpec(format!(
                "no chunk ({cx}, {cy}) with {} planes",
                planes.len()
            )));
        }
        let per_plane = ncx as usize * ncy as usize;
        for (p, bytes) in planes.iter().enumerate() {
            let idx = p * per_plane + cy as usize * ncx as usize + cx as usize;
            self.append_chunk(idx, bytes)?;
        }
        Ok(())
    }

    /// Encodes and writes one chunk (see [`Self::encode_chunk`]).
    pub fn write_chunk<T: Element>(
        &mut self,
        cx: u32,
        cy: u32,
        data: &[T],
    ) -> Result<(), TiffError> {
        let planes = self.encode_chunk(cx, cy, data)?;
        self.write_encoded(cx, cy, planes)
    }

    /// Appends whole rows of pixel-interleaved data (`n × width × bands`), top to bottom.
    /// Chunk rows are encoded in parallel as soon as they are complete; memory is bounded
    /// by one chunk row.
    pub fn write_rows<T: Element>(&mut self, data: &[T]) -> Result<(), TiffError> {
        self.check_type::<T>()?;
        let row_len = self.spec.width as usize * usize::from(self.spec.bands);
        if !data.len().is_multiple_of(row_len) {
            return Err(TiffError::InvalidSpec(format!(
                "{} samples is not a whole number of {row_len}-sample rows",
                data.len()
            )));
        }
        let n = (data.len() / row_len) as u32;
        if self.rows_done + n > self.spec.height {
            return Err(TiffError::InvalidSpec(format!(
                "{} rows written, image has {}",
                self.rows_done + n,
                self.spec.height
            )));
        }
        let chunk_rows = self.spec.chunk_dims().1;
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let row_bytes = row_len * self.spec.dtype.size();
        let mut off = 0;
        while off < bytes.len() {
            let cy = self.rows_done / chunk_rows;
            let start = cy * chunk_rows;
            let in_chunk = (self.spec.height - start).min(chunk_rows);
            // `pending` always holds the rows of this chunk row received so far.
            let have = self.rows_done - start;
            let take_rows = (in_chunk - have).min(((bytes.len() - off) / row_bytes) as u32);
            let take = take_rows as usize * row_bytes;
            if have == 0 && take_rows == in_chunk {
                // A whole chunk row in the input: encode straight from it.
                self.flush_chunk_row(cy, &bytes[off..off + take])?;
            } else {
                self.pending.extend_from_slice(&bytes[off..off + take]);
                if have + take_rows == in_chunk {
                    let buf = std::mem::take(&mut self.pending);
                    self.flush_chunk_row(cy, &buf)?;
                    self.pending = buf;
                    self.pending.clear();
                }
            }
            off += take;
            self.rows_done += take_rows;
        }
        Ok(())
    }

    /// Rows appended so far through [`Self::write_rows`].
    pub fn rows_written(&self) -> u32 {
        self.rows_done
    }

    fn flush_chunk_row(&mut self, cy: u32, rows: &[u8]) -> Result<(), TiffError> {
        let (ncx, _) = self.spec.chunk_grid();
        let (cw, _) = self.spec.chunk_dims();
        let bands = usize::from(self.spec.bands);
        let row_samples = self.spec.width as usize * bands;
        let nrows = rows.len() / (row_samples * self.spec.dtype.size());
        let mut pool = std::mem::take(&mut self.pool);
        pool.resize_with(ncx as usize, ChunkBufs::default);
        let spec = &self.spec;
        let results: Vec<Result<(), TiffError>> = pool
            .par_iter_mut()
            .enumerate()
            .map(|(cx, bufs)| {
                let col0 = cx * cw as usize;
                let cols = (spec.width as usize - col0).min(cw as usize);
                spec.encode_region(rows, row_samples, col0, nrows, cols, bufs)
            })
            .collect();
        let mut outcome = Ok(());
        for (cx, r) in results.into_iter().enumerate() {
            if let Err(e) = r {
                outcome = Err(e);
                break;
            }
            let planes = std::mem::take(&mut pool[cx].out);
            let written = self.write_planes(cx as u32, cy, &planes);
            pool[cx].out = planes;
            if let Err(e) = written {
                outcome = Err(e);
                break;
            }
        }
        self.pool = pool;
        outcome
    }

    fn check_type<T: Element>(&self) -> Result<(), TiffError> {
        if T::DTYPE == self.spec.dtype {
            Ok(())
        } else {
            Err(TiffError::InvalidSpec(format!(
                "writing {} samples into a {} raster",
                T::DTYPE.gdal_name(),
                self.spec.dtype.gdal_name()
            )))
        }
    }

    /// Valid (rows, cols) of chunk (cx, cy).
    fn valid_dims(&self, cx: u32, cy: u32) -> Result<(usize, usize), TiffError> {
        let (ncx, ncy) = self.spec.chunk_grid();
        if cx >= ncx || cy >= ncy {
            return Err(TiffError::InvalidSpec(format!("no chunk ({cx}, {cy})")));
        }
        let (cw, ch) = self.spec.chunk_dims();
        let cols = (self.spec.width - cx * cw).min(cw) as usize;
        let rows = (self.spec.height - cy * ch).min(ch) as usize;
        Ok((rows, cols))
    }

    fn append_chunk(&mut self, idx: usize, bytes: &[u8]) -> Result<(), TiffError> {
        if self.counts[idx] != 0 {
            return Err(TiffError::InvalidSpec(format!("chunk {idx} written twice")));
        }
        if !self.big && self.pos + bytes.len() as u64 > u64::from(u32::MAX) {
            return Err(TiffError::TooLarge);
        }
        self.w.write_all(bytes)?;
        self.offsets[idx] = self.pos;
        self.counts[idx] = bytes.len() as u64;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Where the file stands after the chunks written so far (flushed): enough to continue
    /// it after a restart with [`Self::resume`]. Only for chunk-wise writing (not
    /// `write_rows` with rows pending).
    pub fn state(&mut self) -> Result<WriterState, TiffError> {
        if !self.pending.is_empty() {
            return Err(TiffError::InvalidSpec(
                "rows are pending; a state is taken between whole chunks".into(),
            ));
        }
        self.w.flush()?;
        Ok(WriterState {
            pos: self.pos,
            offsets: self.offsets.clone(),
            counts: self.counts.clone(),
        })
    }

    /// Continues a file written up to `state` with the same `spec` (the bytes before
    /// `state.pos` must be what that writer wrote; later bytes are overwritten).
    pub fn resume(mut w: W, spec: GeoTiffSpec, state: WriterState) -> Result<Self, TiffError> {
        spec.validate()?;
        let big = spec.use_bigtiff();
        let (cx, cy) = spec.chunk_grid();
        let n = cx as usize * cy as usize * spec.planes();
        let header = if big { 16 } else { 8 };
        let sane = state.offsets.len() == n
            && state.counts.len() == n
            && state.pos >= header
            && state.offsets.iter().zip(&state.counts).all(|(&o, &c)| {
                c == 0 || (o >= header && o.checked_add(c).is_some_and(|e| e <= state.pos))
            });
        if !sane {
            return Err(TiffError::InvalidSpec(
                "the saved state does not fit this file".into(),
            ));
        }
        w.seek(SeekFrom::Start(state.pos))?;
        Ok(GeoTiffWriter {
            w,
            big,
            pos: state.pos,
            offsets: state.offsets,
            counts: state.counts,
            pending: Vec::new(),
            rows_done: 0,
            pool: Vec::new(),
            link_at: if big { 8 } else { 4 },
            spec,
        })
    }

    /// Writes the directory and returns the underlying writer.
    pub fn finish(self) -> Result<W, TiffError> {
        self.finish_linked().map(|(w, _)| w)
    }

    /// Like [`Self::finish`], and says where another image may follow
    /// ([`Self::append_image`]).
    pub fn finish_linked(mut self) -> Result<(W, ImageLink), TiffError> {
        if !self.pending.is_empty() || (self.rows_done != 0 && self.rows_done != self.spec.height) {
            return Err(TiffError::InvalidSpec(format!(
                "only {} of {} rows were written",
                self.rows_done, self.spec.height
            )));
        }
        if !self.spec.sparse_ok
            && let Some(i) = self.counts.iter().position(|&c| c == 0)
        {
            return Err(TiffError::InvalidSpec(format!(
                "chunk {i} was never written"
            )));
        }
        let entries = self.entries();
        // Out-of-line values first, each word-aligned, then the IFD.
        let inline = if self.big { 8 } else { 4 };
        let mut placed: Vec<(u16, u16, u64, Vec<u8>)> = Vec::with_capacity(entries.len());
        for e in entries {
            let value = if e.data.len() > inline {
                self.align()?;
                let at = self.pos;
                self.w.write_all(&e.data)?;
                self.pos += e.data.len() as u64;
                at.to_le_bytes()[..inline].to_vec()
            } else {
                let mut v = e.data.clone();
                v.resize(inline, 0);
                v
            };
            placed.push((e.tag, e.typ, e.count, value));
        }
        self.align()?;
        let ifd_at = self.pos;
        let mut ifd = Vec::new();
        if self.big {
            ifd.extend_from_slice(&(placed.len() as u64).to_le_bytes());
        } else {
            ifd.extend_from_slice(&(placed.len() as u16).to_le_bytes());
        }
        for (tag, typ, count, value) in &placed {
            ifd.extend_from_slice(&tag.to_le_bytes());
            ifd.extend_from_slice(&typ.to_le_bytes());
            if self.big {
                ifd.extend_from_slice(&count.to_le_bytes());
            } else {
                ifd.extend_from_slice(&(*count as u32).to_le_bytes());
            }
            ifd.extend_from_slice(value);
        }
        ifd.extend_from_slice(&vec![0u8; inline]); // no next IFD
        if !self.big && ifd_at + ifd.len() as u64 > u64::from(u32::MAX) {
            return Err(TiffError::TooLarge);
        }
        self.w.write_all(&ifd)?;
        self.pos += ifd.len() as u64;
        self.w.seek(SeekFrom::Start(self.link_at))?;
        if self.big {
            self.w.write_all(&ifd_at.to_le_bytes())?;
        } else {
            self.w.write_all(&(ifd_at as u32).to_le_bytes())?;
        }
        self.w.seek(SeekFrom::Start(self.pos))?;
        self.w.flush()?;
        let link = ImageLink {
            end: self.pos,
            next_ifd_at: self.pos - inline as u64,
            big: self.big,
        };
        Ok((self.w, link))
    }

    fn align(&mut self) -> Result<(), TiffError> {
        if self.pos % 2 == 1 {
            self.w.write_all(&[0])?;
            self.pos += 1;
        }
        Ok(())
    }

    fn entries(&self) -> Vec<Entry> {
        entries_for(&self.spec, self.big, &self.offsets, &self.counts)
    }

    /// Finishes writing chunks without a directory: the underlying writer and where each
    /// chunk lies in it (for assembling a file of several images, as a COG).
    pub fn into_parts(mut self) -> Result<(W, WriterState), TiffError> {
        if !self.pending.is_empty() || (self.rows_done != 0 && self.rows_done != self.spec.height) {
            return Err(TiffError::InvalidSpec(format!(
                "only {} of {} rows were written",
                self.rows_done, self.spec.height
            )));
        }
        let state = self.state()?;
        Ok((self.w, state))
    }
}

/// The directory entries of an image with `spec` whose chunks lie at `offsets` with sizes
/// `counts`, sorted by tag.
pub(crate) fn entries_for(
    spec: &GeoTiffSpec,
    big: bool,
    offsets: &[u64],
    counts: &[u64],
) -> Vec<Entry> {
    let s = spec;
    let spp = s.bands;
    let mut e = vec![
        Entry::long(256, s.width),
        Entry::long(257, s.height),
        Entry::shorts(258, &vec![(s.dtype.size() * 8) as u16; usize::from(spp)]),
        Entry::shorts(259, &[s.compression.tag_value()]),
        Entry::shorts(
            262,
            &[match (s.photometric, &s.palette) {
                _ if s.mask_subfile => 4,
                (_, Some(_)) => 3,
                (Photometric::MinIsBlack, None) => 1,
                (Photometric::Rgb, None) => 2,
            }],
        ),
        Entry::shorts(277, &[spp]),
        Entry::shorts(
            284,
            &[match s.interleave {
                Interleave::Pixel => 1,
                Interleave::Band => 2,
            }],
        ),
        Entry::shorts(339, &vec![s.dtype.tiff_sample_format(); usize::from(spp)]),
    ];
    if s.compression != Compression::None && s.predictor != Predictor::None {
        e.push(Entry::shorts(317, &[s.predictor.tag_value()]));
    }
    let colour = match s.photometric {
        Photometric::MinIsBlack => 1,
        Photometric::Rgb => 3,
    };
    if spp > colour {
        let mut extra = vec![0; usize::from(spp - colour)];
        if s.alpha {
            extra[0] = 2;
        }
        e.push(Entry::shorts(338, &extra));
    }
    if let Some(p) = &s.palette {
        // 256 reds, then greens, then blues, scaled to 16 bits; unlisted values black.
        let mut map = vec![0u16; 3 * 256];
        for (i, c) in p.iter().take(256).enumerate() {
            for k in 0..3 {
                map[k * 256 + i] = u16::from(c[k]) * 257;
            }
        }
        e.push(Entry::shorts(320, &map));
    }
    let (offset_tag, count_tag) = match s.layout {
        Layout::Tiled(t) => {
            e.push(Entry::long(322, t));
            e.push(Entry::long(323, t));
            (324, 325)
        }
        Layout::Striped(r) => {
            e.push(Entry::long(278, r.min(s.height)));
            (273, 279)
        }
    };
    e.push(offsets_entry(big, offset_tag, offsets));
    e.push(offsets_entry(big, count_tag, counts));
    let subfile = u32::from(s.overview) | if s.mask_subfile { 4 } else { 0 };
    if subfile != 0 {
        e.push(Entry::long(254, subfile));
    }
    if let Some((crs, t)) = s.georef.as_ref().filter(|_| !s.mask_subfile && !s.overview) {
        match model_tags(t) {
            ModelTags::ScaleTiepoint(scale, tie) => {
                e.push(Entry::doubles(geokeys::TAG_MODEL_PIXEL_SCALE, &scale));
                e.push(Entry::doubles(geokeys::TAG_MODEL_TIEPOINT, &tie));
            }
            ModelTags::Matrix(m) => e.push(Entry::doubles(geokeys::TAG_MODEL_TRANSFORMATION, &m)),
        }
        let (dir, ascii) = geokeys_for(crs);
        e.push(Entry::shorts(geokeys::TAG_GEO_KEY_DIRECTORY, &dir));
        e.push(Entry::ascii(geokeys::TAG_GEO_ASCII_PARAMS, &ascii));
        let doubles = geokeys::geo_doubles_for(crs);
        if !doubles.is_empty() {
            e.push(Entry::doubles(geokeys::TAG_GEO_DOUBLE_PARAMS, &doubles));
        }
    }
    if let Some(xml) = s.metadata.to_xml().filter(|_| !s.overview) {
        e.push(Entry::ascii(TAG_GDAL_METADATA, &xml));
    }
    if let Some(nd) = s.nodata {
        e.push(Entry::ascii(TAG_GDAL_NODATA, &format_nodata(nd)));
    }
    e.sort_by_key(|x| x.tag);
    e
}

fn offsets_entry(big: bool, tag: u16, v: &[u64]) -> Entry {
    if big {
        Entry {
            tag,
            typ: 16,
            count: v.len() as u64,
            data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    } else {
        Entry {
            tag,
            typ: 4,
            count: v.len() as u64,
            data: v.iter().flat_map(|&x| (x as u32).to_le_bytes()).collect(),
        }
    }
}

/// Where a finished image ends and where the offset of a following image's IFD goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLink {
    /// End of the file so far.
    pub end: u64,
    /// The finished IFD's next-IFD field.
    pub next_ifd_at: u64,
    /// Whether the file is BigTIFF.
    pub big: bool,
}

/// One IFD entry with its little-endian value bytes.
pub(crate) struct Entry {
    tag: u16,
    typ: u16,
    count: u64,
    data: Vec<u8>,
}

impl Entry {
    fn long(tag: u16, v: u32) -> Entry {
        Entry {
            tag,
            typ: 4,
            count: 1,
            data: v.to_le_bytes().to_vec(),
        }
    }
    fn shorts(tag: u16, v: &[u16]) -> Entry {
        Entry {
            tag,
            typ: 3,
            count: v.len() as u64,
            data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
    fn doubles(tag: u16, v: &[f64]) -> Entry {
        Entry {
            tag,
            typ: 12,
            count: v.len() as u64,
            data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
    fn ascii(tag: u16, s: &str) -> Entry {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        Entry {
            tag,
            typ: 2,
            count: data.len() as u64,
            data,
        }
    }
}

/// A GeoTIFF written to a temporary file beside its final path and renamed into place
/// only when complete.
pub struct GeoTiffFile {
    writer: GeoTiffWriter<BufWriter<File>>,
    tmp: tempfile::TempPath,
    path: PathBuf,
}

impl GeoTiffFile {
    /// Creates the temporary file and writes the header.
    pub fn create(path: &Path, spec: GeoTiffSpec) -> Result<GeoTiffFile, TiffError> {
        let tmp = crate::atomic::temp_beside(path).map_err(|e| TiffError::io_at(path, e))?;
        let (file, tmp) = tmp.into_parts();
        let writer = GeoTiffWriter::new(BufWriter::with_capacity(4 << 20, file), spec)?;
        Ok(GeoTiffFile {
            writer,
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// The writer, to add pixels.
    pub fn writer(&mut self) -> &mut GeoTiffWriter<BufWriter<File>> {
        &mut self.writer
    }

    /// Finishes the file and renames it to its final name. A killed process never leaves
    /// a partial file under the final name; surviving a power cut needs [`Self::finish_durable`].
    pub fn finish(self) -> Result<PathBuf, TiffError> {
        self.finish_with(false)
    }

    /// Like [`Self::finish`], but flushes the data to disk before the rename.
    pub fn finish_durable(self) -> Result<PathBuf, TiffError> {
        self.finish_with(true)
    }

    /// Finishes the image, then writes a second image after it with `spec` (an internal
    /// mask, say) whose rows `feed` supplies, and renames the file into place.
    pub fn finish_with_image(
        self,
        spec: GeoTiffSpec,
        feed: impl FnOnce(&mut GeoTiffWriter<BufWriter<File>>) -> Result<(), TiffError>,
    ) -> Result<PathBuf, TiffError> {
        let path = self.path;
        let (w, link) = self.writer.finish_linked()?;
        let mut second = GeoTiffWriter::append_image(w, link, spec)?;
        feed(&mut second)?;
        let w = second.finish()?;
        let file = w
            .into_inner()
            .map_err(|e| TiffError::io_at(&path, e.into_error()))?;
        drop(file);
        self.tmp
            .persist(&path)
            .map_err(|e| TiffError::io_at(&path, e.error))?;
        Ok(path)
    }

    fn finish_with(self, durable: bool) -> Result<PathBuf, TiffError> {
        let path = self.path;
        let w = self.writer.finish()?;
        let file = w
            .into_inner()
            .map_err(|e| TiffError::io_at(&path, e.into_error()))?;
        if durable {
            file.sync_data().map_err(|e| TiffError::io_at(&path, e))?;
        }
        drop(file);
        self.tmp
            .persist(&path)
            .map_err(|e| TiffError::io_at(&path, e.error))?;
        Ok(path)
    }
}

/// The bytes of one directory placed at file offset `at`: the IFD, then its out-of-line
/// values (each word-aligned), with `next` as the next-IFD offset (0: none).
pub(crate) fn ifd_bytes(entries: &[Entry], big: bool, at: u64, next: u64) -> Vec<u8> {
    let inline = if big { 8 } else { 4 };
    let head = if big { 8 } else { 2 };
    let entry_len = if big { 20 } else { 12 };
    let ifd_len = head + entries.len() * entry_len + inline;
    let mut values: Vec<u8> = Vec::new();
    let mut ifd = Vec::with_capacity(ifd_len);
    if big {
        ifd.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    } else {
        ifd.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    }
    for e in entries {
        ifd.extend_from_slice(&e.tag.to_le_bytes());
        ifd.extend_from_slice(&e.typ.to_le_bytes());
        if big {
            ifd.extend_from_slice(&e.count.to_le_bytes());
        } else {
            ifd.extend_from_slice(&(e.count as u32).to_le_bytes());
        }
        if e.data.len() > inline {
            if (ifd_len + values.len()) % 2 == 1 {
                values.push(0);
            }
            let off = at + (ifd_len + values.len()) as u64;
            ifd.extend_from_slice(&off.to_le_bytes()[..inline]);
            values.extend_from_slice(&e.data);
        } else {
            let mut v = e.data.clone();
            v.resize(inline, 0);
            ifd.extend_from_slice(&v);
        }
    }
    ifd.extend_from_slice(&next.to_le_bytes()[..inline]);
    ifd.extend_from_slice(&values);
    if ifd.len() % 2 == 1 {
        ifd.push(0);
    }
    ifd
}
