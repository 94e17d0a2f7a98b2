//! The shared state of one long call: how far it is (done, total, phase), the notes and
//! warnings it has to tell, and the request to stop. A face polls it from another thread
//! (a progress bar, a Python callback) and may cancel the call from there.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tessera_client::cancel::Token;

/// How much a note matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Worth saying, shown as it is (what a selection resolved to, what was chosen or skipped).
    Note,
    /// Something the user should act on or know was degraded.
    Warning,
}

/// One line for the user, as data (the CLI prints it, Python logs it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Note {
    /// How much it matters.
    pub level: Level,
    /// The text, one sentence, without a `warning:` prefix.
    pub text: String,
}

/// Progress, notes and cancellation of one call. Share it by reference (or `Arc`) between
/// the calling thread and the face's polling thread.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    phase: Mutex<String>,
    notes: Mutex<Vec<Note>>,
    cancel: Token,
}

impl Progress {
    /// A fresh state: nothing done, no phase, not cancelled.
    pub fn new() -> Progress {
        Progress::default()
    }

    /// `(done, total, phase)`: units are those of the phase (bytes while downloading, files
    /// or rows while exporting); `total` is 0 while unknown.
    pub fn snapshot(&self) -> (u64, u64, String) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
            self.phase.lock().map(|p| p.clone()).unwrap_or_default(),
        )
    }

    /// Starts a phase: its name and total, with nothing done.
    pub fn start_phase(&self, phase: &str, total: u64) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase.to_string();
        }
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    /// Sets how much of the phase is done.
    pub fn set_done(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
    }

    /// Adds to how much of the phase is done.
    pub fn add_done(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the phase's total (when it becomes known).
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// Records a note.
    pub fn note(&self, text: impl Into<String>) {
        self.push(Level::Note, text.into());
    }

    /// Records a warning.
    pub fn warn(&self, text: impl Into<String>) {
        self.push(Level::Warning, text.into());
    }

    fn push(&self, level: Level, text: String) {
        let text = tessera_client::mirror::sanitize(&text);
        if let Ok(mut n) = self.notes.lock() {
            n.push(Note { level, text });
        }
    }

    /// The notes recorded since the last call (a face prints or logs them as they come).
    pub fn take_notes(&self) -> Vec<Note> {
        self.notes
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    /// Asks the call to stop: it returns `Error::Cancelled` within a fraction of a second,
    /// keeping what it finished and leaving nothing partial under a final name.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Whether the call (or the whole process) was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The call's stop token, for the client's long operations.
    pub fn token(&self) -> &Token {
        &self.cancel
    }
}
