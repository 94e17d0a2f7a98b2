//! Errors and exit codes: 2 for bad usage (the user can fix the command line), 1 for
//! failures while doing the work. One line on stderr, never a backtrace.

use std::fmt;

/// An error caused by the command line itself (exit status 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for a usage error.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

/// Prints the error chain on one line and picks the exit status.
pub fn report(e: &anyhow::Error) -> u8 {
    let cancelled = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<tessera_client::ClientError>(),
            Some(tessera_client::ClientError::Cancelled)
        )
    }) || tessera_client::cancel::requested();
    if cancelled {
        eprintln!(
            "interrupted: finished files are kept and partial downloads resume; rerun the same command to continue"
        );
        return 130;
    }
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !line.contains(&c) {
            line.push_str(": ");
            line.push_str(&c);
        }
    }
    // Messages quote URLs, keys and file contents from remote mirrors: no escape sequence
    // reaches the terminal.
    eprintln!("error: {}", tessera_client::mirror::sanitize(&line));
    if e.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}
