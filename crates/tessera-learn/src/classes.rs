//! The class table: a stable id, name and colour per class. Ids are 1-based (0 is nodata in
//! class maps). Without a given table, classes are the sorted unique labels (scikit-learn's
//! `LabelEncoder`: numerically when every label is a number, else by string), so the same
//! labels give the same ids on every run; a table from a file (`id,name,colour` CSV or a JSON
//! list like the synthetic world's `truth/classes.json`) fixes ids and colours across years.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{LearnError, Result, usage};

/// One class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassInfo {
    /// The id written in class maps (1..=255).
    pub id: u32,
    /// The label as it appears in the training data.
    pub name: String,
    /// Display colour (RGB).
    pub colour: [u8; 3],
}

/// The classes of a classification, in index order (index = position, id = `id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClassTable {
    /// The classes.
    pub classes: Vec<ClassInfo>,
}

/// ESA WorldCover's colours for the class names users commonly give.
const WORLDCOVER: &[(&str, [u8; 3])] = &[
    ("tree", [0x00, 0x64, 0x00]),
    ("forest", [0x00, 0x64, 0x00]),
    ("shrub", [0xff, 0xbb, 0x22]),
    ("grass", [0xff, 0xff, 0x4c]),
    ("crop", [0xf0, 0x96, 0xff]),
    ("farm", [0xf0, 0x96, 0xff]),
    ("built", [0xfa, 0x00, 0x00]),
    ("urban", [0xfa, 0x00, 0x00]),
    ("bare", [0xb4, 0xb4, 0xb4]),
    ("snow", [0xf0, 0xf0, 0xf0]),
    ("ice", [0xf0, 0xf0, 0xf0]),
    ("water", [0x00, 0x64, 0xc8]),
    ("wetland", [0x00, 0x96, 0xa0]),
    ("mangrove", [0x00, 0xcf, 0x75]),
    ("moss", [0xfa, 0xe6, 0xa0]),
];

/// A qualitative palette (Tableau 10, then Set 3) for the other classes.
const QUALITATIVE: &[[u8; 3]] = &[
    [0x1f, 0x77, 0xb4],
    [0xff, 0x7f, 0x0e],
    [0x2c, 0xa0, 0x2c],
    [0xd6, 0x27, 0x28],
    [0x94, 0x67, 0xbd],
    [0x8c, 0x56, 0x4b],
    [0xe3, 0x77, 0xc2],
    [0x7f, 0x7f, 0x7f],
    [0xbc, 0xbd, 0x22],
    [0x17, 0xbe, 0xcf],
    [0x8d, 0xd3, 0xc7],
    [0xff, 0xff, 0xb3],
    [0xbe, 0xba, 0xda],
    [0xfb, 0x80, 0x72],
    [0x80, 0xb1, 0xd3],
    [0xfd, 0xb4, 0x62],
    [0xb3, 0xde, 0x69],
    [0xfc, 0xcd, 0xe5],
    [0xd9, 0xd9, 0xd9],
    [0xbc, 0x80, 0xbd],
];

fn default_colour(name: &str, index: usize) -> [u8; 3] {
    let lower = name.to_ascii_lowercase();
    // "solar" is not WorldCover's; keep it out of "farm".
    if !lower.contains("solar") {
        for (key, c) in WORLDCOVER {
            if lower.contains(key) {
                return *c;
            }
        }
    }
    QUALITATIVE[index % QUALITATIVE.len()]
}

fn sort_labels(mut labels: Vec<String>) -> Vec<String> {
    labels.sort();
    labels.dedup();
    let nums: Option<Vec<f64>> = labels
        .iter()
        .map(|l| l.trim().parse::<f64>().ok())
        .collect();
    if let Some(nums) = nums {
        let mut pairs: Vec<(f64, String)> = nums.into_iter().zip(labels).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        return pairs.into_iter().map(|p| p.1).collect();
    }
    labels
}

impl ClassTable {
    /// The classes of `labels`: sorted unique values, ids 1.., default colours.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a str>) -> Result<ClassTable> {
        let uniq = sort_labels(labels.into_iter().map(String::from).collect());
        if uniq.len() > 254 {
            return Err(usage(format!(
                "{} distinct labels: a class map holds at most 254 classes (is the label \
                 field a measured value? train a regression with --task regression)",
                uniq.len()
            )));
        }
        Ok(ClassTable {
            classes: uniq
                .into_iter()
                .enumerate()
                .map(|(i, name)| ClassInfo {
                    id: i as u32 + 1,
                    colour: default_colour(&name, i),
                    name,
                })
                .collect(),
        })
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The index of a label: by name, or by id when the label is the id's number.
    pub fn index_of(&self, label: &str) -> Option<usize> {
        let t = label.trim();
        if let Some(i) = self.classes.iter().position(|c| c.name == t) {
            return Some(i);
        }
        let n: f64 = t.parse().ok()?;
        self.classes.iter().position(|c| f64::from(c.id) == n)
    }

    /// The names in index order.
    pub fn names(&self) -> Vec<String> {
        self.classes.iter().map(|c| c.name.clone()).collect()
    }

