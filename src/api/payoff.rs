//! Paying one purchase off early: its quote (`GET`) and the payment of exactly that quote
//! (`POST`), from the wallet in one journal entry. No charge for paying early: a fee not
//! billed yet is not owed.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::dto::{MovementView, timestamp};
use super::idempotency::IdempotencyKey;
use super::json::JsonBody;
use super::money::AmountRequest;
use crate::auth::extract::{AuthUser, MoneyCaller};
use crate::domain::time;
use crate::error::ApiError;
use crate::ledger::MoneyOp;
use crate::ledger::standing::PayoffFound;
use crate::store::purchases::purchase_debt;

const PROBLEM: &str = "application/problem+json";

#[derive(Serialize, ToSchema)]
#[schema(as = PayoffQuote)]
pub struct PayoffQuoteView {
    /// What paying the purchase off costs now: its unpaid principal, billed unpaid fees and
    /// unpaid late fees ("0.00" once paid off). Fees not billed yet are not charged.
    #[schema(example = "61.20")]
    amount: String,
    /// When the quote was made; billing (a fee billed, a late fee) may change it afterwards.
    #[schema(format = DateTime)]
    as_of: String,
}

/// What paying one of the caller's purchases off costs now; another user's answers 404.
#[utoipa::path(operation_id = "getPayoffQuote", tag = "credit", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, description = "The quote", body = PayoffQuoteView),
    (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = PROBLEM),
))]
#[get("/v1/credit/purchases/{id}/payoff")]
pub async fn payoff_quote(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, id, now) = (caller.id(), id.into_inner(), time::now());
    let parts = state.db.read(move |conn| purchase_debt(conn, user_id, id)).await?;
    let parts = parts.ok_or_else(|| ApiError::NotFound("no such purchase".into()))?;
    let amount = state.money.format(PayoffFound::of(&parts).owed_minor());
    Ok(HttpResponse::Ok().json(PayoffQuoteView { amount, as_of: timestamp(now) }))
}

/// Pay one purchase off from the wallet: exactly its quote, late fees, billed fees and
/// principal; its parts turn `paid`, and on a secured line the vault pledges that much less.
#[utoipa::path(operation_id = "payOff", tag = "credit", security(("bearer" = [])), request_body = AmountRequest,
    params(("id" = String, Path), ("Idempotency-Key" = String, Header, description = "1 to 255 printable ASCII characters")),
    responses(
        (status = 201, description = "The repayment movement (a frozen user may pay off)", body = MovementView),
        (status = 404, description = "`not_found`: no such purchase of the caller's", body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, description = "`invalid_state`: the amount is not the quote any more; the detail names the new quote", body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, description = "`insufficient_funds`, `nothing_to_repay`, `invalid_amount`", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/v1/credit/purchases/{id}/payoff")]
pub async fn pay_off(
    state: web::Data<AppState>,
    caller: MoneyCaller,
    key: IdempotencyKey,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: JsonBody<AmountRequest>,
) -> Result<HttpResponse, ApiError> {
    let amount = body.value.amount().parse(&state.money)?;
    let op = MoneyOp::Payoff { purchase: id.into_inner(), amount };
    super::money::movement_once(&state, caller, key, &req, &body.raw, op).await
}
