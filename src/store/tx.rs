//! The one way to write: a transaction of the right kind for the backend, retried whole
//! on serialization failure, deadlock or a busy SQLite database.

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, TransactionManager};

use super::{DbConn, StoreError};

/// PostgreSQL runs READ COMMITTED: every money rule is one conditional statement that
/// re-checks its WHERE on the newest row version, and rows are touched in a fixed order.
/// SQLite takes the write lock up front (IMMEDIATE) so two writers never deadlock on the
/// read-to-write upgrade.
fn begin(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN ISOLATION LEVEL READ COMMITTED"),
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
    }
}

fn attempt<T, F>(conn: &mut DbConn, f: &mut F) -> Result<T, StoreError>
where
    F: FnMut(&mut DbConn) -> Result<T, StoreError>,
{
    begin(conn)?;
    match f(conn) {
        Ok(value) => {
            // On failure diesel rolls back by itself before returning the error.
            <DbConn as diesel::Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            <DbConn as diesel::Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(error)
        }
    }
}

/// Runs `f` inside one transaction, retrying the whole closure up to `max_retries` times.
pub fn transaction<T, F>(conn: &mut DbConn, max_retries: u32, mut f: F) -> Result<T, StoreError>
where
    F: FnMut(&mut DbConn) -> Result<T, StoreError>,
{
    retrying(conn, max_retries, |c| attempt(c, &mut f))
}

/// Runs `f` inside a transaction that is always rolled back: what it would do, undone.
pub fn rolled_back<T, F>(conn: &mut DbConn, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut DbConn) -> Result<T, StoreError>,
{
    begin(conn)?;
    let outcome = f(conn);
    <DbConn as diesel::Connection>::TransactionManager::rollback_transaction(conn)?;
    outcome
}

/// Runs `f` (a transaction, or one statement that is a transaction by itself) again, up to
/// `max_retries` times, while it fails in a way a fresh attempt can cure.
pub fn retrying<T, F>(conn: &mut DbConn, max_retries: u32, mut f: F) -> Result<T, StoreError>
where
    F: FnMut(&mut DbConn) -> Result<T, StoreError>,
{
    let mut retries = 0;
    loop {
        match f(conn) {
            Err(error) if error.is_retryable() && retries < max_retries => {
                retries += 1;
                metrics::counter!("db_transaction_retries_total", "backend" => conn.backend().as_str()).increment(1);
                tracing::debug!(%error, retries, "retrying transaction");
                std::thread::sleep(backoff(retries));
            }
            outcome => return outcome,
        }
    }
}

/// Short, growing, jittered pauses: enough to let the competing transaction finish.
fn backoff(retry: u32) -> Duration {
    let mut byte = [0u8; 1];
    let jitter = getrandom::fill(&mut byte).map(|()| u64::from(byte[0]) * 4).unwrap_or(500);
    Duration::from_micros(500 * u64::from(retry.min(8)) + jitter)
}
