//! The account as SQLite's money statements read and write it: the standing the model
//! decides from, and one UPDATE of the effects it decided.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use uuid::Uuid;

use super::model::{self, Effects, Standing};
use super::request::{Call, MoneyOp};
use crate::domain::user::UserStatus;
use crate::store::account_row::{FullRow, StateRow, state_from_row};
use crate::store::prepared::prepared;
use crate::store::{DbConn, StoreError};

/// What the model reads about the caller, as this write transaction sees it: SQLite takes
/// writers in turn, so nothing changes between this read and the write that follows. The
/// velocity counts are read only where the operation has a cap to check.
pub(crate) fn standing(conn: &mut DbConn, call: &Call, op: &MoneyOp) -> Result<Standing, StoreError> {
    let mut standing = match (op, call.limits.outflow_24h_minor) {
        // Money out under a cap: the outflow counted so far comes in the same statement.
        (MoneyOp::Withdrawal(_) | MoneyOp::Transfer { .. }, Some(_)) => {
            let from = crate::store::rate::outflow_counted_from(call.now);
            read(conn, call.user_id, Some(from))?
        }
        _ => read(conn, call.user_id, None)?,
    };
    if let (MoneyOp::VaultUnlock(_), Some(cap)) = (op, call.limits.unlocks_per_day) {
        standing.unlocks_today = unlocks_today(conn, &call.user_id.to_string(), call.now, cap)?;
    }
    Ok(standing)
}

/// The account row, the overdue count and the status in one statement (velocity counts
/// left at zero: for operations without a cap).
pub(crate) fn standing_row(conn: &mut DbConn, user_id: Uuid) -> Result<Standing, StoreError> {
    read(conn, user_id, None)
}

/// One statement, either fixed text kept prepared: the account, the overdue count, the
/// status and, with `outflow_from`, the outflow the cap counts since that hour.
fn read(conn: &mut DbConn, user_id: Uuid, outflow_from: Option<chrono::NaiveDateTime>) -> Result<Standing, StoreError> {
    const SQL: &str = "SELECT m.wallet_minor, m.vault_minor, m.line, m.general_limit_minor, m.held_minor, \
                       m.principal_minor, m.fees_minor, m.late_fees_minor, m.overdue_count, u.status, 0 \
                       FROM money_accounts m JOIN users u ON u.id = m.user_id WHERE m.user_id = ?";
    const WITH_OUTFLOW: &str = "SELECT m.wallet_minor, m.vault_minor, m.line, m.general_limit_minor, m.held_minor, \
                       m.principal_minor, m.fees_minor, m.late_fees_minor, m.overdue_count, u.status, \
                       (SELECT coalesce(sum(o.amount_minor), 0) FROM outflow_hours o \
                        WHERE o.user_id = m.user_id AND o.hour >= ?) \
                       FROM money_accounts m JOIN users u ON u.id = m.user_id WHERE m.user_id = ?";
    type Sql = ((BigInt, BigInt, Text, BigInt, BigInt, BigInt, BigInt, BigInt), BigInt, Text, BigInt);
    let uid = user_id.to_string();
    let (row, overdue_count, status, outflow_used_minor): (StateRow, i64, String, i64) = match outflow_from {
        None => prepared::<Sql>(SQL).text(&uid).get_result(conn)?,
        Some(from) => prepared::<Sql>(WITH_OUTFLOW).timestamp(from).text(&uid).get_result(conn)?,
    };
    let status = UserStatus::from_db(&status).ok_or_else(|| StoreError::Corrupt(format!("users.status {status}")))?;
    let account = state_from_row(row)?;
    Ok(Standing { account, status, overdue_count, outflow_used_minor, unlocks_today: 0 })
}

/// Today's vault unlocks (UTC), counted to at most one past the cap (index
/// `movements_unlocks`): the cost stays bounded however many unlocks the day has seen.
fn unlocks_today(conn: &mut DbConn, uid: &str, now: DateTime<Utc>, cap: i64) -> Result<i64, StoreError> {
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).expect("midnight exists");
    let sql = "SELECT count(*) FROM (SELECT 1 FROM movements \
               WHERE user_id = ? AND kind = 'vault_unlock' AND created_at >= ? LIMIT ?)";
    Ok(prepared::<BigInt>(sql).text(uid).timestamp(midnight).bigint(cap + 1).get_result(conn)?)
}

/// The account row as `FullRow` (see `full_columns!`).
macro_rules! returning_full {
    () => {
        " RETURNING wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor, \
         late_fees_minor, opened_at, on_time_installments, overdue_installments, overdue_days, \
         collateral_settlements, vault_floor_minor, overdue_count"
    };
}

/// The SQL types of `FullRow`.
type FullRowSql = (
    (BigInt, BigInt, Text, BigInt, BigInt, BigInt, BigInt, BigInt),
    Timestamp,
    (BigInt, BigInt, BigInt, BigInt, BigInt, BigInt),
);

/// Writes what the model decided to the account row. The row's CHECKs stay the last guard:
/// a rule that let a balance go negative would fail here, never store it.
pub(crate) fn write_effects(conn: &mut DbConn, user_id: &str, e: &Effects) -> Result<FullRow, StoreError> {
    let sql = concat!(
        "UPDATE money_accounts SET wallet_minor = wallet_minor + ?, vault_minor = vault_minor + ?, ",
        "held_minor = held_minor + ?, principal_minor = principal_minor + ?, fees_minor = fees_minor + ?, ",
        "late_fees_minor = late_fees_minor + ? WHERE user_id = ?",
        returning_full!()
    );
    Ok(prepared::<FullRowSql>(sql)
        .bigint(e.wallet_minor)
        .bigint(e.vault_minor)
        .bigint(e.held_minor)
        .bigint(e.principal_minor)
        .bigint(e.fees_minor)
        .bigint(e.late_fees_minor)
        .text(user_id)
        .get_result(conn)?)
}

/// The model decides; the effects, the outflow count, the entry and the movement follow.
pub(crate) fn decided(conn: &mut DbConn, call: &Call, op: &MoneyOp) -> Result<(Effects, FullRow), StoreError> {
    let standing = standing(conn, call, op)?;
    let effects = model::step(&standing, op.rule(), &call.limits).map_err(StoreError::Refused)?;
    let row = write_effects(conn, &call.user_id.to_string(), &effects)?;
    if effects.outflow_minor > 0 {
        crate::store::rate::count_outflow(conn, call.user_id, effects.outflow_minor, call.now)?;
    }
    Ok((effects, row))
}
