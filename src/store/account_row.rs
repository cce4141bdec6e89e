//! The money account's row (`money_accounts`) as every operation reads or returns it: its
//! columns (`state_columns!`, `full_columns!`), their Rust types, and the account as stored now.

use diesel::prelude::*;
use uuid::Uuid;

use super::schema::money_accounts as ma;
use super::{DbConn, StoreError};
use crate::domain::account::{AccountState, CreditLine};

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
pub(crate) use state_columns;

/// The account row with everything a movement keeps: the state, when the account was
/// opened, and the credit history (as `full_columns!` selects it).
macro_rules! full_columns {
    () => {
        (
            $crate::store::account_row::state_columns!(),
            $crate::store::schema::money_accounts::opened_at,
            (
                $crate::store::schema::money_accounts::on_time_installments,
                $crate::store::schema::money_accounts::overdue_installments,
                $crate::store::schema::money_accounts::overdue_days,
                $crate::store::schema::money_accounts::collateral_settlements,
                $crate::store::schema::money_accounts::vault_floor_minor,
                $crate::store::schema::money_accounts::overdue_count,
            ),
        )
    };
}
pub(crate) use full_columns;

pub type StateRow = (i64, i64, String, i64, i64, i64, i64, i64);
/// On-time parts, overdue parts, overdue days, settlements, vault floor, parts overdue now.
pub type HistoryRow = (i64, i64, i64, i64, i64, i64);
pub type FullRow = (StateRow, chrono::NaiveDateTime, HistoryRow);

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
    account_and_overdue(conn, user_id).map(|(state, _)| state)
}

/// The account as stored now, and how many of the user's installments are overdue.
pub fn account_and_overdue(conn: &mut DbConn, user_id: Uuid) -> Result<(AccountState, i64), StoreError> {
    let (row, overdue): (StateRow, i64) = ma::table
        .filter(ma::user_id.eq(user_id.to_string()))
        .select((state_columns!(), ma::overdue_count))
        .first(conn)?;
    Ok((state_from_row(row)?, overdue))
}
