//! Long calls from Python: the work runs on a Rust thread while the calling thread, with
//! the GIL released between polls, reports progress to the Python callback, logs the
//! call's notes, and turns Ctrl-C (or an exception in the callback) into a cancel request.
//! Python is never called from the runtime's or rayon's workers.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use pyo3::prelude::*;
use tessera_api::{Level, Progress};

use crate::errors::to_py;

const POLL: Duration = Duration::from_millis(100);

/// Logs notes through the `geotessera_rs` logger (warnings at WARNING, notes at INFO).
fn log_notes(py: Python<'_>, progress: &Progress) -> PyResult<()> {
    let notes = progress.take_notes();
    if notes.is_empty() {
        return Ok(());
    }
    let logger = py
        .import("logging")?
        .call_method1("getLogger", ("geotessera_rs",))?;
    for n in notes {
        let method = match n.level {
            Level::Warning => "warning",
            _ => "info",
        };
        logger.call_method1(method, (n.text,))?;
    }
    Ok(())
}

/// Runs `work` on its own thread; returns its result, or the Python exception that stopped
/// it (KeyboardInterrupt, or whatever `callback` raised) once the work has wound down.
pub fn run<T, F>(py: Python<'_>, callback: Option<&Bound<'_, PyAny>>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Progress) -> tessera_api::Result<T> + Send + 'static,
{
    let progress = Arc::new(Progress::new());
    let (tx, rx) = mpsc::channel();
    // `detach` needs what it borrows to be `Sync`.
    let rx = std::sync::Mutex::new(rx);
    let p = progress.clone();
    let handle = std::thread::Builder::new()
        .name("tessera-call".into())
        .spawn(move || {
            let r = work(&p);
            let _ = tx.send(r);
        })
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    let mut stop: Option<PyErr> = None;
    let mut last: Option<(u64, u64, String)> = None;
    let result = loop {
        match py.detach(|| match rx.lock() {
            Ok(rx) => rx.recv_timeout(POLL),
            Err(_) => Err(mpsc::RecvTimeoutError::Disconnected),
        }) {
            Ok(r) => break Some(r),
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if stop.is_some() {
            continue;
        }
        let mut step = || -> PyResult<()> {
            py.check_signals()?;
            log_notes(py, &progress)?;
            if let Some(cb) = callback {
                let snap = progress.snapshot();
                if last.as_ref() != Some(&snap) {
                    cb.call1((snap.0, snap.1, snap.2.clone()))?;
                    last = Some(snap);
                }
            }
            Ok(())
        };
        if let Err(e) = step() {
            progress.cancel();
            stop = Some(e);
        }
    };
    let _ = py.detach(|| handle.join());
    log_notes(py, &progress)?;
    if let Some(e) = stop {
        return Err(e);
    }
    match result {
        Some(Ok(v)) => {
            if let Some(cb) = callback {
                let snap = progress.snapshot();
                if last.as_ref() != Some(&snap) {
                    cb.call1((snap.0, snap.1, snap.2))?;
                }
            }
            Ok(v)
        }
        Some(Err(e)) => Err(to_py(e)),
        None => Err(pyo3::exceptions::PyRuntimeError::new_err(
            "the call's worker thread stopped without a result",
        )),
    }
}
