//! The money rules, written once: what each operation a customer asks for does to their
//! account, or why it is refused, from the account as it stands. No I/O.
//!
//! The SQLite path decides with `step` (it holds the database while it reads, decides and
//! writes); the PL/pgSQL functions (`src/store/sql/`) repeat the same rules so a request is
//! one round trip, and the model test (`tests/api/model_based.rs`) drives both backends
//! through HTTP with random operations and holds every answer and balance against `step`.
//! The order of the checks is part of the rule: it decides which refusal a request gets.

use crate::domain::account::{AccountState, CreditLine, Refusal, Source};
use crate::domain::credit::PurchaseState;
use crate::domain::limits::{Velocity, VelocityLimits};
use crate::domain::user::UserStatus;

/// What a rule may read about the caller, as stored under the account's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub account: AccountState,
    pub status: UserStatus,
    /// The caller's installments overdue now.
    pub overdue_count: i64,
    /// Outflow (withdrawals and transfers out) the 24-hour cap counts now.
    pub outflow_used_minor: i64,
    /// Vault unlocks today (UTC), as the daily cap counts them.
    pub unlocks_today: i64,
}

/// A purchase as a buyer's operation on it finds it (`None` in `Op`: not theirs, or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PurchaseFound {
    pub state: PurchaseState,
    pub amount_minor: i64,
}

/// One operation a customer asks for; every amount is positive (checked at the edge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Deposit(i64),
    Withdrawal(i64),
    VaultLock(i64),
    VaultUnlock(i64),
    /// To another customer who exists (`recipient_not_found` and `self_transfer` are
    /// decided first, from the username alone).
    TransferOut(i64),
    /// Pays late fees, then billed fees, then principal (oldest due first within each).
    Repayment(i64),
    /// A purchase hold at a merchant that exists.
    Hold(i64),
    Capture(Option<PurchaseFound>),
    Void(Option<PurchaseFound>),
}

/// What an accepted operation changes, as signed deltas of the account row, and what the
/// velocity caps count. A transfer's recipient gains `-wallet_minor` (not part of this row).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    pub wallet_minor: i64,
    pub vault_minor: i64,
    pub held_minor: i64,
    pub principal_minor: i64,
    pub fees_minor: i64,
    pub late_fees_minor: i64,
    /// Counted toward the 24-hour outflow cap.
    pub outflow_minor: i64,
    /// Counted toward the daily unlock cap.
    pub unlocks: i64,
}

impl Effects {
    /// The account after the effects; an error if a balance would leave its range (the
    /// database's CHECK refuses it too: a deposit past the balance ceiling).
    pub fn applied_to(&self, a: AccountState) -> Result<AccountState, String> {
        let after = AccountState {
            wallet_minor: a.wallet_minor + self.wallet_minor,
            vault_minor: a.vault_minor + self.vault_minor,
            held_minor: a.held_minor + self.held_minor,
            principal_minor: a.principal_minor + self.principal_minor,
            fees_minor: a.fees_minor + self.fees_minor,
            late_fees_minor: a.late_fees_minor + self.late_fees_minor,
            ..a
        };
        after.checked()
    }
}

/// Decides one operation: the effects to write, or the refusal to answer.
pub fn step(s: &Standing, op: Op, limits: &VelocityLimits) -> Result<Effects, Refusal> {
    let a = &s.account;
    let frozen = s.status == UserStatus::Frozen;
    let wallet_short = || Refusal::InsufficientFunds { from: Source::Wallet, balance_minor: a.wallet_minor };
    match op {
        Op::Deposit(x) => Ok(Effects { wallet_minor: x, ..Effects::default() }),
        Op::VaultLock(x) if a.wallet_minor < x => Err(wallet_short()),
        Op::VaultLock(x) => Ok(Effects { wallet_minor: -x, vault_minor: x, ..Effects::default() }),
        Op::Withdrawal(x) | Op::TransferOut(x) => {
            if frozen {
                return Err(Refusal::AccountFrozen);
            }
            if a.wallet_minor < x {
                return Err(wallet_short());
            }
            outflow_fits(s, x, limits)?;
            Ok(Effects { wallet_minor: -x, outflow_minor: x, ..Effects::default() })
        }
        Op::VaultUnlock(x) => unlock(s, x, limits),
        Op::Repayment(x) => repay(a, x),
        Op::Hold(x) => {
            if frozen {
                return Err(Refusal::AccountFrozen);
            }
            if s.overdue_count > 0 {
                return Err(Refusal::AccountDelinquent);
            }
            if a.available_minor() < x {
                return Err(Refusal::CreditLimitExceeded { available_minor: a.available_minor() });
            }
            Ok(Effects { held_minor: x, ..Effects::default() })
        }
        Op::Capture(found) => {
            let x = authorized(found, frozen)?;
            Ok(Effects { held_minor: -x, principal_minor: x, ..Effects::default() })
        }
        Op::Void(found) => {
            let x = authorized(found, false)?;
            Ok(Effects { held_minor: -x, ..Effects::default() })
        }
    }
}

fn outflow_fits(s: &Standing, x: i64, limits: &VelocityLimits) -> Result<(), Refusal> {
    match limits.outflow_24h_minor {
        Some(cap) if s.outflow_used_minor + x > cap => Err(Refusal::VelocityLimitExceeded {
            velocity: Velocity::Outflow24h,
            used: s.outflow_used_minor,
            limit: cap,
        }),
        _ => Ok(()),
    }
}

/// On a secured line the vault may not drop below the exposure it pledges.
fn unlock(s: &Standing, x: i64, limits: &VelocityLimits) -> Result<Effects, Refusal> {
    let a = &s.account;
    if s.status == UserStatus::Frozen {
        return Err(Refusal::AccountFrozen);
    }
    if a.vault_minor < x {
        return Err(Refusal::InsufficientFunds { from: Source::Vault, balance_minor: a.vault_minor });
    }
    if a.line == CreditLine::Secured && a.vault_minor - x < a.exposure_minor() {
        return Err(Refusal::VaultPledged { unlockable_minor: a.unlockable_minor() });
    }
    if let Some(cap) = limits.unlocks_per_day
        && s.unlocks_today >= cap
    {
        let used = s.unlocks_today.min(cap);
        return Err(Refusal::VelocityLimitExceeded { velocity: Velocity::UnlocksToday, used, limit: cap });
    }
    Ok(Effects { wallet_minor: x, vault_minor: -x, unlocks: 1, ..Effects::default() })
}

/// A frozen customer may repay: debt is debt, and paying it moves no money out of reach.
fn repay(a: &AccountState, x: i64) -> Result<Effects, Refusal> {
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

/// The amount of a purchase still authorised. A frozen buyer may not capture (the check
/// comes first, for a purchase that is theirs), but may cancel.
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

#[cfg(test)]
mod tests;
