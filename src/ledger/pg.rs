//! The money operations on PostgreSQL: one call of a function defined in
//! `src/store/sql/money.sql`, sent outside any explicit transaction, so the operation is one
//! round trip and one autocommit transaction. Functions rather than one data-modifying
//! CTE per operation because a refusal must undo the key claim (an exception does, for
//! the whole statement), and because plpgsql keeps each inner statement's plan.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp, Untyped};
use uuid::Uuid;

use super::{Answer, Call, MoneyOp};
use crate::domain::limits::VelocityLimits;
use crate::store::error::raised;
use crate::store::gate;
use crate::store::idempotency::{self, Lookup, Stored};
use crate::store::ledger::MovementRow;
use crate::store::prepared::prepared;
use crate::store::raised::Raised;
use crate::store::{DbConn, StoreError};

pub fn run(conn: &mut DbConn, call: &Call, op: &MoneyOp) -> Result<Answer, StoreError> {
    let entry = Uuid::now_v7().to_string();
    let (user, now, x) = (call.user_id.to_string(), call.now.naive_utc(), op.amount().minor());
    // Each call is fixed text, so the connection keeps it prepared: parsed and planned once
    // per connection (the first call is a second exchange), then only bound and executed.
    // The gate is the user argument (`vl_gate`), evaluated first, in the same statement.
    let answered: Result<AnswerRow, DieselError> = match op {
        MoneyOp::Transfer { to, note, .. } => {
            let sql = "SELECT * FROM vl_transfer(vl_gate(?, ?, ?, ?), ?, ?, ?, ?, ?, ?, ?, ?)";
            call.gate
                .bind(prepared::<Untyped>(sql).text(&user))
                .text(&call.key)
                .text(&call.request_hash)
                .text(&entry)
                .text(to.as_str())
                .bigint(x)
                .nullable_text(note.as_ref().map(|n| n.as_str()))
                .timestamp(now)
                .nullable_bigint(call.limits.outflow_24h_minor)
                .get_result(conn)
        }
        MoneyOp::Repayment(_) => {
            let sql = "SELECT * FROM vl_repay(vl_gate(?, ?, ?, ?), ?, ?, ?, ?, ?)";
            call.gate
                .bind(prepared::<Untyped>(sql).text(&user))
                .text(&call.key)
                .text(&call.request_hash)
                .text(&entry)
                .bigint(x)
                .timestamp(now)
                .get_result(conn)
        }
        _ => {
            let limit_id = Uuid::now_v7().to_string();
            let sql = "SELECT * FROM vl_move(?, vl_gate(?, ?, ?, ?), ?, ?, ?, ?, ?, ?, ?, ?)";
            call.gate
                .bind(prepared::<Untyped>(sql).text(op.name()).text(&user))
                .text(&call.key)
                .text(&call.request_hash)
                .text(&entry)
                .text(&limit_id)
                .bigint(x)
                .timestamp(now)
                .nullable_bigint(call.limits.outflow_24h_minor)
                .nullable_integer(unlock_cap(&call.limits))
                .get_result(conn)
        }
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

#[derive(QueryableByName)]
struct BatchRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    idx: i32,
    #[diesel(sql_type = Nullable<Text>)]
    error: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    detail: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    answer: Option<String>,
    /// Written with other transfers of the batch in one statement (`vl_batch_transfers`).
    #[diesel(sql_type = diesel::sql_types::Bool)]
    together: bool,
    /// A transfer's recipient's id, where there is such a user.
    #[diesel(sql_type = Nullable<Text>)]
    recipient: Option<String>,
}

/// A batch's answers, one per operation in order, and how many operations were written
/// together (`vl_batch_transfers`): the rest ran one by one, in the batch or handed back.
pub struct BatchOutcome {
    pub answers: Vec<Result<Answer, StoreError>>,
    pub together: usize,
    /// Per operation: a transfer's recipient's id (the lanes schedule by it).
    pub recipients: Vec<Option<Uuid>>,
}

/// Group commit: every operation of `batch`, each with its gate, in one call of `vl_batch`,
/// so one round trip, one transaction and one commit for all; each answered on its own. An
/// operation the batch did not run (a row held elsewhere) or that failed for any reason but
/// a refusal is handed back to run alone (`StoreError::RunAlone`), on its user's turn and
/// with its own retries, never on the lane, which other users' requests wait for.
pub fn run_batch(conn: &mut DbConn, batch: &[(Call, MoneyOp)]) -> BatchOutcome {
    let rows = match send_batch(conn, batch) {
        Ok(rows) if rows.len() == batch.len() => rows,
        // The batch failed (nothing written, gates included) or its answer was lost: each runs
        // alone, gate and all. Should the batch have committed after all, its keys replay the
        // effects; only the budget would count those requests twice.
        _ => {
            let answers = batch.iter().map(|_| Err(StoreError::RunAlone { gate_counted: false })).collect();
            return BatchOutcome { answers, together: 0, recipients: Vec::new() };
        }
    };
    let together = rows.iter().filter(|row| row.together).count();
    let recipients = rows.iter().map(|row| row.recipient.as_deref().and_then(|id| Uuid::parse_str(id).ok())).collect();
    let mut answers: Vec<Result<Answer, StoreError>> = Vec::with_capacity(batch.len());
    for (row, (call, op)) in rows.into_iter().zip(batch) {
        debug_assert_eq!(usize::try_from(row.idx).ok(), Some(answers.len() + 1), "vl_batch answers in order");
        let answer = match (row.answer, row.error) {
            (Some(json), _) => serde_json::from_str::<AnswerRow>(&json)
                .map_err(|e| StoreError::Corrupt(format!("batch answer: {e}")))
                .and_then(AnswerRow::into_answer),
            (None, Some(message)) => match message.strip_prefix("vaultline:") {
                // Not run: a row it needs was held past the batch's wait. Its gate counted it.
                Some("row_held") => Err(StoreError::RunAlone { gate_counted: true }),
                Some(code) => match call.gate.refusal(code) {
                    Some(refusal) => Err(refusal),
                    // The batch counted the request before its operation ran: it stays counted.
                    None => refused(conn, call, op, code, row.detail.as_deref().unwrap_or_default()),
                },
                // Failed in its subtransaction (nothing of it written): a lock waited for past
                // the batch's wait, a serialization failure. Its gate counted it.
                None => Err(StoreError::RunAlone { gate_counted: true }),
            },
            (None, None) => Err(StoreError::Corrupt("vl_batch answered neither row nor error".into())),
        };
        answers.push(answer);
    }
    BatchOutcome { answers, together, recipients }
}

fn send_batch(conn: &mut DbConn, batch: &[(Call, MoneyOp)]) -> Result<Vec<BatchRow>, DieselError> {
    use diesel::sql_types::Array;
    let mut cols: [Vec<String>; 6] = Default::default();
    let (mut amounts, mut tos, mut notes, mut nows) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut versions, mut windows, mut budgets) = (Vec::new(), Vec::new(), Vec::new());
    for (call, op) in batch {
        let (to, note) = match op {
            MoneyOp::Transfer { to, note, .. } => (Some(to.to_string()), note.as_ref().map(|n| n.as_str().to_owned())),
            _ => (None, None),
        };
        let fields = [
            op.name().to_owned(),
            call.user_id.to_string(),
            call.key.clone(),
            call.request_hash.clone(),
            Uuid::now_v7().to_string(),
            Uuid::now_v7().to_string(),
        ];
        for (col, field) in cols.iter_mut().zip(fields) {
            col.push(field);
        }
        amounts.push(op.amount().minor());
        tos.push(to);
        notes.push(note);
        nows.push(call.now.naive_utc());
        versions.push(call.gate.token_version);
        windows.push(call.gate.budget.map(|b| b.window_start));
        budgets.push(call.gate.budget.map(|b| b.requests_max));
    }
    let [ops, users, keys, hashes, entries, limit_ids] = cols;
    // Arrays exist on PostgreSQL only, so this speaks to the concrete connection.
    let DbConn::Pg(conn) = conn else { unreachable!("group commit on PostgreSQL runs on a PostgreSQL connection") };
    // Every call of a batch comes from one service, so one set of caps.
    let limits = batch.first().map(|(call, _)| call.limits).unwrap_or_default();
    debug_assert!(batch.iter().all(|(call, _)| call.limits == limits));
    diesel::sql_query("SELECT * FROM vl_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)")
        .bind::<Array<Text>, _>(ops)
        .bind::<Array<Text>, _>(users)
        .bind::<Array<Text>, _>(keys)
        .bind::<Array<Text>, _>(hashes)
        .bind::<Array<Text>, _>(entries)
        .bind::<Array<Text>, _>(limit_ids)
        .bind::<Array<BigInt>, _>(amounts)
        .bind::<Array<Nullable<Text>>, _>(tos)
        .bind::<Array<Nullable<Text>>, _>(notes)
        .bind::<Array<Timestamp>, _>(nows)
        .bind::<Nullable<BigInt>, _>(limits.outflow_24h_minor)
        .bind::<Nullable<Integer>, _>(unlock_cap(&limits))
        .bind::<Array<Nullable<BigInt>>, _>(versions)
        .bind::<Array<Nullable<Timestamp>>, _>(windows)
        .bind::<Array<Nullable<BigInt>>, _>(budgets)
        .load(conn)
}

