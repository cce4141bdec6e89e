use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::credit_requests::{CreditRequestPending, request_change};
use super::reason::{ReasonRequest, not_self, reason_of};
use crate::api::AppState;
use crate::api::dto::{AccountView, ScoreView, UserView};
use crate::api::idempotency::{self, IdempotencyKey};
use crate::api::json::JsonBody;
use crate::api::money_input::MoneyText;
use crate::api::page::{Page, PageQuery, page_schema};
use crate::api::refusal::store_error;
use crate::auth::extract::AdminUser;
use crate::domain::staff::Action;
use crate::domain::user::{User, UserStatus};
use crate::domain::{four_eyes, score, time};
use crate::error::ApiError;
use crate::store::admin::LineChange;
use crate::store::credit_requests::Asked;
use crate::store::score::{Ctx, Standing};
use crate::store::{self, DbConn, StoreError};

page_schema!(UserPage, UserView);

const PROBLEM: &str = "application/problem+json";
/// An `eligible` search rates at most this many users per request, then hands back a cursor.
const MAX_RATED_PER_PAGE: u32 = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Part of a username (case-insensitive).
    #[param(max_length = 64)]
    q: Option<String>,
    /// Only users who qualify (true) or do not qualify (false) for an upgrade now.
    eligible: Option<bool>,
}

fn eligible(conn: &mut DbConn, user: &User, model: &score::ScoreModel) -> Result<bool, StoreError> {
    let standing = store::score::standing(conn, user.id, time::now())?;
    Ok(score::evaluate(&standing.inputs, model).eligible_for_upgrade)
}

/// Users whose username contains `q`, newest first; `eligible` filters by upgrade eligibility.
#[utoipa::path(operation_id = "listUsers", tag = "admin", path = "/v1/admin/users", security(("bearer" = [])), params(UserSearch, PageQuery), responses(
    (status = 200, description = "A page of users", body = UserPage),
    (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = PROBLEM),
    (status = 403, description = "`forbidden`: not an admin", body = crate::error::Problem, content_type = PROBLEM),
))]
#[get("/users")]
pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminUser,
    search: web::Query<UserSearch>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse()?;
    let search = search.into_inner();
    let q = search.q.unwrap_or_default();
    if q.chars().count() > 64 {
        return Err(ApiError::BadRequest("q must be at most 64 characters".into()));
    }
    let q = q.to_lowercase();
    let limit = page.limit;
    let model = state.settings.score.clone();
    let (rows, cursor) = state
        .db
        .read(move |conn| {
            let Some(wanted) = search.eligible else {
                let rows = store::users::search(conn, &q, page.after.as_deref(), limit + 1)?;
                return Ok((rows, None));
            };
            // Eligibility is computed, not stored: rate users page by page until enough match.
            let (mut found, mut after, mut rated) = (Vec::new(), page.after.clone(), 0);
            loop {
                let batch = store::users::search(conn, &q, after.as_deref(), 100)?;
                let exhausted = batch.len() < 100;
                for user in batch {
                    rated += 1;
                    after = Some(user.id.to_string());
                    if eligible(conn, &user, &model)? == wanted {
                        found.push(user);
                        if found.len() > limit as usize {
                            return Ok((found, None));
                        }
                    }
                }
                if exhausted {
                    return Ok((found, None));
                }
                if rated >= MAX_RATED_PER_PAGE {
                    return Ok((found, after));
                }
            }
        })
        .await?;
    let views: Vec<UserView> = rows.iter().map(UserView::from).collect();
    let mut page = Page::from_rows(views, limit, |u| u.id.clone());
    if page.next_cursor.is_none() {
        page.next_cursor = cursor.map(|c| crate::api::page::encode_cursor(&c));
    }
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Serialize, ToSchema)]
pub struct UserDetail {
    user: UserView,
    account: AccountView,
    score: ScoreView,
}

