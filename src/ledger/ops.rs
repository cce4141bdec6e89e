//! One folder per money operation, each with its rule (`rule.rs`, pure: what it does to the
//! account or why it is refused), its PostgreSQL function (`pg.sql`, the same rule for one
//! round trip, applied as live SQL) and the call of it (`pg.rs`), and SQLite's statements
//! (`sqlite.rs`, deciding with the rule). `ledger::model::step` gathers the rules;
//! `Ledger::apply` picks the backend.

/// Deposits, withdrawals, vault locks and unlocks (`vl_move`).
pub mod wallet {
    pub(crate) mod pg;
    pub mod rule;
    pub(crate) mod sqlite;
}

/// Money from one customer's wallet to another's (`vl_transfer`).
pub mod transfer {
    pub(crate) mod pg;
    pub mod rule;
    pub(crate) mod sqlite;
}

/// Paying back what is owed on credit from the wallet (`vl_repay`).
pub mod repayment {
    pub(crate) mod pg;
    pub mod rule;
    pub(crate) mod sqlite;
}

/// Paying one purchase off from the wallet: a repayment limited to that purchase, of
/// exactly what it owes (`vl_payoff`).
pub mod payoff {
    pub(crate) mod pg;
    pub mod rule;
    pub(crate) mod sqlite;
}

/// A purchase on credit: the hold, its capture on receipt, its cancel (`vl_authorize`,
/// `vl_capture`, `vl_void`).
pub mod purchase {
    pub mod pg;
    pub mod rule;
    pub mod sqlite;
}
