//! The Parquet manifests: `manifest.parquet` (one row per tile-year with both objects) and
//! `landmasks.parquet` (one row per landmask GeoTIFF), with exactly the published columns.
//!
//! Reading projects only the columns a query needs, skips row groups whose statistics
//! cannot match (year, lon, lat), and filters rows while decoding; lookups use integer
//! keys `round(x * 100)`, never float comparison.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    LargeStringArray, RecordBatch, StringArray, StringViewArray, TimestampNanosecondArray,
    UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::ChunkReader;
use parquet::file::statistics::Statistics;
use tessera_core::grid::coord_key;
use tessera_core::{Bbox, TileId};
use thiserror::Error;

/// Errors reading or writing manifests.
#[derive(Debug, Error)]
pub enum ManifestError {
    /// I/O on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a readable Parquet file.
    #[error("{what}: not a valid Parquet manifest: {reason}")]
    Parquet {
        /// The file or URL.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// Required columns are absent.
    #[error("{what}: manifest is missing required columns: {missing}")]
    MissingColumns {
        /// The file or URL.
        what: String,
        /// The missing columns.
        missing: String,
    },
    /// A column has a type we cannot read.
    #[error("{what}: column '{column}' has type {found}, expected {expected}")]
    ColumnType {
        /// The file or URL.
        what: String,
        /// The column.
        column: String,
        /// Its type.
        found: String,
        /// What we accept.
        expected: String,
    },
}

/// One row of `manifest.parquet`, all columns.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestRecord {
    /// Normalised version ("1.1").
    pub version: String,
    /// Variant ("cambridge").
    pub variant: String,
    /// Year.
    pub year: i32,
    /// The tile.
    pub tile: TileId,
    /// `s3://tessera/tessera/npy/{dir}/{Y}/grid_..`
    pub directory: String,
    /// `s3://…/grid_X_Y.npy`
    pub grid_path: String,
    /// `s3://…/grid_X_Y_scales.npy`
    pub scales_path: String,
    /// Embedding object mtime, ns since the epoch (UTC).
    pub grid_mtime_ns: i64,
    /// Scales object mtime, ns since the epoch (UTC).
    pub scales_mtime_ns: i64,
    /// Embedding object size in bytes.
    pub grid_size: i64,
    /// Scales object size in bytes.
    pub scales_size: i64,
}

/// One row of `landmasks.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct LandmaskRecord {
    /// The tile.
    pub tile: TileId,
    /// Object size in bytes.
    pub file_size: i64,
    /// Object mtime, ns since the epoch (UTC).
    pub mtime_ns: i64,
    /// `s3://tessera/tessera/landmasks/{v}/grid_X_Y.tiff`
    pub key: String,
}

fn ts_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        true,
    )
}

/// The Arrow schema of `manifest.parquet`, in the published column order.
pub fn manifest_schema() -> Schema {
    Schema::new(vec![
        Field::new("version", DataType::Utf8, true),
        Field::new("variant", DataType::Utf8, true),
        Field::new("year", DataType::Int64, true),
        Field::new("lon", DataType::Float64, true),
        Field::new("lat", DataType::Float64, true),
        Field::new("directory", DataType::Utf8, true),
        Field::new("grid_path", DataType::Utf8, true),
        Field::new("scales_path", DataType::Utf8, true),
        ts_field("grid_mtime"),
        ts_field("scales_mtime"),
        Field::new("grid_size", DataType::Int64, true),
        Field::new("scales_size", DataType::Int64, true),
        Field::new("lon_i", DataType::Int32, true),
        Field::new("lat_i", DataType::Int32, true),
    ])
}

/// The Arrow schema of `landmasks.parquet`.
pub fn landmasks_schema() -> Schema {
    Schema::new(vec![
        Field::new("lon", DataType::Float64, true),
        Field::new("lat", DataType::Float64, true),
        Field::new("file_size", DataType::Int64, true),
        ts_field("mtime"),
        Field::new("key", DataType::Utf8, true),
        Field::new("lon_i", DataType::Int32, true),
        Field::new("lat_i", DataType::Int32, true),
    ])
}

