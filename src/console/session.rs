//! Console sessions: a random token in a cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
//! and `__Host-` named behind TLS), the session itself in the database (only the token's
//! SHA-256), ended after `console.idle_timeout_secs` idle or `absolute_timeout_secs` in all.
//! Every state-changing form carries the session's CSRF token.

use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use super::error::ConsoleError;
use crate::config::ConsoleSettings;
use crate::domain::staff::{self, Action};
use crate::domain::user::{User, UserStatus};
use crate::state::AppState;
use crate::store::console::{self as store, ConsoleSession};

/// 32 random bytes, URL-safe Base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The cookie's name: `__Host-` (the browser then insists on Secure, Path=/ and no Domain,
/// so no sibling subdomain can plant or read it) whenever the service is behind TLS.
pub fn cookie_name(settings: &ConsoleSettings) -> &'static str {
    if settings.secure_cookies { "__Host-vaultline_console" } else { "vaultline_console" }
}

pub fn session_cookie(settings: &ConsoleSettings, token: String) -> Cookie<'static> {
    Cookie::build(cookie_name(settings), token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(settings.secure_cookies)
        .finish()
}

/// The cookie that removes the session cookie from the browser.
pub fn removal_cookie(settings: &ConsoleSettings) -> Cookie<'static> {
    let mut cookie = session_cookie(settings, String::new());
    cookie.make_removal();
    cookie
}

/// A signed-in staff member and their session.
#[derive(Clone, Debug)]
pub struct Signed {
    pub user: User,
    pub session: ConsoleSession,
}

impl Signed {
    /// Refuses a form whose CSRF token is missing or not this session's (compared in
    /// constant time).
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), ConsoleError> {
        let expected = self.session.csrf_token.as_bytes();
        let sent = sent.unwrap_or_default().as_bytes();
        let same = sent.len() == expected.len() && sent.iter().zip(expected).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0;
        if same {
            return Ok(());
        }
        crate::security::event(
            "console_csrf_refused",
            Some(self.user.username.as_str()),
            "-",
            "missing or wrong token",
        );
        Err(ConsoleError::Forbidden("this form has expired or was not sent by the console; reload the page".into()))
    }

    pub fn may(&self, action: Action) -> bool {
        staff::allows(self.user.role, action)
    }

    /// Refuses an action the staff member's role does not allow (the API's role table).
    pub fn require(&self, action: Action) -> Result<(), ConsoleError> {
        if self.may(action) {
            return Ok(());
        }
        let what = action.as_str().replace('_', " ");
        Err(ConsoleError::Forbidden(format!("the {} role cannot {what}", self.user.role.as_str())))
    }
}

/// Why a stored session no longer counts, if it does not.
fn expired(settings: &ConsoleSettings, session: &ConsoleSession, now: DateTime<Utc>) -> Option<&'static str> {
    if now - session.last_seen_at > TimeDelta::seconds(settings.idle_timeout_secs) {
        return Some("idle");
    }
    if now - session.created_at > TimeDelta::seconds(settings.absolute_timeout_secs) {
        return Some("expired");
    }
    None
}

/// The session the request's cookie names, if it is alive and its owner still staff and
/// active; a dead one is deleted and answered with the sign-in page. `second_factor`:
/// the session must also have passed TOTP (every page but the TOTP pages themselves).
pub async fn load(req: &HttpRequest, second_factor: bool) -> Result<Signed, ConsoleError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ConsoleError::Internal("no app state".into()))?;
    let settings = &state.settings.console;
    let token = req.cookie(cookie_name(settings)).map(|c| c.value().to_owned()).unwrap_or_default();
    if token.is_empty() {
        return Err(ConsoleError::sign_in("signed_out"));
    }
    let hash = token_hash(&token);
    let lookup = hash.clone();
    let found = state.db.read(move |conn| store::session(conn, &lookup)).await?;
    let Some((session, user)) = found else { return Err(ConsoleError::sign_in("signed_out")) };
    let now = crate::domain::time::now();
    let why = expired(settings, &session, now)
        .or_else(|| (!user.role.is_staff() || user.status != UserStatus::Active).then_some("no_access"));
    if let Some(why) = why {
        state.db.write(move |conn| store::end_session(conn, &hash)).await?;
        return Err(ConsoleError::sign_in(why));
    }
    if second_factor && !session.second_factor {
        return Err(ConsoleError::Redirect("/console/2fa".into()));
    }
    state.db.write(move |conn| store::touch(conn, &hash, now)).await?;
    Ok(Signed { user, session })
}

/// A staff member signed in with every factor the console asks for.
pub struct Staff(pub Signed);

impl FromRequest for Staff {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { load(&req, true).await.map(Staff) })
    }
}

/// A signed-in session that may still owe its second factor (the TOTP pages).
pub struct HalfSigned(pub Signed);

impl FromRequest for HalfSigned {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { load(&req, false).await.map(HalfSigned) })
    }
}
