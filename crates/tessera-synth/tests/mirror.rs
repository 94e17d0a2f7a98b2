//! The synthetic mirror: the published layout read by the oracles (pyarrow, NumPy, GDAL
//! with georeferences from pyproj), a learnable but not trivial world, determinism, gaps
//! and ocean.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tessera_core::{Bbox, TileGeoref, TileId};
use tessera_formats::geotiff::GeoTiffReader;
use tessera_formats::npy::NpyFile;
use tessera_synth::{SynthOptions, synthesize, verify_mirror};
use tessera_testkit::{gdalinfo, run_python, scratch, scratch_shared};

/// Two tiles on both sides of the UTM 34/35 seam in Lapland, two years, two datasets.
fn north() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_shared("synth-north");
        let mut o = SynthOptions::new(&dir, Bbox::new(23.91, 69.01, 24.09, 69.09).unwrap());
        o.years = vec![2023, 2024];
        o.datasets = vec!["v1".into(), "v1.1-cam".into()];
        o.missing_rate = 0.0;
        o.labels_per_class = 80;
        let r = synthesize(&o, &|_, _, _| {}).unwrap();
        assert_eq!((r.tiles, r.land_tiles), (2, 2));
        assert_eq!(r.tile_years.values().sum::<usize>(), 8);
        dir
    })
}

fn south(dir: &Path) -> SynthOptions {
    let mut o = SynthOptions::new(dir, Bbox::new(0.01, -80.09, 0.09, -80.01).unwrap());
    o.years = vec![2024];
    o.datasets = vec!["v1".into()];
    o
}

