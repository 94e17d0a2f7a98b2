//! Response bodies: S3-style XML errors, and object bodies streamed from an open file with
//! the body faults (truncation, resets, flipped bytes, throttling) applied.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::faults::{Decision, MAX_LATENCY};
use crate::mirror::State;

pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// Text for an XML element: markup characters escaped, control characters dropped (keys
/// come from the request and must not inject markup or terminal escapes).
pub(crate) fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// An S3-style XML error response.
pub(crate) fn s3_error(status: StatusCode, code: &str, message: &str, key: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Key>{}</Key></Error>\n",
        xml_text(code),
        xml_text(message),
        xml_text(key)
    );
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

/// Streams `len` bytes of the open `file` from `start`, applying the body faults.
pub(crate) fn file_body(
    file: std::fs::File,
    start: u64,
    len: u64,
    d: Decision,
    reset: Arc<AtomicBool>,
    state: Arc<State>,
    key: String,
) -> Body {
    struct S {
        file: Option<tokio::fs::File>,
        opened: Option<std::fs::File>,
        pos: u64,
        sent: u64,
        len: u64,
        d: Decision,
        reset: Arc<AtomicBool>,
        state: Arc<State>,
        key: String,
        done: bool,
    }
    let s = S {
        file: None,
        opened: Some(file),
        pos: start,
        sent: 0,
        len,
        d,
        reset,
        state,
        key,
        done: false,
    };
    let stream = futures_util::stream::unfold(s, |mut s| async move {
        if s.done || s.sent >= s.len {
            return None;
        }
        if let Some(f) = s.opened.take() {
            let mut f = tokio::fs::File::from_std(f);
            if let Err(e) = f.seek(std::io::SeekFrom::Start(s.pos)).await {
                s.done = true;
                return Some((Err(e), s));
            }
            s.file = Some(f);
        }
        // Where this chunk must stop: a fault point or the end.
        let limit = [s.d.truncate_at, s.d.reset_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(s.len);
        if s.sent >= limit {
            s.done = true;
            if s.d.reset_at == Some(limit) {
                s.reset.store(true, Ordering::SeqCst);
                return Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "injected reset",
                    )),
                    s,
                ));
            }
            // Truncation: end the stream early; the peer sees fewer bytes than announced.
            return None;
        }
        // Throttled bodies go in chunks of about a tenth of a second each.
        let chunk = match s.d.rate {
            Some(r) => (r / 10).clamp(1, 64 * 1024),
            None => 256 * 1024,
        };
        let want = (limit - s.sent).min(chunk) as usize;
        if let Some(r) = s.d.rate {
            let secs = want as f64 / r.max(1) as f64;
            tokio::time::sleep(Duration::try_from_secs_f64(secs).unwrap_or(MAX_LATENCY)).await;
        }
        let mut buf = vec![0u8; want];
        let file = s.file.as_mut()?;
        match file.read_exact(&mut buf).await {
            Ok(_) => {}
            Err(e) => {
                s.done = true;
                return Some((Err(e), s));
            }
        }
        if let Some(at) = s.d.flip_at
            && at >= s.sent
            && at < s.sent + want as u64
        {
            buf[(at - s.sent) as usize] ^= 0xFF;
        }
        s.sent += want as u64;
        s.pos += want as u64;
        s.state.stats.add_bytes(&s.key, want as u64);
        Some((Ok(Frame::data(Bytes::from(buf))), s))
    });
    BodyExt::boxed(StreamBody::new(stream))
}
