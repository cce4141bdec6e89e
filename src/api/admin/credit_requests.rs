//! Four-eyes credit decisions. A credit-line change one admin may not make alone (an
//! upgrade with `override`, or a general limit above `credit.four_eyes_limit`) is recorded
//! as a request and answered 202; a second admin approves it (the change applies then) or
//! rejects it. Refused attempts are audited too, so the log shows who tried what.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::reason::{ReasonRequest, not_self, reason_of};
use crate::api::AppState;
use crate::api::dto::timestamp;
use crate::api::idempotency::{self, IdempotencyKey};
use crate::api::json::JsonBody;
use crate::api::page::{Page, PageQuery, page_schema};
use crate::api::refusal::store_error;
use crate::auth::extract::AdminUser;
use crate::domain::four_eyes::{RequestKind, RequestState};
use crate::domain::user::User;
use crate::domain::{staff, time};
use crate::error::{ApiError, ErrorCode};
use crate::store;
use crate::store::admin::LineChange;
use crate::store::credit_requests::{Concerning, CreditRequest, Requested};
use crate::store::refunds::RefundTerms;
use crate::store::score::Ctx;

page_schema!(CreditRequestPage, CreditRequestView);

const PROBLEM: &str = "application/problem+json";

/// The answer to an action that waits for a second admin.
#[derive(Serialize, ToSchema)]
pub struct CreditRequestPending {
    /// Approve or reject it under `/v1/admin/credit-requests/{request_id}`.
    #[schema(format = Uuid)]
    request_id: String,
    /// Always `pending`: nothing on the account has changed yet.
    #[schema(value_type = RequestState)]
    state: &'static str,
}

impl CreditRequestPending {
    pub fn of(request: &CreditRequest) -> serde_json::Value {
        let pending = CreditRequestPending { request_id: request.id.to_string(), state: "pending" };
        // Stored with the idempotency key: a body that failed to serialize must not be saved as null.
        serde_json::to_value(pending).expect("a pending request serializes")
    }
}

/// A four-eyes request: a credit-line change, a refund, or a staff member's freeze or
/// unfreeze, waiting for (or decided by) a second admin.
#[derive(Serialize, ToSchema)]
#[schema(as = CreditRequest)]
pub struct CreditRequestView {
    #[schema(format = Uuid)]
    id: String,
    /// What is asked for; the fields that go with each kind are set, the others null.
    #[schema(value_type = RequestKind)]
    kind: &'static str,
    /// Whose account it is about (the buyer, for a refund).
    #[schema(format = Uuid)]
    user_id: String,
    /// The admin who asked.
    #[schema(format = Uuid)]
    requested_by: String,
    /// `credit_line`: the line asked for.
    #[schema(value_type = Option<crate::domain::account::CreditLine>)]
    line: Option<&'static str>,
    /// `credit_line`: the general limit asked for, in major units; null for a secured line.
    #[schema(example = "20000.00")]
    limit: Option<String>,
    /// `credit_line`: whether the upgrade skips the score check.
    #[serde(rename = "override")]
    override_eligibility: bool,
    /// `refund`: the purchase to refund.
    #[schema(format = Uuid)]
    purchase_id: Option<String>,
    /// `refund`: the amount, in major units.
    #[schema(example = "2500.00")]
    amount: Option<String>,
    /// Why it was asked for.
    reason: String,
    #[schema(value_type = RequestState)]
    state: &'static str,
    /// The second admin, once decided.
    #[schema(format = Uuid)]
    decided_by: Option<String>,
    #[schema(format = DateTime)]
    decided_at: Option<String>,
    /// Why it was approved or rejected.
    decision_reason: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
}

