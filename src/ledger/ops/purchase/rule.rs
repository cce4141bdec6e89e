//! A purchase's rules: a hold needs an active customer, nothing overdue and room under the
//! limit; a capture and a cancel need an authorised purchase of the buyer's.

use crate::domain::account::Refusal;
use crate::domain::credit::PurchaseState;
use crate::domain::user::UserStatus;
use crate::ledger::standing::{Effects, PurchaseFound, Standing};

/// Afterwards `exposure <= limit`; refused when frozen, then delinquent, then over.
pub fn hold(s: &Standing, x: i64) -> Result<Effects, Refusal> {
    if s.status == UserStatus::Frozen {
        return Err(Refusal::AccountFrozen);
    }
    if s.overdue_count > 0 {
        return Err(Refusal::AccountDelinquent);
    }
    let available = s.account.available_minor();
    if available < x {
        return Err(Refusal::CreditLimitExceeded { available_minor: available });
    }
    Ok(Effects { held_minor: x, ..Effects::default() })
}

/// The hold becomes principal owed. A frozen buyer may not capture (checked first, for a
/// purchase that is theirs).
pub fn capture(s: &Standing, found: Option<PurchaseFound>) -> Result<Effects, Refusal> {
    let x = authorized(found, s.status == UserStatus::Frozen)?;
    Ok(Effects { held_minor: -x, principal_minor: x, ..Effects::default() })
}

/// The hold is released; a frozen buyer may cancel.
pub fn void(found: Option<PurchaseFound>) -> Result<Effects, Refusal> {
    let x = authorized(found, false)?;
    Ok(Effects { held_minor: -x, ..Effects::default() })
}

fn authorized(found: Option<PurchaseFound>, frozen_refuses: bool) -> Result<i64, Refusal> {
    let Some(p) = found else { return Err(Refusal::NotFound("purchase")) };
    if frozen_refuses {
        return Err(Refusal::AccountFrozen);
    }
    if p.state != PurchaseState::Authorized {
        return Err(Refusal::InvalidState(p.state.as_str()));
    }
    Ok(p.amount_minor)
}