fn unlock_cap(limits: &VelocityLimits) -> Option<i32> {
    limits.unlocks_per_day.map(|n| i32::try_from(n).unwrap_or(i32::MAX))
}

/// Answers a refusal the function raised (`vaultline:<code>` with its DETAIL, typed by
/// `Raised`).
fn refused(conn: &mut DbConn, call: &Call, op: &MoneyOp, code: &str, detail: &str) -> Result<Answer, StoreError> {
    let refusal = match Raised::parse(code, detail)? {
        Raised::Rule(account) => op.refusal(&account)?,
        Raised::KeyReused => return Ok(Answer::Mismatch),
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

/// A row of type `vl_answer`: the caller's movement and when their account was opened.
#[derive(QueryableByName, serde::Deserialize)]
struct AnswerRow {
    #[diesel(sql_type = Text)]
    outcome: String,
    #[diesel(sql_type = Text)]
    entry_id: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    amount_minor: i64,
    #[diesel(sql_type = Nullable<Text>)]
    counterparty: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    note: Option<String>,
    #[diesel(sql_type = Timestamp)]
    created_at: chrono::NaiveDateTime,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    wallet_minor: i64,
    #[diesel(sql_type = BigInt)]
    vault_minor: i64,
    #[diesel(sql_type = Text)]
    line: String,
    #[diesel(sql_type = BigInt)]
    general_limit_minor: i64,
    #[diesel(sql_type = BigInt)]
    held_minor: i64,
    #[diesel(sql_type = BigInt)]
    principal_minor: i64,
    #[diesel(sql_type = BigInt)]
    fees_minor: i64,
    #[diesel(sql_type = BigInt)]
    late_fees_minor: i64,
    #[diesel(sql_type = BigInt)]
    on_time_installments: i64,
    #[diesel(sql_type = BigInt)]
    overdue_installments: i64,
    #[diesel(sql_type = BigInt)]
    overdue_days: i64,
    #[diesel(sql_type = BigInt)]
    collateral_settlements: i64,
    #[diesel(sql_type = BigInt)]
    vault_floor_minor: i64,
    #[diesel(sql_type = Bool)]
    overdue_now: bool,
    #[diesel(sql_type = Timestamp)]
    opened_at: chrono::NaiveDateTime,
}

impl AnswerRow {
    fn into_answer(self) -> Result<Answer, StoreError> {
        let fresh = match self.outcome.as_str() {
            "fresh" => true,
            "replay" => false,
            other => return Err(StoreError::Corrupt(format!("money function outcome `{other}`"))),
        };
        let opened_at = self.opened_at;
        let movement = MovementRow {
            entry_id: self.entry_id,
            kind: self.kind,
            amount_minor: self.amount_minor,
            counterparty: self.counterparty,
            note: self.note,
            created_at: self.created_at,
            status: self.status,
            state: (
                self.wallet_minor,
                self.vault_minor,
                self.line,
                self.general_limit_minor,
                self.held_minor,
                self.principal_minor,
                self.fees_minor,
                self.late_fees_minor,
            ),
            history: (
                self.on_time_installments,
                self.overdue_installments,
                self.overdue_days,
                self.collateral_settlements,
                self.vault_floor_minor,
                self.overdue_now,
            ),
        }
        .into_movement(opened_at)?;
        Ok(if fresh { Answer::Fresh(movement) } else { Answer::Replay(movement) })
    }
}
