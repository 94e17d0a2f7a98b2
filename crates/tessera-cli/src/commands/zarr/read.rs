//! `tessera zarr read`: a region or a window of a store into NPY arrays, each with its
//! georeference beside it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use tessera_api::Progress;
use tessera_api::store::{QuantizedRaster, StoreRef, Window};

use crate::cli::{GlobalArgs, ZarrReadArgs};
use crate::commands::common::{cli_err, human};
use crate::exit::usage;

pub(super) fn read(a: &ZarrReadArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let is_npy = a
        .output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if !is_npy {
        return Err(usage(format!(
            "{}: zarr read writes NPY arrays; name the output OUT.npy (for GeoTIFFs use 'tessera download --source zarr')",
            a.output.display()
        )));
    }
    let out_dir = a
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::commands::common::prepare_output(out_dir)?;
    let start = Instant::now();
    let ctx = crate::commands::common::context(g)?;
    let store = super::open(&ctx, StoreRef::from_url(&a.store), 16)?;
    let p = Progress::new();
    let parts: Vec<QuantizedRaster> = match (&a.bbox, &a.window) {
        (Some(b), None) => {
            let bb = tessera_core::parse_bbox(b)
                .map_err(|e| usage(e.to_string()))?
                .bounds();
            store
                .read_regions_quantized(&bb, a.year, a.depth, &p)
                .map_err(cli_err)?
        }
        (None, Some(w)) => {
            let v: Vec<u64> = w
                .split(':')
                .map(|p| p.trim().parse::<u64>())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    usage(format!(
                        "--window '{w}': expected ZONE:ROW:COL:HEIGHT:WIDTH"
                    ))
                })?;
            let [z, r, c, h, wd] = v[..] else {
                return Err(usage(format!(
                    "--window '{w}': expected ZONE:ROW:COL:HEIGHT:WIDTH"
                )));
            };
            let z = u8::try_from(z).map_err(|_| usage("--window: bad zone"))?;
            if h == 0 || wd == 0 {
                return Err(usage(format!(
                    "--window '{w}': HEIGHT and WIDTH must be at least 1"
                )));
            }
            if r.checked_add(h).is_none() || c.checked_add(wd).is_none() {
                return Err(usage(format!(
                    "--window '{w}': ROW + HEIGHT and COL + WIDTH must stay within the zone grid"
                )));
            }
            let win = Window {
                zone: z,
                row: r,
                col: c,
                height: h,
                width: wd,
            };
            vec![
                store
                    .read_window_quantized(win, a.year, a.depth, &p)
                    .map_err(cli_err)?,
            ]
        }
        _ => return Err(usage("give exactly one of --bbox and --window")),
    };
    let fmt = |e: tessera_formats::npy::NpyError| anyhow::anyhow!(e.to_string());
    let read_secs = start.elapsed().as_secs_f64();
    let several = parts.len() > 1;
    let mut results = Vec::new();
    for q in &parts {
        let w = &q.window;
        // One array per zone: OUT.npy for one zone, OUT_utmNN.npy for several.
        let path = if several {
            zone_path(&a.output, w.zone)
        } else {
            a.output.clone()
        };
        let shape = [q.height, q.width, q.bands];
        let mut outputs = vec![path.clone()];
        if a.quantised {
            tessera_formats::npy::write_npy_file(&path, &shape, &q.emb).map_err(fmt)?;
            let sp = scales_path(&path);
            tessera_formats::npy::write_npy_file(&sp, &[q.height, q.width], &q.scales)
                .map_err(fmt)?;
            outputs.push(sp);
        } else {
            let v = q.dequantize(None);
            tessera_formats::npy::write_npy_file(&path, &shape, &v.data).map_err(fmt)?;
        }
        let info = json!({"zone": w.zone, "crs": q.crs,
               "window": {"row": w.row, "col": w.col, "height": w.height, "width": w.width},
               "transform": q.transform, "bands": q.bands, "year": a.year,
               "dtype": if a.quantised { "int8" } else { "float32" },
               "layout": "(row, col, band), north up; transform: x = a*col + b*row + c, y = d*col + e*row + f (pixel corners)",
               "store": a.store, "model": store.model_version(), "outputs": outputs});
        // The georeference beside every array, so an NPY file is never without it.
        let side = path.with_extension("json");
        tessera_formats::atomic::write_atomic(&side, |f| {
            std::io::Write::write_all(
                f,
                serde_json::to_string_pretty(&info)
                    .unwrap_or_default()
                    .as_bytes(),
            )
        })
        .map_err(|e| anyhow::anyhow!("{}: {e}", side.display()))?;
        results.push((w, q.bands, path, side, info));
    }
    let (req, bytes) = store.io();
    if a.json {
        let v: Vec<&serde_json::Value> = results.iter().map(|r| &r.4).collect();
        let mut first = v[0].clone();
        first["requests"] = json!(req);
        first["bytes"] = json!(bytes);
        first["seconds_read"] = json!(read_secs);
        first["seconds"] = json!(start.elapsed().as_secs_f64());
        first["zones"] = json!(v);
        println!("{first}");
    } else {
        if several && !g.quiet {
            println!(
                "The region crosses {} UTM zones: one array per zone",
                results.len()
            );
        }
        for (w, bands, path, side, _) in results.iter().filter(|_| !g.quiet) {
            println!(
                "Read {}x{} pixels x {} bands of zone {} (rows {}.., cols {}..) into {} (georeference in {})",
                w.height,
                w.width,
                bands,
                w.zone,
                w.row,
                w.col,
                path.display(),
                side.display()
            );
        }
        println!(
            "Read {} zone array(s) of {} for {} into {} ({} requests, {} fetched)",
            results.len(),
            a.store,
            a.year,
            out_dir.display(),
            req,
            human(bytes)
        );
    }
    Ok(())
}

fn zone_path(p: &Path, zone: u8) -> PathBuf {
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!("{stem}_utm{zone:02}.npy"))
}

fn scales_path(p: &Path) -> PathBuf {
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!("{stem}_scales.npy"))
}
