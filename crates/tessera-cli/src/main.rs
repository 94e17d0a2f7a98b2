//! `tessera`: the command-line face of geotessera-rs (see the `tessera_cli` library).

use std::process::ExitCode;

fn main() -> ExitCode {
    tessera_client::mem::tune_allocator();
    ExitCode::from(tessera_cli::run_from(std::env::args_os()))
}
