//! The training table: one labelled pixel per row with its embedding in `emb_0..emb_{d-1}`
//! (what `tessera sample` and `tessera labels` write, or what a user prepares), read from
//! Parquet or CSV. Rows without an embedding (outside coverage, NaN) or without a label are
//! left out and counted in the notes.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::classes::ClassTable;
use crate::{LearnError, Result, usage};

/// Classification or regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Task {
    /// Classes when the labels are text or at most 20 distinct numbers, else regression.
    #[default]
    Auto,
    /// Classes.
    Classification,
    /// A measured value.
    Regression,
}

/// What the rows are labelled with.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A class index per row into the table.
    Class(Vec<u32>, ClassTable),
    /// A value per row.
    Value(Vec<f64>),
}

impl Target {
    /// The class table, for a classification.
    pub fn classes(&self) -> Option<&ClassTable> {
        match self {
            Target::Class(_, t) => Some(t),
            Target::Value(_) => None,
        }
    }
}

/// Labelled embeddings.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    /// Rows.
    pub n: usize,
    /// Embedding dimensions.
    pub d: usize,
    /// Row-major embeddings, `n * d`.
    pub x: Vec<f32>,
    /// The labels.
    pub target: Target,
    /// A group per row (a polygon id): rows of a group stay in one fold.
    pub groups: Option<Vec<u64>>,
    /// WGS84 longitude per row, when the table has one.
    pub lon: Option<Vec<f64>>,
    /// WGS84 latitude per row.
    pub lat: Option<Vec<f64>>,
    /// The row of the input each row came from (0-based).
    pub source_row: Vec<usize>,
    /// The label field used.
    pub label_field: String,
    /// What was left out and why.
    pub notes: Vec<String>,
}

/// How to read a training table.
#[derive(Debug, Clone, Default)]
pub struct TableOptions {
    /// The label column; by default the first of `label`, `class_name`, `class`,
    /// `class_id`, `value`.
    pub label_field: Option<String>,
    /// The group column; by default `group` or `polygon_id` when present.
    pub group_field: Option<String>,
    /// Classification, regression or decided from the labels.
    pub task: Task,
    /// A fixed class table (ids, names, colours); labels not in it are an error.
    pub classes: Option<ClassTable>,
}

const LABEL_FIELDS: &[&str] = &["label", "class_name", "class", "class_id", "value"];
const GROUP_FIELDS: &[&str] = &["group", "polygon_id", "group_id"];

/// A column read as text and as numbers.
struct RawColumn {
    text: Vec<Option<String>>,
    num: Vec<Option<f64>>,
}

struct RawTable {
    names: Vec<String>,
    columns: Vec<RawColumn>,
    rows: usize,
}

fn read_parquet(path: &Path) -> Result<RawTable> {
    let io = |e: String| LearnError::Io(format!("{}: {e}", path.display()));
    let f = File::open(path).map_err(|e| io(e.to_string()))?;
    let rd = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| io(format!("not a Parquet file: {e}")))?
        .with_batch_size(65_536)
        .build()
        .map_err(|e| io(e.to_string()))?;
    let mut names: Vec<String> = Vec::new();
    let mut columns: Vec<RawColumn> = Vec::new();
    let mut rows = 0;
    for batch in rd {
        let batch: RecordBatch = batch.map_err(|e| io(e.to_string()))?;
        if names.is_empty() {
            names = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            columns = names
                .iter()
                .map(|_| RawColumn {
                    text: Vec::new(),
                    num: Vec::new(),
                })
                .collect();
        }
        for (i, col) in batch.columns().iter().enumerate() {
            append(&mut columns[i], col).map_err(io)?;
        }
        rows += batch.num_rows();
    }
    Ok(RawTable {
        names,
        columns,
        rows,
    })
}

fn append(dst: &mut RawColumn, a: &ArrayRef) -> std::result::Result<(), String> {
    let n = a.len();
    let numeric = a.data_type().is_numeric() || matches!(a.data_type(), DataType::Boolean);
    if numeric {
        let f = arrow_cast::cast(a, &DataType::Float64).map_err(|e| e.to_string())?;
        let f = f
            .as_any()
            .downcast_ref::<arrow_array::Float64Array>()
            .ok_or("cast to float64")?;
        let int_like = a.data_type().is_integer();
        for i in 0..n {
            if f.is_null(i) {
                dst.num.push(None);
                dst.text.push(None);
            } else {
                let v = f.value(i);
                dst.num.push(Some(v));
                dst.text.push(Some(if int_like {
                    format!("{}", v as i64)
                } else {
                    v.to_string()
                }));
            }
        }
    } else if matches!(
        a.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _)
    ) {
        let s = arrow_cast::cast(a, &DataType::Utf8).map_err(|e| e.to_string())?;
        let s = s
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .ok_or("cast to text")?;
        for i in 0..n {
            let t = (!s.is_null(i)).then(|| s.value(i).to_string());
            dst.num
                .push(t.as_deref().and_then(|t| t.trim().parse().ok()));
            dst.text.push(t);
        }
    } else {
        // Geometry (WKB) and other binary columns: not labels or features.
        dst.num.extend(std::iter::repeat_n(None, n));
        dst.text.extend(std::iter::repeat_n(None, n));
    }
    Ok(())
}

