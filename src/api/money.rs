//! The caller's own money: account, deposits, withdrawals, transfers, vault, history.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::dto::{AccountView, MovementView};
use super::idempotency::{self, IdempotencyKey};
use super::json::JsonBody;
use super::money_input::MoneyText;
use super::page::{Page, PageQuery, page_schema};
use super::refusal::store_error;
use crate::auth::extract::{AuthUser, MoneyCaller};
use crate::domain::account::Refusal;
use crate::domain::money::{Amount, MoneyPolicy};
use crate::domain::movement::Note;
use crate::domain::time;
use crate::domain::user::Username;
use crate::error::ApiError;
use crate::ledger::{Call, MoneyOp};
use crate::store::{self, StoreError};

page_schema!(MovementPage, MovementView);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountRequest {
    /// Major units as a string, at most the currency's decimal places.
    #[schema(value_type = String, example = "100.00")]
    amount: MoneyText,
}

impl AmountRequest {
    pub fn amount(&self) -> &MoneyText {
        &self.amount
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    #[schema(example = "bob_99")]
    to_username: String,
    #[schema(value_type = String, example = "25.50")]
    amount: MoneyText,
    /// At most 140 characters.
    note: Option<String>,
}

/// Applies a money operation once per idempotency key; answers 201 `Movement`.
pub(super) async fn movement_once(
    state: &AppState,
    caller: MoneyCaller,
    key: IdempotencyKey,
    req: &HttpRequest,
    raw: &[u8],
    op: MoneyOp,
) -> Result<HttpResponse, ApiError> {
    let (user_id, gate) = caller.deferred();
    let call = Call {
        user_id,
        key: key.into_inner(),
        request_hash: idempotency::fingerprint(req, raw),
        now: time::now(),
        limits: state.velocity,
        gate,
    };
    let answer = state.ledger.apply(call, op).await.map_err(|e| store_error(e, &state.money))?;
    let (model, money) = (&state.settings.score, &state.money);
    idempotency::respond_answered(answer, StatusCode::CREATED, |movement| {
        super::dto::json_of(&MovementView::new(user_id, movement, model, money)).to_string()
    })
}

fn amount_of(body: &AmountRequest, money: &MoneyPolicy) -> Result<Amount, ApiError> {
    body.amount.parse(money)
}

macro_rules! money_route {
    // `$frozen`: the 403 response, for the routes a frozen user may not use (empty otherwise).
    ($name:ident, $path:literal, $op:ident, $summary:literal, $errors:literal, [$($frozen:tt)*]) => {
        #[doc = $summary]
        #[utoipa::path(tag = "money", security(("bearer" = [])), request_body = AmountRequest,
            params(("Idempotency-Key" = String, Header, description = "1 to 255 printable ASCII characters")),
            responses(
                (status = 201, description = "The movement, with the account right after it", body = MovementView),
                (status = 400, description = "`validation_error`, `idempotency_key_required`", body = crate::error::Problem, content_type = "application/problem+json"),
                (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = "application/problem+json"),
                $($frozen)*
                (status = 422, description = $errors, body = crate::error::Problem, content_type = "application/problem+json"),
            ))]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            caller: MoneyCaller,
            key: IdempotencyKey,
            req: HttpRequest,
            body: JsonBody<AmountRequest>,
        ) -> Result<HttpResponse, ApiError> {
            let amount = amount_of(&body.value, &state.money)?;
            movement_once(&state, caller, key, &req, &body.raw, MoneyOp::$op(amount)).await
        }
    };
}

