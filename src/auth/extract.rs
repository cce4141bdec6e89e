//! Who is calling: `AuthUser` for any valid access token, `AdminUser` for an active staff
//! member whose role the database confirms (so a demotion takes effect at once). Which
//! staff role may do what is `domain::staff::allows`, asked by the admin scope's guard.

use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use uuid::Uuid;

use crate::credentials::tokens::TokenSubject;
use crate::domain::staff::{self, Action};
use crate::domain::user::{User, UserStatus};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::gate::{self, Budget, Gate};
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

/// The caller of a money request: the access token is verified here (no database), and
/// the rest of the check (the token's version is still the user's, one more request in
/// the budget) is a `Gate` that the store runs inside the money call itself, so a money
/// request on PostgreSQL is one round trip. The gate cannot be dropped unnoticed: the
/// caller's id comes only with it (`deferred`) or after it ran (`checked`).
#[derive(Debug)]
pub struct MoneyCaller {
    subject: TokenSubject,
    gate: Gate,
}

impl MoneyCaller {
    /// The caller and the gate the store call must run (`ledger::Call::gate`).
    pub fn deferred(self) -> (Uuid, Gate) {
        (self.subject.user_id, self.gate)
    }

    /// Runs the gate now, as a statement of its own, for a store call that takes none.
    pub async fn checked(self, state: &AppState) -> Result<Uuid, ApiError> {
        let (user_id, gate) = self.deferred();
        match state.db.backend() {
            Backend::Postgres => state.db.statement(move |conn| gate::check(conn, user_id, &gate)).await?,
            Backend::Sqlite => state.db.write(move |conn| gate::check(conn, user_id, &gate)).await?,
        }
        Ok(user_id)
    }
}

fn money_caller(req: &HttpRequest) -> Result<MoneyCaller, ApiError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::Internal("no app state".into()))?;
    let token = bearer(req).ok_or_else(|| ApiError::Unauthorized("a bearer access token is required".into()))?;
    let subject = state.tokens.verify_access(token).map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let now = crate::domain::time::now();
    let budget = state.requests.map(|b| Budget {
        window_start: b.window_start(now).naive_utc(),
        requests_max: b.requests,
        retry_after_secs: b.retry_after_secs(now),
    });
    Ok(MoneyCaller { gate: Gate { token_version: Some(subject.token_version), budget }, subject })
}

impl FromRequest for MoneyCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = money_caller(req);
        Box::pin(async move { caller })
    }
}

/// An active staff member (any staff role; the name predates the roles).
#[derive(Clone, Debug)]
pub struct AdminUser(pub User);

impl AdminUser {
    /// Refuses an action the staff member's role does not allow, as 403 `forbidden`.
    pub fn may(&self, action: Action) -> Result<(), ApiError> {
        if staff::allows(self.0.role, action) {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "the {} role cannot {}",
            self.0.role.as_str(),
            action.as_str().replace('_', " ")
        )))
    }
}

/// Checks the token, then the role and status as stored now: a demoted or frozen staff
/// member has no staff powers from that moment.
pub async fn authenticate_admin(req: &HttpRequest) -> Result<AdminUser, ApiError> {
    let caller = authenticate(req).await?;
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::Internal("no app state".into()))?;
    let address = state.client_address(req);
    let user = caller.user.username.to_string();
    if !caller.user.role.is_staff() {
        crate::security::event("admin_route_refused", Some(&user), &address, "not staff");
        return Err(ApiError::Forbidden("this route is for staff".into()));
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
