use actix_web::{HttpResponse, get, web};

use crate::api::AppState;
use crate::auth::extract::AdminUser;
use crate::error::ApiError;
use crate::store::ledger_check;

/// Every ledger invariant, recomputed from the journal.
#[utoipa::path(operation_id = "checkLedger", tag = "admin", path = "/v1/admin/ledger/check", security(("bearer" = [])), responses(
    (status = 200, description = "Every invariant recomputed; `ok` when none is violated", body = crate::store::ledger_check::LedgerReport),
    (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`: not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/ledger/check")]
pub async fn check(state: web::Data<AppState>, _admin: AdminUser) -> Result<HttpResponse, ApiError> {
    let report = state.db.read(ledger_check::check).await?;
    Ok(HttpResponse::Ok().json(report))
}
