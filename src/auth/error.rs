//! Why logging in, refreshing or registering was refused, and how that answers over HTTP: the
//! conversion lives here, since `error` sits below `auth` and knows nothing of it.

use crate::credentials::password::PasswordError;
use crate::error::ApiError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("too many failed logins; retry in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("too many registrations from this network; retry in {retry_after_secs} s")]
    TooManyRegistrations { retry_after_secs: u64 },
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    Busy(String),
}

impl From<PasswordError> for AuthError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy => AuthError::Busy(e.to_string()),
            other => AuthError::Internal(other.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => ApiError::InvalidCredentials,
            AuthError::TooManyAttempts { retry_after_secs } => ApiError::TooManyAttempts { retry_after_secs },
            AuthError::TooManyRegistrations { retry_after_secs } => ApiError::TooManyRegistrations { retry_after_secs },
            AuthError::InvalidRefreshToken => ApiError::Unauthorized(e.to_string()),
            AuthError::Store(store) => store.into(),
            AuthError::Internal(why) => ApiError::Internal(why),
            AuthError::Busy(why) => ApiError::ServiceUnavailable(why),
        }
    }
}