money_route!(
    deposit,
    "/v1/wallet/deposits",
    Deposit,
    "Add money to the wallet from the user's linked funding source.",
    "`invalid_amount`, `validation_error`, `idempotency_key_reused`",
    []
);
money_route!(
    withdraw,
    "/v1/wallet/withdrawals",
    Withdrawal,
    "Take money out of the wallet to the linked funding source.",
    "`insufficient_funds`, `velocity_limit_exceeded` (the rolling 24-hour outflow cap), `invalid_amount`, `validation_error`, `idempotency_key_reused`",
    [(
        status = 403,
        description = "`account_frozen`: no money leaves a frozen account on its owner's initiative",
        body = crate::error::Problem,
        content_type = "application/problem+json"
    ),]
);
money_route!(
    lock,
    "/v1/vault/lock",
    VaultLock,
    "Move money from the wallet into the vault (a secured line's limit rises with it).",
    "`insufficient_funds`, `invalid_amount`, `validation_error`, `idempotency_key_reused`",
    []
);
money_route!(
    unlock,
    "/v1/vault/unlock",
    VaultUnlock,
    "Move money from the vault back to the wallet, up to `unlockable` on a secured line.",
    "`vault_pledged`, `insufficient_funds`, `velocity_limit_exceeded` (unlocks per day), `invalid_amount`, `validation_error`, `idempotency_key_reused`",
    [(
        status = 403,
        description = "`account_frozen`: no money leaves a frozen account on its owner's initiative",
        body = crate::error::Problem,
        content_type = "application/problem+json"
    ),]
);

/// Send money from the wallet to another user's wallet.
#[utoipa::path(operation_id = "transfer", tag = "money", security(("bearer" = [])), request_body = TransferRequest,
    params(("Idempotency-Key" = String, Header, description = "1 to 255 printable ASCII characters")),
    responses(
        (status = 201, description = "The sender's `transfer_out` movement", body = MovementView),
        (status = 400, description = "`validation_error`, `idempotency_key_required`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_frozen`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`recipient_not_found`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`insufficient_funds`, `self_transfer`, `velocity_limit_exceeded` (the rolling 24-hour outflow cap), `invalid_amount`, `validation_error`, `idempotency_key_reused`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
#[post("/v1/transfers")]
pub async fn transfer(
    state: web::Data<AppState>,
    caller: MoneyCaller,
    key: IdempotencyKey,
    req: HttpRequest,
    body: JsonBody<TransferRequest>,
) -> Result<HttpResponse, ApiError> {
    let amount = body.value.amount.parse(&state.money)?;
    let note = body.value.note.as_deref().map(Note::parse).transpose().map_err(ApiError::Validation)?.flatten();
    // A name that cannot exist names no recipient.
    let recipient = Username::parse(&body.value.to_username)
        .map_err(|_| store_error(StoreError::Refused(Refusal::RecipientNotFound), &state.money))?;
    movement_once(&state, caller, key, &req, &body.raw, MoneyOp::Transfer { to: recipient, amount, note }).await
}

/// The caller's wallet, vault, credit line and score.
#[utoipa::path(operation_id = "getMyAccount", tag = "money", security(("bearer" = [])), responses(
    (status = 200, description = "The account", body = AccountView),
    (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/v1/me/account")]
pub async fn account(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    let user_id = caller.id();
    let standing = state.db.read(move |conn| store::score::standing(conn, user_id, time::now())).await?;
    Ok(HttpResponse::Ok().json(AccountView::from_standing(user_id, &standing, &state.settings.score, &state.money)))
}

/// Movements touching the caller, newest first.
#[utoipa::path(operation_id = "listTransactions", tag = "money", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, description = "A page of movements", body = MovementPage),
    (status = 400, description = "`validation_error`: bad limit or cursor", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/v1/transactions")]
pub async fn transactions(
    state: web::Data<AppState>,
    caller: AuthUser,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse()?;
    let user_id = caller.id();
    let limit = page.limit;
    let rows =
        state.db.read(move |conn| store::ledger::movements(conn, user_id, page.after.as_deref(), limit + 1)).await?;
    let model = &state.settings.score;
    let views: Vec<MovementView> = rows.iter().map(|m| MovementView::new(user_id, m, model, &state.money)).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |v| v.id.clone())))
}
