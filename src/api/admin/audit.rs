use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::AppState;
use crate::api::dto::timestamp;
use crate::api::page::{Page, PageQuery, page_schema};
use crate::auth::extract::AdminUser;
use crate::error::ApiError;
use crate::store;

page_schema!(AuditEntryPage, AuditEntryView);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only entries about this user or object.
    target_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditEntryView {
    #[schema(format = Uuid)]
    id: String,
    #[schema(format = Uuid)]
    actor_id: String,
    /// e.g. credit_line.upgrade, credit_line.downgrade, credit_line.adjust, user.freeze,
    /// user.unfreeze, merchant.create, billing.run.
    action: String,
    /// The user or merchant acted on.
    #[schema(format = Uuid)]
    target_id: Option<String>,
    reason: Option<String>,
    /// What changed: `before` and `after`, or the outcome.
    #[schema(value_type = Object)]
    details: serde_json::Value,
    #[schema(format = DateTime)]
    created_at: String,
}

/// Every admin action, newest first.
#[utoipa::path(operation_id = "listAuditLog", tag = "admin", path = "/v1/admin/audit-log", security(("bearer" = [])), params(AuditFilter, PageQuery),
    responses((status = 200, description = "A page of audit entries", body = AuditEntryPage)))]
#[get("/audit-log")]
pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminUser,
    filter: web::Query<AuditFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse()?;
    let limit = page.limit;
    let target = filter.into_inner().target_id;
    let rows = state
        .db
        .read(move |conn| store::admin::audit_log(conn, target.as_deref(), page.after.as_deref(), limit + 1))
        .await?;
    let views: Vec<AuditEntryView> = rows
        .into_iter()
        .map(|e| AuditEntryView {
            id: e.id,
            actor_id: e.actor_id,
            action: e.action,
            target_id: e.target_id,
            reason: e.reason,
            details: e.details,
            created_at: timestamp(e.created_at),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |e| e.id.clone())))
}
