//! Point tables for sampling: read from CSV (`lon,lat[,...]`), GeoJSON or (Geo)Parquet,
//! keeping every other column; written as CSV, Parquet (input columns + `emb_0..emb_N`) or
//! NPY (an (N, bands) float32 array in input order).

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, Int64Array,
    LargeBinaryArray, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use tessera_core::Crs;

use crate::error::{ClientError, Result};

/// A column carried from input to output.
#[derive(Debug, Clone)]
pub enum Column {
    /// Text (CSV values, GeoJSON strings).
    Text(String, Vec<Option<String>>),
    /// Numbers.
    Float(String, Vec<Option<f64>>),
    /// Integers.
    Int(String, Vec<Option<i64>>),
    /// Booleans.
    Bool(String, Vec<Option<bool>>),
    /// An Arrow column from a Parquet input.
    Arrow(String, ArrayRef),
}

impl Column {
    /// The column name.
    pub fn name(&self) -> &str {
        match self {
            Column::Text(n, _)
            | Column::Float(n, _)
            | Column::Int(n, _)
            | Column::Bool(n, _)
            | Column::Arrow(n, _) => n,
        }
    }

    fn to_arrow(&self) -> ArrayRef {
        match self {
            Column::Text(_, v) => Arc::new(StringArray::from(v.clone())),
            Column::Float(_, v) => Arc::new(Float64Array::from(v.clone())),
            Column::Int(_, v) => Arc::new(Int64Array::from(v.clone())),
            Column::Bool(_, v) => Arc::new(BooleanArray::from(v.clone())),
            Column::Arrow(_, a) => a.clone(),
        }
    }