impl CreditRequestView {
    fn new(request: &CreditRequest, state: &AppState) -> Self {
        let (mut line, mut limit, mut override_eligibility, mut purchase_id, mut amount) =
            (None, None, false, None, None);
        match request.change {
            Requested::Line(LineChange::General { limit_minor, override_eligibility: o }) => {
                (line, limit, override_eligibility) = (Some("general"), Some(state.limits.format(limit_minor)), o);
            }
            Requested::Line(LineChange::Secured) => line = Some("secured"),
            Requested::Refund { purchase_id: p, amount_minor } => {
                (purchase_id, amount) = (Some(p.to_string()), Some(state.money.format(amount_minor)));
            }
            Requested::Status(_) => {}
        }
        Self {
            id: request.id.to_string(),
            kind: request.change.kind().as_str(),
            user_id: request.user_id.to_string(),
            requested_by: request.requested_by.to_string(),
            line,
            limit,
            override_eligibility,
            purchase_id,
            amount,
            reason: request.reason.clone(),
            state: request.state.as_str(),
            decided_by: request.decided_by.map(|d| d.to_string()),
            decided_at: request.decided_at.map(timestamp),
            decision_reason: request.decision_reason.clone(),
            created_at: timestamp(request.created_at),
        }
    }
}

/// Writes an audit entry for a refusal the admin could have known better about (not
/// allowed, already decided, not eligible); other errors and successes pass through.
async fn audit_if_refused<T>(
    state: &AppState,
    actor: Uuid,
    action: &'static str,
    concerning: Concerning,
    reason: &str,
    outcome: Result<T, ApiError>,
) -> Result<T, ApiError> {
    let Err(error) = &outcome else { return outcome };
    let code = error.code();
    if !matches!(code, ErrorCode::Forbidden | ErrorCode::InvalidState | ErrorCode::NotEligible) {
        return outcome;
    }
    let reason = reason.to_owned();
    let written = state
        .db
        .write(move |conn| {
            store::credit_requests::audit_refusal(conn, actor, action, concerning, &reason, code.as_str(), time::now())
        })
        .await;
    // The refusal is the answer either way; a lost audit line must not turn it into a 500.
    if let Err(e) = written {
        tracing::warn!(error = %e, action, "could not audit a refused credit request action");
    }
    outcome
}

/// Records a change that needs a second admin: 202 with the request id, once per key.
pub(super) async fn request_change(
    state: &AppState,
    admin: &AdminUser,
    key: IdempotencyKey,
    fingerprint: String,
    target: Uuid,
    change: LineChange,
    reason: String,
) -> Result<HttpResponse, ApiError> {
    let actor = admin.0.id;
    let audit_reason = reason.clone();
    let outcome = match not_self(admin, target, "change the credit line of") {
        Err(e) => Err(e),
        Ok(()) => {
            let model = state.settings.score.clone();
            idempotency::once(
                state,
                actor,
                key,
                fingerprint,
                StatusCode::ACCEPTED,
                move |conn, now| {
                    let ctx = Ctx { now, score: &model };
                    store::credit_requests::create(conn, actor, target, Requested::Line(change), &reason, &ctx)
                },
                CreditRequestPending::of,
            )
            .await
        }
    };
    audit_if_refused(state, actor, "credit_request.create", Concerning::User(target), &audit_reason, outcome).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestFilter {
    /// Only requests in this state (e.g. `pending`: the ones waiting for a decision).
    state: Option<RequestState>,
}

/// Four-eyes requests (credit-line changes, refunds, staff freezes), newest first.
#[utoipa::path(operation_id = "listCreditRequests", tag = "admin", path = "/v1/admin/credit-requests", security(("bearer" = [])),
    params(RequestFilter, PageQuery),
    responses((status = 200, description = "A page of credit requests", body = CreditRequestPage)))]
#[get("/credit-requests")]
pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminUser,
    filter: web::Query<RequestFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse()?;
    let limit = page.limit;
    let wanted = filter.into_inner().state;
    let rows =
        state.db.read(move |conn| store::credit_requests::list(conn, wanted, page.after.as_deref(), limit + 1)).await?;
    let views: Vec<CreditRequestView> = rows.iter().map(|r| CreditRequestView::new(r, &state)).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |r| r.id.clone())))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Approve,
    Reject,
}

