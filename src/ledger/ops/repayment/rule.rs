//! A repayment's rule. A frozen customer may repay: debt is debt, and paying it moves no
//! money out of reach.

use crate::domain::account::{Refusal, Source};
use crate::ledger::standing::{Effects, Standing};

/// Pays late fees first, then billed fees, then principal; refuses when nothing is owed,
/// more than is owed, or more than the wallet holds (in that order).
pub fn repay(s: &Standing, x: i64) -> Result<Effects, Refusal> {
    let a = &s.account;
    let owed = a.principal_minor + a.fees_minor + a.late_fees_minor;
    if owed == 0 {
        return Err(Refusal::NothingToRepay);
    }
    if x > owed {
        return Err(Refusal::Overpayment { owed_minor: owed });
    }
    if a.wallet_minor < x {
        return Err(Refusal::InsufficientFunds { from: Source::Wallet, balance_minor: a.wallet_minor });
    }
    let late = x.min(a.late_fees_minor);
    let fees = (x - late).min(a.fees_minor);
    let principal = x - late - fees;
    Ok(Effects {
        wallet_minor: -x,
        late_fees_minor: -late,
        fees_minor: -fees,
        principal_minor: -principal,
        ..Effects::default()
    })
}
