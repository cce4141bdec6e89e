//! The gate every money request passes before its money moves: the access token's version
//! is still the user's, and the request fits the user's budget (one more counted).
//!
//! On PostgreSQL the gate runs inside the money call (`vl_gate`, passed as the call's user
//! argument), so a money request is one round trip. On SQLite it runs first in the same
//! write transaction; in a group-commit batch, inside the batch (`vl_batch` on PostgreSQL).
//! Anywhere else (routes whose store call takes no gate) `check` runs it as a statement of
//! its own before the call.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp, Untyped};
use uuid::Uuid;

use super::prepared::Prepared;
use super::raised::Raised;
use super::{DbConn, StoreError, rate};

/// What the request must pass. `Gate::default()` passes everything (already checked, or
/// switched off). Dropping a gate unchecked would skip a session check, hence `must_use`.
#[must_use = "a gate must reach the store call or `check`, or the session is never checked"]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gate {
    /// The access token's version; `None`: not checked here.
    pub token_version: Option<i64>,
    /// The budget window to count the request in; `None`: not counted here.
    pub budget: Option<Budget>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub window_start: NaiveDateTime,
    pub requests_max: i64,
    /// Seconds until the window ends: the `Retry-After` of a refusal.
    pub retry_after_secs: u64,
}

impl Gate {
    pub fn is_open(&self) -> bool {
        self.token_version.is_none() && self.budget.is_none()
    }

    /// The refusal a gate code raised by `vl_gate` stands for; `None` for any other code.
    pub fn refusal(&self, code: &str) -> Option<StoreError> {
        match Raised::parse(code, "") {
            Ok(Raised::SessionEnded) => Some(StoreError::SessionEnded),
            Ok(Raised::RateLimited) => {
                Some(StoreError::OverBudget { retry_after_secs: self.budget.map_or(1, |b| b.retry_after_secs) })
            }
            _ => None,
        }
    }

    /// Binds the gate's three arguments, after the user's: a money function's user
    /// argument is `vl_gate(?, ?, ?, ?)`, so the gate runs first, in the same statement.
    pub fn bind<'a>(&self, query: Prepared<'a, Untyped>) -> Prepared<'a, Untyped> {
        query
            .nullable_bigint(self.token_version)
            .nullable_timestamp(self.budget.map(|b| b.window_start))
            .nullable_bigint(self.budget.map(|b| b.requests_max))
    }
}

/// Runs the gate as a statement (PostgreSQL: one round trip) or, on SQLite, as the first
/// statements of the caller's transaction.
pub fn check(conn: &mut DbConn, user_id: Uuid, gate: &Gate) -> Result<(), StoreError> {
    if gate.is_open() {
        return Ok(());
    }
    match conn {
        DbConn::Pg(_) => {
            #[derive(QueryableByName)]
            struct Passed {
                #[diesel(sql_type = Text)]
                #[allow(dead_code)]
                user_id: String,
            }
            let passed: Result<Passed, DieselError> = diesel::sql_query("SELECT vl_gate($1, $2, $3, $4) AS user_id")
                .bind::<Text, _>(user_id.to_string())
                .bind::<Nullable<BigInt>, _>(gate.token_version)
                .bind::<Nullable<Timestamp>, _>(gate.budget.map(|b| b.window_start))
                .bind::<Nullable<BigInt>, _>(gate.budget.map(|b| b.requests_max))
                .get_result(conn);
            passed.map(drop).map_err(|e| refused_by(gate, e))
        }
        DbConn::Sqlite(_) => check_sqlite(conn, user_id, gate),
    }
}

fn check_sqlite(conn: &mut DbConn, user_id: Uuid, gate: &Gate) -> Result<(), StoreError> {
    use super::schema::users;
    if let Some(version) = gate.token_version {
        let current: Option<i64> = users::table
            .filter(users::id.eq(user_id.to_string()))
            .select(users::token_version)
            .first(conn)
            .optional()?;
        if current != Some(version) {
            return Err(StoreError::SessionEnded);
        }
    }
    if let Some(budget) = gate.budget
        && rate::count_request(conn, user_id, budget.window_start)? > budget.requests_max
    {
        return Err(StoreError::OverBudget { retry_after_secs: budget.retry_after_secs });
    }
    Ok(())
}

/// A database error, or the gate's refusal if `vl_gate` raised one.
pub fn refused_by(gate: &Gate, error: DieselError) -> StoreError {
    match super::error::raised(&error).and_then(|(code, _)| gate.refusal(code)) {
        Some(refusal) => refusal,
        None => error.into(),
    }
}

/// PostgreSQL: a refusal raised by the money function rolled back the request's count
/// with everything else, so it is counted again here, a second statement on the refusal
/// path only. A refused request still costs the server, so it counts.
pub fn count_refused(conn: &mut DbConn, user_id: Uuid, gate: &Gate) -> Result<(), StoreError> {
    if let Some(budget) = gate.budget {
        rate::count_request(conn, user_id, budget.window_start)?;
    }
    Ok(())
}
