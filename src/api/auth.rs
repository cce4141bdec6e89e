//! Registration and sessions.

use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::dto::UserView;
use super::json::JsonBody;
use crate::domain::user::{DisplayName, Password, Role, Username};
use crate::error::ApiError;
use crate::store::{self, StoreError};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3..=32 characters of `[a-z0-9_]`.
    #[schema(example = "ann_lee")]
    username: String,
    /// 10..=128 characters.
    #[schema(example = "correct horse battery")]
    password: String,
    /// Optional, trimmed, at most 64 characters; defaults to the username.
    display_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RegisterResponse {
    user: UserView,
}

/// Create an account (role `user`, secured credit line).
#[utoipa::path(tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, body = RegisterResponse),
    (status = 409, description = "`username_taken`", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, description = "`validation_error`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/v1/auth/register")]
pub async fn register(state: web::Data<AppState>, body: JsonBody<RegisterRequest>) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let username = Username::parse(&body.username).map_err(ApiError::Validation)?;
    let password = Password::parse(&body.password).map_err(ApiError::Validation)?;
    let display_name = body
        .display_name
        .as_deref()
        .map(DisplayName::parse)
        .transpose()
        .map_err(ApiError::Validation)?;

    let hash = state
        .passwords
        .hash(password)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = crate::domain::time::now();
    let user = state
        .db
        .write(move |conn| {
            let new = store::users::NewUser {
                username: &username,
                display_name: display_name.as_ref(),
                password_hash: &hash,
                role: Role::User,
            };
            store::users::insert(conn, &new, now)
        })
        .await
        .map_err(|e| match e {
            StoreError::UniqueViolation(_) => ApiError::UsernameTaken,
            other => other.into(),
        })?;
    Ok(HttpResponse::Created().json(RegisterResponse {
        user: UserView::from(&user),
    }))
}
