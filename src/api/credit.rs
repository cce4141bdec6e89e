//! Buying on credit: merchants, purchases, the bill and repayments.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::dto::{InstallmentView, MovementView, PurchaseView};
use super::idempotency::{self, IdempotencyKey};
use super::json::JsonBody;
use super::money::AmountRequest;
use super::money_input::MoneyText;
use super::page::{Page, PageQuery, page_schema};
use super::refusal::store_error;
use crate::auth::extract::{AuthUser, MoneyCaller};
use crate::domain::credit::{Installment, InstallmentState, Purchase, PurchaseState};
use crate::domain::{schedule, text, time};

pub const DESCRIPTION_MAX_CHARS: usize = 200;
use crate::error::{ApiError, ErrorCode};
use crate::ledger::{Call, CaptureTerms, MoneyOp, Render};
use crate::store;
use crate::store::gate::Gate;

page_schema!(MerchantPage, MerchantView);
page_schema!(PurchasePage, PurchaseView);

const PROBLEM: &str = "application/problem+json";

#[derive(Serialize, ToSchema)]
#[schema(as = Merchant)]
pub struct MerchantView {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
}

impl From<&store::credit::Merchant> for MerchantView {
    fn from(m: &store::credit::Merchant) -> Self {
        Self { id: m.id.to_string(), name: m.name.clone() }
    }
}

