//! The caller's sessions: log out everywhere, change the password. Both end every session
//! of the caller at once, access tokens included (the token version rises).

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::json::JsonBody;
use crate::auth::extract::AuthUser;
use crate::auth::session::{self, PasswordChangeError};
use crate::error::ApiError;

const PROBLEM: &str = "application/problem+json";

/// End every session of the caller: every refresh family, and every access token issued
/// before now (this one included).
#[utoipa::path(operation_id = "logoutAll", tag = "auth", security(("bearer" = [])), responses(
    (status = 204, description = "Every session ended"),
))]
#[post("/v1/auth/logout-all")]
pub async fn logout_all(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    session::logout_all(&state, caller.id(), &state.client_address(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    /// 10 to 128 characters; not containing the username; not a commonly breached password.
    new_password: String,
}

/// Change the password: the current one is checked (and throttled like a login), then every
/// session ends, this one included.
#[utoipa::path(operation_id = "changePassword", tag = "me", security(("bearer" = [])), request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; every session ended"),
        (status = 401, description = "`invalid_credentials`: the current password is wrong", body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, description = "`validation_error`: the new password is too short or long, contains the username, or is a commonly breached one", body = crate::error::Problem, content_type = PROBLEM),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`: counted like a login (the (username, address) pair backing off, its queue full, or the account's attempts paced)", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/v1/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: AuthUser,
    body: JsonBody<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let address = state.client_address(&req);
    session::change_password(&state, caller.id(), &body.current_password, &body.new_password, &address).await.map_err(
        |e| match e {
            PasswordChangeError::Auth(auth) => ApiError::from(auth),
            PasswordChangeError::Weak(why) => ApiError::Validation(why),
        },
    )?;
    Ok(HttpResponse::NoContent().insert_header(super::auth::no_store()).finish())
}
