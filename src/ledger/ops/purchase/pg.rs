//! A purchase's hold, capture and cancel on PostgreSQL: one call of a function of `pg.sql`
//! beside this file, so one round trip and one autocommit transaction. Their SQLite twins
//! are in `sqlite.rs`, deciding with `rule.rs`.

use diesel::prelude::*;
use diesel::sql_types::{Text, Untyped};
use uuid::Uuid;

use crate::domain::account::Refusal;
use crate::domain::credit::Purchase;
use crate::ledger::request::Call;
use crate::store::error::raised;
use crate::store::gate::{self, Gate};
use crate::store::idempotency::{self, Answered, Lookup, Stored};
use crate::store::prepared::prepared;
use crate::store::raised::Raised;
use crate::store::snapshot::purchase_from_snapshot;
use crate::store::{DbConn, StoreError};
use chrono::{DateTime, Utc};

#[derive(QueryableByName)]
struct BodyRow {
    #[diesel(sql_type = Text)]
    outcome: String,
    #[diesel(sql_type = Text)]
    body: String,
}

/// Authorises the hold `purchase` describes (its id, amount, count, time) and saves `body`,
/// the answer the caller rendered from it, under the key.
pub fn authorize(
    conn: &mut DbConn,
    call: &Call,
    purchase: &Purchase,
    body: &str,
) -> Result<Answered<String>, StoreError> {
    let installments = i32::try_from(purchase.installments).map_err(|_| StoreError::Corrupt("installments".into()))?;
    let (user, purchase_id, entry) = (call.user_id.to_string(), purchase.id.to_string(), Uuid::now_v7().to_string());
    let merchant = purchase.merchant_id.to_string();
    let sql = "SELECT * FROM vl_authorize(vl_gate(?, ?, ?, ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let query = call
        .gate
        .bind(prepared::<Untyped>(sql).text(&user))
        .text(&call.key)
        .text(&call.request_hash)
        .text(body)
        .text(&purchase_id)
        .text(&entry)
        .text(&merchant)
        .bigint(purchase.amount_minor)
        .integer(installments)
        .nullable_text(purchase.description.as_deref())
        .timestamp(call.now.naive_utc());
    let row: Result<BodyRow, _> = query.get_result(conn);
    let error = match row {
        Ok(row) => return row.answer(Ok),
        Err(error) => error,
    };
    if gate_refused(&call.gate, &error) {
        return Err(gate::refused_by(&call.gate, error));
    }
    let Some((code, detail)) = count_then_raised(conn, call.user_id, &call.gate, &error)? else {
        return Err(error.into());
    };
    let refusal = match Raised::parse(code, detail)? {
        Raised::KeyReused => return Ok(Answered::Mismatch),
        Raised::StoredAnswer => return stored_answer(conn, call),
        Raised::NotFound => Refusal::NotFound("merchant"),
        // The hold's rule: the model words it from the row (`available_minor`).
        Raised::Rule(account) => Refusal::CreditLimitExceeded { available_minor: account.available_minor() },
        other => other.into_refusal()?,
    };
    Err(StoreError::Refused(refusal))
}

impl BodyRow {
    fn answer<T>(self, parse: impl FnOnce(String) -> Result<T, StoreError>) -> Result<Answered<T>, StoreError> {
        match self.outcome.as_str() {
            "fresh" => Ok(Answered::Fresh(parse(self.body)?)),
            "replay" => Ok(Answered::Replay(parse(self.body)?)),
            other => Err(StoreError::Corrupt(format!("credit function outcome `{other}`"))),
        }
    }
}

/// The key was saved with a whole body by an older version of the route: read it.
fn stored_answer<T>(conn: &mut DbConn, call: &Call) -> Result<Answered<T>, StoreError> {
    match idempotency::lookup(conn, call.user_id, &call.key, &call.request_hash)? {
        Lookup::Replay(Stored::Body(response)) => Ok(Answered::Stored(response)),
        _ => Err(StoreError::Contended("idempotency key changed while read")),
    }
}

