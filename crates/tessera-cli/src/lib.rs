//! `tessera`: the command-line face of geotessera-rs. Argument parsing, progress and
//! printing only; the work lives in the library crates (the facade, `tessera_api`).
//! [`run_from`] runs one command line; the `tessera` binary and the Python package's
//! `tessera` command both call it.

mod cli;
mod commands;
mod exit;

use std::ffi::OsString;

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

/// Runs one command line (`args[0]` is the program name) and returns its exit status:
/// 0 on success, 1 on failure, 2 on bad usage (clap's statuses for its own errors, help
/// and version), 130 when interrupted. Errors, help and output are printed here.
pub fn run_from<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match cli::Cli::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    if !matches!(args.command, cli::Command::Mirror(_)) {
        install_interrupt_handler();
    }
    match commands::run(args) {
        Ok(()) => 0,
        Err(e) => {
            commands::common::remove_created_empty_dirs();
            exit::report(&e)
        }
    }
}
