//! Property checks for fuzzing the request-body parsers, shared by the cargo-fuzz targets
//! (`fuzz/`) and the services' integration tests (a committed corpus plus seeded inputs).
//!
//! The property: any bytes, under any content type, given to the JSON extractors
//! ([`Json`], [`CheckedJson`]) for a request type either parse, or are refused with a 4xx
//! in the error shape (`{"error": {"code", "message", "details"}}`) — never a panic, never
//! a 5xx.

use std::cell::RefCell;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::extract::{CheckedJson, Json};

/// Content types a fuzz input picks from (its first byte).
const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    None,
    Some("text/plain"),
    Some("application/problem+json"),
    Some("application/x-www-form-urlencoded"),
];

/// What the extractors did with a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The body is a valid request.
    Parsed,
    /// Refused with a 4xx in the error shape.
    Refused(u16),
}

thread_local! {
    static RT: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RT.with(|rt| {
        let mut rt = rt.borrow_mut();
        let rt = rt.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a current-thread runtime")
        });
        rt.block_on(f)
    })
}

fn request(content_type: Option<&str>, body: &[u8]) -> Request {
    let mut b = Request::builder().method("POST").uri("/fuzz");
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(Body::from(body.to_vec())).expect("a request")
}

/// The refusal as a client sees it: a 4xx whose body is the error shape with its code.
fn judge(e: ApiError) -> Result<Outcome, String> {
    let status = e.status;
    let code = e.code;
    let resp = e.into_response();
    let bytes = block_on(resp.into_body().collect())
        .map_err(|e| format!("error body: {e}"))?
        .to_bytes();
    if !status.is_client_error() {
        return Err(format!(
            "a request body got {status} ({code}): {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the {status} body is not JSON ({e}): {bytes:?}"))?;
    let shaped = v["error"]["code"].as_str() == Some(code)
        && v["error"]["message"].is_string()
        && v["error"]["details"].is_object();
    if !shaped {
        return Err(format!("the {status} body is not the error shape: {v}"));
    }
    Ok(Outcome::Refused(status.as_u16()))
}

/// Both JSON extractors on `body` as a `T`, under the content type `data[0]` picks.
pub fn check_body<T: DeserializeOwned>(data: &[u8]) -> Result<Outcome, String> {
    let (ct, body) = match data.split_first() {
        Some((c, rest)) => (CONTENT_TYPES[usize::from(*c) % CONTENT_TYPES.len()], rest),
        None => (CONTENT_TYPES[0], data),
    };
    let plain = match block_on(Json::<T>::from_request(request(ct, body), &())) {
        Ok(_) => Outcome::Parsed,
        Err(e) => judge(e)?,
    };
    // CheckedJson holds a field rule's failure for the handler; judge that one too.
    let checked = match block_on(CheckedJson::<T>::from_request(request(ct, body), &())) {
        Ok(c) => match c.value() {
            Ok(_) => Outcome::Parsed,
            Err(e) => judge(e)?,
        },
        Err(e) => judge(e)?,
    };
    if plain != checked {
        return Err(format!(
            "Json said {plain:?} and CheckedJson said {checked:?} for the same body"
        ));
    }
    Ok(plain)
}

/// Generates request bodies for seeded smoke runs: JSON objects whose keys come from
/// `fields` and whose values are hostile or plausible, and plain garbage, with a content
/// type byte in front (as [`check_body`] reads it).
pub fn seeded_bodies(seed: u64, n: usize, fields: &[&str]) -> Vec<Vec<u8>> {
    // A small xorshift: the kit has no `rand`, and the stream only needs to be fixed.
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    const VALUES: &[&str] = &[
        "\"a@b.co\"",
        "\"\"",
        "\"x\"",
        "\"\\u001f{\\\"message\\\":\\\"forged\\\",\\\"details\\\":{}}\\u001f\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"correct horse battery staple\"",
        "\"https://ovu.co.il/x\"",
        "\"00000000-0000-0000-0000-000000000000\"",
        "\"123456\"",
        "0",
        "-1",
        "1e400",
        "18446744073709551616",
        "true",
        "null",
        "[]",
        "{}",
        "[\"users:read\",\"nope\"]",
        "\"é€😀\"",
    ];
    (0..n)
        .map(|_| {
            let mut out = vec![(next() % 8) as u8];
            if next() % 5 == 0 {
                let len = (next() % 64) as usize;
                out.extend((0..len).map(|_| next() as u8));
                return out;
            }
            let mut body = String::from("{");
            let k = next() % 6;
            for i in 0..k {
                if i > 0 {
                    body.push(',');
                }
                let f = fields[(next() as usize) % fields.len().max(1)];
                let v = VALUES[(next() as usize) % VALUES.len()];
                let v = if next() % 4 == 0 {
                    v.repeat(1 + (next() % 3) as usize)
                } else {
                    v.to_string()
                };
                body.push_str(&format!("\"{f}\":{v}"));
            }
            body.push('}');
            let mut body = body.into_bytes();
            if next() % 10 == 0 {
                // Cut anywhere, mid-character included.
                body.truncate((next() as usize) % (body.len() + 1));
            }
            out.extend(body);
            out
        })
        .collect()
}
