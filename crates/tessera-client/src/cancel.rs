//! Cancellation of long calls: one process-wide request (Ctrl-C in the CLI, KeyboardInterrupt
//! in Python), checked at safe points. A cancelled call stops within a fraction of a second
//! and returns [`ClientError::Cancelled`]; what it finished is kept, what it had begun is
//! kept resumable (download part files) or removed (temporary exports), never left under a
//! final name.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::{ClientError, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks every running call to stop (async-signal-safe: one atomic store).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Withdraws a request (before the next call of a long-lived process).
pub fn reset() {
    REQUESTED.store(false, Ordering::SeqCst);
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// `Err(Cancelled)` once a stop was asked for.
pub fn check() -> Result<()> {
    if requested() {
        Err(ClientError::Cancelled)
    } else {
        Ok(())
    }
}

/// How often waiting code looks at the request.
pub const POLL: Duration = Duration::from_millis(100);

/// Runs `f` until it completes or a stop is asked for.
pub async fn or_cancel<F: std::future::Future>(f: F) -> Result<F::Output> {
    tokio::select! {
        v = f => Ok(v),
        _ = async {
            while !requested() {
                tokio::time::sleep(POLL).await;
            }
        } => Err(ClientError::Cancelled),
    }
}

/// A stop request for one call (a facade call cancelled from another thread), which also
/// honours the process-wide [`request`]. Clones share the flag.
#[derive(Clone, Debug, Default)]
pub struct Token(Arc<AtomicBool>);

impl Token {
    /// A fresh token, not cancelled.
    pub fn new() -> Token {
        Token::default()
    }

    /// Asks the call holding this token (and its clones) to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether this call or the whole process was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed) || requested()
    }

    /// `Err(Cancelled)` once a stop was asked for.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(ClientError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Runs `f` until it completes or a stop is asked for.
    pub async fn or_cancel<F: std::future::Future>(&self, f: F) -> Result<F::Output> {
        tokio::select! {
            v = f => Ok(v),
            _ = async {
                while !self.is_cancelled() {
                    tokio::time::sleep(POLL).await;
                }
            } => Err(ClientError::Cancelled),
        }
    }
}
