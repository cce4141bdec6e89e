//! The audit log searched: by actor, action, target and a time range, newest first, a page
//! at a time (the console's list and its CSV export read it the same way).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::admin::AuditEntry;
use super::schema::audit_log as al;
use super::{DbConn, StoreError};

/// What to look for; every field narrows the search.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub target_id: Option<String>,
    /// From this time on (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Before this time (exclusive).
    pub until: Option<DateTime<Utc>>,
}

/// Entries matching the filter, newest first, with ids below `before` (the cursor).
pub fn search(
    conn: &mut DbConn,
    filter: &AuditFilter,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut query = al::table
        .order(al::id.desc())
        .limit(i64::from(limit))
        .select((al::id, al::actor_id, al::action, al::target_id, al::reason, al::details, al::created_at))
        .into_boxed();
    if let Some(actor) = &filter.actor_id {
        query = query.filter(al::actor_id.eq(actor.clone()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(al::action.eq(action.clone()));
    }
    if let Some(target) = &filter.target_id {
        query = query.filter(al::target_id.eq(target.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(al::created_at.ge(from.naive_utc()));
    }
    if let Some(until) = filter.until {
        query = query.filter(al::created_at.lt(until.naive_utc()));
    }
    if let Some(before) = before {
        query = query.filter(al::id.lt(before.to_owned()));
    }
    type Row = (String, String, String, Option<String>, Option<String>, String, NaiveDateTime);
    let rows: Vec<Row> = query.load(conn)?;
    rows.into_iter()
        .map(|(id, actor_id, action, target_id, reason, details, at)| {
            let details =
                serde_json::from_str(&details).map_err(|_| StoreError::Corrupt(format!("audit details {id}")))?;
            Ok(AuditEntry { id, actor_id, action, target_id, reason, details, created_at: at.and_utc() })
        })
        .collect()
}
