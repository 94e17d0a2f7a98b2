//! GeoTIFF reading on top of the `tiff` crate's decoder: size, sample type, chunk layout,
//! georeference (GeoKeys + model tags), nodata, GDAL metadata, and pixels read by row
//! windows so that large rasters never need to fit in memory at once.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tessera_core::{Affine, Crs};
use tiff::decoder::{Decoder, Limits};
use tiff::tags::Tag;

use super::TiffError;
use super::codec::{Predictor, decode_chunk, undo_predictor};
use super::geokeys::{self, GeoKeys, transform_from_tags};
use super::metadata::{GdalMetadata, TAG_GDAL_METADATA, TAG_GDAL_NODATA, parse_nodata};
use crate::dtype::{DType, Element};

/// Largest buffer a single read may allocate (a guard against absurd headers).
pub const MAX_READ_BYTES: u64 = 8 << 30;
/// Largest stored or decoded chunk we accept.
const MAX_CHUNK_BYTES: u64 = 1 << 30;

/// Facts about a GeoTIFF, read from its first image directory.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoTiffInfo {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Bands (samples per pixel).
    pub bands: u16,
    /// Sample type.
    pub dtype: DType,
    /// Tiled (true) or striped.
    pub tiled: bool,
    /// Chunk (tile or strip) width and height.
    pub chunk: (u32, u32),
    /// Band-interleaved (PlanarConfiguration 2).
    pub planar: bool,
    /// TIFF Compression tag value.
    pub compression: u16,
    /// CRS, when the GeoKeys name an EPSG code we know.
    pub crs: Option<Crs>,
    /// The raw EPSG code of the GeoKeys (also for CRSs we do not implement).
    pub epsg: Option<u32>,
    /// Pixel-to-map transform.
    pub transform: Option<Affine>,
    /// GDAL nodata.
    pub nodata: Option<f64>,
    /// GDAL metadata (tags, band descriptions).
    pub metadata: GdalMetadata,
    /// BigTIFF container.
    pub bigtiff: bool,
}

/// An open GeoTIFF.
pub struct GeoTiffReader<R: Read + Seek = BufReader<File>> {
    dec: Decoder<R>,
    info: GeoTiffInfo,
    path: PathBuf,
    offsets: Vec<u64>,
    counts: Vec<u64>,
    predictor: Predictor,
}

impl GeoTiffReader<BufReader<File>> {
    /// Opens a file and reads its directory.
    pub fn open(path: &Path) -> Result<Self, TiffError> {
        let f = File::open(path).map_err(|e| TiffError::io_at(path, e))?;
        Self::from_reader(BufReader::new(f), path)
    }
}

impl<R: Read + Seek> GeoTiffReader<R> {
    /// Reads the directory from any seekable reader (`path` is for messages).
    pub fn from_reader(r: R, path: &Path) -> Result<Self, TiffError> {
        crate::guard::contain(|| Self::from_reader_inner(r, path))
            .unwrap_or_else(|e| Err(TiffError::corrupt(path, &e)))
    }

    fn from_reader_inner(r: R, path: &Path) -> Result<Self, TiffError> {
        let (dec, bigtiff) = open_decoder(r, path)?;
        Self::at_current_image(dec, path, bigtiff)
    }

    /// The GDAL internal mask of the first image (a later image with NewSubfileType 4 and
    /// the same size, one uint8 band: 0 where there is no data), when the file has one.
    pub fn open_internal_mask(r: R, path: &Path) -> Result<Option<Self>, TiffError> {
        crate::guard::contain(|| Self::open_internal_mask_inner(r, path))
            .unwrap_or_else(|e| Err(TiffError::corrupt(path, &e)))
    }

    fn open_internal_mask_inner(r: R, path: &Path) -> Result<Option<Self>, TiffError> {
        let (mut dec, bigtiff) = open_decoder(r, path)?;
        let de = |e| TiffError::decode(path, e);
        let size = dec.dimensions().map_err(de)?;
        // Overviews and their masks follow; a file with more images than this is not ours
        // to search.
        for _ in 0..64 {
            if !dec.more_images() {
                return Ok(None);
            }
            dec.next_image().map_err(de)?;
            let kind: u32 = dec
                .find_tag_unsigned(Tag::NewSubfileType)
                .map_err(de)?
                .unwrap_or(0);
            if kind & 4 != 0 && kind & 1 == 0 && dec.dimensions().map_err(de)? == size {
                let mask = Self::at_current_image(dec, path, bigtiff)?;
                if mask.info.bands != 1 || mask.info.dtype != DType::U8 {
                    return Err(TiffError::corrupt(
                        path,
                        "its internal mask is not one uint8 band",
                    ));
                }
                return Ok(Some(mask));
            }
        }
        Ok(None)
    }