/// Refusals of the purchase lifecycle (`vl_leave_authorized`, the frozen check).
fn lifecycle_refusal(error: diesel::result::Error) -> StoreError {
    match Raised::of(&error) {
        None => error.into(),
        Some(Err(e)) => e,
        Some(Ok(Raised::NotFound)) => StoreError::Refused(Refusal::NotFound("purchase")),
        Some(Ok(other)) => other.into_refusal().map_or_else(|e| e, StoreError::Refused),
    }
}

/// The buyer confirms receipt (see `vl_capture`); answers the purchase with its schedule.
pub fn capture(
    conn: &mut DbConn,
    call: &Call,
    purchase_id: Uuid,
    repayment_day: u32,
    fee_rate: rust_decimal::Decimal,
) -> Result<Answered<Purchase>, StoreError> {
    let day = i32::try_from(repayment_day).map_err(|_| StoreError::Corrupt("repayment day".into()))?;
    let (user, purchase, entry) = (call.user_id.to_string(), purchase_id.to_string(), Uuid::now_v7().to_string());
    // The fee rate as text: both sides are exact decimals, so nothing is rounded on the way.
    let rate = fee_rate.normalize().to_string();
    let sql = "SELECT * FROM vl_capture(vl_gate(?, ?, ?, ?), ?, ?, ?, ?, ?, CAST(? AS numeric), ?)";
    let query = call
        .gate
        .bind(prepared::<Untyped>(sql).text(&user))
        .text(&call.key)
        .text(&call.request_hash)
        .text(&purchase)
        .text(&entry)
        .integer(day)
        .text(&rate)
        .timestamp(call.now.naive_utc());
    let row: Result<BodyRow, _> = query.get_result(conn);
    match row {
        Ok(row) => row.answer(|body| purchase_from_snapshot(&body)),
        Err(error) if gate_refused(&call.gate, &error) => Err(gate::refused_by(&call.gate, error)),
        Err(error) => match count_then_raised(conn, call.user_id, &call.gate, &error)? {
            Some(("key_reused", _)) => Ok(Answered::Mismatch),
            Some(("stored_answer", _)) => stored_answer(conn, call),
            _ => Err(lifecycle_refusal(error)),
        },
    }
}

/// The buyer cancels an authorised hold (see `vl_void`).
pub fn void(
    conn: &mut DbConn,
    user_id: Uuid,
    purchase_id: Uuid,
    now: DateTime<Utc>,
    gate: &Gate,
) -> Result<Purchase, StoreError> {
    #[derive(QueryableByName)]
    struct Snapshot {
        #[diesel(sql_type = Text)]
        snapshot: String,
    }
    let (user, purchase, entry) = (user_id.to_string(), purchase_id.to_string(), Uuid::now_v7().to_string());
    let sql = "SELECT vl_void(vl_gate(?, ?, ?, ?), ?, ?, ?) AS snapshot";
    let query = gate.bind(prepared::<Untyped>(sql).text(&user)).text(&purchase).text(&entry).timestamp(now.naive_utc());
    let row: Result<Snapshot, _> = query.get_result(conn);
    match row {
        Ok(row) => purchase_from_snapshot(&row.snapshot),
        Err(error) if gate_refused(gate, &error) => Err(gate::refused_by(gate, error)),
        Err(error) => {
            count_then_raised(conn, user_id, gate, &error)?;
            Err(lifecycle_refusal(error))
        }
    }
}

fn gate_refused(gate: &Gate, error: &diesel::result::Error) -> bool {
    raised(error).is_some_and(|(code, _)| gate.refusal(code).is_some())
}

/// The code and detail a refused call raised, after counting the request again (the
/// refusal rolled its count back); `None` for an error that is not a refusal.
fn count_then_raised<'e>(
    conn: &mut DbConn,
    user_id: Uuid,
    gate: &Gate,
    error: &'e diesel::result::Error,
) -> Result<Option<(&'e str, &'e str)>, StoreError> {
    let raised = raised(error);
    if raised.is_some() {
        gate::count_refused(conn, user_id, gate)?;
    }
    Ok(raised)
}
