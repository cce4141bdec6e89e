//! Idempotency keys: looked up at the start of the transaction that applies the effect,
//! and saved with its response at the end of that same transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};
use uuid::Uuid;

use super::prepared::prepared_for;
use super::schema::idempotency_keys as ik;
use super::{DbConn, StoreError};

pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// What a key answered with: the movement it made (rebuilt exactly from the movement row,
/// which never changes), a whole response body, or a purchase as it was written (JSON rows).
pub enum Stored {
    Entry(String),
    Body(StoredResponse),
    Purchase(String),
}

/// How an idempotent request was answered.
pub enum Answered<T> {
    /// Applied now.
    Fresh(T),
    /// Applied before under this key: the same answer again.
    Replay(T),
    /// The key was used for a different request.
    Mismatch,
    /// A key saved with a whole response body (by an older version of the route).
    Stored(StoredResponse),
}

impl<T> Answered<T> {
    /// The same answer with its value turned into another (e.g. printed).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answered<U> {
        match self {
            Answered::Fresh(value) => Answered::Fresh(f(value)),
            Answered::Replay(value) => Answered::Replay(f(value)),
            Answered::Mismatch => Answered::Mismatch,
            Answered::Stored(stored) => Answered::Stored(stored),
        }
    }
}

pub enum Lookup {
    Absent,
    /// Same key, same request: answer what was answered before.
    Replay(Stored),
    /// Same key, different request.
    Mismatch,
}

type KeyRow = (String, i32, Option<String>, Option<String>, String);

pub fn lookup(conn: &mut DbConn, user_id: Uuid, key: &str, request_hash: &str) -> Result<Lookup, StoreError> {
    // Fixed text, kept prepared on SQLite (see `ledger::insert_movement`); text on PostgreSQL.
    let uid = user_id.to_string();
    let row: Option<KeyRow> = prepared_for::<(Text, Integer, Nullable<Text>, Nullable<Text>, Text)>(
        conn,
        "SELECT request_hash, response_status, response_body, entry_id, answer FROM idempotency_keys \
         WHERE user_id = ? AND idem_key = ?",
    )
    .text(&uid)
    .text(key)
    .get_result(conn)
    .optional()?;
    let Some((hash, status, body, entry, answer)) = row else { return Ok(Lookup::Absent) };
    if hash != request_hash {
        return Ok(Lookup::Mismatch);
    }
    let corrupt = || StoreError::Corrupt(format!("idempotency key `{key}` answers `{answer}` without its answer"));
    Ok(Lookup::Replay(match answer.as_str() {
        "movement" => Stored::Entry(entry.ok_or_else(corrupt)?),
        "purchase" => Stored::Purchase(body.ok_or_else(corrupt)?),
        _ => Stored::Body(StoredResponse {
            status: u16::try_from(status).map_err(|_| StoreError::Corrupt(format!("stored status {status}")))?,
            body: body.ok_or_else(corrupt)?,
        }),
    }))
}

/// Saves the key with the movement that answered it (201).
pub fn save_entry(
    conn: &mut DbConn,
    user_id: Uuid,
    key: &str,
    request_hash: &str,
    entry_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (uid, entry) = (user_id.to_string(), entry_id.to_string());
    let inserted = prepared_for::<()>(
        conn,
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, response_status, entry_id, answer, created_at) \
         VALUES (?, ?, ?, 201, ?, 'movement', ?)",
    )
    .text(&uid)
    .text(key)
    .text(request_hash)
    .text(&entry)
    .timestamp(now.naive_utc())
    .execute(conn);
    saved(inserted)
}

fn saved(inserted: diesel::QueryResult<usize>) -> Result<(), StoreError> {
    match inserted.map_err(StoreError::from) {
        Ok(_) => Ok(()),
        Err(StoreError::UniqueViolation(_)) => Err(StoreError::Contended("idempotency key saved concurrently")),
        Err(e) => Err(e),
    }
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
            ik::response_body.eq(Some(&response.body)),
            ik::created_at.eq(now.naive_utc()),
        ))
        .execute(conn);
    saved(inserted)
}

/// Forgets keys saved before `cutoff`.
pub fn purge_before(conn: &mut DbConn, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(diesel::delete(ik::table.filter(ik::created_at.lt(cutoff.naive_utc()))).execute(conn)?)
}
