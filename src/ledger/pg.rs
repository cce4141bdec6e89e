//! The money operations on PostgreSQL: one call of the operation's function
//! (`ops/<operation>/pg.sql`), sent outside any explicit transaction, so the operation is one
//! round trip and one autocommit transaction. Functions rather than one data-modifying
//! CTE per operation because a refusal must undo the key claim (an exception does, for
//! the whole statement), and because plpgsql keeps each inner statement's plan.

use diesel::result::Error as DieselError;
use uuid::Uuid;

use super::answer::AnswerRow;
use super::ops::{payoff, repayment, transfer, wallet};
use super::request::{Answer, Call, MoneyOp};
use crate::domain::account::Refusal;
use crate::store::error::raised;
use crate::store::gate;
use crate::store::idempotency::{self, Lookup, Stored};
use crate::store::raised::Raised;
use crate::store::{DbConn, StoreError};

pub fn run(conn: &mut DbConn, call: &Call, op: &MoneyOp) -> Result<Answer, StoreError> {
    let entry = Uuid::now_v7().to_string();
    let x = op.amount().minor();
    // Each operation's call is fixed text (`ops/<operation>/pg.rs`), so the connection keeps
    // it prepared: parsed and planned once per connection, then only bound and executed. The
    // gate is the user argument (`vl_gate`), evaluated first, in the same statement.
    let answered: Result<AnswerRow, DieselError> = match op {
        MoneyOp::Transfer { to, note, .. } => transfer::pg::call(conn, call, &entry, to, note.as_ref(), x),
        MoneyOp::Repayment(_) => repayment::pg::call(conn, call, &entry, x),
        MoneyOp::Payoff { purchase, .. } => payoff::pg::call(conn, call, &entry, *purchase, x),
        _ => wallet::pg::call(conn, call, op, &entry, x),
    };
    match answered {
        Ok(row) => row.into_answer(),
        Err(error) => match raised(&error) {
            Some((code, _)) if call.gate.refusal(code).is_some() => Err(gate::refused_by(&call.gate, error)),
            Some((code, detail)) => {
                gate::count_refused(conn, call.user_id, &call.gate)?;
                refused(conn, call, op, code, detail)
            }
            None => Err(error.into()),
        },
    }
}

/// Answers a refusal the function raised (`vaultline:<code>` with its DETAIL, typed by
/// `Raised`).
pub(crate) fn refused(
    conn: &mut DbConn,
    call: &Call,
    op: &MoneyOp,
    code: &str,
    detail: &str,
) -> Result<Answer, StoreError> {
    let refusal = match Raised::parse(code, detail)? {
        Raised::Rule(account) => op.refusal(&account)?,
        Raised::KeyReused => return Ok(Answer::Mismatch),
        // Only a payoff names something of the caller's that may be missing: its purchase.
        Raised::NotFound if matches!(op, MoneyOp::Payoff { .. }) => Refusal::NotFound("purchase"),
        // Saved by a route that stores whole bodies: a second round trip reads it.
        Raised::StoredAnswer => {
            return match idempotency::lookup(conn, call.user_id, &call.key, &call.request_hash)? {
                Lookup::Replay(Stored::Body(response)) => Ok(Answer::Stored(response)),
                _ => Err(StoreError::Contended("idempotency key changed while read")),
            };
        }
        other => other.into_refusal()?,
    };
    Err(StoreError::Refused(refusal))
}
