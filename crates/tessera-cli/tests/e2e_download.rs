//! `tessera download` end to end against `tessera mirror serve`: verified files, every
//! injected fault followed by a rerun, kill -9 and resume, concurrent runs, bad input.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BBOX, Served, YEAR, assert_complete, mirror, tessera};
use tessera_testkit::{gdal_value, gdalinfo, run_python, scratch};

fn download(url: &str, out: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let cache = out.with_extension("cache");
    let mut args = vec![
        "download",
        "--mirror",
        url,
        "--bbox",
        BBOX,
        "--year",
        YEAR,
        "-o",
        out.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--source",
        "tiles",
    ];
    args.extend_from_slice(extra);
    tessera(&args, &[])
}

#[test]
fn geotiff_download_is_verified_and_readable_by_gdal() {
    let m = mirror();
    let s = Served::start(m, &[]);
    let out = scratch("dl-tiff");
    let (code, stdout, err) = download(&s.url, &out, &["--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["tiles"], 2);
    assert_eq!(v["downloaded_files"], 6);
    assert_eq!(v["geotiffs"].as_array().unwrap().len(), 2);
    // v1.1 without a variant is cambridge in every command, named in the summary.
    assert_eq!(v["dataset"], "v1.1 cambridge", "{v}");
    assert!(!err.contains("note:"), "no note nobody asked for: {err}");
    assert_complete(&out, m, "v1.1-cam", "v1.1", 2024);
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tessera_metadata.json")).unwrap())
            .unwrap();
    assert_eq!(side["dataset_path"], "v1.1-cam");
    assert_eq!(side["dataset_variant"], "cambridge");
    assert_eq!(side["format"], "tiff");
    assert_eq!(side["tile_count"], 2);
    // GDAL reads the export: CRS, geotransform and size of the landmask, tags, bands, nodata.
    let t = "grid_24.05_69.05";
    let tif = out.join(format!(
        "global_0.1_degree_representation/2024/{t}/{t}_2024.tiff"
    ));
    let info = gdalinfo(&tif);
    let lm = gdalinfo(&out.join(format!("global_0.1_degree_tiff_all/{t}.tiff")));
    assert_eq!(info["geoTransform"], lm["geoTransform"]);
    assert_eq!(info["size"], lm["size"]);
    assert_eq!(info["stac"]["proj:epsg"], 32635);
    let bands = info["bands"].as_array().unwrap();
    assert_eq!(bands.len(), 128);
    assert_eq!(bands[127]["description"], "Tessera_Band_127");
    assert_eq!(bands[0]["type"], "Float32");
    assert_eq!(bands[0]["noDataValue"], "NaN");
    let md = &info["metadata"][""];
    for (k, want) in [
        ("TESSERA_DATASET_VERSION", "1.1"),
        ("TESSERA_DATASET_VERSION_PATH", "v1.1"),
        ("TESSERA_DATASET_VARIANT", "cambridge"),
        ("TESSERA_YEAR", "2024"),
        ("TESSERA_TILE_LON", "24.05"),
        ("TESSERA_TILE_LAT", "69.05"),
        ("TESSERA_DESCRIPTION", "GeoTessera satellite embedding tile"),
    ] {
        assert_eq!(md[k], want, "{k}");
    }
    // Pixel values equal NumPy's dequantisation of the NPY pair.
    let npy = out.join(format!("global_0.1_degree_representation/2024/{t}/{t}"));
    let expect = run_python(
        r#"
import sys, numpy as np
q = np.load(sys.argv[1] + ".npy", mmap_mode="r"); s = np.load(sys.argv[1] + "_scales.npy")
s = np.where(np.isfinite(s), s, np.nan).astype(np.float32)
for r, c in ((0, 0), (500, 200), (q.shape[0] - 1, q.shape[1] - 1)):
    v = q[r, c].astype(np.float32) * s[r, c]
    print(r, c, repr(float(v[0])), repr(float(v[127])))
"#,
        &[npy.to_str().unwrap()],
    );
    for line in expect.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (r, c): (usize, usize) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        for (band, want) in [(1usize, f[2]), (128, f[3])] {
            // gdallocationinfo prints float32 values with 15 significant digits.
            let got: f32 = gdal_value(&tif, band, c, r).parse().unwrap();
            assert_eq!(
                got,
                want.parse::<f64>().unwrap() as f32,
                "({r},{c}) band {band}"
            );
        }
    }
    // A rerun skips everything and fetches no tile bytes.
    s.reset_stats();
    let (code, stdout, err) = download(&s.url, &out, &["--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["skipped_files"], 6);
    assert_eq!(v["geotiffs_skipped"], 2);
    assert_eq!(s.bytes_for(".npy"), 0);
}

#[test]
fn npy_download_and_band_subset_and_dry_run() {
    let m = mirror();
    let s = Served::start(m, &[]);
    let out = scratch("dl-npy");
    let (code, _, err) = download(
        &s.url,
        &out,
        &["--format", "npy", "--dataset-version", "v1"],
    );
    assert_eq!(code, 0, "{err}");
    assert_complete(&out, m, "v1", "v1", 2024);
    assert!(
        !out.join(
            "global_0.1_degree_representation/2024/grid_23.95_69.05/grid_23.95_69.05_2024.tiff"
        )
        .exists()
    );
    // Another dataset into the same directory is refused.
    let (code, _, err) = download(&s.url, &out, &["--format", "npy"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds v1.0 vultr embeddings"), "{err}");
    // Band subsets, in the given order.
    let out2 = scratch("dl-bands");
    let (code, _, err) = download(
        &s.url,
        &out2,
        &["--bands", "5,0,127", "--compress", "deflate"],
    );
    assert_eq!(code, 0, "{err}");
    let t = "grid_23.95_69.05";
    let info = gdalinfo(&out2.join(format!(
        "global_0.1_degree_representation/2024/{t}/{t}_2024.tiff"
    )));
    let b = info["bands"].as_array().unwrap();
    assert_eq!(b.len(), 3);
    assert_eq!(b[0]["description"], "Tessera_Band_5");
    assert_eq!(b[2]["description"], "Tessera_Band_127");
    assert_eq!(
        info["metadata"]["IMAGE_STRUCTURE"]["COMPRESSION"],
        "DEFLATE"
    );
    // Dry run: sizes from the registries, nothing written.
    let out3 = scratch("dl-dry");
    let (code, stdout, err) = download(&s.url, &out3, &["--dry-run", "--format", "npy", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["files"], 6);
    let want: u64 = ["grid_23.95_69.05", "grid_24.05_69.05"]
        .iter()
        .flat_map(|t| {
            [
                m.join(format!("npy/v1.1-cam/2024/{t}/{t}.npy")),
                m.join(format!("npy/v1.1-cam/2024/{t}/{t}_scales.npy")),
                m.join(format!("landmasks/v1.1/{t}.tiff")),
            ]
        })
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(v["bytes"], want);
    assert!(std::fs::read_dir(&out3).map_or(true, |mut d| d.next().is_none()));
    // A point selects exactly its tile.
    let (code, stdout, _) = tessera(
        &[
            "download",
            "--source",
            "tiles",
            "--mirror",
            &s.url,
            "--tile",
            "24.01,69.02",
            "--year",
            YEAR,
            "--dry-run",
            "--json",
            "--cache-dir",
            out3.with_extension("cache").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["tiles"], 1);
}

#[test]
fn every_fault_is_retried_or_resumed() {
    let m = mirror();
    for (i, rule) in [
        "**/*.npy:status=500,times=1",
        "**:status=503,times=2",
        "**/*_scales.npy:status=429,times=1,retry-after=1",
        "**:latency=150,times=1",
        "**/*.npy:truncate=0.5,times=1",
        "**:flip,times=1",
        "**/*.npy:reset=0.3,times=1",
        "npy/*/manifest.parquet:status=503,times=1",
    ]
    .iter()
    .enumerate()
    {
        let s = Served::start(m, &[rule]);
        let out = scratch(&format!("dl-fault-{i}"));
        let (code, _, err) = download(&s.url, &out, &["--format", "npy"]);
        assert_eq!(code, 0, "{rule}: {err}");
        assert_complete(&out, m, "v1.1-cam", "v1.1", 2024);
    }
}

#[test]
fn persistent_corruption_fails_cleanly_then_a_rerun_completes() {
    let m = mirror();
    let big = "npy/v1.1-cam/2024/grid_24.05_69.05/grid_24.05_69.05.npy";
    let s = Served::start(m, &[&format!("{big}:flip")]);
    let out = scratch("dl-corrupt");
    let (code, _, err) = download(&s.url, &out, &["--format", "npy"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("CRC64NVMe"),
        "the large object is checked by its CRC: {err}"
    );
    assert!(err.contains("rerun"), "{err}");
    assert!(
        !out.join("global_0.1_degree_representation/2024/grid_24.05_69.05/grid_24.05_69.05.npy")
            .exists(),
        "no corrupt file under a final name"
    );
    // The other tile is complete and kept.
    assert!(
        out.join("global_0.1_degree_representation/2024/grid_23.95_69.05/grid_23.95_69.05.npy")
            .exists()
    );
    s.set_faults(&[]);
    s.reset_stats();
    let (code, _, err) = download(&s.url, &out, &["--format", "npy"]);
    assert_eq!(code, 0, "{err}");
    assert_complete(&out, m, "v1.1-cam", "v1.1", 2024);
    assert_eq!(
        s.bytes_for("grid_23.95_69.05.npy"),
        0,
        "nothing already downloaded is fetched again"
    );
}

#[test]
fn persistent_truncation_and_server_errors_fail_cleanly_then_a_rerun_completes() {
    let m = mirror();
    let big = "npy/v1.1-cam/2024/grid_24.05_69.05/grid_24.05_69.05.npy";
    let scales = "npy/v1.1-cam/2024/grid_23.95_69.05/grid_23.95_69.05_scales.npy";
    let s = Served::start(
        m,
        &[
            &format!("{big}:truncate=0.5"),
            &format!("{scales}:status=503"),
        ],
    );
    let out = scratch("dl-persistent");
    let (code, _, err) = download(&s.url, &out, &["--format", "npy"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("rerun"), "{err}");
    let tiles = out.join("global_0.1_degree_representation/2024");
    for f in [
        "grid_24.05_69.05/grid_24.05_69.05.npy",
        "grid_23.95_69.05/grid_23.95_69.05_scales.npy",
    ] {
        assert!(!tiles.join(f).exists(), "{f} exists after failing");
    }
    assert!(tiles.join("grid_23.95_69.05/grid_23.95_69.05.npy").exists());
    s.set_faults(&[]);
    let (code, _, err) = download(&s.url, &out, &["--format", "npy"]);
    assert_eq!(code, 0, "{err}");
    assert_complete(&out, m, "v1.1-cam", "v1.1", 2024);
}

#[test]
fn kill_9_then_rerun_resumes() {
    let m = mirror();
    let s = Served::start(m, &["**/*.npy:rate=15m"]);
    let out = scratch("dl-kill");
    let cache = out.with_extension("cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "download",
            "--mirror",
            &s.url,
            "--bbox",
            BBOX,
            "--year",
            YEAR,
            "-o",
            out.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--format",
            "npy",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dir = out.join("global_0.1_degree_representation/2024/grid_23.95_69.05");
    let part = dir.join(".grid_23.95_69.05.npy.part");
    let t = Instant::now();
    while std::fs::metadata(&part).map_or(0, |m| m.len()) < 10_000_000 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the download never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(!dir.join("grid_23.95_69.05.npy").exists());
    s.set_faults(&[]);
    s.reset_stats();
    let (code, stdout, err) = tessera(
        &[
            "download",
            "--mirror",
            &s.url,
            "--bbox",
            BBOX,
            "--year",
            YEAR,
            "-o",
            out.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--format",
            "npy",
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert!(v["resumed_files"].as_u64().unwrap() >= 1, "{v}");
    let size = std::fs::metadata(m.join("npy/v1.1-cam/2024/grid_23.95_69.05/grid_23.95_69.05.npy"))
        .unwrap()
        .len();
    let fetched = s.bytes_for("grid_23.95_69.05.npy");
    assert!(
        fetched <= size - kept + 1,
        "resumed: fetched {fetched} of {size} bytes after keeping {kept}"
    );
    assert_complete(&out, m, "v1.1-cam", "v1.1", 2024);
}

#[test]
fn two_concurrent_downloads_into_one_directory() {
    let m = mirror();
    let s = Served::start(m, &["**/*.npy:rate=60m"]);
    let out = scratch("dl-concurrent");
    let spawn = |tag: &str| {
        Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args([
                "download",
                "--source",
                "tiles",
                "--mirror",
                &s.url,
                "--bbox",
                BBOX,
                "--year",
                YEAR,
                "-o",
                out.to_str().unwrap(),
                "--cache-dir",
                out.with_extension(tag).to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("ca"), spawn("cb"));
    for c in [a, b] {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_complete(&out, m, "v1.1-cam", "v1.1", 2024);
    for t in ["grid_23.95_69.05", "grid_24.05_69.05"] {
        let tif = out.join(format!(
            "global_0.1_degree_representation/2024/{t}/{t}_2024.tiff"
        ));
        assert_eq!(gdalinfo(&tif)["bands"].as_array().unwrap().len(), 128);
    }
}

#[test]
fn region_files_and_countries_select_the_tiles_of_their_bounds() {
    let m = mirror().display().to_string();
    let dir = scratch("dl-regions");
    let tiles = |sel: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "--mirror",
            &m,
            "download",
            "--source",
            "tiles",
            "--dataset-variant",
            "cambridge",
            "--year",
            YEAR,
            "--dry-run",
            "--json",
            "-o",
            "unused",
        ];
        args.extend_from_slice(sel);
        let (code, out, err) = tessera(&args, &[]);
        assert_eq!(code, 0, "{sel:?}: {err}");
        serde_json::from_str(out.trim()).unwrap()
    };
    // GeoJSON in WGS84: a polygon inside the western tile, then one across both.
    let geo = dir.join("west.geojson");
    std::fs::write(
        &geo,
        r#"{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
          "geometry": {"type": "Polygon", "coordinates": [[[23.92, 69.02], [23.98, 69.02],
          [23.98, 69.08], [23.92, 69.02]]]}}]}"#,
    )
    .unwrap();
    let west = tiles(&["--region-file", geo.to_str().unwrap()]);
    assert_eq!(west["tile_names"], serde_json::json!(["grid_23.95_69.05"]));
    let both = dir.join("both.geojson");
    std::fs::write(
        &both,
        r#"{"type": "Polygon", "coordinates": [[[23.97, 69.03], [24.03, 69.03], [24.03, 69.07],
          [23.97, 69.03]]]}"#,
    )
    .unwrap();
    assert_eq!(
        tiles(&["--region-file", both.to_str().unwrap()])["tiles"],
        2
    );
    // A Shapefile in UTM 35N (coordinates by pyproj for 24.02-24.08 E, 69.02-69.08 N):
    // reprojected, its bounds hold only the eastern tile.
    let shp = dir.join("east.shp");
    {
        let mut w = shapefile::Writer::from_path(&shp, shapefile::dbase::TableWriterBuilder::new())
            .unwrap();
        let ring = vec![
            shapefile::Point::new(380_965.420, 7_659_483.378),
            shapefile::Point::new(381_290.351, 7_666_166.951),
            shapefile::Point::new(383_678.919, 7_666_051.975),
            shapefile::Point::new(383_360.529, 7_659_368.133),
            shapefile::Point::new(380_965.420, 7_659_483.378),
        ];
        let p = shapefile::Polygon::new(shapefile::PolygonRing::Outer(ring));
        w.write_shape_and_record(&p, &shapefile::dbase::Record::default())
            .unwrap();
    }
    std::fs::write(
        dir.join("east.prj"),
        r#"PROJCS["WGS_1984_UTM_Zone_35N",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",27.0],PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#,
    )
    .unwrap();
    let east = tiles(&["--region-file", shp.to_str().unwrap()]);
    assert_eq!(east["tile_names"], serde_json::json!(["grid_24.05_69.05"]));
    // A country selects the tiles of its bounding box (the reference's rule).
    assert_eq!(tiles(&["--country", "Norway"])["tiles"], 2);
    assert_eq!(tiles(&["--country", "NO"])["tiles"], 2);
    let (code, out, err) = tessera(
        &[
            "--mirror",
            &m,
            "download",
            "--source",
            "tiles",
            "--dataset-variant",
            "cambridge",
            "--year",
            YEAR,
            "--country",
            "Kenya",
            "--dry-run",
            "-o",
            "unused",
        ],
        &[],
    );
    // No tiles there: exit 1, with where the dataset does have tiles.
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("nearest covered tile is grid_"), "{err}");
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let m = mirror();
    let s = Served::start(m, &[]);
    let out = scratch("dl-bad");
    let geo = out.join("bad.geojson");
    std::fs::write(&geo, "{\"type\": \"FeatureCollection\", \"features\": [").unwrap();
    // A Shapefile without .prj.
    let shp = out.join("noprj.shp");
    {
        let mut w = shapefile::Writer::from_path(&shp, shapefile::dbase::TableWriterBuilder::new())
            .unwrap();
        let p = shapefile::Polygon::new(shapefile::PolygonRing::Outer(vec![
            shapefile::Point::new(23.95, 69.02),
            shapefile::Point::new(23.95, 69.08),
            shapefile::Point::new(24.05, 69.08),
            shapefile::Point::new(23.95, 69.02),
        ]));
        w.write_shape_and_record(&p, &shapefile::dbase::Record::default())
            .unwrap();
    }
    let file_as_dir = out.join("a-file");
    std::fs::write(&file_as_dir, b"x").unwrap();
    let unwritable = file_as_dir.join("sub");
    let o = out.join("o");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--bbox", "200,0,201,1"], "positive area within WGS84"),
        (vec!["--bbox", "1,60,1,61"], "positive area"),
        (vec!["--bbox", "1,2,3"], "bbox"),
        (
            vec!["--region-file", geo.to_str().unwrap()],
            "malformed GeoJSON",
        ),
        (vec!["--region-file", shp.to_str().unwrap()], "no .prj"),
        (vec!["--country", "Atlantis"], "not found"),
        (
            vec!["--bbox", BBOX, "--tile", "1,1"],
            "multiple region options",
        ),
        (vec![], "Must specify a region"),
        (
            vec!["--bbox", BBOX, "--dataset-variant", "nonexistent"],
            "unknown variant",
        ),
        (
            vec![
                "--bbox",
                BBOX,
                "--dataset-version",
                "v1.1",
                "--dataset-variant",
                "dclimate",
            ],
            "not published as NPY",
        ),
        (
            vec!["--bbox", BBOX, "--dataset-version", "v9"],
            "unknown dataset version v9",
        ),
        (vec!["--bbox", BBOX, "--format", "png"], "Invalid format"),
        (vec!["--bbox", BBOX, "--bands", "0,128"], "bands must be"),
        (
            vec!["--bbox", BBOX, "--compress", "jpeg"],
            "unknown compression",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec![
            "download",
            "--mirror",
            &s.url,
            "-o",
            o.to_str().unwrap(),
            "--source",
            "tiles",
        ];
        args.extend(extra.iter().copied());
        let (code, _, err) = tessera(&args, &[]);
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert_eq!(
            err.trim()
                .lines()
                .filter(|l| l.starts_with("error"))
                .count(),
            1,
            "{extra:?}: {err}"
        );
        assert!(err.contains(want), "{extra:?}: expected '{want}' in: {err}");
    }
    let (code, _, err) = tessera(
        &[
            "download",
            "--mirror",
            &s.url,
            "--bbox",
            BBOX,
            "-o",
            unwritable.to_str().unwrap(),
            "--source",
            "tiles",
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot write"), "{err}");
    // A manifest whose paths lead out of the dataset is refused; nothing is written.
    let reg = out.join("hostile-registry");
    std::fs::create_dir_all(&reg).unwrap();
    run_python(
        r#"
import sys, pyarrow.parquet as pq, pyarrow.compute as pc, pyarrow as pa
t = pq.read_table(sys.argv[1])
bad = pa.array(["s3://tessera/tessera/npy/v1.1-cam/2024/../../../../etc/passwd"] * t.num_rows)
t = t.set_column(t.schema.get_field_index("grid_path"), "grid_path", bad)
pq.write_table(t, sys.argv[2])
"#,
        &[
            m.join("npy/v1.1-cam/manifest.parquet").to_str().unwrap(),
            reg.join("manifest.parquet").to_str().unwrap(),
        ],
    );
    let o2 = out.join("o2");
    let (code, _, err) = tessera(
        &[
            "download",
            "--mirror",
            &s.url,
            "--bbox",
            BBOX,
            "-o",
            o2.to_str().unwrap(),
            "--registry-dir",
            reg.to_str().unwrap(),
            "--source",
            "tiles",
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("leads outside its dataset"), "{err}");
    let mut files = Vec::new();
    common::walk(&o2, &mut files);
    assert!(files.is_empty(), "{files:?}");
    // An empty region is exit 1 with where the dataset has tiles (the same on every path).
    let (code, _, err) = tessera(
        &[
            "download",
            "--mirror",
            &s.url,
            "--bbox",
            "10,10,10.2,10.2",
            "-o",
            o.to_str().unwrap(),
            "--source",
            "tiles",
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nearest covered tile"), "{err}");
    assert!(!o.exists(), "a failed run left its output directory");
}

#[test]
fn registry_cache_refresh_and_offline_fallback() {
    let m = mirror();
    let s = Served::start(m, &[]);
    let cache = scratch("dl-cache");
    let info = |url: &str| {
        tessera(
            &[
                "info",
                "--mirror",
                url,
                "--cache-dir",
                cache.to_str().unwrap(),
                "--json",
            ],
            &[],
        )
    };
    let (code, out, err) = info(&s.url);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["tiles"], 2);
    assert_eq!(v["years"], serde_json::json!([2023, 2024]));
    assert_eq!(v["landmasks"], 2);
    let first = s.bytes_for("manifest.parquet");
    assert!(first > 0);
    // The second run revalidates with If-Modified-Since: 304, no body.
    let (code, _, _) = info(&s.url);
    assert_eq!(code, 0);
    assert_eq!(s.bytes_for("manifest.parquet"), first);
    assert_eq!(
        s.stats()["by_key"]["npy/v1.1-cam/manifest.parquet"]["requests"],
        2
    );
    // Unreachable mirror: the cached copy is used, with a warning.
    let url = s.url.clone();
    drop(s);
    let (code, out, err) = info(&url);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("using the cached copy"), "{err}");
    assert!(out.contains("\"tiles\":2"));
    // Without a cache, an unreachable mirror is an error.
    let (code, _, err) = tessera(
        &[
            "info",
            "--mirror",
            &url,
            "--cache-dir",
            scratch("dl-nocache").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
}

#[test]
fn s3_and_local_mirrors() {
    let m = mirror();
    // A bucket-style tree served as an S3 endpoint.
    let root = scratch("dl-s3root");
    let prefix = root.join("us-west-2.opendata.source.coop/tessera");
    std::fs::create_dir_all(&prefix).unwrap();
    // Hard links: the server refuses symlinks that lead out of its root.
    common::link_tree(m, &prefix.join("tessera"));
    let s = Served::start(&root, &[]);
    let out = scratch("dl-s3");
    let (code, _, err) = tessera(
        &[
            "download",
            "--mirror",
            "s3://us-west-2.opendata.source.coop/tessera/tessera",
            "--bbox",
            BBOX,
            "--year",
            YEAR,
            "-o",
            out.to_str().unwrap(),
            "--format",
            "npy",
            "--cache-dir",
            out.with_extension("c").to_str().unwrap(),
        ],
        &[("AWS_ENDPOINT_URL", &s.url)],
    );
    assert_eq!(code, 0, "{err}");
    assert_complete(&out, m, "v1.1-cam", "v1.1", 2024);
    // A local directory as the mirror.
    let out = scratch("dl-local");
    let (code, _, err) = tessera(
        &[
            "download",
            "--mirror",
            m.to_str().unwrap(),
            "--bbox",
            BBOX,
            "--year",
            YEAR,
            "-o",
            out.to_str().unwrap(),
            "--format",
            "npy",
            "--source",
            "tiles",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_complete(&out, m, "v1.1-cam", "v1.1", 2024);
    let (code, out_text, _) = tessera(&["info", "--tiles", out.to_str().unwrap(), "--json"], &[]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out_text).unwrap();
    assert_eq!(v["tiles"], 2);
    assert_eq!(v["format"], "NPY");
    assert_eq!(v["crs"], serde_json::json!(["EPSG:32634", "EPSG:32635"]));
}
