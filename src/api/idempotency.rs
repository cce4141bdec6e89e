//! Idempotency for every POST that moves money or changes a limit, implemented once:
//! the key is checked, the effect applied and the response saved in one transaction.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::AppState;
use crate::domain::time;
use crate::error::ApiError;
use crate::store::idempotency::{self, Answered, Lookup, Stored, StoredResponse};
use crate::store::{DbConn, StoreError};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
pub const MAX_LEN: usize = 255;
/// What the OpenAPI document publishes for the header: exactly the check below.
pub const KEY_PATTERN: &str = "^[!-~](?:[ -~]{0,253}[!-~])?$";

/// 1..=255 printable ASCII characters, not starting or ending with a space (HTTP would
/// strip those), from the `Idempotency-Key` header.
#[derive(Clone, Debug)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn into_inner(self) -> String {
        self.0
    }

    /// A key from somewhere other than the header (a console form's hidden field), under
    /// the header's rules.
    pub fn from_text(text: &str) -> Option<Self> {
        valid_key(text.as_bytes()).then(|| IdempotencyKey(text.to_owned()))
    }
}

/// Exactly what `KEY_PATTERN` says.
fn valid_key(bytes: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&bytes.len())
        && bytes.iter().all(|b| (0x20..=0x7e).contains(b))
        && bytes.first() != Some(&b' ')
        && bytes.last() != Some(&b' ')
}

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(value) = req.headers().get(HEADER) else { return ready(Err(ApiError::IdempotencyKeyRequired)) };
        ready(match (valid_key(value.as_bytes()), value.to_str()) {
            (true, Ok(text)) => Ok(IdempotencyKey(text.to_owned())),
            _ => Err(ApiError::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_LEN} printable ASCII characters, no space at either end"
            ))),
        })
    }
}

/// Sorts object keys at every depth, so the same JSON sent differently formatted or
/// ordered fingerprints the same.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> =
                keys.iter().map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&map[*k]))).collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// What the request asks for: method, path and canonical body.
pub fn fingerprint(req: &HttpRequest, body: &[u8]) -> String {
    let body = serde_json::from_slice::<Value>(body).map(|v| canonical(&v)).unwrap_or_default();
    let mut hash = Sha256::new();
    hash.update(req.method().as_str().as_bytes());
    hash.update(b" ");
    hash.update(req.path().as_bytes());
    hash.update(b"\n");
    hash.update(body.as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

enum Outcome {
    Fresh(StoredResponse),
    Replay(StoredResponse),
    Mismatch,
}

/// Applies `effect` at most once per (caller, key). `render` turns its result into the
/// response body, which is saved with the key in the same transaction.
pub async fn once<T, F, R>(
    state: &AppState,
    caller: Uuid,
    key: IdempotencyKey,
    fingerprint: String,
    status: StatusCode,
    effect: F,
    render: R,
) -> Result<HttpResponse, ApiError>
where
    F: FnMut(&mut DbConn, DateTime<Utc>) -> Result<T, StoreError> + Send + 'static,
    R: Fn(&T) -> Value + Send + 'static,
    T: 'static,
{
    once_answering(state, caller, key, fingerprint, effect, move |value| (status, render(value))).await
}

/// `once`, for an effect whose outcome chooses the status too (e.g. 201 done, 202 waiting
/// for a second admin).
pub async fn once_answering<T, F, R>(
    state: &AppState,
    caller: Uuid,
    key: IdempotencyKey,
    fingerprint: String,
    mut effect: F,
    render: R,
) -> Result<HttpResponse, ApiError>
where
    F: FnMut(&mut DbConn, DateTime<Utc>) -> Result<T, StoreError> + Send + 'static,
    R: Fn(&T) -> (StatusCode, Value) + Send + 'static,
    T: 'static,
{
    let outcome = state
        .db
        .write(move |conn| {
            let now = time::now();
            match idempotency::lookup(conn, caller, &key.0, &fingerprint)? {
                Lookup::Replay(Stored::Body(stored)) => return Ok(Outcome::Replay(stored)),
                // Movement answers are saved only by the money routes, whose paths differ.
                Lookup::Replay(Stored::Entry(_) | Stored::Purchase(_)) => return Ok(Outcome::Mismatch),
                Lookup::Mismatch => return Ok(Outcome::Mismatch),
                Lookup::Absent => {}
            }
            let value = effect(conn, now)?;
            let (status, body) = render(&value);
            let response = StoredResponse { status: status.as_u16(), body: body.to_string() };
            idempotency::save(conn, caller, &key.0, &fingerprint, &response, now)?;
            Ok(Outcome::Fresh(response))
        })
        .await
        .map_err(|e| super::refusal::store_error(e, &state.money))?;
    let (stored, replayed) = match outcome {
        Outcome::Fresh(stored) => (stored, false),
        Outcome::Replay(stored) => (stored, true),
        Outcome::Mismatch => return Err(ApiError::IdempotencyKeyReused),
    };
    respond(stored, replayed)
}

/// Answers a request applied once per key: `render` prints the value, fresh or replayed.
pub fn respond_answered<T>(
    answer: Answered<T>,
    status: StatusCode,
    render: impl FnOnce(&T) -> String,
) -> Result<HttpResponse, ApiError> {
    let (value, replayed) = match answer {
        Answered::Fresh(value) => (value, false),
        Answered::Replay(value) => (value, true),
        Answered::Mismatch => return Err(ApiError::IdempotencyKeyReused),
        Answered::Stored(stored) => return respond(stored, true),
    };
    respond(StoredResponse { status: status.as_u16(), body: render(&value) }, replayed)
}

/// The answer to an idempotent request, marked when it is a replay.
pub fn respond(stored: StoredResponse, replayed: bool) -> Result<HttpResponse, ApiError> {
    let status = StatusCode::from_u16(stored.status).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut response = HttpResponse::build(status);
    response.content_type("application/json");
    if replayed {
        response.insert_header((REPLAYED_HEADER, "true"));
    }
    Ok(response.body(stored.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_check_and_published_pattern_agree() {
        let pattern = regex::Regex::new(KEY_PATTERN).unwrap();
        let long = "k".repeat(255);
        let too_long = "k".repeat(256);
        for key in ["a", "order-1", "a b", "~!@", " a", "a ", " ", "", "tab\there", "é", &long, &too_long] {
            assert_eq!(valid_key(key.as_bytes()), pattern.is_match(key), "{key:?}");
        }
    }

    #[test]
    fn canonical_json_ignores_order_and_spacing() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":"s","y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        let c: Value = serde_json::from_str(r#"{"a":{"x":"s","y":[2,1]},"b":1}"#).unwrap();
        assert_ne!(canonical(&a), canonical(&c));
    }
}
