//! The store API against a synthetic store: two tiles on both sides of the Greenwich
//! meridian (zones 30 and 31, land and sea), built through the API from a synthetic mirror.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tessera_api::store::{
    self, ExportOptions, OpenOptions, PointOptions, Status, Store, StoreRef, VariantDefault,
};
use tessera_api::{Context, ContextOptions, Error, Progress};
use tessera_core::Bbox;
use tessera_synth::{SynthOptions, synthesize};
use tessera_testkit::{scratch, scratch_shared};

const GATEWAY: &str = "https://data.source.coop/tessera/tessera";
const DIRECT: &str =
    "https://s3.us-west-2.amazonaws.com/us-west-2.opendata.source.coop/tessera/tessera";

fn mirror() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_shared("api-store-mirror");
        let mut o = SynthOptions::new(&dir, Bbox::new(-0.09, 50.81, 0.09, 50.89).unwrap());
        o.years = vec![2024];
        o.missing_rate = 0.0;
        synthesize(&o, &|_, _, _| {}).unwrap();
        let (out, rep) = store::build::build_mirror_store(&dir, "v1.1-cam").unwrap();
        assert!(out.ends_with("zarr/v1.1"), "{}", out.display());
        assert_eq!(rep.written, rep.units_all);
        dir
    })
}

fn ctx() -> Context {
    Context::open(ContextOptions {
        mirror: Some(mirror().display().to_string()),
        cache_dir: Some(mirror().join(".cache")),
        ..Default::default()
    })
    .unwrap()
}

fn open() -> Store {
    let c = ctx();
    let r = StoreRef::for_dataset(&c, "v1.1", None, VariantDefault::Tool, false).unwrap();
    Store::open(&c, r, &OpenOptions::default()).unwrap()
}

fn bbox() -> Bbox {
    Bbox::new(0.01, 50.82, 0.03, 50.84).unwrap()
}

#[test]
fn stores_are_found_by_dataset_or_url_with_one_identity_across_routes() {
    // The reference's rules: direct S3 unless via the gateway; `-` = an explicit path.
    let direct = store::zarr_store_url(GATEWAY, "v1.1", None, false).unwrap();
    assert_eq!(direct, format!("{DIRECT}/zarr/v1.1-dclimate"));
    let gw = store::zarr_store_url(GATEWAY, "v1.1", None, true).unwrap();
    assert_eq!(gw, format!("{GATEWAY}/zarr/v1.1-dclimate"));
    assert_eq!(
        store::zarr_store_url(GATEWAY, "v1.1", Some("cambridge"), true).unwrap(),
        format!("{GATEWAY}/zarr/v1.1")
    );
    assert_eq!(
        store::zarr_store_url(GATEWAY, "v2-2B-L~beta1", None, true).unwrap(),
        format!("{GATEWAY}/zarr/v2-2B-L~beta1")
    );
    assert!(store::zarr_store_url(GATEWAY, "v2-x", Some("y"), true).is_err());
    // Both routes are one store, of one dataset.
    let (a, b) = (StoreRef::from_url(&direct), StoreRef::from_url(&gw));
    assert_ne!(a.url, b.url);
    assert_eq!(a.identity(), b.identity());
    let d = store::dataset_for_location(&direct).unwrap();
    assert_eq!(
        (d.version.norm.as_str(), d.variant.as_str()),
        ("1.1", "dclimate")
    );
    assert_eq!(StoreRef::from_url_routed(&gw, false).url, direct);
    assert!(store::dataset_for_location("/data/my-store").is_none());
    // By dataset under the mirror: the tool's default variant, or the reference's.
    let c = ctx();
    let r = StoreRef::for_dataset(&c, "v1.1", None, VariantDefault::Tool, false).unwrap();
    assert!(r.url.ends_with("zarr/v1.1"), "{}", r.url);
    assert_eq!(r.dataset.as_ref().unwrap().variant, "cambridge");
    let r = StoreRef::for_dataset(&c, "v1.1", None, VariantDefault::Reference, false).unwrap();
    assert!(r.url.ends_with("zarr/v1.1-dclimate"), "{}", r.url);
    // That store is not in the synthetic mirror: a usage error a caller can recognise.
    let e = Store::open(&c, r, &OpenOptions::default()).unwrap_err();
    assert!(store::is_missing_store(&e), "{e}");
    assert!(
        e.is_usage() && e.to_string().contains("v1.1-dclimate"),
        "{e}"
    );
}

