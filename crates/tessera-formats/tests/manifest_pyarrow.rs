//! pyarrow (and pandas) are the oracles: they read our manifests with the published schema,
//! and we read manifests pyarrow writes, with the reference's selection rules.

use tessera_core::{Bbox, TileId};
use tessera_formats::manifest::{
    LandmaskRecord, ManifestError, ManifestQuery, ManifestRecord, read_landmasks,
    read_manifest_file, write_landmasks, write_manifest,
};
use tessera_testkit::{run_python, scratch};

fn record(version: &str, variant: &str, year: i32, lon_i: i32, lat_i: i32) -> ManifestRecord {
    let tile = TileId::from_keys(lon_i, lat_i).unwrap();
    let dir = format!("s3://tessera/tessera/npy/v1/{year}/{tile}");
    ManifestRecord {
        version: version.into(),
        variant: variant.into(),
        year,
        tile,
        grid_path: format!("{dir}/{tile}.npy"),
        scales_path: format!("{dir}/{tile}_scales.npy"),
        directory: dir,
        grid_mtime_ns: 1_700_000_000_123_456_789,
        scales_mtime_ns: 1_700_000_001_000_000_000,
        grid_size: 100_000_000 + i64::from(lon_i),
        scales_size: 3_000_000 + i64::from(lat_i),
    }
}

