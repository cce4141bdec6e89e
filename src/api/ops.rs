//! Operations endpoints: liveness, readiness, metrics.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::error::ApiError;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` while the process runs; `ready` once the database answers.
    status: &'static str,
}

/// The process is up.
#[utoipa::path(operation_id = "healthz", tag = "operations", responses((status = 200, description = "Alive", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The database answers.
#[utoipa::path(operation_id = "readyz", tag = "operations", responses(
    (status = 200, description = "Database reachable", body = Health),
    (status = 503, description = "database not reachable", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.db.ping().await?;
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}

/// Prometheus text: requests by route and status, latency histogram, pool connections.
#[utoipa::path(operation_id = "metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let (open, idle) = state.db.pool_state();
    ::metrics::gauge!("db_pool_connections_in_use").set(f64::from(open.saturating_sub(idle)));
    ::metrics::gauge!("db_pool_connections_idle").set(f64::from(idle));
    let statements = state.db.statements().load(std::sync::atomic::Ordering::Relaxed);
    ::metrics::counter!("db_statements_total").absolute(statements);
    // Two indexed counts; a failure leaves the last values (the page must still answer).
    if let Ok((pending, failed)) = state.db.read(crate::store::webhooks::counts).await {
        ::metrics::gauge!("events_pending").set(pending as f64);
        ::metrics::gauge!("webhook_deliveries_failed").set(failed as f64);
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(super::metrics::handle().render())
}
