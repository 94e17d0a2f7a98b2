//! Fault injection: seeded, per-path rules that make the server misbehave the way real
//! networks and object stores do, so that clients can be tested against it.
//!
//! A rule is `PATTERN:ACTION[,OPTION...]`:
//! - PATTERN: a glob on the object key (`*` within a path segment, `**` across segments,
//!   `**/` zero or more whole segments, `?` one character), e.g. `npy/**/*.npy` or `**`;
//! - ACTION: `status=CODE` (with `retry-after=SECONDS`), `latency=MS`, `truncate=FRACTION`
//!   (the body stops early), `flip` (one byte of the body is inverted), `reset=FRACTION`
//!   (the connection is reset after that fraction of the body), `rate=BYTES_PER_SECOND`
//!   (the body is sent no faster; suffixes k, m, g);
//! - OPTIONS: `times=N` (only the first N matching requests of each key), `after=N` (only
//!   after the first N), `p=P` (with probability P, decided by a hash of the seed, the key
//!   and the request's ordinal for that key, so runs are reproducible).
//!
//! Rules come from whoever runs the server or from its admin endpoint, so they are bounded
//! ([`MAX_RULES`], [`MAX_RULE_LEN`], [`MAX_LATENCY`], [`MIN_RATE`]..=[`MAX_RATE`]) and
//! matched in linear time without holding a lock.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use thiserror::Error;

/// The most rules one server holds (from `--fault` or one admin request).
pub const MAX_RULES: usize = 64;
/// The longest rule text, in bytes.
pub const MAX_RULE_LEN: usize = 1024;
/// The longest injected latency, per rule and summed over the rules of one request.
pub const MAX_LATENCY: Duration = Duration::from_secs(300);
/// The slowest `rate=`, in bytes per second.
pub const MIN_RATE: u64 = 1;
/// The fastest `rate=`, in bytes per second (100g).
pub const MAX_RATE: u64 = 100_000_000_000;
/// Keys whose request ordinals are tracked one by one; requests for further keys share one
/// ordinal, so `times=` and `after=` still end (memory stays bounded whatever is asked).
pub const MAX_TRACKED_KEYS: usize = 10_000;

/// A rule that could not be parsed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error(
    "bad fault rule '{rule}': {reason} (expected PATTERN:ACTION[,OPTION...], e.g. 'npy/**:status=503,times=2', '**:latency=200', '**/*.npy:truncate=0.5,p=0.3', '**:flip,times=1', '**:reset=0.5', '**:rate=1m')"
)]
pub struct FaultParseError {
    /// The rule text (shortened when very long).
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultAction {
    /// Answer with this status (and an optional Retry-After in seconds).
    Status {
        /// HTTP status code.
        code: u16,
        /// Retry-After seconds.
        retry_after: Option<u64>,
    },
    /// Wait this long before answering.
    Latency(Duration),
    /// Send only this fraction of the body, then close.
    Truncate(f64),
    /// Invert one byte of the body.
    Flip,
    /// Send this fraction of the body, then reset the connection.
    Reset(f64),
    /// Send the body at most this many bytes per second.
    Rate(u64),
}

/// One rule.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// The text it was parsed from.
    pub text: String,
    pattern: Glob,
    /// The action.
    pub action: FaultAction,
    times: Option<u64>,
    after: u64,
    p: f64,
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One element of a compiled glob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(u8),
    /// `?`: one byte other than `/`.
    One,
    /// `*`: any run of bytes other than `/`.
    Star,
    /// `**` (not followed by `/`): any run of bytes.
    Any,
    /// `**/`: nothing, or any run of bytes that ends with `/`.
    Dirs,
}

/// A compiled glob, matched by simulating all pattern positions at once: O(pattern × key)
/// whatever the pattern, where backtracking is exponential in the number of `**`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Glob(Vec<Tok>);

impl Glob {
    fn new(pattern: &str) -> Glob {
        let p = pattern.as_bytes();
        let mut toks = Vec::with_capacity(p.len());
        let mut i = 0;
        while i < p.len() {
            match p[i] {
                b'*' if p.get(i + 1) == Some(&b'*') => {
                    if p.get(i + 2) == Some(&b'/') {
                        toks.push(Tok::Dirs);
                        i += 3;
                    } else {
                        toks.push(Tok::Any);
                        i += 2;
                    }
                }
                b'*' => {
                    toks.push(Tok::Star);
                    i += 1;
                }
                b'?' => {
                    toks.push(Tok::One);
                    i += 1;
                }
                c => {
                    toks.push(Tok::Lit(c));
                    i += 1;
                }
            }
        }
        Glob(toks)
    }