/// The `pandas` schema metadata pandas writes with `index=False`.
fn pandas_metadata(schema: &Schema) -> String {
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            let (pandas_type, numpy_type, meta) = match f.data_type() {
                DataType::Utf8 => ("unicode", "object", "null".to_string()),
                DataType::Int64 => ("int64", "int64", "null".to_string()),
                DataType::Int32 => ("int32", "int32", "null".to_string()),
                DataType::Float64 => ("float64", "float64", "null".to_string()),
                DataType::Timestamp(_, _) => ("datetimetz", "datetime64[ns]", "{\"timezone\": \"UTC\"}".to_string()),
                _ => ("object", "object", "null".to_string()),
            };
            format!(
                "{{\"name\": \"{0}\", \"field_name\": \"{0}\", \"pandas_type\": \"{pandas_type}\", \"numpy_type\": \"{numpy_type}\", \"metadata\": {meta}}}",
                f.name()
            )
        })
        .collect();
    format!(
        "{{\"index_columns\": [], \"column_indexes\": [], \"columns\": [{}], \"creator\": {{\"library\": \"pyarrow\", \"version\": \"17.0.0\"}}, \"pandas_version\": \"2.2.2\"}}",
        cols.join(", ")
    )
}

fn write_batch(path: &Path, schema: Schema, columns: Vec<ArrayRef>) -> Result<(), ManifestError> {
    let meta: HashMap<String, String> = [("pandas".to_string(), pandas_metadata(&schema))]
        .into_iter()
        .collect();
    let schema = Arc::new(schema.with_metadata(meta));
    let batch =
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| ManifestError::Parquet {
            what: path.display().to_string(),
            reason: e.to_string(),
        })?;
    let props = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    crate::atomic::write_atomic(path, |w| {
        let mut writer =
            ArrowWriter::try_new(w, schema, Some(props)).map_err(std::io::Error::other)?;
        writer.write(&batch).map_err(std::io::Error::other)?;
        writer.close().map_err(std::io::Error::other)?;
        Ok(())
    })
    .map_err(|source| ManifestError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Writes `manifest.parquet` as `geotessera-registry s3scan` does: sorted by (version,
/// variant, year, lon, lat), deduplicated on those keys (first kept), snappy.
pub fn write_manifest(path: &Path, records: &[ManifestRecord]) -> Result<(), ManifestError> {
    let mut rows: Vec<&ManifestRecord> = records.iter().collect();
    let key = |r: &&ManifestRecord| {
        (
            r.version.clone(),
            r.variant.clone(),
            r.year,
            r.tile.lon_i(),
            r.tile.lat_i(),
        )
    };
    rows.sort_by_key(key);
    rows.dedup_by_key(|r| key(r));
    let strs = |f: &dyn Fn(&ManifestRecord) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| f(r))))
    };
    let ts = |f: &dyn Fn(&ManifestRecord) -> i64| -> ArrayRef {
        Arc::new(
            TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| f(r)))
                .with_timezone("UTC"),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        strs(&|r| &r.version),
        strs(&|r| &r.variant),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| i64::from(r.year)),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.tile.lon()),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.tile.lat()),
        )),
        strs(&|r| &r.directory),
        strs(&|r| &r.grid_path),
        strs(&|r| &r.scales_path),
        ts(&|r| r.grid_mtime_ns),
        ts(&|r| r.scales_mtime_ns),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.grid_size),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.scales_size),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.tile.lon_i()),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.tile.lat_i()),
        )),
    ];
    write_batch(path, manifest_schema(), columns)
}

/// Writes `landmasks.parquet`: sorted by (lon, lat), deduplicated.
pub fn write_landmasks(path: &Path, records: &[LandmaskRecord]) -> Result<(), ManifestError> {
    let mut rows: Vec<&LandmaskRecord> = records.iter().collect();
    rows.sort_by_key(|r| (r.tile.lon_i(), r.tile.lat_i()));
    rows.dedup_by_key(|r| r.tile);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.tile.lon()),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.tile.lat()),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.file_size),
        )),
        Arc::new(
            TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| r.mtime_ns))
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.key.as_str()),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.tile.lon_i()),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.tile.lat_i()),
        )),
    ];
    write_batch(path, landmasks_schema(), columns)
}

