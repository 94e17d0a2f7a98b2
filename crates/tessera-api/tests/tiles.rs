//! The tile API against a synthetic mirror, read in place and served over HTTP.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tessera_api::tiles::{
    DatasetOptions, DownloadOutcome, DownloadRequest, EnsureOptions, ExportOptions, RegionArgs,
    SampleSource, TileDataset, TileFormat, download,
};
use tessera_api::{Context, ContextOptions, Error, Level, Progress};
use tessera_core::{Bbox, TileGeoref, TileId};
use tessera_server::{FaultRule, MirrorServer, ServerConfig};
use tessera_synth::{SynthOptions, synthesize};
use tessera_testkit::{scratch, scratch_shared};

const BBOX: [f64; 4] = [23.91, 69.01, 24.09, 69.09];

/// Two Lapland tiles on both sides of the UTM 34/35 seam, 2023 and 2024, no gaps.
fn mirror() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_shared("api-mirror");
        let mut o = SynthOptions::new(&dir, Bbox::new(BBOX[0], BBOX[1], BBOX[2], BBOX[3]).unwrap());
        o.years = vec![2023, 2024];
        o.datasets = vec!["v1.1-cam".into()];
        o.missing_rate = 0.0;
        synthesize(&o, &|_, _, _| {}).unwrap();
        dir
    })
}

fn context(mirror: &str, cache: &Path) -> Context {
    Context::open(ContextOptions {
        mirror: Some(mirror.to_string()),
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    })
    .unwrap()
}

fn local(cache: &Path) -> Context {
    context(&mirror().display().to_string(), cache)
}

fn open(ctx: &Context, opts: DatasetOptions) -> Result<TileDataset, Error> {
    TileDataset::open(ctx, &opts, &Progress::new())
}

#[test]
fn registry_listings_and_sizes() {
    let w = scratch("api-registry");
    let ds = open(&local(&w), DatasetOptions::default()).unwrap();
    assert_eq!(ds.label(), "v1.1 cambridge");
    assert_eq!(ds.years().unwrap(), vec![2023, 2024]);
    let counts = ds.tile_counts_by_year().unwrap();
    assert_eq!(counts.get(&2024), Some(&2));
    let blocks = ds.load_blocks_for_region(BBOX, 2024).unwrap();
    assert_eq!(blocks.len(), 2);
    assert!(blocks.iter().all(|b| b.0 == 2024));
    assert!(blocks.contains(&(2024, 23.95, 69.05)) && blocks.contains(&(2024, 24.05, 69.05)));
    // A box that only touches a tile centre's 0.05-degree halo still selects it.
    assert_eq!(
        ds.embeddings_count([24.0, 69.1, 24.0, 69.1], 2024).unwrap(),
        2
    );
    assert_eq!(ds.available_embeddings().unwrap().len(), 4);
    assert_eq!(ds.available_landmasks().unwrap().len(), 2);
    assert_eq!(ds.landmask_count().unwrap(), 2);
    let g = ds.tile_file_size(2024, 23.95, 69.05).unwrap();
    let s = ds.scales_file_size(2024, 23.95, 69.05).unwrap();
    let l = ds.landmask_file_size(23.95, 69.05).unwrap();
    let key = "npy/v1.1-cam/2024/grid_23.95_69.05/grid_23.95_69.05.npy";
    assert_eq!(std::fs::metadata(mirror().join(key)).unwrap().len(), g);
    let tiles = [(2024, 23.95, 69.05)];
    let out = w.join("out");
    let (bytes, files, sizes) = ds
        .calculate_download_requirements(&tiles, &out, TileFormat::Npy, true)
        .unwrap();
    assert_eq!((bytes, files, sizes.len()), (g + s + l, 3, 3));
    let (tb, tf, _) = ds
        .calculate_download_requirements(&tiles, &out, TileFormat::Tiff, true)
        .unwrap();
    assert_eq!((tb, tf), (4 * g + l, 1));
    let e = ds
        .tile_file_size(2024, 10.05, 50.05)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Tile not found in registry: year=2024, lon=10.05, lat=50.05"),
        "{e}"
    );
}

