//! GeoTIFF export throughput (MB of GeoTIFF written per second) for each compression,
//! against writing the same float32 bytes raw, in the same run.
//! Usage: cargo bench -p tessera-client --bench export -- MIRROR_DIR [NPY_DIR] [YEAR]
//! (bench/export.sh builds the synthetic mirror and runs this).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use tessera_client::export::{GeoTiffExport, export_tile};
use tessera_client::local::EmbeddingTile;
use tessera_core::dataset::keys;
use tessera_core::{DatasetRef, TileId};

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    let root = PathBuf::from(
        args.get(1)
            .expect("usage: export MIRROR_DIR [NPY_DIR] [YEAR]"),
    );
    let dir = args.get(2).cloned().unwrap_or_else(|| "v1.1-cam".into());
    let year: i32 = args.get(3).map_or(2024, |y| y.parse().unwrap());
    let ds = DatasetRef::resolve("v1.1", Some("cambridge"), true).unwrap();
    let mut tiles = Vec::new();
    for e in std::fs::read_dir(root.join(format!("npy/{dir}/{year}")))
        .unwrap()
        .flatten()
    {
        let t: TileId = e.file_name().to_string_lossy().parse().unwrap();
        let emb = root.join(keys::embedding(&dir, year, t));
        let sc = root.join(keys::scales(&dir, year, t));
        let lm = root.join(keys::landmask(ds.landmask_dir(), t));
        tiles.push(EmbeddingTile::open(t, year, &emb, &sc, Some(&lm)).unwrap());
    }
    tiles.sort_by_key(|t| t.tile);
    let out = std::env::temp_dir().join("tessera-export-bench");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let raw_bytes: u64 = tiles
        .iter()
        .map(|t| (t.georef.width * t.georef.height * 128 * 4) as u64)
        .sum();
    // Baseline: the same float32 bytes written raw, tiles in parallel.
    let t0 = Instant::now();
    tiles.par_iter().for_each(|t| {
        let p = out.join(format!("{}.raw", t.tile));
        let mut f = std::io::BufWriter::with_capacity(4 << 20, std::fs::File::create(&p).unwrap());
        let mut buf = Vec::new();
        for r0 in (0..t.georef.height).step_by(256) {
            let n = 256.min(t.georef.height - r0);
            t.rows(r0, n, None, &mut buf).unwrap();
            f.write_all(bytemuck(&buf)).unwrap();
        }
        f.flush().unwrap();
    });
    let raw = t0.elapsed().as_secs_f64();
    println!(
        "{} tiles, {:.0} MB of float32: dequantise + raw write {:.2} s ({:.0} MB/s)",
        tiles.len(),
        raw_bytes as f64 / 1e6,
        raw,
        raw_bytes as f64 / 1e6 / raw
    );
    let list = std::env::var("COMPRESS")
        .unwrap_or_else(|_| "none,zstd:1,zstd:3,deflate:1,deflate,lzw".into());
    for c in list.split(',') {
        let opts = GeoTiffExport {
            bands: None,
            compression: c.parse().unwrap(),
            dataset: ds.clone(),
        };
        let t0 = Instant::now();
        let written: u64 = tiles
            .par_iter()
            .map(|t| {
                let p = out.join(format!("{}_{}.tiff", t.tile, c.replace(':', "")));
                export_tile(t, &out, &p, &opts).unwrap()
            })
            .sum();
        let s = t0.elapsed().as_secs_f64();
        println!(
            "GeoTIFF {c:<10} {s:6.2} s  {:6.0} MB/s of float32 in, {:6.0} MB/s written, size {:.2} of raw, {:.2}x the raw write's time",
            raw_bytes as f64 / 1e6 / s,
            written as f64 / 1e6 / s,
            written as f64 / raw_bytes as f64,
            s / raw
        );
        remove(&out, c);
    }
    let _ = std::fs::remove_dir_all(&out);
}

fn remove(out: &Path, c: &str) {
    for e in std::fs::read_dir(out).unwrap().flatten() {
        if e.file_name()
            .to_string_lossy()
            .contains(&c.replace(':', ""))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn bytemuck(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte pattern is a valid u8.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}
