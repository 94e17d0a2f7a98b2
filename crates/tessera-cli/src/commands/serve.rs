//! `tessera serve`: a directory (a web map, a coverage page) on 127.0.0.1, or web tiles
//! made on request from a GeoTIFF.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use tessera_api::Progress;
use tessera_api::webmap::{ServeRequest, Serving, serve};

use crate::cli::GlobalArgs;
use crate::commands::common::cli_err;

/// `tessera serve`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera serve rgb_webmap
  tessera serve --tiles-from rgb.tif --port 0

Binds 127.0.0.1 only; serves files inside the directory only (no listings).")]
pub struct ServeArgs {
    /// The directory to serve.
    pub directory: Option<PathBuf>,
    /// Port (0: a free one).
    #[arg(short, long, default_value_t = 8000)]
    pub port: u16,
    /// The page for / [default: the first of index.html, viewer.html, map.html, coverage.html].
    #[arg(long)]
    pub html: Option<String>,
    /// Serve /tiles/{z}/{x}/{y}.png (TMS) made on request from this RGB GeoTIFF, with a
    /// viewer over them at /; nothing is written to disk.
    #[arg(long)]
    pub tiles_from: Option<PathBuf>,
    /// Open the page in the default browser.
    #[arg(long)]
    pub open: bool,
    /// Log each request on stderr.
    #[arg(long)]
    pub log: bool,
}

pub fn run(a: &ServeArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let s = serve(&ServeRequest {
        dir: a.directory.clone(),
        port: a.port,
        html: a.html.clone(),
        tiles_from: a.tiles_from.clone(),
        log: a.log,
    })
    .map_err(cli_err)?;
    let what = match (&a.directory, &a.tiles_from) {
        (Some(d), _) => d.display().to_string(),
        (None, Some(t)) => format!("tiles of {}", t.display()),
        (None, None) => String::new(),
    };
    if !g.quiet {
        println!("Serving {what} at {} (Ctrl-C to stop)", s.url);
    } else {
        println!("{}", s.url);
    }
    if a.open
        && let Err(e) = std::process::Command::new("xdg-open").arg(&s.url).spawn()
    {
        eprintln!(
            "warning: could not open a browser ({e}); open {} yourself",
            s.url
        );
    }
    wait_for_interrupt(s);
    Ok(())
}

/// Serves until Ctrl-C (the process-wide stop request), then stops the server.
pub fn wait_for_interrupt(s: Serving) {
    std::io::stdout().flush().ok();
    let p = Progress::new();
    while !p.is_cancelled() {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    s.server.stop();
}