#[test]
fn bbox_scoping_has_the_reference_errors() {
    let w = scratch("api-scope");
    let ctx = local(&w);
    let scoped = |b: [f64; 4], m: f64| {
        open(
            &ctx,
            DatasetOptions {
                bbox: Some(b),
                bbox_margin_deg: m,
                ..Default::default()
            },
        )
    };
    let e = scoped([24.0, 69.1, 23.9, 69.0], 0.15)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("min <= max"), "{e}");
    let e = scoped(BBOX, -0.1).err().unwrap().to_string();
    assert!(e.contains("non-negative"), "{e}");
    let e = scoped([10.0, 50.0, 10.1, 50.1], 0.15)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no tiles within bbox"), "{e}");
    let ds = scoped([23.92, 69.02, 23.98, 69.08], 0.0).unwrap();
    assert_eq!(
        ds.available_embeddings().unwrap().len(),
        2,
        "one tile, two years"
    );
    let e = ds
        .load_blocks_for_region(BBOX, 2024)
        .unwrap_err()
        .to_string();
    assert!(e.contains("outside the registry bbox"), "{e}");
    let wide = scoped([23.92, 69.02, 23.98, 69.08], 0.15).unwrap();
    let inside = wide.load_blocks_for_region([23.92, 69.02, 23.98, 69.08], 2024);
    assert_eq!(inside.unwrap(), vec![(2024, 23.95, 69.05)]);
}

#[test]
fn ensure_fetch_and_export_skip_what_exists() {
    let w = scratch("api-fetch");
    let ds = open(&local(&w), DatasetOptions::default()).unwrap();
    let dir = w.join("tiles");
    let p = Progress::new();
    let t = ds
        .fetch_embedding(&dir, 23.97, 69.03, 2024, false, &p)
        .unwrap();
    assert_eq!(t.tile.name(), "grid_23.95_69.05");
    let g = TileGeoref::of_tile(t.tile);
    assert_eq!((t.height, t.width, t.bands), (g.height, g.width, 128));
    assert_eq!(t.data.len(), t.height * t.width * 128);
    assert_eq!(t.epsg, g.crs.epsg().unwrap());
    assert_eq!(t.transform, g.transform.to_array());
    assert!(dir.join(tessera_api::tiles::METADATA_FILE).is_file());
    // Present now: a second call fetches nothing.
    let entries = ds
        .tiles_in_bounds([23.96, 69.02, 23.98, 69.04], 2024)
        .unwrap();
    let rep = ds
        .ensure_tiles(&dir, &entries, EnsureOptions::default(), &p)
        .unwrap();
    assert_eq!((rep.download.downloaded(), rep.download.skipped()), (0, 3));
    let tiles = [(2024, t.tile)];
    let out = w.join("tiffs");
    let opts = ExportOptions {
        bands: Some(vec![0, 5]),
        ..Default::default()
    };
    let a = ds.export_geotiffs(&dir, &out, &tiles, &opts, &p).unwrap();
    assert_eq!(
        (a.written.len(), a.skipped.len(), a.errors.len()),
        (1, 0, 0)
    );
    assert!(
        a.written[0]
            .0
            .ends_with("2024/grid_23.95_69.05/grid_23.95_69.05_2024.tiff")
    );
    let b = ds.export_geotiffs(&dir, &out, &tiles, &opts, &p).unwrap();
    assert_eq!((b.written.len(), b.skipped.len()), (0, 1));
    assert!(tessera_api::tiles::tile_present(&dir, 2024, t.tile));
    // A cancelled export writes nothing under a final name.
    let stopped = Progress::new();
    stopped.cancel();
    let fresh = w.join("tiffs2");
    let r = ds.export_geotiffs(&dir, &fresh, &tiles, &opts, &stopped);
    assert!(matches!(r, Err(Error::Cancelled)), "{:?}", r.map(|_| ()));
    let mut left = Vec::new();
    let mut stack = vec![fresh];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                left.push(e.path());
            }
        }
    }
    assert!(
        left.iter().all(|p| !p.to_string_lossy().ends_with(".tiff")),
        "{left:?}"
    );
}