    /// Reads a class table: a CSV with `id,name[,colour]` (colour `#rrggbb` or `r g b`) or a
    /// JSON list of `{"id", "name", "colour": [r, g, b] | "#rrggbb"}`.
    pub fn read(path: &Path) -> Result<ClassTable> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LearnError::Io(format!("{}: {e}", path.display())))?;
        let bad = |what: String| usage(format!("{}: {what}", path.display()));
        let mut rows: Vec<(u32, String, Option<[u8; 3]>)> = Vec::new();
        if text.trim_start().starts_with('[') {
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
            for (i, c) in v.as_array().into_iter().flatten().enumerate() {
                let id = c["id"]
                    .as_u64()
                    .ok_or_else(|| bad(format!("entry {} has no integer \"id\"", i + 1)))?;
                let name = c["name"]
                    .as_str()
                    .ok_or_else(|| bad(format!("entry {} has no \"name\"", i + 1)))?;
                let colour = match &c["colour"] {
                    serde_json::Value::Array(a) if a.len() == 3 => {
                        let ch: Option<Vec<u8>> = a
                            .iter()
                            .map(|x| x.as_u64().and_then(|x| u8::try_from(x).ok()))
                            .collect();
                        ch.map(|c| [c[0], c[1], c[2]])
                    }
                    serde_json::Value::String(s) => parse_colour(s),
                    _ => None,
                };
                rows.push((id as u32, name.to_string(), colour));
            }
        } else {
            let mut rd = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(text.as_bytes());
            let headers = rd.headers().map_err(|e| bad(e.to_string()))?.clone();
            let col = |n: &str| {
                headers
                    .iter()
                    .position(|h| h.trim().eq_ignore_ascii_case(n))
            };
            let (Some(ci), Some(ni)) = (col("id"), col("name")) else {
                return Err(bad(
                    "a class table needs the columns id,name[,colour]".into()
                ));
            };
            let cc = col("colour").or_else(|| col("color"));
            for (i, rec) in rd.records().enumerate() {
                let rec = rec.map_err(|e| bad(e.to_string()))?;
                let id: u32 = rec
                    .get(ci)
                    .and_then(|s| s.trim().parse().ok())
                    .ok_or_else(|| bad(format!("row {}: id is not an integer", i + 2)))?;
                let name = rec.get(ni).unwrap_or("").trim().to_string();
                let colour = cc.and_then(|c| rec.get(c)).and_then(parse_colour);
                rows.push((id, name, colour));
            }
        }
        if rows.is_empty() {
            return Err(bad("no classes".into()));
        }
        let mut seen = BTreeMap::new();
        for (id, name, _) in &rows {
            if *id == 0 || *id > 254 {
                return Err(bad(format!(
                    "class id {id}: ids are 1..254 (0 is nodata, 255 rejected)"
                )));
            }
            if seen.insert(*id, name.clone()).is_some() {
                return Err(bad(format!("class id {id} appears twice")));
            }
        }
        rows.sort_by_key(|r| r.0);
        Ok(ClassTable {
            classes: rows
                .into_iter()
                .enumerate()
                .map(|(i, (id, name, colour))| ClassInfo {
                    id,
                    colour: colour.unwrap_or_else(|| default_colour(&name, i)),
                    name,
                })
                .collect(),
        })
    }

    /// The table restricted to the classes that occur (`present[i]`), ids kept.
    pub fn subset(&self, present: &[bool]) -> ClassTable {
        ClassTable {
            classes: self
                .classes
                .iter()
                .zip(present)
                .filter(|(_, p)| **p)
                .map(|(c, _)| c.clone())
                .collect(),
        }
    }
}

fn parse_colour(s: &str) -> Option<[u8; 3]> {
    let t = s.trim();
    if let Some(h) = t.strip_prefix('#')
        && h.len() == 6
    {
        let v = u32::from_str_radix(h, 16).ok()?;
        return Some([(v >> 16) as u8, (v >> 8) as u8, v as u8]);
    }
    let parts: Vec<u8> = t
        .split([' ', ',', ';'])
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<u8>>>()?;
    (parts.len() == 3).then(|| [parts[0], parts[1], parts[2]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_like_label_encoder() {
        let t = ClassTable::from_labels(["10", "9", "2", "9"]).unwrap();
        assert_eq!(t.names(), ["2", "9", "10"]);
        assert_eq!(t.classes[2].id, 3);
        let t = ClassTable::from_labels(["water", "Tree", "crop"]).unwrap();
        assert_eq!(t.names(), ["Tree", "crop", "water"]);
        assert_eq!(t.classes[2].colour, [0x00, 0x64, 0xc8]);
        assert_eq!(t.index_of("crop"), Some(1));
        assert_eq!(t.index_of("2"), Some(1));
    }

    #[test]
    fn reads_csv_and_json() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.csv");
        std::fs::write(&p, "id,name,colour\n3,water,#0000ff\n1,tree,10 200 30\n").unwrap();
        let t = ClassTable::read(&p).unwrap();
        assert_eq!(t.names(), ["tree", "water"]);
        assert_eq!(t.classes[0].colour, [10, 200, 30]);
        assert_eq!(t.classes[1].id, 3);
        assert_eq!(t.index_of("3"), Some(1));
        let j = d.path().join("c.json");
        std::fs::write(&j, r#"[{"id": 1, "name": "a", "colour": [1,2,3]}]"#).unwrap();
        assert_eq!(ClassTable::read(&j).unwrap().classes[0].colour, [1, 2, 3]);
        std::fs::write(&p, "id,name\n0,x\n").unwrap();
        assert!(
            ClassTable::read(&p)
                .unwrap_err()
                .to_string()
                .contains("1..254")
        );
    }
}
