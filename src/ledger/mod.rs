//! The money operations a customer asks for (deposit, withdrawal, vault lock and unlock,
//! transfer, repayment, purchase hold, capture and cancel), each applied at most once per
//! idempotency key, above `store`'s plumbing.
//!
//! Each rule is written once, in `model` (pure); SQLite's statements (`sqlite.rs`,
//! `credit_sqlite.rs`) decide with it; PostgreSQL calls one function of `src/store/sql`
//! (`pg.rs`, `credit_pg.rs`: one round trip, one autocommit transaction) that repeats the
//! rule, and the model test holds both backends to the model. `Ledger::apply` is the one
//! place that picks the backend and group commit.

pub mod credit_pg;
pub mod credit_sqlite;
mod group;
pub mod model;
pub(crate) mod pg;
pub(crate) mod sqlite;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::config::DatabaseSettings;
use crate::domain::account::{AccountState, Refusal};
use crate::domain::limits::VelocityLimits;
use crate::domain::money::Amount;
use crate::domain::movement::{Movement, Note};
use crate::domain::user::{UserStatus, Username};
use crate::store::gate::Gate;
pub use crate::store::idempotency::Answered;
use crate::store::{Backend, Db, DbConn, StoreError};

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

/// The money operations' handle: the database, and group commit's lanes when configured.
#[derive(Clone)]
pub struct Ledger {
    db: Db,
    group: Option<Arc<group::GroupCommit>>,
}

impl Ledger {
    /// Starts group commit's lanes if the settings ask for them.
    pub fn start(db: &Db, settings: &DatabaseSettings) -> Self {
        let group = settings.group_commit.enabled().then(|| {
            let lanes = group::GroupSettings {
                lanes: settings.group_commit_lanes,
                max_batch: settings.group_commit_max_batch,
                max_queue: settings.group_commit_max_queue,
                window: std::time::Duration::from_micros(settings.group_commit_window_us),
                max_retries: settings.tx_max_retries,
            };
            let (pool, writer) = db.lanes_handles();
            Arc::new(group::GroupCommit::start(pool, db.backend(), writer, lanes))
        });
        Ledger { db: db.clone(), group }
    }

    /// Applies `op` at most once per (caller, key): one round trip on PostgreSQL, one write
    /// transaction on SQLite; with group commit on, in a batch shared with concurrent requests.
    pub async fn apply(&self, call: Call, op: MoneyOp) -> Result<Answer, StoreError> {
        let db = &self.db;
        let call = match &self.group {
            None => call,
            // Both backends' batches run each operation's gate in the batch's transaction.
            Some(group) => match group.submit(call.clone(), op.clone()).await {
                // The batch did not run it (a row held elsewhere, a failed batch): alone, it
                // waits its user's turn instead of a lane, and every other user with it.
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
}

/// The same, on a connection the caller holds (tests count its round trips).
pub fn apply_on(conn: &mut DbConn, max_retries: u32, call: &Call, op: &MoneyOp) -> Result<Answer, StoreError> {
    match conn.backend() {
        Backend::Postgres => crate::store::retrying(conn, max_retries, |c| pg::run(c, call, op)),
        Backend::Sqlite => crate::store::transaction(conn, max_retries, |c| sqlite::run(c, call, op))?,
    }
}

/// A lane's batch: each answer, and each transfer's recipient id where the batch learnt it.
fn pg_batch(conn: &mut DbConn, batch: &[(Call, MoneyOp)]) -> (Vec<Result<Answer, StoreError>>, Vec<Option<Uuid>>) {
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

fn sqlite_batch(conn: &mut DbConn, batch: &[(Call, MoneyOp)], max_retries: u32) -> Vec<Result<Answer, StoreError>> {
    sqlite::run_batch(conn, batch, max_retries)
}
