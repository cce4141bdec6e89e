//! The money operations on SQLite: statement by statement inside one write transaction
//! (`BEGIN IMMEDIATE`, so writers take turns). The account row is read, the model
//! (`ledger::model::step`) decides, and one UPDATE writes its effects; the entry, the
//! movements and the key follow. The PostgreSQL functions in `src/store/sql/money.sql`
//! repeat the rule for one round trip; the model test holds both to the model.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use uuid::Uuid;

use super::model::{self, Effects, Standing};
use super::{Answer, Call, MoneyOp};
use crate::domain::account::{CreditLine, Refusal};
use crate::domain::movement::{Movement, MovementKind};
use crate::domain::user::{UserStatus, Username};
use crate::store::account_row::{FullRow, StateRow, state_from_row};
use crate::store::gate;
use crate::store::idempotency::{self, Lookup, Stored};
use crate::store::ledger::{self, EXTERNAL_FUNDING, UserAccount, account_id};
use crate::store::limits::{self, LimitReason};
use crate::store::prepared::prepared;
use crate::store::schema::users;
use crate::store::{DbConn, StoreError};

/// The gate, then the operation. The outer error means nothing may be kept; the inner one
/// is a refusal of the operation, which rolled back alone (a savepoint) while the request
/// stays counted in the budget, so the caller commits.
pub fn run(conn: &mut DbConn, call: &Call, op: &MoneyOp) -> Result<Result<Answer, StoreError>, StoreError> {
    gate::check(conn, call.user_id, &call.gate)?;
    if call.gate.budget.is_none() {
        // Nothing to keep on a refusal: no savepoint needed.
        return run_op(conn, call, op).map(Ok);
    }
    match conn.transaction(|c| run_op(c, call, op)) {
        Err(refused @ StoreError::Refused(_)) => Ok(Err(refused)),
        other => other.map(Ok),
    }
}

fn run_op(conn: &mut DbConn, call: &Call, op: &MoneyOp) -> Result<Answer, StoreError> {
    match idempotency::lookup(conn, call.user_id, &call.key, &call.request_hash)? {
        Lookup::Replay(Stored::Entry(id)) => return Ok(Answer::Replay(ledger::movement(conn, call.user_id, &id)?)),
        Lookup::Replay(Stored::Body(response)) => return Ok(Answer::Stored(response)),
        Lookup::Replay(Stored::Purchase(_)) | Lookup::Mismatch => return Ok(Answer::Mismatch),
        Lookup::Absent => {}
    }
    let movement = match op {
        MoneyOp::Transfer { to, note, .. } => {
            transfer(conn, call, to, op, note.as_ref().map(|n| n.as_str().to_owned()))?
        }
        MoneyOp::Repayment(amount) => super::credit_sqlite::repay(conn, call.user_id, *amount, call.now)?,
        _ => single(conn, call, op)?,
    };
    idempotency::save_entry(conn, call.user_id, &call.key, &call.request_hash, movement.id, call.now)?;
    Ok(Answer::Fresh(movement))
}

/// What the model reads about the caller, as this write transaction sees it: SQLite takes
/// writers in turn, so nothing changes between this read and the write that follows. The
/// velocity counts are read only where the operation has a cap to check.
pub(crate) fn standing(conn: &mut DbConn, call: &Call, op: &MoneyOp) -> Result<Standing, StoreError> {
    let mut standing = standing_row(conn, call.user_id)?;
    if let (MoneyOp::Withdrawal(_) | MoneyOp::Transfer { .. }, Some(_)) = (op, call.limits.outflow_24h_minor) {
        standing.outflow_used_minor = crate::store::rate::outflow_used(conn, call.user_id, call.now)?;
    }
    if let (MoneyOp::VaultUnlock(_), Some(cap)) = (op, call.limits.unlocks_per_day) {
        standing.unlocks_today = unlocks_today(conn, &call.user_id.to_string(), call.now, cap)?;
    }
    Ok(standing)
}

