//! The wallet's rules: money in is always accepted; money out needs an active customer, the
//! money, and room under the 24-hour outflow cap; the vault may not drop below what it
//! pledges on a secured line, nor be unlocked more often than the daily cap.

use crate::domain::account::{CreditLine, Refusal, Source};
use crate::domain::limits::{Velocity, VelocityLimits};
use crate::domain::user::UserStatus;
use crate::ledger::standing::{Effects, Standing};

/// A deposit has no rule: money in is accepted, even for a frozen customer.
pub fn deposit(x: i64) -> Effects {
    Effects { wallet_minor: x, ..Effects::default() }
}

/// Locking savings is allowed when frozen (money kept, not moved out of reach).
pub fn vault_lock(s: &Standing, x: i64) -> Result<Effects, Refusal> {
    if s.account.wallet_minor < x {
        return Err(wallet_short(s));
    }
    Ok(Effects { wallet_minor: -x, vault_minor: x, ..Effects::default() })
}

pub fn withdrawal(s: &Standing, x: i64, limits: &VelocityLimits) -> Result<Effects, Refusal> {
    money_out(s, x, limits)
}

/// Money leaving the wallet on the customer's own initiative (a withdrawal, a transfer
/// out): refused when frozen, then when short, then past the 24-hour outflow cap.
pub fn money_out(s: &Standing, x: i64, limits: &VelocityLimits) -> Result<Effects, Refusal> {
    if s.status == UserStatus::Frozen {
        return Err(Refusal::AccountFrozen);
    }
    if s.account.wallet_minor < x {
        return Err(wallet_short(s));
    }
    if let Some(cap) = limits.outflow_24h_minor
        && s.outflow_used_minor + x > cap
    {
        return Err(Refusal::VelocityLimitExceeded {
            velocity: Velocity::Outflow24h,
            used: s.outflow_used_minor,
            limit: cap,
        });
    }
    Ok(Effects { wallet_minor: -x, outflow_minor: x, ..Effects::default() })
}

/// On a secured line the vault may not drop below the exposure it pledges.
pub fn vault_unlock(s: &Standing, x: i64, limits: &VelocityLimits) -> Result<Effects, Refusal> {
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

fn wallet_short(s: &Standing) -> Refusal {
    Refusal::InsufficientFunds { from: Source::Wallet, balance_minor: s.account.wallet_minor }
}
