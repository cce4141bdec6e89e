//! The money operations on SQLite: statement by statement inside one write transaction
//! (`BEGIN IMMEDIATE`, so writers take turns). Each rule is one conditional UPDATE of the
//! account row; the entry, the movements and the key follow. Twin of the functions in
//! `src/store/sql/money.sql` (PostgreSQL).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use uuid::Uuid;

use super::{Answer, Call, FullRow, MoneyOp, state_from_row};
use crate::domain::account::{CreditLine, Refusal};
use crate::domain::limits::Velocity;
use crate::domain::money::Amount;
use crate::domain::movement::{Movement, MovementKind};
use crate::domain::user::{UserStatus, Username};
use crate::store::gate;
use crate::store::idempotency::{self, Lookup, Stored};
use crate::store::ledger::{self, EXTERNAL_FUNDING, UserAccount, account_id};
use crate::store::limits::{self, LimitReason};
use crate::store::prepared::{Prepared, prepared};
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
    let (user_id, amount, now) = (call.user_id, op.amount(), call.now);
    let movement = match op {
        MoneyOp::Transfer { to, note, .. } => {
            transfer(conn, user_id, to, amount, note.as_ref().map(|n| n.as_str().to_owned()), now)?
        }
        MoneyOp::Repayment(_) => crate::store::credit::repay(conn, user_id, amount, now)?,
        _ => single(conn, user_id, op, amount, now)?,
    };
    check_velocity(conn, call, &movement)?;
    idempotency::save_entry(conn, user_id, &call.key, &call.request_hash, movement.id, call.now)?;
    Ok(Answer::Fresh(movement))
}

/// The velocity caps, checked with the movement just written (the write transaction holds
/// the database, so concurrent requests take turns); a refusal rolls the movement back.
/// Twin of `vl_check_outflow` and `vl_check_unlocks`.
fn check_velocity(conn: &mut DbConn, call: &Call, movement: &Movement) -> Result<(), StoreError> {
    match movement.kind {
        MovementKind::Withdrawal | MovementKind::TransferOut => {
            crate::store::rate::check_outflow(conn, call.user_id, movement.amount_minor, call.now, call.limits)
        }
        MovementKind::VaultUnlock => check_unlocks(conn, call),
        _ => Ok(()),
    }
}

fn check_unlocks(conn: &mut DbConn, call: &Call) -> Result<(), StoreError> {
    let Some(cap) = call.limits.unlocks_per_day else { return Ok(()) };
    let midnight = call.now.date_naive().and_hms_opt(0, 0, 0).expect("midnight exists");
    let user_id = call.user_id.to_string();
    // Counts at most one past the cap (index `movements_unlocks`): the cost of the check
    // stays bounded however many unlocks the day has seen.
    let sql = "SELECT count(*) FROM (SELECT 1 FROM movements \
               WHERE user_id = ? AND kind = 'vault_unlock' AND created_at >= ? LIMIT ?)";
    let with_this: i64 = prepared::<BigInt>(sql).text(&user_id).timestamp(midnight).bigint(cap + 1).get_result(conn)?;
    if with_this > cap {
        let refusal =
            Refusal::VelocityLimitExceeded { velocity: Velocity::UnlocksToday, used: with_this - 1, limit: cap };
        return Err(StoreError::Refused(refusal));
    }
    Ok(())
}

/// Why a conditional update matched no row: a frozen account (for what being frozen
/// forbids), or the rule itself, as on PostgreSQL.
fn refusal(conn: &mut DbConn, user_id: Uuid, op: &MoneyOp) -> StoreError {
    let status: Result<String, _> =
        users::table.filter(users::id.eq(user_id.to_string())).select(users::status).first(conn);
    match status {
        Ok(s) if s == UserStatus::Frozen.as_str() && !op.allowed_when_frozen() => {
            StoreError::Refused(Refusal::AccountFrozen)
        }
        Ok(_) => match super::account(conn, user_id) {
            Ok(state) => StoreError::Refused(op.refusal(&state)),
            Err(e) => e,
        },
        Err(e) => e.into(),
    }
}

