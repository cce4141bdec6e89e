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
    /// Group commit on PostgreSQL: the batch did not run the operation (a row it needed was
    /// held by another transaction, or the batch failed), so nothing of it was written; the
    /// request runs again by itself, on its user's turn (`money::apply`). `gate_counted`:
    /// whether its gate already counted it against the budget.
    #[error("the operation is to run alone")]
    RunAlone { gate_counted: bool },
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
            // A server going away under a failover: the statement reached a node that is
            // shutting down, still starting, or read-only (a demoted primary). 503 with
            // Retry-After, never retried here: if the outcome is unknown, only the client's
            // retry with the same Idempotency-Key may repeat it (docs/SCALING.md).
            DieselError::DatabaseError(kind, info) if is_failover_error(&kind, info.message()) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            other => StoreError::Db(other),
        }
    }
}

/// PostgreSQL's messages for SQLSTATE 57P01 (admin_shutdown), 57P02 (crash_shutdown), 57P03
/// (cannot_connect_now) and libpq's own for a lost server; and 25006 (read_only_sql_transaction).
fn is_failover_error(kind: &DatabaseErrorKind, message: &str) -> bool {
    matches!(kind, DatabaseErrorKind::ReadOnlyTransaction)
        || [
            "terminating connection due to administrator command",
            "terminating connection because of crash of another server process",
            "the database system is shutting down",
            "the database system is starting up",
            "the database system is in recovery mode",
            "server closed the connection unexpectedly",
            "no connection to the server",
            "could not receive data from server",
            "could not send data to server",
        ]
        .iter()
        .any(|m| message.contains(m))
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

/// The code and DETAIL of a refusal raised by a PostgreSQL function of the store (`src/store/sql/`) (`vaultline:<code>`).
pub(crate) fn raised(error: &DieselError) -> Option<(&str, &str)> {
    let DieselError::DatabaseError(_, info) = error else { return None };
    let code = info.message().strip_prefix("vaultline:")?;
    Some((code, info.details().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_lost_in_a_failover_is_unavailable_not_internal() {
        let lost = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("terminating connection due to administrator command".to_owned()),
        );
        assert!(matches!(StoreError::from(lost), StoreError::Unavailable(_)));
        let read_only = DieselError::DatabaseError(
            DatabaseErrorKind::ReadOnlyTransaction,
            Box::new("cannot execute UPDATE in a read-only transaction".to_owned()),
        );
        let read_only = StoreError::from(read_only);
        assert!(matches!(read_only, StoreError::Unavailable(_)) && !read_only.is_retryable());
        let other = DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new("division by zero".to_owned()));
        assert!(matches!(StoreError::from(other), StoreError::Db(_)));
    }
}
