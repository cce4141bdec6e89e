//! How malformed requests are answered: extractor errors and unknown routes become the
//! same problem+json as every other error.

use actix_web::error::{JsonPayloadError, PayloadError, QueryPayloadError};
use actix_web::{HttpRequest, web};

use crate::error::ApiError;

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(move |err, _req| json_error(err, limit).into())
}

pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
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

fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. }
        | JsonPayloadError::Overflow { .. }
        | JsonPayloadError::Payload(PayloadError::Overflow) => ApiError::PayloadTooLarge { limit },
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("the body must be JSON sent with Content-Type: application/json".into())
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::Validation(e.to_string()),
        JsonPayloadError::Deserialize(e) => ApiError::BadRequest(format!("malformed JSON: {e}")),
        other => ApiError::BadRequest(format!("unreadable request body: {other}")),
    }
}

/// The default service: no route matches this method and path.
pub async fn no_route(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())))
}