    fn matches(&self, text: &str) -> bool {
        let toks = &self.0;
        let m = toks.len();
        // at[j]: tokens 0..j match the text read so far; inside[j]: a `**/` at j has
        // consumed some bytes but not yet its closing `/`.
        let mut at = vec![false; m + 1];
        let mut inside = vec![false; m + 1];
        let mut next_at = vec![false; m + 1];
        let mut next_inside = vec![false; m + 1];
        at[0] = true;
        close(toks, &mut at);
        for &c in text.as_bytes() {
            next_at.iter_mut().for_each(|x| *x = false);
            next_inside.iter_mut().for_each(|x| *x = false);
            for j in 0..m {
                if !at[j] && !inside[j] {
                    continue;
                }
                match toks[j] {
                    Tok::Lit(x) if at[j] && c == x => next_at[j + 1] = true,
                    Tok::One if at[j] && c != b'/' => next_at[j + 1] = true,
                    Tok::Star if at[j] && c != b'/' => next_at[j] = true,
                    Tok::Any if at[j] => next_at[j] = true,
                    Tok::Dirs => {
                        next_inside[j] = true;
                        if c == b'/' {
                            next_at[j + 1] = true;
                        }
                    }
                    _ => {}
                }
            }
            close(toks, &mut next_at);
            std::mem::swap(&mut at, &mut next_at);
            std::mem::swap(&mut inside, &mut next_inside);
            if !at.iter().chain(inside.iter()).any(|&x| x) {
                return false;
            }
        }
        at[m]
    }
}

/// Adds the positions reachable without reading a byte (wildcards matching nothing).
fn close(toks: &[Tok], at: &mut [bool]) {
    for j in 0..toks.len() {
        if at[j] && matches!(toks[j], Tok::Star | Tok::Any | Tok::Dirs) {
            at[j + 1] = true;
        }
    }
}

/// Glob match: `*` within a segment, `**` across segments (`**/` is zero or more whole
/// segments), `?` one non-`/` character. Linear in the key for a given pattern.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    Glob::new(pattern).matches(text)
}

impl FaultRule {
    /// Parses one rule.
    pub fn parse(text: &str) -> Result<FaultRule, FaultParseError> {
        let err = |reason: &str| FaultParseError {
            rule: shorten(text),
            reason: reason.to_string(),
        };
        if text.len() > MAX_RULE_LEN {
            return Err(err(&format!("longer than {MAX_RULE_LEN} bytes")));
        }
        let (pattern, rest) = text
            .trim()
            .rsplit_once(':')
            .ok_or_else(|| err("missing ':'"))?;
        if pattern.is_empty() {
            return Err(err("empty pattern"));
        }
        let mut parts = rest.split(',').map(str::trim);
        let head = parts.next().unwrap_or("");
        let (name, value) = head
            .split_once('=')
            .map_or((head, None), |(a, b)| (a, Some(b)));
        let frac = |v: Option<&str>| -> Result<f64, FaultParseError> {
            let f: f64 = v
                .ok_or_else(|| err("missing fraction"))?
                .parse()
                .map_err(|_| err("bad fraction"))?;
            if (0.0..1.0).contains(&f) {
                Ok(f)
            } else {
                Err(err("fraction must be in [0, 1)"))
            }
        };
        let mut action = match name {
            "status" => {
                let code: u16 = value
                    .ok_or_else(|| err("missing status code"))?
                    .parse()
                    .map_err(|_| err("bad status code"))?;
                if !(400..=599).contains(&code) {
                    return Err(err("status must be 400-599"));
                }
                FaultAction::Status {
                    code,
                    retry_after: None,
                }
            }
            "latency" => {
                let v = value
                    .ok_or_else(|| err("missing latency"))?
                    .trim_end_matches("ms");
                let ms: u64 = v.parse().map_err(|_| err("bad latency (milliseconds)"))?;
                let l = Duration::from_millis(ms);
                if l > MAX_LATENCY {
                    return Err(err(&format!(
                        "latency must be at most {} ms",
                        MAX_LATENCY.as_millis()
                    )));
                }
                FaultAction::Latency(l)
            }
            "truncate" => FaultAction::Truncate(frac(value)?),
            "reset" => FaultAction::Reset(frac(value)?),
            "flip" => FaultAction::Flip,
            "rate" => FaultAction::Rate(parse_rate(value).map_err(|r| err(&r))?),
            _ => return Err(err("unknown action")),
        };
        let (mut times, mut after, mut p) = (None, 0, 1.0);
        for opt in parts {
            let (k, v) = opt
                .split_once('=')
                .ok_or_else(|| err("options are key=value"))?;
            match k {
                "times" => times = Some(v.parse().map_err(|_| err("bad times"))?),
                "after" => after = v.parse().map_err(|_| err("bad after"))?,
                "p" => {
                    p = v.parse().map_err(|_| err("bad p"))?;
                    if !(0.0..=1.0).contains(&p) {
                        return Err(err("p must be in [0, 1]"));
                    }
                }
                "retry-after" | "retry_after" => match &mut action {
                    FaultAction::Status { retry_after, .. } => {
                        *retry_after = Some(v.parse().map_err(|_| err("bad retry-after"))?)
                    }
                    _ => return Err(err("retry-after applies to status rules")),
                },
                _ => return Err(err("unknown option")),
            }
        }
        Ok(FaultRule {
            text: text.trim().to_string(),
            pattern: Glob::new(pattern.trim_start_matches('/')),
            action,
            times,
            after,
            p,
        })
    }

