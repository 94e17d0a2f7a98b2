//! Fault injection: seeded, per-path rules that make the server misbehave the way real
//! networks and object stores do, so that clients can be tested against it.
//!
//! A rule is `PATTERN:ACTION[,OPTION...]`:
//! - PATTERN: a glob on the object key (`*` within a path segment, `**` across segments,
//!   `?` one character), e.g. `npy/**/*.npy` or `**`;
//! - ACTION: `status=CODE` (with `retry-after=SECONDS`), `latency=MS`, `truncate=FRACTION`
//!   (the body stops early), `flip` (one byte of the body is inverted), `reset=FRACTION`
//!   (the connection is reset after that fraction of the body), `rate=BYTES_PER_SECOND`
//!   (the body is sent no faster; suffixes k, m, g);
//! - OPTIONS: `times=N` (only the first N matching requests of each key), `after=N` (only
//!   after the first N), `p=P` (with probability P, decided by a hash of the seed, the key
//!   and the request's ordinal for that key, so runs are reproducible).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use thiserror::Error;

/// A rule that could not be parsed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error(
    "bad fault rule '{rule}': {reason} (expected PATTERN:ACTION[,OPTION...], e.g. 'npy/**:status=503,times=2', '**:latency=200', '**/*.npy:truncate=0.5,p=0.3', '**:flip,times=1', '**:reset=0.5')"
)]
pub struct FaultParseError {
    /// The rule text.
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
    pattern: String,
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

/// Glob match: `*` within a segment, `**` across segments, `?` one non-`/` character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn m(p: &[u8], t: &[u8]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => {
                let rest = p[2..].strip_prefix(b"/").unwrap_or(&p[2..]);
                (0..=t.len()).any(|i| m(rest, &t[i..]))
                    || (0..=t.len()).any(|i| m(&p[2..], &t[i..]))
            }
            Some(b'*') => {
                let mut i = 0;
                loop {
                    if m(&p[1..], &t[i..]) {
                        return true;
                    }
                    if i >= t.len() || t[i] == b'/' {
                        return false;
                    }
                    i += 1;
                }
            }
            Some(b'?') => !t.is_empty() && t[0] != b'/' && m(&p[1..], &t[1..]),
            Some(&c) => t.first() == Some(&c) && m(&p[1..], &t[1..]),
        }
    }
    m(pattern.as_bytes(), text.as_bytes())
}

impl FaultRule {
    /// Parses one rule.
    pub fn parse(text: &str) -> Result<FaultRule, FaultParseError> {
        let err = |reason: &str| FaultParseError {
            rule: text.to_string(),
            reason: reason.to_string(),
        };
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
                FaultAction::Latency(Duration::from_millis(
                    v.parse().map_err(|_| err("bad latency (milliseconds)"))?,
                ))
            }
            "truncate" => FaultAction::Truncate(frac(value)?),
            "reset" => FaultAction::Reset(frac(value)?),
            "flip" => FaultAction::Flip,
            "rate" => {
                let v = value
                    .ok_or_else(|| err("missing rate"))?
                    .to_ascii_lowercase();
                let (num, mult) = match v.chars().last() {
                    Some('k') => (&v[..v.len() - 1], 1_000),
                    Some('m') => (&v[..v.len() - 1], 1_000_000),
                    Some('g') => (&v[..v.len() - 1], 1_000_000_000),
                    _ => (v.as_str(), 1),
                };
                let r: u64 = num
                    .parse()
                    .map_err(|_| err("bad rate (bytes per second, e.g. 20m)"))?;
                if r == 0 {
                    return Err(err("rate must be positive"));
                }
                FaultAction::Rate(r * mult)
            }
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
            pattern: pattern.trim_start_matches('/').to_string(),
            action,
            times,
            after,
            p,
        })
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

/// The active rules and per-key request ordinals.
pub struct Faults {
    seed: u64,
    rules: Mutex<Vec<FaultRule>>,
    seen: Mutex<HashMap<String, u64>>,
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
            rules: Mutex::new(rules),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the rules and forgets the per-key ordinals.
    pub fn replace(&self, rules: Vec<FaultRule>) {
        *self.rules.lock().expect("fault rules") = rules;
        self.seen.lock().expect("fault ordinals").clear();
    }

    /// The active rules.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.lock().expect("fault rules").clone()
    }

    /// Decides the fate of a request for `key` whose body would be `body_len` bytes.
    pub fn decide(&self, key: &str, body_len: u64) -> Decision {
        let rules = self.rules.lock().expect("fault rules");
        if rules.is_empty() {
            return Decision::default();
        }
        let n = {
            let mut seen = self.seen.lock().expect("fault ordinals");
            let c = seen.entry(key.to_string()).or_insert(0);
            *c += 1;
            *c - 1
        };
        let mut d = Decision::default();
        let mut body_fault = false;
        for (i, r) in rules.iter().enumerate() {
            if !glob_match(&r.pattern, key)
                || n < r.after
                || r.times.is_some_and(|t| n >= r.after + t)
            {
                continue;
            }
            let h = hash(self.seed, key, n, i as u64 + 1);
            if r.p < 1.0 && ((h >> 11) as f64 / (1u64 << 53) as f64) >= r.p {
                continue;
            }
            let at = |f: f64| ((body_len as f64 * f) as u64).min(body_len.saturating_sub(1));
            match r.action {
                FaultAction::Latency(l) => d.latency += l,
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
