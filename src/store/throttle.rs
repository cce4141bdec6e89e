//! Login attempts counted per key in the database, so a limit holds across instances.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl::{count_star, min};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::login_failures as lf;
use super::{DbConn, StoreError};

/// Records one attempt under `key`; returns its id.
pub fn record(conn: &mut DbConn, key: &str, now: DateTime<Utc>) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    diesel::insert_into(lf::table)
        .values((lf::id.eq(id.to_string()), lf::throttle_key.eq(key), lf::attempted_at.eq(now.naive_utc())))
        .execute(conn)?;
    Ok(id)
}

/// How many attempts `key` has since `since`, and when the oldest of them was.
pub fn count_since(
    conn: &mut DbConn,
    key: &str,
    since: DateTime<Utc>,
) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    let (count, oldest): (i64, Option<NaiveDateTime>) = lf::table
        .filter(lf::throttle_key.eq(key))
        .filter(lf::attempted_at.gt(since.naive_utc()))
        .select((count_star(), min(lf::attempted_at)))
        .first(conn)?;
    Ok((count, oldest.map(|t| t.and_utc())))
}

pub fn remove(conn: &mut DbConn, ids: &[Uuid]) -> Result<(), StoreError> {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    diesel::delete(lf::table.filter(lf::id.eq_any(ids))).execute(conn)?;
    Ok(())
}

pub fn clear(conn: &mut DbConn, key: &str) -> Result<(), StoreError> {
    diesel::delete(lf::table.filter(lf::throttle_key.eq(key))).execute(conn)?;
    Ok(())
}

/// Forgets attempts older than `cutoff`: they no longer count toward any window.
pub fn purge_before(conn: &mut DbConn, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(diesel::delete(lf::table.filter(lf::attempted_at.lt(cutoff.naive_utc()))).execute(conn)?)
}

/// How many attempts `key` has since `since` other than `except`, and when the newest was.
pub fn others_since(
    conn: &mut DbConn,
    key: &str,
    since: DateTime<Utc>,
    except: Uuid,
) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    let (count, newest): (i64, Option<NaiveDateTime>) = lf::table
        .filter(lf::throttle_key.eq(key))
        .filter(lf::attempted_at.gt(since.naive_utc()))
        .filter(lf::id.ne(except.to_string()))
        .select((count_star(), diesel::dsl::max(lf::attempted_at)))
        .first(conn)?;
    Ok((count, newest.map(|t| t.and_utc())))
}

/// How many distinct keys starting with `prefix` have attempts since `since` (the usernames
/// failed from one address). `prefix` holds no LIKE wildcards: callers build it from an
/// address and a fixed tag.
pub fn distinct_keys_since(conn: &mut DbConn, prefix: &str, since: DateTime<Utc>) -> Result<i64, StoreError> {
    debug_assert!(!prefix.contains(['%', '_']));
    let keys: Vec<String> = lf::table
        .filter(lf::throttle_key.like(format!("{prefix}%")))
        .filter(lf::attempted_at.gt(since.naive_utc()))
        .select(lf::throttle_key)
        .distinct()
        .load(conn)?;
    Ok(i64::try_from(keys.len()).unwrap_or(i64::MAX))
}