    /// Row `i` as text (empty when null).
    pub fn cell(&self, i: usize) -> String {
        match self {
            Column::Text(_, v) => v[i].clone().unwrap_or_default(),
            Column::Float(_, v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Column::Int(_, v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Column::Bool(_, v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Column::Arrow(_, a) => {
                if a.is_null(i) {
                    return String::new();
                }
                let opts = arrow_cast::display::FormatOptions::default();
                arrow_cast::display::ArrayFormatter::try_new(a.as_ref(), &opts)
                    .map(|f| f.value(i).to_string())
                    .unwrap_or_default()
            }
        }
    }
}

/// Points with their other columns.
#[derive(Debug, Clone, Default)]
pub struct PointTable {
    /// Longitudes (WGS84).
    pub lon: Vec<f64>,
    /// Latitudes (WGS84).
    pub lat: Vec<f64>,
    /// The input's columns, in order (for CSV and GeoJSON inputs, lon/lat among them).
    pub columns: Vec<Column>,
}

impl PointTable {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.lon.len()
    }

    /// True without points.
    pub fn is_empty(&self) -> bool {
        self.lon.is_empty()
    }

    fn check(&self, path: &Path, stated: bool) -> Result<()> {
        for (i, (&x, &y)) in self.lon.iter().zip(&self.lat).enumerate() {
            if !x.is_finite() || !y.is_finite() || x.abs() > 180.0 || y.abs() > 90.0 {
                let hint = if stated || !x.is_finite() || !y.is_finite() {
                    ""
                } else {
                    "; projected coordinates need their CRS: --crs EPSG:3857 or a UTM zone (EPSG:326NN/327NN)"
                };
                return Err(ClientError::Usage(format!(
                    "{}: point {} ({x}, {y}) is not a finite WGS84 longitude/latitude{hint}",
                    path.display(),
                    i + 1
                )));
            }
        }
        Ok(())
    }
}

fn infer(name: String, raw: Vec<Option<String>>) -> Column {
    let vals: Vec<&str> = raw.iter().flatten().map(String::as_str).collect();
    if !vals.is_empty() && vals.iter().all(|v| v.parse::<i64>().is_ok()) {
        return Column::Int(
            name,
            raw.iter()
                .map(|v| v.as_deref().and_then(|s| s.parse().ok()))
                .collect(),
        );
    }
    if !vals.is_empty() && vals.iter().all(|v| v.parse::<f64>().is_ok()) {
        return Column::Float(
            name,
            raw.iter()
                .map(|v| v.as_deref().and_then(|s| s.parse().ok()))
                .collect(),
        );
    }
    Column::Text(name, raw)
}

/// Reads points from CSV, GeoJSON or (Geo)Parquet, by extension.
pub fn read_points(path: &Path) -> Result<PointTable> {
    read_points_in(path, None)
}

/// The CRS of a file's coordinates: the one the file states, else `given`, else WGS84. A
/// file that states one CRS while `given` is another is refused.
pub fn coordinate_crs(stated: Option<Crs>, given: Option<Crs>, path: &Path) -> Result<Crs> {
    match (stated, given) {
        (Some(s), Some(g)) if s != g => Err(ClientError::Usage(format!(
            "{}: the file states its CRS is {s}, but --crs says {g}; drop --crs or fix the file",
            path.display()
        ))),
        (Some(c), _) | (None, Some(c)) => Ok(c),
        (None, None) => Ok(Crs::Wgs84),
    }
}

/// Reads points like [`read_points`], with `crs` the CRS of coordinates in files that do not
/// state one (CSV `x,y` or `lon,lat` columns, Parquet without GeoParquet metadata). Points
/// come back in WGS84.
pub fn read_points_in(path: &Path, crs: Option<Crs>) -> Result<PointTable> {
    if !path.is_file() {
        return Err(ClientError::Usage(format!(
            "points file {} does not exist",
            path.display()
        )));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let t = match ext.as_str() {
        "csv" | "txt" => read_csv(path, crs)?,
        "geojson" | "json" => read_geojson_points(path, crs)?,
        // The Parquet decoder asserts on some corrupt files; a panic there is an error.
        "parquet" | "geoparquet" | "pq" => {
            tessera_formats::guard::contain(|| read_parquet_points(path, crs)).unwrap_or_else(
                |e| {
                    Err(ClientError::Usage(format!(
                        "{}: not a readable Parquet file: {e}",
                        path.display()
                    )))
                },
            )?
        }
        _ => {
            return Err(ClientError::Usage(format!(
                "{}: unsupported points file; use .csv (lon,lat,...), .geojson or .parquet/.geoparquet",
                path.display()
            )));
        }
    };
    t.check(path, crs.is_some())?;
    Ok(t)
}

const LON_NAMES: [&str; 6] = ["lon", "longitude", "lng", "x", "easting", "east"];
const LAT_NAMES: [&str; 5] = ["lat", "latitude", "y", "northing", "north"];

/// Projects a table's coordinates from `crs` to WGS84, refusing what lands off the globe.
fn unproject(lon: &mut [f64], lat: &mut [f64], crs: Crs, path: &Path) -> Result<()> {
    if crs == Crs::Wgs84 {
        return Ok(());
    }
    for (i, (x, y)) in lon.iter_mut().zip(lat.iter_mut()).enumerate() {
        if !x.is_finite() || !y.is_finite() {
            continue; // the range check names it
        }
        let (a, b) = crs.inverse(*x, *y);
        if !a.is_finite() || !b.is_finite() || a.abs() > 180.0 || b.abs() > 90.0 {
            return Err(ClientError::Usage(format!(
                "{}: point {} ({x}, {y}) is off the globe in {crs}; is the CRS right?",
                path.display(),
                i + 1
            )));
        }
        (*x, *y) = (a, b);
    }
    Ok(())
}

fn read_csv(path: &Path, crs: Option<Crs>) -> Result<PointTable> {
    let bad = |m: String| ClientError::Usage(format!("{}: {m}", path.display()));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| bad(e.to_string()))?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    for r in rdr.records() {
        let r = r.map_err(|e| bad(format!("malformed CSV: {e}")))?;
        rows.push(r.iter().map(str::to_string).collect());
    }
    let Some(first) = rows.first() else {
        return Ok(PointTable::default());
    };
    let header = first.iter().any(|c| c.parse::<f64>().is_err());
    let (names, data): (Vec<String>, &[Vec<String>]) = if header {
        (first.clone(), &rows[1..])
    } else {
        (
            (0..first.len()).map(|i| format!("col{i}")).collect(),
            &rows[..],
        )
    };
    let find = |cands: &[&str]| {
        names
            .iter()
            .position(|n| cands.contains(&n.to_ascii_lowercase().as_str()))
    };
    let (li, ai) = match (find(&LON_NAMES), find(&LAT_NAMES)) {
        (Some(a), Some(b)) => (a, b),
        _ if !header && names.len() >= 2 => (0, 1),
        _ => {
            return Err(bad(
                "needs lon and lat columns (or two leading numeric columns without a header)"
                    .into(),
            ));
        }
    };
    let mut lon = Vec::with_capacity(data.len());
    let mut lat = Vec::with_capacity(data.len());
    for (i, r) in data.iter().enumerate() {
        let num = |j: usize| -> Result<f64> {
            r.get(j).and_then(|v| v.parse::<f64>().ok()).ok_or_else(|| {
                bad(format!(
                    "row {}: '{}' is not a number",
                    i + 1 + usize::from(header),
                    r.get(j).map_or("", |s| s)
                ))
            })
        };
        lon.push(num(li)?);
        lat.push(num(ai)?);
    }
    unproject(&mut lon, &mut lat, crs.unwrap_or(Crs::Wgs84), path)?;
    let columns = names
        .into_iter()
        .enumerate()
        .map(|(j, n)| {
            infer(
                n,
                data.iter()
                    .map(|r| r.get(j).cloned().filter(|v| !v.is_empty()))
                    .collect(),
            )
        })
        .collect();
    Ok(PointTable { lon, lat, columns })
}

fn read_geojson_points(path: &Path, given: Option<Crs>) -> Result<PointTable> {
    let text = std::fs::read_to_string(path).map_err(|e| ClientError::io(path, e))?;
    let bad = |m: String| ClientError::Usage(format!("{}: {m}", path.display()));
    let v: Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("malformed GeoJSON: {e}")))?;
    if v.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(bad("expected a GeoJSON FeatureCollection of Points".into()));
    }
    let feats = v
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no 'features' array".into()))?;
    let mut t = PointTable::default();
    let mut keys: Vec<String> = Vec::new();
    for (i, f) in feats.iter().enumerate() {
        let g = f
            .get("geometry")
            .ok_or_else(|| bad(format!("feature {}: no geometry", i + 1)))?;
        if g.get("type").and_then(Value::as_str) != Some("Point") {
            return Err(bad(format!(
                "feature {}: every geometry must be a non-empty Point",
                i + 1
            )));
        }
        let c = g
            .get("coordinates")
            .and_then(Value::as_array)
            .filter(|c| c.len() >= 2);
        let c = c.ok_or_else(|| bad(format!("feature {}: a Point needs [lon, lat]", i + 1)))?;
        let (x, y) = (c[0].as_f64(), c[1].as_f64());
        let (Some(x), Some(y)) = (x, y) else {
            return Err(bad(format!(
                "feature {}: coordinates must be numbers",
                i + 1
            )));
        };
        t.lon.push(x);
        t.lat.push(y);
        if let Some(p) = f.get("properties").and_then(Value::as_object) {
            for k in p.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    let crs = coordinate_crs(geojson_points_crs(&v).map_err(bad)?, given, path)?;
    unproject(&mut t.lon, &mut t.lat, crs, path)?;
    t.columns.push(Column::Float(
        "lon".into(),
        t.lon.iter().map(|v| Some(*v)).collect(),
    ));
    t.columns.push(Column::Float(
        "lat".into(),
        t.lat.iter().map(|v| Some(*v)).collect(),
    ));
    for k in keys {
        let vals: Vec<Option<&Value>> = feats
            .iter()
            .map(|f| {
                f.get("properties")
                    .and_then(|p| p.get(&k))
                    .filter(|v| !v.is_null())
            })
            .collect();
        let col = if vals.iter().flatten().all(|v| v.is_i64()) && vals.iter().any(Option::is_some) {
            Column::Int(k, vals.iter().map(|v| v.and_then(Value::as_i64)).collect())
        } else if vals.iter().flatten().all(|v| v.is_number()) && vals.iter().any(Option::is_some) {
            Column::Float(k, vals.iter().map(|v| v.and_then(Value::as_f64)).collect())
        } else if vals.iter().flatten().all(|v| v.is_boolean()) && vals.iter().any(Option::is_some)
        {
            Column::Bool(k, vals.iter().map(|v| v.and_then(Value::as_bool)).collect())
        } else {
            Column::Text(
                k,
                vals.iter()
                    .map(|v| v.map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string)))
                    .collect(),
            )
        };
        t.columns.push(col);
    }
    Ok(t)
}

