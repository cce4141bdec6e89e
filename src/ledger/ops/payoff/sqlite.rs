//! A payoff on SQLite: the purchase's unpaid parts read, the model decides (`rule.rs`), the
//! parts' allocation must take what the model took, then one entry pays them (the repayment's
//! writing, `store::credit::pay_debt`).

use uuid::Uuid;

use crate::domain::account::Source;
use crate::domain::credit;
use crate::domain::money::Amount;
use crate::domain::movement::{Movement, MovementKind};
use crate::ledger::request::Call;
use crate::ledger::standing::PayoffFound;
use crate::ledger::{account, model};
use crate::store::credit::pay_debt;
use crate::store::purchases::purchase_debt;
use crate::store::{DbConn, StoreError};

/// Pays the purchase's late fees, billed fees and principal from the wallet, all of them:
/// its parts turn `paid` (a fee not billed yet is forgiven, as any repayment in full does).
pub(crate) fn apply(conn: &mut DbConn, call: &Call, purchase: Uuid, amount: Amount) -> Result<Movement, StoreError> {
    let standing = account::standing_row(conn, call.user_id)?;
    let mut parts = purchase_debt(conn, call.user_id, purchase)?;
    let found = parts.as_deref().map(PayoffFound::of);
    let x = amount.minor();
    let effects =
        model::step(&standing, model::Op::Payoff { found, amount: x }, &call.limits).map_err(StoreError::Refused)?;
    let parts = parts.as_mut().expect("the model refuses a purchase not found");
    let allocation = credit::allocate(parts, x)
        .map_err(|r| StoreError::Corrupt(format!("the parts refuse a payoff of {x}: {r:?}")))?;
    let taken = (-effects.late_fees_minor, -effects.fees_minor, -effects.principal_minor);
    if taken != (allocation.late_fees_minor, allocation.fees_minor, allocation.principal_minor) {
        return Err(StoreError::Corrupt(format!("purchase {purchase}: the model and the parts disagree on {x}")));
    }
    pay_debt(conn, call.user_id, parts, &allocation, Source::Wallet, MovementKind::Repayment, call.now)
}