#[test]
fn a_foreign_directory_is_a_usage_error() {
    let dir = scratch("api-store-foreign");
    std::fs::write(dir.join("zarr.json"), b"{\"zarr_format\": 2}").unwrap();
    let e = Store::open(
        &ctx(),
        StoreRef::from_url(&dir.display().to_string()),
        &OpenOptions::default(),
    )
    .unwrap_err();
    assert!(e.is_usage() && !store::is_missing_store(&e), "{e}");
    assert!(e.to_string().contains("not a Zarr v3 group"), "{e}");
}

#[test]
fn handles_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Store>();
    shared::<store::Strips>();
    shared::<store::Raster>();
    shared::<store::Samples>();
}

#[test]
fn store_facts() {
    let s = open();
    assert_eq!(s.n_bands(), 128);
    assert_eq!(s.years(), vec![2024]);
    assert_eq!(s.zones(), vec![30, 31]);
    assert_eq!(s.depths(), vec![(128, "embeddings".to_string())]);
    assert_eq!(s.model_version(), "1.1");
    assert!(s.build_version().starts_with("geotessera-rs"));
    assert!(s.landmask());
    assert_eq!(s.dataset().unwrap().variant, "cambridge");
    let z = s.zone_summaries();
    assert_eq!(z.len(), 2);
    assert_eq!(z[1].crs, "EPSG:32631");
    assert_eq!(
        z[1].embeddings.inner.as_deref(),
        Some(&[1, 128, 32, 32][..])
    );
    assert!(s.attributes().contains_key("geoemb:dimensions"));
}

