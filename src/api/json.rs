//! How request bodies and malformed requests are answered: every extractor error and
//! unknown route becomes the same problem+json as any other error.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::QueryPayloadError;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::error::ApiError;

/// The largest body any route reads, and how long a client has to send it; set at start-up.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit {
    pub bytes: usize,
    pub deadline: std::time::Duration,
}

/// A JSON body: 415 unless sent as JSON, 413 past the limit, 400 unless it is JSON at
/// all, 422 when it is JSON of the wrong shape (unknown field, wrong type, missing field).
/// The raw bytes are kept for request fingerprints.
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.value
    }
}

fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let rules = req.app_data::<BodyLimit>().copied();
        let limit = rules.map_or(64 * 1024, |l| l.bytes);
        let deadline = rules.map_or(std::time::Duration::from_secs(10), |l| l.deadline);
        let json = is_json(req);
        let length = declared_length(req);
        let mut payload = payload.take();
        Box::pin(async move {
            if length.is_some_and(|n| n > limit) {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            if !json {
                return Err(ApiError::UnsupportedMediaType(
                    "the body must be JSON sent with Content-Type: application/json".into(),
                ));
            }
            let read = async {
                let mut body = BytesMut::with_capacity(length.unwrap_or(1024).min(limit));
                while let Some(chunk) = payload.next().await {
                    let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("unreadable request body: {e}")))?;
                    if body.len() + chunk.len() > limit {
                        return Err(ApiError::PayloadTooLarge { limit });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(body)
            };
            // A client that drips its body cannot hold the connection: 408, and it closes.
            let body = tokio::time::timeout(deadline, read).await.map_err(|_| ApiError::RequestTimeout)??;
            let raw = body.freeze();
            serde_json::from_slice::<IgnoredAny>(&raw)
                .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
            let value = serde_json::from_slice::<T>(&raw).map_err(|e| ApiError::Validation(e.to_string()))?;
            Ok(JsonBody { value, raw })
        })
    }
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let QueryPayloadError::Deserialize(e) = err else {
            return ApiError::BadRequest("invalid query string".into()).into();
        };
        ApiError::BadRequest(format!("invalid query string: {e}")).into()
    })
}

/// A path segment that does not parse (say, a malformed id) names no resource.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, _req| ApiError::not_found().into())
}