/// Decides a request as `decider`, for the API and the console alike: the role must allow
/// deciding its kind (`staff::may_decide`), the store refuses the maker and the person it is
/// about, and every such refusal keeps its audit entry.
pub(crate) async fn decide_request(
    state: &AppState,
    decider: &User,
    id: Uuid,
    reason: String,
    decision: Decision,
) -> Result<CreditRequest, ApiError> {
    let actor = decider.id;
    let action = match decision {
        Decision::Approve => "credit_request.approve",
        Decision::Reject => "credit_request.reject",
    };
    // A request's kind never changes, so reading it first decides the role check for good.
    let kind = state.db.read(move |conn| store::credit_requests::by_id(conn, id)).await?.map(|r| r.change.kind());
    if let Some(kind) = kind
        && !staff::may_decide(decider.role, kind)
    {
        let role = decider.role.as_str();
        let refusal = Err(ApiError::Forbidden(format!("the {role} role cannot decide a {} request", kind.as_str())));
        return audit_if_refused(state, actor, action, Concerning::Request(id), &reason, refusal).await;
    }
    let model = state.settings.score.clone();
    let terms = RefundTerms::of(&state.settings.credit);
    let decision_reason = reason.clone();
    let outcome = state
        .db
        .write(move |conn| {
            let now = time::now();
            match decision {
                Decision::Approve => {
                    let ctx = Ctx { now, score: &model };
                    store::credit_requests::approve(conn, actor, id, &decision_reason, &ctx, terms)
                }
                Decision::Reject => store::credit_requests::reject(conn, actor, id, &decision_reason, now),
            }
        })
        .await
        .map_err(|e| store_error(e, &state.money));
    audit_if_refused(state, actor, action, Concerning::Request(id), &reason, outcome).await
}

async fn decide(
    state: &AppState,
    admin: AdminUser,
    id: Uuid,
    body: &ReasonRequest,
    decision: Decision,
) -> Result<HttpResponse, ApiError> {
    let reason = reason_of(&body.reason)?;
    let request = decide_request(state, &admin.0, id, reason, decision).await?;
    Ok(HttpResponse::Ok().json(CreditRequestView::new(&request, state)))
}

/// Approve a four-eyes request: its action applies now, exactly as the direct action would
/// (checked again as things stand now, same history and audit entry).
#[utoipa::path(operation_id = "approveCreditRequest", tag = "admin", path = "/v1/admin/credit-requests/{id}/approve", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReasonRequest,
    responses(
        (status = 200, description = "The request, approved; the account is changed", body = CreditRequestView),
        (status = 403, description = "`forbidden`: the admin who asked cannot decide, nor the person it is about; or the user is now an admin", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "`not_found`: no such request", body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, description = "`invalid_state`: the request is already approved or rejected (also the answer to a retried approval), or the purchase to refund is now voided", body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, description = "`not_eligible`: the user is frozen, has an overdue installment, or no longer qualifies without override; `invalid_amount`: the refund is now more than is left to refund. The request stays pending", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/credit-requests/{id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<Uuid>,
    body: JsonBody<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    decide(&state, admin, id.into_inner(), &body.value, Decision::Approve).await
}

/// Reject a credit request: it closes and the account stays as it is.
#[utoipa::path(operation_id = "rejectCreditRequest", tag = "admin", path = "/v1/admin/credit-requests/{id}/reject", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReasonRequest,
    responses(
        (status = 200, description = "The request, rejected", body = CreditRequestView),
        (status = 403, description = "`forbidden`: the admin who asked cannot decide, nor the person it is about", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "`not_found`: no such credit request", body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, description = "`invalid_state`: the request is already approved or rejected (also the answer to a retried rejection)", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/credit-requests/{id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<Uuid>,
    body: JsonBody<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    decide(&state, admin, id.into_inner(), &body.value, Decision::Reject).await
}
