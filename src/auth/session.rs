//! Logging in, rotating and revoking sessions: the rules around the token store.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::throttle;
use super::tokens::{self, TokenService};
use crate::api::AppState;
use crate::domain::user::{Password, Username};
use crate::store::sessions::{self, NewRefreshToken, Rotation};
use crate::store::{StoreError, users};

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

pub async fn login(state: &AppState, username: &str, password: &str, address: &str) -> Result<IssuedTokens, AuthError> {
    let now = crate::domain::time::now();
    // A name that cannot exist is answered like a wrong password (and still costs a hash).
    let valid_name = Username::parse(username).ok();
    let name = valid_name.as_ref().map(ToString::to_string);
    let admitted = throttle::admit_login(state, name.as_deref(), address, now).await?;

    let found = match &name {
        Some(name) => {
            let name = name.clone();
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
        let shown = name.as_deref().unwrap_or("(invalid username)");
        crate::security::event("login_failed", Some(shown), address, "wrong password or unknown user");
        throttle::failed(state, admitted, name.as_deref().unwrap_or("?"), address).await?;
        return Err(AuthError::InvalidCredentials);
    };
    throttle::succeeded(state, admitted).await?;

    let refresh = tokens::new_refresh_token();
    let token_hash = tokens::refresh_token_hash(&refresh);
    let expires_at = state.tokens.refresh_expiry(now);
    let user_id = user.id;
    state
        .db
        .write(move |conn| {
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