fn geojson_points_crs(v: &Value) -> std::result::Result<Option<Crs>, String> {
    let Some(name) = v.pointer("/crs/properties/name").and_then(Value::as_str) else {
        return Ok(None);
    };
    let up = name.to_ascii_uppercase();
    if up.ends_with("CRS84") || up.ends_with("EPSG::4326") || up == "EPSG:4326" {
        return Ok(Some(Crs::Wgs84));
    }
    up.rsplit([':', '/'])
        .next()
        .and_then(|c| c.parse::<u32>().ok())
        .and_then(|c| Crs::from_epsg(c).ok())
        .map(Some)
        .ok_or_else(|| format!("unsupported CRS '{name}'"))
}

/// A WKB point's (x, y): ISO and EWKB, either byte order, with Z/M/SRID.
pub fn wkb_point(b: &[u8]) -> Option<(f64, f64)> {
    let le = *b.first()? == 1;
    let u32_at = |o: usize| -> Option<u32> {
        let a: [u8; 4] = b.get(o..o + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let f64_at = |o: usize| -> Option<f64> {
        let a: [u8; 8] = b.get(o..o + 8)?.try_into().ok()?;
        Some(if le {
            f64::from_le_bytes(a)
        } else {
            f64::from_be_bytes(a)
        })
    };
    let t = u32_at(1)?;
    let mut off = 5;
    if t & 0x2000_0000 != 0 {
        off += 4; // EWKB SRID
    }
    if (t & 0x0fff_ffff) % 1000 != 1 {
        return None;
    }
    Some((f64_at(off)?, f64_at(off + 8)?))
}

fn read_parquet_points(path: &Path, given: Option<Crs>) -> Result<PointTable> {
    let bad = |m: String| ClientError::Usage(format!("{}: {m}", path.display()));
    let f = File::open(path).map_err(|e| ClientError::io(path, e))?;
    tessera_formats::parquet_footer::check(&f).map_err(bad)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    let meta = builder.schema().metadata().get("geo").cloned();
    let (geom_col, crs) = match &meta {
        Some(m) => {
            let g: Value = serde_json::from_str(m)
                .map_err(|e| bad(format!("bad GeoParquet metadata: {e}")))?;
            let col = g
                .get("primary_column")
                .and_then(Value::as_str)
                .unwrap_or("geometry")
                .to_string();
            let c = g.pointer(&format!("/columns/{col}/crs"));
            // GeoParquet: a missing or null crs is OGC:CRS84.
            let crs = match c {
                None | Some(Value::Null) => Crs::Wgs84,
                Some(c) => {
                    let code = c.pointer("/id/code").and_then(|v| {
                        v.as_u64()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    });
                    match (c.pointer("/id/authority").and_then(Value::as_str), code) {
                        (Some("OGC"), _) => Crs::Wgs84,
                        (Some("EPSG"), Some(4326)) => Crs::Wgs84,
                        (Some("EPSG"), Some(n)) => {
                            Crs::from_epsg(n as u32).map_err(|e| bad(e.to_string()))?
                        }
                        _ => return Err(bad("unsupported CRS in the GeoParquet metadata".into())),
                    }
                }
            };
            (Some(col), coordinate_crs(Some(crs), given, path)?)
        }
        None => (None, given.unwrap_or(Crs::Wgs84)),
    };
    let reader = builder.build().map_err(|e| bad(e.to_string()))?;
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| bad(e.to_string()))?);
    }
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => return Ok(PointTable::default()),
    };
    let batch = arrow_select_concat(&schema, &batches).map_err(|e| bad(e.to_string()))?;
    let mut t = PointTable::default();
    let n = batch.num_rows();
    if let Some(gc) = geom_col.filter(|g| schema.index_of(g).is_ok()) {
        let a = batch.column(schema.index_of(&gc).map_err(|e| bad(e.to_string()))?);
        for i in 0..n {
            let bytes = a
                .as_any()
                .downcast_ref::<BinaryArray>()
                .map(|b| b.value(i).to_vec())
                .or_else(|| {
                    a.as_any()
                        .downcast_ref::<LargeBinaryArray>()
                        .map(|b| b.value(i).to_vec())
                });
            let (x, y) = bytes
                .as_deref()
                .filter(|_| a.is_valid(i))
                .and_then(wkb_point)
                .ok_or_else(|| {
                    bad(format!(
                        "row {}: the geometry must be a non-empty WKB Point",
                        i + 1
                    ))
                })?;
            let (lon, lat) = crs.inverse(x, y);
            t.lon.push(lon);
            t.lat.push(lat);
        }
    } else {
        let find = |c: &[&str]| {
            schema
                .fields()
                .iter()
                .position(|f| c.contains(&f.name().to_ascii_lowercase().as_str()))
        };
        let (Some(li), Some(ai)) = (find(&LON_NAMES), find(&LAT_NAMES)) else {
            return Err(bad(
                "needs a WKB geometry column (GeoParquet) or lon and lat columns".into(),
            ));
        };
        for (idx, out) in [(li, &mut t.lon), (ai, &mut t.lat)] {
            let a = arrow_cast::cast(batch.column(idx), &DataType::Float64)
                .map_err(|e| bad(e.to_string()))?;
            let a = a
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| bad("lon/lat must be numeric".into()))?;
            for i in 0..n {
                out.push(if a.is_valid(i) { a.value(i) } else { f64::NAN });
            }
        }
        unproject(&mut t.lon, &mut t.lat, crs, path)?;
    }
    for (i, f) in schema.fields().iter().enumerate() {
        t.columns
            .push(Column::Arrow(f.name().clone(), batch.column(i).clone()));
    }
    Ok(t)
}

