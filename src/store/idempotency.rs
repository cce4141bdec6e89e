//! Idempotency keys: looked up at the start of the transaction that applies the effect,
//! and saved with its response at the end of that same transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::idempotency_keys as ik;
use super::{DbConn, StoreError};

pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

pub enum Lookup {
    Absent,
    /// Same key, same request: answer what was answered before.
    Replay(StoredResponse),
    /// Same key, different request.
    Mismatch,
}

pub fn lookup(conn: &mut DbConn, user_id: Uuid, key: &str, request_hash: &str) -> Result<Lookup, StoreError> {
    let row: Option<(String, i32, String)> = ik::table
        .filter(ik::user_id.eq(user_id.to_string()))
        .filter(ik::idem_key.eq(key))
        .select((ik::request_hash, ik::response_status, ik::response_body))
        .first(conn)
        .optional()?;
    Ok(match row {
        None => Lookup::Absent,
        Some((hash, _, _)) if hash != request_hash => Lookup::Mismatch,
        Some((_, status, body)) => Lookup::Replay(StoredResponse {
            status: u16::try_from(status).map_err(|_| StoreError::Corrupt(format!("stored status {status}")))?,
            body,
        }),
    })
}

/// Saves the response. If a concurrent request with the same key committed first, this
/// transaction is retried whole, and its lookup then replays the winner's response.
pub fn save(
    conn: &mut DbConn,
    user_id: Uuid,
    key: &str,
    request_hash: &str,
    response: &StoredResponse,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let inserted = diesel::insert_into(ik::table)
        .values((
            ik::user_id.eq(user_id.to_string()),
            ik::idem_key.eq(key),
            ik::request_hash.eq(request_hash),
            ik::response_status.eq(i32::from(response.status)),
            ik::response_body.eq(&response.body),
            ik::created_at.eq(now.naive_utc()),
        ))
        .execute(conn);
    match inserted.map_err(StoreError::from) {
        Ok(_) => Ok(()),
        Err(StoreError::UniqueViolation(_)) => Err(StoreError::Contended("idempotency key saved concurrently")),
        Err(e) => Err(e),
    }
}

/// Forgets keys saved before `cutoff`.
pub fn purge_before(conn: &mut DbConn, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(diesel::delete(ik::table.filter(ik::created_at.lt(cutoff.naive_utc()))).execute(conn)?)
}
