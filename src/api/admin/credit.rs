use actix_web::{HttpResponse, post, web};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::credit::MerchantView;
use crate::api::json::JsonBody;
use crate::auth::extract::AdminUser;
use crate::domain::credit::check_billing_date;
use crate::domain::staff::{self, Action};
use crate::domain::user::User;
use crate::domain::{text, time};

pub const MERCHANT_NAME_MAX_CHARS: usize = 100;
use crate::error::ApiError;
use crate::store;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantRequest {
    /// 1 to 100 characters of visible text.
    name: String,
}

/// Add a merchant users can buy from.
#[utoipa::path(operation_id = "createMerchant", tag = "admin", path = "/v1/admin/merchants", security(("bearer" = [])), request_body = MerchantRequest,
    responses(
        (status = 201, description = "The merchant", body = MerchantView),
        (status = 409, description = "`name_taken`: a merchant of that name (in any case) exists", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_error`: the name is not visible text", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
#[post("/merchants")]
pub async fn create_merchant(
    state: web::Data<AppState>,
    admin: AdminUser,
    body: JsonBody<MerchantRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = text::visible("name", &body.value.name, MERCHANT_NAME_MAX_CHARS).map_err(ApiError::Validation)?;
    let actor = admin.0.id;
    let merchant = state
        .db
        .write(move |conn| {
            let now = time::now();
            let merchant = store::credit::create_merchant(conn, &name, now)?;
            let details = serde_json::json!({"after": {"name": merchant.name}});
            store::admin::audit(conn, actor, "merchant.create", Some(&merchant.id.to_string()), None, &details, now)?;
            Ok(merchant)
        })
        .await
        .map_err(|e| match e {
            // Names are unique, case-insensitively, so buyers never see two of one name.
            crate::store::StoreError::UniqueViolation(_) => ApiError::Refused {
                code: crate::error::ErrorCode::NameTaken,
                detail: "a merchant with this name (in any case) exists already".into(),
            },
            other => other.into(),
        })?;
    Ok(HttpResponse::Created().json(MerchantView::from(&merchant)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingRequest {
    /// Not later than today (UTC), unless the service runs with `credit.allow_future_billing`.
    #[schema(example = "2026-12-10")]
    as_of: String,
    /// Answer what the run would do, per user, and write nothing.
    #[serde(default)]
    dry_run: bool,
}

/// Exactly `YYYY-MM-DD` (chrono alone would take `2026-1-5`), as the document's pattern says.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// Bill as of a date: mark installments due and overdue, charge late fees, settle secured
/// debt past the grace period from the vault, void expired holds. Idempotent per date.
#[utoipa::path(operation_id = "runBilling", tag = "admin", path = "/v1/admin/billing/run", security(("bearer" = [])), request_body = BillingRequest,
    responses(
        (status = 200, description = "What the run did; a dry run also lists `users` (each with its counts, at most 500) and `users_not_listed`", body = crate::store::billing::BillingReport),
        (status = 422, description = "`validation_error`: as_of is not a date, or later than today", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
#[post("/billing/run")]
pub async fn run_billing(
    state: web::Data<AppState>,
    admin: AdminUser,
    body: JsonBody<BillingRequest>,
) -> Result<HttpResponse, ApiError> {
    let report = billing_as(&state, &admin.0, &body.value.as_of, body.value.dry_run).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// A billing run (or dry run) as this staff member, for the API and the console alike: the
/// role (a run is for admins, a dry run also for operations), the date, the run, its audit.
pub(crate) async fn billing_as(
    state: &AppState,
    staff: &User,
    as_of: &str,
    dry_run: bool,
) -> Result<crate::store::billing::BillingReport, ApiError> {
    let needs = if dry_run { Action::BillingDryRun } else { Action::BillingRun };
    if !staff::allows(staff.role, needs) {
        return Err(ApiError::Forbidden(format!(
            "the {} role cannot {}",
            staff.role.as_str(),
            needs.as_str().replace('_', " ")
        )));
    }
    let as_of = parse_date(as_of).ok_or_else(|| ApiError::Validation("as_of must be a date, YYYY-MM-DD".into()))?;
    let allow_future = state.settings.credit.allow_future_billing;
    check_billing_date(as_of, time::now().date_naive(), allow_future).map_err(ApiError::Validation)?;
    let report = crate::jobs::billing_once(state, as_of, dry_run).await?;
    // Billing spans one transaction per user, so its audit entry follows the run.
    let details = serde_json::json!({"as_of": as_of.to_string(), "dry_run": dry_run, "counts": &report.counts});
    let actor = staff.id;
    state
        .db
        .write(move |conn| store::admin::audit(conn, actor, "billing.run", None, None, &details, time::now()))
        .await?;
    Ok(report)
}
