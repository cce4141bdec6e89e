//! A merchant's refund notice, entered by operations (`POST /v1/admin/purchases/{id}/refunds`).
//! Who: an admin (the scope's guard). How often: each refund needs its own Idempotency-Key,
//! so a retried click refunds once, and the total can never pass what was captured. What it
//! costs: one transaction under the buyer's account lock. Audited with the admin, the
//! purchase, the amount and the reason.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::credit_requests::CreditRequestPending;
use super::reason::reason_of;
use crate::api::AppState;
use crate::api::dto::PurchaseView;
use crate::api::idempotency::{self, IdempotencyKey};
use crate::api::json::JsonBody;
use crate::api::money_input::MoneyText;
use crate::auth::extract::AdminUser;
use crate::error::ApiError;
use crate::store;
use crate::store::credit_requests::Asked;
use crate::store::refunds::{RefundOrder, RefundTerms};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Major units as a string: at most what is left to refund (a hold: its whole amount).
    #[schema(value_type = String, example = "25.00")]
    amount: MoneyText,
    /// The merchant's refund notice: 1 to 500 characters of visible text.
    reason: String,
}

/// Enter a merchant's refund of a purchase: the buyer owes less (from the last installment
/// backwards, unbilled fees rebated pro rata), gets back what was repaid beyond the new
/// total, and within `credit.free_return_days` of capture a full refund returns every fee.
/// A hold (`authorized`) is refunded whole, which voids it.
#[utoipa::path(operation_id = "refundPurchase", tag = "admin", path = "/v1/admin/purchases/{id}/refunds",
    security(("bearer" = [])), request_body = RefundRequest,
    params(("id" = String, Path), ("Idempotency-Key" = String, Header, description = "1 to 255 printable ASCII characters")),
    responses(
        (status = 201, description = "The purchase after the refund", body = PurchaseView),
        (status = 202, description = "Four eyes: the refund is above `credit.refund_four_eyes_limit`, or of a staff member's purchase, so it is recorded as a request and nothing changes until a second admin approves it", body = CreditRequestPending),
        (status = 403, description = "`forbidden`: one's own purchase", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`: the purchase is voided, or is a bill-installment plan", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_amount`: more than is left to refund; `validation_error`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
#[post("/purchases/{id}/refunds")]
pub async fn refund(
    state: web::Data<AppState>,
    admin: AdminUser,
    key: IdempotencyKey,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: JsonBody<RefundRequest>,
) -> Result<HttpResponse, ApiError> {
    let amount = body.value.amount.parse(&state.money)?;
    let reason = reason_of(&body.value.reason)?;
    let (actor, purchase_id) = (admin.0.id, id.into_inner());
    let terms = RefundTerms::of(&state.settings.credit);
    let model = state.settings.score.clone();
    let four_eyes_above_minor = state.refund_four_eyes_limit_minor;
    let view_state = state.clone();
    idempotency::once_answering(
        &state,
        actor,
        key,
        idempotency::fingerprint(&req, &body.raw),
        move |conn, now| {
            let order = RefundOrder {
                purchase_id,
                amount_minor: amount.minor(),
                reason: &reason,
                actor_id: actor,
                terms,
                score: &model,
                request_id: None,
                now,
            };
            store::credit_requests::refund_or_ask(conn, &order, four_eyes_above_minor)
        },
        move |outcome| match outcome {
            Asked::Done(purchase) => (
                StatusCode::CREATED,
                serde_json::to_value(PurchaseView::new(purchase, &view_state.money)).expect("a purchase serializes"),
            ),
            Asked::Pending(request) => (StatusCode::ACCEPTED, CreditRequestPending::of(request)),
        },
    )
    .await
}
