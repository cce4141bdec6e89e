//! Money requests counted per user per fixed window, in the database so the count holds
//! across instances. One statement: the upsert is atomic on both backends.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Timelike, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use uuid::Uuid;

use super::prepared::{prepared, prepared_for};
use super::schema::{outflow_hours as oh, request_windows as rw};
use super::{DbConn, StoreError};

/// Counts one more request of `user_id` in the window starting at `window_start`; answers
/// how many that window has now, this one included.
pub fn count_request(conn: &mut DbConn, user_id: Uuid, window_start: NaiveDateTime) -> Result<i64, StoreError> {
    let user_id = user_id.to_string();
    Ok(prepared_for::<BigInt>(
        conn,
        "INSERT INTO request_windows (user_id, window_start, requests) VALUES (?, ?, 1) \
         ON CONFLICT (user_id, window_start) DO UPDATE SET requests = request_windows.requests + 1 \
         RETURNING requests",
    )
    .text(&user_id)
    .timestamp(window_start)
    .get_result(conn)?)
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

/// The clock hour `now` falls in: outflow is counted by the hour.
fn hour_of(now: DateTime<Utc>) -> NaiveDateTime {
    now.naive_utc().date().and_hms_opt(now.naive_utc().time().hour(), 0, 0).expect("an hour of a day")
}

/// The first hour the outflow cap counts at `now`: 24 hours before the start of `now`'s
/// hour, so an outflow counts for 24 to 25 hours and no rolling 24 hours holds more than
/// the cap.
pub fn outflow_counted_from(now: DateTime<Utc>) -> NaiveDateTime {
    hour_of(now) - TimeDelta::hours(24)
}

/// Outflow counted in the hours from `outflow_counted_from(now)`.
pub fn outflow_used(conn: &mut DbConn, user_id: Uuid, now: DateTime<Utc>) -> Result<i64, StoreError> {
    // Fixed text, kept prepared on SQLite (see `ledger::insert_movement`); text on PostgreSQL.
    // The sum cast back to BIGINT: PostgreSQL sums bigints as numeric.
    let uid = user_id.to_string();
    let used: i64 = prepared_for::<BigInt>(
        conn,
        "SELECT CAST(coalesce(sum(amount_minor), 0) AS BIGINT) FROM outflow_hours WHERE user_id = ? AND hour >= ?",
    )
    .text(&uid)
    .timestamp(outflow_counted_from(now))
    .get_result(conn)?;
    Ok(used)
}

/// Counts an outflow in its clock hour (SQLite; on PostgreSQL `vl_check_outflow` counts
/// it with the check). Runs inside the write transaction, after the model allowed it.
pub fn count_outflow(
    conn: &mut DbConn,
    user_id: Uuid,
    amount_minor: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let user_id = user_id.to_string();
    prepared::<()>(
        "INSERT INTO outflow_hours (user_id, hour, amount_minor) VALUES (?, ?, ?) \
         ON CONFLICT (user_id, hour) DO UPDATE SET amount_minor = outflow_hours.amount_minor + excluded.amount_minor",
    )
    .text(&user_id)
    .timestamp(hour_of(now))
    .bigint(amount_minor)
    .execute(conn)?;
    Ok(())
}

/// What the velocity caps have counted for `user_id` as of `now`: outflow (as the cap counts
/// it) and vault unlocks since midnight (UTC).
pub fn velocity_used(conn: &mut DbConn, user_id: Uuid, now: DateTime<Utc>) -> Result<(i64, i64), StoreError> {
    use super::schema::movements as mv;
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).expect("midnight exists");
    let unlocks: i64 = mv::table
        .filter(mv::user_id.eq(user_id.to_string()))
        .filter(mv::kind.eq("vault_unlock"))
        .filter(mv::created_at.ge(midnight))
        .count()
        .get_result(conn)?;
    Ok((outflow_used(conn, user_id, now)?, unlocks))
}

/// Forgets outflow hours no cap reads any more (the clean-up job).
pub fn purge_outflow_before(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(diesel::delete(oh::table.filter(oh::hour.lt(before))).execute(conn)?)
}