    fn at_current_image(
        mut dec: Decoder<R>,
        path: &Path,
        bigtiff: bool,
    ) -> Result<Self, TiffError> {
        let info = read_info(&mut dec, path, bigtiff)?;
        let de = |e| TiffError::decode(path, e);
        let (off_tag, count_tag) = if info.tiled {
            (Tag::TileOffsets, Tag::TileByteCounts)
        } else {
            (Tag::StripOffsets, Tag::StripByteCounts)
        };
        let offsets = dec
            .find_tag_unsigned_vec::<u64>(off_tag)
            .map_err(de)?
            .unwrap_or_default();
        let counts = dec
            .find_tag_unsigned_vec::<u64>(count_tag)
            .map_err(de)?
            .unwrap_or_default();
        let planes = if info.planar {
            u64::from(info.bands)
        } else {
            1
        };
        let chunks = u64::from(info.width.div_ceil(info.chunk.0))
            * u64::from(info.height.div_ceil(info.chunk.1))
            * planes;
        if (offsets.len() as u64) < chunks || (counts.len() as u64) < chunks {
            return Err(TiffError::corrupt(
                path,
                &format!(
                    "{} chunk offsets and {} byte counts for {chunks} chunks",
                    offsets.len(),
                    counts.len()
                ),
            ));
        }
        let predictor = match dec
            .find_tag_unsigned::<u16>(Tag::Predictor)
            .map_err(de)?
            .unwrap_or(1)
        {
            1 => Predictor::None,
            2 => Predictor::Horizontal,
            3 if info.dtype.is_float() => Predictor::FloatingPoint,
            p => {
                return Err(TiffError::Unsupported(format!(
                    "{}: predictor {p} for {}",
                    path.display(),
                    info.dtype.gdal_name()
                )));
            }
        };
        let full_chunk = u64::from(info.chunk.0)
            * u64::from(info.chunk.1)
            * (u64::from(info.bands) / planes)
            * info.dtype.size() as u64;
        if full_chunk > MAX_CHUNK_BYTES {
            return Err(TiffError::corrupt(
                path,
                &format!("chunks of {full_chunk} bytes are too large"),
            ));
        }
        Ok(GeoTiffReader {
            dec,
            info,
            path: path.to_path_buf(),
            offsets,
            counts,
            predictor,
        })
    }

    /// What the file holds.
    pub fn info(&self) -> &GeoTiffInfo {
        &self.info
    }

