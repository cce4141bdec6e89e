//! `GET` and `PUT /v1/me/autopay`: the caller's autopay setting. Who: the user, for
//! themselves only (a frozen user too: autopay only ever repays). Cost: one read or one
//! upsert of a one-row setting; nothing moves until billing's run on a due date.

use actix_web::{HttpResponse, get, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::json::JsonBody;
use crate::auth::extract::AuthUser;
use crate::domain::autopay::{Autopay, AutopaySources};
use crate::domain::time;
use crate::error::ApiError;
use crate::store;

/// Where autopay takes a due bill from.
#[derive(Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AutopaySource {
    Wallet,
    Vault,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutopayRequest {
    enabled: bool,
    /// The sources in the order to pay from, each once; `["wallet"]` when left out.
    #[schema(min_items = 1, max_items = 2)]
    #[serde(default)]
    sources: Option<Vec<AutopaySource>>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Autopay)]
pub struct AutopayView {
    enabled: bool,
    /// In the order autopay pays from.
    sources: Vec<&'static str>,
}

impl From<&Autopay> for AutopayView {
    fn from(a: &Autopay) -> Self {
        AutopayView { enabled: a.enabled, sources: a.sources.names() }
    }
}

/// The caller's autopay setting (off until they turn it on).
#[utoipa::path(operation_id = "getAutopay", tag = "credit", security(("bearer" = [])), responses(
    (status = 200, description = "The setting", body = AutopayView),
))]
#[get("/v1/me/autopay")]
pub async fn get_autopay(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    let user_id = caller.id();
    let setting = state.db.read(move |conn| store::autopay::get(conn, user_id)).await?;
    Ok(HttpResponse::Ok().json(AutopayView::from(&setting)))
}

/// Turn autopay on or off: on each due date billing pays what is due from the sources in
/// order (a `repayment` from the wallet, a `vault_repayment` from the vault, which lowers a
/// secured limit), before anything can turn overdue; what the balances cannot cover stays due.
#[utoipa::path(operation_id = "setAutopay", tag = "credit", security(("bearer" = [])), request_body = AutopayRequest,
    responses(
        (status = 200, description = "The setting now", body = AutopayView),
        (status = 422, description = "`validation_error`: a source named twice", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
#[put("/v1/me/autopay")]
pub async fn set_autopay(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: JsonBody<AutopayRequest>,
) -> Result<HttpResponse, ApiError> {
    let names: Vec<&str> = match &body.value.sources {
        Some(list) => {
            list.iter().map(|s| if matches!(s, AutopaySource::Wallet) { "wallet" } else { "vault" }).collect()
        }
        None => vec!["wallet"],
    };
    let sources = AutopaySources::from_names(&names).map_err(ApiError::Validation)?;
    let setting = Autopay { enabled: body.value.enabled, sources };
    let user_id = caller.id();
    let saved = state.db.write(move |conn| store::autopay::set(conn, user_id, &setting, time::now())).await?;
    Ok(HttpResponse::Ok().json(AutopayView::from(&saved)))
}