fn arrow_select_concat(
    schema: &Arc<Schema>,
    batches: &[RecordBatch],
) -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
    if batches.len() == 1 {
        return Ok(batches[0].clone());
    }
    let mut cols = Vec::new();
    for i in 0..schema.fields().len() {
        let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
        cols.push(arrow_select::concat::concat(&arrays)?);
    }
    RecordBatch::try_new(schema.clone(), cols)
}

/// Per-point sampling details, written with `--metadata`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PointMeta {
    /// The tile, when the point falls in a covered tile.
    pub tile: Option<tessera_core::TileId>,
    /// Pixel row.
    pub row: Option<i64>,
    /// Pixel column.
    pub col: Option<i64>,
    /// Tile CRS.
    pub crs: Option<tessera_core::Crs>,
    /// `ok`, `no_coverage` or `pixel_out_of_bounds`.
    pub status: &'static str,
}

/// Writes the sampled values next to the input columns: `.csv`, `.parquet` or `.npy`.
pub fn write_samples(
    path: &Path,
    table: &PointTable,
    values: &[f32],
    bands: usize,
    meta: Option<&[PointMeta]>,
) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| ClientError::io(d, e))?;
    }
    let n = table.len();
    let io = |e: std::io::Error| ClientError::io(path, e);
    // The columns we add replace input columns of the same name (an `emb_3` or `status`
    // column in the input), so every output column name is unique.
    let added: HashSet<String> = (0..bands)
        .map(|b| format!("emb_{b}"))
        .chain(
            meta.iter()
                .flat_map(|_| ["tile", "pixel_row", "pixel_col", "crs", "status"])
                .map(String::from),
        )
        .collect();
    let kept: Vec<&Column> = table
        .columns
        .iter()
        .filter(|c| !added.contains(c.name()))
        .collect();
    match ext.as_str() {
        "npy" => tessera_formats::npy::write_npy_file(path, &[n, bands], values)
            .map_err(|e| ClientError::Format(e.to_string())),
        "csv" => tessera_formats::atomic::write_atomic(path, |w| {
            let mut c = csv::Writer::from_writer(w);
            let mut header: Vec<String> = kept
                .iter()
                .filter(|c| !is_binary(c))
                .map(|c| c.name().to_string())
                .collect();
            if table.columns.is_empty() {
                header.extend(["lon".to_string(), "lat".to_string()]);
            }
            if meta.is_some() {
                header
                    .extend(["tile", "pixel_row", "pixel_col", "crs", "status"].map(String::from));
            }
            header.extend((0..bands).map(|b| format!("emb_{b}")));
            c.write_record(&header).map_err(std::io::Error::other)?;
            for i in 0..n {
                let mut rec: Vec<String> = kept
                    .iter()
                    .filter(|c| !is_binary(c))
                    .map(|c| c.cell(i))
                    .collect();
                if table.columns.is_empty() {
                    rec.extend([table.lon[i].to_string(), table.lat[i].to_string()]);
                }
                if let Some(m) = meta {
                    let m = &m[i];
                    rec.extend([
                        m.tile.map(|t| t.name()).unwrap_or_default(),
                        m.row.map(|v| v.to_string()).unwrap_or_default(),
                        m.col.map(|v| v.to_string()).unwrap_or_default(),
                        m.crs.map(|c| c.to_string()).unwrap_or_default(),
                        m.status.to_string(),
                    ]);
                }
                for v in &values[i * bands..(i + 1) * bands] {
                    rec.push(if v.is_nan() {
                        "NaN".into()
                    } else {
                        v.to_string()
                    });
                }
                c.write_record(&rec).map_err(std::io::Error::other)?;
            }
            c.flush()
        })
        .map_err(io),
        "parquet" | "geoparquet" | "pq" => {
            let mut fields: Vec<Field> = Vec::new();
            let mut cols: Vec<ArrayRef> = Vec::new();
            for c in &kept {
                let a = c.to_arrow();
                fields.push(Field::new(c.name(), a.data_type().clone(), true));
                cols.push(a);
            }
            if table.columns.is_empty() {
                for (name, v) in [("lon", &table.lon), ("lat", &table.lat)] {
                    fields.push(Field::new(name, DataType::Float64, false));
                    cols.push(Arc::new(Float64Array::from(v.clone())));
                }
            }
            if let Some(m) = meta {
                let s = |f: &dyn Fn(&PointMeta) -> Option<String>| -> ArrayRef {
                    Arc::new(StringArray::from(m.iter().map(f).collect::<Vec<_>>()))
                };
                let i = |f: &dyn Fn(&PointMeta) -> Option<i64>| -> ArrayRef {
                    Arc::new(Int64Array::from(m.iter().map(f).collect::<Vec<_>>()))
                };
                for (name, a) in [
                    ("tile", s(&|p| p.tile.map(|t| t.name()))),
                    ("pixel_row", i(&|p| p.row)),
                    ("pixel_col", i(&|p| p.col)),
                    ("crs", s(&|p| p.crs.map(|c| c.to_string()))),
                    ("status", s(&|p| Some(p.status.to_string()))),
                ] {
                    fields.push(Field::new(name, a.data_type().clone(), true));
                    cols.push(a);
                }
            }
            for b in 0..bands {
                fields.push(Field::new(format!("emb_{b}"), DataType::Float32, true));
                cols.push(Arc::new(Float32Array::from_iter_values(
                    (0..n).map(|i| values[i * bands + b]),
                )));
            }
            let schema = Arc::new(Schema::new(fields));
            let batch = RecordBatch::try_new(schema.clone(), cols)
                .map_err(|e| ClientError::Format(e.to_string()))?;
            tessera_formats::atomic::write_atomic(path, |w| {
                let mut wr =
                    ArrowWriter::try_new(w, schema, None).map_err(std::io::Error::other)?;
                wr.write(&batch).map_err(std::io::Error::other)?;
                wr.close().map_err(std::io::Error::other)?;
                Ok(())
            })
            .map_err(io)
        }
        _ => Err(ClientError::Usage(format!(
            "{}: unsupported output; use .csv, .parquet or .npy",
            path.display()
        ))),
    }
}