/// The account row, the overdue count and the status in one statement (velocity counts
/// left at zero: for operations without a cap).
pub(crate) fn standing_row(conn: &mut DbConn, user_id: Uuid) -> Result<Standing, StoreError> {
    let uid = user_id.to_string();
    let sql = "SELECT m.wallet_minor, m.vault_minor, m.line, m.general_limit_minor, m.held_minor, m.principal_minor, \
               m.fees_minor, m.late_fees_minor, m.overdue_count, u.status \
               FROM money_accounts m JOIN users u ON u.id = m.user_id WHERE m.user_id = ?";
    type Row = (StateRow, i64, String);
    let (row, overdue_count, status): Row =
        prepared::<((BigInt, BigInt, Text, BigInt, BigInt, BigInt, BigInt, BigInt), BigInt, Text)>(sql)
            .text(&uid)
            .get_result(conn)?;
    let status = UserStatus::from_db(&status).ok_or_else(|| StoreError::Corrupt(format!("users.status {status}")))?;
    let account = state_from_row(row)?;
    Ok(Standing { account, status, overdue_count, outflow_used_minor: 0, unlocks_today: 0 })
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
fn decided(conn: &mut DbConn, call: &Call, op: &MoneyOp) -> Result<(Effects, FullRow), StoreError> {
    let standing = standing(conn, call, op)?;
    let effects = model::step(&standing, op.rule(), &call.limits).map_err(StoreError::Refused)?;
    let row = write_effects(conn, &call.user_id.to_string(), &effects)?;
    if effects.outflow_minor > 0 {
        crate::store::rate::count_outflow(conn, call.user_id, effects.outflow_minor, call.now)?;
    }
    Ok((effects, row))
}

/// Deposit, withdrawal, lock or unlock.
fn single(conn: &mut DbConn, call: &Call, op: &MoneyOp) -> Result<Movement, StoreError> {
    let (user_id, x, now) = (call.user_id, op.amount().minor(), call.now);
    let (wallet, vault) = (account_id(user_id, UserAccount::Wallet), account_id(user_id, UserAccount::Vault));
    let (kind, legs): (MovementKind, [(String, i64); 2]) = match op {
        MoneyOp::Deposit(_) => (MovementKind::Deposit, [(EXTERNAL_FUNDING.to_owned(), -x), (wallet, x)]),
        MoneyOp::Withdrawal(_) => (MovementKind::Withdrawal, [(wallet, -x), (EXTERNAL_FUNDING.to_owned(), x)]),
        MoneyOp::VaultLock(_) => (MovementKind::VaultLock, [(wallet, -x), (vault, x)]),
        MoneyOp::VaultUnlock(_) => (MovementKind::VaultUnlock, [(vault, -x), (wallet, x)]),
        MoneyOp::Transfer { .. } | MoneyOp::Repayment(_) => unreachable!("these have their own paths"),
    };
    let (_, row) = decided(conn, call, op)?;
    let state = state_from_row(row.0.clone())?;
    if kind == MovementKind::VaultUnlock {
        crate::store::score::lower_vault_floor(conn, user_id)?;
    }
    if state.line == CreditLine::Secured && matches!(kind, MovementKind::VaultLock | MovementKind::VaultUnlock) {
        // On a secured line the limit is the vault: a vault change is a limit change.
        let (before, reason) = if kind == MovementKind::VaultLock {
            (state.vault_minor - x, LimitReason::VaultLock)
        } else {
            (state.vault_minor + x, LimitReason::VaultUnlock)
        };
        limits::record(conn, user_id, state.line, before, state.vault_minor, reason, now)?;
    }
    let entry = ledger::post_entry(conn, kind.as_str(), Some(user_id), now, &legs)?;
    let view = ledger::View { kind, amount_minor: x, counterparty: None, note: None, now };
    let status = match op {
        MoneyOp::Withdrawal(_) | MoneyOp::VaultUnlock(_) => UserStatus::Active,
        _ => crate::store::users::status(conn, user_id)?,
    };
    ledger::record_after(conn, user_id, entry, view, status, &row)
}

/// Moves money between two wallets: the recipient is found first (unknown and self are
/// refused from the name), then the model decides for the sender.
fn transfer(
    conn: &mut DbConn,
    call: &Call,
    to: &Username,
    op: &MoneyOp,
    note: Option<String>,
) -> Result<Movement, StoreError> {
    let (from, x, now) = (call.user_id, op.amount().minor(), call.now);
    let parties: Vec<(String, String, String)> = users::table
        .filter(users::username.eq(to.as_str()).or(users::id.eq(from.to_string())))
        .select((users::id, users::username, users::status))
        .load(conn)?;
    let sender_name = parties
        .iter()
        .find(|(id, _, _)| *id == from.to_string())
        .map(|(_, name, _)| name.clone())
        .ok_or_else(|| StoreError::Corrupt(format!("sender {from} has no user row")))?;
    let Some((recipient, _, recipient_status)) = parties.iter().find(|(_, name, _)| name == to.as_str()).cloned()
    else {
        return Err(StoreError::Refused(Refusal::RecipientNotFound));
    };
    let to_id = Uuid::parse_str(&recipient).map_err(|_| StoreError::Corrupt(format!("users.id {recipient}")))?;
    if to_id == from {
        return Err(StoreError::Refused(Refusal::SelfTransfer));
    }
    let (effects, sent) = decided(conn, call, op)?;
    let received =
        write_effects(conn, &recipient, &Effects { wallet_minor: -effects.wallet_minor, ..Effects::default() })?;
    let recipient_status = UserStatus::from_db(&recipient_status)
        .ok_or_else(|| StoreError::Corrupt(format!("users.status of {recipient}")))?;
    let legs = [(account_id(from, UserAccount::Wallet), -x), (account_id(to_id, UserAccount::Wallet), x)];
    let id = ledger::post_entry(conn, "transfer", Some(from), now, &legs)?;
    let out = ledger::View {
        kind: MovementKind::TransferOut,
        amount_minor: x,
        counterparty: Some(to.to_string()),
        note: note.clone(),
        now,
    };
    let outgoing = ledger::record_after(conn, from, id, out, UserStatus::Active, &sent)?;
    let incoming =
        ledger::View { kind: MovementKind::TransferIn, amount_minor: x, counterparty: Some(sender_name), note, now };
    ledger::record_after(conn, to_id, id, incoming, recipient_status, &received)?;
    Ok(outgoing)
}

/// Group commit on SQLite: the whole batch in one write transaction (one commit, one WAL
/// write of each page it touched), each operation inside its own savepoint so a refusal
/// undoes that operation only.
pub fn run_batch(conn: &mut DbConn, batch: &[(Call, MoneyOp)], max_retries: u32) -> Vec<Result<Answer, StoreError>> {
    let mut answers = Vec::with_capacity(batch.len());
    let committed = crate::store::transaction(conn, max_retries, |c| {
        answers.clear();
        for (call, op) in batch {
            answers.push(c.transaction::<_, StoreError, _>(|c| run(c, call, op)).and_then(|answer| answer));
        }
        Ok(())
    });
    match committed {
        Ok(()) => answers,
        // Nothing of the batch was written.
        Err(e) => {
            batch.iter().map(|_| Err(StoreError::Unavailable(format!("the batch did not commit: {e}")))).collect()
        }
    }
}
