//! `tessera mirror synth|serve|verify`.

use serde_json::json;
use tessera_core::bbox::parse_bbox;
use tessera_synth::{SynthError, SynthOptions, synthesize, verify_mirror};

use crate::cli::{MirrorCommand, ServeArgs, SynthArgs, VerifyArgs};
use crate::commands::progress;
use crate::exit::usage;

pub fn run(cmd: MirrorCommand) -> anyhow::Result<()> {
    match cmd {
        MirrorCommand::Synth(a) => synth(&a),
        MirrorCommand::Serve(a) => serve(&a),
        MirrorCommand::Verify(a) => verify(&a),
    }
}

fn synth(a: &SynthArgs) -> anyhow::Result<()> {
    let mut boxes = Vec::new();
    for part in a.bbox.split(';').filter(|p| !p.trim().is_empty()) {
        boxes.push(
            parse_bbox(part.trim())
                .map_err(|e| usage(e.to_string()))?
                .bounds(),
        );
    }
    let Some((&bbox, more)) = boxes.split_first() else {
        return Err(usage("--bbox: no region given"));
    };
    if !(0.0..=1.0).contains(&a.missing_rate) {
        return Err(usage(format!(
            "--missing-rate {} must be within 0 and 1",
            a.missing_rate
        )));
    }
    if a.years.iter().any(|y| !(1900..=2200).contains(y)) {
        return Err(usage(format!(
            "--years {:?}: years must be 4-digit years",
            a.years
        )));
    }
    std::fs::create_dir_all(&a.output).map_err(|e| {
        usage(format!(
            "cannot create output directory {}: {e}",
            a.output.display()
        ))
    })?;
    let mut opts = SynthOptions::new(&a.output, bbox);
    opts.more_boxes = more.to_vec();
    opts.years = a.years.clone();
    opts.datasets = a.datasets.clone();
    opts.seed = a.seed;
    opts.missing_rate = a.missing_rate;
    let n = opts.tiles().len() as u64;
    let pb = progress::items(n, "tiles");
    let report = synthesize(&opts, &|done, _total, bytes| {
        pb.set_position(done as u64);
        pb.set_message(format!("{:.0} MB", bytes as f64 / 1e6));
    })
    .map_err(|e| match e {
        SynthError::BadDataset(_) | SynthError::TooLarge(_) | SynthError::Empty(_) => {
            usage(e.to_string())
        }
        other => anyhow::Error::new(other),
    })?;
    pb.finish_and_clear();
    let mut stores = Vec::new();
    if a.zarr {
        for dir in &opts.datasets {
            let (store, rep) = crate::commands::zarr::build_synth_store(&a.output, dir)?;
            stores.push((store, rep));
        }
    }
    let written: usize = report.tile_years.values().sum();
    if a.json {
        println!(
            "{}",
            json!({
                "output": a.output, "tiles": report.tiles, "land_tiles": report.land_tiles,
                "tile_years": report.tile_years, "gaps": report.gaps, "files": report.files,
                "bytes": report.bytes, "seconds": report.seconds,
                "zarr": stores.iter().map(|(p, r)| json!({"store": p, "shards": r.units_all, "bytes": r.bytes_out, "seconds": r.seconds})).collect::<Vec<_>>(),
            })
        );
    } else {
        println!(
            "Synthetic mirror written to {}: {} tiles ({} with land), {} tile-years in {} dataset(s), {} coverage gaps",
            a.output.display(),
            report.tiles,
            report.land_tiles,
            written,
            report.tile_years.len(),
            report.gaps
        );
        println!(
            "{} files, {:.1} MB in {:.1} s ({:.0} MB/s)",
            report.files,
            report.bytes as f64 / 1e6,
            report.seconds,
            report.bytes as f64 / 1e6 / report.seconds.max(1e-9)
        );
        println!(
            "Ground truth: {}/truth/ (class rasters per tile and year, labels.geojson per year)",
            a.output.display()
        );
        for (p, r) in &stores {
            println!(
                "Zarr store {}: {} shards, {:.1} MB in {:.1} s",
                p.display(),
                r.units_all,
                r.bytes_out as f64 / 1e6,
                r.seconds
            );
        }
    }
    Ok(())
}

fn verify(a: &VerifyArgs) -> anyhow::Result<()> {
    if !a.dir.is_dir() {
        return Err(usage(format!("{}: not a directory", a.dir.display())));
    }
    let rep = verify_mirror(&a.dir);
    if a.json {
        println!(
            "{}",
            json!({"ok": rep.ok(), "datasets": rep.datasets, "rows": rep.rows, "landmasks": rep.landmasks,
                   "files_checked": rep.files_checked, "problems": rep.problems})
        );
    } else {
        for p in rep.problems.iter().take(50) {
            println!("problem: {p}");
        }
        if rep.problems.len() > 50 {
            println!("... and {} more problems", rep.problems.len() - 50);
        }
        let rows: usize = rep.rows.values().sum();
        println!(
            "{}: {} dataset(s) ({}), {rows} manifest rows, {} landmasks, {} files checked: {}",
            a.dir.display(),
            rep.datasets.len(),
            rep.datasets.join(", "),
            rep.landmasks,
            rep.files_checked,
            if rep.ok() {
                "OK".to_string()
            } else {
                format!("{} problem(s)", rep.problems.len())
            }
        );
    }
    if rep.ok() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "{}: {} problem(s) found",
            a.dir.display(),
            rep.problems.len()
        ))
    }
}

fn serve(a: &ServeArgs) -> anyhow::Result<()> {
    let rules = tessera_server::FaultRule::parse_all(a.faults.iter().map(String::as_str))
        .map_err(|e| usage(e.to_string()))?;
    if !a.dir.is_dir() {
        return Err(usage(format!(
            "{}: not a directory; give a mirror root (e.g. from 'tessera mirror synth')",
            a.dir.display()
        )));
    }
    let mut cfg = tessera_server::ServerConfig::new(&a.dir);
    cfg.addr = a.addr;
    cfg.faults = rules;
    cfg.seed = a.seed;
    cfg.require_user_agent = !a.allow_no_user_agent;
    cfg.log = a.log;
    cfg.admin = a.admin;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (listener, handle) = tessera_server::bind(&cfg)
            .await
            .map_err(|e| usage(e.to_string()))?;
        // Before the address line, which callers wait for.
        if !a.addr.ip().is_loopback() {
            eprintln!(
                "warning: listening on {}, not a loopback address: anyone who can reach it can read the mirror{}",
                handle.addr(),
                if handle.admin_enabled() {
                    " and use the admin endpoints (faults, stats)"
                } else {
                    ""
                }
            );
        }
        println!(
            "Serving {} at {} (Ctrl-C to stop)",
            a.dir.display(),
            handle.url()
        );
        if !cfg.faults.is_empty() {
            println!("Fault rules: {}", a.faults.join("; "));
        }
        if handle.admin_enabled() {
            println!("Admin endpoints: {}/_tessera/{{stats,reset,faults}}", handle.url());
        }
        use std::io::Write;
        std::io::stdout().flush().ok();
        tessera_server::serve(listener, handle.clone(), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
        let s = handle.stats();
        println!(
            "Stopped after {} requests, {:.1} MB sent",
            s.requests,
            s.bytes as f64 / 1e6
        );
        Ok(())
    })
}