fn is_binary(c: &Column) -> bool {
    matches!(c, Column::Arrow(_, a) if matches!(a.data_type(), DataType::Binary | DataType::LargeBinary | DataType::BinaryView))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wkb() {
        let mut b = vec![1u8];
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&0.5f64.to_le_bytes());
        b.extend_from_slice(&52.25f64.to_le_bytes());
        assert_eq!(wkb_point(&b), Some((0.5, 52.25)));
        let mut e = vec![0u8];
        e.extend_from_slice(&(0x2000_0001u32).to_be_bytes());
        e.extend_from_slice(&4326u32.to_be_bytes());
        e.extend_from_slice(&(-3.0f64).to_be_bytes());
        e.extend_from_slice(&40.0f64.to_be_bytes());
        assert_eq!(wkb_point(&e), Some((-3.0, 40.0)));
        b[1] = 3; // polygon
        assert_eq!(wkb_point(&b), None);
        assert_eq!(wkb_point(&[1, 1]), None);
    }

    #[test]
    fn projected_csv_columns_read_in_the_given_crs() {
        let d = tempfile::tempdir().unwrap();
        let merc = Crs::WebMercator;
        let (x, y) = merc.forward(0.5, 52.25);
        let p = d.path().join("p.csv");
        std::fs::write(&p, format!("easting,northing,class\n{x},{y},a\n")).unwrap();
        // Without --crs: refused, with a hint.
        let e = read_points(&p).unwrap_err().to_string();
        assert!(e.contains("--crs EPSG:3857"), "{e}");
        let t = read_points_in(&p, Some(merc)).unwrap();
        assert!((t.lon[0] - 0.5).abs() < 1e-9 && (t.lat[0] - 52.25).abs() < 1e-9);
        // A stated CRS wins over none and refuses a contradicting one.
        assert_eq!(
            coordinate_crs(Some(merc), None, &p).unwrap(),
            Crs::WebMercator
        );
        let e = coordinate_crs(Some(merc), Some(Crs::Wgs84), &p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("states its CRS is EPSG:3857"), "{e}");
        // Off the globe in the given CRS.
        std::fs::write(&p, "x,y\n1e12,1e12\n").unwrap();
        let e = read_points_in(&p, Some(merc)).unwrap_err().to_string();
        assert!(
            e.contains("off the globe") || e.contains("not a finite"),
            "{e}"
        );
    }
}
