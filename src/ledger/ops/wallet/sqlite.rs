//! Deposits, withdrawals, vault locks and unlocks on SQLite: the model decides (`rule.rs`),
//! one UPDATE writes its effects, then the limit history, the entry and the movement.

use crate::domain::account::CreditLine;
use crate::domain::movement::{Movement, MovementKind};
use crate::domain::user::UserStatus;
use crate::ledger::account::decided;
use crate::ledger::request::{Call, MoneyOp};
use crate::store::account_row::state_from_row;
use crate::store::ledger::{self, EXTERNAL_FUNDING, UserAccount, account_id};
use crate::store::limits::{self, LimitReason};
use crate::store::{DbConn, StoreError};

/// Deposit, withdrawal, lock or unlock.
pub(crate) fn apply(conn: &mut DbConn, call: &Call, op: &MoneyOp) -> Result<Movement, StoreError> {
    let (user_id, x, now) = (call.user_id, op.amount().minor(), call.now);
    let (wallet, vault) = (account_id(user_id, UserAccount::Wallet), account_id(user_id, UserAccount::Vault));
    let (kind, legs): (MovementKind, [(String, i64); 2]) = match op {
        MoneyOp::Deposit(_) => (MovementKind::Deposit, [(EXTERNAL_FUNDING.to_owned(), -x), (wallet, x)]),
        MoneyOp::Withdrawal(_) => (MovementKind::Withdrawal, [(wallet, -x), (EXTERNAL_FUNDING.to_owned(), x)]),
        MoneyOp::VaultLock(_) => (MovementKind::VaultLock, [(wallet, -x), (vault, x)]),
        MoneyOp::VaultUnlock(_) => (MovementKind::VaultUnlock, [(vault, -x), (wallet, x)]),
        MoneyOp::Transfer { .. } | MoneyOp::Repayment(_) | MoneyOp::Payoff { .. } => {
            unreachable!("these have their own paths")
        }
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
