//! Writes one event into the outbox from Rust, in the caller's transaction: the same path
//! the triggers take (PostgreSQL's `vl_emit`, SQLite's `event_queue` view), so the event
//! gets its seq and its webhook deliveries like every other.

use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::store::{DbConn, StoreError};

pub fn emit(conn: &mut DbConn, user_id: &str, kind: &str, object_id: &str, snapshot: &str) -> Result<(), StoreError> {
    let sql = match conn {
        DbConn::Pg(_) => "SELECT vl_emit($1, $2, $3, $4)",
        DbConn::Sqlite(_) => "INSERT INTO event_queue (user_id, type, object_id, snapshot) VALUES ($1, $2, $3, $4)",
    };
    diesel::sql_query(sql)
        .bind::<Text, _>(user_id)
        .bind::<Text, _>(kind)
        .bind::<Text, _>(object_id)
        .bind::<Text, _>(snapshot)
        .execute(conn)?;
    Ok(())
}