/// What to select from a manifest.
#[derive(Debug, Clone, Default)]
pub struct ManifestQuery {
    /// Keep rows whose `version` equals this (when the column exists).
    pub version: Option<String>,
    /// Keep rows whose `variant` equals this (when the column exists).
    pub variant: Option<String>,
    /// Keep rows of this year.
    pub year: Option<i32>,
    /// Keep rows whose centre lies in this box, edges inclusive.
    pub bbox: Option<Bbox>,
    /// Also read `scales_size` (needed for download sizing).
    pub with_scales_size: bool,
    /// Also read `grid_path` and `scales_path` (to check them before downloading).
    pub with_paths: bool,
}

/// One selected tile-year.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    /// Year.
    pub year: i32,
    /// The tile.
    pub tile: TileId,
    /// Embedding object size in bytes.
    pub grid_size: i64,
    /// Scales object size, when requested and present.
    pub scales_size: Option<i64>,
    /// `(grid_path, scales_path)`, when requested and present.
    pub paths: Option<(String, String)>,
}

/// The rows a query selected, in manifest order, unique per (year, tile).
#[derive(Debug, Clone, Default)]
pub struct ManifestSelection {
    /// The entries.
    pub entries: Vec<ManifestEntry>,
    /// Rows read before filtering (after row-group pruning).
    pub rows_scanned: usize,
    /// Duplicate (year, tile) rows dropped (first kept).
    pub duplicates: usize,
    /// Rows whose lon/lat is not a tile centre, skipped.
    pub invalid: usize,
    /// Whether the file had `version`/`variant` columns to filter on.
    pub had_dataset_columns: bool,
}

impl ManifestSelection {
    /// Index by (year, lon_i, lat_i).
    pub fn index(&self) -> HashMap<(i32, i32, i32), usize> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| ((e.year, e.tile.lon_i(), e.tile.lat_i()), i))
            .collect()
    }

    /// Sorted distinct years.
    pub fn years(&self) -> Vec<i32> {
        let mut y: Vec<i32> = self.entries.iter().map(|e| e.year).collect();
        y.sort_unstable();
        y.dedup();
        y
    }
}

fn stat_range(s: &Statistics) -> Option<(f64, f64)> {
    match s {
        Statistics::Int32(v) => Some((f64::from(*v.min_opt()?), f64::from(*v.max_opt()?))),
        Statistics::Int64(v) => Some((*v.min_opt()? as f64, *v.max_opt()? as f64)),
        Statistics::Double(v) => Some((*v.min_opt()?, *v.max_opt()?)),
        Statistics::Float(v) => Some((f64::from(*v.min_opt()?), f64::from(*v.max_opt()?))),
        _ => None,
    }
}

/// Row groups whose statistics allow a match.
fn prune(meta: &ParquetMetaData, cols: &HashMap<String, usize>, q: &ManifestQuery) -> Vec<usize> {
    let mut keep = Vec::new();
    'rg: for (i, rg) in meta.row_groups().iter().enumerate() {
        let range = |name: &str| {
            cols.get(name)
                .and_then(|&c| rg.column(c).statistics())
                .and_then(stat_range)
        };
        if let Some(y) = q.year
            && let Some((lo, hi)) = range("year")
            && (f64::from(y) < lo || f64::from(y) > hi)
        {
            continue 'rg;
        }
        if let Some(b) = q.bbox {
            if let Some((lo, hi)) = range("lon")
                && (b.east < lo || b.west > hi)
            {
                continue 'rg;
            }
            if let Some((lo, hi)) = range("lat")
                && (b.north < lo || b.south > hi)
            {
                continue 'rg;
            }
        }
        keep.push(i);
    }
    keep
}