/// Merchants a user can buy from, newest first.
#[utoipa::path(operation_id = "listMerchants", tag = "credit", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, description = "A page of merchants", body = MerchantPage),
    (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = PROBLEM),
))]
#[get("/v1/merchants")]
pub async fn merchants(
    state: web::Data<AppState>,
    _caller: AuthUser,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse()?;
    let limit = page.limit;
    let rows = state.db.read(move |conn| store::credit::merchants(conn, page.after.as_deref(), limit + 1)).await?;
    let views: Vec<MerchantView> = rows.iter().map(MerchantView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |m| m.id.clone())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRequest {
    #[schema(format = Uuid)]
    merchant_id: String,
    #[schema(value_type = String, example = "1200.00")]
    amount: MoneyText,
    /// 1, 3, 6, 12 or 24.
    #[schema(example = 3)]
    installments: i64,
    /// At most 200 characters of visible text; empty means none.
    description: Option<String>,
}

fn purchase_json(purchase: &Purchase, state: &AppState) -> serde_json::Value {
    super::dto::json_of(&PurchaseView::new(purchase, &state.money))
}

fn refuse(code: ErrorCode, detail: impl Into<String>) -> ApiError {
    ApiError::Refused { code, detail: detail.into() }
}

/// Authorise a purchase on credit: a hold that raises the exposure now.
#[utoipa::path(operation_id = "createPurchase", tag = "credit", security(("bearer" = [])), request_body = PurchaseRequest,
    params(("Idempotency-Key" = String, Header, description = "1 to 255 printable ASCII characters")),
    responses(
        (status = 201, description = "The purchase, `authorized`", body = PurchaseView),
        (status = 400, description = "`validation_error`, `idempotency_key_required`", body = crate::error::Problem, content_type = PROBLEM),
        (status = 403, description = "`account_frozen`", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "`not_found`: no such merchant", body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, description = "`credit_limit_exceeded`, `invalid_installments`, `account_delinquent`, `invalid_amount`, `validation_error`, `idempotency_key_reused`", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/v1/credit/purchases")]
pub async fn create_purchase(
    state: web::Data<AppState>,
    caller: MoneyCaller,
    key: IdempotencyKey,
    req: HttpRequest,
    body: JsonBody<PurchaseRequest>,
) -> Result<HttpResponse, ApiError> {
    let amount = body.value.amount.parse(&state.money)?;
    let count = u32::try_from(body.value.installments)
        .ok()
        .filter(|n| schedule::is_allowed_count(*n))
        .ok_or_else(|| refuse(ErrorCode::InvalidInstallments, "installments must be 1, 3, 6, 12 or 24"))?;
    if amount.minor() < i64::from(count) {
        return Err(refuse(ErrorCode::InvalidInstallments, "the amount is too small to split into that many parts"));
    }
    // The bill-installment plans' system merchant sells nothing.
    let merchant_id = Uuid::parse_str(&body.value.merchant_id)
        .ok()
        .filter(|id| id.to_string() != crate::domain::credit::BILL_PLAN_MERCHANT)
        .ok_or_else(|| ApiError::Refused { code: ErrorCode::NotFound, detail: "no such merchant".into() })?;
    let description = match body.value.description.as_deref() {
        Some(text) => {
            text::optional_visible("description", text, DESCRIPTION_MAX_CHARS).map_err(ApiError::Validation)?
        }
        None => None,
    };
    let (user_id, gate) = caller.deferred();
    let call = call_of(&state, user_id, gate, key, idempotency::fingerprint(&req, &body.raw));
    let hold = Purchase {
        id: Uuid::now_v7(),
        user_id,
        merchant_id,
        amount_minor: amount.minor(),
        installments: count,
        description,
        state: PurchaseState::Authorized,
        created_at: call.now,
        schedule: Vec::new(),
        refunded_minor: 0,
        refunds: Vec::new(),
    };
    let answer = state.ledger.hold(call, hold, renderer(&state)).await.map_err(|e| store_error(e, &state.money))?;
    idempotency::respond_answered(answer, StatusCode::CREATED, String::clone)
}

/// One keyed request of the caller's, asked now.
fn call_of(state: &AppState, user_id: Uuid, gate: Gate, key: IdempotencyKey, request_hash: String) -> Call {
    Call { user_id, key: key.into_inner(), request_hash, now: time::now(), limits: state.velocity, gate }
}

/// A purchase printed as the API answers it, for the ledger to save with the key.
fn renderer(state: &web::Data<AppState>) -> Render {
    let state = state.clone();
    Arc::new(move |p: &Purchase| purchase_json(p, &state).to_string())
}

/// The buyer has the goods: the hold is captured, the merchant paid in full, the schedule starts.
#[utoipa::path(operation_id = "confirmReceipt", tag = "credit", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = String, Header, description = "1 to 255 printable ASCII characters")),
    responses(
        (status = 200, description = "The purchase, `captured`, with its schedule", body = PurchaseView),
        (status = 403, description = "`account_frozen`", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, description = "`invalid_state`", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/v1/credit/purchases/{id}/confirm-receipt")]
pub async fn confirm_receipt(
    state: web::Data<AppState>,
    caller: MoneyCaller,
    key: IdempotencyKey,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, gate) = caller.deferred();
    let call = call_of(&state, user_id, gate, key, idempotency::fingerprint(&req, b""));
    let credit = &state.settings.credit;
    let terms = CaptureTerms {
        repayment_day: credit.repayment_day,
        fee_rate: credit.fee_rate_per_period,
        score: state.settings.score.clone(),
    };
    let answer = state
        .ledger
        .capture(call, id.into_inner(), terms, renderer(&state))
        .await
        .map_err(|e| store_error(e, &state.money))?;
    idempotency::respond_answered(answer, StatusCode::OK, String::clone)
}

/// Cancel an authorised purchase: the hold is voided.
#[utoipa::path(operation_id = "cancelPurchase", tag = "credit", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, description = "The purchase, `voided`", body = PurchaseView),
    (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = PROBLEM),
    (status = 409, description = "`invalid_state`: only an authorized purchase can be cancelled", body = crate::error::Problem, content_type = PROBLEM),
))]
#[post("/v1/credit/purchases/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: MoneyCaller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, gate) = caller.deferred();
    let purchase =
        state.ledger.cancel(user_id, gate, id.into_inner()).await.map_err(|e| store_error(e, &state.money))?;
    Ok(HttpResponse::Ok().json(PurchaseView::new(&purchase, &state.money)))
}

