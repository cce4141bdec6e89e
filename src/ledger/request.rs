//! What a customer's money request is (`MoneyOp`, `Call`) and how it is answered
//! (`Answer`): the words every operation and both backends share.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model;
use crate::domain::account::{AccountState, Refusal};
use crate::domain::limits::VelocityLimits;
use crate::domain::money::Amount;
use crate::domain::movement::{Movement, Note};
use crate::domain::user::{UserStatus, Username};
use crate::store::StoreError;
use crate::store::gate::Gate;
use crate::store::idempotency::Answered;

/// What the caller asks for.
#[derive(Clone, Debug)]
pub enum MoneyOp {
    Deposit(Amount),
    Withdrawal(Amount),
    VaultLock(Amount),
    VaultUnlock(Amount),
    Transfer {
        to: Username,
        amount: Amount,
        note: Option<Note>,
    },
    /// Pays back from the wallet what is owed on credit.
    Repayment(Amount),
    /// Pays one of the caller's purchases off from the wallet: exactly its quote.
    Payoff {
        purchase: Uuid,
        amount: Amount,
    },
}

impl MoneyOp {
    /// The operation's name in the journal (and in the PostgreSQL function).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            MoneyOp::Deposit(_) => "deposit",
            MoneyOp::Withdrawal(_) => "withdrawal",
            MoneyOp::VaultLock(_) => "vault_lock",
            MoneyOp::VaultUnlock(_) => "vault_unlock",
            MoneyOp::Transfer { .. } => "transfer",
            MoneyOp::Repayment(_) => "repayment",
            MoneyOp::Payoff { .. } => "payoff",
        }
    }

    pub(crate) fn amount(&self) -> Amount {
        match self {
            MoneyOp::Deposit(a)
            | MoneyOp::Withdrawal(a)
            | MoneyOp::VaultLock(a)
            | MoneyOp::VaultUnlock(a)
            | MoneyOp::Repayment(a) => *a,
            MoneyOp::Transfer { amount, .. } | MoneyOp::Payoff { amount, .. } => *amount,
        }
    }

    /// Whether group commit may carry it: a payoff runs alone (it reads one purchase's parts).
    pub(crate) fn batched(&self) -> bool {
        !matches!(self, MoneyOp::Payoff { .. })
    }

    /// Whether a frozen user may still ask for it: money in (a deposit), kept (a vault lock)
    /// or owed back (a repayment), never money out on their own initiative.
    pub fn allowed_when_frozen(&self) -> bool {
        matches!(self, MoneyOp::Deposit(_) | MoneyOp::VaultLock(_) | MoneyOp::Repayment(_) | MoneyOp::Payoff { .. })
    }

    /// The operation as the model (`ledger::model`) names it.
    pub fn rule(&self) -> model::Op {
        let x = self.amount().minor();
        match self {
            MoneyOp::Deposit(_) => model::Op::Deposit(x),
            MoneyOp::Withdrawal(_) => model::Op::Withdrawal(x),
            MoneyOp::VaultLock(_) => model::Op::VaultLock(x),
            MoneyOp::VaultUnlock(_) => model::Op::VaultUnlock(x),
            MoneyOp::Transfer { .. } => model::Op::TransferOut(x),
            MoneyOp::Repayment(_) => model::Op::Repayment(x),
            // PostgreSQL refuses with the account row (`rule`) only once it found the purchase
            // owing exactly the amount asked: the money rule left is the wallet's.
            MoneyOp::Payoff { .. } => model::Op::Payoff {
                found: Some(model::PayoffFound { principal_minor: x, ..Default::default() }),
                amount: x,
            },
        }
    }

    /// Words the money rule that refused the operation on PostgreSQL (`vl_refuse_rule`
    /// sends the account row): the model's refusal for that row, so both backends word it
    /// alike. The model accepting what the function refused is a drift of the two: an error.
    pub(crate) fn refusal(&self, state: &AccountState) -> Result<Refusal, StoreError> {
        let standing = model::Standing {
            account: *state,
            status: UserStatus::Active,
            overdue_count: 0,
            outflow_used_minor: 0,
            unlocks_today: 0,
        };
        match model::step(&standing, self.rule(), &VelocityLimits::default()) {
            Err(refusal) => Ok(refusal),
            Ok(_) => Err(StoreError::Corrupt(format!(
                "PostgreSQL refused {} which the model accepts: {state:?}",
                self.name()
            ))),
        }
    }
}

/// One idempotent request: who asks, under which key, for what (the request's hash), when.
#[derive(Clone, Debug)]
pub struct Call {
    pub user_id: Uuid,
    pub key: String,
    pub request_hash: String,
    pub now: DateTime<Utc>,
    /// The velocity caps, checked with the movement under the account's lock.
    pub limits: VelocityLimits,
    /// The session and budget checks, run by the same call (see `store::gate`).
    pub gate: Gate,
}

/// How a money request was answered: with its movement.
pub type Answer = Answered<Movement>;
