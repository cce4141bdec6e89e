//! Credit operations on a user's request path, on PostgreSQL: one call of a function from
//! the `money_path` migration, so one round trip and one autocommit transaction. Their
//! SQLite twins are in `store::credit`.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use uuid::Uuid;

use super::money::Call;
use super::money::pg::{account_from_detail, raised};
use super::{DbConn, StoreError};
use crate::domain::account::Refusal;
use crate::domain::credit::Purchase;

/// An answer stored whole under its idempotency key.
pub enum BodyAnswer {
    Fresh(String),
    Replay(String),
    Mismatch,
}

#[derive(QueryableByName)]
struct BodyRow {
    #[diesel(sql_type = Text)]
    outcome: String,
    #[diesel(sql_type = Text)]
    body: String,
}

/// Authorises the hold `purchase` describes (its id, amount, count, time) and saves `body`,
/// the answer the caller rendered from it, under the key.
pub fn authorize(conn: &mut DbConn, call: &Call, purchase: &Purchase, body: &str) -> Result<BodyAnswer, StoreError> {
    let installments = i32::try_from(purchase.installments).map_err(|_| StoreError::Corrupt("installments".into()))?;
    let row: Result<BodyRow, _> =
        diesel::sql_query("SELECT * FROM vl_authorize($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
            .bind::<Text, _>(call.user_id.to_string())
            .bind::<Text, _>(&call.key)
            .bind::<Text, _>(&call.request_hash)
            .bind::<Text, _>(body)
            .bind::<Text, _>(purchase.id.to_string())
            .bind::<Text, _>(Uuid::now_v7().to_string())
            .bind::<Text, _>(purchase.merchant_id.to_string())
            .bind::<BigInt, _>(purchase.amount_minor)
            .bind::<Integer, _>(installments)
            .bind::<Nullable<Text>, _>(purchase.description.as_deref())
            .bind::<Timestamp, _>(call.now.naive_utc())
            .get_result(conn);
    let error = match row {
        Ok(BodyRow { outcome, body }) if outcome == "fresh" => return Ok(BodyAnswer::Fresh(body)),
        Ok(BodyRow { body, .. }) => return Ok(BodyAnswer::Replay(body)),
        Err(error) => error,
    };
    let Some((code, detail)) = raised(&error) else { return Err(error.into()) };
    let refusal = match code {
        "key_reused" => return Ok(BodyAnswer::Mismatch),
        "not_found" => Refusal::NotFound("merchant"),
        "account_frozen" => Refusal::AccountFrozen,
        "account_delinquent" => Refusal::AccountDelinquent,
        "rule" => Refusal::CreditLimitExceeded { available_minor: account_from_detail(detail)?.available_minor() },
        _ => return Err(StoreError::Corrupt(format!("{code}: {detail}"))),
    };
    Err(StoreError::Refused(refusal))
}