#[test]
fn points_pack_into_one_buffer_and_agree_with_probe_and_regions() {
    let s = open();
    let pts = vec![
        (0.02, 50.83),
        (0.021, 50.831),
        (10.0, 10.0),
        (f64::NAN, 50.8),
        (-0.05, 50.85),
    ];
    let opts = PointOptions::default();
    let p = Progress::new();
    let got = s.sample_points(&pts, 2024, &opts, &p).unwrap();
    assert_eq!((got.len(), got.bands), (5, 128));
    assert_eq!(got.values.len(), 5 * 128);
    assert_eq!(p.snapshot().0, 5);
    assert_eq!(got.status[2], Status::Outside);
    assert_eq!(got.status[3], Status::Outside);
    assert!(got.values[2 * 128..4 * 128].iter().all(|v| v.is_nan()));
    assert_eq!(got.counts().values().sum::<usize>(), 5);
    assert_eq!(got.crs(0).as_deref(), Some("EPSG:32631"));
    assert_eq!(got.crs(4).as_deref(), Some("EPSG:32630"));
    for (i, &(lon, lat)) in pts.iter().enumerate() {
        let probe = s.probe(lon, lat, 2024, &opts).unwrap();
        assert_eq!(probe.status, got.status[i]);
        let row = &got.values[i * 128..(i + 1) * 128];
        let one = s.sample_at(lon, lat, 2024, &opts).unwrap();
        assert_eq!(one.len(), 128);
        assert!(
            row.iter()
                .zip(&one)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }
    // A valid point's vector is the region's pixel it names.
    assert_eq!(got.status[0], Status::Valid);
    let r = s
        .read_region(&bbox(), 2024, None, &Progress::new())
        .unwrap();
    let (y, x) = (
        (got.row[0] - r.window.row) as usize,
        (got.col[0] - r.window.col) as usize,
    );
    let px = &r.data[(y * r.width + x) * 128..(y * r.width + x + 1) * 128];
    assert_eq!(px, &got.values[..128]);
    // Unknown years and depths are refused.
    assert!(s.sample_points(&pts, 1999, &opts, &p).is_err());
    let deep = PointOptions {
        depth: Some(16),
        ..Default::default()
    };
    assert!(
        s.sample_points(&pts, 2024, &deep, &p)
            .unwrap_err()
            .is_usage()
    );
}

#[test]
fn regions_quantized_and_float_agree_and_strips_reassemble_them() {
    let s = open();
    let p = Progress::new();
    let r = s.read_region(&bbox(), 2024, None, &p).unwrap();
    assert_eq!(r.crs, "EPSG:32631");
    assert_eq!(r.data.len(), r.height * r.width * r.bands);
    assert!(r.height > 100 && r.width > 100, "{}x{}", r.height, r.width);
    assert_eq!(r.transform[0], 10.0);
    assert_eq!(r.transform[4], -10.0);
    assert!(p.take_notes().is_empty());
    let q = s.read_region_quantized(&bbox(), 2024, None, &p).unwrap();
    assert_eq!(q.emb.len(), r.data.len());
    assert_eq!(q.scales.len(), r.height * r.width);
    let d = q.dequantize(None);
    assert!(
        d.data
            .iter()
            .zip(&r.data)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert!(r.data.iter().any(|v| v.is_finite()));
    // Strips of 7 rows: the same values, each with its own transform.
    let mut rows = 0;
    let mut all = Vec::new();
    let strips = s.strips(&bbox(), 2024, None, 7, &p).unwrap();
    assert_eq!(strips.total(), r.height.div_ceil(7));
    for st in strips {
        let st = st.unwrap();
        assert_eq!(st.width, r.width);
        assert_eq!(st.transform[5], r.transform[5] - 10.0 * rows as f64);
        assert_eq!(st.crs, r.crs);
        rows += st.rows;
        all.extend(st.data);
    }
    assert_eq!(rows, r.height);
    assert!(
        all.iter()
            .zip(&r.data)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert!(s.strips(&bbox(), 2024, None, 0, &p).unwrap_err().is_usage());
    // Dropping an iterator part way stops its reader.
    let mut it = s.strips(&bbox(), 2024, None, 1, &p).unwrap();
    assert!(it.next().unwrap().is_ok());
    drop(it);
    // A region across the meridian is read from the zone of its centre, with a warning.
    let wide = Bbox::new(-0.02, 50.82, 0.03, 50.84).unwrap();
    let r = s.read_region(&wide, 2024, None, &p).unwrap();
    assert_eq!(r.crs, "EPSG:32631");
    // Read in one pass, it equals the int8 block dequantised, at sea and at the grid's
    // unwritten edge as on land.
    let d = s
        .read_region_quantized(&wide, 2024, None, &p)
        .unwrap()
        .dequantize(None);
    assert_eq!(d.data.len(), r.data.len());
    assert!(
        d.data
            .iter()
            .zip(&r.data)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert!(r.data.iter().any(|v| v.is_nan()) && r.data.iter().any(|v| v.is_finite()));
    let notes = p.take_notes();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].text.contains("spans UTM zones 30 to 31"),
        "{notes:?}"
    );
    // Every zone: one block each.
    let both = s.read_regions_quantized(&wide, 2024, None, &p).unwrap();
    assert_eq!(
        both.iter().map(|b| b.window.zone).collect::<Vec<_>>(),
        vec![30, 31]
    );
    // A region off the grid: an empty window, distinct from other errors.
    let off = Bbox::new(20.0, 10.0, 20.1, 10.1).unwrap();
    let e = s.read_region(&off, 2024, None, &p).unwrap_err();
    assert!(store::is_empty_window(&e), "{e}");
    let e = s.read_region(&bbox(), 1999, None, &p).unwrap_err();
    assert!(
        !store::is_empty_window(&e) && e.to_string().contains("2024"),
        "{e}"
    );
}

#[test]
fn patches_are_exact_with_the_point_at_the_centre() {
    let s = open();
    let opts = PointOptions {
        search_px: 0,
        ..Default::default()
    };
    let (lon, lat) = (0.02, 50.83);
    for size in [1usize, 4, 5, 64] {
        let r = s
            .read_patch(lon, lat, 2024, size, None, &Progress::new())
            .unwrap();
        assert_eq!((r.height, r.width, r.bands), (size, size, 128));
        assert_eq!(r.data.len(), size * size * 128);
        let c = size / 2;
        let px = &r.data[(c * size + c) * 128..(c * size + c + 1) * 128];
        let one = s.sample_at(lon, lat, 2024, &opts).unwrap();
        assert!(px.iter().zip(&one).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
    let p = Progress::new();
    assert!(
        s.read_patch(lon, lat, 2024, 0, None, &p)
            .unwrap_err()
            .is_usage()
    );
    // Across the meridian: merged onto a grid centred on the point, each pixel from the
    // zone owning its longitude.
    let (lon, lat) = (0.0005, 50.83);
    let n = 64;
    let r = s.read_patch(lon, lat, 2024, n, None, &p).unwrap();
    assert_eq!((r.height, r.width, r.data.len()), (n, n, n * n * 128));
    assert!(
        r.crs
            .starts_with("PROJCRS[\"Tessera patch Transverse Mercator lon_0=0.0005\"")
    );
    let tm = tessera_core::tm::TransverseMercator {
        lon0: lon,
        k0: 0.9996,
        false_easting: 500_000.0,
        false_northing: 0.0,
    };
    let mut zones = std::collections::BTreeSet::new();
    for (row, col) in [(32, 32), (32, 0), (32, 63), (0, 0), (63, 63), (10, 20)] {
        let x = r.transform[2] + (col as f64 + 0.5) * 10.0;
        let y = r.transform[5] - (row as f64 + 0.5) * 10.0;
        let (plon, plat) = tm.inverse(x, y);
        zones.insert(tessera_core::utm_zone(plon));
        let one = s.sample_at(plon, plat, 2024, &opts).unwrap();
        let px = &r.data[(row * n + col) * 128..(row * n + col + 1) * 128];
        if one.iter().all(|v| v.is_nan()) {
            continue; // a gap of the owning zone, filled from the other one
        }
        assert!(
            px.iter().zip(&one).all(|(a, b)| a.to_bits() == b.to_bits()),
            "pixel ({row}, {col})"
        );
    }
    assert_eq!(zones.len(), 2);
}

fn tif_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

#[test]
fn zone_exports_with_dry_run_sidecar_and_reruns() {
    let s = open();
    let wide = Bbox::new(-0.02, 50.82, 0.03, 50.84).unwrap();
    let opts = ExportOptions {
        bands: Some(vec![0, 5, 127]),
        memory_mb: 256,
        ..Default::default()
    };
    let plan = s.export_plan(&wide, 2024, &opts).unwrap();
    assert_eq!(
        plan.iter().map(|z| z.zone).collect::<Vec<_>>(),
        vec![30, 31]
    );
    for z in &plan {
        assert_eq!(z.uncompressed_bytes, z.width * z.height * 3 * 4);
    }
    let out = scratch("api-store-export");
    let p = Progress::new();
    let rep = s.export_geotiffs(&wide, 2024, &out, &opts, &p).unwrap();
    assert_eq!(rep.files.len(), 2);
    assert_eq!((rep.kept, rep.resumed), (0, 0));
    let (done, total, phase) = p.snapshot();
    assert_eq!((done, phase.as_str()), (total, "pixels"));
    assert_eq!(total, plan.iter().map(|z| z.width * z.height).sum::<u64>());
    assert!(
        rep.sidecar
            .as_ref()
            .unwrap()
            .ends_with("tessera_metadata.json")
    );
    assert_eq!(
        tif_files(&out),
        vec![
            "tessera_2024_utm30.tif",
            "tessera_2024_utm31.tif",
            "tessera_metadata.json"
        ]
    );
    let again = s.export_geotiffs(&wide, 2024, &out, &opts, &p).unwrap();
    assert_eq!(again.kept, 2);
    // Bad bands and budgets are usage errors; a region off the grid says what is covered.
    let bad = ExportOptions {
        bands: Some(vec![128]),
        ..Default::default()
    };
    assert!(s.export_plan(&wide, 2024, &bad).unwrap_err().is_usage());
    let off = Bbox::new(20.0, 10.0, 20.1, 10.1).unwrap();
    let e = s.export_plan(&off, 2024, &opts).unwrap_err();
    assert!(
        e.to_string().contains("meets none of the zone grids"),
        "{e}"
    );
}

#[test]
fn a_cancelled_progress_stops_every_long_call() {
    let s = open();
    let p = Progress::new();
    p.cancel();
    let pts = [(0.02, 50.83)];
    let cancelled = |e: Error| matches!(e, Error::Cancelled);
    assert!(cancelled(
        s.sample_points(&pts, 2024, &PointOptions::default(), &p)
            .unwrap_err()
    ));
    assert!(cancelled(
        s.read_region(&bbox(), 2024, None, &p).unwrap_err()
    ));
    let out = scratch("api-store-cancel");
    let e = s
        .export_geotiffs(&bbox(), 2024, &out, &ExportOptions::default(), &p)
        .unwrap_err();
    assert!(cancelled(e));
    assert!(!out.join("tessera_2024_utm31.tif").exists());
    let e = s.strips(&bbox(), 2024, None, 8, &p).unwrap_err();
    assert!(cancelled(e));
}

#[test]
fn cancel_from_another_thread() {
    let s = open();
    // Strips: one taken, then the call is cancelled from another thread; the iterator
    // ends with Cancelled soon after.
    let p = std::sync::Arc::new(Progress::new());
    let mut it = s.strips(&bbox(), 2024, None, 1, &p).unwrap();
    assert!(it.total() > 10);
    assert!(it.next().unwrap().is_ok());
    let q = p.clone();
    std::thread::spawn(move || q.cancel()).join().unwrap();
    let rest: Vec<_> = it.by_ref().collect();
    assert!(rest.len() <= 2, "{} strips after the cancel", rest.len());
    assert!(matches!(rest.last(), Some(Err(Error::Cancelled))));
    // Points: many batches, cancelled by a watcher once the first batch is done.
    let pts: Vec<(f64, f64)> = (0..400_000)
        .map(|i| {
            (
                0.011 + (i % 1000) as f64 * 1e-5,
                50.821 + (i / 1000) as f64 * 4e-5,
            )
        })
        .collect();
    let p = std::sync::Arc::new(Progress::new());
    let q = p.clone();
    let watcher = std::thread::spawn(move || {
        while q.snapshot().0 == 0 {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        q.cancel();
    });
    let r = s.sample_points(&pts, 2024, &PointOptions::default(), &p);
    watcher.join().unwrap();
    assert!(
        matches!(r, Err(Error::Cancelled)),
        "{:?}",
        r.map(|s| s.len())
    );
    assert!(p.snapshot().0 < pts.len() as u64);
}

#[test]
fn builds_verify_against_their_tiles() {
    let c = ctx();
    let s = open();
    let d = s.dataset().unwrap().clone();
    let rep = store::build::verify(&c, &s, &d, None, 1, &Progress::new()).unwrap();
    assert!(rep.ok(), "{rep:?}");
    assert!(rep.tiles > 0);
    // A split build of one zone into a fresh directory: its shards only.
    let out = scratch("api-store-build").join("store");
    let mut req = store::build::BuildRequest::new(d, out.clone());
    req.zones = Some(vec![31]);
    let p = Progress::new();
    let got = store::build::build(&c, &req, &p).unwrap();
    assert_eq!(got.report.written, got.report.units_task);
    assert!(got.plan.grids.contains_key(&30));
    let (done, total, _) = p.snapshot();
    assert_eq!(done, total);
    req.zones = Some(vec![61]);
    assert!(store::build::build(&c, &req, &p).unwrap_err().is_usage());
    req.zones = None;
    req.years = Some(vec![1800]);
    let e = store::build::build(&c, &req, &p).unwrap_err();
    assert!(e.to_string().contains("no tiles for these years"), "{e}");
}

#[test]
fn an_export_cancelled_from_another_thread_leaves_no_file_and_a_rerun_completes() {
    let s = open();
    let wide = Bbox::new(-0.02, 50.82, 0.03, 50.84).unwrap();
    let opts = ExportOptions {
        memory_mb: 256,
        ..Default::default()
    };
    let out = scratch("api-store-export-cancel");
    let p = std::sync::Arc::new(Progress::new());
    let q = p.clone();
    // Cancelled as soon as the export starts its pixels.
    let watcher = std::thread::spawn(move || {
        while q.snapshot().2 != "pixels" {
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        q.cancel();
    });
    let r = s.export_geotiffs(&wide, 2024, &out, &opts, &p);
    watcher.join().unwrap();
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert!(
        tif_files(&out).iter().all(|f| !f.ends_with(".tif")),
        "{:?}",
        tif_files(&out)
    );
    let rep = s
        .export_geotiffs(&wide, 2024, &out, &opts, &Progress::new())
        .unwrap();
    assert_eq!(rep.files.len(), 2);
    for f in &rep.files {
        assert!(f.path.is_file() && f.bytes > 0);
    }
}
