//! Admin console API. The whole `/v1/admin` scope requires an admin confirmed by the
//! database, whatever the route or method, before any handler runs.

pub(super) mod audit;
pub(super) mod credit;
pub(super) mod credit_requests;
pub(super) mod ledger;
pub(super) mod reason;
pub(super) mod refunds;
pub(super) mod users;
pub(super) mod webhooks;

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::web;

use crate::api::AppState;
use crate::auth::extract::authenticate_admin;
use crate::error::{ApiError, ErrorCode};

async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let admin = match authenticate_admin(req.request()).await {
        Ok(admin) => admin,
        Err(refusal) => return Ok(req.into_response(refusal.error_response()).map_into_right_body()),
    };
    let res = next.call(req).await?;
    audit_refusal(&res, admin.0.id).await;
    Ok(res.map_into_left_body())
}

/// Every admin action keeps its audit entry, refused ones included: a 4xx answered to an
/// admin is written as `admin.refused` with the method, path, status and code. The credit
/// request routes audit their own refusals (forbidden, invalid state, not eligible) under
/// their action's name, so those are not written twice.
async fn audit_refusal<B>(res: &ServiceResponse<B>, actor: uuid::Uuid) {
    let status = res.status();
    if !status.is_client_error() {
        return;
    }
    let req = res.request();
    let code = res.response().error().and_then(|e| e.as_error::<ApiError>()).map(ApiError::code);
    let self_audited = (req.path().starts_with("/v1/admin/credit-requests") || req.path().ends_with("/credit-line"))
        && matches!(code, Some(ErrorCode::Forbidden | ErrorCode::InvalidState | ErrorCode::NotEligible));
    if self_audited {
        return;
    }
    let Some(state) = req.app_data::<web::Data<AppState>>() else { return };
    let details = serde_json::json!({
        "method": req.method().as_str(), "path": req.path(), "status": status.as_u16(),
        "code": code.map(ErrorCode::as_str), "outcome": "refused",
    });
    let now = crate::domain::time::now();
    let written = state
        .db
        .write(move |conn| crate::store::admin::audit(conn, actor, "admin.refused", None, None, &details, now))
        .await;
    // The refusal is the answer either way; a lost audit line must not turn it into a 500.
    if let Err(e) = written {
        tracing::warn!(error = %e, "could not audit a refused admin action");
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/admin")
            .wrap(from_fn(require_admin))
            .service(users::list)
            .service(users::detail)
            .service(crate::api::statements::admin_list)
            .service(crate::api::statements::admin_get)
            .service(users::credit_line)
            .service(users::freeze)
            .service(users::unfreeze)
            .service(credit_requests::list)
            .service(credit_requests::approve)
            .service(credit_requests::reject)
            .service(audit::list)
            .service(ledger::check)
            .service(credit::create_merchant)
            .service(credit::run_billing)
            .service(refunds::refund)
            .service(crate::api::events::all_events)
            .service(webhooks::create)
            .service(webhooks::list)
            .service(webhooks::remove)
            .service(webhooks::attempts)
            .service(webhooks::redeliver)
            .default_service(web::to(super::routing::no_route)),
    );
}
