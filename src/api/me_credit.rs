//! The caller's score and limit history.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::dto::{ScoreView, timestamp};
use super::page::{Page, PageQuery, page_schema};
use crate::auth::extract::AuthUser;
use crate::domain::{score, time};
use crate::error::ApiError;
use crate::store;

page_schema!(LimitChangePage, LimitChangeView);

/// The caller's score, whether they can be upgraded, and what moves it.
#[utoipa::path(operation_id = "getMyScore", tag = "me", security(("bearer" = [])), responses(
    (status = 200, description = "The score with each factor's effect", body = ScoreView),
    (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/v1/me/score")]
pub async fn my_score(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    let user_id = caller.id();
    let standing = state.db.read(move |conn| store::score::standing(conn, user_id, time::now())).await?;
    Ok(HttpResponse::Ok().json(ScoreView::from(&score::evaluate(&standing.inputs, &state.settings.score))))
}

#[derive(Serialize, ToSchema)]
#[schema(as = LimitChange)]
pub struct LimitChangeView {
    #[schema(format = Uuid)]
    pub id: String,
    /// The line after the change.
    #[schema(value_type = crate::domain::account::CreditLine)]
    pub line: String,
    pub limit_before: String,
    pub limit_after: String,
    #[schema(value_type = crate::store::limits::LimitReason)]
    pub reason: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl LimitChangeView {
    pub fn new(c: store::limits::LimitChange, money: &crate::domain::money::MoneyPolicy) -> Self {
        Self {
            id: c.id,
            line: c.line,
            limit_before: money.format(c.limit_before_minor),
            limit_after: money.format(c.limit_after_minor),
            reason: c.reason,
            created_at: timestamp(c.created_at),
        }
    }
}

/// Every change of the caller's credit limit, newest first.
#[utoipa::path(operation_id = "listLimitHistory", tag = "credit", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, description = "A page of limit changes", body = LimitChangePage),
    (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/v1/credit/limit-history")]
pub async fn limit_history(
    state: web::Data<AppState>,
    caller: AuthUser,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse()?;
    let (user_id, limit) = (caller.id(), page.limit);
    let rows =
        state.db.read(move |conn| store::limits::history(conn, user_id, page.after.as_deref(), limit + 1)).await?;
    let views: Vec<LimitChangeView> = rows.into_iter().map(|c| LimitChangeView::new(c, &state.money)).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |c| c.id.clone())))
}

#[derive(Serialize, ToSchema)]
pub struct OutflowLimit {
    /// The most that may leave the wallet (withdrawals and transfers out) in any 24 hours;
    /// null: no cap.
    limit: Option<String>,
    used: String,
    /// null when there is no cap.
    available: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UnlockLimit {
    /// Vault unlocks per calendar day (UTC); null: no cap.
    limit: Option<i64>,
    used: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RequestLimit {
    /// Money requests per window; null: no limit.
    limit: Option<i64>,
    window_secs: Option<i64>,
    /// Requests counted in the current window.
    used: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Limits)]
pub struct LimitsView {
    outflow_24h: OutflowLimit,
    unlocks_today: UnlockLimit,
    money_requests: RequestLimit,
}

/// The caller's velocity limits and what is left of each.
#[utoipa::path(operation_id = "getMyLimits", tag = "me", security(("bearer" = [])), responses(
    (status = 200, description = "Each limit, what it has counted and what is left", body = LimitsView),
))]
#[get("/v1/me/limits")]
pub async fn limits(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    let (user_id, now) = (caller.id(), time::now());
    let window = state.requests.map(|b| b.window_start(now).naive_utc());
    let (outflow, unlocks, requests) = state
        .db
        .read(move |conn| {
            let (outflow, unlocks) = store::rate::velocity_used(conn, user_id, now)?;
            let requests = match window {
                Some(start) => store::rate::requests_in(conn, user_id, start)?,
                None => 0,
            };
            Ok((outflow, unlocks, requests))
        })
        .await?;
    let (money, velocity) = (&state.money, state.velocity);
    let cap = velocity.outflow_24h_minor;
    Ok(HttpResponse::Ok().json(LimitsView {
        outflow_24h: OutflowLimit {
            limit: cap.map(|c| money.format(c)),
            used: money.format(outflow),
            available: cap.map(|c| money.format((c - outflow).max(0))),
        },
        unlocks_today: UnlockLimit { limit: velocity.unlocks_per_day, used: unlocks },
        money_requests: RequestLimit {
            limit: state.requests.map(|b| b.requests),
            window_secs: state.requests.map(|b| b.window_secs),
            used: requests,
        },
    }))
}