/// The condition that the user (one more parameter) is active, to follow a WHERE clause.
macro_rules! active_sql {
    () => {
        "AND EXISTS (SELECT 1 FROM users WHERE id = ? AND status = 'active')"
    };
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

/// Deposit, withdrawal, lock or unlock: one conditional UPDATE decides and applies.
fn single(
    conn: &mut DbConn,
    user_id: Uuid,
    op: &MoneyOp,
    amount: Amount,
    now: DateTime<Utc>,
) -> Result<Movement, StoreError> {
    let (uid, x) = (user_id.to_string(), amount.minor());
    let (wallet, vault) = (account_id(user_id, UserAccount::Wallet), account_id(user_id, UserAccount::Vault));
    // Frozen: no money leaves on the user's own initiative (deposits and locks stay allowed).
    // Each statement binds its `?`s in order, right beside its text.
    let (update, kind, legs): (Prepared<FullRowSql>, MovementKind, [(String, i64); 2]) = match op {
        MoneyOp::Deposit(_) => (
            prepared(concat!(
                "UPDATE money_accounts SET wallet_minor = wallet_minor + ? WHERE user_id = ?",
                returning_full!()
            ))
            .bigint(x)
            .text(&uid),
            MovementKind::Deposit,
            [(EXTERNAL_FUNDING.to_owned(), -x), (wallet, x)],
        ),
        MoneyOp::Withdrawal(_) => (
            prepared(concat!(
                "UPDATE money_accounts SET wallet_minor = wallet_minor - ? WHERE user_id = ? AND wallet_minor >= ? ",
                active_sql!(),
                returning_full!()
            ))
            .bigint(x)
            .text(&uid)
            .bigint(x)
            .text(&uid),
            MovementKind::Withdrawal,
            [(wallet, -x), (EXTERNAL_FUNDING.to_owned(), x)],
        ),
        MoneyOp::VaultLock(_) => (
            prepared(concat!(
                "UPDATE money_accounts SET wallet_minor = wallet_minor - ?, vault_minor = vault_minor + ? ",
                "WHERE user_id = ? AND wallet_minor >= ?",
                returning_full!()
            ))
            .bigint(x)
            .bigint(x)
            .text(&uid)
            .bigint(x),
            MovementKind::VaultLock,
            [(wallet, -x), (vault, x)],
        ),
        // On a secured line the vault may not drop below the exposure it pledges; the check
        // and the change are one statement, so no concurrent spend can slip between them.
        MoneyOp::VaultUnlock(_) => (
            prepared(concat!(
                "UPDATE money_accounts SET vault_minor = vault_minor - ?, wallet_minor = wallet_minor + ? ",
                "WHERE user_id = ? AND vault_minor >= ? AND (line = 'general' ",
                "OR vault_minor - ? >= held_minor + principal_minor + fees_minor + late_fees_minor) ",
                active_sql!(),
                returning_full!()
            ))
            .bigint(x)
            .bigint(x)
            .text(&uid)
            .bigint(x)
            .bigint(x)
            .text(&uid),
            MovementKind::VaultUnlock,
            [(vault, -x), (wallet, x)],
        ),
        MoneyOp::Transfer { .. } | MoneyOp::Repayment(_) => unreachable!("these have their own paths"),
    };
    let row: Option<FullRow> = update.get_result(conn).optional()?;
    let Some(row) = row else { return Err(refusal(conn, user_id, op)) };
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

/// Moves money between two wallets. Rows are updated in user-id order so two opposite
/// transfers between the same users never deadlock.
fn transfer(
    conn: &mut DbConn,
    from: Uuid,
    to: &Username,
    amount: Amount,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<Movement, StoreError> {
    let x = amount.minor();
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

    let uid = from.to_string();
    let debit = |conn: &mut DbConn| -> Result<Option<FullRow>, StoreError> {
        let sql = concat!(
            "UPDATE money_accounts SET wallet_minor = wallet_minor - ? WHERE user_id = ? AND wallet_minor >= ? ",
            active_sql!(),
            returning_full!()
        );
        Ok(prepared::<FullRowSql>(sql).bigint(x).text(&uid).bigint(x).text(&uid).get_result(conn).optional()?)
    };
    let credit = |conn: &mut DbConn| -> Result<FullRow, StoreError> {
        let sql =
            concat!("UPDATE money_accounts SET wallet_minor = wallet_minor + ? WHERE user_id = ?", returning_full!());
        Ok(prepared::<FullRowSql>(sql).bigint(x).text(&recipient).get_result(conn)?)
    };
    let (sent, received) = if from < to_id {
        let sent = debit(conn)?;
        let received = if sent.is_some() { Some(credit(conn)?) } else { None };
        (sent, received)
    } else {
        let received = credit(conn)?;
        (debit(conn)?, Some(received))
    };
    let (Some(sent), Some(received)) = (sent, received) else {
        let op = MoneyOp::Transfer { to: to.clone(), amount, note: None };
        return Err(refusal(conn, from, &op));
    };
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