    /// Parses a rule list, one rule a line; blank lines and `#` comments are skipped.
    /// At most [`MAX_RULES`] rules.
    pub fn parse_lines(text: &str) -> Result<Vec<FaultRule>, FaultParseError> {
        Self::parse_all(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        )
    }

    /// Parses rules given one by one (e.g. repeated `--fault`); at most [`MAX_RULES`].
    pub fn parse_all<'a>(
        rules: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<FaultRule>, FaultParseError> {
        let mut out = Vec::new();
        for r in rules {
            if out.len() == MAX_RULES {
                return Err(FaultParseError {
                    rule: shorten(r),
                    reason: format!("at most {MAX_RULES} rules"),
                });
            }
            out.push(FaultRule::parse(r)?);
        }
        Ok(out)
    }
}

/// `rate=` value: bytes per second with an optional k, m or g suffix, within the bounds.
fn parse_rate(value: Option<&str>) -> Result<u64, String> {
    let v = value.ok_or("missing rate")?.to_ascii_lowercase();
    let (num, mult) = match v.strip_suffix(['k', 'm', 'g']) {
        Some(n) if v.ends_with('k') => (n, 1_000u64),
        Some(n) if v.ends_with('m') => (n, 1_000_000),
        Some(n) => (n, 1_000_000_000),
        None => (v.as_str(), 1),
    };
    let bounds = format!("rate must be {MIN_RATE} B/s to 100g (bytes per second, e.g. 20m)");
    let r: u64 = num
        .parse()
        .map_err(|_| "bad rate (bytes per second, e.g. 20m)".to_string())?;
    match r.checked_mul(mult) {
        Some(r) if (MIN_RATE..=MAX_RATE).contains(&r) => Ok(r),
        _ => Err(bounds),
    }
}

/// A rule's text for an error message: at most 80 characters.
fn shorten(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &t[..i]),
        None => t.to_string(),
    }
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Decision {
    /// Delay before answering.
    pub latency: Duration,
    /// An error status instead of the object.
    pub status: Option<(u16, Option<u64>)>,
    /// Stop the body after this many bytes (and close).
    pub truncate_at: Option<u64>,
    /// Reset the connection after this many bytes.
    pub reset_at: Option<u64>,
    /// Invert the byte at this offset of the body.
    pub flip_at: Option<u64>,
    /// Send the body at most this fast (bytes per second).
    pub rate: Option<u64>,
}

/// Per-key request ordinals, bounded by [`MAX_TRACKED_KEYS`].
#[derive(Default)]
struct Ordinals {
    by_key: HashMap<String, u64>,
    others: u64,
}

/// The active rules and per-key request ordinals.
pub struct Faults {
    seed: u64,
    rules: Mutex<Arc<Vec<FaultRule>>>,
    seen: Mutex<Ordinals>,
}

/// Locks a mutex, recovering it if a panic elsewhere poisoned it: the data guarded here
/// stays consistent at every step, and one bad request must not disable the server.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash(seed: u64, key: &str, n: u64, salt: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h ^ mix(n.wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))))
}

