//! A transfer's rule, for the sender (the recipient was found by name first: an unknown
//! name and oneself are refused before this). The recipient's wallet gains what the
//! sender's loses, whatever the recipient's status.

use crate::domain::account::Refusal;
use crate::domain::limits::VelocityLimits;
use crate::ledger::ops::wallet::rule::money_out;
use crate::ledger::standing::{Effects, Standing};

/// Money out of the sender's wallet, as a withdrawal: frozen, short, then the outflow cap.
pub fn transfer_out(s: &Standing, x: i64, limits: &VelocityLimits) -> Result<Effects, Refusal> {
    money_out(s, x, limits)
}
