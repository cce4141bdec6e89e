//! Paced lanes (`login_pace`): each lane spaces the attempts it admits, whatever instance or
//! address they come from. A slot is reserved with one upsert, atomic on both backends.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::prepared::prepared_for;
use super::schema::login_pace as lp;
use super::{DbConn, StoreError};

/// What a lane answered a reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Evaluate at this time (now, or a moment later); the lane's next slot is `gap` after it.
    At(DateTime<Utc>),
    /// The lane's next free slot is further away than the caller would wait: at this time.
    Full(DateTime<Utc>),
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Reserves the lane's next slot, at the earliest `now`, if it falls within `max_wait`;
/// the slot after it is then `gap` later.
pub fn reserve(
    conn: &mut DbConn,
    lane: &str,
    now: DateTime<Utc>,
    gap: TimeDelta,
    max_wait: TimeDelta,
) -> Result<Slot, StoreError> {
    let (now_ms, gap_ms) = (millis(now), gap.num_milliseconds());
    // The slot is the later of the lane's next free time and now; a lane whose next free
    // time is past the caller's patience is left as it is (no row returned).
    let next: Option<i64> = prepared_for::<BigInt>(
        conn,
        "INSERT INTO login_pace (pace_key, next_at_ms) VALUES (?, ?) \
         ON CONFLICT (pace_key) DO UPDATE SET next_at_ms = \
         CASE WHEN login_pace.next_at_ms > ? THEN login_pace.next_at_ms ELSE ? END + ? \
         WHERE login_pace.next_at_ms <= ? \
         RETURNING next_at_ms",
    )
    .text(lane)
    .bigint(now_ms + gap_ms)
    .bigint(now_ms)
    .bigint(now_ms)
    .bigint(gap_ms)
    .bigint(millis(now + max_wait))
    .get_result(conn)
    .optional()?;
    match next {
        Some(next) => Ok(Slot::At(from_millis(next - gap_ms))),
        None => {
            let busy_until: i64 = lp::table.filter(lp::pace_key.eq(lane)).select(lp::next_at_ms).first(conn)?;
            Ok(Slot::Full(from_millis(busy_until)))
        }
    }
}

/// Forgets lanes idle since before `cutoff`: they would answer "now" anyway.
pub fn purge_before(conn: &mut DbConn, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(diesel::delete(lp::table.filter(lp::next_at_ms.lt(millis(cutoff)))).execute(conn)?)
}