/// The caller's purchases with their schedules, newest first.
#[utoipa::path(operation_id = "listPurchases", tag = "credit", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, description = "A page of purchases", body = PurchasePage),
))]
#[get("/v1/credit/purchases")]
pub async fn purchases(
    state: web::Data<AppState>,
    caller: AuthUser,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse()?;
    let (user_id, limit) = (caller.id(), page.limit);
    let rows =
        state.db.read(move |conn| store::credit::purchases(conn, user_id, page.after.as_deref(), limit + 1)).await?;
    let views: Vec<PurchaseView> = rows.iter().map(|p| PurchaseView::new(p, &state.money)).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |p| p.id.clone())))
}

/// One of the caller's purchases; another user's answers 404.
#[utoipa::path(operation_id = "getPurchase", tag = "credit", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, description = "The purchase", body = PurchaseView),
    (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = PROBLEM),
))]
#[get("/v1/credit/purchases/{id}")]
pub async fn purchase_by_id(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, id) = (caller.id(), id.into_inner());
    let found = state.db.read(move |conn| store::credit::purchase(conn, user_id, id)).await?;
    let purchase = found.ok_or_else(|| ApiError::NotFound("no such purchase".into()))?;
    Ok(HttpResponse::Ok().json(PurchaseView::new(&purchase, &state.money)))
}

#[derive(Serialize, ToSchema)]
#[schema(as = Bill)]
pub struct BillView {
    #[schema(format = Date)]
    as_of: String,
    due: Vec<InstallmentView>,
    overdue: Vec<InstallmentView>,
    /// What settles every due and overdue installment now.
    total_due: String,
    /// Late fees of one installment stop at this fraction of its principal (`credit.late_fee_cap`).
    #[schema(example = "0.5")]
    late_fee_cap: String,
}

/// Due and overdue installments, as billing has left them, and what they total.
#[utoipa::path(operation_id = "getBill", tag = "credit", security(("bearer" = [])), responses(
    (status = 200, description = "The bill", body = BillView),
))]
#[get("/v1/credit/bill")]
pub async fn bill(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    let user_id = caller.id();
    let items = state.db.read(move |conn| store::credit::bill(conn, user_id)).await?;
    let total: i64 = items.iter().map(|i| i.owed()).sum();
    let view = |overdue: bool| {
        let listed = |i: &&Installment| (i.state == InstallmentState::Overdue) == overdue;
        items.iter().filter(listed).map(|i| InstallmentView::new(i, &state.money)).collect()
    };
    Ok(HttpResponse::Ok().json(BillView {
        as_of: time::now().date_naive().to_string(),
        // Due parts, and converted ones still owing the fee billed before their conversion.
        due: view(false),
        overdue: view(true),
        total_due: state.money.format(total),
        late_fee_cap: state.settings.credit.late_fee_cap.normalize().to_string(),
    }))
}

/// Pay back from the wallet: late fees, then billed fees, then principal, oldest due first.
#[utoipa::path(operation_id = "repay", tag = "credit", security(("bearer" = [])), request_body = AmountRequest,
    params(("Idempotency-Key" = String, Header, description = "1 to 255 printable ASCII characters")),
    responses(
        (status = 201, description = "The repayment movement (a frozen user may repay)", body = MovementView),
        (status = 422, description = "`insufficient_funds`, `nothing_to_repay`, `overpayment`, `invalid_amount`", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/v1/credit/repayments")]
pub async fn repay(
    state: web::Data<AppState>,
    caller: MoneyCaller,
    key: IdempotencyKey,
    req: HttpRequest,
    body: JsonBody<AmountRequest>,
) -> Result<HttpResponse, ApiError> {
    let amount = body.value.amount().parse(&state.money)?;
    super::money::movement_once(&state, caller, key, &req, &body.raw, MoneyOp::Repayment(amount)).await
}
