//! The caller's own records.

use actix_web::{HttpResponse, get, web};

use super::AppState;
use super::dto::UserView;
use crate::auth::extract::AuthUser;
use crate::error::ApiError;
use crate::store::users;

/// The caller's user record.
#[utoipa::path(operation_id = "getMe", tag = "me", security(("bearer" = [])), responses(
    (status = 200, description = "The caller", body = UserView),
    (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/v1/me")]
pub async fn me(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    let id = caller.id();
    let user = state.db.read(move |conn| users::by_id(conn, id)).await?;
    let user = user.ok_or_else(|| ApiError::Unauthorized("the token's user no longer exists".into()))?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}
