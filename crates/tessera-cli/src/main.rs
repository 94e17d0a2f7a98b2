//! `tessera`: the command-line face of geotessera-rs. Argument parsing, progress and
//! printing only; the work lives in the library crates.

mod cli;
mod commands;
mod exit;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    bound_allocator_retention();
    let args = cli::Cli::parse();
    match commands::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::report(&e),
    }
}

/// glibc raises its mmap threshold each time a large block is freed, up to 32 MiB, after
/// which the many-megabyte buffers of block-wise work (GeoTIFF blocks, shards) come from
/// per-thread arenas that keep freed memory: a run would hold about twice its memory
/// budget. A fixed 4 MiB threshold returns such buffers to the system when freed, while
/// small allocations (inner chunks, rows) stay on the heap.
fn bound_allocator_retention() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}
