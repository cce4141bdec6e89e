//! A payoff's rule: a repayment limited to one purchase, of exactly what it owes. A frozen
//! customer may pay off: debt is debt, and paying it moves no money out of reach.

use crate::domain::account::{Refusal, Source};
use crate::ledger::standing::{Effects, PayoffFound, Standing};

/// Refuses a purchase that is not the caller's, one that owes nothing, an amount that is not
/// the quote (the new quote is named) and more than the wallet holds (in that order); else
/// pays the purchase's late fees, billed fees and principal.
pub fn payoff(s: &Standing, found: Option<PayoffFound>, x: i64) -> Result<Effects, Refusal> {
    let Some(owed) = found else {
        return Err(Refusal::NotFound("purchase"));
    };
    let quote = owed.owed_minor();
    if quote == 0 {
        return Err(Refusal::NothingToRepay);
    }
    if x != quote {
        return Err(Refusal::PayoffQuoteChanged { payoff_minor: quote });
    }
    let wallet = s.account.wallet_minor;
    if wallet < x {
        return Err(Refusal::InsufficientFunds { from: Source::Wallet, balance_minor: wallet });
    }
    Ok(Effects {
        wallet_minor: -x,
        late_fees_minor: -owed.late_fees_minor,
        fees_minor: -owed.fees_minor,
        principal_minor: -owed.principal_minor,
        ..Effects::default()
    })
}
