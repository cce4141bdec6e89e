//! Admin console API. The whole `/v1/admin` scope requires an active staff member confirmed
//! by the database whose role allows the route's action (`ROUTE_ACTIONS`, then
//! `domain::staff::allows`), whatever the route or method, before any handler runs.

pub(super) mod audit;
pub(crate) mod credit;
pub(crate) mod credit_requests;
pub(super) mod ledger;
pub(super) mod reason;
pub(super) mod refunds;
pub(crate) mod staff;
pub(crate) mod users;
pub(crate) mod webhooks;

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpResponse, web};

use crate::api::AppState;
use crate::auth::extract::{AdminUser, authenticate_admin};
use crate::domain::staff::Action;
use crate::error::{ApiError, ErrorCode};

/// What each admin route needs: method, pattern, action. The least a route needs: a handler
/// whose action depends on its body asks again (a billing run that is not a dry run, the
/// decision on a request of a given kind). A route missing here is for `admin` only.
pub const ROUTE_ACTIONS: &[(&str, &str, Action)] = &[
    ("GET", "/v1/admin/users", Action::Read),
    ("GET", "/v1/admin/users/{id}", Action::Read),
    ("POST", "/v1/admin/users/{id}/credit-line", Action::ChangeCreditLine),
    ("POST", "/v1/admin/users/{id}/freeze", Action::Freeze),
    ("POST", "/v1/admin/users/{id}/unfreeze", Action::Freeze),
    ("GET", "/v1/admin/users/{id}/statements", Action::Read),
    ("GET", "/v1/admin/users/{id}/statements/{statement_id}", Action::Read),
    ("GET", "/v1/admin/credit-requests", Action::Read),
    ("POST", "/v1/admin/credit-requests/{id}/approve", Action::DecideRequest),
    ("POST", "/v1/admin/credit-requests/{id}/reject", Action::DecideRequest),
    ("GET", "/v1/admin/audit-log", Action::Read),
    ("GET", "/v1/admin/ledger/check", Action::Read),
    ("POST", "/v1/admin/merchants", Action::CreateMerchant),
    ("POST", "/v1/admin/billing/run", Action::BillingDryRun),
    ("POST", "/v1/admin/purchases/{id}/refunds", Action::Refund),
    ("GET", "/v1/admin/events", Action::Read),
    ("POST", "/v1/admin/webhooks", Action::ManageWebhooks),
    ("GET", "/v1/admin/webhooks", Action::Read),
    ("DELETE", "/v1/admin/webhooks/{id}", Action::ManageWebhooks),
    ("GET", "/v1/admin/webhooks/{id}/attempts", Action::Read),
    ("POST", "/v1/admin/webhooks/{id}/events/{event_id}/redeliver", Action::ManageWebhooks),
    ("GET", "/v1/admin/staff", Action::Read),
    ("POST", "/v1/admin/staff", Action::ManageStaff),
    ("POST", "/v1/admin/staff/{id}/role", Action::ManageStaff),
    ("POST", "/v1/admin/staff/{id}/deactivate", Action::ManageStaff),
    ("POST", "/v1/admin/staff/{id}/totp/reset", Action::ManageStaff),
];

/// The action a request to the admin scope needs, from the route it matches (not the raw
/// path, so `/users/x/../freeze` cannot pass for a read).
fn action_of(req: &ServiceRequest) -> Action {
    let Some(pattern) = req.match_pattern() else { return Action::ManageStaff };
    let method = req.method().as_str();
    ROUTE_ACTIONS
        .iter()
        .find(|(m, p, _)| *m == method && *p == pattern)
        .map_or(Action::ManageStaff, |(_, _, action)| *action)
}

/// Refuses a staff member whose role does not allow the route's action.
fn role_allows(req: &ServiceRequest, staff: &AdminUser) -> Result<(), ApiError> {
    let action = action_of(req);
    staff.may(action).inspect_err(|_| {
        let address = req.app_data::<web::Data<AppState>>().map(|s| s.client_address(req.request()));
        let user = staff.0.username.to_string();
        crate::security::event("admin_route_refused", Some(&user), &address.unwrap_or_default(), action.as_str());
    })
}

async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let admin = match authenticate_admin(req.request()).await {
        Ok(admin) => admin,
        Err(refusal) => return Ok(req.into_response(refusal.error_response()).map_into_right_body()),
    };
    if let Err(refusal) = role_allows(&req, &admin) {
        // Kept in the audit log like any refused admin action.
        // Built from the error itself (not its rendered response), so the audit sees its code.
        let res = ServiceResponse::new(req.into_parts().0, HttpResponse::from_error(refusal));
        audit_refusal(&res, admin.0.id).await;
        return Ok(res.map_into_right_body());
    }
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
            .service(staff::list)
            .service(staff::create)
            .service(staff::change_role)
            .service(staff::deactivate)
            .service(staff::reset_totp)
            .default_service(web::to(super::routing::no_route)),
    );
}
