//! The money rules, gathered: `step` says what each operation a customer asks for does to
//! their account, or why it is refused, from the account as it stands. No I/O. Each rule is
//! written once, in its operation's folder (`ops/<operation>/rule.rs`); the order of its
//! checks is part of it, since it decides which refusal a request gets.
//!
//! SQLite's statements decide with it (they hold the database while they read, decide and
//! write); the PL/pgSQL functions (`ops/<operation>/pg.sql`) repeat it so a request is one
//! round trip, and the model test (`tests/api/model_based`) drives both backends through
//! HTTP with random operations and holds every answer and balance against `step`.

use super::ops::{payoff, purchase, repayment, transfer, wallet};
pub use super::standing::{Effects, PayoffFound, PurchaseFound, Standing};
use crate::domain::account::Refusal;
use crate::domain::limits::VelocityLimits;

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
    /// Pays one purchase off: exactly what it owes (`amount`), from the wallet.
    Payoff {
        found: Option<PayoffFound>,
        amount: i64,
    },
    /// A purchase hold at a merchant that exists.
    Hold(i64),
    Capture(Option<PurchaseFound>),
    Void(Option<PurchaseFound>),
}

/// Decides one operation: the effects to write, or the refusal to answer.
pub fn step(s: &Standing, op: Op, limits: &VelocityLimits) -> Result<Effects, Refusal> {
    match op {
        Op::Deposit(x) => Ok(wallet::rule::deposit(x)),
        Op::Withdrawal(x) => wallet::rule::withdrawal(s, x, limits),
        Op::VaultLock(x) => wallet::rule::vault_lock(s, x),
        Op::VaultUnlock(x) => wallet::rule::vault_unlock(s, x, limits),
        Op::TransferOut(x) => transfer::rule::transfer_out(s, x, limits),
        Op::Repayment(x) => repayment::rule::repay(s, x),
        Op::Payoff { found, amount } => payoff::rule::payoff(s, found, amount),
        Op::Hold(x) => purchase::rule::hold(s, x),
        Op::Capture(found) => purchase::rule::capture(s, found),
        Op::Void(found) => purchase::rule::void(found),
    }
}

#[cfg(test)]
mod tests;
