//! The money request budget (`limits.money_requests_per_window`): every money POST counts
//! one request before it runs; past the budget it answers 429 `rate_limited` with
//! `Retry-After`, the seconds until the window ends. Counted in the database.

use uuid::Uuid;

use super::AppState;
use crate::domain::time;
use crate::error::ApiError;
use crate::store::{self, Backend};

pub async fn check(state: &AppState, user_id: Uuid) -> Result<(), ApiError> {
    let Some(budget) = state.requests else { return Ok(()) };
    let now = time::now();
    let start = budget.window_start(now).naive_utc();
    let count = move |conn: &mut store::DbConn| store::rate::count_request(conn, user_id, start);
    // SQLite writers take turns through the service's writer lock; PostgreSQL needs no more
    // than the one autocommit statement.
    let requests = match state.db.backend() {
        Backend::Postgres => state.db.statement(count).await?,
        Backend::Sqlite => state.db.write(count).await?,
    };
    if requests > budget.requests {
        return Err(ApiError::RateLimited { retry_after_secs: budget.retry_after_secs(now) });
    }
    Ok(())
}