#[test]
fn pyarrow_reads_our_manifest_with_published_schema() {
    let dir = scratch("manifest-ours");
    let mut rows = Vec::new();
    for year in [2024, 2023] {
        for lon_i in [-15, -5, 5, 15] {
            for lat_i in [5125, 5135] {
                rows.push(record("1.0", "vultr", year, lon_i, lat_i));
            }
        }
    }
    rows.push(rows[0].clone()); // a duplicate: dropped on write
    let path = dir.join("manifest.parquet");
    write_manifest(&path, &rows).unwrap();
    let lm = dir.join("landmasks.parquet");
    write_landmasks(
        &lm,
        &[LandmaskRecord {
            tile: TileId::from_keys(15, 5125).unwrap(),
            file_size: 13_000,
            mtime_ns: 1_700_000_000_000_000_000,
            key: "s3://tessera/tessera/landmasks/v1/grid_0.15_51.25.tiff".into(),
        }],
    )
    .unwrap();
    let script = r#"
import sys, json, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
df = t.to_pandas()
l = pq.read_table(sys.argv[2])
print(json.dumps({
  "schema": [[f.name, str(f.type)] for f in t.schema],
  "rows": t.num_rows,
  "first": {k: (str(v) if k.endswith('mtime') else v) for k, v in df.iloc[0].to_dict().items()},
  "order": [[int(r['year']), float(r['lon']), float(r['lat'])] for _, r in df.iterrows()],
  "pandas_index": list(map(str, df.index[:2])),
  "lm_schema": [[f.name, str(f.type)] for f in l.schema],
  "lm": l.to_pylist()[0]["key"],
}, default=str))
"#;
    let out: serde_json::Value = serde_json::from_str(&run_python(
        script,
        &[&path.display().to_string(), &lm.display().to_string()],
    ))
    .unwrap();
    let schema: Vec<(String, String)> = out["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f[0].as_str().unwrap().to_string(),
                f[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        ("version", "string"),
        ("variant", "string"),
        ("year", "int64"),
        ("lon", "double"),
        ("lat", "double"),
        ("directory", "string"),
        ("grid_path", "string"),
        ("scales_path", "string"),
        ("grid_mtime", "timestamp[ns, tz=UTC]"),
        ("scales_mtime", "timestamp[ns, tz=UTC]"),
        ("grid_size", "int64"),
        ("scales_size", "int64"),
        ("lon_i", "int32"),
        ("lat_i", "int32"),
    ];
    assert_eq!(
        schema,
        expect
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(out["rows"], 16);
    let first = &out["first"];
    assert_eq!(
        first["year"], 2023,
        "sorted by (version, variant, year, lon, lat)"
    );
    assert_eq!(first["lon"], -0.15);
    assert_eq!(first["lat"], 51.25);
    assert_eq!(first["lon_i"], -15);
    assert_eq!(first["lat_i"], 5125);
    assert_eq!(
        first["grid_path"],
        "s3://tessera/tessera/npy/v1/2023/grid_-0.15_51.25/grid_-0.15_51.25.npy"
    );
    assert_eq!(first["grid_mtime"], "2023-11-14 22:13:20.123456789+00:00");
    assert_eq!(out["pandas_index"], serde_json::json!(["0", "1"]));
    let order: Vec<(i64, f64, f64)> = out["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_i64().unwrap(),
                r[1].as_f64().unwrap(),
                r[2].as_f64().unwrap(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(order, sorted);
    assert_eq!(
        out["lm_schema"],
        serde_json::json!([
            ["lon", "double"],
            ["lat", "double"],
            ["file_size", "int64"],
            ["mtime", "timestamp[ns, tz=UTC]"],
            ["key", "string"],
            ["lon_i", "int32"],
            ["lat_i", "int32"]
        ])
    );
    assert_eq!(
        out["lm"],
        "s3://tessera/tessera/landmasks/v1/grid_0.15_51.25.tiff"
    );

    // And our reader answers the reference's queries on it.
    let q = ManifestQuery {
        year: Some(2024),
        bbox: Some(Bbox::new(-0.1, 51.3, 0.1, 51.5).unwrap().expanded(0.05)),
        version: Some("1.0".into()),
        variant: Some("vultr".into()),
        with_scales_size: true,
        with_paths: false,
    };
    let sel = read_manifest_file(&path, &q).unwrap();
    // Centres at lon ±0.05, ±0.15 and lat 51.25 (on the expanded edge, inclusive), 51.35.
    assert_eq!(sel.entries.len(), 8);
    assert!(
        sel.entries
            .iter()
            .all(|e| e.year == 2024 && e.scales_size.is_some())
    );
    let lm = read_landmasks(
        std::fs::File::open(dir.join("landmasks.parquet")).unwrap(),
        "lm",
    )
    .unwrap();
    assert_eq!(lm[&TileId::from_keys(15, 5125).unwrap()], 13_000);
}

#[test]
fn we_read_manifests_pyarrow_writes() {
    let dir = scratch("manifest-theirs");
    let script = r#"
import sys, pandas as pd, numpy as np
d = sys.argv[1]
rows = []
for year in (2023, 2024):
    for lon in np.round(np.arange(-0.25, 0.30, 0.1), 2):
        for lat in (51.25, 51.35, 51.45, 51.55, 51.65):
            rows.append(dict(version='1.0', variant='vultr', year=year, lon=float(lon), lat=lat,
                directory='s3://x', grid_path='s3://x/a.npy', scales_path='s3://x/b.npy',
                grid_mtime=pd.Timestamp('2025-01-01', tz='UTC'), scales_mtime=pd.Timestamp('2025-01-01', tz='UTC'),
                grid_size=106280192, scales_size=3321252,
                lon_i=np.int32(round(lon*100)), lat_i=np.int32(round(lat*100))))
rows.append(dict(rows[3]))  # a duplicate tile-year
rows.append(dict(rows[4], variant='other'))  # another dataset's row
df = pd.DataFrame(rows)
df.to_parquet(f'{d}/manifest.parquet', index=False)
# Minimal columns, int32 year, microsecond timestamps, several row groups.
m = df[['lat', 'lon', 'year', 'grid_size']].astype({'year': 'int32'})
m.to_parquet(f'{d}/minimal.parquet', index=False, row_group_size=7)
df.drop(columns=['grid_size']).to_parquet(f'{d}/bad.parquet', index=False)
df[['lon', 'lat', 'grid_size']].assign(year=df['year'].astype(str)).to_parquet(f'{d}/strings.parquet', index=False)
"#;
    run_python(script, &[&dir.display().to_string()]);
    let london = Bbox::new(-0.1, 51.3, 0.1, 51.5).unwrap().expanded(0.05);
    let q = ManifestQuery {
        year: Some(2024),
        bbox: Some(london),
        version: Some("1.0".into()),
        variant: Some("vultr".into()),
        with_scales_size: true,
        with_paths: false,
    };
    let sel = read_manifest_file(&dir.join("manifest.parquet"), &q).unwrap();
    // lon centres -0.15..0.15 (4) × lat 51.25..51.55 (4): the reference's 16 London tiles.
    assert_eq!(sel.entries.len(), 16);
    assert_eq!(sel.entries[0].tile.name(), "grid_-0.15_51.25");
    assert_eq!(sel.entries[0].scales_size, Some(3321252));
    let all = read_manifest_file(
        &dir.join("manifest.parquet"),
        &ManifestQuery {
            version: Some("1.0".into()),
            variant: Some("vultr".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(all.entries.len(), 60);
    assert_eq!(all.duplicates, 1);
    assert_eq!(all.years(), vec![2023, 2024]);
    let min = read_manifest_file(&dir.join("minimal.parquet"), &q).unwrap();
    assert_eq!(
        min.entries.len(),
        16,
        "no version/variant columns: no dataset filtering"
    );
    assert!(!min.had_dataset_columns);
    let e = read_manifest_file(&dir.join("bad.parquet"), &q).unwrap_err();
    assert!(matches!(e, ManifestError::MissingColumns { .. }));
    assert!(
        e.to_string()
            .contains("missing required columns: grid_size"),
        "{e}"
    );
    let e = read_manifest_file(&dir.join("strings.parquet"), &q).unwrap_err();
    assert!(matches!(e, ManifestError::ColumnType { .. }), "{e}");
}
