//! Money operations. Each is one conditional UPDATE of the caller's account row (the
//! rule and the change in one statement), one balanced journal entry and the movement
//! rows, all inside the caller's transaction.

use chrono::NaiveDateTime;
use diesel::dsl::exists;
use diesel::prelude::*;
use uuid::Uuid;

use super::ledger::{self, EXTERNAL_FUNDING, UserAccount, account_id};
use super::limits::{self, LimitReason};
use super::schema::{money_accounts as ma, users};
use super::score::Ctx;
use super::{DbConn, StoreError};
use crate::domain::account::{AccountState, CreditLine, Refusal, Source};
use crate::domain::money::Amount;
use crate::domain::movement::{Movement, MovementKind, Note};
use crate::domain::user::{UserStatus, Username};

/// The columns of the account row every operation returns (as `StateRow`).
macro_rules! state_columns {
    () => {
        (
            $crate::store::schema::money_accounts::wallet_minor,
            $crate::store::schema::money_accounts::vault_minor,
            $crate::store::schema::money_accounts::line,
            $crate::store::schema::money_accounts::general_limit_minor,
            $crate::store::schema::money_accounts::held_minor,
            $crate::store::schema::money_accounts::principal_minor,
            $crate::store::schema::money_accounts::fees_minor,
            $crate::store::schema::money_accounts::late_fees_minor,
        )
    };
}
pub(super) use state_columns;

pub type StateRow = (i64, i64, String, i64, i64, i64, i64, i64);
pub(super) type FullRow = (StateRow, NaiveDateTime);

pub fn state_from_row(row: StateRow) -> Result<AccountState, StoreError> {
    let (wallet, vault, line, general_limit, held, principal, fees, late_fees) = row;
    AccountState {
        wallet_minor: wallet,
        vault_minor: vault,
        line: CreditLine::from_db(&line).ok_or_else(|| StoreError::Corrupt(format!("credit line `{line}`")))?,
        general_limit_minor: general_limit,
        held_minor: held,
        principal_minor: principal,
        fees_minor: fees,
        late_fees_minor: late_fees,
    }
    .checked()
    .map_err(StoreError::Corrupt)
}

/// The account as stored now.
pub fn account(conn: &mut DbConn, user_id: Uuid) -> Result<AccountState, StoreError> {
    let row: StateRow = ma::table.filter(ma::user_id.eq(user_id.to_string())).select(state_columns!()).first(conn)?;
    state_from_row(row)
}

/// Why a conditional update matched no row: a frozen account, or the rule itself.
fn refusal(conn: &mut DbConn, user_id: Uuid, rule: impl FnOnce(&AccountState) -> Refusal) -> StoreError {
    let status: Result<String, _> =
        users::table.filter(users::id.eq(user_id.to_string())).select(users::status).first(conn);
    match status {
        Ok(s) if s == UserStatus::Frozen.as_str() => StoreError::Refused(Refusal::AccountFrozen),
        Ok(_) => match account(conn, user_id) {
            Ok(state) => StoreError::Refused(rule(&state)),
            Err(e) => e,
        },
        Err(e) => e.into(),
    }
}

/// Records the entry and the user's movement for an operation touching one user.
fn finish(
    conn: &mut DbConn,
    user_id: Uuid,
    kind: MovementKind,
    amount: Amount,
    ctx: &Ctx<'_>,
    legs: &[(String, i64)],
) -> Result<Movement, StoreError> {
    let entry = ledger::post_entry(conn, kind.as_str(), Some(user_id), ctx.now, legs)?;
    ledger::record(conn, user_id, entry, kind, amount.minor(), None, None, ctx)
}