fn read_csv(path: &Path) -> Result<RawTable> {
    let io = |e: String| LearnError::Io(format!("{}: {e}", path.display()));
    let mut rd = csv::Reader::from_path(path).map_err(|e| io(e.to_string()))?;
    let names: Vec<String> = rd
        .headers()
        .map_err(|e| io(e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut columns: Vec<RawColumn> = names
        .iter()
        .map(|_| RawColumn {
            text: Vec::new(),
            num: Vec::new(),
        })
        .collect();
    let mut rows = 0;
    for rec in rd.records() {
        let rec = rec.map_err(|e| io(e.to_string()))?;
        for (i, c) in columns.iter_mut().enumerate() {
            let v = rec.get(i).unwrap_or("").trim();
            if v.is_empty() {
                c.text.push(None);
                c.num.push(None);
            } else {
                c.num.push(v.parse().ok());
                c.text.push(Some(v.to_string()));
            }
        }
        rows += 1;
    }
    Ok(RawTable {
        names,
        columns,
        rows,
    })
}

impl TrainingSet {
    /// Reads a training table (`.parquet` or `.csv`).
    pub fn read(path: &Path, opts: &TableOptions) -> Result<TrainingSet> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let raw = match ext.as_str() {
            "parquet" | "pq" | "geoparquet" => read_parquet(path)?,
            "csv" => read_csv(path)?,
            _ => {
                return Err(usage(format!(
                    "{}: a training table is .parquet or .csv (from `tessera sample` or \
                     `tessera labels`)",
                    path.display()
                )));
            }
        };
        Self::from_raw(raw, opts).map_err(|e| match e {
            LearnError::Usage(m) => usage(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    fn from_raw(raw: RawTable, opts: &TableOptions) -> Result<TrainingSet> {
        let col = |name: &str| raw.names.iter().position(|n| n == name);
        let mut d = 0;
        while col(&format!("emb_{d}")).is_some() {
            d += 1;
        }
        if d == 0 {
            return Err(usage(
                "no embedding columns (emb_0, emb_1, ...): sample the embeddings at the \
                 labels first (`tessera sample --points LABELS -o TABLE.parquet`)",
            ));
        }
        let emb: Vec<&RawColumn> = (0..d)
            .map(|b| &raw.columns[col(&format!("emb_{b}")).expect("found")])
            .collect();
        let label_field = match &opts.label_field {
            Some(f) => {
                if col(f).is_none() {
                    return Err(usage(format!(
                        "no column \"{f}\" (columns: {})",
                        raw.names
                            .iter()
                            .filter(|n| !n.starts_with("emb_"))
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                f.clone()
            }
            None => LABEL_FIELDS
                .iter()
                .find(|f| col(f).is_some())
                .map(|f| f.to_string())
                .ok_or_else(|| {
                    usage(format!(
                        "no label column: name it with --class-field (looked for {})",
                        LABEL_FIELDS.join(", ")
                    ))
                })?,
        };
        let labels = &raw.columns[col(&label_field).expect("checked")];
        let group_col = match &opts.group_field {
            Some(g) => Some(col(g).ok_or_else(|| usage(format!("no group column \"{g}\"")))?),
            None => GROUP_FIELDS.iter().find_map(|g| col(g)),
        };
        let lon_col = col("lon").or_else(|| col("longitude"));
        let lat_col = col("lat").or_else(|| col("latitude"));

        let mut keep = Vec::with_capacity(raw.rows);
        let (mut no_emb, mut no_label) = (0usize, 0usize);
        for r in 0..raw.rows {
            if labels.text[r].is_none() {
                no_label += 1;
                continue;
            }
            if emb.iter().any(|c| c.num[r].is_none_or(|v| !v.is_finite())) {
                no_emb += 1;
                continue;
            }
            keep.push(r);
        }
        let mut notes = Vec::new();
        if no_emb > 0 {
            notes.push(format!(
                "{no_emb} row(s) without an embedding (outside coverage, water or nodata) left out"
            ));
        }
        if no_label > 0 {
            notes.push(format!("{no_label} row(s) without a label left out"));
        }
        if keep.is_empty() {
            return Err(usage(format!(
                "no row has both a label (\"{label_field}\") and an embedding: do the \
                 labels overlap the coverage (`tessera coverage`)?"
            )));
        }
        let n = keep.len();
        let mut x = vec![0f32; n * d];
        for (i, &r) in keep.iter().enumerate() {
            for (b, c) in emb.iter().enumerate() {
                x[i * d + b] = c.num[r].expect("checked") as f32;
            }
        }
        let text: Vec<&str> = keep
            .iter()
            .map(|&r| labels.text[r].as_deref().expect("checked"))
            .collect();
        let nums: Option<Vec<f64>> = keep.iter().map(|&r| labels.num[r]).collect();
        let task = match opts.task {
            Task::Auto => {
                let distinct: HashSet<&str> = text.iter().copied().collect();
                match &nums {
                    Some(v) if distinct.len() > 20 && v.iter().all(|x| x.is_finite()) => {
                        Task::Regression
                    }
                    _ => Task::Classification,
                }
            }
            t => t,
        };
        let target = match task {
            Task::Regression => {
                let v = nums.ok_or_else(|| {
                    usage(format!(
                        "a regression needs numbers in \"{label_field}\"; some are text"
                    ))
                })?;
                Target::Value(v)
            }
            _ => {
                let table = match &opts.classes {
                    Some(t) => t.clone(),
                    None => ClassTable::from_labels(text.iter().copied())?,
                };
                let mut y = Vec::with_capacity(n);
                for t in &text {
                    let i = table.index_of(t).ok_or_else(|| {
                        usage(format!(
                            "label \"{t}\" is not in the class table ({})",
                            table.names().join(", ")
                        ))
                    })?;
                    y.push(i as u32);
                }
                Target::Class(y, table)
            }
        };
        let groups = group_col.map(|g| {
            let c = &raw.columns[g];
            let mut ids: Vec<String> = keep
                .iter()
                .map(|&r| c.text[r].clone().unwrap_or_default())
                .collect();
            // Groups as dense integers, in order of first appearance.
            let mut map = std::collections::HashMap::new();
            ids.drain(..)
                .map(|s| {
                    let next = map.len() as u64;
                    *map.entry(s).or_insert(next)
                })
                .collect()
        });
        let coord = |c: Option<usize>| {
            c.map(|c| {
                keep.iter()
                    .map(|&r| raw.columns[c].num[r].unwrap_or(f64::NAN))
                    .collect::<Vec<f64>>()
            })
        };
        Ok(TrainingSet {
            n,
            d,
            x,
            target,
            groups,
            lon: coord(lon_col),
            lat: coord(lat_col),
            source_row: keep,
            label_field,
            notes,
        })
    }

    /// Row `i`'s embedding.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    /// The rows `idx` as a new set (features, labels, groups, coordinates).
    pub fn select(&self, idx: &[usize]) -> TrainingSet {
        let mut x = Vec::with_capacity(idx.len() * self.d);
        for &i in idx {
            x.extend_from_slice(self.row(i));
        }
        let pick = |v: &Option<Vec<f64>>| v.as_ref().map(|v| idx.iter().map(|&i| v[i]).collect());
        TrainingSet {
            n: idx.len(),
            d: self.d,
            x,
            target: match &self.target {
                Target::Class(y, t) => {
                    Target::Class(idx.iter().map(|&i| y[i]).collect(), t.clone())
                }
                Target::Value(v) => Target::Value(idx.iter().map(|&i| v[i]).collect()),
            },
            groups: self
                .groups
                .as_ref()
                .map(|g| idx.iter().map(|&i| g[i]).collect()),
            lon: pick(&self.lon),
            lat: pick(&self.lat),
            source_row: idx.iter().map(|&i| self.source_row[i]).collect(),
            label_field: self.label_field.clone(),
            notes: Vec::new(),
        }
    }

    /// Rows per class (classification).
    pub fn class_counts(&self) -> Vec<usize> {
        match &self.target {
            Target::Class(y, t) => {
                let mut c = vec![0; t.len()];
                for &v in y {
                    c[v as usize] += 1;
                }
                c
            }
            Target::Value(_) => Vec::new(),
        }
    }

    /// Builds a set from arrays (the Python face and tests).
    pub fn from_arrays(
        x: Vec<f32>,
        d: usize,
        target: Target,
        groups: Option<Vec<u64>>,
    ) -> Result<TrainingSet> {
        if d == 0 || !x.len().is_multiple_of(d) {
            return Err(usage(format!(
                "{} values are not rows of {d} dimensions",
                x.len()
            )));
        }
        let n = x.len() / d;
        let tn = match &target {
            Target::Class(y, t) => {
                if let Some(bad) = y.iter().find(|&&v| v as usize >= t.len()) {
                    return Err(usage(format!("class index {bad} outside the table")));
                }
                y.len()
            }
            Target::Value(v) => v.len(),
        };
        if tn != n || groups.as_ref().is_some_and(|g| g.len() != n) {
            return Err(usage(format!("{n} rows but {tn} labels")));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(usage("the embeddings hold NaN or infinite values"));
        }
        Ok(TrainingSet {
            n,
            d,
            x,
            target,
            groups,
            lon: None,
            lat: None,
            source_row: (0..n).collect(),
            label_field: "label".into(),
            notes: Vec::new(),
        })
    }
}
