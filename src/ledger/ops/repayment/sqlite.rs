//! A repayment on SQLite: the model decides (`rule.rs`), the parts' allocation
//! (`domain::credit::allocate`) must come to the same split, then one entry pays the debt.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::account::Source;
use crate::domain::credit;
use crate::domain::limits::VelocityLimits;
use crate::domain::money::Amount;
use crate::domain::movement::{Movement, MovementKind};
use crate::ledger::{account, model};
use crate::store::credit::{pay_debt, unpaid_installments};
use crate::store::{DbConn, StoreError};

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Pays from the wallet: late fees, then billed fees, then principal, oldest due first.
/// The model decides (a frozen user may repay: debt is debt); the parts' allocation must
/// come to what the model took from each kind of debt (SQLite's path).
pub(crate) fn apply(
    conn: &mut DbConn,
    user_id: Uuid,
    amount: Amount,
    now: DateTime<Utc>,
) -> Result<Movement, StoreError> {
    let standing = account::standing_row(conn, user_id)?;
    let x = amount.minor();
    let effects =
        model::step(&standing, model::Op::Repayment(x), &VelocityLimits::default()).map_err(StoreError::Refused)?;
    let mut items = unpaid_installments(conn, user_id)?;
    let allocation = credit::allocate(&items, x).map_err(|r| corrupt(format!("the parts refuse {x}: {r:?}")))?;
    let taken = (-effects.late_fees_minor, -effects.fees_minor, -effects.principal_minor);
    if taken != (allocation.late_fees_minor, allocation.fees_minor, allocation.principal_minor) {
        return Err(corrupt(format!("user {user_id}: the account row and the parts disagree on {x}: {taken:?}")));
    }
    pay_debt(conn, user_id, &mut items, &allocation, Source::Wallet, MovementKind::Repayment, now)
}