/// On a secured line the limit is the vault: a vault change is a limit change.
fn vault_moved(conn: &mut DbConn, user_id: Uuid, row: &FullRow, delta: i64, ctx: &Ctx<'_>) -> Result<(), StoreError> {
    let state = state_from_row(row.0.clone())?;
    if state.line != CreditLine::Secured {
        return Ok(());
    }
    let reason = if delta > 0 { LimitReason::VaultLock } else { LimitReason::VaultUnlock };
    limits::record(conn, user_id, state.line, state.vault_minor - delta, state.vault_minor, reason, ctx.now)
}

macro_rules! active {
    ($uid:expr) => {
        exists(users::table.filter(users::id.eq($uid)).filter(users::status.eq(UserStatus::Active.as_str())))
    };
}

pub fn deposit(conn: &mut DbConn, user_id: Uuid, amount: Amount, ctx: &Ctx<'_>) -> Result<Movement, StoreError> {
    let (uid, x) = (user_id.to_string(), amount.minor());
    let row: Option<FullRow> = diesel::update(ma::table.filter(ma::user_id.eq(&uid)).filter(active!(&uid)))
        .set(ma::wallet_minor.eq(ma::wallet_minor + x))
        .returning((state_columns!(), ma::opened_at))
        .get_result(conn)
        .optional()?;
    if row.is_none() {
        return Err(refusal(conn, user_id, |_| Refusal::AccountFrozen));
    }
    let legs = [(account_id(user_id, UserAccount::Wallet), x), (EXTERNAL_FUNDING.to_owned(), -x)];
    finish(conn, user_id, MovementKind::Deposit, amount, ctx, &legs)
}

fn wallet_short(state: &AccountState) -> Refusal {
    Refusal::InsufficientFunds { from: Source::Wallet, balance_minor: state.wallet_minor }
}

pub fn withdraw(conn: &mut DbConn, user_id: Uuid, amount: Amount, ctx: &Ctx<'_>) -> Result<Movement, StoreError> {
    let (uid, x) = (user_id.to_string(), amount.minor());
    let row: Option<FullRow> =
        diesel::update(ma::table.filter(ma::user_id.eq(&uid)).filter(ma::wallet_minor.ge(x)).filter(active!(&uid)))
            .set(ma::wallet_minor.eq(ma::wallet_minor - x))
            .returning((state_columns!(), ma::opened_at))
            .get_result(conn)
            .optional()?;
    if row.is_none() {
        return Err(refusal(conn, user_id, wallet_short));
    }
    let legs = [(account_id(user_id, UserAccount::Wallet), -x), (EXTERNAL_FUNDING.to_owned(), x)];
    finish(conn, user_id, MovementKind::Withdrawal, amount, ctx, &legs)
}

pub fn lock(conn: &mut DbConn, user_id: Uuid, amount: Amount, ctx: &Ctx<'_>) -> Result<Movement, StoreError> {
    let (uid, x) = (user_id.to_string(), amount.minor());
    let row: Option<FullRow> =
        diesel::update(ma::table.filter(ma::user_id.eq(&uid)).filter(ma::wallet_minor.ge(x)).filter(active!(&uid)))
            .set((ma::wallet_minor.eq(ma::wallet_minor - x), ma::vault_minor.eq(ma::vault_minor + x)))
            .returning((state_columns!(), ma::opened_at))
            .get_result(conn)
            .optional()?;
    let Some(row) = row else { return Err(refusal(conn, user_id, wallet_short)) };
    vault_moved(conn, user_id, &row, x, ctx)?;
    let legs = [(account_id(user_id, UserAccount::Wallet), -x), (account_id(user_id, UserAccount::Vault), x)];
    finish(conn, user_id, MovementKind::VaultLock, amount, ctx, &legs)
}

