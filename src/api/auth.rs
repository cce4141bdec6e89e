//! Registration and sessions.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::dto::UserView;
use super::json::JsonBody;
use crate::auth::error::AuthError;
use crate::auth::session::{self, IssuedTokens};
use crate::domain::user::{DisplayName, Role, Username};
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
#[utoipa::path(operation_id = "register", tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, description = "Registered", body = RegisterResponse),
    (status = 409, description = "`username_taken`", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 429, description = "`too_many_attempts`: too many registrations from this address or its network (IPv4 /24, IPv6 /48) in the last hour, with `Retry-After`; registrations from everywhere only ever slow down, never refused", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, description = "`validation_error`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/v1/auth/register")]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let username = Username::parse(&body.username).map_err(ApiError::Validation)?;
    let password =
        crate::credentials::password_rules::check(&body.password, username.as_str()).map_err(ApiError::Validation)?;
    let display_name =
        body.display_name.as_deref().map(DisplayName::parse).transpose().map_err(ApiError::Validation)?;
    // Counted before the password is hashed: a flood of registrations cannot starve logins.
    crate::auth::registration_throttle::admit_registration(&state, &state.client_address(&req)).await?;

    let hash = state.passwords.hash(password).await.map_err(|e| ApiError::from(AuthError::from(e)))?;
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
    Ok(HttpResponse::Created().json(RegisterResponse { user: UserView::from(&user) }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct Tokens {
    access_token: String,
    refresh_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
}

impl From<IssuedTokens> for Tokens {
    fn from(t: IssuedTokens) -> Self {
        Self {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
        }
    }
}

/// Exchange a username and password for tokens.
#[utoipa::path(operation_id = "login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, description = "A new token pair", body = Tokens),
    (status = 401, description = "`invalid_credentials`, the same for an unknown user and a wrong password", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 429, description = "`too_many_attempts`, with `Retry-After`: this (username, address) pair is backing off after its failures, its queue is full, or the account's attempts are paced and its next slot is too far; never because of other usernames' failures", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/v1/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let address = state.client_address(&req);
    let tokens = session::login(&state, &body.username, &body.password, &address).await?;
    Ok(HttpResponse::Ok().insert_header(no_store()).json(Tokens::from(tokens)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Rotate a refresh token: the presented one is spent and a new pair issued. Presenting
/// a spent token again revokes its whole family.
#[utoipa::path(operation_id = "refreshTokens", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, description = "A new token pair", body = Tokens),
    (status = 401, description = "`unauthorized`: unknown, expired, revoked or reused token", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/v1/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let address = state.client_address(&req);
    let tokens = session::refresh(&state, &body.into_inner().refresh_token, &address).await?;
    Ok(HttpResponse::Ok().insert_header(no_store()).json(Tokens::from(tokens)))
}

/// Revoke the refresh token's family (this device's session).
#[utoipa::path(operation_id = "logout", tag = "auth", request_body = RefreshRequest, responses((status = 204, description = "Logged out")))]
#[post("/v1/auth/logout")]
pub async fn logout(state: web::Data<AppState>, body: JsonBody<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    session::logout(&state, &body.into_inner().refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Token responses must not be cached by anything in between.
pub(super) fn no_store() -> (actix_web::http::header::HeaderName, &'static str) {
    (actix_web::http::header::CACHE_CONTROL, "no-store")
}
