//! Autopay: the setting, and the payment billing makes with it on a due date (one
//! repayment movement per source, each one balanced entry, inside billing's transaction
//! for the user, under their account lock).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text, Timestamp};
use uuid::Uuid;

use super::credit::pay_debt;
use super::schema::autopay as ap;
use super::{DbConn, StoreError};
use crate::domain::account::Source;
use crate::domain::autopay::{Autopay, AutopaySources};
use crate::domain::credit::{self, Installment, InstallmentState};
use crate::domain::movement::MovementKind;

/// The user's setting (off, wallet only, until set).
pub fn get(conn: &mut DbConn, user_id: Uuid) -> Result<Autopay, StoreError> {
    let row: Option<(bool, String)> = ap::table
        .filter(ap::user_id.eq(user_id.to_string()))
        .select((ap::enabled, ap::sources))
        .first(conn)
        .optional()?;
    let Some((enabled, sources)) = row else { return Ok(Autopay::default()) };
    let sources =
        AutopaySources::from_db(&sources).ok_or_else(|| StoreError::Corrupt(format!("autopay sources `{sources}`")))?;
    Ok(Autopay { enabled, sources })
}

pub fn set(conn: &mut DbConn, user_id: Uuid, setting: &Autopay, now: DateTime<Utc>) -> Result<Autopay, StoreError> {
    // One upsert, the same text on both backends (the multi-backend DSL has no ON CONFLICT).
    diesel::sql_query(
        "INSERT INTO autopay (user_id, enabled, sources, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET enabled = excluded.enabled, sources = excluded.sources, \
         updated_at = excluded.updated_at",
    )
    .bind::<Text, _>(user_id.to_string())
    .bind::<Bool, _>(setting.enabled)
    .bind::<Text, _>(setting.sources.as_db())
    .bind::<Timestamp, _>(now.naive_utc())
    .execute(conn)?;
    Ok(setting.clone())
}

/// On a due date (a part `due` whose date has come), pays everything then due or past due
/// from the user's sources in order, as far as each balance goes, in the repayment order:
/// late fees, then billed fees, then principal, oldest due first (`credit::allocate_up_to`
/// over the parts, which come oldest first). What cannot be paid stays owed. Runs in
/// billing's transaction after the account lock. Answers how many payments it made.
pub fn pay_due(
    conn: &mut DbConn,
    user_id: Uuid,
    items: &mut [Installment],
    as_of: NaiveDate,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let setting = get(conn, user_id)?;
    if !setting.enabled {
        return Ok(0);
    }
    // Due parts, and converted ones still owing their billed fee, whose date has come.
    let falls_due = |i: &Installment| {
        matches!(i.state, InstallmentState::Due | InstallmentState::Converted) && i.due_date <= as_of && i.owed() > 0
    };
    if !items.iter().any(falls_due) {
        return Ok(0);
    }
    let past_due = |i: &Installment| i.state == InstallmentState::Overdue && i.owed() > 0;
    let mut due: Vec<Installment> = items.iter().filter(|i| falls_due(i) || past_due(i)).cloned().collect();
    let mut payments = 0;
    for source in setting.sources.in_order() {
        let kind = if *source == Source::Wallet { MovementKind::Repayment } else { MovementKind::VaultRepayment };
        let account = super::account_row::account(conn, user_id)?;
        let balance = if *source == Source::Wallet { account.wallet_minor } else { account.vault_minor };
        let allocation = credit::allocate_up_to(&due, balance);
        if allocation.parts.is_empty() {
            continue;
        }
        pay_debt(conn, user_id, &mut due, &allocation, *source, kind, now)?;
        payments += 1;
    }
    // Billing's second pass sees what was paid.
    for paid in due {
        if let Some(item) = items.iter_mut().find(|i| i.purchase_id == paid.purchase_id && i.seq == paid.seq) {
            *item = paid;
        }
    }
    Ok(payments)
}
