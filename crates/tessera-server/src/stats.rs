//! Request statistics: counts and bytes per key, with a bounded number of distinct keys so
//! that requests for ever new (missing) keys cannot grow the server's memory.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::json;

use crate::faults::lock;

/// The key under which requests for keys beyond the distinct-key limit are counted.
pub const OTHER_KEYS: &str = "(other keys)";

/// Per-key request statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// Requests (GET and HEAD).
    pub requests: u64,
    /// Ranged GETs.
    pub ranges: u64,
    /// Body bytes sent.
    pub bytes: u64,
}

/// Statistics since start (or the last reset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests (GET and HEAD, all statuses).
    pub requests: u64,
    /// Body bytes sent.
    pub bytes: u64,
    /// By key; keys beyond the server's limit of distinct keys are summed under
    /// [`OTHER_KEYS`].
    pub by_key: BTreeMap<String, KeyStats>,
}

impl Stats {
    /// The JSON served at `/_tessera/stats`.
    pub fn to_json(&self) -> serde_json::Value {
        let keys: serde_json::Map<String, serde_json::Value> = self
            .by_key
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!({"requests": v.requests, "ranges": v.ranges, "bytes": v.bytes}),
                )
            })
            .collect();
        json!({"requests": self.requests, "bytes": self.bytes, "by_key": keys})
    }
}

/// The server's statistics, shared between requests.
pub(crate) struct StatsTable {
    stats: Mutex<Stats>,
    max_keys: usize,
}

impl StatsTable {
    /// A table keeping at most `max_keys` distinct keys (plus [`OTHER_KEYS`]).
    pub(crate) fn new(max_keys: usize) -> StatsTable {
        StatsTable {
            stats: Mutex::new(Stats::default()),
            max_keys,
        }
    }

    fn entry<'a>(&self, s: &'a mut Stats, key: &str) -> &'a mut KeyStats {
        let key = if s.by_key.contains_key(key) || s.by_key.len() < self.max_keys {
            key
        } else {
            OTHER_KEYS
        };
        s.by_key.entry(key.to_string()).or_default()
    }

    /// Counts one request.
    pub(crate) fn count(&self, key: &str, range: bool) {
        let mut s = lock(&self.stats);
        s.requests += 1;
        let k = self.entry(&mut s, key);
        k.requests += 1;
        k.ranges += u64::from(range);
    }

    /// Counts body bytes sent.
    pub(crate) fn add_bytes(&self, key: &str, n: u64) {
        let mut s = lock(&self.stats);
        s.bytes += n;
        self.entry(&mut s, key).bytes += n;
    }

    /// A copy of the statistics.
    pub(crate) fn snapshot(&self) -> Stats {
        lock(&self.stats).clone()
    }

    /// Clears the statistics.
    pub(crate) fn reset(&self) {
        *lock(&self.stats) = Stats::default();
    }
}
