//! Who is calling: `AuthUser` for any valid access token, `AdminUser` for an admin whose
//! role the database confirms (so a demotion takes effect at once).

use std::future::{Ready, ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use uuid::Uuid;

use super::tokens::TokenSubject;
use crate::api::AppState;
use crate::domain::user::{Role, User};
use crate::error::ApiError;
use crate::store::users;

#[derive(Clone, Copy, Debug)]
pub struct AuthUser(pub TokenSubject);

impl AuthUser {
    pub fn id(&self) -> Uuid {
        self.0.user_id
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::Internal("no app state".into()))?;
    let token = bearer(req).ok_or_else(|| ApiError::Unauthorized("a bearer access token is required".into()))?;
    state.tokens.verify_access(token).map(AuthUser).map_err(|e| ApiError::Unauthorized(e.to_string()))
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

#[derive(Clone, Debug)]
pub struct AdminUser(pub User);

/// Checks the token, then the role as stored now.
pub async fn authenticate_admin(req: &HttpRequest) -> Result<AdminUser, ApiError> {
    if let Some(admin) = req.extensions().get::<AdminUser>() {
        return Ok(admin.clone());
    }
    let caller = authenticate(req)?;
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::Internal("no app state".into()))?;
    let id = caller.id();
    let user = state.db.read(move |conn| users::by_id(conn, id)).await?;
    let user = user.ok_or_else(|| ApiError::Unauthorized("the token's user no longer exists".into()))?;
    if user.role != Role::Admin {
        return Err(ApiError::Forbidden("this route is for administrators".into()));
    }
    let admin = AdminUser(user);
    req.extensions_mut().insert(admin.clone());
    Ok(admin)
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate_admin(&req).await })
    }
}
