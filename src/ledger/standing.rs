//! What every money rule reads and decides: the caller's standing, and the effects an
//! accepted operation has on their account. No I/O.

use crate::domain::account::AccountState;
use crate::domain::credit::{Installment, PurchaseState};
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

/// What one of the buyer's purchases owes now, as a payoff finds it: its unpaid principal,
/// billed unpaid fees and unpaid late fees (a fee not billed yet is not owed: paying the
/// principal off forgives it). `None` in `Op`: not theirs, or none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PayoffFound {
    pub principal_minor: i64,
    pub fees_minor: i64,
    pub late_fees_minor: i64,
}

impl PayoffFound {
    /// What the purchase's unpaid parts owe, by kind.
    pub fn of(parts: &[Installment]) -> Self {
        let sum = |owed: fn(&Installment) -> i64| parts.iter().map(owed).sum();
        PayoffFound {
            principal_minor: sum(Installment::principal_owed),
            fees_minor: sum(Installment::fee_owed),
            late_fees_minor: sum(Installment::late_fee_owed),
        }
    }

    /// What paying the purchase off costs: the quote.
    pub fn owed_minor(&self) -> i64 {
        self.principal_minor + self.fees_minor + self.late_fees_minor
    }
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