#[test]
fn download_job_over_http_with_dry_run() {
    let w = scratch("api-download");
    let server = MirrorServer::start(ServerConfig::new(mirror())).unwrap();
    let ctx = context(&server.url(), &w.join("cache"));
    let out = w.join("out");
    let mut req = DownloadRequest {
        region: RegionArgs {
            bbox: Some("23.91,69.01,24.09,69.09".into()),
            ..Default::default()
        },
        year: 2024,
        format: TileFormat::Tiff,
        output: Some(out.clone()),
        bands: Some(vec![1, 2, 3]),
        compression: tessera_api::tiles::Compression::Lzw,
        jobs: 4,
        dry_run: true,
        sidecar_extra: Vec::new(),
    };
    let p = Progress::new();
    let DownloadOutcome::DryRun(d) = download(&ctx, &DatasetOptions::default(), &req, &p).unwrap()
    else {
        panic!("a dry run")
    };
    assert_eq!((d.files, d.tiles.len(), d.geotiff_files), (6, 2, 2));
    assert!(!out.exists(), "a dry run creates nothing");
    req.dry_run = false;
    let DownloadOutcome::Done(s) = download(&ctx, &DatasetOptions::default(), &req, &p).unwrap()
    else {
        panic!("a download")
    };
    assert!(s.error().is_none(), "{:?}", s.error());
    assert_eq!(
        (s.downloaded_files, s.complete_tiles, s.geotiffs.len()),
        (6, 2, 2)
    );
    assert!(out.join("tessera_metadata.json").is_file());
    let DownloadOutcome::Done(again) =
        download(&ctx, &DatasetOptions::default(), &req, &p).unwrap()
    else {
        panic!("a download")
    };
    assert_eq!(
        (
            again.downloaded_files,
            again.skipped_files,
            again.geotiffs_skipped
        ),
        (0, 6, 2)
    );
    // Offline: the cached registry is enough.
    let offline = open(
        &ctx,
        DatasetOptions {
            offline: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(offline.years().unwrap(), vec![2023, 2024]);
    // An empty region says what exists instead.
    req.region.bbox = Some("23.91,69.01,24.09,69.09".into());
    req.year = 2019;
    let e = download(&ctx, &DatasetOptions::default(), &req, &p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("2023, 2024"), "{e}");
    server.stop();
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter()
        .map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() })
        .collect()
}

#[test]
fn sampling_agrees_across_sources_and_warns_as_data() {
    let w = scratch("api-sample");
    let server = MirrorServer::start(ServerConfig::new(mirror())).unwrap();
    let lon = [23.93, 23.99, 24.02, 24.08, 10.0];
    let lat = [69.02, 69.08, 69.05, 69.03, 50.0];
    let mut got = Vec::new();
    let http = context(&server.url(), &w.join("cache"));
    let ds_http = open(&http, DatasetOptions::default()).unwrap();
    let ds_local = open(&local(&w.join("cache2")), DatasetOptions::default()).unwrap();
    let dir = w.join("tiles");
    for (ds, source) in [
        (&ds_local, SampleSource::Mirror { jobs: 4 }),
        (&ds_http, SampleSource::Mirror { jobs: 4 }),
        (
            &ds_http,
            SampleSource::TilesDir {
                dir: dir.clone(),
                offline: false,
            },
        ),
        (
            &ds_http,
            SampleSource::TilesDir {
                dir: dir.clone(),
                offline: true,
            },
        ),
    ] {
        let p = Progress::new();
        let s = ds.sample_points(&lon, &lat, 2024, &source, &p).unwrap();
        assert_eq!((s.covered, s.uncovered, s.bands), (4, 1, 128));
        assert_eq!(s.values.len(), lon.len() * 128);
        assert_eq!(s.meta[4].status, "no_coverage");
        let notes = p.take_notes();
        assert!(
            notes
                .iter()
                .any(|n| n.level == Level::Warning && n.text.contains("without coverage")),
            "{notes:?}"
        );
        got.push(bits(&s.values));
    }
    assert!(
        got.windows(2).all(|w| w[0] == w[1]),
        "every source gives the same bits"
    );
    let e = ds_http
        .sample_points(
            &lon,
            &lat,
            2023,
            &SampleSource::TilesDir {
                dir: dir.clone(),
                offline: true,
            },
            &Progress::new(),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("tiles are missing from"), "{e}");
    server.stop();
}

#[test]
fn a_download_stops_when_cancelled_from_another_thread() {
    let w = scratch("api-cancel");
    let mut cfg = ServerConfig::new(mirror());
    cfg.faults = FaultRule::parse_all(["**/*.npy:rate=200k"]).unwrap();
    let server = MirrorServer::start(cfg).unwrap();
    let ctx = context(&server.url(), &w.join("cache"));
    let ds = open(&ctx, DatasetOptions::default()).unwrap();
    let tiles = ds.tiles_in_bounds(BBOX, 2024).unwrap();
    let dir = w.join("tiles");
    let p = Progress::new();
    let started = Instant::now();
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            p.cancel();
        });
        ds.ensure_tiles(&dir, &tiles, EnsureOptions::default(), &p)
    });
    let took = started.elapsed();
    assert!(matches!(r, Err(Error::Cancelled)), "{:?}", r.map(|_| ()));
    assert!(took < Duration::from_secs(3), "stopped after {took:?}");
    let (done, total, phase) = p.snapshot();
    assert_eq!(phase, "download");
    assert!(done < total, "{done} of {total}");
    let t = TileId::containing(23.97, 69.03).unwrap();
    let (e, _, _) = tessera_client::local::npy_paths(&dir, 2024, t);
    assert!(!e.exists(), "nothing partial under a final name");
    // The process-wide request is untouched: a fresh call works.
    assert!(!tessera_client::cancel::requested());
    server.stop();
}