/// A numeric column viewed as i64 or f64 values.
enum Num<'a> {
    I64(&'a Int64Array),
    I32(&'a Int32Array),
    I16(&'a Int16Array),
    U32(&'a UInt32Array),
    U64(&'a UInt64Array),
    F64(&'a Float64Array),
    F32(&'a Float32Array),
}

impl<'a> Num<'a> {
    fn of(a: &'a ArrayRef) -> Option<Num<'a>> {
        let any = a.as_any();
        any.downcast_ref::<Int64Array>()
            .map(Num::I64)
            .or_else(|| any.downcast_ref::<Int32Array>().map(Num::I32))
            .or_else(|| any.downcast_ref::<Int16Array>().map(Num::I16))
            .or_else(|| any.downcast_ref::<UInt32Array>().map(Num::U32))
            .or_else(|| any.downcast_ref::<UInt64Array>().map(Num::U64))
            .or_else(|| any.downcast_ref::<Float64Array>().map(Num::F64))
            .or_else(|| any.downcast_ref::<Float32Array>().map(Num::F32))
    }

    fn f64(&self, i: usize) -> Option<f64> {
        let valid = |a: &dyn Array| a.is_valid(i);
        Some(match self {
            Num::I64(a) => valid(*a).then(|| a.value(i) as f64)?,
            Num::I32(a) => valid(*a).then(|| f64::from(a.value(i)))?,
            Num::I16(a) => valid(*a).then(|| f64::from(a.value(i)))?,
            Num::U32(a) => valid(*a).then(|| f64::from(a.value(i)))?,
            Num::U64(a) => valid(*a).then(|| a.value(i) as f64)?,
            Num::F64(a) => valid(*a).then(|| a.value(i))?,
            Num::F32(a) => valid(*a).then(|| f64::from(a.value(i)))?,
        })
    }

    fn i64(&self, i: usize) -> Option<i64> {
        match self {
            Num::I64(a) => a.is_valid(i).then(|| a.value(i)),
            Num::U64(a) => a.is_valid(i).then(|| a.value(i) as i64),
            _ => self.f64(i).filter(|v| v.is_finite()).map(|v| v as i64),
        }
    }
}

/// String columns in any of Arrow's string encodings.
enum Strs<'a> {
    S(&'a StringArray),
    L(&'a LargeStringArray),
    V(&'a StringViewArray),
}

impl<'a> Strs<'a> {
    fn of(a: &'a ArrayRef) -> Option<Strs<'a>> {
        let any = a.as_any();
        any.downcast_ref::<StringArray>()
            .map(Strs::S)
            .or_else(|| any.downcast_ref::<LargeStringArray>().map(Strs::L))
            .or_else(|| any.downcast_ref::<StringViewArray>().map(Strs::V))
    }
    fn get(&self, i: usize) -> Option<&str> {
        match self {
            Strs::S(a) => a.is_valid(i).then(|| a.value(i)),
            Strs::L(a) => a.is_valid(i).then(|| a.value(i)),
            Strs::V(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

fn parquet_err(what: &str, e: impl std::fmt::Display) -> ManifestError {
    ManifestError::Parquet {
        what: what.to_string(),
        reason: e.to_string(),
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a ArrayRef> {
    batch.schema().index_of(name).ok().map(|i| batch.column(i))
}

fn num<'a>(
    batch: &'a RecordBatch,
    name: &str,
    what: &str,
) -> Result<Option<Num<'a>>, ManifestError> {
    match column(batch, name) {
        None => Ok(None),
        Some(a) => Num::of(a)
            .map(Some)
            .ok_or_else(|| ManifestError::ColumnType {
                what: what.to_string(),
                column: name.to_string(),
                found: a.data_type().to_string(),
                expected: "a number".into(),
            }),
    }
}

/// Reads the selection of `q` from manifest bytes (`what` names them in errors).
pub fn read_manifest<R: ChunkReader + 'static>(
    data: R,
    what: &str,
    q: &ManifestQuery,
) -> Result<ManifestSelection, ManifestError> {
    crate::parquet_footer::check(&data).map_err(|e| parquet_err(what, e))?;
    crate::guard::contain(|| read_manifest_inner(data, what, q))
        .unwrap_or_else(|e| Err(parquet_err(what, e)))
}

fn read_manifest_inner<R: ChunkReader + 'static>(
    data: R,
    what: &str,
    q: &ManifestQuery,
) -> Result<ManifestSelection, ManifestError> {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(data).map_err(|e| parquet_err(what, e))?;
    let schema = builder.parquet_schema().clone();
    let names: HashMap<String, usize> = schema
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.path().parts().len() == 1)
        .map(|(i, c)| (c.name().to_string(), i))
        .collect();
    let missing: Vec<&str> = ["lat", "lon", "year", "grid_size"]
        .into_iter()
        .filter(|c| !names.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        return Err(ManifestError::MissingColumns {
            what: what.into(),
            missing: missing.join(", "),
        });
    }
    let mut wanted = vec!["lat", "lon", "year", "grid_size"];
    if q.with_scales_size && names.contains_key("scales_size") {
        wanted.push("scales_size");
    }
    let with_paths =
        q.with_paths && names.contains_key("grid_path") && names.contains_key("scales_path");
    if with_paths {
        wanted.extend(["grid_path", "scales_path"]);
    }
    let filter_version = q.version.is_some() && names.contains_key("version");
    let filter_variant = q.variant.is_some() && names.contains_key("variant");
    if filter_version {
        wanted.push("version");
    }
    if filter_variant {
        wanted.push("variant");
    }
    let groups = prune(builder.metadata(), &names, q);
    let mask = ProjectionMask::columns(&schema, wanted.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_row_groups(groups)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| parquet_err(what, e))?;
    let mut sel = ManifestSelection {
        had_dataset_columns: names.contains_key("version") || names.contains_key("variant"),
        ..Default::default()
    };
    let mut seen: HashMap<(i32, i32, i32), ()> = HashMap::new();
    for batch in reader {
        let batch = batch.map_err(|e| parquet_err(what, e))?;
        let n = batch.num_rows();
        sel.rows_scanned += n;
        let (Some(lat), Some(lon), Some(year), Some(size)) = (
            num(&batch, "lat", what)?,
            num(&batch, "lon", what)?,
            num(&batch, "year", what)?,
            num(&batch, "grid_size", what)?,
        ) else {
            return Err(parquet_err(what, "projected columns missing from a batch"));
        };
        let scales = num(&batch, "scales_size", what)?;
        let strs = |name: &str, on: bool| -> Result<Option<Strs<'_>>, ManifestError> {
            if !on {
                return Ok(None);
            }
            let a =
                column(&batch, name).ok_or_else(|| parquet_err(what, "missing string column"))?;
            Strs::of(a)
                .map(Some)
                .ok_or_else(|| ManifestError::ColumnType {
                    what: what.into(),
                    column: name.into(),
                    found: a.data_type().to_string(),
                    expected: "string".into(),
                })
        };
        let version = strs("version", filter_version)?;
        let variant = strs("variant", filter_variant)?;
        let gpaths = strs("grid_path", with_paths)?;
        let spaths = strs("scales_path", with_paths)?;
        for i in 0..n {
            let (Some(y), Some(x), Some(yy), Some(gs)) =
                (year.i64(i), lon.f64(i), lat.f64(i), size.i64(i))
            else {
                sel.invalid += 1;
                continue;
            };
            // A size is a byte count: a negative one (or a year outside i32) is a broken row.
            let ss = scales.as_ref().and_then(|s| s.i64(i));
            if gs < 0 || ss.is_some_and(|v| v < 0) || i32::try_from(y).is_err() {
                sel.invalid += 1;
                continue;
            }
            let y = y as i32;
            if q.year.is_some_and(|want| want != y) {
                continue;
            }
            if q.bbox.is_some_and(|b| !b.contains_inclusive(x, yy)) {
                continue;
            }
            if let (Some(col), Some(want)) = (&version, &q.version)
                && col.get(i) != Some(want.as_str())
            {
                continue;
            }
            if let (Some(col), Some(want)) = (&variant, &q.variant)
                && col.get(i) != Some(want.as_str())
            {
                continue;
            }
            let Ok(tile) = TileId::from_keys(coord_key(x), coord_key(yy)) else {
                sel.invalid += 1;
                continue;
            };
            if seen.insert((y, tile.lon_i(), tile.lat_i()), ()).is_some() {
                sel.duplicates += 1;
                continue;
            }
            sel.entries.push(ManifestEntry {
                year: y,
                tile,
                grid_size: gs,
                scales_size: ss,
                paths: match (&gpaths, &spaths) {
                    (Some(g), Some(s)) => Some((
                        g.get(i).unwrap_or("").to_string(),
                        s.get(i).unwrap_or("").to_string(),
                    )),
                    _ => None,
                },
            });
        }
    }
    Ok(sel)
}

/// Reads a manifest file.
pub fn read_manifest_file(
    path: &Path,
    q: &ManifestQuery,
) -> Result<ManifestSelection, ManifestError> {
    let f = File::open(path).map_err(|source| ManifestError::Io {
        path: path.display().to_string(),
        source,
    })?;
    read_manifest(f, &path.display().to_string(), q)
}

/// Reads manifest bytes held in memory.
pub fn read_manifest_bytes(
    bytes: Bytes,
    what: &str,
    q: &ManifestQuery,
) -> Result<ManifestSelection, ManifestError> {
    read_manifest(bytes, what, q)
}

/// Reads every column of every row of a `manifest.parquet` (for checking a mirror).
/// Rows whose lon/lat is not a tile centre are an error.
pub fn read_manifest_records<R: ChunkReader + 'static>(
    data: R,
    what: &str,
) -> Result<Vec<ManifestRecord>, ManifestError> {
    crate::parquet_footer::check(&data).map_err(|e| parquet_err(what, e))?;
    crate::guard::contain(|| read_records_inner(data, what))
        .unwrap_or_else(|e| Err(parquet_err(what, e)))
}

fn read_records_inner<R: ChunkReader + 'static>(
    data: R,
    what: &str,
) -> Result<Vec<ManifestRecord>, ManifestError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(data)
        .map_err(|e| parquet_err(what, e))?
        .build()
        .map_err(|e| parquet_err(what, e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| parquet_err(what, e))?;
        let need = |name: &str| {
            column(&batch, name).ok_or_else(|| ManifestError::MissingColumns {
                what: what.into(),
                missing: name.into(),
            })
        };
        let strs = |name: &str| -> Result<Strs<'_>, ManifestError> {
            let a = need(name)?;
            Strs::of(a).ok_or_else(|| ManifestError::ColumnType {
                what: what.into(),
                column: name.into(),
                found: a.data_type().to_string(),
                expected: "string".into(),
            })
        };
        let nums = |name: &str| -> Result<Num<'_>, ManifestError> {
            num(&batch, name, what)?.ok_or_else(|| ManifestError::MissingColumns {
                what: what.into(),
                missing: name.into(),
            })
        };
        let ts = |name: &str| -> Result<&TimestampNanosecondArray, ManifestError> {
            let a = need(name)?;
            a.as_any()
                .downcast_ref::<TimestampNanosecondArray>()
                .ok_or_else(|| ManifestError::ColumnType {
                    what: what.into(),
                    column: name.into(),
                    found: a.data_type().to_string(),
                    expected: "timestamp[ns, tz=UTC]".into(),
                })
        };
        let (version, variant, directory, grid_path, scales_path) = (
            strs("version")?,
            strs("variant")?,
            strs("directory")?,
            strs("grid_path")?,
            strs("scales_path")?,
        );
        let (year, lon, lat, gsize, ssize) = (
            nums("year")?,
            nums("lon")?,
            nums("lat")?,
            nums("grid_size")?,
            nums("scales_size")?,
        );
        let (gm, sm) = (ts("grid_mtime")?, ts("scales_mtime")?);
        for i in 0..batch.num_rows() {
            let bad = |c: &str| parquet_err(what, format!("row {i}: null or invalid {c}"));
            let tile = TileId::from_keys(
                coord_key(lon.f64(i).ok_or_else(|| bad("lon"))?),
                coord_key(lat.f64(i).ok_or_else(|| bad("lat"))?),
            )
            .map_err(|e| parquet_err(what, format!("row {i}: {e}")))?;
            let s = |c: &Strs<'_>, n: &str| c.get(i).map(str::to_string).ok_or_else(|| bad(n));
            out.push(ManifestRecord {
                version: s(&version, "version")?,
                variant: s(&variant, "variant")?,
                year: year.i64(i).ok_or_else(|| bad("year"))? as i32,
                tile,
                directory: s(&directory, "directory")?,
                grid_path: s(&grid_path, "grid_path")?,
                scales_path: s(&scales_path, "scales_path")?,
                grid_mtime_ns: if gm.is_valid(i) { gm.value(i) } else { 0 },
                scales_mtime_ns: if sm.is_valid(i) { sm.value(i) } else { 0 },
                grid_size: gsize.i64(i).ok_or_else(|| bad("grid_size"))?,
                scales_size: ssize.i64(i).ok_or_else(|| bad("scales_size"))?,
            });
        }
    }
    Ok(out)
}

/// Reads every row of a `landmasks.parquet`.
pub fn read_landmask_records<R: ChunkReader + 'static>(
    data: R,
    what: &str,
) -> Result<Vec<LandmaskRecord>, ManifestError> {
    crate::parquet_footer::check(&data).map_err(|e| parquet_err(what, e))?;
    crate::guard::contain(|| {
        let reader = ParquetRecordBatchReaderBuilder::try_new(data)
            .map_err(|e| parquet_err(what, e))?
            .build()
            .map_err(|e| parquet_err(what, e))?;
        let mut out = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| parquet_err(what, e))?;
            let missing = |n: &str| ManifestError::MissingColumns {
                what: what.into(),
                missing: n.into(),
            };
            let lon = num(&batch, "lon", what)?.ok_or_else(|| missing("lon"))?;
            let lat = num(&batch, "lat", what)?.ok_or_else(|| missing("lat"))?;
            let size = num(&batch, "file_size", what)?.ok_or_else(|| missing("file_size"))?;
            let key = column(&batch, "key")
                .and_then(Strs::of)
                .ok_or_else(|| missing("key"))?;
            let mtime = column(&batch, "mtime")
                .and_then(|a| a.as_any().downcast_ref::<TimestampNanosecondArray>());
            for i in 0..batch.num_rows() {
                let bad = |c: &str| parquet_err(what, format!("row {i}: null or invalid {c}"));
                let tile = TileId::from_keys(
                    coord_key(lon.f64(i).ok_or_else(|| bad("lon"))?),
                    coord_key(lat.f64(i).ok_or_else(|| bad("lat"))?),
                )
                .map_err(|e| parquet_err(what, format!("row {i}: {e}")))?;
                out.push(LandmaskRecord {
                    tile,
                    file_size: size.i64(i).ok_or_else(|| bad("file_size"))?,
                    mtime_ns: mtime.filter(|m| m.is_valid(i)).map_or(0, |m| m.value(i)),
                    key: key.get(i).ok_or_else(|| bad("key"))?.to_string(),
                });
            }
        }
        Ok(out)
    })
    .unwrap_or_else(|e| Err(parquet_err(what, e)))
}

/// Reads `landmasks.parquet`: tile → file size. Requires `lat, lon, file_size`.
pub fn read_landmasks<R: ChunkReader + 'static>(
    data: R,
    what: &str,
) -> Result<HashMap<TileId, i64>, ManifestError> {
    crate::parquet_footer::check(&data).map_err(|e| parquet_err(what, e))?;
    crate::guard::contain(|| read_landmasks_inner(data, what))
        .unwrap_or_else(|e| Err(parquet_err(what, e)))
}

fn read_landmasks_inner<R: ChunkReader + 'static>(
    data: R,
    what: &str,
) -> Result<HashMap<TileId, i64>, ManifestError> {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(data).map_err(|e| parquet_err(what, e))?;
    let schema = builder.parquet_schema().clone();
    let present: Vec<String> = schema
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let missing: Vec<&str> = ["lat", "lon", "file_size"]
        .into_iter()
        .filter(|c| !present.iter().any(|p| p == c))
        .collect();
    if !missing.is_empty() {
        return Err(ManifestError::MissingColumns {
            what: what.into(),
            missing: missing.join(", "),
        });
    }
    let mask = ProjectionMask::columns(&schema, ["lat", "lon", "file_size"]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| parquet_err(what, e))?;
    let mut out = HashMap::new();
    for batch in reader {
        let batch = batch.map_err(|e| parquet_err(what, e))?;
        let (Some(lat), Some(lon), Some(size)) = (
            num(&batch, "lat", what)?,
            num(&batch, "lon", what)?,
            num(&batch, "file_size", what)?,
        ) else {
            return Err(parquet_err(what, "projected columns missing from a batch"));
        };
        for i in 0..batch.num_rows() {
            if let (Some(x), Some(y), Some(s)) = (lon.f64(i), lat.f64(i), size.i64(i))
                && let Ok(t) = TileId::from_keys(coord_key(x), coord_key(y))
            {
                out.entry(t).or_insert(s);
            }
        }
    }
    Ok(out)
}