impl Faults {
    /// Rules with a seed.
    pub fn new(seed: u64, rules: Vec<FaultRule>) -> Faults {
        Faults {
            seed,
            rules: Mutex::new(Arc::new(rules)),
            seen: Mutex::new(Ordinals::default()),
        }
    }

    /// Replaces the rules and forgets the per-key ordinals.
    pub fn replace(&self, rules: Vec<FaultRule>) {
        *lock(&self.rules) = Arc::new(rules);
        *lock(&self.seen) = Ordinals::default();
    }

    /// The active rules.
    pub fn rules(&self) -> Vec<FaultRule> {
        lock(&self.rules).as_ref().clone()
    }

    /// The ordinal of this request among the requests for `key` (0 for the first).
    fn ordinal(&self, key: &str) -> u64 {
        let mut seen = lock(&self.seen);
        if let Some(c) = seen.by_key.get_mut(key) {
            *c += 1;
            return *c - 1;
        }
        if seen.by_key.len() < MAX_TRACKED_KEYS {
            seen.by_key.insert(key.to_string(), 1);
            return 0;
        }
        seen.others += 1;
        seen.others - 1
    }

    /// Decides the fate of a request for `key` whose body would be `body_len` bytes.
    pub fn decide(&self, key: &str, body_len: u64) -> Decision {
        // A snapshot: matching runs without a lock, so a slow pattern delays no one else.
        let rules = Arc::clone(&lock(&self.rules));
        let matching: Vec<(usize, &FaultRule)> = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.pattern.matches(key))
            .collect();
        if matching.is_empty() {
            return Decision::default();
        }
        let n = self.ordinal(key);
        let mut d = Decision::default();
        let mut body_fault = false;
        for (i, r) in matching {
            if n < r.after || r.times.is_some_and(|t| n >= r.after.saturating_add(t)) {
                continue;
            }
            let h = hash(self.seed, key, n, i as u64 + 1);
            if r.p < 1.0 && ((h >> 11) as f64 / (1u64 << 53) as f64) >= r.p {
                continue;
            }
            let at = |f: f64| ((body_len as f64 * f) as u64).min(body_len.saturating_sub(1));
            match r.action {
                FaultAction::Latency(l) => d.latency = d.latency.saturating_add(l).min(MAX_LATENCY),
                FaultAction::Rate(r) => d.rate = Some(d.rate.map_or(r, |x| x.min(r))),
                FaultAction::Status { code, retry_after } if d.status.is_none() && !body_fault => {
                    d.status = Some((code, retry_after));
                }
                FaultAction::Truncate(f) if d.status.is_none() && !body_fault && body_len > 0 => {
                    d.truncate_at = Some(at(f));
                    body_fault = true;
                }
                FaultAction::Reset(f) if d.status.is_none() && !body_fault && body_len > 0 => {
                    d.reset_at = Some(at(f));
                    body_fault = true;
                }
                FaultAction::Flip if d.status.is_none() && !body_fault && body_len > 0 => {
                    d.flip_at = Some(mix(h) % body_len);
                    body_fault = true;
                }
                _ => {}
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("**", "npy/v1/2024/a/b.npy"));
        assert!(glob_match("npy/**/*.npy", "npy/v1/2024/g/g.npy"));
        assert!(!glob_match("npy/*.npy", "npy/v1/g.npy"));
        assert!(glob_match(
            "npy/*/manifest.parquet",
            "npy/v1/manifest.parquet"
        ));
        assert!(glob_match("**/*_scales.npy", "npy/v1/2024/g/g_scales.npy"));
        assert!(!glob_match("**/*_scales.npy", "npy/v1/2024/g/g.npy"));
        assert!(glob_match("a?c", "abc") && !glob_match("a?c", "a/c"));
        assert!(glob_match("**/x", "x"));
        assert!(glob_match("**/x", "a/b/x") && !glob_match("**/x", "ax"));
        assert!(glob_match("npy/**", "npy/a/b") && glob_match("a**b", "a/x/b"));
        assert!(!glob_match("a*b", "a/b") && glob_match("a*b", "axxb"));
        assert!(glob_match("", "") && !glob_match("", "a") && !glob_match("a", ""));
    }

