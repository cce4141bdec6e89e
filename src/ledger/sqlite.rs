//! The money operations on SQLite: statement by statement inside one write transaction
//! (`BEGIN IMMEDIATE`, so writers take turns): the gate, the key, then the operation
//! (`ops/<operation>/sqlite.rs`: the account read, the model decides, one UPDATE writes its
//! effects, the entry and the movements follow), then the key saved.

use diesel::prelude::*;

use super::ops::{payoff, repayment, transfer, wallet};
use super::request::{Answer, Call, MoneyOp};
use uuid::Uuid;

use crate::store::gate::{self, Gate};
use crate::store::idempotency::{self, Answered, Lookup, Stored, StoredResponse};
use crate::store::{DbConn, StoreError, ledger};

/// The gate, then the operation. The outer error means nothing may be kept; the inner one
/// is a refusal of the operation, which rolled back alone (a savepoint) while the request
/// stays counted in the budget, so the caller commits.
pub fn run(conn: &mut DbConn, call: &Call, op: &MoneyOp) -> Result<Result<Answer, StoreError>, StoreError> {
    gated(conn, call.user_id, &call.gate, |c| run_op(c, call, op))
}

/// The gate, then `op`: in a savepoint when the gate counted the request, so a refusal
/// undoes the operation alone and the count stays (the caller commits).
pub(crate) fn gated<T>(
    conn: &mut DbConn,
    user_id: Uuid,
    gate: &Gate,
    op: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<Result<T, StoreError>, StoreError> {
    gate::check(conn, user_id, gate)?;
    if gate.budget.is_none() {
        // Nothing to keep on a refusal: no savepoint needed.
        return op(conn).map(Ok);
    }
    match conn.transaction(op) {
        Err(refused @ StoreError::Refused(_)) => Ok(Err(refused)),
        other => other.map(Ok),
    }
}

/// `effect` at most once per key, behind the gate: its value printed by `render` and saved
/// with the key as a whole answer (`status`, body); a replay answers that saved answer.
pub(crate) fn once_body<T>(
    conn: &mut DbConn,
    call: &Call,
    status: u16,
    render: impl Fn(&T) -> String,
    effect: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<Result<Answered<String>, StoreError>, StoreError> {
    gated(conn, call.user_id, &call.gate, |c| {
        match idempotency::lookup(c, call.user_id, &call.key, &call.request_hash)? {
            Lookup::Replay(Stored::Body(stored)) => return Ok(Answered::Stored(stored)),
            Lookup::Replay(Stored::Entry(_) | Stored::Purchase(_)) | Lookup::Mismatch => return Ok(Answered::Mismatch),
            Lookup::Absent => {}
        }
        let body = render(&effect(c)?);
        let response = StoredResponse { status, body: body.clone() };
        idempotency::save(c, call.user_id, &call.key, &call.request_hash, &response, call.now)?;
        Ok(Answered::Fresh(body))
    })
}

fn run_op(conn: &mut DbConn, call: &Call, op: &MoneyOp) -> Result<Answer, StoreError> {
    match idempotency::lookup(conn, call.user_id, &call.key, &call.request_hash)? {
        Lookup::Replay(Stored::Entry(id)) => return Ok(Answer::Replay(ledger::movement(conn, call.user_id, &id)?)),
        Lookup::Replay(Stored::Body(response)) => return Ok(Answer::Stored(response)),
        Lookup::Replay(Stored::Purchase(_)) | Lookup::Mismatch => return Ok(Answer::Mismatch),
        Lookup::Absent => {}
    }
    let movement = match op {
        MoneyOp::Transfer { to, note, .. } => {
            transfer::sqlite::apply(conn, call, to, op, note.as_ref().map(|n| n.as_str().to_owned()))?
        }
        MoneyOp::Repayment(amount) => repayment::sqlite::apply(conn, call.user_id, *amount, call.now)?,
        MoneyOp::Payoff { purchase, amount } => payoff::sqlite::apply(conn, call, *purchase, *amount)?,
        _ => wallet::sqlite::apply(conn, call, op)?,
    };
    idempotency::save_entry(conn, call.user_id, &call.key, &call.request_hash, movement.id, call.now)?;
    Ok(Answer::Fresh(movement))
}

/// Group commit on SQLite: the whole batch in one write transaction (one commit, one WAL
/// write of each page it touched), each operation inside its own savepoint so a refusal
/// undoes that operation only.
pub fn run_batch(conn: &mut DbConn, batch: &[(Call, MoneyOp)], max_retries: u32) -> Vec<Result<Answer, StoreError>> {
    let mut answers = Vec::with_capacity(batch.len());
    let committed = crate::store::transaction(conn, max_retries, |c| {
        answers.clear();
        for (call, op) in batch {
            answers.push(c.transaction::<_, StoreError, _>(|c| run(c, call, op)).and_then(|answer| answer));
        }
        Ok(())
    });
    match committed {
        Ok(()) => answers,
        // Nothing of the batch was written.
        Err(e) => {
            batch.iter().map(|_| Err(StoreError::Unavailable(format!("the batch did not commit: {e}")))).collect()
        }
    }
}
