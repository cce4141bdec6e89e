//! The money operations a customer asks for (deposit, withdrawal, vault lock and unlock,
//! transfer, repayment, payoff of one purchase, purchase hold, capture and cancel), each
//! applied at most once per idempotency key, above `store`'s plumbing.
//!
//! One folder per operation (`ops/<operation>/`): its rule (`rule.rs`, pure, gathered by
//! `model::step`), its PostgreSQL function (`pg.sql`, the same rule for one round trip) and
//! its call (`pg.rs`), and SQLite's statements (`sqlite.rs`, deciding with the rule). The
//! model test holds both backends to the model. Only this module picks the backend:
//! `Ledger::apply` for the wallet, transfer, repayment and payoff (group commit for all but
//! the payoff, which runs alone), `Ledger::hold`, `capture` and `cancel` for a purchase
//! (`purchases.rs`). Beside them, shared by the operations: the account as SQLite reads and
//! writes it (`account.rs`), the answer PostgreSQL's functions give (`answer.rs`), each
//! backend's run (`pg.rs`, `sqlite.rs`), group commit's lanes and batches (`group.rs`,
//! `batch.rs`).

mod account;
mod answer;
mod batch;
mod group;
pub mod model;
pub mod ops;
pub(crate) mod pg;
mod purchases;
pub mod request;
pub(crate) mod sqlite;
pub mod standing;

pub use ops::purchase::pg as credit_pg;
pub use purchases::{CaptureTerms, Render};

use std::sync::Arc;

use uuid::Uuid;

use crate::config::DatabaseSettings;
use crate::store::gate::Gate;
pub use crate::store::idempotency::Answered;
use crate::store::{Backend, Db, DbConn, StoreError};
pub use request::{Answer, Call, MoneyOp};

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
            Some(_) if !op.batched() => call,
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
    let outcome = batch::run_batch(conn, batch);
    metrics::counter!("money_group_commit_together_total")
        .increment(u64::try_from(outcome.together).unwrap_or(u64::MAX));
    (outcome.answers, outcome.recipients)
}

/// One group-commit batch on a PostgreSQL connection, as a lane sends it: each operation's
/// answer (a request the batch handed back answers `StoreError::RunAlone`), and how many were
/// written together. For tests and tools; the service's lanes go through `apply`.
pub fn pg_batch_on(conn: &mut DbConn, batch: &[(Call, MoneyOp)]) -> (Vec<Result<Answer, StoreError>>, usize) {
    let outcome = batch::run_batch(conn, batch);
    (outcome.answers, outcome.together)
}

fn sqlite_batch(conn: &mut DbConn, batch: &[(Call, MoneyOp)], max_retries: u32) -> Vec<Result<Answer, StoreError>> {
    sqlite::run_batch(conn, batch, max_retries)
}
