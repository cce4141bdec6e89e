//! The outbox, read back: events are written by triggers (`src/store/sql/events.sql`) in the
//! transaction of their change; this module lists them and loads what each one shows.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use uuid::Uuid;

use super::limits::{self, LimitChange};
use super::schema::events as ev;
use super::snapshot::{InstallmentJson, purchase_from_snapshot};
use super::users::UserRow;
use super::{Backend, DbConn, StoreError, ledger};
use crate::domain::credit::{Installment, Purchase};
use crate::domain::movement::Movement;
use crate::domain::user::User;

/// What an event shows: the object as it was right after the change.
pub enum EventData {
    Movement(Movement),
    Purchase(Purchase),
    Installment(Installment),
    LimitChange(LimitChange),
    User(User),
    Statement(super::statements::IssuedNotice),
    Reminder(super::statements::Reminder),
}

pub struct Event {
    /// Global order of writing (the all-users cursor, with `txid`).
    pub position: i64,
    pub txid: i64,
    pub id: Uuid,
    pub user_id: Uuid,
    /// Rises by one per user.
    pub seq: i64,
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub data: EventData,
}

/// Where the all-users feed resumes: after this transaction's event at this position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedPosition {
    pub txid: i64,
    pub position: i64,
}

type Row = (i64, i64, String, String, i64, String, String, Option<String>, NaiveDateTime);

macro_rules! event_columns {
    () => {
        (ev::position, ev::txid, ev::id, ev::user_id, ev::seq, ev::kind, ev::object_id, ev::snapshot, ev::created_at)
    };
}

/// The user's events after `after_seq`, oldest first.
pub fn for_user(conn: &mut DbConn, user_id: Uuid, after_seq: i64, limit: u32) -> Result<Vec<Event>, StoreError> {
    let rows: Vec<Row> = ev::table
        .filter(ev::user_id.eq(user_id.to_string()))
        .filter(ev::seq.gt(after_seq))
        .order(ev::seq.asc())
        .limit(i64::from(limit))
        .select(event_columns!())
        .load(conn)?;
    load(conn, rows)
}

/// Everyone's events after `after`, by writing transaction. On PostgreSQL only transactions
/// older than every one still running are shown: a transaction that commits late never lands
/// behind a cursor a reader already passed. (SQLite's single writer: position order is
/// commit order, every txid 0.)
pub fn all(conn: &mut DbConn, after: Option<FeedPosition>, limit: u32) -> Result<Vec<Event>, StoreError> {
    let mut query = ev::table.order((ev::txid.asc(), ev::position.asc())).limit(i64::from(limit)).into_boxed();
    if let Some(at) = after {
        query = query.filter(ev::txid.gt(at.txid).or(ev::txid.eq(at.txid).and(ev::position.gt(at.position))));
    }
    if conn.backend() == Backend::Postgres {
        query = query.filter(diesel::dsl::sql::<Bool>("txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"));
    }
    let rows: Vec<Row> = query.select(event_columns!()).load(conn)?;
    load(conn, rows)
}

/// An event at its position, or why it cannot be shown.
pub type Loaded = (i64, Result<Event, StoreError>);

/// The events at these positions (the webhook worker's batch), each loaded on its own: one
/// whose stored row cannot be shown (`Corrupt`) fails alone, with the reason, and never holds
/// back the others. Any other error (the database) fails the whole call, to be tried again.
pub fn at_positions(conn: &mut DbConn, positions: &[i64]) -> Result<Vec<Loaded>, StoreError> {
    let rows: Vec<Row> = ev::table.filter(ev::position.eq_any(positions)).select(event_columns!()).load(conn)?;
    let mut loaded = Vec::with_capacity(rows.len());
    for row in rows {
        let position = row.0;
        match load(conn, vec![row]) {
            Ok(mut one) => loaded.push((position, one.pop().ok_or(StoreError::Cancelled))),
            Err(corrupt @ StoreError::Corrupt(_)) => loaded.push((position, Err(corrupt))),
            Err(other) => return Err(other),
        }
    }
    Ok(loaded)
}

/// The event with this id, if any.
pub fn position_of(conn: &mut DbConn, id: Uuid) -> Result<Option<i64>, StoreError> {
    Ok(ev::table.filter(ev::id.eq(id.to_string())).select(ev::position).first(conn).optional()?)
}

fn load(conn: &mut DbConn, rows: Vec<Row>) -> Result<Vec<Event>, StoreError> {
    // Limit changes in one query; movements one by one (a page is at most 100).
    let limit_ids: Vec<String> =
        rows.iter().filter(|r| r.7.is_none() && r.5.starts_with("credit.")).map(|r| r.6.clone()).collect();
    let mut changes = if limit_ids.is_empty() { Vec::new() } else { limits::by_ids(conn, &limit_ids)? };
    rows.into_iter()
        .map(|row| {
            let (position, txid, id, user, seq, kind, object_id, snapshot, created_at) = row;
            let corrupt = |what: &str| StoreError::Corrupt(format!("event {position}: {what}"));
            let user_id = Uuid::parse_str(&user).map_err(|_| corrupt("user_id"))?;
            let data = match (kind.split('.').next(), snapshot) {
                (_, Some(json)) if kind == "installment.reminder" => {
                    EventData::Reminder(serde_json::from_str(&json).map_err(|e| corrupt(&e.to_string()))?)
                }
                (Some("statement"), Some(json)) => {
                    EventData::Statement(serde_json::from_str(&json).map_err(|e| corrupt(&e.to_string()))?)
                }
                (Some("movement"), None) => EventData::Movement(ledger::movement(conn, user_id, &object_id)?),
                (Some("credit"), None) => {
                    let at = changes.iter().position(|c| c.id == object_id).ok_or_else(|| corrupt("limit change"))?;
                    EventData::LimitChange(changes.swap_remove(at))
                }
                (Some("purchase"), Some(json)) => EventData::Purchase(purchase_from_snapshot(&json)?),
                (Some("installment"), Some(json)) => {
                    let part: InstallmentJson = serde_json::from_str(&json).map_err(|e| corrupt(&e.to_string()))?;
                    // The view never shows the part count.
                    EventData::Installment(part.into_installment(0)?)
                }
                (Some("user"), Some(json)) => {
                    let row: UserRow = serde_json::from_str(&json).map_err(|e| corrupt(&e.to_string()))?;
                    EventData::User(row.into_domain()?)
                }
                _ => return Err(corrupt(&format!("type `{kind}`"))),
            };
            Ok(Event {
                position,
                txid,
                id: Uuid::parse_str(&id).map_err(|_| corrupt("id"))?,
                user_id,
                seq,
                kind,
                created_at: created_at.and_utc(),
                data,
            })
        })
        .collect()
}