/// One user with their account and score.
#[utoipa::path(operation_id = "getUser", tag = "admin", path = "/v1/admin/users/{id}", security(("bearer" = [])), params(("id" = String, Path)),
    responses(
        (status = 200, description = "The user, account and score", body = UserDetail),
        (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[get("/users/{id}")]
pub async fn detail(
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let found = state
        .db
        .read(move |conn| match store::users::by_id(conn, id)? {
            Some(user) => Ok(Some((user, store::score::standing(conn, id, time::now())?))),
            None => Ok(None),
        })
        .await?;
    let (user, standing) = found.ok_or_else(|| ApiError::NotFound("no such user".into()))?;
    let model = &state.settings.score;
    Ok(HttpResponse::Ok().json(UserDetail {
        user: UserView::from(&user),
        account: AccountView::from_standing(id, &standing, model, &state.money),
        score: ScoreView::from(&score::evaluate(&standing.inputs, model)),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditLineRequest {
    /// `general` or `secured`.
    #[schema(example = "general")]
    line: String,
    /// With `general`: the limit, at most `credit.general_limit_max`.
    #[schema(value_type = Option<String>, example = "5000.00")]
    limit: Option<MoneyText>,
    reason: String,
    /// Upgrade even below the score threshold (never for a frozen or overdue account);
    /// the change then waits for a second admin.
    #[serde(rename = "override")]
    override_eligibility: Option<bool>,
}

/// Upgrade to a general line, adjust its limit, or downgrade to a secured line.
#[utoipa::path(operation_id = "changeCreditLine", tag = "admin", path = "/v1/admin/users/{id}/credit-line", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = String, Header, description = "1 to 255 printable ASCII characters")),
    request_body = CreditLineRequest,
    responses(
        (status = 200, description = "The user's account after the change", body = AccountView),
        (status = 202, description = "Four eyes: the change uses `override` or a general limit above `credit.four_eyes_limit`, so it is recorded as a credit request and nothing changes until a second admin approves it", body = CreditRequestPending),
        (status = 403, description = "`forbidden`: not an admin, one's own line, or an admin's line", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, description = "`not_eligible` (below the score threshold without override; frozen or overdue, even with override), `invalid_amount`, `validation_error`", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/users/{id}/credit-line")]
pub async fn credit_line(
    state: web::Data<AppState>,
    admin: AdminUser,
    key: IdempotencyKey,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: JsonBody<CreditLineRequest>,
) -> Result<HttpResponse, ApiError> {
    let target = id.into_inner();
    let reason = reason_of(&body.value.reason)?;
    let change = match (body.value.line.as_str(), &body.value.limit) {
        ("general", Some(limit)) => LineChange::General {
            limit_minor: limit.parse(&state.limits)?.minor(),
            override_eligibility: body.value.override_eligibility.unwrap_or(false),
        },
        ("general", None) => return Err(ApiError::Validation("a general line needs a limit".into())),
        ("secured", None) => LineChange::Secured,
        ("secured", Some(_)) => {
            return Err(ApiError::Validation("a secured line's limit is the vault; send no limit".into()));
        }
        _ => return Err(ApiError::Validation("line must be `general` or `secured`".into())),
    };
    let fingerprint = idempotency::fingerprint(&req, &body.raw);
    change_line_as(&state, &admin, key, fingerprint, target, change, reason).await
}

/// A credit-line change as `admin` asked, for the API and the console alike: 200 with the
/// account, or 202 with the request when it needs a second pair of eyes; once per key.
pub(crate) async fn change_line_as(
    state: &web::Data<AppState>,
    admin: &AdminUser,
    key: IdempotencyKey,
    fingerprint: String,
    target: Uuid,
    change: LineChange,
    reason: String,
) -> Result<HttpResponse, ApiError> {
    admin.may(Action::ChangeCreditLine)?;
    // A downgrade to a secured line applies at once, `override` or not.
    if let LineChange::General { limit_minor, override_eligibility } = change
        && four_eyes::needs_second_admin(limit_minor, override_eligibility, state.four_eyes_limit_minor)
    {
        return request_change(state, admin, key, fingerprint, target, change, reason).await;
    }
    not_self(admin, target, "change the credit line of")?;
    let actor = admin.0.id;
    let model = state.settings.score.clone();
    let view_state = state.clone();
    idempotency::once(
        state,
        actor,
        key,
        fingerprint,
        StatusCode::OK,
        move |conn, now| {
            let ctx = Ctx { now, score: &model };
            store::admin::change_line(conn, actor, target, change, &reason, None, &ctx)?;
            store::score::standing(conn, target, now)
        },
        move |standing: &Standing| {
            let view = AccountView::from_standing(target, standing, &view_state.settings.score, &view_state.money);
            crate::api::dto::json_of(&view)
        },
    )
    .await
}

async fn set_status(
    state: &AppState,
    req: &HttpRequest,
    admin: AdminUser,
    target: Uuid,
    status: UserStatus,
    body: &ReasonRequest,
) -> Result<HttpResponse, ApiError> {
    let reason = reason_of(&body.reason)?;
    not_self(&admin, target, if status == UserStatus::Frozen { "freeze" } else { "unfreeze" })?;
    let actor = admin.0.id;
    let model = state.settings.score.clone();
    let outcome = state
        .db
        .write(move |conn| {
            let ctx = Ctx { now: time::now(), score: &model };
            store::credit_requests::set_status_or_ask(conn, actor, target, status, &reason, &ctx)
        })
        .await
        .map_err(|e| store_error(e, &state.money))?;
    let user = match outcome.ok_or_else(|| ApiError::NotFound("no such user".into()))? {
        Asked::Pending(request) => return Ok(HttpResponse::Accepted().json(CreditRequestPending::of(&request))),
        Asked::Done(user) => user,
    };
    let event = if status == UserStatus::Frozen { "user_freeze" } else { "user_unfreeze" };
    let why = format!("by admin {actor}: {}", body.reason);
    crate::security::event(event, Some(user.username.as_str()), &state.client_address(req), &why);
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

/// Freeze a user: they can still log in and read, but no money moves.
#[utoipa::path(operation_id = "freezeUser", tag = "admin", path = "/v1/admin/users/{id}/freeze", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ReasonRequest, responses(
        (status = 200, description = "The user, frozen", body = UserView),
        (status = 202, description = "Four eyes: the user is a staff member, so the freeze is recorded as a request and waits for a second admin", body = CreditRequestPending),
        (status = 409, description = "`invalid_state`: a staff member already frozen (a request would change nothing)", body = crate::error::Problem, content_type = PROBLEM),
        (status = 403, description = "`forbidden`", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/users/{id}/freeze")]
pub async fn freeze(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminUser,
    id: web::Path<Uuid>,
    body: JsonBody<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    set_status(&state, &req, admin, id.into_inner(), UserStatus::Frozen, &body.value).await
}

/// Unfreeze a user.
#[utoipa::path(operation_id = "unfreezeUser", tag = "admin", path = "/v1/admin/users/{id}/unfreeze", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ReasonRequest, responses(
        (status = 200, description = "The user, active", body = UserView),
        (status = 202, description = "Four eyes: the user is a staff member, so the unfreeze is recorded as a request and waits for a second admin", body = CreditRequestPending),
        (status = 409, description = "`invalid_state`: a staff member already active (a request would change nothing)", body = crate::error::Problem, content_type = PROBLEM),
        (status = 403, description = "`forbidden`", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/users/{id}/unfreeze")]
pub async fn unfreeze(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminUser,
    id: web::Path<Uuid>,
    body: JsonBody<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    set_status(&state, &req, admin, id.into_inner(), UserStatus::Active, &body.value).await
}
