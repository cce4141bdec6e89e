//! Logging in, rotating and revoking sessions: the rules around the token store.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::error::AuthError;
use super::throttle;
use crate::credentials::password_rules;
use crate::credentials::tokens::{self, TokenService};
use crate::domain::user::{Password, Username};
use crate::state::AppState;
use crate::store::sessions::{self, NewRefreshToken, RefreshRules, Rotation};
use crate::store::users;

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
    token_version: i64,
    refresh: String,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, AuthError> {
    let access_token =
        tokens.issue_access(user_id, role, token_version, now).map_err(|e| AuthError::Internal(e.to_string()))?;
    Ok(IssuedTokens { access_token, refresh_token: refresh, expires_in: tokens.access_ttl_secs() })
}

pub async fn login(state: &AppState, username: &str, password: &str, address: &str) -> Result<IssuedTokens, AuthError> {
    let now = crate::domain::time::now();
    let user = check_password(state, username, password, address).await?;

    let refresh = tokens::new_refresh_token();
    let token_hash = tokens::refresh_token_hash(&refresh);
    let expires_at = state.tokens.refresh_expiry(now);
    let user_id = user.id;
    let version = state
        .db
        .write(move |conn| {
            let family_id = Uuid::now_v7();
            let new =
                NewRefreshToken { user_id, family_id, token_hash: &token_hash, expires_at, family_started_at: now };
            sessions::insert(conn, &new, now)?;
            Ok(users::with_token_version(conn, user_id)?.map_or(0, |(_, v)| v))
        })
        .await?;
    issue(&state.tokens, user.id, user.role, version, refresh, now)
}

/// The user whose password this is, under the login throttle (the API's login and the
/// console's sign-in share it: one budget of guesses per account and address). A wrong
/// password and an unknown user answer alike.
pub async fn check_password(
    state: &AppState,
    username: &str,
    password: &str,
    address: &str,
) -> Result<crate::domain::user::User, AuthError> {
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
    Ok(user)
}

fn refresh_rules(auth: &crate::config::AuthSettings) -> RefreshRules {
    let secs = |s: u64| TimeDelta::seconds(i64::try_from(s).unwrap_or(i64::MAX));
    RefreshRules {
        token_ttl: secs(auth.refresh_token_ttl_secs),
        family_lifetime: secs(auth.refresh_family_lifetime_secs),
        retry_grace: secs(auth.refresh_retry_grace_secs),
    }
}

/// Rotates a refresh token. Its successor is derived from it, so a retry within the grace
/// window answers the same new refresh token (with a fresh access token).
pub async fn refresh(state: &AppState, presented: &str, address: &str) -> Result<IssuedTokens, AuthError> {
    let now = crate::domain::time::now();
    let old_hash = tokens::refresh_token_hash(presented);
    let successor = state.tokens.successor_refresh_token(presented);
    let new_hash = tokens::refresh_token_hash(&successor);
    let rules = refresh_rules(&state.settings.auth);
    let rotation = state
        .db
        .write(move |conn| {
            let rotation = sessions::rotate(conn, &old_hash, &new_hash, now, rules)?;
            let version = match &rotation {
                Rotation::Rotated { user, .. } => users::with_token_version(conn, user.id)?.map_or(0, |(_, v)| v),
                _ => 0,
            };
            Ok((rotation, version))
        })
        .await?;
    match rotation {
        (Rotation::Rotated { user, .. }, version) => issue(&state.tokens, user.id, user.role, version, successor, now),
        (Rotation::Reused { user_id }, _) => {
            let reason = "a spent refresh token was presented again; its family is revoked and access tokens end";
            crate::security::event("refresh_reuse", Some(&user_id.to_string()), address, reason);
            Err(AuthError::InvalidRefreshToken)
        }
        (Rotation::Invalid, _) => Err(AuthError::InvalidRefreshToken),
    }
}

/// Ends every session of the user at once (log out everywhere).
pub async fn logout_all(state: &AppState, user_id: Uuid, address: &str) -> Result<(), AuthError> {
    let now = crate::domain::time::now();
    state.db.write(move |conn| sessions::end_sessions(conn, user_id, now)).await?;
    crate::security::event("logout_all", Some(&user_id.to_string()), address, "every session ended by the user");
    Ok(())
}

/// Why a password change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    Weak(String),
}

/// Changes the password after checking the current one (counted like a login attempt from
/// this address, so it cannot be used to guess), then ends every session.
pub async fn change_password(
    state: &AppState,
    user_id: Uuid,
    current: &str,
    new: &str,
    address: &str,
) -> Result<(), PasswordChangeError> {
    let now = crate::domain::time::now();
    let found = state.db.read(move |conn| users::password_hash(conn, user_id)).await.map_err(AuthError::from)?;
    let Some((user, stored)) = found else { return Err(AuthError::InvalidCredentials.into()) };
    let new = password_rules::check(new, user.username.as_str()).map_err(PasswordChangeError::Weak)?;
    let name = user.username.to_string();
    let admitted = throttle::admit_login(state, Some(&name), address, now).await?;
    let candidate = if Password::parse(current).is_ok() { current.to_owned() } else { String::new() };
    if !state.passwords.verify(candidate, Some(stored)).await.map_err(AuthError::from)? {
        crate::security::event("password_change_failed", Some(&name), address, "wrong current password");
        throttle::failed(state, admitted, &name, address).await?;
        return Err(AuthError::InvalidCredentials.into());
    }
    throttle::succeeded(state, admitted).await?;
    let hash = state.passwords.hash(new).await.map_err(AuthError::from)?;
    state
        .db
        .write(move |conn| {
            users::set_password_hash(conn, user_id, &hash)?;
            sessions::end_sessions(conn, user_id, now)
        })
        .await
        .map_err(AuthError::from)?;
    crate::security::event("password_changed", Some(&name), address, "every session ended");
    Ok(())
}

/// Revokes the token's whole family. Unknown tokens are not an error: logging out twice is fine.
pub async fn logout(state: &AppState, presented: &str) -> Result<(), AuthError> {
    let now = crate::domain::time::now();
    let hash = tokens::refresh_token_hash(presented);
    state.db.write(move |conn| sessions::revoke_family_of(conn, &hash, now)).await?;
    Ok(())
}
