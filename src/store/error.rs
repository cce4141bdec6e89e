use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Everything the store can answer besides success. Rule outcomes that a single
/// conditional statement decides (e.g. not enough money) come back as `Rule`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had, or the connection died: the caller may retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    #[error("database error: {0}")]
    Db(DieselError),
    /// A money rule said no (not enough funds, frozen account, ...): nothing was written.
    #[error("refused: {0}")]
    Refused(crate::domain::account::Refusal),
    /// Another transaction committed what this one was about to write; try it again whole.
    #[error("contended: {0}")]
    Contended(&'static str),
    /// A stored row breaks an invariant the code relies on.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("the blocking task was cancelled")]
    Cancelled,
    /// The gate: the access token's version is no longer the user's (or the user is gone).
    #[error("the session has ended")]
    SessionEnded,
    /// The gate: the request is past the user's money request budget.
    #[error("over the request budget")]
    OverBudget { retry_after_secs: u64 },
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::UniqueViolation(info.constraint_name().unwrap_or(info.message()).to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            other => StoreError::Db(other),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl StoreError {
    /// Failures that a fresh attempt of the whole transaction can cure.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Contended(_) => true,
            StoreError::Db(DieselError::DatabaseError(kind, info)) => {
                let message = info.message();
                matches!(kind, DatabaseErrorKind::SerializationFailure)
                    || message.contains("deadlock detected")
                    || message.contains("database is locked")
                    || message.contains("database table is locked")
                    || message.contains("database is busy")
            }
            _ => false,
        }
    }
}
