//! `tessera`: the command-line face of geotessera-rs. Argument parsing, progress and
//! printing only; the work lives in the library crates.

mod cli;
mod commands;
mod exit;

use std::process::ExitCode;

use clap::Parser;

/// Ctrl-C asks the running call to stop (it finishes cleanly within a second); a second
/// Ctrl-C ends the process at once.
extern "C" fn on_interrupt(_: libc::c_int) {
    static SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SEEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
    tessera_client::cancel::request();
}

fn install_interrupt_handler() {
    let handler: extern "C" fn(libc::c_int) = on_interrupt;
    // SAFETY: the handler only does async-signal-safe work (atomic stores, _exit).
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
    }
}

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if !matches!(args.command, cli::Command::Mirror(_)) {
        install_interrupt_handler();
    }
    match commands::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            commands::common::remove_created_empty_dirs();
            exit::report(&e)
        }
    }
}