    #[test]
    fn glob_is_not_exponential() {
        let pattern = format!("{}x", "**a".repeat(60));
        let text = "a".repeat(4000);
        let t = std::time::Instant::now();
        assert!(!glob_match(&pattern, &text));
        assert!(glob_match(&pattern, &format!("{text}x")));
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn limits_are_parse_errors() {
        for bad in [
            "**:latency=18446744073709551615",
            "**:latency=300001",
            "**:rate=18446744073709551615g",
            "**:rate=999999999999g",
            "**:rate=0",
            "**:rate=101g",
            "**:truncate=NaN",
            "**:flip,p=NaN",
        ] {
            let e = FaultRule::parse(bad).expect_err(bad);
            assert!(!e.reason.is_empty(), "{bad}");
        }
        assert!(FaultRule::parse(&format!("{}:flip", "a".repeat(MAX_RULE_LEN))).is_err());
        assert!(FaultRule::parse("**:latency=300000").is_ok());
        assert!(FaultRule::parse("**:rate=100g").is_ok());
        assert_eq!(
            FaultRule::parse("**:rate=2k").unwrap().action,
            FaultAction::Rate(2000)
        );
        let many = vec!["**:flip"; MAX_RULES + 1];
        assert!(FaultRule::parse_all(many.iter().copied()).is_err());
        assert_eq!(
            FaultRule::parse_all(many[1..].iter().copied())
                .unwrap()
                .len(),
            MAX_RULES
        );
        let text = "# comment\n\n**:flip\n npy/**:status=503 \n";
        assert_eq!(FaultRule::parse_lines(text).unwrap().len(), 2);
    }

    #[test]
    fn huge_counts_and_latencies_do_not_overflow() {
        let f = Faults::new(
            0,
            vec![
                FaultRule::parse("**:latency=300000,times=18446744073709551615,after=5").unwrap(),
                FaultRule::parse("**:latency=300000").unwrap(),
            ],
        );
        for _ in 0..7 {
            assert!(f.decide("k", 10).latency <= MAX_LATENCY);
        }
    }

    #[test]
    fn ordinals_are_bounded() {
        let f = Faults::new(0, vec![FaultRule::parse("**:status=503,times=1").unwrap()]);
        for i in 0..MAX_TRACKED_KEYS {
            assert!(f.decide(&format!("k{i}"), 1).status.is_some());
        }
        assert!(lock(&f.seen).by_key.len() == MAX_TRACKED_KEYS);
        // Beyond the cap, further keys share one ordinal: the fault still ends.
        assert!(f.decide("x1", 1).status.is_some());
        assert!(f.decide("x2", 1).status.is_none());
        assert_eq!(lock(&f.seen).by_key.len(), MAX_TRACKED_KEYS);
        // Keys no rule matches are not tracked at all.
        let g = Faults::new(0, vec![FaultRule::parse("npy/**:flip").unwrap()]);
        g.decide("other", 1);
        assert!(lock(&g.seen).by_key.is_empty());
    }

    #[test]
    fn parse_and_decide() {
        let rules = vec![
            FaultRule::parse("**/*.npy:status=503,times=2,retry-after=1").unwrap(),
            FaultRule::parse("**:latency=5").unwrap(),
        ];
        let f = Faults::new(1, rules);
        let d0 = f.decide("npy/a.npy", 100);
        assert_eq!(d0.status, Some((503, Some(1))));
        assert_eq!(d0.latency, Duration::from_millis(5));
        assert_eq!(f.decide("npy/a.npy", 100).status, Some((503, Some(1))));
        assert_eq!(
            f.decide("npy/a.npy", 100).status,
            None,
            "only the first two requests"
        );
        assert_eq!(
            f.decide("npy/b.npy", 100).status,
            Some((503, Some(1))),
            "per key"
        );
        assert_eq!(f.decide("x.parquet", 100).status, None);
        for bad in [
            "nocolon",
            ":flip",
            "**:status=200",
            "**:truncate=1.5",
            "**:bogus",
            "**:flip,times=x",
            "**:latency=5,retry-after=2",
        ] {
            assert!(FaultRule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn probability_is_seeded() {
        let run = |seed| {
            let f = Faults::new(
                seed,
                vec![FaultRule::parse("**:truncate=0.5,p=0.3").unwrap()],
            );
            (0..200)
                .map(|_| f.decide("k", 1000).truncate_at.is_some())
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        let hits = a.iter().filter(|&&x| x).count();
        assert!((30..90).contains(&hits), "{hits}");
    }
}
