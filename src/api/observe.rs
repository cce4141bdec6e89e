//! One middleware for what every request gets: a request id (echoed in `x-request-id`),
//! a tracing span, an access-log line, metrics, and the log of any internal error.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, for handlers that want to log or return it.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// A client may supply its own id (to follow a request across systems) if it is short and printable.
fn incoming_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let ok = (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| value.to_owned())
}

/// The method as a metric label: the standard ones by name, anything a client makes up as
/// `other`, so a client cannot add label values (and series) at will.
fn method_label(method: &actix_web::http::Method) -> String {
    const KNOWN: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"];
    let name = method.as_str();
    if KNOWN.contains(&name) { name.to_owned() } else { "other".to_owned() }
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = incoming_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let span = tracing::info_span!("request", request_id = %request_id, method = %req.method(), path = %req.path());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let started = Instant::now();

    // Inner middleware answers refusals as responses (not `Err`), so they get all of this too.
    let mut res = next.call(req).instrument(span.clone()).await?;

    let elapsed = started.elapsed();
    let status = res.status();
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(res.request().method());
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method.clone(),
        "status" => status.as_str().to_owned())
    .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route, "method" => method)
        .record(elapsed.as_secs_f64());

    span.in_scope(|| {
        let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
        if status.is_server_error() {
            let cause = res.response().error().map(ToString::to_string).unwrap_or_default();
            tracing::error!(status = status.as_u16(), elapsed_ms, error = %cause, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), elapsed_ms, "request");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res)
}
