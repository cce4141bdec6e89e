//! The caller's own money operations (deposit, withdrawal, vault lock and unlock,
//! transfer, repayment), each applied at most once per idempotency key.
//!
//! Every rule is written once per backend, side by side: `pg.rs` calls one function of
//! `src/store/sql` (one round trip, one autocommit transaction), `sqlite.rs` runs
//! the statements one by one inside a write transaction (in-process calls are cheap).
//! The differential test runs the same operations on both and compares the answers.

pub(crate) mod pg;
pub(crate) mod sqlite;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::gate::Gate;
pub use super::idempotency::Answered;
use super::{Backend, Db, DbConn, StoreError};
use crate::domain::account::{AccountState, Refusal};
use crate::domain::limits::VelocityLimits;
use crate::domain::model;
use crate::domain::money::Amount;
use crate::domain::movement::{Movement, Note};
use crate::domain::user::{UserStatus, Username};

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
}

impl MoneyOp {
    /// The operation's name in the journal (and in the PostgreSQL function).
    fn name(&self) -> &'static str {
        match self {
            MoneyOp::Deposit(_) => "deposit",
            MoneyOp::Withdrawal(_) => "withdrawal",
            MoneyOp::VaultLock(_) => "vault_lock",
            MoneyOp::VaultUnlock(_) => "vault_unlock",
            MoneyOp::Transfer { .. } => "transfer",
            MoneyOp::Repayment(_) => "repayment",
        }
    }

    fn amount(&self) -> Amount {
        match self {
            MoneyOp::Deposit(a)
            | MoneyOp::Withdrawal(a)
            | MoneyOp::VaultLock(a)
            | MoneyOp::VaultUnlock(a)
            | MoneyOp::Repayment(a) => *a,
            MoneyOp::Transfer { amount, .. } => *amount,
        }
    }

    /// Whether a frozen user may still ask for it: money in (a deposit), kept (a vault lock)
    /// or owed back (a repayment), never money out on their own initiative.
    pub fn allowed_when_frozen(&self) -> bool {
        matches!(self, MoneyOp::Deposit(_) | MoneyOp::VaultLock(_) | MoneyOp::Repayment(_))
    }

    /// The operation as the model (`domain::model`) names it.
    pub fn rule(&self) -> model::Op {
        let x = self.amount().minor();
        match self {
            MoneyOp::Deposit(_) => model::Op::Deposit(x),
            MoneyOp::Withdrawal(_) => model::Op::Withdrawal(x),
            MoneyOp::VaultLock(_) => model::Op::VaultLock(x),
            MoneyOp::VaultUnlock(_) => model::Op::VaultUnlock(x),
            MoneyOp::Transfer { .. } => model::Op::TransferOut(x),
            MoneyOp::Repayment(_) => model::Op::Repayment(x),
        }
    }

    /// Words the money rule that refused the operation on PostgreSQL (`vl_refuse_rule`
    /// sends the account row): the model's refusal for that row, so both backends word it
    /// alike. The model accepting what the function refused is a drift of the two: an error.
    fn refusal(&self, state: &AccountState) -> Result<Refusal, StoreError> {
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

/// Applies `op` at most once per (caller, key): one round trip on PostgreSQL, one write
/// transaction on SQLite; with group commit on, in a batch shared with concurrent requests.
pub async fn apply(db: &Db, call: Call, op: MoneyOp) -> Result<Answer, StoreError> {
    let call = match db.group_commit() {
        None => call,
        // Both backends' batches run each operation's gate in the batch's transaction.
        Some(group) => match group.submit(call.clone(), op.clone()).await {
            // The batch did not run it (a row held elsewhere, a failed batch): alone, it waits
            // its user's turn instead of a lane, and every other user with it.
            Err(StoreError::RunAlone { gate_counted }) => {
                let gate = if gate_counted { Gate { budget: None, ..call.gate } } else { call.gate };
                Call { gate, ..call }
            }
            answered => return answered,
        },
    };
    match db.backend() {
        Backend::Postgres => db.user_statement(call.user_id, move |conn| pg::run(conn, &call, &op)).await,
        Backend::Sqlite => db.write(move |conn| sqlite::run(conn, &call, &op)).await?,
    }
}

/// The same, on a connection the caller holds (tests count its round trips).
pub fn apply_on(conn: &mut DbConn, max_retries: u32, call: &Call, op: &MoneyOp) -> Result<Answer, StoreError> {
    match conn.backend() {
        Backend::Postgres => super::tx::retrying(conn, max_retries, |c| pg::run(c, call, op)),
        Backend::Sqlite => super::transaction(conn, max_retries, |c| sqlite::run(c, call, op))?,
    }
}

/// A lane's batch: each answer, and each transfer's recipient id where the batch learnt it.
pub(super) fn pg_batch(
    conn: &mut DbConn,
    batch: &[(Call, MoneyOp)],
) -> (Vec<Result<Answer, StoreError>>, Vec<Option<Uuid>>) {
    let outcome = pg::run_batch(conn, batch);
    metrics::counter!("money_group_commit_together_total")
        .increment(u64::try_from(outcome.together).unwrap_or(u64::MAX));
    (outcome.answers, outcome.recipients)
}

/// One group-commit batch on a PostgreSQL connection, as a lane sends it: each operation's
/// answer (a request the batch handed back answers `StoreError::RunAlone`), and how many were
/// written together. For tests and tools; the service's lanes go through `apply`.
pub fn pg_batch_on(conn: &mut DbConn, batch: &[(Call, MoneyOp)]) -> (Vec<Result<Answer, StoreError>>, usize) {
    let outcome = pg::run_batch(conn, batch);
    (outcome.answers, outcome.together)
}

pub(super) fn sqlite_batch(
    conn: &mut DbConn,
    batch: &[(Call, MoneyOp)],
    max_retries: u32,
) -> Vec<Result<Answer, StoreError>> {
    sqlite::run_batch(conn, batch, max_retries)
}
