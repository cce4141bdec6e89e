//! A user's money and credit numbers, and what the contract derives from them.

/// Upper bound of any stored balance, the one definition: the migrations' CHECKs and the live
/// SQL's `vl_balance_ceiling()` carry the same number (tests/api/live_sql.rs holds them to
/// it). Sums of a handful of them stay far below `i64::MAX`.
pub const BALANCE_CEILING_MINOR: i64 = 100_000_000_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum CreditLine {
    /// The limit equals the vault balance, and the vault pledges the exposure.
    Secured,
    /// An unsecured limit set by an admin; the vault backs nothing.
    General,
}

impl CreditLine {
    pub fn as_str(self) -> &'static str {
        match self {
            CreditLine::Secured => "secured",
            CreditLine::General => "general",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        match text {
            "secured" => Some(CreditLine::Secured),
            "general" => Some(CreditLine::General),
            _ => None,
        }
    }
}

/// Everything one rule may compare, as stored in one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountState {
    pub wallet_minor: i64,
    pub vault_minor: i64,
    pub line: CreditLine,
    pub general_limit_minor: i64,
    pub held_minor: i64,
    pub principal_minor: i64,
    pub fees_minor: i64,
    pub late_fees_minor: i64,
}

impl AccountState {
    /// Asserts the stored invariants every caller relies on.
    pub fn checked(self) -> Result<Self, String> {
        let fields = [
            ("wallet", self.wallet_minor),
            ("vault", self.vault_minor),
            ("general_limit", self.general_limit_minor),
            ("held", self.held_minor),
            ("principal", self.principal_minor),
            ("fees", self.fees_minor),
            ("late_fees", self.late_fees_minor),
        ];
        for (name, value) in fields {
            if !(0..=BALANCE_CEILING_MINOR).contains(&value) {
                return Err(format!("{name} = {value} is outside 0..={BALANCE_CEILING_MINOR}"));
            }
        }
        Ok(self)
    }

    pub fn limit_minor(&self) -> i64 {
        match self.line {
            CreditLine::Secured => self.vault_minor,
            CreditLine::General => self.general_limit_minor,
        }
    }

    /// Holds + unpaid principal + billed unpaid fees + unpaid late fees.
    pub fn exposure_minor(&self) -> i64 {
        // Each term is at most BALANCE_CEILING_MINOR (checked on load): no overflow.
        self.held_minor + self.principal_minor + self.fees_minor + self.late_fees_minor
    }

    /// May be negative after a downgrade; then nothing can be spent.
    pub fn available_minor(&self) -> i64 {
        self.limit_minor() - self.exposure_minor()
    }

    /// What the vault is holding back for the exposure.
    pub fn pledged_minor(&self) -> i64 {
        match self.line {
            CreditLine::Secured => self.vault_minor.min(self.exposure_minor()),
            CreditLine::General => 0,
        }
    }

    pub fn unlockable_minor(&self) -> i64 {
        self.vault_minor - self.pledged_minor()
    }
}

/// Where money for an operation would come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Wallet,
    Vault,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Wallet => "wallet",
            Source::Vault => "vault",
        }
    }
}

/// Why a money operation is refused. Each maps to one contract error code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the account is frozen")]
    AccountFrozen,
    #[error("not enough money in the {}", from.as_str())]
    InsufficientFunds { from: Source, balance_minor: i64 },
    #[error("the vault pledges what is owed")]
    VaultPledged { unlockable_minor: i64 },
    #[error("no user with that username")]
    RecipientNotFound,
    #[error("cannot transfer to yourself")]
    SelfTransfer,
    #[error("the purchase would take the exposure past the limit")]
    CreditLimitExceeded { available_minor: i64 },
    #[error("an installment is overdue")]
    AccountDelinquent,
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("the purchase is {0}")]
    InvalidState(&'static str),
    #[error("nothing is owed")]
    NothingToRepay,
    /// A payoff whose amount is no longer what paying the purchase off costs (the new quote).
    #[error("the payoff amount changed")]
    PayoffQuoteChanged { payoff_minor: i64 },
    #[error("more than is owed")]
    Overpayment { owed_minor: i64 },
    #[error("the score is below the upgrade threshold")]
    NotEligible { score: i64, threshold: i64, overdue: bool, frozen: bool },
    /// `used` and `limit` are minor units for the outflow cap, counts for unlocks.
    #[error("a velocity limit is reached")]
    VelocityLimitExceeded { velocity: super::limits::Velocity, used: i64, limit: i64 },
    /// An admin action this admin may not take; the text says which.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The credit request was already decided (its state is named).
    #[error("the credit request is already {0}")]
    AlreadyDecided(&'static str),
    /// A freeze or unfreeze that would change nothing (the status is named).
    #[error("the user is already {0}")]
    StatusUnchanged(&'static str),
    /// A refund past what is left to refund (a hold is refunded whole).
    #[error("more than can be refunded")]
    RefundTooLarge { refundable_minor: i64, hold: bool },
    /// The purchase is a bill-installment plan: no merchant can refund it.
    #[error("not a merchant purchase")]
    NotRefundable,
    /// The amount cannot be split into that many parts of at least one minor unit.
    #[error("too small to split into that many parts")]
    TooSmallToSplit,
    /// A bill was converted to installments once already.
    #[error("the bill was converted already")]
    AlreadyConverted,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(line: CreditLine, vault: i64, limit: i64, held: i64, principal: i64) -> AccountState {
        AccountState {
            wallet_minor: 0,
            vault_minor: vault,
            line,
            general_limit_minor: limit,
            held_minor: held,
            principal_minor: principal,
            fees_minor: 5,
            late_fees_minor: 5,
        }
    }

    #[test]
    fn secured_line_follows_the_vault() {
        let s = state(CreditLine::Secured, 1_000, 50_000, 300, 200);
        assert_eq!(s.limit_minor(), 1_000);
        assert_eq!(s.exposure_minor(), 510);
        assert_eq!(s.available_minor(), 490);
        assert_eq!(s.pledged_minor(), 510);
        assert_eq!(s.unlockable_minor(), 490);
    }

    #[test]
    fn pledge_never_exceeds_the_vault() {
        let s = state(CreditLine::Secured, 100, 0, 300, 0);
        assert_eq!(s.pledged_minor(), 100);
        assert_eq!(s.unlockable_minor(), 0);
        assert_eq!(s.available_minor(), -210);
    }

    #[test]
    fn general_line_frees_the_vault() {
        let s = state(CreditLine::General, 1_000, 5_000, 300, 200);
        assert_eq!(s.limit_minor(), 5_000);
        assert_eq!(s.pledged_minor(), 0);
        assert_eq!(s.unlockable_minor(), 1_000);
        assert_eq!(s.available_minor(), 4_490);
    }

    #[test]
    fn stored_values_are_range_checked() {
        assert!(state(CreditLine::Secured, -1, 0, 0, 0).checked().is_err());
        assert!(state(CreditLine::Secured, BALANCE_CEILING_MINOR + 1, 0, 0, 0).checked().is_err());
        assert!(state(CreditLine::Secured, BALANCE_CEILING_MINOR, 0, 0, 0).checked().is_ok());
    }
}
