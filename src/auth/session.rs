//! Logging in, rotating and revoking sessions: the rules around the token store.

use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::tokens::{self, TokenService};
use crate::api::AppState;
use crate::domain::user::{Password, Username};
use crate::store::sessions::{self, NewRefreshToken, Rotation};
use crate::store::{StoreError, throttle, users};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("too many failed logins; retry in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    Busy(String),
}

impl From<super::password::PasswordError> for AuthError {
    fn from(e: super::password::PasswordError) -> Self {
        match e {
            super::password::PasswordError::Busy => AuthError::Busy(e.to_string()),
            other => AuthError::Internal(other.to_string()),
        }
    }
}

/// A fresh access token and refresh token.
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

fn issue(
    tokens: &TokenService,
    user_id: Uuid,
    role: crate::domain::user::Role,
    refresh: String,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, AuthError> {
    let access_token = tokens.issue_access(user_id, role, now).map_err(|e| AuthError::Internal(e.to_string()))?;
    Ok(IssuedTokens { access_token, refresh_token: refresh, expires_in: tokens.access_ttl_secs() })
}

fn user_key(username: &Username) -> String {
    format!("user:{username}")
}

fn address_key(addr: Option<IpAddr>) -> String {
    addr.map_or_else(|| "addr:unknown".to_owned(), |a| format!("addr:{a}"))
}

/// One throttle a login attempt is checked against.
#[derive(Clone)]
struct Throttle {
    key: String,
    limit: u32,
    /// Count the attempt before checking (burst-proof), rather than only once it failed.
    reserve: bool,
}

/// Checks every throttle. Reserving throttles record the attempt first and then count,
/// so a burst of parallel guesses at one username cannot all slip under the limit before
/// any is recorded; the others count failures only, so many users behind one address can
/// log in at once. Answers the ids of the reserved rows.
async fn admit(state: &AppState, throttles: Vec<Throttle>, now: DateTime<Utc>) -> Result<Vec<Uuid>, AuthError> {
    let window = TimeDelta::seconds(i64::try_from(state.settings.auth.login_window_secs).unwrap_or(900));
    let reserved: Vec<String> = throttles.iter().filter(|t| t.reserve).map(|t| t.key.clone()).collect();
    let ids: Vec<Uuid> =
        state.db.write(move |conn| reserved.iter().map(|k| throttle::record(conn, k, now)).collect()).await?;
    let checked = throttles.clone();
    let counts = state
        .db
        .read(move |conn| {
            checked.iter().map(|t| throttle::count_since(conn, &t.key, now - window)).collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let mut retry_after: Option<i64> = None;
    for (t, (count, oldest)) in throttles.iter().zip(counts) {
        let over = if t.reserve { count > i64::from(t.limit) } else { count >= i64::from(t.limit) };
        if over {
            let until = oldest.unwrap_or(now) + window;
            let wait = (until - now).num_seconds() + 1;
            retry_after = Some(retry_after.map_or(wait, |w| w.max(wait)));
        }
    }
    if let Some(wait) = retry_after {
        let refused = ids.clone();
        state.db.write(move |conn| throttle::remove(conn, &refused)).await?;
        return Err(AuthError::TooManyAttempts { retry_after_secs: u64::try_from(wait.max(1)).unwrap_or(1) });
    }
    Ok(ids)
}

pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
    addr: Option<IpAddr>,
) -> Result<IssuedTokens, AuthError> {
    let now = crate::domain::time::now();
    let auth = &state.settings.auth;
    // A name that cannot exist is still throttled by address and answered like a wrong password.
    let valid_name = Username::parse(username).ok();
    let address = address_key(addr);
    let mut throttles =
        vec![Throttle { key: address.clone(), limit: auth.login_max_failures_per_address, reserve: false }];
    if let Some(name) = &valid_name {
        throttles.push(Throttle { key: user_key(name), limit: auth.login_max_failures, reserve: true });
    }
    let attempt_ids = admit(state, throttles, now).await?;

    let found = match &valid_name {
        Some(name) => {
            let name = name.to_string();
            state.db.read(move |conn| users::credentials(conn, &name)).await?
        }
        None => None,
    };
    let (user, stored_hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    // Too-long candidates can match nothing; they are still hashed against the dummy
    // so the answer takes as long.
    let candidate = if Password::parse(password).is_ok() { password.to_owned() } else { String::new() };
    let matched = state.passwords.verify(candidate, stored_hash).await.map_err(AuthError::from)?;
    let (Some(user), true) = (user, matched) else {
        state.db.write(move |conn| throttle::record(conn, &address, now)).await?;
        return Err(AuthError::InvalidCredentials);
    };

    let refresh = tokens::new_refresh_token();
    let token_hash = tokens::refresh_token_hash(&refresh);
    let expires_at = state.tokens.refresh_expiry(now);
    let name_key = user_key(&user.username);
    let user_id = user.id;
    state
        .db
        .write(move |conn| {
            throttle::clear(conn, &name_key)?;
            throttle::remove(conn, &attempt_ids)?;
            let new = NewRefreshToken { user_id, family_id: Uuid::now_v7(), token_hash: &token_hash, expires_at };
            sessions::insert(conn, &new, now)
        })
        .await?;
    issue(&state.tokens, user.id, user.role, refresh, now)
}

pub async fn refresh(state: &AppState, presented: &str) -> Result<IssuedTokens, AuthError> {
    let now = crate::domain::time::now();
    let old_hash = tokens::refresh_token_hash(presented);
    let refresh = tokens::new_refresh_token();
    let new_hash = tokens::refresh_token_hash(&refresh);
    let expires_at = state.tokens.refresh_expiry(now);
    let rotation = state.db.write(move |conn| sessions::rotate(conn, &old_hash, &new_hash, now, expires_at)).await?;
    match rotation {
        Rotation::Rotated { user } => issue(&state.tokens, user.id, user.role, refresh, now),
        Rotation::Reused => {
            tracing::warn!("a spent refresh token was presented again; its family is revoked");
            Err(AuthError::InvalidRefreshToken)
        }
        Rotation::Invalid => Err(AuthError::InvalidRefreshToken),
    }
}

/// Revokes the token's whole family. Unknown tokens are not an error: logging out twice is fine.
pub async fn logout(state: &AppState, presented: &str) -> Result<(), AuthError> {
    let now = crate::domain::time::now();
    let hash = tokens::refresh_token_hash(presented);
    state.db.write(move |conn| sessions::revoke_family_of(conn, &hash, now)).await?;
    Ok(())
}
