//! Money requests counted per user per fixed window, in the database so the count holds
//! across instances. One statement: the upsert is atomic on both backends.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use uuid::Uuid;

use super::schema::request_windows as rw;
use super::{DbConn, StoreError};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    requests: i64,
}

/// Counts one more request of `user_id` in the window starting at `window_start`; answers
/// how many that window has now, this one included.
pub fn count_request(conn: &mut DbConn, user_id: Uuid, window_start: NaiveDateTime) -> Result<i64, StoreError> {
    let counted: Count = diesel::sql_query(
        "INSERT INTO request_windows (user_id, window_start, requests) VALUES ($1, $2, 1) \
         ON CONFLICT (user_id, window_start) DO UPDATE SET requests = request_windows.requests + 1 \
         RETURNING requests",
    )
    .bind::<Text, _>(user_id.to_string())
    .bind::<Timestamp, _>(window_start)
    .get_result(conn)?;
    Ok(counted.requests)
}

/// How many requests the window starting at `window_start` has counted.
pub fn requests_in(conn: &mut DbConn, user_id: Uuid, window_start: NaiveDateTime) -> Result<i64, StoreError> {
    Ok(rw::table
        .filter(rw::user_id.eq(user_id.to_string()))
        .filter(rw::window_start.eq(window_start))
        .select(rw::requests)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// Forgets windows that started before `before` (the clean-up job).
pub fn purge_before(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(diesel::delete(rw::table.filter(rw::window_start.lt(before))).execute(conn)?)
}

/// What the velocity caps have counted for `user_id` as of `now`: minor units withdrawn
/// or transferred out in the last 24 hours, and vault unlocks since midnight (UTC).
pub fn velocity_used(
    conn: &mut DbConn,
    user_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(i64, i64), StoreError> {
    use super::schema::movements as mv;
    let uid = user_id.to_string();
    let outflow: Vec<i64> = mv::table
        .filter(mv::user_id.eq(&uid))
        .filter(mv::kind.eq_any(["withdrawal", "transfer_out"]))
        .filter(mv::created_at.gt((now - chrono::TimeDelta::hours(24)).naive_utc()))
        .select(mv::amount_minor)
        .load(conn)?;
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).expect("midnight exists");
    let unlocks: i64 = mv::table
        .filter(mv::user_id.eq(&uid))
        .filter(mv::kind.eq("vault_unlock"))
        .filter(mv::created_at.ge(midnight))
        .count()
        .get_result(conn)?;
    Ok((outflow.iter().sum(), unlocks))
}

#[derive(QueryableByName)]
struct VersionAndCount {
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    version: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    requests: Option<i64>,
}

/// PostgreSQL only: the user's token version and one more request counted in the window, in
/// one statement (one round trip for both checks a money request needs before it runs).
/// `None` when the user does not exist (nothing is counted then).
pub fn version_and_count(
    conn: &mut DbConn,
    user_id: Uuid,
    window_start: NaiveDateTime,
) -> Result<Option<(i64, i64)>, StoreError> {
    let row: VersionAndCount = diesel::sql_query(
        "WITH u AS (SELECT token_version FROM users WHERE id = $1), \
              c AS (INSERT INTO request_windows (user_id, window_start, requests) \
                    SELECT $1, $2, 1 WHERE EXISTS (SELECT 1 FROM u) \
                    ON CONFLICT (user_id, window_start) DO UPDATE SET requests = request_windows.requests + 1 \
                    RETURNING requests) \
         SELECT (SELECT token_version FROM u) AS version, (SELECT requests FROM c) AS requests",
    )
    .bind::<Text, _>(user_id.to_string())
    .bind::<Timestamp, _>(window_start)
    .get_result(conn)?;
    Ok(row.version.zip(row.requests))
}
