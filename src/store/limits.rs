//! The limit history: one row per change of a user's credit limit, written in the
//! transaction of the change.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::limit_history as lh;
use super::{DbConn, StoreError};
use crate::domain::account::CreditLine;

#[derive(Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum LimitReason {
    VaultLock,
    VaultUnlock,
    Upgrade,
    Downgrade,
    CollateralSettlement,
    AdminAdjustment,
    /// Autopay paid a due bill from the vault.
    Autopay,
}

impl LimitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReason::VaultLock => "vault_lock",
            LimitReason::VaultUnlock => "vault_unlock",
            LimitReason::Upgrade => "upgrade",
            LimitReason::Downgrade => "downgrade",
            LimitReason::CollateralSettlement => "collateral_settlement",
            LimitReason::AdminAdjustment => "admin_adjustment",
            LimitReason::Autopay => "autopay",
        }
    }
}

pub fn record(
    conn: &mut DbConn,
    user_id: Uuid,
    line: CreditLine,
    before_minor: i64,
    after_minor: i64,
    reason: LimitReason,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if before_minor == after_minor && !matches!(reason, LimitReason::Upgrade | LimitReason::Downgrade) {
        return Ok(());
    }
    diesel::insert_into(lh::table)
        .values((
            lh::id.eq(Uuid::now_v7().to_string()),
            lh::user_id.eq(user_id.to_string()),
            lh::line.eq(line.as_str()),
            lh::limit_before.eq(before_minor),
            lh::limit_after.eq(after_minor),
            lh::reason.eq(reason.as_str()),
            lh::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct LimitChange {
    pub id: String,
    pub line: String,
    pub limit_before_minor: i64,
    pub limit_after_minor: i64,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

type ChangeRow = (String, String, i64, i64, String, NaiveDateTime);

fn change_from_row(row: ChangeRow) -> LimitChange {
    let (id, line, limit_before_minor, limit_after_minor, reason, at) = row;
    LimitChange { id, line, limit_before_minor, limit_after_minor, reason, created_at: at.and_utc() }
}

/// The user's limit changes, newest first, strictly older than the `before` id.
pub fn history(
    conn: &mut DbConn,
    user_id: Uuid,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<LimitChange>, StoreError> {
    let mut query = lh::table
        .filter(lh::user_id.eq(user_id.to_string()))
        .order(lh::id.desc())
        .limit(i64::from(limit))
        .select((lh::id, lh::line, lh::limit_before, lh::limit_after, lh::reason, lh::created_at))
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(lh::id.lt(before.to_owned()));
    }
    let rows: Vec<ChangeRow> = query.load(conn)?;
    Ok(rows.into_iter().map(change_from_row).collect())
}

/// The limit changes with these ids (events render them).
pub fn by_ids(conn: &mut DbConn, ids: &[String]) -> Result<Vec<LimitChange>, StoreError> {
    let rows: Vec<ChangeRow> = lh::table
        .filter(lh::id.eq_any(ids))
        .select((lh::id, lh::line, lh::limit_before, lh::limit_after, lh::reason, lh::created_at))
        .load(conn)?;
    Ok(rows.into_iter().map(change_from_row).collect())
}
