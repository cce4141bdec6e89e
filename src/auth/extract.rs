//! Who is calling: `AuthUser` for any valid access token, `AdminUser` for an admin whose
//! role the database confirms (so a demotion takes effect at once).

use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use uuid::Uuid;

use super::tokens::TokenSubject;
use crate::api::AppState;
use crate::domain::user::{Role, User, UserStatus};
use crate::error::ApiError;
use crate::store::{Backend, users};

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

/// The caller as the token names them and the database knows them now.
#[derive(Clone, Debug)]
struct Caller {
    subject: TokenSubject,
    user: User,
}

/// Verifies the token, then checks it against the user as stored now: a token of a user that
/// no longer exists, or of an older token version (log out everywhere, a password change, a
/// refresh token's reuse, an admin's freeze), is refused at once. One primary-key read.
async fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    if let Some(caller) = req.extensions().get::<Caller>() {
        return Ok(caller.clone());
    }
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::Internal("no app state".into()))?;
    let token = bearer(req).ok_or_else(|| ApiError::Unauthorized("a bearer access token is required".into()))?;
    let subject = state.tokens.verify_access(token).map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let id = subject.user_id;
    let found = state.db.read(move |conn| users::with_token_version(conn, id)).await?;
    let (user, version) = found.ok_or_else(|| ApiError::Unauthorized("the token's user no longer exists".into()))?;
    if version != subject.token_version {
        return Err(ApiError::Unauthorized("this session has ended; log in again".into()));
    }
    let caller = Caller { subject, user };
    req.extensions_mut().insert(caller.clone());
    Ok(caller)
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await.map(|c| AuthUser(c.subject)) })
    }
}

/// The caller of a money request: authenticated like [`AuthUser`] and counted against the
/// money request budget (429 past it). On PostgreSQL both checks are one statement, so a
/// money request costs one round trip before its money call (and the call is one more).
#[derive(Clone, Copy, Debug)]
pub struct MoneyCaller(pub AuthUser);

impl MoneyCaller {
    pub fn id(&self) -> Uuid {
        self.0.id()
    }
}

async fn money_caller(req: &HttpRequest) -> Result<MoneyCaller, ApiError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::Internal("no app state".into()))?;
    let (Some(budget), Backend::Postgres) = (state.requests, state.db.backend()) else {
        // SQLite (in-process statements are cheap), or no budget: one check after the other.
        let caller = authenticate(req).await?;
        crate::api::rate::check(state, caller.subject.user_id).await?;
        return Ok(MoneyCaller(AuthUser(caller.subject)));
    };
    let token = bearer(req).ok_or_else(|| ApiError::Unauthorized("a bearer access token is required".into()))?;
    let subject = state.tokens.verify_access(token).map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let (id, now) = (subject.user_id, crate::domain::time::now());
    let start = budget.window_start(now).naive_utc();
    let checked = state.db.statement(move |conn| crate::store::rate::version_and_count(conn, id, start)).await?;
    let (version, requests) =
        checked.ok_or_else(|| ApiError::Unauthorized("the token's user no longer exists".into()))?;
    if version != subject.token_version {
        return Err(ApiError::Unauthorized("this session has ended; log in again".into()));
    }
    if requests > budget.requests {
        return Err(ApiError::RateLimited { retry_after_secs: budget.retry_after_secs(now) });
    }
    Ok(MoneyCaller(AuthUser(subject)))
}

impl FromRequest for MoneyCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { money_caller(&req).await })
    }
}

#[derive(Clone, Debug)]
pub struct AdminUser(pub User);

/// Checks the token, then the role and status as stored now: a demoted or frozen admin has
/// no admin powers from that moment.
pub async fn authenticate_admin(req: &HttpRequest) -> Result<AdminUser, ApiError> {
    let caller = authenticate(req).await?;
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::Internal("no app state".into()))?;
    let address = state.client_address(req);
    let user = caller.user.username.to_string();
    if caller.user.role != Role::Admin {
        crate::security::event("admin_route_refused", Some(&user), &address, "not an admin");
        return Err(ApiError::Forbidden("this route is for administrators".into()));
    }
    if caller.user.status != UserStatus::Active {
        // A refused admin action keeps its audit entry too.
        crate::security::event("admin_route_refused", Some(&user), &address, "a frozen admin");
        let (actor, now) = (caller.user.id, crate::domain::time::now());
        let details = serde_json::json!({"method": req.method().as_str(), "path": req.path(), "outcome": "refused"});
        state
            .db
            .write(move |conn| {
                crate::store::admin::audit(conn, actor, "admin.refused", None, Some("frozen admin"), &details, now)
            })
            .await?;
        return Err(ApiError::Forbidden("a frozen admin has no admin powers".into()));
    }
    Ok(AdminUser(caller.user))
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate_admin(&req).await })
    }
}
