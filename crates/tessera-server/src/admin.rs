//! The admin endpoints, served only when enabled ([`crate::ServerConfig::admin_enabled`]):
//! `GET /_tessera/stats`, `POST /_tessera/reset`, `GET /_tessera/faults` and
//! `PUT`/`POST /_tessera/faults` (the rules, one a line).
//!
//! They steer a test server, so they answer only what a local test would send: a Host
//! that is a loopback name or address or the bound address (against DNS rebinding), no
//! Origin but the server's own (against cross-site requests from a browser), mutations by
//! POST or PUT only, and bodies of at most [`crate::Limits::max_admin_body`] bytes.

use std::net::{IpAddr, SocketAddr};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;

use crate::faults::FaultRule;
use crate::mirror::{Body, State, full, s3_error};

fn json_resp(v: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(full(v.to_string()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A loopback name or address, or the address the server is bound to.
fn local_host(host: &str, bound: IpAddr) -> bool {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || ip == bound)
}

/// Why a request may not use the admin endpoints, if it may not.
fn refuse(req: &Request<Incoming>, bound: SocketAddr) -> Option<(StatusCode, &'static str)> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok());
    let Some(host) = host else {
        return Some((StatusCode::FORBIDDEN, "Admin requests need a Host header"));
    };
    let uri_host_ok = req
        .uri()
        .authority()
        .is_none_or(|a| local_host(a.host(), bound.ip()));
    if !local_host(host.host(), bound.ip()) || !uri_host_ok {
        return Some((
            StatusCode::FORBIDDEN,
            "Admin requests need a loopback Host (or the server's address)",
        ));
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let own = [format!("http://{host}"), format!("http://{bound}")];
        let ok = origin
            .to_str()
            .is_ok_and(|o| own.iter().any(|x| x.eq_ignore_ascii_case(o)));
        if !ok {
            return Some((
                StatusCode::FORBIDDEN,
                "Admin requests from another origin are refused",
            ));
        }
    }
    None
}

fn method_not_allowed(allow: &'static str, cmd: &str) -> Response<Body> {
    let mut r = s3_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        &format!("Allowed: {allow}"),
        cmd,
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// Answers `/_tessera/{cmd}`.
pub(crate) async fn admin(req: Request<Incoming>, cmd: &str, state: &State) -> Response<Body> {
    if let Some((status, why)) = refuse(&req, state.addr) {
        return s3_error(status, "AccessDenied", why, cmd);
    }
    let method = req.method().clone();
    match cmd {
        "stats" => match method {
            Method::GET | Method::HEAD => json_resp(state.stats.snapshot().to_json()),
            _ => method_not_allowed("GET, HEAD", cmd),
        },
        "reset" => match method {
            Method::POST => {
                state.stats.reset();
                json_resp(json!({"ok": true}))
            }
            _ => method_not_allowed("POST", cmd),
        },
        "faults" => match method {
            Method::GET | Method::HEAD => json_resp(json!(
                state
                    .faults
                    .rules()
                    .iter()
                    .map(|r| r.text.clone())
                    .collect::<Vec<_>>()
            )),
            Method::PUT | Method::POST => set_faults(req, state).await,
            _ => method_not_allowed("GET, HEAD, PUT, POST", cmd),
        },
        _ => s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "Unknown admin endpoint (stats, reset, faults)",
            cmd,
        ),
    }
}

/// Replaces the fault rules with those of the request body.
async fn set_faults(req: Request<Incoming>, state: &State) -> Response<Body> {
    let max = state.limits.max_admin_body;
    let too_large = || {
        s3_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "EntityTooLarge",
            &format!("Admin request bodies are at most {max} bytes"),
            "faults",
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return too_large();
    }
    let body = Limited::new(req.into_body(), max).collect();
    let body = match tokio::time::timeout(state.limits.header_read_timeout, body).await {
        Err(_) => {
            return s3_error(
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeout",
                "The request body was not sent in time",
                "faults",
            );
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(_)) => {
            return s3_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "Unreadable body",
                "faults",
            );
        }
        Ok(Ok(b)) => b.to_bytes(),
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "The rules must be UTF-8 text, one a line",
            "faults",
        );
    };
    match FaultRule::parse_lines(text) {
        Ok(rules) => {
            let n = rules.len();
            state.faults.replace(rules);
            json_resp(json!({"rules": n}))
        }
        Err(e) => s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            &e.to_string(),
            "faults",
        ),
    }
}
