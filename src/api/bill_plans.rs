//! `POST /v1/credit/bill/installments`: the caller's due bill becomes a plan of 3 to 24
//! parts. Who: the buyer, for their own bill, counted in the money request budget. Once per
//! bill (a plan's own bill is never converted again), never while anything is overdue.

use actix_web::{HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::dto::PurchaseView;
use super::json::JsonBody;
use super::refusal::store_error;
use crate::auth::extract::MoneyCaller;
use crate::domain::{schedule, time};
use crate::error::{ApiError, ErrorCode};
use crate::store;
use crate::store::bill_plans::PlanTerms;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillPlanRequest {
    /// 3, 6, 12 or 24 parts.
    installments: i64,
}

/// Convert the due bill (not yet overdue) into installments: its principal, with any fee
/// billed on it and not yet paid, becomes a plan at the per-period fee; the old parts turn
/// `converted`.
#[utoipa::path(operation_id = "convertBill", tag = "credit", security(("bearer" = [])), request_body = BillPlanRequest,
    responses(
        (status = 201, description = "The plan, a purchase from the bill-installments merchant, with its schedule", body = PurchaseView),
        (status = 409, description = "`invalid_state`: this bill was converted already, or it is a plan's own bill", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`nothing_to_repay`: nothing is due; `account_delinquent`: something is overdue; `invalid_installments`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
#[post("/v1/credit/bill/installments")]
pub async fn convert_bill(
    state: web::Data<AppState>,
    caller: MoneyCaller,
    body: JsonBody<BillPlanRequest>,
) -> Result<HttpResponse, ApiError> {
    let count = u32::try_from(body.value.installments)
        .ok()
        .filter(|n| *n >= 3 && schedule::is_allowed_count(*n))
        .ok_or_else(|| ApiError::Refused {
            code: ErrorCode::InvalidInstallments,
            detail: "a bill converts into 3, 6, 12 or 24 installments".into(),
        })?;
    let user_id = caller.checked(&state).await?;
    let credit = &state.settings.credit;
    let terms = PlanTerms {
        installments: count,
        repayment_day: credit.repayment_day,
        fee_rate: credit.fee_rate_per_period,
        now: time::now(),
    };
    let plan = state
        .db
        .write(move |conn| store::bill_plans::convert(conn, user_id, &terms))
        .await
        .map_err(|e| store_error(e, &state.money))?;
    Ok(HttpResponse::Created().json(PurchaseView::new(&plan, &state.money)))
}
