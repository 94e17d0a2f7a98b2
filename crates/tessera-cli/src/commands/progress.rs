//! Progress bars: shown on a terminal for work longer than a second, hidden otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting items (tiles, files), hidden when stderr is not a terminal.
pub fn items(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(total), target());
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:30}} {{pos}}/{{len}} {what} {{msg}} [{{elapsed_precise}}, eta {{eta}}]"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb") {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// A bar counting bytes with rate and ETA.
pub fn bytes(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(total), target());
    pb.set_style(
        ProgressStyle::with_template(&format!("{{bar:30}} {{bytes}}/{{total_bytes}} {what} {{binary_bytes_per_sec}} eta {{eta}} {{msg}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// Runs `f` while a bar shows `p`'s progress: bytes while downloading, GeoTIFFs while
/// exporting, points while sampling (hidden when stderr is not a terminal).
pub fn watch<T>(p: &tessera_api::Progress, f: impl FnOnce() -> T) -> T {
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let stop_ref = &stop;
        s.spawn(move || {
            let mut shown: Option<(String, ProgressBar)> = None;
            while !stop_ref.load(std::sync::atomic::Ordering::Relaxed) {
                let (done, total, phase) = p.snapshot();
                if shown.as_ref().is_none_or(|(ph, _)| *ph != phase) {
                    if let Some((_, b)) = shown.take() {
                        b.finish_and_clear();
                    }
                    let bar = match phase.as_str() {
                        "download" => bytes(total, ""),
                        "export" => items(total, "GeoTIFFs"),
                        "" => ProgressBar::hidden(),
                        other => items(total, other),
                    };
                    shown = Some((phase, bar));
                }
                if let Some((_, b)) = &shown {
                    b.set_length(total);
                    b.set_position(done);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if let Some((_, b)) = shown {
                b.finish_and_clear();
            }
        });
        let r = f();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        r
    })
}