/// On a secured line the vault may not drop below the exposure it pledges; the check and
/// the change are one statement, so no concurrent spend can slip between them.
pub fn unlock(conn: &mut DbConn, user_id: Uuid, amount: Amount, ctx: &Ctx<'_>) -> Result<Movement, StoreError> {
    let (uid, x) = (user_id.to_string(), amount.minor());
    let exposure = ma::held_minor + ma::principal_minor + ma::fees_minor + ma::late_fees_minor;
    let row: Option<FullRow> = diesel::update(
        ma::table
            .filter(ma::user_id.eq(&uid))
            .filter(ma::vault_minor.ge(x))
            .filter(ma::line.eq(CreditLine::General.as_str()).or((ma::vault_minor - x).ge(exposure)))
            .filter(active!(&uid)),
    )
    .set((ma::vault_minor.eq(ma::vault_minor - x), ma::wallet_minor.eq(ma::wallet_minor + x)))
    .returning((state_columns!(), ma::opened_at))
    .get_result(conn)
    .optional()?;
    let Some(row) = row else {
        return Err(refusal(conn, user_id, |s| {
            if s.vault_minor < x {
                Refusal::InsufficientFunds { from: Source::Vault, balance_minor: s.vault_minor }
            } else {
                Refusal::VaultPledged { unlockable_minor: s.unlockable_minor() }
            }
        }));
    };
    super::score::lower_vault_floor(conn, user_id)?;
    vault_moved(conn, user_id, &row, -x, ctx)?;
    let legs = [(account_id(user_id, UserAccount::Vault), -x), (account_id(user_id, UserAccount::Wallet), x)];
    finish(conn, user_id, MovementKind::VaultUnlock, amount, ctx, &legs)
}

/// Moves money between two wallets. Rows are updated in user-id order so two opposite
/// transfers between the same users never deadlock.
pub fn transfer(
    conn: &mut DbConn,
    from: Uuid,
    to: &Username,
    amount: Amount,
    note: Option<&Note>,
    ctx: &Ctx<'_>,
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
    let Some((recipient, _, _)) = parties.iter().find(|(_, name, _)| name == to.as_str()).cloned() else {
        return Err(StoreError::Refused(Refusal::RecipientNotFound));
    };
    let to_id = Uuid::parse_str(&recipient).map_err(|_| StoreError::Corrupt(format!("users.id {recipient}")))?;
    if to_id == from {
        return Err(StoreError::Refused(Refusal::SelfTransfer));
    }

    let uid = from.to_string();
    let debit = |conn: &mut DbConn| -> Result<Option<FullRow>, StoreError> {
        Ok(diesel::update(ma::table.filter(ma::user_id.eq(&uid)).filter(ma::wallet_minor.ge(x)).filter(active!(&uid)))
            .set(ma::wallet_minor.eq(ma::wallet_minor - x))
            .returning((state_columns!(), ma::opened_at))
            .get_result(conn)
            .optional()?)
    };
    let credit = |conn: &mut DbConn| -> Result<FullRow, StoreError> {
        Ok(diesel::update(ma::table.filter(ma::user_id.eq(&recipient)))
            .set(ma::wallet_minor.eq(ma::wallet_minor + x))
            .returning((state_columns!(), ma::opened_at))
            .get_result(conn)?)
    };
    let (sent, received) = if from < to_id {
        let sent = debit(conn)?;
        let received = if sent.is_some() { Some(credit(conn)?) } else { None };
        (sent, received)
    } else {
        let received = credit(conn)?;
        (debit(conn)?, Some(received))
    };
    if sent.is_none() || received.is_none() {
        return Err(refusal(conn, from, wallet_short));
    }
    let legs = [(account_id(from, UserAccount::Wallet), -x), (account_id(to_id, UserAccount::Wallet), x)];
    let id = ledger::post_entry(conn, "transfer", Some(from), ctx.now, &legs)?;
    let note = note.map(|n| n.as_str().to_owned());
    let outgoing =
        ledger::record(conn, from, id, MovementKind::TransferOut, x, Some(to.to_string()), note.clone(), ctx)?;
    ledger::record(conn, to_id, id, MovementKind::TransferIn, x, Some(sender_name), note, ctx)?;
    Ok(outgoing)
}