#[test]
fn layout_read_by_the_oracles() {
    let dir = north();
    let rep = verify_mirror(dir);
    assert!(rep.ok(), "{:?}", rep.problems);
    assert_eq!(rep.rows["v1"], 4);
    assert_eq!(rep.rows["v1.1-cam"], 4);
    let south_dir = scratch("synth-south-layout");
    synthesize(&south(&south_dir), &|_, _, _| {}).unwrap();
    assert!(verify_mirror(&south_dir).ok());
    let script = r#"
import sys, json, os, numpy as np, pyarrow.parquet as pq
from pyproj import Transformer
out = {}
for root in sys.argv[1:]:
    for ds in sorted(os.listdir(f"{root}/npy")):
        t = pq.read_table(f"{root}/npy/{ds}/manifest.parquet")
        schema = [[f.name, str(f.type)] for f in t.schema]
        rows = t.to_pylist()
        checked = []
        for r in rows:
            key = r["grid_path"].replace("s3://tessera/tessera/", "")
            e = np.load(f"{root}/{key}", mmap_mode="r")
            s = np.load(f"{root}/" + r["scales_path"].replace("s3://tessera/tessera/", ""))
            assert os.path.getsize(f"{root}/{key}") == r["grid_size"]
            lon, lat = r["lon"], r["lat"]
            zone = max(1, min(60, int(np.floor((lon + 180) / 6)) + 1))
            epsg = (32700 if lat < 0 else 32600) + zone
            tr = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
            (ulx, uly), (urx, ury) = tr.transform(lon - 0.05, lat + 0.05), tr.transform(lon + 0.05, lat + 0.05)
            (llx, lly), (lrx, lry) = tr.transform(lon - 0.05, lat - 0.05), tr.transform(lon + 0.05, lat - 0.05)
            ox, oy = min(ulx, llx), max(uly, ury)
            w, h = round((max(urx, lrx) - ox) / 10), round((oy - min(lly, lry)) / 10)
            valid = np.isfinite(s) & (s < 1)
            checked.append({"name": os.path.basename(key)[:-4], "year": r["year"], "epsg": epsg,
                "origin": [ox, oy], "shape": list(e.shape), "dtype": e.dtype.str, "want": [h, w, 128],
                "sshape": list(s.shape), "sdtype": s.dtype.str, "median_scale": float(np.median(s[valid])),
                "nodata": float((~valid).mean()), "qmax": int(np.abs(e[::50, ::50]).max())})
        out[f"{os.path.basename(root)}/{ds}"] = {"schema": schema, "rows": checked,
            "variant": sorted({r["variant"] for r in rows}), "version": sorted({r["version"] for r in rows})}
print(json.dumps(out))
"#;
    let out: serde_json::Value = serde_json::from_str(&run_python(
        script,
        &[&dir.display().to_string(), &south_dir.display().to_string()],
    ))
    .unwrap();
    let mut n = 0;
    for (name, ds) in out.as_object().unwrap() {
        assert_eq!(ds["schema"].as_array().unwrap().len(), 14, "{name}");
        assert_eq!(
            ds["schema"][8],
            serde_json::json!(["grid_mtime", "timestamp[ns, tz=UTC]"])
        );
        if name.ends_with("/v1") {
            assert_eq!(ds["version"], serde_json::json!(["1.0"]));
            assert_eq!(ds["variant"], serde_json::json!(["vultr"]));
        } else {
            assert_eq!(ds["version"], serde_json::json!(["1.1"]));
            assert_eq!(ds["variant"], serde_json::json!(["cambridge"]));
        }
        for r in ds["rows"].as_array().unwrap() {
            n += 1;
            assert_eq!(r["shape"], r["want"], "{r}");
            assert_eq!(r["dtype"], "|i1");
            assert_eq!(r["sdtype"], "<f4");
            assert_eq!(
                r["sshape"].as_array().unwrap()[..],
                r["want"].as_array().unwrap()[..2]
            );
            let m = r["median_scale"].as_f64().unwrap();
            assert!(
                (0.02..0.15).contains(&m),
                "real scales have a median near 0.064: {m}"
            );
            assert!(r["nodata"].as_f64().unwrap() < 0.02);
            assert!(
                r["qmax"].as_i64().unwrap() == 127,
                "each pixel uses the full int8 range"
            );
            // Our georeference, computed from the name, equals pyproj's.
            let tile: TileId = r["name"].as_str().unwrap().parse().unwrap();
            let g = TileGeoref::of_tile(tile);
            assert_eq!(
                u64::from(g.crs.epsg().unwrap()),
                r["epsg"].as_u64().unwrap()
            );
            assert!((g.transform.c - r["origin"][0].as_f64().unwrap()).abs() < 1e-3);
            assert!((g.transform.f - r["origin"][1].as_f64().unwrap()).abs() < 1e-3);
        }
    }
    assert_eq!(n, 9);
    // GDAL reads the landmasks with the georeference computed from the tile name.
    for (root, vdir, name) in [
        (dir.as_path(), "v1", "grid_23.95_69.05"),
        (dir.as_path(), "v1.1", "grid_24.05_69.05"),
        (south_dir.as_path(), "v1", "grid_0.05_-80.05"),
    ] {
        let path = root.join(format!("landmasks/{vdir}/{name}.tiff"));
        let info = gdalinfo(&path);
        let g = TileGeoref::of_tile(name.parse().unwrap());
        assert_eq!(info["stac"]["proj:epsg"], g.crs.epsg().unwrap());
        assert_eq!(info["size"], serde_json::json!([g.width, g.height]));
        let gt: Vec<f64> = info["geoTransform"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(gt, g.transform.to_gdal().to_vec());
        assert_eq!(info["bands"][0]["type"], "Byte");
    }
}

/// Dequantised embedding of one pixel.
fn pixel(root: &Path, ds: &str, year: i32, tile: TileId, row: usize, col: usize) -> Vec<f32> {
    let key = tessera_core::dataset::keys::embedding(ds, year, tile);
    let e = NpyFile::open(&root.join(&key)).unwrap();
    let s = NpyFile::open(&root.join(tessera_core::dataset::keys::scales(ds, year, tile))).unwrap();
    let w = e.shape()[1];
    let q = &e.as_slice::<i8>().unwrap()[(row * w + col) * 128..(row * w + col + 1) * 128];
    let sc = s.as_slice::<f32>().unwrap()[row * w + col];
    q.iter().map(|&v| f32::from(v) * sc).collect()
}

fn labels(root: &Path, year: i32) -> Vec<(u8, TileId, usize, usize, f64, f64)> {
    let text = std::fs::read_to_string(root.join(format!("truth/{year}/labels.geojson"))).unwrap();
    let fc: serde_json::Value = serde_json::from_str(&text).unwrap();
    fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let c = &f["geometry"]["coordinates"];
            (
                p["class"].as_u64().unwrap() as u8,
                p["tile"].as_str().unwrap().parse().unwrap(),
                p["row"].as_u64().unwrap() as usize,
                p["col"].as_u64().unwrap() as usize,
                c[0].as_f64().unwrap(),
                c[1].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn world_is_learnable() {
    let dir = north();
    let labels = labels(dir, 2024);
    // Every label's point routes back to its tile and pixel with the published arithmetic.
    for &(_, tile, row, col, lon, lat) in &labels {
        assert_eq!(TileId::containing(lon, lat).unwrap(), tile);
        assert_eq!(
            TileGeoref::of_tile(tile).pixel_of(lon, lat),
            Some((row, col))
        );
    }
    let mut by_class: BTreeMap<u8, Vec<Vec<f32>>> = BTreeMap::new();
    for &(c, tile, row, col, _, _) in &labels {
        by_class
            .entry(c)
            .or_default()
            .push(pixel(dir, "v1", 2024, tile, row, col));
    }
    by_class.retain(|_, v| v.len() >= 25);
    assert!(
        by_class.len() >= 5,
        "classes with labels: {:?}",
        by_class.keys()
    );
    // Nearest class centroid, fitted on 20 labels per class.
    let centroids: BTreeMap<u8, Vec<f32>> = by_class
        .iter()
        .map(|(&c, v)| {
            let mut m = vec![0f32; 128];
            for e in &v[..20] {
                m.iter_mut().zip(e).for_each(|(a, b)| *a += b / 20.0);
            }
            (c, m)
        })
        .collect();
    let predict = |e: &[f32]| -> u8 {
        *centroids
            .iter()
            .min_by(|a, b| {
                let d = |m: &Vec<f32>| m.iter().zip(e).map(|(x, y)| (x - y).powi(2)).sum::<f32>();
                d(a.1).total_cmp(&d(b.1))
            })
            .unwrap()
            .0
    };
    // Held-out labels.
    let (mut ok, mut n) = (0, 0);
    for (&c, v) in &by_class {
        for e in &v[20..] {
            ok += usize::from(predict(e) == c);
            n += 1;
        }
    }
    let held_out = ok as f64 / n as f64;
    // Every 97th pixel of a whole tile against the class raster (the ground truth).
    let tile: TileId = "grid_23.95_69.05".parse().unwrap();
    let mut truth =
        GeoTiffReader::open(&dir.join(format!("truth/2024/{tile}_classes.tiff"))).unwrap();
    let classes: Vec<u8> = truth.read_all().unwrap();
    let e =
        NpyFile::open(&dir.join(tessera_core::dataset::keys::embedding("v1", 2024, tile))).unwrap();
    let s =
        NpyFile::open(&dir.join(tessera_core::dataset::keys::scales("v1", 2024, tile))).unwrap();
    let (q, sc) = (e.as_slice::<i8>().unwrap(), s.as_slice::<f32>().unwrap());
    let (mut ok2, mut n2) = (0, 0);
    for i in (0..classes.len()).step_by(97) {
        let valid_scale = sc[i].is_finite() && sc[i] < 1.0;
        if !centroids.contains_key(&classes[i]) || !valid_scale {
            continue;
        }
        let v: Vec<f32> = q[i * 128..(i + 1) * 128]
            .iter()
            .map(|&x| f32::from(x) * sc[i])
            .collect();
        ok2 += usize::from(predict(&v) == classes[i]);
        n2 += 1;
    }
    let pixels = ok2 as f64 / n2 as f64;
    let chance = 1.0 / centroids.len() as f64;
    eprintln!(
        "nearest centroid: {held_out:.3} on {n} held-out labels, {pixels:.3} on {n2} pixels; chance {chance:.3}"
    );
    // Learnable: far above chance. Not trivial: related classes (cropland and grassland,
    // bare ground and built-up) are sometimes confused, as in real embeddings.
    assert!(held_out > 0.75 && pixels > 0.75, "{held_out} {pixels}");
    assert!(held_out > 4.0 * chance);
    assert!(
        held_out < 0.99 && pixels < 0.99,
        "{held_out} {pixels}: too easy to mean anything"
    );
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn neighbouring_years_are_similar_not_identical() {
    let dir = north();
    let tile: TileId = "grid_24.05_69.05".parse().unwrap();
    let read = |y: i32| -> Vec<u8> {
        GeoTiffReader::open(&dir.join(format!("truth/{y}/{tile}_classes.tiff")))
            .unwrap()
            .read_all()
            .unwrap()
    };
    let (a, b) = (read(2023), read(2024));
    let changed = a.iter().zip(&b).filter(|(x, y)| x != y).count() as f64 / a.len() as f64;
    assert!(
        changed > 0.001 && changed < 0.25,
        "{changed} of pixels changed class"
    );
    let g = TileGeoref::of_tile(tile);
    let mut sims = Vec::new();
    let mut cross = Vec::new();
    for i in (0..a.len()).step_by(1013) {
        let (r, c) = (i / g.width, i % g.width);
        let (e23, e24) = (
            pixel(dir, "v1", 2023, tile, r, c),
            pixel(dir, "v1", 2024, tile, r, c),
        );
        if e23.iter().all(|v| *v == 0.0) || e24.iter().all(|v| *v == 0.0) {
            continue; // no-observation pixels
        }
        if a[i] == b[i] {
            sims.push(cosine(&e23, &e24));
        }
        cross.push(cosine(&e24, &pixel(dir, "v1.1-cam", 2024, tile, r, c)));
    }
    sims.sort_by(f64::total_cmp);
    cross.sort_by(f64::total_cmp);
    let med = sims[sims.len() / 2];
    assert!(
        med > 0.9 && med < 0.9999,
        "same pixel, neighbouring years: median cosine {med}"
    );
    let cmed = cross[cross.len() / 2];
    assert!(
        cmed < 0.6,
        "datasets do not interoperate: median cosine {cmed}"
    );
}

#[test]
fn deterministic() {
    let (a, b) = (scratch("synth-det-a"), scratch("synth-det-b"));
    synthesize(&south(&a), &|_, _, _| {}).unwrap();
    synthesize(&south(&b), &|_, _, _| {}).unwrap();
    let mut files = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    walk(&a, &mut files);
    assert!(files.len() >= 8);
    for f in files {
        let rel = f.strip_prefix(&a).unwrap();
        let g = b.join(rel);
        assert_eq!(
            std::fs::read(&f).unwrap(),
            std::fs::read(&g).unwrap(),
            "{}",
            rel.display()
        );
        assert_eq!(
            std::fs::metadata(&f).unwrap().modified().unwrap(),
            std::fs::metadata(&g).unwrap().modified().unwrap()
        );
    }
}

#[test]
fn coverage_gaps_and_ocean() {
    let dir = scratch("synth-gaps");
    let mut o = south(&dir);
    o.bbox = Bbox::new(0.01, -80.19, 0.19, -80.01).unwrap();
    o.years = vec![2022, 2023, 2024];
    o.missing_rate = 0.5;
    let r = synthesize(&o, &|_, _, _| {}).unwrap();
    assert_eq!(r.land_tiles, 4);
    assert!(r.gaps > 0 && r.gaps < 12, "{} gaps", r.gaps);
    assert_eq!(r.tile_years["v1"] + r.gaps, 12);
    assert!(
        verify_mirror(&dir).ok(),
        "{:?}",
        verify_mirror(&dir).problems
    );
    // The open ocean: tiles without land have no files at all.
    let sea = scratch("synth-ocean");
    let mut o = south(&sea);
    o.bbox = Bbox::new(-30.2, 40.0, -30.0, 40.2).unwrap();
    let r = synthesize(&o, &|_, _, _| {}).unwrap();
    assert_eq!((r.tiles, r.land_tiles), (4, 0));
    assert_eq!(r.tile_years["v1"], 0);
    assert!(!sea.join("npy/v1/2024").exists());
    assert!(sea.join("npy/v1/manifest.parquet").exists());
}

#[test]
fn land_cover_is_continuous_across_tiles_and_zones() {
    let dir = north();
    let (west, east): (TileId, TileId) = (
        "grid_23.95_69.05".parse().unwrap(),
        "grid_24.05_69.05".parse().unwrap(),
    );
    let (gw, ge) = (TileGeoref::of_tile(west), TileGeoref::of_tile(east));
    assert_ne!(gw.crs, ge.crs, "the two tiles lie in different UTM zones");
    let read = |t: TileId| -> Vec<u8> {
        GeoTiffReader::open(&dir.join(format!("truth/2024/{t}_classes.tiff")))
            .unwrap()
            .read_all()
            .unwrap()
    };
    let (cw, ce) = (read(west), read(east));
    // Points just around the shared edge (lon 24.0) are inside both rasters, which overlap.
    let (mut same, mut n) = (0, 0);
    for i in 0..2000 {
        let lat = 69.001 + 0.098 * f64::from(i) / 2000.0;
        for lon in [23.9995, 24.0, 24.0005] {
            let (Some((rw, cw_)), Some((re, ce_))) = (gw.pixel_of(lon, lat), ge.pixel_of(lon, lat))
            else {
                continue;
            };
            n += 1;
            same += usize::from(cw[rw * gw.width + cw_] == ce[re * ge.width + ce_]);
        }
    }
    assert!(n > 5000, "{n} shared points");
    let agree = same as f64 / n as f64;
    // Pixel grids differ by up to half a pixel, so only boundary pixels may disagree.
    assert!(
        agree > 0.93,
        "classes agree on {agree} of the shared points"
    );
}