    /// Reads rows `row0..row0 + nrows` as pixel-interleaved samples (`nrows × width × bands`).
    pub fn read_rows<T: Element>(&mut self, row0: u32, nrows: u32) -> Result<Vec<T>, TiffError> {
        let info = self.info.clone();
        if T::DTYPE != info.dtype {
            return Err(TiffError::corrupt(
                &self.path,
                &format!(
                    "holds {} samples, {} requested",
                    info.dtype.gdal_name(),
                    T::DTYPE.gdal_name()
                ),
            ));
        }
        if row0.checked_add(nrows).is_none_or(|end| end > info.height) {
            return Err(TiffError::InvalidSpec(format!(
                "rows {row0}..{} outside a {}-row image",
                u64::from(row0) + u64::from(nrows),
                info.height
            )));
        }
        let bands = usize::from(info.bands);
        let width = info.width as usize;
        let total = u64::from(nrows) * width as u64 * bands as u64 * info.dtype.size() as u64;
        if total > MAX_READ_BYTES {
            return Err(TiffError::TooLarge);
        }
        let mut out = vec![T::default(); total as usize / info.dtype.size()];
        if nrows == 0 {
            return Ok(out);
        }
        let (cw, ch) = info.chunk;
        let across = info.width.div_ceil(cw);
        let down = info.height.div_ceil(ch);
        let planes = if info.planar { bands } else { 1 };
        let spp = if info.planar { 1 } else { bands };
        let size = info.dtype.size();
        let first = row0 / ch;
        let last = (row0 + nrows - 1) / ch;
        let dst: &mut [u8] = bytemuck::cast_slice_mut(&mut out);
        for cy in first..=last.min(down.saturating_sub(1)) {
            // Read the raw chunks of this chunk row, then decode them in parallel.
            let mut raws = Vec::with_capacity(across as usize * planes);
            for p in 0..planes {
                for cx in 0..across {
                    let idx = (p as u32 * down + cy) * across + cx;
                    raws.push((p, cx, idx, self.raw_chunk(idx as usize)?));
                }
            }
            let rows_in_chunk = (info.height - cy * ch).min(ch) as usize;
            let decoded: Vec<Result<Vec<u8>, TiffError>> = raws
                .par_iter()
                .map(|(_, _, idx, raw)| {
                    // Tiles are stored padded; the last strip may be short.
                    let (full_w, full_h) = if info.tiled {
                        (cw as usize, ch as usize)
                    } else {
                        (info.width as usize, rows_in_chunk)
                    };
                    let row_samples = full_w * spp;
                    let expected = full_h * row_samples * size;
                    let mut buf = decode_chunk(info.compression, raw, expected).map_err(|e| {
                        TiffError::corrupt(&self.path, &format!("chunk {idx}: {e}"))
                    })?;
                    undo_predictor(self.predictor, &mut buf, row_samples, spp, size);
                    Ok(buf)
                })
                .collect();
            for ((p, cx, _, _), buf) in raws.iter().zip(decoded) {
                let buf = buf?;
                let (full_w, dw) = if info.tiled {
                    (cw as usize, (info.width - cx * cw).min(cw) as usize)
                } else {
                    (info.width as usize, info.width as usize)
                };
                let src_row = full_w * spp * size;
                let col0 = *cx as usize * cw as usize;
                for r in 0..rows_in_chunk {
                    let img_row = cy as usize * ch as usize + r;
                    if img_row < row0 as usize || img_row >= (row0 + nrows) as usize {
                        continue;
                    }
                    let orow = img_row - row0 as usize;
                    let src = &buf[r * src_row..r * src_row + dw * spp * size];
                    if info.planar {
                        for c in 0..dw {
                            let to = ((orow * width + col0 + c) * bands + p) * size;
                            dst[to..to + size].copy_from_slice(&src[c * size..(c + 1) * size]);
                        }
                    } else {
                        let to = (orow * width + col0) * bands * size;
                        dst[to..to + src.len()].copy_from_slice(src);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The stored bytes of chunk `idx`.
    fn raw_chunk(&mut self, idx: usize) -> Result<Vec<u8>, TiffError> {
        let (Some(&offset), Some(&count)) = (self.offsets.get(idx), self.counts.get(idx)) else {
            return Err(TiffError::corrupt(
                &self.path,
                &format!("no offset for chunk {idx}"),
            ));
        };
        if count > MAX_CHUNK_BYTES {
            return Err(TiffError::corrupt(
                &self.path,
                &format!("chunk {idx} claims {count} bytes"),
            ));
        }
        let r = self.dec.inner();
        let end = r
            .seek(SeekFrom::End(0))
            .map_err(|e| TiffError::io_at(&self.path, e))?;
        if offset.checked_add(count).is_none_or(|e| e > end) {
            return Err(TiffError::corrupt(
                &self.path,
                &format!(
                    "chunk {idx} at {offset}+{count} lies beyond the end of the file ({end} bytes)"
                ),
            ));
        }
        r.seek(SeekFrom::Start(offset))
            .map_err(|e| TiffError::io_at(&self.path, e))?;
        let mut buf = vec![0u8; count as usize];
        r.read_exact(&mut buf)
            .map_err(|e| TiffError::io_at(&self.path, e))?;
        Ok(buf)
    }

    /// Reads the whole image (`height × width × bands`).
    pub fn read_all<T: Element>(&mut self) -> Result<Vec<T>, TiffError> {
        let h = self.info.height;
        self.read_rows(0, h)
    }
}

fn open_decoder<R: Read + Seek>(mut r: R, path: &Path) -> Result<(Decoder<R>, bool), TiffError> {
    let mut head = [0u8; 4];
    r.read_exact(&mut head)
        .map_err(|_| TiffError::corrupt(path, "shorter than a TIFF header"))?;
    r.rewind().map_err(|e| TiffError::io_at(path, e))?;
    let bigtiff = head[2] == 0x2b || head[3] == 0x2b;
    let mut limits = Limits::default();
    limits.decoding_buffer_size = 1 << 30;
    limits.intermediate_buffer_size = 1 << 30;
    let dec = Decoder::new(r)
        .map_err(|e| TiffError::decode(path, e))?
        .with_limits(limits);
    Ok((dec, bigtiff))
}

fn read_info<R: Read + Seek>(
    dec: &mut Decoder<R>,
    path: &Path,
    bigtiff: bool,
) -> Result<GeoTiffInfo, TiffError> {
    let de = |e| TiffError::decode(path, e);
    let (width, height) = dec.dimensions().map_err(de)?;
    if width == 0 || height == 0 {
        return Err(TiffError::corrupt(path, "empty image"));
    }
    let spp: u16 = dec
        .find_tag_unsigned(Tag::SamplesPerPixel)
        .map_err(de)?
        .unwrap_or(1);
    let bits = dec
        .find_tag_unsigned_vec::<u16>(Tag::BitsPerSample)
        .map_err(de)?
        .unwrap_or(vec![1]);
    let fmt = dec
        .find_tag_unsigned_vec::<u16>(Tag::SampleFormat)
        .map_err(de)?
        .unwrap_or(vec![1]);
    if bits.iter().any(|b| *b != bits[0]) || fmt.iter().any(|f| *f != fmt[0]) {
        return Err(TiffError::Unsupported(format!(
            "{}: mixed sample types per band",
            path.display()
        )));
    }
    let dtype = DType::from_tiff(bits[0], fmt[0]).ok_or_else(|| {
        TiffError::Unsupported(format!(
            "{}: {}-bit samples of format {} are not supported",
            path.display(),
            bits[0],
            fmt[0]
        ))
    })?;
    let planar = dec
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .map_err(de)?
        == Some(2);
    let compression = dec
        .find_tag_unsigned::<u16>(Tag::Compression)
        .map_err(de)?
        .unwrap_or(1);
    let tiled = dec.find_tag(Tag::TileWidth).map_err(de)?.is_some();
    let chunk = if tiled {
        let tw: u32 = dec.get_tag_unsigned(Tag::TileWidth).map_err(de)?;
        let th: u32 = dec.get_tag_unsigned(Tag::TileLength).map_err(de)?;
        if tw == 0 || th == 0 {
            return Err(TiffError::corrupt(path, "zero tile size"));
        }
        (tw, th)
    } else {
        let rps: u32 = dec
            .find_tag_unsigned(Tag::RowsPerStrip)
            .map_err(de)?
            .unwrap_or(height);
        (width, rps.clamp(1, height))
    };
    let f64s = |dec: &mut Decoder<R>, tag: u16| -> Result<Option<Vec<f64>>, TiffError> {
        match dec.find_tag(Tag::Unknown(tag)).map_err(de)? {
            Some(v) => Ok(Some(v.into_f64_vec().map_err(de)?)),
            None => Ok(None),
        }
    };
    let scale = f64s(dec, geokeys::TAG_MODEL_PIXEL_SCALE)?;
    let tie = f64s(dec, geokeys::TAG_MODEL_TIEPOINT)?;
    let matrix = f64s(dec, geokeys::TAG_MODEL_TRANSFORMATION)?;
    let keys = match dec
        .find_tag(Tag::Unknown(geokeys::TAG_GEO_KEY_DIRECTORY))
        .map_err(de)?
    {
        Some(v) => {
            let dir: Vec<u16> = v
                .into_u32_vec()
                .map_err(de)?
                .into_iter()
                .map(|x| x as u16)
                .collect();
            GeoKeys::parse(&dir)
        }
        None => None,
    };
    let transform = transform_from_tags(
        scale.as_deref(),
        tie.as_deref(),
        matrix.as_deref(),
        keys.as_ref().and_then(|k| k.raster_type),
    );
    let epsg = keys.as_ref().and_then(GeoKeys::epsg);
    let doubles: Vec<f64> = match keys.as_ref().filter(|k| !k.doubles.is_empty()) {
        Some(_) => match dec
            .find_tag(Tag::Unknown(super::geokeys::TAG_GEO_DOUBLE_PARAMS))
            .map_err(de)?
        {
            Some(v) => v.into_f64_vec().map_err(de)?,
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let crs = keys.as_ref().and_then(|k| k.crs(&doubles));
    let ascii = |dec: &mut Decoder<R>, tag: u16| -> Result<Option<String>, TiffError> {
        match dec.find_tag(Tag::Unknown(tag)).map_err(de)? {
            Some(v) => Ok(Some(v.into_string().map_err(de)?)),
            None => Ok(None),
        }
    };
    let nodata = ascii(dec, TAG_GDAL_NODATA)?.and_then(|s| parse_nodata(&s));
    let metadata = match ascii(dec, TAG_GDAL_METADATA)? {
        Some(xml) => GdalMetadata::from_xml(xml.trim_end_matches('\0'))
            .map_err(|e| TiffError::corrupt(path, &format!("bad GDAL_METADATA: {e}")))?,
        None => GdalMetadata::default(),
    };
    Ok(GeoTiffInfo {
        width,
        height,
        bands: spp,
        dtype,
        tiled,
        chunk,
        planar,
        compression,
        crs,
        epsg,
        transform,
        nodata,
        metadata,
        bigtiff,
    })
}
