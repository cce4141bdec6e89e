//! Group commit on PostgreSQL: a lane's batch in one call of `vl_batch`
//! (`src/store/sql/batch.sql`).

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use uuid::Uuid;

use super::answer::AnswerRow;
use super::ops::wallet::pg::unlock_cap;
use super::pg::refused;
use super::request::{Answer, Call, MoneyOp};
use crate::store::{DbConn, StoreError};

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
