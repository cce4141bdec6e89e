use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::AppState;
use crate::api::dto::UserView;
use crate::api::page::{Page, PageQuery};
use crate::auth::extract::AdminUser;
use crate::error::ApiError;
use crate::store::users;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Part of a username (case-insensitive).
    q: Option<String>,
}

/// Users whose username contains `q`, newest first.
#[utoipa::path(tag = "admin", path = "/v1/admin/users", security(("bearer" = [])), params(UserSearch, PageQuery), responses(
    (status = 200, description = "A page of users", body = inline(Page<UserView>)),
    (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`: not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/users")]
pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminUser,
    search: web::Query<UserSearch>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse()?;
    let q = search.into_inner().q.unwrap_or_default().to_lowercase();
    if q.chars().count() > 64 {
        return Err(ApiError::BadRequest("q must be at most 64 characters".into()));
    }
    let limit = page.limit;
    let rows = state.db.read(move |conn| users::search(conn, &q, page.after.as_deref(), limit + 1)).await?;
    let views: Vec<UserView> = rows.iter().map(UserView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |u| u.id.clone())))
}