#[test]
fn registry_overrides_and_offline_without_a_cache() {
    let w = scratch("api-overrides");
    let server = MirrorServer::start(ServerConfig::new(mirror())).unwrap();
    let ctx = context(&server.url(), &w.join("cache"));
    // Offline before anything was cached: a usage error that says what to do.
    let e = open(
        &ctx,
        DatasetOptions {
            offline: true,
            ..Default::default()
        },
    )
    .err()
    .unwrap();
    assert!(
        matches!(e, Error::Usage(_)) && e.to_string().contains("offline"),
        "{e}"
    );
    // The manifest by its own URL.
    let url = format!("{}/npy/v1.1-cam/manifest.parquet", server.url());
    let ds = open(
        &ctx,
        DatasetOptions {
            registry_url: Some(url),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ds.years().unwrap(), vec![2023, 2024]);
    // Local registry files, used as they are.
    let regs = w.join("registries");
    std::fs::create_dir_all(&regs).unwrap();
    let (m, l) = (regs.join("m.parquet"), regs.join("l.parquet"));
    std::fs::copy(mirror().join("npy/v1.1-cam/manifest.parquet"), &m).unwrap();
    let lm = std::fs::read_dir(mirror().join("landmasks"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("landmasks.parquet"))
        .find(|p| p.is_file())
        .unwrap();
    std::fs::copy(lm, &l).unwrap();
    let p = Progress::new();
    let ds = TileDataset::open(
        &ctx,
        &DatasetOptions {
            registry_path: Some(m.clone()),
            landmasks_registry_path: Some(l),
            ..Default::default()
        },
        &p,
    )
    .unwrap();
    assert_eq!(ds.manifest_path(), m.as_path());
    assert_eq!(ds.landmask_count().unwrap(), 2);
    assert!(p.take_notes().is_empty());
    // A registry path that does not exist: the mirror's, with a warning.
    let p = Progress::new();
    let ds = TileDataset::open(
        &ctx,
        &DatasetOptions {
            registry_path: Some(regs.join("absent.parquet")),
            ..Default::default()
        },
        &p,
    )
    .unwrap();
    assert_eq!(ds.years().unwrap(), vec![2023, 2024]);
    let notes = p.take_notes();
    assert!(
        notes
            .iter()
            .any(|n| n.level == Level::Warning && n.text.contains("does not exist")),
        "{notes:?}"
    );
    server.stop();
}

#[test]
fn refresh_fetches_again_and_unknown_datasets_are_usage_errors() {
    let w = scratch("api-refresh");
    let ctx = local(&w);
    let e = open(
        &ctx,
        DatasetOptions {
            variant: Some("nonesuch".into()),
            ..Default::default()
        },
    )
    .err()
    .unwrap();
    assert!(matches!(e, Error::Usage(_)), "{e}");
    let ds = open(&ctx, DatasetOptions::default()).unwrap();
    let dir = w.join("tiles");
    let p = Progress::new();
    let entries = ds
        .tiles_in_bounds([23.96, 69.02, 23.98, 69.04], 2023)
        .unwrap();
    let first = ds
        .ensure_tiles(&dir, &entries, EnsureOptions::default(), &p)
        .unwrap();
    assert_eq!((first.download.downloaded(), first.complete.len()), (3, 1));
    let again = EnsureOptions {
        refresh: true,
        ..Default::default()
    };
    let second = ds.ensure_tiles(&dir, &entries, again, &p).unwrap();
    assert_eq!(
        second.download.downloaded(),
        3,
        "refresh fetches every file again"
    );
    let (done, total, phase) = p.snapshot();
    assert_eq!((phase.as_str(), done), ("download", total));
    // A directory recording another dataset is refused.
    std::fs::write(
        dir.join("tessera_metadata.json"),
        "{\"dataset_version\": \"1.0\", \"dataset_variant\": \"vultr\"}",
    )
    .unwrap();
    let e = ds
        .fetch_embedding(&dir, 23.97, 69.03, 2024, false, &p)
        .unwrap_err();
    assert!(e.to_string().contains("cannot be interchanged"), "{e}");
}
